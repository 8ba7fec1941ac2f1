# SPDX-License-Identifier: Apache-2.0
"""Patch plans: which ops run patch by patch, and the exact region every patch computes.

A patch plan splits a graph into a *patch stage* (its first ``n`` layers, run once per patch of a
``p x p`` grid over the stage output) and a per-layer rest. ``n`` counts ``Graph.layers``: blocks
when the graph has blocks (the zoo's MobileNetV2 and friends), single ops otherwise (imported
.tflite models). ``p = 1`` is plain per-layer inference: no patch stage, ``n`` is recorded as 0.

For every patch the plan records, for each tensor the stage touches, the region ``[y0, y1) x [x0, x1)``
that the patch must compute (or read, for the graph input), and for each op the regions it reads and
the border padding ``(top, bottom, left, right)`` that falls outside the image for that patch. Padding
is applied exactly where per-layer inference applies it: a patch in the middle of the map reads real
neighbouring pixels instead, which is what makes the patch schedule bit-exact with per-layer inference.

The regions come from back-propagating each output patch through the stage in reverse order. A tensor
read by several ops (the shortcut of a residual block, say) gets the bounding box of everything its
readers need, so both operands of an ADD are computed over the same, aligned region.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from harness.ir import opdefs, slicing
from harness.ir.geometry import (
    Pads,
    activation_input_names,
    activation_inputs,
    input_window,
    pad_input_window,
    tile_input_window,
)
from harness.ir.graph import Graph, Op, op_macs
from harness.ir.opdefs import kinds
from harness.ir.schedule_name import schedule_label

MAX_PATCHES_PER_SIDE = 8

# What may be in the patch stage, by each op's definition (harness/ir/opdefs.py, OpDef.patch):
# ops that compute each output pixel from a bounded input window, so that a region of the output
# depends on a region of the input only;
WINDOW_OPS = kinds(patch=opdefs.PATCH_WINDOW)
ELEMENTWISE_OPS = kinds(patch=opdefs.PATCH_ELEMENTWISE)
# resizes and block rearrangements: a tile of the output reads one window of the input, by the op's own
# index rule (geometry.tile_input_window);
TILE_OPS = kinds(patch=opdefs.PATCH_TILE)
PAD_OPS = kinds(patch=opdefs.PATCH_PAD)
SLICE_OPS = kinds(patch=opdefs.PATCH_SLICE)  # 4-D slices that keep every axis (slicing.is_local_slice)
PATCHABLE_OPS = tuple(kind for kind, d in opdefs.OP_DEFS.items() if d.patch is not None)


class ScheduleError(ValueError):
    """A schedule that cannot be made correct; the message names the op or tensor and what to do."""


@dataclass(frozen=True, order=True)
class Region:
    """Rows [y0, y1) and columns [x0, x1) of a feature map. May be empty (a PAD reading only padding)."""

    y0: int
    y1: int
    x0: int
    x1: int

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def area(self) -> int:
        return self.height * self.width

    @property
    def is_empty(self) -> bool:
        return self.height <= 0 or self.width <= 0

    def union(self, other: Region | None) -> Region:
        """The bounding box of both (an empty region adds nothing)."""
        if other is None or other.is_empty:
            return self
        if self.is_empty:
            return other
        return Region(
            min(self.y0, other.y0), max(self.y1, other.y1), min(self.x0, other.x0), max(self.x1, other.x1)
        )

    def contains(self, other: Region) -> bool:
        if other.is_empty:
            return True
        return self.y0 <= other.y0 and other.y1 <= self.y1 and self.x0 <= other.x0 and other.x1 <= self.x1

    def relative_to(self, outer: Region) -> tuple[slice, slice]:
        """(rows, cols) slices that cut this region out of a buffer holding ``outer``."""
        return (
            slice(self.y0 - outer.y0, self.y1 - outer.y0),
            slice(self.x0 - outer.x0, self.x1 - outer.x0),
        )

    def __str__(self) -> str:
        return f"[{self.y0}:{self.y1}, {self.x0}:{self.x1}]"


@dataclass(frozen=True)
class OpStep:
    """One op of the patch stage, as run for one patch."""

    op: str
    output: Region  # the part of the op's output this patch computes
    inputs: tuple[Region | None, ...]  # per op input: the region read; None for constants / absent inputs
    pads: Pads | None  # window ops and PAD: the image-border padding inside this patch's window
    channels: tuple[int, int] | None = None  # a row step on a slice of the output channels (rows.py ch=)


@dataclass(frozen=True)
class Patch:
    row: int
    col: int
    output: Region  # this patch's share of the stage output; the shares tile it exactly
    tensors: Mapping[str, Region]  # every tensor the patch computes (or reads, for graph inputs)
    steps: tuple[OpStep, ...]  # ops in execution order; ops this patch does not need are absent
    macs: int


@dataclass(frozen=True)
class PatchPlan:
    """A (p, n) schedule of one graph. ``p == 1`` is per-layer inference (no patch stage)."""

    graph_name: str
    p: int
    n: int
    stage_layers: tuple[str, ...]  # the first n layer names (blocks or ops)
    stage_ops: tuple[str, ...]
    stage_output: str | None  # the only tensor that lives across the stage boundary
    stage_inputs: tuple[str, ...]  # graph inputs that the stage reads
    row_bounds: tuple[int, ...]  # p + 1 split points of the stage output's height
    col_bounds: tuple[int, ...]
    patches: tuple[Patch, ...]
    macs_per_layer: int  # the whole graph, per-layer
    stage_macs_per_layer: int  # the stage's ops, per-layer
    stage_macs_patched: int  # the stage's ops summed over all patches (recomputation included)
    # The same if every patch were computed at the size of the largest one, border patches padded up
    # to it: how TinyEngine runs patches and how the paper's Table 1 counts them.
    stage_macs_uniform: int
    op_layer: Mapping[str, str] = field(repr=False)  # op name -> layer name

    @property
    def is_per_layer(self) -> bool:
        return self.p == 1

    @property
    def label(self) -> str:
        """``per-layer`` or ``p=4 n=5`` (harness/ir/schedule_name.py)."""
        return schedule_label(self.p, self.n)

    @property
    def macs(self) -> int:
        """MACs of the whole graph under this schedule."""
        return self.macs_per_layer - self.stage_macs_per_layer + self.stage_macs_patched

    @property
    def stage_mac_overhead(self) -> float:
        """Recomputation of the patch stage relative to per-layer (0.42 = +42 %)."""
        if self.stage_macs_per_layer == 0:
            return 0.0
        return self.stage_macs_patched / self.stage_macs_per_layer - 1.0

    @property
    def mac_overhead(self) -> float:
        """Recomputation relative to per-layer inference of the whole graph."""
        if self.macs_per_layer == 0:
            return 0.0
        return self.macs / self.macs_per_layer - 1.0

    @property
    def macs_uniform(self) -> int:
        """Whole-graph MACs with equal-size (padded) patches, the paper's count."""
        return self.macs_per_layer - self.stage_macs_per_layer + self.stage_macs_uniform

    @property
    def stage_mac_overhead_uniform(self) -> float:
        if self.stage_macs_per_layer == 0:
            return 0.0
        return self.stage_macs_uniform / self.stage_macs_per_layer - 1.0

    @property
    def mac_overhead_uniform(self) -> float:
        if self.macs_per_layer == 0:
            return 0.0
        return self.macs_uniform / self.macs_per_layer - 1.0

    def max_region(self, tensor: str) -> tuple[int, int]:
        """(height, width) of the largest region of ``tensor`` over all patches (the buffer it needs)."""
        regions = [patch.tensors[tensor] for patch in self.patches if tensor in patch.tensors]
        if not regions:
            raise ScheduleError(f"tensor {tensor!r} is not computed patch-wise in this plan")
        return max(r.height for r in regions), max(r.width for r in regions)

    def max_region_area(self, tensor: str) -> int:
        """Largest number of pixels of ``tensor`` any one patch holds."""
        return max(
            (patch.tensors[tensor].area for patch in self.patches if tensor in patch.tensors), default=0
        )

    def input_patch_shape(self) -> tuple[int, int]:
        """(height, width) of the largest input-image region a patch reads (the paper's "input patch")."""
        if self.is_per_layer:
            raise ScheduleError("a per-layer plan (p = 1) has no input patch")
        if not self.stage_inputs:
            raise ScheduleError("the patch stage reads no graph input")
        return self.max_region(self.stage_inputs[0])

    def describe(self) -> str:
        if self.is_per_layer:
            return f"{self.graph_name}: per-layer"
        return (
            f"{self.graph_name}: {self.p}x{self.p} patches over the first {self.n} layers "
            f"(stage output {self.stage_output!r})"
        )


def split_evenly(size: int, parts: int) -> tuple[int, ...]:
    """``parts + 1`` split points of ``range(size)``: sizes differ by at most 1, larger ones first.

    20 in 3 parts -> (0, 7, 14, 20): patches of 7, 7 and 6 that cover every row.
    """
    base, extra = divmod(size, parts)
    bounds = [0]
    for index in range(parts):
        bounds.append(bounds[-1] + base + (1 if index < extra else 0))
    return tuple(bounds)


def stage_ops_of(graph: Graph, n: int) -> list[Op]:
    """The ops of the first n layers (blocks where the graph has them, else ops)."""
    layers = graph.layers
    if not 1 <= n <= len(layers):
        unit = "blocks" if graph.blocks is not None else "ops"
        raise ScheduleError(
            f"graph {graph.name!r}: patch-stage depth n={n} is out of range; it has {len(layers)} {unit}, "
            f"so n must be in 1..{len(layers)}"
        )
    return [op for layer in layers[:n] for op in layer]


def make_plan(graph: Graph, p: int, n: int) -> PatchPlan:
    """The patch plan that runs the first ``n`` layers of ``graph`` on a ``p x p`` grid of patches.

    Raises ScheduleError (naming the op, tensor or number at fault) when the schedule cannot be made
    bit-exact with per-layer inference.
    """
    if not isinstance(p, int) or not 1 <= p <= MAX_PATCHES_PER_SIDE:
        raise ScheduleError(
            f"patches per side p={p!r} is not supported; use an integer in 1..{MAX_PATCHES_PER_SIDE}"
        )
    op_layer = {
        op.name: name for name, layer in zip(graph.layer_names, graph.layers, strict=True) for op in layer
    }
    macs_per_layer = sum(op_macs(graph, op) for op in graph.ops)
    if p == 1:
        return PatchPlan(
            graph_name=graph.name,
            p=1,
            n=0,
            stage_layers=(),
            stage_ops=(),
            stage_output=None,
            stage_inputs=(),
            row_bounds=(),
            col_bounds=(),
            patches=(),
            macs_per_layer=macs_per_layer,
            stage_macs_per_layer=0,
            stage_macs_patched=0,
            stage_macs_uniform=0,
            op_layer=MappingProxyType(op_layer),
        )

    stage = stage_ops_of(graph, n)
    return _patch_plan(graph, p, n, stage, tuple(graph.layer_names[:n]), op_layer)


def restage(graph: Graph, plan: PatchPlan) -> PatchPlan:
    """``plan``'s schedule (p, n, the same stage ops where ``graph`` still has them) made again for
    ``graph``: a rewrite of the graph the plan was made for (harness/schedule/fusion.py folds PAD ops
    into their readers). Regions and pads come from the one geometry again, so they are exact for the
    rewritten ops; ``n`` and the layer names stay those of the original schedule."""
    if plan.is_per_layer:
        return replace(plan, macs_per_layer=sum(op_macs(graph, op) for op in graph.ops))
    stage_names = set(plan.stage_ops)
    stage = [op for op in graph.ops if op.name in stage_names]
    return _patch_plan(graph, plan.p, plan.n, stage, plan.stage_layers, dict(plan.op_layer))


def _patch_plan(
    graph: Graph, p: int, n: int, stage: list[Op], stage_layers: tuple[str, ...], op_layer: dict[str, str]
) -> PatchPlan:
    macs_per_layer = sum(op_macs(graph, op) for op in graph.ops)
    _check_patchable(graph, stage)
    stage_output = stage[-1].outputs[0]
    stage_inputs = _check_boundary(graph, stage, stage_output)
    out_shape = graph.tensor(stage_output).shape
    _, height, width, _ = out_shape
    if p > height or p > width:
        raise ScheduleError(
            f"graph {graph.name!r}: p={p} patches per side do not fit the {height}x{width} stage output "
            f"{stage_output!r} (every patch needs at least one pixel); use p <= {min(height, width)} or a smaller n"
        )

    rows = split_evenly(height, p)
    cols = split_evenly(width, p)
    per_pixel = {op.name: _macs_per_output_pixel(graph, op) for op in stage}
    patches = []
    for i in range(p):
        for j in range(p):
            target = Region(rows[i], rows[i + 1], cols[j], cols[j + 1])
            tensors, steps = _back_propagate(graph, stage, stage_output, target)
            macs = sum(step.output.area * per_pixel[step.op] for step in steps)
            patches.append(
                Patch(row=i, col=j, output=target, tensors=MappingProxyType(tensors), steps=steps, macs=macs)
            )
    _check_coverage(patches, height, width, stage_output)

    return PatchPlan(
        graph_name=graph.name,
        p=p,
        n=n,
        stage_layers=stage_layers,
        stage_ops=tuple(op.name for op in stage),
        stage_output=stage_output,
        stage_inputs=tuple(stage_inputs),
        row_bounds=rows,
        col_bounds=cols,
        patches=tuple(patches),
        macs_per_layer=macs_per_layer,
        stage_macs_per_layer=sum(op_macs(graph, op) for op in stage),
        stage_macs_patched=sum(patch.macs for patch in patches),
        stage_macs_uniform=_uniform_patch_macs(stage, patches, per_pixel),
        op_layer=MappingProxyType(op_layer),
    )


# --- checks ------------------------------------------------------------------------------------------


def _check_patchable(graph: Graph, stage: list[Op]) -> None:
    for op in stage:
        where = f"graph {graph.name!r}, op {op.name!r} ({op.kind})"
        if op.kind not in PATCHABLE_OPS:
            raise ScheduleError(
                f"{where} cannot run patch by patch (its output pixels depend on the whole map, or it "
                f"changes the layout); end the patch stage before it (a smaller n)"
            )
        for name in [*activation_input_names(graph, op), *op.outputs]:
            shape = graph.tensor(name).shape
            if len(shape) != 4 or shape[0] != 1:
                raise ScheduleError(
                    f"{where}: tensor {name!r} has shape {shape}; the patch stage needs 4-D NHWC activations "
                    "with batch 1"
                )
        if op.kind in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
            _, in_h, in_w, _ = graph.tensor(op.inputs[0]).shape
            fh, fw = op.attrs["filter"]
            if fh >= in_h and fw >= in_w:
                raise ScheduleError(
                    f"{where}: the {fh}x{fw} pooling window covers the whole {in_h}x{in_w} map (a global "
                    "pool); end the patch stage before it"
                )
        if op.kind == "CONCATENATION" and op.attrs.get("axis", -1) % 4 != 3:
            raise ScheduleError(
                f"{where}: concatenation along axis {op.attrs.get('axis')} is not along channels; only channel "
                "concatenation can run patch by patch"
            )
        if op.kind in PAD_OPS:
            paddings = graph.tensor(op.inputs[1]).data
            if paddings[0].any():
                raise ScheduleError(f"{where}: padding along the batch axis cannot run patch by patch")
        if op.kind in SLICE_OPS and not slicing.is_local_slice(graph, op):
            raise ScheduleError(
                f"{where} drops an axis or cuts the batch, so its output is not a map of its input's pixels; "
                "end the patch stage before it"
            )
        if op.kind in ELEMENTWISE_OPS:
            _, out_h, out_w, _ = graph.tensor(op.outputs[0]).shape
            for name in activation_input_names(graph, op):
                _, h, w, _ = graph.tensor(name).shape
                if h not in (out_h, 1) or w not in (out_w, 1):
                    raise ScheduleError(
                        f"{where}: operand {name!r} is {h}x{w} but the output is {out_h}x{out_w}; only operands "
                        "of the output's size or of size 1 along rows or columns (broadcast) run patch by patch"
                    )


def _check_boundary(graph: Graph, stage: list[Op], stage_output: str) -> list[str]:
    """The stage output must be the only tensor alive across the stage boundary; returns the stage's inputs."""
    stage_names = {op.name for op in stage}
    produced = {name for op in stage for name in op.outputs}
    read = {name for op in stage for name in activation_input_names(graph, op)}
    after = [op for op in graph.ops if op.name not in stage_names]
    for name in sorted((produced | read) - {stage_output}):
        users = [op.name for op in after if name in op.inputs]
        if users or name in graph.outputs:
            used_by = f"op {users[0]!r}" if users else "the graph's outputs"
            raise ScheduleError(
                f"graph {graph.name!r}: tensor {name!r} is used after the patch stage (by {used_by}), but only "
                f"the stage output {stage_output!r} may cross the stage boundary; choose an n whose last "
                "layer ends every branch"
            )
    if stage_output in read:
        raise ScheduleError(
            f"graph {graph.name!r}: the stage output {stage_output!r} is read inside the stage"
        )
    return [name for name in graph.inputs if name in read]


def _check_coverage(patches: list[Patch], height: int, width: int, stage_output: str) -> None:
    """Patches must tile the stage output exactly: no pixel missed, none written twice."""
    covered = sum(patch.output.area for patch in patches)
    whole = Region(0, height, 0, width)
    if covered != height * width or not all(whole.contains(patch.output) for patch in patches):
        raise ScheduleError(f"internal error: patches do not tile the stage output {stage_output!r} exactly")


# --- region back-propagation --------------------------------------------------------------------------


def _back_propagate(
    graph: Graph, stage: list[Op], stage_output: str, target: Region
) -> tuple[dict[str, Region], tuple[OpStep, ...]]:
    needed: dict[str, Region] = {stage_output: target}
    steps: list[OpStep] = []
    for op in reversed(stage):
        out_region = needed.get(op.outputs[0])
        if out_region is None or out_region.is_empty:
            continue  # nothing downstream of this op needs it for this patch
        inputs, pads = _input_needs(graph, op, out_region)
        for name, region in zip(op.inputs, inputs, strict=True):
            if region is not None and not region.is_empty:
                needed[name] = region.union(needed.get(name))
        steps.append(OpStep(op=op.name, output=out_region, inputs=tuple(inputs), pads=pads))
    return needed, tuple(reversed(steps))


def _input_needs(graph: Graph, op: Op, out: Region) -> tuple[list[Region | None], Pads | None]:
    """The region of each input that ``op`` reads to compute ``out``, and the border pads in its window."""
    if op.kind in WINDOW_OPS or op.kind in PAD_OPS:
        window = input_window if op.kind in WINDOW_OPS else pad_input_window
        (y0, y1), (x0, x1), pads = window(graph, op, (out.y0, out.y1), (out.x0, out.x1))
        needs: list[Region | None] = [Region(y0, y1, x0, x1)] + [None] * (len(op.inputs) - 1)
        return needs, pads
    if op.kind in SLICE_OPS:  # rows and columns at an offset and a stride
        (y0, y1), (x0, x1) = slicing.slice_input_window(
            slicing.op_box(graph, op), (out.y0, out.y1), (out.x0, out.x1)
        )
        return [Region(y0, y1, x0, x1)] + [None] * (len(op.inputs) - 1), None
    if op.kind in TILE_OPS:
        (y0, y1), (x0, x1) = tile_input_window(graph, op, (out.y0, out.y1), (out.x0, out.x1))
        tile_needs: list[Region | None] = [None] * len(op.inputs)
        tile_needs[activation_inputs(graph, op)[0]] = Region(y0, y1, x0, x1)
        return tile_needs, None
    # Elementwise ops and channel concatenation read the same pixels they write; an
    # operand of one row (column) is read at row (column) 0 for every output row (column).
    needs = [None] * len(op.inputs)
    for index in activation_inputs(graph, op):
        _, h, w, _ = graph.tensor(op.inputs[index]).shape
        rows = (0, 1) if h == 1 else (out.y0, out.y1)
        cols = (0, 1) if w == 1 else (out.x0, out.x1)
        needs[index] = Region(*rows, *cols)
    return needs, None


def _uniform_patch_macs(stage: list[Op], patches: list[Patch], per_pixel: dict[str, int]) -> int:
    """MACs if every patch computed each op over the largest region any patch computes."""
    largest: dict[str, tuple[int, int]] = {}
    for patch in patches:
        for step in patch.steps:
            height, width = largest.get(step.op, (0, 0))
            largest[step.op] = (max(height, step.output.height), max(width, step.output.width))
    return sum(len(patches) * h * w * per_pixel[name] for name, (h, w) in largest.items())


def _macs_per_output_pixel(graph: Graph, op: Op) -> int:
    macs = op_macs(graph, op)
    if macs == 0:
        return 0
    _, h, w, _ = graph.tensor(op.outputs[0]).shape
    return macs // (h * w)
