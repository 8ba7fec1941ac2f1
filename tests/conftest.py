# SPDX-License-Identifier: Apache-2.0
"""Test-suite hooks: the ``needs_tool`` marker of tests/machine.py, checked before each test runs; and
the user's results (build/results.sqlite, build/report) unchanged by the whole session, or it fails
(unless the session was given --results or --report: then it writes where it was told, as bench does).

The tests mirror the packages (tests/<package>/, tests/project/test_layout.py); every folder of them is on
sys.path, so a test module imports the shared helpers here (``from machine import needs``) and another
test module's helpers (``from test_report import add_run``) by name wherever each sits."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from machine import require_tools
from user_paths import USER_REPORT, USER_RESULTS, snapshot

for _folder in sorted(p for p in Path(__file__).resolve().parent.rglob("*") if p.is_dir()):
    if _folder.name not in ("fixtures", "__pycache__") and str(_folder) not in sys.path:
        sys.path.append(str(_folder))


def pytest_runtest_setup(item):
    for mark in item.iter_markers("needs_tool"):
        require_tools(*mark.args)


def pytest_sessionstart(session):
    config = session.config
    if config.getoption("--results") or config.getoption("--report"):
        return  # told where to write (`patchbench bench` passes build/results.sqlite and build/report)
    if not hasattr(config, "workerinput"):  # the controller sees the whole session
        config._user_paths = snapshot()


def pytest_sessionfinish(session, exitstatus):
    before = getattr(session.config, "_user_paths", None)
    if before is None:
        return
    after = snapshot()
    changed = sorted(path for path in before.keys() | after.keys() if before.get(path) != after.get(path))
    if changed:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        message = (
            f"the test session changed the user's results ({USER_RESULTS}, {USER_REPORT}/): "
            f"{', '.join(changed[:5])}; a test must use its own temporary paths"
        )
        if reporter is not None:
            reporter.write_line(f"ERROR: {message}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
