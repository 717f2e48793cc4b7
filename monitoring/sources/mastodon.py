"""Mastodon (one instance) through Mastodon.py: the public hashtag timelines of the watches'
hashtags, and full-text search for their other terms when an access token is set.

``config`` keys:

- ``instance_url`` — the instance's https:// address, e.g. ``https://mastodon.social``
  (required).
- ``max_pages_per_poll`` — pages of up to 40 statuses read per hashtag in one poll
  (1–20, default 5).

``credentials`` keys:

- ``access_token`` — optional. Without it only hashtag timelines are read (they are public
  on most instances); Mastodon only serves full-text search to a logged-in account, so a
  watch's plain search terms are skipped (and noted in the cursor) until a token is set.

Each hashtag and each search term is a stream with its own cursor entry (``tag:<name>``,
``search:<terms>``); a hashtag shared by several watches is read once. Hashtag timelines
page like X: newest first after ``since_id``, back through ``max_id`` up to
``max_pages_per_poll``, and ``since_id`` moves on only when the gap is closed (``more`` says
to come back soon). A stream seen for the first time reads one page. Every status is
turned into plain text and kept only when ``Query.matches`` holds for at least one watch
that asked for that stream. Mastodon.py is told to raise instead of sleeping on a rate
limit (``ratelimit_method="throw"``).
"""

from __future__ import annotations

from typing import Any, Callable

from django.utils import timezone
from mastodon import Mastodon
from mastodon.errors import (
    MastodonAPIError,
    MastodonError,
    MastodonNetworkError,
    MastodonNotFoundError,
    MastodonRatelimitError,
    MastodonServerError,
    MastodonUnauthorizedError,
)

from monitoring.drafts import MentionDraft
from monitoring.sources import helpers
from monitoring.sources.base import HTTP_TIMEOUT_SECONDS, PollResult, SourceAdapter, SourceError, WatchSpec

PAGE_SIZE = 40  # the most a timeline page may hold


class _StreamFailed(Exception):
    """One stream cannot be read (the instance does not know the hashtag); the others can."""


class MastodonAdapter(SourceAdapter):
    kind = "mastodon"

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        config = helpers.require_mapping(config, "Mastodon configuration")
        helpers.reject_unknown_keys(config, {"instance_url", "max_pages_per_poll"}, "Mastodon configuration")
        instance_url = helpers.clean_http_url(config.get("instance_url"), "instance_url", require_https=True)
        return {
            "instance_url": instance_url.rstrip("/"),
            "max_pages_per_poll": helpers.clean_int(config, "max_pages_per_poll", default=5, minimum=1, maximum=20),
        }

    @classmethod
    def validate_credentials(cls, credentials: dict[str, Any]) -> dict[str, Any]:
        credentials = helpers.require_mapping(credentials, "Mastodon credentials")
        helpers.reject_unknown_keys(credentials, {"access_token"}, "Mastodon credentials")
        token = helpers.clean_secret(credentials, "access_token", required=False, label="The Mastodon access token")
        return {"access_token": token} if token else {}

    def poll(self, *, cursor: dict[str, Any], watches: list[WatchSpec]) -> PollResult:
        config, credentials = helpers.settings_or_error(self)
        client = Mastodon(
            api_base_url=config["instance_url"],
            access_token=credentials.get("access_token"),
            request_timeout=HTTP_TIMEOUT_SECONDS,
            ratelimit_method="throw",
            version_check_mode="none",
            # A stated version stops Mastodon.py probing /api/v1/instance before a search; in
            # 2.3.3 that probe recurses without end when the endpoint fails.
            mastodon_version="4.0.0",
            user_agent=helpers.USER_AGENT,
        )
        notes: list[str] = []
        tag_watches: dict[str, list[tuple[WatchSpec, Any]]] = {}
        search_watches: dict[str, list[tuple[WatchSpec, Any]]] = {}
        skipped_searches = 0
        for watch, query in helpers.parse_watches(watches, notes):
            try:
                hashtags, search_strings = query.to_mastodon()
            except ValueError as error:
                helpers.add_note(notes, f"watch {watch.watch_id} skipped: {error}")
                continue
            for tag in hashtags:
                tag = str(tag).lstrip("#").strip().lower()
                if tag:
                    tag_watches.setdefault(tag, []).append((watch, query))
            for terms in search_strings:
                terms = str(terms).strip()
                if not terms:
                    continue
                if credentials.get("access_token"):
                    search_watches.setdefault(terms, []).append((watch, query))
                else:
                    skipped_searches += 1
        if skipped_searches:
            helpers.add_note(
                notes, f"{skipped_searches} search term(s) skipped: Mastodon full-text search needs an access token"
            )

        poll = _MastodonPoll(client=client, cursor=cursor, max_pages=config["max_pages_per_poll"])
        for tag, interested in tag_watches.items():
            poll.read_timeline(
                key=f"tag:{tag}",
                interested=interested,
                fetch=lambda since_id, max_id, tag=tag: client.timeline_hashtag(
                    tag, since_id=since_id, max_id=max_id, limit=PAGE_SIZE
                ),
                notes=notes,
            )
        for terms, interested in search_watches.items():
            poll.read_search(key=f"search:{terms}", terms=terms, interested=interested, notes=notes)

        wanted = {f"tag:{tag}" for tag in tag_watches} | {f"search:{terms}" for terms in search_watches}
        new_cursor = {key: value for key, value in cursor.items() if key in wanted}
        new_cursor.update(poll.streams)
        if notes:
            new_cursor["notes"] = notes
        return PollResult(
            drafts=list(poll.drafts.values()),
            cursor=new_cursor,
            reads=poll.reads,
            more=poll.more,
            rate_limit=_rate_limit(client),
        )


def _rate_limit(client: Mastodon) -> dict[str, Any]:
    if client.ratelimit_reset is None and client.ratelimit_remaining == client.ratelimit_limit == 300:
        return {}  # Mastodon.py's defaults: the instance sent no rate-limit headers
    limit = {"limit": client.ratelimit_limit, "remaining": client.ratelimit_remaining}
    if client.ratelimit_reset:
        limit["reset"] = int(client.ratelimit_reset)
    return limit


class _MastodonPoll:
    def __init__(self, *, client: Mastodon, cursor: dict[str, Any], max_pages: int):
        self.client = client
        self.cursor = cursor
        self.max_pages = max_pages
        self.streams: dict[str, dict[str, Any]] = {}
        self.drafts: dict[str, MentionDraft] = {}
        self.reads = 0
        self.more = False

    def read_timeline(
        self,
        *,
        key: str,
        interested: list[tuple[WatchSpec, Any]],
        fetch: Callable[[str | None, str | None], list],
        notes: list[str],
    ) -> None:
        state = self.cursor.get(key) if isinstance(self.cursor.get(key), dict) else {}
        since_id = state.get("since_id")
        max_id = state.get("max_id")
        newest = state.get("newest_id")
        first_read = since_id is None and max_id is None
        pages = 0
        try:
            while pages < self.max_pages:
                statuses = self._call(lambda: fetch(since_id, max_id))
                pages += 1
                self._take(statuses, interested, since_id=since_id)
                ids = [str(status["id"]) for status in statuses if status.get("id")]
                newest = helpers.newest_id(newest, *ids)
                # A short page reached since_id; a full one may have more below it.
                max_id = min(ids, key=helpers.id_order) if len(ids) >= PAGE_SIZE and not first_read else None
                if max_id is None:
                    break
        except _StreamFailed as error:
            helpers.add_note(notes, f"{key}: {error}")
            self.streams[key] = {"since_id": since_id or newest}
            return
        if max_id:
            self.streams[key] = {"since_id": since_id, "max_id": max_id, "newest_id": newest}
            self.more = True
        else:
            self.streams[key] = {"since_id": newest or since_id}

    def read_search(self, *, key: str, terms: str, interested: list[tuple[WatchSpec, Any]], notes: list[str]) -> None:
        state = self.cursor.get(key) if isinstance(self.cursor.get(key), dict) else {}
        since_id = state.get("since_id")
        try:
            # No min_id: Mastodon.py gates it on a version probe. Older results are dropped below.
            found = self._call(
                lambda: self.client.search_v2(
                    terms, resolve=False, result_type="statuses", exclude_unreviewed=False, limit=PAGE_SIZE
                )
            )
        except _StreamFailed as error:
            helpers.add_note(notes, f"{key}: {error}")
            self.streams[key] = dict(state)
            return
        statuses = list(found.get("statuses") or []) if isinstance(found, dict) else []
        self._take(statuses, interested, since_id=since_id)
        self.streams[key] = {"since_id": helpers.newest_id(since_id, *(str(status["id"]) for status in statuses))}

    def _call(self, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except MastodonRatelimitError:
            reset = self.client.ratelimit_reset
            retry_at = helpers.epoch_to_datetime(reset) if reset else None
            if retry_at is not None and retry_at <= timezone.now():
                retry_at = None
            raise SourceError("Mastodon rate limit reached.", retryable=True, retry_at=retry_at, reads=self.reads) from None
        except MastodonUnauthorizedError as error:
            raise SourceError(
                f"The instance refused the access token or requires one (401): {describe_error(error)}",
                retryable=False,
                reads=self.reads,
            ) from None
        except MastodonNotFoundError as error:
            raise _StreamFailed("not found on this instance") from None
        except MastodonServerError as error:
            raise SourceError(f"The instance is failing ({error_status(error)}); will retry.", retryable=True, reads=self.reads) from None
        except MastodonNetworkError as error:
            raise SourceError(f"Could not reach the instance: {str(error)[:200]}", retryable=True, reads=self.reads) from None
        except MastodonAPIError as error:
            status = error_status(error)
            retryable = not (isinstance(status, int) and 400 <= status < 500)
            raise SourceError(f"The instance refused the request ({status}): {describe_error(error)}", retryable=retryable, reads=self.reads) from None
        except MastodonError as error:
            raise SourceError(f"Mastodon request failed: {str(error)[:200]}", retryable=True, reads=self.reads) from None

    def _take(self, statuses: list, interested: list[tuple[WatchSpec, Any]], *, since_id: str | None) -> None:
        for status in statuses:
            status_id = str(status.get("id") or "")
            if not status_id:
                continue
            self.reads += 1
            if since_id and helpers.id_order(status_id) <= helpers.id_order(since_id):
                continue
            if status_id in self.drafts:
                continue
            draft = status_to_draft(status)
            if any(query.matches(draft["text"], author_handle=draft["author_handle"]) for _watch, query in interested):
                self.drafts[status_id] = draft


def error_status(error: MastodonError) -> Any:
    """The HTTP status Mastodon.py kept on its error, or "?"."""
    return error.args[1] if len(error.args) > 1 else "?"


def describe_error(error: MastodonError) -> str:
    """The instance's own message when Mastodon.py kept it, else the HTTP reason."""
    for index in (3, 2):
        if len(error.args) > index and error.args[index]:
            return str(error.args[index])[:200]
    return str(error.args[0] if error.args else error)[:200]


def status_to_draft(status: Any) -> MentionDraft:
    account = status.get("account") or {}
    text = helpers.html_to_text(status.get("content"))
    spoiler = helpers.html_to_text(status.get("spoiler_text"))
    if spoiler:
        text = f"{spoiler}\n{text}" if text else spoiler
    created_at = status.get("created_at")
    return MentionDraft(
        external_id=str(status.get("id")),
        text=text,
        posted_at=created_at.isoformat() if hasattr(created_at, "isoformat") else str(created_at or ""),
        url=status.get("url") or status.get("uri") or "",
        author_handle=account.get("acct") or account.get("username") or "",
        author_name=account.get("display_name") or "",
        author_followers=helpers.int_or_zero(account.get("followers_count")),
        author_verified=False,  # Mastodon has no verified badge (profile links are verified, not people)
        language=status.get("language") or None,
        likes=helpers.int_or_zero(status.get("favourites_count")),
        reposts=helpers.int_or_zero(status.get("reblogs_count")),
        replies=helpers.int_or_zero(status.get("replies_count")),
        reply_to_id=str(status.get("in_reply_to_id") or ""),
        conversation_id="",
        raw=helpers.json_safe(status),
    )
