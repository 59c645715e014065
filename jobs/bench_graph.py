"""Benchmark of the graph stage alone: components plus group-size / identifier-limit pruning.

    python jobs/bench_graph.py --edges 1000000 5000000 [--engines native driver graphframes]
        for each size: generate records and edges (components of 1-10 records, trees plus one
        closing link, ~1% of them holding two user ids; one star of --star leaves through one
        phone; optionally a chain of --chain records), write them to Parquet, then time
        ``graph.link_records`` with each engine in turn on the same data (``native``: the
        distributed rounds; ``driver``: the native engine's small-graph path on the driver,
        ``graph.driver_max_edges``; ``graphframes``) and the limits
        (max_group_size 50, identifier_limits {user_id: 1}) until groups and pruned groups are
        materialized; --baseline also times the same graph without limits (components only).

The data are written and read back first, so generation is not timed. Prints wall seconds per
size and engine, the native engine's rounds, the split components, whether both engines gave
the same groups, and the growth ratio between the first and the last size. The GraphFrames
engine needs its JAR on the session (IDRES_SPARK_JARS); without it that engine is left out
with a note. Speed targets live here and in the docs, never in timed tests.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import tempfile
import time

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("IDRES_DRIVER_MEMORY", "6g")

AVG_EDGES_PER_COMPONENT = 5.3  # tree of 1-10 records (4.5 links) + one closing link if >= 3


class _Rounds(logging.Handler):
    """Counts the components engine's rounds from its log lines."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.rounds = 0

    def emit(self, record: logging.LogRecord) -> None:
        match = re.search(r"converged after (\d+) rounds", record.getMessage())
        if match:
            self.rounds += int(match.group(1))


def _rid(prefix: str, *parts):
    from pyspark.sql import functions as F

    pieces = [F.lit(prefix)]
    for i, part in enumerate(parts):
        pieces += [F.lit(":")] if i else []
        pieces.append(part.cast("string"))
    return F.concat(*pieces)


def generate(spark, folder: str, edges: int, star: int, chain: int, seed: int) -> None:
    """Records and edges as Parquet under ``folder`` (records/, edges/)."""
    from pyspark.sql import functions as F

    def h(*cols):
        return F.abs(F.xxhash64(F.lit(seed), *cols))

    null = F.lit(None).cast("string")
    c, i, size = F.col("c"), F.col("i"), F.col("size")
    n = max(1, int((edges - star - chain) / AVG_EDGES_PER_COMPONENT))
    comp = spark.range(n).select(
        F.col("id").alias("c"),
        (F.lit(1) + h(F.col("id")) % 10).alias("size"),
        (h(F.col("id"), F.lit("two")) % 100 == 0).alias("two_ids"),
    )
    members = comp.select(
        "c", "size", "two_ids", F.explode(F.sequence(F.lit(0), size - 1)).alias("i")
    )
    second = F.col("two_ids") & (i * 2 >= size)
    records = members.select(
        _rid("c", c, i).alias("record_id"),
        F.concat(_rid("p", c, i), F.lit("@example.com")).alias("email"),
        F.concat(F.lit("+1"), (F.lit(2_000_000_000) + c).cast("string")).alias("phone"),
        F.concat(_rid("U", c), F.when(second, F.lit("b")).otherwise(F.lit("a"))).alias("user_id"),
    )
    tree = members.where(i > 0).select(
        _rid("c", c, i).alias("src"), _rid("c", c, h(c, i) % i).alias("dst")
    )
    closing = comp.where(size >= 3).select(
        _rid("c", c, F.lit(0)).alias("src"), _rid("c", c, size - 1).alias("dst")
    )
    links = tree.unionByName(closing).select(
        "src",
        "dst",
        F.lit("rule").alias("reason"),
        (h(F.col("src"), F.col("dst")) % 3).alias("priority"),
        F.round((h(F.col("dst"), F.col("src")) % 1000) / 1000, 3).alias("score"),
    )
    leaf = _rid("star", F.col("id"))
    spokes = spark.range(1, star + 1)
    star_records = spokes.select(
        leaf.alias("record_id"),
        F.concat(leaf, F.lit("@example.com")).alias("email"),
        F.lit("+15550000000").alias("phone"),  # one phone that escaped hub detection
        null.alias("user_id"),
    ).unionByName(
        spark.range(1).select(
            F.lit("star:0").alias("record_id"),
            F.lit("hub@example.com").alias("email"),
            F.lit("+15550000000").alias("phone"),
            F.lit("USTAR").alias("user_id"),
        )
    )
    star_links = spokes.select(
        F.lit("star:0").alias("src"),
        leaf.alias("dst"),
        F.lit("phone").alias("reason"),
        F.lit(2).cast("long").alias("priority"),
        F.lit(1.0).alias("score"),
    )
    chain_ids = spark.range(chain)
    chain_records = chain_ids.select(
        _rid("chain", F.col("id")).alias("record_id"), null.alias("email"), null.alias("phone"),
        null.alias("user_id"),
    )  # fmt: skip
    chain_links = chain_ids.where(F.col("id") > 0).select(
        _rid("chain", F.col("id") - 1).alias("src"),
        _rid("chain", F.col("id")).alias("dst"),
        F.lit("rule").alias("reason"),
        F.lit(1).cast("long").alias("priority"),
        F.lit(0.9).alias("score"),
    )
    records.unionByName(star_records).unionByName(chain_records).write.mode("overwrite").parquet(
        f"{folder}/records"
    )
    links.unionByName(star_links).unionByName(chain_links).write.mode("overwrite").parquet(
        f"{folder}/edges"
    )


def bench_once(
    spark, folder: str, max_group_size: int, with_limits: bool = True, engine: str = "native"
) -> dict:
    from pyspark.sql import functions as F

    from idres_spark.config import GraphConfig, LimitsConfig
    from idres_spark.linking import graph
    from idres_spark.linking.components import spark_checkpoint

    records = spark.read.parquet(f"{folder}/records")
    edges = spark.read.parquet(f"{folder}/edges")
    sizes = {"records": records.count(), "edges": edges.count()}
    rounds = _Rounds()
    logging.getLogger("idres_spark.linking.components").addHandler(rounds)
    logging.getLogger("idres_spark.linking.components").setLevel(logging.INFO)
    limits = LimitsConfig(max_group_size=max_group_size, identifier_limits={"user_id": 1})
    start = time.perf_counter()
    # "native": the distributed rounds; "driver": the native engine's small-graph path, made
    # to take the whole graph (graph.driver_max_edges)
    settings = (
        GraphConfig(backend="native", driver_max_edges=sizes["edges"])
        if engine == "driver"
        else GraphConfig(backend=engine, driver_max_edges=0)
    )
    linked = graph.link_records(records, edges, settings, limits=limits if with_limits else None)
    linked_at = time.perf_counter()
    groups = spark_checkpoint(linked.groups)  # what pipeline.resolve's materialize does
    pruned = linked.pruned_groups.agg(
        F.count(F.lit(1)).alias("n"), F.sum("links_cut").alias("cut")
    ).first()
    done = time.perf_counter()
    largest = groups.groupBy("group_key").count().agg(F.max("count")).first()[0]
    # one number per grouping: equal for two engines exactly when they grouped alike
    digest = groups.select(
        F.sum(F.xxhash64("record_id", "group_key").cast("decimal(38,0)")).alias("d")
    ).first()["d"]
    logging.getLogger("idres_spark.linking.components").removeHandler(rounds)
    return {**sizes, "seconds": done - start, "link_records": linked_at - start,
            "materialize": done - linked_at, "rounds": rounds.rounds, "split": pruned["n"],
            "links_cut": pruned["cut"] or 0, "largest_group": largest, "engine": engine,
            "digest": digest}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edges", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--engines", nargs="+", default=["native", "driver", "graphframes"],
                        choices=["native", "driver", "graphframes"])  # fmt: skip
    parser.add_argument("--star", type=int, default=100_000, help="leaves of the giant star")
    parser.add_argument("--chain", type=int, default=0, help="records of one long chain")
    parser.add_argument("--max-group-size", type=int, default=50)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--shuffle-partitions", default="8")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--baseline", action="store_true", help="also time it without limits")
    args = parser.parse_args(argv)
    from idres_spark.linking.components import graphframes_available
    from idres_spark.session import build_local_session

    spark = build_local_session(
        "idres-bench-graph", args.master, {"spark.sql.shuffle.partitions": args.shuffle_partitions}
    )
    engines = list(dict.fromkeys(args.engines))
    if "graphframes" in engines and not graphframes_available(spark):
        print("graphframes: its JAR is not on the session (set IDRES_SPARK_JARS); left out")
        engines.remove("graphframes")
    results: dict[str, list[dict]] = {engine: [] for engine in engines}
    baselines: dict[str, list[dict]] = {engine: [] for engine in engines}
    for target in args.edges:
        folder = tempfile.mkdtemp(prefix="idres-bench-graph-")
        generate(spark, folder, target, args.star, args.chain, args.seed)
        digests = set()
        for engine in engines:
            load = os.getloadavg()[0]
            result = bench_once(spark, folder, args.max_group_size, engine=engine)
            results[engine].append(result)
            digests.add(result["digest"])
            rounds = result["rounds"] if engine == "native" else "-"
            print(
                f"{engine:<11} edges {result['edges']:>10,}  records {result['records']:>10,}  "
                f"{result['seconds']:7.1f}s (link_records {result['link_records']:.1f}s, "
                f"groups+diagnostics {result['materialize']:.1f}s)  rounds {rounds}  "
                f"split components {result['split']:,}  links cut {result['links_cut']:,}  "
                f"largest group {result['largest_group']}  "
                f"load average before/after {load:.1f}/{os.getloadavg()[0]:.1f}",
                flush=True,
            )
            if args.baseline:  # the same graph without limits: components and group keys only
                plain = bench_once(
                    spark, folder, args.max_group_size, with_limits=False, engine=engine
                )
                baselines[engine].append(plain)
                print(f"  without limits {plain['seconds']:.1f}s (largest group "
                      f"{plain['largest_group']:,})", flush=True)  # fmt: skip
        if len(engines) > 1:
            print(f"  same groups from {' and '.join(engines)}: {len(digests) == 1}", flush=True)
    for engine in engines:
        runs, plain_runs = results[engine], baselines[engine]
        if len(runs) > 1:
            edge_ratio = runs[-1]["edges"] / runs[0]["edges"]
            time_ratio = runs[-1]["seconds"] / runs[0]["seconds"]
            print(f"{engine} growth: {edge_ratio:.2f}x edges -> {time_ratio:.2f}x time")
            if len(plain_runs) > 1:
                plain_ratio = plain_runs[-1]["seconds"] / plain_runs[0]["seconds"]
                print(f"{engine} growth without limits: {plain_ratio:.2f}x time")
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
