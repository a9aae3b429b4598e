"""Fitting latency and slippage model families to samples (the post-trade side of `models/config.py`).

Each family is fitted by maximum likelihood: closed forms where they exist (normal, lognormal, exponential,
shifted exponential), a profile likelihood for the floor of a shifted lognormal, L-BFGS for Student's t, and
EM for 2- and 3-component mixtures (lognormal components for latency: a Gaussian mixture of log-latency;
normal components for slippage), polished by L-BFGS on all samples. Candidates are ranked by AIC or BIC, and
each carries a Kolmogorov-Smirnov test (scipy.stats.kstest) against its own fitted CDF. A fitted candidate's
`params` is a model config mapping in the spelling of `models/config.py`, so it can be written into a desk
config as is; numbers are rounded to 6 significant digits (a floor rounded down, mixture weights summing to 1).
Fitting every family to 100,000 samples takes well under a second (benchmarks/model_fitting.py).

Truncation: the latency `normal` and `student_t` models are truncated at zero (negative draws are redrawn).
Their location and scale are fitted as if untruncated (the closed-form / plain MLE), which is the truncated MLE
to within the probability mass below zero; the reported log-likelihood and CDF are those of the truncated
model, so a fit whose mass below zero is not small is penalised honestly rather than hidden.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from itertools import pairwise
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from scipy import optimize, special, stats

Kind = Literal["latency", "slippage"]
Criterion = Literal["aic", "bic"]
Array = NDArray[np.float64]

FAMILIES: tuple[str, ...] = (
    "normal",
    "lognormal",
    "exponential",
    "shifted_lognormal",
    "shifted_exponential",
    "student_t",
    "mixture_2",
    "mixture_3",
)
MIN_SAMPLES = 10
_MIN_COMPONENT_SAMPLES = 5  # a mixture component holding fewer samples than this is a collapsed one
_STD_FLOOR = 1e-4  # smallest mixture component std, in units of the data's std
_MIN_DF = 0.2  # Student's t degrees of freedom are searched in [_MIN_DF, 1000]
_SIGNIFICANT_DIGITS = 6
_LOG_2PI = math.log(2.0 * math.pi)


@dataclass(frozen=True)
class FitResult:
    """One candidate family fitted to the samples (or skipped, with `skipped` saying why).

    `family` names the candidate (one of `FAMILIES`); `params["type"]` is its config type (e.g. `shifted`,
    `mixture`). For a skipped candidate `params` is empty and the numbers are NaN.
    """

    family: str
    params: dict[str, Any]
    loglik: float
    n_params: int
    aic: float
    bic: float
    ks_stat: float
    ks_pvalue: float
    skipped: str | None = None

    @property
    def fitted(self) -> bool:
        return self.skipped is None


class _Skip(Exception):
    """A family cannot describe these samples (e.g. a lognormal given a non-positive value)."""


@dataclass(frozen=True)
class _Fit:
    params: dict[str, Any]
    loglik: float
    n_params: int
    cdf: Callable[[Array], Array] = field(repr=False)


_Fitter = Callable[[Array, Kind, str], _Fit]


def fit_all(
    samples: Sequence[float] | Array,
    kind: Kind,
    unit: str = "bps",
    criterion: Criterion = "aic",
    families: Sequence[str] | None = None,
) -> list[FitResult]:
    """Every family in `families` (default: all of `FAMILIES`) fitted to `samples`, best first by `criterion`.

    Latency samples are milliseconds; slippage samples are in `unit` (adverse positive), which the emitted
    configs carry. Families that cannot fit these samples come last, with the reason in `skipped`. Raises
    ValueError for input nothing can be fitted to: too few samples, non-finite values, all samples equal,
    negative latency, or an unknown kind, unit, criterion or family.
    """
    x = _checked_samples(samples, kind)
    if unit not in ("bps", "ticks", "price"):
        raise ValueError(f"unit must be bps, ticks or price, got {unit!r}")
    if criterion not in ("aic", "bic"):
        raise ValueError(f"criterion must be aic or bic, got {criterion!r}")
    chosen = FAMILIES if families is None else tuple(families)
    unknown = [f for f in chosen if f not in _FITTERS]
    if unknown:
        raise ValueError(f"unknown families {unknown} (known: {', '.join(FAMILIES)})")
    n = x.size
    fitted: list[FitResult] = []
    skipped: list[FitResult] = []
    for name in chosen:
        try:
            fit = _FITTERS[name](x, kind, unit)
        except _Skip as why:
            nan = math.nan
            skipped.append(FitResult(name, {}, nan, 0, nan, nan, nan, nan, skipped=str(why)))
            continue
        ks = stats.kstest(x, fit.cdf)
        aic = 2.0 * fit.n_params - 2.0 * fit.loglik
        bic = fit.n_params * math.log(n) - 2.0 * fit.loglik
        fitted.append(
            FitResult(name, fit.params, fit.loglik, fit.n_params, aic, bic, float(ks.statistic), float(ks.pvalue))
        )
    fitted.sort(key=lambda r: r.aic if criterion == "aic" else r.bic)
    return fitted + skipped


def _checked_samples(samples: Sequence[float] | Array, kind: str) -> Array:
    if kind not in ("latency", "slippage"):
        raise ValueError(f"kind must be latency or slippage, got {kind!r}")
    x = np.asarray(samples, dtype=np.float64).ravel()
    if x.size < MIN_SAMPLES:
        raise ValueError(f"need at least {MIN_SAMPLES} samples to fit, got {x.size}")
    bad = np.flatnonzero(~np.isfinite(x))
    if bad.size:
        raise ValueError(f"{bad.size} samples are not finite numbers (first at index {bad[0]}: {x[bad[0]]})")
    if kind == "latency":
        negative = np.flatnonzero(x < 0)
        if negative.size:
            raise ValueError(
                f"latency cannot be negative: {negative.size} samples are (first at index {negative[0]}: "
                f"{x[negative[0]]})"
            )
    if x.min() == x.max():
        raise ValueError(f"all {x.size} samples equal {x[0]}: nothing to fit (that is a constant model)")
    return x


def most_common(samples: Sequence[float] | Array) -> tuple[float, int]:
    """The most frequent value in `samples` and how many times it occurs (a point mass, such as many fills at
    exactly zero slippage, is something no continuous family describes)."""
    values, counts = np.unique(np.asarray(samples, dtype=np.float64), return_counts=True)
    i = int(np.argmax(counts))
    return float(values[i]) + 0.0, int(counts[i])  # + 0.0: -0.0 reads as 0


def _collapsed(x: Array, what: str) -> _Skip:
    value, count = most_common(x)
    if count > 1:
        return _Skip(f"degenerate: {what} ({count} of {x.size} samples equal {value:g})")
    return _Skip(f"degenerate: {what}")


# -- params spelling -----------------------------------------------------------------------------------------
def _round(value: float) -> float:
    """`value` to a readable precision for a config file (6 significant digits)."""
    return float(f"{value:.{_SIGNIFICANT_DIGITS}g}")


def _round_down(value: float) -> float:
    """Like `_round`, but never above `value` (a rounded floor must stay below the smallest sample)."""
    if value == 0:
        return 0.0
    step = 10.0 ** (math.floor(math.log10(abs(value))) - (_SIGNIFICANT_DIGITS - 1))
    rounded = _round(math.floor(value / step) * step)
    return rounded if rounded <= value else float(np.nextafter(value, -math.inf))


def _spell(kind: Kind, unit: str, family: str, top_level: bool = True, **fields: float) -> dict[str, Any]:
    """A config mapping: latency fields take `_ms` where they carry milliseconds; slippage ones take `unit`."""
    in_ms = {"value", "mean", "std", "median", "loc", "scale", "floor"}
    out: dict[str, Any] = {"type": family}
    for name, value in fields.items():
        key = f"{name}_ms" if kind == "latency" and name in in_ms else name
        out[key] = value
    if kind == "slippage" and top_level:
        out["unit"] = unit
    return out


# -- closed-form families --------------------------------------------------------------------------------------
def _fit_normal(x: Array, kind: Kind, unit: str) -> _Fit:
    n = x.size
    mean, std = float(x.mean()), float(x.std())
    loglik = -0.5 * n * (_LOG_2PI + 2.0 * math.log(std) + 1.0)
    cdf = stats.norm(mean, std).cdf
    if kind == "latency":
        cdf, loglik = _truncated_at_zero(stats.norm(mean, std), n, loglik)
    return _Fit(_spell(kind, unit, "normal", mean=_round(mean), std=_round(std)), loglik, 2, cdf)


def _truncated_at_zero(dist: Any, n: int, loglik: float) -> tuple[Callable[[Array], Array], float]:
    """CDF and log-likelihood of `dist` renormalised over [0, inf) (how latency models truncate)."""
    below = float(dist.cdf(0.0))
    kept = 1.0 - below

    def cdf(v: Array) -> Array:
        return np.clip((dist.cdf(v) - below) / kept, 0.0, 1.0)  # type: ignore[no-any-return]

    return cdf, loglik - n * math.log(kept)


def _fit_lognormal(x: Array, kind: Kind, unit: str) -> _Fit:
    if x.min() <= 0:
        raise _Skip(f"needs every sample > 0; {int((x <= 0).sum())} are not (min {x.min():g})")
    y = np.log(x)
    mu, sigma = float(y.mean()), float(y.std())
    loglik = -float(y.sum()) - 0.5 * x.size * (_LOG_2PI + 2.0 * math.log(sigma) + 1.0)
    dist = stats.lognorm(s=sigma, scale=math.exp(mu))
    return _Fit(_spell(kind, unit, "lognormal", median=_round(math.exp(mu)), sigma=_round(sigma)), loglik, 2, dist.cdf)


def _fit_exponential(x: Array, kind: Kind, unit: str) -> _Fit:
    if x.min() < 0:
        raise _Skip(f"support is [0, inf) but {int((x < 0).sum())} samples are negative (min {x.min():g})")
    mean = float(x.mean())
    loglik = -x.size * (math.log(mean) + 1.0)
    return _Fit(_spell(kind, unit, "exponential", mean=_round(mean)), loglik, 1, stats.expon(scale=mean).cdf)


def _shifted(kind: Kind, unit: str, floor: float, model: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "shifted", "floor_ms" if kind == "latency" else "floor": floor, "model": model}
    if kind == "slippage":
        out["unit"] = unit
    return out


def _fit_shifted_exponential(x: Array, kind: Kind, unit: str) -> _Fit:
    # Floor and mean by the unbiased estimators (the MLE puts the floor on the smallest sample, which the
    # fitted density then sits on the edge of; the n/(n-1) correction moves it just below).
    n, low, mean = x.size, float(x.min()), float(x.mean())
    floor = low - (mean - low) / (n - 1)
    if kind == "latency":
        floor = max(floor, 0.0)  # latency floors are >= 0
    floor = _round_down(floor)
    scale = mean - floor  # the exponential's mean, given the floor (its MLE)
    loglik = -n * math.log(scale) - float((x - floor).sum()) / scale
    inner = _spell(kind, unit, "exponential", top_level=False, mean=_round(scale))
    return _Fit(_shifted(kind, unit, floor, inner), loglik, 2, stats.expon(loc=floor, scale=scale).cdf)


def _fit_shifted_lognormal(x: Array, kind: Kind, unit: str) -> _Fit:
    """Three-parameter lognormal: for each floor the lognormal MLE is closed-form, so the floor is found by
    maximising that profile likelihood over the gap between the floor and the smallest sample, on a log grid
    and then by bounded Brent. (The profile likelihood also rises without bound as the gap goes to zero, a
    known degeneracy of this family; the grid starts well above that spike.)"""
    low, spread = float(x.min()), float(x.std())
    if kind == "latency":
        if low <= 0:
            raise _Skip("needs every sample > 0 ms (a latency floor cannot go below 0)")
        log_hi = math.log(low)  # gap = smallest sample: floor 0, a plain lognormal
    else:
        log_hi = math.log(1e3 * spread)  # a very large gap: a lognormal indistinguishable from a normal
    log_lo = min(math.log(1e-4 * spread), log_hi - 10.0)
    shifted = x - low

    def profile(log_gap: float) -> float:
        y = np.log(shifted + math.exp(log_gap))
        return -float(y.mean()) - 0.5 * math.log(float(y.var()))

    grid = np.linspace(log_lo, log_hi, 40)
    values = np.array([profile(g) for g in grid])
    best = int(np.argmax(values[1:])) + 1  # not the lowest point: that side leads to the degenerate spike
    if best == grid.size - 1:  # at the largest gap: for latency a floor of exactly 0
        log_gap = float(grid[-1])
    else:
        found = optimize.minimize_scalar(
            lambda g: -profile(g),
            bounds=(grid[best - 1], grid[best + 1]),
            method="bounded",
            options={"xatol": 1e-6},
        )
        log_gap = float(found.x)
    floor = low - math.exp(log_gap)
    if kind == "latency" and (best == grid.size - 1 or floor < 0):
        floor = 0.0
    floor = _round_down(floor)
    y = np.log(x - floor)
    mu, sigma = float(y.mean()), float(y.std())
    loglik = -float(y.sum()) - 0.5 * x.size * (_LOG_2PI + 2.0 * math.log(sigma) + 1.0)
    inner = _spell(kind, unit, "lognormal", top_level=False, median=_round(math.exp(mu)), sigma=_round(sigma))
    dist = stats.lognorm(s=sigma, loc=floor, scale=math.exp(mu))
    return _Fit(_shifted(kind, unit, floor, inner), loglik, 3, dist.cdf)


# -- Student's t ------------------------------------------------------------------------------------------------
def _fit_student_t(x: Array, kind: Kind, unit: str) -> _Fit:
    """MLE of location, scale and degrees of freedom by L-BFGS-B with the analytic gradient, on data centred
    by the median and scaled by the MAD (so the start (0, 1, 5) is close and the problem well conditioned)."""
    n = x.size
    centre = float(np.median(x))
    mad = float(np.median(np.abs(x - centre))) * 1.4826
    s0 = mad if mad > 0 else float(x.std())
    u = (x - centre) / s0

    def nll(theta: Array) -> tuple[float, Array]:
        m, log_s, log_df = float(theta[0]), float(theta[1]), float(theta[2])
        s, df = math.exp(log_s), math.exp(log_df)
        z = (u - m) / s
        z2 = z * z
        q = np.log1p(z2 / df)
        w = (df + 1.0) / (df + z2)  # the t's EM weight of each sample
        const = special.gammaln((df + 1) / 2) - special.gammaln(df / 2) - 0.5 * math.log(df * math.pi) - log_s
        value = -n * const + 0.5 * (df + 1.0) * float(q.sum())
        d_m = -float((w * z).sum()) / s
        d_log_s = n - float((w * z2).sum())
        d_df = (
            -n * (0.5 * special.digamma((df + 1) / 2) - 0.5 * special.digamma(df / 2) - 0.5 / df)
            + 0.5 * float(q.sum())
            - 0.5 * float((w * z2).sum()) / df
        )
        return value, np.array([d_m, d_log_s, d_df * df])

    start = np.array([0.0, 0.0, math.log(5.0)])
    bounds = [(None, None), (math.log(1e-6), math.log(1e6)), (math.log(_MIN_DF), math.log(1e3))]
    found = optimize.minimize(nll, start, jac=True, method="L-BFGS-B", bounds=bounds, options={"maxiter": 200})
    m, log_s, log_df = (float(v) for v in found.x)
    if math.exp(log_df) < 1.01 * _MIN_DF:  # tails heavier than any real sample's: a spike on tied values
        raise _collapsed(x, f"the degrees of freedom run to their {_MIN_DF} bound")
    loc, scale, df = _round(centre + m * s0), _round(math.exp(log_s) * s0), _round(math.exp(log_df))
    if kind == "latency" and loc < 0:
        raise _Skip(f"the fitted location {loc:g} ms is below 0, which a latency student_t cannot have")
    dist = stats.t(df, loc=loc, scale=scale)
    loglik = float(dist.logpdf(x).sum())
    cdf: Callable[[Array], Array] = dist.cdf
    if kind == "latency":
        cdf, loglik = _truncated_at_zero(dist, n, loglik)
    return _Fit(_spell(kind, unit, "student_t", loc=loc, scale=scale, df=df), loglik, 3, cdf)


# -- mixtures ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Gaussians:
    weights: Array
    means: Array
    stds: Array
    loglik: float


class _MixtureLikelihood:
    """Log-likelihood of a 1-D Gaussian mixture on fixed data, its EM step and its gradient, vectorised over
    components x samples. The (k, n) work arrays are allocated once: fresh temporaries of that size on every
    call cost more in page faults than the arithmetic (measured: 9 ms against 1.5 ms per call at n=100,000)."""

    def __init__(self, y: Array, k: int) -> None:
        self.y = y
        self.z = np.empty((k, y.size))  # standardised distance of each sample to each component
        self.p = np.empty((k, y.size))  # responsibilities after `evaluate`
        self.work = np.empty((k, y.size))
        self.top = np.empty(y.size)
        self.total = np.empty(y.size)

    def evaluate(self, weights: Array, means: Array, stds: Array) -> float:
        """The log-likelihood; leaves the responsibilities in `p` and the standardised distances in `z`."""
        z, p = self.z, self.p
        np.subtract(self.y[None, :], means[:, None], out=z)
        z /= stds[:, None]
        np.multiply(z, z, out=p)
        p *= -0.5
        p += (np.log(np.maximum(weights, 1e-300)) - np.log(stds) - 0.5 * _LOG_2PI)[:, None]
        np.max(p, axis=0, out=self.top)
        p -= self.top
        np.exp(p, out=p)
        np.sum(p, axis=0, out=self.total)
        p /= self.total
        return float(self.top.sum() + np.log(self.total, out=self.total).sum())

    def em_step(self, g: _Gaussians, var_floor: float) -> _Gaussians:
        """One EM iteration from `g`; the returned log-likelihood is that of `g` (computed on the way)."""
        loglik = self.evaluate(g.weights, g.means, g.stds)
        p, work = self.p, self.work
        nk = np.maximum(p.sum(axis=1), 1e-12)
        means = (p @ self.y) / nk
        np.subtract(self.y[None, :], means[:, None], out=work)
        work *= work
        work *= p
        var = work.sum(axis=1) / nk
        return _Gaussians(nk / self.y.size, means, np.sqrt(np.maximum(var, var_floor)), loglik)

    def negative(self, theta: Array) -> tuple[float, Array]:
        """Negative log-likelihood and gradient in theta = (softmax logits of the weights, means, log stds)."""
        k = theta.size // 3
        logits, means, log_stds = theta[:k], theta[k : 2 * k], theta[2 * k :]
        weights = np.exp(logits - logits.max())
        weights /= weights.sum()
        stds = np.exp(log_stds)
        loglik = self.evaluate(weights, means, stds)
        p, z, work = self.p, self.z, self.work
        nk = p.sum(axis=1)
        np.multiply(p, z, out=work)
        d_means = work.sum(axis=1) / stds
        work *= z
        d_log_stds = work.sum(axis=1) - nk
        d_logits = nk - self.y.size * weights
        return -loglik, -np.concatenate([d_logits, d_means, d_log_stds])


def _em(y: Array, start: _Gaussians, tol: float, max_iter: int, var_floor: float) -> _Gaussians:
    """EM from `start` until an iteration gains less than `tol` log-likelihood per sample, or `max_iter`."""
    model = _MixtureLikelihood(y, start.weights.size)
    g = start
    previous = -math.inf
    for _ in range(max_iter):
        step = model.em_step(g, var_floor)
        if step.loglik - previous < tol * y.size:
            return replace(g, loglik=step.loglik)
        previous, g = step.loglik, step
    return replace(g, loglik=model.evaluate(g.weights, g.means, g.stds))


def _mixture_starts(y_sorted: Array, k: int) -> list[_Gaussians]:
    """Deterministic EM starts: equal-count slices of the sorted data, and a body with thin upper (and, for
    three components, lower) tails, which catches a small slow component that equal slices split."""
    n = y_sorted.size
    cuts: list[list[float]] = [[i / k for i in range(k + 1)]]
    if k == 2:
        cuts += [[0.0, 0.9, 1.0], [0.0, 0.1, 1.0]]
    else:
        cuts += [[0.0, 0.8, 0.95, 1.0], [0.0, 0.05, 0.95, 1.0], [0.0, 0.05, 0.2, 1.0]]
    spread = float(y_sorted.std())
    starts = []
    for cut in cuts:
        idx = [round(c * n) for c in cut]
        parts = [y_sorted[a:b] for a, b in pairwise(idx)]
        weights = np.array([p.size / n for p in parts])
        means = np.array([p.mean() for p in parts])
        stds = np.array([max(float(p.std()), 1e-3 * spread) for p in parts])
        starts.append(_Gaussians(weights, means, stds, -math.inf))
    return starts


def _fit_gaussian_mixture(y: Array, k: int) -> _Gaussians:
    """Multi-start EM on a quantile sketch of `y` (every m-th sorted value) finds candidate basins; L-BFGS with
    the analytic gradient then finds the full-data MLE from the best of them. (EM alone crawls along the flat
    ridges of an over-fitted mixture: thousands of iterations for a few log-likelihood units; L-BFGS takes
    tens.) A Gaussian mixture's likelihood is unbounded when a component shrinks onto a few samples (or tied
    values); such a solution is rejected and the next start tried, and if every start collapses the family
    is skipped."""
    centre, scale = float(y.mean()), float(y.std())
    u = (y - centre) / scale  # standardised: the tolerances and bounds below are in units of the data's spread
    ordered = np.sort(u)
    sketch = ordered[:: max(1, u.size // 4000)]
    var_floor = _STD_FLOOR**2
    runs = [_em(sketch, s, tol=1e-6, max_iter=100, var_floor=var_floor) for s in _mixture_starts(ordered, k)]
    likelihood = _MixtureLikelihood(u, k)
    bounds = [(None, None)] * (2 * k) + [(math.log(_STD_FLOOR), math.log(10.0))] * k
    for start in sorted(runs, key=lambda g: -g.loglik):
        theta = np.concatenate([np.log(start.weights), start.means, np.log(start.stds)])
        found = optimize.minimize(
            likelihood.negative, theta, jac=True, method="L-BFGS-B", bounds=bounds, options={"maxiter": 300}
        )
        logits, means, stds = found.x[:k], found.x[k : 2 * k], np.exp(found.x[2 * k :])
        weights = np.exp(logits - logits.max())
        weights /= weights.sum()
        if (weights * u.size).min() < _MIN_COMPONENT_SAMPLES or stds.min() < 1.01 * _STD_FLOOR:
            continue  # collapsed onto a few samples
        order = np.argsort(means)
        loglik = -float(found.fun) - u.size * math.log(scale)
        return _Gaussians(weights[order], centre + scale * means[order], scale * stds[order], loglik)
    raise _collapsed(y, f"every start collapses one of {k} components onto a few samples")


def _mixture_weights(weights: Array) -> list[float]:
    """Rounded weights, each > 0, that still sum to 1 within the config's tolerance: the largest takes the
    remainder (so the remainder cannot go negative however small the others are)."""
    rounded = [_round(max(float(w), 1e-12)) for w in weights]
    largest = int(np.argmax(weights))
    rounded[largest] = 0.0
    rounded[largest] = round(1.0 - math.fsum(rounded), 12)
    return rounded


def _fit_mixture(x: Array, kind: Kind, unit: str, k: int) -> _Fit:
    if x.size < 20 * k:
        raise _Skip(f"too few samples for {k} components (need {20 * k}, have {x.size})")
    if kind == "latency":
        # A Gaussian mixture of log-latency is a lognormal mixture of latency (Jacobian: -sum(log x)).
        if x.min() <= 0:
            raise _Skip(f"lognormal components need every sample > 0 ms; {int((x <= 0).sum())} are not")
        y = np.log(x)
        g = _fit_gaussian_mixture(y, k)
        loglik = g.loglik - float(y.sum())
        weights = _mixture_weights(g.weights)
        components = [
            {"weight": w, "type": "lognormal", "median_ms": _round(math.exp(m)), "sigma": _round(s)}
            for w, m, s in zip(weights, g.means, g.stds, strict=True)
        ]
        return _Fit({"type": "mixture", "components": components}, loglik, 3 * k - 1, _mixture_cdf(g, on_log=True))
    g = _fit_gaussian_mixture(x, k)
    weights = _mixture_weights(g.weights)
    components = [
        {"weight": w, "type": "normal", "mean": _round(float(m)), "std": _round(float(s))}
        for w, m, s in zip(weights, g.means, g.stds, strict=True)
    ]
    mapping = {"type": "mixture", "unit": unit, "components": components}
    return _Fit(mapping, g.loglik, 3 * k - 1, _mixture_cdf(g, on_log=False))


def _mixture_cdf(g: _Gaussians, on_log: bool) -> Callable[[Array], Array]:
    """The CDF of mixture `g`, of x itself or (`on_log`) of a lognormal mixture whose log is `g`."""

    def cdf(v: Array) -> Array:
        y = np.log(np.maximum(v, 1e-300)) if on_log else np.asarray(v, dtype=np.float64)
        out = np.zeros_like(y)
        for w, m, s in zip(g.weights, g.means, g.stds, strict=True):
            out += w * special.ndtr((y - m) / s)
        return out

    return cdf


_FITTERS: dict[str, _Fitter] = {
    "normal": _fit_normal,
    "lognormal": _fit_lognormal,
    "exponential": _fit_exponential,
    "shifted_lognormal": _fit_shifted_lognormal,
    "shifted_exponential": _fit_shifted_exponential,
    "student_t": _fit_student_t,
    "mixture_2": lambda x, kind, unit: _fit_mixture(x, kind, unit, 2),
    "mixture_3": lambda x, kind, unit: _fit_mixture(x, kind, unit, 3),
}


def config_mapping(result: FitResult, kind: Kind) -> dict[str, Any]:
    """`result` as a desk config fragment: `{latency_model: {global: ...}}` or `{slippage_model: {global: ...}}`."""
    if not result.fitted:
        raise ValueError(f"{result.family} was not fitted: {result.skipped}")
    return {f"{kind}_model": {"global": result.params}}
