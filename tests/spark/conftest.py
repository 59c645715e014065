"""Builders of small normalized-record frames for stage tests."""

from __future__ import annotations

import datetime as dt

import pytest

from idres_spark.ingest.normalize import NORMALIZED_COLUMNS

RECORD_SCHEMA = (
    "record_id string, source string, source_record_id string, event_ts timestamp, "
    "email string, email_raw string, email_canonical string, email_status string, "
    "phone string, phone_raw string, user_id string, device_id string, ip string, "
    "first_name string, last_name string, street string, city string, postal_code string, "
    "country string, custom map<string,string>"
)


@pytest.fixture
def make_records(spark):
    """``make_records([{"record_id": "web:1", "email": ...}, ...])`` -> normalized frame."""

    def build(rows):
        full = []
        for row in rows:
            row = dict(row)
            source, _, source_id = row["record_id"].partition(":")
            row.setdefault("source", source)
            row.setdefault("source_record_id", source_id)
            row.setdefault("event_ts", dt.datetime(2025, 1, 1))
            email = row.get("email")
            row.setdefault("email_raw", email)
            if email and "email_canonical" not in row:
                local, _, domain = email.partition("@")
                row["email_canonical"] = local.split("+")[0] + "@" + domain
            row.setdefault("email_status", "valid" if email else None)
            row.setdefault("custom", {})
            full.append(tuple(row.get(c) for c in NORMALIZED_COLUMNS))
        return spark.createDataFrame(full, RECORD_SCHEMA)

    return build
