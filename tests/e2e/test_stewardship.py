"""Steward overrides over five nights of real runs: cannot-links that split profiles joined by
a rule, a transformation and an earlier permanent link (and a cut in the middle of a chain),
a must-link and its survival, block_identifier, retract, the ids of split parts (majority,
tie, keep_id_side), idempotent re-application and strict mode."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from pyspark.sql import functions as F
from test_incremental import PHONE_AND_NAME, ids_of, write_batch

from idres_spark.config import parse_config
from idres_spark.errors import InputError
from idres_spark.profiles.merge_log import read_merge_log
from idres_spark.run.job import run_job
from idres_spark.state import store

pytestmark = [pytest.mark.e2e, pytest.mark.once]
DAY = dt.date(2025, 7, 1)
P1, P2, P3 = "+14152345601", "+14152345602", "+14152345603"

NIGHT_1 = [
    # a chain 1 -email- 2 -phone+name- 3 -email- 4, 5
    {"id": "1", "email": "a@x.com"},
    {"id": "2", "email": "a@x.com", "phone": P1, "last": "lee"},
    {"id": "3", "email": "b@x.com", "phone": P1, "last": "lee"},
    {"id": "4", "email": "b@x.com"},
    {"id": "5", "email": "b@x.com"},
    # joined by the typo transformation (gmial -> gmail, one phone)
    {"id": "11", "email": "bob@gmail.com", "phone": P2},
    {"id": "12", "email": "bob@gmial.com", "phone": P2},
    # two profiles a must-link joins
    {"id": "31", "email": "c@x.com"},
    {"id": "32", "email": "d@x.com"},
    # joined through a phone a steward blocks
    {"id": "41", "phone": P3, "last": "kim"},
    {"id": "42", "phone": P3, "last": "kim"},
    # keep_id_side: the minority side keeps the id
    {"id": "51", "email": "e@x.com"}, {"id": "52", "email": "e@x.com"},
    {"id": "53", "email": "e@x.com"},
    # joined by email in night 1; record 22 changes its email in night 2, so only the
    # permanent link of night 1 holds them together
    {"id": "21", "email": "g@x.com"}, {"id": "22", "email": "g@x.com"},
]  # fmt: skip
NIGHT_2 = [{"id": "22", "email": "h@x.com"}, {"id": "60", "email": "f@x.com"}]
NIGHT_3 = [
    {"id": "6", "email": "a@x.com", "phone": P1, "last": "lee"},  # bridges both sides of c1
    {"id": "43", "phone": P3, "last": "kim"},  # the blocked phone links nothing
    {"id": "13", "email": "bob@gmail.com", "phone": P2},  # would bridge c2's sides
]
OVERRIDES = [
    ("c1", "cannot_link", "web:1", "web:5", None),
    ("c2", "cannot_link", "record:web:11", "web:12", None),
    ("m1", "must_link", "web:31", "email:d@x.com", None),
    ("b1", "block_identifier", f"phone:{P3}", None, None),
    ("c3", "cannot_link", "web:52", "web:51", "1"),
    ("c4", "cannot_link", "web:21", "web:22", None),
]


def write_overrides(folder: Path, rows) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(
        [
            {
                "override_id": oid,
                "action": action,
                "anchor_1": a1,
                "anchor_2": a2,
                "keep_id_side": side,
                "reason": "steward ticket",
                "created_by": "ana",
                "created_at": f"2025-07-0{2 + n // 10}T00:00:{n % 10:02d}",
            }
            for n, (oid, action, a1, a2, side) in enumerate(rows)
        ]  # fmt: skip
    ).astype(object)
    for old in folder.glob("*"):
        old.unlink()
    frame.to_parquet(folder / "part-0.parquet")
    return folder


def config(batch: Path, out: Path, overrides: Path | None, strict: bool = False):
    columns = {"record_id": "id", "email": "email", "phone": "phone", "user_id": "uid",
               "first_name": "first", "last_name": "last", "event_ts": "ts"}  # fmt: skip
    data = {
        "sources": [{"name": "web", "format": "parquet", "path": str(batch), "columns": columns}],
        "rules": PHONE_AND_NAME,
        "transformations": {"email_typo_merge": True},
        "output": {"path": str(out), "mode": "incremental"},
    }
    if overrides is not None:
        data["stewardship"] = {
            "overrides": {"format": "parquet", "path": str(overrides)},
            "strict": strict,
        }
    return parse_config(data)


def table(spark, out: Path, name: str):
    path = store.table_path(spark, str(out), name)
    return read_merge_log(spark, path) if name == "merge_log" else spark.read.parquet(path)


def statuses(spark, out: Path) -> dict[str, str]:
    rows = table(spark, out, "diagnostics/override_status").collect()
    return {r.override_id: r.status for r in rows}


def run_log(spark, out: Path):
    run = store.published_runs(spark, str(out))[-1]
    log = table(spark, out, "merge_log").where(F.col("run_id") == run.run_id)
    return {(r.source_profile_id, r.destination_profile_id, r.reason) for r in log.collect()}


def test_overrides_over_five_nights(spark, tmp_path):
    out, steward = tmp_path / "out", tmp_path / "overrides"
    night = lambda n: DAY + dt.timedelta(days=n - 1)  # noqa: E731
    run_job(config(write_batch(tmp_path / "b1", NIGHT_1), out, None), night(1), spark)
    one = ids_of(spark, out)
    assert one["web:1"] == one["web:5"] and one["web:11"] == one["web:12"]
    assert one["web:31"] != one["web:32"] and one["web:41"] == one["web:42"]
    assert one["web:21"] == one["web:22"]

    # night 2: every override lands; a preview first shows the splits and changes nothing
    write_overrides(steward, OVERRIDES)
    batch = write_batch(tmp_path / "b2", NIGHT_2)
    state = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    preview = run_job(config(batch, out, steward), night(2), spark, preview=True)
    assert preview["profile_changes"] == {
        "created": 1, "grown": 1, "merged": 1, "split": 5, "split_off": 5}  # fmt: skip
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file() and "preview" not in
            p.parts} == state  # fmt: skip
    metrics = run_job(config(batch, out, steward), night(2), spark)
    two = ids_of(spark, out)
    assert statuses(spark, out) == {o[0]: "applied" for o in OVERRIDES}
    assert metrics["overrides"] == {"applied": 6}
    # c1 cuts the chain at its weakest link (the phone+name rule, 2-3): the larger part
    # keeps the id, the other gets a new one that no earlier profile had
    assert two["web:1"] == two["web:2"] != two["web:3"] == two["web:4"] == two["web:5"]
    assert two["web:3"] == one["web:3"] and two["web:1"] not in set(one.values())
    # c2 splits a transformation's merge: a tie, so the part with the smallest record keeps it
    assert two["web:11"] == one["web:11"] != two["web:12"]
    assert two["web:31"] == two["web:32"] == one["web:31"]  # m1 joins; tie: smallest record
    assert two["web:41"] == one["web:41"] != two["web:42"]  # b1: the phone links nothing
    assert two["web:52"] == one["web:52"] != two["web:51"] == two["web:53"]  # keep_id_side 1
    assert two["web:21"] == one["web:21"] != two["web:22"]  # c4 beats the permanent link
    log = run_log(spark, out)
    assert (one["web:1"], two["web:1"], "split:override:c1") in log
    assert (one["web:11"], two["web:12"], "split:override:c2") in log
    assert (one["web:32"], two["web:31"], "override:m1") in log  # the retirement of 32's
    assert (one["web:41"], two["web:42"], "split:override:b1") in log
    assert (one["web:52"], two["web:51"], "split:override:c3") in log
    pruned = table(spark, out, "diagnostics/pruned_groups").collect()
    assert {k for r in pruned for k in r.cut_reasons} >= {"cannot_link:c1", "cannot_link:c2"}

    # night 3: a record that would bridge c1's sides joins one side; the blocked phone links
    # nothing; every other profile and override stays as it was
    batch = write_batch(tmp_path / "b3", NIGHT_3)
    run_job(config(batch, out, steward), night(3), spark)
    three = ids_of(spark, out)
    assert three["web:6"] == three["web:1"] != three["web:3"]
    # 13 shares 11's email (a rule link) and is 12's typo target (a transformation, stronger):
    # it joins 12, and the link to 11 is the one c2 cuts
    assert three["web:13"] == three["web:12"] != three["web:11"]
    assert three["web:43"] not in (three["web:41"], three["web:42"])
    assert {k: three[k] for k in two} == two
    assert statuses(spark, out) == {o[0]: "applied" for o in OVERRIDES}
    assert not [row for row in run_log(spark, out) if row[2].startswith("split")]
    cuts = table(spark, out, "diagnostics/pruned_groups").collect()
    assert any("cannot_link:c1" in r.cut_reasons for r in cuts)

    # night 4: retract m1 and c1; the same batch again. 31 and 32 part (the smallest record's
    # part keeps the id); c1's sides join again through record 6's phone and name. c5 names
    # a profile as night 1 had it (41 and 42), kept apart from 43
    first_kim = f"profile:{one['web:41']}@1"
    write_overrides(steward, [*OVERRIDES, ("r1", "retract", "override:m1", None, None),
                              ("r2", "retract", "override:c1", None, None),
                              ("c5", "cannot_link", first_kim, "web:43", None)])  # fmt: skip
    run_job(config(batch, out, steward), night(4), spark)
    four = ids_of(spark, out)
    assert four["web:31"] == three["web:31"] != four["web:32"]
    assert four["web:1"] == four["web:6"] == four["web:3"] == four["web:5"]
    retracted = {"m1": "retracted", "c1": "retracted", "r1": "applied", "r2": "applied",
                 "c5": "applied"}  # fmt: skip
    assert statuses(spark, out) == {**{o[0]: "applied" for o in OVERRIDES}, **retracted}
    status = table(spark, out, "diagnostics/override_status").where("override_id = 'c5'")
    assert status.first().records == 3  # 41 and 42 of run 1's profile, and 43
    log = run_log(spark, out)
    assert (three["web:31"], four["web:32"], "split:override:m1") in log

    # night 5: the same batch and overrides again change nothing
    metrics = run_job(config(batch, out, steward), night(5), spark)
    assert ids_of(spark, out) == four and metrics["merges"] == 0

    # strict: a contradiction stops the run before anything is published
    write_overrides(steward, [*OVERRIDES, ("m9", "must_link", "web:21", "web:22", None)])
    with pytest.raises(InputError) as err:
        run_job(config(batch, out, steward, strict=True), night(6), spark)
    assert err.value.code == "override_conflict" and "c4" in str(err.value)
    assert len(store.published_runs(spark, str(out))) == 5
