"""Named, seeded random streams: reproducible, independent by name, and unaffected by creation order."""

from __future__ import annotations

import numpy as np
import pytest

from imperium_desk.rng import BufferedDraws, RandomStreams

N_DRAWS = 100_000


def draws(seed: int, *name: str, n: int = 8) -> list[float]:
    return [float(x) for x in RandomStreams(seed).stream(*name).random(n)]


def test_same_seed_and_name_give_identical_draws() -> None:
    assert draws(7, "latency", "NIFTY") == draws(7, "latency", "NIFTY")


def test_different_names_give_different_draws() -> None:
    assert draws(7, "latency", "NIFTY") != draws(7, "latency", "BANKNIFTY")


def test_name_parts_are_not_concatenated_ambiguously() -> None:
    assert draws(7, "ab", "c") != draws(7, "a", "bc")


def test_different_root_seeds_give_different_draws() -> None:
    assert draws(7, "latency", "NIFTY") != draws(8, "latency", "NIFTY")


def test_creating_other_streams_first_does_not_change_a_streams_draws() -> None:
    alone = RandomStreams(7)
    crowded = RandomStreams(7)
    crowded.stream("slippage", "NIFTY").random(100)
    crowded.stream("market")
    expected = alone.stream("latency", "NIFTY").random(8).tolist()
    assert crowded.stream("latency", "NIFTY").random(8).tolist() == expected


def test_asking_for_a_stream_twice_returns_the_same_generator() -> None:
    streams = RandomStreams(7)
    assert streams.stream("latency", "NIFTY") is streams.stream("latency", "NIFTY")


def test_negative_seed_is_rejected() -> None:
    with pytest.raises(ValueError, match="-1"):
        RandomStreams(-1)


def test_zero_seed_is_accepted() -> None:
    assert len(draws(0, "x")) == 8


# --- BufferedDraws -----------------------------------------------------------------------------------


def buffered(seed: int = 11, block: int = 1024) -> BufferedDraws:
    return RandomStreams(seed).buffered("test", "buffered", block=block)


def test_buffered_uniforms_lie_in_the_unit_interval() -> None:
    draws_ = buffered()
    values = np.array([draws_.uniform() for _ in range(N_DRAWS)])
    assert values.min() >= 0.0
    assert values.max() < 1.0
    assert abs(values.mean() - 0.5) < 0.02


def test_buffered_normals_have_zero_mean_and_unit_std() -> None:
    draws_ = buffered()
    values = np.array([draws_.normal() for _ in range(N_DRAWS)])
    assert abs(values.mean()) < 0.02
    assert abs(values.std() - 1.0) < 0.02


def test_buffered_draws_are_reproducible_for_the_same_seed() -> None:
    first, second = buffered(seed=5, block=16), buffered(seed=5, block=16)
    # Interleave the two kinds and cross block boundaries (block=16, 50 draws of each).
    a = [(first.uniform(), first.normal()) for _ in range(50)]
    b = [(second.uniform(), second.normal()) for _ in range(50)]
    assert a == b


def test_buffered_draws_differ_for_different_seeds() -> None:
    five, six = buffered(seed=5), buffered(seed=6)
    assert [five.normal() for _ in range(4)] != [six.normal() for _ in range(4)]


def test_buffered_uniforms_follow_the_generators_order() -> None:
    expected = RandomStreams(3).stream("test", "buffered").random(20).tolist()
    draws_ = RandomStreams(3).buffered("test", "buffered", block=8)
    assert [draws_.uniform() for _ in range(20)] == expected
