"""Workers' side of publishing: tasks take ids and call one service."""

from __future__ import annotations

from celery import shared_task

from responses import reply_services, schedule_services, services
from responses.models import Publication, Reply


@shared_task(bind=True, ignore_result=True)
def publish(self, publication_ids: list[int]) -> None:
    """Send a statement's publications in order (the platform where the incident started
    first); each that must retry is scheduled on its own, so one slow network never holds up
    the hub or the others."""
    for publication_id in publication_ids:
        retry_in = services.publication_attempt(publication_id=publication_id)
        if retry_in is not None and not self.request.is_eager:
            publish.apply_async(args=[[publication_id]], countdown=retry_in)


@shared_task(ignore_result=True)
def resume_publications() -> int:
    """Beat: retries whose scheduled task was lost, and sends a dead worker left half-done."""
    due = services.sends_due(Publication)
    for publication_id in due:
        publish.delay([publication_id])
    return len(due)


@shared_task(ignore_result=True)
def escalate_overdue_reviews() -> int:
    return services.reviews_escalate_overdue()


@shared_task(ignore_result=True)
def check_promises() -> dict:
    return services.promises_check()



@shared_task(bind=True, ignore_result=True)
def send_reply(self, reply_id: int) -> None:
    retry_in = reply_services.reply_attempt(reply_id=reply_id)
    if retry_in is not None and not self.request.is_eager:
        send_reply.apply_async(args=[reply_id], countdown=retry_in)


@shared_task(ignore_result=True)
def resume_replies() -> int:
    due = services.sends_due(Reply)
    for reply_id in due:
        send_reply.delay(reply_id)
    return len(due)


@shared_task(ignore_result=True)
def scheduled_posts_tick() -> dict:
    """Beat: pause for crises, hold for review after them, send what is due."""
    return schedule_services.scheduled_posts_tick()


HUB_CONFIRMATION_MAX_RETRIES = 5


@shared_task(bind=True, ignore_result=True)
def send_hub_confirmation(self, subscription_id: int) -> None:
    """Mail a hub subscription's confirmation link (queued by hub.subscription_request after
    its commit, so the reader's request never waits for or fails on SMTP). Nothing to do when
    the subscription is gone, confirmed or cancelled; an SMTP failure is retried with backoff."""
    import logging
    import smtplib

    from responses import hub
    from responses.models import HubSubscription

    subscription = HubSubscription.unscoped.select_related("organization", "incident", "incident__hub_page").filter(pk=subscription_id).first()
    if subscription is None or subscription.confirmed_at is not None or subscription.unsubscribed_at is not None:
        return
    try:
        hub.subscription_confirmation_send(subscription=subscription)
    except (smtplib.SMTPException, OSError) as failure:
        logging.getLogger(__name__).warning("Confirmation mail for hub subscription %s failed: %s", subscription_id, type(failure).__name__)
        if not self.request.is_eager and self.request.retries < HUB_CONFIRMATION_MAX_RETRIES:
            raise self.retry(countdown=30 * 2 ** self.request.retries) from failure
