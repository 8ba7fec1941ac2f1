# SPDX-License-Identifier: Apache-2.0
"""The pyocd backend without a board: only the probe boundary (harness.boards.pyocd_board.PyocdApi) is a
fake; the console is real. A thread serves ``socket://127.0.0.1:<port>`` like ser2net and replays a
record that the stub firmware really printed on QEMU, so the bytes go through the same
SerialLineReader as on the emulator; the lock files, the ELF check and the error handling are real."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from machine import require_tools
from pyocd.core import exceptions as pyocd_errors
from pyocd.core.target import Target as PyocdTarget

from harness.boards import BACKENDS, BoardError, BoardTimeout, QemuBoard, Resource, open_board
from harness.boards.base import BoardLost
from harness.boards.farm import ProbeInfo, ProbeLock, parse_console_url
from harness.boards.protocol import parse_record
from harness.boards.pyocd_board import PyocdApi, PyocdBoard
from harness.firmware.build import BuildOptions, build_firmware

TARGET = "stm32f746"
UID = "0669FF555052836687031520"
STUB = {"stub_model.c": (Path(__file__).parents[1] / "fixtures" / "stub_model.c").read_text()}


@dataclass(frozen=True)
class Captured:
    lines: list[str]  # what the stub firmware printed on QEMU, line by line
    build_id: str
    hardware_elf: Path  # the same model built for the STM32 itself: what a probe would flash
    qemu_elf: Path


@pytest.fixture(scope="module")
def captured(tmp_path_factory) -> Captured:
    require_tools("arm-none-eabi-gcc", "qemu-system-arm")  # the replayed record is a real QEMU run
    root = tmp_path_factory.mktemp("builds")
    emulated = build_firmware(STUB, TARGET, BuildOptions(platform="qemu"), build_root=root)
    hardware = build_firmware(STUB, TARGET, BuildOptions(platform="hardware"), build_root=root)
    with QemuBoard(Resource(TARGET, "qemu")) as board:
        board.flash(emulated.elf)
        output = board.run(timeout=20)
    assert output.reason == "stop" and output.lines[-1].startswith("PB1 END")
    return Captured(output.lines, emulated.build_id, hardware.elf, emulated.elf)


# --- the console: a ser2net-like TCP server replaying the record ----------------------------------


class ReplayConsole:
    """Serves one script per accepted connection. A script item is bytes (sent), a float (a pause),
    "resume" (wait until the fake probe resumes the core), "close" (hang up) or "hold" (stay connected,
    silent, until the client hangs up)."""

    def __init__(self, *scripts, resumed: threading.Event):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"socket://127.0.0.1:{self.listener.getsockname()[1]}"
        self.scripts = list(scripts)
        self.resumed = resumed
        self.connections = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        with self.listener:
            for script in self.scripts:
                connection, _ = self.listener.accept()
                self.connections += 1
                with connection:
                    for item in script:
                        if item == "resume":
                            self.resumed.wait(10)
                        elif item == "close":
                            break
                        elif item == "hold":
                            connection.settimeout(10)
                            try:
                                while connection.recv(64):
                                    pass
                            except OSError:
                                pass
                        elif isinstance(item, float):
                            time.sleep(item)
                        else:
                            connection.sendall(item)


def uart_bytes(lines: list[str]) -> bytes:
    return "".join(line + "\n" for line in lines).encode()  # the firmware ends lines with \n only


# --- the probe boundary: a fake of the pyocd calls ------------------------------------------------


@dataclass
class FakeProbes:
    """Connected probes and what happens to them. ``api`` is what PyocdBoard gets instead of pyocd."""

    connected: list[ProbeInfo] = field(default_factory=lambda: [ProbeInfo(UID, "STM32 STLink")])
    resumed: threading.Event = field(default_factory=threading.Event)
    calls: list[str] = field(default_factory=list)
    sessions: list[dict] = field(default_factory=list)
    open_error: Exception | None = None
    program_error: Exception | None = None
    reset_error: Exception | None = None
    unplugged: bool = False
    core_state: PyocdTarget.State = PyocdTarget.State.RUNNING

    @property
    def api(self) -> PyocdApi:
        return PyocdApi(lambda: list(self.connected), self.session_with_chosen_probe, self.program)

    def session_with_chosen_probe(self, **kwargs):
        """Like pyocd's: a contains-match on the unique id; None unless exactly one probe matches."""
        self.sessions.append(kwargs)
        matches = [p for p in self.connected if kwargs["unique_id"].lower() in p.unique_id.lower()]
        return _FakeSession(self, matches[0].unique_id) if len(matches) == 1 else None

    def program(self, session, elf: Path) -> None:
        assert session.is_open
        self.calls.append(f"program {elf.name}")
        if self.program_error:
            raise self.program_error


class _FakeSession:
    def __init__(self, probes: FakeProbes, unique_id: str):
        self.probes = probes
        self.probe = type("Probe", (), {"unique_id": unique_id})()
        self.target = _FakeTarget(probes)
        self.is_open = False

    def open(self):
        self.probes.calls.append("open")
        if self.probes.open_error:
            raise self.probes.open_error
        self.is_open = True

    def close(self):
        self.probes.calls.append("close")
        self.is_open = False


class _FakeTarget:
    def __init__(self, probes: FakeProbes):
        self.probes = probes

    def reset_and_halt(self):
        self.probes.calls.append("reset_and_halt")
        self.probes.resumed.clear()
        if self.probes.reset_error:
            raise self.probes.reset_error

    def resume(self):
        self.probes.calls.append("resume")
        self.probes.resumed.set()

    def get_state(self):
        if self.probes.unplugged:
            raise pyocd_errors.ProbeDisconnected("STLink disconnected")
        return self.probes.core_state


def make_board(probes: FakeProbes, console_url: str, tmp_path: Path, **options) -> PyocdBoard:
    resource = Resource(
        TARGET, "pyocd", serial_url=console_url, probe_uid=UID, location="desk, left", name="desk-f746",
        baudrate=115200,
    )  # fmt: skip
    options.setdefault("lock_dir", tmp_path / "locks")
    return PyocdBoard(resource, probe_api=probes.api, **options)


# --- a run that works ------------------------------------------------------------------------------


def test_flash_reset_and_read_a_record(captured, tmp_path):
    probes = FakeProbes()
    console = ReplayConsole(["resume", uart_bytes(captured.lines), "hold"], resumed=probes.resumed)
    board = open_board(console_resource(console.url), probe_api=probes.api, lock_dir=tmp_path / "locks")
    assert isinstance(board, PyocdBoard) and BACKENDS["pyocd"].load() is PyocdBoard
    assert board.board_id == UID and board.baudrate == 115200
    board.flash(captured.hardware_elf)
    assert not ProbeLock(UID, tmp_path / "locks").is_free()  # held while the board is in use
    output = board.run(timeout=10)
    board.close()

    assert output.lines == captured.lines and output.reason == "stop" and output.exit_code is None
    record = parse_record(output.lines, captured.build_id, expected_target=TARGET)
    assert record.model == "stub" and [layer.name for layer in record.layers] == ["sum", "scale", "pack"]
    # Flash, then reset with the core held until the console is open, then run; the session closes.
    assert probes.calls == ["open", "program firmware.elf", "reset_and_halt", "resume", "close"]
    (session,) = probes.sessions
    assert session["unique_id"] == UID and session["target_override"] == "stm32f746zgtx"
    assert session["blocking"] is False and session["return_first"] is False
    assert ProbeLock(UID, tmp_path / "locks").is_free()


def console_resource(url: str) -> Resource:
    return Resource(TARGET, "pyocd", serial_url=url, probe_uid=UID, name="desk-f746", baudrate=115200)


def test_output_from_before_the_reset_is_not_taken_for_this_run(captured, tmp_path):
    """The console still holds half a line of an earlier run: it must not end up in this record."""
    probes = FakeProbes()
    stale = uart_bytes(captured.lines[:3]) + b"PB1 LAYER 0 1 sc"
    # Part arrives at once, part while the core is halted (still in flight), then this run's record.
    console = ReplayConsole(
        [stale[:40], 0.05, stale[40:], "resume", uart_bytes(captured.lines), "hold"], resumed=probes.resumed
    )
    with make_board(probes, console.url, tmp_path) as board:
        board.flash(captured.hardware_elf)
        output = board.run(timeout=10)
    assert output.lines == captured.lines


# --- addressing the probe --------------------------------------------------------------------------


def test_a_board_without_probe_id_is_refused(tmp_path):
    resource = Resource(TARGET, "pyocd", serial_url="/dev/ttyACM0", name="desk-f746")
    with pytest.raises(
        BoardError, match=r"board 'desk-f746' .*no probe unique id.*never by taking the first probe"
    ):
        PyocdBoard(resource, probe_api=FakeProbes().api, lock_dir=tmp_path)


def test_a_probe_that_is_not_connected_lists_the_connected_ones(captured, tmp_path):
    probes = FakeProbes(
        connected=[ProbeInfo("066DFF485550755187121723", "STM32 STLink"), ProbeInfo("E6614103")]
    )
    board = make_board(probes, "socket://127.0.0.1:9", tmp_path)
    with pytest.raises(BoardError) as info:
        board.flash(captured.hardware_elf)
    message = str(info.value)
    assert f"board 'desk-f746' (probe {UID}" in message
    assert (
        f"probe {UID} is not connected; connected probes: 066DFF485550755187121723 (STM32 STLink), E6614103"
        in message
    )
    assert probes.sessions == [] and board.elf is None
    assert ProbeLock(UID, tmp_path / "locks").is_free()  # a failed open does not keep the board locked


def test_part_of_a_probe_id_is_not_enough(captured, tmp_path):
    probes = FakeProbes(connected=[ProbeInfo(UID + "FF")])
    with pytest.raises(BoardError, match=f"probe id '{UID}' is only part of the connected probe id.*{UID}FF"):
        make_board(probes, "socket://127.0.0.1:9", tmp_path).flash(captured.hardware_elf)


def test_the_real_pyocd_does_not_invent_a_probe(captured, tmp_path):
    resource = Resource(
        TARGET, "pyocd", serial_url="socket://127.0.0.1:9", probe_uid="PATCHBENCH-NO-SUCH-PROBE"
    )
    board = PyocdBoard(resource, lock_dir=tmp_path)  # the real pyocd lists the real USB probes
    with pytest.raises(
        BoardError, match="probe PATCHBENCH-NO-SUCH-PROBE is not connected; connected probes: "
    ):
        board.flash(captured.hardware_elf)


# --- flashing --------------------------------------------------------------------------------------


def test_flash_failure_names_the_board_and_what_failed(captured, tmp_path):
    probes = FakeProbes(
        program_error=pyocd_errors.FlashProgramFailure("page write failed", address=0x08000000)
    )
    board = make_board(probes, "socket://127.0.0.1:9", tmp_path)
    with pytest.raises(BoardError, match=r"desk-f746.*flashing firmware\.elf failed \(FlashProgramFailure: "
                       r"page write failed \(address 0x08000000\)\); is the flash write-protected"):  # fmt: skip
        board.flash(captured.hardware_elf)
    assert board.elf is None


def test_a_missing_cmsis_pack_says_how_to_install_it(captured, tmp_path):
    error = pyocd_errors.TargetSupportError("Target type stm32f746zgtx not recognized")
    board = make_board(FakeProbes(open_error=error), "socket://127.0.0.1:9", tmp_path)
    with pytest.raises(
        BoardError, match=r"does not know target type 'stm32f746zgtx'.*`pyocd pack install stm32f746zg`"
    ):
        board.flash(captured.hardware_elf)


def test_firmware_built_for_qemu_is_refused_before_touching_the_probe(captured, tmp_path):
    probes = FakeProbes()
    board = make_board(probes, "socket://127.0.0.1:9", tmp_path)
    with pytest.raises(BoardError, match=r"at 0x00000000, outside stm32f746's flash.*platform='hardware'"):
        board.flash(captured.qemu_elf)
    assert probes.calls == []


# --- losing the board mid-run ----------------------------------------------------------------------


def test_console_closing_mid_record_is_a_lost_board(captured, tmp_path):
    probes = FakeProbes()
    half = len(captured.lines) // 2
    console = ReplayConsole(["resume", uart_bytes(captured.lines[:half]), "close"], resumed=probes.resumed)
    with make_board(probes, console.url, tmp_path) as board:
        board.flash(captured.hardware_elf)
        with pytest.raises(BoardLost) as info:
            board.run(timeout=10)
        assert board.reader is None
    message = str(info.value)
    assert f"board 'desk-f746' (probe {UID}, console {console.url}" in message
    assert f"lost the board mid-run: its console closed after {half} lines" in message
    assert "serial server (ser2net) on 127.0.0.1" in message and "pyocd list" in message
    assert info.value.lines == captured.lines[:half]


def test_probe_unplugged_while_the_console_is_quiet(captured, tmp_path):
    probes = FakeProbes()
    half = len(captured.lines) // 2
    console = ReplayConsole(["resume", uart_bytes(captured.lines[:half]), "hold"], resumed=probes.resumed)
    with make_board(probes, console.url, tmp_path) as board:
        board.flash(captured.hardware_elf)
        probes.unplugged = True
        started = time.monotonic()
        with pytest.raises(
            BoardLost, match=r"desk-f746.*lost the probe .*ProbeDisconnected: STLink disconnected"
        ):
            board.run(timeout=10, silence_timeout=0.3)
        assert time.monotonic() - started < 3
        assert board.session is None  # the next use reconnects


def test_a_hung_program_on_a_present_probe_is_a_timeout(captured, tmp_path):
    probes = FakeProbes(core_state=PyocdTarget.State.LOCKUP)
    half = len(captured.lines) // 2
    console = ReplayConsole(["resume", uart_bytes(captured.lines[:half]), "hold"], resumed=probes.resumed)
    with make_board(probes, console.url, tmp_path) as board:
        board.flash(captured.hardware_elf)
        with pytest.raises(
            BoardTimeout, match=r"went silent within 0.3 s.*core state when the console went quiet: LOCKUP"
        ):
            board.run(timeout=10, silence_timeout=0.3)


def test_probe_gone_at_reset(captured, tmp_path):
    probes = FakeProbes(reset_error=pyocd_errors.ProbeDisconnected("USB device vanished"))
    with make_board(probes, "socket://127.0.0.1:9", tmp_path) as board:
        board.flash(captured.hardware_elf)
        with pytest.raises(BoardLost, match=r"desk-f746.*lost the probe while resetting the target"):
            board.run(timeout=5)


def test_a_console_that_cannot_be_opened_says_what_to_check(captured, tmp_path):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        url = f"socket://127.0.0.1:{closed.getsockname()[1]}"
    with make_board(FakeProbes(), url, tmp_path, console_timeout_s=0.2) as board:
        board.flash(captured.hardware_elf)
        with pytest.raises(
            BoardError, match=rf"desk-f746.*cannot open its console \(cannot open console {url}.*ser2net"
        ):
            board.run(timeout=5)


# --- one board, one user ---------------------------------------------------------------------------


def test_a_board_in_use_is_not_shared(captured, tmp_path):
    first = make_board(FakeProbes(), "socket://127.0.0.1:9", tmp_path)
    second = make_board(FakeProbes(), "socket://127.0.0.1:9", tmp_path, lock_timeout_s=0.3)
    first.flash(captured.hardware_elf)
    with pytest.raises(
        BoardError, match=r"desk-f746.*in use by another process \(pid \d+ on .*stayed busy for 0.3 s"
    ):
        second.flash(captured.hardware_elf)
    first.close()
    second.flash(captured.hardware_elf)
    assert second.elf == captured.hardware_elf
    second.close()


# --- console addresses -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "kind", "host", "port"),
    [
        ("/dev/ttyACM0", "device", "", 0),
        ("/dev/serial/by-id/usb-STMicroelectronics_STM32_STLink_0669FF-if02", "device", "", 0),
        ("rfc2217://farm-host.local:4001", "rfc2217", "farm-host.local", 4001),
        ("rfc2217://10.0.0.7:2217?logging=debug", "rfc2217", "10.0.0.7", 2217),
        ("socket://127.0.0.1:5000", "socket", "127.0.0.1", 5000),
        ("hwgrep://0669FF", "hwgrep", "", 0),
    ],
)
def test_console_urls_that_pyserial_opens(url, kind, host, port):
    console = parse_console_url(url)
    assert (console.kind, console.host, console.port) == (kind, host, port)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("", "empty console address"),
        ("ttyACM0", "neither an absolute device path nor a URL"),
        ("socket://farm-host", r"socket:// needs host:port"),
        ("rfc2217://:4001", r"rfc2217:// needs host:port"),
        ("rfc2217://farm-host:99999", "port must be a number from 1 to 65535"),
        ("socket://farm-host:http", "port must be a number"),
        ("tcp://farm-host:4001", "unsupported scheme 'tcp'"),
        ("socket://farm-host:4001/ttyS0", "unexpected path '/ttyS0'"),
    ],
)
def test_console_urls_that_are_refused(url, problem):
    with pytest.raises(ValueError, match=problem):
        parse_console_url(url)


def test_a_bad_console_url_fails_when_the_board_is_made(tmp_path):
    resource = Resource(TARGET, "pyocd", serial_url="socket://farm-host", probe_uid=UID, name="desk-f746")
    with pytest.raises(BoardError, match=r"board 'desk-f746' .*socket:// needs host:port"):
        PyocdBoard(resource, probe_api=FakeProbes().api, lock_dir=tmp_path)
