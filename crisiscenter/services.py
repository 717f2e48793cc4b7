"""Writes for tenancy: organisations, members, invitations, API tokens, worker heartbeats.

Each service authorises the actor, validates, writes inside one transaction together with its
audit entry, and announces the change to the organisation's war room after the commit.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token

from crisiscenter.audit import audit_record
from crisiscenter.errors import NotAllowed, ServiceError
from crisiscenter.models import Invitation, Membership, Organization, Role, User, WorkerHeartbeat, slug_validator
from crisiscenter.realtime import broadcast_on_commit, broadcast_to_organization, user_group


def _member_data(membership: Membership) -> dict:
    return {
        "membership_id": membership.pk,
        "user_id": membership.user_id,
        "username": membership.user.username,
        "name": str(membership.user),
        "role": membership.role,
    }


def _require_role(membership: Membership | None, minimum: Role) -> Membership:
    if membership is None or not membership.has_role(minimum):
        raise NotAllowed(f"This needs the {Role(minimum).label.lower()} role or higher.")
    return membership


def organization_create(*, name: str, slug: str, owner: User) -> Organization:
    name = name.strip()
    slug = slug.strip().lower()
    if not name:
        raise ServiceError("Give the organisation a name.", field="name")
    try:
        slug_validator(slug)
    except ValidationError as error:
        raise ServiceError(error.messages[0], field="slug", code="invalid_slug") from None
    try:
        with transaction.atomic():
            organization = Organization.objects.create(name=name[:120], slug=slug)
            membership = Membership.unscoped.create(organization=organization, user=owner, role=Role.OWNER)
            audit_record(
                action="organization.created",
                actor=owner,
                organization=organization,
                target=organization,
                after={"name": organization.name, "slug": organization.slug},
            )
            audit_record(
                action="member.added", actor=owner, organization=organization, target=membership, after={"role": Role.OWNER}
            )
    except IntegrityError:
        raise ServiceError("That address is taken; choose another slug.", field="slug", code="slug_taken") from None
    return organization


def organization_rename(*, organization: Organization, actor_membership: Membership, name: str) -> Organization:
    _require_role(actor_membership, Role.ADMIN)
    name = name.strip()
    if not name:
        raise ServiceError("Give the organisation a name.", field="name")
    with transaction.atomic():
        before = {"name": organization.name}
        organization.name = name[:120]
        organization.save(update_fields=["name"])
        audit_record(
            action="organization.renamed",
            actor=actor_membership.user,
            organization=organization,
            target=organization,
            before=before,
            after={"name": organization.name},
        )
        broadcast_to_organization(organization=organization, event_type="organization.updated", data={"name": organization.name})
    return organization


def organization_set_on_call_roles(*, organization: Organization, actor_membership: Membership, roles: list[str]) -> Organization:
    """Choose whose members hear of every spike (in the app, by e-mail, in the chat channel)."""
    _require_role(actor_membership, Role.ADMIN)
    unknown = [role for role in roles if role not in Role.values]
    if unknown:
        raise ServiceError(f"Unknown role {unknown[0]!r}.", field="on_call_roles")
    if not roles:
        raise ServiceError("Choose at least one role to be on call, or spikes reach nobody's pocket.", field="on_call_roles")
    chosen = [role for role in Role.values if role in roles]  # most powerful first, no repeats
    with transaction.atomic():
        before = {"on_call_roles": organization.on_call_roles}
        organization.on_call_roles = chosen
        organization.save(update_fields=["on_call_roles"])
        audit_record(action="organization.on_call_roles_set", actor=actor_membership.user, organization=organization, target=organization,
                     before=before, after={"on_call_roles": chosen})
    return organization


def _assignable(actor_membership: Membership, role: Role) -> bool:
    """Owners may grant any role; admins any role up to admin."""
    if actor_membership.role == Role.OWNER:
        return True
    return actor_membership.has_role(Role.ADMIN) and role != Role.OWNER


def _owner_count(organization: Organization) -> int:
    return Membership.objects.for_organization(organization).filter(role=Role.OWNER).count()


def membership_change_role(*, membership: Membership, actor_membership: Membership, role: str) -> Membership:
    _require_role(actor_membership, Role.ADMIN)
    if role not in Role.values:
        raise ServiceError(f"Unknown role {role!r}; choose one of {', '.join(Role.values)}.", field="role")
    new_role = Role(role)
    if membership.organization_id != actor_membership.organization_id:
        raise NotAllowed()
    if membership.role == Role.OWNER and actor_membership.role != Role.OWNER:
        raise NotAllowed("Only an owner can change another owner's role.")
    if not _assignable(actor_membership, new_role):
        raise NotAllowed("Only an owner can make someone an owner.")
    with transaction.atomic():
        # Lock the organisation's owner rows so two demotions cannot leave it ownerless.
        list(Membership.objects.for_organization(membership.organization_id).filter(role=Role.OWNER).select_for_update())
        membership.refresh_from_db()
        if membership.role == new_role:
            return membership
        if membership.role == Role.OWNER and _owner_count(membership.organization) == 1:
            raise ServiceError("An organisation needs at least one owner; make someone else owner first.", code="last_owner")
        before = {"role": membership.role}
        membership.role = new_role
        membership.save(update_fields=["role"])
        audit_record(
            action="member.role_changed",
            actor=actor_membership.user,
            organization=membership.organization,
            target=membership,
            before=before,
            after={"role": new_role.value},
        )
        broadcast_to_organization(organization=membership.organization, event_type="member.role_changed", data=_member_data(membership))
    return membership


def membership_remove(*, membership: Membership, actor_membership: Membership) -> None:
    leaving = membership.pk == actor_membership.pk
    if not leaving:
        _require_role(actor_membership, Role.ADMIN)
        if membership.organization_id != actor_membership.organization_id:
            raise NotAllowed()
        if membership.role == Role.OWNER and actor_membership.role != Role.OWNER:
            raise NotAllowed("Only an owner can remove an owner.")
    with transaction.atomic():
        list(Membership.objects.for_organization(membership.organization_id).filter(role=Role.OWNER).select_for_update())
        if membership.role == Role.OWNER and _owner_count(membership.organization) == 1:
            raise ServiceError("An organisation needs at least one owner; make someone else owner first.", code="last_owner")
        data = _member_data(membership)
        organization = membership.organization
        audit_record(
            action="member.left" if leaving else "member.removed",
            actor=actor_membership.user,
            organization=organization,
            target=membership,
            before={"role": membership.role, "user_id": membership.user_id},
        )
        membership.delete()
        # Open WebSockets of the removed user close themselves on this event: the war room's
        # through the organisation group, incident rooms' through the user's own group.
        event = broadcast_to_organization(organization=organization, event_type="member.removed", data=data)
        broadcast_on_commit(group=user_group(data["user_id"]), event=event)


def invitation_create(*, organization: Organization, actor_membership: Membership, email: str, role: str) -> tuple[Invitation, str]:
    """Create an invitation and e-mail its link after the commit. Returns it with its raw token."""
    from crisiscenter.tasks import send_invitation_email

    _require_role(actor_membership, Role.ADMIN)
    email = email.strip().lower()
    try:
        from django.core.validators import validate_email

        validate_email(email)
    except ValidationError:
        raise ServiceError("Enter a valid e-mail address.", field="email") from None
    if role not in Role.values:
        raise ServiceError(f"Unknown role {role!r}.", field="role")
    if not _assignable(actor_membership, Role(role)):
        raise NotAllowed("Only an owner can invite an owner.")
    if Membership.objects.for_organization(organization).filter(user__email__iexact=email).exists():
        raise ServiceError(f"{email} is already a member.", field="email", code="already_member")
    token, token_hash = Invitation.new_token()
    with transaction.atomic():
        # A new invitation replaces any pending one for the same address.
        for previous in Invitation.objects.for_organization(organization).pending().filter(email=email).select_for_update():
            previous.revoked_at = timezone.now()
            previous.save(update_fields=["revoked_at"])
        invitation = Invitation.unscoped.create(
            organization=organization,
            email=email,
            role=role,
            token_hash=token_hash,
            invited_by=actor_membership.user,
            expires_at=Invitation.default_expiry(),
        )
        audit_record(
            action="invitation.created",
            actor=actor_membership.user,
            organization=organization,
            target=invitation,
            after={"email": email, "role": role},
        )
        transaction.on_commit(lambda: send_invitation_email.delay(invitation.pk, token))
    return invitation, token


def invitation_revoke(*, invitation: Invitation, actor_membership: Membership) -> Invitation:
    _require_role(actor_membership, Role.ADMIN)
    if invitation.organization_id != actor_membership.organization_id:
        raise NotAllowed()
    with transaction.atomic():
        claimed = Invitation.objects.for_organization(invitation.organization_id).filter(
            pk=invitation.pk, accepted_at__isnull=True, revoked_at__isnull=True
        ).update(revoked_at=timezone.now())
        if not claimed:
            raise ServiceError("This invitation was already accepted or revoked.", code="not_pending")
        invitation.refresh_from_db()
        audit_record(
            action="invitation.revoked",
            actor=actor_membership.user,
            organization=invitation.organization,
            target=invitation,
            before={"status": "pending"},
            after={"status": "revoked"},
        )
    return invitation


def invitation_accept(*, invitation: Invitation, user: User) -> Membership:
    if not invitation.is_pending():
        raise ServiceError(f"This invitation is {invitation.status}.", code=f"invitation_{invitation.status}")
    if (user.email or "").strip().lower() != invitation.email:
        raise NotAllowed(
            f"This invitation was sent to {invitation.email}; sign in with that address to accept it.",
            code="wrong_account",
        )
    with transaction.atomic():
        claimed = Invitation.objects.for_organization(invitation.organization_id).filter(
            pk=invitation.pk, accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now()
        ).update(accepted_at=timezone.now(), accepted_by=user)
        if not claimed:
            raise ServiceError("This invitation is no longer valid.", code="invitation_invalid")
        membership, created = Membership.unscoped.get_or_create(
            organization=invitation.organization, user=user, defaults={"role": invitation.role}
        )
        if created:
            audit_record(
                action="member.added",
                actor=user,
                organization=invitation.organization,
                target=membership,
                after={"role": membership.role, "via": "invitation", "invitation_id": invitation.pk},
            )
            broadcast_to_organization(organization=invitation.organization, event_type="member.added", data=_member_data(membership))
    return membership


def user_create_from_invitation(*, invitation: Invitation, username: str, display_name: str, password: str) -> User:
    from django.contrib.auth.password_validation import validate_password

    if not invitation.is_pending():
        raise ServiceError(f"This invitation is {invitation.status}.", code=f"invitation_{invitation.status}")
    username = username.strip()
    if not username:
        raise ServiceError("Choose a username.", field="username")
    if User.objects.filter(username__iexact=username).exists():
        raise ServiceError("That username is taken.", field="username", code="username_taken")
    if User.objects.filter(email__iexact=invitation.email).exists():
        raise ServiceError("An account with this e-mail exists; sign in to accept.", field="username", code="account_exists")
    candidate = User(username=username, email=invitation.email, display_name=display_name.strip()[:150])
    try:
        validate_password(password, user=candidate)
    except ValidationError as error:
        raise ServiceError(" ".join(error.messages), field="password", code="weak_password") from None
    with transaction.atomic():
        candidate.set_password(password)
        candidate.save()
        invitation_accept(invitation=invitation, user=candidate)
    return candidate


def api_token_regenerate(*, user: User) -> Token:
    with transaction.atomic():
        Token.objects.filter(user=user).delete()
        token = Token.objects.create(user=user)
        audit_record(action="api_token.regenerated", actor=user, target=user)
    return token


def worker_heartbeat_record(*, hostname: str) -> WorkerHeartbeat:
    heartbeat, _ = WorkerHeartbeat.objects.update_or_create(hostname=hostname[:200], defaults={"beat_at": timezone.now()})
    return heartbeat
