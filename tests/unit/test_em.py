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


def test_sampled_u_smooths_every_level_by_half_a_pair():
    """u per level from random-pair patterns: half a pair added to each level, so a level the
    sample never met weighs a third of one it met once; pairs without a value do not count."""
    from idres_spark.probabilistic import comparisons as CMP
    from idres_spark.probabilistic.comparisons import NO_VALUE
    from idres_spark.probabilistic.train import sampled_u

    user = CMP.user_id()  # two levels: else, equal
    levels = np.array([[0], [1], [NO_VALUE]])
    counts = np.array([99.0, 1.0, 100.0])
    (u,), (share,) = sampled_u(levels, counts, [user])
    assert u == pytest.approx([99.5 / 101, 1.5 / 101])
    assert share == pytest.approx(0.5)
    (never,), _ = sampled_u(np.array([[0]]), np.array([100.0]), [user])
    assert u[1] / never[1] == pytest.approx(3)  # 1.5 / 0.5 of the same 101


def test_exact_levels_take_their_counted_u_and_the_rest_share_what_is_left():
    from idres_spark.probabilistic.train import with_exact_levels

    sampled = np.array([0.5, 0.3, 0.2, 0.0, 0.0])
    # the top level's key is shared by 1e-4 of the pairs, the next level's (which a top-level
    # pair also shares) by 1e-3
    u = with_exact_levels(sampled, {4: 1e-4, 3: 1e-3})
    assert u[4] == pytest.approx(1e-4)
    assert u[3] == pytest.approx(9e-4)
    assert u[:3] == pytest.approx(np.array([0.5, 0.3, 0.2]) * (1 - 1e-3))
    assert u.sum() == pytest.approx(1.0)


def test_exact_levels_must_sit_just_below_an_exact_top():
    from idres_spark.probabilistic.comparisons import Comparison

    def key(suffix):  # a Column in the job; its name here (no session needed)
        return "x" + suffix

    ok = Comparison("c", ("else", "near", "same"), ("x",), lambda: None, key,
                    exact_below=((1, key),))  # fmt: skip
    assert ok.exact_keys("_l") == {1: "x_l", 2: "x_l"}
    with pytest.raises(ValueError, match="just below an exact top"):
        Comparison("c", ("else", "a", "b", "same"), ("x",), lambda: None, key,
                   exact_below=((1, key),))  # fmt: skip
