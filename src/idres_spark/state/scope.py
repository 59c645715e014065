"""Scope: which earlier profiles a run recomputes and which it carries over unchanged.

An incremental run on a small batch recomputes only its **affected set**
(docs/operations.md, "What a nightly run costs"):

* the records new to the state or changed in this batch (``is_new``);
* the links found this run: candidate pairs with at least one such record, and transformation
  pairs within the phone groups that hold one;
* the **touched profiles**: the earlier profiles of every record that a new link touches
  (a changed record's earlier profile among them);
* the records of the touched profiles and the new records, with the permanent links of the
  touched profiles only.

Connected components, limits, profile ids, survivorship, record map rows and merge-log rows
are computed over that set alone. Every other earlier profile is joined by no new link, so
its component is itself, its id stays, and its profile and record map rows are carried into
the new state as they are. The key sets (touched profile ids, affected record ids) are small
and broadcast: the untouched rows are read and written once, filtered map-side, never
shuffled, sorted or aggregated.

:func:`whole` is the same computation over everything (the first run, a run whose rules
changed, a batch too large to broadcast); it is also the reference the property test
compares the affected set with (tests/e2e/test_incremental_scope.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from idres_spark import columns as C
from idres_spark.golden_config import STEWARD_POLICY
from idres_spark.state.store import PreviousState

# batches up to this many new or changed records take the affected-set path, whose key sets
# are broadcast (a few tens of bytes per record id); larger ones resolve everything again
MAX_AFFECTED_BATCH = 2_000_000


@dataclass(frozen=True)
class Scope:
    """The records a run resolves and the earlier state it resolves them against."""

    records: DataFrame  # the records to resolve (with ``is_new``)
    previous_map: DataFrame | None  # earlier record_map rows of those records
    previous_profiles: DataFrame | None  # earlier profiles those records belonged to
    carried_map: DataFrame | None = None  # earlier record_map rows kept as they are
    carried_profiles: DataFrame | None = None  # earlier profiles kept as they are
    carried_provenance: DataFrame | None = None  # and their earlier provenance rows
    touched_profiles: int | None = None  # earlier profiles recomputed (None: all of them)

    @property
    def partial(self) -> bool:
        return self.carried_map is not None


def whole(records: DataFrame, previous: PreviousState | None) -> Scope:
    """Resolve every record of the state again (earlier profiles held by permanent links)."""
    return Scope(
        records,
        previous.record_map if previous else None,
        previous.profiles if previous else None,
    )


def affected(
    records: DataFrame,
    new_links: DataFrame,
    previous: PreviousState,
    materialize: Callable[[DataFrame], DataFrame],
    new_records: DataFrame | None = None,
) -> Scope:
    """The affected set of a batch: ``records`` is the whole records state with ``is_new``
    (``new_records``, when given, its new records), ``new_links`` the links found this run
    (``src``, ``dst``); see the module docstring."""
    fresh = new_records if new_records is not None else records
    new_ids = fresh.where(F.col(C.IS_NEW)).select(C.RECORD_ID)
    ends = new_links.select(F.col(C.SRC).alias(C.RECORD_ID)).unionByName(
        new_links.select(F.col(C.DST).alias(C.RECORD_ID))
    )
    touched_ids = new_ids.unionByName(ends).distinct()
    earlier = previous.record_map
    touched = earlier.join(F.broadcast(touched_ids), C.RECORD_ID, "left_semi").select(C.PROFILE_ID)
    if previous.provenance is not None:  # a steward value may have been withdrawn since
        touched = touched.unionByName(
            previous.provenance.where(F.col("policy") == STEWARD_POLICY).select(C.PROFILE_ID)
        )
    touched = materialize(touched.distinct())
    scope_map = materialize(filtered(earlier, touched, C.PROFILE_ID, "left_semi"))
    affected_ids = scope_map.select(C.RECORD_ID).unionByName(new_ids).distinct()
    return Scope(
        records=materialize(filtered(records, affected_ids, C.RECORD_ID, "left_semi")),
        previous_map=scope_map,
        previous_profiles=filtered(previous.profiles, touched, C.PROFILE_ID, "left_semi"),
        carried_map=filtered(earlier, touched, C.PROFILE_ID, "left_anti"),
        carried_profiles=filtered(previous.profiles, touched, C.PROFILE_ID, "left_anti"),
        carried_provenance=(
            filtered(previous.provenance, touched, C.PROFILE_ID, "left_anti")
            if previous.provenance is not None
            else None
        ),
        touched_profiles=touched.count(),
    )


def filtered(table: DataFrame, keys: DataFrame, key: str, how: str = "left_semi") -> DataFrame:
    """``table``'s rows whose ``key`` is (``left_semi``) or is not (``left_anti``) among the
    small ``keys``: a map-side filter against their broadcast, columns in the table's order."""
    return table.join(F.broadcast(keys), key, how).select(*table.columns)
