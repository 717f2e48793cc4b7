"""Statement workflows: draft (from the playbook's templates), edit, submit for approval,
approve or reject, translate, correct, publish; channels and who may publish through them;
promises. Every step writes the incident timeline and the audit trail in its transaction and
announces itself after the commit (responses.events)."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Max, Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.text import slugify

from crisiscenter import crypto
from crisiscenter.audit import audit_record
from crisiscenter.errors import Conflict, NotAllowed, ServiceError
from crisiscenter.models import Membership, Role, User
from playbooks import document as playbook_document
from playbooks.incident_services import timeline_record
from playbooks.models import Incident, IncidentStatus, Platform, TimelineKind
from playbooks.notifications import notify
from responses import events, policy
from responses.models import (
    BUILTIN_CHANNEL_KINDS,
    HUB_UPDATE_KINDS,
    Approval,
    ApprovalDecision,
    ChannelAccess,
    ChannelKind,
    HubPage,
    Promise,
    PromiseStatus,
    PublicStatus,
    Publication,
    PublicationStatus,
    PublishingChannel,
    PublishingLockdown,
    Statement,
    StatementKind,
    StatementStatus,
    StatementVersion,
)

logger = logging.getLogger(__name__)

MAX_BODY = 10_000
MAX_PROMISES = 10
LANGUAGE_PATTERN = playbook_document.SCHEMA["properties"]["holding_statements"]["items"]["properties"]["language"]["pattern"]
TEXT_FIELDS = {"headline": 200, "body": MAX_BODY, "question": 500, "what_happened": 4000, "known": 4000, "unknown": 4000, "what_to_do": 4000}
# Where the public reads us: the first success on one of these stops the first-statement clock.
PUBLIC_CHANNEL_KINDS = (ChannelKind.HUB, ChannelKind.X, ChannelKind.MASTODON, ChannelKind.BLUESKY)
# An incident started on one of these platforms publishes there first.
CHANNEL_FOR_PLATFORM = {Platform.X: ChannelKind.X, Platform.MASTODON: ChannelKind.MASTODON, Platform.BLUESKY: ChannelKind.BLUESKY}


# --- helpers ---------------------------------------------------------------------------------
def _require(membership: Membership | None, minimum: Role, organization_id: int) -> Membership:
    if membership is None or membership.organization_id != organization_id:
        raise NotAllowed()
    if not membership.has_role(minimum):
        raise NotAllowed(f"This needs the {Role(minimum).label.lower()} role or higher.")
    return membership


def _lock(statement: Statement) -> Statement:
    return (
        Statement.objects.for_organization(statement.organization_id)
        .select_for_update(of=("self",))
        .select_related("incident", "incident__organization", "incident__playbook_version", "current_version")
        .get(pk=statement.pk)
    )


def _clean_language(language: str) -> str:
    language = (language or "").strip()
    if not re.fullmatch(LANGUAGE_PATTERN, language):
        raise ServiceError("Give the language as a code such as en, nl or pt-BR.", field="language")
    return language


def _clean_promises(promises: Any) -> list[dict]:
    if promises in (None, ""):
        return []
    if not isinstance(promises, list) or len(promises) > MAX_PROMISES:
        raise ServiceError(f"Give at most {MAX_PROMISES} promises, each with a text and a deadline.", field="promises")
    cleaned = []
    for index, promise in enumerate(promises):
        text = str(promise.get("text", "")).strip() if isinstance(promise, dict) else ""
        due_at = promise.get("due_at") if isinstance(promise, dict) else None
        due = due_at if isinstance(due_at, datetime) else parse_datetime(str(due_at or ""))
        if not text or due is None:
            raise ServiceError(f"Promise {index + 1} needs a text and a deadline.", field="promises")
        if timezone.is_naive(due):
            raise ServiceError(f"Promise {index + 1}: give the deadline with its time zone.", field="promises")
        cleaned.append({"text": text[:500], "due_at": due.isoformat()})
    return cleaned


def _content(fields: dict[str, Any], base: StatementVersion | None) -> dict[str, Any]:
    """The next version's content: the given fields over the previous version's."""
    content: dict[str, Any] = base.content() if base else {}
    content.setdefault("public_status", PublicStatus.INVESTIGATING)
    for field, limit in TEXT_FIELDS.items():
        if field in fields and fields[field] is not None:
            value = str(fields[field]).replace("\r\n", "\n").strip()
            if len(value) > limit:
                raise ServiceError(f"Keep the {field.replace('_', ' ')} under {limit} characters.", field=field)
            content[field] = value
        content.setdefault(field, "")
    if "public_status" in fields and fields["public_status"]:
        if fields["public_status"] not in PublicStatus.values:
            raise ServiceError("Choose the public status from the list.", field="public_status")
        content["public_status"] = fields["public_status"]
    if "next_update_at" in fields:
        value = fields["next_update_at"]
        if value in (None, ""):
            content["next_update_at"] = None
        else:
            when = value if isinstance(value, datetime) else parse_datetime(str(value))
            if when is None or timezone.is_naive(when):
                raise ServiceError("Give the next update time as a date and time with its zone.", field="next_update_at")
            content["next_update_at"] = when.isoformat()
    content.setdefault("next_update_at", None)
    if "promises" in fields:
        content["promises"] = _clean_promises(fields["promises"])
    content.setdefault("promises", [])
    if not content["body"]:
        raise ServiceError("Write the statement's text.", field="body")
    return content


def _new_version(statement: Statement, content: dict[str, Any], author: User, change_note: str = "", *, spokesperson_id: int | None = None) -> StatementVersion:
    number = (StatementVersion.objects.for_organization(statement.organization_id).filter(statement=statement).aggregate(n=Max("number"))["n"] or 0) + 1
    next_update = content["next_update_at"]
    return StatementVersion.unscoped.create(
        organization_id=statement.organization_id,
        statement=statement,
        number=number,
        author=author,
        spokesperson_id=spokesperson_id,
        change_note=change_note.strip()[:300],
        promises=content["promises"],
        next_update_at=parse_datetime(next_update) if isinstance(next_update, str) else next_update,
        **{field: content[field] for field in (*TEXT_FIELDS, "public_status")},
    )


def _spokesperson(incident: Incident, spokesperson_id: int | None) -> User | None:
    if spokesperson_id in (None, ""):
        return None
    membership = Membership.objects.for_organization(incident.organization_id).filter(user_id=spokesperson_id).select_related("user").first()
    if membership is None:
        raise ServiceError("The spokesperson must be a member of this organisation.", field="spokesperson_id")
    return membership.user


def _target_channels(incident: Incident, requested: list[str] | None) -> list[str]:
    """The channel kinds a statement goes to, in order: by default the platform where the
    incident started first (when the organisation has an account there), then the hub."""
    available = set(BUILTIN_CHANNEL_KINDS) | set(
        PublishingChannel.objects.for_organization(incident.organization_id).filter(is_enabled=True).values_list("kind", flat=True)
    )
    if requested is None:
        origin = CHANNEL_FOR_PLATFORM.get(incident.origin_platform)
        requested = ([origin] if origin in available else []) + [ChannelKind.HUB]
    kinds = []
    for kind in requested:
        if kind not in ChannelKind.values:
            raise ServiceError(f"Unknown channel {kind!r}.", field="target_channels")
        if kind not in available:
            raise ServiceError(f"This organisation has no {ChannelKind(kind).label} channel yet.", field="target_channels")
        if kind not in kinds:
            kinds.append(kind)
    return kinds


def template_placeholders(*, incident: Incident, spokesperson: User | None, language: str = "en") -> dict[str, str]:
    """What each holding-statement placeholder becomes for this incident (an unknown stays
    visible as ``[what_to_do]`` so nobody publishes a hole)."""
    due = incident.next_update_due_at
    values = {
        "brand": incident.organization.name,
        "what_happened": incident.what_happened.strip(),
        "who_is_affected": incident.who_is_affected.strip(),
        "what_to_do": "",
        "next_update_time": timezone.localtime(due).strftime("%H:%M %Z") if due else "",
        "spokesperson": str(spokesperson) if spokesperson else "",
        "help_url": hub_url(incident.organization.slug),
    }
    return {name: value or f"[{name}]" for name, value in values.items()}


def fill_template(text: str, placeholders: dict[str, str]) -> str:
    return playbook_document.PLACEHOLDER_PATTERN.sub(lambda match: placeholders.get(match.group(1), match.group(0)), text)


def hub_url(organization_slug: str, incident_slug: str = "") -> str:
    base = f"{settings.SITE_URL.rstrip('/')}/hub/{organization_slug}/"
    return f"{base}{incident_slug}/" if incident_slug else base


def _approvers_to_notify(incident: Incident, review_policy: policy.ApprovalPolicy, author: User) -> list[User]:
    holder_ids = {user_id for holders in review_policy.holders.values() for user_id in holders}
    people = {membership.user for membership in Membership.objects.for_organization(incident.organization_id).filter(user_id__in=holder_ids).select_related("user")}
    if review_policy.unfilled_roles() or not people:
        managers = Membership.objects.for_organization(incident.organization_id).filter(role__in=[Role.OWNER, Role.ADMIN, Role.MANAGER])
        people |= {membership.user for membership in managers.select_related("user")}
    return [user for user in people if user != author]


def statement_url(statement: Statement) -> str:
    return f"/o/{statement.incident.organization.slug}/incidents/{statement.incident_id}/statements/{statement.pk}/"


# --- drafting --------------------------------------------------------------------------------
def statement_draft(
    *,
    incident: Incident,
    actor_membership: Membership,
    kind: str,
    language: str = "en",
    template_index: int | None = None,
    spokesperson_id: int | None = None,
    target_channels: list[str] | None = None,
    corrects_id: int | None = None,
    fields: dict[str, Any] | None = None,
) -> Statement:
    """Start a statement. With ``template_index`` its body starts from that holding-statement
    template of the incident's playbook version, placeholders filled from the fact sheet."""
    _require(actor_membership, Role.RESPONDER, incident.organization_id)
    if kind not in StatementKind.values:
        raise ServiceError("Choose the kind of statement.", field="kind")
    if incident.status == IncidentStatus.CLOSED:
        raise ServiceError("The incident is closed.", code="incident_closed")
    language = _clean_language(language)
    fields = dict(fields or {})
    spokesperson = _spokesperson(incident, spokesperson_id)
    if template_index is not None:
        templates = (incident.playbook_version.document if incident.playbook_version_id else {}).get("holding_statements", [])
        if not isinstance(template_index, int) or not 0 <= template_index < len(templates):
            raise ServiceError("That template is not in the incident's playbook.", field="template_index")
        template = templates[template_index]
        if not fields.get("body"):
            fields["body"] = fill_template(template["text"], template_placeholders(incident=incident, spokesperson=spokesperson, language=language))
        language = template.get("language") or language
    corrects = None
    if kind == StatementKind.CORRECTION:
        corrects = Statement.objects.for_organization(incident.organization_id).filter(pk=corrects_id, incident=incident).first() if corrects_id else None
        if corrects is None or corrects.first_published_at is None:
            raise ServiceError("A correction names the published statement of this incident it corrects.", field="corrects_id")
    elif corrects_id:
        raise ServiceError("Only a correction corrects another statement.", field="corrects_id")
    if kind == StatementKind.FAQ and not str(fields.get("question", "")).strip():
        raise ServiceError("An FAQ answer needs its question.", field="question")
    content = _content(fields, None)
    # A reply template goes out only as replies (responses.reply_services), never as a post.
    channels = [] if kind == StatementKind.REPLY_TEMPLATE else _target_channels(incident, target_channels)
    with transaction.atomic():
        statement = Statement.unscoped.create(
            organization_id=incident.organization_id, incident=incident, kind=kind, language=language, corrects=corrects,
            spokesperson=spokesperson, target_channels=channels, created_by=actor_membership.user,
        )
        version = _new_version(statement, content, actor_membership.user, "First draft", spokesperson_id=spokesperson.pk if spokesperson else None)
        Statement.unscoped.filter(pk=statement.pk).update(current_version=version)
        statement.current_version = version
        timeline_record(incident, kind=TimelineKind.STATEMENT, text=f"{statement.get_kind_display()} drafted ({language})", actor=actor_membership.user,
                        data={"statement_id": statement.pk, "version": 1})
        audit_record(action="statement.drafted", actor=actor_membership.user, organization=incident.organization, target=statement,
                     after={"kind": kind, "language": language, "version": version.content()})
        events.statement_changed(statement, "statement.drafted")
    return statement


def statement_translate(*, statement: Statement, actor_membership: Membership, language: str, fields: dict[str, Any]) -> Statement:
    """A translation is a statement of its own (approved on its own), linked to the original."""
    _require(actor_membership, Role.RESPONDER, statement.organization_id)
    language = _clean_language(language)
    original = statement.translation_of or statement
    if language == original.language:
        raise ServiceError("That is the original's language.", field="language")
    if Statement.objects.for_organization(statement.organization_id).filter(translation_of=original, language=language).exists():
        raise Conflict(f"There is already a {language} translation of this statement.", code="translation_exists")
    if original.kind == StatementKind.FAQ and not fields.get("question"):
        raise ServiceError("Translate the question too.", field="question")
    base = original.current_version
    content = _content({**{field: "" for field in TEXT_FIELDS}, "public_status": base.public_status if base else None,
                        "next_update_at": base.next_update_at if base else None, "promises": base.promises if base else [], **fields}, None)
    with transaction.atomic():
        try:
            translation = Statement.unscoped.create(
                organization_id=original.organization_id, incident_id=original.incident_id, kind=original.kind, language=language,
                translation_of=original, corrects=original.corrects, spokesperson=original.spokesperson,
                # The hub serves each reader's language; posting every language on the brand's
                # social accounts is a choice someone makes by editing the channels.
                target_channels=[ChannelKind.HUB], created_by=actor_membership.user,
            )
        except IntegrityError:
            raise Conflict(f"There is already a {language} translation of this statement.", code="translation_exists") from None
        version = _new_version(translation, content, actor_membership.user, f"Translation of #{original.pk} v{base.number if base else 0}",
                               spokesperson_id=original.spokesperson_id)
        Statement.unscoped.filter(pk=translation.pk).update(current_version=version)
        translation.current_version = version
        timeline_record(original.incident, kind=TimelineKind.STATEMENT, text=f"{language} translation drafted of {original.get_kind_display().lower()} #{original.pk}",
                        actor=actor_membership.user, data={"statement_id": translation.pk, "translation_of": original.pk})
        audit_record(action="statement.translated", actor=actor_membership.user, organization=original.incident.organization, target=translation,
                     after={"language": language, "translation_of": original.pk})
        events.statement_changed(translation, "statement.drafted")
    return translation


def statement_edit(
    *,
    statement: Statement,
    actor_membership: Membership,
    base_version: int,
    fields: dict[str, Any],
    change_note: str = "",
    spokesperson_id: int | None | str = "unchanged",
    target_channels: list[str] | None = None,
) -> Statement:
    """A new version. ``base_version`` is the number the editor started from: if someone saved
    since, this is a conflict rather than a silent overwrite. Approvals of the earlier version
    no longer count; a statement under review stays under review (of the new words)."""
    _require(actor_membership, Role.RESPONDER, statement.organization_id)
    with transaction.atomic():
        locked = _lock(statement)
        current = locked.current_version
        if current is None or current.number != base_version:
            raise Conflict(f"Someone saved version {current.number if current else 0} since you opened version {base_version}; reload to see it.", code="version_conflict")
        if locked.incident.status == IncidentStatus.CLOSED:
            raise ServiceError("The incident is closed.", code="incident_closed")
        content = _content(fields, current)
        new_channels = _target_channels(locked.incident, target_channels) if target_channels is not None and locked.kind != StatementKind.REPLY_TEMPLATE else None
        changed_channels = new_channels is not None and new_channels != locked.target_channels
        spokesperson = locked.spokesperson
        if spokesperson_id != "unchanged":
            spokesperson = _spokesperson(locked.incident, spokesperson_id or None)
        content["spokesperson_id"] = spokesperson.pk if spokesperson else None
        if content == current.content() and not changed_channels:
            return locked
        updates: dict[str, Any] = {"updated_at": timezone.now(), "spokesperson": spokesperson}
        if changed_channels:
            updates["target_channels"] = new_channels
        version = current
        if content != current.content():
            version = _new_version(locked, content, actor_membership.user, change_note, spokesperson_id=content["spokesperson_id"])
            updates["current_version"] = version
        # An approval still standing (under review or approved) is void once anything changes;
        # a published statement's approvals did their work and stay on the record as such.
        voided = []
        if locked.status in (StatementStatus.APPROVED, StatementStatus.IN_REVIEW):
            voided = list(Approval.objects.for_organization(locked.organization_id).filter(version=current, decision=ApprovalDecision.APPROVE).select_related("approver"))
        # Any change after an approval voids it, channels and spokesperson included.
        if locked.status in (StatementStatus.APPROVED, StatementStatus.IN_REVIEW):
            updates["status"] = StatementStatus.IN_REVIEW
            if voided or locked.status == StatementStatus.APPROVED:
                updates["review_requested_at"] = timezone.now()
                updates["review_due_at"] = timezone.now() + timedelta(minutes=policy.approval_policy(locked.incident).review_minutes)
                updates["review_escalated_at"] = None
        elif locked.status in (StatementStatus.REJECTED, StatementStatus.PUBLISHED):
            updates["status"] = StatementStatus.DRAFT
        if version is current and voided:
            # The words did not change but what was approved did: a new version keeps the
            # rule "approvals belong to one version" simple.
            version = _new_version(locked, content, actor_membership.user, change_note or "Channels changed", spokesperson_id=content["spokesperson_id"])
            updates["current_version"] = version
        Statement.unscoped.filter(pk=locked.pk).update(**updates)
        text = f"Version {version.number} of {locked.get_kind_display().lower()} #{locked.pk} saved"
        if voided:
            text += f"; approval by {', '.join(str(approval.approver) for approval in voided)} voided by the edit"
        timeline_record(locked.incident, kind=TimelineKind.STATEMENT, text=text, actor=actor_membership.user,
                        data={"statement_id": locked.pk, "version": version.number, "voided_approvals": [a.pk for a in voided]})
        audit_record(action="statement.edited", actor=actor_membership.user, organization=locked.incident.organization, target=locked,
                     before=current.content(), after=version.content() | {"voided_approvals": [a.pk for a in voided]})
        locked.refresh_from_db()
        if voided and locked.status == StatementStatus.IN_REVIEW:
            review_policy = policy.approval_policy(locked.incident)
            notify(organization=locked.incident.organization, recipients=_approvers_to_notify(locked.incident, review_policy, actor_membership.user),
                   kind="approval", text=f"Changed after approval, approve again: {locked}", dedupe_key=f"statement:{locked.pk}:review:v{version.number}",
                   incident=locked.incident)
        events.statement_changed(locked, "statement.updated")
    statement.refresh_from_db()
    return statement


# --- approval --------------------------------------------------------------------------------
def statement_submit(*, statement: Statement, actor_membership: Membership) -> Statement:
    """Ask for approval: the approvers are notified (in the app, live, by e-mail) and the
    review is due within the policy's minutes, after which it escalates to the backups."""
    _require(actor_membership, Role.RESPONDER, statement.organization_id)
    with transaction.atomic():
        locked = _lock(statement)
        if locked.status == StatementStatus.IN_REVIEW:
            return locked
        if locked.status not in (StatementStatus.DRAFT, StatementStatus.REJECTED):
            raise ServiceError(f"A statement that is {locked.get_status_display().lower()} is not sent for approval; edit it first.", code="not_a_draft")
        if locked.status == StatementStatus.REJECTED:
            raise ServiceError("Changes were requested: edit the statement before sending it again.", code="changes_requested")
        review_policy = _start_review(locked)
        version = locked.current_version
        timeline_record(locked.incident, kind=TimelineKind.STATEMENT, text=f"Version {version.number} of {locked.get_kind_display().lower()} #{locked.pk} sent for approval",
                        actor=actor_membership.user, data={"statement_id": locked.pk, "version": version.number, "policy": review_policy.describe()})
        audit_record(action="statement.submitted", actor=actor_membership.user, organization=locked.incident.organization, target=locked,
                     after={"version": version.number, "review_due_at": locked.review_due_at.isoformat()})
        notify(organization=locked.incident.organization, recipients=_approvers_to_notify(locked.incident, review_policy, actor_membership.user),
               kind="approval", text=f"Approve by {timezone.localtime(locked.review_due_at):%H:%M}: {locked}",
               dedupe_key=f"statement:{locked.pk}:review:v{version.number}", incident=locked.incident)
        events.statement_changed(locked, "statement.review_requested")
    return locked


def approvals_of(version: StatementVersion) -> list[Approval]:
    return list(Approval.objects.for_organization(version.organization_id).filter(version=version).select_related("approver").order_by("created_at", "id"))


def _approval_facts(statement: Statement, version: StatementVersion) -> list[tuple[int, bool]]:
    approvals = Approval.objects.for_organization(statement.organization_id).filter(version=version, decision=ApprovalDecision.APPROVE)
    approver_ids = list(approvals.values_list("approver_id", flat=True))
    managers = set(
        Membership.objects.for_organization(statement.organization_id)
        .filter(user_id__in=approver_ids, role__in=[Role.OWNER, Role.ADMIN, Role.MANAGER]).values_list("user_id", flat=True)
    )
    return [(user_id, user_id in managers) for user_id in approver_ids]


def is_version_approved(statement: Statement, version: StatementVersion) -> bool:
    return policy.approval_policy(statement.incident).is_satisfied(_approval_facts(statement, version))


def statement_decide(
    *, statement: Statement, actor_membership: Membership, version_number: int, decision: str, comment: str = "", publish: bool = False
) -> Statement:
    """One approver approves or rejects the version they read (``version_number``). The
    author of that version never approves it. With ``publish``, the approval that completes
    the policy also publishes it (approve-and-publish in one step, from a phone)."""
    if actor_membership is None or actor_membership.organization_id != statement.organization_id:
        raise NotAllowed()
    if decision not in ApprovalDecision.values:
        raise ServiceError("Approve or reject.", field="decision")
    comment = (comment or "").strip()[:4000]
    if decision == ApprovalDecision.REJECT and not comment:
        raise ServiceError("Say what should change.", field="comment")
    with transaction.atomic():
        locked = _lock(statement)
        version = locked.current_version
        if version.number != version_number:
            raise Conflict(f"The statement changed (now version {version.number}) since you read version {version_number}; read it again.", code="version_conflict")
        if locked.status != StatementStatus.IN_REVIEW:
            raise ServiceError(f"This statement is {locked.get_status_display().lower()}, not waiting for approval.", code="not_in_review")
        if version.author_id == actor_membership.user_id:
            raise NotAllowed("You wrote this version: someone else must approve it.", code="self_approval")
        review_policy = policy.approval_policy(locked.incident)
        if not review_policy.may_approve(actor_membership):
            raise NotAllowed("Only the incident's approvers or a manager may approve statements.", code="not_an_approver")
        try:
            with transaction.atomic():
                approval = Approval.unscoped.create(
                    organization_id=locked.organization_id, statement=locked, version=version, approver=actor_membership.user,
                    decision=decision, comment=comment, roles=review_policy.roles_of(actor_membership.user),
                )
        except IntegrityError:
            raise Conflict("You already decided on this version.", code="already_decided") from None
        now = timezone.now()
        if decision == ApprovalDecision.REJECT:
            Statement.unscoped.filter(pk=locked.pk).update(status=StatementStatus.REJECTED, updated_at=now)
            text = f"{actor_membership.user} requested changes to version {version.number}: {comment}"
            recipients = {version.author, locked.created_by} - {None}
            notify(organization=locked.incident.organization, recipients=recipients, kind="approval", text=f"Changes requested: {comment[:200]}",
                   dedupe_key=f"statement:{locked.pk}:rejected:{approval.pk}", incident=locked.incident)
        else:
            complete = review_policy.is_satisfied(_approval_facts(locked, version))
            if complete:
                Statement.unscoped.filter(pk=locked.pk).update(status=StatementStatus.APPROVED, updated_at=now)
            text = f"{actor_membership.user} approved version {version.number}" + (f" ({comment})" if comment else "") + (" — approved for publishing" if complete else " — more approvals needed")
            if complete:
                notify(organization=locked.incident.organization, recipients={version.author, locked.created_by} - {None, actor_membership.user},
                       kind="approval", text=f"Approved: {locked}", dedupe_key=f"statement:{locked.pk}:approved:v{version.number}", incident=locked.incident)
        timeline_record(locked.incident, kind=TimelineKind.STATEMENT, text=text, actor=actor_membership.user,
                        data={"statement_id": locked.pk, "version": version.number, "decision": decision, "roles": approval.roles})
        audit_record(action=f"statement.{'approved' if decision == ApprovalDecision.APPROVE else 'rejected'}", actor=actor_membership.user,
                     organization=locked.incident.organization, target=locked, after={"version": version.number, "comment": comment, "roles": approval.roles})
        locked.refresh_from_db()
        events.statement_changed(locked, "statement.decided")
        if publish and locked.status == StatementStatus.APPROVED:
            statement_publish(statement=locked, actor_membership=actor_membership)
    statement.refresh_from_db()
    return statement


# --- channels and rights ---------------------------------------------------------------------
def builtin_channels(organization_id: int) -> dict[str, PublishingChannel]:
    """The organisation's hub and e-mail channels, created on first use."""
    channels = {}
    for kind in BUILTIN_CHANNEL_KINDS:
        channel = PublishingChannel.objects.for_organization(organization_id).filter(kind=kind).order_by("pk").first()
        if channel is None:
            try:
                with transaction.atomic():
                    channel = PublishingChannel.unscoped.create(organization_id=organization_id, kind=kind, name=ChannelKind(kind).label)
            except IntegrityError:  # created meanwhile by another request
                channel = PublishingChannel.objects.for_organization(organization_id).filter(kind=kind).order_by("pk").first()
                if channel is None:
                    raise
        channels[kind] = channel
    return channels


def channel_create(*, organization, actor_membership: Membership, kind: str, name: str, config: dict, credentials: dict) -> PublishingChannel:
    from responses.channels import ADAPTERS
    from responses.channels.webhook import shown_address

    _require(actor_membership, Role.ADMIN, organization.pk)
    if kind not in ADAPTERS:
        raise ServiceError("Choose X, Mastodon, Bluesky or a webhook.", field="kind")
    name = (name or "").strip()
    if not name:
        raise ServiceError("Name the channel.", field="name")
    if name.casefold() in {ChannelKind(kind).label.casefold() for kind in BUILTIN_CHANNEL_KINDS}:
        raise ServiceError("That name belongs to a built-in channel; choose another.", field="name")
    adapter = ADAPTERS[kind]
    try:
        config = adapter.validate_config(config or {})
        credentials = adapter.validate_credentials(credentials or {})
    except ValueError as error:
        raise ServiceError(str(error), field="config") from None
    with transaction.atomic():
        try:
            with transaction.atomic():
                channel = PublishingChannel.unscoped.create(
                    organization=organization, kind=kind, name=name[:120], config=config,
                    credentials_encrypted=crypto.encrypt(json.dumps(credentials)) if credentials else "", created_by=actor_membership.user,
                )
        except IntegrityError:
            raise Conflict("There is already a channel with that name.", code="duplicate_name") from None
        # The audit log is kept for good and shown to every admin: of a webhook it keeps the host only.
        audited_config = {**config, "url": shown_address(config["url"])} if kind == ChannelKind.WEBHOOK else config
        audit_record(action="channel.created", actor=actor_membership.user, organization=organization, target=channel,
                     after={"kind": kind, "name": channel.name, "config": audited_config})
    return channel


def channel_set_enabled(*, channel: PublishingChannel, actor_membership: Membership, enabled: bool) -> PublishingChannel:
    _require(actor_membership, Role.ADMIN, channel.organization_id)
    with transaction.atomic():
        PublishingChannel.unscoped.filter(pk=channel.pk).update(is_enabled=enabled)
        audit_record(action="channel.enabled" if enabled else "channel.disabled", actor=actor_membership.user, organization=actor_membership.organization, target=channel)
    channel.refresh_from_db()
    return channel


def channel_access_grant(*, channel: PublishingChannel, actor_membership: Membership, user_id: int, in_lockdown: bool = False) -> ChannelAccess:
    _require(actor_membership, Role.ADMIN, channel.organization_id)
    member = Membership.objects.for_organization(channel.organization_id).filter(user_id=user_id).select_related("user").first()
    if member is None:
        raise ServiceError("Only members of this organisation can publish.", field="user_id")
    if not member.has_role(Role.RESPONDER):
        raise ServiceError("Viewers cannot publish; give them the responder role first.", field="user_id")
    with transaction.atomic():
        live = ChannelAccess.objects.for_organization(channel.organization_id).select_for_update().filter(channel=channel, user_id=user_id, revoked_at__isnull=True).first()
        if live is not None:
            if live.in_lockdown == in_lockdown:
                return live
            ChannelAccess.unscoped.filter(pk=live.pk).update(in_lockdown=in_lockdown)
            live.refresh_from_db()
            grant = live
        else:
            grant = ChannelAccess.unscoped.create(organization_id=channel.organization_id, channel=channel, user=member.user, in_lockdown=in_lockdown,
                                                  granted_by=actor_membership.user)
        audit_record(action="channel.access_granted", actor=actor_membership.user, organization=actor_membership.organization, target=channel,
                     after={"user": member.user.username, "in_lockdown": in_lockdown})
        events.publishing_changed(actor_membership.organization, {"channel_id": channel.pk})
    return grant


def channel_access_revoke(*, channel: PublishingChannel, actor_membership: Membership, user_id: int) -> None:
    """Takes effect at once: publications not yet sent check the list again when they run."""
    _require(actor_membership, Role.ADMIN, channel.organization_id)
    with transaction.atomic():
        revoked = ChannelAccess.objects.for_organization(channel.organization_id).filter(channel=channel, user_id=user_id, revoked_at__isnull=True).update(
            revoked_at=timezone.now(), revoked_by=actor_membership.user
        )
        if not revoked:
            raise ServiceError("That person is not on this channel's access list.", code="not_granted")
        audit_record(action="channel.access_revoked", actor=actor_membership.user, organization=actor_membership.organization, target=channel,
                     after={"user_id": user_id})
        events.publishing_changed(actor_membership.organization, {"channel_id": channel.pk})


def lockdown_start(*, organization, actor_membership: Membership, reason: str) -> PublishingLockdown:
    _require(actor_membership, Role.ADMIN, organization.pk)
    reason = (reason or "").strip()
    if not reason:
        raise ServiceError("Say why publishing is locked down.", field="reason")
    with transaction.atomic():
        try:
            with transaction.atomic():
                lockdown = PublishingLockdown.unscoped.create(organization=organization, reason=reason[:300], started_by=actor_membership.user)
        except IntegrityError:
            raise Conflict("Publishing is already locked down.", code="already_locked_down") from None
        audit_record(action="publishing.lockdown_started", actor=actor_membership.user, organization=organization, target=lockdown, after={"reason": lockdown.reason})
        events.publishing_changed(organization, {"lockdown": True, "reason": lockdown.reason})
    return lockdown


def lockdown_end(*, organization, actor_membership: Membership) -> None:
    _require(actor_membership, Role.ADMIN, organization.pk)
    with transaction.atomic():
        ended = PublishingLockdown.objects.for_organization(organization).filter(ended_at__isnull=True).update(ended_at=timezone.now(), ended_by=actor_membership.user)
        if not ended:
            raise ServiceError("Publishing is not locked down.", code="not_locked_down")
        audit_record(action="publishing.lockdown_ended", actor=actor_membership.user, organization=organization)
        events.publishing_changed(organization, {"lockdown": False})


# --- publishing ------------------------------------------------------------------------------
def _start_review(statement: Statement) -> policy.ApprovalPolicy:
    """Put a locked statement under review now, due within the policy's minutes (the clock of
    the escalation to the backups starts again); returns the policy it is reviewed under."""
    review_policy = policy.approval_policy(statement.incident)
    now = timezone.now()
    Statement.unscoped.filter(pk=statement.pk).update(
        status=StatementStatus.IN_REVIEW, review_requested_at=now, review_due_at=now + timedelta(minutes=review_policy.review_minutes),
        review_escalated_at=None, updated_at=now,
    )
    statement.refresh_from_db()
    return review_policy


def _reopen_review(statement: Statement, actor_membership: Membership) -> None:
    review_policy = _start_review(statement)
    now = statement.review_requested_at
    version = statement.current_version
    timeline_record(statement.incident, kind=TimelineKind.STATEMENT,
                    text=f"Approval of #{statement.pk} v{version.number} no longer meets the rules for severity {statement.incident.severity}; sent back for approval",
                    actor=actor_membership.user, data={"statement_id": statement.pk, "version": version.number, "policy": review_policy.describe()})
    audit_record(action="statement.review_reopened", actor=actor_membership.user, organization=statement.incident.organization, target=statement,
                 after={"version": version.number, "severity": statement.incident.severity})
    notify(organization=statement.incident.organization, recipients=_approvers_to_notify(statement.incident, review_policy, version.author),
           kind="approval", text=f"Approve again (rules changed): {statement}", dedupe_key=f"statement:{statement.pk}:reopened:v{version.number}:{now.isoformat()}",
           incident=statement.incident)
    events.statement_changed(statement, "statement.review_requested")


def publish_refusals(statement: Statement, membership: Membership) -> list[str]:
    """Why this member could not publish the statement on its channels now ([] when they
    could). statement_publish asks the same, and each publication again when it runs."""
    channels = _channels_in_order(statement)
    if not channels:
        return ["None of its channels exists and is switched on."]
    return [reason for channel in channels if (reason := policy.publish_refusal(channel=channel, membership=membership))]


def would_complete(statement: Statement, membership: Membership) -> bool:
    """Whether this member's approval of the current version would complete the policy."""
    facts = _approval_facts(statement, statement.current_version)
    mine = (membership.user_id, membership.has_role(Role.MANAGER))
    return policy.approval_policy(statement.incident).is_satisfied([fact for fact in facts if fact[0] != membership.user_id] + [mine])


def _channels_in_order(statement: Statement) -> list[PublishingChannel]:
    """The target channels, the platform where the incident started first, then the hub,
    then the rest as listed (a kind with several accounts: each of them)."""
    builtin = builtin_channels(statement.organization_id)
    accounts = list(PublishingChannel.objects.for_organization(statement.organization_id).filter(is_enabled=True).exclude(kind__in=BUILTIN_CHANNEL_KINDS))
    origin = CHANNEL_FOR_PLATFORM.get(statement.incident.origin_platform)
    kinds = sorted(statement.target_channels, key=lambda kind: (kind != origin, kind != ChannelKind.HUB))
    ordered = []
    for kind in kinds:
        ordered.extend([builtin[kind]] if kind in builtin else [channel for channel in accounts if channel.kind == kind])
    return ordered


def statement_publish(*, statement: Statement, actor_membership: Membership) -> list[Publication]:
    """Publish the approved current version on its target channels. Only an approved version
    is ever published; the actor must be allowed on every channel (checked again when each
    publication runs). Publications go out through the worker, the first channel first."""
    from responses import tasks

    if actor_membership is None or actor_membership.organization_id != statement.organization_id:
        raise NotAllowed()
    with transaction.atomic():
        locked = _lock(statement)
        version = locked.current_version
        outdated = locked.status == StatementStatus.APPROVED and not is_version_approved(locked, version)
        if outdated:
            # Approved under rules that changed since (the severity rose, a role changed hands):
            # back to the approvers, committed, rather than stuck as approved-but-unpublishable.
            _reopen_review(locked, actor_membership)
    if outdated:
        raise ServiceError("The approval no longer meets the incident's approval rules (its severity or approvers changed); "
                           "it went back for approval.", code="approval_outdated")
    with transaction.atomic():
        locked = _lock(statement)
        version = locked.current_version
        if locked.status != StatementStatus.APPROVED or not is_version_approved(locked, version):
            raise ServiceError("Only an approved version is published.", code="not_approved")
        if locked.kind == StatementKind.REPLY_TEMPLATE:
            raise ServiceError("A reply template goes out as replies from the inbox, not as a post.", code="reply_template")
        channels = _channels_in_order(locked)
        if not channels:
            raise ServiceError("Choose at least one channel that exists and is switched on.", field="target_channels")
        refusals = [reason for channel in channels if (reason := policy.publish_refusal(channel=channel, membership=actor_membership))]
        if refusals:
            raise NotAllowed(" ".join(refusals), code="publishing_not_allowed")
        if any(channel.kind == ChannelKind.HUB for channel in channels):
            # The page's address is fixed now, so posts that go out before the hub link to it.
            HubPage.unscoped.get_or_create(organization_id=locked.organization_id, incident=locked.incident, defaults={"slug": _hub_slug(locked.incident, version)})
        publications = []
        for position, channel in enumerate(channels):
            publication, _ = Publication.unscoped.get_or_create(
                organization_id=locked.organization_id, version=version, channel=channel,
                defaults={"statement": locked, "channel_kind": channel.kind, "position": position, "requested_by": actor_membership.user},
            )
            publications.append(publication)
        now = timezone.now()
        Statement.unscoped.filter(pk=locked.pk).update(status=StatementStatus.PUBLISHED, published_version=version, updated_at=now)
        timeline_record(locked.incident, kind=TimelineKind.STATEMENT,
                        text=f"Publishing version {version.number} of {locked.get_kind_display().lower()} #{locked.pk} to {', '.join(c.name for c in channels)}",
                        actor=actor_membership.user, data={"statement_id": locked.pk, "version": version.number, "channels": [c.pk for c in channels]})
        audit_record(action="statement.publish_requested", actor=actor_membership.user, organization=locked.incident.organization, target=locked,
                     after={"version": version.number, "channels": [c.name for c in channels]})
        locked.refresh_from_db()
        events.statement_changed(locked, "statement.publishing")
        ids = [publication.pk for publication in publications]
        transaction.on_commit(lambda: tasks.publish.delay(ids))
    return publications


def _outbound(publication: Publication):
    from responses.channels.base import OutboundPost, PublishedPart

    version, statement = publication.version, publication.statement
    text = version.body
    if version.headline and statement.kind != StatementKind.REPLY_TEMPLATE:
        text = f"{version.headline}\n\n{text}"
    # statement_publish fixed the hub page's address before anything went out.
    hub_page = HubPage.objects.for_organization(publication.organization_id).filter(incident_id=statement.incident_id).first()
    link = hub_url(statement.incident.organization.slug, hub_page.slug) if hub_page is not None else ""
    return OutboundPost(
        text=text, language=statement.language, link=link, idempotency_key=f"publication-{publication.pk}",
        resume_after=[PublishedPart(external_id=part["external_id"], url=part.get("url", "")) for part in publication.parts],
    )


def _hub_slug(incident: Incident, version: StatementVersion) -> str:
    """The public address comes from approved words (the first published headline), never
    from the incident's internal title."""
    words = version.headline or " ".join(version.body.split()[:8])
    return f"{slugify(words)[:60].strip('-') or 'update'}-{incident.pk}"


def _publish_to_hub(publication: Publication, now: datetime) -> tuple[str, str]:
    incident = publication.statement.incident
    page, created = HubPage.unscoped.get_or_create(organization_id=incident.organization_id, incident=incident, defaults={"slug": _hub_slug(incident, publication.version)})
    HubPage.unscoped.filter(pk=page.pk).update(updated_at=now)
    return page.slug, hub_url(incident.organization.slug, page.slug)


def publication_retry(*, publication: Publication, actor_membership: Membership) -> Publication:
    """Send a failed publication again (after someone fixed the credentials, say), on behalf of
    the member asking: only what failed goes out again, never the channels that succeeded."""
    from responses import tasks

    if actor_membership is None or actor_membership.organization_id != publication.organization_id:
        raise NotAllowed()
    _require(actor_membership, Role.RESPONDER, publication.organization_id)
    with transaction.atomic():
        locked = Publication.objects.for_organization(publication.organization_id).select_for_update().select_related(
            "statement", "statement__incident", "statement__incident__organization", "channel", "version"
        ).get(pk=publication.pk)
        if locked.status != PublicationStatus.FAILED:
            raise ServiceError("Only a failed publication is sent again.", code="not_failed")
        statement = locked.statement
        if statement.published_version_id != locked.version_id:
            raise ServiceError("A newer version of this statement was published or is being edited; publish that one instead.", code="superseded")
        if not is_version_approved(statement, locked.version):
            raise ServiceError("The version is no longer approved.", code="not_approved")
        refusal = policy.publish_refusal(channel=locked.channel, membership=actor_membership)
        if refusal:
            raise NotAllowed(refusal, code="publishing_not_allowed")
        Publication.unscoped.filter(pk=locked.pk).update(status=PublicationStatus.QUEUED, attempts=0, next_attempt_at=None, lease_until=None,
                                                        requested_by=actor_membership.user)
        timeline_record(statement.incident, kind=TimelineKind.STATEMENT, text=f"Publishing to {locked.channel.name} tried again (it had failed: {locked.error[:200]})",
                        actor=actor_membership.user, data={"statement_id": statement.pk, "publication_id": locked.pk})
        audit_record(action="statement.publish_retried", actor=actor_membership.user, organization=statement.incident.organization, target=statement,
                     after={"channel": locked.channel.name, "previous_error": locked.error[:500]})
        locked.refresh_from_db()
        events.publication_changed(locked)
        transaction.on_commit(lambda: tasks.publish.delay([locked.pk]))
    return locked


@dataclass
class SendOutcome:
    """What one attempt through a network adapter came to."""

    parts: list[dict]
    external_id: str = ""
    url: str = ""
    error: str = ""
    retry_in: float | None = None  # seconds until a retry, when one can help


def send_through_channel(channel: PublishingChannel, post, *, attempts: int, now: datetime) -> SendOutcome:
    """Post through the channel's adapter and classify the outcome (statements, replies and
    scheduled posts all go out this way)."""
    from responses.channels import adapter_for
    from responses.channels.base import PublishError

    try:
        adapter = adapter_for(channel.kind, config=channel.config, credentials=channel.credentials())
        result = adapter.publish(post)
    except PublishError as failure:
        parts = [{"external_id": part.external_id, "url": part.url} for part in failure.published_parts] or _parts_of(post)
        retry_in = _backoff(attempts, failure.retry_at, now) if failure.retryable and attempts < PUBLISH_MAX_ATTEMPTS else None
        return SendOutcome(parts=parts, error=failure.message, retry_in=retry_in)
    except Exception as failure:  # noqa: BLE001 - an unexpected failure is recorded, then retried
        logger.exception("Sending through channel %s failed", channel.pk)
        retry_in = _backoff(attempts, None, now) if attempts < PUBLISH_MAX_ATTEMPTS else None
        return SendOutcome(parts=_parts_of(post), error=f"Unexpected error: {type(failure).__name__}", retry_in=retry_in)
    parts = [{"external_id": part.external_id, "url": part.url} for part in result.parts]
    return SendOutcome(parts=parts, external_id=result.external_id, url=result.url)


def _parts_of(post) -> list[dict]:
    return [{"external_id": part.external_id, "url": part.url} for part in post.resume_after]


def publication_attempt(*, publication_id: int) -> float | None:
    """Run one publication (called by the worker). Returns seconds until a retry is due, or
    None when the publication is finished or not this worker's to run. Claims the row with a
    conditional update so two workers never send it twice."""
    from responses import hub

    now = timezone.now()
    lease = claim_send(Publication, publication_id, now)
    if lease is None:
        return None
    publication = Publication.unscoped.select_related("statement", "statement__incident", "statement__incident__organization", "version", "channel", "requested_by").get(pk=publication_id)
    statement = publication.statement
    requester = Membership.objects.for_organization(publication.organization_id).filter(user_id=publication.requested_by_id).select_related("user").first()
    outcome = SendOutcome(parts=list(publication.parts))
    # Checked now, not when it was asked for: a revocation or a lockdown stops what is queued.
    refusal = policy.publish_refusal(channel=publication.channel, membership=requester)
    if not refusal and statement.published_version_id != publication.version_id:
        refusal = "A newer version was published or edited since; this one is not sent."
    if not refusal and not is_version_approved(statement, publication.version):
        refusal = "The version is no longer approved."
    kind = publication.channel.kind
    if refusal:
        outcome.error = refusal
    elif kind in BUILTIN_CHANNEL_KINDS:
        try:
            if kind == ChannelKind.HUB:
                outcome.external_id, outcome.url = _publish_to_hub(publication, now)
            else:
                outcome.external_id = f"{hub.email_subscribers(publication=publication)} subscribers"
        except Exception as failure:  # noqa: BLE001 - a mail server or database hiccup: recorded, retried
            logger.exception("Publication %s on the %s failed", publication_id, kind)
            outcome.error = f"{ChannelKind(kind).label}: {type(failure).__name__}; will retry."
            outcome.retry_in = _backoff(publication.attempts, None, now) if publication.attempts < PUBLISH_MAX_ATTEMPTS else None
    else:
        outcome = send_through_channel(publication.channel, _outbound(publication), attempts=publication.attempts, now=now)
    with transaction.atomic():
        if not holds_claim(Publication, publication.pk, lease):
            logger.warning("Publication %s was taken over while sending; its outcome is the new holder's to record", publication_id)
            return None
        if not outcome.error:
            _record_success(publication, external_id=outcome.external_id, url=outcome.url, parts=outcome.parts, now=now)
        else:
            status = PublicationStatus.RETRYING if outcome.retry_in is not None else PublicationStatus.FAILED
            Publication.unscoped.filter(pk=publication.pk).update(
                status=status, error=outcome.error[:2000], parts=outcome.parts, lease_until=None,
                next_attempt_at=now + timedelta(seconds=outcome.retry_in) if outcome.retry_in is not None else None,
            )
            if status == PublicationStatus.FAILED:
                timeline_record(statement.incident, kind=TimelineKind.STATEMENT, text=f"Publishing to {publication.channel.name} failed: {outcome.error[:300]}",
                                data={"statement_id": statement.pk, "publication_id": publication.pk})
                audit_record(action="statement.publish_failed", organization=statement.incident.organization, target=statement,
                             after={"channel": publication.channel.name, "error": outcome.error[:500]})
                notify(organization=statement.incident.organization, recipients={publication.requested_by} - {None}, kind="publishing",
                       text=f"Not published on {publication.channel.name}: {outcome.error[:200]}", dedupe_key=f"publication:{publication.pk}:failed",
                       incident=statement.incident)
        publication.refresh_from_db()
        events.publication_changed(publication)
        if not outcome.error:
            statement.incident.refresh_from_db()
            events.incident_clock(statement.incident)  # after the publication it comes from
    return outcome.retry_in


PUBLISH_MAX_ATTEMPTS = 8


# --- one send at a time -------------------------------------------------------------------------
# Publications and replies share one life: queued → sending (claimed, under a lease) →
# succeeded/sent, retrying (at next_attempt_at) or failed. These three keep it in one place.
def claim_send(model, pk: int, now: datetime) -> datetime | None:
    """Claim a queued or due row for one send with a conditional update; returns the lease,
    or None when it is not this worker's to send. A worker that died mid-send leaves its lease
    behind: past it the row may be taken again, PUBLISH_MAX_ATTEMPTS times, then it failed."""
    model.unscoped.filter(pk=pk, status="sending", lease_until__lt=now, attempts__gte=PUBLISH_MAX_ATTEMPTS).update(
        status="failed", lease_until=None, error=f"Gave up after {PUBLISH_MAX_ATTEMPTS} attempts: the worker stopped mid-send each time."
    )
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now + timedelta(seconds=1))
    claimable = (Q(status__in=["queued", "retrying"]) & due) | Q(status="sending", lease_until__lt=now, attempts__lt=PUBLISH_MAX_ATTEMPTS)
    lease = now + timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)
    return lease if model.unscoped.filter(claimable, pk=pk).update(status="sending", lease_until=lease, attempts=F("attempts") + 1) else None


def holds_claim(model, pk: int, lease: datetime) -> bool:
    """Whether the claim with this lease still holds (call in the transaction that records the
    outcome: past its lease another worker may have taken the row, and records it instead)."""
    return model.unscoped.select_for_update().filter(pk=pk, status="sending", lease_until=lease).exists()


def sends_due(model, now: datetime | None = None) -> list[int]:
    """Rows whose send task was lost (a retry overdue, a queued row nobody took) or whose worker
    died mid-send (lease run out), for beat to queue again."""
    now = now or timezone.now()
    stale = Q(status="sending", lease_until__lt=now)
    late = Q(status__in=["retrying", "queued"], next_attempt_at__lte=now - timedelta(seconds=30))
    lost = Q(status="queued", next_attempt_at__isnull=True, created_at__lte=now - timedelta(seconds=60))
    return list(model.unscoped.filter(stale | late | lost).order_by("created_at", "pk").values_list("pk", flat=True)[:500])


def _backoff(attempts: int, retry_at: datetime | None, now: datetime) -> float:
    if retry_at is not None:
        return min(settings.MAX_TASK_COUNTDOWN_SECONDS, max(1.0, (retry_at - now).total_seconds() + 1))
    return float(min(settings.MAX_TASK_COUNTDOWN_SECONDS, 5 * 3 ** max(0, attempts - 1)))  # 5 s, 15 s, 45 s … up to an hour


def _record_success(publication: Publication, *, external_id: str, url: str, parts: list[dict], now: datetime) -> None:
    statement = publication.statement
    incident = statement.incident
    Publication.unscoped.filter(pk=publication.pk).update(
        status=PublicationStatus.SUCCEEDED, external_id=external_id[:200], url=url[:500], parts=parts, error="", published_at=now,
        lease_until=None, next_attempt_at=None,
    )
    Statement.unscoped.filter(pk=statement.pk, first_published_at__isnull=True).update(first_published_at=now)
    Statement.unscoped.filter(pk=statement.pk).update(last_published_at=now)
    text = f"Published on {publication.channel.name}" + (f": {url}" if url else "")
    timeline_record(incident, kind=TimelineKind.STATEMENT, text=text, data={"statement_id": statement.pk, "publication_id": publication.pk, "url": url})
    audit_record(action="statement.published", organization=incident.organization, target=statement,
                 after={"channel": publication.channel.name, "version": publication.version.number, "external_id": external_id, "url": url})
    if publication.channel_kind == ChannelKind.HUB:
        from responses import hub

        # Every web process serves the new page within its revalidation interval, not later.
        transaction.on_commit(lambda: hub.hub_changed(incident.organization_id))
    version = publication.version
    if statement.kind in HUB_UPDATE_KINDS and publication.channel_kind in PUBLIC_CHANNEL_KINDS:
        # The first successful public publication stops the time-to-first-statement clock
        # (a partner's webhook or an e-mail to nobody is not the public hearing from us).
        if Incident.objects.for_organization(incident.organization_id).filter(pk=incident.pk, first_statement_at__isnull=True).update(first_statement_at=now):
            minutes = (now - incident.detected_at).total_seconds() / 60
            timeline_record(incident, kind=TimelineKind.STATEMENT, text=f"First statement out after {minutes:.0f} min (on {publication.channel.name})",
                            data={"statement_id": statement.pk, "minutes": round(minutes, 1)})
        if version.next_update_at and statement.translation_of_id is None:
            Incident.objects.for_organization(incident.organization_id).filter(pk=incident.pk).update(next_update_due_at=version.next_update_at)
        _open_promises(statement, version)


def _open_promises(statement: Statement, version: StatementVersion) -> None:
    """A published version's promises become tracked, once (whichever channel succeeds first)."""
    if statement.translation_of_id is not None or not version.promises:
        return
    # Two channels succeeding at the same moment: the statement's row lock lets one of them in.
    Statement.unscoped.select_for_update().filter(pk=statement.pk).first()
    if Promise.objects.for_organization(statement.organization_id).filter(version=version).exists():
        return
    for promise in version.promises:
        Promise.unscoped.create(organization_id=statement.organization_id, incident_id=statement.incident_id, statement=statement, version=version,
                                text=promise["text"], due_at=parse_datetime(promise["due_at"]))


# --- promises and reviews over time (beat) ---------------------------------------------------
PROMISE_WARNING = timedelta(minutes=10)


def promise_keep(*, promise: Promise, actor_membership: Membership) -> Promise:
    _require(actor_membership, Role.RESPONDER, promise.organization_id)
    with transaction.atomic():
        kept = Promise.objects.for_organization(promise.organization_id).filter(pk=promise.pk, status__in=[PromiseStatus.OPEN, PromiseStatus.SLIPPED]).update(
            status=PromiseStatus.KEPT, kept_at=timezone.now(), kept_by=actor_membership.user
        )
        promise.refresh_from_db()
        if not kept:
            return promise
        timeline_record(promise.incident, kind=TimelineKind.STATEMENT, text=f"Promise kept: {promise.text}", actor=actor_membership.user, data={"promise_id": promise.pk})
        audit_record(action="promise.kept", actor=actor_membership.user, organization=actor_membership.organization, target=promise)
        events.promise_changed(promise)
    return promise


def promises_check(now: datetime | None = None) -> dict[str, int]:
    """Warn the incident lead before a promise slips, and mark the ones that did."""
    from playbooks.incident_services import role_holders

    now = now or timezone.now()
    counts = {"warned": 0, "slipped": 0}
    at_risk = Promise.unscoped.filter(status=PromiseStatus.OPEN, warned_at__isnull=True, due_at__lte=now + PROMISE_WARNING).select_related("incident", "incident__organization")
    for promise in at_risk:
        with transaction.atomic():
            if not Promise.unscoped.filter(pk=promise.pk, warned_at__isnull=True).update(warned_at=now):
                continue
            leads = role_holders(promise.incident, ["incident_lead"]) or policy.backup_approvers(promise.incident, policy.approval_policy(promise.incident))
            notify(organization=promise.incident.organization, recipients=leads, kind="promise",
                   text=f"Promise due {timezone.localtime(promise.due_at):%H:%M}: {promise.text}", dedupe_key=f"promise:{promise.pk}:warning", incident=promise.incident)
            events.promise_changed(promise)
            counts["warned"] += 1
    slipped = Promise.unscoped.filter(status=PromiseStatus.OPEN, due_at__lte=now).select_related("incident", "incident__organization")
    for promise in slipped:
        with transaction.atomic():
            if not Promise.unscoped.filter(pk=promise.pk, status=PromiseStatus.OPEN).update(status=PromiseStatus.SLIPPED, slipped_at=now):
                continue
            timeline_record(promise.incident, kind=TimelineKind.STATEMENT, text=f"Promise slipped: {promise.text}", data={"promise_id": promise.pk})
            promise.refresh_from_db()
            events.promise_changed(promise)
            counts["slipped"] += 1
    return counts


def reviews_escalate_overdue(now: datetime | None = None) -> int:
    """Statements still waiting past their review deadline go to the backup approvers, once."""
    now = now or timezone.now()
    escalated = 0
    overdue = Statement.unscoped.filter(status=StatementStatus.IN_REVIEW, review_due_at__lte=now, review_escalated_at__isnull=True).select_related(
        "incident", "incident__organization", "incident__playbook_version", "current_version"
    )
    for statement in overdue:
        with transaction.atomic():
            if not Statement.unscoped.filter(pk=statement.pk, status=StatementStatus.IN_REVIEW, review_escalated_at__isnull=True).update(review_escalated_at=now):
                continue
            review_policy = policy.approval_policy(statement.incident)
            backups = [user for user in policy.backup_approvers(statement.incident, review_policy) if user.pk != statement.current_version.author_id]
            notify(organization=statement.incident.organization, recipients=backups, kind="approval",
                   text=f"Overdue approval, please decide now: {statement}", dedupe_key=f"statement:{statement.pk}:escalated:v{statement.current_version.number}",
                   incident=statement.incident)
            timeline_record(statement.incident, kind=TimelineKind.STATEMENT,
                            text=f"Approval of #{statement.pk} overdue; escalated to {', '.join(sorted(str(user) for user in backups)) or 'nobody (no backups or managers)'}",
                            data={"statement_id": statement.pk, "recipient_ids": [user.pk for user in backups]})
            audit_record(action="statement.review_escalated", organization=statement.incident.organization, target=statement,
                         after={"recipients": [user.username for user in backups]})
            statement.refresh_from_db()
            events.statement_changed(statement, "statement.review_escalated")
            escalated += 1
    return escalated
