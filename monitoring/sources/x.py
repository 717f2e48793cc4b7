"""X (Twitter) through the v2 API with tweepy: recent search for every watch, plus the
mentions timeline of the organisation's own accounts.

``config`` keys:

- ``account_ids`` — list of numeric X user ids whose mentions timeline is read
  (``GET /2/users/:id/mentions``); optional, default none.
- ``max_pages_per_poll`` — pages of up to 100 posts read per stream in one poll
  (1–50, default 5). X bills per post read, so this caps the cost of one poll.

``credentials`` keys:

- ``bearer_token`` — an app-only bearer token (required).

Every watch and account is a *stream* with its own cursor entry (``search:<watch_id>``,
``mentions:<account_id>``). A stream seen for the first time reads one page (the newest
posts) and remembers the newest id. After that each poll asks for posts after ``since_id``,
newest first, following ``meta.next_token`` up to ``max_pages_per_poll``. ``since_id``
only moves to the newest id once every page down to it has been read: when pages remain,
the stream keeps ``{since_id, next_token, newest_id}`` and the result says ``more`` so the
next poll (soon) continues where this one stopped, without a gap.

A page may carry ``errors[]`` next to ``data`` (a suspended author of a referenced post, for
example): its data is used and the errors' details are kept in the cursor under
``last_partial_errors``. A request X refuses (HTTP 400: a bad query, a since_id older than
the 7-day window) or an account it does not know (404) is noted under ``notes`` and that
stream starts afresh next time; the other streams carry on. Bad credentials (401/403)
stop the poll for good; 429, 5xx and network failures are retryable, and a 429 says when
(``x-rate-limit-reset``).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone as dt_timezone
from typing import Any, Callable

import requests
import tweepy

from monitoring.drafts import MentionDraft
from monitoring.sources import helpers
from monitoring.sources.base import HTTP_TIMEOUT_SECONDS, PollResult, SourceAdapter, SourceError, WatchSpec

PAGE_SIZE = 100
MAX_ACCOUNTS = 20
TWITTER_EPOCH_MS = 1288834974657
EXPANSIONS = ["author_id"]
TWEET_FIELDS = [
    "created_at",
    "lang",
    "public_metrics",
    "conversation_id",
    "in_reply_to_user_id",
    "referenced_tweets",
    "author_id",
    "note_tweet",
]
USER_FIELDS = ["username", "name", "public_metrics", "verified"]
MAX_PARTIAL_ERRORS = 5
ACCOUNT_ID = re.compile(r"[0-9]{1,20}")


class _TimeoutSession(requests.Session):
    """tweepy sends every request without a timeout; a poll must never hang."""

    def request(self, method, url, **kwargs):  # type: ignore[override]
        kwargs.setdefault("timeout", HTTP_TIMEOUT_SECONDS)
        return super().request(method, url, **kwargs)


class _StreamFailed(Exception):
    """One stream cannot be read (bad query, unknown account); the others can."""


class XAdapter(SourceAdapter):
    kind = "x"

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        config = helpers.require_mapping(config, "X configuration")
        helpers.reject_unknown_keys(config, {"account_ids", "max_pages_per_poll"}, "X configuration")
        return {
            "account_ids": helpers.clean_string_list(
                config, "account_ids", pattern=ACCOUNT_ID, label="numeric X user id", maximum=MAX_ACCOUNTS
            ),
            "max_pages_per_poll": helpers.clean_int(config, "max_pages_per_poll", default=5, minimum=1, maximum=50),
        }

    @classmethod
    def validate_credentials(cls, credentials: dict[str, Any]) -> dict[str, Any]:
        credentials = helpers.require_mapping(credentials, "X credentials")
        helpers.reject_unknown_keys(credentials, {"bearer_token"}, "X credentials")
        return {"bearer_token": helpers.clean_secret(credentials, "bearer_token", required=True, label="The X bearer token")}

    def poll(self, *, cursor: dict[str, Any], watches: list[WatchSpec]) -> PollResult:
        config, credentials = helpers.settings_or_error(self)
        client = tweepy.Client(
            bearer_token=credentials["bearer_token"], return_type=requests.Response, wait_on_rate_limit=False
        )
        client.session = _TimeoutSession()
        poll = _XPoll(client=client, cursor=cursor, max_pages=config["max_pages_per_poll"])

        notes: list[str] = []
        for watch, query in helpers.parse_watches(watches, notes):
            try:
                query_text = query.to_x(language=watch.language)
            except ValueError as error:
                helpers.add_note(notes, f"watch {watch.watch_id} skipped: {error}")
                continue
            poll.read_stream(
                key=f"search:{watch.watch_id}",
                endpoint="search",
                identity=query_text,
                fetch=lambda since_id, token, query_text=query_text: client.search_recent_tweets(
                    query=query_text, since_id=since_id, next_token=token, **_request_fields()
                ),
                notes=notes,
            )
        for account_id in config["account_ids"]:
            poll.read_stream(
                key=f"mentions:{account_id}",
                endpoint="mentions",
                identity=account_id,
                fetch=lambda since_id, token, account_id=account_id: client.get_users_mentions(
                    account_id, since_id=since_id, pagination_token=token, **_request_fields()
                ),
                notes=notes,
            )

        # Entries of deleted watches and removed accounts (and last poll's notes) are dropped.
        new_cursor = {key: value for key, value in cursor.items() if _is_current_stream(key, watches, config)}
        new_cursor.update(poll.streams)
        if poll.partial_errors:
            new_cursor["last_partial_errors"] = poll.partial_errors
        if notes:
            new_cursor["notes"] = notes
        return PollResult(
            drafts=list(poll.drafts.values()),
            cursor=new_cursor,
            reads=poll.reads,
            more=poll.more,
            rate_limit=helpers.tightest_rate_limit(poll.rate_limits),
        )


def _request_fields() -> dict[str, Any]:
    return {
        "max_results": PAGE_SIZE,
        "expansions": EXPANSIONS,
        "tweet_fields": TWEET_FIELDS,
        "user_fields": USER_FIELDS,
    }


def _is_current_stream(key: str, watches: list[WatchSpec], config: dict[str, Any]) -> bool:
    kind, _, identity = key.partition(":")
    if kind == "search":
        return identity in {str(watch.watch_id) for watch in watches}
    if kind == "mentions":
        return identity in config["account_ids"]
    return False


class _XPoll:
    """The state of one poll across its streams."""

    def __init__(self, *, client: tweepy.Client, cursor: dict[str, Any], max_pages: int):
        self.client = client
        self.cursor = cursor
        self.max_pages = max_pages
        self.streams: dict[str, dict[str, Any]] = {}
        self.drafts: dict[str, MentionDraft] = {}
        self.reads = 0
        self.more = False
        self.partial_errors: list[str] = []
        self.rate_limits: dict[str, dict[str, Any]] = {}

    def read_stream(
        self,
        *,
        key: str,
        endpoint: str,
        identity: str,
        fetch: Callable[[str | None, str | None], requests.Response],
        notes: list[str],
    ) -> None:
        state = self.cursor.get(key)
        if not isinstance(state, dict) or state.get("identity") != identity:
            state = {}  # new stream, or the watch's query changed: a pending next_token is void
        since_id = state.get("since_id")
        token = state.get("next_token")
        newest = state.get("newest_id")
        first_read = since_id is None and token is None

        if self._exhausted(endpoint):
            # X said no calls are left on this endpoint: leave the stream for a later poll.
            self.streams[key] = state or {"identity": identity}
            return

        pages = 0
        try:
            while pages < self.max_pages:
                page = self._fetch_page(endpoint, lambda: fetch(since_id, token))
                pages += 1
                self._take_page(page)
                meta = page.get("meta") or {}
                newest = helpers.newest_id(newest, meta.get("newest_id"), *(t.get("id") for t in page.get("data") or []))
                token = meta.get("next_token")
                if not token or first_read or self._exhausted(endpoint):
                    break
        except _StreamFailed as error:
            helpers.add_note(notes, f"{key}: {error}")
            # X also answers 400 to a since_id older than its 7-day search window, or to a
            # stale next_token: start the stream afresh rather than failing on it forever.
            self.streams[key] = {"identity": identity}
            return

        if token and not first_read:
            self.streams[key] = {"identity": identity, "since_id": since_id, "next_token": token, "newest_id": newest}
            self.more = self.more or not self._exhausted(endpoint)
        else:
            self.streams[key] = {"identity": identity, "since_id": newest or since_id}

    def _exhausted(self, endpoint: str) -> bool:
        limit = self.rate_limits.get(endpoint) or {}
        return limit.get("remaining") == 0

    def _fetch_page(self, endpoint: str, call: Callable[[], requests.Response]) -> dict[str, Any]:
        try:
            response = call()
        except tweepy.TooManyRequests as error:
            self._note_rate_limit(endpoint, error.response)
            reset = error.response.headers.get("x-rate-limit-reset") if error.response is not None else None
            raise SourceError(
                f"X rate limit reached for {endpoint}.",
                retryable=True,
                retry_at=helpers.epoch_to_datetime(reset),
                reads=self.reads,
            ) from None
        except tweepy.Unauthorized as error:
            raise SourceError(f"X refused the bearer token (401): {describe_error(error)}", retryable=False, reads=self.reads) from None
        except tweepy.Forbidden as error:
            raise SourceError(
                f"X refused access (403), check the app's access level: {describe_error(error)}", retryable=False, reads=self.reads
            ) from None
        except (tweepy.BadRequest, tweepy.NotFound) as error:
            raise _StreamFailed(f"X refused the request ({error.response.status_code}): {describe_error(error)}") from None
        except tweepy.TwitterServerError as error:
            raise SourceError(f"X is failing ({error.response.status_code}); will retry.", retryable=True, reads=self.reads) from None
        except tweepy.HTTPException as error:
            raise SourceError(f"X answered {describe_error(error)}; will retry.", retryable=True, reads=self.reads) from None
        except requests.Timeout:
            raise SourceError("X did not answer in time; will retry.", retryable=True, reads=self.reads) from None
        except requests.RequestException as error:
            raise SourceError(f"Could not reach X ({type(error).__name__}); will retry.", retryable=True, reads=self.reads) from None

        self._note_rate_limit(endpoint, response)
        try:
            page = response.json()
        except ValueError:
            raise SourceError("X sent a response that is not JSON; will retry.", retryable=True, reads=self.reads) from None
        if not isinstance(page, dict):
            raise SourceError("X sent an unexpected response; will retry.", retryable=True, reads=self.reads)
        return page

    def _note_rate_limit(self, endpoint: str, response: Any) -> None:
        limit = helpers.rate_limit_from_headers(getattr(response, "headers", None), "x-rate-limit-")
        if limit:
            self.rate_limits[endpoint] = limit

    def _take_page(self, page: dict[str, Any]) -> None:
        tweets = [tweet for tweet in page.get("data") or [] if isinstance(tweet, dict) and tweet.get("id")]
        self.reads += len(tweets)
        users = {
            user.get("id"): user
            for user in (page.get("includes") or {}).get("users") or []
            if isinstance(user, dict)
        }
        for tweet in tweets:
            self.drafts.setdefault(str(tweet["id"]), tweet_to_draft(tweet, users.get(tweet.get("author_id")) or {}))
        for error in page.get("errors") or []:
            if isinstance(error, dict) and len(self.partial_errors) < MAX_PARTIAL_ERRORS:
                self.partial_errors.append(str(error.get("detail") or error.get("title") or error)[:200])


def describe_error(error: tweepy.HTTPException) -> str:
    """X's own messages for a refused request, else its status line."""
    messages = [str(message) for message in getattr(error, "api_messages", []) if message]
    if messages:
        return "; ".join(messages)[:300]
    response = getattr(error, "response", None)
    return f"{getattr(response, 'status_code', '')} {getattr(response, 'reason', '')}".strip()


def tweet_to_draft(tweet: dict[str, Any], user: dict[str, Any]) -> MentionDraft:
    tweet_id = str(tweet["id"])
    username = user.get("username") or ""
    metrics = tweet.get("public_metrics") or {}
    user_metrics = user.get("public_metrics") or {}
    note = tweet.get("note_tweet") or {}
    reply_to = next(
        (
            str(reference.get("id"))
            for reference in tweet.get("referenced_tweets") or []
            if isinstance(reference, dict) and reference.get("type") == "replied_to" and reference.get("id")
        ),
        "",
    )
    return MentionDraft(
        external_id=tweet_id,
        text=(note.get("text") if isinstance(note, dict) else None) or tweet.get("text") or "",
        posted_at=tweet.get("created_at") or _snowflake_time(tweet_id),
        url=f"https://x.com/{username}/status/{tweet_id}" if username else f"https://x.com/i/web/status/{tweet_id}",
        author_handle=username,
        author_name=user.get("name") or "",
        author_followers=helpers.int_or_zero(user_metrics.get("followers_count")),
        author_verified=bool(user.get("verified")),
        language=tweet.get("lang") or None,
        likes=helpers.int_or_zero(metrics.get("like_count")),
        reposts=helpers.int_or_zero(metrics.get("retweet_count")),
        replies=helpers.int_or_zero(metrics.get("reply_count")),
        reply_to_id=reply_to,
        conversation_id=str(tweet.get("conversation_id") or ""),
        raw=tweet,
    )


def _snowflake_time(tweet_id: str) -> str:
    """When ``created_at`` was not sent, the id itself says when the post was made."""
    try:
        milliseconds = (int(tweet_id) >> 22) + TWITTER_EPOCH_MS
    except ValueError:
        return ""
    return datetime.fromtimestamp(milliseconds / 1000, tz=dt_timezone.utc).isoformat()
