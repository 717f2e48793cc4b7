"""Triage in the shared inbox: claim, release, assign, change state, tag, note, link to an
incident, bulk actions, and the rumour tracker.

Claiming is exclusive: ``mention_claim`` is a conditional UPDATE (only while nobody holds
the mention), so when two people claim at once exactly one wins, and everyone's inbox shows
the winner live. Responders act on mentions they hold (or that nobody holds); managers and
above may take over or reassign.
"""

from __future__ import annotations

from typing import Iterable

from django.db import IntegrityError, transaction
from django.utils import timezone

from crisiscenter.audit import audit_record
from crisiscenter.errors import Conflict, NotAllowed, ServiceError
from crisiscenter.models import Membership, Role, User
from crisiscenter.realtime import broadcast_to_organization
from monitoring.models import Mention, MentionNote, MentionStatus, Rumour, RumourStatus, Tag
from playbooks.models import Incident

MAX_BULK = 500
MAX_TAGS_PER_MENTION = 20


class ClaimConflict(Conflict):
    pass


def _require_responder(actor_membership: Membership) -> None:
    if not actor_membership.has_role(Role.RESPONDER):
        raise NotAllowed("Only responders and above triage mentions.")


def _same_organization(mention: Mention, actor_membership: Membership) -> None:
    if mention.organization_id != actor_membership.organization_id:
        raise NotAllowed()


def _mention_data(mention: Mention) -> dict:
    return {
        "mention_id": mention.pk,
        "status": mention.status,
        "assignee_id": mention.assignee_id,
        "assignee": str(mention.assignee) if mention.assignee_id else None,
        "incident_id": mention.incident_id,
        "tags": sorted(tag.name for tag in mention.tags.all()),
    }


def _announce(mention: Mention, event_type: str = "mention.updated") -> None:
    mention = Mention.unscoped.select_related("assignee", "organization").prefetch_related("tags").get(pk=mention.pk)
    broadcast_to_organization(organization=mention.organization, event_type=event_type, data=_mention_data(mention))


def _may_act(mention: Mention, actor_membership: Membership) -> None:
    """Responders act on what they hold or nobody holds; managers and above on anything."""
    if mention.assignee_id in (None, actor_membership.user_id) or actor_membership.has_role(Role.MANAGER):
        return
    raise ClaimConflict(f"{mention.assignee} is handling this mention.", code="claimed_by_someone_else",
                        details={"assignee_id": mention.assignee_id})


def mention_claim(*, mention: Mention, actor_membership: Membership) -> Mention:
    """Take a mention. Refused with 409 if someone else holds it (a manager takes over with
    ``mention_assign``)."""
    _require_responder(actor_membership)
    _same_organization(mention, actor_membership)
    user = actor_membership.user
    now = timezone.now()
    with transaction.atomic():
        won = Mention.objects.for_organization(mention.organization_id).filter(pk=mention.pk, assignee__isnull=True).update(
            assignee=user, claimed_at=now, status=MentionStatus.ASSIGNED
        )
        mention.refresh_from_db()
        if not won:
            if mention.assignee_id == user.pk:
                return mention  # already ours: claiming twice is harmless
            raise ClaimConflict(
                f"{mention.assignee} claimed this mention first.", code="already_claimed", details={"assignee_id": mention.assignee_id}
            )
        audit_record(action="mention.claimed", actor=user, organization=actor_membership.organization, target=mention,
                     after={"assignee_id": user.pk, "status": mention.status})
        _announce(mention, "mention.claimed")
    return mention


def mention_release(*, mention: Mention, actor_membership: Membership) -> Mention:
    _require_responder(actor_membership)
    _same_organization(mention, actor_membership)
    with transaction.atomic():
        locked = Mention.objects.for_organization(mention.organization_id).select_for_update().get(pk=mention.pk)
        if locked.assignee_id is None:
            return locked
        _may_act(locked, actor_membership)
        before = {"assignee_id": locked.assignee_id, "status": locked.status}
        locked.assignee = None
        locked.claimed_at = None
        if locked.status == MentionStatus.ASSIGNED:
            locked.status = MentionStatus.NEW
        locked.save(update_fields=["assignee", "claimed_at", "status"])
        audit_record(action="mention.released", actor=actor_membership.user, organization=actor_membership.organization, target=locked,
                     before=before, after={"assignee_id": None, "status": locked.status})
        _announce(locked)
    return locked


def mention_assign(*, mention: Mention, actor_membership: Membership, assignee: User | None) -> Mention:
    """A manager hands a mention to a team member (or takes it back to nobody)."""
    if not actor_membership.has_role(Role.MANAGER):
        raise NotAllowed("Only managers and above assign mentions to others.")
    _same_organization(mention, actor_membership)
    if assignee is not None and not Membership.objects.for_organization(mention.organization_id).filter(user=assignee, role__in=[role for role in Role if role.at_least(Role.RESPONDER)]).exists():
        raise ServiceError("Assign mentions to a responder or above of this organisation.", field="assignee_id")
    with transaction.atomic():
        locked = Mention.objects.for_organization(mention.organization_id).select_for_update().get(pk=mention.pk)
        before = {"assignee_id": locked.assignee_id, "status": locked.status}
        locked.assignee = assignee
        locked.claimed_at = timezone.now() if assignee else None
        if assignee and locked.status == MentionStatus.NEW:
            locked.status = MentionStatus.ASSIGNED
        elif not assignee and locked.status == MentionStatus.ASSIGNED:
            locked.status = MentionStatus.NEW
        locked.save(update_fields=["assignee", "claimed_at", "status"])
        audit_record(action="mention.assigned", actor=actor_membership.user, organization=actor_membership.organization, target=locked,
                     before=before, after={"assignee_id": locked.assignee_id, "status": locked.status})
        _announce(locked)
    return locked


def mention_set_status(*, mention: Mention, actor_membership: Membership, status: str) -> Mention:
    """Move a mention along new → assigned → needs reply → replied / no action / escalated.
    Acting on an unclaimed mention claims it for the actor, so the inbox shows who did it."""
    _require_responder(actor_membership)
    _same_organization(mention, actor_membership)
    if status not in MentionStatus.values:
        raise ServiceError("Unknown mention state.", field="status")
    with transaction.atomic():
        locked = Mention.objects.for_organization(mention.organization_id).select_for_update().get(pk=mention.pk)
        _may_act(locked, actor_membership)
        before = {"status": locked.status, "assignee_id": locked.assignee_id}
        if status == MentionStatus.NEW:
            locked.assignee, locked.claimed_at = None, None
        elif locked.assignee_id is None:
            locked.assignee, locked.claimed_at = actor_membership.user, timezone.now()
        locked.status = status
        locked.save(update_fields=["status", "assignee", "claimed_at"])
        audit_record(action="mention.status_changed", actor=actor_membership.user, organization=actor_membership.organization, target=locked,
                     before=before, after={"status": status, "assignee_id": locked.assignee_id})
        _announce(locked)
    return locked


def _tag(organization_id: int, name: str) -> Tag:
    name = " ".join(name.split()).lower()[:40]
    if not name:
        raise ServiceError("A tag needs a name.", field="tag")
    tag, _created = Tag.unscoped.get_or_create(organization_id=organization_id, name=name)
    return tag


def mention_tag(*, mention: Mention, actor_membership: Membership, add: Iterable[str] = (), remove: Iterable[str] = ()) -> Mention:
    _require_responder(actor_membership)
    _same_organization(mention, actor_membership)
    with transaction.atomic():
        for name in add:
            try:
                with transaction.atomic():
                    mention.tags.add(_tag(mention.organization_id, name))
            except IntegrityError:  # a colleague created the same tag a moment ago
                mention.tags.add(_tag(mention.organization_id, name))
        names = [" ".join(name.split()).lower() for name in remove]
        if names:
            mention.tags.remove(*Tag.objects.for_organization(mention.organization_id).filter(name__in=names))
        if mention.tags.count() > MAX_TAGS_PER_MENTION:
            raise ServiceError(f"At most {MAX_TAGS_PER_MENTION} tags per mention.", field="tags")
        _announce(mention)
    return mention


def mention_note_add(*, mention: Mention, actor_membership: Membership, text: str) -> MentionNote:
    _require_responder(actor_membership)
    _same_organization(mention, actor_membership)
    text = text.strip()
    if not text:
        raise ServiceError("A note needs some text.", field="text")
    with transaction.atomic():
        note = MentionNote.unscoped.create(
            organization_id=mention.organization_id, mention=mention, author=actor_membership.user,
            author_label=str(actor_membership.user), text=text[:4000],
        )
        broadcast_to_organization(organization=actor_membership.organization, event_type="mention.noted",
                                  data={"mention_id": mention.pk, "note_id": note.pk, "author": note.author_label})
    return note


def mention_link_incident(*, mention: Mention, actor_membership: Membership, incident: Incident | None) -> Mention:
    _require_responder(actor_membership)
    _same_organization(mention, actor_membership)
    if incident is not None and incident.organization_id != mention.organization_id:
        raise NotAllowed()
    with transaction.atomic():
        before = {"incident_id": mention.incident_id}
        Mention.objects.for_organization(mention.organization_id).filter(pk=mention.pk).update(incident=incident)
        mention.incident = incident
        audit_record(action="mention.linked", actor=actor_membership.user, organization=actor_membership.organization, target=mention,
                     before=before, after={"incident_id": incident.pk if incident else None})
        _announce(mention)
    return mention


class BulkAction:
    CLAIM = "claim"
    RELEASE = "release"
    STATUS = "status"
    TAG = "tag"
    UNTAG = "untag"
    LINK = "link_incident"
    ASSIGN = "assign"
    CHOICES = [CLAIM, RELEASE, STATUS, TAG, UNTAG, LINK, ASSIGN]


def mentions_bulk(
    *, organization_id: int, actor_membership: Membership, mention_ids: list[int], action: str,
    status: str = "", tag: str = "", incident: Incident | None = None, assignee: User | None = None,
) -> dict:
    """Apply one action to many mentions; each mention succeeds or fails on its own (a
    mention someone else holds is skipped and reported, never silently overwritten)."""
    _require_responder(actor_membership)
    if action not in BulkAction.CHOICES:
        raise ServiceError("Unknown bulk action.", field="action")
    if not mention_ids:
        raise ServiceError("Choose at least one mention.", field="mention_ids")
    if len(mention_ids) > MAX_BULK:
        raise ServiceError(f"At most {MAX_BULK} mentions at once.", field="mention_ids")
    if action == BulkAction.ASSIGN and not actor_membership.has_role(Role.MANAGER):
        raise NotAllowed("Only managers and above assign mentions to others.")
    mentions = list(Mention.objects.for_organization(organization_id).filter(pk__in=set(mention_ids)))
    done, skipped = [], []
    for mention in mentions:
        try:
            if action == BulkAction.CLAIM:
                mention_claim(mention=mention, actor_membership=actor_membership)
            elif action == BulkAction.RELEASE:
                mention_release(mention=mention, actor_membership=actor_membership)
            elif action == BulkAction.STATUS:
                mention_set_status(mention=mention, actor_membership=actor_membership, status=status)
            elif action == BulkAction.TAG:
                mention_tag(mention=mention, actor_membership=actor_membership, add=[tag])
            elif action == BulkAction.UNTAG:
                mention_tag(mention=mention, actor_membership=actor_membership, remove=[tag])
            elif action == BulkAction.LINK:
                mention_link_incident(mention=mention, actor_membership=actor_membership, incident=incident)
            elif action == BulkAction.ASSIGN:
                mention_assign(mention=mention, actor_membership=actor_membership, assignee=assignee)
            done.append(mention.pk)
        except ServiceError as error:
            skipped.append({"id": mention.pk, "reason": error.message})
    missing = sorted(set(mention_ids) - {mention.pk for mention in mentions})
    skipped.extend({"id": mention_id, "reason": "No such mention."} for mention_id in missing)
    return {"done": done, "skipped": skipped}


# --- rumours -----------------------------------------------------------------------------


def _rumour_data(rumour: Rumour) -> dict:
    return {"rumour_id": rumour.pk, "claim": rumour.claim, "status": rumour.status, "incident_id": rumour.incident_id}


def rumour_save(
    *, actor_membership: Membership, claim: str, status: str = RumourStatus.UNVERIFIED, facts: str = "",
    incident: Incident | None = None, rumour: Rumour | None = None,
) -> Rumour:
    _require_responder(actor_membership)
    organization = actor_membership.organization
    claim = claim.strip()
    if not claim:
        raise ServiceError("Describe the claim.", field="claim")
    if status not in RumourStatus.values:
        raise ServiceError("Unknown rumour status.", field="status")
    if incident is not None and incident.organization_id != organization.pk:
        raise NotAllowed()
    with transaction.atomic():
        if rumour is None:
            rumour = Rumour.unscoped.create(
                organization=organization, claim=claim[:500], status=status, facts=facts, incident=incident, created_by=actor_membership.user
            )
            audit_record(action="rumour.created", actor=actor_membership.user, organization=organization, target=rumour, after={"claim": rumour.claim, "status": status})
        else:
            if rumour.organization_id != organization.pk:
                raise NotAllowed()
            before = {"claim": rumour.claim, "status": rumour.status, "facts": rumour.facts}
            rumour.claim, rumour.status, rumour.facts, rumour.incident = claim[:500], status, facts, incident
            rumour.updated_at = timezone.now()
            rumour.save()
            audit_record(action="rumour.updated", actor=actor_membership.user, organization=organization, target=rumour, before=before,
                         after={"claim": rumour.claim, "status": status, "facts": facts})
        broadcast_to_organization(organization=organization, event_type="rumour.updated", data=_rumour_data(rumour))
    return rumour


def rumour_attach(*, rumour: Rumour, actor_membership: Membership, mention_ids: list[int], detach: bool = False) -> Rumour:
    _require_responder(actor_membership)
    if rumour.organization_id != actor_membership.organization_id:
        raise NotAllowed()
    mentions = Mention.objects.for_organization(rumour.organization_id).filter(pk__in=mention_ids[:MAX_BULK])
    with transaction.atomic():
        (rumour.mentions.remove if detach else rumour.mentions.add)(*mentions)
        Rumour.unscoped.filter(pk=rumour.pk).update(updated_at=timezone.now())
        broadcast_to_organization(organization=actor_membership.organization, event_type="rumour.updated", data=_rumour_data(rumour))
    return rumour


def rumour_correct(*, rumour: Rumour, actor_membership: Membership, correction: str) -> Rumour:
    """Record the public correction of a false rumour (issue 6 links it to the statement)."""
    if not actor_membership.has_role(Role.MANAGER):
        raise NotAllowed("Only managers and above record the correction of a rumour.")
    if rumour.organization_id != actor_membership.organization_id:
        raise NotAllowed()
    correction = correction.strip()
    if not correction:
        raise ServiceError("Write the correction.", field="correction")
    with transaction.atomic():
        before = {"correction": rumour.correction}
        rumour.correction = correction[:4000]
        rumour.corrected_at = timezone.now()
        rumour.updated_at = rumour.corrected_at
        rumour.save(update_fields=["correction", "corrected_at", "updated_at"])
        audit_record(action="rumour.corrected", actor=actor_membership.user, organization=actor_membership.organization, target=rumour,
                     before=before, after={"correction": rumour.correction})
        broadcast_to_organization(organization=actor_membership.organization, event_type="rumour.updated", data=_rumour_data(rumour))
    return rumour
