"""The functional core: raw source frames + config -> every output table, lazily.

Only this module chains stages. It does no I/O of its own and creates no session; the entry
points may pass a ``materialize`` strategy (a checkpoint that cuts lineage; the default is a
reliable Spark checkpoint) used at the boundaries later stages read many times: normalized
records, matched edges and groups.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from idres_spark import block, events, graph, normalize, profiles, read, score, transform
from idres_spark.components import Checkpointer, spark_checkpoint
from idres_spark.config import Config
from idres_spark.run_context import RunContext
from idres_spark.timing import StageTimer

PRUNED_GROUPS_SCHEMA = T.StructType(
    [
        T.StructField("group_key", T.StringType()),
        T.StructField("size_before", T.LongType()),
        T.StructField("parts_after", T.LongType()),
        T.StructField("links_cut", T.LongType()),
        T.StructField("reason", T.StringType()),
    ]
)


@dataclass(frozen=True)
class ResolutionResult:
    """Every table a run produces; ``tables()`` maps output-relative paths to frames."""

    profiles: DataFrame
    record_map: DataFrame
    merge_log: DataFrame
    quarantine: DataFrame
    hubs: DataFrame
    pruned_groups: DataFrame
    transformation_no_merge: DataFrame
    records: DataFrame
    edges: DataFrame
    events: DataFrame | None = None

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
        if self.events is not None:
            tables["events"] = self.events
        return tables


def resolve(
    sources: dict[str, DataFrame],
    config: Config,
    run: RunContext,
    *,
    materialize: Callable[[DataFrame], DataFrame] = spark_checkpoint,
    graph_checkpoint: Checkpointer | None = None,
    timer: StageTimer | None = None,
    event_rows: DataFrame | None = None,
) -> ResolutionResult:
    """Resolve raw source frames; ``event_rows`` (canonical events) are re-keyed to profiles."""
    timer = timer or StageTimer()
    with timer.stage("read+normalize"):
        records, quarantine = read.canonicalize(sources, config)
        normalized = materialize(normalize.normalize_records(records, config.normalization))
    with timer.stage("block+score+transform"):
        pairs, hubs = block.candidate_pairs(normalized, config)
        rule_edges = score.match_pairs(pairs, normalized, config).withColumn(
            transform.UNREACHABLE_SOURCE, F.lit(False)
        )
        transform_edges, no_merge = transform.transformation_edges(
            normalized, config.transformations, max_block_size=config.limits.max_block_size
        )
        edges = materialize(rule_edges.unionByName(transform_edges))
    with timer.stage("graph"):
        groups = materialize(graph.link_records(normalized, edges, config.graph, graph_checkpoint))
    profile_rows, record_map, merge_log = profiles.build_outputs(normalized, groups, edges, run)
    routed = None
    if event_rows is not None and config.events is not None:
        routed = events.route_events(event_rows, record_map, edges, config.events.email_channels)
    spark = normalized.sparkSession
    return ResolutionResult(
        profiles=profile_rows,
        record_map=record_map,
        merge_log=merge_log,
        quarantine=quarantine,
        hubs=hubs,
        pruned_groups=spark.createDataFrame([], PRUNED_GROUPS_SCHEMA),
        transformation_no_merge=no_merge,
        records=normalized,
        edges=edges,
        events=routed,
    )
