"""What identifies one run: its id, its logical time and the config's fingerprint."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class RunContext:
    run_id: str
    run_ts: dt.datetime  # the run's logical time, midnight UTC: merged_at, updated_at
    config_fingerprint: str

    @classmethod
    def for_date(cls, run_date: dt.date, config_fingerprint: str) -> RunContext:
        """Deterministic: the same date and config give the same run id."""
        run_ts = dt.datetime(run_date.year, run_date.month, run_date.day, tzinfo=dt.UTC)
        return cls(f"{run_date:%Y%m%d}-{config_fingerprint[:8]}", run_ts, config_fingerprint)
