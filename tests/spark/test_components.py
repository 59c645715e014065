"""Connected components: both engines against a union-find oracle and against each other, the
checkpointers, and the GraphFrames glue. The tests that run GraphFrames itself need its JAR
(``require_jar`` in tests/conftest.py: they fail under CI when build/jars pins it and it is
missing, and skip where no JAR is pinned); every other test runs everywhere."""

from __future__ import annotations

import inspect
import logging
import random
from itertools import combinations

import numpy as np
import pytest
from chispa import assert_df_equality
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from idres_spark.columns import COMPONENT, DST, SRC, VERTEX_ID
from idres_spark.errors import GraphError
from idres_spark.linking.components import (
    components_of,
    connected_components,
    graphframes_available,
    parquet_checkpoint,
    spark_checkpoint,
)

pytestmark = pytest.mark.spark

EDGES = f"{SRC} long, {DST} long"
VERTICES = f"{VERTEX_ID} long"
RESULT = f"{VERTEX_ID} long, {COMPONENT} long"
ENGINES = ("native", "graphframes")
INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)


@pytest.fixture(params=ENGINES)
def engine(request, require_jar):
    """Each test that takes it runs once per engine; the GraphFrames run needs its JAR."""
    if request.param == "graphframes":
        require_jar("graphframes")
    return request.param


def union_find(ids, edges) -> dict[int, int]:
    """Oracle: vertex -> smallest id of its component (the root is always the set minimum)."""
    parent = {i: i for i in ids}

    def find(x):
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {i: find(i) for i in ids}


def frames(spark, ids, edges):
    return (
        spark.createDataFrame([(a, b) for a, b in edges], EDGES),
        spark.createDataFrame([(i,) for i in ids], VERTICES),
    )


def as_dict(df) -> dict[int, int]:
    rows = df.collect()
    result = {row[VERTEX_ID]: row[COMPONENT] for row in rows}
    assert len(result) == len(rows), "more than one row for a vertex"
    return result


def expected_frame(spark, ids, edges):
    return spark.createDataFrame(sorted(union_find(ids, edges).items()), RESULT)


def assert_same(actual, expected):
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


@st.composite
def graphs(draw):
    """Up to 60 vertices cut into groups; each group is a chain, star, clique, forest, random
    graph or left isolated, its members in shuffled, ascending or descending id order (monotone
    runs are the slow cases for star contraction). A few random edges may join groups;
    duplicate, reversed and self edges are sprinkled in."""
    ids = draw(
        st.lists(st.one_of(st.integers(-40, 40), INT64), min_size=1, max_size=60, unique=True)
    )
    n = len(ids)
    order = draw(st.permutations(range(n)))
    cuts = sorted(draw(st.sets(st.integers(1, n - 1), max_size=6)) if n > 1 else set())
    pairs: list[tuple[int, int]] = []
    for lo, hi in zip([0, *cuts], [*cuts, n], strict=True):
        members = order[lo:hi]
        arrangement = draw(st.sampled_from(["shuffled", "ascending", "descending"]))
        if arrangement != "shuffled":
            members.sort(key=ids.__getitem__, reverse=arrangement == "descending")
        shape = draw(st.sampled_from(["chain", "star", "clique", "forest", "random", "isolated"]))
        if shape == "chain":
            pairs += list(zip(members, members[1:], strict=False))
        elif shape == "star":
            pairs += [(members[0], leaf) for leaf in members[1:]]
        elif shape == "clique":
            pairs += list(combinations(members[:12], 2))
        elif shape == "forest":
            for k in range(1, len(members)):
                if draw(st.booleans()):
                    pairs.append((members[draw(st.integers(0, k - 1))], members[k]))
        elif shape == "random":
            member = st.sampled_from(members)
            pairs += draw(st.lists(st.tuples(member, member), max_size=2 * len(members)))
    anywhere = st.integers(0, n - 1)
    pairs += draw(st.lists(st.tuples(anywhere, anywhere), max_size=3))
    if pairs:
        picked = st.lists(st.sampled_from(pairs), max_size=20)
        pairs += draw(picked) + [(b, a) for a, b in draw(picked)]
    pairs += [(i, i) for i in draw(st.lists(anywhere, max_size=5))]
    edges = [(ids[a], ids[b]) for a, b in draw(st.permutations(pairs))]
    return ids, edges


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(graph=graphs(), checkpoint_every=st.integers(1, 3))
def test_native_matches_union_find(spark, graph, checkpoint_every):
    ids, edges = graph
    edge_df, vertex_df = frames(spark, ids, edges)
    result = connected_components(
        edge_df, vertex_df, backend="native", checkpoint_every=checkpoint_every
    )
    assert as_dict(result) == union_find(ids, edges)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(graph=graphs())
def test_small_graph_on_the_driver_matches_union_find(spark, graph):
    """The same graphs solved on the driver (``driver_max_edges`` above their link count)."""
    ids, edges = graph
    result = connected_components(*frames(spark, ids, edges), backend="native",
                                  driver_max_edges=1_000)  # fmt: skip
    assert as_dict(result) == union_find(ids, edges)


@pytest.mark.parametrize("order", ["ascending", "descending", "shuffled"])
def test_components_of_50k_links_matches_union_find(order):
    """The driver's vectorised union-find alone, on chains, stars and random links over 20k
    ids (long chains in monotone id order need the most hooking rounds)."""
    rng = random.Random(5)
    ids = rng.sample(range(-(10**12), 10**12), 20_000)
    if order != "shuffled":
        ids.sort(reverse=order == "descending")
    edges = list(zip(ids[:5_000], ids[1:5_001], strict=True))  # one chain
    edges += [(ids[6_000], leaf) for leaf in ids[6_001:9_000]]  # one star
    edges += [(rng.choice(ids[9_000:]), rng.choice(ids[9_000:])) for _ in range(42_000)]
    vertices, roots = components_of(
        np.array([a for a, _ in edges], dtype=np.int64),
        np.array([b for _, b in edges], dtype=np.int64),
    )
    expected = union_find(sorted({v for e in edges for v in e}), edges)
    assert dict(zip(vertices.tolist(), roots.tolist(), strict=True)) == expected


def test_driver_limit_decides_where_a_graph_is_solved(spark, caplog):
    """At most ``driver_max_edges`` links: the driver; one more: the distributed rounds. Both
    give the same components."""
    ids = list(range(60))
    edges = list(zip(ids, ids[1:], strict=False))  # 59 links
    results = {}
    for limit in (59, 58):
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="idres_spark.linking.components"):
            result = connected_components(*frames(spark, ids, edges), backend="native",
                                          driver_max_edges=limit)  # fmt: skip
            results[limit] = as_dict(result)
        on_driver = "solved on the driver" in caplog.text
        assert on_driver == (limit == 59), caplog.text
        assert ("converged after" in caplog.text) == (limit == 58)
    assert results[59] == results[58] == {i: 0 for i in ids}


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(graph=graphs(), checkpoint_every=st.integers(1, 3))
def test_graphframes_gives_the_native_components(spark, require_jar, graph, checkpoint_every):
    """The same random forests, chains, stars, cliques, duplicate and self edges through both
    engines: identical components, and both equal to the oracle."""
    require_jar("graphframes")
    ids, edges = graph
    edge_df, vertex_df = frames(spark, ids, edges)
    results = {
        engine: as_dict(
            connected_components(
                edge_df, vertex_df, backend=engine, checkpoint_every=checkpoint_every
            )
        )
        for engine in ENGINES
    }
    assert results["graphframes"] == results["native"]
    native = results["native"]
    assert native == union_find(ids, edges)


def test_chain_of_2000_shuffled_ids(spark, engine):
    ids = random.Random(2000).sample(range(-(10**18), 10**18), 2000)
    edges = list(zip(ids, ids[1:], strict=False))
    result = connected_components(*frames(spark, ids, edges), backend=engine)
    expected = spark.createDataFrame([(i, min(ids)) for i in ids], RESULT)
    assert_same(result, expected)


def test_monotone_chains(spark, engine):
    """Ascending, descending and zigzag id runs, as three components of one graph."""
    ascending = list(range(0, 40))
    descending = list(range(139, 99, -1))
    zigzag = list(range(200, 240, 2)) + list(range(239, 200, -2))
    ids, edges = [], []
    for chain in (ascending, descending, zigzag):
        ids += chain
        edges += list(zip(chain, chain[1:], strict=False))
    result = connected_components(*frames(spark, ids, edges), backend=engine)
    assert as_dict(result) == union_find(ids, edges)
    assert set(as_dict(result).values()) == {0, 100, 200}


def test_star_with_5000_leaves(spark, engine):
    hub = 2500  # neither the smallest nor the largest id
    leaves = [i for i in range(5001) if i != hub]
    edges = [(hub, leaf) for leaf in leaves] + [(leaf, hub) for leaf in leaves[::7]]
    result = connected_components(*frames(spark, [hub, *leaves], edges), backend=engine)
    expected = spark.createDataFrame([(i, 0) for i in range(5001)], RESULT)
    assert_same(result, expected)


def test_duplicates_self_loops_and_both_directions(spark, engine):
    ids = [10, 20, 30, 40, 50, -7]
    edges = [(20, 10), (10, 20), (10, 20), (30, 30), (40, 30), (30, 40), (50, 50)]
    result = connected_components(*frames(spark, ids, edges), backend=engine)
    expected = spark.createDataFrame(
        [(10, 10), (20, 10), (30, 30), (40, 30), (50, 50), (-7, -7)], RESULT
    )
    assert_same(result, expected)


def test_isolated_vertices_only(spark, engine):
    ids = [5, -3, 2**62, -(2**63)]
    result = connected_components(*frames(spark, ids, []), backend=engine)
    assert_same(result, spark.createDataFrame([(i, i) for i in ids], RESULT))


def test_empty_graph(spark, engine):
    result = connected_components(*frames(spark, [], []), backend=engine)
    assert [(f.name, f.dataType.simpleString()) for f in result.schema.fields] == [
        (VERTEX_ID, "bigint"),
        (COMPONENT, "bigint"),
    ]
    assert result.count() == 0


def test_one_row_per_vertex_when_vertices_repeat(spark, engine):
    edge_df, vertex_df = frames(spark, [1, 1, 2, 3, 3], [(2, 3)])
    result = connected_components(edge_df, vertex_df, backend=engine)
    assert_same(result, spark.createDataFrame([(1, 1), (2, 2), (3, 2)], RESULT))


def test_endpoints_missing_from_the_vertices_still_connect(spark, engine):
    """Vertex 1 is not listed, but it joins 2 and 3 and is their component's smallest id."""
    edge_df, vertex_df = frames(spark, [2, 3, 9], [(1, 2), (3, 1), (9, 10)])
    result = connected_components(edge_df, vertex_df, backend=engine)
    assert_same(result, spark.createDataFrame([(2, 1), (3, 1), (9, 9)], RESULT))


def test_parquet_checkpoint_cuts_lineage(spark, tmp_path):
    checkpoint = parquet_checkpoint(str(tmp_path / "ckpt"))
    df = checkpoint(spark.range(10).where("id % 2 = 0"))
    assert sorted(r.id for r in df.collect()) == [0, 2, 4, 6, 8]
    assert df.inputFiles() and all(str(tmp_path / "ckpt") in f for f in df.inputFiles())


def test_native_with_parquet_checkpoint(spark, tmp_path):
    ids = random.Random(1).sample(range(10**6), 40)
    edges = list(zip(ids, ids[1:], strict=False)) + [(ids[0], ids[0])]
    checkpoint = parquet_checkpoint(str(tmp_path / "ckpt"))
    result = connected_components(
        *frames(spark, ids, edges), backend="native", checkpoint=checkpoint, checkpoint_every=1
    )
    assert_same(result, expected_frame(spark, ids, edges))
    assert len(list((tmp_path / "ckpt").iterdir())) >= 2  # at least one round plus the result


def test_spark_checkpoint_cuts_lineage(spark):
    df = spark_checkpoint(spark.range(10).where("id > 6"))
    assert sorted(r.id for r in df.collect()) == [7, 8, 9]
    assert "Filter" not in df._jdf.queryExecution().logical().toString()


def test_missing_checkpoint_dir_fails_fast(spark, monkeypatch):
    monkeypatch.setattr(type(spark.sparkContext), "getCheckpointDir", lambda _self: None)
    with pytest.raises(GraphError) as err:
        connected_components(*frames(spark, [1, 2], [(1, 2)]), backend="native")
    assert err.value.code == "checkpoint_dir_missing"


def test_no_convergence_within_max_rounds(spark):
    ids = list(range(200))
    with pytest.raises(GraphError) as err:
        connected_components(
            *frames(spark, ids, list(zip(ids, ids[1:], strict=False))),
            backend="native",
            max_rounds=1,
        )
    assert err.value.code == "no_convergence"


def test_unknown_backend(spark):
    with pytest.raises(GraphError) as err:
        connected_components(*frames(spark, [1], []), backend="networkx")
    assert err.value.code == "unknown_backend"


@pytest.mark.parametrize("graphframes_loads", [False, True])
def test_auto_runs_native_and_logs_its_rounds(spark, caplog, monkeypatch, graphframes_loads):
    """auto picks the faster engine by the graph benchmark: native, even where GraphFrames
    loads (docs/graph.md)."""
    from idres_spark.linking import components

    monkeypatch.setattr(components, "graphframes_available", lambda _spark: graphframes_loads)
    caplog.set_level(logging.INFO, logger="idres_spark.linking.components")
    result = connected_components(*frames(spark, [1, 2, 3], [(1, 2)]), backend="auto")
    assert as_dict(result) == {1: 1, 2: 1, 3: 3}
    assert any("chose the native engine" in r.getMessage() for r in caplog.records)
    assert any("round 1: 1 edges" in r.getMessage() for r in caplog.records)


def test_graphframes_available_matches_the_classpath(spark):
    conf = spark.sparkContext.getConf()
    added = conf.get("spark.jars.packages", "") + conf.get("spark.jars", "")
    assert graphframes_available(spark) is ("graphframes" in added)
    assert graphframes_available(None) is False  # no session: "no", not an exception


def test_graphframes_backend_without_jar_raises(spark, monkeypatch):
    import graphframes

    from idres_spark.linking import components

    monkeypatch.setattr(components, "graphframes_available", lambda _spark: False)
    with pytest.raises(GraphError) as err:
        connected_components(*frames(spark, [1, 2], [(1, 2)]), backend="graphframes")
    assert err.value.code == "graphframes_missing"
    line = "spark4_2.13" if spark.version.startswith("4") else "spark3_2.12"
    assert f"io.graphframes:graphframes-{line}:{graphframes.__version__}" in err.value.message


def test_graphframes_glue_relabels_to_smallest_id(spark, monkeypatch):
    """The GraphFrames call and the relabelling, with a stand-in engine that labels each
    component by its largest id (the JAR itself is not needed)."""
    import graphframes

    from idres_spark.linking import components

    calls = []

    class FakeGraphFrame:
        def __init__(self, v, e):
            self.v, self.e = v, e

        def connectedComponents(self, **options):  # noqa: N802 - GraphFrames' name
            calls.append(options)
            ids = [r["id"] for r in self.v.collect()]
            oracle = union_find(ids, [(r["src"], r["dst"]) for r in self.e.collect()])
            largest = {}
            for vertex, root in oracle.items():
                largest[root] = max(largest.get(root, vertex), vertex)
            rows = [(vertex, largest[root]) for vertex, root in oracle.items()]
            return spark.createDataFrame(rows, "id long, component long")

    real = inspect.signature(graphframes.GraphFrame.connectedComponents).parameters
    monkeypatch.setattr(graphframes, "GraphFrame", FakeGraphFrame)
    monkeypatch.setattr(components, "graphframes_available", lambda _spark: True)
    ids = [7, 3, 9, -2, 11]
    edges = [(7, 3), (3, 9), (9, 9), (-2, 11), (11, 4)]  # 4 is an endpoint, not a listed vertex
    result = connected_components(
        *frames(spark, ids, edges), backend="graphframes", checkpoint_every=3
    )
    assert_same(result, expected_frame(spark, [*ids, 4], edges).where(f"{VERTEX_ID} != 4"))
    assert len(calls) == 1
    options = calls[0]
    assert options["algorithm"] == "two_phase"
    assert options["checkpointInterval"] == 3
    assert options["broadcastThreshold"] == -1
    assert options["max_iter"] == 2**31 - 2  # not graphframes-py 0.11-0.12.2's 2 ^ 31 - 2 == 31
    assert options["use_local_checkpoints"] is False
    assert options["useLabelsAsComponents"] is False
    assert set(options) <= set(real)  # the pinned graphframes-py takes every option by name
