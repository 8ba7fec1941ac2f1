# SPDX-License-Identifier: Apache-2.0
"""Board backends, by name (the registry: harness/boards/registry.py). Adding one: write its module (a
``Board`` subclass) and add one line to the registry.

board = open_board(Resource("stm32f746", "qemu"))
record = run_firmware(board, firmware, timeout=60)     # flash, run, parse and validate the record
"""

from __future__ import annotations

from harness.boards.base import Board, BoardError, BoardLost, BoardTimeout, Resource, RunOutput
from harness.boards.protocol import ProtocolError, Record, parse_record
from harness.boards.qemu import QemuBoard
from harness.boards.registry import BACKEND_CHOICES, BACKEND_NAMES, BACKENDS, Backend, UnknownBackend
from harness.boards.registry import backend as backend_spec
from harness.boards.serial_reader import ReadResult, SerialLineReader
from harness.firmware.build import Firmware


def firmware_platform(backend: str) -> str:
    """The ``BuildOptions(platform=...)`` of the firmware that ``backend`` runs ("qemu" or "hardware")."""
    return _backend(backend).firmware_platform


def _backend(name: str) -> Backend:
    try:
        return backend_spec(name)
    except UnknownBackend as err:
        raise BoardError(str(err)) from None


def board_class(backend: str) -> type[Board]:
    """The ``Board`` subclass of a registered backend (imported on first use)."""
    try:
        return _backend(backend).load()
    except UnknownBackend as err:
        raise BoardError(str(err)) from None


def open_board(resource: Resource, **backend_options) -> Board:
    """The board for ``resource`` on its backend; ``backend_options`` go to the backend's class (a labgrid
    place: ``lab=`` its session, ``place=`` the locked place)."""
    return board_class(resource.backend)(resource, **backend_options)


def run_firmware(board: Board, firmware: Firmware, timeout: float = 60.0) -> Record:
    """Flash ``firmware``, run it once and return its validated record.

    Raises BoardTimeout (hung), ProtocolError / DeviceFault (bad or missing record; a program that
    exited with a non-zero code says so in the message)."""
    if firmware.target != board.target.name:
        raise BoardError(
            f"firmware built for {firmware.target} cannot run on {board.board_id} ({board.target.name})"
        )
    board.flash(firmware.elf)
    output = board.run(timeout=timeout)
    try:
        record = parse_record(output.lines, firmware.build_id, expected_target=firmware.target)
    except ProtocolError as err:
        if output.exit_code not in (0, None) or output.diagnostics:
            extra = f" (exit code {output.exit_code}"
            extra += (
                f"; {board.backend} reported: {output.diagnostics.strip()})" if output.diagnostics else ")"
            )
            raise type(err)(err.problem + extra, err.lines) from None
        raise
    if output.exit_code not in (0, None):
        raise ProtocolError(
            f"the firmware printed a full record but exited with code {output.exit_code}", output.lines
        )
    return record


__all__ = [
    "BACKENDS",
    "BACKEND_CHOICES",
    "BACKEND_NAMES",
    "Backend",
    "Board",
    "BoardError",
    "BoardLost",
    "BoardTimeout",
    "QemuBoard",
    "ReadResult",
    "Resource",
    "RunOutput",
    "SerialLineReader",
    "board_class",
    "firmware_platform",
    "open_board",
    "run_firmware",
]
