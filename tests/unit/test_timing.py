"""The stage timer: seconds per stage, and the ``on_stage`` hook that labels a stage's Spark
jobs (set as the stage starts, cleared as it ends, even when the stage fails)."""

from __future__ import annotations

import pytest

from idres_spark.timing import StageTimer


def test_on_stage_is_told_each_start_and_end_even_when_a_stage_fails():
    calls: list[str | None] = []
    timer = StageTimer(on_stage=calls.append)
    with timer.stage("read"):
        assert calls == ["read"]
    with pytest.raises(RuntimeError), timer.stage("write"):
        raise RuntimeError("disk full")
    assert calls == ["read", None, "write", None]
    assert list(timer.as_dict()) == ["read", "write"]


def test_a_repeated_stage_adds_up_and_no_hook_is_fine():
    timer = StageTimer()
    for _ in range(2):
        with timer.stage("graph"):
            pass
    assert list(timer.as_dict()) == ["graph"]
    assert timer.seconds["graph"] >= 0
