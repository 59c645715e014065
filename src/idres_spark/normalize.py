"""Normalize stage: canonical records -> records with normalized identifiers.

Every identifier goes through a column builder of :mod:`idres_spark.normalizers`; the raw
email and phone are kept (``email_raw``, ``phone_raw``) so reports can count what was rejected.
The final ``select`` is the stage's contract (:data:`idres_spark.schemas.NORMALIZED`).
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from idres_spark import columns as C
from idres_spark import normalizers as N
from idres_spark.config import NormalizationConfig

NORMALIZED_COLUMNS = (
    C.RECORD_ID, C.SOURCE, C.SOURCE_RECORD_ID, C.EVENT_TS, C.EMAIL, C.EMAIL_RAW,
    C.EMAIL_CANONICAL, C.EMAIL_STATUS, C.PHONE, C.PHONE_RAW, C.USER_ID, C.DEVICE_ID, C.IP,
    C.FIRST_NAME, C.LAST_NAME, C.CUSTOM,
)  # fmt: skip


def normalize_records(records: DataFrame, settings: NormalizationConfig) -> DataFrame:
    junk = N.junk_set(settings.junk_values, settings.replace_builtin_junk)
    e164 = N.e164_phone_udf(settings.default_phone_region)
    email_raw = F.col(C.EMAIL)
    malformed = N.email_is_malformed(email_raw, junk)
    email = N.clean_email(email_raw, junk)
    custom = F.map_filter(
        F.transform_values(C.CUSTOM, lambda _k, v: N.clean_id(v, junk)),
        lambda _k, v: v.isNotNull(),
    )
    return (
        records.withColumn(C.EMAIL_RAW, email_raw)
        .withColumn(C.PHONE_RAW, F.col(C.PHONE))
        .withColumn(C.EMAIL_STATUS, N.email_status(F.col(C.EMAIL_STATUS), email, malformed))
        .withColumn(C.EMAIL, email)
        .withColumn(C.EMAIL_CANONICAL, N.strip_alias_tag(F.col(C.EMAIL)))
        .withColumn(C.PHONE, e164(N.phone_candidate(F.col(C.PHONE_RAW), junk)))
        .withColumn(C.USER_ID, N.clean_id(F.col(C.USER_ID), junk))
        .withColumn(C.DEVICE_ID, N.clean_id(F.col(C.DEVICE_ID), junk))
        .withColumn(C.IP, N.clean_ip(F.col(C.IP), junk))
        .withColumn(C.FIRST_NAME, N.clean_name(F.col(C.FIRST_NAME), junk))
        .withColumn(C.LAST_NAME, N.clean_name(F.col(C.LAST_NAME), junk))
        .withColumn(C.CUSTOM, custom)
        .select(*NORMALIZED_COLUMNS)
    )
