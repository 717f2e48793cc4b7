"""Replies from the inbox (approved templates that follow the latest update, the per-author
limit, sent through the X adapter) and scheduled posts that pause for a crisis."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from django.utils import timezone

from crisiscenter.errors import NotAllowed, ServiceError
from crisiscenter.models import AuditEntry
from monitoring import pipeline
from monitoring import services as monitoring_services
from monitoring.models import Mention, MentionStatus
from playbooks import incident_services
from playbooks import services as playbook_services
from playbooks.models import IncidentStatus, Platform
from responses import reply_services, schedule_services, services
from responses.models import Publication, Reply, ReplyStatus, ScheduledPost, ScheduledPostStatus
from tests.factories import mention_draft, valid_playbook_document
from tests.test_source_common import responses as http_mock

pytestmark = pytest.mark.django_db

TWEETS = "https://api.twitter.com/2/tweets"
OAUTH1 = {"consumer_key": "ck", "consumer_secret": "cs", "access_token": "1-at", "access_token_secret": "ats"}


@pytest.fixture
def incident(org_a, alice_membership, bob_membership, carol_membership):
    playbook = playbook_services.playbook_create(organization=org_a, actor_membership=alice_membership, document=valid_playbook_document())
    return incident_services.incident_open(organization=org_a, actor_membership=carol_membership, title="Nuts", playbook=playbook,
                                           severity=2, origin_platform=Platform.X)


@pytest.fixture
def x_channel(org_a, alice_membership):
    return services.channel_create(organization=org_a, actor_membership=alice_membership, kind="x", name="@acme", config={"handle": "acme"}, credentials=OAUTH1)


@pytest.fixture
def mention(org_a, alice_membership, incident):
    source, _ = monitoring_services.source_create(organization=org_a, actor_membership=alice_membership, name="X search", kind="x",
                                                  credentials={"bearer_token": "bearer"})
    result = pipeline.ingest(source=source, drafts=[mention_draft("1460323737035677698", "Are the bars safe?", author_handle="worried_mum")])
    found = Mention.unscoped.get(pk=result.stored_ids[0])
    Mention.unscoped.filter(pk=found.pk).update(incident=incident)
    found.refresh_from_db()
    return found


def _approved(incident, author, approver, *, kind, body, headline="", publish=False):
    statement = services.statement_draft(incident=incident, actor_membership=author, kind=kind, fields={"headline": headline, "body": body})
    services.statement_submit(statement=statement, actor_membership=author)
    services.statement_decide(statement=statement, actor_membership=approver, version_number=1, decision="approve")
    statement.refresh_from_db()
    if publish:
        services.statement_publish(statement=statement, actor_membership=approver)
        for publication in Publication.objects.for_organization(statement.organization_id).filter(statement=statement):
            services.publication_attempt(publication_id=publication.pk)
        statement.refresh_from_db()
    return statement


def _tweet_reply(request_id="1460323737035677700"):
    http_mock.add(http_mock.POST, TWEETS, json={"data": {"id": request_id, "text": "ok", "edit_history_tweet_ids": [request_id]}}, status=201)


@http_mock.activate
def test_a_reply_follows_the_latest_update_and_goes_out_as_a_reply_on_x(incident, mention, x_channel, bob_membership, carol_membership, alice_membership):
    for member in (bob_membership, carol_membership):
        services.channel_access_grant(channel=x_channel, actor_membership=alice_membership, user_id=member.user_id)
    _tweet_reply("1460323737035677699")  # the holding statement goes to X first: the incident started there
    _approved(incident, bob_membership, carol_membership, kind="holding", headline="Batch 42 recalled", body="We are sorry.", publish=True)
    template = _approved(incident, bob_membership, carol_membership, kind="reply_template", body="Sorry for the worry. Latest: {latest_update} {hub_url}")
    _tweet_reply()

    reply = reply_services.reply_send(mention=mention, actor_membership=bob_membership, template=template)
    reply_services.reply_attempt(reply_id=reply.pk)

    reply.refresh_from_db()
    assert reply.status == ReplyStatus.SENT and reply.external_id == "1460323737035677700"
    assert reply.text.startswith("Sorry for the worry. Latest: Batch 42 recalled http://")
    assert "reply" not in json.loads(http_mock.calls[0].request.body)
    body = json.loads(http_mock.calls[1].request.body)
    assert body["reply"] == {"in_reply_to_tweet_id": "1460323737035677698"}
    assert body["text"].startswith("Sorry for the worry. Latest: Batch 42 recalled")
    mention.refresh_from_db()
    assert mention.status == MentionStatus.REPLIED
    assert AuditEntry.objects.for_organization(incident.organization).filter(action="reply.sent").exists()


def test_only_an_approved_template_is_used(incident, mention, x_channel, bob_membership):
    draft = services.statement_draft(incident=incident, actor_membership=bob_membership, kind="reply_template", fields={"body": "Not approved"})
    with pytest.raises(ServiceError) as error:
        reply_services.reply_send(mention=mention, actor_membership=bob_membership, template=draft)
    assert error.value.code == "not_approved"


def test_a_statement_that_is_not_a_reply_template_is_refused(incident, mention, x_channel, bob_membership, carol_membership):
    holding = _approved(incident, bob_membership, carol_membership, kind="holding", body="We are sorry.")
    with pytest.raises(ServiceError):
        reply_services.reply_send(mention=mention, actor_membership=carol_membership, template=holding)


@http_mock.activate
def test_past_the_per_author_limit_the_conversation_moves_to_private(incident, mention, x_channel, bob_membership, carol_membership):
    template = _approved(incident, bob_membership, carol_membership, kind="reply_template", body="We hear you.")
    for _ in range(2):
        reply_services.reply_send(mention=mention, actor_membership=carol_membership, template=template)
    with pytest.raises(ServiceError) as error:
        reply_services.reply_send(mention=mention, actor_membership=carol_membership, template=template)
    assert error.value.code == "reply_limit" and "private" in error.value.message
    invite = _approved(incident, bob_membership, carol_membership, kind="reply_template", body="Please DM us your order number so we can help.")
    reply = reply_services.reply_send(mention=mention, actor_membership=carol_membership, template=invite, moves_to_private=True)
    assert reply.moves_to_private
    with pytest.raises(ServiceError):
        reply_services.reply_send(mention=mention, actor_membership=carol_membership, template=invite, moves_to_private=True)


def test_replying_needs_publishing_rights_on_the_channel(incident, mention, x_channel, bob_membership, carol_membership):
    template = _approved(incident, bob_membership, carol_membership, kind="reply_template", body="We hear you.")
    with pytest.raises(NotAllowed):
        reply_services.reply_send(mention=mention, actor_membership=bob_membership, template=template)  # no access list: managers only


@http_mock.activate
def test_a_rate_limited_reply_is_retried_after_the_reset(incident, mention, x_channel, bob_membership, carol_membership):
    template = _approved(incident, bob_membership, carol_membership, kind="reply_template", body="We hear you.")
    reset = int((timezone.now() + timedelta(minutes=3)).timestamp())
    http_mock.add(http_mock.POST, TWEETS, json={"title": "Too Many Requests", "status": 429}, status=429,
                  headers={"x-rate-limit-reset": str(reset), "x-rate-limit-remaining": "0", "x-rate-limit-limit": "200"})
    reply = reply_services.reply_send(mention=mention, actor_membership=carol_membership, template=template)
    retry_in = reply_services.reply_attempt(reply_id=reply.pk)
    reply.refresh_from_db()
    assert reply.status == ReplyStatus.RETRYING and 150 < retry_in <= 200
    assert reply_services.reply_attempt(reply_id=reply.pk) is None  # not due yet: nobody sends it twice


# --- scheduled posts ------------------------------------------------------------------------
@http_mock.activate
def test_scheduled_posts_pause_during_a_crisis_and_wait_for_review_after_it(org_a, incident, x_channel, carol_membership, alice_membership):
    post = schedule_services.scheduled_post_create(organization=org_a, actor_membership=carol_membership, channel_id=x_channel.pk,
                                                   text="20% off granola this weekend!", scheduled_at=timezone.now() - timedelta(minutes=1))
    # The severity-2 incident is open and the default threshold is 2: paused at once.
    assert post.status == ScheduledPostStatus.PAUSED and "Nuts" in post.pause_reason
    assert schedule_services.scheduled_posts_tick()["sent"] == 0
    assert not http_mock.calls

    incident_services.incident_change_status(incident=incident, actor_membership=carol_membership, status=IncidentStatus.RESOLVED)
    counts = schedule_services.scheduled_posts_tick()
    post.refresh_from_db()
    assert counts["awaiting_review"] == 1 and post.status == ScheduledPostStatus.AWAITING_REVIEW
    assert not http_mock.calls  # nothing goes out before a person has looked at it

    _tweet_reply("99")
    schedule_services.scheduled_post_resume(post=post, actor_membership=carol_membership)
    assert schedule_services.scheduled_posts_tick()["sent"] == 1
    post.refresh_from_db()
    assert post.status == ScheduledPostStatus.SENT and post.external_id == "99"
    actions = set(AuditEntry.objects.for_organization(org_a).filter(action__startswith="scheduled_post.").values_list("action", flat=True))
    assert {"scheduled_post.created", "scheduled_post.held_for_review", "scheduled_post.resumed", "scheduled_post.sent"} <= actions


def test_a_post_queued_before_the_crisis_is_paused_by_the_next_tick(org_a, x_channel, carol_membership, alice_membership):
    post = schedule_services.scheduled_post_create(organization=org_a, actor_membership=carol_membership, channel_id=x_channel.pk,
                                                   text="New flavours!", scheduled_at=timezone.now() + timedelta(hours=1))
    assert post.status == ScheduledPostStatus.SCHEDULED
    incident_services.incident_open(organization=org_a, actor_membership=carol_membership, title="Outage", severity=1)
    assert schedule_services.scheduled_posts_tick()["paused"] == 1
    post.refresh_from_db()
    assert post.status == ScheduledPostStatus.PAUSED and "Outage" in post.pause_reason


def test_a_minor_incident_below_the_threshold_does_not_pause(org_a, x_channel, carol_membership, alice_membership):
    incident_services.incident_open(organization=org_a, actor_membership=carol_membership, title="Typo on the site", severity=4)
    post = schedule_services.scheduled_post_create(organization=org_a, actor_membership=carol_membership, channel_id=x_channel.pk,
                                                   text="New flavours!", scheduled_at=timezone.now() + timedelta(hours=1))
    assert post.status == ScheduledPostStatus.SCHEDULED
    reply_services.policy_update(organization=org_a, actor_membership=alice_membership, pause_scheduled_at_severity=4, replies_per_author=2)
    assert schedule_services.scheduled_posts_tick()["paused"] == 1


def test_resuming_is_refused_while_the_crisis_is_open(org_a, incident, x_channel, carol_membership):
    post = schedule_services.scheduled_post_create(organization=org_a, actor_membership=carol_membership, channel_id=x_channel.pk,
                                                   text="Promo", scheduled_at=timezone.now())
    with pytest.raises(ServiceError) as error:
        schedule_services.scheduled_post_resume(post=post, actor_membership=carol_membership)
    assert error.value.code == "crisis_active"
    assert ScheduledPost.objects.for_organization(org_a).get().status == ScheduledPostStatus.PAUSED


def test_an_outsider_cannot_schedule_on_another_organisations_channel(org_a, x_channel, charlie_membership):
    with pytest.raises(NotAllowed):
        schedule_services.scheduled_post_create(organization=org_a, actor_membership=charlie_membership, channel_id=x_channel.pk,
                                                text="Spam", scheduled_at=timezone.now())
    assert not Reply.objects.for_organization(org_a).exists()


def test_the_reply_limit_counts_an_author_across_posts_and_spellings(org_a, incident, mention, x_channel, bob_membership, carol_membership, alice_membership):
    source = mention.source
    result = pipeline.ingest(source=source, drafts=[mention_draft("1460323737035677711", "Still no answer??", author_handle="Worried_Mum")])
    second = Mention.unscoped.get(pk=result.stored_ids[0])
    Mention.unscoped.filter(pk=second.pk).update(incident=incident)
    second.refresh_from_db()
    template = _approved(incident, bob_membership, carol_membership, kind="reply_template", body="We hear you.")
    reply_services.reply_send(mention=mention, actor_membership=carol_membership, template=template)
    reply_services.reply_send(mention=second, actor_membership=carol_membership, template=template)
    with pytest.raises(ServiceError) as error:
        reply_services.reply_send(mention=second, actor_membership=carol_membership, template=template)
    assert error.value.code == "reply_limit" and error.value.details == {"replies": 2, "limit": 2}


@http_mock.activate
def test_a_queued_reply_whose_template_changed_is_not_sent_in_the_old_words(incident, mention, x_channel, bob_membership, carol_membership):
    template = _approved(incident, bob_membership, carol_membership, kind="reply_template", body="We hear you.")
    reply = reply_services.reply_send(mention=mention, actor_membership=carol_membership, template=template)
    services.statement_edit(statement=template, actor_membership=bob_membership, base_version=1, fields={"body": "We hear you, and we are sorry."})
    reply_services.reply_attempt(reply_id=reply.pk)
    reply.refresh_from_db()
    assert reply.status == ReplyStatus.FAILED and "changed" in reply.error
    assert not http_mock.calls


def test_a_reply_on_another_incidents_template_is_refused(org_a, incident, mention, x_channel, bob_membership, carol_membership):
    other = incident_services.incident_open(organization=org_a, actor_membership=carol_membership, title="Other", severity=3)
    template = _approved(other, bob_membership, carol_membership, kind="reply_template", body="Not about this.")
    with pytest.raises(ServiceError) as error:
        reply_services.reply_send(mention=mention, actor_membership=carol_membership, template=template)
    assert error.value.field == "template_id"


def test_a_reply_whose_worker_keeps_dying_mid_send_ends_failed_not_stuck(incident, mention, x_channel, bob_membership, carol_membership):
    from responses.services import PUBLISH_MAX_ATTEMPTS, sends_due

    template = _approved(incident, bob_membership, carol_membership, kind="reply_template", body="We hear you.")
    reply = reply_services.reply_send(mention=mention, actor_membership=carol_membership, template=template)
    Reply.unscoped.filter(pk=reply.pk).update(status=ReplyStatus.SENDING, attempts=PUBLISH_MAX_ATTEMPTS, lease_until=timezone.now() - timedelta(minutes=1))
    assert sends_due(Reply) == [reply.pk]  # beat offers it again…
    assert reply_services.reply_attempt(reply_id=reply.pk) is None  # …and the claim gives up on it
    reply.refresh_from_db()
    assert reply.status == ReplyStatus.FAILED and "Gave up" in reply.error
    assert sends_due(Reply) == []
