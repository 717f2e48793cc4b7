"""Slack/Teams webhooks: stored encrypted, restricted to the chat services, posted once per
escalation through the real task, retried on transient failures only."""

from __future__ import annotations

import io
import json
import urllib.error

import pytest
from cryptography.fernet import Fernet

from crisiscenter import crypto
from crisiscenter.errors import NotAllowed, ServiceError
from playbooks import incident_services
from playbooks.models import ChatWebhook
from playbooks.notifications import chat_webhook_set
from playbooks.tasks import ChatDeliveryError, post_to_chat

pytestmark = pytest.mark.django_db
SLACK_URL = "https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXX"


class FakeResponse(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.fixture
def posted(monkeypatch):
    """Stand-in for the network: records what would have been POSTed."""
    calls = []

    def fake_urlopen(request, timeout):
        calls.append({"url": request.full_url, "body": json.loads(request.data), "timeout": timeout})
        return FakeResponse(b"ok")

    monkeypatch.setattr("urllib.request.urlopen", fake_urlopen)
    return calls




def test_secrets_round_trip_and_tampering_is_detected():
    token = crypto.encrypt("https://hooks.slack.com/services/secret")
    assert "secret" not in token
    assert crypto.decrypt(token) == "https://hooks.slack.com/services/secret"
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(token[:-4] + "AAAA")


def test_key_rotation_keeps_old_secrets_readable(settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEY = old
    token = crypto.encrypt("s3cret")
    settings.FIELD_ENCRYPTION_KEY = f"{new},{old}"
    assert crypto.decrypt(token) == "s3cret"
    settings.FIELD_ENCRYPTION_KEY = new
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(token)


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.slack.com/services/x",  # not https
        "https://hooks.slack.com.evil.example/services/x",
        "https://127.0.0.1/services/x",
        "https://user:pass@hooks.slack.com/services/x",
        "https://hooks.slack.com:8443/services/x",
        "https://example.webhook.office.com/x",  # a Teams host for the Slack slot
    ],
)
def test_only_the_chat_services_own_https_hosts_are_accepted(org_a, alice_membership, url):
    with pytest.raises(ServiceError) as refused:
        chat_webhook_set(organization=org_a, actor_membership=alice_membership, kind="slack", url=url)
    assert refused.value.code == "invalid_webhook_url"
    assert not ChatWebhook.objects.for_organization(org_a).exists()


def test_the_url_is_stored_encrypted_and_only_admins_set_it(org_a, alice_membership, carol_membership):
    with pytest.raises(NotAllowed):
        chat_webhook_set(organization=org_a, actor_membership=carol_membership, kind="slack", url=SLACK_URL)
    webhook = chat_webhook_set(organization=org_a, actor_membership=alice_membership, kind="slack", url=SLACK_URL)

    assert "XXXXXXXX" not in webhook.url_encrypted
    assert crypto.decrypt(webhook.url_encrypted) == SLACK_URL
    assert webhook.url_hint == "hooks.slack.com/…XXXX"
    chat_webhook_set(organization=org_a, actor_membership=alice_membership, kind="slack", url="")
    assert not ChatWebhook.objects.for_organization(org_a).exists()


def test_an_escalation_is_posted_once_to_the_chat(org_a, alice_membership, bob_membership, carol_membership, posted, eager_celery, django_capture_on_commit_callbacks):
    chat_webhook_set(organization=org_a, actor_membership=alice_membership, kind="slack", url=SLACK_URL)
    with django_capture_on_commit_callbacks(execute=True):
        incident = incident_services.incident_open(organization=org_a, actor_membership=bob_membership, title="Checkout down", severity=2)
    with django_capture_on_commit_callbacks(execute=True):
        incident_services.incident_change_severity(incident=incident, actor_membership=carol_membership, severity=1)
    with django_capture_on_commit_callbacks(execute=True):
        incident_services.incident_change_severity(incident=incident, actor_membership=carol_membership, severity=2)
    with django_capture_on_commit_callbacks(execute=True):
        incident_services.incident_change_severity(incident=incident, actor_membership=carol_membership, severity=1)

    texts = [call["body"]["text"] for call in posted]
    assert [text.splitlines()[0] for text in texts] == ["Severity 2: Checkout down", "Severity 1: Checkout down"]
    assert all(call["url"] == SLACK_URL and call["timeout"] == 10 for call in posted)
    assert texts[0].endswith(f"/o/acme/incidents/{incident.pk}/")
    assert ChatWebhook.objects.for_organization(org_a).get().last_success_at is not None


@pytest.mark.parametrize(("status", "retried"), [(500, True), (429, True), (404, False), (403, False)])
def test_transient_failures_retry_and_permanent_ones_are_recorded(org_a, alice_membership, monkeypatch, status, retried):
    webhook = chat_webhook_set(organization=org_a, actor_membership=alice_membership, kind="slack", url=SLACK_URL)

    def failing(request, timeout):
        raise urllib.error.HTTPError(request.full_url, status, "nope", {}, None)

    monkeypatch.setattr("urllib.request.urlopen", failing)
    if retried:
        with pytest.raises(ChatDeliveryError):
            post_to_chat.run(webhook.pk, "hello", "https://x")
    else:
        post_to_chat.run(webhook.pk, "hello", "https://x")
    webhook.refresh_from_db()
    assert webhook.last_error == f"HTTP {status} from Slack"


def test_a_switched_off_integration_posts_nothing(org_a, alice_membership, posted, settings):
    webhook = chat_webhook_set(organization=org_a, actor_membership=alice_membership, kind="slack", url=SLACK_URL)
    settings.INTEGRATIONS = {**settings.INTEGRATIONS, "slack": False}
    post_to_chat.run(webhook.pk, "hello", "https://x")
    assert posted == []


def test_the_settings_page_sets_the_webhook_for_admins_only(org_a, alice, carol, carol_membership, alice_membership, login_client):
    assert login_client(carol).post("/o/acme/settings/chat/", {"kind": "slack", "url": SLACK_URL}).status_code == 403
    response = login_client(alice).post("/o/acme/settings/chat/", {"kind": "slack", "url": SLACK_URL})
    assert response.status_code == 302
    assert ChatWebhook.objects.for_organization(org_a).get().kind == "slack"
    page = login_client(alice).get("/o/acme/settings/").content.decode()
    assert "hooks.slack.com/…XXXX" in page and SLACK_URL not in page
