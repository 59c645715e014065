"""Survivorship: a profile's golden fields, each chosen by a chain of policies, with provenance.

Every survivable field (or group of fields that survive together) is a **unit**. A unit's
candidates are the profile's records with a non-empty value of it; its chain
(:meth:`GoldenConfig.chain_of`) turns each candidate into a tuple of keys, smaller is better,
one per policy, and the record id ends the tuple. The winner is the candidate with the
smallest tuple: the first policy narrows the candidates, each next one breaks the ties left,
and the smallest record id breaks any tie that remains. It is one ``min`` over a struct per
unit in the profiles' aggregation, so the answer does not depend on partitions or order.

**Provenance** says which policy decided: comparing the winner's keys with those of every
candidate holding a *different* value, the policy at which the last of them fell behind. When
every candidate holds the winner's value the policy is ``single_value``; when two values stay
tied through the whole chain it is ``tie_break`` (the smallest record id).

Keys (all ``long``): ``valid_first`` the email's reachability (valid, suppressed, unknown or
missing, bounced, invalid; a record a transformation merged away after all of them);
``most_recent``/``oldest`` the event time in seconds, records without one last;
``source_priority`` the source's place in the list, unlisted sources after every listed one
and tied; ``most_frequent`` how many records (or distinct sources) of the profile hold the
value, emails counted by their alias-free form; ``most_complete`` how many fields the record
fills; ``longest`` the value's length (a group's: the sum).
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from idres_spark import columns as C
from idres_spark.golden_config import BUILTIN_GOLDEN, GoldenConfig, Policy
from idres_spark.ingest.normalizers import literal_map

PROVENANCE_COLUMNS = (
    C.PROFILE_ID, "field", "field_group", "value", C.RECORD_ID, C.SOURCE, C.SOURCE_RECORD_ID,
    C.EVENT_TS, "policy", "candidates", "distinct_values", "override_id", "override_reason",
    "override_created_by",
)  # fmt: skip
MERGED_AWAY = "_merged_away"  # the record is the source of a transformation edge
_REACHABILITY = {"valid": 0, "suppressed": 1, "unknown": 2, "bounced": 3, "invalid": 4}
_NO_TIME = 1 << 62  # the key of a record without an event time: after every real one
_COMPLETE = "_complete"
_FILLED = (C.EMAIL, C.PHONE, C.USER_ID, C.DEVICE_ID, C.IP, C.FIRST_NAME, C.LAST_NAME)


@dataclass(frozen=True)
class Unit:
    name: str  # a field, or a group's name
    fields: tuple[str, ...]
    chain: tuple[Policy, ...]

    @property
    def grouped(self) -> bool:
        return len(self.fields) > 1

    def column(self, kind: str) -> str:
        return f"_{kind}_{self.name}"


class Survivorship:
    """The golden fields of one config: ``prepare`` the members, aggregate
    :meth:`aggregates` per profile, read the fields with :meth:`columns`, and explain them with
    :meth:`provenance`."""

    def __init__(self, golden: GoldenConfig, custom: list[str] | set[str]):
        self.custom = sorted(custom)
        self.source_priority = golden.source_priority
        self.units = [
            Unit(name, fields, tuple(golden.chain_of(name)))
            for name, fields in golden.units(self.custom)
        ]

    @property
    def fields(self) -> list[str]:
        """Every survivable field, built-in ones first."""
        return [*BUILTIN_GOLDEN, *self.custom]

    # --- per record ----------------------------------------------------------------------

    def _field(self, field: str) -> Column:
        value = F.col(field) if field in BUILTIN_GOLDEN else F.element_at(C.CUSTOM, F.lit(field))
        return F.when(F.trim(value) != "", value)  # empty values are no candidates

    def prepare(self, members: DataFrame) -> DataFrame:
        """Members, partitioned by profile, with each unit's value (``_v_``: a string, a struct
        for a group), its winner over the profile (``_w_``) and the policy at which this
        record's value fell behind (``_at_``, :meth:`_beaten_at`). Every window and the
        caller's ``groupBy(profile_id)`` share the one shuffle by profile id."""
        out = members.repartition(C.PROFILE_ID).select(
            "*",
            *[
                (
                    F.struct(*[self._field(f).alias(f) for f in unit.fields])
                    if unit.grouped
                    else self._field(unit.fields[0])
                ).alias(unit.column("v"))
                for unit in self.units
            ],
        )
        if any(p.name == "most_complete" for u in self.units for p in u.chain):
            filled = [F.col(f).isNotNull().cast("int") for f in _FILLED]
            custom = F.greatest(F.coalesce(F.size(C.CUSTOM), F.lit(0)), F.lit(0))  # null: -1
            out = out.withColumn(_COMPLETE, sum(filled, custom))
        for unit in self.units:
            for by in sorted({p.by for p in unit.chain if p.name == "most_frequent"}):
                same = Window.partitionBy(C.PROFILE_ID, self._frequency_value(unit))
                count = (
                    F.count(F.lit(1)).over(same)
                    if by == "records"
                    else F.size(F.collect_set(C.SOURCE).over(same))
                )
                out = out.withColumn(unit.column(f"freq_{by}"), count)
        profile = Window.partitionBy(C.PROFILE_ID)
        out = out.select(
            "*", *[F.min(self._candidate(u)).over(profile).alias(u.column("w")) for u in self.units]
        )
        return out.select("*", *[self._beaten_at(u).alias(u.column("at")) for u in self.units])

    def _candidate(self, unit: Unit) -> Column:
        """The record as a candidate of ``unit`` (null without a value): its keys, then its
        record id, so the smallest candidate is the winner."""
        keys = [k.alias(f"k{i}") for i, k in enumerate(self._keys(unit))]
        candidate = F.struct(
            *keys, F.col(C.RECORD_ID).alias("id"), F.col(unit.column("v")).alias("value"),
            C.SOURCE, C.SOURCE_RECORD_ID, C.EVENT_TS,
        )  # fmt: skip
        return F.when(self._present(unit), candidate)

    def _present(self, unit: Unit) -> Column:
        value = F.col(unit.column("v"))
        if not unit.grouped:
            return value.isNotNull()
        return F.greatest(*[value[f].isNotNull() for f in unit.fields])

    def _frequency_value(self, unit: Unit) -> Column:
        value = F.col(unit.column("v"))
        if unit.fields == (C.EMAIL,):  # an alias and its address are one value
            return F.coalesce(F.col(C.EMAIL_CANONICAL), value)
        return F.to_json(value) if unit.grouped else value

    def _keys(self, unit: Unit) -> list[Column]:
        return [self._key(unit, policy).cast("long") for policy in unit.chain]

    def _key(self, unit: Unit, policy: Policy) -> Column:
        seconds = F.col(C.EVENT_TS).cast("long")
        name = policy.name
        if name == "most_recent":
            return F.coalesce(-seconds, F.lit(_NO_TIME))
        if name == "oldest":
            return F.coalesce(seconds, F.lit(_NO_TIME))
        if name == "source_priority":
            order = policy.sources or self.source_priority
            places = literal_map({source: i + 1 for i, source in enumerate(order)})
            return F.coalesce(F.element_at(places, F.col(C.SOURCE)), F.lit(len(order) + 1))
        if name == "most_frequent":
            return -F.col(unit.column(f"freq_{policy.by}"))
        if name == "most_complete":
            return -F.col(_COMPLETE)
        if name == "longest":
            value = F.col(unit.column("v"))
            parts = [value[f] for f in unit.fields] if unit.grouped else [value]
            return -sum((F.coalesce(F.length(p), F.lit(0)) for p in parts), F.lit(0))
        if name == "valid_first":
            status = F.element_at(literal_map(_REACHABILITY), F.col(C.EMAIL_STATUS))
            demoted = F.when(F.col(MERGED_AWAY), F.lit(10)).otherwise(F.lit(0))
            return F.coalesce(status, F.lit(2)) + demoted
        raise AssertionError(name)  # the config admits no other policy

    # --- per profile ---------------------------------------------------------------------

    def aggregates(self) -> list[Column]:
        """Aggregate columns of a ``groupBy(profile_id)`` over prepared members: per unit the
        winner (``_w_``), the candidates (``_n_``), the distinct values (``_d_``) and the
        last policy a rival value fell behind at (``_at_``)."""
        out = []
        for unit in self.units:
            present, value = self._present(unit), F.col(unit.column("v"))
            out += [
                F.min(unit.column("w")).alias(unit.column("w")),  # one value per profile
                F.count(F.when(present, F.lit(1))).alias(unit.column("n")),
                F.size(F.collect_set(F.when(present, value))).alias(unit.column("d")),
                F.max(unit.column("at")).alias(unit.column("at")),
            ]
        return out

    def columns(self) -> dict[str, Column]:
        """Profile column -> its golden value, over the aggregated frame."""
        out = {}
        for unit in self.units:
            won = F.col(unit.column("w"))["value"]
            for field in unit.fields:
                out[BUILTIN_GOLDEN.get(field, field)] = won[field] if unit.grouped else won
        return out

    def provenance(self, aggregated: DataFrame) -> DataFrame:
        """One row per profile and golden field with a value: :data:`PROVENANCE_COLUMNS`."""
        rows = []
        for unit in self.units:
            won = F.col(unit.column("w"))
            labels = [p.label for p in unit.chain] + ["tie_break"]
            at = F.col(unit.column("at"))
            policy = F.when(at.isNull(), F.lit("single_value")).otherwise(
                F.element_at(F.array(*[F.lit(x) for x in labels]), (at + 1).cast("int"))
            )
            for field in unit.fields:
                rows.append(
                    F.struct(
                        F.lit(field).alias("field"),
                        F.lit(unit.name if unit.grouped else None)
                        .cast("string")
                        .alias("field_group"),
                        (won["value"][field] if unit.grouped else won["value"]).alias("value"),
                        won["id"].alias(C.RECORD_ID),
                        won[C.SOURCE].alias(C.SOURCE),
                        won[C.SOURCE_RECORD_ID].alias(C.SOURCE_RECORD_ID),
                        won[C.EVENT_TS].alias(C.EVENT_TS),
                        policy.alias("policy"),
                        F.col(unit.column("n")).alias("candidates"),
                        F.col(unit.column("d")).alias("distinct_values"),
                    )  # fmt: skip
                )
        none = F.lit(None).cast("string")
        return (
            aggregated.select(C.PROFILE_ID, F.explode(F.array(*rows)).alias("p"))
            .where(F.col("p.value").isNotNull())
            .select(
                C.PROFILE_ID,
                "p.*",
                none.alias("override_id"),
                none.alias("override_reason"),
                none.alias("override_created_by"),
            )
            .select(*PROVENANCE_COLUMNS)
        )

    def _beaten_at(self, unit: Unit) -> Column:
        """For a candidate holding another value than the winner: the index of the policy at
        which it fell behind (the chain's length: only the record id did); else null."""
        won = F.col(unit.column("w"))
        keys = self._keys(unit)
        at: Column | None = None
        for i in reversed(range(len(keys))):
            step = F.when(keys[i] != won[f"k{i}"], F.lit(i))
            at = step.otherwise(at if at is not None else F.lit(len(keys)))
        assert at is not None  # a chain has at least one policy
        rival = self._present(unit) & ~F.col(unit.column("v")).eqNullSafe(won["value"])
        return F.when(rival, at)
