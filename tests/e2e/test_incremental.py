"""Incremental runs: stable ids, permanent merges, updates, safe publishing, preview, export."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest
from pyspark.sql import functions as F

from idres_spark.config import parse_config
from idres_spark.run import demo_data
from idres_spark.run.job import export_merge_log, run_job
from idres_spark.state import store
from idres_spark.state.storage import SCHEMAS_FILE, table_reader

pytestmark = [pytest.mark.e2e, pytest.mark.once]
DAY = dt.date(2025, 7, 1)


PHONE_AND_NAME = [
    {
        "name": "phone-and-name",
        "all": [
            {"field": "phone", "compare": "equals"},
            {"field": "last_name", "compare": "equals"},
        ],
    }
]


def job_config(data: Path, out: Path, mode: str = "incremental", rules=PHONE_AND_NAME):
    columns = {"record_id": "id", "email": "email", "phone": "phone", "user_id": "uid",
               "first_name": "first", "last_name": "last", "event_ts": "ts"}  # fmt: skip
    return parse_config({
        "sources": [{"name": "web", "format": "parquet", "path": str(data), "columns": columns}],
        "rules": rules,
        "output": {"path": str(out), "mode": mode},
    })  # fmt: skip


def write_batch(folder: Path, rows: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(rows)
    for col in ("email", "phone", "uid", "first", "last"):
        if col not in frame:
            frame[col] = None
    frame["ts"] = pd.Timestamp("2025-01-01")
    frame.astype({c: object for c in frame.columns if c != "ts"}).to_parquet(
        folder / "part-0.parquet"
    )
    return folder


def groups_of(spark, out: Path) -> set[frozenset[str]]:
    rows = spark.read.parquet(store.table_path(spark, str(out), "record_map")).collect()
    by_profile: dict[str, set[str]] = {}
    for r in rows:
        by_profile.setdefault(r.profile_id, set()).add(r.record_id)
    return {frozenset(v) for v in by_profile.values()}


def ids_of(spark, out: Path) -> dict[str, str]:
    rows = spark.read.parquet(store.table_path(spark, str(out), "record_map")).collect()
    return {r.record_id: r.profile_id for r in rows}


def assert_schemas_recorded(spark, folder: Path, tables: set[str]) -> None:
    """The run folder's schema file names ``tables`` (and no partitioned one), and each of
    its tables reads back with the schema it records as with the one Spark infers from the
    files (later runs and the metrics read them so, without inference jobs)."""
    recorded = json.loads((folder / SCHEMAS_FILE).read_text())
    assert tables <= set(recorded) and "merge_log" not in recorded
    read = table_reader(spark, str(folder))
    for name in recorded:
        assert read(name).schema == spark.read.parquet(str(folder / name)).schema, name


def test_three_batches_equal_one_full_run_and_ids_are_stable(spark, tmp_path):
    frames = demo_data.generate(120, seed=5)["web"].rename(columns={
        "id": "id", "phone_number": "phone", "customer_id": "uid", "fname": "first",
        "lname": "last", "updated_at": "ts"})  # fmt: skip
    frames = frames[["id", "email", "phone", "uid", "first", "last", "ts"]]
    thirds = [frames.iloc[i::3] for i in range(3)]
    inc, full = tmp_path / "inc", tmp_path / "full"
    seen: dict[str, str] = {}
    for n, part in enumerate(thirds):
        folder = tmp_path / f"batch{n}"
        folder.mkdir()
        part.to_parquet(folder / "part-0.parquet")
        earlier = store.current_run(spark, str(inc))
        metrics = run_job(job_config(folder, inc), DAY + dt.timedelta(days=n), spark)
        # the first run has no state; the others resolve their affected set only, and carry
        # the earlier records and merge log as files (all records of a batch are new here)
        assert metrics["resolved_scope"] == ("affected" if n else "all")
        if earlier is not None:
            assert 0 < metrics["profiles_recomputed"] < len(set(seen.values()))
            for table in ("records", "merge_log"):
                before, after = (_data_files(inc / r.run_dir / table) for r in
                                 (earlier, store.current_run(spark, str(inc))))  # fmt: skip
                assert before and before < after, table
        folder = inc / store.current_run(spark, str(inc)).run_dir
        assert_schemas_recorded(spark, folder, {"records", "record_map", "profiles"})
        ids = ids_of(spark, inc)
        survivors = set(ids.values())
        for record, earlier in seen.items():  # an earlier id lives on unless it was merged away
            assert ids[record] == earlier or earlier not in survivors
        assert not seen or sum(ids[r] == e for r, e in seen.items()) > len(seen) // 2
        seen = ids
    everything = tmp_path / "all"
    everything.mkdir()
    frames.to_parquet(everything / "part-0.parquet")
    run_job(job_config(everything, full, mode="overwrite"), DAY, spark)
    assert groups_of(spark, inc) == groups_of(spark, full)
    merged = spark.read.parquet(store.table_path(spark, str(inc), "merge_log"))
    assert merged.select("run_id").distinct().count() == 3
    assert len(store.published_runs(spark, str(inc))) == 3


def _data_files(table: Path) -> set[str]:
    """A table folder's Parquet files, by path inside the table (partition folders too)."""
    return {str(f.relative_to(table)) for f in table.rglob("*.parquet")}


def test_updated_record_joins_in_place_and_earlier_merges_hold(spark, tmp_path):
    out = tmp_path / "out"
    first = write_batch(tmp_path / "b1", [
        {"id": "1", "email": "ann@x.com", "phone": "+14152345678", "last": "lee"},
        {"id": "2", "email": "ann@x.com"},
        {"id": "3", "email": "bob@y.com", "uid": "U3"},
    ])  # fmt: skip
    run_job(job_config(first, out), DAY, spark)
    before = ids_of(spark, out)
    assert before["web:1"] == before["web:2"] != before["web:3"]
    # record 1 changes its email to bob's: it joins bob's profile, and its earlier link holds
    second = write_batch(tmp_path / "b2", [
        {"id": "1", "email": "bob@y.com", "phone": "+14152345678", "last": "lee"},
    ])  # fmt: skip
    metrics = run_job(job_config(second, out), DAY + dt.timedelta(days=1), spark)
    after = ids_of(spark, out)
    assert len(after) == 3 and metrics["records_new_or_changed"] == 1
    assert metrics["resolved_scope"] == "affected"
    assert after["web:1"] == after["web:2"] == after["web:3"]
    assert after["web:1"] == before["web:1"]  # the larger earlier profile keeps its id
    records = spark.read.parquet(store.table_path(spark, str(out), "records"))
    assert records.where("record_id = 'web:1'").first().email == "bob@y.com"
    log = spark.read.parquet(store.table_path(spark, str(out), "merge_log"))
    retired = log.where(F.col("source_profile_id") == before["web:3"]).collect()
    assert [(r.destination_profile_id, r.reason) for r in retired] == [(before["web:1"], "default")]


def test_same_batch_twice_adds_no_merges(spark, tmp_path):
    out = tmp_path / "out"
    batch = write_batch(tmp_path / "b", [
        {"id": "1", "email": "ann@x.com"}, {"id": "2", "email": "ann@x.com"},
        {"id": "3", "email": "ann@x.com"},
    ])  # fmt: skip
    run_job(job_config(batch, out), DAY, spark)
    again = run_job(job_config(batch, out), DAY, spark)
    assert again["merges"] == 0 and again["records_new_or_changed"] == 0
    log = spark.read.parquet(store.table_path(spark, str(out), "merge_log"))
    assert log.count() == 3  # the three pairs of the first run, once
    assert len(store.published_runs(spark, str(out))) == 2


def test_failure_before_publishing_leaves_state_and_rerun_succeeds(spark, tmp_path, monkeypatch):
    out = tmp_path / "out"
    run_job(job_config(write_batch(tmp_path / "b1", [{"id": "1", "email": "a@x.com"}]), out),
            DAY, spark)  # fmt: skip
    published = store.current_run(spark, str(out))
    batch2 = write_batch(tmp_path / "b2", [{"id": "2", "email": "a@x.com"}])

    def crash(*args, **kwargs):
        raise RuntimeError("injected failure between writing and publishing")

    monkeypatch.setattr(store, "publish", crash)
    with pytest.raises(RuntimeError, match="injected"):
        run_job(job_config(batch2, out), DAY + dt.timedelta(days=1), spark)
    assert store.current_run(spark, str(out)) == published
    assert set(ids_of(spark, out)) == {"web:1"}
    monkeypatch.undo()
    run_job(job_config(batch2, out), DAY + dt.timedelta(days=1), spark)
    ids = ids_of(spark, out)
    assert ids["web:1"] == ids["web:2"]
    assert store.current_run(spark, str(out)).seq == published.seq + 1


def snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file() and "preview" not in p.relative_to(root).parts
    }


def test_preview_leaves_the_published_state_byte_identical(spark, tmp_path):
    out = tmp_path / "out"
    run_job(job_config(write_batch(tmp_path / "b1", [{"id": "1", "email": "a@x.com"}]), out),
            DAY, spark)  # fmt: skip
    before = snapshot(out)
    batch = write_batch(tmp_path / "b2", [{"id": "2", "email": "a@x.com"}, {"id": "3"}])
    metrics = run_job(job_config(batch, out), DAY + dt.timedelta(days=1), spark, preview=True)
    assert snapshot(out) == before
    assert metrics["merges"] == 1 and metrics["profile_changes"] == {"created": 1, "grown": 1}
    merges = spark.read.parquet(metrics["preview_path"] + "/merges").collect()
    assert [(m.from_record_id, m.to_record_id) for m in merges] == [("web:1", "web:2")]


def test_merge_log_export_filters_by_date(spark, tmp_path):
    out = tmp_path / "out"
    old = write_batch(
        tmp_path / "b1", [{"id": "1", "email": "a@x.com"}, {"id": "2", "email": "a@x.com"}]
    )
    run_job(job_config(old, out), dt.date(2020, 1, 1), spark)
    new = write_batch(
        tmp_path / "b2", [{"id": "3", "email": "b@x.com"}, {"id": "4", "email": "b@x.com"}]
    )
    run_job(job_config(new, out), dt.datetime.now(dt.UTC).date(), spark)
    destination = str(tmp_path / "export")
    assert export_merge_log(spark, str(out), 30, "csv", destination) == 1
    exported = spark.read.option("header", "true").csv(destination).collect()
    assert [(r.from_record_id, r.to_record_id) for r in exported] == [("web:3", "web:4")]
    assert export_merge_log(spark, str(out), 100000, "parquet", str(tmp_path / "all")) == 2


def test_events_are_rekeyed_and_unreachable_email_events_stay(spark, tmp_path):
    batch = write_batch(tmp_path / "b", [
        {"id": "1", "email": "ann@gmail.com", "phone": "+14152345678", "last": "lee"},
        {"id": "2", "email": "anne@gmail.com", "phone": "+14152345678", "last": "kim"},
    ])  # fmt: skip
    frame = pd.read_parquet(batch / "part-0.parquet")
    frame["status"] = ["valid", "bounced"]
    frame.to_parquet(batch / "part-0.parquet")
    events = tmp_path / "events"
    events.mkdir()
    pd.DataFrame({
        "eid": ["e1", "e2", "e3", "e4"], "rid": ["2", "2", "1", "9"],
        "type": ["opened", "purchase", "clicked", "opened"],
        "chan": ["email", "pos", "Email", "email"], "at": pd.Timestamp("2025-02-01"),
    }).to_parquet(events / "part-0.parquet")  # fmt: skip
    config = job_config(batch, tmp_path / "out", mode="overwrite").model_dump()
    config["sources"][0]["columns"]["email_status"] = "status"
    config["transformations"] = {"email_typo_merge": True}
    config["events"] = {
        "format": "parquet",
        "path": str(events),
        "source_name": "web",
        "columns": {
            "event_id": "eid",
            "source_record_id": "rid",
            "event_type": "type",
            "channel": "chan",
            "event_ts": "at",
        },
    }
    run_job(parse_config(config), DAY, spark)
    out = str(tmp_path / "out")
    routed = {
        r.event_id: r for r in spark.read.parquet(store.table_path(spark, out, "events")).collect()
    }
    profile = ids_of(spark, tmp_path / "out")["web:1"]
    assert ids_of(spark, tmp_path / "out")["web:2"] == profile  # bounced anne@ merged into ann@
    assert (routed["e1"].carried, routed["e1"].reason, routed["e1"].profile_id) == (
        False, "unreachable_email", None)  # fmt: skip
    assert (routed["e2"].carried, routed["e2"].profile_id) == (True, profile)
    assert (routed["e3"].carried, routed["e3"].profile_id) == (True, profile)
    assert (routed["e4"].carried, routed["e4"].reason) == (False, "unknown_record")
    profiles = spark.read.parquet(store.table_path(spark, out, "profiles")).collect()
    assert [p.primary_email for p in profiles] == ["ann@gmail.com"]


def test_preview_of_a_new_rule_compares_records_already_in_the_state(spark, tmp_path):
    out = tmp_path / "out"
    batch = write_batch(tmp_path / "b", [
        {"id": "1", "email": "ann@x.com", "phone": "+14152345678", "last": "lee"},
        {"id": "2", "email": "a.lee@y.com", "phone": "+14152345678", "last": "lee"},
    ])  # fmt: skip
    run_job(job_config(batch, out, rules=[]), DAY, spark)
    assert len(set(ids_of(spark, out).values())) == 2
    metrics = run_job(job_config(batch, out), DAY + dt.timedelta(days=1), spark, preview=True)
    assert metrics["merges_by_reason"] == {"phone-and-name": 1}
    assert metrics["profile_changes"] == {"grown": 1, "merged": 1}
