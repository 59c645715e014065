"""Seeded, vectorized generator of HARD multi-source customer data with ground truth.

Built to measure matching beyond deterministic rules: most records carry one or two weak
identifiers, so the rules of ``conf/quality/hard.yaml`` (email or user id equal, phone + name,
device + name) link only part of each person's records (recall about 0.6 at 100k records,
precision above 0.99; docs/benchmarks.md). ``generate(n_records_target, seed)`` returns one
pandas frame per source (``web``, ``app``, ``crm``, ``pos``) plus ``truth`` (``source,
source_record_id, person_id, household_id, lookalike_group``); ``write`` puts them on disk as
:func:`demo_data.write_frames` does (web/pos/truth Parquet, app JSON lines, crm CSV). Same seed
-> identical frames. Every column is a string (or null), bar the web/pos timestamps.

People: ``round(n_records_target / 2.67)`` people with 1-6 records each (p = .30/.24/.18/.12/
.09/.07, mean 2.67); rows are shuffled; event times uniform over 2024-01-01 .. 2025-06-30 UTC.
A person has a first name (110, uniform; 62 have nicknames, 92 nickname pairs such as
Robert/Bob, William/Bill, Elizabeth/Liz/Beth, Katherine/Kate, Michael/Mike), a last name (130,
uniform), a primary email, a phone (unique outside households), an address, a web cookie and
an app device (never the same id), a home IP; 20% also use a secondary email (nickname or
initial + last name + digits, on another domain); 60% have an account (user_id ``Unnnnnnn``,
never shared).

Record kinds (share of all records; what each carries):
- web anonymous visit 9%: cookie + IP; a first name only on 45%, else no name; nothing else.
- web logged-in visit 10%: cookie, IP, user_id (account holders), email 70%, full name 85%,
  phone 10%.
- web checkout 10%: email, full name, cookie, IP, phone 60%, shipping address 85%.
- web kiosk 2%: an in-store kiosk's device and its store's IP; full name 95%, email 60%,
  phone 30%.
- app 20%: app device 95%, IP 90%, user_id 80% (account holders), email 70%, name (full 65%,
  first only 20%, none 15%), phone 40%, address 20%.
- crm 20%: email 90%, phone 80%, full name 97%, address 90%, user_id 50% (account holders).
- pos name + phone receipt 15%: first and last name, phone; no email, no address.
- pos loyalty receipt 14%: email 90%, phone 60%, full name 97%, address 30%.

Noise (per record carrying the field):
- email: the secondary email on 30% of the records of people who have one; case / whitespace
  8%, ``+tag`` alias 3%, domain typo 1.5% (gnail.com, yaho.com ...), junk 1% (``n/a``,
  ``null``, ``none``, ``""``). No email belongs to two people.
- phone: five US formats (``+1 415-234-5678``, ``(415) 234-5678``, ``415.234.5678``,
  ``4152345678``, ``1-415-234-5678``); a one-digit typo or a swap of two neighbouring digits of
  the line number on 10% of pos records and 2% of the others.
- first name: formal 72%, nickname 18% (the formal name when it has none), one-letter typo 4%,
  case / whitespace 6%. Last name: one-letter typo 3%, case / whitespace 8%.
- cookie: the person's own on 80% of web visits, a one-off 20%; app records carry the person's
  app device. IP: home 50%, a public IP 25% (a pool of ``max(5, people // 1000)`` shared by many
  people: carrier NAT, cafes; about 350 records each at 100k records), a one-off 25%.
- kiosks: ``max(3, people // 1500)`` kiosk devices (``kiosk-nnn``), each with its store's IP,
  on the records of every person who uses it (24 kiosks of 70-115 people at 100k records).
- address: ``123 Main Street Apt 4`` (an apartment for 35% of people) spelled five ways
  (``123 Main Street Apt 4``, ``123 main st., apt 4``, ``123 MAIN ST #4``, ``123 Main St Apt
  4``, ``123 Main St., Apt. 4``); city as is 80%, upper 10%, lower 10%; ZIP ``94110`` 70% or
  ``94110-1234`` 30%; country ``US`` 40%, ``USA`` 25%, ``United States`` 20%, missing 15% (pos
  has no country column).

Hard cases (different people in truth):
- two-person households: 8% of people. They share phone, address and home IP, and 30% of the
  households one web cookie (the family laptop); different first names (which may still share
  a nickname: Patrick and Patricia are both "Pat"); the same last name 80%. ``household_id``
  ``Hnnnnnn``, null for everyone else.
- lookalike emails: 1.3% of people (outside households) head a group joined by one other
  person (80%) or two, with the same first and last name and a primary email differing only in
  digits on the same domain (``john.smith1@gmail.com``, ``john.smith2@gmail.com``): 2.9% of
  people. ``lookalike_group`` (``Lnnnnn``) marks every set of people whose primary emails are
  equal once digits are removed; every other primary email (and secondary email) is made
  unique under that test (a middle initial: ``john.k.smith``), so the planted groups are the
  only ones.

Longer than the ~300 lines STYLE.md asks for: about 100 lines are the name, street and city
tables, and the rates above sit next to the code that draws them.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from idres_spark.run.demo_data import write_frames

SOURCES = ("web", "app", "crm", "pos")
RECORDS_PER_PERSON = 2.67
_RECORDS_P = (0.30, 0.24, 0.18, 0.12, 0.09, 0.07)
_HOUSEHOLD_SHARE = 0.08
_LOOKALIKE_HEADS = 0.013
_SECONDARY_EMAIL = 0.2
_ACCOUNT = 0.6

# record kinds: share of records, source, and the chance that each field is present
_KINDS = ("web_anon", "web_login", "web_checkout", "web_kiosk", "app", "crm", "pos_phone",
          "pos_loyalty")  # fmt: skip
_KIND_P = (0.09, 0.10, 0.10, 0.02, 0.20, 0.20, 0.15, 0.14)
_KIND_SOURCE = np.array([0, 0, 0, 0, 1, 2, 3, 3])
_PRESENT = {  # field -> chance per kind (same order as _KINDS)
    "email": (0, 0.7, 1, 0.6, 0.7, 0.9, 0, 0.9),
    "phone": (0, 0.1, 0.6, 0.3, 0.4, 0.8, 1, 0.6),
    "user_id": (0, 1, 0, 0, 0.8, 0.5, 0, 0),  # account holders only
    "device": (1, 1, 1, 1, 0.95, 0, 0, 0),
    "ip": (1, 1, 1, 1, 0.9, 0, 0, 0),
    "first": (0.45, 0.85, 1, 0.95, 0.85, 0.97, 1, 0.97),
    "last": (0, 1, 1, 1, 1, 1, 1, 1),  # with a first name, bar 20% of app records
    "address": (0, 0, 0.85, 0, 0.2, 0.9, 0, 0.3),
}
_PHONE_TYPO = (0.02, 0.02, 0.02, 0.02, 0.02, 0.02, 0.10, 0.10)

_NICKNAMES = (
    ("Robert", "Bob", "Rob", "Bobby"), ("William", "Bill", "Will", "Billy"),
    ("Elizabeth", "Liz", "Beth", "Eliza"), ("Katherine", "Kate", "Katie", "Kathy"),
    ("Michael", "Mike", "Mikey"), ("James", "Jim", "Jimmy"), ("John", "Jack", "Johnny"),
    ("Richard", "Rick", "Dick"), ("Joseph", "Joe", "Joey"), ("Thomas", "Tom", "Tommy"),
    ("Charles", "Charlie", "Chuck"), ("Christopher", "Chris"), ("Daniel", "Dan", "Danny"),
    ("Matthew", "Matt"), ("Anthony", "Tony"), ("Steven", "Steve"), ("Andrew", "Andy", "Drew"),
    ("Joshua", "Josh"), ("Edward", "Ed", "Ted", "Eddie"), ("Benjamin", "Ben"),
    ("Samuel", "Sam"), ("Alexander", "Alex"), ("Nicholas", "Nick"), ("Jonathan", "Jon"),
    ("Timothy", "Tim"), ("Kenneth", "Ken"), ("Ronald", "Ron"), ("Donald", "Don"),
    ("Gregory", "Greg"), ("Patrick", "Pat"), ("Peter", "Pete"), ("Raymond", "Ray"),
    ("Lawrence", "Larry"), ("Gerald", "Jerry"), ("Douglas", "Doug"), ("Frederick", "Fred"),
    ("Zachary", "Zach"), ("Jacob", "Jake"), ("Margaret", "Maggie", "Peggy", "Meg"),
    ("Jennifer", "Jen", "Jenny"), ("Patricia", "Pat", "Patty", "Trish"), ("Susan", "Sue"),
    ("Deborah", "Deb", "Debbie"), ("Rebecca", "Becky", "Becca"), ("Jessica", "Jess"),
    ("Victoria", "Vicky", "Tori"), ("Christine", "Chris", "Chrissy"), ("Kimberly", "Kim"),
    ("Cynthia", "Cindy"), ("Abigail", "Abby"), ("Samantha", "Sam"), ("Alexandra", "Lexi"),
    ("Pamela", "Pam"), ("Barbara", "Barb"), ("Dorothy", "Dot", "Dottie"),
    ("Jacqueline", "Jackie"), ("Theresa", "Tess", "Terry"), ("Judith", "Judy"),
    ("Sandra", "Sandy"), ("Stephanie", "Steph"), ("Amanda", "Mandy"), ("Melissa", "Missy"),
)  # fmt: skip
_PLAIN_FIRST = (
    "Mary", "Linda", "Sarah", "Karen", "Lisa", "Emily", "Ashley", "Wei", "Priya", "Aisha",
    "Omar", "Hiroshi", "Mei", "Olga", "Liam", "Noah", "Ava", "Mia", "Ethan", "Jose", "Chloe",
    "Maria", "Juan", "Carlos", "Sofia", "Fatima", "Ahmed", "Yuki", "Ananya", "Arjun", "Grace",
    "Hannah", "Laura", "Nora", "Oscar", "Paul", "Ruth", "Helen", "Irene", "Diego", "Lucia",
    "Ivan", "Anna", "Kevin", "Brian", "Jason", "Nadia", "Tariq",
)  # fmt: skip
_LAST = np.array([
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez",
    "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright",
    "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall",
    "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "Gomez", "Phillips", "Evans",
    "Turner", "Diaz", "Parker", "Cruz", "Edwards", "Collins", "Reyes", "Stewart", "Morris",
    "Morales", "Murphy", "Cook", "Rogers", "Gutierrez", "Ortiz", "Morgan", "Cooper", "Peterson",
    "Bailey", "Reed", "Kelly", "Howard", "Ramos", "Kim", "Cox", "Ward", "Richardson", "Watson",
    "Brooks", "Chavez", "Wood", "James", "Bennett", "Gray", "Mendoza", "Ruiz", "Hughes", "Price",
    "Alvarez", "Castillo", "Sanders", "Patel", "Myers", "Long", "Ross", "Foster", "Jimenez",
    "Powell", "Jenkins", "Perry", "Russell", "Sullivan", "Bell", "Coleman", "Butler",
    "Henderson", "Barnes", "Fisher", "Vasquez", "Simmons", "Romero", "Jordan", "Patterson",
    "Alexander", "Hamilton", "Graham", "Reynolds", "Griffin", "Wallace", "Moreno", "West",
    "Cole", "Hayes", "Chen", "Singh", "Cohen", "O'Brien",
], dtype=object)  # fmt: skip
_FIRST = np.array([n[0] for n in _NICKNAMES] + list(_PLAIN_FIRST), dtype=object)
# three nickname columns per name, padded by repetition; a name without one repeats itself
_NICK = np.array([(list(n[1:]) * 3)[:3] for n in _NICKNAMES]
                 + [[n] * 3 for n in _PLAIN_FIRST], dtype=object)  # fmt: skip
_STREETS = np.array([
    "Main", "Oak", "Pine", "Maple", "Cedar", "Elm", "Washington", "Lake", "Hill", "Park",
    "Sunset", "Lincoln", "Jackson", "Madison", "Franklin", "Highland", "Valley", "River",
    "Church", "Spring", "Center", "Mill", "Forest", "Ridge", "Meadow", "Union", "Market",
    "Mission", "Chestnut", "Walnut", "Willow", "Adams", "Jefferson", "Monroe", "Grant",
    "Harrison", "Prospect", "Summit", "Lakeview", "Birch",
], dtype=object)  # fmt: skip
_TYPES = np.array(["Street", "Avenue", "Road", "Boulevard", "Drive", "Lane", "Court", "Place",
                   "Way", "Terrace"], dtype=object)  # fmt: skip
_ABBR = np.array(["St", "Ave", "Rd", "Blvd", "Dr", "Ln", "Ct", "Pl", "Way", "Ter"], dtype=object)
_CITIES = np.array(["San Francisco", "Oakland", "Seattle", "Portland", "Denver", "Austin",
                    "Chicago", "Boston", "New York", "Brooklyn", "Miami", "Atlanta", "Houston",
                    "Phoenix", "San Diego", "Los Angeles", "Philadelphia", "Minneapolis",
                    "Detroit", "Nashville"], dtype=object)  # fmt: skip
_ZIP_BASE = np.array([94102, 94601, 98101, 97201, 80202, 78701, 60601, 2108, 10001, 11201,
                      33101, 30301, 77001, 85001, 92101, 90001, 19102, 55401, 48201,
                      37201])  # fmt: skip
_COUNTRIES = np.array(["US", "USA", "United States", None], dtype=object)
_DOMAINS = np.array(["gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "icloud.com",
                     "aol.com", "comcast.net", "proton.me"], dtype=object)  # fmt: skip
_DOMAIN_P = (0.40, 0.15, 0.12, 0.12, 0.10, 0.05, 0.04, 0.02)
_DOMAIN_TYPO = np.array(["gnail.com", "yaho.com", "hotmial.com", "outlok.com", "iclod.com",
                         "aol.co", "comcast.nte", "proton.m"], dtype=object)  # fmt: skip
_TAGS = np.array(["shop", "news", "promo", "deals"], dtype=object)
_JUNK = np.array(["n/a", "null", "none", ""], dtype=object)
_AREA_CODES = np.array([212, 312, 415, 617, 646, 713, 206, 303, 404, 305, 512, 503, 702, 718])
_EXCHANGES = np.array(
    [e for e in range(200, 1000) if e % 100 != 11 and e not in (555, 950, 958, 959, 976)]
)
_LETTERS = np.array(list("abcdefghijklmnopqrstuvwxyz"), dtype=object)
_HEX = np.array(list("0123456789abcdef"))
_T0 = int(np.datetime64("2024-01-01T00:00:00", "s").astype(np.int64))
_T1 = int(np.datetime64("2025-07-01T00:00:00", "s").astype(np.int64))

_COLUMNS = {  # source column -> generated field
    "web": {"visit_id": "id", "email": "email", "phone": "phone", "customer_id": "user_id",
            "cookie_id": "device", "ip_address": "ip", "fname": "first", "lname": "last",
            "visited_at": "ts", "ship_street": "street", "ship_city": "city",
            "ship_zip": "zip", "ship_country": "country"},
    "app": {"app_record_id": "id", "email_address": "email", "mobile": "phone",
            "user_id": "user_id", "device_id": "device", "ip": "ip", "first_name": "first",
            "last_name": "last", "event_time": "ts", "address_line": "street", "city": "city",
            "zip_code": "zip", "country_code": "country"},
    "crm": {"crm_id": "id", "Email": "email", "Phone": "phone", "CustomerNumber": "user_id",
            "FirstName": "first", "LastName": "last", "ModifiedDate": "ts", "Street": "street",
            "City": "city", "Zip": "zip", "Country": "country"},
    "pos": {"receipt_id": "id", "email": "email", "phone": "phone", "first_name": "first",
            "last_name": "last", "purchased_at": "ts", "addr_line": "street", "town": "city",
            "postcode": "zip"},
}  # fmt: skip
TRUTH_COLUMNS = ("source", "source_record_id", "person_id", "household_id", "lookalike_group")
_PREFIX = {"web": "W", "app": "A", "crm": "C", "pos": "R"}


def _choice(rng: np.random.Generator, p: tuple[float, ...], size: int) -> np.ndarray:
    return rng.choice(len(p), size=size, p=np.asarray(p) / sum(p))


def _ids(prefix: str, numbers: np.ndarray, width: int) -> np.ndarray:
    digits = np.char.zfill(np.asarray(numbers).astype(str), width).astype(object)
    return prefix + digits if len(digits) else np.empty(0, dtype=object)


def _text(values: np.ndarray) -> pd.Series:
    return pd.Series(values, dtype=object).astype(str)


def _typos(rng: np.random.Generator, values: np.ndarray) -> np.ndarray:
    """One-letter typo (substitution, deletion or a swap of neighbours), never the first
    letter; strings shorter than three letters get a substitution."""
    s = _text(values)
    n = s.str.len().to_numpy()
    i = 1 + (rng.random(len(s)) * np.maximum(n - 2, 1)).astype(int)  # 1 .. len-2
    kind = np.where(n < 3, 0, rng.integers(0, 3, len(s)))
    head = np.array([v[:k] for v, k in zip(s, i, strict=True)], dtype=object)
    at = np.array([v[k : k + 1] for v, k in zip(s, i, strict=True)], dtype=object)
    nxt = np.array([v[k + 1 : k + 2] for v, k in zip(s, i, strict=True)], dtype=object)
    tail = np.array([v[k + 2 :] for v, k in zip(s, i, strict=True)], dtype=object)
    letter = _LETTERS[rng.integers(0, 26, len(s))]
    letter = np.where(letter == pd.Series(at).str.lower().to_numpy(), "x", letter)
    letter = np.where(letter == at, "q", letter)
    out = head + letter + nxt + tail  # substitution
    out = np.where(kind == 1, head + nxt + tail, out)  # deletion
    swap = (kind == 2) & (at != nxt)
    return np.where(swap, head + nxt + at + tail, out)


def _case_noise(rng: np.random.Generator, values: np.ndarray) -> np.ndarray:
    s = _text(values)
    k = rng.integers(0, 3, len(s))
    return np.where(k == 0, "  " + s.str.upper() + " ", np.where(k == 1, s.str.lower(),
                    " " + s + "  ")).astype(object)  # fmt: skip


def _people(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    fi, li = rng.integers(len(_FIRST), size=n), rng.integers(len(_LAST), size=n)
    household = np.full(n, -1)
    m = int(round(_HOUSEHOLD_SHARE / 2 * n))
    pair = rng.choice(n, size=2 * m, replace=False)
    heads, members = pair[:m], pair[m:]
    household[heads] = household[members] = np.arange(m)
    li[members] = np.where(rng.random(m) < 0.8, li[heads], li[members])
    shift = 1 + rng.integers(0, len(_FIRST) - 1, m)  # never the head's first name
    fi[members] = np.where(fi[members] == fi[heads], (fi[heads] + shift) % len(_FIRST),
                           fi[members])  # fmt: skip
    span = len(_AREA_CODES) * len(_EXCHANGES) * 10_000
    if n > span // 4:
        raise ValueError(f"too many people for the phone space ({span // 4} max)")
    code = rng.choice(span, size=n, replace=False)
    phone = (_AREA_CODES[code // (len(_EXCHANGES) * 10_000)] * 10**7
             + _EXCHANGES[(code // 10_000) % len(_EXCHANGES)] * 10**4 + code % 10_000)  # fmt: skip
    address = {
        "house": rng.integers(1, 9999, n), "street": rng.integers(len(_STREETS), size=n),
        "type": rng.integers(len(_TYPES), size=n),
        "apt": np.where(rng.random(n) < 0.35, rng.integers(1, 40, n), 0),
        "city": rng.integers(len(_CITIES), size=n), "zip_off": rng.integers(0, 50, n),
        "zip4": rng.integers(1000, 9999, n),
    }  # fmt: skip
    web_dev, app_dev = _hex_ids(rng, "ck-", n), _hex_ids(rng, "dev-", n)
    ip = _ips(rng, n)
    for arr in (phone, *address.values(), ip):
        arr[members] = arr[heads]
    shared = heads[rng.random(m) < 0.3]
    web_dev[members[np.isin(heads, shared)]] = web_dev[shared]
    account = rng.random(n) < _ACCOUNT
    p = {
        "pid": _ids("P", np.arange(1, n + 1), 7), "fi": fi, "li": li, "phone": phone, "ip": ip,
        "web_dev": web_dev, "app_dev": app_dev, "household": household,
        "user_id": np.where(account, _ids("U", rng.permutation(n) + 1, 7), None), **address,
    }  # fmt: skip
    p["email"], p["email2"], p["lookalike"] = _emails(rng, p, household < 0)
    return p


def _hex_ids(rng: np.random.Generator, prefix: str, k: int) -> np.ndarray:
    """``prefix`` + 12 random hex digits, formatted without a loop over the values."""
    x = rng.integers(0, 2**48, size=k)
    chars = _HEX[(x[:, None] >> np.arange(44, -1, -4)) & 15]  # k x 12 one-letter strings
    return prefix + np.ascontiguousarray(chars).view("<U12").ravel().astype(object)


def _ips(rng: np.random.Generator, k: int) -> np.ndarray:
    o = rng.integers(0, 256, size=(4, k))
    o[0] = rng.integers(11, 224, size=k)
    s = [x.astype(str).astype(object) for x in o]
    return s[0] + "." + s[1] + "." + s[2] + "." + s[3]


def _strip_digits(values: np.ndarray) -> np.ndarray:
    return _text(values).str.replace(r"\d+", "", regex=True).to_numpy(dtype=object)


def _emails(rng, p, single) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Primary emails (lookalike groups planted), secondary emails (or None), and the
    lookalike group of each person (or None)."""
    n = len(single)
    pool = rng.permutation(np.flatnonzero(single))  # lookalike groups: a head and 1-2 others
    g = min(int(round(_LOOKALIKE_HEADS * n)), len(pool) // 4)
    extra = np.where(rng.random(g) < 0.8, 1, 2)
    heads, head_of = pool[:g], np.repeat(pool[:g], extra)
    members = pool[g : g + len(head_of)]
    for key in ("fi", "li"):
        p[key][members] = p[key][head_of]
    first = _text(_FIRST[p["fi"]]).str.lower().to_numpy(dtype=object)
    last = _text(_LAST[p["li"]]).str.lower().str.replace("'", "").to_numpy(dtype=object)
    initial = _text(first).str[0].to_numpy(dtype=object)
    digits = rng.integers(1, 100, n).astype(str).astype(object)
    year = rng.integers(1950, 2006, n).astype(str).astype(object)
    pat = _choice(rng, (0.3, 0.15, 0.15, 0.1, 0.15, 0.15), n)
    local = np.select(
        [pat == 0, pat == 1, pat == 2, pat == 3, pat == 4],
        [first + "." + last, first + last, initial + last, first + "_" + last,
         first + "." + last + digits], first + last + year,
    ).astype(object)  # fmt: skip
    di = _choice(rng, _DOMAIN_P, n)
    di[members] = di[head_of]
    planted = np.concatenate([heads, members])
    dotted = rng.random(g) < 0.6
    stem = np.where(dotted, first[heads] + "." + last[heads], first[heads] + last[heads])
    local[heads], local[members] = stem, np.repeat(stem, extra)
    local[planted] = local[planted] + rng.integers(1, 10, len(planted)).astype(str)
    for _ in range(20):  # two people of one group (or of two groups) never share an email
        dup = pd.Series(local[planted] + "@" + _DOMAINS[di[planted]]).duplicated().to_numpy()
        if not dup.any():
            break
        again = planted[dup]
        local[again] = _strip_digits(local[again]) + rng.integers(1, 100, len(again)).astype(str)
    has2 = rng.random(n) < _SECONDARY_EMAIL  # initial or nickname + last name + digits
    nick = _text(_NICK[p["fi"], 0]).str.lower().str.replace(" ", "").to_numpy(dtype=object)
    local2 = np.where(rng.random(n) < 0.5, nick, initial) + last
    local2 = local2 + rng.integers(1, 10_000, n).astype(str)
    di2 = (di + 1 + rng.integers(0, len(_DOMAINS) - 1, n)) % len(_DOMAINS)  # another domain
    locals_ = np.concatenate([local, local2[has2]])
    domains = _DOMAINS[np.concatenate([di, di2[has2]])]
    locked = np.zeros(len(locals_), bool)
    locked[planted] = True
    locals_ = _unique_stems(rng, locals_, domains, locked)
    primary = locals_[:n] + "@" + domains[:n]
    secondary = np.full(n, None, dtype=object)
    secondary[has2] = locals_[n:] + "@" + domains[n:]
    key = pd.Series(_strip_digits(primary))
    shared = (key.map(key.value_counts()) > 1).to_numpy()
    group = key.where(shared).rank(method="dense").fillna(0).astype(int).to_numpy()
    look = np.where(shared, _ids("L", group, 5), None)
    return primary, secondary, look


def _unique_stems(rng, local, domain, locked) -> np.ndarray:
    """Rename the unlocked emails whose digit-free form another email (locked ones first)
    already has: a middle initial, then two extra letters."""
    local = local.copy()
    order = np.argsort(~locked, kind="stable")
    for attempt in range(12):
        key = pd.Series(_strip_digits(local) + "@" + domain)
        dup = np.zeros(len(local), bool)
        dup[order] = key.iloc[order].duplicated().to_numpy()
        dup &= ~locked
        if not dup.any():
            return local
        s, letter = _text(local[dup]), _LETTERS[rng.integers(0, 26, int(dup.sum()))]
        if attempt < 6:
            sep = s.str.extract(r"^([a-z]+)([._])(.*)$")
            middle = sep[0] + sep[1] + letter + sep[1] + sep[2]  # john.k.smith
            local[dup] = middle.fillna(s.str[:1] + letter + s.str[1:]).to_numpy(dtype=object)
        else:
            local[dup] = (s + letter + _LETTERS[rng.integers(0, 26, len(s))]).to_numpy()
    raise AssertionError("could not make the generated emails unique")


def _phone_text(rng: np.random.Generator, d: np.ndarray) -> np.ndarray:
    a = (d // 10**7).astype(str).astype(object)
    e = ((d // 10**4) % 1000).astype(str).astype(object)
    ln = np.char.zfill((d % 10**4).astype(str), 4).astype(object)
    fmt = rng.integers(0, 5, len(d))
    return np.select(
        [fmt == 0, fmt == 1, fmt == 2, fmt == 3],
        ["+1 " + a + "-" + e + "-" + ln, "(" + a + ") " + e + "-" + ln,
         a + "." + e + "." + ln, a + e + ln], "1-" + a + "-" + e + "-" + ln,
    ).astype(object)  # fmt: skip


def _phone_typos(rng: np.random.Generator, d: np.ndarray) -> np.ndarray:
    """A different digit, or two neighbouring digits swapped, in the line number."""
    k = rng.integers(0, 3, len(d))
    a, b = (d // 10**k) % 10, (d // 10 ** (k + 1)) % 10
    swap = (rng.random(len(d)) < 0.5) & (a != b)
    swapped = d + (b - a) * 10**k + (a - b) * 10 ** (k + 1)
    substituted = d + (((a + rng.integers(1, 10, len(d))) % 10) - a) * 10**k
    return np.where(swap, swapped, substituted)


def _names(rng, p, pr, kind) -> tuple[np.ndarray, np.ndarray]:
    r = len(pr)
    fi, li = p["fi"][pr], p["li"][pr]
    form = _choice(rng, (0.72, 0.18, 0.04, 0.06), r)
    first = np.where(form == 1, _NICK[fi, rng.integers(0, 3, r)], _FIRST[fi])
    for code, noise in ((2, _typos), (3, _case_noise)):
        i = np.flatnonzero(form == code)
        first[i] = noise(rng, first[i])
    last = _LAST[li].copy()
    form = _choice(rng, (0.89, 0.03, 0.08), r)
    for code, noise in ((1, _typos), (2, _case_noise)):
        i = np.flatnonzero(form == code)
        last[i] = noise(rng, last[i])
    has_first = _present(rng, "first", kind)
    app_first_only = (kind == _KINDS.index("app")) & (rng.random(r) < 0.2 / 0.85)
    has_last = has_first & _present(rng, "last", kind) & ~app_first_only
    return np.where(has_first, first, None), np.where(has_last, last, None)


def _present(rng: np.random.Generator, field: str, kind: np.ndarray) -> np.ndarray:
    return rng.random(len(kind)) < np.asarray(_PRESENT[field])[kind]


def _email_field(rng, p, pr, kind) -> np.ndarray:
    r = len(pr)
    second = p["email2"][pr]
    use2 = (second != None) & (rng.random(r) < 0.3)  # noqa: E711 - elementwise
    email = np.where(use2, second, p["email"][pr]).astype(object)
    local = _text(email).str.split("@").str[0].to_numpy(dtype=object)
    domain = _text(email).str.split("@").str[1].to_numpy(dtype=object)
    noise = _choice(rng, (0.865, 0.08, 0.03, 0.015, 0.01), r)
    out = np.where(noise == 1, _case_noise(rng, email), email)
    tag = _TAGS[rng.integers(0, len(_TAGS), r)]
    out = np.where(noise == 2, local + "+" + tag + "@" + domain, out)
    typo = _DOMAIN_TYPO[np.argmax(_DOMAINS[None, :] == domain[:, None], axis=1)]
    out = np.where(noise == 3, local + "@" + typo, out)
    out = np.where(noise == 4, _JUNK[rng.integers(0, len(_JUNK), r)], out)
    return np.where(_present(rng, "email", kind), out, None)


def _address(rng, p, pr) -> dict[str, np.ndarray]:
    r = len(pr)
    num = p["house"][pr].astype(str).astype(object)
    street, full, abbr = _STREETS[p["street"][pr]], _TYPES[p["type"][pr]], _ABBR[p["type"][pr]]
    apt = p["apt"][pr].astype(str).astype(object)
    has_apt = p["apt"][pr] > 0
    style = rng.integers(0, 5, r)
    lower = _text(street + " " + abbr).str.lower().to_numpy(dtype=object)
    upper = _text(street + " " + abbr).str.upper().to_numpy(dtype=object)
    base = np.select(
        [style == 0, style == 1, style == 2, style == 3],
        [street + " " + full, lower + ".", upper, street + " " + abbr], street + " " + abbr + ".",
    )  # fmt: skip
    unit = np.select([style == 1, style == 2, style == 4],
                     [", apt " + apt, " #" + apt, ", Apt. " + apt], " Apt " + apt)  # fmt: skip
    city = _CITIES[p["city"][pr]]
    case = _choice(rng, (0.8, 0.1, 0.1), r)
    city = np.select([case == 1, case == 2],
                     [_text(city).str.upper(), _text(city).str.lower()], city)  # fmt: skip
    z = np.char.zfill((_ZIP_BASE[p["city"][pr]] + p["zip_off"][pr]).astype(str), 5).astype(object)
    z = np.where(rng.random(r) < 0.3, z + "-" + p["zip4"][pr].astype(str), z)
    country = _COUNTRIES[_choice(rng, (0.4, 0.25, 0.2, 0.15), r)]
    fields = {"street": num + " " + base + np.where(has_apt, unit, ""), "city": city, "zip": z,
              "country": country}  # fmt: skip
    return {k: v.astype(object) for k, v in fields.items()}


def _records(rng, p, pr, kind) -> dict[str, np.ndarray]:
    r, n = len(pr), len(p["pid"])
    web = _KIND_SOURCE[kind] == 0
    kiosk = kind == _KINDS.index("web_kiosk")
    f: dict[str, np.ndarray] = {"email": _email_field(rng, p, pr, kind)}
    d = p["phone"][pr]
    d = np.where(rng.random(r) < np.asarray(_PHONE_TYPO)[kind], _phone_typos(rng, d), d)
    f["phone"] = np.where(_present(rng, "phone", kind), _phone_text(rng, d), None)
    f["user_id"] = np.where(_present(rng, "user_id", kind), p["user_id"][pr], None)
    device = np.where(web, p["web_dev"][pr], p["app_dev"][pr])
    device = np.where(web & (rng.random(r) < 0.2), _hex_ids(rng, "ck-", r), device)
    kiosks = max(3, n // 1500)
    k = rng.integers(0, kiosks, r)
    device = np.where(kiosk, _ids("kiosk-", k, 3), device)
    f["device"] = np.where(_present(rng, "device", kind), device, None)
    public = _ips(rng, max(5, n // 1000) + kiosks)
    where = _choice(rng, (0.5, 0.25, 0.25), r)
    ip = np.select(
        [where == 0, where == 1],
        [p["ip"][pr], public[rng.integers(kiosks, len(public), r)]],
        _ips(rng, r),
    )
    ip = np.where(kiosk, public[k], ip)  # a kiosk's store IP
    f["ip"] = np.where(_present(rng, "ip", kind), ip, None)
    f["first"], f["last"] = _names(rng, p, pr, kind)
    has_address = _present(rng, "address", kind)
    for key, values in _address(rng, p, pr).items():
        f[key] = np.where(has_address, values, None)
    f["ts"] = rng.integers(_T0, _T1, size=r).astype("datetime64[s]")
    return f


def generate(n_records_target: int = 100_000, seed: int = 7) -> dict[str, pd.DataFrame]:
    """Return ``{"web", "app", "crm", "pos", "truth"}`` frames of about ``n_records_target``
    records; deterministic in ``seed``."""
    if n_records_target < 100:
        raise ValueError("n_records_target must be >= 100")
    rng = np.random.default_rng(seed)
    n = int(round(n_records_target / RECORDS_PER_PERSON))
    p = _people(rng, n)
    pr = np.repeat(np.arange(n), _choice(rng, _RECORDS_P, n) + 1)
    pr = pr[rng.permutation(len(pr))]
    kind = _choice(rng, _KIND_P, len(pr))
    f = _records(rng, p, pr, kind)
    household = np.where(p["household"] >= 0, _ids("H", p["household"] + 1, 6), None)
    out: dict[str, pd.DataFrame] = {}
    truth = []
    for k, name in enumerate(SOURCES):
        sel = np.flatnonzero(_KIND_SOURCE[kind] == k)
        cols = {key: f[key][sel] for key in _COLUMNS[name].values() if key not in ("id", "ts")}
        cols["id"] = _ids(_PREFIX[name], np.arange(1, len(sel) + 1), 7)
        ts = f["ts"][sel]
        iso = np.datetime_as_string(ts, unit="s").astype(object)
        if name in ("web", "pos"):
            cols["ts"] = pd.DatetimeIndex(ts.astype("datetime64[us]")).tz_localize("UTC")
        elif name == "app":
            cols["ts"] = iso + "Z"
        else:
            cols["ts"] = _text(iso).str.replace("T", " ").to_numpy(dtype=object)
        out[name] = pd.DataFrame({c: cols[key] for c, key in _COLUMNS[name].items()})
        who = pr[sel]
        values = (name, cols["id"], p["pid"][who], household[who], p["lookalike"][who])
        truth.append(pd.DataFrame(dict(zip(TRUTH_COLUMNS, values, strict=True))))
    out["truth"] = pd.concat(truth, ignore_index=True)
    return out


def write(frames: dict[str, pd.DataFrame], folder: str | os.PathLike) -> dict[str, str]:
    """Write the frames of :func:`generate` under ``folder`` (one sub-folder each, web/pos/
    truth Parquet, app JSON lines, crm CSV); return ``{name: directory}``."""
    return write_frames(frames, folder)
