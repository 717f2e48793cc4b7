"""From spike to incident: the alert (on-call roles notified once per surge, snoozable), the
playbook a spike suggests, the one-click incident, attaching to a running one, playbooks that
open incidents automatically, and the incident timeline. (Detection: tests/test_spikes.py.)"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from crisiscenter.errors import Conflict, NotAllowed, ServiceError
from crisiscenter.models import Role
from monitoring import services, spike_alerts
from monitoring.models import Mention, Spike, SpikeStatus, Watch
from playbooks import incident_services
from playbooks import services as playbook_services
from playbooks.models import ChatKind, ChatWebhook, Incident, Notification, Platform, TimelineKind
from tests.test_spikes import hours_ago, monitored, replay  # noqa: F401  (monitored is a fixture)

pytestmark = pytest.mark.django_db


def _document(name: str, *, category: str = "product_recall", severity: int = 2, **triggers) -> dict:
    return {"format": "crisiscenter.playbook/v1", "name": name, "category": category, "default_severity": severity, "triggers": triggers}


@pytest.fixture
def playbooks(org_a, erin_membership):
    """Three plans: one whose queries describe the surge, one about something else, one whose
    thresholds the surge does not reach."""
    create = lambda document: playbook_services.playbook_create(organization=org_a, actor_membership=erin_membership, document=document)  # noqa: E731
    return {
        "recall": create(_document("Product recall", severity=2, watch_queries=["recall OR salmonella"], ratio_to_baseline=2)),
        "offensive": create(_document("Offensive post", category="offensive_post", severity=1, watch_queries=["offensive OR disgusting"])),
        "huge": create(_document("Huge outage", category="service_outage", severity=1, min_mentions_per_minute=5000)),
    }


def _surge(source) -> Spike:
    replay(source, minutes=170, rate_at=lambda minute: 3 if minute < 140 else 20, start=hours_ago(4))
    return Spike.objects.for_organization(source.organization).get()


def test_the_spike_suggests_the_playbook_whose_triggers_it_meets(monitored, playbooks):
    spike = _surge(monitored[0])

    assert spike.suggested_playbook == playbooks["recall"]
    assert spike.suggested_severity == 2
    _playbook, figures = spike_alerts.matching_playbook(spike=spike, texts=["Acme granola recall", "Acme is fine"])
    assert figures["query_share"] == 0.5


def test_no_playbook_is_suggested_when_none_has_its_triggers_met(monitored, org_a, erin_membership):
    playbook_services.playbook_create(organization=org_a, actor_membership=erin_membership, document=_document("Offensive", watch_queries=["offensive"]))
    playbook_services.playbook_create(organization=org_a, actor_membership=erin_membership, document=_document("No triggers"))

    spike = _surge(monitored[0])

    assert spike.suggested_playbook is None
    assert spike_alerts.needs_action(spike)


def test_one_click_opens_the_incident_from_the_suggested_playbook_with_the_spike_attached(monitored, playbooks, bob_membership, sent_events, django_capture_on_commit_callbacks):
    spike = _surge(monitored[0])
    first_posts = spike.explanation["first_posts"]

    with django_capture_on_commit_callbacks(execute=True):
        incident = spike_alerts.spike_open_incident(spike=spike, actor_membership=bob_membership)

    assert incident.playbook == playbooks["recall"] and incident.severity == 2
    assert incident.detected_at == spike.detected_at  # the clock runs from detection, not from the click
    assert incident.opened_by == bob_membership.user
    assert "Acme" in incident.title and "#acmerecall" in incident.title
    assert "mentions in 30 minutes" in incident.what_happened
    spike.refresh_from_db()
    assert spike.incident == incident and not spike_alerts.needs_action(spike)
    attached = set(Mention.objects.for_organization(incident.organization).filter(incident=incident).values_list("pk", flat=True))
    assert attached == {post["id"] for post in first_posts}
    entry = incident.timeline.get(kind=TimelineKind.SPIKE)
    assert entry.data["spike_id"] == spike.pk and entry.occurred_at == spike.detected_at
    updated = [event for _group, event in sent_events if event["type"] == "spike.updated"]
    assert updated[-1]["data"]["incident_id"] == incident.pk

    with pytest.raises(Conflict) as second_click:
        spike_alerts.spike_open_incident(spike=spike, actor_membership=bob_membership)
    assert second_click.value.details == {"incident_id": incident.pk}
    assert Incident.objects.for_organization(incident.organization).count() == 1


def test_the_origin_platform_comes_from_the_first_post():
    assert spike_alerts._platform({"source": "x", "url": ""}) == Platform.X
    assert spike_alerts._platform({"source": "webhook", "url": "https://twitter.com/someone/status/1"}) == Platform.X
    assert spike_alerts._platform({"source": "drill", "url": "https://www.reddit.com/r/a/comments/1"}) == Platform.REDDIT
    assert spike_alerts._platform({"source": "webhook", "url": "javascript:alert(1)"}) == Platform.OTHER
    assert spike_alerts._http_url("javascript:alert(1)") == ""


def test_a_chosen_playbook_and_severity_win_over_the_suggestion(monitored, playbooks, bob_membership):
    spike = _surge(monitored[0])

    incident = spike_alerts.spike_open_incident(spike=spike, actor_membership=bob_membership, playbook_id=playbooks["offensive"].pk, severity=3, title="Granola")

    assert (incident.playbook, incident.severity, incident.title) == (playbooks["offensive"], 3, "Granola")


def test_a_playbook_of_another_organisation_cannot_be_chosen(monitored, playbooks, bob_membership, org_b, charlie_membership):
    foreign = playbook_services.playbook_create(organization=org_b, actor_membership=charlie_membership, document=_document("Theirs"))
    spike = _surge(monitored[0])

    with pytest.raises(ServiceError):
        spike_alerts.spike_open_incident(spike=spike, actor_membership=bob_membership, playbook_id=foreign.pk)


def test_viewers_and_outsiders_cannot_act_on_an_alert(monitored, dave_membership, charlie_membership):
    spike = _surge(monitored[0])

    for membership in (dave_membership, charlie_membership):
        for act in (
            lambda: spike_alerts.spike_open_incident(spike=spike, actor_membership=membership),
            lambda: spike_alerts.spike_snooze(spike=spike, actor_membership=membership, minutes=60),
            lambda: spike_alerts.spike_dismiss(spike=spike, actor_membership=membership),
        ):
            with pytest.raises(NotAllowed):
                act()


def test_attaching_to_a_running_incident_puts_the_spike_on_its_timeline(monitored, bob_membership, org_a):
    running = incident_services.incident_open(organization=org_a, actor_membership=bob_membership, title="Granola complaints", severity=3)
    spike = _surge(monitored[0])

    spike_alerts.spike_attach(spike=spike, actor_membership=bob_membership, incident_id=running.pk)

    spike.refresh_from_db()
    assert spike.incident == running
    assert "attached by" in running.timeline.get(kind=TimelineKind.SPIKE).text


def test_a_closed_or_foreign_incident_cannot_take_the_spike(monitored, bob_membership, carol_membership, org_a, org_b, charlie_membership):
    closed = incident_services.incident_open(organization=org_a, actor_membership=bob_membership, title="Old", severity=3)
    incident_services.incident_change_status(incident=closed, actor_membership=carol_membership, status="resolved")
    foreign = incident_services.incident_open(organization=org_b, actor_membership=charlie_membership, title="Theirs", severity=3)
    spike = _surge(monitored[0])

    for incident in (closed, foreign):
        with pytest.raises(ServiceError):
            spike_alerts.spike_attach(spike=spike, actor_membership=bob_membership, incident_id=incident.pk)


def test_the_on_call_roles_hear_of_a_spike_once(monitored, org_a, alice_membership, bob_membership, carol_membership, dave_membership):
    ChatWebhook.unscoped.create(organization=org_a, kind=ChatKind.SLACK, url_encrypted="x", url_hint="hooks.slack.com/…abcd")
    spike = _surge(monitored[0])

    notified = Notification.objects.for_organization(org_a).filter(kind="spike")
    # owner, admin (erin, who made the watch) and manager are on call by default; responders and viewers are not
    assert sorted(notified.values_list("recipient__username", flat=True)) == ["alice", "carol", "erin"]
    assert notified.first().text.startswith("Spike on “Acme”") and notified.first().dedupe_key == f"spike:{spike.pk}"
    assert spike.alerted_at is not None

    spike_alerts.raise_alert(spike)  # a retried detection run

    assert notified.count() == 3


def test_the_organisation_chooses_its_on_call_roles(monitored, org_a, alice_membership, bob_membership):
    org_a.on_call_roles = ["responder"]
    org_a.save()

    _surge(monitored[0])

    assert list(Notification.objects.for_organization(org_a).filter(kind="spike").values_list("recipient__username", flat=True)) == ["bob"]


def test_a_second_watch_spiking_on_the_same_surge_is_shown_but_not_notified_again(monitored, org_a, erin_membership, alice_membership):
    source, _watch = monitored
    services.watch_save(organization=org_a, actor_membership=erin_membership, name="Granola", query="granola")

    replay(source, minutes=170, rate_at=lambda minute: 3 if minute < 140 else 20, start=hours_ago(4))

    spikes = Spike.objects.for_organization(org_a)
    assert spikes.count() == 2 and all(spike_alerts.needs_action(spike) for spike in spikes)  # both on the screens
    assert spikes.filter(alerted_at__isnull=False).count() == 1
    assert Notification.objects.for_organization(org_a).filter(kind="spike", recipient=alice_membership.user).count() == 1


def test_a_snoozed_or_handled_alert_does_not_silence_the_next_surge(monitored, org_a, bob_membership, alice_membership):
    spike = _surge(monitored[0])
    spike_alerts.spike_snooze(spike=spike, actor_membership=bob_membership, minutes=15)
    other = Watch.unscoped.create(organization=org_a, name="CEO", query="ceo")
    now = timezone.now()
    second = Spike.unscoped.create(
        organization=org_a, watch=other, started_at=now, detected_at=now, peak_at=now, window_minutes=30, peak_count=90, window_count=90, baseline=1, expected=30,
    )

    spike_alerts.raise_alert(second)

    assert Notification.objects.for_organization(org_a).filter(kind="spike", recipient=alice_membership.user).count() == 2


def test_a_snoozed_alert_is_hidden_and_the_watch_stays_quiet_until_the_snooze_ends(monitored, org_a, bob_membership, alice_membership):
    source, watch = monitored
    spike = _surge(source)

    spike_alerts.spike_snooze(spike=spike, actor_membership=bob_membership, minutes=60)

    spike.refresh_from_db()
    assert not spike_alerts.needs_action(spike)
    assert spike_alerts.needs_action(spike, now=timezone.now() + timedelta(minutes=61))  # it comes back
    watch.refresh_from_db()
    assert watch.alerts_snoozed_until == spike.snoozed_until
    with pytest.raises(ServiceError):
        spike_alerts.spike_snooze(spike=spike, actor_membership=bob_membership, minutes=7)
    # A shorter snooze of another alert of the watch does not cut the longer one short.
    until = watch.alerts_snoozed_until
    Spike.unscoped.filter(pk=spike.pk).update(snoozed_until=None)
    spike_alerts.spike_snooze(spike=spike, actor_membership=bob_membership, minutes=15)
    watch.refresh_from_db()
    assert watch.alerts_snoozed_until == until

    # The next spike of the snoozed watch is recorded and shown, but nobody is told.
    Spike.unscoped.filter(pk=spike.pk).update(status=SpikeStatus.CLOSED, ended_at=timezone.now())
    second = Spike.unscoped.create(
        organization=org_a, watch=watch, started_at=timezone.now(), detected_at=timezone.now(), peak_at=timezone.now(),
        window_minutes=30, peak_count=90, window_count=90, baseline=1, expected=30,
    )
    Notification.unscoped.filter(organization=org_a).delete()
    spike_alerts.raise_alert(second)
    assert spike_alerts.needs_action(second) and second.alerted_at is None
    assert not Notification.objects.for_organization(org_a).exists()


def test_not_a_crisis_dismisses_the_alert_for_everyone(monitored, bob_membership):
    spike = _surge(monitored[0])

    spike_alerts.spike_dismiss(spike=spike, actor_membership=bob_membership)

    spike.refresh_from_db()
    assert spike.dismissed_at is not None and spike.handled_by == bob_membership.user and not spike_alerts.needs_action(spike)


def test_a_playbook_that_asks_for_it_opens_the_incident_automatically(monitored, org_a, erin_membership, alice_membership):
    playbook = playbook_services.playbook_create(
        organization=org_a, actor_membership=erin_membership,
        document=_document("Recall, automatic", severity=1, watch_queries=["recall"], open_automatically=True),
    )

    spike = _surge(monitored[0])

    incident = spike.incident
    assert incident is not None and incident.playbook == playbook and incident.severity == 1 and incident.opened_by is None
    assert "automatically" in incident.timeline.get(kind="opened").text
    # The escalation of the new incident told people; the spike itself is not notified twice.
    assert not Notification.objects.for_organization(org_a).filter(kind="spike").exists()


def test_an_automatic_playbook_attaches_a_new_spike_to_its_running_incident(monitored, org_a, erin_membership):
    source, _watch = monitored
    playbook = playbook_services.playbook_create(
        organization=org_a, actor_membership=erin_membership, document=_document("Recall, automatic", watch_queries=["recall"], open_automatically=True),
    )
    services.watch_save(organization=org_a, actor_membership=erin_membership, name="Granola", query="granola")

    replay(source, minutes=170, rate_at=lambda minute: 3 if minute < 140 else 20, start=hours_ago(4))

    spikes = list(Spike.objects.for_organization(org_a))
    assert len(spikes) == 2 and spikes[0].incident_id == spikes[1].incident_id is not None
    assert Incident.objects.for_organization(org_a).filter(playbook=playbook).count() == 1


def test_only_a_playbook_that_asks_for_it_lets_the_system_open_an_incident(org_a, erin_membership):
    manual = playbook_services.playbook_create(organization=org_a, actor_membership=erin_membership, document=_document("Manual", watch_queries=["recall"]))

    with pytest.raises(NotAllowed):
        incident_services.incident_open(organization=org_a, actor_membership=None, title="Sneaky", playbook=manual)
    with pytest.raises(NotAllowed):
        incident_services.incident_open(organization=org_a, actor_membership=None, title="Sneaky")


def test_the_incident_hears_when_its_spike_subsides(monitored, bob_membership):
    source, _watch = monitored
    start = hours_ago(6)
    replay(source, minutes=170, rate_at=lambda minute: 3 if minute < 140 else 20, start=start)
    spike = Spike.objects.for_organization(source.organization).get()
    incident = spike_alerts.spike_open_incident(spike=spike, actor_membership=bob_membership)

    replay(source, minutes=60, rate_at=lambda minute: 3, start=start + timedelta(minutes=170), seed=5)

    spike.refresh_from_db()
    assert spike.status == SpikeStatus.CLOSED
    assert "subsided" in incident.timeline.filter(kind=TimelineKind.SPIKE).last().text


def test_spike_actions_through_the_api(monitored, playbooks, client, bob, dave, org_a):
    spike = _surge(monitored[0])
    base = f"/api/v1/organizations/{org_a.slug}/spikes/{spike.pk}"

    client.force_login(dave)
    assert client.post(f"{base}/incident/", {}, content_type="application/json").status_code == 403
    client.force_login(bob)
    assert client.post(f"{base}/snooze/", {"minutes": "soon"}, content_type="application/json").status_code == 400
    assert client.post(f"{base}/snooze/", [1], content_type="application/json").status_code == 400
    assert client.post(f"{base}/attach/", {"incident_id": 999999}, content_type="application/json").status_code == 400
    opened = client.post(f"{base}/incident/", {"severity": 2}, content_type="application/json")
    assert opened.status_code == 201
    assert opened.json()["url"] == f"/o/{org_a.slug}/incidents/{opened.json()['incident_id']}/"
    again = client.post(f"{base}/incident/", {}, content_type="application/json")
    assert again.status_code == 409 and again.json()["error"]["code"] == "spike_has_incident"
    assert client.get(f"{base}/").json()["incident_id"] == opened.json()["incident_id"]


def test_a_watch_of_another_organisation_never_gets_a_suggestion_from_this_one(monitored, playbooks, org_b, charlie_membership):
    """Suggestions read the spike's own organisation's playbooks only."""
    source_b, _ = services.source_create(organization=org_b, actor_membership=charlie_membership, name="Theirs", kind="webhook")
    services.watch_save(organization=org_b, actor_membership=charlie_membership, name="Acme", query="acme")

    _surge(source_b)

    spike = Spike.objects.for_organization(org_b).get()
    assert spike.suggested_playbook is None
    assert not Watch.objects.for_organization(org_b).filter(organization=monitored[1].organization).exists()


def test_on_call_members_are_of_this_organisation_only(org_a, org_b, alice_membership, charlie_membership):
    assert spike_alerts.on_call_members(org_a) == [alice_membership.user]
    org_a.on_call_roles = ["owner", "no-such-role"]
    assert spike_alerts.on_call_members(org_a) == [alice_membership.user]
    assert Role.OWNER in org_b.on_call_roles


def test_admins_choose_the_on_call_roles_audited(org_a, erin_membership, bob_membership):
    from crisiscenter import services as tenancy_services
    from crisiscenter.models import AuditEntry

    tenancy_services.organization_set_on_call_roles(organization=org_a, actor_membership=erin_membership, roles=["responder", "owner", "owner"])

    assert org_a.on_call_roles == ["owner", "responder"]
    assert AuditEntry.objects.for_organization(org_a).get(action="organization.on_call_roles_set").after == {"on_call_roles": ["owner", "responder"]}
    with pytest.raises(NotAllowed):
        tenancy_services.organization_set_on_call_roles(organization=org_a, actor_membership=bob_membership, roles=["owner"])
    for roles in ([], ["root"]):
        with pytest.raises(ServiceError):
            tenancy_services.organization_set_on_call_roles(organization=org_a, actor_membership=erin_membership, roles=roles)


def test_a_decision_taken_while_detection_runs_is_never_written_back_over(monitored, bob_membership):
    """The detector writes only its own columns: an incident opened from the spike between its
    read and its save stays, and the spike is not offered for a second incident."""
    from monitoring import spike_services

    source, _watch = monitored
    start = hours_ago(6)
    replay(source, minutes=150, rate_at=lambda minute: 3 if minute < 140 else 20, start=start)
    spike = Spike.objects.for_organization(source.organization).get()
    stale = Spike.unscoped.get(pk=spike.pk)
    incident = spike_alerts.spike_open_incident(spike=spike, actor_membership=bob_membership)

    stale.peak_count += 100
    stale.save(update_fields=spike_services.DETECTOR_FIELDS)  # what _apply writes
    replay(source, minutes=20, rate_at=lambda minute: 30, start=start + timedelta(minutes=150), seed=3)

    spike.refresh_from_db()
    assert spike.incident == incident and not spike_alerts.needs_action(spike)


def test_a_first_post_with_a_malformed_link_opens_the_incident_without_it(monitored, bob_membership):
    spike = _surge(monitored[0])
    spike.explanation["first_posts"][0]["url"] = "https://example.com/a b"
    spike.save(update_fields=["explanation"])

    incident = spike_alerts.spike_open_incident(spike=spike, actor_membership=bob_membership)

    assert incident.origin_url == ""


def test_a_failing_automatic_open_still_alerts_and_detection_goes_on(monitored, org_a, erin_membership, alice_membership):
    from unittest import mock

    playbook_services.playbook_create(
        organization=org_a, actor_membership=erin_membership, document=_document("Recall, automatic", watch_queries=["recall"], open_automatically=True),
    )
    with mock.patch.object(spike_alerts, "incident_open", side_effect=ServiceError("boom")):
        spike = _surge(monitored[0])

    assert spike.incident is None and spike.alerted_at is not None
    assert Notification.objects.for_organization(org_a).filter(kind="spike", recipient=alice_membership.user).exists()
