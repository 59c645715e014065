"""Nothing the job did not create is ever deleted: the merge-log export and retention."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from test_incremental import DAY, job_config, write_batch

from idres_spark.cli import main
from idres_spark.errors import UsageError
from idres_spark.run.job import EXPORT_MARKER, export_merge_log, run_job
from idres_spark.state import store

pytestmark = [pytest.mark.e2e, pytest.mark.once, pytest.mark.line35]


def files_under(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def published(spark, tmp_path) -> Path:
    """``tmp_path/state`` holding one published run with one merge."""
    batch = write_batch(
        tmp_path / "data", [{"id": "1", "email": "a@x.com"}, {"id": "2", "email": "a@x.com"}]
    )
    root = tmp_path / "state"
    run_job(job_config(batch, root), dt.datetime.now(dt.UTC).date(), spark)
    return root


@pytest.mark.parametrize("where", [".", "state", "state/runs"])
def test_export_never_touches_the_state(spark, published, monkeypatch, capsys, where):
    monkeypatch.chdir(published.parent)
    before = files_under(published)
    code = main(["merge-log", "--state", "state", "--output", where, "--overwrite"])
    assert code == 2
    assert "[export_overlaps_state]" in capsys.readouterr().err
    assert files_under(published) == before


def test_export_refuses_a_folder_it_did_not_write(spark, published, tmp_path):
    mine = tmp_path / "reports"
    mine.mkdir()
    (mine / "q3.xlsx").write_bytes(b"precious")
    for overwrite in (False, True):
        with pytest.raises(UsageError) as refused:
            export_merge_log(spark, str(published), 30, "csv", str(mine), overwrite=overwrite)
        assert refused.value.code == "export_destination_not_empty"
    assert files_under(mine) == {"q3.xlsx": b"precious"}
    a_file = tmp_path / "notes.txt"
    a_file.write_text("keep")
    with pytest.raises(UsageError) as refused:
        export_merge_log(spark, str(published), 30, "csv", str(a_file))
    assert refused.value.code == "export_destination_not_folder"
    assert a_file.read_text() == "keep"


def test_export_replaces_its_own_earlier_export_only_when_asked(spark, published, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert export_merge_log(spark, str(published), 30, "parquet", str(empty)) == 1
    assert (empty / EXPORT_MARKER).exists()
    with pytest.raises(UsageError) as refused:
        export_merge_log(spark, str(published), 30, "csv", str(empty))
    assert refused.value.code == "export_exists"
    assert export_merge_log(spark, str(published), 30, "csv", str(empty), overwrite=True) == 1
    assert [p.suffix for p in empty.glob("part-*")] == [".csv"]


def test_retention_deletes_only_the_jobs_own_run_folders(spark, tmp_path):
    batch = write_batch(tmp_path / "data", [{"id": "1", "email": "a@x.com"}])
    root = tmp_path / "state"
    config = job_config(batch, root).model_copy(
        update={"output": job_config(batch, root).output.model_copy(update={"keep_runs": 1})}
    )
    run_job(config, DAY, spark)
    runs = root / "runs"
    first = next(runs.iterdir()).name
    # what a user keeps next to the run folders, names starting with digits included
    (runs / "1-important-backup").mkdir()
    (runs / "1-important-backup" / "data.parquet").write_bytes(b"backup")
    (runs / "0-notes.txt").write_text("notes")
    # a run folder's shape, but neither published nor marked by the job
    lookalike = runs / "000001-20250101-aaaaaaaa-bbbbbbbb"
    lookalike.mkdir()
    (lookalike / "x").write_text("x")
    # an attempt the job created and that never published (killed): the job's own
    killed = runs / "000001-20250101-cccccccc-dddddddd"
    killed.mkdir()
    (killed / store.RUN_MARKER).write_text("{}")
    run_job(config, DAY + dt.timedelta(days=1), spark)
    names = sorted(p.name for p in runs.iterdir())
    newest = store.current_run(spark, str(root)).run_dir.split("/")[1]
    assert first not in names and killed.name not in names
    assert names == sorted(["0-notes.txt", "1-important-backup", lookalike.name, newest])
    assert (runs / "1-important-backup" / "data.parquet").read_bytes() == b"backup"


def test_overwrite_on_an_incremental_state_is_refused_unless_asked(spark, tmp_path, capsys):
    batch = write_batch(
        tmp_path / "data", [{"id": "1", "email": "a@x.com"}, {"id": "2", "email": "a@x.com"}]
    )
    root = tmp_path / "state"
    run_job(job_config(batch, root, mode="incremental"), DAY, spark)
    published = store.current_run(spark, str(root))
    assert published.mode == "incremental"
    # a pointer written before pointers named the mode: the run's metrics tell it
    (pointer,) = (root / "_published").glob("*.json")
    pointer.write_text(json.dumps({k: v for k, v in json.loads(pointer.read_text()).items()
                                   if k != "mode"}))  # fmt: skip
    before = files_under(root)
    config = tmp_path / "overwrite.yaml"
    config.write_text(
        "sources: [{name: web, format: parquet, path: data, columns: {record_id: id, "
        "email: email, phone: phone, user_id: uid, first_name: first, last_name: last, "
        "event_ts: ts}}]\noutput: {path: state, mode: overwrite}\n"
    )
    assert main(["run", "--config", str(config), "--run-date", "2025-07-02"]) == 2
    assert "[overwrite_incremental_state]" in capsys.readouterr().err
    assert files_under(root) == before
    args = ["run", "--config", str(config), "--run-date", "2025-07-02", "--replace-state"]
    assert main(args) == 0
    replaced = store.current_run(spark, str(root))
    assert (replaced.seq, replaced.mode) == (published.seq + 1, "overwrite")
    # an overwrite state may be overwritten again without the flag
    assert main(["run", "--config", str(config), "--run-date", "2025-07-03"]) == 0
