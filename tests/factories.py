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
