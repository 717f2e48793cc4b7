"""Start real server and worker processes for integration tests, and wait for them."""

from __future__ import annotations

import os
import re
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(condition: Callable[[], bool], *, timeout: float, what: str, process: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"process exited with {process.returncode} while waiting for {what}:\n{read_log(process)}")
        try:
            if condition():
                return
        except Exception:  # not up yet
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}" + (f":\n{read_log(process)}" if process else ""))


def health(base_url: str) -> tuple[int, dict]:
    """GET /healthz: (status code, report), whether it answered 200 or 503."""
    import json
    import urllib.error

    try:
        response = urllib.request.urlopen(f"{base_url}/healthz", timeout=5)
        return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def procfile() -> dict[str, str]:
    """The Procfile's processes: name -> command."""
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip() and not line.startswith("#"))


def read_log(process: subprocess.Popen) -> str:
    log = getattr(process, "log_path", None)
    return Path(log).read_text(errors="replace")[-4000:] if log else ""


def start(command: list[str], *, env: dict[str, str], log_path: Path, cwd: Path = ROOT) -> subprocess.Popen:
    log = open(log_path, "wb")
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    process.log_path = log_path
    return process


def stop(process: subprocess.Popen, timeout: float = 10) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout)


def clean_env(**overrides: str) -> dict[str, str]:
    """The parent's environment minus everything that selects a run mode, plus ``overrides``."""
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "CRISISCENTER_DATA_DIR", "DJANGO_SETTINGS_MODULE", "PYTEST_CURRENT_TEST"}}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(overrides)
    return env


def python() -> str:
    return sys.executable


def database_url_for_current_test_db() -> str:
    """A postgres:// URL pointing at the database this test run uses."""
    from django.db import connection

    params = connection.settings_dict
    user = params.get("USER") or "postgres"
    host = params.get("HOST") or "127.0.0.1"
    port = params.get("PORT") or 5432
    return f"postgres://{user}@{host}:{port}/{params['NAME']}"


class FormBrowser:
    """Just enough of a browser for a form login with CSRF."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.cookies = CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))

    def get(self, path: str):
        return self.opener.open(self.base_url + path, timeout=10)

    def post(self, path: str, fields: dict[str, str]):
        page = self.get(path).read().decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        body = urllib.parse.urlencode({**fields, "csrfmiddlewaretoken": token}).encode()
        request = urllib.request.Request(self.base_url + path, data=body, headers={"Referer": self.base_url + path})
        return self.opener.open(request, timeout=10)

    def cookie(self, name: str) -> str:
        return next(cookie.value for cookie in self.cookies if cookie.name == name)


def start_worker(redis_url: str, tmp_path: Path, name: str, *, timeout: float = 60, **extra_env: str) -> subprocess.Popen:
    """A real Celery worker (one process) on the current test database and ``redis_url``,
    ready to take tasks; stop it with ``stop``."""
    env = clean_env(
        DATABASE_URL=database_url_for_current_test_db(),
        REDIS_URL=redis_url,
        SECRET_KEY="integration-test-secret-key-0123456789abcdef",
        ALLOWED_HOSTS="localhost",
        **extra_env,
    )
    process = start(
        [python(), "-m", "celery", "-A", "crisiscenter", "worker", "--loglevel=INFO", "--concurrency=1",
         f"--hostname={name}@%h", "--without-mingle", "--without-gossip"],
        env=env,
        log_path=tmp_path / f"{name}.log",
    )
    wait_for(lambda: "ready." in read_log(process), timeout=timeout, what=f"worker {name} to be ready", process=process)
    return process

