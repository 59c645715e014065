"""Benchmark of a nightly incremental run (``jobs/benchmark.py incremental``).

For each batch size F (a fraction of the records when below 1, else a record count):

1. Generate about N records with the demo generator (four sources in four formats) and split
   every source at one timestamp: the oldest records are night 1, the newest F night 2.
   Rows whose timestamp does not parse (the quarantine triggers) stay in night 1. Not timed.
2. Run ``idres-spark run`` in incremental mode on night 1 (a state of about (1 - F) N
   records), then on night 2 (the batch), each in a fresh process, as a user would.
3. Run the job once in overwrite mode on all N records: the full run the batch is compared
   with.

Printed: both wall times (whole process and job), the batch run's stage timings, their ratio
to the full run's, and how the incremental state's groups agree with the full run's
(pairwise precision / recall / F1, the full run's profiles taken as the truth), plus both
against the generator's truth. The figures and the commands are in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from importlib import resources
from pathlib import Path

import pandas as pd
from bench_job import RECORDS_PER_PERSON, cpu_reference, run_job


def _times(name: str, frame: pd.DataFrame) -> pd.Series:
    """A source's event times as UTC (NaT where a row's time does not parse)."""
    from idres_spark.run import demo_data

    fields = dict(zip(demo_data._FIELDS[name], demo_data._COLUMNS[name], strict=True))
    return pd.to_datetime(frame[fields["ts"]], errors="coerce", utc=True, format="mixed")


def split(frames: dict[str, pd.DataFrame], batch: float) -> tuple[dict, dict, int]:
    """(night 1 frames, night 2 frames, batch records): night 2 holds the newest records."""
    times = {name: _times(name, df) for name, df in frames.items() if name != "truth"}
    every = pd.concat(times.values()).dropna().sort_values(ignore_index=True)
    total = sum(len(df) for name, df in frames.items() if name != "truth")
    wanted = int(batch) if batch >= 1 else round(batch * total)
    cutoff = every.iloc[max(0, len(every) - wanted - 1)]
    first, second = {}, {}
    for name, ts in times.items():
        newest = (ts > cutoff).fillna(False).to_numpy()
        first[name] = frames[name][~newest].reset_index(drop=True)
        second[name] = frames[name][newest].reset_index(drop=True)
    return first, second, sum(len(df) for df in second.values())


def config_for(folder: Path, output: Path, mode: str) -> Path:
    """The packaged demo config, reading ``folder/data`` and writing ``output`` in ``mode``."""
    with resources.as_file(resources.files("idres_spark") / "data" / "demo.yaml") as packaged:
        text = Path(packaged).read_text()
    marker = "output: {path: output, mode: overwrite}"
    if marker not in text:
        raise SystemExit(f"the demo config no longer has the line {marker!r}; update this job")
    path = folder / "demo.yaml"
    path.write_text(text.replace(marker, f"output: {{path: {output}, mode: {mode}}}"))
    return path


def published_metrics(output: Path) -> dict:
    pointers = sorted((output / "_published").glob("*.json"))
    run_dir = json.loads(pointers[-1].read_text())["run_dir"]
    return json.loads((output / run_dir / "diagnostics" / "metrics.json").read_text())


def agreement(incremental: Path, full: Path, truth: Path) -> dict[str, dict[str, float]]:
    from pyspark.sql import functions as F

    from idres_spark.run.evaluate import pairwise_scores
    from idres_spark.session import build_local_session
    from idres_spark.state.store import table_path

    spark = build_local_session("idres-bench-incremental", "local[2]")
    try:
        inc = spark.read.parquet(table_path(spark, str(incremental), "record_map"))
        whole = spark.read.parquet(table_path(spark, str(full), "record_map"))
        as_truth = whole.select(
            "source", "source_record_id", F.col("profile_id").alias("person_id")
        )
        people = spark.read.parquet(str(truth))
        return {
            "incremental vs full run": pairwise_scores(inc, as_truth),
            "incremental vs generator": pairwise_scores(inc, people),
            "full run vs generator": pairwise_scores(whole, people),
        }
    finally:
        spark.stop()


def _stages(m: dict) -> str:
    return ", ".join(f"{k} {v:.1f}s" for k, v in m["stage_seconds"].items())


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="benchmark.py incremental", description=__doc__)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--batch", type=float, nargs="+", default=[0.01],
                        help="a fraction of the records (< 1) or a record count")  # fmt: skip
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", help="work in (and keep) this folder")
    args = parser.parse_args(argv)

    from idres_spark.run import demo_data

    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="idres-bench-inc-"))
    if folder.exists() and args.keep:
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    people = max(1, round(args.records / RECORDS_PER_PERSON))
    frames = demo_data.generate(people, args.seed)
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
    reference = cpu_reference()

    full = folder / "full"
    demo_data.write_frames(frames, full / "data")
    full_wall, _, code = run_job(config_for(full, full / "output", "overwrite"), full / "job.log",
                                 env)  # fmt: skip
    if code:
        print(f"the full run failed ({code}); see {full / 'job.log'}")
        return code
    full_m = published_metrics(full / "output")
    print(f"full run       {full_m['records_resolved']:,} records: process {full_wall:.1f}s, "
          f"job {full_m['wall_seconds']:.1f}s ({_stages(full_m)})", flush=True)  # fmt: skip

    for batch in args.batch:
        first, second, size = split(frames, batch)
        base = folder / f"batch-{batch:g}"
        output = base / "output"
        for night, parts in (("night1", first), ("night2", second)):
            demo_data.write_frames(parts, base / night / "data")
        walls, metrics = [], []
        for night, date in (("night1", "2026-11-23"), ("night2", "2026-11-24")):
            config = config_for(base / night, output, "incremental")
            wall, _, code = run_job(config, base / f"{night}.log", env, run_date=date)
            if code:
                print(f"{night} failed ({code}); see {base / f'{night}.log'}")
                return code
            walls.append(wall)
            metrics.append(published_metrics(output))
        state, night2 = metrics
        scores = agreement(output, full / "output", full / "data" / "truth")
        print(f"\nbatch {batch:g}: {size:,} newest records against a state of "
              f"{metrics[0]['records_resolved']:,}")  # fmt: skip
        print(f"  state run    process {walls[0]:.1f}s, job {state['wall_seconds']:.1f}s")
        print(f"  batch run    process {walls[1]:.1f}s, job {night2['wall_seconds']:.1f}s "
              f"({night2.get('resolved_scope')}; {night2.get('profiles_recomputed')} earlier "
              "profiles recomputed)")  # fmt: skip
        print(f"  stages       {_stages(night2)}")
        print(f"  ratio        process {walls[1] / full_wall:.1%} of the full run's, "
              f"job {night2['wall_seconds'] / full_m['wall_seconds']:.1%}")  # fmt: skip
        for name, s in scores.items():
            print(f"  {name:<25} precision {s['precision']:.4f}  recall {s['recall']:.4f}  "
                  f"F1 {s['f1']:.4f}")  # fmt: skip
    print(f"\nCPU reference  {reference:.2f}s before, {cpu_reference():.2f}s after; load "
          f"{os.getloadavg()[0]:.1f}; {os.cpu_count()} cores; under {folder}")  # fmt: skip
    return 0
