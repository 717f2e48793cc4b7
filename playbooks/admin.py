from django.contrib import admin

from playbooks.models import Playbook, PlaybookVersion


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
class PlaybookVersionAdmin(admin.ModelAdmin):
    """Versions are immutable snapshots: readable here, never edited."""

    list_display = ("playbook", "number", "organization", "created_by", "created_at")
    list_filter = ("organization",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
