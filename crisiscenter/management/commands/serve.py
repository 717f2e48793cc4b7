from __future__ import annotations

import uvicorn
from django.conf import settings
from django.core.management.base import BaseCommand

from crisiscenter.celery import app as celery_app
from crisiscenter.embedded import EmbeddedBackground


class Command(BaseCommand):
    help = (
        "Serve HTTP, WebSockets and static files from one ASGI process. In the embedded mode "
        "(no REDIS_URL) the Celery worker and beat run inside it too."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--no-background", action="store_true", help="do not run the embedded worker and beat")

    def handle(self, *args, host: str, port: int, no_background: bool, **options):
        background = None
        if settings.EMBEDDED and not no_background:
            background = EmbeddedBackground(celery_app)
            background.start()
        mode = "embedded" if settings.EMBEDDED else "production"
        self.stdout.write(self.style.SUCCESS(f"Crisis Center ({mode} mode) on http://{host}:{port}/"))
        try:
            uvicorn.Server(
                uvicorn.Config("crisiscenter.asgi:application", host=host, port=port, lifespan="off", log_level="info")
            ).run()
        finally:
            if background is not None:
                background.stop()
