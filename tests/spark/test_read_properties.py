"""Property: whatever values of whatever type, encoding and size reach read + normalize, the
stages do not fail; every input row ends either as a record or in quarantine with a reason;
and the values normalization made null add up to the counted ``values_dropped``."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyspark.sql import Observation

from idres_spark.config import parse_config
from idres_spark.ingest import read
from idres_spark.ingest.normalize import DROPPED_PREFIX, normalize_records

pytestmark = pytest.mark.spark

TEXT = st.one_of(
    st.none(),
    st.sampled_from(["", " ", "n/a", "null", "test@test.com", "0000000000", "\ufffd@x.com"]),
    st.text(max_size=12),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=250, max_size=300),
    st.emails().map(lambda e: e[:300]),
)
NUMBER = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True),
                   st.integers(-(2**63), 2**63 - 1))  # fmt: skip
KINDS = {"string": TEXT, "double": NUMBER.map(lambda v: None if v is None else float(v)),
         "bigint": NUMBER.filter(lambda v: v is None or isinstance(v, int))}  # fmt: skip


@st.composite
def batches(draw):
    phone_type = draw(st.sampled_from(sorted(KINDS)))
    ts_type = draw(st.sampled_from(sorted(KINDS)))
    rows = draw(st.lists(st.tuples(TEXT, TEXT, KINDS[phone_type], KINDS[ts_type], TEXT),
                         min_size=1, max_size=25))  # fmt: skip
    schema = f"id string, email string, phone {phone_type}, ts {ts_type}, fname string"
    return schema, rows


@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
@given(batch=batches())
def test_every_row_is_kept_or_quarantined_and_drops_add_up(spark, batch):
    schema, rows = batch
    frame = spark.createDataFrame(rows, schema)
    config = parse_config({"sources": [{"name": "web", "format": "parquet", "path": "/unused",
        "columns": {"record_id": "id", "email": "email", "phone": "phone", "event_ts": "ts",
                    "first_name": "fname"}}]})  # fmt: skip
    records, quarantine = read.canonicalize({"web": frame}, config)
    dropped = Observation("dropped")
    normalized = normalize_records(records, config.normalization, dropped)
    kept = normalized.select("record_id", "email", "email_raw").collect()
    quarantined = quarantine.collect()
    assert len(kept) + len(quarantined) == len(rows)
    assert all(q.reason for q in quarantined)
    # a sum over no rows is null: nothing was dropped
    figures = {k[len(DROPPED_PREFIX) :]: v or 0 for k, v in dropped.get.items()}
    lost_emails = sum(1 for r in kept if r.email is None and (r.email_raw or "").strip())
    assert sum(v for k, v in figures.items() if k.startswith("email.")) == lost_emails
    assert all(isinstance(v, int) and v >= 0 and not math.isnan(v) for v in figures.values())
