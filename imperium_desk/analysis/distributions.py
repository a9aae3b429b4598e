"""Realised latency and slippage distributions: summary numbers, a histogram, and ranked model fits.

Fits reuse the model fitter (`models.fitting.fit_all`, MLE with AIC ranking and a KS test each); the winner is
turned back into its model (`models.samplers`) for the density drawn over the histogram, computed from the
model's exact CDF by central differences so every family (truncated, shifted, mixtures) is drawn the same way.
Quantiles, histogram and fits come from the reservoir sample (every value for files with at most its capacity
of fills), fits from at most `FIT_SAMPLE` of those; count, mean, std, min and max are exact over the whole file.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from imperium_desk.analysis.samples import Reservoir, RunningStats
from imperium_desk.models.config import LATENCY_ADAPTER, SLIPPAGE_ADAPTER
from imperium_desk.models.fitting import fit_all, most_common
from imperium_desk.models.samplers import latency_sampler, slippage_sampler

Kind = Literal["latency", "slippage"]
FloatArray = NDArray[np.float64]

_MIN_BINS, _MAX_BINS = 10, 100
_DENSITY_POINTS = 200
# Clip the histogram to the 0.5-99.5% range when the full range is this much wider (a slow tail of latency would
# otherwise squeeze the body into a few bars); the clipped counts are reported. Not for a handful of values.
_TAIL_CLIP = 1.5
_CLIP_MIN_VALUES = 200
_POINT_MASS_SHARE = 0.05
FIT_SAMPLE = 100_000  # most values a fit sees
FIT_SEED = 7


def describe(stats: RunningStats, reservoir: Reservoir, values: FloatArray) -> dict[str, Any]:
    """Exact moments and (sample) quantiles."""
    out: dict[str, Any] = {
        "count": stats.count,
        "sampled": not reservoir.complete,
        "sample_size": int(values.size),
    }
    if stats.count == 0:
        return out
    out.update(mean=_r(stats.mean), std=_r(stats.std), min=_r(stats.min), max=_r(stats.max))
    if values.size:
        p50, p95, p99 = np.percentile(values, [50.0, 95.0, 99.0])
        out.update(p50=_r(float(p50)), p95=_r(float(p95)), p99=_r(float(p99)))
    return out


def histogram(values: FloatArray) -> dict[str, Any] | None:
    """Bin edges and counts (Freedman-Diaconis width, 10-100 bins), clipped to the 0.5-99.5% range when a few far
    values would otherwise squeeze the rest into one bar; `below`/`above` count what the clip left out."""
    if values.size < 2:
        return None
    lo, hi = float(values.min()), float(values.max())
    p_lo, q1, q3, p_hi = (float(q) for q in np.percentile(values, [0.5, 25.0, 75.0, 99.5]))
    if values.size >= _CLIP_MIN_VALUES and p_hi > p_lo and hi - lo > _TAIL_CLIP * (p_hi - p_lo):
        lo, hi = p_lo, p_hi
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    iqr = q3 - q1
    width = 2.0 * iqr / values.size ** (1.0 / 3.0) if iqr > 0 else (hi - lo) / _MIN_BINS
    bins = int(min(max(math.ceil((hi - lo) / width), _MIN_BINS), _MAX_BINS))
    counts, edges = np.histogram(values, bins=bins, range=(lo, hi))
    return {
        "edges": [_r(float(e), 6) for e in edges],
        "counts": [int(c) for c in counts],
        "n": int(values.size),
        "below": int((values < lo).sum()),
        "above": int((values > hi).sum()),
    }


def fits(values: FloatArray, kind: Kind) -> dict[str, Any]:
    """Every family fitted and ranked by AIC (`ranked`), the `winner`'s name, a note on a point mass, and the
    winner's density over the histogram range (filled in by `with_density`)."""
    fitted_on = values
    if values.size > FIT_SAMPLE:  # a seeded uniform subsample: AIC ranks as clearly at 100,000, in half the time
        fitted_on = np.random.default_rng(FIT_SEED).choice(values, FIT_SAMPLE, replace=False)
    try:
        results = fit_all(fitted_on, kind, unit="bps", criterion="aic")
    except ValueError as exc:
        return {"skipped": str(exc), "ranked": [], "winner": None, "sample_size": int(fitted_on.size)}
    ranked = [
        {
            "rank": i + 1 if r.fitted else None,
            "family": r.family,
            "params": r.params,
            "loglik": _r(r.loglik),
            "aic": _r(r.aic),
            "bic": _r(r.bic),
            "ks_stat": _r(r.ks_stat, 6),
            "ks_pvalue": _r(r.ks_pvalue, 6),
            "skipped": r.skipped,
        }
        for i, r in enumerate(results)
    ]
    out: dict[str, Any] = {
        "ranked": ranked,
        "winner": results[0].family if results[0].fitted else None,
        "sample_size": int(fitted_on.size),
    }
    value, count = most_common(values)
    if count >= max(2, _POINT_MASS_SHARE * values.size):
        out["point_mass"] = {"value": value, "count": count, "of": int(values.size)}
    return out


def density(params: dict[str, Any], kind: Kind, lo: float, hi: float) -> dict[str, list[float]] | None:
    """The fitted model's density on `_DENSITY_POINTS` points over [lo, hi] (central differences of its CDF)."""
    try:
        if kind == "latency":
            sampler = latency_sampler(LATENCY_ADAPTER.validate_python(params))
        else:
            sampler = slippage_sampler(SLIPPAGE_ADAPTER.validate_python(params))
    except (ValueError, TypeError):
        return None
    x = np.linspace(lo, hi, _DENSITY_POINTS)
    h = (hi - lo) / (4.0 * _DENSITY_POINTS)
    pdf = (sampler.cdf(x + h) - sampler.cdf(x - h)) / (2.0 * h)
    finite = np.isfinite(pdf)
    return {
        "x": [round(float(v), 6) for v in x[finite]],
        "y": [round(float(v), 9) for v in np.maximum(pdf[finite], 0.0)],
    }


def distribution(stats: RunningStats, reservoir: Reservoir, kind: Kind) -> dict[str, Any]:
    """Everything the report says about one metric."""
    values = reservoir.array()
    out: dict[str, Any] = {"stats": describe(stats, reservoir, values), "histogram": histogram(values)}
    fitted = fits(values, kind)
    hist = out["histogram"]
    winner = fitted.get("winner")
    if winner is not None and hist is not None:
        params = next(r["params"] for r in fitted["ranked"] if r["family"] == winner)
        fitted["density"] = density(params, kind, hist["edges"][0], hist["edges"][-1])
    out["fit"] = fitted
    return out


def _r(value: float, digits: int = 4) -> float | None:
    if not math.isfinite(value):
        return None
    return round(value, digits) + 0.0
