"""Faults around a run: overlapping runs, interruption, leftovers, who may read the outputs."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import stat
import subprocess
import sys

import pytest
from test_incremental import DAY, ids_of, job_config, write_batch

from idres_spark.cli import main
from idres_spark.errors import InputError
from idres_spark.run import job
from idres_spark.state import store

pytestmark = [pytest.mark.e2e, pytest.mark.once, pytest.mark.line35]


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
    shared = job_config(batch, out)
    shared = shared.model_copy(
        update={"output": shared.output.model_copy(update={"private": False})}
    )
    job.run_job(shared, DAY + dt.timedelta(days=1), spark)
    folder = out / store.current_run(spark, str(out)).run_dir
    assert stat.S_IMODE(folder.stat().st_mode) & 0o055


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


def cli_run(config_path, *extra):
    return main(["run", "--config", str(config_path), "--run-date", "2025-07-01", *extra])


@pytest.fixture
def job_yaml(tmp_path):
    write_batch(tmp_path / "data", [{"id": str(i), "email": f"a{i}@x.com"} for i in range(5)])
    path = tmp_path / "job.yaml"
    path.write_text(
        "sources: [{name: web, format: parquet, path: data, columns: {record_id: id, "
        "email: email, phone: phone, user_id: uid, first_name: first, last_name: last, "
        "event_ts: ts}}]\noutput: {path: out, mode: incremental}\n"
    )
    return path


def test_a_truncated_source_file_is_named_in_one_line(spark, job_yaml, capsys):
    good = next((job_yaml.parent / "data").glob("*.parquet"))
    broken = good.with_name("part-9.parquet")
    broken.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    assert cli_run(job_yaml) == 3
    err = capsys.readouterr().err
    assert "[source_file_unreadable]" in err and "part-9.parquet:" in err
    assert not (job_yaml.parent / "out" / "_published").exists()


def test_an_unwritable_or_root_output_is_one_line(spark, job_yaml, capsys):
    assert cli_run(job_yaml, "--output", "/proc/idres-out") == 6  # a read-only file system
    assert "[output_not_writable]" in capsys.readouterr().err
    assert cli_run(job_yaml, "--output", "/") == 2
    assert "[output_path_root]" in capsys.readouterr().err


@pytest.mark.parametrize("damage", ["empty", "garbage", "stale"])
def test_a_damaged_pointer_stops_the_run_with_what_to_do(spark, job_yaml, capsys, damage):
    assert cli_run(job_yaml) == 0
    out = job_yaml.parent / "out"
    (pointer,) = (out / "_published").glob("*.json")
    if damage == "stale":
        folder = out / json.loads(pointer.read_text())["run_dir"]
        shutil.rmtree(folder / "records")
    else:
        pointer.write_text("" if damage == "empty" else "{not json")
    before = sorted(str(p) for p in out.rglob("*"))
    assert cli_run(job_yaml) == 3
    err = capsys.readouterr().err
    assert f"[{'stale_pointer' if damage == 'stale' else 'corrupt_pointer'}]" in err
    assert "Traceback" not in err and "Delete" in err
    assert sorted(str(p) for p in out.rglob("*")) == before


def test_stdout_carries_only_the_summary_and_no_temporary_folder_is_left(job_yaml, tmp_path):
    temp = tmp_path / "tmp"
    temp.mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "idres_spark", "run", "--config", str(job_yaml)],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "TMPDIR": str(temp)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert lines[0].startswith("run 000001-") and "WARN" not in result.stdout
    assert all(line.startswith(("run ", "  ", "    ")) for line in lines), lines
    assert "WARN" in result.stderr or "INFO" in result.stderr  # the log went to stderr
    assert list(temp.iterdir()) == []
