"""Graph stage: records + edges -> record -> group, by connected components within the limits.

Vertex ids are 64-bit ``xxhash64(record_id)``, so component ids are stable across runs and
engines; a hash collision (two record ids, one vertex id) stops the job through a lazy
``raise_error`` rather than silently merging two records. Components come from
:func:`idres_spark.linking.components.connected_components` (GraphFrames or the built-in
engine).
A group is named by its smallest record id, which the profiles stage turns into a profile id.

Limits (``limits.max_group_size``, ``limits.identifier_limits``) are enforced in two tiers:

1. Natively, per component: its record count, its smallest record id and, for each limited
   identifier, the count of distinct non-null values (one window over the component). A
   component within every limit keeps its smallest record id as group key and never touches
   Python: that is nearly every component.
2. Only the over-limit components go, with their edges and their records' identifier values,
   to one ``cogroup(...).applyInPandas`` keyed by a hash of the component id (a batch of
   components per pandas call, as many batches as shuffle partitions), which runs the
   deterministic limit-aware greedy of :mod:`idres_spark.linking.limits` (Kruskal with capacity:
   strongest links first by priority, score, then links through the most shared identifier
   value and the highest-degree records last; a link joins two parts only if the result
   fits). Permanent links (``priority < 0``) are never cut, even when a part then breaks a
   limit. A component's split does not depend on its batch.

The split's output (record -> part, cut links, one summary per split component) is
checkpointed once and read three times: split records' groups, ``diagnostics/pruned_groups``
(:data:`PRUNED_GROUPS_SCHEMA`, identifier values masked with :func:`masking.mask_value`) and
the cut links, which are removed from the edges the later stages see (``kept_edges``), so the
merge log never shows a merge that did not happen. A component is never divided between
Python calls: a 100k-record star is one pandas frame of 100k rows (about a second, some
100 MB). Nothing is collected to the driver. Same input, same config: same groups, cuts and
diagnostics.
"""

from __future__ import annotations

from typing import NamedTuple

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from idres_spark import columns as C
from idres_spark.config import IDENTIFIER_FIELDS, GraphConfig, LimitsConfig
from idres_spark.linking import limits as L
from idres_spark.linking.components import Checkpointer, connected_components, spark_checkpoint
from idres_spark.masking import mask_value

GROUP_KEY = L.GROUP_KEY  # smallest record_id of the group
GROUP_COLUMNS = (C.RECORD_ID, GROUP_KEY)

PRUNED_GROUPS_SCHEMA = T.StructType(
    [
        T.StructField(GROUP_KEY, T.StringType()),  # smallest record id of the original component
        T.StructField(L.SIZE_BEFORE, T.LongType()),  # records in the component
        T.StructField(L.PARTS_AFTER, T.LongType()),  # groups it became
        T.StructField(L.LARGEST_PART, T.LongType()),
        T.StructField(L.LINKS_CUT, T.LongType()),  # distinct record pairs whose link was cut
        T.StructField(L.CUT_REASONS, T.MapType(T.StringType(), T.LongType())),
        T.StructField(L.FORCED_PARTS, T.LongType()),  # parts kept over a limit by permanent links
        T.StructField(
            L.CENTRE_VALUES,  # the identifier values most cut links went through, masked
            T.ArrayType(
                T.StructType(
                    [
                        T.StructField("identifier", T.StringType()),
                        T.StructField("masked_value", T.StringType()),
                        T.StructField(L.LINKS_CUT, T.LongType()),
                    ]
                )
            ),
        ),
    ]
)

_COMPONENT_KEY, _OVER, _BATCH = "_component_key", "_over_limit", "_batch"


class LinkedRecords(NamedTuple):
    groups: DataFrame  # record_id, group_key: every record exactly once
    pruned_groups: DataFrame  # PRUNED_GROUPS_SCHEMA: one row per split component
    kept_edges: DataFrame  # the input edges minus the cut links (same columns)


def vertex_id(record_id):
    return F.xxhash64(record_id)


def link_records(
    records: DataFrame,
    edges: DataFrame,
    settings: GraphConfig,
    *,
    limits: LimitsConfig | None = None,
    checkpoint: Checkpointer | None = None,
    cannot: DataFrame | None = None,
    cannot_ids: tuple[str, ...] = (),
) -> LinkedRecords:
    """Groups of records linked by ``edges`` (``src, dst`` record ids; ``priority`` and
    ``score`` rank them when a link must be cut), each within ``limits`` (None: no limits).
    ``cannot`` (``record_id, tag``; tag ``k`` on one side of ``cannot_ids[k - 1]``, ``-k``
    on the other) keeps the two sides of each steward cannot-link in different groups: a
    component holding both is split like an over-limit one.

    Returns the groups, the ``diagnostics/pruned_groups`` rows and the edges that were kept
    (what the profiles stage and the merge log must use: a cut link merged nothing).
    """
    spark = records.sparkSession
    spec = _spec(limits, records, cannot_ids if cannot is not None else ())
    fields = spec.fields if spec else ()
    values = [_identifier(records, f).alias(L.value_column(i)) for i, f in enumerate(fields)]
    selected = records.select(C.RECORD_ID, *values)
    if spec is not None and spec.cannot:
        tags = cannot.groupBy(C.RECORD_ID).agg(F.sort_array(F.collect_set("tag")).alias(
            L.CANNOT_TAGS))  # fmt: skip
        selected = selected.join(tags, C.RECORD_ID, "left")
    vertices = _checked_vertices(selected)
    vertex_edges = edges.where(F.col(C.SRC).isNotNull() & F.col(C.DST).isNotNull()).select(
        vertex_id(F.col(C.SRC)).alias(C.SRC),
        vertex_id(F.col(C.DST)).alias(C.DST),
        _optional(edges, C.PRIORITY, F.lit(1)).cast("long").alias(C.PRIORITY),
        _optional(edges, C.SCORE, F.lit(None)).cast("double").alias(C.SCORE),
    )
    components = connected_components(
        vertex_edges.select(C.SRC, C.DST),
        records.select(vertex_id(F.col(C.RECORD_ID)).alias(C.VERTEX_ID)),  # checked below
        backend=settings.backend,
        checkpoint=checkpoint,
        checkpoint_every=settings.checkpoint_every,
        max_rounds=settings.max_rounds,
        driver_max_edges=settings.driver_max_edges,
    )
    members = vertices.join(components, C.VERTEX_ID)
    if spec is None:
        per_component = Window.partitionBy(C.COMPONENT)
        groups = members.select(
            C.RECORD_ID, F.min(C.RECORD_ID).over(per_component).alias(GROUP_KEY)
        )
        empty = spark.createDataFrame([], PRUNED_GROUPS_SCHEMA)
        return LinkedRecords(groups, empty, edges)
    labelled = (checkpoint or spark_checkpoint)(_label_over_limit(members, spec))
    split = (checkpoint or spark_checkpoint)(_split(labelled, vertex_edges, spec))
    fitting = labelled.where(~F.col(_OVER)).select(
        C.RECORD_ID, F.col(_COMPONENT_KEY).alias(GROUP_KEY)
    )
    parts = split.where(F.col(L.KIND) == L.RECORD_ROW).select(C.RECORD_ID, GROUP_KEY)
    return LinkedRecords(
        fitting.unionByName(parts),
        _pruned_groups(split),
        _without_cut_links(edges, split),
    )


def _spec(
    limits: LimitsConfig | None, records: DataFrame, cannot: tuple[str, ...] = ()
) -> L.LimitSpec | None:
    if limits is None:
        return L.LimitSpec(2**62, (), (), cannot) if cannot else None
    custom = sorted(set(limits.identifier_limits) - set(IDENTIFIER_FIELDS))
    fields = tuple(f for f in IDENTIFIER_FIELDS if f in records.columns) + tuple(custom)
    ordered = tuple((f, limits.identifier_limits[f]) for f in fields if f in
                    limits.identifier_limits)  # fmt: skip
    return L.LimitSpec(limits.max_group_size, fields, ordered, cannot)


def _identifier(records: DataFrame, name: str) -> Column:
    """A built-in identifier column, else the custom field of that name (null when absent)."""
    if name in IDENTIFIER_FIELDS and name in records.columns:
        return F.col(name).cast("string")
    if C.CUSTOM in records.columns:
        return F.element_at(C.CUSTOM, F.lit(name))
    return F.lit(None).cast("string")


def _optional(df: DataFrame, name: str, default: Column) -> Column:
    return F.col(name) if name in df.columns else default


def _checked_vertices(rows: DataFrame) -> DataFrame:
    """One row per record with its vertex id (one shuffle, by vertex id). Repeated rows of a
    record collapse to one; two record ids on one vertex id fail the job lazily."""
    vertices = rows.withColumn(C.VERTEX_ID, vertex_id(F.col(C.RECORD_ID)))
    shared = Window.partitionBy(C.VERTEX_ID)
    flagged = vertices.select(
        "*",
        F.row_number().over(shared.orderBy(*rows.columns)).alias("_nth"),
        (F.min(C.RECORD_ID).over(shared) != F.max(C.RECORD_ID).over(shared)).alias("_collision"),
    )
    return flagged.where(F.col("_nth") == 1).select(
        *[c for c in vertices.columns if c != C.RECORD_ID],
        F.when(
            F.col("_collision"),
            F.raise_error(
                F.concat(
                    F.lit(
                        "GRAPH_VERTEX_ID_COLLISION: two record ids hash to one vertex id, record "
                    ),
                    F.col(C.RECORD_ID),
                )  # fmt: skip
            ).cast("string"),
        )
        .otherwise(F.col(C.RECORD_ID))
        .alias(C.RECORD_ID),
    )


def _label_over_limit(members: DataFrame, spec: L.LimitSpec) -> DataFrame:
    """Members with their component's key and whether the component breaks a limit.

    One window over the component (one shuffle): an aggregate plus a join back would compute
    ``members`` twice.
    """
    component = Window.partitionBy(C.COMPONENT)
    over = F.count(F.lit(1)).over(component) > spec.max_group_size
    for name, limit in spec.identifier_limits:
        values = F.collect_set(L.value_column(spec.fields.index(name))).over(component)
        over = over | (F.size(values) > limit)
    if spec.cannot:  # both sides of a cannot-link in one component
        tags = F.flatten(F.collect_list(L.CANNOT_TAGS).over(component))
        over = over | F.exists(tags, lambda t: F.array_contains(tags, -t))
    return members.select(
        "*",
        F.min(C.RECORD_ID).over(component).alias(_COMPONENT_KEY),
        over.alias(_OVER),
    )


def _split(labelled: DataFrame, vertex_edges: DataFrame, spec: L.LimitSpec) -> DataFrame:
    """The greedy of :mod:`idres_spark.linking.limits` on the over-limit components, in batches
    keyed by a hash of the component id (one pandas call per batch, not per component)."""
    values = [L.value_column(i) for i in range(len(spec.fields))]
    batch = F.pmod(F.xxhash64(C.COMPONENT), F.lit(_batches(labelled))).alias(_BATCH)
    tags = [L.CANNOT_TAGS] if spec.cannot else []
    over = labelled.where(F.col(_OVER)).select(
        batch, C.COMPONENT, C.RECORD_ID, C.VERTEX_ID, *values, *tags
    )
    # aliased: the edges' batch must not be the records' column (same lineage)
    ends = over.select(F.col(C.VERTEX_ID).alias(C.SRC), F.col(_BATCH).alias(_BATCH))
    over_edges = vertex_edges.join(ends, C.SRC).select(_BATCH, C.SRC, C.DST, C.PRIORITY, C.SCORE)

    def run(records, edges):  # plain pandas from here on
        return L.split_components(records.drop(columns=_BATCH), edges, spec)

    return over.groupBy(_BATCH).cogroup(over_edges.groupBy(_BATCH)).applyInPandas(run, L.SPLIT_DDL)


def _batches(df: DataFrame) -> int:
    """As many batches as shuffle partitions (at least 1; 200 when that is not a number)."""
    try:
        return max(1, int(df.sparkSession.conf.get("spark.sql.shuffle.partitions") or 200))
    except ValueError:  # e.g. "auto" on Databricks
        return 200


def _pruned_groups(split: DataFrame) -> DataFrame:
    masked = F.transform(
        L.CENTRE_VALUES,
        lambda v: F.struct(
            v["identifier"].alias("identifier"),
            mask_value(v["value"]).alias("masked_value"),
            v[L.LINKS_CUT].alias(L.LINKS_CUT),
        ),
    )
    columns = {f.name: F.col(f.name) for f in PRUNED_GROUPS_SCHEMA.fields}
    columns[L.CENTRE_VALUES] = masked
    return split.where(F.col(L.KIND) == L.GROUP_ROW).select(
        *[col.cast(PRUNED_GROUPS_SCHEMA[name].dataType).alias(name) for name, col in
          columns.items()]
    )  # fmt: skip


def _without_cut_links(edges: DataFrame, split: DataFrame) -> DataFrame:
    """Edges whose (unordered) record pair was not cut; cut rows hold ``src < dst``."""
    cut = split.where(F.col(L.KIND) == L.CUT_ROW).select(
        F.col(C.SRC).alias("_cut_lo"), F.col(C.DST).alias("_cut_hi")
    )
    lo, hi = F.least(C.SRC, C.DST), F.greatest(C.SRC, C.DST)
    return edges.join(cut, (lo == F.col("_cut_lo")) & (hi == F.col("_cut_hi")), "left_anti")
