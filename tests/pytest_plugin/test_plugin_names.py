# SPDX-License-Identifier: Apache-2.0
"""The plugin's names do not clash with other plugins': labgrid's pytest plugin (options ``--lg-*``,
fixtures ``env``, ``target``, ``strategy``) loads beside it, its ``target`` fixture stays labgrid's and
patchbench's is ``pb_target`` (``--pb-target``: pytest-embedded has a ``--target``)."""

from __future__ import annotations

import pytest

from harness.paths import REPO_ROOT

BOTH = """
def test_both(request):
    manager = request.config.pluginmanager
    assert manager.has_plugin("labgrid") and manager.get_plugin("harness.pytest_plugin") is not None
    fixtures = request._fixturemanager
    assert [d.func.__module__ for d in fixtures.getfixturedefs("target", request.node)] == [
        "labgrid.pytestplugin.fixtures"
    ]
    assert fixtures.getfixturedefs("pb_target", request.node)[-1].func.__module__ == "harness.pytest_plugin"
    assert request.config.getoption("--pb-target") == ["stm32f412"]
"""


def test_the_plugin_loads_beside_labgrid_s_and_keeps_its_own_names(pytester):
    pytester.makepyfile(test_both=BOTH)
    result = pytester.runpytest("-p", "harness.pytest_plugin", "-p", "labgrid", "--pb-target", "stm32f412")
    result.assert_outcomes(passed=1)


def test_target_is_not_an_option_of_patchbench(pytester):
    pytester.makepyfile(test_none="def test_none():\n    pass\n")
    result = pytester.runpytest("-p", "harness.pytest_plugin", "-p", "no:labgrid", "--target", "stm32f412")
    assert result.ret == 4  # usage error: the option is --pb-target
    result.stderr.fnmatch_lines(["*unrecognized arguments: --target*"])


def test_a_session_that_measures_nothing_does_not_need_patchbench_s_models(pytester, monkeypatch, tmp_path):
    """Installed, the plugin is in every session of the environment: an unrelated test suite (here one
    without ../shared, so the default sweep's models do not exist) runs as if it were not there; asking
    for points still checks the names up front."""
    monkeypatch.setenv("PATCHBENCH_SHARED", str(tmp_path / "no-shared"))
    monkeypatch.setenv("PYTHONPATH", str(REPO_ROOT))
    pytester.makepyfile(test_plain="def test_plain():\n    assert 1 + 1 == 2\n")
    plain = pytester.runpytest_subprocess("-p", "harness.pytest_plugin", "-p", "no:cacheprovider")
    plain.assert_outcomes(passed=1)
    assert pytester.runpytest_subprocess("-p", "harness.pytest_plugin", "--help").ret == 0
    asked = pytester.runpytest_subprocess("-p", "harness.pytest_plugin", "--models", "vww_96_int8")
    assert asked.ret == pytest.ExitCode.USAGE_ERROR
    asked.stderr.fnmatch_lines(["*--models / sweep: MLPerf Tiny model 'vww_96_int8' not found*"])
