"""Incidents: opening from a playbook version, the lifecycle, escalation, tasks, timeline."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from crisiscenter.errors import NotAllowed, ServiceError
from crisiscenter.models import AppendOnlyError
from playbooks import incident_services, services
from playbooks.document import FORMAT
from playbooks.models import Incident, IncidentStatus, IncidentTask, Notification, TimelineEntry

pytestmark = pytest.mark.django_db


def _document(**overrides) -> dict:
    document = {
        "format": FORMAT,
        "name": "Recall",
        "category": "product_recall",
        "default_severity": 2,
        "escalation": [
            {"severity": 1, "first_statement_due_minutes": 15, "update_interval_minutes": 60, "approvals_required": 1,
             "approver_roles": ["approver_manager"], "notify_roles": ["incident_lead", "approver_manager", "responder"]},
            {"severity": 2, "first_statement_due_minutes": 30, "approvals_required": 1, "approver_roles": ["approver_manager"],
             "notify_roles": ["incident_lead"]},
        ],
        "roles": [
            {"role": "incident_lead", "member": "carol", "backup": "alice"},
            {"role": "approver_manager", "member": "alice"},
            {"role": "responder", "member": "bob"},
        ],
        "checklist": [
            {"title": "Publish the holding statement", "role": "incident_lead", "due_minutes": 15},
            {"title": "Answer customers", "role": "responder", "due_minutes": 30},
            {"title": "Call the regulator", "role": "approver_legal", "due_minutes": 60},
        ],
    }
    document.update(overrides)
    return document


@pytest.fixture
def recall(alice_membership, bob_membership, carol_membership, org_a):
    return services.playbook_create(organization=org_a, actor_membership=alice_membership, document=_document())




def _open(org_a, membership, playbook=None, **kwargs):
    return incident_services.incident_open(organization=org_a, actor_membership=membership, title="Blades snap", playbook=playbook, **kwargs)


def test_opening_from_a_playbook_creates_its_tasks_with_owners_and_due_times(org_a, recall, bob_membership, bob, carol):
    before = timezone.now()
    incident = _open(org_a, bob_membership, recall)

    tasks = list(IncidentTask.objects.for_organization(org_a).filter(incident=incident).order_by("position"))
    assert [task.title for task in tasks] == ["Publish the holding statement", "Answer customers", "Call the regulator"]
    assert [task.owner for task in tasks] == [carol, bob, None]  # nobody fills approver_legal
    for task, minutes in zip(tasks, (15, 30, 60)):
        assert before + timedelta(minutes=minutes) <= task.due_at <= timezone.now() + timedelta(minutes=minutes)
    assert incident.severity == 2  # the playbook's default
    assert incident.first_statement_due_at == incident.detected_at + timedelta(minutes=30)
    assert {(r.role, r.member.username) for r in incident.roles.all()} == {("incident_lead", "carol"), ("approver_manager", "alice"), ("responder", "bob")}


def test_an_incident_keeps_its_playbook_version_after_the_playbook_is_edited(org_a, recall, alice_membership, bob_membership):
    incident = _open(org_a, bob_membership, recall)

    services.playbook_update(playbook=recall, actor_membership=alice_membership, document=_document(default_severity=1), change_note="stricter")
    later = _open(org_a, bob_membership, recall)

    incident.refresh_from_db()
    assert incident.playbook_version.number == 1
    assert incident.playbook_version.document["default_severity"] == 2
    assert later.playbook_version.number == 2
    assert later.severity == 1


def test_escalation_notifies_the_ladder_once_per_severity_and_only_after_commit(
    org_a, recall, bob_membership, carol_membership, django_capture_on_commit_callbacks, mailoutbox, sent_events, eager_celery
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        incident = _open(org_a, bob_membership, recall)
    assert sent_events == [] and mailoutbox == []  # nothing before the commit
    for callback in callbacks:
        callback()
    # Severity 2 notifies the incident lead only: carol, and alice as her backup.
    assert set(Notification.objects.for_organization(org_a).values_list("recipient__username", flat=True)) == {"carol", "alice"}
    assert sorted(m.to[0] for m in mailoutbox) == ["alice@example.com", "carol@example.com"]

    with django_capture_on_commit_callbacks(execute=True):
        incident_services.incident_change_severity(incident=incident, actor_membership=carol_membership, severity=1)
    with django_capture_on_commit_callbacks(execute=True):
        incident_services.incident_change_severity(incident=incident, actor_membership=carol_membership, severity=2)
    with django_capture_on_commit_callbacks(execute=True):
        incident_services.incident_change_severity(incident=incident, actor_membership=carol_membership, severity=1)

    severity_one = Notification.objects.for_organization(org_a).filter(dedupe_key=f"incident:{incident.pk}:severity:1")
    # alice and bob once each (carol, who escalated, is not told about her own action).
    assert sorted(severity_one.values_list("recipient__username", flat=True)) == ["alice", "bob"]
    assert sum(1 for m in mailoutbox if "Severity 1" in m.subject) == 2
    event_types = [event["type"] for _group, event in sent_events]
    assert "incident.opened" in event_types and "notification.created" in event_types


def test_status_follows_the_lifecycle_and_records_who_and_when(org_a, recall, bob_membership, carol_membership):
    incident = _open(org_a, bob_membership, recall)
    for status in (IncidentStatus.ACTIVE, IncidentStatus.CONTAINED, IncidentStatus.RESOLVED, IncidentStatus.CLOSED):
        incident_services.incident_change_status(incident=incident, actor_membership=carol_membership, status=status)

    incident.refresh_from_db()
    assert incident.status == IncidentStatus.CLOSED and incident.resolved_at and incident.closed_at
    changes = TimelineEntry.objects.for_organization(org_a).filter(incident=incident, kind="status")
    assert [(e.data["from"], e.data["to"], e.actor_label) for e in changes] == [
        ("detected", "active", "Carol"), ("active", "contained", "Carol"), ("contained", "resolved", "Carol"), ("resolved", "closed", "Carol")
    ]
    with pytest.raises(ServiceError, match="cannot go from closed"):
        incident_services.incident_change_status(incident=incident, actor_membership=carol_membership, status=IncidentStatus.ACTIVE)


def test_a_flare_up_can_take_a_contained_incident_back_to_active(org_a, recall, bob_membership, carol_membership):
    incident = _open(org_a, bob_membership, recall)
    incident_services.incident_change_status(incident=incident, actor_membership=carol_membership, status=IncidentStatus.CONTAINED)
    incident_services.incident_change_status(incident=incident, actor_membership=carol_membership, status=IncidentStatus.ACTIVE)
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.ACTIVE


def test_a_responder_cannot_change_status_unless_they_lead_the_incident(org_a, recall, alice_membership, bob_membership, bob):
    incident = _open(org_a, bob_membership, recall)
    with pytest.raises(NotAllowed):
        incident_services.incident_change_status(incident=incident, actor_membership=bob_membership, status=IncidentStatus.ACTIVE)

    incident_services.incident_assign_role(incident=incident, actor_membership=alice_membership, role="incident_lead", member_id=bob.pk)
    incident_services.incident_change_status(incident=incident, actor_membership=bob_membership, status=IncidentStatus.ACTIVE)
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.ACTIVE


def test_a_viewer_cannot_open_or_work_an_incident(org_a, recall, bob_membership, dave_membership):
    with pytest.raises(NotAllowed):
        _open(org_a, dave_membership, recall)
    incident = _open(org_a, bob_membership, recall)
    with pytest.raises(NotAllowed):
        incident_services.note_add(incident=incident, actor_membership=dave_membership, text="hi")


def test_acknowledging_starts_the_response_once(org_a, recall, bob_membership, carol_membership):
    incident = _open(org_a, bob_membership, recall)
    incident_services.incident_acknowledge(incident=incident, actor_membership=bob_membership)
    first = Incident.objects.for_organization(org_a).get(pk=incident.pk).acknowledged_at
    incident_services.incident_acknowledge(incident=incident, actor_membership=carol_membership)

    incident.refresh_from_db()
    assert incident.acknowledged_at == first
    assert incident.status == IncidentStatus.ACTIVE
    assert TimelineEntry.objects.for_organization(org_a).filter(incident=incident, kind="acknowledged").count() == 1


def test_overdue_tasks_are_flagged_once_and_their_owner_told(org_a, recall, bob_membership, carol):
    incident = _open(org_a, bob_membership, recall)
    later = timezone.now() + timedelta(minutes=20)

    assert incident_services.tasks_flag_overdue(now=later) == 1
    assert incident_services.tasks_flag_overdue(now=later) == 0

    task = IncidentTask.objects.for_organization(org_a).get(incident=incident, title="Publish the holding statement")
    assert task.overdue_flagged_at == later and task.is_overdue(now=later)
    assert Notification.objects.for_organization(org_a).filter(kind="overdue", recipient=carol).count() == 1
    assert TimelineEntry.objects.for_organization(org_a).filter(incident=incident, kind="task_overdue").count() == 1


def test_done_tasks_are_not_overdue_and_record_who_did_them(org_a, recall, bob_membership, bob):
    incident = _open(org_a, bob_membership, recall)
    task = IncidentTask.objects.for_organization(org_a).get(incident=incident, title="Answer customers")
    incident_services.task_set_done(task=task, actor_membership=bob_membership, done=True)

    assert incident_services.tasks_flag_overdue(now=timezone.now() + timedelta(minutes=45)) == 1  # only the lead's task
    task.refresh_from_db()
    assert task.done_by == bob and not task.is_overdue()


def test_a_note_can_say_when_something_actually_happened(org_a, recall, bob_membership):
    incident = _open(org_a, bob_membership, recall)
    earlier = timezone.now() - timedelta(hours=2)
    entry = incident_services.note_add(incident=incident, actor_membership=bob_membership, text="The CEO was called", occurred_at=earlier)

    assert entry.occurred_at == earlier and entry.logged_at > earlier
    assert list(TimelineEntry.objects.for_organization(org_a).filter(incident=incident).values_list("kind", flat=True))[0] == "note"


def test_the_timeline_cannot_be_edited_or_deleted(org_a, recall, bob_membership):
    incident = _open(org_a, bob_membership, recall)
    entry = TimelineEntry.objects.for_organization(org_a).filter(incident=incident).first()
    entry.text = "rewritten history"
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()
    with pytest.raises(AppendOnlyError):
        TimelineEntry.objects.for_organization(org_a).filter(incident=incident).update(text="x")
    with pytest.raises(AppendOnlyError):
        TimelineEntry.objects.for_organization(org_a).filter(incident=incident).delete()


def test_fact_sheet_changes_are_recorded_with_before_and_after(org_a, recall, bob_membership):
    incident = _open(org_a, bob_membership, recall, what_happened="Blades snap")
    incident_services.incident_update_facts(incident=incident, actor_membership=bob_membership, changes={"what_happened": "Blades snap at speed 3", "mistake_by": "contractor"})

    entry = TimelineEntry.objects.for_organization(org_a).get(incident=incident, kind="facts")
    assert entry.data["before"] == {"what_happened": "Blades snap", "mistake_by": "unknown"}
    assert entry.data["after"] == {"what_happened": "Blades snap at speed 3", "mistake_by": "contractor"}


def test_the_first_statement_stops_its_clock_once_and_starts_the_update_clock(org_a, recall, bob_membership, carol_membership):
    incident = _open(org_a, bob_membership, recall, severity=1)
    published = timezone.now()
    assert incident_services.incident_record_first_statement(incident=incident, published_at=published)
    assert not incident_services.incident_record_first_statement(incident=incident, published_at=published + timedelta(minutes=5))

    incident.refresh_from_db()
    assert incident.first_statement_at == published
    assert incident.next_update_due_at == published + timedelta(minutes=60)


def test_an_outsiders_playbook_cannot_be_used(org_a, org_b, charlie_membership, bob_membership):
    foreign = services.playbook_create(organization=org_b, actor_membership=charlie_membership, document=_document(roles=[]))
    with pytest.raises(NotAllowed):
        _open(org_a, bob_membership, foreign)


def test_roles_can_only_go_to_members(org_a, recall, alice_membership, bob_membership, charlie):
    incident = _open(org_a, bob_membership, recall)
    with pytest.raises(ServiceError, match="not a member"):
        incident_services.incident_assign_role(incident=incident, actor_membership=alice_membership, role="scribe", member_id=charlie.pk)


def _resolve(incident, membership):
    incident_services.incident_change_status(incident=incident, actor_membership=membership, status=IncidentStatus.RESOLVED)
    incident.refresh_from_db()
    return incident


def test_the_review_measures_timings_and_tasks_by_role(org_a, recall, bob_membership, carol_membership):
    from playbooks import incident_selectors

    incident = _open(org_a, bob_membership, recall)
    incident_services.incident_acknowledge(incident=incident, actor_membership=bob_membership)
    answer = IncidentTask.objects.for_organization(org_a).get(incident=incident, title="Answer customers")
    incident_services.task_set_done(task=answer, actor_membership=bob_membership, done=True)
    incident = _resolve(incident, carol_membership)

    measured = incident_selectors.review_measurements(incident=incident)

    assert measured["minutes_to_acknowledge"] is not None and measured["minutes_to_resolve"] is not None
    assert measured["first_statement_on_time"] is False  # no statement was published
    assert measured["tasks_by_role"]["responder"] == {"on_time": 1, "late": 0, "not_done": 0}
    assert measured["tasks_by_role"]["incident_lead"] == {"on_time": 0, "late": 0, "not_done": 1}
    assert (measured["tasks_total"], measured["tasks_on_time"], measured["tasks_not_done"]) == (3, 1, 2)


def test_the_review_is_written_after_resolution_with_owned_action_items(org_a, recall, bob_membership, carol_membership, carol, charlie):
    incident = _open(org_a, bob_membership, recall)
    with pytest.raises(ServiceError, match="once the incident is resolved"):
        incident_services.review_save(incident=incident, actor_membership=bob_membership, went_well="", to_change="", action_items=[])
    incident = _resolve(incident, carol_membership)
    with pytest.raises(ServiceError, match="not a member"):
        incident_services.review_save(incident=incident, actor_membership=bob_membership, went_well="", to_change="", action_items=[{"title": "x", "owner_id": charlie.pk}])

    review = incident_services.review_save(
        incident=incident, actor_membership=bob_membership, went_well="Fast holding statement", to_change="Nobody owned legal",
        action_items=[{"title": "Name a legal approver", "owner_id": carol.pk, "due": "2026-12-01"}],
    )

    review.refresh_from_db()
    assert review.action_items == [{"title": "Name a legal approver", "owner_id": carol.pk, "due": "2026-12-01", "done": False}]


def test_a_lesson_becomes_a_playbook_proposal_for_admins(org_a, recall, alice_membership, bob_membership, carol_membership):
    from playbooks.models import PlaybookProposal, ProposalStatus

    incident = _resolve(_open(org_a, bob_membership, recall), carol_membership)
    proposal = incident_services.proposal_create(incident=incident, actor_membership=bob_membership, text="Add legal to severity 2 approvals")

    assert proposal.playbook == recall
    assert Notification.objects.for_organization(org_a).filter(kind="proposal", recipient__username="alice").exists()
    with pytest.raises(NotAllowed):
        incident_services.proposal_decide(proposal=proposal, actor_membership=carol_membership, status=ProposalStatus.APPLIED)
    incident_services.proposal_decide(proposal=proposal, actor_membership=alice_membership, status=ProposalStatus.APPLIED)
    assert PlaybookProposal.objects.for_organization(org_a).get().status == ProposalStatus.APPLIED


def test_the_review_export_and_page_work(org_a, recall, bob_membership, carol_membership, bob, login_client):
    incident = _resolve(_open(org_a, bob_membership, recall), carol_membership)
    browser = login_client(bob)

    page = browser.get(f"/o/acme/incidents/{incident.pk}/review/")
    exported = browser.get(f"/o/acme/incidents/{incident.pk}/review.json").json()

    assert page.status_code == 200 and b"Detect" in page.content
    assert exported["incident"]["id"] == incident.pk
    assert exported["measurements"]["tasks_total"] == 3
    assert [entry["kind"] for entry in exported["timeline"]][0] == "opened"


@pytest.mark.parametrize("url", ["javascript:alert(1)", "data:text/html,hi", "ftp://example.com/x", "not a url"])
def test_the_origin_link_must_be_a_web_address(org_a, bob_membership, url):
    with pytest.raises(ServiceError, match="http"):
        _open(org_a, bob_membership, origin_url=url)
    assert not Incident.objects.for_organization(org_a).exists()
