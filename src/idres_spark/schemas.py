"""StructTypes at stage boundaries, declared once."""

from __future__ import annotations

from pyspark.sql import types as T

from idres_spark import columns as C

UNREACHABLE_SOURCE = "unreachable_source"  # src merged because its own email is unreachable
PERMANENT_PRIORITY = -1  # the links that hold earlier runs' profiles together

# edges between records: rules, transformations and earlier runs' permanent links
EDGE_SCHEMA = T.StructType(
    [
        T.StructField(C.SRC, T.StringType()),
        T.StructField(C.DST, T.StringType()),
        T.StructField(C.REASON, T.StringType()),
        T.StructField(C.PRIORITY, T.LongType()),
        T.StructField(C.SCORE, T.DoubleType()),
        T.StructField(UNREACHABLE_SOURCE, T.BooleanType()),
    ]
)
