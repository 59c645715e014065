"""PySpark's Python worker daemon for a local session, with the archives of Spark's own
installation taken off the workers' import path. :func:`idres_spark.session.build_local_session`
names it in ``spark.python.daemon.module``; Spark starts it with ``python -m``.

Spark puts archives of its installation on the path of its Python workers: the spark-core JAR
(5,362 files, none of them Python), and ``python/lib/pyspark.zip`` and ``py4j-*-src.zip``
where they exist (PySpark 3.5 has all three, 4.1 the JAR). Before every task a worker calls
``importlib.invalidate_caches()``. On Python 3.11 that makes the importer of each archive read
the archive's whole directory again, per task: 35 ms for the JAR and 6 ms for pyspark.zip
in a warm process, more in a freshly forked worker. Over the five nights of the steward test
the Python workers spent 30 s of CPU, most of it there (docs/benchmarks.md).

A local session runs a PySpark installed as a package beside this module, so its workers
need none of those archives. Where pyspark or py4j would not import without them (a
cluster's own Spark), the path stays as Spark set it.
"""

from __future__ import annotations

import os
import sys
from importlib.machinery import PathFinder


def without_spark_archives(path: list[str]) -> list[str]:
    """``path`` without the archive files inside the pyspark package that imports from the
    rest of it; ``path`` itself when there are none, or pyspark or py4j needs them."""
    archives = {entry for entry in path if os.path.isfile(entry)}
    rest = [entry for entry in path if entry not in archives]
    spec = PathFinder.find_spec("pyspark", rest)
    if not archives or spec is None or spec.origin is None:
        return path
    if PathFinder.find_spec("py4j", rest) is None:
        return path
    home = os.path.dirname(spec.origin) + os.sep  # .../site-packages/pyspark/
    kept = [entry for entry in path if entry not in archives or not entry.startswith(home)]
    return path if len(kept) == len(path) else kept


def main() -> None:
    path = without_spark_archives(sys.path)
    if path is not sys.path:  # before the first pyspark import
        dropped = tuple(set(sys.path) - set(path))
        for key in list(sys.path_importer_cache):
            # invalidate_caches() walks the importers cached by path, not sys.path itself
            if key.startswith(dropped):  # an archive's own and those of folders inside it
                del sys.path_importer_cache[key]
        sys.path[:] = path
    from pyspark import daemon

    daemon.manager()


if __name__ == "__main__":
    main()
