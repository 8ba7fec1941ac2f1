# SPDX-License-Identifier: Apache-2.0
"""tests/machine.py: in CI a missing tool or package fails the test that needs it; elsewhere it skips,
and only the tests that need the tool (never a whole module by a module-wide skip)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from machine import import_or_skip, needs, require_tools

TESTS = Path(__file__).parents[1]


@pytest.fixture
def no_tools(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no gcc, no qemu


@pytest.mark.parametrize("ci", ["true", "1", "yes"])
def test_in_ci_a_missing_tool_fails(no_tools, monkeypatch, ci):
    monkeypatch.setenv("CI", ci)
    with pytest.raises(
        pytest.fail.Exception, match=r"not installed: qemu-system-arm, the QEMU Arm emulator.*CI must"
    ):
        require_tools("qemu-system-arm")
    with pytest.raises(pytest.fail.Exception, match=r"cannot import no_such_module_pb.*pip install nothing"):
        import_or_skip("no_such_module_pb", "nothing")


@pytest.mark.parametrize("ci", [None, "", "false", "0"])
def test_elsewhere_a_missing_tool_skips_with_the_reason(no_tools, monkeypatch, ci):
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.skip.Exception, match=r"not installed: gcc, the host C compiler"):
        require_tools("gcc")


def test_an_unknown_tool_name_is_a_mistake_in_the_test():
    with pytest.raises(ValueError, match="unknown tool"):
        needs("arm-gcc")


def test_the_marker_fails_a_test_in_ci(pytester, monkeypatch, tmp_path):
    pytester.makeconftest((TESTS / "conftest.py").read_text())
    pytester.syspathinsert(TESTS)
    pytester.makepyfile(
        "from machine import needs\n\n@needs('qemu-system-arm')\ndef test_runs_qemu():\n    pass\n\n"
        "def test_needs_nothing():\n    pass\n"
    )
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("CI", "true")
    pytester.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:labgrid").assert_outcomes(
        passed=1, errors=1
    )
    monkeypatch.delenv("CI")
    pytester.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:labgrid").assert_outcomes(
        passed=1, skipped=1
    )


def test_no_test_module_skips_on_a_missing_tool_by_itself():
    """Every such skip goes through tests/machine.py (a bare skipif/importorskip would skip in CI too)."""
    offenders = []
    for path in sorted(TESTS.rglob("test_*.py")):
        text = path.read_text()
        for pattern in (r"importorskip\(", r"skipif\([^)]*which\(", r"which\([^)]*\)\s+is None"):
            if re.search(pattern, text, flags=re.S) and path.name != "test_machine.py":
                offenders.append(f"{path.name}: {pattern}")
    assert offenders == []
