"""The common interface of every publishing adapter (one class per platform).

An adapter turns one approved ``OutboundPost`` into one post, or a thread of posts when the
text is longer than the platform allows, and says where they went (``PublishResult``). It
never sleeps, never touches the database and never logs: the caller records the outcome on
its row. Every failure is a ``PublishError`` that says whether retrying can help, when (for
a rate limit), and which parts of a thread already went out, so that a retry passes them
back as ``resume_after`` and continues after the last one instead of posting them twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Sequence

from monitoring.sources.base import HTTP_TIMEOUT_SECONDS

__all__ = [
    "HTTP_TIMEOUT_SECONDS",
    "MAX_THREAD_PARTS",
    "ChannelAdapter",
    "OutboundPost",
    "PublishError",
    "PublishResult",
    "PublishedPart",
    "compose_text",
    "publish_thread",
]

# A statement that needs more posts than this is not a thread but an article: link to the hub.
MAX_THREAD_PARTS = 25


@dataclass(frozen=True)
class PublishedPart:
    external_id: str  # the platform's id of the post (X and Mastodon ids, a Bluesky at:// URI)
    url: str  # where people see it; "" when the platform gave none (some webhooks)


@dataclass(frozen=True)
class PublishResult:
    parts: list[PublishedPart]  # one per post; a thread has several, in order

    @property
    def external_id(self) -> str:
        return self.parts[0].external_id if self.parts else ""

    @property
    def url(self) -> str:
        return self.parts[0].url if self.parts else ""


class PublishError(Exception):
    """Publishing failed.

    ``retryable`` is False when a person must act first (bad credentials, content the
    platform refused, a duplicate, a bad configuration); the message is written for them.
    ``retry_at`` is set when the platform said when to come back (HTTP 429).
    ``published_parts`` lists every part of the thread that is out, including the
    ``resume_after`` parts this attempt was given: store it and pass it back as
    ``resume_after`` on the retry.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        retry_at: datetime | None = None,
        published_parts: list[PublishedPart] | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.retry_at = retry_at
        self.published_parts = list(published_parts or [])


@dataclass(frozen=True)
class OutboundPost:
    text: str  # plain text, already approved: adapters never change its words
    language: str = "en"  # ISO 639-1 (or a BCP 47 tag; Mastodon is sent its primary subtag)
    link: str = ""  # e.g. the public hub URL: appended on its own line unless the text has it
    idempotency_key: str = ""  # stable across attempts of one publication
    in_reply_to: str = ""  # the platform's id of the post to reply to; "" for a top-level post
    resume_after: Sequence[PublishedPart] = ()  # parts an earlier attempt already posted


def compose_text(post: OutboundPost) -> str:
    """The text that goes out: the approved words, then the link on its own line unless the
    text already carries it."""
    text = post.text.strip()
    link = post.link.strip()
    if link and link not in text:
        return f"{text}\n{link}" if text else link
    return text


def publish_thread(
    parts: list[str],
    *,
    resume_after: Sequence[PublishedPart],
    send: Callable[[int, str, PublishedPart | None], PublishedPart],
) -> PublishResult:
    """Post ``parts`` in order, skipping the ones ``resume_after`` says are already out.

    ``send(index, text, previous)`` posts one part; ``previous`` is the part it follows
    (None for the first part of a fresh thread). When ``send`` raises, the error is raised
    again carrying every part that is out so far.
    """
    done = list(resume_after)
    for index in range(len(done), len(parts)):
        try:
            part = send(index, parts[index], done[-1] if done else None)
        except PublishError as error:
            raise PublishError(
                error.message, retryable=error.retryable, retry_at=error.retry_at, published_parts=done
            ) from None
        done.append(part)
    return PublishResult(parts=done)


class ChannelAdapter:
    """Subclasses set ``kind``, ``label`` and ``max_post_length`` and implement the
    validators, ``split`` and ``publish``.

    Building an adapter never validates (forms reach the class with empty settings);
    ``publish`` validates the stored settings again and turns a bad value into a
    non-retryable ``PublishError``.
    """

    kind: str = ""
    label: str = ""  # the platform's name in messages people read
    max_post_length: int = 0

    def __init__(self, *, config: dict[str, Any], credentials: dict[str, Any]):
        self.config = config
        self.credentials = credentials

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def validate_credentials(cls, credentials: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def split(self, post: OutboundPost) -> list[str]:
        """The posts the text becomes, in order (pure: no network)."""
        raise NotImplementedError

    def publish(self, post: OutboundPost) -> PublishResult:
        raise NotImplementedError

    # --- shared by the subclasses ------------------------------------------------------

    def checked_settings(self) -> tuple[dict[str, Any], dict[str, Any]]:
        try:
            return self.validate_config(self.config), self.validate_credentials(self.credentials)
        except ValueError as error:
            raise PublishError(f"The {self.label} channel is misconfigured: {error}", retryable=False) from None

    def checked_parts(self, post: OutboundPost) -> list[str]:
        """``split(post)``, refusing what cannot be published at all."""
        if not post.text.strip():
            raise PublishError(f"There is no text to publish on {self.label}.", retryable=False)
        try:
            parts = self.split(post)
        except ValueError as error:
            raise PublishError(f"The text cannot be published on {self.label}: {error}", retryable=False) from None
        if len(parts) > MAX_THREAD_PARTS:
            raise PublishError(
                f"The text would need {len(parts)} posts on {self.label}; at most {MAX_THREAD_PARTS} are sent as a "
                "thread. Shorten it and link to the hub for the details.",
                retryable=False,
            )
        return parts
