"""State phase: the published state, its storage, and what earlier runs carry into a new one.

Readers find the current run's tables with :func:`table_path` (re-exported here from
:mod:`idres_spark.state.store`).
"""

from idres_spark.state.store import current_run, published_runs, table_path

__all__ = ["current_run", "published_runs", "table_path"]
