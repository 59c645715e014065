"""Stable profile ids: record groups + the previous run's record map -> record -> profile id.

A group holding no record of an earlier profile is a new profile: ``P`` + 20 hex characters
of the SHA-256 of its smallest record id (deterministic). An earlier profile whose records
now lie in several groups (a split: a steward's cannot-link, a re-resolved profile) keeps its
id in one of them, its *part*: the one holding a ``keep_id`` record (the side a cannot-link
names), else the most of its records, then the oldest record (``event_ts``), then the
smallest record id. A group that is the part of one or more earlier profiles keeps the id of
the one with the most records (tie: the one created first, then the smallest id); the others
are retired into it. A group holding earlier records but no part is split off: its new id is
hashed from its smallest record id *and* the run id, so it never takes an id an earlier
profile had. ``splits`` names, per earlier profile, the split-off groups' new ids.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from idres_spark import columns as C
from idres_spark.linking.graph import GROUP_KEY

PREVIOUS_PROFILE_ID = "previous_profile_id"
CREATED_AT = "created_at"
RETIRED_COLUMNS = (PREVIOUS_PROFILE_ID, C.PROFILE_ID)


def new_profile_id(key: Column) -> Column:
    return F.concat(F.lit("P"), F.substring(F.sha2(key, 256), 1, 20))


SPLITS_COLUMNS = (PREVIOUS_PROFILE_ID, C.PROFILE_ID)  # earlier profile -> a split-off part


def assign(
    groups: DataFrame,
    previous_map: DataFrame | None = None,
    previous_profiles: DataFrame | None = None,
    *,
    run_id: str = "",
    record_ts: DataFrame | None = None,
    keep_id: DataFrame | None = None,
    never_reuse: DataFrame | None = None,
    may_split: bool = False,
) -> tuple[DataFrame, DataFrame, DataFrame]:
    """(``record_id, profile_id, previous_profile_id, created_at``; retired profiles;
    splits). ``record_ts``: ``record_id, event_ts`` (the oldest-record tie break);
    ``keep_id``: ``record_id`` of the records whose part keeps its profile's id;
    ``never_reuse``: ``profile_id`` of profiles gone for good (erased): a new profile whose
    id would be one of them gets the salted id of a split-off part instead. Without
    ``may_split`` every earlier profile lies in one group (its permanent links hold it
    whole), which spares the search for its part (a shuffle).

    ``created_at`` is null for new profiles (the caller fills in the run's time).
    """
    if previous_map is None or previous_profiles is None:
        assigned = groups.select(
            C.RECORD_ID,
            new_profile_id(F.col(GROUP_KEY)).alias(C.PROFILE_ID),
            F.lit(None).cast("string").alias(PREVIOUS_PROFILE_ID),
            F.lit(None).cast("timestamp").alias(CREATED_AT),
        )
        empty = assigned.select(*RETIRED_COLUMNS).limit(0)
        return assigned, empty, empty
    earlier = previous_map.select(C.RECORD_ID, F.col(C.PROFILE_ID).alias(PREVIOUS_PROFILE_ID))
    members = groups.join(earlier, C.RECORD_ID, "left")
    held = members.where(F.col(PREVIOUS_PROFILE_ID).isNotNull())
    if may_split:
        parts = _parts(held, record_ts, keep_id)
    else:
        parts = (
            held.select(GROUP_KEY, PREVIOUS_PROFILE_ID).distinct().withColumn("_part", F.lit(True))
        )
    candidates = (
        parts.where("_part")
        .select(GROUP_KEY, PREVIOUS_PROFILE_ID)
        .join(
            previous_profiles.select(
                F.col(C.PROFILE_ID).alias(PREVIOUS_PROFILE_ID), "record_count", CREATED_AT
            ),
            PREVIOUS_PROFILE_ID,
        )
    )
    best_first = Window.partitionBy(GROUP_KEY).orderBy(
        F.col("record_count").desc(), F.col(CREATED_AT).asc_nulls_last(), PREVIOUS_PROFILE_ID
    )
    ranked = candidates.withColumn("_rank", F.row_number().over(best_first))
    survivors = ranked.where("_rank = 1").select(
        GROUP_KEY, F.col(PREVIOUS_PROFILE_ID).alias("_survivor"), F.col(CREATED_AT)
    )
    split_off = parts.where(~F.col("_part")).select(GROUP_KEY, PREVIOUS_PROFILE_ID)
    salted = new_profile_id(F.concat_ws("@", GROUP_KEY, F.lit(run_id)))
    plain = new_profile_id(F.col(GROUP_KEY))
    joined = members.join(survivors, GROUP_KEY, "left").join(
        split_off.groupBy(GROUP_KEY).agg(F.min(PREVIOUS_PROFILE_ID).alias("_split")),
        GROUP_KEY, "left",
    )  # fmt: skip
    taken = F.col("_split").isNotNull()
    if never_reuse is not None:
        gone = never_reuse.select(F.col(C.PROFILE_ID).alias("_gone")).distinct()
        joined = joined.join(F.broadcast(gone), plain == F.col("_gone"), "left")
        taken = taken | F.col("_gone").isNotNull()
    assigned = joined.select(
        C.RECORD_ID,
        F.coalesce("_survivor", F.when(taken, salted).otherwise(plain)).alias(C.PROFILE_ID),
        PREVIOUS_PROFILE_ID,
        CREATED_AT,
    )
    retired = (
        ranked.where("_rank > 1")
        .join(survivors, GROUP_KEY)
        .select(PREVIOUS_PROFILE_ID, F.col("_survivor").alias(C.PROFILE_ID))
    )
    ids = assigned.select(F.col(C.RECORD_ID).alias(GROUP_KEY), C.PROFILE_ID)  # by group key
    splits = split_off.join(ids, GROUP_KEY).select(*SPLITS_COLUMNS)
    return assigned, retired, splits


def _parts(held: DataFrame, record_ts: DataFrame | None, keep_id: DataFrame | None) -> DataFrame:
    """``group_key, previous_profile_id, _part``: per earlier profile, whether this group
    holds its part (the one that keeps its id; the order is the module docstring's)."""
    oldest, keep = F.lit(None).cast("timestamp"), F.lit(False)
    if record_ts is not None:
        held = held.join(record_ts.select(C.RECORD_ID, C.EVENT_TS), C.RECORD_ID, "left")
        oldest = F.col(C.EVENT_TS)
    if keep_id is not None:
        held = held.join(keep_id.select(C.RECORD_ID, F.lit(True).alias("_k")), C.RECORD_ID, "left")
        keep = F.coalesce("_k", F.lit(False))
    parts = held.groupBy(GROUP_KEY, PREVIOUS_PROFILE_ID).agg(
        F.max(keep).alias("_keep"), F.count(F.lit(1)).alias("_held"),
        F.min(oldest).alias("_oldest"), F.min(C.RECORD_ID).alias("_first"),
    )  # fmt: skip
    part_first = Window.partitionBy(PREVIOUS_PROFILE_ID).orderBy(
        F.col("_keep").desc(), F.col("_held").desc(), F.col("_oldest").asc_nulls_last(), "_first"
    )
    return parts.withColumn("_part", F.row_number().over(part_first) == 1)
