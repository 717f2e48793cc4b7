"""Celery tasks for monitoring: ids in, re-fetch, call a service. Polls run one task per
source, so a slow or failing network never holds up the others."""

from __future__ import annotations

import logging
import time

from celery import shared_task
from django.core.cache import cache

from monitoring import pipeline, selectors, services, spike_services
from monitoring.models import Source

logger = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def poll_due_sources() -> int:
    """Beat: claim every due source and queue one poll task each."""
    claimed = services.sources_claim_due()
    for source_id in claimed:
        poll_source.delay(source_id)
    return len(claimed)


@shared_task(ignore_result=True)
def poll_source(source_id: int) -> None:
    source = Source.unscoped.select_related("organization").filter(pk=source_id).first()
    if source is None:
        return
    services.source_poll(source=source)


@shared_task(ignore_result=True)
def ingest_mentions(source_id: int, drafts: list) -> dict | None:
    """Store a batch of drafts (from a webhook, or queued by anything else). Idempotent: a
    redelivered batch stores nothing twice."""
    source = Source.unscoped.select_related("organization").filter(pk=source_id).first()
    if source is None or not source.is_enabled:
        return None
    result = pipeline.ingest(source=source, drafts=drafts)
    return {"stored": result.stored, "duplicates": result.duplicates, "rejected": result.rejected}


@shared_task(bind=True, ignore_result=True)
def run_job_step(self, job_id: int) -> None:
    countdown = services.job_step(job_id=job_id)
    if countdown is None:
        return
    if self.request.is_eager and countdown > 0:
        return  # eager (tests) ignores countdowns: chaining would spin until the replay is due
    run_job_step.apply_async(args=[job_id], countdown=countdown)


@shared_task(ignore_result=True)
def resume_stalled_jobs() -> int:
    """Beat: give a job whose worker died (mid-chunk, or between chunks) to a live worker."""
    resumed = services.jobs_resume_stalled()
    for job_id in resumed:
        logger.warning("Resuming stalled ingest job %s", job_id)
        run_job_step.delay(job_id)
    return len(resumed)


# Detection runs as soon as a batch lands, but at most this often per organisation: in a busy
# stream the batches of the interval share one evaluation, and a quiet watch's first surge
# batch is judged at once (spike-to-screen is a benchmark, bench/bench_spike_to_screen.py).
SPIKE_DETECTION_INTERVAL_SECONDS = 0.25


def _spike_detection_key(organization_id: int) -> str:
    return f"monitoring:spike-detection-pending:{organization_id}"


def _spike_detection_ran_key(organization_id: int) -> str:
    return f"monitoring:spike-detection-ran:{organization_id}"


def _spike_detection_running_key(organization_id: int) -> str:
    return f"monitoring:spike-detection-running:{organization_id}"


def schedule_spike_detection(organization_id: int, *, wait: float | None = None) -> None:
    """After a batch commits: evaluate the organisation's detectors now, or — if they ran less
    than an interval ago — once the interval is over, once for every batch landing meanwhile
    (a lost task only delays the next one: the key expires)."""
    if cache.add(_spike_detection_key(organization_id), 1, timeout=30):
        if wait is None:
            last_run = cache.get(_spike_detection_ran_key(organization_id))
            wait = 0.0 if last_run is None else max(0.0, last_run + SPIKE_DETECTION_INTERVAL_SECONDS - time.time())
        detect_spikes.apply_async(args=[organization_id], countdown=round(wait, 3))


@shared_task(ignore_result=True)
def detect_spikes(organization_id: int) -> int:
    cache.delete(_spike_detection_key(organization_id))  # batches from now on schedule the next run
    if not cache.add(_spike_detection_running_key(organization_id), 1, timeout=120):
        # Another worker is evaluating this organisation: one run at a time, so two never race
        # to alert or to open the same playbook's incident; this one follows it.
        schedule_spike_detection(organization_id, wait=SPIKE_DETECTION_INTERVAL_SECONDS)
        return 0
    try:
        cache.set(_spike_detection_ran_key(organization_id), time.time(), timeout=60)
        return len(spike_services.spikes_detect(organization_id=organization_id))
    finally:
        cache.delete(_spike_detection_running_key(organization_id))


@shared_task(ignore_result=True)
def close_quiet_spikes() -> int:
    """Beat: evaluate organisations with an open spike, so one on a watch gone silent closes."""
    organizations = selectors.organizations_with_open_spikes()
    for organization_id in organizations:
        detect_spikes.delay(organization_id)
    return len(organizations)


@shared_task(ignore_result=True)
def prune_volume() -> dict:
    """Beat: drop volume buckets past their resolution's retention."""
    return services.volume_prune()
