# SPDX-License-Identifier: Apache-2.0
"""A farm file naming a probe that is not connected, through a whole pytest session."""

import os
import subprocess
import sys

import pytest

from harness.paths import REPO_ROOT

pytestmark = pytest.mark.emulator

FARM = """
[farm]
on_missing = "{on_missing}"

[[board]]
name = "desk-f746"
target = "stm32f746"
probe = "0669FF555052836687031520"
serial = "/dev/ttyACM0"
"""


def _session(tmp_path, on_missing: str) -> subprocess.CompletedProcess:
    farm = tmp_path / "farm.toml"
    farm.write_text(FARM.format(on_missing=on_missing))
    env = {k: v for k, v in os.environ.items() if k != "PATCHBENCH_RUN_ID"}
    return subprocess.run(
        [sys.executable, "-m", "pytest", str(REPO_ROOT / "tests" / "pipeline" / "test_benchmark.py"), "-q", "-p", "no:cacheprovider",
         "--rootdir", str(REPO_ROOT), "--farm", str(farm), "--pb-target", "stm32f746", "--models", "vww_96_int8",
         "--patches", "1", "--repeat", "1", "--results", str(tmp_path / "r.sqlite")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_missing_farm_board_falls_back_to_the_emulator_and_says_so(tmp_path):
    done = _session(tmp_path, "fallback")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "farm board 'desk-f746' (probe 0669FF555052836687031520) is not connected" in done.stdout
    assert "falling back to qemu" in done.stdout


def test_missing_farm_board_fails_when_the_farm_says_so(tmp_path):
    done = _session(tmp_path, "fail")
    assert done.returncode != 0
    assert "desk-f746" in done.stdout and 'on_missing = "fail"' in done.stdout
