"""A task sent through real Redis is executed by a real Celery worker process."""

from __future__ import annotations

import pytest
from celery import Celery

from crisiscenter.models import WorkerHeartbeat
from tests import processes

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker(redis_url, tmp_path):
    process = processes.start_worker(redis_url, tmp_path, "integration", timeout=60)
    yield process
    processes.stop(process)


def test_task_sent_through_redis_runs_in_a_real_worker(worker, redis_url):
    # The worker announces itself on start-up (worker_ready); let that settle, then clear it
    # so only the task sent here can write the row.
    processes.wait_for(lambda: WorkerHeartbeat.objects.exists(), timeout=30, what="the start-up heartbeat", process=worker)
    WorkerHeartbeat.objects.all().delete()
    sender = Celery("integration-sender", broker=redis_url)

    sent = sender.send_task("crisiscenter.tasks.record_worker_heartbeat")

    processes.wait_for(lambda: WorkerHeartbeat.objects.exists(), timeout=30, what="the heartbeat row", process=worker)
    assert WorkerHeartbeat.objects.get().hostname.startswith("integration@")
    processes.wait_for(
        lambda: f"[{sent.id}] succeeded" in processes.read_log(worker), timeout=10, what="the task's success line", process=worker
    )


def _worker_sessions() -> set[int]:
    """Backend ids of the other sessions on the test database: the worker's."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        )
        return {pid for (pid,) in cursor.fetchall()}


def test_a_worker_keeps_its_database_session_from_one_task_to_the_next(worker, redis_url):
    # Celery's Django fix-up would close the connection around every task: a new PostgreSQL
    # session each time (crisiscenter/celery.py, crisiscenter/signals.py).
    processes.wait_for(lambda: WorkerHeartbeat.objects.exists(), timeout=30, what="the start-up heartbeat", process=worker)
    sender = Celery("integration-sender", broker=redis_url)
    sessions = []
    for _ in range(3):
        sent = sender.send_task("crisiscenter.tasks.record_worker_heartbeat")
        processes.wait_for(
            lambda: f"[{sent.id}] succeeded" in processes.read_log(worker), timeout=30, what="the task's success line", process=worker
        )
        sessions.append(_worker_sessions())

    assert len(sessions[0]) == 1, sessions
    assert sessions[0] == sessions[1] == sessions[2]
