# SPDX-License-Identifier: Apache-2.0
"""patchbench's own engine: its planner (harness.schedule) and code generator (harness.codegen) with one of
three kernel sets.

- ``optimized``: patchbench's kernels built for the Cortex-M DSP extension (``PB_KERNELS_OPTIMIZED=1``:
  the ``*_dsp`` conv, depthwise, fully-connected and transposed-conv kernels, their scratch in the arena);
- ``portable``: patchbench's portable C kernels (no scratch), any core;
- ``cmsis-nn``: every op CMSIS-NN has an s8 kernel for calls it (harness/codegen/cmsis_nn.py), the others
  run the portable kernels (its fallbacks, stored with the point); CMSIS-NN's own scratch sizes; no
  in-place depthwise and no fused residual ADD (CMSIS-NN's kernels cannot).

Per layer and patch-based schedules, counted or streamed input. Timed units: one per patch of the patch
stage (``patch_r<i>_c<j>``), then one per op after it. Peak SRAM: .data + .bss (the planned arena in it)
+ the stack high-water mark; planned SRAM: the arena + the stack planned from the call graph. Flash:
text + rodata + data. The diagnosis (first differing op) builds the per-op CRC firmware.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.codegen import CodegenOptions, build_model, cmsis_nn, generate_model
from harness.codegen.kernels import dsp_kinds
from harness.codegen.layout import kernel_scratch
from harness.firmware.build import BuildOptions, BuildResult
from harness.firmware.targets import Target
from harness.firmware.test_input import SeededInput
from harness.ir.graph import Graph, Op
from harness.schedule.arena import INPLACE_POLICIES, InplacePolicy, ScratchFn
from harness.schedule.plan import PatchPlan

from .base import Engine, EngineError, FirmwareSources, KernelSet


@dataclass(frozen=True)
class PatchbenchKernels(KernelSet):
    optimized: bool = False  # the DSP kernels (PB_KERNELS_OPTIMIZED=1)
    cmsis_nn: bool = False  # CMSIS-NN's kernels where it has them
    # its variant in a kernel suite (harness.bench_kernels): for patchbench's own kernels the C function
    # suffix (pb_conv2d_s8_dsp; harness.codegen.kernels.HostKernels), "cmsis" for CMSIS-NN's calls
    suite_variant: str = ""


OPTIMIZED = PatchbenchKernels(
    "optimized", "patchbench's kernels with the Cortex-M DSP extension", optimized=True, suite_variant="dsp"
)
PORTABLE = PatchbenchKernels("portable", "patchbench's portable C kernels", suite_variant="portable")
CMSIS_NN = PatchbenchKernels(
    "cmsis-nn",
    "Arm's CMSIS-NN where it has an s8 kernel, patchbench's portable C elsewhere",
    cmsis_nn=True,
    suite_variant="cmsis",
)


class PatchbenchEngine(Engine):
    name = "patchbench"
    description = "patchbench's planner and code generator: per layer and patch-based, counted or streamed"
    kernel_sets = (OPTIMIZED, PORTABLE, CMSIS_NN)
    timed_units = (
        "one unit per patch of the patch stage, then one per op after it; a row-streamed segment is one unit"
    )
    sram_accounting = (
        ".data + .bss (the planned arena in it) + stack high-water; planned: arena + planned stack"
    )
    per_op_outputs = True
    staged_schedules = True
    # the published engine of the same kind: patch-based, in-place, its own DSP kernels (MCUNetV2)
    published_as = {"optimized": "tinyengine"}

    def check_available(self, kernels: str) -> None:
        if self.kernel_set(kernels).cmsis_nn:
            from harness.firmware.cmsis import CmsisNotFound, locate

            try:
                locate()
            except CmsisNotFound as err:
                raise EngineError(str(err)) from None

    def options(self, kernels: str | None = None, **settings) -> CodegenOptions:
        chosen = self.kernel_set(kernels or self.default_kernels)
        return CodegenOptions(optimized=chosen.optimized, cmsis_nn=chosen.cmsis_nn, **settings)

    def kernels_of(self, options: CodegenOptions) -> str:
        """The kernel set ``options`` were made for."""
        for kernel_set in self.kernel_sets:
            if (kernel_set.cmsis_nn, kernel_set.optimized) == (options.cmsis_nn, options.optimized):
                return kernel_set.name
        raise EngineError(f"options {options} match none of patchbench's kernel sets")

    def identity(self, options: CodegenOptions) -> dict[str, str]:
        return dict(kernels=self.kernels_of(options), input_mode=options.input_mode, planner=options.planner,
                    inplace=_inplace_name(options))  # fmt: skip

    def generate(self, graph: Graph, plan: PatchPlan, target: Target, test_input: SeededInput | np.ndarray,
                 options: CodegenOptions, *, op_crcs: bool = False) -> FirmwareSources:  # fmt: skip
        if op_crcs and not options.op_crcs:
            options = CodegenOptions(optimized=options.optimized, cmsis_nn=options.cmsis_nn, op_crcs=True)
        model = generate_model(graph, plan, target, test_input, options)
        return FirmwareSources(
            sources=model.sources, layer_names=model.layer_names, arena_bytes=model.arena_bytes,
            scratch_bytes=model.scratch_bytes, output_sizes=model.output_sizes, defines=model.defines,
            include_dirs=model.include_dirs, fallbacks=dict(model.portable_ops), runs_in=dict(model.runs_in), codegen=model,
        )  # fmt: skip

    def build(self, generated: FirmwareSources, target: Target, build_options: BuildOptions, *,
              build_root: Path | None = None) -> BuildResult:  # fmt: skip
        return build_model(generated.codegen, target, build_options, build_root=build_root)

    def op_kernel(self, graph: Graph, op: Op, kernels: str) -> str:
        chosen = self.kernel_set(kernels)
        if chosen.cmsis_nn and cmsis_nn.runs_cmsis(graph, op):
            return f"CMSIS-NN {cmsis_nn.CALLS[op.kind]}"
        # the ops with a *_dsp kernel (read from the C); the rest run the portable C under every set
        return "DSP" if chosen.optimized and op.kind in dsp_kinds() else "portable"

    def scratch(self, kernels: str) -> ScratchFn:
        chosen = self.kernel_set(kernels)
        return cmsis_nn.scratch_rule() if chosen.cmsis_nn else kernel_scratch(chosen.optimized)


def _inplace_name(options: CodegenOptions) -> str:
    """The in-place policy's name in INPLACE_POLICIES, else its settings (CMSIS-NN's kernel set turns the
    fusions off by itself: only the depthwise part is named)."""
    names = [name for name, policy in INPLACE_POLICIES.items() if policy == options.inplace]
    if names:
        return names[0]
    policy = options.inplace
    name = f"elementwise={'on' if policy.elementwise else 'off'},depthwise={policy.depthwise}"
    if not options.cmsis_nn:
        name += "".join(
            f",{fusion}={'on' if getattr(policy, fusion) else 'off'}"
            for fusion in ("residual_add", "residual_add_in_stage", "fold_pads")
            if getattr(policy, fusion) != getattr(InplacePolicy(), fusion)
        )
    return name
