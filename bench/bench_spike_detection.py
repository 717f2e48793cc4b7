"""Spike detection on real data: how long after a real crisis's onset the war room is told,
and whether it is told anything beforehand.

For each of three CrisisLexT6 events, every tweet of the event's file is replayed in the
order and at the times it was posted — five minutes of tweets per batch, as a live stream
delivers them — through the real pipeline (``pipeline.ingest``: validation, language,
sentiment, watch matching, the per-minute counters in PostgreSQL) into an organisation with
one watch that every replayed tweet matches (each carries the brand's hashtag, as if it were
a brand mention); after each batch the detectors are evaluated as the scheduled task does
(``spike_services.spikes_detect``). Printed per case: the first spike after the onset and
its delay, the alerts in the 12 hours before the onset, the spikes in all, and what the
first spike's explanation names.

Then seven days of real hourly X counts (../shared/data/x-api/recorded/counts.jsonl, only a
daily rhythm): there are no posts, so each hour's count goes straight into the counters,
spread evenly over its minutes, evaluated every five minutes.

Reference, in the same run: the detector alone (``monitoring.spikes``) on the same series in
memory, no pipeline and no database — the two must agree; it is also the time floor.

Targets (issue: the live war room): Boston and West Texas detected within 60 minutes of
event time; no alert in the 12 hours before each onset; at most one alert over the 7 days
of counts. Needs PostgreSQL (BENCH_POSTGRES_URL; a database ``bench_spikes`` is created and
dropped) and Redis (BENCH_SPIKES_REDIS_URL, default redis://127.0.0.1:6379/14, flushed).

    .venv/bin/python bench/bench_spike_detection.py
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter
from datetime import datetime, timedelta, timezone as dt_timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import support  # noqa: E402

REDIS_URL = os.environ.get("BENCH_SPIKES_REDIS_URL", "redis://127.0.0.1:6379/14")
DATABASE = "bench_spikes"
COUNTS = support.ROOT.parent / "shared" / "data" / "x-api" / "recorded" / "counts.jsonl"
BATCH = timedelta(minutes=5)
BRAND_TAG = "#acme"
CASES = [
    # (CrisisLexT6 folder, onset in UTC, detected within this many minutes, or None: no target)
    ("2013_Boston_Bombings", datetime(2013, 4, 15, 18, 49, tzinfo=dt_timezone.utc), 60),
    ("2013_West_Texas_Explosion", datetime(2013, 4, 18, 0, 50, tzinfo=dt_timezone.utc), 60),
    ("2013_Oklahoma_Tornado", datetime(2013, 5, 20, 19, 56, tzinfo=dt_timezone.utc), None),
]
QUIET_BEFORE = timedelta(hours=12)
MAX_RHYTHM_ALERTS = 1


def setup_watch(name: str):
    """A fresh organisation with one webhook source and one watch for the brand's hashtag."""
    from crisiscenter.models import Membership, Organization, Role, User
    from monitoring.services import source_create, watch_save

    slug = name.lower().replace("_", "-")[:40]
    organization = Organization.objects.create(name=name, slug=slug)
    admin = User.objects.create_user(f"admin-{slug}", password="not-used-by-the-bench-0123")
    membership = Membership.unscoped.create(organization=organization, user=admin, role=Role.ADMIN)
    source, _secret = source_create(organization=organization, actor_membership=membership, name="Replay", kind="webhook")
    watch = watch_save(organization=organization, actor_membership=membership, name="Brand", query=BRAND_TAG)
    return organization, source, watch


def replay_case(crisis: str, tweets: list[support.Tweet]) -> tuple[list, float]:
    """(every spike the pipeline produced, seconds)."""
    from monitoring import pipeline, spike_services
    from monitoring.models import Spike

    organization, source, _watch = setup_watch(crisis)
    tweets = sorted({tweet.tweet_id: tweet for tweet in tweets}.values(), key=lambda tweet: tweet.posted_at)
    started = time.perf_counter()
    index, clock = 0, tweets[0].posted_at.replace(second=0, microsecond=0) + BATCH
    while index < len(tweets):
        drafts = []
        while index < len(tweets) and tweets[index].posted_at < clock:
            tweet = tweets[index]
            drafts.append({"external_id": str(tweet.tweet_id), "text": f"{tweet.text} {BRAND_TAG}", "posted_at": tweet.posted_at.isoformat()})
            index += 1
        if drafts:
            pipeline.ingest(source=source, drafts=drafts)
        spike_services.spikes_detect(organization_id=organization.pk, now=clock)
        clock += BATCH
    seconds = time.perf_counter() - started
    return list(Spike.objects.for_organization(organization).order_by("detected_at")), seconds


def reference_case(tweets: list[support.Tweet]) -> tuple[list, float]:
    """The detector alone on the same per-minute series, fed in the same five-minute steps."""
    from monitoring.spikes import DetectorState, SpikeDetector

    started = time.perf_counter()
    detector, state, totals, opened = SpikeDetector(), DetectorState(), Counter(), []
    tweets = sorted({tweet.tweet_id: tweet for tweet in tweets}.values(), key=lambda tweet: tweet.posted_at)
    index, clock = 0, tweets[0].posted_at.replace(second=0, microsecond=0) + BATCH
    while index < len(tweets):
        touched = set()
        while index < len(tweets) and tweets[index].posted_at < clock:
            minute = int(tweets[index].posted_at.timestamp() // 60)
            totals[minute] += 1
            touched.add(minute)
            index += 1
        if touched:
            opened += [change for change in detector.observe(state, {minute: totals[minute] for minute in touched}) if change.kind == "opened"]
        clock += BATCH
    return opened, time.perf_counter() - started


def counts_series() -> list[tuple[datetime, int]]:
    """(minute, mentions) from the hourly counts, each hour spread evenly over its minutes."""
    series = []
    for bucket in json.loads(COUNTS.read_text())["data"]:
        start = datetime.fromisoformat(bucket["start"].replace("Z", "+00:00")).replace(second=0, microsecond=0)
        end = datetime.fromisoformat(bucket["end"].replace("Z", "+00:00")).replace(second=0, microsecond=0)
        minutes = max(1, int((end - start).total_seconds() // 60))
        count = bucket["tweet_count"]
        series += [(start + timedelta(minutes=offset), count // minutes + (1 if offset < count % minutes else 0)) for offset in range(minutes)]
    return series


def replay_counts(series: list[tuple[datetime, int]]) -> tuple[list, float]:
    from monitoring import spike_services
    from monitoring.models import Spike, VolumeBucket

    organization, _source, watch = setup_watch("Seven days of X counts")
    started = time.perf_counter()
    for first in range(0, len(series), 5):
        step = series[first : first + 5]
        VolumeBucket.unscoped.bulk_create(
            [VolumeBucket(organization=organization, watch=watch, minute=minute, mentions=count, neutral=count) for minute, count in step]
        )
        spike_services.spikes_detect(organization_id=organization.pk, now=step[-1][0])
    return list(Spike.objects.for_organization(organization)), time.perf_counter() - started


def reference_counts(series: list[tuple[datetime, int]]) -> int:
    from monitoring.spikes import DetectorState, SpikeDetector

    detector, state, opened = SpikeDetector(), DetectorState(), 0
    for first in range(0, len(series), 5):
        step = {int(minute.timestamp() // 60): count for minute, count in series[first : first + 5]}
        opened += sum(change.kind == "opened" for change in detector.observe(state, step))
    return opened


def minutes_after(moment: datetime, onset: datetime) -> float:
    return (moment - onset).total_seconds() / 60


def run() -> bool:
    if support.skipped_without_services(REDIS_URL):
        return True
    import redis

    env = support.django_env(database=DATABASE, redis_url=REDIS_URL)
    support.recreate_database(DATABASE)
    support.migrate(env)
    support.setup_django(env)
    queue = redis.Redis.from_url(REDIS_URL)
    queue.flushdb()  # the pipeline schedules detection tasks no worker takes here
    from django.db import connections

    ok = True
    try:
        tweets = support.load_tweets()
        print(f"{'case':<28} {'onset (UTC)':<17} {'first spike after':<22} {'before':>6} {'spikes':>6}  {'pipeline s':>10} {'detector s':>10}  explanation")
        for crisis, onset, within in CASES:
            crisis_tweets = [tweet for tweet in tweets if tweet.crisis == crisis]
            spikes, seconds = replay_case(crisis, crisis_tweets)
            reference, reference_seconds = reference_case(crisis_tweets)
            before = [spike for spike in spikes if onset - QUIET_BEFORE <= spike.detected_at < onset]
            after = [spike for spike in spikes if spike.detected_at >= onset]
            first = after[0] if after else None
            delay = minutes_after(first.detected_at, onset) if first else None
            shown = f"{first.detected_at:%m-%d %H:%M} (+{delay:.0f} min)" if first else "none"
            terms = ", ".join(item["term"] for item in (first.explanation.get("terms") or [])[:5]) if first else ""
            print(f"{crisis:<28} {onset:%Y-%m-%d %H:%M} {shown:<22} {len(before):>6} {len(spikes):>6}  {seconds:>10.1f} {reference_seconds:>10.2f}  {terms}")
            met = not before and first is not None and (within is None or delay <= within)
            agrees = [spike.detected_at for spike in spikes] == [
                datetime.fromtimestamp(change.peak_minute * 60, tz=dt_timezone.utc) for change in reference
            ]
            if not agrees:
                print(f"  the pipeline's spikes differ from the detector's on the same series: {[f'{spike.detected_at:%m-%d %H:%M}' for spike in spikes]}")
            target = f"detected within {within} min, " if within else ""
            print(f"  target {target}nothing in the 12 h before: {'met' if met else 'NOT MET'}")
            ok &= met and agrees
        series = counts_series()
        spikes, seconds = replay_counts(series)
        reference = reference_counts(series)
        met = len(spikes) <= MAX_RHYTHM_ALERTS
        print(f"{'counts.jsonl (7 days, hourly)':<28} {series[0][0]:%Y-%m-%d %H:%M} {'-':<22} {'':>6} {len(spikes):>6}  {seconds:>10.1f} {'':>10}  "
              f"detector alone: {reference} spike(s)")
        print(f"  target at most {MAX_RHYTHM_ALERTS} alert over the daily rhythm: {'met' if met else 'NOT MET'}")
        ok &= met and reference == len(spikes)
    finally:
        connections.close_all()
        queue.flushdb()
        support.drop_database(DATABASE)
    return ok


def main(argv: list[str] | None = None) -> bool:
    """For bench/run.py: run in a fresh interpreter (this benchmark configures Django itself)."""
    return support.run_isolated(__file__, argv)


if __name__ == "__main__":
    sys.exit(0 if run() else 1)
