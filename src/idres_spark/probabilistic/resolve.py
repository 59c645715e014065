"""The probabilistic step of a run: the model (reused or trained), the candidate pairs between
rule groups, their scores and the group merges (:mod:`link`)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from idres_spark import columns as C
from idres_spark.config import Config
from idres_spark.linking.graph import GROUP_KEY
from idres_spark.probabilistic import comparisons as K
from idres_spark.probabilistic import link
from idres_spark.probabilistic import pairs as P
from idres_spark.probabilistic.model import Model, settings_fingerprint
from idres_spark.probabilistic.settings import DEFAULT_BLOCKING, BlockKey
from idres_spark.probabilistic.train import train
from idres_spark.state.storage import FileSystem

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
    for comparison in model.comparisons:
        table = f"{folder}/{TF_TABLE.format(comparison.name)}"
        if comparison.tf_field is not None and fs.exists(table):
            tables[comparison.name] = spark.read.parquet(table)
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
) -> Result:
    """Merge the rule ``groups`` of ``records`` by probabilistic links. ``new_only``: only
    pairs that touch a record new to the state (an incremental run's affected set), with a
    saved model that fits (the pipeline resolves the whole state when none does)."""
    columns = K.pair_columns(plan.comparisons)
    grouped = materialize(
        records.select(*columns, *([C.IS_NEW] if new_only else [])).join(groups, C.RECORD_ID)
    )
    if plan.fits(saved):
        assert saved is not None
        model, tables, trained = saved.model, saved.term_frequencies, False
    else:
        fitted = train(
            grouped, plan.comparisons, plan.settings, plan.blocking,
            max_block_size=config.limits.max_block_size, run_id=run_id,
            fingerprint=plan.fingerprint,
        )  # fmt: skip
        model, trained = fitted.model, True
        tables = {name: materialize(table) for name, table in fitted.term_frequencies.items()}
        log.info(
            "probabilistic model %s trained in %.1fs: prior %.3g, sessions %s", model.model_id,
            model.training.get("seconds", 0.0), model.prior,
            [(s["blocking"], s.get("pairs")) for s in model.training.get("sessions", [])],
        )  # fmt: skip
    candidates = P.blocked_pairs(
        grouped, plan.blocking, config.limits.max_block_size, new_only=new_only
    )
    with_tf = link.with_term_frequencies(grouped, plan.comparisons, tables)
    tf_columns = [c for c in with_tf.columns if c.startswith("_tf_")]
    frame = P.pair_frame(candidates, with_tf, [*columns, *tf_columns])
    scored = link.score(frame, plan.comparisons, model, plan.settings)
    outcome = link.merge_groups(scored, groups, records, plan.settings, config.limits, materialize)
    return Result(outcome, model, tables, trained)


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
    }
