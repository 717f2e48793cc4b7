"""The war room's current state in one read: what a dashboard shows when it opens and what it
re-reads after a dropped connection. Live events (docs/realtime.md) keep it current between
reads. Each part reads a bounded window (the chart's range, the last hour, the last 24 hours,
the newest 5,000 mentions), and the whole is shared between the members for two seconds, so
a room of screens reconnecting at once costs one read, not one each.
"""

from __future__ import annotations

from datetime import timedelta

import logging

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Q, Sum
from django.utils import timezone

from crisiscenter import presence
from crisiscenter.models import Membership, Role
from crisiscenter.realtime import state_generation
from monitoring import spike_alerts
from monitoring.models import Mention, MentionStatus, Spike, SpikeStatus, VolumeBucket, Watch, WatchDetector
from monitoring.spike_services import BUCKET_FIELDS, spike_data, usual_range
from monitoring.spikes import DetectorState, Sensitivity, SpikeDetector
from playbooks import incident_selectors

logger = logging.getLogger(__name__)

CHART_MINUTES = 180
MAX_CHART_MINUTES = 24 * 60
SENTIMENT_MINUTES = 60
INBOX_HOURS = 24
TICKER_HOURS = 2
TICKER_SIZE = 20
MAX_WATCHES = 50
TICKER_SCAN = 5_000
SHARED_SECONDS = 2


def high_reach_threshold() -> int:
    return settings.MONITORING_HIGH_REACH


def ticker_item(row: dict) -> dict:
    return {
        "id": row["id"], "author_handle": row["author_handle"], "author_name": row["author_name"], "text": row["text"][:280],
        "reach": row["reach"], "posted_at": row["posted_at"], "url": row["url"], "source": row["source__kind"],
    }


TICKER_FIELDS = ("id", "author_handle", "author_name", "text", "reach", "posted_at", "url", "source__kind")


def _series(organization_id: int, watch_ids: list[int], start) -> tuple[dict[int, list[dict]], list[dict]]:
    """Minute buckets of the shown watches and of the whole organisation, each read through
    its own unique index (watch, minute) and (organization, minute)."""
    buckets = VolumeBucket.objects.for_organization(organization_id).filter(minute__gte=start).order_by("minute")
    by_watch: dict[int, list[dict]] = {}
    for row in buckets.filter(watch_id__in=watch_ids).values("watch_id", *BUCKET_FIELDS):
        by_watch.setdefault(row.pop("watch_id"), []).append(row)
    return by_watch, list(buckets.filter(watch__isnull=True).values(*BUCKET_FIELDS))


def _watches(organization_id: int, start) -> tuple[list[dict], list[dict]]:
    watches = list(Watch.objects.for_organization(organization_id).filter(is_active=True).order_by("name", "pk")[:MAX_WATCHES])
    detectors = {detector.watch_id: detector.state for detector in WatchDetector.objects.for_organization(organization_id).filter(watch__in=watches)}
    by_watch, total = _series(organization_id, [watch.pk for watch in watches], start)
    result = []
    for watch in watches:
        detector = SpikeDetector(Sensitivity.for_level(watch.spike_sensitivity))
        band = usual_range(detector, DetectorState.from_json(detectors.get(watch.pk)))
        result.append({"id": watch.pk, "name": watch.name, **band, "alerts_snoozed_until": watch.alerts_snoozed_until, "buckets": by_watch.get(watch.pk, [])})
    return result, total


def _incidents(organization) -> list[dict]:
    from responses.models import Promise, PromiseStatus

    incidents = list(incident_selectors.incidents_of(organization=organization, open_only=True)[:20])
    # Promises the public was given, not kept yet: the room sees each countdown (slipped ones too).
    promises: dict[int, list[dict]] = {}
    open_promises = Promise.objects.for_organization(organization).filter(
        incident__in=incidents, status__in=[PromiseStatus.OPEN, PromiseStatus.SLIPPED]
    ).order_by("due_at", "id").values("id", "incident_id", "text", "due_at", "status")
    for promise in open_promises:
        promises.setdefault(promise.pop("incident_id"), []).append(promise)
    return [
        {
            "id": incident.pk, "title": incident.title, "severity": incident.severity, "status": incident.status,
            "url": f"/o/{organization.slug}/incidents/{incident.pk}/", "detected_at": incident.detected_at,
            "acknowledged_at": incident.acknowledged_at, "first_statement_at": incident.first_statement_at,
            "first_statement_due_at": incident.first_statement_due_at, "next_update_due_at": incident.next_update_due_at,
            "overdue_tasks": incident.overdue_tasks, "promises": promises.get(incident.pk, [])[:5],
        }
        for incident in incidents
    ]


def _sentiment(organization_id: int, now) -> dict:
    totals = VolumeBucket.objects.for_organization(organization_id).filter(watch__isnull=True, minute__gte=now - timedelta(minutes=SENTIMENT_MINUTES)).aggregate(
        mentions=Sum("mentions"), positive=Sum("positive"), neutral=Sum("neutral"), negative=Sum("negative"), sentiment=Sum("sentiment_sum")
    )
    mentions = totals["mentions"] or 0
    return {
        "minutes": SENTIMENT_MINUTES, "mentions": mentions, "positive": totals["positive"] or 0, "neutral": totals["neutral"] or 0,
        "negative": totals["negative"] or 0, "average": round(totals["sentiment"] / mentions, 3) if mentions else None,
    }


def _inbox(organization_id: int, now) -> dict:
    counts = dict(
        Mention.objects.for_organization(organization_id).filter(posted_at__gte=now - timedelta(hours=INBOX_HOURS))
        .values_list("status").annotate(count=Count("id")).order_by()
    )
    return {status: counts.get(status, 0) for status in MentionStatus.values}


def _ticker(organization_id: int, now) -> list[dict]:
    """The loudest of the newest mentions: at most TICKER_SCAN rows read, however busy the hour."""
    mentions = Mention.objects.for_organization(organization_id)
    newest = mentions.filter(posted_at__gte=now - timedelta(hours=TICKER_HOURS)).order_by("-posted_at", "-id").values("id")[:TICKER_SCAN]
    rows = mentions.filter(pk__in=newest, reach__gte=high_reach_threshold()).order_by("-posted_at", "-id").values(*TICKER_FIELDS)[:TICKER_SIZE]
    return [ticker_item(row) for row in rows]


def _spikes(organization_id: int, start, now) -> tuple[list[Spike], list[Spike]]:
    """The chart's spikes (open, or in the range) and the alerts (still waiting for a decision)."""
    spikes = Spike.objects.for_organization(organization_id).select_related("watch__organization", "suggested_playbook").order_by("-detected_at", "-id")
    shown = list(spikes.filter(Q(status=SpikeStatus.OPEN) | Q(detected_at__gte=start) | Q(ended_at__gte=start))[:100])
    waiting = spikes.filter(incident__isnull=True, dismissed_at__isnull=True).filter(Q(status=SpikeStatus.OPEN) | Q(ended_at__gte=now - spike_alerts.ALERT_AFTER_END))
    return shown, [spike for spike in waiting[:50] if spike_alerts.needs_action(spike, now)]


def _statements_awaiting(organization) -> list[dict]:
    """Every statement waiting for approval (the same for every screen; who may approve which
    is the approvals page's business), oldest request first."""
    from responses import selectors as response_selectors

    return [
        {
            "id": statement.pk, "title": str(statement), "incident_id": statement.incident_id,
            "url": f"/o/{organization.slug}/incidents/{statement.incident_id}/statements/{statement.pk}/",
            "waiting_since": statement.review_requested_at or statement.updated_at, "due_at": statement.review_due_at,
        }
        for statement in response_selectors.statements_awaiting(organization=organization)[:50]
    ]


def _room(organization, minutes: int) -> dict:
    """The part every member sees alike, shared for SHARED_SECONDS and only until the next
    state-changing event: a room of screens reconnecting at once costs one read, and a screen
    re-reading after an event always gets a read made after it."""
    now = timezone.now()
    start = (now - timedelta(minutes=minutes)).replace(second=0, microsecond=0)
    shown, alerts = _spikes(organization.pk, start, now)
    watches, total = _watches(organization.pk, start)
    return {
        "version": 1,
        "generated_at": now,
        "minutes": minutes,
        "watches": watches,
        "total": {"buckets": total},
        "spikes": [spike_data(spike) for spike in shown],
        "alerts": [spike_data(spike) for spike in alerts],
        "sentiment": _sentiment(organization.pk, now),
        "ticker": _ticker(organization.pk, now),
        "high_reach_threshold": high_reach_threshold(),
        "inbox": _inbox(organization.pk, now),
        "inbox_hours": INBOX_HOURS,
        "incidents": _incidents(organization),
        "statements_awaiting_approval": _statements_awaiting(organization),
    }


def _room_key(organization, minutes: int) -> str:
    return f"war-room:{organization.pk}:{state_generation(organization.slug)}:{minutes}"


def snapshot(*, membership: Membership, minutes: int = CHART_MINUTES) -> dict:
    """Everything the war-room dashboard shows, as it is now, for this member."""
    organization = membership.organization
    key = _room_key(organization, minutes)
    room = cache.get(key)
    if room is None:
        room = _room(organization, minutes)
        cache.set(key, room, timeout=SHARED_SECONDS)
    try:
        here = presence.members(organization.pk)
    except Exception:  # presence is a nicety: without Redis the rest of the room still shows
        logger.exception("Could not read the war room's presence")
        here = []
    return {**room, "role": membership.role, "can_act": membership.has_role(Role.RESPONDER), "presence": here}
