# SPDX-License-Identifier: Apache-2.0
"""A toy engine, the whole of it: what adding an engine takes (one module with an Engine subclass, and its
registration in harness.engines.ENGINES; tests/engines/test_toy_engine.py registers it for a test).

It builds its firmware with patchbench's code generator and portable C kernels, runs per layer only (a
patch schedule is "not supported by this engine") and is a peer: output that differs from the reference
is stored as inexact, not failed. It exposes no per-op outputs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.codegen import CodegenOptions, build_model, generate_model
from harness.engines.base import Engine, FirmwareSources, KernelSet


@dataclass(frozen=True)
class ToyOptions:
    kernels: str
    input_mode: str = "counted"


class ToyEngine(Engine):
    name = "toy"
    description = "a toy engine: patchbench's portable C kernels, per layer only"
    kernel_sets = (KernelSet("plain", "patchbench's portable C kernels"),)
    timed_units = "one unit per op"
    peer = True

    def options(self, kernels=None, **settings) -> ToyOptions:
        return ToyOptions(
            self.kernel_set(kernels or self.default_kernels).name, settings.get("input_mode", "counted")
        )

    def identity(self, options: ToyOptions) -> dict[str, str]:
        return dict(kernels=options.kernels, input_mode=options.input_mode, planner="toy", inplace="off")

    def unsupported(self, graph, plan, options) -> str | None:
        return None if plan.is_per_layer else "the toy engine runs per layer only"

    def generate(self, graph, plan, target, test_input, options, *, op_crcs=False) -> FirmwareSources:
        model = generate_model(graph, plan, target, test_input, CodegenOptions(optimized=False))
        return FirmwareSources(sources=model.sources, layer_names=model.layer_names, arena_bytes=model.arena_bytes,
                               scratch_bytes=model.scratch_bytes, output_sizes=model.output_sizes,
                               defines=model.defines, codegen=model)  # fmt: skip

    def build(self, generated, target, build_options, *, build_root: Path | None = None):
        return build_model(generated.codegen, target, build_options, build_root=build_root)
