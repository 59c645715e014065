"""Benchmarks of idres-spark (figures and commands are recorded in docs/benchmarks.md).

    python jobs/benchmark.py --records 1000000 [--format delta] [--probabilistic] [--master M]
        the whole job on generated customer data in local mode: stage timings, process wall
        time, peak memory of all its processes, precision/recall/F1 (jobs/bench_job.py); with
        --format delta the tables are also published as Delta tables; with --probabilistic
        the config's probabilistic matching is on; with --master local-cluster[2,1,4096] the
        executors run in their own JVMs

    python jobs/benchmark.py scoring --pairs 2000000
        fuzzy scoring throughput: the scoring UDF (Arrow UDF on PySpark 4.1+, else pandas UDF)
        on local[2] vs rapidfuzz cpdist in one process

    python jobs/benchmark.py graph --edges 1000000 5000000
        the graph stage alone (components, group-size and identifier limits) at each size,
        with the native and the GraphFrames engine side by side on the same data (GraphFrames
        when its JAR is given in IDRES_SPARK_JARS), and the growth ratio between the first
        and the last size; options in jobs/bench_graph.py

    python jobs/benchmark.py quality --dataset hard --records 100000
        matching quality against a ground truth (hard generated data, FEBRL3, FEBRL4), rules
        only vs rules + probabilistic: pairwise precision / recall / F1 and the false-merge
        rates of households and lookalike emails; options in jobs/bench_quality.py

Speed targets live here and in the docs, never in timed tests.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import numpy as np
import pandas as pd

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

_SYLLABLES = np.array(["an", "na", "ma", "ri", "el", "jo", "se", "li", "ka", "to", "mi", "ro",
                       "be", "th", "ch", "ia", "on", "er", "sa", "de"], dtype=object)  # fmt: skip


def random_names(rng: np.random.Generator, n: int) -> np.ndarray:
    """Name-like strings of 4 to 12 letters."""
    parts = rng.integers(0, len(_SYLLABLES), size=(n, 6))
    lengths = rng.integers(2, 7, size=n)
    words = ["".join(_SYLLABLES[row[:k]]) for row, k in zip(parts, lengths, strict=True)]
    return np.array(words, dtype=object)


def name_pairs(n: int, seed: int = 1) -> pd.DataFrame:
    """Pairs where a third are near-duplicates (one edit) and the rest unrelated."""
    rng = np.random.default_rng(seed)
    left = random_names(rng, n)
    right = random_names(rng, n)
    near = rng.random(n) < 0.33
    cut = rng.integers(0, 4, size=n)
    pairs = zip(left[near], cut[near], strict=True)
    right[near] = [s[:c] + s[c + 1 :] if len(s) > c else s for s, c in pairs]
    return pd.DataFrame({"first_name_l": left, "first_name_r": right})


def bench_scoring(pairs: int, method: str, repeat: int) -> None:
    from rapidfuzz import process
    from rapidfuzz.distance import JaroWinkler, Levenshtein
    from rapidfuzz.fuzz import token_set_ratio

    from idres_spark.matching.score import fuzzy_score_udf
    from idres_spark.session import build_local_session

    frame = name_pairs(pairs)
    scorer = {"jaro_winkler": JaroWinkler.normalized_similarity,
              "levenshtein": Levenshtein.normalized_similarity,
              "token_set": token_set_ratio}[method]  # fmt: skip
    left, right = frame["first_name_l"].tolist(), frame["first_name_r"].tolist()
    raw = []
    for _ in range(repeat):
        start = time.perf_counter()
        process.cpdist(left, right, scorer=scorer, dtype=np.float64, workers=1)
        raw.append(time.perf_counter() - start)
    spark = build_local_session(
        "idres-bench-scoring", "local[2]", {"spark.sql.shuffle.partitions": "2"}
    )
    folder = tempfile.mkdtemp(prefix="idres-bench-")
    spark.createDataFrame(frame).write.parquet(f"{folder}/pairs")
    # the pairs sit in memory in one partition per core, as candidate pairs arrive from the
    # blocking join (small files would otherwise be packed into a single read partition)
    df = spark.read.parquet(f"{folder}/pairs").repartition(2).cache()
    df.count()
    scored = df.select(fuzzy_score_udf(method)("first_name_l", "first_name_r").alias("s"))
    scored.write.format("noop").mode("overwrite").save()  # warm the Python workers
    spark_times = []
    for _ in range(repeat):
        start = time.perf_counter()
        scored.write.format("noop").mode("overwrite").save()
        spark_times.append(time.perf_counter() - start)
    read_only = []
    for _ in range(repeat):
        start = time.perf_counter()
        df.write.format("noop").mode("overwrite").save()
        read_only.append(time.perf_counter() - start)
    best_raw, best_udf = min(raw), min(spark_times)
    med_raw, med_udf = statistics.median(raw), statistics.median(spark_times)
    print(f"pairs                      {pairs:,}  method {method}  best of {repeat}")
    print(f"rapidfuzz cpdist, 1 process {pairs / best_raw:,.0f} pairs/s  ({best_raw:.2f}s)")
    print(f"scoring UDF, local[2]       {pairs / best_udf:,.0f} pairs/s  ({best_udf:.2f}s;"
          f" of which scanning the cached pairs {min(read_only):.2f}s)")  # fmt: skip
    print(f"UDF / cpdist               {best_raw / best_udf:.2f}"
          f"  (medians: {med_raw:.2f}s vs {med_udf:.2f}s, {med_raw / med_udf:.2f})")  # fmt: skip
    spark.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, help="run the whole job on about N records")
    parser.add_argument("--seed", type=int, default=7, help="with --records")
    parser.add_argument("--keep", help="with --records: generate into (and keep) this folder")
    parser.add_argument("--probabilistic", action="store_true",
                        help="with --records: turn on probabilistic matching")  # fmt: skip
    parser.add_argument("--master", help="with --records: a Spark master instead of local mode, "
                        "e.g. 'local-cluster[2,1,4096]' (separate executor JVMs)")  # fmt: skip
    parser.add_argument(
        "--format", default="parquet", choices=["parquet", "delta"],
        help="with --records: output.format (delta: the Delta JARs of .jars/spark-X.Y, which "
             "./dev test fetches, or IDRES_SPARK_JARS)",
    )  # fmt: skip
    sub = parser.add_subparsers(dest="what")
    scoring = sub.add_parser("scoring", help="pandas-UDF scoring vs rapidfuzz cpdist")
    scoring.add_argument("--pairs", type=int, default=2_000_000)
    scoring.add_argument("--method", default="jaro_winkler",
                         choices=["jaro_winkler", "levenshtein", "token_set"])  # fmt: skip
    scoring.add_argument("--repeat", type=int, default=10)
    sub.add_parser("graph", add_help=False, help="the graph stage alone (see jobs/bench_graph.py)")
    sub.add_parser("incremental", add_help=False,
                   help="a nightly batch (see jobs/bench_incremental.py)")  # fmt: skip
    sub.add_parser("quality", add_help=False,
                   help="quality vs a ground truth (see jobs/bench_quality.py)")  # fmt: skip
    known, rest = parser.parse_known_args(argv)
    if known.records:
        import bench_job  # next to this file

        return bench_job.main(
            known.records, known.seed, known.keep, known.format, known.probabilistic, known.master
        )
    if known.what == "incremental":
        import bench_incremental  # next to this file

        return bench_incremental.main(rest)
    if known.what == "quality":
        import bench_quality  # next to this file

        return bench_quality.main(rest)
    if known.what == "graph":
        import bench_graph  # next to this file

        return bench_graph.main(rest)
    args = parser.parse_args(argv)
    if args.what == "scoring":
        bench_scoring(args.pairs, args.method, args.repeat)
    else:
        parser.error(
            "give --records N, or one of the subcommands scoring, graph, incremental, quality"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
