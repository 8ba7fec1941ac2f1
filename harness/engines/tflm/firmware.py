# SPDX-License-Identifier: Apache-2.0
"""A TFLite Micro firmware: the cached library (sources.py), the adapter and the generated model file
(model.py), patchbench's board support and benchmark loop; its arena and stack sized in two passes.

The arena is what a user ships: pass 1 builds the firmware with a roomy arena (the board's SRAM less
SIZING_STACK_BYTES and ROOMY_MARGIN_BYTES) and runs it once on QEMU, where the firmware reports
``arena_used_bytes()`` (PB1 MEM arena_used=) and its stack's high-water mark; pass 2, the measured
firmware, has a static arena of arena_used + 16 bytes (TFLM's rule for a static arena) and a stack
reserve of that high-water mark + STACK_MARGIN_BYTES. The call graph cannot bound TFLM's stack (the
interpreter calls every kernel through a pointer), so it is planned from the run like the arena; the
MPU guard below the stack turns an overflow into a PB1 FAULT line, never a silent corruption. Pass 1's
answer is kept beside its ELF (``sizing.json``), so the sizing runs once per (model, kernel set, core,
library). A model that does not fit even so does not fit the board: ``TflmDoesNotFit``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

from harness.boards import Resource, open_board, run_firmware
from harness.boards.protocol import DeviceFault, Record
from harness.engines.tflm.model import ARENA_MARGIN_BYTES, TflmModel, generate
from harness.engines.tflm.sources import firmware_cxx_flags, library_spec, locate
from harness.firmware.build import BuildOptions, BuildResult, DoesNotFit, Firmware, build_firmware
from harness.firmware.library import Library, build_library
from harness.firmware.targets import Target
from harness.firmware.test_input import InputSpec

SIZING_STACK_BYTES = 16 * 1024  # pass 1's stack: ample, its high-water mark is what pass 2 reserves
STACK_MARGIN_BYTES = 512  # on top of the measured high-water mark (a board's start-up code differs a little)
ROOMY_MARGIN_BYTES = 16 * 1024  # pass 1 leaves this much SRAM for .data and the rest of .bss
SIZING_FILE = "sizing.json"
SIZING_TIMEOUT_S = 300.0
RUNS_ITS_UNITS = "PB_MODEL_RUNS_ITS_UNITS"  # main.c: the model runs and times its units itself


class TflmDoesNotFit(RuntimeError):
    """The model does not fit the board under TFLite Micro: the sizing firmware does not link (flash, or
    the roomy arena: ``built`` has the linker's numbers), or AllocateTensors fails even with the roomy
    arena. ``reason`` says which."""

    def __init__(self, reason: str, built: DoesNotFit | None = None):
        self.reason, self.built = reason, built
        super().__init__(reason)


@dataclass(frozen=True)
class Sizing:
    """What pass 1 measured, and what pass 2 reserves from it."""

    arena_used: int  # the interpreter's arena_used_bytes()
    stack_high_water: int
    runtime_bytes: int  # .data + .bss outside the arena: the interpreter, resolver, profiler, library statics

    @property
    def arena_bytes(self) -> int:
        return self.arena_used + ARENA_MARGIN_BYTES

    @property
    def stack_bytes(self) -> int:
        return -(-(self.stack_high_water + STACK_MARGIN_BYTES) // 8) * 8

    @property
    def note(self) -> str:
        return (f"arena_used_bytes() {self.arena_used} (the sizing run on QEMU) + {ARENA_MARGIN_BYTES}: what a "
                "user ships")  # fmt: skip


def library_for(
    target: Target, kernels: str, *, gcc: str = "arm-none-eabi-gcc"
) -> tuple[Library, tuple[str, ...]]:
    """The TFLM library of ``kernels`` for ``target``'s core (cached in the build folder, whatever folder
    the firmware goes to: one library serves every firmware), and the C++ flags the adapter needs with it."""
    sources = locate()
    library = build_library(library_spec(sources, kernels), target, gcc=gcc)
    return library, library.flags(firmware_cxx_flags(sources, kernels))


def build_options_for(build_options: BuildOptions, target: Target, kernels: str, units: int,
                      stack_bytes: int) -> BuildOptions:  # fmt: skip
    """``build_options`` with what a TFLM firmware adds: main.c's mode, the library and its flags, the stack."""
    library, cxx_flags = library_for(target, kernels, gcc=build_options.gcc)
    return replace(
        build_options,
        defines=(*build_options.defines, RUNS_ITS_UNITS),
        cxx_flags=(*build_options.cxx_flags, *cxx_flags),
        libraries=(*build_options.libraries, library.archive),
        stack_bytes=stack_bytes,
        timed_units=units,
    )


def _sizing_build(model: TflmModel, target: Target, kernels: str, test_input: InputSpec,
                  gcc: str) -> tuple[BuildResult, int]:  # fmt: skip
    roomy = target.sram_budget_bytes - SIZING_STACK_BYTES - ROOMY_MARGIN_BYTES
    note = f"the sizing build: a roomy arena, {roomy} bytes; the firmware reports what it used"
    files = generate(model, locate().root, roomy, test_input, arena_note=note)
    options = build_options_for(BuildOptions(platform="qemu", runs=1, warmup=0, gcc=gcc), target, kernels,
                                len(model.ops), SIZING_STACK_BYTES)  # fmt: skip
    return build_firmware(files, target, options), roomy


def sizing_run(model: TflmModel, target: Target, kernels: str, test_input: InputSpec, *,
               gcc: str = "arm-none-eabi-gcc", timeout: float = SIZING_TIMEOUT_S) -> tuple[Firmware, Record]:  # fmt: skip
    """Pass 1: the roomy build of ``model`` run once on QEMU; its record (the outputs, arena_used)."""
    if len(model.data) > target.flash_budget_bytes:  # no need to compile megabytes of array to see it
        raise TflmDoesNotFit(
            f"{target.name}: the model file alone is {len(model.data) / 1024:.1f} kB, the board has "
            f"{target.flash_budget_bytes / 1024:.1f} kB of flash"
        )
    firmware, roomy = _sizing_build(model, target, kernels, test_input, gcc)
    if isinstance(firmware, DoesNotFit):
        raise TflmDoesNotFit(
            f"{firmware.reason} (the sizing build, with a {roomy / 1024:.1f} kB arena)", firmware
        )
    try:
        with open_board(Resource(target.name, "qemu")) as board:
            record = run_firmware(board, firmware, timeout=timeout)
    except DeviceFault as fault:
        if "failed=AllocateTensors" in fault.problem:
            raise TflmDoesNotFit(
                f"{target.name}: TFLite Micro's AllocateTensors failed with a {roomy / 1024:.1f} kB arena (the "
                f"board's {target.sram_budget_bytes / 1024:.1f} kB SRAM less the stack and data): needs more SRAM"
            ) from None
        raise
    if record.arena_used_bytes is None:
        raise DeviceFault("the sizing firmware's MEM line has no arena_used", list(record.lines))
    saved = firmware.build_dir / SIZING_FILE
    partial = saved.with_name(f".{SIZING_FILE}.{os.getpid()}")
    sizing = _sizing_of(record, roomy)
    partial.write_text(json.dumps({"arena_used": sizing.arena_used, "stack_high_water": sizing.stack_high_water,
                                   "runtime_bytes": sizing.runtime_bytes, "roomy_arena": roomy}))  # fmt: skip
    partial.replace(saved)
    return firmware, record


def size(model: TflmModel, target: Target, kernels: str, test_input: InputSpec, *,
         gcc: str = "arm-none-eabi-gcc") -> Sizing:  # fmt: skip
    """Pass 1's answer for ``model`` on ``target``'s core: kept beside the sizing build, else run now."""
    firmware = None
    if len(model.data) <= target.flash_budget_bytes:
        firmware, _ = _sizing_build(model, target, kernels, test_input, gcc)
    if isinstance(firmware, Firmware):
        try:
            saved = json.loads((firmware.build_dir / SIZING_FILE).read_text())
            return Sizing(
                int(saved["arena_used"]), int(saved["stack_high_water"]), int(saved["runtime_bytes"])
            )
        except (OSError, ValueError, KeyError, TypeError):
            pass  # not sized yet (or the file is damaged): run it
    _, record = sizing_run(model, target, kernels, test_input, gcc=gcc)
    return _sizing_of(record, record.arena_bytes)


def _sizing_of(record: Record, roomy_arena: int) -> Sizing:
    return Sizing(record.arena_used_bytes, record.stack_high_water_bytes,
                  record.data_bytes + record.bss_bytes - roomy_arena)  # fmt: skip


def build_sized(model: TflmModel, target: Target, kernels: str, test_input: InputSpec,
                build_options: BuildOptions, *, build_root: Path | None = None) -> tuple[BuildResult, Sizing]:  # fmt: skip
    """Pass 1 then pass 2: the firmware a user would ship (arena ``arena_used_bytes() + 16``)."""
    sizing = size(model, target, kernels, test_input, gcc=build_options.gcc)
    files = generate(model, locate().root, sizing.arena_bytes, test_input, arena_note=sizing.note)
    options = build_options_for(build_options, target, kernels, len(model.ops), sizing.stack_bytes)
    return build_firmware(files, target, options, build_root=build_root), sizing
