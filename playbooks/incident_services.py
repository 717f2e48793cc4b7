"""Incident workflows: open from a playbook, acknowledge, escalate, change status, keep the
fact sheet, roles, tasks and notes. Every change lands on the append-only timeline, in the
audit trail, and (after commit) on the screens of everyone in the war room and the room."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from crisiscenter.audit import audit_record
from crisiscenter.errors import NotAllowed, ServiceError
from crisiscenter.models import Membership, Organization, Role, User
from crisiscenter.realtime import broadcast_on_commit, build_event, organization_group
from playbooks import document as playbook_document
from playbooks import selectors
from playbooks.models import (
    Incident,
    IncidentRole,
    IncidentStatus,
    IncidentTask,
    MistakeBy,
    Platform,
    Playbook,
    PlaybookProposal,
    PostIncidentReview,
    ProposalStatus,
    TimelineEntry,
    TimelineKind,
)
from playbooks.notifications import notify

FACT_FIELDS = ("what_happened", "mistake_by", "what_went_wrong", "started_at", "who_is_affected", "damage", "known", "unknown")


def incident_group(incident_id: int) -> str:
    return f"incident-{incident_id}"


def _announce(incident: Incident, event_type: str, data: dict[str, Any] | None = None) -> None:
    """One event, to the organisation's war room and to the incident room, after commit."""
    event = build_event(
        event_type=event_type,
        organization=incident.organization,
        data={"incident_id": incident.pk, "title": incident.title, "status": incident.status, "severity": incident.severity, **(data or {})},
    )
    broadcast_on_commit(group=organization_group(incident.organization_id), event=event)
    broadcast_on_commit(group=incident_group(incident.pk), event=event)


def _label(user: User | None) -> str:
    return str(user) if user is not None else "system"


def timeline_record(incident: Incident, *, kind: str, text: str, actor: User | None = None, data: dict | None = None, occurred_at: datetime | None = None) -> TimelineEntry:
    now = timezone.now()
    return TimelineEntry.unscoped.create(
        organization_id=incident.organization_id,
        incident=incident,
        kind=kind,
        text=text[:4000],
        data=data or {},
        actor=actor,
        actor_label=_label(actor),
        occurred_at=occurred_at or now,
        logged_at=now,
    )


def _members_by_username(organization: Organization) -> dict[str, User]:
    memberships = Membership.objects.for_organization(organization).select_related("user")
    return {membership.user.username: membership.user for membership in memberships}


def role_holders(incident: Incident, roles: list[str]) -> list[User]:
    holders = []
    for assignment in IncidentRole.objects.for_organization(incident.organization_id).filter(incident=incident, role__in=roles).select_related("member", "backup"):
        holders.extend(user for user in (assignment.member, assignment.backup) if user is not None)
    return holders


def is_incident_lead(incident: Incident, user: User) -> bool:
    return IncidentRole.objects.for_organization(incident.organization_id).filter(incident=incident, role="incident_lead", member=user).exists()


def _require(membership: Membership | None, minimum: Role, *, incident: Incident | None = None, lead_may: bool = False) -> Membership:
    if membership is None or (incident is not None and membership.organization_id != incident.organization_id):
        raise NotAllowed()
    if membership.has_role(minimum):
        return membership
    if lead_may and incident is not None and is_incident_lead(incident, membership.user):
        return membership
    raise NotAllowed(f"This needs the {Role(minimum).label.lower()} role or higher{' or being the incident lead' if lead_may else ''}.")


def _escalate(incident: Incident, severity: int, actor: User | None) -> None:
    """Notify whoever the ladder names for this severity — once per incident and severity."""
    document = incident.playbook_version.document if incident.playbook_version else {}
    rung = playbook_document.escalation_for(document, severity)
    roles = rung.get("notify_roles", []) if rung else ["incident_lead"]
    recipients = role_holders(incident, roles)
    if not recipients:
        # A plan with nobody in the roles still reaches someone: the organisation's managers.
        recipients = [m.user for m in Membership.objects.for_organization(incident.organization_id).filter(role__in=[Role.OWNER, Role.ADMIN, Role.MANAGER]).select_related("user")]
    created = notify(
        organization=incident.organization,
        recipients=[user for user in recipients if user != actor],
        kind="escalation",
        text=f"Severity {severity}: {incident.title}",
        dedupe_key=f"incident:{incident.pk}:severity:{severity}",
        incident=incident,
    )
    if created:
        timeline_record(incident, kind=TimelineKind.NOTIFICATION, text=f"Notified {', '.join(sorted(str(n.recipient) for n in created))} (severity {severity})", data={"severity": severity, "recipient_ids": [n.recipient_id for n in created]})


def _first_statement_due(incident: Incident, severity: int) -> datetime | None:
    document = incident.playbook_version.document if incident.playbook_version else {}
    rung = playbook_document.escalation_for(document, severity)
    return incident.detected_at + timedelta(minutes=rung["first_statement_due_minutes"]) if rung else None


def incident_open(
    *,
    organization: Organization,
    actor_membership: Membership | None,
    title: str,
    playbook: Playbook | None = None,
    severity: int | None = None,
    origin_platform: str = Platform.OTHER,
    origin_url: str = "",
    what_happened: str = "",
    detected_at: datetime | None = None,
) -> Incident:
    """Open an incident; from a playbook, it keeps that playbook's current version for life and
    gets the version's roles and checklist (owners from the roles, due times from opening).
    ``actor_membership`` None: the system opens it, which only a playbook that asks for its
    incidents to be opened automatically allows."""
    if actor_membership is not None:
        _require(actor_membership, Role.RESPONDER)
    actor = actor_membership.user if actor_membership is not None else None
    title = title.strip()
    if not title:
        raise ServiceError("Give the incident a title.", field="title")
    version = None
    if playbook is not None:
        if playbook.organization_id != organization.pk:
            raise NotAllowed()
        if playbook.is_archived:
            raise ServiceError("That playbook is archived.", field="playbook", code="playbook_archived")
        version = selectors.playbook_version(playbook=playbook)
    document = version.document if version else {}
    if actor is None and not (document.get("triggers") or {}).get("open_automatically"):
        raise NotAllowed("Only a playbook that asks for it has incidents opened automatically.")
    severity = severity or document.get("default_severity") or 3
    if severity not in (1, 2, 3, 4):
        raise ServiceError("Severity runs from 1 (most severe) to 4.", field="severity")
    if origin_platform not in Platform.values:
        raise ServiceError(f"Unknown platform {origin_platform!r}.", field="origin_platform")
    if origin_url:
        from django.core.exceptions import ValidationError
        from django.core.validators import URLValidator

        try:
            # Rendered as a link in the room: only http(s), never javascript: and friends.
            URLValidator(schemes=["http", "https"])(origin_url)
        except ValidationError:
            raise ServiceError("Give the link where it started as an http(s) address.", field="origin_url") from None
    opened_at = timezone.now()
    with transaction.atomic():
        incident = Incident.unscoped.create(
            organization=organization,
            title=title[:200],
            playbook=playbook,
            playbook_version=version,
            severity=severity,
            origin_platform=origin_platform,
            origin_url=origin_url[:500],
            what_happened=what_happened,
            detected_at=detected_at or opened_at,
            opened_by=actor,
        )
        incident.first_statement_due_at = _first_statement_due(incident, severity)
        incident.save(update_fields=["first_statement_due_at"])
        members = _members_by_username(organization)
        first_holder: dict[str, User] = {}
        for position, assignment in enumerate(document.get("roles", [])):
            member, backup = members.get(assignment.get("member") or ""), members.get(assignment.get("backup") or "")
            IncidentRole.unscoped.create(
                organization=organization, incident=incident, role=assignment["role"], member=member, backup=backup, position=position
            )
            if member is not None:
                first_holder.setdefault(assignment["role"], member)
        for position, item in enumerate(document.get("checklist", [])):
            IncidentTask.unscoped.create(
                organization=organization,
                incident=incident,
                title=item["title"],
                role=item["role"],
                owner=first_holder.get(item["role"]),
                due_at=opened_at + timedelta(minutes=item["due_minutes"]),
                position=position,
                from_checklist=True,
            )
        source = f" from “{playbook.name}” v{version.number}" if version else ""
        timeline_record(incident, kind=TimelineKind.OPENED, text=f"Incident opened{source} at severity {severity}" + (" (automatically, as the playbook asks)" if actor is None else ""), actor=actor,
                  data={"playbook_version_id": version.pk if version else None, "severity": severity})
        audit_record(action="incident.opened", actor=actor, organization=organization, target=incident,
                     after={"title": incident.title, "severity": severity, "playbook_version": version.pk if version else None})
        _escalate(incident, severity, actor)
        _announce(incident, "incident.opened")
    return incident


def incident_acknowledge(*, incident: Incident, actor_membership: Membership) -> Incident:
    _require(actor_membership, Role.RESPONDER, incident=incident)
    with transaction.atomic():
        now = timezone.now()
        claimed = Incident.objects.for_organization(incident.organization_id).filter(pk=incident.pk, acknowledged_at__isnull=True).update(acknowledged_at=now)
        incident.refresh_from_db()
        if not claimed:
            return incident
        if incident.status == IncidentStatus.DETECTED:
            Incident.objects.for_organization(incident.organization_id).filter(pk=incident.pk).update(status=IncidentStatus.ACTIVE)
            incident.refresh_from_db()
        timeline_record(incident, kind=TimelineKind.ACKNOWLEDGED, text=f"Acknowledged by {actor_membership.user}", actor=actor_membership.user)
        audit_record(action="incident.acknowledged", actor=actor_membership.user, organization=incident.organization, target=incident)
        _announce(incident, "incident.updated", {"change": "acknowledged"})
    return incident


def incident_change_status(*, incident: Incident, actor_membership: Membership, status: str, note: str = "") -> Incident:
    _require(actor_membership, Role.MANAGER, incident=incident, lead_may=True)
    if status not in IncidentStatus.values:
        raise ServiceError(f"Unknown status {status!r}.", field="status")
    with transaction.atomic():
        locked = Incident.objects.for_organization(incident.organization_id).select_for_update().get(pk=incident.pk)
        if locked.status == status:
            return locked
        if not locked.can_move_to(status):
            raise ServiceError(f"An incident cannot go from {locked.get_status_display().lower()} to {IncidentStatus(status).label.lower()}.", field="status", code="invalid_transition")
        before = locked.status
        now = timezone.now()
        locked.status = status
        fields = ["status"]
        if status == IncidentStatus.RESOLVED:
            locked.resolved_at, fields = now, fields + ["resolved_at"]
        elif status == IncidentStatus.CLOSED:
            locked.closed_at, fields = now, fields + ["closed_at"]
        elif status == IncidentStatus.ACTIVE and before in (IncidentStatus.RESOLVED,):
            locked.resolved_at, fields = None, fields + ["resolved_at"]
        if locked.acknowledged_at is None and status != IncidentStatus.DETECTED:
            locked.acknowledged_at, fields = now, fields + ["acknowledged_at"]
        locked.save(update_fields=fields)
        text = f"Status {IncidentStatus(before).label.lower()} → {IncidentStatus(status).label.lower()}" + (f": {note.strip()}" if note.strip() else "")
        timeline_record(locked, kind=TimelineKind.STATUS, text=text, actor=actor_membership.user, data={"from": before, "to": status})
        audit_record(action="incident.status_changed", actor=actor_membership.user, organization=locked.organization, target=locked, before={"status": before}, after={"status": status})
        notify(
            organization=locked.organization,
            recipients=[user for user in role_holders(locked, ["incident_lead", "spokesperson"]) if user != actor_membership.user],
            kind="status",
            text=f"{locked.title}: {IncidentStatus(status).label.lower()}",
            dedupe_key=f"incident:{locked.pk}:status:{status}:{now.isoformat()}",
            incident=locked,
        )
        _announce(locked, "incident.updated", {"change": "status", "from": before, "to": status})
    incident.refresh_from_db()
    return incident


def incident_change_severity(*, incident: Incident, actor_membership: Membership, severity: int, reason: str = "") -> Incident:
    _require(actor_membership, Role.MANAGER, incident=incident, lead_may=True)
    if severity not in (1, 2, 3, 4):
        raise ServiceError("Severity runs from 1 (most severe) to 4.", field="severity")
    with transaction.atomic():
        locked = Incident.objects.for_organization(incident.organization_id).select_for_update(of=("self",)).select_related("playbook_version", "organization").get(pk=incident.pk)
        if locked.status == IncidentStatus.CLOSED:
            raise ServiceError("A closed incident cannot change severity.", code="incident_closed")
        before = locked.severity
        if before == severity:
            return locked
        locked.severity = severity
        fields = ["severity"]
        if locked.first_statement_at is None:
            locked.first_statement_due_at, fields = _first_statement_due(locked, severity), fields + ["first_statement_due_at"]
        locked.save(update_fields=fields)
        direction = "Escalated" if severity < before else "De-escalated"
        timeline_record(locked, kind=TimelineKind.SEVERITY, text=f"{direction} {before} → {severity}" + (f": {reason.strip()}" if reason.strip() else ""),
                  actor=actor_membership.user, data={"from": before, "to": severity})
        audit_record(action="incident.severity_changed", actor=actor_membership.user, organization=locked.organization, target=locked, before={"severity": before}, after={"severity": severity})
        if severity < before:
            _escalate(locked, severity, actor_membership.user)
        _announce(locked, "incident.updated", {"change": "severity", "from": before, "to": severity})
    incident.refresh_from_db()
    return incident


def incident_update_facts(*, incident: Incident, actor_membership: Membership, changes: dict[str, Any]) -> Incident:
    _require(actor_membership, Role.RESPONDER, incident=incident)
    unknown = set(changes) - set(FACT_FIELDS)
    if unknown:
        raise ServiceError(f"Not fact-sheet fields: {', '.join(sorted(unknown))}.", code="unknown_fields")
    if "mistake_by" in changes and changes["mistake_by"] not in MistakeBy.values:
        raise ServiceError("Choose who made the mistake from the list.", field="mistake_by")
    with transaction.atomic():
        locked = Incident.objects.for_organization(incident.organization_id).select_for_update().get(pk=incident.pk)
        before, after = {}, {}
        for field, value in changes.items():
            if isinstance(value, str) and field != "mistake_by":
                value = value.strip()
            if getattr(locked, field) != value:
                before[field], after[field] = getattr(locked, field), value
                setattr(locked, field, value)
        if not after:
            return locked
        locked.save(update_fields=list(after))
        labels = ", ".join(Incident._meta.get_field(field).verbose_name for field in after)
        serialisable = {"before": {k: str(v) if v is not None else None for k, v in before.items()}, "after": {k: str(v) if v is not None else None for k, v in after.items()}}
        timeline_record(locked, kind=TimelineKind.FACTS, text=f"Fact sheet updated: {labels}", actor=actor_membership.user, data=serialisable)
        audit_record(action="incident.facts_updated", actor=actor_membership.user, organization=locked.organization, target=locked, before=serialisable["before"], after=serialisable["after"])
        _announce(locked, "incident.updated", {"change": "facts", "fields": sorted(after)})
    incident.refresh_from_db()
    return incident


def _member(organization_id: int, user_id: int | None) -> User | None:
    if user_id is None:
        return None
    membership = Membership.objects.for_organization(organization_id).select_related("user").filter(user_id=user_id).first()
    if membership is None:
        raise ServiceError("That person is not a member of this organisation.", field="member", code="not_a_member")
    return membership.user


def incident_assign_role(*, incident: Incident, actor_membership: Membership, role: str, member_id: int | None, backup_id: int | None = None) -> IncidentRole:
    _require(actor_membership, Role.MANAGER, incident=incident, lead_may=True)
    if role not in playbook_document.PlaybookRole.VALUES:
        raise ServiceError(f"Unknown role {role!r}.", field="role")
    member, backup = _member(incident.organization_id, member_id), _member(incident.organization_id, backup_id)
    if member is not None and member == backup:
        raise ServiceError("The backup must be someone else.", field="backup")
    with transaction.atomic():
        assignment = IncidentRole.objects.for_organization(incident.organization_id).filter(incident=incident, role=role).select_for_update().first()
        before = {"member": _label(assignment.member) if assignment and assignment.member else None}
        if assignment is None:
            assignment = IncidentRole.unscoped.create(organization_id=incident.organization_id, incident=incident, role=role, member=member, backup=backup, position=99)
        else:
            assignment.member, assignment.backup = member, backup
            assignment.save(update_fields=["member", "backup"])
        label = playbook_document.PlaybookRole.LABELS[role]
        timeline_record(incident, kind=TimelineKind.ROLE, text=f"{label}: {member or 'nobody'}" + (f" (backup {backup})" if backup else ""), actor=actor_membership.user,
                  data={"role": role, "member_id": member_id, "backup_id": backup_id})
        audit_record(action="incident.role_assigned", actor=actor_membership.user, organization=incident.organization, target=incident, before=before, after={"role": role, "member": str(member) if member else None})
        if member is not None and member != actor_membership.user:
            notify(organization=incident.organization, recipients=[member], kind="role", text=f"You are {label.lower()} for {incident.title}",
                   dedupe_key=f"incident:{incident.pk}:role:{role}:{member.pk}", incident=incident)
        _announce(incident, "incident.updated", {"change": "roles"})
    return assignment


def task_add(*, incident: Incident, actor_membership: Membership, title: str, role: str = "", owner_id: int | None = None, due_at: datetime | None = None) -> IncidentTask:
    _require(actor_membership, Role.RESPONDER, incident=incident)
    title = title.strip()
    if not title:
        raise ServiceError("Give the task a title.", field="title")
    if role and role not in playbook_document.PlaybookRole.VALUES:
        raise ServiceError(f"Unknown role {role!r}.", field="role")
    owner = _member(incident.organization_id, owner_id)
    with transaction.atomic():
        task = IncidentTask.unscoped.create(organization_id=incident.organization_id, incident=incident, title=title[:200], role=role, owner=owner, due_at=due_at, position=1000)
        timeline_record(incident, kind=TimelineKind.TASK_ADDED, text=f"Task added: {task.title}" + (f" (owner {owner})" if owner else ""), actor=actor_membership.user, data={"task_id": task.pk})
        audit_record(action="incident.task_added", actor=actor_membership.user, organization=incident.organization, target=task, after={"title": task.title})
        if owner is not None and owner != actor_membership.user:
            notify(organization=incident.organization, recipients=[owner], kind="task", text=f"New task for you: {task.title}", dedupe_key=f"task:{task.pk}:assigned:{owner.pk}", incident=incident)
        _announce(incident, "incident.updated", {"change": "tasks"})
    return task


def task_set_done(*, task: IncidentTask, actor_membership: Membership, done: bool) -> IncidentTask:
    incident = task.incident
    _require(actor_membership, Role.RESPONDER, incident=incident)
    with transaction.atomic():
        tasks = IncidentTask.objects.for_organization(incident.organization_id).filter(pk=task.pk)
        if done:
            claimed = tasks.filter(done_at__isnull=True).update(done_at=timezone.now(), done_by=actor_membership.user)
        else:
            claimed = tasks.filter(done_at__isnull=False).update(done_at=None, done_by=None, overdue_flagged_at=None)
        task.refresh_from_db()
        if not claimed:
            return task
        late = done and task.due_at is not None and task.done_at > task.due_at
        timeline_record(incident, kind=TimelineKind.TASK_DONE if done else TimelineKind.TASK_REOPENED,
                  text=(f"Done: {task.title}" + (" (late)" if late else "")) if done else f"Reopened: {task.title}",
                  actor=actor_membership.user, data={"task_id": task.pk, "late": late})
        audit_record(action="incident.task_done" if done else "incident.task_reopened", actor=actor_membership.user, organization=incident.organization, target=task)
        _announce(incident, "incident.updated", {"change": "tasks"})
    return task


def note_add(*, incident: Incident, actor_membership: Membership, text: str, occurred_at: datetime | None = None) -> TimelineEntry:
    _require(actor_membership, Role.RESPONDER, incident=incident)
    text = text.strip()
    if not text:
        raise ServiceError("Write something.", field="text")
    now = timezone.now()
    if occurred_at is not None and occurred_at > now + timedelta(minutes=5):
        raise ServiceError("A note cannot be about the future.", field="occurred_at")
    with transaction.atomic():
        entry = timeline_record(incident, kind=TimelineKind.NOTE, text=text, actor=actor_membership.user, occurred_at=occurred_at or now)
        _announce(incident, "incident.updated", {"change": "timeline"})
    return entry


def incident_log(incident: Incident, *, kind: str, text: str, actor: User | None = None, data: dict | None = None, occurred_at: datetime | None = None) -> TimelineEntry:
    """Put what another part of the product did on the incident's timeline and tell the room;
    call inside that part's transaction."""
    entry = timeline_record(incident, kind=kind, text=text, actor=actor, data=data, occurred_at=occurred_at)
    _announce(incident, "incident.updated", {"change": "timeline"})
    return entry


def incident_record_first_statement(*, incident: Incident, published_at: datetime, actor: User | None = None) -> bool:
    """Stop the time-to-first-statement clock (once) and start the next-update clock."""
    document = incident.playbook_version.document if incident.playbook_version_id else {}
    rung = playbook_document.escalation_for(document, incident.severity) or {}
    interval = rung.get("update_interval_minutes")
    with transaction.atomic():
        claimed = Incident.objects.for_organization(incident.organization_id).filter(pk=incident.pk, first_statement_at__isnull=True).update(
            first_statement_at=published_at, next_update_due_at=published_at + timedelta(minutes=interval) if interval else None
        )
        if claimed:
            incident.refresh_from_db()
            timeline_record(incident, kind=TimelineKind.STATEMENT, text="First statement published", actor=actor, occurred_at=published_at)
            _announce(incident, "incident.updated", {"change": "clocks"})
    return bool(claimed)


def tasks_flag_overdue(now: datetime | None = None) -> int:
    """Flag each task the first time it is overdue (all organisations): timeline, a notice to
    its owner (or the incident lead), an event. Safe to run from several beats at once."""
    now = now or timezone.now()
    flagged = 0
    candidates = IncidentTask.unscoped.filter(done_at__isnull=True, due_at__lt=now, overdue_flagged_at__isnull=True).exclude(
        incident__status__in=[IncidentStatus.RESOLVED, IncidentStatus.CLOSED]
    ).select_related("incident__organization", "owner")
    for task in candidates[:500]:
        with transaction.atomic():
            if not IncidentTask.unscoped.filter(pk=task.pk, overdue_flagged_at__isnull=True, done_at__isnull=True).update(overdue_flagged_at=now):
                continue
            incident = task.incident
            timeline_record(incident, kind=TimelineKind.TASK_OVERDUE, text=f"Overdue: {task.title}", data={"task_id": task.pk, "due_at": task.due_at.isoformat()})
            recipients = [task.owner] if task.owner else role_holders(incident, ["incident_lead"])
            notify(organization=incident.organization, recipients=recipients, kind="overdue", text=f"Overdue: {task.title} ({incident.title})",
                   dedupe_key=f"task:{task.pk}:overdue", incident=incident)
            _announce(incident, "incident.updated", {"change": "tasks"})
            flagged += 1
    return flagged


def review_save(*, incident: Incident, actor_membership: Membership, went_well: str, to_change: str, action_items: list[dict]) -> PostIncidentReview:
    """Write the post-incident review (once the incident is resolved). Action items name an
    owner among the members and an optional due date."""
    from datetime import date

    _require(actor_membership, Role.RESPONDER, incident=incident)
    if incident.status not in (IncidentStatus.RESOLVED, IncidentStatus.CLOSED):
        raise ServiceError("The review is written once the incident is resolved.", code="incident_not_resolved")
    if not isinstance(action_items, list) or len(action_items) > 50:
        raise ServiceError("Give at most 50 action items.", field="action_items")
    cleaned = []
    for index, item in enumerate(action_items):
        if not isinstance(item, dict) or not str(item.get("title", "")).strip():
            raise ServiceError(f"Action item {index + 1} needs a title.", field="action_items")
        owner = _member(incident.organization_id, item.get("owner_id")) if item.get("owner_id") else None
        due = item.get("due") or None
        if due is not None:
            try:
                due = date.fromisoformat(str(due)).isoformat()
            except ValueError:
                raise ServiceError(f"Action item {index + 1}: give the due date as YYYY-MM-DD.", field="action_items") from None
        cleaned.append({"title": str(item["title"]).strip()[:300], "owner_id": owner.pk if owner else None, "due": due, "done": bool(item.get("done"))})
    with transaction.atomic():
        review, created = PostIncidentReview.unscoped.select_for_update().get_or_create(
            organization_id=incident.organization_id, incident=incident, defaults={"updated_by": actor_membership.user}
        )
        before = None if created else {"went_well": review.went_well, "to_change": review.to_change, "action_items": review.action_items}
        review.went_well, review.to_change, review.action_items = went_well.strip(), to_change.strip(), cleaned
        review.updated_by, review.updated_at = actor_membership.user, timezone.now()
        review.save()
        audit_record(action="incident.review_saved", actor=actor_membership.user, organization=incident.organization, target=review,
                     before=before, after={"went_well": review.went_well, "to_change": review.to_change, "action_items": cleaned})
        _announce(incident, "incident.updated", {"change": "review"})
    return review


def proposal_create(*, incident: Incident, actor_membership: Membership, text: str) -> PlaybookProposal:
    """Propose a change to the incident's playbook from a lesson; admins decide on it."""
    _require(actor_membership, Role.RESPONDER, incident=incident)
    if incident.playbook_id is None:
        raise ServiceError("This incident was not opened from a playbook.", code="no_playbook")
    text = text.strip()
    if not text:
        raise ServiceError("Say what should change in the playbook.", field="text")
    with transaction.atomic():
        proposal = PlaybookProposal.unscoped.create(
            organization_id=incident.organization_id, playbook_id=incident.playbook_id, incident=incident, text=text[:4000], proposed_by=actor_membership.user
        )
        audit_record(action="playbook.change_proposed", actor=actor_membership.user, organization=incident.organization, target=proposal, after={"text": proposal.text})
        admins = [m.user for m in Membership.objects.for_organization(incident.organization_id).filter(role__in=[Role.OWNER, Role.ADMIN]).select_related("user")]
        notify(organization=incident.organization, recipients=[u for u in admins if u != actor_membership.user], kind="proposal",
               text=f"Proposed change to {incident.playbook.name}: {proposal.text[:200]}", dedupe_key=f"proposal:{proposal.pk}", incident=incident)
    return proposal


def proposal_decide(*, proposal: PlaybookProposal, actor_membership: Membership, status: str) -> PlaybookProposal:
    _require(actor_membership, Role.ADMIN)
    if proposal.organization_id != actor_membership.organization_id:
        raise NotAllowed()
    if status not in (ProposalStatus.APPLIED, ProposalStatus.DISMISSED):
        raise ServiceError("Mark the proposal applied or dismissed.", field="status")
    with transaction.atomic():
        claimed = PlaybookProposal.objects.for_organization(proposal.organization_id).filter(pk=proposal.pk, status=ProposalStatus.OPEN).update(
            status=status, decided_by=actor_membership.user, decided_at=timezone.now()
        )
        if not claimed:
            raise ServiceError("This proposal was already decided.", code="already_decided")
        proposal.refresh_from_db()
        audit_record(action=f"playbook.proposal_{status}", actor=actor_membership.user, organization=actor_membership.organization, target=proposal)
    return proposal
