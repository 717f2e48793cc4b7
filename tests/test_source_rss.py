"""The RSS/Atom adapter: real feedparser on feeds written here, requests mocked at the HTTP
boundary (``responses``)."""

from __future__ import annotations

from datetime import timedelta
from email.utils import format_datetime

import pytest
import requests
from django.utils import timezone

from monitoring.drafts import clean_draft
from monitoring.sources import rss as rss_source
from monitoring.sources.base import SourceError
from monitoring.sources.rss import RssAdapter
from tests.test_source_common import responses, watch

NEWS_RSS = "https://news.example/rss.xml"
PRESS_ATOM = "https://press.example/atom.xml"
NOW = timezone.now()


def rss_feed(*, title_html: str = "Acme X2 battery recall", old: bool = False) -> str:
    published = format_datetime(NOW - (timedelta(days=10) if old else timedelta(hours=1)))
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0">
  <channel>
    <title>Example News</title>
    <link>https://news.example/</link>
    <description>Latest news</description>
    <language>en-us</language>
    <item>
      <title>{title_html}</title>
      <link>https://news.example/2025/acme-recall</link>
      <guid isPermaLink="true">https://news.example/2025/acme-recall</guid>
      <description>&lt;p&gt;Owners should &lt;b&gt;stop charging&lt;/b&gt; the X2 &amp;amp; contact Acme.&lt;/p&gt;</description>
      <pubDate>{published}</pubDate>
      <author>desk@news.example (News Desk)</author>
    </item>
    <item>
      <title>Local team wins the cup</title>
      <link>https://news.example/2025/cup</link>
      <guid isPermaLink="false">12345</guid>
      <description>Sports.</description>
      <pubDate>{published}</pubDate>
    </item>
  </channel>
</rss>"""


def atom_feed() -> str:
    updated = (NOW - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="de">
  <title>Acme Press</title>
  <id>urn:uuid:60a76c80-d399-11d9-b91C-0003939e0af6</id>
  <updated>{updated}</updated>
  <entry>
    <title type="html">Statement on the &lt;em&gt;X2 recall&lt;/em&gt;</title>
    <link href="https://press.example/statements/x2"/>
    <id>urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a</id>
    <updated>{updated}</updated>
    <author><name>Acme Communications</name></author>
    <summary type="html">&lt;p&gt;We are recalling the X2.&lt;/p&gt;</summary>
  </entry>
</feed>"""


def adapter(*urls: str, **config) -> RssAdapter:
    return RssAdapter(config={"feed_urls": list(urls or [NEWS_RSS]), **config}, credentials={})


@pytest.fixture
def http():
    with responses.RequestsMock() as mock:
        yield mock


def test_rss_and_atom_entries_that_match_a_watch_become_drafts(http):
    http.get(NEWS_RSS, body=rss_feed(), content_type="application/rss+xml", headers={"ETag": '"v1"', "Last-Modified": "Sat, 01 Mar 2025 10:00:00 GMT"})
    http.get(PRESS_ATOM, body=atom_feed(), content_type="application/atom+xml")

    result = adapter(NEWS_RSS, PRESS_ATOM).poll(cursor={}, watches=[watch(1, "recall")])

    assert [draft["external_id"] for draft in result.drafts] == [
        "https://news.example/2025/acme-recall",
        "urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a",
    ]
    news, press = result.drafts
    assert news["text"] == "Acme X2 battery recall\n\nOwners should stop charging the X2 & contact Acme."
    assert news["url"] == "https://news.example/2025/acme-recall"
    assert news["language"] == "en"
    assert press["text"] == "Statement on the X2 recall\n\nWe are recalling the X2."
    assert press["author_name"] == "Acme Communications"
    assert press["url"] == "https://press.example/statements/x2"
    for draft in result.drafts:
        clean_draft(draft)
    assert result.reads == 3
    request = http.calls[0].request
    assert request.req_kwargs["timeout"] == 15.0
    assert "CrisisCenter" in request.headers["User-Agent"]
    assert result.cursor["feeds"][NEWS_RSS]["etag"] == '"v1"'
    assert result.cursor["feeds"][NEWS_RSS]["last_modified"] == "Sat, 01 Mar 2025 10:00:00 GMT"


def test_script_and_markup_in_titles_are_stripped(http):
    http.get(NEWS_RSS, body=rss_feed(title_html="&lt;script&gt;alert(1)&lt;/script&gt;&lt;b&gt;Recall&lt;/b&gt; of X2"))

    (draft,) = adapter().poll(cursor={}, watches=[watch(1, "recall")]).drafts

    assert draft["text"].startswith("Recall of X2\n\n")
    assert "alert" not in draft["text"] and "<" not in draft["text"]


def test_an_unchanged_feed_answers_304_to_its_validators(http):
    http.get(NEWS_RSS, status=304)
    cursor = {"feeds": {NEWS_RSS: {"etag": '"v1"', "last_modified": "Sat, 01 Mar 2025 10:00:00 GMT", "seen": ["abc"]}}}

    result = adapter().poll(cursor=cursor, watches=[watch(1, "recall")])

    headers = http.calls[0].request.headers
    assert headers["If-None-Match"] == '"v1"'
    assert headers["If-Modified-Since"] == "Sat, 01 Mar 2025 10:00:00 GMT"
    assert result.drafts == []
    assert result.cursor["feeds"][NEWS_RSS] == cursor["feeds"][NEWS_RSS]


def test_entries_already_sent_are_not_sent_again(http):
    http.get(NEWS_RSS, body=rss_feed())
    http.get(NEWS_RSS, body=rss_feed())

    first = adapter().poll(cursor={}, watches=[watch(1, "recall")])
    second = adapter().poll(cursor=first.cursor, watches=[watch(1, "recall")])

    assert len(first.drafts) == 1
    assert second.drafts == []


def test_entries_older_than_the_age_limit_are_ignored(http):
    http.get(NEWS_RSS, body=rss_feed(old=True))

    assert adapter(max_age_hours=48).poll(cursor={}, watches=[watch(1, "recall")]).drafts == []


def test_one_broken_feed_does_not_lose_the_others(http):
    http.get(NEWS_RSS, status=500, body="oops")
    http.get(PRESS_ATOM, body=atom_feed())

    result = adapter(NEWS_RSS, PRESS_ATOM).poll(cursor={}, watches=[watch(1, "recall")])

    assert len(result.drafts) == 1
    assert result.cursor["feeds"][NEWS_RSS]["error"] == f"{NEWS_RSS}: the server failed (500)"
    assert "error" not in result.cursor["feeds"][PRESS_ATOM]


def test_a_feed_that_works_again_clears_its_error(http):
    http.get(NEWS_RSS, body=rss_feed())

    result = adapter().poll(cursor={"feeds": {NEWS_RSS: {"error": "earlier failure"}}}, watches=[watch(1, "recall")])

    assert "error" not in result.cursor["feeds"][NEWS_RSS]


def test_when_every_feed_fails_the_poll_fails(http):
    http.get(NEWS_RSS, body=requests.exceptions.ReadTimeout("timed out"))
    http.get(PRESS_ATOM, status=404)

    with pytest.raises(SourceError) as caught:
        adapter(NEWS_RSS, PRESS_ATOM).poll(cursor={}, watches=[watch(1, "recall")])

    assert caught.value.retryable is True  # the timeout may pass
    assert "no answer within 15 seconds" in caught.value.message
    assert "refused the feed (404)" in caught.value.message


@pytest.mark.parametrize(
    ("body", "content_type", "parser_says"),
    [
        ("<rss><channel><title>broken</title><item><title>cut off", "application/rss+xml", "no element found"),
        ("<html><body><h1>Service temporarily unavailable</h1></body></html>", "text/html", "not an XML media type"),
    ],
    ids=["truncated", "html-page"],
)
def test_a_malformed_feed_with_no_entries_is_an_error_with_the_parsers_message(http, body, content_type, parser_says):
    http.get(NEWS_RSS, body=body, content_type=content_type)

    with pytest.raises(SourceError) as caught:
        adapter().poll(cursor={}, watches=[watch(1, "recall")])

    assert caught.value.retryable is False
    assert "not a readable feed" in caught.value.message
    assert parser_says in caught.value.message


def test_a_malformed_feed_that_still_has_entries_is_used(http):
    # "&nbsp;" is not defined in XML: feedparser flags the feed (bozo) but still reads it.
    http.get(NEWS_RSS, body=rss_feed(title_html="Acme&nbsp;recall widens"))

    result = adapter().poll(cursor={}, watches=[watch(1, "recall")])

    assert len(result.drafts) == 1
    assert result.cursor["feeds"][NEWS_RSS]["warning"].startswith("malformed feed, used anyway")


def test_a_feed_larger_than_the_cap_is_refused(http, monkeypatch):
    monkeypatch.setattr(rss_source, "MAX_BYTES", 1000)
    http.get(NEWS_RSS, body=rss_feed() + " " * 2000)
    http.get(PRESS_ATOM, body=atom_feed())

    result = adapter(NEWS_RSS, PRESS_ATOM).poll(cursor={}, watches=[watch(1, "recall")])

    assert result.cursor["feeds"][NEWS_RSS]["error"] == f"{NEWS_RSS}: the feed is larger than 5 MB"
    assert len(result.drafts) == 1


def test_short_ids_from_different_feeds_never_collide(http):
    http.get(NEWS_RSS, body=rss_feed())
    other = "https://other.example/rss.xml"
    http.get(other, body=rss_feed())

    result = adapter(NEWS_RSS, other).poll(cursor={}, watches=[watch(1, "cup")])

    ids = [draft["external_id"] for draft in result.drafts]
    assert len(ids) == 2 and len(set(ids)) == 2
    assert all(external_id.startswith("sha256:") for external_id in ids)  # guid "12345" is not unique


def test_a_feed_on_a_private_address_is_never_fetched(http):
    with pytest.raises(SourceError) as caught:
        adapter("http://127.0.0.1:8000/feed.xml").poll(cursor={}, watches=[watch(1, "recall")])

    assert caught.value.retryable is False
    assert "private or local address" in caught.value.message
    assert len(http.calls) == 0


def test_redirects_are_followed_but_never_into_our_network(http):
    http.get(NEWS_RSS, status=301, headers={"Location": "https://news.example/moved.xml"})
    http.get("https://news.example/moved.xml", body=rss_feed())
    http.get(PRESS_ATOM, status=302, headers={"Location": "http://169.254.169.254/latest/meta-data/"})

    result = adapter(NEWS_RSS, PRESS_ATOM).poll(cursor={}, watches=[watch(1, "recall")])

    assert [draft["external_id"] for draft in result.drafts] == ["https://news.example/2025/acme-recall"]
    assert "169.254.169.254 is a private or local address" in result.cursor["feeds"][PRESS_ATOM]["error"]
    assert all("169.254" not in call.request.url for call in http.calls)


def test_intranet_feeds_can_be_allowed_for_a_single_organisation_install(http, settings):
    settings.MONITORING_FEEDS_ALLOW_PRIVATE_ADDRESSES = True
    http.get("http://127.0.0.1:8000/feed.xml", body=rss_feed())

    result = adapter("http://127.0.0.1:8000/feed.xml").poll(cursor={}, watches=[watch(1, "recall")])

    assert len(result.drafts) == 1
