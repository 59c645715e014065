"""Stage timings and progress lines for the log."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger("idres_spark.progress")


class StageTimer:
    """Collects wall-clock seconds per stage, in the order the stages ran."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        log.info("stage %s: started", name)
        start = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - start
            self.seconds[name] = self.seconds.get(name, 0.0) + elapsed
            log.info("stage %s: done in %.1fs", name, elapsed)

    def as_dict(self) -> dict[str, float]:
        return {name: round(value, 2) for name, value in self.seconds.items()}
