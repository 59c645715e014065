"""Graph stage: records + edges -> record -> group, by connected components.

Vertex ids are 64-bit ``xxhash64(record_id)``, so component ids are stable across runs and
engines; a hash collision (two record ids, one vertex id) stops the job through a lazy
``raise_error`` rather than silently merging two records. Components come from
:func:`idres_spark.components.connected_components` (GraphFrames or the built-in engine).
A group is named by its smallest record id, which the profiles stage turns into a profile id.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from idres_spark import columns as C
from idres_spark.components import Checkpointer, connected_components
from idres_spark.config import GraphConfig

GROUP_KEY = "group_key"  # smallest record_id of the group
GROUP_COLUMNS = (C.RECORD_ID, GROUP_KEY)


def vertex_id(record_id):
    return F.xxhash64(record_id)


def link_records(
    records: DataFrame,
    edges: DataFrame,
    settings: GraphConfig,
    checkpoint: Checkpointer | None = None,
) -> DataFrame:
    """``record_id, group_key`` for every record; edges are ``src, dst`` record ids."""
    ids = records.select(C.RECORD_ID).distinct()
    shared = Window.partitionBy(C.VERTEX_ID)
    vertices = ids.select(
        C.RECORD_ID,
        vertex_id(F.col(C.RECORD_ID)).alias(C.VERTEX_ID),
    ).withColumn("_ids_per_vertex", F.count(F.lit(1)).over(shared))
    checked = vertices.withColumn(
        C.RECORD_ID,
        F.when(
            F.col("_ids_per_vertex") > 1,
            F.raise_error(
                F.concat(
                    F.lit(
                        "GRAPH_VERTEX_ID_COLLISION: two record ids hash to one vertex id, record "
                    ),
                    F.col(C.RECORD_ID),
                )  # fmt: skip
            ).cast("string"),
        ).otherwise(F.col(C.RECORD_ID)),
    ).drop("_ids_per_vertex")
    vertex_edges = edges.select(
        vertex_id(F.col(C.SRC)).alias(C.SRC), vertex_id(F.col(C.DST)).alias(C.DST)
    )
    components = connected_components(
        vertex_edges,
        checked.select(C.VERTEX_ID),
        backend=settings.backend,
        checkpoint=checkpoint,
        checkpoint_every=settings.checkpoint_every,
        max_rounds=settings.max_rounds,
    )
    members = checked.join(components, C.VERTEX_ID)
    per_component = Window.partitionBy(C.COMPONENT)
    return members.select(C.RECORD_ID, F.min(C.RECORD_ID).over(per_component).alias(GROUP_KEY))
