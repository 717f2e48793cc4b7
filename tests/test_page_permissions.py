"""Who may open which page and submit which form: one test per page, method and persona.

The rules: anonymous visitors are sent to the login page, people outside the organisation
get 404, members below the required role 403, everyone else 200 (or a 302 after a
successful POST). Every POST is checked against the saved state too: changed when allowed,
untouched when refused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from urllib.parse import quote

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from crisiscenter import services
from crisiscenter.models import AuditEntry, Membership, Organization, Role
from crisiscenter.urls import organization_pages
from monitoring.models import IngestJob, Rumour
from playbooks import document as playbook_document
from playbooks import services as playbook_services
from playbooks.models import (
    ChatWebhook,
    Incident,
    Playbook,
    PlaybookProposal,
)
from tests import matrix_state as state
from responses import services as response_services
from responses.models import Statement
from tests.factories import (
    UserFactory,
    export_file,
    incident_world,
    mention_draft,
    monitoring_world,
    reply_world,
    statement_world,
    valid_playbook_document,
)

pytestmark = pytest.mark.django_db

SIGNED_IN = "signed in"

ROLE_IN_ACME = {"dave": Role.VIEWER, "bob": Role.RESPONDER, "carol": Role.MANAGER, "erin": Role.ADMIN, "alice": Role.OWNER}
PERSONAS = ["anonymous", "charlie", *ROLE_IN_ACME]


@dataclass(frozen=True)
class Page:
    route: str
    method: str
    # may name {frank} (frank's membership id), {invitation} (a pending invitation's id),
    # {playbook} (a playbook of org A at version 2), {incident} (an open incident of org A
    # from that playbook, led by carol), {task} (an open task of it), {resolved} (a resolved
    # incident) and {proposal} (an open proposal from it); monitoring: {source} (a webhook),
    # {polled_source}, {watch}, {mention}, {rumour} and {job} (tests.factories.monitoring_world);
    # replies and scheduled posts: {x_channel}, {x_mention}, {reply_template}, {scheduled_post}
    # and {held_post} (tests.factories.reply_world)
    path: str
    who: str | Role  # SIGNED_IN, or the lowest role in org A that may do it
    success: int
    data: dict | None = None  # a value that is just one of those names, or {frank_user}, is sent as that id
    upload: bytes | None = None  # posted as the file field "file" along with data
    upload_name: str = "playbook.yaml"
    # Where a successful POST lands; a function of the world when it names a new row.
    redirect: str | Callable[[SimpleNamespace], str] | None = None
    state: Callable[[SimpleNamespace], object] | None = None


def _organization_slugs(world) -> list[str]:
    return sorted(Organization.objects.values_list("slug", flat=True))


def _token_regenerations(world) -> int:
    return AuditEntry.unscoped.filter(action="api_token.regenerated").count()


def _acme_chat_webhooks(world) -> list[str]:
    return sorted(ChatWebhook.objects.for_organization(world.org_a).values_list("kind", flat=True))


def _task_done_at(world):
    world.task.refresh_from_db()
    return world.task.done_at


def _playbook_proposals(world) -> list[tuple[str, str]]:
    return sorted(PlaybookProposal.objects.for_organization(world.org_a).values_list("text", "status"))


def _page_of_acme_incident(title: str) -> Callable[[SimpleNamespace], str]:
    def page(world) -> str:
        return f"{ACME}/incidents/{Incident.objects.for_organization(world.org_a).get(title=title).pk}/"

    return page


def _page_of_acme_job(file_name: str) -> Callable[[SimpleNamespace], str]:
    def page(world) -> str:
        return f"{ACME}/imports/{IngestJob.objects.for_organization(world.org_a).get(file_name=file_name).pk}/"

    return page


def _page_of_acme_rumour(claim: str) -> Callable[[SimpleNamespace], str]:
    def page(world) -> str:
        return f"{ACME}/rumours/{Rumour.objects.for_organization(world.org_a).get(claim=claim).pk}/"

    return page


def _page_of_acme_playbook(name: str) -> Callable[[SimpleNamespace], str]:
    def page(world) -> str:
        return f"{ACME}/playbooks/{Playbook.objects.for_organization(world.org_a).get(name=name).pk}/"

    return page


def _page_of_acme_statement(headline: str) -> Callable[[SimpleNamespace], str]:
    def page(world) -> str:
        statement = Statement.objects.for_organization(world.org_a).get(current_version__headline=headline)
        return f"{ACME}/incidents/{statement.incident_id}/statements/{statement.pk}/"

    return page


def _page_of_acme_translation(language: str) -> Callable[[SimpleNamespace], str]:
    def page(world) -> str:
        statement = Statement.objects.for_organization(world.org_a).get(translation_of=world.published, language=language)
        return f"{ACME}/incidents/{statement.incident_id}/statements/{statement.pk}/"

    return page


def _published_translation_languages(world) -> list[str]:
    return sorted(Statement.objects.for_organization(world.org_a).filter(translation_of=world.published).values_list("language", flat=True))


def _acme_statement_headlines(world) -> list[str]:
    return sorted(Statement.objects.for_organization(world.org_a).values_list("current_version__headline", flat=True))


def _frank_review_decisions(world) -> list[tuple[int, str]]:
    from responses.models import Approval

    return sorted(Approval.objects.for_organization(world.org_a).filter(statement=world.frank_review).values_list("approver_id", "decision"))


ACME = "/o/acme"
PLAYBOOK = f"{ACME}/playbooks/{{playbook}}"
INCIDENT = f"{ACME}/incidents/{{incident}}"
RESOLVED = f"{ACME}/incidents/{{resolved}}"
SLACK_URL = "https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXX"
# The world's playbook is at version 2 ("Granola recall"); these documents differ from it.
NEW_PLAYBOOK_YAML = playbook_document.to_yaml(valid_playbook_document(name="Airport strike", category="external_disaster"))
IMPORTED_PLAYBOOK_FILE = playbook_document.to_yaml(valid_playbook_document(name="Imported outage plan", category="service_outage")).encode()
NEXT_VERSION_YAML = playbook_document.to_yaml(valid_playbook_document(default_severity=1))
MENTION = f"{ACME}/inbox/{{mention}}"
RUMOUR = f"{ACME}/rumours/{{rumour}}"
STATEMENT = f"{INCIDENT}/statements"
MENTIONS_FILE = export_file(mention_draft("upload-1", "Uploaded: is the recall real?"))

PAGES = [
    Page("home", "GET", "/", SIGNED_IN, 302),
    Page("organization-create", "GET", "/o/new/", SIGNED_IN, 200),
    Page(
        "organization-create", "POST", "/o/new/", SIGNED_IN, 302,
        data={"name": "Delta Rail", "slug": "delta"}, redirect="/o/delta/members/", state=_organization_slugs,
    ),
    Page("account", "GET", "/account/", SIGNED_IN, 200),
    Page("account", "POST", "/account/", SIGNED_IN, 200, state=_token_regenerations),
    Page("war-room", "GET", f"{ACME}/", Role.VIEWER, 200),
    Page("organization-settings", "GET", f"{ACME}/settings/", Role.ADMIN, 200),
    Page(
        "organization-settings", "POST", f"{ACME}/settings/", Role.ADMIN, 302,
        data={"name": "Acme Foods Ltd"}, redirect=f"{ACME}/settings/", state=state.acme_name,
    ),
    Page("members", "GET", f"{ACME}/members/", Role.VIEWER, 200),
    Page(
        "member-invite", "POST", f"{ACME}/members/invite/", Role.ADMIN, 302,
        data={"email": "newcomer@example.com", "role": "responder"}, redirect=f"{ACME}/members/",
        state=state.acme_invitation_emails,
    ),
    Page(
        "member-role", "POST", f"{ACME}/members/{{frank}}/role/", Role.ADMIN, 302,
        data={"role": "manager"}, redirect=f"{ACME}/members/", state=state.frank_role,
    ),
    # Every member may post here to leave; removing someone else needs admin (the service).
    Page(
        "member-remove", "POST", f"{ACME}/members/{{frank}}/remove/", Role.ADMIN, 302,
        redirect=f"{ACME}/members/", state=state.frank_role,
    ),
    Page(
        "invitation-revoke", "POST", f"{ACME}/invitations/{{invitation}}/revoke/", Role.ADMIN, 302,
        redirect=f"{ACME}/members/", state=state.invitation_revoked_at,
    ),
    Page(
        "chat-webhook-save", "POST", f"{ACME}/settings/chat/", Role.ADMIN, 302,
        data={"kind": "slack", "url": SLACK_URL}, redirect=f"{ACME}/settings/", state=_acme_chat_webhooks,
    ),
    Page(
        "on-call-roles-save", "POST", f"{ACME}/settings/on-call/", Role.ADMIN, 302,
        data={"on_call_roles": ["owner", "responder"]}, redirect=f"{ACME}/settings/", state=state.acme_on_call_roles,
    ),
    Page("audit-log", "GET", f"{ACME}/audit/", Role.ADMIN, 200),
    # Everyone reads and clears only their own notifications (every member has one unread).
    Page("notifications", "GET", f"{ACME}/notifications/", Role.VIEWER, 200),
    Page(
        "notifications", "POST", f"{ACME}/notifications/", Role.VIEWER, 302,
        redirect=f"{ACME}/notifications/", state=state.acme_unread_notifications,
    ),
    # Playbooks: members read, admins write.
    Page("playbooks", "GET", f"{ACME}/playbooks/", Role.VIEWER, 200),
    Page("playbook-new", "GET", f"{ACME}/playbooks/new/", Role.ADMIN, 200),
    Page(
        "playbook-new", "POST", f"{ACME}/playbooks/new/", Role.ADMIN, 302,
        data={"content": NEW_PLAYBOOK_YAML, "change_note": "First draft"}, redirect=_page_of_acme_playbook("Airport strike"),
        state=state.acme_playbook_names,
    ),
    Page(
        "playbook-from-starter", "POST", f"{ACME}/playbooks/from-starter/", Role.ADMIN, 302,
        data={"starter": "service-outage"}, redirect=_page_of_acme_playbook("Service outage"), state=state.acme_playbook_names,
    ),
    Page(
        "playbook-import", "POST", f"{ACME}/playbooks/import/", Role.ADMIN, 302,
        upload=IMPORTED_PLAYBOOK_FILE, redirect=_page_of_acme_playbook("Imported outage plan"), state=state.acme_playbook_names,
    ),
    Page("playbook", "GET", f"{PLAYBOOK}/", Role.VIEWER, 200),
    Page("playbook-edit", "GET", f"{PLAYBOOK}/edit/", Role.ADMIN, 200),
    Page(
        "playbook-edit", "POST", f"{PLAYBOOK}/edit/", Role.ADMIN, 302,
        data={"content": NEXT_VERSION_YAML, "change_note": "Severity 1 by default"}, redirect=f"{PLAYBOOK}/",
        state=state.playbook_version_numbers,
    ),
    Page("playbook-version", "GET", f"{PLAYBOOK}/versions/1/", Role.VIEWER, 200),
    Page("playbook-diff", "GET", f"{PLAYBOOK}/diff/?from=1&to=2", Role.VIEWER, 200),
    Page("playbook-export", "GET", f"{PLAYBOOK}/export.yaml", Role.VIEWER, 200),
    Page(
        "playbook-archive", "POST", f"{PLAYBOOK}/archive/", Role.ADMIN, 302,
        data={"archived": "1"}, redirect=f"{PLAYBOOK}/", state=state.playbook_archived,
    ),
    Page(
        "playbook-proposal-decide", "POST", f"{PLAYBOOK}/proposals/{{proposal}}/decide/", Role.ADMIN, 302,
        data={"status": "applied"}, redirect=f"{PLAYBOOK}/", state=_playbook_proposals,
    ),
    # Incidents: members read, responders work them. Status, severity and roles let responders
    # past the decorator, and the service then wants a manager or the incident's lead (carol,
    # a manager anyway, so bob is refused here).
    Page("incidents", "GET", f"{ACME}/incidents/", Role.VIEWER, 200),
    Page("incident-new", "GET", f"{ACME}/incidents/new/", Role.RESPONDER, 200),
    Page(
        "incident-new", "POST", f"{ACME}/incidents/new/", Role.RESPONDER, 302,
        data={"title": "Airport strike", "playbook": "{playbook}", "origin_platform": "x"},
        redirect=_page_of_acme_incident("Airport strike"), state=state.acme_incident_titles,
    ),
    Page("incident", "GET", f"{INCIDENT}/", Role.VIEWER, 200),
    Page("incident-timeline-export", "GET", f"{INCIDENT}/timeline.csv", Role.VIEWER, 200),
    Page(
        "incident-acknowledge", "POST", f"{INCIDENT}/acknowledge/", Role.RESPONDER, 302,
        redirect=f"{INCIDENT}/", state=state.incident_field("acknowledged_at"),
    ),
    Page(
        "incident-status", "POST", f"{INCIDENT}/status/", Role.MANAGER, 302,
        data={"status": "contained"}, redirect=f"{INCIDENT}/", state=state.incident_field("status"),
    ),
    Page(
        "incident-severity", "POST", f"{INCIDENT}/severity/", Role.MANAGER, 302,
        data={"severity": "1"}, redirect=f"{INCIDENT}/", state=state.incident_field("severity"),
    ),
    Page(
        "incident-facts", "POST", f"{INCIDENT}/facts/", Role.RESPONDER, 302,
        data={"mistake_by": "contractor", "known": "Batch 42 went to three shops."}, redirect=f"{INCIDENT}/",
        state=state.incident_field("known"),
    ),
    Page(
        "incident-role", "POST", f"{INCIDENT}/roles/", Role.MANAGER, 302,
        data={"role": "spokesperson", "member": "{frank_user}"}, redirect=f"{INCIDENT}/", state=state.incident_roles,
    ),
    Page(
        "incident-task-add", "POST", f"{INCIDENT}/tasks/", Role.RESPONDER, 302,
        data={"title": "Call the supplier"}, redirect=f"{INCIDENT}/", state=state.incident_task_titles,
    ),
    Page(
        "incident-task-done", "POST", f"{INCIDENT}/tasks/{{task}}/done/", Role.RESPONDER, 302,
        data={"done": "1"}, redirect=f"{INCIDENT}/", state=_task_done_at,
    ),
    Page(
        "incident-note", "POST", f"{INCIDENT}/notes/", Role.RESPONDER, 302,
        data={"text": "The CEO called."}, redirect=f"{INCIDENT}/", state=state.incident_timeline_length,
    ),
    # Reviews are written once the incident is resolved; viewers read them.
    Page("incident-review", "GET", f"{RESOLVED}/review/", Role.VIEWER, 200),
    Page(
        "incident-review", "POST", f"{RESOLVED}/review/", Role.RESPONDER, 302,
        data={"went_well": "We answered within the hour.", "to_change": "", "items-TOTAL_FORMS": "0", "items-INITIAL_FORMS": "0"},
        redirect=f"{RESOLVED}/review/", state=state.resolved_review,
    ),
    Page("incident-review-export", "GET", f"{RESOLVED}/review.json", Role.VIEWER, 200),
    Page(
        "incident-propose", "POST", f"{RESOLVED}/proposals/", Role.RESPONDER, 302,
        data={"text": "Check the supplier's allergen list first."}, redirect=f"{RESOLVED}/review/", state=_playbook_proposals,
    ),
    # Monitoring: every member reads the inbox, watches, rumours and authors (triage itself
    # goes through the API); responders track rumours, managers record their correction;
    # admins run sources, watch queries, imports and drills.
    Page("inbox", "GET", f"{ACME}/inbox/", Role.VIEWER, 200),
    Page("inbox-rows", "GET", f"{ACME}/inbox/rows/?ids={{mention}}", Role.VIEWER, 200),
    Page("mention", "GET", f"{MENTION}/", Role.VIEWER, 200),
    Page(
        "mention-rumour", "POST", f"{MENTION}/rumour/", Role.RESPONDER, 302,
        data={"rumour": "{rumour}"}, redirect=f"{MENTION}/", state=state.rumour_mention_ids,
    ),
    Page("sources", "GET", f"{ACME}/sources/", Role.ADMIN, 200),
    Page(
        "sources", "POST", f"{ACME}/sources/", Role.ADMIN, 302,
        data={"name": "News", "kind": "rss", "poll_interval_seconds": "300", "rss_feed_urls": "https://news.example/feed.xml"},
        redirect=f"{ACME}/sources/", state=state.acme_source_names,
    ),
    Page("source", "GET", f"{ACME}/sources/{{polled_source}}/", Role.ADMIN, 200),
    Page(
        "source", "POST", f"{ACME}/sources/{{polled_source}}/", Role.ADMIN, 302,
        data={"name": "Mastodon main", "poll_interval_seconds": "300", "mastodon_instance_url": "https://mastodon.example"},
        redirect=f"{ACME}/sources/", state=state.source_field("name", "polled_source"),
    ),
    Page(
        "source-enabled", "POST", f"{ACME}/sources/{{polled_source}}/enabled/", Role.ADMIN, 302,
        data={"enabled": "0"}, redirect=f"{ACME}/sources/", state=state.source_field("is_enabled", "polled_source"),
    ),
    Page(
        "source-poll", "POST", f"{ACME}/sources/{{polled_source}}/poll/", Role.ADMIN, 302,
        redirect=f"{ACME}/sources/", state=state.source_field("next_poll_at", "polled_source"),
    ),
    # The new secret is shown in the answer itself, once.
    Page(
        "source-rotate-secret", "POST", f"{ACME}/sources/{{source}}/rotate-secret/", Role.ADMIN, 200,
        state=state.source_field("credentials_encrypted"),
    ),
    Page("watches", "GET", f"{ACME}/watches/", Role.VIEWER, 200),
    Page(
        "watches", "POST", f"{ACME}/watches/", Role.ADMIN, 302,
        data={"name": "Peanuts", "query": "peanut* OR #nutfree", "is_active": "on"}, redirect=f"{ACME}/watches/", state=state.acme_watch_names,
    ),
    Page("watch", "GET", f"{ACME}/watches/{{watch}}/", Role.ADMIN, 200),
    Page(
        "watch", "POST", f"{ACME}/watches/{{watch}}/", Role.ADMIN, 302,
        data={"name": "Recall", "query": "recall OR recalled", "is_active": "on"}, redirect=f"{ACME}/watches/", state=state.watch_query,
    ),
    Page("imports", "GET", f"{ACME}/imports/", Role.ADMIN, 200),
    Page(
        "imports", "POST", f"{ACME}/imports/", Role.ADMIN, 302,
        upload=MENTIONS_FILE, upload_name="upload.jsonl", redirect=_page_of_acme_job("upload.jsonl"), state=state.acme_import_file_names,
    ),
    Page(
        "import-drill", "POST", f"{ACME}/imports/drill/", Role.ADMIN, 302,
        data={"speed": "120"}, upload=MENTIONS_FILE, upload_name="drill.jsonl", redirect=_page_of_acme_job("drill.jsonl"),
        state=state.acme_import_file_names,
    ),
    Page("import", "GET", f"{ACME}/imports/{{job}}/", Role.ADMIN, 200),
    Page(
        "import-cancel", "POST", f"{ACME}/imports/{{job}}/cancel/", Role.ADMIN, 302,
        redirect=f"{ACME}/imports/{{job}}/", state=state.job_status,
    ),
    Page("rumours", "GET", f"{ACME}/rumours/", Role.VIEWER, 200),
    Page(
        "rumours", "POST", f"{ACME}/rumours/", Role.RESPONDER, 302,
        data={"claim": "The CEO resigned", "status": "false"}, redirect=_page_of_acme_rumour("The CEO resigned"), state=state.acme_rumour_claims,
    ),
    Page("rumour", "GET", f"{RUMOUR}/", Role.VIEWER, 200),
    Page(
        "rumour", "POST", f"{RUMOUR}/", Role.RESPONDER, 302,
        data={"claim": "The bars contain peanuts", "status": "false", "facts": "The lab found none."}, redirect=f"{RUMOUR}/",
        state=state.rumour_field("status"),
    ),
    Page(
        "rumour-mentions", "POST", f"{RUMOUR}/mentions/", Role.RESPONDER, 302,
        data={"mention_ids": "{mention}"}, redirect=f"{RUMOUR}/", state=state.rumour_mention_ids,
    ),
    Page(
        "rumour-correct", "POST", f"{RUMOUR}/correct/", Role.MANAGER, 302,
        data={"correction": "There are no peanuts in the bars."}, redirect=f"{RUMOUR}/", state=state.rumour_field("correction"),
    ),
    Page("authors", "GET", f"{ACME}/authors/", Role.VIEWER, 200),
    Page("author", "GET", f"{ACME}/authors/angry_customer/", Role.VIEWER, 200),
    # Statements (tests.factories.statement_world: bob wrote them, carol approved; frank wrote
    # {frank_review}, waiting for approval). Members read; responders write; approving needs an
    # approver (bob is none, and never of his own words); publishing needs a manager on a
    # channel without an access list. Publishing settings are the admins'.
    Page("statements", "GET", f"{INCIDENT}/statements/", Role.VIEWER, 200),
    Page(
        "statements", "POST", f"{INCIDENT}/statements/", Role.RESPONDER, 302,
        data={"kind": "holding", "language": "en", "headline": "Matrix statement", "body": "We are sorry.", "public_status": "investigating",
              "target_channels": "hub"},
        redirect=_page_of_acme_statement("Matrix statement"), state=_acme_statement_headlines,
    ),
    Page("statement", "GET", f"{STATEMENT}/{{published}}/", Role.VIEWER, 200),
    Page("statement-diff", "GET", f"{STATEMENT}/{{published}}/diff/?from=0&to=1", Role.VIEWER, 200),
    Page(
        "statement-edit", "POST", f"{STATEMENT}/{{statement}}/edit/", Role.RESPONDER, 302,
        data={"edit-base_version": "1", "edit-headline": "Draft holding statement", "edit-body": "We are very sorry.", "edit-public_status": "investigating",
              "edit-target_channels": "hub"},
        redirect=f"{STATEMENT}/{{statement}}/", state=state.statement_version_numbers,
    ),
    Page(
        "statement-submit", "POST", f"{STATEMENT}/{{statement}}/submit/", Role.RESPONDER, 302,
        redirect=f"{STATEMENT}/{{statement}}/", state=state.statement_field("status"),
    ),
    Page(
        "statement-decide", "POST", f"{STATEMENT}/{{frank_review}}/decide/", Role.MANAGER, 302,
        data={"version": "1", "decision": "approve"}, redirect=f"{STATEMENT}/{{frank_review}}/", state=_frank_review_decisions,
    ),
    Page(
        "statement-publish", "POST", f"{STATEMENT}/{{approved}}/publish/", Role.MANAGER, 302,
        redirect=f"{STATEMENT}/{{approved}}/", state=state.statement_field("status", "approved"),
    ),
    Page(
        "publication-retry", "POST", f"{STATEMENT}/{{failed_statement}}/publications/{{failed_publication}}/retry/", Role.MANAGER, 302,
        redirect=f"{STATEMENT}/{{failed_statement}}/", state=state.failed_publication_status,
    ),
    Page(
        "statement-translate", "POST", f"{STATEMENT}/{{published}}/translate/", Role.RESPONDER, 302,
        data={"translation-language": "nl", "translation-body": "Het spijt ons."}, redirect=_page_of_acme_translation("nl"),
        state=_published_translation_languages,
    ),
    Page(
        "promise-keep", "POST", f"{INCIDENT}/promises/{{promise}}/keep/", Role.RESPONDER, 302,
        redirect=f"{INCIDENT}/statements/", state=state.promise_status,
    ),
    Page("approvals", "GET", f"{ACME}/approvals/", Role.VIEWER, 200),
    Page("publishing", "GET", f"{ACME}/publishing/", Role.ADMIN, 200),
    Page(
        "channel-access-grant", "POST", f"{ACME}/publishing/channels/{{channel}}/access/", Role.ADMIN, 302,
        data={"user": "{frank_user}", "in_lockdown": "on"}, redirect=f"{ACME}/publishing/", state=state.channel_live_grants,
    ),
    Page(
        "channel-access-revoke", "POST", f"{ACME}/publishing/channels/{{channel}}/access/{{bob_user}}/revoke/", Role.ADMIN, 302,
        redirect=f"{ACME}/publishing/", state=state.channel_live_grants,
    ),
    # The real adapter checks the webhook; hooks.example does not resolve, which the private-address check lets through.
    Page(
        "channel-create", "POST", f"{ACME}/publishing/channels/", Role.ADMIN, 302,
        data={"channel-kind": "webhook", "channel-name": "Matrix wire", "webhook-url": "https://hooks.example/matrix",
              "webhook-secret": "matrix-signing-secret-0123"},
        redirect=f"{ACME}/publishing/", state=state.acme_channel_names,
    ),
    Page(
        "channel-enabled", "POST", f"{ACME}/publishing/channels/{{channel}}/enabled/", Role.ADMIN, 302,
        data={"enabled": "0"}, redirect=f"{ACME}/publishing/", state=state.channel_field("is_enabled"),
    ),
    Page(
        "publishing-lockdown", "POST", f"{ACME}/publishing/lockdown/", Role.ADMIN, 302,
        data={"action": "start", "reason": "The X account was hacked"}, redirect=f"{ACME}/publishing/", state=state.active_lockdown_reason,
    ),
    # Replies and scheduled posts (tests.factories.reply_world): the X channel has no access
    # list, so managers and up reply and schedule there and bob is refused by the service.
    Page(
        "publishing-policy", "POST", f"{ACME}/publishing/policy/", Role.ADMIN, 302,
        data={"pause_scheduled_at_severity": "3", "replies_per_author": "5"}, redirect=f"{ACME}/publishing/", state=state.acme_publishing_policy,
    ),
    Page(
        "mention-reply", "POST", f"{ACME}/inbox/{{x_mention}}/reply/", Role.MANAGER, 302,
        data={"template": "{reply_template}"}, redirect=f"{ACME}/inbox/{{x_mention}}/", state=state.x_mention_reply_ids,
    ),
    Page("scheduled-posts", "GET", f"{ACME}/scheduled/", Role.VIEWER, 200),
    Page(
        "scheduled-posts", "POST", f"{ACME}/scheduled/", Role.MANAGER, 302,
        data={"channel": "{x_channel}", "text": "Autumn recipes", "scheduled_at": "2031-10-01T09:00"}, redirect=f"{ACME}/scheduled/",
        state=state.acme_scheduled_post_texts,
    ),
    Page(
        "scheduled-post-cancel", "POST", f"{ACME}/scheduled/{{scheduled_post}}/cancel/", Role.RESPONDER, 302,
        redirect=f"{ACME}/scheduled/", state=state.scheduled_post_field("status"),
    ),
    Page(
        "scheduled-post-resume", "POST", f"{ACME}/scheduled/{{held_post}}/resume/", Role.MANAGER, 302,
        redirect=f"{ACME}/scheduled/", state=state.scheduled_post_field("status", "held_post"),
    ),
]

REPLY_ROUTES = {"publishing-policy", "mention-reply", "scheduled-posts", "scheduled-post-cancel", "scheduled-post-resume"}


def expected_status(page: Page, persona: str) -> int:
    if persona == "anonymous":
        return 302  # to the login page
    if page.who == SIGNED_IN:
        return page.success
    if persona == "charlie":
        return 404
    return page.success if ROLE_IN_ACME[persona].at_least(page.who) else 403


def _cases(keep: Callable[[str, int], bool]):
    return [
        pytest.param(page, persona, id=f"{page.method} {page.route} as {persona}")
        for page in PAGES
        for persona in PERSONAS
        if keep(persona, expected_status(page, persona))
    ]


@pytest.fixture
def world(request, org_a, org_b, personas, erin, frank_membership, alice_membership, bob_membership, carol_membership, login_client):
    invitation, _token = services.invitation_create(
        organization=org_a, actor_membership=alice_membership, email="pending@example.com", role=Role.VIEWER
    )
    playbook = playbook_services.playbook_create(organization=org_a, actor_membership=alice_membership, document=valid_playbook_document())
    playbook_services.playbook_update(
        playbook=playbook, actor_membership=alice_membership, document=valid_playbook_document(scenario="The supplier confirmed the nuts.")
    )
    incidents = incident_world(playbook=playbook, opener=alice_membership, lead=personas["carol"])
    monitoring = monitoring_world(admin=alice_membership, holder=bob_membership)
    statements = statement_world(incident=incidents.incident, author=bob_membership, approver=carol_membership)
    frank_review = response_services.statement_draft(
        incident=incidents.incident, actor_membership=frank_membership, kind="update", fields={"headline": "Frank's update", "body": "We are sorry."}
    )
    response_services.statement_submit(statement=frank_review, actor_membership=frank_membership)
    channel = response_services.channel_create(
        organization=org_a, actor_membership=alice_membership, kind="mastodon", name="Acme on Mastodon",
        config={"instance_url": "https://mastodon.example"}, credentials={"access_token": "matrix-access-token"},
    )
    response_services.channel_access_grant(channel=channel, actor_membership=alice_membership, user_id=bob_membership.user_id)
    # Only the rows of the reply and scheduled-post pages need them.
    callspec = getattr(request.node, "callspec", None)
    page = callspec.params.get("page") if callspec else None
    replies = SimpleNamespace()
    if page is None or page.route in REPLY_ROUTES:
        replies = reply_world(incident=incidents.incident, admin=alice_membership, author=bob_membership, approver=carol_membership)
    users = {**personas, "erin": erin}
    return SimpleNamespace(
        org_a=org_a,
        frank_membership=frank_membership,
        invitation=invitation,
        playbook=playbook,
        **vars(incidents),
        **vars(monitoring),
        **vars(statements),
        **vars(replies),
        frank_review=frank_review,
        channel=channel,
        bob_user=bob_membership.user,
        browser_for=lambda persona: login_client(users[persona]),
    )


def _ids(world) -> dict[str, int]:
    return {
        "frank": world.frank_membership.pk, "frank_user": world.frank_membership.user_id, "invitation": world.invitation.pk,
        "playbook": world.playbook.pk, "incident": world.incident.pk, "task": world.task.pk, "resolved": world.resolved.pk,
        "proposal": world.proposal.pk, "source": world.source.pk, "polled_source": world.polled_source.pk, "watch": world.watch.pk,
        "mention": world.mention.pk, "rumour": world.rumour.pk, "job": world.job.pk,
        "statement": world.draft.pk, "published": world.published.pk, "approved": world.approved.pk, "frank_review": world.frank_review.pk,
        "promise": world.promise.pk, "channel": world.channel.pk, "bob_user": world.bob_user.pk,
        "failed_statement": world.failed_publication.statement_id, "failed_publication": world.failed_publication.pk,
        **({
            "x_channel": world.x_channel.pk, "x_mention": world.x_mention.pk, "reply_template": world.reply_template.pk,
            "scheduled_post": world.scheduled_post.pk, "held_post": world.held_post.pk,
        } if hasattr(world, "x_mention") else {}),
    }


def _fill(world, template: str) -> str:
    return template.format(**_ids(world))


def _fill_data(world, data: dict) -> dict:
    # Only whole-value names are filled: other values (playbook YAML) may hold braces of their own.
    named = {f"{{{name}}}": pk for name, pk in _ids(world).items()}
    return {field: named.get(value, value) if isinstance(value, str) else value for field, value in data.items()}


def _path(world, page: Page) -> str:
    return _fill(world, page.path)


def _visit(world, page: Page, persona: str):
    browser = world.browser_for(persona)
    if page.method == "POST":
        data = _fill_data(world, page.data or {})
        if page.upload is not None:
            data["file"] = SimpleUploadedFile(page.upload_name, page.upload)
        return browser.post(_path(world, page), data)
    return browser.get(_path(world, page))


def _assert_refused(world, page: Page, persona: str, status: int):
    before = page.state(world) if page.state else None

    response = _visit(world, page, persona)

    assert response.status_code == status
    if page.state:
        assert page.state(world) == before
    return response


# --- The matrix -------------------------------------------------------------------------
@pytest.mark.parametrize(("page", "persona"), _cases(lambda persona, status: persona == "anonymous"))
def test_anonymous_visitor_is_sent_to_the_login_page(world, page, persona):
    response = _assert_refused(world, page, persona, 302)

    assert response["Location"] == f"/accounts/login/?next={quote(_path(world, page))}"


@pytest.mark.parametrize(("page", "persona"), _cases(lambda persona, status: status == 404))
def test_outsider_gets_404_on_every_page_of_another_organisation(world, page, persona):
    _assert_refused(world, page, persona, 404)


@pytest.mark.parametrize(("page", "persona"), _cases(lambda persona, status: status == 403))
def test_member_below_the_required_role_gets_403(world, page, persona):
    response = _assert_refused(world, page, persona, 403)

    assert b"Not allowed" in response.content


@pytest.mark.parametrize(
    ("page", "persona"), _cases(lambda persona, status: persona != "anonymous" and status in (200, 302))
)
def test_visitor_with_the_required_role_is_served(world, page, persona):
    before = page.state(world) if page.state else None

    response = _visit(world, page, persona)

    assert response.status_code == page.success
    if page.redirect:
        assert response["Location"] == (page.redirect(world) if callable(page.redirect) else _fill(world, page.redirect))
    if page.state:
        assert page.state(world) != before


def test_the_matrix_covers_every_organisation_page_and_the_account_pages():
    covered = {page.route for page in PAGES}

    assert {pattern.name for pattern in organization_pages} <= covered
    assert {"home", "organization-create", "account"} <= covered


# --- Roles and membership ---------------------------------------------------------------
@pytest.mark.parametrize(("persona", "destination"), [("alice", "/o/acme/"), ("dave", "/o/acme/"), ("charlie", "/o/bravo/")])
def test_home_sends_each_member_to_their_organisations_war_room(personas, login_client, persona, destination):
    response = login_client(personas[persona]).get("/")

    assert response.status_code == 302
    assert response["Location"] == destination


def test_a_responder_can_leave_from_the_members_page(bob_membership, login_client):
    response = login_client(bob_membership.user).post(f"{ACME}/members/{bob_membership.pk}/remove/")

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert not Membership.unscoped.filter(pk=bob_membership.pk).exists()


def test_the_last_owner_cannot_leave_and_is_told_why(alice_membership, login_client):
    browser = login_client(alice_membership.user)

    response = browser.post(f"{ACME}/members/{alice_membership.pk}/remove/", follow=True)

    assert response.redirect_chain == [(f"{ACME}/members/", 302)]
    assert b"needs at least one owner" in response.content
    assert Membership.unscoped.filter(pk=alice_membership.pk).exists()


def test_the_last_owner_cannot_demote_herself_from_the_members_page(alice_membership, login_client):
    response = login_client(alice_membership.user).post(
        f"{ACME}/members/{alice_membership.pk}/role/", {"role": "admin"}, follow=True
    )

    assert b"needs at least one owner" in response.content
    alice_membership.refresh_from_db()
    assert alice_membership.role == Role.OWNER


def test_an_admin_cannot_make_anyone_owner_from_the_members_page(erin, frank_membership, login_client):
    response = login_client(erin).post(f"{ACME}/members/{frank_membership.pk}/role/", {"role": "owner"})

    assert response.status_code == 403
    frank_membership.refresh_from_db()
    assert frank_membership.role == Role.RESPONDER


def test_a_manager_cannot_remove_a_member(carol, frank_membership, login_client):
    response = login_client(carol).post(f"{ACME}/members/{frank_membership.pk}/remove/")

    assert response.status_code == 403
    assert Membership.unscoped.filter(pk=frank_membership.pk).exists()


@pytest.mark.parametrize("action", ["role", "remove"])
def test_outsider_cannot_act_on_an_org_a_member_through_his_own_organisation(
    charlie, frank_membership, login_client, action
):
    response = login_client(charlie).post(f"/o/bravo/members/{frank_membership.pk}/{action}/", {"role": "viewer"})

    assert response.status_code == 404
    frank_membership.refresh_from_db()
    assert frank_membership.role == Role.RESPONDER


def test_outsider_cannot_revoke_an_org_a_invitation_through_his_own_organisation(world, login_client, charlie):
    response = login_client(charlie).post(f"/o/bravo/invitations/{world.invitation.pk}/revoke/")

    assert response.status_code == 404
    world.invitation.refresh_from_db()
    assert world.invitation.is_pending()


def test_only_admins_see_the_invitation_list_on_the_members_page(world, login_client, personas, erin):
    assert b"pending@example.com" in login_client(erin).get(f"{ACME}/members/").content
    assert b"pending@example.com" not in login_client(personas["carol"]).get(f"{ACME}/members/").content


# --- Accepting an invitation ------------------------------------------------------------
@pytest.fixture
def grace_invitation(org_a, alice_membership):
    """An invitation for grace@example.com to join org A as a responder, and its token."""
    return services.invitation_create(
        organization=org_a, actor_membership=alice_membership, email="grace@example.com", role=Role.RESPONDER
    )


@pytest.fixture
def grace(db):
    return UserFactory(username="grace", email="grace@example.com")


def test_anonymous_visitor_sees_the_invitation_with_a_sign_up_form(grace_invitation, login_client):
    _invitation, token = grace_invitation

    response = login_client(None).get(f"/invitations/{token}/")

    assert response.status_code == 200
    assert b'name="username"' in response.content
    assert b"Acme Foods" in response.content


@pytest.mark.parametrize("persona", ["anonymous", "alice", "charlie"])
def test_an_unknown_invitation_token_is_404_for_everyone(personas, login_client, persona):
    assert login_client(personas[persona]).get("/invitations/not-a-real-token/").status_code == 404


def test_the_invitee_accepts_while_signed_in_and_joins_with_the_invited_role(grace, grace_invitation, login_client):
    invitation, token = grace_invitation

    response = login_client(grace).post(f"/invitations/{token}/")

    assert response.status_code == 302
    assert response["Location"] == f"{ACME}/"
    membership = Membership.objects.for_organization(invitation.organization).get(user=grace)
    assert membership.role == Role.RESPONDER
    invitation.refresh_from_db()
    assert (invitation.status, invitation.accepted_by) == ("accepted", grace)


def test_a_newcomer_accepts_by_creating_an_account(grace_invitation, login_client):
    invitation, token = grace_invitation
    browser = login_client(None)

    response = browser.post(
        f"/invitations/{token}/", {"username": "grace", "display_name": "Grace", "password": "a-long-enough-passphrase"}
    )

    assert response.status_code == 302
    assert response["Location"] == f"{ACME}/"
    membership = Membership.objects.for_organization(invitation.organization).select_related("user").get(user__username="grace")
    assert (membership.user.email, membership.role) == ("grace@example.com", Role.RESPONDER)
    assert browser.get(f"{ACME}/").status_code == 200


def test_someone_else_signed_in_cannot_accept_the_invitation(charlie, grace_invitation, login_client):
    invitation, token = grace_invitation

    response = login_client(charlie).post(f"/invitations/{token}/")

    assert response.status_code == 400
    assert b"grace@example.com" in response.content
    assert not Membership.objects.for_organization(invitation.organization).filter(user=charlie).exists()
    invitation.refresh_from_db()
    assert invitation.is_pending()


def test_a_revoked_invitation_cannot_be_accepted_from_its_page(grace, grace_invitation, alice_membership, login_client):
    invitation, token = grace_invitation
    services.invitation_revoke(invitation=invitation, actor_membership=alice_membership)

    response = login_client(grace).post(f"/invitations/{token}/")

    assert response.status_code == 400
    assert b"revoked" in response.content
    assert not Membership.objects.for_organization(invitation.organization).filter(user=grace).exists()

