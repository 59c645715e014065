"""Normalize stage: canonical records -> records with normalized identifiers.

Every identifier goes through a column builder of :mod:`idres_spark.ingest.normalizers`; the raw
email and phone are kept (``email_raw``, ``phone_raw``) so reports can count what was rejected.
The final ``select`` is the stage's contract (:data:`idres_spark.schemas.NORMALIZED`).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Observation
from pyspark.sql import functions as F

from idres_spark import columns as C
from idres_spark.config import NormalizationConfig
from idres_spark.ingest import normalizers as N

NORMALIZED_COLUMNS = (
    C.RECORD_ID, C.SOURCE, C.SOURCE_RECORD_ID, C.EVENT_TS, C.EMAIL, C.EMAIL_RAW,
    C.EMAIL_CANONICAL, C.EMAIL_STATUS, C.PHONE, C.PHONE_RAW, C.USER_ID, C.DEVICE_ID, C.IP,
    C.FIRST_NAME, C.LAST_NAME, *C.ADDRESS_PARTS, C.CUSTOM,
)  # fmt: skip


_LOWERED, _VALID = "_email_lowered", "_email_valid"
MAX_EMAIL_LENGTH = 254  # characters: the longest address SMTP can carry (RFC 5321)
MAX_VALUE_LENGTH = 256  # characters of any other identifier or name
DROPPED_PREFIX = "dropped."  # observed figures: dropped.<field>.<reason>
# why a non-empty value of a field becomes null
DROP_REASONS = {
    C.EMAIL: ("junk", "invalid", "too_long"),
    C.PHONE: ("junk", "invalid"),
    C.USER_ID: ("junk", "too_long"),
    C.DEVICE_ID: ("junk", "too_long"),
    C.IP: ("junk", "invalid"),
    C.FIRST_NAME: ("junk", "too_long"),
    C.LAST_NAME: ("junk", "too_long"),
}
_CAPPED = (C.USER_ID, C.DEVICE_ID, C.FIRST_NAME, C.LAST_NAME)


def normalize_records(
    records: DataFrame,
    settings: NormalizationConfig,
    dropped: Observation | None = None,
    *,
    addresses: bool = True,
) -> DataFrame:
    """Normalized records; with ``dropped``, the values each field lost and why are counted
    as they stream by (``dropped.<field>.<reason>``, see :data:`DROP_REASONS`). Without
    ``addresses`` (no source maps an address part) the address columns stay null and their
    expressions stay out of the plan: they would make its generated code larger than the JVM
    compiles (64 KB a method), and Spark would run the stage interpreted."""
    junk = N.junk_set(settings.junk_values, settings.replace_builtin_junk)
    raw_in = {f: F.col(f"_in_{f}") for f in (C.USER_ID, C.DEVICE_ID, C.IP, *_CAPPED)}
    records = records.select("*", *[F.col(f).alias(f"_in_{f}") for f in raw_in])
    if addresses:  # before the phone's UDF, which splits the stage: not in the phone's code
        records = _with_address(records, junk, settings.address_country)
    custom = F.map_filter(
        F.transform_values(C.CUSTOM, lambda _k, v: N.clean_id(v, junk)),
        lambda _k, v: v.isNotNull(),
    )
    # the email's intermediate values are columns, so each is computed once per row (the
    # syntax check is the costliest expression of the stage)
    lowered, valid = F.col(_LOWERED), F.col(_VALID)
    with_email = (
        records.withColumn(C.EMAIL_RAW, F.col(C.EMAIL))
        .withColumn(_LOWERED, N.lowered_email(F.col(C.EMAIL_RAW), junk))
        .withColumn(
            _VALID, lowered.rlike(N.EMAIL_PATTERN) & (F.length(lowered) <= MAX_EMAIL_LENGTH)
        )
        .withColumn(C.EMAIL, F.when(valid, lowered))
        .withColumn(
            C.EMAIL_STATUS,
            N.email_status(F.col(C.EMAIL_STATUS), F.col(C.EMAIL), lowered.isNotNull() & ~valid),
        )
        .withColumn(C.EMAIL_CANONICAL, N.strip_alias_tag(F.col(C.EMAIL)))
        .withColumn(C.PHONE_RAW, F.col(C.PHONE))
    )
    normalized = (
        N.with_e164(with_email, C.PHONE_RAW, C.PHONE, junk, settings.default_phone_region)
        .withColumn(C.USER_ID, _capped(N.clean_id(F.col(C.USER_ID), junk)))
        .withColumn(C.DEVICE_ID, _capped(N.clean_id(F.col(C.DEVICE_ID), junk)))
        .withColumn(C.IP, N.clean_ip(F.col(C.IP), junk))
        .withColumn(C.FIRST_NAME, _capped(N.clean_name(F.col(C.FIRST_NAME), junk)))
        .withColumn(C.LAST_NAME, _capped(N.clean_name(F.col(C.LAST_NAME), junk)))
        .withColumn(C.CUSTOM, custom)
    )
    if dropped is not None:
        reasons = _drop_reasons(raw_in, junk)
        normalized = normalized.observe(
            dropped,
            *[
                F.sum(F.when(reasons[field] == reason, 1).otherwise(0)).alias(
                    f"{DROPPED_PREFIX}{field}.{reason}"
                )
                for field, options in DROP_REASONS.items()
                for reason in options
            ],
        )
    return normalized.select(*NORMALIZED_COLUMNS)


def _with_address(records: DataFrame, junk: list[str], default_country: str) -> DataFrame:
    """Street, city, postal code and country in one form each (:mod:`normalizers`). A record
    with some address but no country gets ``default_country``; the postal code is shaped by
    the country. Sources that map no address part skip the work (all four are null).

    Each value is a column before the next expression reads it (twice: cleaned, then capped;
    the country, then the postal code shaped by it): Spark keeps a costly expression that is
    read more than once in its own projection, so its code is generated once. Nested as one
    expression, the country's code was copied into every branch of the postal code's, and
    the stage's code outgrew what the JVM compiles (64 KB a method)."""
    cleaned = records.withColumns(
        {
            C.STREET: N.clean_street(F.col(C.STREET), junk),
            C.CITY: N.clean_city(F.col(C.CITY), junk),
            C.POSTAL_CODE: N.postal_code_letters(F.col(C.POSTAL_CODE), junk),
        }
    )
    some_address = F.col(C.STREET).isNotNull() | F.col(C.CITY).isNotNull()
    some_address = some_address | F.col(C.POSTAL_CODE).isNotNull()
    given = N.clean_country(F.col(C.COUNTRY), junk)
    with_country = cleaned.withColumn(
        C.COUNTRY, F.coalesce(given, F.when(some_address, F.lit(default_country)))
    ).withColumn(C.COUNTRY, _capped(F.col(C.COUNTRY)))
    shaped = with_country.withColumn(
        C.POSTAL_CODE, N.shape_postal_code(F.col(C.POSTAL_CODE), F.col(C.COUNTRY))
    )
    return shaped.withColumns({c: _capped(F.col(c)) for c in (C.STREET, C.CITY, C.POSTAL_CODE)})


def _capped(col: Column) -> Column:
    return F.when(F.length(col) <= MAX_VALUE_LENGTH, col)


def _drop_reasons(raw_in: dict[str, Column], junk: list[str]) -> dict[str, Column]:
    """Per field, why a value that was there is null after normalization (null: kept, or
    nothing was there)."""

    def given(col: Column) -> Column:
        return F.coalesce(F.trim(col) != "", F.lit(False))

    lowered = F.col(_LOWERED)
    reasons = {
        C.EMAIL: F.when(given(F.col(C.EMAIL_RAW)) & F.col(C.EMAIL).isNull(), F.when(
            lowered.isNull(), "junk").when(F.length(lowered) > MAX_EMAIL_LENGTH, "too_long")
            .otherwise("invalid")),
        C.PHONE: F.when(given(F.col(C.PHONE_RAW)) & F.col(C.PHONE).isNull(), F.when(
            N.phone_candidate(F.col(C.PHONE_RAW), junk).isNull(), "junk").otherwise("invalid")),
        C.IP: F.when(given(raw_in[C.IP]) & F.col(C.IP).isNull(), F.when(
            N.null_if_junk(raw_in[C.IP], junk).isNull(), "junk").otherwise("invalid")),
    }  # fmt: skip
    for field in _CAPPED:
        long = F.length(F.trim(raw_in[field])) > MAX_VALUE_LENGTH
        lost = given(raw_in[field]) & F.col(field).isNull()
        reasons[field] = F.when(lost, F.when(long, "too_long").otherwise("junk"))
    return reasons
