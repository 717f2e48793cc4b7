"""Replies to mentions over HTTP: the API and the Reply section of the inbox's mention page.

A reply goes out from an approved reply template of the mention's incident, through the
organisation's X account, as a reply to the post; public replies to one author per incident
are limited, and past the limit one more may only invite them to a private channel. X is
mocked at the network boundary (the ``responses`` library); the send runs on commit, in the
worker (eager here).
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from crisiscenter.models import AuditEntry
from monitoring import inbox_services
from monitoring.models import MentionStatus
from playbooks import incident_services
from playbooks import services as playbook_services
from playbooks.models import Platform
from responses import reply_services, services
from responses.models import Publication, Reply, ReplyStatus
from tests.factories import X_OAUTH1, approved_statement, valid_playbook_document, x_mention
from tests.test_source_common import responses as http_mock

pytestmark = pytest.mark.django_db

TWEETS = "https://api.twitter.com/2/tweets"
ACME_API = "/api/v1/organizations/acme"
REPLY_ID = "1460323737035677700"


@pytest.fixture
def world(org_a, alice_membership, bob_membership, carol_membership, dave_membership):
    """An incident that started on X, the organisation's X account (bob is on its access
    list), a post on X by worried_mum about it, and an approved reply template that follows
    the latest update on the hub (a holding statement published there)."""
    playbook = playbook_services.playbook_create(organization=org_a, actor_membership=alice_membership, document=valid_playbook_document())
    incident = incident_services.incident_open(organization=org_a, actor_membership=carol_membership, title="Nuts in the granola", playbook=playbook,
                                               severity=2, origin_platform=Platform.X)
    x_channel = services.channel_create(organization=org_a, actor_membership=alice_membership, kind="x", name="@acme", config={"handle": "acme"},
                                        credentials=X_OAUTH1)
    services.channel_access_grant(channel=x_channel, actor_membership=alice_membership, user_id=bob_membership.user_id)
    holding = services.statement_draft(incident=incident, actor_membership=bob_membership, kind="holding", target_channels=["hub"],
                                       fields={"headline": "Batch 42 recalled", "body": "We are sorry."})
    services.statement_submit(statement=holding, actor_membership=bob_membership)
    services.statement_decide(statement=holding, actor_membership=carol_membership, version_number=1, decision="approve")
    services.statement_publish(statement=holding, actor_membership=carol_membership)
    for publication in Publication.objects.for_organization(org_a).filter(statement=holding):
        services.publication_attempt(publication_id=publication.pk)
    template = approved_statement(incident=incident, author=bob_membership, approver=carol_membership, kind="reply_template",
                                  headline="Worried parents", body="Sorry for the worry. Latest: {latest_update} {hub_url}")
    invite = approved_statement(incident=incident, author=bob_membership, approver=carol_membership, kind="reply_template",
                                headline="Move to DM", body="Please send us a direct message with your order number so we can help.")
    mention = x_mention(incident=incident, admin=alice_membership)
    return SimpleNamespace(incident=incident, x_channel=x_channel, template=template, invite=invite, mention=mention)


def _replies_url(mention) -> str:
    return f"{ACME_API}/mentions/{mention.pk}/replies/"


def _x_answers_with_a_reply(tweet_id: str = REPLY_ID):
    # The documented answer of POST /2/tweets (no create call is among the shared recordings).
    http_mock.add(http_mock.POST, TWEETS, json={"data": {"id": tweet_id, "text": "ok", "edit_history_tweet_ids": [tweet_id]}}, status=201)


# --- the API ----------------------------------------------------------------------------------
def test_the_incidents_usable_reply_templates_come_with_the_text_a_reply_would_carry(world, org_a, bob_membership, api_client_for, dave):
    services.statement_draft(incident=world.incident, actor_membership=bob_membership, kind="reply_template", fields={"body": "Unapproved words"})

    response = api_client_for(dave).get(f"{ACME_API}/incidents/{world.incident.pk}/reply-templates/")

    assert response.status_code == 200
    results = response.json()["results"]
    assert [row["id"] for row in results] == [world.template.pk, world.invite.pk]
    first = results[0]
    assert first["body"] == "Sorry for the worry. Latest: {latest_update} {hub_url}"
    assert first["preview"].startswith("Sorry for the worry. Latest: Batch 42 recalled http")
    assert "/hub/acme/" in first["preview"] and first["version"] == 1


@http_mock.activate
def test_a_reply_goes_out_on_x_in_reply_to_the_post_and_is_recorded_on_the_mention(
    world, bob, dave, api_client_for, eager_celery, django_capture_on_commit_callbacks
):
    _x_answers_with_a_reply()

    with django_capture_on_commit_callbacks(execute=True):
        response = api_client_for(bob).post(_replies_url(world.mention), {"template_id": world.template.pk}, format="json")

    assert response.status_code == 202, response.content
    assert response.json()["status"] == ReplyStatus.QUEUED  # as answered, before the worker ran
    [call] = http_mock.calls
    sent = json.loads(call.request.body)
    assert sent["reply"] == {"in_reply_to_tweet_id": world.mention.external_id}
    assert sent["text"].startswith("Sorry for the worry. Latest: Batch 42 recalled")
    reply = Reply.objects.for_organization(world.incident.organization).get()
    assert (reply.status, reply.external_id, reply.url) == (ReplyStatus.SENT, REPLY_ID, f"https://x.com/acme/status/{REPLY_ID}")
    world.mention.refresh_from_db()
    assert world.mention.status == MentionStatus.REPLIED
    assert AuditEntry.objects.for_organization(world.incident.organization).filter(action="reply.sent", object_id=str(reply.pk)).exists()

    listed = api_client_for(dave).get(_replies_url(world.mention)).json()["results"]
    assert [(row["id"], row["status"], row["url"], row["sent_by"], row["moves_to_private"], row["error"]) for row in listed] == [
        (reply.pk, "sent", reply.url, "Bob", False, ""),
    ]
    assert listed[0]["text"] == reply.text


def test_past_the_limit_only_a_move_to_a_private_channel_is_allowed(world, bob, api_client_for):
    api = api_client_for(bob)
    for _ in range(2):
        assert api.post(_replies_url(world.mention), {"template_id": world.template.pk}, format="json").status_code == 202

    refused = api.post(_replies_url(world.mention), {"template_id": world.template.pk}, format="json")

    assert refused.status_code == 400
    error = refused.json()["error"]
    assert (error["code"], error["replies"], error["limit"]) == ("reply_limit", 2, 2)
    assert "private" in error["message"]

    moved = api.post(_replies_url(world.mention), {"template_id": world.invite.pk, "moves_to_private": True}, format="json")
    assert moved.status_code == 202 and moved.json()["moves_to_private"] is True

    again = api.post(_replies_url(world.mention), {"template_id": world.invite.pk, "moves_to_private": True}, format="json")
    assert again.status_code == 400
    assert (again.json()["error"]["code"], again.json()["error"]["replies"], again.json()["error"]["limit"]) == ("reply_limit", 3, 2)
    assert Reply.objects.for_organization(world.incident.organization).count() == 3


def test_the_limit_follows_the_organisations_policy(world, org_a, alice_membership, bob, api_client_for):
    reply_services.policy_update(organization=org_a, actor_membership=alice_membership, pause_scheduled_at_severity=2, replies_per_author=1)
    api = api_client_for(bob)
    assert api.post(_replies_url(world.mention), {"template_id": world.template.pk}, format="json").status_code == 202

    refused = api.post(_replies_url(world.mention), {"template_id": world.template.pk}, format="json")

    assert (refused.status_code, refused.json()["error"]["limit"]) == (400, 1)


def test_an_unapproved_template_is_refused(world, bob_membership, bob, api_client_for):
    draft = services.statement_draft(incident=world.incident, actor_membership=bob_membership, kind="reply_template", fields={"body": "Not approved"})

    response = api_client_for(bob).post(_replies_url(world.mention), {"template_id": draft.pk}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "not_approved"
    assert not Reply.objects.for_organization(world.incident.organization).exists()


def test_a_template_edited_after_its_approval_is_refused(world, bob_membership, bob, api_client_for):
    services.statement_edit(statement=world.template, actor_membership=bob_membership, base_version=1, fields={"body": "New words, not approved"})

    response = api_client_for(bob).post(_replies_url(world.mention), {"template_id": world.template.pk}, format="json")

    assert (response.status_code, response.json()["error"]["code"]) == (400, "not_approved")
    assert not Reply.objects.for_organization(world.incident.organization).exists()


@pytest.mark.parametrize("which", ["holding statement", "template of another incident"])
def test_only_a_reply_template_of_the_mentions_incident_is_used(world, org_a, bob_membership, carol_membership, bob, api_client_for, which):
    if which == "holding statement":
        other = approved_statement(incident=world.incident, author=bob_membership, approver=carol_membership, kind="holding", body="We are sorry.")
    else:
        elsewhere = incident_services.incident_open(organization=org_a, actor_membership=carol_membership, title="Late deliveries", severity=3)
        other = approved_statement(incident=elsewhere, author=bob_membership, approver=carol_membership, kind="reply_template", body="Deliveries resume.")

    response = api_client_for(bob).post(_replies_url(world.mention), {"template_id": other.pk}, format="json")

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["template_id"]
    assert not Reply.objects.for_organization(org_a).exists()


def test_replying_needs_the_right_to_publish_on_the_channel(world, frank, api_client_for):
    # frank is a responder who is not on the X account's access list.
    response = api_client_for(frank).post(_replies_url(world.mention), {"template_id": world.template.pk}, format="json")

    assert (response.status_code, response.json()["error"]["code"]) == (403, "publishing_not_allowed")
    assert not Reply.objects.for_organization(world.incident.organization).exists()


def test_a_mention_someone_else_holds_is_not_answered_by_another(world, carol_membership, bob, api_client_for):
    inbox_services.mention_claim(mention=world.mention, actor_membership=carol_membership)

    response = api_client_for(bob).post(_replies_url(world.mention), {"template_id": world.template.pk}, format="json")

    assert (response.status_code, response.json()["error"]["code"]) == (409, "claimed_by_someone_else")


def test_an_outsider_cannot_reply_to_org_a_mentions_through_his_own_organisation(world, charlie, api_client_for):
    outsider = api_client_for(charlie)

    for path in (f"/api/v1/organizations/bravo/mentions/{world.mention.pk}/replies/", _replies_url(world.mention)):
        assert outsider.post(path, {"template_id": world.template.pk}, format="json").status_code == 404
        assert outsider.get(path).status_code == 404
    assert outsider.get(f"/api/v1/organizations/bravo/incidents/{world.incident.pk}/reply-templates/").status_code == 404
    assert not Reply.objects.for_organization(world.incident.organization).exists()


@pytest.mark.parametrize("body", [{}, {"template_id": 0}, {"template_id": "abc"}, {"template_id": 2**63}, {"template_id": 1, "moves_to_private": "perhaps"}])
def test_bad_reply_input_is_a_400_naming_the_field(world, bob, api_client_for, body):
    response = api_client_for(bob).post(_replies_url(world.mention), body, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["fields"]
    assert not Reply.objects.for_organization(world.incident.organization).exists()


def test_a_huge_mention_id_is_a_404(world, bob, api_client_for):
    assert api_client_for(bob).get(f"{ACME_API}/mentions/{2**64}/replies/").status_code == 404


# --- the mention page -------------------------------------------------------------------------
def _mention_page(world) -> str:
    return f"/o/acme/inbox/{world.mention.pk}/"


def test_a_responder_sees_the_templates_with_their_previews_and_the_count(world, bob, login_client):
    page = login_client(bob).get(_mention_page(world)).content.decode()

    assert 'action="/o/acme/inbox/%d/reply/"' % world.mention.pk in page
    assert f'name="template" value="{world.template.pk}"' in page and f'name="template" value="{world.invite.pk}"' in page
    assert "Sorry for the worry. Latest: Batch 42 recalled http" in page
    assert "<strong>0 of 2</strong>" in page
    assert "Send reply" in page and 'name="moves_to_private"' not in page
    assert "csrfmiddlewaretoken" in page


def test_a_reply_sent_without_javascript_lands_back_on_the_mention_with_a_message(world, bob, login_client):
    browser = login_client(bob)

    response = browser.post(f"{_mention_page(world)}reply/", {"template": str(world.template.pk)}, follow=True)

    assert response.redirect_chain == [(_mention_page(world), 302)]
    page = response.content.decode()
    assert "Reply to @worried_mum queued as a public reply on @acme" in page
    reply = Reply.objects.for_organization(world.incident.organization).get()
    assert (reply.template_id, reply.moves_to_private, reply.sent_by_id) == (world.template.pk, False, bob.pk)
    assert f'data-reply-id="{reply.pk}"' in page and "<strong>1 of 2</strong>" in page


def test_past_the_limit_the_page_offers_only_the_move_to_a_private_channel(world, bob_membership, bob, login_client):
    for _ in range(2):
        reply_services.reply_send(mention=world.mention, actor_membership=bob_membership, template=world.template)
    browser = login_client(bob)

    page = browser.get(_mention_page(world)).content.decode()

    assert "<strong>2 of 2</strong>" in page
    assert "move the conversation to a private channel" in page
    assert "Reply once inviting to a private channel" in page and "Send reply" not in page
    assert 'name="moves_to_private" value="1"' in page

    browser.post(f"{_mention_page(world)}reply/", {"template": str(world.invite.pk), "moves_to_private": "1"})
    assert Reply.objects.for_organization(world.incident.organization).filter(moves_to_private=True).count() == 1

    after = browser.get(_mention_page(world)).content.decode()
    assert "already invited to a private channel" in after
    assert 'name="template"' not in after


def test_a_refused_reply_on_the_page_says_why_and_records_nothing(world, bob, login_client):
    response = login_client(bob).post(f"{_mention_page(world)}reply/", {"template": "999999"}, follow=True)

    assert "Not sent. Choose one of the reply templates" in response.content.decode()
    assert not Reply.objects.for_organization(world.incident.organization).exists()


def test_a_viewer_sees_the_replies_but_no_reply_form(world, bob_membership, dave, login_client):
    reply = reply_services.reply_send(mention=world.mention, actor_membership=bob_membership, template=world.template)

    page = login_client(dave).get(_mention_page(world)).content.decode()

    assert f'data-reply-id="{reply.pk}"' in page and "Queued" in page
    assert 'name="template"' not in page and "/reply/" not in page
    assert login_client(dave).post(f"{_mention_page(world)}reply/", {"template": str(world.template.pk)}).status_code == 403
    assert Reply.objects.for_organization(world.incident.organization).count() == 1


def test_a_responder_without_rights_on_the_channel_is_told_why_instead_of_a_form(world, frank, login_client):
    page = login_client(frank).get(_mention_page(world)).content.decode()

    assert "not on the access list of @acme" in page
    assert 'name="template"' not in page


@http_mock.activate
def test_the_replies_part_the_live_page_redraws_shows_a_failure(world, bob_membership, dave, login_client):
    http_mock.add(http_mock.POST, TWEETS, status=403, json={
        "detail": "You are not allowed to create a Tweet with duplicate content.", "type": "about:blank", "title": "Forbidden", "status": 403,
    })
    reply = reply_services.reply_send(mention=world.mention, actor_membership=bob_membership, template=world.template)
    reply_services.reply_attempt(reply_id=reply.pk)

    response = login_client(dave).get(f"{_mention_page(world)}?part=replies")

    assert response.status_code == 200
    part = response.content.decode()
    assert "<html" not in part and f'data-reply-id="{reply.pk}"' in part
    assert "Failed" in part and "as a duplicate of a post already on the account" in part


def test_an_outsider_gets_404_for_the_page_and_the_form(world, charlie, login_client):
    browser = login_client(charlie)

    assert browser.get(_mention_page(world)).status_code == 404
    assert browser.post(f"{_mention_page(world)}reply/", {"template": str(world.template.pk)}).status_code == 404
    assert browser.post(f"/o/bravo/inbox/{world.mention.pk}/reply/", {"template": str(world.template.pk)}).status_code == 404
    assert not Reply.objects.for_organization(world.incident.organization).exists()


@http_mock.activate
def test_template_and_reply_text_are_inert_on_the_mention_page(
    world, bob_membership, carol_membership, bob, login_client, eager_celery, django_capture_on_commit_callbacks
):
    payload = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    hostile = approved_statement(incident=world.incident, author=bob_membership, approver=carol_membership, kind="reply_template",
                                 headline='<b onmouseover="alert(2)">Hi</b>', body=f"We hear you {payload}")
    _x_answers_with_a_reply()
    with django_capture_on_commit_callbacks(execute=True):
        reply_services.reply_send(mention=world.mention, actor_membership=bob_membership, template=hostile)
    # Defence in depth: were a network ever to hand back a script URL, it would not become a link.
    Reply.unscoped.filter(template=hostile).update(url="javascript:alert(3)")

    page = login_client(bob).get(_mention_page(world)).content.decode()

    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in page
    assert '<script>alert("x")' not in page and "<img src=x" not in page and '<b onmouseover' not in page
    assert "javascript:alert(3)" not in page


def test_a_mention_on_no_incident_asks_to_link_one_first(world, alice_membership, bob, login_client):
    inbox_services.mention_link_incident(mention=world.mention, actor_membership=alice_membership, incident=None)

    page = login_client(bob).get(_mention_page(world)).content.decode()

    assert "Link this mention to an incident to reply" in page and 'name="template"' not in page


def test_an_incident_without_approved_templates_says_so(world, org_a, alice_membership, carol_membership, bob, login_client):
    elsewhere = incident_services.incident_open(organization=org_a, actor_membership=carol_membership, title="Late deliveries", severity=3)
    inbox_services.mention_link_incident(mention=world.mention, actor_membership=alice_membership, incident=elsewhere)

    page = login_client(bob).get(_mention_page(world)).content.decode()

    assert "has no approved reply template yet" in page and 'name="template"' not in page


def test_a_person_field_with_nobody_in_it_is_null_not_a_python_repr(world, dave, api_client_for):
    # responses.api named people with source="<field>.__str__", which DRF turned into
    # "<method-wrapper '__str__' of NoneType object …>" when the field was empty.
    statement = api_client_for(dave).get(f"{ACME_API}/statements/{world.template.pk}/").json()

    assert statement["spokesperson"] is None and statement["created_by"] == "Bob"


def test_the_page_knows_an_author_was_invited_whatever_the_case_of_the_handle(world, alice_membership, bob_membership, bob, login_client):
    # The same person posting as @Worried_Mum and @worried_mum: one conversation, one limit.
    same_author = x_mention(incident=world.incident, admin=alice_membership, external_id="1460323737035677699", author_handle="Worried_Mum")
    for _ in range(2):
        reply_services.reply_send(mention=same_author, actor_membership=bob_membership, template=world.template)
    reply_services.reply_send(mention=same_author, actor_membership=bob_membership, template=world.invite, moves_to_private=True)

    page = login_client(bob).get(_mention_page(world)).content.decode()

    assert "already invited to a private channel" in page
    assert 'name="template"' not in page and "Reply once inviting" not in page


@pytest.mark.parametrize("template", ["", "²", "99999999999999999999999", "1\x00"])
def test_a_hostile_template_choice_on_the_page_is_refused_without_a_server_error(world, bob, login_client, template):
    response = login_client(bob).post(f"{_mention_page(world)}reply/", {"template": template}, follow=True)

    assert response.status_code == 200
    assert "Not sent. Choose one of the reply templates of the mention&#x27;s incident." in response.content.decode()
    assert not Reply.objects.for_organization(world.incident.organization).exists()


def test_a_template_of_another_incident_is_refused_on_the_page(world, org_a, bob_membership, carol_membership, bob, login_client):
    elsewhere = incident_services.incident_open(organization=org_a, actor_membership=carol_membership, title="Late deliveries", severity=3)
    foreign = approved_statement(incident=elsewhere, author=bob_membership, approver=carol_membership, kind="reply_template", body="Sorry for the wait.")

    response = login_client(bob).post(f"{_mention_page(world)}reply/", {"template": str(foreign.pk)}, follow=True)

    assert "Not sent. Choose one of the reply templates of the mention&#x27;s incident." in response.content.decode()
    assert not Reply.objects.for_organization(world.incident.organization).exists()


def test_a_mastodon_post_is_answered_only_through_an_account_on_its_own_server(world, org_a, alice_membership, bob_membership, bob, login_client):
    from monitoring import pipeline
    from monitoring import services as monitoring_services
    from monitoring.models import Mention
    from tests.factories import mention_draft

    source, _ = monitoring_services.source_create(organization=org_a, actor_membership=alice_membership, name="Mastodon search", kind="mastodon",
                                                  config={"instance_url": "https://mastodon.example"})
    stored = pipeline.ingest(source=source, drafts=[mention_draft("109876543210", "Are the bars safe?", author_handle="worried_mum")]).stored_ids
    mention = inbox_services.mention_link_incident(mention=Mention.unscoped.get(pk=stored[0]), actor_membership=alice_membership, incident=world.incident)
    elsewhere = services.channel_create(organization=org_a, actor_membership=alice_membership, kind="mastodon", name="Acme on another server",
                                        config={"instance_url": "https://other.example"}, credentials={"access_token": "t" * 32})
    services.channel_access_grant(channel=elsewhere, actor_membership=alice_membership, user_id=bob_membership.user_id)

    page = login_client(bob).get(f"/o/acme/inbox/{mention.pk}/").content.decode()

    assert "There is no Mastodon channel switched on for this account&#x27;s server" in page
    assert 'name="template"' not in page
