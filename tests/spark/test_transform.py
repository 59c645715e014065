"""Transformations: email typo merge and email alias merge, every branch of the decision table."""

from __future__ import annotations

import pytest
from chispa import assert_df_equality

from idres_spark.config import GraphConfig, TransformationsConfig
from idres_spark.linking import graph
from idres_spark.matching.transform import (
    EDGE_SCHEMA,
    NO_MERGE_SCHEMA,
    TRANSFORM_PRIORITY,
    transformation_edges,
)

pytestmark = pytest.mark.spark

PHONE = "+14155550100"
TYPO, ALIAS = "email_typo_merge", "email_alias_merge"


def rec(record_id, email, status="valid", phone=PHONE):
    return {"record_id": record_id, "email": email, "email_status": status, "phone": phone}


def pair(group, email_a, email_b, status_a="valid", status_b="valid", phone=None):
    """Two records ``<group>:1`` and ``<group>:2`` on one phone (one phone per group)."""
    phone = phone or "+1" + "".join(f"{ord(ch):03d}" for ch in group)
    return [
        rec(f"{group}:1", email_a, status_a, phone),
        rec(f"{group}:2", email_b, status_b, phone),
    ]


def shape(frame_or_schema):
    schema = getattr(frame_or_schema, "schema", frame_or_schema)
    return [(f.name, f.dataType) for f in schema.fields]


def run(make_records, rows, max_block_size=1000, **settings):
    """(edges as (src, dst, reason, unreachable_source), no-merges as (a, b, name, reason))."""
    cfg = TransformationsConfig(**{TYPO: True, ALIAS: True, **settings})
    edges, no_merge = transformation_edges(make_records(rows), cfg, max_block_size=max_block_size)
    got_edges = sorted((e.src, e.dst, e.reason, e.unreachable_source) for e in edges.collect())
    got_no = sorted(
        (n.record_id_a, n.record_id_b, n.transformation, n.reason) for n in no_merge.collect()
    )
    return got_edges, got_no


def test_domain_typos_on_several_providers_merge_into_the_known_domain(spark, make_records):
    rows = []
    for i, typo in enumerate(["gnail.com", "yaho.com", "outlok.com", "hotmal.com", "iclod.com"]):
        right = {"gnail.com": "gmail.com", "yaho.com": "yahoo.com", "outlok.com": "outlook.com",
                 "hotmal.com": "hotmail.com", "iclod.com": "icloud.com"}[typo]  # fmt: skip
        phone = f"+1415555010{i}"
        rows += [
            rec(f"a:{i}", f"john@{typo}", phone=phone),
            rec(f"b:{i}", f"john@{right}", phone=phone),
        ]
    # the typo side is the source whichever record id is smaller; statuses reachable
    rows += [rec("a:9", "mary@gmail.com", "unknown", "+1415555019"),
             rec("b:9", "mary@gmail.co", "suppressed", "+1415555019")]  # fmt: skip
    edges, no_merge = run(make_records, rows)
    assert edges == [
        *[(f"a:{i}", f"b:{i}", TYPO, False) for i in range(5)],
        ("b:9", "a:9", TYPO, False),
    ]
    assert no_merge == []


def test_a_swap_of_two_adjacent_letters_is_one_typo(spark, make_records):
    rows = [
        rec("a:1", "john@gmial.com"), rec("a:2", "john@gmail.com"),
        rec("b:1", "mary@hotmial.com", "bounced", "+1999"),
        rec("b:2", "mary@hotmail.com", phone="+1999"),
        # two swaps, or a non-adjacent swap, are not one typo
        rec("c:1", "ann@gmali.con", phone="+1888"), rec("c:2", "ann@gmail.com", phone="+1888"),
        rec("d:1", "bo@liam.com", phone="+1777"), rec("d:2", "bo@mail.com", phone="+1777"),
    ]  # fmt: skip
    edges, no_merge = run(make_records, rows)
    assert edges == [("a:1", "a:2", TYPO, False), ("b:1", "b:2", TYPO, True)]
    assert no_merge == []


def test_unreachable_email_merges_into_the_reachable_one(spark, make_records):
    rows = [
        # local-part typo, one bounced
        *pair("a", "jon@gmail.com", "john@gmail.com", "bounced"),
        # household-like local parts but one invalid: the unreachable one merges
        *pair("b", "ann@gmail.com", "anne@gmail.com", "suppressed", "invalid"),
        # domain typo that bounced
        *pair("c", "john@gmail.com", "john@gnail.com", "valid", "bounced"),
        # a malformed email (null after normalize) is compared through its raw value
        rec("d:1", "kim@yahoo.com", "unknown", "+1004"),
        {"record_id": "d:2", "email": None, "email_raw": " Kim@Yahoocom ",
         "email_status": "invalid", "phone": "+1004"},
        # two known domains, or two undecidable ones: the reachable one still survives
        *pair("e", "sam@mail.com", "sam@gmail.com", "bounced"),
        *pair("f", "joe@shop.io", "joe@shop.co", "valid", "bounced"),
    ]  # fmt: skip
    edges, no_merge = run(make_records, rows)
    assert edges == [
        ("a:1", "a:2", TYPO, True),
        ("b:2", "b:1", TYPO, True),
        ("c:2", "c:1", TYPO, True),
        ("d:2", "d:1", TYPO, True),
        ("e:1", "e:2", TYPO, True),
        ("f:2", "f:1", TYPO, True),
    ]
    assert no_merge == []


def test_both_unreachable_and_no_clean_survivor_do_not_merge(spark, make_records):
    rows = [
        *pair("a", "jon@gmail.com", "john@gmail.com", "bounced", "bounced"),
        *pair("b", "john@gmail.com", "john@gnail.com", "bounced", "invalid"),
        # the reachable one has the domain typo, the standard one bounced
        *pair("c", "john@gmail.com", "john@gnail.com", "bounced", "valid"),
    ]  # fmt: skip
    edges, no_merge = run(make_records, rows)
    assert edges == []
    assert no_merge == [
        ("a:1", "a:2", TYPO, "both_unreachable"),
        ("b:1", "b:2", TYPO, "both_unreachable"),
        ("c:1", "c:2", TYPO, "no_clean_survivor"),
    ]


def test_household_local_part_difference_is_not_merged(spark, make_records):
    rows = [
        rec("a:1", "ann@gmail.com"), rec("a:2", "anne@gmail.com"),
        *pair("b", "bob@shop.io", "rob@shop.io", "unknown", "suppressed"),
        # different phones: not even a candidate
        rec("c:1", "ann@gmail.com", phone="+1003"),
        rec("c:2", "anne@gmail.com", "bounced", "+1004"),
    ]  # fmt: skip
    edges, no_merge = run(make_records, rows)
    assert edges == []
    assert no_merge == [
        ("a:1", "a:2", TYPO, "household_local_part"),
        ("b:1", "b:2", TYPO, "household_local_part"),
    ]


def test_both_reachable_domains_known_list_then_frequency_then_undecidable(spark, make_records):
    rows = [
        # unknown domains, one email each: undecidable
        rec("a:1", "john@shop.io", phone="+1001"), rec("a:2", "john@shop.co", phone="+1001"),
        # frequency decides: acme.org has three distinct emails, acme.orgg one
        rec("b:1", "eve@acme.org", phone="+1002"), rec("b:2", "eve@acme.orgg", phone="+1002"),
        rec("x:1", "x@acme.org", phone=None), rec("x:2", "y+1@acme.org", phone=None),
        rec("x:3", "y+2@acme.org", phone=None),  # alias of y: not a distinct email
        # the known list beats frequency
        rec("c:1", "al@gnail.com", phone="+1003"), rec("c:2", "al@gmail.com", phone="+1003"),
        rec("x:4", "p@gnail.com", phone=None), rec("x:5", "q@gnail.com", phone=None),
        # both known: two real mailboxes, not a typo
        rec("d:1", "sam@gmail.com", phone="+1004"), rec("d:2", "sam@ymail.com", phone="+1004"),
    ]  # fmt: skip
    edges, no_merge = run(make_records, rows)
    assert edges == [("b:2", "b:1", TYPO, False), ("c:1", "c:2", TYPO, False)]
    assert no_merge == [
        ("a:1", "a:2", TYPO, "undecidable_domain"),
        ("d:1", "d:2", TYPO, "both_known_domains"),
    ]


def test_known_domains_in_config_replace_the_builtin_list(spark, make_records):
    rows = [
        rec("a:1", "john@shop.io", phone="+1001"), rec("a:2", "john@shop.co", phone="+1001"),
        rec("b:1", "al@gnail.com", phone="+1002"), rec("b:2", "al@gmail.com", phone="+1002"),
    ]  # fmt: skip
    edges, no_merge = run(make_records, rows, known_domains=["Shop.io"])
    assert edges == [("a:2", "a:1", TYPO, False)]
    assert no_merge == [("b:1", "b:2", TYPO, "undecidable_domain")]


def test_an_unreachable_email_near_two_mailboxes_merges_into_neither(spark, make_records):
    rows = [rec("a:1", "jon@gmail.com", "bounced"), rec("a:2", "john@gmail.com"),
            rec("a:3", "joan@gmail.com"), rec("a:4", "john+x@gmail.com")]  # fmt: skip
    edges, no_merge = run(make_records, rows)
    assert edges == [("a:4", "a:2", ALIAS, False)]
    assert no_merge == [
        ("a:1", "a:2", TYPO, "ambiguous_destination"),
        ("a:1", "a:3", TYPO, "ambiguous_destination"),
        ("a:1", "a:4", TYPO, "ambiguous_destination"),
        ("a:2", "a:3", TYPO, "household_local_part"),
        ("a:3", "a:4", TYPO, "household_local_part"),
    ]


def test_several_aliases_merge_into_the_primary(spark, make_records):
    rows = [
        rec("a:1", "john+news@gmail.com"), rec("a:2", "john@gmail.com"),
        rec("a:3", "john+shop@gmail.com", "bounced"), rec("a:0", "john+a+b@gmail.com"),
        # two aliases without their primary: not a candidate
        rec("b:1", "mia+x@shop.io", phone="+1002"), rec("b:2", "mia+y@shop.io", phone="+1002"),
        # an alias on another phone: not a candidate
        rec("c:1", "john+z@gmail.com", phone="+1003"),
    ]  # fmt: skip
    edges, no_merge = run(make_records, rows)
    assert edges == [
        ("a:0", "a:2", ALIAS, False),
        ("a:1", "a:2", ALIAS, False),
        ("a:3", "a:2", ALIAS, False),
    ]
    assert no_merge == []


def test_alias_of_a_typo_and_chains_end_in_the_surviving_record(spark, make_records):
    rows = [
        # alias of a typo, with and without the typo's primary in the data
        rec("a:1", "john+x@gnail.com"), rec("a:2", "john@gnail.com"), rec("a:3", "john@gmail.com"),
        rec("b:1", "mary+x@yaho.com", phone="+1002"), rec("b:2", "mary@yahoo.com", phone="+1002"),
        # chain: bounced local typo of a domain typo of the standard email
        *pair("c", "jon@outlok.com", "john@outlok.com", "bounced"),
        rec("c:3", "john@outlook.com", phone="+1099"),  # the phone of pair "c"
    ]  # fmt: skip
    records = make_records(rows)
    cfg = TransformationsConfig(email_typo_merge=True, email_alias_merge=True)
    edges, no_merge = transformation_edges(records, cfg)
    got = sorted((e.src, e.dst, e.reason, e.unreachable_source) for e in edges.collect())
    assert got == [
        ("a:1", "a:2", ALIAS, False),
        ("a:1", "a:3", TYPO, False),
        ("a:2", "a:3", TYPO, False),
        ("b:1", "b:2", TYPO, False),
        ("c:1", "c:2", TYPO, True),
        ("c:2", "c:3", TYPO, False),
    ]
    assert no_merge.count() == 0
    # every group has one record that is no transformation's source: the survivor
    groups = graph.link_records(records, edges, GraphConfig(backend="native")).groups
    by_group: dict[str, set[str]] = {}
    for row in groups.collect():
        by_group.setdefault(row.group_key, set()).add(row.record_id)
    assert sorted(by_group.values(), key=min) == [
        {"a:1", "a:2", "a:3"}, {"b:1", "b:2"}, {"c:1", "c:2", "c:3"},
    ]  # fmt: skip
    assert {r for r, *_ in got} == {"a:1", "a:2", "b:1", "c:1", "c:2"}


def test_each_transformation_can_be_turned_off(spark, make_records):
    rows = [rec("a:1", "john+x@gmail.com"), rec("a:2", "john@gmail.com"),
            rec("a:3", "john@gnail.com"), rec("a:4", "joan@gmail.com")]  # fmt: skip
    only_alias = run(make_records, rows, email_typo_merge=False)
    only_typo = run(make_records, rows, email_alias_merge=False)
    assert only_alias == ([("a:1", "a:2", ALIAS, False)], [])
    assert only_typo == (
        [("a:3", "a:1", TYPO, False), ("a:3", "a:2", TYPO, False)],
        [
            ("a:1", "a:4", TYPO, "household_local_part"),
            ("a:2", "a:4", TYPO, "household_local_part"),
        ],
    )


def test_both_off_gives_empty_frames_with_the_contract_schemas(spark, make_records):
    records = make_records([rec("a:1", "john@gnail.com"), rec("a:2", "john@gmail.com")])
    edges, no_merge = transformation_edges(records, TransformationsConfig())
    assert shape(edges) == shape(EDGE_SCHEMA) and shape(no_merge) == shape(NO_MERGE_SCHEMA)
    assert edges.isEmpty() and no_merge.isEmpty()


def test_edges_line_up_with_rule_edges_and_no_merge_is_masked(spark, make_records):
    records = make_records([rec("a:1", "jon@gmail.com", "bounced"), rec("a:2", "john@gmail.com"),
                            rec("a:3", "ann@gmail.com", phone="+14155550102"),
                            rec("a:4", "anne@gmail.com", phone="+14155550102")])  # fmt: skip
    cfg = TransformationsConfig(email_typo_merge=True, email_alias_merge=True)
    edges, no_merge = transformation_edges(records, cfg)
    assert shape(edges) == shape(EDGE_SCHEMA) and shape(no_merge) == shape(NO_MERGE_SCHEMA)
    rule_edges = spark.createDataFrame(
        [("a:1", "a:9", "default", 1, 1.0)], "src string, dst string, reason string, "
        "priority int, score double"
    )  # fmt: skip
    both = rule_edges.unionByName(edges.drop("unreachable_source"))
    expected = spark.createDataFrame(
        [("a:1", "a:9", "default", 1, 1.0), ("a:1", "a:2", TYPO, TRANSFORM_PRIORITY, 1.0)],
        "src string, dst string, reason string, priority long, score double",
    )
    assert_df_equality(both, expected, ignore_row_order=True, ignore_nullable=True)
    expected_no = spark.createDataFrame(
        [("a:3", "a:4", "a***@gmail.com", "a***@gmail.com", "+***0102",
          TYPO, "household_local_part")], NO_MERGE_SCHEMA)  # fmt: skip
    assert_df_equality(no_merge, expected_no, ignore_row_order=True, ignore_nullable=True)


def test_phones_shared_by_too_many_records_are_skipped(spark, make_records):
    rows = [rec("a:1", "john@gnail.com"), rec("a:2", "john@gmail.com"), rec("a:3", "x@y.com"),
            rec("b:1", "amy@gnail.com", phone="+1002"), rec("b:2", "amy@gmail.com", phone="+1002"),
            rec("c:1", None), rec("c:2", None)]  # records without email do not count  # fmt: skip
    edges, _ = run(make_records, rows, max_block_size=2)
    assert edges == [("b:1", "b:2", TYPO, False)]
