"""`make test`: find PostgreSQL and Redis, point the suite at them, run pytest.

On a developer machine without the services the suite still runs (on SQLite, without the
integration tests) and says loudly what it skipped. With REQUIRE_SERVICES=1 (CI), a missing
service is an error and any skipped service test fails the run.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/9"


def reachable(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=1.5):
            return True
    except OSError:
        return False


def banner(lines: list[str]) -> None:
    width = max(len(line) for line in lines) + 4
    print("!" * width, file=sys.stderr)
    for line in lines:
        print(f"! {line.ljust(width - 4)} !", file=sys.stderr)
    print("!" * width, file=sys.stderr)


def main() -> int:
    env = dict(os.environ)
    required = env.get("REQUIRE_SERVICES") == "1"
    database_url = env.get("TEST_DATABASE_URL", DEFAULT_DATABASE_URL)
    redis_url = env.get("TEST_REDIS_URL", DEFAULT_REDIS_URL)
    missing = []
    if reachable(database_url):
        env["DATABASE_URL"] = database_url
    else:
        env.pop("DATABASE_URL", None)
        missing.append(f"PostgreSQL at {database_url}: suite runs on SQLite; tests marked 'postgres' are SKIPPED")
    if reachable(redis_url):
        env["TEST_REDIS_URL"] = redis_url
    else:
        env.pop("TEST_REDIS_URL", None)
        missing.append(f"Redis at {redis_url}: tests marked 'redis' are SKIPPED")
    # Unit tests run the embedded wiring (in-memory broker and layer); integration tests
    # point their own clients at TEST_REDIS_URL.
    env.pop("REDIS_URL", None)
    env.setdefault("SECRET_KEY", "test-only-secret-key-that-is-long-enough-0123456789")
    env.setdefault("DEBUG", "false")
    env.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
    env.setdefault("CRISISCENTER_DATA_DIR", str(ROOT / "var" / "test"))
    if missing:
        banner(["Services not reachable:"] + missing)
        if required:
            print("REQUIRE_SERVICES=1: refusing to run without them.", file=sys.stderr)
            return 2
    command = [sys.executable, "-m", "pytest", *sys.argv[1:]]
    return subprocess.call(command, cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main())
