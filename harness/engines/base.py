# SPDX-License-Identifier: Apache-2.0
"""The Engine interface (see the package docstring): what every engine module implements, and the records
it gives the pipeline (KernelSet, FirmwareSources)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from harness.firmware.build import BuildOptions, BuildResult, build_firmware
from harness.firmware.targets import Target
from harness.firmware.test_input import SeededInput
from harness.ir.graph import Graph, Op
from harness.schedule.arena import ScratchFn
from harness.schedule.plan import PatchPlan


class EngineError(ValueError):
    """An engine or kernel set that is unknown or cannot be used here (its sources missing, say); the
    message names it and what to do."""


class EngineUnsupported(EngineError):
    """A point this engine does not run (an op it has no kernel for, a patch schedule of an engine that
    runs per layer only): a finding stored with the point, never faked."""


@dataclass(frozen=True)
class KernelSet:
    """One of an engine's kernel sets (modes): the name a sweep, the CLI and a point's identity use."""

    name: str
    description: str  # for people: help texts, the docs


@dataclass(frozen=True)
class FirmwareSources:
    """What an engine generated for one point: the firmware's own sources and how to build them, what it
    planned (checked against the device's record), and what it could not run with its own kernels."""

    sources: dict[str, str]  # file name -> text: .c, .cpp, .h beside the board support
    layer_names: tuple[str, ...]  # the timed units the firmware prints, in order
    arena_bytes: int  # the tensor arena the engine planned (the device's MEM line must agree)
    scratch_bytes: int  # of which the largest kernel scratch buffer
    output_sizes: tuple[int, ...]  # bytes of each output the firmware sends, in order
    defines: tuple[str, ...] = ()  # -D flags the build must pass
    include_dirs: tuple[Path, ...] = ()  # header folders outside the sources (a library's)
    extra_cflags: tuple[str, ...] = ()
    fallbacks: dict[str, str] = field(default_factory=dict)  # op name -> why it ran a fallback kernel
    # The diagnosis build's CRCs are of these ops' outputs, in this order (None: every op's, in op order);
    # an engine that folds some ops into others (TinyEngine: PADs, RESHAPEs) names the ops it runs
    crc_ops: tuple[str, ...] | None = None
    # Bytes of the planned memory that hold the whole input image where a streamed deployment would hold
    # none (TinyEngine's patch mode keeps it outside its arena): the record's measured figure less these is
    # the streamed one (sram_measured_streamed)
    counted_input_bytes: int = 0
    # Static memory the engine's runtime keeps outside the arena, planned too (TFLM: the interpreter, its
    # resolver and profiler, measured by the sizing build); planned SRAM = arena + this + reserved stack
    runtime_bytes: int = 0
    # op -> the op whose timed unit runs it (fused into it, folded into it): the per-op profile's note
    runs_in: dict[str, str] = field(default_factory=dict)
    codegen: Any = None  # the engine's own record of what it generated (patchbench: its GeneratedModel)

    @property
    def output_bytes(self) -> int:
        return sum(self.output_sizes)


class Engine(ABC):
    """An inference engine: a model + schedule -> firmware that speaks PB1. Subclasses set the class
    attributes and implement ``options``, ``identity`` and ``generate``; the rest has defaults."""

    name: str
    description: str
    kernel_sets: tuple[KernelSet, ...]  # the first is the engine's default
    # How the record's figures are accounted on this engine's firmware (the docs and the report say so)
    timed_units: str = "one unit per op"
    sram_accounting: str = ".data + .bss (the arena in it) + stack high-water"
    flash_accounting: str = "text + rodata + data of the ELF"
    per_op_outputs: bool = False  # True: ``generate(..., op_crcs=True)`` builds the per-op CRC firmware
    # True: it runs schedules beyond one patch stage (row-streamed segments, several segments:
    # harness.schedule.segments.StagedPlan); else the pipeline stores such a point as unsupported
    staged_schedules: bool = False
    # True: an engine measured beside patchbench's own; its output differing from the reference is a
    # finding about it, stored as "inexact" (reported, not a failed test); patchbench's own fails
    peer: bool = False
    # kernel set -> the engine column of TinyEngine's README table (harness.results.published
    # ENGINE_COLUMNS) its figures stand beside in the report; a kernel set not here has none
    published_as: dict[str, str] = {}

    @property
    def default_kernels(self) -> str:
        return self.kernel_sets[0].name

    @property
    def kernel_set_names(self) -> tuple[str, ...]:
        return tuple(k.name for k in self.kernel_sets)

    def kernel_set(self, name: str) -> KernelSet:
        for kernel_set in self.kernel_sets:
            if kernel_set.name == name:
                return kernel_set
        raise EngineError(
            f"engine {self.name!r} has no kernel set {name!r}; use one of {', '.join(self.kernel_set_names)}"
        )

    def check_available(self, kernels: str) -> None:
        """Raise EngineError when ``kernels`` cannot be built on this machine (its sources are missing),
        saying where to get them: a session stops once rather than failing every point the same way."""
        self.kernel_set(kernels)

    @abstractmethod
    def options(self, kernels: str | None = None, **settings) -> Any:
        """The engine's options for one point: ``kernels`` (None: the default kernel set) and the
        settings it takes (``input_mode``, and whatever else the engine plans by). The object has an
        ``input_mode`` attribute ("counted" or "streamed"); the rest is the engine's."""

    @abstractmethod
    def identity(self, options: Any) -> dict[str, str]:
        """The identity fields ``options`` give a point: kernels, input_mode, planner, inplace."""

    def unsupported(self, graph: Graph, plan: PatchPlan, options: Any) -> str | None:
        """Why this engine does not run ``graph`` under ``plan`` with ``options`` (ops, a per-layer-only
        engine's patch schedule), or None when it does. Checked before ``generate``; such a point is
        stored with status "unsupported" and this reason."""
        return None

    @abstractmethod
    def generate(self, graph: Graph, plan: PatchPlan, target: Target, test_input: SeededInput | np.ndarray,
                 options: Any, *, op_crcs: bool = False) -> FirmwareSources:  # fmt: skip
        """The firmware sources of one point. ``test_input``: a point's is a SeededInput, which the
        firmware generates before each run (or per tile) with pb_test_input.h, linked into every
        firmware, so no image is in flash; arrays (a given image) may be refused. ``op_crcs`` (engines
        with ``per_op_outputs``): the firmware sends the CRC32 of every op's output instead of the
        outputs (the diagnosis build)."""

    def build(self, generated: FirmwareSources, target: Target, build_options: BuildOptions, *,
              build_root: Path | None = None) -> BuildResult:  # fmt: skip
        """Compile ``generated`` with the board support (Firmware, or DoesNotFit with the numbers). An
        engine with a prebuilt library (a cached library step) overrides this to link it."""
        build_options = replace(
            build_options,
            defines=tuple(build_options.defines) + generated.defines,
            include_dirs=tuple(build_options.include_dirs) + generated.include_dirs,
            extra_cflags=tuple(build_options.extra_cflags) + generated.extra_cflags,
            timed_units=len(generated.layer_names),
        )
        return build_firmware(generated.sources, target, build_options, build_root=build_root)

    def op_kernel(self, graph: Graph, op: Op, kernels: str) -> str:
        """Which kernel runs ``op`` under ``kernels``, for people (check, the diagnosis)."""
        return kernels

    def scratch(self, kernels: str) -> ScratchFn | None:
        """The kernels' scratch rule for the schedule search (None: the arena planner's default)."""
        return None
