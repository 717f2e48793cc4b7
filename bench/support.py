"""Helpers for the benchmarks that need a PostgreSQL database of their own (bench_ingest,
bench_inbox, bench_spike_detection, bench_spike_to_screen), and for those that drive the
production WebSocket process with many clients (bench_realtime_fanout,
bench_spike_to_screen). Not a benchmark itself: bench/run.py only runs ``bench_*.py``.

Each of those benchmarks configures Django for its own throwaway database, and run.py runs
every benchmark in one interpreter, where Django can be set up only once. So their
``main()`` re-runs the module in a fresh interpreter (``run_isolated``) and reports whether
it succeeded.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone as dt_timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import processes  # noqa: E402  (after the path insert; helpers for real worker processes)

# Trust authentication as user postgres, as in CI and the dev container.
POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432").rstrip("/")
CRISISLEX_DIR = Path(os.environ.get("BENCH_CRISISLEX_DIR", ROOT.parent / "shared" / "data" / "crisislex-t6"))
SECRET_KEY = "benchmark-secret-key-0123456789abcdefghijklmnop"
# Twitter snowflake ids carry their creation time: milliseconds since this epoch, shifted by 22 bits.
TWITTER_EPOCH_MS = 1288834974657


def run_isolated(script: str, argv: list[str] | None) -> bool:
    """Run ``script`` (a benchmark module) in a fresh interpreter; its output goes straight
    through. True when it exited 0 (ran and met its target, or skipped)."""
    return subprocess.run([sys.executable, script, *(argv or [])], cwd=ROOT).returncode == 0


def positive(value: str) -> int:
    """An argparse type: a whole number of at least 1."""
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def database_url(name: str) -> str:
    return f"{POSTGRES_URL}/{name}"


def connect(name: str = "postgres"):
    """A plain psycopg2 connection (autocommit) to database ``name``."""
    import psycopg2

    connection = psycopg2.connect(database_url(name).replace("postgres://", "postgresql://", 1))
    connection.autocommit = True
    return connection


def skipped_without_services(redis_url: str) -> bool:
    """True, having said why, when PostgreSQL or Redis is unreachable: the benchmark is skipped."""
    missing = services_missing(redis_url)
    if missing:
        print(f"SKIPPED: {missing}")
    return missing is not None


def services_missing(redis_url: str) -> str | None:
    """Why the benchmark cannot run here (PostgreSQL or Redis unreachable), or None."""
    import redis

    try:
        connect().close()
    except Exception as error:
        return f"PostgreSQL not reachable at {POSTGRES_URL} ({error})"
    try:
        redis.Redis.from_url(redis_url, socket_timeout=2).ping()
    except Exception as error:
        return f"Redis not reachable at {redis_url} ({error})"
    return None


def database_exists(name: str) -> bool:
    with connect() as admin, admin.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        return cursor.fetchone() is not None


def _administer(statement: str) -> None:
    admin = connect()
    try:
        with admin.cursor() as cursor:
            cursor.execute(statement)
    finally:
        admin.close()


def drop_database(name: str) -> None:
    _administer(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def recreate_database(name: str) -> None:
    """An empty database ``name`` (dropping what a crashed earlier run left behind)."""
    drop_database(name)
    _administer(f'CREATE DATABASE "{name}"')


def django_env(*, database: str, redis_url: str, **extra: str) -> dict[str, str]:
    """Production-mode environment (PostgreSQL + Redis) for this process and its workers."""
    return processes.clean_env(
        DATABASE_URL=database_url(database),
        REDIS_URL=redis_url,
        SECRET_KEY=SECRET_KEY,
        ALLOWED_HOSTS="testserver,127.0.0.1,localhost",
        DJANGO_SETTINGS_MODULE="crisiscenter.settings",
        LOG_LEVEL="WARNING",
        **extra,
    )


def migrate(env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)


def setup_django(env: dict[str, str]) -> None:
    os.environ.clear()
    os.environ.update(env)
    import django

    django.setup()


@dataclass(frozen=True)
class Tweet:
    tweet_id: int
    text: str
    crisis: str  # the data set's folder, e.g. 2013_Boston_Bombings
    label: str  # on-topic / off-topic

    @property
    def posted_at(self) -> datetime:
        return datetime.fromtimestamp(((self.tweet_id >> 22) + TWITTER_EPOCH_MS) / 1000, tz=dt_timezone.utc)


def load_tweets() -> list[Tweet]:
    """Every tweet of CrisisLex T6 (about 60,000, six crises of 2012–2013), read at run time."""
    tweets: list[Tweet] = []
    for path in sorted(CRISISLEX_DIR.glob("*/*.csv")):
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            next(reader)  # tweet id, tweet, label
            for row in reader:
                if len(row) >= 3 and row[1].strip():
                    tweets.append(Tweet(int(row[0].strip().strip("'")), row[1], path.parent.name, row[2].strip()))
    if not tweets:
        raise RuntimeError(f"no tweets found under {CRISISLEX_DIR}")
    return tweets


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_text(value: object) -> str:
    """One field in PostgreSQL's COPY text format (None is NULL)."""
    if value is None:
        return "\\N"
    return str(value).translate(_COPY_ESCAPES)


# --- WebSocket servers and clients ------------------------------------------------------------

# The floor for "Redis to N sockets" on this machine, without Django or Channels: a bare
# ``websockets`` server that subscribes to one Redis pub/sub channel and forwards each message
# to all its sockets. Arguments: port, Redis URL, channel.
REFERENCE_CHANNEL = "bench-reference"
REFERENCE_SERVER = r'''
import asyncio, sys, redis.asyncio as redis, websockets
clients = set()
async def handler(socket):
    clients.add(socket)
    try:
        await socket.wait_closed()
    finally:
        clients.discard(socket)
async def relay():
    pubsub = redis.Redis.from_url(sys.argv[2]).pubsub()
    await pubsub.subscribe(sys.argv[3])
    async for message in pubsub.listen():
        if message["type"] == "message":
            websockets.broadcast(clients, message["data"].decode())
async def main():
    async with websockets.serve(handler, "127.0.0.1", int(sys.argv[1]), max_queue=None):
        await relay()
asyncio.run(main())
'''


def start_websocket_server(env: dict[str, str], port: int) -> subprocess.Popen:
    """The production WebSocket process: the Procfile's ``websocket`` (uvicorn + Channels) on 127.0.0.1."""
    return subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "crisiscenter.asgi:application", "--port", str(port), "--no-access-log", "--log-level", "warning"],
        cwd=ROOT, env=env,
    )


def start_reference_server(env: dict[str, str], port: int, redis_url: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", REFERENCE_SERVER, str(port), redis_url, REFERENCE_CHANNEL], cwd=ROOT, env=env)


def stop_servers(*servers: subprocess.Popen) -> None:
    for server in servers:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"port {port} did not open")


def member_session(user) -> str:
    """A logged-in session for ``user`` in the database the servers read: its key, for the
    ``sessionid`` cookie of every socket that user opens."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return session.session_key


def member_headers(session_key: str) -> dict[str, str]:
    """What a browser of an allowed origin sends with the WebSocket handshake."""
    return {"Cookie": f"sessionid={session_key}", "Origin": "http://127.0.0.1"}


async def connect_all(url: str, count: int, headers: dict[str, str], expect_ready: bool):
    """``count`` open sockets to ``url``; with ``expect_ready``, each has had its
    ``connection.ready`` (so its consumer has joined the organisation's group)."""
    import websockets

    sockets = []
    for start in range(0, count, 50):  # in waves, as browsers would arrive
        batch = await asyncio.gather(
            *(websockets.connect(url, additional_headers=headers, max_queue=None, open_timeout=60) for _ in range(start, min(count, start + 50)))
        )
        if expect_ready:
            await asyncio.gather(*(client.recv() for client in batch))
        sockets.extend(batch)
    return sockets
