"""The spike detector (monitoring/spikes.py) on synthetic series and on real ones: the
CrisisLexT6 streams around three real onsets and seven days of real hourly X counts, which
are only a daily rhythm. No database: the detector is pure computation."""

from __future__ import annotations

import json
import math
import random
from collections import Counter
from datetime import datetime, timezone as dt_timezone
from pathlib import Path

import pytest

from monitoring.spikes import DetectorState, Sensitivity, SpikeDetector, poisson_tail
from tests.factories import crisislex_posting_times

COUNTS = Path(__file__).resolve().parents[2] / "shared" / "data" / "x-api" / "recorded" / "counts.jsonl"
START = 28_000_800  # minutes since the epoch: 2023-03-28 00:00 UTC, a midnight


def run(rates, *, sensitivity: Sensitivity | None = None, seed: int = 7, batches_per_minute: int = 1):
    """Feed Poisson counts drawn at ``rates`` (mentions a minute, one per minute) to a fresh
    detector, ``batches_per_minute`` batches a minute; returns (minute, change) pairs."""
    rng = random.Random(seed)
    detector, state, changes = SpikeDetector(sensitivity), DetectorState(), []
    for offset, rate in enumerate(rates):
        minute, total = START + offset, 0
        for part in poisson_parts(rng, rate, batches_per_minute):
            total += part
            changes += [(offset, change) for change in detector.observe(state, {minute: total})]
    return changes


def poisson_parts(rng: random.Random, rate: float, parts: int) -> list[int]:
    return [poisson(rng, rate / parts) for _ in range(parts)]


def poisson(rng: random.Random, rate: float) -> int:
    if rate > 50:  # normal approximation, plenty for a test series
        return max(0, round(rng.gauss(rate, math.sqrt(rate))))
    threshold, count, product = math.exp(-rate), 0, rng.random()
    while product > threshold:
        count += 1
        product *= rng.random()
    return count


def opened(changes) -> list[int]:
    return [minute for minute, change in changes if change.kind == "opened"]


def closed(changes) -> list[int]:
    return [minute for minute, change in changes if change.kind == "closed"]


# --- the Poisson tail -----------------------------------------------------------------------
@pytest.mark.parametrize("count, expected", [(0, 3.0), (1, 0.5), (5, 2.0), (12, 3.0), (40, 10.0), (3, 9.0), (200, 60.0)])
def test_the_poisson_tail_matches_the_sum_of_the_probabilities(count, expected):
    # Summed over the tail itself (1 minus the head loses every digit far out).
    exact = sum(math.exp(-expected + k * math.log(expected) - math.lgamma(k + 1)) for k in range(count, count + 2_000))

    assert poisson_tail(count, expected) == pytest.approx(exact, rel=1e-9, abs=1e-15)


def test_the_poisson_tail_stays_meaningful_far_out():
    assert 0 < poisson_tail(200, 30.0) < 1e-80
    assert poisson_tail(5, 0.0) == 0.0


# --- synthetic series -----------------------------------------------------------------------
def test_steady_noise_raises_nothing():
    assert opened(run([5.0] * 24 * 60)) == []


def test_a_surge_opens_one_spike_that_grows_and_closes_when_volume_returns():
    rates = [5.0] * 180 + [25.0] * 60 + [5.0] * 180

    changes = run(rates)

    assert len(opened(changes)) == 1 and len(closed(changes)) == 1
    assert 180 <= opened(changes)[0] <= 190  # detected within minutes of the surge
    first = next(change for _minute, change in changes if change.kind == "opened")
    assert first.baseline == pytest.approx(5.0, rel=0.25)
    assert first.started >= START + 175
    peak = max(change.peak_count for _minute, change in changes)
    assert peak > 0.8 * 25 * 30  # the window at the surge's height
    assert 240 < closed(changes)[0] < 300  # after volume fell back and stayed down


def test_it_is_evaluated_as_batches_arrive_not_when_the_minute_closes():
    # One silent hour and a half, then a whole surge lands inside a single minute.
    changes = run([1.0] * 95 + [400.0], batches_per_minute=8)

    assert opened(changes) == [95]


def test_a_daily_rhythm_it_has_seen_once_raises_nothing():
    # Five days swinging between 1 and 11 mentions a minute, trough at 04:00 (START is midnight).
    rates = [6 + 5 * math.sin(2 * math.pi * (minute - 600) / 1440) for minute in range(5 * 1440)]

    alerts = opened(run(rates))

    # The first morning may surprise it (nothing to compare with); never again.
    assert [minute for minute in alerts if minute >= 1440] == []
    assert len(alerts) <= 1


def test_a_gentle_rhythm_raises_nothing_even_on_the_first_day():
    rates = [6 + 3 * math.sin(2 * math.pi * (minute - 600) / 1440) for minute in range(3 * 1440)]

    assert opened(run(rates)) == []


def test_a_slow_ramp_raises_nothing_but_a_sudden_one_does():
    slow = [2 * 2 ** (minute / 120) for minute in range(8 * 60)]  # doubles every two hours
    sudden = [2.0] * 120 + [2 * 2 ** (minute / 10) for minute in range(60)]  # doubles every ten minutes

    assert opened(run(slow)) == []
    assert len(opened(run(sudden))) == 1


def test_small_counts_need_the_minimum_however_large_the_ratio():
    quiet = [0.1] * 120 + [0.6] * 120  # six times the usual, but 18 a window

    assert opened(run(quiet)) == []
    assert len(opened(run(quiet, sensitivity=Sensitivity.for_level("high")))) == 1


def test_a_brief_dip_does_not_split_one_surge_into_two():
    rates = [5.0] * 180 + [25.0] * 40 + [5.0] * 8 + [25.0] * 40 + [5.0] * 120

    changes = run(rates)

    assert len(opened(changes)) == 1 and len(closed(changes)) == 1


def test_after_a_spike_closes_the_cooldown_holds_off_a_second_one_on_the_same_watch():
    first_surge = [5.0] * 180 + [25.0] * 40 + [5.0] * 50
    soon_again = first_surge + [25.0] * 40 + [5.0] * 60  # within the hour after the close
    much_later = first_surge + [5.0] * 120 + [25.0] * 40 + [5.0] * 60

    assert len(opened(run(soon_again))) == 1
    assert len(opened(run(much_later))) == 2


def test_the_state_survives_a_round_trip_through_json_mid_spike():
    rng = random.Random(3)
    counts = [poisson(rng, 5.0) for _ in range(180)] + [poisson(rng, 25.0) for _ in range(30)] + [poisson(rng, 5.0) for _ in range(90)]
    straight, stored = SpikeDetector(), SpikeDetector()
    state, saved = DetectorState(), DetectorState().to_json()
    for offset, count in enumerate(counts):
        expected = straight.observe(state, {START + offset: count})
        restored = DetectorState.from_json(json.loads(json.dumps(saved)))
        assert stored.observe(restored, {START + offset: count}) == expected
        saved = restored.to_json()


def test_a_late_post_for_a_minute_already_in_the_baseline_is_ignored():
    detector, state = SpikeDetector(), DetectorState()
    for offset in range(200):
        detector.observe(state, {START + offset: 5})
    baseline = state.baseline

    assert detector.observe(state, {START + 10: 500}) == []
    assert state.baseline == baseline


def test_a_long_silence_decays_the_baseline_without_walking_every_minute():
    detector, state = SpikeDetector(), DetectorState()
    for offset in range(200):
        detector.observe(state, {START + offset: 5})

    detector.observe(state, {START + 200 + 60 * 24 * 365: 1})  # a year later

    assert state.baseline < 1e-6 and state.latest == START + 200 + 60 * 24 * 365


# --- real series ----------------------------------------------------------------------------
def crisislex_changes(crisis: str, batch_minutes: int = 5):
    """Replay one crisis's tweets five minutes at a time, as a live stream delivers them."""
    detector, state, totals, changes = SpikeDetector(), DetectorState(), Counter(), []
    minutes = [int(posted.timestamp() // 60) for posted in crisislex_posting_times(crisis)]
    index, clock = 0, minutes[0] + batch_minutes
    while index < len(minutes):
        touched = set()
        while index < len(minutes) and minutes[index] < clock:
            totals[minutes[index]] += 1
            touched.add(minutes[index])
            index += 1
        if touched:
            changes += [(state.latest, change) for change in detector.observe(state, {minute: totals[minute] for minute in touched})]
        clock += batch_minutes
    return changes


@pytest.mark.parametrize(
    "crisis, onset, within_minutes",
    [
        ("2013_Boston_Bombings", datetime(2013, 4, 15, 18, 49, tzinfo=dt_timezone.utc), 60),
        ("2013_West_Texas_Explosion", datetime(2013, 4, 18, 0, 50, tzinfo=dt_timezone.utc), 60),
        ("2013_Oklahoma_Tornado", datetime(2013, 5, 20, 19, 56, tzinfo=dt_timezone.utc), None),
    ],
)
def test_real_onsets_are_detected_and_the_twelve_hours_before_stay_quiet(crisis, onset, within_minutes):
    onset_minute = int(onset.timestamp() // 60)

    alerts = opened(crisislex_changes(crisis))

    assert [minute for minute in alerts if onset_minute - 12 * 60 <= minute < onset_minute] == []
    after = [minute for minute in alerts if minute >= onset_minute]
    assert after, f"{crisis}: no spike after the onset"
    if within_minutes is not None:
        assert after[0] - onset_minute <= within_minutes


def test_seven_days_of_real_hourly_x_counts_are_a_rhythm_not_a_crisis():
    detector, state, alerts = SpikeDetector(), DetectorState(), []
    for bucket in json.loads(COUNTS.read_text())["data"]:
        start = datetime.fromisoformat(bucket["start"].replace("Z", "+00:00"))
        end = datetime.fromisoformat(bucket["end"].replace("Z", "+00:00"))
        first, minutes = int(start.timestamp() // 60), max(1, int(end.timestamp() // 60) - int(start.timestamp() // 60))
        count = bucket["tweet_count"]
        for offset in range(minutes):  # the hour's count spread evenly over its minutes
            share = count // minutes + (1 if offset < count % minutes else 0)
            alerts += [change for change in detector.observe(state, {first + offset: share}) if change.kind == "opened"]

    assert len(alerts) <= 1


def test_a_lone_post_before_a_burst_is_not_taken_for_its_start():
    """On a nearly silent watch, one post a quarter of an hour early would otherwise be 'above
    the baseline' and stretch the spike back to it; the surge starts where the rate jumps."""
    detector, state = SpikeDetector(), DetectorState()
    silence = {START + minute: (1 if minute % 97 == 0 else 0) for minute in range(180)}
    detector.observe(state, silence)
    lone, burst = START + 185, START + 200
    changes = detector.observe(state, {lone: 1, **{burst + minute: 12 for minute in range(5)}})

    [change] = [change for change in changes if change.kind == "opened"]
    assert change.started == burst
