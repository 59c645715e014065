"""The Python worker daemon of a local session: PySpark's own daemon, started after importing
what the job's Python workers need.

PySpark starts one daemon per executor and forks a worker from it for each task (and again
whenever it does not reuse one); every worker then imports pandas, pyarrow and the job's own
modules before its first row, about half a second of CPU each: the 10k demo started six and
spent 2.9 s of its workers' 4.7 s of CPU importing. Imported here once, before the fork, they
reach every worker for free. Only the local session uses it (``spark.python.daemon.module``,
:func:`idres_spark.session.build_local_session`); on a cluster the platform's daemon runs.
"""

from __future__ import annotations

import importlib

PRELOADED = (
    "pyspark.worker",
    "pyspark.sql.pandas.serializers",
    "numpy",
    "pandas",
    "pyarrow",
    "rapidfuzz",
    "phonenumbers",
    "idres_spark.ingest.normalizers",
    "idres_spark.matching.comparators",
    "idres_spark.linking.limits",
)


def preload() -> list[str]:
    """Import the modules of :data:`PRELOADED`; returns those that failed, which the workers
    then import (or fail on) themselves, as without this daemon."""
    failed = []
    for name in PRELOADED:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a worker reports its own import errors
            failed.append(name)
    return failed


if __name__ == "__main__":
    preload()
    from pyspark import daemon

    daemon.manager()
