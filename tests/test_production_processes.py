"""The Procfile's processes start against PostgreSQL and Redis and work together:
gunicorn serves pages and /healthz, uvicorn serves WebSockets, the worker runs tasks that
beat schedules, and an event from the web process reaches a socket on the other process."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess

import pytest
import websockets
from django.contrib.auth.hashers import PBKDF2PasswordHasher

from crisiscenter.models import Role
from tests import processes
from tests.factories import PASSWORD, MembershipFactory, OrganizationFactory, UserFactory

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow, pytest.mark.django_db(transaction=True)]






@pytest.fixture
def production(redis_url, tmp_path):
    web_port, websocket_port = processes.free_port(), processes.free_port()
    env = processes.clean_env(
        DATABASE_URL=processes.database_url_for_current_test_db(),
        REDIS_URL=redis_url,
        SECRET_KEY="procfile-test-secret-key-0123456789abcdefghij",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        CRISISCENTER_DATA_DIR=str(tmp_path),
        BIND_HOST="127.0.0.1",
        WEB_PORT=str(web_port),
        WEBSOCKET_PORT=str(websocket_port),
        WEB_CONCURRENCY="2",
        CELERY_CONCURRENCY="1",
        WORKER_HEARTBEAT_SECONDS="2",
        PATH=f"{os.path.dirname(processes.python())}:{os.environ['PATH']}",
    )
    subprocess.run([processes.python(), "manage.py", "collectstatic", "--noinput", "-v", "0"], cwd=processes.ROOT, env=env, check=True)
    started = {
        name: processes.start(["bash", "-c", f"exec {command}"], env=env, log_path=tmp_path / f"{name}.log")
        for name, command in processes.procfile().items()
    }
    web_url = f"http://127.0.0.1:{web_port}"
    try:
        processes.wait_for(lambda: processes.health(web_url)[0] == 200, timeout=60, what="healthz 200 from the web process", process=started["web"])
        yield {"web": web_url, "websocket": f"ws://127.0.0.1:{websocket_port}", "processes": started}
    finally:
        for process in started.values():
            processes.stop(process)


def test_the_procfile_declares_the_four_production_processes():
    assert set(processes.procfile()) == {"web", "websocket", "worker", "beat"}


def test_healthz_reports_postgres_redis_and_a_live_worker(production):
    status, report = processes.health(production["web"])

    assert status == 200
    assert report["mode"] == "production"
    assert report["checks"]["database"]["vendor"] == "postgresql"
    assert "redis" in report["checks"]["broker"]["transport"].lower()
    assert report["checks"]["channel_layer"]["backend"] == "RedisChannelLayer"
    first_beat = report["checks"]["worker"]["last_heartbeat"]
    processes.wait_for(
        lambda: processes.health(production["web"])[1]["checks"]["worker"]["last_heartbeat"] != first_beat,
        timeout=30,
        what="beat to schedule another heartbeat",
    )


def test_event_from_the_web_process_reaches_a_socket_on_the_websocket_process(production):
    organization = OrganizationFactory(slug="acme", name="Acme Foods")
    alice = UserFactory(username="alice")
    # The servers use production hashers; the test process hashes with MD5 for speed.
    alice.password = PBKDF2PasswordHasher().encode(PASSWORD, PBKDF2PasswordHasher().salt())
    alice.save(update_fields=["password"])
    MembershipFactory(organization=organization, user=alice, role=Role.OWNER)
    browser = processes.FormBrowser(production["web"])
    browser.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    headers = {"Cookie": f"sessionid={browser.cookie('sessionid')}", "Origin": production["web"]}

    async def scenario():
        async with websockets.connect(f"{production['websocket']}/ws/orgs/acme/", additional_headers=headers) as socket:
            assert json.loads(await asyncio.wait_for(socket.recv(), 10))["type"] == "connection.ready"
            await asyncio.to_thread(browser.post, "/o/acme/settings/", {"name": "Acme across processes"})
            event = json.loads(await asyncio.wait_for(socket.recv(), 10))
            assert event["type"] == "organization.updated"
            assert event["data"]["name"] == "Acme across processes"

    asyncio.run(scenario())
