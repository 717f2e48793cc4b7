"""The one shape every network's mentions take before the pipeline stores them.

A *draft* is a plain, JSON-serialisable dict (it travels through the Celery broker) that a
source adapter, the webhook, a file import or a drill replay builds from what the network
sent. ``clean_draft`` is the single gate: it either returns a normalised copy or the reason
the item is rejected. Everything here is untrusted input.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone as dt_timezone
from typing import Any, TypedDict

MAX_EXTERNAL_ID = 100
MAX_TEXT = 10_000
MAX_URL = 500
MAX_HANDLE = 100
MAX_NAME = 200
MAX_RAW_BYTES = 20_000
MAX_COUNTER = 2**62


class MentionDraft(TypedDict, total=False):
    external_id: str  # required: the network's own id, unique per source
    text: str  # required
    posted_at: str  # required: ISO 8601 with a time zone
    url: str
    author_handle: str
    author_name: str
    author_followers: int
    author_verified: bool
    language: str | None  # ISO 639-1 when the network says; detected otherwise
    likes: int
    reposts: int
    replies: int
    reply_to_id: str
    conversation_id: str
    raw: dict[str, Any]  # the original payload, kept for audit and re-processing


class Rejected(ValueError):
    """A draft that cannot be stored; ``reason`` says why in words an admin understands."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def storable(text: str) -> str:
    """``text`` without what PostgreSQL refuses in text and jsonb: NUL characters (removed)
    and lone UTF-16 surrogates, which JSON can carry (``"\\ud83d"``) but UTF-8 cannot
    (replaced by U+FFFD)."""
    text = text.replace("\x00", "")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = _LONE_SURROGATE.sub("\ufffd", text)
    return text


def _text(value: Any, field: str, limit: int, *, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise Rejected(f"{field} must be text")
    value = storable(str(value)).strip()
    if required and not value:
        raise Rejected(f"{field} is missing")
    return value[:limit]


def _count(value: Any, field: str) -> int:
    if value in (None, ""):
        return 0
    if isinstance(value, bool):
        raise Rejected(f"{field} must be a whole number")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise Rejected(f"{field} must be a whole number") from None
    if number < 0 or number > MAX_COUNTER:
        raise Rejected(f"{field} is out of range")
    return number


def parse_timestamp(value: Any) -> datetime:
    """ISO 8601 (``Z`` allowed) or epoch seconds → aware UTC datetime; raises ``Rejected``."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            parsed = datetime.fromtimestamp(value, tz=dt_timezone.utc)
        except (OverflowError, OSError, ValueError):
            raise Rejected("posted_at is out of range") from None
    elif isinstance(value, str) and value.strip():
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise Rejected(f"posted_at is not an ISO 8601 time: {value[:40]!r}") from None
    else:
        raise Rejected("posted_at is missing")
    if parsed.tzinfo is None:
        raise Rejected("posted_at needs a time zone (for example 2026-11-22T10:00:00Z)")
    return parsed.astimezone(dt_timezone.utc)


def without_nul(value: Any, depth: int = 0) -> Any:
    """A JSON value whose every string and key is ``storable`` (no NULs, no lone surrogates:
    PostgreSQL refuses them in jsonb), with nesting cut at 20 levels."""
    if isinstance(value, str):
        return storable(value)
    if depth >= 20:
        return None
    if isinstance(value, dict):
        return {storable(str(key)): without_nul(item, depth + 1) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [without_nul(item, depth + 1) for item in value]
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None  # NaN and infinities are not JSON
    return value


def clean_raw(raw: Any) -> tuple[dict[str, Any], str]:
    """The original payload, safe to store — no NULs, no lone surrogates, and at most
    ``MAX_RAW_BYTES`` of JSON (a bigger one is kept as a truncated string, marked so) — and
    its JSON, which is what gets stored."""
    if not isinstance(raw, dict):
        return {}, "{}"
    cleaned = without_nul(raw)
    encoded = json.dumps(cleaned, default=str, ensure_ascii=False)
    if len(encoded) > MAX_RAW_BYTES:
        cleaned = {"truncated": encoded[:MAX_RAW_BYTES]}
        encoded = json.dumps(cleaned, ensure_ascii=False)
    return cleaned, encoded


def clean_draft(draft: Any) -> dict[str, Any]:
    """Validate and normalise one draft; raise ``Rejected`` with the reason."""
    if not isinstance(draft, dict):
        raise Rejected("each mention must be a JSON object")
    url = _text(draft.get("url"), "url", MAX_URL)
    if url and not url.lower().startswith(("https://", "http://")):
        url = ""  # never store javascript:, data: or relative links from a network
    language = draft.get("language")
    language = _text(language, "language", 8).lower() if language else ""
    raw, raw_json = clean_raw(draft.get("raw"))
    return {
        "external_id": _text(draft.get("external_id"), "external_id", MAX_EXTERNAL_ID, required=True),
        "text": _text(draft.get("text"), "text", MAX_TEXT, required=True),
        "posted_at": parse_timestamp(draft.get("posted_at")),
        "url": url,
        "author_handle": _text(draft.get("author_handle"), "author_handle", MAX_HANDLE).lstrip("@"),
        "author_name": _text(draft.get("author_name"), "author_name", MAX_NAME),
        "author_followers": _count(draft.get("author_followers"), "author_followers"),
        "author_verified": bool(draft.get("author_verified")),
        "language": language if language not in ("und", "zxx", "qme", "qht") else "",
        "likes": _count(draft.get("likes"), "likes"),
        "reposts": _count(draft.get("reposts"), "reposts"),
        "replies": _count(draft.get("replies"), "replies"),
        "reply_to_id": _text(draft.get("reply_to_id"), "reply_to_id", MAX_EXTERNAL_ID),
        "conversation_id": _text(draft.get("conversation_id"), "conversation_id", MAX_EXTERNAL_ID),
        "raw": raw,
        "raw_json": raw_json,
    }
