"""One run of the job, end to end: read the sources (and, in incremental mode, the published
state), resolve, write a complete run folder, publish it, apply retention.

With ``preview`` the run writes only what it would merge and how profiles would change, under
``<output>/preview/<run_id>/``, and publishes nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import time
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from idres_spark import columns as C
from idres_spark.config import Config
from idres_spark.config_checks import check_with_engine
from idres_spark.errors import UsageError
from idres_spark.ingest import read
from idres_spark.linking.components import local_checkpoint, parquet_checkpoint
from idres_spark.pipeline import ResolutionResult, resolve
from idres_spark.probabilistic import resolve as probabilistic
from idres_spark.profiles.ids import PREVIOUS_PROFILE_ID
from idres_spark.profiles.merge_log import read_merge_log
from idres_spark.publish.tables import check_engine, publish_tables
from idres_spark.publish.tables import targets as publish_targets
from idres_spark.run import failures, write
from idres_spark.run.summary import format_summary
from idres_spark.run_context import RunContext
from idres_spark.session import InterpretedExpressions
from idres_spark.state import store
from idres_spark.state.storage import FileSystem, save_schemas
from idres_spark.timing import StageTimer

log = logging.getLogger("idres_spark")


def run_job(
    config: Config,
    run_date: dt.date | None = None,
    spark: SparkSession | None = None,
    preview: bool = False,
    replace_state: bool = False,
) -> dict[str, Any]:
    """Read, resolve and publish (or preview) one run; returns the run metrics.

    An overwrite run on an output path that holds an incremental state is refused unless
    ``replace_state`` says it is meant to replace that state. Storage and input failures
    that Spark reports as Java exceptions are raised as the project's errors
    (:mod:`idres_spark.run.failures`)."""
    from idres_spark.session import get_session

    spark = spark or get_session(checkpoint_dir=config.graph.checkpoint_dir)
    for warning in check_with_engine(spark, config):  # raises ConfigError (exit 2)
        log.warning("%s", warning)
    if not preview:
        check_engine(spark, config.output)  # the format's JAR and catalog, before any work
    try:
        return _run(spark, config, run_date, preview, replace_state)
    except BaseException as exc:
        known = failures.translate(exc, config.output.path)
        if known is not None:
            raise known from None
        raise


def _run(
    spark: SparkSession,
    config: Config,
    run_date: dt.date | None,
    preview: bool,
    replace_state: bool,
) -> dict[str, Any]:
    started = time.perf_counter()
    store.check_output_path(spark, config.output.path)
    root = config.output.path.rstrip("/")
    if config.output.mode == "overwrite" and not preview:
        store.check_overwrite(spark, root, replace_state)
    run = RunContext.for_date(
        run_date or dt.datetime.now(dt.UTC).date(),
        config.fingerprint(),
        store.next_seq(spark, root),
    )
    timer = StageTimer(on_stage=stage_labeller(spark, run.run_id))
    previous = store.read_previous(spark, root) if config.output.mode == "incremental" else None
    log.info(
        "run %s: %d sources, %d rules, mode %s%s%s", run.run_id, len(config.sources),
        len(config.rules), config.output.mode,
        f", on top of published run {previous.run.run_dir}" if previous else "",
        " (preview)" if preview else "",
    )  # fmt: skip
    frames = read.load_sources(spark, config)
    event_rows = read.load_events(spark, config)
    golden_overrides = read.load_golden_overrides(spark, config)
    steward_overrides = read.load_steward_overrides(spark, config)
    erasure_requests = read.load_erasure_requests(spark, config)
    key = os.environ.get(config.stewardship.suppression_key_env)
    run_dir = store.run_dir(run.run_id)  # this attempt's own: overlapping runs never share
    folder = f"{root}/{run_dir}"  # a fresh folder, published only once complete
    work = _work_dir(config, run_dir.rsplit("/", 1)[1])
    private = config.output.private
    store.claim(spark, work, run.run_id, private)
    if not preview:
        store.claim(spark, folder, run.run_id, private)
    published = False
    written: dict[str, T.StructType] = {}  # the run folder's tables: the schema each has
    interpreted = InterpretedExpressions(spark)
    try:
        result = resolve(
            frames, config, run, previous=previous, event_rows=event_rows,
            golden_overrides=golden_overrides,
            materialize=parquet_checkpoint(f"{work}/stages"),
            # the records table is the pipeline's records checkpoint: written once, in place
            store_records=None if preview else _store_at(f"{folder}/records", written),
            graph_checkpoint=parquet_checkpoint(f"{work}/graph"), timer=timer,
            small_run_checkpoint=local_checkpoint if _local_mode(spark) else None,
            interpret=interpreted.turn_on,
            steward_overrides=steward_overrides,
            record_map_of=lambda seq: store.run_record_map(spark, root, seq),
            erasure_requests=erasure_requests, erasure_key=key.encode() if key else None,
            oldest_retained_seq=store.oldest_retained_seq(spark, root) if previous else None,
            probabilistic_model=(
                probabilistic.load(spark, previous.folder)
                if previous is not None and config.probabilistic.enabled else None
            ),
        )  # fmt: skip
        if preview:
            with timer.stage("write"):
                metrics = _write_preview(spark, result, root, run, private)
        else:
            metrics = _write_and_publish(
                spark, result, config, root, run_dir, run, timer, started, written
            )
            published = True
    except BaseException:  # Ctrl-C too: the folder of an interrupted run goes
        if not preview and not published:
            FileSystem(spark, folder).delete(folder)  # never published: nothing points at it
        raise
    finally:
        interpreted.turn_off()  # the session's own settings again
        fs = FileSystem(spark, work)
        fs.delete(work)
        if not config.graph.checkpoint_dir:
            fs.delete_if_empty(f"{root}/{store.WORK}")
    if preview:
        metrics["stage_seconds"] = timer.as_dict()
        metrics["wall_seconds"] = round(time.perf_counter() - started, 2)
        return metrics
    log.info("%s", format_summary(metrics))  # timings as in metrics.json: up to publishing
    if publish_targets(config.output):
        with timer.stage("publish tables"):
            published_run = store.PublishedRun(run.seq, run.run_id, run_dir, config.output.mode)
            outcome = publish_tables(spark, config.output, published_run)
        log.info(
            "tables (%s) now hold run %s: %s in %.1fs", config.output.format, run.run_id,
            ", ".join(f"{name} {what}" for name, what in outcome.items()),
            timer.as_dict().get("publish tables", 0.0),
        )  # fmt: skip
    removed = store.apply_retention(spark, root, config.output.keep_runs)
    if not config.graph.checkpoint_dir:  # retention may have emptied it (a killed attempt's)
        FileSystem(spark, root).delete_if_empty(f"{root}/{store.WORK}")
    log.info("removed %d old run folders", len(removed))
    return metrics


def _write_and_publish(
    spark: SparkSession,
    result: ResolutionResult,
    config: Config,
    root: str,
    run_dir: str,
    run: RunContext,
    timer: StageTimer,
    started: float,
    written: dict[str, T.StructType],
) -> dict[str, Any]:
    folder = f"{root}/{run_dir}"
    with timer.stage("write"):
        tables = result.tables()
        write.write_tables(spark, tables, folder, clear=False, appended=result.appended)
        written.update(write.schemas(tables))
        save_schemas(spark, folder, written)  # later runs and the metrics read without inferring
        if result.probabilistic is not None:  # the model this run used, beside its tables
            FileSystem(spark, folder).write_text(
                f"{folder}/{probabilistic.MODEL_FILE}", result.probabilistic.model.to_json()
            )
    with timer.stage("metrics"):
        edges = result.edges.groupBy(C.REASON).count().collect()
        metrics = {
            **write.run_metrics(spark, folder, run),
            **result.observed(),
            "edges": sum(count for _, count in edges),
            "edges_by_reason": dict(sorted((reason, count) for reason, count in edges)),
            "mode": config.output.mode,
            # "affected": only the batch's affected set was resolved; "all": every record
            # (the first run, changed rules, or a batch too large for the affected-set path)
            "resolved_scope": result.scope,
            "resolved_scope_reason": result.scope_reason,
            "profiles_recomputed": result.profiles_recomputed,
            "run_dir": run_dir,
        }
        if result.probabilistic is not None:
            metrics["probabilistic"] = probabilistic.summary(result.probabilistic)
        if result.suppressed is not None:  # dropped at read by the suppression list
            metrics["suppressed_records"] = result.suppressed.count()
        # every record read (unchanged ones too), not only the new or changed ones
        metrics["records_in"] = metrics.pop("batch_records") + metrics["quarantined"]
    metrics["stage_seconds"] = timer.as_dict()
    metrics["wall_seconds"] = round(time.perf_counter() - started, 2)  # up to publishing
    write.write_metrics(spark, folder, metrics)
    store.publish(spark, root, run.seq, run.run_id, run_dir, config.output.mode)
    log.info("published %s", run_dir)
    return metrics


def _write_preview(
    spark: SparkSession,
    result: ResolutionResult,
    root: str,
    run: RunContext,
    private: bool,
) -> dict[str, Any]:
    folder = f"{root}/preview/{run.run_id}"
    fs = FileSystem(spark, folder)
    fs.delete(folder)  # an earlier preview of the same run id
    fs.mkdirs(folder, private=private)  # it holds emails and phones
    diff = profile_diff(result)
    write.write_tables(spark, {"merges": result.new_merges, "diff": diff}, folder, clear=False)
    merges = read_merge_log(spark, f"{folder}/merges")
    changes = dict(spark.read.parquet(f"{folder}/diff").groupBy("change").count().collect())
    return {
        "run_id": run.run_id,
        "preview_path": folder,
        "merges": merges.count(),
        "merges_by_reason": dict(sorted(merges.groupBy(C.REASON).count().collect())),
        "profile_changes": dict(sorted(changes.items())),
    }


def profile_diff(result: ResolutionResult) -> DataFrame:
    """``profile_id, change, records_before, records_after, merged_into, split_from``; change:
    ``created``, ``grown``, ``merged`` (into ``merged_into``), ``split`` (it lost records to
    new profiles), ``split_off`` (a new profile of records of ``split_from``), ``shrunk`` (it
    lost erased records) or ``erased`` (all its records were erased)."""
    # only the recomputed profiles can have changed; the carried ones are the earlier rows
    after = result.recomputed_profiles.select(
        C.PROFILE_ID, F.col("record_count").alias("records_after")
    )
    earlier = result.previous_profiles  # None without earlier state
    if earlier is None:
        before = after.select(C.PROFILE_ID, F.lit(0).cast("long").alias("records_before")).limit(0)
    else:
        before = earlier.select(C.PROFILE_ID, F.col("record_count").alias("records_before"))
    retired = result.retired.select(
        F.col(PREVIOUS_PROFILE_ID).alias(C.PROFILE_ID), F.col(C.PROFILE_ID).alias("merged_into")
    )
    joined = after.join(before, C.PROFILE_ID, "full").join(retired, C.PROFILE_ID, "left")
    split_from, split = F.lit(None).cast("string"), F.lit(False)
    if result.splits is not None:
        parts = result.splits.groupBy(C.PROFILE_ID).agg(
            F.min(PREVIOUS_PROFILE_ID).alias("split_from")
        )
        sources = result.splits.select(F.col(PREVIOUS_PROFILE_ID).alias(C.PROFILE_ID)).distinct()
        joined = joined.join(parts, C.PROFILE_ID, "left").join(
            sources.withColumn("_split", F.lit(True)), C.PROFILE_ID, "left"
        )
        split_from, split = F.col("split_from"), F.coalesce("_split", F.lit(False))
    change = (
        F.when(F.col("merged_into").isNotNull(), "merged")
        .when(F.col("records_before").isNull() & split_from.isNotNull(), "split_off")
        .when(F.col("records_before").isNull(), "created")
        .when(F.col("records_after").isNull(), "erased")
        .when(split, "split")
        .when(F.col("records_after") > F.col("records_before"), "grown")
        .when(F.col("records_after") < F.col("records_before"), "shrunk")
    )
    return joined.select(
        C.PROFILE_ID, change.alias("change"), "records_before", "records_after", "merged_into",
        split_from.alias("split_from"),
    ).where(F.col("change").isNotNull())  # fmt: skip


EXPORT_MARKER = "_idres_export.json"  # written into every export folder: the export's own


def export_merge_log(
    spark: SparkSession,
    root: str,
    since_days: int,
    fmt: str,
    destination: str,
    overwrite: bool = False,
) -> int:
    """Write the published merge log's rows of the last ``since_days`` days into the folder
    ``destination``; returns rows.

    The destination must lie outside the state and be new, empty, or (with ``overwrite``) an
    earlier export, recognised by its marker file; any other folder is refused untouched.
    """
    _prepare_export_folder(spark, root, destination, overwrite)
    log_rows = read_merge_log(spark, store.table_path(spark, root, "merge_log"))
    cutoff = F.date_sub(F.current_date(), since_days)
    recent = log_rows.where(F.col("merge_date") >= cutoff).orderBy("merged_at", "source_profile_id")
    writer = recent.coalesce(1).write.mode("errorifexists")
    if fmt == "csv":
        writer.option("header", "true").csv(destination)
    else:
        writer.parquet(destination)
    marker = {"exported_from": root, "since_days": since_days, "format": fmt}
    FileSystem(spark, destination).write_text(
        f"{destination.rstrip('/')}/{EXPORT_MARKER}", json.dumps(marker)
    )
    return spark.read.parquet(destination).count() if fmt == "parquet" else recent.count()


def _prepare_export_folder(
    spark: SparkSession, root: str, destination: str, overwrite: bool
) -> None:
    fs = FileSystem(spark, destination)
    target, state_root = fs.qualify(destination), FileSystem(spark, root).qualify(root)
    if (
        target == state_root
        or state_root.startswith(target + "/")
        or target.startswith(state_root + "/")
    ):
        raise UsageError(
            f"--output {destination} is the state folder {root}, holds it or lies inside it; "
            "an export there could replace the state. Choose a folder outside the state",
            code="export_overlaps_state",
        )
    if not fs.exists(destination):
        return
    if not fs.is_dir(destination):
        raise UsageError(
            f"--output {destination} is a file; name a new folder for the export",
            code="export_destination_not_folder",
        )
    names = fs.list_names(destination)
    if names and EXPORT_MARKER not in names:
        raise UsageError(
            f"--output {destination} holds files that no merge-log export wrote; it is left "
            "as it is. Name a new or empty folder",
            code="export_destination_not_empty",
        )
    if names and not overwrite:
        raise UsageError(
            f"--output {destination} holds an earlier export; pass --overwrite to replace it, "
            "or name a new folder",
            code="export_exists",
        )
    fs.delete(destination)  # empty, or an earlier export the user asked to replace


def stage_labeller(spark: SparkSession, run_id: str):
    """``on_stage`` for :class:`StageTimer`: the Spark jobs of a stage carry the description
    ``idres-spark <run id>: <stage>`` (the Spark UI's job list; the event log, which
    ``jobs/benchmark.py`` counts per stage). Without a SparkContext (Spark Connect) it does
    nothing."""
    try:
        context = spark.sparkContext
    except Exception:  # Spark Connect
        return None

    def label(stage: str | None) -> None:
        context.setLocalProperty(
            write.DESCRIPTION, f"idres-spark {run_id}: {stage}" if stage else None
        )

    return label


def _store_at(path: str, written: dict[str, T.StructType]):
    """A ``store_records`` for :func:`resolve`: write the frame as the table at ``path`` (or
    append it to a file copy of the earlier table ``carried_from``) and read it back; its
    schema goes into ``written`` under the table's name."""

    def store(df: DataFrame, carried_from: str | None = None) -> DataFrame:
        mode = write.carry_files(df.sparkSession, carried_from, path)
        # without dictionary pages: its ids, emails and fingerprints are nearly all distinct,
        # so the writer built dictionaries only to drop them (about 9% of the stage's time
        # at 1M records, docs/benchmarks.md); files come out a few percent larger
        df.write.mode(mode).option("parquet.enable.dictionary", "false").parquet(path)
        written[path.rsplit("/", 1)[1]] = df.schema
        return df.sparkSession.read.schema(df.schema).parquet(path)  # no inference job

    return store


def _work_dir(config: Config, attempt: str) -> str:
    if config.graph.checkpoint_dir:
        return f"{config.graph.checkpoint_dir.rstrip('/')}/{attempt}"
    return f"{config.output.path.rstrip('/')}/{store.WORK}/{attempt}"


def _local_mode(spark: SparkSession) -> bool:
    """One JVM runs every task: a local checkpoint is as durable as the run itself (on a
    cluster, a lost executor would take its blocks with it)."""
    return spark.sparkContext.master.startswith("local")
