# SPDX-License-Identifier: Apache-2.0
"""The main job, `python -m harness bench`: a sweep through the benchmark tests, then the report."""

import os
import subprocess
import sys

import pytest

from harness.paths import REPO_ROOT
from harness.results.db import ResultsDB

pytestmark = pytest.mark.emulator


def test_bench_runs_the_sweep_and_says_where_the_results_are(tmp_path):
    results, report = tmp_path / "results.sqlite", tmp_path / "report"
    env = {k: v for k, v in os.environ.items() if k != "PATCHBENCH_RUN_ID"}
    done = subprocess.run(
        [sys.executable, "-m", "harness", "bench", "--target", "stm32f746", "--models", "vww_96_int8",
         "--patches", "1,4", "--depths", "8", "-j", "0", "--results", str(results), "--report", str(report)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"results database {results}" in done.stdout
    with ResultsDB(results) as db:
        frame = db.results()
        run_id = db.latest_run_id()
    # the default sweep measures a per-patch point with the input counted and streamed, per-layer counted only
    assert sorted(zip(frame["p"], frame["input_mode"], frame["status"], strict=True)) == [
        (1, "counted", "passed"), (4, "counted", "passed"), (4, "streamed", "passed"),
    ]  # fmt: skip
    assert frame["exact"].all()
    page = report / f"run-{run_id}.html"
    assert page.is_file() and (report / "index.html").is_file()
    assert "vww_96_int8" in page.read_text()


def test_bench_with_an_unknown_target_fails_clearly(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PATCHBENCH_RUN_ID"}
    done = subprocess.run(
        [sys.executable, "-m", "harness", "bench", "--target", "stm32f999", "--models", "vww_96_int8",
         "--patches", "1", "-j", "0", "--results", str(tmp_path / "r.sqlite"), "--report", str(tmp_path / "rep")],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode != 0
    assert "stm32f999" in done.stdout + done.stderr
