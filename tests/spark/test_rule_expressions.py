"""Record filters (all 12 operators, nulls), blocking-key transforms and native conditions."""

from __future__ import annotations

import pytest
from pyspark.sql import functions as F

from idres_spark.config import BlockOn, RecordFilter, TypoCondition
from idres_spark.matching import rule_expressions as X

pytestmark = pytest.mark.spark

EMAILS = ["ann@company.com", "bob@gmail.com", "ÉVE@Café.fr", "", None]


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [
        ("equals", "BOB@gmail.com", [False, True, False, False, False]),
        ("not_equals", "bob@gmail.com", [True, False, True, True, True]),
        ("contains", "@COMPANY", [True, False, False, False, False]),
        ("not_contains", "@company", [False, True, True, True, True]),
        ("starts_with", "bo", [False, True, False, False, False]),
        ("ends_with", "@company.com", [True, False, False, False, False]),
        ("not_ends_with", "@company.com", [False, True, True, True, True]),
        ("in", ["bob@gmail.com", "éve@café.fr"], [False, True, True, False, False]),
        ("not_in", ["bob@gmail.com"], [True, False, True, True, True]),
        ("regex", "^[a-z]+@gmail\\.com$", [False, True, False, False, False]),
        ("is_null", None, [False, False, False, False, True]),
        ("is_not_null", None, [True, True, True, True, False]),
    ],
)
def test_record_filter_operators(spark, op, value, expected):
    df = spark.createDataFrame([(i, e) for i, e in enumerate(EMAILS)], "i int, email string")
    test = X.record_filter(RecordFilter(field="email", op=op, value=value))
    got = [r.ok for r in df.select("i", test.alias("ok")).orderBy("i").collect()]
    assert got == expected


@pytest.mark.parametrize(
    ("transform", "n", "values", "expected"),
    [
        ("exact", None, ["Smith", None], ["Smith", None]),
        ("first_n", 3, ["jonathan", "al", None], ["jon", "al", None]),
        ("last_n", 7, ["+14152345678", "12345", None], ["2345678", "12345", None]),
        ("soundex", None, ["robert", "rupert", None], ["R163", "R163", None]),
        ("email_domain", None, ["a@gmail.com", None], ["gmail.com", None]),
        ("email_local", None, ["ann.lee@gmail.com", None], ["ann.lee", None]),
    ],
)
def test_block_on_transforms(spark, transform, n, values, expected):
    field = "email" if transform.startswith("email") else "last_name"
    df = spark.createDataFrame([(i, v) for i, v in enumerate(values)], f"i int, {field} string")
    key = X.block_on_key(BlockOn(field=field, transform=transform, n=n))
    got = [r.k for r in df.select("i", key.alias("k")).orderBy("i").collect()]
    assert got == expected


def test_full_name_and_custom_fields(spark):
    df = spark.createDataFrame(
        [("ann", "lee", {"tier": "gold"}), (None, "lee", {}), (None, None, {})],
        "first_name string, last_name string, custom map<string,string>",
    )
    got = df.select(X.field("full_name").alias("n"), X.field("tier").alias("t")).collect()
    assert [(r.n, r.t) for r in got] == [("ann lee", "gold"), ("lee", None), (None, None)]


def test_typo_condition_at_the_edit_boundary_and_on_nulls(spark):
    rows = [("smith", "smith"), ("smith", "smyth"), ("smith", "smiths"), ("smith", "smythe"),
            ("zoë", "zoe"), ("smith", None), ("", "")]  # fmt: skip
    df = spark.createDataFrame(rows, "last_name_l string, last_name_r string")
    matched, _ = X.native_condition(TypoCondition(field="last_name", compare="typo"))
    got = [r.m for r in df.select(F.coalesce(matched, F.lit(False)).alias("m")).collect()]
    assert got == [True, True, True, False, True, False, False]
