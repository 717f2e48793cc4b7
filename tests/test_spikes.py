"""Spikes from stored volume: the detector runs on the pipeline's counters after batches
land, records one Spike per surge with its explanation, and announces it after the commit
to the organisation's group only. (The detector itself: tests/test_spike_detector.py.)"""

from __future__ import annotations

import random
from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from monitoring import pipeline, services, spike_services, tasks
from monitoring.models import Spike, SpikeStatus, WatchDetector
from monitoring.spike_services import surging_terms

pytestmark = pytest.mark.django_db

CALM = ["Ordering the Acme granola again, love it", "Acme granola for breakfast", "Is the Acme shop open on Sunday?", "Acme bars are fine"]
SURGE = [
    "Acme granola recall: my kid got sick #acmerecall",
    "Salmonella in Acme granola?? #acmerecall",
    "Acme recall, what do I do with the bars I bought #acmerecall",
    "Heard Acme granola has salmonella, is this true",
]


@pytest.fixture
def monitored(org_a, erin_membership):
    source, _secret = services.source_create(organization=org_a, actor_membership=erin_membership, name="Listening tool", kind="webhook")
    watch = services.watch_save(organization=org_a, actor_membership=erin_membership, name="Acme", query="acme")
    return source, watch


def hours_ago(hours: int):
    """A whole minute, so the simulated minutes are the counters' minutes."""
    return (timezone.now() - timedelta(hours=hours)).replace(second=0, microsecond=0)


def replay(source, *, minutes: int, rate_at, start, batch_minutes: int = 5, seed: int = 11):
    """Post ``rate_at(minute)`` mentions a minute from ``start`` on, ingesting ``batch_minutes``
    minutes as one batch and evaluating the detectors after each, as the pipeline does."""
    rng = random.Random(seed)
    changed = []
    for first in range(0, minutes, batch_minutes):
        drafts = []
        for minute in range(first, min(first + batch_minutes, minutes)):
            at = start + timedelta(minutes=minute)
            surging = rate_at(minute) > 10
            drafts += [
                {
                    "external_id": f"{minute}-{number}",
                    "text": rng.choice(SURGE if surging else CALM),
                    "posted_at": (at + timedelta(seconds=number)).isoformat(),
                    "author_handle": f"person{rng.randrange(400)}",
                    "author_followers": 90_000 if surging and number == 0 else rng.randrange(500),
                    "language": "en",
                }
                for number in range(rate_at(minute))
            ]
        pipeline.ingest(source=source, drafts=drafts)
        changed += spike_services.spikes_detect(organization_id=source.organization_id, now=at)
    return changed


def test_a_surge_opens_one_spike_that_explains_itself_and_is_announced_after_the_commit(monitored, sent_events, django_capture_on_commit_callbacks):
    source, watch = monitored
    start = hours_ago(4)

    with django_capture_on_commit_callbacks(execute=True):
        replay(source, minutes=170, rate_at=lambda minute: 3 if minute < 140 else 20, start=start)

    spike = Spike.objects.for_organization(source.organization).get()
    assert spike.watch == watch and spike.status == SpikeStatus.OPEN
    assert start + timedelta(minutes=139) <= spike.started_at <= spike.detected_at <= start + timedelta(minutes=160)
    assert spike.magnitude >= 2 and spike.baseline == pytest.approx(3, rel=0.3)
    explained = spike.explanation
    terms = {item["term"]: item for item in explained["terms"]}
    assert "#acmerecall" in terms and terms["#acmerecall"]["lift"] is None  # new: never seen before the surge
    assert "salmonella" in terms and "recall" in terms
    assert "granola" not in terms  # as common before as during
    assert explained["first_posts"][0]["posted_at"] >= spike.started_at.isoformat()
    assert explained["amplifiers"][0]["reach"] >= 90_000
    assert explained["sentiment"]["before"]["mentions"] > 0
    opened = [event for group, event in sent_events if event["type"] == "spike.opened"]
    assert len(opened) == 1 and opened[0]["data"]["id"] == spike.pk
    assert {group for group, event in sent_events if event["type"].startswith("spike.")} == {f"org-{source.organization_id}"}


def test_the_surge_grows_one_spike_and_closes_it_when_volume_returns(monitored, sent_events, django_capture_on_commit_callbacks):
    source, _watch = monitored
    start = hours_ago(6)

    with django_capture_on_commit_callbacks(execute=True):
        replay(source, minutes=300, rate_at=lambda minute: 20 if 140 <= minute < 190 else 3, start=start)

    spike = Spike.objects.for_organization(source.organization).get()
    assert spike.status == SpikeStatus.CLOSED and spike.ended_at > spike.peak_at > spike.detected_at
    kinds = [event["type"] for _group, event in sent_events if event["type"].startswith("spike.")]
    assert kinds[0] == "spike.opened" and kinds[-1] == "spike.closed" and kinds.count("spike.opened") == 1
    assert "spike.updated" in kinds


def test_a_spike_on_a_watch_gone_silent_closes_by_the_clock(monitored):
    source, _watch = monitored
    start = hours_ago(4)
    replay(source, minutes=160, rate_at=lambda minute: 3 if minute < 140 else 20, start=start)
    assert Spike.objects.for_organization(source.organization).get().status == SpikeStatus.OPEN

    for minutes_later in range(0, 121, 10):  # nothing arrives any more
        spike_services.spikes_detect(organization_id=source.organization_id, now=start + timedelta(minutes=160 + minutes_later))

    assert Spike.objects.for_organization(source.organization).get().status == SpikeStatus.CLOSED


def test_replayed_duplicates_are_no_surge(monitored):
    source, _watch = monitored
    start = hours_ago(4)
    replay(source, minutes=150, rate_at=lambda minute: 3, start=start)

    # Every batch delivered again, many times over: nothing new is stored, nothing surges.
    for _ in range(5):
        replay(source, minutes=150, rate_at=lambda minute: 3, start=start, batch_minutes=30)

    assert not Spike.objects.for_organization(source.organization).exists()


def test_detection_is_per_organisation(monitored, org_b, charlie_membership):
    source, _watch = monitored
    other_source, _secret = services.source_create(organization=org_b, actor_membership=charlie_membership, name="Theirs", kind="webhook")
    services.watch_save(organization=org_b, actor_membership=charlie_membership, name="Acme too", query="acme")
    start = hours_ago(4)
    replay(source, minutes=160, rate_at=lambda minute: 3 if minute < 140 else 20, start=start)

    spike_services.spikes_detect(organization_id=org_b.pk)

    assert Spike.objects.for_organization(org_b).count() == 0
    assert Spike.objects.for_organization(source.organization).count() == 1
    # org B's detector saw only its own (empty) counters
    assert WatchDetector.objects.for_organization(org_b).filter(watch__organization=source.organization).count() == 0


def test_batches_landing_together_share_one_evaluation():
    with mock.patch.object(tasks.detect_spikes, "apply_async") as queued:
        for _ in range(5):
            tasks.schedule_spike_detection(41)
        tasks.schedule_spike_detection(42)

    assert [call.kwargs["args"] for call in queued.call_args_list] == [[41], [42]]


def test_the_evaluation_clears_its_mark_so_later_batches_schedule_the_next(org_a):
    with mock.patch.object(tasks.detect_spikes, "apply_async") as queued:
        tasks.schedule_spike_detection(org_a.pk)
        tasks.detect_spikes(org_a.pk)
        tasks.schedule_spike_detection(org_a.pk)

    assert queued.call_count == 2


def test_a_stored_batch_schedules_detection_after_its_commit(monitored, django_capture_on_commit_callbacks):
    source, _watch = monitored
    with mock.patch.object(tasks, "schedule_spike_detection") as schedule:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            pipeline.ingest(source=source, drafts=[{"external_id": "1", "text": "Acme", "posted_at": timezone.now().isoformat()}])
        assert schedule.call_count == 0
        for callback in callbacks:
            callback()

    schedule.assert_called_once_with(source.organization_id)


def test_surging_terms_name_new_and_grown_words_and_skip_the_usual_ones():
    before = ["the granola is nice"] * 40 + ["granola recall rumour"] * 2
    during = ["granola recall now"] * 20 + ["#salmonella in granola"] * 10

    terms = {item["term"]: item for item in surging_terms(during, before)}

    assert terms["#salmonella"]["lift"] is None
    assert terms["recall"]["lift"] > 2
    assert "granola" not in terms and "the" not in terms and "now" in terms


# --- the API ----------------------------------------------------------------------------------
@pytest.fixture
def detected(monitored):
    source, _watch = monitored
    replay(source, minutes=160, rate_at=lambda minute: 3 if minute < 140 else 20, start=hours_ago(4))
    return Spike.objects.for_organization(source.organization).get()


def test_members_list_spikes_as_the_live_events_describe_them(detected, dave, api_client_for):
    api = api_client_for(dave)

    listed = api.get("/api/v1/organizations/acme/spikes/", {"status": "open"})
    one = api.get(f"/api/v1/organizations/acme/spikes/{detected.pk}/")

    assert listed.status_code == 200 and [spike["id"] for spike in listed.json()] == [detected.pk]
    assert one.status_code == 200
    assert one.json()["explanation"]["terms"] and one.json()["magnitude"] >= 2
    assert set(one.json()) == set(spike_services.spike_data(detected))
    assert api.get("/api/v1/organizations/acme/spikes/", {"status": "closed"}).json() == []


def test_an_unknown_status_is_a_400_naming_the_field(detected, dave, api_client_for):
    response = api_client_for(dave).get("/api/v1/organizations/acme/spikes/", {"status": "exploding"})

    assert response.status_code == 400 and "status" in response.json()["error"]["fields"]


def test_an_outsider_never_sees_another_organisations_spike(detected, charlie, api_client_for):
    api = api_client_for(charlie)

    assert api.get(f"/api/v1/organizations/bravo/spikes/{detected.pk}/").status_code == 404
    assert api.get("/api/v1/organizations/bravo/spikes/").json() == []
    assert api.get(f"/api/v1/organizations/acme/spikes/{detected.pk}/").status_code == 404


def test_spikes_filter_by_watch_and_refuse_a_watch_that_is_not_a_number(detected, dave, api_client_for):
    api = api_client_for(dave)

    assert [spike["id"] for spike in api.get("/api/v1/organizations/acme/spikes/", {"watch": detected.watch_id}).json()] == [detected.pk]
    assert api.get("/api/v1/organizations/acme/spikes/", {"watch": detected.watch_id + 1000}).json() == []
    assert api.get("/api/v1/organizations/acme/spikes/", {"watch": "x"}).status_code == 400


def test_an_admin_sets_a_watchs_spike_sensitivity_and_it_is_audited(monitored, erin, api_client_for):
    from crisiscenter.models import AuditEntry

    _source, watch = monitored
    api = api_client_for(erin)

    changed = api.put(f"/api/v1/organizations/acme/watches/{watch.pk}/", {"name": "Acme", "query": "acme", "spike_sensitivity": "high"}, format="json")
    refused = api.put(f"/api/v1/organizations/acme/watches/{watch.pk}/", {"name": "Acme", "query": "acme", "spike_sensitivity": "jumpy"}, format="json")

    assert changed.status_code == 200 and changed.json()["spike_sensitivity"] == "high"
    assert refused.status_code == 400 and "spike_sensitivity" in refused.json()["error"]["fields"]
    watch.refresh_from_db()
    assert watch.spike_sensitivity == "high"
    entry = AuditEntry.objects.for_organization(watch.organization).filter(action="watch.updated").latest("id")
    assert entry.before["spike_sensitivity"] == "normal" and entry.after["spike_sensitivity"] == "high"


def test_the_watch_page_offers_the_spike_sensitivity(monitored, erin, login_client):
    _source, watch = monitored
    page = login_client(erin)

    response = page.post(f"/o/acme/watches/{watch.pk}/", {"name": "Acme", "query": "acme", "language": "", "is_active": "on", "spike_sensitivity": "low"})

    assert response.status_code == 302
    watch.refresh_from_db()
    assert watch.spike_sensitivity == "low"
    assert 'name="spike_sensitivity"' in page.get(f"/o/acme/watches/{watch.pk}/").content.decode()


def test_the_beat_re_evaluates_only_organisations_with_an_open_spike(detected, org_b):
    with mock.patch.object(tasks.detect_spikes, "delay") as queued:
        count = tasks.close_quiet_spikes()

    assert count == 1 and [call.args for call in queued.call_args_list] == [(detected.organization_id,)]
