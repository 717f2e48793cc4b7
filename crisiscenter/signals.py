"""Celery signal wiring: audit context per task, database connections kept the way Django
keeps them across requests, and a heartbeat as soon as a worker is up."""

from __future__ import annotations

from celery.signals import task_postrun, task_prerun, worker_ready
from django.db import connections

from crisiscenter.audit import AuditContext, _context

_tokens: dict[str, object] = {}


@task_prerun.connect
def _enter_task_context(task_id=None, task=None, **kwargs):
    _tokens[task_id] = _context.set(AuditContext(source=f"task:{task.name}"[:80]))


@task_postrun.connect
def _leave_task_context(task_id=None, **kwargs):
    token = _tokens.pop(task_id, None)
    if token is not None:
        _context.reset(token)


@task_prerun.connect
@task_postrun.connect
def _recycle_database_connections(task=None, **kwargs):
    """What Django does around every request: drop a connection after an error or once it is
    older than CONN_MAX_AGE, keep it otherwise (crisiscenter/celery.py stops Celery from
    closing it around every task). Not for eager tasks: they run inside the caller's
    transaction."""
    if task is None or getattr(task.request, "is_eager", False):
        return
    for connection in connections.all(initialized_only=True):
        connection.close_if_unusable_or_obsolete()


@worker_ready.connect
def _announce_worker(sender=None, **kwargs):
    # Through the broker on purpose: /healthz then proves broker and worker together.
    from crisiscenter.tasks import record_worker_heartbeat

    record_worker_heartbeat.delay()
