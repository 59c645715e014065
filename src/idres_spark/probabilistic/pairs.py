"""Candidate pairs for probabilistic matching: blocking keys, and pair frames with both sides'
fields.

A blocking rule is a list of keys (the rules' ``block_on`` transforms); a record has the
rule's key when every part has a value. Keys held by more than ``probabilistic.max_block_size``
records make no pairs (hubs: kiosk devices, public IPs). Pairs of records the rules already
put in one group are dropped: there is nothing left to decide for them.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import reduce

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from idres_spark import columns as C
from idres_spark.linking.graph import GROUP_KEY
from idres_spark.matching import rule_expressions as X
from idres_spark.probabilistic.settings import BlockKey

RULE = "_rule"
KEY = "_key"


def rule_key(rule: Sequence[BlockKey]) -> Column:
    parts = [X.block_on_key(key) for key in rule]
    present = reduce(lambda a, b: a & b, [p.isNotNull() & (p != "") for p in parts])
    return F.when(present, F.concat_ws(X.KEY_SEPARATOR, *parts))


def rule_name(rule: Sequence[BlockKey]) -> str:
    return "+".join(
        key.field if key.transform == "exact" else f"{key.field}:{key.transform}{key.n or ''}"
        for key in rule
    )


def blocked_pairs(
    records: DataFrame,
    rules: Sequence[Sequence[BlockKey]],
    max_block_size: int,
    *,
    across_groups: bool = True,
    new_only: bool = False,
    at_most: int | None = None,
    seed: int = 0,
) -> DataFrame:
    """``record_id_l, record_id_r`` (canonical, distinct) of every blocking rule; with
    ``across_groups`` only pairs of different groups (``records`` carries ``GROUP_KEY``);
    with ``new_only`` only pairs that touch a record new to the state (``is_new``); with
    ``at_most`` a seeded sample of about that many pairs (the pairs the blocks hold are
    counted first, from the block sizes)."""
    group = F.col(GROUP_KEY) if across_groups else F.lit(None).cast("string")
    new = F.col(C.IS_NEW) if new_only else F.lit(True)
    keyed = reduce(
        DataFrame.unionByName,
        [
            records.select(
                F.lit(index).alias(RULE),
                rule_key(rule).alias(KEY),
                C.RECORD_ID,
                group.alias("_group"),
                new.alias("_new"),
            )
            for index, rule in enumerate(rules)
        ],
    ).where(F.col(KEY).isNotNull())
    if new_only:  # only blocks that hold a new record are paired
        touched = keyed.where("_new").select(RULE, KEY).distinct()
        keyed = keyed.join(touched, [RULE, KEY], "left_semi")
    sized = keyed.withColumn("_n", F.count(F.lit(1)).over(Window.partitionBy(RULE, KEY)))
    usable = sized.where((F.col("_n") > 1) & (F.col("_n") <= max_block_size))
    rate = 1.0
    if at_most is not None:
        n = F.col("_n")
        row = (
            usable.groupBy(RULE, KEY)
            .agg(F.first(n).alias("_n"))
            .agg(F.sum(n * (n - 1) / 2))
            .first()
        )
        held = float(row[0] or 0) if row is not None else 0.0
        rate = min(1.0, at_most / held) if held else 1.0
    left = usable.select(RULE, KEY, F.col(C.RECORD_ID).alias(C.ID_L), F.col("_group").alias("_gl"),
                         F.col("_new").alias("_nl"))  # fmt: skip
    right = usable.select(RULE, KEY, F.col(C.RECORD_ID).alias(C.ID_R), F.col("_group").alias("_gr"),
                          F.col("_new").alias("_nr"))  # fmt: skip
    pairs = left.join(right, [RULE, KEY]).where(F.col(C.ID_L) < F.col(C.ID_R))
    if across_groups:
        pairs = pairs.where(F.col("_gl") != F.col("_gr"))
    if new_only:
        pairs = pairs.where(F.col("_nl") | F.col("_nr"))
    if rate < 1.0:
        bucket = F.pmod(F.xxhash64(F.lit(seed), F.col(C.ID_L), F.col(C.ID_R)), F.lit(1_000_000))
        pairs = pairs.where(bucket < F.lit(int(rate * 1_000_000)))
    return pairs.select(C.ID_L, C.ID_R).distinct()


def pair_frame(pairs: DataFrame, records: DataFrame, columns: Sequence[str]) -> DataFrame:
    """``pairs`` with ``columns`` of each side, suffixed ``_l`` / ``_r``."""
    side = records.select(*columns)
    left = side.select(*[F.col(c).alias(c + C.LEFT) for c in columns])
    right = side.select(*[F.col(c).alias(c + C.RIGHT) for c in columns])
    return pairs.join(left, C.ID_L).join(right, C.ID_R)
