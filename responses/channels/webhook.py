"""Publishing to a signed outbound webhook: one JSON ``POST`` per statement.

``config`` keys:

- ``url`` — the receiver's https:// address (required).

``credentials`` keys:

- ``secret`` — the shared signing secret, at least 16 characters (required).

The body is ``{"type": "statement.published", "text", "language", "link",
"idempotency_key", "sent_at"}`` (UTF-8 JSON); the text is never split, the link travels in
its own field. Headers:

- ``X-CrisisCenter-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`` —
  the receiver recomputes it with the secret over the raw body, compares in constant time
  and refuses stale timestamps (replays).
- ``X-CrisisCenter-Idempotency-Key`` — the same on every attempt: receivers deduplicate on it.

A 2xx answer is success: ``external_id`` is the answer's JSON ``"id"`` when it sends one,
else the idempotency key; ``url`` its JSON ``"url"``, else "". Answers are read up to 64 KB.
408, 425, 429 (honouring ``Retry-After``), 5xx, timeouts and network failures are
retryable; a redirect (never followed) and other 4xx are permanent.

Webhook addresses are chosen by organisation admins, so, as for news feeds
(``monitoring.sources.rss``), an address that resolves to a loopback, private or link-local
address is refused, when the channel is saved and again, after DNS resolution, right before
every send; ``MONITORING_FEEDS_ALLOW_PRIVATE_ADDRESSES = True`` lifts this on a
single-organisation install. The name is resolved again when connecting, so a DNS server
that changes its answer within that instant is not caught. Messages name the host only:
webhook paths often carry their own secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from django.utils import timezone

from monitoring.sources import helpers
from responses.channels.base import (
    HTTP_TIMEOUT_SECONDS,
    ChannelAdapter,
    OutboundPost,
    PublishedPart,
    PublishError,
    PublishResult,
)

EVENT_TYPE = "statement.published"
SIGNATURE_HEADER = "X-CrisisCenter-Signature"
IDEMPOTENCY_HEADER = "X-CrisisCenter-Idempotency-Key"
MIN_SECRET_LENGTH = 16
MAX_TEXT_LENGTH = 50_000
MAX_RESPONSE_BYTES = 64 * 1024
MAX_ID_LENGTH = 255
CHUNK_BYTES = 8 * 1024
RETRYABLE_STATUSES = {408, 425, 429}
MAX_RETRY_AFTER_SECONDS = 7 * 24 * 3600


class WebhookChannel(ChannelAdapter):
    kind = "webhook"
    label = "webhook"
    max_post_length = MAX_TEXT_LENGTH

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        config = helpers.require_mapping(config, "webhook configuration")
        helpers.reject_unknown_keys(config, {"url"}, "webhook configuration")
        try:
            url = helpers.clean_http_url(config.get("url"), "url", require_https=True)
        except ValueError:
            # Not helpers' message: it quotes the address, and webhook paths carry secrets.
            raise ValueError("url must be an https:// address without a user name or password.") from None
        problem = private_address_problem(url)
        if problem:
            raise ValueError(problem)
        return {"url": url}

    @classmethod
    def validate_credentials(cls, credentials: dict[str, Any]) -> dict[str, Any]:
        credentials = helpers.require_mapping(credentials, "webhook credentials")
        helpers.reject_unknown_keys(credentials, {"secret"}, "webhook credentials")
        secret = helpers.clean_secret(credentials, "secret", required=True, label="The signing secret")
        if len(secret) < MIN_SECRET_LENGTH:
            raise ValueError(f"The signing secret must be at least {MIN_SECRET_LENGTH} characters long.")
        return {"secret": secret}

    def split(self, post: OutboundPost) -> list[str]:
        """Never split: the receiver gets the whole text (and the link in its own field)."""
        text = post.text.strip()
        if len(text) > MAX_TEXT_LENGTH:
            raise ValueError(f"a webhook carries at most {MAX_TEXT_LENGTH} characters")
        return [text] if text else []

    def publish(self, post: OutboundPost) -> PublishResult:
        config, credentials = self.checked_settings()
        self.checked_parts(post)
        if post.resume_after:
            return PublishResult(parts=list(post.resume_after))  # delivered by an earlier attempt
        url = config["url"]
        host = urlsplit(url).hostname or "?"
        problem = private_address_problem(url)
        if problem:
            raise PublishError(f"Not sent to the webhook: {problem}", retryable=False)

        sent_at = timezone.now()
        body = json.dumps(
            {
                "type": EVENT_TYPE,
                "text": post.text,
                "language": post.language,
                "link": post.link,
                "idempotency_key": post.idempotency_key,
                "sent_at": sent_at.isoformat(),
            },
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode("utf-8")
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": helpers.USER_AGENT,
            SIGNATURE_HEADER: signature_header(secret=credentials["secret"], timestamp=int(sent_at.timestamp()), body=body),
        }
        if post.idempotency_key:
            headers[IDEMPOTENCY_HEADER] = post.idempotency_key
        try:
            with requests.post(
                url, data=body, headers=headers, timeout=HTTP_TIMEOUT_SECONDS, allow_redirects=False, stream=True
            ) as response:
                return _outcome(response, host=host, post=post)
        except requests.Timeout:
            raise PublishError(f"The webhook at {host} did not answer in time; will retry.", retryable=True) from None
        except requests.RequestException as error:
            raise PublishError(f"Could not reach the webhook at {host} ({type(error).__name__}); will retry.", retryable=True) from None


def signature_header(*, secret: str, timestamp: int, body: bytes) -> str:
    """``t=<timestamp>,v1=<hex HMAC-SHA256 of "<timestamp>." + body>``."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def shown_address(url: str) -> str:
    """The address as people see it afterwards: the host only, because a webhook's path is
    often its secret (a token in the URL)."""
    return f"https://{urlsplit(url or '').hostname or '?'}/…"


def private_address_problem(url: str) -> str | None:
    return helpers.private_address_problem(url, must_be="webhooks must be public")


def _outcome(response: requests.Response, *, host: str, post: OutboundPost) -> PublishResult:
    status = response.status_code
    if 200 <= status < 300:
        answer = _json_or_none(response)
        external_id = answer.get("id") if isinstance(answer, dict) else None
        url = answer.get("url") if isinstance(answer, dict) else None
        if isinstance(external_id, bool) or not isinstance(external_id, (str, int)) or not str(external_id).strip():
            external_id = post.idempotency_key
        if not isinstance(url, str) or not url.lower().startswith(("https://", "http://")):
            url = ""
        return PublishResult(parts=[PublishedPart(external_id=str(external_id).strip()[:MAX_ID_LENGTH], url=url[:2000])])
    if 300 <= status < 400:
        raise PublishError(
            f"The webhook at {host} answered with a redirect ({status}); redirects are not followed, so update the "
            "webhook address.",
            retryable=False,
        )
    if status in RETRYABLE_STATUSES or status >= 500:
        retry_at = _retry_after(response.headers.get("Retry-After"))
        raise PublishError(f"The webhook at {host} answered {status}; will retry.", retryable=True, retry_at=retry_at)
    if 400 <= status < 500:
        raise PublishError(f"The webhook at {host} refused the statement ({status}).", retryable=False)
    raise PublishError(f"The webhook at {host} answered {status}; will retry.", retryable=True)


def _json_or_none(response: requests.Response) -> Any:
    """The answer's JSON, read no further than ``MAX_RESPONSE_BYTES``; None when it is not
    JSON or is larger (the statement was delivered all the same)."""
    body = bytearray()
    for chunk in response.iter_content(CHUNK_BYTES):
        body.extend(chunk)
        if len(body) > MAX_RESPONSE_BYTES:
            return None
    try:
        return json.loads(bytes(body).decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None


def _retry_after(value: str | None):
    """``Retry-After`` as a moment: delay-seconds or an HTTP-date; None when absent or odd."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return timezone.now() + timedelta(seconds=min(int(value), MAX_RETRY_AFTER_SECONDS))
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        return None
    return moment if moment > timezone.now() else None
