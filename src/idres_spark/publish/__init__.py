"""Publish phase: a published run's tables where users query them (Delta Lake or Iceberg
tables, catalog names, views over the run folders). See :mod:`idres_spark.publish.tables`."""

from idres_spark.publish.tables import publish_tables

__all__ = ["publish_tables"]
