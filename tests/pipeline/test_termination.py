# SPDX-License-Identifier: Apache-2.0
"""SIGTERM (what CI runners and ``timeout`` send) and SIGHUP end a session like Ctrl-C: every row
completed before the signal is stored, and no emulator outlives the session."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import psutil
import pytest
from machine import needs

from harness.paths import REPO_ROOT
from harness.pipeline.termination import TERMINATING_SIGNALS, interrupt_on_termination

SWEEP = """[sweep]
targets = ["stm32f746", "stm32h743"]
models = ["vww_96_int8"]
patches = [1, 2, 4]
depths = [5]
repeat = 60  # each run takes seconds: the signal finds an emulator mid-run
"""


@pytest.mark.parametrize("signum", TERMINATING_SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_a_terminating_signal_raises_keyboard_interrupt(signum):
    saved = signal.getsignal(signum)
    try:
        signal.signal(signum, signal.SIG_DFL)
        assert interrupt_on_termination()
        with pytest.raises(KeyboardInterrupt, match=signal.Signals(signum).name):
            os.kill(os.getpid(), signum)
            time.sleep(1)  # the handler runs at the next bytecode
    finally:
        signal.signal(signum, saved)


def _rows(db) -> list[tuple]:
    if not db.exists():
        return []
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
            return con.execute("SELECT target, p, n, status FROM results").fetchall()
    except sqlite3.OperationalError:  # not created yet
        return []


def _our_emulators(build: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if "qemu-system-arm" in (process.info["name"] or "") + cmdline and build in cmdline:
            found.append(process)
    return found


@pytest.mark.emulator
@needs("arm-none-eabi-gcc", "qemu-system-arm")
def test_sigterm_to_a_running_parallel_session_keeps_every_row_and_leaves_no_emulator(tmp_path):
    sweep, db, build = tmp_path / "sweep.toml", tmp_path / "results.sqlite", tmp_path / "build"
    sweep.write_text(SWEEP)
    command = [sys.executable, "-m", "pytest", str(REPO_ROOT / "tests" / "pipeline" / "test_benchmark.py"), "-m", "board",
               "-n", "2", "-v", "-p", "no:cacheprovider", "--rootdir", str(REPO_ROOT), "--sweep", str(sweep),
               "--results", str(db), "--backend", "qemu"]  # fmt: skip
    env = {**os.environ, "PATCHBENCH_BUILD": str(build)}
    session = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 600
        while len(_rows(db)) < 1 or not _our_emulators(str(build)):
            assert session.poll() is None and time.monotonic() < deadline, "the session ended before the test"
            time.sleep(0.2)
        stored_before = set(_rows(db))
        os.killpg(session.pid, signal.SIGTERM)  # as `timeout` and CI runners do: controller and workers
        out = session.communicate(timeout=120)[0]
    finally:
        if session.poll() is None:
            os.killpg(session.pid, signal.SIGKILL)
    assert session.returncode != 0, out
    rows = set(_rows(db))
    assert stored_before <= rows and len(rows) < 6, out  # interrupted, and nothing stored was lost
    passed = [line for line in out.splitlines() if " PASSED " in line or " SKIPPED " in line]
    assert len(passed) <= len(rows), out  # every point reported done has its row
    time.sleep(1.0)
    assert _our_emulators(str(build)) == [], out
