"""The job publishes its tables as Delta catalog tables: two incremental nights, each table
one commit per run that equals the run folder's table, the merge log appended, and
`idres-spark publish` writing nothing once the tables hold the current run."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pandas as pd
import pytest
import yaml
from chispa import assert_df_equality

from idres_spark.cli import main
from idres_spark.config import load_config
from idres_spark.run.job import run_job
from idres_spark.state import store

# `once` (on the 4.x line): two whole runs; the publishing itself is tested on both PySpark
# lines (tests/spark/test_publish_tables.py)
pytestmark = [pytest.mark.e2e, pytest.mark.once]
DAY = dt.date(2025, 7, 1)


def night(folder: Path, rows: list[tuple]) -> Path:
    folder.mkdir(parents=True)
    frame = pd.DataFrame(rows, columns=["id", "email", "phone"])
    frame.to_parquet(folder / "part-0.parquet")
    return folder


def config_file(tmp_path: Path, batch: Path, schema: str) -> Path:
    data = {
        "sources": [{"name": "web", "format": "parquet", "path": str(batch),
                     "columns": {"record_id": "id", "email": "email", "phone": "phone"}}],
        "output": {"path": str(tmp_path / "state"), "mode": "incremental", "format": "delta",
                   "schema": schema},
    }  # fmt: skip
    path = tmp_path / f"{batch.name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_two_nights_in_delta_catalog_tables(spark, require_jar, tmp_path, capsys):
    require_jar("delta")
    schema = "idres_e2e_" + uuid.uuid4().hex[:6]
    first = night(tmp_path / "n1", [("1", "a@x.com", None), ("2", "b@x.com", "+14155552671")])
    run_job(load_config(str(config_file(tmp_path, first, schema))), DAY, spark)
    second = night(tmp_path / "n2", [("3", "a@x.com", "+14155552671"), ("4", "d@x.com", None)])
    config = config_file(tmp_path, second, schema)
    run_job(load_config(str(config)), DAY + dt.timedelta(days=1), spark)

    root = str(tmp_path / "state")
    current = store.current_run(spark, root)
    for table in ("profiles", "record_map", "profile_field_provenance", "quarantine"):
        folder = f"diagnostics/{table}" if table == "quarantine" else table
        expected = spark.read.parquet(f"{root}/{current.run_dir}/{folder}")
        assert_df_equality(spark.table(f"{schema}.{table}"), expected, ignore_row_order=True,
                           ignore_column_order=True)  # fmt: skip
    merged = spark.table(f"{schema}.merge_log")
    assert merged.count() == spark.read.parquet(f"{root}/{current.run_dir}/merge_log").count()
    history = spark.sql(f"DESCRIBE HISTORY {schema}.merge_log").where("userMetadata IS NOT NULL")
    operations = {r.operation for r in history.collect()}
    assert "WRITE" in operations and len(history.collect()) == 2
    assert spark.table(f"{schema}.profiles").count() == 3

    assert main(["publish", "--config", str(config)]) == 0
    printed = capsys.readouterr().out
    assert "profiles" in printed and "written" not in printed and "unchanged" in printed
    spark.sql(f"DROP SCHEMA {schema} CASCADE")
