"""The functional core: raw source frames (+ the published state) + config -> every table.

Only this module chains stages. It does no I/O of its own and creates no session; the entry
points may pass a ``materialize`` strategy (a checkpoint that cuts lineage; the default is a
reliable Spark checkpoint) used at the boundaries later stages read many times: the records,
the edges, the groups and the records with their profile ids.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import reduce
from typing import Any

from pyspark.sql import DataFrame, Observation
from pyspark.sql import functions as F

from idres_spark import columns as C
from idres_spark.config import Config
from idres_spark.golden_config import PROFILE_COLUMNS
from idres_spark.ingest import normalize, read
from idres_spark.linking import graph
from idres_spark.linking.components import Checkpointer, spark_checkpoint
from idres_spark.matching import block, score, transform
from idres_spark.probabilistic import resolve as probabilistic
from idres_spark.profiles import events, golden, steward
from idres_spark.profiles import ids as profile_ids
from idres_spark.profiles.merge_log import build_merge_log
from idres_spark.profiles.survivorship import Survivorship
from idres_spark.run_context import RunContext
from idres_spark.state import history
from idres_spark.state import scope as scope_of
from idres_spark.state.store import PreviousState
from idres_spark.stewardship import apply as stewardship
from idres_spark.stewardship import erasure
from idres_spark.timing import StageTimer


@dataclass(frozen=True)
class ResolutionResult:
    """Every table a run produces; ``tables()`` maps run-folder paths to frames."""

    profiles: DataFrame
    record_map: DataFrame
    provenance: DataFrame  # profile_field_provenance: where each golden value came from
    merge_log: DataFrame  # the whole log: earlier runs' rows and this run's
    new_merges: DataFrame  # this run's rows only
    retired: DataFrame  # earlier profile id -> the profile it merged into
    quarantine: DataFrame
    hubs: DataFrame
    pruned_groups: DataFrame
    transformation_no_merge: DataFrame
    records: DataFrame  # the records state (every record, with fingerprints) + is_new
    edges: DataFrame
    events: DataFrame | None = None
    override_status: DataFrame | None = None  # diagnostics/golden_override_status
    steward_status: DataFrame | None = None  # diagnostics/override_status (stewardship)
    splits: DataFrame | None = None  # earlier profile id -> a new profile split off it
    erasure: Any = None  # the ErasurePlan of stewardship.erasure, when there is one
    probabilistic: Any = None  # probabilistic.resolve.Result, when the section is enabled
    suppressed: DataFrame | None = None  # record_id of the batch's suppressed records
    observations: tuple[Observation, ...] = ()  # figures counted while the stages ran
    records_stored: bool = False  # the records table is already written (``store_records``)
    # table -> an earlier run's folder of it whose files the new table starts from (the new
    # frame holds only the rows to add): the merge log, which only grows
    appended: dict[str, str] = field(default_factory=dict)
    recomputed_profiles: DataFrame | None = None  # the profiles this run computed
    previous_profiles: DataFrame | None = None  # their earlier versions (incremental runs)
    scope: str = "all"  # "affected": only the batch's affected set was resolved
    scope_reason: str | None = None  # why everything was resolved
    profiles_recomputed: int | None = None  # earlier profiles the affected set touched

    def observed(self) -> dict[str, Any]:
        """The counted figures (``batch_records``: valid records read in
        this batch, ``candidate_pairs``). Call after the tables are written: an
        observation is filled by the first action over its frame and waits until then."""
        figures: dict[str, Any] = {name: 0 for name in OBSERVED}
        dropped: dict[str, dict[str, int]] = {}
        for observation in self.observations:
            for name, value in _observed(observation).items():
                if name.startswith(normalize.DROPPED_PREFIX):
                    field, reason = name[len(normalize.DROPPED_PREFIX) :].split(".")
                    if value:
                        dropped.setdefault(field, {})[reason] = int(value)
                else:
                    figures[name] = value
        figures["values_dropped"] = dropped  # field -> reason -> values made null
        return figures

    def tables(self) -> dict[str, DataFrame]:
        tables = {
            "profiles": self.profiles,
            "record_map": self.record_map,
            "profile_field_provenance": self.provenance,
            "merge_log": self.new_merges if "merge_log" in self.appended else self.merge_log,
            "diagnostics/quarantine": self.quarantine,
            "diagnostics/hubs": self.hubs,
            "diagnostics/pruned_groups": self.pruned_groups,
            "diagnostics/transformation_no_merge": self.transformation_no_merge,
        }
        if not self.records_stored:
            tables["records"] = self.records.select(*history.STATE_COLUMNS)
        if self.events is not None:
            tables["events"] = self.events
        if self.override_status is not None:
            tables["diagnostics/golden_override_status"] = self.override_status
        if self.steward_status is not None:
            tables["diagnostics/override_status"] = self.steward_status
        if self.probabilistic is not None:
            tables["diagnostics/probabilistic_links"] = self.probabilistic.outcome.links
            tables["diagnostics/suggested_merges"] = self.probabilistic.outcome.suggested
            for name, table in self.probabilistic.term_frequencies.items():
                tables[probabilistic.TF_TABLE.format(name)] = table
        if self.erasure is not None:
            tables["suppression"] = self.erasure.suppression
            tables["erased_profiles"] = self.erasure.erased_profiles
            tables["diagnostics/erasure_audit"] = self.erasure.audit
        return tables


OBSERVED = ("batch_records", "candidate_pairs")
# a run's records table up to this size is small: its checkpoints are local ones (see
# resolve); docs/benchmarks.md "Small runs" measured the saving
SMALL_RUN_RECORDS = int(os.environ.get("IDRES_SMALL_RUN_RECORDS", "200000"))
# a small run up to this size evaluates its expressions without generated code: compiling it
# costs more than it saves on a few thousand rows (docs/benchmarks.md "Small runs")
INTERPRETED_RUN_RECORDS = int(os.environ.get("IDRES_INTERPRETED_RUN_RECORDS", "20000"))


def _observed(observation: Observation) -> dict[str, int]:
    """An observation's figures, or none when no task ran over its frame: Spark skips the
    tasks of a frame it knows to be empty (an empty batch, no candidate pairs), and Spark 4
    then has no row to give (an assertion error in ``toPyRow``) where the count is 0."""
    try:
        return observation.get
    except Exception:  # py4j wraps the JVM's AssertionError
        return {}


def resolve(
    sources: dict[str, DataFrame],
    config: Config,
    run: RunContext,
    *,
    previous: PreviousState | None = None,
    materialize: Callable[[DataFrame], DataFrame] = spark_checkpoint,
    store_records: Callable[..., DataFrame] | None = None,
    graph_checkpoint: Checkpointer | None = None,
    timer: StageTimer | None = None,
    event_rows: DataFrame | None = None,
    scope: str = "auto",
    golden_overrides: DataFrame | None = None,
    small_run_checkpoint: Checkpointer | None = None,
    steward_overrides: DataFrame | None = None,
    record_map_of: Callable[[int], DataFrame | None] | None = None,
    erasure_requests: DataFrame | None = None,
    erasure_key: bytes | None = None,
    oldest_retained_seq: int | None = None,
    probabilistic_model: probabilistic.SavedModel | None = None,
    interpret: Callable[[], None] | None = None,
) -> ResolutionResult:
    """Resolve one batch; with ``previous`` (incremental mode) against the published state.

    ``event_rows`` (canonical events) are re-keyed to profiles. ``store_records(frame,
    carried_from=None)`` writes the records table and returns it read back (default:
    ``materialize``, and the table is written with the others); with ``carried_from`` the
    table is that earlier table's files plus ``frame``'s rows (a batch of records that are all
    new to the state). ``scope="all"`` resolves every record of the state again even
    where the batch's affected set would do (:mod:`idres_spark.state.scope`); the answer is
    the same. ``golden_overrides`` (steward values, :mod:`idres_spark.profiles.steward`) are
    applied to the profiles last. ``small_run_checkpoint`` replaces ``materialize`` and
    ``graph_checkpoint`` after the records table is stored when it holds at most
    :data:`SMALL_RUN_RECORDS` records (a local checkpoint in local mode: a parquet checkpoint's
    write, commit and read back cost more than the work itself on small data).
    ``steward_overrides`` (the ``stewardship.overrides`` rows, :mod:`idres_spark.stewardship`)
    link, separate and block records, and resolve again the earlier profiles they change;
    ``record_map_of(seq)`` reads a retained run's record map for ``profile:<id>@<seq>``.
    ``erasure_requests`` (``stewardship.erasure``) erase and suppress records before anything
    else sees the batch; ``erasure_key`` keys the suppression list's hashes;
    ``oldest_retained_seq`` tells when an applied request is complete.
    ``probabilistic_model`` is the model the published run used (``probabilistic:``): reused
    when it fits the config, else trained again on the whole state. ``interpret()`` is called
    once the records table is stored when the run is small and holds at most
    :data:`INTERPRETED_RUN_RECORDS` records (the caller turns generated code off for the rest
    of the run, and back on after it).
    """
    timer = timer or StageTimer()
    # a state from before a field existed is read in today's columns; its records table is
    # then rewritten whole (files of two schemas in one table would lose the new columns)
    previous, current_columns = history.with_state_columns(previous)
    with timer.stage("read+normalize"):
        batch, quarantine = read.canonicalize(sources, config)
        batch_count = Observation("batch_records")  # unchanged records count too
        batch = batch.observe(batch_count, F.count(F.lit(1)).alias("batch_records"))
        dropped = Observation("values_dropped")
        normalized = normalize.normalize_records(
            batch, config.normalization, dropped, addresses=config.maps_address
        )
        arrived = history.arrived_records(normalized, run)
        arrived, previous, erasing, suppressed = erasure.at_read(
            arrived, erasure_requests, previous, run, erasure_key, oldest_retained_seq,
            # published Delta / Iceberg tables keep earlier versions this long
            config.output.history_days if config.output.format != "parquet" else None,
        )  # fmt: skip
        erased = erasing is not None and erasing.any_erased  # the state's tables are rewritten
        # without earlier state, or when the rules changed since the published run, every
        # pair is compared (again)
        all_new = previous is None or not previous.run.run_id.endswith(run.config_fingerprint[:8])
        small = False  # the batch's key sets are broadcast: only the affected set is resolved
        carried_from = None  # an earlier records table this run's records are appended to
        if previous is not None:
            arrived = materialize(arrived)
            small = arrived.count() <= scope_of.MAX_AFFECTED_BATCH
            changed = materialize(
                history.changed_records(arrived, previous.records, broadcast=small)
            )
            replaces = changed.where(F.col(history.REPLACES)).limit(1).count() > 0
            changed = changed.drop(history.REPLACES)
            appendable = small and not replaces and not erased and current_columns
            appendable = appendable and previous.folder is not None
            if appendable and store_records:
                # only records new to the state: the earlier table's files stay as they are
                arrived, carried_from = changed, f"{previous.folder}/records"
            else:
                arrived = history.carried_records(
                    previous.records, changed, broadcast=small
                ).unionByName(changed)
        # the records table as it is written: a store that writes it in the run folder saves
        # writing the records twice
        if carried_from is not None:
            stored = store_records(arrived, carried_from)
        else:
            stored = (store_records or materialize)(arrived)
        size = stored.count() if small_run_checkpoint is not None else None
        if size is not None and size <= SMALL_RUN_RECORDS:
            materialize = graph_checkpoint = small_run_checkpoint
            if interpret is not None and size <= INTERPRETED_RUN_RECORDS:
                interpret()
        records = history.mark_new(stored, run, all_new)
        # a state from before provenance, or whose profiles lack a golden column, is
        # recomputed whole once: its rows cannot be carried as they are
        outdated = previous is not None and not _golden_current(previous, config)
        partial = small and not all_new and not outdated and scope != "all"
        why_all = None  # why stewardship made this run resolve every record
        if erased and previous is not None:  # profiles that lost records are resolved again
            records = stewardship.unpin(records, erasing.unpinned, previous.record_map)
            partial, why_all = False, "an erasure request removed records from the state"
    chance = probabilistic.Plan(config) if config.probabilistic.enabled else None
    if chance is not None and not chance.fits(probabilistic_model) and partial:
        partial, why_all = False, "the probabilistic model is trained on the whole state"
    plan = None
    if steward_overrides is not None:
        with timer.stage("stewardship"):
            plan = stewardship.prepare(
                steward_overrides, records, previous.record_map if previous else None,
                previous.override_status if previous else None, run.run_id,
                run.run_ts.replace(tzinfo=None), config.stewardship,
                record_map_of or (lambda seq: None),
                erasing.erased_values if erasing else (),
            )  # fmt: skip
            if plan.any_unpinned and previous is not None:
                records = stewardship.unpin(records, plan.unpinned, previous.record_map)
                # resolved again from their records: not an affected set
                partial = False
                why_all = why_all or "steward overrides changed since the published run"
    # what blocking, scoring and the transformations see: blocked values link nothing
    matched = stewardship.without_blocked(records, plan.blocked) if plan else records
    with timer.stage("block+score+transform"):
        # the affected-set path reads the new records (small) many times: kept once
        fresh = materialize(matched.where(F.col(C.IS_NEW))) if partial else None
        pairs, hubs = block.candidate_pairs(
            matched, config, touched_keys_only=partial, new_records=fresh, materialize=materialize
        )
        pair_count = Observation("candidate_pairs")  # counted as the pairs stream by, no job
        pairs = pairs.observe(pair_count, F.count(F.lit(1)).alias("candidate_pairs"))
        compared = matched
        if partial:  # few pairs: score them against their own records, not the whole state
            pairs = materialize(pairs)
            ends = pairs.select(F.col(C.ID_L).alias(C.RECORD_ID)).unionByName(
                pairs.select(F.col(C.ID_R).alias(C.RECORD_ID))
            )
            compared = scope_of.filtered(matched, ends.distinct(), C.RECORD_ID)
        rule_edges = score.match_pairs(pairs, compared, config).withColumn(
            transform.UNREACHABLE_SOURCE, F.lit(False)
        )
        phones = None
        if not all_new:
            phones = _review_phones(fresh if fresh is not None else matched, matched, event_rows)
            phones = materialize(phones) if partial else phones
        transform_edges, no_merge = transform.transformation_edges(
            matched, config.transformations, max_block_size=config.limits.max_block_size,
            materialize=materialize, phones=phones,
        )  # fmt: skip
        found = rule_edges.unionByName(transform_edges)
        if plan is not None:
            found = found.unionByName(plan.edges)
        if partial:
            found = materialize(found)
            reach = found
            if chance is not None:  # the profiles a probabilistic pair may join are affected
                reach = found.select(C.SRC, C.DST).unionByName(
                    probabilistic.candidate_ends(
                        matched, chance, config.probabilistic.max_block_size
                    )
                )
            resolved = scope_of.affected(records, reach, previous, materialize, fresh)
        else:
            resolved = scope_of.whole(records, previous)
        pinned = resolved.previous_map
        causes = [p.unpinned for p in (plan, erasing) if p is not None]
        unpinned = reduce(DataFrame.unionByName, causes) if causes else None
        if unpinned is not None and pinned is not None:
            pinned = stewardship.pinned(pinned, unpinned)
        earlier = history.permanent_edges(pinned, records.sparkSession)
        edges = materialize(found.unionByName(earlier))
    with timer.stage("graph"):
        linked = graph.link_records(
            resolved.records, edges, config.graph, limits=config.limits,
            checkpoint=graph_checkpoint, cannot=plan.cannot if plan else None,
            cannot_ids=plan.cannot_ids if plan else (),
        )  # fmt: skip
        groups = materialize(linked.groups)
        edges = linked.kept_edges  # cut links never reach the profiles or the merge log
    chance_result = None
    if chance is not None:
        with timer.stage("probabilistic"):
            chance_result = probabilistic.run(
                resolved.records, groups, config, chance, probabilistic_model, run_id=run.run_id,
                materialize=materialize, new_only=partial,
                forget=erasing.erased_values if erasing is not None else (),
                cannot=plan.cannot if plan else None,
            )  # fmt: skip
            groups = materialize(chance_result.outcome.groups)
            edges = edges.unionByName(chance_result.outcome.edges)
    with timer.stage("profiles"):
        assigned, retired, splits = profile_ids.assign(
            groups, resolved.previous_map, resolved.previous_profiles, run_id=run.run_id,
            # splits happen only where an override or an erasure re-resolves profiles
            record_ts=resolved.records.select(C.RECORD_ID, C.EVENT_TS) if causes else None,
            keep_id=plan.keep_id if plan else None,
            never_reuse=erasing.erased_profiles if erasing else None, may_split=bool(causes),
        )  # fmt: skip
        members = materialize(
            golden.members_of(
                resolved.records, assigned, edges, explained=resolved.previous_map is None
            )
        )
        survivorship = Survivorship(config.golden, config.custom_fields)
        profile_rows, record_map, provenance = golden.build_outputs(
            members, edges, run, survivorship, resolved.previous_map, materialize
        )
        new_merges = build_merge_log(
            members, edges, profile_rows, retired, run, resolved.previous_profiles,
            splits=splits if causes else None, split_causes=unpinned,
        )  # fmt: skip
    recomputed = profile_rows
    if resolved.partial:
        profile_rows = resolved.carried_profiles.unionByName(profile_rows)
        record_map = resolved.carried_map.unionByName(record_map)
        provenance = resolved.carried_provenance.unionByName(provenance)
    merge_log, appended = new_merges, {}
    if previous is not None:
        earlier_log = previous.merge_log.select(*new_merges.columns)
        if erased:  # rewritten whole, without the erased records' values
            earlier_log = erasure.scrub_merge_log(
                earlier_log, erasing.erased, erasing.erased_values
            )
        merge_log = earlier_log.unionByName(new_merges)
        if previous.folder is not None and not erased:  # the earlier files + this run's rows
            appended = {"merge_log": f"{previous.folder}/merge_log"}
    override_status = None
    if golden_overrides is not None:
        with timer.stage("profiles"):
            profile_rows, provenance, override_status = steward.apply(
                golden_overrides, profile_rows, provenance, record_map, merge_log, survivorship
            )
    routed = None
    if event_rows is not None and config.events is not None:
        if erasing is not None:  # events of erased or suppressed records are not kept either
            event_rows = erasure.without_erased_events(event_rows, erasing, erasure_key)
        routed = events.route_events(event_rows, record_map, edges, config.events.email_channels)
    return ResolutionResult(
        profiles=profile_rows,
        record_map=record_map,
        provenance=provenance,
        merge_log=merge_log,
        new_merges=new_merges,
        retired=retired,
        splits=splits if causes else None,
        erasure=erasing,
        probabilistic=chance_result,
        suppressed=suppressed,
        quarantine=quarantine,
        hubs=hubs,
        pruned_groups=linked.pruned_groups,
        transformation_no_merge=no_merge,
        records=records,
        records_stored=store_records is not None,
        edges=edges.where(F.col(C.PRIORITY) != history.PERMANENT_PRIORITY),
        events=routed,
        override_status=override_status,
        steward_status=plan.status if plan else None,
        observations=(batch_count, pair_count, dropped),
        appended=appended,
        recomputed_profiles=recomputed,
        previous_profiles=resolved.previous_profiles,
        scope="affected" if resolved.partial else "all",
        scope_reason=_scope_reason(previous, all_new, small, outdated) or why_all,
        profiles_recomputed=resolved.touched_profiles,
    )


def _golden_current(previous: PreviousState, config: Config) -> bool:
    wanted = {*PROFILE_COLUMNS, *config.custom_fields}
    return previous.provenance is not None and wanted <= set(previous.profiles.columns)


def _scope_reason(
    previous: PreviousState | None, all_new: bool, small: bool, outdated: bool = False
) -> str | None:
    if previous is None:
        return "no earlier state"
    if all_new:
        return "the rules changed since the published run: every pair is compared again"
    if outdated:
        return (
            "the published state predates the profiles' golden columns or their provenance: "
            "every profile is recomputed once"
        )
    if not small:
        return f"the batch holds more than {scope_of.MAX_AFFECTED_BATCH:,} records"
    return None


def _review_phones(
    new_records: DataFrame, records: DataFrame, event_rows: DataFrame | None
) -> DataFrame:
    """The phones whose groups the transformations review in an incremental run: those of the
    new and changed records, and those of the records that have events in this run (their
    routing needs their transformation links)."""
    phones = new_records.where(F.col(C.IS_NEW) & F.col(C.PHONE).isNotNull()).select(C.PHONE)
    if event_rows is not None:
        with_events = records.join(
            event_rows.select(C.SOURCE, C.SOURCE_RECORD_ID).distinct(),
            [C.SOURCE, C.SOURCE_RECORD_ID],
            "left_semi",
        )
        phones = phones.unionByName(with_events.where(F.col(C.PHONE).isNotNull()).select(C.PHONE))
    return phones.distinct()
