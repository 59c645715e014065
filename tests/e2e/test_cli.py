"""The CLI on files: exit codes, messages without tracebacks, deterministic outputs, demo."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest
from chispa import assert_df_equality

from idres_spark import pipeline
from idres_spark.cli import main
from idres_spark.linking.components import local_checkpoint
from idres_spark.run import demo_data, job
from idres_spark.state.store import table_path

pytestmark = pytest.mark.e2e

CONFIG = """
sources:
  - name: web
    format: parquet
    path: data/web
    columns: {record_id: id, email: email, phone: phone_number, user_id: customer_id,
              first_name: fname, last_name: lname, event_ts: updated_at, email_status: status}
  - name: crm
    format: csv
    path: data/crm
    timestamp_format: "yyyy-MM-dd HH:mm:ss"
    columns: {record_id: crm_id, email: Email, phone: Phone, user_id: CustomerNumber,
              first_name: FirstName, last_name: LastName, event_ts: ModifiedDate}
rules:
  - name: phone-and-name
    all:
      - {field: phone, compare: equals}
      - {field: first_name, compare: similar, method: jaro_winkler, min: 0.9}
output: {path: out}
"""


@pytest.fixture(scope="module")
def job_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("job")
    demo_data.write(folder / "data", n_people=150, seed=3)
    (folder / "job.yaml").write_text(CONFIG)
    return folder


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "idres_spark", *args],
        capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})},
    )  # fmt: skip


@pytest.mark.once  # both checkpoint paths, whole runs: the other e2e tests cover 3.5
def test_run_twice_gives_identical_tables(spark, job_dir, capsys, monkeypatch):
    """The second run takes the large-run path (parquet checkpoints under _work/, not local
    ones, and generated code): the tables are the same. The first run's expressions are
    interpreted after its records are stored, and the session's settings come back after it."""
    config = str(job_dir / "job.yaml")
    first, second = job_dir / "out1", job_dir / "out2"
    local = []
    mode = "spark.sql.codegen.factoryMode"
    before = {key: spark.conf.get(key, None) for key in (mode, "spark.sql.codegen.wholeStage")}

    def checkpoint(df):
        local.append(spark.conf.get(mode))
        return local_checkpoint(df)

    monkeypatch.setattr(job, "local_checkpoint", checkpoint)
    assert (
        main(["run", "--config", config, "--run-date", "2025-07-01", "--output", str(first)]) == 0
    )
    assert len(local) > 5 and set(local) == {"NO_CODEGEN"}
    assert {key: spark.conf.get(key, None) for key in before} == before
    local[:] = []
    monkeypatch.setattr(pipeline, "SMALL_RUN_RECORDS", 0)
    assert (
        main(["run", "--config", config, "--run-date", "2025-07-01", "--output", str(second)]) == 0
    )
    assert local == []
    printed = capsys.readouterr().out
    run_id = printed.split("run ", 1)[1].split()[0]
    assert "profiles out" in printed and "stage timings" in printed
    for table in ("profiles", "record_map", "merge_log", "diagnostics/quarantine"):
        a = spark.read.parquet(table_path(spark, str(first), table))
        b = spark.read.parquet(table_path(spark, str(second), table))
        assert a.count() > 0
        assert_df_equality(a, b, ignore_row_order=True, ignore_column_order=True)
    (metrics_file,) = first.glob(f"runs/{run_id}-*/diagnostics/metrics.json")
    metrics = json.loads(metrics_file.read_text())
    assert metrics["run_id"].startswith("000001-20250701-")
    assert metrics["records_in"] == metrics["records_resolved"] + metrics["quarantined"]
    assert not (first / "_work").exists()
    assert [p.name for p in (first / "_published").glob("[0-9]*.json")] == ["00000001.json"]


def test_validate_ok(spark, job_dir, capsys):
    assert main(["validate", "--config", str(job_dir / "job.yaml")]) == 0
    assert "config OK: 2 sources, rules: default, phone-and-name" in capsys.readouterr().out


def test_missing_column_exits_3_and_lists_columns(spark, job_dir, capsys):
    broken = job_dir / "broken.yaml"
    broken.write_text(CONFIG.replace("fname", "given_name"))
    assert main(["validate", "--config", str(broken)]) == 3
    err = capsys.readouterr().err
    assert "[missing_column]" in err and "first_name -> 'given_name'" in err
    assert "Traceback" not in err


def test_bad_config_exits_2_without_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(CONFIG.replace("compare: similar", "compare: fuzzy"))
    result = run_cli("run", "--config", str(bad))
    assert result.returncode == 2
    assert "[unknown_comparator]" in result.stderr and "bad.yaml" in result.stderr
    assert "Traceback" not in result.stderr


def test_unblockable_rule_exits_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        CONFIG.replace("{field: phone, compare: equals}", "{field: phone, compare: typo}")
    )
    result = run_cli("validate", "--config", str(bad))
    assert result.returncode == 2 and "[unblockable_rule]" in result.stderr


def test_usage_error_exits_2(tmp_path):
    assert run_cli("run").returncode == 2


@pytest.mark.parametrize(
    ("case", "code"), [("no_java", "java_missing"), ("bad_java_home", "java_missing"),
                       ("java_8", "java_too_old")],
)  # fmt: skip
def test_missing_or_old_java_is_one_line(tmp_path, job_dir, case, code):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "JAVA_HOME"}
    env["PATH"] = str(bin_dir)
    if case == "java_8":
        java = bin_dir / "java"
        java.write_text("#!/bin/sh\necho 'openjdk version \"1.8.0_392\"' >&2\n")
        java.chmod(java.stat().st_mode | stat.S_IEXEC)
    if case == "bad_java_home":
        env["JAVA_HOME"] = str(tmp_path / "nojava")
    result = subprocess.run(
        [sys.executable, "-m", "idres_spark", "run", "--config", str(job_dir / "job.yaml")],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert result.returncode == 5, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("idres-spark")]
    assert lines and f"[{code}]" in lines[0] and "Java 17" in lines[0]
    assert "Traceback" not in result.stderr and "Py4J" not in result.stderr


@pytest.mark.once  # the Quick start's demo; its stages run on 3.5 in the other e2e tests
def test_demo_command(spark, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--people", "120"]) == 0
    out = capsys.readouterr().out
    assert "vs ground truth" in out and "precision" in out
    assert (tmp_path / "idres-demo" / "output" / "_published" / "00000001.json").is_file()
    assert (tmp_path / "idres-demo" / "demo.yaml").is_file()
