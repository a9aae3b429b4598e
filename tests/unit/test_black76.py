"""Black-76 on the forward with zero rates: known values, parity, limits, scalar/vector agreement."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from imperium_desk.market.black76 import (
    black76_delta,
    black76_delta_scalar,
    black76_price,
    black76_prices,
    black76_prices_from_std_dev,
)


def _arrays(*values: float) -> np.ndarray:
    return np.array(values, dtype=np.float64)


def test_atm_call_matches_closed_form() -> None:
    # At the money the call is F * (2 N(sigma sqrt(T) / 2) - 1).
    expected = 100.0 * (2.0 * 0.5 * math.erfc(-0.1 / math.sqrt(2.0)) - 1.0)
    assert black76_price(100.0, 100.0, 1.0, 0.2, True) == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(7.965567455405804, rel=1e-12)


def test_known_out_of_the_money_values() -> None:
    # F=100, K=110, T=0.5, sigma=0.25: reference values computed with scipy.stats.norm.
    assert black76_price(100.0, 110.0, 0.5, 0.25, True) == pytest.approx(3.4412147064, rel=1e-8)
    assert black76_price(100.0, 110.0, 0.5, 0.25, False) == pytest.approx(13.4412147064, rel=1e-8)


@given(
    forward=st.floats(1.0, 1e5),
    moneyness=st.floats(0.5, 2.0),
    t_years=st.floats(1e-6, 2.0),
    sigma=st.floats(0.01, 2.0),
)
def test_put_call_parity_holds(forward: float, moneyness: float, t_years: float, sigma: float) -> None:
    strike = forward * moneyness
    call = black76_price(forward, strike, t_years, sigma, True)
    put = black76_price(forward, strike, t_years, sigma, False)
    assert call - put == pytest.approx(forward - strike, abs=1e-9 * forward)


def test_vectorised_prices_match_scalar_prices() -> None:
    strikes = _arrays(80.0, 95.0, 100.0, 105.0, 130.0, 80.0, 100.0, 130.0)
    t_years = np.full(8, 0.1)
    sigmas = _arrays(0.3, 0.2, 0.15, 0.2, 0.4, 0.3, 0.15, 0.4)
    is_call = np.array([True] * 5 + [False] * 3)
    vector = black76_prices(100.0, strikes, t_years, sigmas, is_call)
    scalar = [
        black76_price(100.0, k, t, s, c)
        for k, t, s, c in zip(
            strikes.tolist(), t_years.tolist(), sigmas.tolist(), is_call.tolist(), strict=True
        )
    ]
    np.testing.assert_allclose(vector, scalar, rtol=1e-12, atol=1e-12)


def test_vectorised_put_call_parity() -> None:
    strikes = np.linspace(20000.0, 32000.0, 25)
    t_years = np.full(25, 2.0 / 365.0)
    sigmas = np.full(25, 0.14)
    calls = black76_prices(26000.0, strikes, t_years, sigmas, np.ones(25, dtype=bool))
    puts = black76_prices(26000.0, strikes, t_years, sigmas, np.zeros(25, dtype=bool))
    np.testing.assert_allclose(calls - puts, 26000.0 - strikes, atol=1e-7)


def test_expired_or_zero_vol_options_are_worth_intrinsic_without_nan() -> None:
    strikes = _arrays(90.0, 100.0, 110.0, 90.0, 100.0, 110.0)
    is_call = np.array([True, True, True, False, False, False])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a division by zero would warn
        at_expiry = black76_prices(100.0, strikes, np.zeros(6), np.full(6, 0.2), is_call)
        zero_vol = black76_prices(100.0, strikes, np.full(6, 1.0), np.zeros(6), is_call)
        deltas = black76_delta(100.0, strikes, np.zeros(6), np.full(6, 0.2), is_call)
    intrinsic = [10.0, 0.0, 0.0, 0.0, 0.0, 10.0]
    np.testing.assert_array_equal(at_expiry, intrinsic)
    np.testing.assert_array_equal(zero_vol, intrinsic)
    np.testing.assert_array_equal(deltas, [1.0, 0.5, 0.0, 0.0, -0.5, -1.0])
    assert black76_price(100.0, 90.0, 0.0, 0.2, True) == 10.0


def test_tiny_time_to_expiry_approaches_intrinsic() -> None:
    one_second = 1.0 / (365 * 24 * 3600)
    price = black76_price(26000.0, 25900.0, one_second, 0.14, True)
    assert price == pytest.approx(100.0, abs=1e-6)


def test_call_delta_minus_put_delta_is_one() -> None:
    strikes = np.linspace(90.0, 110.0, 9)
    t_years = np.full(9, 0.25)
    sigmas = np.full(9, 0.2)
    calls = black76_delta(100.0, strikes, t_years, sigmas, np.ones(9, dtype=bool))
    puts = black76_delta(100.0, strikes, t_years, sigmas, np.zeros(9, dtype=bool))
    np.testing.assert_allclose(calls - puts, 1.0, atol=1e-12)
    assert np.all((calls > 0) & (calls < 1))


def test_delta_is_the_price_slope_in_the_forward() -> None:
    strikes, t_years, sigmas, calls = _arrays(105.0), _arrays(0.25), _arrays(0.2), np.array([True])
    bump = 1e-4
    up = black76_prices(100.0 + bump, strikes, t_years, sigmas, calls)
    down = black76_prices(100.0 - bump, strikes, t_years, sigmas, calls)
    slope = (up - down) / (2 * bump)
    np.testing.assert_allclose(black76_delta(100.0, strikes, t_years, sigmas, calls), slope, rtol=1e-6)


def test_hot_path_form_matches_guarded_prices() -> None:
    strikes = np.linspace(24000.0, 28000.0, 17)
    t_years = np.full(17, 5.0 / 365.0)
    sigmas = np.full(17, 0.15)
    is_call = np.arange(17) % 2 == 0
    std_dev = sigmas * np.sqrt(t_years)
    fast = black76_prices_from_std_dev(
        26000.0, strikes, np.log(26000.0 / strikes), std_dev, np.where(is_call, 1.0, -1.0)
    )
    np.testing.assert_allclose(fast, black76_prices(26000.0, strikes, t_years, sigmas, is_call), atol=1e-9)


def test_non_positive_forward_or_strike_is_rejected() -> None:
    with pytest.raises(ValueError, match="forward and strike"):
        black76_price(0.0, 100.0, 1.0, 0.2, True)


@given(
    forward=st.floats(10.0, 100_000.0),
    strike=st.floats(10.0, 100_000.0),
    t_years=st.floats(0.0, 2.0),
    sigma=st.floats(0.01, 3.0),
    is_call=st.booleans(),
)
def test_the_scalar_delta_is_the_vectorised_delta(
    forward: float, strike: float, t_years: float, sigma: float, is_call: bool
) -> None:
    vectorised = black76_delta(forward, np.array([strike]), np.array([t_years]), np.array([sigma]), np.array([is_call]))
    assert black76_delta_scalar(forward, strike, t_years, sigma, is_call) == pytest.approx(float(vectorised[0]),
                                                                                           abs=1e-12)
