"""The public crisis hub: only approved content published on the hub, in the reader's
language, cached without going stale, as pages, Atom, Statuspage JSON and a banner; e-mail
subscriptions with double opt-in and one-click unsubscribe.

Content is made with the real services: bob drafts and submits, carol (a manager) approves
and publishes, and each publication is run the way the worker runs it.
"""

from __future__ import annotations

import json
import re
import smtplib
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote
from types import SimpleNamespace

import feedparser
import pytest
from django.core import mail
from django.core.cache import cache
from django.core.mail.backends import locmem
from django.test import TestCase
from django.utils import timezone

from crisiscenter.errors import ServiceError
from playbooks import incident_services
from playbooks import services as playbook_services
from playbooks.models import IncidentStatus
from crisiscenter.models import AuditEntry
from responses import hub, hub_cache, services, tasks
from responses.models import HubEmailDelivery, HubPage, HubSubscription, Publication, PublicationStatus, StatementKind
from tests.factories import valid_playbook_document

pytestmark = pytest.mark.django_db

STATUSPAGE_SAMPLE = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "statuspage" / "githubstatus_summary_2022-11-25_active-incident.json"
HIDDEN = ("SECRET-DRAFT", "SECRET-REVIEW", "SECRET-APPROVED", "SECRET-FAILED", "SECRET-QUEUED", "SECRET-REPLY", "FACTSHEET-SECRET", "Blades snap")


@pytest.fixture(autouse=True)
def _fresh_hub_cache():
    hub_cache.reset()
    yield
    hub_cache.reset()


def run_publications(publications) -> None:
    for publication in publications:
        services.publication_attempt(publication_id=publication.pk)


def publish(incident, author, approver, *, kind="update", language="en", channels=("hub",), corrects=None, translation_of=None, run=True, **fields):
    """Draft → submit → approve → publish (→ run), as the team does it; returns the statement."""
    fields.setdefault("body", f"{kind} body")
    spokesperson_id = fields.pop("spokesperson_id", None)
    if translation_of is not None:
        statement = services.statement_translate(statement=translation_of, actor_membership=author, language=language, fields=fields)
    else:
        statement = services.statement_draft(incident=incident, actor_membership=author, kind=kind, language=language, target_channels=list(channels),
                                             corrects_id=corrects.pk if corrects else None, fields=fields, spokesperson_id=spokesperson_id)
    approve(statement, author, approver)
    publications = services.statement_publish(statement=statement, actor_membership=approver)
    if run:
        run_publications(publications)
    statement.refresh_from_db()
    return statement


def approve(statement, author, approver):
    services.statement_submit(statement=statement, actor_membership=author)
    statement.refresh_from_db()
    services.statement_decide(statement=statement, actor_membership=approver, version_number=statement.current_version.number, decision="approve")
    statement.refresh_from_db()


def republish(statement, author, approver, **fields):
    services.statement_edit(statement=statement, actor_membership=author, base_version=statement.current_version.number, fields=fields)
    statement.refresh_from_db()
    approve(statement, author, approver)
    run_publications(services.statement_publish(statement=statement, actor_membership=approver))
    statement.refresh_from_db()
    return statement


@pytest.fixture
def playbook(org_a, alice_membership):
    document = valid_playbook_document(help_resources=[
        {"title": "Customer service", "url": "tel:+3120000000"},
        {"title": "Refund form", "url": "https://acme.example/refund"},
    ])
    return playbook_services.playbook_create(organization=org_a, actor_membership=alice_membership, document=document)


@pytest.fixture
def world(org_a, playbook, alice_membership, bob_membership, carol_membership, carol):
    """An incident with: a holding statement published twice (v1 superseded), an update with
    its nl translation, a correction of the holding statement, an FAQ — and content that must
    never show: a draft, one in review, one approved but unpublished, one whose hub publication
    failed, one still queued, and a reply template published on the hub."""
    incident = incident_services.incident_open(organization=org_a, actor_membership=alice_membership, title="Blades snap", playbook=playbook,
                                               what_happened="FACTSHEET-SECRET the supplier's fault")
    holding = publish(incident, bob_membership, carol_membership, kind="holding", body="We are looking into reports about blades. HOLDING-V1")
    holding = republish(holding, bob_membership, carol_membership, body="We are looking into reports about blades. HOLDING-V2")
    next_update = timezone.now() + timedelta(hours=2)
    update = publish(incident, bob_membership, carol_membership, headline="Batch 42 recalled", body="We recall batch 42. UPDATE-EN",
                     what_happened="A blade can snap. WHAT-HAPPENED", known="Batch 42 only. KNOWN", unknown="How many. UNKNOWN",
                     what_to_do="Stop using it. WHAT-TO-DO", public_status="identified", next_update_at=next_update.isoformat(),
                     spokesperson_id=carol.pk)
    translation = publish(incident, bob_membership, carol_membership, language="nl", translation_of=update, headline="Partij 42 teruggeroepen",
                          body="We roepen partij 42 terug. UPDATE-NL", what_to_do="Stop met gebruiken. WAT-TE-DOEN")
    correction = publish(incident, bob_membership, carol_membership, kind="correction", corrects=holding, headline="Correction on blades",
                         body="It was razors, not blades. CORRECTION-EN")
    faq = publish(incident, bob_membership, carol_membership, kind="faq", question="Is my razor affected? FAQ-Q", body="Only batch 42. FAQ-A")

    draft = services.statement_draft(incident=incident, actor_membership=bob_membership, kind="update", target_channels=["hub"], fields={"body": "SECRET-DRAFT"})
    in_review = services.statement_draft(incident=incident, actor_membership=bob_membership, kind="update", target_channels=["hub"], fields={"body": "SECRET-REVIEW"})
    services.statement_submit(statement=in_review, actor_membership=bob_membership)
    approved = services.statement_draft(incident=incident, actor_membership=bob_membership, kind="update", target_channels=["hub"], fields={"body": "SECRET-APPROVED"})
    approve(approved, bob_membership, carol_membership)
    failed = publish(incident, bob_membership, carol_membership, body="SECRET-FAILED", run=False)
    services.lockdown_start(organization=org_a, actor_membership=alice_membership, reason="Drill")
    run_publications(Publication.unscoped.filter(statement=failed))
    services.lockdown_end(organization=org_a, actor_membership=alice_membership)
    assert set(Publication.unscoped.filter(statement=failed).values_list("status", flat=True)) == {PublicationStatus.FAILED}
    queued = publish(incident, bob_membership, carol_membership, body="SECRET-QUEUED", run=False)
    # An approved reply template: used in replies, never published (the service refuses).
    reply = services.statement_draft(incident=incident, actor_membership=bob_membership, kind="reply_template", fields={"body": "SECRET-REPLY"})
    approve(reply, bob_membership, carol_membership)
    page = HubPage.unscoped.get(incident=incident)
    return SimpleNamespace(incident=incident, page=page, holding=holding, update=update, translation=translation, correction=correction, faq=faq,
                           draft=draft, in_review=in_review, approved=approved, failed=failed, queued=queued, reply=reply, next_update=next_update,
                           url=f"/hub/acme/{page.slug}/")


def get(client, url, **headers):
    return client.get(url, **{f"HTTP_{name.upper().replace('-', '_')}": value for name, value in headers.items()})


def every_public_body(client, world) -> dict[str, str]:
    urls = [world.url, "/hub/acme/", f"{world.url}feed.atom", "/hub/acme/feed.atom", "/hub/acme/api/v2/summary.json",
            "/hub/acme/api/v2/incidents.json", "/hub/acme/banner.js", "/hub/acme/banner.json", f"{world.url}?lang=nl"]
    bodies = {}
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        bodies[url] = response.content.decode()
    return bodies


# --- what is shown ------------------------------------------------------------------------------
def test_only_approved_content_published_on_the_hub_is_shown_anywhere(client, world):
    for url, body in every_public_body(client, world).items():
        for secret in HIDDEN:
            assert secret not in body, f"{secret} leaked into {url}"
    page = client.get(world.url).content.decode()
    for visible in ("HOLDING-V2", "UPDATE-EN", "WHAT-HAPPENED", "KNOWN", "UNKNOWN", "WHAT-TO-DO", "CORRECTION-EN", "FAQ-Q", "FAQ-A",
                    "Batch 42 recalled", "Carol", "Customer service", 'href="tel:+3120000000"', 'href="https://acme.example/refund"'):
        assert visible in page, visible


def test_the_latest_update_is_on_top_with_its_facts_and_earlier_ones_below(client, world):
    page = client.get(world.url).content.decode()
    latest = page.index('class="latest"')
    timeline = page.index("Earlier updates")
    # The correction went out last, so it leads; the update and the holding statement follow.
    assert latest < page.index("CORRECTION-EN") < timeline < page.index("UPDATE-EN") < page.index("HOLDING-V2")
    assert "<h1" in page[latest:timeline] and "Correction on blades" in page[latest:timeline]
    assert 'aria-labelledby="timeline-title"' in page and 'id="main"' in page and 'role="banner"' in page and 'role="contentinfo"' in page
    assert "<script" not in page


def test_the_public_title_is_the_newest_updates_headline_never_the_incident_title(client, world):
    organization_page = client.get("/hub/acme/").content.decode()
    assert "Correction on blades" in organization_page
    assert "Blades snap" not in organization_page


def test_a_correction_names_the_update_it_corrects_which_stays_visibly_corrected(client, world):
    page = client.get(world.url).content.decode()
    assert "Correction to the update of" in page
    anchor = f"statement-{world.holding.pk}"
    assert f'href="#{anchor}"' in page
    corrected = page[page.index(f'id="{anchor}"'):]
    assert "is-corrected" in page[page.rindex("<article", 0, page.index(f'id="{anchor}"')):page.index(f'id="{anchor}"')]
    assert "Corrected" in corrected[:2000] and "HOLDING-V2" in corrected


def test_superseded_wording_stays_as_history(client, world):
    page = client.get(world.url).content.decode()
    assert "Earlier wording (1)" in page
    assert page.index("HOLDING-V2") < page.index("HOLDING-V1")


def test_the_next_update_time_and_status_are_shown_until_resolved(client, world, bob_membership, carol_membership):
    page = client.get(world.url).content.decode()
    assert "Next update" in page and world.next_update.strftime("%H:%M") in page
    publish(world.incident, bob_membership, carol_membership, body="All fixed. RESOLVED-EN", public_status="resolved")
    hub.hub_changed(world.incident.organization_id)
    page = client.get(world.url).content.decode()
    assert "RESOLVED-EN" in page and "Next update" not in page
    organization_page = client.get("/hub/acme/").content.decode()
    assert organization_page.index("Past") < organization_page.index("All fixed")


# --- languages ----------------------------------------------------------------------------------
def test_accept_language_picks_the_translation_and_the_switch_wins(client, world):
    dutch = get(client, world.url, accept_language="nl-NL,nl;q=0.9,en;q=0.5")
    body = dutch.content.decode()
    assert '<html lang="nl">' in body and "UPDATE-NL" in body and "UPDATE-EN" not in body and "WAT-TE-DOEN" in body
    assert dutch["Content-Language"] == "nl" and "Accept-Language" in dutch["Vary"]
    # The translation left "what we know" out: the original's is shown, marked as English.
    assert "KNOWN" in body and '<div class="fact known" lang="en">' in body and '<div class="fact what_to_do">' in body
    # Statements without a Dutch translation are shown in the original, marked as such.
    assert 'lang="en"' in body and "CORRECTION-EN" in body
    english = get(client, f"{world.url}?lang=en", accept_language="nl")
    assert '<html lang="en">' in english.content.decode() and "UPDATE-EN" in english.content.decode()
    switch = english.content.decode()
    assert 'href="?lang=nl"' in switch and 'href="?lang=en"' in switch and 'aria-current="true"' in switch
    unknown = get(client, world.url, accept_language="fr-FR")
    assert '<html lang="en">' in unknown.content.decode()


# --- not found and tenancy ------------------------------------------------------------------------
def test_unknown_organisations_incidents_and_organisations_without_a_hub_look_the_same(client, world, org_b):
    bodies = set()
    for url in ("/hub/nobody/", "/hub/bravo/", "/hub/acme/no-such-incident-1/", "/hub/bravo/feed.atom", "/hub/nobody/feed.atom",
                "/hub/acme/no-such-incident-1/feed.atom"):
        response = client.get(url)
        assert response.status_code == 404, url
        bodies.add(response.content)
    assert len(bodies) == 1
    assert b"Acme" not in bodies.pop()
    assert client.get("/hub/bravo/api/v2/summary.json").status_code == 404
    assert client.get("/hub/nobody/api/v2/summary.json").content == client.get("/hub/bravo/api/v2/summary.json").content
    # The banner never breaks an embedding page: the same "nothing" for everyone without news.
    assert client.get("/hub/nobody/banner.json").json() == client.get("/hub/bravo/banner.json").json() == {"incident": None}


def test_another_organisations_hub_never_shows_this_ones_incidents(client, world, org_b, charlie_membership):
    from crisiscenter.models import Role
    from tests.factories import MembershipFactory, UserFactory

    other = incident_services.incident_open(organization=org_b, actor_membership=charlie_membership, title="Blades snap")
    erik = MembershipFactory(organization=org_b, user=UserFactory(username="erik"), role=Role.RESPONDER)
    publish(other, erik, charlie_membership, body="BRAVO-ONLY update")  # charlie owns B: approves and publishes
    bravo_page = HubPage.unscoped.get(incident=other)
    assert bravo_page.slug != world.page.slug or bravo_page.organization_id != world.page.organization_id
    for url in ("/hub/bravo/", "/hub/bravo/feed.atom", "/hub/bravo/api/v2/incidents.json", f"/hub/bravo/{bravo_page.slug}/"):
        body = client.get(url).content.decode()
        assert "BRAVO-ONLY" in body and "UPDATE-EN" not in body and "HOLDING-V2" not in body, url
    for url in ("/hub/acme/", "/hub/acme/feed.atom", "/hub/acme/api/v2/incidents.json"):
        assert "BRAVO-ONLY" not in client.get(url).content.decode(), url
    # Acme's incident slug under Bravo's organisation is not found.
    assert client.get(f"/hub/bravo/{world.page.slug}/").status_code == 404


def test_hub_pages_are_the_same_in_two_organisations_with_the_same_incident_slug(client, world, org_b, charlie_membership):
    HubPage.unscoped.create(organization=org_b, incident=incident_services.incident_open(organization=org_b, actor_membership=charlie_membership, title="x"),
                            slug=world.page.slug)
    # Bravo's page exists but nothing was published on it: not found, and Acme's is unaffected.
    assert client.get(f"/hub/bravo/{world.page.slug}/").status_code == 404
    assert "UPDATE-EN" in client.get(world.url).content.decode()


# --- caching ------------------------------------------------------------------------------------
def test_every_hub_response_has_an_etag_last_modified_and_answers_conditional_requests(client, world):
    for url in (world.url, "/hub/acme/", f"{world.url}feed.atom", "/hub/acme/api/v2/summary.json", "/hub/acme/banner.js"):
        response = client.get(url)
        assert response.status_code == 200
        assert response["ETag"].startswith('"') and response["Last-Modified"], url
        assert response["Cache-Control"] == "public, max-age=2, s-maxage=1", url
        assert not response.cookies, url
        assert get(client, url, if_none_match=response["ETag"]).status_code == 304
        assert get(client, url, if_none_match=f'W/{response["ETag"]}').status_code == 304
        assert get(client, url, if_none_match='"something-else"').status_code == 200
        assert get(client, url, if_modified_since=response["Last-Modified"]).status_code == 304
        earlier = hub_cache.http_date(world.page.updated_at.timestamp() - 60)
        assert get(client, url, if_modified_since=earlier).status_code == 200
    world.page.refresh_from_db()
    assert client.get(world.url)["Last-Modified"] == hub_cache.http_date(world.page.updated_at.timestamp())


def test_a_cached_page_is_served_without_touching_the_database(client, world, django_assert_num_queries):
    first = client.get(world.url)
    with django_assert_num_queries(0):
        again = client.get(world.url)
    assert again.content == first.content


def test_a_new_publication_changes_the_page_and_its_etag_at_once(client, world, bob_membership, carol_membership, django_capture_on_commit_callbacks):
    before = client.get(world.url)
    assert client.get(world.url)["ETag"] == before["ETag"]  # cached
    publish(world.incident, bob_membership, carol_membership, headline="Fixed", body="FRESH-UPDATE")
    hub.hub_changed(world.incident.organization_id)  # what services._publish_to_hub calls on commit
    after = client.get(world.url)
    assert after["ETag"] != before["ETag"] and "FRESH-UPDATE" in after.content.decode()
    assert get(client, world.url, if_none_match=before["ETag"]).status_code == 200
    for url in ("/hub/acme/", "/hub/acme/feed.atom", "/hub/acme/api/v2/summary.json", "/hub/acme/banner.json"):
        assert "Fixed" in client.get(url).content.decode() or "FRESH-UPDATE" in client.get(url).content.decode(), url


def test_a_hub_publication_refreshes_the_cache_when_it_commits(client, world, bob_membership, carol_membership, django_capture_on_commit_callbacks):
    assert "ON-COMMIT" not in client.get(world.url).content.decode()  # cached now
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        publish(world.incident, bob_membership, carol_membership, body="ON-COMMIT")
    assert any(getattr(callback, "__qualname__", "").startswith("_record_success") for callback in callbacks)
    assert "ON-COMMIT" in client.get(world.url).content.decode()  # services told the hub: no waiting


def test_without_being_told_the_hub_catches_up_within_its_revalidation_interval(client, world, bob_membership, carol_membership):
    assert "LATE-UPDATE" not in client.get(world.url).content.decode()
    publish(world.incident, bob_membership, carol_membership, body="LATE-UPDATE")
    time.sleep(hub_cache.REVALIDATE_SECONDS + hub_cache.SHARED_STATE_SECONDS + 0.1)
    assert "LATE-UPDATE" in client.get(world.url).content.decode()


def later(monkeypatch) -> None:
    """Move this process past its revalidation interval and let the shared state expire, as
    two seconds of waiting would (the bytes it holds stay)."""
    now = hub_cache._clock() + hub_cache.REVALIDATE_SECONDS + 1
    monkeypatch.setattr(hub_cache, "_clock", lambda: now)
    cache.delete("hub:state:acme")


def test_a_flood_of_unknown_urls_never_pushes_the_real_page_out_of_memory(client, world, monkeypatch, django_assert_num_queries):
    now = hub_cache._clock()
    monkeypatch.setattr(hub_cache, "_clock", lambda: now)  # the whole flood within one revalidation interval
    page = client.get(world.url)
    not_found = client.get("/hub/acme/no-such-page/")
    assert not_found.status_code == 404
    for number in range(2500):
        for url in (f"/hub/nobody-{number}/", f"/hub/acme/random-{number}/", f"/hub/acme/random-{number}/feed.atom", f"/hub/nobody-{number}/banner.json"):
            response = client.get(url)
            assert response.status_code == (200 if url.endswith("banner.json") else 404), url
            if response.status_code == 404:
                assert response.content == not_found.content  # one shared body
    assert len(hub_cache._entries) <= 2 and len(hub_cache._variants) <= 2  # the page (and its variant): no 404s kept
    with django_assert_num_queries(0):
        again = client.get(world.url)
    assert again.content == page.content
    with django_assert_num_queries(0):  # unknown pages of a known hub: from its public slugs in memory
        assert client.get("/hub/acme/one-more-random-page/").content == not_found.content
    with django_assert_num_queries(0):  # a slug with no hub, asked again within a second: remembered
        assert client.get("/hub/nobody-7/").content == not_found.content
    assert cache.get("hub:state:nobody-7") is None  # nothing derived or shared for it


def test_the_cache_forgets_the_least_recently_used_entry_not_everything(monkeypatch):
    store = hub_cache._LRU(3)
    for key in "abc":
        store.put(key, key.upper())
    assert store.get("a") == "A"  # a is now the most recent
    store.put("d", "D")
    assert [store.get(key) for key in "abcd"] == ["A", None, "C", "D"]


# --- Atom ---------------------------------------------------------------------------------------
def test_the_atom_feeds_parse_cleanly_with_one_entry_per_published_version(client, world):
    response = client.get(f"{world.url}feed.atom")
    assert response["Content-Type"].startswith("application/atom+xml") and response["Access-Control-Allow-Origin"] == "*"
    feed = feedparser.parse(response.content)
    assert not feed.bozo, feed.get("bozo_exception")
    published = Publication.unscoped.filter(statement__incident=world.incident, channel_kind="hub", status="succeeded").exclude(statement__kind="reply_template")
    assert len(feed.entries) == published.count() == 6  # holding v1 and v2, the update, its nl translation, the correction, the FAQ
    ids = [entry.id for entry in feed.entries]
    assert len(set(ids)) == len(ids)
    holding_v1 = world.holding.versions.get(number=1)
    entry = next(entry for entry in feed.entries if entry.id.endswith(f"/versions/{holding_v1.pk}"))
    assert entry.updated_parsed is not None and "HOLDING-V1" in entry.summary
    assert client.get(f"{world.url}feed.atom").content == response.content  # stable
    dutch = feedparser.parse(client.get(f"{world.url}feed.atom?lang=nl").content)
    assert [entry.title for entry in dutch.entries] == ["Partij 42 teruggeroepen"]
    organization_feed = feedparser.parse(client.get("/hub/acme/feed.atom").content)
    assert not organization_feed.bozo and {entry.id for entry in organization_feed.entries} == set(ids)


# --- Statuspage ---------------------------------------------------------------------------------
def _json_type(value):
    return {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}.get(type(value), "null")


def _same_shape(real, ours, path="$"):
    """Every key the real document has is in ours with the same JSON type (or null)."""
    if isinstance(real, dict):
        assert isinstance(ours, dict), path
        for key, value in real.items():
            assert key in ours, f"{path}.{key} missing"
            if ours[key] is not None and value is not None:
                assert _json_type(ours[key]) == _json_type(value), f"{path}.{key}: {_json_type(ours[key])} != {_json_type(value)}"
                _same_shape(value, ours[key], f"{path}.{key}")
    elif isinstance(real, list) and real and ours:
        for item in ours:
            _same_shape(real[0], item, f"{path}[]")


def test_the_statuspage_summary_has_the_shape_of_a_real_one(client, world):
    real = json.loads(STATUSPAGE_SAMPLE.read_text())
    response = client.get("/hub/acme/api/v2/summary.json")
    assert response["Access-Control-Allow-Origin"] == "*"
    ours = response.json()
    for key in ("page", "status", "incidents", "scheduled_maintenances", "components"):
        assert key in ours
    _same_shape(real["page"], ours["page"], "$.page")
    _same_shape(real["status"], ours["status"], "$.status")
    assert ours["incidents"] and ours["incidents"][0]["incident_updates"]
    _same_shape(real["incidents"][0], ours["incidents"][0], "$.incidents[]")
    # affected_components is null in some real updates and a list in others: both are fine.
    statuses = {"investigating", "identified", "monitoring", "resolved", "postmortem"}
    incident = ours["incidents"][0]
    assert incident["status"] in statuses and incident["impact"] in {"none", "minor", "major", "critical"}
    assert all(update["status"] in statuses for update in incident["incident_updates"])
    assert ours["status"]["indicator"] == incident["impact"] == "major"  # severity 2 from the playbook
    assert incident["page_id"] == ours["page"]["id"] and incident["shortlink"].endswith(world.url)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", incident["created_at"])
    bodies = [update["body"] for update in incident["incident_updates"]]
    assert any("CORRECTION-EN" in body for body in bodies) and any("HOLDING-V1" in body for body in bodies)
    assert not any("FAQ-A" in body for body in bodies)


def test_incidents_json_lists_resolved_ones_and_the_summary_says_all_is_well(client, world, bob_membership, carol_membership):
    publish(world.incident, bob_membership, carol_membership, body="Done.", public_status="resolved")
    hub.hub_changed(world.incident.organization_id)
    summary = client.get("/hub/acme/api/v2/summary.json").json()
    assert summary["incidents"] == [] and summary["status"] == {"indicator": "none", "description": "All Systems Operational"}
    listed = client.get("/hub/acme/api/v2/incidents.json").json()["incidents"]
    assert len(listed) == 1 and listed[0]["status"] == "resolved" and listed[0]["resolved_at"]


def test_a_severity_change_shows_in_the_statuspage_json_once_the_state_is_read_again(client, world, alice_membership, monkeypatch):
    assert client.get("/hub/acme/api/v2/summary.json").json()["incidents"][0]["impact"] == "major"
    incident_services.incident_change_severity(incident=world.incident, actor_membership=alice_membership, severity=1)
    later(monkeypatch)
    summary = client.get("/hub/acme/api/v2/summary.json").json()
    assert summary["incidents"][0]["impact"] == "critical" and summary["status"]["indicator"] == "critical"
    assert client.get("/hub/acme/api/v2/incidents.json").json()["incidents"][0]["impact"] == "critical"


# --- banner -------------------------------------------------------------------------------------
def test_the_banner_links_to_the_current_incident_and_disappears_when_resolved(client, world, bob_membership, carol_membership):
    script = client.get("/hub/acme/banner.js")
    assert script["Content-Type"].startswith("text/javascript") and script["Access-Control-Allow-Origin"] == "*"
    assert "Important: " in script.content.decode() and world.url in script.content.decode()
    data = client.get("/hub/acme/banner.json").json()["incident"]
    assert data["name"] == "Correction on blades" and data["url"].endswith(world.url)
    publish(world.incident, bob_membership, carol_membership, body="Done.", public_status="resolved")
    hub.hub_changed(world.incident.organization_id)
    assert client.get("/hub/acme/banner.json").json() == {"incident": None}
    assert "createElement" not in client.get("/hub/acme/banner.js").content.decode()


# --- XSS ----------------------------------------------------------------------------------------
XSS = '<script>alert(1)</script><img src=x onerror=alert(2)><a href="javascript:alert(3)">click</a>'


def test_hostile_text_in_every_field_stays_text_in_the_page_feeds_and_json(client, org_a, alice_membership, bob_membership, carol_membership):
    incident = incident_services.incident_open(organization=org_a, actor_membership=alice_membership, title=XSS)
    fields = {name: f"{name} {XSS}" for name in ("body", "what_happened", "known", "unknown", "what_to_do")}
    publish(incident, bob_membership, carol_membership, headline=f"H {XSS}"[:200], **fields)
    publish(incident, bob_membership, carol_membership, kind="faq", question=f"Q {XSS}", body=f"A {XSS}")
    page_slug = HubPage.unscoped.get(incident=incident).slug
    base = f"/hub/acme/{page_slug}/"
    for url in (base, "/hub/acme/"):
        body = client.get(url).content.decode()
        assert "<script" not in body and "<img" not in body and 'href="javascript:' not in body, url
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    for url in (f"{base}feed.atom", "/hub/acme/feed.atom"):
        feed = feedparser.parse(client.get(url).content)
        assert not feed.bozo
        for entry in feed.entries:
            assert "<script" not in entry.summary and "<img" not in entry.summary and "javascript:" not in entry.summary.replace("&quot;javascript:", "")
            assert "&lt;script&gt;" in entry.summary or "&lt;script&gt;" in entry.title or "<script>" in entry.title  # titles are plain text
    for url in ("/hub/acme/api/v2/summary.json", "/hub/acme/banner.json"):
        response = client.get(url)
        assert response["Content-Type"] == "application/json"
        json.loads(response.content)  # data, not markup: consumers must escape, as they do for Statuspage
    script = client.get("/hub/acme/banner.js").content.decode()
    assert "<script" not in script and "textContent" in script and "innerHTML" not in script


def test_help_links_render_only_safe_schemes():
    document = {"help_resources": [
        {"title": "Call", "url": "tel:+31200"}, {"title": "Mail", "url": "mailto:help@acme.example"}, {"title": "Web", "url": "https://acme.example/help"},
        {"title": "Bad", "url": "javascript:alert(1)"}, {"title": "Data", "url": "data:text/html,<script>"}, {"title": "Quote", "url": 'https://x.example/"onmouseover=1'},
    ]}
    incident = SimpleNamespace(playbook_version_id=1, playbook_version=SimpleNamespace(document=document))
    assert [link["title"] for link in hub.help_links(incident)] == ["Call", "Mail", "Web"]


# --- subscriptions ------------------------------------------------------------------------------
def _subscribe(client, email, **extra):
    data = {"email": email, "language": extra.pop("language", "en"), **extra}
    # Confirmation mails are queued after the commit, which a test transaction never reaches
    # (with eager_celery the task then runs in-process).
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post("/hub/acme/subscribe/", data, HTTP_ORIGIN="http://testserver")


def _link(message, kind):
    return re.search(rf"http://\S+/subscriptions/{kind}/\S+/", message.body).group(0)


def test_subscribing_needs_a_confirmation_and_never_reveals_who_is_subscribed(client, world, eager_celery):
    first = _subscribe(client, "reader@example.com", incident=world.page.slug)
    assert first.status_code == 200 and first["Cache-Control"] == "no-store" and not first.cookies
    assert len(mail.outbox) == 1
    confirmation = mail.outbox[0]
    assert confirmation.to == ["reader@example.com"] and confirmation.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    subscription = HubSubscription.unscoped.get()
    assert subscription.confirmed_at is None and subscription.incident_id == world.incident.pk
    assert hub.subscription_token(subscription) not in json.dumps(list(HubSubscription.unscoped.values()), default=str)  # only its hash is stored
    link = _link(confirmation, "confirm").replace("http://127.0.0.1:8000", "")
    shown = client.get(link)
    assert shown.status_code == 200 and "Yes, send me updates" in shown.content.decode()
    subscription.refresh_from_db()
    assert subscription.confirmed_at is None  # a mail scanner's GET confirms nothing
    assert client.post(link).status_code == 200
    subscription.refresh_from_db()
    assert subscription.confirmed_at is not None
    again = _subscribe(client, "reader@example.com", incident=world.page.slug)
    assert again.content == first.content and len(mail.outbox) == 1  # same answer, no mail
    assert client.get("/hub/acme/subscriptions/confirm/not-a-token/").status_code == 404


def test_unsubscribing_is_one_click_by_post_and_a_button_by_get(client, world, eager_celery):
    _subscribe(client, "reader@example.com")
    link = _link(mail.outbox[0], "unsubscribe")
    assert mail.outbox[0].extra_headers["List-Unsubscribe"] == f"<{link}>"
    path = link.replace("http://127.0.0.1:8000", "")
    shown = client.get(path)
    assert shown.status_code == 200 and "Unsubscribe</button>" in shown.content.decode()
    assert HubSubscription.unscoped.get().unsubscribed_at is None
    response = client.post(path, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    assert HubSubscription.unscoped.get().unsubscribed_at is not None
    # A new subscription is possible afterwards (the old row stays as the record).
    _subscribe(client, "reader@example.com")
    assert HubSubscription.unscoped.count() == 2


def test_subscribing_from_another_site_is_refused_and_floods_are_throttled(client, world, eager_celery):
    foreign = client.post("/hub/acme/subscribe/", {"email": "victim@example.com"}, HTTP_ORIGIN="https://evil.example")
    assert foreign.status_code == 403 and not mail.outbox
    for _ in range(5):
        _subscribe(client, "same@example.com")
    assert len(mail.outbox) == 3  # per address: the rest get the same answer and no mail
    for number in range(20):
        _subscribe(client, f"reader{number}@example.com")
    assert _subscribe(client, "one-more@example.com").status_code == 429
    assert _subscribe(client, "not an address").status_code in (400, 429)


def test_an_invalid_address_is_said_so(client, world):
    response = _subscribe(client, "not an address")
    assert response.status_code == 400 and "not an e-mail address" in response.content.decode()


HOSTILE = ("\x00", "²", "a" * 10240, "%ff%fe")


def _hostile(value: str) -> str:
    """The value as it goes into a URL or a form body: percent-escaped, except the raw
    bad-UTF-8 escapes, which go as they are."""
    return value if value.startswith("%") else quote(value)


@pytest.mark.parametrize("value", HOSTILE, ids=["nul", "superscript", "10kb", "bad-utf8"])
def test_hostile_parameters_get_a_400_or_the_same_404_never_an_error(client, world, value, eager_celery):
    not_found = client.get("/hub/acme/no-such-page/").content
    json_not_found = client.get("/hub/nobody/api/v2/summary.json").content
    escaped = _hostile(value)
    for url in (f"/hub/acme/?lang={escaped}", f"{world.url}?lang={escaped}", f"{world.url}feed.atom?lang={escaped}", f"/hub/acme/feed.atom?lang={escaped}",
                f"/hub/acme/api/v2/summary.json?lang={escaped}", f"/hub/acme/api/v2/incidents.json?lang={escaped}",
                f"/hub/acme/banner.js?lang={escaped}", f"/hub/acme/banner.json?lang={escaped}"):
        assert client.get(url).status_code == 400, url
    pages = (f"/hub/{escaped}/", f"/hub/acme/{escaped}/", f"/hub/acme/{escaped}/feed.atom", f"/hub/{escaped}/api/v2/summary.json")
    forms = (f"/hub/acme/subscriptions/confirm/{escaped}/", f"/hub/acme/subscriptions/unsubscribe/{escaped}/", f"/hub/{escaped}/subscribe/")
    responses = [(url, client.get(url)) for url in pages + forms] + [(url, client.post(url, HTTP_ORIGIN="http://testserver")) for url in forms]
    for url, response in responses:
        assert response.status_code == 404, url[:80]
        if value == "a" * 10240 or "/subscriptions/" in url:  # a hub URL: the hub's one 404 (else Django's: no URL matched)
            assert response.content == (json_not_found if url.endswith(".json") else not_found), url[:80]
    form = {"email": "reader@example.com", "language": "en", "incident": world.page.slug}
    for field, status in (("incident", 404), ("language", 400), ("email", 400)):
        body = "&".join(f"{name}={escaped if name == field else quote(default)}" for name, default in form.items())
        response = client.post("/hub/acme/subscribe/", body, content_type="application/x-www-form-urlencoded", HTTP_ORIGIN="http://testserver")
        assert response.status_code == status, field
        if status == 404:
            assert response.content == not_found
    assert not HubSubscription.unscoped.exists() and not mail.outbox


def test_the_confirmation_mail_is_queued_after_the_commit_not_sent_in_the_request(client, world, eager_celery, monkeypatch, django_capture_on_commit_callbacks):
    queued = []
    monkeypatch.setattr(tasks.send_hub_confirmation, "delay", lambda subscription_id: queued.append(subscription_id))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post("/hub/acme/subscribe/", {"email": "reader@example.com", "language": "en"}, HTTP_ORIGIN="http://testserver")
    assert response.status_code == 200 and not mail.outbox and not queued
    for callback in callbacks:
        callback()
    subscription = HubSubscription.unscoped.get()
    assert queued == [subscription.pk] and not mail.outbox
    monkeypatch.undo()
    tasks.send_hub_confirmation.delay(subscription.pk)
    assert [message.to for message in mail.outbox] == [["reader@example.com"]]
    # Confirmed, cancelled or gone meanwhile: the task does nothing.
    hub.subscription_confirm(subscription=subscription)
    tasks.send_hub_confirmation.delay(subscription.pk)
    tasks.send_hub_confirmation.delay(subscription.pk + 1000)
    assert len(mail.outbox) == 1


class SmtpDown(locmem.EmailBackend):
    def send_messages(self, messages):
        raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")


def test_an_smtp_outage_does_not_fail_subscribing(client, world, settings, eager_celery):
    settings.EMAIL_BACKEND = "tests.test_hub.SmtpDown"
    response = _subscribe(client, "reader@example.com")
    assert response.status_code == 200 and "Check your inbox" in response.content.decode()
    subscription = HubSubscription.unscoped.get()
    assert subscription.confirmed_at is None and not mail.outbox
    tasks.send_hub_confirmation.delay(subscription.pk)  # the task itself swallows it (a worker would retry later)
    assert not mail.outbox


def test_subscribing_confirming_and_unsubscribing_are_audited_without_the_address(client, world, eager_celery):
    _subscribe(client, "reader@example.com", incident=world.page.slug)
    subscription = HubSubscription.unscoped.get()
    confirm = _link(mail.outbox[0], "confirm").replace("http://127.0.0.1:8000", "")
    unsubscribe = _link(mail.outbox[0], "unsubscribe").replace("http://127.0.0.1:8000", "")
    assert client.post(confirm).status_code == 200
    assert client.post(confirm).status_code == 200  # again: nothing changes, nothing audited
    assert client.post(unsubscribe).status_code == 200
    entries = AuditEntry.unscoped.filter(object_type="responses.hubsubscription").order_by("pk")
    assert [entry.action for entry in entries] == ["hub_subscription.requested", "hub_subscription.confirmed", "hub_subscription.cancelled"]
    for entry in entries:
        assert entry.actor_id is None and entry.organization_id == world.incident.organization_id and entry.object_id == str(subscription.pk)
        assert entry.source == "web" and entry.after["email"] == "r***@example.com" and "r***@example.com" in entry.object_repr
    assert "reader@example.com" not in json.dumps(list(AuditEntry.unscoped.values()), default=str)


def _confirmed(org, email, *, incident=None, language="en"):
    subscription = hub.subscription_request(organization=org, email=email, incident=incident, language=language)
    return hub.subscription_confirm(subscription=subscription)


def test_email_subscribers_mails_confirmed_readers_in_their_language_once(world, org_a, org_b, bob_membership, carol_membership, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        english = _confirmed(org_a, "en@example.com")
        dutch = _confirmed(org_a, "nl@example.com", language="nl")
        french = _confirmed(org_a, "fr@example.com", incident=world.incident, language="fr")
        gone = _confirmed(org_a, "gone@example.com")
        hub.subscription_cancel(subscription=gone)
        hub.subscription_request(organization=org_a, email="unconfirmed@example.com", language="en")
        _confirmed(org_b, "other-org@example.com")
    mail.outbox.clear()
    statement = services.statement_draft(incident=world.incident, actor_membership=bob_membership, kind="update", target_channels=["hub", "email"],
                                         fields={"headline": "Mail headline", "body": "MAILED-EN", "what_to_do": "Return it."})
    approve(statement, bob_membership, carol_membership)
    translation = services.statement_translate(statement=statement, actor_membership=bob_membership, language="nl", fields={"body": "MAILED-NL"})
    services.statement_edit(statement=translation, actor_membership=bob_membership, base_version=1, fields={}, target_channels=["hub", "email"])
    publications = services.statement_publish(statement=statement, actor_membership=carol_membership)
    run_publications(publications)
    email_publication = Publication.unscoped.get(statement=statement, channel_kind="email")
    assert email_publication.status == PublicationStatus.SUCCEEDED and email_publication.external_id == "2 subscribers"
    # The Dutch reader waits for the Dutch translation (it exists and is meant for e-mail).
    assert sorted(message.to[0] for message in mail.outbox) == ["en@example.com", "fr@example.com"]
    message = mail.outbox[0]
    assert "MAILED-EN" in message.body and "Return it." in message.body and "/hub/acme/" in message.body
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert hub.unsubscribe_url(english if message.to[0] == "en@example.com" else french) in message.body
    assert message.extra_headers["List-Unsubscribe"] == f"<{hub.unsubscribe_url(english if message.to[0] == 'en@example.com' else french)}>"
    # Run again (a retried claim): nobody gets it twice.
    assert hub.email_subscribers(publication=email_publication) == 2 and len(mail.outbox) == 2
    assert HubEmailDelivery.unscoped.filter(publication=email_publication).count() == 2
    approve(translation, bob_membership, carol_membership)
    run_publications(services.statement_publish(statement=translation, actor_membership=carol_membership))
    assert [message.to[0] for message in mail.outbox[2:]] == ["nl@example.com"] and "MAILED-NL" in mail.outbox[2].body
    assert dutch.is_live()


def test_readers_of_a_language_without_a_translation_for_email_get_the_original(world, org_a, bob_membership, carol_membership):
    with TestCase.captureOnCommitCallbacks(execute=True):
        _confirmed(org_a, "nl@example.com", language="nl")
    mail.outbox.clear()
    statement = services.statement_draft(incident=world.incident, actor_membership=bob_membership, kind="update", target_channels=["hub", "email"],
                                         fields={"body": "ORIGINAL-FOR-ALL"})
    approve(statement, bob_membership, carol_membership)
    # The translation goes to the hub only (the default), so Dutch readers get the original.
    services.statement_translate(statement=statement, actor_membership=bob_membership, language="nl", fields={"body": "ALLEEN-HUB"})
    run_publications(services.statement_publish(statement=statement, actor_membership=carol_membership))
    assert [message.to[0] for message in mail.outbox] == ["nl@example.com"] and "ORIGINAL-FOR-ALL" in mail.outbox[0].body


class FailsOnTheThirdMessage(locmem.EmailBackend):
    """An SMTP server that drops the connection at the third message it is given; the hook
    runs before each message (another worker, say)."""

    given = 0
    before_each = None

    def send_messages(self, messages):
        for message in messages:
            FailsOnTheThirdMessage.given += 1
            if FailsOnTheThirdMessage.before_each:
                FailsOnTheThirdMessage.before_each()
            if FailsOnTheThirdMessage.given == 3:
                raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
            super().send_messages([message])
        return len(messages)


@pytest.fixture
def flaky_smtp(settings):
    settings.EMAIL_BACKEND = "tests.test_hub.FailsOnTheThirdMessage"
    FailsOnTheThirdMessage.given, FailsOnTheThirdMessage.before_each = 0, None
    yield FailsOnTheThirdMessage
    FailsOnTheThirdMessage.before_each = None


def _email_publication(world, org, author, approver, readers: int):
    for number in range(readers):
        _confirmed(org, f"reader{number}@example.com")
    statement = services.statement_draft(incident=world.incident, actor_membership=author, kind="update", target_channels=["hub", "email"],
                                         fields={"body": "MAILED-IN-PARTS"})
    approve(statement, author, approver)
    publications = services.statement_publish(statement=statement, actor_membership=approver)
    run_publications([publication for publication in publications if publication.channel_kind == "hub"])
    return Publication.unscoped.get(statement=statement, channel_kind="email")


def test_a_mail_failure_mid_list_is_retried_without_mailing_anyone_twice(world, org_a, bob_membership, carol_membership, flaky_smtp):
    publication = _email_publication(world, org_a, bob_membership, carol_membership, readers=5)
    assert services.publication_attempt(publication_id=publication.pk) is not None  # a retry is due
    publication.refresh_from_db()
    assert publication.status == PublicationStatus.RETRYING
    assert len(mail.outbox) == 2 and HubEmailDelivery.unscoped.filter(publication=publication).count() == 2  # what went out is recorded
    Publication.unscoped.filter(pk=publication.pk).update(next_attempt_at=timezone.now())  # the retry's time has come
    assert services.publication_attempt(publication_id=publication.pk) is None
    publication.refresh_from_db()
    assert publication.status == PublicationStatus.SUCCEEDED and publication.external_id == "5 subscribers"
    recipients = [message.to[0] for message in mail.outbox]
    assert sorted(recipients) == [f"reader{number}@example.com" for number in range(5)]  # everyone, once


def test_a_reader_mailed_meanwhile_by_another_worker_is_not_mailed_again(world, org_a, bob_membership, carol_membership, flaky_smtp):
    publication = _email_publication(world, org_a, bob_membership, carol_membership, readers=4)
    last = HubSubscription.unscoped.get(email="reader3@example.com")

    def another_worker_mails_the_last_reader():
        HubEmailDelivery.unscoped.get_or_create(organization=org_a, publication=publication, subscription=last)

    flaky_smtp.given = 3  # this server does not fail
    flaky_smtp.before_each = another_worker_mails_the_last_reader
    assert hub.email_subscribers(publication=publication) == 4
    assert sorted(message.to[0] for message in mail.outbox) == ["reader0@example.com", "reader1@example.com", "reader2@example.com"]


class RefusesSomeRecipients(locmem.EmailBackend):
    """reader1's mailbox is gone (550); reader2's server says "try later" (450) once."""

    deferred: set = set()

    def send_messages(self, messages):
        for message in messages:
            if message.to[0] == "reader1@example.com":
                raise smtplib.SMTPRecipientsRefused({message.to[0]: (550, b"No such user")})
            if message.to[0] == "reader2@example.com" and message.to[0] not in RefusesSomeRecipients.deferred:
                RefusesSomeRecipients.deferred.add(message.to[0])
                raise smtplib.SMTPRecipientsRefused({message.to[0]: (450, b"Try again later")})
            super().send_messages([message])
        return len(messages)


def test_a_refused_recipient_does_not_hold_up_the_others(world, org_a, bob_membership, carol_membership, settings):
    settings.EMAIL_BACKEND = "tests.test_hub.RefusesSomeRecipients"
    RefusesSomeRecipients.deferred = set()
    publication = _email_publication(world, org_a, bob_membership, carol_membership, readers=4)
    with pytest.raises(hub.MailingPaused):  # reader2 may get it later: the publication retries
        hub.email_subscribers(publication=publication)
    assert sorted(message.to[0] for message in mail.outbox) == ["reader0@example.com", "reader3@example.com"]
    assert hub.email_subscribers(publication=publication) == 3  # reader1's mailbox is gone for good: skipped
    assert sorted(message.to[0] for message in mail.outbox) == ["reader0@example.com", "reader2@example.com", "reader3@example.com"]


def test_mailing_stops_before_the_publications_lease_runs_out(world, org_a, bob_membership, carol_membership):
    publication = _email_publication(world, org_a, bob_membership, carol_membership, readers=2)
    publication.lease_until = timezone.now() + timedelta(seconds=10)  # less than the margin is left
    with pytest.raises(hub.MailingPaused):
        hub.email_subscribers(publication=publication)
    assert not mail.outbox


def test_the_hub_sets_no_cookies_and_sends_no_scripts(client, world):
    for url in every_public_body(client, world):
        response = client.get(url)
        assert not response.cookies and "Set-Cookie" not in response, url
    page = client.get(world.url).content.decode()
    assert "<script" not in page and "http://" not in page.split("<body", 1)[0].replace('http://127.0.0.1:8000', '')  # nothing external in <head>


def test_reply_templates_alone_never_make_a_page(client, org_a, alice_membership, bob_membership, carol_membership):
    incident = incident_services.incident_open(organization=org_a, actor_membership=alice_membership, title="Quiet")
    with pytest.raises(ServiceError):
        publish(incident, bob_membership, carol_membership, kind="reply_template", body="SECRET-REPLY")
    assert StatementKind.REPLY_TEMPLATE not in hub.HUB_UPDATE_KINDS
    assert not HubPage.unscoped.filter(incident=incident).exists()
    assert client.get("/hub/acme/").status_code == 404


def test_a_resolved_incident_is_listed_under_past(client, world, alice_membership):
    incident_services.incident_change_status(incident=world.incident, actor_membership=alice_membership, status=IncidentStatus.RESOLVED)
    # The incident's internal status is not the public one: the page follows what was published.
    assert "Past" not in client.get("/hub/acme/").content.decode()


# --- the WSGI fast path -------------------------------------------------------------------------
@pytest.fixture
def wsgi_hub(monkeypatch):
    """The production WSGI stack (crisiscenter.wsgi: HubFastPath around Django's handler),
    without the per-request connection closing the test transaction cannot survive."""
    from django.core import signals
    from django.core.handlers.wsgi import WSGIHandler
    from django.db import close_old_connections
    from django.test import RequestFactory

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    django_calls = []
    django_apps = []

    def counted(environ, start_response):
        django_calls.append(environ["PATH_INFO"])
        if not django_apps:  # built at the first call: middleware reads the test's settings then
            django_apps.append(WSGIHandler())
        return django_apps[0](environ, start_response)

    application = hub_cache.HubFastPath(counted)

    def call(path, secure=False, **headers):
        environ = RequestFactory().get(path, secure=secure, **{f"HTTP_{name.upper().replace('-', '_')}": value for name, value in headers.items()}).environ
        started = {}
        chunks = application(environ, lambda status, response_headers, exc_info=None: started.update(status=status, headers=dict(response_headers)))
        body = b"".join(chunks)
        if hasattr(chunks, "close"):
            chunks.close()
        return SimpleNamespace(status=int(started["status"].split()[0]), headers=started["headers"], body=body)

    call.django_calls = django_calls
    yield call
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def test_the_fast_path_serves_what_django_served_from_memory(wsgi_hub, world, bob_membership, carol_membership, django_assert_num_queries):
    first = wsgi_hub(world.url, accept_language="en-US")
    assert first.status == 200 and wsgi_hub.django_calls == [world.url]
    with django_assert_num_queries(0):
        second = wsgi_hub(world.url, accept_language="en-US")
    assert wsgi_hub.django_calls == [world.url]  # answered before Django
    assert second.body == first.body
    for name in ("ETag", "Last-Modified", "Cache-Control", "Vary", "Content-Language", "X-Frame-Options", "X-Content-Type-Options"):
        assert second.headers[name] == first.headers[name], name
    assert "Set-Cookie" not in second.headers
    assert wsgi_hub(world.url, accept_language="en-US", if_none_match=first.headers["ETag"]).status == 304
    dutch = wsgi_hub(f"{world.url}?lang=nl")
    assert b"UPDATE-NL" in dutch.body and dutch.headers["Content-Language"] == "nl"
    assert b"UPDATE-NL" in wsgi_hub(f"{world.url}?lang=nl").body and wsgi_hub.django_calls.count(world.url) == 2
    assert b"UPDATE-NL" in wsgi_hub(world.url, accept_language="nl").body and wsgi_hub.django_calls.count(world.url) == 2
    publish(world.incident, bob_membership, carol_membership, body="FAST-PATH-FRESH")
    hub.hub_changed(world.incident.organization_id)
    fresh = wsgi_hub(world.url, accept_language="en-US")
    assert b"FAST-PATH-FRESH" in fresh.body and fresh.headers["ETag"] != first.headers["ETag"]
    assert wsgi_hub.django_calls.count(world.url) == 3
    assert wsgi_hub("/hub/nobody/").status == 404


def test_the_production_wsgi_application_has_the_fast_path():
    from crisiscenter.wsgi import application

    assert isinstance(application, hub_cache.HubFastPath)


@pytest.mark.redis
def test_processes_share_the_hub_state_through_redis(settings, redis_url, world, bob_membership, carol_membership, django_assert_num_queries):
    """What one process learns (or hub_changed writes) another reads from Redis, not from
    PostgreSQL; when it expires there, the next reader derives it again."""
    from django.core.cache import caches

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis_url, "KEY_PREFIX": "test-hub"}}
    caches._settings = None
    if hasattr(caches._connections, "default"):
        del caches._connections.default
    try:
        from django.core.cache import cache

        cache.delete("hub:state:acme")
        token = hub_cache.organization_state("acme").token
        assert cache.get("hub:state:acme") == token
        hub_cache.reset()  # another process: nothing in memory
        with django_assert_num_queries(0):
            assert hub_cache.organization_state("acme").token == token
        publish(world.incident, bob_membership, carol_membership, body="SHARED")
        hub.hub_changed(world.incident.organization_id)
        assert cache.get("hub:state:acme") != token
        hub_cache.reset()
        with django_assert_num_queries(0):
            assert hub_cache.organization_state("acme").token == cache.get("hub:state:acme")
        time.sleep(hub_cache.SHARED_STATE_SECONDS + 0.1)
        assert cache.get("hub:state:acme") is None  # expired: the next reader derives it from PostgreSQL
    finally:
        caches._settings = None
        if hasattr(caches._connections, "default"):
            del caches._connections.default


def test_the_fast_path_leaves_a_host_not_allowed_and_a_bad_language_to_django(wsgi_hub, world):
    assert wsgi_hub(world.url).status == 200 and wsgi_hub(world.url).status == 200
    assert len(wsgi_hub.django_calls) == 1  # the second from memory
    foreign = wsgi_hub(world.url, host="evil.example")
    assert foreign.status == 400 and b"UPDATE-EN" not in foreign.body and len(wsgi_hub.django_calls) == 2  # Django's DisallowedHost
    assert wsgi_hub(world.url, host="testserver:8443").status == 200 and len(wsgi_hub.django_calls) == 2
    assert wsgi_hub(f"{world.url}?lang=%00").status == 400 and len(wsgi_hub.django_calls) == 3


def test_the_fast_path_leaves_plain_http_to_djangos_https_redirect(settings, wsgi_hub, world):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")  # as TRUSTED_PROXY_COUNT > 0 sets it
    assert wsgi_hub(world.url, x_forwarded_proto="https").status == 200 and len(wsgi_hub.django_calls) == 1
    assert wsgi_hub(world.url, x_forwarded_proto="https").status == 200 and len(wsgi_hub.django_calls) == 1  # from memory
    plain = wsgi_hub(world.url, x_forwarded_proto="http")
    assert plain.status == 301 and plain.headers["Location"].startswith("https://") and len(wsgi_hub.django_calls) == 2
    assert wsgi_hub(world.url, x_forwarded_proto="http, https").status == 301 and len(wsgi_hub.django_calls) == 3  # the proxy's own value counts
    assert wsgi_hub(world.url, secure=True, x_forwarded_proto="http").status == 301 and len(wsgi_hub.django_calls) == 4
    settings.SECURE_PROXY_SSL_HEADER = None  # no proxy trusted: the server's own scheme
    assert wsgi_hub(world.url, secure=True, x_forwarded_proto="http").status == 200 and len(wsgi_hub.django_calls) == 4
    assert wsgi_hub(world.url, x_forwarded_proto="https").status == 301 and len(wsgi_hub.django_calls) == 5
