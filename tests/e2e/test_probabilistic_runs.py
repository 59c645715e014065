"""Probabilistic matching in whole runs: a pair the rules cannot link joins by its
probabilistic link, the model is saved beside the tables and reused by the next run, and the
same data, seed and model give the same links."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from idres_spark.config import parse_config
from idres_spark.run import demo_data
from idres_spark.run.job import run_job
from idres_spark.state import store

pytestmark = [pytest.mark.e2e, pytest.mark.once]


def config(data: Path, out: Path, mode: str):
    return parse_config({
        "sources": [
            {"name": name, "format": "parquet", "path": str(data / name), "columns": cols}
            for name, cols in (
                ("web", {"record_id": "id", "email": "email", "phone": "phone_number",
                         "user_id": "customer_id", "first_name": "fname", "last_name": "lname",
                         "device_id": "device", "ip": "ip_address", "event_ts": "updated_at"}),
                ("pos", {"record_id": "receipt_id", "email": "email", "phone": "phone",
                         "first_name": "first_name", "last_name": "last_name",
                         "event_ts": "purchased_at"}),
            )
        ],
        "probabilistic": {"enabled": True, "sample_pairs": 5000},
        "output": {"path": str(out), "mode": mode},
    })  # fmt: skip


def links_of(spark, out: Path) -> list[tuple]:
    folder = store.table_path(spark, str(out), "diagnostics/probabilistic_links")
    rows = spark.read.parquet(folder).collect()
    return sorted(
        (r.record_id_l, r.record_id_r, round(r.match_weight, 9), r.decision) for r in rows
    )


def model_of(spark, out: Path) -> dict:
    folder = Path(store.table_path(spark, str(out), "records")).parent
    return json.loads((folder / "model" / "probabilistic.json").read_text())


def test_trained_saved_reused_and_deterministic(spark, tmp_path):
    frames = demo_data.generate(n_people=150, seed=11)
    data = tmp_path / "data"
    for name in ("web", "pos"):
        (data / name).mkdir(parents=True)
        frames[name].to_parquet(data / name / "part-0.parquet")
    first = run_job(config(data, tmp_path / "a", "incremental"), spark=spark)
    summary = first["probabilistic"]
    assert summary["trained_this_run"] and summary["group_merges"] > 0
    assert summary["decisions"]["merged"] == summary["group_merges"]
    assert sum(summary["weight_histogram"].values()) >= sum(summary["decisions"].values())
    assert summary["samples"] and all(s["parts"] for s in summary["samples"])
    folder = Path(store.table_path(spark, str(tmp_path / "a"), "records")).parent
    assert "Probabilistic matching" in (folder / "report.html").read_text()
    model = model_of(spark, tmp_path / "a")
    links = links_of(spark, tmp_path / "a")
    assert model["format"] == 1 and {c["name"] for c in model["comparisons"]} >= {
        "email", "phone_last_name", "first_name", "user_id",
    }  # fmt: skip
    assert all(0 < u <= 1 for c in model["comparisons"] for u in c["u"])
    record_map = spark.read.parquet(store.table_path(spark, str(tmp_path / "a"), "record_map"))
    assert record_map.where("linked_by = 'probabilistic'").count() > 0
    # the next night brings a receipt with only the phone and name of a known web record: no
    # rule can link it; the saved model is reused and only the new record's pairs are scored
    web = frames["web"]
    usable = web["phone_number"].fillna("").str.count(r"[0-9]").ge(10)
    usable &= web["fname"].fillna("").str.strip().str.isalpha()
    known = web[usable & web["lname"].fillna("").str.strip().str.isalpha()]
    known = known.iloc[0]
    receipt = frames["pos"].iloc[:1].copy()
    receipt["receipt_id"], receipt["email"], receipt["phone"] = "NEW-1", None, known["phone_number"]
    receipt["first_name"], receipt["last_name"] = known["fname"], known["lname"]
    receipt["loyalty_no"] = None
    pd.concat([frames["pos"], receipt]).to_parquet(data / "pos" / "part-0.parquet")
    second = run_job(config(data, tmp_path / "a", "incremental"), spark=spark)
    assert not second["probabilistic"]["trained_this_run"]
    assert second["probabilistic"]["model_id"] == summary["model_id"]
    assert second["resolved_scope"] == "affected"
    mapped = spark.read.parquet(store.table_path(spark, str(tmp_path / "a"), "record_map"))
    profile = {r.record_id: (r.profile_id, r.linked_by) for r in mapped.collect()}
    assert profile["pos:NEW-1"] == (profile[f"web:{known['id']}"][0], "probabilistic")
    # the same data and seed, from scratch: the same model and links
    (data / "pos" / "part-0.parquet").unlink()
    frames["pos"].to_parquet(data / "pos" / "part-0.parquet")
    run_job(config(data, tmp_path / "b", "overwrite"), spark=spark)
    again = model_of(spark, tmp_path / "b")
    assert [c["m"] for c in again["comparisons"]] == [c["m"] for c in model["comparisons"]]
    assert [c["u"] for c in again["comparisons"]] == [c["u"] for c in model["comparisons"]]
    assert links_of(spark, tmp_path / "b") == links
