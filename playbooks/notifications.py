"""In-app notifications, deduplicated by key, mailed after commit by a task."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import IntegrityError, transaction
from django.utils import timezone

from crisiscenter.models import Organization, User
from crisiscenter.realtime import broadcast_to_organization
from playbooks.models import ChatKind, ChatWebhook, Incident, Notification

# Kinds of notification that also go to the team's Slack/Teams channel (a spike goes to the war room).
CHAT_KINDS = {"escalation", "status", "overdue", "spike"}


def notify(
    *,
    organization: Organization,
    recipients: Iterable[User],
    kind: str,
    text: str,
    dedupe_key: str,
    incident: Incident | None = None,
) -> list[Notification]:
    """Create one notification per recipient unless one with this key exists already; mail the
    new ones and announce them after the commit (escalations, status changes and overdue
    tasks also go to the chat webhooks, once). Returns only the newly created ones."""
    from playbooks.tasks import deliver_notifications

    created = []
    for recipient in {user.pk: user for user in recipients if user is not None}.values():
        try:
            with transaction.atomic():
                created.append(
                    Notification.unscoped.create(
                        organization=organization,
                        recipient=recipient,
                        incident=incident,
                        kind=kind,
                        text=text[:500],
                        dedupe_key=dedupe_key[:200],
                    )
                )
        except IntegrityError:
            continue  # already notified for this key
    if created:
        if kind in CHAT_KINDS:
            from django.conf import settings

            link = f"{settings.SITE_URL.rstrip('/')}/o/{organization.slug}/" + (f"incidents/{incident.pk}/" if incident else "")
            announce_in_chat(organization=organization, text=text, link=link)
        ids = [notification.pk for notification in created]
        transaction.on_commit(lambda: deliver_notifications.delay(ids))
        broadcast_to_organization(
            organization=organization,
            event_type="notification.created",
            data={
                "kind": kind,
                "text": text[:500],
                "incident_id": incident.pk if incident else None,
                "recipient_ids": [notification.recipient_id for notification in created],
            },
        )
    return created


# Incoming webhooks only ever go to the chat services themselves, which also keeps a
# configured URL from pointing the worker at internal addresses (SSRF).
CHAT_HOSTS = {
    ChatKind.SLACK: ("hooks.slack.com",),
    ChatKind.TEAMS: (".webhook.office.com", ".logic.azure.com", ".environment.api.powerplatform.com"),
}


def _allowed_chat_url(kind: str, url: str) -> bool:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme != "https" or not host or parts.username or parts.password or parts.port not in (None, 443):
        return False
    return any(host == suffix or (suffix.startswith(".") and host.endswith(suffix)) for suffix in CHAT_HOSTS[kind])


def chat_webhook_set(*, organization: Organization, actor_membership, kind: str, url: str) -> ChatWebhook | None:
    """Set (or, with an empty URL, remove) the organisation's Slack or Teams webhook."""
    from crisiscenter.audit import audit_record
    from crisiscenter.crypto import encrypt
    from crisiscenter.errors import NotAllowed, ServiceError
    from crisiscenter.models import Role

    if not actor_membership.has_role(Role.ADMIN):
        raise NotAllowed("Only admins and owners set chat webhooks.")
    if kind not in ChatKind.values:
        raise ServiceError(f"Unknown chat service {kind!r}.", field="kind")
    url = url.strip()
    with transaction.atomic():
        existing = ChatWebhook.objects.for_organization(organization).filter(kind=kind).first()
        if not url:
            if existing is not None:
                existing.delete()
                audit_record(action="chat_webhook.removed", actor=actor_membership.user, organization=organization, before={"kind": kind, "url": existing.url_hint})
            return None
        if len(url) > 1000 or not _allowed_chat_url(kind, url):
            hosts = ", ".join(h.lstrip(".") for h in CHAT_HOSTS[kind])
            raise ServiceError(f"Paste the https incoming-webhook URL that {ChatKind(kind).label} gave you (on {hosts}).", field="url", code="invalid_webhook_url")
        from urllib.parse import urlsplit

        hint = f"{urlsplit(url).hostname}/…{url[-4:]}"
        webhook, _ = ChatWebhook.unscoped.update_or_create(
            organization=organization, kind=kind,
            defaults={"url_encrypted": encrypt(url), "url_hint": hint, "enabled": True, "last_error": "", "last_error_at": None, "updated_at": timezone.now()},
        )
        audit_record(action="chat_webhook.set", actor=actor_membership.user, organization=organization, target=webhook,
                     before={"url": existing.url_hint} if existing else None, after={"kind": kind, "url": hint})
    return webhook


def announce_in_chat(*, organization: Organization, text: str, link: str) -> None:
    """Post ``text`` to the organisation's chat webhooks after the commit (if any are set)."""
    from playbooks.tasks import post_to_chat

    webhook_ids = list(ChatWebhook.objects.for_organization(organization).filter(enabled=True).values_list("pk", flat=True))
    for webhook_id in webhook_ids:
        transaction.on_commit(lambda webhook_id=webhook_id: post_to_chat.delay(webhook_id, text[:1000], link))
