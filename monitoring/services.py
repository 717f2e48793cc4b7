"""Writes for monitoring's intake side: sources, watches, polls, webhooks, file imports and
drill replays. Triage of the mentions themselves lives in ``inbox_services``."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from datetime import timedelta
from functools import lru_cache

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from crisiscenter import crypto
from crisiscenter.audit import audit_record
from crisiscenter.errors import NotAllowed, ServiceError
from crisiscenter.models import Membership, Organization, Role
from crisiscenter.realtime import broadcast_to_organization
from monitoring import imports, pipeline, queries
from monitoring.models import POLLED_KINDS, IngestJob, JobKind, JobStatus, Source, SourceKind, SpikeSensitivity, VolumeBucket, VolumeRollup, Watch
from monitoring.sources import ADAPTERS, adapter_for
from monitoring.sources.base import SourceError, WatchSpec

logger = logging.getLogger(__name__)

MIN_POLL_INTERVAL_SECONDS = 15
MAX_BACKOFF_SECONDS = 3600
IMPORT_CHUNK = 1000
DRILL_CHUNK = 500
MAX_DRILL_SPEED = 10_000.0
# How soon to look again when a network says it has more right now.
CATCH_UP_SECONDS = 5
WEBHOOK_MAX_ITEMS = 1000


def _require(actor_membership: Membership, role: Role, what: str) -> None:
    if not actor_membership.has_role(role):
        raise NotAllowed(f"Only {Role(role).label.lower()}s and above can {what}.")


def _source_data(source: Source) -> dict:
    return {
        "id": source.pk,
        "name": source.name,
        "kind": source.kind,
        "health": source.health(),
        "last_success_at": source.last_success_at,
        "last_error": source.last_error[:300],
        "consecutive_failures": source.consecutive_failures,
        "quota_used": source.quota_used,
        "quota_cap": source.quota_cap,
    }


# --- sources ------------------------------------------------------------------------------


def _validated_settings(kind: str, config: dict, credentials: dict) -> tuple[dict, dict]:
    if kind in POLLED_KINDS:
        adapter_class = ADAPTERS[kind]
        try:
            clean_config = adapter_class.validate_config(config or {})
        except ValueError as error:
            raise ServiceError(str(error), field="config", code="invalid_source") from None
        try:
            return clean_config, adapter_class.validate_credentials(credentials or {})
        except ValueError as error:
            raise ServiceError(str(error), field="credentials", code="invalid_source") from None
    return {}, {}


def source_create(
    *,
    organization: Organization,
    actor_membership: Membership,
    name: str,
    kind: str,
    config: dict | None = None,
    credentials: dict | None = None,
    poll_interval_seconds: int = 120,
    quota_cap: int | None = None,
) -> tuple[Source, str | None]:
    """Create a source. For a webhook, also returns its signing secret — shown once, stored
    encrypted."""
    _require(actor_membership, Role.ADMIN, "add sources")
    if kind not in SourceKind.values:
        raise ServiceError("Unknown kind of source.", field="kind")
    if poll_interval_seconds < MIN_POLL_INTERVAL_SECONDS:
        raise ServiceError(f"Poll at most every {MIN_POLL_INTERVAL_SECONDS} seconds.", field="poll_interval_seconds")
    config, credentials = _validated_settings(kind, config or {}, credentials or {})
    secret = None
    if kind == SourceKind.WEBHOOK:
        secret = secrets.token_urlsafe(32)
        credentials = {"secret": secret}
    try:
        with transaction.atomic():
            source = Source.unscoped.create(
                organization=organization,
                name=name.strip()[:120],
                kind=kind,
                config=config,
                credentials_encrypted=crypto.encrypt(json.dumps(credentials)) if credentials else "",
                poll_interval_seconds=poll_interval_seconds,
                quota_cap=quota_cap,
                next_poll_at=timezone.now() if kind in POLLED_KINDS else None,
                created_by=actor_membership.user,
            )
            audit_record(
                action="source.created", actor=actor_membership.user, organization=organization, target=source,
                after={"name": source.name, "kind": kind, "config": config, "poll_interval_seconds": poll_interval_seconds},
            )
            broadcast_to_organization(organization=organization, event_type="source.updated", data=_source_data(source))
    except IntegrityError:
        raise ServiceError(f"A source called {name.strip()!r} exists already.", field="name", code="name_taken") from None
    return source, secret


def source_update(
    *,
    source: Source,
    actor_membership: Membership,
    name: str | None = None,
    is_enabled: bool | None = None,
    config: dict | None = None,
    credentials: dict | None = None,
    poll_interval_seconds: int | None = None,
    quota_cap: int | None | type[Ellipsis] = ...,
) -> Source:
    """Change a source. Credentials are replaced only when given (they are never read back)."""
    _require(actor_membership, Role.ADMIN, "change sources")
    if source.organization_id != actor_membership.organization_id:
        raise NotAllowed()
    before = {"name": source.name, "is_enabled": source.is_enabled, "config": source.config, "poll_interval_seconds": source.poll_interval_seconds}
    if poll_interval_seconds is not None and poll_interval_seconds < MIN_POLL_INTERVAL_SECONDS:
        raise ServiceError(f"Poll at most every {MIN_POLL_INTERVAL_SECONDS} seconds.", field="poll_interval_seconds")
    if config is not None or credentials:
        new_config, new_credentials = _validated_settings(
            source.kind, config if config is not None else source.config, credentials if credentials else source.credentials()
        )
        source.config = new_config
        if credentials and source.kind in POLLED_KINDS:
            source.credentials_encrypted = crypto.encrypt(json.dumps(new_credentials))
    if name is not None:
        source.name = name.strip()[:120]
    if poll_interval_seconds is not None:
        source.poll_interval_seconds = poll_interval_seconds
    if quota_cap is not ...:
        source.quota_cap = quota_cap
    if is_enabled is not None and is_enabled != source.is_enabled:
        source.is_enabled = is_enabled
        if is_enabled:
            source.consecutive_failures = 0
            source.next_poll_at = timezone.now() if source.is_polled() else None
    try:
        with transaction.atomic():
            source.save()
            audit_record(
                action="source.updated", actor=actor_membership.user, organization=source.organization, target=source, before=before,
                after={"name": source.name, "is_enabled": source.is_enabled, "config": source.config, "poll_interval_seconds": source.poll_interval_seconds,
                       "credentials_replaced": bool(credentials)},
            )
            broadcast_to_organization(organization=source.organization, event_type="source.updated", data=_source_data(source))
    except IntegrityError:
        raise ServiceError(f"A source called {source.name!r} exists already.", field="name", code="name_taken") from None
    return source


def source_rotate_webhook_secret(*, source: Source, actor_membership: Membership) -> str:
    _require(actor_membership, Role.ADMIN, "rotate webhook secrets")
    if source.kind != SourceKind.WEBHOOK:
        raise ServiceError("Only webhook sources have a signing secret.")
    secret = secrets.token_urlsafe(32)
    with transaction.atomic():
        Source.unscoped.filter(pk=source.pk).update(credentials_encrypted=crypto.encrypt(json.dumps({"secret": secret})))
        audit_record(action="source.secret_rotated", actor=actor_membership.user, organization=source.organization, target=source)
    return secret


def source_poll_now(*, source: Source, actor_membership: Membership) -> Source:
    """Make a polled source due now (the next beat, or the poll task queued here, takes it;
    the lease still keeps two polls from running at once)."""
    _require(actor_membership, Role.ADMIN, "poll sources")
    if not source.is_polled():
        raise ServiceError("Only polled sources (X, Mastodon, Bluesky, Reddit, RSS) can be polled.")
    with transaction.atomic():
        Source.objects.for_organization(source.organization_id).filter(pk=source.pk).update(next_poll_at=timezone.now())
        audit_record(action="source.poll_requested", actor=actor_membership.user, organization=actor_membership.organization, target=source)
        from monitoring import tasks

        transaction.on_commit(tasks.poll_due_sources.delay)
    source.refresh_from_db()
    return source


def _system_source(organization: Organization, kind: str, name: str) -> Source:
    source, _created = Source.unscoped.get_or_create(organization=organization, kind=kind, name=name)
    return source


# --- watches -----------------------------------------------------------------------------


def _parsed_or_error(query: str) -> queries.Query:
    try:
        return queries.parse(query)
    except queries.QueryError as error:
        raise ServiceError(error.message, field="query", code="invalid_query", details={"position": error.position}) from None


def watch_save(
    *, organization: Organization, actor_membership: Membership, name: str, query: str, language: str = "", is_active: bool = True,
    spike_sensitivity: str = SpikeSensitivity.NORMAL, watch: Watch | None = None,
) -> Watch:
    """Create a watch, or change ``watch``. The query must parse (and fit X's 512 characters)."""
    _require(actor_membership, Role.ADMIN, "change watch queries")
    if spike_sensitivity not in SpikeSensitivity.values:
        raise ServiceError(f"Spike sensitivity is one of {', '.join(SpikeSensitivity.values)}.", field="spike_sensitivity")
    parsed = _parsed_or_error(query)
    language = (language or "").strip().lower()
    if language and not (2 <= len(language) <= 3 and language.isascii() and language.isalpha()):
        raise ServiceError("Use an ISO 639-1 language code such as en or nl.", field="language")
    try:
        parsed.to_x(language=language)
    except queries.QueryError as error:
        raise ServiceError(error.message, field="query", code="invalid_query") from None
    try:
        with transaction.atomic():
            if watch is None:
                watch = Watch.unscoped.create(
                    organization=organization, name=name.strip()[:120], query=query.strip(), language=language, is_active=is_active,
                    spike_sensitivity=spike_sensitivity, created_by=actor_membership.user,
                )
                audit_record(action="watch.created", actor=actor_membership.user, organization=organization, target=watch,
                             after={"query": watch.query, "language": language, "spike_sensitivity": spike_sensitivity})
            else:
                if watch.organization_id != organization.pk:
                    raise NotAllowed()
                before = {"name": watch.name, "query": watch.query, "language": watch.language, "is_active": watch.is_active,
                          "spike_sensitivity": watch.spike_sensitivity}
                watch.name, watch.query, watch.language, watch.is_active = name.strip()[:120], query.strip(), language, is_active
                watch.spike_sensitivity = spike_sensitivity
                watch.save()
                audit_record(action="watch.updated", actor=actor_membership.user, organization=organization, target=watch, before=before,
                             after={"name": watch.name, "query": watch.query, "language": language, "is_active": is_active,
                                    "spike_sensitivity": spike_sensitivity})
            broadcast_to_organization(organization=organization, event_type="watch.updated", data={"id": watch.pk, "name": watch.name, "is_active": watch.is_active})
    except IntegrityError:
        raise ServiceError(f"A watch called {name.strip()!r} exists already.", field="name", code="name_taken") from None
    return watch


# --- polling -----------------------------------------------------------------------------


def _lease_seconds() -> int:
    return settings.SOURCE_POLL_LEASE_SECONDS


def sources_claim_due(*, now=None) -> list[int]:
    """Claim every enabled, due, unleased polled source; returns the ids to poll. The claim is
    a conditional UPDATE per row, so two beats (or a beat and a retry) never poll one source twice."""
    now = now or timezone.now()
    enabled_kinds = [kind for kind in POLLED_KINDS if settings.INTEGRATIONS.get(str(kind), True)]
    due = Source.unscoped.filter(kind__in=enabled_kinds, is_enabled=True).filter(
        Q(next_poll_at__isnull=True) | Q(next_poll_at__lte=now)
    ).filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
    claimed = []
    for source_id in due.values_list("id", flat=True)[:500]:
        taken = Source.unscoped.filter(pk=source_id).filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now)).update(
            lease_until=now + timedelta(seconds=_lease_seconds())
        )
        if taken:
            claimed.append(source_id)
    return claimed


def _quota_fields(source: Source, reads: int, now) -> dict:
    period = now.strftime("%Y-%m")
    used = (source.quota_used if source.quota_period == period else 0) + reads
    return {"quota_period": period, "quota_used": used}


def source_poll(*, source: Source) -> pipeline.IngestResult | None:
    """Poll one claimed source: fetch, store, then save the cursor in the same transaction.

    A failure is recorded on the source (and backs it off) instead of raised: a failing
    source never holds up the others."""
    now = timezone.now()
    if not source.is_enabled or not source.is_polled():
        Source.unscoped.filter(pk=source.pk).update(lease_until=None)
        return None
    watches = [
        WatchSpec(watch_id=watch.pk, query=watch.query, language=watch.language)
        for watch in Watch.objects.for_organization(source.organization_id).filter(is_active=True)
    ]
    try:
        adapter = adapter_for(source.kind, config=source.config, credentials=source.credentials())
        result = adapter.poll(cursor=dict(source.cursor), watches=watches)
    except (SourceError, crypto.DecryptionError) as error:
        _record_failure(source=source, error=error, now=now)
        return None
    except Exception as error:  # a bug or a network library surprise: log it, back off, go on
        logger.exception("Poll of source %s (%s) failed unexpectedly", source.pk, source.kind)
        _record_failure(source=source, error=SourceError(f"Unexpected error: {type(error).__name__}", retryable=True), now=now)
        return None
    rows, rejected = pipeline.prepare(organization_id=source.organization_id, drafts=result.drafts)
    with transaction.atomic():
        outcome = pipeline.store(source=source, rows=rows, rejected=rejected)
        Source.unscoped.filter(pk=source.pk).update(
            cursor=result.cursor,
            last_polled_at=now,
            last_success_at=timezone.now(),
            last_error="",
            consecutive_failures=0,
            rate_limit=result.rate_limit,
            next_poll_at=timezone.now() + timedelta(seconds=CATCH_UP_SECONDS if result.more else source.poll_interval_seconds),
            lease_until=None,
            **_quota_fields(source, result.reads, now),
        )
    return outcome


def _record_failure(*, source: Source, error: Exception, now) -> None:
    failures = source.consecutive_failures + 1
    retryable = getattr(error, "retryable", False)
    retry_at = getattr(error, "retry_at", None)
    if retry_at is None:
        # Exponential back-off from the interval; an error an admin must fix is retried hourly.
        delay = MAX_BACKOFF_SECONDS if not retryable else min(MAX_BACKOFF_SECONDS, source.poll_interval_seconds * 2 ** min(failures, 10))
        retry_at = now + timedelta(seconds=delay)
    message = getattr(error, "message", None) or str(error)
    with transaction.atomic():
        Source.unscoped.filter(pk=source.pk).update(
            last_polled_at=now,
            last_error=message[:2000],
            last_error_at=now,
            consecutive_failures=failures,
            next_poll_at=retry_at,
            lease_until=None,
            **_quota_fields(source, getattr(error, "reads", 0), now),
        )
        source.refresh_from_db()
        broadcast_to_organization(organization=source.organization, event_type="source.updated", data=_source_data(source))


# --- webhook -----------------------------------------------------------------------------


class WebhookRefused(ServiceError):
    status_code = 401


def webhook_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_verify(*, source: Source, body: bytes, signature: str) -> None:
    """Refuse unless ``signature`` is ``sha256=<hex HMAC-SHA256 of the body with the source's secret>``."""
    if source.kind != SourceKind.WEBHOOK or not source.is_enabled or not settings.INTEGRATIONS["webhook"]:
        raise WebhookRefused("This webhook is not accepting mentions.", code="webhook_disabled")
    if not signature:
        raise WebhookRefused("The X-Signature-256 header is missing.", code="signature_missing")
    expected = webhook_signature(source.credentials().get("secret", ""), body)
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        raise WebhookRefused("The signature does not match the body.", code="signature_mismatch")


def webhook_items(body: bytes) -> list:
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ServiceError("The body is not JSON.", code="invalid_json") from None
    if isinstance(payload, dict) and isinstance(payload.get("mentions"), list):
        items = payload["mentions"]
    elif isinstance(payload, list):
        items = payload
    elif isinstance(payload, dict):
        items = [payload]
    else:
        raise ServiceError("Send one mention object, a list of them, or {\"mentions\": [...]}.", code="invalid_body")
    if len(items) > WEBHOOK_MAX_ITEMS:
        raise ServiceError(f"At most {WEBHOOK_MAX_ITEMS} mentions per request.", code="too_many")
    return items


# --- file imports and drill replays ------------------------------------------------------


def _job_data(job: IngestJob) -> dict:
    return {
        "id": job.pk, "kind": job.kind, "status": job.status, "file_name": job.file_name, "total": job.total,
        "position": job.position, "stored": job.stored, "duplicates": job.duplicates, "rejected": job.rejected,
        "progress": round(job.progress(), 4), "error": job.error[:300],
    }


@lru_cache(maxsize=8)
def _job_items(job_id: int, content_digest: str, content: bytes, file_format: str, mapping_json: str) -> tuple:
    """The file's rows, parsed once per process (a drill is read a chunk at a time)."""
    items = list(imports.read(content, file_format, json.loads(mapping_json) or None))
    return tuple(items)


def job_items(job: IngestJob) -> tuple:
    content = bytes(job.content)
    return _job_items(job.pk, hashlib.sha1(content).hexdigest(), content, job.file_format, json.dumps(job.column_mapping, sort_keys=True))


def _drill_order(items: tuple) -> list:
    """Drill items in their original time order; rows without a readable time go last (and are rejected)."""
    def moment(entry):
        _line, draft = entry
        if isinstance(draft, dict):
            try:
                from monitoring.drafts import parse_timestamp

                return (0, parse_timestamp(draft.get("posted_at")).timestamp())
            except Exception:
                pass
        return (1, 0.0)

    return sorted(items, key=moment)


def job_create(
    *,
    organization: Organization,
    actor_membership: Membership,
    kind: str,
    file_name: str,
    content: bytes,
    file_format: str | None = None,
    column_mapping: dict | None = None,
    speed: float = 60.0,
) -> IngestJob:
    """Queue a file import or a drill replay. The whole file is checked for readability now,
    so a wrong format fails here with a clear message instead of in a worker."""
    _require(actor_membership, Role.ADMIN, "import files and run drills")
    if kind not in JobKind.values:
        raise ServiceError("Unknown job kind.", field="kind")
    if not content:
        raise ServiceError("The file is empty.", field="file")
    file_format = file_format or imports.guess_format(file_name, content)
    if file_format not in imports.FileFormat.VALUES:
        raise ServiceError("Unknown file format.", field="file_format")
    if kind == JobKind.DRILL and file_format not in (imports.FileFormat.CRISISLEX, imports.FileFormat.EXPORT, imports.FileFormat.JSONL):
        raise ServiceError("Drills replay a CrisisLexT6 CSV or a Crisis Center export.", field="file_format")
    if not 0 < speed <= MAX_DRILL_SPEED:
        raise ServiceError(f"Replay speed must be between 0 and {MAX_DRILL_SPEED:g}.", field="speed")
    try:
        mapping = imports.validate_mapping(column_mapping, imports.csv_columns(content)) if file_format == imports.FileFormat.CSV else (column_mapping or {})
        if file_format == imports.FileFormat.JSONL and mapping:
            mapping = imports.validate_mapping(mapping)
        total = sum(1 for _ in imports.read(content, file_format, mapping or None))
    except imports.FileError as error:
        raise ServiceError(str(error), field="file", code="unreadable_file") from None
    if total == 0:
        raise ServiceError("The file has no rows.", field="file")
    source = _system_source(organization, SourceKind.DRILL if kind == JobKind.DRILL else SourceKind.FILE, "Drill replays" if kind == JobKind.DRILL else "File imports")
    with transaction.atomic():
        job = IngestJob.unscoped.create(
            organization=organization, source=source, kind=kind, file_name=file_name[:255], file_format=file_format,
            content=content, column_mapping=mapping, speed=speed, total=total, created_by=actor_membership.user,
            next_step_at=timezone.now(),
        )
        audit_record(action=f"{kind}.started", actor=actor_membership.user, organization=organization, target=job,
                     after={"file_name": job.file_name, "rows": total, "format": file_format, "speed": speed if kind == JobKind.DRILL else None})
        broadcast_to_organization(organization=organization, event_type="job.updated", data=_job_data(job))
        _schedule_step(job, countdown=0)
    return job


def job_cancel(*, job: IngestJob, actor_membership: Membership) -> IngestJob:
    _require(actor_membership, Role.ADMIN, "stop imports and drills")
    with transaction.atomic():
        updated = IngestJob.unscoped.filter(pk=job.pk, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).update(
            status=JobStatus.CANCELLED, finished_at=timezone.now(), next_step_at=None
        )
        job.refresh_from_db()
        if updated:
            audit_record(action=f"{job.kind}.cancelled", actor=actor_membership.user, organization=job.organization, target=job)
            broadcast_to_organization(organization=job.organization, event_type="job.updated", data=_job_data(job))
    return job


def _schedule_step(job: IngestJob, *, countdown: float) -> None:
    from monitoring import tasks

    transaction.on_commit(lambda: tasks.run_job_step.apply_async(args=[job.pk], countdown=max(0.0, countdown)))


def job_step(*, job_id: int) -> float | None:
    """Run one chunk of a job; returns the seconds until the next chunk is due, or None when
    there is nothing more to do (finished, cancelled, or another worker holds the job)."""
    now = timezone.now()
    lease = now + timedelta(seconds=settings.INGEST_JOB_LEASE_SECONDS)
    taken = IngestJob.unscoped.filter(pk=job_id, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).filter(
        Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    ).update(lease_until=lease)
    if not taken:
        return None
    job = IngestJob.unscoped.select_related("source", "organization").get(pk=job_id)
    try:
        items = job_items(job)
    except imports.FileError as error:
        _job_finish(job, status=JobStatus.FAILED, error=str(error))
        return None
    if job.kind == JobKind.DRILL:
        return _drill_step(job, _drill_order(items), now)
    return _import_step(job, items)


def _commit_chunk(job: IngestJob, rows: list, rejected: list, advance: int, *, extra: dict | None = None) -> pipeline.IngestResult:
    """Store one chunk and advance the job's position in the same transaction."""
    with transaction.atomic():
        result = pipeline.store(source=job.source, rows=rows, rejected=rejected, job=job)
        job.position += advance
        job.stored += result.stored
        job.duplicates += result.duplicates
        job.rejected += result.rejected
        job.status = JobStatus.RUNNING
        job.started_at = job.started_at or timezone.now()
        for field, value in (extra or {}).items():
            setattr(job, field, value)
        # Cancelled meanwhile? Keep the cancellation, still count what was stored.
        cancelled = IngestJob.unscoped.filter(pk=job.pk, status=JobStatus.CANCELLED).exists()
        if cancelled:
            job.status = JobStatus.CANCELLED
        job.save(update_fields=["position", "stored", "duplicates", "rejected", "status", "started_at", *(extra or {})])
        broadcast_to_organization(organization=job.organization, event_type="job.updated", data=_job_data(job))
    return result


def _split(entries) -> tuple[list, list, list]:
    drafts, lines, problems = [], [], []
    for line, entry in entries:
        if isinstance(entry, imports.Problem):
            problems.append((line, {}, str(entry)))
        else:
            drafts.append(entry)
            lines.append(line)
    return drafts, lines, problems


def _import_step(job: IngestJob, items: tuple) -> float | None:
    chunk = items[job.position : job.position + IMPORT_CHUNK]
    drafts, lines, problems = _split(chunk)
    rows, rejected = pipeline.prepare(organization_id=job.organization_id, drafts=drafts, lines=lines)
    _commit_chunk(job, rows, problems + rejected, len(chunk))
    if job.status == JobStatus.CANCELLED:
        return None
    if job.position >= len(items):
        _job_finish(job, status=JobStatus.DONE)
        return None
    return _release(job, countdown=0)


def _drill_step(job: IngestJob, ordered: list, now) -> float | None:
    from monitoring.drafts import parse_timestamp

    extra = {}
    if job.replay_started_at is None:
        job.replay_started_at = now
        extra["replay_started_at"] = now
    first_time = None
    for _line, draft in ordered:
        if isinstance(draft, dict):
            try:
                first_time = parse_timestamp(draft.get("posted_at"))
                break
            except Exception:
                continue
    elapsed = (now - job.replay_started_at).total_seconds() * job.speed  # seconds of original time replayed so far
    due = []
    position = job.position
    next_wait = None
    while position < len(ordered) and len(due) < DRILL_CHUNK:
        line, draft = ordered[position]
        if isinstance(draft, dict) and first_time is not None:
            try:
                original = parse_timestamp(draft.get("posted_at"))
            except Exception:
                original = None
            if original is not None:
                offset = (original - first_time).total_seconds()
                if offset > elapsed:
                    next_wait = (offset - elapsed) / job.speed
                    break
                replayed = dict(draft)
                # Each replay is its own run: the same drill can be rehearsed again tomorrow.
                replayed["external_id"] = f"{job.pk}:{draft.get('external_id', '')}"
                replayed["posted_at"] = (job.replay_started_at + timedelta(seconds=offset / job.speed)).isoformat()
                replayed["raw"] = {**(draft.get("raw") or {}), "original_posted_at": original.isoformat(), "drill_job": job.pk}
                due.append((line, replayed))
                position += 1
                continue
        due.append((line, draft))
        position += 1
    drafts, lines, problems = _split(due)
    rows, rejected = pipeline.prepare(organization_id=job.organization_id, drafts=drafts, lines=lines)
    _commit_chunk(job, rows, problems + rejected, len(due), extra=extra)
    if job.status == JobStatus.CANCELLED:
        return None
    if job.position >= len(ordered):
        _job_finish(job, status=JobStatus.DONE)
        return None
    return _release(job, countdown=0 if next_wait is None else min(next_wait, 5.0))


def _release(job: IngestJob, *, countdown: float) -> float:
    IngestJob.unscoped.filter(pk=job.pk).update(lease_until=None, next_step_at=timezone.now() + timedelta(seconds=countdown))
    return countdown


def _job_finish(job: IngestJob, *, status: str, error: str = "") -> None:
    with transaction.atomic():
        IngestJob.unscoped.filter(pk=job.pk, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).update(
            status=status, error=error[:2000], finished_at=timezone.now(), lease_until=None, next_step_at=None
        )
        job.refresh_from_db()
        broadcast_to_organization(organization=job.organization, event_type="job.updated", data=_job_data(job))


def jobs_resume_stalled(*, now=None) -> list[int]:
    """Jobs whose next step is long overdue and that nobody holds: their worker died (or the
    broker lost the message). Returns the ids to run again."""
    now = now or timezone.now()
    stalled = IngestJob.unscoped.filter(
        status__in=[JobStatus.QUEUED, JobStatus.RUNNING],
        next_step_at__lt=now - timedelta(seconds=settings.INGEST_JOB_STALL_SECONDS),
    ).filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
    resumed = []
    for job_id in stalled.values_list("id", flat=True)[:200]:
        if IngestJob.unscoped.filter(pk=job_id, next_step_at__lt=now - timedelta(seconds=settings.INGEST_JOB_STALL_SECONDS)).update(next_step_at=now):
            resumed.append(job_id)
    return resumed


def volume_prune(now=None, *, chunk: int = 10_000) -> dict[int, int]:
    """Delete buckets older than their resolution is kept (settings.VOLUME_RETENTION_DAYS).
    Series by series — each organisation's total, each watch — so every delete walks a unique
    index (organisation or watch, time) rather than scanning the table, in chunks so a
    long-neglected series never holds one huge lock. Across tenants on purpose: a beat task."""
    now = now or timezone.now()
    series = [{"watch__isnull": True, "organization_id": pk} for pk in Organization.objects.values_list("pk", flat=True)]
    series += [{"watch_id": pk} for pk in Watch.unscoped.values_list("pk", flat=True)]
    deleted = {}
    for resolution, days in settings.VOLUME_RETENTION_DAYS.items():
        cutoff = now - timedelta(days=days)
        total = 0
        for scope in series:
            if resolution == 1:
                old = VolumeBucket.unscoped.filter(**scope, minute__lt=cutoff)
            else:
                old = VolumeRollup.unscoped.filter(**scope, resolution=resolution, start__lt=cutoff)
            while ids := list(old.values_list("pk", flat=True)[:chunk]):
                total += old.model.unscoped.filter(pk__in=ids).delete()[0]
        deleted[resolution] = total
    return deleted
