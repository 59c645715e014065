"""`validate` and `run` agree: what run cannot do, validate refuses with the same code (exit 2,
one line, no traceback); a rule that can never match is a warning, not an error."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from idres_spark.cli import main
from idres_spark.run import demo_data

pytestmark = pytest.mark.e2e

CONFIG = """
sources:
  - name: web
    format: parquet
    path: data/web
    columns: {record_id: id, email: email, phone: phone_number, user_id: customer_id,
              first_name: fname, last_name: lname, event_ts: updated_at}
  - name: crm
    format: csv
    path: data/crm
    timestamp_format: "yyyy-MM-dd HH:mm:ss"
    columns: {record_id: crm_id, email: Email, phone: Phone, user_id: CustomerNumber,
              first_name: FirstName, last_name: LastName, event_ts: ModifiedDate}
rules:
  - name: phone-and-name
    within: 30d
    all:
      - {field: phone, compare: equals}
      - {field: first_name, compare: equals}
    only_if: [{field: first_name, op: regex, value: '^\\p{L}'}]
output: {path: out}
"""


@pytest.fixture(scope="module")
def job_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("validate")
    demo_data.write(folder / "data", n_people=60, seed=5)
    return folder


def write(job_dir, name, text):
    path = job_dir / name
    path.write_text(text)
    return str(path)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "idres_spark", *args],
        capture_output=True, text=True, timeout=300, env=dict(os.environ),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("old", "new", "code"),
    [
        ("'^\\p{L}'", "'(?P<first>a)'", "invalid_regex"),  # Python's syntax, not Java's
        ('"yyyy-MM-dd HH:mm:ss"', '"YYYY-ww HH:mm"', "invalid_timestamp_format"),
    ],
)
def test_validate_and_run_refuse_what_spark_cannot_run(spark, job_dir, capsys, old, new, code):
    config = write(job_dir, f"{code}.yaml", CONFIG.replace(old, new))
    output = str(job_dir / f"out-{code}")
    assert main(["validate", "--config", config]) == 2
    assert main(["run", "--config", config, "--output", output]) == 2
    err = capsys.readouterr().err
    assert err.count(f"idres-spark: error [{code}]") == 2
    assert "Traceback" not in err
    assert not os.path.exists(os.path.join(output, "_published"))


def test_the_config_with_a_java_regex_validates(spark, job_dir, capsys):
    assert main(["validate", "--config", write(job_dir, "ok.yaml", CONFIG)]) == 0
    captured = capsys.readouterr()
    assert "config OK" in captured.out and "warning" not in captured.err


def test_a_rule_on_a_field_no_source_maps_is_a_warning(spark, job_dir, capsys):
    text = CONFIG.replace("{field: first_name, compare: equals}", "{field: ip, compare: equals}")
    assert main(["validate", "--config", write(job_dir, "ip.yaml", text)]) == 0
    captured = capsys.readouterr()
    assert "config OK" in captured.out
    (warning,) = [line for line in captured.err.splitlines() if "idres-spark: warning" in line]
    assert "'phone-and-name'" in warning and "'ip'" in warning and "(web, crm)" in warning


PAIR = "{any: [{field: email, compare: equals}, {field: phone, compare: equals}]}"
AND_OF_26_PAIRS = f"  - name: bomb\n    all: [&p {PAIR}{', *p' * 25}]\noutput:"  # 2**26 branches


@pytest.mark.parametrize(
    ("old", "new", "code"),
    [("within: 30d", "within: 3652501d", "within_out_of_range"),
     ("output:", AND_OF_26_PAIRS, "too_many_branches")],
)  # fmt: skip
def test_out_of_range_values_exit_2_in_validate_and_run_without_spark(job_dir, old, new, code):
    config = write(job_dir, f"{code}.yaml", CONFIG.replace(old, new))
    for command in ("validate", "run"):
        result = run_cli(command, "--config", config)
        assert result.returncode == 2, result.stderr
        assert f"[{code}]" in result.stderr and "Traceback" not in result.stderr


def test_a_yaml_alias_bomb_exits_2_quickly(job_dir):
    lines = [CONFIG, "x0: &x0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"x{i}: &x{i} [{', '.join([f'*x{i - 1}'] * 10)}]" for i in range(1, 9)]
    result = run_cli("validate", "--config", write(job_dir, "bomb.yaml", "\n".join(lines)))
    assert result.returncode == 2 and "[yaml_too_large]" in result.stderr
