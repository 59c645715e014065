"""The whole pipeline on generated demo data: coverage, no junk merges, accuracy floor."""

from __future__ import annotations

import datetime as dt
from importlib import resources

import pandas as pd
import pytest
from pyspark.sql import functions as F

from idres_spark.cli import load_runnable_config
from idres_spark.ingest import read
from idres_spark.ingest.normalizers import BUILTIN_JUNK
from idres_spark.pipeline import resolve
from idres_spark.run import demo_data
from idres_spark.run.evaluate import pairwise_scores
from idres_spark.run_context import RunContext

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def demo_run(spark, tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo")
    demo_data.write(folder / "data", n_people=400, seed=11)
    config_file = folder / "demo.yaml"
    config_file.write_bytes((resources.files("idres_spark") / "data" / "demo.yaml").read_bytes())
    config = load_runnable_config(str(config_file), None)
    run = RunContext.for_date(dt.date(2025, 7, 1), config.fingerprint())
    result = resolve(read.load_sources(spark, config), config, run)
    truth = spark.read.parquet(str(folder / "data" / "truth"))
    return result, truth, demo_data.generate(400, seed=11)


def test_every_record_is_in_exactly_one_profile(demo_run):
    result, _, frames = demo_run
    record_map = result.record_map.cache()
    resolved = record_map.count()
    quarantined = result.quarantine.count()
    generated = sum(len(frames[s]) for s in demo_data.SOURCES)
    assert resolved + quarantined == generated
    assert record_map.select("record_id").distinct().count() == resolved
    total = result.profiles.agg(F.sum("record_count")).first()[0]
    assert total == resolved
    assert record_map.where(F.col("profile_id").isNull()).count() == 0
    orphans = record_map.join(result.profiles, "profile_id", "left_anti").count()
    assert orphans == 0


def test_junk_identifiers_never_join_two_people(demo_run, spark):
    result, truth, _ = demo_run
    junk = [v for v in BUILTIN_JUNK if v]
    # the records side is renamed: Spark 3.5 cannot tell apart the two uses of the checkpointed
    # records frame that both sides of this join grow from
    raw = result.records.select(F.col("record_id").alias("rid"), "email_raw", "phone_raw")
    people = (
        result.record_map.join(
            truth.select("source", "source_record_id", "person_id"), ["source", "source_record_id"]
        )
        .join(raw, F.col("record_id") == F.col("rid"))
        .drop("rid")
    )
    for raw in ("email_raw", "phone_raw"):
        carriers = people.where(F.lower(F.trim(raw)).isin(junk) | (F.trim(raw) == ""))
        assert carriers.count() > 10, f"demo data should carry junk {raw} values"
        mixed = (
            carriers.groupBy("profile_id", F.lower(F.trim(raw)).alias("value"))
            .agg(F.countDistinct("person_id").alias("people"))
            .where("people > 1")
        )
        assert mixed.count() == 0, mixed.limit(5).collect()


def test_accuracy_floor_on_demo_data(demo_run):
    result, truth, _ = demo_run
    scores = pairwise_scores(result.record_map, truth)
    assert scores["precision"] >= 0.98, scores
    assert scores["recall"] >= 0.85, scores


def test_merge_log_and_record_map_explain_links(demo_run):
    result, _, _ = demo_run
    log = result.merge_log.toPandas()
    rules = {"default", "phone-and-name", "device-and-name", "loyalty-card"}
    assert set(log["reason"]) <= rules | {"email_typo_merge", "email_alias_merge"}
    assert {"email_typo_merge", "email_alias_merge"} <= set(log["reason"])  # demo turns both on
    assert (log["merged_at"] == pd.Timestamp("2025-07-01")).all()
    assert log["destination_profile_id"].str.match(r"^P[0-9a-f]{20}$").all()
    linked = result.record_map.where(F.col("linked_by").isNotNull()).count()
    sizes = result.profiles.where("record_count > 1").agg(F.sum("record_count")).first()[0]
    assert linked == sizes  # every record of a multi-record profile says how it was linked


def test_each_record_is_explained_by_its_strongest_link(demo_run):
    """A run without earlier state explains each record by the strongest of its links
    (priority, then score, then reason), worked out here link by link."""
    result, _, _ = demo_run
    strongest: dict[str, tuple] = {}
    for e in result.edges.select("src", "dst", "priority", "score", "reason").collect():
        for end in (e["src"], e["dst"]):
            key = (e["priority"], -e["score"], e["reason"])
            strongest[end] = min(strongest.get(end, key), key)
    explained = result.record_map.where(F.col("linked_by").isNotNull())
    assert dict(explained.select("record_id", "linked_by").collect()) == {
        record: key[2] for record, key in strongest.items()
    }
