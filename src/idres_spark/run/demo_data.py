"""Seeded, vectorized generator of realistic demo customer data with ground truth.

``generate(n_people, seed)`` returns one pandas frame per source (``web``, ``app``, ``crm``,
``pos``) plus ``truth`` (``source``, ``source_record_id``, ``person_id``); ``write`` puts them
on disk (web/pos/truth Parquet, app JSON lines, crm CSV). Same seed -> identical frames.

People: each has 1-4 records (p = .40/.30/.20/.10, mean 2.0); every record independently goes
to web/app/crm/pos with p = .30/.25/.25/.20, so a person's records spread over sources. Rows
are shuffled. Event times are uniform over 2024-01-01 .. 2025-06-30 (UTC).

Per-record noise (rates are per record):
- email: clean 71%; case/whitespace 8% (``  John.Doe@GMAIL.com ``); ``+tag`` alias 5%; domain
  typo 3% (gnail/gmial/hotmial/yaho/outlok ...); one-character local-part typo 2%; invalid
  syntax 1.5% (``john.doe@``, ``john doe@gmail.com``, ``@@``, no ``@``); missing 7%; junk
  2.5% (``test@test.com``, ``n/a``, ``null``, ``none@none.com``, ``""``). Base emails are
  unique per person (``first.last123@gmail.com`` style, 12% on company domains).
- email status: typo/invalid emails are bounced 50% / invalid 35% / unknown 15%; junk ones
  invalid/unknown/bounced; missing -> null; otherwise valid 85%, bounced 3%, invalid 2%,
  suppressed 4%, unknown 6%.
- phone: valid US number (real area codes, no 555/N11 exchanges) in one of five formats
  (``+1 415-234-5678``, ``(415) 234-5678``, ``415.234.5678``, ``4152345678``,
  ``1-415-234-5678``) 82.5%; missing 15%; junk 2.5% (``0000000000``, ``n/a``, ``1234567890``,
  ``-``). 5% of people are in two-person households sharing one phone (different first
  names and emails; same last name 70%) - different people in truth.
- first name: case/whitespace 10% (``  JOHN ``, ``john``), one-letter typo 3%, accents
  dropped 4% (José -> Jose), missing 3%. Last name: case/whitespace 9%, missing 3%.
- external id (``CUSTnnnnn``, same for all of a person's records): present on 60% of
  web/app/crm records. Device (web/app): the person's own 85%, a one-off 10%, null 5%.
  IP (web/app): person's home IP 60%, random 40%. pos ``loyalty_no`` (``Lnnnn``): half of
  people have one, shown on 85% of their receipts.
- quarantine triggers, ``q = max(3, rows // 1000)`` each (capped for tiny inputs): crm rows
  with empty ``crm_id``; crm rows re-using another crm row's id (a different person); app
  rows with ``event_time = "not-a-date"``. They stay in truth (truth keys are then not unique).
"""

from __future__ import annotations

import os
import shutil
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

SOURCES = ("web", "app", "crm", "pos")

_FIRST = np.array([
    "James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda", "William",
    "Elizabeth", "David", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah",
    "Charles", "Karen", "Daniel", "Nancy", "Matthew", "Lisa", "Anthony", "Emily", "Mark",
    "Ashley", "Wei", "Priya", "Aisha", "Omar", "Hiroshi", "Mei", "Olga", "Liam", "Noah", "Ava",
    "Mia", "Ethan", "José", "Zoë", "Françoise", "Chloé", "Renée", "André", "Jürgen", "Inés",
    "Björn", "Noémie", "Ángel", "Seán"
], dtype=object)  # fmt: skip
_LAST = np.array([
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson", "Anderson",
    "Taylor", "Thomas", "Moore", "Martin", "Jackson", "Thompson", "White", "Harris", "Clark",
    "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright", "Scott", "Nguyen", "Kim",
    "Patel", "Chen", "Singh", "Cohen", "O'Brien", "Kowalski", "Rossi", "Müller", "Nuñez",
    "García", "Pérez", "Gómez", "Lefèvre", "Köhler", "Ibáñez", "Dubois", "Schröder"
], dtype=object)  # fmt: skip


def _ascii(s: str) -> str:
    return unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode()


_FIRST_PLAIN = np.array([_ascii(s) for s in _FIRST], dtype=object)  # "José" -> "Jose"
_FIRST_EMAIL = np.array([s.lower() for s in _FIRST_PLAIN], dtype=object)
_LAST_EMAIL = np.array([_ascii(s).lower().replace("'", "") for s in _LAST], dtype=object)
_INITIAL = np.array([s[0] for s in _FIRST_EMAIL], dtype=object)

_DOMAINS = ("gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "icloud.com", "aol.com")
_DOMAIN_P = (0.38, 0.15, 0.12, 0.13, 0.12, 0.10)
_COMPANY = ("acme-corp.com", "globex.com", "initech.com", "umbrella-inc.com", "contoso.com")
_DOMAIN_TYPOS = {
    "gmail.com": ("gnail.com", "gmial.com"),
    "yahoo.com": ("yaho.com", "yahooo.com"),
    "hotmail.com": ("hotmial.com", "hotmal.com"),
    "outlook.com": ("outlok.com", "outllook.com"),
    "icloud.com": ("iclod.com", "icloud.co"),
    "aol.com": ("aol.co", "aoll.com"),
}
_TAGS = np.array(["shop", "news", "promo", "deals", "2024"], dtype=object)
_JUNK_EMAILS = np.array(["test@test.com", "n/a", "null", "none@none.com", ""], dtype=object)
_JUNK_PHONES = np.array(["0000000000", "n/a", "1234567890", "-"], dtype=object)
_AREA_CODES = np.array([212, 312, 415, 617, 646, 713, 206, 303, 404, 305, 512, 503, 702, 718])
_EXCHANGES = np.array(
    [e for e in range(200, 1000) if e % 100 != 11 and e not in (555, 950, 958, 959, 976)]
)
_STATUSES = np.array(["valid", "bounced", "invalid", "suppressed", "unknown"], dtype=object)
_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_T0 = int(np.datetime64("2024-01-01T00:00:00", "s").astype(np.int64))
_T1 = int(np.datetime64("2025-07-01T00:00:00", "s").astype(np.int64))
_PREFIX = {"web": "W", "app": "A", "crm": "C", "pos": "R"}
_HOUSEHOLD_SHARE = 0.05

_COLUMNS = {
    "web": ("id", "email", "phone_number", "customer_id", "device", "ip_address", "fname",
            "lname", "updated_at", "status"),
    "app": ("app_record_id", "email_address", "mobile", "user_id", "device_id", "ip",
            "first_name", "last_name", "event_time", "email_status"),
    "crm": ("crm_id", "Email", "Phone", "CustomerNumber", "FirstName", "LastName",
            "ModifiedDate", "EmailStatus"),
    "pos": ("receipt_id", "email", "phone", "loyalty_no", "first_name", "last_name",
            "purchased_at"),
    "truth": ("source", "source_record_id", "person_id"),
}  # fmt: skip
# canonical field behind each source column (same order as _COLUMNS)
_FIELDS = {
    "web": ("id", "email", "phone", "ext", "device", "ip", "first", "last", "ts", "status"),
    "app": ("id", "email", "phone", "ext", "device", "ip", "first", "last", "ts", "status"),
    "crm": ("id", "email", "phone", "ext", "first", "last", "ts", "status"),
    "pos": ("id", "email", "phone", "loyalty", "first", "last", "ts"),
}


def _ids(prefix: str, numbers: np.ndarray, width: int) -> np.ndarray:
    if len(numbers) == 0:
        return np.empty(0, dtype=object)
    digits = np.char.zfill(np.asarray(numbers).astype(str), width)
    return prefix + digits.astype(object)


def _choice(rng: np.random.Generator, p: tuple[float, ...], size: int) -> np.ndarray:
    return rng.choice(len(p), size=size, p=np.asarray(p) / sum(p))


def _typo(s: str, u: float, kind: int, letter: str) -> str:
    """One-character typo (substitute / delete / swap), never at position 0."""
    if len(s) < 3:
        kind = 0
    i = 1 + int(u * (len(s) - 1)) if len(s) > 1 else 0
    i = min(i, len(s) - 1)
    if kind == 1:
        return s[:i] + s[i + 1 :]
    if kind == 2 and i + 1 < len(s) and s[i] != s[i + 1]:
        return s[:i] + s[i + 1] + s[i] + s[i + 2 :]
    if letter == s[i].lower():
        letter = _LETTERS[(_LETTERS.index(letter) + 1) % 26]
    return s[:i] + letter + s[i + 1 :]


def _typos(rng: np.random.Generator, values: np.ndarray) -> list[str]:
    k = len(values)
    u, kind, let = rng.random(k), rng.integers(0, 3, k), rng.integers(0, 26, k)
    return [_typo(s, a, b, _LETTERS[c]) for s, a, b, c in zip(values, u, kind, let, strict=True)]


def _case_ws(rng: np.random.Generator, values: np.ndarray) -> list[str]:
    kinds = rng.integers(0, 4, len(values))
    fns = (lambda v: f"  {v.upper()} ", str.lower, lambda v: f" {v}  ", str.upper)
    return [fns[k](v) for v, k in zip(values, kinds, strict=True)]


def _ips(rng: np.random.Generator, k: int) -> np.ndarray:
    o = rng.integers(0, 256, size=(4, k))
    o[0] = rng.integers(11, 224, size=k)
    s = [x.astype(str).astype(object) for x in o]
    return s[0] + "." + s[1] + "." + s[2] + "." + s[3]


def _devices(rng: np.random.Generator, k: int) -> np.ndarray:
    return np.array([f"dev-{x:012x}" for x in rng.integers(0, 2**48, size=k)], dtype=object)


def _people(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    fi, li = rng.integers(len(_FIRST), size=n), rng.integers(len(_LAST), size=n)
    span = len(_AREA_CODES) * len(_EXCHANGES) * 10_000
    if n > span // 4:
        raise ValueError(f"n_people too large for the phone space ({span // 4} max)")
    code = rng.choice(span, size=n, replace=False)  # unique (area, exchange, line) per person
    area = _AREA_CODES[code // (len(_EXCHANGES) * 10_000)]
    exch = _EXCHANGES[(code // 10_000) % len(_EXCHANGES)]
    phone = area * 10**7 + exch * 10**4 + code % 10_000
    m = int(round(_HOUSEHOLD_SHARE / 2 * n))  # households: pairs of people sharing a phone
    pair = rng.choice(n, size=2 * m, replace=False)
    heads, members = pair[:m], pair[m:]
    phone[members] = phone[heads]
    li[members] = np.where(rng.random(m) < 0.7, li[heads], li[members])
    fi[members] = np.where(fi[members] == fi[heads], (fi[members] + 1) % len(_FIRST), fi[members])
    num = (rng.choice(10 * n, size=n, replace=False) + 1).astype(str).astype(object)
    pat = _choice(rng, (0.5, 0.2, 0.15, 0.15), n)
    sep = np.array([".", "", "", "_"], dtype=object)[pat]
    local = np.where(pat == 2, _INITIAL[fi], _FIRST_EMAIL[fi]) + sep + _LAST_EMAIL[li] + num
    consumer = np.array(_DOMAINS, dtype=object)[_choice(rng, _DOMAIN_P, n)]
    company = np.array(_COMPANY, dtype=object)[rng.integers(len(_COMPANY), size=n)]
    domain = np.where(rng.random(n) < 0.12, company, consumer)
    width = max(5, len(str(n)))
    loyal = _ids("L", rng.choice(10 * n, size=n, replace=False) + 1, max(4, len(str(10 * n))))
    return {
        "pid": _ids("P", np.arange(1, n + 1), max(7, len(str(n)))),
        "fi": fi,
        "li": li,
        "phone": phone,
        "local": local,
        "domain": domain,
        "ext": _ids("CUST", rng.permutation(n) + 1, width),
        "loyalty": np.where(rng.random(n) < 0.5, loyal, None),
        "device": _devices(rng, n),
        "ip": _ips(rng, n),
    }


def _emails(rng, p, pr) -> tuple[np.ndarray, np.ndarray]:
    r = len(pr)
    local, dom = p["local"][pr], p["domain"][pr]
    email = local + "@" + dom
    cat = _choice(rng, (0.71, 0.08, 0.05, 0.03, 0.02, 0.015, 0.07, 0.025), r)
    i = np.flatnonzero(cat == 1)  # case / whitespace
    kinds = rng.integers(0, 3, len(i))
    email[i] = [
        (e.upper(), f"  {e} ", f"  {lo.title()}@{d.upper()} ")[k]
        for e, lo, d, k in zip(email[i], local[i], dom[i], kinds, strict=True)
    ]
    i = np.flatnonzero(cat == 2)  # +tag alias
    email[i] = local[i] + "+" + _TAGS[rng.integers(len(_TAGS), size=len(i))] + "@" + dom[i]
    i = np.flatnonzero(cat == 3)  # domain typo
    alt = rng.integers(0, 2, len(i))
    email[i] = [
        f"{lo}@{_DOMAIN_TYPOS.get(d, (d[:-1] + 'n',) * 2)[a]}"
        for lo, d, a in zip(local[i], dom[i], alt, strict=True)
    ]
    i = np.flatnonzero(cat == 4)  # local-part typo
    email[i] = np.array(_typos(rng, local[i]), dtype=object) + "@" + dom[i]
    i = np.flatnonzero(cat == 5)  # syntactically invalid
    first, last = _FIRST_EMAIL[p["fi"][pr[i]]], _LAST_EMAIL[p["li"][pr[i]]]
    kinds = rng.integers(0, 4, len(i))
    email[i] = [
        (f"{lo}@", f"{f} {la}@{d}", f"{lo}@@{d}", f"{lo}.{d}")[k]
        for lo, d, f, la, k in zip(local[i], dom[i], first, last, kinds, strict=True)
    ]
    email[cat == 6] = None
    junk = cat == 7
    email[junk] = _JUNK_EMAILS[rng.integers(len(_JUNK_EMAILS), size=int(junk.sum()))]
    normal = _STATUSES[_choice(rng, (0.85, 0.03, 0.02, 0.04, 0.06), r)]
    bad = _STATUSES[[1, 2, 4]][_choice(rng, (0.5, 0.35, 0.15), r)]
    junky = _STATUSES[[2, 4, 1]][_choice(rng, (0.5, 0.3, 0.2), r)]
    status = np.where((cat >= 3) & (cat <= 5), bad, np.where(junk, junky, normal))
    status[cat == 6] = None
    return email, status


def _phones(rng, p, pr) -> np.ndarray:
    d = p["phone"][pr]
    a = (d // 10**7).astype(str).astype(object)
    e = ((d // 10**4) % 1000).astype(str).astype(object)
    ln = np.char.zfill((d % 10**4).astype(str), 4).astype(object)
    cat = _choice(rng, (0.165,) * 5 + (0.15, 0.025), len(pr))
    out = np.full(len(pr), None, dtype=object)
    for k, parts in enumerate(
        (("+1 ", "-", "-"), ("(", ") ", "-"), ("", ".", "."), ("", "", ""), ("1-", "-", "-"))
    ):
        i = np.flatnonzero(cat == k)
        out[i] = parts[0] + a[i] + parts[1] + e[i] + parts[2] + ln[i]
    junk = np.flatnonzero(cat == 6)
    out[junk] = _JUNK_PHONES[rng.integers(len(_JUNK_PHONES), size=len(junk))]
    return out


def _names(rng, p, pr) -> tuple[np.ndarray, np.ndarray]:
    fi, li = p["fi"][pr], p["li"][pr]
    first, last = _FIRST[fi], _LAST[li]
    cat = _choice(rng, (0.80, 0.10, 0.03, 0.04, 0.03), len(pr))
    i = np.flatnonzero(cat == 1)
    first[i] = _case_ws(rng, first[i])
    i = np.flatnonzero(cat == 2)
    first[i] = _typos(rng, first[i])
    first[cat == 3] = _FIRST_PLAIN[fi[cat == 3]]
    first[cat == 4] = None
    cat = _choice(rng, (0.88, 0.09, 0.03), len(pr))
    i = np.flatnonzero(cat == 1)
    last[i] = _case_ws(rng, last[i])
    last[cat == 2] = None
    return first, last


def generate(n_people: int = 5000, seed: int = 7) -> dict[str, pd.DataFrame]:
    """Return ``{"web", "app", "crm", "pos", "truth"}`` frames; deterministic in ``seed``."""
    if n_people < 1:
        raise ValueError("n_people must be >= 1")
    rng = np.random.default_rng(seed)
    p = _people(rng, n_people)
    pr = np.repeat(np.arange(n_people), _choice(rng, (0.4, 0.3, 0.2, 0.1), n_people) + 1)
    pr = pr[rng.permutation(len(pr))]
    r = len(pr)
    src = _choice(rng, (0.30, 0.25, 0.25, 0.20), r)
    f: dict[str, np.ndarray] = {}
    f["email"], f["status"] = _emails(rng, p, pr)
    f["phone"] = _phones(rng, p, pr)
    f["first"], f["last"] = _names(rng, p, pr)
    f["ext"] = np.where(rng.random(r) < 0.6, p["ext"][pr], None)
    dev = _choice(rng, (0.85, 0.10, 0.05), r)
    f["device"] = np.where(dev == 0, p["device"][pr], None)
    f["device"][dev == 1] = _devices(rng, int((dev == 1).sum()))
    f["ip"] = np.where(rng.random(r) < 0.6, p["ip"][pr], _ips(rng, r))
    f["loyalty"] = np.where(rng.random(r) < 0.85, p["loyalty"][pr], None)
    ts = rng.integers(_T0, _T1, size=r).astype("datetime64[s]")

    out: dict[str, pd.DataFrame] = {}
    truth = []
    for k, name in enumerate(SOURCES):
        sel = np.flatnonzero(src == k)
        m = len(sel)
        cols = {key: f[key][sel] for key in _FIELDS[name] if key not in ("id", "ts")}
        cols["id"] = _ids(_PREFIX[name], np.arange(1, m + 1), max(6, len(str(m))))
        iso = np.datetime_as_string(ts[sel], unit="s").astype(object)
        if name in ("web", "pos"):
            cols["ts"] = pd.DatetimeIndex(ts[sel].astype("datetime64[us]")).tz_localize("UTC")
        elif name == "app":
            cols["ts"] = iso + "Z"
        else:
            cols["ts"] = np.array([s.replace("T", " ") for s in iso], dtype=object)
        q = min(max(3, m // 1000), m // 4)  # quarantine triggers per kind
        if name == "app" and q:
            cols["ts"][rng.choice(m, size=q, replace=False)] = "not-a-date"
        if name == "crm" and q:
            perm = rng.permutation(m)
            cols["id"][perm[:q]] = ""
            src_rows, dst_rows = perm[q : 2 * q], perm[2 * q : 3 * q]
            ok = pr[sel[src_rows]] != pr[sel[dst_rows]]
            cols["id"][dst_rows[ok]] = cols["id"][src_rows[ok]]
        data = {c: cols[key] for c, key in zip(_COLUMNS[name], _FIELDS[name], strict=True)}
        out[name] = pd.DataFrame(data)
        ids = {"source": name, "source_record_id": cols["id"], "person_id": p["pid"][pr[sel]]}
        truth.append(pd.DataFrame(ids))
    out["truth"] = pd.concat(truth, ignore_index=True)
    return out


def write(out_dir: str | os.PathLike, n_people: int = 5000, seed: int = 7) -> dict[str, str]:
    """Generate and write every frame under ``out_dir``; return ``{name: directory}``."""
    return write_frames(generate(n_people, seed), out_dir)


def write_frames(frames: dict[str, pd.DataFrame], out_dir: str | os.PathLike) -> dict[str, str]:
    """Write frames as :func:`generate` returns them (or parts of them), each source in its
    format, under ``out_dir``; return ``{name: directory}``."""
    paths: dict[str, str] = {}
    for name, df in frames.items():
        d = Path(out_dir) / name
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
        if name == "app":
            df.to_json(d / "part-0.json", orient="records", lines=True, force_ascii=False)
        elif name == "crm":
            df.to_csv(d / "part-0.csv", index=False, encoding="utf-8")
        else:
            ts = pa.timestamp("us", tz="UTC")  # microseconds: Spark cannot read nanoseconds
            schema = [(c, ts if df[c].dtype.kind == "M" else pa.string()) for c in df.columns]
            table = pa.Table.from_pandas(df, schema=pa.schema(schema), preserve_index=False)
            pq.write_table(table, d / "part-0.parquet")
        paths[name] = str(d)
    return paths
