"""Score stage: candidate pairs + records -> matched edges, one per linked pair.

A pair is evaluated once against every AND branch that produced it (its ``block_mask`` bit):
native column expressions for equals, alias, typo, levenshtein and time windows; one pandas
UDF, built by :func:`fuzzy_scores_udf` from the frozen rule specs, for the fuzzy methods
(jaro_winkler, token_set) — it scores all of them in one Arrow round trip with rapidfuzz's
batch API. The edge carries the first matching rule in config order and that rule's best
branch score (a branch scores the minimum of its conditions' scores). Its ``priority`` (smaller
is stronger, used when the graph stage must cut links) is 0 when the matching rule matched
through an ``equals`` on ``user_id`` (exact external id), else the rule's position from 1.
"""

from __future__ import annotations

from functools import reduce

import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from idres_spark import columns as C
from idres_spark import rule_expressions as X
from idres_spark.block import Branch, branches
from idres_spark.config import Config

EDGE_COLUMNS = (C.SRC, C.DST, C.REASON, C.PRIORITY, C.SCORE)
EXTERNAL_ID_PRIORITY = 0  # a link on equal external ids is as strong as a transformation
_FUZZY = "_fuzzy"


def fuzzy_scores_udf(specs: tuple[tuple[str, str], ...]):
    """A pandas UDF: struct of ``<field>_l``/``<field>_r`` strings -> struct of scores.

    ``specs`` lists ``(field, method)``; output field ``s<i>`` is the similarity of spec i.
    """
    from pyspark.sql.functions import pandas_udf

    from idres_spark.comparators import similarity

    schema = T.StructType([T.StructField(f"s{i}", T.DoubleType()) for i in range(len(specs))])

    @pandas_udf(schema)  # type: ignore[call-overload]
    def scores(pairs: pd.DataFrame) -> pd.DataFrame:
        out = {
            f"s{i}": similarity(pairs[f"{name}_l"], pairs[f"{name}_r"], method)
            for i, (name, method) in enumerate(specs)
        }
        return pd.DataFrame(out, index=pairs.index)

    return scores


def match_pairs(pairs: DataFrame, records: DataFrame, config: Config) -> DataFrame:
    """Matched edges ``src, dst, reason, priority, score`` (src < dst, one row per pair)."""
    side = records.select(*[F.col(c).alias(c + C.LEFT) for c in records.columns])
    other = records.select(*[F.col(c).alias(c + C.RIGHT) for c in records.columns])
    joined = pairs.join(side, C.ID_L).join(other, C.ID_R)
    all_branches = branches(config)
    specs = _fuzzy_specs(all_branches)
    if specs:
        fields = sorted({name for name, _ in specs})
        inputs = [X.field(f, s).alias(f + s) for f in fields for s in (C.LEFT, C.RIGHT)]
        joined = joined.withColumn(_FUZZY, fuzzy_scores_udf(specs)(F.struct(*inputs)))
    per_rule: dict[int, list[tuple[Column, Column, bool]]] = {}
    for branch in all_branches:
        matched, score = _branch_match(branch, specs)
        on_external_id = any(
            c.compare == "equals" and c.field == C.USER_ID for c in branch.conditions
        )
        per_rule.setdefault(branch.rule_index, []).append((matched, score, on_external_id))
    results = []
    for rule_index, rule in enumerate(config.rules):
        found = per_rule[rule_index]
        matched = reduce(lambda a, b: a | b, [m for m, _, _ in found])
        score = F.greatest(*[F.when(m, s) for m, s, _ in found], F.lit(None))
        external = reduce(lambda a, b: a | b, [m for m, _, ext in found if ext], F.lit(False))
        priority = F.when(external, F.lit(EXTERNAL_ID_PRIORITY)).otherwise(F.lit(rule_index + 1))
        results.append(
            F.when(
                matched,
                F.struct(
                    priority.alias(C.PRIORITY),
                    F.lit(rule.name).alias(C.REASON),
                    score.cast("double").alias(C.SCORE),
                ),
            )  # fmt: skip
        )
    best = F.coalesce(*results)
    return (
        joined.select(C.ID_L, C.ID_R, best.alias("m"))
        .where(F.col("m").isNotNull())
        .select(
            F.col(C.ID_L).alias(C.SRC),
            F.col(C.ID_R).alias(C.DST),
            F.col("m." + C.REASON).alias(C.REASON),
            F.col("m." + C.PRIORITY).alias(C.PRIORITY),
            F.round(F.col("m." + C.SCORE), 6).alias(C.SCORE),
        )
    )


def _fuzzy_specs(all_branches: list[Branch]) -> tuple[tuple[str, str], ...]:
    specs = {
        (cond.field, cond.method)
        for b in all_branches
        for cond in b.conditions
        if X.native_condition(cond) is None
    }
    return tuple(sorted(specs))


def _branch_match(branch: Branch, specs: tuple[tuple[str, str], ...]) -> tuple[Column, Column]:
    """(matched, score) of one branch on the pair row."""
    bit = F.lit(1 << branch.index).cast("long")
    matched = (F.col(C.BLOCK_MASK).bitwiseAND(bit)) != 0
    scores: list[Column] = []
    for cond in branch.conditions:
        native = X.native_condition(cond)
        if native is None:
            value = F.col(f"{_FUZZY}.s{specs.index((cond.field, cond.method))}")
            native = (value.isNotNull() & (value >= cond.min)), value
        matched = matched & F.coalesce(native[0], F.lit(False))
        scores.append(native[1])
    seconds = branch.rule.within_seconds
    if seconds is not None:
        gap = F.abs(
            F.unix_timestamp(F.col(C.EVENT_TS + C.LEFT))
            - F.unix_timestamp(F.col(C.EVENT_TS + C.RIGHT))
        )
        matched = matched & F.coalesce(gap <= seconds, F.lit(False))
    score = F.least(*scores) if len(scores) > 1 else scores[0]
    return matched, score
