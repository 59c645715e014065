"""Storage and input failures Spark reports as Java exceptions, turned into the project's
one-line errors (the CLI prints them without a traceback and exits with their code).

Spark wraps what went wrong in several layers (``Py4JJavaError`` -> ``SparkException`` ->
``Caused by: ...``); the whole text is searched, so the cause is found at any depth and on
Spark 3.5 and 4 alike. Anything not recognised is left as it is (an unexpected failure,
exit 1, with its traceback).
"""

from __future__ import annotations

import re

from idres_spark.errors import GraphError, IdresError, InputError, StorageError

_PATH = re.compile(r"(?:file|hdfs|s3a?|abfss?|wasbs?|gs|dbfs):/+[^\s'\"\]\[,]+")

# (what the text shows, the error it becomes); the first match wins
_STORAGE = (
    (("No space left on device", "DiskOutOfSpace", "Disk quota exceeded"), "disk_full",
     "the disk or quota of {where} is full; free space (old run folders are kept for "
     "`output.keep_runs` runs) or point `output.path` elsewhere, then re-run"),
    (("Permission denied", "AccessDeniedException", "Mkdirs failed to create",
      "Read-only file system", "AccessControlException"), "output_not_writable",
     "{where} cannot be written (permission denied or a read-only file system); give the "
     "job's user write access to `output.path` (and `graph.checkpoint_dir`), then re-run"),
)  # fmt: skip
_UNREADABLE_FILE = (
    "FAILED_READ_FILE", "is not a Parquet file", "Could not read footer", "CANNOT_READ_FILE",
    "Malformed ORC file", "Invalid ORC postscript", "EOFException", "CORRUPTED",
)  # fmt: skip


def translate(exc: BaseException, output: str) -> IdresError | None:
    """The project error ``exc`` stands for, or None when it is not a known failure."""
    if isinstance(exc, IdresError):
        return None
    text = _full_text(exc)
    if "GRAPH_VERTEX_ID_COLLISION" in text:
        return GraphError(
            "two record ids hash to the same 64-bit vertex id; rename one source "
            "(record ids are <source>:<id>) and re-run",
            code="vertex_id_collision",
        )
    for needles, code, message in _STORAGE:
        if any(n in text for n in needles):
            paths = _PATH.findall(text)
            where = paths[0].rstrip(".:;") if paths else output
            return StorageError(message.format(where=where), code=code)
    if any(n in text for n in _UNREADABLE_FILE) and _PATH.search(text):
        path = _PATH.search(text).group(0).rstrip(".:;")
        if _bare(path).startswith(_bare(output).rstrip("/") + "/"):
            return InputError(
                f"cannot read {path}, a file of the published state: it is truncated or "
                "corrupt. Restore it from a backup, or delete the newest pointer in "
                "`_published/` to make the previous run current, then re-run",
                code="state_file_unreadable",
            )
        return InputError(
            f"cannot read the input file {path}: it is truncated, corrupt or not in the "
            "source's `format:`. Replace or remove the file (or fix `format:`), then re-run",
            code="source_file_unreadable",
        )
    return None


def _full_text(exc: BaseException) -> str:
    parts = []
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        parts.append(str(exc))
        java = getattr(exc, "java_exception", None)
        if java is not None:
            parts.append(str(java.toString()))
        exc = exc.__cause__ or exc.__context__
    return "\n".join(parts)


def _bare(path: str) -> str:
    """A path without its scheme and authority markers: ``file:///a/b`` -> ``/a/b``."""
    return re.sub(r"^[a-z0-9]+:/*", "/", path)
