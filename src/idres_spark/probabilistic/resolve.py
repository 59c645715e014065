"""The probabilistic step of a run: the model (reused or trained), the candidate pairs between
rule groups, their scores and the group merges (:mod:`link`)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

from idres_spark import columns as C
from idres_spark.config import Config
from idres_spark.linking.graph import GROUP_KEY
from idres_spark.probabilistic import comparisons as K
from idres_spark.probabilistic import link
from idres_spark.probabilistic import pairs as P
from idres_spark.probabilistic.model import Model, settings_fingerprint
from idres_spark.probabilistic.settings import DEFAULT_BLOCKING, BlockKey
from idres_spark.probabilistic.train import TF_VALUE, train
from idres_spark.state.storage import FileSystem, table_reader

log = logging.getLogger(__name__)
MODEL_FILE = "model/probabilistic.json"  # in the run folder, beside the tables
TF_TABLE = "model/tf_{}"


@dataclass(frozen=True)
class SavedModel:
    model: Model
    term_frequencies: dict[str, DataFrame]


@dataclass(frozen=True)
class Result:
    outcome: link.Outcome
    model: Model
    term_frequencies: dict[str, DataFrame]
    trained: bool  # this run trained the model
    weights: Observation | None = None  # the candidate pairs by match weight, 2 bits a bucket


class Plan:
    """The comparisons, blocking and fingerprint of a config; whether a saved model fits."""

    def __init__(self, config: Config) -> None:
        settings = config.probabilistic
        mapped = {f for s in config.sources for f, col in s.columns.model_dump().items() if col}
        mapped |= config.custom_fields
        self.settings = settings
        self.comparisons = K.build(settings, mapped, settings.window_seconds)
        rules = settings.blocking or DEFAULT_BLOCKING
        self.blocking: list[tuple[BlockKey, ...]] = [
            tuple(rule) for rule in rules if {k.field for k in rule} <= mapped | {C.ADDRESS}
        ]
        self.fingerprint = settings_fingerprint(settings.model_dump(mode="json"), self.comparisons)

    def fits(self, saved: SavedModel | None) -> bool:
        return (
            saved is not None
            and not self.settings.retrain
            and saved.model.fingerprint == self.fingerprint
        )


def load(spark: SparkSession, folder: str | None) -> SavedModel | None:
    """The model a run folder holds, or None (none, or of an older format)."""
    if folder is None:
        return None
    fs = FileSystem(spark, folder)
    path = f"{folder}/{MODEL_FILE}"
    if not fs.exists(path):
        return None
    model = Model.from_json(fs.read_text(path))
    if model is None:
        return None
    tables = {}
    read = table_reader(spark, folder)
    for comparison in model.comparisons:
        table = TF_TABLE.format(comparison.name)
        if comparison.tf_field is not None and fs.exists(f"{folder}/{table}"):
            tables[comparison.name] = read(table)
    return SavedModel(model, tables)


def run(
    records: DataFrame,
    groups: DataFrame,
    config: Config,
    plan: Plan,
    saved: SavedModel | None,
    *,
    run_id: str,
    materialize: Callable[[DataFrame], DataFrame],
    new_only: bool,
    forget: tuple[str, ...] = (),
    cannot: DataFrame | None = None,
) -> Result:
    """Merge the rule ``groups`` of ``records`` by probabilistic links. ``new_only``: only
    pairs that touch a record new to the state (an incremental run's affected set), with a
    saved model that fits (the pipeline resolves the whole state when none does).
    ``forget``: values erasure removed this run; a saved model's term frequencies drop them
    (a value held by two groups is in the table, and it is carried from run to run)."""
    columns = K.pair_columns(plan.comparisons, plan.settings.vetoes.different)
    grouped = materialize(
        records.select(*columns, *([C.IS_NEW] if new_only else [])).join(groups, C.RECORD_ID)
    )
    if plan.fits(saved):
        assert saved is not None
        model, trained = saved.model, False
        tables = {
            name: table.where(~F.col(TF_VALUE).isin(list(forget))) if forget else table
            for name, table in saved.term_frequencies.items()
        }
    else:
        fitted = train(
            grouped, plan.comparisons, plan.settings, plan.blocking,
            max_block_size=plan.settings.max_block_size, run_id=run_id,
            fingerprint=plan.fingerprint,
        )  # fmt: skip
        model, trained = fitted.model, True
        tables = {name: materialize(table) for name, table in fitted.term_frequencies.items()}
        log.info(
            "probabilistic model %s trained in %.1fs: prior %.3g, sessions %s", model.model_id,
            model.training.get("seconds", 0.0), model.prior,
            [(s["blocking"], s.get("pairs")) for s in model.training.get("sessions", [])],
        )  # fmt: skip
    candidates = P.blocked_pairs(grouped, plan.blocking, plan.settings.max_block_size,
                                 new_only=new_only)  # fmt: skip
    with_tf = link.with_term_frequencies(grouped, plan.comparisons, tables)
    tf_columns = [c for c in with_tf.columns if c.startswith("_tf_")]
    frame = P.pair_frame(candidates, with_tf, [*columns, *tf_columns])
    scored = link.score(frame, plan.comparisons, model, plan.settings)
    weights = Observation("probabilistic_weights")  # counted as the pairs are scored, no job
    bucket = F.least(F.greatest(F.floor(F.col(link.WEIGHT) / 2) * 2, F.lit(-40)), F.lit(40))
    scored = scored.observe(weights, *[
        F.sum(F.when(bucket == b, 1).otherwise(0)).alias(str(b)) for b in range(-40, 42, 2)
    ])  # fmt: skip
    outcome = link.merge_groups(
        scored, groups, records, plan.settings, config.limits, materialize, cannot
    )
    return Result(outcome, model, tables, trained, weights)


def candidate_ends(records: DataFrame, plan: Plan, max_block_size: int) -> DataFrame:
    """``src, dst`` of the candidate pairs that touch a new record, over the whole state: in an
    incremental run their profiles join the affected set (no groups are needed to find them)."""
    pairs = P.blocked_pairs(
        records.withColumn(GROUP_KEY, F.col(C.RECORD_ID)), plan.blocking, max_block_size,
        new_only=True,
    )  # fmt: skip
    return pairs.select(F.col(C.ID_L).alias(C.SRC), F.col(C.ID_R).alias(C.DST))


def summary(result: Result) -> dict[str, object]:
    """The run's figures for metrics.json (decisions counted from the links table)."""
    decisions = result.outcome.links.groupBy(link.DECISION).count().collect()
    return {
        "model_id": result.model.model_id,
        "trained_this_run": result.trained,
        "prior": result.model.prior,
        "group_merges": result.outcome.merges,
        "decisions": dict(sorted((row[0], row[1]) for row in decisions)),
        "training": result.model.training if result.trained else None,
        "comparisons": [
            {
                "name": c.name,
                "u_exact": c.u_exact,
                "levels": [
                    {"label": label, "m": m, "u": u, "weight": w}
                    for label, m, u, w in zip(c.labels, c.m, c.u, c.weights, strict=True)
                ],
            }
            for c in result.model.comparisons
        ],  # fmt: skip
        "weight_histogram": _histogram(result.weights),
        "samples": _samples(result),
    }


def _histogram(weights: Observation | None) -> dict[str, int] | None:
    if weights is None:
        return None
    try:
        counts = weights.get
    except Exception:  # no task ran over the pairs (none): Spark 4 has no row to give
        return {}
    return {name: int(n) for name, n in counts.items() if n}


def _samples(result: Result, count: int = 3) -> list[dict[str, object]]:
    """A few merges (picked by a hash of their records, the same each run) with each
    comparison's contribution, for the report's waterfall; no values, no record ids."""
    merged = result.outcome.links.where(F.col(link.DECISION) == "merged")
    rows = merged.orderBy(F.xxhash64(C.ID_L, C.ID_R)).limit(count).collect()
    return [
        {
            "prior": result.model.prior_weight,
            "parts": [
                {"comparison": p["comparison"], "level": p["level"], "weight": p["weight"]}
                for p in row[link.EXPLANATION]
            ],
            "weight": row[link.WEIGHT],
            "probability": row[link.PROBABILITY],
        }
        for row in rows
    ]
