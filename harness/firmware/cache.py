# SPDX-License-Identifier: Apache-2.0
"""The build folder's cache entries (firmware, libraries): one process at a time builds or repairs an
entry, the others wait for its lock and then find it; a broken entry is moved aside at once and deleted.

An entry is built in a temporary folder beside it and renamed into place when complete, so a reader never
sees half an entry; a process killed mid-build leaves only the temporary folder."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
from pathlib import Path


@contextlib.contextmanager
def entry_lock(path: Path):
    """Hold an exclusive lock on ``path`` (created if missing) for the ``with`` block."""
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def discard(entry: Path) -> None:
    """Move a broken cache entry out of the way at once (a rename), then delete it."""
    aside = entry.with_name(f".broken-{entry.name}-{os.getpid()}")
    try:
        entry.rename(aside)
    except FileNotFoundError:
        return
    shutil.rmtree(aside, ignore_errors=True)


@contextlib.contextmanager
def new_entry(entry: Path):
    """A temporary folder beside ``entry`` to build it in (a broken ``entry`` is discarded first): renamed
    into ``entry`` when the ``with`` block ends, deleted when it raises. Use it under the entry's lock."""
    if entry.exists():
        discard(entry)
    work = Path(tempfile.mkdtemp(prefix=f".{entry.name}-", dir=entry.parent))
    try:
        yield work
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    work.rename(entry)
