"""Who may call which API endpoint: one test per endpoint, method and persona.

The rules: anonymous callers get 401 (with WWW-Authenticate), people outside the
organisation get 404 (its existence is not confirmed), members below the required role get
403, and everyone else a 2xx. Every error has the body
``{"error": {"status", "code", "message", "fields"?}}``.

Writes are checked twice: the status code, and the saved state afterwards (changed when the
call was allowed, untouched when it was refused).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.authtoken.models import Token

from crisiscenter import services
from crisiscenter.models import AuditEntry, Invitation, Membership, Organization, Role
from crisiscenter.urls import api_v1
from playbooks import document as playbook_document
from playbooks import services as playbook_services
from playbooks.models import (
    Notification,
    PlaybookProposal,
)
from playbooks.notifications import notify
from tests import matrix_state as state
from responses import api_urls as response_api_urls
from responses import services as response_services
from tests.factories import (
    PASSWORD,
    export_file,
    incident_world,
    mention_draft,
    monitoring_world,
    reply_world,
    statement_world,
    valid_playbook_document,
)

pytestmark = pytest.mark.django_db

ANYONE = "anyone"  # no authentication needed (the token exchange)
SIGNED_IN = "signed in"  # any authenticated user, whatever their organisations

# Org A roles of the personas; charlie owns org B and is an outsider to A.
ROLE_IN_ACME = {"dave": Role.VIEWER, "bob": Role.RESPONDER, "carol": Role.MANAGER, "erin": Role.ADMIN, "alice": Role.OWNER}
PERSONAS = ["anonymous", "charlie", *ROLE_IN_ACME]


@dataclass(frozen=True)
class Call:
    route: str
    method: str
    # may name {frank} (frank's membership id), {invitation} (a pending invitation's id),
    # {playbook} (a playbook of org A at version 2), {incident} (an open incident of org A
    # from that playbook, led by carol), {task} and {done_task} (an open and a done task of
    # it), {resolved} (a resolved incident) and {proposal} (an open proposal from it); for
    # monitoring {source} (the webhook source), {polled_source} (a Mastodon source), {watch},
    # {mention} (unclaimed), {held_mention} (claimed by bob), {rumour} and {job} (a queued
    # import) and {spike} (an open spike), all of org A (see tests.factories.monitoring_world); for
    # statements {statement} (bob's draft), {frank_review} (frank's, in review), {approved}
    # (approved, not published), {promise} (open, of the published one), {channel} (a
    # Mastodon channel on which {bob_user}, bob's user id, may publish); for replies and
    # scheduled posts {x_channel}, {x_mention}, {reply_template}, {scheduled_post} (waiting)
    # and {held_post} (held for review) (see tests.factories.reply_world)
    path: str
    who: str | Role  # ANYONE, SIGNED_IN, or the lowest role in org A that may do it
    success: int
    # a top-level value (or list item) that is just one of those names, or {frank_user}, is sent as that id
    body: dict | None = None
    upload: bytes | None = None  # sent as the multipart field "file" instead of a JSON body
    upload_name: str = "playbook.yaml"
    # For writes: reads the state the call changes, to compare before and after.
    state: Callable[[SimpleNamespace], object] | None = None
    variant: str = ""  # tells two calls of the same route and method apart in the test id


def _organization_count(world) -> int:
    return Organization.objects.count()


def _frank_has_token(world) -> bool:
    return Token.objects.filter(user=world.frank).exists()


def _task_done_at(task_name: str) -> Callable[[SimpleNamespace], object]:
    def read(world) -> object:
        task = getattr(world, task_name)
        task.refresh_from_db()
        return task.done_at

    return read


def _playbook_proposal_texts(world) -> list[str]:
    return sorted(PlaybookProposal.objects.for_organization(world.org_a).values_list("text", flat=True))


ACME = "/api/v1/organizations/acme"
PLAYBOOK = f"{ACME}/playbooks/{{playbook}}"
INCIDENT = f"{ACME}/incidents/{{incident}}"
RESOLVED = f"{ACME}/incidents/{{resolved}}"
GET_HEAD_OPTIONS = ("GET", "HEAD", "OPTIONS")
# The world's playbook is at version 2 ("Granola recall"); these documents differ from it.
NEW_PLAYBOOK = valid_playbook_document(name="Airport strike", category="external_disaster")
IMPORTED_PLAYBOOK_FILE = playbook_document.to_yaml(valid_playbook_document(name="Imported outage plan", category="service_outage")).encode()
NEXT_VERSION = valid_playbook_document(default_severity=1)
NEXT_VERSION_FILE = playbook_document.to_yaml(valid_playbook_document(scenario="Imported: the supplier confirmed the nuts.")).encode()
SOURCE = f"{ACME}/sources/{{source}}"
MENTION = f"{ACME}/mentions/{{mention}}"
RUMOUR = f"{ACME}/rumours/{{rumour}}"
IMPORTED_MENTIONS_FILE = export_file(mention_draft("upload-1", "Uploaded: is the recall real?"))

CALLS = [
    *(Call("api-me", method, "/api/v1/me/", SIGNED_IN, 200) for method in GET_HEAD_OPTIONS),
    Call(
        "api-token", "POST", "/api/v1/auth/token/", ANYONE, 200,
        body={"username": "frank", "password": PASSWORD}, state=_frank_has_token,
    ),
    Call("api-token", "OPTIONS", "/api/v1/auth/token/", ANYONE, 200),
    *(Call("api-organizations", method, "/api/v1/organizations/", SIGNED_IN, 200) for method in GET_HEAD_OPTIONS),
    Call(
        "api-organizations", "POST", "/api/v1/organizations/", SIGNED_IN, 201,
        body={"name": "Delta Rail", "slug": "delta"}, state=_organization_count,
    ),
    *(Call("api-organization", method, f"{ACME}/", Role.VIEWER, 200) for method in GET_HEAD_OPTIONS),
    Call("api-organization", "PATCH", f"{ACME}/", Role.ADMIN, 200, body={"name": "Acme Foods Ltd"}, state=state.acme_name),
    Call(
        "api-organization", "PATCH", f"{ACME}/", Role.ADMIN, 200, body={"on_call_roles": ["owner", "responder"]}, state=state.acme_on_call_roles,
        variant="on-call",
    ),
    *(Call("api-members", method, f"{ACME}/members/", Role.VIEWER, 200) for method in GET_HEAD_OPTIONS),
    *(Call("api-member", method, f"{ACME}/members/{{frank}}/", Role.VIEWER, 200) for method in GET_HEAD_OPTIONS),
    Call("api-member", "PATCH", f"{ACME}/members/{{frank}}/", Role.ADMIN, 200, body={"role": "manager"}, state=state.frank_role),
    # The view lets every member through (so anyone can leave); removing someone else
    # needs admin, which the service enforces.
    Call("api-member", "DELETE", f"{ACME}/members/{{frank}}/", Role.ADMIN, 204, state=state.frank_role),
    *(Call("api-invitations", method, f"{ACME}/invitations/", Role.ADMIN, 200) for method in GET_HEAD_OPTIONS),
    Call(
        "api-invitations", "POST", f"{ACME}/invitations/", Role.ADMIN, 201,
        body={"email": "newcomer@example.com", "role": "responder"}, state=state.acme_invitation_emails,
    ),
    Call(
        "api-invitation-revoke", "POST", f"{ACME}/invitations/{{invitation}}/revoke/", Role.ADMIN, 200,
        state=state.invitation_revoked_at,
    ),
    Call("api-invitation-revoke", "OPTIONS", f"{ACME}/invitations/{{invitation}}/revoke/", Role.ADMIN, 200),
    *(Call("api-audit", method, f"{ACME}/audit/", Role.ADMIN, 200) for method in GET_HEAD_OPTIONS),
    # Playbooks: members read, admins write (every write adds a playbook or a version).
    *(Call("api-playbook-starters", method, "/api/v1/playbook-starters/", SIGNED_IN, 200) for method in GET_HEAD_OPTIONS),
    *(Call("api-playbooks", method, f"{ACME}/playbooks/", Role.VIEWER, 200) for method in GET_HEAD_OPTIONS),
    Call(
        "api-playbooks", "POST", f"{ACME}/playbooks/", Role.ADMIN, 201,
        body={"document": NEW_PLAYBOOK}, state=state.acme_playbook_names, variant="document",
    ),
    Call(
        "api-playbooks", "POST", f"{ACME}/playbooks/", Role.ADMIN, 201,
        body={"starter": "service-outage"}, state=state.acme_playbook_names, variant="starter",
    ),
    Call(
        "api-playbook-import", "POST", f"{ACME}/playbooks/import/", Role.ADMIN, 201,
        upload=IMPORTED_PLAYBOOK_FILE, state=state.acme_playbook_names,
    ),
    Call("api-playbook-import", "OPTIONS", f"{ACME}/playbooks/import/", Role.ADMIN, 200),
    *(Call("api-playbook", method, f"{PLAYBOOK}/", Role.VIEWER, 200) for method in GET_HEAD_OPTIONS),
    *(Call("api-playbook-versions", method, f"{PLAYBOOK}/versions/", Role.VIEWER, 200) for method in GET_HEAD_OPTIONS),
    Call(
        "api-playbook-versions", "POST", f"{PLAYBOOK}/versions/", Role.ADMIN, 201,
        body={"document": NEXT_VERSION, "change_note": "Severity 1 by default"}, state=state.playbook_version_numbers,
    ),
    *(Call("api-playbook-version", method, f"{PLAYBOOK}/versions/1/", Role.VIEWER, 200) for method in GET_HEAD_OPTIONS),
    *(Call("api-playbook-diff", method, f"{PLAYBOOK}/diff/?from=1&to=2", Role.VIEWER, 200) for method in GET_HEAD_OPTIONS),
    *(Call("api-playbook-export", method, f"{PLAYBOOK}/export/?format=yaml", Role.VIEWER, 200) for method in GET_HEAD_OPTIONS),
    Call(
        "api-playbook-import-version", "POST", f"{PLAYBOOK}/import/", Role.ADMIN, 201,
        upload=NEXT_VERSION_FILE, state=state.playbook_version_numbers,
    ),
    Call("api-playbook-import-version", "OPTIONS", f"{PLAYBOOK}/import/", Role.ADMIN, 200),
    Call("api-playbook-archive", "POST", f"{PLAYBOOK}/archive/", Role.ADMIN, 200, body={"archived": True}, state=state.playbook_archived),
    Call("api-playbook-archive", "OPTIONS", f"{PLAYBOOK}/archive/", Role.ADMIN, 200),
    # Incidents: members read, responders work them. Status, severity and roles let responders
    # past the view, and the service then wants a manager or the incident's lead (carol, a
    # manager anyway, so bob is refused here).
    *(Call("api-incidents", method, f"{ACME}/incidents/", Role.VIEWER, 200) for method in GET_HEAD_OPTIONS),
    Call(
        "api-incidents", "POST", f"{ACME}/incidents/", Role.RESPONDER, 201,
        body={"title": "Airport strike", "playbook_id": "{playbook}"}, state=state.acme_incident_titles,
    ),
    *(Call("api-incident", method, f"{INCIDENT}/", Role.VIEWER, 200) for method in GET_HEAD_OPTIONS),
    Call("api-incident-acknowledge", "POST", f"{INCIDENT}/acknowledge/", Role.RESPONDER, 200, state=state.incident_field("acknowledged_at")),
    Call("api-incident-acknowledge", "OPTIONS", f"{INCIDENT}/acknowledge/", Role.RESPONDER, 200),
    Call("api-incident-status", "POST", f"{INCIDENT}/status/", Role.MANAGER, 200, body={"status": "contained"}, state=state.incident_field("status")),
    Call("api-incident-status", "OPTIONS", f"{INCIDENT}/status/", Role.RESPONDER, 200),
    Call("api-incident-severity", "POST", f"{INCIDENT}/severity/", Role.MANAGER, 200, body={"severity": 1}, state=state.incident_field("severity")),
    Call("api-incident-severity", "OPTIONS", f"{INCIDENT}/severity/", Role.RESPONDER, 200),
    Call(
        "api-incident-facts", "PATCH", f"{INCIDENT}/facts/", Role.RESPONDER, 200,
        body={"known": "Batch 42 went to three shops."}, state=state.incident_field("known"),
    ),
    Call("api-incident-facts", "OPTIONS", f"{INCIDENT}/facts/", Role.RESPONDER, 200),
    *(Call("api-incident-roles", method, f"{INCIDENT}/roles/", Role.VIEWER, 200) for method in GET_HEAD_OPTIONS),
    Call(
        "api-incident-roles", "POST", f"{INCIDENT}/roles/", Role.MANAGER, 200,
        body={"role": "spokesperson", "member_id": "{frank_user}"}, state=state.incident_roles,
    ),
    *(Call("api-incident-tasks", method, f"{INCIDENT}/tasks/", Role.VIEWER, 200) for method in GET_HEAD_OPTIONS),
    Call(
        "api-incident-tasks", "POST", f"{INCIDENT}/tasks/", Role.RESPONDER, 201,
        body={"title": "Call the supplier"}, state=state.incident_task_titles,
    ),
    Call("api-incident-task-done", "POST", f"{INCIDENT}/tasks/{{task}}/done/", Role.RESPONDER, 200, state=_task_done_at("task")),
    Call("api-incident-task-done", "DELETE", f"{INCIDENT}/tasks/{{done_task}}/done/", Role.RESPONDER, 200, state=_task_done_at("done_task")),
    Call("api-incident-task-done", "OPTIONS", f"{INCIDENT}/tasks/{{task}}/done/", Role.RESPONDER, 200),
    *(Call("api-incident-timeline", method, f"{INCIDENT}/timeline/", Role.VIEWER, 200) for method in GET_HEAD_OPTIONS),
    Call(
        "api-incident-timeline", "POST", f"{INCIDENT}/timeline/", Role.RESPONDER, 201,
        body={"text": "The CEO called."}, state=state.incident_timeline_length,
    ),
    # Reviews are written once the incident is resolved.
    *(Call("api-incident-review", method, f"{RESOLVED}/review/", Role.VIEWER, 200) for method in GET_HEAD_OPTIONS),
    Call(
        "api-incident-review", "PUT", f"{RESOLVED}/review/", Role.RESPONDER, 200,
        body={"went_well": "We answered within the hour.", "to_change": "", "action_items": []}, state=state.resolved_review,
    ),
    Call(
        "api-incident-proposals", "POST", f"{RESOLVED}/proposals/", Role.RESPONDER, 201,
        body={"text": "Check the supplier's allergen list first."}, state=_playbook_proposal_texts,
    ),
    Call("api-incident-proposals", "OPTIONS", f"{RESOLVED}/proposals/", Role.RESPONDER, 200),
    # Everyone reads and clears only their own notifications (every member has one unread).
    *(Call("api-notifications", method, f"{ACME}/notifications/", Role.VIEWER, 200) for method in GET_HEAD_OPTIONS),
    Call("api-notifications", "POST", f"{ACME}/notifications/", Role.VIEWER, 204, state=state.acme_unread_notifications),
    # Monitoring: admins configure sources, watches and imports; members read the inbox,
    # rumours and series; responders triage; managers assign, export and correct.
    *(Call("api-sources", method, f"{ACME}/sources/", Role.ADMIN, 200) for method in GET_HEAD_OPTIONS),
    Call(
        "api-sources", "POST", f"{ACME}/sources/", Role.ADMIN, 201,
        body={"name": "Newsroom hook", "kind": "webhook"}, state=state.acme_source_names,
    ),
    *(Call("api-source", method, f"{SOURCE}/", Role.ADMIN, 200) for method in GET_HEAD_OPTIONS),
    Call("api-source", "PATCH", f"{SOURCE}/", Role.ADMIN, 200, body={"name": "Partner feed"}, state=state.source_field("name")),
    Call(
        "api-source-rotate-secret", "POST", f"{SOURCE}/rotate-secret/", Role.ADMIN, 200,
        state=state.source_field("credentials_encrypted"),
    ),
    Call("api-source-rotate-secret", "OPTIONS", f"{SOURCE}/rotate-secret/", Role.ADMIN, 200),
    Call(
        "api-source-poll", "POST", f"{ACME}/sources/{{polled_source}}/poll/", Role.ADMIN, 202,
        state=state.source_field("next_poll_at", "polled_source"),
    ),
    Call("api-source-poll", "OPTIONS", f"{ACME}/sources/{{polled_source}}/poll/", Role.ADMIN, 200),
    # The webhook has no user: its POST is authenticated by the body's HMAC signature (see
    # OUTSIDE_THE_MATRIX); describing it is public.
    Call("api-source-webhook", "OPTIONS", f"{SOURCE}/webhook/", ANYONE, 200),
    *(Call("api-watches", method, f"{ACME}/watches/", Role.VIEWER, 200) for method in GET_HEAD_OPTIONS),
    Call(
        "api-watches", "POST", f"{ACME}/watches/", Role.ADMIN, 201,
        body={"name": "Allergens", "query": "nuts OR peanuts"}, state=state.acme_watch_names,
    ),
    *(Call("api-watch", method, f"{ACME}/watches/{{watch}}/", Role.VIEWER, 200) for method in GET_HEAD_OPTIONS),
    Call(
        "api-watch", "PUT", f"{ACME}/watches/{{watch}}/", Role.ADMIN, 200,
        body={"name": "Recall", "query": "recall OR recalled"}, state=state.watch_query,
    ),
    *(Call("api-mentions", method, f"{ACME}/mentions/", Role.VIEWER, 200) for method in GET_HEAD_OPTIONS),
    Call(
        "api-mentions-bulk", "POST", f"{ACME}/mentions/bulk/", Role.RESPONDER, 200,
        body={"mention_ids": ["{mention}"], "action": "tag", "tag": "checked"}, state=state.mention_tags,
    ),
    Call("api-mentions-bulk", "OPTIONS", f"{ACME}/mentions/bulk/", Role.RESPONDER, 200),
    *(Call("api-mentions-export", method, f"{ACME}/mentions/export/", Role.MANAGER, 200) for method in GET_HEAD_OPTIONS),
    *(Call("api-mention", method, f"{MENTION}/", Role.VIEWER, 200) for method in GET_HEAD_OPTIONS),
    Call("api-mention-claim", "POST", f"{MENTION}/claim/", Role.RESPONDER, 200, state=state.mention_field("assignee_id")),
    Call("api-mention-claim", "OPTIONS", f"{MENTION}/claim/", Role.RESPONDER, 200),
    # bob holds it, so bob may let it go; managers and above may release anyone's.
    Call(
        "api-mention-release", "POST", f"{ACME}/mentions/{{held_mention}}/release/", Role.RESPONDER, 200,
        state=state.mention_field("assignee_id", "held_mention"),
    ),
    Call("api-mention-release", "OPTIONS", f"{ACME}/mentions/{{held_mention}}/release/", Role.RESPONDER, 200),
    Call(
        "api-mention-status", "POST", f"{MENTION}/status/", Role.RESPONDER, 200,
        body={"status": "needs_reply"}, state=state.mention_field("status"),
    ),
    Call("api-mention-status", "OPTIONS", f"{MENTION}/status/", Role.RESPONDER, 200),
    Call(
        "api-mention-assign", "POST", f"{MENTION}/assign/", Role.MANAGER, 200,
        body={"assignee_id": "{frank_user}"}, state=state.mention_field("assignee_id"),
    ),
    Call("api-mention-assign", "OPTIONS", f"{MENTION}/assign/", Role.MANAGER, 200),
    Call("api-mention-tags", "POST", f"{MENTION}/tags/", Role.RESPONDER, 200, body={"add": ["allergy"]}, state=state.mention_tags),
    Call("api-mention-tags", "OPTIONS", f"{MENTION}/tags/", Role.RESPONDER, 200),
    Call(
        "api-mention-notes", "POST", f"{MENTION}/notes/", Role.RESPONDER, 201,
        body={"text": "Sent to the allergy team."}, state=state.mention_note_texts,
    ),
    Call("api-mention-notes", "OPTIONS", f"{MENTION}/notes/", Role.RESPONDER, 200),
    Call(
        "api-mention-incident", "POST", f"{MENTION}/incident/", Role.RESPONDER, 200,
        body={"incident_id": "{incident}"}, state=state.mention_field("incident_id"),
    ),
    Call("api-mention-incident", "OPTIONS", f"{MENTION}/incident/", Role.RESPONDER, 200),
    *(Call("api-imports", method, f"{ACME}/imports/", Role.ADMIN, 200) for method in GET_HEAD_OPTIONS),
    Call(
        "api-imports", "POST", f"{ACME}/imports/", Role.ADMIN, 201,
        upload=IMPORTED_MENTIONS_FILE, upload_name="mentions-upload.jsonl", state=state.acme_import_file_names,
    ),
    *(Call("api-import", method, f"{ACME}/imports/{{job}}/", Role.ADMIN, 200) for method in GET_HEAD_OPTIONS),
    Call("api-import-cancel", "POST", f"{ACME}/imports/{{job}}/cancel/", Role.ADMIN, 200, state=state.job_status),
    Call("api-import-cancel", "OPTIONS", f"{ACME}/imports/{{job}}/cancel/", Role.ADMIN, 200),
    *(Call("api-rumours", method, f"{ACME}/rumours/", Role.VIEWER, 200) for method in GET_HEAD_OPTIONS),
    Call(
        "api-rumours", "POST", f"{ACME}/rumours/", Role.RESPONDER, 201,
        body={"claim": "The factory is closing"}, state=state.acme_rumour_claims,
    ),
    *(Call("api-rumour", method, f"{RUMOUR}/", Role.VIEWER, 200) for method in GET_HEAD_OPTIONS),
    Call(
        "api-rumour", "PUT", f"{RUMOUR}/", Role.RESPONDER, 200,
        body={"claim": "The bars contain peanuts", "status": "false"}, state=state.rumour_field("status"),
    ),
    Call(
        "api-rumour-mentions", "POST", f"{RUMOUR}/mentions/", Role.RESPONDER, 200,
        body={"mention_ids": ["{mention}"]}, state=state.rumour_mention_ids,
    ),
    Call("api-rumour-mentions", "OPTIONS", f"{RUMOUR}/mentions/", Role.RESPONDER, 200),
    Call(
        "api-rumour-correct", "POST", f"{RUMOUR}/correct/", Role.MANAGER, 200,
        body={"correction": "There are no peanuts: the supplier's tests are clean."}, state=state.rumour_field("correction"),
    ),
    Call("api-rumour-correct", "OPTIONS", f"{RUMOUR}/correct/", Role.MANAGER, 200),
    *(Call("api-authors", method, f"{ACME}/authors/", Role.VIEWER, 200) for method in GET_HEAD_OPTIONS),
    *(Call("api-author", method, f"{ACME}/authors/angry_customer/", Role.VIEWER, 200) for method in GET_HEAD_OPTIONS),
    *(Call("api-volume", method, f"{ACME}/volume/", Role.VIEWER, 200) for method in GET_HEAD_OPTIONS),
    *(Call("api-tags", method, f"{ACME}/tags/", Role.VIEWER, 200) for method in GET_HEAD_OPTIONS),
    *(Call("api-spikes", method, f"{ACME}/spikes/", Role.VIEWER, 200) for method in GET_HEAD_OPTIONS),
    *(Call("api-spike", method, f"{ACME}/spikes/{{spike}}/", Role.VIEWER, 200) for method in GET_HEAD_OPTIONS),
    Call("api-spike-incident", "POST", f"{ACME}/spikes/{{spike}}/incident/", Role.RESPONDER, 201, body={}, state=state.spike_field("incident_id")),
    Call("api-spike-incident", "OPTIONS", f"{ACME}/spikes/{{spike}}/incident/", Role.RESPONDER, 200),
    Call(
        "api-spike-attach", "POST", f"{ACME}/spikes/{{spike}}/attach/", Role.RESPONDER, 200,
        body={"incident_id": "{incident}"}, state=state.spike_field("incident_id"),
    ),
    Call("api-spike-attach", "OPTIONS", f"{ACME}/spikes/{{spike}}/attach/", Role.RESPONDER, 200),
    Call("api-spike-snooze", "POST", f"{ACME}/spikes/{{spike}}/snooze/", Role.RESPONDER, 200, body={"minutes": 60}, state=state.spike_field("snoozed_until")),
    Call("api-spike-snooze", "OPTIONS", f"{ACME}/spikes/{{spike}}/snooze/", Role.RESPONDER, 200),
    Call("api-spike-dismiss", "POST", f"{ACME}/spikes/{{spike}}/dismiss/", Role.RESPONDER, 200, state=state.spike_field("dismissed_at")),
    Call("api-spike-dismiss", "OPTIONS", f"{ACME}/spikes/{{spike}}/dismiss/", Role.RESPONDER, 200),
    *(Call("api-war-room", method, f"{ACME}/war-room/", Role.VIEWER, 200) for method in GET_HEAD_OPTIONS),
    # Statements (tests.factories.statement_world: bob wrote them, carol approved; frank wrote
    # {frank_review}, in review). Members read; responders write, submit, translate and keep
    # promises. Deciding and publishing let responders past the view: the approval policy
    # (approver role holders, else managers) and each channel's access list (managers while
    # it has none) decide, so bob is refused by the service here.
    *(Call("api-statements", method, f"{INCIDENT}/statements/", Role.VIEWER, 200) for method in GET_HEAD_OPTIONS),
    Call(
        "api-statements", "POST", f"{INCIDENT}/statements/", Role.RESPONDER, 201,
        body={"kind": "holding", "template_index": 0}, state=state.incident_statement_ids,
    ),
    *(Call("api-statement", method, f"{ACME}/statements/{{statement}}/", Role.VIEWER, 200) for method in GET_HEAD_OPTIONS),
    *(Call("api-statement-versions", method, f"{ACME}/statements/{{statement}}/versions/", Role.VIEWER, 200) for method in GET_HEAD_OPTIONS),
    Call(
        "api-statement-versions", "POST", f"{ACME}/statements/{{statement}}/versions/", Role.RESPONDER, 201,
        body={"base_version": 1, "body": "We are sorry. The recall covers batch 42 only."}, state=state.statement_version_numbers,
    ),
    *(Call("api-statement-version", method, f"{ACME}/statements/{{statement}}/versions/1/", Role.VIEWER, 200) for method in GET_HEAD_OPTIONS),
    *(Call("api-statement-diff", method, f"{ACME}/statements/{{statement}}/diff/?to=1", Role.VIEWER, 200) for method in GET_HEAD_OPTIONS),
    Call("api-statement-submit", "POST", f"{ACME}/statements/{{statement}}/submit/", Role.RESPONDER, 200, state=state.statement_field("status")),
    Call("api-statement-submit", "OPTIONS", f"{ACME}/statements/{{statement}}/submit/", Role.RESPONDER, 200),
    Call(
        "api-statement-decision", "POST", f"{ACME}/statements/{{frank_review}}/decision/", Role.MANAGER, 200,
        body={"version": 1, "decision": "approve"}, state=state.statement_field("status", "frank_review"),
    ),
    Call("api-statement-decision", "OPTIONS", f"{ACME}/statements/{{frank_review}}/decision/", Role.RESPONDER, 200),
    Call("api-statement-publish", "POST", f"{ACME}/statements/{{approved}}/publish/", Role.MANAGER, 202, state=state.statement_field("status", "approved")),
    Call("api-statement-publish", "OPTIONS", f"{ACME}/statements/{{approved}}/publish/", Role.RESPONDER, 200),
    Call("api-publication-retry", "POST", f"{ACME}/publications/{{failed_publication}}/retry/", Role.MANAGER, 202, state=state.failed_publication_status),
    Call("api-publication-retry", "OPTIONS", f"{ACME}/publications/{{failed_publication}}/retry/", Role.RESPONDER, 200),
    Call(
        "api-statement-translations", "POST", f"{ACME}/statements/{{statement}}/translations/", Role.RESPONDER, 201,
        body={"language": "nl", "headline": "Terugroepactie", "body": "Het spijt ons."}, state=state.statement_translation_languages,
    ),
    Call("api-statement-translations", "OPTIONS", f"{ACME}/statements/{{statement}}/translations/", Role.RESPONDER, 200),
    # The tone check saves nothing: no state to compare.
    Call("api-tone-check", "POST", f"{INCIDENT}/tone-check/", Role.RESPONDER, 200, body={"text": "We did nothing wrong."}),
    Call("api-tone-check", "OPTIONS", f"{INCIDENT}/tone-check/", Role.RESPONDER, 200),
    *(Call("api-approvals", method, f"{ACME}/approvals/", Role.VIEWER, 200) for method in GET_HEAD_OPTIONS),
    *(Call("api-promises", method, f"{INCIDENT}/promises/", Role.VIEWER, 200) for method in GET_HEAD_OPTIONS),
    Call("api-promise-keep", "POST", f"{ACME}/promises/{{promise}}/keep/", Role.RESPONDER, 200, state=state.promise_status),
    Call("api-promise-keep", "OPTIONS", f"{ACME}/promises/{{promise}}/keep/", Role.RESPONDER, 200),
    # Channels: responders see them (never their credentials); admins add them, switch them
    # and keep their access lists; only admins lock publishing down.
    *(Call("api-channels", method, f"{ACME}/channels/", Role.RESPONDER, 200) for method in GET_HEAD_OPTIONS),
    Call(
        "api-channels", "POST", f"{ACME}/channels/", Role.ADMIN, 201,
        body={"kind": "mastodon", "name": "Acme support on Mastodon", "config": {"instance_url": "https://mastodon.example"},
              "credentials": {"access_token": "another-matrix-token"}},
        state=state.acme_channel_names,
    ),
    *(Call("api-channel", method, f"{ACME}/channels/{{channel}}/", Role.RESPONDER, 200) for method in GET_HEAD_OPTIONS),
    Call("api-channel", "PATCH", f"{ACME}/channels/{{channel}}/", Role.ADMIN, 200, body={"is_enabled": False}, state=state.channel_field("is_enabled")),
    Call(
        "api-channel-access", "POST", f"{ACME}/channels/{{channel}}/access/", Role.ADMIN, 201,
        body={"user_id": "{frank_user}", "in_lockdown": True}, state=state.channel_live_grants,
    ),
    Call("api-channel-access", "OPTIONS", f"{ACME}/channels/{{channel}}/access/", Role.ADMIN, 200),
    Call("api-channel-access-revoke", "DELETE", f"{ACME}/channels/{{channel}}/access/{{bob_user}}/", Role.ADMIN, 204, state=state.channel_live_grants),
    Call("api-channel-access-revoke", "OPTIONS", f"{ACME}/channels/{{channel}}/access/{{bob_user}}/", Role.ADMIN, 200),
    *(Call("api-lockdown", method, f"{ACME}/publishing/lockdown/", Role.VIEWER, 200) for method in GET_HEAD_OPTIONS),
    Call(
        "api-lockdown", "POST", f"{ACME}/publishing/lockdown/", Role.ADMIN, 201,
        body={"reason": "Account compromise suspected"}, state=state.active_lockdown_reason,
    ),
    Call("api-lockdown", "DELETE", f"{ACME}/publishing/lockdown/", Role.ADMIN, 204, state=state.lockdown_ended_at),
    # Replies and scheduled posts (tests.factories.reply_world: an X channel without an access
    # list, so managers and up may use it and bob is refused by the service; a held post and a
    # waiting one). Members read; responders reply, schedule and cancel; managers resume after
    # review; admins set the policy. Sending only queues: the worker never runs in a matrix.
    *(Call("api-publishing-policy", method, f"{ACME}/publishing/policy/", Role.VIEWER, 200) for method in GET_HEAD_OPTIONS),
    Call(
        "api-publishing-policy", "PATCH", f"{ACME}/publishing/policy/", Role.ADMIN, 200,
        body={"pause_scheduled_at_severity": 3, "replies_per_author": 5}, state=state.acme_publishing_policy,
    ),
    *(Call("api-mention-replies", method, f"{ACME}/mentions/{{x_mention}}/replies/", Role.VIEWER, 200) for method in GET_HEAD_OPTIONS),
    Call(
        "api-mention-replies", "POST", f"{ACME}/mentions/{{x_mention}}/replies/", Role.MANAGER, 202,
        body={"template_id": "{reply_template}"}, state=state.x_mention_reply_ids,
    ),
    *(Call("api-reply-templates", method, f"{INCIDENT}/reply-templates/", Role.VIEWER, 200) for method in GET_HEAD_OPTIONS),
    *(Call("api-scheduled-posts", method, f"{ACME}/scheduled-posts/", Role.VIEWER, 200) for method in GET_HEAD_OPTIONS),
    Call(
        "api-scheduled-posts", "POST", f"{ACME}/scheduled-posts/", Role.MANAGER, 201,
        body={"channel_id": "{x_channel}", "text": "Autumn recipes", "scheduled_at": "2031-10-01T09:00:00+02:00"}, state=state.acme_scheduled_post_texts,
    ),
    Call(
        "api-scheduled-post-cancel", "POST", f"{ACME}/scheduled-posts/{{scheduled_post}}/cancel/", Role.RESPONDER, 200,
        state=state.scheduled_post_field("status"),
    ),
    Call("api-scheduled-post-cancel", "OPTIONS", f"{ACME}/scheduled-posts/{{scheduled_post}}/cancel/", Role.RESPONDER, 200),
    Call(
        "api-scheduled-post-resume", "POST", f"{ACME}/scheduled-posts/{{held_post}}/resume/", Role.MANAGER, 200,
        body={}, state=state.scheduled_post_field("status", "held_post"),
    ),
    Call("api-scheduled-post-resume", "OPTIONS", f"{ACME}/scheduled-posts/{{held_post}}/resume/", Role.MANAGER, 200),
]

# Routes and methods that no persona-and-role row can express, with the tests that cover them.
OUTSIDE_THE_MATRIX = {
    # No user at all: the sender proves itself with an HMAC signature of the exact body, so
    # an unauthenticated caller is the normal case (tests/test_webhook.py).
    ("api-source-webhook", "POST"),
}

# Views that let lower roles through for the service to decide (see the matrix rows).
DECIDED_BY_THE_SERVICE = {
    ("api-member", "DELETE"): Role.VIEWER,  # leaving is for everyone
    ("api-incident-status", "POST"): Role.RESPONDER,  # the incident's lead may
    ("api-incident-severity", "POST"): Role.RESPONDER,
    ("api-incident-roles", "POST"): Role.RESPONDER,
    ("api-statement-decision", "POST"): Role.RESPONDER,  # approver role holders may, whatever their organisation role
    ("api-statement-publish", "POST"): Role.RESPONDER,  # the channel's access list decides
    ("api-publication-retry", "POST"): Role.RESPONDER,
    ("api-mention-replies", "POST"): Role.RESPONDER,  # the channel's access list decides
    ("api-scheduled-posts", "POST"): Role.RESPONDER,
}

# The code a service refusal of such a route carries (members below the view's role get the
# view's "permission_denied").
REFUSED_BY_THE_SERVICE_WITH = {
    ("api-statement-decision", "POST"): "not_an_approver",
    ("api-statement-publish", "POST"): "publishing_not_allowed",
    ("api-publication-retry", "POST"): "publishing_not_allowed",
    ("api-mention-replies", "POST"): "publishing_not_allowed",
    ("api-scheduled-posts", "POST"): "publishing_not_allowed",
}


def expected_refusal_code(call: Call, persona: str) -> str:
    view_role = DECIDED_BY_THE_SERVICE.get((call.route, call.method))
    if view_role is not None and ROLE_IN_ACME[persona].at_least(view_role):
        return REFUSED_BY_THE_SERVICE_WITH.get((call.route, call.method), "permission_denied")
    return "permission_denied"


def expected_status(call: Call, persona: str) -> int:
    if call.who == ANYONE:
        return call.success
    if persona == "anonymous":
        return 401
    if call.who == SIGNED_IN:
        return call.success
    if persona == "charlie":
        return 404
    return call.success if ROLE_IN_ACME[persona].at_least(call.who) else 403


def _cases(status_filter: Callable[[int, Call], bool]):
    return [
        pytest.param(call, persona, id=f"{call.method} {call.route}{f' ({call.variant})' if call.variant else ''} as {persona}")
        for call in CALLS
        for persona in PERSONAS
        if status_filter(expected_status(call, persona), call)
    ]


@pytest.fixture
def world(request, org_a, org_b, personas, erin, frank_membership, alice_membership, bob_membership, carol_membership, api_client_for):
    invitation, _token = services.invitation_create(
        organization=org_a, actor_membership=alice_membership, email="pending@example.com", role=Role.VIEWER
    )
    playbook = playbook_services.playbook_create(organization=org_a, actor_membership=alice_membership, document=valid_playbook_document())
    playbook_services.playbook_update(
        playbook=playbook, actor_membership=alice_membership, document=valid_playbook_document(scenario="The supplier confirmed the nuts.")
    )
    incidents = incident_world(playbook=playbook, opener=alice_membership, lead=personas["carol"])
    monitoring = monitoring_world(admin=alice_membership, holder=bob_membership)
    statements = SimpleNamespace()
    if _uses_statements(request):
        statements = _statements_world(incident=incidents.incident, alice=alice_membership, bob=bob_membership, carol=carol_membership, frank=frank_membership)
    replies = SimpleNamespace()
    if _uses_routes(request, REPLY_ROUTES):
        replies = reply_world(incident=incidents.incident, admin=alice_membership, author=bob_membership, approver=carol_membership)
    users = {**personas, "erin": erin}
    return SimpleNamespace(
        org_a=org_a,
        frank=frank_membership.user,
        frank_membership=frank_membership,
        invitation=invitation,
        playbook=playbook,
        **vars(incidents),
        **vars(monitoring),
        **vars(statements),
        **vars(replies),
        users=users,
        client_for=lambda persona: api_client_for(users[persona]),
    )


def _uses_statements(request) -> bool:
    # Only the rows of the statement routes need statements; building them for every row of
    # the matrix would slow all of it down.
    return _uses_routes(request, {pattern.name for pattern in response_api_urls.urlpatterns} - REPLY_ROUTES)


REPLY_ROUTES = {
    "api-publishing-policy", "api-mention-replies", "api-reply-templates", "api-scheduled-posts", "api-scheduled-post-cancel", "api-scheduled-post-resume",
}


def _uses_routes(request, routes: set[str]) -> bool:
    callspec = getattr(request.node, "callspec", None)
    call = callspec.params.get("call") if callspec else None
    return call is None or call.route in routes


def _statements_world(*, incident, alice, bob, carol, frank) -> SimpleNamespace:
    """tests.factories.statement_world (bob writes, carol approves), with frank's update in
    review (``frank_review``) and a Mastodon ``channel`` on whose access list bob is."""
    statements = statement_world(incident=incident, author=bob, approver=carol)
    statements.frank_review = response_services.statement_draft(
        incident=incident, actor_membership=frank, kind="update", fields={"headline": "Frank's update", "body": "We are sorry."}
    )
    response_services.statement_submit(statement=statements.frank_review, actor_membership=frank)
    statements.channel = response_services.channel_create(
        organization=incident.organization, actor_membership=alice, kind="mastodon", name="Acme on Mastodon",
        config={"instance_url": "https://mastodon.example"}, credentials={"access_token": "matrix-access-token"},
    )
    response_services.channel_access_grant(channel=statements.channel, actor_membership=alice, user_id=bob.user_id)
    return statements


def _ids(world) -> dict[str, int]:
    return {
        "frank": world.frank_membership.pk, "frank_user": world.frank.pk, "invitation": world.invitation.pk, "playbook": world.playbook.pk,
        "incident": world.incident.pk, "task": world.task.pk, "done_task": world.done_task.pk, "resolved": world.resolved.pk,
        "proposal": world.proposal.pk, "source": world.source.pk, "polled_source": world.polled_source.pk, "watch": world.watch.pk,
        "mention": world.mention.pk, "held_mention": world.held_mention.pk, "rumour": world.rumour.pk, "job": world.job.pk,
        "spike": world.spike.pk, "bob_user": world.users["bob"].pk,
        **({
            "statement": world.draft.pk, "frank_review": world.frank_review.pk, "approved": world.approved.pk, "promise": world.promise.pk,
            "channel": world.channel.pk, "failed_publication": world.failed_publication.pk,
        } if hasattr(world, "draft") else {}),
        **({
            "x_channel": world.x_channel.pk, "x_mention": world.x_mention.pk, "reply_template": world.reply_template.pk,
            "scheduled_post": world.scheduled_post.pk, "held_post": world.held_post.pk,
        } if hasattr(world, "x_mention") else {}),
    }


def _fill_body(world, body: dict) -> dict:
    # Only whole-value names are filled: other values (playbook documents) may hold braces of their own.
    named = {f"{{{name}}}": pk for name, pk in _ids(world).items()}

    def fill(value):
        if isinstance(value, str):
            return named.get(value, value)
        if isinstance(value, list):
            return [named.get(item, item) if isinstance(item, str) else item for item in value]
        return value

    return {field: fill(value) for field, value in body.items()}


def _call(world, call: Call, persona: str):
    path = call.path.format(**_ids(world))
    send = getattr(world.client_for(persona), call.method.lower())
    if call.upload is not None:
        return send(path, {"file": SimpleUploadedFile(call.upload_name, call.upload)}, format="multipart")
    if call.body is None:
        return send(path)
    return send(path, _fill_body(world, call.body), format="json")


def assert_error_body(response, status: int) -> dict:
    error = response.json()["error"]
    assert error["status"] == status
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    return error


def _assert_refused(world, call: Call, persona: str, status: int):
    before = call.state(world) if call.state else None

    response = _call(world, call, persona)

    assert response.status_code == status
    if call.method != "HEAD":  # HEAD answers carry no body
        assert_error_body(response, status)
    if call.state:
        assert call.state(world) == before
    return response


# --- The matrix -------------------------------------------------------------------------
@pytest.mark.parametrize(("call", "persona"), _cases(lambda status, call: status == 401))
def test_anonymous_caller_gets_401_with_an_authenticate_challenge(world, call, persona):
    response = _assert_refused(world, call, persona, 401)

    assert response["WWW-Authenticate"] == "Token"
    if call.method != "HEAD":
        assert response.json()["error"]["code"] == "not_authenticated"


@pytest.mark.parametrize(("call", "persona"), _cases(lambda status, call: status == 404))
def test_outsider_gets_404_on_every_endpoint_of_another_organisation(world, call, persona):
    response = _assert_refused(world, call, persona, 404)

    if call.method != "HEAD":
        assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(("call", "persona"), _cases(lambda status, call: status == 403))
def test_member_below_the_required_role_gets_403(world, call, persona):
    response = _assert_refused(world, call, persona, 403)

    if call.method != "HEAD":
        assert response.json()["error"]["code"] == expected_refusal_code(call, persona)


@pytest.mark.parametrize(("call", "persona"), _cases(lambda status, call: 200 <= status < 300))
def test_caller_with_the_required_role_succeeds(world, call, persona):
    before = call.state(world) if call.state else None

    response = _call(world, call, persona)

    assert response.status_code == call.success, response.content
    if call.state:
        assert call.state(world) != before


def test_the_matrix_covers_every_api_route_and_method():
    served = set()
    for pattern in api_v1:
        view_class = pattern.callback.cls
        methods = {name.upper() for name in view_class.http_method_names if hasattr(view_class, name)}
        if "GET" in methods:
            methods.add("HEAD")  # Django answers HEAD with the GET handler
        served |= {(pattern.name, method) for method in methods}

    assert {(call.route, call.method) for call in CALLS} | OUTSIDE_THE_MATRIX == served
    assert not {(call.route, call.method) for call in CALLS} & OUTSIDE_THE_MATRIX


def test_the_matrix_roles_match_the_roles_the_views_declare():
    views = {pattern.name: pattern.callback.cls for pattern in api_v1}
    for call in CALLS:
        declared = getattr(views[call.route], "required_roles", None)
        if declared is None or call.method in ("HEAD", "OPTIONS"):
            continue
        expected = DECIDED_BY_THE_SERVICE.get((call.route, call.method), call.who)
        assert declared[call.method] == expected, f"{call.method} {call.route}"


# --- Error bodies -----------------------------------------------------------------------
def test_invalid_input_gets_400_naming_each_bad_field(alice, org_a, api_client_for):
    response = api_client_for(alice).post(f"{ACME}/invitations/", {"email": "not-an-address", "role": "captain"}, format="json")

    assert response.status_code == 400
    error = assert_error_body(response, 400)
    assert error["code"] == "invalid"
    assert set(error["fields"]) == {"email", "role"}
    assert not Invitation.objects.for_organization(org_a).exists()


def test_a_service_refusal_about_one_field_names_that_field(alice, api_client_for):
    response = api_client_for(alice).post("/api/v1/organizations/", {"name": "Delta", "slug": "-delta-"}, format="json")

    assert response.status_code == 400
    error = assert_error_body(response, 400)
    assert error["code"] == "invalid_slug"
    assert list(error["fields"]) == ["slug"]
    assert not Organization.objects.filter(name="Delta").exists()


def test_a_non_numeric_audit_actor_filter_is_a_400_naming_the_parameter(alice, api_client_for):
    response = api_client_for(alice).get(f"{ACME}/audit/", {"actor": "alice"})

    assert response.status_code == 400
    assert list(assert_error_body(response, 400)["fields"]) == ["actor"]


# --- Pagination -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "expected_count"),
    [
        pytest.param("/api/v1/organizations/", lambda world: 1, id="organizations"),
        pytest.param(f"{ACME}/members/", lambda world: 6, id="members"),  # alice, bob, carol, dave, erin, frank
        pytest.param(f"{ACME}/invitations/", lambda world: 1, id="invitations"),
        pytest.param(
            f"{ACME}/audit/", lambda world: AuditEntry.objects.for_organization(world.org_a).count(), id="audit"
        ),
    ],
)
def test_list_endpoints_are_paginated(world, path, expected_count):
    response = world.client_for("alice").get(path, {"page_size": 1})

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == expected_count(world)
    assert len(body["results"]) == 1
    assert body["previous"] is None
    assert (body["next"] is not None) == (body["count"] > 1)


# --- Roles and membership ---------------------------------------------------------------
def test_the_last_owner_cannot_demote_herself(alice_membership, api_client_for):
    response = api_client_for(alice_membership.user).patch(
        f"{ACME}/members/{alice_membership.pk}/", {"role": "admin"}, format="json"
    )

    assert response.status_code == 400
    assert assert_error_body(response, 400)["code"] == "last_owner"
    alice_membership.refresh_from_db()
    assert alice_membership.role == Role.OWNER


def test_an_owner_can_step_down_once_there_is_another_owner(alice_membership, erin_membership, api_client_for):
    alice_api = api_client_for(alice_membership.user)
    assert alice_api.patch(f"{ACME}/members/{erin_membership.pk}/", {"role": "owner"}, format="json").status_code == 200

    response = alice_api.patch(f"{ACME}/members/{alice_membership.pk}/", {"role": "admin"}, format="json")

    assert response.status_code == 200
    alice_membership.refresh_from_db()
    erin_membership.refresh_from_db()
    assert (alice_membership.role, erin_membership.role) == (Role.ADMIN, Role.OWNER)


def test_the_last_owner_cannot_leave(alice_membership, api_client_for):
    response = api_client_for(alice_membership.user).delete(f"{ACME}/members/{alice_membership.pk}/")

    assert response.status_code == 400
    assert assert_error_body(response, 400)["code"] == "last_owner"
    assert Membership.unscoped.filter(pk=alice_membership.pk).exists()


def test_an_admin_cannot_make_anyone_owner(erin, frank_membership, api_client_for):
    response = api_client_for(erin).patch(f"{ACME}/members/{frank_membership.pk}/", {"role": "owner"}, format="json")

    assert response.status_code == 403
    assert assert_error_body(response, 403)["code"] == "permission_denied"
    frank_membership.refresh_from_db()
    assert frank_membership.role == Role.RESPONDER


def test_an_admin_cannot_change_an_owners_role(erin, alice_membership, api_client_for):
    response = api_client_for(erin).patch(f"{ACME}/members/{alice_membership.pk}/", {"role": "viewer"}, format="json")

    assert response.status_code == 403
    alice_membership.refresh_from_db()
    assert alice_membership.role == Role.OWNER


def test_an_admin_cannot_invite_an_owner(erin, org_a, api_client_for):
    response = api_client_for(erin).post(
        f"{ACME}/invitations/", {"email": "boss@example.com", "role": "owner"}, format="json"
    )

    assert response.status_code == 403
    assert not Invitation.objects.for_organization(org_a).exists()


def test_a_responder_can_leave_the_organisation(bob_membership, api_client_for):
    response = api_client_for(bob_membership.user).delete(f"{ACME}/members/{bob_membership.pk}/")

    assert response.status_code == 204
    assert not Membership.unscoped.filter(pk=bob_membership.pk).exists()
    left = AuditEntry.objects.for_organization(bob_membership.organization).get(action="member.left")
    assert (left.actor_id, left.object_id, left.source) == (bob_membership.user_id, str(bob_membership.pk), "api")


def test_a_responder_cannot_remove_another_member(bob, carol_membership, api_client_for):
    response = api_client_for(bob).delete(f"{ACME}/members/{carol_membership.pk}/")

    assert response.status_code == 403
    assert assert_error_body(response, 403)["code"] == "permission_denied"
    assert Membership.unscoped.filter(pk=carol_membership.pk).exists()


# --- Tenant isolation -------------------------------------------------------------------
@pytest.mark.parametrize("path", ["members/", "invitations/", "audit/", "members/{alice}/"])
def test_outsider_cannot_see_org_a_data_even_with_a_guessed_id(charlie, alice_membership, api_client_for, path):
    response = api_client_for(charlie).get(f"{ACME}/{path.format(alice=alice_membership.pk)}")

    assert response.status_code == 404
    # The same answer as for an organisation that does not exist: nothing is confirmed.
    assert response.json() == api_client_for(charlie).get("/api/v1/organizations/no-such-org/").json()


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_outsider_cannot_reach_an_org_a_member_through_his_own_organisation(
    charlie, alice_membership, api_client_for, method
):
    response = getattr(api_client_for(charlie), method)(
        f"/api/v1/organizations/bravo/members/{alice_membership.pk}/", {"role": "viewer"}, format="json"
    )

    assert response.status_code == 404
    assert assert_error_body(response, 404)["code"] == "not_found"
    alice_membership.refresh_from_db()
    assert alice_membership.role == Role.OWNER


def test_outsider_cannot_revoke_an_org_a_invitation_through_his_own_organisation(world):
    response = world.client_for("charlie").post(f"/api/v1/organizations/bravo/invitations/{world.invitation.pk}/revoke/")

    assert response.status_code == 404
    world.invitation.refresh_from_db()
    assert world.invitation.is_pending()


def test_audit_entries_of_org_a_never_appear_in_org_b_audit_list(
    alice_membership, charlie_membership, org_a, org_b, api_client_for
):
    services.organization_rename(organization=org_a, actor_membership=alice_membership, name="Acme Foods Ltd")
    services.organization_rename(organization=org_b, actor_membership=charlie_membership, name="Bravo Airways")
    acme_entry = AuditEntry.objects.for_organization(org_a).get(action="organization.renamed")
    bravo_entry = AuditEntry.objects.for_organization(org_b).get(action="organization.renamed")

    response = api_client_for(charlie_membership.user).get("/api/v1/organizations/bravo/audit/", {"page_size": 200})

    assert response.status_code == 200
    listed = {entry["id"] for entry in response.json()["results"]}
    assert bravo_entry.pk in listed
    assert acme_entry.pk not in listed
    assert api_client_for(charlie_membership.user).get(f"{ACME}/audit/").status_code == 404


def test_organization_list_shows_only_the_callers_own_organisations(charlie, alice, api_client_for):
    response = api_client_for(charlie).get("/api/v1/organizations/")

    assert [row["organization"]["slug"] for row in response.json()["results"]] == ["bravo"]


def test_a_notification_of_alice_never_shows_in_bobs_list(world):
    [alices] = notify(
        organization=world.org_a, recipients=[world.users["alice"]], kind="role", text="You are approver for Nuts in the granola",
        dedupe_key="only-for-alice", incident=world.incident,
    )

    response = world.client_for("bob").get(f"{ACME}/notifications/", {"page_size": 200})

    assert response.status_code == 200
    listed = {row["id"] for row in response.json()["results"]}
    bobs = set(Notification.objects.for_organization(world.org_a).filter(recipient=world.users["bob"]).values_list("pk", flat=True))
    assert bobs and listed == bobs
    assert alices.pk not in listed


# --- Schema -----------------------------------------------------------------------------
def test_the_schema_is_an_openapi_3_document_for_signed_in_users(alice, api_client_for):
    response = api_client_for(alice).get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    assert "/api/v1/organizations/{slug}/members/" in document["paths"]


def test_the_schema_and_docs_are_public(db, api_client_for):
    # drf-spectacular's SERVE_PERMISSIONS default (AllowAny): the shape of the API is not a
    # secret, its data is. Pin it so that a change is a decision, not an accident.
    anonymous = api_client_for(None)

    schema = anonymous.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert schema.status_code == 200
    assert schema.json()["openapi"].startswith("3.")
    assert anonymous.get("/api/docs/").status_code == 200


def test_an_unimplemented_method_is_405_with_the_error_shape(alice, api_client_for):
    response = api_client_for(alice).put(f"{ACME}/", {"name": "x"}, format="json")

    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_an_unknown_api_url_is_a_json_404(alice, api_client_for):
    response = api_client_for(alice).get("/api/v1/no-such-thing/")

    assert response.status_code == 404
    assert response.json() == {"error": {"status": 404, "code": "not_found", "message": "No such API endpoint."}}


def test_an_unknown_page_is_the_html_404(alice, login_client):
    response = login_client(alice).get("/no-such-page/")

    assert response.status_code == 404
    assert b"Not found" in response.content


def test_an_api_crash_is_a_json_500_without_details(alice, monkeypatch):
    from django.test import Client

    from crisiscenter import selectors

    def explode(**kwargs):
        raise RuntimeError("database on fire")

    monkeypatch.setattr(selectors, "memberships_of", explode)
    browser = Client(raise_request_exception=False)
    token, _ = Token.objects.get_or_create(user=alice)
    response = browser.get("/api/v1/organizations/", HTTP_AUTHORIZATION=f"Token {token.key}")

    assert response.status_code == 500
    assert response.json()["error"]["code"] == "server_error"
    assert b"on fire" not in response.content


def test_the_interactive_docs_load_their_assets_from_this_app_not_a_cdn(db, client):
    import re

    page = client.get("/api/docs/").content.decode()
    assets = re.findall(r'(?:src|href)="([^"#]+)"', page)

    assert assets
    assert all(asset.startswith("/static/") for asset in assets), assets
