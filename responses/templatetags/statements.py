"""Template filters of the statement pages."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils.dateparse import parse_datetime

register = template.Library()


@register.filter
def as_datetime(value) -> datetime | None:
    """An ISO 8601 string as stored in a version's promises, as a datetime (None if it is not one)."""
    if isinstance(value, datetime):
        return value
    try:
        return parse_datetime(str(value or ""))
    except ValueError:
        return None
