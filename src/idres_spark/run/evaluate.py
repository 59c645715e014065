"""Pairwise precision / recall / F1 of resolved groups against a ground truth.

A "pair" is two records in the same group. With profile sizes n_p, true-person sizes n_t and
the sizes c of their intersections: predicted = sum C(n_p, 2), true = sum C(n_t, 2),
correct = sum C(c, 2). Computed with three small aggregations, never pair by pair.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from idres_spark import columns as C


def _pairs(df: DataFrame, *keys: str) -> int:
    n = F.col("n")
    row = (
        df.groupBy(*keys)
        .count()
        .withColumnRenamed("count", "n")
        .agg(F.sum(n * (n - 1) / 2).alias("pairs"))
        .first()
    )
    return int(row["pairs"] or 0) if row is not None else 0


def pairwise_scores(record_map: DataFrame, truth: DataFrame) -> dict[str, float]:
    """``record_map`` (source, source_record_id, profile_id) vs ``truth`` (…, person_id).

    Truth keys that appear more than once (a source re-used a record id for two people) are
    ambiguous and left out of the evaluation.
    """
    keys = [C.SOURCE, C.SOURCE_RECORD_ID]
    truth = truth.select(C.SOURCE, F.col(C.SOURCE_RECORD_ID).cast("string"), "person_id")
    unique = truth.groupBy(*keys).count().where("count = 1").drop("count")
    joined = record_map.select(*keys, C.PROFILE_ID).join(truth.join(unique, keys), keys)
    predicted = _pairs(joined, C.PROFILE_ID)
    actual = _pairs(joined, "person_id")
    correct = _pairs(joined, C.PROFILE_ID, "person_id")
    precision = correct / predicted if predicted else 1.0
    recall = correct / actual if actual else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "predicted_pairs": predicted,
        "true_pairs": actual,
        "correct_pairs": correct,
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
    }
