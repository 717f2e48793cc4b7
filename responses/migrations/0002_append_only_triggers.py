"""Statement versions and approvals are append-only in the database too (PostgreSQL): an
approval belongs to the exact words it approved, whoever tries to change them."""

from django.db import migrations

TABLES = ("responses_statementversion", "responses_approval")


def forward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    # crisiscenter_refuse_row_change() is created by playbooks' 0005 migration.
    for table in TABLES:
        schema_editor.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION crisiscenter_refuse_row_change();",
            params=None,
        )


def backward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table};", params=None)


class Migration(migrations.Migration):
    dependencies = [("responses", "0001_statements"), ("playbooks", "0005_append_only_triggers")]

    operations = [migrations.RunPython(forward, backward)]
