"""Make a published run's tables current where users query them.

The state stays where it always is: complete run folders under ``output.path`` and the
pointer that publishes each one (:mod:`idres_spark.state.store`). After the pointer, this
step makes the run's tables current under ``output.format``:

- ``parquet`` without ``schema``: nothing to do (readers follow the pointer, or
  :func:`idres_spark.state.table_path`);
- ``parquet`` with ``schema``: one view per table over the run folder's Parquet, switched
  with ``ALTER VIEW ... AS`` (the view, its grants and properties stay; a reader sees the old
  run's files or the new run's, never a missing view);
- ``delta``: one Delta table per table, under ``<output.path>/tables/<name>`` or, with
  ``schema``, as the catalog table ``[catalog.]schema.<prefix><name>``;
- ``iceberg``: one Iceberg table per table in the catalog ``output.catalog``.

Each table changes by one atomic commit per run, which carries the run: Delta's commit
``userMetadata`` and its idempotent-write transaction (``txnAppId``: the state, ``txnVersion``:
the run's sequence number), Iceberg's snapshot properties ``idres.*`` and a tag
``idres-run-<seq>`` per run. Before writing, each table's newest run is read back from that
record: a table that already holds the run is skipped (a retried or repeated publish writes
nothing twice); one that holds a newer run is refused. When a table holds the run an
incremental run built on, only what changed is written: the merge log, which only grows,
gains the run's own rows, and ``profiles``, ``record_map`` and ``profile_field_provenance``
take a ``MERGE`` by key that touches the rows that differ (Delta deletion vectors and
Iceberg merge-on-read keep that write proportional to the changed rows). Everything else,
and every table of an overwrite run, is replaced whole.

Tables change one after the other (diagnostics first, profiles last); each is whole at every
moment, and each says which run it holds. A failure leaves the tables not yet changed as they
were and raises :class:`PublishError`; ``idres-spark publish`` finishes the job.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from idres_spark import columns as C
from idres_spark.config import OutputConfig
from idres_spark.errors import PublishError
from idres_spark.profiles.merge_log import read_merge_log
from idres_spark.state.storage import FileSystem
from idres_spark.state.store import PublishedRun, published_runs

log = logging.getLogger(__name__)

# (table in the run folder, published name), in publishing order: the profiles last
TABLES = (
    ("diagnostics/quarantine", "quarantine"),
    ("diagnostics/hubs", "hubs"),
    ("diagnostics/pruned_groups", "pruned_groups"),
    ("diagnostics/transformation_no_merge", "transformation_no_merge"),
    ("diagnostics/golden_override_status", "golden_override_status"),
    ("diagnostics/override_status", "override_status"),
    ("diagnostics/erasure_audit", "erasure_audit"),
    ("events", "events"),
    ("profile_field_provenance", "profile_field_provenance"),
    ("merge_log", "merge_log"),
    ("record_map", "record_map"),
    ("profiles", "profiles"),
)
APPEND_ONLY = {"merge_log"}  # tables that only grow: a run adds its own rows (its run_id)
# tables an incremental run changes in place by key: MERGE writes only the rows that changed
KEYS = {
    "profiles": ("profile_id",),
    "record_map": ("record_id",),
    "profile_field_provenance": ("profile_id", "field"),
}
# row-level changes as delete markers plus new rows, not rewritten data files, so a MERGE
# that changes a few rows writes a few rows (Delta deletion vectors, Iceberg merge-on-read)
ROW_LEVEL = {
    "delta": {"delta.enableDeletionVectors": "true"},
    "iceberg": {
        "write.merge.mode": "merge-on-read",
        "write.update.mode": "merge-on-read",
        "write.delete.mode": "merge-on-read",
    },
}
PARTITIONS = {"merge_log": ["merge_date"]}
TABLES_FOLDER = "tables"  # <output.path>/tables/<name>: Delta tables without a catalog name
TAG = "idres-run-{seq:06d}"  # an Iceberg tag per run
DELTA_CLASS = "io.delta.tables.DeltaTable"
ICEBERG_CLASS = "org.apache.iceberg.spark.SparkCatalog"
ICEBERG_EXTENSIONS = "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions"


@dataclass(frozen=True)
class Held:
    """What a published table says it holds: the state it belongs to and its newest run."""

    state: str
    seq: int
    run_id: str


@dataclass(frozen=True)
class Target:
    """One published table: its name and where it lives."""

    name: str  # the published name, without the prefix
    identifier: str | None  # the quoted catalog name, or None for a path-based Delta table
    path: str | None  # the path-based Delta table's folder

    @property
    def ref(self) -> str:
        """The table as SQL names it."""
        return self.identifier or f"delta.{_quote(self.path or '')}"


def targets(output: OutputConfig) -> dict[str, Target]:
    """Run-folder table -> where it is published, in publishing order (none for plain
    Parquet: the run folders are the tables)."""
    if output.format == "parquet" and not output.schema_name:
        return {}
    found = {}
    for table, name in TABLES:
        full = f"{output.table_prefix}{name}"
        if output.schema_name:
            parts = [p for p in (output.catalog, output.schema_name, full) if p]
            found[table] = Target(name, ".".join(_quote(p) for p in parts), None)
        else:
            found[table] = Target(name, None, f"{output.path.rstrip('/')}/{TABLES_FOLDER}/{full}")
    return found


def check_engine(spark: SparkSession, output: OutputConfig) -> None:
    """Refuse, before any work, a format whose JAR or catalog the session lacks."""
    if output.format == "delta" and not _class_loads(spark, DELTA_CLASS):
        raise PublishError(
            "output.format is delta, but Delta Lake is not on this Spark session: add the "
            "delta-spark JAR of your Spark line (spark-submit --packages "
            "io.delta:delta-spark_2.12:3.3.3 on Spark 3.5, io.delta:delta-spark_4.1_2.13:4.4.0 "
            "on Spark 4.1; Databricks has it) with spark.sql.extensions="
            "io.delta.sql.DeltaSparkSessionExtension and spark.sql.catalog.spark_catalog="
            "org.apache.spark.sql.delta.catalog.DeltaCatalog (docs/deploy.md)",
            code="delta_missing",
        )
    if output.format == "iceberg":
        catalog = output.catalog or "spark_catalog"
        extensions = spark.conf.get("spark.sql.extensions", "") or ""
        if not _class_loads(spark, ICEBERG_CLASS) or ICEBERG_EXTENSIONS not in extensions:
            raise PublishError(
                "output.format is iceberg, but the Iceberg runtime or its SQL extensions are "
                "not on this Spark session: add iceberg-spark-runtime for your Spark line and "
                f"spark.sql.extensions={ICEBERG_EXTENSIONS} (docs/deploy.md)",
                code="iceberg_missing",
            )
        if output.catalog and not spark.conf.get(f"spark.sql.catalog.{catalog}", None):
            raise PublishError(
                f"output.catalog is {catalog}, but this Spark session has no catalog of that "
                f"name: set spark.sql.catalog.{catalog}=org.apache.iceberg.spark.SparkCatalog "
                "and its type or URI (docs/deploy.md)",
                code="catalog_missing",
            )


def publish_tables(
    spark: SparkSession, output: OutputConfig, run: PublishedRun | None = None
) -> dict[str, str]:
    """Make the published run ``run`` (default: the current one) current in every table of
    ``output.format``; returns table -> what happened (``written``, ``appended``,
    ``unchanged``: it held the run already, ``absent``: the run has no such table)."""
    where = targets(output)
    if not where:
        return {}
    root = output.path.rstrip("/")
    runs = published_runs(spark, root)
    if run is None:
        if not runs:
            raise PublishError(f"nothing is published under {root}: run the job first",
                               code="no_published_run")  # fmt: skip
        run = runs[-1]
    earlier = [r.seq for r in runs if r.seq < run.seq]
    base = earlier[-1] if earlier else None  # the run this one was written on top of
    fs = FileSystem(spark, root)
    state = fs.qualify(root)
    folder = f"{root}/{run.run_dir}"
    if output.schema_name:
        _ensure_schema(spark, output)
    outcome = {}
    for table, target in where.items():
        source = f"{folder}/{table}"
        if not fs.exists(source):
            outcome[target.name] = "absent"
            continue
        try:
            outcome[target.name] = _publish_one(spark, output, target, source, state, run, base)
        except PublishError:
            raise
        except Exception as exc:
            raise PublishError(
                f"run {run.run_id} is published in the state, but the table {target.ref} could "
                f"not be updated ({_first_line(exc)}); the tables not yet updated keep the "
                "previous run. Fix the cause, then run `idres-spark publish --config <file>` "
                "(it writes only what is missing)",
                code="publish_failed",
            ) from exc
        log.info("published %s: %s", target.ref, outcome[target.name])
    return outcome


def _publish_one(
    spark: SparkSession,
    output: OutputConfig,
    target: Target,
    source: str,
    state: str,
    run: PublishedRun,
    base: int | None,
) -> str:
    held = _held(spark, output.format, target)
    if held is not None and held.state != state:
        raise PublishError(
            f"the table {target.ref} holds the tables of another state ({held.state}), not of "
            f"{state}; give this output its own `output.schema` or `output.table_prefix`",
            code="table_of_another_state",
        )
    if held is not None and held.seq > run.seq:
        raise PublishError(
            f"the table {target.ref} holds run {held.run_id}, newer than run {run.run_id}; an "
            "older run is never published over a newer one",
            code="older_run",
        )
    if held is not None and held.seq == run.seq:
        return "unchanged"
    # a merge log without rows has no files to read a schema from: its reader knows it
    frame = (
        read_merge_log(spark, source) if target.name == "merge_log" else spark.read.parquet(source)
    )
    marker = {"idres.state": state, "idres.seq": str(run.seq), "idres.run_id": run.run_id}
    if output.format == "parquet":
        _switch_view(spark, target, source, frame, marker)
        return "written"
    # the table holds the run this incremental run continued: the merge log gains this run's
    # rows, keyed tables change the rows that differ (an overwrite run starts afresh)
    continued = run.mode == "incremental" and held is not None and held.seq == base
    if continued and target.name in APPEND_ONLY:
        frame = frame.where(F.col(C.RUN_ID) == run.run_id)
        how = "appended"
    elif (
        continued
        and target.name in KEYS
        and set(KEYS[target.name]) <= set(frame.columns)
        and _same_columns(spark.table(target.ref), frame)
    ):
        how = "merged"
    else:
        how = "written"
    if output.format == "delta":
        _write_delta(spark, frame, source, target, marker, run.seq, how, output.history_days)
    else:
        _write_iceberg(spark, frame, source, target, marker, run.seq, how, output.history_days)
    return how


def _held(spark: SparkSession, fmt: str, target: Target) -> Held | None:
    """The newest run a published table records, None when it does not exist yet; a table
    that exists without the job's record is refused (it is someone else's)."""
    if not _exists(spark, target):
        return None
    if fmt == "parquet":
        rows = spark.sql(f"SHOW TBLPROPERTIES {target.ref}").collect()
        found = _held_from({r["key"]: r["value"] for r in rows})
    elif fmt == "delta":
        history = spark.sql(f"DESCRIBE HISTORY {target.ref}").select("version", "userMetadata")
        found = None
        for row in sorted(history.collect(), key=lambda r: r["version"], reverse=True):
            found = _held_from(_json(row["userMetadata"]))
            if found is not None:
                break
    else:
        found = _held_iceberg(spark, target)
    if found is None:
        raise PublishError(
            f"the table {target.ref} exists but no idres-spark run wrote it; it is left as it "
            "is. Give the output its own `output.schema` or `output.table_prefix`, or drop it",
            code="table_not_ours",
        )
    return found


def _held_iceberg(spark: SparkSession, target: Target) -> Held | None:
    """The newest run of an Iceberg table: from its snapshots' summaries, or from its run
    tags (a MERGE's snapshot may lack the summary where the Iceberg release cannot set it
    from SQL); the tags belong to the state in the table property ``idres.state``."""
    held = []
    for row in spark.sql(f"SELECT summary FROM {target.ref}.snapshots").collect():
        found = _held_from(dict(row["summary"] or {}))
        if found is not None:
            held.append(found)
    properties = {
        r["key"]: r["value"] for r in spark.sql(f"SHOW TBLPROPERTIES {target.ref}").collect()
    }
    if "idres.state" in properties:
        refs = spark.sql(f"SELECT name FROM {target.ref}.refs WHERE type = 'TAG'").collect()
        prefix = TAG.split("{", 1)[0]
        for row in refs:
            number = row["name"][len(prefix) :]
            if row["name"].startswith(prefix) and number.isdigit():
                held.append(Held(properties["idres.state"], int(number), ""))
    return max(held, key=lambda h: (h.seq, h.run_id != "")) if held else None


def _held_from(values: dict[str, str]) -> Held | None:
    if "idres.seq" not in values or "idres.state" not in values:
        return None
    return Held(values["idres.state"], int(values["idres.seq"]), values.get("idres.run_id", ""))


def _json(text: str | None) -> dict[str, str]:
    try:
        value = json.loads(text or "")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _exists(spark: SparkSession, target: Target) -> bool:
    if target.path is not None:
        return FileSystem(spark, target.path).exists(f"{target.path}/_delta_log")
    return bool(spark.catalog.tableExists(_unquoted(target.identifier or "")))


def _write_delta(
    spark: SparkSession,
    frame: DataFrame,
    source: str,
    target: Target,
    marker: dict[str, str],
    seq: int,
    how: str,
    history_days: int,
) -> None:
    """One Delta commit: the whole table (schema too), the run's rows appended, or a MERGE of
    the rows that differ. The transaction ``(state, seq)`` makes Delta itself skip a commit
    it already holds."""
    metadata = json.dumps(marker, sort_keys=True)
    if how == "merged":
        _merge(spark, source, target, {
            "spark.databricks.delta.commitInfo.userMetadata": metadata,
            "spark.databricks.delta.write.txnAppId": _app_id(marker["idres.state"]),
            "spark.databricks.delta.write.txnVersion": str(seq),
        })  # fmt: skip
    else:
        writer = (
            frame.write.format("delta")
            .mode("append" if how == "appended" else "overwrite")
            .option("userMetadata", metadata)
            .option("txnAppId", _app_id(marker["idres.state"]))
            .option("txnVersion", seq)
            .partitionBy(*PARTITIONS.get(target.name, []))
        )
        if how == "written":
            writer = writer.option("overwriteSchema", "true")
        if target.path is not None:
            writer.save(target.path)
        else:
            writer.saveAsTable(_unquoted(target.identifier or ""))
    retention = f"interval {history_days} days"
    wanted = {
        "delta.logRetentionDuration": retention,
        "delta.deletedFileRetentionDuration": retention,
        **(ROW_LEVEL["delta"] if target.name in KEYS else {}),
    }
    properties = {
        r["key"]: r["value"] for r in spark.sql(f"SHOW TBLPROPERTIES {target.ref}").collect()
    }
    missing = {k: v for k, v in wanted.items() if properties.get(k) != v}
    if missing:  # once per table: a metadata commit without data
        pairs = ", ".join(f"'{k}' = '{v}'" for k, v in sorted(missing.items()))
        spark.sql(f"ALTER TABLE {target.ref} SET TBLPROPERTIES ({pairs})")


def _merge(spark: SparkSession, source: str, target: Target, conf: dict[str, str]) -> None:
    """``MERGE INTO`` the table from the run folder's table ``source`` by the table's key:
    rows that differ are updated, new keys inserted, keys no longer there deleted; equal
    rows are not touched. The settings in ``conf`` (the commit's metadata) hold for this
    statement only: the session's earlier values come back after it. (A session of its own
    would not see catalogs configured at run time.)"""
    keys = KEYS[target.name]
    view = f"idres_publish_{target.name}"
    spark.read.parquet(source).createOrReplaceTempView(view)
    columns = spark.table(view).columns
    on = " AND ".join(f"t.{_quote(k)} = s.{_quote(k)}" for k in keys)
    same = " AND ".join(f"t.{_quote(c)} <=> s.{_quote(c)}" for c in columns)
    earlier = {key: spark.conf.get(key, None) for key in conf}
    try:
        for key, value in conf.items():
            spark.conf.set(key, value)
        spark.sql(
            f"MERGE INTO {target.ref} t USING {view} s ON {on} "
            f"WHEN MATCHED AND NOT ({same}) THEN UPDATE SET * "
            "WHEN NOT MATCHED THEN INSERT * "
            "WHEN NOT MATCHED BY SOURCE THEN DELETE"
        )
    finally:
        for key, value in earlier.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)
        spark.catalog.dropTempView(view)


def _same_columns(table: DataFrame, frame: DataFrame) -> bool:
    """Whether a MERGE can carry ``frame`` into ``table``: the same column names and types
    (a new column, such as a new custom field, replaces the table instead)."""

    def shape(df: DataFrame) -> set[tuple[str, str]]:
        return {(f.name, f.dataType.simpleString()) for f in df.schema.fields}

    return shape(table) == shape(frame)


def _app_id(state: str) -> str:
    """Delta's idempotent-write application id: one per state (its qualified path)."""
    return "idres-spark-" + hashlib.sha256(state.encode()).hexdigest()[:16]


def _write_iceberg(
    spark: SparkSession,
    frame: DataFrame,
    source: str,
    target: Target,
    marker: dict[str, str],
    seq: int,
    how: str,
    history_days: int,
) -> None:
    """One Iceberg commit (``REPLACE TABLE ... AS``, which keeps the table's snapshots; an
    append of the run's rows; or a MERGE of the rows that differ) with the run in its
    snapshot summary, then the run's tag ``idres-run-<seq>``."""
    if how == "merged":
        properties = {f"spark.sql.iceberg.snapshot-property.{k}": v for k, v in marker.items()}
        _merge(spark, source, target, properties)
    else:
        writer = frame.writeTo(_unquoted(target.identifier or ""))
        for key, value in marker.items():
            writer = writer.option(f"snapshot-property.{key}", value)
        if how == "appended":
            writer.append()
        else:
            properties = {
                "history.expire.max-snapshot-age-ms": str(history_days * 86_400_000),
                "idres.state": marker["idres.state"],  # whose tags these are (_held)
                **(ROW_LEVEL["iceberg"] if target.name in KEYS else {}),
            }
            writer = writer.using("iceberg")
            for key, value in properties.items():
                writer = writer.tableProperty(key, value)
            for column in PARTITIONS.get(target.name, []):
                writer = writer.partitionedBy(F.col(column))
            writer.createOrReplace()
    spark.sql(
        f"ALTER TABLE {target.ref} CREATE OR REPLACE TAG `{TAG.format(seq=seq)}` "
        f"RETAIN {history_days} DAYS"
    )


def _switch_view(
    spark: SparkSession, target: Target, source: str, frame: DataFrame, marker: dict[str, str]
) -> None:
    """Point the view at the run folder's table: created once, then switched in place. A
    table without data files (a merge log with no rows yet) becomes a view with its columns
    and no rows, since SQL cannot read a schema from no files."""
    fs = FileSystem(spark, source)
    if any(not name.startswith(("_", ".")) for name in fs.list_names(source)):
        query = f"SELECT * FROM parquet.{_quote(fs.qualify(source))}"
    else:
        columns = ", ".join(
            f"CAST(NULL AS {field.dataType.simpleString()}) AS {_quote(field.name)}"
            for field in frame.schema.fields
        )
        query = f"SELECT {columns} WHERE 1 = 0"
    properties = ", ".join(f"'{k}' = {_literal(v)}" for k, v in sorted(marker.items()))
    if _exists(spark, target):
        spark.sql(f"ALTER VIEW {target.ref} AS {query}")
        spark.sql(f"ALTER VIEW {target.ref} SET TBLPROPERTIES ({properties})")
    else:
        spark.sql(f"CREATE VIEW {target.ref} TBLPROPERTIES ({properties}) AS {query}")


def _ensure_schema(spark: SparkSession, output: OutputConfig) -> None:
    parts = [p for p in (output.catalog, output.schema_name) if p]
    spark.sql(f"CREATE NAMESPACE IF NOT EXISTS {'.'.join(_quote(p) for p in parts)}")


def _quote(part: str) -> str:
    return "`" + part.replace("`", "``") + "`"


def _literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _unquoted(identifier: str) -> str:
    """The dotted name the DataFrame API takes (its parts are plain identifiers)."""
    return identifier.replace("`", "")


def _class_loads(spark: SparkSession, name: str) -> bool:
    try:
        jvm = spark.sparkContext._jvm
        jvm.java.lang.Thread.currentThread().getContextClassLoader().loadClass(name)
        return True
    except Exception:  # Py4JJavaError wrapping ClassNotFoundException; Spark Connect
        return False


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
