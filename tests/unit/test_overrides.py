"""Steward overrides decided on the driver: parsing, order, precedence, conflicts, retract."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from idres_spark.errors import InputError
from idres_spark.linking import limits as L
from idres_spark.stewardship import overrides as O

NOW = dt.datetime(2025, 7, 10)


def row(oid, action, a1, a2=None, created="2025-07-01", **extra):
    return {"override_id": oid, "action": action, "anchor_1": a1, "anchor_2": a2,
            "created_at": created, **extra}  # fmt: skip


def decide(rows, records_of=None, strict=False):
    parsed, invalid = O.parse_rows(rows, NOW)
    named = {O.parse_anchor(k): v for k, v in (records_of or {}).items()}
    decision = O.decide(parsed, named, NOW, strict=strict)
    return decision, {s.override_id: s for s in decision.statuses + invalid}


def test_anchor_forms():
    assert O.parse_anchor("record:web:17") == O.Anchor("record", "web:17")
    assert O.parse_anchor("web:17") == O.Anchor("record", "web:17")
    assert O.parse_anchor("email:Ann@X.com") == O.Anchor("email", "ann@x.com")
    assert O.parse_anchor("profile:Pabc@12") == O.Anchor("profile", "Pabc", 12)
    assert O.parse_anchor("profile:Pabc").run_seq is None
    for bad in ("", "nocolon", "profile:P1@x", ":x"):
        with pytest.raises(ValueError):
            O.parse_anchor(bad)


def test_invalid_rows_are_reported_with_what_to_fix():
    _, status = decide([
        row("a", "merge", "web:1", "web:2"),
        row("b", "must_link", "web:1"),
        row("c", "block_identifier", "web:1"),
        row("d", "retract", "web:1"),
        row("e", "cannot_link", "web:1", "web:2", created="yesterday"),
        row("f", "must_link", "web:1", "web:2", keep_id_side="1"),
        row("g", "must_link", "web:1", "web:2"),
        row("g", "must_link", "web:3", "web:4"),
        {"action": "must_link", "anchor_1": "web:1"},
    ], {"web:1": ["web:1"], "web:2": ["web:2"]})  # fmt: skip
    assert {k: s.status for k, s in status.items()} == {
        "a": "invalid", "b": "invalid", "c": "invalid", "d": "invalid", "e": "invalid",
        "f": "invalid", "g": "invalid", "(none)": "invalid",
    }  # fmt: skip
    assert "unknown action 'merge'" in status["a"].detail
    assert "needs anchor_2" in status["b"].detail
    assert "is used by an earlier row" in status["g"].detail


def test_must_link_chain_across_a_cannot_link_newer_one_not_applied():
    records = {f"web:{i}": [f"web:{i}"] for i in range(1, 5)}
    decision, status = decide([
        row("c1", "cannot_link", "web:1", "web:3", created="2025-07-01"),
        row("m1", "must_link", "web:1", "web:2", created="2025-07-02"),
        row("m2", "must_link", "web:2", "web:3", created="2025-07-03"),  # closes the chain
        row("m3", "must_link", "web:3", "web:4", created="2025-07-04"),
    ], records)  # fmt: skip
    assert [status[k].status for k in ("c1", "m1", "m2", "m3")] == [
        "applied", "applied", "conflicted", "applied"]  # fmt: skip
    assert "contradicts c1" in status["m2"].detail
    assert sorted(oid for *_, oid in decision.must_links) == ["m1", "m3"]
    with pytest.raises(InputError) as err:
        decide([row("c1", "cannot_link", "web:1", "web:3", created="2025-07-01"),
                row("m1", "must_link", "web:1", "web:2", created="2025-07-02"),
                row("m2", "must_link", "web:2", "web:3", created="2025-07-03")],
               records, strict=True)  # fmt: skip
    assert err.value.code == "override_conflict" and "m2" in str(err.value)


def test_cannot_link_across_a_must_link_chain_is_the_newer_one():
    records = {f"web:{i}": [f"web:{i}"] for i in range(1, 4)}
    decision, status = decide([
        row("m1", "must_link", "web:1", "web:2", created="2025-07-01"),
        row("m2", "must_link", "web:2", "web:3", created="2025-07-02"),
        row("c1", "cannot_link", "web:1", "web:3", created="2025-07-03"),
    ], records)  # fmt: skip
    assert status["c1"].status == "conflicted" and "m1, m2" in status["c1"].detail
    assert decision.cannot == []


def test_retract_expiry_pending_and_order_by_created_at():
    records = {"web:1": ["web:1"], "web:2": ["web:2"], "email:a@x.com": ["web:1", "web:5"]}
    decision, status = decide([
        row("r1", "retract", "override:m1", created="2025-07-05"),
        row("m1", "must_link", "web:1", "web:2", created="2025-07-01"),
        row("m2", "must_link", "web:1", "web:9", created="2025-07-02"),
        row("c1", "cannot_link", "email:a@x.com", "web:2", created="2025-07-03",
            expires_at="2025-07-09T23:00:00Z"),
        row("c2", "cannot_link", "email:a@x.com", "web:2", created="2025-07-03",
            keep_id_side="2"),
        row("b1", "block_identifier", "phone:+14155550100"),
        row("r2", "retract", "override:zz", created="2025-07-05"),
    ], records)  # fmt: skip
    got = {k: s.status for k, s in status.items()}
    assert got == {"r1": "applied", "m1": "retracted", "m2": "pending", "c1": "expired",
                   "c2": "applied", "b1": "applied", "r2": "invalid"}  # fmt: skip
    assert decision.must_links == []
    assert decision.cannot == [("c2", ["web:1", "web:5"], ["web:2"], 2)]
    assert decision.blocked == [("phone", "+14155550100", "b1")]
    assert [s.override_id for s in decision.statuses][:3] == ["b1", "m1", "m2"]  # by time, id


def test_an_override_on_erased_records_is_inert():
    rows = [row("c9", "cannot_link", "web:9", "web:1"),
            row("m9", "must_link", "email:gone@x.com", "web:1")]  # fmt: skip
    parsed, _ = O.parse_rows(rows, NOW)
    decision = O.decide(parsed, {O.parse_anchor("web:1"): ["web:1"]}, NOW,
                        erased=frozenset({"web:9", "gone@x.com"}))  # fmt: skip
    assert [(s.override_id, s.status) for s in decision.statuses] == [
        ("c9", "inert"), ("m9", "inert")]  # fmt: skip
    decision = O.decide(parsed, {O.parse_anchor("web:1"): ["web:1"]}, NOW,
                        inert_before=frozenset({"c9"}))  # fmt: skip
    assert [s.status for s in decision.statuses] == ["inert", "pending"]


def test_greedy_never_joins_the_two_sides_of_a_cannot_link_even_by_permanent_links():
    # a chain 0-1-2-3, strongest at the ends; records 0 and 3 must stay apart: the weakest
    # link between them (1-2) is the one cut, permanent links included
    lo, hi = np.array([0, 2, 1]), np.array([1, 3, 2])
    apart = [{1}, set(), set(), {-1}]
    split = L.greedy(4, lo, hi, np.array([True, True, True]), None, [], apart, ("ov-9",))
    assert split.part.tolist() == [0, 0, 2, 2]
    assert split.reasons == ["cannot_link:ov-9"]
