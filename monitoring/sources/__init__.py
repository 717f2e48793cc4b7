"""Network adapters, one module per platform, behind ``base.SourceAdapter``.

``adapter_for`` only picks and builds the class: the configuration and credentials are
checked by ``validate_config`` / ``validate_credentials`` (which the forms and API call, and
every ``poll`` calls again, turning a bad stored value into a non-retryable
``SourceError``).
"""

from __future__ import annotations

from typing import Any

from monitoring.sources.base import SourceAdapter
from monitoring.sources.bluesky import BlueskyAdapter
from monitoring.sources.mastodon import MastodonAdapter
from monitoring.sources.reddit import RedditAdapter
from monitoring.sources.rss import RssAdapter
from monitoring.sources.x import XAdapter

ADAPTERS: dict[str, type[SourceAdapter]] = {
    adapter.kind: adapter for adapter in (XAdapter, MastodonAdapter, BlueskyAdapter, RedditAdapter, RssAdapter)
}


def adapter_for(kind: str, *, config: dict[str, Any], credentials: dict[str, Any]) -> SourceAdapter:
    """The adapter for a source of this kind; ``ValueError`` for a kind no adapter polls."""
    try:
        adapter_class = ADAPTERS[kind]
    except KeyError:
        raise ValueError(f"No adapter polls sources of kind {kind!r}.") from None
    return adapter_class(config=config, credentials=credentials)
