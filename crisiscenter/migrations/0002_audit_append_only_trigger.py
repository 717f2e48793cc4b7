"""Make the audit trail append-only in the database itself, not only in the ORM.

On PostgreSQL a trigger rejects UPDATE and DELETE of audit rows, whoever issues them (a bug,
a raw SQL console, an admin action). TRUNCATE stays possible for operators wiping a test
database. On SQLite the ORM guards (AppendOnlyModel/AppendOnlyQuerySet) are the protection.
"""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION crisiscenter_refuse_audit_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'crisiscenter_auditentry is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER crisiscenter_auditentry_append_only
    BEFORE UPDATE OR DELETE ON crisiscenter_auditentry
    FOR EACH ROW EXECUTE FUNCTION crisiscenter_refuse_audit_change();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS crisiscenter_auditentry_append_only ON crisiscenter_auditentry;
DROP FUNCTION IF EXISTS crisiscenter_refuse_audit_change();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("crisiscenter", "0001_initial")]

    operations = [migrations.RunPython(forward, backward)]
