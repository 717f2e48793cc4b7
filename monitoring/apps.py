from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    """Sources, watch queries, the ingestion pipeline, the shared inbox, volume series."""

    name = "monitoring"
