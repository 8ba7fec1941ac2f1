# SPDX-License-Identifier: Apache-2.0
"""TensorFlow Lite Micro as an engine: its interpreter runs the model file, per layer, with its reference
kernels or its CMSIS-NN ones.

- Kernel sets: ``cmsis-nn`` (TFLM's ``kernels/cmsis_nn``: Arm's CMSIS-NN for the ops it has, TFLM's
  reference kernels for the rest; what TFLM runs on a Cortex-M, so the default) and ``reference``
  (TFLM's portable reference kernels only).
- The model: the .tflite file a graph was imported from (``Graph.source_bytes``), or patchbench's export
  of a zoo graph (harness.frontend.writer), the same file the other engines are given.
- Schedules: per layer only. A patch point is "not supported by this engine", stored as such.
- Timed units: one per op, from a MicroProfilerInterface on the board's timer (adapter.cc).
- Peak SRAM: .data + .bss (the static arena, ``arena_used_bytes() + 16`` from a sizing run on QEMU, and
  the interpreter) + the stack's high-water mark; planned: the arena + the fixed stack reserve. Flash:
  text + rodata + data (the library's code, the adapter, the model file).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.engines.base import Engine, EngineError, FirmwareSources, KernelSet
from harness.engines.tflm.firmware import (
    SIZING_STACK_BYTES,
    Sizing,
    TflmDoesNotFit,
    build_options_for,
    size,
)
from harness.engines.tflm.model import ARENA_MARGIN_BYTES, TflmModel, generate, read_model
from harness.engines.tflm.sources import OPS, TflmNotFound, kernel_files, locate, registrations
from harness.firmware.build import BuildOptions, BuildResult, DoesNotFit, build_firmware
from harness.firmware.targets import Target
from harness.firmware.test_input import SeededInput
from harness.ir.graph import Graph, Op
from harness.schedule.plan import PatchPlan

CMSIS_NN = KernelSet(
    "cmsis-nn", "TFLite Micro with its CMSIS-NN kernels (reference kernels for the other ops)"
)
REFERENCE = KernelSet("reference", "TFLite Micro with its portable reference kernels")


@dataclass(frozen=True)
class TflmOptions:
    kernels: str = CMSIS_NN.name
    input_mode: str = "counted"  # the interpreter holds the whole input tensor in its arena


@dataclass(frozen=True)
class TflmPlanned:
    """What ``generate`` decided, for ``build``: the model, its kernel set, the sized arena."""

    model: TflmModel
    kernels: str
    sizing: Sizing | None  # None: the model did not fit even the sizing build (``too_big`` says why)
    too_big: TflmDoesNotFit | None = None


@dataclass(frozen=True)
class ArenaDoesNotFit(DoesNotFit):
    """A TFLM point that does not fit its board for a reason the linker did not give in bytes (the
    interpreter's AllocateTensors failed even with the roomy arena): the reason says so, no made-up size."""

    message: str = ""

    @property
    def reason(self) -> str:
        return self.message


class TflmEngine(Engine):
    name = "tflm"
    description = "TensorFlow Lite Micro: its interpreter runs the model file, per layer"
    kernel_sets = (CMSIS_NN, REFERENCE)
    timed_units = (
        "one unit per op (TFLM's profiler on the board's timer; the dispatch before an op is in its unit)"
    )
    sram_accounting = (".data + .bss (the arena: arena_used_bytes() + 16, sized by a run on QEMU) + stack "
                       "high-water; planned: arena + the interpreter's static objects + the stack reserve (the "
                       "sizing run's high-water mark + 512 B)")  # fmt: skip
    flash_accounting = "text + rodata + data of the ELF (TFLM's code, the adapter, the model file)"
    peer = True  # measured beside patchbench: an output that differs is a finding about TFLM

    def check_available(self, kernels: str) -> None:
        self.kernel_set(kernels)
        try:
            locate()
        except TflmNotFound as err:
            raise EngineError(str(err)) from None

    def options(self, kernels: str | None = None, **settings) -> TflmOptions:
        chosen = self.kernel_set(kernels or self.default_kernels)
        return TflmOptions(kernels=chosen.name, input_mode=settings.get("input_mode", "counted"))

    def identity(self, options: TflmOptions) -> dict[str, str]:
        # TFLM plans its arena itself (its greedy memory planner) and has no in-place policy to choose.
        return dict(kernels=options.kernels, input_mode=options.input_mode, planner="tflm", inplace="tflm")

    def unsupported(self, graph: Graph, plan: PatchPlan, options: TflmOptions) -> str | None:
        if plan.p != 1:
            return f"TFLite Micro runs per layer only; a {plan.p}x{plan.p} patch schedule is patchbench's"
        if options.input_mode != "counted":
            return "TFLite Micro reads the whole input tensor from its arena (no streamed input)"
        model = read_model(graph.name, model_bytes(graph))
        table = registrations(locate().root)
        missing = [op for op in model.op_kinds if op not in table]
        if missing:
            return f"TFLite Micro has no kernel for {', '.join(missing)}"
        outside = [op for op in model.op_kinds if op not in OPS]
        if outside:
            return (f"{', '.join(outside)} not in patchbench's TFLite Micro source list "
                    "(harness/engines/tflm/sources.OPS: add it there to compile its kernel)")  # fmt: skip
        return None

    def generate(self, graph: Graph, plan: PatchPlan, target: Target, test_input: SeededInput | np.ndarray,
                 options: TflmOptions, *, op_crcs: bool = False) -> FirmwareSources:  # fmt: skip
        if op_crcs:
            raise EngineError("the tflm engine exposes no per-op outputs (no per-op CRC firmware)")
        if not isinstance(test_input, SeededInput):
            raise EngineError("the tflm engine's firmware generates its test input from a seed (SeededInput); "
                              "it takes no image")  # fmt: skip
        specs = test_input.specs(graph)
        if len(specs) != 1:
            raise EngineError(f"{graph.name}: {len(specs)} inputs; the tflm engine's firmware fills one")
        spec = specs[0]
        model = read_model(graph.name, model_bytes(graph))
        try:
            sizing: Sizing | None = size(model, target, options.kernels, spec)
            too_big = None
        except TflmDoesNotFit as err:
            sizing, too_big = None, err
        arena = sizing.arena_bytes if sizing else ARENA_MARGIN_BYTES
        note = sizing.note if sizing else "not sized: the model does not fit the board"
        sources = generate(model, locate().root, arena, spec, arena_note=note)
        sizes = tuple(graph.tensor(name).nbytes for name in graph.outputs)
        return FirmwareSources(
            sources=sources,
            layer_names=model.unit_names,
            arena_bytes=arena,
            scratch_bytes=0,  # TFLM's kernels take their scratch from the arena (in arena_used)
            runtime_bytes=sizing.runtime_bytes if sizing else 0,
            output_sizes=sizes,
            codegen=TflmPlanned(model, options.kernels, sizing, too_big),
        )

    def build(self, generated: FirmwareSources, target: Target, build_options: BuildOptions, *,
              build_root: Path | None = None) -> BuildResult:  # fmt: skip
        planned: TflmPlanned = generated.codegen
        if planned.too_big is not None:
            if planned.too_big.built is not None:
                return planned.too_big.built
            return _arena_does_not_fit(planned.too_big.reason, target, build_options)
        options = build_options_for(build_options, target, planned.kernels, len(generated.layer_names),
                                    planned.sizing.stack_bytes)  # fmt: skip
        return build_firmware(generated.sources, target, options, build_root=build_root)

    def op_kernel(self, graph: Graph, op: Op, kernels: str) -> str:
        sources = locate()
        table = registrations(sources.root)
        if op.kind not in table or op.kind not in OPS:
            return "none (not supported by this engine)"
        function = table[op.kind][1]
        for path in kernel_files(sources, kernels):
            if f"TFLMRegistration {function}()" in path.read_text():
                return f"TFLite Micro {path.relative_to(sources.root / 'tensorflow/lite/micro/kernels')}"
        return f"TFLite Micro {function}"


def model_bytes(graph: Graph) -> bytes:
    """The file TFLM runs: the .tflite the graph was imported from, else patchbench's export of it."""
    if graph.source_bytes is not None:
        return graph.source_bytes
    from harness.frontend.writer import graph_to_bytes

    return graph_to_bytes(graph)


def _arena_does_not_fit(reason: str, target: Target, build_options: BuildOptions) -> ArenaDoesNotFit:
    return ArenaDoesNotFit(build_id="", target=target.name, platform=build_options.platform, overflows=(),
                           stack_reserved=SIZING_STACK_BYTES, cflags=(), ldflags=(), gcc_version="", build_dir=Path(),
                           linker_output="", message=reason)  # fmt: skip
