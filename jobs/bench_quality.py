"""Matching quality against a ground truth: rules only vs rules + probabilistic
(``jobs/benchmark.py quality``; figures and commands in docs/benchmarks.md).

    python jobs/benchmark.py quality --dataset hard --records 100000 [--seed 7]
        [--variants rules,probabilistic] [--model-seeds 1,2,3] [--keep DIR] [--json FILE]

1. Data into a work folder (``--keep DIR`` to reuse it: the data is generated again only
   when the data set, size, seed or generator code differ): ``hard`` from
   :mod:`idres_spark.run.hard_data` (about ``--records`` records), ``febrl3`` / ``febrl4``
   from :mod:`idres_spark.run.febrl` (fixed sizes; the CSVs are cached in ``.cache/febrl``).
   Next to the data, a copy of ``conf/quality/<dataset>.yaml`` with its paths resolved.
2. One SparkSession (``local[2]``), the job run in this process once per variant, each into
   its own output folder ``output-<variant>`` (a new run on top of any earlier one there, in
   overwrite mode): ``rules`` is the config as it is, ``probabilistic`` the same with
   ``probabilistic: {enabled: true}``. A variant whose config does not validate (a section
   this version does not know yet) is reported and skipped; one whose run fails is reported
   as failed (traceback on stderr) and the other variants still run. ``--model-seeds``
   replaces ``probabilistic`` by one run per ``probabilistic.seed`` (``probabilistic-seedN``)
   and prints the range of the figures over them: the spread the random sample causes.
3. Per variant: records, predicted / true / correct pairs, pairwise precision, recall and F1
   (:func:`idres_spark.run.evaluate.pairwise_scores`), the false-merge rate of household
   pairs and of lookalike-email pairs (:func:`false_merge_rates`), and the job's wall time.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATASETS = ("hard", "febrl3", "febrl4")
VARIANTS = {"rules": {}, "probabilistic": {"probabilistic": {"enabled": True}}}
GROUPS = {"household": "household_id", "lookalike": "lookalike_group"}
RUN_DATE = "2026-12-01"


def false_merge_rates(record_map, truth) -> dict[str, float | int]:
    """For households and lookalike-email groups (``household_*``, ``lookalike_*``): the
    pairs of records of DIFFERENT people of one group (``_pairs``), those of them that end in
    one profile (``_merged``), and ``_merged / _pairs`` (``_rate``; 0.0 without such pairs).

    ``record_map`` has ``source, source_record_id, profile_id``; ``truth`` has ``source,
    source_record_id, person_id, household_id, lookalike_group`` (truth keys that appear more
    than once are left out, as in ``pairwise_scores``). From the sizes of nested groups, never
    pair by pair: pairs of different people = C(n, 2) of the group - sum of C(n, 2) of its
    people; merged ones the same within each (group, profile)."""
    from pyspark.sql import functions as F

    keys = ["source", "source_record_id"]
    truth = truth.select(*keys, "person_id", *GROUPS.values())
    unique = truth.groupBy(*keys).count().where("count = 1").drop("count")
    joined = record_map.select(*keys, "profile_id").join(truth.join(unique, keys), keys)
    out: dict[str, float | int] = {}
    for name, column in GROUPS.items():
        counts = (
            joined.where(F.col(column).isNotNull())
            .groupBy(column, "person_id", "profile_id")
            .count()
            .cache()
        )
        pairs = {}
        for label, by in (("group", [column]), ("person", [column, "person_id"]),
                          ("profile", [column, "profile_id"]),
                          ("both", [column, "person_id", "profile_id"])):  # fmt: skip
            n = F.col("n")
            row = (
                counts.groupBy(*by).agg(F.sum("count").alias("n"))
                .agg(F.sum(n * (n - 1) / 2).alias("pairs")).first()
            )  # fmt: skip
            pairs[label] = int(row["pairs"] or 0)
        counts.unpersist()
        total = pairs["group"] - pairs["person"]
        merged = pairs["profile"] - pairs["both"]
        out[f"{name}_pairs"] = total
        out[f"{name}_merged"] = merged
        out[f"{name}_rate"] = round(merged / total, 4) if total else 0.0
    return out


def prepare(dataset: str, records: int, seed: int, folder: Path) -> Path:
    """The data under ``folder/data`` (reused when the data set, size, seed and generator
    code are the same) and the config copy with resolved paths; returns the copy's path."""
    import yaml

    from idres_spark.run import febrl, hard_data

    data = folder / "data"
    module = hard_data if dataset == "hard" else febrl
    code = hashlib.sha256(Path(module.__file__).read_bytes()).hexdigest()[:12]
    stamp = {"dataset": dataset, "records": records if dataset == "hard" else None,
             "seed": seed if dataset == "hard" else None, "generator": code}  # fmt: skip
    marker = data / "_dataset.json"
    if marker.is_file() and json.loads(marker.read_text()) == stamp:
        print(f"reusing the {dataset} data in {data}", flush=True)
    else:
        if data.exists() and not marker.is_file():
            raise SystemExit(f"{data} exists but this benchmark did not write it: pick another "
                             "--keep folder")  # fmt: skip
        shutil.rmtree(data, ignore_errors=True)  # data this benchmark wrote for other settings
        start = time.perf_counter()
        if dataset == "hard":
            hard_data.write(hard_data.generate(records, seed), data)
        else:
            febrl.write(febrl.load(dataset, ROOT / ".cache" / "febrl"), data)
        marker.write_text(json.dumps(stamp))
        print(f"wrote the {dataset} data in {time.perf_counter() - start:.1f}s under {data}",
              flush=True)  # fmt: skip
    config = yaml.safe_load((ROOT / "conf" / "quality" / f"{dataset}.yaml").read_text())
    for source in config["sources"]:
        source["path"] = str((folder / source["path"]).resolve())
    config.setdefault("output", {})["path"] = str((folder / "output").resolve())
    copy = folder / f"{dataset}.yaml"
    copy.write_text(yaml.safe_dump(config, sort_keys=False))
    return copy


def run_variant(spark, config_path: Path, variant: str, folder: Path, changes: dict) -> dict:
    """Run the job with one variant's config (the config with ``changes``); its figures, or
    ``{"skipped": reason}``."""
    import datetime as dt

    from pyspark.sql import functions as F

    from idres_spark.config import load_config
    from idres_spark.errors import ConfigError
    from idres_spark.run.evaluate import pairwise_scores
    from idres_spark.run.job import run_job
    from idres_spark.state.store import table_path

    output = folder / f"output-{variant}"
    overrides = {**changes, "output": {"path": str(output.resolve())}}
    try:
        config = load_config(config_path, overrides=overrides)
    except ConfigError as exc:
        return {"skipped": f"the config does not validate: {exc.message}"}
    load = os.getloadavg()[0]
    start = time.perf_counter()
    metrics = run_job(config, run_date=dt.date.fromisoformat(RUN_DATE), spark=spark)
    wall = time.perf_counter() - start
    record_map = spark.read.parquet(table_path(spark, str(output), "record_map"))
    truth = spark.read.parquet(str(folder / "data" / "truth"))
    truth = truth.withColumn("source_record_id", F.col("source_record_id").cast("string"))
    return {
        "records": metrics["records_in"],
        "quarantined": metrics["quarantined"],
        "profiles": metrics["profiles"],
        **pairwise_scores(record_map, truth),
        **false_merge_rates(record_map, truth),
        "job_wall_seconds": round(wall, 1),
        "load_average": [round(load, 1), round(os.getloadavg()[0], 1)],
        "edges_by_reason": metrics.get("edges_by_reason", {}),
        "stage_seconds": metrics.get("stage_seconds", {}),
    }


def print_variant(variant: str, figures: dict) -> None:
    print(f"\n{variant}")
    for outcome in ("skipped", "failed"):
        if outcome in figures:
            print(f"  {outcome}: {figures[outcome]}")
            return
    f = figures
    print(f"  records            {f['records']:,} ({f['quarantined']:,} quarantined); "
          f"profiles {f['profiles']:,}")  # fmt: skip
    print(f"  pairs              predicted {f['predicted_pairs']:,}  true {f['true_pairs']:,}"
          f"  correct {f['correct_pairs']:,}")  # fmt: skip
    print(f"  precision          {f['precision']:.4f}")
    print(f"  recall             {f['recall']:.4f}")
    print(f"  F1                 {f['f1']:.4f}")
    for name in GROUPS:
        print(f"  {name + ' pairs':<19}{f[f'{name}_merged']:,} of {f[f'{name}_pairs']:,} merged "
              f"(false-merge rate {f[f'{name}_rate']:.4f})")  # fmt: skip
    links = ", ".join(f"{k} {v:,}" for k, v in f["edges_by_reason"].items())
    print(f"  links by reason    {links}")
    print(
        "  stage timings      " + ", ".join(f"{k} {v:.1f}s" for k, v in f["stage_seconds"].items())
    )
    before, after = f["load_average"]
    print(f"  job wall time      {f['job_wall_seconds']:.1f}s (load average {before} before, "
          f"{after} after; {os.cpu_count()} cores)")  # fmt: skip


def print_spread(runs: dict[str, dict]) -> None:
    """The range of precision, recall and household false merges over the seeded runs."""
    done = [f for f in runs.values() if "precision" in f]
    if len(done) < 2:
        return
    print(f"\nspread over {len(done)} model seeds")
    for key in ("precision", "recall", "f1", "household_merged", "lookalike_merged"):
        values = [f[key] for f in done]
        low, high = min(values), max(values)
        shown = f"{low:.4f} .. {high:.4f}" if isinstance(low, float) else f"{low} .. {high}"
        print(f"  {key:<19}{shown}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="benchmark.py quality", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--dataset", choices=DATASETS, default="hard")
    parser.add_argument("--records", type=int, default=100_000, help="hard: about N records")
    parser.add_argument("--seed", type=int, default=7, help="hard: the generator's seed")
    parser.add_argument("--variants", default="rules,probabilistic",
                        help=f"comma-separated, of {', '.join(VARIANTS)}")  # fmt: skip
    parser.add_argument("--model-seeds", default="",
                        help="comma-separated: run the probabilistic variant once per "
                        "probabilistic.seed (its random sample) and print the spread")  # fmt: skip
    parser.add_argument("--keep", help="work in (and keep) this folder; reuses its data")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {list(VARIANTS)}")
    try:
        seeds = [int(s) for s in args.model_seeds.split(",") if s.strip()]
    except ValueError:
        parser.error(f"--model-seeds takes integers, got {args.model_seeds!r}")
    changes = dict(VARIANTS)
    if seeds:  # one probabilistic variant per seed, instead of the default seed's
        for seed in seeds:
            changes[f"probabilistic-seed{seed}"] = {
                "probabilistic": {"enabled": True, "seed": seed}
            }
        variants = [v for v in variants if v != "probabilistic"]
        variants += [f"probabilistic-seed{seed}" for seed in seeds]
    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="idres-quality-"))
    folder.mkdir(parents=True, exist_ok=True)
    config_path = prepare(args.dataset, args.records, args.seed, folder)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from idres_spark.session import build_local_session

    spark = build_local_session("idres-bench-quality", "local[2]")
    results = {}
    try:
        for variant in variants:
            print(f"running variant {variant} ...", flush=True)
            try:
                results[variant] = run_variant(
                    spark, config_path, variant, folder, changes[variant]
                )
            except Exception as exc:  # the other variants still run; the traceback on stderr
                traceback.print_exc()
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
                results[variant] = {"failed": f"{type(exc).__name__}: {first}"}
    finally:
        spark.stop()
    size = f"{args.records:,} records asked, seed {args.seed}" if args.dataset == "hard" else ""
    print(f"\ndataset {args.dataset}{f' ({size})' if size else ''}; work folder {folder}")
    for variant, figures in results.items():
        print_variant(variant, figures)
    print_spread({v: f for v, f in results.items() if v.startswith("probabilistic-seed")})
    if args.json:
        report = {"dataset": args.dataset, "seed": args.seed, "work_folder": str(folder),
                  "records_asked": args.records if args.dataset == "hard" else None,
                  "variants": results}  # fmt: skip
        Path(args.json).write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
        print(f"\nfigures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
