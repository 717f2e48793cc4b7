"""Publishing on Bluesky through atproto: ``com.atproto.server.createSession`` (log in), then
``com.atproto.repo.createRecord`` of an ``app.bsky.feed.post`` per part (``Client.send_post``).

``config`` keys:

- ``service_url`` — where the account logs in (its PDS or the entryway), default
  ``https://bsky.social``.

``credentials`` keys:

- ``handle`` — the account's handle, e.g. ``acme-desk.bsky.social`` (or its DID).
- ``app_password`` — an app password, never the account password.

A post holds 300 grapheme clusters and 3000 UTF-8 bytes (the ``app.bsky.feed.post``
lexicon); clusters are counted by ``text.grapheme_count``, an approximation that errs
towards more clusters. A longer text becomes a numbered thread: every part's ``reply``
names the thread's root and the part before (strong refs, uri + cid). ``in_reply_to`` is
the at:// URI of the post to answer; its root is read with ``com.atproto.repo.getRecord``,
as is the last part of an earlier attempt when resuming. Links, #tags and $cashtags get
rich-text facets (atproto's ``detect_facets``: UTF-8 byte offsets), so they are clickable.

Each publish logs in afresh: publishing is rare next to ``createSession``'s limits (30 per
5 minutes, 300 a day). Bluesky has no idempotency key, so an answer lost to a timeout can
mean the part is out and the retry posts it again.

Errors: 429 is retryable at ``ratelimit-reset``; timeouts, network failures and 5xx are
retryable; a refused login or session (401/403) and refused content (400, 413) are permanent.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from atproto import AtUri, Client, models
from atproto_client import exceptions as atproto_errors
from atproto_client.request import Request
from atproto_client.utils import detect_facets
from django.utils import timezone

from monitoring.sources import helpers
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
from responses.channels.text import grapheme_count, split_thread

DEFAULT_SERVICE_URL = "https://bsky.social"
MAX_GRAPHEMES = 300
MAX_BYTES = 3000
POST_COLLECTION = "app.bsky.feed.post"


class BlueskyChannel(ChannelAdapter):
    kind = "bluesky"
    label = "Bluesky"
    max_post_length = MAX_GRAPHEMES

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        config = helpers.require_mapping(config, "Bluesky channel configuration")
        helpers.reject_unknown_keys(config, {"service_url"}, "Bluesky channel configuration")
        service_url = helpers.clean_http_url(config.get("service_url") or DEFAULT_SERVICE_URL, "service_url", require_https=True)
        # Checked when saved and again before every post (publish validates anew).
        problem = helpers.private_address_problem(service_url, must_be="a Bluesky service must be public")
        if problem:
            raise ValueError(problem)
        return {"service_url": service_url.rstrip("/")}

    @classmethod
    def validate_credentials(cls, credentials: dict[str, Any]) -> dict[str, Any]:
        credentials = helpers.require_mapping(credentials, "Bluesky channel credentials")
        helpers.reject_unknown_keys(credentials, {"handle", "app_password"}, "Bluesky channel credentials")
        handle = helpers.clean_secret(credentials, "handle", required=True, label="The Bluesky handle").lstrip("@")
        app_password = helpers.clean_secret(credentials, "app_password", required=True, label="The app password")
        if "." not in handle and not handle.startswith("did:"):
            raise ValueError("The Bluesky handle looks incomplete; it is a domain such as name.bsky.social.")
        return {"handle": handle, "app_password": app_password}

    def split(self, post: OutboundPost) -> list[str]:
        return split_thread(compose_text(post), fits=fits)

    def publish(self, post: OutboundPost) -> PublishResult:
        config, credentials = self.checked_settings()
        parts = self.checked_parts(post)
        if len(post.resume_after) >= len(parts):
            return PublishResult(parts=list(post.resume_after))
        # The part (or mention) the next post answers.
        anchor = post.resume_after[-1].external_id if post.resume_after else post.in_reply_to
        anchor_what = "the last part already posted" if post.resume_after else "the post to reply to"
        anchor_address = _post_address(anchor, anchor_what) if anchor else None

        client = Client(base_url=config["service_url"], request=Request(timeout=HTTP_TIMEOUT_SECONDS))
        try:
            client.login(credentials["handle"], credentials["app_password"], fetch_bsky_profile=False)
        except atproto_errors.AtProtocolError as error:
            raise _publish_error(error, "logging in", login=True) from None
        parent = root = None
        if anchor_address is not None:
            parent, root = _reply_refs(client, anchor_address, anchor_what)
        languages = [post.language.strip()] if post.language.strip() else None

        def send(index: int, text: str, previous: PublishedPart | None) -> PublishedPart:
            nonlocal parent, root
            what = f"part {index + 1} of {len(parts)}" if len(parts) > 1 else "the post"
            reply = models.AppBskyFeedPost.ReplyRef(root=root, parent=parent) if parent else None
            try:
                created = client.send_post(
                    text,
                    profile_identify=credentials["handle"],
                    reply_to=reply,
                    langs=languages,
                    facets=detect_facets(text) or None,
                )
            except atproto_errors.AtProtocolError as error:
                raise _publish_error(error, f"sending {what}") from None
            reference = models.create_strong_ref(created)
            parent = reference
            root = root or reference
            return PublishedPart(external_id=created.uri, url=post_url(credentials["handle"], created.uri))

        return publish_thread(parts, resume_after=post.resume_after, send=send)


def fits(text: str) -> bool:
    return grapheme_count(text) <= MAX_GRAPHEMES and len(text.encode("utf-8")) <= MAX_BYTES


def post_url(handle: str, uri: str) -> str:
    return f"https://bsky.app/profile/{handle}/post/{uri.rpartition('/')[2]}"


def _post_address(uri: str, what: str) -> AtUri:
    try:
        address = AtUri.from_str(uri)
    except Exception:  # noqa: BLE001 - atproto raises several kinds for a malformed URI
        address = None
    if address is None or address.collection != POST_COLLECTION or not address.rkey:
        raise PublishError(f"{uri[:100]!r} is not the at:// URI of a Bluesky post ({what}).", retryable=False)
    return address


def _reply_refs(client: Client, address: AtUri, what: str) -> tuple[Any, Any]:
    """Strong refs to the post at ``address`` (the parent) and to the root of its thread."""
    try:
        record = client.app.bsky.feed.post.get(address.host, address.rkey)
    except atproto_errors.BadRequestError as error:
        raise PublishError(f"Bluesky could not find {what} ({str(error)[:200]}).", retryable=False) from None
    except atproto_errors.AtProtocolError as error:
        raise _publish_error(error, f"reading {what}") from None
    parent = models.create_strong_ref(record)
    reply = getattr(record.value, "reply", None)
    return parent, (reply.root if reply is not None else parent)


def _publish_error(error: Exception, what: str, *, login: bool = False) -> PublishError:
    status = getattr(getattr(error, "response", None), "status_code", None)
    detail = str(error)[:200]
    if isinstance(error, atproto_errors.RateLimitExceededError):
        retry_at = error.reset_at
        if retry_at is None and error.retry_after is not None:
            retry_at = timezone.now() + timedelta(seconds=error.retry_after)
        return PublishError(f"Bluesky rate limit reached while {what}; will retry.", retryable=True, retry_at=retry_at)
    if isinstance(error, atproto_errors.InvokeTimeoutError):
        return PublishError(f"Bluesky did not answer in time while {what}; will retry.", retryable=True)
    if isinstance(error, atproto_errors.NetworkError):
        if status == 413:
            return PublishError(f"Bluesky refused {what} as too large (413).", retryable=False)
        return PublishError(f"Could not reach Bluesky while {what}; will retry.", retryable=True)
    if isinstance(error, atproto_errors.UnauthorizedError) or (login and isinstance(error, atproto_errors.BadRequestError)):
        # createSession answers 400 for a wrong identifier or password, too.
        return PublishError(
            f"Bluesky refused the handle or app password ({detail}). Check them, or create a new app password.",
            retryable=False,
        )
    if isinstance(error, atproto_errors.BadRequestError):
        return PublishError(f"Bluesky refused the request while {what} ({detail}).", retryable=False)
    if isinstance(error, atproto_errors.RequestException) and isinstance(status, int) and status >= 500:
        return PublishError(f"Bluesky is failing ({status}) while {what}; will retry.", retryable=True)
    if isinstance(error, atproto_errors.RequestException):
        return PublishError(f"Bluesky refused the request while {what} ({detail}).", retryable=False)
    # A response atproto could not read: the part may be out, so do not post it again blindly.
    return PublishError(f"Bluesky sent an unexpected answer while {what}: {detail}", retryable=False)
