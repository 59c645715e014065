"""Pair comparators: known values, null rule, unicode, boundaries, and a Levenshtein oracle."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from idres_spark.matching.comparators import (
    METHODS,
    edit_distance,
    similar,
    similarity,
    within_edits,
)

NULLS = [None, np.nan, pd.NA, ""]


def s(*values):
    return pd.Series(list(values), dtype=object)


def levenshtein_oracle(a: str, b: str) -> int:
    """Textbook Wagner-Fischer DP, unit costs, over code points."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


# --- known values -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "a", "b", "expected"),
    [
        ("levenshtein", "kitten", "sitting", 1 - 3 / 7),
        ("levenshtein", "abc", "abc", 1.0),
        ("levenshtein", "abc", "xyz", 0.0),
        ("jaro_winkler", "martha", "marhta", 0.9611111),
        ("jaro_winkler", "dixon", "dicksonx", 0.8133333),
        ("jaro_winkler", "abc", "abc", 1.0),
        ("token_set", "new york mets", "new york mets vs atlanta", 1.0),
        ("token_set", "smith john", "john smith", 1.0),
        ("token_set", "abc", "xyz", 0.0),
    ],
)
def test_known_values(method, a, b, expected):
    got = similarity(s(a), s(b), method)
    assert got.dtype == np.float64
    assert got[0] == pytest.approx(expected, abs=1e-6)


def test_returns_one_score_per_row_positionally():
    left = pd.Series(["kitten", "martha"], index=[10, 20])
    right = pd.Series(["sitting", "martha"], index=[20, 10])  # index ignored on purpose
    got = similarity(left, right, "levenshtein")
    np.testing.assert_allclose(got, [1 - 3 / 7, 1.0])


def test_edit_distance_known_values():
    got = edit_distance(s("kitten", "flaw", "abc"), s("sitting", "lawn", "abc"))
    assert got.dtype == np.int64
    assert got.tolist() == [3, 2, 0]


def test_case_is_not_normalized():
    assert similarity(s("ABC"), s("abc"), "levenshtein")[0] == 0.0
    assert edit_distance(s("Ann"), s("ann"))[0] == 1


# --- null rule ----------------------------------------------------------------------------


@pytest.mark.parametrize("null", NULLS, ids=repr)
@pytest.mark.parametrize("side", ["left", "right", "both"])
def test_null_or_empty_never_matches(null, side):
    present = s("anna", "anna")
    nulled = s(null, "anna")
    left, right = {
        "left": (nulled, present),
        "right": (present, nulled),
        "both": (nulled, nulled),
    }[side]
    for method in METHODS:
        scores = similarity(left, right, method)
        assert np.isnan(scores[0]) and scores[1] == 1.0
        assert similar(left, right, method, 0.0).tolist() == [False, True]
    assert edit_distance(left, right).tolist() == [-1, 0]
    assert within_edits(left, right, 5).tolist() == [False, True]


@pytest.mark.parametrize("dtype", ["string", "string[pyarrow]"])
def test_pandas_string_dtypes_with_na(dtype):
    left = pd.Series(["zoe", None, "", "ann"], dtype=dtype)
    right = pd.Series(["zoë", "ann", "ann", None], dtype=dtype)
    assert edit_distance(left, right).tolist() == [1, -1, -1, -1]
    scores = similarity(left, right, "jaro_winkler")
    assert not np.isnan(scores[0]) and np.isnan(scores[1:]).all()


def test_all_null_float_series():
    nan = pd.Series([np.nan, np.nan])  # what pandas makes of an all-missing column
    assert np.isnan(similarity(nan, s("a", "b"), "levenshtein")).all()
    assert edit_distance(nan, nan).tolist() == [-1, -1]
    assert within_edits(nan, nan).tolist() == [False, False]


def test_null_string_is_not_compared_as_text():
    # a null must not be stringified to "None"/"nan" and then match those words
    assert np.isnan(similarity(s(None, np.nan), s("None", "nan"), "levenshtein")).all()
    assert within_edits(s(None, np.nan), s("None", "nan"), 0).tolist() == [False, False]


# --- unicode ------------------------------------------------------------------------------


def test_unicode_counts_code_points():
    left = s("zoë", "müller", "渡辺", "a😀b")
    right = s("zoe", "muller", "渡边", "ab")
    assert edit_distance(left, right).tolist() == [1, 1, 1, 1]
    assert similarity(s("zoë"), s("zoe"), "levenshtein")[0] == pytest.approx(2 / 3)
    assert within_edits(s("josé"), s("jose"), 1).tolist() == [True]
    assert similarity(s("josé"), s("josé"), "jaro_winkler")[0] == 1.0


# --- shapes and argument errors -----------------------------------------------------------


def test_empty_series():
    empty = pd.Series([], dtype=object)
    for method in METHODS:
        got = similarity(empty, empty, method)
        assert got.dtype == np.float64 and got.shape == (0,)
        got = similar(empty, empty, method, 0.5)
        assert got.dtype == np.bool_ and got.shape == (0,)
    assert edit_distance(empty, empty).dtype == np.int64
    assert edit_distance(empty, empty).shape == (0,)
    got = within_edits(empty, empty)
    assert got.dtype == np.bool_ and got.shape == (0,)


def test_all_null_rows_have_right_dtypes():
    nulls = s(None, "")
    assert similarity(nulls, nulls, "token_set").dtype == np.float64
    assert edit_distance(nulls, nulls).dtype == np.int64
    assert within_edits(nulls, nulls).dtype == np.bool_


@pytest.mark.parametrize(
    "call",
    [
        lambda a, b: similarity(a, b, "levenshtein"),
        lambda a, b: similar(a, b, "jaro_winkler", 0.9),
        lambda a, b: edit_distance(a, b),
        lambda a, b: within_edits(a, b),
    ],
)
def test_mismatched_lengths_raise(call):
    with pytest.raises(ValueError, match="same length"):
        call(s("a", "b"), s("a"))


@pytest.mark.parametrize("bad", ["soundex", "Levenshtein", ""])
def test_unknown_method_raises_naming_it(bad):
    for call in (
        lambda: similarity(s("a"), s("a"), bad),
        lambda: similar(s("a"), s("a"), bad, 0.5),
    ):
        with pytest.raises(ValueError) as info:
            call()
        message = str(info.value)
        assert repr(bad) in message
        assert all(method in message for method in METHODS)


@pytest.mark.parametrize("bad", [-1, 1.5, True, None, "2"])
def test_bad_max_edits_raise(bad):
    with pytest.raises(ValueError, match="max_edits"):
        within_edits(s("a"), s("a"), bad)


@pytest.mark.parametrize("bad", [-0.1, 1.1, float("nan"), None, "0.5"])
def test_bad_minimum_raises(bad):
    with pytest.raises(ValueError, match="minimum"):
        similar(s("a"), s("a"), "levenshtein", bad)


def test_workers_keyword_gives_same_result():
    left = s(*(["kitten", "martha", None] * 50))
    right = s(*(["sitting", "marhta", "x"] * 50))
    for method in METHODS:
        np.testing.assert_array_equal(
            similarity(left, right, method, workers=2), similarity(left, right, method)
        )
    assert (edit_distance(left, right, workers=-1) == edit_distance(left, right)).all()


def test_plain_sequences_accepted():
    right = np.array(["sitting", "x"], dtype=object)
    assert edit_distance(["kitten", None], right).tolist() == [3, -1]


# --- thresholds ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("max_edits", "expected"),
    [
        # pairs below are at distance 0, 1, 2, 3
        (0, [True, False, False, False]),
        (1, [True, True, False, False]),
        (2, [True, True, True, False]),
    ],
)
def test_within_edits_boundary(max_edits, expected):
    left = s("smith", "smith", "smith", "smith")
    right = s("smith", "smyth", "smythe", "smythey")
    assert edit_distance(left, right).tolist() == [0, 1, 2, 3]
    assert within_edits(left, right, max_edits).tolist() == expected


def test_within_edits_default_is_one():
    assert within_edits(s("jon", "jon"), s("john", "joan1")).tolist() == [True, False]


def test_similar_is_inclusive_at_minimum():
    left, right = s("kitten"), s("sitting")
    score = similarity(left, right, "levenshtein")[0]
    assert similar(left, right, "levenshtein", score).tolist() == [True]
    assert similar(left, right, "levenshtein", np.nextafter(score, 2.0)).tolist() == [False]
    assert similar(left, right, "levenshtein", 0).tolist() == [True]


# --- properties ---------------------------------------------------------------------------

short_text = st.text(alphabet="abcdeé😀 ", min_size=0, max_size=8)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(short_text, short_text), min_size=1, max_size=20))
def test_levenshtein_matches_dp_oracle(pairs):
    left = pd.Series([a for a, _ in pairs], dtype=object)
    right = pd.Series([b for _, b in pairs], dtype=object)
    distances = edit_distance(left, right)
    scores = similarity(left, right, "levenshtein")
    for i, (a, b) in enumerate(pairs):
        if a == "" or b == "":
            assert distances[i] == -1 and np.isnan(scores[i])
            continue
        expected = levenshtein_oracle(a, b)
        assert distances[i] == expected
        assert scores[i] == pytest.approx(1 - expected / max(len(a), len(b)))
        for k in (0, 1, 2):
            assert within_edits(left, right, k)[i] == (expected <= k)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(short_text, short_text), min_size=1, max_size=20))
def test_symmetry(pairs):
    left = pd.Series([a for a, _ in pairs], dtype=object)
    right = pd.Series([b for _, b in pairs], dtype=object)
    for method in METHODS:
        np.testing.assert_allclose(
            similarity(left, right, method), similarity(right, left, method), rtol=0, atol=1e-12
        )
    np.testing.assert_array_equal(edit_distance(left, right), edit_distance(right, left))
    np.testing.assert_array_equal(within_edits(left, right), within_edits(right, left))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(short_text, short_text), min_size=1, max_size=20))
def test_scores_in_unit_interval(pairs):
    left = pd.Series([a for a, _ in pairs], dtype=object)
    right = pd.Series([b for _, b in pairs], dtype=object)
    for method in METHODS:
        scores = similarity(left, right, method)
        present = ~np.isnan(scores)
        assert ((scores[present] >= 0.0) & (scores[present] <= 1.0)).all()


# --- Arrow inputs (what the Arrow UDF hands over) -----------------------------------------

maybe_text = st.one_of(st.none(), short_text)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(maybe_text, maybe_text), min_size=0, max_size=20))
def test_arrow_arrays_score_exactly_like_pandas(pairs):
    left = [a for a, _ in pairs]
    right = [b for _, b in pairs]
    as_arrow = pa.array(left, type=pa.string()), pa.array(right, type=pa.string())
    as_pandas = pd.Series(left, dtype=object), pd.Series(right, dtype=object)
    for method in METHODS:
        np.testing.assert_array_equal(similarity(*as_arrow, method), similarity(*as_pandas, method))
    np.testing.assert_array_equal(edit_distance(*as_arrow), edit_distance(*as_pandas))
    np.testing.assert_array_equal(within_edits(*as_arrow), within_edits(*as_pandas))


def test_arrow_nulls_and_empty_never_match_and_keep_positions():
    left = pa.array(["anna", None, "", "zoë", "bob"])
    right = pa.array(["anna", "anna", "anna", "zoe", None])
    np.testing.assert_array_equal(edit_distance(left, right), [0, -1, -1, 1, -1])
    np.testing.assert_array_equal(within_edits(left, right), [True, False, False, True, False])
    scores = similarity(left, right, "jaro_winkler")
    assert scores[0] == 1.0 and np.isnan(scores[1:3]).all() and np.isnan(scores[4])


def test_arrow_chunked_and_large_string_arrays():
    left = pa.chunked_array([["anna", "bob"], ["carl"]], type=pa.large_string())
    right = pa.chunked_array([["anne"], ["bob", None]], type=pa.large_string())
    np.testing.assert_array_equal(edit_distance(left, right), [1, 0, -1])


def test_arrow_all_null_and_empty_batches():
    nulls = pa.array([None, None], type=pa.string())
    assert np.isnan(similarity(nulls, nulls, "token_set")).all()
    empty = pa.array([], type=pa.string())
    assert similarity(empty, empty, "jaro_winkler").shape == (0,)
    assert edit_distance(empty, empty).dtype == np.int64


def test_arrow_mismatched_lengths_raise():
    with pytest.raises(ValueError, match="same length"):
        similarity(pa.array(["a"]), pa.array(["a", "b"]), "levenshtein")


@pytest.mark.parametrize("as_arrow", [True, False])
def test_batches_longer_than_a_chunk_score_every_pair_in_place(as_arrow, monkeypatch):
    """Scoring runs chunk by chunk: pairs on both sides of each chunk edge, with nulls
    scattered so the present pairs shift across edges, keep their own scores."""
    from rapidfuzz.distance import JaroWinkler, Levenshtein

    from idres_spark.matching import comparators

    monkeypatch.setattr(comparators, "CHUNK", 7)
    rng = np.random.default_rng(3)
    names = ["anna", "anne", "bob", "robert", "zoë", "zoe", "carl", "karl"]
    left = [names[i] for i in rng.integers(0, len(names), 50)]
    right = [names[i] for i in rng.integers(0, len(names), 50)]
    for i in rng.choice(50, 9, replace=False):
        (left if i % 2 else right)[i] = None
    args = (pa.array(left), pa.array(right)) if as_arrow else (s(*left), s(*right))
    expected_jw = [
        np.nan if a is None or b is None else JaroWinkler.normalized_similarity(a, b)
        for a, b in zip(left, right, strict=True)
    ]
    expected_ed = [
        -1 if a is None or b is None else Levenshtein.distance(a, b)
        for a, b in zip(left, right, strict=True)
    ]
    # cpdist's batch kernel and the one-pair call may differ in the last bit
    np.testing.assert_allclose(similarity(*args, "jaro_winkler"), expected_jw, rtol=1e-12)
    np.testing.assert_array_equal(edit_distance(*args), expected_ed)
