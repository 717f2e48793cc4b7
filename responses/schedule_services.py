"""Scheduled (promotional) posts: queued per channel, paused by themselves while an incident
at or above the organisation's configured severity is open, and once it ends held for a
person to review before anything goes out — every pause and resume audited, with its reason.
They go out through the same channel adapters and publishing rights as statements.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from crisiscenter.audit import audit_record
from crisiscenter.errors import NotAllowed, ServiceError
from crisiscenter.models import Membership, Organization, Role
from playbooks.incident_services import timeline_record
from playbooks.models import Incident, IncidentStatus, TimelineKind
from responses import events, policy
from responses.models import PublishingChannel, ScheduledPost, ScheduledPostStatus
from responses.reply_services import REPLYABLE_NETWORKS, publishing_policy
from responses.services import _require, send_through_channel

MAX_SCHEDULED_TEXT = 5000


def pausing_incident(organization_id: int) -> Incident | None:
    """The most severe open incident at or above the organisation's pause threshold."""
    threshold = publishing_policy(organization_id).pause_scheduled_at_severity
    open_statuses = [IncidentStatus.DETECTED, IncidentStatus.ACTIVE, IncidentStatus.CONTAINED]
    return Incident.objects.for_organization(organization_id).filter(status__in=open_statuses, severity__lte=threshold).order_by("severity", "detected_at").first()


def scheduled_post_create(*, organization: Organization, actor_membership: Membership, channel_id: int, text: str, scheduled_at: datetime) -> ScheduledPost:
    _require(actor_membership, Role.RESPONDER, organization.pk)
    channel = PublishingChannel.objects.for_organization(organization).filter(pk=channel_id).first()
    if channel is None or channel.kind not in REPLYABLE_NETWORKS + ("webhook",):
        raise ServiceError("Choose one of the organisation's network channels.", field="channel_id")
    text = (text or "").strip()
    if not text or len(text) > MAX_SCHEDULED_TEXT:
        raise ServiceError(f"Write the post (at most {MAX_SCHEDULED_TEXT} characters).", field="text")
    if scheduled_at is None or timezone.is_naive(scheduled_at):
        raise ServiceError("Give the time with its zone.", field="scheduled_at")
    refusal = policy.publish_refusal(channel=channel, membership=actor_membership)
    if refusal:
        raise NotAllowed(refusal, code="publishing_not_allowed")
    with transaction.atomic():
        post = ScheduledPost.unscoped.create(organization=organization, channel=channel, text=text, scheduled_at=scheduled_at, created_by=actor_membership.user)
        incident = pausing_incident(organization.pk)
        if incident is not None:
            _pause(post, incident, timezone.now())
        audit_record(action="scheduled_post.created", actor=actor_membership.user, organization=organization, target=post,
                     after={"channel": channel.name, "scheduled_at": scheduled_at.isoformat(), "status": post.status})
        events.scheduled_changed(organization, post)
    return post


def _pause(post: ScheduledPost, incident: Incident, now: datetime) -> None:
    reason = f"Paused while incident “{incident.title}” (severity {incident.severity}) is open"
    ScheduledPost.unscoped.filter(pk=post.pk).update(status=ScheduledPostStatus.PAUSED, pause_reason=reason[:300], paused_at=now, paused_for=incident)
    post.refresh_from_db()


def scheduled_post_cancel(*, post: ScheduledPost, actor_membership: Membership) -> ScheduledPost:
    _require(actor_membership, Role.RESPONDER, post.organization_id)
    with transaction.atomic():
        cancellable = [ScheduledPostStatus.SCHEDULED, ScheduledPostStatus.PAUSED, ScheduledPostStatus.AWAITING_REVIEW, ScheduledPostStatus.FAILED]
        if not ScheduledPost.objects.for_organization(post.organization_id).filter(pk=post.pk, status__in=cancellable).update(status=ScheduledPostStatus.CANCELLED):
            raise ServiceError("This post is already on its way or done.", code="not_cancellable")
        post.refresh_from_db()
        audit_record(action="scheduled_post.cancelled", actor=actor_membership.user, organization=actor_membership.organization, target=post)
        events.scheduled_changed(actor_membership.organization, post)
    return post


def scheduled_post_resume(*, post: ScheduledPost, actor_membership: Membership, scheduled_at: datetime | None = None) -> ScheduledPost:
    """After review: back in the queue (at a new time if given; a time already past goes out
    at the next tick). Refused while a pausing incident is still open."""
    _require(actor_membership, Role.MANAGER, post.organization_id)
    incident = pausing_incident(post.organization_id)
    if incident is not None:
        raise ServiceError(f"Incident “{incident.title}” is still open: scheduled posts stay paused.", code="crisis_active")
    if scheduled_at is not None and timezone.is_naive(scheduled_at):
        raise ServiceError("Give the time with its zone.", field="scheduled_at")
    with transaction.atomic():
        updates = {"status": ScheduledPostStatus.SCHEDULED, "pause_reason": "", "paused_at": None}
        if scheduled_at is not None:
            updates["scheduled_at"] = scheduled_at
        if not ScheduledPost.objects.for_organization(post.organization_id).filter(
            pk=post.pk, status__in=[ScheduledPostStatus.AWAITING_REVIEW, ScheduledPostStatus.PAUSED]
        ).update(**updates):
            raise ServiceError("Only a paused post is resumed.", code="not_paused")
        before = {"status": post.status, "reason": post.pause_reason}
        post.refresh_from_db()
        audit_record(action="scheduled_post.resumed", actor=actor_membership.user, organization=actor_membership.organization, target=post,
                     before=before, after={"scheduled_at": post.scheduled_at.isoformat()})
        events.scheduled_changed(actor_membership.organization, post)
    return post


def scheduled_posts_tick(now: datetime | None = None) -> dict[str, int]:
    """Beat: pause every waiting post of an organisation in a crisis, hold them for review
    when it ends, and send the ones that are due."""
    now = now or timezone.now()
    counts = {"paused": 0, "awaiting_review": 0, "sent": 0, "failed": 0}
    # A worker that died mid-send: the post goes back in the queue (X refuses a true duplicate,
    # which then shows as failed rather than posting twice).
    ScheduledPost.unscoped.filter(status=ScheduledPostStatus.SENDING, lease_until__lt=now).update(status=ScheduledPostStatus.SCHEDULED, lease_until=None)
    organization_ids = set(
        ScheduledPost.unscoped.filter(status__in=[ScheduledPostStatus.SCHEDULED, ScheduledPostStatus.PAUSED]).values_list("organization_id", flat=True).distinct()
    )
    for organization_id in organization_ids:
        incident = pausing_incident(organization_id)
        with transaction.atomic():
            if incident is not None:
                waiting = list(ScheduledPost.objects.for_organization(organization_id).select_for_update(skip_locked=True).filter(status=ScheduledPostStatus.SCHEDULED))
                for post in waiting:
                    _pause(post, incident, now)
                if waiting:
                    timeline_record(incident, kind=TimelineKind.NOTE, text=f"{len(waiting)} scheduled post(s) paused while this incident is open",
                                    data={"scheduled_post_ids": [post.pk for post in waiting]})
                    audit_record(action="scheduled_post.paused", organization=incident.organization, target=incident,
                                 after={"posts": [post.pk for post in waiting], "reason": waiting[0].pause_reason})
                    events.scheduled_changed(incident.organization, None)
                counts["paused"] += len(waiting)
            else:
                held = ScheduledPost.objects.for_organization(organization_id).filter(status=ScheduledPostStatus.PAUSED)
                ids = list(held.values_list("pk", flat=True))
                if ids:
                    ScheduledPost.objects.for_organization(organization_id).filter(pk__in=ids, status=ScheduledPostStatus.PAUSED).update(
                        status=ScheduledPostStatus.AWAITING_REVIEW, pause_reason="The incident ended: review before it goes out"
                    )
                    organization = Organization.objects.get(pk=organization_id)
                    audit_record(action="scheduled_post.held_for_review", organization=organization, after={"posts": ids})
                    events.scheduled_changed(organization, None)
                    counts["awaiting_review"] += len(ids)
        if incident is None:
            for post_id in ScheduledPost.objects.for_organization(organization_id).filter(status=ScheduledPostStatus.SCHEDULED, scheduled_at__lte=now).values_list("pk", flat=True)[:100]:
                result = _send_scheduled(post_id, now)
                if result:
                    counts[result] += 1
    return counts


def _send_scheduled(post_id: int, now: datetime) -> str | None:
    from responses.channels.base import OutboundPost

    lease = now + timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)
    if not ScheduledPost.unscoped.filter(pk=post_id, status=ScheduledPostStatus.SCHEDULED).update(status=ScheduledPostStatus.SENDING, lease_until=lease, attempts=F("attempts") + 1):
        return None
    post = ScheduledPost.unscoped.select_related("channel", "organization").get(pk=post_id)
    # The crisis may have started after the tick looked: never send into it.
    incident = pausing_incident(post.organization_id)
    if incident is not None:
        with transaction.atomic():
            _pause(post, incident, now)
            events.scheduled_changed(post.organization, post)
        return "paused"
    creator = Membership.objects.for_organization(post.organization_id).filter(user_id=post.created_by_id).select_related("user").first()
    refusal = policy.publish_refusal(channel=post.channel, membership=creator)
    outcome = None if refusal else send_through_channel(post.channel, OutboundPost(text=post.text, idempotency_key=f"scheduled-{post.pk}"), attempts=post.attempts, now=now)
    with transaction.atomic():
        if outcome is not None and not outcome.error:
            ScheduledPost.unscoped.filter(pk=post.pk).update(status=ScheduledPostStatus.SENT, external_id=outcome.external_id[:200], url=outcome.url[:500], sent_at=now, error="", lease_until=None)
            result = "sent"
        elif outcome is not None and outcome.retry_in is not None:
            ScheduledPost.unscoped.filter(pk=post.pk).update(status=ScheduledPostStatus.SCHEDULED, error=outcome.error[:2000], scheduled_at=now + timedelta(seconds=outcome.retry_in), lease_until=None)
            result = None
        else:
            ScheduledPost.unscoped.filter(pk=post.pk).update(status=ScheduledPostStatus.FAILED, error=(refusal or outcome.error)[:2000], lease_until=None)
            result = "failed"
        post.refresh_from_db()
        audit_record(action=f"scheduled_post.{post.status}", organization=post.organization, target=post, after={"url": post.url, "error": post.error[:300]})
        events.scheduled_changed(post.organization, post)
    return result
