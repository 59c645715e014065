"""The run summary says whether an incremental run resolved its affected set or everything."""

from __future__ import annotations

from idres_spark.run.summary import format_summary

BASE = {
    "run_id": "000002-20261124-35eda021", "mode": "incremental", "records_in": 10,
    "records_resolved": 100, "quarantined": 0, "merges": 3, "merges_by_reason": {"default": 3},
    "hubs": 0, "pruned_groups": 0, "profiles": 60, "multi_record_profiles": 20,
    "largest_profile": 4,
}  # fmt: skip


def test_an_affected_set_run_names_the_profiles_it_recomputed():
    text = format_summary({**BASE, "resolved_scope": "affected", "profiles_recomputed": 1234})
    assert "recomputed             1,234  earlier profiles" in text
    assert "everything" not in text


def test_a_run_that_resolved_everything_says_why():
    reason = "the rules changed since the published run: every pair is compared again"
    metrics = {**BASE, "resolved_scope": "all", "resolved_scope_reason": reason}
    assert f"recomputed        everything: {reason}" in format_summary(metrics)


def test_an_overwrite_run_says_nothing_about_it():
    metrics = {**BASE, "mode": "overwrite", "resolved_scope": "all",
               "resolved_scope_reason": "no earlier state"}  # fmt: skip
    assert "recomputed" not in format_summary(metrics)


class _Stream:
    def __init__(self, tty: bool) -> None:
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_the_summary_is_printed_once_on_a_terminal(monkeypatch):
    from idres_spark import cli

    monkeypatch.setattr(cli.sys, "stdout", _Stream(True))
    monkeypatch.setattr(cli.sys, "stderr", _Stream(True))
    assert cli._same_terminal()  # the log already showed it: not printed again
    monkeypatch.setattr(cli.sys, "stdout", _Stream(False))  # piped or redirected: printed
    assert not cli._same_terminal()
