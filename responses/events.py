"""Events of statements, publications and promises: JSON-safe, to the organisation's war room
and to the incident room, after the commit (crisiscenter.realtime)."""

from __future__ import annotations

from typing import Any

from crisiscenter.realtime import broadcast_on_commit, build_event, organization_group
from playbooks.incident_services import incident_group


def _send(organization, incident_id: int | None, event_type: str, data: dict[str, Any]) -> None:
    event = build_event(event_type=event_type, organization=organization, data=data)
    broadcast_on_commit(group=organization_group(organization.pk), event=event)
    if incident_id is not None:
        broadcast_on_commit(group=incident_group(incident_id), event=event)


def statement_data(statement) -> dict[str, Any]:
    version = statement.current_version
    return {
        "statement_id": statement.pk,
        "incident_id": statement.incident_id,
        "kind": statement.kind,
        "language": statement.language,
        "status": statement.status,
        "version": version.number if version else None,
        "headline": version.headline if version else "",
        "review_due_at": statement.review_due_at,
    }


def statement_changed(statement, event_type: str) -> None:
    _send(statement.incident.organization, statement.incident_id, event_type, statement_data(statement))


def publication_changed(publication) -> None:
    statement = publication.statement
    _send(statement.incident.organization, statement.incident_id, "publication.updated", {
        "publication_id": publication.pk, "statement_id": statement.pk, "incident_id": statement.incident_id,
        "channel": publication.channel_kind, "channel_name": publication.channel.name, "status": publication.status,
        "url": publication.url, "error": publication.error, "attempts": publication.attempts, "next_attempt_at": publication.next_attempt_at,
    })


def incident_clock(incident) -> None:
    _send(incident.organization, incident.pk, "incident.updated", {
        "incident_id": incident.pk, "title": incident.title, "status": incident.status, "severity": incident.severity, "change": "statement",
        "first_statement_at": incident.first_statement_at, "next_update_due_at": incident.next_update_due_at,
    })


def promise_changed(promise) -> None:
    _send(promise.incident.organization, promise.incident_id, "promise.updated", {
        "promise_id": promise.pk, "incident_id": promise.incident_id, "statement_id": promise.statement_id, "text": promise.text,
        "due_at": promise.due_at, "status": promise.status, "warned": promise.warned_at is not None,
    })


def publishing_changed(organization, data: dict[str, Any]) -> None:
    _send(organization, None, "publishing.changed", data)


def reply_changed(reply) -> None:
    _send(reply.channel.organization, reply.incident_id, "reply.updated", {
        "reply_id": reply.pk, "mention_id": reply.mention_id, "incident_id": reply.incident_id, "status": reply.status,
        "url": reply.url, "error": reply.error, "moves_to_private": reply.moves_to_private,
    })


def scheduled_changed(organization, post) -> None:
    data = {"scheduled_post_id": post.pk, "status": post.status, "reason": post.pause_reason} if post is not None else {"scheduled_post_id": None}
    _send(organization, None, "scheduled_posts.changed", data)
