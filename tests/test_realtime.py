"""The organisation WebSocket: who may connect, what arrives, and only after commit."""

from __future__ import annotations

import uuid

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import transaction
from django.test import Client

from crisiscenter import services
from crisiscenter.asgi import application
from crisiscenter.models import Role
from crisiscenter.realtime import broadcast_to_organization
from crisiscenter.redis_config import CHANNEL_LAYER_SOCKET_TIMEOUT, channel_layer_config

pytestmark = pytest.mark.django_db(transaction=True)


def _session_cookie(user) -> str:
    browser = Client()
    browser.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return browser.cookies["sessionid"].value


async def _connect(user, slug: str, origin: str = "http://testserver"):
    headers = [(b"origin", origin.encode())]
    if user is not None:
        cookie = await sync_to_async(_session_cookie)(user)
        headers.append((b"cookie", f"sessionid={cookie}".encode()))
    communicator = WebsocketCommunicator(application, f"/ws/orgs/{slug}/", headers=headers)
    connected, _ = await communicator.connect(timeout=5)
    return communicator, connected


def _broadcast_and_commit(organization, name: str) -> None:
    with transaction.atomic():
        broadcast_to_organization(organization=organization, event_type="organization.updated", data={"name": name})


def _broadcast_and_roll_back(organization) -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        broadcast_to_organization(organization=organization, event_type="organization.updated", data={"name": "never"})
        raise RuntimeError("roll back")


@pytest.fixture
def redis_channel_layer(settings, redis_url):
    settings.CHANNEL_LAYERS = {"default": channel_layer_config([redis_url], prefix=f"test-{uuid.uuid4().hex[:8]}")}


@pytest.mark.parametrize("persona", ["alice", "bob", "carol", "dave"])
async def test_every_member_role_can_connect_and_gets_ready_message(personas, org_a, persona):
    communicator, connected = await _connect(personas[persona], org_a.slug)
    assert connected
    ready = await communicator.receive_json_from(timeout=3)
    assert ready["type"] == "connection.ready"
    assert ready["organization"] == "acme"
    await communicator.disconnect()


async def test_outsider_is_refused(personas, org_a):
    communicator, connected = await _connect(personas["charlie"], org_a.slug)
    assert not connected


async def test_anonymous_is_refused(personas, org_a):
    communicator, connected = await _connect(None, org_a.slug)
    assert not connected


async def test_unknown_organization_is_refused(personas):
    communicator, connected = await _connect(personas["alice"], "no-such-org")
    assert not connected


async def test_foreign_origin_is_refused(personas, org_a):
    communicator, connected = await _connect(personas["alice"], org_a.slug, origin="https://evil.example")
    assert not connected


async def test_member_receives_event_after_commit_and_outsider_group_does_not(personas, org_a, org_b):
    alice_socket, _ = await _connect(personas["alice"], org_a.slug)
    charlie_socket, _ = await _connect(personas["charlie"], org_b.slug)
    await alice_socket.receive_json_from(timeout=3)
    await charlie_socket.receive_json_from(timeout=3)

    await sync_to_async(_broadcast_and_commit)(org_a, "Acme Foods Ltd")

    event = await alice_socket.receive_json_from(timeout=3)
    assert event["type"] == "organization.updated"
    assert event["version"] == 1
    assert event["data"] == {"name": "Acme Foods Ltd"}
    assert await charlie_socket.receive_nothing(timeout=0.5)
    await alice_socket.disconnect()
    await charlie_socket.disconnect()


async def test_rolled_back_event_is_never_sent(personas, org_a):
    socket, _ = await _connect(personas["alice"], org_a.slug)
    await socket.receive_json_from(timeout=3)
    await sync_to_async(_broadcast_and_roll_back)(org_a)
    assert await socket.receive_nothing(timeout=0.5)
    await socket.disconnect()


async def test_removed_member_socket_is_closed(personas, alice_membership, bob_membership, org_a):
    bob_socket, _ = await _connect(personas["bob"], org_a.slug)
    await bob_socket.receive_json_from(timeout=3)

    await sync_to_async(services.membership_remove)(membership=bob_membership, actor_membership=alice_membership)

    event = await bob_socket.receive_json_from(timeout=3)
    assert event["type"] == "member.removed"
    assert event["data"]["user_id"] == personas["bob"].pk
    closed = await bob_socket.receive_output(timeout=3)
    assert closed == {"type": "websocket.close", "code": 4403}


async def test_client_ping_gets_pong(personas, org_a):
    socket, _ = await _connect(personas["dave"], org_a.slug)
    await socket.receive_json_from(timeout=3)
    await socket.send_json_to({"type": "ping"})
    assert (await socket.receive_json_from(timeout=3))["type"] == "pong"
    await socket.disconnect()


@pytest.mark.redis
async def test_event_after_commit_arrives_through_channels_redis(redis_channel_layer, personas, org_a):
    socket, connected = await _connect(personas["alice"], org_a.slug)
    assert connected
    await socket.receive_json_from(timeout=3)

    await sync_to_async(_broadcast_and_commit)(org_a, "Acme via Redis")

    event = await socket.receive_json_from(timeout=5)
    assert event["type"] == "organization.updated"
    assert event["data"]["name"] == "Acme via Redis"
    await socket.disconnect()


@pytest.mark.redis
async def test_event_from_rolled_back_transaction_never_reaches_channels_redis(redis_channel_layer, personas, org_a):
    socket, connected = await _connect(personas["alice"], org_a.slug)
    assert connected
    await socket.receive_json_from(timeout=3)

    await sync_to_async(_broadcast_and_roll_back)(org_a)

    assert await socket.receive_nothing(timeout=1.5)
    await socket.disconnect()


@pytest.mark.redis
async def test_role_change_reaches_other_members_through_channels_redis(
    redis_channel_layer, personas, alice_membership, carol_membership, org_a
):
    carol_socket, _ = await _connect(personas["carol"], org_a.slug)
    await carol_socket.receive_json_from(timeout=3)

    await sync_to_async(services.membership_change_role)(
        membership=carol_membership, actor_membership=alice_membership, role=Role.ADMIN
    )

    event = await carol_socket.receive_json_from(timeout=5)
    assert event["type"] == "member.role_changed"
    assert event["data"]["role"] == "admin"
    await carol_socket.disconnect()


@pytest.mark.redis
@pytest.mark.slow
async def test_an_idle_socket_outlives_the_blocking_wait_of_channels_redis(redis_channel_layer, personas, org_a):
    """channels_redis blocks 5 s per wait; a client read timeout at or below that (redis-py 8's
    default) used to crash every idle consumer. Idle for longer than one wait, then deliver."""
    socket, connected = await _connect(personas["alice"], org_a.slug)
    assert connected
    await socket.receive_json_from(timeout=3)
    assert CHANNEL_LAYER_SOCKET_TIMEOUT > 5

    assert await socket.receive_nothing(timeout=7, interval=0.5)
    await sync_to_async(_broadcast_and_commit)(org_a, "still here")

    event = await socket.receive_json_from(timeout=5)
    assert event["data"]["name"] == "still here"
    await socket.disconnect()
