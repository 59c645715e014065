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


def _usable_keys(
    records: DataFrame,
    rules: Sequence[Sequence[BlockKey]],
    max_block_size: int,
    *,
    across_groups: bool,
    new_only: bool,
) -> DataFrame:
    """``_rule, _key, record_id, _group, _new, _n`` of the blocks that make pairs: 2 to
    ``max_block_size`` records (with ``new_only``, only blocks holding a new record)."""
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
    return sized.where((F.col("_n") > 1) & (F.col("_n") <= max_block_size))


def _pairs_of(usable: DataFrame) -> DataFrame:
    """``_rule, record_id_l, record_id_r`` (canonical) and both sides' ``_group``/``_new``."""
    left = usable.select(RULE, KEY, F.col(C.RECORD_ID).alias(C.ID_L), F.col("_group").alias("_gl"),
                         F.col("_new").alias("_nl"))  # fmt: skip
    right = usable.select(RULE, KEY, F.col(C.RECORD_ID).alias(C.ID_R), F.col("_group").alias("_gr"),
                          F.col("_new").alias("_nr"))  # fmt: skip
    return left.join(right, [RULE, KEY]).where(F.col(C.ID_L) < F.col(C.ID_R))


def blocked_pairs(
    records: DataFrame,
    rules: Sequence[Sequence[BlockKey]],
    max_block_size: int,
    *,
    across_groups: bool = True,
    new_only: bool = False,
) -> DataFrame:
    """``record_id_l, record_id_r`` (canonical, distinct) of every blocking rule; with
    ``across_groups`` only pairs of different groups (``records`` carries ``GROUP_KEY``);
    with ``new_only`` only pairs that touch a record new to the state (``is_new``)."""
    usable = _usable_keys(
        records, rules, max_block_size, across_groups=across_groups, new_only=new_only
    )
    pairs = _pairs_of(usable)
    if across_groups:
        pairs = pairs.where(F.col("_gl") != F.col("_gr"))
    if new_only:
        pairs = pairs.where(F.col("_nl") | F.col("_nr"))
    return pairs.select(C.ID_L, C.ID_R).distinct()


def session_pairs(
    records: DataFrame,
    rules: Sequence[Sequence[BlockKey]],
    max_block_size: int,
    *,
    at_most: int,
    seed: int,
) -> DataFrame:
    """``_rule, record_id_l, record_id_r``: the pairs each rule's blocks hold (within groups
    too), each rule's a seeded sample of about ``at_most`` pairs. The pairs per rule are counted
    from the block sizes, for all rules in one job; the sample of a rule does not depend on the
    other rules."""
    usable = _usable_keys(records, rules, max_block_size, across_groups=False, new_only=False)
    n = F.col("_n")
    held = {
        row[0]: float(row[1] or 0)
        for row in usable.groupBy(RULE, KEY)
        .agg(F.first(n).alias("_n"))
        .groupBy(RULE)
        .agg(F.sum(n * (n - 1) / 2))
        .collect()
    }
    rates = [min(1.0, at_most / held[i]) if held.get(i) else 1.0 for i in range(len(rules))]
    kept = F.lit(True)
    if any(rate < 1.0 for rate in rates):
        bucket = F.pmod(F.xxhash64(F.lit(seed), F.col(C.ID_L), F.col(C.ID_R)), F.lit(1_000_000))
        limit = F.element_at(
            F.array(*[F.lit(int(rate * 1_000_000)) for rate in rates]), F.col(RULE) + 1
        )
        kept = bucket < limit
    return _pairs_of(usable).where(kept).select(RULE, C.ID_L, C.ID_R).distinct()


def pair_frame(pairs: DataFrame, records: DataFrame, columns: Sequence[str]) -> DataFrame:
    """``pairs`` with ``columns`` of each side, suffixed ``_l`` / ``_r``."""
    side = records.select(*columns)
    left = side.select(*[F.col(c).alias(c + C.LEFT) for c in columns])
    right = side.select(*[F.col(c).alias(c + C.RIGHT) for c in columns])
    return pairs.join(left, C.ID_L).join(right, C.ID_R)
