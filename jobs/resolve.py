"""spark-submit entry point for idres-spark.

    spark-submit --master yarn jobs/resolve.py --config idres.yaml --run-date 2025-07-01

The config is a local file (ship it with ``--files``); the paths inside it may be any URI
Spark reads (s3a://, abfss://, dbfs:/, hdfs://).

Takes the arguments of ``idres-spark run``. It uses the session spark-submit (or Databricks,
EMR) provides and builds a local one only when none is configured.
"""

from __future__ import annotations

import sys

from idres_spark.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", *sys.argv[1:]]))
