"""Engine checks: validate judges regexes and timestamp patterns with the Spark that runs them."""

from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import functions as F

from idres_spark.config import parse_config
from idres_spark.config_checks import check_with_engine
from idres_spark.errors import ConfigError
from idres_spark.matching import block, score
from idres_spark.matching.rule_expressions import record_filter

pytestmark = pytest.mark.spark

SOURCES = [
    {"name": s, "format": "csv", "path": "/x", "columns": {"record_id": "id", "email": "mail"}}
    for s in ("web", "app")
]
# Java accepts the first three and Python's `re` refused \p{L}; Java refuses the rest and
# Python's `re` accepted (?P<x>...)
REGEXES = [r"^\p{L}+@", r"(?<local>[^@]+)@", r"\h*x", r"(?P<x>a)", "[a-", "a{2,1}"]
PATTERNS = ["yyyy-MM-dd HH:mm:ss", "dd/MM/yyyy", "yyyy-MM-dd'T'HH:mm:ssXXX", "YYYY-ww",
            "bbbb", "yyyy-MM-dd'T", "EEEEE"]  # fmt: skip


def config(rules=(), sources=SOURCES):
    return parse_config({"sources": list(sources), "rules": list(rules)}, origin="my.yaml")


def regex_rule(*patterns, name="r"):
    return {
        "name": name,
        "all": [{"field": "email", "compare": "equals"}],
        "only_if": [{"field": "email", "op": "regex", "value": p} for p in patterns],
    }


def engine_code(spark, cfg) -> str | None:
    try:
        check_with_engine(spark, cfg)
    except ConfigError as exc:
        return exc.code
    return None


@pytest.mark.parametrize("pattern", REGEXES)
def test_a_regex_passes_the_check_exactly_when_the_filter_runs(spark, pattern):
    cfg = config([regex_rule(pattern)])
    frame = spark.createDataFrame([("élise@x.com",), ("a@x.com",)], "email string")
    try:
        frame.where(record_filter(cfg.rules[1].only_if[0])).collect()
        runs = True
    except Exception:
        runs = False
    assert engine_code(spark, cfg) == (None if runs else "invalid_regex")
    assert runs == (pattern in REGEXES[:3])


@pytest.mark.parametrize("pattern", PATTERNS)
def test_a_timestamp_format_passes_the_check_exactly_when_spark_parses_with_it(spark, pattern):
    cfg = config(sources=[{**SOURCES[0], "timestamp_format": pattern}])
    frame = spark.createDataFrame([("2025-06-30 14:05:00",), ("30/06/2025",)], "ts string")
    try:  # how the read stage parses a string event time with a format
        frame.select(F.try_to_timestamp(F.trim("ts"), F.lit(pattern))).collect()
        runs = True
    except Exception:
        runs = False
    assert engine_code(spark, cfg) == (None if runs else "invalid_timestamp_format")
    assert runs == (pattern in PATTERNS[:3])


def test_every_problem_is_listed_at_once_with_its_key_path(spark):
    sources = [{**SOURCES[0], "timestamp_format": "YYYY-ww"}, SOURCES[1]]
    rules = [regex_rule(r"\p{L}"), regex_rule(r"\p{L}", "(?P<x>a)", name="s")]
    with pytest.raises(ConfigError) as caught:
        check_with_engine(spark, config(rules, sources))
    err = caught.value
    assert err.code == "invalid_timestamp_format" and err.exit_code == 2  # the first problem
    assert "my.yaml" in err.message
    assert "sources[0].timestamp_format" in err.message
    assert "rules[1].only_if[1].value" in err.message  # the file's index: default is built in
    assert err.message.count("\n  - ") == 2


def test_a_valid_config_returns_its_warnings(spark):
    rules = [{"name": "by-phone", "all": [{"field": "phone", "compare": "equals"}]}]
    warnings = check_with_engine(spark, config(rules))
    assert len(warnings) == 1 and "'by-phone'" in warnings[0] and "'phone'" in warnings[0]
    assert check_with_engine(spark, config()) == []


def test_the_longest_within_runs_and_spans_every_timestamp(spark, make_records):
    rule = {"name": "default", "within": "3652500d",  # replaces the built-in default rule
            "all": [{"field": "email", "compare": "equals"}]}  # fmt: skip
    cfg = config([rule])
    rows = [
        {"record_id": "web:1", "email": "a@x.com", "event_ts": dt.datetime(1, 1, 1)},
        {"record_id": "app:1", "email": "a@x.com", "event_ts": dt.datetime(9999, 12, 31, 23, 59)},
    ]
    records = make_records(rows)
    pairs, _ = block.candidate_pairs(records, cfg)
    edges = score.match_pairs(pairs, records, cfg).collect()
    assert [(e.src, e.dst, e.reason) for e in edges] == [("app:1", "web:1", "default")]
    assert cfg.rules[0].within_seconds is not None
