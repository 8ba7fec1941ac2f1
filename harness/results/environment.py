# SPDX-License-Identifier: Apache-2.0
"""What a run ran on: the facts stored with every run so results can be compared and reproduced."""

from __future__ import annotations

import functools
import platform
import shutil
import subprocess
import sys

from harness.paths import REPO_ROOT


def _first_line(command: list[str]) -> str | None:
    if shutil.which(command[0]) is None:
        return None
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (done.stdout or done.stderr).strip()
    return text.splitlines()[0] if text else None


def git_commit() -> str | None:
    commit = _first_line(["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"])
    if commit is None:
        return None
    dirty = _first_line(["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--untracked-files=no"])
    return commit + ("-dirty" if dirty else "")


def _package_version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


@functools.cache
def describe_environment() -> dict:
    """Versions of everything that shapes a result: toolchain, emulators, probe software, host."""
    return {
        "git_commit": git_commit(),
        "host": platform.node(),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "gcc": _first_line(["arm-none-eabi-gcc", "--version"]),
        "qemu": _first_line(["qemu-system-arm", "--version"]),
        "renode": _first_line(["renode", "--version"]),
        "pyocd": _package_version("pyocd"),
        "numpy": _package_version("numpy"),
        "patchbench": _package_version("patchbench"),
    }
