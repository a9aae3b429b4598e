"""Standardised randomness of the simulated market, and the transforms that turn it into market quantities.

The simulator draws only parameter-free variates: standard normals for the underlying's path and uniforms for
everything a contract does (its book's depth, its trades). Two properties make a run independent of how many ticks
are simulated at a time:

* A numpy `Generator` yields the same numbers however the draws are chunked: n standard normals (or uniforms) drawn
  at once equal n drawn one by one (tests/unit/test_market_draws.py checks it).
* The market quantities are deterministic functions of those draws and of the parameters in force, applied element
  by element. A parameter change (a drill's multiplier, a jump, a new subscription) re-derives the ticks still to
  come from the same draws instead of drawing again, so it never shifts a draw.

Two transforms are approximations, chosen so a draw is one uniform whatever the parameter:

* Poisson counts by inversion of the uniform, exact up to `POISSON_INVERSION_MAX`; above it (busy markets, the
  initial open interest) the Cornish-Fisher expansion of the Poisson quantile to its skewness term,
  `lam + sqrt(lam) z + (z^2 - 1) / 6` with `z = ndtri(u)`, rounded and floored at 0.
* Gamma variates by the Wilson-Hilferty cube of a normal, `shape (1 - c + sqrt(c) z)^3` with `c = 1 / (9 shape)`,
  floored at 0 (the cube goes negative only for z below -5.8 at the depth's shape 4, about 3 in a billion); the
  normals come from pairs of uniforms by Box-Muller. Its mean and variance are within 0.1% of the gamma's at
  shape 4.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from scipy.special import ndtri

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# Inversion walks the Poisson CDF one count at a time, so its cost grows with the mean; above this mean the
# normal expansion is used (its error in the mean and variance is well under one count there).
POISSON_INVERSION_MAX = 30.0


def poisson_from_uniform(u: FloatArray, lam: FloatArray) -> IntArray:
    """Poisson(lam) counts, one per uniform `u` in [0, 1) (arrays of one shape; `lam` >= 0), by inversion.

    Element-wise: an element's count depends only on its own `u` and `lam`, not on the array around it.
    """
    large = lam > POISSON_INVERSION_MAX
    if not large.any():
        return _poisson_inversion(u, lam)
    counts = _poisson_inversion(u, np.where(large, 0.0, lam))
    big_lam = lam[large]
    z = ndtri(u[large])
    approx = np.rint(big_lam + np.sqrt(big_lam) * z + (z * z - 1.0) * (1.0 / 6.0))
    counts[large] = np.maximum(approx, 0.0).astype(np.int64)
    return counts


def _poisson_inversion(u: FloatArray, lam: FloatArray) -> IntArray:
    """The smallest k with P(X <= k) >= u, walking the CDF: P(0) = exp(-lam), P(k) = P(k-1) lam / k.

    After the first step only the elements still walking are carried (most counts are 0 or 1), in flat arrays.
    """
    pmf = np.exp(-lam)
    active = u > pmf
    counts: IntArray = active.astype(np.int64)
    where = np.flatnonzero(active)
    if not where.size:
        return counts
    flat_counts = counts.reshape(-1)  # a view: counts is new and contiguous
    u, lam = u.reshape(-1)[where], lam.reshape(-1)[where]
    pmf = pmf.reshape(-1)[where]
    cdf = pmf.copy()
    # Rounding can leave the summed CDF a few ulps short of a uniform just under 1: each element stops at a count far
    # in its own tail (a bound from its own mean, so where it stops never depends on the other elements).
    limit = lam + 12.0 * np.sqrt(lam) + 12.0
    k = 0
    while True:
        k += 1
        pmf = pmf * lam / k
        cdf += pmf
        going = (u > cdf) & (k < limit)
        if not going.any():
            return counts
        where = where[going]
        flat_counts[where] += 1
        u, lam, pmf, cdf, limit = u[going], lam[going], pmf[going], cdf[going], limit[going]


def gamma_from_uniforms(u: FloatArray, shape: float) -> FloatArray:
    """Gamma(`shape`, scale 1) variates from uniforms (an even number per row: they pair up along the last axis),
    by Box-Muller normals and the Wilson-Hilferty cube."""
    c = 1.0 / (9.0 * shape)
    z = standard_normals(u)
    z *= math.sqrt(c)
    z += 1.0 - c
    np.maximum(z, 0.0, out=z)
    gamma: FloatArray = z * z * z * shape
    return gamma


def standard_normals(u: FloatArray) -> FloatArray:
    """Standard normals from uniforms in [0, 1) by Box-Muller: columns 2j and 2j+1 of the last axis make one pair,
    `r cos(t)` and `r sin(t)` with `r = sqrt(-2 ln(1 - u_2j))`, `t = 2 pi u_2j+1` (exact, and a few element-wise
    ufuncs instead of an inverse CDF)."""
    radius = np.sqrt(-2.0 * np.log1p(-u[..., 0::2]))
    angle = u[..., 1::2] * (2.0 * math.pi)
    z = np.empty(u.shape)
    np.multiply(radius, np.cos(angle), out=z[..., 0::2])
    np.multiply(radius, np.sin(angle), out=z[..., 1::2])
    return z
