"""Fewer, better indexes on the two tables every ingested mention writes to.

The single-column foreign-key indexes duplicated composite indexes that start with the same
column, and each cost an index insert per mention (and per watch match). The incident and
assignee feeds gain the id, so they serve the inbox's order and keyset cursor directly."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('crisiscenter', '0002_audit_append_only_trigger'),
        ('monitoring', '0002_mention_text_search'),
        ('playbooks', '0005_append_only_triggers'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='mention',
            name='mention_incident',
        ),
        migrations.RemoveIndex(
            model_name='mention',
            name='mention_assignee',
        ),
        migrations.AlterField(
            model_name='mention',
            name='assignee',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AlterField(
            model_name='mention',
            name='incident',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='mentions', to='playbooks.incident'),
        ),
        migrations.AlterField(
            model_name='mention',
            name='organization',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='crisiscenter.organization'),
        ),
        migrations.AlterField(
            model_name='mention',
            name='source',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='mentions', to='monitoring.source'),
        ),
        migrations.AlterField(
            model_name='mentionmatch',
            name='mention',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='matches', to='monitoring.mention'),
        ),
        migrations.AlterField(
            model_name='mentionmatch',
            name='organization',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='crisiscenter.organization'),
        ),
        migrations.AlterField(
            model_name='mentionmatch',
            name='watch',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='matches', to='monitoring.watch'),
        ),
        migrations.AddIndex(
            model_name='mention',
            index=models.Index(condition=models.Q(('incident__isnull', False)), fields=['incident', '-posted_at', '-id'], name='mention_incident_feed'),
        ),
        migrations.AddIndex(
            model_name='mention',
            index=models.Index(condition=models.Q(('assignee__isnull', False)), fields=['assignee', '-posted_at', '-id'], name='mention_assignee_feed'),
        ),
    ]
