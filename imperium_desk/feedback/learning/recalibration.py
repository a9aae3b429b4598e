"""The shipped learner: online recalibration of each asset's latency and slippage models from realised fills.

Latency, per asset (the underlying, or a trading symbol with an override of its own): every final fill's
round trip goes into a window and, as a log-residual against the configured model's median (in units of the
model's log-scale, from its quartiles), into a two-sided CUSUM. When the CUSUM fires, the learner waits for
`min_samples` fills from the estimated start of the change, then fits a lognormal to them (location: the
20%-trimmed mean of the logs, scale: their interquartile range; robust to the odd fill from before the change
and to a heavy tail, so the proposed median is the new regime's median) and proposes it for that asset.
The collection is watched against itself (a CUSUM against the fit of its first `watch_after` fills, and a
two-window test on its halves), so a regime that comes and goes within a collection is not learned. The
regime is then refitted on 2x, 4x ... `min_samples` fills (up to `window`), and the refit proposed when its
median has moved by more than `refine_tolerance`: the first proposal comes early, later ones sharpen it.

Slippage, per asset: the window's mean draw (see `samples`) is tested against the configured model's mean every
`slippage_samples` fills; a significant and material gap proposes the configured model scaled so its mean matches
(its family and shape kept: single fills are rounded to the tick grid, which keeps the mean and loses the shape).

After proposing, the learner measures against its own proposal until the configured model changes (applied,
or switched by someone else), so one change yields one proposal, not one per fill.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from imperium_desk.feedback.learning.config import RecalibrationConfig
from imperium_desk.feedback.learning.detector import Cusum, mean_shift
from imperium_desk.feedback.learning.model_stats import model_stats
from imperium_desk.feedback.learning.plugin import LearnerContext
from imperium_desk.feedback.learning.proposal import Evidence, ModelProposal
from imperium_desk.feedback.learning.samples import ORDER_EVENTS, LimitChildren, latency_sample, slippage_draw
from imperium_desk.models.resolver import dump_model

_TRIM = 0.2  # share of the log-samples cut from each end for the location
_IQR_TO_SIGMA = 1.3489795
_WATCH_WIDENING = 1.25  # the watched regime's spread, over the standard deviation of its first fills
_WATCH_THRESHOLD = 1.5  # the watch's alarm threshold, over the main CUSUM's
_NO_PROPOSALS: tuple[ModelProposal, ...] = ()


@dataclass(slots=True)
class _Reference:
    cfg: Any  # the configured model it was taken from (compared by identity)
    center: float  # latency: ln(median); slippage: mean
    scale: float  # latency: the log-scale; slippage: unused (0)
    label: str  # for the reason text, e.g. "NIFTY lognormal median 50 ms"


class _LatencyTrack:
    __slots__ = ("collect_from", "cusum", "next_refit", "own", "proposed", "reference", "regime_start", "samples",
                 "watch", "watching")

    def __init__(self, config: RecalibrationConfig) -> None:
        self.cusum = Cusum(config.drift, config.threshold, config.clip)
        self.samples: deque[tuple[int, float, str]] = deque(maxlen=config.window)  # (index, ln ms, timestamp)
        self.reference: _Reference | None = None  # the configured model
        self.own: _Reference | None = None  # the learner's last proposal, until the configured model changes
        self.proposed: dict[str, Any] | None = None  # that proposal's model, as the config spells it
        self.collect_from: tuple[int, str, float] | None = None  # (first index, direction, statistic)
        self.regime_start: int | None = None  # first index of the regime the last proposal learned
        self.next_refit: int | None = None  # the index at which that regime is refitted on more fills
        # The collected regime against itself.
        self.watch = Cusum(config.drift, _WATCH_THRESHOLD * config.threshold, config.clip)
        self.watching: tuple[float, float] | None = None  # (ln median, log-scale) of the regime being collected

    def forget_regime(self) -> None:
        self.own = self.proposed = self.collect_from = self.regime_start = self.next_refit = self.watching = None
        self.cusum.reset()


class _SlippageTrack:
    __slots__ = ("own", "reference", "samples", "since_test")

    def __init__(self, config: RecalibrationConfig) -> None:
        self.samples: deque[tuple[float, str]] = deque(maxlen=config.window)  # (draw in the unit, timestamp)
        self.reference: _Reference | None = None
        self.own: _Reference | None = None
        self.since_test = 0


class RecalibrationLearner:
    """Entry point `recalibration` of the `imperium_desk.learners` group."""

    def __init__(self, context: LearnerContext) -> None:
        self.name = context.name
        self._context = context
        self._config = context.config.recalibration
        self._models = context.models
        self._stats = context.stats
        self._floors = context.config.guardrails.slippage_change_floor
        self._latency: dict[str, _LatencyTrack] = {}
        self._slippage: dict[str, _SlippageTrack] = {}
        self._limits = LimitChildren()

    # -- the plugin interface ------------------------------------------------------------------------------
    def on_record(self, record: Mapping[str, Any]) -> Sequence[ModelProposal]:
        event = record["event"]
        if event == "fill":
            return self._fill(record)
        if event in ORDER_EVENTS:
            self._limits.observe(record)
        return _NO_PROPOSALS

    def on_outcome(self, outcome: Mapping[str, Any]) -> Sequence[ModelProposal]:
        # Outcomes summarise a whole run; the fills already told this learner everything it uses.
        return _NO_PROPOSALS

    # -- fills -----------------------------------------------------------------------------------------------
    def _fill(self, record: Mapping[str, Any]) -> Sequence[ModelProposal]:
        symbol, underlying = record.get("asset"), record.get("underlying")
        if not symbol or not underlying:
            return _NO_PROPOSALS
        limit = self._limits.final_fill(record)
        out: list[ModelProposal] = []
        if self._config.latency:
            value = latency_sample(record)
            if value is not None:
                proposal = self._latency_fill(symbol, underlying, value, record["timestamp"])
                if proposal is not None:
                    out.append(proposal)
        if self._config.slippage and not limit:
            proposal = self._slippage_fill(symbol, underlying, record)
            if proposal is not None:
                out.append(proposal)
        return out or _NO_PROPOSALS

    def _latency_fill(self, symbol: str, underlying: str, value_ms: float, timestamp: str) -> ModelProposal | None:
        scope, cfg = self._models.for_asset("latency", symbol, underlying)
        key = symbol if scope == symbol else underlying  # a symbol with a model of its own is learnt on its own
        track = self._latency.get(key)
        if track is None:
            track = self._latency[key] = _LatencyTrack(self._config)
        if track.reference is None or track.reference.cfg is not cfg:
            # The configured model changed: to this learner's own proposal (applied), which keeps the regime being
            # learned, or to something else (a person, a reload), which starts afresh.
            ours = track.proposed is not None and dump_model(cfg) == track.proposed
            track.reference = self._latency_reference(scope, cfg)
            if ours:
                track.own = None
            else:
                track.forget_regime()
        ref = track.own or track.reference
        log_value = math.log(max(value_ms, 1e-6))
        track.samples.append((track.cusum.count, log_value, timestamp))
        config = self._config
        if track.collect_from is not None:
            return self._collect(key, track, ref, log_value)
        alarm = track.cusum.update((log_value - ref.center) / ref.scale)
        if alarm is not None:
            track.collect_from = (alarm.start, alarm.direction, alarm.statistic)
            track.regime_start = track.next_refit = None
            return None
        if track.next_refit is None or track.cusum.count < track.next_refit or track.regime_start is None:
            return None
        # Windowed refit of the regime learned last, on twice the fills each time (up to the window): the first
        # proposal comes early, later ones sharpen it when the estimate has moved by more than refine_tolerance.
        start = track.regime_start
        seen = track.cusum.count - start
        track.next_refit = start + 2 * seen if 2 * seen <= config.window else None
        mu, _, _ = _lognormal_fit(_logs_since(track, start))
        if abs(mu - ref.center) <= math.log1p(config.refine_tolerance):
            return None
        return self._latency_proposal(key, track, ref, start, f"refit on {min(seen, config.window)} fills of the "
                                      f"regime, {math.exp(mu) / math.exp(ref.center) - 1:+.1%} from the {ref.label}",
                                      None)

    def _collect(self, key: str, track: _LatencyTrack, ref: _Reference, log_value: float) -> ModelProposal | None:
        """One more fill of a change being collected; the proposal once `min_samples` of them agree."""
        assert track.collect_from is not None
        config = self._config
        index = track.cusum.count
        track.cusum.skip()  # indices keep counting while the refit waits for its samples
        start, direction, statistic = track.collect_from
        # The new regime is watched too: when it moves again (it came and went, or moved on) the collection
        # restarts where that move began, so a burst shorter than a collection is never learned.
        if track.watching is not None:
            center, scale = track.watching
            alarm = track.watch.update((log_value - center) / scale)
            if alarm is not None:
                track.collect_from = (index - (alarm.at - alarm.start), alarm.direction, alarm.statistic)
                track.watching = None
                return None
        elif index + 1 - start >= config.watch_after:
            logs = _logs_since(track, start)
            # A fit on a few fills is rough: its spread is widened (and never below the old model's), and the watch
            # alarms later than the main CUSUM, so it restarts a collection for a real move, not for its own noise.
            spread = max(_WATCH_WIDENING * float(logs.std(ddof=1)), ref.scale, config.min_log_scale)
            track.watching = (_lognormal_fit(logs)[0], spread)
            track.watch.reset()
        if track.cusum.count - start < config.min_samples:
            return None
        start = max(start, track.samples[0][0])  # older fills have left the window
        logs = _logs_since(track, start)
        half = logs.size // 2
        if _halves_differ(logs[:half], logs[half:], config.stable_z):
            # A slower drift the watch missed: keep the newer half and wait for the rest.
            track.collect_from = (start + half, direction, statistic)
            track.watching = None
            return None
        track.collect_from = track.watching = None
        track.cusum.reset()
        if abs(_lognormal_fit(logs)[0] - ref.center) <= config.drift * ref.scale:
            return None  # back within the smallest shift the CUSUM looks for: the change has gone again
        track.regime_start, track.next_refit = start, start + 2 * config.min_samples
        return self._latency_proposal(key, track, ref, start, f"cusum {direction} against the {ref.label}", statistic)

    def _latency_reference(self, scope: str, cfg: Any) -> _Reference:
        stats = self._stats.of("latency", cfg)
        scale = stats.log_scale if math.isfinite(stats.log_scale) else 0.0
        return _Reference(cfg, math.log(max(stats.median, 1e-6)), max(scale, self._config.min_log_scale),
                          f"{scope} {cfg.type} model (median {stats.median:.4g} ms)")

    def _latency_proposal(self, key: str, track: _LatencyTrack, ref: _Reference, start: int, detected: str,
                          statistic: float | None) -> ModelProposal:
        used = [(v, t) for i, v, t in track.samples if i >= start]
        mu, sigma, q50 = _lognormal_fit(np.fromiter((v for v, _ in used), dtype=np.float64, count=len(used)))
        median_ms = round(math.exp(mu), 3)
        model: dict[str, Any] = {"type": "lognormal", "median_ms": median_ms, "sigma": round(sigma, 4)}
        assert track.reference is not None
        scale_with = getattr(track.reference.cfg, "scale_with", None)
        if scale_with is not None:  # the regime conditioning stays: the samples were divided by its factor
            model["scale_with"] = scale_with.model_dump(mode="json")
        proposal = ModelProposal(
            kind="latency", scope=key, lane="order", model=model, learner=self.name,
            reason=(f"latency of {key}: median {math.exp(ref.center):.4g} ms -> {median_ms:.4g} ms "
                    f"(lognormal refit on the {len(used)} fills since the change)"),
            evidence=Evidence(
                samples=len(used), window_start=used[0][1], window_end=used[-1][1],
                statistic=None if statistic is None else round(statistic, 4), detected_change=detected,
                realised={"median_ms": round(math.exp(q50), 3), "log_sigma": round(sigma, 4)},
            ),
        )
        track.own = _Reference(track.reference.cfg, mu, max(sigma, self._config.min_log_scale),
                               f"{key} proposal (median {median_ms:.4g} ms)")
        track.proposed = proposal.normalised_model()
        return proposal

    def _slippage_fill(self, symbol: str, underlying: str, record: Mapping[str, Any]) -> ModelProposal | None:
        scope, cfg = self._models.for_asset("slippage", symbol, underlying)
        draw = slippage_draw(record, self._context.tick_size)
        if draw is None or draw[0] != cfg.unit:
            return None  # not measurable, or priced by a model in another unit (switched since)
        value = draw[1]
        key = symbol if scope == symbol else underlying
        track = self._slippage.get(key)
        if track is None:
            track = self._slippage[key] = _SlippageTrack(self._config)
        if track.reference is None or track.reference.cfg is not cfg:
            mean = self._stats.of("slippage", cfg).mean
            track.reference = _Reference(cfg, mean, 0.0, f"{scope} {cfg.type} model (mean {mean:.4g} {cfg.unit})")
            track.own = None
            track.samples.clear()
            track.since_test = 0
        track.samples.append((value, record["timestamp"]))
        track.since_test += 1
        if track.since_test < self._config.slippage_samples:
            return None
        track.since_test = 0
        ref = track.own or track.reference
        if not math.isfinite(ref.center):
            return None  # the model has no mean (Student t, df <= 1): nothing to match
        values = [v for v, _ in track.samples]
        shift = mean_shift(values, ref.center, self._floors[cfg.unit])
        if shift is None or abs(shift.z) < self._config.slippage_z or shift.relative < self._config.slippage_min_change:
            return None
        model = scaled_slippage(track.reference.cfg, shift.mean)
        if model is None:
            return None
        first, last = track.samples[0][1], track.samples[-1][1]
        track.own = _Reference(track.reference.cfg, shift.mean, 0.0, f"{key} proposal (mean {shift.mean:.4g})")
        track.samples.clear()
        unit = cfg.unit
        return ModelProposal(
            kind="slippage", scope=key, lane="order", model=model, learner=self.name,
            reason=(f"slippage of {key} changed: mean {ref.center:.4g} -> {shift.mean:.4g} {unit} over the last "
                    f"{len(values)} MARKET fills; the {cfg.type} model rescaled to match"),
            evidence=Evidence(
                samples=len(values), window_start=first, window_end=last, statistic=round(shift.z, 4),
                detected_change=f"mean test (z {shift.z:+.2f}) against the {ref.label}",
                realised={"mean": round(shift.mean, 6)},
            ),
        )


def _logs_since(track: _LatencyTrack, start: int) -> np.ndarray:
    return np.fromiter((v for i, v, _ in track.samples if i >= start), dtype=np.float64)


def _halves_differ(a: np.ndarray, b: np.ndarray, z_max: float) -> bool:
    """A two-window test on the mean log-latency: do the older and newer halves of a collection disagree?"""
    if a.size < 2 or b.size < 2:
        return False
    gap = abs(float(a.mean()) - float(b.mean()))
    se = math.sqrt(float(a.var(ddof=1)) / a.size + float(b.var(ddof=1)) / b.size)
    return gap > z_max * se if se > 0.0 else gap > 0.0


def _lognormal_fit(logs: np.ndarray) -> tuple[float, float, float]:
    """(mu, sigma, median of the logs): mu the 20%-trimmed mean of the logs, sigma their interquartile range
    over 1.349; both robust to the odd sample from the old regime and to a heavy tail."""
    x = np.sort(logs)
    n = x.size
    cut = int(n * _TRIM)
    q25, q50, q75 = np.quantile(x, (0.25, 0.5, 0.75))
    return float(x[cut:n - cut].mean()), float(q75 - q25) / _IQR_TO_SIGMA, float(q50)


def scaled_slippage(cfg: Any, target_mean: float) -> dict[str, Any] | None:
    """`cfg` (a slippage model config) scaled so its mean is `target_mean`, as a config mapping; None when no
    positive scale does it (a mean of zero or of the other sign) or the family has no scale (historical)."""
    mean = model_stats("slippage", cfg).mean
    if not math.isfinite(mean) or mean == 0.0 or target_mean / mean <= 0.0:
        return None
    mapping = cfg.model_dump(mode="json", exclude_none=True)
    return _scale(mapping, target_mean / mean)


def _sig(x: float) -> float:
    return float(f"{x:.6g}")


def _scale(m: dict[str, Any], k: float) -> dict[str, Any] | None:
    out = dict(m)
    kind = m["type"]
    if kind == "constant":
        out["value"] = _sig(m["value"] * k)
    elif kind == "normal":
        out["mean"], out["std"] = _sig(m["mean"] * k), _sig(m["std"] * k)
    elif kind == "lognormal":
        if "median" in m:
            out["median"] = _sig(m["median"] * k)
        else:
            out["mu"] = _sig(m["mu"] + math.log(k))
    elif kind == "exponential":
        out["mean"] = _sig(m["mean"] * k)
    elif kind == "student_t":
        out["loc"], out["scale"] = _sig(m["loc"] * k), _sig(m["scale"] * k)
    elif kind == "shifted":
        inner = _scale(m["model"], k)
        if inner is None:
            return None
        out["floor"], out["model"] = _sig(m["floor"] * k), inner
    elif kind == "mixture":
        components = []
        for c in m["components"]:
            scaled = _scale(c, k)
            if scaled is None:
                return None
            components.append(scaled)
        out["components"] = components
    else:
        return None
    return out
