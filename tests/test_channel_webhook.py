"""The signed outbound webhook: requests mocked at the HTTP boundary (``responses``), DNS
answered by a stand-in for ``socket.getaddrinfo`` so that address checks are deterministic."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
from datetime import datetime, timedelta, timezone

import pytest
import requests

from responses.channels.base import OutboundPost, PublishedPart, PublishError
from responses.channels.webhook import WebhookChannel
from tests.test_source_common import responses

# Webhook paths often carry their own secret, like this one: it must never be quoted.
URL = "https://hooks.acme.example/crisis/T0KEN-in-the-path"
SECRET = "whsec_0123456789abcdef0123"
PUBLIC_ADDRESS = "93.184.215.14"


@pytest.fixture
def dns(monkeypatch):
    """Host name -> address, as the resolver would answer; unknown names do not resolve."""
    answers = {"hooks.acme.example": PUBLIC_ADDRESS}

    def getaddrinfo(host, port, *args, **kwargs):
        address = answers.get(host, host)
        try:
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            socket.inet_pton(family, address)
        except OSError:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None
        return [(family, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


@pytest.fixture
def http(dns):
    with responses.RequestsMock() as mock:
        yield mock


def channel(url: str = URL) -> WebhookChannel:
    return WebhookChannel(config={"url": url}, credentials={"secret": SECRET})


def statement(**fields) -> OutboundPost:
    return OutboundPost(
        **{
            "text": "We are recalling the Acme X2 charger. Stop using it now.",
            "language": "en",
            "link": "https://hub.acme.example/incidents/x2-recall",
            "idempotency_key": "publication-42",
            **fields,
        }
    )


def shown(error: PublishError) -> str:
    """The message people see, after checking it quotes neither secret."""
    assert SECRET not in error.message
    assert "T0KEN" not in error.message
    return error.message


def test_the_statement_is_posted_as_signed_json_the_receiver_can_verify(http):
    http.post(URL, status=202, json={"id": "evt_123", "url": "https://intranet.acme.example/statements/123"})

    result = channel().publish(statement())

    (call,) = http.calls
    request = call.request
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    assert request.headers["X-CrisisCenter-Idempotency-Key"] == "publication-42"
    assert request.req_kwargs["timeout"] == 15.0
    body = request.body
    payload = json.loads(body)
    assert payload["type"] == "statement.published"
    assert payload["text"] == "We are recalling the Acme X2 charger. Stop using it now."
    assert payload["language"] == "en"
    assert payload["link"] == "https://hub.acme.example/incidents/x2-recall"
    assert payload["idempotency_key"] == "publication-42"
    sent_at = datetime.fromisoformat(payload["sent_at"])
    assert abs(datetime.now(timezone.utc) - sent_at) < timedelta(seconds=5)

    # What a receiver does: recompute the HMAC over "<t>.<raw body>" with the shared secret.
    fields = dict(item.split("=", 1) for item in request.headers["X-CrisisCenter-Signature"].split(","))
    assert int(fields["t"]) == int(sent_at.timestamp())
    expected = hmac.new(SECRET.encode(), f"{fields['t']}.".encode() + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(fields["v1"], expected)
    assert SECRET not in json.dumps(dict(request.headers)) and SECRET.encode() not in body

    assert result.parts == [PublishedPart("evt_123", "https://intranet.acme.example/statements/123")]


def test_non_ascii_text_is_sent_as_utf8_and_signed_as_sent(http):
    http.post(URL, status=204)

    channel().publish(statement(text="Rückruf des Ladegeräts X2 — 立即停止使用"))

    request = http.calls[0].request
    assert "Rückruf des Ladegeräts X2 — 立即停止使用".encode("utf-8") in request.body
    fields = dict(item.split("=", 1) for item in request.headers["X-CrisisCenter-Signature"].split(","))
    expected = hmac.new(SECRET.encode(), f"{fields['t']}.".encode() + request.body, hashlib.sha256).hexdigest()
    assert fields["v1"] == expected


def test_without_an_id_in_the_answer_the_idempotency_key_identifies_the_delivery(http):
    http.post(URL, status=204)

    result = channel().publish(statement())

    assert result.parts == [PublishedPart("publication-42", "")]


def test_an_oversized_answer_is_not_read_but_the_delivery_still_counts(http):
    http.post(URL, status=200, body=json.dumps({"id": "evt_1", "padding": "x" * 200_000}))

    result = channel().publish(statement())

    assert result.external_id == "publication-42"


def test_a_delivery_an_earlier_attempt_made_is_not_sent_again(http):
    done = [PublishedPart("evt_123", "")]

    result = channel().publish(statement(resume_after=done))

    assert result.parts == done
    assert len(http.calls) == 0


# --- addresses ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://10.0.0.5/hook",
        "https://192.168.1.20:8443/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/hook",
        "https://[fd00::1]/hook",
        "https://internal.acme.example/hook",
    ],
)
def test_private_loopback_and_link_local_addresses_are_refused_when_saving(dns, url):
    dns["internal.acme.example"] = "10.1.2.3"

    with pytest.raises(ValueError, match="private or local address"):
        WebhookChannel.validate_config({"url": url})


def test_only_https_is_accepted_and_the_address_is_never_quoted(dns):
    with pytest.raises(ValueError) as caught:
        WebhookChannel.validate_config({"url": "http://hooks.acme.example/crisis/T0KEN-in-the-path"})

    assert "https://" in str(caught.value)
    assert "T0KEN" not in str(caught.value)


def test_a_name_that_resolves_to_a_private_address_at_send_time_is_never_called(http, dns):
    WebhookChannel.validate_config({"url": URL})  # public when the channel was saved
    dns["hooks.acme.example"] = "127.0.0.1"  # ...and rebound to loopback since

    with pytest.raises(PublishError) as caught:
        channel().publish(statement())

    assert caught.value.retryable is False
    assert "hooks.acme.example is a private or local address" in shown(caught.value)
    assert len(http.calls) == 0


def test_intranet_webhooks_can_be_allowed_for_a_single_organisation_install(http, dns, settings):
    settings.MONITORING_FEEDS_ALLOW_PRIVATE_ADDRESSES = True
    dns["hooks.acme.example"] = "10.1.2.3"
    http.post(URL, status=200, json={"id": "evt_1"})

    assert channel().publish(statement()).external_id == "evt_1"


# --- answers -----------------------------------------------------------------------------


def test_a_redirect_is_not_followed_and_is_permanent(http):
    http.post(URL, status=302, headers={"Location": "https://169.254.169.254/latest/meta-data/"})
    http.assert_all_requests_are_fired = False
    elsewhere = http.post("https://169.254.169.254/latest/meta-data/", status=200)

    with pytest.raises(PublishError) as caught:
        channel().publish(statement())

    assert caught.value.retryable is False
    assert "redirect" in shown(caught.value)
    assert elsewhere.call_count == 0
    assert len(http.calls) == 1


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 422])
def test_other_client_errors_are_permanent(http, status):
    http.post(URL, status=status, json={"error": "no"})

    with pytest.raises(PublishError) as caught:
        channel().publish(statement())

    assert caught.value.retryable is False
    assert str(status) in shown(caught.value)
    assert "hooks.acme.example" in caught.value.message


@pytest.mark.parametrize("status", [408, 500, 502, 503, 504])
def test_timeouts_and_server_errors_are_retryable(http, status):
    http.post(URL, status=status)

    with pytest.raises(PublishError) as caught:
        channel().publish(statement())

    assert caught.value.retryable is True
    assert str(status) in shown(caught.value)


def test_a_429_is_retried_when_retry_after_says(http):
    http.post(URL, status=429, headers={"Retry-After": "120"})

    with pytest.raises(PublishError) as caught:
        channel().publish(statement())

    assert caught.value.retryable is True
    expected = datetime.now(timezone.utc) + timedelta(seconds=120)
    assert abs((caught.value.retry_at - expected).total_seconds()) < 5


def test_retry_after_may_be_an_http_date(http):
    http.post(URL, status=503, headers={"Retry-After": "Wed, 21 Oct 2037 07:28:00 GMT"})

    with pytest.raises(PublishError) as caught:
        channel().publish(statement())

    assert caught.value.retry_at == datetime(2037, 10, 21, 7, 28, tzinfo=timezone.utc)


@pytest.mark.parametrize("failure", [requests.exceptions.ConnectTimeout("slow"), requests.ConnectionError("refused")])
def test_network_failures_are_retryable_and_name_only_the_host(http, failure):
    http.post(URL, body=failure)

    with pytest.raises(PublishError) as caught:
        channel().publish(statement())

    assert caught.value.retryable is True
    assert "hooks.acme.example" in shown(caught.value)


# --- settings ----------------------------------------------------------------------------


def test_the_secret_must_be_long_enough_and_is_never_echoed():
    with pytest.raises(ValueError, match="at least 16") as caught:
        WebhookChannel.validate_credentials({"secret": "short-secret"})
    assert "short-secret" not in str(caught.value)
    with pytest.raises(ValueError, match="required"):
        WebhookChannel.validate_credentials({})
    assert WebhookChannel.validate_credentials({"secret": SECRET}) == {"secret": SECRET}


def test_a_misconfigured_channel_fails_permanently_without_sending(http):
    with pytest.raises(PublishError) as caught:
        WebhookChannel(config={"url": URL}, credentials={"secret": "short"}).publish(statement())

    assert caught.value.retryable is False
    assert len(http.calls) == 0


def test_the_text_is_never_split():
    long_text = "word " * 2000

    assert WebhookChannel(config={}, credentials={}).split(statement(text=long_text)) == [long_text.strip()]
