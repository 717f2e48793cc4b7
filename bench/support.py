"""Helpers for the benchmarks that need a PostgreSQL database of their own (bench_ingest,
bench_inbox). Not a benchmark itself: bench/run.py only runs ``bench_*.py``.

Each of those benchmarks configures Django for its own throwaway database, and run.py runs
every benchmark in one interpreter, where Django can be set up only once. So their
``main()`` re-runs the module in a fresh interpreter (``run_isolated``) and reports whether
it succeeded.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
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
