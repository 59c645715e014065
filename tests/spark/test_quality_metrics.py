"""The quality benchmark's false-merge rates of households and lookalike emails
(jobs/bench_quality.py), on a hand-made record map."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytestmark = pytest.mark.spark

_PATH = Path(__file__).resolve().parents[2] / "jobs" / "bench_quality.py"
_SPEC = importlib.util.spec_from_file_location("bench_quality", _PATH)
bench_quality = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(bench_quality)

TRUTH = "source string, source_record_id string, person_id string, household_id string, "
TRUTH += "lookalike_group string"
# household H1: Ann (a1, a2, a3) and Bob (b1, b2); household H2: Cy (c1) and Di (d1);
# lookalike L1: Eve (e1, e2) and Fay (f1); g1 is in no group
TRUTH_ROWS = [
    ("web", "a1", "ann", "H1", None), ("crm", "a2", "ann", "H1", None),
    ("pos", "a3", "ann", "H1", None), ("web", "b1", "bob", "H1", None),
    ("crm", "b2", "bob", "H1", None), ("web", "c1", "cy", "H2", None),
    ("pos", "d1", "di", "H2", None), ("web", "e1", "eve", None, "L1"),
    ("app", "e2", "eve", None, "L1"), ("crm", "f1", "fay", None, "L1"),
    ("web", "g1", "gus", None, None),
]  # fmt: skip


def _record_map(spark, profiles: dict[str, str]):
    rows = [(s, r, profiles[r]) for s, r, *_ in TRUTH_ROWS]
    return spark.createDataFrame(rows, "source string, source_record_id string, profile_id string")


def test_rates_count_pairs_of_different_people_sharing_a_profile(spark):
    truth = spark.createDataFrame(TRUTH_ROWS, TRUTH)
    # p1 wrongly holds a1, a2 (Ann) and b1 (Bob): 2 false household pairs of Ann x Bob's 6;
    # H2 stays apart (0 of 1); p5 holds e1 (Eve) and f1 (Fay): 1 of L1's 2 cross pairs;
    # g1 shares p1 but is in no group, so it counts nowhere
    profiles = {"a1": "p1", "a2": "p1", "a3": "p2", "b1": "p1", "b2": "p3", "c1": "p4",
                "d1": "p6", "e1": "p5", "e2": "p7", "f1": "p5", "g1": "p1"}  # fmt: skip
    rates = bench_quality.false_merge_rates(_record_map(spark, profiles), truth)
    assert rates == {
        "household_pairs": 7, "household_merged": 2, "household_rate": round(2 / 7, 4),
        "lookalike_pairs": 2, "lookalike_merged": 1, "lookalike_rate": 0.5,
    }  # fmt: skip


def test_no_false_merge_when_people_stay_apart_and_no_groups(spark):
    truth = spark.createDataFrame(TRUTH_ROWS, TRUTH)
    by_person = {r: p for _, r, p, *_ in TRUTH_ROWS}  # one profile per true person
    rates = bench_quality.false_merge_rates(_record_map(spark, by_person), truth)
    assert rates["household_merged"] == rates["lookalike_merged"] == 0
    assert rates["household_rate"] == rates["lookalike_rate"] == 0.0
    plain = spark.createDataFrame([(s, r, p, None, None) for s, r, p, *_ in TRUTH_ROWS], TRUTH)
    rates = bench_quality.false_merge_rates(_record_map(spark, by_person), plain)
    assert rates["household_pairs"] == rates["lookalike_pairs"] == 0
    assert rates["household_rate"] == 0.0
