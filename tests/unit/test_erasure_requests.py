"""Erasure requests parsed on the driver: defaults, order, what is refused, keyed hashes."""

from __future__ import annotations

import datetime as dt

from idres_spark.stewardship import requests as R


def test_defaults_order_and_refusals():
    valid, bad = R.parse_rows([
        {"request_id": "b", "received_at": "2025-07-02T10:00:00+02:00", "selector": "web:1"},
        {"request_id": "a", "received_at": "2025-07-02", "selector": "Email:Ann@X.com",
         "action": "ERASE", "scope": "connected"},
        {"request_id": "c", "received_at": "2025-07-03", "selector": "profile:P1",
         "action": "suppress_only"},
        {"request_id": "d", "received_at": "2025-07-03", "selector": "override:x"},
        {"request_id": "a", "received_at": "2025-07-03", "selector": "web:2"},
        {"request_id": "e", "received_at": "soon", "selector": "web:2"},
        {"request_id": "f", "received_at": "2025-07-03", "selector": "web:2", "scope": "all"},
        {"received_at": "2025-07-03", "selector": "web:2"},
    ])  # fmt: skip
    assert [(r.request_id, r.action, r.scope, r.selector.text) for r in valid] == [
        ("a", "erase", "connected", "email:ann@x.com"),
        ("b", "erase_and_suppress", "exact", "record:web:1"),
    ]
    assert valid[1].received_at == dt.datetime(2025, 7, 2, 8)  # UTC
    assert [rid for rid, _ in bad] == ["c", "d", "a", "e", "f", "(none)"]
    assert "not a profile" in bad[0][1] and "ids are unique" in bad[2][1]


def test_keyed_hashes_depend_on_the_key_and_the_kind():
    one = R.keyed_hash(b"k1", "email", "ann@x.com")
    assert one == R.keyed_hash(b"k1", "email", "ann@x.com") and len(one) == 64
    assert one != R.keyed_hash(b"k2", "email", "ann@x.com")
    assert one != R.keyed_hash(b"k1", "user_id", "ann@x.com")
    assert "ann" not in one


def test_published_table_history_delays_completion():
    from idres_spark.stewardship.erasure import _history_clear

    applied = "000002-20250702-abcdef12"
    assert _history_clear(applied, None, dt.date(2025, 7, 2))  # run folders only
    assert not _history_clear(applied, 30, dt.date(2025, 8, 1))  # 30 days: still readable
    assert _history_clear(applied, 30, dt.date(2025, 8, 2))
