"""Publishing end to end through real Redis (broker and channel layer), a real Celery worker
process and PostgreSQL: an approved holding statement's publications are queued as the
``responses.tasks.publish`` task, the worker puts it on the hub, stops the incident's
first-statement clock, and a member's WebSocket hears ``publication.updated`` and the clock,
while an outsider organisation's screen hears nothing.

bob is a responder in A (acme) who drafts, carol a manager in A who approves, charlie owns B."""

from __future__ import annotations

import asyncio
import time

import pytest
from asgiref.sync import sync_to_async
from celery import Celery
from django.db import connections

from crisiscenter.redis_config import channel_layer_config
from playbooks import incident_services
from playbooks.models import Incident
from responses import services
from responses.models import HubPage, Publication, PublicationStatus
from tests import processes
from tests.test_spike_integration import _heard, _war_room

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

WAIT_SECONDS = 60  # generous: the worker shares the machine; nothing here is a timing assertion


@pytest.fixture
def worker(redis_url, tmp_path):
    process = processes.start_worker(redis_url, tmp_path, "publishing", timeout=WAIT_SECONDS)
    yield process
    processes.stop(process)


@pytest.fixture
def redis_channel_layer(settings, redis_url):
    settings.CHANNEL_LAYERS = {"default": channel_layer_config([redis_url])}


@pytest.fixture(autouse=True)
async def _no_stray_database_session():
    yield
    await sync_to_async(connections.close_all)()


def _approved_holding_statement(org_a, bob_membership, carol_membership):
    incident = incident_services.incident_open(organization=org_a, actor_membership=carol_membership, title="Nuts in the granola", severity=2)
    statement = services.statement_draft(incident=incident, actor_membership=bob_membership, kind="holding",
                                         fields={"headline": "Batch 42 recall", "body": "We are sorry. Do not eat batch 42."})
    services.statement_submit(statement=statement, actor_membership=bob_membership)
    services.statement_decide(statement=statement, actor_membership=carol_membership, version_number=1, decision="approve")
    statement.refresh_from_db()
    return incident, statement


async def _until(socket, predicate) -> list[dict]:
    """Events on ``socket`` up to and including the first one ``predicate`` accepts."""
    deadline, seen = time.monotonic() + WAIT_SECONDS, []
    while True:
        event = await socket.receive_json_from(timeout=max(0.1, deadline - time.monotonic()))
        seen.append(event)
        if predicate(event):
            return seen


async def test_the_worker_publishes_on_the_hub_stops_the_clock_and_only_members_hear_of_it(
    redis_channel_layer, worker, redis_url, org_a, bob_membership, carol_membership, bob, org_b, charlie
):
    incident, statement = await sync_to_async(_approved_holding_statement)(org_a, bob_membership, carol_membership)
    bobs_screen = await _war_room(bob, org_a.slug)
    charlies_screen = await _war_room(charlie, org_b.slug)

    publications = await sync_to_async(services.statement_publish)(statement=statement, actor_membership=carol_membership)
    # The test process's own broker is in memory; hand the same task to the real worker through Redis.
    sender = Celery("integration-sender", broker=redis_url)
    await asyncio.to_thread(sender.send_task, "responses.tasks.publish", args=[[publication.pk for publication in publications]])

    events = await _until(bobs_screen, lambda event: event["type"] == "incident.updated" and event["data"].get("first_statement_at"))
    published = [event for event in events if event["type"] == "publication.updated"]
    assert published and published[-1]["data"]["status"] == "succeeded" and published[-1]["data"]["channel"] == "hub"
    # The address comes from the approved headline, never from the internal incident title.
    assert published[-1]["data"]["url"].endswith(f"/hub/acme/batch-42-recall-{incident.pk}/")

    publication = await sync_to_async(Publication.objects.for_organization(org_a).get)(statement=statement)
    assert publication.status == PublicationStatus.SUCCEEDED and publication.attempts == 1
    incident = await sync_to_async(Incident.objects.for_organization(org_a).get)(pk=incident.pk)
    assert incident.first_statement_at == publication.published_at
    assert await sync_to_async(HubPage.objects.for_organization(org_a).filter(incident=incident).exists)()

    # Redelivering the same task (a worker lost after sending) sends nothing twice.
    redelivered = await asyncio.to_thread(sender.send_task, "responses.tasks.publish", args=[[publication.pk]])
    await sync_to_async(processes.wait_for)(
        lambda: f"[{redelivered.id}] succeeded" in processes.read_log(worker), timeout=WAIT_SECONDS, what="the redelivered task", process=worker
    )
    publication = await sync_to_async(Publication.objects.for_organization(org_a).get)(statement=statement)
    assert publication.attempts == 1

    assert [kind for kind in await _heard(charlies_screen) if kind != "presence.changed"] == []
    await bobs_screen.disconnect()
    await charlies_screen.disconnect()
