"""Score stage: candidate pairs + records -> matched edges, one per linked pair.

A pair is evaluated once against every AND branch that produced it (its ``block_mask`` bit):
native column expressions for equals, alias, typo, levenshtein and time windows; vectorized
UDFs built by :func:`fuzzy_score_udf` for the fuzzy methods (jaro_winkler, token_set), one per
distinct ``(field, method)``, each scoring whole Arrow batches with rapidfuzz's ``cpdist``. All
of them sit in one select, so Spark evaluates them in one Python pass over the pairs and sends
each input column once. Series in, Series out: a single UDF taking and returning structs (one
Arrow round trip for all specs) measured 1.5-3x slower, the struct packing costing more than
the extra output columns (see docs/benchmarks.md).

The edge carries the first matching rule in config order and that rule's best branch score (a
branch scores the minimum of its conditions' scores). Its ``priority`` (smaller is stronger,
used when the graph stage must cut links) is 0 when the matching rule matched through an
``equals`` on ``user_id`` (exact external id), else the rule's position from 1.
"""

from __future__ import annotations

from functools import reduce

import pandas as pd
import pyarrow as pa
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from idres_spark import columns as C
from idres_spark.config import Config
from idres_spark.matching import rule_expressions as X
from idres_spark.matching.block import Branch, branches

EDGE_COLUMNS = (C.SRC, C.DST, C.REASON, C.PRIORITY, C.SCORE)
EXTERNAL_ID_PRIORITY = 0  # a link on equal external ids is as strong as a transformation
_FUZZY = "_fuzzy"


def fuzzy_score_udf(method: str):
    """A vectorized UDF ``(left, right) -> similarity in [0, 1]`` (null when either side is).

    An Arrow UDF where PySpark has them (4.1+): the batches go straight from Arrow to
    rapidfuzz, twice the throughput of the pandas UDF used on older PySpark, whose time goes
    mostly into building pandas Series of Python strings (docs/benchmarks.md).
    """
    from idres_spark.matching.comparators import similarity

    try:
        from pyspark.sql.functions import arrow_udf
    except ImportError:  # PySpark 3.5 / 4.0
        from pyspark.sql.functions import pandas_udf

        @pandas_udf(T.DoubleType())  # type: ignore[call-overload]
        def score_series(left: pd.Series, right: pd.Series) -> pd.Series:
            return pd.Series(similarity(left, right, method), index=left.index)

        return score_series

    @arrow_udf(T.DoubleType())  # type: ignore[call-overload]
    def score_arrays(left: pa.Array, right: pa.Array) -> pa.Array:
        scores = similarity(left, right, method)  # masked in Arrow, present pairs converted
        return pa.array(scores, type=pa.float64(), from_pandas=True)  # NaN -> null

    return score_arrays


def match_pairs(pairs: DataFrame, records: DataFrame, config: Config) -> DataFrame:
    """Matched edges ``src, dst, reason, priority, score`` (src < dst, one row per pair)."""
    side = records.select(*[F.col(c).alias(c + C.LEFT) for c in records.columns])
    other = records.select(*[F.col(c).alias(c + C.RIGHT) for c in records.columns])
    joined = pairs.join(side, C.ID_L).join(other, C.ID_R)
    all_branches = branches(config)
    specs = _fuzzy_specs(all_branches)

    def needed(spec: tuple[str, str]) -> Column:
        """Pairs a branch with this fuzzy condition may still match (its bit is set, its native
        conditions hold): only these send their values to the UDF; the others send nulls,
        which the comparators skip before any string reaches Python."""
        gates = [_native_gate(b) for b in all_branches if spec in _branch_specs(b)]
        return reduce(lambda a, b: a | b, gates)

    gates = [needed(spec) for spec in specs]
    joined = joined.select(
        "*",
        *[
            fuzzy_score_udf(method)(
                F.when(gate, X.field(name, C.LEFT)), F.when(gate, X.field(name, C.RIGHT))
            ).alias(f"{_FUZZY}{i}")
            for i, ((name, method), gate) in enumerate(zip(specs, gates, strict=True))
        ],
    )
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


def _branch_specs(branch: Branch) -> set[tuple[str, str]]:
    return {(c.field, c.method) for c in branch.conditions if X.native_condition(c) is None}


def _native_gate(branch: Branch) -> Column:
    """True when the pair came from this branch's block and every condition Spark evaluates
    natively (equals, typo, levenshtein, the time window) holds: all but the fuzzy ones."""
    bit = F.lit(1 << branch.index).cast("long")
    gate = (F.col(C.BLOCK_MASK).bitwiseAND(bit)) != 0
    for cond in branch.conditions:
        native = X.native_condition(cond)
        if native is not None:
            gate = gate & F.coalesce(native[0], F.lit(False))
    seconds = branch.rule.within_seconds
    if seconds is not None:
        gap = F.abs(
            F.unix_timestamp(F.col(C.EVENT_TS + C.LEFT))
            - F.unix_timestamp(F.col(C.EVENT_TS + C.RIGHT))
        )
        gate = gate & F.coalesce(gap <= seconds, F.lit(False))
    return gate


def _branch_match(branch: Branch, specs: tuple[tuple[str, str], ...]) -> tuple[Column, Column]:
    """(matched, score) of one branch on the pair row."""
    matched = _native_gate(branch)
    scores: list[Column] = []
    for cond in branch.conditions:
        native = X.native_condition(cond)
        if native is None:
            value = F.col(f"{_FUZZY}{specs.index((cond.field, cond.method))}")
            matched = matched & value.isNotNull() & (value >= cond.min)
            scores.append(value)
        else:
            scores.append(native[1])
    score = F.least(*scores) if len(scores) > 1 else scores[0]
    return matched, score
