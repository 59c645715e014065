"""The project's error hierarchy. Messages say what went wrong and what to do about it.

Each error carries a stable ``code`` so tests and callers can branch on it without parsing
message text; the CLI prints ``message`` without a traceback and exits non-zero.
"""

from __future__ import annotations


class IdresError(Exception):
    """Base class of every error idres-spark raises on purpose."""

    code = "idres_error"
    exit_code = 1

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class ConfigError(IdresError):
    """The YAML config is invalid: names the file, the key path and the fix."""

    code = "config_invalid"
    exit_code = 2


class UsageError(IdresError):
    """The command asks for something unsafe or contradictory (an export over the state, an
    overwrite of an incremental state): nothing was changed; the message says what to pass."""

    code = "usage"
    exit_code = 2


class InputError(IdresError):
    """A source cannot be read or does not have the columns the config maps."""

    code = "input_invalid"
    exit_code = 3


class GraphError(IdresError):
    """The graph stage cannot proceed (engine missing, vertex-id collision, no convergence)."""

    code = "graph_failed"
    exit_code = 4


class StorageError(IdresError):
    """The output cannot be written (permission, read-only file system, full disk)."""

    code = "storage"
    exit_code = 6


class RuntimeEnvironmentError(IdresError):
    """The machine cannot run Spark (no java, java too old)."""

    code = "environment"
    exit_code = 5


class PublishError(IdresError):
    """A published run's tables could not be made current (a catalog or table step failed,
    a table belongs to something else, or it already holds a newer run). The run's state is
    published; the tables keep what they held. The message says what to fix before
    ``idres-spark publish``."""

    code = "publish_failed"
    exit_code = 7
