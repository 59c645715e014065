"""``idres-spark demo``: generate demo data, run the job on it in local mode, score it."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

from idres_spark.run import demo_data
from idres_spark.run.summary import format_summary


def run_demo(folder: Path, people: int = 5000, seed: int = 7) -> int:
    from idres_spark.cli import load_runnable_config
    from idres_spark.run.evaluate import pairwise_scores
    from idres_spark.run.job import run_job
    from idres_spark.session import get_session
    from idres_spark.state.store import table_path

    folder = folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    demo_data.write(folder / "data", n_people=people, seed=seed)
    config_path = folder / "demo.yaml"
    with resources.as_file(resources.files("idres_spark") / "data" / "demo.yaml") as packaged:
        shutil.copyfile(packaged, config_path)
    config = load_runnable_config(str(config_path), None)
    spark = get_session("idres-spark-demo")
    metrics = run_job(config, spark=spark)
    record_map = spark.read.parquet(table_path(spark, str(folder / "output"), "record_map"))
    truth = spark.read.parquet(str(folder / "data" / "truth"))
    scores = pairwise_scores(record_map, truth)
    print(format_summary(metrics))
    print(
        f"  vs ground truth   precision {scores['precision']:.4f}  recall {scores['recall']:.4f}"
        f"  F1 {scores['f1']:.4f}  ({scores['correct_pairs']:,} of {scores['predicted_pairs']:,}"
        f" linked pairs correct; {scores['true_pairs']:,} true pairs)"
    )
    print(f"  data and outputs  {folder}")
    return 0
