# SPDX-License-Identifier: Apache-2.0
"""Emulator processes, shared by the QEMU and Renode backends: start one on a free TCP port with its
console open (retrying when the port was taken meanwhile), without a shell in a process group of its
own with stdout/stderr in log files, and stop it (wait, then kill the whole group) so that a hung
emulator never outlives its board."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from harness.boards.base import BoardError
from harness.boards.serial_reader import SerialLineReader

KILL_WAIT_S = 5.0
PORT_ATTEMPTS = 5  # a free port can be taken between choosing it and the emulator binding it


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now (it can be taken before the emulator binds it: retry)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def open_console_on_free_port(
    launch: Callable[[int], None],
    failed: Callable[[ConnectionError, int], BoardError | None],
    *,
    connect_timeout: float,
    alive: Callable[[], bool],
    who: str,
) -> SerialLineReader:
    """Start an emulator serving its console on a free port of 127.0.0.1 and return the open console.

    ``launch(port)`` starts the emulator; ``alive()`` says whether it still can come up. When the
    console does not open, ``failed(error, port)`` stops the emulator and returns the BoardError to
    raise, or None when the port was taken meanwhile (then another port is tried)."""
    for _attempt in range(PORT_ATTEMPTS):
        port = free_port()
        launch(port)
        try:
            console = SerialLineReader(f"socket://127.0.0.1:{port}", emulator=True)
            return console.open(connect_timeout, alive=alive)
        except ConnectionError as err:
            error = failed(err, port)
            if error is not None:
                raise error from None
    raise BoardError(f"{who}: no free TCP port for the console after {PORT_ATTEMPTS} attempts")


def start_logged(command: list[str], log_dir: Path, *, stdin=subprocess.DEVNULL) -> subprocess.Popen:
    """Start ``command`` (no shell) in a new session, its stdout and stderr going to files in ``log_dir``.

    In its own session a terminal's Ctrl-C does not reach it (the board stops it, cleanly); so that it
    cannot outlive a process killed outright either (an xdist worker after SIGTERM, SIGKILL), the kernel
    kills it when the process that started it dies (Linux: PR_SET_PDEATHSIG)."""
    with open(log_dir / "stdout.txt", "wb") as stdout, open(log_dir / "stderr.txt", "wb") as stderr:
        return subprocess.Popen(command, stdin=stdin, stdout=stdout, stderr=stderr, start_new_session=True,
                                preexec_fn=_die_with_parent if _PRCTL is not None else None)  # fmt: skip


def _load_prctl():
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _load_prctl()
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: only async-signal-safe work (one system call).
    _PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL)


def stop_process(process: subprocess.Popen, grace: float) -> int | None:
    """Wait up to ``grace`` s for the process to exit by itself, else kill its group; its exit code (None
    when it had to be killed)."""
    try:
        exit_code = process.wait(timeout=grace) if grace > 0 else process.poll()
    except subprocess.TimeoutExpired:
        exit_code = None
    if exit_code is None:
        kill_group(process)
    return exit_code


def kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + KILL_WAIT_S
    while process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)


def read_log(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""
