"""The functional core: raw source frames (+ the published state) + config -> every table.

Only this module chains stages. It does no I/O of its own and creates no session; the entry
points may pass a ``materialize`` strategy (a checkpoint that cuts lineage; the default is a
reliable Spark checkpoint) used at the boundaries later stages read many times: the records,
the edges, the groups and the records with their profile ids.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pyspark.sql import DataFrame, Observation
from pyspark.sql import functions as F

from idres_spark import columns as C
from idres_spark.config import Config
from idres_spark.ingest import normalize, read
from idres_spark.linking import graph
from idres_spark.linking.components import Checkpointer, spark_checkpoint
from idres_spark.matching import block, score, transform
from idres_spark.profiles import events, golden
from idres_spark.profiles import ids as profile_ids
from idres_spark.profiles.merge_log import build_merge_log
from idres_spark.run_context import RunContext
from idres_spark.state import history
from idres_spark.state.store import PreviousState
from idres_spark.timing import StageTimer


@dataclass(frozen=True)
class ResolutionResult:
    """Every table a run produces; ``tables()`` maps run-folder paths to frames."""

    profiles: DataFrame
    record_map: DataFrame
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
    observations: tuple[Observation, ...] = ()  # figures counted while the stages ran
    records_stored: bool = False  # the records table is already written (``store_records``)

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
            "merge_log": self.merge_log,
            "diagnostics/quarantine": self.quarantine,
            "diagnostics/hubs": self.hubs,
            "diagnostics/pruned_groups": self.pruned_groups,
            "diagnostics/transformation_no_merge": self.transformation_no_merge,
        }
        if not self.records_stored:
            tables["records"] = self.records.select(*history.STATE_COLUMNS)
        if self.events is not None:
            tables["events"] = self.events
        return tables


OBSERVED = ("batch_records", "candidate_pairs")


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
    store_records: Callable[[DataFrame], DataFrame] | None = None,
    graph_checkpoint: Checkpointer | None = None,
    timer: StageTimer | None = None,
    event_rows: DataFrame | None = None,
) -> ResolutionResult:
    """Resolve one batch; with ``previous`` (incremental mode) against the published state.

    ``event_rows`` (canonical events) are re-keyed to profiles. ``store_records`` writes the
    records table and returns it read back (default: ``materialize``, and the table is
    written with the others).
    """
    timer = timer or StageTimer()
    with timer.stage("read+normalize"):
        batch, quarantine = read.canonicalize(sources, config)
        batch_count = Observation("batch_records")  # unchanged records count too
        batch = batch.observe(batch_count, F.count(F.lit(1)).alias("batch_records"))
        dropped = Observation("values_dropped")
        normalized = normalize.normalize_records(batch, config.normalization, dropped)
        records = history.combine_records(normalized, run, previous.records if previous else None)
        # the records table as it is written: a store that writes it in the run folder saves
        # writing the records twice
        stored = (store_records or materialize)(records)
        # without earlier state, or when the rules changed since the published run, every
        # pair is compared (again)
        all_new = previous is None or not previous.run.run_id.endswith(run.config_fingerprint[:8])
        records = history.mark_new(stored, run, all_new)
    with timer.stage("block+score+transform"):
        pairs, hubs = block.candidate_pairs(records, config)
        pair_count = Observation("candidate_pairs")  # counted as the pairs stream by, no job
        pairs = pairs.observe(pair_count, F.count(F.lit(1)).alias("candidate_pairs"))
        rule_edges = score.match_pairs(pairs, records, config).withColumn(
            transform.UNREACHABLE_SOURCE, F.lit(False)
        )
        transform_edges, no_merge = transform.transformation_edges(
            records, config.transformations, max_block_size=config.limits.max_block_size,
            materialize=materialize,
        )  # fmt: skip
        earlier = history.permanent_edges(
            previous.record_map if previous else None, records.sparkSession
        )
        edges = materialize(rule_edges.unionByName(transform_edges).unionByName(earlier))
    with timer.stage("graph"):
        linked = graph.link_records(
            records, edges, config.graph, limits=config.limits, checkpoint=graph_checkpoint
        )
        groups = materialize(linked.groups)
        edges = linked.kept_edges  # cut links never reach the profiles or the merge log
    with timer.stage("profiles"):
        assigned, retired = profile_ids.assign(
            groups,
            previous.record_map if previous else None,
            previous.profiles if previous else None,
        )
        members = materialize(golden.members_of(records, assigned, edges))
        profile_rows, record_map = golden.build_outputs(
            members, edges, run, previous.record_map if previous else None
        )
        new_merges = build_merge_log(
            members, edges, profile_rows, retired, run, previous.profiles if previous else None
        )
    merge_log = new_merges
    if previous is not None:
        merge_log = previous.merge_log.select(*new_merges.columns).unionByName(new_merges)
    routed = None
    if event_rows is not None and config.events is not None:
        routed = events.route_events(event_rows, record_map, edges, config.events.email_channels)
    return ResolutionResult(
        profiles=profile_rows,
        record_map=record_map,
        merge_log=merge_log,
        new_merges=new_merges,
        retired=retired,
        quarantine=quarantine,
        hubs=hubs,
        pruned_groups=linked.pruned_groups,
        transformation_no_merge=no_merge,
        records=records,
        records_stored=store_records is not None,
        edges=edges.where(F.col(C.PRIORITY) >= 0),
        events=routed,
        observations=(batch_count, pair_count, dropped),
    )
