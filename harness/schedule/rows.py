# SPDX-License-Identifier: Apache-2.0
"""Row-streamed plans: the first ``n`` layers run row by row over full-width stripes, nothing recomputed.

A row-streamed segment computes every tensor inside it one full-width row at a time, each row exactly
once. Each tensor the segment reads back (a conv's, depthwise conv's or pool's input, a residual
shortcut, the network input when it is streamed) is held as a *ring* of the rows its readers still need:
rows below the lowest row any reader will read again are dropped, so a 3x3 stride-1 window keeps 3 rows,
a 3x3 stride-2 window 3, a dilated 3x3 (dilation 2) 5; an inverted bottleneck's expanded tensor is never
held whole, only the rows its depthwise window spans. The segment output is held whole (the per-layer
rest of the graph reads it), as the patch stage's is.

The order of the rows is demand-driven ("pull"): for each row of the segment output in turn, every op
computes the rows of its output that the rows asked of it need, recursively, each as late as possible.
So a ring holds the window of its readers plus what a stride makes one step of them consume, never more.
``make_row_plan`` simulates that order once and records it as ``RowStep`` s: which op writes which row
(or which row of a streamed graph input is loaded), the input windows it reads with their border pads
(exactly the pads per-layer inference applies there: ``plan._input_needs``, the patch stage's geometry),
and where each ring's rows sit in its buffer at that step.

Rings are contiguous windows, so that every kernel reads its window as a dense region (no ring
addressing): a ring of ``capacity`` rows holds its live rows at positions ``row - origin``. Writing a row
that would fall past the end first *shifts* the live rows to the start of the buffer (a memmove of
``RowStep.shift`` rows; the origin becomes the lowest live row). ``capacity`` is the most rows alive at
once, so the buffer is as small as the schedule allows and a shift happens about once a row.

A segment may end with a *global* average pool (AVERAGE_POOL_2D whose window is the whole map, one
output pixel): it runs on every row of its input as that row arrives, adding the row into an int32
accumulator of its channels, and the last row divides by the count with TFLite's rounding, so the map
it pools (a classifier's wide 1x1 conv output) is never held whole, only the rows its step reads
(``RowPlan.accumulates``; ``accumulator_bytes``). A RESHAPE after it (the flatten before the classifier)
runs per layer after the segment. With ``chunk`` (``rows n=2 ch=160``) the conv feeding that pool runs
``chunk`` output channels per call (its filter, bias and requantization a slice of the op's): each row
step of the conv becomes one step per channel slice, each followed at once by the pool's step adding
that slice's rows into the slice's sums, so the conv's ring holds one slice's rows and its kernel the
scratch of one slice (the per-channel table of a 1280-channel classifier conv is 20 kB; RowStep.channels).

With ``strips`` (``rows n=3 strips=4``) the segment's output is split into that many column strips run
one after the other, each row by row over the columns it needs (plan.py's patch geometry, full height):
rings are as wide as the widest strip (the graph input's rows are loaded whole), every ring starts over
at each strip's first row, and the halo columns neighbouring strips share are computed by both (MACs
beyond per-layer inference's, ``RowPlan.stage_macs_run``): on a 144 x 144 MobileNetV2 the first blocks'
rings of 72-column rows shrink about four times for 1.6 % more MACs.

A segment's output may be written *over* a whole input it reads from outside (an earlier segment's or
layer's output that dies with it), row by row, when no row written lands on bytes of that input a later
step still reads (``RowPlan.overwrites``, proved from the steps by ``output_over_input``): a residual
block's ADD writes output row y where its shortcut's row y was, once the expand conv has read ahead; a
stride-2 block's smaller rows land on input rows consumed long before. So a boundary between two
row-streamed segments holds one whole map, not two.

Accounting: every ring is alive through the whole segment (it carries rows from one step to the next),
so the segment needs the sum of its rings, the whole segment output, and the network input (its ring
when streamed, the whole image when counted), besides the kernels' scratch (an input the output is
written over counts once, at the larger of the two); ``profile.profile`` and ``arena.plan_arena`` count
that. ``executor.run_rows`` runs the plan with real rings (a read of a row that
was dropped or shifted away fails) and is bit-exact with per-layer inference.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

import numpy as np

from harness.ir.geometry import Pads, activation_input_names, activation_inputs, hwc
from harness.ir.graph import Graph, Op, op_macs
from harness.ir.schedule_name import rows_label
from harness.schedule.plan import (
    ELEMENTWISE_OPS,
    Region,
    ScheduleError,
    _back_propagate,
    _check_boundary,
    _check_patchable,
    _input_needs,
    _macs_per_output_pixel,
    split_evenly,
)

MAX_GROUP = 16  # rows per step
MAX_STRIPS = 8  # column strips of a segment


@dataclass(frozen=True)
class RowStep:
    """One step of a row-streamed segment: one row of one tensor written (computed, or loaded)."""

    op: str | None  # the op computing the row; None: a row of a graph input loaded into its ring
    tensor: str  # the tensor the row belongs to
    row: int  # the first row written
    inputs: tuple[Region | None, ...]  # per op input: the window read (full width); None: constants
    pads: Pads | None  # window ops and PAD: the border padding inside this row's window
    # before the write: the ring's live rows moved to the start of its buffer, (from position, rows); the
    # ring's origin becomes the first moved row (rows == 0: nothing to move, the origin just jumps)
    shift: tuple[int, int] | None
    # ring origins (the row held at position 0) of the rings this step reads and writes, after its shift
    origins: Mapping[str, int]
    rows: int = 1  # rows written from ``row`` on (a segment of ``group`` rows per step)
    # the channel slice [c0, c1) of the output this step computes (the chunked conv and its pool), else None
    channels: tuple[int, int] | None = None
    strip: int = 0  # the column strip the step belongs to (``strips``; 0 for full-width rows)
    columns: tuple[int, int] | None = None  # the output columns it computes (None: the full width)


@dataclass(frozen=True)
class RowPlan:
    """A row-streamed schedule of one graph: its first ``n`` layers as one row-streamed segment, the rest
    per layer."""

    graph_name: str
    n: int
    stage_layers: tuple[str, ...]
    stage_ops: tuple[str, ...]
    stage_output: str
    stage_inputs: tuple[str, ...]  # what the segment reads from outside: graph inputs, an earlier output
    steps: tuple[RowStep, ...]
    capacity: Mapping[str, int]  # rows of each ring (segment tensors but its output, and its inputs)
    widths: Mapping[str, int]  # columns of each segment tensor
    macs_per_layer: int
    stage_macs_per_layer: int
    op_layer: Mapping[str, str] = field(repr=False)
    group: int = 1  # output rows an op computes per step (more rows per kernel call, larger rings)
    # the segment's last op when it is a global average pool run row by row into an accumulator, else None
    accumulates: str | None = None
    # the whole input (read from outside) the output may be written over row by row, else None: every row
    # written lands only on bytes of it no later step reads (output_over_input); whether it is written
    # over is the memory planner's choice (it must die with the segment)
    overwrites: str | None = None
    # output channels per call of the conv feeding the accumulating pool (``chunked``); 0: all at once
    chunk: int = 0
    chunked: str | None = None  # that conv (its output ring holds ``chunk`` channels)
    # column strips run one after the other (``strips``): per strip, the columns each tensor holds;
    # ``widths`` is then each ring's row (the widest strip's), the graph input's always its full width
    strips: int = 1
    strip_columns: tuple[Mapping[str, tuple[int, int]], ...] = ()
    stage_macs_run: int | None = None  # the segment's MACs as run (strips recompute their halo columns)
    op_macs_run: Mapping[str, int] = field(default_factory=dict, repr=False)

    kind = "rows"
    is_per_layer = False

    @property
    def label(self) -> str:
        return rows_label(self.n, self.group, self.chunk, self.strips)

    @property
    def macs(self) -> int:
        """Full-width rows recompute nothing: the per-layer MACs; strips add their halo columns'."""
        return self.macs_per_layer - self.stage_macs_per_layer + self.stage_macs_patched

    @property
    def stage_macs_patched(self) -> int:
        return self.stage_macs_per_layer if self.stage_macs_run is None else self.stage_macs_run

    @property
    def mac_overhead(self) -> float:
        return self.macs / self.macs_per_layer - 1.0 if self.macs_per_layer else 0.0

    @property
    def stage_mac_overhead(self) -> float:
        return self.stage_macs_patched / self.stage_macs_per_layer - 1.0 if self.stage_macs_per_layer else 0.0

    def columns(self, tensor: str, strip: int = 0) -> tuple[int, int]:
        """The columns of ``tensor`` its ring (or the output) holds in ``strip``."""
        if self.strip_columns and tensor in self.strip_columns[strip]:
            return self.strip_columns[strip][tensor]
        return 0, self.widths[tensor]

    def region(self, tensor: str, rows: tuple[int, int], strip: int = 0) -> Region:
        return Region(rows[0], rows[1], *self.columns(tensor, strip))

    def step_output(self, step: RowStep) -> Region:
        """The rows and columns of its tensor ``step`` writes."""
        return Region(step.row, step.row + step.rows, *(step.columns or (0, self.widths[step.tensor])))

    def ring_rows(self, tensor: str) -> int:
        return self.capacity[tensor]

    def ring_channels(self, graph: Graph, tensor: str) -> int:
        """Channels a ring holds: the chunked conv's output a slice's, any other tensor all of its own."""
        if self.chunked is not None and tensor == graph.op(self.chunked).outputs[0]:
            return self.chunk
        return hwc(graph.tensor(tensor).shape)[2]

    def ring_bytes(self, graph: Graph, tensor: str) -> int:
        """Bytes of the ring of ``tensor``: its capacity of full-width rows of ``ring_channels``."""
        itemsize = np.dtype(graph.tensor(tensor).dtype).itemsize
        return self.capacity[tensor] * self.widths[tensor] * self.ring_channels(graph, tensor) * itemsize

    def max_region(self, tensor: str) -> tuple[int, int]:
        """(rows, width) of the ring of ``tensor`` (what its buffer holds)."""
        if tensor not in self.capacity:
            raise ScheduleError(f"tensor {tensor!r} is not held as a ring of rows in this plan")
        return self.capacity[tensor], self.widths[tensor]

    def accumulator_bytes(self, graph: Graph) -> int:
        """Bytes of the global pool's int32 accumulator (one per channel), alive through the segment."""
        if self.accumulates is None:
            return 0
        return 4 * graph.tensor(self.stage_output).shape[-1]

    def op_steps(self, op: str) -> list[RowStep]:
        return [step for step in self.steps if step.op == op]

    def describe(self) -> str:
        return (
            f"{self.graph_name}: the first {self.n} layers row-streamed (segment output "
            f"{self.stage_output!r}, rings of {sum(self.capacity.values())} rows in all)"
        )


def make_row_plan(
    graph: Graph, n: int, start: int = 0, group: int = 1, chunk: int = 0, strips: int = 1
) -> RowPlan:
    """The plan that streams layers ``start .. start + n`` of ``graph`` row by row (module docstring);
    ``group``: output rows each op computes per step (1: one row; more: fewer kernel calls and ring
    shifts for rings that many rows larger); ``chunk``: output channels per call of the conv feeding the
    segment's global pool (0: all); ``strips``: the segment's output split into that many column strips,
    run one after the other, each row by row over the columns it needs (halo columns recomputed, rings
    a strip wide).

    Raises ScheduleError (naming the op or tensor) where the segment cannot run row by row: the same ops
    and boundary as a patch stage (plan.py), since both compute a region of each output from a window of
    its input.
    """
    layers = graph.layers
    if not 0 <= start < len(layers) or not 1 <= n <= len(layers) - start:
        unit = "blocks" if graph.blocks is not None else "ops"
        raise ScheduleError(
            f"graph {graph.name!r}: a row-streamed segment of n={n} layers from layer {start} does not fit "
            f"its {len(layers)} {unit}; n must be in 1..{len(layers) - start}"
        )
    stage = _without_trailing_flatten(graph, [op for layer in layers[start : start + n] for op in layer])
    op_layer = {
        op.name: name for name, layer in zip(graph.layer_names, graph.layers, strict=True) for op in layer
    }
    if not isinstance(group, int) or not 1 <= group <= MAX_GROUP:
        raise ScheduleError(f"rows per step g={group!r} is not supported; use an integer in 1..{MAX_GROUP}")
    if not isinstance(strips, int) or not 1 <= strips <= MAX_STRIPS:
        raise ScheduleError(
            f"column strips strips={strips!r} are not supported; use an integer in 1..{MAX_STRIPS}"
        )
    layers = tuple(graph.layer_names[start : start + n])
    return _row_plan(graph, n, stage, layers, op_layer, group, chunk, strips)


def is_global_pool(graph: Graph, op: Op) -> bool:
    """An AVERAGE_POOL_2D whose window covers its whole input map (no padding) into one output pixel."""
    if op.kind != "AVERAGE_POOL_2D":
        return False
    in_shape, out_shape = graph.tensor(op.inputs[0]).shape, graph.tensor(op.outputs[0]).shape
    if len(in_shape) != 4 or len(out_shape) != 4 or out_shape[1:3] != (1, 1):
        return False
    fh, fw = op.attrs["filter"]
    return fh == in_shape[1] and fw == in_shape[2]


def _without_trailing_flatten(graph: Graph, stage: list[Op]) -> list[Op]:
    """``stage`` less the RESHAPE ops that end it right after a global average pool (they run per layer)."""
    end = len(stage)
    while end > 1 and stage[end - 1].kind == "RESHAPE":
        end -= 1
    if end < len(stage) and is_global_pool(graph, stage[end - 1]):
        return stage[:end]
    return stage


def restage_rows(graph: Graph, plan: RowPlan) -> RowPlan:
    """``plan`` made again for a rewrite of its graph (PAD ops folded: fusion.fold_pads); the same stage
    ops where ``graph`` still has them, ``n`` and the layer names of the original schedule."""
    names = set(plan.stage_ops)
    stage = [op for op in graph.ops if op.name in names]
    return _row_plan(
        graph, plan.n, stage, plan.stage_layers, dict(plan.op_layer), plan.group, plan.chunk, plan.strips
    )


def _row_plan(
    graph: Graph,
    n: int,
    stage: list[Op],
    stage_layers: tuple[str, ...],
    op_layer: dict[str, str],
    group: int = 1,
    chunk: int = 0,
    strips: int = 1,
) -> RowPlan:
    accumulates = stage[-1].name if is_global_pool(graph, stage[-1]) else None
    for op in stage[:-1]:
        if is_global_pool(graph, op):
            raise ScheduleError(
                f"graph {graph.name!r}, op {op.name!r}: a global average pool runs row by row only as the "
                "last op of its segment; end the segment there"
            )
    _check_patchable(graph, stage[:-1] if accumulates else stage)
    stage_output = stage[-1].outputs[0]
    _check_boundary(graph, stage, stage_output)
    produced = {op.outputs[0] for op in stage}
    stage_inputs = tuple(
        dict.fromkeys(n for op in stage for n in activation_input_names(graph, op) if n not in produced)
    )
    width = {
        name: hwc(graph.tensor(name).shape)[1]
        for op in stage
        for name in [*activation_input_names(graph, op), *op.outputs]
    }
    if strips == 1:
        order = _pull_order(graph, stage, stage_output, width, group, accumulates)
        steps, capacity = _place_rows(graph, stage, stage_output, order)
        columns: list[dict[str, tuple[int, int]]] = []
    else:
        steps, capacity, columns, width = _strip_rows(
            graph, stage, stage_output, width, group, accumulates, strips
        )
    per_pixel = {op.name: _macs_per_output_pixel(graph, op) for op in stage}
    run_macs: dict[str, int] = {op.name: 0 for op in stage}
    for step in steps:
        if step.op is not None and step.op != accumulates:
            out = step.columns or (0, width[step.tensor])
            run_macs[step.op] += step.rows * (out[1] - out[0]) * per_pixel[step.op]
    if accumulates is not None:
        run_macs[accumulates] = op_macs(graph, graph.op(accumulates))
    chunked = _chunked_conv(graph, stage, accumulates, chunk)
    if chunked is not None:
        steps = _channel_slices(
            steps, chunked, accumulates, chunk, graph.tensor(chunked.outputs[0]).shape[-1]
        )
    return RowPlan(
        graph_name=graph.name,
        n=n,
        stage_layers=stage_layers,
        stage_ops=tuple(op.name for op in stage),
        stage_output=stage_output,
        stage_inputs=stage_inputs,
        steps=tuple(steps),
        capacity=MappingProxyType(capacity),
        widths=MappingProxyType(width),
        macs_per_layer=sum(op_macs(graph, op) for op in graph.ops),
        stage_macs_per_layer=sum(op_macs(graph, op) for op in stage),
        op_layer=MappingProxyType(op_layer),
        group=group,
        accumulates=accumulates,
        overwrites=None
        if accumulates or strips > 1  # (strips write an output row in parts: no row-by-row proof)
        else output_over_input(graph, steps, stage_output, stage_inputs),
        chunk=chunk if chunked is not None else 0,
        chunked=chunked.name if chunked is not None else None,
        strips=strips,
        strip_columns=tuple(MappingProxyType(c) for c in columns),
        stage_macs_run=sum(run_macs.values()),
        op_macs_run=MappingProxyType(run_macs),
    )


def _strip_rows(
    graph: Graph,
    stage: list[Op],
    stage_output: str,
    width: dict[str, int],
    group: int,
    accumulates: str | None,
    strips: int,
) -> tuple[list[RowStep], dict[str, int], list[dict[str, tuple[int, int]]], dict[str, int]]:
    """Steps, ring capacities, columns per strip and ring widths of a segment run as ``strips`` column
    strips one after the other: each strip's output columns (split evenly) back-propagated to the columns
    every tensor of the segment needs (plan.py's patch geometry, full height), then rows pulled over those
    columns. Rings are as deep as the deepest strip needs and as wide as the widest; the graph input's
    ring always holds whole rows (a row is loaded whole). Every ring restarts at each strip's first row."""
    if accumulates is not None:
        raise ScheduleError(
            f"graph {graph.name!r}: a segment ending in a global average pool runs full-width rows only; "
            "drop strips= or end the segment before the pool"
        )
    height, out_width = hwc(graph.tensor(stage_output).shape)[:2]
    bounds = split_evenly(out_width, strips)
    if min(b - a for a, b in zip(bounds, bounds[1:], strict=False)) < 1:
        raise ScheduleError(
            f"graph {graph.name!r}: {strips} column strips of the {out_width}-column map {stage_output!r} "
            "leave a strip empty; use fewer strips"
        )
    columns = []
    for a, b in zip(bounds, bounds[1:], strict=False):
        needed, _ = _back_propagate(graph, stage, stage_output, Region(0, height, a, b))
        columns.append(
            {
                name: (0, width[name]) if name in graph.inputs else (needed[name].x0, needed[name].x1)
                for name in width
                if name in needed
            }
        )
    orders = [_pull_order(graph, stage, stage_output, width, group, accumulates, cols) for cols in columns]
    capacity: dict[str, int] = {}
    for order in orders:
        for name, rows in _capacities(order, stage_output).items():
            capacity[name] = max(capacity.get(name, 1), rows)
    steps: list[RowStep] = []
    for index, order in enumerate(orders):
        placed, _ = _place_rows(graph, stage, stage_output, order, capacity, restart=index > 0)
        steps += [replace(step, strip=index) for step in placed]
    ring_width = {
        name: max(cols[name][1] - cols[name][0] for cols in columns if name in cols) for name in width
    }
    return steps, capacity, columns, ring_width


def output_over_input(
    graph: Graph, steps: list[RowStep], stage_output: str, stage_inputs: tuple[str, ...]
) -> str | None:
    """The first whole input of a segment (read from outside, not a graph input) that its output can be
    written over, both at one offset, row-major: at every step writing output rows, the bytes written lie
    below every byte of the input any later step reads, and the step's own reads of the input miss them,
    but for an elementwise op reading the very bytes it writes (an ADD's shortcut row: each element read
    before it is written, the in-place contract of harness/schedule/arena.py). None if no input can."""
    out = graph.tensor(stage_output)
    out_row = out.nbytes // out.shape[1]
    for name in stage_inputs:
        tensor = graph.tensor(name)
        if name in graph.inputs or len(tensor.shape) != 4 or tensor.dtype != out.dtype:
            continue
        in_row = tensor.nbytes // tensor.shape[1]
        reads = [
            [
                (need.y0 * in_row, need.y1 * in_row, need.width == hwc(tensor.shape)[1])
                for input_name, need in zip(graph.op(step.op).inputs, step.inputs, strict=False)
                if input_name == name and need is not None and not need.is_empty
            ]
            if step.op is not None
            else []
            for step in steps
        ]
        later = [np.iinfo(np.int64).max] * (len(steps) + 1)  # the lowest byte read after each step
        for index in range(len(steps) - 1, -1, -1):
            later[index] = min([later[index + 1], *(low for low, _, _ in reads[index])])
        if all(
            _writes_safely(graph, step, out_row, reads[index], later[index + 1], name, stage_output)
            for index, step in enumerate(steps)
            if step.tensor == stage_output
        ):
            return name
    return None


def _writes_safely(graph, step, out_row, reads, later, source, stage_output) -> bool:
    low, high = step.row * out_row, (step.row + step.rows) * out_row
    if high > later:
        return False
    elementwise = step.op is not None and graph.op(step.op).kind in ELEMENTWISE_OPS
    same_shape = graph.tensor(source).shape == graph.tensor(stage_output).shape
    return all(
        end <= low or start >= high or (elementwise and same_shape and whole and (start, end) == (low, high))
        for start, end, whole in reads
    )


def _chunked_conv(graph: Graph, stage: list[Op], accumulates: str | None, chunk: int) -> Op | None:
    """The conv run ``chunk`` output channels per call (None for chunk 0); ScheduleError where the segment
    cannot: no global pool ends it, the pool's input is not a CONV_2D of the segment read by the pool
    alone, or ``chunk`` does not divide its output channels into two or more slices."""
    if not chunk:
        return None
    where = f"graph {graph.name!r}: ch={chunk}"
    if not isinstance(chunk, int) or chunk < 1:
        raise ScheduleError(f"{where} is not supported; channels per call are a positive integer")
    if accumulates is None:
        raise ScheduleError(
            f"{where} needs a segment ending in a global average pool; drop ch= or end it there"
        )
    source = graph.op(accumulates).inputs[0]
    conv = next((op for op in stage if op.outputs[0] == source), None)
    if conv is None or conv.kind != "CONV_2D" or len(graph.consumers(source)) != 1:
        raise ScheduleError(
            f"{where}: the pool's input {source!r} is not a CONV_2D of the segment read by the pool alone; "
            "only such a conv runs a slice of its channels per call"
        )
    channels = graph.tensor(source).shape[-1]
    if channels % chunk or chunk >= channels:
        raise ScheduleError(
            f"{where}: {conv.name!r} has {channels} output channels; ch must divide them into two or more "
            "equal slices"
        )
    return conv


def _channel_slices(steps: list[RowStep], conv: Op, pool: str, chunk: int, channels: int) -> list[RowStep]:
    """``steps`` with each row step of ``conv`` (always right before the pool step that takes its rows)
    made one step per channel slice, each followed by the pool's step on that slice."""
    sliced: list[RowStep] = []
    index = 0
    while index < len(steps):
        step = steps[index]
        if step.op != conv.name:
            sliced.append(step)
            index += 1
            continue
        taken = steps[index + 1] if index + 1 < len(steps) else None
        if taken is None or taken.op != pool:
            raise ScheduleError(f"internal error: row step of {conv.name!r} not followed by its pool's step")
        for c0 in range(0, channels, chunk):
            shift = step.shift if c0 == 0 else None  # the ring moves once, before the first slice
            sliced.append(replace(step, shift=shift, channels=(c0, c0 + chunk)))
            sliced.append(replace(taken, channels=(c0, c0 + chunk)))
        index += 2
    return sliced


@dataclass(frozen=True)
class _Write:
    op: Op | None
    tensor: str
    row: int
    inputs: tuple[Region | None, ...]
    pads: Pads | None
    live_from: int  # the lowest row of ``tensor`` still needed when this row is written
    rows: int = 1
    columns: tuple[int, int] | None = None  # the columns written (a strip's; None: the full width)


def _pull_order(
    graph: Graph,
    stage: list[Op],
    stage_output: str,
    width: dict[str, int],
    group: int = 1,
    accumulates: str | None = None,
    columns: Mapping[str, tuple[int, int]] | None = None,
) -> list[_Write]:
    """Every row of every needed tensor, in the demand-driven order, with the live rows of its ring. The
    accumulating global pool (``accumulates``) takes its input ``group`` rows a step, each step writing
    (into the accumulator; the last one the output) output row 0. ``columns``: the columns of each tensor
    a strip computes (None: full width)."""
    cols = columns or {name: (0, w) for name, w in width.items()}
    producer = {op.outputs[0]: op for op in stage}
    height = {name: hwc(graph.tensor(name).shape)[0] for name in width}
    # windows[op][y]: the input windows (and pads) of output row y, full width
    windows: dict[str, list[tuple[list[Region | None], Pads | None]]] = {}
    for op in stage:
        out = op.outputs[0]
        if op.name == accumulates:
            continue
        if out not in cols:
            continue  # no column of it is needed by this strip
        windows[op.name] = [_input_needs(graph, op, Region(y, y + 1, *cols[out])) for y in range(height[out])]
    # readers[t]: (op, input position) of every stage op reading activation t
    readers: dict[str, list[tuple[Op, int]]] = {}
    for op in stage:
        for index in activation_inputs(graph, op):
            readers.setdefault(op.inputs[index], []).append((op, index))
    # lowest[op][index][y]: the lowest row of that input any of rows y.. of op reads (inf: none)
    never = np.iinfo(np.int64).max
    lowest: dict[tuple[str, int], np.ndarray] = {}
    pooled = 0  # input rows the accumulating pool has taken
    for op in stage:
        if op.name not in windows:
            continue
        rows = windows[op.name]
        for index in activation_inputs(graph, op):
            first = np.array(
                [never if (need := needs[index]) is None or need.is_empty else need.y0 for needs, _ in rows]
                + [never],
                np.int64,
            )
            lowest[(op.name, index)] = np.minimum.accumulate(first[::-1])[::-1]
    done = dict.fromkeys(width, 0)  # rows computed (or loaded) of each tensor

    def live_from(tensor: str) -> int:
        return int(
            min(
                (
                    pooled if op.name == accumulates else lowest[(op.name, index)][done[op.outputs[0]]]
                    for op, index in readers.get(tensor, [])
                    if op.name in windows or op.name == accumulates
                ),
                default=never,
            )
        )

    order: list[_Write] = []

    def ensure(tensor: str, rows: int) -> None:
        while done[tensor] < rows:
            y = done[tensor]
            op = producer.get(tensor)
            if op is None and tensor not in graph.inputs:
                return  # an earlier op's output, held whole before the segment starts
            if op is None:  # a graph input: its next row is loaded (whole)
                order.append(_Write(None, tensor, y, (), None, min(live_from(tensor), y)))
                done[tensor] += 1
                continue
            if op.name == accumulates:
                pool(op)
                continue
            count = min(group, height[tensor] - y)
            if count == 1:
                needs, pads = windows[op.name][y]
            else:
                needs, pads = _input_needs(graph, op, Region(y, y + count, *cols[tensor]))
            for index in activation_inputs(graph, op):
                need = needs[index]
                if need is not None and not need.is_empty:
                    ensure(op.inputs[index], need.y1)
            written = cols[tensor] if columns is not None else None
            order.append(_Write(op, tensor, y, tuple(needs), pads, min(live_from(tensor), y), count, written))
            done[tensor] += count

    def pool(op: Op) -> None:
        nonlocal pooled
        source = op.inputs[0]
        while pooled < height[source]:
            count = min(group, height[source] - pooled)
            ensure(source, pooled + count)
            window = Region(pooled, pooled + count, 0, width[source])
            # the rows below this step's window are dropped once it has taken them
            order.append(_Write(op, op.outputs[0], 0, (window,), (0, 0, 0, 0), 0, 1))
            pooled += count
        done[op.outputs[0]] = 1

    for y in range(height[stage_output]):
        ensure(stage_output, y + 1)
    return order


def _capacities(order: list[_Write], stage_output: str) -> dict[str, int]:
    """Rows of each ring: the most alive at once."""
    capacity: dict[str, int] = {}
    for write in order:
        if write.tensor != stage_output:
            capacity[write.tensor] = max(
                capacity.get(write.tensor, 1), write.row + write.rows - write.live_from
            )
    return capacity


def _place_rows(
    graph: Graph,
    stage: list[Op],
    stage_output: str,
    order: list[_Write],
    capacity: dict[str, int] | None = None,
    restart: bool = False,
) -> tuple[list[RowStep], dict[str, int]]:
    """Ring capacities (the most rows alive at once, unless given) and, per step, the shift and the ring
    origins. ``restart``: the rings hold rows of an earlier strip; each one's first write here starts it
    over (origin 0, nothing moved, whatever it held stale)."""
    capacity = _capacities(order, stage_output) if capacity is None else capacity
    origin = dict.fromkeys(capacity, 0)
    started: set[str] = set() if restart else set(capacity)
    steps = []
    for write in order:
        shift = None
        if write.tensor in capacity and write.tensor not in started:
            started.add(write.tensor)
            shift = (0, 0)
            origin[write.tensor] = 0
        elif (
            write.tensor in capacity
            and write.row + write.rows - origin[write.tensor] > capacity[write.tensor]
        ):
            shift = (write.live_from - origin[write.tensor], write.row - write.live_from)
            origin[write.tensor] = write.live_from
        touched = [write.tensor] + [
            name
            for name, need in zip(write.op.inputs if write.op else (), write.inputs, strict=False)
            if need
        ]
        steps.append(
            RowStep(
                op=write.op.name if write.op else None,
                tensor=write.tensor,
                row=write.row,
                inputs=write.inputs,
                pads=write.pads,
                shift=shift,
                origins=MappingProxyType({name: origin[name] for name in touched if name in origin}),
                rows=write.rows,
                columns=write.columns,
            )
        )
    return steps, capacity
