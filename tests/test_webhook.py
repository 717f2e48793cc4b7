"""The webhook intake: any monitoring tool POSTs mentions, signed with the source's secret.

There is no user: the HMAC-SHA256 signature of the exact body in ``X-Signature-256`` is
the authentication, so every refusal is checked to store nothing. Tasks run eagerly here
(the broker is the boundary), so an accepted batch is stored before the answer arrives.
"""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from monitoring import services as monitoring_services
from monitoring.models import Mention, RejectedItem, Source
from monitoring.services import webhook_signature
from tests.factories import mention_draft

pytestmark = pytest.mark.django_db


@pytest.fixture
def webhook(alice_membership):
    """Org A's webhook source and its signing secret."""
    source, secret = monitoring_services.source_create(
        organization=alice_membership.organization, actor_membership=alice_membership, name="Partner monitor", kind="webhook"
    )
    source.secret = secret
    return source


def webhook_url(source: Source, slug: str = "acme") -> str:
    return f"/api/v1/organizations/{slug}/sources/{source.pk}/webhook/"


def post(source: Source, body: bytes, *, signature: str | None = None, slug: str = "acme"):
    """POST ``body`` as-is; ``signature`` None sends no header at all."""
    headers = {} if signature is None else {"HTTP_X_SIGNATURE_256": signature}
    return APIClient().post(webhook_url(source, slug), data=body, content_type="application/json", **headers)


def signed(source: Source, body: bytes, *, slug: str = "acme"):
    return post(source, body, signature=webhook_signature(source.secret, body), slug=slug)


def body_of(*drafts) -> bytes:
    return json.dumps({"mentions": list(drafts)}).encode()


def stored_ids(source: Source) -> list[str]:
    return sorted(Mention.objects.for_organization(source.organization_id).filter(source=source).values_list("external_id", flat=True))


def assert_refused(response, status: int, code: str) -> None:
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert (error["status"], error["code"]) == (status, code)
    assert error["message"]


# --- Accepted -------------------------------------------------------------------------------
def test_a_correctly_signed_batch_is_accepted_and_stored(webhook, eager_celery, sent_events, django_capture_on_commit_callbacks):
    body = body_of(
        mention_draft("hook-1", "Is the granola recall real?", author_handle="worried_parent", author_followers=120),
        mention_draft("hook-2", "Recall notice is up on the site now.", url="https://news.example/recall"),
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = signed(webhook, body)

    assert response.status_code == 202, response.content
    assert response.json() == {"accepted": 2}
    assert stored_ids(webhook) == ["hook-1", "hook-2"]
    first = Mention.objects.for_organization(webhook.organization_id).get(source=webhook, external_id="hook-1")
    assert (first.author_handle, first.author_followers, first.status) == ("worried_parent", 120, "new")
    webhook.refresh_from_db()
    assert webhook.mentions_stored == 2
    ingested = [event for _group, event in sent_events if event["type"] == "mentions.ingested"]
    assert [event["data"]["stored"] for event in ingested] == [2]
    assert {group for group, event in sent_events if event["type"] == "mentions.ingested"} == {f"org-{webhook.organization_id}"}


@pytest.mark.parametrize(
    "shape",
    [
        pytest.param(lambda draft: draft, id="one object"),
        pytest.param(lambda draft: [draft], id="a list"),
        pytest.param(lambda draft: {"mentions": [draft]}, id="a mentions object"),
    ],
)
def test_every_documented_body_shape_is_accepted(webhook, eager_celery, shape):
    body = json.dumps(shape(mention_draft("hook-1", "Recall?"))).encode()

    response = signed(webhook, body)

    assert response.status_code == 202, response.content
    assert response.json() == {"accepted": 1}
    assert stored_ids(webhook) == ["hook-1"]


def test_a_redelivered_batch_stores_nothing_twice(webhook, eager_celery):
    body = body_of(mention_draft("hook-1", "Recall?"), mention_draft("hook-2", "Recall!"))

    assert signed(webhook, body).status_code == 202
    response = signed(webhook, body)

    assert response.status_code == 202
    assert stored_ids(webhook) == ["hook-1", "hook-2"]
    webhook.refresh_from_db()
    assert webhook.mentions_stored == 2


def test_a_batch_with_one_bad_item_stores_the_good_ones_and_records_the_bad_one(webhook, eager_celery):
    bad = {"external_id": "hook-2", "posted_at": "2026-11-22T10:00:00Z"}  # no text
    body = body_of(mention_draft("hook-1", "Recall?"), bad, mention_draft("hook-3", "Recall!"))

    response = signed(webhook, body)

    assert response.status_code == 202
    assert response.json() == {"accepted": 3}
    assert stored_ids(webhook) == ["hook-1", "hook-3"]
    [rejected] = RejectedItem.objects.for_organization(webhook.organization_id).filter(source=webhook)
    assert (rejected.external_id, rejected.reason, rejected.job_id) == ("hook-2", "text is missing", None)
    assert rejected.payload == bad


@pytest.mark.parametrize(
    "poisoned",
    [
        pytest.param(mention_draft("hook-2", "Fine text", raw={"note": "copied\u0000from a PDF"}), id="NUL in the raw payload"),
        pytest.param({"external_id": "hook-2\u0000", "text": "No time", "posted_at": "soon"}, id="NUL in a rejected item"),
    ],
)
def test_a_nul_character_in_one_item_does_not_sink_the_batch(webhook, eager_celery, poisoned):
    body = body_of(mention_draft("hook-1", "Recall?"), poisoned)

    response = signed(webhook, body)

    assert response.status_code == 202, response.content
    assert "hook-1" in stored_ids(webhook)


def test_the_rotated_secret_signs_and_the_old_one_no_longer_does(webhook, alice_membership, eager_celery):
    old_secret = webhook.secret
    webhook.secret = monitoring_services.source_rotate_webhook_secret(source=webhook, actor_membership=alice_membership)
    body = body_of(mention_draft("hook-1", "Recall?"))

    refused = post(webhook, body, signature=webhook_signature(old_secret, body))
    accepted = signed(webhook, body)

    assert_refused(refused, 401, "signature_mismatch")
    assert accepted.status_code == 202
    assert stored_ids(webhook) == ["hook-1"]


# --- Refused: nothing is stored ------------------------------------------------------------
def test_a_request_without_the_signature_header_is_refused(webhook, eager_celery):
    response = post(webhook, body_of(mention_draft("hook-1", "Recall?")))

    assert_refused(response, 401, "signature_missing")
    assert stored_ids(webhook) == []


def test_a_wrong_signature_is_refused(webhook, eager_celery):
    body = body_of(mention_draft("hook-1", "Recall?"))

    response = post(webhook, body, signature=webhook_signature("not-the-secret", body))

    assert_refused(response, 401, "signature_mismatch")
    assert stored_ids(webhook) == []


def test_a_signature_over_a_different_body_is_refused(webhook, eager_celery):
    signed_body = body_of(mention_draft("hook-1", "Recall?"))
    sent_body = body_of(mention_draft("hook-1", "Recall? Buy cheap pills at spam.example"))

    response = post(webhook, sent_body, signature=webhook_signature(webhook.secret, signed_body))

    assert_refused(response, 401, "signature_mismatch")
    assert stored_ids(webhook) == []


def test_a_signature_without_the_sha256_prefix_is_refused(webhook, eager_celery):
    body = body_of(mention_draft("hook-1", "Recall?"))

    response = post(webhook, body, signature=webhook_signature(webhook.secret, body).removeprefix("sha256="))

    assert_refused(response, 401, "signature_mismatch")
    assert stored_ids(webhook) == []


def test_a_disabled_source_refuses_even_a_correctly_signed_batch(webhook, alice_membership, eager_celery):
    monitoring_services.source_update(source=webhook, actor_membership=alice_membership, is_enabled=False)

    response = signed(webhook, body_of(mention_draft("hook-1", "Recall?")))

    assert_refused(response, 401, "webhook_disabled")
    assert stored_ids(webhook) == []


def test_the_webhook_integration_switch_turns_every_webhook_off(webhook, settings, eager_celery):
    settings.INTEGRATIONS = {**settings.INTEGRATIONS, "webhook": False}

    response = signed(webhook, body_of(mention_draft("hook-1", "Recall?")))

    assert_refused(response, 401, "webhook_disabled")
    assert stored_ids(webhook) == []


def test_a_source_that_is_not_a_webhook_refuses(alice_membership, eager_celery):
    polled, _secret = monitoring_services.source_create(
        organization=alice_membership.organization, actor_membership=alice_membership, name="Mastodon", kind="mastodon",
        config={"instance_url": "https://mastodon.example"},
    )
    polled.secret = ""  # it has none: sign with the empty key a forger would try
    response = signed(polled, body_of(mention_draft("hook-1", "Recall?")))

    assert_refused(response, 401, "webhook_disabled")
    assert stored_ids(polled) == []


def test_another_organisations_source_under_this_slug_is_not_found(webhook, charlie_membership, eager_celery):
    bravo_source, bravo_secret = monitoring_services.source_create(
        organization=charlie_membership.organization, actor_membership=charlie_membership, name="Bravo hook", kind="webhook"
    )
    bravo_source.secret = bravo_secret
    body = body_of(mention_draft("hook-1", "Recall?"))

    response = signed(bravo_source, body, slug="acme")

    assert_refused(response, 404, "not_found")
    assert stored_ids(bravo_source) == []
    assert not Mention.objects.for_organization(webhook.organization_id).exists()
    # The same source under its own organisation's slug is fine: only the pairing was wrong.
    assert signed(bravo_source, body, slug="bravo").status_code == 202


def test_an_unknown_organisation_or_source_is_not_found(webhook, eager_celery):
    body = body_of(mention_draft("hook-1", "Recall?"))

    unknown_slug = signed(webhook, body, slug="no-such-org")
    unknown_source = APIClient().post(
        f"/api/v1/organizations/acme/sources/{webhook.pk + 1000}/webhook/", data=body, content_type="application/json",
        HTTP_X_SIGNATURE_256=webhook_signature(webhook.secret, body),
    )

    assert_refused(unknown_slug, 404, "not_found")
    assert_refused(unknown_source, 404, "not_found")
    assert stored_ids(webhook) == []


def test_a_signed_body_that_is_not_json_is_a_400(webhook, eager_celery):
    response = signed(webhook, b'{"mentions": [{"external_id": "hook-1",')

    assert_refused(response, 400, "invalid_json")
    assert stored_ids(webhook) == []


def test_a_signed_body_that_is_not_a_mention_or_list_is_a_400(webhook, eager_celery):
    response = signed(webhook, b'"just a string"')

    assert_refused(response, 400, "invalid_body")
    assert stored_ids(webhook) == []


def test_more_than_a_thousand_items_is_a_400_and_stores_none_of_them(webhook, eager_celery):
    body = body_of(*(mention_draft(f"hook-{number}", "Recall?") for number in range(1001)))

    response = signed(webhook, body)

    assert_refused(response, 400, "too_many")
    assert "1000" in response.json()["error"]["message"]
    assert stored_ids(webhook) == []


def test_exactly_a_thousand_items_is_accepted(webhook, eager_celery):
    body = body_of(*(mention_draft(f"hook-{number}", f"Recall question number {number}") for number in range(1000)))

    response = signed(webhook, body)

    assert response.status_code == 202
    assert response.json() == {"accepted": 1000}
    assert len(stored_ids(webhook)) == 1000


def test_a_broker_outage_is_a_503_the_sender_can_retry(webhook, monkeypatch):
    from monitoring import tasks

    def broker_down(*args, **kwargs):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(tasks.ingest_mentions, "delay", broker_down)

    response = signed(webhook, body_of(mention_draft("hook-1", "Recall?")))

    assert_refused(response, 503, "unavailable")
    assert stored_ids(webhook) == []


# --- Documented -----------------------------------------------------------------------------
def test_the_webhook_is_in_the_openapi_schema_with_its_signature_header(db):
    response = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    operation = response.json()["paths"]["/api/v1/organizations/{slug}/sources/{source_id}/webhook/"]["post"]
    [header] = [parameter for parameter in operation["parameters"] if parameter["in"] == "header"]
    assert header["name"] == "X-Signature-256"
    assert header["required"] is True
    assert "HMAC-SHA256" in header["description"]
    assert "202" in operation["responses"]
    # No token: the signature is the authentication (and nothing global asks for one).
    assert operation.get("security", []) in ([], [{}])
    assert "security" not in response.json()
