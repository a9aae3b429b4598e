"""Undiscounted Black-76 on the forward (zero rates): price and delta, scalar and vectorised.

Index options settle in cash against the forward-like spot at expiry and the desk works intraday, so
discounting is left out: a price is `F N(d1) - K N(d2)` for a call and `K N(-d2) - F N(-d1)` for a put.

When `sigma * sqrt(T)` is (nearly) zero the formula divides by zero; there the price is the intrinsic
value and the delta a step at the strike, which is the formula's limit.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from scipy.special import ndtr

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

# Below this total deviation the price is the intrinsic value to well under a paisa for index levels.
_MIN_STD_DEV = 1e-12
_SQRT2 = math.sqrt(2.0)


def _norm_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / _SQRT2)


def _intrinsic(forward: float, strike: float, is_call: bool) -> float:
    return max(forward - strike, 0.0) if is_call else max(strike - forward, 0.0)


def black76_price(forward: float, strike: float, t_years: float, sigma: float, is_call: bool) -> float:
    """Black-76 price of one option; the intrinsic value when `sigma * sqrt(T)` is zero or negative."""
    if forward <= 0.0 or strike <= 0.0:
        raise ValueError(f"forward and strike must be positive, got F={forward}, K={strike}")
    std_dev = sigma * math.sqrt(max(t_years, 0.0))
    if std_dev <= _MIN_STD_DEV:
        return _intrinsic(forward, strike, is_call)
    d1 = math.log(forward / strike) / std_dev + 0.5 * std_dev
    d2 = d1 - std_dev
    if is_call:
        price = forward * _norm_cdf(d1) - strike * _norm_cdf(d2)
    else:
        price = strike * _norm_cdf(-d2) - forward * _norm_cdf(-d1)
    return max(price, _intrinsic(forward, strike, is_call))


def _d1_std(
    forward: float | FloatArray, strike: FloatArray, t_years: FloatArray, sigma: FloatArray
) -> tuple[FloatArray, FloatArray, BoolArray | None]:
    """d1 and the total deviation; `tiny` marks entries at the intrinsic limit (None when there are none)."""
    std_dev = np.asarray(sigma, dtype=np.float64) * np.sqrt(np.maximum(t_years, 0.0))
    log_moneyness = np.log(forward / np.asarray(strike, dtype=np.float64))
    tiny: BoolArray | None = None
    if std_dev.size and float(std_dev.min()) <= _MIN_STD_DEV:
        tiny = std_dev <= _MIN_STD_DEV
        std_dev = np.where(tiny, 1.0, std_dev)  # a harmless divisor; those entries are replaced later
    d1: FloatArray = log_moneyness / std_dev + 0.5 * std_dev
    return d1, std_dev, tiny


def black76_prices_from_std_dev(
    forward: float | FloatArray, strike: FloatArray, log_moneyness: FloatArray, std_dev: FloatArray, sign: FloatArray,
    *, scale: float = 1.0,
) -> FloatArray:
    """Prices from `ln(F/K)`, total deviation `sigma*sqrt(T)` (> 0) and `sign` (+1 call, -1 put), times `scale`.

    The unguarded form for callers that already hold these (the market simulator prices every contract at every
    tick with it, in price ticks): no checks, no intrinsic floor, so a deep option can come out a rounding error
    below intrinsic. In place on its own temporaries, as the arrays are large.
    """
    # One expression for both rights: sign*(F N(sign d1) - K N(sign d2)).
    d1 = log_moneyness / std_dev
    d1 += std_dev * 0.5
    d2 = d1 - std_dev
    d1 *= sign
    ndtr(d1, out=d1)
    d1 *= forward
    d2 *= sign
    ndtr(d2, out=d2)
    d2 *= strike
    d1 -= d2
    d1 *= sign * scale if scale != 1.0 else sign
    return d1


def black76_prices(
    forward: float | FloatArray,
    strike: FloatArray,
    t_years: FloatArray,
    sigma: FloatArray,
    is_call: BoolArray,
) -> FloatArray:
    """Vectorised `black76_price` over arrays that broadcast together."""
    d1, std_dev, tiny = _d1_std(forward, strike, t_years, sigma)
    d2 = d1 - std_dev
    sign = np.where(is_call, 1.0, -1.0)
    price: FloatArray = sign * (forward * ndtr(sign * d1) - strike * ndtr(sign * d2))
    intrinsic = np.maximum(sign * (forward - strike), 0.0)
    price = np.maximum(price, intrinsic)  # rounding can put a deep option a hair under intrinsic
    if tiny is not None:
        price = np.where(tiny, intrinsic, price)
    return price


def black76_delta_scalar(forward: float, strike: float, t_years: float, sigma: float, is_call: bool) -> float:
    """`black76_delta` for one contract, in floats: N(d1) for a call, N(d1) - 1 for a put; a step at the strike at
    expiry."""
    std_dev = sigma * math.sqrt(max(t_years, 0.0))
    if std_dev <= _MIN_STD_DEV:
        n_d1 = 1.0 if forward > strike else 0.0 if forward < strike else 0.5
    else:
        n_d1 = _norm_cdf(math.log(forward / strike) / std_dev + 0.5 * std_dev)
    return n_d1 if is_call else n_d1 - 1.0


def black76_delta(
    forward: float | FloatArray,
    strike: FloatArray,
    t_years: FloatArray,
    sigma: FloatArray,
    is_call: BoolArray,
) -> FloatArray:
    """Vectorised forward delta: N(d1) for a call, N(d1) - 1 for a put; a step at the strike at expiry."""
    d1, _, tiny = _d1_std(forward, strike, t_years, sigma)
    n_d1 = ndtr(d1)
    if tiny is not None:
        at_expiry = np.where(forward > strike, 1.0, np.where(forward < strike, 0.0, 0.5))
        n_d1 = np.where(tiny, at_expiry, n_d1)
    delta: FloatArray = np.where(is_call, n_d1, n_d1 - 1.0)
    return delta
