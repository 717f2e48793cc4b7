"""The Celery application shared by the production worker/beat and the embedded runner."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crisiscenter.settings")

app = Celery("crisiscenter")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
