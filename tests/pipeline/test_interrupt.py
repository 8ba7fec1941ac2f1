# SPDX-License-Identifier: Apache-2.0
"""Interrupting a benchmark run keeps every completed point, and the database opens cleanly after."""

import os
import signal
import sqlite3
import subprocess
import sys
import time

import psutil
import pytest
from interrupts import as_from_a_shell

from harness.paths import REPO_ROOT
from harness.results.db import ResultsDB

pytestmark = [pytest.mark.emulator, pytest.mark.slow]


def _rows(path) -> int:
    if not path.exists():
        return 0
    try:
        return sqlite3.connect(path, timeout=1).execute("SELECT COUNT(*) FROM results").fetchone()[0]
    except sqlite3.OperationalError:
        return 0  # not created yet


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "kill"])
def test_interrupted_run_keeps_completed_rows(tmp_path, how):
    results = tmp_path / "results.sqlite"
    command = [
        sys.executable, "-m", "pytest", str(REPO_ROOT / "tests" / "pipeline" / "test_benchmark.py"), "-q",
        "-p", "no:cacheprovider", "--rootdir", str(REPO_ROOT), "--backend", "qemu",
        "--results", str(results), "--pb-target", "stm32f746", "--models", "vww_96_int8",
        "--patches", "1,2,3,4", "--depths", "8", "--repeat", "1",
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "PATCHBENCH_RUN_ID"}
    proc = subprocess.Popen(
        command,
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        preexec_fn=as_from_a_shell,
    )
    deadline = time.monotonic() + 240
    while _rows(results) < 1 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert proc.poll() is None, (
        "the run ended before it could be interrupted:\n" + proc.stdout.read().decode()
    )
    completed = _rows(results)
    assert completed >= 1
    emulators = [c for c in psutil.Process(proc.pid).children(recursive=True) if "qemu" in c.name()]
    proc.send_signal(how)
    output = proc.communicate(timeout=60)[0].decode()
    # the run ended by the signal, not by finishing its points: pytest exits 2 when interrupted
    assert proc.returncode == (2 if how == signal.SIGINT else -how), f"exit {proc.returncode}:\n{output}"
    with ResultsDB(results) as db:
        frame = db.results()
        assert len(frame) >= completed
        assert set(frame["status"]) <= {"passed"}
    assert sqlite3.connect(results).execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    if how == signal.SIGINT:  # Ctrl-C runs the fixtures' teardown: no emulator outlives the run
        _, alive = psutil.wait_procs(emulators, timeout=10)
        assert not alive, f"emulators left running after Ctrl-C: {alive}"
