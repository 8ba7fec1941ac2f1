# SPDX-License-Identifier: Apache-2.0
"""The tinyengine Engine (see the package docstring): modes, what it refuses, generate, build, units."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from harness.firmware.build import BuildOptions, BuildResult, build_firmware
from harness.firmware.targets import Target
from harness.firmware.test_input import SeededInput
from harness.frontend.writer import graph_to_bytes
from harness.ir.graph import Graph, Op
from harness.ir.schedule_name import schedule_label
from harness.schedule.plan import PatchPlan

from ..base import Engine, EngineError, EngineUnsupported, FirmwareSources, KernelSet
from .adapter import ADAPTER_FILE, adapter_source
from .generator import Generated, GeneratorFailed, run_generator
from .libraries import TinyEngineSourcesMissing, build_libraries, check_sources

INT = KernelSet("int", "TinyEngine's generated code with integer requantization (fp_requantize=False)")
FP = KernelSet(
    "fp", "TinyEngine's generated code with its float requantization (its default; not TFLite-exact)"
)
DSP_CORES = ("cortex-m4", "cortex-m7", "cortex-m33", "cortex-m35p", "cortex-m55")  # ARMv7E-M / v8-M DSP
# Its patch stage emits code only for these (others are dropped by its generator: refused here instead)
PATCH_STAGE_KINDS = ("CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "PAD")


@dataclass(frozen=True)
class TinyEngineOptions:
    mode: str = "int"  # INT or FP
    input_mode: str = "counted"  # TinyEngine's image is in SRAM (counted); the streamed figure is derived


@dataclass(frozen=True)
class TinyEnginePlan:
    """What ``generate`` made, for ``build``: the generated code and the adapter's sources."""

    generated: Generated


class TinyEngineEngine(Engine):
    name = "tinyengine"
    description = "MIT HAN Lab's TinyEngine (MCUNet, MCUNetV2): its own generator, kernels and patch mode"
    kernel_sets = (INT, FP)
    timed_units = (
        "one unit per TinyEngine layer; in patch mode one per patch, then one per layer after the stage"
    )
    sram_accounting = (
        ".data + .bss (its buffer[PEAK_MEM] in it) + stack high-water; in patch mode its image (outside its "
        "arena) is a static array in SRAM, counted"
    )
    peer = True  # measured beside patchbench: output that differs is a finding about TinyEngine (inexact)
    published_as = {"int": "tinyengine"}  # the report sets its figures beside TinyEngine's README column
    per_op_outputs = True  # the diagnosis build sends each TinyEngine layer's output CRC (crc_ops: its ops)

    def check_available(self, kernels: str) -> None:
        self.kernel_set(kernels)
        try:
            check_sources()
        except TinyEngineSourcesMissing as err:
            raise EngineError(str(err)) from None

    def options(self, kernels: str | None = None, **settings) -> TinyEngineOptions:
        mode = self.kernel_set(kernels or self.default_kernels).name
        input_mode = settings.pop("input_mode", "counted")
        if settings:
            raise EngineError(f"engine tinyengine takes no settings {sorted(settings)}")
        return TinyEngineOptions(mode=mode, input_mode=input_mode)

    def identity(self, options: TinyEngineOptions) -> dict[str, str]:
        return dict(kernels=options.mode, input_mode=options.input_mode, planner="tinyengine",
                    inplace="tinyengine")  # fmt: skip

    def unsupported(self, graph: Graph, plan: PatchPlan, options: TinyEngineOptions) -> str | None:
        if options.input_mode != "counted":
            return ("a streamed input (its image is one array in SRAM, read by end2endinference(img); the counted "
                    "point's record gives the streamed figure beside it)")  # fmt: skip
        return _unsupported(graph, plan) or self._generator_refusal(graph, plan, options)

    def _generator_refusal(self, graph: Graph, plan: PatchPlan, options: TinyEngineOptions) -> str | None:
        try:
            _generate(graph, plan, options)
        except GeneratorFailed as err:
            return str(err)
        return None

    def generate(self, graph: Graph, plan: PatchPlan, target: Target, test_input: SeededInput | np.ndarray,
                 options: TinyEngineOptions, *, op_crcs: bool = False) -> FirmwareSources:  # fmt: skip
        why = _unsupported_target(target) or _unsupported(graph, plan)
        if why is not None:
            raise EngineUnsupported(f"not supported by engine tinyengine: {why}")
        try:
            generated = _generate(graph, plan, options)
        except GeneratorFailed as err:
            raise EngineUnsupported(str(err)) from None
        names = unit_names(graph, generated)
        if isinstance(test_input, SeededInput):
            test_input = test_input.specs(graph)[0]  # one int8 input (_unsupported)
        source = adapter_source(generated, names, test_input, model=graph.name, schedule=schedule_label(plan.p, plan.n),
                                op_crcs=op_crcs)  # fmt: skip
        patch_units = [] if generated.patch_params is None else [
            f"patch_r{i}_c{j}" for i in range(plan.p) for j in range(plan.p)
        ]  # fmt: skip
        last = generated.layers[-1]
        image = image_bytes(graph, generated)
        return FirmwareSources(
            sources={ADAPTER_FILE: source},
            layer_names=(*patch_units, *names),
            arena_bytes=generated.peak_mem + image,
            scratch_bytes=generated.buffers.get("im2col", 0) + generated.buffers.get("kernel", 0),
            output_sizes=(4 * len(names),) if op_crcs else (last.output_bytes,),
            crc_ops=tuple(_producers(graph, generated)) if op_crcs else None,
            counted_input_bytes=image,
            codegen=TinyEnginePlan(generated),
        )

    def build(self, generated: FirmwareSources, target: Target, build_options: BuildOptions, *,
              build_root: Path | None = None) -> BuildResult:  # fmt: skip
        libraries = build_libraries(
            generated.codegen.generated, target, build_root=build_root, gcc=build_options.gcc
        )
        build_options = replace(
            build_options,
            libraries=tuple(build_options.libraries) + tuple(library.archive for library in libraries),
            timed_units=len(generated.layer_names),
        )
        return build_firmware(generated.sources, target, build_options, build_root=build_root)

    def op_kernel(self, graph: Graph, op: Op, kernels: str) -> str:
        return f"TinyEngine ({kernels} requantization)"


def _generate(graph: Graph, plan: PatchPlan, options: TinyEngineOptions) -> Generated:
    patches, patch_layers = 1, 0
    if not plan.is_per_layer:
        patches, patch_layers = plan.p, _patch_layer_count(graph, plan)
    return run_generator(
        graph_to_bytes(graph), graph.name, options.mode, patches=patches, patch_layers=patch_layers
    )


def _patch_layer_count(graph: Graph, plan: PatchPlan) -> int:
    """TinyEngine's layers in the patch stage: the stage's ops it turns into layers (it folds PADs)."""
    return sum(1 for op in graph.ops if op.name in plan.stage_ops and op.kind != "PAD")


def _unsupported_target(target: Target) -> str | None:
    if target.core not in DSP_CORES:  # its kernels are ARMv7E-M (SIMD) code
        return f"{target.name}'s {target.core} has no DSP extension; TinyEngine's kernels need ARMv7E-M"
    return None


def _unsupported(graph: Graph, plan: PatchPlan) -> str | None:
    """What TinyEngine cannot do that its generator would not say (it drops or mis-tiles instead)."""
    if len(graph.inputs) != 1 or any(
        graph.tensor(name).dtype != "int8" for name in [*graph.inputs, *graph.outputs]
    ):
        return "a model with other than one int8 input and int8 outputs (TinyEngine runs int8 models on one image)"
    if plan.is_per_layer:
        return None
    stage = [op for op in graph.ops if op.name in plan.stage_ops]
    first = next((op for op in stage if op.kind != "PAD"), None)
    if first is None or first.kind != "CONV_2D" or _conv_shape(graph, first) != ((3, 3), (2, 2), 3):
        return ("a patch stage that does not start with a 3x3 stride-2 conv over 3 channels (its only patch "
                "kernel for a first layer)")  # fmt: skip
    for op in stage:
        if op.kind not in PATCH_STAGE_KINDS:
            return f"{op.kind} {op.name!r} in the patch stage (its patch stage emits code only for CONV_2D, DEPTHWISE_CONV_2D, ADD and drops the rest)"
        if op.kind == "DEPTHWISE_CONV_2D":
            _, kh, kw, _ = graph.tensor(op.inputs[1]).shape
            if (kh, kw) != (3, 3):
                return f"a {kh}x{kw} depthwise conv {op.name!r} in the patch stage (its patch kernels are 3x3 only)"
        if op.kind == "CONV_2D" and op is not first and graph.tensor(op.inputs[1]).shape[1:3] != (1, 1):
            return f"a {op.name!r} conv in the patch stage that is neither the first nor 1x1 (no patch kernel for it)"
    height = graph.tensor(plan.stage_output).shape[1] if plan.stage_output else 0
    if height % plan.p:
        return (f"the stage output's {height} rows do not split into {plan.p} equal patches (TinyEngine would "
                "leave the remainder uncomputed)")  # fmt: skip
    return None


def _conv_shape(graph: Graph, op: Op) -> tuple[tuple[int, int], tuple[int, int], int]:
    """(kernel, stride, input channels) of a conv."""
    _, kh, kw, _ = graph.tensor(op.inputs[1]).shape
    return (kh, kw), tuple(op.attrs.get("stride", (1, 1))), graph.tensor(op.inputs[0]).shape[-1]


_NOT_IDENT = re.compile(r"[^A-Za-z0-9_]")


def unit_names(graph: Graph, generated: Generated) -> list[str]:
    """One PB1 unit name per layer of TinyEngine's per-layer stage: the patchbench op writing the same
    tensor (``b0_dw``), else ``te<i>_<op>``; C identifiers, unique."""
    producers = {out: op.name for op in graph.ops for out in op.outputs}
    names, seen = [], set()
    for index, layer in enumerate(layer for layer in generated.layers if not layer.is_patch):
        name = producers.get(layer.output_name or "", f"te{index}_{layer.op.lower()}")
        name = _NOT_IDENT.sub("_", name)
        if not name or name[0].isdigit() or name in seen:
            name = f"te{index}_{name}"
        seen.add(name)
        names.append(name)
    return names


def image_bytes(graph: Graph, generated: Generated) -> int:
    """The image TinyEngine's patch mode reads from outside its arena (0 per layer: the input is in it)."""
    return 0 if generated.patch_params is None else graph.tensor(graph.inputs[0]).nbytes


def _producers(graph: Graph, generated: Generated) -> list[str]:
    """The graph op that writes each TinyEngine layer's output tensor (the diagnosis compares those)."""
    producers = {out: op.name for op in graph.ops for out in op.outputs}
    missing = [layer.output_name for layer in generated.layers if layer.output_name not in producers]
    if missing:
        raise EngineError(f"TinyEngine layers write tensors {missing} that no op of {graph.name} writes")
    return [producers[layer.output_name] for layer in generated.layers]


__all__ = ["FP", "INT", "TinyEngineEngine", "TinyEngineOptions", "unit_names"]
