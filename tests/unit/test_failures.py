"""Java failure texts -> the project's one-line errors (no Spark needed: the texts are
those Spark 3.5 and 4 print)."""

from __future__ import annotations

import pytest

from idres_spark.run.failures import translate


class FakeJavaError(Exception):
    pass


@pytest.mark.parametrize(
    ("text", "code", "exit_code"),
    [
        ("java.io.IOException: No space left on device\n  at java.io.FileOutputStream.write",
         "disk_full", 6),
        ("org.apache.hadoop.fs.FSError: java.io.IOException: Disk quota exceeded",
         "disk_full", 6),
        ("java.nio.file.AccessDeniedException: /data/out/runs/x/records/part-0.parquet",
         "output_not_writable", 6),
        ("java.io.IOException: Mkdirs failed to create file:/data/out/runs/x/records",
         "output_not_writable", 6),
        ("[FAILED_READ_FILE.NO_HINT] Encountered error while reading file "
         "file:///in/web/part-1.parquet.  SQLSTATE: KD001", "source_file_unreadable", 3),
        ("Could not read footer for file: FileStatus{path=file:/in/web/part-1.parquet; ...}",
         "source_file_unreadable", 3),
        ("[FAILED_READ_FILE.NO_HINT] Encountered error while reading file "
         "file:///data/out/runs/000001-x/records/part-0.parquet.", "state_file_unreadable", 3),
        ("[GRAPH_VERTEX_ID_COLLISION] two records", "vertex_id_collision", 4),
    ],
)  # fmt: skip
def test_known_failures_become_project_errors(text, code, exit_code):
    error = translate(FakeJavaError(text), "/data/out")
    assert (error.code, error.exit_code) == (code, exit_code)
    if code.endswith("_unreadable"):
        assert "part-" in error.message and ".parquet." not in error.message


def test_the_cause_is_found_through_chained_exceptions():
    try:
        try:
            raise FakeJavaError("java.io.IOException: No space left on device")
        except FakeJavaError as inner:
            raise RuntimeError("job aborted") from inner
    except RuntimeError as outer:
        assert translate(outer, "/data/out").code == "disk_full"


def test_anything_else_is_left_alone():
    assert translate(ValueError("something unexpected"), "/data/out") is None
