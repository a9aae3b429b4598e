"""The simulated market's standardised draws: chunk invariance, addressable depth books, and the transforms."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import poisson

from imperium_desk.market.blocks import DepthStream
from imperium_desk.market.draws import (
    POISSON_INVERSION_MAX,
    gamma_from_uniforms,
    poisson_from_uniform,
    standard_normals,
)
from imperium_desk.rng import RandomStreams

CHUNKS = (1, 7, 3, 64, 1, 129, 795)  # 1,000 draws in uneven pieces


def _in_chunks(draw: str, **kwargs: float) -> tuple[np.ndarray, np.ndarray]:
    whole = getattr(RandomStreams(5).stream("chunks"), draw)(size=sum(CHUNKS), **kwargs)
    gen = RandomStreams(5).stream("chunks")
    pieces = np.concatenate([getattr(gen, draw)(size=n, **kwargs) for n in CHUNKS])
    return whole, pieces


@pytest.mark.parametrize("draw", ["standard_normal", "random"])
def test_drawing_in_chunks_gives_the_same_numbers_as_drawing_at_once(draw: str) -> None:
    whole, pieces = _in_chunks(draw)
    assert np.array_equal(whole, pieces)


def test_standard_gamma_of_a_fixed_shape_is_chunk_invariant() -> None:
    whole, pieces = _in_chunks("standard_gamma", shape=4.0)
    assert np.array_equal(whole, pieces)


def test_uniforms_drawn_into_slices_of_a_block_are_the_sequential_draws() -> None:
    out = np.zeros((6, 3))
    gen = RandomStreams(5).stream("chunks")
    gen.random(out=out[:2])
    gen.random(out=out[2:])
    assert np.array_equal(out, RandomStreams(5).stream("chunks").random((6, 3)))


def _depth(width: int = 10) -> DepthStream:
    return DepthStream(RandomStreams(3).stream("market-depth", "X"), width)


def test_a_depth_book_read_directly_equals_the_same_book_read_in_sequence() -> None:
    sequential = RandomStreams(3).stream("market-depth", "X").random((40, 10))
    assert np.array_equal(_depth().read(25, 5), sequential[25:30])


def test_depth_books_can_be_read_again_backwards() -> None:
    stream = _depth()
    later = stream.read(30, 4)
    earlier = stream.read(2, 3)
    assert np.array_equal(stream.read(30, 4), later)
    assert np.array_equal(stream.read(2, 3), earlier)


def test_a_depth_stream_needs_a_generator_it_can_advance() -> None:
    with pytest.raises(TypeError):
        DepthStream(np.random.Generator(np.random.MT19937(1)), 10)


def test_poisson_by_inversion_is_the_exact_quantile_below_the_threshold() -> None:
    gen = np.random.default_rng(1)
    lam = gen.random((60, 50)) * POISSON_INVERSION_MAX
    u = gen.random((60, 50))
    assert np.array_equal(poisson_from_uniform(u, lam), poisson.ppf(u, lam).astype(np.int64))


def test_a_poisson_count_depends_only_on_its_own_uniform_and_mean() -> None:
    gen = np.random.default_rng(2)
    lam = np.concatenate((gen.random(40) * 3, gen.random(10) * 1000))  # inversion and the normal expansion
    u = gen.random(50)
    together = poisson_from_uniform(u, lam)
    alone = [int(poisson_from_uniform(u[i : i + 1], lam[i : i + 1])[0]) for i in range(50)]
    assert together.tolist() == alone


@pytest.mark.parametrize("lam", [0.3, 5.0, 45.0, 2000.0, 225_000.0])
def test_poisson_counts_have_the_mean_and_variance_of_the_distribution(lam: float) -> None:
    counts = poisson_from_uniform(np.random.default_rng(3).random(400_000), np.full(400_000, lam))
    assert counts.mean() == pytest.approx(lam, rel=0.01)
    assert counts.var() == pytest.approx(lam, rel=0.02)
    assert counts.min() >= 0


def test_box_muller_normals_are_standard() -> None:
    z = standard_normals(np.random.default_rng(4).random((200_000, 10)))
    assert z.mean() == pytest.approx(0.0, abs=0.005)
    assert z.std() == pytest.approx(1.0, abs=0.005)


def test_depth_gammas_have_the_shape_four_mean_and_variance() -> None:
    g = gamma_from_uniforms(np.random.default_rng(5).random((200_000, 10)), 4.0)
    assert g.min() >= 0.0
    assert g.mean() == pytest.approx(4.0, rel=0.005)
    assert g.var() == pytest.approx(4.0, rel=0.02)
