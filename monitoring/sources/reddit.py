"""Reddit through praw (read-only, app-only OAuth): the newest submissions matching each
watch in r/all or in the configured subreddits.

``config`` keys:

- ``subreddits`` — list of subreddit names (without ``r/``) searched together
  (``a+b+c``); optional, default all of Reddit.
- ``max_pages_per_poll`` — listing pages of up to 100 submissions read per watch in one
  poll (1–10, default 3).

``credentials`` keys (a "script" or "web" app from https://www.reddit.com/prefs/apps):

- ``client_id`` — the app's id (required).
- ``client_secret`` — the app's secret (required).
- ``user_agent`` — the descriptive User-Agent Reddit's API rules require, e.g.
  ``crisiscenter:acme-monitor:1.0 (by u/acme_comms)`` (required).

Each watch is a stream (``search:<watch_id>``) that runs
``subreddit(...).search(Query.to_reddit(), sort="new", time_filter="day")`` and stops at
the newest ``created_utc`` an earlier poll saw (remembering the ids seen at exactly that
second, so nothing is sent twice). A stream seen for the first time reads one page.
A watch's language is not sent: Reddit does not label languages (the pipeline detects them).
Reddit's search index lags behind posting by seconds to minutes and a submission that is
indexed late with an older ``created_utc`` than the watermark is missed; that is the cost of
search without a ``since`` parameter.

praw/prawcore would sleep between requests to pace themselves and before retrying a
failed one; an adapter must never sleep, so this one switches both off: it stops reading
when Reddit says no requests are left in the window, and turns failures into
``SourceError`` at once.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone as dt_timezone
from typing import Any

import praw
import prawcore
from prawcore.sessions import FiniteRetryStrategy

from monitoring.drafts import MentionDraft
from monitoring.sources import helpers
from monitoring.sources.base import HTTP_TIMEOUT_SECONDS, PollResult, SourceAdapter, SourceError, WatchSpec

PAGE_SIZE = 100
MAX_SUBREDDITS = 50
MAX_BOUNDARY_IDS = 50
SUBREDDIT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_]{1,20}")


class _NoRetry(FiniteRetryStrategy):
    """prawcore retries with a sleep; the poll task owns retries and back-off instead."""

    DEFAULT_RETRIES = 0

    def __init__(self, retries: int = 0):
        super().__init__(retries=0)

    def _sleep_seconds(self) -> float | None:
        return None


class _Requestor(prawcore.Requestor):
    """prawcore passes its own 16 s default with every API call; use ours everywhere."""

    def request(self, *args: Any, timeout: float | None = None, **kwargs: Any):
        return super().request(*args, timeout=HTTP_TIMEOUT_SECONDS, **kwargs)


class RedditAdapter(SourceAdapter):
    kind = "reddit"

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        config = helpers.require_mapping(config, "Reddit configuration")
        helpers.reject_unknown_keys(config, {"subreddits", "max_pages_per_poll"}, "Reddit configuration")
        names = [str(name).strip().removeprefix("/").removeprefix("r/") for name in _as_list(config.get("subreddits"))]
        subreddits = helpers.clean_string_list(
            {"subreddits": names}, "subreddits", pattern=SUBREDDIT_NAME, label="subreddit name", maximum=MAX_SUBREDDITS
        )
        return {
            "subreddits": subreddits,
            "max_pages_per_poll": helpers.clean_int(config, "max_pages_per_poll", default=3, minimum=1, maximum=10),
        }

    @classmethod
    def validate_credentials(cls, credentials: dict[str, Any]) -> dict[str, Any]:
        credentials = helpers.require_mapping(credentials, "Reddit credentials")
        helpers.reject_unknown_keys(credentials, {"client_id", "client_secret", "user_agent"}, "Reddit credentials")
        user_agent = credentials.get("user_agent")
        if not isinstance(user_agent, str) or len(user_agent.strip()) < 10:
            raise ValueError("user_agent is required: describe the app and its Reddit account, e.g. 'crisiscenter:acme:1.0 (by u/acme)'.")
        return {
            "client_id": helpers.clean_secret(credentials, "client_id", required=True, label="The Reddit client id"),
            "client_secret": helpers.clean_secret(credentials, "client_secret", required=True, label="The Reddit client secret"),
            "user_agent": user_agent.strip()[:200],
        }

    def poll(self, *, cursor: dict[str, Any], watches: list[WatchSpec]) -> PollResult:
        config, credentials = helpers.settings_or_error(self)
        reddit = praw.Reddit(
            client_id=credentials["client_id"],
            client_secret=credentials["client_secret"],
            user_agent=credentials["user_agent"],
            check_for_updates=False,
            requestor_class=_Requestor,
        )
        _never_sleep(reddit)
        subreddit = reddit.subreddit("+".join(config["subreddits"]) or "all")

        notes: list[str] = []
        streams: dict[str, dict[str, Any]] = {}
        drafts: dict[str, MentionDraft] = {}
        reads = 0
        keys = []
        for watch, query in helpers.parse_watches(watches, notes):
            key = f"search:{watch.watch_id}"
            keys.append(key)
            state = cursor.get(key) if isinstance(cursor.get(key), dict) else {}
            try:
                search = query.to_reddit()
            except ValueError as error:
                helpers.add_note(notes, f"watch {watch.watch_id} skipped: {error}")
                continue
            if state.get("q") != search:
                state = {}
            if _requests_left(reddit) == 0:
                streams[key] = state  # Reddit's window is spent: this watch waits for the next poll
                continue
            watermark = state.get("newest_created_utc")
            boundary = set(state.get("boundary_ids") or [])
            newest, newest_ids = watermark, set(boundary)
            limit = PAGE_SIZE if watermark is None else PAGE_SIZE * config["max_pages_per_poll"]
            try:
                for submission in subreddit.search(search, sort="new", time_filter="day", limit=limit):
                    reads += 1
                    created = float(getattr(submission, "created_utc", 0) or 0)
                    fullname = submission.fullname
                    if watermark is not None and (created < watermark or (created == watermark and fullname in boundary)):
                        break
                    if newest is None or created > newest:
                        newest, newest_ids = created, {fullname}
                    elif created == newest:
                        newest_ids.add(fullname)
                    drafts.setdefault(fullname, submission_to_draft(submission))
            except prawcore.exceptions.Redirect:
                helpers.add_note(notes, f"{key}: a configured subreddit does not exist")
                streams[key] = state
                continue
            except (prawcore.exceptions.BadRequest, prawcore.exceptions.NotFound) as error:
                helpers.add_note(notes, f"{key}: Reddit refused the search ({error.response.status_code})")
                streams[key] = state
                continue
            except prawcore.PrawcoreException as error:
                raise _source_error(error, reads=reads) from None
            streams[key] = {"q": search, "newest_created_utc": newest, "boundary_ids": sorted(newest_ids)[:MAX_BOUNDARY_IDS]}

        new_cursor = {key: streams.get(key, cursor.get(key)) for key in keys if key in streams or key in cursor}
        if notes:
            new_cursor["notes"] = notes
        return PollResult(drafts=list(drafts.values()), cursor=new_cursor, reads=reads, rate_limit=_rate_limit(reddit))


def _as_list(value: Any) -> list:
    if value in (None, ""):
        return []
    if isinstance(value, str):
        return re.split(r"[\s,+]+", value)
    if isinstance(value, (list, tuple)):
        return list(value)
    raise ValueError("subreddits must be a list of subreddit names.")


def _never_sleep(reddit: praw.Reddit) -> None:
    """Switch off prawcore's pacing and retry sleeps (private attributes, so guarded)."""
    for core in {id(core): core for core in (getattr(reddit, "_core", None), getattr(reddit, "_read_only_core", None)) if core}.values():
        if hasattr(core, "_retry_strategy_class"):
            core._retry_strategy_class = _NoRetry
        limiter = getattr(core, "_rate_limiter", None)
        if limiter is not None and hasattr(limiter, "delay"):
            limiter.delay = lambda: None


def _requests_left(reddit: praw.Reddit) -> int | None:
    remaining = reddit.auth.limits.get("remaining")
    return None if remaining is None else int(remaining)


def _rate_limit(reddit: praw.Reddit) -> dict[str, Any]:
    limits = reddit.auth.limits
    if limits.get("remaining") is None:
        return {}
    limit = {"remaining": int(limits["remaining"])}
    if limits.get("used") is not None:
        limit["used"] = int(limits["used"])
        limit["limit"] = limit["remaining"] + limit["used"]
    limiter = getattr(getattr(reddit, "_core", None), "_rate_limiter", None)
    next_ns = getattr(limiter, "next_request_timestamp_ns", None)
    if limiter is not None and limit["remaining"] == 0 and next_ns:
        limit["reset"] = int(time.time() + max(0, next_ns - time.monotonic_ns()) / 1e9)
    return limit


def _source_error(error: prawcore.PrawcoreException, *, reads: int) -> SourceError:
    if isinstance(error, prawcore.exceptions.TooManyRequests):
        headers = error.response.headers
        seconds = headers.get("x-ratelimit-reset") or headers.get("retry-after")
        retry_at = None
        try:
            retry_at = datetime.fromtimestamp(time.time() + float(seconds), tz=dt_timezone.utc) if seconds else None
        except (TypeError, ValueError, OverflowError):
            retry_at = None
        return SourceError("Reddit rate limit reached.", retryable=True, retry_at=retry_at, reads=reads)
    if isinstance(error, prawcore.exceptions.OAuthException):
        return SourceError(f"Reddit refused the app credentials: {error}", retryable=False, reads=reads)
    if isinstance(error, (prawcore.exceptions.InvalidToken, prawcore.exceptions.Forbidden, prawcore.exceptions.InsufficientScope)):
        return SourceError(
            f"Reddit refused access ({error.response.status_code}): check the client id, secret and user agent, "
            "and that the configured subreddits are not private or banned.",
            retryable=False,
            reads=reads,
        )
    if isinstance(error, prawcore.exceptions.UnavailableForLegalReasons):
        return SourceError("Reddit refused the request for legal reasons (451).", retryable=False, reads=reads)
    if isinstance(error, prawcore.exceptions.ResponseException):
        status = error.response.status_code
        if status in (401, 403):
            return SourceError(
                f"Reddit refused the app credentials ({status}); check the client id and secret.", retryable=False, reads=reads
            )
        return SourceError(f"Reddit answered {status}; will retry.", retryable=True, reads=reads)
    if isinstance(error, prawcore.exceptions.RequestException):
        return SourceError(
            f"Could not reach Reddit ({type(error.original_exception).__name__}); will retry.", retryable=True, reads=reads
        )
    return SourceError(f"Reddit request failed: {str(error)[:200]}", retryable=True, reads=reads)


def submission_to_draft(submission: Any) -> MentionDraft:
    title = getattr(submission, "title", "") or ""
    selftext = getattr(submission, "selftext", "") or ""
    author = getattr(submission, "author", None)
    author_name = getattr(author, "name", "") if author is not None else ""
    permalink = getattr(submission, "permalink", "") or ""
    created = float(getattr(submission, "created_utc", 0) or 0)
    return MentionDraft(
        external_id=submission.fullname,
        text=f"{title}\n\n{selftext}".strip(),
        posted_at=datetime.fromtimestamp(created, tz=dt_timezone.utc).isoformat(),
        url=f"https://www.reddit.com{permalink}" if permalink.startswith("/") else permalink,
        author_handle=author_name,
        author_name="",
        author_followers=0,
        author_verified=False,
        language=None,  # Reddit does not label languages
        likes=helpers.int_or_zero(getattr(submission, "score", 0)),
        reposts=helpers.int_or_zero(getattr(submission, "num_crossposts", 0)),
        replies=helpers.int_or_zero(getattr(submission, "num_comments", 0)),
        reply_to_id="",
        conversation_id=submission.fullname,
        raw=_raw(submission),
    )


def _raw(submission: Any) -> dict[str, Any]:
    """The submission's fields as Reddit sent them (praw turns author and subreddit into
    objects; they go back to their names)."""
    fields = {key: value for key, value in vars(submission).items() if not key.startswith("_")}
    if "author" in fields:
        fields["author"] = getattr(fields["author"], "name", None)
    if "subreddit" in fields:
        fields["subreddit"] = getattr(fields["subreddit"], "display_name", str(fields["subreddit"]))
    fields.pop("comment_limit", None)
    fields.pop("comment_sort", None)
    return helpers.json_safe(fields)
