"""Reads of incidents, scoped to one organisation and pre-joined for their pages."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from crisiscenter.models import Organization
from playbooks.models import (
    Incident,
    IncidentRole,
    IncidentStatus,
    IncidentTask,
    Notification,
    PlaybookProposal,
    PostIncidentReview,
    TimelineEntry,
)


def incidents_of(*, organization: Organization, open_only: bool = False) -> QuerySet[Incident]:
    incidents = Incident.objects.for_organization(organization).select_related("playbook", "playbook_version", "opened_by")
    if open_only:
        incidents = incidents.exclude(status__in=[IncidentStatus.RESOLVED, IncidentStatus.CLOSED])
    # Meta.ordering does not apply to aggregating queries: order explicitly (newest first).
    return incidents.annotate(
        open_tasks=Count("tasks", filter=Q(tasks__done_at__isnull=True)),
        overdue_tasks=Count("tasks", filter=Q(tasks__done_at__isnull=True, tasks__due_at__lt=timezone.now())),
    ).order_by("-detected_at", "-pk")


def incident_of(*, organization: Organization, incident_id: int) -> Incident | None:
    return incidents_of(organization=organization).filter(pk=incident_id).first()


def incident_roles(*, incident: Incident) -> QuerySet[IncidentRole]:
    return IncidentRole.objects.for_organization(incident.organization_id).filter(incident=incident).select_related("member", "backup")


def incident_tasks(*, incident: Incident) -> QuerySet[IncidentTask]:
    return IncidentTask.objects.for_organization(incident.organization_id).filter(incident=incident).select_related("owner", "done_by")


def incident_task(*, incident: Incident, task_id: int) -> IncidentTask | None:
    return incident_tasks(incident=incident).filter(pk=task_id).first()


def incident_timeline(*, incident: Incident, kinds: list[str] | None = None) -> QuerySet[TimelineEntry]:
    entries = TimelineEntry.objects.for_organization(incident.organization_id).filter(incident=incident)
    if kinds:
        entries = entries.filter(kind__in=kinds)
    return entries.order_by("occurred_at", "id")


def notifications_for(*, organization: Organization, user, unread_only: bool = False) -> QuerySet[Notification]:
    notifications = Notification.objects.for_organization(organization).filter(recipient=user).select_related("incident")
    return notifications.filter(read_at__isnull=True) if unread_only else notifications


def _minutes(start, end) -> float | None:
    return round((end - start).total_seconds() / 60, 1) if start and end else None


def review_measurements(*, incident: Incident) -> dict:
    """The numbers a post-incident review starts from, measured from the incident's record."""
    tasks = list(incident_tasks(incident=incident))
    by_role: dict[str, dict[str, int]] = {}
    for task in tasks:
        bucket = by_role.setdefault(task.role or "unassigned", {"on_time": 0, "late": 0, "not_done": 0})
        if task.done_at is None:
            bucket["not_done"] += 1
        elif task.due_at is None or task.done_at <= task.due_at:
            bucket["on_time"] += 1
        else:
            bucket["late"] += 1
    first_statement_met = None
    if incident.first_statement_due_at is not None:
        first_statement_met = incident.first_statement_at is not None and incident.first_statement_at <= incident.first_statement_due_at
    return {
        "minutes_to_acknowledge": _minutes(incident.detected_at, incident.acknowledged_at),
        "minutes_to_first_statement": _minutes(incident.detected_at, incident.first_statement_at),
        "first_statement_due_minutes": _minutes(incident.detected_at, incident.first_statement_due_at),
        "first_statement_on_time": first_statement_met,
        "minutes_to_resolve": _minutes(incident.detected_at, incident.resolved_at),
        "tasks_total": len(tasks),
        "tasks_on_time": sum(bucket["on_time"] for bucket in by_role.values()),
        "tasks_late": sum(bucket["late"] for bucket in by_role.values()),
        "tasks_not_done": sum(bucket["not_done"] for bucket in by_role.values()),
        "tasks_by_role": by_role,
    }


def review_of(*, incident: Incident) -> PostIncidentReview | None:
    return PostIncidentReview.objects.for_organization(incident.organization_id).filter(incident=incident).select_related("updated_by").first()


def proposals_for(*, playbook) -> QuerySet[PlaybookProposal]:
    return PlaybookProposal.objects.for_organization(playbook.organization_id).filter(playbook=playbook).select_related("incident", "proposed_by", "decided_by")


def review_export(*, incident: Incident) -> dict:
    """Everything a review needs, as one JSON-safe document (the review's export)."""
    review = review_of(incident=incident)
    return {
        "incident": {
            "id": incident.pk, "title": incident.title, "severity": incident.severity, "status": incident.status,
            "origin_platform": incident.origin_platform, "origin_url": incident.origin_url,
            "playbook": {"name": incident.playbook.name, "version": incident.playbook_version.number} if incident.playbook_version_id else None,
            "detected_at": incident.detected_at, "acknowledged_at": incident.acknowledged_at, "first_statement_at": incident.first_statement_at,
            "first_statement_due_at": incident.first_statement_due_at, "resolved_at": incident.resolved_at, "closed_at": incident.closed_at,
            "fact_sheet": {field: getattr(incident, field) for field in ("what_happened", "mistake_by", "what_went_wrong", "started_at", "who_is_affected", "damage", "known", "unknown")},
        },
        "measurements": review_measurements(incident=incident),
        "review": {
            "went_well": review.went_well, "to_change": review.to_change, "action_items": review.action_items,
            "updated_at": review.updated_at, "updated_by": str(review.updated_by) if review.updated_by else None,
        } if review else None,
        "timeline": [
            {"occurred_at": e.occurred_at, "logged_at": e.logged_at, "kind": e.kind, "actor": e.actor_label, "text": e.text}
            for e in incident_timeline(incident=incident)
        ],
    }
