# SPDX-License-Identifier: Apache-2.0
"""The farm inventory: loading and validating farm files, choosing a backend per target, the probe locks."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness.boards import BoardError, Resource, firmware_platform
from harness.boards.farm import (
    Farm,
    FarmError,
    ProbeInfo,
    ProbeLock,
    choose_backend,
    connected_probe_ids,
    load_farm,
)
from harness.paths import REPO_ROOT

EXAMPLE = REPO_ROOT / "farms" / "example.toml"
F746_PROBE = "0669FF555052836687031520"


def write_farm(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "farm.toml"
    path.write_text(textwrap.dedent(text))
    return path


def test_the_example_farm_loads():
    farm = load_farm(EXAMPLE)
    assert farm.on_missing == "fallback"
    assert [(b.name, b.target) for b in farm.boards] == [
        ("desk-f746", "stm32f746"),
        ("rack-f412", "stm32f412"),
        ("rack-h743", "stm32h743"),
    ]
    assert farm.resources_for("stm32f746") == [
        Resource(
            "stm32f746", "pyocd",
            serial_url="/dev/serial/by-id/usb-STMicroelectronics_STM32_STLink_0669FF555052836687031520-if02",
            probe_uid=F746_PROBE, location="desk, left", name="desk-f746", baudrate=115200,
        )
    ]  # fmt: skip
    (f412,) = farm.resources_for("stm32f412")
    assert (f412.serial_url, f412.baudrate) == ("socket://farm-host.local:4001", 115200)  # baud: the target's
    assert farm.resources_for("stm32f999") == []


BOARD = """
[[board]]
name = "a"
target = "stm32f746"
probe = "P1"
serial = "/dev/ttyACM0"
"""


FARM_FILE_CASES = [  # (farm file text, the message's regex): the bad-input matrix's farm layer
        ('[[board]]\ntarget = "stm32f746"\nprobe = "P1"\nserial = "/dev/ttyACM0"\n',
         r"\[\[board\]\] entry 1: field 'name' is missing"),
        (BOARD.replace('probe = "P1"\n', ""), r"entry 1 \('a'\): field 'probe' is missing \(the debug probe's unique id"),
        (BOARD.replace('"P1"', "1234"), r"entry 1 \('a'\): field 'probe' must be a non-empty string"),
        (BOARD.replace('"P1"', '"  "'), r"field 'probe' must be a non-empty string"),
        (BOARD.replace("stm32f746", "stm32f999"), r"field 'target' names no usable target: unknown target 'stm32f999'"),
        (BOARD.replace("/dev/ttyACM0", "ttyACM0"), r"field 'serial' is not a usable console: .*neither an absolute"),
        (BOARD.replace("/dev/ttyACM0", "socket://farm-host"), r"field 'serial' .*needs host:port"),
        (BOARD.replace("/dev/ttyACM0", "rfc2217://farm-host:70000"), r"field 'serial' .*from 1 to 65535"),
        (BOARD + "baud = 0\n", r"entry 1 \('a'\): field 'baud' must be a positive integer \(got 0\)"),
        (BOARD + 'baud = "fast"\n', r"field 'baud' must be a positive integer \(got 'fast'\)"),
        (BOARD + 'seral = "/dev/ttyACM1"\n', r"entry 1 \('a'\): field 'seral' is unknown; a board has name, target"),
        (BOARD + BOARD.replace('"P1"', '"P2"'), r"board 'a' has the same name 'a' as board 'a'"),
        (BOARD + BOARD.replace('name = "a"', 'name = "b"'), r"board 'b' has the same probe 'P1' as board 'a'"),
        ('[farm]\non_missing = "maybe"\n' + BOARD, r'\[farm\] on_missing must be "fallback" or "fail" \(got \'maybe\'\)'),
        ('[farm]\nonmissing = "fail"\n', r"\[farm\] has unknown field\(s\) onmissing"),
        ('[boards]\nname = "a"\n', r"unknown top-level key\(s\) boards"),
        ("[[board]\n", r"is not valid TOML"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "problem"), FARM_FILE_CASES)
def test_a_bad_farm_file_names_the_entry_and_field(tmp_path, text, problem):
    path = write_farm(tmp_path, text)
    with pytest.raises(
        FarmError, match=f"farm file {path}: .*{problem}" if "TOML" not in problem else problem
    ):
        load_farm(path)


def test_a_missing_farm_file(tmp_path):
    with pytest.raises(FarmError, match=r"cannot read farm file .*nope\.toml"):
        load_farm(tmp_path / "nope.toml")


# --- choosing a backend ----------------------------------------------------------------------------


@pytest.fixture
def farm(tmp_path) -> Farm:
    return load_farm(EXAMPLE)


def test_a_connected_farm_board_is_chosen(farm, tmp_path):
    choice = choose_backend("stm32f746", farm, connected=["E6614103", F746_PROBE], lock_dir=tmp_path)
    assert choice.resource == farm.resources_for("stm32f746")[0]
    assert choice.explanation == f"farm board 'desk-f746' (probe {F746_PROBE}) is connected"
    assert firmware_platform(choice.resource.backend) == "hardware"


def test_a_missing_farm_board_falls_back_and_says_so(farm, tmp_path):
    choice = choose_backend(
        "stm32f746", farm, connected=["E6614103"], renode_installed=False, lock_dir=tmp_path
    )
    assert choice.resource == Resource("stm32f746", "qemu")
    assert choice.explanation == (
        f"farm board 'desk-f746' (probe {F746_PROBE}) is not connected; connected probes: E6614103; "
        "falling back to qemu"
    )
    renode = choose_backend("stm32f746", farm, connected=[], renode_installed=True, lock_dir=tmp_path)
    assert renode.resource.backend == "renode" and renode.explanation.endswith(
        "connected probes: none; falling back to renode"
    )
    assert firmware_platform(renode.resource.backend) == "hardware"


def test_a_missing_farm_board_fails_when_the_farm_says_so(tmp_path):
    farm = load_farm(write_farm(tmp_path, '[farm]\non_missing = "fail"\n' + BOARD))
    with pytest.raises(BoardError, match=r"farm board 'a' \(probe P1\) is not connected; connected probes: Q7\. .*"
                       r'says on_missing = "fail"'):  # fmt: skip
        choose_backend("stm32f746", farm, connected=["Q7"], renode_installed=True, lock_dir=tmp_path)


def test_without_a_farm_board_renode_then_qemu(farm, tmp_path):
    assert choose_backend("stm32f746", None, renode_installed=True).resource == Resource(
        "stm32f746", "renode"
    )
    qemu = choose_backend("stm32f412", Farm(), renode_installed=False)
    assert qemu.resource == Resource("stm32f412", "qemu")
    assert qemu.explanation == "no farm board for stm32f412 and Renode is not installed"


def test_backend_can_be_forced(farm, tmp_path):
    connected = [F746_PROBE]
    assert choose_backend("stm32f746", farm, "qemu", connected=connected).resource.backend == "qemu"
    assert (
        choose_backend(
            "stm32f746", farm, "renode", connected=connected, renode_installed=True
        ).resource.backend
        == "renode"
    )
    assert (
        choose_backend("stm32f746", farm, "auto", connected=connected, lock_dir=tmp_path).resource.backend
        == "pyocd"
    )
    with pytest.raises(
        BoardError,
        match=r"--backend pyocd: farm board 'desk-f746' .* is not connected; connected probes: none",
    ):
        choose_backend("stm32f746", farm, "pyocd", connected=[])
    with pytest.raises(
        BoardError, match=r"--backend pyocd: no physical board for stm32f746: no farm file was given"
    ):
        choose_backend("stm32f746", None, "pyocd")
    with pytest.raises(
        BoardError, match=r"unknown backend 'jlink'; choose one of auto, qemu, renode, pyocd, labgrid"
    ):
        choose_backend("stm32f746", farm, "jlink")
    with pytest.raises(ValueError, match=r"unknown target 'stm32f999'"):
        choose_backend("stm32f999", farm)


def test_a_free_board_is_preferred_to_one_in_use(tmp_path):
    text = BOARD + BOARD.replace('name = "a"', 'name = "b"').replace('"P1"', '"P2"')
    farm = load_farm(write_farm(tmp_path, text))
    with ProbeLock("P1", tmp_path / "locks"):
        choice = choose_backend("stm32f746", farm, connected=["P1", "P2"], lock_dir=tmp_path / "locks")
        assert choice.resource.name == "b"
    with ProbeLock("P1", tmp_path / "locks"), ProbeLock("P2", tmp_path / "locks"):
        busy = choose_backend("stm32f746", farm, connected=["P1", "P2"], lock_dir=tmp_path / "locks")
        assert busy.resource.name == "a" and busy.explanation.endswith(
            "(in use by another process: this run will wait for it)"
        )


def test_connected_probe_ids_asks_the_probe_lister(monkeypatch):
    assert connected_probe_ids(lambda: [ProbeInfo("P1", "STLink"), ProbeInfo("P2")]) == ["P1", "P2"]
    # The default lister goes through the real pyocd's ConnectHelper (monkeypatch fails if pyocd has no
    # such call), never blocking for a probe to appear; this machine has no USB probes to list.
    from pyocd.core.helpers import ConnectHelper

    asked = []

    class Probe:
        def __init__(self, uid: str, description: str):
            self.unique_id, self.description = uid, description

    def get_all_connected_probes(**options):
        asked.append(options)
        return [Probe("0669FF5550", "STM32 STLink"), Probe("E6614C3", "CMSIS-DAP")]

    monkeypatch.setattr(ConnectHelper, "get_all_connected_probes", staticmethod(get_all_connected_probes))
    assert connected_probe_ids() == ["0669FF5550", "E6614C3"]
    assert asked == [{"blocking": False}]


# --- probe locks across processes ------------------------------------------------------------------

HOLDER = """
import sys
from pathlib import Path
from harness.boards.farm import ProbeLock
lock = ProbeLock(sys.argv[1], Path(sys.argv[2]))
lock.acquire(timeout=5)
print("locked", flush=True)
sys.stdin.read()  # hold until the test closes our stdin (or kills us)
"""


def test_a_probe_lock_excludes_another_process_until_it_dies(tmp_path):
    lock_dir = tmp_path / "locks"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, F746_PROBE, str(lock_dir)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        cwd=REPO_ROOT, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked"
        lock = ProbeLock(F746_PROBE, lock_dir)
        assert not lock.is_free()
        with pytest.raises(
            BoardError, match=rf"in use by another process \(pid {holder.pid} on .*lock {lock_dir}"
        ):
            lock.acquire(timeout=0.3, who="board 'desk-f746'")
        holder.kill()  # a crashed holder: the kernel drops its lock
        holder.wait(5)
        lock.acquire(timeout=2)
        assert lock.held and f"pid {os.getpid()} " in lock.path.read_text()
        lock.release()
        assert lock.is_free()
    finally:
        holder.kill()
        holder.wait(5)


def test_probe_ids_become_safe_lock_file_names(tmp_path):
    assert ProbeLock("ab/../c d", tmp_path).path == tmp_path / "ab_.._c_d.lock"


def test_exactly_one_serial_module_is_installed_and_it_is_pyserial_labgrid():
    """labgrid needs pyserial-labgrid, which installs the same `serial` package as pyserial: the
    environment must hold exactly one of them, the chosen one (README, "Board farm on labgrid")."""
    from importlib.metadata import distributions, version

    import serial

    providers = sorted(
        {
            d.metadata["Name"]
            for d in distributions()
            if any(str(f) == "serial/__init__.py" for f in d.files or ())
        }
    )
    assert providers == ["pyserial-labgrid"]
    assert serial.VERSION == version("pyserial-labgrid")


def test_a_labgrid_section_is_read_and_checked(tmp_path):
    farm = load_farm(REPO_ROOT / "farms" / "labgrid.toml")
    assert farm.lab.coordinator == "lab-server:20408" and farm.lab.drivers == ("PyOCDDriver",)
    assert farm.lab.filter_for("stm32f746").filters == {"board": "nucleo-f746zg"}
    choice = choose_backend("stm32f746", farm, connected=[], renode_installed=False, lock_dir=tmp_path)
    assert choice.resource.backend == "labgrid"
    assert (
        choice.explanation == "a labgrid place matching board=nucleo-f746zg on coordinator lab-server:20408"
    )
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[labgrid]\ncoordinator = "lab"\n[[labgrid.place]]\ntarget = "stm32f746"\ntags = { Board = "x" }\n'
    )
    with pytest.raises(FarmError, match=r"\[\[labgrid.place\]\] entry 1: tag Board='x' is not a labgrid tag"):
        load_farm(bad)
    bad.write_text('[labgrid]\n[[labgrid.place]]\ntarget = "stm32f746"\nname = "a"\n')
    with pytest.raises(FarmError, match="'coordinator' is missing"):
        load_farm(bad)


def test_bench_keeps_a_farm_files_on_missing_fail_and_stores_the_missing_board_as_an_error_row(tmp_path):
    """Issue 22 finding 5: `bench --farm` with on_missing = "fail" and the board absent fell back to QEMU
    under bench's default backend and exited 0. The farm's setting holds under the default backend; the
    point is a stored error row naming the board."""
    from harness.results.db import ResultsDB

    farm = write_farm(tmp_path, f"""
        [farm]
        on_missing = "fail"
        [[board]]
        name = "desk-f746"
        target = "stm32f746"
        probe = "{F746_PROBE}"
        serial = "socket://127.0.0.1:9"
    """)  # fmt: skip
    results = tmp_path / "results.sqlite"
    env = {k: v for k, v in os.environ.items() if k != "PATCHBENCH_RUN_ID"} | {"PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "harness", "bench", "--farm", str(farm), "--target", "stm32f746",
         "--models", "vww_96_int8", "--patches", "1", "-j", "0", "--results", str(results),
         "--report", str(tmp_path / "report")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    with ResultsDB(results) as db:
        rows = db.results()
    assert list(zip(rows["backend"], rows["status"], strict=True)) == [("pyocd", "error")]
    reason = rows["reason"][0]
    assert reason.startswith(
        "BoardError: farm board 'desk-f746' (probe 0669FF555052836687031520) is not connected"
    )
    assert 'says on_missing = "fail"' in reason
