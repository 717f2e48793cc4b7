"""The Celery application shared by the production worker/beat and the embedded runner."""

import gc
import os

from celery import Celery
from celery.signals import worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crisiscenter.settings")

app = Celery("crisiscenter")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Celery's Django fix-up closes the database connection before and after every task unless
# this is set: a new PostgreSQL session per task — a fork, an authentication and cold
# catalogue caches on the server, a third of the machine at crisis volume (bench_ingest).
# With it the fix-up closes only every this-many tasks, and crisiscenter/signals.py recycles
# connections as Django does around a request (after an error, past CONN_MAX_AGE).
app.conf.update(CELERY_DB_REUSE_MAX=1_000)
app.autodiscover_tasks()


@worker_process_init.connect
def _freeze_what_every_task_shares(**_kwargs) -> None:
    """Move everything a freshly forked worker holds — Django, the language and sentiment
    models — out of the garbage collector's sight. Ingestion allocates a few dicts per
    mention, which keeps triggering full collections; without this each one walks those
    hundreds of thousands of long-lived objects again (a quarter of a worker's time at
    crisis volume, measured by bench/bench_ingest.py)."""
    from monitoring import enrich  # noqa: F401  (loaded now, so it is frozen too)

    gc.freeze()
