# SPDX-License-Identifier: Apache-2.0
"""Analytic memory profile: what each layer needs in SRAM, per-layer and per-patch (the paper's method).

Accounting (DESIGN.md "Analytic memory"): weights stream from flash, so an op needs the activations
alive while it runs: its inputs, its output, and every tensor produced earlier and read later (the
shortcut of a residual block: branches alive together all count). A tensor read by several ops counts
once. int8 bytes; kB = 1024 bytes. A layer (block) needs the most any of its ops needs.

Two sets of rules (``MemoryRules``):

- ``PAPER_RULES`` (default): the execution model behind MCUNetV2's figures, TinyEngine's. A depthwise
  conv whose input dies with it writes its output into the input's buffer (in-place depthwise), and a
  conv whose only reader is a residual ADD accumulates into the shortcut's buffer when the shortcut
  dies at that ADD (fused add). The tensors sharing a buffer count as the largest of those alive.
  Without the first rule MobileNetV2's stride-2 depthwise at 112x112 would need 1470 kB, not the
  paper's 1372 kB; without the second the 28x28 blocks after the patch stage would need 196 kB, not 172.
- ``PLAIN_RULES``: every tensor is its own buffer (the definition read literally). Reported beside
  the paper's rules so nobody mistakes one for the other.

Patch stage (p > 1): one patch's buffers, each the size of that patch's region, plus the full-size stage
output buffer that the patches fill, alive during the whole stage. The network input is reported both
ways: *counted*, the whole image sits in SRAM during the whole patch stage (every patch reads from it);
*streamed*, the image is decoded patch by patch, so only the patch's input region is held (the paper's
figure, and TinyEngine's). Per-layer inference reads the whole image at once, so the two modes agree
for per-layer layers: the image is counted there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from harness.ir.geometry import activation_input_names, hwc
from harness.ir.graph import Graph, Op, op_macs
from harness.schedule.plan import PatchPlan, ScheduleError, make_plan
from harness.schedule.rows import RowPlan
from harness.schedule.segments import StagedPlan

KB = 1024
InputMode = Literal["counted", "streamed"]
INPUT_MODES = ("counted", "streamed")


@dataclass(frozen=True)
class MemoryRules:
    name: str
    inplace_depthwise: bool  # a depthwise conv writes over its input when the input dies with it
    fused_residual_add: bool  # conv -> ADD fused, accumulating into the dying shortcut's buffer


PAPER_RULES = MemoryRules("paper", inplace_depthwise=True, fused_residual_add=True)
PLAIN_RULES = MemoryRules("plain", inplace_depthwise=False, fused_residual_add=False)
RULES = {rules.name: rules for rules in (PAPER_RULES, PLAIN_RULES)}


@dataclass(frozen=True)
class LayerMemory:
    """One layer (block, or op for graphs without blocks) under one plan."""

    name: str
    in_patch_stage: bool
    input_shape: tuple[int, int, int]  # (H, W, C) of the layer's first op's input
    output_shape: tuple[int, int, int]  # (H, W, C) of the layer's last op's output
    per_layer_bytes: int  # per-layer inference (input image counted)
    per_patch_bytes: int  # under the plan, input streamed (equals per_layer_bytes outside the stage)
    per_patch_counted_bytes: int  # under the plan, input image counted
    macs_per_layer: int
    macs_scheduled: int  # under the plan: summed over patches in the stage


@dataclass(frozen=True)
class MemoryProfile:
    graph_name: str
    plan: PatchPlan | RowPlan | StagedPlan
    rules: MemoryRules
    layers: tuple[LayerMemory, ...]
    # every op's MACs under the plan (an op of a patch stage or row segment: summed over its patches or
    # rows, recomputed halos counted; any other op: its per-layer MACs)
    op_macs: Mapping[str, int] = field(default_factory=dict)

    @property
    def peak_per_layer(self) -> int:
        return max(layer.per_layer_bytes for layer in self.layers)

    def peak(self, input_mode: InputMode = "streamed") -> int:
        """Peak bytes under the plan (for p = 1 this is the per-layer peak)."""
        _check_mode(input_mode)
        if input_mode == "streamed":
            return max(layer.per_patch_bytes for layer in self.layers)
        return max(layer.per_patch_counted_bytes for layer in self.layers)

    def peak_layer(self, input_mode: InputMode = "streamed") -> str:
        key = "per_patch_bytes" if input_mode == "streamed" else "per_patch_counted_bytes"
        return max(self.layers, key=lambda layer: getattr(layer, key)).name


def _check_mode(input_mode: str) -> None:
    if input_mode not in INPUT_MODES:
        raise ScheduleError(f"input mode {input_mode!r} unknown; use 'counted' or 'streamed'")


# --- liveness -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lifetimes:
    """First and last op index at which each activation is alive (graph inputs from 0, outputs to the end)."""

    first: dict[str, int]
    last: dict[str, int]

    def alive(self, name: str, index: int) -> bool:
        return self.first[name] <= index <= self.last[name]


def lifetimes(graph: Graph, ops: list[Op] | None = None, keep_outputs: bool = True) -> Lifetimes:
    ops = graph.ops if ops is None else ops
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    for name in graph.inputs:
        first[name] = last[name] = 0
    for index, op in enumerate(ops):
        for name in activation_input_names(graph, op):
            first.setdefault(name, 0)
            last[name] = index
        for name in op.outputs:
            first[name] = index
            last.setdefault(name, index)
            last[name] = max(last[name], index)
    if keep_outputs:
        for name in graph.outputs:
            if name in last:
                last[name] = len(ops) - 1
    return Lifetimes(first, last)


def alias_groups(graph: Graph, rules: MemoryRules, exclude: frozenset[str] = frozenset()) -> dict[str, str]:
    """tensor -> the tensor whose buffer it lives in, under the rules' in-place conventions.

    ``exclude``: tensors that must keep a buffer of their own (the stage output and a counted input
    image in patch mode: other patches still need them).
    """
    live = lifetimes(graph)
    index_of = {op.name: i for i, op in enumerate(graph.ops)}
    consumers: dict[str, list[Op]] = {}
    for op in graph.ops:
        for name in op.inputs:
            if name:
                consumers.setdefault(name, []).append(op)
    owner: dict[str, str] = {}

    def root(name: str) -> str:
        while name in owner:
            name = owner[name]
        return name

    def dies_at(name: str, op: Op) -> bool:
        return (
            name not in exclude
            and name not in graph.outputs
            and not graph.tensor(name).is_const
            and live.last[name] == index_of[op.name]
        )

    for op in graph.ops:
        out = op.outputs[0]
        if out in exclude:
            continue
        if rules.inplace_depthwise and op.kind == "DEPTHWISE_CONV_2D":
            x = op.inputs[0]
            # a depth multiplier > 1 gives the output other channels than the input: never in place
            same_channels = graph.tensor(out).shape[-1] == graph.tensor(x).shape[-1]
            if dies_at(x, op) and same_channels and graph.tensor(out).nbytes <= graph.tensor(x).nbytes:
                owner[out] = root(x)
        if rules.fused_residual_add and op.kind == "ADD":
            a, b = op.inputs[:2]
            for shortcut, branch in ((a, b), (b, a)):
                producer = graph.producer(branch)
                fusable = (
                    producer is not None
                    and producer.kind in ("CONV_2D", "DEPTHWISE_CONV_2D")
                    and [c.name for c in consumers.get(branch, [])] == [op.name]
                    and branch not in exclude
                    and dies_at(shortcut, op)
                    and graph.tensor(shortcut).shape == graph.tensor(out).shape
                    and branch not in owner
                )
                if fusable:
                    owner[branch] = root(shortcut)
                    owner[out] = root(shortcut)
                    break
    return {name: root(name) for name in live.first}


def _live_bytes(alive: dict[str, int], groups: dict[str, str]) -> int:
    """Sum over buffers of the largest tensor alive in each (sizes in bytes)."""
    per_buffer: dict[str, int] = {}
    for name, size in alive.items():
        buffer = groups.get(name, name)
        per_buffer[buffer] = max(per_buffer.get(buffer, 0), size)
    return sum(per_buffer.values())


def per_layer_op_bytes(graph: Graph, rules: MemoryRules = PAPER_RULES) -> list[int]:
    """Bytes alive during each op of per-layer inference (input image counted)."""
    live = lifetimes(graph)
    groups = alias_groups(graph, rules)
    sizes = {name: graph.tensor(name).nbytes for name in live.first}
    result = []
    for index in range(len(graph.ops)):
        alive = {name: size for name, size in sizes.items() if live.alive(name, index)}
        result.append(_live_bytes(alive, groups))
    return result


def patch_stage_op_bytes(
    graph: Graph, plan: PatchPlan, rules: MemoryRules = PAPER_RULES, input_mode: InputMode = "streamed"
) -> list[int]:
    """Bytes alive during each op of the patch stage: the worst patch, plus the full stage-output buffer."""
    _check_mode(input_mode)
    by_name = {op.name: op for op in graph.ops}
    stage = [by_name[name] for name in plan.stage_ops]
    live = lifetimes(graph, stage, keep_outputs=False)
    full_size = set(plan.stage_inputs) if input_mode == "counted" else set()
    full_size.add(plan.stage_output)
    groups = alias_groups(graph, rules, exclude=frozenset(full_size))
    bytes_per_pixel = {name: graph.tensor(name).nbytes // _pixels(graph, name) for name in live.first}
    # The stage output fills up patch by patch; a counted image is read by every patch: both whole.
    whole = {name: graph.tensor(name).nbytes for name in full_size}
    alive_at = [[n for n in live.first if n not in full_size and live.alive(n, i)] for i in range(len(stage))]
    result = [0] * len(stage)
    for patch in plan.patches:
        for index, names in enumerate(alive_at):
            alive = dict(whole)
            for name in names:
                region = patch.tensors.get(name)
                if region is not None:
                    alive[name] = region.area * bytes_per_pixel[name]
            result[index] = max(result[index], _live_bytes(alive, groups))
    return result


def row_stage_bytes(graph: Graph, plan: RowPlan, input_mode: InputMode = "streamed") -> int:
    """Bytes a row-streamed segment holds (rows.py): every ring (all alive through the whole segment),
    the whole segment output, what it reads from outside (a graph input: its ring when streamed, the
    whole image counted; an earlier op's output: whole), and every other tensor alive across it. An input
    the output is written over (``RowPlan.overwrites``, when it dies with the segment) counts once, at
    the larger of the two, as the arena holds them."""
    _check_mode(input_mode)
    total = graph.tensor(plan.stage_output).nbytes + plan.accumulator_bytes(graph)
    for name in plan.capacity:
        tensor = graph.tensor(name)
        if name in graph.inputs and input_mode == "counted":
            total += tensor.nbytes
        else:
            total += plan.ring_bytes(graph, name)
    total += sum(graph.tensor(name).nbytes for name in plan.stage_inputs if name not in plan.capacity)
    index_of = {op.name: i for i, op in enumerate(graph.ops)}
    first = index_of[plan.stage_ops[0]]
    live = lifetimes(graph)
    source = plan.overwrites
    if (
        source is not None
        and live.last[source] <= index_of[plan.stage_ops[-1]]
        and source not in graph.outputs
    ):
        total -= min(graph.tensor(source).nbytes, graph.tensor(plan.stage_output).nbytes)
    inside = {*plan.stage_inputs, *(graph.op(name).outputs[0] for name in plan.stage_ops)}
    total += sum(
        graph.tensor(name).nbytes
        for name in live.first
        if name not in inside and live.first[name] < first < live.last[name]
    )
    return total


def _pixels(graph: Graph, name: str) -> int:
    shape = graph.tensor(name).shape
    return shape[1] * shape[2] if len(shape) == 4 else 1


# --- the profile ----------------------------------------------------------------------------------------


def profile(
    graph: Graph, plan: PatchPlan | RowPlan | StagedPlan, rules: MemoryRules = PAPER_RULES
) -> MemoryProfile:
    """Per-layer memory and MACs of ``graph``, per-layer and under ``plan``: a patch plan, a row-streamed
    one (each layer of a row-streamed segment needs the segment's bytes, ``row_stage_bytes``) or one of
    several segments (segments.make_schedule_plan)."""
    if plan.graph_name != graph.name:
        raise ScheduleError(f"plan was made for graph {plan.graph_name!r}, not {graph.name!r}")
    per_layer = per_layer_op_bytes(graph, rules)
    index_of = {op.name: i for i, op in enumerate(graph.ops)}
    stage_streamed: dict[str, int] = {}
    stage_counted: dict[str, int] = {}
    stage_macs: dict[str, int] = {}
    parts = plan.parts if isinstance(plan, StagedPlan) else (plan,)
    for part in parts:
        if isinstance(part, RowPlan):
            streamed = row_stage_bytes(graph, part, "streamed")
            counted = row_stage_bytes(graph, part, "counted")
            for name in part.stage_ops:
                stage_streamed[name], stage_counted[name] = streamed, counted
                stage_macs[name] = part.op_macs_run.get(name, op_macs(graph, graph.op(name)))
        elif not part.is_per_layer:
            streamed = patch_stage_op_bytes(graph, part, rules, "streamed")
            counted = patch_stage_op_bytes(graph, part, rules, "counted")
            for name, s, c in zip(part.stage_ops, streamed, counted, strict=True):
                stage_streamed[name], stage_counted[name] = s, c
            for patch in part.patches:
                for step in patch.steps:
                    stage_macs[step.op] = stage_macs.get(step.op, 0) + step.output.area * _macs_per_pixel(
                        graph, step.op
                    )
    layers = []
    for name, ops in zip(graph.layer_names, graph.layers, strict=True):
        in_stage = ops[0].name in stage_streamed
        mem_layer = max(per_layer[index_of[op.name]] for op in ops)
        if in_stage:
            # an op of the layer outside the segment (the flatten after a row-by-row global pool) per layer
            mem_streamed = max(stage_streamed.get(op.name, per_layer[index_of[op.name]]) for op in ops)
            mem_counted = max(stage_counted.get(op.name, per_layer[index_of[op.name]]) for op in ops)
            macs = sum(stage_macs.get(op.name, 0) for op in ops)
        else:
            mem_streamed = mem_counted = mem_layer
            macs = sum(op_macs(graph, op) for op in ops)
        layers.append(
            LayerMemory(
                name=name,
                in_patch_stage=in_stage,
                input_shape=hwc(graph.tensor(ops[0].inputs[0]).shape),
                output_shape=hwc(graph.tensor(ops[-1].outputs[0]).shape),
                per_layer_bytes=mem_layer,
                per_patch_bytes=mem_streamed,
                per_patch_counted_bytes=mem_counted,
                macs_per_layer=sum(op_macs(graph, op) for op in ops),
                macs_scheduled=macs,
            )
        )
    op_macs_run = {op.name: stage_macs.get(op.name, op_macs(graph, op)) for op in graph.ops}
    return MemoryProfile(graph.name, plan, rules, tuple(layers), op_macs_run)


def _macs_per_pixel(graph: Graph, op_name: str) -> int:
    op = graph.op(op_name)
    _, h, w, _ = graph.tensor(op.outputs[0]).shape
    return op_macs(graph, op) // (h * w)


def profile_table(graph: Graph, plan: PatchPlan, rules: MemoryRules = PAPER_RULES) -> pd.DataFrame:
    """One row per layer (block): resolution, channels, memory per-layer and per-patch (kB), MACs."""
    result = profile(graph, plan, rules)
    rows = []
    for layer in result.layers:
        rows.append(
            {
                "layer": layer.name,
                "stage": "patch" if layer.in_patch_stage else "layer",
                "in_res": f"{layer.input_shape[0]}x{layer.input_shape[1]}",
                "out_res": f"{layer.output_shape[0]}x{layer.output_shape[1]}",
                "in_ch": layer.input_shape[2],
                "out_ch": layer.output_shape[2],
                "mem_per_layer_kB": layer.per_layer_bytes / KB,
                "mem_per_patch_kB": layer.per_patch_bytes / KB,
                "mem_per_patch_counted_kB": layer.per_patch_counted_bytes / KB,
                "macs_per_layer": layer.macs_per_layer,
                "macs_scheduled": layer.macs_scheduled,
            }
        )
    return pd.DataFrame(rows)


# --- Table 1 of the paper ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Table1Row:
    """One model of Table 1. MAC figures count equal-size (padded) patches, as the paper does; the
    ``exact_`` figures count only the pixels each patch really computes (what our executor runs)."""

    model: str
    n: int  # patch-stage depth in layers (blocks)
    input_patch: tuple[int, int]
    stage_mac_overhead: float  # 0.42 = +42 %
    mac_overhead: float
    stage_macs: int  # patch stage, all patches
    macs: int  # whole network
    peak_per_layer_kb: float
    peak_per_patch_kb: float  # input streamed (the paper's way)
    peak_per_patch_counted_kb: float = float("nan")  # input image counted
    exact_stage_mac_overhead: float = float("nan")
    exact_mac_overhead: float = float("nan")
    exact_stage_macs: int = 0
    exact_macs: int = 0
    plain_peak_per_layer_kb: float = float("nan")  # PLAIN_RULES, for comparison
    plain_peak_per_patch_kb: float = float("nan")


# The paper's Table 1 (METHOD.md): MobileNetV2 at 224x224, int8, 4x4 patches.
PAPER_TABLE1 = {
    "MbV2": Table1Row("MbV2", 0, (75, 75), 0.42, 0.10, 130_000_000, 330_000_000, 1372.0, 172.0),
    "MbV2-RD": Table1Row("MbV2-RD", 0, (63, 63), 0.18, 0.03, 73_000_000, 301_000_000, 1372.0, 172.0),
}
TABLE1_MODELS = {"MbV2": "mbv2-w1.0-r224", "MbV2-RD": "mbv2-rd-w1.0-r224"}
TABLE1_PATCHES = 4
TABLE1_TOLERANCE = 0.05


def paper_patch_depth(graph: Graph, downsample: int = 8) -> int:
    """The paper's patch-stage depth: the layers down to the first output at 1/8 of the input resolution.

    For MobileNetV2 at 224 that is the first 28x28 output (the stem and four blocks), the split that
    gives the paper's 75x75 input patch with 4x4 patches: a 7x7 output patch grows 7 -> 15 (stride-2
    depthwise) -> 17 -> 35 (stride 2) -> 37 -> 75 (the stride-2 stem).
    """
    in_h = graph.tensor(graph.inputs[0]).shape[1]
    for index, layer in enumerate(graph.layers):
        shape = graph.tensor(layer[-1].outputs[0]).shape
        if len(shape) == 4 and shape[1] * downsample <= in_h:
            return index + 1
    raise ScheduleError(f"graph {graph.name!r} never reaches 1/{downsample} of its input resolution")


def table1_row(label: str, graph: Graph, p: int = TABLE1_PATCHES, n: int | None = None) -> Table1Row:
    n = paper_patch_depth(graph) if n is None else n
    plan = make_plan(graph, p, n)
    paper = profile(graph, plan, PAPER_RULES)
    plain = profile(graph, plan, PLAIN_RULES)
    return Table1Row(
        model=label,
        n=n,
        input_patch=plan.input_patch_shape(),
        stage_mac_overhead=plan.stage_mac_overhead_uniform,
        mac_overhead=plan.mac_overhead_uniform,
        stage_macs=plan.stage_macs_uniform,
        macs=plan.macs_uniform,
        peak_per_layer_kb=paper.peak_per_layer / KB,
        peak_per_patch_kb=paper.peak("streamed") / KB,
        peak_per_patch_counted_kb=paper.peak("counted") / KB,
        exact_stage_mac_overhead=plan.stage_mac_overhead,
        exact_mac_overhead=plan.mac_overhead,
        exact_stage_macs=plan.stage_macs_patched,
        exact_macs=plan.macs,
        plain_peak_per_layer_kb=plain.peak_per_layer / KB,
        plain_peak_per_patch_kb=plain.peak("streamed") / KB,
    )


def table1() -> list[Table1Row]:
    """Our Table 1: MbV2 and MbV2-RD from the zoo at 224x224, 4x4 patches, the paper's patch stage."""
    import models

    return [table1_row(label, models.get_model(name)) for label, name in TABLE1_MODELS.items()]


def table1_comparison(rows: list[Table1Row] | None = None) -> pd.DataFrame:
    """Ours beside the paper's, one line per (model, quantity).

    ``diff`` is relative: ours / paper - 1. An overhead is compared as the MAC factor it stands for,
    (1 + ours) / (1 + paper) - 1, since "+3 %" against "+4 %" is a 1 % difference in work, not 33 %.
    ``checked`` marks the lines that Table 1 gives and that must agree within 5 %.
    """
    rows = table1() if rows is None else rows
    lines = []

    def add(model, quantity, ours, theirs, diff, checked=True):
        lines.append(
            {
                "model": model,
                "quantity": quantity,
                "ours": ours,
                "paper": theirs,
                "diff": diff,
                "checked": checked,
            }
        )

    for row in rows:
        paper = PAPER_TABLE1[row.model]
        m = row.model
        add(m, "patch-stage depth n (blocks)", str(row.n), "-", float("nan"), False)
        add(
            m,
            "input patch",
            f"{row.input_patch[0]}x{row.input_patch[1]}",
            f"{paper.input_patch[0]}x{paper.input_patch[1]}",
            row.input_patch[0] / paper.input_patch[0] - 1,
        )
        add(
            m,
            "MAC overhead, patch stage",
            f"+{row.stage_mac_overhead:.1%}",
            f"+{paper.stage_mac_overhead:.0%}",
            (1 + row.stage_mac_overhead) / (1 + paper.stage_mac_overhead) - 1,
        )
        add(
            m,
            "MAC overhead, overall",
            f"+{row.mac_overhead:.1%}",
            f"+{paper.mac_overhead:.0%}",
            (1 + row.mac_overhead) / (1 + paper.mac_overhead) - 1,
        )
        add(
            m,
            "MACs, patch stage",
            f"{row.stage_macs / 1e6:.1f}M",
            f"{paper.stage_macs / 1e6:.0f}M",
            row.stage_macs / paper.stage_macs - 1,
        )
        add(
            m,
            "MACs, overall",
            f"{row.macs / 1e6:.1f}M",
            f"{paper.macs / 1e6:.0f}M",
            row.macs / paper.macs - 1,
        )
        add(
            m,
            "peak SRAM per-layer",
            f"{row.peak_per_layer_kb:.1f} kB",
            f"{paper.peak_per_layer_kb:.0f} kB",
            row.peak_per_layer_kb / paper.peak_per_layer_kb - 1,
        )
        add(
            m,
            "peak SRAM per-patch (input streamed)",
            f"{row.peak_per_patch_kb:.1f} kB",
            f"{paper.peak_per_patch_kb:.0f} kB",
            row.peak_per_patch_kb / paper.peak_per_patch_kb - 1,
        )
        add(
            m,
            "peak SRAM per-patch (input counted)",
            f"{row.peak_per_patch_counted_kb:.1f} kB",
            "-",
            float("nan"),
            False,
        )
        add(
            m,
            "exact MACs stage / overall (border patches unpadded)",
            f"{row.exact_stage_macs / 1e6:.1f}M (+{row.exact_stage_mac_overhead:.1%}) / "
            f"{row.exact_macs / 1e6:.1f}M (+{row.exact_mac_overhead:.1%})",
            "-",
            float("nan"),
            False,
        )
        add(
            m,
            "peak per-layer / per-patch, plain rules (no in-place)",
            f"{row.plain_peak_per_layer_kb:.1f} / {row.plain_peak_per_patch_kb:.1f} kB",
            "-",
            float("nan"),
            False,
        )
    return pd.DataFrame(lines)


def format_table1(rows: list[Table1Row] | None = None) -> str:
    table = table1_comparison(rows)
    shown = table.assign(diff=[("" if np.isnan(d) else f"{d:+.1%}") for d in table["diff"]]).drop(
        columns="checked"
    )
    return shown.to_string(index=False)
