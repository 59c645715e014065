"""Column builders: ``Column -> Column`` functions that normalize one identifier each.

All are native Spark expressions except phone parsing outside North America, which has no
Spark equivalent and runs the ``phonenumbers`` library in a vectorized pandas UDF built by
:func:`e164_phone_udf` (each batch parses its distinct values once). North American numbers
are validated natively against the library's own patterns (:func:`nanp_is_valid`).
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Iterable
from typing import Any

import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

BUILTIN_JUNK = (
    "", "-", "--", "?", ".", "n/a", "na", "null", "none", "nil", "undefined", "unknown",
    "test", "test@test.com", "none@none.com", "noemail@noemail.com", "no@email.com",
    "email@email.com", "example@example.com", "0000000000", "1234567890", "1111111111",
    "9999999999", "123456789", "0",
)  # fmt: skip

_LOCAL = r"[\p{L}\p{N}!#$%&'*+/=?^_`{|}~-]+(\.[\p{L}\p{N}!#$%&'*+/=?^_`{|}~-]+)*"
_DOMAIN = r"([\p{L}\p{N}]([\p{L}\p{N}-]*[\p{L}\p{N}])?\.)+\p{L}{2,}"
EMAIL_PATTERN = f"^{_LOCAL}@{_DOMAIN}$"
_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
IPV4_PATTERN = rf"^({_OCTET}\.){{3}}{_OCTET}$"
IPV6_PATTERN = (
    r"^(([0-9a-f]{1,4}:){7}[0-9a-f]{1,4}"
    r"|(([0-9a-f]{1,4}:){0,6}[0-9a-f]{1,4})?::(([0-9a-f]{1,4}:){0,6}[0-9a-f]{1,4})?)$"
)
_MULTI_CHAR_FOLDS = {"ß": "ss", "æ": "ae", "œ": "oe", "þ": "th", "ĳ": "ij"}
_SINGLE_CHAR_FOLDS = {"ø": "o", "ł": "l", "đ": "d", "ð": "d", "ı": "i", "ħ": "h", "ŧ": "t"}


def _accent_table() -> tuple[str, str]:
    """Precomposed Latin letters (U+00C0..U+024F, lower case) -> their unaccented base letter."""
    src, dst = [], []
    for code in range(0x00C0, 0x0250):
        char = chr(code)
        if char != char.lower():
            continue
        base = unicodedata.normalize("NFKD", char)[0]
        if base.isascii() and base.isalpha() and base != char:
            src.append(char)
            dst.append(base)
    for char, base in _SINGLE_CHAR_FOLDS.items():
        src.append(char)
        dst.append(base)
    return "".join(src), "".join(dst)


_ACCENTED, _UNACCENTED = _accent_table()


def junk_set(extra: Iterable[str] = (), replace_builtin: bool = False) -> list[str]:
    """The effective junk values, lower-cased and trimmed, sorted for a stable plan."""
    values = set() if replace_builtin else set(BUILTIN_JUNK)
    values |= {v.strip().lower() for v in extra}
    return sorted(values)


def null_if_junk(col: Column, junk: list[str]) -> Column:
    """Trim; null when the lower-cased value is a junk value (or empty)."""
    trimmed = F.trim(col)
    return F.when(F.lower(trimmed).isin(junk) | (trimmed == ""), F.lit(None)).otherwise(trimmed)


def lowered_email(raw: Column, junk: list[str]) -> Column:
    """Trimmed, lower-cased email, null when junk; not yet checked for syntax."""
    return F.lower(null_if_junk(raw, junk))


def clean_email(col: Column, junk: list[str]) -> Column:
    """Trimmed, lower-cased email; null when junk or syntactically invalid."""
    email = lowered_email(col, junk)
    return F.when(email.rlike(EMAIL_PATTERN), email)


def email_is_malformed(raw: Column, junk: list[str]) -> Column:
    """True when a non-junk raw email fails the syntax check."""
    email = lowered_email(raw, junk)
    return email.isNotNull() & ~email.rlike(EMAIL_PATTERN)


def strip_alias_tag(email: Column) -> Column:
    """``name+tag@domain`` -> ``name@domain``; other emails unchanged."""
    return F.regexp_replace(email, r"^([^+@]+)\+[^@]*@", "$1@")


def email_domain(email: Column) -> Column:
    return F.substring_index(email, "@", -1)


def email_status(status: Column, email: Column, malformed: Column) -> Column:
    """The reachability status: the source's status when known, ``invalid`` when malformed."""
    given = F.lower(F.trim(status))
    known = F.when(given.isin("valid", "bounced", "invalid", "suppressed", "unknown"), given)
    return (
        F.when(malformed, F.lit("invalid"))
        .when(email.isNull(), F.lit(None))
        .otherwise(F.coalesce(known, F.lit("unknown")))
    )


def clean_name(col: Column, junk: list[str]) -> Column:
    """Lower-case, accents folded, punctuation other than ' and - removed, spaces collapsed."""
    lowered = F.lower(null_if_junk(col, junk))
    name = lowered
    for char, folded in _MULTI_CHAR_FOLDS.items():
        name = F.regexp_replace(name, char, folded)
    name = F.translate(name, _ACCENTED, _UNACCENTED)
    name = F.regexp_replace(name, r"\p{M}+", "")  # combining marks of decomposed input
    name = F.regexp_replace(name, r"[^\p{L}\p{N}'\- ]+", " ")
    name = F.trim(F.regexp_replace(name, r"\s+", " "))
    # most names are already clean (ASCII letters, digits, ' and -, single spaces): every
    # step above leaves them as they are, so one match replaces the eight passes
    clean = lowered.rlike(r"^[a-z0-9'\-]+( [a-z0-9'\-]+)*$")
    return F.when(clean, lowered).otherwise(F.when(name != "", name))


# words of streets and cities -> the short form both sides are compared in (USPS-style
# suffixes and unit designators, compass points); a unit marker ("#4", "unit 4") becomes "apt"
ADDRESS_WORDS = {
    "street": "st", "str": "st", "avenue": "ave", "av": "ave", "road": "rd", "boulevard": "blvd",
    "drive": "dr", "lane": "ln", "court": "ct", "place": "pl", "square": "sq", "terrace": "ter",
    "highway": "hwy", "parkway": "pkwy", "circle": "cir", "crescent": "cres", "close": "cl",
    "way": "wy", "trail": "trl", "alley": "aly", "expressway": "expy", "freeway": "fwy",
    "apartment": "apt", "unit": "apt", "flat": "apt", "suite": "ste", "floor": "fl",
    "building": "bldg", "room": "rm", "north": "n", "south": "s", "east": "e", "west": "w",
    "northeast": "ne", "northwest": "nw", "southeast": "se", "southwest": "sw", "saint": "st",
    "mount": "mt", "fort": "ft", "number": "no",
}  # fmt: skip
# country names and ISO alpha-3 codes users write -> ISO 3166 alpha-2 (punctuation removed)
COUNTRY_NAMES = {
    "USA": "US", "UNITED STATES": "US", "UNITED STATES OF AMERICA": "US", "AMERICA": "US",
    "UK": "GB", "GBR": "GB", "UNITED KINGDOM": "GB", "GREAT BRITAIN": "GB", "ENGLAND": "GB",
    "SCOTLAND": "GB", "WALES": "GB", "CAN": "CA", "CANADA": "CA", "AUS": "AU",
    "AUSTRALIA": "AU", "DEU": "DE", "GERMANY": "DE", "DEUTSCHLAND": "DE", "FRA": "FR",
    "FRANCE": "FR", "ESP": "ES", "SPAIN": "ES", "ESPANA": "ES", "ITA": "IT", "ITALY": "IT",
    "ITALIA": "IT", "NLD": "NL", "NETHERLANDS": "NL", "THE NETHERLANDS": "NL", "HOLLAND": "NL",
    "MEX": "MX", "MEXICO": "MX", "BRA": "BR", "BRAZIL": "BR", "BRASIL": "BR", "IRL": "IE",
    "IRELAND": "IE", "NZL": "NZ", "NEW ZEALAND": "NZ", "IND": "IN", "INDIA": "IN",
    "CHE": "CH", "SWITZERLAND": "CH", "AUT": "AT", "AUSTRIA": "AT", "BEL": "BE",
    "BELGIUM": "BE", "SWE": "SE", "SWEDEN": "SE", "NOR": "NO", "NORWAY": "NO", "DNK": "DK",
    "DENMARK": "DK", "POL": "PL", "POLAND": "PL", "PRT": "PT", "PORTUGAL": "PT", "JPN": "JP",
    "JAPAN": "JP", "ZAF": "ZA", "SOUTH AFRICA": "ZA",
}  # fmt: skip


def literal_map(mapping: dict[str, object]) -> Column:
    """A literal ``map`` column of ``mapping`` (keys in sorted order: the same plan each run)."""
    return F.create_map(*[F.lit(x) for kv in sorted(mapping.items()) for x in kv])


def _folded_text(col: Column) -> Column:
    """Lower-case, accents folded, punctuation other than # to spaces, spaces collapsed."""
    text = F.lower(col)
    for char, folded in _MULTI_CHAR_FOLDS.items():
        text = F.regexp_replace(text, char, folded)
    text = F.translate(text, _ACCENTED, _UNACCENTED)
    text = F.regexp_replace(text, r"\p{M}+", "")
    text = F.regexp_replace(text, r"#", " # ")
    text = F.regexp_replace(text, r"[^\p{L}\p{N}# ]+", " ")
    return F.trim(F.regexp_replace(text, r"\s+", " "))


def _short_words(text: Column) -> Column:
    """Every word of ``text`` in its :data:`ADDRESS_WORDS` short form ("#" -> "apt")."""
    words = literal_map({**ADDRESS_WORDS, "#": "apt"})
    short = F.transform(
        F.split(text, " "), lambda word: F.coalesce(F.try_element_at(words, word), word)
    )
    return F.array_join(short, " ")


def clean_street(col: Column, junk: list[str]) -> Column:
    """A street line compared in one form: ``"123 Main Street, Apt. 4"`` and ``"123 MAIN ST #4"``
    both become ``"123 main st apt 4"``."""
    text = _folded_text(null_if_junk(col, junk))
    street = F.regexp_replace(_short_words(text), r"\bapt apt\b", "apt")  # "unit #4"
    return F.when(street != "", street)


def clean_city(col: Column, junk: list[str]) -> Column:
    """A city in one form: lower-case, no accents or punctuation, ``saint`` -> ``st`` etc."""
    city = _short_words(_folded_text(null_if_junk(col, junk)))
    return F.when(city != "", city)


def clean_country(col: Column, junk: list[str]) -> Column:
    """ISO 3166 alpha-2 for the codes and names of :data:`COUNTRY_NAMES` and for alpha-2 codes;
    other values upper-cased without punctuation (kept, not dropped)."""
    text = F.upper(F.translate(_folded_text(null_if_junk(col, junk)), "#", ""))
    text = F.trim(F.regexp_replace(text, r"\s+", " "))
    compact = F.regexp_replace(text, " ", "")  # "U S A" from "U.S.A."
    names = literal_map(COUNTRY_NAMES)
    country = F.coalesce(F.try_element_at(names, text), F.try_element_at(names, compact), text)
    return F.when(country != "", country)


def clean_postal_code(col: Column, country: Column, junk: list[str]) -> Column:
    """A postal code in its country's shape: US ``94110-1234`` -> ``94110`` (and a ZIP that
    lost its leading zeros, ``2110``, -> ``02110``); CA ``k1a0b1`` -> ``K1A 0B1``; GB
    ``sw1a1aa`` -> ``SW1A 1AA``; NL ``1234ab`` -> ``1234 AB``; elsewhere upper-case letters and
    digits only."""
    return shape_postal_code(postal_code_letters(col, junk), country)


def postal_code_letters(col: Column, junk: list[str]) -> Column:
    """The upper-case letters and digits of a postal code; null when there are none."""
    code = F.regexp_replace(F.upper(null_if_junk(col, junk)), r"[^A-Z0-9]", "")
    return F.when(code != "", code)


def shape_postal_code(code: Column, country: Column) -> Column:
    """:func:`postal_code_letters`' ``code`` in the shape of ``country`` (see
    :func:`clean_postal_code`). Pass columns: both are read several times."""
    return (
        F.when((country == "US") & code.rlike(r"^[0-9]{9}$|^[0-9]{5}$"), F.substring(code, 1, 5))
        .when((country == "US") & code.rlike(r"^[0-9]{3,4}$"), F.lpad(code, 5, "0"))
        .when(
            (country == "CA") & code.rlike(r"^[A-Z][0-9][A-Z][0-9][A-Z][0-9]$"),
            F.concat(F.substring(code, 1, 3), F.lit(" "), F.substring(code, 4, 3)),
        )
        .when(
            (country == "GB") & code.rlike(r"^[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2}$"),
            F.concat(
                code.substr(F.lit(1), F.length(code) - 3), F.lit(" "), F.substring(code, -3, 3)
            ),
        )
        .when(
            (country == "NL") & code.rlike(r"^[0-9]{4}[A-Z]{2}$"),
            F.concat(F.substring(code, 1, 4), F.lit(" "), F.substring(code, 5, 2)),
        )
        .otherwise(code)
    )


def clean_ip(col: Column, junk: list[str]) -> Column:
    """A valid IPv4 or IPv6 address (lower-cased), else null."""
    ip = F.lower(null_if_junk(col, junk))
    return F.when(ip.rlike(IPV4_PATTERN) | (ip.contains(":") & ip.rlike(IPV6_PATTERN)), ip)


def clean_id(col: Column, junk: list[str]) -> Column:
    """External and device ids: trimmed, inner whitespace collapsed, junk -> null."""
    return F.regexp_replace(null_if_junk(col, junk), r"\s+", " ")


def phone_candidate(col: Column, junk: list[str]) -> Column:
    """Pre-clean natively: keep digits and a leading +; null for junk or repeated digits."""
    raw = null_if_junk(col, junk)
    plus = F.when(raw.startswith("+"), F.lit("+")).otherwise(F.lit(""))
    digits = F.regexp_replace(raw, r"[^0-9]", "")
    junky = digits.isin(junk) | digits.rlike(r"^(\d)\1*$") | (F.length(digits) < 5)
    return F.when(raw.isNotNull() & ~junky, F.concat(plus, digits))


def parse_e164(text: str, default_region: str) -> str | None:
    """One phone candidate -> E.164, or None when ``phonenumbers`` finds no valid number."""
    import phonenumbers

    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def e164_many(candidates: Iterable[str], default_region: str) -> dict[str, str | None]:
    """Distinct phone candidates -> E.164 or None, each parsed by :func:`parse_e164`.

    North American numbers do not come here in the job: :func:`with_e164` validates them
    natively and sends this only the others.
    """
    return {text: parse_e164(text, default_region) for text in candidates}


_NUMBER_TYPES = (  # the descriptions phonenumbers' number-type check tries, commonest first
    "fixed_line", "mobile", "toll_free", "premium_rate", "shared_cost", "voip",
    "personal_number", "pager", "uan", "voicemail",
)  # fmt: skip


@functools.cache
def _nanp_regions() -> tuple[tuple[str | None, Any, tuple[Any, ...]], ...]:
    """(leading-digits regex, general description, number-type descriptions) per North
    American region, in the order phonenumbers tries them, from the installed library."""
    import phonenumbers
    from phonenumbers import PhoneMetadata

    regions = []
    for region in phonenumbers.region_codes_for_country_code(1):
        meta = PhoneMetadata.metadata_for_region(region)
        if meta is None:
            continue
        types = [getattr(meta, name) for name in _NUMBER_TYPES]
        regions.append((meta.leading_digits, meta.general_desc, tuple(t for t in types if t)))
    return tuple(regions)


def _sql_regex(pattern: str) -> str:
    """A phonenumbers pattern as a SQL string literal. Its only escape, ``\\d``, becomes
    ``[0-9]`` (the same digits: Java's ``\\d`` is ASCII), so the literal holds no backslash and
    reads the same whatever ``spark.sql.parser.escapedStringLiterals`` says."""
    text = pattern.replace("\\d", "[0-9]")
    if "\\" in text or "'" in text:  # not in any release seen; refuse rather than misread
        raise ValueError(f"unexpected escape in a phonenumbers pattern: {pattern!r}")
    return f"'{text}'"


def _matches_desc(nsn: str, desc) -> str:
    """phonenumbers' ``_is_number_matching_desc`` in SQL: a possible length and the whole
    pattern."""
    if desc is None or not desc.national_number_pattern:
        return "false"
    whole = f"{nsn} RLIKE {_sql_regex(f'^(?:{desc.national_number_pattern})$')}"
    if desc.possible_length:
        lengths = ", ".join(str(int(n)) for n in desc.possible_length)
        return f"(length({nsn}) IN ({lengths}) AND {whole})"
    return f"({whole})"


@functools.cache
def _nanp_sql(nsn: str) -> str:
    branches = []
    for leading, general, types in _nanp_regions():
        any_type = " OR ".join(_matches_desc(nsn, t) for t in types) or "false"
        valid = f"({_matches_desc(nsn, general)} AND ({any_type}))"
        if leading:
            branches.append(f"WHEN {nsn} RLIKE {_sql_regex(f'^(?:{leading})')} THEN {valid}")
        else:
            branches.append(f"WHEN {valid} THEN true")
    return f"CASE {' '.join(branches)} ELSE false END" if branches else "false"


def nanp_is_valid(nsn: str) -> Column:
    """``phonenumbers.is_valid_number`` for a country-code-1 number, as a native expression over
    the column ``nsn``, its national significant number (digits, no leading zeros).

    Like the library: the regions of +1 are tried in order; a region whose leading digits
    match decides alone, one without leading digits (US, CA) claims the number when it is valid
    there; valid means the general pattern and one number type's pattern match. The patterns
    are the installed library's, so the two agree (tests/spark/test_normalizers.py). The
    expression (161 patterns) is handed to Spark as one SQL text: built column by column it
    took 12,000 calls from Python into the JVM, 1.5 s of every run.
    """
    return F.expr(_nanp_sql(f"`{nsn}`"))


def nanp_digits(candidate: Column, default_region: str) -> Column:
    """The ten digits after the country code of a North American candidate (``+1`` and ten
    digits; with a NANP default region also ten digits, or ``1`` and ten digits, unless they
    start with the international dialling prefix), else null.
    For these ``phonenumbers.parse`` gives country code 1 and these digits, so only validity
    is left to decide."""
    import phonenumbers

    plus_one = F.when(candidate.startswith("+1"), F.substring(candidate, 3, 100))
    if phonenumbers.country_code_for_region(default_region) == 1:
        bare = F.when(
            (F.length(candidate) == 11) & candidate.startswith("1"), F.substring(candidate, 2, 100)
        ).otherwise(candidate)
        national = ~candidate.startswith("+")
        # digits that start with the region's international dialling prefix (011) are read
        # by the parser as a call abroad: they are left to it
        meta = phonenumbers.PhoneMetadata.metadata_for_region(default_region)
        if meta is not None and meta.international_prefix:
            national = national & ~candidate.rlike(f"^(?:{meta.international_prefix})")
        plus_one = plus_one.when(national, bare)
    return F.when(F.length(plus_one) == 10, plus_one)


def with_e164(df: DataFrame, raw: str, out: str, junk: list[str], default_region: str) -> DataFrame:
    """``df`` + column ``out``: the phone in column ``raw`` as E.164, or null, exactly as
    :func:`parse_e164` decides for its :func:`phone_candidate`.

    North American numbers, most of a US or Canadian customer base, are validated natively
    (:func:`nanp_is_valid`); only the others cross to Python, into the ``phonenumbers`` UDF,
    which receives null for the rest and so does no work for them. The intermediate values are
    columns of their own, so Spark computes each once per row.
    """
    cand, ten, nsn = f"_{out}_candidate", f"_{out}_nanp", f"_{out}_nsn"
    native = F.when(nanp_is_valid(nsn), F.concat(F.lit("+1"), F.col(ten)))
    parsed = e164_phone_udf(default_region)(F.when(F.col(ten).isNull(), F.col(cand)))
    return (
        df.withColumn(cand, phone_candidate(F.col(raw), junk))
        .withColumn(ten, nanp_digits(F.col(cand), default_region))
        .withColumn(nsn, F.regexp_replace(F.col(ten), "^0+", ""))
        .withColumn(out, F.when(F.col(ten).isNotNull(), native).otherwise(parsed))
        .drop(cand, ten, nsn)
    )


def e164_phone_udf(default_region: str):
    """A pandas UDF: phone candidate string -> E.164 (``+14152345678``) or null when invalid."""
    from pyspark.sql.functions import pandas_udf

    @pandas_udf("string")  # type: ignore[call-overload]
    def e164(values: pd.Series) -> pd.Series:
        mapping = e164_many(values.dropna().unique(), default_region)  # each value once
        return values.map(mapping).astype(object).where(values.notna(), None)

    return e164
