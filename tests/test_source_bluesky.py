"""The Bluesky adapter against responses built to the atproto lexicons in
``../shared/data/bluesky`` (checked against them, and against atproto's own models, before
use); only HTTP is mocked (``respx``, atproto speaks httpx)."""

from __future__ import annotations

import base64
import json
import time
from datetime import datetime, timezone

import httpx
import pytest
import respx
from atproto import models
from atproto_client.models.utils import get_or_create

from monitoring.drafts import clean_draft
from monitoring.sources import bluesky as bluesky_source
from monitoring.sources.base import SourceError
from monitoring.sources.bluesky import BlueskyAdapter
from tests.test_source_common import shared_data, watch

APPVIEW_SEARCH = "https://api.bsky.app/xrpc/app.bsky.feed.searchPosts"
PDS = "https://bsky.social/xrpc"
DESK = {"handle": "crisis-desk.bsky.social", "app_password": "abcd-efgh-ijkl-mnop"}


def lexicon(name: str) -> dict:
    return json.loads(shared_data("bluesky", f"lexicon_{name}.json").read_text())


def post_view(rkey: str, text: str, created_at: str, *, handle: str = "alice.bsky.social", indexed_at: str | None = None, **extra) -> dict:
    did = "did:plc:" + handle.split(".")[0].ljust(24, "x")
    return {
        "uri": f"at://{did}/app.bsky.feed.post/{rkey}",
        "cid": "bafyreib2rxk3rybk3aobmv5cjuql3bm2twh4jo5uxgf5dc2vbtl7hifh4e",
        "author": {"did": did, "handle": handle, "displayName": handle.split(".")[0].title()},
        "record": {"$type": "app.bsky.feed.post", "text": text, "createdAt": created_at, "langs": ["en"]},
        "replyCount": 2,
        "repostCount": 3,
        "likeCount": 5,
        "quoteCount": 1,
        "indexedAt": indexed_at or created_at,
        **extra,
    }


def search_output(posts: list[dict], cursor: str | None = None) -> dict:
    """A searchPosts output, checked against the lexicon and atproto's model."""
    output = {"posts": posts}
    if cursor:
        output["cursor"] = cursor
    schema = lexicon("app.bsky.feed.searchPosts")["defs"]["main"]["output"]["schema"]
    assert set(schema["required"]) <= set(output)
    post_required = lexicon("app.bsky.feed.defs")["defs"]["postView"]["required"]
    author_required = lexicon("app.bsky.actor.defs")["defs"]["profileViewBasic"]["required"]
    record_required = lexicon("app.bsky.feed.post")["defs"]["main"]["record"]["required"]
    for post in posts:
        assert set(post_required) <= set(post)
        assert set(author_required) <= set(post["author"])
        assert set(record_required) <= set(post["record"])
    get_or_create(output, models.AppBskyFeedSearchPosts.Response, strict=True)
    return output


def access_jwt(did: str) -> str:
    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    now = int(time.time())
    claims = {"scope": "com.atproto.appPass", "sub": did, "iat": now, "exp": now + 7200, "aud": "did:web:bsky.social"}
    return f"{part({'alg': 'ES256K', 'typ': 'at+jwt'})}.{part(claims)}.c2lnbmF0dXJl"


def session_output() -> dict:
    did = "did:plc:crisisdeskxxxxxxxxxxxxxx"
    return {"did": did, "handle": DESK["handle"], "accessJwt": access_jwt(did), "refreshJwt": access_jwt(did), "active": True}


@pytest.fixture(autouse=True)
def _fresh_sessions():
    bluesky_source.forget_sessions()
    yield
    bluesky_source.forget_sessions()


@pytest.fixture
def http():
    with respx.mock(assert_all_called=False) as mock:
        yield mock


def params(call) -> dict:
    return dict(call.request.url.params)


ALERT = post_view("3kalert000001", "Battery recall for the Acme X2, stop charging now", "2025-03-01T10:00:05.000Z")
FOLLOW_UP = post_view("3kalert000002", "Acme X2 recall: refunds start Monday", "2025-03-01T10:04:00.000Z", handle="bob.bsky.social")
UNRELATED = post_view("3kalert000003", "Acme X2 battery life is great", "2025-03-01T10:02:00.000Z")


def test_anonymous_search_reads_the_appview_and_builds_drafts(http):
    route = http.get(APPVIEW_SEARCH).mock(
        return_value=httpx.Response(200, json=search_output([FOLLOW_UP, UNRELATED, ALERT], cursor="100"), headers={"ratelimit-limit": "3000", "ratelimit-remaining": "2999", "ratelimit-reset": "1893456000"})
    )

    result = BlueskyAdapter(config={}, credentials={}).poll(cursor={}, watches=[watch(8, "recall", language="en")])

    assert params(route.calls[0]) == {"q": "recall", "sort": "latest", "limit": "100", "lang": "en"}
    assert "authorization" not in route.calls[0].request.headers
    # Bluesky's search found three; only two say "recall" (the local re-check).
    assert [draft["external_id"] for draft in result.drafts] == [FOLLOW_UP["uri"], ALERT["uri"]]
    draft = result.drafts[1]
    assert draft["url"] == f"https://bsky.app/profile/alice.bsky.social/post/3kalert000001"
    assert draft["text"] == ALERT["record"]["text"]
    assert draft["author_handle"] == "alice.bsky.social"
    assert draft["author_name"] == "Alice"
    assert draft["author_followers"] == 0
    assert draft["language"] == "en"
    assert (draft["likes"], draft["reposts"], draft["replies"]) == (5, 3, 2)
    assert draft["conversation_id"] == ALERT["uri"]
    assert draft["raw"] == ALERT
    assert clean_draft(draft)["posted_at"] == datetime(2025, 3, 1, 10, 0, 5, tzinfo=timezone.utc)
    assert result.reads == 3
    assert result.more is False  # a first read takes one page
    assert result.cursor["search:8:0"] == {
        "q": "recall",
        "newest_sort_at": "2025-03-01T10:04:00.000000Z",
        "boundary_ids": [FOLLOW_UP["uri"]],
    }
    assert result.rate_limit == {"limit": 3000, "remaining": 2999, "reset": 1893456000}


def test_a_reply_points_at_its_parent_and_thread(http):
    parent, root = "at://did:plc:p/app.bsky.feed.post/3kparent", "at://did:plc:r/app.bsky.feed.post/3kroot"
    reply = post_view("3kreply", "the recall is real", "2025-03-01T11:00:00.000Z")
    reply["record"]["reply"] = {"parent": {"uri": parent, "cid": "bafyparent"}, "root": {"uri": root, "cid": "bafyroot"}}
    http.get(APPVIEW_SEARCH).mock(return_value=httpx.Response(200, json=search_output([reply])))

    (draft,) = BlueskyAdapter(config={}, credentials={}).poll(cursor={}, watches=[watch(8, "recall")]).drafts

    assert draft["reply_to_id"] == parent
    assert draft["conversation_id"] == root


def test_each_or_alternative_is_its_own_search(http):
    route = http.get(APPVIEW_SEARCH).mock(return_value=httpx.Response(200, json=search_output([])))

    result = BlueskyAdapter(config={}, credentials={}).poll(cursor={}, watches=[watch(8, 'recall OR "battery fire"')])

    assert [params(call)["q"] for call in route.calls] == ["recall", '"battery fire"']
    assert set(result.cursor) == {"search:8:0", "search:8:1"}


def test_a_later_poll_stops_at_what_it_has_seen(http):
    newer = post_view("3kalert000004", "recall update from Acme", "2025-03-01T10:06:00.000Z")
    route = http.get(APPVIEW_SEARCH).mock(
        return_value=httpx.Response(200, json=search_output([newer, FOLLOW_UP, ALERT], cursor="100"))
    )
    cursor = {"search:8:0": {"q": "recall", "newest_sort_at": "2025-03-01T10:04:00.000000Z", "boundary_ids": [FOLLOW_UP["uri"]]}}

    result = BlueskyAdapter(config={}, credentials={}).poll(cursor=cursor, watches=[watch(8, "recall")])

    assert len(route.calls) == 1  # the page ended among known posts: no second page
    assert [draft["external_id"] for draft in result.drafts] == [newer["uri"]]
    assert result.cursor["search:8:0"]["newest_sort_at"] == "2025-03-01T10:06:00.000000Z"


def test_logging_in_once_and_reusing_the_session(http):
    login = http.post(f"{PDS}/com.atproto.server.createSession").mock(return_value=httpx.Response(200, json=session_output()))
    search = http.get(f"{PDS}/app.bsky.feed.searchPosts").mock(return_value=httpx.Response(200, json=search_output([ALERT])))

    first = BlueskyAdapter(config={}, credentials=DESK).poll(cursor={}, watches=[watch(8, "recall")])
    BlueskyAdapter(config={}, credentials=DESK).poll(cursor=first.cursor, watches=[watch(8, "recall")])

    assert login.call_count == 1  # createSession is limited to 30 per 5 minutes per account
    assert json.loads(login.calls[0].request.content) == {"identifier": DESK["handle"], "password": DESK["app_password"]}
    assert search.call_count == 2
    assert search.calls[0].request.headers["authorization"].startswith("Bearer ")
    assert [draft["external_id"] for draft in first.drafts] == [ALERT["uri"]]


def test_logged_in_search_pages_until_the_budget_and_resumes(http):
    http.post(f"{PDS}/com.atproto.server.createSession").mock(return_value=httpx.Response(200, json=session_output()))
    page_two = post_view("3kalert000000", "older recall news", "2025-03-01T09:59:00.000Z")
    search = http.get(f"{PDS}/app.bsky.feed.searchPosts").mock(
        side_effect=[
            httpx.Response(200, json=search_output([FOLLOW_UP, ALERT], cursor="2")),
            httpx.Response(200, json=search_output([page_two], cursor="3")),
        ]
    )
    cursor = {"search:8:0": {"q": "recall", "newest_sort_at": "2025-03-01T09:00:00.000000Z", "boundary_ids": []}}

    result = BlueskyAdapter(config={"max_pages_per_poll": 2}, credentials=DESK).poll(cursor=cursor, watches=[watch(8, "recall")])

    assert params(search.calls[1])["cursor"] == "2"
    assert result.more is True
    assert len(result.drafts) == 3
    state = result.cursor["search:8:0"]
    assert state["newest_sort_at"] == "2025-03-01T09:00:00.000000Z"  # unchanged until the sweep ends
    assert state["page_cursor"] == "3"
    assert state["pending_sort_at"] == "2025-03-01T10:04:00.000000Z"


def test_anonymous_search_refused_asks_for_an_account(http):
    http.get(APPVIEW_SEARCH).mock(
        return_value=httpx.Response(403, json={"error": "AuthMissing", "message": "Authentication Required"})
    )

    with pytest.raises(SourceError) as caught:
        BlueskyAdapter(config={}, credentials={}).poll(cursor={}, watches=[watch(8, "recall")])

    assert caught.value.retryable is False
    assert "app password" in caught.value.message


def test_a_wrong_app_password_is_not_retryable(http):
    http.post(f"{PDS}/com.atproto.server.createSession").mock(
        return_value=httpx.Response(401, json={"error": "AuthenticationRequired", "message": "Invalid identifier or password"})
    )

    with pytest.raises(SourceError) as caught:
        BlueskyAdapter(config={}, credentials=DESK).poll(cursor={}, watches=[watch(8, "recall")])

    assert caught.value.retryable is False
    assert "Invalid identifier or password" in caught.value.message


def test_429_is_retryable_at_the_reset_time(http):
    http.get(APPVIEW_SEARCH).mock(
        return_value=httpx.Response(
            429,
            json={"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
            headers={"ratelimit-limit": "3000", "ratelimit-remaining": "0", "ratelimit-reset": "1893456000"},
        )
    )

    with pytest.raises(SourceError) as caught:
        BlueskyAdapter(config={}, credentials={}).poll(cursor={}, watches=[watch(8, "recall")])

    assert caught.value.retryable is True
    assert caught.value.retry_at == datetime(2030, 1, 1, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "failure",
    [httpx.Response(500, json={"error": "InternalServerError"}), httpx.ReadTimeout("timed out"), httpx.ConnectError("refused")],
    ids=["500", "timeout", "connection"],
)
def test_server_and_network_failures_are_retryable(http, failure):
    route = http.get(APPVIEW_SEARCH)
    if isinstance(failure, httpx.Response):
        route.mock(return_value=failure)
    else:
        route.mock(side_effect=failure)

    with pytest.raises(SourceError) as caught:
        BlueskyAdapter(config={}, credentials={}).poll(cursor={}, watches=[watch(8, "recall")])

    assert caught.value.retryable is True


def test_a_rejected_query_is_noted_and_others_continue(http):
    http.get(APPVIEW_SEARCH, params={"q": "recall"}).mock(
        return_value=httpx.Response(400, json={"error": "BadQueryString", "message": "could not parse query"})
    )
    http.get(APPVIEW_SEARCH, params={"q": "refunds"}).mock(return_value=httpx.Response(200, json=search_output([FOLLOW_UP])))

    result = BlueskyAdapter(config={}, credentials={}).poll(cursor={}, watches=[watch(8, "recall"), watch(9, "refunds")])

    assert [draft["external_id"] for draft in result.drafts] == [FOLLOW_UP["uri"]]
    assert result.cursor["notes"][0].startswith("search:8:0: Bluesky rejected the search")


def test_a_refused_session_is_dropped_and_the_next_poll_logs_in_again(http):
    login = http.post(f"{PDS}/com.atproto.server.createSession").mock(return_value=httpx.Response(200, json=session_output()))
    http.get(f"{PDS}/app.bsky.feed.searchPosts").mock(
        side_effect=[
            httpx.Response(200, json=search_output([ALERT])),
            httpx.Response(401, json={"error": "ExpiredToken", "message": "Token has been revoked"}),
            httpx.Response(200, json=search_output([])),
        ]
    )
    BlueskyAdapter(config={}, credentials=DESK).poll(cursor={}, watches=[watch(8, "recall")])

    with pytest.raises(SourceError) as caught:
        BlueskyAdapter(config={}, credentials=DESK).poll(cursor={}, watches=[watch(8, "recall")])
    assert caught.value.retryable is True
    BlueskyAdapter(config={}, credentials=DESK).poll(cursor={}, watches=[watch(8, "recall")])

    assert login.call_count == 2
