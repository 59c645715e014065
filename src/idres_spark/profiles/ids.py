"""Stable profile ids: record groups + the previous run's record map -> record -> profile id.

A group holding no record of an earlier profile is a new profile: ``P`` + 20 hex characters
of the SHA-256 of its smallest record id (deterministic). A group holding records of one or
more earlier profiles keeps the id of the earlier profile with the most records (tie: the one
created first, then the smallest id); the other earlier profiles are retired into it.
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


def assign(
    groups: DataFrame,
    previous_map: DataFrame | None = None,
    previous_profiles: DataFrame | None = None,
) -> tuple[DataFrame, DataFrame]:
    """(``record_id, profile_id, previous_profile_id, created_at``; retired profiles).

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
        return assigned, empty
    earlier = previous_map.select(C.RECORD_ID, F.col(C.PROFILE_ID).alias(PREVIOUS_PROFILE_ID))
    members = groups.join(earlier, C.RECORD_ID, "left")
    candidates = (
        members.where(F.col(PREVIOUS_PROFILE_ID).isNotNull())
        .select(GROUP_KEY, PREVIOUS_PROFILE_ID)
        .distinct()
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
    assigned = members.join(survivors, GROUP_KEY, "left").select(
        C.RECORD_ID,
        F.coalesce("_survivor", new_profile_id(F.col(GROUP_KEY))).alias(C.PROFILE_ID),
        PREVIOUS_PROFILE_ID,
        CREATED_AT,
    )
    retired = (
        ranked.where("_rank > 1")
        .join(survivors, GROUP_KEY)
        .select(PREVIOUS_PROFILE_ID, F.col("_survivor").alias(C.PROFILE_ID))
    )
    return assigned, retired
