"""The published state under ``output.path``: complete runs and the pointers that publish them.

Layout::

    <output>/runs/<run_id>-<attempt>/  every table of one run (profiles, record_map, records,
                                    merge_log, events, diagnostics/...), written in full
    <output>/_published/<seq>.json  one pointer per published run: {"seq", "run_id", "run_dir"}

A run writes its folder completely, then publishes it by creating the next pointer: a small
file written under a temporary name and renamed to a name that does not exist yet, which is
atomic on local disks and HDFS (on S3-like stores the pointer object appears whole, but two
overlapping runs are not detected there: run one job per output path at a time).
Readers take the pointer with the highest sequence number, so they always see a complete run;
a run that fails before its pointer leaves the published state as it was. Old run folders are
removed by retention (``output.keep_runs``); pointers are tiny and kept.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession

from idres_spark.errors import InputError, UsageError
from idres_spark.profiles.merge_log import read_merge_log
from idres_spark.state.storage import FileSystem, table_reader

PROVENANCE = "profile_field_provenance"
OVERRIDE_STATUS = "diagnostics/override_status"
# PreviousState field -> the run-folder table of erasure's state
ERASURE_TABLES = {
    "suppression": "suppression",
    "erasure_audit": "diagnostics/erasure_audit",
    "erased_profiles": "erased_profiles",
}

PUBLISHED = "_published"
RUNS = "runs"
WORK = "_work"  # each attempt's intermediate data, <output>/_work/<attempt>/, while it runs
RUN_MARKER = "_idres_run.json"  # written first into every run folder the job creates
# <seq>-<yyyymmdd>-<config fingerprint>-<attempt>: the only names retention ever deletes
RUN_FOLDER = re.compile(r"(\d{6,})-\d{8}-[0-9a-f]{8}-[0-9a-f]{8}")


@dataclass(frozen=True)
class PublishedRun:
    seq: int
    run_id: str
    run_dir: str
    mode: str | None = None  # output.mode of the run; None in pointers older than the field


@dataclass(frozen=True)
class PreviousState:
    """The tables of the current published run that the next incremental run builds on."""

    run: PublishedRun
    records: DataFrame
    record_map: DataFrame
    profiles: DataFrame
    merge_log: DataFrame
    folder: str | None = None  # the run folder the tables are read from
    provenance: DataFrame | None = None  # None: a state written before the table existed
    override_status: DataFrame | None = None  # the steward overrides it applied (or None)
    suppression: DataFrame | None = None  # keyed hashes of suppressed records and identifiers
    erasure_audit: DataFrame | None = None  # every erasure request read so far
    erased_profiles: DataFrame | None = None  # profile ids erasure retired for good


def published_runs(spark: SparkSession, root: str) -> list[PublishedRun]:
    root = root.rstrip("/")
    fs = FileSystem(spark, root)
    runs = []
    for name in fs.list_names(f"{root}/{PUBLISHED}"):
        if name.endswith(".json") and name[:-5].isdigit():
            runs.append(_read_pointer(fs, f"{root}/{PUBLISHED}/{name}"))
    return sorted(runs, key=lambda r: r.seq)


def _read_pointer(fs: FileSystem, path: str) -> PublishedRun:
    text = fs.read_text(path)
    try:
        data = json.loads(text)
        return PublishedRun(int(data["seq"]), data["run_id"], data["run_dir"], data.get("mode"))
    except (ValueError, KeyError, TypeError):
        shown = "empty" if not text.strip() else "not a pointer the job wrote"
        raise InputError(
            f"the pointer {path} is {shown}; the job writes pointers whole, so it was changed "
            "by hand or by a failing disk. Delete it to make the previous run current (or "
            "restore it), then re-run",
            code="corrupt_pointer",
        ) from None


def current_run(spark: SparkSession, root: str) -> PublishedRun | None:
    runs = published_runs(spark, root)
    return runs[-1] if runs else None


def run_record_map(spark: SparkSession, root: str, seq: int) -> DataFrame | None:
    """The record map of the published run ``seq`` while its folder is retained, else None."""
    for run in published_runs(spark, root):
        path = f"{root.rstrip('/')}/{run.run_dir}/record_map"
        if run.seq == seq and FileSystem(spark, root).exists(path):
            return table_reader(spark, path.rsplit("/", 1)[0])("record_map")
    return None


def oldest_retained_seq(spark: SparkSession, root: str) -> int | None:
    """The sequence number of the oldest published run whose folder still exists."""
    fs = FileSystem(spark, root)
    for run in published_runs(spark, root):
        if fs.exists(f"{root.rstrip('/')}/{run.run_dir}"):
            return run.seq
    return None


def table_path(spark: SparkSession, root: str, table: str) -> str:
    """Where the current published run keeps ``table`` (e.g. ``profiles``)."""
    run = current_run(spark, root)
    if run is None:
        raise InputError(
            f"nothing is published under {root}: run the job first", code="no_published_run"
        )
    return f"{root.rstrip('/')}/{run.run_dir}/{table}"


def next_seq(spark: SparkSession, root: str) -> int:
    """The sequence number the next published run gets."""
    current = current_run(spark, root)
    return (current.seq if current else 0) + 1


def run_dir(run_id: str) -> str:
    """A fresh folder for one attempt of a run, relative to the output path (run ids start
    with their sequence; the suffix keeps a retried or overlapping attempt out of another's)."""
    return f"{RUNS}/{run_id}-{uuid.uuid4().hex[:8]}"


def check_overwrite(spark: SparkSession, root: str, replace_state: bool) -> None:
    """Refuse an overwrite run on an output path whose current run is incremental: it would
    start from nothing, give profiles new ids and replace the merge history."""
    run = current_run(spark, root)
    if run is None or replace_state or _mode_of(spark, root, run) != "incremental":
        return
    raise UsageError(
        f"output.mode is overwrite, but {root} holds an incremental state (run {run.run_id}); "
        "an overwrite run would give its profiles new ids and replace its merge history. Set "
        "`output.mode: incremental` to continue the state, point `output.path` elsewhere, or "
        "pass --replace-state to replace it on purpose",
        code="overwrite_incremental_state",
    )


def _mode_of(spark: SparkSession, root: str, run: PublishedRun) -> str | None:
    """A published run's output mode: from its pointer, or (older pointers) its metrics."""
    if run.mode is not None:
        return run.mode
    metrics = f"{root.rstrip('/')}/{run.run_dir}/diagnostics/metrics.json"
    fs = FileSystem(spark, root)
    return json.loads(fs.read_text(metrics)).get("mode") if fs.exists(metrics) else None


def claim(spark: SparkSession, folder: str, run_id: str, private: bool = True) -> None:
    """Create one of a run's folders (its run folder, its work folder) owner-only, with the
    job's marker in it, before anything else is written there: the marker is the record that
    lets retention delete the folder if the run never publishes, and the folder's mode keeps
    the personal data the run writes into it from other users of the machine or cluster."""
    fs = FileSystem(spark, folder)
    fs.mkdirs(folder, private=private)
    fs.write_text(f"{folder.rstrip('/')}/{RUN_MARKER}", json.dumps({"run_id": run_id}))


def publish(spark: SparkSession, root: str, seq: int, run_id: str, run_dir: str, mode: str) -> None:
    """Publish a completely written run folder by creating its pointer (one atomic step)."""
    root = root.rstrip("/")
    fs = FileSystem(spark, root)
    content = json.dumps({"seq": seq, "run_id": run_id, "run_dir": run_dir, "mode": mode})
    temporary = f"{root}/{PUBLISHED}/.{seq:08d}.{uuid.uuid4().hex}.tmp"
    fs.write_text(temporary, content)
    if not fs.rename(temporary, f"{root}/{PUBLISHED}/{seq:08d}.json"):
        fs.delete(temporary)
        raise InputError(
            f"another run published sequence {seq} under {root} while this one ran; "
            "runs on one output path must not overlap: re-run",
            code="concurrent_publish",
        )


def apply_retention(spark: SparkSession, root: str, keep: int) -> list[str]:
    """Delete the job's run folders that are neither among the last ``keep`` published runs
    nor possibly still being written, and the work folders of attempts that can no longer
    publish; returns the deleted folders.

    A folder is the job's only if its name has the run-folder shape *and* either a published
    pointer names it or it holds the marker the job writes first into every folder it creates
    (:func:`claim`). An unpublished folder is deleted only when its sequence number is below
    the newest published one (an attempt that lost or was killed; one with the newest number
    may belong to a run still finishing). Anything else under ``runs/`` or ``_work/`` is left
    alone.
    """
    root = root.rstrip("/")
    fs = FileSystem(spark, root)
    published = published_runs(spark, root)
    named = {r.run_dir for r in published}
    keep_dirs = {r.run_dir for r in published[-keep:]}
    newest = published[-1].seq if published else 0

    def dead(parent: str, name: str) -> bool:
        shape = RUN_FOLDER.fullmatch(name)
        return (
            shape is not None
            and int(shape.group(1)) < newest
            and fs.exists(f"{root}/{parent}/{name}/{RUN_MARKER}")
        )

    removed = []
    for parent in (RUNS, WORK):
        for name in fs.list_names(f"{root}/{parent}"):
            folder = f"{parent}/{name}"
            if folder in keep_dirs:
                continue
            if (parent == RUNS and folder in named and RUN_FOLDER.fullmatch(name)) or dead(
                parent, name
            ):
                fs.delete(f"{root}/{folder}")
                removed.append(folder)
    return removed


def check_output_path(spark: SparkSession, root: str) -> None:
    """Refuse an output path that is the root of its file system: the job would create
    ``runs/``, ``_published/`` and ``_work/`` there, beside everything else."""
    if FileSystem(spark, root).is_root(root):
        raise UsageError(
            f"output.path {root} is the root of its file system; point it at a folder of "
            "its own (for example /data/idres)",
            code="output_path_root",
        )


def read_previous(spark: SparkSession, root: str) -> PreviousState | None:
    run = current_run(spark, root)
    if run is None:
        return None
    base = f"{root.rstrip('/')}/{run.run_dir}"
    if not FileSystem(spark, root).exists(f"{base}/records"):
        raise InputError(
            f"the current pointer ({PUBLISHED}/{run.seq:08d}.json) names {run.run_dir}, which "
            f"is missing or incomplete under {root}. Delete that pointer to make the previous "
            "run current (or restore the folder), then re-run",
            code="stale_pointer",
        )
    fs = FileSystem(spark, root)
    read = table_reader(spark, base)  # with the schemas the run wrote them with

    def optional(table: str) -> DataFrame | None:
        return read(table) if fs.exists(f"{base}/{table}") else None

    return PreviousState(
        run=run,
        records=read("records"),
        record_map=read("record_map"),
        profiles=read("profiles"),
        merge_log=read_merge_log(spark, f"{base}/merge_log"),
        folder=base,
        provenance=optional(PROVENANCE),
        override_status=optional(OVERRIDE_STATUS),
        **{name: optional(table) for name, table in ERASURE_TABLES.items()},
    )
