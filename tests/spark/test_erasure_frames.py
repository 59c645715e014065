"""The Spark halves of erasure on hand-made frames: suppression at read (keyed hashes in a
vectorized UDF) and the merge log without the erased records' values."""

from __future__ import annotations

import pytest
from chispa import assert_df_equality

from idres_spark.profiles.merge_log import MERGE_LOG_SCHEMA
from idres_spark.stewardship import erasure
from idres_spark.stewardship.requests import keyed_hash

pytestmark = pytest.mark.spark
KEY = b"k" * 16


def test_suppressed_record_ids_and_identifiers_are_dropped(spark):
    records = spark.createDataFrame(
        [("web:1", "ann@x.com", None, None, None), ("web:2", "bob@x.com", None, None, None),
         ("web:3", None, "+14155550100", None, None), ("web:4", None, None, "U4", "D4"),
         ("web:5", "eve@x.com", None, None, "D5")],
        "record_id string, email string, phone string, user_id string, device_id string",
    )  # fmt: skip
    listed = [("record", "web:2"), ("phone", "+14155550100"), ("device_id", "D5"),
              ("email", "web:4")]  # a value of another kind names nothing  # fmt: skip
    suppression = spark.createDataFrame(
        [(keyed_hash(KEY, kind, value), kind, "r1") for kind, value in listed],
        erasure.SUPPRESSION_SCHEMA,
    )
    kept, dropped = erasure.drop_suppressed(records, suppression, KEY)
    assert sorted(r.record_id for r in kept.collect()) == ["web:1", "web:4"]
    assert sorted(r.record_id for r in dropped.collect()) == ["web:2", "web:3", "web:5"]
    assert kept.columns == records.columns
    _, none = erasure.drop_suppressed(records, suppression, b"another-key-0123")
    assert none.count() == 0  # the hashes mean nothing under another key


def test_merge_log_keeps_its_rows_without_the_erased_values(spark):
    def row(src, dst, emails, reason, ids):
        return {"source_profile_id": src, "destination_profile_id": dst,
                "source_email": emails[0], "destination_email": emails[1],
                "source_phone": None, "destination_phone": None, "source_external_id": "U1",
                "destination_external_id": None, "reason": reason,
                "from_record_id": ids[0], "to_record_id": ids[1]}  # fmt: skip

    log = spark.createDataFrame([
        row("P1", "P2", ("two@x.com", "one@x.com"), "default", ("web:2", "web:1")),
        row("P3", "P2", ("three@x.com", "one@x.com"), "default", ("web:3", "web:1")),
        row("P4", "P2", ("two@x.com", "one@x.com"), "profile_merge", (None, None)),
    ], MERGE_LOG_SCHEMA)  # fmt: skip
    erased = spark.createDataFrame([("web:2",)], "record_id string")
    scrubbed = erasure.scrub_merge_log(log, erased, ("two@x.com", "U1"))
    expected = spark.createDataFrame([
        {**row("P1", "P2", (None, "one@x.com"), "default", (None, "web:1")),
         "source_external_id": None},
        {**row("P3", "P2", ("three@x.com", "one@x.com"), "default", ("web:3", "web:1")),
         "source_external_id": None},
        {**row("P4", "P2", (None, "one@x.com"), "profile_merge", (None, None)),
         "source_external_id": None},
    ], MERGE_LOG_SCHEMA)  # fmt: skip
    assert_df_equality(scrubbed, expected, ignore_row_order=True)


def test_events_of_erased_and_suppressed_records_are_dropped(spark):
    events = spark.createDataFrame(
        [("e1", "web", "1"), ("e2", "web", "2"), ("e3", "app", "2"), ("e4", "web", "3")],
        "event_id string, source string, source_record_id string",
    )
    plan = erasure.ErasurePlan(
        erased=spark.createDataFrame([("web:1",)], "record_id string"),
        erased_values=(), unpinned=None, erased_profiles=None, audit=None, any_erased=True,
        suppression=spark.createDataFrame(
            [(keyed_hash(KEY, "record", "web:2"), "record", "r1")], erasure.SUPPRESSION_SCHEMA
        ),
        suppressing=True,
    )  # fmt: skip
    kept = erasure.without_erased_events(events, plan, KEY)
    assert sorted(r.event_id for r in kept.collect()) == ["e3", "e4"]
    assert kept.columns == events.columns
