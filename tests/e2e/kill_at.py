"""Run the CLI and SIGKILL this very process when the run reaches a point: the start of a
stage (``graph``), just before publishing (``publish``) or just after it (``retention``).

    python tests/e2e/kill_at.py <point> run --config ... (any idres-spark arguments)

Used by test_kill.py; nothing is cleaned up, as after a real kill.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys

from idres_spark import cli, timing
from idres_spark.state import store


def _die(*_args, **_kwargs):
    os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    point, argv = sys.argv[1], sys.argv[2:]
    if point in ("publish", "retention"):
        setattr(store, {"publish": "publish", "retention": "apply_retention"}[point], _die)
    else:
        real_stage = timing.StageTimer.stage

        @contextlib.contextmanager
        def stage(self, name):
            if name == point:
                _die()
            with real_stage(self, name):
                yield

        timing.StageTimer.stage = stage
    sys.exit(cli.main(argv))


if __name__ == "__main__":
    main()
