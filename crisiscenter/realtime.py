"""The one real-time path: build an event, broadcast it to a group after the commit.

Events are JSON-safe dicts ``{"type": "member.added", "version": 1, "organization": "acme",
"at": "...", "data": {...}}``. They are announced only once the transaction that produced
them has committed, so nobody ever sees a change that was rolled back. Consumers only join
groups and forward these events; they never write to the database.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.cache import cache
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

logger = logging.getLogger(__name__)

PROTOCOL_VERSION = 1
FORWARD_MESSAGE_TYPE = "event.forward"


def organization_group(organization_id: int) -> str:
    return f"org-{organization_id}"


def presence_group(organization_id: int) -> str:
    """The organisation's war-room screens, told who else is in the room."""
    return f"org-{organization_id}-presence"


def user_group(user_id: int) -> str:
    """Events about one person's access (e.g. their removal), for every socket they hold."""
    return f"user-{user_id}"


def build_event(*, event_type: str, organization, data: dict[str, Any]) -> dict[str, Any]:
    event = {
        "type": event_type,
        "version": PROTOCOL_VERSION,
        "organization": organization.slug,
        "at": timezone.now().isoformat(),
        "data": data,
    }
    # Fail here, in the service, if a payload is not JSON-safe, not later in a consumer.
    return json.loads(json.dumps(event, cls=DjangoJSONEncoder))


def forward_message(group: str, event: dict[str, Any]) -> dict[str, Any]:
    """The channel-layer message that carries ``event`` to ``group``'s sockets (crisiscenter.fanout)."""
    return {"type": FORWARD_MESSAGE_TYPE, "group": group, "event": event}


def send_now(group: str, event: dict[str, Any]) -> None:
    """Send immediately. Prefer ``broadcast_on_commit``; this is for code outside transactions."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, forward_message(group, event))
    except Exception:  # a dead channel layer must never fail the write that produced the event
        logger.exception("Could not broadcast %s to %s", event.get("type"), group)


# Events a page applies as they come; any other event changes what a page would read anew.
APPLIED_AS_THEY_COME = frozenset({"mentions.ingested", "volume.updated", "presence.changed"})


def _generation_key(organization_slug: str) -> str:
    return f"realtime:generation:{organization_slug}"


def state_generation(organization_slug: str) -> int:
    """Moves on with every state-changing event of the organisation (before it is sent), so a
    read shared between screens (monitoring.war_room) is never older than an event they saw."""
    return cache.get(_generation_key(organization_slug), 0)


def _next_generation(organization_slug: str) -> None:
    try:
        cache.incr(_generation_key(organization_slug))
    except ValueError:
        cache.add(_generation_key(organization_slug), 1, timeout=None)
    except Exception:  # a dead cache must never fail the write that produced the event
        logger.exception("Could not move the state generation of %s on", organization_slug)


def broadcast_on_commit(*, group: str, event: dict[str, Any], using: str | None = None) -> None:
    """Broadcast ``event`` to ``group`` once the current transaction commits (at once outside one)."""
    changes_state = event.get("type") not in APPLIED_AS_THEY_COME and event.get("organization")

    def after_commit() -> None:
        if changes_state:
            _next_generation(event["organization"])  # before the event, never after it
        send_now(group, event)

    transaction.on_commit(after_commit, using=using)


def broadcast_to_organization(*, organization, event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    event = build_event(event_type=event_type, organization=organization, data=data)
    broadcast_on_commit(group=organization_group(organization.pk), event=event)
    return event
