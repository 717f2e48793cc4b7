"""The X adapter against real X API v2 pages (twarc's recordings) and tweepy's cassettes;
only the HTTP boundary is mocked (``responses``)."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timezone

import pytest
import requests

from monitoring.drafts import clean_draft
from monitoring.sources.base import SourceError
from monitoring.sources.x import XAdapter
from tests.test_source_common import responses, shared_data, watch

SEARCH_URL = "https://api.twitter.com/2/tweets/search/recent"
CREDENTIALS = {"bearer_token": "AAAAtest-bearer"}


def recorded_pages(name: str) -> list[dict]:
    pages = []
    for line in shared_data("x-api", "recorded", name).read_text().splitlines():
        if line.strip():
            page = json.loads(line)
            page.pop("__twarc", None)
            pages.append(page)
    return pages


def cassette(name: str) -> dict:
    return json.loads(shared_data("x-api", "tweepy-cassettes", "tweepy_cassettes_decoded.json").read_text())[name][0]


def rate_headers(remaining: int = 448, reset: int = 1665183229) -> dict:
    return {"x-rate-limit-limit": "450", "x-rate-limit-remaining": str(remaining), "x-rate-limit-reset": str(reset)}


def adapter(**config) -> XAdapter:
    return XAdapter(config=config, credentials=CREDENTIALS)


@pytest.fixture
def http():
    with responses.RequestsMock() as mock:
        yield mock


def query_of(call) -> dict:
    from urllib.parse import parse_qs, urlsplit

    return {key: values[0] for key, values in parse_qs(urlsplit(call.request.url).query).items()}


def test_first_poll_reads_one_page_and_joins_each_author(http):
    first, _second = recorded_pages("2sets.jsonl")
    http.get(SEARCH_URL, json=first, headers=rate_headers())

    result = adapter().poll(cursor={}, watches=[watch(7, "#kpop")])

    assert len(http.calls) == 1
    sent = query_of(http.calls[0])
    assert sent["query"] == "#kpop"
    assert sent["max_results"] == "100"
    assert sent["expansions"] == "author_id"
    assert {"created_at", "lang", "public_metrics", "conversation_id", "referenced_tweets", "note_tweet"} <= set(
        sent["tweet.fields"].split(",")
    )
    assert set(sent["user.fields"].split(",")) == {"username", "name", "public_metrics", "verified"}
    assert "since_id" not in sent
    assert http.calls[0].request.headers["Authorization"] == "Bearer AAAAtest-bearer"
    assert http.calls[0].request.req_kwargs["timeout"] == 15.0  # tweepy itself sets none

    assert result.reads == 100
    assert len(result.drafts) == len({tweet["id"] for tweet in first["data"]})
    assert result.more is False
    # A first read does not page back into history: it starts from the newest post.
    assert result.cursor["search:7"] == {"identity": "#kpop", "since_id": first["meta"]["newest_id"]}

    users = {user["id"]: user for user in first["includes"]["users"]}
    for tweet, draft in zip(first["data"], result.drafts):
        user = users[tweet["author_id"]]
        assert draft["external_id"] == tweet["id"]
        assert draft["author_handle"] == user["username"]
        assert draft["author_followers"] == user["public_metrics"]["followers_count"]
        assert draft["author_verified"] is user["verified"]
        assert draft["url"] == f"https://x.com/{user['username']}/status/{tweet['id']}"
        assert draft["posted_at"] == tweet["created_at"]
        assert draft["language"] == tweet["lang"]
        assert draft["likes"] == tweet["public_metrics"]["like_count"]
        assert draft["reposts"] == tweet["public_metrics"]["retweet_count"]
        assert draft["replies"] == tweet["public_metrics"]["reply_count"]
        assert draft["raw"] == tweet
        clean_draft(draft)  # every draft passes the pipeline's gate


def test_reply_to_id_comes_from_the_replied_to_reference(http):
    first, _ = recorded_pages("2sets.jsonl")
    http.get(SEARCH_URL, json=first, headers=rate_headers())
    drafts = {draft["external_id"]: draft for draft in adapter().poll(cursor={}, watches=[watch(7, "#kpop")]).drafts}
    for tweet in first["data"]:
        replied_to = [ref["id"] for ref in tweet.get("referenced_tweets", []) if ref["type"] == "replied_to"]
        assert drafts[tweet["id"]]["reply_to_id"] == (replied_to[0] if replied_to else "")
        assert drafts[tweet["id"]]["conversation_id"] == tweet["conversation_id"]


def test_following_polls_page_back_to_since_id_and_keep_the_gap_open_when_pages_remain(http):
    first, second = recorded_pages("2sets.jsonl")
    http.get(SEARCH_URL, json=first, headers=rate_headers(447))
    http.get(SEARCH_URL, json=second, headers=rate_headers(446))
    cursor = {"search:7": {"identity": "#kpop", "since_id": "1440700000000000000"}}

    result = adapter(max_pages_per_poll=2).poll(cursor=cursor, watches=[watch(7, "#kpop")])

    first_call, second_call = (query_of(call) for call in http.calls)
    assert first_call["since_id"] == "1440700000000000000"
    assert "next_token" not in first_call
    assert second_call["since_id"] == "1440700000000000000"  # the same since_id on every page
    assert second_call["next_token"] == first["meta"]["next_token"]
    assert result.reads == 200
    assert result.more is True
    # since_id must not move yet: the posts between it and the last page are still unread.
    assert result.cursor["search:7"] == {
        "identity": "#kpop",
        "since_id": "1440700000000000000",
        "next_token": second["meta"]["next_token"],
        "newest_id": max(first["meta"]["newest_id"], second["meta"]["newest_id"], key=int),
    }
    assert result.rate_limit["remaining"] == 446


def test_a_continued_poll_resumes_at_next_token_and_then_moves_since_id(http):
    _, second = recorded_pages("2sets.jsonl")
    last_page = copy.deepcopy(second)
    del last_page["meta"]["next_token"]
    http.get(SEARCH_URL, json=last_page, headers=rate_headers())
    cursor = {
        "search:7": {
            "identity": "#kpop",
            "since_id": "1440700000000000000",
            "next_token": "b26v89c19zqg8o3fpds60ssjlg8rrux0bxoa7beulbhbx",
            "newest_id": "1440717170493689866",
        }
    }

    result = adapter().poll(cursor=cursor, watches=[watch(7, "#kpop")])

    sent = query_of(http.calls[0])
    assert sent["next_token"] == "b26v89c19zqg8o3fpds60ssjlg8rrux0bxoa7beulbhbx"
    assert sent["since_id"] == "1440700000000000000"
    assert result.more is False
    assert result.cursor["search:7"] == {"identity": "#kpop", "since_id": "1440717170493689866"}


def test_a_changed_watch_query_starts_its_stream_afresh(http):
    first, _ = recorded_pages("2sets.jsonl")
    http.get(SEARCH_URL, json=first, headers=rate_headers())
    cursor = {"search:7": {"identity": "#brexit", "since_id": "1", "next_token": "stale", "newest_id": "2"}}

    adapter().poll(cursor=cursor, watches=[watch(7, "#kpop")])

    sent = query_of(http.calls[0])
    assert "next_token" not in sent and "since_id" not in sent


def test_a_page_with_partial_errors_still_yields_its_posts(http):
    (page,) = recorded_pages("kpop.jsonl")
    assert page["errors"] and page["data"]
    http.get(SEARCH_URL, json=page, headers=rate_headers())

    result = adapter().poll(cursor={}, watches=[watch(7, "#kpop")])

    assert len(result.drafts) == len(page["data"])
    assert result.cursor["last_partial_errors"] == [page["errors"][0]["detail"]]


def test_rate_limit_headers_and_bodies_from_tweepys_cassettes(http):
    search = cassette("test_client_search_recent_tweets.yaml")
    mentions = cassette("test_client_get_users_mentions.yaml")
    http.get(SEARCH_URL, json=search["body"], headers=search["headers_subset"])
    http.get("https://api.twitter.com/2/users/783214/mentions", json=mentions["body"], headers=mentions["headers_subset"])

    result = adapter(account_ids=["783214"]).poll(cursor={}, watches=[watch(3, "Tweepy")])

    search_headers = search["headers_subset"]
    mention_headers = mentions["headers_subset"]
    assert result.rate_limit["endpoints"] == {
        "search": {
            "limit": int(search_headers["x-rate-limit-limit"]),
            "remaining": int(search_headers["x-rate-limit-remaining"]),
            "reset": int(search_headers["x-rate-limit-reset"]),
        },
        "mentions": {
            "limit": int(mention_headers["x-rate-limit-limit"]),
            "remaining": int(mention_headers["x-rate-limit-remaining"]),
            "reset": int(mention_headers["x-rate-limit-reset"]),
        },
    }
    assert result.reads == len(search["body"]["data"]) + len(mentions["body"]["data"])
    assert result.cursor["mentions:783214"]["since_id"] == mentions["body"]["meta"]["newest_id"]
    # These bodies carry no created_at (no tweet.fields were asked for): the id says when.
    # tweepy's test posts say in their text when they were written ("2022-10-07 22:42:12.637103 tweepy").
    for tweet in search["body"]["data"]:
        draft = next(d for d in result.drafts if d["external_id"] == tweet["id"])
        written = datetime.fromisoformat(tweet["text"].removesuffix(" tweepy")).replace(tzinfo=timezone.utc)
        assert abs((clean_draft(draft)["posted_at"] - written).total_seconds()) < 1
        assert draft["url"] == f"https://x.com/i/web/status/{tweet['id']}"  # no author expansion in this body


def test_the_mentions_timeline_joins_its_author(http):
    (page,) = recorded_pages("mentions_tweet.jsonl")  # a real post that mentions an account
    http.get("https://api.twitter.com/2/users/1221317221714157569/mentions", json=page, headers=rate_headers())

    result = adapter(account_ids=["1221317221714157569"]).poll(cursor={}, watches=[])

    (draft,) = result.drafts
    tweet = page["data"][0]
    author = next(user for user in page["includes"]["users"] if user["id"] == tweet["author_id"])
    assert draft["external_id"] == tweet["id"]
    assert draft["text"] == tweet["text"]
    assert draft["author_handle"] == author["username"]
    assert draft["author_followers"] == author["public_metrics"]["followers_count"]
    assert draft["reposts"] == tweet["public_metrics"]["retweet_count"]
    assert result.cursor["mentions:1221317221714157569"] == {"identity": "1221317221714157569", "since_id": tweet["id"]}


def test_a_long_post_uses_its_note_tweet_text(http):
    first, _ = recorded_pages("2sets.jsonl")
    page = copy.deepcopy(first)
    page["data"] = page["data"][:1]
    page["data"][0]["note_tweet"] = {"text": page["data"][0]["text"] + " and the rest of a long post"}
    http.get(SEARCH_URL, json=page, headers=rate_headers())

    (draft,) = adapter().poll(cursor={}, watches=[watch(7, "#kpop")]).drafts

    assert draft["text"].endswith("and the rest of a long post")


def test_429_is_retryable_at_the_reset_time(http):
    reset = 1893456000  # 2030-01-01T00:00:00Z, in epoch seconds as X sends it
    http.get(
        SEARCH_URL,
        status=429,
        json={"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429},
        headers=rate_headers(remaining=0, reset=reset),
    )

    with pytest.raises(SourceError) as caught:
        adapter().poll(cursor={}, watches=[watch(7, "#kpop")])

    assert caught.value.retryable is True
    assert caught.value.retry_at == datetime(2030, 1, 1, tzinfo=timezone.utc)


def test_reads_already_billed_are_reported_when_a_later_page_fails(http):
    first, _ = recorded_pages("2sets.jsonl")
    http.get(SEARCH_URL, json=first, headers=rate_headers())
    http.get(SEARCH_URL, status=503, json={"title": "Service Unavailable"})

    with pytest.raises(SourceError) as caught:
        adapter().poll(cursor={"search:7": {"identity": "#kpop", "since_id": "1"}}, watches=[watch(7, "#kpop")])

    assert caught.value.retryable is True
    assert caught.value.reads == 100


@pytest.mark.parametrize(
    "failure",
    [requests.exceptions.ReadTimeout("read timed out"), requests.exceptions.ConnectionError("connection refused")],
    ids=["timeout", "connection"],
)
def test_network_failures_are_retryable(http, failure):
    http.get(SEARCH_URL, body=failure)

    with pytest.raises(SourceError) as caught:
        adapter().poll(cursor={}, watches=[watch(7, "#kpop")])

    assert caught.value.retryable is True
    assert caught.value.retry_at is None


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_are_not_retryable(http, status):
    http.get(SEARCH_URL, status=status, json={"title": "Unauthorized", "detail": "Unauthorized", "status": status})

    with pytest.raises(SourceError) as caught:
        adapter().poll(cursor={}, watches=[watch(7, "#kpop")])

    assert caught.value.retryable is False


def test_a_query_x_refuses_is_noted_and_the_other_watches_still_run(http):
    first, _ = recorded_pages("2sets.jsonl")
    http.get(
        SEARCH_URL,
        status=400,
        json={"errors": [{"message": "There were errors processing your request: Reference to invalid operator"}]},
        match=[responses.matchers.query_param_matcher({"query": "#bad"}, strict_match=False)],
    )
    http.get(SEARCH_URL, json=first, headers=rate_headers())

    result = adapter().poll(cursor={}, watches=[watch(1, "#bad"), watch(2, "#kpop"), watch(3, "NOT everything")])

    assert len(result.drafts) == 100
    assert any(note.startswith("search:1: X refused the request (400)") for note in result.cursor["notes"])
    assert any(note.startswith("watch 3 skipped") for note in result.cursor["notes"])
    assert result.cursor["search:2"]["since_id"] == first["meta"]["newest_id"]


def test_streams_of_deleted_watches_leave_the_cursor(http):
    first, _ = recorded_pages("2sets.jsonl")
    http.get(SEARCH_URL, json=first, headers=rate_headers())
    cursor = {"search:99": {"identity": "old", "since_id": "5"}, "search:7": {"identity": "#kpop", "since_id": "1"}}

    result = adapter().poll(cursor=cursor, watches=[watch(7, "#kpop")])

    assert "search:99" not in result.cursor


def test_an_endpoint_with_no_calls_left_is_not_called_again_this_poll(http):
    first, _ = recorded_pages("2sets.jsonl")
    http.get(SEARCH_URL, json=first, headers=rate_headers(remaining=0))

    result = adapter().poll(cursor={}, watches=[watch(1, "#kpop"), watch(2, "#brexit")])

    assert len(http.calls) == 1
    assert result.cursor["search:2"] == {"identity": "#brexit"}  # read on a later poll
    assert result.rate_limit["remaining"] == 0


def test_a_since_id_x_no_longer_accepts_restarts_the_stream(http):
    http.get(
        SEARCH_URL,
        status=400,
        json={
            "errors": [{"parameters": {"since_id": ["1"]}, "message": "Invalid 'since_id':'1'. 'since_id' must be a tweet id created after 2025-02-22T00:00Z."}],
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": "https://api.twitter.com/2/problems/invalid-request",
        },
    )

    result = adapter().poll(cursor={"search:7": {"identity": "#kpop", "since_id": "1"}}, watches=[watch(7, "#kpop")])

    assert result.cursor["search:7"] == {"identity": "#kpop"}
    assert "must be a tweet id created after" in result.cursor["notes"][0]
