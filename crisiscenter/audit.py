"""The audit trail's single writer, and the request context it reads "from where" out of.

Services call ``audit_record``; nothing else creates ``AuditEntry`` rows. The middleware (for
HTTP), the Celery task base and management commands set the context, so services don't have
to thread the request through every call.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.db import models

from crisiscenter.models import AuditEntry


@dataclass(frozen=True)
class AuditContext:
    source: str = "system"
    ip_address: str | None = None
    user_agent: str = ""


_context: contextvars.ContextVar[AuditContext] = contextvars.ContextVar("audit_context", default=AuditContext())


def current_context() -> AuditContext:
    return _context.get()


@contextmanager
def audit_context(**values: Any) -> Iterator[AuditContext]:
    token = _context.set(AuditContext(**values))
    try:
        yield _context.get()
    finally:
        _context.reset(token)


def _actor_label(actor) -> str:
    if actor is None:
        return "system"
    name = str(actor)
    return name if name == actor.username else f"{name} ({actor.username})"


def audit_record(
    *,
    action: str,
    actor=None,
    organization=None,
    target: models.Model | None = None,
    before: dict | None = None,
    after: dict | None = None,
) -> AuditEntry:
    """Append one audit entry; call inside the service's transaction so both commit together."""
    context = current_context()
    return AuditEntry.unscoped.create(
        organization=organization,
        actor=actor,
        actor_label=_actor_label(actor),
        action=action,
        object_type=target._meta.label_lower if target is not None else "",
        object_id=str(target.pk) if target is not None else "",
        object_repr=str(target)[:200] if target is not None else "",
        before=before,
        after=after,
        ip_address=context.ip_address,
        user_agent=context.user_agent[:300],
        source=context.source,
    )
