"""Test-suite hooks: the ``needs_tool`` marker of tests/machine.py, checked before each test runs, and
``slow`` tests left out of a plain run (``pytest -m slow`` runs them)."""

from __future__ import annotations

from machine import require_tools


def pytest_runtest_setup(item):
    for mark in item.iter_markers("needs_tool"):
        require_tools(*mark.args)


def pytest_collection_modifyitems(config, items):
    expression = config.option.markexpr or ""
    if "slow" in expression and "not slow" not in expression:
        return
    slow = [item for item in items if item.get_closest_marker("slow")]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if not item.get_closest_marker("slow")]
