"""Normalize stage: canonical records -> records with normalized identifiers.

Every identifier goes through a column builder of :mod:`idres_spark.ingest.normalizers`; the raw
email and phone are kept (``email_raw``, ``phone_raw``) so reports can count what was rejected.
The final ``select`` is the stage's contract (:data:`idres_spark.schemas.NORMALIZED`).
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from idres_spark import columns as C
from idres_spark.config import NormalizationConfig
from idres_spark.ingest import normalizers as N

NORMALIZED_COLUMNS = (
    C.RECORD_ID, C.SOURCE, C.SOURCE_RECORD_ID, C.EVENT_TS, C.EMAIL, C.EMAIL_RAW,
    C.EMAIL_CANONICAL, C.EMAIL_STATUS, C.PHONE, C.PHONE_RAW, C.USER_ID, C.DEVICE_ID, C.IP,
    C.FIRST_NAME, C.LAST_NAME, C.CUSTOM,
)  # fmt: skip


_LOWERED, _VALID = "_email_lowered", "_email_valid"


def normalize_records(records: DataFrame, settings: NormalizationConfig) -> DataFrame:
    junk = N.junk_set(settings.junk_values, settings.replace_builtin_junk)
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
        .withColumn(_VALID, lowered.rlike(N.EMAIL_PATTERN))
        .withColumn(C.EMAIL, F.when(valid, lowered))
        .withColumn(
            C.EMAIL_STATUS,
            N.email_status(F.col(C.EMAIL_STATUS), F.col(C.EMAIL), lowered.isNotNull() & ~valid),
        )
        .withColumn(C.EMAIL_CANONICAL, N.strip_alias_tag(F.col(C.EMAIL)))
        .withColumn(C.PHONE_RAW, F.col(C.PHONE))
    )
    return (
        N.with_e164(with_email, C.PHONE_RAW, C.PHONE, junk, settings.default_phone_region)
        .withColumn(C.USER_ID, N.clean_id(F.col(C.USER_ID), junk))
        .withColumn(C.DEVICE_ID, N.clean_id(F.col(C.DEVICE_ID), junk))
        .withColumn(C.IP, N.clean_ip(F.col(C.IP), junk))
        .withColumn(C.FIRST_NAME, N.clean_name(F.col(C.FIRST_NAME), junk))
        .withColumn(C.LAST_NAME, N.clean_name(F.col(C.LAST_NAME), junk))
        .withColumn(C.CUSTOM, custom)
        .select(*NORMALIZED_COLUMNS)
    )
