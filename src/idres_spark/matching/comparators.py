"""Pair comparators: the comparator semantics the rule engine documents.

Every function takes two equal-length columns of already-normalized strings (the left and right
side of each candidate pair: pandas Series, NumPy arrays, sequences, or Arrow string arrays as an
Arrow UDF receives them) and returns one NumPy value per pair, positionally (the Series indexes
are ignored). They are plain pandas/NumPy/Arrow code, meant to run inside a Spark vectorized UDF
on an Arrow batch, and are vectorized with ``rapidfuzz.process.cpdist``.

Null rule: a pair where either side is null (None, NaN, ``pd.NA``) or the empty string never
matches. It scores NaN, is not ``within_edits``/``similar``, and has edit distance -1. Such rows
are masked out before scoring, so they cost nothing and no placeholder string is compared.

Methods (scores are float64 in [0, 1]; strings are compared exactly as given):

- ``levenshtein``: 1 - distance / max(len(a), len(b)) (unit-cost insert/delete/substitute,
  counted in Unicode code points, so "zoë" vs "zoe" is one edit).
- ``jaro_winkler``: Jaro-Winkler similarity, prefix weight 0.1 (rapidfuzz default).
- ``token_set``: ``fuzz.token_set_ratio`` / 100 with rapidfuzz's default (no) preprocessing; 1.0
  whenever one side's whitespace tokens are a subset of the other's.

``workers`` is passed to rapidfuzz; keep the default 1 inside Spark (one Python worker per core).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence, Sized
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from rapidfuzz import fuzz, process
from rapidfuzz.distance import JaroWinkler, Levenshtein

METHODS = ("levenshtein", "jaro_winkler", "token_set")

# method -> (rapidfuzz scorer, divisor that maps its score onto [0, 1])
_SCORERS: dict[str, tuple[Callable[..., Any], float]] = {
    "levenshtein": (Levenshtein.normalized_similarity, 1.0),
    "jaro_winkler": (JaroWinkler.normalized_similarity, 1.0),
    "token_set": (fuzz.token_set_ratio, 100.0),
}

ArrayLike = pd.Series | np.ndarray | pa.Array | pa.ChunkedArray | Sequence[Any]


def _present(values: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """The values as an object array, and the mask of entries that are neither null nor ""."""
    series = values if isinstance(values, pd.Series) else pd.Series(values, dtype=object)
    arr = series.to_numpy(dtype=object)  # no copy for the object columns Spark hands over
    try:
        # "" and None are falsy; NaN/NaT are the only values not equal to themselves. Two cheap
        # C loops, about 3x faster than pd.isna(arr) plus an == "" pass.
        return arr, arr.astype(bool) & np.equal(arr, arr)
    except TypeError:  # pd.NA (nullable string dtypes) refuses bool(): map nulls to None first
        arr = series.to_numpy(dtype=object, na_value=None)
        return arr, arr.astype(bool)


def _present_arrow(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Arrow bool mask of string entries that are neither null nor "" (no Python objects)."""
    return pc.fill_null(pc.greater(pc.binary_length(values), 0), False)


def _as_objects(values: Any) -> np.ndarray:
    """One chunk of present values as an object array of Python strings."""
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return values.to_numpy(zero_copy_only=False)
    return values


def _check_same_length(left: Sized, right: Sized) -> None:
    if len(left) != len(right):
        raise ValueError(
            f"left and right must have the same length, got {len(left)} and {len(right)}"
        )


def _pairs(left: ArrayLike, right: ArrayLike) -> tuple[Any, Any, np.ndarray | None]:
    """The present pairs (both sides neither null nor ""), left and right, and the mask that
    selects them (None when every pair is present).

    Arrow arrays (what an Arrow UDF receives) are masked and filtered in Arrow and stay Arrow:
    :func:`_score` turns them into Python strings one chunk at a time, so only the pairs that
    are scored pay for conversion. Anything else comes back as object arrays.
    """
    arrow = (pa.Array, pa.ChunkedArray)
    if isinstance(left, arrow) and isinstance(right, arrow):
        _check_same_length(left, right)
        both = pc.and_(_present_arrow(left), _present_arrow(right))
        if pc.all(both).as_py() is not False:  # every pair present (or an empty batch)
            return left, right, None
        mask = both.to_numpy(zero_copy_only=False)
        return left.filter(both), right.filter(both), mask
    (lv, lmask), (rv, rmask) = _present(left), _present(right)
    _check_same_length(lv, rv)
    mask = lmask & rmask
    if mask.all():
        return lv, rv, None
    return lv[mask], rv[mask], mask


# Pairs per cpdist call. Strings made and scored a few thousand at a time stay in the CPU
# cache: on 100,000-pair Arrow batches, chunks of 4,096 score twice as fast as one call over
# the whole batch (docs/benchmarks.md).
CHUNK = 4096


def _score(
    left: ArrayLike,
    right: ArrayLike,
    scorer: Callable[..., Any],
    dtype: type[np.generic],
    fill: float | int,
    workers: int,
    **kwargs: Any,
) -> np.ndarray:
    """Run ``cpdist`` on the present pairs only, chunk by chunk, and scatter the results back."""
    lv, rv, mask = _pairs(left, right)
    scores = np.empty(len(lv), dtype=dtype)
    for start in range(0, len(lv), CHUNK):
        stop = min(start + CHUNK, len(lv))
        scores[start:stop] = process.cpdist(
            _as_objects(lv[start:stop]),
            _as_objects(rv[start:stop]),
            scorer=scorer,
            dtype=dtype,
            workers=workers,
            **kwargs,
        )
    if mask is None:  # common case: no scatter copy
        return scores
    out = np.full(len(mask), fill, dtype=dtype)
    out[mask] = scores
    return out


def _scorer_for(method: str) -> tuple[Callable[..., Any], float]:
    try:
        return _SCORERS[method]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown comparator method {method!r}; expected one of {', '.join(METHODS)}"
        ) from None


def similarity(left: ArrayLike, right: ArrayLike, method: str, *, workers: int = 1) -> np.ndarray:
    """float64 similarity in [0, 1] per pair; NaN where either side is null or empty."""
    scorer, divisor = _scorer_for(method)
    scores = _score(left, right, scorer, np.float64, np.nan, workers)
    if divisor != 1.0:
        scores /= divisor
    return scores


def similar(
    left: ArrayLike, right: ArrayLike, method: str, minimum: float, *, workers: int = 1
) -> np.ndarray:
    """bool per pair: ``similarity(left, right, method) >= minimum``; False on null/empty."""
    _scorer_for(method)  # fail on the method before validating the threshold
    if isinstance(minimum, bool) or not isinstance(minimum, int | float | np.number):
        raise ValueError(f"minimum must be a number in [0, 1], got {minimum!r}")
    if math.isnan(minimum) or not 0.0 <= minimum <= 1.0:
        raise ValueError(f"minimum must be in [0, 1], got {minimum!r}")
    # NaN >= minimum is False, so null pairs never match.
    return similarity(left, right, method, workers=workers) >= minimum


def edit_distance(left: ArrayLike, right: ArrayLike, *, workers: int = 1) -> np.ndarray:
    """int64 Levenshtein distance per pair; -1 where either side is null or empty."""
    return _score(left, right, Levenshtein.distance, np.int64, -1, workers)


def within_edits(
    left: ArrayLike, right: ArrayLike, max_edits: int = 1, *, workers: int = 1
) -> np.ndarray:
    """bool per pair: Levenshtein distance <= ``max_edits``; False on null/empty."""
    if isinstance(max_edits, bool) or not isinstance(max_edits, int | np.integer) or max_edits < 0:
        raise ValueError(f"max_edits must be a non-negative integer, got {max_edits!r}")
    # With score_cutoff rapidfuzz stops early and reports max_edits + 1 for anything farther.
    distances = _score(
        left, right, Levenshtein.distance, np.int64, -1, workers, score_cutoff=int(max_edits)
    )
    return (distances >= 0) & (distances <= max_edits)
