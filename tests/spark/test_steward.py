"""Steward values (golden_overrides) on real Spark: anchors, merges, splits, conflicts."""

from __future__ import annotations

import pytest
from pyspark.sql import functions as F

from idres_spark import columns as C
from idres_spark.golden_config import OVERRIDE_COLUMNS, OVERRIDE_OPTIONAL, GoldenConfig
from idres_spark.profiles import steward
from idres_spark.profiles.merge_log import MERGE_LOG_SCHEMA
from idres_spark.profiles.survivorship import PROVENANCE_COLUMNS, Survivorship

SURVIVORSHIP = Survivorship(GoldenConfig.model_validate({}), ["tier"])


@pytest.fixture
def state(spark):
    """Profiles P1 (records web:1, web:2) and P2 (crm:1); P0 was retired into P1 two runs
    ago and P00 into P0 before that (merge log retirement rows)."""
    profiles = spark.createDataFrame(
        [("P1", "ann@x.com", "+1555", "gold"), ("P2", "bo@y.com", None, None)],
        "profile_id string, primary_email string, primary_phone string, tier string",
    )
    record_map = spark.createDataFrame(
        [("web:1", "P1"), ("web:2", "P1"), ("crm:1", "P2")], "record_id string, profile_id string"
    )
    provenance = spark.createDataFrame(
        [("P1", "email", None, "ann@x.com", "web:1", "web", "1", None, "most_recent", 2, 2,
          None, None, None)],
        ", ".join(f"{c} {t}" for c, t in zip(PROVENANCE_COLUMNS, [
            "string", "string", "string", "string", "string", "string", "string", "timestamp",
            "string", "long", "int", "string", "string", "string"], strict=True)),
    )  # fmt: skip
    log_row = {name: None for name in MERGE_LOG_SCHEMA.names}
    merge_log = spark.createDataFrame(
        [
            {**log_row, "source_profile_id": "P00", "destination_profile_id": "P0"},
            {**log_row, "source_profile_id": "P0", "destination_profile_id": "P1"},
            # a link row (a record new to the state) is no retirement
            {
                **log_row,
                "source_profile_id": "PX",
                "destination_profile_id": "P2",
                "from_record_id": "crm:9",
            },
        ],  # fmt: skip
        MERGE_LOG_SCHEMA,
    )
    return profiles, provenance, record_map, merge_log


def overrides(spark, rows):
    names = (*OVERRIDE_COLUMNS, *OVERRIDE_OPTIONAL)
    return spark.createDataFrame(
        [tuple(r.get(n) for n in names) for r in rows], ", ".join(f"{n} string" for n in names)
    )


def applied(spark, state, rows):
    profiles, provenance, record_map, merge_log = state
    out = steward.apply(
        overrides(spark, rows), profiles, provenance, record_map, merge_log, SURVIVORSHIP
    )
    by_id = {r[C.PROFILE_ID]: r.asDict() for r in out[0].collect()}
    explained = {(r[C.PROFILE_ID], r["field"]): r.asDict() for r in out[1].collect()}
    status = {r["override_id"]: r.asDict() for r in out[2].collect()}
    return by_id, explained, status


def test_a_steward_value_wins_over_the_policy_and_says_so(spark, state):
    profiles, why, status = applied(spark, state, [
        {"override_id": "o1", "profile_id": "P1", "field": "email", "value": " Ann@Work.COM ",
         "reason": "customer asked", "created_by": "sam"},
    ])  # fmt: skip
    assert profiles["P1"]["primary_email"] == "ann@work.com"  # trimmed, lower-cased
    assert profiles["P2"]["primary_email"] == "bo@y.com"
    row = why[("P1", "email")]
    assert (row["policy"], row["override_id"], row["override_created_by"]) == (
        "steward_override", "o1", "sam")  # fmt: skip
    assert (row["record_id"], row["candidates"]) == (None, 2)  # the policy's candidates kept
    assert status["o1"]["status"] == "applied"


def test_record_anchor_follows_its_record_and_profile_anchor_follows_merges(spark, state):
    profiles, why, status = applied(spark, state, [
        {"override_id": "r", "record": "crm:1", "field": "tier", "value": "silver"},
        {"override_id": "m", "profile_id": "P00", "field": "phone", "value": "+1999"},
    ])  # fmt: skip
    assert profiles["P2"]["tier"] == "silver"
    assert profiles["P1"]["primary_phone"] == "+1999"  # P00 -> P0 -> P1, two runs apart
    assert status["m"]["profile_id"] == "P1" and "P00" in status["m"]["detail"]
    assert why[("P1", "phone")]["policy"] == "steward_override"


def test_after_a_split_values_stay_with_the_id_or_go_with_their_record(spark, state):
    """A split (issue 17) leaves the profile id with one part; web:2 went to a new P3."""
    profiles, provenance, record_map, merge_log = state
    split_map = record_map.withColumn(
        C.PROFILE_ID, F.when(F.col(C.RECORD_ID) == "web:2", "P3").otherwise(F.col(C.PROFILE_ID))
    )
    split_profiles = profiles.unionByName(
        spark.createDataFrame([("P3", None, None, None)], profiles.schema)
    )
    out, _, status = applied(spark, (split_profiles, provenance, split_map, merge_log), [
        {"override_id": "id", "profile_id": "P1", "field": "tier", "value": "vip"},
        {"override_id": "rec", "record": "web:2", "field": "phone", "value": "+1777"},
    ])  # fmt: skip
    assert out["P1"]["tier"] == "vip" and out["P3"]["tier"] is None
    assert out["P3"]["primary_phone"] == "+1777" and out["P1"]["primary_phone"] == "+1555"


def test_the_newest_value_wins_and_the_rest_are_reported(spark, state):
    profiles, _, status = applied(spark, state, [
        {"override_id": "old", "profile_id": "P1", "field": "tier", "value": "a",
         "created_at": "2025-01-01"},
        {"override_id": "new", "profile_id": "P0", "field": "tier", "value": "b",
         "created_at": "2025-06-01"},
        {"override_id": "undated", "record": "web:1", "field": "tier", "value": "c"},
    ])  # fmt: skip
    assert profiles["P1"]["tier"] == "b"
    assert status["new"]["status"] == "applied"
    assert status["old"]["status"] == status["undated"]["status"] == "superseded"
    assert "new" in status["old"]["detail"]


def test_rows_that_cannot_apply_are_reported_not_dropped(spark, state):
    profiles, _, status = applied(spark, state, [
        {"override_id": "f", "profile_id": "P1", "field": "shoe_size", "value": "9"},
        {"override_id": "e", "profile_id": "P1", "field": "phone", "value": "  "},
        {"override_id": "two", "profile_id": "P1", "record": "web:1", "field": "phone",
         "value": "+1"},
        {"override_id": "none", "field": "phone", "value": "+1"},
        {"override_id": "later", "record": "app:404", "field": "phone", "value": "+1"},
        {"override_id": "gone", "profile_id": "P404", "field": "phone", "value": "+1"},
        {"profile_id": "P2", "field": "primary_phone", "value": "+1222"},
    ])  # fmt: skip
    assert [status[k]["status"] for k in ("f", "e", "two", "none", "later", "gone")] == [
        "invalid", "invalid", "invalid", "invalid", "pending", "retired"]  # fmt: skip
    assert "shoe_size" in status["f"]["detail"]
    assert profiles["P1"]["primary_phone"] == "+1555"
    # a row without an id gets a stable one, and a profile column's name works as the field
    generated = [k for k in status if k.startswith("ov-")]
    assert len(generated) == 1 and status[generated[0]]["status"] == "applied"
    assert profiles["P2"]["primary_phone"] == "+1222"
    assert len(status) == 7
