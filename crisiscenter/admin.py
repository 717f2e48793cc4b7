from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from crisiscenter.models import AuditEntry, Invitation, Membership, Organization, User, WorkerHeartbeat


class ReadOnlyAdmin(admin.ModelAdmin):
    """For append-only records: browse and filter, never add, change or delete."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    fieldsets = DjangoUserAdmin.fieldsets + (("Crisis Center", {"fields": ("display_name",)}),)
    list_display = ("username", "email", "display_name", "is_staff", "is_active")


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ("user",)


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "created_at")
    search_fields = ("name", "slug")
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "organization", "role", "created_at")
    list_filter = ("role", "organization")
    search_fields = ("user__username", "user__email", "organization__slug")


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ("email", "organization", "role", "status", "created_at", "expires_at")
    list_filter = ("role", "organization")
    search_fields = ("email",)
    readonly_fields = ("token_hash",)


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    """Browse and filter only: the trail is append-only, here as everywhere."""

    list_display = ("created_at", "organization", "actor_label", "action", "object_repr", "source", "ip_address")
    list_filter = ("action", "organization", "source")
    search_fields = ("actor_label", "action", "object_repr", "object_id")
    date_hierarchy = "created_at"


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin):
    list_display = ("hostname", "beat_at")
