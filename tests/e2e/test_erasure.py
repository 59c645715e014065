"""Erasure requests over four nights of real runs: a bridge record erased (its profile
splits), a profile erased whole (retired, its id never reused), exact vs connected scope,
suppression at read and unsuppress, no erased value anywhere in the new run (tables, logs,
report, metrics), a preview that changes nothing, requests decided once, audit statuses."""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from pyspark.sql import functions as F
from test_incremental import PHONE_AND_NAME, assert_schemas_recorded, ids_of, write_batch

from idres_spark.config import parse_config
from idres_spark.profiles.merge_log import read_merge_log
from idres_spark.run.job import run_job
from idres_spark.state import store

pytestmark = [pytest.mark.e2e, pytest.mark.once, pytest.mark.line35]
DAY = dt.date(2025, 7, 1)
PB, PZ = "+14152345611", "+14152345699"
NIGHT_1 = [
    {"id": "1", "email": "one@x.com", "uid": "U1"},
    # the bridge: user id with 1, phone and name with 3; its email is its own
    {"id": "2", "email": "two-secret@x.com", "uid": "U1", "phone": PB, "last": "lee"},
    {"id": "3", "email": "three@x.com", "phone": PB, "last": "lee"},
    {"id": "7", "email": "zed-secret@x.com", "phone": PZ, "uid": "UZ-secret"},
    {"id": "8", "email": "zed-secret@x.com"},
    {"id": "9", "email": "nine-secret@x.com", "uid": "U9"},
    {"id": "10", "email": "ten@x.com", "uid": "U9"},
]
SECRETS = ("two-secret@x.com", "zed-secret@x.com", PZ, PZ[-10:], "nine-secret@x.com",
           "UZ-secret")  # fmt: skip
REQUESTS = [
    ("e1", "erase_and_suppress", "web:2", "exact"),
    ("e2", "erase", f"phone:{PZ}", "connected"),  # names 7 only; connected takes 8 too
    ("e3", "erase", "record:web:9", "exact"),
    ("e4", "suppress_only", "email:later@x.com", None),
]


def write_requests(folder: Path, rows) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*"):
        old.unlink()
    pd.DataFrame(
        [
            {
                "request_id": rid,
                "action": action,
                "selector": selector,
                "scope": scope,
                "received_at": f"2025-07-02T00:00:{n:02d}Z",
            }
            for n, (rid, action, selector, scope) in enumerate(rows)
        ]  # fmt: skip
    ).astype(object).to_parquet(folder / "part-0.parquet")
    return folder


def config(batch: Path, out: Path, requests: Path | None, overrides: Path | None = None):
    columns = {"record_id": "id", "email": "email", "phone": "phone", "user_id": "uid",
               "first_name": "first", "last_name": "last", "event_ts": "ts"}  # fmt: skip
    return parse_config({
        "sources": [{"name": "web", "format": "parquet", "path": str(batch), "columns": columns}],
        "rules": PHONE_AND_NAME,
        "output": {"path": str(out), "mode": "incremental", "keep_runs": 1},
        **({"stewardship": {
            "erasure": {"format": "parquet", "path": str(requests)},
            **({"overrides": {"format": "parquet", "path": str(overrides)}} if overrides else {}),
        }} if requests else {}),
    })  # fmt: skip


def current_folder(spark, out: Path) -> Path:
    return out / store.published_runs(spark, str(out))[-1].run_dir


def text_of(folder: Path) -> str:
    """Every value of every file of a run folder, parquet decoded, as one text."""
    parts = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.suffix == ".parquet":
            parts.append(repr(pq.read_table(path).to_pylist()))
        elif path.suffix in (".json", ".html", ".txt") or not path.suffix:
            parts.append(path.read_text(errors="replace"))
    return "\n".join(parts)


def audit(spark, out: Path) -> dict[str, tuple]:
    path = store.table_path(spark, str(out), "diagnostics/erasure_audit")
    return {r.request_id: (r.status, r.records_removed, r.profiles_retired, r.profiles_changed)
            for r in spark.read.parquet(path).collect()}  # fmt: skip


def test_erasure_over_four_nights(spark, tmp_path, monkeypatch, caplog, capsys):
    monkeypatch.setenv("IDRES_SUPPRESSION_KEY", "test-key-0123456789")
    caplog.set_level(logging.INFO)
    out, requests = tmp_path / "out", tmp_path / "requests"
    night = lambda n: DAY + dt.timedelta(days=n - 1)  # noqa: E731
    run_job(config(write_batch(tmp_path / "b1", NIGHT_1), out, None), night(1), spark)
    one = ids_of(spark, out)
    assert one["web:1"] == one["web:2"] == one["web:3"] and one["web:7"] == one["web:8"]
    before = text_of(current_folder(spark, out))
    assert all(secret in before for secret in SECRETS)  # so the scan below can fail

    # night 2: the requests; a preview first shows what they do and changes nothing
    write_requests(requests, REQUESTS)
    overrides = tmp_path / "overrides"  # a cannot-link on a record erasure removes: inert
    overrides.mkdir()
    pd.DataFrame([{"override_id": "c9", "action": "cannot_link", "anchor_1": "web:9",
                   "anchor_2": "web:1", "created_at": "2025-07-02"}]).to_parquet(
        overrides / "part-0.parquet")  # fmt: skip
    batch = write_batch(tmp_path / "b2", [{"id": "20", "email": "new@x.com"}])
    state = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    preview = run_job(config(batch, out, requests, overrides), night(2), spark, preview=True)
    assert preview["profile_changes"] == {
        "created": 1, "erased": 1, "shrunk": 1, "split": 1, "split_off": 1}  # fmt: skip
    assert {p: b for p, b in ((p, p.read_bytes()) for p in out.rglob("*") if p.is_file())
            if "preview" not in p.parts} == state  # fmt: skip
    caplog.clear()
    capsys.readouterr()
    metrics = run_job(config(batch, out, requests, overrides), night(2), spark)
    two = ids_of(spark, out)
    assert metrics["overrides"] == {"inert": 1}
    assert set(two) == {"web:1", "web:3", "web:10", "web:20"}
    # the bridge is gone: its profile splits; the part with the smallest record keeps the id
    assert two["web:1"] == one["web:1"] != two["web:3"]
    assert two["web:10"] == one["web:10"]  # exact: 9 goes, 10 stays in its profile
    table = spark.read.parquet(store.table_path(spark, str(out), "profiles"))
    profiles = {r.profile_id for r in table.collect()}
    assert one["web:7"] not in profiles  # erased whole: retired for good
    assert audit(spark, out) == {
        "e1": ("applied", 1, 0, 1), "e2": ("applied", 2, 1, 0),
        "e3": ("applied", 1, 0, 1), "e4": ("applied", 0, 0, 0),
    }  # fmt: skip
    assert metrics["erasure"] == {"applied": 4}
    erasure = {"suppression", "erased_profiles", "diagnostics/erasure_audit"}
    assert_schemas_recorded(spark, current_folder(spark, out), erasure)
    log = read_merge_log(spark, store.table_path(spark, str(out), "merge_log"))
    split = log.where(F.col("reason").startswith("split:")).collect()
    assert {(r.source_profile_id, r.destination_profile_id, r.reason) for r in split} == {
        (one["web:1"], two["web:3"], "split:erasure:e1")}  # fmt: skip
    assert log.where(F.col("run_id") != metrics["run_id"]).count() > 0  # earlier rows kept
    # no erased email, phone or external id anywhere in the new run, its logs and output
    printed = capsys.readouterr()
    everything = text_of(current_folder(spark, out)) + caplog.text + printed.out + printed.err
    for secret in SECRETS:
        assert secret not in everything, secret
    assert "'web:2'" not in text_of(current_folder(spark, out) / "records")

    # night 3: suppressed records are dropped at read and counted; an erased (not suppressed)
    # record may come back, but never under the id of the profile erasure retired
    batch = write_batch(tmp_path / "b3", [
        {"id": "2", "email": "two-secret@x.com", "uid": "U1"},  # suppressed record id
        {"id": "12", "email": "later@x.com"},  # suppressed email
        {"id": "7", "email": "zed-secret@x.com", "phone": PZ},
    ])  # fmt: skip
    metrics = run_job(config(batch, out, requests), night(3), spark)
    three = ids_of(spark, out)
    assert metrics["suppressed_records"] == 2 and "web:2" not in three and "web:12" not in three
    assert three["web:7"] != one["web:7"]
    # keep_runs 1: the folders that held the erased data are gone, so the requests are complete
    assert {k: v[0] for k, v in audit(spark, out).items()} == {
        "e1": "complete", "e2": "complete", "e3": "complete", "e4": "complete"}  # fmt: skip

    # night 4: unsuppress lets the email in again; the earlier requests do nothing again
    write_requests(requests, [*REQUESTS, ("e5", "unsuppress", "email:later@x.com", None)])
    batch = write_batch(tmp_path / "b4", [{"id": "12", "email": "later@x.com"}])
    metrics = run_job(config(batch, out, requests), night(4), spark)
    four = ids_of(spark, out)
    assert "web:12" in four and four["web:7"] == three["web:7"]
    assert metrics["suppressed_records"] == 0
    assert {k: v[0] for k, v in audit(spark, out).items()}["e5"] == "applied"
    assert json.loads((current_folder(spark, out) / "diagnostics/metrics.json").read_text())[
        "erasure"] == {"applied": 1, "complete": 4}  # fmt: skip
