"""Profiles stage: records with their profile ids + edges -> resolved profiles, record map.

The golden fields (``primary_email``, ``primary_phone``, ``primary_user_id``, the names and
every custom field) survive by the config's chains (:mod:`idres_spark.profiles.survivorship`,
docs/golden-record.md); the default keeps the survivor email (records merged away by a
transformation last, then the most reachable, then the most recent) and the most recent
value of every other field. Profile ids come from :mod:`idres_spark.profiles.ids`;
``created_at`` is when a profile first appeared, ``updated_at`` the last run that added or
changed one of its records.
"""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from idres_spark import columns as C
from idres_spark.golden_config import PROFILE_COLUMNS
from idres_spark.profiles.ids import CREATED_AT, PREVIOUS_PROFILE_ID
from idres_spark.profiles.survivorship import MERGED_AWAY, Survivorship
from idres_spark.run_context import RunContext
from idres_spark.schemas import PERMANENT_PRIORITY

RECORD_MAP_COLUMNS = (
    C.RECORD_ID, C.SOURCE, C.SOURCE_RECORD_ID, C.PROFILE_ID, C.LINKED_BY, C.RUN_ID,
)  # fmt: skip
TRANSFORMATIONS = ("email_typo_merge", "email_alias_merge")
LAST_RUN_TS = "last_run_ts"  # records state: when the record last arrived or changed


def members_of(
    records: DataFrame, assigned: DataFrame, edges: DataFrame, explained: bool = False
) -> DataFrame:
    """Records with their profile id, previous profile id, created_at and survivorship flag;
    with ``explained``, also the strongest link of each record (``linked_by``, as the record
    map of a run without earlier state has it).

    Both come from one aggregation of the links' ends by record id, joined to the records
    in the same shuffle as their profile ids: the record map is then a projection of the
    members, not another join of a million rows (docs/benchmarks.md)."""
    ends = _link_ends(edges)
    merged_away = F.col(C.REASON).isin(*TRANSFORMATIONS) & F.col("_is_src")
    per_record = [F.max(F.when(merged_away, F.lit(True))).alias(MERGED_AWAY)]
    if explained:
        permanent = F.col("strength")[C.PRIORITY] == PERMANENT_PRIORITY
        strongest = F.min(F.when(~permanent, F.col("strength")))[C.REASON]
        per_record.append(strongest.alias(C.LINKED_BY))
    else:  # only the records a transformation merged away: a few links, not all their ends
        ends = ends.where(merged_away)
    linked = ends.groupBy(C.RECORD_ID).agg(*per_record)
    return records.join(assigned, C.RECORD_ID).join(linked, C.RECORD_ID, "left")


def _link_ends(edges: DataFrame) -> DataFrame:
    """Both ends of every link: ``record_id, _other, strength, reason, _is_src``; the
    strongest link of a record is its smallest ``strength`` (priority, then score)."""
    strength = F.struct(C.PRIORITY, (-F.col(C.SCORE)).alias("s"), C.REASON).alias("strength")
    return edges.select(
        F.col(C.SRC).alias(C.RECORD_ID), F.col(C.DST).alias("_other"), strength, C.REASON,
        F.lit(True).alias("_is_src"),
    ).unionByName(
        edges.select(
            F.col(C.DST).alias(C.RECORD_ID), F.col(C.SRC).alias("_other"), strength, C.REASON,
            F.lit(False).alias("_is_src"),
        )
    )  # fmt: skip


def build_outputs(
    members: DataFrame,
    edges: DataFrame,
    run: RunContext,
    survivorship: Survivorship,
    previous_map: DataFrame | None = None,
    materialize: Callable[[DataFrame], DataFrame] = lambda df: df,
) -> tuple[DataFrame, DataFrame, DataFrame]:
    """(profiles, record_map, profile_field_provenance) from :func:`members_of`; the
    per-profile aggregate both the profiles and their provenance read is ``materialize``d."""
    prepared = survivorship.prepare(members)
    aggregated = materialize(_aggregated(prepared, run, survivorship))
    golden = survivorship.columns()
    profiles = aggregated.select(
        *[golden.get(c, F.col(c)).alias(c) for c in PROFILE_COLUMNS],
        *[golden[c].alias(c) for c in survivorship.custom],
    )
    provenance = survivorship.provenance(aggregated)
    return profiles, _record_map(members, edges, run, previous_map), provenance


def _sorted_set(col: str) -> Column:
    return F.array_sort(F.collect_set(col))


def _aggregated(prepared: DataFrame, run: RunContext, survivorship: Survivorship) -> DataFrame:
    return prepared.groupBy(C.PROFILE_ID).agg(
        F.count(F.lit(1)).alias("record_count"),
        _sorted_set(C.SOURCE).alias("sources"),
        _sorted_set(C.EMAIL).alias("emails"),
        _sorted_set(C.PHONE).alias("phones"),
        _sorted_set(C.USER_ID).alias("user_ids"),
        _sorted_set(C.DEVICE_ID).alias("device_ids"),
        F.min(C.EVENT_TS).alias("first_seen"),
        F.max(C.EVENT_TS).alias("last_seen"),
        F.coalesce(F.min(CREATED_AT), F.lit(run.run_ts).cast("timestamp")).alias(CREATED_AT),
        F.coalesce(F.max(LAST_RUN_TS), F.lit(run.run_ts).cast("timestamp")).alias("updated_at"),
        *survivorship.aggregates(),
    )


def _record_map(
    members: DataFrame, edges: DataFrame, run: RunContext, previous_map: DataFrame | None
) -> DataFrame:
    """Each record's profile and the strongest link that explains it there.

    In incremental mode (``previous_map``) only links that join something count
    (:func:`_joining`); a record with none keeps its earlier ``linked_by``. The
    transformations find their links between unchanged records of one profile again whenever
    they review its phone group, and rule links between them are not made again, so counting
    those would change the explanation of a batch run twice (docs/outputs.md, record_map)."""
    if previous_map is None and C.LINKED_BY in members.columns:  # explained by members_of
        out = members
    else:
        # permanent links say nothing new (a steward's must-link does: ``override:<id>``)
        links = edges.where(F.col(C.PRIORITY) != PERMANENT_PRIORITY)
        ends = _link_ends(links).drop(C.REASON, "_is_src")
        if previous_map is not None:
            ends = _joining(ends, members)
        strongest = ends.groupBy(C.RECORD_ID).agg(F.min("strength")[C.REASON].alias(C.LINKED_BY))
        out = members.drop(C.LINKED_BY).join(strongest, C.RECORD_ID, "left")
    this_run = F.lit(run.run_id)
    if previous_map is not None:
        earlier = previous_map.select(
            C.RECORD_ID,
            F.col(C.LINKED_BY).alias("_earlier"),
            F.col(C.PROFILE_ID).alias("_earlier_profile"),
            (F.col(C.RUN_ID) if C.RUN_ID in previous_map.columns else F.lit(None))
            .cast("string")
            .alias("_earlier_run"),
        )
        out = out.join(earlier, C.RECORD_ID, "left").withColumn(
            C.LINKED_BY, F.coalesce(C.LINKED_BY, "_earlier")
        )
        # a row keeps the run that last changed it: the same row whatever else was resolved
        same = (
            ~F.col(C.IS_NEW)
            & F.col("_earlier_run").isNotNull()
            & F.col(C.PROFILE_ID).eqNullSafe(F.col("_earlier_profile"))
            & F.col(C.LINKED_BY).eqNullSafe(F.col("_earlier"))
        )
        this_run = F.when(same, F.col("_earlier_run")).otherwise(this_run)
    return out.withColumn(C.RUN_ID, this_run).select(*RECORD_MAP_COLUMNS)


def _joining(ends: DataFrame, members: DataFrame) -> DataFrame:
    """The link ends (``record_id``, ``_other``) that explain their record anew: every link of
    a record new to the state or changed in this run; for an unchanged record, a link to a
    record new to the state or from another earlier profile."""
    this = members.select(C.RECORD_ID, C.IS_NEW, F.col(PREVIOUS_PROFILE_ID).alias("_before"))
    other = members.select(
        F.col(C.RECORD_ID).alias("_other"), F.col(PREVIOUS_PROFILE_ID).alias("_other_before")
    )
    joins = F.col(C.IS_NEW) | ~F.col("_before").eqNullSafe(F.col("_other_before"))
    return ends.join(this, C.RECORD_ID).join(other, "_other").where(joins)
