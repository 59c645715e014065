"""Probabilistic matching on small frames: exact u counts, scores and their explanation,
every veto, and the group-level merge (mutual best, no chaining, limits respected)."""

from __future__ import annotations

import itertools
import math

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from idres_spark.config import LimitsConfig, parse_config
from idres_spark.linking.graph import GROUP_KEY
from idres_spark.probabilistic import comparisons as K
from idres_spark.probabilistic import link
from idres_spark.probabilistic import pairs as P
from idres_spark.probabilistic import train as T
from idres_spark.probabilistic.model import ComparisonModel, Model
from idres_spark.probabilistic.settings import ProbabilisticConfig

pytestmark = pytest.mark.spark


def keep(df):
    return df.localCheckpoint()  # as the pipeline's small-run checkpoints do


def test_exact_u_counts_equal_a_brute_force_count(spark):
    rows = [("r1", "g1", "a@x"), ("r2", "g1", "a@x"), ("r3", "g2", "a@x"),
            ("r4", "g3", "a@x"), ("r5", "g3", "b@x"), ("r6", "g4", "b@x"), ("r7", "g4", None),
            ("r8", "g5", "c@x")]  # fmt: skip
    df = spark.createDataFrame(rows, f"record_id string, {GROUP_KEY} string, email string")
    got = T.shared_pairs_across_groups(df, {"email": F.col("email")})
    brute = sum(
        1 for (_, ga, ea), (_, gb, eb) in itertools.combinations(rows, 2)
        if ea is not None and ea == eb and ga != gb
    )  # fmt: skip
    assert got == {"email": brute} and brute == 6
    assert T.group_totals(df) == (8, 5, 3)  # records, groups, pairs inside groups


def test_random_pairs_are_seeded_and_cross_groups(spark):
    rows = [(f"r{i:03d}", f"g{i // 3}") for i in range(300)]
    df = spark.createDataFrame(rows, f"record_id string, {GROUP_KEY} string")
    first = T.random_pairs(df, 100, 300, seed=5)
    again = T.random_pairs(df, 100, 300, seed=5)
    assert_df_equality(first, again, ignore_row_order=True)
    got = first.collect()
    assert 60 <= len(got) <= 100
    group = dict(rows)
    assert all(group[r.record_id_l] != group[r.record_id_r] for r in got)
    assert all(r.record_id_l < r.record_id_r for r in got)
    # fewer records than the pairs asked for: each record takes part in several pairs
    many = T.random_pairs(df, 400, 300, seed=5).collect()
    assert len(many) == 400
    assert len(set(many)) >= 390  # a pair met in two hash orders is rare
    partners = {}
    for r in many:
        partners.setdefault(r.record_id_l, set()).add(r.record_id_r)
    assert max(len(p) for p in partners.values()) >= 3


def _model(comparisons, weights=None):
    fitted = []
    for c in comparisons:
        levels = c.top + 1
        m = [0.01] * (levels - 1) + [1 - 0.01 * (levels - 1)]
        u = [1 - 0.001 * (levels - 1)] + [0.001] * (levels - 1)
        fitted.append(ComparisonModel(c.name, c.labels, tuple(m), tuple(u), True))
    return Model("m1", "f", "run", 1e-4, tuple(fitted))


PAIR_SCHEMA = (
    "record_id_l string, record_id_r string, event_ts_l timestamp, event_ts_r timestamp, "
    "email_l string, email_r string, email_canonical_l string, email_canonical_r string, "
    "phone_l string, phone_r string, last_name_l string, last_name_r string, "
    "first_name_l string, first_name_r string, user_id_l string, user_id_r string, "
    "street_l string, street_r string, city_l string, city_r string, "
    "postal_code_l string, postal_code_r string, device_id_l string, device_id_r string, "
    "ip_l string, ip_r string"
)


def _pairs(spark, rows):
    names = [f.split()[0] for f in PAIR_SCHEMA.split(", ")]
    full = [tuple(row.get(n) for n in names) for row in rows]
    return spark.createDataFrame(full, PAIR_SCHEMA)


def test_levels_scores_explanation_and_vetoes(spark):
    settings = ProbabilisticConfig(enabled=True)
    comparisons = [K.email(), K.phone_last_name(), K.first_name(), K.user_id(), K.address()]
    model = _model(comparisons)
    pairs = _pairs(spark, [
        # same email: strong, nothing vetoes
        {"record_id_l": "a", "record_id_r": "b", "email_l": "ann@x.com", "email_r": "ann@x.com",
         "email_canonical_l": "ann@x.com", "email_canonical_r": "ann@x.com",
         "first_name_l": "ann", "first_name_r": "annie"},
        # lookalike emails (digits only), nickname
        {"record_id_l": "c", "record_id_r": "d", "email_l": "john.smith1@x.com",
         "email_r": "john.smith2@x.com", "email_canonical_l": "john.smith1@x.com",
         "email_canonical_r": "john.smith2@x.com", "first_name_l": "bob",
         "first_name_r": "robert"},
        # household: shared phone and last name, different first names
        {"record_id_l": "e", "record_id_r": "f", "phone_l": "+14155550100",
         "phone_r": "+14155550100", "last_name_l": "lee", "last_name_r": "lee",
         "first_name_l": "maria", "first_name_r": "tom"},
        # different external ids
        {"record_id_l": "g", "record_id_r": "h", "user_id_l": "C1", "user_id_r": "C2",
         "street_l": "1 main st", "street_r": "1 main st", "postal_code_l": "94110",
         "postal_code_r": "94110", "first_name_l": "al", "first_name_r": "al"},
    ])  # fmt: skip
    got = {r.record_id_l: r for r in link.score(pairs, comparisons, model, settings).collect()}
    assert (got["a"].email_level, got["a"].first_name_level, got["a"].veto) == (6, 2, None)
    assert (got["c"].email_level, got["c"].first_name_level) == (2, 3)
    assert (got["e"].phone_last_name_level, got["e"].veto) == (7, "household")
    assert (got["g"].user_id_level, got["g"].address_level) == (0, 4)
    assert got["g"].veto == "different_user_id"
    for row in got.values():
        parts = [item.weight for item in row.explanation]
        assert sum(parts) == pytest.approx(row.evidence)
        assert row.match_weight == pytest.approx(model.prior_weight + row.evidence)
        assert row.match_probability == pytest.approx(1 / (1 + 2**-row.match_weight))
    by_name = {item.comparison: item for item in got["a"].explanation}
    assert by_name["email"].level == "exact" and "user_id" not in by_name
    fitted = model.comparison("email")
    assert by_name["email"].weight == pytest.approx(math.log2(fitted.m[-1] / fitted.u[-1]))
    lookalike = {item.comparison: item for item in got["c"].explanation}["email"]
    assert (lookalike.level, lookalike.weight) == ("formatting_only", 0.0)  # never positive


def _scored(spark, rows):
    return spark.createDataFrame(
        [(a, b, w, 1 / (1 + 2**-w), e, [], v) for a, b, w, e, v in rows],
        f"record_id_l string, record_id_r string, {link.WEIGHT} double, "
        f"{link.PROBABILITY} double, {link.EVIDENCE} double, "
        f"{link.EXPLANATION} array<struct<comparison:string,level:string,weight:double>>, "
        f"{link.VETO} string",
    )


def _merged(spark, groups, scored_rows, settings=None, limits=None, emails=None, cannot=None):
    records = spark.createDataFrame(
        [(r, (emails or {}).get(r), None) for r, _ in groups],
        "record_id string, email string, phone string",
    )
    outcome = link.merge_groups(
        _scored(spark, scored_rows),
        spark.createDataFrame(groups, f"record_id string, {GROUP_KEY} string"),
        records,
        settings or ProbabilisticConfig(enabled=True, max_rounds=1),
        limits or LimitsConfig(),
        keep,
        spark.createDataFrame(cannot, "record_id string, tag long") if cannot else None,
    )
    placed = {r.record_id: r[GROUP_KEY] for r in outcome.groups.collect()}
    decisions = {(r.record_id_l, r.record_id_r): r.decision for r in outcome.links.collect()}
    return placed, decisions, outcome


def test_an_ip_is_no_evidence_where_the_device_already_agrees(spark):
    """One device is on one network: its IP would count the same evidence twice."""
    hour, day = "2026-11-01 10:00:00", "2026-11-01 11:00:00"
    late = "2026-12-25 10:00:00"  # outside the 30-day window
    device, ip = K._windowed("device_id", 30 * 86400), K._windowed("ip", 30 * 86400, "device_id")
    pairs = _pairs(spark, [
        {"record_id_l": "same-device", "device_id_l": "d1", "device_id_r": "d1", "ip_l": "1.1.1.1",
         "ip_r": "1.1.1.1"},
        {"record_id_l": "other-device", "device_id_l": "d1", "device_id_r": "d2",
         "ip_l": "1.1.1.1", "ip_r": "1.1.1.1"},
        {"record_id_l": "no-device", "ip_l": "1.1.1.1", "ip_r": "1.1.1.1"},
        {"record_id_l": "device-long-ago", "device_id_l": "d1", "device_id_r": "d1",
         "ip_l": "1.1.1.1", "ip_r": "1.1.1.1"},
        {"record_id_l": "other-ip", "ip_l": "1.1.1.1", "ip_r": "2.2.2.2"},
    ])  # fmt: skip
    pairs = pairs.withColumn("event_ts_l", F.to_timestamp(F.lit(hour))).withColumn(
        "event_ts_r",
        F.to_timestamp(F.when(F.col("record_id_l") == "device-long-ago", late).otherwise(day)),
    )
    got = {
        r.record_id_l: (r.device_id_level, r.ip_level)
        for r in K.with_levels(pairs, [device, ip]).collect()
    }
    assert got == {
        "same-device": (1, K.NO_VALUE),
        "other-device": (0, 1),
        "no-device": (K.NO_VALUE, 1),
        "device-long-ago": (K.NO_VALUE, K.NO_VALUE),  # equal, but too far apart for either
        "other-ip": (K.NO_VALUE, 0),
    }


def test_groups_join_only_by_mutual_best_links_no_chaining(spark):
    # a1-a2 are one rule group; b and c are groups of one record each
    groups = [("a1", "a1"), ("a2", "a1"), ("b", "b"), ("c", "c")]
    placed, decisions, outcome = _merged(spark, groups, [
        ("a2", "b", 12.0, 8.0, None),   # A-B: the best link of both
        ("b", "c", 10.0, 6.0, None),    # B-C: C's best, but not B's: no chain A-B-C
    ])  # fmt: skip
    assert placed == {"a1": "a1", "a2": "a1", "b": "a1", "c": "c"}
    assert decisions == {("a2", "b"): "merged", ("b", "c"): "not_mutual_best"}
    edge = outcome.edges.collect()
    assert [(e.src, e.dst, e.reason, e.priority) for e in edge] == [
        ("a2", "b", "probabilistic", link.PRIORITY)
    ]
    # with a second round the merged group's best link may join c: one step per round
    placed, _, _ = _merged(spark, groups, [("a2", "b", 12.0, 8.0, None),
                                           ("b", "c", 10.0, 6.0, None)],
                           ProbabilisticConfig(enabled=True, max_rounds=2))  # fmt: skip
    assert placed["c"] == "a1"


def test_vetoes_negative_pairs_and_limits_keep_groups_apart(spark):
    groups = [("a1", "a1"), ("a2", "a1"), ("b", "b"), ("c", "c"), ("d", "d"), ("e", "e"),
              ("f", "f"), ("g", "g")]  # fmt: skip
    rows = [
        ("a1", "b", 12.0, 8.0, None),
        ("a2", "b", -20.0, -9.0, None),  # a cross pair strongly against: no merge
        ("c", "d", 12.0, 8.0, "household"),
        ("e", "f", 3.0, 3.0, None),  # probability 0.89: review band
        ("f", "g", 12.0, 8.0, None),
    ]
    limits = LimitsConfig(identifier_limits={"email": 1})
    placed, decisions, outcome = _merged(
        spark, groups, rows, limits=limits, emails={"f": "f@x.com", "g": "g@x.com"}
    )
    assert len(set(placed.values())) == len(set(dict(groups).values()))  # nothing merged
    assert decisions[("a1", "b")] == "veto:negative_pair"
    assert decisions[("c", "d")] == "veto:household"
    assert decisions[("e", "f")] == "review"
    assert decisions[("f", "g")] == "identifier_limit:email"
    assert [(r.record_id_l, r.record_id_r) for r in outcome.suggested.collect()] == [("e", "f")]
    placed, decisions, _ = _merged(
        spark, [("a1", "a1"), ("a2", "a1"), ("b", "b")], [("a1", "b", 12.0, 8.0, None)],
        limits=LimitsConfig(max_group_size=2),
    )  # fmt: skip
    assert decisions == {("a1", "b"): "max_group_size"} and placed["b"] == "b"


def test_vetoes_and_negative_pairs_are_kept_only_where_a_merge_could_happen(spark):
    groups = [("a", "a"), ("b", "b"), ("c", "c"), ("d", "d"), ("e", "e"), ("f", "f"),
              ("g", "g")]  # fmt: skip
    rows = [
        ("a", "b", 12.0, 8.0, None),  # a and b may merge: both active
        ("a", "c", 12.0, 8.0, None),  # c too (not a's best: stays apart)
        ("b", "c", -20.0, -9.0, None),  # between two active groups: decides a-b-c
        ("d", "e", -20.0, -9.0, None),  # two groups that never could merge: dropped
        ("e", "f", -3.0, -1.0, "different_user_id"),  # vetoed, below review: dropped
        ("f", "g", 12.0, 8.0, "household"),  # vetoed, above review: reported
        ("a", "g", -20.0, -9.0, None),  # g has no mergeable link: dropped
    ]
    placed, decisions, _ = _merged(spark, groups, rows)
    assert decisions == {
        ("a", "b"): "merged", ("f", "g"): "veto:household",
        # kept: once a and b are one group, b-c keeps c out of it
        ("a", "c"): "veto:negative_pair", ("b", "c"): "veto:negative_pair",
    }  # fmt: skip
    assert placed["a"] == placed["b"] != placed["c"]


def test_blocked_pairs_skip_same_group_pairs_and_hubs(spark):
    rows = [("r1", "g1", "p1"), ("r2", "g1", "p1"), ("r3", "g2", "p1"), ("r4", "g3", "p2"),
            ("r5", "g4", "p2"), ("r6", "g5", "p2")]  # fmt: skip
    df = spark.createDataFrame(rows, f"record_id string, {GROUP_KEY} string, phone string")
    from idres_spark.probabilistic.settings import BlockKey

    got = P.blocked_pairs(df, [[BlockKey(field="phone")]], max_block_size=3).collect()
    assert sorted((r.record_id_l, r.record_id_r) for r in got) == [
        ("r1", "r3"), ("r2", "r3"), ("r4", "r5"), ("r4", "r6"), ("r5", "r6"),
    ]  # fmt: skip
    assert P.blocked_pairs(df, [[BlockKey(field="phone")]], max_block_size=2).count() == 0
    many = spark.createDataFrame([(f"r{i:03d}", f"g{i % 30}", "p", f"e{i % 2}") for i in range(60)],
                                 f"record_id string, {GROUP_KEY} string, phone string, "
                                 "email string")  # fmt: skip
    phone, email = [BlockKey(field="phone")], [BlockKey(field="email")]
    sampled = P.session_pairs(many, [phone, email], 100, at_most=300, seed=3)
    per_rule = dict(sampled.groupBy(P.RULE).count().collect())
    assert 150 <= per_rule[0] <= 450  # of 1,770 pairs (those within a group too)
    assert 150 <= per_rule[1] <= 450  # of 2 x 435
    assert_df_equality(sampled, P.session_pairs(many, [phone, email], 100, at_most=300, seed=3),
                       ignore_row_order=True)  # the same sample every time  # fmt: skip
    alone = P.session_pairs(many, [email], 100, at_most=300, seed=3)  # another rule's sample
    assert_df_equality(sampled.where(f"{P.RULE} = 1").drop(P.RULE), alone.drop(P.RULE),
                       ignore_row_order=True)  # does not depend on the rules beside it  # fmt: skip
    everything = P.session_pairs(many, [phone], 100, at_most=5000, seed=3)
    assert everything.count() == 1770  # under the cap: every pair, within groups too


def test_config_section_checks_fields_and_keeps_the_fingerprint_when_off():
    base = {"sources": [{"name": "web", "format": "parquet", "path": "/x",
                         "columns": {"record_id": "id", "email": "e"}}]}  # fmt: skip
    off = parse_config(base)
    assert off.fingerprint() == parse_config({**base, "probabilistic": {}}).fingerprint()
    on = parse_config({**base, "probabilistic": {"enabled": True}})
    assert on.fingerprint() != off.fingerprint()
    with pytest.raises(Exception, match="unknown fields"):
        parse_config({**base, "probabilistic": {"enabled": True, "vetoes": {"different": ["x"]}}})
    with pytest.raises(Exception, match="unknown built-in comparisons"):
        parse_config({**base, "probabilistic": {"comparisons": ["emails"]}})


def test_a_steward_cannot_link_is_a_veto(spark):
    groups = [("a1", "a1"), ("a2", "a1"), ("b", "b")]
    placed, decisions, _ = _merged(
        spark, groups, [("a1", "b", 12.0, 8.0, None)], cannot=[("a2", 1), ("b", -1)]
    )
    assert decisions == {("a1", "b"): "veto:cannot_link"} and placed["b"] == "b"
    placed, _, _ = _merged(  # tags of another cannot-link do not stop it
        spark, groups, [("a1", "b", 12.0, 8.0, None)], cannot=[("a2", 1), ("b", 2)]
    )
    assert placed["b"] == "a1"
