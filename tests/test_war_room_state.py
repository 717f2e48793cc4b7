"""The war room's state and live feed: the snapshot a dashboard opens with (and re-reads after
a reconnect), the volume and ticker events that keep it current, and who is in the room."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from crisiscenter import presence
from monitoring import pipeline, spike_alerts, war_room
from monitoring.models import Spike
from playbooks import incident_services
from tests.test_realtime import _connect
from tests.test_spikes import hours_ago, monitored, replay  # noqa: F401  (monitored is a fixture)


@pytest.mark.django_db
def test_the_snapshot_shows_the_room_as_it_is(monitored, org_a, bob_membership, dave_membership, settings, django_capture_on_commit_callbacks):
    settings.MONITORING_HIGH_REACH = 50_000
    source, watch = monitored
    replay(source, minutes=170, rate_at=lambda minute: 3 if minute < 140 else 20, start=(timezone.now() - timedelta(minutes=172)).replace(second=0, microsecond=0))
    spike = Spike.objects.for_organization(org_a).get()
    running = incident_services.incident_open(organization=org_a, actor_membership=bob_membership, title="Granola complaints", severity=2)

    state = war_room.snapshot(membership=dave_membership)

    assert state["role"] == "viewer" and state["can_act"] is False
    [chart] = state["watches"]
    assert chart["id"] == watch.pk and chart["baseline_per_minute"] > 0 and chart["alert_per_minute"] > chart["baseline_per_minute"]
    assert sum(bucket["mentions"] for bucket in chart["buckets"]) == sum(bucket["mentions"] for bucket in state["total"]["buckets"]) > 0
    assert [item["id"] for item in state["spikes"]] == [item["id"] for item in state["alerts"]] == [spike.pk]
    assert state["sentiment"]["mentions"] == sum(bucket["mentions"] for bucket in state["total"]["buckets"] if bucket["minute"] >= timezone.now() - timedelta(minutes=60))
    assert state["inbox"]["new"] == sum(bucket["mentions"] for bucket in state["total"]["buckets"]) and set(state["inbox"]) >= {"new", "escalated"}
    assert state["ticker"] and all(item["reach"] >= 50_000 for item in state["ticker"])  # the surge's loudest authors
    assert [item["id"] for item in state["incidents"]] == [running.pk]
    assert state["incidents"][0]["url"] == f"/o/acme/incidents/{running.pk}/"
    assert state["statements_awaiting_approval"] == []

    with django_capture_on_commit_callbacks(execute=True):
        spike_alerts.spike_dismiss(spike=spike, actor_membership=bob_membership)
    assert war_room.snapshot(membership=bob_membership)["alerts"] == []  # the shared read is not older than the decision


@pytest.mark.django_db
def test_the_snapshot_is_the_organisations_own(monitored, org_b, charlie_membership, client, charlie):
    source, _watch = monitored
    replay(source, minutes=170, rate_at=lambda minute: 3 if minute < 140 else 20, start=(timezone.now() - timedelta(minutes=172)).replace(second=0, microsecond=0))

    state = war_room.snapshot(membership=charlie_membership)

    assert state["watches"] == [] and state["spikes"] == [] and state["total"]["buckets"] == [] and state["ticker"] == []
    assert sum(state["inbox"].values()) == 0
    client.force_login(charlie)
    assert client.get("/api/v1/organizations/acme/war-room/").status_code == 404
    assert client.get("/api/v1/organizations/bravo/war-room/?minutes=5").status_code == 400


@pytest.mark.django_db
def test_detection_announces_the_minutes_it_read_with_the_usual_range(monitored, sent_events, django_capture_on_commit_callbacks):
    source, watch = monitored
    with django_capture_on_commit_callbacks(execute=True):
        replay(source, minutes=90, rate_at=lambda minute: 3, start=hours_ago(2))

    volume = [event for _group, event in sent_events if event["type"] == "volume.updated"]
    assert volume and all(group == f"org-{source.organization_id}" for group, event in sent_events if event["type"] == "volume.updated")
    last = volume[-1]["data"]
    [series] = last["watches"]
    assert series["watch_id"] == watch.pk and series["baseline_per_minute"] == pytest.approx(3, rel=0.3)
    assert [bucket["mentions"] for bucket in series["buckets"]] == [3] * len(series["buckets"])
    assert last["total"]["buckets"][-1]["minute"] == series["buckets"][-1]["minute"]


@pytest.mark.django_db
def test_a_loud_new_mention_reaches_the_ticker_with_its_batch(monitored, sent_events, django_capture_on_commit_callbacks, settings):
    settings.MONITORING_HIGH_REACH = 10_000
    source, _watch = monitored
    with django_capture_on_commit_callbacks(execute=True):
        pipeline.ingest(source=source, drafts=[
            {"external_id": "quiet", "text": "Acme is fine", "posted_at": timezone.now().isoformat(), "author_followers": 10},
            {"external_id": "loud", "text": "<script>alert(1)</script> Acme recall", "posted_at": timezone.now().isoformat(), "author_followers": 2_000_000, "author_handle": "newsdesk"},
        ])

    [event] = [event for _group, event in sent_events if event["type"] == "mentions.ingested"]
    [loud] = event["data"]["high_reach"]
    assert loud["author_handle"] == "newsdesk" and loud["reach"] >= 2_000_000
    assert loud["text"] == "<script>alert(1)</script> Acme recall"  # data, rendered as text by the page


def _receive_type(communicator, wanted: str, timeout: float = 5):
    async def receive():
        while True:
            event = await communicator.receive_json_from(timeout=timeout)
            if event["type"] == wanted:
                return event

    return receive()


@pytest.mark.django_db(transaction=True)
async def test_who_is_in_the_war_room(personas, org_a, org_b):
    alice_socket, _ = await _connect(personas["alice"], org_a.slug)
    dave_socket, _ = await _connect(personas["dave"], org_a.slug)
    inbox_socket, _ = await _connect(personas["bob"], org_a.slug)  # another page: not in the room
    charlie_socket, _ = await _connect(personas["charlie"], org_b.slug)
    for socket in (alice_socket, dave_socket, inbox_socket, charlie_socket):
        await socket.receive_json_from(timeout=3)

    await alice_socket.send_json_to({"type": "presence.join"})
    first = await _receive_type(alice_socket, "presence.changed")
    assert [member["name"] for member in first["data"]["members"]] == ["Alice"]
    await dave_socket.send_json_to({"type": "presence.join"})
    await dave_socket.send_json_to({"type": "presence.join"})  # twice is once
    joined = await _receive_type(alice_socket, "presence.changed")
    while [member["name"] for member in joined["data"]["members"]] != ["Alice", "Dave"]:
        joined = await _receive_type(alice_socket, "presence.changed")
    assert await inbox_socket.receive_nothing(timeout=0.2)
    assert await charlie_socket.receive_nothing(timeout=0.2)  # another organisation hears nothing of it

    await dave_socket.disconnect()
    left = await _receive_type(alice_socket, "presence.changed")
    assert [member["name"] for member in left["data"]["members"]] == ["Alice"]
    assert await sync_to_async(presence.members)(org_a.pk) == [{"user_id": personas["alice"].pk, "name": "Alice"}]
    assert await sync_to_async(presence.members)(org_b.pk) == []
    for socket in (alice_socket, inbox_socket, charlie_socket):
        await socket.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_viewer_gets_every_event_and_can_change_nothing_through_the_socket(personas, org_a):
    viewer, _ = await _connect(personas["dave"], org_a.slug)
    ready = await viewer.receive_json_from(timeout=3)
    assert ready["data"]["role"] == "viewer"

    await viewer.send_json_to({"type": "spike.dismiss", "id": 1})
    await viewer.send_json_to({"type": "incident.open", "title": "x"})
    assert await viewer.receive_nothing(timeout=0.3)  # client messages other than ping and presence.join are ignored
    await viewer.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_reconnecting_screen_finds_what_it_missed_in_the_snapshot(personas, org_a, erin_membership, dave_membership):
    """The protocol's resync: nothing is replayed to a socket that was away; its
    ``connection.ready`` tells the page to re-read the snapshot, which has it all."""
    from monitoring import services

    def spike_while_away():
        source, _ = services.source_create(organization=org_a, actor_membership=erin_membership, name="Feed", kind="webhook")
        services.watch_save(organization=org_a, actor_membership=erin_membership, name="Acme", query="acme")
        replay(source, minutes=170, rate_at=lambda minute: 3 if minute < 140 else 20, start=(timezone.now() - timedelta(minutes=172)).replace(second=0, microsecond=0))

    socket, _ = await _connect(personas["dave"], org_a.slug)
    await socket.receive_json_from(timeout=3)
    await socket.disconnect()

    await sync_to_async(spike_while_away)()

    again, _ = await _connect(personas["dave"], org_a.slug)
    assert (await again.receive_json_from(timeout=3))["type"] == "connection.ready"
    assert await again.receive_nothing(timeout=0.3)  # no replay of what happened meanwhile
    state = await sync_to_async(lambda: war_room.snapshot(membership=dave_membership))()
    assert [alert["watch"] for alert in state["alerts"]] == ["Acme"]
    await again.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.redis
def test_presence_is_shared_through_redis(settings, redis_url, org_a):
    """With Redis, every WebSocket process sees the same room (and a dead one's entries age out)."""
    settings.REDIS_URL = redis_url
    presence.leave(org_a.pk, "channel-1")
    presence.join(org_a.pk, "channel-1", user_id=1, name="Ann")
    presence.join(org_a.pk, "channel-2", user_id=1, name="Ann")
    presence.join(org_a.pk, "channel-3", user_id=2, name="Ben")
    assert presence.members(org_a.pk) == [{"user_id": 1, "name": "Ann"}, {"user_id": 2, "name": "Ben"}]
    presence.leave(org_a.pk, "channel-3")
    assert presence.members(org_a.pk) == [{"user_id": 1, "name": "Ann"}]
    presence._redis().hset(presence._key(org_a.pk), "channel-dead", json.dumps([3, "Cleo", time.time() - presence.STALE_SECONDS - 1]))
    assert [member["name"] for member in presence.members(org_a.pk)] == ["Ann"]
    assert not presence._redis().hexists(presence._key(org_a.pk), "channel-dead")
    for channel in ("channel-1", "channel-2"):
        presence.leave(org_a.pk, channel)
    assert presence.members(org_a.pk) == []
