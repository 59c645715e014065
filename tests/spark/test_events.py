"""Events: re-keyed to profiles; email events of a record merged for an unreachable email stay."""

from __future__ import annotations

import datetime as dt

import pytest
from chispa import assert_df_equality

from idres_spark.config import TransformationsConfig
from idres_spark.matching.transform import EDGE_SCHEMA, transformation_edges
from idres_spark.profiles.events import ROUTED_EVENT_COLUMNS, route_events

pytestmark = pytest.mark.spark

TS = dt.datetime(2025, 3, 1, 12, 0)
EVENTS = "event_id string, source string, source_record_id string, event_type string, " \
         "channel string, event_ts timestamp"  # fmt: skip
MAP = "record_id string, source string, source_record_id string, profile_id string"
ROUTED = (
    "event_id string, record_id string, profile_id string, source string, "
    "source_record_id string, event_type string, channel string, event_ts timestamp, "
    "carried boolean, reason string"
)


def events_of(spark, rows):
    return spark.createDataFrame([(*row, TS) for row in rows], EVENTS)


def record_map(spark, rows):
    return spark.createDataFrame(
        [(f"{src}:{sid}", src, sid, profile) for src, sid, profile in rows], MAP
    )


def test_email_events_of_an_unreachable_merged_record_stay_with_it(spark):
    records = record_map(spark, [("web", "1", "P1"), ("web", "2", "P1"), ("crm", "7", "P1"),
                                 ("web", "3", "P2"), ("web", "4", "P2")])  # fmt: skip
    edges = spark.createDataFrame(
        [
            ("web:1", "web:2", "email_typo_merge", 0, 1.0, True),  # bounced jon@ -> john@
            ("crm:7", "web:2", "email_alias_merge", 0, 1.0, False),
            ("web:3", "web:4", "email_typo_merge", 0, 1.0, False),  # gnail -> gmail, both ok
        ],
        EDGE_SCHEMA,
    )
    events = events_of(spark, [
        ("e1", "web", "1", "bounced", "email"),
        ("e2", "web", "1", "opened", "Email "),  # channel compared trimmed, any case
        ("e3", "web", "1", "purchase", "pos"),
        ("e4", "web", "2", "received", "email"),
        ("e5", "crm", "7", "clicked", "email"),
        ("e6", "web", "3", "opened", "email"),
        ("e7", "web", "1", "clicked", None),
    ])  # fmt: skip
    routed = route_events(events, records, edges, ["email"])
    assert tuple(routed.columns) == ROUTED_EVENT_COLUMNS
    expected = spark.createDataFrame(
        [
            ("e1", "web:1", None, "web", "1", "bounced", "email", TS, False, "unreachable_email"),
            ("e2", "web:1", None, "web", "1", "opened", "Email ", TS, False, "unreachable_email"),
            ("e3", "web:1", "P1", "web", "1", "purchase", "pos", TS, True, None),
            ("e4", "web:2", "P1", "web", "2", "received", "email", TS, True, None),
            ("e5", "crm:7", "P1", "crm", "7", "clicked", "email", TS, True, None),
            ("e6", "web:3", "P2", "web", "3", "opened", "email", TS, True, None),
            ("e7", "web:1", "P1", "web", "1", "clicked", None, TS, True, None),
        ],
        ROUTED,
    )
    assert_df_equality(routed, expected, ignore_row_order=True, ignore_nullable=True)


def test_configured_channels_unknown_records_and_cut_merges(spark):
    records = record_map(spark, [("web", "1", "P1"), ("web", "2", "P2"), ("app", "5", "P3"),
                                 ("app", "6", "P3")])  # fmt: skip
    edges = spark.createDataFrame(
        [
            ("web:1", "web:2", "email_typo_merge", 0, 1.0, True),  # cut by the graph limits
            ("app:5", "app:6", "email_typo_merge", 0, 1.0, True),
        ],
        EDGE_SCHEMA,
    )
    events = events_of(spark, [
        ("e1", "web", "1", "opened", "email"),
        ("e2", "app", "5", "sent", "newsletter"),
        ("e3", "app", "5", "opened", "email"),
        ("e4", "app", "5", "push_opened", "push"),
        ("e5", "web", "99", "opened", "email"),
    ])  # fmt: skip
    routed = route_events(events, records, edges, ["newsletter", "EMAIL"])
    got = sorted((r.event_id, r.record_id, r.profile_id, r.carried, r.reason)
                 for r in routed.collect())  # fmt: skip
    assert got == [
        ("e1", "web:1", "P1", True, None),
        ("e2", "app:5", None, False, "unreachable_email"),
        ("e3", "app:5", None, False, "unreachable_email"),
        ("e4", "app:5", "P3", True, None),
        ("e5", None, None, False, "unknown_record"),
    ]


def test_events_follow_the_transform_stage_edges(spark, make_records):
    rows = [
        {"record_id": "web:1", "email": "jon@gmail.com", "email_status": "bounced"},
        {"record_id": "web:2", "email": "john@gmail.com"},
        {"record_id": "web:3", "email": "john@gnail.com"},
        {"record_id": "web:4", "email": "john+x@gmail.com"},
    ]
    for row in rows:
        row["phone"] = "+14155550100"
    cfg = TransformationsConfig(email_typo_merge=True, email_alias_merge=True)
    edges, _ = transformation_edges(make_records(rows), cfg)
    records = record_map(spark, [("web", str(i), "P1") for i in range(1, 5)])
    events = events_of(spark, [(f"e{i}", "web", str(i), "opened", "email") for i in range(1, 5)])
    routed = route_events(events, records, edges, ["email"])
    got = sorted((r.event_id, r.profile_id, r.reason) for r in routed.collect())
    assert got == [
        ("e1", None, "unreachable_email"),
        ("e2", "P1", None),
        ("e3", "P1", None),
        ("e4", "P1", None),
    ]
