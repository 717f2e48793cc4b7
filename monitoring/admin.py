"""Django admin for monitoring: browse and filter. Sources, watches and triage change through
the app (services audit and announce them); credentials are never shown."""

from django.contrib import admin

from crisiscenter.admin import ReadOnlyAdmin
from monitoring.models import IngestJob, Mention, RejectedItem, Rumour, Source, VolumeBucket, Watch


@admin.register(Source)
class SourceAdmin(ReadOnlyAdmin):
    list_display = ("name", "organization", "kind", "is_enabled", "last_success_at", "consecutive_failures", "quota_used", "quota_cap")
    list_filter = ("kind", "is_enabled")
    search_fields = ("name", "organization__slug")
    exclude = ("credentials_encrypted",)


@admin.register(Watch)
class WatchAdmin(ReadOnlyAdmin):
    list_display = ("name", "organization", "query", "language", "is_active")
    list_filter = ("is_active",)
    search_fields = ("name", "query", "organization__slug")


@admin.register(Mention)
class MentionAdmin(ReadOnlyAdmin):
    list_display = ("external_id", "organization", "source", "author_handle", "posted_at", "sentiment_label", "status")
    list_filter = ("status", "sentiment_label", "source__kind")
    search_fields = ("external_id", "author_handle")
    show_full_result_count = False  # no COUNT(*) over millions of rows
    raw_id_fields = ("source", "assignee", "incident")


@admin.register(IngestJob)
class IngestJobAdmin(ReadOnlyAdmin):
    list_display = ("file_name", "organization", "kind", "status", "position", "total", "stored", "rejected", "created_at")
    list_filter = ("kind", "status")
    exclude = ("content",)


@admin.register(RejectedItem)
class RejectedItemAdmin(ReadOnlyAdmin):
    list_display = ("received_at", "organization", "source", "line", "reason")
    show_full_result_count = False


@admin.register(Rumour)
class RumourAdmin(ReadOnlyAdmin):
    list_display = ("claim", "organization", "status", "updated_at")
    list_filter = ("status",)


@admin.register(VolumeBucket)
class VolumeBucketAdmin(ReadOnlyAdmin):
    list_display = ("minute", "organization", "watch", "mentions", "negative")
