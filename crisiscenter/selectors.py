"""Reads. Every function names the organisation it reads from; querysets come pre-joined."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

from crisiscenter.models import AuditEntry, Invitation, Membership, Organization


def membership_for(*, user, organization_slug: str) -> Membership | None:
    """The user's membership in the organisation with this slug, or None if they have none."""
    if user is None or not user.is_authenticated:
        return None
    return (
        Membership.unscoped.select_related("organization", "user")
        .filter(user=user, organization__slug=organization_slug)
        .first()
    )


def memberships_of(*, user) -> QuerySet[Membership]:
    return Membership.unscoped.select_related("organization").filter(user=user).order_by("organization__name")


def organization_members(*, organization: Organization) -> QuerySet[Membership]:
    return Membership.objects.for_organization(organization).select_related("user").order_by("user__username")


def organization_member(*, organization: Organization, membership_id: int) -> Membership | None:
    return organization_members(organization=organization).filter(pk=membership_id).first()


def organization_invitations(*, organization: Organization) -> QuerySet[Invitation]:
    return Invitation.objects.for_organization(organization).select_related("invited_by", "accepted_by")


def organization_invitation(*, organization: Organization, invitation_id: int) -> Invitation | None:
    return organization_invitations(organization=organization).filter(pk=invitation_id).first()


def invitation_by_token(*, token: str) -> Invitation | None:
    return Invitation.unscoped.select_related("organization", "invited_by").with_token(token).first()


def audit_entries(
    *,
    organization: Organization,
    action: str = "",
    actor_id: int | None = None,
    object_type: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[AuditEntry]:
    entries = AuditEntry.objects.for_organization(organization)
    if action:
        entries = entries.filter(action__startswith=action)
    if actor_id is not None:
        entries = entries.filter(actor_id=actor_id)
    if object_type:
        entries = entries.filter(object_type=object_type)
    if since is not None:
        entries = entries.filter(created_at__gte=since)
    if until is not None:
        entries = entries.filter(created_at__lt=until)
    return entries.order_by("-created_at", "-id")


def audit_actions(*, organization: Organization) -> list[str]:
    return list(
        AuditEntry.objects.for_organization(organization).order_by("action").values_list("action", flat=True).distinct()
    )
