"""Profiles stage: records + groups + edges -> resolved profiles, record map, merge log.

Survivorship: the primary email is the surviving record's: records merged away by a
transformation (typo or alias sources) come last; then the most reachable email (valid,
suppressed, unknown, then bounced), then the most recent, then the smallest record id. Phone,
user id and names are the most recent non-null values. Profile ids are ``P`` + 20 hex
characters of the SHA-256 of the group's smallest record id: the same input gives the same ids.
In the merge log each edge is one merge: the ``src`` record (as the one-record profile it would
be alone) into the profile that holds the ``dst`` record.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from idres_spark import columns as C
from idres_spark.graph import GROUP_KEY
from idres_spark.run_context import RunContext

PROFILE_COLUMNS = (
    C.PROFILE_ID, "record_count", "sources", "primary_email", "primary_phone",
    "primary_user_id", "emails", "phones", "user_ids", "device_ids", C.FIRST_NAME,
    C.LAST_NAME, "first_seen", "last_seen", "updated_at",
)  # fmt: skip
RECORD_MAP_COLUMNS = (
    C.RECORD_ID, C.SOURCE, C.SOURCE_RECORD_ID, C.PROFILE_ID, C.LINKED_BY, C.RUN_ID,
)  # fmt: skip
MERGE_LOG_COLUMNS = (
    "source_profile_id", "source_email", "source_external_id", "source_phone",
    "destination_profile_id", "destination_email", "destination_external_id",
    "destination_phone", "merged_at", C.REASON, C.SCORE, C.RUN_ID, "from_record_id",
    "to_record_id", "merge_date",
)  # fmt: skip
_REACHABILITY = {"valid": 0, "suppressed": 1, "unknown": 2, "bounced": 3, "invalid": 4}
_NO_TIME = 1 << 62
_MERGED_AWAY = "_merged_away"  # the record is the source of a transformation edge
TRANSFORMATIONS = ("email_typo_merge", "email_alias_merge")


def profile_id(key: Column) -> Column:
    return F.concat(F.lit("P"), F.substring(F.sha2(key, 256), 1, 20))


def build_outputs(
    records: DataFrame, groups: DataFrame, edges: DataFrame, run: RunContext
) -> tuple[DataFrame, DataFrame, DataFrame]:
    """(profiles, record_map, merge_log)."""
    merged_away = (
        edges.where(F.col(C.REASON).isin(*TRANSFORMATIONS))
        .select(F.col(C.SRC).alias(C.RECORD_ID), F.lit(True).alias(_MERGED_AWAY))
        .distinct()
    )
    members = (
        records.join(groups, C.RECORD_ID)
        .join(merged_away, C.RECORD_ID, "left")
        .withColumn(C.PROFILE_ID, profile_id(GROUP_KEY))
    )
    return (
        _profiles(members, run),
        _record_map(members, edges, run),
        _merge_log(members, edges, run),
    )


def _latest(value: Column, rank: Column | None = None) -> Column:
    """The value of the best record: lowest rank, then most recent event, then smallest id."""
    recency = F.coalesce(-F.unix_timestamp(C.EVENT_TS), F.lit(_NO_TIME))
    key = F.struct(
        (rank if rank is not None else F.lit(0)).alias("rank"),
        recency.alias("recency"),
        F.col(C.RECORD_ID).alias("id"),
        value.alias("value"),
    )
    return F.min(F.when(value.isNotNull(), key))["value"]


def _sorted_set(col: str) -> Column:
    return F.array_sort(F.collect_set(col))


def _profiles(members: DataFrame, run: RunContext) -> DataFrame:
    reach = F.coalesce(
        F.element_at(F.create_map(*[F.lit(x) for kv in _REACHABILITY.items() for x in kv]),
                     F.col(C.EMAIL_STATUS)),
        F.lit(2),
    ) + F.when(F.col(_MERGED_AWAY), F.lit(10)).otherwise(F.lit(0))  # fmt: skip
    return (
        members.groupBy(C.PROFILE_ID)
        .agg(
            F.count(F.lit(1)).alias("record_count"),
            _sorted_set(C.SOURCE).alias("sources"),
            _latest(F.col(C.EMAIL), reach).alias("primary_email"),
            _latest(F.col(C.PHONE)).alias("primary_phone"),
            _latest(F.col(C.USER_ID)).alias("primary_user_id"),
            _sorted_set(C.EMAIL).alias("emails"),
            _sorted_set(C.PHONE).alias("phones"),
            _sorted_set(C.USER_ID).alias("user_ids"),
            _sorted_set(C.DEVICE_ID).alias("device_ids"),
            _latest(F.col(C.FIRST_NAME)).alias(C.FIRST_NAME),
            _latest(F.col(C.LAST_NAME)).alias(C.LAST_NAME),
            F.min(C.EVENT_TS).alias("first_seen"),
            F.max(C.EVENT_TS).alias("last_seen"),
        )
        .withColumn("updated_at", F.lit(run.run_ts).cast("timestamp"))
        .select(*PROFILE_COLUMNS)
    )


def _record_map(members: DataFrame, edges: DataFrame, run: RunContext) -> DataFrame:
    ends = edges.select(F.col(C.SRC).alias(C.RECORD_ID), C.PRIORITY, C.SCORE, C.REASON).unionByName(
        edges.select(F.col(C.DST).alias(C.RECORD_ID), C.PRIORITY, C.SCORE, C.REASON)
    )
    strongest = ends.groupBy(C.RECORD_ID).agg(
        F.min(F.struct(C.PRIORITY, (-F.col(C.SCORE)).alias("s"), C.REASON))[C.REASON].alias(
            C.LINKED_BY
        )
    )
    return (
        members.join(strongest, C.RECORD_ID, "left")
        .withColumn(C.RUN_ID, F.lit(run.run_id))
        .select(*RECORD_MAP_COLUMNS)
    )


def _merge_log(members: DataFrame, edges: DataFrame, run: RunContext) -> DataFrame:
    def end(prefix: str) -> DataFrame:
        return members.select(
            F.col(C.RECORD_ID).alias(f"{prefix}_record"),
            F.coalesce(C.EMAIL, F.lower(F.trim(C.EMAIL_RAW))).alias(f"{prefix}_email"),
            F.col(C.USER_ID).alias(f"{prefix}_external_id"),
            F.col(C.PHONE).alias(f"{prefix}_phone"),
            F.col(C.PROFILE_ID).alias(f"{prefix}_profile"),
        )

    merged_at = F.lit(run.run_ts).cast("timestamp")
    return (
        edges.join(end("source"), F.col(C.SRC) == F.col("source_record"))
        .join(end("destination"), F.col(C.DST) == F.col("destination_record"))
        .select(
            profile_id(F.col(C.SRC)).alias("source_profile_id"),
            "source_email",
            "source_external_id",
            "source_phone",
            F.col("destination_profile").alias("destination_profile_id"),
            "destination_email",
            "destination_external_id",
            "destination_phone",
            merged_at.alias("merged_at"),
            C.REASON,
            C.SCORE,
            F.lit(run.run_id).alias(C.RUN_ID),
            F.col(C.SRC).alias("from_record_id"),
            F.col(C.DST).alias("to_record_id"),
            F.to_date(merged_at).alias("merge_date"),
        )
    )
