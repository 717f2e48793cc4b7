"""The X publishing adapter: real tweepy against ``POST https://api.twitter.com/2/tweets``
mocked at the HTTP boundary (``responses``). Request bodies are checked against the official
X API OpenAPI spec (``CreatePostsRequest``, the spec's name for TweetCreateRequest), answers
are built to its ``CreatePostsResponse``, rate-limit headers come from tweepy's recorded
cassettes."""

from __future__ import annotations

import html
import json
import logging
import re
from datetime import datetime, timezone

import jsonschema
import pytest
import requests
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from responses.channels import ADAPTERS, adapter_for
from responses.channels.base import ChannelAdapter, OutboundPost, PublishedPart, PublishError
from responses.channels.text import x_weighted_length
from responses.channels.x import XChannel
from tests.test_source_common import responses, shared_data

TWEETS_URL = "https://api.twitter.com/2/tweets"
OAUTH1 = {
    "consumer_key": "ck-acme-desk",
    "consumer_secret": "cs-very-secret-consumer",
    "access_token": "1234567890-AcmeDeskAccessToken",
    "access_token_secret": "ats-very-secret-token",
}
OAUTH2 = {"access_token": "bWRkZXNrLW9hdXRoMi11c2VyLXRva2Vu"}
HUB = "https://hub.acme.example/incidents/x2-recall"


# --- the spec and the recordings ---------------------------------------------------------


def openapi_spec() -> dict:
    return json.loads(shared_data("x-api", "openapi", "xdk_specs_openapi_v2.167.json").read_text())


def spec_validator(schema_name: str) -> jsonschema.Validator:
    """A validator for one of the spec's component schemas, its $refs resolved in the spec."""
    spec = openapi_spec()
    registry = Registry().with_resource("urn:x-api", Resource.from_contents(spec, default_specification=DRAFT4))
    return jsonschema.Draft4Validator({"$ref": f"urn:x-api#/components/schemas/{schema_name}"}, registry=registry)


def recorded_headers() -> dict:
    """Real response headers of X API v2 (tweepy's cassette), rate-limit ones included."""
    cassettes = json.loads(shared_data("x-api", "tweepy-cassettes", "tweepy_cassettes_decoded.json").read_text())
    headers = dict(cassettes["test_client_get_tweets.yaml"][0]["headers_subset"])
    assert {"x-rate-limit-limit", "x-rate-limit-remaining", "x-rate-limit-reset"} <= set(headers)
    return headers


def created(tweet_id: str, text: str) -> dict:
    body = {"data": {"id": tweet_id, "edit_history_tweet_ids": [tweet_id], "text": text}}
    spec_validator("CreatePostsResponse").validate(body)
    return body


def problem(status: int, title: str, detail: str) -> dict:
    """X's error answer (RFC 7807 problem details, as the v2 API sends them)."""
    return {"title": title, "detail": detail, "type": "about:blank", "status": status}


# --- fixtures and helpers ----------------------------------------------------------------


@pytest.fixture
def http():
    with responses.RequestsMock() as mock:
        yield mock


def channel(credentials: dict | None = None, **config) -> XChannel:
    return XChannel(config=config, credentials=dict(OAUTH1 if credentials is None else credentials))


def answer_with_ids(http, *ids: str) -> None:
    """X creates the posts in turn, echoing each one's text."""
    pending = list(ids)

    def callback(request):
        text = json.loads(request.body)["text"]
        return 201, {"content-type": "application/json; charset=utf-8"}, json.dumps(created(pending.pop(0), text))

    http.add_callback(responses.POST, TWEETS_URL, callback=callback)


def sent_bodies(http) -> list[dict]:
    return [json.loads(call.request.body) for call in http.calls]


def long_statement() -> str:
    paragraphs = [
        "We are recalling every Acme X2 charger sold since March after reports of overheating. "
        "Stop using the charger now and unplug it from the wall.",
        "Refunds and free replacements start on Monday in every store and online. You do not "
        "need a receipt: the serial number on the charger is enough.",
        "We are sorry for the worry this causes. Our safety team is working with the regulator "
        "and will publish what it finds. Questions: call 0800 123 456, open day and night.",
    ]
    return "\n\n".join(paragraphs)


# --- the registry ------------------------------------------------------------------------


def test_every_channel_kind_has_an_adapter():
    assert set(ADAPTERS) == {"x", "mastodon", "bluesky", "webhook"}
    for kind, adapter_class in ADAPTERS.items():
        assert issubclass(adapter_class, ChannelAdapter)
        assert adapter_class.kind == kind
        assert type(adapter_for(kind, config={}, credentials={})) is adapter_class  # built without validating


def test_adapter_for_refuses_a_kind_nobody_publishes_to():
    with pytest.raises(ValueError, match="reddit"):
        adapter_for("reddit", config={}, credentials={})


# --- one post ----------------------------------------------------------------------------


def test_a_short_statement_is_one_post_matching_the_spec_and_signed_with_oauth1(http):
    answer_with_ids(http, "1849000000000000001")

    result = channel(handle="AcmeSupport").publish(OutboundPost(text="The X2 recall starts today.", link=HUB))

    (call,) = http.calls
    assert call.request.method == "POST" and call.request.url == TWEETS_URL
    body = json.loads(call.request.body)
    spec_validator("CreatePostsRequest").validate(body)
    assert body == {"text": f"The X2 recall starts today.\n{HUB}"}
    authorization = call.request.headers["Authorization"]
    assert authorization.startswith("OAuth ")
    assert 'oauth_consumer_key="ck-acme-desk"' in authorization
    assert 'oauth_token="1234567890-AcmeDeskAccessToken"' in authorization
    assert "oauth_signature=" in authorization
    assert "very-secret" not in authorization  # secrets sign the request, they are never sent
    assert call.request.req_kwargs["timeout"] == 15.0  # tweepy itself sets none

    assert result.external_id == "1849000000000000001"
    assert result.url == "https://x.com/AcmeSupport/status/1849000000000000001"
    assert result.parts == [PublishedPart("1849000000000000001", "https://x.com/AcmeSupport/status/1849000000000000001")]


def test_without_a_handle_the_url_is_the_handle_free_status_address(http):
    answer_with_ids(http, "1849000000000000001")

    result = channel().publish(OutboundPost(text="Update soon."))

    assert result.url == "https://x.com/i/web/status/1849000000000000001"


def test_the_link_is_not_repeated_when_the_text_already_carries_it(http):
    answer_with_ids(http, "1849000000000000001")

    channel().publish(OutboundPost(text=f"Details: {HUB} (updated hourly)", link=HUB))

    assert sent_bodies(http) == [{"text": f"Details: {HUB} (updated hourly)"}]


def test_a_reply_to_a_mention_names_the_post_it_answers(http):
    answer_with_ids(http, "1849000000000000009")

    channel().publish(OutboundPost(text="@maria We are sorry: a refund is on its way.", in_reply_to="1848999999999999999"))

    (body,) = sent_bodies(http)
    spec_validator("CreatePostsRequest").validate(body)
    assert body["reply"] == {"in_reply_to_tweet_id": "1848999999999999999"}


def test_an_oauth2_user_token_is_sent_as_a_bearer_token_and_never_logged_by_tweepy(http, caplog):
    answer_with_ids(http, "1849000000000000001")
    caplog.set_level(logging.DEBUG, logger="tweepy")

    channel(OAUTH2).publish(OutboundPost(text="The X2 recall starts today."))

    (call,) = http.calls
    assert call.request.headers["Authorization"] == f"Bearer {OAUTH2['access_token']}"
    assert "Making API request" in caplog.text  # tweepy did log the request, headers and all
    assert OAUTH2["access_token"] not in caplog.text


# --- threads -----------------------------------------------------------------------------


def test_a_long_statement_becomes_a_numbered_thread_of_chained_replies(http):
    answer_with_ids(http, "1849000000000000001", "1849000000000000002", "1849000000000000003")

    result = channel().publish(OutboundPost(text=long_statement(), link=HUB))

    bodies = sent_bodies(http)
    assert len(bodies) == 3
    validator = spec_validator("CreatePostsRequest")
    for number, body in enumerate(bodies, start=1):
        validator.validate(body)
        assert body["text"].endswith(f" ({number}/3)")
        assert x_weighted_length(body["text"]) <= 280
    assert "reply" not in bodies[0]
    assert bodies[1]["reply"] == {"in_reply_to_tweet_id": "1849000000000000001"}
    assert bodies[2]["reply"] == {"in_reply_to_tweet_id": "1849000000000000002"}
    # Every word goes out, in order, unchanged; the hub link closes the thread.
    assert " ".join(re.sub(r" \(\d/3\)$", "", body["text"]) for body in bodies).split() == (
        f"{long_statement()}\n{HUB}".split()
    )
    assert bodies[2]["text"].endswith(f"{HUB} (3/3)")
    assert [part.external_id for part in result.parts] == [
        "1849000000000000001",
        "1849000000000000002",
        "1849000000000000003",
    ]
    assert result.external_id == "1849000000000000001"


def test_a_thread_answering_a_mention_starts_as_a_reply_to_it(http):
    answer_with_ids(http, "1849000000000000001", "1849000000000000002", "1849000000000000003")

    channel().publish(OutboundPost(text=long_statement(), in_reply_to="1848999999999999999"))

    replies = [body["reply"]["in_reply_to_tweet_id"] for body in sent_bodies(http)]
    assert replies == ["1848999999999999999", "1849000000000000001", "1849000000000000002"]


def test_a_failure_on_part_two_reports_part_one_and_the_retry_resumes_after_it(http):
    answer_with_ids(http, "1849000000000000001")
    http.post(TWEETS_URL, status=503, json=problem(503, "Service Unavailable", "Service Unavailable"))
    post = OutboundPost(text=long_statement(), link=HUB)

    with pytest.raises(PublishError) as caught:
        channel().publish(post)

    error = caught.value
    assert error.retryable is True
    first = PublishedPart("1849000000000000001", "https://x.com/i/web/status/1849000000000000001")
    assert error.published_parts == [first]
    planned = channel().split(post)

    http.reset()
    answer_with_ids(http, "1849000000000000002", "1849000000000000003")
    result = channel().publish(OutboundPost(text=long_statement(), link=HUB, resume_after=error.published_parts))

    bodies = sent_bodies(http)
    assert [body["text"] for body in bodies] == planned[1:]  # part 1 is never posted twice
    assert bodies[0]["reply"] == {"in_reply_to_tweet_id": "1849000000000000001"}
    assert bodies[1]["reply"] == {"in_reply_to_tweet_id": "1849000000000000002"}
    assert [part.external_id for part in result.parts] == [
        "1849000000000000001",
        "1849000000000000002",
        "1849000000000000003",
    ]


def test_a_thread_already_fully_posted_is_not_sent_again(http):
    post = OutboundPost(text=long_statement())
    done = [PublishedPart(f"18490000000000000{n:02d}", "") for n in range(1, len(channel().split(post)) + 1)]

    result = channel().publish(OutboundPost(text=long_statement(), resume_after=done))

    assert result.parts == done
    assert len(http.calls) == 0


# --- errors ------------------------------------------------------------------------------


def test_a_rate_limit_is_retryable_at_the_reset_x_announced(http):
    headers = {**recorded_headers(), "x-rate-limit-remaining": "0", "x-rate-limit-reset": "1665183229"}
    http.post(TWEETS_URL, status=429, json=problem(429, "Too Many Requests", "Too Many Requests"), headers=headers)

    with pytest.raises(PublishError) as caught:
        channel().publish(OutboundPost(text="The X2 recall starts today."))

    assert caught.value.retryable is True
    assert caught.value.retry_at == datetime.fromtimestamp(1665183229, tz=timezone.utc)
    assert "rate limit" in caught.value.message
    assert caught.value.published_parts == []


def test_a_used_up_24_hour_posting_quota_wins_over_the_short_window(http):
    headers = {
        **recorded_headers(),
        "x-rate-limit-remaining": "0",
        "x-rate-limit-reset": "1665183229",
        "x-user-limit-24hour-limit": "17",
        "x-user-limit-24hour-remaining": "0",
        "x-user-limit-24hour-reset": "1665260000",
    }
    http.post(TWEETS_URL, status=429, json=problem(429, "Too Many Requests", "Too Many Requests"), headers=headers)

    with pytest.raises(PublishError) as caught:
        channel().publish(OutboundPost(text="The X2 recall starts today."))

    assert caught.value.retry_at == datetime.fromtimestamp(1665260000, tz=timezone.utc)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_retryable(http, status):
    http.post(TWEETS_URL, status=status, json=problem(status, "Server Error", "Something went wrong"))

    with pytest.raises(PublishError) as caught:
        channel().publish(OutboundPost(text="The X2 recall starts today."))

    assert caught.value.retryable is True
    assert caught.value.retry_at is None
    assert str(status) in caught.value.message


@pytest.mark.parametrize("failure", [requests.exceptions.ReadTimeout("read timed out"), requests.ConnectionError("reset")])
def test_timeouts_and_network_failures_are_retryable(http, failure):
    http.post(TWEETS_URL, body=failure)

    with pytest.raises(PublishError) as caught:
        channel().publish(OutboundPost(text="The X2 recall starts today."))

    assert caught.value.retryable is True


def test_refused_credentials_are_permanent_and_never_quoted(http):
    http.post(TWEETS_URL, status=401, json=problem(401, "Unauthorized", "Unauthorized"))

    with pytest.raises(PublishError) as caught:
        channel().publish(OutboundPost(text="The X2 recall starts today."))

    assert caught.value.retryable is False
    assert "401" in caught.value.message and "X" in caught.value.message
    for secret in OAUTH1.values():
        assert secret not in caught.value.message


def test_a_duplicate_is_permanent_and_says_the_post_may_already_be_out(http):
    http.post(
        TWEETS_URL,
        status=403,
        json=problem(403, "Forbidden", "You are not allowed to create a Tweet with duplicate content."),
    )

    with pytest.raises(PublishError) as caught:
        channel().publish(OutboundPost(text="The X2 recall starts today."))

    assert caught.value.retryable is False
    assert "duplicate" in caught.value.message
    assert "check the account" in caught.value.message


def test_other_refusals_are_permanent_and_carry_x_s_reason(http):
    http.post(
        TWEETS_URL,
        status=403,
        json=problem(403, "Forbidden", "You are not permitted to perform this action."),
    )

    with pytest.raises(PublishError) as caught:
        channel().publish(OutboundPost(text="The X2 recall starts today."))

    assert caught.value.retryable is False
    assert "not permitted" in caught.value.message


def test_a_bad_request_is_permanent(http):
    http.post(
        TWEETS_URL,
        status=400,
        json={
            "errors": [{"parameters": {"text": ["x" * 300]}, "message": "Tweet text is too long."}],
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": "https://api.twitter.com/2/problems/invalid-request",
        },
    )

    with pytest.raises(PublishError) as caught:
        channel().publish(OutboundPost(text="The X2 recall starts today."))

    assert caught.value.retryable is False
    assert "too long" in caught.value.message


def test_a_bad_stored_configuration_is_permanent_and_sends_nothing(http):
    with pytest.raises(PublishError) as caught:
        XChannel(config={}, credentials={"consumer_key": "ck"}).publish(OutboundPost(text="Hello"))

    assert caught.value.retryable is False
    assert "misconfigured" in caught.value.message
    assert len(http.calls) == 0


def test_an_empty_statement_is_refused_without_calling_x(http):
    with pytest.raises(PublishError) as caught:
        channel().publish(OutboundPost(text="   "))

    assert caught.value.retryable is False
    assert len(http.calls) == 0


# --- settings ----------------------------------------------------------------------------


def test_oauth1_needs_all_four_keys():
    with pytest.raises(ValueError, match="access token secret"):
        XChannel.validate_credentials({key: value for key, value in OAUTH1.items() if key != "access_token_secret"})
    assert XChannel.validate_credentials(OAUTH1) == OAUTH1


def test_an_oauth2_token_alone_is_accepted_but_an_oauth1_token_alone_is_not():
    assert XChannel.validate_credentials(OAUTH2) == OAUTH2
    with pytest.raises(ValueError, match="OAuth 1.0a token"):
        XChannel.validate_credentials({"access_token": OAUTH1["access_token"]})
    with pytest.raises(ValueError, match="OAuth 2.0"):
        XChannel.validate_credentials({})
    with pytest.raises(ValueError, match="Unknown"):
        XChannel.validate_credentials({**OAUTH2, "bearer_token": "AAAA"})


def test_the_handle_is_an_x_username():
    assert XChannel.validate_config({"handle": "@AcmeSupport"}) == {"handle": "AcmeSupport"}
    assert XChannel.validate_config({}) == {"handle": ""}
    with pytest.raises(ValueError):
        XChannel.validate_config({"handle": "acme support"})


# --- weighing and splitting --------------------------------------------------------------


def test_x_weighting_counts_urls_as_23_and_wide_characters_as_2():
    assert x_weighted_length("abc") == 3
    assert x_weighted_length("é") == 1 and x_weighted_length("e\u0301") == 1  # NFC first, as X does
    assert x_weighted_length("“quoted” – fine") == 15  # general punctuation that weighs 1
    assert x_weighted_length("日本語") == 6
    assert x_weighted_length("😀") == 2
    assert x_weighted_length(HUB) == 23
    assert x_weighted_length(f"See {HUB}.") == 4 + 23 + 1
    assert x_weighted_length("https://a.co") == 23  # a short link is lengthened to a t.co one
    assert x_weighted_length("acme.com") == 23  # X links bare domains too


def test_x_weighting_errs_long_on_emoji_sequences():
    # X counts each of these as 2; counting more only ever makes a part shorter.
    for sequence in ("👍🏽", "🇬🇧", "👨‍👩‍👧"):
        assert x_weighted_length(sequence) >= 2


def test_real_posts_x_accepted_weigh_at_most_280():
    """Against reality: posts X published (twarc's recordings) fit by our count, once the
    parts X does not count are removed (leading reply mentions, media links)."""
    checked = 0
    for name in ("brexit.jsonl", "2sets.jsonl", "kpop.jsonl"):
        for line in shared_data("x-api", "recorded", name).read_text().splitlines():
            for tweet in json.loads(line).get("data") or []:
                text = html.unescape(tweet.get("text") or "")
                if text.startswith("RT @") or any(ref["type"] == "quoted" for ref in tweet.get("referenced_tweets", [])):
                    continue  # retweets are truncated; a quoted post's link is not counted
                if re.search("[\u200d\ufe0f\U0001F1E6-\U0001F1FF\U0001F3FB-\U0001F3FF]", text):
                    continue  # emoji sequences: counted long on purpose
                for url in (tweet.get("entities") or {}).get("urls") or []:
                    if url.get("media_key") or str(url.get("display_url", "")).startswith("pic.twitter.com/"):
                        text = text.replace(url["url"], "")
                text = re.sub(r"^(@\w+\s+)+", "", text)
                assert x_weighted_length(text) <= 280, text
                checked += 1
    assert checked > 50


def test_text_exactly_at_the_limit_stays_one_post():
    text = "a" * 256 + " " + HUB  # 256 + 1 + 23 = 280
    assert x_weighted_length(text) == 280

    assert channel().split(OutboundPost(text=text)) == [text]
    assert len(channel().split(OutboundPost(text=text + "!"))) == 2


def test_urls_weigh_23_when_splitting():
    long_link = "https://hub.acme.example/" + "incident-x2-" * 30  # 385 characters
    text = "Everything we know so far is on the hub: " + long_link

    assert channel().split(OutboundPost(text=text)) == [text]


def test_cjk_text_is_split_at_sentence_ends_within_the_weighted_limit():
    sentence = "充電器の使用を直ちに中止してください。"  # 19 characters, weight 38
    text = sentence * 20

    parts = channel().split(OutboundPost(text=text))

    assert len(parts) == 3
    for number, part in enumerate(parts, start=1):
        assert x_weighted_length(part) <= 280
        assert part.endswith(f"。 ({number}/3)")
    assert "".join(re.sub(r" \(\d/3\)$", "", part) for part in parts) == text


def test_emoji_weigh_two_when_splitting():
    text = "🔥" * 141  # weight 282

    parts = channel().split(OutboundPost(text=text))

    assert len(parts) == 2
    assert all(x_weighted_length(part) <= 280 for part in parts)


def test_a_single_word_longer_than_a_post_is_cut_and_nothing_is_lost():
    word = "Supercalifragilistic" * 20  # 400 characters, no space to split at

    parts = channel().split(OutboundPost(text=f"Word: {word} end."))

    assert len(parts) == 2
    assert all(x_weighted_length(part) <= 280 for part in parts)
    assert "".join(re.sub(r" \(\d/2\)$", "", part) for part in parts).replace(" ", "") == f"Word:{word}end."


def test_a_short_opening_paragraph_shares_its_part_rather_than_standing_alone():
    text = "UPDATE 14:00\n\n" + " ".join(f"Sentence {n} of the update says what happens next." for n in range(10))

    parts = channel().split(OutboundPost(text=text))

    assert parts[0].startswith("UPDATE 14:00\n\nSentence 0")
    assert all(re.search(r"\. \(\d/\d\)$", part) for part in parts)  # each part ends a sentence

