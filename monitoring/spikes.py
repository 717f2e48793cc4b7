"""Spike detection on a watch's per-minute volume, as batches arrive.

"If there is a large number of incoming messages about one topic, you probably have a
crisis." The detector keeps, per watch, a baseline of how many mentions a minute are normal
and judges the trailing window (30 minutes by default) against it every time a batch lands,
not only when a minute closes. A window is a spike when all three hold:

- it is big enough to matter: at least ``min_count`` mentions, and ``min_excess`` more
  than the baseline expects (a doubling from two to four is not a crisis);
- it is well above normal: at least ``ratio`` times what the baseline expects;
- it is not chance: a Poisson tail probability under the baseline of at most ``alpha``
  (for small counts a ratio alone is noise).

The baseline is an exponentially weighted mean, with a one-hour half-life, of the minutes
*before* the window — a surge is never compared with itself — so the daily rhythm (volume
rising through the morning, falling at night) moves it along instead of tripping it; while a
spike is open it adapts four times more slowly, so the surge does not become its own
baseline, yet a lasting new level eventually does. The window is never expected to bring
less than the hour before it did: on a rising day the mean lags, and a rise that has already
lasted an hour is not news. Once a watch has a day of history the
detector also knows its rhythm: it learns what each hour of the day usually brings, and
never expects less than that, so the morning rise it has seen before is not a surprise. Hysteresis and a
cooldown make one surge one spike: it closes only after the window has stayed under
``close_ratio`` times the baseline for ``close_after_minutes``, and no new spike opens on
the same watch for ``cooldown_minutes`` after that.

Pure computation on integer minutes (minutes since the epoch) and counts: the state is a
small JSON-safe dict stored per watch, and the same code runs on the live pipeline, on drill
replays and on the offline evaluation (bench/bench_spike_detection.py).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Mapping

# A baseline is never taken as quieter than this (mentions a minute): in silence, a handful
# of posts is not infinitely unlikely.
BASELINE_FLOOR = 0.05
# Past this many silent minutes the baseline decays in one step instead of minute by minute.
MAX_STEPWISE_GAP = 7 * 24 * 60


@dataclass(frozen=True)
class Sensitivity:
    """How eager a watch's detector is. ``for_level`` gives the three levels a watch offers."""

    window_minutes: int = 30
    min_count: int = 30
    min_excess: int = 25  # mentions above what the baseline expects
    ratio: float = 2.0
    alpha: float = 1e-4
    close_ratio: float = 1.3
    close_after_minutes: int = 15
    cooldown_minutes: int = 60
    half_life_minutes: float = 60.0
    warmup_minutes: int = 60

    @classmethod
    def for_level(cls, level: str) -> Sensitivity:
        if level == "high":  # small brands: fewer mentions make a crisis
            return cls(min_count=12, min_excess=10, ratio=1.8)
        if level == "low":  # very noisy watches
            return cls(min_count=80, min_excess=60, ratio=3.0, alpha=1e-6)
        return cls()


@dataclass
class SpikeState:
    """The open spike, if any (minutes since the epoch; counts are per window)."""

    started: int
    peak_minute: int
    peak_count: int
    baseline_at_start: float  # mentions a minute expected when it opened
    below_since: int | None = None


@dataclass
class DetectorState:
    baseline: float | None = None  # mentions a minute, over the minutes before the window
    minutes_seen: int = 0  # minutes folded into the baseline
    latest: int | None = None  # the newest minute seen
    folded_until: int | None = None  # the newest minute folded into the baseline
    last_hour: list[int] = field(default_factory=list)  # the 60 minutes folded last, oldest first
    counts: dict[int, int] = field(default_factory=dict)  # the trailing window's minutes
    spike: SpikeState | None = None
    cooldown_until: int | None = None
    # The daily rhythm: hour of the day (UTC) → mentions that hour usually brings, learned
    # from complete hours; and the hour being added up.
    hourly: dict[int, float] = field(default_factory=dict)
    hour: int | None = None  # hours since the epoch
    hour_total: int = 0
    hour_minutes: int = 0

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["counts"] = {str(minute): count for minute, count in self.counts.items()}
        data["hourly"] = {str(hour): total for hour, total in self.hourly.items()}
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> DetectorState:
        if not data:
            return cls()
        known = {item.name for item in fields(cls)}
        values = {key: value for key, value in data.items() if key in known}
        values["counts"] = {int(minute): int(count) for minute, count in (data.get("counts") or {}).items()}
        values["hourly"] = {int(hour): float(total) for hour, total in (data.get("hourly") or {}).items()}
        if values.get("spike"):
            values["spike"] = SpikeState(**values["spike"])
        return cls(**values)


@dataclass(frozen=True)
class Change:
    """What one evaluation decided: a spike ``opened``, grew (``updated``) or ``closed``."""

    kind: str
    started: int
    peak_minute: int
    peak_count: int
    window_count: int
    expected: float  # mentions the baseline expects in the window
    baseline: float  # mentions a minute
    ended: int | None = None


def poisson_tail(count: int, expected: float) -> float:
    """P(X >= count) for X ~ Poisson(expected), accurate far into the tail (log space)."""
    if count <= 0:
        return 1.0
    if expected <= 0:
        return 0.0
    if count <= expected:
        # Not the tail this detector asks about; the complement of a short sum is exact enough.
        term, total = math.exp(-expected), 0.0
        for k in range(count):
            total += term
            term *= expected / (k + 1)
        return max(0.0, 1.0 - total)
    # P(X >= k) = e^-λ λ^k / k! · Σ_n λ^n / ((k+1)…(k+n)); the ratio of terms is below one.
    log_first = -expected + count * math.log(expected) - math.lgamma(count + 1)
    series, term, n = 1.0, 1.0, 0
    while term > 1e-12 * series and n < 10_000:
        n += 1
        term *= expected / (count + n)
        series += term
    return math.exp(log_first + math.log(series))


class SpikeDetector:
    """Feeds one watch's per-minute counts into its state and says what changed."""

    def __init__(self, sensitivity: Sensitivity | None = None):
        self.sensitivity = sensitivity or Sensitivity()

    def observe(self, state: DetectorState, counts: Mapping[int, int]) -> list[Change]:
        """Take the current totals of the minutes a batch touched (a minute's total, not an
        increment: the pipeline's counters are cumulative), then evaluate the window ending
        at the newest minute seen. Returns at most one change."""
        window = self.sensitivity.window_minutes
        for minute in sorted(counts):
            if state.latest is None:
                state.latest, state.folded_until = minute, minute - 1
            if minute <= state.folded_until:
                continue  # a late post for a minute already in the baseline
            state.counts[minute] = int(counts[minute])
            if minute > state.latest:
                state.latest = minute
                self._fold_until(state, minute - window)
        if state.latest is None:
            return []
        return self._evaluate(state)

    def _fold_until(self, state: DetectorState, last: int) -> None:
        """Fold the minutes up to ``last`` — those that left the window — into the baseline."""
        if last <= state.folded_until:
            return
        half_life = self.sensitivity.half_life_minutes * (4 if state.spike else 1)
        keep = 0.5 ** (1 / half_life)
        first = state.folded_until + 1
        if last - first > MAX_STEPWISE_GAP:
            # A long silence: what is kept is folded minute by minute, the empty rest in one step.
            kept = sorted(minute for minute in state.counts if minute <= last)
            for minute in kept:
                self._fold(state, minute, state.counts.pop(minute), keep)
            empty = last - first + 1 - len(kept)
            state.baseline = (state.baseline or 0.0) * keep**empty
            state.minutes_seen += empty
            state.hour, state.hour_total, state.hour_minutes = None, 0, 0  # learn no rhythm from a gap
        else:
            for minute in range(first, last + 1):
                self._fold(state, minute, state.counts.pop(minute, 0), keep)
        state.folded_until = last

    @staticmethod
    def _fold(state: DetectorState, minute: int, count: int, keep: float) -> None:
        hour = minute // 60
        if hour != state.hour:
            # Spikes included: what opened as a surge may have been the first sight of the
            # morning rise, and a rhythm learned around it would repeat the surprise daily.
            if state.hour_minutes == 60:
                of_day = state.hour % 24
                known = state.hourly.get(of_day)
                # Yesterday's hour counts as much as everything before it: a changed rhythm is
                # learned within a few days.
                state.hourly[of_day] = float(state.hour_total) if known is None else (known + state.hour_total) / 2
            state.hour, state.hour_total, state.hour_minutes = hour, 0, 0
        state.hour_total += count
        state.hour_minutes += 1
        state.last_hour = [*state.last_hour[-59:], count]
        if state.baseline is None:
            state.baseline = float(count)
        elif state.minutes_seen < 1 / (1 - keep):
            # Early on, a plain running mean: an EWMA started from one minute would trust it
            # for an hour.
            state.baseline += (count - state.baseline) / (state.minutes_seen + 1)
        else:
            state.baseline = keep * state.baseline + (1 - keep) * count
        state.minutes_seen += 1

    def _evaluate(self, state: DetectorState) -> list[Change]:
        settings = self.sensitivity
        latest = state.latest
        window_count = sum(state.counts.values())
        baseline = self.baseline(state)
        if baseline is None:
            return []
        expected = baseline * settings.window_minutes
        spike = state.spike
        if spike is None:
            if state.cooldown_until is not None and latest < state.cooldown_until:
                return []
            if (
                window_count >= settings.min_count
                and window_count - expected >= settings.min_excess
                and window_count >= settings.ratio * expected
                and poisson_tail(window_count, expected) <= settings.alpha
            ):
                state.spike = SpikeState(
                    started=self._onset(state, baseline), peak_minute=latest, peak_count=window_count, baseline_at_start=baseline
                )
                state.cooldown_until = None
                return [self._change("opened", state.spike, window_count, expected, baseline)]
            return []
        if window_count > spike.peak_count:
            spike.peak_count, spike.peak_minute = window_count, latest
        if window_count <= settings.close_ratio * expected:
            if spike.below_since is None:
                spike.below_since = latest
            if latest - spike.below_since >= settings.close_after_minutes:
                state.spike, state.cooldown_until = None, latest + settings.cooldown_minutes
                return [self._change("closed", spike, window_count, expected, baseline, ended=latest)]
        else:
            spike.below_since = None
        return [self._change("updated", spike, window_count, expected, baseline)]

    def baseline(self, state: DetectorState) -> float | None:
        """Mentions a minute the detector takes as usual right now (None while warming up)."""
        if state.baseline is None or state.latest is None or state.minutes_seen < self.sensitivity.warmup_minutes:
            return None
        usual_this_hour = state.hourly.get((state.latest // 60) % 24, 0.0) / 60
        # The hour just before the window is the freshest view of normal: on a rising day the
        # EWMA lags it, and a rise that has already lasted an hour is no surprise. Not while a
        # spike is open: that hour is the spike, and it would close the spike at once.
        hour_before = sum(state.last_hour) / 60 if len(state.last_hour) == 60 and state.spike is None else 0.0
        return max(state.baseline, hour_before, usual_this_hour, BASELINE_FLOOR)

    def threshold(self, baseline: float) -> int:
        """The smallest window count that opens a spike against this baseline."""
        settings = self.sensitivity
        expected = baseline * settings.window_minutes
        count = max(settings.min_count, math.ceil(expected + settings.min_excess), math.ceil(settings.ratio * expected))
        while poisson_tail(count, expected) > settings.alpha:
            count += max(1, int(math.sqrt(expected)) // 4)
        return count

    def _onset(self, state: DetectorState, baseline: float) -> int:
        """The minute the surge began: where a jump from the baseline rate to a higher one
        explains the window best (the Poisson change point), so a lone post a quarter of an
        hour before a burst does not count as its start."""
        minutes = sorted(state.counts)
        if not minutes:
            return state.latest
        best_minute, best_score = minutes[-1], -math.inf
        after = 0
        for minute in reversed(range(minutes[0], state.latest + 1)):
            after += state.counts.get(minute, 0)
            length = state.latest - minute + 1
            rate = after / length
            if rate <= baseline or not state.counts.get(minute):
                continue  # a surge starts on a minute with posts, above the usual rate
            score = after * math.log(rate / baseline) - (rate - baseline) * length
            if score > best_score:
                best_minute, best_score = minute, score
        return best_minute

    @staticmethod
    def _change(kind: str, spike: SpikeState, window_count: int, expected: float, baseline: float, ended: int | None = None) -> Change:
        return Change(
            kind=kind, started=spike.started, peak_minute=spike.peak_minute, peak_count=spike.peak_count,
            window_count=window_count, expected=expected, baseline=baseline, ended=ended,
        )
