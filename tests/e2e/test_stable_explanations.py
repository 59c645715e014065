"""record_map.linked_by is stable (#20 item 12): the same batch run again on the published
state keeps every record's explanation, and a record gets a new one only from a link of the
run that joins it (docs/outputs.md, record_map).

In the job test, each pair is linked twice: by a transformation and by ``default`` through an
equal external id, both priority 0 and score 1.0, so the name decides and ``linked_by`` says
``default``. The transformations look at the whole state in every run, so a re-run finds the
transformation links again (between records already in one profile) but not the rule links
(no new record, no pair compared): those links must not replace the explanation.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from chispa import assert_df_equality

from idres_spark import columns as C
from idres_spark.config import parse_config
from idres_spark.profiles import golden
from idres_spark.profiles.ids import PREVIOUS_PROFILE_ID
from idres_spark.run.job import run_job
from idres_spark.run_context import RunContext
from idres_spark.state import store

pytestmark = [pytest.mark.e2e, pytest.mark.once]  # whole runs; the rules' expressions run on
# both lines in tests/spark/test_block_score.py
DAY = dt.date(2025, 7, 1)
ROWS = [
    {"id": "1", "email": "ann+news@gmail.com", "phone": "+14152345678", "uid": "U1"},
    {"id": "2", "email": "ann@gmail.com", "phone": "+14152345678", "uid": "U1"},
    {"id": "3", "email": "bob@gmial.com", "phone": "+14152345679", "uid": "U2"},
    {"id": "4", "email": "bob@gmail.com", "phone": "+14152345679", "uid": "U2"},
    {"id": "5", "email": "cy@gmail.com", "phone": "+14152345670"},
]


def job_config(data: Path, out: Path):
    columns = {"record_id": "id", "email": "email", "phone": "phone", "user_id": "uid",
               "event_ts": "ts"}  # fmt: skip
    default = {"name": "default", "any": [{"field": "email", "compare": "equals"},
                                          {"field": "user_id", "compare": "equals"}]}  # fmt: skip
    return parse_config({
        "sources": [{"name": "web", "format": "parquet", "path": str(data), "columns": columns}],
        "rules": [default],
        "transformations": {"email_typo_merge": True, "email_alias_merge": True},
        "output": {"path": str(out), "mode": "incremental"},
    })  # fmt: skip


def write_batch(folder: Path, rows: list[dict]) -> Path:
    folder.mkdir(parents=True)
    frame = pd.DataFrame(rows).astype(object)
    frame["ts"] = pd.Timestamp("2025-01-01")
    frame.to_parquet(folder / "part-0.parquet")
    return folder


def published(spark, out: Path, table: str):
    return spark.read.parquet(store.table_path(spark, str(out), table))


def explanations(spark, out: Path) -> dict[str, str | None]:
    return {r.record_id: r.linked_by for r in published(spark, out, "record_map").collect()}


def test_rerun_of_the_same_batch_keeps_every_explanation(spark, tmp_path):
    batch, out = write_batch(tmp_path / "batch", ROWS), tmp_path / "out"
    run_job(job_config(batch, out), DAY, spark)
    # the first run's folder stays (keep_runs) and the frames read it
    first = {t: published(spark, out, t) for t in ("record_map", "profiles", "merge_log")}
    first_run = first["record_map"].first().run_id
    assert explanations(spark, out) == {
        "web:1": "default", "web:2": "default", "web:3": "default", "web:4": "default",
        "web:5": None,
    }  # fmt: skip

    metrics = run_job(job_config(batch, out), DAY + dt.timedelta(days=1), spark)
    assert metrics["merges"] == 0
    again = {t: published(spark, out, t) for t in first}
    assert metrics["run_id"] != first_run
    # the same input gives the same tables, record_map.run_id included: it names the run that
    # last changed the row; profiles keep created_at and updated_at (nothing added or changed)
    for table in ("record_map", "profiles", "merge_log"):
        assert_df_equality(first[table], again[table], ignore_row_order=True)


def test_only_a_link_that_joins_a_record_gives_it_a_new_explanation(spark):
    # record, profile now, profile before (None: new to the state), new or changed this run,
    # linked_by before
    members = [
        ("a", "P1", "P1", False, "default"),
        ("b", "P1", "P1", False, "default"),
        ("c", "P2", "P2", False, None),  # alone until n joins it
        ("n", "P2", None, True, None),  # new
        ("d", "P3", "P3", True, "phone-and-name"),  # changed
        ("e", "P3", "P3", False, "phone-and-name"),
        ("f", "P4", "P4", False, "default"),
        ("g", "P4", "P4", False, "default"),
        ("h", "P4", "P5", False, None),  # P5 retires into P4 through h-f
    ]
    edges = [
        ("a", "b", "email_alias_merge", 0, 1.0),  # found again inside P1: joins nothing
        ("c", "n", "default", 1, 1.0),
        ("d", "e", "default", 1, 1.0),  # d changed; for e nothing new
        ("d", "e", "earlier_run", -1, 1.0),  # permanent: never an explanation
        ("f", "g", "earlier_run", -1, 1.0),
        ("h", "f", "email_typo_merge", 0, 1.0),  # crosses from P5 into P4
    ]
    frame = spark.createDataFrame(
        [(r, "web", r, p, before, new) for r, p, before, new, _ in members],
        f"{C.RECORD_ID} string, {C.SOURCE} string, {C.SOURCE_RECORD_ID} string, "
        f"{C.PROFILE_ID} string, {PREVIOUS_PROFILE_ID} string, {C.IS_NEW} boolean",
    )
    previous_map = spark.createDataFrame(
        [(r, before, linked_by) for r, _, before, _, linked_by in members if before],
        f"{C.RECORD_ID} string, {C.PROFILE_ID} string, {C.LINKED_BY} string",
    )
    links = spark.createDataFrame(
        edges, f"{C.SRC} string, {C.DST} string, {C.REASON} string, {C.PRIORITY} long, "
        f"{C.SCORE} double",
    )  # fmt: skip
    run = RunContext.for_date(DAY, "0123456789ab", seq=2)
    record_map = golden._record_map(frame, links, run, previous_map)
    assert {r.record_id: r.linked_by for r in record_map.collect()} == {
        "a": "default", "b": "default",
        "c": "default", "n": "default",
        "d": "default", "e": "phone-and-name",
        "f": "email_typo_merge", "g": "default", "h": "email_typo_merge",
    }  # fmt: skip
