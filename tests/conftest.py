"""One lazily created, session-scoped local SparkSession for every Spark test.

local[2], two shuffle partitions, UI off, UTC, Arrow on. Tests that need Spark take the
``spark`` fixture; pure-Python tests never start the JVM.
"""

from __future__ import annotations

import os
import sys
import tempfile

import pytest

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)


@pytest.fixture(scope="session")
def spark():
    from idres_spark.session import build_local_session

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
        },
        checkpoint_dir=checkpoint_dir,
    )
    yield session
    session.stop()


@pytest.fixture(autouse=True)
def _clean_spark_state(request):
    yield
    if "spark" in request.fixturenames:
        session = request.getfixturevalue("spark")
        session.catalog.clearCache()
        for table in session.catalog.listTables():
            if table.isTemporary:
                session.catalog.dropTempView(table.name)
