"""The embedded mode's background half: a Celery worker and beat inside the web process.

They run the very tasks and the very beat schedule production runs, over Celery's in-memory
transport, so a fresh clone needs no broker. Call ``start()`` once the Django app is ready,
``stop()`` on shutdown.
"""

from __future__ import annotations

import logging
import socket
import threading

from celery import Celery
from celery.beat import EmbeddedService
from celery.worker import WorkController

logger = logging.getLogger(__name__)


class EmbeddedBackground:
    def __init__(self, app: Celery, *, concurrency: int = 2):
        if not app.conf.broker_url.startswith("memory://"):
            raise RuntimeError("The embedded worker only runs over the in-memory transport (REDIS_URL is unset).")
        self.app = app
        self.concurrency = concurrency
        self.worker: WorkController | None = None
        self.worker_thread: threading.Thread | None = None
        self.beat = None

    def start(self) -> None:
        # Broadcast remote control needs a fanout exchange the memory transport lacks, and
        # there is only this one worker to control anyway.
        self.app.conf.worker_enable_remote_control = False
        self.worker = WorkController(
            app=self.app,
            hostname=f"embedded@{socket.gethostname()}",
            pool="threads",
            concurrency=self.concurrency,
            without_heartbeat=True,
            without_mingle=True,
            without_gossip=True,
            ready_callback=None,
        )
        self.worker_thread = threading.Thread(target=self.worker.start, name="embedded-celery-worker", daemon=True)
        self.worker_thread.start()
        # The same database scheduler as production beat (Service would default to a file).
        self.beat = EmbeddedService(self.app, thread=True, scheduler_cls=self.app.conf.beat_scheduler)
        self.beat.start()
        # Production workers announce themselves on worker_ready; this bare WorkController
        # doesn't send that signal, so announce it here, through the broker like beat does.
        from crisiscenter.tasks import record_worker_heartbeat

        record_worker_heartbeat.delay()
        logger.info("Embedded Celery worker (%s threads) and beat started", self.concurrency)

    def stop(self) -> None:
        if self.beat is not None:
            self.beat.stop()
        if self.worker is not None:
            self.worker.stop(in_sighandler=False)
        if self.worker_thread is not None:
            self.worker_thread.join(timeout=10)
