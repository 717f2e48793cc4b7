"""The Mastodon adapter against the Mastodon docs' Status entity and the documented hashtag
timeline (a bare JSON array, pagination in the Link header); only HTTP is mocked."""

from __future__ import annotations

import copy
import json
import re
from datetime import datetime, timezone

import pytest
import requests

from monitoring.drafts import clean_draft
from monitoring.sources import mastodon as mastodon_source
from monitoring.sources.base import SourceError
from monitoring.sources.mastodon import MastodonAdapter, status_to_draft
from tests.test_source_common import responses, shared_data, watch

INSTANCE = "https://mastodon.example"
CATS_URL = f"{INSTANCE}/api/v1/timelines/tag/cats"
SEARCH_URL = f"{INSTANCE}/api/v2/search"


def status_example() -> dict:
    return json.loads(shared_data("mastodon", "mastodon_docs_Status_entity_example.json").read_text())


def documented_tag_timeline() -> list[dict]:
    """The docs' sample for #cats (its statuses are abridged with "// ..."): each is completed
    with the fields of the documented Status entity."""
    markdown = shared_data("mastodon", "mastodon_docs_timelines_tag_section.md").read_text()
    sample = re.search(r"##### 200: OK.*?```json\n(.*?)```", markdown, re.S).group(1)
    sample = "\n".join(line for line in sample.splitlines() if line.strip() != "// ...")
    partial_statuses = json.loads(re.sub(r",(\s*[}\]])", r"\1", sample))
    return [{**status_example(), **partial} for partial in partial_statuses]


def link_header(max_id: str, min_id: str) -> str:
    return f'<{CATS_URL}?max_id={max_id}>; rel="next", <{CATS_URL}?min_id={min_id}>; rel="prev"'


def adapter(access_token: str = "", **config) -> MastodonAdapter:
    return MastodonAdapter(
        config={"instance_url": INSTANCE, **config}, credentials={"access_token": access_token} if access_token else {}
    )


@pytest.fixture
def http():
    with responses.RequestsMock() as mock:
        # Mastodon.py asks the instance which timelines it serves; a 404 means "assume yes".
        mock.get(f"{INSTANCE}/api/v2/instance/", status=404, json={"error": "Record not found"})
        mock.assert_all_requests_are_fired = False
        yield mock


def sent(call) -> dict:
    from urllib.parse import parse_qs, urlsplit

    return {key: values[0] for key, values in parse_qs(urlsplit(call.request.url).query).items()}


def api_calls(http) -> list:
    return [call for call in http.calls if "/api/v2/instance" not in call.request.url]


def test_a_status_becomes_a_plain_text_draft():
    status = status_example()

    draft = status_to_draft(status)

    assert draft["external_id"] == status["id"]
    assert draft["text"].startswith('"I lost my inheritance with one wrong digit on my sort code"\nhttps://www.theguardian.com/')
    assert "<" not in draft["text"] and "&quot;" not in draft["text"]
    assert draft["url"] == status["url"]
    assert draft["author_handle"] == status["account"]["acct"]
    assert draft["author_name"] == status["account"]["display_name"]
    assert draft["author_followers"] == status["account"]["followers_count"]
    assert draft["language"] == status["language"]
    assert (draft["likes"], draft["reposts"], draft["replies"]) == (
        status["favourites_count"],
        status["reblogs_count"],
        status["replies_count"],
    )
    assert draft["raw"] == status
    assert clean_draft(draft)["posted_at"] == datetime(2019, 12, 8, 3, 48, 33, 901000, tzinfo=timezone.utc)


def test_the_hashtag_timeline_keeps_only_statuses_that_match_the_watch(http):
    off_topic = status_example()  # a newer status without #cats, as a timeline may carry
    off_topic["id"] = "103290000000000000"
    timeline = [off_topic, *documented_tag_timeline()]
    http.get(
        CATS_URL,
        json=timeline,
        headers={"Link": link_header(timeline[-1]["id"], timeline[0]["id"]), "X-RateLimit-Limit": "300", "X-RateLimit-Remaining": "297", "X-RateLimit-Reset": "2030-01-01T00:00:00.000Z"},
    )

    result = adapter().poll(cursor={}, watches=[watch(4, "#cats")])

    (call,) = api_calls(http)
    assert sent(call) == {"limit": "40"}
    assert "Authorization" not in call.request.headers
    assert call.request.req_kwargs["timeout"] == 15.0
    assert [draft["external_id"] for draft in result.drafts] == ["103206185588894565", "103203659567597966"]
    assert result.drafts[1]["text"].startswith("Caught on the hop. 😺\n#Qualitätskatzen #cats")
    assert result.reads == 3
    assert result.cursor == {"tag:cats": {"since_id": "103290000000000000"}}
    assert result.rate_limit == {"limit": 300, "remaining": 297, "reset": 1893456000}
    assert result.more is False


def test_a_hashtag_shared_by_watches_is_read_once(http):
    http.get(CATS_URL, json=documented_tag_timeline())

    result = adapter().poll(cursor={}, watches=[watch(1, "#cats"), watch(2, "#cats hop")])

    assert len(api_calls(http)) == 1
    assert len(result.drafts) == 2


def test_later_polls_page_back_to_since_id_without_a_gap(http, monkeypatch):
    monkeypatch.setattr(mastodon_source, "PAGE_SIZE", 2)
    newest, older = documented_tag_timeline()
    newer = copy.deepcopy(newest)
    newer["id"] = "103210000000000000"
    http.get(CATS_URL, json=[newer, newest], headers={"Link": link_header(newest["id"], newer["id"])})
    http.get(CATS_URL, json=[older], headers={"Link": link_header(older["id"], older["id"])})

    result = adapter().poll(cursor={"tag:cats": {"since_id": "103200000000000000"}}, watches=[watch(4, "#cats")])

    first, second = (sent(call) for call in api_calls(http))
    assert first == {"since_id": "103200000000000000", "limit": "2"}
    assert second == {"since_id": "103200000000000000", "max_id": newest["id"], "limit": "2"}
    assert len(result.drafts) == 3
    assert result.cursor["tag:cats"] == {"since_id": "103210000000000000"}
    assert result.more is False


def test_when_pages_run_out_the_gap_stays_open_for_the_next_poll(http, monkeypatch):
    monkeypatch.setattr(mastodon_source, "PAGE_SIZE", 2)
    newest, older = documented_tag_timeline()
    http.get(CATS_URL, json=[newest, older])

    result = adapter(max_pages_per_poll=1).poll(cursor={"tag:cats": {"since_id": "1"}}, watches=[watch(4, "#cats")])

    assert result.more is True
    assert result.cursor["tag:cats"] == {"since_id": "1", "max_id": older["id"], "newest_id": newest["id"]}


def test_search_terms_need_an_access_token(http):
    http.get(CATS_URL, json=documented_tag_timeline())

    result = adapter().poll(cursor={}, watches=[watch(4, "#cats OR inheritance")])

    assert all("/api/v2/search" not in call.request.url for call in http.calls)
    assert any("search term(s) skipped" in note for note in result.cursor["notes"])


def test_with_a_token_search_terms_use_full_text_search(http):
    status = status_example()
    already_seen = {**status_example(), "id": "103260000000000000"}
    http.get(CATS_URL, json=[])
    http.get(SEARCH_URL, json={"accounts": [], "statuses": [status, already_seen], "hashtags": []})

    result = adapter(access_token="tok-123").poll(
        cursor={"search:inheritance": {"since_id": "103270000000000000"}}, watches=[watch(4, "#cats OR inheritance")]
    )

    search_call = next(call for call in http.calls if "/api/v2/search" in call.request.url)
    assert sent(search_call) == {"q": "inheritance", "type": "statuses", "limit": "40"}
    assert search_call.request.headers["Authorization"] == "Bearer tok-123"
    assert [draft["external_id"] for draft in result.drafts] == [status["id"]]
    assert result.cursor["search:inheritance"] == {"since_id": status["id"]}


def test_429_is_retryable_when_the_instance_says(http):
    http.get(
        CATS_URL,
        status=429,
        json={"error": "Too many requests"},
        headers={"X-RateLimit-Limit": "300", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "2030-01-01T00:00:00.000Z"},
    )

    with pytest.raises(SourceError) as caught:
        adapter().poll(cursor={}, watches=[watch(4, "#cats")])

    assert caught.value.retryable is True
    assert caught.value.retry_at == datetime(2030, 1, 1, tzinfo=timezone.utc)


def test_401_is_not_retryable(http):
    http.get(CATS_URL, status=401, json={"error": "The access token is invalid"})

    with pytest.raises(SourceError) as caught:
        adapter(access_token="revoked").poll(cursor={}, watches=[watch(4, "#cats")])

    assert caught.value.retryable is False
    assert "401" in caught.value.message


@pytest.mark.parametrize(
    "failure",
    [{"status": 503, "json": {"error": "unavailable"}}, {"body": requests.exceptions.ReadTimeout("timed out")}],
    ids=["503", "timeout"],
)
def test_server_and_network_failures_are_retryable(http, failure):
    http.get(CATS_URL, **failure)

    with pytest.raises(SourceError) as caught:
        adapter().poll(cursor={}, watches=[watch(4, "#cats")])

    assert caught.value.retryable is True


def test_an_unknown_hashtag_is_noted_not_fatal(http):
    http.get(CATS_URL, status=404, json={"error": "Record not found"})
    http.get(f"{INSTANCE}/api/v1/timelines/tag/dogs", json=documented_tag_timeline()[:1])

    result = adapter().poll(cursor={}, watches=[watch(4, "#cats"), watch(5, "#dogs OR #cats")])

    assert result.cursor["notes"] == ["tag:cats: not found on this instance"]
    assert len(result.drafts) == 1
