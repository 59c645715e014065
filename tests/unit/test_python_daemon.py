"""The local session's Python daemon takes Spark's own archives off its workers' import path
only where pyspark and py4j import without them."""

from __future__ import annotations

from pathlib import Path

from idres_spark.python_daemon import without_spark_archives


def package(folder: Path, name: str) -> None:
    (folder / name).mkdir(parents=True)
    (folder / name / "__init__.py").write_text("")


def archive(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"PK\x05\x06" + bytes(18))  # an empty ZIP
    return str(path)


def test_archives_inside_the_installed_pyspark_go_the_rest_stays(tmp_path):
    site = tmp_path / "site-packages"
    package(site, "pyspark")
    package(site, "py4j")
    jar = archive(site / "pyspark" / "jars" / "spark-core_2.13-4.1.4.jar")
    bundled = archive(site / "pyspark" / "python" / "lib" / "pyspark.zip")
    users = archive(tmp_path / "deps.zip")  # not Spark's: a user's --py-files archive
    path = [str(tmp_path / "cwd"), jar, bundled, users, str(site)]
    assert without_spark_archives(path) == [str(tmp_path / "cwd"), users, str(site)]


def test_a_spark_whose_pyspark_lives_in_its_archives_keeps_them(tmp_path):
    home = tmp_path / "spark"  # a cluster's Spark: pyspark only in python/lib/pyspark.zip
    bundled = archive(home / "python" / "lib" / "pyspark.zip")
    jar = archive(home / "jars" / "spark-core_2.12-3.5.9.jar")
    site = tmp_path / "site-packages"
    package(site, "py4j")
    path = [bundled, jar, str(site)]
    assert without_spark_archives(path) is path


def test_without_py4j_beside_pyspark_the_path_stays(tmp_path):
    site = tmp_path / "site-packages"
    package(site, "pyspark")
    jar = archive(site / "pyspark" / "jars" / "spark-core_2.13-4.1.4.jar")
    path = [jar, str(site)]
    assert without_spark_archives(path) is path


def test_a_path_without_archives_is_returned_as_it_is(tmp_path):
    path = [str(tmp_path)]
    assert without_spark_archives(path) is path
