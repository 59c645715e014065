"""Block stage: normalized records + rules -> canonical candidate pairs, and the hub report.

Every AND branch ("conjunction") of every rule has one blocking key: its ``equals``/``alias``
fields together, or the rule's ``block_on``. Only records in the rule's scope (sources,
``only_if``) get a key. All keys of all branches go into one long frame
``(branch, key, record_id)`` that is self-joined once; a pair that several branches produce
comes out once with a bit mask of the branches (``block_mask``). A key value held by more
than ``limits.max_block_size`` records is a hub: it makes no pairs and is reported with its
record count, masked. In incremental runs (records carry ``is_new``) only pairs that touch a
record new to the state are produced: the others were compared in earlier runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import reduce

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from idres_spark import columns as C
from idres_spark.config import Config, Rule, conjunctions
from idres_spark.masking import mask_value
from idres_spark.matching import rule_expressions as X

BRANCH = "branch"
KEY = "key"
KEY_FIELDS = "key_fields"
RULE = "rule"
HUB_COLUMNS = (RULE, KEY_FIELDS, "masked_value", "value_hash", "record_count")


@dataclass(frozen=True)
class Branch:
    """One AND branch of a rule, numbered across the whole config (its bit in block_mask)."""

    index: int
    rule_index: int
    rule: Rule
    conditions: tuple
    key_fields: str


def branches(config: Config) -> list[Branch]:
    out: list[Branch] = []
    for rule_index, rule in enumerate(config.rules):
        for conj in conjunctions(rule.tree):
            names, _ = X.conjunction_key(conj, rule)
            out.append(Branch(len(out), rule_index, rule, tuple(conj), names))
    return out


def candidate_pairs(
    records: DataFrame,
    config: Config,
    *,
    touched_keys_only: bool = False,
    new_records: DataFrame | None = None,
    materialize: Callable[[DataFrame], DataFrame] | None = None,
) -> tuple[DataFrame, DataFrame]:
    """(pairs ``record_id_l, record_id_r, block_mask``; hubs) for all rules at once.

    ``touched_keys_only`` (incremental runs on a small batch): only the blocks that hold a
    record new to the state are grouped, found by a map-side filter against the broadcast
    keys of the new records, so the rest of the state is scanned but never shuffled. The
    pairs are the same (every pair needs a new record); the blocks kept are whole, so their
    sizes and hubs are exact; hubs no new record falls into are not reported.
    ``new_records`` (the records with ``is_new``, small) gives the touched keys without a
    pass over the state, and ``materialize`` keeps the touched blocks, which the pairs and the
    hubs both read."""
    all_keys = _keys(records, config)
    if touched_keys_only:
        fresh = _keys(new_records, config) if new_records is not None else all_keys
        touched = fresh.where(F.col(C.IS_NEW)).select(BRANCH, KEY).distinct()
        all_keys = all_keys.join(F.broadcast(touched), [BRANCH, KEY], "left_semi")
        if materialize is not None:
            all_keys = materialize(all_keys)
    per_key = Window.partitionBy(BRANCH, KEY)
    keys = all_keys.withColumn("n", F.count(F.lit(1)).over(per_key))
    limit = config.limits.max_block_size
    usable = keys.where((F.col("n") > 1) & (F.col("n") <= limit)).drop("n")
    left = usable.withColumnRenamed(C.RECORD_ID, C.ID_L).withColumnRenamed(C.IS_NEW, "_new_l")
    right = usable.withColumnRenamed(C.RECORD_ID, C.ID_R).withColumnRenamed(C.IS_NEW, "_new_r")
    pairs = (
        left.join(right, [BRANCH, KEY])
        .where((F.col(C.ID_L) < F.col(C.ID_R)) & (F.col("_new_l") | F.col("_new_r")))
        .groupBy(C.ID_L, C.ID_R)
        .agg(F.expr(f"bit_or(shiftleft(1L, {BRANCH}))").alias(C.BLOCK_MASK))
    )
    # the hubs are written later, by a query of their own: an aggregation (no sort) is the
    # cheapest way to count the keys again
    per_value = all_keys.groupBy(BRANCH, KEY).agg(F.count(F.lit(1)).alias("record_count"))
    return pairs, _hubs(per_value.where(F.col("record_count") > limit), config)


def _keys(records: DataFrame, config: Config) -> DataFrame:
    """``branch, key, record_id, is_new``: every blocking key of every record in scope."""
    new = F.col(C.IS_NEW) if C.IS_NEW in records.columns else F.lit(True)
    keyed = [
        records.where(X.rule_scope(b.rule)).select(
            F.lit(b.index).alias(BRANCH),
            X.conjunction_key(list(b.conditions), b.rule)[1].alias(KEY),
            F.col(C.RECORD_ID),
            new.alias(C.IS_NEW),
        )
        for b in branches(config)
    ]
    return reduce(DataFrame.unionByName, keyed).where(F.col(KEY).isNotNull())


def _hubs(hub_counts: DataFrame, config: Config) -> DataFrame:
    names = branches(config)
    rule_of = F.element_at(F.array(*[F.lit(b.rule.name) for b in names]), F.col(BRANCH) + 1)
    fields_of = F.element_at(F.array(*[F.lit(b.key_fields) for b in names]), F.col(BRANCH) + 1)
    return hub_counts.select(
        rule_of.alias(RULE),
        fields_of.alias(KEY_FIELDS),
        mask_value(F.col(KEY)).alias("masked_value"),
        F.substring(F.sha2(F.col(KEY), 256), 1, 16).alias("value_hash"),
        F.col("record_count"),
    )
