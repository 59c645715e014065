"""The local session's Python workers: what they import from."""

from __future__ import annotations

import os


def test_python_workers_have_no_archive_of_the_spark_installation_on_their_path(spark):
    import pyspark

    home = os.path.dirname(pyspark.__file__) + os.sep  # the installed package: jars/, python/lib/

    def worker_path(_rows):
        import sys
        import zipimport

        on_path = [entry for entry in sys.path if os.path.isfile(entry)]
        importers = [
            key for key, importer in sys.path_importer_cache.items()
            if isinstance(importer, zipimport.zipimporter)
        ]  # fmt: skip
        yield on_path, importers

    rdd = spark.sparkContext.parallelize([0], 1).mapPartitions(worker_path)
    ((on_path, importers),) = rdd.collect()
    assert [entry for entry in on_path if entry.startswith(home)] == []
    assert [key for key in importers if key.startswith(home)] == []
    assert spark.conf.get("spark.python.daemon.module") == "idres_spark.python_daemon"
