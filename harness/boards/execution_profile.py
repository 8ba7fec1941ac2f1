# SPDX-License-Identifier: Apache-2.0
"""What the QEMU timing plugin counted in one run: blocks, their instructions and execution counts.

The plugin (``harness/boards/qemu-timing-plugin/pb_timing.c``, GPL-2.0-or-later, built here with the host
C compiler against QEMU 7.2's plugin header in ``../shared/third_party``) is loaded into every emulator run
(``QemuBoard``). It counts, per translated block, how often it ran and how often its branch was taken or
not, and splits the counts into *segments* at each call of the firmware's timer read (``pb_timer_now``),
so the host can attribute them to the timed unit between two timer reads. It does not change the
emulator's instruction count (tests/boards/test_timing_plugin.py).

``ExecutionProfile`` is the parsed output; ``harness.boards.timing_model`` turns it into estimated cycles.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from bisect import bisect_right
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from elftools.elf.elffile import ELFFile

from harness.paths import BUILD_DIR, SHARED_DIR

PLUGIN_DIR = Path(__file__).resolve().parent / "qemu-timing-plugin"
PLUGIN_SOURCE = PLUGIN_DIR / "pb_timing.c"
PLUGIN_HEADER_DIR = SHARED_DIR / "third_party" / "qemu-7.2-plugin-api"
MARK_SYMBOL = "pb_timer_now"  # a timed unit lies between two calls of it (harness/firmware/main.c)
PAUSE_SYMBOLS = ("pb_timer_pause", "pb_timer_resume")  # the timer stopped between them (a streamed input)


class PluginError(RuntimeError):
    """The timing plugin could not be built, or its output is unreadable."""


def plugin_path(build_dir: Path | None = None) -> Path:
    """The built plugin (``build/qemu-plugin/pb_timing.so``), compiled first if missing or older than its
    source. ``./run.sh setup`` builds it too."""
    out = (build_dir or BUILD_DIR) / "qemu-plugin" / "pb_timing.so"
    if out.is_file() and out.stat().st_mtime >= PLUGIN_SOURCE.stat().st_mtime:
        return out
    header = PLUGIN_HEADER_DIR / "qemu-plugin.h"
    if not header.is_file():
        raise PluginError(
            f"QEMU's plugin header is missing ({header}); patchbench expects ../shared/third_party beside "
            "the repository (or PATCHBENCH_SHARED), with qemu-7.2-plugin-api/ from QEMU 7.2's source"
        )
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise PluginError(
            "no host C compiler (cc or gcc) to build the QEMU timing plugin: apt-get install gcc"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f"{out.name}.{os.getpid()}.partial")  # parallel workers may build it at once
    command = [compiler, "-O2", "-shared", "-fPIC", "-Wall", "-Wextra", "-Werror",
               f"-I{PLUGIN_HEADER_DIR}", "-o", str(partial), str(PLUGIN_SOURCE)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise PluginError(f"building the QEMU timing plugin failed:\n{' '.join(command)}\n{done.stderr}")
    partial.replace(out)
    return out


def _addresses(elf: Path, names: Sequence[str]) -> dict[str, int]:
    """The addresses of those of the named functions the firmware has (Thumb bit cleared)."""
    with open(elf, "rb") as handle:
        symbols = ELFFile(handle).get_section_by_name(".symtab")
        found = {name: symbols.get_symbol_by_name(name) if symbols is not None else None for name in names}
    return {name: symbol[0]["st_value"] & ~1 for name, symbol in found.items() if symbol}


def plugin_argument(elf: Path, out: Path, memory: Sequence[str] = (), build_dir: Path | None = None) -> str:
    """The ``-plugin`` argument of a run of ``elf`` writing its counts to ``out``; ``memory``: the cache
    model's arguments (``harness.boards.timing_model.plugin_memory_arguments``). The segment mark is the
    firmware's timer read; a firmware that pauses its timer (one linked with pb_timer_pause and
    pb_timer_resume) is not counted while it is paused."""
    found = _addresses(elf, [MARK_SYMBOL, *PAUSE_SYMBOLS])
    if MARK_SYMBOL not in found:
        raise PluginError(f"{elf}: no symbol {MARK_SYMBOL}: not a patchbench firmware?")
    pause, resume = PAUSE_SYMBOLS
    paused = (
        [f"pause={found[pause]:#x}", f"resume={found[resume]:#x}"]
        if pause in found and resume in found
        else []
    )
    return ",".join(
        [f"{plugin_path(build_dir)}", f"out={out}", f"mark={found[MARK_SYMBOL]:#x}", *paused, *memory]
    )


# --- the plugin's output ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    address: int
    size: int
    text: str  # Capstone's disassembly, as QEMU prints it: "smlad r0, r1, r2, r0"

    @property
    def mnemonic(self) -> str:
        return self.text.split(None, 1)[0] if self.text else "?"

    @property
    def operands(self) -> str:
        parts = self.text.split(None, 1)
        return parts[1] if len(parts) > 1 else ""


@dataclass(frozen=True)
class Block:
    id: int
    pc: int
    instructions: tuple[Instruction, ...]


@dataclass(frozen=True)
class BlockCount:
    executions: int
    taken: int  # the next block was not the fall-through (its branch was taken, or it jumped)
    not_taken: int


@dataclass
class Segment:
    counts: dict[int, BlockCount] = field(default_factory=dict)  # block id -> counts
    memory: dict[str, int] = field(default_factory=dict)  # the plugin's memory counters, if it ran them


@dataclass(frozen=True)
class MemorySample:
    """A block's memory counters while the plugin sampled memory (the warm-up runs)."""

    executions: int
    counters: dict[str, int]


@dataclass
class ExecutionProfile:
    blocks: dict[int, Block]
    segments: list[Segment]
    complete: bool  # the plugin saw QEMU exit normally
    samples: dict[int, MemorySample] = field(default_factory=dict)  # block id -> its sampled memory counters

    def instructions(self, segment: Segment) -> int:
        return sum(len(self.blocks[b].instructions) * c.executions for b, c in segment.counts.items())

    def unit_segments(self, warmup: int, runs: int, units: int) -> tuple[list[int], list[list[int]]]:
        """The segments of each timed run as a whole and of each unit in each timed run, following
        harness/firmware/main.c: every warm-up run reads the timer twice, every timed run twice (timed as
        a whole) then once before its units and once after each. Segment k + 1 starts at the k-th read."""
        totals, per_unit = [], []
        read = 2 * warmup
        for _ in range(runs):
            totals.append(read + 1)
            per_unit.append([read + 2 + 1 + i for i in range(units)])
            read += 2 + 1 + units
        if read + 1 > len(self.segments):
            raise PluginError(
                f"the timing plugin saw {len(self.segments) - 1} timer reads, the record needs {read}: "
                "the run was cut short or the firmware's main loop changed (harness/firmware/main.c)"
            )
        return totals, per_unit


def parse_profile(path: Path) -> ExecutionProfile:
    """Read the plugin's output file (format in pb_timing.c's header comment)."""
    blocks: dict[int, Block] = {}
    segments: list[Segment] = []
    complete = False
    samples: dict[int, MemorySample] = {}
    current: list[Instruction] | None = None
    pending: tuple[int, int, int] | None = None

    def close_block() -> None:
        nonlocal current, pending
        if pending is not None:
            block_id, pc, count = pending
            if len(current) != count:
                raise PluginError(f"{path}: block {block_id} lists {len(current)} instructions, not {count}")
            blocks[block_id] = Block(block_id, pc, tuple(current))
        current, pending = None, None

    try:
        text = path.read_text(errors="replace")
    except OSError as err:
        raise PluginError(f"cannot read the timing plugin's output {path}: {err}") from None
    for number, line in enumerate(text.splitlines(), 1):
        kind = line[:1]
        try:
            if kind == "I":
                _, address, size, _hex, *rest = line.split(" ", 4)
                current.append(Instruction(int(address, 16), int(size), rest[0] if rest else ""))
                continue
            close_block()
            if kind == "B":
                _, block_id, pc, count, _size = line.split()
                pending, current = (int(block_id), int(pc, 16), int(count)), []
            elif kind == "S":
                segments.append(Segment())
            elif kind == "C":
                _, block_id, executions, taken, not_taken = line.split()
                segments[-1].counts[int(block_id)] = BlockCount(int(executions), int(taken), int(not_taken))
            elif kind == "M":
                _, name, value = line.split()
                segments[-1].memory[name] = int(value)
            elif kind == "K":
                _, block_id, executions, *pairs = line.split()
                counters = {name: int(value) for name, value in (pair.split("=") for pair in pairs)}
                samples[int(block_id)] = MemorySample(int(executions), counters)
            elif kind == "E":
                complete = True
            elif line:
                raise ValueError(f"unknown line kind {kind!r}")
        except (ValueError, IndexError, AttributeError) as err:
            raise PluginError(
                f"{path}:{number}: unreadable timing plugin line {line[:80]!r} ({err})"
            ) from None
    close_block()
    return ExecutionProfile(blocks, segments, complete, samples)


def total_instructions(profile: ExecutionProfile, segments: Sequence[int]) -> int:
    return sum(profile.instructions(profile.segments[s]) for s in segments)


# --- per function -----------------------------------------------------------------------------------


def function_symbols(elf: Path) -> list[tuple[int, int, str]]:
    """The firmware's functions as (start address, size, name), by address (Thumb bit cleared)."""
    with open(elf, "rb") as handle:
        table = ELFFile(handle).get_section_by_name(".symtab")
        found = [
            (symbol["st_value"] & ~1, symbol["st_size"], symbol.name)
            for symbol in (table.iter_symbols() if table is not None else ())
            if symbol["st_info"]["type"] == "STT_FUNC" and symbol["st_size"] > 0
        ]
    return sorted(found)


def function_instructions(
    profile: ExecutionProfile, elf: Path, warmup: int, runs: int, units: Sequence[str]
) -> dict[str, Counter[str]]:
    """Instructions per C function (or assembly routine) of each timed unit, from the first timed run
    (every timed run executes the same instructions on the same input). A block is counted in the function
    its first instruction lies in; "?" holds code outside any sized function symbol."""
    symbols = function_symbols(elf)
    starts = [start for start, _, _ in symbols]

    def function_of(pc: int) -> str:
        i = bisect_right(starts, pc) - 1
        return symbols[i][2] if i >= 0 and pc < symbols[i][0] + symbols[i][1] else "?"

    _, per_unit = profile.unit_segments(warmup, runs, len(units))
    found: dict[str, Counter[str]] = {}
    for unit, segment in zip(units, per_unit[0], strict=True):
        counts: Counter[str] = Counter()
        for block_id, count in profile.segments[segment].counts.items():
            block = profile.blocks[block_id]
            counts[function_of(block.pc)] += len(block.instructions) * count.executions
        found[unit] = counts
    return found
