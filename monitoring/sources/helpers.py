"""Small pieces every adapter shares: configuration checks, HTML to plain text, watch
parsing, JSON-safe copies of library objects and the per-stream bookkeeping in cursors."""

from __future__ import annotations

import ipaddress
import re
import socket
from datetime import date, datetime, timezone as dt_timezone
from html import unescape
from html.parser import HTMLParser
from typing import Any, Iterable
from urllib.parse import urlsplit

from monitoring.queries import QueryError, parse
from monitoring.sources.base import SourceError, WatchSpec

USER_AGENT = "CrisisCenter/1.0 (social-media crisis monitoring)"
MAX_NOTES = 10
MAX_NOTE_LENGTH = 300


# --- configuration checks (messages are shown to the admin in the source form) -----------


def reject_unknown_keys(values: dict[str, Any], allowed: Iterable[str], what: str) -> None:
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise ValueError(f"Unknown {what} key(s): {', '.join(unknown)}. Allowed: {', '.join(sorted(allowed)) or 'none'}.")


def require_mapping(values: Any, what: str) -> dict[str, Any]:
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ValueError(f"The {what} must be a JSON object.")
    return values


def clean_secret(values: dict[str, Any], key: str, *, required: bool, label: str) -> str:
    value = values.get(key, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValueError(f"{label} must be text.")
    value = value.strip()
    if required and not value:
        raise ValueError(f"{label} is required.")
    if any(character.isspace() for character in value):
        raise ValueError(f"{label} must not contain spaces or line breaks (check the copy and paste).")
    return value


def clean_int(values: dict[str, Any], key: str, *, default: int, minimum: int, maximum: int) -> int:
    value = values.get(key, default)
    if value in (None, ""):
        return default
    if isinstance(value, bool):
        raise ValueError(f"{key} must be a whole number between {minimum} and {maximum}.")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{key} must be a whole number between {minimum} and {maximum}.") from None
    if isinstance(value, float) and number != value:
        raise ValueError(f"{key} must be a whole number between {minimum} and {maximum}.")
    if not minimum <= number <= maximum:
        raise ValueError(f"{key} must be between {minimum} and {maximum}.")
    return number


def clean_http_url(value: Any, label: str, *, require_https: bool = False) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{label} is required.")
    value = value.strip()
    if any(ord(character) < 32 or ord(character) == 127 for character in value):
        # urlsplit keeps them, requests would send them, PostgreSQL refuses NUL outright.
        raise ValueError(f"{label} must not contain control characters.")
    parts = urlsplit(value)
    schemes = ("https",) if require_https else ("http", "https")
    if parts.scheme.lower() not in schemes or not parts.hostname:
        expected = "an https:// address" if require_https else "an http:// or https:// address"
        raise ValueError(f"{label} must be {expected}, got {value[:100]!r}.")
    if parts.username or parts.password:
        raise ValueError(f"{label} must not contain a user name or password.")
    return value


def clean_string_list(values: dict[str, Any], key: str, *, pattern: re.Pattern[str], label: str, maximum: int) -> list[str]:
    """A list of strings (a comma- or newline-separated string is accepted too), de-duplicated
    in order, each matching ``pattern``."""
    value = values.get(key, [])
    if value in (None, ""):
        return []
    if isinstance(value, str):
        value = re.split(r"[\s,]+", value)
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"{key} must be a list.")
    cleaned: list[str] = []
    for item in value:
        if isinstance(item, int) and not isinstance(item, bool):
            item = str(item)
        if not isinstance(item, str):
            raise ValueError(f"Each entry of {key} must be text.")
        item = item.strip()
        if not item:
            continue
        if not pattern.fullmatch(item):
            raise ValueError(f"{item[:60]!r} is not a valid {label}.")
        if item not in cleaned:
            cleaned.append(item)
    if len(cleaned) > maximum:
        raise ValueError(f"At most {maximum} entries are allowed in {key}.")
    return cleaned


def settings_or_error(adapter: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Validate an adapter's stored configuration at poll time; a bad one is an admin's job."""
    try:
        return adapter.validate_config(adapter.config), adapter.validate_credentials(adapter.credentials)
    except ValueError as error:
        raise SourceError(f"The source is misconfigured: {error}", retryable=False) from None


# --- watches -----------------------------------------------------------------------------


def parse_watches(watches: list[WatchSpec], notes: list[str]) -> list[tuple[WatchSpec, Any]]:
    """Parse each watch's query; a query the parser refuses is skipped (and noted) so one bad
    watch never stops the others."""
    parsed = []
    for watch in watches:
        try:
            parsed.append((watch, parse(watch.query)))
        except QueryError as error:
            add_note(notes, f"watch {watch.watch_id} skipped: {error}")
    return parsed


def add_note(notes: list[str], note: str) -> None:
    if len(notes) < MAX_NOTES:
        notes.append(note[:MAX_NOTE_LENGTH])


# --- text --------------------------------------------------------------------------------


class _TextExtractor(HTMLParser):
    BLOCK_TAGS = {"p", "div", "br", "li", "ul", "ol", "blockquote", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "pre", "hr"}
    SKIPPED_TAGS = {"script", "style", "template", "noscript", "iframe", "object", "svg", "head", "title"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in self.SKIPPED_TAGS:
            self.skipping += 1
        elif tag in self.BLOCK_TAGS:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        if tag in self.BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIPPED_TAGS:
            self.skipping = max(0, self.skipping - 1)
        elif tag in self.BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def html_to_text(value: Any) -> str:
    """Plain text from untrusted HTML: tags and script/style bodies dropped, entities decoded,
    runs of blank space collapsed (paragraphs stay on their own lines)."""
    if not value or not isinstance(value, str):
        return ""
    if "<" not in value and "&" not in value:
        text = value
    else:
        extractor = _TextExtractor()
        try:
            extractor.feed(re.sub(r"<[^>]*$", "", value))  # a tag cut off at the end is not text
            extractor.close()
            text = "".join(extractor.parts)
        except Exception:  # noqa: BLE001 - malformed markup falls back to a crude strip
            text = unescape(re.sub(r"<[^>]*>", " ", value))
    lines = (re.sub(r"[ \t\r\f\v\u00a0]+", " ", line).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


# --- JSON and time -----------------------------------------------------------------------


def json_safe(value: Any, *, depth: int = 0) -> Any:
    """A JSON-serialisable copy of what a client library returned (datetimes become ISO 8601)."""
    if depth > 20:
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(key): json_safe(item, depth=depth + 1) for key, item in value.items() if not str(key).startswith("_")}
    if isinstance(value, (list, tuple, set)):
        return [json_safe(item, depth=depth + 1) for item in value]
    return str(value)


def epoch_to_datetime(value: Any) -> datetime | None:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    try:
        return datetime.fromtimestamp(seconds, tz=dt_timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None


def parse_iso(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt_timezone.utc)
    return parsed.astimezone(dt_timezone.utc)


def id_order(value: str) -> tuple[int, str]:
    """Sort key for the networks' string ids: numeric snowflakes and fixed-width sortable ids
    (Mastodon, Pleroma) both order correctly by length, then text."""
    return (len(value), value)


def newest_id(*values: str | None) -> str | None:
    present = [value for value in values if value]
    return max(present, key=id_order) if present else None


def int_or_zero(value: Any) -> int:
    if isinstance(value, bool):
        return 0
    try:
        number = int(value)
    except (TypeError, ValueError):
        return 0
    return max(number, 0)


def tightest_rate_limit(limits: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One ``rate_limit`` for the poll: the endpoint closest to its limit, plus all of them."""
    known = {name: limit for name, limit in limits.items() if limit.get("remaining") is not None}
    if not known:
        return {}
    name, tightest = min(known.items(), key=lambda item: item[1]["remaining"])
    result = dict(tightest)
    result["endpoint"] = name
    if len(known) > 1:
        result["endpoints"] = known
    return result


def rate_limit_from_headers(headers: Any, prefix: str) -> dict[str, Any]:
    """``{limit, remaining, reset}`` from ``<prefix>limit/remaining/reset`` headers (reset in
    epoch seconds), or ``{}`` when the network sent none."""
    if not headers:
        return {}
    values = {}
    for name in ("limit", "remaining", "reset"):
        raw = headers.get(f"{prefix}{name}")
        if raw is None:
            continue
        try:
            values[name] = int(float(raw))
        except (TypeError, ValueError):
            continue
    return values if "remaining" in values else {}


def private_address_problem(url: str, *, must_be: str = "must be public") -> str | None:
    """Why the worker must not call ``url`` — it is, or resolves to, an address inside our
    network (loopback, private ranges, cloud metadata at 169.254.169.254) — or None.
    Addresses come from organisation admins (feeds, webhooks, Mastodon and Bluesky servers);
    ``MONITORING_FEEDS_ALLOW_PRIVATE_ADDRESSES`` lifts the rule for intranet installs. A name
    that does not resolve is left to fail in the request itself."""
    from django.conf import settings

    if settings.MONITORING_FEEDS_ALLOW_PRIVATE_ADDRESSES:
        return None
    parts = urlsplit(url)
    if not parts.hostname:
        return "the address has no host name."
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return "the address has an invalid port."
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)}
    except (socket.gaierror, UnicodeError, OSError):
        return None
    for address in addresses:
        try:
            public = ipaddress.ip_address(str(address).split("%")[0]).is_global
        except ValueError:
            public = False
        if not public:
            return f"{parts.hostname} is a private or local address; {must_be}."
    return None
