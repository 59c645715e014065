"""History stage: this batch's records + the published state -> the records to resolve, and
the permanent links of earlier runs.

A record of the batch whose id is already in the state replaces the stored version when its
fields changed (a fingerprint of the normalized fields decides) and is then "new" in this run;
an unchanged record keeps its stored version and is not new, so re-running a batch changes
nothing. Only pairs that touch a new record are compared again. Every earlier profile becomes a
star of permanent links (priority -1: never cut by the graph's limits) from each of its
records to its smallest record id, so records that shared a profile keep sharing one.
"""

from __future__ import annotations

import dataclasses

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from idres_spark import columns as C
from idres_spark.ingest.normalize import NORMALIZED_COLUMNS
from idres_spark.run_context import RunContext
from idres_spark.schemas import EDGE_SCHEMA, PERMANENT_PRIORITY, UNREACHABLE_SOURCE
from idres_spark.state.store import PreviousState

PERMANENT_REASON = "earlier_run"
REPLACES = "_replaces"  # a changed record: its id is in the state already
STATE_COLUMNS = (*NORMALIZED_COLUMNS, C.RECORD_FINGERPRINT, C.LAST_RUN_ID, C.LAST_RUN_TS)
_FINGERPRINTED = tuple(c for c in NORMALIZED_COLUMNS if c != C.RECORD_ID)


def with_state_columns(previous: PreviousState | None) -> tuple[PreviousState | None, bool]:
    """``previous`` with its records in today's columns, and whether they already were. A
    records table written before a field existed (the address parts) gains it as null: the
    fingerprint leaves null fields out, so its records do not look changed."""
    if previous is None:
        return None, True
    have = set(previous.records.columns)
    missing = [c for c in STATE_COLUMNS if c not in have]
    if not missing:
        return previous, True
    records = previous.records.select(
        *[F.col(c) if c in have else F.lit(None).cast("string").alias(c) for c in STATE_COLUMNS]
    )
    return dataclasses.replace(previous, records=records), False


def arrived_records(batch: DataFrame, run: RunContext) -> DataFrame:
    """The batch's records in the state's columns, fingerprinted and stamped with this run."""
    fingerprint = F.sha2(F.to_json(F.struct(*[F.col(c) for c in _FINGERPRINTED])), 256).alias(
        C.RECORD_FINGERPRINT
    )
    return batch.select(
        *NORMALIZED_COLUMNS,
        fingerprint,
        F.lit(run.run_id).alias(C.LAST_RUN_ID),
        F.lit(run.run_ts).cast("timestamp").alias(C.LAST_RUN_TS),
    )


def changed_records(
    arrived: DataFrame, previous_records: DataFrame, *, broadcast: bool
) -> DataFrame:
    """The arrived records that are new to the state or whose fingerprint changed, with
    ``REPLACES``: the record id is in the state (a changed record).

    With ``broadcast`` the batch's ids are broadcast and the state is only scanned for their
    stored fingerprints (no shuffle of the state)."""
    stored = previous_records.select(C.RECORD_ID, F.col(C.RECORD_FINGERPRINT).alias("_stored"))
    if broadcast:
        stored = stored.join(F.broadcast(arrived.select(C.RECORD_ID)), C.RECORD_ID, "left_semi")
    return (
        arrived.join(stored, C.RECORD_ID, "left")
        .where(~F.col(C.RECORD_FINGERPRINT).eqNullSafe(F.col("_stored")))
        .withColumn(REPLACES, F.col("_stored").isNotNull())
        .drop("_stored")
    )


def carried_records(
    previous_records: DataFrame, changed: DataFrame, *, broadcast: bool
) -> DataFrame:
    """The stored records that this batch does not replace, unchanged; with ``broadcast`` a
    map-side filter against the changed ids (no shuffle, sort or aggregation of the state)."""
    ids = changed.select(C.RECORD_ID)
    return previous_records.select(*STATE_COLUMNS).join(
        F.broadcast(ids) if broadcast else ids, C.RECORD_ID, "left_anti"
    )


def mark_new(records: DataFrame, run: RunContext, all_new: bool) -> DataFrame:
    """``records`` (the records table: :func:`carried_records` + :func:`changed_records`, or
    the first batch's :func:`arrived_records`) + ``is_new``: the record arrived or
    changed in this run, which stamped it with its run id (kept records carry an earlier run's).
    ``all_new`` (no earlier state, or rules that changed) makes every record new."""
    is_new = F.lit(True) if all_new else F.col(C.LAST_RUN_ID) == F.lit(run.run_id)
    return records.withColumn(C.IS_NEW, is_new)


def permanent_edges(previous_map: DataFrame | None, spark) -> DataFrame:
    """``src, dst, reason, priority, score, unreachable_source`` joining earlier profiles."""
    if previous_map is None:
        return spark.createDataFrame([], EDGE_SCHEMA)
    anchors = previous_map.groupBy(C.PROFILE_ID).agg(F.min(C.RECORD_ID).alias("_anchor"))
    return (
        previous_map.join(anchors, C.PROFILE_ID)
        .where(F.col(C.RECORD_ID) != F.col("_anchor"))
        .select(
            F.col(C.RECORD_ID).alias(C.SRC),
            F.col("_anchor").alias(C.DST),
            F.lit(PERMANENT_REASON).alias(C.REASON),
            F.lit(PERMANENT_PRIORITY).cast("long").alias(C.PRIORITY),
            F.lit(1.0).alias(C.SCORE),
            F.lit(False).alias(UNREACHABLE_SOURCE),
        )
    )
