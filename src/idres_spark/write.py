"""Write stage: output tables -> Parquet under ``output.path``, published at the very end.

Every table is first written under ``<output>/_staging/<run_id>/``; the run's metrics are
computed from those staged tables (one small aggregation each, never from the middle of the
pipeline) and written as ``diagnostics/metrics.json``. Only then is each top-level output
swapped in by directory renames through Hadoop's FileSystem API (local disk, HDFS, S3A, ABFS
alike), so a run that fails while writing leaves the previous outputs untouched.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from idres_spark import columns as C
from idres_spark.run_context import RunContext

log = logging.getLogger(__name__)
PARTITIONS = {"merge_log": ["merge_date"]}
TOP_LEVEL = ("profiles", "record_map", "merge_log", "events", "diagnostics")


class _FileSystem:
    """The few Hadoop FileSystem calls the publish step needs."""

    def __init__(self, spark: SparkSession, path: str) -> None:
        jvm = spark.sparkContext._jvm
        self._path_cls = jvm.org.apache.hadoop.fs.Path
        conf = spark.sparkContext._jsc.hadoopConfiguration()
        self._fs = self._path_cls(path).getFileSystem(conf)

    def path(self, text: str):
        return self._path_cls(text)

    def exists(self, text: str) -> bool:
        return bool(self._fs.exists(self.path(text)))

    def delete(self, text: str) -> None:
        if self.exists(text):
            self._fs.delete(self.path(text), True)

    def rename(self, src: str, dst: str) -> None:
        self._fs.mkdirs(self.path(dst).getParent())
        if not self._fs.rename(self.path(src), self.path(dst)):
            raise OSError(f"could not rename {src} to {dst}")

    def write_text(self, text: str, content: str) -> None:
        stream = self._fs.create(self.path(text), True)
        try:
            stream.write(bytearray(content.encode("utf-8")))
        finally:
            stream.close()


def publish(
    spark: SparkSession,
    tables: dict[str, DataFrame],
    output_path: str,
    run: RunContext,
    extra_metrics: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write every table to staging, compute metrics from it, then swap it in. Returns metrics."""
    root = output_path.rstrip("/")
    fs = _FileSystem(spark, root)
    staging = f"{root}/_staging/{run.run_id}"
    fs.delete(staging)  # leftovers of an earlier failed attempt of the same run
    for name, df in tables.items():
        log.info("writing %s", name)
        df.write.mode("overwrite").partitionBy(*PARTITIONS.get(name, [])).parquet(
            f"{staging}/{name}"
        )
    metrics = {**run_metrics(spark, staging, run), **(extra_metrics or {})}
    fs.write_text(f"{staging}/diagnostics/metrics.json", json.dumps(metrics, indent=2))
    trash = f"{root}/_trash/{run.run_id}"
    fs.delete(trash)
    for name in TOP_LEVEL:
        if not fs.exists(f"{staging}/{name}"):
            continue
        if fs.exists(f"{root}/{name}"):
            fs.rename(f"{root}/{name}", f"{trash}/{name}")
        fs.rename(f"{staging}/{name}", f"{root}/{name}")
    fs.delete(trash)
    fs.delete(staging)
    for leftover in (f"{root}/_staging", f"{root}/_trash"):
        fs.delete(leftover) if _empty_dir(spark, fs, leftover) else None
    log.info("published run %s to %s", run.run_id, root)
    return metrics


def _empty_dir(spark: SparkSession, fs: _FileSystem, text: str) -> bool:
    if not fs.exists(text):
        return False
    return len(fs._fs.listStatus(fs.path(text))) == 0


def run_metrics(spark: SparkSession, root: str, run: RunContext) -> dict[str, Any]:
    """Figures of a written run, read back from its tables (small aggregations only)."""
    record_map = spark.read.parquet(f"{root}/record_map")
    profiles = spark.read.parquet(f"{root}/profiles")
    merge_log = spark.read.parquet(f"{root}/merge_log")
    quarantine = spark.read.parquet(f"{root}/diagnostics/quarantine")
    hubs = spark.read.parquet(f"{root}/diagnostics/hubs")
    pruned = spark.read.parquet(f"{root}/diagnostics/pruned_groups")
    no_merge = spark.read.parquet(f"{root}/diagnostics/transformation_no_merge")
    by_source = dict(record_map.groupBy(C.SOURCE).count().collect())
    quarantined = dict(quarantine.groupBy(C.REASON_QUARANTINE).count().collect())
    sizes = profiles.agg(
        F.count(F.lit(1)).alias("profiles"),
        F.max("record_count").alias("largest"),
        F.sum(F.when(F.col("record_count") > 1, 1).otherwise(0)).alias("multi"),
    ).first()
    merges = dict(merge_log.groupBy(C.REASON).count().collect())
    return {
        "run_id": run.run_id,
        "run_ts": run.run_ts.isoformat(),
        "config_fingerprint": run.config_fingerprint,
        "records_in": sum(by_source.values()) + sum(quarantined.values()),
        "records_resolved": sum(by_source.values()),
        "records_by_source": dict(sorted(by_source.items())),
        "quarantined": sum(quarantined.values()),
        "quarantined_by_reason": dict(sorted(quarantined.items())),
        "profiles": sizes["profiles"],
        "largest_profile": sizes["largest"] or 0,
        "multi_record_profiles": sizes["multi"] or 0,
        "merges": sum(merges.values()),
        "merges_by_reason": dict(sorted(merges.items())),
        "hubs": hubs.count(),
        "pruned_groups": pruned.count(),
        "transformation_no_merge": dict(sorted(no_merge.groupBy(C.REASON).count().collect())),
    }
