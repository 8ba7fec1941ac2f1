# SPDX-License-Identifier: Apache-2.0
"""What a test needs of the machine, in one place: the tools (``needs("gcc")``, a marker that
tests/conftest.py checks before the test runs) and the optional packages (``import_or_skip``).

On a developer's machine a missing tool or package skips the test with the reason and how to install it.
In CI (``CI`` set to anything but "" / "0" / "false") it is a failure: a green CI must mean that every
test ran, not that the runner lacked qemu. Mark only the tests that need the tool, never a whole module
whose other tests need nothing.
"""

from __future__ import annotations

import importlib
import os
import shutil
from types import ModuleType

import pytest

INSTALL_HINT = "./run.sh setup installs it"
TOOLS = {
    "gcc": "the host C compiler (apt-get install gcc)",
    "arm-none-eabi-gcc": "the Arm cross compiler (apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi)",
    "qemu-system-arm": "the QEMU Arm emulator (apt-get install qemu-system-arm)",
    "llvm-mca": "LLVM's machine code analyzer, the Cortex-M7 timing model (apt-get install llvm)",
}


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def needs(*tools: str) -> pytest.MarkDecorator:
    """Mark a test (or a parametrize case) as needing these programs on PATH."""
    unknown = [tool for tool in tools if tool not in TOOLS]
    if unknown:
        raise ValueError(f"unknown tool(s) {unknown}; known: {sorted(TOOLS)}")
    return pytest.mark.needs_tool(*tools)


def missing(tools: tuple[str, ...] | list[str]) -> list[str]:
    return [tool for tool in tools if shutil.which(tool) is None]


def skip_or_fail(reason: str) -> None:
    """Skip with ``reason`` on a developer's machine; fail in CI."""
    if in_ci():
        pytest.fail(f"{reason}; CI must run this test ({INSTALL_HINT})", pytrace=False)
    pytest.skip(f"{reason} ({INSTALL_HINT})")


def require_tools(*tools: str) -> None:
    """For a fixture or test body: skip (fail in CI) unless every tool is on PATH."""
    absent = missing(tools)
    if absent:
        skip_or_fail("not installed: " + "; ".join(f"{tool}, {TOOLS.get(tool, tool)}" for tool in absent))


def import_or_skip(module: str, package: str) -> ModuleType:
    """``pytest.importorskip`` that fails in CI: ``package`` is the pip name that provides ``module``."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        skip_or_fail(f"cannot import {module} ({err}); pip install {package}")
        raise  # unreachable: skip_or_fail raises


def require_cmsis_nn():
    """For a test of the CMSIS-NN kernel set: its sources (CmsisSources), else skip (fail in CI)."""
    from harness.firmware.cmsis import CmsisNotFound, locate

    try:
        return locate()
    except CmsisNotFound as err:
        skip_or_fail(str(err))
        raise  # unreachable: skip_or_fail raises
