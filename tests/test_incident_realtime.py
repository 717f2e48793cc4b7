"""The incident room's WebSocket: members only, this incident's events only, closed on removal."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from crisiscenter import services as tenancy_services
from crisiscenter.asgi import application
from playbooks import incident_services
from playbooks.models import IncidentStatus

pytestmark = pytest.mark.django_db(transaction=True)


def _cookie(user) -> str:
    browser = Client()
    browser.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return browser.cookies["sessionid"].value


async def _connect(user, path: str):
    headers = [(b"origin", b"http://testserver")]
    if user is not None:
        headers.append((b"cookie", f"sessionid={await sync_to_async(_cookie)(user)}".encode()))
    socket = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await socket.connect(timeout=5)
    return socket, connected


@pytest.fixture
def two_incidents(org_a, bob_membership, carol_membership, dave_membership):
    def make(title):
        return incident_services.incident_open(organization=org_a, actor_membership=bob_membership, title=title)

    return make("First"), make("Second")


async def test_a_member_sees_only_this_incidents_events(personas, two_incidents, carol_membership):
    first, second = two_incidents
    socket, connected = await _connect(personas["dave"], f"/ws/orgs/acme/incidents/{first.pk}/")
    assert connected
    assert (await socket.receive_json_from(timeout=3))["data"]["incident_id"] == first.pk

    await sync_to_async(incident_services.incident_change_status)(incident=second, actor_membership=carol_membership, status=IncidentStatus.ACTIVE)
    assert await socket.receive_nothing(timeout=0.5)
    await sync_to_async(incident_services.incident_change_status)(incident=first, actor_membership=carol_membership, status=IncidentStatus.ACTIVE)

    event = await socket.receive_json_from(timeout=3)
    assert event["type"] == "incident.updated"
    assert event["data"] == {**event["data"], "incident_id": first.pk, "change": "status", "to": "active"}
    await socket.disconnect()


@pytest.mark.parametrize("who", ["charlie", "anonymous"])
async def test_outsiders_and_anonymous_visitors_are_refused(personas, two_incidents, who):
    first, _ = two_incidents
    _socket, connected = await _connect(personas[who], f"/ws/orgs/acme/incidents/{first.pk}/")
    assert not connected


async def test_an_incident_of_another_organisation_is_refused_even_to_its_slug_holder(personas, two_incidents, charlie_membership):
    first, _ = two_incidents
    # charlie owns bravo; asking for acme's incident under bravo's slug must not work.
    _socket, connected = await _connect(personas["charlie"], f"/ws/orgs/bravo/incidents/{first.pk}/")
    assert not connected


async def test_a_removed_member_is_disconnected_from_the_room(personas, two_incidents, alice_membership, dave_membership):
    first, _ = two_incidents
    socket, _ = await _connect(personas["dave"], f"/ws/orgs/acme/incidents/{first.pk}/")
    await socket.receive_json_from(timeout=3)

    await sync_to_async(tenancy_services.membership_remove)(membership=dave_membership, actor_membership=alice_membership)

    assert await socket.receive_output(timeout=3) == {"type": "websocket.close", "code": 4403}
