"""The Bluesky publishing adapter: real atproto against the PDS's XRPC endpoints mocked at
the HTTP boundary (``respx``: atproto speaks httpx). Posted records are checked against the
``app.bsky.feed.post`` lexicon in ``../shared/data/bluesky`` and atproto's own model."""

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

from responses.channels.base import OutboundPost, PublishedPart, PublishError
from responses.channels.bluesky import BlueskyChannel
from responses.channels.text import grapheme_count
from tests.test_source_common import shared_data

PDS = "https://bsky.social/xrpc"
CREATE_SESSION = f"{PDS}/com.atproto.server.createSession"
CREATE_RECORD = f"{PDS}/com.atproto.repo.createRecord"
GET_RECORD = f"{PDS}/com.atproto.repo.getRecord"
DESK = {"handle": "acme-desk.bsky.social", "app_password": "abcd-efgh-ijkl-mnop"}
DESK_DID = "did:plc:acmedeskxxxxxxxxxxxxxxxx"
HUB = "https://hub.acme.example/incidents/x2-recall"


def post_lexicon() -> dict:
    return json.loads(shared_data("bluesky", "lexicon_app.bsky.feed.post.json").read_text())


def access_jwt(did: str) -> str:
    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    now = int(time.time())
    claims = {"scope": "com.atproto.appPass", "sub": did, "iat": now, "exp": now + 7200, "aud": "did:web:bsky.social"}
    return f"{part({'alg': 'ES256K', 'typ': 'at+jwt'})}.{part(claims)}.c2lnbmF0dXJl"


def session_output() -> dict:
    return {"did": DESK_DID, "handle": DESK["handle"], "accessJwt": access_jwt(DESK_DID), "refreshJwt": access_jwt(DESK_DID), "active": True}


def cid(number: int) -> str:
    return f"bafyreib2rxk3rybk3aobmv5cjuql3bm2twh4jo5uxgf5dc2vbtl7hi{number:05d}"


def uri(rkey: str, did: str = DESK_DID) -> str:
    return f"at://{did}/app.bsky.feed.post/{rkey}"


def checked_record(record: dict) -> dict:
    """A posted record, checked against the lexicon and atproto's model."""
    lexicon = post_lexicon()["defs"]
    schema = lexicon["main"]["record"]
    assert record["$type"] == "app.bsky.feed.post"
    assert set(schema["required"]) <= set(record)
    assert set(record) - {"$type"} <= set(schema["properties"])
    text = schema["properties"]["text"]
    assert grapheme_count(record["text"]) <= text["maxGraphemes"]
    assert len(record["text"].encode("utf-8")) <= text["maxLength"]
    if "reply" in record:
        assert set(lexicon["replyRef"]["required"]) <= set(record["reply"])
        for name in ("root", "parent"):
            assert set(record["reply"][name]) >= {"uri", "cid"}
    get_or_create(record, models.AppBskyFeedPost.Record, strict=True)
    return record


@pytest.fixture
def http():
    with respx.mock(assert_all_called=False) as mock:
        mock.post(CREATE_SESSION).mock(return_value=httpx.Response(200, json=session_output()))
        yield mock


def answer_with_rkeys(http, *rkeys: str):
    pending = list(enumerate(rkeys, start=1))

    def created(request):
        number, rkey = pending.pop(0)
        return httpx.Response(200, json={"uri": uri(rkey), "cid": cid(number), "validationStatus": "valid"})

    return http.post(CREATE_RECORD).mock(side_effect=created)


def reply_refs(record: dict) -> dict:
    """The record's reply as plain strong refs ({"root": {uri, cid}, "parent": {uri, cid}})."""
    return {name: {key: record["reply"][name][key] for key in ("uri", "cid")} for name in ("root", "parent")}


def records(route) -> list[dict]:
    bodies = [json.loads(call.request.content) for call in route.calls]
    for body in bodies:
        assert body["repo"] == DESK["handle"] and body["collection"] == "app.bsky.feed.post"
    return [checked_record(body["record"]) for body in bodies]


def channel(**config) -> BlueskyChannel:
    return BlueskyChannel(config=config, credentials=dict(DESK))


def long_statement() -> str:
    sentence = "Stop using the Acme X2 charger now and unplug it; refunds start on Monday in every store. "
    return (sentence * 8).strip()


def test_it_logs_in_with_the_app_password_and_posts_one_record(http):
    created = answer_with_rkeys(http, "3lrecall00001")

    result = channel().publish(OutboundPost(text="The X2 recall starts today.", language="de", link=HUB))

    login = json.loads(http.routes[0].calls[0].request.content)
    assert login == {"identifier": DESK["handle"], "password": DESK["app_password"]}
    (record,) = records(created)
    assert record["text"] == f"The X2 recall starts today.\n{HUB}"
    assert record["langs"] == ["de"]
    assert "reply" not in record
    assert created.calls[0].request.headers["Authorization"].startswith("Bearer ")
    assert result.parts == [
        PublishedPart(uri("3lrecall00001"), "https://bsky.app/profile/acme-desk.bsky.social/post/3lrecall00001")
    ]


def test_links_get_facets_at_their_utf8_byte_offsets(http):
    created = answer_with_rkeys(http, "3lrecall00001")
    text = f"Rückruf für das Ladegerät X2 — Details: {HUB} #X2Rückruf"

    channel().publish(OutboundPost(text=text))

    (record,) = records(created)
    encoded = record["text"].encode("utf-8")
    links = [facet for facet in record["facets"] if facet["features"][0]["$type"] == "app.bsky.richtext.facet#link"]
    (link,) = links
    assert link["features"][0]["uri"] == HUB
    assert encoded[link["index"]["byteStart"] : link["index"]["byteEnd"]].decode("utf-8") == HUB
    assert link["index"]["byteStart"] != record["text"].index(HUB)  # bytes, not characters
    tags = [facet for facet in record["facets"] if facet["features"][0]["$type"] == "app.bsky.richtext.facet#tag"]
    assert [tag["features"][0]["tag"] for tag in tags] == ["X2Rückruf"]


def test_a_long_statement_becomes_a_thread_whose_replies_name_root_and_parent(http):
    created = answer_with_rkeys(http, "3lrecall00001", "3lrecall00002", "3lrecall00003")

    result = channel().publish(OutboundPost(text=long_statement()))

    posted = records(created)
    assert len(posted) == 3
    for number, record in enumerate(posted, start=1):
        assert record["text"].endswith(f" ({number}/3)")
    root = {"uri": uri("3lrecall00001"), "cid": cid(1)}
    assert "reply" not in posted[0]
    assert reply_refs(posted[1]) == {"root": root, "parent": root}
    assert reply_refs(posted[2]) == {"root": root, "parent": {"uri": uri("3lrecall00002"), "cid": cid(2)}}
    assert [part.external_id for part in result.parts] == [uri(f"3lrecall0000{n}") for n in (1, 2, 3)]


def test_a_reply_to_a_mention_keeps_the_mention_s_thread_root(http):
    mention = uri("3lmention0001", did="did:plc:mariaxxxxxxxxxxxxxxxxxxx")
    their_root = {"uri": uri("3lroot0000001", did="did:plc:newsxxxxxxxxxxxxxxxxxxxx"), "cid": cid(90)}
    looked_up = http.get(GET_RECORD).mock(
        return_value=httpx.Response(
            200,
            json={
                "uri": mention,
                "cid": cid(91),
                "value": {
                    "$type": "app.bsky.feed.post",
                    "text": "@acme-desk.bsky.social is my charger affected?",
                    "createdAt": "2025-03-01T10:00:05.000Z",
                    "reply": {"root": their_root, "parent": their_root},
                },
            },
        )
    )
    created = answer_with_rkeys(http, "3lrecall00001")

    channel().publish(OutboundPost(text="Yes: please stop using it, a refund is on its way.", in_reply_to=mention))

    assert dict(looked_up.calls[0].request.url.params) == {
        "repo": "did:plc:mariaxxxxxxxxxxxxxxxxxxx",
        "collection": "app.bsky.feed.post",
        "rkey": "3lmention0001",
    }
    (record,) = records(created)
    assert reply_refs(record) == {"root": their_root, "parent": {"uri": mention, "cid": cid(91)}}


def test_a_failure_mid_thread_reports_what_went_out_and_the_retry_resumes_after_it(http):
    created = http.post(CREATE_RECORD).mock(
        side_effect=[
            httpx.Response(200, json={"uri": uri("3lrecall00001"), "cid": cid(1)}),
            httpx.Response(502, json={"error": "UpstreamFailure", "message": "Upstream Failure"}),
        ]
    )

    with pytest.raises(PublishError) as caught:
        channel().publish(OutboundPost(text=long_statement()))

    assert caught.value.retryable is True
    assert [part.external_id for part in caught.value.published_parts] == [uri("3lrecall00001")]
    planned = channel().split(OutboundPost(text=long_statement()))

    first = {"uri": uri("3lrecall00001"), "cid": cid(1)}
    http.get(GET_RECORD).mock(
        return_value=httpx.Response(
            200,
            json={**first, "value": {"$type": "app.bsky.feed.post", "text": planned[0], "createdAt": "2025-03-01T10:00:05.000Z"}},
        )
    )
    created.side_effect = [
        httpx.Response(200, json={"uri": uri("3lrecall00002"), "cid": cid(2)}),
        httpx.Response(200, json={"uri": uri("3lrecall00003"), "cid": cid(3)}),
    ]
    created.calls.clear()

    result = channel().publish(OutboundPost(text=long_statement(), resume_after=caught.value.published_parts))

    posted = records(created)
    assert [record["text"] for record in posted] == planned[1:]  # part 1 is never posted twice
    assert reply_refs(posted[0]) == {"root": first, "parent": first}
    assert reply_refs(posted[1]) == {"root": first, "parent": {"uri": uri("3lrecall00002"), "cid": cid(2)}}
    assert len(result.parts) == 3


def test_a_mention_that_no_longer_exists_is_a_permanent_failure(http):
    http.get(GET_RECORD).mock(
        return_value=httpx.Response(400, json={"error": "RecordNotFound", "message": "Could not locate record"})
    )
    created = answer_with_rkeys(http, "3lrecall00001")

    with pytest.raises(PublishError) as caught:
        channel().publish(OutboundPost(text="Sorry to hear that.", in_reply_to=uri("3lgone0000001", did="did:plc:mariaxxxxxxxxxxxxxxxxxxx")))

    assert caught.value.retryable is False
    assert "could not find the post to reply to" in caught.value.message
    assert not created.called


def test_a_refused_app_password_is_permanent_and_never_quoted(http):
    http.post(CREATE_SESSION).mock(
        return_value=httpx.Response(401, json={"error": "AuthenticationRequired", "message": "Invalid identifier or password"})
    )

    with pytest.raises(PublishError) as caught:
        channel().publish(OutboundPost(text="The X2 recall starts today."))

    assert caught.value.retryable is False
    assert "app password" in caught.value.message
    assert DESK["app_password"] not in caught.value.message


def test_a_rate_limit_is_retryable_at_ratelimit_reset(http):
    http.post(CREATE_RECORD).mock(
        return_value=httpx.Response(
            429,
            json={"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
            headers={"ratelimit-limit": "5000", "ratelimit-remaining": "0", "ratelimit-reset": "1740823200"},
        )
    )

    with pytest.raises(PublishError) as caught:
        channel().publish(OutboundPost(text="The X2 recall starts today."))

    assert caught.value.retryable is True
    assert caught.value.retry_at == datetime.fromtimestamp(1740823200, tz=timezone.utc)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_retryable(http, status):
    http.post(CREATE_RECORD).mock(return_value=httpx.Response(status, json={"error": "InternalServerError"}))

    with pytest.raises(PublishError) as caught:
        channel().publish(OutboundPost(text="The X2 recall starts today."))

    assert caught.value.retryable is True


def test_a_timeout_is_retryable(http):
    http.post(CREATE_RECORD).mock(side_effect=httpx.ReadTimeout("read timed out"))

    with pytest.raises(PublishError) as caught:
        channel().publish(OutboundPost(text="The X2 recall starts today."))

    assert caught.value.retryable is True


def test_a_record_bluesky_refuses_is_permanent(http):
    http.post(CREATE_RECORD).mock(
        return_value=httpx.Response(400, json={"error": "InvalidRequest", "message": "Record/text must not be longer than 300 graphemes"})
    )

    with pytest.raises(PublishError) as caught:
        channel().publish(OutboundPost(text="The X2 recall starts today."))

    assert caught.value.retryable is False
    assert "300 graphemes" in caught.value.message


def test_a_reply_target_that_is_not_a_post_uri_is_refused_before_logging_in(http):
    with pytest.raises(PublishError) as caught:
        channel().publish(OutboundPost(text="Hello", in_reply_to="https://bsky.app/profile/maria/post/3l"))

    assert caught.value.retryable is False
    assert not http.routes[0].called


def test_credentials_need_a_full_handle_and_an_app_password():
    assert BlueskyChannel.validate_credentials({"handle": "@acme-desk.bsky.social", "app_password": "abcd-efgh-ijkl-mnop"}) == DESK
    with pytest.raises(ValueError, match="incomplete"):
        BlueskyChannel.validate_credentials({"handle": "acme", "app_password": "abcd-efgh-ijkl-mnop"})
    with pytest.raises(ValueError, match="app password is required"):
        BlueskyChannel.validate_credentials({"handle": "acme-desk.bsky.social"})
    assert BlueskyChannel.validate_config({}) == {"service_url": "https://bsky.social"}


def test_graphemes_count_emoji_sequences_and_accents_once():
    assert grapheme_count("e\u0301") == 1
    assert grapheme_count("👨‍👩‍👧") == 1
    assert grapheme_count("🇬🇧🇫🇷") == 2
    assert grapheme_count("👍🏽") == 1
    assert grapheme_count("1️⃣") == 1
    assert grapheme_count("\r\n") == 1
    assert grapheme_count("한국어") == 3


def test_300_graphemes_stay_one_post_even_when_longer_in_code_points():
    text = "👨‍👩‍👧" * 300  # 1500 code points, 300 graphemes, but 5400 bytes

    parts = channel().split(OutboundPost(text=text))

    assert len(parts) > 1  # the 3000-byte limit splits it
    assert all(len(part.encode("utf-8")) <= 3000 for part in parts)
    assert channel().split(OutboundPost(text="é" * 300)) == ["é" * 300]
    assert len(channel().split(OutboundPost(text="é" * 301))) == 2
