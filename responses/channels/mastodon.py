"""Publishing on Mastodon (one account on one instance) through Mastodon.py's ``status_post``.

``config`` keys:

- ``instance_url`` — the account's instance, an https:// address (required).
- ``max_characters`` — the instance's post limit (100–100000, default 500; some instances
  allow more, see ``configuration.statuses.max_characters`` of ``/api/v2/instance``).
- ``visibility`` — ``public`` (default) or ``unlisted``.

``credentials`` keys:

- ``access_token`` — a token of the posting account with the ``write:statuses`` scope.

A text longer than ``max_characters`` (counted as Mastodon counts, ``text.mastodon_length``)
becomes a numbered thread, each part replying to the one before. Every part is sent with an
``Idempotency-Key`` derived from the post's ``idempotency_key`` (Mastodon keeps them for an
hour), so a retry after a lost answer does not post twice. ``in_reply_to`` is a status id
*on this instance*.

429 is retryable at the instance's ``X-RateLimit-Reset``; 5xx, timeouts and network
failures are retryable; 401, 403, 404 and 422 (the instance refused the text) are permanent.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from mastodon import Mastodon
from mastodon.errors import (
    MastodonAPIError,
    MastodonError,
    MastodonIllegalArgumentError,
    MastodonNetworkError,
    MastodonNotFoundError,
    MastodonRatelimitError,
    MastodonServerError,
    MastodonUnauthorizedError,
)

from monitoring.sources import helpers
from monitoring.sources.mastodon import describe_error, error_status
from responses.channels.base import (
    HTTP_TIMEOUT_SECONDS,
    ChannelAdapter,
    OutboundPost,
    PublishedPart,
    PublishError,
    PublishResult,
    compose_text,
    publish_thread,
)
from responses.channels.text import mastodon_length, split_thread

DEFAULT_MAX_CHARACTERS = 500
VISIBILITIES = ("public", "unlisted")


class MastodonChannel(ChannelAdapter):
    kind = "mastodon"
    label = "Mastodon"
    max_post_length = DEFAULT_MAX_CHARACTERS

    def __init__(self, *, config: dict[str, Any], credentials: dict[str, Any]):
        super().__init__(config=config, credentials=credentials)
        try:
            self.max_post_length = self.validate_config(config)["max_characters"]
        except ValueError:
            pass  # publish reports the bad configuration; splitting uses the default meanwhile

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        config = helpers.require_mapping(config, "Mastodon channel configuration")
        helpers.reject_unknown_keys(config, {"instance_url", "max_characters", "visibility"}, "Mastodon channel configuration")
        instance_url = helpers.clean_http_url(config.get("instance_url"), "instance_url", require_https=True)
        # Checked when saved and again before every post (publish validates anew).
        problem = helpers.private_address_problem(instance_url, must_be="a Mastodon server must be public")
        if problem:
            raise ValueError(problem)
        visibility = config.get("visibility") or "public"
        if visibility not in VISIBILITIES:
            raise ValueError(f"visibility must be one of: {', '.join(VISIBILITIES)}.")
        return {
            "instance_url": instance_url.rstrip("/"),
            "max_characters": helpers.clean_int(
                config, "max_characters", default=DEFAULT_MAX_CHARACTERS, minimum=100, maximum=100_000
            ),
            "visibility": visibility,
        }

    @classmethod
    def validate_credentials(cls, credentials: dict[str, Any]) -> dict[str, Any]:
        credentials = helpers.require_mapping(credentials, "Mastodon channel credentials")
        helpers.reject_unknown_keys(credentials, {"access_token"}, "Mastodon channel credentials")
        return {"access_token": helpers.clean_secret(credentials, "access_token", required=True, label="The Mastodon access token")}

    def split(self, post: OutboundPost) -> list[str]:
        return split_thread(compose_text(post), fits=lambda text: mastodon_length(text) <= self.max_post_length)

    def publish(self, post: OutboundPost) -> PublishResult:
        config, credentials = self.checked_settings()
        parts = self.checked_parts(post)
        client = Mastodon(
            api_base_url=config["instance_url"],
            access_token=credentials["access_token"],
            request_timeout=HTTP_TIMEOUT_SECONDS,
            ratelimit_method="throw",
            version_check_mode="none",
            # A stated version stops Mastodon.py probing /api/v1/instance (see the inbound adapter).
            mastodon_version="4.0.0",
            user_agent=helpers.USER_AGENT,
        )
        # Mastodon accepts ISO 639 codes only: "en" of "en-GB".
        language = post.language.strip().replace("_", "-").split("-")[0].lower() or None

        def send(index: int, text: str, previous: PublishedPart | None) -> PublishedPart:
            reply_to = previous.external_id if previous else post.in_reply_to
            what = f"part {index + 1} of {len(parts)}" if len(parts) > 1 else "the post"
            try:
                status = client.status_post(
                    text,
                    in_reply_to_id=reply_to or None,
                    language=language,
                    visibility=config["visibility"],
                    idempotency_key=_part_key(post.idempotency_key, index, len(parts)),
                )
            except MastodonError as error:
                raise _publish_error(error, client, what) from None
            status_id = str(status.get("id") or "")
            if not status_id:
                raise PublishError(f"The instance accepted {what} without saying its id; check the account.", retryable=False)
            return PublishedPart(external_id=status_id, url=str(status.get("url") or status.get("uri") or ""))

        return publish_thread(parts, resume_after=post.resume_after, send=send)


def _part_key(idempotency_key: str, index: int, total: int) -> str | None:
    """One key per part: the same on every attempt, different between the parts."""
    if not idempotency_key:
        return None
    return idempotency_key if total == 1 else f"{idempotency_key}:{index + 1}/{total}"


def _publish_error(error: MastodonError, client: Mastodon, what: str) -> PublishError:
    if isinstance(error, MastodonRatelimitError):
        retry_at = helpers.epoch_to_datetime(client.ratelimit_reset) if client.ratelimit_reset else None
        if retry_at is not None and retry_at <= timezone.now():
            retry_at = None
        return PublishError(f"Mastodon rate limit reached while sending {what}; will retry.", retryable=True, retry_at=retry_at)
    if isinstance(error, MastodonUnauthorizedError):
        return PublishError(
            f"The instance refused the access token (401): {describe_error(error)}. Reconnect the Mastodon account.",
            retryable=False,
        )
    if isinstance(error, MastodonNotFoundError):
        return PublishError(
            f"The instance answered 404 to {what}: {describe_error(error)} (a reply to a deleted post, or not a Mastodon API).",
            retryable=False,
        )
    if isinstance(error, MastodonServerError):
        return PublishError(f"The instance is failing ({error_status(error)}); will retry.", retryable=True)
    if isinstance(error, MastodonNetworkError):
        # Covers timeouts too; the Idempotency-Key makes the retry safe.
        return PublishError(f"Could not reach the instance while sending {what}; will retry.", retryable=True)
    if isinstance(error, MastodonIllegalArgumentError):
        return PublishError(f"Mastodon.py refused {what}: {str(error)[:200]}", retryable=False)
    if isinstance(error, MastodonAPIError):
        status = error_status(error)
        if isinstance(status, int) and 400 <= status < 500 and status not in (408, 409, 425):
            return PublishError(f"The instance refused {what} ({status}): {describe_error(error)}", retryable=False)
        return PublishError(f"The instance answered {status} to {what}: {describe_error(error)}; will retry.", retryable=True)
    return PublishError(f"Mastodon request failed: {str(error)[:200]}", retryable=True)
