"""Bluesky through atproto: ``app.bsky.feed.searchPosts`` (``sort=latest``) for every watch.

``config`` keys:

- ``service_url`` — where the account logs in (its PDS or entryway), default
  ``https://bsky.social``.
- ``appview_url`` — the AppView asked when no account is configured, default
  ``https://api.bsky.app``. Bluesky often refuses unauthenticated search (403) and never
  pages it with ``cursor``, so an account is strongly recommended.
- ``max_pages_per_poll`` — pages of up to 100 posts read per search in one poll (1–20,
  default 5).

``credentials`` keys (both or neither):

- ``handle`` — the account's handle, e.g. ``crisis-desk.bsky.social``.
- ``app_password`` — an app password (Settings → Privacy and security → App passwords),
  never the account password.

``Query.to_bluesky()`` gives one or more search strings per watch (Bluesky search has no
OR); each is a stream with its own cursor entry (``search:<watch_id>:<n>``). searchPosts has
no ``since_id``: results come newest first by their *sort time* (the earlier of
``createdAt`` and ``indexedAt``), so each stream remembers the newest sort time it has seen
and the ids seen at exactly that time, skips what it has seen and stops paging once a page
ends at or below that time. When
``max_pages_per_poll`` runs out before that, the stream keeps its page cursor and the result
says ``more``. A stream seen for the first time reads one page.

Logging in costs a ``createSession``, which Bluesky limits to 30 per 5 minutes and 300 a
day per account, so the session is kept in memory per worker process and reused (and
refreshed by atproto) across polls.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

from atproto import Client, models
from atproto_client import exceptions as atproto_errors
from atproto_client.request import Request

from monitoring.drafts import MentionDraft
from monitoring.sources import helpers
from monitoring.sources.base import HTTP_TIMEOUT_SECONDS, PollResult, SourceAdapter, SourceError, WatchSpec

PAGE_SIZE = 100
DEFAULT_SERVICE_URL = "https://bsky.social"
DEFAULT_APPVIEW_URL = "https://api.bsky.app"
MAX_BOUNDARY_IDS = 50

# (service_url, handle) -> exported session string, shared by the polls of one process.
_sessions: dict[tuple[str, str], str] = {}
_sessions_lock = threading.Lock()


class _StreamFailed(Exception):
    """One search cannot be run (Bluesky rejected the query string); the others can."""


class BlueskyAdapter(SourceAdapter):
    kind = "bluesky"

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        config = helpers.require_mapping(config, "Bluesky configuration")
        helpers.reject_unknown_keys(config, {"service_url", "appview_url", "max_pages_per_poll"}, "Bluesky configuration")
        return {
            "service_url": helpers.clean_http_url(
                config.get("service_url") or DEFAULT_SERVICE_URL, "service_url", require_https=True
            ).rstrip("/"),
            "appview_url": helpers.clean_http_url(
                config.get("appview_url") or DEFAULT_APPVIEW_URL, "appview_url", require_https=True
            ).rstrip("/"),
            "max_pages_per_poll": helpers.clean_int(config, "max_pages_per_poll", default=5, minimum=1, maximum=20),
        }

    @classmethod
    def validate_credentials(cls, credentials: dict[str, Any]) -> dict[str, Any]:
        credentials = helpers.require_mapping(credentials, "Bluesky credentials")
        helpers.reject_unknown_keys(credentials, {"handle", "app_password"}, "Bluesky credentials")
        handle = helpers.clean_secret(credentials, "handle", required=False, label="The Bluesky handle").lstrip("@")
        app_password = helpers.clean_secret(credentials, "app_password", required=False, label="The app password")
        if bool(handle) != bool(app_password):
            raise ValueError("Give both the Bluesky handle and an app password, or neither.")
        if handle and "." not in handle and not handle.startswith("did:"):
            raise ValueError("The Bluesky handle looks incomplete; it is a domain such as name.bsky.social.")
        return {"handle": handle, "app_password": app_password} if handle else {}

    def poll(self, *, cursor: dict[str, Any], watches: list[WatchSpec]) -> PollResult:
        config, credentials = helpers.settings_or_error(self)
        notes: list[str] = []
        searches: list[tuple[str, str, str, Any]] = []  # (key, q, language, query)
        for watch, query in helpers.parse_watches(watches, notes):
            try:
                strings = [str(q).strip() for q in query.to_bluesky() if str(q).strip()]
            except ValueError as error:
                helpers.add_note(notes, f"watch {watch.watch_id} skipped: {error}")
                continue
            for index, q in enumerate(strings):
                searches.append((f"search:{watch.watch_id}:{index}", q, watch.language, query))

        poll = _BlueskyPoll(
            client=self._client(config, credentials),
            cursor=cursor,
            max_pages=config["max_pages_per_poll"],
            anonymous=not credentials,
        )
        try:
            for key, q, language, query in searches:
                poll.read_search(key=key, q=q, language=language, query=query, notes=notes)
        finally:
            if credentials:
                self._remember_session(poll.client, config, credentials, refused=poll.session_refused)

        new_cursor = {key: value for key, value in cursor.items() if key in {search[0] for search in searches}}
        new_cursor.update(poll.streams)
        if notes:
            new_cursor["notes"] = notes
        return PollResult(
            drafts=list(poll.drafts.values()),
            cursor=new_cursor,
            reads=poll.reads,
            more=poll.more,
            rate_limit=poll.rate_limit,
        )

    def _client(self, config: dict[str, Any], credentials: dict[str, Any]) -> Client:
        if not credentials:
            return Client(base_url=config["appview_url"], request=Request(timeout=HTTP_TIMEOUT_SECONDS))
        client = Client(base_url=config["service_url"], request=Request(timeout=HTTP_TIMEOUT_SECONDS))
        session_key = (config["service_url"], credentials["handle"].lower())
        with _sessions_lock:
            saved = _sessions.get(session_key)
        if saved:
            try:
                client.login(session_string=saved, fetch_bsky_profile=False)
                return client
            except Exception:  # noqa: BLE001 - a stale or unreadable session: log in afresh below
                with _sessions_lock:
                    _sessions.pop(session_key, None)
                client = Client(base_url=config["service_url"], request=Request(timeout=HTTP_TIMEOUT_SECONDS))
        try:
            client.login(credentials["handle"], credentials["app_password"], fetch_bsky_profile=False)
        except atproto_errors.UnauthorizedError as error:
            raise SourceError(f"Bluesky refused the handle or app password: {error}", retryable=False) from None
        except atproto_errors.BadRequestError as error:
            # createSession answers 400 for a wrong identifier or password, too.
            raise SourceError(f"Bluesky refused the login: {error}", retryable=False) from None
        except atproto_errors.AtProtocolError as error:
            raise _source_error(error, reads=0, what="logging in to Bluesky") from None
        return client

    @staticmethod
    def _remember_session(client: Client, config: dict[str, Any], credentials: dict[str, Any], *, refused: bool) -> None:
        session_key = (config["service_url"], credentials["handle"].lower())
        if refused:
            with _sessions_lock:
                _sessions.pop(session_key, None)
            return
        try:
            exported = client.export_session_string()
        except Exception:  # noqa: BLE001 - no session to keep
            return
        with _sessions_lock:
            _sessions[session_key] = exported


def forget_sessions() -> None:
    """Drop the cached logins (tests, or after an account's app password was revoked)."""
    with _sessions_lock:
        _sessions.clear()


class _BlueskyPoll:
    def __init__(self, *, client: Client, cursor: dict[str, Any], max_pages: int, anonymous: bool):
        self.client = client
        self.cursor = cursor
        self.max_pages = max_pages
        self.anonymous = anonymous
        self.streams: dict[str, dict[str, Any]] = {}
        self.drafts: dict[str, MentionDraft] = {}
        self.reads = 0
        self.more = False
        self.rate_limit: dict[str, Any] = {}
        self.session_refused = False

    def read_search(self, *, key: str, q: str, language: str, query: Any, notes: list[str]) -> None:
        state = self.cursor.get(key) if isinstance(self.cursor.get(key), dict) else {}
        if state.get("q") != q:
            state = {}  # a new search string: its old watermark means nothing
        watermark = state.get("newest_sort_at")
        boundary = set(state.get("boundary_ids") or [])
        page_cursor = state.get("page_cursor")
        pending = state.get("pending_sort_at")
        pending_boundary = set(state.get("pending_boundary_ids") or [])
        first_read = watermark is None
        pages = 0
        try:
            while pages < self.max_pages:
                page = self._search(q=q, language=language, page_cursor=page_cursor)
                pages += 1
                reached_known = False
                for post in page.get("posts") or []:
                    if not isinstance(post, dict) or not post.get("uri"):
                        continue
                    self.reads += 1
                    sort_at = _sort_at(post)
                    if sort_at is None:
                        continue
                    # The page is sorted newest first, so its last post decides whether we
                    # have reached what earlier polls read; one out-of-order post does not.
                    reached_known = bool(watermark) and sort_at <= watermark
                    if watermark and (sort_at < watermark or (sort_at == watermark and post["uri"] in boundary)):
                        continue
                    if pending is None or sort_at > pending:
                        pending, pending_boundary = sort_at, {post["uri"]}
                    elif sort_at == pending:
                        pending_boundary.add(post["uri"])
                    self._keep(post, query)
                page_cursor = page.get("cursor")
                # Unauthenticated search refuses cursors (403), so it reads one page a poll.
                if reached_known or not page_cursor or first_read or self.anonymous:
                    page_cursor = None
                    break
        except _StreamFailed as error:
            helpers.add_note(notes, f"{key}: {error}")
            self.streams[key] = {"q": q, "newest_sort_at": watermark, "boundary_ids": sorted(boundary)}
            return

        if page_cursor:
            self.streams[key] = {
                "q": q,
                "newest_sort_at": watermark,
                "boundary_ids": sorted(boundary),
                "page_cursor": page_cursor,
                "pending_sort_at": pending,
                "pending_boundary_ids": sorted(pending_boundary)[:MAX_BOUNDARY_IDS],
            }
            self.more = True
        elif pending is not None and (watermark is None or pending > watermark):
            self.streams[key] = {"q": q, "newest_sort_at": pending, "boundary_ids": sorted(pending_boundary)[:MAX_BOUNDARY_IDS]}
        elif pending is not None and pending == watermark:
            merged = sorted(boundary | pending_boundary)[:MAX_BOUNDARY_IDS]
            self.streams[key] = {"q": q, "newest_sort_at": watermark, "boundary_ids": merged}
        else:
            self.streams[key] = {"q": q, "newest_sort_at": watermark, "boundary_ids": sorted(boundary)}

    def _search(self, *, q: str, language: str, page_cursor: str | None) -> dict[str, Any]:
        try:
            params = models.AppBskyFeedSearchPosts.Params(
                q=q, sort="latest", limit=PAGE_SIZE, cursor=page_cursor or None, lang=language or None
            )
        except ValueError as error:
            raise _StreamFailed(f"the search cannot be sent: {str(error)[:150]}") from None
        try:
            # invoke_query (rather than the typed search_posts) keeps the JSON exactly as sent.
            response = self.client.invoke_query("app.bsky.feed.searchPosts", params=params)
        except atproto_errors.BadRequestError as error:
            raise _StreamFailed(f"Bluesky rejected the search: {error}") from None
        except atproto_errors.UnauthorizedError as error:
            if self.anonymous:
                raise SourceError(
                    "Bluesky refused unauthenticated search; add a handle and app password to this source.",
                    retryable=False,
                    reads=self.reads,
                ) from None
            # An expired or revoked session: the next poll logs in afresh (and fails for
            # good there if the app password itself was revoked).
            self.session_refused = True
            raise SourceError(f"Bluesky refused the session: {error}", retryable=True, reads=self.reads) from None
        except atproto_errors.AtProtocolError as error:
            raise _source_error(error, reads=self.reads, what="searching Bluesky") from None
        limit = helpers.rate_limit_from_headers(response.headers, "ratelimit-")
        if limit:
            self.rate_limit = limit
        content = response.content
        if not isinstance(content, dict) or not isinstance(content.get("posts"), list):
            raise SourceError("Bluesky sent an unexpected search response; will retry.", retryable=True, reads=self.reads)
        return content

    def _keep(self, post: dict[str, Any], query: Any) -> None:
        uri = post["uri"]
        if uri in self.drafts:
            return
        draft = post_to_draft(post)
        if draft is None:
            return
        # Bluesky's search is looser than our query language (stemming, no OR): check locally.
        if query.matches(draft["text"], author_handle=draft["author_handle"]):
            self.drafts[uri] = draft


def _source_error(error: Exception, *, reads: int, what: str) -> SourceError:
    if isinstance(error, atproto_errors.RateLimitExceededError):
        return SourceError(f"Bluesky rate limit reached while {what}.", retryable=True, retry_at=error.reset_at, reads=reads)
    if isinstance(error, atproto_errors.InvokeTimeoutError):
        return SourceError(f"Bluesky did not answer in time while {what}; will retry.", retryable=True, reads=reads)
    if isinstance(error, atproto_errors.NetworkError):
        return SourceError(f"Could not reach Bluesky while {what}; will retry.", retryable=True, reads=reads)
    return SourceError(f"Bluesky failed while {what}: {str(error)[:200]}", retryable=True, reads=reads)


def _sort_at(post: dict[str, Any]) -> str | None:
    """Bluesky orders ``latest`` results by the earlier of the two times (a post cannot claim
    to come from the future); compared as normalised ISO strings."""
    record = post.get("record") if isinstance(post.get("record"), dict) else {}
    times = [helpers.parse_iso(record.get("createdAt")), helpers.parse_iso(post.get("indexedAt"))]
    known = [time for time in times if time is not None]
    if not known:
        return None
    return min(known).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def post_to_draft(post: dict[str, Any]) -> MentionDraft | None:
    record = post.get("record") if isinstance(post.get("record"), dict) else {}
    author = post.get("author") if isinstance(post.get("author"), dict) else {}
    uri = str(post["uri"])
    did, _, rest = uri.removeprefix("at://").partition("/")
    record_key = rest.rpartition("/")[2]
    handle = author.get("handle") or ""
    profile = handle if handle and handle != "handle.invalid" else (author.get("did") or did)
    text = record.get("text") or _embed_text(record, post)
    if not text:
        return None
    langs = record.get("langs") if isinstance(record.get("langs"), list) else []
    reply = record.get("reply") if isinstance(record.get("reply"), dict) else {}
    verification = author.get("verification") if isinstance(author.get("verification"), dict) else {}
    created_at = record.get("createdAt") or post.get("indexedAt") or ""
    return MentionDraft(
        external_id=uri,
        text=text,
        posted_at=_with_zone(created_at),
        url=f"https://bsky.app/profile/{profile}/post/{record_key}",
        author_handle=handle if handle != "handle.invalid" else "",
        author_name=author.get("displayName") or "",
        author_followers=0,  # a post view does not carry the author's follower count
        author_verified=verification.get("verifiedStatus") == "valid",
        language=(str(langs[0]) if langs else None),
        likes=helpers.int_or_zero(post.get("likeCount")),
        reposts=helpers.int_or_zero(post.get("repostCount")),
        replies=helpers.int_or_zero(post.get("replyCount")),
        reply_to_id=str((reply.get("parent") or {}).get("uri") or ""),
        conversation_id=str((reply.get("root") or {}).get("uri") or uri),
        raw=post,
    )


def _with_zone(value: str) -> str:
    """atproto datetimes must carry a zone, but be lenient with ones that do not."""
    parsed = helpers.parse_iso(value)
    return parsed.isoformat() if isinstance(parsed, datetime) else value


def _embed_text(record: dict[str, Any], post: dict[str, Any]) -> str:
    """An image-only post has empty text: fall back to its alt texts or link card."""
    parts: list[str] = []
    for embed in (record.get("embed"), post.get("embed")):
        if not isinstance(embed, dict):
            continue
        for image in embed.get("images") or []:
            if isinstance(image, dict) and image.get("alt"):
                parts.append(str(image["alt"]))
        external = embed.get("external")
        if isinstance(external, dict):
            parts.extend(str(external[field]) for field in ("title", "description") if external.get(field))
        if parts:
            break
    return "\n".join(parts)
