"""The ingestion pipeline, polls, file imports and drill replays, at the service level, on
the suite's database (PostgreSQL in CI). Only the networks' HTTP is mocked, with real
recorded X responses."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone as dt_timezone
from email.utils import format_datetime
from pathlib import Path
from unittest import mock

import pytest
from django.core.management import call_command
from django.utils import timezone

from crisiscenter.audit import audit_context
from monitoring import pipeline, services, tasks
from monitoring.models import (
    IngestJob,
    JobStatus,
    Mention,
    MentionMatch,
    RejectedItem,
    Source,
    SourceKind,
    VolumeBucket,
    Watch,
)
from tests.test_source_common import responses  # the HTTP-mocking library, not our app of the same name

pytestmark = pytest.mark.django_db

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
BOSTON = SHARED / "crisislex-t6" / "2013_Boston_Bombings" / "2013_Boston_Bombings-ontopic_offtopic.csv"
SEARCH_URL = "https://api.twitter.com/2/tweets/search/recent"


def draft(external_id: str, text: str = "The new phone battery caught fire, terrible", **extra) -> dict:
    return {"external_id": external_id, "text": text, "posted_at": "2026-11-22T10:15:30Z", "author_handle": "someone", **extra}


@pytest.fixture
def webhook_source(org_a, erin_membership) -> Source:
    source, _secret = services.source_create(organization=org_a, actor_membership=erin_membership, name="Listening tool", kind=SourceKind.WEBHOOK)
    return source


@pytest.fixture
def battery_watch(org_a, erin_membership) -> Watch:
    return services.watch_save(organization=org_a, actor_membership=erin_membership, name="Battery", query='battery OR "caught fire"')


def test_a_replayed_batch_stores_nothing_twice_and_counts_once(webhook_source, battery_watch):
    batch = [draft("1"), draft("2", "battery fine here, love it"), draft("3", "unrelated chatter")]

    first = pipeline.ingest(source=webhook_source, drafts=batch)
    again = pipeline.ingest(source=webhook_source, drafts=batch)

    assert (first.stored, first.duplicates) == (3, 0)
    assert (again.stored, again.duplicates) == (0, 3)
    assert Mention.objects.for_organization(webhook_source.organization).count() == 3
    assert MentionMatch.objects.for_organization(webhook_source.organization).count() == 2
    total = VolumeBucket.objects.for_organization(webhook_source.organization).get(watch__isnull=True)
    per_watch = VolumeBucket.objects.for_organization(webhook_source.organization).get(watch=battery_watch)
    assert (total.mentions, per_watch.mentions) == (3, 2)
    assert total.minute == datetime(2026, 11, 22, 10, 15, tzinfo=dt_timezone.utc)
    webhook_source.refresh_from_db()
    assert webhook_source.mentions_stored == 3


def test_one_bad_item_is_rejected_with_its_reason_and_the_rest_stored(webhook_source):
    batch = [draft("1"), {"external_id": "2", "text": "no time"}, "not an object", draft("3", posted_at="2026-11-22T10:00:00"), draft("4")]

    result = pipeline.ingest(source=webhook_source, drafts=batch)

    assert (result.stored, result.rejected) == (2, 3)
    reasons = sorted(RejectedItem.objects.for_organization(webhook_source.organization).values_list("reason", flat=True))
    assert reasons == ["each mention must be a JSON object", "posted_at is missing", "posted_at needs a time zone (for example 2026-11-22T10:00:00Z)"]
    assert set(Mention.objects.for_organization(webhook_source.organization).values_list("external_id", flat=True)) == {"1", "4"}


def test_text_postgresql_cannot_hold_is_made_storable_without_costing_the_batch(webhook_source):
    # JSON can carry a lone UTF-16 surrogate ("\\ud83d", half an emoji) and NUL; UTF-8 text and
    # jsonb cannot. Tabs, newlines and backslashes must survive COPY's text format.
    tricky = draft("2", "half an emoji \ud83d here\x00, a tab\there,\nа newline and a back\\slash")
    tricky["author_name"] = "Zoë \udc00"
    tricky["raw"] = {"note\x00": "raw \ud83d too", "nested": {"path": "C:\\temp\tx"}}
    batch = [draft("1"), tricky, draft("3")]

    result = pipeline.ingest(source=webhook_source, drafts=batch)

    assert (result.stored, result.rejected) == (3, 0)
    stored = Mention.objects.for_organization(webhook_source.organization).get(external_id="2")
    assert stored.text == "half an emoji \ufffd here, a tab\there,\nа newline and a back\\slash"
    assert stored.author_name == "Zoë \ufffd"
    assert stored.raw == {"note": "raw \ufffd too", "nested": {"path": "C:\\temp\tx"}}


def test_every_mention_records_the_watches_it_matched(webhook_source, battery_watch, org_a, erin_membership):
    dutch = services.watch_save(organization=org_a, actor_membership=erin_membership, name="Dutch battery", query="batterij", language="nl")
    pipeline.ingest(
        source=webhook_source,
        drafts=[draft("1"), draft("2", "De batterij van mijn telefoon is ontploft, wat een ramp 😡", language="nl"), draft("3", "batterij", language="en")],
    )

    watches = {mention.external_id: sorted(watch.pk for watch in mention.watches.all()) for mention in Mention.objects.for_organization(org_a)}
    assert watches == {"1": [battery_watch.pk], "2": [dutch.pk], "3": []}


def test_english_is_scored_with_vader_and_other_languages_by_their_emoji_only(webhook_source):
    pipeline.ingest(
        source=webhook_source,
        drafts=[
            draft("en", "This is the worst service ever, I am furious"),
            draft("nl", "Die levering was een ramp 😠😢", language="nl"),
            draft("nl-plain", "Die levering komt morgen aan", language="nl"),
            draft("detected", "Het is een ramp, wat een slechte service en niemand helpt ons"),
        ],
    )
    mentions = {mention.external_id: mention for mention in Mention.objects.for_organization(webhook_source.organization)}

    assert (mentions["en"].language, mentions["en"].sentiment_method, mentions["en"].sentiment_label) == ("en", "vader", "negative")
    assert (mentions["nl"].sentiment_method, mentions["nl"].sentiment_label) == ("symbols", "negative")
    # "die" is an English word with a negative score; in Dutch it means "that" and is not read.
    assert (mentions["nl-plain"].sentiment_label, mentions["nl-plain"].sentiment) == ("neutral", 0.0)
    assert mentions["detected"].language == "nl"


def test_reach_grows_with_audience_and_reposts(webhook_source):
    pipeline.ingest(
        source=webhook_source,
        drafts=[draft("small", author_followers=10), draft("big", author_followers=10, reposts=100, likes=50)],
    )
    reach = dict(Mention.objects.for_organization(webhook_source.organization).values_list("external_id", "reach"))
    assert reach == {"small": 10, "big": 10 + 25 * 100 + 50}


def test_links_other_than_http_are_dropped_and_text_is_kept_verbatim(webhook_source):
    text = '<script>alert("x")</script> battery'
    pipeline.ingest(source=webhook_source, drafts=[draft("1", text, url="javascript:alert(1)"), draft("2", url="https://x.com/a/status/2")])

    mentions = {mention.external_id: mention for mention in Mention.objects.for_organization(webhook_source.organization)}
    assert mentions["1"].text == text  # stored as sent; every page escapes it
    assert mentions["1"].url == ""
    assert mentions["2"].url == "https://x.com/a/status/2"


def test_the_batch_event_goes_to_the_organisation_after_commit(webhook_source, sent_events, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        result = pipeline.ingest(source=webhook_source, drafts=[draft("1"), draft("2")])
    assert sent_events == []  # nothing before the commit
    for callback in callbacks:
        callback()

    [(group, event)] = sent_events
    assert group == f"org-{webhook_source.organization_id}"
    assert event["type"] == "mentions.ingested"
    assert event["data"]["stored"] == 2
    assert sorted(event["data"]["mention_ids"]) == sorted(result.stored_ids)


def test_a_replay_with_nothing_new_announces_nothing(webhook_source, sent_events, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        pipeline.ingest(source=webhook_source, drafts=[draft("1")])
    assert len(sent_events) == 1
    with django_capture_on_commit_callbacks(execute=True):
        pipeline.ingest(source=webhook_source, drafts=[draft("1")])
    assert len(sent_events) == 1


# --- polls -------------------------------------------------------------------------------


def recorded_pages(name: str) -> list[dict]:
    pages = []
    for line in (SHARED / "x-api" / "recorded" / name).read_text().splitlines():
        if line.strip():
            page = json.loads(line)
            page.pop("__twarc", None)
            pages.append(page)
    return pages


@pytest.fixture
def x_source(org_a, erin_membership) -> Source:
    services.watch_save(organization=org_a, actor_membership=erin_membership, name="K-pop", query="#kpop")
    source, _ = services.source_create(
        organization=org_a, actor_membership=erin_membership, name="X search", kind=SourceKind.X,
        credentials={"bearer_token": "AAAA-test"}, quota_cap=10_000,
    )
    return source


def _claimed(source: Source) -> Source:
    assert services.sources_claim_due(now=timezone.now() + timedelta(seconds=1)) == [source.pk]
    return Source.unscoped.select_related("organization").get(pk=source.pk)


def test_a_poll_stores_the_page_then_saves_the_cursor_and_quota(x_source):
    page = recorded_pages("2sets.jsonl")[0]
    with responses.RequestsMock() as http:
        http.get(SEARCH_URL, json=page, headers={"x-rate-limit-limit": "450", "x-rate-limit-remaining": "449", "x-rate-limit-reset": "1665183229"})
        result = services.source_poll(source=_claimed(x_source))

    x_source.refresh_from_db()
    assert result.stored == len({tweet["id"] for tweet in page["data"]})
    assert x_source.cursor[next(iter(x_source.cursor))]["since_id"] == page["meta"]["newest_id"]
    assert (x_source.quota_used, x_source.consecutive_failures, x_source.lease_until) == (len(page["data"]), 0, None)
    assert x_source.health() == "healthy"
    assert x_source.next_poll_at > timezone.now()
    users = {user["id"]: user for user in page["includes"]["users"]}
    tweet = page["data"][0]
    stored = Mention.objects.for_organization(x_source.organization).get(source=x_source, external_id=tweet["id"])
    assert stored.author_followers == users[tweet["author_id"]]["public_metrics"]["followers_count"]
    assert stored.author_handle == users[tweet["author_id"]]["username"]


def test_the_cursor_does_not_move_when_storing_fails(x_source):
    page = recorded_pages("2sets.jsonl")[0]
    with responses.RequestsMock() as http, mock.patch("monitoring.pipeline._bump_counters", side_effect=RuntimeError("disk full")):
        http.get(SEARCH_URL, json=page)
        with pytest.raises(RuntimeError):
            services.source_poll(source=_claimed(x_source))

    x_source.refresh_from_db()
    assert x_source.cursor == {}
    assert Mention.objects.for_organization(x_source.organization).count() == 0


def test_a_rate_limited_source_comes_back_when_x_says(x_source):
    reset = int((timezone.now() + timedelta(minutes=12)).timestamp())
    with responses.RequestsMock() as http:
        http.get(SEARCH_URL, status=429, json={"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429},
                 headers={"x-rate-limit-limit": "450", "x-rate-limit-remaining": "0", "x-rate-limit-reset": str(reset)})
        assert services.source_poll(source=_claimed(x_source)) is None

    x_source.refresh_from_db()
    assert x_source.consecutive_failures == 1
    assert x_source.health() == "failing"
    assert int(x_source.next_poll_at.timestamp()) == reset
    assert x_source.lease_until is None and x_source.cursor == {}


def test_server_errors_back_off_exponentially(x_source):
    with responses.RequestsMock() as http:
        http.get(SEARCH_URL, status=503, json={"title": "Service Unavailable"})
        services.source_poll(source=_claimed(x_source))
        x_source.refresh_from_db()
        first_delay = (x_source.next_poll_at - x_source.last_polled_at).total_seconds()
        Source.unscoped.filter(pk=x_source.pk).update(next_poll_at=timezone.now())
        services.source_poll(source=_claimed(x_source))
    x_source.refresh_from_db()
    second_delay = (x_source.next_poll_at - x_source.last_polled_at).total_seconds()
    assert x_source.consecutive_failures == 2
    assert second_delay == pytest.approx(2 * first_delay, rel=0.01)
    assert "503" in x_source.last_error or "unavailable" in x_source.last_error.lower()


def test_a_source_is_claimed_by_one_poll_at_a_time(x_source):
    later = timezone.now() + timedelta(seconds=1)
    assert services.sources_claim_due(now=later) == [x_source.pk]
    assert services.sources_claim_due(now=later) == []


def test_a_failing_source_does_not_hold_up_the_others(x_source, org_a, erin_membership, eager_celery):
    feed, _ = services.source_create(organization=org_a, actor_membership=erin_membership, name="News", kind=SourceKind.RSS,
                                     config={"feed_urls": ["https://news.example/feed.xml"]})
    services.watch_save(organization=org_a, actor_membership=erin_membership, name="Recall", query="recall")
    # Dated an hour ago: the feed ignores entries older than its max_age_hours.
    published = format_datetime(timezone.now() - timedelta(hours=1), usegmt=True)
    rss = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>News</title>'
        '<item><guid>n1</guid><title>Acme announces phone recall</title><link>https://news.example/1</link>'
        f"<pubDate>{published}</pubDate></item></channel></rss>"
    )
    with responses.RequestsMock(assert_all_requests_are_fired=False) as http:
        http.get(SEARCH_URL, status=401, json={"title": "Unauthorized"})
        http.get("https://news.example/feed.xml", body=rss, content_type="application/rss+xml")
        with mock.patch("monitoring.services.timezone.now", return_value=timezone.now() + timedelta(seconds=1)):
            tasks.poll_due_sources()

    x_source.refresh_from_db()
    feed.refresh_from_db()
    assert x_source.health() == "failing" and x_source.consecutive_failures == 1
    assert feed.health() == "healthy"
    assert Mention.objects.for_organization(org_a).filter(source=feed).count() == 1


def test_a_disabled_integration_is_not_polled(x_source, settings):
    settings.INTEGRATIONS = {**settings.INTEGRATIONS, "x": False}
    assert services.sources_claim_due(now=timezone.now() + timedelta(seconds=1)) == []


def test_credentials_are_encrypted_at_rest(x_source):
    stored = Source.unscoped.values_list("credentials_encrypted", flat=True).get(pk=x_source.pk)
    assert "AAAA-test" not in stored
    assert x_source.credentials() == {"bearer_token": "AAAA-test"}


# --- file imports and drills -------------------------------------------------------------


def _run_until_done(job: IngestJob, limit: int = 10_000) -> IngestJob:
    for _ in range(limit):
        if services.job_step(job_id=job.pk) is None:
            job.refresh_from_db()
            if job.is_finished():
                return job
            IngestJob.unscoped.filter(pk=job.pk).update(lease_until=None)
    raise AssertionError("the job did not finish")


def _job(organization, membership, **kwargs) -> IngestJob:
    with mock.patch("monitoring.services._schedule_step"):
        return services.job_create(organization=organization, actor_membership=membership, **kwargs)


def test_a_csv_import_stores_good_rows_and_reports_bad_ones_by_line(org_a, erin_membership):
    content = (
        "id,message,when,user\n"
        "a1,Battery exploded on my desk,2026-11-22T09:00:00Z,ann\n"
        "a2,No time on this row,,bo\n"
        "a3,Another fire report,yesterday,cy\n"
        'a4,"Quoted, with comma",2026-11-22T09:05:00+01:00,di\n'
        "a5,too,many,fields,here\n"
    ).encode()
    job = _job(org_a, erin_membership, kind="file", file_name="export.csv", content=content,
               column_mapping={"external_id": "id", "text": "message", "posted_at": "when", "author_handle": "user"})

    job = _run_until_done(job)

    assert (job.status, job.total, job.stored, job.rejected) == (JobStatus.DONE, 5, 2, 3)
    problems = list(RejectedItem.objects.for_organization(org_a).filter(job=job).order_by("line").values_list("line", "reason"))
    assert problems == [
        (3, "missing posted_at (mapped from 'when')"),
        (4, "posted_at is not an ISO 8601 time: 'yesterday'"),
        (6, "has 5 fields, the header has 4"),
    ]
    assert sorted(Mention.objects.for_organization(org_a).values_list("external_id", flat=True)) == ["a1", "a4"]


def test_a_csv_import_needs_a_mapping_for_text_and_time(org_a, erin_membership):
    from crisiscenter.errors import ServiceError

    with pytest.raises(ServiceError, match="Map a column to posted_at"):
        _job(org_a, erin_membership, kind="file", file_name="x.csv", content=b"id,message\n1,hi\n", column_mapping={"text": "message"})
    with pytest.raises(ServiceError, match="no column 'body'"):
        _job(org_a, erin_membership, kind="file", file_name="x.csv", content=b"id,message\n1,hi\n", column_mapping={"text": "body", "posted_at": "id"})


def test_importing_the_same_file_twice_stores_it_once(org_a, erin_membership):
    content = b"message,when\nBattery fire,2026-11-22T09:00:00Z\nSecond report,2026-11-22T09:01:00Z\n"
    mapping = {"text": "message", "posted_at": "when"}
    first = _run_until_done(_job(org_a, erin_membership, kind="file", file_name="a.csv", content=content, column_mapping=mapping))
    second = _run_until_done(_job(org_a, erin_membership, kind="file", file_name="a.csv", content=content, column_mapping=mapping))
    assert (first.stored, second.stored, second.duplicates) == (2, 0, 2)


def _crisislex_sample(rows: int) -> bytes:
    lines = BOSTON.read_text(encoding="utf-8").splitlines()
    return ("\n".join(lines[: rows + 1]) + "\n").encode()


def test_a_drill_replays_crisislex_with_its_original_spacing_compressed(org_a, erin_membership):
    content = _crisislex_sample(60)
    job = _job(org_a, erin_membership, kind="drill", file_name="boston.csv", content=content, speed=10_000)
    start = timezone.now()
    job = _run_until_done(job)

    assert (job.status, job.stored, job.rejected) == (JobStatus.DONE, 60, 0)
    mentions = list(Mention.objects.for_organization(org_a).order_by("posted_at"))
    originals = [datetime.fromisoformat(mention.raw["original_posted_at"]) for mention in mentions]
    span_original = (max(originals) - min(originals)).total_seconds()
    span_replayed = (mentions[-1].posted_at - mentions[0].posted_at).total_seconds()
    assert span_replayed == pytest.approx(span_original / 10_000, abs=0.01)
    assert mentions[0].posted_at >= start - timedelta(seconds=1)
    # The tweet's own id keeps the replay traceable; the job prefix lets a drill run again.
    assert mentions[0].external_id.startswith(f"{job.pk}:")


def test_the_drill_command_queues_a_replay(org_a, erin_membership, tmp_path, capsys):
    path = tmp_path / "boston.csv"
    path.write_bytes(_crisislex_sample(5))
    with mock.patch("monitoring.services._schedule_step") as schedule:
        call_command("drill", org_a.slug, str(path), "--speed", "60")
    job = IngestJob.objects.for_organization(org_a).get()
    assert (job.kind, job.speed, job.total, job.status) == ("drill", 60.0, 5, JobStatus.QUEUED)
    schedule.assert_called_once()
    assert f"Drill {job.pk} queued: 5 mentions" in capsys.readouterr().out


def test_the_drill_command_explains_a_wrong_file(org_a, erin_membership, tmp_path):
    from django.core.management.base import CommandError

    path = tmp_path / "notes.txt"
    path.write_text("just some notes\n")
    with pytest.raises(CommandError, match="Drills replay a CrisisLexT6 CSV or a Crisis Center export"):
        call_command("drill", org_a.slug, str(path))
    with pytest.raises(CommandError, match="No organisation"):
        call_command("drill", "nope", str(path))


def test_a_job_whose_worker_died_is_resumed_from_its_last_committed_chunk(org_a, erin_membership):
    content = b"message,when\n" + b"".join(f"report {index},2026-11-22T09:00:00Z\n".encode() for index in range(2500))
    job = _job(org_a, erin_membership, kind="file", file_name="big.csv", content=content, column_mapping={"text": "message", "posted_at": "when"})
    services.job_step(job_id=job.pk)  # one chunk committed
    # The worker dies holding the job: its lease and its schedule run out.
    IngestJob.unscoped.filter(pk=job.pk).update(lease_until=timezone.now() - timedelta(seconds=1), next_step_at=timezone.now() - timedelta(minutes=5))

    assert services.jobs_resume_stalled() == [job.pk]
    assert services.jobs_resume_stalled() == []  # resumed once, not once per sweep
    job = _run_until_done(job)
    assert (job.stored, job.duplicates) == (2500, 0)


def test_a_cancelled_job_stops(org_a, erin_membership):
    content = b"message,when\n" + b"".join(f"r{index},2026-11-22T09:00:00Z\n".encode() for index in range(1500))
    job = _job(org_a, erin_membership, kind="file", file_name="big.csv", content=content, column_mapping={"text": "message", "posted_at": "when"})
    services.job_step(job_id=job.pk)
    services.job_cancel(job=job, actor_membership=erin_membership)
    assert services.job_step(job_id=job.pk) is None
    job.refresh_from_db()
    assert (job.status, job.stored) == (JobStatus.CANCELLED, 1000)


def test_the_pipeline_writes_no_audit_noise(webhook_source):
    from crisiscenter.models import AuditEntry

    before = AuditEntry.unscoped.count()
    with audit_context(source="test"):
        pipeline.ingest(source=webhook_source, drafts=[draft(str(index)) for index in range(50)])
    assert AuditEntry.unscoped.count() == before
