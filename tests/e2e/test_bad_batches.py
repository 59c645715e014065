"""Batches with nothing usable in them: the run publishes an empty (or unchanged) state and
keeps the quarantine that explains it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from test_incremental import DAY, job_config, write_batch

from idres_spark.run.job import run_job
from idres_spark.state import store

pytestmark = [pytest.mark.e2e, pytest.mark.once]


@pytest.fixture(autouse=True)
def adaptive_execution(spark):
    """As in the job's own sessions: AQE skips the tasks of a stage it finds empty."""
    spark.conf.set("spark.sql.adaptive.enabled", "true")
    yield
    spark.conf.set("spark.sql.adaptive.enabled", "false")


def empty_batch(folder: Path) -> Path:
    folder.mkdir(parents=True)
    columns = {
        c: pd.Series([], dtype=object) for c in ("id", "email", "phone", "uid", "first", "last")
    }
    frame = pd.DataFrame({**columns, "ts": pd.Series([], dtype="datetime64[us]")})
    frame.to_parquet(folder / "part-0.parquet")
    return folder


@pytest.mark.parametrize("mode", ["overwrite", "incremental"])
def test_every_row_quarantined_publishes_an_empty_state_with_its_quarantine(spark, tmp_path, mode):
    batch = write_batch(
        tmp_path / "bad", [{"id": None, "email": "a@x.com"}, {"id": " ", "email": "b@x.com"}]
    )
    out = tmp_path / "out"
    metrics = run_job(job_config(batch, out, mode=mode), DAY, spark)
    assert (metrics["records_in"], metrics["quarantined"], metrics["candidate_pairs"]) == (2, 2, 0)
    assert spark.read.parquet(store.table_path(spark, str(out), "record_map")).count() == 0
    quarantine = spark.read.parquet(store.table_path(spark, str(out), "diagnostics/quarantine"))
    assert sorted(r.reason for r in quarantine.collect()) == ["missing_record_id"] * 2


def test_empty_batch_on_a_state_changes_no_profile(spark, tmp_path):
    out = tmp_path / "out"
    first = write_batch(
        tmp_path / "b1", [{"id": "1", "email": "a@x.com"}, {"id": "2", "email": "a@x.com"}]
    )
    run_job(job_config(first, out), DAY, spark)
    before = spark.read.parquet(store.table_path(spark, str(out), "record_map")).collect()
    metrics = run_job(job_config(empty_batch(tmp_path / "b2"), out), DAY, spark)
    assert (metrics["records_in"], metrics["merges"]) == (0, 0)
    after = spark.read.parquet(store.table_path(spark, str(out), "record_map")).collect()
    assert sorted((r.record_id, r.profile_id) for r in after) == sorted(
        (r.record_id, r.profile_id) for r in before
    )
    assert store.current_run(spark, str(out)).seq == 2


def test_empty_first_batch_publishes_an_empty_state(spark, tmp_path):
    out = tmp_path / "out"
    metrics = run_job(job_config(empty_batch(tmp_path / "b"), out, mode="overwrite"), DAY, spark)
    assert (metrics["records_in"], metrics["profiles"]) == (0, 0)
    assert spark.read.parquet(store.table_path(spark, str(out), "profiles")).count() == 0
