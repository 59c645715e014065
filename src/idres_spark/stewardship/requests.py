"""Erasure requests, parsed on the driver: rows of ``stewardship.erasure`` -> what this run
erases and suppresses.

Columns (text): ``request_id``, ``received_at``, ``selector`` (a record ``web:17``, an
identifier ``email:ann@x.com`` / ``phone:`` / ``user_id:`` / ``device_id:``, or a profile
``profile:P…``), optional ``action`` (``erase``, ``erase_and_suppress`` (the default),
``suppress_only``, ``unsuppress``) and ``scope`` (``exact``, the default: the records the
selector names; ``connected``: every record of their profiles).

A request is decided once: in the first run that reads it (oldest ``received_at`` first, then
``request_id``). Later runs keep its audit row and only move its status from ``applied`` to
``complete`` once no retained run folder older than the run that applied it remains. Keyed
hashes (:func:`keyed_hash`) stand for the selector everywhere the request is recorded.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass

from idres_spark.stewardship.overrides import IDENTIFIERS, Anchor, parse_anchor

ACTIONS = ("erase", "erase_and_suppress", "suppress_only", "unsuppress")
SCOPES = ("exact", "connected")
COLUMNS = ("request_id", "received_at", "action", "selector", "scope")
REQUIRED = ("request_id", "received_at", "selector")
KEY_ENV = "IDRES_SUPPRESSION_KEY"  # the default name of the environment variable of the key


@dataclass(frozen=True)
class Request:
    request_id: str
    received_at: dt.datetime
    action: str
    selector: Anchor
    scope: str

    @property
    def erases(self) -> bool:
        return self.action in ("erase", "erase_and_suppress")

    @property
    def suppresses(self) -> bool:
        return self.action in ("erase_and_suppress", "suppress_only")


def keyed_hash(key: bytes, kind: str, value: str) -> str:
    """HMAC-SHA256 of ``kind:value`` under ``key``, hex: what the suppression list and the
    audit hold instead of the value (without the key, a list of hashes cannot be checked
    against a list of emails)."""
    return hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def parse_rows(rows: list[dict]) -> tuple[list[Request], list[tuple[str, str]]]:
    """Valid requests, oldest first, and ``(request_id, what to fix)`` for the others."""
    valid: list[Request] = []
    bad: list[tuple[str, str]] = []
    seen: set[str] = set()
    for row in rows:
        rid = (row.get("request_id") or "").strip()
        try:
            valid.append(_parse(row, rid, seen))
            seen.add(rid)
        except ValueError as exc:
            bad.append((rid or "(none)", str(exc)))
    valid.sort(key=lambda r: (r.received_at, r.request_id))
    return valid, bad


def _parse(row: dict, rid: str, seen: set[str]) -> Request:
    missing = [c for c in REQUIRED if not (row.get(c) or "").strip()]
    if missing:
        raise ValueError(f"missing {missing}; every request needs {list(REQUIRED)}")
    if rid in seen:
        raise ValueError(f"request_id {rid!r} is used by an earlier row: ids are unique")
    action = (row.get("action") or "").strip().lower() or "erase_and_suppress"
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; actions are {list(ACTIONS)}")
    scope = (row.get("scope") or "").strip().lower() or "exact"
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}; scopes are {list(SCOPES)}")
    selector = parse_anchor(row["selector"])
    if selector.kind not in ("record", "profile", *IDENTIFIERS) or selector.run_seq is not None:
        raise ValueError(
            "selector is a record (web:17), an identifier (email:…, phone:…, user_id:…, "
            "device_id:…) or a profile (profile:P…)"
        )
    if selector.kind == "profile" and action in ("suppress_only", "unsuppress"):
        raise ValueError(f"{action} needs a record or an identifier selector, not a profile")
    text = row["received_at"].strip().replace("Z", "+00:00")
    try:
        received = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("received_at is not an ISO date or timestamp") from None
    if received.tzinfo:
        received = received.astimezone(dt.UTC).replace(tzinfo=None)
    return Request(rid, received, action, selector, scope)
