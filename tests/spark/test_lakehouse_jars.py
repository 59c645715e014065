"""The Delta Lake and Iceberg JARs that build/jars pins load in the test session and work:
a Delta write, append and time-travel read, and an Iceberg table in a Hadoop catalog."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.spark


def test_delta_write_append_and_time_travel(spark, require_jar, tmp_path):
    require_jar("delta")
    path = str(tmp_path / "delta")
    spark.range(5).write.format("delta").save(path)
    spark.range(5, 8).write.format("delta").mode("append").save(path)
    now = spark.read.format("delta").load(path)
    before = spark.read.format("delta").option("versionAsOf", 0).load(path)
    assert sorted(r.id for r in now.collect()) == list(range(8))
    assert sorted(r.id for r in before.collect()) == list(range(5))


def test_iceberg_table_in_a_hadoop_catalog(spark, require_jar, tmp_path):
    require_jar("iceberg")
    catalog = "idres_test_iceberg"
    spark.conf.set(f"spark.sql.catalog.{catalog}", "org.apache.iceberg.spark.SparkCatalog")
    spark.conf.set(f"spark.sql.catalog.{catalog}.type", "hadoop")
    spark.conf.set(f"spark.sql.catalog.{catalog}.warehouse", str(tmp_path / "warehouse"))
    table = f"{catalog}.db.numbers"
    spark.sql(f"CREATE TABLE {table} (id bigint) USING iceberg")
    spark.range(3).writeTo(table).append()
    spark.range(3, 5).writeTo(table).append()
    assert sorted(r.id for r in spark.table(table).collect()) == list(range(5))
    snapshots = spark.sql(f"SELECT snapshot_id FROM {table}.snapshots").count()
    assert snapshots == 2
    assert (tmp_path / "warehouse" / "db" / "numbers" / "metadata").is_dir()
