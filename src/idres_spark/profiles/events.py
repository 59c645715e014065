"""Events stage: events + record map + transformation edges -> events re-keyed to profiles.

An event belongs to a record through ``(source, source_record_id)`` and is carried into that
record's profile, except:

=====================================================  ===========  ========================
event                                                  carried      reason
=====================================================  ===========  ========================
its record is not in the record map (quarantined,      false        ``unknown_record``
unknown id)
email channel, and its record was merged by a         false        ``unreachable_email``
transformation *because its own email is unreachable*
(edge ``unreachable_source``) into a record that
ended in the same profile
anything else (other channels, alias merges, domain    true         null
typos between reachable emails, rule links)
=====================================================  ===========  ========================

An event that is not carried stays with its record: it keeps ``record_id`` and has a null
``profile_id``, so grouping events by ``profile_id`` never counts it, and the record's
profile is one join away in ``record_map``. Channels compare trimmed and case-insensitively
against ``email_channels``. When the graph cut the transformation edge (the two records ended
in different profiles), the record is a profile of its own and its events are carried there.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from idres_spark import columns as C

EVENT_ID = "event_id"
EVENT_TYPE = "event_type"
CHANNEL = "channel"
CARRIED = "carried"
EVENT_COLUMNS = (EVENT_ID, C.SOURCE, C.SOURCE_RECORD_ID, EVENT_TYPE, CHANNEL, C.EVENT_TS)
ROUTED_EVENT_COLUMNS = (
    EVENT_ID, C.RECORD_ID, C.PROFILE_ID, C.SOURCE, C.SOURCE_RECORD_ID, EVENT_TYPE, CHANNEL,
    C.EVENT_TS, CARRIED, C.REASON,
)  # fmt: skip
from idres_spark.schemas import UNREACHABLE_SOURCE  # noqa: E402  (the edge column)

_HELD = "_held"


def route_events(
    events: DataFrame,
    record_map: DataFrame,
    transform_edges: DataFrame,
    email_channels: list[str],
) -> DataFrame:
    """``ROUTED_EVENT_COLUMNS``: one row per event, with its record, profile and routing."""
    channels = sorted({c.strip().lower() for c in email_channels})
    profiles = record_map.select(C.RECORD_ID, C.SOURCE, C.SOURCE_RECORD_ID, C.PROFILE_ID)
    held = _held_records(record_map, transform_edges)
    routed = events.select(*EVENT_COLUMNS).join(
        profiles, [C.SOURCE, C.SOURCE_RECORD_ID], "left"
    ).join(held, C.RECORD_ID, "left")  # fmt: skip
    on_email = F.coalesce(F.lower(F.trim(CHANNEL)).isin(*channels), F.lit(False))
    reason = F.when(F.col(C.RECORD_ID).isNull(), "unknown_record").when(
        F.coalesce(F.col(_HELD), F.lit(False)) & on_email, "unreachable_email"
    )
    return (
        routed.withColumn(C.REASON, reason)
        .withColumn(CARRIED, F.col(C.REASON).isNull())
        .withColumn(C.PROFILE_ID, F.when(F.col(CARRIED), F.col(C.PROFILE_ID)))
        .select(*ROUTED_EVENT_COLUMNS)
    )


def _held_records(record_map: DataFrame, transform_edges: DataFrame) -> DataFrame:
    """``record_id, _held``: records merged away for an unreachable email, merge in effect."""
    profile = record_map.select(C.RECORD_ID, C.PROFILE_ID)
    src = profile.select(F.col(C.RECORD_ID).alias(C.SRC), F.col(C.PROFILE_ID).alias("_p_src"))
    dst = profile.select(F.col(C.RECORD_ID).alias(C.DST), F.col(C.PROFILE_ID).alias("_p_dst"))
    return (
        transform_edges.where(F.col(UNREACHABLE_SOURCE))
        .select(C.SRC, C.DST)
        .join(src, C.SRC)
        .join(dst, C.DST)
        .where(F.col("_p_src") == F.col("_p_dst"))
        .select(F.col(C.SRC).alias(C.RECORD_ID))
        .distinct()
        .withColumn(_HELD, F.lit(True))
    )
