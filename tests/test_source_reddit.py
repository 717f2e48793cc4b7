"""The Reddit adapter through praw against Reddit's documented shapes: the app-only OAuth
token answer and a search ``Listing`` of ``t3`` (submission) things; only HTTP is mocked."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone

import pytest
import requests

from monitoring.drafts import clean_draft
from monitoring.sources.base import SourceError
from monitoring.sources.reddit import RedditAdapter
from tests.test_source_common import responses, watch

TOKEN_URL = "https://www.reddit.com/api/v1/access_token"
SEARCH_ALL = "https://oauth.reddit.com/r/all/search/"
CREDENTIALS = {"client_id": "p-jcoLKBynTLew", "client_secret": "gko_LXELoV07ZBNUXrvWZfzE3aI", "user_agent": "crisiscenter:tests:1.0 (by u/crisis_desk)"}
RATE_HEADERS = {"x-ratelimit-remaining": "995.0", "x-ratelimit-used": "5", "x-ratelimit-reset": "420"}


def submission(short_id: str, title: str, created_utc: float, *, selftext: str = "", author: str = "alice", subreddit: str = "news") -> dict:
    """A ``t3`` thing with the fields Reddit documents for a link/self post."""
    return {
        "kind": "t3",
        "data": {
            "id": short_id,
            "name": f"t3_{short_id}",
            "title": title,
            "selftext": selftext,
            "selftext_html": None,
            "author": author,
            "author_fullname": "t2_abc123",
            "subreddit": subreddit,
            "subreddit_id": "t5_2qh3l",
            "subreddit_name_prefixed": f"r/{subreddit}",
            "created": created_utc,
            "created_utc": created_utc,
            "permalink": f"/r/{subreddit}/comments/{short_id}/{title.lower().replace(' ', '_')[:40]}/",
            "url": f"https://www.reddit.com/r/{subreddit}/comments/{short_id}/",
            "domain": f"self.{subreddit}",
            "is_self": True,
            "over_18": False,
            "score": 42,
            "ups": 42,
            "upvote_ratio": 0.97,
            "num_comments": 7,
            "num_crossposts": 1,
            "stickied": False,
            "locked": False,
        },
    }


def listing(children: list[dict], after: str | None = None) -> dict:
    return {"kind": "Listing", "data": {"after": after, "dist": len(children), "modhash": "", "geo_filter": "", "children": children, "before": None}}


ALERT = submission("1b2c3d", "Acme X2 battery recall announced", 1740823205.0, selftext="Stop charging it & call Acme.")
FOLLOW_UP = submission("1b2c3e", "Acme recall: refunds start Monday", 1740823440.0, author="bob")


@pytest.fixture
def http():
    with responses.RequestsMock() as mock:
        mock.post(TOKEN_URL, json={"access_token": "eyJhbGciOiJSUzI1NiJ9.app-only", "token_type": "bearer", "expires_in": 86400, "scope": "*"})
        mock.assert_all_requests_are_fired = False
        yield mock


def sent(call) -> dict:
    from urllib.parse import parse_qs, urlsplit

    return {key: values[0] for key, values in parse_qs(urlsplit(call.request.url).query).items()}


def searches(http) -> list:
    return [call for call in http.calls if "/search" in call.request.url]


def adapter(**config) -> RedditAdapter:
    return RedditAdapter(config=config, credentials=CREDENTIALS)


def test_a_search_of_all_of_reddit_becomes_drafts(http):
    http.get(SEARCH_ALL, json=listing([FOLLOW_UP, ALERT]), headers=RATE_HEADERS)

    result = adapter().poll(cursor={}, watches=[watch(2, "recall")])

    token_call = http.calls[0]
    assert token_call.request.url == TOKEN_URL
    assert "grant_type=client_credentials" in token_call.request.body
    assert token_call.request.req_kwargs["timeout"] == 15.0
    (search,) = searches(http)
    assert sent(search) == {"q": "recall", "restrict_sr": "False", "sort": "new", "syntax": "lucene", "t": "day", "limit": "100", "raw_json": "1"}
    assert search.request.headers["Authorization"] == "bearer eyJhbGciOiJSUzI1NiJ9.app-only"
    assert search.request.headers["User-Agent"].startswith(CREDENTIALS["user_agent"])
    assert search.request.req_kwargs["timeout"] == 15.0

    assert [draft["external_id"] for draft in result.drafts] == ["t3_1b2c3e", "t3_1b2c3d"]
    draft = result.drafts[1]
    assert draft["text"] == "Acme X2 battery recall announced\n\nStop charging it & call Acme."
    assert draft["url"] == "https://www.reddit.com/r/news/comments/1b2c3d/acme_x2_battery_recall_announced/"
    assert draft["author_handle"] == "alice"
    assert (draft["likes"], draft["replies"], draft["reposts"]) == (42, 7, 1)
    assert clean_draft(draft)["posted_at"] == datetime.fromtimestamp(1740823205, tz=timezone.utc)
    assert draft["raw"]["name"] == "t3_1b2c3d" and draft["raw"]["author"] == "alice" and draft["raw"]["subreddit"] == "news"
    json.dumps(draft["raw"])  # JSON-safe for the broker
    assert result.cursor["search:2"] == {"q": "recall", "newest_created_utc": 1740823440.0, "boundary_ids": ["t3_1b2c3e"]}
    assert result.rate_limit == {"remaining": 995, "used": 5, "limit": 1000}
    assert result.reads == 2


def test_configured_subreddits_are_searched_together(http):
    route = http.get("https://oauth.reddit.com/r/news+worldnews/search/", json=listing([ALERT]), headers=RATE_HEADERS)

    adapter(subreddits=["news", "worldnews"]).poll(cursor={}, watches=[watch(2, "recall")])

    assert route.call_count == 1
    assert sent(searches(http)[0])["restrict_sr"] == "True"


def test_a_later_poll_stops_at_the_newest_it_has_seen(http):
    newer = submission("1b2c3f", "Second Acme recall wave", 1740823500.0)
    http.get(SEARCH_ALL, json=listing([newer, FOLLOW_UP, ALERT], after="t3_1b2c3d"), headers=RATE_HEADERS)
    cursor = {"search:2": {"q": "recall", "newest_created_utc": 1740823440.0, "boundary_ids": ["t3_1b2c3e"]}}

    result = adapter().poll(cursor=cursor, watches=[watch(2, "recall")])

    assert [draft["external_id"] for draft in result.drafts] == ["t3_1b2c3f"]
    assert len(searches(http)) == 1  # stopped inside the first page, no request for the next
    assert result.cursor["search:2"]["newest_created_utc"] == 1740823500.0


def test_429_is_retryable_after_the_reset(http):
    http.get(
        SEARCH_ALL,
        status=429,
        body="Too Many Requests",
        headers={"x-ratelimit-remaining": "0", "x-ratelimit-used": "1000", "x-ratelimit-reset": "120"},
    )

    with pytest.raises(SourceError) as caught:
        adapter().poll(cursor={}, watches=[watch(2, "recall")])

    assert caught.value.retryable is True
    assert abs(caught.value.retry_at.timestamp() - (time.time() + 120)) < 5


def test_refused_app_credentials_are_not_retryable():
    with responses.RequestsMock() as http:
        http.post(TOKEN_URL, status=401, json={"message": "Unauthorized", "error": 401})

        with pytest.raises(SourceError) as caught:
            adapter().poll(cursor={}, watches=[watch(2, "recall")])

    assert caught.value.retryable is False


@pytest.mark.parametrize(
    "failure",
    [{"status": 503, "body": "upstream connect error"}, {"body": requests.exceptions.ReadTimeout("timed out")}],
    ids=["503", "timeout"],
)
def test_failures_are_retryable_and_never_retried_with_a_sleep(http, failure, monkeypatch):
    monkeypatch.setattr(time, "sleep", lambda seconds: pytest.fail(f"slept {seconds}s"))
    http.get(SEARCH_ALL, **failure)

    with pytest.raises(SourceError) as caught:
        adapter().poll(cursor={}, watches=[watch(2, "recall")])

    assert caught.value.retryable is True
    assert len(searches(http)) == 1  # prawcore would have retried twice, sleeping in between


def test_when_the_window_is_spent_the_other_watches_wait(http):
    http.get(SEARCH_ALL, json=listing([ALERT]), headers={"x-ratelimit-remaining": "0", "x-ratelimit-used": "1000", "x-ratelimit-reset": "60"})

    result = adapter().poll(cursor={}, watches=[watch(2, "recall"), watch(3, "refunds")])

    assert len(searches(http)) == 1
    assert result.cursor["search:3"] == {}
    assert result.rate_limit["remaining"] == 0


def test_a_missing_subreddit_is_noted(http):
    http.get(
        "https://oauth.reddit.com/r/nosuchplace/search/",
        status=302,
        headers={"location": "https://www.reddit.com/subreddits/search?q=nosuchplace"},
    )

    result = adapter(subreddits=["nosuchplace"]).poll(cursor={}, watches=[watch(2, "recall")])

    assert result.drafts == []
    assert result.cursor["notes"] == ["search:2: a configured subreddit does not exist"]
