"""Blocking and scoring: canonical pairs, one score per pair, hubs, rule scope and comparators."""

from __future__ import annotations

import datetime as dt

import pytest
from chispa import assert_df_equality

from idres_spark.config import parse_config
from idres_spark.matching import block, score

pytestmark = pytest.mark.spark


def config(rules=None, **limits):
    data = {"sources": [
        {"name": s, "format": "parquet", "path": "/x", "columns": {"record_id": "id"},
         "custom": {"loyalty_id": "loy"}} for s in ("web", "app", "crm")
    ], "rules": rules or []}  # fmt: skip
    if limits:
        data["limits"] = limits
    return parse_config(data)


def edges_of(make_records, rows, cfg):
    records = make_records(rows)
    pairs, hubs = block.candidate_pairs(records, cfg)
    edges = score.match_pairs(pairs, records, cfg)
    return pairs, hubs, sorted((e.src, e.dst, e.reason, e.score) for e in edges.collect())


def test_default_rule_pairs_are_canonical_and_scored_once(spark, make_records):
    rows = [
        {"record_id": "web:2", "email": "a@x.com", "user_id": "U1"},
        {"record_id": "app:1", "email": "a@x.com", "user_id": "U1"},  # both keys agree
        {"record_id": "crm:9", "user_id": "U1"},
        {"record_id": "crm:5", "email": "other@x.com"},
    ]
    pairs, hubs, edges = edges_of(make_records, rows, config())
    ids = [(p.record_id_l, p.record_id_r, p.block_mask) for p in pairs.collect()]
    assert sorted(ids) == [("app:1", "crm:9", 2), ("app:1", "web:2", 3), ("crm:9", "web:2", 2)]
    assert edges == [
        ("app:1", "crm:9", "default", 1.0),
        ("app:1", "web:2", "default", 1.0),
        ("crm:9", "web:2", "default", 1.0),
    ]
    assert hubs.count() == 0


def test_hub_values_make_no_pairs_and_are_reported_masked(spark, make_records):
    rows = [{"record_id": f"web:{i}", "email": "shared@store.com"} for i in range(5)]
    rows += [
        {"record_id": "app:1", "email": "me@x.com"},
        {"record_id": "app:2", "email": "me@x.com"},
    ]
    _, hubs, edges = edges_of(make_records, rows, config(max_block_size=4))
    assert edges == [("app:1", "app:2", "default", 1.0)]
    hub = hubs.collect()
    assert [(h.rule, h.key_fields, h.masked_value, h.record_count) for h in hub] == [
        ("default", "email", "s***@store.com", 5)
    ]


def test_first_matching_rule_in_config_order_names_the_link(spark, make_records):
    rules = [
        {"name": "phone-and-last", "all": [{"field": "phone", "compare": "equals"},
                                           {"field": "last_name", "compare": "equals"}]},
        {"name": "default", "any": [{"field": "email", "compare": "equals"}]},
    ]  # fmt: skip
    rows = [
        {"record_id": "web:1", "email": "a@x.com", "phone": "+14152345678", "last_name": "kim"},
        {"record_id": "web:2", "email": "a@x.com", "phone": "+14152345678", "last_name": "kim"},
        {"record_id": "web:3", "email": "b@x.com", "phone": "+14152345678", "last_name": "lee"},
    ]
    _, _, edges = edges_of(make_records, rows, config(rules))
    assert edges == [("web:1", "web:2", "phone-and-last", 1.0)]


def test_fuzzy_and_typo_conditions(spark, make_records):
    rules = [
        {"name": "jw", "all": [{"field": "phone", "compare": "equals"},
                               {"field": "first_name", "compare": "similar",
                                "method": "jaro_winkler", "min": 0.9}]},
        {"name": "typo", "all": [{"field": "ip", "compare": "equals"},
                                 {"field": "last_name", "compare": "typo", "max_edits": 1}]},
        {"name": "tokens", "all": [{"field": "device_id", "compare": "equals"},
                                   {"field": "full_name", "compare": "similar",
                                    "method": "token_set", "min": 1.0}]},
    ]  # fmt: skip
    rows = [
        {"record_id": "web:1", "phone": "+1", "first_name": "martha"},
        {"record_id": "web:2", "phone": "+1", "first_name": "marhta"},  # jw 0.961
        {"record_id": "web:3", "phone": "+1", "first_name": "anne"},  # household member
        {"record_id": "app:1", "ip": "10.0.0.1", "last_name": "smith"},
        {"record_id": "app:2", "ip": "10.0.0.1", "last_name": "smyth"},  # 1 edit
        {"record_id": "app:3", "ip": "10.0.0.1", "last_name": "smithers"},  # 3 edits
        {"record_id": "crm:1", "device_id": "D", "first_name": "ann", "last_name": "lee"},
        {"record_id": "crm:2", "device_id": "D", "first_name": "lee", "last_name": "ann"},
        {"record_id": "crm:3", "device_id": "D", "first_name": None, "last_name": None},
    ]
    _, _, edges = edges_of(make_records, rows, config(rules))
    got = [(s, d, r, round(sc, 3)) for s, d, r, sc in edges]
    assert got == [
        ("app:1", "app:2", "typo", 0.8),
        ("crm:1", "crm:2", "tokens", 1.0),
        ("web:1", "web:2", "jw", 0.961),
    ]


def test_source_scope_time_window_and_filters(spark, make_records):
    day = dt.datetime(2025, 1, 1)
    rules = [
        {
            "name": "device",
            "sources": ["web", "app"],
            "within": "30d",
            "all": [{"field": "device_id", "compare": "equals"}],
            "only_if": [{"field": "email", "op": "not_ends_with", "value": "@company.com"}],
        }
    ]
    late = day + dt.timedelta(days=30, seconds=1)
    rows = [
        {"record_id": "web:1", "device_id": "D", "event_ts": day},
        {"record_id": "app:1", "device_id": "D", "event_ts": day + dt.timedelta(days=30)},
        {"record_id": "app:2", "device_id": "D", "event_ts": late},
        {"record_id": "crm:1", "device_id": "D", "event_ts": day},  # source out of scope
        {"record_id": "web:2", "device_id": "D", "event_ts": day, "email": "x@company.com"},
        {"record_id": "web:3", "device_id": "D", "event_ts": None},  # no time: no window match
    ]  # fmt: skip
    _, _, edges = edges_of(make_records, rows, config(rules))
    assert [(s, d) for s, d, _, _ in edges] == [("app:1", "app:2"), ("app:1", "web:1")]


def test_custom_field_rule(spark, make_records):
    rules = [{"name": "loyalty", "all": [{"field": "loyalty_id", "compare": "equals"}]}]
    rows = [
        {"record_id": "web:1", "custom": {"loyalty_id": "L1"}},
        {"record_id": "web:2", "custom": {"loyalty_id": "L1"}},
        {"record_id": "web:3", "custom": {}},
    ]
    records = make_records(rows)
    cfg = config(rules)
    pairs, _ = block.candidate_pairs(records, cfg)
    edges = score.match_pairs(pairs, records, cfg).select("src", "dst", "reason")
    expected = spark.createDataFrame([("web:1", "web:2", "loyalty")], edges.schema)
    assert_df_equality(edges, expected, ignore_row_order=True)


def test_priority_marks_external_id_links_strongest(spark, make_records):
    rules = [{"name": "phone", "all": [{"field": "phone", "compare": "equals"}]}]
    rows = [
        {"record_id": "web:1", "email": "a@x.com", "user_id": "U1", "phone": "+1"},
        {"record_id": "web:2", "email": "a@x.com", "user_id": "U1"},  # email and user id
        {"record_id": "web:3", "email": "a@x.com"},  # email only
        {"record_id": "web:4", "phone": "+1"},  # second rule
    ]
    records = make_records(rows)
    cfg = config(rules)
    pairs, _ = block.candidate_pairs(records, cfg)
    got = {
        (e.src, e.dst): (e.reason, e.priority)
        for e in score.match_pairs(pairs, records, cfg).collect()
    }
    assert got == {
        ("web:1", "web:2"): ("default", 0),
        ("web:1", "web:3"): ("default", 1),
        ("web:2", "web:3"): ("default", 1),
        ("web:1", "web:4"): ("phone", 2),
    }


def test_nested_groups_alias_and_levenshtein_on_spark(spark, make_records):
    rules = [
        {"name": "nested", "all": [
            {"field": "last_name", "compare": "equals"},
            {"any": [
                {"field": "email", "compare": "alias"},
                {"all": [{"field": "phone", "compare": "equals"},
                         {"field": "first_name", "compare": "similar",
                          "method": "levenshtein", "min": 0.8}]},
            ]},
        ]},
    ]  # fmt: skip
    rows = [
        # alias branch: same last name, same alias-stripped email
        {"record_id": "web:1", "last_name": "kim", "email": "jo+news@x.com"},
        {"record_id": "web:2", "last_name": "kim", "email": "jo+shop@x.com"},
        # phone branch: levenshtein(jonathan, jonathon) = 1 - 1/8 = 0.875 >= 0.8
        {"record_id": "app:1", "last_name": "lee", "phone": "+1", "first_name": "jonathan"},
        {"record_id": "app:2", "last_name": "lee", "phone": "+1", "first_name": "jonathon"},
        # phone branch fails: levenshtein(ann, anne) = 0.75 < 0.8
        {"record_id": "crm:1", "last_name": "ray", "phone": "+2", "first_name": "ann"},
        {"record_id": "crm:2", "last_name": "ray", "phone": "+2", "first_name": "anne"},
        # empty strings never match
        {"record_id": "crm:3", "last_name": "", "phone": "+3", "first_name": ""},
        {"record_id": "crm:4", "last_name": "", "phone": "+3", "first_name": ""},
    ]
    _, _, edges = edges_of(make_records, rows, config(rules))
    assert [(s, d, r, round(sc, 3)) for s, d, r, sc in edges] == [
        ("app:1", "app:2", "nested", 0.875),
        ("web:1", "web:2", "nested", 1.0),
    ]
