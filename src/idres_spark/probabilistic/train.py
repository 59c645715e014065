"""Training without labels: the prior, u and m of every comparison, term frequencies.

- **Prior.** The pairs inside the groups the rules formed, over all pairs, divided by
  ``rules_recall`` (the rules find only part of the duplicates).
- **u, exactly, for levels that are an equality**: the top levels (email, phone with last
  name, first name, external id, street with postal code) and the levels just below a top
  that an equality reaches (``Comparison.exact_below``: email alias, phone): the pairs that
  share a value and are not in one group (value counts per group, never pairs), over the
  non-matching pairs where the comparison has a value. The other levels' u come from seeded
  random pairs of different groups and share what the exact levels leave.
- **m by EM**, one session per blocking rule: the session's pairs (its blocks, within groups
  too) reduced to comparison-pattern counts on the driver; the comparisons that read a field
  the session blocks on are left out of it. Each level's m is the median over the sessions
  that estimated it.
- **Term frequencies** of a comparison's field, counted per group (one customer's repeated
  records do not make their email common), as the share of groups holding the value.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from idres_spark import columns as C
from idres_spark.linking.graph import GROUP_KEY
from idres_spark.matching import rule_expressions as X
from idres_spark.probabilistic import em
from idres_spark.probabilistic import pairs as P
from idres_spark.probabilistic.comparisons import (
    NO_VALUE,
    Comparison,
    level_column,
    pair_columns,
    with_levels,
)
from idres_spark.probabilistic.model import ComparisonModel, Model
from idres_spark.probabilistic.settings import BlockKey, ProbabilisticConfig

log = logging.getLogger(__name__)
TF_VALUE, TF = "value", "tf"
U_FLOOR = 1e-9  # no level's u is taken as exactly zero (its weight would be infinite)


@dataclass(frozen=True)
class Trained:
    model: Model
    term_frequencies: dict[str, DataFrame]  # comparison -> (value, tf) of values in 2+ groups


def group_totals(records: DataFrame) -> tuple[int, int, int]:
    """(records, groups, pairs inside groups)."""
    n = F.col("count")
    row = (
        records.groupBy(GROUP_KEY)
        .count()
        .agg(F.sum(n), F.count(F.lit(1)), F.sum(n * (n - 1) / 2))
        .first()
    )
    return int(row[0] or 0), int(row[1] or 0), int(row[2] or 0)


def shared_pairs_across_groups(records: DataFrame, keys: dict[str, Column]) -> dict[str, int]:
    """Per key: how many record pairs share its value and are in different groups, from
    value counts (sum over values of C(n, 2) minus the same within each group)."""
    if not keys:
        return {}
    keyed = [
        records.select(F.lit(name).alias("_k"), key.alias("_v"), F.col(GROUP_KEY))
        for name, key in keys.items()
    ]
    frame = keyed[0]
    for other in keyed[1:]:
        frame = frame.unionByName(other)
    c = F.col("count")
    per_value = (
        frame.where(F.col("_v").isNotNull())
        .groupBy("_k", "_v", GROUP_KEY)
        .count()
        .groupBy("_k", "_v")
        .agg(F.sum(c).alias("_n"), F.sum(c * (c - 1) / 2).alias("_within"))
    )
    n = F.col("_n")
    rows = per_value.groupBy("_k").agg(F.sum(n * (n - 1) / 2 - F.col("_within"))).collect()
    found = {row[0]: int(row[1] or 0) for row in rows}
    return {name: found.get(name, 0) for name in keys}


def random_pairs(records: DataFrame, wanted: int, total: int, seed: int) -> DataFrame:
    """About ``wanted`` pairs of records picked at random (seeded: the same pairs every time
    for the same records), canonical, of different groups.

    The records are put in ``orders`` seeded hash orders, enough that every record can take
    part in ``wanted`` pairs even when the records are few, and each order pairs neighbours
    (ranks 0-1, 2-3, ...) within hash buckets of about 20,000 records, so no window holds
    every record. A record meets a different partner in each order.
    """
    orders = max(1, math.ceil(2.2 * wanted / max(total, 1)))
    rate = min(1.0, 2.2 * wanted / (max(total, 1) * orders))
    copies = records.select(C.RECORD_ID, GROUP_KEY).withColumn(
        "_order", F.explode(F.sequence(F.lit(0), F.lit(orders - 1)))
    )
    h = F.xxhash64(F.lit(seed), F.col("_order"), F.col(C.RECORD_ID))
    picked = copies.withColumn("_h", h).where(
        F.pmod(F.col("_h"), F.lit(1_000_000)) < F.lit(int(math.ceil(rate * 1_000_000)))
    )
    buckets = max(1, min(256, int(total * orders * rate) // 20_000))
    bucket = F.pmod(F.xxhash64(F.lit(seed + 1), F.col("_h")), F.lit(buckets))
    in_order = Window.partitionBy("_order", "_bucket").orderBy("_h", C.RECORD_ID)
    paired = (
        picked.withColumn("_bucket", bucket)
        .withColumn("_rank", F.row_number().over(in_order))
        .withColumn("_b", F.lead(C.RECORD_ID).over(in_order))
        .withColumn("_gb", F.lead(GROUP_KEY).over(in_order))
    )
    return (
        paired.where((F.col("_rank") % 2 == 1) & (F.col(GROUP_KEY) != F.col("_gb")))
        .select(
            F.least(C.RECORD_ID, "_b").alias(C.ID_L), F.greatest(C.RECORD_ID, "_b").alias(C.ID_R)
        )
        .limit(wanted)
    )


def _no_patterns(comparisons: Sequence[Comparison]) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((0, len(comparisons)), dtype=np.int64), np.zeros(0)


def pattern_counts_by(
    pairs: DataFrame, comparisons: Sequence[Comparison], by: Column
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Per value of ``by`` (an int): (levels: patterns x comparisons, counts) of a pair frame,
    collected on the driver in one job."""
    names = [level_column(c) for c in comparisons]
    rows = (
        with_levels(pairs.withColumn("_by", by), list(comparisons))
        .groupBy("_by", *names)
        .count()
        .collect()
    )
    out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for key in sorted({row["_by"] for row in rows}):
        mine = [row for row in rows if row["_by"] == key]
        mine.sort(key=lambda row: tuple(row[n] for n in names))  # the same order every run
        levels = np.array([[row[n] for n in names] for row in mine], dtype=np.int64)
        out[key] = (levels, np.array([row["count"] for row in mine], dtype=np.float64))
    return out


def sampled_u(
    levels: np.ndarray, counts: np.ndarray, comparisons: Sequence[Comparison]
) -> tuple[list[np.ndarray], list[float]]:
    """Per comparison: u per level from random pairs (smoothed by half a pair per level), and
    the share of random pairs where it has a value."""
    us, shares = [], []
    total = counts.sum()
    for index, comparison in enumerate(comparisons):
        col = levels[:, index] if len(levels) else np.zeros(0, dtype=np.int64)
        seen = col != NO_VALUE
        tally = np.bincount(col[seen], weights=counts[seen], minlength=comparison.top + 1)
        # half a pair per level: a level the sample never met gets a third of the u of one it
        # met once (spread over the levels, the half pair made that a seventeenth, and one
        # true match in the sample moved a rare level's weight by 4 bits)
        us.append((tally + 0.5) / (tally.sum() + 0.5 * len(tally)))
        shares.append(float(counts[seen].sum() / total) if total else 0.0)
    return us, shares


def with_exact_levels(u: np.ndarray, at_or_above: dict[int, float]) -> np.ndarray:
    """``u`` with the top levels of ``at_or_above`` (level -> the exact u of that level or a
    higher one, counted from values) set from those counts, and the levels below them scaled
    to share the rest in their sampled proportions."""
    out = np.array(u, dtype=np.float64)
    above = 0.0  # the exact u of the levels above the current one
    for level in sorted(at_or_above, reverse=True):
        cumulative = min(max(at_or_above[level], above + U_FLOOR), 0.5)
        out[level] = cumulative - above
        above = cumulative
    lowest = min(at_or_above)
    out[:lowest] = out[:lowest] * (1 - above) / max(out[:lowest].sum(), U_FLOOR)
    return np.maximum(out, U_FLOOR)


def m_start(comparison: Comparison) -> np.ndarray:
    """Where EM starts: agreement levels more likely for matches, doubling per level."""
    start = 2.0 ** np.arange(comparison.top + 1)
    return start / start.sum()


def session_leaves_out(rule: Sequence[BlockKey], comparison: Comparison) -> bool:
    blocked = {key.field for key in rule}
    return bool(blocked & set(comparison.fields))


def term_frequencies(records: DataFrame, field_col: Column) -> tuple[DataFrame, int]:
    """(value, tf) for the values held by two or more groups, and how many groups hold a
    value at all (a value of one group has tf 1 / that)."""
    held = records.select(field_col.alias(TF_VALUE), F.col(GROUP_KEY)).where(
        F.col(TF_VALUE).isNotNull()
    )
    per_value = held.distinct().groupBy(TF_VALUE).count()
    groups = held.select(GROUP_KEY).distinct().count()
    common = per_value.where(F.col("count") > 1).select(
        TF_VALUE, (F.col("count") / F.lit(max(groups, 1))).alias(TF)
    )
    return common, groups


def train(
    records: DataFrame,
    comparisons: Sequence[Comparison],
    settings: ProbabilisticConfig,
    blocking: Sequence[Sequence[BlockKey]],
    *,
    max_block_size: int,
    run_id: str,
    fingerprint: str,
) -> Trained:
    """The model for ``records`` (the records with ``GROUP_KEY``, the rules' groups)."""
    started = time.monotonic()
    n_records, n_groups, inside = group_totals(records)
    all_pairs = n_records * (n_records - 1) / 2
    non_matching = max(all_pairs - inside, 1.0)
    prior = min(max(inside / settings.rules_recall / max(all_pairs, 1.0), 1e-12), 0.5)
    columns = [*pair_columns(list(comparisons)), GROUP_KEY]
    # the random pairs (for u) and every session's pairs (for m), levelled in one job
    random = random_pairs(records, settings.sample_pairs, n_records, settings.seed)
    sessions_of = P.session_pairs(
        records, blocking, max_block_size, at_most=settings.session_pairs, seed=settings.seed
    )
    both = random.select(F.lit(-1).alias(P.RULE), C.ID_L, C.ID_R).unionByName(sessions_of)
    patterns = pattern_counts_by(
        P.pair_frame(both, records, pair_columns(list(comparisons))), comparisons, F.col(P.RULE)
    )
    levels, counts = patterns.get(-1, _no_patterns(comparisons))
    us, shares = sampled_u(levels, counts, comparisons)
    exact_keys = {
        f"{c.name}@{level}": key for c in comparisons for level, key in c.exact_keys().items()
    }
    shared = shared_pairs_across_groups(records.select(*columns), exact_keys)
    u_final, exact_flags = [], []
    for comparison, u, share in zip(comparisons, us, shares, strict=True):
        if comparison.exact_levels and share > 0:
            counted = {
                level: shared[f"{comparison.name}@{level}"] / (non_matching * share)
                for level in comparison.exact_levels
            }
            u = with_exact_levels(u, counted)
            exact_flags.append(True)
        else:
            u = np.maximum(u, U_FLOOR)
            exact_flags.append(False)
        u_final.append(u)
    sessions, estimates = [], []
    for index, rule in enumerate(blocking):
        active = [not session_leaves_out(rule, c) for c in comparisons]
        if not any(active):
            continue
        pair_levels, pair_counts = patterns.get(index, _no_patterns(comparisons))
        if not pair_counts.sum():
            sessions.append({"blocking": P.rule_name(rule), "pairs": 0})
            continue
        result = em.fit(
            pair_levels, pair_counts, u_final, [m_start(c) for c in comparisons], active,
            max_iterations=settings.max_iterations,
        )  # fmt: skip
        if not result.converged:
            log.warning(
                "probabilistic training: the session blocked on %s stopped at the iteration "
                "cap (%d) before converging; its m estimates may be rough (raise "
                "probabilistic.max_iterations)", P.rule_name(rule), settings.max_iterations,
            )  # fmt: skip
        estimates.append(result.m)
        sessions.append({
            "blocking": P.rule_name(rule), "pairs": int(pair_counts.sum()),
            "iterations": result.iterations, "converged": result.converged,
            "match_share": round(result.match_share, 6),
            "left_out": [c.name for c, on in zip(comparisons, active, strict=True) if not on],
        })  # fmt: skip
    m_final = em.combine(estimates, [m_start(c) for c in comparisons])
    unestimated = [
        c.name for i, c in enumerate(comparisons) if all(e[i] is None for e in estimates)
    ]
    if unestimated:
        log.warning(
            "probabilistic training: no session estimated the m of %s (every session blocks on "
            "its fields, or found no pairs); their starting values are used", unestimated,
        )  # fmt: skip
    tables, tf_groups = {}, {}
    for comparison in comparisons:
        if comparison.tf_field is not None:
            table, groups = term_frequencies(records, X.field(comparison.tf_field))
            tables[comparison.name], tf_groups[comparison.name] = table, groups
    model = Model(
        model_id=f"{fingerprint}-{run_id}",
        fingerprint=fingerprint,
        trained_run_id=run_id,
        prior=prior,
        comparisons=tuple(
            ComparisonModel(
                name=c.name,
                labels=c.labels,
                m=tuple(float(x) for x in m),
                u=tuple(float(x) for x in u),
                u_exact=exact,
                tf_field=c.tf_field,
            )
            for c, m, u, exact in zip(comparisons, m_final, u_final, exact_flags, strict=True)
        ),  # fmt: skip
        training={
            "records": n_records,
            "groups": n_groups,
            "pairs_in_groups": inside,
            "random_pairs": int(counts.sum()),
            "sessions": sessions,
            "tf_groups": tf_groups,
            "seconds": round(time.monotonic() - started, 1),
            "unestimated": unestimated,
        },  # fmt: skip
    )
    return Trained(model, tables)
