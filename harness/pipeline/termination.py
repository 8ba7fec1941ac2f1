# SPDX-License-Identifier: Apache-2.0
"""SIGTERM and SIGHUP end a benchmark session the way Ctrl-C does.

CI runners and ``timeout`` stop a job with SIGTERM, a closed terminal sends SIGHUP; by default either
kills the process at once: no fixture teardown, so emulators (in sessions of their own) and locked
boards outlive the run. Raising KeyboardInterrupt instead runs every path Ctrl-C runs: the point being
measured is abandoned, the rows already stored stay (each is committed on its own), boards are stopped
and released. Installed in every pytest process (the controller and each xdist worker); the emulators
also die with the process that started them (harness/boards/process.py), for a worker killed outright.
"""

from __future__ import annotations

import os
import signal
import threading

TERMINATING_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def interrupt_on_termination() -> bool:
    """Make SIGTERM and SIGHUP raise KeyboardInterrupt in this process (main thread only, and only where
    the handler is still the default one); whether any handler was installed."""
    if threading.current_thread() is not threading.main_thread():
        return False
    installed = False
    for signum in TERMINATING_SIGNALS:
        if signal.getsignal(signum) in (signal.SIG_DFL, None):
            signal.signal(signum, _as_keyboard_interrupt)
            installed = True
    return installed


def _as_keyboard_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt(f"{signal.Signals(signum).name} (pid {os.getpid()})")
