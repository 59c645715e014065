"""Faults around a run: overlapping runs, interruption, leftovers, who may read the outputs."""

from __future__ import annotations

import datetime as dt
import stat

import pytest
from test_incremental import DAY, ids_of, job_config, write_batch

from idres_spark.errors import InputError
from idres_spark.run import job
from idres_spark.state import store

pytestmark = pytest.mark.e2e


def test_a_run_that_overlaps_another_fails_cleanly_and_leaves_the_winner(
    spark, tmp_path, monkeypatch
):
    """Run B resolves; run A starts and publishes on the same path while B is between its
    stages; B then finds its sequence number taken and says so (exit 3), its own folders
    intact until then and removed after."""
    out = tmp_path / "out"
    batch_a = write_batch(tmp_path / "a", [{"id": "1", "email": "a@x.com"}])
    batch_b = write_batch(tmp_path / "b", [{"id": "2", "email": "b@x.com"}])
    real_resolve = job.resolve
    calls = []

    def resolve_then_let_a_run(*args, **kwargs):
        result = real_resolve(*args, **kwargs)  # B's checkpoints are in its work folder now
        if not calls:
            calls.append("a")
            monkeypatch.setattr(job, "resolve", real_resolve)
            job.run_job(job_config(batch_a, out), DAY, spark)  # A: publish, retention, cleanup
        return result

    monkeypatch.setattr(job, "resolve", resolve_then_let_a_run)
    with pytest.raises(InputError) as lost:
        job.run_job(job_config(batch_b, out), DAY, spark)
    assert lost.value.code == "concurrent_publish"
    assert set(ids_of(spark, out)) == {"web:1"}
    assert [p.name for p in (out / "runs").iterdir()] == [
        store.current_run(spark, str(out)).run_dir.split("/")[1]
    ]
    assert not (out / "_work").exists()


def test_an_interrupted_run_leaves_no_folder(spark, tmp_path, monkeypatch):
    out = tmp_path / "out"
    batch = write_batch(tmp_path / "b", [{"id": "1", "email": "a@x.com"}])
    job.run_job(job_config(batch, out), DAY, spark)
    before = sorted(p.name for p in (out / "runs").iterdir())

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(store, "publish", ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        job.run_job(job_config(batch, out), DAY + dt.timedelta(days=1), spark)
    assert sorted(p.name for p in (out / "runs").iterdir()) == before
    assert not (out / "_work").exists()


def test_leftovers_of_a_killed_attempt_are_removed_by_a_later_run(spark, tmp_path):
    out = tmp_path / "out"
    batch = write_batch(tmp_path / "b", [{"id": "1", "email": "a@x.com"}])
    job.run_job(job_config(batch, out), DAY, spark)
    # what a kill just after publishing (seq 1) leaves: its work folder, marked by the job
    orphan = out / "_work" / (store.current_run(spark, str(out)).run_dir.split("/")[1])
    store.claim(spark, str(orphan), "000001-x")
    mine = out / "_work" / "my-notes"
    mine.mkdir()
    job.run_job(job_config(batch, out), DAY + dt.timedelta(days=1), spark)
    assert not orphan.exists() and mine.exists()


def test_run_folders_hold_personal_data_for_their_owner_only(spark, tmp_path):
    out = tmp_path / "out"
    batch = write_batch(tmp_path / "b", [{"id": "1", "email": "a@x.com", "phone": "+14155550100"}])
    job.run_job(job_config(batch, out), DAY, spark)
    folder = out / store.current_run(spark, str(out)).run_dir
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    preview = job.run_job(job_config(batch, out), DAY, spark, preview=True)
    assert stat.S_IMODE((out / "preview" / preview["run_id"]).stat().st_mode) == 0o700


def test_pruned_group_keys_are_masked_in_metrics_and_report(spark, tmp_path):
    ids = ["ann.lee@example.com", "bob.ray@example.com", "cat.kim@example.com"]
    batch = write_batch(tmp_path / "b", [{"id": i, "email": "shared@x.com"} for i in ids])
    config = job_config(batch, tmp_path / "out", rules=[
        {"name": "email", "all": [{"field": "email", "compare": "equals"}]}
    ])  # fmt: skip
    config = config.model_copy(
        update={"limits": config.limits.model_copy(update={"max_group_size": 2})}
    )
    metrics = job.run_job(config, DAY, spark)
    assert metrics["pruned_groups"] == 1
    assert metrics["top_pruned_groups"][0]["group_key"] == "web:a***@example.com"
    folder = tmp_path / "out" / store.current_run(spark, str(tmp_path / "out")).run_dir
    for written in (folder / "diagnostics" / "metrics.json", folder / "report.html"):
        text = written.read_text()
        assert not any(i in text for i in ids), written.name
