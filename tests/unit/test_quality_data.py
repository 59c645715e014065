"""Unit tests of the hard quality data generator (pure pandas, no Spark)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from idres_spark.run import hard_data
from idres_spark.run.hard_data import SOURCES, TRUTH_COLUMNS, generate

ID = {"web": "visit_id", "app": "app_record_id", "crm": "crm_id", "pos": "receipt_id"}
# source column of each field ("-": the source has none)
FIELDS = {
    "email": {"web": "email", "app": "email_address", "crm": "Email", "pos": "email"},
    "phone": {"web": "phone", "app": "mobile", "crm": "Phone", "pos": "phone"},
    "user_id": {"web": "customer_id", "app": "user_id", "crm": "CustomerNumber", "pos": "-"},
    "device": {"web": "cookie_id", "app": "device_id", "crm": "-", "pos": "-"},
    "ip": {"web": "ip_address", "app": "ip", "crm": "-", "pos": "-"},
    "first": {"web": "fname", "app": "first_name", "crm": "FirstName", "pos": "first_name"},
    "last": {"web": "lname", "app": "last_name", "crm": "LastName", "pos": "last_name"},
    "street": {"web": "ship_street", "app": "address_line", "crm": "Street", "pos": "addr_line"},
    "zip": {"web": "ship_zip", "app": "zip_code", "crm": "Zip", "pos": "postcode"},
    "country": {"web": "ship_country", "app": "country_code", "crm": "Country", "pos": "-"},
}
TARGET = 20_000


@pytest.fixture(scope="module")
def frames() -> dict[str, pd.DataFrame]:
    return generate(TARGET, seed=5)


@pytest.fixture(scope="module")
def records(frames) -> pd.DataFrame:
    """Every source on common column names, joined to its truth row."""
    parts = []
    for s in SOURCES:
        df = frames[s]
        part = pd.DataFrame({"source": s, "source_record_id": df[ID[s]].to_numpy()})
        for field, cols in FIELDS.items():
            part[field] = df[cols[s]].to_numpy() if cols[s] != "-" else None
        parts.append(part)
    stacked = pd.concat(parts, ignore_index=True)
    return stacked.merge(frames["truth"], on=["source", "source_record_id"], validate="1:1")


def _digits(phone: pd.Series) -> pd.Series:
    return phone.str.replace(r"\D", "", regex=True).str[-10:]


def test_same_seed_identical_frames_other_seed_differs():
    a, b, c = generate(1500, seed=3), generate(1500, seed=3), generate(1500, seed=4)
    assert a.keys() == b.keys() == {*SOURCES, "truth"}
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name])
    assert not a["truth"].equals(c["truth"])


def test_truth_covers_every_record_once_and_size_is_near_target(frames, records):
    truth = frames["truth"]
    assert tuple(truth.columns) == TRUTH_COLUMNS
    assert not truth.duplicated(["source", "source_record_id"]).any()
    assert len(records) == len(truth) == sum(len(frames[s]) for s in SOURCES)
    assert abs(len(truth) - TARGET) < 0.05 * TARGET
    for s in SOURCES:
        assert frames[s][ID[s]].is_unique
    per_person = truth.groupby("person_id").size()
    assert per_person.between(1, 6).all()


def test_columns_are_strings_or_timestamps(frames):
    assert "country" not in " ".join(frames["pos"].columns)  # pos has no country column
    for s in SOURCES:
        for col, values in frames[s].items():
            if values.dtype.kind == "M":
                continue
            assert values.dropna().map(type).eq(str).all(), (s, col)


def test_households_share_phone_and_street_and_differ_in_first_name(records):
    hh = records.dropna(subset=["household_id"])
    people = hh.groupby("household_id")["person_id"].nunique()
    assert (people == 2).all()
    n_people = records["person_id"].nunique()
    assert 0.06 < hh["person_id"].nunique() / n_people < 0.10
    phones = hh.assign(d=_digits(hh["phone"])).dropna(subset=["d"])
    # one phone per household, bar typos: the most common number is on most of its records
    top = phones.groupby("household_id")["d"].agg(lambda d: d.value_counts().iloc[0] / len(d))
    assert top.mean() > 0.9
    assert phones.groupby("household_id")["person_id"].nunique().eq(2).mean() > 0.5
    number = hh["street"].str.extract(r"^(\d+)", expand=False)
    street = hh.assign(n=number).dropna(subset=["n"]).groupby("household_id")["n"].nunique()
    assert (street == 1).all()  # the same house number on every address record
    firsts = hh.dropna(subset=["first"]).assign(f=lambda d: d["first"].str.strip().str.lower())
    # the person's most common spelling is the formal name: different within a household
    formal = firsts.groupby(["household_id", "person_id"])["f"].agg(lambda f: f.mode().iloc[0])
    seen = formal.groupby("household_id").agg(["size", "nunique"])
    both = seen[seen["size"] == 2]  # households where both people left a first name
    assert len(both) > 100 and (both["nunique"] == 2).mean() > 0.95


def test_lookalike_groups_are_different_people_with_emails_differing_in_digits(records):
    look = records.dropna(subset=["lookalike_group"])
    n_people = records["person_id"].nunique()
    assert 0.02 < look["person_id"].nunique() / n_people < 0.05
    assert (look.groupby("lookalike_group")["person_id"].nunique() >= 2).all()
    emails = look["email"].dropna().str.strip().str.lower()
    emails = emails[emails.str.contains("@") & ~emails.str.contains(r"\+")]
    by_group = look.loc[emails.index].assign(e=emails)
    distinct = by_group.groupby("lookalike_group")["e"].nunique()
    assert (distinct >= 2).mean() > 0.5  # distinct emails seen per group
    stripped = by_group["e"].str.replace(r"\d+", "", regex=True)
    shared = by_group.assign(s=stripped).groupby(["lookalike_group", "s"])["person_id"]
    assert (shared.nunique() >= 2).any()  # different people, one email once digits are removed
    # no email belongs to two people
    clean = records.assign(e=records["email"].str.strip().str.lower()).dropna(subset=["e"])
    clean = clean[clean["e"].str.fullmatch(r"[^@\s+]+@[^@\s]+\.[a-z]+")]
    owners = clean.groupby("e")["person_id"].nunique()
    assert owners.max() == 1


def test_kiosks_and_public_ips_span_many_people(records):
    kiosk = records[records["device"].fillna("").str.startswith("kiosk-")]
    assert (kiosk["source"] == "web").all()
    per_kiosk = kiosk.groupby("device")["person_id"].nunique()
    assert len(per_kiosk) >= 3 and per_kiosk.min() >= 20
    ip_people = records.dropna(subset=["ip"]).groupby("ip")["person_id"].nunique()
    assert (ip_people >= 20).sum() >= 5


def test_user_ids_never_shared_and_weak_records_are_many(records):
    ids = records.dropna(subset=["user_id"])
    assert ids.groupby("user_id")["person_id"].nunique().max() == 1
    web = records[records["source"] == "web"]
    only_device = web["email"].isna() & web["user_id"].isna() & web["phone"].isna()
    assert only_device.mean() > 0.2
    assert (web.loc[only_device, "last"].isna() & web.loc[only_device, "first"].notna()).any()
    pos = records[records["source"] == "pos"]
    name_phone = pos["email"].isna() & pos["phone"].notna() & pos["first"].notna()
    assert name_phone.mean() > 0.4


def test_nicknames_name_typos_and_phone_typos_occur(records):
    first = records.dropna(subset=["first"])
    spelled = first.assign(f=first["first"].str.strip().str.lower())
    per_person = spelled.groupby("person_id")["f"].nunique()
    assert (per_person >= 2).mean() > 0.1
    pairs = {("robert", "bob"), ("william", "bill"), ("elizabeth", "liz"), ("michael", "mike")}
    names = spelled.groupby("person_id")["f"].agg(set)
    assert sum(any(a in s and b in s for a, b in pairs) for s in names) > 5
    assert len(hard_data._NICKNAMES) >= 60
    pos = records[(records["source"] == "pos")].assign(d=lambda d: _digits(d["phone"]))
    phones = pos.dropna(subset=["d"]).groupby("person_id")["d"].nunique()
    assert (phones >= 2).sum() > 10  # a person's receipts with a mistyped number


def test_address_spellings_zip_and_country_noise(records):
    street = records["street"].dropna()
    assert street.str.contains(r" (?:St|Ave|Rd|Blvd|Dr|Ln|Ct|Pl|Way|Ter)\.").any()
    assert street.str.contains(r"#\d+$").any() and street.str.contains(r", apt \d+$").any()
    assert street.str.fullmatch(r"\d+ [A-Z0-9 #]+").any()  # upper case
    zips = records["zip"].dropna()
    assert zips.str.fullmatch(r"\d{5}").mean() > 0.5 and zips.str.fullmatch(r"\d{5}-\d{4}").any()
    country = records.loc[records["street"].notna() & (records["source"] != "pos"), "country"]
    assert {"US", "USA", "United States"} <= set(country.dropna())
    assert country.isna().any()


def test_ids_follow_their_patterns(frames):
    prefixes = {"web": "W", "app": "A", "crm": "C", "pos": "R"}
    for s in SOURCES:
        assert frames[s][ID[s]].str.fullmatch(prefixes[s] + r"\d{7}").all()
    truth = frames["truth"]
    assert truth["person_id"].str.fullmatch(r"P\d{7}").all()
    assert truth["household_id"].dropna().map(lambda v: bool(re.fullmatch(r"H\d{6}", v))).all()
    assert np.all(truth["lookalike_group"].dropna().str.fullmatch(r"L\d{5}"))
