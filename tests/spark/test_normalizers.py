"""Each normalizer on valid, malformed, unicode, null and junk input (chispa column equality)."""

from __future__ import annotations

import pytest
from chispa import assert_column_equality
from pyspark.sql import functions as F

from idres_spark.ingest import normalizers as N
from idres_spark.masking import mask, mask_value

pytestmark = pytest.mark.spark
JUNK = N.junk_set()


def check(spark, builder, cases):
    df = spark.createDataFrame(cases, "raw string, expected string")
    assert_column_equality(df.withColumn("got", builder(F.col("raw"))), "got", "expected")


def test_clean_email(spark):
    check(spark, lambda c: N.clean_email(c, JUNK), [
        ("  John.Doe@GMAIL.com ", "john.doe@gmail.com"),
        ("ann+shop@yahoo.com", "ann+shop@yahoo.com"),
        ("josé@exämple.com", "josé@exämple.com"),
        ("john.doe@", None),
        ("john doe@gmail.com", None),
        ("a@@b.com", None),
        ("no-at-sign.com", None),
        ("a..b@gmail.com", None),
        ("TEST@test.com", None),
        ("n/a", None),
        ("", None),
        (None, None),
    ])  # fmt: skip


def test_email_status(spark):
    df = spark.createDataFrame(
        [("a@b.com", "Bounced", "bounced"), ("a@b.com", None, "unknown"),
         ("a@b.com", "weird", "unknown"), ("a@b.com", " VALID ", "valid"),
         ("bad@", "valid", "invalid"), ("n/a", "valid", None), (None, None, None)],
        "raw string, status string, expected string",
    )  # fmt: skip
    email = N.clean_email(F.col("raw"), JUNK)
    got = N.email_status(F.col("status"), email, N.email_is_malformed(F.col("raw"), JUNK))
    assert_column_equality(df.withColumn("got", got), "got", "expected")


def test_strip_alias_tag(spark):
    check(spark, N.strip_alias_tag, [
        ("john.doe+shop@gmail.com", "john.doe@gmail.com"),
        ("john.doe+a+b@gmail.com", "john.doe@gmail.com"),
        ("john.doe@gmail.com", "john.doe@gmail.com"),
        ("+tag@gmail.com", "+tag@gmail.com"),
        (None, None),
    ])  # fmt: skip


def test_phone_to_e164(spark):
    e164 = N.e164_phone_udf("US")
    check(spark, lambda c: e164(N.phone_candidate(c, JUNK)), [
        ("(415) 234-5678", "+14152345678"),
        ("+1 415-234-5678", "+14152345678"),
        ("1-415-234-5678", "+14152345678"),
        ("415.234.5678", "+14152345678"),
        ("+44 20 7946 0958", "+442079460958"),
        ("415.234.567", None),
        ("0000000000", None),
        ("1234567890", None),
        ("n/a", None),
        ("-", None),
        ("call me", None),
        ("", None),
        (None, None),
    ])  # fmt: skip


def test_phone_default_region_applies_to_national_numbers(spark):
    e164 = N.e164_phone_udf("GB")
    check(spark, lambda c: e164(N.phone_candidate(c, JUNK)), [
        ("020 7946 0958", "+442079460958"),
        ("+1 415 234 5678", "+14152345678"),
    ])  # fmt: skip


def test_clean_name(spark):
    check(spark, lambda c: N.clean_name(c, JUNK), [
        ("  JOSÉ  María ", "jose maria"),
        ("Zoë", "zoe"),
        ("Straße", "strasse"),
        ("Øyvind Łukasz", "oyvind lukasz"),
        ("Jose\u0301", "jose"),  # decomposed accent
        ("O'Brien-Smith", "o'brien-smith"),
        ("Dr. John", "dr john"),
        # already clean (one match, no rewriting) and just short of it
        ("ANNE-MARIE d'Arcy", "anne-marie d'arcy"),
        ("X - Y2", "x - y2"),
        ("Mary  Ann", "mary ann"),
        ("Mary\tAnn", "mary ann"),
        ("ann_marie", "ann marie"),
        ("n/a", None),
        ("  ", None),
        (None, None),
    ])  # fmt: skip


def test_clean_ip(spark):
    check(spark, lambda c: N.clean_ip(c, JUNK), [
        ("192.168.1.1", "192.168.1.1"),
        (" 8.8.8.8 ", "8.8.8.8"),
        ("2001:DB8::1", "2001:db8::1"),
        ("::1", "::1"),
        ("256.1.1.1", None),
        ("1.2.3", None),
        ("10.0.0.300", None),
        ("2001:db8:::1", None),
        ("unknown", None),
        (None, None),
    ])  # fmt: skip


def test_clean_id(spark):
    check(spark, lambda c: N.clean_id(c, JUNK), [
        ("  CUST00042 ", "CUST00042"),
        ("a  b", "a b"),
        ("ü-42", "ü-42"),
        ("null", None),
        ("0", None),
        ("", None),
        (None, None),
    ])  # fmt: skip


def test_configurable_junk_values(spark):
    junk = N.junk_set(["guest", " Anonymous "])
    check(spark, lambda c: N.clean_id(c, junk), [
        ("GUEST", None), ("anonymous", None), ("n/a", None), ("ok", "ok"),
    ])  # fmt: skip
    only_mine = N.junk_set(["guest"], replace_builtin=True)
    check(spark, lambda c: N.clean_id(c, only_mine), [("n/a", "n/a"), ("guest", None)])


def test_masking_hides_identifiers(spark):
    df = spark.createDataFrame(
        [("john.doe@gmail.com", "j***@gmail.com"), ("+14152345678", "+***5678"),
         ("CUST00042", "CU***"), ("a@b.com\u001f+14152345678", "a***@b.com++***5678")],
        "raw string, expected string",
    )  # fmt: skip
    assert_column_equality(df.withColumn("got", mask_value(F.col("raw"))), "got", "expected")
    for raw, expected in df.collect():
        assert mask(raw) == expected


@pytest.mark.parametrize("region", ["US", "GB", "JM"])
def test_native_north_american_path_agrees_with_phonenumbers(spark, region):
    """with_e164 validates +1 numbers natively and sends the rest to the phonenumbers UDF; on
    numbers of every North American region (and junk, foreign, short and long ones) it must
    give exactly what the UDF alone gives."""
    import random

    import phonenumbers

    rng = random.Random(11)
    area_codes = ["212", "415", "416", "604", "800", "900", "555", "011", "123"]
    for r in phonenumbers.region_codes_for_country_code(1):
        lead = phonenumbers.PhoneMetadata.metadata_for_region(r).leading_digits
        area_codes += [c for c in (lead or "").split("|") if c.isdigit() and len(c) == 3]

    def digits(n: int) -> str:
        return "".join(rng.choice("0123456789") for _ in range(n))

    values = []
    for _ in range(1500):
        ten = rng.choice(area_codes) + digits(7)
        values += [
            ten,
            "1" + ten,
            "+1" + ten,
            "+" + digits(rng.randint(8, 13)),
            digits(rng.randint(5, 14)),
        ]
    values += ["+1 (415) 234-5678", "020 7946 0958", "+44 20 7946 0958", "n/a", None, ""]
    df = spark.createDataFrame([(v,) for v in values], "raw string")
    expected = N.e164_phone_udf(region)(N.phone_candidate(F.col("raw"), JUNK))
    got = N.with_e164(df, "raw", "got", JUNK, region).withColumn("expected", expected)
    assert got.columns == ["raw", "got", "expected"]  # no working columns left behind
    assert_column_equality(got, "got", "expected")


def test_values_made_null_are_counted_per_field_and_reason(spark, make_records):
    from pyspark.sql import Observation

    from idres_spark.config import NormalizationConfig
    from idres_spark.ingest.normalize import normalize_records

    long_email = "a" * 250 + "@x.com"  # 256 characters
    kept_email = "a" * 248 + "@x.com"  # 254: the longest kept
    rows = [
        {"record_id": "w:1", "email": "n/a", "phone": "0000000", "first_name": "null"},
        {"record_id": "w:2", "email": "not-an-email", "phone": "+1 (415) 555-0100"},
        {"record_id": "w:3", "email": long_email, "user_id": "u" * 300, "ip": "999.1.1.1"},
        {"record_id": "w:4", "email": kept_email, "ip": "10.0.0.1", "last_name": "  "},
    ]
    dropped = Observation("dropped")
    out = normalize_records(make_records(rows), NormalizationConfig(), dropped)
    emails = {r.record_id: r.email for r in out.collect()}
    assert emails == {"w:1": None, "w:2": None, "w:3": None, "w:4": kept_email}
    figures = {k: v for k, v in dropped.get.items() if v}
    assert figures == {
        "dropped.email.junk": 1,
        "dropped.email.invalid": 1,
        "dropped.email.too_long": 1,
        "dropped.phone.junk": 1,
        "dropped.first_name.junk": 1,
        "dropped.user_id.too_long": 1,
        "dropped.ip.invalid": 1,
    }


def test_clean_street(spark):
    check(spark, lambda c: N.clean_street(c, JUNK), [
        ("123 Main Street, Apt. 4", "123 main st apt 4"),
        ("123 MAIN ST #4", "123 main st apt 4"),
        ("123 main st. unit #4", "123 main st apt 4"),
        ("  9 North  Avenue ", "9 n ave"),
        ("Königstraße 5", "konigstrasse 5"),
        ("n/a", None),
        (" , ", None),
        (None, None),
    ])  # fmt: skip


def test_clean_city_and_country(spark):
    check(spark, lambda c: N.clean_city(c, JUNK), [
        ("St. Louis", "st louis"), ("SAINT LOUIS", "st louis"), ("São Paulo", "sao paulo"),
        ("", None), (None, None),
    ])  # fmt: skip
    check(spark, lambda c: N.clean_country(c, JUNK), [
        ("us", "US"), ("U.S.A.", "US"), ("United States", "US"), ("uk", "GB"),
        ("Deutschland", "DE"), ("Narnia", "NARNIA"), ("-", None), (None, None),
    ])  # fmt: skip


@pytest.mark.parametrize(
    ("country", "raw", "expected"),
    [("US", "94110-1234", "94110"), ("US", "941101234", "94110"), ("US", "2110", "02110"),
     ("US", " 94110 ", "94110"), ("CA", "k1a0b1", "K1A 0B1"), ("GB", "sw1a1aa", "SW1A 1AA"),
     ("GB", "M1 1AE", "M1 1AE"), ("NL", "1234ab", "1234 AB"), ("DE", "10115", "10115"),
     ("FR", "75 001", "75001"), ("US", "n/a", None), ("US", None, None)],
)  # fmt: skip
def test_clean_postal_code_by_country(spark, country, raw, expected):
    df = spark.createDataFrame([(raw, country)], "raw string, country string")
    got = df.select(N.clean_postal_code(F.col("raw"), F.col("country"), JUNK).alias("p")).first()
    assert got.p == expected
