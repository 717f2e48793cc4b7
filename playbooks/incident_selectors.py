"""Reads of incidents, scoped to one organisation and pre-joined for their pages."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from crisiscenter.models import Organization
from playbooks.models import Incident, IncidentRole, IncidentStatus, IncidentTask, Notification, TimelineEntry


def incidents_of(*, organization: Organization, open_only: bool = False) -> QuerySet[Incident]:
    incidents = Incident.objects.for_organization(organization).select_related("playbook", "playbook_version", "opened_by")
    if open_only:
        incidents = incidents.exclude(status__in=[IncidentStatus.RESOLVED, IncidentStatus.CLOSED])
    return incidents.annotate(
        open_tasks=Count("tasks", filter=Q(tasks__done_at__isnull=True)),
        overdue_tasks=Count("tasks", filter=Q(tasks__done_at__isnull=True, tasks__due_at__lt=timezone.now())),
    )


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
