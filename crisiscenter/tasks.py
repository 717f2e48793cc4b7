"""Celery tasks: ids in, re-fetch, call a service; retries live here, logic does not."""

from __future__ import annotations

import logging
import smtplib

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string

from crisiscenter import services
from crisiscenter.models import Invitation

logger = logging.getLogger(__name__)

# Mail that fails on the way out is retried with growing, jittered pauses for about a day.
MAIL_RETRY_POLICY = {
    "autoretry_for": (smtplib.SMTPException, OSError),
    "retry_backoff": 30,
    "retry_backoff_max": settings.MAX_TASK_COUNTDOWN_SECONDS,
    "retry_jitter": True,
    "max_retries": 8,
}


@shared_task(bind=True, ignore_result=True)
def record_worker_heartbeat(self) -> None:
    services.worker_heartbeat_record(hostname=self.request.hostname or "unknown")


@shared_task(bind=True, **MAIL_RETRY_POLICY)
def send_invitation_email(self, invitation_id: int, token: str) -> None:
    invitation = Invitation.unscoped.select_related("organization", "invited_by").filter(pk=invitation_id).first()
    if invitation is None or not invitation.is_pending():
        return
    context = {
        "invitation": invitation,
        "accept_url": f"{settings.SITE_URL.rstrip('/')}/invitations/{token}/",
        "ttl_days": settings.INVITATION_TTL_DAYS,
    }
    send_mail(
        subject=f"You are invited to {invitation.organization.name} on Crisis Center",
        message=render_to_string("emails/invitation.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[invitation.email],
    )
