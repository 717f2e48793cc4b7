"""Celery tasks for incidents: mail notifications, flag overdue tasks."""

from __future__ import annotations

import smtplib

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.utils import timezone

from playbooks.models import Notification


@shared_task(
    bind=True,
    autoretry_for=(smtplib.SMTPException, OSError),
    retry_backoff=30,
    retry_backoff_max=settings.MAX_TASK_COUNTDOWN_SECONDS,
    retry_jitter=True,
    max_retries=8,
)
def deliver_notifications(self, notification_ids: list[int]) -> None:
    """E-mail each notification once. The claim (emailed_at) is taken before sending and given
    back if sending fails, so a retry or a second worker never mails twice."""
    if not settings.INTEGRATIONS["email"]:
        return
    for notification in Notification.unscoped.select_related("recipient", "incident", "organization").filter(
        pk__in=notification_ids, emailed_at__isnull=True
    ):
        if not notification.recipient.email:
            continue
        claimed = Notification.unscoped.filter(pk=notification.pk, emailed_at__isnull=True).update(emailed_at=timezone.now())
        if not claimed:
            continue
        link = f"{settings.SITE_URL.rstrip('/')}/o/{notification.organization.slug}/"
        if notification.incident_id:
            link += f"incidents/{notification.incident_id}/"
        try:
            send_mail(
                subject=f"[{notification.organization.name}] {notification.text[:120]}",
                message=f"{notification.text}\n\n{link}\n",
                from_email=settings.DEFAULT_FROM_EMAIL,
                recipient_list=[notification.recipient.email],
            )
        except Exception:
            Notification.unscoped.filter(pk=notification.pk).update(emailed_at=None)
            raise


@shared_task(ignore_result=True)
def flag_overdue_tasks() -> int:
    from playbooks import incident_services

    return incident_services.tasks_flag_overdue()
