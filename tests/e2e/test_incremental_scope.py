"""Property: resolving only a batch's affected set gives the same state as resolving everything.

Random sequences of small batches (new records, changed records, records that bridge two
existing profiles, records that push a profile over the group limits, typo and alias emails)
are resolved twice from the same starting state: once by the affected-set path an incremental
run takes, once over every record (``scope="all"``). Record map, profiles, merge-log rows and
retirements must be equal, row for row; the affected path's state then starts the next batch.
"""

from __future__ import annotations

import datetime as dt
import random

import pytest
from chispa import assert_df_equality
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from idres_spark.config import parse_config
from idres_spark.pipeline import ResolutionResult, resolve
from idres_spark.run_context import RunContext
from idres_spark.session import InterpretedExpressions
from idres_spark.state import history
from idres_spark.state.store import PreviousState, PublishedRun

# `once`: the longest e2e test (about 130-250 s); it compares two paths of the same engine, and
# every expression they use is tested on both PySpark lines by the other tests
pytestmark = [pytest.mark.e2e, pytest.mark.once, pytest.mark.line35]
DAY = dt.date(2025, 7, 1)
COLUMNS = ("id", "email", "phone", "uid", "first", "last", "ts")
CONFIG = parse_config({
    "sources": [{"name": "web", "format": "parquet", "path": "unused", "columns": {
        "record_id": "id", "email": "email", "phone": "phone", "user_id": "uid",
        "first_name": "first", "last_name": "last", "event_ts": "ts"}}],
    "rules": [
        {"name": "email", "all": [{"field": "email", "compare": "equals"}]},
        {"name": "phone-and-name", "all": [{"field": "phone", "compare": "equals"},
                                           {"field": "last_name", "compare": "equals"}]},
    ],
    "transformations": {"email_typo_merge": True, "email_alias_merge": True},
    "limits": {"max_group_size": 5, "identifier_limits": {"email": 3}},
    "output": {"path": "unused", "mode": "incremental"},
})  # fmt: skip
LASTS = ("smith", "jones", "brown", "khan", "garcia", "novak")
FIRSTS = ("ann", "bob", "cy", "dee", "eve", "fay", "gus", "hal")


class People:
    """A small world of people whose records share emails, phones and household names."""

    def __init__(self, rng: random.Random, n: int = 10) -> None:
        self.rng = rng
        self.people = []
        for i in range(n):
            last = rng.choice(LASTS)
            first = rng.choice(FIRSTS)
            domain = rng.choice(("gmail.com", "acme.io", "yahoo.com"))
            phone = f"+1415555{rng.randrange(0, 6):04d}"  # few phones: households share them
            self.people.append((first, last, f"{first}.{last}{i}@{domain}", phone))

    def record(self, rid: str, ts_day: int) -> dict:
        rng = self.rng
        first, last, email, phone = rng.choice(self.people)
        local, domain = email.split("@")
        variant = rng.random()
        if variant < 0.15:
            email = f"{local}+shop@{domain}"  # alias
        elif variant < 0.3:
            email = f"{local}@{domain.replace('mail', 'mial').replace('acme', 'amce')}"  # typo
        elif variant < 0.4:
            email = None
        if rng.random() < 0.15:  # a bridge: another person's phone and household name
            _, last, _, phone = rng.choice(self.people)
        return {
            "id": rid, "email": email, "phone": phone if rng.random() < 0.8 else None,
            "uid": None, "first": first, "last": last,
            "ts": dt.datetime(2025, 1, 1) + dt.timedelta(days=ts_day),
        }  # fmt: skip


def frame(spark, rows: list[dict]):
    ordered = [tuple(r[c] for c in COLUMNS) for r in rows]
    schema = (
        "id string, email string, phone string, uid string, first string, last string, ts timestamp"
    )
    return spark.createDataFrame(ordered, schema)


@pytest.fixture(autouse=True)
def _interpreted(spark):
    """Expressions interpreted, as a job of a few dozen records evaluates them once its
    records are stored (``pipeline.INTERPRETED_RUN_RECORDS``); the session's settings after."""
    switch = InterpretedExpressions(spark)
    switch.turn_on()
    yield
    switch.turn_off()


def local(df):
    return df.localCheckpoint(eager=True)  # in memory: the test's runs are small


def state_after(spark, result: ResolutionResult, run: RunContext, seq: int) -> PreviousState:
    def kept(df):
        return spark.createDataFrame(df.collect(), df.schema)  # no lineage into the next run

    return PreviousState(
        run=PublishedRun(seq, run.run_id, f"runs/{run.run_id}"),
        records=kept(result.records.select(*history.STATE_COLUMNS)),
        record_map=kept(result.record_map),
        profiles=kept(result.profiles),
        merge_log=kept(result.merge_log),
        provenance=kept(result.provenance),
    )


@settings(
    max_examples=2,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(seed=st.integers(0, 2**31), batches=st.integers(2, 3))
def test_affected_set_equals_resolving_everything(spark, seed, batches):
    rng = random.Random(seed)
    world = People(rng)
    rows = [world.record(f"{i}", rng.randrange(30)) for i in range(14)]
    fingerprint = CONFIG.fingerprint()
    run = RunContext.for_date(DAY, fingerprint, 1)
    first = resolve({"web": frame(spark, rows)}, CONFIG, run, materialize=local)
    state = state_after(spark, first, run, 1)
    next_id, affected_runs = len(rows), 0
    for step in range(2, 2 + batches):
        batch = []
        for _ in range(rng.randrange(1, 5)):  # new records
            batch.append(world.record(f"{next_id}", 30 + step))
            next_id += 1
        for rid in rng.sample(range(next_id - len(batch)), rng.randrange(0, 3)):
            batch.append(world.record(f"{rid}", 30 + step))  # changed (or, rarely, unchanged)
        run = RunContext.for_date(DAY + dt.timedelta(days=step), fingerprint, step)
        sources = {"web": frame(spark, batch)}
        partial = resolve(sources, CONFIG, run, previous=state, materialize=local)
        everything = resolve(sources, CONFIG, run, previous=state, materialize=local, scope="all")
        assert everything.scope == "all"
        affected_runs += partial.scope == "affected"
        for name in ("record_map", "profiles", "provenance", "new_merges", "retired"):
            left, right = getattr(partial, name), getattr(everything, name)
            assert_df_equality(
                left, right.select(*left.columns), ignore_row_order=True, ignore_nullable=True
            )
        state = state_after(spark, partial, run, step)
    assert affected_runs == batches  # every batch took the affected-set path
