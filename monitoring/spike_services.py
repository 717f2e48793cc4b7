"""Spike detection on the stored volume counters: after batches land, each touched watch's
detector (``monitoring.spikes``) takes the minutes that changed, and what it decides becomes
a ``Spike`` row and a live event to the organisation's screens.

The detector's state lives in ``WatchDetector``, locked for the evaluation, so two workers
finishing batches at once judge one after the other, never both against the same old state.
Events go out after the commit ("spike.opened", "spike.updated" when the peak grows,
"spike.closed").
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta, timezone as dt_timezone
from typing import Iterable

from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from crisiscenter.models import Organization
from crisiscenter.realtime import broadcast_to_organization
from monitoring import queries, spike_alerts
from monitoring.models import Mention, Spike, SpikeStatus, VolumeBucket, Watch, WatchDetector
from monitoring.spikes import Change, DetectorState, Sensitivity, SpikeDetector

logger = logging.getLogger(__name__)

# A detector seen for the first time starts from this much stored history.
HISTORY_ON_FIRST_LOOK = timedelta(hours=24)
# The explanation is worked out when a spike opens and again at most this often while it grows.
EXPLAIN_EVERY = timedelta(minutes=5)
# Mentions read to explain a spike, newest first, from the spike and from the hours before it.
EXPLAIN_SAMPLE = 2_000
EXPLAIN_BEFORE = timedelta(hours=6)
# Words that say nothing about why a topic surges, in the languages of our users' markets.
STOPWORDS = frozenset(
    "a an and are as at be been but by for from has have i in is it its me my no not of on or our rt so that the this to "
    "was we were what when who will with you your de het een en van ik je niet op te dat die er og at det er en af til på "
    "ir un ar no uz ka par je i u na da se za der die das und ist ich nicht mit zu ein eine le la les et des un une est "
    "du el los las y que es en por con para".split()
)


def _minute(moment: datetime) -> int:
    return int(moment.timestamp() // 60)


def _moment(minute: int) -> datetime:
    return datetime.fromtimestamp(minute * 60, tz=dt_timezone.utc)


def spike_data(spike: Spike) -> dict:
    """What every screen shows of a spike (the events' payload and the API's)."""
    return {
        "id": spike.pk,
        "watch_id": spike.watch_id,
        "watch": spike.watch.name,
        "status": spike.status,
        "started_at": spike.started_at,
        "detected_at": spike.detected_at,
        "peak_at": spike.peak_at,
        "ended_at": spike.ended_at,
        "window_minutes": spike.window_minutes,
        "peak_count": spike.peak_count,
        "window_count": spike.window_count,
        "baseline_per_minute": round(spike.baseline, 3),
        "expected": round(spike.expected, 1),
        "magnitude": round(spike.magnitude, 2),
        "explanation": spike.explanation,
        "suggested_playbook": (
            {"id": spike.suggested_playbook_id, "name": spike.suggested_playbook.name, "severity": spike.suggested_severity}
            if spike.suggested_playbook_id else None
        ),
        "incident_id": spike.incident_id,
        "snoozed_until": spike.snoozed_until,
        "dismissed_at": spike.dismissed_at,
        "needs_action": spike_alerts.needs_action(spike),
    }


def spikes_detect(*, organization_id: int, watch_ids: Iterable[int] | None = None, now: datetime | None = None) -> list[Spike]:
    """Evaluate the detectors of the organisation's active watches (or of ``watch_ids``);
    returns the spikes that opened, grew or closed. ``now`` is the clock an open spike on a
    silent watch is closed by. The minutes read are announced as ``volume.updated``."""
    watches = Watch.objects.for_organization(organization_id).filter(is_active=True).select_related("organization")
    if watch_ids is not None:
        watches = watches.filter(pk__in=list(watch_ids))
    changed, volume = [], []
    organization = None
    for watch in watches:
        organization = watch.organization
        try:
            spike, buckets, band = _detect_one(watch=watch, now=now or timezone.now())
        except Exception:  # one watch's failure (rolled back on its own) must not blind the others
            logger.exception("Spike detection failed for watch %s", watch.pk)
            continue
        if spike is not None:
            changed.append(spike)
        if buckets:
            volume.append({"watch_id": watch.pk, **band, "buckets": buckets})
    if volume:
        _announce_volume(organization, volume)
    return changed


BUCKET_FIELDS = ("minute", "mentions", "positive", "neutral", "negative")


def _announce_volume(organization: Organization, watches: list[dict]) -> None:
    """The minutes the detectors just read, as they stand, with the organisation's totals."""
    since = min(bucket["minute"] for watch in watches for bucket in watch["buckets"])
    totals = VolumeBucket.objects.for_organization(organization).filter(watch__isnull=True, minute__gte=since).order_by("-minute").values(*BUCKET_FIELDS)
    newest = list(totals[:VOLUME_EVENT_MINUTES])[::-1]
    broadcast_to_organization(organization=organization, event_type="volume.updated", data={"watches": watches, "total": {"buckets": newest}})


# A volume event carries at most this many minutes a series (a replay of old posts reads more).
VOLUME_EVENT_MINUTES = 180


def _locked_detector(watch: Watch) -> WatchDetector:
    try:
        with transaction.atomic():
            detector, _created = WatchDetector.unscoped.get_or_create(watch=watch, defaults={"organization_id": watch.organization_id})
    except IntegrityError:  # another worker created it a moment ago
        pass
    return WatchDetector.unscoped.select_for_update().get(watch=watch)


def _detect_one(*, watch: Watch, now: datetime) -> tuple[Spike | None, list[dict], dict]:
    """One watch: fold the minutes stored since the last look into its detector. Returns the
    spike that changed (if any), the minutes read, and the detector's usual range."""
    with transaction.atomic():
        detector = _locked_detector(watch)
        state = DetectorState.from_json(detector.state)
        if state.folded_until is None:
            since = now - HISTORY_ON_FIRST_LOOK
        else:
            since = _moment(state.folded_until + 1)
        buckets = list(VolumeBucket.objects.for_organization(watch.organization_id).filter(watch=watch, minute__gte=since).order_by("minute").values(*BUCKET_FIELDS))
        counts = {_minute(bucket["minute"]): bucket["mentions"] for bucket in buckets}
        current = _minute(now)
        if state.spike is not None and current > max(counts, default=state.latest or 0):
            # Silence is news too: an open spike must be able to close when nothing arrives.
            counts[current] = 0
        if not counts:
            return None, [], {}
        sensitivity = Sensitivity.for_level(watch.spike_sensitivity)
        detector_model = SpikeDetector(sensitivity)
        changes = detector_model.observe(state, counts)
        detector.state = state.to_json()
        detector.updated_at = now
        detector.save(update_fields=["state", "updated_at"])
        spike = _apply(watch=watch, change=changes[0], sensitivity=sensitivity, now=now) if changes else None
        return spike, buckets[-VOLUME_EVENT_MINUTES:], usual_range(detector_model, state)


def usual_range(detector: SpikeDetector, state: DetectorState) -> dict:
    """What the chart's band shows: the baseline a minute, and the rate that would open a spike."""
    baseline = detector.baseline(state)
    if baseline is None:
        return {"baseline_per_minute": None, "alert_per_minute": None}
    window = detector.sensitivity.window_minutes
    return {"baseline_per_minute": round(baseline, 3), "alert_per_minute": round(detector.threshold(baseline) / window, 3)}


# What the detector writes of a spike; the alert's decisions are the alert's (spike_alerts).
DETECTOR_FIELDS = [
    "status", "peak_at", "ended_at", "peak_count", "window_count", "baseline", "expected", "explanation", "explained_at",
    "suggested_playbook", "suggested_severity", "updated_at",
]


def _apply(*, watch: Watch, change: Change, sensitivity: Sensitivity, now: datetime) -> Spike | None:
    """Record what the detector decided; call inside the detector's transaction. The open
    spike is locked (after the detector: the one order every path takes) and only the columns
    the detector owns are written, so a decision taken meanwhile — an incident opened from it,
    a snooze, a dismissal — is never written back over."""
    spike = (
        Spike.objects.for_organization(watch.organization_id).filter(watch=watch, status=SpikeStatus.OPEN)
        .select_for_update(of=("self",)).select_related("incident").first()
    )
    if change.kind == "opened":
        if spike is not None:  # a state reset under an open spike: carry on with that one
            return None
        spike = Spike.unscoped.create(
            organization_id=watch.organization_id, watch=watch, started_at=_moment(change.started), detected_at=_moment(change.peak_minute),
            peak_at=_moment(change.peak_minute), window_minutes=sensitivity.window_minutes, peak_count=change.peak_count,
            window_count=change.window_count, baseline=change.baseline, expected=change.expected, created_at=now, updated_at=now,
        )
        _explain(spike, now=now)
        spike.save(update_fields=DETECTOR_FIELDS)
        announce_spike(spike, "spike.opened")  # first on every screen, before what it sets off
        spike_alerts.on_spike_change(spike, "opened")
        return spike
    if spike is None:
        return None
    grew = change.peak_count > spike.peak_count
    if not grew and change.kind != "closed":
        return None  # still open, not bigger: nothing to write or tell
    spike.window_count, spike.updated_at = change.window_count, now
    if grew:
        spike.peak_count, spike.peak_at, spike.expected, spike.baseline = change.peak_count, _moment(change.peak_minute), change.expected, change.baseline
    if change.kind == "closed":
        spike.status, spike.ended_at = SpikeStatus.CLOSED, _moment(change.ended)
    if grew and (spike.explained_at is None or now - spike.explained_at >= EXPLAIN_EVERY):
        _explain(spike, now=now)
    spike.save(update_fields=DETECTOR_FIELDS)
    spike_alerts.on_spike_change(spike, change.kind)
    announce_spike(spike, "spike.closed" if change.kind == "closed" else "spike.updated")
    return spike


def announce_spike(spike: Spike, event_type: str) -> None:
    broadcast_to_organization(organization=spike.watch.organization, event_type=event_type, data=spike_data(spike))


def _explain(spike: Spike, *, now: datetime) -> None:
    """Why it is happening: terms new or surging against the hours before, the first posts,
    the top amplifiers by reach, the sentiment shift."""
    mentions = Mention.objects.for_organization(spike.organization_id)
    during = list(
        mentions.filter(matches__watch_id=spike.watch_id, matches__posted_at__gte=spike.started_at)
        .order_by("-matches__posted_at")
        .values("id", "text", "author_handle", "author_name", "reach", "posted_at", "url", "source__kind")[:EXPLAIN_SAMPLE]
    )
    # Before the surge as the detector's baseline sees it: ending a window ahead of the onset,
    # so the first posts of the surge itself are not taken for what was usual.
    usual_until = spike.started_at - timedelta(minutes=spike.window_minutes)
    before_texts = list(
        mentions.filter(matches__watch_id=spike.watch_id, matches__posted_at__gte=usual_until - EXPLAIN_BEFORE, matches__posted_at__lt=usual_until)
        .order_by("-matches__posted_at")
        .values_list("text", flat=True)[:EXPLAIN_SAMPLE]
    )
    spike.explanation = {
        "terms": surging_terms([row["text"] for row in during], before_texts),
        "first_posts": [_post(row) for row in sorted(during, key=lambda row: (row["posted_at"], row["id"]))[:3]],
        "amplifiers": _amplifiers(during),
        "sentiment": _sentiment_shift(spike),
        "sample": len(during),
    }
    spike.explained_at = now
    spike_alerts.suggest(spike=spike, texts=[row["text"] for row in during])


def _post(row: dict) -> dict:
    return {
        "id": row["id"], "author_handle": row["author_handle"], "text": row["text"][:280], "posted_at": row["posted_at"].isoformat(),
        "url": row["url"], "source": row["source__kind"],
    }


def _amplifiers(rows: list[dict], limit: int = 5) -> list[dict]:
    reach, posts, names = Counter(), Counter(), {}
    for row in rows:
        if row["author_handle"]:
            reach[row["author_handle"]] = max(reach[row["author_handle"]], row["reach"])
            posts[row["author_handle"]] += 1
            names[row["author_handle"]] = row["author_name"]
    return [{"author_handle": handle, "author_name": names[handle], "reach": value, "posts": posts[handle]} for handle, value in reach.most_common(limit)]


def surging_terms(during: list[str], before: list[str], *, limit: int = 8, minimum: int = 3) -> list[dict]:
    """Words (and hashtags) in more of the spike's posts than the hours before would predict:
    ``share`` is the fraction of the spike's posts that carry it, ``lift`` how many times more
    often than before (None: not seen before at all — new)."""

    def document_frequency(texts: list[str]) -> Counter:
        frequency = Counter()
        for text in texts:
            tokens = queries.tokenize_mention(text)
            frequency.update({word for word in tokens.word_set if len(word) > 2 and word not in STOPWORDS and not word.isdigit()})
            frequency.update({f"#{tag}" for tag in tokens.hashtags})
        return frequency

    now, then = document_frequency(during), document_frequency(before)
    scored = []
    for term, count in now.items():
        if count < minimum:
            continue
        share = count / len(during)
        earlier = then.get(term, 0) / len(before) if before else 0.0
        lift = share / earlier if earlier else None
        # Ordered by how much of the surge a term explains, new terms weighted as a lift of 10.
        scored.append((share * min(lift if lift is not None else 10.0, 10.0), term, count, share, lift))
    scored.sort(key=lambda item: (-item[0], item[1]))
    return [
        {"term": term, "posts": count, "share": round(share, 3), "lift": None if lift is None else round(lift, 1)}
        for _score, term, count, share, lift in scored
        if lift is None or lift >= 2
    ][:limit]


def _sentiment_shift(spike: Spike) -> dict:
    """Average sentiment and the negative share, during the spike and in the hours before."""

    def mix(start: datetime, end: datetime | None) -> dict:
        buckets = VolumeBucket.objects.for_organization(spike.organization_id).filter(watch_id=spike.watch_id, minute__gte=start)
        if end is not None:
            buckets = buckets.filter(minute__lt=end)
        totals = buckets.aggregate(mentions=Sum("mentions"), negative=Sum("negative"), sentiment=Sum("sentiment_sum"))
        mentions = totals["mentions"] or 0
        return {
            "mentions": mentions,
            "average": round((totals["sentiment"] or 0.0) / mentions, 3) if mentions else None,
            "negative_share": round((totals["negative"] or 0) / mentions, 3) if mentions else None,
        }

    usual_until = spike.started_at - timedelta(minutes=spike.window_minutes)
    return {"during": mix(spike.started_at, None), "before": mix(usual_until - EXPLAIN_BEFORE, usual_until)}
