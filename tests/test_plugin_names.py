"""The plugin's names do not clash with other plugins': labgrid's pytest plugin (options ``--lg-*``,
fixtures ``env``, ``target``, ``strategy``) loads beside it, its ``target`` fixture stays labgrid's and
patchbench's is ``pb_target`` (``--pb-target``: pytest-embedded has a ``--target``)."""

from __future__ import annotations

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
