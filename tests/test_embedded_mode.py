"""The embedded mode boots on SQLite with no external service and serves pages, health and
WebSockets from one process, with the Celery worker and beat inside it."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

import pytest
import websockets

from tests import processes

pytestmark = pytest.mark.slow




def test_it_serves_the_login_page_and_static_files(embedded_server):
    page = urllib.request.urlopen(f"{embedded_server.base_url}/accounts/login/", timeout=5)
    assert page.status == 200
    assert "Log in" in page.read().decode()
    css = urllib.request.urlopen(f"{embedded_server.base_url}/static/css/app.css", timeout=5)
    assert css.status == 200


def test_healthz_is_ok_with_the_in_process_worker_and_beat(embedded_server):
    processes.wait_for(lambda: processes.health(embedded_server.base_url)[0] == 200, timeout=30, what="healthz 200")
    status, report = processes.health(embedded_server.base_url)
    assert report["mode"] == "embedded"
    assert report["checks"]["database"]["vendor"] == "sqlite"
    first_beat = report["checks"]["worker"]["last_heartbeat"]
    # Beat keeps scheduling the heartbeat (every 2 s here), so it moves on.
    processes.wait_for(
        lambda: processes.health(embedded_server.base_url)[1]["checks"]["worker"]["last_heartbeat"] != first_beat,
        timeout=20,
        what="a newer heartbeat from beat",
    )


def test_demo_user_logs_in_and_gets_live_events_over_a_websocket(embedded_server):
    browser = processes.FormBrowser(embedded_server.base_url)
    landing = browser.post("/accounts/login/", {"username": "admin", "password": "crisis-demo-2026"})
    assert landing.url.endswith("/o/demo/")
    ws_url = embedded_server.base_url.replace("http://", "ws://") + "/ws/orgs/demo/"
    headers = {"Cookie": f"sessionid={browser.cookie('sessionid')}", "Origin": embedded_server.base_url}

    async def scenario():
        async with websockets.connect(ws_url, additional_headers=headers) as socket:
            ready = json.loads(await asyncio.wait_for(socket.recv(), 5))
            assert ready["type"] == "connection.ready"
            await asyncio.to_thread(browser.post, "/o/demo/settings/", {"name": "Demo Brand (renamed)"})
            event = json.loads(await asyncio.wait_for(socket.recv(), 5))
            assert event["type"] == "organization.updated"
            assert event["data"]["name"] == "Demo Brand (renamed)"

    asyncio.run(scenario())


def test_websocket_refuses_an_anonymous_visitor(embedded_server):
    ws_url = embedded_server.base_url.replace("http://", "ws://") + "/ws/orgs/demo/"

    async def scenario():
        with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
            async with websockets.connect(ws_url, additional_headers={"Origin": embedded_server.base_url}):
                pass
        assert refused.value.response.status_code == 403

    asyncio.run(scenario())


def test_embedded_beat_runs_the_production_database_schedule(embedded_server):
    import sqlite3

    processes.wait_for(lambda: processes.health(embedded_server.base_url)[0] == 200, timeout=30, what="healthz 200")
    database = sqlite3.connect(embedded_server.data_dir / "crisiscenter.sqlite3")
    names = {row[0] for row in database.execute("SELECT name FROM django_celery_beat_periodictask")}
    database.close()
    assert "worker-heartbeat" in names
    assert not list(processes.ROOT.glob("celerybeat-schedule*")), "beat fell back to the file scheduler"
