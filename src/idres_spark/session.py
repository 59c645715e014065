"""The one place a SparkSession is built.

Entry points call :func:`get_session`: it reuses the active session (spark-submit, Databricks,
EMR) and only builds a local one when no master is configured. A local session gets
``PYSPARK_PYTHON`` set to the running interpreter and a checkpoint directory.
"""

from __future__ import annotations

import atexit
import glob
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from typing import TYPE_CHECKING

from idres_spark.errors import RuntimeEnvironmentError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

MIN_JAVA = 17
SPARK_JARS_ENV = "IDRES_SPARK_JARS"  # extra JARs for a local session (see _jar_conf)
# Spark 4 lower-cases through ICU unless this is false; 3.5 always uses the JVM's mapping
CASE_MAPPING = "spark.sql.icu.caseMappings.enabled"


def check_java() -> int:
    """Return the major version of ``java`` on the PATH or ``JAVA_HOME``; raise if unusable."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home:  # Spark's launcher uses JAVA_HOME first, so it must be right
        java = os.path.join(java_home, "bin", "java")
        if not os.path.exists(java):
            raise RuntimeEnvironmentError(
                f"JAVA_HOME is {java_home} but {java} does not exist: point JAVA_HOME at a "
                f"Java {MIN_JAVA}+ installation or unset it.",
                code="java_missing",
            )
    else:
        java = shutil.which("java")
    if not java:
        raise RuntimeEnvironmentError(
            f"java not found: idres-spark needs Java {MIN_JAVA} or newer on the PATH "
            "(Debian/Ubuntu: apt-get install openjdk-17-jre-headless) or JAVA_HOME set.",
            code="java_missing",
        )
    try:
        out = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except OSError as exc:  # pragma: no cover - exotic
        raise RuntimeEnvironmentError(f"cannot run {java}: {exc}", code="java_missing") from exc
    major = parse_java_major(out.stderr + out.stdout)
    if major is None or major < MIN_JAVA:
        found = "an unknown version" if major is None else f"Java {major}"
        raise RuntimeEnvironmentError(
            f"{java} is {found}; idres-spark needs Java {MIN_JAVA} or newer "
            "(install openjdk-17 and put it first on the PATH or set JAVA_HOME).",
            code="java_too_old",
        )
    return major


def parse_java_major(version_text: str) -> int | None:
    """``java -version`` output -> major version (``1.8.0_x`` -> 8, ``17.0.15`` -> 17)."""
    match = re.search(r'version "(\d+)(?:\.(\d+))?', version_text)
    if not match:
        return None
    major = int(match.group(1))
    if major == 1 and match.group(2):
        return int(match.group(2))
    return major


def build_local_session(
    app_name: str = "idres-spark",
    master: str = "local[*]",
    extra_conf: dict[str, str] | None = None,
    checkpoint_dir: str | None = None,
    java_options: str = "",
):
    """Build (or reuse) a local-mode session tuned for one machine; ``java_options`` go to the
    driver JVM after the job's own."""
    check_java()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # local mode: no network needed
    from pyspark.sql import SparkSession

    conf = {
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.execution.arrow.maxRecordsPerBatch": "100000",  # fuzzy scoring throughput
        # the record cap bounds a batch; no byte cap spares a size check per row (~7% of the
        # JVM's time in the scoring UDF, docs/benchmarks.md)
        "spark.sql.execution.arrow.maxBytesPerBatch": "2147483647",
        "spark.sql.shuffle.partitions": "8",
        # the one JVM's heap (Spark spills what does not fit): with 4g, G1 grew the heap far
        # past what the run needed (1M records: 3.6-5.1 GiB peak for all processes, 2.7 GiB
        # with 1536m in the same time; 5M: 5.3 -> 3.1 GiB, docs/benchmarks.md)
        "spark.driver.memory": os.environ.get("IDRES_DRIVER_MEMORY", "1536m"),
        "spark.sql.adaptive.enabled": "true",
        # AQE coalesces small shuffle partitions but keeps at least this many, so large stages
        # split evenly over the cores (it made 3 tasks on 2 cores otherwise: one core idle for
        # a third of the stage)
        "spark.sql.adaptive.coalescePartitions.minPartitionNum": "8",
        # lower() through the JVM's case mapping, as on Spark 3.5; ICU's (the Spark 4 default)
        # cost 4 s of the normalization of 1M records
        CASE_MAPPING: "false",
        "spark.python.worker.reuse": "true",
        # the Python workers import pyspark and py4j from this environment, not from the
        # spark-core JAR and ZIPs Spark puts on their path: Python 3.11 re-reads those before
        # every task (python_daemon.py)
        "spark.python.daemon.module": "idres_spark.python_daemon",
        # PySpark 4 records the Python call site of every DataFrame and Column call for its
        # error messages: a session lookup and a config read each, 3-4 s of a small run's
        # 15 (docs/benchmarks.md). The job's own errors name what failed; 3.5 ignores this
        "spark.python.sql.dataFrameDebugging.enabled": "false",
        # Delta Lake rebuilds a table's file list from its log in this many tasks (default
        # 50): the list is a few files per run, and 50 tasks on a laptop made each commit to
        # an existing table 4-5 s slower (1 s with 2). Unused without Delta
        "spark.databricks.delta.snapshotPartitions": "2",
        # the JVM logs to stderr only (data/log4j2.properties): stdout is the job's own
        "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile={_log_config()} "
        + java_options,
    }
    conf.update(_jar_conf(os.environ.get(SPARK_JARS_ENV, "")))
    conf.update(extra_conf or {})
    builder = SparkSession.builder.master(master).appName(app_name)
    for key, value in conf.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("WARN")
    if not checkpoint_dir:  # a folder of this process's own, removed when it exits
        checkpoint_dir = tempfile.mkdtemp(prefix="idres-checkpoint-")
        atexit.register(shutil.rmtree, checkpoint_dir, True)
    session.sparkContext.setCheckpointDir(checkpoint_dir)
    return session


class InterpretedExpressions:
    """Spark's expressions evaluated without generated code, from :meth:`turn_on` to
    :meth:`turn_off`, which gives the session its own settings back. A small run's plans
    differ from any earlier run's by their literals (run id, dates), so Janino compiled
    hundreds of classes for each: 70% of the executor threads' time of a 200-record run in a
    warm JVM (docs/benchmarks.md, "Small runs: tables read back with their schema,
    expressions interpreted")."""

    SETTINGS = {
        "spark.sql.codegen.wholeStage": "false",
        "spark.sql.codegen.factoryMode": "NO_CODEGEN",
    }

    def __init__(self, spark: SparkSession) -> None:
        self._spark = spark
        self._saved: dict[str, str | None] | None = None

    def turn_on(self) -> None:
        conf = self._spark.conf
        self._saved = {key: conf.get(key, None) for key in self.SETTINGS}
        for key, value in self.SETTINGS.items():
            conf.set(key, value)
        log.info("a small run: expressions are interpreted, not compiled")

    def turn_off(self) -> None:
        if self._saved is None:
            return
        for key, value in self._saved.items():
            if value is None:
                self._spark.conf.unset(key)
            else:
                self._spark.conf.set(key, value)
        self._saved = None


def _log_config() -> str:
    """The packaged log4j2 configuration as a file the JVM can read (a wheel installed as a
    zip is extracted once to a temporary file)."""
    from importlib import resources

    packaged = resources.files("idres_spark") / "data" / "log4j2.properties"
    if isinstance(packaged, os.PathLike):
        return os.fspath(packaged)
    copy = tempfile.NamedTemporaryFile("w", suffix=".properties", delete=False)  # noqa: SIM115
    with copy:
        copy.write(packaged.read_text())
    atexit.register(os.unlink, copy.name)
    return copy.name


def _jar_conf(value: str) -> dict[str, str]:
    """``IDRES_SPARK_JARS`` (JAR files or folders of them, separated by ``,`` or the path
    separator) -> ``spark.jars`` and the driver's class path, for example the GraphFrames JAR
    for ``graph.backend: graphframes`` in local mode. The driver's class path is the one Spark
    reads before it loads session extensions."""
    jars: list[str] = []
    for item in re.split(rf"[,{re.escape(os.pathsep)}]", value):
        if os.path.isdir(item):
            jars += sorted(glob.glob(os.path.join(item, "*.jar")))
        elif item.strip():
            jars.append(item.strip())
    return jar_settings(jars)


def jar_settings(jars: list[str]) -> dict[str, str]:
    """``spark.jars`` and the driver's class path for ``jars``, and the session extensions
    Delta Lake and Iceberg need when their JARs are among them (Delta refuses to write
    without its extension and catalog; Iceberg's tags and MERGE need its extension)."""
    if not jars:
        return {}
    conf = {"spark.jars": ",".join(jars), "spark.driver.extraClassPath": os.pathsep.join(jars)}
    names = [os.path.basename(jar) for jar in jars]
    extensions = []
    if any(name.startswith("delta-spark") for name in names):
        extensions.append("io.delta.sql.DeltaSparkSessionExtension")
        conf["spark.sql.catalog.spark_catalog"] = "org.apache.spark.sql.delta.catalog.DeltaCatalog"
    if any(name.startswith("iceberg-spark-runtime") for name in names):
        extensions.append("org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions")
    if extensions:
        conf["spark.sql.extensions"] = ",".join(extensions)
    return conf


def get_session(app_name: str = "idres-spark", checkpoint_dir: str | None = None):
    """The active session when there is one (spark-submit, Databricks), else a local one."""
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        log.info("using the active SparkSession (master %s)", active.sparkContext.master)
        active.conf.set(CASE_MAPPING, "false")  # lower-case as every run does (docs/deploy.md)
        if checkpoint_dir:
            active.sparkContext.setCheckpointDir(checkpoint_dir)
        return active
    if os.environ.get("SPARK_MASTER") or _submitted_master() or _on_databricks():
        # launched by spark-submit (EMR steps, EMR Serverless) or a Databricks job: the
        # master, resources and settings come from the platform
        session = SparkSession.builder.appName(app_name).getOrCreate()
        log.info("using the platform's session (master %s)", session.sparkContext.master)
        if session.conf.get("spark.sql.execution.arrow.maxRecordsPerBatch", "10000") == "10000":
            session.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "100000")
        # normalization lower-cases as the local session does (docs/deploy.md)
        session.conf.set(CASE_MAPPING, "false")
        if checkpoint_dir:
            session.sparkContext.setCheckpointDir(checkpoint_dir)
        return session
    return build_local_session(app_name=app_name, checkpoint_dir=checkpoint_dir)


def _on_databricks() -> bool:
    """A Databricks job (python_wheel_task, spark_python_task) runs next to its cluster's
    session; the runtime sets this variable on the driver."""
    return bool(os.environ.get("DATABRICKS_RUNTIME_VERSION"))


def _submitted_master() -> str | None:
    """spark-submit passes its settings to the Python driver through PYSPARK_SUBMIT_ARGS / env."""
    return os.environ.get("PYSPARK_GATEWAY_PORT") or None
