"""Tenancy primitives: every organisation-owned row is reached through its organisation.

``OrganizationOwned`` models get two managers:

* ``objects`` — refuses to build a queryset until you say whose data you want:
  ``Incident.objects.for_organization(org)``. ``Incident.objects.filter(...)`` raises
  ``UnscopedQueryError`` so a forgotten tenant filter fails in the first test that runs it.
* ``unscoped`` — the explicit, greppable escape hatch for system jobs (beat tasks that sweep
  every organisation, the Django admin, migrations).
"""

from __future__ import annotations

from django.db import models


class UnscopedQueryError(RuntimeError):
    """Raised when organisation-owned data is queried without naming the organisation."""


class OrganizationScopedManager(models.Manager):
    def get_queryset(self):  # noqa: D102 - see module docstring
        raise UnscopedQueryError(
            f"{self.model.__name__}.objects needs an organisation: use "
            f"{self.model.__name__}.objects.for_organization(org) "
            f"(or {self.model.__name__}.unscoped for deliberate cross-tenant work)."
        )

    def for_organization(self, organization) -> models.QuerySet:
        if organization is None or getattr(organization, "pk", organization) is None:
            raise UnscopedQueryError(f"{self.model.__name__}: organisation is missing.")
        organization_id = getattr(organization, "pk", organization)
        return super().get_queryset().filter(organization_id=organization_id)


class OrganizationOwned(models.Model):
    """Abstract base for every model that belongs to one organisation."""

    organization = models.ForeignKey("crisiscenter.Organization", on_delete=models.CASCADE, related_name="+")

    # The first manager is Django's default (admin, serialisation, related lookups).
    unscoped = models.Manager()
    objects = OrganizationScopedManager()

    class Meta:
        abstract = True
        default_manager_name = "unscoped"
