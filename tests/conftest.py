"""One lazily created, session-scoped local SparkSession for every Spark test.

local[2], two shuffle partitions, UI off, UTC, Arrow on. Tests that need Spark take the
``spark`` fixture; pure-Python tests never start the JVM.

Test JARs: ``./dev test`` fetches the GraphFrames / Delta Lake / Iceberg JARs that
``build/jars/spark-X.Y/pom.xml`` pins for the installed PySpark and names their folder in
``IDRES_TEST_JARS``; the session gets them through ``spark.jars`` (and the driver's class path,
which Spark reads before it loads session extensions such as Delta's). A test that needs one
asks ``require_jar("graphframes" | "delta" | "iceberg")``: it runs when the JAR's classes load,
fails under CI (``CI=true``) when the pom pins the JAR but it is missing, and skips otherwise.
"""

from __future__ import annotations

import glob
import os
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
# CI runs two test lines side by side on 2 cores, so JVM CPU is test time. Every JVM the tests
# start (the CLI runs, spark-submit's) lives for a run or two: C1's code only, as C2's would
# not pay back its compile time; one GC thread and no concurrent marking (G1's threads cost
# about 7% of the JVM's CPU). The session's own JVM lives for the whole line: C2 too (below)
os.environ.setdefault("JDK_JAVA_OPTIONS", "-XX:+UseSerialGC -XX:TieredStopAtLevel=1")

ROOT = Path(__file__).resolve().parent.parent
# feature -> (the groupId that pins it in build/jars/<line>/pom.xml, a class its JAR provides)
JAR_FEATURES = {
    "graphframes": ("io.graphframes", "org.graphframes.GraphFrame"),
    "delta": ("io.delta", "io.delta.tables.DeltaTable"),
    "iceberg": ("org.apache.iceberg", "org.apache.iceberg.spark.SparkCatalog"),
}


def jar_files() -> list[str]:
    """The JAR files in ``IDRES_TEST_JARS`` (none when it is unset)."""
    folder = os.environ.get("IDRES_TEST_JARS")
    return sorted(glob.glob(os.path.join(folder, "*.jar"))) if folder else []


def pinned_groups(spark_version: str) -> tuple[str, set[str]]:
    """``build/jars/spark-X.Y`` for this Spark and the groupIds its pom pins."""
    line = "spark-" + ".".join(spark_version.split(".")[:2])
    pom = ROOT / "build" / "jars" / line / "pom.xml"
    if not pom.is_file():
        return f"build/jars/{line}", set()
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    root = ET.parse(pom).getroot()
    groups = root.findall("m:dependencies/m:dependency/m:groupId", ns)
    return f"build/jars/{line}", {g.text.strip() for g in groups if g.text}


def class_loads(spark, name: str) -> bool:
    try:
        loader = spark.sparkContext._jvm.java.lang.Thread.currentThread().getContextClassLoader()
        loader.loadClass(name)
        return True
    except Exception:  # Py4JJavaError wrapping ClassNotFoundException
        return False


@pytest.fixture(scope="session")
def spark():
    from idres_spark.session import build_local_session, jar_settings

    checkpoint_dir = tempfile.mkdtemp(prefix="idres-test-ckpt-")
    session = build_local_session(
        app_name="idres-spark-tests",
        master="local[2]",
        extra_conf={
            "spark.sql.shuffle.partitions": "2",
            "spark.default.parallelism": "2",
            "spark.sql.adaptive.enabled": "false",
            "spark.rdd.compress": "false",
            "spark.sql.codegen.wholeStage": "false",
            # managed tables of the publishing tests go to a temporary folder, not ./
            "spark.sql.warehouse.dir": tempfile.mkdtemp(prefix="idres-test-warehouse-"),
            **jar_settings(jar_files()),
        },
        checkpoint_dir=checkpoint_dir,
        java_options="-XX:TieredStopAtLevel=4",  # after JDK_JAVA_OPTIONS' flags, so it wins
    )
    yield session
    session.stop()


@pytest.fixture(scope="session")
def require_jar(spark):
    """``require_jar("graphframes")``: return if the JAR's classes load, else fail or skip."""

    def require(feature: str) -> None:
        group, class_name = JAR_FEATURES[feature]
        if class_loads(spark, class_name):
            return
        folder, pinned = pinned_groups(spark.version)
        if group not in pinned:
            pytest.skip(
                f"no {feature} JAR is pinned for Spark {spark.version} ({folder}/pom.xml says why)"
            )
        message = (
            f"{feature}: {folder}/pom.xml pins {group}, but {class_name} is not on the test "
            f"session's class path (IDRES_TEST_JARS={os.environ.get('IDRES_TEST_JARS')!r}; "
            "./dev test fetches the JARs with mvn)"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)

    return require


@pytest.fixture(autouse=True)
def _clean_spark_state(request):
    yield
    if "spark" in request.fixturenames:
        session = request.getfixturevalue("spark")
        session.catalog.clearCache()
        for table in session.catalog.listTables():
            if table.isTemporary:
                session.catalog.dropTempView(table.name)
