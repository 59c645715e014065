"""The imperative shell: ``idres-spark run | publish | merge-log | validate | demo``.

Reads sources, resolves, writes; prints project errors as one message without a traceback and
exits non-zero (config 2, input 3, graph 4, environment 5, storage 6, publish 7, anything
unexpected 1).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import re
import sys
from pathlib import Path

from idres_spark.config import Config, load_config
from idres_spark.errors import IdresError
from idres_spark.run.summary import format_summary

log = logging.getLogger("idres_spark")
DEFAULT_DEMO_DIR = "idres-demo"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _setup_logging(args.verbose)
    try:
        _check_pyspark()
        return int(args.handler(args) or 0)
    except IdresError as exc:
        print(f"idres-spark: error [{exc.code}]: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("idres-spark: interrupted", file=sys.stderr)
        return 130


def entry_point() -> None:
    """The ``idres-spark`` console script (and a Databricks ``python_wheel_task`` entry point).

    Raises ``SystemExit`` with the exit code when it is not 0, so a scheduler that calls the
    function instead of running the script (Databricks does) still sees the failure.
    """
    code = main()
    if code:
        raise SystemExit(code)


def _check_pyspark() -> None:
    import importlib.util

    if importlib.util.find_spec("pyspark") is None:
        from idres_spark.errors import RuntimeEnvironmentError

        raise RuntimeEnvironmentError(
            "PySpark is not installed in this Python environment; install it with "
            "`pip install 'idres-spark[spark]'`, or run the job where Spark provides it "
            "(spark-submit, Databricks, EMR)",
            code="pyspark_missing",
        )


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
    run.add_argument(
        "--preview", action="store_true",
        help="write the merges this run would make and the profile changes to "
             "<output>/preview/<run_id>/ without touching the published state",
    )  # fmt: skip
    run.add_argument(
        "--replace-state", action="store_true",
        help="let an overwrite run replace an incremental state on the output path (new "
             "profile ids, a new merge history); refused without it",
    )  # fmt: skip
    run.set_defaults(handler=_cmd_run)
    export = sub.add_parser("merge-log", help="export recent merges of the published state")
    where = export.add_mutually_exclusive_group(required=True)
    where.add_argument("--config", help="the job's config (its output.path holds the state)")
    where.add_argument("--state", help="the job's output path")
    export.add_argument("--since", type=_days, default=30, help="e.g. 30d (default), 12w")
    export.add_argument("--format", choices=["csv", "parquet"], default="csv")
    export.add_argument(
        "--output", required=True,
        help="a new or empty folder for the export (outside the state)",
    )  # fmt: skip
    export.add_argument(
        "--overwrite", action="store_true",
        help="replace an earlier export in --output (never any other folder)",
    )  # fmt: skip
    export.set_defaults(handler=_cmd_merge_log)
    publish = sub.add_parser(
        "publish",
        help="make the current published run current in the tables of output.format again "
        "(after a failed table or catalog step; writes only what is missing)",
    )
    publish.add_argument("--config", required=True, help="YAML config file")
    publish.add_argument("--output", default=None, help="override output.path")
    publish.set_defaults(handler=_cmd_publish)
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
    overrides = {"output": {"path": _absolute(output)}} if output else None
    config = load_config(path, overrides)
    return config


def _cmd_validate(args: argparse.Namespace) -> int:
    from idres_spark.config_checks import check_with_engine
    from idres_spark.ingest import read
    from idres_spark.session import get_session

    config = load_runnable_config(args.config, None)
    spark = get_session("idres-spark-validate")
    for warning in check_with_engine(spark, config):  # regexes and patterns, as run reads them
        print(f"idres-spark: warning: {warning}", file=sys.stderr)
    read.check_schemas(read.load_sources(spark, config), config)
    rules = ", ".join(r.name for r in config.rules)
    print(f"config OK: {len(config.sources)} sources, rules: {rules}")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from idres_spark.run.job import run_job

    config = load_runnable_config(args.config, args.output)
    metrics = run_job(config, args.run_date, preview=args.preview, replace_state=args.replace_state)
    if args.preview:
        print(f"preview {metrics['run_id']}: {metrics['merges']:,} merges would be made")
        for reason, n in metrics["merges_by_reason"].items():
            print(f"    {reason:<20} {n:>8,}")
        changes = ", ".join(f"{k} {v:,}" for k, v in metrics["profile_changes"].items())
        print(f"  profiles: {changes or 'no change'}")
        print(f"  written to {metrics['preview_path']} (published state untouched)")
        return 0
    if not _same_terminal():  # the job logged the same summary to stderr
        print(format_summary(metrics))
    return 0


def _cmd_publish(args: argparse.Namespace) -> int:
    from idres_spark.publish.tables import check_engine, publish_tables, targets
    from idres_spark.session import get_session

    config = load_runnable_config(args.config, args.output)
    if not targets(config.output):
        print(
            "nothing to publish: output.format is parquet without output.schema, so readers "
            "follow the run pointer (docs/outputs.md)"
        )
        return 0
    spark = get_session("idres-spark-publish")
    check_engine(spark, config.output)
    outcome = publish_tables(spark, config.output)
    for name, what in outcome.items():
        print(f"  {name:<26} {what}")
    return 0


def _same_terminal() -> bool:
    """Whether stdout and stderr both go to a terminal: the logged summary is already on
    screen there, and printing it again showed it twice. Redirected or piped, stdout still
    gets it."""
    try:
        return sys.stdout.isatty() and sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed streams
        return False


def _days(text: str) -> int:
    units = {"d": 1, "w": 7}
    if len(text) > 1 and text[-1] in units and text[:-1].isdigit():
        return int(text[:-1]) * units[text[-1]]
    if text.isdigit():
        return int(text)
    raise argparse.ArgumentTypeError(f"'{text}' is not a span of days like 30d or 4w")


def _cmd_merge_log(args: argparse.Namespace) -> int:
    from idres_spark.run.job import export_merge_log
    from idres_spark.session import get_session

    root = load_runnable_config(args.config, None).output.path if args.config else args.state
    root = _absolute(root)
    spark = get_session("idres-spark-merge-log")
    rows = export_merge_log(
        spark, root, args.since, args.format, _absolute(args.output), overwrite=args.overwrite
    )
    print(f"exported {rows:,} merges of the last {args.since} days to {args.output}")
    return 0


def _absolute(path: str) -> str:
    """A local path made absolute; a URI (``s3a://...``, ``dbfs:/...``) as it is."""
    return path if re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", path) else os.path.abspath(path)


def _cmd_demo(args: argparse.Namespace) -> int:
    from idres_spark.run import demo

    return demo.run_demo(Path(args.output), people=args.people, seed=args.seed)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
