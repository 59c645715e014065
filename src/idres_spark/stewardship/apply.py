"""Steward overrides in a run: the overrides table + the records -> links, separations, blocked
values, the profiles to resolve again, and ``diagnostics/override_status``.

:func:`prepare` collects the overrides and the records their must-link and cannot-link
anchors name (a person-written table: small; see :mod:`idres_spark.stewardship.overrides`),
decides them on the driver and returns a :class:`Stewardship`:

- ``edges``: must-links as links of priority :data:`MUST_LINK_PRIORITY` (above the earlier
  runs' permanent links; never cut by the group limits), reason ``override:<id>``;
- ``cannot``: ``record_id, tag`` rows; the graph's greedy never joins a part holding ``+k``
  with one holding ``-k`` (:mod:`idres_spark.linking.limits`), whatever link would join them,
  permanent ones included; the cut says ``cannot_link:<id>``;
- ``blocked``: (field, value, id): :func:`without_blocked` makes those values null in the
  records that blocking, scoring and the transformations see (the profiles keep them);
- ``unpinned``: ``profile_id, cause``: earlier profiles to resolve again from their records,
  without the star of permanent links that holds them together: those whose records an
  override that changed since the published run names (new, retracted, expired or now
  conflicted), and those an applied cannot-link finds joined. Their records count as new, so
  their pairs are compared again; a profile can then split (:mod:`idres_spark.profiles.ids`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from functools import reduce

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from idres_spark import columns as C
from idres_spark.schemas import EDGE_SCHEMA
from idres_spark.stewardship import overrides as O

MUST_LINK_PRIORITY = -2
OVERRIDE_REASON = "override:"  # + the override id: must-links, split causes
STATUS_SCHEMA = T.StructType(
    [
        T.StructField("override_id", T.StringType()),
        T.StructField("action", T.StringType()),
        T.StructField("status", T.StringType()),
        T.StructField("detail", T.StringType()),
        T.StructField("records", T.LongType()),  # records the anchors named in this run
        T.StructField(C.RUN_ID, T.StringType()),
    ]
)
CANNOT_SCHEMA = "record_id string, tag long"
UNPINNED_SCHEMA = "profile_id string, cause string"
# anchor kind -> the records column it matches (the kinds of overrides.IDENTIFIERS)
IDENTIFIER_COLUMNS = {
    "email": C.EMAIL, "phone": C.PHONE, "user_id": C.USER_ID, "device_id": C.DEVICE_ID,
}  # fmt: skip


@dataclass(frozen=True)
class Stewardship:
    edges: DataFrame  # EDGE_SCHEMA
    cannot: DataFrame  # record_id, tag
    cannot_ids: tuple[str, ...]  # tag k belongs to cannot_ids[k - 1]
    blocked: tuple[tuple[str, str, str], ...]
    unpinned: DataFrame  # profile_id, cause
    keep_id: DataFrame  # record_id: a split part holding one keeps its profile's id
    status: DataFrame  # STATUS_SCHEMA
    any_unpinned: bool


def prepare(
    rows: DataFrame,
    records: DataFrame,
    previous_map: DataFrame | None,
    previous_status: DataFrame | None,
    run_id: str,
    now: dt.datetime,
    settings: O.StewardshipConfig,
    record_map_of: Callable[[int], DataFrame | None] = lambda seq: None,
    erased: tuple[str, ...] = (),
) -> Stewardship:
    """Decide the overrides of ``rows`` (the table, every column text) for this run."""
    spark = records.sparkSession
    parsed, invalid = O.parse_rows([r.asDict() for r in rows.collect()], now)
    linking = [o for o in parsed if o.action in ("must_link", "cannot_link")]
    anchors = sorted({a for o in linking for a in o.anchors}, key=lambda a: a.text)
    named = _records_of(anchors, records, previous_map, record_map_of)
    before, inert = _before(previous_status)
    decision = O.decide(parsed, named["records"], now, strict=settings.strict,
                        max_anchor_records=settings.max_anchor_records,
                        erased=frozenset(erased), inert_before=inert)  # fmt: skip
    statuses = decision.statuses + invalid
    changed = {s.override_id for s in decision.statuses if (s.status == O.APPLIED) != (
        s.override_id in before)}  # fmt: skip
    by_id = {o.override_id: o for o in parsed}
    unpinned = [
        (profile, oid)
        for oid in sorted(changed)
        if by_id[oid].action in ("must_link", "cannot_link")
        for anchor in by_id[oid].anchors
        for profile in named["profiles"].get(anchor, [])
    ]
    profile_of = named["profile_of"]
    for oid, left, right, _ in decision.cannot:  # joined now: resolved again, then split
        together = {profile_of.get(r) for r in left} & {profile_of.get(r) for r in right}
        unpinned += [(p, oid) for p in sorted(together - {None})]
    unpinned = [(profile, OVERRIDE_REASON + oid) for profile, oid in unpinned]
    unpinned_frame = spark.createDataFrame(unpinned, UNPINNED_SCHEMA)
    block_changed = [
        (by_id[oid].anchors[0], oid) for oid in sorted(changed)
        if by_id[oid].action == "block_identifier"
    ]  # fmt: skip
    if block_changed and previous_map is not None:
        unpinned_frame = unpinned_frame.unionByName(_holding(records, previous_map, block_changed))
    unpinned_frame = unpinned_frame.groupBy(C.PROFILE_ID).agg(F.min("cause").alias("cause"))
    tags, keep = [], []
    for k, (_, left, right, side) in enumerate(decision.cannot, 1):
        tags += [(r, k) for r in left] + [(r, -k) for r in right]
        keep += [(r,) for r in (left if side == 1 else right if side == 2 else [])]
    return Stewardship(
        edges=spark.createDataFrame(
            [
                (src, dst, OVERRIDE_REASON + oid, MUST_LINK_PRIORITY, 1.0, False)
                for src, dst, oid in decision.must_links
            ],
            EDGE_SCHEMA,
        ),  # fmt: skip
        cannot=spark.createDataFrame(tags, CANNOT_SCHEMA),
        cannot_ids=tuple(oid for oid, *_ in decision.cannot),
        blocked=tuple(decision.blocked),
        unpinned=unpinned_frame,
        keep_id=spark.createDataFrame(keep, "record_id string"),
        status=spark.createDataFrame(
            [(s.override_id, s.action, s.status, s.detail, s.records, run_id) for s in statuses],
            STATUS_SCHEMA,
        ),
        any_unpinned=bool(unpinned or block_changed),
    )


def _records_of(anchors, records, previous_map, record_map_of) -> dict[str, dict]:
    """Per anchor: the records it names this run, and their earlier profiles; per record of
    those: its earlier profile."""
    found: dict[O.Anchor, list[str]] = {a: [] for a in anchors}
    profiles: dict[O.Anchor, list[str]] = {a: [] for a in anchors}
    parts = []
    for anchor in anchors:
        key = F.lit(anchor.text).alias("anchor")
        if anchor.kind == "record":
            parts.append(records.where(F.col(C.RECORD_ID) == anchor.value).select(key, C.RECORD_ID))
        elif anchor.kind in IDENTIFIER_COLUMNS:
            column = F.col(IDENTIFIER_COLUMNS[anchor.kind])
            parts.append(records.where(column == anchor.value).select(key, C.RECORD_ID))
        elif anchor.kind == "profile":
            source = record_map_of(anchor.run_seq) if anchor.run_seq is not None else previous_map
            if source is not None:
                held = source.where(F.col(C.PROFILE_ID) == anchor.value).select(C.RECORD_ID)
                # records the state still holds (an erased or replaced id names nothing)
                parts.append(held.join(records.select(C.RECORD_ID), C.RECORD_ID).select(
                    key, C.RECORD_ID))  # fmt: skip
    profile_of: dict[str, str] = {}
    if parts:
        named = reduce(DataFrame.unionByName, parts)
        if previous_map is not None:
            named = named.join(previous_map.select(C.RECORD_ID, C.PROFILE_ID), C.RECORD_ID, "left")
        else:
            named = named.withColumn(C.PROFILE_ID, F.lit(None).cast("string"))
        by_text = {a.text: a for a in anchors}
        for row in named.distinct().collect():
            anchor = by_text[row["anchor"]]
            found[anchor].append(row[C.RECORD_ID])
            if row[C.PROFILE_ID] is not None:
                profiles[anchor].append(row[C.PROFILE_ID])
                profile_of[row[C.RECORD_ID]] = row[C.PROFILE_ID]
    return {"records": found, "profiles": profiles, "profile_of": profile_of}


def _before(previous_status: DataFrame | None) -> tuple[set[str], frozenset[str]]:
    """(the overrides applied by the published run, those it found inert)."""
    if previous_status is None:
        return set(), frozenset()
    rows = previous_status.where(F.col("status").isin(O.APPLIED, O.INERT)).collect()
    applied = {r.override_id for r in rows if r.status == O.APPLIED}
    return applied, frozenset(r.override_id for r in rows if r.status == O.INERT)


def _holding(records: DataFrame, previous_map: DataFrame, blocked) -> DataFrame:
    """``profile_id, cause``: the earlier profiles of the records holding a blocked value."""
    parts = [
        records.where(F.col(IDENTIFIER_COLUMNS[a.kind]) == a.value).select(
            C.RECORD_ID, F.lit(OVERRIDE_REASON + oid).alias("cause")
        )
        for a, oid in blocked
    ]
    holding = reduce(DataFrame.unionByName, parts)
    return holding.join(previous_map.select(C.RECORD_ID, C.PROFILE_ID), C.RECORD_ID).select(
        C.PROFILE_ID, "cause"
    )


def without_blocked(records: DataFrame, blocked: tuple[tuple[str, str, str], ...]) -> DataFrame:
    """``records`` with every blocked value null (an email also in its canonical form)."""
    by_field: dict[str, list[str]] = {}
    for kind, value, _ in blocked:
        by_field.setdefault(IDENTIFIER_COLUMNS[kind], []).append(value)
    for column, values in by_field.items():
        records = records.withColumn(column, F.when(~F.col(column).isin(values), F.col(column)))
        if column == C.EMAIL:
            canonical = F.col(C.EMAIL_CANONICAL)
            records = records.withColumn(
                C.EMAIL_CANONICAL, F.when(F.col(C.EMAIL).isNotNull(), canonical)
            )
    return records


def unpin(records: DataFrame, unpinned: DataFrame, previous_map: DataFrame) -> DataFrame:
    """``records`` whose earlier profile is resolved again count as new (``is_new``)."""
    again = previous_map.join(unpinned.select(C.PROFILE_ID), C.PROFILE_ID).select(
        C.RECORD_ID, F.lit(True).alias("_again")
    )
    return (
        records.join(again, C.RECORD_ID, "left")
        .withColumn(C.IS_NEW, F.col(C.IS_NEW) | F.coalesce("_again", F.lit(False)))
        .drop("_again")
    )


def pinned(previous_map: DataFrame, unpinned: DataFrame) -> DataFrame:
    """The earlier record map without the profiles resolved again (their permanent links go)."""
    return previous_map.join(unpinned.select(C.PROFILE_ID), C.PROFILE_ID, "left_anti")
