"""What identifies one run: its id, its logical time and the config's fingerprint."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class RunContext:
    run_id: str
    run_ts: dt.datetime  # the run's logical time, midnight UTC: merged_at, updated_at
    config_fingerprint: str
    seq: int = 1  # this run's publish sequence number on its output path

    @classmethod
    def for_date(cls, run_date: dt.date, config_fingerprint: str, seq: int = 1) -> RunContext:
        """Deterministic: the same output sequence number, date and config give the same id
        (``<seq>-<yyyymmdd>-<config>``; ``seq`` counts the runs published on an output path)."""
        run_ts = dt.datetime(run_date.year, run_date.month, run_date.day, tzinfo=dt.UTC)
        run_id = f"{seq:06d}-{run_date:%Y%m%d}-{config_fingerprint[:8]}"
        return cls(run_id, run_ts, config_fingerprint, seq)
