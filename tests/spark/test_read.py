"""Read stage: formats, column mapping, schema checks and quarantine reasons."""

from __future__ import annotations

import datetime as dt

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from idres_spark.config import parse_config
from idres_spark.errors import InputError
from idres_spark.ingest import read

pytestmark = pytest.mark.spark


def source(name="web", fmt="parquet", path="/unused", **columns):
    return {"name": name, "format": fmt, "path": path,
            "columns": {"record_id": "id", **columns}}  # fmt: skip


def test_quarantine_reasons_and_kept_records(spark):
    rows = [
        ("1", "a@x.com", "2025-01-01 10:00:00"),
        ("1", "older@x.com", "2024-01-01 10:00:00"),  # duplicate id: the older row goes
        ("", "blank@x.com", "2025-01-01 10:00:00"),
        (None, "none@x.com", "2025-01-01 10:00:00"),
        ("2", "b@x.com", "not-a-date"),
        ("3", "c@x.com", None),
        (" 4 ", "d@x.com", "2025-02-03T04:05:06Z"),
    ]
    df = spark.createDataFrame(rows, "id string, mail string, ts string")
    config = parse_config({"sources": [source(email="mail", event_ts="ts")]})
    records, quarantine = read.canonicalize({"web": df}, config)
    kept = records.select("record_id", "source", "source_record_id", "email", "event_ts")
    expected = spark.createDataFrame(
        [("web:1", "web", "1", "a@x.com", dt.datetime(2025, 1, 1, 10)),
         ("web:3", "web", "3", "c@x.com", None),
         ("web:4", "web", "4", "d@x.com", dt.datetime(2025, 2, 3, 4, 5, 6))],
        kept.schema,
    )  # fmt: skip
    assert_df_equality(kept, expected, ignore_row_order=True)
    reasons = sorted(
        ("<null>" if r.source_record_id is None else r.source_record_id, r.reason)
        for r in quarantine.collect()
    )
    assert reasons == [
        ("", "missing_record_id"),
        ("1", "duplicate_record_id"),
        ("2", "unparseable_event_ts"),
        ("<null>", "missing_record_id"),
    ]
    raw = {r.reason: r.raw for r in quarantine.collect()}
    assert '"older@x.com"' in raw["duplicate_record_id"]


def test_numeric_event_times_out_of_range_are_quarantined_not_fatal(spark):
    rows = [
        ("ok", 1735725600.0),
        ("nan", float("nan")),
        ("inf", float("inf")),
        ("micros", 1.7357256e15),  # microseconds read as seconds
        ("huge", 1e16),
        ("none", None),
    ]
    df = spark.createDataFrame(rows, "id string, ts double")
    longs = spark.createDataFrame([("big", 10**16), ("ok2", 1735725600)], "id string, ts long")
    config = parse_config({"sources": [source(event_ts="ts"), source("pos", event_ts="ts")]})
    records, quarantine = read.canonicalize({"web": df, "pos": longs}, config)
    kept = {r.record_id: r.event_ts for r in records.collect()}
    assert kept == {
        "web:ok": dt.datetime(2025, 1, 1, 10),
        "web:none": None,
        "pos:ok2": dt.datetime(2025, 1, 1, 10),
    }
    reasons = sorted((r.source, r.source_record_id, r.reason) for r in quarantine.collect())
    assert reasons == [
        ("pos", "big", "unparseable_event_ts"),
        *[("web", i, "unparseable_event_ts") for i in sorted(["nan", "inf", "micros", "huge"])],
    ]


def test_missing_columns_reported_for_every_source_at_once(spark):
    web = spark.createDataFrame([("1", "x")], "id string, mail string")
    app = spark.createDataFrame([("1",)], "uid string")
    config = parse_config({"sources": [
        source(email="email_address", phone="phone"),
        {**source("app", "json"), "columns": {"record_id": "id"}, "custom": {"tier": "level"}},
    ]})  # fmt: skip
    with pytest.raises(InputError) as caught:
        read.check_schemas({"web": web, "app": app}, config)
    err = caught.value
    assert err.code == "missing_column"
    assert "source 'web'" in err.message and "email -> 'email_address'" in err.message
    assert "phone -> 'phone'" in err.message and "available: ['id', 'mail']" in err.message
    assert "source 'app'" in err.message and "custom.tier -> 'level'" in err.message


def test_file_formats_and_custom_fields(spark, tmp_path):
    df = spark.createDataFrame(
        [("r1", "A@X.com", "L1", 1735725600)], "rid string, e string, loy string, ts long"
    )
    configs = []
    for fmt in ("parquet", "csv", "json", "orc"):
        path = str(tmp_path / fmt)
        df.write.format(fmt).option("header", "true").save(path)
        configs.append({**source(fmt, fmt, path, email="e", event_ts="ts"),
                        "columns": {"record_id": "rid", "email": "e", "event_ts": "ts"},
                        "custom": {"loyalty_id": "loy"}})  # fmt: skip
    df.createOrReplaceTempView("crm_table")
    configs.append({"name": "tbl", "format": "table", "table": "crm_table",
                    "columns": {"record_id": "rid", "email": "e", "event_ts": "ts"}})  # fmt: skip
    config = parse_config({"sources": configs})
    records, quarantine = read.canonicalize(read.load_sources(spark, config), config)
    got = {r.source: r for r in records.collect()}
    assert set(got) == {"parquet", "csv", "json", "orc", "tbl"}
    for name in ("parquet", "json", "orc", "tbl"):
        assert got[name].event_ts == dt.datetime(2025, 1, 1, 10), name
    assert got["csv"].event_ts == dt.datetime(2025, 1, 1, 10)  # csv: inferred or parsed text
    assert got["csv"].record_id == "csv:r1" and got["csv"].email == "A@X.com"
    assert got["parquet"].custom == {"loyalty_id": "L1"} and got["tbl"].custom == {}
    assert quarantine.count() == 0


def test_unreadable_source_names_source_and_path(spark, tmp_path):
    config = parse_config({"sources": [source(path=str(tmp_path / "missing"))]})
    with pytest.raises(InputError) as caught:
        read.load_sources(spark, config)
    assert caught.value.code == "source_unreadable"
    assert "source 'web'" in caught.value.message and "missing" in caught.value.message


def test_csv_rows_that_do_not_fit_are_quarantined_not_padded_or_cut(spark, tmp_path):
    folder = tmp_path / "crm"
    folder.mkdir()
    (folder / "part-0.csv").write_bytes(
        b"id,email,phone\n"
        b"1,a@x.com,4155550100\n"
        b"2,b@x.com\n"  # a field short
        b"3,c@x.com,4155550101,extra\n"  # a field too many
        b'4,"two\nlines@x.com",4155550102\n'  # a quoted line break: one record
        b"5,caf\xe9@x.com,4155550103\n"  # Latin-1 in a UTF-8 read
    )
    spec = {"name": "crm", "format": "csv", "path": str(folder),
            "columns": {"record_id": "id", "email": "email", "phone": "phone"}}  # fmt: skip
    config = parse_config({"sources": [spec]})
    records, quarantine = read.canonicalize(read.load_sources(spark, config), config)
    assert sorted((r.record_id, r.email) for r in records.collect()) == [
        ("crm:1", "a@x.com"),
        ("crm:4", "two\nlines@x.com"),
    ]
    reasons = {r.raw.split(",")[0]: r.reason for r in quarantine.collect()}
    assert reasons == {"2": "malformed_row", "3": "malformed_row", '{"id":"5"': "invalid_encoding"}
    latin1 = parse_config({"sources": [{**spec, "options": {"encoding": "ISO-8859-1"}}]})
    records, _ = read.canonicalize(read.load_sources(spark, latin1), latin1)
    assert "café@x.com" in {r.email for r in records.collect()}


def test_numbers_are_read_as_the_digits_they_hold(spark):
    df = spark.createDataFrame(
        [(12345.0, 4.1555501e9, 7.5), (2.0, float("nan"), None)],
        "rid double, phone double, loyalty double",
    )
    config = parse_config({"sources": [{**source(phone="phone"), "columns": {
        "record_id": "rid", "phone": "phone"}, "custom": {"loyalty": "loyalty"}}]})  # fmt: skip
    records, quarantine = read.canonicalize({"web": df}, config)
    got = {r.record_id: (r.phone, r.custom) for r in records.collect()}
    assert got == {
        "web:12345": ("4155550100", {"loyalty": "7.5"}),
        "web:2": (None, {"loyalty": None}),
    }
    assert quarantine.count() == 0


def test_nested_columns_are_refused_and_bad_ids_quarantined(spark):
    nested = spark.createDataFrame([("1", ["a@x.com"])], "id string, emails array<string>")
    config = parse_config({"sources": [source(email="emails")]})
    with pytest.raises(InputError) as caught:
        read.check_schemas({"web": nested}, config)
    assert caught.value.code == "unsupported_column_type"
    assert "email -> 'emails' is array<string>" in caught.value.message
    ids = spark.createDataFrame([("a\u0000b",), ("x" * 513,), ("ok",)], "id string")
    records, quarantine = read.canonicalize({"web": ids}, parse_config({"sources": [source()]}))
    assert [r.record_id for r in records.collect()] == ["web:ok"]
    assert [r.reason for r in quarantine.collect()] == ["invalid_record_id"] * 2


def test_address_parts_are_mapped_and_normalized_with_the_default_country(spark):
    from idres_spark.ingest.normalize import normalize_records
    from idres_spark.matching import rule_expressions as X

    crm = spark.createDataFrame(
        [("1", "123 Main Street, Apt. 4", "St. Louis", "63101-2345", None),
         ("2", "5 High St", "London", "sw1a1aa", "United Kingdom"),
         ("3", None, None, None, None),
         ("4", " ", "n/a", " - ", None)],  # only junk: no address, so no default country
        "id string, addr string, town string, zip string, ctry string",
    )  # fmt: skip
    pos = spark.createDataFrame([("9", "123 MAIN ST #4", "63101")], "id string, a string, z string")
    config = parse_config({
        "sources": [
            source("crm", street="addr", city="town", postal_code="zip", country="ctry"),
            source("pos", street="a", postal_code="z"),
        ],
        "normalization": {"default_country": "US"},
    })  # fmt: skip
    records, _ = read.canonicalize({"crm": crm, "pos": pos}, config)
    normalized = normalize_records(records, config.normalization)
    got = {
        r.record_id: (r.street, r.city, r.postal_code, r.country, r.address)
        for r in normalized.select("*", X.field("address").alias("address")).collect()
    }
    assert got == {
        "crm:1": ("123 main st apt 4", "st louis", "63101", "US", "123 main st apt 4 63101"),
        "crm:2": ("5 high st", "london", "SW1A 1AA", "GB", "5 high st SW1A 1AA"),
        "crm:3": (None, None, None, None, None),
        "crm:4": (None, None, None, None, None),
        "pos:9": ("123 main st apt 4", None, "63101", "US", "123 main st apt 4 63101"),
    }


def test_a_state_from_before_the_address_keeps_its_fingerprints(spark):
    """Records stored before the address parts existed gain them as null, and a record
    that arrives again unchanged has the fingerprint it was stored with."""
    from dataclasses import replace

    from idres_spark.ingest.normalize import normalize_records
    from idres_spark.run_context import RunContext
    from idres_spark.state import history
    from idres_spark.state.store import PreviousState

    config = parse_config({"sources": [source(email="mail")]})
    df = spark.createDataFrame([("1", "a@x.com")], "id string, mail string")
    records, _ = read.canonicalize({"web": df}, config)
    run = RunContext.for_date(dt.date(2025, 1, 1), "cfg0000000000")
    arrived = history.arrived_records(normalize_records(records, config.normalization), run)
    before = [c for c in history._FINGERPRINTED if c not in ("street", "city", "postal_code",
                                                             "country")]  # fmt: skip
    old = arrived.drop("street", "city", "postal_code", "country").withColumn(
        "record_fingerprint", F.sha2(F.to_json(F.struct(*before)), 256)
    )  # as the job wrote it before the address parts existed
    previous = PreviousState(run=None, records=old, record_map=None, profiles=None, merge_log=None)
    upgraded, current = history.with_state_columns(previous)
    assert not current and upgraded.records.columns == list(history.STATE_COLUMNS)
    assert history.with_state_columns(replace(previous, records=arrived))[1]
    changed = history.changed_records(arrived, upgraded.records, broadcast=True)
    assert changed.count() == 0
