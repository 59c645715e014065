"""Expectation-maximisation of Fellegi-Sunter m-probabilities on comparison-pattern counts.

The pairs of a training session are reduced to their distinct comparison patterns (one level
per comparison, -1 where a comparison has no value) and counts: a few hundred rows, so the
iterations run on the driver with NumPy. The u-probabilities are held fixed (estimated from
value counts and random pairs, :mod:`idres_spark.probabilistic.train`); EM estimates the m of
the comparisons the session does not block on, and the session's share of matches.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class EmResult:
    m: list[np.ndarray | None]  # per comparison: m per level (None: left out of the session)
    match_share: float  # the session's estimated share of matching pairs
    iterations: int
    converged: bool


def fit(
    levels: np.ndarray,
    counts: np.ndarray,
    u: list[np.ndarray],
    m_start: list[np.ndarray],
    active: list[bool],
    *,
    share_start: float = 0.3,
    max_iterations: int = 30,
    tolerance: float = 1e-5,
    smoothing: float = 1.0,
) -> EmResult:
    """m per level of every ``active`` comparison, by EM over ``levels`` (patterns x
    comparisons, -1: no value) weighted by ``counts``.

    ``smoothing`` is a pseudo-count of pairs added to every level of a comparison before it
    is normalized, so no level ends at m = 0 (a weight of minus infinity) because the session
    happened to hold no match there. Stops when no m moves by more than ``tolerance``, or
    after ``max_iterations`` (``converged`` False)."""
    levels = np.asarray(levels, dtype=np.int64)
    counts = np.asarray(counts, dtype=np.float64)
    m = [np.asarray(x, dtype=np.float64).copy() for x in m_start]
    share = float(share_start)
    converged = False
    iterations = 0
    for iterations in range(1, max_iterations + 1):  # noqa: B007 - reported after the loop
        log_m = np.zeros(len(counts))
        log_u = np.zeros(len(counts))
        for c, on in enumerate(active):
            if not on:
                continue
            col = levels[:, c]
            seen = col >= 0
            log_m[seen] += np.log(m[c][col[seen]])
            log_u[seen] += np.log(u[c][col[seen]])
        # P(match | pattern), computed in log space: products of many small u underflow
        a = np.log(share) + log_m
        b = np.log1p(-share) + log_u
        top = np.maximum(a, b)
        posterior = np.exp(a - top) / (np.exp(a - top) + np.exp(b - top))
        weighted = posterior * counts
        new_share = float(weighted.sum() / counts.sum())
        moved = abs(new_share - share)
        new_m: list[np.ndarray] = []
        for c, on in enumerate(active):
            if not on:
                new_m.append(m[c])
                continue
            col = levels[:, c]
            seen = col >= 0
            totals = np.bincount(col[seen], weights=weighted[seen], minlength=len(m[c]))
            estimate = (totals + smoothing / len(m[c])) / (totals.sum() + smoothing)
            moved = max(moved, float(np.abs(estimate - m[c]).max()))
            new_m.append(estimate)
        m, share = new_m, min(max(new_share, 1e-9), 1 - 1e-9)
        if moved < tolerance:
            converged = True
            break
    return EmResult(
        m=[m[c] if on else None for c, on in enumerate(active)],
        match_share=share,
        iterations=iterations,
        converged=converged,
    )


def combine(
    estimates: list[list[np.ndarray | None]], fallback: list[np.ndarray]
) -> list[np.ndarray]:
    """Per comparison, the median over the sessions that estimated it of each level's m,
    normalized to sum to 1; ``fallback`` where no session did."""
    out = []
    for c, default in enumerate(fallback):
        found = [e[c] for e in estimates if e[c] is not None]
        if not found:
            out.append(np.asarray(default, dtype=np.float64))
            continue
        median = np.median(np.vstack(found), axis=0)
        out.append(median / median.sum())
    return out
