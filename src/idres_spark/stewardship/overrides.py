"""Steward overrides, decided on the driver: rows of the ``stewardship.overrides`` table ->
what this run applies, and a status per row.

An override is written by a person, so the table is small (hundreds or thousands of rows):
its rows and the records its anchors name are collected and decided here in plain Python,
which the precedence rules need (a chain of must-links is a union-find; "the newer of two
contradictory overrides is not applied" is an order). No Spark work happens here; the
Spark half (:mod:`idres_spark.stewardship.apply`) resolves anchors to records and turns the
decision into links, separations and blocked values.

Columns (text; ``docs/stewardship.md``): ``override_id``, ``action`` (``must_link``,
``cannot_link``, ``block_identifier``, ``retract``), ``anchor_1``, ``anchor_2``, ``reason``,
``created_at``, ``created_by``, optional ``expires_at`` and ``keep_id_side`` (``1`` or ``2``:
the side of a cannot-link whose part keeps the profile id when it splits a profile).

Anchors: a record (``record:web:17`` or ``web:17``, i.e. ``source:source_record_id``); a
normalized identifier (``email:ann@x.com``, ``phone:+14155550100``, ``user_id:u1``,
``device_id:d1``); a profile (``profile:P…`` in the published state, or
``profile:P…@<run sequence>``: the records it held in that retained run); for ``retract``,
the override withdrawn (``override:<id>``).

Order and precedence: rows are decided oldest first (``created_at``, then ``override_id``).
A retract withdraws an earlier override; an expired one (``expires_at`` passed) does nothing.
A must-link whose records are already separated by an applied cannot-link, or a cannot-link
whose two sides an applied must-link chain joins, contradicts an older override and is
``conflicted`` (not applied; with ``strict`` the run stops instead).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from pydantic import Field

from idres_spark.errors import InputError
from idres_spark.golden_config import TableInput, _Model
from idres_spark.masking import mask

ACTIONS = ("must_link", "cannot_link", "block_identifier", "retract")
IDENTIFIERS = ("email", "phone", "user_id", "device_id")
COLUMNS = ("override_id", "action", "anchor_1", "anchor_2", "reason", "created_at",
           "created_by", "expires_at", "keep_id_side")  # fmt: skip
REQUIRED = ("override_id", "action", "anchor_1", "created_at")
# statuses, as diagnostics/override_status reports them
APPLIED, PENDING, CONFLICTED, RETRACTED, EXPIRED, INVALID, INERT = (
    "applied", "pending", "conflicted", "retracted", "expired", "invalid", "inert",
)  # fmt: skip


class StewardshipConfig(_Model):
    overrides: TableInput | None = None  # the overrides table (docs/stewardship.md)
    strict: bool = False  # contradictory overrides stop the run instead of being reported
    max_anchor_records: int = Field(default=10_000, ge=1)  # records one anchor may name
    erasure: TableInput | None = None  # the erasure requests table (docs/stewardship.md)
    # the environment variable holding the key of the suppression list's hashes
    suppression_key_env: str = "IDRES_SUPPRESSION_KEY"


@dataclass(frozen=True)
class Anchor:
    kind: str  # record | email | phone | user_id | device_id | profile | override
    value: str
    run_seq: int | None = None  # profile anchors: the run whose record map names the records

    @property
    def text(self) -> str:
        suffix = f"@{self.run_seq}" if self.run_seq is not None else ""
        return f"{self.kind}:{self.value}{suffix}"

    @property
    def masked(self) -> str:
        """For reports and logs: identifier values masked like everywhere else."""
        if self.kind in ("record", *IDENTIFIERS):
            source, sep, local = (
                self.value.rpartition(":") if self.kind == "record" else ("", "", self.value)
            )
            return f"{self.kind}:{source}{sep}{mask(local)}"
        return self.text


@dataclass
class Override:
    override_id: str
    action: str
    anchors: tuple[Anchor, ...]
    created_at: dt.datetime
    expires_at: dt.datetime | None = None
    keep_id_side: int | None = None
    reason: str | None = None
    created_by: str | None = None


@dataclass
class Status:
    override_id: str
    action: str | None
    status: str
    detail: str = ""
    records: int = 0  # records the anchors named this run


@dataclass
class Decision:
    """What a run applies. Record ids everywhere; tag ``k`` (1-based) is ``cannot[k-1]``:
    its first side's records carry ``+k``, its second side's ``-k``."""

    must_links: list[tuple[str, str, str]] = field(default_factory=list)  # (src, dst, id)
    cannot: list[tuple[str, list[str], list[str], int | None]] = field(default_factory=list)
    blocked: list[tuple[str, str, str]] = field(default_factory=list)  # (field, value, id)
    statuses: list[Status] = field(default_factory=list)

    def applied(self) -> list[str]:
        return sorted(s.override_id for s in self.statuses if s.status == APPLIED)


def parse_anchor(text: str | None) -> Anchor:
    """``kind:value`` (a bare ``source:id`` is a record); raises ValueError with the fix."""
    text = (text or "").strip()
    kind, sep, value = text.partition(":")
    if not sep or not value.strip() or not kind.strip():
        raise ValueError(
            f"anchor {mask(text)!r}: write kind:value, e.g. record:web:17, email:ann@x.com, "
            "profile:P0123…, override:ov-7"
        )
    kind, value = kind.strip().lower(), value.strip()
    if kind == "profile":
        profile, at, seq = value.partition("@")
        if at and not seq.isdigit():
            raise ValueError(f"anchor {text!r}: profile:<id>@<run sequence number>, e.g. @12")
        return Anchor("profile", profile, int(seq) if at else None)
    if kind == "record":
        return Anchor("record", value)
    if kind == "email":
        return Anchor("email", value.lower())
    if kind in (*IDENTIFIERS, "override"):
        return Anchor(kind, value)
    return Anchor("record", text)  # source:source_record_id


def parse_rows(rows: list[dict], now: dt.datetime) -> tuple[list[Override], list[Status]]:
    """Valid overrides (oldest first) and an ``invalid`` status for every other row."""
    valid: list[Override] = []
    bad: list[Status] = []
    seen: set[str] = set()
    for row in rows:
        oid = (row.get("override_id") or "").strip()
        action = (row.get("action") or "").strip().lower() or None
        try:
            valid.append(_parse_row(row, oid, action, seen))
            seen.add(oid)
        except ValueError as exc:
            bad.append(Status(oid or "(none)", action, INVALID, str(exc)))
    valid.sort(key=lambda o: (o.created_at, o.override_id))
    return valid, bad


def _parse_row(row: dict, oid: str, action: str | None, seen: set[str]) -> Override:
    missing = [c for c in REQUIRED if not (row.get(c) or "").strip()]
    if missing:
        raise ValueError(f"missing {missing}; every override needs {list(REQUIRED)}")
    if oid in seen:
        raise ValueError(f"override_id {oid!r} is used by an earlier row: ids are unique")
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; actions are {list(ACTIONS)}")
    first = parse_anchor(row.get("anchor_1"))
    second = parse_anchor(row["anchor_2"]) if (row.get("anchor_2") or "").strip() else None
    if action in ("must_link", "cannot_link"):
        if second is None:
            raise ValueError(f"{action} needs anchor_2")
        if "override" in (first.kind, second.kind):
            raise ValueError(f"{action} anchors name records, identifiers or profiles")
        anchors: tuple[Anchor, ...] = (first, second)
    elif action == "block_identifier":
        if first.kind not in IDENTIFIERS or second is not None:
            raise ValueError(
                f"block_identifier names one identifier in anchor_1 ({'/'.join(IDENTIFIERS)}"
                ":value) and no anchor_2"
            )
        anchors = (first,)
    else:
        if first.kind != "override" or second is not None:
            raise ValueError("retract names the override it withdraws: anchor_1 override:<id>")
        anchors = (first,)
    side = (row.get("keep_id_side") or "").strip()
    if side and (action != "cannot_link" or side not in ("1", "2")):
        raise ValueError("keep_id_side is 1 or 2, on a cannot_link only")
    return Override(
        oid, action, anchors, _timestamp(row, "created_at"),
        _timestamp(row, "expires_at") if (row.get("expires_at") or "").strip() else None,
        int(side) if side else None, row.get("reason"), row.get("created_by"),
    )  # fmt: skip


def _timestamp(row: dict, name: str) -> dt.datetime:
    text = row[name].strip().replace("Z", "+00:00")
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{name} {row[name]!r} is not an ISO date or timestamp") from None
    return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value


def decide(
    overrides: list[Override],
    records_of: dict[Anchor, list[str]],
    now: dt.datetime,
    *,
    strict: bool = False,
    max_anchor_records: int = 10_000,
    erased: frozenset[str] = frozenset(),
    inert_before: frozenset[str] = frozenset(),
) -> Decision:
    """Apply ``overrides`` (oldest first) to the records their anchors name this run.
    ``erased``: the record ids and identifier values erasure removed in this run; an
    override whose anchors name nothing because of them (or that was ``inert`` before,
    ``inert_before``) is ``inert``, not pending."""
    decision = Decision()
    status: dict[str, Status] = {}
    parent: dict[str, str] = {}  # union-find over the records of applied must-links

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    by_id = {o.override_id: o for o in overrides}
    retracted: dict[str, str] = {}  # withdrawn override -> the retract that withdrew it
    for o in overrides:
        if o.action != "retract":
            continue
        target = by_id.get(o.anchors[0].value)
        if target is None or target.action == "retract" or (
            target.created_at, target.override_id) > (o.created_at, o.override_id):  # fmt: skip
            status[o.override_id] = Status(o.override_id, o.action, INVALID,
                f"retracts {o.anchors[0].value!r}, which is no earlier override")  # fmt: skip
        else:
            status[o.override_id] = Status(o.override_id, o.action, APPLIED)
            retracted.setdefault(target.override_id, o.override_id)
    separations: list[tuple[str, set[str], set[str]]] = []  # applied cannot-links
    for o in overrides:
        if o.action == "retract":
            continue
        if o.override_id in retracted:
            status[o.override_id] = Status(o.override_id, o.action, RETRACTED,
                                           f"by {retracted[o.override_id]}")  # fmt: skip
            continue
        named = [sorted(set(records_of.get(a, []))) for a in o.anchors]
        count = sum(len(r) for r in named)
        if o.expires_at is not None and o.expires_at <= now:
            status[o.override_id] = Status(o.override_id, o.action, EXPIRED,
                                           f"expired at {o.expires_at.isoformat()}")  # fmt: skip
            continue
        if o.action == "block_identifier":
            a = o.anchors[0]
            decision.blocked.append((a.kind, a.value, o.override_id))
            status[o.override_id] = Status(o.override_id, o.action, APPLIED, records=count)
            continue
        gone = [a for a, r in zip(o.anchors, named, strict=True) if not r]
        if gone and (o.override_id in inert_before or all(a.value in erased for a in gone)):
            status[o.override_id] = Status(o.override_id, o.action, INERT,
                                           "an anchor's records were erased", count)  # fmt: skip
            continue
        empty = [a.masked for a in gone]
        if empty:
            status[o.override_id] = Status(o.override_id, o.action, PENDING,
                f"no record in the state matches {empty} yet", count)  # fmt: skip
            continue
        big = [
            a.masked for a, r in zip(o.anchors, named, strict=True) if len(r) > max_anchor_records
        ]
        if big:
            status[o.override_id] = Status(o.override_id, o.action, INVALID,
                f"{big} name more than {max_anchor_records} records (stewardship."
                "max_anchor_records): name a record or a narrower identifier", count)  # fmt: skip
            continue
        left, right = named
        if o.action == "must_link":
            roots = {find(r) for r in left + right}
            against = [
                oid
                for oid, a, b in separations
                if {find(r) for r in a} & roots and {find(r) for r in b} & roots
            ]
            if against:
                status[o.override_id] = _conflict(o, against[0], strict, count)
                continue
            hub = left[0]
            for record in left[1:] + right:
                decision.must_links.append((record, hub, o.override_id))
                parent[find(record)] = find(hub)
            status[o.override_id] = Status(o.override_id, o.action, APPLIED, records=count)
        else:  # cannot_link
            overlap = sorted(set(left) & set(right))
            joined = {find(r) for r in left} & {find(r) for r in right}
            if overlap or joined:
                chain = sorted({oid for src, _, oid in decision.must_links if find(src) in joined})
                against = (
                    f"{Anchor('record', overlap[0]).masked} on both sides"
                    if overlap
                    else ", ".join(chain)
                )
                status[o.override_id] = _conflict(o, against, strict, count)
                continue
            separations.append((o.override_id, set(left), set(right)))
            decision.cannot.append((o.override_id, left, right, o.keep_id_side))
            status[o.override_id] = Status(o.override_id, o.action, APPLIED, records=count)
    decision.statuses = [status[o.override_id] for o in overrides]
    return decision


def _conflict(o: Override, against: str, strict: bool, count: int) -> Status:
    detail = f"contradicts {against}: not applied (the older override wins)"
    if strict:
        raise InputError(
            f"stewardship.overrides: {o.action} {o.override_id} {detail}; retract one of them "
            "or set stewardship.strict: false to report such conflicts instead",
            code="override_conflict",
        )
    return Status(o.override_id, o.action, CONFLICTED, detail, count)
