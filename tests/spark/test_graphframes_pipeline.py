"""``graph.backend: graphframes`` runs the whole pipeline on demo data and groups the records
exactly as the native engine does."""

from __future__ import annotations

import datetime as dt
from importlib import resources

import pytest

from idres_spark.cli import load_runnable_config
from idres_spark.ingest import read
from idres_spark.pipeline import resolve
from idres_spark.run import demo_data
from idres_spark.run_context import RunContext

pytestmark = pytest.mark.spark


def groups(spark, config, backend: str) -> set[frozenset[str]]:
    config = config.model_copy(
        update={"graph": config.graph.model_copy(update={"backend": backend})}
    )
    run = RunContext.for_date(dt.date(2025, 7, 1), config.fingerprint())
    result = resolve(read.load_sources(spark, config), config, run)
    members: dict[str, set[str]] = {}
    for row in result.record_map.select("record_id", "profile_id").collect():
        members.setdefault(row["profile_id"], set()).add(row["record_id"])
    return {frozenset(records) for records in members.values()}


def test_graphframes_backend_runs_the_demo_like_native(spark, require_jar, tmp_path):
    require_jar("graphframes")
    demo_data.write(tmp_path / "data", n_people=150, seed=5)
    config_file = tmp_path / "demo.yaml"
    config_file.write_bytes((resources.files("idres_spark") / "data" / "demo.yaml").read_bytes())
    config = load_runnable_config(str(config_file), None)
    with_graphframes = groups(spark, config, "graphframes")
    native = groups(spark, config, "native")
    assert with_graphframes == native
    assert any(len(group) > 1 for group in native)  # the demo data does link records
