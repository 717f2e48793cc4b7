from django.apps import AppConfig


class PlaybooksConfig(AppConfig):
    """Crisis plans (scenarios, roles, checklists, key messages) and incidents opened from them."""

    name = "playbooks"
