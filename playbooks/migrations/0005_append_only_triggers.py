"""Playbook versions and incident timelines are append-only in the database too (PostgreSQL),
like the audit trail: UPDATE and DELETE are refused whoever issues them."""

from django.db import migrations

TABLES = ("playbooks_playbookversion", "playbooks_timelineentry")

FUNCTION = """
CREATE OR REPLACE FUNCTION crisiscenter_refuse_row_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% is append-only (% refused)', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(FUNCTION, params=None)
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
    schema_editor.execute("DROP FUNCTION IF EXISTS crisiscenter_refuse_row_change();", params=None)


class Migration(migrations.Migration):
    dependencies = [("playbooks", "0004_chat_webhooks")]

    operations = [migrations.RunPython(forward, backward)]
