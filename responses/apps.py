from django.apps import AppConfig


class ResponsesConfig(AppConfig):
    """Statements, approvals, publishing, replies, scheduled posts and the public crisis hub."""

    name = "responses"
