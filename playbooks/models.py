from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from crisiscenter.models import AppendOnlyModel, AppendOnlyQuerySet
from crisiscenter.tenancy import OrganizationOwned, OrganizationScopedManager
from playbooks.document import Category


class Playbook(OrganizationOwned):
    """A crisis plan. Its content lives in immutable versions; editing adds a version."""

    name = models.CharField(max_length=200)
    category = models.CharField(max_length=32, choices=Category.CHOICES)
    latest_version_number = models.PositiveIntegerField(default=0)
    is_archived = models.BooleanField(default=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        default_manager_name = "unscoped"
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="playbook_unique_name_per_org"),
        ]

    def __str__(self) -> str:
        return self.name

    def get_category_display_label(self) -> str:
        return Category.LABELS.get(self.category, self.category)


class PlaybookVersion(OrganizationOwned, AppendOnlyModel):
    """One snapshot of a playbook's document. Never changed: incidents keep the version they
    were opened with, and versions can be compared."""

    playbook = models.ForeignKey(Playbook, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    document = models.JSONField()
    change_note = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    unscoped = AppendOnlyQuerySet.as_manager()
    objects = OrganizationScopedManager.from_queryset(AppendOnlyQuerySet)()

    class Meta:
        default_manager_name = "unscoped"
        ordering = ["playbook_id", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["playbook", "number"], name="playbook_version_unique_number"),
        ]

    def __str__(self) -> str:
        return f"{self.playbook} v{self.number}"
