# SPDX-License-Identifier: Apache-2.0
"""Starting a run that a test then interrupts, as a user's shell would start it."""

from __future__ import annotations

import signal


def as_from_a_shell() -> None:
    """Popen's ``preexec_fn`` for a run that a test sends Ctrl-C: in the run's process before it starts, SIGINT
    (and SIGTERM) as a shell leaves them to a command, neither ignored nor blocked. An ignored or blocked signal is
    inherited from the process that starts it (here an xdist worker, in which a library of an earlier test may have
    left SIGINT so), and Python keeps an ignored SIGINT ignored: the run would not see the Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
