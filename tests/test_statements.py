"""Statements: drafting from templates, versions, the approval rules, publishing and its
clock, promises, escalation of overdue reviews, rights per channel.

bob (responder) drafts; carol (manager) holds the manager approver role with erin (admin) as
her backup; frank (responder) holds the legal approver role; alice owns; dave views;
charlie is an outsider.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from crisiscenter.errors import Conflict, NotAllowed, ServiceError
from crisiscenter.models import AppendOnlyError, AuditEntry
from playbooks import incident_services
from playbooks import services as playbook_services
from playbooks.models import Incident, Notification, Platform, TimelineEntry
from responses import services
from responses.models import (
    Approval,
    Promise,
    PromiseStatus,
    Publication,
    PublicationStatus,
    StatementStatus,
    StatementVersion,
)
from tests.factories import valid_playbook_document

pytestmark = pytest.mark.django_db

PLAYBOOK = valid_playbook_document(
    escalation=[
        {"severity": 1, "first_statement_due_minutes": 15, "approvals_required": 2, "approver_roles": ["approver_manager", "approver_legal"]},
        {"severity": 2, "first_statement_due_minutes": 30, "approvals_required": 1, "approver_roles": ["approver_manager"]},
    ],
    roles=[
        {"role": "incident_lead", "member": "carol"},
        {"role": "approver_manager", "member": "carol", "backup": "erin"},
        {"role": "approver_legal", "member": "frank"},
    ],
    holding_statements=[
        {"name": "First response", "language": "en", "text": "{brand} is sorry: {what_happened} Next update at {next_update_time}. {help_url}"}
    ],
    help_resources=[{"title": "Refunds", "url": "https://acme.example/refunds"}],
)


@pytest.fixture
def incident(org_a, alice_membership, bob_membership, carol_membership, erin_membership, frank_membership, dave_membership):
    playbook = playbook_services.playbook_create(organization=org_a, actor_membership=alice_membership, document=PLAYBOOK)
    return incident_services.incident_open(
        organization=org_a, actor_membership=carol_membership, title="Nuts in the granola", playbook=playbook,
        severity=2, origin_platform=Platform.X, what_happened="Batch 42 may contain nuts.",
    )


def _draft(incident, membership, body="We are sorry. Batch 42 may contain nuts; do not eat it.", **kwargs):
    fields = {"headline": "Batch 42 recall", "body": body, **kwargs.pop("fields", {})}
    return services.statement_draft(incident=incident, actor_membership=membership, kind=kwargs.pop("kind", "holding"), fields=fields, **kwargs)


def _approve(statement, membership, publish=False):
    statement.refresh_from_db()
    return services.statement_decide(
        statement=statement, actor_membership=membership, version_number=statement.current_version.number, decision="approve", publish=publish
    )


@pytest.fixture
def publish_now(eager_celery, django_capture_on_commit_callbacks):
    """Approve-and-publish, with the publications the commit queues run by an eager worker."""

    def approve_and_publish(statement, membership):
        with django_capture_on_commit_callbacks(execute=True):
            return _approve(statement, membership, publish=True)

    return approve_and_publish


def _run_publications(statement):
    for publication in Publication.objects.for_organization(statement.organization_id).filter(statement=statement).order_by("position"):
        services.publication_attempt(publication_id=publication.pk)


# --- drafting -----------------------------------------------------------------------------
def test_a_draft_starts_from_the_playbooks_template_with_placeholders_filled(incident, bob_membership):
    statement = services.statement_draft(incident=incident, actor_membership=bob_membership, kind="holding", template_index=0)
    body = statement.current_version.body
    assert body.startswith("Acme Foods is sorry: Batch 42 may contain nuts.")
    assert "/hub/acme/" in body
    # Unknown values stay visible instead of silently disappearing.
    assert "[next_update_time]" in body
    assert statement.language == "en" and statement.current_version.number == 1
    assert TimelineEntry.objects.for_organization(incident.organization).filter(incident=incident, kind="statement").exists()
    assert AuditEntry.objects.for_organization(incident.organization).filter(action="statement.drafted").exists()


def test_by_default_a_statement_goes_to_the_hub(incident, bob_membership):
    statement = _draft(incident, bob_membership)
    assert statement.target_channels == ["hub"]


def test_a_viewer_cannot_draft(incident, dave_membership):
    with pytest.raises(NotAllowed):
        _draft(incident, dave_membership)


def test_an_outsider_cannot_draft(incident, charlie_membership):
    with pytest.raises(NotAllowed):
        _draft(incident, charlie_membership)


def test_a_template_outside_the_playbook_is_refused(incident, bob_membership):
    with pytest.raises(ServiceError) as error:
        services.statement_draft(incident=incident, actor_membership=bob_membership, kind="holding", template_index=5)
    assert error.value.field == "template_index"


def test_editing_adds_a_version_and_keeps_the_old_one(incident, bob_membership):
    statement = _draft(incident, bob_membership)
    services.statement_edit(statement=statement, actor_membership=bob_membership, base_version=1, fields={"body": "We are sorry. Second text."})
    assert statement.current_version.number == 2
    assert [v.body for v in StatementVersion.objects.for_organization(statement.organization_id).filter(statement=statement).order_by("number")] == [
        "We are sorry. Batch 42 may contain nuts; do not eat it.", "We are sorry. Second text."
    ]


def test_an_edit_from_a_stale_version_is_a_conflict_not_an_overwrite(incident, bob_membership, frank_membership):
    statement = _draft(incident, bob_membership)
    services.statement_edit(statement=statement, actor_membership=frank_membership, base_version=1, fields={"body": "Frank's words"})
    with pytest.raises(Conflict):
        services.statement_edit(statement=statement, actor_membership=bob_membership, base_version=1, fields={"body": "Bob's words"})
    statement.refresh_from_db()
    assert statement.current_version.body == "Frank's words"


def test_versions_and_approvals_are_append_only(incident, bob_membership, carol_membership):
    statement = _draft(incident, bob_membership)
    services.statement_submit(statement=statement, actor_membership=bob_membership)
    _approve(statement, carol_membership)
    version = statement.current_version
    with pytest.raises(AppendOnlyError):
        version.save()
    with pytest.raises(AppendOnlyError):
        Approval.objects.for_organization(statement.organization_id).filter(statement=statement).delete()


def test_promises_need_a_deadline_with_its_zone(incident, bob_membership):
    with pytest.raises(ServiceError) as error:
        _draft(incident, bob_membership, fields={"promises": [{"text": "Call back", "due_at": "2026-12-04T10:00:00"}]})
    assert error.value.field == "promises"


# --- approval rules ----------------------------------------------------------------------
def test_the_author_never_approves_their_own_version(incident, carol_membership):
    statement = _draft(incident, carol_membership)
    services.statement_submit(statement=statement, actor_membership=carol_membership)
    with pytest.raises(NotAllowed) as error:
        _approve(statement, carol_membership)
    assert error.value.code == "self_approval"
    statement.refresh_from_db()
    assert statement.status == StatementStatus.IN_REVIEW


def test_a_manager_approves_what_a_responder_wrote(incident, bob_membership, carol_membership):
    statement = _draft(incident, bob_membership)
    services.statement_submit(statement=statement, actor_membership=bob_membership)
    _approve(statement, carol_membership)
    statement.refresh_from_db()
    assert statement.status == StatementStatus.APPROVED
    assert statement.is_publishable()


def test_a_responder_without_an_approver_role_cannot_approve(incident, bob_membership, carol_membership, org_a):
    from tests.conftest import _member

    other = _member(org_a, "gina", "responder")
    statement = _draft(incident, carol_membership)
    services.statement_submit(statement=statement, actor_membership=carol_membership)
    with pytest.raises(NotAllowed) as error:
        _approve(statement, other)
    assert error.value.code == "not_an_approver"


def test_any_edit_after_an_approval_voids_it(incident, bob_membership, carol_membership):
    statement = _draft(incident, bob_membership)
    services.statement_submit(statement=statement, actor_membership=bob_membership)
    _approve(statement, carol_membership)
    services.statement_edit(statement=statement, actor_membership=bob_membership, base_version=1, fields={"body": "We are sorry, changed."})
    statement.refresh_from_db()
    assert statement.status == StatementStatus.IN_REVIEW
    assert not statement.is_publishable()
    assert not services.is_version_approved(statement, statement.current_version)
    with pytest.raises(ServiceError):
        services.statement_publish(statement=statement, actor_membership=carol_membership)
    assert TimelineEntry.objects.for_organization(incident.organization).filter(text__contains="voided by the edit").exists()


def test_changing_the_channels_after_an_approval_voids_it_too(incident, bob_membership, carol_membership):
    statement = _draft(incident, bob_membership)
    services.statement_submit(statement=statement, actor_membership=bob_membership)
    _approve(statement, carol_membership)
    services.statement_edit(statement=statement, actor_membership=bob_membership, base_version=1, fields={}, target_channels=["hub", "email"])
    statement.refresh_from_db()
    assert statement.status == StatementStatus.IN_REVIEW and statement.current_version.number == 2


def test_an_approval_of_a_version_the_approver_did_not_read_is_a_conflict(incident, bob_membership, carol_membership):
    statement = _draft(incident, bob_membership)
    services.statement_submit(statement=statement, actor_membership=bob_membership)
    services.statement_edit(statement=statement, actor_membership=bob_membership, base_version=1, fields={"body": "We are sorry, v2."})
    with pytest.raises(Conflict):
        services.statement_decide(statement=statement, actor_membership=carol_membership, version_number=1, decision="approve")


def test_severity_1_needs_the_manager_and_legal(incident, bob_membership, carol_membership, erin_membership, frank_membership):
    incident_services.incident_change_severity(incident=incident, actor_membership=carol_membership, severity=1)
    statement = _draft(incident, bob_membership)
    services.statement_submit(statement=statement, actor_membership=bob_membership)
    _approve(statement, carol_membership)
    _approve(statement, erin_membership)  # erin is the manager role's backup: still no legal
    statement.refresh_from_db()
    assert statement.status == StatementStatus.IN_REVIEW
    _approve(statement, frank_membership)  # legal, though only a responder in the organisation
    statement.refresh_from_db()
    assert statement.status == StatementStatus.APPROVED


def test_a_rejection_needs_a_comment_and_sends_the_statement_back(incident, bob_membership, carol_membership):
    statement = _draft(incident, bob_membership)
    services.statement_submit(statement=statement, actor_membership=bob_membership)
    with pytest.raises(ServiceError):
        services.statement_decide(statement=statement, actor_membership=carol_membership, version_number=1, decision="reject")
    services.statement_decide(statement=statement, actor_membership=carol_membership, version_number=1, decision="reject", comment="Drop the blame.")
    statement.refresh_from_db()
    assert statement.status == StatementStatus.REJECTED
    assert Notification.objects.for_organization(incident.organization).filter(recipient=bob_membership.user, text__contains="Drop the blame").exists()
    with pytest.raises(ServiceError):
        services.statement_submit(statement=statement, actor_membership=bob_membership)
    services.statement_edit(statement=statement, actor_membership=bob_membership, base_version=1, fields={"body": "We are sorry."})
    services.statement_submit(statement=statement, actor_membership=bob_membership)
    statement.refresh_from_db()
    assert statement.status == StatementStatus.IN_REVIEW


def test_submitting_notifies_the_approvers_and_sets_a_deadline(incident, bob_membership, carol):
    statement = _draft(incident, bob_membership)
    before = timezone.now()
    services.statement_submit(statement=statement, actor_membership=bob_membership)
    statement.refresh_from_db()
    assert before + timedelta(minutes=14) < statement.review_due_at <= timezone.now() + timedelta(minutes=15)
    assert Notification.objects.for_organization(incident.organization).filter(recipient=carol, kind="approval").exists()


def test_an_overdue_review_escalates_to_the_backup_approver_once(incident, bob_membership, erin):
    statement = _draft(incident, bob_membership)
    services.statement_submit(statement=statement, actor_membership=bob_membership)
    assert services.reviews_escalate_overdue(now=timezone.now()) == 0
    later = timezone.now() + timedelta(minutes=16)
    assert services.reviews_escalate_overdue(now=later) == 1
    assert services.reviews_escalate_overdue(now=later) == 0
    assert Notification.objects.for_organization(incident.organization).filter(recipient=erin, text__startswith="Overdue approval").count() == 1
    assert TimelineEntry.objects.for_organization(incident.organization).filter(text__contains="escalated to Erin").exists()


# --- publishing ----------------------------------------------------------------------------
def test_an_unapproved_statement_is_never_published(incident, bob_membership, carol_membership):
    statement = _draft(incident, bob_membership)
    with pytest.raises(ServiceError) as error:
        services.statement_publish(statement=statement, actor_membership=carol_membership)
    assert error.value.code == "not_approved"
    services.statement_submit(statement=statement, actor_membership=bob_membership)
    with pytest.raises(ServiceError):
        services.statement_publish(statement=statement, actor_membership=carol_membership)
    assert not Publication.objects.for_organization(incident.organization).exists()


def test_approve_and_publish_puts_it_on_the_hub_and_stops_the_clock(incident, bob_membership, carol_membership, publish_now):
    statement = _draft(incident, bob_membership, fields={"next_update_at": (timezone.now() + timedelta(hours=1)).isoformat()})
    services.statement_submit(statement=statement, actor_membership=bob_membership)
    publish_now(statement, carol_membership)
    statement.refresh_from_db()
    incident.refresh_from_db()
    publication = Publication.objects.for_organization(incident.organization).get(statement=statement)
    assert publication.status == PublicationStatus.SUCCEEDED and publication.channel_kind == "hub"
    assert statement.status == StatementStatus.PUBLISHED and statement.first_published_at is not None
    assert incident.first_statement_at == publication.published_at
    assert incident.next_update_due_at == statement.current_version.next_update_at
    assert TimelineEntry.objects.for_organization(incident.organization).filter(text__startswith="First statement out after").count() == 1


def test_a_responder_may_not_publish_without_being_on_the_access_list(incident, bob_membership, carol_membership, frank_membership):
    statement = _draft(incident, frank_membership)
    services.statement_submit(statement=statement, actor_membership=frank_membership)
    _approve(statement, carol_membership)
    with pytest.raises(NotAllowed):
        services.statement_publish(statement=statement, actor_membership=bob_membership)
    hub = services.builtin_channels(incident.organization_id)["hub"]
    services.channel_access_grant(channel=hub, actor_membership=carol_membership.organization.memberships.get(user__username="alice"), user_id=bob_membership.user_id)
    # The list now names bob only: carol, a manager, is not on it.
    assert services.publish_refusals(statement, carol_membership) == ["Carol is not on the access list of Public crisis hub."]
    [publication] = services.statement_publish(statement=statement, actor_membership=bob_membership)
    assert publication.channel_id == hub.pk and publication.requested_by_id == bob_membership.user_id


def test_a_revocation_stops_a_queued_publication(incident, alice_membership, bob_membership, carol_membership, frank_membership):
    hub = services.builtin_channels(incident.organization_id)["hub"]
    services.channel_access_grant(channel=hub, actor_membership=alice_membership, user_id=bob_membership.user_id)
    statement = _draft(incident, frank_membership)
    services.statement_submit(statement=statement, actor_membership=frank_membership)
    _approve(statement, carol_membership)
    services.statement_publish(statement=statement, actor_membership=bob_membership)  # queued, not yet sent
    services.channel_access_revoke(channel=hub, actor_membership=alice_membership, user_id=bob_membership.user_id)
    _run_publications(statement)
    publication = Publication.objects.for_organization(incident.organization).get(statement=statement)
    assert publication.status == PublicationStatus.FAILED and "access list" in publication.error
    incident.refresh_from_db()
    assert incident.first_statement_at is None


def test_a_lockdown_narrows_publishing_to_the_named_people(incident, alice_membership, bob_membership, carol_membership, frank_membership):
    hub = services.builtin_channels(incident.organization_id)["hub"]
    services.lockdown_start(organization=incident.organization, actor_membership=alice_membership, reason="Account compromise suspected")
    statement = _draft(incident, frank_membership)
    services.statement_submit(statement=statement, actor_membership=frank_membership)
    _approve(statement, carol_membership)
    with pytest.raises(NotAllowed) as refused:
        services.statement_publish(statement=statement, actor_membership=carol_membership)
    assert "locked down" in refused.value.message and not Publication.objects.for_organization(incident.organization).exists()
    services.channel_access_grant(channel=hub, actor_membership=alice_membership, user_id=carol_membership.user_id, in_lockdown=True)
    [publication] = services.statement_publish(statement=statement, actor_membership=carol_membership)
    _run_publications(statement)
    publication.refresh_from_db()
    assert publication.status == PublicationStatus.SUCCEEDED
    assert AuditEntry.objects.for_organization(incident.organization).filter(action="publishing.lockdown_started").exists()


def test_only_admins_manage_access_and_lockdowns(incident, carol_membership, bob_membership):
    hub = services.builtin_channels(incident.organization_id)["hub"]
    with pytest.raises(NotAllowed):
        services.channel_access_grant(channel=hub, actor_membership=carol_membership, user_id=bob_membership.user_id)
    with pytest.raises(NotAllowed):
        services.lockdown_start(organization=incident.organization, actor_membership=carol_membership, reason="x")


def test_a_new_version_published_later_does_not_reset_the_clock(incident, bob_membership, carol_membership, publish_now):
    statement = _draft(incident, bob_membership)
    services.statement_submit(statement=statement, actor_membership=bob_membership)
    publish_now(statement, carol_membership)
    incident.refresh_from_db()
    first = incident.first_statement_at
    services.statement_edit(statement=statement, actor_membership=bob_membership, base_version=1, fields={"body": "We are sorry. Update."})
    services.statement_submit(statement=statement, actor_membership=bob_membership)
    publish_now(statement, carol_membership)
    incident.refresh_from_db()
    assert incident.first_statement_at == first
    assert Publication.objects.for_organization(incident.organization).filter(statement=statement, status="succeeded").count() == 2


def test_a_correction_names_a_published_statement(incident, bob_membership, carol_membership, publish_now):
    draft = _draft(incident, bob_membership)
    with pytest.raises(ServiceError):
        _draft(incident, bob_membership, kind="correction", corrects_id=draft.pk)
    services.statement_submit(statement=draft, actor_membership=bob_membership)
    publish_now(draft, carol_membership)
    correction = _draft(incident, bob_membership, kind="correction", corrects_id=draft.pk, body="Correction: it was batch 43.")
    assert correction.corrects_id == draft.pk


def test_a_translation_is_approved_on_its_own(incident, bob_membership, carol_membership, publish_now):
    original = _draft(incident, bob_membership)
    translation = services.statement_translate(statement=original, actor_membership=bob_membership, language="nl",
                                               fields={"headline": "Terugroepactie", "body": "Het spijt ons."})
    services.statement_submit(statement=original, actor_membership=bob_membership)
    _approve(original, carol_membership)
    translation.refresh_from_db()
    assert translation.status == StatementStatus.DRAFT and translation.translation_of_id == original.pk
    with pytest.raises(Conflict):
        services.statement_translate(statement=original, actor_membership=bob_membership, language="nl", fields={"body": "Nog eens"})


# --- promises ------------------------------------------------------------------------------
def test_published_promises_are_tracked_warned_and_marked_slipped(incident, bob_membership, carol_membership, carol, publish_now):
    due = timezone.now() + timedelta(minutes=30)
    statement = _draft(incident, bob_membership, fields={"promises": [{"text": "Refund form online", "due_at": due.isoformat()}]})
    services.statement_submit(statement=statement, actor_membership=bob_membership)
    publish_now(statement, carol_membership)
    promise = Promise.objects.for_organization(incident.organization).get()
    assert promise.status == PromiseStatus.OPEN and promise.due_at == due
    assert services.promises_check(now=timezone.now()) == {"warned": 0, "slipped": 0}
    assert services.promises_check(now=due - timedelta(minutes=5)) == {"warned": 1, "slipped": 0}
    assert Notification.objects.for_organization(incident.organization).filter(recipient=carol, kind="promise").count() == 1
    assert services.promises_check(now=due + timedelta(seconds=1)) == {"warned": 0, "slipped": 1}
    promise.refresh_from_db()
    assert promise.status == PromiseStatus.SLIPPED
    services.promise_keep(promise=promise, actor_membership=bob_membership)
    promise.refresh_from_db()
    assert promise.status == PromiseStatus.KEPT


def test_events_tell_the_war_room_about_reviews(incident, bob_membership, sent_events, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        statement = _draft(incident, bob_membership)
        services.statement_submit(statement=statement, actor_membership=bob_membership)
    types = [(group, event["type"]) for group, event in sent_events]
    assert (f"org-{incident.organization_id}", "statement.review_requested") in types
    assert (f"incident-{incident.pk}", "statement.review_requested") in types
    assert all(Incident.objects.for_organization(incident.organization).exists() for _ in [0])


def test_the_approval_email_lands_on_the_approvals_page(incident, bob_membership, carol, mailoutbox, eager_celery, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        statement = _draft(incident, bob_membership)
        services.statement_submit(statement=statement, actor_membership=bob_membership)
    mails = [message for message in mailoutbox if carol.email in message.to]
    assert mails and "/o/acme/approvals/" in mails[-1].body


def test_the_war_room_counts_down_the_promises_the_public_was_given(incident, bob_membership, carol_membership, dave_membership, publish_now):
    from monitoring import war_room

    due = timezone.now() + timedelta(minutes=40)
    statement = _draft(incident, bob_membership, fields={"promises": [{"text": "<b>Refund form</b> online", "due_at": due.isoformat()}]})
    services.statement_submit(statement=statement, actor_membership=bob_membership)
    state = war_room.snapshot(membership=dave_membership)
    assert [item["id"] for item in state["statements_awaiting_approval"]] == [statement.pk]
    publish_now(statement, carol_membership)
    state = war_room.snapshot(membership=dave_membership)
    [room_incident] = [item for item in state["incidents"] if item["id"] == incident.pk]
    assert [(promise["text"], promise["status"]) for promise in room_incident["promises"]] == [("<b>Refund form</b> online", "open")]
    assert state["statements_awaiting_approval"] == []


# --- review fixes ---------------------------------------------------------------------------
def test_one_person_holding_two_approver_roles_is_still_one_signature():
    from responses.policy import ApprovalPolicy

    two_roles = ApprovalPolicy(required=2, roles=["approver_manager", "approver_legal"], holders={"approver_manager": {1}, "approver_legal": {1}})
    assert not two_roles.is_satisfied([(1, False), (2, True)])  # 2 holds neither role and both are filled
    assert two_roles.is_satisfied([(1, False), (3, False)]) is False
    either = ApprovalPolicy(required=2, roles=["approver_manager", "approver_legal"], holders={"approver_manager": {1, 3}, "approver_legal": {1}})
    assert either.is_satisfied([(1, False), (3, False)])  # 3 covers manager, 1 covers legal
    unfilled = ApprovalPolicy(required=2, roles=["approver_manager", "approver_legal"], holders={"approver_manager": {1}, "approver_legal": set()})
    assert unfilled.is_satisfied([(1, True), (4, True)]) and not unfilled.is_satisfied([(1, True), (5, False)])


def test_a_viewer_holding_an_approver_role_still_cannot_approve(incident, bob_membership, carol_membership, dave_membership):
    incident_services.incident_assign_role(incident=incident, actor_membership=carol_membership, role="approver_legal", member_id=dave_membership.user_id)
    statement = _draft(incident, bob_membership)
    services.statement_submit(statement=statement, actor_membership=bob_membership)
    with pytest.raises(NotAllowed):
        _approve(statement, dave_membership)


def test_an_approval_the_rules_outgrew_goes_back_for_approval_instead_of_sticking(incident, bob_membership, carol_membership, frank_membership):
    statement = _draft(incident, bob_membership)
    services.statement_submit(statement=statement, actor_membership=bob_membership)
    _approve(statement, carol_membership)
    incident_services.incident_change_severity(incident=incident, actor_membership=carol_membership, severity=1)  # now legal must sign too
    with pytest.raises(ServiceError) as error:
        services.statement_publish(statement=statement, actor_membership=carol_membership)
    assert error.value.code == "approval_outdated"
    statement.refresh_from_db()
    assert statement.status == StatementStatus.IN_REVIEW
    _approve(statement, frank_membership)
    statement.refresh_from_db()
    assert statement.status == StatementStatus.APPROVED  # carol's approval of the same words still counts


def test_the_published_words_keep_the_spokesperson_they_were_approved_with(incident, bob_membership, carol_membership, erin, publish_now):
    statement = _draft(incident, bob_membership, spokesperson_id=carol_membership.user_id)
    services.statement_submit(statement=statement, actor_membership=bob_membership)
    publish_now(statement, carol_membership)
    services.statement_edit(statement=statement, actor_membership=bob_membership, base_version=1, fields={}, spokesperson_id=erin.pk)
    statement.refresh_from_db()
    assert statement.published_version.number == 1 and statement.published_version.spokesperson_id == carol_membership.user_id
    assert statement.current_version.number == 2 and statement.current_version.spokesperson_id == erin.pk
    assert statement.status == StatementStatus.DRAFT


def test_an_email_outage_is_retried_not_lost_and_does_not_stop_the_clock(incident, bob_membership, carol_membership, monkeypatch):
    statement = _draft(incident, bob_membership, target_channels=["email"])
    services.statement_submit(statement=statement, actor_membership=bob_membership)
    _approve(statement, carol_membership)
    services.statement_publish(statement=statement, actor_membership=carol_membership)

    def mail_server_down(*, publication):
        raise ConnectionRefusedError("smtp")

    monkeypatch.setattr("responses.hub.email_subscribers", mail_server_down)
    _run_publications(statement)
    publication = Publication.objects.for_organization(incident.organization).get(statement=statement)
    assert publication.status == PublicationStatus.RETRYING and "ConnectionRefusedError" in publication.error and publication.next_attempt_at
    monkeypatch.setattr("responses.hub.email_subscribers", lambda *, publication: 0)
    Publication.unscoped.filter(pk=publication.pk).update(next_attempt_at=timezone.now())
    _run_publications(statement)
    publication.refresh_from_db()
    incident.refresh_from_db()
    assert publication.status == PublicationStatus.SUCCEEDED
    assert incident.first_statement_at is None  # an e-mail is not the public hearing from us


def test_a_worker_that_lost_its_claim_records_nothing(incident, bob_membership, carol_membership, monkeypatch):
    statement = _draft(incident, bob_membership)
    services.statement_submit(statement=statement, actor_membership=bob_membership)
    _approve(statement, carol_membership)
    [publication] = services.statement_publish(statement=statement, actor_membership=carol_membership)
    real_publish_to_hub = services._publish_to_hub

    def slow_hub(publication, now):
        # Meanwhile the lease ran out and another worker took the row over.
        Publication.unscoped.filter(pk=publication.pk).update(lease_until=timezone.now() + timedelta(hours=1))
        return real_publish_to_hub(publication, now)

    monkeypatch.setattr(services, "_publish_to_hub", slow_hub)
    assert services.publication_attempt(publication_id=publication.pk) is None
    publication.refresh_from_db()
    assert publication.status == PublicationStatus.SENDING and publication.published_at is None
    assert not TimelineEntry.objects.for_organization(incident.organization).filter(text__startswith="Published on").exists()


def test_a_builtin_channels_name_is_reserved(org_a, alice_membership):
    with pytest.raises(ServiceError) as error:
        services.channel_create(organization=org_a, actor_membership=alice_membership, kind="webhook", name="Public crisis hub",
                                config={"url": "https://hooks.partner.example/x"}, credentials={"secret": "s" * 32})
    assert error.value.field == "name"


def test_the_diff_names_a_changed_spokesperson(incident, bob_membership, carol_membership, erin):
    from responses.diff import version_diff

    statement = _draft(incident, bob_membership, spokesperson_id=carol_membership.user_id)
    services.statement_edit(statement=statement, actor_membership=bob_membership, base_version=1, fields={}, spokesperson_id=erin.pk)
    versions = {version.number: version for version in StatementVersion.objects.for_organization(incident.organization).filter(statement=statement)}
    changes = {change["field"]: change for change in version_diff(versions[1], versions[2])}
    assert list(changes) == ["spokesperson"]
    assert (changes["spokesperson"]["before"], changes["spokesperson"]["after"]) == ("Carol", "Erin")


def test_a_reply_template_is_never_published_as_a_post(incident, bob_membership, carol_membership):
    template = _draft(incident, bob_membership, kind="reply_template", body="We hear you. {hub_url}")
    assert template.target_channels == []
    services.statement_submit(statement=template, actor_membership=bob_membership)
    _approve(template, carol_membership)
    with pytest.raises(ServiceError) as error:
        services.statement_publish(statement=template, actor_membership=carol_membership)
    assert error.value.code == "reply_template"
    assert not Publication.objects.for_organization(incident.organization).exists()


def test_the_hub_address_comes_from_the_approved_headline_not_the_internal_title(incident, bob_membership, carol_membership, publish_now):
    from responses.models import HubPage

    statement = _draft(incident, bob_membership)
    services.statement_submit(statement=statement, actor_membership=bob_membership)
    publish_now(statement, carol_membership)
    page = HubPage.objects.for_organization(incident.organization).get(incident=incident)
    assert page.slug == f"batch-42-recall-{incident.pk}" and "nuts" not in page.slug


def test_a_failed_publication_is_sent_again_on_request_and_only_it(incident, alice_membership, bob_membership, carol_membership, frank_membership):
    hub = services.builtin_channels(incident.organization_id)["hub"]
    services.channel_access_grant(channel=hub, actor_membership=alice_membership, user_id=bob_membership.user_id)
    statement = _draft(incident, frank_membership)
    services.statement_submit(statement=statement, actor_membership=frank_membership)
    _approve(statement, carol_membership)
    [publication] = services.statement_publish(statement=statement, actor_membership=bob_membership)
    services.channel_access_revoke(channel=hub, actor_membership=alice_membership, user_id=bob_membership.user_id)
    _run_publications(statement)
    publication.refresh_from_db()
    assert publication.status == PublicationStatus.FAILED
    with pytest.raises(NotAllowed):
        services.publication_retry(publication=publication, actor_membership=bob_membership)  # still revoked
    services.publication_retry(publication=publication, actor_membership=carol_membership)  # a manager: the list is empty again
    _run_publications(statement)
    publication.refresh_from_db()
    assert publication.status == PublicationStatus.SUCCEEDED and publication.requested_by_id == carol_membership.user_id
    with pytest.raises(ServiceError):
        services.publication_retry(publication=publication, actor_membership=carol_membership)
    assert AuditEntry.objects.for_organization(incident.organization).filter(action="statement.publish_retried").count() == 1
