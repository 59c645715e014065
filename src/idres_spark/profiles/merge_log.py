"""Merge log stage: this run's merges, appended to the earlier runs' log.

Two kinds of rows, both with the columns of DESIGN.md plus ``from_record_id``,
``to_record_id``, ``config_fingerprint`` and the ``merge_date`` partition:

- a link (edge) that brought a record new to the state into a profile: the ``src`` record, as
  the profile it would be alone (or its earlier profile), into the profile holding ``dst``;
- a retirement: an earlier profile that merged into another one this run (profile ids of both,
  their primary identifiers, and the strongest link that crossed between them);
- a split: an earlier profile some of whose records now form another profile (the earlier
  id, the new part's id, their primary identifiers, reason ``split:<cause>``, e.g.
  ``split:override:ov-7``). Earlier rows are never edited.

Links between records that were already in the state are not logged again (earlier merges are
permanent and were logged when they happened), so re-running a batch adds no rows.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from idres_spark import columns as C
from idres_spark.profiles.ids import PREVIOUS_PROFILE_ID, new_profile_id
from idres_spark.run_context import RunContext
from idres_spark.schemas import PERMANENT_PRIORITY

MERGE_LOG_COLUMNS = (
    "source_profile_id", "source_email", "source_external_id", "source_phone",
    "destination_profile_id", "destination_email", "destination_external_id",
    "destination_phone", "merged_at", C.REASON, C.SCORE, C.RUN_ID, "config_fingerprint",
    "from_record_id", "to_record_id", "merge_date",
)  # fmt: skip
_TYPES = {"merged_at": T.TimestampType(), C.SCORE: T.DoubleType(), "merge_date": T.DateType()}
MERGE_LOG_SCHEMA = T.StructType(
    [T.StructField(name, _TYPES.get(name, T.StringType())) for name in MERGE_LOG_COLUMNS]
)


def read_merge_log(spark: SparkSession, path: str) -> DataFrame:
    """A written merge log; with its schema, so a log with no rows yet (no files) reads too."""
    return spark.read.schema(MERGE_LOG_SCHEMA).parquet(path)


def build_merge_log(
    members: DataFrame,
    edges: DataFrame,
    profiles: DataFrame,
    retired: DataFrame,
    run: RunContext,
    previous_profiles: DataFrame | None = None,
    splits: DataFrame | None = None,
    split_causes: DataFrame | None = None,
) -> DataFrame:
    """This run's rows of the merge log. ``splits``: earlier profile -> a split-off part's
    id; ``split_causes``: ``profile_id, cause`` of the earlier profiles resolved again."""
    links = edges.where(F.col(C.PRIORITY) != PERMANENT_PRIORITY)
    rows = _link_rows(members, links)
    if previous_profiles is not None:
        rows = rows.unionByName(
            _retirement_rows(members, links, profiles, retired, previous_profiles)
        )
        if splits is not None:
            rows = rows.unionByName(_split_rows(splits, split_causes, profiles, previous_profiles))
    merged_at = F.lit(run.run_ts).cast("timestamp")
    current = rows.select(
        "source_profile_id", "source_email", "source_external_id", "source_phone",
        "destination_profile_id", "destination_email", "destination_external_id",
        "destination_phone", merged_at.alias("merged_at"), C.REASON, C.SCORE,
        F.lit(run.run_id).alias(C.RUN_ID),
        F.lit(run.config_fingerprint).alias("config_fingerprint"),
        "from_record_id", "to_record_id", F.lit(run.run_ts.date()).alias("merge_date"),
    )  # fmt: skip
    return current


def _end(members: DataFrame, prefix: str) -> DataFrame:
    return members.select(
        F.col(C.RECORD_ID).alias(f"{prefix}_record"),
        F.coalesce(C.EMAIL, F.lower(F.trim(C.EMAIL_RAW))).alias(f"{prefix}_email"),
        F.col(C.USER_ID).alias(f"{prefix}_external_id"),
        F.col(C.PHONE).alias(f"{prefix}_phone"),
        F.col(C.PROFILE_ID).alias(f"{prefix}_profile"),
        F.col(PREVIOUS_PROFILE_ID).alias(f"{prefix}_earlier"),
    )


def _link_rows(members: DataFrame, links: DataFrame) -> DataFrame:
    joined = links.join(_end(members, "source"), F.col(C.SRC) == F.col("source_record")).join(
        _end(members, "destination"), F.col(C.DST) == F.col("destination_record")
    )
    brings_new = F.col("source_earlier").isNull() | F.col("destination_earlier").isNull()
    return joined.where(brings_new).select(
        F.coalesce("source_earlier", new_profile_id(F.col(C.SRC))).alias("source_profile_id"),
        "source_email", "source_external_id", "source_phone",
        F.col("destination_profile").alias("destination_profile_id"),
        "destination_email", "destination_external_id", "destination_phone",
        C.REASON, C.SCORE,
        F.col(C.SRC).alias("from_record_id"), F.col(C.DST).alias("to_record_id"),
    )  # fmt: skip


def _retirement_rows(
    members: DataFrame,
    links: DataFrame,
    profiles: DataFrame,
    retired: DataFrame,
    previous_profiles: DataFrame,
) -> DataFrame:
    earlier = members.select(C.RECORD_ID, PREVIOUS_PROFILE_ID)
    crossing = (
        links.join(earlier.withColumnRenamed(C.RECORD_ID, C.SRC).withColumnRenamed(
            PREVIOUS_PROFILE_ID, "_from"), C.SRC)
        .join(earlier.withColumnRenamed(C.RECORD_ID, C.DST).withColumnRenamed(
            PREVIOUS_PROFILE_ID, "_to"), C.DST)
        .where(~F.col("_from").eqNullSafe(F.col("_to")))
    )  # fmt: skip
    strength = F.struct(C.PRIORITY, (-F.col(C.SCORE)).alias("s"), C.REASON, C.SCORE)
    touching = crossing.select(F.col("_from").alias(PREVIOUS_PROFILE_ID), strength.alias("k"))
    touching = touching.unionByName(
        crossing.select(F.col("_to").alias(PREVIOUS_PROFILE_ID), strength.alias("k"))
    ).where(F.col(PREVIOUS_PROFILE_ID).isNotNull())
    best = touching.groupBy(PREVIOUS_PROFILE_ID).agg(F.min("k").alias("k"))
    before = _primary(previous_profiles, "source", PREVIOUS_PROFILE_ID)
    after = _primary(profiles, "destination", C.PROFILE_ID)
    return (
        retired.join(before, PREVIOUS_PROFILE_ID)
        .join(after, C.PROFILE_ID)
        .join(best, PREVIOUS_PROFILE_ID, "left")
        .select(
            F.col(PREVIOUS_PROFILE_ID).alias("source_profile_id"),
            "source_email",
            "source_external_id",
            "source_phone",
            F.col(C.PROFILE_ID).alias("destination_profile_id"),
            "destination_email",
            "destination_external_id",
            "destination_phone",
            F.coalesce(F.col("k." + C.REASON), F.lit("profile_merge")).alias(C.REASON),
            F.coalesce(F.col("k." + C.SCORE), F.lit(1.0)).alias(C.SCORE),
            F.lit(None).cast("string").alias("from_record_id"),
            F.lit(None).cast("string").alias("to_record_id"),
        )  # fmt: skip
    )


def _split_rows(
    splits: DataFrame,
    causes: DataFrame | None,
    profiles: DataFrame,
    previous_profiles: DataFrame,
) -> DataFrame:
    before = _primary(previous_profiles, "source", PREVIOUS_PROFILE_ID)
    after = _primary(profiles, "destination", C.PROFILE_ID)
    rows = splits.join(before, PREVIOUS_PROFILE_ID).join(after, C.PROFILE_ID)
    cause = F.lit(None).cast("string")
    if causes is not None:
        rows = rows.join(
            causes.select(F.col(C.PROFILE_ID).alias(PREVIOUS_PROFILE_ID), "cause"),
            PREVIOUS_PROFILE_ID, "left",
        )  # fmt: skip
        cause = F.col("cause")
    return rows.select(
        F.col(PREVIOUS_PROFILE_ID).alias("source_profile_id"),
        "source_email", "source_external_id", "source_phone",
        F.col(C.PROFILE_ID).alias("destination_profile_id"),
        "destination_email", "destination_external_id", "destination_phone",
        F.concat_ws(":", F.lit("split"), cause).alias(C.REASON),
        F.lit(None).cast("double").alias(C.SCORE),
        F.lit(None).cast("string").alias("from_record_id"),
        F.lit(None).cast("string").alias("to_record_id"),
    )  # fmt: skip


def _primary(profiles: DataFrame, side: str, key: str) -> DataFrame:
    """The profiles' ids (as ``key``) and primary values as one side of a profile row."""
    return profiles.select(
        F.col(C.PROFILE_ID).alias(key),
        F.col("primary_email").alias(f"{side}_email"),
        F.col("primary_user_id").alias(f"{side}_external_id"),
        F.col("primary_phone").alias(f"{side}_phone"),
    )
