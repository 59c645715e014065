"""Graph-stage limits: group-size and identifier-limit splitting of over-limit components.

Hand-made cases pin the ordering (priority, score, hub values last, permanent links first) and
the diagnostics; a hypothesis property test checks, on random small graphs and limits, that
every record is in exactly one group, groups fit the limits unless permanent links force them
over, groups refine the unconstrained components, cut links are really needed, and re-runs
on reshuffled input agree. The greedy itself is also tested without Spark.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from chispa import assert_df_equality
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from idres_spark import columns as C
from idres_spark.config import GraphConfig, LimitsConfig
from idres_spark.linking import limits as L
from idres_spark.linking.graph import GROUP_KEY, PRUNED_GROUPS_SCHEMA, link_records

pytestmark = pytest.mark.spark

NATIVE = GraphConfig(backend="native")
EDGES = "src string, dst string, reason string, priority long, score double"
PHONE = "+15550001111"


def edge(a, b, priority=1, score=1.0, reason="r"):
    return (a, b, reason, priority, score)


def run(spark, make_records, rows, edges, *, max_group_size=50, identifier_limits=None):
    records = make_records(rows)
    frame = spark.createDataFrame(edges, EDGES)
    limits = LimitsConfig(max_group_size=max_group_size, identifier_limits=identifier_limits or {})
    return link_records(records, frame, NATIVE, limits=limits)


def parts(result) -> list[set[str]]:
    """Groups as sets of record ids, after checking each record is in exactly one group and
    every group is named by its smallest record id."""
    rows = result.groups.collect()
    by_group: dict[str, set[str]] = {}
    for row in rows:
        by_group.setdefault(row[GROUP_KEY], set()).add(row[C.RECORD_ID])
    assert len(rows) == len({row[C.RECORD_ID] for row in rows}), "a record in two groups"
    assert all(key == min(members) for key, members in by_group.items())
    return sorted(by_group.values(), key=min)


def kept_pairs(result) -> set[tuple[str, str]]:
    return {tuple(sorted((r.src, r.dst))) for r in result.kept_edges.collect()}


def star_rows(leaves: int) -> list[dict]:
    """A hub record and leaves that share one junk-ish phone; leaves 1 and 2 share the hub's
    email too."""
    rows = [{"record_id": "s:00", "phone": PHONE, "email": "hub@example.com"}]
    for i in range(1, leaves + 1):
        email = "hub@example.com" if i in (1, 2) else f"leaf{i}@example.com"
        rows.append({"record_id": f"s:{i:02d}", "phone": PHONE, "email": email})
    return rows


def star_edges(leaves: int) -> list[tuple]:
    links = [edge("s:00", f"s:{i:02d}", priority=2, reason="phone") for i in range(3, leaves + 1)]
    links += [edge("s:00", "s:01", priority=1, reason="email")]
    links += [edge("s:02", "s:00", priority=1, score=0.9, reason="email")]  # reversed direction
    return links


def test_star_through_junk_phone_splits_keeping_strongest_links(spark, make_records):
    result = run(spark, make_records, star_rows(10), star_edges(10), max_group_size=4)
    # the two email links (priority 1) first, then the phone link with the smallest pair
    assert parts(result) == [{"s:00", "s:01", "s:02", "s:03"}] + [
        {f"s:{i:02d}"} for i in range(4, 11)
    ]
    assert kept_pairs(result) == {("s:00", "s:01"), ("s:00", "s:02"), ("s:00", "s:03")}
    pruned = result.pruned_groups.collect()
    assert len(pruned) == 1
    row = pruned[0].asDict(recursive=True)
    assert row == {
        GROUP_KEY: "s:00",
        "size_before": 11,
        "parts_after": 8,
        "largest_part": 4,
        "links_cut": 7,
        "cut_reasons": {"max_group_size": 7},
        "forced_parts": 0,
        "centre_values": [{"identifier": "phone", "masked_value": "+***1111", "links_cut": 7}],
    }
    assert result.pruned_groups.schema == PRUNED_GROUPS_SCHEMA


def test_two_user_ids_joined_by_an_email_link_cut_the_weaker_link(spark, make_records):
    rows = [
        {"record_id": "a:1", "user_id": "U1", "email": "x@example.com"},
        {"record_id": "a:2", "user_id": "U1", "email": "y@example.com"},
        {"record_id": "a:3", "user_id": "U2", "email": "y@example.com"},
        {"record_id": "a:4", "user_id": "U2"},
    ]
    links = [
        edge("a:1", "a:2", priority=0, reason="default"),  # equal external ids: strongest
        edge("a:2", "a:3", priority=1, reason="email"),
        edge("a:3", "a:4", priority=0, reason="default"),
    ]
    result = run(spark, make_records, rows, links, identifier_limits={"user_id": 1})
    assert parts(result) == [{"a:1", "a:2"}, {"a:3", "a:4"}]
    assert kept_pairs(result) == {("a:1", "a:2"), ("a:3", "a:4")}
    [row] = result.pruned_groups.collect()
    assert row["cut_reasons"] == {"identifier_limit:user_id": 1}
    assert row["links_cut"] == 1 and row["parts_after"] == 2
    assert [v.asDict() for v in row["centre_values"]] == [
        {"identifier": "email", "masked_value": "y***@example.com", "links_cut": 1}
    ]


def test_score_breaks_ties_within_one_priority(spark, make_records):
    rows = [{"record_id": "b:1", "user_id": "U1"}, {"record_id": "b:2"},
            {"record_id": "b:3", "user_id": "U2"}]  # fmt: skip
    links = [edge("b:2", "b:3", score=0.90), edge("b:1", "b:2", score=0.95)]
    result = run(spark, make_records, rows, links, identifier_limits={"user_id": 1})
    assert parts(result) == [{"b:1", "b:2"}, {"b:3"}]


def test_links_through_a_shared_hub_value_are_cut_before_cluster_links(spark, make_records):
    # two clusters of three, each held by its email; every record also shares one phone
    rows = [{"record_id": f"{c}:{i}", "email": f"{c}@example.com", "phone": PHONE}
            for c in "ab" for i in (1, 2, 3)]  # fmt: skip
    links = [edge("a:1", "b:1"), edge("a:2", "b:2"), edge("a:1", "a:2"), edge("a:2", "a:3"),
             edge("b:1", "b:2"), edge("b:2", "b:3")]  # fmt: skip
    result = run(spark, make_records, rows, links, max_group_size=3)
    assert parts(result) == [{"a:1", "a:2", "a:3"}, {"b:1", "b:2", "b:3"}]


def test_permanent_links_are_never_cut(spark, make_records):
    rows = [{"record_id": "p:1", "user_id": "U1"}, {"record_id": "p:2", "user_id": "U2"},
            {"record_id": "p:3", "user_id": "U1"}, {"record_id": "p:4"},
            {"record_id": "q:1"}, {"record_id": "q:2"}, {"record_id": "q:3"}]  # fmt: skip
    links = [
        edge("p:1", "p:2", priority=-1),  # an earlier run's merge of two external ids
        edge("p:1", "p:3", priority=0),
        edge("p:2", "p:4", priority=1),
        edge("q:1", "q:2", priority=-1),
        edge("q:2", "q:3", priority=-1),  # a permanent chain over max_group_size
    ]
    result = run(spark, make_records, rows, links, max_group_size=2,
                 identifier_limits={"user_id": 1})  # fmt: skip
    assert parts(result) == [{"p:1", "p:2"}, {"p:3"}, {"p:4"}, {"q:1", "q:2", "q:3"}]
    pruned = {r[GROUP_KEY]: r for r in result.pruned_groups.collect()}
    assert pruned["p:1"]["forced_parts"] == 1 and pruned["q:1"]["forced_parts"] == 1
    assert pruned["p:1"]["cut_reasons"] == {"identifier_limit:user_id": 2}
    assert pruned["q:1"]["links_cut"] == 0


def test_custom_identifier_limit(spark, make_records):
    rows = [{"record_id": "c:1", "custom": {"loyalty_id": "L1"}},
            {"record_id": "c:2", "custom": {"loyalty_id": "L2"}},
            {"record_id": "c:3", "custom": {}}]  # fmt: skip
    links = [edge("c:1", "c:3", score=0.8), edge("c:2", "c:3", score=0.9)]
    result = run(spark, make_records, rows, links, identifier_limits={"loyalty_id": 1})
    assert parts(result) == [{"c:1"}, {"c:2", "c:3"}]


def test_components_within_the_limits_pass_through(spark, make_records):
    rows = [{"record_id": f"w:{i}", "user_id": f"U{i // 2}"} for i in range(6)]
    links = [edge("w:0", "w:1"), edge("w:2", "w:3"), edge("w:3", "w:2", priority=-1)]
    result = run(spark, make_records, rows, links, max_group_size=2,
                 identifier_limits={"user_id": 1})  # fmt: skip
    assert parts(result) == [{"w:0", "w:1"}, {"w:2", "w:3"}, {"w:4"}, {"w:5"}]
    assert result.pruned_groups.count() == 0
    assert result.kept_edges.count() == 3


def test_without_limits_groups_are_the_components(spark, make_records):
    records = make_records(star_rows(10))
    result = link_records(records, spark.createDataFrame(star_edges(10), EDGES), NATIVE)
    assert parts(result) == [{f"s:{i:02d}" for i in range(11)}]
    assert result.pruned_groups.count() == 0


def test_reruns_on_reshuffled_input_are_identical(spark, make_records):
    rows, links = star_rows(12), star_edges(12)
    first = run(spark, make_records, rows, links, max_group_size=3,
                identifier_limits={"email": 2})  # fmt: skip
    again = run(spark, make_records, rows[::-1], links[::-1], max_group_size=3,
                identifier_limits={"email": 2})  # fmt: skip
    for name in ("groups", "kept_edges"):
        assert_df_equality(getattr(first, name), getattr(again, name), ignore_row_order=True)
    # a map column cannot be sorted by Spark: order the rows by key instead
    assert_df_equality(
        first.pruned_groups.orderBy(GROUP_KEY), again.pruned_groups.orderBy(GROUP_KEY)
    )


def test_two_record_ids_on_one_vertex_id_stop_the_job(spark, make_records, monkeypatch):
    from pyspark.sql import functions as F

    from idres_spark.linking import graph

    monkeypatch.setattr(graph, "vertex_id", F.length)  # "a:1" and "b:2" collide
    rows = [{"record_id": "a:1"}, {"record_id": "b:2"}]
    with pytest.raises(Exception, match="GRAPH_VERTEX_ID_COLLISION"):
        run(spark, make_records, rows, [edge("a:1", "b:2")]).groups.collect()


# --- the greedy without Spark ----------------------------------------------------------------


def test_greedy_dedups_links_and_ignores_unknown_ends():
    records = pd.DataFrame(
        {
            C.COMPONENT: 7,
            C.RECORD_ID: ["x:2", "x:1", "x:3"],
            C.VERTEX_ID: [20, 10, 30],
            L.value_column(0): ["A", "B", None],
        }
    )
    edges = pd.DataFrame(
        {
            C.SRC: [10, 20, 20, 30, 99],
            C.DST: [20, 10, 30, 30, 10],
            C.PRIORITY: [2, 1, 2, 1, 1],
            C.SCORE: [0.7, np.nan, 1.0, 1.0, 1.0],
        }
    )
    spec = L.LimitSpec(2, ("user_id",), (("user_id", 2),))
    out = L.split_components(records, edges, spec)
    got = out[out[L.KIND] == L.RECORD_ROW].set_index(C.RECORD_ID)[L.GROUP_KEY].to_dict()
    # x:1-x:2 counts once, as its strongest copy (priority 1, no score), so it joins before
    # x:2-x:3 (priority 2), which then breaks max_group_size 2; the self loop and the link to
    # an unknown vertex are ignored
    assert got == {"x:1": "x:1", "x:2": "x:1", "x:3": "x:3"}
    [summary] = out[out[L.KIND] == L.GROUP_ROW].to_dict("records")
    assert summary[L.LINKS_CUT] == 1 and summary[L.CUT_REASONS] == {L.SIZE_REASON: 1}


def test_a_component_splits_the_same_alone_or_batched_with_others():
    def component(c: int, n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        rng = np.random.default_rng(c)
        records = pd.DataFrame(
            {
                C.COMPONENT: c,
                C.RECORD_ID: [f"c{c}:{i}" for i in rng.permutation(n)],
                C.VERTEX_ID: c * 1000 + np.arange(n),
                L.value_column(0): rng.choice(["U1", "U2", None], n),
                L.value_column(1): rng.choice([PHONE, "+15550002222"], n),
            }
        )
        edges = pd.DataFrame(
            {
                C.SRC: c * 1000 + rng.integers(0, n, 3 * n),
                C.DST: c * 1000 + rng.integers(0, n, 3 * n),
                C.PRIORITY: rng.integers(-1, 3, 3 * n) * (rng.random(3 * n) < 0.9),
                C.SCORE: rng.choice([0.5, 0.9, np.nan], 3 * n),
            }
        )
        return records, edges

    spec = L.LimitSpec(3, ("user_id", "phone"), (("user_id", 1),))
    parts = [component(c, n) for c, n in ((11, 9), (12, 2), (13, 14), (14, 6))]
    alone = pd.concat([L.split_components(r, e, spec) for r, e in parts])
    together = L.split_components(
        pd.concat([r for r, _ in parts]), pd.concat([e for _, e in parts]), spec
    )

    def canonical(frame):
        return frame.astype(str).sort_values(list(frame.columns)).reset_index(drop=True)

    pd.testing.assert_frame_equal(canonical(alone), canonical(together))
    assert (together[L.KIND] == L.GROUP_ROW).sum() == 4


# --- property test ---------------------------------------------------------------------------

FIELDS = {"user_id": ["U1", "U2", "U3"], "email": ["a@x.com", "b@x.com", "c@x.com"]}


@st.composite
def graph_rows(draw, prefix: str):
    """Records ``<prefix>:NN`` with random identifiers, and random links among them."""
    n = draw(st.integers(2, 12))
    rows = [
        {"record_id": f"{prefix}:{i:02d}"}
        | {f: draw(st.one_of(st.none(), st.sampled_from(v))) for f, v in FIELDS.items()}
        for i in range(n)
    ]
    pair = st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)).filter(lambda p: p[0] != p[1])
    priority = st.sampled_from([-1, 0, 1, 1, 2, 2, 2])  # -1: permanent
    score = st.sampled_from([0.5, 0.8, 1.0, None])
    links = draw(st.lists(st.tuples(pair, priority, score), max_size=20))
    return rows, [edge(f"{prefix}:{a:02d}", f"{prefix}:{b:02d}", p, s) for (a, b), p, s in links]


@st.composite
def cases(draw):
    """Up to three random graphs (one Spark run checks them all) and random limits."""
    graphs = [draw(graph_rows(prefix)) for prefix in ("g", "h", "k")[: draw(st.integers(1, 3))]]
    size = draw(st.integers(2, 6))
    limit_of = {f: draw(st.one_of(st.none(), st.integers(1, 2))) for f in FIELDS}
    limits = {f: v for f, v in limit_of.items() if v is not None}
    rows = [r for g, _ in graphs for r in g]
    rerun = draw(st.sampled_from([True, False, False]))  # a third re-run on reshuffled input
    return rows, [e for _, g in graphs for e in g], size, limits, rerun


def union_find(ids, pairs) -> dict[str, str]:
    parent = {i: i for i in ids}

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = find(a), find(b)
        parent[max(ra, rb)] = min(ra, rb)
    return {i: find(i) for i in ids}


def breaks_limits(members, rows_by_id, size, limits) -> bool:
    if len(members) > size:
        return True
    return any(
        len({rows_by_id[m][f] for m in members} - {None}) > limit for f, limit in limits.items()
    )


@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
@given(case=cases())
def test_property_groups_fit_refine_components_and_are_deterministic(spark, make_records, case):
    rows, edges, size, limits, rerun = case
    rows_by_id = {r["record_id"]: r for r in rows}
    ids = sorted(rows_by_id)
    result = run(spark, make_records, rows, edges, max_group_size=size, identifier_limits=limits)
    groups = parts(result)
    assert sorted(m for g in groups for m in g) == ids  # every record exactly once
    group_of = {m: min(g) for g in groups for m in g}
    component = union_find(ids, [(a, b) for a, b, *_ in edges])
    assert all(len({component[m] for m in g}) == 1 for g in groups)  # groups refine components
    permanent = union_find(ids, [(a, b) for a, b, _, p, _ in edges if p < 0])
    for g in groups:  # over a limit only when it is exactly a component of permanent links
        if breaks_limits(g, rows_by_id, size, limits):
            assert g == {m for m in ids if permanent[m] == permanent[min(g)]}
    kept = kept_pairs(result)
    assert union_find(ids, kept) == group_of  # groups are the components of the kept links
    for a, b, _, p, _ in edges:
        pair = tuple(sorted((a, b)))
        if pair not in kept:  # a cut link: never permanent, and needed
            assert p >= 0
            both = {m for m in ids if group_of[m] in (group_of[a], group_of[b])}
            assert group_of[a] != group_of[b] and breaks_limits(both, rows_by_id, size, limits)
    members_of = {c: {m for m in ids if component[m] == c} for c in set(component.values())}
    over = {c for c, ms in members_of.items() if breaks_limits(ms, rows_by_id, size, limits)}
    pruned = {r[GROUP_KEY]: r for r in result.pruned_groups.collect()}
    assert set(pruned) == over
    for key, row in pruned.items():
        inside = [g for g in groups if component[min(g)] == key]
        assert row["size_before"] == sum(len(g) for g in inside)
        assert row["parts_after"] == len(inside)
    if not rerun:
        return
    again = run(spark, make_records, rows[::-1], edges[::-1], max_group_size=size,
                identifier_limits=limits)  # fmt: skip
    assert parts(again) == groups and kept_pairs(again) == kept


@pytest.mark.parametrize("limited", [True, False])
def test_cannot_link_cuts_the_weakest_link_between_its_sides(spark, make_records, limited):
    """A chain a-b-c-d-e (the permanent link c-d strongest, the rule link b-c weakest) with a
    cannot-link between a and e: the cut falls on b-c; an unrelated pair stays whole; with or
    without group limits."""
    rows = [{"record_id": f"w:{x}"} for x in "abcdexy"]
    links = [edge("w:a", "w:b", priority=0), edge("w:b", "w:c", priority=2),
             edge("w:c", "w:d", priority=-1), edge("w:d", "w:e", priority=1, score=0.5),
             edge("w:x", "w:y")]  # fmt: skip
    cannot = spark.createDataFrame(
        [("w:a", 1), ("w:e", -1), ("w:x", 2)], "record_id string, tag long"
    )
    result = link_records(
        make_records(rows), spark.createDataFrame(links, EDGES), NATIVE,
        limits=LimitsConfig(max_group_size=50) if limited else None,
        cannot=cannot, cannot_ids=("c1", "c2"),
    )  # fmt: skip
    assert parts(result) == [{"w:a", "w:b"}, {"w:c", "w:d", "w:e"}, {"w:x", "w:y"}]
    assert ("w:b", "w:c") not in kept_pairs(result) and ("w:c", "w:d") in kept_pairs(result)
    (pruned,) = result.pruned_groups.collect()
    assert pruned.cut_reasons == {"cannot_link:c1": 1} and pruned.parts_after == 2
