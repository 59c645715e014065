"""Connected components of the match graph, with two interchangeable engines.

:func:`connected_components` labels every vertex with the smallest vertex id of its component,
so the answer does not depend on the engine that computed it. ``backend="auto"`` runs the
native engine, the faster of the two where both were measured (docs/graph.md).

Native engine: large-star / small-star (Kiveris et al. 2014, "Connected Components in
MapReduce and Beyond"). Undirected edges are stored oriented ``hi > lo``.

* large-star: for each vertex ``u`` let ``m(u)`` be the smallest of ``u`` and its neighbours;
  every neighbour ``v > u`` is reconnected to ``m(u)``.
* small-star: for each vertex ``u`` let ``m`` be the smallest of its neighbours below ``u``;
  ``u`` and each of those neighbours are reconnected to ``m``.

Both steps are one window over one shuffle: rows are partitioned by the vertex and sorted by
neighbour, so the minimum is the first row and duplicate edges sit next to each other and are
dropped with ``lag`` (deduplication costs no extra shuffle). Large-star sees a vertex from both
sides by unioning ``(hi, lo)`` with ``(lo, hi)``; small-star only needs ``(hi, lo)``.

Convergence is exact and needs no comparison with the previous edge set: each output edge
carries a flag that is true when a step rewrote an edge (large-star: ``m(u) != u``;
small-star: the vertex has a second distinct lower neighbour, or one of its input edges was
flagged). A round that flags nothing returned its input unchanged, which only happens when the
graph is a forest of stars whose centres are the component minima; then a vertex's component
is its one remaining lower neighbour, or itself. The paper bounds the rounds by
``O(log^2 n)``.

Checkpoint strategy: each round ends with one small action (edge count and flag count) on a
materialised edge frame. Every ``checkpoint_every`` rounds that frame goes through the
checkpointer, which writes it out and cuts the lineage; in the rounds between, it is only
persisted, and the previous round's cache is released once the new one exists. The plan
therefore never grows more than ``checkpoint_every`` rounds deep (a long chain needs dozens
of rounds). The result is checkpointed too, so it does not depend on released caches. Nothing
is collected to the driver but those per-round scalars.

Small graphs (``driver_max_edges``, from ``graph.driver_max_edges``): a graph of at most that
many links is solved in one process on the driver instead (:func:`components_of`,
vectorised union-find over the collected links, a few MB at most). The answer is the same
(smallest vertex id per component); what it saves is the fixed cost of the rounds, about
three Spark jobs and two shuffles each, which dominates the graph stage of a run of 10k-100k
records (docs/benchmarks.md).
"""

from __future__ import annotations

import importlib.util
import logging
import uuid
from collections.abc import Callable

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.storagelevel import StorageLevel

from idres_spark.columns import COMPONENT, DST, SRC, VERTEX_ID
from idres_spark.errors import GraphError

log = logging.getLogger(__name__)

Checkpointer = Callable[[DataFrame], DataFrame]

BACKENDS = ("auto", "native", "graphframes")
GRAPHFRAMES_CLASS = "org.graphframes.GraphFrame"
GRAPHX_MAX_ITER = 2**31 - 2  # Pregel supersteps: effectively unlimited

# internal column names
_HI, _LO, _CHANGED = "_hi", "_lo", "_changed"
_KEY, _SIDE, _OTHER, _MIN = "_key", "_side", "_other", "_min"


def spark_checkpoint(df: DataFrame) -> DataFrame:
    """Reliable, eager checkpoint into the SparkContext checkpoint directory.

    The frame is persisted around the checkpoint so that Spark's separate checkpoint-writing
    job reads the cache instead of recomputing the plan.
    """
    df.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        return df.checkpoint(eager=True)
    finally:
        df.unpersist()


def local_checkpoint(df: DataFrame) -> DataFrame:
    """Eager checkpoint into the executors' block managers (memory, spilling to disk): cuts
    the lineage like the others without writing files, but dies with its executor."""
    return df.localCheckpoint(eager=True)


def parquet_checkpoint(directory: str) -> Checkpointer:
    """A checkpointer that writes parquet to a fresh subdirectory of ``directory`` and reads it.

    Works on any file system Spark can write to; the subdirectories are not deleted.
    """
    base = directory.rstrip("/")

    def _checkpoint(df: DataFrame) -> DataFrame:
        path = f"{base}/ckpt-{uuid.uuid4().hex}"
        # no dictionary pages: a checkpoint is read once or twice, and dictionary encoding
        # cost a quarter of the write time for 4% smaller files (1M records, snappy either way)
        df.write.mode("errorifexists").option("parquet.enable.dictionary", "false").parquet(path)
        return df.sparkSession.read.schema(df.schema).parquet(path)  # no inference job

    return _checkpoint


def graphframes_available(spark: SparkSession) -> bool:
    """True when the GraphFrames JVM classes load (and graphframes-py imports); never raises."""
    try:
        if importlib.util.find_spec("graphframes") is None:
            return False
        jvm = spark.sparkContext._jvm
        jvm.java.lang.Thread.currentThread().getContextClassLoader().loadClass(GRAPHFRAMES_CLASS)
        return True
    except Exception:  # any failure (no JVM, Spark Connect, class missing) means "no"
        return False


def connected_components(
    edges: DataFrame,
    vertices: DataFrame,
    *,
    backend: str = "auto",
    checkpoint: Checkpointer | None = None,
    checkpoint_every: int = 2,
    max_rounds: int = 200,
    driver_max_edges: int = 0,
) -> DataFrame:
    """``id``, ``component`` (both long): one row per vertex, component = smallest id in it.

    ``edges`` (``src``, ``dst``) are undirected; duplicates, both directions, self loops and
    null endpoints are tolerated. ``vertices`` (``id``) lists every vertex, isolated ones
    included; edge endpoints missing from it are not reported. Null vertex ids are dropped.
    The native engine solves a graph of at most ``driver_max_edges`` links (0: none) on the
    driver.
    """
    if backend not in BACKENDS:
        raise GraphError(
            f"unknown connected-components backend {backend!r}; use one of {', '.join(BACKENDS)}",
            code="unknown_backend",
        )
    if checkpoint_every < 1 or max_rounds < 1:
        raise GraphError(
            f"checkpoint_every ({checkpoint_every}) and max_rounds ({max_rounds}) must be >= 1",
            code="invalid_argument",
        )
    _require(edges, (SRC, DST), "edges")
    _require(vertices, (VERTEX_ID,), "vertices")
    if backend == "auto":
        # by measurement (docs/benchmarks.md, graph stage, both engines): native was faster
        # than GraphFrames at 1M and 5M edges, so auto never trades it for GraphFrames
        backend = "native"
        log.info("connected components: backend 'auto' chose the %s engine", backend)
    else:
        log.info("connected components: using the %s engine", backend)
    if backend == "graphframes":
        return _graphframes(edges, vertices, checkpoint_every)
    return _native(
        edges, vertices, checkpoint or spark_checkpoint, checkpoint_every, max_rounds,
        driver_max_edges,
    )  # fmt: skip


def _require(df: DataFrame, names: tuple[str, ...], what: str) -> None:
    missing = [name for name in names if name not in df.columns]
    if missing:
        raise GraphError(
            f"{what} frame lacks column(s) {', '.join(missing)} (has: {', '.join(df.columns)})",
            code="graph_input",
        )


def _vertex_ids(vertices: DataFrame) -> DataFrame:
    vid = F.col(VERTEX_ID).cast("long")
    return vertices.select(vid.alias(VERTEX_ID)).where(vid.isNotNull()).distinct()


def _canonical(edges: DataFrame) -> DataFrame:
    """Undirected edges as ``hi > lo``; self loops and null endpoints removed."""
    src, dst = F.col(SRC).cast("long"), F.col(DST).cast("long")
    return edges.where(src.isNotNull() & dst.isNotNull() & (src != dst)).select(
        F.greatest(src, dst).alias(_HI), F.least(src, dst).alias(_LO)
    )


def _large_star(edges: DataFrame) -> DataFrame:
    """Reconnect every higher neighbour ``v`` of ``u`` to ``m(u)``; flag ``m(u) != u``."""
    lower = edges.select(F.col(_HI).alias(_KEY), F.lit(0).alias(_SIDE), F.col(_LO).alias(_OTHER))
    higher = edges.select(F.col(_LO).alias(_KEY), F.lit(1).alias(_SIDE), F.col(_HI).alias(_OTHER))
    ordered = Window.partitionBy(_KEY).orderBy(_SIDE, _OTHER)
    running = ordered.rowsBetween(Window.unboundedPreceding, Window.currentRow)
    # lower neighbours sort first, so at a higher-neighbour row the running min is final
    low_min = F.min(F.when(F.col(_SIDE) == 0, F.col(_OTHER))).over(running)
    duplicate = (F.lag(_SIDE).over(ordered) == 1) & (F.lag(_OTHER).over(ordered) == F.col(_OTHER))
    rows = lower.unionByName(higher).select(
        _KEY, _SIDE, _OTHER, low_min.alias(_MIN), F.coalesce(duplicate, F.lit(False)).alias("_dup")
    )
    return rows.where((F.col(_SIDE) == 1) & ~F.col("_dup")).select(
        F.col(_OTHER).alias(_HI),
        F.coalesce(F.col(_MIN), F.col(_KEY)).alias(_LO),
        F.col(_MIN).isNotNull().alias(_CHANGED),
    )


def _small_star(edges: DataFrame) -> DataFrame:
    """Reconnect ``u`` and its lower neighbours to their minimum; keep/raise the change flag."""
    ordered = Window.partitionBy(_HI).orderBy(_LO)
    whole = ordered.rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing)
    prev = F.lag(_LO).over(ordered)
    rows = edges.select(
        _HI,
        _LO,
        F.min(_LO).over(whole).alias(_MIN),
        F.max(_CHANGED).over(whole).alias("_any"),
        prev.alias("_prev"),
    )
    first = F.col("_prev").isNull()
    # the first (smallest) row emits (u, m); each further distinct lower neighbour emits (v, m)
    return rows.where(first | (F.col(_LO) != F.col("_prev"))).select(
        F.when(first, F.col(_HI)).otherwise(F.col(_LO)).alias(_HI),
        F.col(_MIN).alias(_LO),
        F.when(first, F.col("_any")).otherwise(F.lit(True)).alias(_CHANGED),
    )


def _native(
    edges: DataFrame,
    vertices: DataFrame,
    checkpoint: Checkpointer,
    checkpoint_every: int,
    max_rounds: int,
    driver_max_edges: int = 0,
) -> DataFrame:
    if checkpoint is spark_checkpoint:
        _require_checkpoint_dir(edges.sparkSession)
    state = _canonical(edges)
    if driver_max_edges > 0:
        links = state.limit(driver_max_edges + 1).toPandas()
        if len(links) <= driver_max_edges:
            log.info("connected components: %d links, solved on the driver", len(links))
            return _on_driver(links, vertices, checkpoint)
    cached: DataFrame | None = None  # the persisted state, released once its successor exists
    try:
        for round_no in range(1, max_rounds + 1):
            step = _small_star(_large_star(state))
            if round_no % checkpoint_every == 0:
                step, persisted = checkpoint(step), None
            else:
                step = persisted = step.persist(StorageLevel.MEMORY_AND_DISK)
            stats = step.agg(
                F.count(F.lit(1)).alias("n"), F.count(F.when(F.col(_CHANGED), 1)).alias("changed")
            ).first()
            log.info(
                "connected components round %d: %d edges, %d changed",
                round_no,
                stats["n"],
                stats["changed"],
            )
            if cached is not None:
                cached.unpersist()
            cached, state = persisted, step
            if stats["changed"] == 0:  # a forest of stars centred on the component minima
                log.info("connected components converged after %d rounds", round_no)
                star = state.select(F.col(_HI).alias(VERTEX_ID), F.col(_LO).alias(COMPONENT))
                return _labelled(vertices, star, checkpoint)
    finally:
        if cached is not None:
            cached.unpersist()
    raise GraphError(
        f"connected components did not converge within max_rounds={max_rounds}; "
        "raise max_rounds (the rounds grow like log^2 of the longest path)",
        code="no_convergence",
    )


def components_of(hi: np.ndarray, lo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(vertex ids, their component = smallest id in it) of the endpoints of the undirected
    links ``hi[i] - lo[i]``, by union-find over whole arrays: every link hooks the larger of
    its two roots under the smaller (``np.minimum.at``), then pointer jumping flattens the
    trees; repeated until both ends of every link share a root. Vertices are numbered in id
    order, so a root is always its component's smallest id."""
    ids = np.unique(np.concatenate([hi, lo]))
    a, b = np.searchsorted(ids, hi), np.searchsorted(ids, lo)
    parent = np.arange(len(ids))
    while True:
        ra, rb = parent[a], parent[b]
        if np.array_equal(ra, rb):
            return ids, ids[parent]
        np.minimum.at(parent, ra, rb)
        np.minimum.at(parent, rb, ra)
        while True:  # pointer jumping: every vertex straight under its root
            grand = parent[parent]
            if np.array_equal(grand, parent):
                break
            parent = grand


def _on_driver(links: pd.DataFrame, vertices: DataFrame, checkpoint: Checkpointer) -> DataFrame:
    spark = vertices.sparkSession
    ids, roots = components_of(
        links[_HI].to_numpy(dtype=np.int64), links[_LO].to_numpy(dtype=np.int64)
    )
    labelled = pd.DataFrame({VERTEX_ID: ids, COMPONENT: roots}, dtype=np.int64)
    star = spark.createDataFrame(labelled, f"{VERTEX_ID} long, {COMPONENT} long")
    return _labelled(vertices, star, checkpoint)


def _labelled(vertices: DataFrame, star: DataFrame, checkpoint: Checkpointer) -> DataFrame:
    """Every listed vertex with its component: the one ``star`` (``id``, ``component``) gives
    it, else itself (a vertex without links)."""
    joined = _vertex_ids(vertices).join(star, VERTEX_ID, "left")
    component = F.coalesce(F.col(COMPONENT), F.col(VERTEX_ID)).alias(COMPONENT)
    return checkpoint(joined.select(VERTEX_ID, component))


def _require_checkpoint_dir(spark: SparkSession) -> None:
    try:
        missing = spark.sparkContext.getCheckpointDir() is None
    except Exception:  # Spark Connect has no SparkContext here; let Spark itself decide
        return
    if missing:
        raise GraphError(
            "the native engine checkpoints into the SparkContext checkpoint directory, which is "
            "not set: call spark.sparkContext.setCheckpointDir(<dir>) or pass "
            "checkpoint=parquet_checkpoint(<dir>)",
            code="checkpoint_dir_missing",
        )


def _graphframes_missing_message(spark: SparkSession) -> str:
    try:
        import graphframes

        version, pip_hint = getattr(graphframes, "__version__", "<version>"), ""
    except ImportError:
        version, pip_hint = "<version>", " and pip install graphframes-py"
    spark4 = "io.graphframes:graphframes-spark4_2.13"
    spark3 = "io.graphframes:graphframes-spark3_2.12"
    wanted = spark4 if spark.version.startswith("4") else spark3
    return (
        f"backend='graphframes' needs GraphFrames, but {GRAPHFRAMES_CLASS} is not on the Spark "
        f"classpath (Spark {spark.version}). Start Spark with --packages {wanted}:{version} "
        f"(or set spark.jars.packages before the session is created){pip_hint}. "
        f"Spark 4.x / Scala 2.13 uses {spark4}:<version>; Spark 3.5 / Scala 2.12 uses "
        f"{spark3}:<version>; match the graphframes-py version. Or use backend='native'."
    )


def _graphframes(edges: DataFrame, vertices: DataFrame, checkpoint_every: int) -> DataFrame:
    """GraphFrames' connected components, relabelled to the smallest vertex id of each component.

    GraphFrames sees every listed vertex and every edge endpoint (an endpoint missing from
    ``vertices`` still joins its neighbours, as in the native engine); only listed vertices are
    returned. Every option is set here rather than left to the installed release's defaults,
    which have changed between releases (docs/graph.md).
    """
    spark = edges.sparkSession
    if not graphframes_available(spark):
        raise GraphError(_graphframes_missing_message(spark), code="graphframes_missing")
    _require_checkpoint_dir(spark)
    from graphframes import GraphFrame

    listed = _vertex_ids(vertices)
    canonical = _canonical(edges)
    endpoints = canonical.select(F.col(_HI).alias(VERTEX_ID)).unionByName(
        canonical.select(F.col(_LO).alias(VERTEX_ID))
    )
    v = listed.unionByName(endpoints).distinct().withColumnRenamed(VERTEX_ID, "id")
    e = canonical.select(F.col(_HI).alias("src"), F.col(_LO).alias("dst"))
    labelled = GraphFrame(v, e).connectedComponents(**graphframes_options(checkpoint_every))
    labelled = labelled.select(F.col("id").alias(VERTEX_ID), F.col("component").alias("_label"))
    smallest = labelled.groupBy("_label").agg(F.min(VERTEX_ID).alias(COMPONENT))
    return (
        labelled.join(smallest, "_label")
        .join(listed, VERTEX_ID)  # listed vertices only, as the native engine reports them
        .select(VERTEX_ID, COMPONENT)
    )


def graphframes_options(checkpoint_every: int) -> dict[str, object]:
    """Keyword arguments of ``GraphFrame.connectedComponents``, all of them explicit.

    * ``algorithm="two_phase"``: the large-star / small-star algorithm (the native engine's);
      ``"graphframes"`` is its deprecated alias and ``"graphx"`` is Pregel, one superstep per
      unit of diameter (a long chain takes thousands).
    * ``checkpointInterval``: the native engine's ``checkpoint_every``, so both cut lineage
      equally often; reliable checkpoints into the SparkContext checkpoint directory
      (``use_local_checkpoints=False``), which survive the loss of an executor.
    * ``broadcastThreshold=-1``: no manual broadcast of high-degree vertices; adaptive query
      execution splits the skewed joins (the local session turns it on).
    * ``max_iter``: only the ``graphx`` algorithm reads it, but its Python default was
      ``2 ^ 31 - 2``, which is 31 in Python (graphframes-py 0.11.0 to 0.12.2): a graph whose
      diameter exceeds 31 would stop early with wrong components. Passed explicitly, the bound
      is unlimited whatever release is installed.
    * ``useLabelsAsComponents=False``: long component labels (relabelled afterwards).
    """
    return {
        "algorithm": "two_phase",
        "checkpointInterval": checkpoint_every,
        "broadcastThreshold": -1,
        "useLabelsAsComponents": False,
        "use_local_checkpoints": False,
        "max_iter": GRAPHX_MAX_ITER,
        "storage_level": StorageLevel.MEMORY_AND_DISK,
    }
