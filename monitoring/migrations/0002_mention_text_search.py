"""Full-text search over mention text on PostgreSQL: an expression GIN index that
``monitoring.selectors._text_search`` matches exactly. The 'simple' configuration (no
stemming, no stop words) because mentions come in every language. SQLite searches with LIKE."""

from django.db import migrations


def forward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        "CREATE INDEX IF NOT EXISTS mention_text_search ON monitoring_mention "
        "USING gin (to_tsvector('simple'::regconfig, text));",
        params=None,
    )


def backward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP INDEX IF EXISTS mention_text_search;", params=None)


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0001_initial")]

    operations = [migrations.RunPython(forward, backward, elidable=False)]
