"""Spike-to-screen: from the COMMIT of the batch that crosses a watch's spike threshold to
``spike.opened`` on each of N connected WebSocket clients (200 by default).

Path measured, every process real: a surge batch is stored by ``monitoring.pipeline.ingest``
in this process (validation, language, sentiment, watch matching, the per-minute counters in
PostgreSQL) → after its COMMIT, ``monitoring.tasks.schedule_spike_detection`` queues
``detect_spikes`` on Redis (at once, or when the 250 ms per-organisation throttle allows) → a
real Celery worker (prefork, ``--concurrency 3`` as the Procfile runs it) evaluates the
organisation's detectors, records and explains the Spike, and sends ``spike.opened`` after
its own commit through channels_redis → the production WebSocket process (uvicorn +
Channels, session-authenticated, membership-checked) → every client. Each client's latency is
stamped (wall clock) as its socket yields the event, against the wall clock stamped right
after the crossing batch's COMMIT by an ``on_commit`` callback registered ahead of the
pipeline's own.

Each round uses a fresh organisation (a quiet start: no open spike, no cooldown) with one
watch for the brand's hashtag and three hours of quiet history, about two mentions a minute
(off-topic CrisisLex T6 tweets carrying the hashtag), replayed through the pipeline so that
the worker's own evaluations prime the detector. The clients then connect as a member of it,
and the surge (on-topic tweets of one crisis, same hashtag) arrives in one of two shapes,
alternating:

- *one batch*: a single batch of 120 mentions crosses the threshold; the throttle is idle;
- *stream*: batches of 8–20 mentions every 50–150 ms. The crossing batch is found by running
  the detector in memory on the primed state, batch by batch; it usually lands while the
  throttle holds the next evaluation back. The stream goes on as a real surge would, its
  ``mentions.ingested`` (and other live) events reaching the same clients, until every
  client has the spike.

Reference, in the same run and for the same number of clients: the captured ``spike.opened``
event PUBLISHed to the bare Redis pub/sub → ``websockets`` server of bench/support.py — the
floor for "Redis to N sockets" on this machine, no database, no worker, no detector.

Also printed, per round: where the time went (the pipeline's own after-commit work, the hop
to the worker and its throttle, the evaluation until the event was built, the event's way to
the first and the last client), which batch the opening evaluation had seen, how many events
each client received ahead of ``spike.opened`` and whether any got a ``spike.updated`` first,
and the CPU the WebSocket process, this process and the whole machine used meanwhile (the
machines here are shared: read the figures beside the machine's load). Before a surge the
clients wait out their own connection burst; afterwards they leave a few at a time.

Target (issue: the live war room): p95 ≤ 1 s over every client's receipt with 200 clients.
Needs PostgreSQL (BENCH_POSTGRES_URL; a database ``bench_spike_to_screen`` is created and
dropped) and Redis (BENCH_SPIKE_SCREEN_REDIS_URL, default redis://127.0.0.1:6379/15, flushed).

    .venv/bin/python bench/bench_spike_to_screen.py --clients 200 --rounds 10 --stream-interval 50-150
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import support  # noqa: E402

REDIS_URL = os.environ.get("BENCH_SPIKE_SCREEN_REDIS_URL", "redis://127.0.0.1:6379/15")
DATABASE = "bench_spike_to_screen"
TARGET_P95_SECONDS = 1.0
BRAND_TAG = "#acme"
QUIET_MINUTES = 180
QUIET_PER_MINUTE = (1, 2, 2, 3)  # drawn per minute: about two a minute
QUIET_BATCH_MINUTES = 30
ONE_BATCH = 120
STREAM_BATCH = (8, 20)
STREAM_BATCHES = 60  # at most; the stream stops once every client has the spike
ARRIVAL_TIMEOUT_SECONDS = 30.0
# A war room has been open a while when a spike comes: the connection burst's own events
# (presence, announced at most once a second) are over before the surge starts.
SETTLE_SECONDS = 1.5
SURGE_CRISES = [
    "2013_Boston_Bombings", "2013_West_Texas_Explosion", "2013_Oklahoma_Tornado",
    "2012_Sandy_Hurricane", "2013_Alberta_Floods", "2013_Queensland_Floods",
]
# The consumer sends events as json.dumps does, "type" first (crisiscenter.realtime.build_event).
TYPE_PREFIX = '{"type": "'
SPIKE_OPENED = TYPE_PREFIX + 'spike.opened"'


@dataclass
class Round:
    number: int
    shape: str  # "one batch" or "stream"
    slug: str
    source: Any
    watch_id: int
    batches: list[list[dict]]
    intervals: list[float]  # seconds from one batch to the next
    crossing: int  # index of the batch whose COMMIT starts the clock
    window_after: list[int]  # the detector's window count once each batch is in
    commits: list[float] = field(default_factory=list)  # wall clock right after each batch's COMMIT
    after_commit: list[float] = field(default_factory=list)  # ... and after the pipeline's own after-commit work


@dataclass
class Outcome:
    round: Round
    latencies: list[float]  # commit of the crossing batch → spike.opened, one per client
    ahead: list[Counter]  # per client: the events it received during the surge before spike.opened, by type
    event: dict
    detection_started: float  # the worker's clock when it began the evaluation that opened the spike
    # Over the surge (its start to the last receipt), as shares of one core: the WebSocket
    # process, this process (the clients and the ingestion), and the whole machine.
    websocket_cpu: float
    bench_cpu: float
    machine_cpu: float


def audience(rng: random.Random) -> int:
    """Followers: log-normal, as bench_ingest draws them."""
    return min(int(math.exp(rng.gauss(5.5, 2.0))), 20_000_000)


def draft(rng: random.Random, *, external_id: str, tweet: support.Tweet, posted_at: datetime) -> dict:
    handle = f"citizen_{rng.randrange(40_000):05d}"
    return {
        "external_id": external_id,
        "text": f"{tweet.text} {BRAND_TAG}",
        "posted_at": posted_at.isoformat(),
        "url": f"https://x.com/{handle}/status/{external_id}",
        "author_handle": handle,
        "author_followers": audience(rng),
        "likes": int(rng.expovariate(1 / 4)),
        "reposts": int(rng.expovariate(1 / 1.5)),
        "replies": int(rng.expovariate(1 / 0.8)),
    }


def setup_people():
    """alice (admin) sets the organisations up; bob (responder) has the war room open: the
    clients are his screens."""
    from crisiscenter.models import User

    alice = User.objects.create_user("alice", password="not-used-by-the-bench-0123")
    bob = User.objects.create_user("bob", password="not-used-by-the-bench-0123")
    return alice, bob


def minute_number(moment: datetime) -> int:
    return int(moment.timestamp() // 60)


def wait_until_primed(*, organization_id: int, watch_id: int, last_minute: int) -> dict:
    """The detector's state once the worker has evaluated the whole quiet history and no
    evaluation is pending or was run within the throttle interval (a quiet organisation)."""
    from django.core.cache import cache

    from monitoring import tasks
    from monitoring.models import WatchDetector

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = WatchDetector.unscoped.filter(watch_id=watch_id).values_list("state", flat=True).first()
        last_run = cache.get(tasks._spike_detection_ran_key(organization_id))
        if (
            state
            and state.get("latest") == last_minute
            and cache.get(tasks._spike_detection_key(organization_id)) is None
            and last_run is not None
            and time.time() - last_run > tasks.SPIKE_DETECTION_INTERVAL_SECONDS + 0.2
        ):
            return state
        time.sleep(0.05)
    raise RuntimeError(f"the worker did not evaluate the quiet history of watch {watch_id} within 60 s")


def window_counts(state_json: dict, sizes: list[int], *, surge_minute: int, level: str) -> tuple[int | None, list[int]]:
    """Run the detector in memory on the primed state as each batch of ``sizes`` lands in
    ``surge_minute``: (index of the first batch that opens a spike, window count after each)."""
    from monitoring.spikes import DetectorState, Sensitivity, SpikeDetector

    detector = SpikeDetector(Sensitivity.for_level(level))
    crossing, windows, total = None, [], 0
    for index, size in enumerate(sizes):
        total += size
        state = DetectorState.from_json(state_json)
        opened = any(change.kind == "opened" for change in detector.observe(state, {surge_minute: total}))
        windows.append(sum(state.counts.values()))
        if opened and crossing is None:
            crossing = index
    return crossing, windows


def prepare_round(number: int, shape: str, *, quiet_tweets: list, surge_tweets: dict, alice, bob, stream_interval: tuple[float, float]) -> Round:
    from django.utils import timezone

    from crisiscenter.models import Membership, Organization, Role
    from monitoring import pipeline
    from monitoring.services import source_create, watch_save

    rng = random.Random(20260000 + number)
    slug = f"acme-{number}"
    organization = Organization.objects.create(name=f"Acme Foods, round {number}", slug=slug)
    admin = Membership.unscoped.create(organization=organization, user=alice, role=Role.ADMIN)
    Membership.unscoped.create(organization=organization, user=bob, role=Role.RESPONDER)
    source, _secret = source_create(organization=organization, actor_membership=admin, name="Social listening webhook", kind="webhook")
    watch = watch_save(organization=organization, actor_membership=admin, name="Acme", query=BRAND_TAG)

    now = timezone.now()
    surge_minute = now.replace(second=0, microsecond=0)
    quiet = []
    for offset in range(QUIET_MINUTES, 0, -1):
        minute = surge_minute - timedelta(minutes=offset)
        for index in range(rng.choice(QUIET_PER_MINUTE)):
            posted_at = minute + timedelta(seconds=rng.uniform(0, 59))
            quiet.append(draft(rng, external_id=f"q{number}-{offset}-{index}", tweet=rng.choice(quiet_tweets), posted_at=posted_at))
    per_batch = len(quiet) * QUIET_BATCH_MINUTES // QUIET_MINUTES
    for first in range(0, len(quiet), per_batch):  # each commit has the worker evaluate, as live
        pipeline.ingest(source=source, drafts=quiet[first : first + per_batch])
    state = wait_until_primed(organization_id=organization.pk, watch_id=watch.pk, last_minute=minute_number(surge_minute) - 1)

    if shape == "one batch":
        sizes, intervals = [ONE_BATCH], [0.0]
    else:
        sizes = [rng.randint(*STREAM_BATCH) for _ in range(STREAM_BATCHES)]
        intervals = [rng.uniform(*stream_interval) for _ in sizes]
    crossing, windows = window_counts(state, sizes, surge_minute=minute_number(surge_minute), level=watch.spike_sensitivity)
    if crossing is None or (shape == "one batch" and crossing != 0):
        raise RuntimeError(f"round {number}: the {shape} surge does not cross the threshold where expected (crossing batch {crossing})")
    tweets = surge_tweets[SURGE_CRISES[number % len(SURGE_CRISES)]]
    latest_second = max(1, now.second)  # posted before the surge is sent
    batches, made = [], 0
    for size in sizes:
        batches.append([
            draft(rng, external_id=f"s{number}-{made + index}", tweet=rng.choice(tweets),
                  posted_at=surge_minute + timedelta(seconds=rng.uniform(0, latest_second)))
            for index in range(size)
        ])
        made += size
    return Round(number=number, shape=shape, slug=slug, source=source, watch_id=watch.pk, batches=batches,
                 intervals=intervals, crossing=crossing, window_after=windows)


def surge(round_: Round, everyone_has_it: threading.Event) -> None:
    """Store the surge batch by batch, each in its own transaction, stamping its COMMIT; go
    on past the crossing batch until every client has the spike."""
    from django.db import transaction

    from monitoring import pipeline

    next_at = time.monotonic()
    for index, drafts in enumerate(round_.batches):
        if index > round_.crossing and everyone_has_it.is_set():
            return
        pause = next_at - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        with transaction.atomic():
            # Registered first, so it runs first after the COMMIT (then the pipeline's own:
            # its mentions.ingested event and scheduling the detection), then the last one.
            transaction.on_commit(lambda: round_.commits.append(time.time()))
            pipeline.ingest(source=round_.source, drafts=drafts)
            transaction.on_commit(lambda: round_.after_commit.append(time.time()))
        next_at += round_.intervals[index]


async def first_spike(socket) -> tuple[float, str, Counter]:
    """(wall clock, payload) of the first ``spike.opened`` this socket yields, and the
    events it yielded before that, by type."""
    ahead = Counter()
    while True:
        payload = await socket.recv()
        if payload.startswith(SPIKE_OPENED):
            return time.time(), payload, ahead
        ahead[payload[len(TYPE_PREFIX) : payload.find('"', len(TYPE_PREFIX))] if payload.startswith(TYPE_PREFIX) else "?"] += 1


async def settle(sockets) -> None:
    """Wait out the connection burst's own events and drop them."""
    await asyncio.sleep(SETTLE_SECONDS)

    async def drain(socket):
        try:
            while True:
                await asyncio.wait_for(socket.recv(), 0.05)  # cancelling recv() loses nothing (websockets ≥ 13)
        except TimeoutError:
            pass

    await asyncio.gather(*(drain(socket) for socket in sockets))


CLOSE_WAVE, CLOSE_PAUSE_SECONDS = int(os.environ.get("BENCH_CLOSE_WAVE", "20")), float(os.environ.get("BENCH_CLOSE_PAUSE", "0.1"))


async def close_all(sockets) -> None:
    """A few at a time, as browsers leave: each close makes the WebSocket process discard a
    channel from the group, and a burst of them exhausts its channel-layer connection pool."""
    for start in range(0, len(sockets), CLOSE_WAVE):
        await asyncio.gather(*(socket.close() for socket in sockets[start : start + CLOSE_WAVE]))
        await asyncio.sleep(CLOSE_PAUSE_SECONDS)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (Linux; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU time every core of the machine has spent busy so far (Linux; 0 elsewhere)."""
    try:
        fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except OSError:
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def cpu_meter(websocket_pid: int):
    """Start measuring; the returned function gives (WebSocket process, this process, machine)
    CPU as shares of one core since the start, up to ``until`` (wall clock)."""
    started = time.time(), cpu_seconds(websocket_pid), cpu_seconds(os.getpid()), machine_busy_seconds()

    def shares(until: float) -> tuple[float, float, float]:
        elapsed = max(until - started[0], 1e-6)
        return (
            (cpu_seconds(websocket_pid) - started[1]) / elapsed,
            (cpu_seconds(os.getpid()) - started[2]) / elapsed,
            (machine_busy_seconds() - started[3]) / elapsed,
        )

    return shares


async def receive_everywhere(sockets, during, *, done: threading.Event | None = None) -> list[tuple[float, str, Counter]]:
    """Every socket's first ``spike.opened`` while ``during`` (a coroutine) runs; then
    ``done`` is set and ``during`` is awaited."""
    readers = [asyncio.create_task(first_spike(socket)) for socket in sockets]
    work = asyncio.create_task(during)
    try:
        return await asyncio.wait_for(asyncio.gather(*readers), ARRIVAL_TIMEOUT_SECONDS)
    finally:
        for reader in readers:
            reader.cancel()
        if done is not None:
            done.set()
        await work


async def run_round(round_: Round, url: str, headers: dict[str, str], clients: int, worker, websocket_pid: int) -> Outcome:
    sockets = await support.connect_all(url, clients, headers, expect_ready=True)
    everyone_has_it = threading.Event()
    try:
        await settle(sockets)
        meter = cpu_meter(websocket_pid)
        arrivals = await receive_everywhere(sockets, asyncio.to_thread(surge, round_, everyone_has_it), done=everyone_has_it)
        websocket_cpu, bench_cpu, machine_cpu = meter(max(at for at, _payload, _ahead in arrivals))
    except TimeoutError:
        raise RuntimeError(
            f"round {round_.number}: not every client had spike.opened after {ARRIVAL_TIMEOUT_SECONDS:.0f} s; "
            f"worker log:\n{support.processes.read_log(worker)}"
        ) from None
    finally:
        await close_all(sockets)
    payloads = {payload for _at, payload, _ahead in arrivals}
    if len(payloads) != 1:
        raise RuntimeError(f"round {round_.number}: the clients got {len(payloads)} different spike.opened events")
    event = json.loads(payloads.pop())
    if event["data"]["watch_id"] != round_.watch_id or event["organization"] != round_.slug:
        raise RuntimeError(f"round {round_.number}: spike.opened for {event['organization']} watch {event['data']['watch_id']}")
    committed = round_.commits[round_.crossing]
    started = await asyncio.to_thread(detection_started, event["data"]["id"])
    return Outcome(round=round_, latencies=[at - committed for at, _payload, _ahead in arrivals], ahead=[ahead for _at, _payload, ahead in arrivals],
                   event=event, detection_started=started, websocket_cpu=websocket_cpu, bench_cpu=bench_cpu, machine_cpu=machine_cpu)


def detection_started(spike_id: int) -> float:
    from monitoring.models import Spike

    return Spike.unscoped.get(pk=spike_id).created_at.timestamp()  # the detector's "now"


async def reference_rounds(url: str, clients: int, payload: str, rounds: int, publisher) -> list[float]:
    """PUBLISH the same event to the bare reference server's sockets; per-client latency."""
    sockets = await support.connect_all(url, clients, {}, expect_ready=False)
    await settle(sockets)
    latencies: list[float] = []
    try:
        for _ in range(rounds):
            sent: list[float] = []

            async def publish():
                sent.append(time.time())
                await asyncio.to_thread(publisher.publish, support.REFERENCE_CHANNEL, payload)

            arrivals = await receive_everywhere(sockets, publish())
            latencies += [at - sent[0] for at, _payload, _ahead in arrivals]
            await asyncio.sleep(0.05)
    finally:
        await close_all(sockets)
    return latencies


def report(outcomes: list[Outcome], reference: list[float], clients: int) -> bool:
    def line(label: str, values: list[float]) -> str:
        return (f"{label:<50} {len(values):>8} {support.percentile(values, .5)*1000:>8.1f} {support.percentile(values, .95)*1000:>8.1f} "
                f"{support.percentile(values, .99)*1000:>8.1f} {max(values)*1000:>8.1f}")

    every = [latency for outcome in outcomes for latency in outcome.latencies]
    print(f"\nlatency = COMMIT of the crossing batch → spike.opened at each of {clients} clients")
    print(f"{'path':<50} {'receipts':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    print(line("crisiscenter, every round", every))
    for shape, label in (("one batch", "  one batch crosses (throttle idle)"), ("stream", "  stream (crossing batch mid-stream)")):
        values = [latency for outcome in outcomes if outcome.round.shape == shape for latency in outcome.latencies]
        if values:
            print(line(label, values))
    slowest = [max(outcome.latencies) for outcome in outcomes]
    print(line("crisiscenter, slowest client of each round", slowest))
    print(line("reference: PUBLISH → bare websockets server", reference))
    p50, p95 = support.percentile(every, .5), support.percentile(every, .95)
    reference_p50, reference_p95 = support.percentile(reference, .5), support.percentile(reference, .95)
    print(f"ratio crisiscenter/reference: p50 {p50 / max(reference_p50, 1e-6):.1f}x, p95 {p95 / max(reference_p95, 1e-6):.1f}x")

    print("\nper round (ms; the worker's and this process's wall clocks):")
    print(f"{'round':>5} {'shape':<10} {'crossing':>9} {'read':>5} {'commit→':>8} {'commit→':>8} {'detect→':>8} {'event→':>8} {'first→':>8} {'commit→':>8} "
          f"{'events':>7} {'updated':>8}   {'cpu: ws':>7} {'bench':>6} {'machine':>7}")
    print(f"{'':>5} {'':<10} {'batch':>9} {'upto':>5} {'queued':>8} {'detect':>8} {'event':>8} {'1st':>8} {'last':>8} {'last':>8} "
          f"{'ahead':>7} {'first':>8}")
    columns: dict[str, list[float]] = {"queued": [], "detect": [], "event": [], "first": [], "spread": []}
    for outcome in outcomes:
        round_ = outcome.round
        committed = round_.commits[round_.crossing]
        queued = round_.after_commit[round_.crossing] - committed
        built = datetime.fromisoformat(outcome.event["at"]).timestamp()
        first, last = committed + min(outcome.latencies), committed + max(outcome.latencies)
        # The evaluation that opened the spike saw the batches up to this one.
        read = max((index for index, window in enumerate(round_.window_after) if window <= outcome.event["data"]["window_count"]), default=-1)
        values = {"queued": queued, "detect": outcome.detection_started - committed, "event": built - outcome.detection_started,
                  "first": first - built, "spread": last - first}
        for key, value in values.items():
            columns[key].append(value)
        print(f"{round_.number:>5} {round_.shape:<10} {f'{round_.crossing + 1}/{len(round_.commits)}':>9} {read + 1:>5} "
              f"{queued*1000:>8.1f} {values['detect']*1000:>8.1f} {values['event']*1000:>8.1f} {values['first']*1000:>8.1f} "
              f"{values['spread']*1000:>8.1f} {(last - committed)*1000:>8.1f} {statistics.median(sum(ahead.values()) for ahead in outcome.ahead):>7.0f} "
              f"{sum(1 for ahead in outcome.ahead if ahead['spike.updated'] or ahead['spike.closed']):>8}   "
              f"{outcome.websocket_cpu:>7.0%} {outcome.bench_cpu:>6.0%} {outcome.machine_cpu:>7.0%}")
    print(f"{'median':>16} {'':>9} {'':>5} {statistics.median(columns['queued'])*1000:>8.1f} {statistics.median(columns['detect'])*1000:>8.1f} "
          f"{statistics.median(columns['event'])*1000:>8.1f} {statistics.median(columns['first'])*1000:>8.1f} "
          f"{statistics.median(columns['spread'])*1000:>8.1f} {statistics.median(slowest)*1000:>8.1f}")
    print("  crossing batch: which of the round's committed batches crossed; read up to: the last batch the opening evaluation saw;")
    print("  queued: the pipeline's after-commit work (its event, scheduling detect_spikes); detect: until the worker began the")
    print("  evaluation (broker, throttle countdown); event: evaluating, recording, explaining, alerting until the event was built;")
    print("  1st: the worker's commit, channels_redis and the WebSocket process to the first client; last: to the last client;")
    print("  events ahead: what a client (median) received during the surge before spike.opened; updated first: clients that")
    print("  got a spike.updated/closed of this spike BEFORE its spike.opened; cpu over the surge as shares of one core: the")
    print(f"  WebSocket process (one asyncio process), this process (clients + ingestion), the machine ({os.cpu_count()} cores)")
    for shape in ("one batch", "stream"):
        ahead = Counter()
        for outcome in outcomes:
            if outcome.round.shape == shape:
                for counted in outcome.ahead:
                    ahead.update(counted)
        receipts = sum(len(outcome.ahead) for outcome in outcomes if outcome.round.shape == shape)
        if receipts:
            per_client = ", ".join(f"{kind} {count / receipts:.1f}" for kind, count in ahead.most_common())
            print(f"  ahead of spike.opened, per client, {shape}: {per_client or 'nothing'}")
    passed = p95 <= TARGET_P95_SECONDS
    print(f"\ntarget p95 ≤ {TARGET_P95_SECONDS:.0f} s with {clients} clients: {'PASS' if passed else 'FAIL'} ({p95*1000:.0f} ms)")
    return passed


def milliseconds_range(value: str) -> tuple[float, float]:
    """An argparse type: "50-150" → (0.05, 0.15) seconds."""
    low, _dash, high = value.partition("-")
    try:
        bounds = (float(low) / 1000, float(high or low) / 1000)
    except ValueError:
        raise argparse.ArgumentTypeError("use MIN-MAX in milliseconds, e.g. 50-150") from None
    if not 0 <= bounds[0] <= bounds[1]:
        raise argparse.ArgumentTypeError("use MIN-MAX with 0 ≤ MIN ≤ MAX")
    return bounds


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=support.positive, default=int(os.environ.get("BENCH_SPIKE_CLIENTS", "200")))
    parser.add_argument("--rounds", type=support.positive, default=int(os.environ.get("BENCH_SPIKE_ROUNDS", "10")), help="half one batch, half stream")
    parser.add_argument("--concurrency", type=support.positive, default=int(os.environ.get("BENCH_CONCURRENCY", "3")), help="the worker's prefork children (the Procfile's default)")
    parser.add_argument("--stream-interval", type=milliseconds_range, default=os.environ.get("BENCH_SPIKE_STREAM_INTERVAL", "50-150"),
                        help="milliseconds between stream batches, drawn from this range (MIN-MAX)")
    return parser.parse_args(argv)


def run(arguments: argparse.Namespace) -> bool:
    if support.skipped_without_services(REDIS_URL):
        return True
    import redis

    started = time.monotonic()
    tweets = support.load_tweets()  # before anything is created: a missing data set leaves nothing behind
    env = support.django_env(database=DATABASE, redis_url=REDIS_URL)
    support.recreate_database(DATABASE)
    support.migrate(env)
    support.setup_django(env)
    publisher = redis.Redis.from_url(REDIS_URL)
    publisher.flushdb()
    from django.db import connections

    quiet_tweets = [tweet for tweet in tweets if tweet.label == "off-topic"]
    surge_tweets = {crisis: [tweet for tweet in tweets if tweet.crisis == crisis and tweet.label == "on-topic"] for crisis in SURGE_CRISES}
    alice, bob = setup_people()
    headers = support.member_headers(support.member_session(bob))
    log_dir = Path(tempfile.mkdtemp(prefix="bench-spike-to-screen-"))
    app_port, reference_port = support.processes.free_port(), support.processes.free_port()
    app_server = support.start_websocket_server(env, app_port)
    reference_server = support.start_reference_server(env, reference_port, REDIS_URL)
    worker = support.processes.start(
        [sys.executable, "-m", "celery", "-A", "crisiscenter", "worker", "--loglevel=INFO", f"--concurrency={arguments.concurrency}",
         "--pool=prefork", "--hostname=bench-spikes@%h", "--without-mingle", "--without-gossip"],
        env=env,
        log_path=log_dir / "worker.log",
    )
    ok = False
    try:
        support.wait_for_port(app_port, app_server)
        support.wait_for_port(reference_port, reference_server)
        support.processes.wait_for(
            lambda: "ready." in Path(worker.log_path).read_text(errors="replace"), timeout=90, what="the Celery worker", process=worker
        )
        low, high = (round(bound * 1000) for bound in arguments.stream_interval)
        print(f"{arguments.clients} WebSocket clients per round, {arguments.rounds} rounds (alternating one batch of {ONE_BATCH} / stream of "
              f"{STREAM_BATCH[0]}–{STREAM_BATCH[1]} mentions every {low}–{high} ms), "
              f"1 worker × --concurrency {arguments.concurrency} (prefork) on {os.cpu_count()} cores; set-up took {time.monotonic() - started:.0f} s")

        async def measure() -> tuple[list[Outcome], list[float]]:
            outcomes = []
            for number in range(1, arguments.rounds + 1):
                shape = "one batch" if number % 2 else "stream"
                round_ = await asyncio.to_thread(
                    prepare_round, number, shape, quiet_tweets=quiet_tweets, surge_tweets=surge_tweets, alice=alice, bob=bob,
                    stream_interval=arguments.stream_interval,
                )
                url = f"ws://127.0.0.1:{app_port}/ws/orgs/{round_.slug}/"
                outcome = await run_round(round_, url, headers, arguments.clients, worker, app_server.pid)
                outcomes.append(outcome)
                print(f"  round {number:>2} ({shape}): p50 {support.percentile(outcome.latencies, .5)*1000:.0f} ms, "
                      f"slowest {max(outcome.latencies)*1000:.0f} ms", flush=True)
            payload = json.dumps(outcomes[-1].event)
            reference = await reference_rounds(f"ws://127.0.0.1:{reference_port}/", arguments.clients, payload, arguments.rounds, publisher)
            return outcomes, reference

        outcomes, reference = asyncio.run(measure())
        ok = report(outcomes, reference, arguments.clients)
        print(f"whole benchmark: {time.monotonic() - started:.0f} s")
    finally:
        support.processes.stop(worker, timeout=30)
        support.stop_servers(app_server, reference_server)
        connections.close_all()
        publisher.flushdb()
        support.drop_database(DATABASE)
        if ok:
            shutil.rmtree(log_dir, ignore_errors=True)
        else:
            print(f"worker log kept in {log_dir}")
    return ok


def main(argv: list[str] | None = None) -> bool:
    """For bench/run.py: run in a fresh interpreter (this benchmark configures Django itself)."""
    return support.run_isolated(__file__, argv)


if __name__ == "__main__":
    sys.exit(0 if run(parse_arguments(sys.argv[1:])) else 1)
