"""The ingestion pipeline: a batch of drafts in, mentions stored once, counters updated.

One call handles hundreds of mentions: validate each (a bad item is stored as rejected with
its reason and never costs the rest of the batch), enrich (language, sentiment, reach, the
watches it matches), then one transaction that inserts every mention with
``INSERT … ON CONFLICT DO NOTHING RETURNING`` — so a retried or replayed batch stores
nothing twice and only the rows that are really new feed the per-minute counters — and
announces the batch to the organisation's screens after the commit.

PostgreSQL takes the rows with COPY into a session-local staging table and one
``INSERT … SELECT … ON CONFLICT DO NOTHING RETURNING`` from it (no statement to parse per
row, no client-side quoting), and the watch matches with COPY; SQLite takes the same insert
with ordinary placeholders.
"""

from __future__ import annotations

import io
import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, Iterable

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from crisiscenter.realtime import broadcast_to_organization
from monitoring import enrich, queries
from monitoring.drafts import Rejected, clean_draft, storable, without_nul
from monitoring.models import IngestJob, Mention, MentionMatch, MentionStatus, RejectedItem, Sentiment, Source, VolumeBucket, VolumeRollup, Watch

# Live events carry at most this many mentions; screens fetch the rest if they want them.
EVENT_SAMPLE = 20
MAX_REJECTED_PAYLOAD_CHARS = 4_000

MENTION_COLUMNS = (
    "organization_id", "source_id", "external_id", "url", "author_handle", "author_name", "author_followers",
    "author_verified", "text", "language", "posted_at", "received_at", "likes", "reposts", "replies",
    "reply_to_id", "conversation_id", "raw", "sentiment", "sentiment_label", "sentiment_method", "reach", "status",
)


@dataclass
class IngestResult:
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    stored_ids: list[int] = field(default_factory=list)
    # (line or index, reason) for every rejected item, for import reports.
    problems: list[tuple[int | None, str]] = field(default_factory=list)

    def add(self, other: IngestResult) -> None:
        self.stored += other.stored
        self.duplicates += other.duplicates
        self.rejected += other.rejected
        self.stored_ids.extend(other.stored_ids)
        self.problems.extend(other.problems)


@lru_cache(maxsize=1024)
def _parsed(query_text: str) -> queries.Query | None:
    try:
        return queries.parse(query_text)
    except queries.QueryError:
        return None  # saved before a parser change made it invalid: it matches nothing


def watch_matcher(organization_id: int) -> queries.WatchMatcher:
    watches = Watch.objects.for_organization(organization_id).filter(is_active=True).values_list("id", "query", "language")
    return queries.WatchMatcher(
        (watch_id, parsed, language) for watch_id, query_text, language in watches if (parsed := _parsed(query_text)) is not None
    )


def _truncated_payload(item: Any) -> dict:
    """What a rejected item looked like, safe to store (no NULs, bounded)."""
    item = without_nul(item)
    try:
        text = json.dumps(item, default=str)
    except (TypeError, ValueError):
        text = repr(item).replace("\x00", "")
    if len(text) > MAX_REJECTED_PAYLOAD_CHARS:
        return {"truncated": text[:MAX_REJECTED_PAYLOAD_CHARS]}
    return item if isinstance(item, dict) else {"value": item}


def prepare(
    *, organization_id: int, drafts: Iterable[Any], lines: Iterable[int | None] | None = None, matcher: queries.WatchMatcher | None = None
) -> tuple[list[dict], list[tuple[int | None, Any, str]]]:
    """Validate and enrich; returns (rows ready to insert, rejected (line, item, reason)).

    Pure computation, no database: this is the CPU-heavy half, run outside any transaction.
    Languages are detected for the whole batch at once (``enrich.detect_languages``)."""
    matcher = matcher if matcher is not None else watch_matcher(organization_id)
    rows: list[dict] = []
    rejected: list[tuple[int | None, Any, str]] = []
    seen: set[str] = set()
    line_numbers = iter(lines) if lines is not None else None
    for index, item in enumerate(drafts):
        line = next(line_numbers) if line_numbers is not None else index
        try:
            row = clean_draft(item)
        except Rejected as problem:
            rejected.append((line, item, problem.reason))
            continue
        if row["external_id"] in seen:
            continue  # the same post twice in one batch: the database would refuse it anyway
        seen.add(row["external_id"])
        rows.append(row)
    untagged = [row for row in rows if not row["language"]]
    for row, language in zip(untagged, enrich.detect_languages([row["text"] for row in untagged])):
        row["language"] = language
    for row in rows:
        text, language = row["text"], row["language"]
        row["sentiment"], row["sentiment_label"], row["sentiment_method"] = enrich.score_sentiment(text, language)
        row["reach"] = enrich.reach_score(
            followers=row["author_followers"], reposts=row["reposts"], replies=row["replies"], likes=row["likes"]
        )
        row["watch_ids"] = matcher.match(text, author_handle=row["author_handle"], language=language)
    return rows, rejected


_COPY_SPECIAL = re.compile(r"[\\\t\n\r]")
_COPY_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _copy_field(value: str) -> str:
    """One free-text field in COPY's text format. Most hold none of the four characters COPY
    escapes: one C-level scan decides."""
    if _COPY_SPECIAL.search(value) is None:
        return value
    return _COPY_SPECIAL.sub(lambda match: _COPY_ESCAPES[match.group()], value)


def _copy(cursor, table: str, columns: Iterable[str], lines: Iterable[str]) -> None:
    """COPY ``lines`` — tab-separated, newline-terminated, every free-text field already
    through ``_copy_field`` — into ``table``."""
    buffer = io.StringIO()
    buffer.writelines(lines)
    buffer.seek(0)
    cursor.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", buffer)


def _insert_mentions(*, source: Source, rows: list[dict], received_at: datetime) -> dict[str, int]:
    """Insert, skipping (organisation, source, external id) already stored; returns the new
    rows' ids by external id."""
    if not rows:
        return {}
    table = Mention._meta.db_table
    columns = ", ".join(MENTION_COLUMNS)
    conflict = "ON CONFLICT (organization_id, source_id, external_id) DO NOTHING RETURNING id, external_id"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Per database session, emptied by every commit; CREATE … IF NOT EXISTS is a
            # catalogue lookup after the first batch.
            cursor.execute(
                f"CREATE TEMPORARY TABLE IF NOT EXISTS mention_staging ON COMMIT DELETE ROWS AS SELECT {columns} FROM {table} WITH NO DATA"
            )
            first, received, status, field = f"{source.organization_id}\t{source.pk}", received_at.isoformat(), MentionStatus.NEW.value, _copy_field
            # In MENTION_COLUMNS order; numbers, times and choices need no escaping.
            _copy(cursor.cursor, "mention_staging", MENTION_COLUMNS, (
                f"{first}\t{field(row['external_id'])}\t{field(row['url'])}\t{field(row['author_handle'])}\t{field(row['author_name'])}\t"
                f"{row['author_followers']}\t{'t' if row['author_verified'] else 'f'}\t{field(row['text'])}\t{field(row['language'])}\t"
                f"{row['posted_at'].isoformat()}\t{received}\t{row['likes']}\t{row['reposts']}\t{row['replies']}\t"
                f"{field(row['reply_to_id'])}\t{field(row['conversation_id'])}\t{field(row['raw_json'])}\t{row['sentiment']!r}\t"
                f"{row['sentiment_label']}\t{row['sentiment_method']}\t{row['reach']}\t{status}\n"
                for row in rows
            ))
            cursor.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM mention_staging {conflict}")
            return {external_id: mention_id for mention_id, external_id in cursor.fetchall()}
        adapt = connection.ops.adapt_datetimefield_value
        received = adapt(received_at)
        values = [
            (
                source.organization_id, source.pk, row["external_id"], row["url"], row["author_handle"], row["author_name"],
                row["author_followers"], row["author_verified"], row["text"], row["language"], adapt(row["posted_at"]), received,
                row["likes"], row["reposts"], row["replies"], row["reply_to_id"], row["conversation_id"],
                row["raw_json"], row["sentiment"], row["sentiment_label"], row["sentiment_method"], row["reach"],
                MentionStatus.NEW.value,
            )
            for row in rows
        ]
        inserted: dict[str, int] = {}
        row_placeholder = "(" + ", ".join(["%s"] * len(MENTION_COLUMNS)) + ")"
        chunk = max(1, 30_000 // len(MENTION_COLUMNS))
        for start in range(0, len(values), chunk):
            part = values[start : start + chunk]
            cursor.execute(
                f"INSERT INTO {table} ({columns}) VALUES {', '.join([row_placeholder] * len(part))} {conflict}",
                [value for row in part for value in row],
            )
            inserted.update((external_id, mention_id) for mention_id, external_id in cursor.fetchall())
    return inserted


def _insert_matches(*, organization_id: int, rows: list[dict], inserted: dict[str, int]) -> None:
    """The watch matches of newly stored mentions (new mention ids: nothing can conflict)."""
    if connection.vendor == "postgresql":
        matches = [
            f"{organization_id}\t{inserted[row['external_id']]}\t{watch_id}\t{row['posted_at'].isoformat()}\n"
            for row in rows
            for watch_id in row["watch_ids"]
        ]
        if matches:
            with connection.cursor() as cursor:
                _copy(cursor.cursor, MentionMatch._meta.db_table, ("organization_id", "mention_id", "watch_id", "posted_at"), matches)
        return
    MentionMatch.unscoped.bulk_create(
        [
            MentionMatch(organization_id=organization_id, mention_id=inserted[row["external_id"]], watch_id=watch_id, posted_at=row["posted_at"])
            for row in rows
            for watch_id in row["watch_ids"]
        ],
        batch_size=1000,
    )


ROLLUP_RESOLUTIONS = (5, 60)  # minutes; monitoring.models.Resolution


def _bucket_start(moment: datetime, minutes: int) -> datetime:
    moment = moment.replace(second=0, microsecond=0)
    return moment.replace(minute=moment.minute - moment.minute % minutes) if minutes < 60 else moment.replace(minute=0)


def _bump_counters(*, organization_id: int, rows: list[dict]) -> None:
    """Add the new mentions to their volume buckets — per watch and the organisation's total;
    per minute, and rolled up per 5 minutes and per hour — in one upsert per table and scope."""
    totals: dict[tuple[int | None, int, datetime], list] = defaultdict(lambda: [0, 0, 0, 0, 0.0, 0])
    for row in rows:
        minute = row["posted_at"].replace(second=0, microsecond=0)
        label = row["sentiment_label"]
        for watch_id in [None, *row["watch_ids"]]:
            bucket = totals[(watch_id, 1, minute)]
            bucket[0] += 1
            bucket[1] += label == Sentiment.POSITIVE
            bucket[2] += label == Sentiment.NEUTRAL
            bucket[3] += label == Sentiment.NEGATIVE
            bucket[4] += row["sentiment"]
            bucket[5] += row["reach"]
    if not totals:
        return
    # The rollups from the (few) minutes a batch touches, not from every row again.
    for (watch_id, _one, minute), values in list(totals.items()):
        for resolution in ROLLUP_RESOLUTIONS:
            rollup = totals[(watch_id, resolution, _bucket_start(minute, resolution))]
            for index, value in enumerate(values):
                rollup[index] += value
    # A fixed order (minutes, then the rollups; the organisation's rows first, then by watch and
    # time) so two workers updating the same buckets lock them in the same order, never deadlocking.
    keys = sorted(totals, key=lambda key: (key[1], key[0] is not None, key[0] or 0, key[2]))
    minutes = [key for key in keys if key[1] == 1]
    rollups = [key for key in keys if key[1] != 1]
    _upsert(VolumeBucket._meta.db_table, "minute", False, organization_id, minutes, totals)
    _upsert(VolumeRollup._meta.db_table, "start", True, organization_id, rollups, totals)


def _upsert(table: str, time_column: str, with_resolution: bool, organization_id: int, keys: list[tuple], totals: dict) -> None:
    adapt = connection.ops.adapt_datetimefield_value
    resolution = ["resolution"] if with_resolution else []
    columns = ", ".join(["organization_id", "watch_id", *resolution, time_column, "mentions", "positive", "neutral", "negative", "sentiment_sum", "reach_sum"])
    update = (
        "DO UPDATE SET mentions = {t}.mentions + excluded.mentions, positive = {t}.positive + excluded.positive, "
        "neutral = {t}.neutral + excluded.neutral, negative = {t}.negative + excluded.negative, "
        "sentiment_sum = {t}.sentiment_sum + excluded.sentiment_sum, reach_sum = {t}.reach_sum + excluded.reach_sum"
    ).format(t=table)
    for scope, condition, conflict in (
        ([key for key in keys if key[0] is None], "watch_id IS NULL", ", ".join(["organization_id", *resolution, time_column])),
        ([key for key in keys if key[0] is not None], "watch_id IS NOT NULL", ", ".join(["watch_id", *resolution, time_column])),
    ):
        if not scope:
            continue
        values = [(organization_id, watch_id, *([minutes] if with_resolution else []), adapt(start), *totals[(watch_id, minutes, start)]) for watch_id, minutes, start in scope]
        width = len(values[0])
        with connection.cursor() as cursor:
            placeholder = "(" + ", ".join(["%s"] * width) + ")"
            cursor.execute(
                f"INSERT INTO {table} ({columns}) VALUES {', '.join([placeholder] * len(values))} "
                f"ON CONFLICT ({conflict}) WHERE {condition} {update}",
                [value for row in values for value in row],
            )


def store(
    *, source: Source, rows: list[dict], rejected: list[tuple[int | None, Any, str]], job: IngestJob | None = None, announce: bool = True
) -> IngestResult:
    """Write one prepared batch. Call inside ``transaction.atomic`` when other writes (a cursor,
    a job's position) must commit together with it; it opens its own otherwise."""
    result = IngestResult(rejected=len(rejected), problems=[(line, reason) for line, _item, reason in rejected])
    now = timezone.now()
    with transaction.atomic():
        immediate = connection.vendor == "postgresql"
        if immediate:
            # Check the foreign keys of the rows below as they go in, not at COMMIT: at COMMIT
            # this transaction holds the row locks of the shared minute counters, and every
            # other worker storing the same minute would wait out those thousands of checks.
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        inserted = _insert_mentions(source=source, rows=rows, received_at=now)
        new_rows = [row for row in rows if row["external_id"] in inserted]
        result.stored = len(new_rows)
        result.duplicates = len(rows) - len(new_rows)
        result.stored_ids = [inserted[row["external_id"]] for row in new_rows]
        _insert_matches(organization_id=source.organization_id, rows=new_rows, inserted=inserted)
        if rejected:
            RejectedItem.unscoped.bulk_create(
                [
                    RejectedItem(
                        organization_id=source.organization_id,
                        source=source,
                        job=job,
                        line=line if job is not None else None,
                        external_id=storable(str(item.get("external_id", "")))[:100] if isinstance(item, dict) else "",
                        reason=storable(reason)[:500],
                        payload=_truncated_payload(item),
                        received_at=now,
                    )
                    for line, item, reason in rejected
                ],
                batch_size=500,
            )
        # Last, so the locks other workers wait for are held as briefly as possible: the minute
        # counters (in a fixed order), then the source's row.
        _bump_counters(organization_id=source.organization_id, rows=new_rows)
        if result.stored:
            Source.unscoped.filter(pk=source.pk).update(mentions_stored=F("mentions_stored") + result.stored)
        if immediate:
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL DEFERRED")  # Django's default, for the rest of a caller's transaction
        if result.stored:  # first after the commit: a spike's alert must not wait behind this batch's event
            transaction.on_commit(lambda: _schedule_spike_detection(source.organization_id))
        if announce and (result.stored or result.rejected):
            _announce(source=source, rows=new_rows, inserted=inserted, result=result)
    return result


def _schedule_spike_detection(organization_id: int) -> None:
    from monitoring.tasks import schedule_spike_detection  # the tasks module imports this one

    schedule_spike_detection(organization_id)


def _announce(*, source: Source, rows: list[dict], inserted: dict[str, int], result: IngestResult) -> None:
    newest = sorted(rows, key=lambda row: row["posted_at"], reverse=True)[:EVENT_SAMPLE]
    broadcast_to_organization(
        organization=source.organization,
        event_type="mentions.ingested",
        data={
            "source_id": source.pk,
            "stored": result.stored,
            "rejected": result.rejected,
            "mention_ids": [inserted[row["external_id"]] for row in newest],
            "watch_ids": sorted({watch_id for row in rows for watch_id in row["watch_ids"]}),
            "newest_posted_at": newest[0]["posted_at"].isoformat() if newest else None,
            "high_reach": _high_reach(source=source, rows=rows, inserted=inserted),
        },
    )


def _high_reach(*, source: Source, rows: list[dict], inserted: dict[str, int]) -> list[dict]:
    """The batch's new mentions that reach many people, newest first, for the war room's ticker."""
    from monitoring.war_room import TICKER_SIZE, high_reach_threshold, ticker_item

    threshold = high_reach_threshold()
    loud = sorted((row for row in rows if row["reach"] >= threshold), key=lambda row: row["posted_at"], reverse=True)[:TICKER_SIZE]
    return [ticker_item({**row, "id": inserted[row["external_id"]], "source__kind": source.kind}) for row in loud]


def ingest(
    *, source: Source, drafts: Iterable[Any], job: IngestJob | None = None, lines: Iterable[int | None] | None = None, announce: bool = True
) -> IngestResult:
    """Validate, enrich and store one batch of drafts from ``source``."""
    rows, rejected = prepare(organization_id=source.organization_id, drafts=drafts, lines=lines)
    return store(source=source, rows=rows, rejected=rejected, job=job, announce=announce)
