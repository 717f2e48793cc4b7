"""Ingestion throughput: N mentions already queued in Redis, stored by real Celery workers.

Path measured: ``monitoring.tasks.ingest_mentions`` batches (500 drafts each by default)
queued on Redis before any worker runs → real ``celery -A crisiscenter worker`` processes
(prefork) → ``pipeline.prepare`` (validation, language detection, sentiment, reach, watch
matching against ~20 watches) → ``pipeline.store`` (INSERT … ON CONFLICT DO NOTHING
RETURNING, MentionMatch rows, per-minute VolumeBucket upserts, the live event). Timed from
the worker's "ready." log line (so worker boot is excluded) to the last task's "succeeded"
line. Then the same batches are queued again — a replayed crisis — and the dedupe pass
(nothing new stored) is timed the same way.

Drafts come from the real tweets of CrisisLex T6 (../shared/data/crisislex-t6, read at run
time), with author handles and audiences synthesised deterministically and no ``language``
field, so detection runs. Past the ~60,000 tweets, drafts are retweets ("RT @author: …",
new ids), so every text is new to the sentiment cache, as in a first pass of a real crisis.
They keep their original order, but — as a drill replay does — their times are moved to a
live stream arriving at the target rate and ending now (the original time stays in ``raw``):
at 10,000 mentions a second a batch of 500 falls into one or two minutes, so it updates a
few dozen per-minute counters that every worker contends for. Left at their original times
(months of six crises) each batch would touch ~150 minutes, a load no live stream makes.

Reference, measured in the same run on the same rows: one process that does only the
pipeline's VADER scoring (``monitoring.vader_fast``) of every text and one COPY into a plain
table with the same columns and no indexes — the floor for "score and store these rows" on
this machine.

Target (issue: ingestion at crisis volume): ≥ 10,000 mentions/s sustained on 2 cores.
Needs PostgreSQL (BENCH_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432; a
database ``bench_monitoring`` is created and dropped) and Redis (BENCH_INGEST_REDIS_URL,
default redis://127.0.0.1:6379/12, flushed at start).

    .venv/bin/python bench/bench_ingest.py --mentions 200000 --batch 500 --concurrency 3
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import random
import re
import shutil
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone as dt_timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import support  # noqa: E402

REDIS_URL = os.environ.get("BENCH_INGEST_REDIS_URL", "redis://127.0.0.1:6379/12")
DATABASE = "bench_monitoring"
TARGET_PER_SECOND = 10_000
TASK_NAME = "monitoring.tasks.ingest_mentions"

# What a regional emergency-communications team would watch during these six crises.
WATCHES = [
    ("Floods", "flood OR flooding OR floods OR flooded", ""),
    ("Alberta floods", "#yycflood OR #abflood OR calgary OR alberta", ""),
    ("Queensland floods", "#qldflood OR #bigwet OR queensland OR bundaberg", ""),
    ("Tornado", "tornado OR tornadoes OR twister", ""),
    ("Oklahoma", "oklahoma OR moore OR #okwx", ""),
    ("Boston marathon", '"boston marathon" OR #bostonmarathon OR #prayforboston', ""),
    ("Explosions", "explosion OR explosions OR blast OR bomb*", ""),
    ("West, Texas", '"west texas" OR #westexplosion OR "fertilizer plant"', ""),
    ("Hurricane Sandy", "sandy OR #hurricanesandy OR #frankenstorm", ""),
    ("Evacuations", "evacuat* OR #evacuation", ""),
    ("Power outages", '"power outage" OR "no power" OR "without power" OR outage*', ""),
    ("Red Cross", '"red cross" OR @redcross OR #redcross', ""),
    ("Donations", "donate OR donation OR donations OR #donate", ""),
    ("Shelters", "shelter OR shelters OR #shelter", ""),
    ("Casualties", "injured OR injuries OR casualties OR killed OR dead", ""),
    ("Rumours", "rumor OR rumour OR rumors OR hoax OR fake -#fakenews", ""),
    ("Prayers", "prayers OR praying OR pray -lol", ""),
    ("FEMA", "fema OR @fema OR #fema", ""),
    ("Volunteers", "(volunteer OR volunteers OR volunteering) (help OR needed OR sign)", ""),
    ("Police", "police OR fbi OR suspect OR suspects OR manhunt", "en"),
]

# Celery's log lines: "[2026-01-05 10:00:00,123: INFO/MainProcess] celery@bench ready."
LOG_TIME = r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}): \w+/[\w-]+\] "
READY_LINE = re.compile(LOG_TIME + r".* ready\.$", re.MULTILINE)
RECEIVED_LINE = re.compile(LOG_TIME + r"Task " + re.escape(TASK_NAME) + r"\[[^\]]+\] received$", re.MULTILINE)
SUCCEEDED_LINE = re.compile(
    LOG_TIME + r"Task " + re.escape(TASK_NAME) + r"\[[^\]]+\] succeeded in [\d.]+s: \{'stored': (\d+), 'duplicates': (\d+), 'rejected': (\d+)\}$",
    re.MULTILINE,
)
FAILED_LINE = re.compile(r"Task " + re.escape(TASK_NAME) + r"\[[^\]]+\] (raised|failed)")


def log_time(stamp: str) -> float:
    return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()


def build_drafts(tweets: list[support.Tweet], count: int) -> list[dict]:
    """``count`` webhook-shaped drafts with distinct ids: the tweets, then retweets of them."""
    tweets = list({tweet.tweet_id: tweet for tweet in tweets}.values())  # the data set lists a few tweets twice
    rng = random.Random(20130415)
    audience = [min(int(math.exp(rng.gauss(5.5, 2.0))), 20_000_000) for _ in range(40_000)]
    drafts = []
    for index in range(count):
        tweet = tweets[index % len(tweets)]
        repeat = index // len(tweets)
        author_number = rng.randrange(len(audience))
        handle = f"citizen_{author_number:05d}"
        if repeat == 0:
            tweet_id, text, posted_at = tweet.tweet_id, tweet.text, tweet.posted_at
        else:
            # A retweet some minutes later, with its own snowflake id (the time sits above bit 22).
            delay_ms = repeat * 97_000 + rng.randrange(60_000)
            tweet_id = tweet.tweet_id + (delay_ms << 22)
            original = f"citizen_{tweet.tweet_id % len(audience):05d}"
            text, posted_at = f"RT @{original}: {tweet.text}", tweet.posted_at + timedelta(milliseconds=delay_ms)
        drafts.append({
            "external_id": str(tweet_id),
            "text": text,
            "posted_at": posted_at.isoformat().replace("+00:00", "Z"),
            "url": f"https://x.com/{handle}/status/{tweet_id}",
            "author_handle": handle,
            "author_name": f"Citizen {author_number}",
            "author_followers": audience[author_number],
            "author_verified": audience[author_number] > 500_000,
            "likes": int(rng.expovariate(1 / 4)),
            "reposts": int(rng.expovariate(1 / 1.5)),
            "replies": int(rng.expovariate(1 / 0.8)),
            "raw": {"crisis": tweet.crisis, "label": tweet.label},
        })
    # In the order they were posted, as a live stream delivers them (same-format ISO strings sort by time).
    drafts.sort(key=lambda draft: draft["posted_at"])
    # ... arriving at the target rate, the last one now.
    start = datetime.now(dt_timezone.utc) - timedelta(seconds=count / TARGET_PER_SECOND)
    for index, draft in enumerate(drafts):
        draft["raw"]["original_posted_at"] = draft["posted_at"]
        draft["posted_at"] = (start + timedelta(seconds=index / TARGET_PER_SECOND)).isoformat().replace("+00:00", "Z")
    return drafts


def setup_organization():
    """The organisation, its admin, one webhook source and the watches, made through the services."""
    from crisiscenter.models import Membership, Organization, Role, User
    from monitoring.services import source_create, watch_save

    organization = Organization.objects.create(name="Regional Emergency Communications", slug="rec")
    admin = User.objects.create_user("alice", password="not-used-by-the-bench-0123")
    membership = Membership.unscoped.create(organization=organization, user=admin, role=Role.ADMIN)
    source, _secret = source_create(organization=organization, actor_membership=membership, name="Social listening webhook", kind="webhook")
    for name, query, language in WATCHES:
        watch_save(organization=organization, actor_membership=membership, name=name, query=query, language=language)
    return organization, membership, source


def enqueue(source_id: int, drafts: list[dict], batch: int) -> tuple[int, float]:
    """Queue every batch as an ``ingest_mentions`` task; returns (tasks, seconds)."""
    from celery import Celery

    sender = Celery("bench-ingest-sender", broker=REDIS_URL)
    sender.conf.task_serializer = "json"
    started = time.perf_counter()
    tasks = 0
    for start in range(0, len(drafts), batch):
        sender.send_task(TASK_NAME, args=[source_id, drafts[start : start + batch]])
        tasks += 1
    return tasks, time.perf_counter() - started


def drain_with_workers(*, tasks: int, workers: int, concurrency: int, env: dict[str, str], log_dir: Path, label: str) -> dict:
    """Start the workers on the already-filled queue, wait until ``tasks`` tasks succeeded,
    stop them. Times come from the workers' own log lines (millisecond stamps)."""
    started = [
        support.processes.start(
            [sys.executable, "-m", "celery", "-A", "crisiscenter", "worker", "--loglevel=INFO", f"--concurrency={concurrency}",
             "--pool=prefork", f"--hostname=bench-{label}-{number}@%h", "--without-mingle", "--without-gossip"],
            env=env,
            log_path=log_dir / f"worker-{label}-{number}.log",
        )
        for number in range(workers)
    ]
    try:
        deadline = time.monotonic() + max(300, tasks * 10)
        while True:
            logs = [Path(process.log_path).read_text(errors="replace") for process in started]
            succeeded = [match for log in logs for match in SUCCEEDED_LINE.finditer(log)]
            if len(succeeded) >= tasks:
                break
            for process, log in zip(started, logs):
                if process.poll() is not None:
                    raise RuntimeError(f"worker exited with {process.returncode}:\n{log[-4000:]}")
                if FAILED_LINE.search(log):
                    raise RuntimeError(f"a task failed:\n{log[-4000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {len(succeeded)} of {tasks} tasks done before the deadline")
            time.sleep(0.2)
    finally:
        for process in started:
            support.processes.stop(process, timeout=30)
    begins = [log_time(match.group(1)) for log in logs for match in READY_LINE.finditer(log)]
    begins += [log_time(match.group(1)) for log in logs for match in RECEIVED_LINE.finditer(log)]
    return {
        "seconds": max(log_time(match.group(1)) for match in succeeded) - min(begins),
        "stored": sum(int(match.group(2)) for match in succeeded),
        "duplicates": sum(int(match.group(3)) for match in succeeded),
        "rejected": sum(int(match.group(4)) for match in succeeded),
    }


def verify(*, organization_id: int, source_id: int, expected: int) -> list[str]:
    """What is wrong with the stored state after a pass (empty when all is well)."""
    from django.db.models import Count, Sum

    from monitoring.models import Mention, MentionMatch, Source, VolumeBucket

    problems = []
    stored = Mention.unscoped.filter(source_id=source_id)
    counts = stored.aggregate(rows=Count("id"), distinct=Count("external_id", distinct=True))
    if counts["rows"] != expected or counts["distinct"] != expected:
        problems.append(f"{counts['rows']} rows, {counts['distinct']} distinct ids stored; expected {expected}")
    unknown_language = stored.filter(language="").count()
    if unknown_language > expected * 0.05:
        problems.append(f"{unknown_language} mentions without a detected language")
    buckets = VolumeBucket.unscoped.filter(organization_id=organization_id)
    organization_total = buckets.filter(watch__isnull=True).aggregate(total=Sum("mentions"))["total"] or 0
    if organization_total != expected:
        problems.append(f"organisation volume counters sum to {organization_total}, expected {expected}")
    watch_total = buckets.filter(watch__isnull=False).aggregate(total=Sum("mentions"))["total"] or 0
    matches = MentionMatch.unscoped.filter(organization_id=organization_id).count()
    if watch_total != matches:
        problems.append(f"watch volume counters sum to {watch_total}, but there are {matches} watch matches")
    if Source.unscoped.get(pk=source_id).mentions_stored != expected:
        problems.append("the source's mentions_stored counter is off")
    return problems


def reference_copy(drafts: list[dict], *, organization_id: int, source_id: int) -> float:
    """Seconds for one process to VADER-score every text and COPY the rows into a plain table."""
    from django.utils import timezone

    from monitoring.pipeline import MENTION_COLUMNS
    from monitoring.vader_fast import FastSentimentIntensityAnalyzer

    connection = support.connect(DATABASE)
    try:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS bench_reference_mention")
            # Same columns and types, none of the indexes or constraints.
            cursor.execute("CREATE TABLE bench_reference_mention (LIKE monitoring_mention INCLUDING DEFAULTS INCLUDING IDENTITY)")
        analyzer = FastSentimentIntensityAnalyzer()  # the scorer the pipeline uses
        copy = f"COPY bench_reference_mention ({', '.join(MENTION_COLUMNS)}) FROM STDIN"
        started = time.perf_counter()
        received_at = timezone.now().isoformat()
        buffer = io.StringIO()
        for draft in drafts:
            compound = analyzer.polarity_scores(draft["text"])["compound"]
            label = "positive" if compound >= 0.05 else "negative" if compound <= -0.05 else "neutral"
            reach = draft["author_followers"] + 25 * draft["reposts"] + 5 * draft["replies"] + draft["likes"]
            fields = (
                organization_id, source_id, draft["external_id"], draft["url"], draft["author_handle"], draft["author_name"],
                draft["author_followers"], "t" if draft["author_verified"] else "f", draft["text"], "", draft["posted_at"], received_at,
                draft["likes"], draft["reposts"], draft["replies"], "", "", json.dumps(draft["raw"]), compound, label, "vader", reach, "new",
            )
            buffer.write("\t".join(map(support.copy_text, fields)) + "\n")
        buffer.seek(0)
        with connection.cursor() as cursor:
            cursor.copy_expert(copy, buffer)
        elapsed = time.perf_counter() - started
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM bench_reference_mention")
            assert cursor.fetchone()[0] == len(drafts), "the reference COPY lost rows"
            cursor.execute("DROP TABLE bench_reference_mention")
        return elapsed
    finally:
        connection.close()


def breakdown(drafts: list[dict], *, organization, membership, batch: int) -> list[tuple[str, float]]:
    """Per-second rates of each stage in this one process: where a worker's time goes."""
    from monitoring import enrich, pipeline
    from monitoring.drafts import clean_draft
    from monitoring.services import source_create

    matcher = pipeline.watch_matcher(organization.pk)
    rates: list[tuple[str, float]] = []

    def rate(label: str, work) -> None:
        started = time.perf_counter()
        work()
        rates.append((label, len(drafts) / (time.perf_counter() - started)))

    cleaned = [clean_draft(draft) for draft in drafts]
    texts = [row["text"] for row in cleaned]
    languages = [language for start in range(0, len(texts), batch) for language in enrich.detect_languages(texts[start : start + batch])]
    rate("  clean_draft (validation)", lambda: [clean_draft(draft) for draft in drafts])
    rate(f"  detect_languages (py3langid, batches of {batch})", lambda: [enrich.detect_languages(texts[start : start + batch]) for start in range(0, len(texts), batch)])
    enrich.score_sentiment.cache_clear()
    rate("  score_sentiment (VADER, cold cache)", lambda: [enrich.score_sentiment(row["text"], language) for row, language in zip(cleaned, languages)])
    rate(
        f"  WatchMatcher.match ({len(WATCHES)} watches)",
        lambda: [matcher.match(row["text"], author_handle=row["author_handle"], language=language) for row, language in zip(cleaned, languages)],
    )
    enrich.score_sentiment.cache_clear()
    prepared: list[tuple[list, list]] = []
    rate(
        "prepare() — CPU only, all of the above",
        lambda: prepared.extend(
            pipeline.prepare(organization_id=organization.pk, drafts=drafts[start : start + batch], matcher=matcher)
            for start in range(0, len(drafts), batch)
        ),
    )
    # A second source, so every row is new (the first pass already stored these ids).
    source, _secret = source_create(organization=organization, actor_membership=membership, name="Breakdown webhook", kind="webhook")
    rate("store() — one transaction per batch", lambda: [pipeline.store(source=source, rows=rows, rejected=rejected) for rows, rejected in prepared])
    return rates


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mentions", type=support.positive, default=int(os.environ.get("BENCH_MENTIONS", "200000")))
    parser.add_argument("--batch", type=support.positive, default=int(os.environ.get("BENCH_BATCH", "500")), help="drafts per task")
    # As the Procfile runs a worker: one process more than the cores, since each waits on
    # PostgreSQL part of the time (measured at 200,000 mentions: 2 → 8,900/s, 3 → 10,500/s, 4 → 9,800/s).
    parser.add_argument("--concurrency", type=support.positive, default=int(os.environ.get("BENCH_CONCURRENCY", "3")), help="prefork children per worker")
    parser.add_argument("--workers", type=support.positive, default=int(os.environ.get("BENCH_WORKERS", "1")), help="worker processes")
    parser.add_argument("--breakdown", type=support.positive, default=int(os.environ.get("BENCH_BREAKDOWN", "20000")), help="drafts for the one-process breakdown")
    parser.add_argument("--keep-database", action="store_true", help=f"leave {DATABASE} behind for inspection")
    return parser.parse_args(argv)


def run(arguments: argparse.Namespace) -> bool:
    if support.skipped_without_services(REDIS_URL):
        return True
    import redis

    tweets = support.load_tweets()
    drafts = build_drafts(tweets, arguments.mentions)
    distinct = len({draft["external_id"] for draft in drafts})
    env = support.django_env(database=DATABASE, redis_url=REDIS_URL)
    support.recreate_database(DATABASE)
    support.migrate(env)
    support.setup_django(env)
    redis.Redis.from_url(REDIS_URL).flushdb()
    from django.db import connections

    organization, membership, source = setup_organization()
    log_dir = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    ok = verified = False
    try:
        print(f"{arguments.mentions:,} drafts from {len(tweets):,} CrisisLex T6 tweets ({distinct:,} distinct ids), "
              f"{len(WATCHES)} watches, batches of {arguments.batch}; "
              f"{arguments.workers} worker(s) × --concurrency {arguments.concurrency} (prefork) on {os.cpu_count()} cores")
        tasks, enqueue_seconds = enqueue(source.pk, drafts, arguments.batch)
        print(f"queued {tasks} tasks in {enqueue_seconds:.1f} s (not part of the timings)")
        first = drain_with_workers(tasks=tasks, workers=arguments.workers, concurrency=arguments.concurrency, env=env, log_dir=log_dir, label="first")
        problems = verify(organization_id=organization.pk, source_id=source.pk, expected=distinct)
        if first["stored"] != distinct:
            problems.append(f"tasks report {first['stored']} stored, expected {distinct}")

        enqueue(source.pk, drafts, arguments.batch)
        replay = drain_with_workers(tasks=tasks, workers=arguments.workers, concurrency=arguments.concurrency, env=env, log_dir=log_dir, label="replay")
        if replay["stored"] or replay["duplicates"] != distinct:
            problems.append(f"replay stored {replay['stored']} and skipped {replay['duplicates']} duplicates; expected 0 and {distinct}")
        problems += verify(organization_id=organization.pk, source_id=source.pk, expected=distinct)

        reference_seconds = reference_copy(drafts, organization_id=organization.pk, source_id=source.pk)
        rates = breakdown(drafts[: arguments.breakdown], organization=organization, membership=membership, batch=arguments.batch)

        workers_rate = arguments.mentions / first["seconds"]
        replay_rate = arguments.mentions / replay["seconds"]
        reference_rate = arguments.mentions / reference_seconds
        print(f"{'path':<58} {'seconds':>8} {'mentions/s':>11}")
        print(f"{'celery workers: store new mentions (first pass)':<58} {first['seconds']:>8.2f} {workers_rate:>11,.0f}")
        print(f"{'celery workers: replayed batches, all duplicates':<58} {replay['seconds']:>8.2f} {replay_rate:>11,.0f}")
        print(f"{'reference: 1 process, VADER + COPY into a bare table':<58} {reference_seconds:>8.2f} {reference_rate:>11,.0f}")
        print(f"ratio reference/workers: {reference_rate / workers_rate:.1f}x (workers use {arguments.workers * arguments.concurrency} "
              f"processes, the reference 1; PostgreSQL and Redis share the same {os.cpu_count()} cores)")
        print(f"breakdown, one process, {min(arguments.breakdown, len(drafts)):,} drafts, no broker:")
        for label, per_second in rates:
            print(f"  {label:<56} {per_second:>11,.0f}")
        verified = not problems
        if verified:
            print(f"verified: {distinct:,} rows = distinct ids, volume counters sum to {distinct:,}, replay stored nothing")
        else:
            print("VERIFICATION FAILED:\n  " + "\n  ".join(problems))
        met = workers_rate >= TARGET_PER_SECOND
        ok = verified and met
        print(f"target ≥ {TARGET_PER_SECOND:,} mentions/s sustained: {'met' if met else 'NOT MET'} ({workers_rate:,.0f}/s)")
    finally:
        connections.close_all()
        if not arguments.keep_database:
            support.drop_database(DATABASE)
        if verified:
            shutil.rmtree(log_dir, ignore_errors=True)
        else:
            print(f"worker logs kept in {log_dir}")
    return ok


def main(argv: list[str] | None = None) -> bool:
    """For bench/run.py: run in a fresh interpreter (this benchmark configures Django itself)."""
    return support.run_isolated(__file__, argv)


if __name__ == "__main__":
    sys.exit(0 if run(parse_arguments(sys.argv[1:])) else 1)
