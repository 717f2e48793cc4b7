"""The Mastodon publishing adapter: real Mastodon.py against ``POST /api/v1/statuses``
mocked at the HTTP boundary (``responses``); answers are the Mastodon docs' Status entity
example."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs

import pytest
import requests

from responses.channels.base import OutboundPost, PublishedPart, PublishError
from responses.channels.mastodon import MastodonChannel
from responses.channels.text import mastodon_length
from tests.test_source_common import responses, shared_data

INSTANCE = "https://mastodon.example"
STATUSES_URL = f"{INSTANCE}/api/v1/statuses"
TOKEN = "mastodon-desk-token-0123456789"
HUB = "https://hub.acme.example/incidents/x2-recall"


def status_example() -> dict:
    return json.loads(shared_data("mastodon", "mastodon_docs_Status_entity_example.json").read_text())


def status_with(status_id: str, text: str, in_reply_to_id: str | None = None) -> dict:
    """The documented Status entity, as the instance would return the one just posted."""
    status = copy.deepcopy(status_example())
    status.update(
        id=status_id,
        uri=f"{INSTANCE}/users/acme/statuses/{status_id}",
        url=f"{INSTANCE}/@acme/{status_id}",
        content=f"<p>{text}</p>",
        in_reply_to_id=in_reply_to_id,
    )
    return status


@pytest.fixture
def http():
    with responses.RequestsMock() as mock:
        yield mock


def channel(**config) -> MastodonChannel:
    return MastodonChannel(config={"instance_url": INSTANCE, **config}, credentials={"access_token": TOKEN})


def form(call) -> dict:
    return {key: values[0] for key, values in parse_qs(call.request.body).items()}


def answer_with_ids(http, *ids: str) -> None:
    pending = list(ids)

    def callback(request):
        fields = {key: values[0] for key, values in parse_qs(request.body).items()}
        status = status_with(pending.pop(0), fields["status"], fields.get("in_reply_to_id"))
        return 200, {"Content-Type": "application/json"}, json.dumps(status)

    http.add_callback(responses.POST, STATUSES_URL, callback=callback)


def long_statement() -> str:
    paragraph = (
        "We are recalling every Acme X2 charger sold since March after reports of overheating. "
        "Stop using it now, unplug it, and bring it to any store for a refund or a free replacement. "
        "You do not need a receipt: the serial number is enough. "
    )
    return "\n\n".join([paragraph.strip()] * 5)


def test_a_statement_is_posted_with_its_language_visibility_and_idempotency_key(http):
    http.post(STATUSES_URL, json=status_example())

    result = channel().publish(
        OutboundPost(text="The X2 recall starts today.", language="en-GB", link=HUB, idempotency_key="publication-42")
    )

    (call,) = http.calls
    assert call.request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert call.request.headers["Idempotency-Key"] == "publication-42"
    assert call.request.req_kwargs["timeout"] == 15.0
    sent = form(call)
    assert sent["status"] == f"The X2 recall starts today.\n{HUB}"
    assert sent["language"] == "en"  # Mastodon takes ISO 639 codes only
    assert sent["visibility"] == "public"
    assert "in_reply_to_id" not in sent
    example = status_example()
    assert result.parts == [PublishedPart(external_id=example["id"], url=example["url"])]


def test_a_reply_names_the_status_it_answers(http):
    http.post(STATUSES_URL, json=status_example())

    channel(visibility="unlisted").publish(OutboundPost(text="@maria We are sorry.", in_reply_to="109999999999999999"))

    sent = form(http.calls[0])
    assert sent["in_reply_to_id"] == "109999999999999999"
    assert sent["visibility"] == "unlisted"


def test_a_long_statement_becomes_a_thread_with_one_idempotency_key_per_part(http):
    answer_with_ids(http, "110000000000000001", "110000000000000002", "110000000000000003")

    result = channel().publish(OutboundPost(text=long_statement(), idempotency_key="publication-42"))

    sent = [form(call) for call in http.calls]
    assert len(sent) == 3
    for number, fields in enumerate(sent, start=1):
        assert fields["status"].endswith(f" ({number}/3)")
        assert mastodon_length(fields["status"]) <= 500
    assert "in_reply_to_id" not in sent[0]
    assert [fields.get("in_reply_to_id") for fields in sent[1:]] == ["110000000000000001", "110000000000000002"]
    keys = [call.request.headers["Idempotency-Key"] for call in http.calls]
    assert keys == ["publication-42:1/3", "publication-42:2/3", "publication-42:3/3"]
    assert [part.url for part in result.parts] == [f"{INSTANCE}/@acme/11000000000000000{n}" for n in (1, 2, 3)]


def test_the_instance_limit_comes_from_the_configuration():
    text = "word " * 150  # 749 characters

    assert len(channel().split(OutboundPost(text=text))) == 2
    assert channel(max_characters=1000).split(OutboundPost(text=text)) == [text.strip()]


def test_a_failure_mid_thread_reports_what_went_out_and_the_retry_resumes_with_the_same_keys(http):
    answer_with_ids(http, "110000000000000001")
    http.post(STATUSES_URL, status=502, json={"error": "Bad gateway"})
    post = OutboundPost(text=long_statement(), idempotency_key="publication-42")

    with pytest.raises(PublishError) as caught:
        channel().publish(post)

    assert caught.value.retryable is True
    assert [part.external_id for part in caught.value.published_parts] == ["110000000000000001"]

    http.reset()
    answer_with_ids(http, "110000000000000002", "110000000000000003")
    channel().publish(OutboundPost(text=long_statement(), idempotency_key="publication-42", resume_after=caught.value.published_parts))

    assert [form(call)["in_reply_to_id"] for call in http.calls] == ["110000000000000001", "110000000000000002"]
    assert [call.request.headers["Idempotency-Key"] for call in http.calls] == ["publication-42:2/3", "publication-42:3/3"]


def test_a_rate_limit_is_retryable_at_the_instance_s_reset(http):
    reset = (datetime.now(timezone.utc) + timedelta(minutes=5)).replace(microsecond=0)
    http.post(
        STATUSES_URL,
        status=429,
        json={"error": "Too many requests"},
        headers={"X-RateLimit-Limit": "300", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset.isoformat()},
    )

    with pytest.raises(PublishError) as caught:
        channel().publish(OutboundPost(text="The X2 recall starts today."))

    assert caught.value.retryable is True
    assert abs((caught.value.retry_at - reset).total_seconds()) < 5


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_retryable(http, status):
    http.post(STATUSES_URL, status=status, json={"error": "Something went wrong"})

    with pytest.raises(PublishError) as caught:
        channel().publish(OutboundPost(text="The X2 recall starts today."))

    assert caught.value.retryable is True


def test_a_timeout_is_retryable(http):
    http.post(STATUSES_URL, body=requests.exceptions.ReadTimeout("read timed out"))

    with pytest.raises(PublishError) as caught:
        channel().publish(OutboundPost(text="The X2 recall starts today.", idempotency_key="publication-42"))

    assert caught.value.retryable is True


def test_a_refused_token_is_permanent_and_never_quoted(http):
    http.post(STATUSES_URL, status=401, json={"error": "The access token is invalid"})

    with pytest.raises(PublishError) as caught:
        channel().publish(OutboundPost(text="The X2 recall starts today."))

    assert caught.value.retryable is False
    assert "401" in caught.value.message and "access token is invalid" in caught.value.message
    assert TOKEN not in caught.value.message


def test_text_the_instance_refuses_is_permanent(http):
    http.post(STATUSES_URL, status=422, json={"error": "Validation failed: Text character limit of 500 exceeded"})

    with pytest.raises(PublishError) as caught:
        channel().publish(OutboundPost(text="The X2 recall starts today."))

    assert caught.value.retryable is False
    assert "422" in caught.value.message and "character limit" in caught.value.message


def test_a_missing_scope_is_permanent(http):
    http.post(STATUSES_URL, status=403, json={"error": "This action is outside the authorized scopes"})

    with pytest.raises(PublishError) as caught:
        channel().publish(OutboundPost(text="The X2 recall starts today."))

    assert caught.value.retryable is False


def test_the_instance_must_be_https_and_the_token_is_required():
    with pytest.raises(ValueError, match="https"):
        MastodonChannel.validate_config({"instance_url": "http://mastodon.example"})
    with pytest.raises(ValueError, match="visibility"):
        MastodonChannel.validate_config({"instance_url": INSTANCE, "visibility": "direct"})
    with pytest.raises(ValueError, match="access token is required"):
        MastodonChannel.validate_credentials({})
    assert MastodonChannel.validate_config({"instance_url": f"{INSTANCE}/"}) == {
        "instance_url": INSTANCE,
        "max_characters": 500,
        "visibility": "public",
    }


def test_mastodon_counts_every_link_as_23_and_graphemes_as_one():
    assert mastodon_length(HUB) == 23
    assert mastodon_length("https://a.co") == 23
    assert mastodon_length("👨‍👩‍👧 🇬🇧 é") == 5
    assert mastodon_length("acme.com") == 8  # Mastodon only links addresses with a scheme


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.5", "169.254.169.254"])
def test_a_mastodon_server_inside_our_network_is_refused(monkeypatch, settings, address):
    import socket

    settings.MONITORING_FEEDS_ALLOW_PRIVATE_ADDRESSES = False
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, port, *args, **kwargs: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))])
    with pytest.raises(ValueError, match="private or local address"):
        MastodonChannel.validate_config({"instance_url": "https://mastodon.internal.example"})
