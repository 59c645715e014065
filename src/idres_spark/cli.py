"""The imperative shell: ``idres-spark run | validate | demo``.

Reads sources, resolves, writes; prints project errors as one message without a traceback and
exits non-zero (config 2, input 3, graph 4, environment 5, anything unexpected 1).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from idres_spark.config import Config, load_config
from idres_spark.errors import ConfigError, GraphError, IdresError

log = logging.getLogger("idres_spark")
DEFAULT_DEMO_DIR = "idres-demo"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _setup_logging(args.verbose)
    try:
        return int(args.handler(args) or 0)
    except IdresError as exc:
        print(f"idres-spark: error [{exc.code}]: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("idres-spark: interrupted", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="idres-spark",
        description="Customer identity resolution on Spark: resolve records into profiles.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="resolve identities with a config")
    run.add_argument("--config", required=True, help="YAML config file")
    run.add_argument("--run-date", type=_date, default=None, help="logical run date YYYY-MM-DD")
    run.add_argument("--output", default=None, help="override output.path")
    run.set_defaults(handler=_cmd_run)
    validate = sub.add_parser("validate", help="check the config and each source's columns")
    validate.add_argument("--config", required=True)
    validate.set_defaults(handler=_cmd_validate)
    demo = sub.add_parser("demo", help="generate demo data and resolve it in local mode")
    demo.add_argument("--output", default=DEFAULT_DEMO_DIR, help="folder for data and outputs")
    demo.add_argument("--people", type=int, default=5000, help="people to generate")
    demo.add_argument("--seed", type=int, default=7)
    demo.set_defaults(handler=_cmd_demo)
    return parser


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date like 2025-06-30") from None


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("py4j").setLevel(logging.WARNING)


def load_runnable_config(path: str, output: str | None) -> Config:
    """Load a config and refuse settings this version cannot run yet."""
    overrides = {"output": {"path": os.path.abspath(output)}} if output else None
    config = load_config(path, overrides)
    if config.output.mode == "incremental":
        raise ConfigError(
            f"{path}: output.mode: incremental runs are not available in this version; "
            "use `mode: overwrite`",
            code="not_supported",
        )
    return config


def _cmd_validate(args: argparse.Namespace) -> int:
    from idres_spark import read
    from idres_spark.session import get_session

    config = load_runnable_config(args.config, None)
    spark = get_session("idres-spark-validate")
    read.check_schemas(read.load_sources(spark, config), config)
    rules = ", ".join(r.name for r in config.rules)
    print(f"config OK: {len(config.sources)} sources, rules: {rules}")
    return 0


def run_job(config: Config, run_date: dt.date | None = None, spark: Any = None) -> dict[str, Any]:
    """Read, resolve and publish one run; returns the run metrics."""
    from idres_spark import read, write
    from idres_spark.components import parquet_checkpoint
    from idres_spark.pipeline import resolve
    from idres_spark.run_context import RunContext
    from idres_spark.session import get_session
    from idres_spark.timing import StageTimer

    started = time.perf_counter()
    run = RunContext.for_date(run_date or dt.datetime.now(dt.UTC).date(), config.fingerprint())
    spark = spark or get_session(checkpoint_dir=config.graph.checkpoint_dir)
    work = _work_dir(spark, config, run.run_id)
    timer = StageTimer()
    log.info("run %s: %d sources, %d rules", run.run_id, len(config.sources), len(config.rules))
    frames = read.load_sources(spark, config)
    event_rows = read.load_events(spark, config)
    try:
        result = resolve(
            frames,
            config,
            run,
            event_rows=event_rows,
            materialize=parquet_checkpoint(f"{work}/stages"),
            graph_checkpoint=parquet_checkpoint(f"{work}/graph"),
            timer=timer,
        )
        with timer.stage("profiles+write"):
            so_far = {"stage_seconds": timer.as_dict()}
            metrics = write.publish(spark, result.tables(), config.output.path, run, so_far)
    except Exception as exc:
        if "GRAPH_VERTEX_ID_COLLISION" in str(exc):
            raise GraphError(
                "two record ids hash to the same 64-bit vertex id; rename one source "
                "(record ids are <source>:<id>) and re-run",
                code="vertex_id_collision",
            ) from None
        raise
    finally:
        _remove(spark, work, remove_empty_parent=not config.graph.checkpoint_dir)
    metrics["stage_seconds"] = timer.as_dict()
    metrics["wall_seconds"] = round(time.perf_counter() - started, 2)
    log.info("run %s done: %s", run.run_id, _one_line(metrics))
    return metrics


def _work_dir(spark: Any, config: Config, run_id: str) -> str:
    if config.graph.checkpoint_dir:
        return f"{config.graph.checkpoint_dir.rstrip('/')}/{run_id}"
    return f"{config.output.path.rstrip('/')}/_work/{run_id}"


def _remove(spark: Any, path: str, remove_empty_parent: bool) -> None:
    jvm = spark.sparkContext._jvm
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
    fs = hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    fs.delete(hadoop_path, True)
    parent = hadoop_path.getParent()
    if remove_empty_parent and fs.exists(parent) and len(fs.listStatus(parent)) == 0:
        fs.delete(parent, True)


def _one_line(metrics: dict[str, Any]) -> str:
    keys = ("records_in", "quarantined", "profiles", "largest_profile", "merges")
    return ", ".join(f"{k}={metrics.get(k)}" for k in keys)


def _cmd_run(args: argparse.Namespace) -> int:
    config = load_runnable_config(args.config, args.output)
    metrics = run_job(config, args.run_date)
    print(summary(metrics))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from idres_spark import demo

    return demo.run_demo(Path(args.output), people=args.people, seed=args.seed)


def summary(metrics: dict[str, Any]) -> str:
    m = metrics
    lines = [
        f"run {m['run_id']}",
        f"  records in        {m['records_in']:>10,}  (resolved {m['records_resolved']:,},"
        f" quarantined {m['quarantined']:,})",
        f"  profiles out      {m['profiles']:>10,}  (multi-record {m['multi_record_profiles']:,},"
        f" largest {m['largest_profile']})",
        f"  merges            {m['merges']:>10,}",
    ]
    lines += [f"    {reason:<20} {n:>8,}" for reason, n in metrics["merges_by_reason"].items()]
    if metrics["quarantined_by_reason"]:
        lines.append("  quarantine")
        lines += [f"    {r:<20} {n:>8,}" for r, n in metrics["quarantined_by_reason"].items()]
    lines.append(f"  hubs suppressed   {metrics['hubs']:>10,}")
    if "stage_seconds" in metrics:
        stages = ", ".join(f"{k} {v:.1f}s" for k, v in metrics["stage_seconds"].items())
        lines.append(f"  stage timings     {stages}")
        lines.append(f"  wall time         {metrics['wall_seconds']:.1f}s")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
