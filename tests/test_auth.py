"""Login, logout, password change and reset, API tokens, and failed-login throttling."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from rest_framework.test import APIClient

from crisiscenter.models import AuditEntry

pytestmark = pytest.mark.django_db


def _login(browser: Client, username: str, password: str):
    return browser.post("/accounts/login/", {"username": username, "password": password})


def test_login_lands_on_the_members_last_organisation(alice, persona_password):
    browser = Client()
    response = _login(browser, "alice", persona_password)
    assert response.status_code == 302
    assert browser.get(response["Location"])["Location"] == "/o/acme/"


def test_a_user_without_organisation_is_sent_to_create_one(db, persona_password):
    from tests.factories import UserFactory

    UserFactory(username="newcomer")
    browser = Client()
    _login(browser, "newcomer", persona_password)
    assert browser.get("/")["Location"] == "/o/new/"


def test_wrong_password_shows_the_form_again(alice):
    response = _login(Client(), "alice", "wrong-password")
    assert response.status_code == 200
    assert b"didn&#x27;t match" in response.content or b"didn't match" in response.content


def test_five_failed_logins_lock_the_account_even_with_the_right_password(alice, persona_password, settings):
    browser = Client(REMOTE_ADDR="203.0.113.7")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(browser, "alice", "wrong-password")

    response = _login(browser, "alice", persona_password)

    assert response.status_code == 429
    assert b"Too many failed log-ins" in response.content
    assert "_auth_user_id" not in browser.session


def test_the_lockout_is_per_address_and_does_not_lock_alice_out_everywhere(alice, persona_password, settings):
    attacker = Client(REMOTE_ADDR="203.0.113.7")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(attacker, "alice", "wrong-password")

    response = _login(Client(REMOTE_ADDR="198.51.100.20"), "alice", persona_password)

    assert response.status_code == 302


def test_the_api_token_endpoint_is_throttled_too(alice, persona_password, settings):
    api = APIClient(REMOTE_ADDR="203.0.113.9")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        assert api.post("/api/v1/auth/token/", {"username": "alice", "password": "nope"}).status_code == 400
    response = api.post("/api/v1/auth/token/", {"username": "alice", "password": persona_password})
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "throttled"
    assert "token" not in response.json()


def test_api_token_authenticates_requests(alice, persona_password):
    api = APIClient()
    token = api.post("/api/v1/auth/token/", {"username": "alice", "password": persona_password}).json()["token"]

    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    response = api.get("/api/v1/me/")

    assert response.status_code == 200
    assert response.json()["memberships"][0]["organization"]["slug"] == "acme"


def test_replacing_the_api_token_revokes_the_old_one_and_is_audited(alice, api_client_for, login_client):
    old_api = api_client_for(alice)
    assert old_api.get("/api/v1/me/").status_code == 200

    response = login_client(alice).post("/account/")

    new_token = re.search(r'id="api-token">([0-9a-f]{40})<', response.content.decode()).group(1)
    assert old_api.get("/api/v1/me/").status_code == 401
    fresh = APIClient()
    fresh.credentials(HTTP_AUTHORIZATION=f"Token {new_token}")
    assert fresh.get("/api/v1/me/").status_code == 200
    assert AuditEntry.unscoped.filter(action="api_token.regenerated", actor=alice).count() == 1


def test_logout_needs_a_post_and_ends_the_session(alice, login_client):
    browser = login_client(alice)
    assert browser.get("/accounts/logout/").status_code == 405
    assert browser.post("/accounts/logout/").status_code == 302
    assert browser.get("/o/acme/").status_code == 302


def test_password_change_keeps_the_user_logged_in_with_the_new_password(alice, persona_password, login_client):
    browser = login_client(alice)
    response = browser.post(
        "/accounts/password_change/",
        {"old_password": persona_password, "new_password1": "a-much-newer-passphrase", "new_password2": "a-much-newer-passphrase"},
    )
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.check_password("a-much-newer-passphrase")


def test_password_reset_mails_a_link_that_sets_a_new_password(alice, mailoutbox):
    browser = Client()
    assert browser.post("/accounts/password_reset/", {"email": alice.email}).status_code == 302
    assert len(mailoutbox) == 1
    link = re.search(r"https?://[^/]+(/accounts/reset/\S+/)", mailoutbox[0].body).group(1)

    form = browser.get(link, follow=True)
    response = browser.post(form.redirect_chain[-1][0], {"new_password1": "reset-to-this-phrase", "new_password2": "reset-to-this-phrase"})

    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.check_password("reset-to-this-phrase")


def test_password_reset_does_not_reveal_whether_an_address_has_an_account(db, mailoutbox):
    response = Client().post("/accounts/password_reset/", {"email": "nobody@example.com"})
    assert response.status_code == 302
    assert mailoutbox == []
