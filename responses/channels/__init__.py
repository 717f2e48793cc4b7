"""Publishing adapters, one module per platform, behind ``base.ChannelAdapter``.

``adapter_for`` only picks and builds the class: the configuration and credentials are
checked by ``validate_config`` / ``validate_credentials`` (which the forms and API call, and
every ``publish`` calls again, turning a bad stored value into a non-retryable
``PublishError``).
"""

from __future__ import annotations

from typing import Any

from responses.channels.base import ChannelAdapter
from responses.channels.bluesky import BlueskyChannel
from responses.channels.mastodon import MastodonChannel
from responses.channels.webhook import WebhookChannel
from responses.channels.x import XChannel

ADAPTERS: dict[str, type[ChannelAdapter]] = {
    adapter.kind: adapter for adapter in (XChannel, MastodonChannel, BlueskyChannel, WebhookChannel)
}


def adapter_for(kind: str, *, config: dict[str, Any], credentials: dict[str, Any]) -> ChannelAdapter:
    """The adapter for a channel of this kind; ``ValueError`` for a kind nothing publishes to."""
    try:
        adapter_class = ADAPTERS[kind]
    except KeyError:
        raise ValueError(f"No adapter publishes to channels of kind {kind!r}.") from None
    return adapter_class(config=config, credentials=credentials)
