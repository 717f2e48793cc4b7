"""Celery tasks for incidents: mail notifications, flag overdue tasks."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.utils import timezone

from crisiscenter.tasks import MAIL_RETRY_POLICY
from playbooks.models import Notification


@shared_task(bind=True, **MAIL_RETRY_POLICY)
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
        if notification.kind == "approval":
            link += "approvals/"  # where an approver decides in one tap, on a phone too
        elif notification.incident_id:
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


class ChatDeliveryError(Exception):
    """A chat webhook answered with an error worth retrying (timeouts, 429, 5xx)."""


@shared_task(
    bind=True,
    autoretry_for=(ChatDeliveryError,),
    retry_backoff=15,
    retry_backoff_max=settings.MAX_TASK_COUNTDOWN_SECONDS,
    retry_jitter=True,
    max_retries=6,
)
def post_to_chat(self, webhook_id: int, text: str, link: str) -> None:
    """Post one message to a Slack or Teams incoming webhook. Transient failures retry with
    backoff; permanent ones (4xx) are recorded on the webhook for admins to see."""
    import json
    import urllib.error
    import urllib.request

    from crisiscenter.crypto import DecryptionError, decrypt
    from playbooks.models import ChatWebhook

    webhook = ChatWebhook.unscoped.filter(pk=webhook_id, enabled=True).first()
    if webhook is None or not settings.INTEGRATIONS[webhook.kind]:
        return

    def record(error: str = "") -> None:
        now = timezone.now()
        if error:
            ChatWebhook.unscoped.filter(pk=webhook.pk).update(last_error=error[:300], last_error_at=now)
        else:
            ChatWebhook.unscoped.filter(pk=webhook.pk).update(last_success_at=now, last_error="")

    try:
        url = decrypt(webhook.url_encrypted)
    except DecryptionError as error:
        record(str(error))
        return
    # Slack and Teams incoming webhooks both accept a plain {"text": ...} message.
    body = json.dumps({"text": f"{text}\n{link}"}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - host allow-listed at save
            response.read(1024)
    except urllib.error.HTTPError as error:
        record(f"HTTP {error.code} from {webhook.get_kind_display()}")
        if error.code == 429 or error.code >= 500:
            raise ChatDeliveryError(f"HTTP {error.code}") from None
        return
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        record(f"could not reach {webhook.get_kind_display()}: {getattr(error, 'reason', error)}")
        raise ChatDeliveryError(str(error)) from None
    record()
