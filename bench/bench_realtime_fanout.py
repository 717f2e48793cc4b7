"""Commit-to-screen latency of the real-time path, with N WebSocket clients connected.

Path measured: a service-style write commits in this process → `broadcast_to_organization`
sends on commit through channels_redis → the production WebSocket process (uvicorn +
Channels consumer, session-authenticated, membership-checked) → every connected client.

Reference, measured in the same run with the same clients: a bare `websockets` server that
subscribes to a Redis pub/sub channel and forwards each message to all its sockets — the
floor for "Redis to N sockets" on this machine, without Django or Channels.

Targets (issue: live war room): p95 ≤ 1 s with 200 clients; p99 ≤ 2 s with 1,000 clients.
Needs Redis (BENCH_REDIS_URL, default redis://127.0.0.1:6379/8).
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import support  # noqa: E402

ROOT = support.ROOT
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/8")
CLIENT_COUNTS = [int(n) for n in os.environ.get("BENCH_CLIENTS", "200,1000").split(",")]
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "15"))

async def measure(sockets, send_round) -> list[float]:
    """Run ROUNDS sends; return the latency (s) of every delivery to every socket."""
    latencies: list[float] = []
    for round_number in range(ROUNDS):
        sent_at = await send_round(round_number)
        arrivals = await asyncio.gather(*(socket.recv() for socket in sockets))
        received = time.perf_counter()
        for payload in arrivals:
            assert str(round_number) in payload, "a delivery from another round arrived"
        # recv() returns as the gather completes; per-socket stamps would need a reader task
        # per socket, which costs more than it measures. Use the slowest-socket bound.
        latencies.extend([received - sent_at] * len(sockets))
        await asyncio.sleep(0.05)
    return latencies


def setup_django(data_dir: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "CRISISCENTER_DATA_DIR": str(data_dir),
        "REDIS_URL": REDIS_URL,
        "SECRET_KEY": "benchmark-secret-key-0123456789abcdefghijklmnop",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_SETTINGS_MODULE": "crisiscenter.settings",
        "LOG_LEVEL": "WARNING",
    }
    env.pop("DATABASE_URL", None)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    os.environ.update({k: v for k, v in env.items() if k in {"CRISISCENTER_DATA_DIR", "REDIS_URL", "SECRET_KEY", "ALLOWED_HOSTS", "DJANGO_SETTINGS_MODULE", "LOG_LEVEL"}})
    import django

    django.setup()
    return env


def main() -> bool:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping()
    except Exception as error:
        print(f"SKIPPED: Redis not reachable at {REDIS_URL} ({error})")
        return True

    data_dir = Path(tempfile.mkdtemp(prefix="bench-realtime-"))
    env = setup_django(data_dir)

    from django.db import transaction

    from crisiscenter.models import Membership, Organization, Role, User
    from crisiscenter.realtime import broadcast_to_organization

    organization = Organization.objects.create(name="Bench", slug="bench")
    user = User.objects.create_user("bench-user", password="not-used-by-the-bench-0123")
    Membership.unscoped.create(organization=organization, user=user, role=Role.RESPONDER)
    session_key = support.member_session(user)

    app_port, reference_port = support.processes.free_port(), support.processes.free_port()
    app_server = support.start_websocket_server(env, app_port)
    reference_server = support.start_reference_server(env, reference_port, REDIS_URL)
    ok = True
    try:
        support.wait_for_port(app_port, app_server)
        support.wait_for_port(reference_port, reference_server)
        publisher = redis.Redis.from_url(REDIS_URL)

        async def run(count: int):
            app_sockets = await support.connect_all(
                f"ws://127.0.0.1:{app_port}/ws/orgs/bench/", count, support.member_headers(session_key), expect_ready=True,
            )
            reference_sockets = await support.connect_all(f"ws://127.0.0.1:{reference_port}/", count, {}, expect_ready=False)

            async def send_app(round_number: int) -> float:
                def commit():
                    with transaction.atomic():
                        broadcast_to_organization(organization=organization, event_type="bench.tick", data={"round": round_number})
                        started = time.perf_counter()
                    return started

                return await asyncio.to_thread(commit)

            async def send_reference(round_number: int) -> float:
                started = time.perf_counter()
                await asyncio.to_thread(publisher.publish, support.REFERENCE_CHANNEL, json.dumps({"round": round_number}))
                return started

            app = await measure(app_sockets, send_app)
            reference = await measure(reference_sockets, send_reference)
            for socket in app_sockets + reference_sockets:
                await socket.close()
            return app, reference

        print(f"rounds per case: {ROUNDS}; latency = commit (or PUBLISH) until the last of N sockets has the event")
        print(f"{'clients':>8} {'path':<40} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}")
        for count in CLIENT_COUNTS:
            app, reference = asyncio.run(run(count))
            for label, values in (("crisiscenter (channels_redis)", app), ("reference (redis pub/sub → websockets)", reference)):
                print(f"{count:>8} {label:<40} {support.percentile(values, .5)*1000:>8.1f} {support.percentile(values, .95)*1000:>8.1f} "
                      f"{support.percentile(values, .99)*1000:>8.1f} {max(values)*1000:>8.1f}")
            ratio = statistics.median(app) / max(statistics.median(reference), 1e-6)
            target = (0.95, 1.0) if count <= 200 else (0.99, 2.0)
            achieved = support.percentile(app, target[0])
            verdict = "meets" if achieved <= target[1] else "MISSES"
            ok &= achieved <= target[1]
            print(f"{count:>8} ratio of medians app/reference: {ratio:.1f}x; target p{int(target[0]*100)} ≤ {target[1]:.0f} s: {verdict} ({achieved*1000:.0f} ms)")
    finally:
        support.stop_servers(app_server, reference_server)
    return ok
