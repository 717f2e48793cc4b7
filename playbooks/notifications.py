"""In-app notifications, deduplicated by key, mailed after commit by a task."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import IntegrityError, transaction

from crisiscenter.models import Organization, User
from crisiscenter.realtime import broadcast_to_organization
from playbooks.models import Incident, Notification


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
    new ones and announce them after the commit. Returns only the newly created ones."""
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
