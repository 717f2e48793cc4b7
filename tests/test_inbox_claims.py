"""Claiming mentions in the shared inbox: exclusive, race-free, announced after the commit.

bob and frank are responders in org A, carol is a manager, dave a viewer; charlie is an
outsider. The races run for real on PostgreSQL: two threads, each with its own database
connection, released at the same instant by a barrier.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from crisiscenter.models import Membership
from monitoring import inbox_services, pipeline
from monitoring import services as monitoring_services
from monitoring.models import Mention, MentionStatus
from tests.factories import mention_draft

# The races below override this with a transactional database of their own.
pytestmark = pytest.mark.django_db

ACME = "/api/v1/organizations/acme"


@pytest.fixture
def mentions(alice_membership) -> list[Mention]:
    """Five fresh, unclaimed mentions in org A, ingested as a webhook would deliver them."""
    source, _secret = monitoring_services.source_create(
        organization=alice_membership.organization, actor_membership=alice_membership, name="Partner monitor", kind="webhook"
    )
    result = pipeline.ingest(
        source=source, drafts=[mention_draft(f"m-{number}", f"Is the granola recall real? ({number})", minutes_ago=number) for number in range(5)]
    )
    return list(Mention.unscoped.filter(pk__in=result.stored_ids).order_by("pk"))


@pytest.fixture
def mention(mentions) -> Mention:
    return mentions[0]


def claim_events(sent_events, mention: Mention) -> list[tuple[str, dict]]:
    return [(group, event) for group, event in sent_events if event["type"] == "mention.claimed" and event["data"]["mention_id"] == mention.pk]


def claim_url(mention: Mention) -> str:
    return f"{ACME}/mentions/{mention.pk}/claim/"


# --- Races (real PostgreSQL, real threads) --------------------------------------------------
def run_at_once(*actions) -> list[object]:
    """Run each action in its own thread (own database connection), all released together;
    returns what each returned or raised, in order."""
    barrier = threading.Barrier(len(actions))
    outcomes: list[object] = [None] * len(actions)

    def run(index, action):
        try:
            prepare, act = action
            prepared = prepare()  # read what the caller would have read before clicking
            barrier.wait(timeout=10)
            outcomes[index] = act(prepared)
        except Exception as error:  # the refusal is an outcome to assert on, not a crash
            outcomes[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index, action)) for index, action in enumerate(actions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads), "a claim never finished: a lock was never released"
    return outcomes


def service_claim(mention_id: int, membership_id: int):
    def prepare():
        return (
            Mention.unscoped.get(pk=mention_id),
            Membership.unscoped.select_related("user", "organization").get(pk=membership_id),
        )

    def act(prepared):
        mention, membership = prepared
        return inbox_services.mention_claim(mention=mention, actor_membership=membership)

    return prepare, act


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_second_claim_is_refused_with_the_winner_named(mentions, bob_membership, frank_membership, sent_events):
    people = {bob_membership.user_id: bob_membership.user, frank_membership.user_id: frank_membership.user}

    # Several mentions, so the outcome does not depend on one lucky interleaving.
    for mention in mentions:
        outcomes = run_at_once(service_claim(mention.pk, bob_membership.pk), service_claim(mention.pk, frank_membership.pk))

        won = [outcome for outcome in outcomes if isinstance(outcome, Mention)]
        refused = [outcome for outcome in outcomes if isinstance(outcome, Exception)]
        assert len(won) == 1 and len(refused) == 1, outcomes
        [conflict] = refused
        assert isinstance(conflict, inbox_services.ClaimConflict), repr(conflict)
        winner = people[won[0].assignee_id]
        assert conflict.code == "already_claimed"
        assert conflict.details == {"assignee_id": winner.pk}
        assert str(winner) in conflict.message
        mention.refresh_from_db()
        assert (mention.assignee_id, mention.status) == (winner.pk, MentionStatus.ASSIGNED)
        events = claim_events(sent_events, mention)
        assert [(group, event["data"]["assignee_id"]) for group, event in events] == [(f"org-{mention.organization_id}", winner.pk)]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_people_clicking_claim_at_once_get_one_200_and_one_409(mention, bob, frank, sent_events):
    tokens = {user.pk: Token.objects.get_or_create(user=user)[0].key for user in (bob, frank)}

    def api_claim(user):
        def prepare():
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Token {tokens[user.pk]}")
            return client

        return prepare, lambda client: client.post(claim_url(mention))

    bobs, franks = run_at_once(api_claim(bob), api_claim(frank))

    assert sorted([bobs.status_code, franks.status_code]) == [200, 409], (bobs.content, franks.content)
    winner, winning, losing = (bob, bobs, franks) if bobs.status_code == 200 else (frank, franks, bobs)
    assert winning.json()["assignee"] == {"id": winner.pk, "name": str(winner)}
    error = losing.json()["error"]
    assert (error["status"], error["code"], error["assignee_id"]) == (409, "already_claimed", winner.pk)
    assert str(winner) in error["message"]
    mention.refresh_from_db()
    assert mention.assignee_id == winner.pk
    assert len(claim_events(sent_events, mention)) == 1


# --- One person at a time ------------------------------------------------------------------
def test_a_claim_is_announced_to_the_organisation_only_after_the_commit(
    mention, bob, api_client_for, sent_events, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client_for(bob).post(claim_url(mention))
        assert claim_events(sent_events, mention) == []  # not before the transaction commits

    assert response.status_code == 200
    assert response.json()["status"] == MentionStatus.ASSIGNED
    mention.refresh_from_db()
    assert (mention.assignee_id, mention.status) == (bob.pk, MentionStatus.ASSIGNED)
    assert mention.claimed_at is not None
    [(group, event)] = claim_events(sent_events, mention)
    assert group == f"org-{mention.organization_id}"
    assert event["organization"] == "acme"
    assert event["data"] == {
        "mention_id": mention.pk, "status": "assigned", "assignee_id": bob.pk, "assignee": "Bob", "incident_id": None, "tags": [],
    }


def test_a_refused_claim_announces_nothing(mention, bob_membership, frank, api_client_for, sent_events, django_capture_on_commit_callbacks):
    inbox_services.mention_claim(mention=mention, actor_membership=bob_membership)

    with django_capture_on_commit_callbacks(execute=True):
        response = api_client_for(frank).post(claim_url(mention))

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "already_claimed"
    assert response.json()["error"]["assignee_id"] == bob_membership.user_id
    mention.refresh_from_db()
    assert mention.assignee_id == bob_membership.user_id
    assert sent_events == []


def test_claiming_twice_by_the_same_person_is_harmless(mention, bob, api_client_for, sent_events, django_capture_on_commit_callbacks):
    api = api_client_for(bob)
    with django_capture_on_commit_callbacks(execute=True):
        first = api.post(claim_url(mention))
    mention.refresh_from_db()
    claimed_at = mention.claimed_at

    with django_capture_on_commit_callbacks(execute=True):
        second = api.post(claim_url(mention))

    assert (first.status_code, second.status_code) == (200, 200)
    assert second.json()["assignee"]["id"] == bob.pk
    mention.refresh_from_db()
    assert (mention.assignee_id, mention.claimed_at, mention.status) == (bob.pk, claimed_at, MentionStatus.ASSIGNED)
    assert len(claim_events(sent_events, mention)) == 1  # the second click changed nothing, so says nothing


def test_a_responder_cannot_change_the_status_of_a_mention_someone_else_holds(mention, bob_membership, frank, api_client_for, sent_events):
    inbox_services.mention_claim(mention=mention, actor_membership=bob_membership)

    response = api_client_for(frank).post(f"{ACME}/mentions/{mention.pk}/status/", {"status": "no_action"}, format="json")

    assert response.status_code == 409
    error = response.json()["error"]
    assert (error["code"], error["assignee_id"]) == ("claimed_by_someone_else", bob_membership.user_id)
    assert "Bob" in error["message"]
    mention.refresh_from_db()
    assert (mention.status, mention.assignee_id) == (MentionStatus.ASSIGNED, bob_membership.user_id)


def test_a_responder_cannot_release_a_mention_someone_else_holds(mention, bob_membership, frank, api_client_for):
    inbox_services.mention_claim(mention=mention, actor_membership=bob_membership)

    response = api_client_for(frank).post(f"{ACME}/mentions/{mention.pk}/release/")

    assert response.status_code == 409
    mention.refresh_from_db()
    assert mention.assignee_id == bob_membership.user_id


def test_the_holder_moves_the_mention_along(mention, bob_membership, api_client_for):
    inbox_services.mention_claim(mention=mention, actor_membership=bob_membership)

    response = api_client_for(bob_membership.user).post(f"{ACME}/mentions/{mention.pk}/status/", {"status": "replied"}, format="json")

    assert response.status_code == 200
    mention.refresh_from_db()
    assert (mention.status, mention.assignee_id) == (MentionStatus.REPLIED, bob_membership.user_id)


def test_changing_the_status_of_an_unclaimed_mention_claims_it_for_the_actor(mention, frank, api_client_for):
    response = api_client_for(frank).post(f"{ACME}/mentions/{mention.pk}/status/", {"status": "needs_reply"}, format="json")

    assert response.status_code == 200
    mention.refresh_from_db()
    assert (mention.status, mention.assignee_id) == (MentionStatus.NEEDS_REPLY, frank.pk)


def test_a_manager_can_reassign_a_mention_someone_else_holds(
    mention, bob_membership, carol, frank, api_client_for, sent_events, django_capture_on_commit_callbacks
):
    inbox_services.mention_claim(mention=mention, actor_membership=bob_membership)

    with django_capture_on_commit_callbacks(execute=True):
        response = api_client_for(carol).post(f"{ACME}/mentions/{mention.pk}/assign/", {"assignee_id": frank.pk}, format="json")

    assert response.status_code == 200
    assert response.json()["assignee"] == {"id": frank.pk, "name": "Frank"}
    mention.refresh_from_db()
    assert (mention.assignee_id, mention.status) == (frank.pk, MentionStatus.ASSIGNED)
    assert [(event["type"], event["data"]["assignee_id"]) for _group, event in sent_events] == [("mention.updated", frank.pk)]


def test_a_manager_can_release_a_mention_someone_else_holds(mention, bob_membership, carol, api_client_for):
    inbox_services.mention_claim(mention=mention, actor_membership=bob_membership)

    response = api_client_for(carol).post(f"{ACME}/mentions/{mention.pk}/release/")

    assert response.status_code == 200
    mention.refresh_from_db()
    assert (mention.assignee_id, mention.claimed_at, mention.status) == (None, None, MentionStatus.NEW)


def test_a_mention_cannot_be_assigned_to_a_viewer(mention, carol, dave, api_client_for):
    response = api_client_for(carol).post(f"{ACME}/mentions/{mention.pk}/assign/", {"assignee_id": dave.pk}, format="json")

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["assignee_id"]
    mention.refresh_from_db()
    assert mention.assignee_id is None


def test_a_mention_cannot_be_assigned_to_an_outsider(mention, carol, charlie, api_client_for):
    response = api_client_for(carol).post(f"{ACME}/mentions/{mention.pk}/assign/", {"assignee_id": charlie.pk}, format="json")

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["assignee_id"]
    mention.refresh_from_db()
    assert mention.assignee_id is None


def test_an_outsider_cannot_claim_through_his_own_organisation(mention, charlie, api_client_for, sent_events):
    response = api_client_for(charlie).post(f"/api/v1/organizations/bravo/mentions/{mention.pk}/claim/")

    assert response.status_code == 404
    mention.refresh_from_db()
    assert mention.assignee_id is None
    assert sent_events == []
