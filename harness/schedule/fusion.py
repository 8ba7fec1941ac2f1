"""Residual ADDs fused into the convolution that produces one of their operands (the paper's accounting:
the projection conv writes into the residual buffer).

A fused pair runs as one step: the conv computes a few output rows at a time into a small chunk buffer,
and the ADD of those rows with the other operand's rows goes straight to the ADD's output, which the
arena planner puts over that operand where it dies there. The conv's full output never exists, so the
step needs the conv's input, the residual operand, the chunk and the conv's scratch. Exact: the ADD
reads the same int8 conv outputs as it would from a full buffer.

Only where it is plainly safe: per layer (not in the patch stage), a 1x1 stride-1 unpadded CONV_2D whose
only reader is the ADD right after it, both ADD operands int8 activations of the output's shape.
"""

from __future__ import annotations

from harness.ir.geometry import kernel_size
from harness.ir.graph import Graph
from harness.schedule.plan import PatchPlan

EPILOGUE_MIN_PIXELS = 24  # a chunk holds at least this many pixels: the DSP 1x1 kernel works in blocks of 6


def epilogue_chunk_rows(height: int, width: int) -> int:
    """Output rows the fused conv computes per chunk."""
    return max(1, min(height, -(-EPILOGUE_MIN_PIXELS // width)))


def residual_epilogues(graph: Graph, plan: PatchPlan) -> dict[str, str]:
    """conv op name -> the ADD op fused into it as its epilogue."""
    stage = set(plan.stage_ops)
    ops = [op for op in graph.ops if op.name not in stage]
    fused = {}
    for conv, add in zip(ops, ops[1:], strict=False):
        if conv.kind != "CONV_2D" or add.kind != "ADD" or len(add.inputs) != 2:
            continue
        out = conv.outputs[0]
        if out not in add.inputs or out in graph.outputs or len(graph.consumers(out)) != 1:
            continue
        shape = graph.tensor(add.outputs[0]).shape
        if any(
            graph.tensor(name).is_const
            or graph.tensor(name).shape != shape
            or graph.tensor(name).dtype != "int8"
            for name in add.inputs
        ):
            continue
        if len(shape) != 4 or add.inputs[0] == add.inputs[1]:
            continue
        stride = tuple(conv.attrs.get("stride", (1, 1)))
        if (
            kernel_size(graph, conv) != (1, 1)
            or stride != (1, 1)
            or graph.tensor(conv.inputs[0]).shape[1:3] != shape[1:3]
        ):
            continue
        fused[conv.name] = add.name
    return fused
