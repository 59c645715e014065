"""Benchmark of the whole job on generated customer data (``jobs/benchmark.py --records N``).

1. Generate about N records with the demo generator (four sources in four formats, typos,
   +tag aliases, households sharing phones, junk identifiers) and the packaged demo config.
   Not timed.
2. Run ``idres-spark run`` on them in a fresh process in local mode (or on ``--master``, e.g.
   ``local-cluster[2,1,4096]``: executors in their own JVMs), exactly as a user would,
   sampling the resident memory of every process of the job (the Python driver, the JVM and
   the Python workers) every 0.1 s.
3. Print the stage timings (from the run's metrics.json), the whole-process wall time, the
   peak memory of all the job's processes together, and pairwise precision / recall / F1
   against the generator's truth (computed afterwards, not timed).

The figures and the exact commands are recorded in docs/benchmarks.md. Speed targets live
here and in the docs, never in timed tests.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from importlib import resources
from pathlib import Path

RECORDS_PER_PERSON = 1.99  # what the demo generator produces on average
PAGE = os.sysconf("SC_PAGE_SIZE")


def _children(pid: int) -> list[int]:
    """The child processes of ``pid``, whichever of its threads started them (a JVM starts the
    Python workers and, on ``local-cluster``, the executor JVMs from threads other than its
    main one; /proc lists a child under the thread that forked it)."""
    children = []
    try:
        threads = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return []
    for thread in threads:
        try:
            children += [int(p) for p in (thread / "children").read_text().split()]
        except OSError:
            continue
    return children


def _tree(root: int) -> list[int]:
    """``root`` and all its descendants (Linux /proc)."""
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(_children(pid))
    return found


def _rss(pids: list[int]) -> int:
    """Resident bytes of ``pids`` together (those still running)."""
    total = 0
    for pid in pids:
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
        except (OSError, IndexError, ValueError):
            continue
    return total


class PeakMemory:
    """Samples the summed RSS of a process tree in a thread until stopped: the resident sizes
    every ``interval``, the tree itself every ten samples (walking every thread of every JVM
    is the costly part)."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        self.pid, self.interval, self.peak = pid, interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        sample, pids = 0, [self.pid]
        while not self._stop.is_set():
            if sample % 10 == 0:
                pids = _tree(self.pid)
            self.peak = max(self.peak, _rss(pids))
            sample += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def prepare(folder: Path, records: int, seed: int) -> Path:
    """Demo data of about ``records`` records and the demo config; returns the config path."""
    from idres_spark.run import demo_data

    people = max(1, round(records / RECORDS_PER_PERSON))
    start = time.perf_counter()
    demo_data.write(folder / "data", n_people=people, seed=seed)
    config = folder / "demo.yaml"
    with resources.as_file(resources.files("idres_spark") / "data" / "demo.yaml") as packaged:
        shutil.copyfile(packaged, config)
    print(f"generated data for {people:,} people in {time.perf_counter() - start:.1f}s "
          f"under {folder}", flush=True)  # fmt: skip
    return config


def run_job(
    config: Path, log_path: Path, env: dict[str, str], run_date: str = "2026-11-23"
) -> tuple[float, int, int]:
    """``idres-spark run`` in a fresh process: (wall seconds, peak bytes, exit code)."""
    command = [sys.executable, "-m", "idres_spark", "run", "--config", str(config),
               "--run-date", run_date]  # fmt: skip
    with open(log_path, "w") as log:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        with PeakMemory(process.pid) as memory:
            code = process.wait()
        wall = time.perf_counter() - start
    return wall, memory.peak, code


def score(folder: Path) -> tuple[dict[str, float], str]:
    """Pairwise precision / recall / F1 against the generator's truth, and a digest of the
    results: the record map's (record, profile, linked_by) rows and the profiles' rows, so a
    change that claims to alter no result can be checked run against run."""
    from pyspark.sql import functions as F

    from idres_spark.run.evaluate import pairwise_scores
    from idres_spark.session import build_local_session
    from idres_spark.state.store import table_path

    spark = build_local_session("idres-bench-score", "local[2]")
    try:
        output = str(folder / "output")
        record_map = spark.read.parquet(table_path(spark, output, "record_map"))
        profiles = spark.read.parquet(table_path(spark, output, "profiles"))
        truth = spark.read.parquet(str(folder / "data" / "truth"))
        digests = []
        for frame, columns in (
            (record_map, ["record_id", "profile_id", "linked_by"]),
            (profiles, [c for c in profiles.columns if c not in ("created_at", "updated_at")]),
        ):
            row = frame.select(F.sum(F.xxhash64(*columns).cast("decimal(38,0)"))).first()
            digests.append(f"{int(row[0] or 0) % 16**8:08x}")
        return pairwise_scores(record_map, truth), "-".join(digests)
    finally:
        spark.stop()


EXECUTOR_MEMORY = "3g"  # with --master local-cluster[N,1,4096]: what a worker's 4 GiB holds
EVENT_LOG_SETTINGS = (
    "--conf spark.eventLog.enabled=true --conf spark.eventLog.compress=false "
    "--conf spark.eventLog.dir={} pyspark-shell"
)


def spark_jobs_by_stage(event_log_dir: Path) -> dict[str, dict[str, float]]:
    """Per stage of the job (the description ``idres-spark <run>: <stage>`` the job gives its
    Spark jobs; ``(outside stages)`` for the rest): Spark jobs, shuffle bytes written and task
    seconds, from the run's event log."""
    stage_of_job: dict[int, str] = {}
    job_of_stage: dict[int, int] = {}
    figures: dict[str, dict[str, float]] = {}
    for path in sorted(event_log_dir.rglob("*")):
        if not path.is_file() or path.name.startswith(".") or "appstatus" in path.name:
            continue
        with open(path) as events:
            for line in events:
                event = json.loads(line)
                kind = event.get("Event")
                if kind == "SparkListenerJobStart":
                    description = event.get("Properties", {}).get("spark.job.description") or ""
                    name = description.split(": ", 1)[1] if ": " in description else ""
                    stage = name if description.startswith("idres-spark") else "(outside stages)"
                    stage_of_job[event["Job ID"]] = stage
                    for stage_id in event["Stage IDs"]:
                        job_of_stage[stage_id] = event["Job ID"]
                    figures.setdefault(stage, {"jobs": 0, "shuffle": 0, "task_s": 0.0})["jobs"] += 1
                elif kind == "SparkListenerStageCompleted":
                    info = event["Stage Info"]
                    if info["Stage ID"] not in job_of_stage:
                        continue
                    values = {a["Name"]: a.get("Value") for a in info.get("Accumulables", [])}
                    entry = figures[stage_of_job[job_of_stage[info["Stage ID"]]]]
                    entry["shuffle"] += int(
                        values.get("internal.metrics.shuffle.write.bytesWritten") or 0
                    )
                    entry["task_s"] += (
                        int(values.get("internal.metrics.executorRunTime") or 0) / 1000
                    )
    return figures


def metrics_of(folder: Path) -> dict:
    pointers = sorted((folder / "output" / "_published").glob("*.json"))
    run_dir = json.loads(pointers[-1].read_text())["run_dir"]
    return json.loads((folder / "output" / run_dir / "diagnostics" / "metrics.json").read_text())


def cpu_reference() -> float:
    """Seconds a fixed pure-Python loop takes now: on a shared machine the same job's time
    follows this figure (0.65-1.05 s seen on the project's machines within one hour), so it
    is printed with the results to tell a slow machine from a slow job."""
    start = time.perf_counter()
    total = 0
    for i in range(20_000_000):
        total += i
    return time.perf_counter() - start


def use_format(config: Path, fmt: str, env: dict[str, str]) -> None:
    """Set ``output.format`` in the benchmark's config; for Delta, hand the job the Delta
    JARs that ./dev fetched for this PySpark (unless IDRES_SPARK_JARS names some)."""
    import pyspark
    import yaml

    data = yaml.safe_load(config.read_text())
    data.setdefault("output", {})["format"] = fmt
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    line = "spark-" + ".".join(pyspark.__version__.split(".")[:2])
    jars = Path(__file__).resolve().parent.parent / ".jars" / line
    env.setdefault("IDRES_SPARK_JARS", str(jars))
    if not list(Path(env["IDRES_SPARK_JARS"]).glob("delta-spark*.jar")):
        raise SystemExit(f"no Delta JAR in {env['IDRES_SPARK_JARS']}: run ./dev setup first")


def publish_seconds(log_path: Path) -> float | None:
    """The 'publish tables' stage's wall time, from the job's log line."""
    import re

    found = re.findall(r"tables \(\w+\) now hold run .* in ([0-9.]+)s", log_path.read_text())
    return float(found[-1]) if found else None


def use_probabilistic(config: Path) -> None:
    """Turn on ``probabilistic:`` in the benchmark's config (its cost: docs/benchmarks.md)."""
    import yaml

    data = yaml.safe_load(config.read_text())
    data["probabilistic"] = {"enabled": True}
    config.write_text(yaml.safe_dump(data, sort_keys=False))


def main(
    records: int,
    seed: int = 7,
    keep: str | None = None,
    fmt: str = "parquet",
    probabilistic: bool = False,
    master: str | None = None,
) -> int:
    folder = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="idres-bench-job-"))
    if keep and (folder / "output").exists():
        shutil.rmtree(folder / "output")
    folder.mkdir(parents=True, exist_ok=True)
    config = prepare(folder, records, seed)
    event_log = folder / "eventlog"
    shutil.rmtree(event_log, ignore_errors=True)
    event_log.mkdir()
    env = {
        **os.environ,
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
        # the event log gives the Spark jobs and shuffle bytes per stage (a few MB of JSON)
        "PYSPARK_SUBMIT_ARGS": EVENT_LOG_SETTINGS.format(event_log.as_uri()),
    }
    if master:  # e.g. local-cluster[2,1,4096]: executors in their own JVMs, as on a cluster
        env["SPARK_MASTER"] = master  # the job takes the session spark-submit would give it
        env["PYSPARK_SUBMIT_ARGS"] = (
            f"--master {master} --conf spark.executor.memory={EXECUTOR_MEMORY} "
            + env["PYSPARK_SUBMIT_ARGS"]
        )
    if fmt != "parquet":
        use_format(config, fmt, env)
    if probabilistic:
        use_probabilistic(config)
    load, reference = os.getloadavg()[0], cpu_reference()
    wall, peak, code = run_job(config, folder / "job.log", env)
    reference_after = cpu_reference()
    if code != 0:
        print(f"the job failed with exit code {code}; see {folder / 'job.log'}")
        return code
    m = metrics_of(folder)
    scores, digest = score(folder)
    stages = ", ".join(f"{k} {v:.1f}s" for k, v in m["stage_seconds"].items())
    spark_jobs = spark_jobs_by_stage(event_log)
    print(f"records in         {m['records_in']:,} ({m['quarantined']:,} quarantined)")
    print(f"candidate pairs    {m.get('candidate_pairs', 0):,}; edges {m.get('edges', 0):,}")
    print(f"profiles out       {m['profiles']:,} (largest {m['largest_profile']:,})")
    print(f"stage timings      {stages}")
    print(f"job wall time      {m['wall_seconds']:.1f}s (from the job's start to publishing)")
    print(f"process wall time  {wall:.1f}s (python -m idres_spark run, start to exit)")
    if fmt != "parquet":
        print(f"publish tables     {publish_seconds(folder / 'job.log')}s ({fmt}, after the "
              "job wall time above; in the process wall time)")  # fmt: skip
    print(f"peak memory        {peak / 2**30:.2f} GiB (all processes of the job together)")
    print(f"vs ground truth    precision {scores['precision']:.4f}  recall {scores['recall']:.4f}"
          f"  F1 {scores['f1']:.4f}")  # fmt: skip
    print(f"results digest     {digest} (record map and profiles; equal digests, equal results)")
    print(f"{'stage':<24}{'wall':>8}{'Spark jobs':>12}{'shuffle written':>17}{'task time':>11}")
    for name in [*m["stage_seconds"], *sorted(set(spark_jobs) - set(m["stage_seconds"]))]:
        wall_s = m["stage_seconds"].get(name)
        entry = spark_jobs.get(name, {"jobs": 0, "shuffle": 0, "task_s": 0.0})
        print(f"{name:<24}{'' if wall_s is None else f'{wall_s:.1f}s':>8}{entry['jobs']:>12,}"
              f"{entry['shuffle'] / 2**20:>14.1f} MB{entry['task_s']:>10.1f}s")  # fmt: skip
    total = sum(e["jobs"] for e in spark_jobs.values())
    print(f"{'all':<24}{'':>8}{total:>12,}"
          f"{sum(e['shuffle'] for e in spark_jobs.values()) / 2**20:>14.1f} MB"
          f"{sum(e['task_s'] for e in spark_jobs.values()):>10.1f}s")  # fmt: skip
    print(f"load average       {load:.1f} before, {os.getloadavg()[0]:.1f} after; "
          f"{os.cpu_count()} cores; log {folder / 'job.log'}")  # fmt: skip
    print(
        f"CPU reference      {reference:.2f}s before, {reference_after:.2f}s after "
        "(a fixed Python loop; lower is a faster machine)"
    )
    return 0
