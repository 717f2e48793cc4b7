"""The monitoring pages: the shared inbox and its live rows fragment, a mention, sources,
watches, imports and drills, rumours and authors.

Who may open which page is the permission matrix's job (test_page_permissions); here each
page is checked for what it shows to whom, that untrusted mention text stays inert, that
filters and tenancy hold, and that the admin forms reach the services.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from monitoring import inbox_services, pipeline, services
from monitoring.models import IngestJob, JobStatus, Mention, Rumour, Sentiment, SentimentMethod, Source, SourceKind, Watch
from tests.factories import mention_draft, monitoring_world

pytestmark = pytest.mark.django_db

ACME = "/o/acme"
HOSTILE_TEXT = '<script>alert("owned")</script><img src=x onerror=alert(1)> Is the recall real?'


@pytest.fixture
def world(org_a, alice_membership, bob_membership, carol_membership, dave_membership, erin_membership, frank_membership):
    return monitoring_world(admin=alice_membership, holder=bob_membership)


@pytest.fixture
def bravo_mention(org_b, charlie_membership):
    source, _secret = services.source_create(organization=org_b, actor_membership=charlie_membership, name="Bravo hook", kind="webhook")
    result = pipeline.ingest(source=source, drafts=[mention_draft("b-1", "Bravo's secret complaint about the recall")])
    return Mention.unscoped.get(pk=result.stored_ids[0])


def _store(source: Source, *drafts: dict) -> list[Mention]:
    result = pipeline.ingest(source=source, drafts=list(drafts))
    return list(Mention.unscoped.filter(pk__in=result.stored_ids).order_by("-posted_at"))


def _shown_ids(response) -> set[int]:
    return {int(value) for value in re.findall(r'data-mention-id="(\d+)"', response.content.decode())}


def _hostile_mention(world) -> Mention:
    """A mention that reached the database around the pipeline, with a script in every text
    field and a javascript: link: the pages must neutralise it on their own."""
    return Mention.unscoped.create(
        organization=world.source.organization, source=world.source, external_id="hostile-1", text=HOSTILE_TEXT,
        url="javascript:alert(document.cookie)", author_handle="evil<b>", author_name='<script>alert("name")</script>',
        posted_at=timezone.now(), sentiment_label=Sentiment.NEGATIVE,
    )


# --- The inbox ------------------------------------------------------------------------
def test_the_inbox_lists_the_newest_mentions_first_with_what_triage_needs(world, login_client, dave):
    response = login_client(dave).get(f"{ACME}/inbox/")

    assert response.status_code == 200
    page = response.content.decode()
    assert page.index(f'data-mention-id="{world.angry_mention.pk}"') < page.index(f'data-mention-id="{world.mention.pk}"')
    assert "Worst granola ever" in page
    assert "Partner monitor" in page  # the source
    assert "Bob" in page  # who holds the claimed one


def test_a_viewer_sees_no_triage_controls_and_a_responder_does(world, login_client, dave, bob):
    viewer_page = login_client(dave).get(f"{ACME}/inbox/").content.decode()
    responder_page = login_client(bob).get(f"{ACME}/inbox/").content.decode()

    for control in ('data-action="claim"', 'id="bulk-bar"', 'class="select-mention"', 'data-action="status"'):
        assert control not in viewer_page
        assert control in responder_page
    assert 'data-can-triage=""' in viewer_page
    assert 'data-can-triage="1"' in responder_page


def test_mention_text_and_author_are_escaped_and_javascript_links_dropped(world, login_client, bob):
    hostile = _hostile_mention(world)

    for path in (f"{ACME}/inbox/", f"{ACME}/inbox/rows/?ids={hostile.pk}", f"{ACME}/inbox/{hostile.pk}/"):
        page = login_client(bob).get(path).content.decode()

        assert "&lt;script&gt;alert(&quot;owned&quot;)&lt;/script&gt;" in page
        assert '<script>alert("owned")' not in page
        assert "<img src=x" not in page
        assert '<script>alert("name")' not in page
        assert "javascript:" not in page
        assert "evil&lt;b&gt;" in page


def test_links_to_originals_open_safely_in_a_new_tab(world, login_client, dave):
    source = world.source
    (mention,) = _store(source, mention_draft("linked-1", "See the post", url="https://social.example/@reader/1"))

    page = login_client(dave).get(f"{ACME}/inbox/{mention.pk}/").content.decode()

    assert '<a class="original-link" href="https://social.example/@reader/1" target="_blank" rel="noopener noreferrer nofollow ugc">' in page


def test_emoji_only_sentiment_is_labelled_as_such(world, login_client, dave):
    Mention.unscoped.filter(pk=world.angry_mention.pk).update(sentiment_method=SentimentMethod.SYMBOLS)

    page = login_client(dave).get(f"{ACME}/inbox/").content.decode()

    assert "(emoji only)" in page


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("sentiment=negative", {"angry_mention"}),
        ("status=assigned", {"held_mention"}),
        ("status=open", {"mention", "held_mention", "angry_mention"}),
        ("assignee=none", {"mention", "angry_mention"}),
        ("q=website", {"held_mention"}),
        ("watch={watch}", {"mention", "held_mention"}),
        ("language=xx", set()),
    ],
)
def test_the_filters_narrow_the_inbox(world, login_client, dave, query, expected):
    response = login_client(dave).get(f"{ACME}/inbox/?" + query.format(watch=world.watch.pk))

    assert response.status_code == 200
    assert _shown_ids(response) == {getattr(world, name).pk for name in expected}


def test_assignee_me_shows_what_the_visitor_holds(world, login_client, bob, frank):
    assert _shown_ids(login_client(bob).get(f"{ACME}/inbox/?assignee=me")) == {world.held_mention.pk}
    assert _shown_ids(login_client(frank).get(f"{ACME}/inbox/?assignee=me")) == set()


def test_tag_min_reach_and_time_filters(world, login_client, bob_membership, dave):
    inbox_services.mention_tag(mention=world.mention, actor_membership=bob_membership, add=["press"])
    Mention.unscoped.filter(pk=world.angry_mention.pk).update(reach=5000)
    browser = login_client(dave)
    cutoff = (timezone.now() - timedelta(seconds=150)).strftime("%Y-%m-%dT%H:%M:%S")

    assert _shown_ids(browser.get(f"{ACME}/inbox/?tag=press")) == {world.mention.pk}
    assert _shown_ids(browser.get(f"{ACME}/inbox/?min_reach=1000")) == {world.angry_mention.pk}
    assert _shown_ids(browser.get(f"{ACME}/inbox/?since={cutoff}")) == {world.held_mention.pk, world.angry_mention.pk}
    assert _shown_ids(browser.get(f"{ACME}/inbox/?until={cutoff}")) == {world.mention.pk}


def test_a_filter_that_makes_no_sense_is_explained(world, login_client, dave):
    response = login_client(dave).get(f"{ACME}/inbox/?min_reach=lots")

    assert response.status_code == 400
    assert "min_reach" in response.content.decode()
    assert "must be a whole number" in response.content.decode()


def test_the_older_link_pages_with_the_keyset_cursor_and_keeps_the_filters(world, login_client, dave):
    _store(world.source, *[mention_draft(f"bulk-{n}", f"Recall chatter number {n}", minutes_ago=60 + n) for n in range(50)])
    browser = login_client(dave)

    first = browser.get(f"{ACME}/inbox/?watch={world.watch.pk}")
    older = re.search(r'id="older-link" href="\?([^"]+)"', first.content.decode()).group(1).replace("&amp;", "&")
    second = browser.get(f"{ACME}/inbox/?{older}")

    assert f"watch={world.watch.pk}" in older and "cursor=" in older
    assert len(_shown_ids(first)) == 50
    assert _shown_ids(second) and not _shown_ids(first) & _shown_ids(second)
    oldest = Mention.unscoped.get(external_id="bulk-49")
    assert oldest.pk in _shown_ids(second)
    assert world.angry_mention.pk not in _shown_ids(second)


def test_the_inbox_costs_the_same_queries_for_three_rows_or_fifty(world, login_client, bob, bob_membership):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    browser = login_client(bob)
    browser.get(f"{ACME}/inbox/")  # warm the session and caches
    with CaptureQueriesContext(connection) as few:
        browser.get(f"{ACME}/inbox/")
    more = _store(world.source, *[mention_draft(f"more-{n}", f"Recall chatter {n}", minutes_ago=30 + n) for n in range(47)])
    for mention in more[:10]:
        inbox_services.mention_tag(mention=mention, actor_membership=bob_membership, add=["press", "legal"])
    with CaptureQueriesContext(connection) as many:
        response = browser.get(f"{ACME}/inbox/")

    assert len(_shown_ids(response)) == 50
    assert len(many) == len(few)


# --- The rows fragment ----------------------------------------------------------------
def test_the_rows_fragment_renders_just_the_requested_rows(world, login_client, dave):
    response = login_client(dave).get(f"{ACME}/inbox/rows/?ids={world.mention.pk},{world.angry_mention.pk}")

    assert response.status_code == 200
    assert _shown_ids(response) == {world.mention.pk, world.angry_mention.pk}
    assert response.content.decode().lstrip().startswith("<li")
    assert "<html" not in response.content.decode()


def test_the_rows_fragment_applies_the_inbox_filters(world, login_client, dave):
    ids = f"{world.mention.pk},{world.held_mention.pk},{world.angry_mention.pk}"

    response = login_client(dave).get(f"{ACME}/inbox/rows/?ids={ids}&sentiment=negative")

    assert _shown_ids(response) == {world.angry_mention.pk}


def test_the_rows_fragment_never_renders_another_organisations_mentions(world, bravo_mention, login_client, dave, charlie):
    response = login_client(dave).get(f"{ACME}/inbox/rows/?ids={bravo_mention.pk},{world.mention.pk}")

    assert _shown_ids(response) == {world.mention.pk}
    assert "Bravo" not in response.content.decode()
    # ... and the other organisation's members cannot read acme's rows through their own.
    assert login_client(charlie).get(f"{ACME}/inbox/rows/?ids={world.mention.pk}").status_code == 404
    assert _shown_ids(login_client(charlie).get(f"/o/bravo/inbox/rows/?ids={world.mention.pk},{bravo_mention.pk}")) == {bravo_mention.pk}


@pytest.mark.parametrize("ids", ["1,drop", "\u00b2", "99999999999999999999999"])
def test_the_rows_fragment_refuses_ids_that_are_not_ids(world, login_client, dave, ids):
    assert login_client(dave).get(f"{ACME}/inbox/rows/", {"ids": ids}).status_code == 400


@pytest.mark.parametrize("query", [{"q": "recall\x00"}, {"min_reach": "\u00b2"}, {"cursor": "not-a-cursor"}])
def test_odd_filter_values_are_explained_not_crashed_on(world, login_client, dave, query):
    assert login_client(dave).get(f"{ACME}/inbox/", query).status_code == 400
    assert login_client(dave).get(f"{ACME}/inbox/rows/", query).status_code == 400


def test_odd_ids_in_forms_and_paths_are_refused_quietly(world, login_client, bob, dave):
    assert login_client(bob).post(f"{ACME}/inbox/{world.mention.pk}/rumour/", {"rumour": "\u00b2"}).status_code == 302
    assert world.rumour.mentions.filter(pk=world.mention.pk).exists() is False
    assert login_client(dave).get(f"{ACME}/authors/", {"incident": "\u00b2"}).status_code == 200
    assert login_client(dave).get(f"{ACME}/authors/bad%00name/").status_code == 404


# --- A mention ------------------------------------------------------------------------
def test_a_mention_page_shows_notes_rumours_incident_and_author_history(world, login_client, bob_membership, dave):
    inbox_services.mention_note_add(mention=world.held_mention, actor_membership=bob_membership, text="Called her back <b>twice</b>")

    page = login_client(dave).get(f"{ACME}/inbox/{world.held_mention.pk}/").content.decode()

    assert "Called her back &lt;b&gt;twice&lt;/b&gt;" in page
    assert "The bars contain peanuts" in page
    assert f'href="{ACME}/authors/reader/"' in page
    assert 'data-action="claim"' not in page  # dave is a viewer


def test_the_notes_part_is_served_for_live_refreshes(world, login_client, bob_membership, dave):
    inbox_services.mention_note_add(mention=world.mention, actor_membership=bob_membership, text="Needs legal")

    response = login_client(dave).get(f"{ACME}/inbox/{world.mention.pk}/?part=notes")

    assert "Needs legal" in response.content.decode()
    assert "<html" not in response.content.decode()


def test_another_organisations_mention_is_not_found(world, bravo_mention, login_client, dave):
    assert login_client(dave).get(f"{ACME}/inbox/{bravo_mention.pk}/").status_code == 404


def test_a_responder_attaches_a_mention_to_a_rumour_from_its_page(world, login_client, bob, dave):
    response = login_client(bob).post(f"{ACME}/inbox/{world.mention.pk}/rumour/", {"rumour": world.rumour.pk})

    assert response.status_code == 302
    assert response["Location"] == f"{ACME}/inbox/{world.mention.pk}/"
    assert set(world.rumour.mentions.values_list("pk", flat=True)) == {world.mention.pk, world.held_mention.pk}
    assert login_client(dave).post(f"{ACME}/inbox/{world.angry_mention.pk}/rumour/", {"rumour": world.rumour.pk}).status_code == 403


# --- Sources --------------------------------------------------------------------------
def test_the_sources_page_shows_health_quota_and_errors(world, login_client, erin):
    Source.unscoped.filter(pk=world.polled_source.pk).update(
        consecutive_failures=3, last_error="HTTP 503 <from upstream>", quota_used=750, quota_cap=1000
    )

    page = login_client(erin).get(f"{ACME}/sources/").content.decode()

    assert '<span class="health health-failing">failing</span>' in page
    assert "3 failures in a row" in page
    assert "HTTP 503 &lt;from upstream&gt;" in page
    assert '<progress value="750" max="1000"' in page
    assert "750 of 1000 (75%)" in page


def test_an_admin_adds_an_rss_source_with_one_feed_per_line(world, login_client, erin):
    response = login_client(erin).post(
        f"{ACME}/sources/",
        {"name": "News", "kind": "rss", "poll_interval_seconds": "300", "rss_feed_urls": "https://news.example/feed.xml\nhttps://blog.example/atom.xml"},
    )

    assert response.status_code == 302
    source = Source.objects.for_organization(world.source.organization).get(name="News")
    assert (source.kind, source.poll_interval_seconds) == (SourceKind.RSS, 300)
    assert source.config["feed_urls"] == ["https://news.example/feed.xml", "https://blog.example/atom.xml"]


def test_the_adapters_refusal_is_shown_on_the_form(world, login_client, erin):
    response = login_client(erin).post(
        f"{ACME}/sources/", {"name": "X", "kind": "x", "poll_interval_seconds": "120", "x_account_ids": "not-a-number", "x_bearer_token": "t"}
    )

    assert response.status_code == 400
    assert "numeric X user id" in response.content.decode()
    assert not Source.objects.for_organization(world.source.organization).filter(name="X").exists()


def test_credentials_are_write_only(world, login_client, erin):
    browser = login_client(erin)
    browser.post(
        f"{ACME}/sources/",
        {"name": "X", "kind": "x", "poll_interval_seconds": "120", "x_account_ids": "12345", "x_quota_cap": "10000", "x_bearer_token": "AAAA-very-secret-token"},
    )
    source = Source.objects.for_organization(world.source.organization).get(name="X")

    assert source.credentials() == {"bearer_token": "AAAA-very-secret-token"}
    assert source.quota_cap == 10000
    for path in (f"{ACME}/sources/", f"{ACME}/sources/{source.pk}/"):
        assert "AAAA-very-secret-token" not in browser.get(path).content.decode()

    # Saving the edit form without touching the credential fields keeps them.
    response = browser.post(f"{ACME}/sources/{source.pk}/", {"name": "X main", "poll_interval_seconds": "60", "x_account_ids": "12345\n678"})
    assert response.status_code == 302
    source.refresh_from_db()
    assert (source.name, source.poll_interval_seconds, source.config["account_ids"]) == ("X main", 60, ["12345", "678"])
    assert source.credentials() == {"bearer_token": "AAAA-very-secret-token"}


def test_a_webhooks_secret_is_shown_once_with_a_signed_curl_example(world, login_client, erin):
    browser = login_client(erin)

    response = browser.post(f"{ACME}/sources/", {"name": "Brandwatch", "kind": "webhook", "poll_interval_seconds": "120"})

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    source = Source.objects.for_organization(world.source.organization).get(name="Brandwatch")
    secret = source.credentials()["secret"]
    page = response.content.decode()
    assert secret in page
    assert f"http://testserver/api/v1/organizations/acme/sources/{source.pk}/webhook/" in page
    assert "X-Signature-256: sha256=$SIGNATURE" in page
    assert "openssl dgst -sha256 -hmac" in page
    assert secret not in browser.get(f"{ACME}/sources/").content.decode()


def test_rotating_a_webhook_secret_shows_the_new_one_once(world, login_client, erin):
    before = world.source.credentials()["secret"]

    response = login_client(erin).post(f"{ACME}/sources/{world.source.pk}/rotate-secret/")

    world.source.refresh_from_db()
    after = world.source.credentials()["secret"]
    assert after != before
    assert after in response.content.decode()


def test_an_admin_disables_and_enables_a_source(world, login_client, erin):
    browser = login_client(erin)

    browser.post(f"{ACME}/sources/{world.polled_source.pk}/enabled/", {"enabled": "0"})
    world.polled_source.refresh_from_db()
    assert world.polled_source.is_enabled is False
    assert '<span class="health health-disabled">disabled</span>' in browser.get(f"{ACME}/sources/").content.decode()

    browser.post(f"{ACME}/sources/{world.polled_source.pk}/enabled/", {"enabled": "1"})
    world.polled_source.refresh_from_db()
    assert world.polled_source.is_enabled is True


def test_poll_now_makes_the_source_due_and_wakes_the_poller(world, login_client, erin, monkeypatch, django_capture_on_commit_callbacks):
    queued = []
    monkeypatch.setattr("monitoring.tasks.poll_due_sources.delay", lambda: queued.append("poll_due_sources"))
    Source.unscoped.filter(pk=world.polled_source.pk).update(next_poll_at=timezone.now() + timedelta(hours=1))

    with django_capture_on_commit_callbacks(execute=True):
        response = login_client(erin).post(f"{ACME}/sources/{world.polled_source.pk}/poll/")

    assert response.status_code == 302
    world.polled_source.refresh_from_db()
    assert world.polled_source.next_poll_at <= timezone.now()
    assert queued == ["poll_due_sources"]


def test_the_sources_list_part_is_served_for_live_refreshes(world, login_client, erin):
    response = login_client(erin).get(f"{ACME}/sources/?part=list")

    assert "Partner monitor" in response.content.decode()
    assert "<html" not in response.content.decode()


# --- Watches --------------------------------------------------------------------------
def test_every_member_reads_watches_with_their_x_translation_but_only_admins_edit(world, login_client, dave, erin):
    viewer_page = login_client(dave).get(f"{ACME}/watches/").content.decode()

    assert "Recall" in viewer_page and "<code>recall</code>" in viewer_page
    assert 'name="query"' not in viewer_page
    assert 'name="query"' in login_client(erin).get(f"{ACME}/watches/").content.decode()
    assert login_client(dave).post(f"{ACME}/watches/", {"name": "Sneaky", "query": "sneaky"}).status_code == 403
    assert not Watch.objects.for_organization(world.watch.organization_id).filter(name="Sneaky").exists()


def test_a_query_that_does_not_parse_is_explained_next_to_the_field(world, login_client, erin):
    response = login_client(erin).post(f"{ACME}/watches/", {"name": "Broken", "query": 'recall AND "peanut', "is_active": "on"})

    assert response.status_code == 400
    page = response.content.decode()
    assert re.search(r'<p class="error" role="alert">[^<]*character \d+', page)
    assert "<mark>" in page
    assert not Watch.objects.for_organization(world.watch.organization_id).filter(name="Broken").exists()


def test_an_admin_adds_and_edits_a_watch(world, login_client, erin):
    browser = login_client(erin)

    assert browser.post(f"{ACME}/watches/", {"name": "Peanuts", "query": "peanut* OR #nutfree", "language": "en", "is_active": "on"}).status_code == 302
    assert browser.post(f"{ACME}/watches/{world.watch.pk}/", {"name": "Recall", "query": "recall OR recalled"}).status_code == 302

    peanuts = Watch.objects.for_organization(world.watch.organization_id).get(name="Peanuts")
    assert (peanuts.query, peanuts.language, peanuts.is_active) == ("peanut* OR #nutfree", "en", True)
    world.watch.refresh_from_db()
    assert (world.watch.query, world.watch.is_active) == ("recall OR recalled", False)


# --- Imports and drills ---------------------------------------------------------------
CSV_FILE = b"Post ID,Message,Created At,User\n1,Is the recall real?,2026-11-22T10:00:00Z,alice_k\n2,,2026-11-22T10:01:00Z,bob_k\n"


def test_a_csv_import_runs_with_the_column_mapping_and_lists_rejected_rows(world, login_client, erin):
    browser = login_client(erin)
    response = browser.post(
        f"{ACME}/imports/",
        {"file": SimpleUploadedFile("mentions.csv", CSV_FILE, content_type="text/csv"), "file_format": "csv",
         "map_external_id": "Post ID", "map_text": "Message", "map_posted_at": "Created At", "map_author_handle": "User"},
    )

    job = IngestJob.objects.for_organization(world.source.organization).get(file_name="mentions.csv")
    assert response.status_code == 302
    assert response["Location"] == f"{ACME}/imports/{job.pk}/"
    assert job.column_mapping == {"external_id": "Post ID", "text": "Message", "posted_at": "Created At", "author_handle": "User"}
    while services.job_step(job_id=job.pk) is not None:
        pass
    page = browser.get(f"{ACME}/imports/{job.pk}/").content.decode()
    assert "Done" in page
    assert re.search(r'<td data-label="Line">3</td>.*missing text', page, re.S)


def test_a_csv_without_a_mapping_comes_back_with_guesses_from_its_header(world, login_client, erin):
    response = login_client(erin).post(f"{ACME}/imports/", {"file": SimpleUploadedFile("mentions.csv", CSV_FILE, content_type="text/csv")})

    assert response.status_code == 400
    page = response.content.decode()
    assert "Map a column to text, posted_at" in page
    assert "The file's columns: Post ID, Message, Created At, User" in page
    assert re.search(r'name="map_text" value="Message"', page)
    assert re.search(r'name="map_posted_at" value="Created At"', page)
    assert re.search(r'name="map_external_id" value="Post ID"', page)
    assert not IngestJob.objects.for_organization(world.source.organization).filter(file_name="mentions.csv").exists()


def test_an_admin_starts_a_drill_at_the_chosen_speed(world, login_client, erin):
    crisislex = b"tweet id, tweet, label\n'325208201740029952',\"Placeholder text one\",on-topic\n'325301650791215106',\"Placeholder text two\",off-topic\n"

    response = login_client(erin).post(f"{ACME}/imports/drill/", {"file": SimpleUploadedFile("boston.csv", crisislex), "speed": "600"})

    job = IngestJob.objects.for_organization(world.source.organization).get(file_name="boston.csv")
    assert response.status_code == 302
    assert (job.kind, job.speed, job.total, job.file_format) == ("drill", 600.0, 2, "crisislex")


def test_a_drill_of_a_plain_csv_is_refused_with_the_services_reason(world, login_client, erin):
    response = login_client(erin).post(f"{ACME}/imports/drill/", {"file": SimpleUploadedFile("plain.csv", CSV_FILE), "speed": "60"})

    assert response.status_code == 400
    assert "Drills replay a CrisisLexT6 CSV or a Crisis Center export" in response.content.decode()


def test_the_imports_page_lists_jobs_with_progress_and_a_cancel_button(world, login_client, erin):
    browser = login_client(erin)
    page = browser.get(f"{ACME}/imports/").content.decode()

    assert f'data-job-id="{world.job.pk}"' in page
    assert '<progress data-job-field="progress" value="0" max="1"' in page
    assert f'action="{ACME}/imports/{world.job.pk}/cancel/"' in page

    browser.post(f"{ACME}/imports/{world.job.pk}/cancel/")
    world.job.refresh_from_db()
    assert world.job.status == JobStatus.CANCELLED
    assert f'action="{ACME}/imports/{world.job.pk}/cancel/"' not in browser.get(f"{ACME}/imports/").content.decode()


def test_the_upload_form_offers_every_mappable_field(world, login_client, erin):
    from monitoring.imports import MAPPABLE_FIELDS

    page = login_client(erin).get(f"{ACME}/imports/").content.decode()

    for field in MAPPABLE_FIELDS:
        assert f'name="map_{field}"' in page
    assert 'name="speed" value="60"' in page


# --- Rumours --------------------------------------------------------------------------
def test_rumours_are_read_by_all_recorded_by_responders_and_corrected_by_managers(world, login_client, dave, bob, carol):
    assert "The bars contain peanuts" in login_client(dave).get(f"{ACME}/rumours/").content.decode()
    assert 'name="claim"' not in login_client(dave).get(f"{ACME}/rumours/{world.rumour.pk}/").content.decode()

    response = login_client(bob).post(f"{ACME}/rumours/", {"claim": "The CEO resigned", "status": "false", "facts": "She did not."})
    new = Rumour.objects.for_organization(world.rumour.organization_id).get(claim="The CEO resigned")
    assert response["Location"] == f"{ACME}/rumours/{new.pk}/"
    assert 'name="correction"' not in login_client(bob).get(f"{ACME}/rumours/{new.pk}/").content.decode()
    assert login_client(bob).post(f"{ACME}/rumours/{new.pk}/correct/", {"correction": "No."}).status_code == 403

    login_client(carol).post(f"{ACME}/rumours/{new.pk}/correct/", {"correction": "Our CEO is at work today."})
    new.refresh_from_db()
    assert new.correction == "Our CEO is at work today." and new.corrected_at is not None


def test_a_rumour_page_lists_its_carriers_escaped(world, login_client, bob_membership, dave):
    hostile = _hostile_mention(world)
    inbox_services.rumour_attach(rumour=world.rumour, actor_membership=bob_membership, mention_ids=[hostile.pk])

    page = login_client(dave).get(f"{ACME}/rumours/{world.rumour.pk}/").content.decode()

    assert "The recall notice is nowhere on the website." in page
    assert "&lt;script&gt;alert(&quot;owned&quot;)" in page
    assert "javascript:" not in page


# --- Authors --------------------------------------------------------------------------
def test_authors_lists_influencers_and_detractors_for_the_last_week_or_an_incident(world, login_client, dave):
    Mention.unscoped.filter(pk=world.angry_mention.pk).update(reach=10)
    Mention.unscoped.filter(author_handle="reader").update(reach=5000)
    browser = login_client(dave)

    page = browser.get(f"{ACME}/authors/").content.decode()
    influencers, detractors = page.split('id="detractors-heading"')
    assert influencers.index("@reader") < influencers.index("@angry_customer")
    assert detractors.index("@angry_customer") < detractors.index("@reader")
    assert f'href="{ACME}/authors/angry_customer/"' in page


def test_an_authors_history_lists_their_mentions_and_incidents(world, login_client, dave):
    page = login_client(dave).get(f"{ACME}/authors/angry_customer/").content.decode()

    assert "Worst granola ever" in page
    assert "Is the granola recall real" not in page
    assert login_client(dave).get(f"{ACME}/authors/nobody-here/").status_code == 404


def test_an_authors_page_in_another_organisation_shows_nothing_of_acme(world, bravo_mention, login_client, charlie):
    assert login_client(charlie).get("/o/bravo/authors/angry_customer/").status_code == 404


# --- Navigation -----------------------------------------------------------------------
def test_the_navigation_offers_the_inbox_to_all_and_sources_and_imports_to_admins(world, login_client, dave, erin):
    viewer_nav = login_client(dave).get(f"{ACME}/").content.decode()
    admin_nav = login_client(erin).get(f"{ACME}/").content.decode()

    for link in ("/inbox/", "/watches/", "/rumours/", "/authors/"):
        assert f'href="{ACME}{link}"' in viewer_nav
    for link in ("/sources/", "/imports/"):
        assert f'href="{ACME}{link}"' not in viewer_nav
        assert f'href="{ACME}{link}"' in admin_nav
