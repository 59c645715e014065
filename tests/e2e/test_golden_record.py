"""Golden record across incremental runs: recompute after a merge, steward values that follow
a merge and are withdrawn, provenance carried for untouched profiles."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from idres_spark.config import parse_config
from idres_spark.run.job import run_job
from idres_spark.state import store

# `once`: three whole runs; the survivorship and steward expressions it relies on are tested
# on both PySpark lines (tests/spark/test_survivorship.py, test_steward.py, the demo runs)
pytestmark = [pytest.mark.e2e, pytest.mark.once]
DAY = dt.date(2025, 7, 1)


def config_for(batch: Path, out: Path, overrides: Path):
    columns = {"record_id": "id", "email": "email", "phone": "phone", "user_id": "uid",
               "event_ts": "ts"}  # fmt: skip
    return parse_config({
        "sources": [{"name": "web", "format": "parquet", "path": str(batch), "columns": columns,
                     "custom": {"tier": "tier"}}],
        "golden": {"fields": {"phone": ["most_frequent", "most_recent"]},
                   "overrides": {"format": "csv", "path": str(overrides)}},
        "output": {"path": str(out), "mode": "incremental"},
    })  # fmt: skip


def write(folder: Path, rows: list[tuple]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(rows, columns=["id", "email", "phone", "uid", "tier", "ts"])
    frame["ts"] = pd.to_datetime(frame["ts"])
    frame.to_parquet(
        folder / "part-0.parquet", coerce_timestamps="us", allow_truncated_timestamps=True
    )
    return folder


def steward_file(path: Path, rows: list[dict]) -> Path:
    cols = ["override_id", "profile_id", "record", "field", "value", "reason", "created_by"]
    pd.DataFrame(rows, columns=cols).to_csv(path, index=False)
    return path


def table(spark, out: Path, name: str) -> list[dict]:
    return [
        r.asDict() for r in spark.read.parquet(store.table_path(spark, str(out), name)).collect()
    ]


def test_golden_fields_follow_merges_steward_values_and_their_withdrawal(spark, tmp_path):
    out, steward = tmp_path / "out", tmp_path / "steward.csv"
    night1 = write(tmp_path / "n1", [
        ("1", "a@x.com", "+14155552671", None, "vip-a", "2025-01-01"),
        ("2", "b@x.com", "+14155552671", "U2", "gold", "2025-01-02"),
        ("5", "b@x.com", "+14155552675", None, None, "2025-01-05"),
        ("3", "c@x.com", "+14155552673", None, "bronze", "2025-01-03"),
    ])  # fmt: skip
    steward_file(steward, [])
    run_job(config_for(night1, out, steward), run_date=DAY, spark=spark)
    profiles = {p["primary_email"]: p for p in table(spark, out, "profiles")}
    p_a, p_b = profiles["a@x.com"]["profile_id"], profiles["b@x.com"]["profile_id"]
    # web:2 and web:5 hold one phone each: most_frequent ties, most_recent picks web:5's
    assert profiles["b@x.com"]["primary_phone"] == "+14155552675"
    assert profiles["a@x.com"]["tier"] == "vip-a"
    untouched = [r for r in table(spark, out, "profile_field_provenance")
                 if r["profile_id"] == profiles["c@x.com"]["profile_id"]]  # fmt: skip

    # night 2: web:4 shares a@x.com with web:1 and U2 with web:2, so P_a (1 record) merges
    # into P_b (2 records); a steward value set on P_a follows it there
    night2 = write(tmp_path / "n2", [("4", "a@x.com", "+14155552671", "U2", None, "2025-01-04")])
    steward_file(
        steward,
        [
            {
                "override_id": "o1",
                "profile_id": p_a,
                "field": "tier",
                "value": "platinum",
                "reason": "call",
                "created_by": "sam",
            }
        ],
    )
    metrics = run_job(config_for(night2, out, steward), run_date=DAY + dt.timedelta(1), spark=spark)
    assert metrics["resolved_scope"] == "affected"
    merged = {p["profile_id"]: p for p in table(spark, out, "profiles")}
    assert p_a not in merged
    assert merged[p_b]["primary_phone"] == "+14155552671"  # now 3 of 4 records hold it
    assert merged[p_b]["tier"] == "platinum"
    why = {(r["profile_id"], r["field"]): r for r in table(spark, out, "profile_field_provenance")}
    assert why[(p_b, "phone")]["policy"] == "most_frequent:records"
    assert why[(p_b, "phone")]["candidates"] == 4
    assert why[(p_b, "tier")]["policy"] == "steward_override"
    status = table(spark, out, "diagnostics/golden_override_status")
    assert [(s["status"], s["profile_id"]) for s in status] == [("applied", p_b)]
    carried = [r for r in why.values() if r["profile_id"] == profiles["c@x.com"]["profile_id"]]
    assert sorted(carried, key=str) == sorted(untouched, key=str)

    # night 3: the steward withdraws the value; the profile's policy value comes back although
    # the batch does not touch it
    night3 = write(tmp_path / "n3", [("6", "z@x.com", None, None, None, "2025-01-06")])
    steward_file(steward, [])
    metrics = run_job(config_for(night3, out, steward), run_date=DAY + dt.timedelta(2), spark=spark)
    assert metrics["resolved_scope"] == "affected"
    final = {p["profile_id"]: p for p in table(spark, out, "profiles")}
    assert final[p_b]["tier"] == "gold"  # web:2's, the most recent record with a tier
