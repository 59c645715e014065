"""idres-spark: customer identity resolution as a PySpark batch job.

The public surface is this screen: :func:`load_config` reads and validates a YAML config,
:func:`resolve` turns source frames into every output table (a :class:`ResolutionResult`),
and :func:`run_job` reads, resolves and publishes one run. The package below is grouped by
pipeline phase: ``ingest`` (read, normalize), ``matching`` (block, score, transformations),
``linking`` (components, limits), ``profiles`` (ids, survivorship, merge log, events),
``state`` (the published state) and ``run`` (the job shell, report, demo); ``config``,
``columns``, ``schemas`` and ``errors`` are the contract they share.

Names are loaded on first use, so ``import idres_spark`` does not import PySpark.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["ResolutionResult", "load_config", "resolve", "run_job"]

_PUBLIC = {
    "load_config": "idres_spark.config",
    "resolve": "idres_spark.pipeline",
    "ResolutionResult": "idres_spark.pipeline",
    "run_job": "idres_spark.run.job",
}

if TYPE_CHECKING:
    from idres_spark.config import load_config
    from idres_spark.pipeline import ResolutionResult, resolve
    from idres_spark.run.job import run_job


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'idres_spark' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_PUBLIC[name]), name)
