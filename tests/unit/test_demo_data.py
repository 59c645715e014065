"""Unit tests for the demo data generator (pure pandas/pyarrow, no Spark)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import phonenumbers
import pyarrow.parquet as pq
import pytest

from idres_spark.run import demo_data
from idres_spark.run.demo_data import SOURCES, generate, write

ID_COL = {"web": "id", "app": "app_record_id", "crm": "crm_id", "pos": "receipt_id"}
EMAIL_COL = {"web": "email", "app": "email_address", "crm": "Email", "pos": "email"}
PHONE_COL = {"web": "phone_number", "app": "mobile", "crm": "Phone", "pos": "phone"}
FIRST_COL = {"web": "fname", "app": "first_name", "crm": "FirstName", "pos": "first_name"}
JUNK_EMAILS = {"test@test.com", "n/a", "null", "none@none.com", ""}
JUNK_PHONES = {"0000000000", "n/a", "1234567890", "-"}
EXPECTED_COLUMNS = {
    "web": ["id", "email", "phone_number", "customer_id", "device", "ip_address", "fname",
            "lname", "updated_at", "status"],
    "app": ["app_record_id", "email_address", "mobile", "user_id", "device_id", "ip",
            "first_name", "last_name", "event_time", "email_status"],
    "crm": ["crm_id", "Email", "Phone", "CustomerNumber", "FirstName", "LastName",
            "ModifiedDate", "EmailStatus"],
    "pos": ["receipt_id", "email", "phone", "loyalty_no", "first_name", "last_name",
            "purchased_at"],
    "truth": ["source", "source_record_id", "person_id"],
}  # fmt: skip
TIMESTAMP_COLS = {"web": "updated_at", "pos": "purchased_at"}


@pytest.fixture(scope="module")
def frames() -> dict[str, pd.DataFrame]:
    return generate(n_people=1500, seed=11)


@pytest.fixture(scope="module")
def records(frames) -> pd.DataFrame:
    """All sources stacked onto common column names, with the true person attached."""
    parts = []
    for s in SOURCES:
        df = frames[s]
        part = pd.DataFrame(
            {
                "source": s,
                "rid": df[ID_COL[s]].to_numpy(),
                "email": df[EMAIL_COL[s]].to_numpy(),
                "phone": df[PHONE_COL[s]].to_numpy(),
                "first": df[FIRST_COL[s]].to_numpy(),
            }
        )
        truth = frames["truth"][frames["truth"]["source"] == s]
        part["person_id"] = truth["person_id"].to_numpy()  # truth rows follow source order
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def _assert_frames_equal(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name])


def test_same_seed_identical_different_seed_differs():
    _assert_frames_equal(generate(300, seed=3), generate(300, seed=3))
    a, b = generate(300, seed=3), generate(300, seed=4)
    assert not a["web"].equals(b["web"])
    assert not a["truth"].equals(b["truth"])


def test_keys_columns_and_dtypes(frames):
    assert tuple(frames) == (*SOURCES, "truth")
    for name, cols in EXPECTED_COLUMNS.items():
        df = frames[name]
        assert list(df.columns) == cols, name
        for c in cols:
            if TIMESTAMP_COLS.get(name) == c:
                assert str(df[c].dtype) == "datetime64[us, UTC]"
            else:
                assert df[c].dtype == object, (name, c)
                assert df[c].dropna().map(type).eq(str).all(), (name, c)


def test_timestamps_in_range(frames):
    lo, hi = pd.Timestamp("2024-01-01", tz="UTC"), pd.Timestamp("2025-07-01", tz="UTC")
    for name, col in TIMESTAMP_COLS.items():
        ts = frames[name][col]
        assert ts.notna().all() and ts.min() >= lo and ts.max() < hi
    ev = frames["app"]["event_time"]
    ok = ev[ev != "not-a-date"]
    assert ok.str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ").all()
    parsed = pd.to_datetime(ok, format="%Y-%m-%dT%H:%M:%SZ", utc=True)
    assert parsed.min() >= lo and parsed.max() < hi
    mod = pd.to_datetime(frames["crm"]["ModifiedDate"], format="%Y-%m-%d %H:%M:%S")
    assert mod.min() >= lo.tz_localize(None) and mod.max() < hi.tz_localize(None)


def test_record_ids_unique_apart_from_deliberate_duplicates(frames):
    prefixes = {"web": "W", "app": "A", "crm": "C", "pos": "R"}
    for s in ("web", "app", "pos"):
        ids = frames[s][ID_COL[s]]
        assert ids.is_unique and ids.str.fullmatch(prefixes[s] + r"\d{6,}").all()
    crm_ids = frames["crm"]["crm_id"]
    non_empty = crm_ids[crm_ids != ""]
    assert non_empty.str.fullmatch(r"C\d{6,}").all()
    counts = non_empty.value_counts()
    dups = counts[counts > 1]
    assert 1 <= len(dups) <= 10 and (dups == 2).all()


def test_quarantine_triggers(frames):
    crm = frames["crm"]
    assert 3 <= (crm["crm_id"] == "").sum() <= 10
    dup_rows = crm[crm["crm_id"].duplicated(keep=False) & (crm["crm_id"] != "")]
    for _, pair in dup_rows.groupby("crm_id"):
        assert not pair.iloc[0].equals(pair.iloc[1])  # same id, different content
    assert 3 <= (frames["app"]["event_time"] == "not-a-date").sum() <= 10
    truth = frames["truth"]
    assert ((truth["source"] == "crm") & (truth["source_record_id"] == "")).sum() >= 3


def test_truth_matches_sources(frames):
    truth = frames["truth"]
    assert len(truth) == sum(len(frames[s]) for s in SOURCES)
    for s in SOURCES:
        t = truth[truth["source"] == s]
        assert list(t["source_record_id"]) == list(frames[s][ID_COL[s]])
    assert truth["person_id"].str.fullmatch(r"P\d{7}").all()
    per_person = truth.groupby("person_id").size()
    assert per_person.between(1, 4).all()
    assert per_person.index.nunique() == 1500
    assert 1.8 < per_person.mean() < 2.2
    sources_per_person = truth.groupby("person_id")["source"].nunique()
    assert (sources_per_person >= 2).mean() > 0.3


def test_phones_are_valid_us_numbers(records):
    phones = records["phone"].dropna()
    real = phones[~phones.isin(JUNK_PHONES)]
    assert len(real) > 0.7 * len(records)
    for x in real:
        assert phonenumbers.is_valid_number(phonenumbers.parse(x, "US")), x
        assert "555" not in re.sub(r"\D", "", x)[-7:-4]
    for fmt in (r"\+1 \d{3}-\d{3}-\d{4}", r"\(\d{3}\) \d{3}-\d{4}", r"\d{3}\.\d{3}\.\d{4}",
                r"\d{10}", r"1-\d{3}-\d{3}-\d{4}"):  # fmt: skip
        assert real.str.fullmatch(fmt).any(), fmt


def test_households_share_phone_across_people(records):
    real = records[records["phone"].notna() & ~records["phone"].isin(JUNK_PHONES)].copy()
    real["digits"] = real["phone"].str.replace(r"\D", "", regex=True).str[-10:]
    people = real.groupby("digits")["person_id"].nunique()
    shared = people[people > 1]
    assert len(shared) >= 10
    assert (people <= 2).all()  # households are pairs; otherwise phones are unique per person


def test_email_noise_present(records):
    emails = records["email"]
    nonnull = emails.dropna()
    assert nonnull.str.contains(r"\+(?:shop|news|promo|deals|2024)@", regex=True).any()
    typo_domains = ("gnail.com", "gmial.com", "hotmial.com", "yaho.com", "outlok.com")
    assert nonnull.str.endswith(typo_domains).any()
    assert (nonnull != nonnull.str.strip()).any()  # whitespace
    assert nonnull.str.contains("[A-Z]", regex=True).any()  # upper case
    assert nonnull.str.endswith("@").any()
    assert nonnull.str.contains(r"^[a-z]+ [a-z]+@", regex=True).any()
    assert emails.isna().mean() > 0.03
    clean = nonnull[nonnull.str.fullmatch(r"[a-z0-9._]+@[a-z.-]+\.[a-z]+")]
    assert clean.str.split("@").str[1].isin(["gmail.com", "yahoo.com", "icloud.com"]).any()


def test_junk_identifiers_span_many_people(records):
    junk_e = records[records["email"].isin(JUNK_EMAILS)]
    junk_p = records[records["phone"].isin(JUNK_PHONES)]
    assert set(junk_e["email"]) == JUNK_EMAILS
    assert set(junk_p["phone"]) == JUNK_PHONES
    assert junk_e["person_id"].nunique() > 30
    assert junk_p["person_id"].nunique() > 30
    assert junk_e.groupby("email")["person_id"].nunique().min() > 3


def test_email_status_values(frames):
    statuses = {"valid", "bounced", "invalid", "suppressed", "unknown"}
    web = frames["web"]
    assert set(web["status"].dropna()) == statuses
    assert web["status"].value_counts(normalize=True)["valid"] > 0.6
    typo = web["email"].fillna("").str.endswith(("gnail.com", "gmial.com", "hotmial.com"))
    assert web.loc[typo, "status"].isin(["bounced", "invalid"]).mean() > 0.5


def test_name_noise(records):
    first = records["first"].dropna()
    assert first.isin(["José", "Zoë", "Françoise"]).any()
    assert (first != first.str.strip()).any()
    assert (first == first.str.upper()).any() and (first == first.str.lower()).any()
    # one-letter typos: a record of a person whose clean first name differs from the usual one
    clean = records.assign(f=records["first"].str.strip().str.lower()).dropna(subset=["f"])
    assert (clean.groupby("person_id")["f"].nunique() > 1).sum() > 10


def test_external_ids_devices_loyalty(frames):
    truth = frames["truth"].set_index(["source", "source_record_id"])["person_id"]
    web, app, pos = frames["web"], frames["app"], frames["pos"]
    assert 0.5 < web["customer_id"].notna().mean() < 0.7
    assert web["customer_id"].dropna().str.fullmatch(r"CUST\d{5,}").all()
    assert pos["loyalty_no"].dropna().str.fullmatch(r"L\d{4,}").all()
    w = web.assign(pid=truth.loc["web"].loc[web["id"]].to_numpy())
    a = app.assign(pid=truth.loc["app"].loc[app["app_record_id"]].to_numpy())
    assert (w.dropna(subset=["customer_id"]).groupby("customer_id")["pid"].nunique() == 1).all()
    both = w.dropna(subset=["device"]).merge(a, left_on="device", right_on="device_id")
    assert len(both) > 0 and (both["pid_x"] == both["pid_y"]).all()
    ext = pd.concat([w[["customer_id", "pid"]], a.rename(columns={"user_id": "customer_id"})])
    assert (ext.dropna(subset=["customer_id"]).groupby("customer_id")["pid"].nunique() == 1).all()


def test_write_round_trip(tmp_path, frames):
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "stale.parquet").write_text("old")
    paths = write(tmp_path, n_people=1500, seed=11)
    assert set(paths) == {*SOURCES, "truth"}
    assert not (tmp_path / "web" / "stale.parquet").exists()
    for name in ("web", "pos", "truth"):
        table = pq.read_table(f"{paths[name]}/part-0.parquet")
        assert table.column_names == EXPECTED_COLUMNS[name]
        back = table.to_pandas()
        assert len(back) == len(frames[name])
        if name in TIMESTAMP_COLS:
            ts_type = table.schema.field(TIMESTAMP_COLS[name]).type
            assert ts_type.unit == "us" and ts_type.tz == "UTC"
            pd.testing.assert_series_equal(
                back[TIMESTAMP_COLS[name]], frames[name][TIMESTAMP_COLS[name]]
            )
    app = pd.read_json(f"{paths['app']}/part-0.json", lines=True, dtype=False)
    assert list(app.columns) == EXPECTED_COLUMNS["app"]
    assert list(app["app_record_id"]) == list(frames["app"]["app_record_id"])
    assert list(app["event_time"]) == list(frames["app"]["event_time"])
    crm = pd.read_csv(f"{paths['crm']}/part-0.csv", dtype=str, keep_default_na=False)
    assert list(crm.columns) == EXPECTED_COLUMNS["crm"]
    assert list(crm["crm_id"]) == list(frames["crm"]["crm_id"])
    assert list(crm["FirstName"]) == list(frames["crm"]["FirstName"].fillna(""))


def test_tiny_and_invalid_sizes():
    tiny = generate(1, seed=1)
    assert tiny["truth"]["person_id"].nunique() == 1
    with pytest.raises(ValueError):
        generate(0)
    assert np.array_equal(demo_data.SOURCES, ("web", "app", "crm", "pos"))
