"""The scheduled posts' page (/o/<slug>/scheduled/) and the publishing policy form, plus the
scheduled-posts API where the page does not show it: the queue per channel, the crisis
pause and its banner, cancelling, and a manager's review after the crisis (refused while it
is still open)."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone

from playbooks import incident_services
from playbooks.models import IncidentStatus
from responses import reply_services, schedule_services, services
from responses.models import ScheduledPost, ScheduledPostStatus
from tests.factories import X_OAUTH1

pytestmark = pytest.mark.django_db

PAGE = "/o/acme/scheduled/"
ACME_API = "/api/v1/organizations/acme"


@pytest.fixture
def channels(org_a, alice_membership, bob_membership, carol_membership):
    """The X account (no access list: managers and up) and a Mastodon account bob may use."""
    x_channel = services.channel_create(organization=org_a, actor_membership=alice_membership, kind="x", name="@acme", config={"handle": "acme"},
                                        credentials=X_OAUTH1)
    mastodon = services.channel_create(organization=org_a, actor_membership=alice_membership, kind="mastodon", name="Acme on Mastodon",
                                       config={"instance_url": "https://mastodon.example"}, credentials={"access_token": "token"})
    services.channel_access_grant(channel=mastodon, actor_membership=alice_membership, user_id=bob_membership.user_id)
    return SimpleNamespace(x=x_channel, mastodon=mastodon)


def _post(org, membership, channel, text="New flavours on Monday", hours=24) -> ScheduledPost:
    return schedule_services.scheduled_post_create(organization=org, actor_membership=membership, channel_id=channel.pk, text=text,
                                                   scheduled_at=timezone.now() + timedelta(hours=hours))


def _crisis(org, membership, severity=1, title="Nuts in the granola"):
    return incident_services.incident_open(organization=org, actor_membership=membership, title=title, severity=severity)


def test_the_queue_is_shown_per_channel_to_every_member(org_a, channels, carol_membership, bob_membership, dave, login_client):
    _post(org_a, carol_membership, channels.x, "Granola on X")
    _post(org_a, bob_membership, channels.mastodon, "Granola on Mastodon")

    page = login_client(dave).get(PAGE).content.decode()

    assert page.index('id="queue-%d"' % channels.mastodon.pk) < page.index("Granola on Mastodon")
    assert page.index('id="queue-%d"' % channels.x.pk) < page.index("Granola on X")
    assert "by Carol" in page and "by Bob" in page
    # Read only for viewers.
    assert "Schedule a post" not in page and "/cancel/" not in page and "/resume/" not in page
    assert f'href="{PAGE}"' in page  # the nav link


def test_a_responder_schedules_a_post_without_javascript(org_a, channels, bob, login_client):
    browser = login_client(bob)
    form = browser.get(PAGE).content.decode()
    assert "csrfmiddlewaretoken" in form
    # bob may post only where he is on the access list; the X account is offered disabled, with why.
    assert f'<option value="{channels.x.pk}" disabled>' in form and "Only managers publish through @acme" in form
    assert f'<option value="{channels.mastodon.pk}">' in form

    response = browser.post(PAGE, {"channel": str(channels.mastodon.pk), "text": "Autumn recipes", "scheduled_at": "2031-10-01T09:00"}, follow=True)

    assert response.redirect_chain == [(PAGE, 302)]
    post = ScheduledPost.objects.for_organization(org_a).get()
    assert (post.text, post.status, post.channel_id, post.created_by_id) == ("Autumn recipes", ScheduledPostStatus.SCHEDULED, channels.mastodon.pk, bob.pk)
    assert post.scheduled_at.isoformat() == "2031-10-01T09:00:00+00:00"
    assert "Scheduled on Acme on Mastodon for 2031-10-01 09:00 UTC" in response.content.decode()


def test_an_incomplete_form_is_shown_again_with_its_errors(org_a, channels, bob, login_client):
    response = login_client(bob).post(PAGE, {"channel": str(channels.mastodon.pk), "text": "", "scheduled_at": "tomorrow"})

    assert response.status_code == 400
    assert response.content.decode().count('role="alert"') >= 2
    assert not ScheduledPost.objects.for_organization(org_a).exists()


def test_a_post_scheduled_during_a_crisis_is_paused_at_once_and_the_page_says_so(org_a, channels, bob, carol_membership, login_client):
    incident = _crisis(org_a, carol_membership, severity=1)

    response = login_client(bob).post(PAGE, {"channel": str(channels.mastodon.pk), "text": "20% off!", "scheduled_at": "2031-10-01T09:00"}, follow=True)

    post = ScheduledPost.objects.for_organization(org_a).get()
    assert (post.status, post.paused_for_id) == (ScheduledPostStatus.PAUSED, incident.pk)
    page = response.content.decode()
    assert "Scheduled, and paused at once" in page
    assert "Paused for a crisis." in page and "“Nuts in the granola”</a> (severity 1) is open" in page
    assert "Paused while incident “Nuts in the granola” (severity 1) is open" in page


def test_no_banner_for_an_incident_below_the_threshold(org_a, channels, carol_membership, dave, login_client):
    _crisis(org_a, carol_membership, severity=3, title="Typo on the website")
    _post(org_a, carol_membership, channels.x)

    page = login_client(dave).get(PAGE).content.decode()

    assert "Paused for a crisis." not in page
    assert "Scheduled" in page and "severity 2 or worse" in page


def test_resuming_is_refused_with_a_clear_message_while_the_crisis_is_open(org_a, channels, carol, carol_membership, login_client):
    _crisis(org_a, carol_membership, severity=2)
    post = _post(org_a, carol_membership, channels.x)
    browser = login_client(carol)
    assert "Resume after “Nuts in the granola” ends." in browser.get(PAGE).content.decode()

    response = browser.post(f"{PAGE}{post.pk}/resume/", follow=True)

    assert response.redirect_chain == [(PAGE, 302)]
    assert "Not resumed. Incident “Nuts in the granola” is still open: scheduled posts stay paused." in response.content.decode()
    post.refresh_from_db()
    assert post.status == ScheduledPostStatus.PAUSED


def test_after_the_crisis_a_manager_reviews_and_resumes_at_a_new_time(org_a, channels, carol, carol_membership, bob, login_client):
    incident = _crisis(org_a, carol_membership, severity=2)
    post = _post(org_a, carol_membership, channels.x, "20% off granola this weekend!")
    incident_services.incident_change_status(incident=incident, actor_membership=carol_membership, status=IncidentStatus.RESOLVED)
    schedule_services.scheduled_posts_tick()

    responder_page = login_client(bob).get(PAGE).content.decode()
    assert "1 post waits for review" in responder_page
    assert "The incident ended: review before it goes out" in responder_page and "“Nuts in the granola”" in responder_page
    assert "/resume/" not in responder_page  # managers review

    browser = login_client(carol)
    assert f'action="{PAGE}{post.pk}/resume/"' in browser.get(PAGE).content.decode()
    response = browser.post(f"{PAGE}{post.pk}/resume/", {"scheduled_at": "2031-10-02T08:30"}, follow=True)

    post.refresh_from_db()
    assert (post.status, post.scheduled_at.isoformat(), post.pause_reason) == (ScheduledPostStatus.SCHEDULED, "2031-10-02T08:30:00+00:00", "")
    assert "Reviewed and back in the queue" in response.content.decode()


def test_a_responder_cannot_resume(org_a, channels, carol_membership, bob, login_client):
    _crisis(org_a, carol_membership)
    post = _post(org_a, carol_membership, channels.x)

    assert login_client(bob).post(f"{PAGE}{post.pk}/resume/").status_code == 403
    post.refresh_from_db()
    assert post.status == ScheduledPostStatus.PAUSED


def test_a_responder_cancels_a_post(org_a, channels, carol_membership, bob, login_client):
    post = _post(org_a, carol_membership, channels.x)

    response = login_client(bob).post(f"{PAGE}{post.pk}/cancel/", follow=True)

    post.refresh_from_db()
    assert post.status == ScheduledPostStatus.CANCELLED
    assert "will not go out" in response.content.decode()
    assert "New flavours on Monday" not in login_client(bob).get(PAGE).content.decode()  # the default view shows what waits
    assert "New flavours on Monday" in login_client(bob).get(PAGE, {"status": "cancelled"}).content.decode()


def test_an_outsider_gets_404_and_changes_nothing(org_a, channels, carol_membership, charlie, login_client):
    post = _post(org_a, carol_membership, channels.x)
    browser = login_client(charlie)

    assert browser.get(PAGE).status_code == 404
    assert browser.post(f"{PAGE}{post.pk}/cancel/").status_code == 404
    assert browser.post(f"/o/bravo/scheduled/{post.pk}/cancel/").status_code == 404
    assert browser.post(f"/o/bravo/scheduled/{post.pk}/resume/").status_code == 404
    post.refresh_from_db()
    assert post.status == ScheduledPostStatus.SCHEDULED


def test_post_text_is_inert_on_the_page(org_a, channels, carol_membership, dave, login_client):
    _post(org_a, carol_membership, channels.x, '<script>alert("x")</script>')

    page = login_client(dave).get(PAGE).content.decode()

    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page and '<script>alert("x")' not in page


# --- the publishing policy on the publishing page ---------------------------------------------
def test_an_admin_sets_the_pause_threshold_and_the_reply_limit(org_a, erin, login_client):
    browser = login_client(erin)
    page = browser.get("/o/acme/publishing/").content.decode()
    assert 'name="pause_scheduled_at_severity"' in page and 'name="replies_per_author"' in page

    response = browser.post("/o/acme/publishing/policy/", {"pause_scheduled_at_severity": "3", "replies_per_author": "5"}, follow=True)

    current = reply_services.publishing_policy(org_a.pk)
    assert (current.pause_scheduled_at_severity, current.replies_per_author, current.updated_by) == (3, 5, erin)
    assert "Policy saved" in response.content.decode()


@pytest.mark.parametrize("data", [{"pause_scheduled_at_severity": "5", "replies_per_author": "2"}, {"pause_scheduled_at_severity": "2", "replies_per_author": "50"}])
def test_an_out_of_range_policy_is_refused_with_a_message(org_a, erin, login_client, data):
    response = login_client(erin).post("/o/acme/publishing/policy/", data, follow=True)

    assert "Not saved." in response.content.decode()
    current = reply_services.publishing_policy(org_a.pk)
    assert (current.pause_scheduled_at_severity, current.replies_per_author) == (2, 2)


# --- the API beside the page ------------------------------------------------------------------
def test_the_api_shows_why_a_post_is_paused_and_filters_by_status(org_a, channels, carol_membership, dave, api_client_for):
    incident = _crisis(org_a, carol_membership, severity=1)
    paused = _post(org_a, carol_membership, channels.x, "Promo")

    body = api_client_for(dave).get(f"{ACME_API}/scheduled-posts/", {"status": "paused"}).json()

    assert [row["id"] for row in body["results"]] == [paused.pk]
    row = body["results"][0]
    assert row["pause_reason"] == "Paused while incident “Nuts in the granola” (severity 1) is open"
    assert row["paused_for"] == {"id": incident.pk, "title": "Nuts in the granola", "severity": 1, "status": incident.status}
    assert row["created_by"] == "Carol" and row["channel_name"] == "@acme"
    assert api_client_for(dave).get(f"{ACME_API}/scheduled-posts/", {"status": "sent"}).json()["count"] == 0
    assert api_client_for(dave).get(f"{ACME_API}/scheduled-posts/", {"status": "nonsense"}).status_code == 400

    policy = api_client_for(dave).get(f"{ACME_API}/publishing/policy/").json()
    assert policy["pausing_incident"]["id"] == incident.pk and policy["replies_per_author"] == 2 and policy["updated_by"] is None


def test_the_api_refuses_a_time_without_its_zone_and_resuming_during_a_crisis(org_a, channels, carol_membership, carol, api_client_for):
    api = api_client_for(carol)

    naive = api.post(f"{ACME_API}/scheduled-posts/", {"channel_id": channels.x.pk, "text": "Promo", "scheduled_at": "2031-10-01T09:00:00"}, format="json")
    assert naive.status_code == 400 and list(naive.json()["error"]["fields"]) == ["scheduled_at"]

    _crisis(org_a, carol_membership)
    post = _post(org_a, carol_membership, channels.x)
    refused = api.post(f"{ACME_API}/scheduled-posts/{post.pk}/resume/", {}, format="json")
    assert (refused.status_code, refused.json()["error"]["code"]) == (400, "crisis_active")


def test_the_api_policy_patch_changes_only_what_is_sent(org_a, erin, api_client_for):
    response = api_client_for(erin).patch(f"{ACME_API}/publishing/policy/", {"replies_per_author": 4}, format="json")

    assert response.status_code == 200
    assert (response.json()["pause_scheduled_at_severity"], response.json()["replies_per_author"], response.json()["updated_by"]) == (2, 4, "Erin")
    bad = api_client_for(erin).patch(f"{ACME_API}/publishing/policy/", {"pause_scheduled_at_severity": 0}, format="json")
    assert bad.status_code == 400 and list(bad.json()["error"]["fields"]) == ["pause_scheduled_at_severity"]
