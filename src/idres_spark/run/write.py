"""Write stage: output tables -> one complete run folder, then its metrics.

Every table goes to ``<output>/runs/<seq>-<run_id>/<table>`` (the merge log partitioned by
``merge_date``). The run's metrics are computed from those written tables (one small
aggregation each, never from the middle of the pipeline) and stored as
``diagnostics/metrics.json``. Publishing (:func:`idres_spark.state.store.publish`) happens
after this returns, so a failure here leaves the published state untouched.
"""

from __future__ import annotations

import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from functools import reduce
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from idres_spark import columns as C
from idres_spark.masking import mask_record_id
from idres_spark.profiles.merge_log import read_merge_log
from idres_spark.run.report import render_report
from idres_spark.run_context import RunContext
from idres_spark.state.storage import FileSystem, table_reader

log = logging.getLogger(__name__)
PARTITIONS = {"merge_log": ["merge_date"], "merges": ["merge_date"]}
TOP_ROWS = 10  # hub values and pruned groups listed in metrics.json and report.html
WRITERS = 4  # tables written at once
DESCRIPTION = "spark.job.description"  # the label of a stage's Spark jobs (timing.StageTimer)


def write_tables(
    spark: SparkSession,
    tables: dict[str, DataFrame],
    folder: str,
    parallel: int = WRITERS,
    clear: bool = True,
    appended: dict[str, str] | None = None,
) -> None:
    """Write each table under ``folder``, which is cleared first unless ``clear`` is False (a
    run folder that already holds the records table); it is never published yet.

    A table named in ``appended`` starts as a file copy of the earlier table given there, and
    its frame (the rows to add) is appended: the merge log, which only grows, is never read
    and rewritten.

    Up to ``parallel`` tables are written at once, each by its own Spark job: the scheduler
    fills the cores one table's small or uneven stages leave idle with another table's tasks
    (the write stage took 45 s one table after the other at 1M records, see
    docs/benchmarks.md). The first failure is raised once every started write has ended.
    """
    if clear:
        FileSystem(spark, folder).delete(folder)

    appended = appended or {}
    label = _job_description(spark)

    def write(name: str) -> None:
        if label is not None:  # a pool thread does not inherit the caller's Spark job label
            spark.sparkContext.setLocalProperty(DESCRIPTION, label)
        log.info("writing %s", name)
        started = time.perf_counter()
        mode = carry_files(spark, appended.get(name), f"{folder}/{name}")
        tables[name].write.mode(mode).partitionBy(*PARTITIONS.get(name, [])).parquet(
            f"{folder}/{name}"
        )
        log.info("wrote %s in %.1fs", name, time.perf_counter() - started)

    with ThreadPoolExecutor(max_workers=max(1, parallel), thread_name_prefix="idres-write") as pool:
        futures = [pool.submit(write, name) for name in tables]
    for future in futures:  # in table order, so the error raised does not depend on timing
        future.result()


def schemas(tables: dict[str, DataFrame]) -> dict[str, T.StructType]:
    """The schema each of ``tables`` is read back with: a partitioned table (the merge log,
    read with its own schema) has its partition columns last, so it is left out."""
    return {name: frame.schema for name, frame in tables.items() if name not in PARTITIONS}


def _job_description(spark: SparkSession) -> str | None:
    try:
        return spark.sparkContext.getLocalProperty(DESCRIPTION)
    except Exception:  # Spark Connect: no SparkContext, no labels
        return None


def carry_files(spark: SparkSession, earlier: str | None, path: str) -> str:
    """Start the table ``path`` as a file copy of the ``earlier`` table (when given) and return
    the write mode for the rows that follow: ``append`` onto the copy, else ``overwrite``."""
    if earlier is None:
        return "overwrite"
    FileSystem(spark, path).copy_tree(earlier, path)
    return "append"


def write_metrics(spark: SparkSession, folder: str, metrics: dict[str, Any]) -> None:
    """``diagnostics/metrics.json`` and the self-contained ``report.html`` of the run folder."""
    fs = FileSystem(spark, folder)
    fs.write_text(f"{folder}/diagnostics/metrics.json", json.dumps(metrics, indent=2, default=str))
    fs.write_text(f"{folder}/report.html", render_report(metrics))


def run_metrics(spark: SparkSession, root: str, run: RunContext) -> dict[str, Any]:
    """Figures of a written run, read back from its tables (small aggregations only).

    The counts are one query: each table's grouped counts, tagged with what they count, in one
    union, so Spark runs their small stages side by side and the driver waits once (it was a
    dozen actions one after the other, 1.4-1.9 s whatever the run's size).
    """
    read = table_reader(spark, root)  # with the schemas the tables were written with
    record_map = read("record_map")
    records = read("records")
    profiles = read("profiles")
    merge_log = read_merge_log(spark, f"{root}/merge_log").where(F.col(C.RUN_ID) == run.run_id)
    quarantine = read("diagnostics/quarantine")
    hubs = read("diagnostics/hubs")
    pruned = read("diagnostics/pruned_groups")
    no_merge = read("diagnostics/transformation_no_merge")
    provenance = read("profile_field_provenance")
    grouped = {
        "golden": (provenance, F.concat_ws("/", "field", "policy")),
        "by_source": (record_map, F.col(C.SOURCE)),
        "changed": (records.where(F.col(C.LAST_RUN_ID) == run.run_id), F.lit(None)),
        "quarantined": (quarantine, F.col(C.REASON_QUARANTINE)),
        "merges": (merge_log, F.col(C.REASON)),
        "histogram": (profiles, F.col("record_count")),  # profiles per size
        "hubs": (hubs, F.lit(None)),
        "pruned": (pruned, F.lit(None)),
        "no_merge": (no_merge, F.col(C.REASON)),
    }
    fs = FileSystem(spark, root)
    for name, table in (
        ("steward", "golden_override_status"),
        ("overrides", "override_status"),
        ("erasure", "erasure_audit"),
    ):
        if fs.exists(f"{root}/diagnostics/{table}"):  # only runs that had them wrote them
            grouped[name] = (read(f"diagnostics/{table}"), F.col("status"))
    counts: dict[str, dict[Any, int]] = {name: {} for name in grouped}
    parts = [
        frame.groupBy(F.lit(name).alias("figure"), key.cast("string").alias("key")).count()
        for name, (frame, key) in grouped.items()
    ]
    for row in reduce(DataFrame.unionByName, parts).collect():
        counts[row["figure"]][row["key"]] = int(row["count"])
    by_source, quarantined, merges = counts["by_source"], counts["quarantined"], counts["merges"]
    changed = sum(counts["changed"].values())
    histogram = sorted((int(size), count) for size, count in counts["histogram"].items())
    top_hubs = (
        hubs.select("rule", "key_fields", "masked_value", "record_count")  # never the raw value
        .orderBy(F.desc("record_count"), "rule", "key_fields", "masked_value")
        .limit(TOP_ROWS)
        .collect()
    )
    top_pruned = (  # group keys are record ids, which can be emails: masked
        pruned.orderBy(F.desc("size_before"), "group_key")
        .limit(TOP_ROWS)
        .withColumn("group_key", mask_record_id(F.col("group_key")))
        .collect()
    )
    return {
        "run_id": run.run_id,
        "run_ts": run.run_ts.isoformat(),
        "config_fingerprint": run.config_fingerprint,
        "records_in": changed + sum(quarantined.values()),
        "records_new_or_changed": changed,
        "records_resolved": sum(by_source.values()),
        "records_by_source": dict(sorted(by_source.items())),
        "quarantined": sum(quarantined.values()),
        "quarantined_by_reason": dict(sorted(quarantined.items())),
        "profiles": sum(count for _, count in histogram),
        "largest_profile": max((size for size, _ in histogram), default=0),
        "multi_record_profiles": sum(count for size, count in histogram if size > 1),
        "merges": sum(merges.values()),
        "merges_by_reason": dict(sorted(merges.items())),
        "profile_size_histogram": [[size, count] for size, count in histogram],
        "hubs": sum(counts["hubs"].values()),
        "top_hubs": [row.asDict() for row in top_hubs],
        "pruned_groups": sum(counts["pruned"].values()),
        "top_pruned_groups": [row.asDict(recursive=True) for row in top_pruned],
        "transformation_no_merge": dict(sorted(counts["no_merge"].items())),
        # golden field -> the policy that decided its value -> profiles (provenance)
        "golden_decided_by": _by_field(counts["golden"]),
        **(
            {"golden_overrides": dict(sorted(counts["steward"].items()))}
            if "steward" in counts
            else {}
        ),
        # steward overrides (stewardship.overrides) and erasure requests by status
        **{
            name: dict(sorted(counts[name].items()))
            for name in ("overrides", "erasure")
            if name in counts
        },
    }


def _by_field(counts: dict[str, int]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for key, count in sorted(counts.items()):
        field, _, policy = key.partition("/")
        out.setdefault(field, {})[policy] = count
    return out
