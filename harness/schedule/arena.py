# SPDX-License-Identifier: Apache-2.0
"""The arena planner: one SRAM arena for every activation buffer of a schedule, with exact offsets.

Buffers and lifetimes. The schedule is a list of *steps*: per-layer, one step per op; with a patch
stage, the stage's ops are steps 0..S-1 (run once per patch, with the same buffers every time) and the
per-layer ops follow. Each buffer lives from the step that writes it first to the step that reads it
last (graph outputs: to the end). Kinds:

- ``activation``: a full-size tensor of the per-layer part;
- ``patch``: a tensor inside the patch stage, sized to its largest region over all patches;
- ``stage_output``: the full-size stage output, alive from the first patch to its last reader;
- ``input``: the network input. *counted*: the whole image, alive through the whole patch stage (every
  patch reads it). *streamed* (p > 1 only): a ``patch`` buffer holding the patch's input region, which
  the application fills per patch; per-layer inference reads the whole image, so there it is counted;
- ``scratch``: what a kernel needs besides its input and output, alive for its one step;
- ``rows``: a ring of rows of a row-streamed segment (harness/schedule/rows.py): its planned capacity of
  full-width rows, alive through the whole segment (it carries rows from one row step to the next). A
  streamed network input read by a row-streamed segment is such a ring too. The segment's output is an
  ``activation`` alive from the segment's first step (it fills row by row); what the segment reads from
  outside stays alive to its last step. Nothing inside a row-streamed segment runs in place, but its
  output may be written over the whole input it consumes (``RowPlan.overwrites``: no row lands on bytes
  a later step reads) when that input dies with the segment (``InplacePolicy.segment_output``): both at
  one offset, the output's buffer marked ``overwrites_rows`` (alive together, written behind the reads).

Plans of several segments (segments.StagedPlan) and row-streamed plans have one step per op in graph
order (a segment's ops once, as the patch stage's): a patch stage first is planned as above, row-streamed
segments as said, every other op per layer.

In-place execution (``InplacePolicy``), only where it is provably safe for a kernel that honours the
contract below, and only when the overwritten input dies at that op (not a graph output, not the stage
output, not a counted image that later patches still read):

- elementwise ops (ADD, MUL, int8 QUANTIZE, and the activations of UNARY_KINDS: a table lookup per
  element) may write over an operand of the output's exact shape and element size. An activation after a
  conv so runs as the conv's epilogue as far as memory goes: the conv's output buffer becomes the
  activation's, and the two never hold separate copies. Contract: element i is written after everything that element i depends on was read,
  and nothing reads position i afterwards (true of every elementwise loop, TFLite's reference included).
- DEPTHWISE_CONV_2D may write over its input (Cin == Cout; output pixel q lands where input pixel q was).
  The in-place kernels (pb_depthwise_conv2d_s8_inplace) follow ``depthwise_inplace_schedule``: per group
  of four channels, output rows in order, each written straight to its place when every output row that
  reads the input under it came first, else held in a small ring of delayed output rows until it is
  free (stride 1, 3x3: a ring of 2 rows of out_w x 4 bytes). The planner adds the schedule and ring
  bytes to the op's scratch. ``depthwise="row_buffered"`` (the default) runs every depthwise conv in
  place that way; ``"rowmajor"`` only those that need no delayed rows in a pixel-by-pixel row-major
  kernel (``depthwise_rows_to_buffer`` = 0: the usual stride-2 convs, not stride 1).

Scratch per op comes from a ``ScratchFn`` (a parameter, so that code generation supplies its kernels'
real figures): ``reference_scratch`` (0: the plain reference kernels need none) and ``cmsis_nn_scratch``
(CMSIS-NN's DSP kernels, from its ``*_get_buffer_size`` functions) are given.

Placement: each buffer in turn goes to the lowest aligned offset that no time-overlapping buffer
occupies. ``greedy`` takes them largest first (TFLite Micro's GreedyMemoryPlanner order); ``linear`` in
order of first use; ``best`` (the default) tries several orders (size, first use, lifetime, size x
lifetime), with and without the in-place options, and keeps the smallest arena; ``no_reuse`` gives every buffer its own bytes (a baseline).
``arena_bytes`` is the exact size the firmware allocates (offsets and the total are multiples of the
alignment).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from harness.ir.geometry import (
    WINDOW_KINDS,
    Pads,
    activation_input_names,
    activation_inputs,
    hwc,
    kernel_size,
    last_covering_output,
    op_pads,
)
from harness.ir.graph import UNARY_KINDS, Graph, Op
from harness.schedule.fusion import epilogue_chunk_shape, residual_epilogues
from harness.schedule.plan import PatchPlan, ScheduleError, make_plan
from harness.schedule.profile import InputMode, _check_mode
from harness.schedule.rows import RowPlan
from harness.schedule.segments import StagedPlan

INPLACE_ELEMENTWISE_KINDS = ("ADD", "MUL", "QUANTIZE", *UNARY_KINDS)
BufferKind = Literal["activation", "patch", "stage_output", "input", "scratch", "rows"]
PLANNERS = ("best", "greedy", "linear", "no_reuse")


@dataclass(frozen=True)
class KernelShapes:
    """What one op's kernel sees in one run: (H, W, C) of its first input and its output, and its pads."""

    input_shape: tuple[int, int, int]
    output_shape: tuple[int, int, int]
    pads: Pads
    in_place: bool


ScratchFn = Callable[[Graph, Op, KernelShapes], int]


def reference_scratch(graph: Graph, op: Op, shapes: KernelShapes) -> int:
    """The plain reference kernels (TFLite Micro's loops) need no scratch for any op."""
    return 0


def cmsis_nn_scratch(graph: Graph, op: Op, shapes: KernelShapes) -> int:
    """CMSIS-NN s8 kernels with the DSP extension (Cortex-M4/M7), after its ``*_get_buffer_size``:

    - CONV_2D 1x1, stride 1, no padding (``arm_convolve_1x1_s8_fast``): 0;
    - other CONV_2D (``arm_convolve_s8``, partial im2col of two columns in int16): 2 * Cin * KH * KW * 2;
    - DEPTHWISE_CONV_2D 3x3 with pads <= 1 (``arm_depthwise_conv_3x3_s8``): 0; otherwise
      (``arm_depthwise_conv_s8_opt``): C * KH * KW * 2;
    - AVERAGE_POOL_2D (``arm_avgpool_s8``): C * 4; everything else 0.

    An approximation to be replaced by the code generator's real figures (pass its own ScratchFn).
    """
    kh, kw = kernel_size(graph, op)
    cin = shapes.input_shape[2]
    if op.kind == "CONV_2D":
        if (kh, kw) == (1, 1) and tuple(op.attrs.get("stride", (1, 1))) == (1, 1) and not any(shapes.pads):
            return 0
        return 2 * cin * kh * kw * 2
    if op.kind == "DEPTHWISE_CONV_2D":
        if (kh, kw) == (3, 3) and max(shapes.pads) <= 1:
            return 0
        return cin * kh * kw * 2
    if op.kind == "AVERAGE_POOL_2D":
        return cin * 4
    return 0


@dataclass(frozen=True)
class InplacePolicy:
    elementwise: bool = True
    depthwise: Literal["off", "rowmajor", "row_buffered"] = "rowmajor"
    # depthwise ops kept out of place (the "best" planner's choice for ops away from the peak)
    depthwise_out_of_place: frozenset[str] = frozenset()
    # residual ADDs run as the epilogue of the 1x1 conv producing an operand (harness/schedule/fusion.py)
    residual_add: bool = True
    # ... and inside the patch stage too (the ADD written into the shortcut's window: stage_layout_source).
    # A fused ADD's windowed output is planned at its shortcut buffer's full size while it lives (two fused
    # residual blocks in a row ending the stage: tests/schedule/test_fusion_residual_stage.py)
    residual_add_in_stage: bool = True
    # a row-streamed segment's output written over the whole input it consumes (rows.RowPlan.overwrites)
    segment_output: bool = True
    # PAD ops folded into the conv / max pool reading them (fusion.fold_pads): a rewrite of the graph and
    # plan that the caller applies before planning (the code generator, the search, the CLI); plan_arena
    # plans whatever graph it is given
    fold_pads: bool = True


ROWMAJOR_INPLACE = InplacePolicy()
NO_INPLACE = InplacePolicy(
    elementwise=False,
    depthwise="off",
    residual_add=False,
    residual_add_in_stage=False,
    fold_pads=False,
    segment_output=False,
)
ROW_BUFFERED_INPLACE = InplacePolicy(elementwise=True, depthwise="row_buffered")
DEFAULT_INPLACE = ROW_BUFFERED_INPLACE
INPLACE_POLICIES = {"rowmajor": ROWMAJOR_INPLACE, "row_buffered": ROW_BUFFERED_INPLACE, "off": NO_INPLACE}


@dataclass(frozen=True)
class ArenaBuffer:
    name: str  # the tensor's name, or "scratch:<op>"
    kind: BufferKind
    offset: int
    size: int  # bytes the kernels touch (the offset is aligned; the size is not rounded)
    first: int  # first step alive
    last: int  # last step alive
    writes_over: str | None = None  # in-place: the tensor whose buffer this one reuses
    # written over ``writes_over`` row by row while that is still read: a row-streamed segment's output
    # over the input it consumes (rows.RowPlan.overwrites proves the order); alive together, not handed off
    overwrites_rows: bool = False


@dataclass(frozen=True)
class ArenaPlan:
    graph_name: str
    p: int  # a (p, n) schedule's; 0 for plans of other segments (their label: ``schedule``)
    n: int
    input_mode: InputMode
    planner: str
    alignment: int
    steps: tuple[str, ...]  # op name of each step (the patch stage's ops once)
    buffers: tuple[ArenaBuffer, ...]
    arena_bytes: int  # what the firmware allocates
    # (conv, ADD) pairs run as one step: the conv's output buffer is only a chunk (fusion.py)
    epilogues: tuple[tuple[str, str], ...] = ()
    schedule: str = ""  # the plan's label (harness/ir/schedule_name.py)

    def epilogue_of(self, conv: str) -> str | None:
        return dict(self.epilogues).get(conv)

    @property
    def activation_bytes(self) -> int:
        """The end of the highest non-scratch buffer: the arena without kernel scratch."""
        return max((b.offset + b.size for b in self.buffers if b.kind != "scratch"), default=0)

    @property
    def scratch_bytes(self) -> int:
        return max((b.size for b in self.buffers if b.kind == "scratch"), default=0)

    def high_water(self) -> tuple[int, tuple[ArenaBuffer, ...]]:
        """The first step at which the buffers alive reach highest in the arena, and those buffers (the
        ones a smaller arena would have to shrink or move)."""
        if not self.buffers:
            return 0, ()
        tops = [
            max((b.offset + b.size for b in self.buffers if b.first <= step <= b.last), default=0)
            for step in range(len(self.steps))
        ]
        step = tops.index(max(tops))
        alive = tuple(b for b in self.buffers if b.first <= step <= b.last)
        return step, tuple(sorted(alive, key=lambda b: b.offset))

    def buffer(self, name: str) -> ArenaBuffer:
        for buffer in self.buffers:
            if buffer.name == name:
                return buffer
        raise ScheduleError(f"arena plan of {self.graph_name!r} has no buffer {name!r}")

    def offset(self, name: str) -> int:
        return self.buffer(name).offset

    def check(self) -> None:
        """Raise if two buffers alive at the same step share bytes (in-place pairs at their handoff aside)."""
        for i, a in enumerate(self.buffers):
            if a.offset % self.alignment or a.offset + a.size > self.arena_bytes:
                raise ScheduleError(
                    f"buffer {a.name!r} at {a.offset} (+{a.size}) is misaligned or outside the arena"
                )
            for b in self.buffers[i + 1 :]:
                if a.last < b.first or b.last < a.first:
                    continue
                if a.offset + a.size <= b.offset or b.offset + b.size <= a.offset:
                    continue
                if _handoff(a, b) or _handoff(b, a):
                    continue
                raise ScheduleError(
                    f"arena plan of {self.graph_name!r}: {a.name!r} [{a.offset}, {a.offset + a.size}) steps "
                    f"{a.first}-{a.last} overlaps {b.name!r} [{b.offset}, {b.offset + b.size}) steps {b.first}-{b.last}"
                )


def _handoff(a: ArenaBuffer, b: ArenaBuffer) -> bool:
    """b writes over a in place: they may share bytes at the one step where a dies and b is born (or, a
    segment's output over its input row by row, through the segment where a dies)."""
    if b.writes_over != a.name or b.offset != a.offset:
        return False
    return a.last <= b.first or (b.overwrites_rows and b.first <= a.last <= b.last)


# --- in-place proofs ----------------------------------------------------------------------------------


def depthwise_last_readers(
    in_hw: tuple[int, int],
    out_hw: tuple[int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    pads: Pads,
) -> np.ndarray:
    """For each input pixel (row-major index), the last output pixel (row-major) whose window covers it;
    -1 for pixels no window reads. Windows are taken whole (dilation gaps count as read: conservative)."""
    in_h, in_w = in_hw
    out_h, out_w = out_hw
    top, _, left, _ = pads
    last_y = last_covering_output(in_h, out_h, top, kernel[0], stride[0], dilation[0])
    last_x = last_covering_output(in_w, out_w, left, kernel[1], stride[1], dilation[1])
    pixel = np.arange(in_h * in_w)
    r, c = pixel // in_w, pixel % in_w
    return np.where((last_y[r] >= 0) & (last_x[c] >= 0), last_y[r] * out_w + last_x[c], -1)


@functools.lru_cache(maxsize=4096)  # patches of one grid share a handful of shapes
def depthwise_rows_to_buffer(
    in_hw: tuple[int, int],
    out_hw: tuple[int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    pads: Pads,
) -> int | None:
    """Input rows a row-major in-place depthwise kernel must copy aside before overwriting them.

    Output pixel q (row-major) overwrites input pixel q. Input pixel j is safe to overwrite at step j if
    no output pixel after j reads it. Returns the most such rows that must be held at once (0: the op
    runs in place with no extra memory), or None if the output has more pixels than the input.
    """
    in_h, in_w = in_hw
    out_h, out_w = out_hw
    n_out = out_h * out_w
    if n_out > in_h * in_w:
        return None
    last_reader = depthwise_last_readers(in_hw, out_hw, kernel, stride, dilation, pads)
    pixel = np.arange(in_h * in_w)
    r = pixel // in_w
    unsafe = (pixel < n_out) & (last_reader > pixel)
    if not unsafe.any():
        return 0
    # Rows holding an unsafe pixel: held from the first write into the row to the row's last read.
    held = []
    for row in np.unique(r[unsafe]):
        held.append((int(row) * in_w, int(last_reader[r == row].max())))
    events = sorted([(start, 1) for start, _ in held] + [(end + 1, -1) for _, end in held])
    most = alive = 0
    for _, delta in events:
        alive += delta
        most = max(most, alive)
    return most


@dataclass(frozen=True)
class InplaceSchedule:
    """How the in-place depthwise kernels (pb_depthwise_conv_inplace.c) run one region: per output row, whether
    it goes straight to its place (``direct``) or into the ring of delayed rows, and how many delayed rows
    (oldest first) are copied to their place once it is computed (``flushes``); ``ring_rows`` is the most
    delayed rows alive at once. The C function pb_depthwise_inplace_schedule computes the same."""

    direct: tuple[bool, ...]
    flushes: tuple[int, ...]
    ring_rows: int

    def scratch_bytes(self, out_w: int, channels: int) -> int:
        """The schedule bytes plus the ring (a row: out_w pixels of one group of up to 4 channels)."""
        return len(self.direct) + self.ring_rows * out_w * min(channels, 4)


@functools.lru_cache(maxsize=4096)
def depthwise_inplace_schedule(
    in_hw: tuple[int, int],
    out_hw: tuple[int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    pads: Pads,
) -> InplaceSchedule | None:
    """The in-place row schedule of a depthwise region (None: more output than input pixels).

    Output pixel q overwrites input pixel q; output row k covers input rows k*out_w // in_w to
    ((k+1)*out_w - 1) // in_w, free once the last output row reading them (``free_after``) is done. Row k
    is direct if that was before k; else it waits in the ring. Stride 1 with a 3x3 window: every row waits
    one row, a ring of 2; stride 2: only the first row waits.
    """
    (in_h, in_w), (out_h, out_w) = in_hw, out_hw
    if out_h * out_w > in_h * in_w or min(in_h, in_w, out_h, out_w) <= 0:
        return None
    last_reader = last_covering_output(in_h, out_h, pads[0], kernel[0], stride[0], dilation[0])
    free_after = [
        int(last_reader[k * out_w // in_w : ((k + 1) * out_w - 1) // in_w + 1].max()) for k in range(out_h)
    ]
    direct, flushes = [], []
    ring_rows = oldest = 0  # delayed rows are always oldest..k (a direct row finds none pending)
    for k in range(out_h):
        is_direct = free_after[k] < k
        if is_direct:
            oldest = k + 1
        else:
            ring_rows = max(ring_rows, k - oldest + 1)
        flushed = 0
        while oldest <= k and free_after[oldest] <= k:
            oldest += 1
            flushed += 1
        direct.append(is_direct)
        flushes.append(flushed)
    if ring_rows > 0x7F:
        return None
    return InplaceSchedule(tuple(direct), tuple(flushes), ring_rows)


# --- the planner ----------------------------------------------------------------------------------------


@dataclass
class _Piece:
    name: str
    kind: BufferKind
    size: int
    first: int
    last: int
    writes_over: str | None = None
    producer: str = ""  # the op writing it (in-place pieces)
    overwrites_rows: bool = False  # ArenaBuffer.overwrites_rows
    op_kind: str = ""


@dataclass
class _Group:
    """Buffers that share one offset (an in-place chain); usually one buffer."""

    pieces: list[_Piece]
    index: int = 0  # position in the planner's list
    offset: int = -1

    @property
    def size(self) -> int:
        return max(piece.size for piece in self.pieces)

    @property
    def first(self) -> int:
        return min(piece.first for piece in self.pieces)

    @property
    def last(self) -> int:
        return max(piece.last for piece in self.pieces)


def plan_arena(
    graph: Graph,
    plan: PatchPlan | RowPlan | StagedPlan,
    input_mode: InputMode = "counted",
    scratch: ScratchFn = reference_scratch,
    inplace: InplacePolicy = DEFAULT_INPLACE,
    planner: str = "best",
    alignment: int = 16,
) -> ArenaPlan:
    """Offsets for every activation, patch and scratch buffer of ``graph`` run under ``plan``."""
    _check_mode(input_mode)
    if planner not in PLANNERS:
        raise ScheduleError(f"planner {planner!r} unknown; use one of {', '.join(PLANNERS)}")
    if alignment not in (1, 4, 8, 16, 32):
        raise ScheduleError(f"alignment {alignment} not supported; use 4 or 16 (or 1, 8, 32)")
    if plan.graph_name != graph.name:
        raise ScheduleError(f"plan was made for graph {plan.graph_name!r}, not {graph.name!r}")
    epilogues: dict[str, str] = {}
    layout_of = _Layout if isinstance(plan, PatchPlan) else _RowLayout
    if planner == "no_reuse":
        groups = layout_of(graph, plan, input_mode, scratch, NO_INPLACE).groups()
        offset = 0
        for group in groups:
            group.offset = offset
            offset = _align(offset + group.size, alignment)
    else:
        orders = [ORDERS[planner]] if planner in ORDERS else list(ORDERS.values())
        # In-place pins two buffers to one offset, which first-fit cannot always use well: "best" also
        # plans without it and keeps the smaller arena.
        policies = [inplace] if planner != "best" or inplace == NO_INPLACE else [inplace, NO_INPLACE]
        best: tuple[int, list[_Group], list[int]] | None = None
        for policy in policies:
            candidate = _best_placement(
                layout_of(graph, plan, input_mode, scratch, policy), orders, alignment
            )
            if best is None or candidate[0] < best[0]:
                best = candidate
        if planner == "best" and inplace.depthwise != "off":
            # An in-place depthwise conv away from the peak saves nothing and costs its ring copies: plan
            # once more with those out of place and keep that plan if the arena does not grow.
            # All such ops at once, else one at a time in the winning order (first fit is not monotone).
            spare = _depthwise_off_the_peak(best[1], best[0])
            tries = [spare] + ([frozenset([name]) for name in sorted(spare)] if len(spare) > 1 else [])
            kept_off = inplace.depthwise_out_of_place
            for extra in tries:
                relaxed = replace(inplace, depthwise_out_of_place=kept_off | extra)
                candidate = _best_placement(
                    layout_of(graph, plan, input_mode, scratch, relaxed),
                    orders if extra is spare else [best[3]],
                    alignment,
                )
                if candidate[0] <= best[0]:
                    best, kept_off = candidate, kept_off | extra
                    if extra is spare:
                        break
        _, groups, offsets, _, epilogues = best
        for group, offset in zip(groups, offsets, strict=True):
            group.offset = offset
    buffers = tuple(
        ArenaBuffer(p.name, p.kind, group.offset, p.size, p.first, p.last, p.writes_over, p.overwrites_rows)
        for group in groups
        for p in group.pieces
    )
    end = max((b.offset + b.size for b in buffers), default=0)
    patch_plan = isinstance(plan, PatchPlan)
    arena = ArenaPlan(
        graph_name=graph.name,
        p=plan.p if patch_plan else 0,
        n=plan.n if patch_plan else 0,
        input_mode=input_mode,
        planner=planner,
        alignment=alignment,
        steps=tuple(op.name for op in layout_of.step_order(graph, plan)),
        buffers=tuple(sorted(buffers, key=lambda b: (b.first, b.offset))),
        arena_bytes=_align(end, alignment),
        epilogues=tuple(sorted(epilogues.items())),
        schedule=plan.label,
    )
    arena.check()
    return arena


def _best_placement(layout: _Layout, orders, alignment: int):
    """(arena end, groups, offsets, order, fused epilogues) of the order that gives the smallest arena."""
    groups = layout.groups()
    best = None
    for key in orders:
        offsets = _place(sorted(groups, key=key), alignment)
        end = _end(groups, offsets)
        if best is None or end < best[0]:
            best = (end, groups, offsets, key, layout.epilogues)
    return best


def _depthwise_off_the_peak(groups: list[_Group], arena_end: int) -> frozenset[str]:
    """In-place depthwise ops whose step would stay within ``arena_end`` with a separate output buffer
    (a lower bound: the bytes alive at that step, the output counted apart from its input)."""
    spare = set()
    for group in groups:
        for piece in group.pieces:
            if piece.writes_over is None or piece.op_kind != "DEPTHWISE_CONV_2D":
                continue
            step = piece.first
            alive = sum(
                max((p.size for p in other.pieces if p.first <= step <= p.last), default=0)
                for other in groups
            )
            if alive + piece.size <= arena_end:
                spare.add(piece.producer)
    return frozenset(spare)


ORDERS: dict[str, Callable[[_Group], tuple]] = {
    "greedy": lambda g: (-g.size, g.first),
    "linear": lambda g: (g.first, -g.size),
    "lifetime": lambda g: (-(g.last - g.first), -g.size),
    "area": lambda g: (-g.size * (g.last - g.first + 1), g.first),
}


def _place(order: list[_Group], alignment: int) -> list[int]:
    """First fit in the given order; returns the offsets of the groups in their original positions."""
    offsets: dict[int, int] = {}
    placed: list[_Group] = []
    for group in order:
        group.offset = _lowest_offset(group, placed, alignment)
        offsets[id(group)] = group.offset
        placed.append(group)
    return [offsets[id(group)] for group in sorted(order, key=lambda g: g.index)]


def _end(groups: list[_Group], offsets: list[int]) -> int:
    return max((offset + group.size for group, offset in zip(groups, offsets, strict=True)), default=0)


def _align(value: int, alignment: int) -> int:
    return -(-value // alignment) * alignment


def _lowest_offset(group: _Group, placed: list[_Group], alignment: int) -> int:
    conflicts = []  # (start, end) address ranges, each for one of this group's pieces
    for other in placed:
        for a in group.pieces:
            for b in other.pieces:
                if a.last < b.first or b.last < a.first:
                    continue
                conflicts.append((a.size, other.offset, other.offset + b.size))
    candidates = sorted({0, *(_align(end, alignment) for _, _, end in conflicts)})
    for offset in candidates:
        if all(offset + size <= start or offset >= end for size, start, end in conflicts):
            return offset
    raise ScheduleError("internal error: no offset found")  # the largest candidate always fits


class _Layout:
    """Buffers, lifetimes and in-place decisions of one schedule."""

    def __init__(
        self, graph: Graph, plan: PatchPlan, input_mode: str, scratch: ScratchFn, inplace: InplacePolicy
    ):
        self.graph, self.plan, self.scratch, self.inplace = graph, plan, scratch, inplace
        self.ops = self.step_order(graph, plan)
        self.stage_ops = self.ops[: len(plan.stage_ops)]
        self.step_ops = [op.name for op in self.ops]
        self.step_of = {op.name: i for i, op in enumerate(self.ops)}
        self.stage_steps = len(self.stage_ops)
        self.epilogues = (
            residual_epilogues(graph, plan, in_stage=inplace.residual_add_in_stage)
            if inplace.residual_add
            else {}
        )
        self.chunks = {graph.op(conv).outputs[0] for conv in self.epilogues}  # conv outputs held as chunks
        # patch-stage tensors written in place into a window of a larger held region (stage_layout_source)
        self.windowed: set[str] = set()
        self.streamed = input_mode == "streamed" and not plan.is_per_layer
        self.patch_steps: dict[str, list] = {}  # op name -> [(patch, step)]
        for patch in plan.patches:
            for step in patch.steps:
                self.patch_steps.setdefault(step.op, []).append((patch, step))

    @staticmethod
    def step_order(graph: Graph, plan: PatchPlan) -> list[Op]:
        """The patch stage's ops (once), then the per-layer ops: the steps that lifetimes count."""
        stage = set(plan.stage_ops)
        return [op for op in graph.ops if op.name in stage] + [op for op in graph.ops if op.name not in stage]

    def _kind(self, name: str) -> BufferKind:
        if name in self.graph.inputs:
            return "patch" if self.streamed and name in self.plan.stage_inputs else "input"
        if name == self.plan.stage_output:
            return "stage_output"
        producer = self.graph.producer(name)
        return "patch" if producer is not None and producer.name in self.plan.stage_ops else "activation"

    def _size(self, name: str, kind: BufferKind) -> int:
        tensor = self.graph.tensor(name)
        if name in self.chunks:
            rows, width, channels = epilogue_chunk_shape(
                self.graph, self.plan, self.graph.producer(name).name
            )
            return rows * width * channels * np.dtype(tensor.dtype).itemsize
        if kind != "patch":
            return tensor.nbytes
        pixels = tensor.shape[1] * tensor.shape[2]
        return self.plan.max_region_area(name) * (tensor.nbytes // pixels)

    def pieces(self) -> dict[str, _Piece]:
        graph, last_step = self.graph, len(self.ops) - 1
        first: dict[str, int] = {name: 0 for name in graph.inputs}
        last: dict[str, int] = {name: 0 for name in graph.inputs}
        for step, op in enumerate(self.ops):
            for name in activation_input_names(graph, op):
                first.setdefault(name, 0)
                last[name] = max(last.get(name, 0), step)
            for name in op.outputs:
                first[name] = step
                last[name] = max(last.get(name, step), step)
        for name in graph.outputs:
            last[name] = last_step
        for conv, add in self.epilogues.items():  # one step: the ADD reads and writes in the conv's
            step = self.step_of[conv]
            for name in graph.op(add).inputs:
                if last[name] == self.step_of[add]:
                    last[name] = step
            first[graph.op(add).outputs[0]] = step
        if not self.plan.is_per_layer:
            # Filled patch by patch, read by every patch: alive across the whole stage.
            first[self.plan.stage_output] = 0
            for name in self.plan.stage_inputs:
                if not self.streamed:
                    last[name] = max(last[name], self.stage_steps - 1)
        pieces = {}
        for name in first:
            kind = self._kind(name)
            if kind == "patch" and self.plan.max_region_area(name) == 0:
                continue  # computed by no patch (a dead branch)
            pieces[name] = _Piece(name, kind, self._size(name, kind), first[name], last[name])
        return pieces

    def groups(self) -> list[_Group]:
        pieces = self.pieces()
        owner: dict[str, str] = {}
        extra_scratch: dict[str, int] = {}  # in-place ops: the ring buffer of rows they copy aside
        for op in self.ops:
            target = self._inplace_target(op, pieces)
            if target is not None:
                source, ring_bytes = target
                owner[op.outputs[0]] = source
                pieces[op.outputs[0]].writes_over = source
                pieces[op.outputs[0]].producer, pieces[op.outputs[0]].op_kind = op.name, op.kind
                if op.outputs[0] in self.windowed:
                    # Stored in the larger layout of the buffer it writes over (stage_layout_source): it
                    # occupies all of that buffer's bytes while it lives, not just its own region's.
                    pieces[op.outputs[0]].size = max(pieces[op.outputs[0]].size, pieces[source].size)
                extra_scratch[op.name] = ring_bytes

        def root(name: str) -> str:
            while name in owner:
                name = owner[name]
            return name

        grouped: dict[str, _Group] = {}
        for name, piece in pieces.items():
            grouped.setdefault(root(name), _Group([])).pieces.append(piece)
        groups = list(grouped.values())
        for step, op in enumerate(self.ops):
            size = self._scratch_bytes(op, op.name in extra_scratch) + extra_scratch.get(op.name, 0)
            if size > 0:
                groups.append(_Group([_Piece(f"scratch:{op.name}", "scratch", size, step, step)]))
        for index, group in enumerate(groups):
            group.index = index
        return groups

    # shapes the kernel sees: every patch's in the stage, the full tensors otherwise
    def _runs(self, op: Op, in_place: bool = False) -> list[KernelShapes]:
        graph = self.graph
        # The kernel's main input: the first activation input (an ADD may have a constant first operand).
        index = next(iter(activation_inputs(graph, op)), 0)
        x = op.inputs[index]
        out = op.outputs[0]
        in_c = graph.tensor(x).shape[-1]
        out_c = graph.tensor(out).shape[-1]
        if op.name not in self.plan.stage_ops:
            in_shape = hwc(graph.tensor(x).shape)
            out_shape = hwc(graph.tensor(out).shape)
            return [KernelShapes(in_shape, out_shape, _full_pads(graph, op), in_place)]
        runs = []
        for _, step in self.patch_steps.get(op.name, []):
            region = step.inputs[index] or step.output
            runs.append(
                KernelShapes(
                    (region.height, region.width, in_c),
                    (step.output.height, step.output.width, out_c),
                    step.pads or (0, 0, 0, 0),
                    in_place,
                )
            )
        return runs

    def _reads_whole_buffer(self, op: Op, name: str) -> bool:
        """In every patch, ``op`` reads exactly the region held for ``name`` (same layout in memory)."""
        if op.name not in self.plan.stage_ops:
            return True
        index = op.inputs.index(name)
        return all(patch.tensors.get(name) == step.inputs[index] for patch, step in self.patch_steps[op.name])

    def _scratch_bytes(self, op: Op, in_place: bool) -> int:
        return max((self.scratch(self.graph, op, shapes) for shapes in self._runs(op, in_place)), default=0)

    def _inplace_target(self, op: Op, pieces: dict[str, _Piece]) -> tuple[str, int] | None:
        """(input tensor whose buffer the output reuses, ring-buffer bytes) or None."""
        graph, out = self.graph, op.outputs[0]
        if out not in pieces or pieces[out].kind in ("stage_output", "input"):
            return None
        fused_into = {add: conv for conv, add in self.epilogues.items()}
        step = self.step_of[fused_into.get(op.name, op.name)]  # a fused ADD runs in its conv's step

        def reusable(name: str) -> bool:
            if name not in activation_input_names(graph, op) or name not in pieces:
                return False
            piece = pieces[name]
            # after the patch stage the stage output is a plain full tensor
            kinds = (piece.kind, pieces[out].kind)
            return (
                piece.last == step
                and name not in graph.outputs
                and name not in self.chunks  # a fused conv's chunk holds a few rows, not the tensor
                and kinds
                in (("activation", "activation"), ("patch", "patch"), ("stage_output", "activation"))
                and graph.tensor(name).dtype == graph.tensor(out).dtype
            )

        def same_layout(name: str) -> bool:
            # In a patch an output is laid out by its own region: only a read of the whole held region
            # has the same layout (a shortcut held larger for another reader does not) ...
            return self._reads_whole_buffer(op, name)

        if self.inplace.elementwise and op.kind in INPLACE_ELEMENTWISE_KINDS:
            for name in op.inputs:
                if not reusable(name) or graph.tensor(name).shape != graph.tensor(out).shape:
                    continue
                if same_layout(name) and name not in self.windowed:
                    return name, 0
                # ... except a residual ADD fused into its conv in the patch stage: it writes its rows
                # into the shortcut's buffer at the shortcut's window, and its output keeps that layout
                # (stage_layout_source) for every reader after it
                if op.name in fused_into and op.name in self.plan.stage_ops:
                    self.windowed.add(out)
                    return name, 0
                if name in self.windowed and same_layout(name):
                    self.windowed.add(out)  # in place over a windowed tensor: in its layout too
                    return name, 0
        if (
            self.inplace.depthwise != "off"
            and op.kind == "DEPTHWISE_CONV_2D"
            and op.name not in self.inplace.depthwise_out_of_place
            and reusable(op.inputs[0])
            and same_layout(op.inputs[0])
            and op.inputs[0] not in self.windowed  # its in-place proof is for a dense buffer
        ):
            kh, kw = kernel_size(graph, op)
            stride = tuple(op.attrs.get("stride", (1, 1)))
            dilation = tuple(op.attrs.get("dilation", (1, 1)))
            rows_needed, ring = 0, 0
            for run in self._runs(op):
                geometry = (run.input_shape[:2], run.output_shape[:2], (kh, kw), stride, dilation, run.pads)
                schedule = depthwise_inplace_schedule(*geometry)
                if schedule is None or run.input_shape[2] != run.output_shape[2]:
                    return None
                rows_needed = max(rows_needed, depthwise_rows_to_buffer(*geometry))
                ring = max(ring, schedule.scratch_bytes(run.output_shape[1], run.output_shape[2]))
            if rows_needed == 0 or self.inplace.depthwise == "row_buffered":
                return op.inputs[0], ring
        return None


class _RowLayout(_Layout):
    """Buffers and lifetimes of a plan with row-streamed segments (``rows`` rings; the module docstring)."""

    def __init__(
        self,
        graph: Graph,
        plan: RowPlan | StagedPlan,
        input_mode: str,
        scratch: ScratchFn,
        inplace: InplacePolicy,
    ):
        # A patch stage first (segments.StagedPlan) is planned as _Layout plans one: its patch buffers, its
        # stage output, its fusions and in-place ops; the row-streamed segments' ops as below, the rest
        # per layer. Without one, the base is the per-layer plan.
        parts = plan.parts if isinstance(plan, StagedPlan) else (plan,)
        base = next((part for part in parts if isinstance(part, PatchPlan)), None) or make_plan(graph, 1, 0)
        super().__init__(graph, base, input_mode, scratch, inplace)
        self.parts: tuple[RowPlan, ...] = tuple(part for part in parts if isinstance(part, RowPlan))
        self.part_of = {name: part for part in self.parts for name in part.stage_ops}
        # no conv + ADD fused inside a row-streamed segment: each op runs on its own rows
        self.epilogues = {conv: add for conv, add in self.epilogues.items() if conv not in self.part_of}
        self.chunks = {graph.op(conv).outputs[0] for conv in self.epilogues}
        self.streamed = input_mode == "streamed"

    @staticmethod
    def step_order(graph: Graph, plan) -> list[Op]:
        return list(graph.ops)

    def _ring(self, name: str) -> RowPlan | None:
        """The segment holding ``name`` as a ring of rows (a streamed input's ring too), or None."""
        for part in self.parts:
            if name in part.capacity and (name not in self.graph.inputs or self.streamed):
                return part
        return None

    def _kind(self, name: str) -> BufferKind:
        if self._ring(name) is not None:
            return "rows"
        return super()._kind(name)

    def _size(self, name: str, kind: BufferKind) -> int:
        if kind != "rows":
            return super()._size(name, kind)
        return self._ring(name).ring_bytes(self.graph, name)

    def pieces(self) -> dict[str, _Piece]:
        pieces = super().pieces()
        for part in self.parts:
            first, last = self.step_of[part.stage_ops[0]], self.step_of[part.stage_ops[-1]]
            produced = {self.graph.op(name).outputs[0] for name in part.stage_ops}
            for name in produced - set(part.capacity) - {part.stage_output}:
                pieces.pop(name, None)  # no row of it is ever needed: never computed
            for name in part.capacity:
                if pieces[name].kind == "rows":
                    pieces[name].first, pieces[name].last = first, last
            for name in part.stage_inputs:  # read through the whole segment
                pieces[name].last = max(pieces[name].last, last)
            pieces[part.stage_output].first = first  # filled row by row
        return pieces

    def groups(self) -> list[_Group]:
        groups = super().groups()
        # a global pool run row by row keeps its int32 accumulator in its scratch from the segment's first
        # step to its last (the kernel adds every row into it)
        for part in self.parts:
            if part.accumulates is None:
                continue
            name = f"scratch:{part.accumulates}"
            for group in groups:
                for piece in group.pieces:
                    if piece.name == name:
                        piece.first = self.step_of[part.stage_ops[0]]
                        piece.last = self.step_of[part.stage_ops[-1]]
        return groups

    def _scratch_bytes(self, op: Op, in_place: bool) -> int:
        part = self.part_of.get(op.name)
        if part is not None and part.accumulates == op.name:
            return super()._scratch_bytes(op, in_place) + part.accumulator_bytes(self.graph)
        return super()._scratch_bytes(op, in_place)

    def _runs(self, op: Op, in_place: bool = False) -> list[KernelShapes]:
        part = self.part_of.get(op.name)
        if part is None:
            return super()._runs(op, in_place)
        graph = self.graph
        index = next(iter(activation_inputs(graph, op)), 0)
        in_c = graph.tensor(op.inputs[index]).shape[-1]
        out_c = graph.tensor(op.outputs[0]).shape[-1]
        width = part.widths[op.outputs[0]]
        runs = []
        for step in part.op_steps(op.name):
            window = step.inputs[index]
            written = step.columns[1] - step.columns[0] if step.columns is not None else width
            in_hw = (window.height, window.width) if window is not None else (1, written)
            # a step on a channel slice (RowPlan.chunk) computes that slice's channels only
            out_hwc = (
                step.rows,
                written,
                out_c if step.channels is None else step.channels[1] - step.channels[0],
            )
            runs.append(KernelShapes((*in_hw, in_c), out_hwc, step.pads or (0, 0, 0, 0), in_place))
        return runs

    def _inplace_target(self, op: Op, pieces: dict[str, _Piece]) -> tuple[str, int] | None:
        part = self.part_of.get(op.name)
        if part is None:
            return super()._inplace_target(op, pieces)
        # row steps read and write rings and whole buffers as they are; the segment's output may go over
        # the whole input it consumes (rows.RowPlan.overwrites), when that input dies with the segment
        source, out = part.overwrites, op.outputs[0]
        if not self.inplace.segment_output or source is None or out != part.stage_output:
            return None
        if source not in pieces or out not in pieces or source in self.graph.outputs:
            return None
        if (pieces[source].kind, pieces[out].kind) not in (
            ("activation", "activation"),
            ("stage_output", "activation"),
        ):
            return None
        if source in self.chunks or pieces[source].last != self.step_of[part.stage_ops[-1]]:
            return None
        pieces[out].overwrites_rows = True
        return source, 0


def stage_layout_source(arena: ArenaPlan, graph: Graph, name: str) -> str:
    """The tensor whose patch-stage layout (held region, row stride) ``name`` is stored in: itself, or
    for an elementwise op's in-place output the source it writes over (followed down the chain). Equal
    to its own layout unless a fused residual ADD wrote into a window of a larger shortcut buffer."""
    buffers = {b.name: b for b in arena.buffers}
    while True:
        buffer = buffers.get(name)
        producer = graph.producer(name) if buffer is not None and buffer.writes_over else None
        if producer is None or producer.kind not in INPLACE_ELEMENTWISE_KINDS:
            return name
        name = buffer.writes_over


def _full_pads(graph: Graph, op: Op) -> Pads:
    if op.kind not in WINDOW_KINDS:
        return (0, 0, 0, 0)
    return op_pads(graph, op)
