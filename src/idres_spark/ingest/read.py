"""Read stage: source tables -> canonical records, and a quarantine of rows that cannot be used.

:func:`load_sources` is the I/O half (called by the entry points); :func:`check_schemas`
reports every missing column of every source at once before any heavy work;
:func:`canonicalize` is pure: raw frames + config -> (records, quarantine).

Quarantine reasons: ``malformed_row`` (a CSV line with too few or too many fields, a JSON line
that does not parse: Spark's corrupt-record column), ``missing_record_id``,
``invalid_record_id`` (control characters, or longer than :data:`MAX_ID_LENGTH`),
``invalid_encoding`` (a mapped value holds U+FFFD: the file is not in the reader's
``encoding``), ``duplicate_record_id`` (the latest row of a record id is kept, the others
quarantined), ``unparseable_event_ts``.

Mapped columns are read as text: numbers without an exponent (a phone stored as the double
``4.1555501E9`` becomes ``4155550100``); array, struct and map columns are refused by
:func:`check_schemas`, naming the column.
"""

from __future__ import annotations

from functools import reduce

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from idres_spark import columns as C
from idres_spark.config import Config, EventsConfig, SourceConfig
from idres_spark.errors import InputError
from idres_spark.golden_config import OVERRIDE_COLUMNS, OVERRIDE_OPTIONAL, TableInput
from idres_spark.stewardship.overrides import COLUMNS as STEWARD_COLUMNS
from idres_spark.stewardship.overrides import REQUIRED as STEWARD_REQUIRED
from idres_spark.stewardship.requests import COLUMNS as ERASURE_COLUMNS
from idres_spark.stewardship.requests import REQUIRED as ERASURE_REQUIRED

CANONICAL_STRING_FIELDS = (
    C.EMAIL, C.EMAIL_STATUS, C.PHONE, C.USER_ID, C.DEVICE_ID, C.IP, C.FIRST_NAME, C.LAST_NAME,
    *C.ADDRESS_PARTS,
)  # fmt: skip
EPOCH_SECONDS_MIN, EPOCH_SECONDS_MAX = -62135596800, 253402300799  # 0001-01-01, 9999-12-31
CORRUPT = "_corrupt_record"  # Spark's corrupt-record column (CSV: added by _open; JSON: by Spark)
MAX_ID_LENGTH = 512  # characters of a source record id
REPLACEMENT = "\ufffd"  # what a decoder puts where bytes are not in its encoding
_RAW_TS = "_event_ts_raw"
_REASON = "_reason"
_ROW_HASH = "_row_hash"


def _open(
    spark: SparkSession, spec: SourceConfig | EventsConfig | TableInput, what: str
) -> DataFrame:
    """Open one input with its reader and options; errors name the input and the fix."""
    try:
        if spec.format == "table":
            return spark.table(str(spec.table))
        reader = spark.read.options(**{k: str(v) for k, v in spec.options.items()})
        if spec.format != "csv":
            return reader.format(spec.format).load(spec.path)
        reader = reader.option("header", str(spec.options.get("header", True)).lower())
        # quoted fields may hold line breaks (one record, not two); slower on one huge file,
        # so a source without them may set `multiLine: false`
        if not any(k.lower() == "multiline" for k in spec.options):
            reader = reader.option("multiLine", "true")
        # a line with too few or too many fields lands whole in the corrupt-record column
        # (Spark's PERMISSIVE mode), to be quarantined, instead of being padded or cut
        columns = reader.csv(spec.path).schema
        with_corrupt = T.StructType([*columns.fields, T.StructField(CORRUPT, T.StringType())])
        return (
            reader.schema(with_corrupt)
            .option("mode", "PERMISSIVE")
            .option("columnNameOfCorruptRecord", CORRUPT)
            .csv(spec.path)
        )
    except Exception as exc:  # Spark raises AnalysisException and friends
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(
            f"{what}: cannot read {spec.format} at {spec.table or spec.path}: {first}. "
            "Check the path/table exists and `format:` matches the files.",
            code="source_unreadable",
        ) from None


def load_sources(spark: SparkSession, config: Config) -> dict[str, DataFrame]:
    """Every source as its raw frame, by source name."""
    return {s.name: _open(spark, s, f"source '{s.name}'") for s in config.sources}


def load_events(spark: SparkSession, config: Config) -> DataFrame | None:
    """The optional events input as ``event_id, source, source_record_id, event_type, channel,
    event_ts``; None when the config has no ``events:`` section."""
    spec = config.events
    if spec is None:
        return None
    df = _open(spark, spec, "events")
    wanted = {k: v for k, v in spec.columns.model_dump().items() if v is not None}
    missing = {k: v for k, v in wanted.items() if v not in df.columns}
    if missing:
        listed = ", ".join(f"{k} -> '{v}'" for k, v in sorted(missing.items()))
        raise InputError(
            f"events: missing columns {listed}; available: {sorted(df.columns)}. "
            "Fix `events.columns` in the config.",
            code="missing_column",
        )
    cols = spec.columns
    source = _str(cols.source) if cols.source else F.lit(spec.source_name)
    _, event_ts = _event_time(df, cols.event_ts, None)
    return df.select(
        _str(cols.event_id).alias("event_id"),
        source.alias(C.SOURCE),
        F.trim(_str(cols.source_record_id)).alias(C.SOURCE_RECORD_ID),
        _str(cols.event_type).alias("event_type"),
        _str(cols.channel).alias("channel"),
        event_ts.alias(C.EVENT_TS),
    )


def load_golden_overrides(spark: SparkSession, config: Config) -> DataFrame | None:
    """The steward values of ``golden.overrides`` with every column of
    :data:`idres_spark.golden_config.OVERRIDE_COLUMNS` and ``OVERRIDE_OPTIONAL`` as text
    (missing optional ones null); None when the config names no such table."""
    spec = config.golden.overrides
    if spec is None:
        return None
    df = _open(spark, spec, "golden.overrides")
    available = [c for c in df.columns if c != CORRUPT]
    missing = [c for c in OVERRIDE_COLUMNS if c not in available]
    if missing or not {"profile_id", "record"} & set(available):
        needed = missing or ["profile_id or record"]
        raise InputError(
            f"golden.overrides ({spec.table or spec.path}): missing columns {needed}; "
            f"available: {sorted(available)}. A steward value needs `field`, `value` and an "
            "anchor: `profile_id` or `record` (source:source_record_id)",
            code="missing_column",
        )
    return df.select(
        *[
            (F.trim(_str(c)) if c in available else F.lit(None).cast("string")).alias(c)
            for c in (*OVERRIDE_COLUMNS, *OVERRIDE_OPTIONAL)
        ]
    )


def load_steward_overrides(spark: SparkSession, config: Config) -> DataFrame | None:
    """The rows of ``stewardship.overrides``, every column of
    :data:`idres_spark.stewardship.overrides.COLUMNS` as trimmed text (absent optional ones
    null); None when the config names no such table."""
    return _text_table(
        spark, config.stewardship.overrides, "stewardship.overrides", STEWARD_COLUMNS,
        STEWARD_REQUIRED, "An override needs {needed}, and anchor_2 for must_link and cannot_link",
    )  # fmt: skip


def load_erasure_requests(spark: SparkSession, config: Config) -> DataFrame | None:
    """The rows of ``stewardship.erasure`` (:data:`idres_spark.stewardship.requests.COLUMNS`)
    as trimmed text (absent optional ones null); None when the config names no such table."""
    return _text_table(
        spark, config.stewardship.erasure, "stewardship.erasure", ERASURE_COLUMNS,
        ERASURE_REQUIRED, "A request needs {needed}",
    )  # fmt: skip


def _text_table(spark, spec, what: str, columns, required, needs: str) -> DataFrame | None:
    """A people-written input table: ``columns`` as trimmed text; missing ``required`` ones
    refused with the available columns and ``needs`` (its ``{needed}`` filled in)."""
    if spec is None:
        return None
    df = _open(spark, spec, what)
    available = [c for c in df.columns if c != CORRUPT]
    missing = [c for c in required if c not in available]
    if missing:
        raise InputError(
            f"{what} ({spec.table or spec.path}): missing columns {missing}; available: "
            f"{sorted(available)}. {needs.format(needed=list(required))} (docs/stewardship.md)",
            code="missing_column",
        )
    return df.select(
        *[
            (F.trim(_str(c)) if c in available else F.lit(None).cast("string")).alias(c)
            for c in columns
        ]
    )


def check_schemas(frames: dict[str, DataFrame], config: Config) -> None:
    """Raise one InputError listing every mapped column that a source does not have."""
    problems, nested = [], []
    for source in config.sources:
        schema = frames[source.name].schema
        available = [c for c in frames[source.name].columns if c != CORRUPT]
        wanted = {**_mapped(source), **{f"custom.{k}": v for k, v in source.custom.items()}}
        missing = {field: col for field, col in wanted.items() if col not in available}
        if missing:
            listed = ", ".join(f"{field} -> '{col}'" for field, col in sorted(missing.items()))
            problems.append(
                f"source '{source.name}': missing columns {listed}; available: {sorted(available)}"
            )
        for field, col in sorted(wanted.items()):
            dtype = schema[col].dataType if col in available else None
            if isinstance(dtype, T.ArrayType | T.StructType | T.MapType) and field != "event_ts":
                nested.append(
                    f"source '{source.name}': {field} -> '{col}' is {dtype.simpleString()}, not a "
                    "single value"
                )
    if nested:
        raise InputError(
            "mapped columns must hold one value per row:\n  - "
            + "\n  - ".join(nested)
            + "\nMap a plain column instead, or flatten the source first (for example "
            "`element_at(col, 1)` or `col.field` in a view used as a `table` source).",
            code="unsupported_column_type",
        )
    if problems:
        raise InputError(
            "the config maps columns the sources do not have:\n  - "
            + "\n  - ".join(problems)
            + "\nFix `sources[].columns` / `custom` in the config.",
            code="missing_column",
        )


def canonicalize(frames: dict[str, DataFrame], config: Config) -> tuple[DataFrame, DataFrame]:
    """All sources as canonical records (strings, parsed event time) plus the quarantine."""
    check_schemas(frames, config)
    parts = [_canonical_source(frames[s.name], s) for s in config.sources]
    rows = reduce(lambda a, b: a.unionByName(b), parts)
    # Among rows with one record id the latest valid one wins; ties go by the canonical values,
    # then by a hash of the whole source row. Not by the raw JSON: that would serialize every
    # row of every source, when only quarantined rows need it (the records never carry it).
    latest_first = Window.partitionBy(C.RECORD_ID).orderBy(
        F.col(_REASON).isNotNull(),
        F.col(C.EVENT_TS).desc_nulls_last(),
        *[F.col(f).asc_nulls_last() for f in CANONICAL_STRING_FIELDS],
        F.col(_ROW_HASH),
    )
    rank = F.row_number().over(latest_first)
    rows = rows.withColumn(
        _REASON,
        F.when(F.col(_REASON).isNull() & (rank > 1), F.lit("duplicate_record_id")).otherwise(
            F.col(_REASON)
        ),
    )
    records = rows.where(F.col(_REASON).isNull()).select(
        C.RECORD_ID, C.SOURCE, C.SOURCE_RECORD_ID, C.EVENT_TS, *CANONICAL_STRING_FIELDS, C.CUSTOM
    )
    quarantine = rows.where(F.col(_REASON).isNotNull()).select(
        C.SOURCE, C.SOURCE_RECORD_ID, F.col(_REASON).alias(C.REASON_QUARANTINE), C.RAW
    )
    return records, quarantine


def _mapped(source: SourceConfig) -> dict[str, str]:
    return {f: c for f, c in source.columns.model_dump().items() if c is not None}


def _canonical_source(df: DataFrame, source: SourceConfig) -> DataFrame:
    mapping = source.columns
    source_id = F.trim(_text(df, mapping.record_id))
    fields: dict[str, Column] = {}
    for field in CANONICAL_STRING_FIELDS:
        name = getattr(mapping, field)
        fields[field] = _text(df, name) if name else F.lit(None).cast("string")
    raw_ts, event_ts = _event_time(df, mapping.event_ts, source.timestamp_format)
    custom = (
        F.create_map(
            *[x for k, v in sorted(source.custom.items()) for x in (F.lit(k), _text(df, v))]
        )
        if source.custom
        else F.create_map().cast(T.MapType(T.StringType(), T.StringType()))
    )
    corrupt = F.col(CORRUPT) if CORRUPT in df.columns else F.lit(None).cast("string")
    texts = [source_id, *fields.values(), *[_text(df, v) for v in source.custom.values()]]
    undecoded = reduce(lambda a, b: a | b, [F.coalesce(t.contains(REPLACEMENT), F.lit(False))
                                            for t in texts])  # fmt: skip
    reason = (
        F.when(corrupt.isNotNull(), F.lit("malformed_row"))
        .when(source_id.isNull() | (source_id == ""), F.lit("missing_record_id"))
        .when(
            source_id.rlike(r"[\x00-\x1f\x7f]") | (F.length(source_id) > MAX_ID_LENGTH),
            F.lit("invalid_record_id"),
        )
        .when(undecoded, F.lit("invalid_encoding"))
        .when(
            raw_ts.isNotNull() & (F.trim(raw_ts.cast("string")) != "") & event_ts.isNull(),
            F.lit("unparseable_event_ts"),
        )
    )
    row = F.to_json(F.struct(*[F.col(f"`{c}`") for c in df.columns if c != CORRUPT]))
    raw = F.coalesce(corrupt, row)
    return df.select(
        F.concat(F.lit(source.name + ":"), source_id).alias(C.RECORD_ID),
        F.lit(source.name).alias(C.SOURCE),
        source_id.alias(C.SOURCE_RECORD_ID),
        event_ts.alias(C.EVENT_TS),
        *[col.alias(name) for name, col in fields.items()],
        custom.alias(C.CUSTOM),
        raw.alias(C.RAW),
        reason.alias(_REASON),
        _row_hash(df).alias(_ROW_HASH),
    )


def _row_hash(df: DataFrame) -> Column:
    """xxhash64 of the row's columns (map columns left out: Spark cannot hash maps)."""

    def hashable(dtype: T.DataType) -> bool:
        if isinstance(dtype, T.MapType):
            return False
        if isinstance(dtype, T.StructType):
            return all(hashable(f.dataType) for f in dtype.fields)
        if isinstance(dtype, T.ArrayType):
            return hashable(dtype.elementType)
        return True

    columns = [F.col(f"`{f.name}`") for f in df.schema.fields if hashable(f.dataType)]
    return F.xxhash64(F.lit(0), *columns)


def _str(name: str) -> Column:
    return F.col(f"`{name}`").cast("string")


def _text(df: DataFrame, name: str) -> Column:
    """A mapped column as text. Whole numbers stored as floating point or decimals are written
    without exponent or fraction (``4.1555501E9`` -> ``4155550100``, not ``4.1555501E9``);
    NaN and infinities become null."""
    col = F.col(f"`{name}`")
    dtype = df.schema[name].dataType
    if isinstance(dtype, T.FloatType | T.DoubleType):
        finite = ~F.isnan(col) & (F.abs(col) < 1e18)
        whole = finite & (col == F.floor(col))
        return F.when(whole, col.cast("decimal(38,0)").cast("string")).when(
            finite, col.cast("string")
        )
    if isinstance(dtype, T.DecimalType) and dtype.scale > 0:
        return F.when(
            col == F.floor(col), F.floor(col).cast("decimal(38,0)").cast("string")
        ).otherwise(col.cast("string"))
    return col.cast("string")


def _event_time(df: DataFrame, name: str | None, fmt: str | None) -> tuple[Column, Column]:
    """(raw value, parsed timestamp) for the mapped event-time column; strings parse leniently."""
    if name is None:
        return F.lit(None), F.lit(None).cast("timestamp")
    col = F.col(f"`{name}`")
    dtype = df.schema[name].dataType
    if isinstance(dtype, T.TimestampType | T.TimestampNTZType | T.DateType):
        return col, col.cast("timestamp")
    if isinstance(dtype, T.NumericType):  # epoch seconds, within the years 1-9999
        # NaN, infinities and values out of range (microseconds read as seconds) parse to
        # null, so the row is quarantined instead of the cast failing the run (NaN compares
        # greater than every number in Spark, so the range test excludes it)
        in_range = col.between(EPOCH_SECONDS_MIN, EPOCH_SECONDS_MAX)
        return col, F.when(in_range, F.timestamp_seconds(col.cast("long")))
    text = F.trim(col.cast("string"))
    if fmt:  # an explicit format is the only way the column is read
        return col, F.try_to_timestamp(text, F.lit(fmt))
    parsed = F.try_to_timestamp(text)
    epoch = (  # digits only: epoch seconds (9-10 digits) or milliseconds (12-13 digits)
        F.when(
            text.rlike(r"^[0-9]{9,10}$"),
            F.timestamp_seconds(F.try_to_number(text, F.lit("9999999999"))),
        ).when(
            text.rlike(r"^[0-9]{12,13}$"),
            F.timestamp_millis(F.try_to_number(text, F.lit("9999999999999")).cast("long")),
        )
    )
    return col, F.coalesce(epoch, parsed)
