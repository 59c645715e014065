"""Stage timings and progress lines for the log."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

log = logging.getLogger("idres_spark.progress")


class StageTimer:
    """Collects wall-clock seconds per stage, in the order the stages ran.

    ``on_stage(name)`` is called as each stage starts, and with ``None`` once it ends: the job
    labels the Spark jobs of a stage with it (their description in the Spark UI and in the
    event log, which ``jobs/benchmark.py`` counts per stage).
    """

    def __init__(self, on_stage: Callable[[str | None], None] | None = None) -> None:
        self.seconds: dict[str, float] = {}
        self._on_stage = on_stage

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        log.info("stage %s: started", name)
        if self._on_stage:
            self._on_stage(name)
        start = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - start
            self.seconds[name] = self.seconds.get(name, 0.0) + elapsed
            if self._on_stage:
                self._on_stage(None)
            log.info("stage %s: done in %.1fs", name, elapsed)

    def as_dict(self) -> dict[str, float]:
        return {name: round(value, 2) for name, value in self.seconds.items()}
