"""Test-suite hooks: the ``needs_tool`` marker of tests/machine.py, checked before each test runs."""

from __future__ import annotations

from machine import require_tools


def pytest_runtest_setup(item):
    for mark in item.iter_markers("needs_tool"):
        require_tools(*mark.args)
