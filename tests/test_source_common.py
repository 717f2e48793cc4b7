"""What every network adapter shares: the registry, configuration checks, HTML to text, and
the test support the ``test_source_*`` modules import (the ``responses`` mocking library and
the recorded data in ``../shared/data``)."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

import pytest

from monitoring.sources import ADAPTERS, adapter_for
from monitoring.sources.base import SourceAdapter, SourceError, WatchSpec
from monitoring.sources.helpers import html_to_text, json_safe

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"


def shared_data(*parts: str) -> Path:
    """A file of real third-party material; tests read it at run time, never copy it."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"recorded data not available: {path}")
    return path


def _load_responses_library():
    """The ``responses`` HTTP-mocking library. The project has a Django app of the same name
    on ``sys.path`` first, so import the library with the project root hidden, then put the
    app back where Django expects it."""
    already = sys.modules.get("responses")
    if already is not None and hasattr(already, "RequestsMock"):
        return already
    project_app = sys.modules.pop("responses", None)
    saved_path = list(sys.path)
    root = str(PROJECT_ROOT)
    sys.path[:] = [entry for entry in sys.path if os.path.abspath(entry or os.getcwd()) != root]
    try:
        library = importlib.import_module("responses")
    finally:
        sys.path[:] = saved_path
        if project_app is not None:
            sys.modules["responses"] = project_app
        else:
            sys.modules.pop("responses", None)
    return library


responses = _load_responses_library()


def watch(watch_id: int, query: str, language: str = "") -> WatchSpec:
    return WatchSpec(watch_id=watch_id, query=query, language=language)


# --- the registry ------------------------------------------------------------------------


def test_every_polled_kind_has_an_adapter():
    assert set(ADAPTERS) == {"x", "mastodon", "bluesky", "reddit", "rss"}
    for kind, adapter_class in ADAPTERS.items():
        assert issubclass(adapter_class, SourceAdapter)
        assert adapter_class.kind == kind


def test_adapter_for_builds_without_validating_so_forms_can_reach_the_class():
    # monitoring.services asks for the class with empty settings, then validates.
    for kind, adapter_class in ADAPTERS.items():
        adapter = adapter_for(kind, config={}, credentials={})
        assert type(adapter) is adapter_class


def test_adapter_for_refuses_a_kind_nobody_polls():
    with pytest.raises(ValueError, match="webhook"):
        adapter_for("webhook", config={}, credentials={})


@pytest.mark.parametrize("kind", ["x", "mastodon", "bluesky", "reddit", "rss"])
def test_a_misconfigured_source_fails_its_poll_without_retry(kind):
    adapter = adapter_for(kind, config={"nonsense": 1}, credentials={})
    with pytest.raises(SourceError) as caught:
        adapter.poll(cursor={}, watches=[watch(1, "recall")])
    assert caught.value.retryable is False
    assert "misconfigured" in caught.value.message


def test_validation_messages_name_the_problem():
    with pytest.raises(ValueError, match="bearer token is required"):
        ADAPTERS["x"].validate_credentials({})
    with pytest.raises(ValueError, match="not a valid numeric X user id"):
        ADAPTERS["x"].validate_config({"account_ids": ["@acme"]})
    with pytest.raises(ValueError, match="between 1 and 50"):
        ADAPTERS["x"].validate_config({"max_pages_per_poll": 0})
    with pytest.raises(ValueError, match="https://"):
        ADAPTERS["mastodon"].validate_config({"instance_url": "http://mastodon.example"})
    with pytest.raises(ValueError, match="both the Bluesky handle and an app password"):
        ADAPTERS["bluesky"].validate_credentials({"handle": "desk.bsky.social"})
    with pytest.raises(ValueError, match="user_agent is required"):
        ADAPTERS["reddit"].validate_credentials({"client_id": "a", "client_secret": "b"})
    with pytest.raises(ValueError, match="not a valid subreddit name"):
        ADAPTERS["reddit"].validate_config({"subreddits": ["news", "no spaces!"]})
    with pytest.raises(ValueError, match="at least one feed"):
        ADAPTERS["rss"].validate_config({"feed_urls": []})
    with pytest.raises(ValueError, match="http:// or https://"):
        ADAPTERS["rss"].validate_config({"feed_urls": ["file:///etc/passwd"]})
    with pytest.raises(ValueError, match="Unknown feed credentials key"):
        ADAPTERS["rss"].validate_credentials({"password": "x"})


def test_validation_fills_defaults_and_normalises():
    assert ADAPTERS["x"].validate_config({"account_ids": "783214, 12"}) == {
        "account_ids": ["783214", "12"],
        "max_pages_per_poll": 5,
    }
    assert ADAPTERS["mastodon"].validate_config({"instance_url": "https://mastodon.social/"}) == {
        "instance_url": "https://mastodon.social",
        "max_pages_per_poll": 5,
    }
    assert ADAPTERS["mastodon"].validate_credentials({}) == {}
    assert ADAPTERS["bluesky"].validate_config({})["appview_url"] == "https://api.bsky.app"
    assert ADAPTERS["bluesky"].validate_credentials({"handle": "@desk.bsky.social", "app_password": "abcd-efgh-ijkl-mnop"}) == {
        "handle": "desk.bsky.social",
        "app_password": "abcd-efgh-ijkl-mnop",
    }
    assert ADAPTERS["reddit"].validate_config({"subreddits": ["r/news", "worldnews"]})["subreddits"] == ["news", "worldnews"]
    assert ADAPTERS["rss"].validate_config({"feed_urls": ["https://a.example/feed", "https://a.example/feed"]}) == {
        "feed_urls": ["https://a.example/feed"],
        "max_age_hours": 48,
    }


# --- text and JSON -----------------------------------------------------------------------


def test_html_to_text_drops_markup_and_script_and_decodes_entities():
    html = '<p>Recall &amp; refund &quot;now&quot;</p><script>alert("x")</script><p>line<br>two</p>'
    assert html_to_text(html) == 'Recall & refund "now"\nline\ntwo'


def test_html_to_text_survives_broken_markup():
    assert html_to_text("<p>unclosed <b>bold <a href='x") == "unclosed bold"
    assert html_to_text("plain text") == "plain text"
    assert html_to_text(None) == ""


def test_json_safe_turns_library_objects_into_json():
    from datetime import datetime, timezone

    value = {"at": datetime(2024, 1, 2, tzinfo=timezone.utc), "_private": 1, "items": (1, 2), "obj": object()}
    safe = json_safe(value)
    assert safe["at"] == "2024-01-02T00:00:00+00:00"
    assert "_private" not in safe
    assert safe["items"] == [1, 2]
    assert isinstance(safe["obj"], str)


def test_loading_the_mocking_library_leaves_the_projects_responses_app_in_place():
    from django.apps import apps

    project_app = apps.get_app_config("responses").module
    assert sys.modules["responses"] is project_app
    assert Path(project_app.__file__).parent == PROJECT_ROOT / "responses"
    assert importlib.import_module("responses.migrations").__name__ == "responses.migrations"
    assert hasattr(responses, "RequestsMock") and responses is not project_app
