# SPDX-License-Identifier: Apache-2.0
"""The backend registry (harness/boards/registry.py) is the one list of backend names: the classes it
names load, what reads backend names reads it (pytest's and the CLI's --backend, the farm's choice, the
report), labgrid is a backend like the others; and the emulator / board / hil markers select as documented."""

from __future__ import annotations

import pytest

from harness.boards import BoardError, board_class, firmware_platform
from harness.boards.base import Board
from harness.boards.farm import choose_backend, load_farm
from harness.boards.registry import AUTO, BACKEND_CHOICES, BACKEND_NAMES, BACKENDS, UnknownBackend, backend
from harness.cli.registry import build_parser
from harness.paths import REPO_ROOT
from harness.report.sections import describe_backend

LAB_FARM = REPO_ROOT / "farms" / "labgrid.toml"


def test_every_registered_backend_is_a_board_class_with_its_platform():
    assert set(BACKEND_NAMES) == {"qemu", "renode", "pyocd", "labgrid"}
    for name, spec in BACKENDS.items():
        assert spec.name == name
        cls = board_class(name)
        assert issubclass(cls, Board), name
        assert firmware_platform(name) == spec.firmware_platform
    assert [b.name for b in BACKENDS.values() if b.is_emulator] == ["qemu", "renode"]
    assert backend("labgrid").extra == "farm" and backend("qemu").latency_unit == "instructions"


def test_an_unknown_backend_names_the_known_ones():
    with pytest.raises(UnknownBackend, match="unknown board backend 'jlink'; known backends: qemu, renode"):
        backend("jlink")
    with pytest.raises(BoardError, match="known backends: qemu, renode, pyocd, labgrid"):
        firmware_platform("jlink")
    with pytest.raises(BoardError, match=r"choose one of auto, qemu, renode, pyocd, labgrid"):
        choose_backend("stm32f746", None, "jlink", renode_installed=False)


def test_the_cli_offers_the_registry_s_choices():
    bench = build_parser()._subparsers._group_actions[0].choices["bench"]
    (option,) = [a for a in bench._actions if "--backend" in a.option_strings]
    assert tuple(option.choices) == BACKEND_CHOICES == (AUTO, *BACKEND_NAMES)


def test_the_pytest_plugin_accepts_every_backend_and_refuses_others(pytester):
    pytester.makepyfile(test_backend="def test_backend(backend):\n    print('BACKEND', backend)\n")
    for name in BACKEND_CHOICES:
        result = pytester.runpytest(
            "-p", "harness.pytest_plugin", "-s", "--backend", name, "-p", "no:cacheprovider"
        )
        result.assert_outcomes(passed=1)
        result.stdout.fnmatch_lines([f"*BACKEND {name}"])
    refused = pytester.runpytest("-p", "harness.pytest_plugin", "--backend", "jlink")
    assert refused.ret == pytest.ExitCode.USAGE_ERROR
    refused.stderr.fnmatch_lines(["*--backend: invalid choice: 'jlink'*labgrid*"])


def test_labgrid_is_chosen_as_a_backend_and_forcing_it_without_a_place_fails():
    lab_farm = load_farm(LAB_FARM)
    chosen = choose_backend("stm32f746", lab_farm, renode_installed=False)
    assert chosen.resource.backend == "labgrid" and firmware_platform("labgrid") == "hardware"
    assert (
        choose_backend("stm32f746", lab_farm, "labgrid", renode_installed=False).resource.backend == "labgrid"
    )
    with pytest.raises(
        BoardError, match="--backend labgrid: no labgrid place for stm32h743: the farm file .* has no"
    ):
        choose_backend("stm32h743", lab_farm, "labgrid", renode_installed=False)
    with pytest.raises(BoardError, match=r"--backend labgrid: no labgrid place .*no farm file was given"):
        choose_backend("stm32f746", None, "labgrid", renode_installed=False)
    # --backend qemu never goes to the lab
    assert choose_backend("stm32f746", lab_farm, "qemu").resource.backend == "qemu"


def test_the_report_names_each_backend_s_kind():
    assert describe_backend("qemu") == "qemu (emulator)"
    assert describe_backend("labgrid") == "labgrid (board)"
    assert describe_backend("gone-backend") == "gone-backend"  # an older database's name stays as it is


MARKED = """
import pytest

@pytest.mark.emulator
def test_on_the_emulator():
    pass

@pytest.mark.board
def test_a_point():
    pass

@pytest.mark.hil
def test_old_spelling():
    pass

def test_host_only():
    pass
"""


@pytest.mark.parametrize(
    "expression, selected",
    [
        ("emulator", {"test_on_the_emulator", "test_old_spelling"}),
        ("board", {"test_a_point"}),
        ("hil", {"test_on_the_emulator", "test_a_point", "test_old_spelling"}),
        ("not hil", {"test_host_only"}),
        ("emulator and not board", {"test_on_the_emulator", "test_old_spelling"}),
    ],
)
def test_markers_emulator_and_board_and_hil_their_union(pytester, expression, selected):
    pytester.makepyfile(test_marked=MARKED)
    result = pytester.runpytest(
        "-p", "harness.pytest_plugin", "-p", "no:cacheprovider", "--strict-markers", "-m", expression, "-v"
    )
    result.assert_outcomes(passed=len(selected))
    ran = {line.split("::")[1].split()[0] for line in result.outlines if "PASSED" in line and "::" in line}
    assert ran == selected
