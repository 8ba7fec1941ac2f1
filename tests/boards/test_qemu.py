# SPDX-License-Identifier: Apache-2.0
"""The whole path on the emulator: build the stub model, run it on QEMU, parse and check its record;
and the ways a run goes wrong (hang, garbage, truncation, fault, stale build), plus the serial reader."""

from __future__ import annotations

import dataclasses
import socket
import struct
import threading
import time
from pathlib import Path

import psutil
import pytest
from machine import require_tools

from harness.boards import (
    BoardError,
    BoardTimeout,
    QemuBoard,
    Resource,
    SerialLineReader,
    open_board,
    run_firmware,
)
from harness.boards.protocol import DeviceFault, ProtocolError, format_line, parse_record
from harness.firmware.build import BuildOptions, build_firmware, section_sizes
from harness.firmware.targets import load_target

pytestmark = [
    pytest.mark.emulator,
]

STUB = {"stub_model.c": (Path(__file__).parents[1] / "fixtures" / "stub_model.c").read_text()}
STUB_N = 4096
RUN_TIMEOUT = 20.0


def expected_stub_output(n: int = STUB_N) -> bytes:
    """What tests/fixtures/stub_model.c computes, done independently in Python."""

    def int8(value: int) -> int:
        return (value + 128) % 256 - 128

    arena = [int8(7 * i + 3) for i in range(n)]
    total = sum(arena)
    scaled = [int8(3 * x + 1) for x in arena]
    return struct.pack("<i", total) + struct.pack("<16b", *scaled[:16])


@pytest.fixture(scope="module")
def build_root(tmp_path_factory) -> Path:
    require_tools("arm-none-eabi-gcc", "qemu-system-arm")
    return tmp_path_factory.mktemp("builds")


def build(build_root: Path, target: str = "stm32f412", *defines: str, runs: int = 3):
    firmware = build_firmware(STUB, target, BuildOptions(runs=runs, defines=defines), build_root=build_root)
    assert firmware.fits
    return firmware


def qemu_processes_running(elf: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if cmdline and "qemu-system-arm" in cmdline[0] and str(elf) in cmdline:
            found.append(process)
    return found


@pytest.mark.parametrize(
    "target", ["stm32f412", "stm32f746", "stm32l4r5"]
)  # l4r5: its own budgets, M4 machine
def test_stub_model_runs_and_its_record_checks_out(build_root, target):
    firmware = build(build_root, target)
    with open_board(Resource(target, "qemu")) as board:
        assert board.board_id == f"qemu:{load_target(target).qemu_machine}"
        record = run_firmware(board, firmware, timeout=RUN_TIMEOUT)
    assert (record.build_id, record.target, record.model) == (firmware.build_id, target, "stub")
    assert (record.unit, record.resolution, record.runs, record.warmup) == ("instructions", 40, 3, 1)
    # The output is the code's real result (the parser already checked the device's CRC32 of it).
    assert record.output == expected_stub_output()
    assert [layer.name for layer in record.layers] == ["sum", "scale", "pack"]
    # Per-layer counts add up to the run's total (the difference is the timer reads between layers).
    for run, total in enumerate(record.run_totals):
        layer_sum = sum(layer.per_run[run] for layer in record.layers)
        assert abs(total - layer_sum) <= 0.01 * total
    # Each loop over 4096 bytes takes a few instructions per byte: counts measure the work.
    sum_layer, scale_layer, pack_layer = (layer.median for layer in record.layers)
    assert 2 * STUB_N <= sum_layer <= 10 * STUB_N and 2 * STUB_N <= scale_layer <= 12 * STUB_N
    assert pack_layer < 400
    # Memory figures from the device agree with the ELF.
    sizes = section_sizes(firmware.elf)
    assert (record.data_bytes, record.bss_bytes, record.stack_reserved_bytes) == (
        sizes.data,
        sizes.bss,
        sizes.stack_reserved,
    )
    assert record.arena_bytes == STUB_N
    assert 64 <= record.stack_high_water_bytes < record.stack_reserved_bytes


def test_counts_are_deterministic_across_emulator_runs(build_root):
    firmware = build(build_root, "stm32f412")
    with open_board(Resource("stm32f412", "qemu")) as board:
        first = run_firmware(board, firmware, timeout=RUN_TIMEOUT)
        second = run_firmware(board, firmware, timeout=RUN_TIMEOUT)
    assert first.lines == second.lines  # every count, every byte


def test_counts_scale_with_the_work(build_root):
    small = build(build_root, "stm32f746", runs=1)
    large = build(build_root, "stm32f746", f"STUB_N={4 * STUB_N}", runs=1)
    with open_board(Resource("stm32f746", "qemu")) as board:
        small_sum = run_firmware(board, small, timeout=RUN_TIMEOUT).layers[0].median
        large_record = run_firmware(board, large, timeout=RUN_TIMEOUT)
    assert large_record.output == expected_stub_output(4 * STUB_N)
    # 4x the elements: 4x the instructions, up to a tick (40) of quantization and the loop's setup.
    assert abs(large_record.layers[0].median - 4 * small_sum) <= 4 * 40 + 40


def test_hung_firmware_times_out_cleanly(build_root):
    firmware = build(build_root, "stm32f412", "STUB_HANG")
    board = QemuBoard(Resource("stm32f412", "qemu"))
    board.flash(firmware.elf)
    started = time.monotonic()
    with pytest.raises(BoardTimeout, match=r"did not finish within 2 s and was stopped") as info:
        board.run(timeout=2.0)
    assert time.monotonic() - started < 5.0
    assert info.value.lines[0].startswith("PB1 BEGIN")  # what it printed is in the error
    assert "PB1 BEGIN" in str(info.value)
    assert board.process is None
    assert qemu_processes_running(firmware.elf) == []


def test_closing_a_started_board_kills_the_emulator(build_root):
    firmware = build(build_root, "stm32f412", "STUB_HANG")
    with QemuBoard(Resource("stm32f412", "qemu")) as board:
        board.flash(firmware.elf)
        board.start()
        pid = board.process.pid
        assert board.read(timeout=5.0, stop=lambda line: line.startswith("PB1 SCHEDULE")).reason == "stop"
        assert psutil.pid_exists(pid)
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert qemu_processes_running(firmware.elf) == []


def test_garbage_on_the_console_is_a_protocol_error(build_root):
    firmware = build(build_root, "stm32f412", "STUB_GARBAGE")
    with (
        open_board(Resource("stm32f412", "qemu")) as board,
        pytest.raises(ProtocolError, match="garbled line 4"),
    ):
        run_firmware(board, firmware, timeout=RUN_TIMEOUT)


def test_truncated_record_is_a_protocol_error(build_root):
    firmware = build(build_root, "stm32f412", "STUB_EXIT_EARLY")
    with open_board(Resource("stm32f412", "qemu")) as board:
        board.flash(firmware.elf)
        output = board.run(timeout=RUN_TIMEOUT)
    assert (output.exit_code, output.reason) == (0, "eof")
    with pytest.raises(ProtocolError, match="missing END: the record stops after 3 lines"):
        parse_record(output.lines, firmware.build_id)


def test_cpu_fault_is_reported_with_exit_code(build_root):
    firmware = build(build_root, "stm32f746", "STUB_FAULT")
    with open_board(Resource("stm32f746", "qemu")) as board:
        with pytest.raises(
            DeviceFault, match=r"the device faulted: exception=3 pc=0x30000000 .*\(exit code 3\)"
        ):
            run_firmware(board, firmware, timeout=RUN_TIMEOUT)


def test_stack_high_water_mark_measures_real_use(build_root):
    base = build(build_root, "stm32f412", runs=1)
    deeper = build(build_root, "stm32f412", "STUB_STACK_BYTES=2048", runs=1)
    with open_board(Resource("stm32f412", "qemu")) as board:
        base_hw = run_firmware(board, base, timeout=RUN_TIMEOUT).stack_high_water_bytes
        deeper_hw = run_firmware(board, deeper, timeout=RUN_TIMEOUT).stack_high_water_bytes
    # A 2 kB local array (plus its frame), a few calls deep: the mark moves by about 2 kB (the base's
    # deepest path, through the printer, is not the path that calls the layers).
    assert 2048 < deeper_hw <= base_hw + 2048 + 64
    assert deeper_hw - base_hw >= 2048 - 128


def test_stack_overflow_faults_instead_of_passing_silently(build_root):
    firmware = build(build_root, "stm32f746", "STUB_STACK_BYTES=8192", runs=1)  # 4 kB reserved
    with open_board(Resource("stm32f746", "qemu")) as board:
        with pytest.raises(DeviceFault, match=r"cause=stack_overflow \(the stack overflowed its reserve"):
            run_firmware(board, firmware, timeout=RUN_TIMEOUT)


def test_record_of_another_build_is_rejected(build_root):
    firmware = build(build_root, "stm32f412")
    other = build(build_root, "stm32f412", runs=2)
    impostor = dataclasses.replace(other, elf=firmware.elf)  # stale firmware on the board
    with open_board(Resource("stm32f412", "qemu")) as board:
        with pytest.raises(ProtocolError, match=f"runs build {firmware.build_id}, expected {other.build_id}"):
            run_firmware(board, impostor, timeout=RUN_TIMEOUT)


def test_firmware_for_another_target_is_refused(build_root):
    firmware = build(build_root, "stm32f412")
    with (
        open_board(Resource("stm32f746", "qemu")) as board,
        pytest.raises(BoardError, match="built for stm32f412"),
    ):
        run_firmware(board, firmware)


def test_emulator_that_cannot_start_reports_its_stderr(build_root):
    firmware = build(build_root, "stm32f412")
    target = dataclasses.replace(load_target("stm32f412"), qemu_machine="no-such-machine")
    board = QemuBoard(Resource("stm32f412", "qemu"), target)
    board.flash(firmware.elf)
    with pytest.raises(BoardError, match="QEMU did not start(.|\n)*no-such-machine"):
        board.run(timeout=RUN_TIMEOUT)
    assert qemu_processes_running(firmware.elf) == []


def test_flash_refuses_a_non_elf(tmp_path):
    path = tmp_path / "firmware.bin"
    path.write_bytes(b"\x00" * 16)
    with pytest.raises(BoardError, match="not an ELF"):
        QemuBoard(Resource("stm32f412", "qemu")).flash(path)


def test_unknown_backend():
    with pytest.raises(BoardError, match="unknown board backend 'jlink'; known backends: .*qemu"):
        open_board(Resource("stm32f412", "jlink"))


class _ConsoleServer:
    """A TCP console that sends scripted bytes, as ser2net or QEMU's -serial tcp would."""

    def __init__(self, script):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"socket://127.0.0.1:{self.listener.getsockname()[1]}"
        self.script = script
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        connection, _ = self.listener.accept()
        with connection:
            for item in self.script:
                if isinstance(item, float):
                    time.sleep(item)
                else:
                    connection.sendall(item)
        self.listener.close()


def test_reader_stops_at_end_line():
    end = format_line("PB1 END lines=1").encode()
    server = _ConsoleServer([b"noise\r\nPB1 BEG", 0.05, b"IN x\n" + end + b"\nnot read\n", 1.0])
    with SerialLineReader(server.url).open() as reader:
        result = reader.read_lines(timeout=5.0)
    assert result.reason == "stop"
    assert result.lines == ["noise", "PB1 BEGIN x", end.decode()]


def test_reader_reports_eof_and_keeps_a_cut_off_line():
    server = _ConsoleServer([b"one\ntwo\nthr"])
    with SerialLineReader(server.url).open() as reader:
        result = reader.read_lines(timeout=5.0)
    assert (result.reason, result.lines, result.partial) == ("eof", ["one", "two"], "thr")
    assert result.all_lines == ["one", "two", "thr"]


def test_reader_notices_silence_and_timeout():
    server = _ConsoleServer([b"hello\n", 3.0])
    with SerialLineReader(server.url).open() as reader:
        started = time.monotonic()
        result = reader.read_lines(timeout=5.0, silence_timeout=0.3)
        assert (result.reason, result.lines) == ("silence", ["hello"])
        assert time.monotonic() - started < 1.5
        assert reader.read_lines(timeout=0.2).reason == "timeout"


def test_reader_stops_a_line_without_end_at_its_bound():
    """A firmware printing without newlines is stopped at MAX_LINE_BYTES, not read for the whole timeout."""
    from harness.boards import serial_reader

    flood = b"ok\n" + b"x" * (4 * serial_reader.MAX_LINE_BYTES)
    server = _ConsoleServer([flood, 5.0])
    with SerialLineReader(server.url).open() as reader:
        result = reader.read_lines(timeout=30.0)
    assert (result.reason, result.lines) == ("flood", ["ok"])
    assert result.problem == f"a line of more than {serial_reader.MAX_LINE_BYTES} bytes without a newline"
    assert result.partial == "x" * serial_reader.MAX_LINE_BYTES


def test_reader_stops_a_record_without_end_at_its_bound(monkeypatch):
    from harness.boards import serial_reader

    monkeypatch.setattr(serial_reader, "MAX_READ_BYTES", 20_000)
    server = _ConsoleServer([b"PB1 LAYER 0 0 conv 12\n" * 2000, 5.0])
    with SerialLineReader(server.url).open() as reader:
        result = reader.read_lines(timeout=30.0)
    assert result.reason == "flood" and "without the end of the record" in result.problem
    assert 20_000 // 22 <= len(result.lines) <= 20_000 // 22 + 2  # it stopped right at the bound


@pytest.mark.parametrize("emulator", [False, True], ids=["pyserial", "emulator"])
def test_an_emulator_console_reads_the_same_and_closes_without_pyserials_reconnect_pause(
    emulator, monkeypatch
):
    from serial.urlhandler import protocol_socket

    pauses = []
    monkeypatch.setattr(protocol_socket.time, "sleep", pauses.append)
    end = format_line("PB1 END lines=1").encode()
    listener = socket.create_server(("127.0.0.1", 0))
    peer_saw = []

    def serve():  # send a record, then wait for the reader to close its end
        connection, _ = listener.accept()
        with connection:
            connection.sendall(b"PB1 BEGIN x\n" + end + b"\n")
            peer_saw.append(connection.recv(1))
        listener.close()

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    reader = SerialLineReader(f"socket://127.0.0.1:{listener.getsockname()[1]}", emulator=emulator).open()
    result = reader.read_lines(timeout=5.0)
    reader.close()
    server.join(timeout=5.0)
    assert (result.reason, result.lines) == ("stop", ["PB1 BEGIN x", end.decode()])
    assert peer_saw == [b""]  # the socket was closed: the peer read the end of the stream
    assert pauses == ([] if emulator else [0.3])


def test_reader_cannot_connect_names_the_url():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ConnectionError, match=f"cannot open console socket://127.0.0.1:{port}"):
        SerialLineReader(f"socket://127.0.0.1:{port}").open(connect_timeout=0.2)
