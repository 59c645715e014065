"""SIGKILL at each stage boundary, in both modes: the published state is unchanged (or, killed
after publishing, the new run is complete) and a re-run equals an uninterrupted run."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_incremental import write_batch

from idres_spark.cli import main
from idres_spark.profiles.merge_log import read_merge_log
from idres_spark.state import store

pytestmark = [pytest.mark.e2e, pytest.mark.once, pytest.mark.kill, pytest.mark.line35]
HERE = Path(__file__).parent
# the boundaries whose files differ: while the tables are written (an unpublished run folder
# with the records table and some others, and scratch files under _work/; a kill at an
# earlier stage leaves a subset of these: the claimed folders, fewer tables), after the
# pointer (publish) and during retention; in overwrite mode, publish (a kill while an
# overwrite run writes its tables leaves the same unpublished folder as the incremental
# case). A kill between two stages leaves the same files whichever they are, and each case
# starts a JVM of its own (about 80 s of CI time): the read+normalize case, a subset of the
# write case's leftovers, was dropped for the CI budget (issue 19)
BEFORE_PUBLISH = ["write", "publish"]
CASES = [(p, "incremental") for p in [*BEFORE_PUBLISH, "retention"]] + [("publish", "overwrite")]


def config_file(folder: Path, out: Path, mode: str) -> Path:
    path = folder / f"job-{mode}.yaml"
    path.write_text(
        f"sources: [{{name: web, format: parquet, path: {folder / 'batch'}, columns: "
        "{record_id: id, email: email, phone: phone, user_id: uid, first_name: first, "
        f"last_name: last, event_ts: ts}}}}]\noutput: {{path: {out}, mode: {mode}}}\n"
    )
    return path


def set_batch(folder: Path, rows: list[dict]) -> None:
    for old in (folder / "batch").glob("*"):
        old.unlink()
    write_batch(folder / "batch", rows)


NIGHT_1 = [{"id": "1", "email": "a@x.com"}, {"id": "2", "email": "a@x.com"},
           {"id": "3", "email": "b@x.com"}]  # fmt: skip
NIGHT_2 = [{"id": "4", "email": "b@x.com"}, {"id": "5", "email": "a@x.com"},
           {"id": "6", "email": "c@x.com"}]  # fmt: skip


def run(config: Path, day: str) -> None:
    assert main(["run", "--config", str(config), "--run-date", day]) == 0


def published_files(out: Path) -> dict[str, str]:
    """Every file the current pointer's run and the pointers hold, with its hash."""
    pointers = sorted((out / "_published").glob("*.json"))
    current = json.loads(pointers[-1].read_text())["run_dir"]
    files = [*pointers, *(p for p in (out / current).rglob("*") if p.is_file())]
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def tables(spark, out: Path) -> dict[str, list]:
    def rows(table, *cols):
        path = store.table_path(spark, str(out), table)
        frame = read_merge_log(spark, path) if table == "merge_log" else spark.read.parquet(path)
        return sorted(tuple(r) for r in frame.select(*cols).collect())

    return {
        "record_map": rows("record_map", "record_id", "profile_id"),
        "profiles": rows("profiles", "profile_id", "record_count"),
        "merge_log": rows("merge_log", "from_record_id", "to_record_id", "reason"),
    }


@pytest.fixture(scope="module")
def nights(spark, tmp_path_factory):
    """Per mode: the state after night 1 (copied by each case) and the tables after both
    nights without a kill."""
    result = {}
    for mode in ("incremental", "overwrite"):
        folder = tmp_path_factory.mktemp(f"clean-{mode}")
        config = config_file(folder, folder / "out", mode)
        set_batch(folder, NIGHT_1)
        run(config, "2025-07-01")
        night_1 = folder / "night-1"
        shutil.copytree(folder / "out", night_1)
        set_batch(folder, NIGHT_2)
        run(config, "2025-07-02")
        result[mode] = (night_1, tables(spark, folder / "out"))
    return result


@pytest.mark.parametrize(("point", "mode"), CASES)
def test_sigkill_leaves_the_state_and_a_rerun_equals_an_uninterrupted_run(
    spark, tmp_path, nights, point, mode
):
    night_1, uninterrupted = nights[mode]
    out = tmp_path / "out"
    shutil.copytree(night_1, out)
    config = config_file(tmp_path, out, mode)
    before = published_files(out)
    set_batch(tmp_path, NIGHT_2)
    killed = subprocess.run(
        [sys.executable, str(HERE / "kill_at.py"), point, "run", "--config", str(config),
         "--run-date", "2025-07-02"],
        capture_output=True, text=True, timeout=300, env=dict(os.environ),
    )  # fmt: skip
    assert killed.returncode == -9, killed.stderr[-3000:]
    if point == "retention":  # killed after publishing: the new run is current and complete
        assert tables(spark, out) == uninterrupted
        return
    assert published_files(out) == before
    run(config, "2025-07-02")
    assert tables(spark, out) == uninterrupted
    if point == "write":  # the next night cleans what the kill left behind
        run(config, "2025-07-03")
        assert sorted(p.name for p in (out / "runs").iterdir()) == sorted(
            r.run_dir.split("/")[1] for r in store.published_runs(spark, str(out))[-3:]
        )
        assert not (out / "_work").exists()
