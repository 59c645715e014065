"""Erasure requests in a run: the requests table + the state -> the records to erase, the
suppression list, the profiles to resolve again, and ``diagnostics/erasure_audit``.

:func:`prepare` runs before the records table is written. It decides the requests no
earlier run decided (:mod:`idres_spark.stewardship.requests`), collects the records their
selectors name (a request names one person: a few records), and returns an
:class:`ErasurePlan`; :func:`drop_suppressed` drops the batch's records that a suppressed
record id or identifier names, before anything else sees them. What erasure does to the
outputs (docs/stewardship.md):

- erased records leave the records table, the record map, the profiles and their
  provenance; a profile that loses some of its records is resolved again (it may split;
  cause ``erasure:<request id>``); a profile that loses all of them is gone for good, and its
  id joins ``erased_profiles`` so that no later profile takes it;
- the merge log keeps every row, without the erased records' values: any email, phone or
  external id an erased record held goes from every row (where another record shares it
  too: erasure errs on the side of forgetting), and a link row's erased end loses its
  record id (:func:`scrub_merge_log`);
- suppression keeps keyed hashes (HMAC-SHA256 under a secret key from the environment,
  :func:`idres_spark.stewardship.requests.keyed_hash`), never values.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from functools import reduce

import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from idres_spark import columns as C
from idres_spark.stewardship import requests as R
from idres_spark.stewardship.apply import IDENTIFIER_COLUMNS

ERASURE_REASON = "erasure:"  # + the request id: the cause of a split
SUPPRESSION_SCHEMA = "hash string, kind string, request_id string"
ERASED_PROFILES_SCHEMA = "profile_id string, request_id string, run_id string"
AUDIT_SCHEMA = T.StructType(
    [
        T.StructField("request_id", T.StringType()),
        T.StructField("selector_hash", T.StringType()),  # keyed hash of the selector
        T.StructField("action", T.StringType()),
        T.StructField("scope", T.StringType()),
        T.StructField("status", T.StringType()),  # applied | complete | no_match | invalid
        T.StructField("records_removed", T.LongType()),
        T.StructField("profiles_retired", T.LongType()),
        T.StructField("profiles_changed", T.LongType()),
        T.StructField("applied_run_id", T.StringType()),
        T.StructField("applied_seq", T.LongType()),
        T.StructField("detail", T.StringType()),
        T.StructField(C.RUN_ID, T.StringType()),  # the run that wrote this row
    ]
)
_FIELD = IDENTIFIER_COLUMNS
_VALUES = (C.EMAIL, C.EMAIL_RAW, C.PHONE, C.PHONE_RAW, C.USER_ID, C.DEVICE_ID)


@dataclass(frozen=True)
class ErasurePlan:
    erased: DataFrame  # record_id: leave the state
    erased_values: tuple[str, ...]  # every identifier value an erased record held
    unpinned: DataFrame  # profile_id, cause: earlier profiles that lost some records
    erased_profiles: DataFrame  # ERASED_PROFILES_SCHEMA: every profile erasure ever retired
    suppression: DataFrame  # SUPPRESSION_SCHEMA: the whole list after this run
    audit: DataFrame  # AUDIT_SCHEMA: every request ever read
    any_erased: bool
    suppressing: bool  # the suppression list holds something


def at_read(
    arrived, requests, previous, run, key: bytes | None, oldest_retained_seq, history_days=None
):
    """(``arrived`` without erased and suppressed records, ``previous`` without erased
    records, the plan, the ``record_id`` of the batch's suppressed records) before anything
    else sees the batch; (arrived, previous, None, None) when there is nothing to do."""
    listed = previous is not None and previous.suppression is not None
    listed = listed and previous.suppression.limit(1).count() > 0
    if requests is None and not listed:
        return arrived, previous, None, None
    plan = prepare(
        requests, arrived, previous, run.run_id, run.seq, key, oldest_retained_seq,
        history_days=history_days, run_date=run.run_ts.date(),
    )  # fmt: skip
    if plan.any_erased:
        arrived = arrived.join(plan.erased, C.RECORD_ID, "left_anti")
        if previous is not None:
            previous = replace(
                previous,
                records=previous.records.join(plan.erased, C.RECORD_ID, "left_anti"),
                record_map=previous.record_map.join(plan.erased, C.RECORD_ID, "left_anti"),
            )
    suppressed = None
    if plan.suppressing:
        if key is None:
            raise _missing_key()
        arrived, suppressed = drop_suppressed(arrived, plan.suppression, key)
    return arrived, previous, plan, suppressed


def prepare(
    rows: DataFrame | None,
    arrived: DataFrame,
    previous,  # PreviousState | None
    run_id: str,
    run_seq: int,
    key: bytes | None,
    oldest_retained_seq: int | None,
    history_days: int | None = None,
    run_date: dt.date | None = None,
) -> ErasurePlan:
    """Decide the requests of ``rows`` against the state and this batch (``arrived``).
    ``history_days`` (Delta or Iceberg output): an applied request is complete only once
    the tables' history of that many days no longer reaches back to the run that applied it."""
    spark = arrived.sparkSession
    parsed, invalid = R.parse_rows([r.asDict() for r in rows.collect()] if rows is not None else [])
    earlier = _earlier_audit(previous)
    new = [r for r in parsed if r.request_id not in earlier]
    if new and key is None and any(r.suppresses or r.action == "unsuppress" for r in new):
        raise _missing_key()
    records = arrived.select(C.RECORD_ID, *_VALUES)
    record_map = None
    if previous is not None:
        records = previous.records.select(C.RECORD_ID, *_VALUES).unionByName(records)
        record_map = previous.record_map.select(C.RECORD_ID, C.PROFILE_ID)
    named = _named(new, records, record_map)
    sizes = _sizes(previous, {p for rows_ in named.values() for _, p, _ in rows_})
    erased: dict[str, str] = {}  # record id -> the request that erased it
    values: set[str] = set()
    suppress = {(h, k): rid for h, k, rid in _rows(previous, "suppression")}
    audit = []
    for r in new:
        hits = named.get(r.request_id, [])
        removed = {rec: p for rec, p, _ in hits if r.erases and rec not in erased}
        for rec, _, held in hits:
            if r.erases:
                erased.setdefault(rec, r.request_id)
                values.update(v for v in held if v)
        by_profile: dict[str, int] = {}
        for p in removed.values():
            if p is not None:
                by_profile[p] = by_profile.get(p, 0) + 1
        retired = sum(1 for p, n in by_profile.items() if sizes.get(p, n) <= n)
        if key is not None:
            wanted = [(r.selector.kind, r.selector.value)] + [("record", rec) for rec in removed]
            for kind, value in wanted:
                entry = (R.keyed_hash(key, kind, value), kind)
                if r.suppresses:
                    suppress[entry] = r.request_id
                elif r.action == "unsuppress":
                    suppress.pop(entry, None)
        status = "applied" if hits or not r.erases else "no_match"
        audit.append((r.request_id, _selector_hash(key, r), r.action, r.scope, status,
                      len(removed), retired, len(by_profile) - retired, run_id, run_seq,
                      "" if hits or not r.erases else "no record matched", run_id))  # fmt: skip
    audit += [
        (rid, None, None, None, "invalid", 0, 0, 0, None, None, why, run_id) for rid, why in invalid
    ]
    for row in earlier.values():  # decided before: only its status can change
        done = row["status"] == "applied" and oldest_retained_seq is not None and (
            oldest_retained_seq >= row["applied_seq"]) and _history_clear(
            row["applied_run_id"], history_days, run_date)  # fmt: skip
        audit.append(tuple({**row, "status": "complete" if done else row["status"],
                            C.RUN_ID: run_id}[f.name] for f in AUDIT_SCHEMA.fields))  # fmt: skip
    erased_frame = spark.createDataFrame([(k, v) for k, v in sorted(erased.items())],
                                         "record_id string, request_id string")  # fmt: skip
    unpinned, gone = _profiles(spark, erased_frame, record_map, sizes)
    retired_ids = spark.createDataFrame(
        [(p, rid, run_id) for p, rid in gone], ERASED_PROFILES_SCHEMA
    )
    if previous is not None and getattr(previous, "erased_profiles", None) is not None:
        retired_ids = previous.erased_profiles.unionByName(retired_ids)
    return ErasurePlan(
        erased=erased_frame.select(C.RECORD_ID),
        erased_values=tuple(sorted(values)),
        unpinned=unpinned,
        erased_profiles=retired_ids,
        suppression=spark.createDataFrame(
            [(h, k, rid) for (h, k), rid in sorted(suppress.items())], SUPPRESSION_SCHEMA
        ),
        audit=spark.createDataFrame(audit, AUDIT_SCHEMA),
        any_erased=bool(erased),
        suppressing=bool(suppress),
    )


def _history_clear(applied_run_id: str, history_days: int | None, run_date) -> bool:
    """Without published tables' history (``history_days`` None), or once ``history_days``
    have passed since the logical date of the run that applied the request (its run id's
    ``yyyymmdd``)."""
    if history_days is None:
        return True
    applied = dt.datetime.strptime(applied_run_id.split("-")[1], "%Y%m%d").date()
    return run_date is not None and (run_date - applied).days > history_days


def _missing_key() -> Exception:
    from idres_spark.errors import UsageError

    return UsageError(
        f"stewardship.erasure: a request suppresses data, but the environment variable "
        f"{R.KEY_ENV} (stewardship.suppression_key_env) is not set. Set it to a secret of "
        "at least 16 characters (on Databricks, from a secret scope); keep it out of the "
        "data: it keys the hashes of the suppression list",
        code="suppression_key_missing",
    )


def _selector_hash(key: bytes | None, r: R.Request) -> str | None:
    return R.keyed_hash(key, r.selector.kind, r.selector.value) if key is not None else None


def _earlier_audit(previous) -> dict[str, dict]:
    rows = _rows(previous, "erasure_audit", as_dict=True)
    return {row["request_id"]: row for row in rows if row["status"] != "invalid"}


def _rows(previous, name: str, as_dict: bool = False) -> list:
    frame = getattr(previous, name, None) if previous is not None else None
    if frame is None:
        return []
    return [r.asDict() if as_dict else tuple(r) for r in frame.collect()]


def _named(new: list[R.Request], records: DataFrame, record_map: DataFrame | None):
    """request id -> [(record id, earlier profile or None, its values)] of the erasing
    requests (suppress-only and unsuppress requests erase nothing)."""
    parts = []
    for r in new:
        if not r.erases:
            continue
        rid = F.lit(r.request_id).alias("request_id")
        if r.selector.kind == "record":
            hit = records.where(F.col(C.RECORD_ID) == r.selector.value)
        elif r.selector.kind == "profile":
            if record_map is None:
                continue
            ids = record_map.where(F.col(C.PROFILE_ID) == r.selector.value).select(C.RECORD_ID)
            hit = records.join(ids, C.RECORD_ID, "left_semi")
        else:
            hit = records.where(F.col(_FIELD[r.selector.kind]) == r.selector.value)
        if r.scope == "connected" and record_map is not None:
            profiles = hit.join(record_map, C.RECORD_ID).select(C.PROFILE_ID)
            ids = record_map.join(profiles, C.PROFILE_ID, "left_semi").select(C.RECORD_ID)
            hit = hit.unionByName(records.join(ids, C.RECORD_ID, "left_semi"))
        parts.append(hit.select(rid, *hit.columns).distinct())
    if not parts:
        return {}
    named = reduce(DataFrame.unionByName, parts)
    if record_map is not None:
        named = named.join(record_map, C.RECORD_ID, "left")
    else:
        named = named.withColumn(C.PROFILE_ID, F.lit(None).cast("string"))
    out: dict[str, list] = {}
    for row in named.collect():
        held = tuple(row[c] for c in _VALUES) + (row[C.RECORD_ID],)
        out.setdefault(row["request_id"], []).append((row[C.RECORD_ID], row[C.PROFILE_ID], held))
    return out


def _sizes(previous, profiles: set[str]) -> dict[str, int]:
    if previous is None or not profiles:
        return {}
    rows = (
        previous.profiles.where(F.col(C.PROFILE_ID).isin(sorted(profiles)))
        .select(C.PROFILE_ID, "record_count")
        .collect()
    )
    return {r[C.PROFILE_ID]: int(r["record_count"]) for r in rows}


def _profiles(spark, erased: DataFrame, record_map: DataFrame | None, sizes: dict[str, int]):
    """(unpinned ``profile_id, cause``; [(profile id, request id)] of the profiles erased
    whole), from the erased records' earlier profiles."""
    if record_map is None:
        return spark.createDataFrame([], "profile_id string, cause string"), []
    rows = erased.join(record_map, C.RECORD_ID).groupBy(C.PROFILE_ID).agg(
        F.count(F.lit(1)).alias("n"), F.min("request_id").alias("request_id")
    ).collect()  # fmt: skip
    gone = sorted((r[C.PROFILE_ID], r["request_id"]) for r in rows
                  if sizes.get(r[C.PROFILE_ID], r["n"]) <= r["n"])  # fmt: skip
    left = sorted((r[C.PROFILE_ID], ERASURE_REASON + r["request_id"]) for r in rows
                  if sizes.get(r[C.PROFILE_ID], r["n"]) > r["n"])  # fmt: skip
    return spark.createDataFrame(left, "profile_id string, cause string"), gone


def drop_suppressed(
    records: DataFrame, suppression: DataFrame, key: bytes
) -> tuple[DataFrame, DataFrame]:
    """(``records`` without those whose record id or identifier a suppressed hash names;
    ``record_id`` of the dropped ones)."""
    hashes = _hashes(key)(*[F.col(c) for c in (C.RECORD_ID, *_FIELD.values())])
    listed = suppression.select(F.col("hash").alias("_hash"))
    keyed = records.withColumn("_hashes", hashes)
    exploded = keyed.select(C.RECORD_ID, F.explode("_hashes").alias("_hash"))
    hit = exploded.join(F.broadcast(listed), "_hash", "left_semi").select(C.RECORD_ID).distinct()
    return keyed.drop("_hashes").join(hit, C.RECORD_ID, "left_anti"), hit


def _hashes(key: bytes, kinds: tuple[str, ...] = ("record", *_FIELD)):
    """A vectorized UDF: the keyed hashes of a record's id and identifiers (nulls skipped).
    The key travels in the function's closure, never in the plan's text."""

    @F.pandas_udf(T.ArrayType(T.StringType()))
    def keyed(*columns: pd.Series) -> pd.Series:
        out = []
        for values in zip(*columns, strict=True):
            out.append([R.keyed_hash(key, k, v) for k, v in zip(kinds, values, strict=True)
                        if isinstance(v, str)])  # fmt: skip
        return pd.Series(out)

    return keyed


def scrub_merge_log(log: DataFrame, erased: DataFrame, values: tuple[str, ...]) -> DataFrame:
    """The merge log without the erased records' values: an erased end of a link row loses
    its record id and values; any email, phone or external id an erased record held goes
    from every row."""
    ids = erased.select(F.col(C.RECORD_ID).alias("_erased"), F.lit(True).alias("_gone"))
    marked = log
    for end, gone in (("from_record_id", "_from_gone"), ("to_record_id", "_to_gone")):
        ends = F.broadcast(ids.withColumnRenamed("_gone", gone))
        marked = marked.join(ends, F.col(end) == F.col("_erased"), "left").drop("_erased")
    known = list(values)

    def clean(name: str, gone: str) -> Column:
        value = F.col(name)
        held = value.isin(known) if known else F.lit(False)
        return F.when(F.coalesce(F.col(gone), F.lit(False)) | held, None).otherwise(value)

    columns = {}
    for side, gone in (("source", "_from_gone"), ("destination", "_to_gone")):
        for part in ("email", "external_id", "phone"):
            columns[f"{side}_{part}"] = clean(f"{side}_{part}", gone)
    columns["from_record_id"] = clean("from_record_id", "_from_gone")
    columns["to_record_id"] = clean("to_record_id", "_to_gone")
    return marked.select(*[columns.get(c, F.col(c)).alias(c) for c in log.columns])


def without_erased_events(event_rows: DataFrame, plan: ErasurePlan, key: bytes | None) -> DataFrame:
    """The events whose record this run erased, or whose record id is suppressed, dropped."""
    record_id = F.concat_ws(":", C.SOURCE, C.SOURCE_RECORD_ID)
    keyed = event_rows.withColumn("_event_record", record_id)
    erased = plan.erased.select(F.col(C.RECORD_ID).alias("_event_record"))
    kept = keyed.join(F.broadcast(erased), "_event_record", "left_anti")
    if plan.suppressing and key is not None:
        hashed = _hashes(key, ("record",))(F.col("_event_record"))
        listed = plan.suppression.select(F.col("hash").alias("_hash"))
        kept = (
            kept.withColumn("_hash", F.element_at(hashed, 1))
            .join(F.broadcast(listed), "_hash", "left_anti")
            .drop("_hash")
        )
    return kept.drop("_event_record")
