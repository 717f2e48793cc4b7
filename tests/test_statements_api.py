"""The statements API over HTTP: drafting, versions and diffs, review and approval, publishing,
translations, the tone check, the approval queue, promises, channels and the lockdown.

bob (responder) drafts; carol (manager) holds the incident's manager-approver role; erin
(admin) may approve as a manager too; frank is another responder; dave views; alice owns;
charlie owns org B and is an outsider to A. Who may call what at all is in
tests/test_api_permissions.py; this file is about what the calls do.
"""

from __future__ import annotations

import json

from datetime import timedelta

import pytest
from django.utils import timezone

from playbooks import incident_services
from playbooks import services as playbook_services
from responses import services
from responses.models import (
    ChannelAccess,
    Promise,
    PromiseStatus,
    Publication,
    PublicationStatus,
    PublishingChannel,
    Statement,
    StatementStatus,
    StatementVersion,
)
from tests.factories import valid_playbook_document
from tests.test_api_permissions import assert_error_body

pytestmark = pytest.mark.django_db

ACME = "/api/v1/organizations/acme"
BRAVO = "/api/v1/organizations/bravo"

PLAYBOOK = valid_playbook_document(
    roles=[{"role": "incident_lead", "member": "carol"}, {"role": "approver_manager", "member": "carol"}],
    holding_statements=[{"name": "First response", "language": "en", "text": "{brand} is sorry: {what_happened} Updates: {help_url}"}],
    escalation=[
        {"severity": 1, "first_statement_due_minutes": 15, "approvals_required": 2, "approver_roles": ["approver_manager"]},
        {"severity": 2, "first_statement_due_minutes": 30, "approvals_required": 1, "approver_roles": ["approver_manager"]},
    ],
    voice_rules=[
        {"kind": "dont", "rule": "No emoji, ever."},
        {"kind": "do", "rule": "Speak like a neighbour, not a lawyer."},
    ],
)


@pytest.fixture
def incident(org_a, org_b, alice_membership, bob_membership, carol_membership, dave_membership, erin_membership, frank_membership, charlie_membership):
    playbook = playbook_services.playbook_create(organization=org_a, actor_membership=alice_membership, document=PLAYBOOK)
    return incident_services.incident_open(
        organization=org_a, actor_membership=carol_membership, title="Nuts in the granola", playbook=playbook, severity=2,
        what_happened="Batch 42 may contain nuts.",
    )


@pytest.fixture
def api(api_client_for, incident):
    """api("bob") is bob's API client."""
    from crisiscenter.models import User

    return lambda username: api_client_for(User.objects.get(username=username))


@pytest.fixture
def publish_on_commit(eager_celery, django_capture_on_commit_callbacks):
    """Runs what a request queued for after its commit (the publications), in-process."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def _statements_url(incident) -> str:
    return f"{ACME}/incidents/{incident.pk}/statements/"


def _draft(api, incident, username="bob", **fields) -> dict:
    body = {"kind": "holding", "headline": "Batch 42 recall", "body": "We are sorry. Do not eat bars from batch 42.", **fields}
    response = api(username).post(_statements_url(incident), body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def _submitted(api, incident, username="bob", **fields) -> dict:
    statement = _draft(api, incident, username, **fields)
    response = api(username).post(f"{ACME}/statements/{statement['id']}/submit/")
    assert response.status_code == 200, response.content
    return response.json()


def _decide(api, username, statement_id, version, decision="approve", **fields):
    return api(username).post(f"{ACME}/statements/{statement_id}/decision/", {"version": version, "decision": decision, **fields}, format="json")


def _detail(api, username, statement_id) -> dict:
    response = api(username).get(f"{ACME}/statements/{statement_id}/")
    assert response.status_code == 200, response.content
    return response.json()


# --- the whole flow ----------------------------------------------------------------------
def test_a_statement_goes_from_template_to_the_hub_over_http(api, incident, publish_on_commit):
    drafted = _draft(api, incident, template_index=0, body="")

    assert drafted["status"] == "draft" and drafted["version"] == 1
    assert drafted["current"]["body"].startswith("Acme Foods is sorry: Batch 42 may contain nuts.")
    assert "/hub/acme/" in drafted["current"]["body"]
    assert drafted["target_channels"] == ["hub"]
    assert drafted["can"] == {"edit": True, "submit": True, "approve": False, "publish": False}
    assert drafted["approval_policy"]["approvals_required"] == 1
    assert drafted["link"] == f"/o/acme/incidents/{incident.pk}/statements/{drafted['id']}/"

    submitted = api("bob").post(f"{ACME}/statements/{drafted['id']}/submit/").json()
    assert submitted["status"] == "in_review" and submitted["review_due_at"]
    assert submitted["can"]["approve"] is False  # bob wrote it

    own = _decide(api, "bob", drafted["id"], 1)
    assert own.status_code == 403
    assert assert_error_body(own, 403)["code"] == "self_approval"

    assert _detail(api, "carol", drafted["id"])["can"]["approve"] is True
    with publish_on_commit():
        decided = _decide(api, "carol", drafted["id"], 1, comment="Good to go.", publish=True)
    assert decided.status_code == 202, decided.content
    assert decided.json()["status"] == "published"

    statement = _detail(api, "dave", drafted["id"])
    assert statement["status"] == "published" and statement["published_version"] == 1 and statement["first_published_at"]
    [approval] = statement["approvals"]
    assert (approval["approver"], approval["decision"], approval["comment"], approval["version"]) == ("Carol", "approve", "Good to go.", 1)
    assert approval["roles"] == ["approver_manager"]
    [publication] = statement["publications"]
    assert (publication["channel_kind"], publication["status"], publication["attempts"]) == ("hub", "succeeded", 1)
    assert "/hub/acme/" in publication["url"]
    assert Publication.objects.for_organization(incident.organization).get(statement_id=drafted["id"]).status == PublicationStatus.SUCCEEDED


def test_an_edit_after_the_approval_voids_it(api, incident):
    statement = _submitted(api, incident)
    assert _decide(api, "carol", statement["id"], 1).json()["status"] == "approved"

    edited = api("bob").post(
        f"{ACME}/statements/{statement['id']}/versions/", {"base_version": 1, "body": "We are sorry. Batches 42 and 43.", "change_note": "Batch 43 too"},
        format="json",
    )

    assert edited.status_code == 201, edited.content
    after = _detail(api, "carol", statement["id"])
    assert after["status"] == "in_review" and after["version"] == 2
    assert after["approvals"] == []
    [voided] = after["voided_approvals"]
    assert (voided["approver"], voided["version"], voided["decision"]) == ("Carol", 1, "approve")
    assert after["current"]["change_note"] == "Batch 43 too" and after["current"]["author"] == "Bob"
    assert after["can"]["approve"] is True and after["can"]["publish"] is False


def test_saving_without_a_change_adds_no_version(api, incident):
    statement = _draft(api, incident)

    response = api("bob").post(f"{ACME}/statements/{statement['id']}/versions/", {"base_version": 1, "body": statement["current"]["body"]}, format="json")

    assert response.status_code == 200
    assert response.json()["version"] == 1


def test_an_edit_from_a_stale_version_is_a_409_not_an_overwrite(api, incident):
    statement = _draft(api, incident)
    url = f"{ACME}/statements/{statement['id']}/versions/"
    assert api("frank").post(url, {"base_version": 1, "body": "Frank's words."}, format="json").status_code == 201

    response = api("bob").post(url, {"base_version": 1, "body": "Bob's words."}, format="json")

    assert response.status_code == 409
    assert assert_error_body(response, 409)["code"] == "version_conflict"
    assert Statement.objects.for_organization(incident.organization).get(pk=statement["id"]).current_version.body == "Frank's words."


def test_a_decision_on_a_version_the_approver_did_not_read_is_a_409(api, incident):
    statement = _submitted(api, incident)
    api("bob").post(f"{ACME}/statements/{statement['id']}/versions/", {"base_version": 1, "body": "We are sorry. New words."}, format="json")

    response = _decide(api, "carol", statement["id"], 1)

    assert response.status_code == 409
    assert assert_error_body(response, 409)["code"] == "version_conflict"
    assert not Statement.objects.for_organization(incident.organization).get(pk=statement["id"]).approvals.exists()


def test_deciding_twice_on_one_version_is_a_409(api, incident, carol_membership):
    # Severity 1 of this playbook wants two approvals: carol's first leaves it in review.
    incident_services.incident_change_severity(incident=incident, actor_membership=carol_membership, severity=1)
    statement = _submitted(api, incident)
    assert _decide(api, "carol", statement["id"], 1).json()["status"] == "in_review"

    response = _decide(api, "carol", statement["id"], 1)

    assert response.status_code == 409
    assert assert_error_body(response, 409)["code"] == "already_decided"
    assert _decide(api, "erin", statement["id"], 1).json()["status"] == "approved"


def test_a_rejection_needs_a_comment(api, incident):
    statement = _submitted(api, incident)

    response = _decide(api, "carol", statement["id"], 1, decision="reject")

    assert response.status_code == 400
    assert list(assert_error_body(response, 400)["fields"]) == ["comment"]
    assert _detail(api, "carol", statement["id"])["status"] == "in_review"


def test_versions_are_listed_newest_first_and_read_one_by_one(api, incident):
    statement = _draft(api, incident)
    api("bob").post(f"{ACME}/statements/{statement['id']}/versions/", {"base_version": 1, "headline": "Batch 42 and 43"}, format="json")

    listed = api("dave").get(f"{ACME}/statements/{statement['id']}/versions/").json()
    first = api("dave").get(f"{ACME}/statements/{statement['id']}/versions/1/")

    assert [version["number"] for version in listed["results"]] == [2, 1]
    assert listed["results"][0]["headline"] == "Batch 42 and 43"
    assert first.status_code == 200 and first.json()["version"]["headline"] == "Batch 42 recall"
    assert api("dave").get(f"{ACME}/statements/{statement['id']}/versions/3/").status_code == 404
    assert api("dave").get(f"{ACME}/statements/{statement['id']}/versions/99999999999999999999999/").status_code == 404


# --- diff ---------------------------------------------------------------------------------
def test_the_diff_shows_what_changed_word_by_word(api, incident):
    statement = _draft(api, incident, body="We are sorry. Do not eat batch 42.")
    api("bob").post(f"{ACME}/statements/{statement['id']}/versions/", {"base_version": 1, "body": "We are sorry. Do not eat batch 43."}, format="json")

    default = api("dave").get(f"{ACME}/statements/{statement['id']}/diff/")
    explicit = api("dave").get(f"{ACME}/statements/{statement['id']}/diff/", {"from": 1, "to": 2})

    assert default.status_code == 200 and default.json() == explicit.json()
    body = default.json()
    assert (body["from"], body["to"]) == (1, 2)
    [change] = body["changes"]
    assert change["field"] == "body"
    assert {"op": "delete", "text": "42."} in change["parts"] and {"op": "insert", "text": "43."} in change["parts"]


def test_the_diff_of_a_first_version_shows_everything_it_says(api, incident):
    statement = _draft(api, incident)

    body = api("dave").get(f"{ACME}/statements/{statement['id']}/diff/").json()

    assert body["from"] is None and body["to"] == 1
    assert {change["field"] for change in body["changes"]} >= {"headline", "body"}


@pytest.mark.parametrize(
    ("query", "field"),
    [({"from": "one"}, "from"), ({"to": "2.5"}, "to"), ({"from": "²"}, "from"), ({"to": "-1"}, "to"), ({"to": "9" * 30}, "to")],
)
def test_a_diff_with_a_bad_version_number_is_a_400_naming_it(api, incident, query, field):
    statement = _draft(api, incident)

    response = api("dave").get(f"{ACME}/statements/{statement['id']}/diff/", query)

    assert response.status_code == 400
    assert list(assert_error_body(response, 400)["fields"]) == [field]


def test_a_diff_with_a_version_that_does_not_exist_is_a_404(api, incident):
    statement = _draft(api, incident)

    assert api("dave").get(f"{ACME}/statements/{statement['id']}/diff/", {"from": 1, "to": 7}).status_code == 404


# --- tone ---------------------------------------------------------------------------------
def test_the_tone_check_flags_a_defensive_text_and_lists_the_voice_rules(api, incident):
    response = api("bob").post(f"{ACME}/incidents/{incident.pk}/tone-check/", {"text": "We did nothing wrong. Enjoy 😀"}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert body["language"] == "en" and body["covered"] is True
    assert body["languages_covered"]["en"] == "English"
    rules = {finding["rule"] for finding in body["findings"]}
    assert {"defensive", "voice_rule"} <= rules
    assert body["voice_rules"] == [
        {"kind": "dont", "rule": "No emoji, ever.", "checked": True},
        {"kind": "do", "rule": "Speak like a neighbour, not a lawyer.", "checked": False},
    ]


def test_the_tone_check_says_when_it_does_not_know_the_language(api, incident):
    response = api("bob").post(f"{ACME}/incidents/{incident.pk}/tone-check/", {"text": "Mēs neko sliktu nedarījām.", "language": "lv"}, format="json")

    body = response.json()
    assert response.status_code == 200
    assert body["covered"] is False and body["findings"] == []
    assert "lv" not in body["languages_covered"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"text": "x" * 20_001}, "text"),
        ({"text": ""}, "text"),
        ({"text": "fine", "language": "English"}, "language"),
        ({"text": "fine", "kind": "poem"}, "kind"),
        ({"text": ["a", "list"]}, "text"),
    ],
)
def test_a_bad_tone_check_is_a_400_naming_the_field(api, incident, payload, field):
    response = api("bob").post(f"{ACME}/incidents/{incident.pk}/tone-check/", payload, format="json")

    assert response.status_code == 400
    assert list(assert_error_body(response, 400)["fields"]) == [field]


def test_the_statement_shows_tone_findings_of_its_current_words_field_by_field(api, incident):
    statement = _draft(api, incident, headline="Recall 😀", body="We did nothing wrong, but we are sorry.")

    findings = statement["tone"]["findings"]

    assert {(finding["field"], finding["rule"]) for finding in findings} >= {("headline", "voice_rule"), ("body", "defensive")}
    body_finding = next(finding for finding in findings if finding["field"] == "body")
    assert statement["current"]["body"][body_finding["start"]:body_finding["end"]].lower() == body_finding["excerpt"].lower()


def test_an_apology_is_asked_for_when_the_organisation_owns_the_mistake(api, incident, carol_membership):
    unapologetic = {"headline": "Batch 42", "body": "Batch 42 is recalled. Return it to the shop."}
    assert "missing_apology" not in {finding["rule"] for finding in _draft(api, incident, **unapologetic)["tone"]["findings"]}

    incident_services.incident_update_facts(incident=incident, actor_membership=carol_membership, changes={"mistake_by": "employee"})

    statement = _draft(api, incident, **unapologetic)
    assert statement["tone"]["require_apology"] is True
    assert {"field": None, "rule": "missing_apology"}.items() <= next(f for f in statement["tone"]["findings"] if f["rule"] == "missing_apology").items()
    sorry = _draft(api, incident, headline="Batch 42", body="We are sorry. Batch 42 is recalled.")
    assert "missing_apology" not in {finding["rule"] for finding in sorry["tone"]["findings"]}
    faq = _draft(api, incident, kind="faq", question="Is batch 43 safe?", body="Yes.")
    assert faq["tone"]["require_apology"] is False


# --- what is stored is what comes back ----------------------------------------------------
def test_markup_is_stored_verbatim_and_returned_as_a_json_string(api, incident):
    headline = "<script>alert('x')</script>"
    body = 'We are sorry. <img src=x onerror="alert(1)"> & \u202e'

    statement = _draft(api, incident, headline=headline, body=body)
    response = api("dave").get(f"{ACME}/statements/{statement['id']}/")

    assert response["Content-Type"].startswith("application/json")
    assert response.json()["current"]["headline"] == headline
    assert response.json()["current"]["body"] == body
    assert StatementVersion.objects.for_organization(incident.organization).get(statement_id=statement["id"]).headline == headline


# --- bad input ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"kind": "poem"}, "kind"),
        ({"spokesperson_id": "abc"}, "spokesperson_id"),
        ({"spokesperson_id": 2**70}, "spokesperson_id"),
        ({"spokesperson_id": 999_999}, "spokesperson_id"),
        ({"corrects_id": "1 OR 1=1"}, "corrects_id"),
        ({"template_index": "first"}, "template_index"),
        ({"template_index": 5}, "template_index"),
        ({"body": "x" * 10_001}, "body"),
        ({"headline": "x" * 201}, "headline"),
        ({"body": ""}, "body"),
        ({"next_update_at": "tomorrow"}, "next_update_at"),
        ({"next_update_at": "2026-12-04T18:00:00"}, "next_update_at"),
        ({"target_channels": ["carrier-pigeon"]}, "target_channels"),
        ({"target_channels": ["x"]}, "target_channels"),  # no X account yet
        ({"target_channels": "hub"}, "target_channels"),
        ({"promises": [{"text": "Call back", "due_at": "2026-12-04T10:00:00"}]}, "promises"),
        ({"promises": [{"text": "Call back"}]}, "promises"),
        ({"promises": "soon"}, "promises"),
        ({"promises": [{"text": "x", "due_at": "2026-12-04T10:00:00+00:00"}] * 11}, "promises"),
        ({"public_status": "panicking"}, "public_status"),
        ({"language": "English"}, "language"),
        ({"language": "e" * 40}, "language"),
    ],
)
def test_bad_input_to_a_draft_is_a_400_naming_the_field(api, incident, fields, field):
    body = {"kind": "holding", "headline": "Batch 42", "body": "We are sorry.", **fields}

    response = api("bob").post(_statements_url(incident), body, format="json")

    assert response.status_code == 400, response.content
    assert list(assert_error_body(response, 400)["fields"]) == [field]
    assert not Statement.objects.for_organization(incident.organization).exists()


def test_a_body_that_is_not_an_object_is_a_400(api, incident):
    response = api("bob").post(_statements_url(incident), ["kind", "holding"], format="json")

    assert response.status_code == 400
    assert assert_error_body(response, 400)["code"] == "invalid"


@pytest.mark.parametrize(
    ("payload", "field"),
    [({"body": "x"}, "base_version"), ({"base_version": "one"}, "base_version"), ({"base_version": 1, "spokesperson_id": "carol"}, "spokesperson_id")],
)
def test_bad_input_to_an_edit_is_a_400_naming_the_field(api, incident, payload, field):
    statement = _draft(api, incident)

    response = api("bob").post(f"{ACME}/statements/{statement['id']}/versions/", payload, format="json")

    assert response.status_code == 400
    assert list(assert_error_body(response, 400)["fields"]) == [field]


@pytest.mark.parametrize(
    ("payload", "field"),
    [({"version": 1, "decision": "maybe"}, "decision"), ({"decision": "approve"}, "version"), ({"version": "v1", "decision": "approve"}, "version"),
     ({"version": 1, "decision": "approve", "publish": "perhaps"}, "publish")],
)
def test_bad_input_to_a_decision_is_a_400_naming_the_field(api, incident, payload, field):
    statement = _submitted(api, incident)

    response = api("carol").post(f"{ACME}/statements/{statement['id']}/decision/", payload, format="json")

    assert response.status_code == 400
    assert list(assert_error_body(response, 400)["fields"]) == [field]
    assert _detail(api, "carol", statement["id"])["status"] == "in_review"


@pytest.mark.parametrize("path", ["statements/{id}x/", "statements/99999999999999999999999/", "statements/0/", "statements/-1/"])
def test_a_statement_id_that_is_no_statement_is_a_404(api, incident, path):
    statement = _draft(api, incident)

    response = api("bob").get(f"{ACME}/{path.format(id=statement['id'])}")

    assert response.status_code == 404
    assert assert_error_body(response, 404)["code"] == "not_found"


def test_an_unknown_statement_is_a_404_saying_so(api, incident):
    response = api("bob").post(f"{ACME}/statements/987654/submit/")

    assert response.status_code == 404
    assert response.json()["error"]["message"] == "No such statement."


# --- tenancy --------------------------------------------------------------------------------
def test_an_outsider_cannot_reach_org_a_statements_through_his_own_organisation(api, incident):
    statement = _submitted(api, incident)
    charlie = api("charlie")
    paths = [
        ("get", f"{BRAVO}/statements/{statement['id']}/", None),
        ("get", f"{BRAVO}/statements/{statement['id']}/versions/", None),
        ("get", f"{BRAVO}/statements/{statement['id']}/versions/1/", None),
        ("get", f"{BRAVO}/statements/{statement['id']}/diff/", None),
        ("post", f"{BRAVO}/statements/{statement['id']}/versions/", {"base_version": 1, "body": "Hijacked."}),
        ("post", f"{BRAVO}/statements/{statement['id']}/decision/", {"version": 1, "decision": "approve"}),
        ("post", f"{BRAVO}/statements/{statement['id']}/publish/", None),
        ("post", f"{BRAVO}/statements/{statement['id']}/translations/", {"language": "nl", "body": "Gekaapt."}),
        ("get", f"{BRAVO}/incidents/{incident.pk}/statements/", None),
        ("post", f"{BRAVO}/incidents/{incident.pk}/statements/", {"kind": "holding", "body": "Hijacked."}),
        ("post", f"{BRAVO}/incidents/{incident.pk}/tone-check/", {"text": "Hello"}),
        ("get", f"{BRAVO}/incidents/{incident.pk}/promises/", None),
    ]
    for method, path, body in paths:
        response = getattr(charlie, method)(path, body, format="json") if body else getattr(charlie, method)(path)
        assert response.status_code == 404, (method, path, response.content)
        assert assert_error_body(response, 404)["message"] in ("No such statement.", "No such incident.")

    assert charlie.get(f"{ACME}/statements/{statement['id']}/").status_code == 404
    assert charlie.get(f"{BRAVO}/approvals/").json()["count"] == 0
    stored = Statement.objects.for_organization(incident.organization).get(pk=statement["id"])
    assert stored.status == StatementStatus.IN_REVIEW and stored.current_version.number == 1
    assert not stored.approvals.exists() and not stored.translations.exists()


def test_an_outsider_cannot_touch_org_a_channels_or_promises_through_his_own_organisation(api, incident, alice_membership, bob):
    promise = _published_promise(incident)
    hub = services.builtin_channels(incident.organization_id)["hub"]
    services.channel_access_grant(channel=hub, actor_membership=alice_membership, user_id=bob.pk)
    charlie = api("charlie")

    assert charlie.get(f"{BRAVO}/channels/{hub.pk}/").status_code == 404
    assert charlie.patch(f"{BRAVO}/channels/{hub.pk}/", {"is_enabled": False}, format="json").status_code == 404
    assert charlie.post(f"{BRAVO}/channels/{hub.pk}/access/", {"user_id": bob.pk}, format="json").status_code == 404
    assert charlie.delete(f"{BRAVO}/channels/{hub.pk}/access/{bob.pk}/").status_code == 404
    assert charlie.post(f"{BRAVO}/promises/{promise.pk}/keep/").status_code == 404
    assert hub.pk not in {channel["id"] for channel in charlie.get(f"{BRAVO}/channels/").json()["results"]}
    hub.refresh_from_db()
    promise.refresh_from_db()
    assert hub.is_enabled and promise.status == PromiseStatus.OPEN
    assert ChannelAccess.objects.for_organization(incident.organization).filter(channel=hub, user=bob, revoked_at__isnull=True).exists()


# --- the approval queue ---------------------------------------------------------------------
def test_the_approval_queue_lists_only_what_the_caller_may_approve(api, incident):
    bobs = _submitted(api, incident, headline="Bob's update", kind="update")
    carols = _submitted(api, incident, "carol", headline="Carol's update", kind="update")
    _draft(api, incident, headline="Not sent yet")

    def queue(username):
        response = api(username).get(f"{ACME}/approvals/")
        assert response.status_code == 200
        return [row["id"] for row in response.json()["results"]]

    assert queue("carol") == [bobs["id"]]  # never her own
    assert queue("erin") == [bobs["id"], carols["id"]]  # a manager and up covers the role
    assert queue("bob") == [] and queue("frank") == [] and queue("dave") == []
    row = api("erin").get(f"{ACME}/approvals/").json()["results"][0]
    assert row["incident_title"] == "Nuts in the granola" and row["review_due_at"] and row["overdue"] is False
    assert row["link"] == f"/o/acme/incidents/{incident.pk}/statements/{bobs['id']}/"

    _decide(api, "carol", bobs["id"], 1)
    assert queue("carol") == [] and queue("erin") == [carols["id"]]


# --- publishing ---------------------------------------------------------------------------
def test_publishing_follows_the_channels_access_list(api, incident, publish_on_commit):
    statement = _submitted(api, incident, "frank")
    _decide(api, "carol", statement["id"], 1)
    hub_id = services.builtin_channels(incident.organization_id)["hub"].pk
    assert _detail(api, "bob", statement["id"])["can"]["publish"] is False
    refused = api("bob").post(f"{ACME}/statements/{statement['id']}/publish/")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "publishing_not_allowed"

    granted = api("alice").post(f"{ACME}/channels/{hub_id}/access/", {"user_id": _user_id("bob")}, format="json")
    assert granted.status_code == 201 and granted.json()["user"] == "Bob"
    assert _detail(api, "bob", statement["id"])["can"]["publish"] is True
    assert _detail(api, "carol", statement["id"])["can"]["publish"] is False  # the list now decides, not the role
    with publish_on_commit():
        published = api("bob").post(f"{ACME}/statements/{statement['id']}/publish/")

    assert published.status_code == 202, published.content
    assert [(row["channel_kind"], row["status"]) for row in published.json()["publications"]] == [("hub", "queued")]
    assert Publication.objects.for_organization(incident.organization).get(statement_id=statement["id"]).status == PublicationStatus.SUCCEEDED
    again = api("bob").post(f"{ACME}/statements/{statement['id']}/publish/")
    assert again.status_code == 400 and again.json()["error"]["code"] == "not_approved"


def test_an_unapproved_statement_is_not_published(api, incident):
    statement = _submitted(api, incident)

    response = api("carol").post(f"{ACME}/statements/{statement['id']}/publish/")

    assert response.status_code == 400
    assert assert_error_body(response, 400)["code"] == "not_approved"
    assert not Publication.objects.for_organization(incident.organization).exists()


def test_revoking_and_locking_down_over_http(api, incident):
    hub_id = services.builtin_channels(incident.organization_id)["hub"].pk
    alice = api("alice")
    alice.post(f"{ACME}/channels/{hub_id}/access/", {"user_id": _user_id("bob"), "in_lockdown": True}, format="json")
    assert [row["user"] for row in alice.get(f"{ACME}/channels/{hub_id}/").json()["access"]] == ["Bob"]

    assert alice.delete(f"{ACME}/channels/{hub_id}/access/{_user_id('bob')}/").status_code == 204
    again = alice.delete(f"{ACME}/channels/{hub_id}/access/{_user_id('bob')}/")
    assert again.status_code == 400 and again.json()["error"]["code"] == "not_granted"
    assert alice.get(f"{ACME}/channels/{hub_id}/").json()["access"] == []
    viewer = alice.post(f"{ACME}/channels/{hub_id}/access/", {"user_id": _user_id("dave")}, format="json")
    assert viewer.status_code == 400 and list(viewer.json()["error"]["fields"]) == ["user_id"]
    outsider = alice.post(f"{ACME}/channels/{hub_id}/access/", {"user_id": _user_id("charlie")}, format="json")
    assert outsider.status_code == 400

    assert api("dave").get(f"{ACME}/publishing/lockdown/").json() == {"lockdown": None}
    started = alice.post(f"{ACME}/publishing/lockdown/", {"reason": "Account compromise suspected"}, format="json")
    assert started.status_code == 201 and started.json()["started_by"] == "Alice"
    assert api("dave").get(f"{ACME}/publishing/lockdown/").json()["lockdown"]["reason"] == "Account compromise suspected"
    assert alice.post(f"{ACME}/publishing/lockdown/", {"reason": "Twice"}, format="json").status_code == 409
    assert alice.post(f"{ACME}/publishing/lockdown/", {"reason": ""}, format="json").status_code == 400
    assert alice.delete(f"{ACME}/publishing/lockdown/").status_code == 204
    assert alice.delete(f"{ACME}/publishing/lockdown/").status_code == 400
    assert api("dave").get(f"{ACME}/publishing/lockdown/").json() == {"lockdown": None}


# --- channels -----------------------------------------------------------------------------
SECRET = "super-secret-mastodon-token-5f2a"


def test_channel_credentials_never_appear_in_any_response(api, incident):
    alice = api("alice")
    created = alice.post(
        f"{ACME}/channels/",
        {"kind": "mastodon", "name": "Acme on Mastodon", "config": {"instance_url": "https://mastodon.example"}, "credentials": {"access_token": SECRET}},
        format="json",
    )
    assert created.status_code == 201, created.content
    channel_id = created.json()["id"]
    responses = [
        created,
        alice.get(f"{ACME}/channels/"),
        api("bob").get(f"{ACME}/channels/"),
        alice.get(f"{ACME}/channels/{channel_id}/"),
        alice.patch(f"{ACME}/channels/{channel_id}/", {"is_enabled": False}, format="json"),
        alice.post(f"{ACME}/channels/{channel_id}/access/", {"user_id": _user_id("bob")}, format="json"),
        alice.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json"),
    ]

    for response in responses:
        assert response.status_code in (200, 201)
        assert SECRET.encode() not in response.content
    assert created.json()["has_credentials"] is True and created.json()["config"]["instance_url"] == "https://mastodon.example"
    assert "credentials" not in created.json() and "credentials_encrypted" not in created.json()
    channel = PublishingChannel.objects.for_organization(incident.organization).get(pk=channel_id)
    assert SECRET not in channel.credentials_encrypted and channel.credentials() == {"access_token": SECRET}
    assert channel.is_enabled is False


def test_the_channel_list_has_the_hub_and_email_from_the_first_look(api, incident):
    body = api("bob").get(f"{ACME}/channels/").json()

    assert sorted((row["kind"], row["has_credentials"]) for row in body["results"]) == [("email", False), ("hub", False)]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"kind": "hub", "name": "Second hub"}, "kind"),
        ({"kind": "fax", "name": "Fax"}, "kind"),
        ({"kind": "mastodon", "name": ""}, "name"),
        ({"kind": "mastodon", "name": "M", "config": "https://mastodon.example"}, "config"),
        ({"kind": "mastodon", "name": "M", "config": {"instance_url": "http://insecure.example"}, "credentials": {"access_token": "t"}}, "config"),
        ({"kind": "mastodon", "name": "M", "config": {"instance_url": "https://mastodon.example"}, "credentials": {}}, "config"),
    ],
)
def test_a_bad_channel_is_a_400_naming_the_field(api, incident, payload, field):
    response = api("alice").post(f"{ACME}/channels/", payload, format="json")

    assert response.status_code == 400, response.content
    assert list(assert_error_body(response, 400)["fields"]) == [field]
    assert not PublishingChannel.objects.for_organization(incident.organization).exclude(kind__in=["hub", "email"]).exists()


def test_a_channel_name_is_unique_in_the_organisation(api, incident):
    payload = {"kind": "mastodon", "name": "Acme", "config": {"instance_url": "https://mastodon.example"}, "credentials": {"access_token": "t"}}
    assert api("alice").post(f"{ACME}/channels/", payload, format="json").status_code == 201

    response = api("alice").post(f"{ACME}/channels/", payload, format="json")

    assert response.status_code == 409 and response.json()["error"]["code"] == "duplicate_name"


# --- translations, corrections, promises, lists ---------------------------------------------
def test_a_translation_is_a_statement_of_its_own_linked_both_ways(api, incident):
    original = _draft(api, incident)

    response = api("bob").post(f"{ACME}/statements/{original['id']}/translations/", {"language": "nl", "headline": "Terugroepactie", "body": "Het spijt ons."}, format="json")

    assert response.status_code == 201, response.content
    translation = response.json()
    assert translation["language"] == "nl" and translation["status"] == "draft"
    assert translation["translation_of"]["id"] == original["id"]
    assert [row["language"] for row in _detail(api, "dave", original["id"])["translations"]] == ["nl"]
    duplicate = api("bob").post(f"{ACME}/statements/{original['id']}/translations/", {"language": "nl", "body": "Nog eens."}, format="json")
    assert duplicate.status_code == 409 and duplicate.json()["error"]["code"] == "translation_exists"
    same = api("bob").post(f"{ACME}/statements/{original['id']}/translations/", {"language": "en", "body": "Again."}, format="json")
    assert same.status_code == 400 and list(same.json()["error"]["fields"]) == ["language"]


def test_a_correction_points_at_the_published_statement_it_corrects(api, incident, publish_on_commit):
    first = _submitted(api, incident)
    with publish_on_commit():
        _decide(api, "carol", first["id"], 1, publish=True)

    correction = _draft(api, incident, kind="correction", corrects_id=first["id"], body="Correction: it was batch 43.")

    assert correction["corrects"]["id"] == first["id"] and correction["corrects_id"] == first["id"]


def test_the_statement_list_filters_by_kind_status_and_language(api, incident):
    update = _submitted(api, incident, kind="update")
    holding = _draft(api, incident)
    dutch = api("bob").post(f"{ACME}/statements/{holding['id']}/translations/", {"language": "nl", "body": "Het spijt ons."}, format="json").json()
    url = _statements_url(incident)

    def ids(**query):
        response = api("dave").get(url, query)
        assert response.status_code == 200
        return sorted(row["id"] for row in response.json()["results"])

    assert ids() == sorted([update["id"], holding["id"], dutch["id"]])
    assert ids(kind="update") == [update["id"]]
    assert ids(status="in_review") == [update["id"]]
    assert ids(language="nl") == [dutch["id"]]
    assert api("dave").get(url, {"page_size": 1}).json()["count"] == 3
    for name, value in (("kind", "poem"), ("status", "lost"), ("language", "x" * 40)):
        response = api("dave").get(url, {name: value})
        assert response.status_code == 400 and list(response.json()["error"]["fields"]) == [name]


def _published_promise(incident) -> Promise:
    from crisiscenter.models import Membership

    bob = Membership.objects.for_organization(incident.organization).get(user__username="bob")
    carol = Membership.objects.for_organization(incident.organization).get(user__username="carol")
    due = (timezone.now() + timedelta(hours=2)).isoformat()
    statement = services.statement_draft(
        incident=incident, actor_membership=bob, kind="update", fields={"body": "We are sorry.", "promises": [{"text": "Refund form online", "due_at": due}]}
    )
    services.statement_submit(statement=statement, actor_membership=bob)
    services.statement_decide(statement=statement, actor_membership=carol, version_number=1, decision="approve", publish=True)
    for publication in Publication.objects.for_organization(incident.organization).filter(statement=statement):
        services.publication_attempt(publication_id=publication.pk)
    return Promise.objects.for_organization(incident.organization).get(statement=statement)


def test_promises_are_listed_and_kept(api, incident):
    promise = _published_promise(incident)

    listed = api("dave").get(f"{ACME}/incidents/{incident.pk}/promises/").json()
    kept = api("bob").post(f"{ACME}/promises/{promise.pk}/keep/")

    assert [(row["id"], row["text"], row["status"]) for row in listed["results"]] == [(promise.pk, "Refund form online", "open")]
    assert kept.status_code == 200 and kept.json()["status"] == "kept" and kept.json()["kept_by"] == "Bob"
    promise.refresh_from_db()
    assert promise.status == PromiseStatus.KEPT
    assert api("bob").post(f"{ACME}/promises/987654/keep/").status_code == 404


def test_deadlines_keep_the_moment_they_were_given_with_their_zone(api, incident):
    from django.utils.dateparse import parse_datetime

    statement = _draft(api, incident, promises=[{"text": "Call every customer", "due_at": "2026-12-05T09:00:00+01:00"}], next_update_at="2026-12-05T08:00:00Z")

    [promise] = statement["current"]["promises"]
    assert promise["text"] == "Call every customer"
    assert parse_datetime(promise["due_at"]) == parse_datetime("2026-12-05T08:00:00Z")
    assert parse_datetime(statement["current"]["next_update_at"]) == parse_datetime("2026-12-05T08:00:00Z")


def _user_id(username: str) -> int:
    from crisiscenter.models import User

    return User.objects.get(username=username).pk


# --- hostile input is a 4xx, never a 500 ------------------------------------------------------
HOSTILE = ["\x00", "null\x00byte", {"nested": {"deeper": ["\x00"]}}, [[[]]], 2**80, -1, 1.5, True, None, "9" * 400]


@pytest.mark.parametrize("value", HOSTILE, ids=lambda value: repr(value)[:20])
def test_hostile_values_in_any_field_are_refused_without_a_server_error(api, incident, value):
    statement = _submitted(api, incident)
    hub_id = services.builtin_channels(incident.organization_id)["hub"].pk
    calls = [
        ("bob", "post", _statements_url(incident), {"kind": "holding", "body": "We are sorry."}, ["kind", "language", "body", "headline", "template_index", "spokesperson_id", "target_channels", "corrects_id", "promises", "next_update_at", "public_status"]),
        ("bob", "post", f"{ACME}/statements/{statement['id']}/versions/", {"base_version": 1}, ["base_version", "body", "change_note", "spokesperson_id", "target_channels", "promises"]),
        ("carol", "post", f"{ACME}/statements/{statement['id']}/decision/", {"version": 1, "decision": "reject", "comment": "No."}, ["version", "decision", "comment", "publish"]),
        ("bob", "post", f"{ACME}/statements/{statement['id']}/translations/", {"language": "nl", "body": "Sorry."}, ["language", "body"]),
        ("bob", "post", f"{ACME}/incidents/{incident.pk}/tone-check/", {"text": "Hello"}, ["text", "language", "kind"]),
        ("alice", "post", f"{ACME}/channels/", {"kind": "mastodon", "name": "M", "config": {"instance_url": "https://mastodon.example"}, "credentials": {"access_token": "t"}}, ["kind", "name", "config", "credentials"]),
        ("alice", "patch", f"{ACME}/channels/{hub_id}/", {"is_enabled": True}, ["is_enabled"]),
        ("alice", "post", f"{ACME}/channels/{hub_id}/access/", {"user_id": _user_id("bob")}, ["user_id", "in_lockdown"]),
        ("alice", "post", f"{ACME}/publishing/lockdown/", {"reason": "Because"}, ["reason"]),
    ]
    for username, method, url, valid, fields in calls:
        for field in fields:
            response = getattr(api(username), method)(url, {**valid, field: value}, format="json")
            assert response.status_code < 500, (url, field, response.content)
            if response.status_code >= 400:
                assert_error_body(response, response.status_code)
    for query in ("kind", "status", "language"):
        assert api("dave").get(_statements_url(incident), {query: str(value)}).status_code < 500
    for config in ({"instance_url": f"https://mastodon.example/{value}"}, {"instance_url": "https://mastodon.example", "visibility": value}):
        response = api("alice").post(f"{ACME}/channels/", {"kind": "mastodon", "name": f"M {config}"[:100], "config": config, "credentials": {"access_token": "t"}}, format="json")
        assert response.status_code < 500


def test_approve_and_publish_by_someone_the_channel_refuses_changes_nothing(api, incident, alice_membership, frank):
    # Current service behaviour: the approval and the publishing are one transaction, so a
    # refused publish takes the approval back with it; the approver is told why.
    hub = services.builtin_channels(incident.organization_id)["hub"]
    services.channel_access_grant(channel=hub, actor_membership=alice_membership, user_id=frank.pk)
    statement = _submitted(api, incident)

    response = _decide(api, "carol", statement["id"], 1, publish=True)

    assert response.status_code == 403
    assert assert_error_body(response, 403)["code"] == "publishing_not_allowed"
    after = _detail(api, "carol", statement["id"])
    assert after["status"] == "in_review" and after["approvals"] == []


def _query_counts(api, urls) -> list[int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    erin = api("erin")
    counts = []
    for url in urls:
        with CaptureQueriesContext(connection) as captured:
            assert erin.get(url).status_code == 200
        counts.append(len(captured))
    return counts


def _more_of_everything(api, incident) -> None:
    for _ in range(3):
        _submitted(api, incident, "frank", kind="update")
        _published_promise(incident)
    email = services.builtin_channels(incident.organization_id)["email"]
    api("alice").post(f"{ACME}/channels/{email.pk}/access/", {"user_id": _user_id("bob")}, format="json")


def test_lists_cost_the_same_number_of_queries_for_one_row_or_many(api, incident):
    _submitted(api, incident, kind="update")
    _published_promise(incident)
    urls = [_statements_url(incident), f"{ACME}/incidents/{incident.pk}/promises/", f"{ACME}/channels/"]
    few = _query_counts(api, urls)

    _more_of_everything(api, incident)

    assert _query_counts(api, urls) == few


def test_the_approval_queue_costs_the_same_number_of_queries_for_one_row_or_many(api, incident):
    _submitted(api, incident, kind="update")
    few = _query_counts(api, [f"{ACME}/approvals/"])

    _more_of_everything(api, incident)

    assert _query_counts(api, [f"{ACME}/approvals/"]) == few


def test_a_webhooks_address_shows_only_its_host_below_admin(api, incident, alice_membership):
    """Webhook paths are often their secret (…/hooks/T0/B0/XXXX): responders see the host."""
    services.channel_create(organization=incident.organization, actor_membership=alice_membership, kind="webhook", name="Partner",
                            config={"url": "https://hooks.partner.example/secret-path-123"}, credentials={"secret": "s" * 32})
    as_bob = {channel["name"]: channel for channel in api("bob").get(f"{ACME}/channels/").json()["results"]}
    as_alice = {channel["name"]: channel for channel in api("alice").get(f"{ACME}/channels/").json()["results"]}
    assert "secret-path" not in json.dumps(as_bob) and as_bob["Partner"]["config"]["url"].startswith("https://hooks.partner.example/")
    assert as_alice["Partner"]["config"]["url"] == "https://hooks.partner.example/secret-path-123"


def test_each_version_names_the_spokesperson_approved_with_its_words(api, incident):
    statement = _draft(api, incident, spokesperson_id=_user_id("carol"))
    api("bob").post(f"{ACME}/statements/{statement['id']}/versions/", {"base_version": 1, "spokesperson_id": _user_id("frank")}, format="json")

    listed = api("dave").get(f"{ACME}/statements/{statement['id']}/versions/").json()["results"]
    first = api("dave").get(f"{ACME}/statements/{statement['id']}/versions/1/").json()["version"]
    current = _detail(api, "dave", statement["id"])["current"]

    assert [(version["number"], version["spokesperson"]) for version in listed] == [(2, "Frank"), (1, "Carol")]
    assert (first["spokesperson_id"], first["spokesperson"]) == (_user_id("carol"), "Carol")
    assert (current["spokesperson_id"], current["spokesperson"]) == (_user_id("frank"), "Frank")


def test_a_viewer_holding_an_approver_role_may_not_approve(api, incident, carol_membership, dave_membership):
    incident_services.incident_assign_role(incident=incident, actor_membership=carol_membership, role="approver_manager", member_id=dave_membership.user_id)
    statement = _submitted(api, incident)

    assert _detail(api, "dave", statement["id"])["can"]["approve"] is False
    assert api("dave").get(f"{ACME}/approvals/").json()["results"] == []
    assert _decide(api, "dave", statement["id"], 1).status_code == 403
    assert _detail(api, "carol", statement["id"])["approvals"] == []
