"""Playbooks: the validated document, its versions, import and export, and who sees what.

alice (owner) and erin (admin) write playbooks in org A; charlie owns org B and must never
reach org A's playbooks, whatever ids he tries.
"""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import transaction
from django.utils.html import escape

from crisiscenter.errors import ServiceError
from crisiscenter.models import AppendOnlyError, AuditEntry, Organization
from crisiscenter.realtime import organization_group
from playbooks import document as playbook_document
from playbooks import selectors, services
from playbooks.models import Playbook, PlaybookVersion
from tests.factories import valid_playbook_document

pytestmark = pytest.mark.django_db

ACME_API = "/api/v1/organizations/acme"
BRAVO_API = "/api/v1/organizations/bravo"
STARTER_FILES = sorted(selectors.STARTERS_DIR.glob("*.yaml"))




@pytest.fixture
def recall(alice_membership) -> Playbook:
    """Org A's "Granola recall" playbook at version 1."""
    return services.playbook_create(organization=alice_membership.organization, actor_membership=alice_membership, document=valid_playbook_document())


@pytest.fixture
def recall_at_version_2(recall, alice_membership) -> Playbook:
    services.playbook_update(
        playbook=recall, actor_membership=alice_membership, document=valid_playbook_document(scenario="The supplier confirmed the nuts.")
    )
    return recall


def _upload(content: bytes, name: str = "playbook.yaml") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content)


def _versions(playbook: Playbook) -> list[PlaybookVersion]:
    return list(PlaybookVersion.objects.for_organization(playbook.organization_id).filter(playbook=playbook).order_by("number"))


def _playbook_names(organization: Organization) -> list[str]:
    return sorted(Playbook.objects.for_organization(organization).values_list("name", flat=True))


# --- Starters and the demo --------------------------------------------------------------
def test_six_starter_playbooks_ship_with_the_app():
    assert [path.stem for path in STARTER_FILES] == [
        "data-breach", "external-disaster", "offensive-post", "product-recall", "rumour", "service-outage",
    ]


@pytest.mark.parametrize("path", STARTER_FILES, ids=lambda path: path.stem)
def test_every_starter_playbook_is_a_valid_document(path):
    document = playbook_document.parse(path.read_bytes())

    assert playbook_document.validate(document) == []
    assert document["format"] == playbook_document.FORMAT


def test_demo_setup_loads_all_six_starters_into_the_demo_organisation_with_roles_filled():
    call_command("demo_setup", stdout=StringIO())

    demo = Organization.objects.get(slug="demo")
    starters = selectors.starter_documents()
    assert _playbook_names(demo) == sorted(document["name"] for document in starters.values())
    demo_people = {"admin", "manager", "responder"}
    for playbook in Playbook.objects.for_organization(demo):
        [version] = _versions(playbook)
        roles = version.document["roles"]
        assert roles, playbook.name
        for assignment in roles:
            if assignment["role"] == "approver_legal":
                continue  # the demo has no lawyer among its three people
            assert assignment["member"] in demo_people, (playbook.name, assignment)
            assert assignment["backup"] in demo_people | {None}, (playbook.name, assignment)
            assert assignment["member"] != assignment["backup"]


def test_running_demo_setup_again_does_not_duplicate_the_starters():
    call_command("demo_setup", stdout=StringIO())
    call_command("demo_setup", stdout=StringIO())

    demo = Organization.objects.get(slug="demo")
    assert Playbook.objects.for_organization(demo).count() == 6
    assert PlaybookVersion.objects.for_organization(demo).count() == 6


# --- Validation: every problem at once, each with its path ------------------------------
def _document_with_six_problems() -> dict:
    document = valid_playbook_document(category="hazard", default_severity=7)
    document["checklist"] = [{"title": "Call the supplier", "role": "incident_lead"}]  # no due_minutes
    document["holding_statements"][0]["text"] = "We are sorry, says {ceo_name}."
    document["escalation"].append({"severity": 1, "first_statement_due_minutes": 60, "approvals_required": 0})
    document["roles"] = [{"role": "incident_lead", "member": "zoe", "backup": None}]
    return document


# (path, part of the message) for each problem of _document_with_six_problems, in order.
SIX_PROBLEMS = [
    ("category", "'hazard' is not one of"),
    ("checklist[0]", "'due_minutes' is a required property"),
    ("default_severity", "7 is not one of [1, 2, 3, 4]"),
    ("escalation", "severity 1 appears more than once"),
    ("holding_statements[0].text", "unknown placeholder {ceo_name}"),
    ("roles[0].member", "'zoe' is not a member of this organisation"),
]


def _assert_six_problems(problems: list[tuple[str, str]]) -> None:
    assert [path for path, _message in problems] == [path for path, _fragment in SIX_PROBLEMS]
    for (path, message), (_path, fragment) in zip(problems, SIX_PROBLEMS, strict=True):
        assert fragment in message, path


def test_validate_reports_every_problem_at_once_with_its_path():
    problems = playbook_document.validate(_document_with_six_problems(), member_usernames={"alice", "bob"})

    _assert_six_problems([(problem.path, problem.message) for problem in problems])


def test_importing_a_malformed_file_through_the_api_lists_every_problem(alice, org_a, api_client_for):
    content = playbook_document.to_yaml(_document_with_six_problems()).encode()

    response = api_client_for(alice).post(f"{ACME_API}/playbooks/import/", {"file": _upload(content)}, format="multipart")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_playbook"
    assert error["message"] == "The playbook has 6 problems."
    assert all(set(problem) == {"path", "message"} for problem in error["problems"])
    _assert_six_problems([(problem["path"], problem["message"]) for problem in error["problems"]])
    assert _playbook_names(org_a) == []


def test_importing_a_malformed_file_from_the_playbooks_page_shows_every_problem(alice, org_a, login_client):
    content = playbook_document.to_yaml(_document_with_six_problems()).encode()

    response = login_client(alice).post("/o/acme/playbooks/import/", {"file": _upload(content, "recall.yaml")})

    assert response.status_code == 400
    page = response.content.decode()
    assert "recall.yaml was not imported" in page
    assert "6 problems" in page
    for problem in playbook_document.validate(_document_with_six_problems(), member_usernames={"alice"}):
        assert f"<code>{escape(problem.path)}</code>: {escape(problem.message)}" in page
    assert _playbook_names(org_a) == []


def test_saving_a_malformed_document_from_the_edit_page_shows_every_problem(alice, recall, login_client):
    content = playbook_document.to_yaml(_document_with_six_problems())

    response = login_client(alice).post(f"/o/acme/playbooks/{recall.pk}/edit/", {"content": content, "change_note": "oops"})

    assert response.status_code == 400
    page = response.content.decode()
    assert "6 problems to fix" in page
    for path, _fragment in SIX_PROBLEMS:
        assert f"<code>{escape(path)}</code>" in page
    assert [version.number for version in _versions(recall)] == [1]


def test_a_nan_trigger_threshold_is_a_problem_not_a_server_error(alice, org_a, api_client_for):
    content = playbook_document.to_yaml(valid_playbook_document()).encode() + b"triggers: {ratio_to_baseline: .nan}\n"

    response = api_client_for(alice).post(f"{ACME_API}/playbooks/import/", {"file": _upload(content)}, format="multipart")

    assert response.status_code == 400
    assert response.json()["error"]["problems"] == [{"path": "triggers.ratio_to_baseline", "message": "must be a number, not NaN"}]
    assert _playbook_names(org_a) == []


# --- Files that are refused before validation -------------------------------------------
ALIASED_FILES = {
    "alias": b"format: crisiscenter.playbook/v1\nname: &title Recall\nscenario: *title\ncategory: other\ndefault_severity: 3\n",
    "merge key": (
        b"format: crisiscenter.playbook/v1\nname: Recall\ncategory: other\ndefault_severity: 3\n"
        b"escalation:\n  - &rung {severity: 1, first_statement_due_minutes: 15, approvals_required: 0}\n"
        b"  - {<<: *rung, severity: 2}\n"
    ),
}


@pytest.mark.parametrize("content", ALIASED_FILES.values(), ids=ALIASED_FILES.keys())
def test_yaml_with_anchors_and_aliases_is_refused(alice, org_a, api_client_for, content):
    response = api_client_for(alice).post(f"{ACME_API}/playbooks/import/", {"file": _upload(content)}, format="multipart")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_playbook"
    [problem] = error["problems"]
    assert problem["path"] == ""
    assert "anchors and aliases are not allowed" in problem["message"]
    assert _playbook_names(org_a) == []


NOT_UTF8 = "name: Café recall\n".encode("latin-1")
OVER_256_KB = b"# padding\n" * (26 * 1024 + 1)  # 266,250 bytes


def test_parse_refuses_a_document_over_256_kb_even_as_text():
    with pytest.raises(playbook_document.DocumentError) as refused:
        playbook_document.parse(OVER_256_KB.decode())

    assert str(refused.value) == "the file is larger than 256 KB"


def test_a_file_that_is_not_utf8_is_refused_through_the_api_with_a_clear_message(alice, org_a, api_client_for):
    response = api_client_for(alice).post(f"{ACME_API}/playbooks/import/", {"file": _upload(NOT_UTF8)}, format="multipart")

    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["problems"]) == ("invalid_playbook", [{"path": "", "message": "the file is not UTF-8 text"}])
    assert _playbook_names(org_a) == []


def test_a_file_over_256_kb_is_refused_through_the_api_with_a_clear_message(alice, org_a, api_client_for):
    response = api_client_for(alice).post(f"{ACME_API}/playbooks/import/", {"file": _upload(OVER_256_KB)}, format="multipart")

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"file": ["The file is larger than 256 KB."]}
    assert _playbook_names(org_a) == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(NOT_UTF8, "the file is not UTF-8 text", id="not UTF-8"),
        pytest.param(OVER_256_KB, "the file is larger than 256 KB", id="over 256 KB"),
    ],
)
def test_a_refused_file_is_explained_on_the_import_page(alice, org_a, login_client, content, message):
    response = login_client(alice).post("/o/acme/playbooks/import/", {"file": _upload(content)})

    assert response.status_code == 400
    assert message in response.content.decode()
    assert _playbook_names(org_a) == []


def test_a_json_file_imports_too(alice, org_a, api_client_for):
    document = valid_playbook_document(name="Payment outage", category="service_outage")
    content = json.dumps(document).encode()

    response = api_client_for(alice).post(f"{ACME_API}/playbooks/import/", {"file": _upload(content, "outage.json")}, format="multipart")

    assert response.status_code == 201, response.content
    assert response.json()["document"] == document
    playbook = Playbook.objects.for_organization(org_a).get(name="Payment outage")
    [version] = _versions(playbook)
    assert (version.number, version.document, version.change_note) == (1, document, "Imported")


# --- Export and import round trip -------------------------------------------------------
@pytest.mark.parametrize("file_format", ["yaml", "json"])
def test_an_exported_playbook_imports_as_an_equal_document_in_another_organisation(
    org_a, alice_membership, charlie, org_b, api_client_for, file_format
):
    # Roles stay unfilled (member null): usernames of org A mean nothing in org B.
    document = valid_playbook_document(scenario="Café owners report “nuts” in bars — batch 42.\nSecond line.")
    acme_playbook = services.playbook_create(organization=org_a, actor_membership=alice_membership, document=document)

    exported = api_client_for(alice_membership.user).get(f"{ACME_API}/playbooks/{acme_playbook.pk}/export/", {"format": file_format})
    assert exported.status_code == 200
    assert exported["Content-Disposition"] == f'attachment; filename="granola-recall-v1.{file_format}"'
    response = api_client_for(charlie).post(
        f"{BRAVO_API}/playbooks/import/", {"file": _upload(exported.content, f"granola-recall-v1.{file_format}")}, format="multipart"
    )

    assert response.status_code == 201, response.content
    bravo_playbook = Playbook.objects.for_organization(org_b).get()
    assert bravo_playbook.pk != acme_playbook.pk
    assert (bravo_playbook.name, bravo_playbook.category) == ("Granola recall", "product_recall")
    [version] = _versions(bravo_playbook)
    assert version.document == document


# --- Versions ---------------------------------------------------------------------------
def test_editing_a_playbook_adds_version_2_and_keeps_version_1_unchanged(erin, recall, api_client_for):
    edited = valid_playbook_document(default_severity=1, key_messages=["Do not eat bars from batch 42."])
    api = api_client_for(erin)

    response = api.post(f"{ACME_API}/playbooks/{recall.pk}/versions/", {"document": edited, "change_note": "Louder"}, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["number"] == 2
    first, second = _versions(recall)
    assert (first.number, first.document, first.change_note, first.created_by.username) == (1, valid_playbook_document(), "Created", "alice")
    assert (second.number, second.document, second.change_note, second.created_by) == (2, edited, "Louder", erin)
    recall.refresh_from_db()
    assert recall.latest_version_number == 2
    assert api.get(f"{ACME_API}/playbooks/{recall.pk}/versions/1/").json()["document"] == valid_playbook_document()
    assert api.get(f"{ACME_API}/playbooks/{recall.pk}/").json()["document"] == edited


def test_editing_from_the_edit_page_saves_the_next_version(alice, recall, login_client):
    content = playbook_document.to_yaml(valid_playbook_document(default_severity=1))

    response = login_client(alice).post(f"/o/acme/playbooks/{recall.pk}/edit/", {"content": content, "change_note": "Louder"})

    assert response.status_code == 302
    assert response["Location"] == f"/o/acme/playbooks/{recall.pk}/"
    first, second = _versions(recall)
    assert (first.document["default_severity"], second.document["default_severity"], second.change_note) == (2, 1, "Louder")


def _save_changed(version: PlaybookVersion) -> None:
    version.document = {**version.document, "name": "Tampered"}
    version.save()


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(_save_changed, id="save"),
        pytest.param(lambda version: version.delete(), id="delete"),
        pytest.param(lambda version: PlaybookVersion.unscoped.filter(pk=version.pk).update(change_note="Tampered"), id="queryset update"),
        pytest.param(lambda version: PlaybookVersion.unscoped.filter(pk=version.pk).delete(), id="queryset delete"),
        pytest.param(
            lambda version: PlaybookVersion.objects.for_organization(version.organization_id).filter(pk=version.pk).update(change_note="Tampered"),
            id="scoped update",
        ),
    ],
)
def test_playbook_versions_are_append_only(recall, tamper):
    [version] = _versions(recall)

    with pytest.raises(AppendOnlyError):
        tamper(version)

    [stored] = _versions(recall)
    assert (stored.pk, stored.document, stored.change_note) == (version.pk, valid_playbook_document(), "Created")


def test_saving_an_unchanged_document_adds_no_version(recall, alice_membership, sent_events, django_capture_on_commit_callbacks):
    same_document_in_another_key_order = dict(reversed(list(valid_playbook_document().items())))

    with django_capture_on_commit_callbacks(execute=True):
        version = services.playbook_update(
            playbook=recall, actor_membership=alice_membership, document=same_document_in_another_key_order, change_note="No change"
        )

    assert version.number == 1
    assert [stored.number for stored in _versions(recall)] == [1]
    recall.refresh_from_db()
    assert recall.latest_version_number == 1
    assert not AuditEntry.objects.for_organization(recall.organization).filter(action="playbook.versioned").exists()
    assert sent_events == []


def test_saving_the_unchanged_yaml_from_the_edit_page_adds_no_version(alice, recall, login_client):
    browser = login_client(alice)
    content = browser.get(f"/o/acme/playbooks/{recall.pk}/edit/").context["form"].initial["content"]

    response = browser.post(f"/o/acme/playbooks/{recall.pk}/edit/", {"content": content, "change_note": ""})

    assert response.status_code == 302
    assert [stored.number for stored in _versions(recall)] == [1]


# --- Comparing versions -----------------------------------------------------------------
def test_the_diff_api_lists_added_and_removed_lines(alice, recall_at_version_2, api_client_for):
    response = api_client_for(alice).get(f"{ACME_API}/playbooks/{recall_at_version_2.pk}/diff/", {"from": 1, "to": 2})

    assert response.status_code == 200
    body = response.json()
    assert (body["from"], body["to"]) == (1, 2)
    assert body["diff"][:2] == ["--- version 1", "+++ version 2"]
    changed = [line for line in body["diff"][2:] if line[:1] in "+-"]
    assert changed == [
        "-scenario: A batch of granola bars may contain nuts the label does not mention.",
        "+scenario: The supplier confirmed the nuts.",
    ]


def test_the_diff_page_marks_added_and_removed_lines(alice, recall_at_version_2, login_client):
    response = login_client(alice).get(f"/o/acme/playbooks/{recall_at_version_2.pk}/diff/", {"from": 1, "to": 2})

    assert response.status_code == 200
    page = response.content.decode()
    assert '<span class="removed">-scenario: A batch of granola bars may contain nuts the label does not mention.</span>' in page
    assert '<span class="added">+scenario: The supplier confirmed the nuts.</span>' in page


@pytest.mark.parametrize(
    ("query", "api_status"),
    [
        pytest.param({"from": 1, "to": 3}, 404, id="no such version"),
        pytest.param({"from": 1}, 400, id="no 'to'"),
        pytest.param({"from": "one", "to": 2}, 400, id="not a number"),
    ],
)
def test_comparing_with_a_missing_version_is_refused(alice, recall_at_version_2, api_client_for, login_client, query, api_status):
    api_response = api_client_for(alice).get(f"{ACME_API}/playbooks/{recall_at_version_2.pk}/diff/", query)
    page_response = login_client(alice).get(f"/o/acme/playbooks/{recall_at_version_2.pk}/diff/", query)

    assert api_response.status_code == api_status
    assert page_response.status_code == 404


# --- Archiving --------------------------------------------------------------------------
def test_archiving_hides_a_playbook_from_the_default_list_but_keeps_it_and_its_versions(
    erin, org_a, recall_at_version_2, api_client_for, login_client
):
    api = api_client_for(erin)

    response = api.post(f"{ACME_API}/playbooks/{recall_at_version_2.pk}/archive/", {"archived": True}, format="json")

    assert response.status_code == 200
    recall_at_version_2.refresh_from_db()
    assert recall_at_version_2.is_archived
    assert [version.number for version in _versions(recall_at_version_2)] == [1, 2]
    assert api.get(f"{ACME_API}/playbooks/").json()["results"] == []
    [listed] = api.get(f"{ACME_API}/playbooks/", {"archived": "true"}).json()["results"]
    assert (listed["id"], listed["is_archived"], listed["version"]) == (recall_at_version_2.pk, True, 2)
    assert api.get(f"{ACME_API}/playbooks/{recall_at_version_2.pk}/").status_code == 200
    browser = login_client(erin)
    assert "Granola recall" not in browser.get("/o/acme/playbooks/").content.decode()
    assert "Granola recall" in browser.get("/o/acme/playbooks/", {"archived": "1"}).content.decode()
    archived = AuditEntry.objects.for_organization(org_a).get(action="playbook.archived")
    assert (archived.actor, archived.object_id, archived.after) == (erin, str(recall_at_version_2.pk), {"archived": True})


def test_a_restored_playbook_is_listed_again(erin, recall, api_client_for):
    api = api_client_for(erin)
    api.post(f"{ACME_API}/playbooks/{recall.pk}/archive/", {"archived": True}, format="json")

    response = api.post(f"{ACME_API}/playbooks/{recall.pk}/archive/", {"archived": False}, format="json")

    assert response.status_code == 200
    recall.refresh_from_db()
    assert not recall.is_archived
    assert [row["name"] for row in api.get(f"{ACME_API}/playbooks/").json()["results"]] == ["Granola recall"]
    assert AuditEntry.objects.for_organization(recall.organization).filter(action="playbook.restored").count() == 1


# --- Names ------------------------------------------------------------------------------
def test_a_second_playbook_with_a_taken_name_is_refused_as_name_taken(alice, org_a, recall, api_client_for):
    response = api_client_for(alice).post(
        f"{ACME_API}/playbooks/", {"document": valid_playbook_document(category="other")}, format="json"
    )

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "name_taken"
    assert list(error["fields"]) == ["name"]
    assert _playbook_names(org_a) == ["Granola recall"]
    assert Playbook.objects.for_organization(org_a).get().category == "product_recall"


def test_the_same_playbook_name_in_another_organisation_is_fine(charlie, org_b, recall, api_client_for):
    response = api_client_for(charlie).post(f"{BRAVO_API}/playbooks/", {"document": valid_playbook_document()}, format="json")

    assert response.status_code == 201, response.content
    assert _playbook_names(org_b) == ["Granola recall"]
    assert Playbook.objects.for_organization(org_b).get().pk != recall.pk


def test_renaming_a_playbook_to_a_taken_name_is_refused_and_adds_no_version(recall, alice_membership):
    services.playbook_create(
        organization=recall.organization, actor_membership=alice_membership, document=valid_playbook_document(name="Data breach")
    )

    with pytest.raises(ServiceError) as refused:
        services.playbook_update(playbook=recall, actor_membership=alice_membership, document=valid_playbook_document(name="Data breach"))

    assert (refused.value.code, refused.value.field) == ("name_taken", "name")
    recall.refresh_from_db()
    assert (recall.name, recall.latest_version_number) == ("Granola recall", 1)
    assert [version.number for version in _versions(recall)] == [1]


# --- Audit trail and events -------------------------------------------------------------
def test_creating_a_playbook_is_audited_and_announced_after_the_commit(
    org_a, alice_membership, sent_events, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        playbook = services.playbook_create(organization=org_a, actor_membership=alice_membership, document=valid_playbook_document())
        assert sent_events == []  # nothing is announced while the transaction is open

    assert len(callbacks) == 1
    created = AuditEntry.objects.for_organization(org_a).get(action="playbook.created")
    assert (created.actor, created.object_id, created.after) == (alice_membership.user, str(playbook.pk), {"name": "Granola recall", "version": 1})
    [(group, event)] = sent_events
    assert group == organization_group(org_a.pk)
    assert (event["type"], event["organization"]) == ("playbook.created", "acme")
    assert event["data"] == {"playbook_id": playbook.pk, "name": "Granola recall", "version": 1}


def test_a_new_version_is_audited_and_announced_as_updated_after_the_commit(
    recall, erin_membership, sent_events, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.playbook_update(
            playbook=recall, actor_membership=erin_membership, document=valid_playbook_document(name="Granola bar recall"), change_note="Clearer"
        )
        assert sent_events == []

    assert len(callbacks) == 1
    versioned = AuditEntry.objects.for_organization(recall.organization).get(action="playbook.versioned")
    assert (versioned.actor, versioned.before, versioned.after) == (
        erin_membership.user,
        {"name": "Granola recall", "version": 1},
        {"name": "Granola bar recall", "version": 2, "note": "Clearer"},
    )
    [(group, event)] = sent_events
    assert group == organization_group(recall.organization_id)
    assert event["type"] == "playbook.updated"
    assert event["data"] == {"playbook_id": recall.pk, "name": "Granola bar recall", "version": 2}


def test_a_rolled_back_playbook_creation_announces_nothing(org_a, alice_membership, sent_events, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            services.playbook_create(organization=org_a, actor_membership=alice_membership, document=valid_playbook_document())
            raise RuntimeError("roll back")

    assert callbacks == []
    assert sent_events == []
    assert _playbook_names(org_a) == []
    assert not AuditEntry.objects.for_organization(org_a).filter(action="playbook.created").exists()


def test_archiving_is_audited_with_who_did_it(recall, erin_membership):
    services.playbook_set_archived(playbook=recall, actor_membership=erin_membership, archived=True)

    archived = AuditEntry.objects.for_organization(recall.organization).get(action="playbook.archived")
    assert (archived.actor, archived.before, archived.after) == (erin_membership.user, {"archived": False}, {"archived": True})


# --- Tenant isolation -------------------------------------------------------------------
@pytest.fixture
def bravo_playbook(charlie_membership) -> Playbook:
    """Org B has a playbook of its own, so version 1 exists there too."""
    return services.playbook_create(
        organization=charlie_membership.organization, actor_membership=charlie_membership, document=valid_playbook_document(name="Delayed flights")
    )


@pytest.mark.parametrize(
    "path",
    [
        f"{BRAVO_API}/playbooks/{{playbook}}/",
        f"{BRAVO_API}/playbooks/{{playbook}}/versions/",
        f"{BRAVO_API}/playbooks/{{playbook}}/versions/1/",
        f"{BRAVO_API}/playbooks/{{playbook}}/diff/?from=1&to=1",
        f"{BRAVO_API}/playbooks/{{playbook}}/export/?format=yaml",
        "/o/bravo/playbooks/{playbook}/",
        "/o/bravo/playbooks/{playbook}/versions/1/",
        "/o/bravo/playbooks/{playbook}/diff/?from=1&to=1",
        "/o/bravo/playbooks/{playbook}/export.yaml",
        "/o/bravo/playbooks/{playbook}/edit/",
    ],
)
def test_an_org_a_playbook_version_cannot_be_fetched_through_org_b_urls(charlie, recall, bravo_playbook, api_client_for, login_client, path):
    client = api_client_for(charlie) if path.startswith("/api/") else login_client(charlie)

    response = client.get(path.format(playbook=recall.pk))

    assert response.status_code == 404
    assert b"Granola" not in response.content


@pytest.mark.parametrize(
    ("path", "data"),
    [
        pytest.param(f"{BRAVO_API}/playbooks/{{playbook}}/versions/", {"document": valid_playbook_document(name="Stolen")}, id="api new version"),
        pytest.param(f"{BRAVO_API}/playbooks/{{playbook}}/archive/", {"archived": True}, id="api archive"),
        pytest.param("/o/bravo/playbooks/{playbook}/edit/", {"content": "name: Stolen"}, id="page edit"),
        pytest.param("/o/bravo/playbooks/{playbook}/archive/", {"archived": "1"}, id="page archive"),
    ],
)
def test_outsider_cannot_change_an_org_a_playbook_through_his_own_organisation(
    charlie, recall, bravo_playbook, api_client_for, login_client, path, data
):
    if path.startswith("/api/"):
        response = api_client_for(charlie).post(path.format(playbook=recall.pk), data, format="json")
    else:
        response = login_client(charlie).post(path.format(playbook=recall.pk), data)

    assert response.status_code == 404
    recall.refresh_from_db()
    assert (recall.name, recall.latest_version_number, recall.is_archived) == ("Granola recall", 1, False)
    assert [version.document for version in _versions(recall)] == [valid_playbook_document()]


def test_outsider_cannot_import_a_new_version_of_an_org_a_playbook_through_his_own_organisation(charlie, recall, bravo_playbook, api_client_for):
    content = playbook_document.to_yaml(valid_playbook_document(name="Stolen")).encode()

    response = api_client_for(charlie).post(f"{BRAVO_API}/playbooks/{recall.pk}/import/", {"file": _upload(content)}, format="multipart")

    assert response.status_code == 404
    assert [version.number for version in _versions(recall)] == [1]
    assert [version.number for version in _versions(bravo_playbook)] == [1]


def test_exporting_in_an_unknown_format_is_a_400_naming_the_parameter(alice, recall, api_client_for):
    response = api_client_for(alice).get(f"{ACME_API}/playbooks/{recall.pk}/export/", {"format": "xml"})

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"format": ["Use yaml or json."]}


def test_an_older_version_can_be_exported(alice, recall_at_version_2, api_client_for, login_client):
    api_export = api_client_for(alice).get(f"{ACME_API}/playbooks/{recall_at_version_2.pk}/export/", {"format": "json", "version": 1})
    page_export = login_client(alice).get(f"/o/acme/playbooks/{recall_at_version_2.pk}/export.yaml", {"version": 1})

    assert json.loads(api_export.content) == valid_playbook_document()
    assert playbook_document.parse(page_export.content) == valid_playbook_document()
    assert page_export["Content-Disposition"] == 'attachment; filename="granola-recall-v1.yaml"'


@pytest.mark.postgres
def test_postgres_refuses_to_rewrite_playbook_versions_and_timelines(org_a, alice_membership, bob_membership):
    from django.db import DatabaseError, connection, transaction

    from playbooks import incident_services
    from tests.factories import valid_playbook_document

    services.playbook_create(organization=org_a, actor_membership=alice_membership, document=valid_playbook_document())
    incident_services.incident_open(organization=org_a, actor_membership=bob_membership, title="x")
    for statement in (
        "UPDATE playbooks_playbookversion SET change_note = 'rewritten'",
        "DELETE FROM playbooks_playbookversion",
        "UPDATE playbooks_timelineentry SET text = 'rewritten'",
        "DELETE FROM playbooks_timelineentry",
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)


def test_saving_an_unchanged_document_answers_200_and_adds_no_version(org_a, alice, alice_membership, api_client_for):
    from tests.factories import valid_playbook_document

    document = valid_playbook_document()
    playbook = services.playbook_create(organization=org_a, actor_membership=alice_membership, document=document)
    response = api_client_for(alice).post(f"/api/v1/organizations/acme/playbooks/{playbook.pk}/versions/", {"document": document}, format="json")

    assert response.status_code == 200
    assert response.json()["number"] == 1
