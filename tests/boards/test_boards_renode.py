# SPDX-License-Identifier: Apache-2.0
"""The Renode backend without Renode (it is in no registry these machines reach): the .resc it writes and
the command line it runs, the clear error when Renode is missing, and its process handling, driven by a
stand-in ``renode`` on PATH that reads the generated script, opens the console pty it names and plays a
record the stub firmware really printed on QEMU (or hangs, or reports a script error, as Renode would)."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
from machine import needs

from harness.boards import BoardError, BoardTimeout, QemuBoard, Resource, firmware_platform, open_board
from harness.boards.farm import choose_backend
from harness.boards.protocol import parse_record
from harness.boards.renode import RENODE_NOT_FOUND, RenodeBoard, renode_command, renode_script
from harness.firmware.build import BuildOptions, build_firmware
from harness.firmware.targets import load_target

TARGET = "stm32f746"
STUB = {"stub_model.c": (Path(__file__).parents[1] / "fixtures" / "stub_model.c").read_text()}
needs_toolchain = needs("arm-none-eabi-gcc", "qemu-system-arm")


# --- the script and the command line ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "platform", "mips"),
    [
        ("stm32f412", "platforms/cpus/stm32f4.repl", 100),
        ("stm32f746", "platforms/cpus/stm32f746.repl", 216),
        ("stm32h743", "platforms/cpus/stm32h743.repl", 480),
    ],
)
def test_script_loads_the_platform_the_elf_and_a_console_pty(target, platform, mips):
    script = renode_script(load_target(target), Path("/tmp/run-1/firmware.elf"), Path("/tmp/run-1/console"))
    commands = [line for line in script.splitlines() if line and not line.startswith("#")]
    assert commands == [
        f'mach create "{target}"',
        f"machine LoadPlatformDescription @{platform}",
        'machine LoadPlatformDescriptionFromString "dwt: Miscellaneous.DWT @ sysbus 0xe0001000 '
        f'{{ frequency: {mips * 1_000_000} }}"',
        f"sysbus.cpu PerformanceInMips {mips}",
        'emulation CreateUartPtyTerminal "term" "/tmp/run-1/console"',
        "connector Connect sysbus.usart3 term",
        "sysbus LoadELF @/tmp/run-1/firmware.elf",
        "sysbus.cpu VectorTableOffset 0x8000000",
        "start",
    ]


def test_command_line_is_headless_without_a_shell():
    assert renode_command("/opt/renode/renode", Path("/tmp/run-1/run.resc")) == [
        "/opt/renode/renode",
        "--disable-xwt",
        "--console",
        "--plain",
        "-e",
        "include @/tmp/run-1/run.resc",
    ]


def test_paths_renode_cannot_parse_are_refused():
    with pytest.raises(BoardError, match="Renode cannot take the path '/tmp/my builds/firmware.elf'"):
        renode_script(load_target(TARGET), Path("/tmp/my builds/firmware.elf"), Path("/tmp/run-1/console"))


# --- Renode missing --------------------------------------------------------------------------------


@pytest.fixture
def no_renode(tmp_path, monkeypatch):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


def test_selecting_renode_without_it_says_what_to_do(no_renode):
    assert RENODE_NOT_FOUND == "renode not found on PATH; install Renode (see README) or use --backend qemu"
    with pytest.raises(BoardError) as made:
        RenodeBoard(Resource(TARGET, "renode"))
    with pytest.raises(BoardError) as opened:
        open_board(Resource(TARGET, "renode"))
    with pytest.raises(BoardError) as chosen:
        choose_backend(TARGET, None, "renode")
    assert str(made.value) == str(opened.value) == str(chosen.value) == RENODE_NOT_FOUND


def test_without_renode_the_choice_is_qemu(no_renode):
    choice = choose_backend(TARGET, None)
    assert choice.resource.backend == "qemu" and firmware_platform(choice.resource.backend) == "qemu"


# --- the process, with a stand-in renode -----------------------------------------------------------

FAKE_RENODE = """\
#!{python}
# Stands in for Renode: checks the command line and the script, then plays the console.
import os, pty, re, sys, time, tty
args = sys.argv[1:]
assert args[:4] == ["--disable-xwt", "--console", "--plain", "-e"], args
script = open(re.fullmatch(r"include @(\\S+)", args[4]).group(1)).read()
elf = re.search(r"^sysbus LoadELF @(\\S+)$", script, re.M).group(1)
assert open(elf, "rb").read(4) == b"\\x7fELF", elf
link = re.search(r'^emulation CreateUartPtyTerminal "term" "(\\S+)"$', script, re.M).group(1)
assert "CreateServerSocketTerminal" not in script  # a server socket would listen on every interface
mode = os.environ["FAKE_RENODE_MODE"]
print("12:00:00.0000 [INFO] Loaded monitor commands", flush=True)
if mode == "error":
    print("12:00:01.0000 [ERROR] Could not find file 'platforms/cpus/stm32f746.repl'", flush=True)
    time.sleep(60)  # Renode keeps running after a failed script
master, slave = pty.openpty()  # as Renode's UART pty terminal: a pty, linked where the script says
tty.setraw(slave)
os.symlink(os.ttyname(slave), link)
open(os.environ["FAKE_RENODE_PIDS"], "a").write(f"{{os.getpid()}}\\n")
record = open(os.environ["FAKE_RENODE_RECORD"], "rb").read()
time.sleep(0.5)  # 'start': the firmware runs and prints
if mode == "hang":
    os.write(master, record[: len(record) // 2])
    time.sleep(60)
os.write(master, record)
for line in sys.stdin:  # the monitor: wait for quit
    if line.strip() == "quit":
        print("quitting", flush=True)
        sys.exit(0)
"""


@dataclass(frozen=True)
class Captured:
    lines: list[str]
    build_id: str
    hardware_elf: Path
    qemu_elf: Path


@pytest.fixture(scope="module")
def captured(tmp_path_factory) -> Captured:
    root = tmp_path_factory.mktemp("builds")
    emulated = build_firmware(STUB, TARGET, BuildOptions(platform="qemu"), build_root=root)
    hardware = build_firmware(STUB, TARGET, BuildOptions(platform="hardware"), build_root=root)
    with QemuBoard(Resource(TARGET, "qemu")) as board:
        board.flash(emulated.elf)
        output = board.run(timeout=20)
    assert output.lines[-1].startswith("PB1 END")
    return Captured(output.lines, emulated.build_id, hardware.elf, emulated.elf)


@pytest.fixture
def fake_renode(tmp_path, monkeypatch, captured):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    renode = bin_dir / "renode"
    renode.write_text(FAKE_RENODE.format(python=sys.executable))
    renode.chmod(0o755)
    record = tmp_path / "record.txt"
    record.write_bytes("".join(line + "\n" for line in captured.lines).encode())
    pids = tmp_path / "pids.txt"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_RENODE_RECORD", str(record))
    monkeypatch.setenv("FAKE_RENODE_PIDS", str(pids))

    def set_mode(mode: str) -> Path:
        monkeypatch.setenv("FAKE_RENODE_MODE", mode)
        return pids

    return set_mode


def gone(pids_file: Path) -> bool:
    pids = [int(pid) for pid in pids_file.read_text().split()]
    return bool(pids) and not any(
        psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE for pid in pids
    )


@pytest.fixture
def temp_dir(tmp_path, monkeypatch) -> Path:
    """Where the backend's per-run folders (script, ELF copy, log) go, to check they are removed."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@needs_toolchain
def test_a_record_comes_through_the_console_pty(captured, fake_renode, temp_dir):
    pids = fake_renode("serve")
    with open_board(Resource(TARGET, "renode")) as board:
        assert isinstance(board, RenodeBoard) and board.board_id == "renode:stm32f746"
        board.flash(captured.hardware_elf)
        output = board.run(timeout=15)
        assert board.process is None
    assert output.lines == captured.lines and output.reason == "stop" and output.exit_code is None
    assert parse_record(output.lines, captured.build_id, expected_target=TARGET).model == "stub"
    assert gone(pids)  # it quit when asked
    assert list(temp_dir.iterdir()) == []


@needs_toolchain
def test_a_hung_run_is_stopped_and_cleaned_up(captured, fake_renode, temp_dir):
    pids = fake_renode("hang")
    board = RenodeBoard(Resource(TARGET, "renode"))
    board.flash(captured.hardware_elf)
    started = time.monotonic()
    with pytest.raises(
        BoardTimeout, match=r"renode:stm32f746: firmware.elf did not finish within 1.5 s"
    ) as info:
        board.run(timeout=1.5)
    assert time.monotonic() - started < 5
    assert info.value.lines[0].startswith("PB1 BEGIN")
    assert board.process is None and list(temp_dir.iterdir()) == []
    assert gone(pids)


@needs_toolchain
def test_a_script_error_is_reported_at_once_with_renodes_log(captured, fake_renode):
    fake_renode("error")
    board = RenodeBoard(Resource(TARGET, "renode"))
    board.flash(captured.hardware_elf)
    started = time.monotonic()
    with pytest.raises(
        BoardError, match=r"(?s)Renode did not start the firmware.*\[ERROR\] Could not find file"
    ):
        board.run(timeout=15)
    assert time.monotonic() - started < 5  # not the 60 s start timeout
    assert board.process is None
    assert "[ERROR] Could not find file" in board.diagnostics()


@needs_toolchain
def test_firmware_built_for_qemu_is_refused(captured, fake_renode):
    fake_renode("serve")
    board = RenodeBoard(Resource(TARGET, "renode"))
    with pytest.raises(
        BoardError, match=r"renode:stm32f746: firmware.elf puts .* at 0x00000000.*platform='hardware'"
    ):
        board.flash(captured.qemu_elf)
