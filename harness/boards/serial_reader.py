# SPDX-License-Identifier: Apache-2.0
"""Read a device's console line by line over pyserial: the one reader every backend uses.

``serial.serial_for_url`` opens device paths (/dev/ttyACM0), ``socket://host:port`` (QEMU's -serial tcp,
a ser2net port) and ``rfc2217://host:port`` alike. Reading stops at the first of: a line the caller's
``stop`` predicate accepts (the protocol's END), the end of the stream (the emulator exited), the overall
timeout, a silence longer than ``silence_timeout``, or a flood: a line longer than ``MAX_LINE_BYTES`` or
more than ``MAX_READ_BYTES`` in one read (a firmware printing garbage without end must not fill the host's
memory for the whole timeout). Each chunk is scanned once, so a long line costs linear time.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import serial
from serial.urlhandler.protocol_socket import Serial as SocketSerial

from harness.boards.protocol import is_end_line

# How long one read may block: bounds how late a timeout or silence is noticed.
POLL_INTERVAL_S = 0.05
# drain(): older output is read away until the console has been quiet this long (at most DRAIN_MAX_S).
DRAIN_SILENCE_S = 0.1
DRAIN_MAX_S = 2.0
# A PB1 record's longest line is well under 200 bytes (names are cut to 120 in the generated C), and a
# whole record of the largest zoo model at 10 runs is about 100 kB: generous bounds, far from real use.
MAX_LINE_BYTES = 4096
MAX_READ_BYTES = 8 * 1024 * 1024


@dataclass
class ReadResult:
    lines: list[str]
    reason: str  # "stop" (stop line seen), "eof" (stream closed), "timeout", "silence", "flood"
    elapsed_s: float
    partial: str = ""  # bytes after the last newline (a line cut off mid-way; at most MAX_LINE_BYTES)
    problem: str = ""  # for "flood": which bound the console broke

    @property
    def all_lines(self) -> list[str]:
        return self.lines + ([self.partial] if self.partial else [])


class EmulatorConsole(SocketSerial):
    """``socket://`` to an emulator's console (its -serial tcp server): pyserial's socket port whose close()
    does not sleep 0.3 s "in case of quick reconnects" to the same server. An emulator's console is never
    reopened (each run starts a new emulator on a new port), so the pause only delayed every run."""

    def close(self) -> None:
        if self.is_open and self._socket is not None:
            try:
                self._socket.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # the emulator closed it first
            self._socket.close()
            self._socket = None
        self.is_open = False


@dataclass
class SerialLineReader:
    url: str
    baudrate: int = 115200
    emulator: bool = False  # an emulator's socket:// console (EmulatorConsole): closed without a pause
    _port: serial.SerialBase | None = field(default=None, init=False, repr=False)
    _pending: bytearray = field(default_factory=bytearray, init=False, repr=False)

    def open(self, connect_timeout: float = 5.0, alive: Callable[[], bool] | None = None) -> SerialLineReader:
        """Open the port, retrying refused connections (an emulator still starting) for ``connect_timeout``
        seconds while ``alive()`` (e.g. "the emulator process is running") holds.

        Every byte that arrives after the connection is made is kept: pyserial's own open() flushes the
        input, which would race with an emulator that starts printing the moment the host connects. A
        backend that wants stale input gone (a physical board, before its reset) calls discard_input()."""
        deadline = time.monotonic() + connect_timeout
        while True:
            if self.emulator:  # what serial_for_url does for socket://, with the class above
                port = EmulatorConsole(None, baudrate=self.baudrate, timeout=POLL_INTERVAL_S)
                port.port = self.url
            else:
                port = serial.serial_for_url(
                    self.url, baudrate=self.baudrate, timeout=POLL_INTERVAL_S, do_not_open=True
                )
            port.reset_input_buffer = lambda: None  # instance override for the duration of open()
            try:
                port.open()
            except serial.SerialException as err:
                if time.monotonic() >= deadline or (alive is not None and not alive()):
                    raise ConnectionError(f"cannot open console {self.url}: {err}") from None
                time.sleep(0.02)
                continue
            del port.reset_input_buffer
            self._port = port
            self._pending = bytearray()
            return self

    def discard_input(self) -> None:
        """Drop whatever the port has received so far (stale output of an earlier boot)."""
        if self._port is None:
            raise ConnectionError(f"console {self.url} is not open")
        self._port.reset_input_buffer()
        self._pending = bytearray()

    def drain(self) -> ReadResult:
        """Read away what the console still delivers from before (a ser2net buffer, bytes in flight from
        an earlier run) until it has been quiet for DRAIN_SILENCE_S, then drop a cut-off last line too:
        left there, an earlier run's record would be read as this one's. Returns what was read away
        (reason "eof": the console closed meanwhile)."""
        self.discard_input()
        stale = self.read_lines(DRAIN_MAX_S, DRAIN_SILENCE_S, stop=None)
        if stale.reason != "eof":
            self.discard_input()
        return stale

    def close(self) -> None:
        if self._port is not None:
            self._port.close()
            self._port = None

    def __enter__(self) -> SerialLineReader:
        if self._port is None:
            self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def read_lines(
        self,
        timeout: float,
        silence_timeout: float | None = None,
        stop: Callable[[str], bool] | None = is_end_line,
    ) -> ReadResult:
        if self._port is None:
            raise ConnectionError(f"console {self.url} is not open")
        start = time.monotonic()
        last_data = start
        lines: list[str] = []
        received = 0
        while True:
            now = time.monotonic()
            if now - start >= timeout:
                return self._result(lines, "timeout", start)
            if silence_timeout is not None and now - last_data >= silence_timeout:
                return self._result(lines, "silence", start)
            try:
                # A socket's in_waiting is only 0 or 1; reading what is waiting (at least one byte, waiting
                # up to the poll interval) never loses bytes when the peer closes mid-read.
                chunk = self._port.read(max(1, self._port.in_waiting))
            except serial.SerialException as err:
                if "disconnected" in str(err):  # the socket's peer (the emulator) closed it
                    return self._result(lines, "eof", start)
                raise ConnectionError(f"console {self.url} failed: {err}") from None
            if not chunk:
                continue
            last_data = time.monotonic()
            received += len(chunk)
            *complete, rest = chunk.split(b"\n")
            for raw in complete:
                self._pending += raw
                line = self._pending.decode("utf-8", errors="replace").rstrip("\r")
                self._pending = bytearray()
                lines.append(line)
                if stop is not None and stop(line):
                    self._pending += rest
                    return self._result(lines, "stop", start)
            self._pending += rest
            if len(self._pending) > MAX_LINE_BYTES:
                del self._pending[MAX_LINE_BYTES:]
                problem = f"a line of more than {MAX_LINE_BYTES} bytes without a newline"
                return self._result(lines, "flood", start, problem)
            if received > MAX_READ_BYTES:
                problem = f"more than {MAX_READ_BYTES // 2**20} MiB without the end of the record"
                return self._result(lines, "flood", start, problem)

    def _result(self, lines: list[str], reason: str, start: float, problem: str = "") -> ReadResult:
        partial = self._pending.decode("utf-8", errors="replace")
        return ReadResult(lines, reason, time.monotonic() - start, partial, problem)
