# SPDX-License-Identifier: Apache-2.0
"""The analytic side of a point, computed when it is measured and stored with its result
(``harness.results.record.PointAnalysis``): the per-layer memory profile under the plan, the plan's
summary, the model's MACs and shapes. The report draws from the stored copy, never from today's zoo."""

from __future__ import annotations

from harness.ir.geometry import WINDOW_KINDS, activation_input_names, hwc, kernel_size, stride_dilation
from harness.ir.graph import Graph, Op, op_macs
from harness.results.record import LayerProfile, OpShape, PlanSummary, PointAnalysis
from harness.schedule.plan import PatchPlan
from harness.schedule.profile import PAPER_RULES, MemoryProfile, MemoryRules, profile


def point_analysis(
    graph: Graph, plan: PatchPlan, rules: MemoryRules = PAPER_RULES, memory: MemoryProfile | None = None
) -> PointAnalysis:
    """``memory``: the plan's profile when the caller already has it (under ``rules``)."""
    memory = memory or profile(graph, plan, rules)
    summary = PlanSummary(
        p=plan.p,
        n=plan.n,
        description=plan.describe(),
        stage_layers=tuple(plan.stage_layers),
        stage_output=plan.stage_output,
        input_patch=None
        if not isinstance(plan, PatchPlan) or plan.is_per_layer or not plan.stage_inputs
        else tuple(plan.input_patch_shape()),
        macs=plan.macs,
        macs_per_layer=plan.macs_per_layer,
        stage_macs_per_layer=plan.stage_macs_per_layer,
        stage_macs_patched=plan.stage_macs_patched,
    )
    layers = tuple(
        LayerProfile(
            name=layer.name,
            in_patch_stage=layer.in_patch_stage,
            input_shape=tuple(layer.input_shape),
            output_shape=tuple(layer.output_shape),
            per_layer_bytes=layer.per_layer_bytes,
            per_patch_bytes=layer.per_patch_bytes,
            per_patch_counted_bytes=layer.per_patch_counted_bytes,
            macs_per_layer=layer.macs_per_layer,
            macs_scheduled=layer.macs_scheduled,
        )
        for layer in memory.layers
    )
    return PointAnalysis(
        graph_name=graph.name,
        rules=rules.name,
        input_shapes=tuple(tuple(graph.tensor(name).shape) for name in graph.inputs),
        output_shapes=tuple(tuple(graph.tensor(name).shape) for name in graph.outputs),
        plan=summary,
        layers=layers,
        ops=tuple(op_shape(graph, op, memory.op_macs.get(op.name)) for op in graph.ops),
    )


def op_shape(graph: Graph, op: Op, macs_scheduled: int | None = None) -> OpShape:
    """What the per-op profile groups ``op`` by: kind, window, channels and map sizes, MACs (per layer, and
    ``macs_scheduled`` under the point's plan)."""
    inputs = activation_input_names(graph, op)
    in_h, in_w, in_c = hwc(graph.tensor(inputs[0]).shape) if inputs else (1, 1, 0)
    out_h, out_w, out_c = hwc(graph.tensor(op.outputs[0]).shape)
    window = op.kind in WINDOW_KINDS
    return OpShape(
        name=op.name, kind=op.kind, kernel=kernel_size(graph, op) if window else (1, 1),
        stride=stride_dilation(op)[0] if window else (1, 1), in_c=in_c, out_c=out_c, in_hw=(in_h, in_w),
        out_hw=(out_h, out_w), macs=op_macs(graph, op), macs_scheduled=macs_scheduled,
    )  # fmt: skip
