# SPDX-License-Identifier: Apache-2.0
"""What every board backend offers, and the resource that describes a piece of hardware.

Layered like labgrid: a ``Resource`` says what and where the hardware is (a target, a backend, a
console URL, a probe); a ``Board`` acts on it behind one small interface::

    with open_board(Resource("stm32f412", "qemu")) as board:
        board.flash(firmware.elf)
        output = board.run(timeout=30)      # reset, read the console until END, collect the exit code

``run`` is ``start`` + ``read`` (until the protocol's END line) + ``stop``. Every backend's console is a
``SerialLineReader`` in ``self.reader``: ``read`` here is the one console loop; a backend implements
``flash``, ``start`` (which opens ``self.reader``) and ``stop``, and says what a failed or finished read
means for its hardware in ``console_failed`` / ``check_read``.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.boards.protocol import format_log_tail, is_end_line
from harness.boards.registry import backend as backend_spec
from harness.boards.serial_reader import ReadResult, SerialLineReader
from harness.firmware.targets import Target, load_target


class BoardError(RuntimeError):
    """A board backend failed (could not start, lost its console, ...); the message says what to check."""


class BoardTimeout(BoardError):
    """The program did not finish in time; ``lines`` holds what it printed before it was stopped."""

    def __init__(self, message: str, lines: list[str]):
        self.lines = lines
        super().__init__(f"{message}\n{format_log_tail(lines)}")


class BoardLost(BoardError):
    """The board went away mid-run (console closed, probe or place gone); ``lines`` is what arrived."""

    def __init__(self, message: str, lines: list[str]):
        self.problem = message
        self.lines = lines
        super().__init__(f"{message}\n{format_log_tail(lines)}" if lines else message)


@dataclass(frozen=True)
class Resource:
    """A piece of hardware (or an emulator standing in for it)."""

    target: str  # a targets/<name>.toml
    backend: str  # a name of harness/boards/registry.py: "qemu", "renode", "pyocd", "labgrid"
    serial_url: str | None = (
        None  # console of a physical board: /dev/ttyACM0, rfc2217://host:port, socket://...
    )
    probe_uid: str | None = None  # debug probe of a physical board (pyocd's unique id)
    location: str = ""  # where it is, for people: "rack 2, slot 3"
    name: str = ""  # the farm's name for a physical board ("desk-f746"), for messages
    baudrate: int | None = None  # console baud rate of a physical board; None: the target's


@dataclass
class RunOutput:
    lines: list[str]  # the console output, line by line (a cut-off last line included)
    exit_code: int | None  # the program's exit status; None where the backend has none (real boards)
    elapsed_s: float  # wall-clock time of the run (not a benchmark figure)
    reason: str  # how reading ended: "stop" (END line), "eof" (program exited), "timeout", "silence"
    diagnostics: str = ""  # what the backend itself reported (e.g. QEMU's stderr), not the firmware

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


class Board(ABC):
    def __init__(self, resource: Resource, target: Target | None = None):
        self.resource = resource
        self.target = target or load_target(resource.target)
        # The BuildOptions(platform=...) of the firmware this board runs: its backend's, from the registry.
        self.firmware_platform: str = backend_spec(resource.backend).firmware_platform
        self.elf: Path | None = None
        self.reader: SerialLineReader | None = None  # the running program's console, opened by start()

    @property
    def backend(self) -> str:
        """The registered backend this board runs on (harness/boards/registry.py)."""
        return self.resource.backend

    @property
    def board_id(self) -> str:
        """Names the hardware in results: a probe id, a console URL, or 'qemu:<machine>'."""
        return self.resource.probe_uid or self.resource.serial_url or f"{self.backend}:{self.resource.target}"

    @abstractmethod
    def flash(self, elf: Path) -> None:
        """Put the firmware on the board (an emulator just remembers it)."""

    @abstractmethod
    def start(self) -> None:
        """Reset the board and start the flashed program, with its console open for ``read``."""

    @property
    def label(self) -> str:
        """Names the board in error messages."""
        return self.board_id

    def read(
        self,
        timeout: float,
        silence_timeout: float | None = None,
        stop: Callable[[str], bool] | None = is_end_line,
    ) -> ReadResult:
        """Console lines of the running program, until ``stop`` accepts a line, the program ends, ``timeout``
        seconds pass or the console stays silent for ``silence_timeout`` seconds."""
        if self.reader is None:
            raise BoardError(f"{self.label}: no program running; call start() (or run())")
        try:
            result = self.reader.read_lines(timeout, silence_timeout, stop)
        except ConnectionError as err:
            raise self.console_failed(err) from None
        return self.check_read(result)

    def console_failed(self, err: ConnectionError) -> BoardError:
        """The error to raise when the console fails mid-read."""
        return BoardError(f"{self.label}: lost the console: {err}")

    def check_read(self, result: ReadResult) -> ReadResult:
        """What a finished read means for this backend (a real board's closed console is a lost board)."""
        return result

    def close_console(self) -> None:
        if self.reader is not None:
            self.reader.close()
            self.reader = None

    @abstractmethod
    def stop(self, grace: float = 2.0) -> int | None:
        """End the program (waiting up to ``grace`` seconds for it to exit by itself); its exit code."""

    def diagnostics(self) -> str:
        """Messages of the backend itself from the last run (an emulator's stderr); empty if none."""
        return ""

    def close(self) -> None:
        self.stop(grace=0)

    def __enter__(self) -> Board:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def run(self, timeout: float = 60.0, silence_timeout: float | None = None) -> RunOutput:
        """Run the flashed program once and collect its record; BoardTimeout if it does not finish."""
        if self.elf is None:
            raise BoardError(f"{self.board_id}: nothing flashed; call flash(elf) first")
        started = time.monotonic()
        self.start()
        try:
            result = self.read(timeout=timeout, silence_timeout=silence_timeout)
        except BaseException:
            self.stop(grace=0)
            raise
        if result.reason == "flood":
            self.stop(grace=0)
            raise BoardError(
                f"{self.board_id}: {self.elf.name} flooded the console ({result.problem}) and was stopped; "
                f"the firmware prints garbage: check its UART output\n"
                + format_log_tail([line[:200] for line in result.all_lines])
            )
        if result.reason in ("timeout", "silence"):
            self.stop(grace=0)
            what = "did not finish" if result.reason == "timeout" else "went silent"
            limit = timeout if result.reason == "timeout" else silence_timeout
            backend_said = (
                f"; {self.backend} reported: {self.diagnostics().strip()}" if self.diagnostics() else ""
            )
            raise BoardTimeout(
                f"{self.board_id}: {self.elf.name} {what} within {limit:g} s and was stopped (hung firmware, or "
                f"a timeout too short for this model?){backend_said}",
                result.all_lines,
            )
        exit_code = self.stop(grace=max(0.5, timeout - (time.monotonic() - started)))
        elapsed = time.monotonic() - started
        return RunOutput(result.all_lines, exit_code, elapsed, result.reason, self.diagnostics())
