# SPDX-License-Identifier: Apache-2.0
"""Where every tensor lives: the arena plan with the kernels' real scratch, and per patch the exact window
of each buffer that every op of the patch stage reads and writes.

A *view* is how one patch (or the per-layer part) holds a tensor: the arena offset of the first held
pixel, the rows/columns held and the row stride. Inside the patch stage a tensor's buffer holds exactly
its region for this patch (``Patch.tensors``); the full-size stage output and the whole input image
(input "counted") are held whole, so a patch reads or writes a window of them through a row stride.
An op step then reads ``step.inputs[k]`` out of the input's view — which may be a window of a bigger
held region, as for the shortcut operand of a residual ADD — exactly as the host patch executor crops.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from harness.codegen import kernels
from harness.ir.geometry import activation_inputs, hwc
from harness.ir.graph import Graph, Op
from harness.schedule.arena import (
    ArenaPlan,
    InplacePolicy,
    KernelShapes,
    ScratchFn,
    plan_arena,
    stage_layout_source,
)
from harness.schedule.plan import WINDOW_OPS, OpStep, Patch, PatchPlan, Region
from harness.schedule.rows import RowPlan
from harness.schedule.segments import StagedPlan

from .options import CodegenError, CodegenOptions


def kernel_scratch(optimized: bool) -> ScratchFn:
    """The arena planner's scratch rule: what harness.codegen.kernels says each kernel variant needs."""

    def scratch(graph: Graph, op: Op, shapes: KernelShapes) -> int:
        # a conv call on a slice of its output channels (rows.py, ch=) takes that slice's scratch
        out_channels = shapes.output_shape[2] if op.kind == "CONV_2D" else None
        return kernels.op_scratch_bytes(graph, op, optimized, shapes.in_place, out_channels)

    return scratch


def plan_model_arena(
    graph: Graph, plan: PatchPlan | StagedPlan, options: CodegenOptions, scratch: ScratchFn | None = None
) -> ArenaPlan:
    """The arena for this schedule, with in-place buffers only where the generated code keeps the layout
    the planner proved them safe for (see ``_inplace_depthwise_is_dense``). ``scratch``: the kernel set's
    scratch rule (default: patchbench's kernels, ``kernel_scratch``)."""
    input_mode = options.input_mode if not plan.is_per_layer else "counted"
    scratch = scratch or kernel_scratch(options.optimized)
    if options.op_crcs:  # the diagnosis reads every op's whole output: no conv output held as a chunk
        options = replace(options, inplace=replace(options.inplace, residual_add=False))
    arena = plan_arena(graph, plan, input_mode, scratch, options.inplace,
                       options.planner, options.alignment)  # fmt: skip
    patch_part = (
        plan
        if isinstance(plan, PatchPlan)
        else next((part for part in plan.parts if isinstance(part, PatchPlan)), None)
    )
    if patch_part is not None and not _inplace_depthwise_is_dense(graph, patch_part, arena):
        # The planner proved in-place depthwise safe for a dense input buffer of the region the op reads;
        # a patch that holds more of the input (another reader needs a wider window) breaks that proof.
        policy = InplacePolicy(elementwise=options.inplace.elementwise, depthwise="off")
        arena = plan_arena(graph, plan, input_mode, scratch, policy,
                           options.planner, options.alignment)  # fmt: skip
    return arena


def _inplace_depthwise_is_dense(graph: Graph, plan: PatchPlan, arena: ArenaPlan) -> bool:
    ops = {op.name: op for op in graph.ops}
    for buffer in arena.buffers:
        producer = graph.producer(buffer.name) if buffer.writes_over else None
        if producer is None or producer.kind != "DEPTHWISE_CONV_2D" or producer.name not in plan.stage_ops:
            continue
        source = ops[producer.name].inputs[0]
        for patch in plan.patches:
            for step in patch.steps:
                if step.op == producer.name and step.inputs[0] != patch.tensors.get(source):
                    return False
    return True


@dataclass(frozen=True)
class View:
    """How a tensor is held: ``region`` of the map at arena ``offset``, rows ``row_stride`` elements apart."""

    offset: int
    region: Region
    row_stride: int  # elements of the tensor's type
    channels: int
    itemsize: int = 1  # bytes per element (4 for the float32 ends of a float model)

    def at(self, window: Region) -> int:
        """Arena byte offset of the first element of ``window`` (which must lie inside the held region)."""
        if window.is_empty:
            return self.offset
        if not self.region.contains(window):
            raise CodegenError(f"internal error: window {window} is outside the held region {self.region}")
        elements = (window.y0 - self.region.y0) * self.row_stride + (
            window.x0 - self.region.x0
        ) * self.channels
        return self.offset + elements * self.itemsize


def _itemsize(graph: Graph, name: str) -> int:
    return int(np.dtype(graph.tensor(name).dtype).itemsize)


def whole(graph: Graph, name: str) -> Region:
    h, w, _ = hwc(graph.tensor(name).shape)
    return Region(0, h, 0, w)


class StageLayout:
    """Views of the patch stage's tensors, patch by patch."""

    accumulating: frozenset[str] = frozenset()  # global pools run row by row into int32 sums (RowLayout)
    sliced: dict[str, tuple[int, int]] = {}  # noqa: RUF012 (RowLayout's: op -> (channels per call, slices))

    def __init__(self, graph: Graph, plan: PatchPlan, arena: ArenaPlan):
        self.graph, self.plan, self.arena = graph, plan, arena
        self.streamed = arena.input_mode == "streamed"

    def full_view(self, name: str) -> View:
        h, w, c = hwc(self.graph.tensor(name).shape)
        return View(self.arena.offset(name), Region(0, h, 0, w), w * c, c, _itemsize(self.graph, name))

    def view(self, patch: Patch, name: str) -> View:
        # an elementwise op's in-place output is held in its source's layout (a fused residual ADD writes
        # into a window of the shortcut's buffer: harness.schedule.arena.stage_layout_source)
        name = stage_layout_source(self.arena, self.graph, name)
        is_image = name in self.graph.inputs
        if name == self.plan.stage_output or (is_image and not self.streamed):
            return self.full_view(name)
        region = patch.tensors.get(name)
        if region is None:
            raise CodegenError(f"internal error: patch ({patch.row}, {patch.col}) does not hold {name!r}")
        channels = hwc(self.graph.tensor(name).shape)[2]
        return View(
            self.arena.offset(name), region, region.width * channels, channels, _itemsize(self.graph, name)
        )


@dataclass(frozen=True)
class RowSteps:
    """The op steps of a plan's row-streamed segments as one-step patches, the form ``stage_steps`` reads:
    one per row an op computes, in the order the segments run them, its ``tensors`` the rows each ring
    maps at that step (``[origin, origin + capacity)``, harness/schedule/rows.py); ``col`` -1 marks a row."""

    patches: tuple[Patch, ...]

    @classmethod
    def of(cls, plan: StagedPlan) -> RowSteps:
        patches = []
        for part in plan.parts:
            if not isinstance(part, RowPlan):
                continue  # the patch stage: StageLayout
            for step in part.steps:
                if step.op is None:
                    continue  # an input row loaded: no op runs
                tensors = {
                    name: part.region(name, (origin, origin + part.capacity[name]), step.strip)
                    for name, origin in step.origins.items()
                }
                output = part.step_output(step)
                op_step = OpStep(step.op, output, step.inputs, step.pads, step.channels)
                patches.append(Patch(step.row, -1, output, tensors, (op_step,), 0))
        return cls(tuple(patches))


class RowLayout(StageLayout):
    """Views of the row-streamed segments' tensors, row step by row step: a ring (an arena ``rows``
    buffer) holds its mapped rows contiguously from its offset; everything else is held whole."""

    def __init__(self, graph: Graph, plan: StagedPlan, arena: ArenaPlan):
        self.graph, self.arena = graph, arena
        self.plan = RowSteps.of(plan)
        self.streamed = arena.input_mode == "streamed"
        rows_parts = [part for part in plan.parts if isinstance(part, RowPlan)]
        self.accumulating = frozenset(part.accumulates for part in rows_parts if part.accumulates)
        # a conv run on slices of its output channels and the pool taking them: op -> (channels, slices)
        self.sliced = {
            name: (part.chunk, graph.tensor(graph.op(part.chunked).outputs[0]).shape[-1] // part.chunk)
            for part in rows_parts
            if part.chunked is not None
            for name in (part.chunked, part.accumulates)
        }
        self.ring_channels = {
            name: part.ring_channels(graph, name) for part in rows_parts for name in part.capacity
        }
        # a ring's row: the widest strip's columns (column strips, rows.py); its held region a strip's
        self.ring_widths = {name: part.widths[name] for part in rows_parts for name in part.capacity}

    def view(self, patch: Patch, name: str) -> View:
        if self.arena.buffer(name).kind != "rows":
            return self.full_view(name)
        region = patch.tensors[name]
        channels = self.ring_channels[name]
        return View(
            self.arena.offset(name),
            region,
            self.ring_widths[name] * channels,
            channels,
            _itemsize(self.graph, name),
        )


@dataclass(frozen=True)
class StepIO:
    """What one op of the patch stage reads and writes in one patch (the C ``stage_step``)."""

    patch: Patch
    region: kernels.Region  # sizes, border pads and row strides of the call
    inputs: tuple[int, ...]  # arena offset of the first element read, per activation input
    input_row_strides: tuple[int, ...]
    output: int  # arena offset of the first element written
    reads: tuple[Region, ...]  # the windows read (for the comment)
    writes: Region
    # (first output row, column, first input row, column) in the full maps: where a TILE_KINDS op's tile
    # and its input window lie (its arithmetic depends on the position, geometry.tile_input_window)
    origin: tuple[int, int, int, int] = (0, 0, 0, 0)

    def comment(self) -> str:
        reads = ", ".join(str(r) for r in self.reads)
        r = self.region
        pads = f", pads t{r.pad_top} b{r.pad_bottom} l{r.pad_left} r{r.pad_right}" if any(r.pads) else ""
        where = (
            f"row {self.patch.row}" if self.patch.col < 0 else f"patch ({self.patch.row}, {self.patch.col})"
        )
        return f"{where}: writes {self.writes} reading {reads}{pads}"


def stage_steps(layout: StageLayout, op: Op) -> list[StepIO]:
    """The StepIO of ``op`` for every patch that runs it, in patch order."""
    graph = layout.graph
    steps = []
    for patch in layout.plan.patches:
        for step in patch.steps:
            if step.op != op.name:
                continue
            out_view = layout.view(patch, op.outputs[0])
            offsets, strides, reads = [], [], []
            for index in activation_inputs(graph, op):
                need = step.inputs[index]
                name = op.inputs[index]
                if need is None or need.is_empty:
                    offsets.append(0)
                    strides.append(0)
                    reads.append(Region(0, 0, 0, 0))
                    continue
                view = layout.view(patch, name)
                offsets.append(view.at(need))
                # An operand of one row (a per-channel or per-column broadcast) is read whole for every row.
                strides.append(0 if hwc(graph.tensor(name).shape)[0] == 1 else view.row_stride)
                reads.append(need)
            first = step.inputs[activation_inputs(graph, op)[0]]
            in_c = hwc(graph.tensor(op.inputs[0]).shape)[2]
            out_c = hwc(graph.tensor(op.outputs[0]).shape)[2]
            output = out_view.at(step.output)
            if step.channels is not None:  # a slice of the channels: a conv's of its output, a pool's of both
                c0, c1 = step.channels
                in_c = in_c if op.kind == "CONV_2D" else c1 - c0
                if out_view.channels == out_c:  # held whole, not as a ring of the slice: the slice's place
                    output += c0 * out_view.itemsize
                out_c = c1 - c0
            top, bottom, left, right = step.pads or (0, 0, 0, 0)
            in_h, in_w = (max(first.height, 0), max(first.width, 0)) if first is not None else (0, 0)
            region = kernels.Region(
                in_h=in_h, in_w=in_w, in_c=in_c, out_h=step.output.height, out_w=step.output.width,
                out_c=out_c, pad_top=top, pad_bottom=bottom, pad_left=left, pad_right=right,
                in_row_stride=strides[0], out_row_stride=out_view.row_stride,
            )  # fmt: skip
            if op.kind in WINDOW_OPS and op.name not in layout.accumulating:
                try:
                    kernels.check_region(region, kernels.window_for_op(graph, op))
                except kernels.KernelError as err:
                    raise CodegenError(
                        f"internal error: op {op.name!r} in patch ({patch.row}, {patch.col}): {err}"
                    ) from None
            steps.append(
                StepIO(
                    patch,
                    region,
                    tuple(offsets),
                    tuple(strides),
                    output,
                    tuple(reads),
                    step.output,
                    (
                        step.output.y0,
                        step.output.x0,
                        *((first.y0, first.x0) if first is not None else (0, 0)),
                    ),
                )  # fmt: skip
            )
    return steps
