"""The common interface of every network adapter (one class per platform).

An adapter turns one poll of one source into drafts (see ``monitoring.drafts``) and a new
cursor. It never sleeps and never touches the database: the poll task stores the drafts,
then saves the cursor in the same transaction, so a cursor never runs ahead of what is
stored. Every failure is a ``SourceError`` that says whether retrying can help and, for a
rate limit, when.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from monitoring.drafts import MentionDraft

HTTP_TIMEOUT_SECONDS = 15.0


class SourceError(Exception):
    """A poll failed. ``retryable`` is False for bad credentials or a bad configuration (an
    admin must act); ``retry_at`` is set when the network said when to come back (HTTP 429)."""

    def __init__(self, message: str, *, retryable: bool, retry_at: datetime | None = None, reads: int = 0):
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.retry_at = retry_at
        self.reads = reads


@dataclass(frozen=True)
class WatchSpec:
    """One of the organisation's watch queries, as an adapter needs it."""

    watch_id: int
    query: str  # the watch's query text, in our syntax (monitoring.queries)
    language: str = ""  # optional ISO 639-1 filter


@dataclass
class PollResult:
    drafts: list[MentionDraft]
    cursor: dict[str, Any]  # the new cursor, saved only after the drafts are stored
    reads: int = 0  # items read from the network (X bills per post read)
    more: bool = False  # the network has more right now: poll again soon, not at the interval
    rate_limit: dict[str, Any] = field(default_factory=dict)  # e.g. {"limit": 450, "remaining": 12, "reset": epoch}


class SourceAdapter:
    """Subclasses set ``kind`` and implement ``poll``."""

    kind: str = ""

    def __init__(self, *, config: dict[str, Any], credentials: dict[str, Any]):
        self.config = config
        self.credentials = credentials

    def poll(self, *, cursor: dict[str, Any], watches: list[WatchSpec]) -> PollResult:
        raise NotImplementedError
