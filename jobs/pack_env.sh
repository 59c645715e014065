#!/usr/bin/env bash
# Build what spark-submit ships to a cluster: the idres-spark wheel and a relocatable Python
# environment (venv-pack) holding it and its native dependencies (rapidfuzz, pyarrow, pandas,
# numpy, phonenumbers, pydantic).
#
#   jobs/pack_env.sh [--with-pyspark] [DIST]      (DIST defaults to ./dist)
#
# writes
#   DIST/idres_spark-<version>-py3-none-any.whl
#   DIST/idres-env.tar.gz          unpack as ./environment with --archives ...#environment
#
# PySpark is left out on purpose: the cluster's Spark puts its own pyspark on the Python
# workers' path, and a second copy of another version breaks them. --with-pyspark adds the
# pyspark version of the building interpreter's environment, for a machine without Spark.
#
# venv-pack packs the libraries, not the interpreter: the environment's bin/python links to the
# Python that built it, so build on the platform the job runs on (same OS family, CPU
# architecture, and a Python at the same path on every node, e.g. /usr/bin/python3.11 on EMR):
# rapidfuzz and pyarrow are compiled wheels.
# Then submit with (see docs/deploy.md):
#   PYSPARK_PYTHON=./environment/bin/python spark-submit \
#     --archives DIST/idres-env.tar.gz#environment jobs/resolve.py --config job.yaml
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python3}"
with_pyspark=""
if [ "${1:-}" = "--with-pyspark" ]; then with_pyspark=1; shift; fi
dist="$(mkdir -p "${1:-$here/dist}" && cd "${1:-$here/dist}" && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/idres-pack-XXXXXX")"
trap 'rm -rf "$work"' EXIT
pip_quiet=(--quiet --disable-pip-version-check)

echo "building the wheel" >&2
rm -f "$dist"/idres_spark-*.whl
"$python" -m pip wheel "${pip_quiet[@]}" --no-deps --no-build-isolation -w "$dist" "$here" >&2 \
  || "$python" -m pip wheel "${pip_quiet[@]}" --no-deps -w "$dist" "$here" >&2
wheel="$(ls "$dist"/idres_spark-*.whl)"

echo "creating the environment" >&2
"$python" -m venv "$work/env"
"$work/env/bin/python" -m pip install "${pip_quiet[@]}" --upgrade pip >&2
extras=()
if [ -n "$with_pyspark" ]; then
  version="$("$python" -c 'import pyspark; print(pyspark.__version__)')"
  extras+=("pyspark==$version")
fi
"$work/env/bin/python" -m pip install "${pip_quiet[@]}" "$wheel" "${extras[@]}" >&2
"$work/env/bin/python" -c 'import idres_spark, rapidfuzz, pyarrow, pandas, phonenumbers' >&2

echo "packing it" >&2
"$python" -m pip install "${pip_quiet[@]}" --target "$work/tools" venv-pack >&2
rm -f "$dist/idres-env.tar.gz"
PYTHONPATH="$work/tools" "$python" -m venv_pack --quiet --prefix "$work/env" \
  --output "$dist/idres-env.tar.gz"
echo "$wheel"
echo "$dist/idres-env.tar.gz"
