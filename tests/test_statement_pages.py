"""Statement pages: the composer, the statement page (versions, diff, approval, publications,
translations, edit conflicts), the approver's phone list, publishing settings, the incident
room's statements panel and the war room's approvals.

bob (responder) writes; carol (manager) holds the manager approver role; frank (responder)
writes too; erin (admin) runs publishing; dave views; charlie is an outsider.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from monitoring import war_room
from playbooks import incident_services
from playbooks import services as playbook_services
from playbooks.models import Platform
from responses import services
from responses.models import (
    Approval,
    ChannelAccess,
    Promise,
    Publication,
    PublicationStatus,
    Statement,
    StatementStatus,
)
from tests.factories import valid_playbook_document

pytestmark = pytest.mark.django_db

ACME = "/o/acme"
HOSTILE_HEADLINE = "<script>alert('headline')</script>"
HOSTILE_BODY = 'We are sorry. <img src=x onerror="alert(1)"> Updates follow.'
PLAYBOOK = valid_playbook_document(
    roles=[{"role": "incident_lead", "member": "carol"}, {"role": "approver_manager", "member": "carol", "backup": "erin"}],
    holding_statements=[
        {"name": "First response", "language": "en", "text": "{brand} is sorry: {what_happened} Updates: {help_url}"},
        {"name": "Eerste reactie", "language": "nl", "text": "Het spijt {brand}: {what_happened}"},
    ],
    key_messages=["Safety first: do not eat bars from batch 42."],
    voice_rules=[
        {"kind": "do", "rule": "Apologise first, in the first person."},
        {"kind": "dont", "rule": "Never say 'no comment'."},
        {"kind": "dont", "rule": "Do not speculate about causes."},
    ],
)


@pytest.fixture
def incident(org_a, alice_membership, bob_membership, carol_membership, erin_membership, frank_membership, dave_membership):
    playbook = playbook_services.playbook_create(organization=org_a, actor_membership=alice_membership, document=PLAYBOOK)
    return incident_services.incident_open(
        organization=org_a, actor_membership=carol_membership, title="Nuts in the granola", playbook=playbook,
        severity=2, origin_platform=Platform.X, what_happened="Batch 42 may contain nuts.",
    )


@pytest.fixture
def browser(login_client, personas, erin, frank):
    users = {**personas, "erin": erin, "frank": frank}
    return lambda persona: login_client(users[persona])


def _draft(incident, membership, *, headline="Holding statement", body="We are sorry. We are looking into it.", **fields) -> Statement:
    return services.statement_draft(
        incident=incident, actor_membership=membership, kind="holding", target_channels=["hub"], fields={"headline": headline, "body": body, **fields}
    )


def _in_review(incident, membership, **fields) -> Statement:
    statement = _draft(incident, membership, **fields)
    return services.statement_submit(statement=statement, actor_membership=membership)


def _page(statement) -> str:
    return f"{ACME}/incidents/{statement.incident_id}/statements/{statement.pk}/"


# --- the composer ---------------------------------------------------------------------------
def test_the_composer_offers_the_playbooks_templates_key_messages_and_voice_rules(incident, browser):
    response = browser("bob").get(f"{ACME}/incidents/{incident.pk}/statements/")
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="composer-form"' in page
    assert "First response" in page and "Eerste reactie" in page
    # The template's text comes with its placeholders filled from the fact sheet.
    assert "Acme Foods is sorry: Batch 42 may contain nuts." in page
    assert "Safety first: do not eat bars from batch 42." in page
    # The checker checks the "no comment" rule; the "speculate" one is left to the writer.
    rules = page.split('class="voice-rules"')[1].split("</ul>")[0]
    no_comment = rules.split("no comment")[1].split("</li>")[0]
    speculate = rules.split("speculate about causes")[1].split("</li>")[0]
    assert "checked" in no_comment and "checked" not in speculate
    assert "Phrase checks cover" in page and "English" in page
    # The hub is checked by default, the platform where it started comes first.
    assert 'name="target_channels" value="hub"' in page
    assert page.index('value="hub"') < page.index('value="email"')


def test_the_x_channel_is_offered_first_and_checked_when_the_incident_started_there(incident, browser, alice_membership):
    services.channel_create(
        organization=incident.organization, actor_membership=alice_membership, kind="x", name="Acme on X", config={},
        credentials={"consumer_key": "ck", "consumer_secret": "cs", "access_token": "1-at", "access_token_secret": "ats"},
    )
    page = browser("bob").get(f"{ACME}/incidents/{incident.pk}/statements/").content.decode()
    channels = page.split("<legend>Publish on</legend>")[1].split("</fieldset>")[0]
    assert channels.index('value="x"') < channels.index('value="hub"')
    assert 'value="x"' in channels and "checked" in channels.split('value="x"')[1].split(">")[0]


def test_a_responder_drafts_from_a_template_without_javascript(incident, browser):
    response = browser("bob").post(f"{ACME}/incidents/{incident.pk}/statements/", {
        "kind": "holding", "language": "en", "template": "0", "headline": "We are on it", "body": "", "public_status": "investigating",
        "target_channels": ["hub"], "promise_0_text": "Refund form online", "promise_0_due": (timezone.now() + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"),
    })
    assert response.status_code == 302
    statement = Statement.objects.for_organization(incident.organization).get(incident=incident)
    assert response["Location"] == _page(statement)
    assert statement.status == StatementStatus.DRAFT
    assert statement.current_version.body.startswith("Acme Foods is sorry: Batch 42 may contain nuts.")
    assert [promise["text"] for promise in statement.current_version.promises] == ["Refund form online"]


def test_save_and_send_for_approval_is_one_step(incident, browser):
    response = browser("bob").post(f"{ACME}/incidents/{incident.pk}/statements/", {
        "kind": "holding", "language": "en", "headline": "We are on it", "body": "We are sorry.", "public_status": "investigating",
        "target_channels": ["hub"], "then": "submit",
    })
    assert response.status_code == 302
    statement = Statement.objects.for_organization(incident.organization).get(incident=incident)
    assert statement.status == StatementStatus.IN_REVIEW
    assert statement.review_due_at is not None


def test_a_promise_without_a_deadline_is_refused_and_the_text_kept(incident, browser):
    response = browser("bob").post(f"{ACME}/incidents/{incident.pk}/statements/", {
        "kind": "holding", "language": "en", "body": "We are sorry, words kept here.", "public_status": "investigating",
        "target_channels": ["hub"], "promise_0_text": "Call everyone back",
    })
    assert response.status_code == 400
    assert b"Give a promise both its text and its deadline." in response.content
    assert b"We are sorry, words kept here." in response.content
    assert not Statement.objects.for_organization(incident.organization).filter(incident=incident).exists()


def test_a_viewer_reads_statements_without_any_form(incident, bob_membership, browser):
    statement = _in_review(incident, bob_membership)
    for path in (f"{ACME}/incidents/{incident.pk}/statements/", _page(statement), f"{ACME}/approvals/"):
        response = browser("dave").get(path)
        assert response.status_code == 200
        page = response.content.decode()
        assert "<textarea" not in page and 'action="' + f"{_page(statement)}decide/" + '"' not in page
        assert "Save draft" not in page and "Save as a new version" not in page
    assert browser("dave").post(f"{ACME}/incidents/{incident.pk}/statements/", {"kind": "holding", "body": "x"}).status_code == 403
    assert Statement.objects.for_organization(incident.organization).count() == 1


def test_an_outsider_gets_404_for_a_statement_of_another_organisation(incident, bob_membership, browser):
    statement = _draft(incident, bob_membership)
    assert browser("charlie").get(_page(statement)).status_code == 404
    assert browser("charlie").get(_page(statement).replace("/o/acme/", "/o/bravo/")).status_code == 404


# --- XSS: statement text is inert on every page -------------------------------------------------
def test_hostile_statement_text_is_rendered_inert_on_every_page(incident, bob_membership, carol_membership, browser):
    statement = _in_review(incident, bob_membership, headline=HOSTILE_HEADLINE, body=HOSTILE_BODY,
                           what_happened="<b onmouseover=alert(2)>x</b>",
                           promises=[{"text": "<svg onload=alert(3)>", "due_at": (timezone.now() + timedelta(hours=1)).isoformat()}])
    services.statement_edit(statement=statement, actor_membership=bob_membership, base_version=1,
                            fields={"body": HOSTILE_BODY + " <script>alert(4)</script>"})
    statement.refresh_from_db()
    pages = [
        f"{ACME}/incidents/{incident.pk}/statements/",
        f"{ACME}/incidents/{incident.pk}/statements/?part=list",
        _page(statement),
        *[f"{_page(statement)}?part={part}" for part in ("status", "approval", "publications", "versions")],
        f"{_page(statement)}diff/?from=1&to=2",
        f"{_page(statement)}diff/?from=0&to=2",
        f"{ACME}/approvals/",
        f"{ACME}/incidents/{incident.pk}/",
        f"{ACME}/incidents/{incident.pk}/?part=statements",
    ]
    for path in pages:
        response = browser("carol").get(path)
        assert response.status_code == 200, path
        page = response.content.decode()
        for raw in ("<script>alert", "<img src=x", "onerror=\"alert", "<svg onload", "<b onmouseover"):
            assert raw not in page, f"{raw!r} unescaped on {path}"
    statement_page = browser("carol").get(_page(statement)).content.decode()
    assert "&lt;script&gt;alert(&#x27;headline&#x27;)&lt;/script&gt;" in statement_page
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in statement_page
    # The war room gets it as JSON data, rendered with textContent.
    snapshot = war_room.snapshot(membership=carol_membership)
    assert snapshot["statements_awaiting_approval"][0]["title"] == HOSTILE_HEADLINE


# --- edits and conflicts ------------------------------------------------------------------------
def _edit_data(base_version: int, body: str) -> dict:
    return {"edit-base_version": str(base_version), "edit-headline": "Holding statement", "edit-body": body,
            "edit-public_status": "investigating", "edit-target_channels": ["hub"], "edit-change_note": "Tighter"}


def test_an_edit_saves_a_new_version(incident, bob_membership, browser):
    statement = _draft(incident, bob_membership)
    response = browser("bob").post(f"{_page(statement)}edit/", _edit_data(1, "We are truly sorry."))
    assert response.status_code == 302
    statement.refresh_from_db()
    assert (statement.current_version.number, statement.current_version.body, statement.current_version.change_note) == (2, "We are truly sorry.", "Tighter")


def test_a_stale_edit_shows_the_conflict_and_keeps_the_typed_text(incident, bob_membership, frank_membership, browser):
    statement = _draft(incident, bob_membership)
    services.statement_edit(statement=statement, actor_membership=frank_membership, base_version=1, fields={"body": "Frank's words, saved first."})
    response = browser("bob").post(f"{_page(statement)}edit/", _edit_data(1, "Bob's words, typed on version 1."))
    assert response.status_code == 409
    page = response.content.decode()
    assert 'data-testid="conflict"' in page
    assert "Someone saved version 2 since you opened version 1" in page
    # Frank's version is shown, Bob's text is still in the form, now based on version 2.
    assert "Frank&#x27;s words, saved first." in page
    assert "Bob&#x27;s words, typed on version 1.</textarea>" in page
    assert 'name="edit-base_version" value="2"' in page
    statement.refresh_from_db()
    assert statement.current_version.number == 2
    # Saving again, now knowingly on version 2, goes through.
    assert browser("bob").post(f"{_page(statement)}edit/", _edit_data(2, "Bob's words, typed on version 1.")).status_code == 302


def test_editing_an_approved_statement_voids_the_approval_and_shows_it(incident, bob_membership, carol_membership, browser):
    statement = _in_review(incident, bob_membership)
    services.statement_decide(statement=statement, actor_membership=carol_membership, version_number=1, decision="approve")
    browser("bob").post(f"{_page(statement)}edit/", _edit_data(1, "Changed after approval."))
    statement.refresh_from_db()
    assert statement.status == StatementStatus.IN_REVIEW
    page = browser("carol").get(_page(statement)).content.decode()
    assert "Decisions on earlier versions (1, no longer count)" in page
    assert "void: the words changed since" in page


# --- the diff -----------------------------------------------------------------------------------
def test_the_diff_marks_insertions_and_deletions(incident, bob_membership, browser):
    statement = _draft(incident, bob_membership, body="We are sorry for the delay.")
    services.statement_edit(statement=statement, actor_membership=bob_membership, base_version=1, fields={"body": "We are deeply sorry for the outage."})
    response = browser("dave").get(f"{_page(statement)}diff/?from=1&to=2")
    assert response.status_code == 200
    page = response.content.decode()
    assert '<ins><span class="visually-hidden">[added: </span> deeply<span class="visually-hidden">]</span></ins>' in page
    assert '<del><span class="visually-hidden">[removed: </span>delay.<span class="visually-hidden">]</span></del>' in page
    assert "outage." in page
    assert browser("dave").get(f"{_page(statement)}diff/?from=1&to=9").status_code == 404


def test_the_versions_list_links_each_change(incident, bob_membership, browser):
    statement = _draft(incident, bob_membership)
    services.statement_edit(statement=statement, actor_membership=bob_membership, base_version=1, fields={"body": "Second words."})
    page = browser("dave").get(f"{_page(statement)}?part=versions").content.decode()
    assert f"{_page(statement)}diff/?from=1&amp;to=2" in page


def test_an_unknown_part_is_404(incident, bob_membership, browser):
    statement = _draft(incident, bob_membership)
    assert browser("dave").get(f"{_page(statement)}?part=nope").status_code == 404


# --- approval -----------------------------------------------------------------------------------
def test_the_statement_page_says_who_must_approve_and_when(incident, bob_membership, browser):
    statement = _in_review(incident, bob_membership)
    page = browser("carol").get(_page(statement)).content.decode()
    assert "1 approval needed" in page
    assert "Approver (manager)" in page
    assert "Carol" in page.split('class="stmt-policy"')[1].split("</ul>")[0]
    assert f'data-clock-due="{statement.review_due_at.isoformat()}' in page.replace("+00:00", "+00:00")
    # The author sees no approve button on his own words.
    bobs_view = browser("bob").get(_page(statement)).content.decode()
    assert f"{_page(statement)}decide/" not in bobs_view
    assert "You wrote this version: someone else approves it." in bobs_view


def test_the_approvals_page_lists_only_what_i_may_approve(incident, bob_membership, frank_membership, browser):
    bobs = _in_review(incident, bob_membership, headline="Bob's update")
    franks = _in_review(incident, frank_membership, headline="Frank's update")
    carol_page = browser("carol").get(f"{ACME}/approvals/").content.decode()
    assert f'data-statement-id="{bobs.pk}"' in carol_page and f'data-statement-id="{franks.pk}"' in carol_page
    # bob is no approver: nothing for him, and he is told others wait on someone else.
    bob_page = browser("bob").get(f"{ACME}/approvals/").content.decode()
    assert 'data-testid="nothing-to-approve"' in bob_page
    assert "2 other statements wait for someone else." in bob_page


def test_approve_and_publish_is_one_tap_from_the_approvals_page(incident, bob_membership, browser, eager_celery, django_capture_on_commit_callbacks):
    statement = _in_review(incident, bob_membership)
    page = browser("carol").get(f"{ACME}/approvals/").content.decode()
    assert "Approve and publish" in page
    assert 'name="version" value="1"' in page
    with django_capture_on_commit_callbacks(execute=True):
        response = browser("carol").post(f"{_page(statement)}decide/", {"version": "1", "decision": "approve", "publish": "1", "next": "approvals"})
    assert response.status_code == 302
    assert response["Location"] == f"{ACME}/approvals/"
    statement.refresh_from_db()
    assert statement.status == StatementStatus.PUBLISHED
    publication = Publication.objects.for_organization(incident.organization).get(statement=statement)
    assert (publication.channel_kind, publication.status) == ("hub", PublicationStatus.SUCCEEDED)
    incident.refresh_from_db()
    assert incident.first_statement_at is not None
    # The room's header shows the clock stopped; the panel shows it published.
    room = browser("dave").get(f"{ACME}/incidents/{incident.pk}/").content.decode()
    assert "First statement</dt><dd>after" in room
    listed = browser("carol").get(f"{ACME}/approvals/").content.decode()
    assert 'data-testid="nothing-to-approve"' in listed


def test_a_stale_approval_is_refused_with_a_clear_message(incident, bob_membership, browser):
    statement = _in_review(incident, bob_membership)
    services.statement_edit(statement=statement, actor_membership=bob_membership, base_version=1, fields={"body": "New words after you read."})
    response = browser("carol").post(f"{_page(statement)}decide/", {"version": "1", "decision": "approve", "next": "approvals"}, follow=True)
    assert response.status_code == 200
    assert "Not recorded: The statement changed (now version 2) since you read version 1" in response.content.decode()
    assert not Approval.objects.for_organization(incident.organization).filter(statement=statement).exists()


def test_requesting_changes_needs_a_comment(incident, bob_membership, browser):
    statement = _in_review(incident, bob_membership)
    response = browser("carol").post(f"{_page(statement)}decide/", {"version": "1", "decision": "reject", "comment": "  "}, follow=True)
    assert "Say what should change." in response.content.decode()
    statement.refresh_from_db()
    assert statement.status == StatementStatus.IN_REVIEW
    browser("carol").post(f"{_page(statement)}decide/", {"version": "1", "decision": "reject", "comment": "Drop the second sentence."})
    statement.refresh_from_db()
    assert statement.status == StatementStatus.REJECTED
    page = browser("bob").get(_page(statement)).content.decode()
    assert "Drop the second sentence." in page


def test_the_author_cannot_approve_his_own_words(incident, carol_membership, browser):
    statement = _in_review(incident, carol_membership)
    response = browser("carol").post(f"{_page(statement)}decide/", {"version": "1", "decision": "approve"})
    assert response.status_code == 403
    assert not Approval.objects.for_organization(incident.organization).exists()


def test_a_responder_may_not_publish_on_a_channel_without_an_access_list(incident, bob_membership, carol_membership, browser):
    statement = _in_review(incident, bob_membership)
    services.statement_decide(statement=statement, actor_membership=carol_membership, version_number=1, decision="approve")
    page = browser("bob").get(_page(statement)).content.decode()
    assert "Publish now" not in page
    assert "Only managers publish through Public crisis hub until it has an access list." in page
    assert browser("bob").post(f"{_page(statement)}publish/").status_code == 403
    assert "Publish now" in browser("carol").get(_page(statement)).content.decode()


# --- translations, corrections, promises --------------------------------------------------------
def test_a_translation_is_drafted_from_the_statement_page(incident, bob_membership, browser):
    statement = _draft(incident, bob_membership)
    response = browser("bob").post(f"{_page(statement)}translate/", {"translation-language": "nl", "translation-body": "Het spijt ons."})
    translation = Statement.objects.for_organization(incident.organization).get(translation_of=statement)
    assert response["Location"] == _page(translation)
    assert (translation.language, translation.current_version.body) == ("nl", "Het spijt ons.")
    assert b">nl</a>" in browser("dave").get(_page(statement)).content


def test_a_published_statement_offers_correct_this(incident, bob_membership, carol_membership, browser):
    statement = _in_review(incident, bob_membership)
    services.statement_decide(statement=statement, actor_membership=carol_membership, version_number=1, decision="approve")
    services.statement_publish(statement=statement, actor_membership=carol_membership)
    for publication in Publication.objects.for_organization(incident.organization).filter(statement=statement):
        services.publication_attempt(publication_id=publication.pk)
    page = browser("bob").get(_page(statement)).content.decode()
    assert f"statements/?corrects={statement.pk}#composer" in page
    composer = browser("bob").get(f"{ACME}/incidents/{incident.pk}/statements/?corrects={statement.pk}").content.decode()
    assert '<option value="correction" selected>' in composer
    assert f'<option value="{statement.pk}" selected>' in composer
    response = browser("bob").post(f"{ACME}/incidents/{incident.pk}/statements/", {
        "kind": "correction", "corrects": str(statement.pk), "language": "en", "body": "Correction: it was batch 43.",
        "public_status": "identified", "target_channels": ["hub"],
    })
    assert response.status_code == 302
    assert Statement.objects.for_organization(incident.organization).get(corrects=statement).kind == "correction"


def test_promises_show_a_countdown_in_the_incident_room_and_can_be_kept(incident, bob_membership, carol_membership, browser):
    due = timezone.now() + timedelta(hours=2)
    statement = _in_review(incident, bob_membership, promises=[{"text": "Refund form online", "due_at": due.isoformat()}])
    services.statement_decide(statement=statement, actor_membership=carol_membership, version_number=1, decision="approve")
    services.statement_publish(statement=statement, actor_membership=carol_membership)
    for publication in Publication.objects.for_organization(incident.organization).filter(statement=statement):
        services.publication_attempt(publication_id=publication.pk)
    promise = Promise.objects.for_organization(incident.organization).get(statement=statement)
    room = browser("dave").get(f"{ACME}/incidents/{incident.pk}/?part=statements").content.decode()
    assert "Refund form online" in room
    assert f'data-clock-due="{promise.due_at.isoformat()}' in room
    assert "Mark kept" not in room  # dave views
    response = browser("bob").post(f"{ACME}/incidents/{incident.pk}/promises/{promise.pk}/keep/", {"next": "incident"})
    assert response["Location"] == f"{ACME}/incidents/{incident.pk}/"
    promise.refresh_from_db()
    assert promise.status == "kept"


# --- publishing settings ------------------------------------------------------------------------
def test_an_admin_grants_and_revokes_publishing_rights_and_locks_down(incident, frank_membership, erin_membership, browser):
    page = browser("erin").get(f"{ACME}/publishing/").content.decode()
    hub = services.builtin_channels(incident.organization_id)["hub"]
    assert "Public crisis hub" in page
    browser("erin").post(f"{ACME}/publishing/channels/{hub.pk}/access/", {"user": str(frank_membership.user_id), "in_lockdown": "on"})
    grant = ChannelAccess.objects.for_organization(incident.organization).get(channel=hub, revoked_at__isnull=True)
    assert (grant.user_id, grant.in_lockdown) == (frank_membership.user_id, True)
    assert "also during a lockdown" in browser("erin").get(f"{ACME}/publishing/").content.decode()
    browser("erin").post(f"{ACME}/publishing/lockdown/", {"action": "start", "reason": "Account <b>hacked</b>"})
    page = browser("erin").get(f"{ACME}/publishing/").content.decode()
    assert "Account &lt;b&gt;hacked&lt;/b&gt;" in page and "End the lockdown" in page
    browser("erin").post(f"{ACME}/publishing/lockdown/", {"action": "end"})
    browser("erin").post(f"{ACME}/publishing/channels/{hub.pk}/access/{frank_membership.user_id}/revoke/")
    assert not ChannelAccess.objects.for_organization(incident.organization).filter(channel=hub, revoked_at__isnull=True).exists()


def test_managers_do_not_see_publishing_settings(incident, browser):
    assert browser("carol").get(f"{ACME}/publishing/").status_code == 403
    assert b"/o/acme/publishing/" not in browser("carol").get(f"{ACME}/approvals/").content
    assert b"/o/acme/publishing/" in browser("erin").get(f"{ACME}/approvals/").content


# --- the incident room and the war room -----------------------------------------------------------
def test_the_incident_room_lists_the_statements_with_status_and_review_clock(incident, bob_membership, browser):
    statement = _in_review(incident, bob_membership, headline="Room headline")
    page = browser("dave").get(f"{ACME}/incidents/{incident.pk}/").content.decode()
    panel = page.split('id="part-statements"')[1]
    assert "Room headline" in panel and "Waiting for approval" in panel
    assert f'data-clock-due="{statement.review_due_at.isoformat()}' in panel
    assert "New statement" not in panel  # dave views
    assert "New statement" in browser("bob").get(f"{ACME}/incidents/{incident.pk}/").content.decode()


def test_the_war_room_lists_statements_awaiting_approval_with_their_due_time(incident, bob_membership, dave_membership):
    statement = _in_review(incident, bob_membership, headline="Awaiting headline")
    [item] = war_room.snapshot(membership=dave_membership)["statements_awaiting_approval"]
    assert item == {
        "id": statement.pk, "title": "Awaiting headline", "incident_id": incident.pk, "url": _page(statement),
        "waiting_since": statement.review_requested_at, "due_at": statement.review_due_at,
    }


def test_every_member_page_links_to_the_approvals(incident, browser):
    assert b'href="/o/acme/approvals/"' in browser("dave").get(f"{ACME}/incidents/").content


def test_the_tone_findings_of_the_current_version_show_on_the_statement_page(incident, bob_membership, browser):
    statement = _draft(incident, bob_membership, body="No comment. This was a rogue intern, not us.")
    page = browser("bob").get(_page(statement)).content.decode()
    findings = page.split('class="tone-findings"')[1].split("</ul>")[0]
    assert "<mark>" in findings
    assert "No tone findings." not in findings


def test_approve_and_publish_refused_by_a_lockdown_records_nothing_and_says_why(incident, bob_membership, erin_membership, browser):
    statement = _in_review(incident, bob_membership)
    services.lockdown_start(organization=incident.organization, actor_membership=erin_membership, reason="Account hacked")
    page = browser("carol").get(f"{ACME}/approvals/").content.decode()
    assert "Approve and publish" not in page and ">Approve</button>" in page
    response = browser("carol").post(f"{_page(statement)}decide/", {"version": "1", "decision": "approve", "publish": "1", "next": "approvals"}, follow=True)
    assert response.status_code == 200
    assert "Not recorded: you may not publish it now." in response.content.decode()
    assert not Approval.objects.for_organization(incident.organization).filter(statement=statement).exists()


def test_a_statement_needs_at_least_one_channel(incident, browser):
    response = browser("bob").post(f"{ACME}/incidents/{incident.pk}/statements/", {
        "kind": "holding", "language": "en", "body": "We are sorry.", "public_status": "investigating",
    })
    assert response.status_code == 400
    assert b"Choose at least one channel." in response.content


def test_the_edit_form_keeps_the_promises_deadlines(incident, bob_membership, browser):
    due = (timezone.now() + timedelta(hours=3)).replace(second=0, microsecond=0)
    statement = _draft(incident, bob_membership, promises=[{"text": "Refund form online", "due_at": due.isoformat()}])
    page = browser("bob").get(_page(statement)).content.decode()
    assert f'name="edit-promise_0_due" value="{due:%Y-%m-%dT%H:%M}"' in page


# --- the review's findings: one rule for each question, hostile input, kept promises -------------
def test_publishing_is_not_offered_when_none_of_its_channels_is_switched_on(incident, alice_membership, bob_membership, carol_membership, browser):
    x_account = services.channel_create(
        organization=incident.organization, actor_membership=alice_membership, kind="x", name="Acme on X", config={},
        credentials={"consumer_key": "ck", "consumer_secret": "cs", "access_token": "1-at", "access_token_secret": "ats"},
    )
    statement = services.statement_draft(incident=incident, actor_membership=bob_membership, kind="holding", target_channels=["x"],
                                         fields={"body": "We are sorry. We are looking into it."})
    services.statement_submit(statement=statement, actor_membership=bob_membership)
    services.channel_set_enabled(channel=x_account, actor_membership=alice_membership, enabled=False)

    approvals = browser("carol").get(f"{ACME}/approvals/").content.decode()
    assert "Approve and publish" not in approvals and ">Approve</button>" in approvals

    services.statement_decide(statement=statement, actor_membership=carol_membership, version_number=1, decision="approve")
    page = browser("carol").get(_page(statement)).content.decode()
    assert "Publish now" not in page
    assert "None of its channels exists and is switched on." in page


def test_the_statement_page_reads_the_approvals_in_a_fixed_number_of_queries(
    org_a, alice_membership, bob_membership, carol_membership, erin_membership, frank_membership, browser
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    four = valid_playbook_document(escalation=[{"severity": 2, "first_statement_due_minutes": 30, "approvals_required": 4, "approver_roles": ["approver_manager"]}])
    playbook = playbook_services.playbook_create(organization=org_a, actor_membership=alice_membership, document=four)
    incident = incident_services.incident_open(organization=org_a, actor_membership=carol_membership, title="Needs four", playbook=playbook, severity=2)
    statement = _in_review(incident, bob_membership)
    alices = browser("alice")
    alices.get(_page(statement))  # the session is saved on the first request
    services.statement_decide(statement=statement, actor_membership=carol_membership, version_number=1, decision="approve")
    with CaptureQueriesContext(connection) as after_one:
        assert alices.get(_page(statement)).status_code == 200
    services.statement_decide(statement=statement, actor_membership=erin_membership, version_number=1, decision="approve")
    with CaptureQueriesContext(connection) as after_two:
        page = alices.get(_page(statement)).content.decode()
    assert len(after_two) == len(after_one)
    assert f"{_page(statement)}decide/" in page


def test_a_viewer_holding_an_approver_role_is_never_offered_a_decision(incident, bob_membership, carol_membership, dave_membership, browser):
    incident_services.incident_assign_role(incident=incident, actor_membership=carol_membership, role="approver_manager", member_id=dave_membership.user_id)
    statement = _in_review(incident, bob_membership)

    for path in (_page(statement), f"{_page(statement)}?part=approval", f"{ACME}/approvals/"):
        page = browser("dave").get(path).content.decode()
        assert f"{_page(statement)}decide/" not in page, path
        assert 'class="decide' not in page and ">Approve</button>" not in page and "Approve and publish" not in page, path
    assert browser("dave").post(f"{_page(statement)}decide/", {"version": "1", "decision": "approve"}).status_code == 403
    assert not Approval.objects.for_organization(incident.organization).exists()


@pytest.mark.parametrize("corrects", ["²", "99999999999999999999999", "-1", "1e3"])
def test_a_hostile_corrects_parameter_opens_the_plain_composer(incident, browser, corrects):
    response = browser("bob").get(f"{ACME}/incidents/{incident.pk}/statements/", {"corrects": corrects})
    assert response.status_code == 200
    assert 'id="composer-form"' in response.content.decode()


@pytest.mark.parametrize("version", ["²", "99999999999999999999999", "", "1\x00"])
def test_a_decision_on_an_unreadable_version_is_refused_and_records_nothing(incident, bob_membership, browser, version):
    statement = _in_review(incident, bob_membership)
    response = browser("carol").post(f"{_page(statement)}decide/", {"version": version, "decision": "approve"}, follow=True)
    assert response.status_code == 200
    assert "Reload the page: it did not say which version you read." in response.content.decode()
    assert not Approval.objects.for_organization(incident.organization).exists()


def test_a_decision_comment_with_a_nul_character_is_refused_and_records_nothing(incident, bob_membership, browser):
    statement = _in_review(incident, bob_membership)
    response = browser("carol").post(f"{_page(statement)}decide/", {"version": "1", "decision": "reject", "comment": "Drop\x00 it"}, follow=True)
    assert response.status_code == 200
    assert "Not recorded: " in response.content.decode() and "Null characters are not allowed." in response.content.decode()
    statement.refresh_from_db()
    assert statement.status == StatementStatus.IN_REVIEW
    assert not Approval.objects.for_organization(incident.organization).exists()


@pytest.mark.parametrize("query", ["to=²", "from=²", "to=99999999999999999999999", "from=2&to=²"])
def test_a_hostile_diff_parameter_is_never_a_server_error(incident, bob_membership, browser, query):
    statement = _draft(incident, bob_membership)
    services.statement_edit(statement=statement, actor_membership=bob_membership, base_version=1, fields={"body": "Second words."})
    response = browser("dave").get(f"{_page(statement)}diff/?{query}")
    assert response.status_code in (200, 404)


@pytest.mark.parametrize("user", ["²", "99999999999999999999999", "999999999999999999", "\x00"])
def test_a_hostile_member_in_an_access_grant_is_refused(incident, erin_membership, browser, user):
    hub = services.builtin_channels(incident.organization_id)["hub"]
    response = browser("erin").post(f"{ACME}/publishing/channels/{hub.pk}/access/", {"user": user}, follow=True)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Choose a member." in page or "Only members of this organisation can publish." in page
    assert not ChannelAccess.objects.for_organization(incident.organization).exists()


def test_a_lockdown_reason_with_a_nul_character_is_refused(incident, erin_membership, browser):
    response = browser("erin").post(f"{ACME}/publishing/lockdown/", {"action": "start", "reason": "Account\x00 hacked"}, follow=True)
    assert response.status_code == 200
    assert "Null characters are not allowed." in response.content.decode()
    assert services.policy.active_lockdown(incident.organization_id) is None


@pytest.mark.parametrize("form", ["composer", "edit", "translation"])
def test_statement_text_with_a_nul_character_is_a_form_error(incident, bob_membership, browser, form):
    statement = _draft(incident, bob_membership)
    posts = {
        "composer": (f"{ACME}/incidents/{incident.pk}/statements/", {"kind": "holding", "language": "en", "body": "Sorry\x00", "public_status": "investigating", "target_channels": ["hub"]}),
        "edit": (f"{_page(statement)}edit/", _edit_data(1, "Sorry\x00")),
        "translation": (f"{_page(statement)}translate/", {"translation-language": "nl", "translation-body": "Het spijt\x00 ons."}),
    }
    path, data = posts[form]
    response = browser("bob").post(path, data)
    assert response.status_code == 400
    assert b"Null characters are not allowed." in response.content
    assert Statement.objects.for_organization(incident.organization).count() == 1
    statement.refresh_from_db()
    assert statement.current_version.number == 1


def _promises(count: int) -> list[dict]:
    due = (timezone.now() + timedelta(hours=3)).replace(second=0, microsecond=0)
    return [{"text": f"Promise number {index + 1}", "due_at": (due + timedelta(minutes=index)).isoformat()} for index in range(count)]


def test_a_page_edit_keeps_every_promise_of_the_version(incident, bob_membership, browser):
    statement = _draft(incident, bob_membership, promises=_promises(5))
    page = browser("bob").get(_page(statement)).content.decode()
    # Every promise has its row, and two rows are free for new ones.
    assert 'name="edit-promise_4_text" value="Promise number 5"' in page
    assert 'name="edit-promise_6_text"' in page and 'name="edit-promise_7_text"' not in page
    data = _edit_data(1, "We are truly sorry.")
    for index, promise in enumerate(statement.current_version.promises):
        data[f"edit-promise_{index}_text"] = promise["text"]
        data[f"edit-promise_{index}_due"] = promise["due_at"][:16]
    data["edit-promise_5_text"], data["edit-promise_5_due"] = "A sixth one", data["edit-promise_0_due"]

    response = browser("bob").post(f"{_page(statement)}edit/", data)

    assert response.status_code == 302
    statement.refresh_from_db()
    assert [promise["text"] for promise in statement.current_version.promises] == [f"Promise number {n}" for n in range(1, 6)] + ["A sixth one"]


def test_the_edit_form_never_offers_more_promises_than_a_version_holds(incident, bob_membership, browser):
    statement = _draft(incident, bob_membership, promises=_promises(services.MAX_PROMISES))
    page = browser("bob").get(_page(statement)).content.decode()
    assert f'name="edit-promise_{services.MAX_PROMISES - 1}_text"' in page
    assert f'name="edit-promise_{services.MAX_PROMISES}_text"' not in page


def test_each_version_shows_its_own_spokesperson_and_the_diff_names_the_change(incident, bob_membership, carol_membership, frank_membership, browser):
    statement = services.statement_draft(incident=incident, actor_membership=bob_membership, kind="holding", target_channels=["hub"],
                                         spokesperson_id=carol_membership.user_id, fields={"body": "We are sorry."})
    services.statement_submit(statement=statement, actor_membership=bob_membership)
    services.statement_edit(statement=statement, actor_membership=bob_membership, base_version=1, fields={}, spokesperson_id=frank_membership.user_id)
    statement.refresh_from_db()
    assert statement.current_version.number == 2

    page = browser("dave").get(_page(statement)).content.decode()
    status = page.split('id="part-status"')[1].split('id="part-approval"')[0]
    assert "Spokesperson" in status and "Frank" in status and "Carol" not in status
    versions = browser("dave").get(f"{_page(statement)}?part=versions").content.decode()
    assert "spokesperson Carol" in versions and "spokesperson Frank" in versions
    approvals = browser("carol").get(f"{ACME}/approvals/").content.decode()
    assert "Spokesperson: Frank" in approvals

    diff_page = browser("dave").get(f"{_page(statement)}diff/?from=1&to=2").content.decode()
    change = diff_page.split('id="diff-spokesperson"')[1].split("</section>")[0]
    assert "Carol" in change and "Frank" in change


def test_huge_ids_in_page_addresses_are_404s_not_server_errors(incident, browser):
    huge = "99999999999999999999999"
    hub = services.builtin_channels(incident.organization_id)["hub"]
    assert browser("bob").get(f"{ACME}/incidents/{huge}/statements/").status_code == 404
    assert browser("bob").get(f"{ACME}/incidents/{incident.pk}/statements/{huge}/").status_code == 404
    assert browser("bob").post(f"{ACME}/incidents/{incident.pk}/promises/{huge}/keep/").status_code == 404
    assert browser("bob").post(f"{ACME}/scheduled/{huge}/cancel/").status_code == 404
    assert browser("erin").post(f"{ACME}/publishing/channels/{huge}/access/", {"user": "1"}).status_code == 404
    revoke = browser("erin").post(f"{ACME}/publishing/channels/{hub.pk}/access/{huge}/revoke/", follow=True)
    assert revoke.status_code == 200 and "not on this channel&#x27;s access list" in revoke.content.decode()
