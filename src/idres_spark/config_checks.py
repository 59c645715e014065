"""Checks of a valid config with the engine that will run it, and warnings about rules that
can never match.

The pydantic model (``config.py``) stays pure Python. What only Spark can judge is checked
here, by letting Spark compile and evaluate the very expression the job builds, over a
one-row frame: ``regex`` record filters run as ``rlike`` on Java's regex engine, and
``timestamp_format`` is read by Spark's datetime pattern parser (``try_to_timestamp``). So
``validate`` and ``run`` never disagree. It works the same on Spark Connect (no JVM access).

:func:`check_with_engine` raises one :class:`ConfigError` (exit 2) listing every problem with
its key path and the fix; the code is that of the first problem. It returns the warnings
(:func:`unmapped_field_warnings`), which the caller prints or logs.
"""

from __future__ import annotations

import itertools
import re
from typing import TYPE_CHECKING

from idres_spark.config import DEFAULT_RULE, Config, Rule, SourceConfig, tree_conditions
from idres_spark.errors import ConfigError

if TYPE_CHECKING:
    from pyspark.sql import Column, SparkSession

PATTERN_GUIDE = "https://spark.apache.org/docs/latest/sql-ref-datetime-pattern.html"
# filters that hold on a missing value: a field no source maps does not make them fail
_HOLD_ON_NULL = ("is_null", "not_equals", "not_contains", "not_ends_with", "not_in")
_PROBE = "probe"  # the probe frame's one string column


def check_with_engine(spark: SparkSession, config: Config) -> list[str]:
    """Raise a ConfigError naming every regex and timestamp pattern Spark refuses; return the
    warnings about rule fields that no source of the rule maps."""
    checks = _engine_checks(config)
    if checks:
        problems = _failures(spark, checks)
        if problems:
            lines = "\n".join(f"  - {text}" for _, text in problems)
            raise ConfigError(
                f"{config.origin}: Spark cannot run this config:\n{lines}", code=problems[0][0]
            )
    return unmapped_field_warnings(config)


def unmapped_field_warnings(config: Config) -> list[str]:
    """One warning per rule field that none of the rule's sources maps: every branch (or
    filter) that uses it never holds. Not an error: a source may gain the column later."""
    warnings = []
    for index, rule in _file_rules(config):
        if rule is DEFAULT_RULE:
            continue  # the built-in rule: not the user's choice of fields
        scope = [s for s in config.sources if rule.sources is None or s.name in rule.sources]
        mapped = set().union(*(_mapped_fields(s) for s in scope))
        used = [c.field for c in tree_conditions(rule.tree)] + [b.field for b in rule.block_on]
        used += [f.field for f in rule.only_if if f.op not in _HOLD_ON_NULL]
        names = ", ".join(s.name for s in scope)
        for field in sorted(set(used) - mapped, key=used.index):
            warnings.append(
                f"rule '{rule.name}' (rules[{index}]) uses field '{field}', which none of its "
                f"sources ({names}) maps, so what uses it never matches: map it under a "
                "source's `columns:` (or `custom:`), or remove it from the rule"
            )
    return warnings


def _mapped_fields(source: SourceConfig) -> set[str]:
    columns = source.columns.model_dump()
    fields = {name for name, column in columns.items() if column is not None}
    if fields & {"first_name", "last_name"}:
        fields.add("full_name")
    return fields | set(source.custom)


def _file_rules(config: Config) -> list[tuple[int, Rule]]:
    """(index in the file's `rules:`, rule); the built-in default rule, when added, gets -1."""
    added = bool(config.rules) and config.rules[0] is DEFAULT_RULE
    return [(i - 1 if added else i, rule) for i, rule in enumerate(config.rules)]


def _engine_checks(config: Config) -> list[tuple[str, str, Column]]:
    """(code, problem text without the engine's reason, expression that fails when Spark
    refuses the value) for every value the engine must accept."""
    from pyspark.sql import functions as F

    probe = F.col(_PROBE)
    checks = []
    for index, source in enumerate(config.sources):
        fmt = source.timestamp_format
        if fmt is not None:
            checks.append((
                "invalid_timestamp_format",
                f"sources[{index}].timestamp_format: '{fmt}' is not a datetime pattern Spark "
                f"can parse with; use one from {PATTERN_GUIDE} (e.g. yyyy-MM-dd HH:mm:ss; "
                "week-based letters Y, w, u, e, c are not supported)",
                F.try_to_timestamp(probe, F.lit(fmt)),
            ))  # fmt: skip
    for index, rule in _file_rules(config):
        for position, rule_filter in enumerate(rule.only_if):
            if rule_filter.op == "regex":
                text = str(rule_filter.value)
                checks.append((
                    "invalid_regex",
                    f"rules[{index}].only_if[{position}].value: '{text}' is not a regex Java's "
                    "engine (which runs it) accepts; write it in java.util.regex.Pattern syntax "
                    "(e.g. a named group is (?<name>...), not (?P<name>...))",
                    probe.rlike(text),
                ))  # fmt: skip
    return checks


def _failures(spark: SparkSession, checks: list[tuple[str, str, Column]]) -> list[tuple[str, str]]:
    """(code, text with Spark's reason) of every check Spark refuses: one job when all pass,
    then one per check to name each failure."""
    from pyspark.sql import functions as F

    # "" parses with no pattern, so only the pattern itself can fail; the optimizer folds the
    # literal row, so Spark compiles the regex or pattern on the driver, as a query would
    frame = spark.range(1).select(F.lit("").alias(_PROBE))
    if _refusal(frame, [expr for _, _, expr in checks]) is None:
        return []
    problems = []
    for code, text, expr in checks:
        reason = _refusal(frame, [expr])
        if reason is not None:
            problems.append((code, f"{text}. Spark says: {reason}"))
    return problems


def _refusal(frame, exprs: list[Column]) -> str | None:
    """None when Spark evaluates the expressions, else the first lines of its error."""
    try:
        frame.select(*exprs).collect()
    except Exception as exc:  # pyspark's SparkRuntimeException, IllegalArgumentException, ...
        text = str(exc).split("\n\nJVM stacktrace", 1)[0]
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        # Spark's numbered advice ("1) set timeParserPolicy to LEGACY") is not for this job
        lines = list(itertools.takewhile(lambda line: not re.match(r"\d\) ", line), lines))
        reason = " ".join(lines[:3])
        return reason if len(reason) <= 400 else reason[:397] + "..."
    return None
