# SPDX-License-Identifier: Apache-2.0
"""Residual ADDs fused into the convolution that produces one of their operands (the paper's accounting:
the projection conv writes into the residual buffer).

A fused pair runs as one step: the conv computes a few output rows at a time into a small chunk buffer,
and the ADD of those rows with the other operand's rows goes straight to the ADD's output, which the
arena planner puts over that operand where it dies there. The conv's full output never exists, so the
step needs the conv's input, the residual operand, the chunk and the conv's scratch. Exact: the ADD
reads the same int8 conv outputs as it would from a full buffer.

Only where it is plainly safe: a 1x1 stride-1 unpadded CONV_2D whose only reader is the ADD right after
it, both ADD operands int8 activations of the output's shape, both ops per layer or both in the patch
stage (there the chunk buffer holds rows of the largest patch region; the stage output itself is never
a chunk).

PAD ops folded into the window op that reads them (``fold_pads``): a converted model's explicit PAD
before a strided conv materializes a padded copy of its input; folded, the conv reads the unpadded
input with the PAD's amounts as its own explicit (top, bottom, left, right) pads, and the padded copy
never exists. Exact only when the kernel's implicit padding equals the PAD's constant: a conv's padding
contributes nothing to the sum, as a pixel equal to the input zero point does (what PAD writes); a max
pool ignores padding, as a pixel of -128 (the int8 minimum, which never wins a max) does, so a PAD into a
MAX_POOL_2D folds only when its zero point is -128. Average pools divide by the count of real pixels:
never folded. PADV2 folds the same way when its constant is that value. The fold is a rewrite of the graph the schedule runs (``padding="EXPLICIT"``, ``pads``,
``folded_pad`` on the reader) and of its plan (``plan.restage``), so every later step (patch regions,
the arena, the code, the host executor) sees one op with its pads, from the one geometry.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from harness.ir.geometry import CONV_KINDS, Pads, kernel_size, op_pads, reach, stride_dilation, window_count
from harness.ir.graph import Block, Graph, Op
from harness.ir.opdefs import PATCH_PAD, kinds
from harness.ir.quant import INT8_MIN
from harness.reference import pad_value
from harness.schedule.plan import PatchPlan, restage
from harness.schedule.segments import StagedPlan, restage_plan

EPILOGUE_MIN_PIXELS = 24  # a chunk holds at least this many pixels: the DSP 1x1 kernel works in blocks of 6


def epilogue_chunk_rows(height: int, width: int) -> int:
    """Output rows the fused conv computes per chunk."""
    return max(1, min(height, -(-EPILOGUE_MIN_PIXELS // width)))


def residual_epilogues(graph: Graph, plan: PatchPlan, in_stage: bool = True) -> dict[str, str]:
    """conv op name -> the ADD op fused into it as its epilogue: per layer, and (``in_stage``) inside the
    patch stage (there each patch runs the pair on its region, chunk by chunk, the ADD's other operand
    read from its patch buffer or the whole image with its row stride)."""
    stage = set(plan.stage_ops)
    fused = {}
    parts = [[op for op in graph.ops if op.name not in stage]]
    if in_stage:
        parts.append([op for op in graph.ops if op.name in stage])
    for part in parts:
        for conv, add in zip(part, part[1:], strict=False):
            if _fusable(graph, plan, conv, add):
                fused[conv.name] = add.name
    return fused


def epilogue_rows(graph: Graph, plan: PatchPlan, conv: str) -> int:
    """Output rows a fused conv computes per chunk: from its whole output per layer, from the largest
    region a patch computes in the patch stage (its chunk buffer holds that many rows of that width)."""
    out = graph.op(conv).outputs[0]
    height, width = plan.max_region(out) if conv in plan.stage_ops else graph.tensor(out).shape[1:3]
    return epilogue_chunk_rows(height, width)


def epilogue_chunk_shape(graph: Graph, plan: PatchPlan, conv: str) -> tuple[int, int, int]:
    """(rows, width, channels) of a fused conv's chunk buffer."""
    out = graph.op(conv).outputs[0]
    width = plan.max_region(out)[1] if conv in plan.stage_ops else graph.tensor(out).shape[2]
    return epilogue_rows(graph, plan, conv), width, graph.tensor(out).shape[3]


def _fusable(graph: Graph, plan: PatchPlan, conv: Op, add: Op) -> bool:
    if conv.kind != "CONV_2D" or add.kind != "ADD" or len(add.inputs) != 2:
        return False
    out = conv.outputs[0]
    if out not in add.inputs or out in graph.outputs or out == plan.stage_output:
        return False
    if len(graph.consumers(out)) != 1:
        return False
    shape = graph.tensor(add.outputs[0]).shape
    if any(
        graph.tensor(name).is_const or graph.tensor(name).shape != shape or graph.tensor(name).dtype != "int8"
        for name in add.inputs
    ):
        return False
    if len(shape) != 4 or add.inputs[0] == add.inputs[1]:
        return False
    stride = tuple(conv.attrs.get("stride", (1, 1)))
    return (
        kernel_size(graph, conv) == (1, 1)
        and stride == (1, 1)
        and op_pads(graph, conv) == (0, 0, 0, 0)
        and graph.tensor(conv.inputs[0]).shape[1:3] == shape[1:3]
    )


# --- PAD folded into its reader ----------------------------------------------------------------------

PAD_KINDS = kinds(patch=PATCH_PAD)  # PAD, PADV2: its constant (or the zero point) is the padding
PAD_FOLD_KINDS = (*CONV_KINDS, "MAX_POOL_2D")


@dataclass(frozen=True)
class PadFold:
    """One PAD folded into the window op that reads it."""

    pad: str  # the PAD (or PADV2) op, gone from the graph that runs
    into: str  # the conv or max pool that now reads the PAD's input
    pads: Pads  # that op's explicit (top, bottom, left, right): its own padding plus the PAD's

    def describe(self) -> str:
        top, bottom, left, right = self.pads
        return f"{self.pad} folded into {self.into} (pads t{top} b{bottom} l{left} r{right})"


@dataclass(frozen=True)
class FoldedSchedule:
    graph: Graph  # the graph that runs: folded PADs gone, their readers with EXPLICIT pads
    plan: PatchPlan | StagedPlan  # the schedule for it (same p, n and stage; the same segments)
    folds: tuple[PadFold, ...]


def fold_pads(graph: Graph, plan: PatchPlan | StagedPlan) -> FoldedSchedule:
    """``graph`` and ``plan`` with every PAD that folds exactly into its reader folded (module doc)."""
    folds = [fold for pad in graph.ops if pad.kind in PAD_KINDS and (fold := _pad_fold(graph, plan, pad))]
    if not folds:
        return FoldedSchedule(graph, plan, ())
    by_pad = {fold.pad: fold for fold in folds}
    by_reader = {fold.into: fold for fold in folds}
    gone_tensors = set()
    ops: list[Op] = []
    for op in graph.ops:
        if op.name in by_pad:
            gone_tensors.add(op.outputs[0])
            continue
        fold = by_reader.get(op.name)
        if fold is not None:
            pad = graph.op(fold.pad)
            attrs = {**op.attrs, "padding": "EXPLICIT", "pads": fold.pads, "folded_pad": fold.pad}
            op = Op(op.kind, op.name, [pad.inputs[0], *op.inputs[1:]], list(op.outputs), attrs)
        ops.append(op)
    still_read = {name for op in ops for name in op.inputs}
    for fold in folds:  # the paddings (and PADV2's value) go with their PAD unless something else reads them
        gone_tensors.update(name for name in graph.op(fold.pad).inputs[1:] if name and name not in still_read)
    blocks = None
    if graph.blocks is not None:
        blocks = [Block(b.name, [n for n in b.ops if n not in by_pad]) for b in graph.blocks]
        blocks = [b for b in blocks if b.ops]
    folded = replace(
        graph,
        tensors={name: t for name, t in graph.tensors.items() if name not in gone_tensors},
        ops=ops,
        blocks=blocks,
    )
    replanned = restage(folded, plan) if isinstance(plan, PatchPlan) else restage_plan(folded, plan)
    return FoldedSchedule(folded, replanned, tuple(folds))


def _pad_fold(graph: Graph, plan: PatchPlan, pad: Op) -> PadFold | None:
    """The fold of ``pad`` into its only reader, or None where that would not be exact or possible."""
    source, padded = pad.inputs[0], pad.outputs[0]
    readers = graph.consumers(padded)
    parts = plan.parts if isinstance(plan, StagedPlan) else (plan,)
    if len(readers) != 1 or padded in graph.outputs or padded in {part.stage_output for part in parts}:
        return None
    reader = readers[0]
    if reader.kind not in PAD_FOLD_KINDS or reader.inputs[0] != padded or reader.inputs.count(padded) != 1:
        return None
    if any((pad.name in part.stage_ops) != (reader.name in part.stage_ops) for part in parts):
        return None  # both per layer, or both in one segment
    before, after = graph.tensor(source), graph.tensor(padded)
    if before.dtype != "int8" or before.quant is None or after.quant is None or len(before.shape) != 4:
        return None
    if (before.scale, before.zero_point) != (after.scale, after.zero_point):
        return None  # the reader's arithmetic uses the padded tensor's quantization
    paddings = graph.tensor(pad.inputs[1]).data
    if paddings is None or paddings.shape != (4, 2) or paddings[0].any() or paddings[3].any():
        return None  # only height and width padding is a window op's padding
    # what the reader's implicit padding stands for: the input zero point (convs), the int8 minimum (max pool)
    implicit = INT8_MIN if reader.kind == "MAX_POOL_2D" else after.zero_point
    if pad_value(graph, pad) != implicit:
        return None
    own = op_pads(graph, reader)
    pads = (
        own[0] + int(paddings[1][0]),
        own[1] + int(paddings[1][1]),
        own[2] + int(paddings[2][0]),
        own[3] + int(paddings[2][1]),
    )
    (sh, sw), (dh, dw) = stride_dilation(reader)
    kh, kw = kernel_size(graph, reader)
    _, in_h, in_w, _ = before.shape
    _, out_h, out_w, _ = graph.tensor(reader.outputs[0]).shape
    for size, (first, last), kernel, stride, dilation, out in (
        (in_h, pads[:2], kh, sh, dh, out_h),
        (in_w, pads[2:], kw, sw, dw, out_w),
    ):
        if window_count(first + size + last, kernel, stride, dilation) != out:
            return None
        # every window reads a real pixel: a patch never gets a tile made only of padding
        if first >= reach(kernel, dilation) or (out - 1) * stride - first >= size:
            return None
    return PadFold(pad.name, reader.name, pads)
