"""Readiness of everything a request or a crisis depends on, for ``GET /healthz``."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.utils import timezone

from crisiscenter.models import WorkerHeartbeat

CHECK_TIMEOUT_SECONDS = 2.0


def _timed(check) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        detail = check()
        result: dict[str, Any] = {"ok": True, **(detail or {})}
    except Exception as error:  # a health check reports failures, it never raises them
        result = {"ok": False, "error": f"{type(error).__name__}: {str(error)[:200]}"}
    result["ms"] = round((time.perf_counter() - started) * 1000, 1)
    return result


def check_database() -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"vendor": connection.vendor}


def check_broker() -> dict[str, Any]:
    from kombu import Connection

    url = settings.CELERY_BROKER_URL
    if url.startswith("memory://"):
        return {"transport": "memory (in-process)"}
    with Connection(url, connect_timeout=CHECK_TIMEOUT_SECONDS) as broker:
        broker.ensure_connection(max_retries=1, timeout=CHECK_TIMEOUT_SECONDS)
        transport = broker.transport_cls
    return {"transport": str(transport)}


async def _layer_round_trip() -> None:
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer configured")
    channel = await layer.new_channel("healthz.")
    await asyncio.wait_for(layer.send(channel, {"type": "healthz.ping"}), CHECK_TIMEOUT_SECONDS)
    await asyncio.wait_for(layer.receive(channel), CHECK_TIMEOUT_SECONDS)


def check_channel_layer() -> dict[str, Any]:
    async_to_sync(_layer_round_trip)()
    return {"backend": type(get_channel_layer()).__name__}


def check_worker() -> dict[str, Any]:
    latest = WorkerHeartbeat.objects.order_by("-beat_at").first()
    if latest is None:
        raise RuntimeError("no worker heartbeat recorded yet")
    age = (timezone.now() - latest.beat_at).total_seconds()
    allowed = settings.WORKER_HEARTBEAT_SECONDS * 3 + 5
    if age > allowed:
        raise RuntimeError(f"last heartbeat from {latest.hostname} is {age:.0f} s old (limit {allowed} s)")
    return {"hostname": latest.hostname, "last_heartbeat": latest.beat_at.isoformat(), "age_seconds": round(age, 1)}


def health_report() -> tuple[bool, dict[str, Any]]:
    checks = {
        "database": _timed(check_database),
        "broker": _timed(check_broker),
        "channel_layer": _timed(check_channel_layer),
    }
    # The heartbeat lives in the database: without one, it cannot be read.
    checks["worker"] = _timed(check_worker) if checks["database"]["ok"] else {"ok": False, "error": "database unavailable"}
    healthy = all(check["ok"] for check in checks.values())
    return healthy, {
        "status": "ok" if healthy else "unavailable",
        "mode": "embedded" if settings.EMBEDDED else "production",
        "checks": checks,
    }
