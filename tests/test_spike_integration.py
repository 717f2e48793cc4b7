"""A spike end to end through real Redis (broker and channel layer), a real Celery worker
process and PostgreSQL: a watch with a quiet history, then a surge batch queued as an
``ingest_mentions`` task — the worker stores it, detects the spike on its own schedule
(``schedule_spike_detection`` after the commit), and a member's WebSocket receives
``spike.opened`` for that watch, while the sockets of an outsider organisation watching the
same words hear nothing of it.

bob is a responder in A (acme), erin an admin in A, charlie owns B (bravo)."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from celery import Celery
from channels.testing import WebsocketCommunicator
from django.db import connections
from django.test import Client
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from crisiscenter.asgi import application
from crisiscenter.redis_config import channel_layer_config
from monitoring import services
from monitoring.models import Mention, SourceKind, Spike, WatchDetector
from tests import processes

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

QUIET_MINUTES = 120
CALM = ["Ordering the Acme granola again, love it", "Acme granola for breakfast", "Is the Acme shop open on Sunday?", "Acme bars are fine"]
SURGE = [
    "Acme granola recall: my kid got sick #acmerecall",
    "Salmonella in Acme granola?? #acmerecall",
    "Acme recall, what do I do with the bars I bought #acmerecall",
    "Heard Acme granola has salmonella, is this true #acmerecall",
]
SURGE_SIZE = 80
# Generous: the worker shares the machine; nothing here is a timing assertion.
WAIT_SECONDS = 60


@pytest.fixture
def worker(redis_url, tmp_path):
    process = processes.start_worker(redis_url, tmp_path, "spikes", timeout=WAIT_SECONDS)
    yield process
    processes.stop(process)


@pytest.fixture
def redis_channel_layer(settings, redis_url):
    """The worker's channel layer (same Redis, same prefix), so its events reach the sockets here."""
    settings.CHANNEL_LAYERS = {"default": channel_layer_config([redis_url])}


@pytest.fixture
def sender(redis_url) -> Celery:
    return Celery("integration-sender", broker=redis_url)


@pytest.fixture(autouse=True)
async def _no_stray_database_session():
    """The consumers' database_sync_to_async (and this test's sync_to_async) keep a connection
    open in asgiref's thread; close it, so later tests counting sessions see only theirs."""
    yield
    await sync_to_async(connections.close_all)()


def _session_cookie(user) -> str:
    browser = Client()
    browser.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return browser.cookies["sessionid"].value


async def _war_room(user, slug: str) -> WebsocketCommunicator:
    cookie = await sync_to_async(_session_cookie)(user)
    socket = WebsocketCommunicator(application, f"/ws/orgs/{slug}/", headers=[(b"origin", b"http://testserver"), (b"cookie", f"sessionid={cookie}".encode())])
    connected, _ = await socket.connect(timeout=10)
    assert connected
    assert (await socket.receive_json_from(timeout=10))["type"] == "connection.ready"
    return socket


async def _first(socket: WebsocketCommunicator, event_type: str) -> tuple[dict, list[str]]:
    """The first event of ``event_type`` on ``socket``, and the types of those before it."""
    deadline, before = time.monotonic() + WAIT_SECONDS, []
    while True:
        event = await socket.receive_json_from(timeout=max(0.1, deadline - time.monotonic()))
        if event["type"] == event_type:
            return event, before
        before.append(event["type"])


async def _heard(socket: WebsocketCommunicator, *, quiet_for: float = 1.0) -> list[str]:
    """The types of every event ``socket`` has received, once it has been silent a while."""
    heard = []
    while not await socket.receive_nothing(timeout=quiet_for):
        heard.append((await socket.receive_json_from())["type"])
    return heard


def _drafts(texts: list[str], moments: list, prefix: str) -> list[dict]:
    return [
        {"external_id": f"{prefix}-{number}", "text": texts[number % len(texts)], "posted_at": moment.isoformat(),
         "author_handle": f"person{number % 97}", "language": "en"}
        for number, moment in enumerate(moments)
    ]


def _minute(moment) -> int:
    return int(moment.timestamp() // 60)


def _wait_for_quiet_history_to_be_judged(worker, *, watch, last_minute: int) -> None:
    def judged() -> bool:
        detector = WatchDetector.unscoped.filter(watch=watch).first()
        return detector is not None and detector.state.get("latest") == last_minute

    processes.wait_for(judged, timeout=WAIT_SECONDS, what="the worker to evaluate the quiet history", process=worker)


async def test_a_surge_queued_to_the_worker_reaches_the_members_screen_as_spike_opened_and_no_outsider_hears_of_it(
    redis_channel_layer, worker, sender, org_a, erin_membership, bob, org_b, charlie_membership, charlie
):
    source = await sync_to_async(lambda: services.source_create(organization=org_a, actor_membership=erin_membership, name="Listening tool", kind=SourceKind.WEBHOOK)[0])()
    watch = await sync_to_async(services.watch_save)(organization=org_a, actor_membership=erin_membership, name="Acme", query="acme")
    await sync_to_async(services.watch_save)(organization=org_b, actor_membership=charlie_membership, name="Acme too", query="acme")
    bobs_screen = await _war_room(bob, org_a.slug)
    charlies_screen = await _war_room(charlie, org_b.slug)

    # Two quiet hours up to the previous minute, about one and a half mentions a minute.
    this_minute = timezone.now().replace(second=0, microsecond=0)
    quiet = [this_minute - timedelta(minutes=offset, seconds=-7 * extra) for offset in range(QUIET_MINUTES, 0, -1) for extra in range(1 + offset % 2)]
    await asyncio.to_thread(sender.send_task, "monitoring.tasks.ingest_mentions", args=[source.pk, _drafts(CALM, quiet, "calm")])
    await sync_to_async(_wait_for_quiet_history_to_be_judged)(worker, watch=watch, last_minute=_minute(this_minute) - 1)
    assert not await sync_to_async(Spike.objects.for_organization(org_a).exists)()

    now = timezone.now()
    surge_minute = now.replace(second=0, microsecond=0)
    surge = [surge_minute + timedelta(seconds=now.second * number / SURGE_SIZE) for number in range(SURGE_SIZE)]
    await asyncio.to_thread(sender.send_task, "monitoring.tasks.ingest_mentions", args=[source.pk, _drafts(SURGE, surge, "surge")])

    event, before = await _first(bobs_screen, "spike.opened")

    assert event["organization"] == "acme"
    assert event["data"]["watch_id"] == watch.pk and event["data"]["watch"] == "Acme"
    assert event["data"]["window_count"] >= SURGE_SIZE and event["data"]["magnitude"] >= 2
    assert parse_datetime(event["data"]["started_at"]) >= surge_minute  # the surge, not the quiet history
    assert "#acmerecall" in [term["term"] for term in event["data"]["explanation"]["terms"]]
    assert "mentions.ingested" in before  # the worker stored the batch before it judged it
    stored = await sync_to_async(Mention.objects.for_organization(org_a).count)()
    assert stored == len(quiet) + SURGE_SIZE
    spike = await sync_to_async(Spike.objects.for_organization(org_a).get)()
    assert spike.pk == event["data"]["id"] and spike.watch_id == watch.pk

    # The outsider's detectors run too (as beat or their own batches would have them), on their own counters.
    evaluated = await asyncio.to_thread(sender.send_task, "monitoring.tasks.detect_spikes", args=[org_b.pk])
    await sync_to_async(processes.wait_for)(
        lambda: f"[{evaluated.id}] succeeded" in processes.read_log(worker), timeout=WAIT_SECONDS, what="the outsider's evaluation", process=worker
    )
    assert [kind for kind in await _heard(charlies_screen) if kind != "presence.changed"] == []  # who is in their own room is all
    assert not await sync_to_async(Spike.objects.for_organization(org_b).exists)()
    await bobs_screen.disconnect()
    await charlies_screen.disconnect()
