"""RSS and Atom news feeds: fetched with requests, parsed with feedparser, and every entry
checked against the watches locally (feeds cannot be searched).

``config`` keys:

- ``feed_urls`` — list of http:// or https:// feed addresses (required, at most 50).
- ``max_age_hours`` — entries dated longer ago than this are ignored, so adding a feed
  does not flood the inbox with its archive (1–8760, default 48). Entries without a date
  are taken as published when they are first seen.

``credentials``: none (an empty object).

Each feed keeps its own entry in ``cursor["feeds"][url]``: the ``etag`` and
``last_modified`` validators sent back as ``If-None-Match`` / ``If-Modified-Since`` (a 304
costs nothing), short hashes of the entry ids already sent (feeds repeat their entries on
every fetch), and the last ``error`` when the feed failed. One failing feed never loses the
others: it is skipped and its error recorded; the poll fails only when every feed failed
(retryable unless every failure needs an admin). Bodies are capped at 5 MB. A feed
feedparser flags as malformed (``bozo``) is still used when it has entries; one with no
entries is an error carrying the parser's message. Entries are judged against the watches
of the moment they are first seen.

Feed addresses are chosen by organisation admins, so a feed (or a redirect) that resolves
to a loopback, private or link-local address is refused; a single-organisation install
that needs intranet feeds sets ``MONITORING_FEEDS_ALLOW_PRIVATE_ADDRESSES = True``.
"""

from __future__ import annotations

import calendar
import hashlib
from datetime import datetime, timedelta, timezone as dt_timezone
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser
import requests
from django.utils import timezone

from monitoring.drafts import MentionDraft
from monitoring.sources import helpers
from monitoring.sources.base import HTTP_TIMEOUT_SECONDS, PollResult, SourceAdapter, SourceError, WatchSpec

MAX_FEEDS = 50
MAX_BYTES = 5 * 1024 * 1024
MAX_SEEN = 500
MAX_SUMMARY = 4000
CHUNK_BYTES = 64 * 1024
MAX_REDIRECTS = 5
ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1"


class _FeedFailed(Exception):
    def __init__(self, message: str, *, retryable: bool):
        super().__init__(message)
        self.message = message
        self.retryable = retryable


class RssAdapter(SourceAdapter):
    kind = "rss"

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        config = helpers.require_mapping(config, "feed configuration")
        helpers.reject_unknown_keys(config, {"feed_urls", "max_age_hours"}, "feed configuration")
        urls = config.get("feed_urls")
        if isinstance(urls, str):
            urls = urls.split()
        if not isinstance(urls, (list, tuple)) or not urls:
            raise ValueError("feed_urls must list at least one feed address.")
        cleaned: list[str] = []
        for url in urls:
            url = helpers.clean_http_url(url, "Each feed address")
            if url not in cleaned:
                cleaned.append(url)
        if len(cleaned) > MAX_FEEDS:
            raise ValueError(f"At most {MAX_FEEDS} feeds per source.")
        return {
            "feed_urls": cleaned,
            "max_age_hours": helpers.clean_int(config, "max_age_hours", default=48, minimum=1, maximum=8760),
        }

    @classmethod
    def validate_credentials(cls, credentials: dict[str, Any]) -> dict[str, Any]:
        credentials = helpers.require_mapping(credentials, "feed credentials")
        helpers.reject_unknown_keys(credentials, set(), "feed credentials")
        return {}

    def poll(self, *, cursor: dict[str, Any], watches: list[WatchSpec]) -> PollResult:
        config, _credentials = helpers.settings_or_error(self)
        notes: list[str] = []
        parsed_watches = helpers.parse_watches(watches, notes)
        old_feeds = cursor.get("feeds") if isinstance(cursor.get("feeds"), dict) else {}
        now = timezone.now()
        oldest_wanted = now - timedelta(hours=config["max_age_hours"])

        feeds: dict[str, dict[str, Any]] = {}
        drafts: dict[str, MentionDraft] = {}
        failures: list[_FeedFailed] = []
        reads = 0
        for url in config["feed_urls"]:
            state = dict(old_feeds.get(url) or {})
            try:
                fetched = _fetch(url, state)
                if fetched is None:  # 304 Not Modified
                    state.pop("error", None)
                    feeds[url] = state
                    continue
                body, headers = fetched
                parsed = _parse(body, url, headers)
            except _FeedFailed as failure:
                failures.append(failure)
                state["error"] = failure.message
                feeds[url] = state
                continue

            state = {key: value for key, value in state.items() if key in ("seen",)}
            if headers.get("ETag"):
                state["etag"] = headers["ETag"]
            if headers.get("Last-Modified"):
                state["last_modified"] = headers["Last-Modified"]
            if parsed.get("bozo"):
                state["warning"] = f"malformed feed, used anyway: {_bozo_message(parsed)}"
            seen = list(state.get("seen") or [])
            seen_set = set(seen)
            language = _language(parsed)
            for entry in parsed.entries:
                reads += 1
                draft = entry_to_draft(entry, feed_url=url, language=language, now=now)
                if draft is None:
                    continue
                fingerprint = _fingerprint(draft["external_id"])
                if fingerprint in seen_set:
                    continue
                seen.append(fingerprint)
                seen_set.add(fingerprint)
                if datetime.fromisoformat(draft["posted_at"]) < oldest_wanted:
                    continue
                if draft["external_id"] in drafts:
                    continue
                if any(query.matches(draft["text"], author_handle="") for _watch, query in parsed_watches):
                    drafts[draft["external_id"]] = draft
            state["seen"] = seen[-MAX_SEEN:]
            feeds[url] = state

        if failures and len(failures) == len(config["feed_urls"]):
            message = "; ".join(failure.message for failure in failures[:3])
            raise SourceError(
                f"Every feed failed: {message}"[:1000], retryable=any(failure.retryable for failure in failures), reads=reads
            )
        new_cursor: dict[str, Any] = {"feeds": feeds}
        if notes:
            new_cursor["notes"] = notes
        return PollResult(drafts=list(drafts.values()), cursor=new_cursor, reads=reads)


def _fetch(url: str, state: dict[str, Any]) -> tuple[bytes, requests.structures.CaseInsensitiveDict] | None:
    """The feed's body and headers, or None for 304 Not Modified. Redirects are followed
    here (at most five) so that every hop is checked for a private address."""
    headers = {"User-Agent": helpers.USER_AGENT, "Accept": ACCEPT}
    if state.get("etag"):
        headers["If-None-Match"] = state["etag"]
    if state.get("last_modified"):
        headers["If-Modified-Since"] = state["last_modified"]
    location = url
    try:
        for _hop in range(MAX_REDIRECTS + 1):
            _refuse_private_address(url, location)
            with requests.get(
                location, timeout=HTTP_TIMEOUT_SECONDS, headers=headers, stream=True, allow_redirects=False
            ) as response:
                if response.is_redirect:
                    location = urljoin(location, response.headers["Location"])
                    continue
                return _read(url, response)
        raise _FeedFailed(f"{url}: more than {MAX_REDIRECTS} redirects", retryable=False)
    except requests.Timeout:
        raise _FeedFailed(f"{url}: no answer within {HTTP_TIMEOUT_SECONDS:g} seconds", retryable=True) from None
    except requests.RequestException as error:
        raise _FeedFailed(f"{url}: could not fetch ({type(error).__name__})", retryable=True) from None


def _read(url: str, response: requests.Response) -> tuple[bytes, requests.structures.CaseInsensitiveDict] | None:
    if response.status_code == 304:
        return None
    if response.status_code in (429, 503):
        raise _FeedFailed(f"{url}: the server asked us to slow down ({response.status_code})", retryable=True)
    if response.status_code >= 500:
        raise _FeedFailed(f"{url}: the server failed ({response.status_code})", retryable=True)
    if response.status_code >= 400:
        raise _FeedFailed(f"{url}: the server refused the feed ({response.status_code})", retryable=False)
    if response.status_code != 200:
        raise _FeedFailed(f"{url}: unexpected answer {response.status_code}", retryable=True)
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > MAX_BYTES:
        raise _FeedFailed(f"{url}: the feed is larger than 5 MB", retryable=False)
    body = bytearray()
    for chunk in response.iter_content(CHUNK_BYTES):
        body.extend(chunk)
        if len(body) > MAX_BYTES:
            raise _FeedFailed(f"{url}: the feed is larger than 5 MB", retryable=False)
    return bytes(body), response.headers


def _refuse_private_address(url: str, location: str) -> None:
    """Feed addresses come from organisation admins: never let one (or its redirects) make
    the worker fetch from inside our network."""
    parts = urlsplit(location)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _FeedFailed(f"{url}: redirected to a non-web address", retryable=False)
    problem = helpers.private_address_problem(location, must_be="feeds must be public")
    if problem:
        raise _FeedFailed(f"{url}: {problem}", retryable=False)


def _parse(body: bytes, url: str, headers: Any) -> Any:
    # Bytes, never a string: feedparser treats a string that looks like a URL as one to fetch.
    parsed = feedparser.parse(
        body,
        response_headers={
            "content-type": headers.get("Content-Type", "application/xml"),
            "content-location": url,
        },
    )
    if parsed.get("bozo") and not any(_field(entry, "title", "link", "id", "summary") for entry in parsed.entries):
        raise _FeedFailed(f"{url}: not a readable feed ({_bozo_message(parsed)})", retryable=False)
    return parsed


def _field(entry: Any, *names: str) -> Any:
    """The first of these fields the entry has. ``dict.get`` skips feedparser's key aliases,
    which warn when a field is missing (``updated`` → ``published``)."""
    for name in names:
        value = dict.get(entry, name)
        if value:
            return value
    return None


def _bozo_message(parsed: Any) -> str:
    return str(parsed.get("bozo_exception") or "malformed")[:200]


def _language(parsed: Any) -> str | None:
    language = (parsed.get("feed") or {}).get("language") or ""
    language = str(language).strip().lower().replace("_", "-").split("-")[0]
    return language if 2 <= len(language) <= 3 and language.isalpha() else None


def _fingerprint(external_id: str) -> str:
    return hashlib.sha256(external_id.encode("utf-8")).hexdigest()[:16]


def _entry_time(entry: Any) -> datetime | None:
    for field in ("published_parsed", "updated_parsed", "created_parsed"):
        value = _field(entry, field)
        if value:
            try:
                return datetime.fromtimestamp(calendar.timegm(value), tz=dt_timezone.utc)
            except (TypeError, ValueError, OverflowError, OSError):
                continue
    return None


def _external_id(entry: Any, feed_url: str) -> str:
    """The entry's own id (or link) when it is globally unique and short enough; otherwise a
    hash that also covers the feed, so two feeds' "1", "2", … never collide."""
    identity = str(_field(entry, "id", "link") or "").strip()
    if not identity:
        identity = f"{_field(entry, 'title') or ''}\n{_field(entry, 'published', 'updated') or ''}"
    if len(identity) <= 100 and (":" in identity or "/" in identity):
        return identity
    digest = hashlib.sha256(f"{feed_url}\n{identity}".encode("utf-8")).hexdigest()
    return f"sha256:{digest[:48]}"


def entry_to_draft(entry: Any, *, feed_url: str, language: str | None, now: datetime) -> MentionDraft | None:
    title = helpers.html_to_text(_field(entry, "title"))
    summary = helpers.html_to_text(_field(entry, "summary") or "")
    if not summary:
        contents = _field(entry, "content") or []
        if contents and isinstance(contents[0], dict):
            summary = helpers.html_to_text(contents[0].get("value"))
    text = "\n\n".join(part for part in (title, summary[:MAX_SUMMARY]) if part)
    if not text:
        return None
    link = str(_field(entry, "link") or "")
    if not link.lower().startswith(("http://", "https://")):
        link = ""
    published = _entry_time(entry) or now
    return MentionDraft(
        external_id=_external_id(entry, feed_url),
        text=text,
        posted_at=published.isoformat(),
        url=link,
        author_handle="",
        author_name=helpers.html_to_text(_field(entry, "author") or ""),
        author_followers=0,
        author_verified=False,
        language=language,
        likes=0,
        reposts=0,
        replies=0,
        reply_to_id="",
        conversation_id="",
        raw={
            "feed_url": feed_url,
            **{name: _field(entry, name) for name in ("id", "link", "title", "published", "updated", "author")},
            "summary": str(_field(entry, "summary") or "")[:MAX_SUMMARY],
            "tags": [tag.get("term") for tag in _field(entry, "tags") or [] if isinstance(tag, dict)],
        },
    )
