"""The ingestion pipeline end to end through real Redis (broker and channel layer), real
Celery worker processes and PostgreSQL — including a worker killed with SIGKILL in the
middle of a drill replay."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import signal
import time
from pathlib import Path
from unittest import mock

import pytest
from asgiref.sync import async_to_sync
from celery import Celery
from channels_redis.core import RedisChannelLayer

from crisiscenter.redis_config import channel_layer_config
from crisiscenter.realtime import organization_group
from monitoring import services
from monitoring.drafts import parse_timestamp
from monitoring.models import IngestJob, JobStatus, Mention, SourceKind, VolumeBucket
from tests import processes

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

BOSTON = Path(__file__).resolve().parents[2] / "shared" / "data" / "crisislex-t6" / "2013_Boston_Bombings" / "2013_Boston_Bombings-ontopic_offtopic.csv"


def _sender(redis_url: str) -> Celery:
    return Celery("integration-sender", broker=redis_url)


def test_a_signed_webhook_batch_is_stored_by_a_worker_and_announced_on_the_channel_layer(
    client, org_a, erin_membership, redis_url, tmp_path
):
    source, secret = services.source_create(organization=org_a, actor_membership=erin_membership, name="Tool", kind=SourceKind.WEBHOOK)
    services.watch_save(organization=org_a, actor_membership=erin_membership, name="Battery", query="battery")
    layer = RedisChannelLayer(**channel_layer_config([redis_url])["CONFIG"])
    worker = processes.start_worker(redis_url, tmp_path, "webhook")
    try:
        async def listen():
            channel = await layer.new_channel()
            await layer.group_add(organization_group(org_a.pk), channel)
            return channel

        channel = async_to_sync(listen)()
        body = json.dumps({"mentions": [
            {"external_id": "w1", "text": "My battery exploded", "posted_at": "2026-11-22T10:00:00Z"},
            {"external_id": "w2", "text": "no time here"},
            {"external_id": "w3", "text": "battery recall when?", "posted_at": "2026-11-22T10:00:05Z"},
        ]}).encode()
        signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        # The webhook view queues through the test process's Celery app; send it to real Redis.
        sender = _sender(redis_url)
        with mock.patch("monitoring.tasks.ingest_mentions.delay", lambda *args: sender.send_task("monitoring.tasks.ingest_mentions", args=list(args))):
            response = client.post(
                f"/api/v1/organizations/{org_a.slug}/sources/{source.pk}/webhook/", body, content_type="application/json",
                HTTP_X_SIGNATURE_256=signature,
            )
        assert response.status_code == 202, response.content

        processes.wait_for(lambda: Mention.objects.for_organization(org_a).count() == 2, timeout=30, what="the worker to store the batch", process=worker)
        async def next_message():
            return await asyncio.wait_for(layer.receive(channel), timeout=15)

        message = async_to_sync(next_message)()
        event = message["event"]
        assert event["type"] == "mentions.ingested"
        assert (event["data"]["stored"], event["data"]["rejected"]) == (2, 1)
        assert sorted(Mention.objects.for_organization(org_a).values_list("external_id", flat=True)) == ["w1", "w3"]
    finally:
        processes.stop(worker)
        async_to_sync(layer.flush)()


def _sample(rows: int) -> bytes:
    lines = BOSTON.read_text(encoding="utf-8").splitlines()
    return ("\n".join(lines[: rows + 1]) + "\n").encode()


def test_a_worker_killed_mid_replay_loses_nothing_and_stores_nothing_twice(org_a, erin_membership, redis_url, tmp_path):
    rows = 3000
    content = _sample(rows)
    with mock.patch("monitoring.services._schedule_step"):
        job = services.job_create(organization=org_a, actor_membership=erin_membership, kind="drill", file_name="boston.csv", content=content, speed=1.0)
    # Replay the sample's real spacing in about ten seconds of wall time.
    ordered = services._drill_order(services.job_items(job))
    times = [parse_timestamp(draft["posted_at"]) for _line, draft in ordered]
    span = (times[-1] - times[0]).total_seconds()
    IngestJob.unscoped.filter(pk=job.pk).update(speed=max(1.0, span / 10))
    short_leases = {"INGEST_JOB_LEASE_SECONDS": "3", "INGEST_JOB_STALL_SECONDS": "2"}

    first = processes.start_worker(redis_url, tmp_path, "doomed", **short_leases)
    sender = _sender(redis_url)
    sender.send_task("monitoring.tasks.run_job_step", args=[job.pk])
    processes.wait_for(
        lambda: 0 < IngestJob.unscoped.get(pk=job.pk).position < rows // 2, timeout=60, what="the replay to be under way", process=first
    )
    os.killpg(first.pid, signal.SIGKILL)  # the worker and its pool child, no chance to clean up
    first.wait(timeout=10)
    killed_at = IngestJob.unscoped.get(pk=job.pk)
    assert killed_at.status == JobStatus.RUNNING and killed_at.position < rows

    second = processes.start_worker(redis_url, tmp_path, "rescuer", **short_leases)
    try:
        deadline = time.monotonic() + 120
        while IngestJob.unscoped.get(pk=job.pk).status != JobStatus.DONE:
            assert time.monotonic() < deadline, f"replay did not finish: {processes.read_log(second)}"
            sender.send_task("monitoring.tasks.resume_stalled_jobs")  # what beat does every 15 s
            time.sleep(1)
    finally:
        processes.stop(second)

    job.refresh_from_db()
    mentions = Mention.objects.for_organization(org_a).filter(source=job.source)
    assert mentions.count() == rows
    assert mentions.values("external_id").distinct().count() == rows
    assert (job.stored, job.duplicates, job.rejected, job.position) == (rows, 0, 0, rows)
    counted = sum(VolumeBucket.objects.for_organization(org_a).filter(watch__isnull=True).values_list("mentions", flat=True))
    assert counted == rows  # the per-minute series counted every mention exactly once
