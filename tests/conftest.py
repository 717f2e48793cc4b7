"""Shared fixtures: the personas, their clients, and the rules for service-backed tests.

alice owns org A, bob is a responder in A, carol a manager in A, dave a viewer in A, and
charlie owns org B and is an outsider to A.
"""

from __future__ import annotations

import os
import subprocess

import pytest
from django.db import connection
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from crisiscenter.models import Role
from tests.factories import PASSWORD, MembershipFactory, OrganizationFactory, UserFactory

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"


def pytest_configure(config):
    from django.conf import settings

    # Hashing at production strength costs ~0.5 s per persona; servers started by tests
    # (embedded, Procfile, browser) keep the real hashers.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="session", autouse=True)
def _close_stray_database_sessions(django_db_setup, django_db_blocker):
    """Async consumers keep a connection open in asgiref's worker thread; end them so the
    test database can be dropped cleanly at the end of the run."""
    yield
    with django_db_blocker.unblock():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )


# --- Service-backed tests: skipped on a bare laptop, never in CI -----------------------
def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.get_closest_marker("redis") and not os.environ.get("TEST_REDIS_URL"):
            item.add_marker(pytest.mark.skip(reason="needs Redis: TEST_REDIS_URL is not set (run `make test` with Redis up)"))
        if item.get_closest_marker("postgres") and not os.environ.get("DATABASE_URL", "").startswith("postgres"):
            item.add_marker(pytest.mark.skip(reason="needs PostgreSQL: DATABASE_URL is not a postgres:// URL"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    needs_service = item.get_closest_marker("redis") or item.get_closest_marker("postgres")
    if REQUIRE_SERVICES and needs_service and report.skipped:
        report.outcome = "failed"
        report.longrepr = f"REQUIRE_SERVICES=1 but this service test was skipped: {report.longrepr}"


@pytest.fixture(autouse=True)
def _plain_static_storage(settings):
    # The hashed-manifest storage needs collectstatic; tests render templates without it.
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}


@pytest.fixture(autouse=True)
def _fresh_axes_and_cache():
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture
def eager_celery():
    """Run tasks in-process. The Celery app read its settings at start-up, so flip its config."""
    from crisiscenter.celery import app as celery_app

    previous = celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = previous


@pytest.fixture
def sent_events(monkeypatch):
    """Every (group, event) the real-time path sends; the channel layer is the boundary."""
    sent: list[tuple[str, dict]] = []
    monkeypatch.setattr("crisiscenter.realtime.send_now", lambda group, event: sent.append((group, event)))
    return sent


@pytest.fixture
def redis_url() -> str:
    return os.environ["TEST_REDIS_URL"]


@pytest.fixture
def is_postgres() -> bool:
    return connection.vendor == "postgresql"


# --- Personas ---------------------------------------------------------------------------
@pytest.fixture
def org_a(db):
    return OrganizationFactory(name="Acme Foods", slug="acme")


@pytest.fixture
def org_b(db):
    return OrganizationFactory(name="Bravo Air", slug="bravo")


def _member(organization, username: str, role: Role):
    user = UserFactory(username=username)
    return MembershipFactory(organization=organization, user=user, role=role)


@pytest.fixture
def alice_membership(org_a):
    return _member(org_a, "alice", Role.OWNER)


@pytest.fixture
def bob_membership(org_a):
    return _member(org_a, "bob", Role.RESPONDER)


@pytest.fixture
def carol_membership(org_a):
    return _member(org_a, "carol", Role.MANAGER)


@pytest.fixture
def dave_membership(org_a):
    return _member(org_a, "dave", Role.VIEWER)


@pytest.fixture
def charlie_membership(org_b):
    return _member(org_b, "charlie", Role.OWNER)


# erin is an admin in A (the role between manager and owner); frank is a second responder
# in A for the others to promote, demote and remove.
@pytest.fixture
def erin_membership(org_a):
    return _member(org_a, "erin", Role.ADMIN)


@pytest.fixture
def frank_membership(org_a):
    return _member(org_a, "frank", Role.RESPONDER)


@pytest.fixture
def erin(erin_membership):
    return erin_membership.user


@pytest.fixture
def frank(frank_membership):
    return frank_membership.user


@pytest.fixture
def alice(alice_membership):
    return alice_membership.user


@pytest.fixture
def bob(bob_membership):
    return bob_membership.user


@pytest.fixture
def carol(carol_membership):
    return carol_membership.user


@pytest.fixture
def dave(dave_membership):
    return dave_membership.user


@pytest.fixture
def charlie(charlie_membership):
    return charlie_membership.user


@pytest.fixture
def personas(alice, bob, carol, dave, charlie):
    return {"alice": alice, "bob": bob, "carol": carol, "dave": dave, "charlie": charlie, "anonymous": None}


@pytest.fixture
def login_client(client):
    """Return a function that gives a Django test client logged in as a persona (None: anonymous)."""

    def make(user):
        from django.test import Client

        browser = Client()
        if user is not None:
            browser.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
        return browser

    return make


@pytest.fixture
def api_client_for():
    """Return a function that gives a DRF client authenticated with the persona's API token."""

    def make(user):
        api = APIClient()
        if user is not None:
            token, _ = Token.objects.get_or_create(user=user)
            api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return api

    return make


@pytest.fixture
def persona_password() -> str:
    return PASSWORD


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """TEST_DB_SUFFIX lets two suites share one PostgreSQL server without clobbering each other."""
    from django.conf import settings

    suffix = os.environ.get("TEST_DB_SUFFIX")
    if suffix:
        test_settings = settings.DATABASES["default"].setdefault("TEST", {})
        test_settings["NAME"] = f"test_{settings.DATABASES['default']['NAME']}_{suffix}"


# --- Real servers -----------------------------------------------------------------------
@pytest.fixture(scope="session")
def embedded_server(tmp_path_factory):
    """`manage.py serve` in the embedded mode, exactly as `make run` starts it, on a fresh
    SQLite database with the demo organisation. Yields its base URL."""
    import urllib.request

    from tests import processes

    data_dir = tmp_path_factory.mktemp("embedded")
    env = processes.clean_env(CRISISCENTER_DATA_DIR=str(data_dir), WORKER_HEARTBEAT_SECONDS="2")
    for command in (["migrate", "--noinput", "-v", "0"], ["demo_setup"]):
        subprocess.run([processes.python(), "manage.py", *command], cwd=processes.ROOT, env=env, check=True, capture_output=True)
    port = processes.free_port()
    server = processes.start(
        [processes.python(), "manage.py", "serve", "--port", str(port)], env=env, log_path=data_dir / "serve.log"
    )
    base_url = f"http://127.0.0.1:{port}"
    processes.wait_for(
        lambda: urllib.request.urlopen(f"{base_url}/accounts/login/", timeout=2).status == 200,
        timeout=60,
        what="the embedded server",
        process=server,
    )
    server.base_url = base_url
    server.data_dir = data_dir
    yield server
    processes.stop(server)
