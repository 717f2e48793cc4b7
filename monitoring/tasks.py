"""Celery tasks for monitoring: ids in, re-fetch, call a service. Polls run one task per
source, so a slow or failing network never holds up the others."""

from __future__ import annotations

import logging

from celery import shared_task

from monitoring import pipeline, services
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
