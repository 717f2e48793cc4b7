"""GET /healthz: 200 only when database, broker, channel layer and a worker are all fine."""

from __future__ import annotations

import shutil
import subprocess
from datetime import timedelta

import pytest
from django.utils import timezone

from crisiscenter.models import WorkerHeartbeat
from crisiscenter.redis_config import channel_layer_config
from tests import processes


@pytest.fixture
def fresh_heartbeat(db):
    return WorkerHeartbeat.objects.create(hostname="worker@test", beat_at=timezone.now())


def test_it_reports_ok_in_embedded_wiring_with_a_fresh_heartbeat(client, fresh_heartbeat):
    response = client.get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "broker", "channel_layer", "worker"}
    assert all(check["ok"] for check in body["checks"].values())
    assert response["Cache-Control"].startswith("max-age=0")


def test_it_is_503_without_any_worker_heartbeat(client, db):
    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["checks"]["worker"]["ok"] is False


def test_it_is_503_when_the_last_heartbeat_is_stale(client, db, settings):
    WorkerHeartbeat.objects.create(
        hostname="worker@old", beat_at=timezone.now() - timedelta(seconds=settings.WORKER_HEARTBEAT_SECONDS * 10)
    )

    response = client.get("/healthz")

    assert response.status_code == 503
    assert "old" in response.json()["checks"]["worker"]["error"]


def test_it_needs_no_login(client, fresh_heartbeat):
    assert client.get("/healthz").status_code == 200


@pytest.fixture
def disposable_redis(tmp_path):
    """A Redis server of our own, so the test can stop it without disturbing anything else."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("needs the redis-server binary")
    port = processes.free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    processes.wait_for(lambda: _ping(url), timeout=10, what="the disposable Redis")
    yield process, url
    if process.poll() is None:
        process.kill()
        process.wait()


def _ping(url: str) -> bool:
    import redis

    return redis.Redis.from_url(url, socket_timeout=1).ping()


@pytest.mark.redis
def test_a_stopped_redis_turns_healthz_503(client, fresh_heartbeat, settings, disposable_redis):
    process, url = disposable_redis
    settings.CELERY_BROKER_URL = url
    settings.CHANNEL_LAYERS = {"default": channel_layer_config([url])}
    assert client.get("/healthz").status_code == 200

    process.terminate()
    process.wait(timeout=10)
    response = client.get("/healthz")

    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["broker"]["ok"] is False
    assert checks["channel_layer"]["ok"] is False
    assert checks["database"]["ok"] is True
