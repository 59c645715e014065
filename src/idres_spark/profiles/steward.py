"""Steward values: the ``golden_overrides`` input sets a golden field by hand, over every policy.

A row names a ``field`` (``email`` or ``primary_email``, ``phone``, a custom field...), a
``value`` and one anchor: a ``record`` (``source:source_record_id``; the value follows that
record into whatever profile holds it) or a ``profile_id`` (the value follows the id: a
profile that a merge retired hands its steward values to the profile it merged into, found
through the merge log's retirement rows, however many runs ago; a split leaves them with the
part that keeps the id). Of several values for one profile and field, the newest
``created_at`` wins (then the largest ``override_id``); the others are ``superseded``.

Every row is reported in ``diagnostics/golden_override_status``: ``applied``, ``superseded``,
``pending`` (the record is not in the state yet), ``retired`` (the profile is gone and merged
into none) or ``invalid`` (with what to fix). Values are written trimmed, emails lower-cased;
the status table never repeats them.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from idres_spark import columns as C
from idres_spark.golden_config import BUILTIN_GOLDEN, STEWARD_POLICY
from idres_spark.ingest.normalizers import literal_map
from idres_spark.profiles.survivorship import PROVENANCE_COLUMNS, Survivorship

STATUS_COLUMNS = (
    "override_id", "field", "anchor_profile_id", "anchor_record", C.PROFILE_ID, "status",
    "detail",
)  # fmt: skip
MAX_HOPS = 100  # retirements followed from one profile id (each is a later run's merge)
_COLUMN = "_column"  # the profile column a row sets


def apply(
    overrides: DataFrame,
    profiles: DataFrame,
    provenance: DataFrame,
    record_map: DataFrame,
    merge_log: DataFrame,
    survivorship: Survivorship,
) -> tuple[DataFrame, DataFrame, DataFrame]:
    """(profiles, provenance, override status) with the steward values applied."""
    columns = {f: BUILTIN_GOLDEN.get(f, f) for f in survivorship.fields}
    by_name = {**{c: c for c in columns.values()}, **columns}  # a field or its column
    rows = overrides.select(
        F.coalesce(
            "override_id",
            F.concat(F.lit("ov-"), F.substring(F.sha2(F.to_json(F.struct("*")), 256), 1, 16)),
        ).alias("override_id"),
        "field", F.col("profile_id").alias("anchor_profile_id"),
        F.col("record").alias("anchor_record"), "reason", "created_by",
        F.expr("try_to_timestamp(created_at)").alias("created_at"),
        F.element_at(literal_map(by_name), F.col("field")).alias(_COLUMN),
        F.when(F.col("field").isin(C.EMAIL, "primary_email"), F.lower(F.trim("value")))
        .otherwise(F.trim("value")).alias("value"),
    )  # fmt: skip
    problem = (
        F.when(F.col(_COLUMN).isNull(), F.concat(
            F.lit("unknown field '"), F.coalesce("field", F.lit("")),
            F.lit(f"'; fields are {sorted(by_name)}")))
        .when(F.coalesce(F.col("value"), F.lit("")) == "", F.lit("empty value"))
        .when(F.col("anchor_profile_id").isNull() == F.col("anchor_record").isNull(),
              F.lit("give exactly one anchor: profile_id or record"))
    )  # fmt: skip
    rows = rows.withColumn("_problem", problem)
    targets = _targets(rows.where(F.col("_problem").isNull()), profiles, record_map, merge_log)
    newest = Window.partitionBy(C.PROFILE_ID, _COLUMN).orderBy(
        F.col("created_at").desc_nulls_last(), F.col("override_id").desc()
    )
    ranked = targets.withColumn(
        "_rank", F.when(F.col(C.PROFILE_ID).isNotNull(), F.row_number().over(newest))
    ).withColumn("_winner", F.first("override_id").over(newest))
    applied = ranked.where(F.col("_rank") == 1)
    profiles = _set_values(profiles, applied, list(columns.values()))
    provenance = _explained(provenance, applied, survivorship, columns)
    status = _status(rows, ranked)
    return profiles, provenance, status


def _targets(
    rows: DataFrame, profiles: DataFrame, record_map: DataFrame, merge_log: DataFrame
) -> DataFrame:
    """Valid rows with the profile each applies to (null: none now): the record's profile, else
    the anchor profile if it is current, else the current profile its retirements lead to."""
    held = record_map.select(
        F.col(C.RECORD_ID).alias("anchor_record"), F.col(C.PROFILE_ID).alias("_held_by")
    )
    rows = rows.join(F.broadcast(held.join(rows.select("anchor_record"), "anchor_record",
                                           "left_semi")), "anchor_record", "left")  # fmt: skip
    anchors = {r[0] for r in rows.select("anchor_profile_id").distinct().collect() if r[0]}
    moved = _follow(merge_log, anchors)  # a current profile was never retired: not in it
    follow = literal_map(moved) if moved else F.create_map().cast("map<string,string>")
    rows = rows.withColumn("_moved", F.element_at(follow, F.col("anchor_profile_id")))
    wanted = rows.select(F.col("anchor_profile_id").alias("_id")).unionByName(
        rows.select(F.col("_moved").alias("_id"))
    )
    current = (  # the wanted ids that are profiles now: a small set, filtered map-side
        profiles.select(F.col(C.PROFILE_ID).alias("_id"))
        .join(F.broadcast(wanted.distinct()), "_id", "left_semi")
        .withColumn("_current", F.lit(True))
    )
    for column in ("anchor_profile_id", "_moved"):
        rows = rows.join(
            F.broadcast(current.withColumnRenamed("_current", f"{column}_current")),
            F.col(column) == F.col("_id"), "left",
        ).drop("_id")  # fmt: skip
    profile = F.coalesce(
        "_held_by",
        F.when(F.col("anchor_profile_id_current"), F.col("anchor_profile_id")),
        F.when(F.col("_moved_current"), F.col("_moved")),
    )
    return rows.withColumn(C.PROFILE_ID, profile)


def _follow(merge_log: DataFrame, ids: set[str]) -> dict[str, str]:
    """Retired profile id -> the profile its retirements end in (merge log rows without a
    record: one earlier profile merged into another)."""
    retirements = merge_log.where(F.col("from_record_id").isNull()).select(
        "source_profile_id", "destination_profile_id"
    )
    ends = {i: i for i in ids}
    frontier = set(ids)
    for _ in range(MAX_HOPS):
        if not frontier:
            break
        hops = dict(
            retirements.where(F.col("source_profile_id").isin(sorted(frontier)))
            .distinct()
            .collect()
        )
        frontier = set()
        for start, at in ends.items():
            if at in hops and hops[at] != at:
                ends[start] = hops[at]
                frontier.add(hops[at])
    return {k: v for k, v in ends.items() if k != v}


def _set_values(profiles: DataFrame, applied: DataFrame, columns: list[str]) -> DataFrame:
    values = applied.groupBy(C.PROFILE_ID).agg(
        F.map_from_entries(F.collect_list(F.struct(_COLUMN, "value"))).alias("_set")
    )
    joined = profiles.join(F.broadcast(values), C.PROFILE_ID, "left")
    return joined.select(
        *[
            F.coalesce(F.element_at("_set", F.lit(c)), F.col(c)).alias(c) if c in columns
            else F.col(c)
            for c in profiles.columns
        ]
    )  # fmt: skip


def _explained(
    provenance: DataFrame, applied: DataFrame, survivorship: Survivorship, columns: dict[str, str]
) -> DataFrame:
    """Provenance with a steward row in place of the policy's for every value set by hand."""
    field_of = {column: field for field, column in columns.items()}
    groups = {f: u.name for u in survivorship.units if u.grouped for f in u.fields}
    keyed = applied.select(
        C.PROFILE_ID,
        F.element_at(literal_map(field_of), F.col(_COLUMN)).alias("field"),
        F.col("value").alias("_steward_value"),
        "override_id", F.col("reason").alias("override_reason"),
        F.col("created_by").alias("override_created_by"),
    )  # fmt: skip
    kept = provenance.join(F.broadcast(keyed.select(C.PROFILE_ID, "field")),
                           [C.PROFILE_ID, "field"], "left_anti")  # fmt: skip
    before = provenance.select(C.PROFILE_ID, "field", "candidates", "distinct_values")
    none = F.lit(None)
    group = F.element_at(literal_map(groups), F.col("field")) if groups else none
    steward = keyed.join(before, [C.PROFILE_ID, "field"], "left").select(
        C.PROFILE_ID, "field", group.cast("string").alias("field_group"),
        F.col("_steward_value").alias("value"), none.cast("string").alias(C.RECORD_ID),
        none.cast("string").alias(C.SOURCE), none.cast("string").alias(C.SOURCE_RECORD_ID),
        none.cast("timestamp").alias(C.EVENT_TS), F.lit(STEWARD_POLICY).alias("policy"),
        F.coalesce("candidates", F.lit(0)).cast("long").alias("candidates"),
        F.coalesce("distinct_values", F.lit(0)).cast("int").alias("distinct_values"),
        "override_id", "override_reason", "override_created_by",
    )  # fmt: skip
    return kept.unionByName(steward).select(*PROVENANCE_COLUMNS)


def _status(rows: DataFrame, ranked: DataFrame) -> DataFrame:
    invalid = rows.where(F.col("_problem").isNotNull()).select(
        "override_id", "field", "anchor_profile_id", "anchor_record",
        F.lit(None).cast("string").alias(C.PROFILE_ID), F.lit("invalid").alias("status"),
        F.col("_problem").alias("detail"),
    )  # fmt: skip
    followed = F.col("anchor_profile_id").isNotNull() & (
        F.col("anchor_profile_id") != F.col(C.PROFILE_ID)
    )
    status = (
        F.when(F.col(C.PROFILE_ID).isNull() & F.col("anchor_record").isNotNull(), "pending")
        .when(F.col(C.PROFILE_ID).isNull(), "retired")
        .when(F.col("_rank") == 1, "applied")
        .otherwise("superseded")
    )
    detail = (
        F.when(F.col(C.PROFILE_ID).isNull() & F.col("anchor_record").isNotNull(),
               F.lit("the record is not in the state (yet)"))
        .when(F.col(C.PROFILE_ID).isNull(),
              F.lit("the profile was retired and merged into no current profile"))
        .when(F.col("_rank") > 1, F.concat(F.lit("override "), "_winner", F.lit(" is newer")))
        .when(followed, F.concat(F.lit("followed merges from "), "anchor_profile_id"))
    )  # fmt: skip
    resolved = ranked.select(
        "override_id", "field", "anchor_profile_id", "anchor_record", C.PROFILE_ID,
        status.alias("status"), detail.alias("detail"),
    )  # fmt: skip
    return invalid.unionByName(resolved).select(*STATUS_COLUMNS)
