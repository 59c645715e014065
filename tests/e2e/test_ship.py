"""The spark-submit shipping recipe of docs/deploy.md, run as written: pack the environment with
jobs/pack_env.sh, submit jobs/resolve.py with --archives ...#environment and
PYSPARK_PYTHON=./environment/bin/python, then read what the run published.

The master is ``local-cluster[2,1,1024]``: two executor processes of one core each, launched
by spark-submit on this machine like a standalone cluster's. Plain ``local[2]`` cannot run the
recipe: it runs the tasks inside the driver and unpacks archives into Spark's temporary files
folder, not the working folder the Python workers start in, so ``./environment`` does not
exist there (docs/deploy.md says so).

The Python workers can only start from the unpacked archive (PYSPARK_PYTHON is a relative path
into it), and they import idres-spark, rapidfuzz, pyarrow and phonenumbers there, so the job
succeeds only if the archive carries them. Slow (it installs a fresh environment): marked
``ship``; CI runs it once, on the newest PySpark.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from idres_spark.run import demo_data

pytestmark = [pytest.mark.e2e, pytest.mark.ship]
REPO = Path(__file__).resolve().parents[2]


def _spark_submit() -> str:
    found = shutil.which("spark-submit", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.skip("spark-submit is not next to this Python (PySpark not pip-installed here)")
    return found


def _spark_work_dir() -> Path:
    import pyspark

    return Path(os.environ.get("SPARK_HOME") or Path(pyspark.__file__).parent) / "work"


def test_packed_environment_runs_under_spark_submit(tmp_path):
    submit = _spark_submit()
    packed = subprocess.run(
        ["bash", str(REPO / "jobs" / "pack_env.sh"), str(tmp_path / "dist")],
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert packed.returncode == 0, packed.stderr[-3000:]
    archive = tmp_path / "dist" / "idres-env.tar.gz"
    assert archive.is_file() and list((tmp_path / "dist").glob("idres_spark-*.whl"))

    job = tmp_path / "job"
    demo_data.write(job / "data", n_people=200, seed=5)
    with resources.as_file(resources.files("idres_spark") / "data" / "demo.yaml") as packaged:
        shutil.copyfile(packaged, job / "job.yaml")  # four sources, fuzzy rules, transformations
    env = {
        **os.environ,
        "PYSPARK_DRIVER_PYTHON": sys.executable,  # client mode: the submitting Python
        "PYSPARK_PYTHON": "./environment/bin/python",  # the workers: the unpacked archive
    }
    work = _spark_work_dir()  # local-cluster executors work in <SPARK_HOME>/work/<app>/<n>/
    before = set(work.glob("app-*"))
    submitted = subprocess.run(
        [submit, "--master", "local-cluster[2,1,1024]",
         "--archives", f"{archive}#environment",
         "--conf", "spark.sql.shuffle.partitions=4",
         "--conf", "spark.ui.enabled=false",
         str(REPO / "jobs" / "resolve.py"), "--config", str(job / "job.yaml"),
         "--run-date", "2026-11-23"],
        cwd=job, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert submitted.returncode == 0, submitted.stderr[-5000:]
    printed = submitted.stdout + submitted.stderr
    assert "(master local-cluster[2,1,1024])" in printed  # it used the session spark-submit made
    apps = set(work.glob("app-*")) - before
    try:
        assert len(apps) == 1
        # each executor's working folder holds the unpacked archive its Python workers ran from
        assert len(list(next(iter(apps)).glob("*/environment/bin/python"))) == 2
    finally:
        for app in apps:
            shutil.rmtree(app, ignore_errors=True)

    output = job / "output"
    pointers = sorted((output / "_published").glob("*.json"))
    assert len(pointers) == 1
    run_dir = output / json.loads(pointers[0].read_text())["run_dir"]
    record_map = pq.read_table(run_dir / "record_map").to_pandas()
    metrics = json.loads((run_dir / "diagnostics" / "metrics.json").read_text())
    frames = demo_data.generate(n_people=200, seed=5)
    assert metrics["records_in"] == sum(len(df) for name, df in frames.items() if name != "truth")
    assert len(record_map) == metrics["records_resolved"] > 0
    assert record_map["profile_id"].nunique() < len(record_map)  # records were linked
    assert metrics["edges_by_reason"].get("phone-and-name", 0) > 0  # the fuzzy UDF ran
    assert (run_dir / "report.html").read_text().startswith("<!DOCTYPE html>")
