from django.contrib import admin

from crisiscenter.admin import ReadOnlyAdmin

from playbooks.models import (
    ChatWebhook,
    Incident,
    IncidentRole,
    IncidentTask,
    Notification,
    Playbook,
    PlaybookProposal,
    PlaybookVersion,
    PostIncidentReview,
    TimelineEntry,
)


class PlaybookVersionInline(admin.TabularInline):
    model = PlaybookVersion
    extra = 0
    fields = ("number", "change_note", "created_by", "created_at")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Playbook)
class PlaybookAdmin(admin.ModelAdmin):
    list_display = ("name", "organization", "category", "latest_version_number", "is_archived", "updated_at")
    list_filter = ("category", "is_archived", "organization")
    search_fields = ("name",)
    readonly_fields = ("latest_version_number",)
    inlines = [PlaybookVersionInline]


@admin.register(PlaybookVersion)
class PlaybookVersionAdmin(ReadOnlyAdmin):
    """Versions are immutable snapshots: readable here, never edited."""

    list_display = ("playbook", "number", "organization", "created_by", "created_at")
    list_filter = ("organization",)


class IncidentTaskInline(admin.TabularInline):
    model = IncidentTask
    extra = 0
    fields = ("title", "role", "owner", "due_at", "done_at", "done_by")
    readonly_fields = fields
    can_delete = False


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin):
    list_display = ("title", "organization", "severity", "status", "detected_at", "first_statement_at")
    list_filter = ("status", "severity", "organization")
    search_fields = ("title",)
    inlines = [IncidentTaskInline]


@admin.register(TimelineEntry)
class TimelineEntryAdmin(ReadOnlyAdmin):
    """Append-only: readable here, never edited."""

    list_display = ("incident", "kind", "actor_label", "occurred_at", "logged_at")
    list_filter = ("kind", "organization")


@admin.register(ChatWebhook)
class ChatWebhookAdmin(admin.ModelAdmin):
    list_display = ("organization", "kind", "url_hint", "enabled", "last_success_at", "last_error")
    exclude = ("url_encrypted",)
    readonly_fields = ("url_hint", "last_success_at", "last_error", "last_error_at")


for model in (IncidentRole, IncidentTask, Notification, PostIncidentReview, PlaybookProposal):
    admin.site.register(model)
