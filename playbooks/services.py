"""Writes for playbooks: create, edit (a new version each time), import, archive.

Each service validates the whole document (every problem reported at once), writes inside
one transaction with its audit entry, and tells the organisation's war room after commit.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from crisiscenter.audit import audit_record
from crisiscenter.errors import NotAllowed, ServiceError
from crisiscenter.models import Membership, Organization, Role
from crisiscenter.realtime import broadcast_to_organization
from playbooks import document as playbook_document
from playbooks import selectors
from playbooks.models import Playbook, PlaybookVersion


class PlaybookInvalid(ServiceError):
    """The document has problems; ``problems`` lists every one with its path."""

    def __init__(self, problems: list[playbook_document.Problem]):
        super().__init__(
            f"The playbook has {len(problems)} problem{'s' if len(problems) != 1 else ''}.",
            code="invalid_playbook",
            details={"problems": [{"path": problem.path, "message": problem.message} for problem in problems]},
        )
        self.problems = problems


def _require_admin(actor_membership: Membership) -> None:
    if not actor_membership.has_role(Role.ADMIN):
        raise NotAllowed("Only admins and owners edit playbooks.")


def _clean(document: dict, organization: Organization) -> dict:
    try:
        return playbook_document.clean(document, member_usernames=selectors.member_usernames(organization=organization))
    except playbook_document.DocumentError as error:
        raise PlaybookInvalid(error.problems) from None


def _event_data(playbook: Playbook) -> dict:
    return {"playbook_id": playbook.pk, "name": playbook.name, "version": playbook.latest_version_number}


def playbook_create(*, organization: Organization, actor_membership: Membership, document: dict, change_note: str = "") -> Playbook:
    _require_admin(actor_membership)
    document = _clean(document, organization)
    try:
        with transaction.atomic():
            playbook = Playbook.unscoped.create(
                organization=organization,
                name=document["name"],
                category=document["category"],
                latest_version_number=1,
                created_by=actor_membership.user,
            )
            PlaybookVersion.unscoped.create(
                organization=organization,
                playbook=playbook,
                number=1,
                document=document,
                change_note=change_note[:300] or "Created",
                created_by=actor_membership.user,
            )
            audit_record(
                action="playbook.created",
                actor=actor_membership.user,
                organization=organization,
                target=playbook,
                after={"name": playbook.name, "version": 1},
            )
            broadcast_to_organization(organization=organization, event_type="playbook.created", data=_event_data(playbook))
    except IntegrityError:
        raise ServiceError(f"A playbook called {document['name']!r} exists already.", field="name", code="name_taken") from None
    return playbook


def playbook_update(*, playbook: Playbook, actor_membership: Membership, document: dict, change_note: str = "") -> PlaybookVersion:
    """Save ``document`` as the playbook's next version (nothing if it is unchanged)."""
    _require_admin(actor_membership)
    if playbook.organization_id != actor_membership.organization_id:
        raise NotAllowed()
    document = _clean(document, playbook.organization)
    try:
        with transaction.atomic():
            locked = Playbook.objects.for_organization(playbook.organization_id).select_for_update().get(pk=playbook.pk)
            current = selectors.playbook_version(playbook=locked)
            if current is not None and current.document == document:
                return current
            number = locked.latest_version_number + 1
            version = PlaybookVersion.unscoped.create(
                organization_id=locked.organization_id,
                playbook=locked,
                number=number,
                document=document,
                change_note=change_note[:300],
                created_by=actor_membership.user,
            )
            before = {"name": locked.name, "version": locked.latest_version_number}
            locked.name = document["name"]
            locked.category = document["category"]
            locked.latest_version_number = number
            locked.updated_at = timezone.now()
            locked.save(update_fields=["name", "category", "latest_version_number", "updated_at"])
            audit_record(
                action="playbook.versioned",
                actor=actor_membership.user,
                organization=locked.organization,
                target=locked,
                before=before,
                after={"name": locked.name, "version": number, "note": change_note[:300]},
            )
            broadcast_to_organization(organization=locked.organization, event_type="playbook.updated", data=_event_data(locked))
    except IntegrityError:
        raise ServiceError(f"A playbook called {document['name']!r} exists already.", field="name", code="name_taken") from None
    playbook.refresh_from_db()
    return version


def playbook_import(*, organization: Organization, actor_membership: Membership, content: str | bytes, playbook: Playbook | None = None) -> Playbook:
    """Import a YAML or JSON file as a new playbook, or as a new version of ``playbook``."""
    _require_admin(actor_membership)
    try:
        document = playbook_document.parse(content)
    except playbook_document.DocumentError as error:
        raise PlaybookInvalid(error.problems) from None
    if playbook is None:
        return playbook_create(organization=organization, actor_membership=actor_membership, document=document, change_note="Imported")
    playbook_update(playbook=playbook, actor_membership=actor_membership, document=document, change_note="Imported")
    return playbook


def playbook_create_from_starter(*, organization: Organization, actor_membership: Membership, starter: str) -> Playbook:
    starters = selectors.starter_documents()
    if starter not in starters:
        raise ServiceError(f"There is no starter playbook called {starter!r}.", field="starter", code="unknown_starter")
    return playbook_create(
        organization=organization, actor_membership=actor_membership, document=starters[starter], change_note=f"From the {starter} starter"
    )


def playbook_set_archived(*, playbook: Playbook, actor_membership: Membership, archived: bool) -> Playbook:
    """Archiving hides a playbook from new incidents; its versions stay (nothing is deleted)."""
    _require_admin(actor_membership)
    if playbook.organization_id != actor_membership.organization_id:
        raise NotAllowed()
    with transaction.atomic():
        if playbook.is_archived == archived:
            return playbook
        playbook.is_archived = archived
        playbook.save(update_fields=["is_archived"])
        broadcast_to_organization(organization=playbook.organization, event_type="playbook.updated", data={**_event_data(playbook), "archived": archived})
        audit_record(
            action="playbook.archived" if archived else "playbook.restored",
            actor=actor_membership.user,
            organization=playbook.organization,
            target=playbook,
            before={"archived": not archived},
            after={"archived": archived},
        )
    return playbook

