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
  floored at 0 (the cube goes negative only for z below -5.8 at the depth's shape 4, about 3 in a billion). Its
  mean and variance are within 0.01% of the gamma's at shape 4.
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
    """The smallest k with P(X <= k) >= u, walking the CDF: P(0) = exp(-lam), P(k) = P(k-1) lam / k."""
    counts = np.zeros(u.shape, dtype=np.int64)
    pmf = np.exp(-lam)
    cdf = pmf.copy()
    active = u > cdf
    if not active.any():
        return counts
    # Rounding can leave the summed CDF a few ulps short of a uniform just under 1: each element stops at a count far
    # in its own tail (a bound from its own mean, so where it stops never depends on the other elements).
    limit = lam + 12.0 * np.sqrt(lam) + 12.0
    k = 0
    while True:
        k += 1
        counts += active
        pmf = pmf * lam / k
        cdf += pmf
        active &= (u > cdf) & (k < limit)
        if not active.any():
            return counts


def gamma_from_uniform(u: FloatArray, shape: float) -> FloatArray:
    """Gamma(`shape`, scale 1) variates from uniforms, by the Wilson-Hilferty cube of the normal quantile."""
    c = 1.0 / (9.0 * shape)
    root = np.maximum(ndtri(u) * math.sqrt(c) + (1.0 - c), 0.0)
    gamma: FloatArray = root * root * root * shape
    return gamma
