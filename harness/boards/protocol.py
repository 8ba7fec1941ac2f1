# SPDX-License-Identifier: Apache-2.0
"""The UART protocol between benchmark firmware and host (version PB1), and its validating parser.

The firmware (harness/firmware/main.c, protocol.c) prints one record per boot, line by line::

    PB1 BEGIN build=<id> target=<name> unit=<instructions|cycles> resolution=<n> runs=<R> warmup=<W> layers=<L> outputs=<K>
    PB1 MODEL <free text>
    PB1 SCHEDULE <free text>
    PB1 LAYER <run> <index> <name> <count>        R x L lines: every layer on every timed run
    PB1 RUN <run> <total count>                   after its run's LAYER lines
    PB1 MEM arena=<B> data=<B> bss=<B> stack_hw=<B> stack_reserved=<B> [arena_used=<B>]
    PB1 OUT <k> <offset> <hex bytes>              output k, 32 bytes a line, offsets contiguous from 0
    PB1 CRC <k> <length> crc32=0x<8 hex>          zlib CRC32 of output k, computed on the device
                                                  (OUT lines and CRC once per output, k = 0 .. K-1 in order)
    PB1 END lines=<number of PB1 lines before END>

and, instead of the rest, ``PB1 FAULT exception=<n> pc=0x.. cfsr=0x.. hfsr=0x.. mmfar=0x.. [cause=stack_overflow]``
when the core faults (the firmware then exits with code 3).

Every line ends in `` *XXXX``: the CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF; Python's
``binascii.crc_hqx(text, 0xFFFF)``) of the text before `` *``, so a line garbled on the wire is caught
on its own, and END's line count catches a line lost whole. Counts are in ``unit``: "instructions" on
QEMU (from SysTick under -icount; ``resolution`` instructions per tick) or "cycles" (DWT) on boards.

Lines before BEGIN are ignored (boot noise on a real UART); inside the record every line must be valid.
"""

from __future__ import annotations

import binascii
import re
import statistics
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

VERSION = "PB1"
UNITS = ("instructions", "cycles")
LOG_TAIL_LINES = 15
_LINE = re.compile(r"^PB1 ([A-Z]+)((?: .*)?) \*([0-9a-f]{4})$")
_BEGIN_KEYS = ("build", "target", "unit", "resolution", "runs", "warmup", "layers", "outputs")
_MEM_KEYS = ("arena", "data", "bss", "stack_hw", "stack_reserved")


class ProtocolError(RuntimeError):
    """The device's output is not a valid record. The message ends with the last lines of the log."""

    def __init__(self, problem: str, lines: Sequence[str] = ()):
        self.problem = problem
        self.lines = list(lines)
        super().__init__(f"{problem}\n{format_log_tail(self.lines)}")


class DeviceFault(ProtocolError):
    """The firmware reported a CPU fault (a PB1 FAULT line) instead of finishing its record."""


def format_log_tail(lines: Sequence[str], count: int = LOG_TAIL_LINES) -> str:
    if not lines:
        return "(the device printed nothing)"
    tail = lines[-count:]
    skipped = f" (of {len(lines)})" if len(lines) > count else ""
    return f"last {len(tail)} lines of the log{skipped}:\n" + "\n".join(f"  | {line!r}" for line in tail)


def line_checksum(text: str) -> int:
    return binascii.crc_hqx(text.encode("ascii", errors="replace"), 0xFFFF)


def format_line(text: str) -> str:
    """A protocol line with its checksum, as the firmware prints it (for tests and simulators)."""
    return f"{text} *{line_checksum(text):04x}"


def is_end_line(line: str) -> bool:
    """The record's last line: readers stop here."""
    return line.startswith(f"{VERSION} END")


@dataclass(frozen=True)
class LayerTiming:
    index: int
    name: str
    per_run: tuple[int, ...]  # one count per timed run, in the record's unit

    @property
    def median(self) -> int:
        return statistics.median_low(self.per_run)


@dataclass(frozen=True)
class Record:
    build_id: str
    target: str
    model: str
    schedule: str
    unit: str  # "instructions" (emulator, QEMU icount) or "cycles" (board, DWT)
    resolution: int  # units per timer tick: a single count is only this precise
    runs: int
    warmup: int
    layers: tuple[LayerTiming, ...]
    run_totals: tuple[int, ...]  # whole-run counts, one per timed run
    arena_bytes: int
    data_bytes: int
    bss_bytes: int
    stack_high_water_bytes: int
    stack_reserved_bytes: int
    outputs: tuple[bytes, ...]  # the graph's outputs in order, each verified against its device CRC32
    output_crc32s: tuple[int, ...]  # one per output
    lines: tuple[str, ...]  # the record's raw lines, BEGIN to END
    arena_used_bytes: int | None = None  # what of its arena an engine with an allocator used (TFLM)

    @property
    def output(self) -> bytes:
        """The outputs' bytes end to end."""
        return b"".join(self.outputs)

    @property
    def total_median(self) -> int:
        """The latency: median (the lower one for an even count) of the timed runs' totals."""
        return statistics.median_low(self.run_totals)

    @property
    def layer_medians(self) -> list[tuple[str, int]]:
        return [(layer.name, layer.median) for layer in self.layers]

    @property
    def measured_sram_bytes(self) -> int:
        """.data + .bss (arena included) + the stack's high-water mark."""
        return self.data_bytes + self.bss_bytes + self.stack_high_water_bytes


def parse_record(
    lines: Iterable[str] | str, expected_build_id: str | None, *, expected_target: str | None = None
) -> Record:
    """Validate a device log and return its record; raise ProtocolError (or DeviceFault) naming the problem.

    ``expected_build_id`` is the build's id (``Firmware.build_id``); pass None only to skip that check.
    """
    log = lines.splitlines() if isinstance(lines, str) else [line.rstrip("\r\n") for line in lines]
    return _RecordParser(log, expected_build_id, expected_target).parse()


def _fault_message(body: str) -> str:
    message = f"the device faulted: {body.strip()}"
    if "cause=stack_overflow" in body:
        message += " (the stack overflowed its reserve: raise BuildOptions.stack_bytes)"
    return message


class _RecordParser:
    def __init__(self, log: list[str], expected_build_id: str | None, expected_target: str | None):
        self.log = log
        self.expected_build_id = expected_build_id
        self.expected_target = expected_target
        self.seen: list[str] = []  # the log up to the line being parsed, for error messages

    def fail(self, problem: str) -> ProtocolError:
        return ProtocolError(problem, self.seen)

    def parse(self) -> Record:
        begin = self._find_begin()
        header = self._begin_fields(begin)
        runs, layer_count, output_count = header["runs"], header["layers"], header["outputs"]
        texts: dict[str, str] = {}
        timings: dict[tuple[int, int], tuple[str, int]] = {}
        totals: dict[int, int] = {}
        memory: dict[str, int] | None = None
        chunks: list[bytes] = []  # of the output being received
        outputs: list[bytes] = []  # the outputs whose CRC line arrived
        crcs: list[int] = []
        record_lines = [self.log[begin]]
        for number in range(begin + 1, len(self.log)):
            line = self.log[number]
            self.seen = self.log[: number + 1]
            kind, body = self._checked(line, number)
            if kind == "END":
                self._check_complete(runs, timings, totals, memory, output_count, len(crcs), chunks)
                self._check_line_count(body, len(record_lines))
                record_lines.append(line)
                return Record(
                    build_id=header["build"],
                    target=header["target"],
                    model=texts.get("MODEL", ""),
                    schedule=texts.get("SCHEDULE", ""),
                    unit=header["unit"],
                    resolution=header["resolution"],
                    runs=runs,
                    warmup=header["warmup"],
                    layers=self._layer_timings(runs, layer_count, timings),
                    run_totals=tuple(totals[r] for r in range(runs)),
                    arena_bytes=memory["arena"],
                    data_bytes=memory["data"],
                    bss_bytes=memory["bss"],
                    stack_high_water_bytes=memory["stack_hw"],
                    stack_reserved_bytes=memory["stack_reserved"],
                    outputs=tuple(outputs),
                    output_crc32s=tuple(crcs),
                    lines=tuple(record_lines),
                    arena_used_bytes=memory.get("arena_used"),
                )
            record_lines.append(line)
            if kind in ("MODEL", "SCHEDULE"):
                texts[kind] = body
            elif kind == "LAYER":
                self._layer(body, runs, layer_count, timings, totals)
            elif kind == "RUN":
                self._run(body, runs, layer_count, timings, totals)
            elif kind == "MEM":
                if memory is not None:
                    raise self.fail(f"line {number + 1}: a second MEM line")
                memory = self._key_values(body, _MEM_KEYS, "MEM")
            elif kind == "OUT":
                chunks.append(self._out(body, len(crcs), output_count, sum(len(c) for c in chunks)))
            elif kind == "CRC":
                crcs.append(self._crc(body, len(crcs), output_count, b"".join(chunks)))
                outputs.append(b"".join(chunks))
                chunks = []
            elif kind == "BEGIN":
                raise self.fail(
                    f"line {number + 1}: a second BEGIN before END (did the board reset mid-record?)"
                )
            elif kind == "FAULT":
                raise DeviceFault(_fault_message(body), self.seen)
            else:
                raise self.fail(f"line {number + 1}: unknown line type {kind!r}")
        raise self.fail(
            f"missing END: the record stops after {len(record_lines)} lines (truncated: the device stopped, "
            "hung or was cut off)"
        )

    def _find_begin(self) -> int:
        for number, line in enumerate(self.log):
            self.seen = self.log[: number + 1]
            match = _LINE.match(line)
            if match and match.group(1) == "FAULT":
                raise DeviceFault(_fault_message(match.group(2)), self.seen)
            if line.startswith(f"{VERSION} BEGIN"):
                return number
        self.seen = self.log
        if not any(line.strip() for line in self.log):
            raise self.fail("silence: the device printed nothing (not flashed, not running, or wrong port?)")
        other = next(
            (line for line in self.log if re.match(r"^PB\d+ ", line) and not line.startswith("PB1 ")), None
        )
        if other:
            raise self.fail(
                f"protocol version mismatch: the host speaks {VERSION}, the device printed {other!r}"
            )
        raise self.fail(f"no {VERSION} BEGIN line in {len(self.log)} lines of output")

    def _checked(self, line: str, number: int) -> tuple[str, str]:
        match = _LINE.match(line)
        if not match:
            raise self.fail(f"garbled line {number + 1} inside the record: {line!r}")
        kind, body, checksum = match.groups()
        text = line[: match.start(3) - 2]
        if line_checksum(text) != int(checksum, 16):
            raise self.fail(
                f"bad checksum on line {number + 1}: {line!r} (expected *{line_checksum(text):04x}); the line "
                "was corrupted on the way"
            )
        return kind, body.strip()

    def _begin_fields(self, begin: int) -> dict:
        kind, body = self._checked(self.log[begin], begin)
        fields: dict = self._key_values(body, _BEGIN_KEYS, "BEGIN", numeric=False)
        for key in ("resolution", "runs", "warmup", "layers", "outputs"):
            if not fields[key].isdigit():
                raise self.fail(f"BEGIN: {key}={fields[key]!r} is not a number")
            fields[key] = int(fields[key])
        if fields["unit"] not in UNITS:
            raise self.fail(f"BEGIN: unit {fields['unit']!r} is not one of {', '.join(UNITS)}")
        if fields["runs"] < 1:
            raise self.fail("BEGIN: runs=0, the record would have no timings")
        if fields["outputs"] < 1:
            raise self.fail("BEGIN: outputs=0, the record would have nothing to check")
        if self.expected_build_id is not None and fields["build"] != self.expected_build_id:
            raise self.fail(
                f"record from another build: the device runs build {fields['build']}, expected "
                f"{self.expected_build_id} (stale firmware on the board, or a failed flash?)"
            )
        if self.expected_target is not None and fields["target"] != self.expected_target:
            raise self.fail(f"record from target {fields['target']!r}, expected {self.expected_target!r}")
        return fields

    def _key_values(self, body: str, keys: Sequence[str], kind: str, numeric: bool = True) -> dict:
        values = {}
        for item in body.split():
            key, sep, value = item.partition("=")
            if not sep or key in values:
                raise self.fail(f"{kind}: malformed or repeated field {item!r}")
            values[key] = value
        missing = [key for key in keys if key not in values]
        if missing:
            raise self.fail(f"{kind}: missing field(s) {', '.join(missing)}")
        if numeric:
            for key, value in values.items():
                if not value.isdigit():
                    raise self.fail(f"{kind}: {key}={value!r} is not a number")
            return {key: int(value) for key, value in values.items()}
        return values

    def _numbers(self, parts: list[str], kind: str) -> list[int]:
        if not all(part.isdigit() for part in parts):
            raise self.fail(f"{kind}: expected numbers, got {' '.join(parts)!r}")
        return [int(part) for part in parts]

    def _layer(self, body, runs, layer_count, timings, totals) -> None:
        parts = body.split()
        if len(parts) != 4:
            raise self.fail(f"LAYER: expected '<run> <index> <name> <count>', got {body!r}")
        run, index, count = self._numbers([parts[0], parts[1], parts[3]], "LAYER")
        if run >= runs or index >= layer_count:
            raise self.fail(
                f"LAYER: run {run} / layer {index} out of range (runs={runs}, layers={layer_count})"
            )
        if (run, index) in timings or run in totals:
            raise self.fail(f"LAYER: layer {index} of run {run} reported twice or after its RUN line")
        first = timings.get((0, index))
        if first is not None and first[0] != parts[2]:
            raise self.fail(
                f"LAYER: layer {index} is named {parts[2]!r} in run {run} but {first[0]!r} in run 0"
            )
        timings[(run, index)] = (parts[2], count)

    def _run(self, body, runs, layer_count, timings, totals) -> None:
        parts = body.split()
        if len(parts) != 2:
            raise self.fail(f"RUN: expected '<run> <total>', got {body!r}")
        run, total = self._numbers(parts, "RUN")
        if run >= runs or run in totals:
            raise self.fail(f"RUN: run {run} out of range or repeated (runs={runs})")
        missing = [i for i in range(layer_count) if (run, i) not in timings]
        if missing:
            raise self.fail(f"RUN {run}: layers {missing[:10]} of this run were never reported (lost lines?)")
        totals[run] = total

    def _out(self, body: str, index: int, output_count: int, expected_offset: int) -> bytes:
        parts = body.split()
        if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
            raise self.fail(f"OUT: expected '<output> <offset> <hex bytes>', got {body!r}")
        if index >= output_count:
            raise self.fail(f"OUT after the CRC lines of all {output_count} output(s)")
        if int(parts[0]) != index:
            raise self.fail(
                f"OUT: a chunk of output {parts[0]} where output {index} was being sent (outputs come in "
                "order, each closed by its CRC line)"
            )
        if int(parts[1]) != expected_offset:
            raise self.fail(
                f"OUT: chunk of output {index} at offset {parts[1]}, expected {expected_offset} (a chunk went "
                "missing)"
            )
        try:
            return bytes.fromhex(parts[2])
        except ValueError:
            raise self.fail(f"OUT: {parts[2][:40]!r} is not hex bytes") from None

    def _crc(self, body: str, index: int, output_count: int, output: bytes) -> int:
        match = re.fullmatch(r"(\d+) (\d+) crc32=0x([0-9a-f]{8})", body)
        if not match:
            raise self.fail(f"CRC: expected '<output> <length> crc32=0x<8 hex>', got {body!r}")
        if index >= output_count:
            raise self.fail(f"a CRC line after those of all {output_count} output(s)")
        if int(match.group(1)) != index:
            raise self.fail(f"CRC: the CRC of output {match.group(1)} where output {index} was expected")
        length, device_crc = int(match.group(2)), int(match.group(3), 16)
        if len(output) != length:
            raise self.fail(f"truncated output {index}: {len(output)} of {length} bytes arrived")
        if zlib.crc32(output) != device_crc:
            raise self.fail(
                f"bad CRC of output {index}: the device computed {device_crc:08x}, the bytes received give "
                f"{zlib.crc32(output):08x}"
            )
        return device_crc

    def _check_complete(self, runs, timings, totals, memory, output_count, crcs_seen, chunks) -> None:
        missing_runs = [r for r in range(runs) if r not in totals]
        if missing_runs:
            raise self.fail(f"END before the RUN lines of runs {missing_runs}")
        if memory is None:
            raise self.fail("END without a MEM line")
        if crcs_seen < output_count:
            raise self.fail(
                f"END without the CRC line of output {crcs_seen} (of {output_count}): output incomplete"
            )
        if chunks:
            raise self.fail("END after OUT lines that no CRC line closed")

    def _check_line_count(self, body: str, counted: int) -> None:
        fields = self._key_values(body, ("lines",), "END")
        if fields["lines"] != counted:
            raise self.fail(
                f"END says the device printed {fields['lines']} lines, {counted} arrived: lines were lost"
            )

    @staticmethod
    def _layer_timings(runs, layer_count, timings) -> tuple[LayerTiming, ...]:
        return tuple(
            LayerTiming(i, timings[(0, i)][0], tuple(timings[(r, i)][1] for r in range(runs)))
            for i in range(layer_count)
        )
