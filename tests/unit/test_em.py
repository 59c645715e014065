"""EM recovers the m-probabilities and the match share of a table of comparison patterns
drawn from known m and u."""

from __future__ import annotations

import numpy as np
import pytest

from idres_spark.probabilistic import em

M = [np.array([0.05, 0.15, 0.8]), np.array([0.1, 0.9]), np.array([0.2, 0.3, 0.5])]
U = [np.array([0.9, 0.08, 0.02]), np.array([0.95, 0.05]), np.array([0.7, 0.25, 0.05])]


def patterns(n_pairs: int, share: float, seed: int, null_rate: float = 0.1):
    rng = np.random.default_rng(seed)
    is_match = rng.random(n_pairs) < share
    cols = []
    for m, u in zip(M, U, strict=True):
        level_m = rng.choice(len(m), size=n_pairs, p=m)
        level_u = rng.choice(len(u), size=n_pairs, p=u)
        col = np.where(is_match, level_m, level_u)
        col[rng.random(n_pairs) < null_rate] = -1
        cols.append(col)
    table = np.stack(cols, axis=1)
    unique, counts = np.unique(table, axis=0, return_counts=True)
    return unique, counts


@pytest.mark.parametrize("share", [0.05, 0.3])
def test_em_recovers_known_m_and_share(share):
    levels, counts = patterns(400_000, share, seed=7)
    assert len(levels) < 60  # the driver iterates on patterns, not pairs
    start = [np.full(len(m), 1 / len(m)) + np.eye(len(m))[-1] for m in M]
    start = [s / s.sum() for s in start]
    result = em.fit(levels, counts, U, start, [True, True, True], max_iterations=200,
                    smoothing=0.0)  # fmt: skip
    assert result.converged
    assert result.match_share == pytest.approx(share, abs=0.01)
    for got, want in zip(result.m, M, strict=True):
        np.testing.assert_allclose(got, want, atol=0.02)


def test_a_left_out_comparison_is_not_estimated_and_smoothing_keeps_levels_above_zero():
    levels, counts = patterns(50_000, 0.2, seed=3)
    levels[:, 0] = np.where(levels[:, 0] == 0, 1, levels[:, 0])  # level 0 never seen
    start = [np.full(len(m), 1 / len(m)) for m in M]
    result = em.fit(levels, counts, U, start, [True, False, True], max_iterations=100)
    assert result.m[1] is None
    assert result.m[0][0] > 0
    assert result.m[0].sum() == pytest.approx(1.0)


def test_iteration_cap_is_reported():
    levels, counts = patterns(20_000, 0.2, seed=1)
    start = [np.full(len(m), 1 / len(m)) for m in M]
    result = em.fit(levels, counts, U, start, [True, True, True], max_iterations=2)
    assert (result.iterations, result.converged) == (2, False)


def test_combine_takes_the_median_per_level_and_falls_back():
    a, b, c = np.array([0.1, 0.9]), np.array([0.2, 0.8]), np.array([0.6, 0.4])
    fallback = [np.array([0.5, 0.5]), np.array([0.3, 0.7])]
    got = em.combine([[a, None], [b, None], [c, None]], fallback)
    np.testing.assert_allclose(got[0], [0.2, 0.8])
    np.testing.assert_allclose(got[1], [0.3, 0.7])
