"""Publishing a run's tables (idres_spark.publish.tables): Delta Lake path and catalog tables,
Iceberg catalog tables, Parquet views; one atomic commit per table and run, never twice, never
an older run over a newer one, the previous tables intact when a commit fails."""

from __future__ import annotations

import threading
import uuid

import pytest
from chispa import assert_df_equality

from idres_spark.config import OutputConfig
from idres_spark.errors import PublishError
from idres_spark.publish.tables import publish_tables
from idres_spark.state import store

pytestmark = pytest.mark.spark

PROFILES = "profile_id string, email string"
MERGES = "run_id string, source_profile_id string, profile_id string, merge_date date"


def write_run(spark, root: str, seq: int, profiles: list[tuple], merges: list[tuple]) -> str:
    """A published run folder with profiles, record_map and the merge log so far."""
    run_id = f"{seq:06d}-2025010{seq}-abcdef12"
    run_dir = f"runs/{run_id}-{uuid.uuid4().hex[:8]}"
    folder = f"{root}/{run_dir}"
    spark.createDataFrame(profiles, PROFILES).write.parquet(f"{folder}/profiles")
    rows = [(p, f"crm:{p}") for p, _ in profiles]
    spark.createDataFrame(rows, "profile_id string, record_id string").write.parquet(
        f"{folder}/record_map"
    )
    spark.createDataFrame(merges, MERGES).write.partitionBy("merge_date").parquet(
        f"{folder}/merge_log"
    )
    store.publish(spark, root, seq, run_id, run_dir, "incremental")
    return folder


def two_runs(spark, root: str) -> tuple[str, str]:
    import datetime as dt

    day1, day2 = dt.date(2025, 1, 1), dt.date(2025, 1, 2)
    first_merges = [("000001-20250101-abcdef12", "p9", "p1", day1)]
    first = write_run(spark, root, 1, [("p1", "ann@x.com"), ("p2", "bo@y.org")], first_merges)
    # run 2: p1 merged away into p2, p2's email changed, p3 and p4 new
    second = write_run(
        spark, root, 2, [("p2", "bob@y.org"), ("p3", "cy@z.net"), ("p4", "di@z.net")],
        first_merges + [("000002-20250102-abcdef12", "p1", "p2", day2)],
    )  # fmt: skip
    return first, second


def read_profiles(spark, ref: str, version=None):
    suffix = "" if version is None else f" VERSION AS OF {version}"
    return spark.sql(f"SELECT * FROM {ref}{suffix}").orderBy("profile_id")


def test_delta_path_tables_one_commit_per_run_history_and_no_duplicates(
    spark, require_jar, tmp_path
):
    require_jar("delta")
    root = str(tmp_path / "state")
    output = OutputConfig(path=root, format="delta")
    first, second = two_runs(spark, root)
    assert publish_tables(spark, output, store.published_runs(spark, root)[0])["profiles"] == (
        "written"
    )
    outcome = publish_tables(spark, output)
    assert outcome == {
        "profiles": "merged", "record_map": "merged", "merge_log": "appended",
        "quarantine": "absent", "hubs": "absent", "pruned_groups": "absent",
        "transformation_no_merge": "absent", "golden_override_status": "absent",
        "override_status": "absent", "erasure_audit": "absent",
        "events": "absent", "profile_field_provenance": "absent",
    }  # fmt: skip
    profiles = f"delta.`{root}/tables/profiles`"
    assert_df_equality(read_profiles(spark, profiles), spark.read.parquet(f"{second}/profiles"),
                       ignore_row_order=True)  # fmt: skip
    # the first run stays readable by time travel
    assert_df_equality(read_profiles(spark, profiles, 0), spark.read.parquet(f"{first}/profiles"),
                       ignore_row_order=True)  # fmt: skip
    merge_log = spark.sql(f"SELECT * FROM delta.`{root}/tables/merge_log`")
    assert sorted(r.source_profile_id for r in merge_log.collect()) == ["p1", "p9"]
    history = spark.sql(f"DESCRIBE HISTORY {profiles}").where("userMetadata IS NOT NULL")
    commits = {r.operation: r for r in history.collect()}
    assert set(commits) == {"WRITE", "MERGE"} and "000002-" in commits["MERGE"].userMetadata
    # the MERGE wrote the changed rows only: p2 updated, p3 and p4 inserted, p1 deleted,
    # nothing copied unchanged
    merged = commits["MERGE"].operationMetrics
    assert (merged["numTargetRowsUpdated"], merged["numTargetRowsInserted"]) == ("1", "2")
    assert (merged["numTargetRowsDeleted"], merged["numTargetRowsCopied"]) == ("1", "0")
    # publishing again (a retry) writes nothing: no new commit, no row twice
    versions = spark.sql(f"DESCRIBE HISTORY {profiles}").count()
    again = publish_tables(spark, output)
    assert {v for v in again.values() if v != "absent"} == {"unchanged"}
    assert spark.sql(f"SELECT * FROM delta.`{root}/tables/merge_log`").count() == 2
    assert spark.sql(f"DESCRIBE HISTORY {profiles}").count() == versions


def test_a_failed_delta_commit_leaves_the_previous_tables_and_a_retry_completes(
    spark, require_jar, tmp_path
):
    require_jar("delta")
    root = str(tmp_path / "state")
    output = OutputConfig(path=root, format="delta", schema="idres_fail_" + uuid.uuid4().hex[:6])
    first, second = two_runs(spark, root)
    publish_tables(spark, output, store.published_runs(spark, root)[0])
    profiles = f"{output.schema_name}.profiles"
    before = spark.table(profiles).collect()
    # a data file of the second run's record map is unreadable: its commit never happens
    part = next((tmp_path / "state").glob(f"{second[len(root) + 1 :]}/record_map/part-*"))
    good = part.read_bytes()
    part.write_bytes(b"not parquet")
    with pytest.raises(PublishError) as failed:
        publish_tables(spark, output)
    assert failed.value.code == "publish_failed"
    assert "record_map" in failed.value.message and "idres-spark publish" in failed.value.message
    # the failing table and the ones after it hold the first run, readable and unchanged
    assert sorted(spark.table(profiles).collect()) == sorted(before)
    assert spark.table(f"{output.schema_name}.record_map").count() == 2
    # the merge log (published before the failure) already gained the second run's rows
    assert spark.table(f"{output.schema_name}.merge_log").count() == 2
    part.write_bytes(good)
    spark.catalog.clearCache()
    outcome = publish_tables(spark, output)
    assert outcome["merge_log"] == "unchanged" and outcome["profiles"] == "merged"
    assert spark.table(f"{output.schema_name}.merge_log").count() == 2  # not duplicated
    assert_df_equality(read_profiles(spark, profiles), spark.read.parquet(f"{second}/profiles"),
                       ignore_row_order=True)  # fmt: skip
    spark.sql(f"DROP SCHEMA {output.schema_name} CASCADE")


def test_iceberg_tables_carry_the_run_and_a_tag_per_run(spark, require_jar, tmp_path):
    require_jar("iceberg")
    catalog = "idres_publish_ice"
    spark.conf.set(f"spark.sql.catalog.{catalog}", "org.apache.iceberg.spark.SparkCatalog")
    spark.conf.set(f"spark.sql.catalog.{catalog}.type", "hadoop")
    spark.conf.set(f"spark.sql.catalog.{catalog}.warehouse", str(tmp_path / "warehouse"))
    root = str(tmp_path / "state")
    output = OutputConfig(path=root, format="iceberg", catalog=catalog, schema="idres",
                          table_prefix="c1_")  # fmt: skip
    first, second = two_runs(spark, root)
    runs = store.published_runs(spark, root)
    publish_tables(spark, output, runs[0])
    outcome = publish_tables(spark, output)
    assert (outcome["merge_log"], outcome["profiles"]) == ("appended", "merged")
    profiles = f"{catalog}.idres.c1_profiles"
    assert_df_equality(read_profiles(spark, profiles), spark.read.parquet(f"{second}/profiles"),
                       ignore_row_order=True)  # fmt: skip
    earlier = read_profiles(spark, profiles, "'idres-run-000001'")
    assert_df_equality(earlier, spark.read.parquet(f"{first}/profiles"), ignore_row_order=True)
    tags = spark.sql(f"SELECT name FROM {profiles}.refs WHERE type = 'TAG'").collect()
    assert sorted(t.name for t in tags) == ["idres-run-000001", "idres-run-000002"]
    summary = spark.sql(f"SELECT summary FROM {profiles}.snapshots").collect()
    assert summary[0].summary["idres.run_id"] == runs[0].run_id
    assert publish_tables(spark, output)["profiles"] == "unchanged"
    assert spark.table(f"{catalog}.idres.c1_merge_log").count() == 2
    with pytest.raises(PublishError) as older:
        publish_tables(spark, output, runs[0])
    assert older.value.code == "older_run"


def test_parquet_views_switch_in_place_and_answer_a_second_session_throughout(spark, tmp_path):
    schema = "idres_views_" + uuid.uuid4().hex[:6]
    root = str(tmp_path / "state")
    output = OutputConfig(path=root, schema=schema)
    first, second = two_runs(spark, root)
    runs = store.published_runs(spark, root)
    publish_tables(spark, output, runs[0])
    reader = spark.newSession()
    counts, errors, stop = set(), [], threading.Event()

    def read() -> None:
        while not stop.is_set():
            try:
                counts.add(reader.sql(f"SELECT count(*) AS n FROM {schema}.profiles").first().n)
            except Exception as exc:  # noqa: BLE001 - the test reports any error
                errors.append(exc)

    old_view = f"SELECT * FROM parquet.`{first}/profiles`"
    thread = threading.Thread(target=read)
    thread.start()
    try:
        for _ in range(3):  # back to the first run by hand, then the second run published
            spark.sql(f"ALTER VIEW {schema}.profiles AS {old_view}")
            spark.sql(f"ALTER VIEW {schema}.profiles SET TBLPROPERTIES ('idres.seq' = '1')")
            assert publish_tables(spark, output)["profiles"] == "written"
    finally:
        stop.set()
        thread.join()
    assert errors == [] and counts <= {2, 3} and counts
    properties = dict(spark.sql(f"SHOW TBLPROPERTIES {schema}.profiles").collect())
    assert properties["idres.seq"] == "2" and properties["idres.run_id"].startswith("000002-")
    assert_df_equality(read_profiles(spark, f"{schema}.profiles"),
                       spark.read.parquet(f"{second}/profiles"), ignore_row_order=True)  # fmt: skip
    assert reader.table(f"{schema}.merge_log").count() == 2
    spark.sql(f"DROP SCHEMA {schema} CASCADE")


def test_tables_of_something_else_are_refused_untouched(spark, tmp_path):
    schema = "idres_refuse_" + uuid.uuid4().hex[:6]
    spark.sql(f"CREATE SCHEMA {schema}")
    spark.sql(f"CREATE VIEW {schema}.profiles AS SELECT 1 AS one")
    root = str(tmp_path / "state")
    two_runs(spark, root)
    with pytest.raises(PublishError) as foreign:
        publish_tables(spark, OutputConfig(path=root, schema=schema))
    assert foreign.value.code == "table_not_ours" and f"`{schema}`.`profiles`" in str(foreign.value)
    assert spark.table(f"{schema}.profiles").first().one == 1
    other = str(tmp_path / "other")
    two_runs(spark, other)
    publish_tables(spark, OutputConfig(path=other, schema=schema, table_prefix="x_"))
    with pytest.raises(PublishError) as taken:
        publish_tables(spark, OutputConfig(path=root, schema=schema, table_prefix="x_"))
    assert taken.value.code == "table_of_another_state" and other in taken.value.message
    spark.sql(f"DROP SCHEMA {schema} CASCADE")


def test_a_session_without_the_catalog_is_refused_before_any_work(spark):
    from idres_spark.publish.tables import check_engine

    output = OutputConfig(path="/tmp/x", format="iceberg", catalog="nowhere", schema="idres")
    with pytest.raises(PublishError) as missing:
        check_engine(spark, output)
    assert missing.value.code in {"catalog_missing", "iceberg_missing"}
    assert "spark.sql" in missing.value.message


def test_a_merge_log_without_rows_publishes_as_an_empty_view(spark, tmp_path):
    schema = "idres_empty_" + uuid.uuid4().hex[:6]
    root = str(tmp_path / "state")
    write_run(spark, root, 1, [("p1", "ann@x.com")], [])  # no merges: no data files
    publish_tables(spark, OutputConfig(path=root, schema=schema))
    empty = spark.table(f"{schema}.merge_log")
    assert empty.count() == 0 and "source_profile_id" in empty.columns
    spark.sql(f"DROP SCHEMA {schema} CASCADE")
