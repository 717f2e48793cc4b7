from django.apps import AppConfig


class CrisisCenterConfig(AppConfig):
    name = "crisiscenter"
    verbose_name = "Crisis Center"

    def ready(self) -> None:
        from crisiscenter import signals  # noqa: F401 - connects the task audit context
