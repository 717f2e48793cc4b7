from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import factory
import pytest

from crisiscenter.models import Membership, Organization, Role, User

PASSWORD = "correct-horse-battery-staple"


class ModelFactory(factory.django.DjangoModelFactory):
    class Meta:
        abstract = True

    @classmethod
    def _get_manager(cls, model_class):
        # Organisation-owned models refuse `objects` without a scope; factories write through
        # the default (unscoped) manager on purpose.
        return model_class._default_manager


class UserFactory(ModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    display_name = factory.LazyAttribute(lambda user: user.username.capitalize())
    @factory.post_generation
    def password(self, create, extracted, **kwargs):
        self.set_password(extracted or PASSWORD)
        if create:
            self.save(update_fields=["password"])


class OrganizationFactory(ModelFactory):
    class Meta:
        model = Organization
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Org {n}")
    slug = factory.Sequence(lambda n: f"org-{n}")


class MembershipFactory(ModelFactory):
    class Meta:
        model = Membership

    organization = factory.SubFactory(OrganizationFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.RESPONDER


def valid_playbook_document(**fields) -> dict:
    """A small, valid playbook document (roles left unfilled, so it fits any organisation);
    keyword arguments replace or add top-level fields."""
    from playbooks.document import FORMAT

    return {
        "format": FORMAT,
        "name": "Granola recall",
        "category": "product_recall",
        "default_severity": 2,
        "scenario": "A batch of granola bars may contain nuts the label does not mention.",
        "escalation": [
            {"severity": 1, "first_statement_due_minutes": 15, "approvals_required": 1, "approver_roles": ["approver_manager"]},
            {"severity": 2, "first_statement_due_minutes": 30, "approvals_required": 1, "approver_roles": ["approver_manager"]},
        ],
        "roles": [{"role": "incident_lead", "member": None, "backup": None}],
        "checklist": [{"title": "Publish the holding statement", "role": "spokesperson", "due_minutes": 15}],
        "holding_statements": [
            {"name": "First response", "language": "en", "text": "We are looking into reports that {what_happened} Updates: {help_url}"}
        ],
        **fields,
    }


def incident_world(*, playbook, opener, lead) -> SimpleNamespace:
    """The incidents the permission matrices act on, all in ``playbook``'s organisation and
    opened by the membership ``opener`` (a manager or higher):

    - ``incident``: open, from the playbook, led by the user ``lead`` (whose role is then what
      lets them change status, severity and roles), with the checklist's open ``task`` and a
      ``done_task`` to reopen;
    - ``resolved``: resolved, so its review can be written, with an open ``proposal``;
    - one unread notification for every member, so marking them read changes something.
    """
    from crisiscenter.models import Membership
    from playbooks import incident_services
    from playbooks.models import IncidentStatus
    from playbooks.notifications import notify

    organization = playbook.organization
    incident = incident_services.incident_open(organization=organization, actor_membership=opener, title="Nuts in the granola", playbook=playbook)
    incident_services.incident_assign_role(incident=incident, actor_membership=opener, role="incident_lead", member_id=lead.pk)
    task = incident.tasks.get(from_checklist=True)
    done_task = incident_services.task_add(incident=incident, actor_membership=opener, title="Pull the batch from the shelves")
    incident_services.task_set_done(task=done_task, actor_membership=opener, done=True)
    resolved = incident_services.incident_open(organization=organization, actor_membership=opener, title="Late deliveries", playbook=playbook)
    incident_services.incident_change_status(incident=resolved, actor_membership=opener, status=IncidentStatus.RESOLVED)
    proposal = incident_services.proposal_create(incident=resolved, actor_membership=opener, text="Name a spokesperson up front.")
    members = [membership.user for membership in Membership.objects.for_organization(organization).select_related("user")]
    notify(organization=organization, recipients=members, kind="status", text="Nuts in the granola: active", dedupe_key="matrix:everyone", incident=incident)
    return SimpleNamespace(incident=incident, task=task, done_task=done_task, resolved=resolved, proposal=proposal)


# --- Monitoring ---------------------------------------------------------------------------
def mention_draft(external_id: str, text: str, *, minutes_ago: float = 5, **fields) -> dict:
    """A draft as a webhook or an adapter hands it to the pipeline, posted ``minutes_ago``;
    keyword arguments add or replace draft fields (``author_handle``, ``language``, …)."""
    from datetime import timedelta

    from django.utils import timezone

    posted_at = (timezone.now() - timedelta(minutes=minutes_ago)).isoformat()
    return {"external_id": external_id, "text": text, "posted_at": posted_at, "author_handle": "reader", **fields}


def export_file(*drafts: dict) -> bytes:
    """Drafts as the project's export format (JSON lines), ready to upload."""
    import json

    return "".join(json.dumps(draft) + "\n" for draft in drafts).encode()


def monitoring_world(*, admin, holder) -> SimpleNamespace:
    """Monitoring in the organisation of the membership ``admin`` (an admin or owner), as the
    permission matrices find it:

    - ``source``: a webhook (its signing secret in ``webhook_secret``) that delivered the
      mentions; ``polled_source``: a Mastodon source, due now;
    - ``watch``: "Recall" (``recall``), which two of the mentions match;
    - ``mention``: unclaimed, untagged, on no incident and carried by no rumour;
      ``held_mention``: claimed by the membership ``holder`` (a responder); a third mention
      by ``angry_customer``;
    - ``rumour``: unverified and uncorrected, carrying ``held_mention``;
    - ``job``: a queued file import (its worker never runs in a matrix);
    - ``spike``: an open spike on ``watch``, as the detector records one.
    """
    from monitoring import inbox_services, pipeline
    from monitoring import services as monitoring_services
    from monitoring.models import Mention

    organization = admin.organization
    source, webhook_secret = monitoring_services.source_create(
        organization=organization, actor_membership=admin, name="Partner monitor", kind="webhook"
    )
    polled_source, _ = monitoring_services.source_create(
        organization=organization, actor_membership=admin, name="Mastodon", kind="mastodon",
        config={"instance_url": "https://mastodon.example"},
    )
    watch = monitoring_services.watch_save(organization=organization, actor_membership=admin, name="Recall", query="recall")
    result = pipeline.ingest(
        source=source,
        drafts=[
            mention_draft("m-1", "Is the granola recall real? Asking for my kids.", minutes_ago=3),
            mention_draft("m-2", "The recall notice is nowhere on the website.", minutes_ago=2),
            mention_draft("m-3", "Worst granola ever, never buying again", minutes_ago=1, author_handle="angry_customer"),
        ],
    )
    mention, held_mention, angry_mention = (Mention.unscoped.get(pk=pk) for pk in result.stored_ids)
    inbox_services.mention_claim(mention=held_mention, actor_membership=holder)
    rumour = inbox_services.rumour_save(actor_membership=admin, claim="The bars contain peanuts")
    inbox_services.rumour_attach(rumour=rumour, actor_membership=admin, mention_ids=[held_mention.pk])
    job = monitoring_services.job_create(
        organization=organization, actor_membership=admin, kind="file", file_name="mentions.jsonl",
        content=export_file(mention_draft("import-1", "Imported recall mention")),
    )
    return SimpleNamespace(
        source=source, webhook_secret=webhook_secret, polled_source=polled_source, watch=watch, mention=mention,
        held_mention=held_mention, angry_mention=angry_mention, rumour=rumour, job=job, spike=_open_spike(watch),
    )


def _open_spike(watch):
    from django.utils import timezone

    from monitoring.models import Spike

    now = timezone.now().replace(second=0, microsecond=0)
    return Spike.unscoped.create(
        organization_id=watch.organization_id, watch=watch, started_at=now, detected_at=now, peak_at=now, window_minutes=30,
        peak_count=60, window_count=60, baseline=0.5, expected=15.0, explanation={"terms": [{"term": "recall", "posts": 40, "share": 0.67, "lift": None}]},
    )


CRISISLEX = Path(__file__).resolve().parents[2] / "shared" / "data" / "crisislex-t6"


def _crisislex_rows(crisis: str = "*") -> list[list[str]]:
    """(tweet id, tweet, label) rows of one CrisisLexT6 crisis folder, or of all six."""
    paths = sorted(CRISISLEX.glob(f"{crisis}/*.csv"))
    if not paths:
        pytest.fail(f"no CSV under {CRISISLEX / crisis}: these tests replay the shared CrisisLexT6 data")
    rows = []
    for path in paths:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle)
            next(reader)  # tweet id, tweet, label
            rows.extend(row for row in reader if len(row) >= 3)
    return rows


def crisislex_tweet_texts() -> list[str]:
    """The text of every CrisisLexT6 tweet (about 60,000, six crises), in file order."""
    return [row[1] for row in _crisislex_rows()]


def crisislex_posting_times(crisis: str) -> list[datetime]:
    """When each tweet of one crisis (e.g. ``2013_Boston_Bombings``) was posted, in order, as
    a drill replay reads it from the snowflake id."""
    from monitoring.imports import snowflake_time

    return sorted(snowflake_time(int(row[0].strip().strip("'"))) for row in _crisislex_rows(crisis))


# --- Statements ---------------------------------------------------------------------------
def statement_world(*, incident, author, approver) -> SimpleNamespace:
    """Statements of ``incident`` as the permission matrices find them, written by the
    membership ``author`` (a responder) and approved by ``approver`` (a manager):

    - ``draft``: a holding statement at version 1, not yet sent for approval;
    - ``in_review``: an update waiting for approval;
    - ``approved``: approved, not yet published;
    - ``published``: published on the hub (its publication run), with an open ``promise``;
    - ``failed_publication``: the hub publication of another update, failed;
    - ``hub``: the organisation's hub channel.
    """
    from datetime import timedelta

    from django.utils import timezone

    from responses import services
    from responses.models import Promise, Publication

    def draft(kind: str, headline: str, **fields):
        return services.statement_draft(
            incident=incident, actor_membership=author, kind=kind,
            fields={"headline": headline, "body": f"We are sorry. {headline}.", **fields},
        )

    def approve(statement):
        statement.refresh_from_db()
        services.statement_submit(statement=statement, actor_membership=author)
        services.statement_decide(statement=statement, actor_membership=approver, version_number=statement.current_version.number, decision="approve")
        statement.refresh_from_db()
        return statement

    first = draft("holding", "Draft holding statement")
    in_review = draft("update", "Update in review")
    services.statement_submit(statement=in_review, actor_membership=author)
    approved = approve(draft("update", "Approved update"))
    promise_due = (timezone.now() + timedelta(hours=2)).isoformat()
    published = approve(draft("holding", "Published holding statement", promises=[{"text": "Refund form online", "due_at": promise_due}]))
    services.statement_publish(statement=published, actor_membership=approver)
    for publication in Publication.objects.for_organization(incident.organization_id).filter(statement=published):
        services.publication_attempt(publication_id=publication.pk)
    # An update whose hub publication failed, as the worker records a failure it cannot retry.
    failed = approve(draft("update", "Update that failed"))
    [failed_publication] = services.statement_publish(statement=failed, actor_membership=approver)
    Publication.unscoped.filter(pk=failed_publication.pk).update(status="failed", attempts=1, error="The hub was unavailable.")
    for statement in (first, in_review, published):
        statement.refresh_from_db()
    return SimpleNamespace(
        draft=first, in_review=in_review, approved=approved, published=published, failed_publication=failed_publication,
        promise=Promise.objects.for_organization(incident.organization_id).get(statement=published),
        hub=services.builtin_channels(incident.organization_id)["hub"],
    )


# --- Replies and scheduled posts ------------------------------------------------------------
X_OAUTH1 = {"consumer_key": "ck", "consumer_secret": "cs", "access_token": "1-at", "access_token_secret": "ats"}


def approved_statement(*, incident, author, approver, kind: str, body: str, headline: str = ""):
    """A statement of ``incident`` written by the membership ``author`` and approved by
    ``approver`` at version 1 (not published)."""
    from responses import services

    statement = services.statement_draft(incident=incident, actor_membership=author, kind=kind, fields={"headline": headline, "body": body})
    services.statement_submit(statement=statement, actor_membership=author)
    services.statement_decide(statement=statement, actor_membership=approver, version_number=1, decision="approve")
    statement.refresh_from_db()
    return statement


def x_mention(*, incident, admin, external_id: str = "1460323737035677698", text: str = "Are the bars safe?", author_handle: str = "worried_mum"):
    """A post read from X by an X search source (created on first use), linked to ``incident``
    and claimed by nobody."""
    from monitoring import inbox_services, pipeline
    from monitoring import services as monitoring_services
    from monitoring.models import Mention, Source

    source = Source.objects.for_organization(incident.organization_id).filter(kind="x").first()
    if source is None:
        source, _ = monitoring_services.source_create(
            organization=incident.organization, actor_membership=admin, name="X search", kind="x", credentials={"bearer_token": "bearer"},
        )
    result = pipeline.ingest(source=source, drafts=[mention_draft(external_id, text, author_handle=author_handle)])
    mention = Mention.unscoped.get(pk=result.stored_ids[0])
    return inbox_services.mention_link_incident(mention=mention, actor_membership=admin, incident=incident)


def reply_world(*, incident, admin, author, approver) -> SimpleNamespace:
    """Replies and scheduled posts of ``incident``'s organisation as the permission matrices
    find them (``admin`` an admin or owner, ``author`` a responder, ``approver`` a manager):

    - ``x_channel``: the organisation's X account, with no access list (managers and up post
      and reply there);
    - ``x_mention``: a post on X by worried_mum, on ``incident``, unclaimed;
    - ``reply_template``: an approved reply template of ``incident`` that follows its latest
      update (``{latest_update} {hub_url}``);
    - ``held_post``: a scheduled post held for review after a crisis, and ``scheduled_post``,
      waiting for tomorrow. The pause threshold is then severity 1, so that ``incident``
      (severity 2) pauses nothing and a manager may resume ``held_post``.
    """
    from datetime import timedelta

    from django.utils import timezone

    from responses import reply_services, schedule_services, services

    organization = incident.organization
    x_channel = services.channel_create(
        organization=organization, actor_membership=admin, kind="x", name="@acme", config={"handle": "acme"}, credentials=X_OAUTH1,
    )
    mention = x_mention(incident=incident, admin=admin)
    template = approved_statement(
        incident=incident, author=author, approver=approver, kind="reply_template", body="Sorry for the worry. Latest: {latest_update} {hub_url}",
    )
    tomorrow = timezone.now() + timedelta(days=1)
    # Queued while the severity-2 incident is open (the default threshold is 2): paused at once;
    # with the threshold at 1 the next tick finds no crisis and holds it for review.
    held_post = schedule_services.scheduled_post_create(
        organization=organization, actor_membership=approver, channel_id=x_channel.pk, text="20% off granola this weekend!", scheduled_at=tomorrow,
    )
    reply_services.policy_update(organization=organization, actor_membership=admin, pause_scheduled_at_severity=1, replies_per_author=2)
    schedule_services.scheduled_posts_tick()
    held_post.refresh_from_db()
    scheduled_post = schedule_services.scheduled_post_create(
        organization=organization, actor_membership=approver, channel_id=x_channel.pk, text="New flavours on Monday", scheduled_at=tomorrow,
    )
    return SimpleNamespace(x_channel=x_channel, x_mention=mention, reply_template=template, held_post=held_post, scheduled_post=scheduled_post)
