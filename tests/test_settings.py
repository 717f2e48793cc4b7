"""Settings come from the environment and fail loudly at start-up on bad values."""

from __future__ import annotations

import subprocess

import pytest

from tests import processes

GOOD_SECRET = "a-real-secret-key-that-is-long-enough-0123456789"


def _boot(**env: str) -> subprocess.CompletedProcess:
    """Import the settings in a fresh interpreter, as a server process would at start-up."""
    return subprocess.run(
        [processes.python(), "-c", "import django; django.setup(); from django.conf import settings; print(settings.EMBEDDED, settings.DEBUG)"],
        cwd=processes.ROOT,
        env=processes.clean_env(DJANGO_SETTINGS_MODULE="crisiscenter.settings", **env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_no_environment_at_all_gives_the_embedded_mode(tmp_path):
    result = _boot(CRISISCENTER_DATA_DIR=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "True"]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DEBUG": "maybe"}, "DEBUG='maybe' is not a boolean"),
        ({"DEBUG": "false"}, "SECRET_KEY must be set"),
        ({"DEBUG": "false", "SECRET_KEY": "insecure-embedded-development-key-do-not-use-in-production"}, "SECRET_KEY must be set"),
        ({"DEBUG": "false", "SECRET_KEY": "short"}, "SECRET_KEY must be set"),
        ({"DEBUG": "false", "SECRET_KEY": GOOD_SECRET}, "ALLOWED_HOSTS must list"),
        ({"DATABASE_URL": "mysql://db/crisis"}, "DATABASE_URL must start with one of"),
        ({"DATABASE_URL": "postgres://:5432/crisis"}, "DATABASE_URL has no host name"),
        ({"DATABASE_URL": "postgres://db:notaport/crisis"}, "DATABASE_URL is not a valid URL"),
        ({"REDIS_URL": "http://cache:6379"}, "REDIS_URL must start with one of"),
        ({"EMAIL_PORT": "twenty-five"}, "EMAIL_PORT='twenty-five' is not a whole number"),
        ({"EMAIL_PORT": "70000"}, "EMAIL_PORT=70000 is above the maximum"),
        ({"EMAIL_USE_TLS": "true", "EMAIL_USE_SSL": "true"}, "mutually exclusive"),
        ({"INTEGRATION_X_ENABLED": "perhaps"}, "INTEGRATION_X_ENABLED='perhaps' is not a boolean"),
        ({"ALLOWED_HOSTS": "a.example,,b.example"}, "has an empty item"),
        ({"CSRF_TRUSTED_ORIGINS": "crisis.example"}, "must start with http:// or https://"),
        ({"CELERY_VISIBILITY_TIMEOUT": "600"}, "CELERY_VISIBILITY_TIMEOUT must exceed"),
        ({"CELERY_TASK_TIME_LIMIT": "100", "CELERY_TASK_SOFT_TIME_LIMIT": "200"}, "CELERY_TASK_TIME_LIMIT must be longer"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL='LOUD' is not a logging level"),
        ({"WEBSOCKET_URL": "http://ws.example"}, "WEBSOCKET_URL must start with one of ws://, wss://"),
        ({"FIELD_ENCRYPTION_KEY": "not-a-fernet-key"}, "FIELD_ENCRYPTION_KEY must be Fernet keys"),
    ],
)
def test_bad_values_refuse_to_start_with_a_clear_message(tmp_path, env, message):
    result = _boot(CRISISCENTER_DATA_DIR=str(tmp_path), **env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr


def test_production_values_give_the_production_mode(tmp_path):
    result = _boot(
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/test",
        REDIS_URL="redis://127.0.0.1:6379/0",
        SECRET_KEY=GOOD_SECRET,
        ALLOWED_HOSTS="crisis.example",
        CRISISCENTER_DATA_DIR=str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False"]


def test_integrations_can_be_switched_off_one_by_one(tmp_path):
    result = subprocess.run(
        [processes.python(), "-c", "import django; django.setup(); from django.conf import settings; print(sorted(k for k, v in settings.INTEGRATIONS.items() if not v))"],
        cwd=processes.ROOT,
        env=processes.clean_env(
            DJANGO_SETTINGS_MODULE="crisiscenter.settings",
            CRISISCENTER_DATA_DIR=str(tmp_path),
            INTEGRATION_X_ENABLED="off",
            INTEGRATION_SLACK_ENABLED="0",
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.strip() == "['slack', 'x']"


def test_celery_is_configured_for_no_lost_work():
    from crisiscenter.celery import app

    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.worker_prefetch_multiplier == 1
    assert app.conf.task_serializer == "json"
    assert app.conf.accept_content == ["json"]
    assert app.conf.task_time_limit > app.conf.task_soft_time_limit > 0
    from django.conf import settings

    assert app.conf.broker_transport_options["visibility_timeout"] > settings.MAX_TASK_COUNTDOWN_SECONDS
    assert app.conf.beat_scheduler == "django_celery_beat.schedulers:DatabaseScheduler"
