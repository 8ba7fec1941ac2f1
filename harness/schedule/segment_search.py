# SPDX-License-Identifier: Apache-2.0
"""msf-CNN's formulation of the schedule search: a schedule is a path through the layer boundaries.

Written from the paper's description (Huang & Baccelli, "msf-CNN", NeurIPS 2025, arXiv 2505.11483,
../shared/METHOD.md), not from its code. The network is a graph whose nodes are the boundaries between
layers (0 = the network input, L = its output; a boundary between two blocks is crossed by one tensor)
and whose edges are *segments*: a run of layers ``[start, end)`` executed one way (per layer, patch by
patch on a p x p grid with the halo recomputed, row-streamed). Each edge has a memory cost (the most any
of its layers needs under it, its input and output buffers included) and a MAC cost (its layers' MACs
under it, recomputation included). A schedule is a path from 0 to L; its peak memory is the *largest*
edge cost on the path and its MACs the *sum*. So:

- least memory under a MAC cap, least MACs under a memory cap and the (memory, MACs) Pareto set are all
  read off the Pareto labels of node L;
- those labels come from one forward pass over the boundaries (the graph is a chain, so a DAG): each node
  keeps the (memory, MACs) pairs of the paths reaching it that no other path beats on both, each pair
  extended by every segment leaving the node. Dominance survives extension (max and + are monotone), so
  pruning a dominated label never loses an optimal path.

Costs are analytic (the paper's accounting, harness/schedule/profile.py, input counted or streamed); the
arena planner's figure differs by kernel scratch and alignment, so ``slack`` keeps a label that another
beats by less than that fraction of memory (near-ties are left for the arena planner to rank;
schedule/search.py does that).

Which segments exist is ``segment_options``: per-layer layers, a patch segment over the first n layers for
each p (MCUNetV2's one stage) and a row-streamed segment over every span of layers that can run row by
row (harness/schedule/rows.py: nothing recomputed). A path is a ``Schedule`` (harness/ir/schedule_name.py:
``rows n=3 + per-layer n=1 + rows n=9``, ``p=2 n=3 + rows n=2 + rows n=4``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass

from harness.ir.graph import Graph
from harness.ir.schedule_name import Schedule, Segment
from harness.schedule.arena import DEFAULT_INPLACE, ArenaPlan, InplacePolicy, ScratchFn, plan_arena
from harness.schedule.fusion import FoldedSchedule, fold_pads
from harness.schedule.plan import ScheduleError, make_plan
from harness.schedule.profile import PAPER_RULES, InputMode, MemoryRules, _check_mode, profile
from harness.schedule.rows import is_global_pool, make_row_plan
from harness.schedule.segments import make_schedule_plan

# the segment kinds of harness/ir/schedule_name.py
PER_LAYER = "per-layer"
PATCH = "patches"
ROWS = "rows"
DEFAULT_SLACK = 0.03  # near-ties in analytic memory kept for the arena planner to rank


@dataclass(frozen=True)
class SegmentOption:
    """One edge of the boundary graph: layers ``[start, end)`` run one way, with its costs."""

    start: int
    end: int
    kind: str  # PER_LAYER, PATCH, ...
    p: int  # patches per side (1 for per-layer)
    memory: int  # analytic bytes: the most any of its layers needs run this way
    macs: int  # its layers' MACs run this way (recomputation included)
    ch: int = 0  # rows: output channels per call of the conv feeding its global pool (0: all)
    strips: int = 1  # rows: column strips (the halo columns between them recomputed)

    def label(self) -> str:
        if self.kind == PER_LAYER:
            return f"per-layer {self.start}..{self.end - 1}"
        strips = f" strips={self.strips}" if self.strips > 1 else ""
        return f"{self.kind} p={self.p}{strips} layers {self.start}..{self.end - 1}"


@dataclass(frozen=True)
class SegmentPath:
    """A schedule as a path of segments from boundary 0 to L, with its peak memory and MACs."""

    segments: tuple[SegmentOption, ...]
    memory: int  # the largest segment memory
    macs: int  # the sum of segment MACs

    @property
    def schedule(self) -> Schedule:
        """The path as a schedule: consecutive per-layer layers one ``per-layer n=k`` segment (those after
        the last other segment dropped, as the label drops them)."""
        segments: list[Segment] = []
        for option in self.segments:
            n = option.end - option.start
            if option.kind == PER_LAYER and segments and segments[-1].kind == PER_LAYER:
                segments[-1] = Segment(PER_LAYER, segments[-1].n + n)
            else:
                segments.append(
                    Segment(
                        option.kind,
                        n,
                        option.p if option.kind == PATCH else 1,
                        ch=option.ch,
                        strips=option.strips,
                    )
                )
        return Schedule(tuple(segments))

    def label(self) -> str:
        return self.schedule.label


@dataclass(frozen=True)
class _Label:
    memory: int
    macs: int
    segment: SegmentOption | None  # the last edge (None at node 0)
    previous: _Label | None
    count: int = 0  # segments on the path (of paths that cost the same, the fewest is kept)

    def path(self) -> tuple[SegmentOption, ...]:
        found, label = [], self
        while label is not None and label.segment is not None:
            found.append(label.segment)
            label = label.previous
        return tuple(reversed(found))


def pareto_paths(
    layers: int, options: Iterable[SegmentOption], slack: float = 0.0
) -> tuple[SegmentPath, ...]:
    """The paths from boundary 0 to ``layers`` that no other path beats on both memory and MACs, by
    memory (``slack``: a path beaten on memory by less than this fraction is kept too)."""
    if not 0 <= slack < 1:
        raise ScheduleError(f"slack {slack!r} must be in [0, 1)")
    leaving: dict[int, list[SegmentOption]] = {}
    for option in options:
        if not 0 <= option.start < option.end <= layers:
            raise ScheduleError(f"segment {option.label()} is outside layers 0..{layers - 1}")
        leaving.setdefault(option.start, []).append(option)
    labels: dict[int, list[_Label]] = {0: [_Label(0, 0, None, None)]}
    for node in range(layers):
        for label in labels.get(node, ()):
            for option in leaving.get(node, ()):
                reached = _Label(
                    max(label.memory, option.memory),
                    label.macs + option.macs,
                    option,
                    label,
                    count=label.count + 1,
                )
                labels[option.end] = _keep(labels.get(option.end, []), reached, slack)
    if layers not in labels:
        raise ScheduleError(f"no path of segments covers layers 0..{layers - 1}")
    return tuple(
        SegmentPath(label.path(), label.memory, label.macs)
        for label in sorted(labels[layers], key=lambda label: (label.memory, label.macs))
    )


def _beats(a: _Label, b: _Label, slack: float) -> bool:
    """``a`` makes ``b`` useless: no more MACs, and less memory by more than ``slack`` (or the same
    figures and no more segments: of paths that cost the same one is kept, else equal paths multiply)."""
    if a.macs > b.macs:
        return False
    return a.memory <= b.memory * (1 - slack) or (
        (a.memory, a.macs) == (b.memory, b.macs) and a.count <= b.count
    )


def _keep(labels: list[_Label], new: _Label, slack: float) -> list[_Label]:
    if any(_beats(old, new, slack) for old in labels):
        return labels
    return [old for old in labels if not _beats(new, old, slack)] + [new]


def least_memory(paths: Iterable[SegmentPath], max_macs: int | None = None) -> SegmentPath | None:
    """The path needing the least memory with at most ``max_macs`` MACs (None: no cap)."""
    capped = [path for path in paths if max_macs is None or path.macs <= max_macs]
    return min(capped, key=lambda path: (path.memory, path.macs)) if capped else None


def fewest_macs(paths: Iterable[SegmentPath], max_memory: int | None = None) -> SegmentPath | None:
    """The path with the fewest MACs needing at most ``max_memory`` bytes (None: no cap)."""
    capped = [path for path in paths if max_memory is None or path.memory <= max_memory]
    return min(capped, key=lambda path: (path.macs, path.memory)) if capped else None


def segment_options(
    graph: Graph,
    input_mode: InputMode = "streamed",
    *,
    patches: tuple[int, ...] = (2, 3, 4),
    rows: bool = True,
    rules: MemoryRules = PAPER_RULES,
    arena: ArenaCosts | None = None,
    strips: tuple[int, ...] = (),
) -> tuple[list[SegmentOption], list[tuple[str, str]]]:
    """The segments of ``graph`` the plans support, with their costs; and those refused, as (segment,
    why). Per-layer: every layer alone (the image counted: per-layer inference reads it whole). Patch: the
    first n layers on a p x p grid; rows: every span of layers row-streamed (``input_mode``: the image
    streamed or counted, where a segment reads it), and with ``strips`` each span of at most
    STRIP_LAYERS layers whose input map is wide enough (MIN_STRIP_COLUMNS a strip) also in that many column
    strips (rings a strip wide, the halo columns recomputed).

    Memory: the paper's analytic bytes (``rules``); with ``arena``, what the arena planner's buffers
    occupy at the segment's steps (``ArenaCosts``: kernel scratch and the planner's in-place choices
    included, which the analytic figure leaves out)."""
    _check_mode(input_mode)
    per_layer = profile(graph, make_plan(graph, 1, 0), rules).layers
    layer_of = {op.name: index for index, layer in enumerate(graph.layers) for op in layer}
    whole = arena.plan(graph, Schedule(), input_mode) if arena else None
    options = [
        SegmentOption(
            index,
            index + 1,
            PER_LAYER,
            1,
            _occupancy(whole, layer_of, index, index + 1) if whole else layer.per_layer_bytes,
            layer.macs_per_layer,
        )
        for index, layer in enumerate(per_layer)
    ]
    rejected = []
    spans = [(p, 0, n, 1) for p in patches for n in range(1, len(graph.layers) + 1)]
    if rows:
        spans += [
            (1, start, end, 1)
            for start in range(len(graph.layers))
            for end in range(start + 1, len(graph.layers) + 1)
        ]
        spans += [
            (1, start, end, q)
            for start in range(len(graph.layers))
            for end in range(start + 1, min(start + STRIP_LAYERS, len(graph.layers)) + 1)
            for q in strips
            if _input_columns(graph, start) >= q * MIN_STRIP_COLUMNS
        ]
    for p, start, end, q in spans:
        kind = PATCH if p > 1 else ROWS
        ch = smallest_slice(graph, start, end) if kind == ROWS and q == 1 else 0
        segment = Segment(kind, end - start, p, ch=ch, strips=q)
        schedule = Schedule(((Segment(PER_LAYER, start),) if start else ()) + (segment,))
        try:
            plan = (
                make_plan(graph, p, end)
                if kind == PATCH
                else make_row_plan(graph, end - start, start, 1, ch, q)
            )
            planned = arena.plan(graph, schedule, input_mode) if arena else None
        except ScheduleError as error:
            rejected.append((f"{segment.label} from layer {start}", str(error)))
            continue
        stage = profile(graph, plan, rules).layers[start:end]
        if planned is not None:
            need = _occupancy(planned, layer_of, start, end)
        else:
            need = max(
                layer.per_patch_bytes if input_mode == "streamed" else layer.per_patch_counted_bytes
                for layer in stage
            )
        macs = sum(layer.macs_scheduled for layer in stage)
        options.append(SegmentOption(start, end, kind, p, need, macs, ch, q))
    return options, rejected


def widen_path_slices(
    graph: Graph,
    path: SegmentPath,
    arena: ArenaCosts,
    input_mode: InputMode,
    cache: dict[tuple[int, int, int], int] | None = None,
) -> SegmentPath:
    """``path`` with the conv before its global pool on channel slices (``ch``) as wide as they can be
    while that segment, planned alone (ArenaCosts), needs no more than the path's memory: all channels
    in one call where that holds, else the largest divisor (a multiple of four) that does; fewer kernel
    calls at the same peak. ``cache``: occupancies by (start, end, ch), shared between paths."""
    cache = {} if cache is None else cache
    layer_of = {op.name: index for index, layer in enumerate(graph.layers) for op in layer}
    segments = list(path.segments)
    for index, option in enumerate(segments):
        if option.kind != ROWS or not option.ch:
            continue
        plan = make_row_plan(graph, option.end - option.start, option.start, 1, option.ch)
        channels = graph.tensor(graph.op(plan.chunked).outputs[0]).shape[-1]
        sizes = [c for c in range(channels // 2, option.ch, -1) if channels % c == 0 and c % 4 == 0]
        for ch in [0, *sizes]:
            key = (option.start, option.end, ch)
            if key not in cache:
                lead = (Segment(PER_LAYER, option.start),) if option.start else ()
                schedule = Schedule((*lead, Segment(ROWS, option.end - option.start, ch=ch)))
                cache[key] = _occupancy(
                    arena.plan(graph, schedule, input_mode), layer_of, option.start, option.end
                )
            if cache[key] <= path.memory:
                segments[index] = dataclasses.replace(option, ch=ch, memory=cache[key])
                break
    return SegmentPath(tuple(segments), path.memory, path.macs)


STRIP_LAYERS = 6  # the longest span the search tries in column strips
MIN_STRIP_COLUMNS = 16  # input columns a strip gets at least


def _input_columns(graph: Graph, start: int) -> int:
    """Columns of the map layer ``start`` reads (its first op's first input; 0 if not a map)."""
    shape = graph.tensor(graph.layers[start][0].inputs[0]).shape
    return shape[2] if len(shape) == 4 else 0


SMALLEST_SLICE = 16  # output channels per call the search tries first for the conv feeding a global pool


def smallest_slice(graph: Graph, start: int, end: int) -> int:
    """ch of a row-streamed segment over layers ``[start, end)`` that ends in a global average pool fed by
    a conv (rows.py): the fewest output channels per call, a multiple of four of at least SMALLEST_SLICE
    dividing them (its scratch and ring the smallest; segments.widen_slices takes more where the arena
    does not grow); 0 for any other segment."""
    last = [op for op in graph.layers[end - 1] if op.kind != "RESHAPE"]
    if not last or not is_global_pool(graph, last[-1]):
        return 0
    conv = graph.producer(last[-1].inputs[0])
    if (
        conv is None
        or conv.kind != "CONV_2D"
        or conv.name not in {op.name for layer in graph.layers[start:end] for op in layer}
    ):
        return 0
    channels = graph.tensor(conv.outputs[0]).shape[-1]
    return next(
        (c for c in range(SMALLEST_SLICE, channels // 2 + 1, 4) if channels % c == 0),
        0,
    )


@dataclass(frozen=True)
class ArenaCosts:
    """Segment costs from the arena planner: each segment planned alone (the rest per layer, PADs folded
    as the firmware folds them), with ``scratch`` and ``inplace`` as the firmware's, one placement order
    (``planner``) for speed; a segment needs the most its buffers occupy at any of its steps."""

    scratch: ScratchFn
    inplace: InplacePolicy = DEFAULT_INPLACE
    planner: str = "greedy"

    def plan(self, graph: Graph, schedule: Schedule, input_mode: InputMode) -> ArenaPlan:
        plan = make_schedule_plan(graph, schedule)
        runs = fold_pads(graph, plan) if self.inplace.fold_pads else FoldedSchedule(graph, plan, ())
        return plan_arena(runs.graph, runs.plan, input_mode, self.scratch, self.inplace, self.planner)


def _occupancy(arena: ArenaPlan, layer_of: dict[str, int], start: int, end: int) -> int:
    """The most bytes the arena's buffers cover at one step of an op of layers ``start..end - 1``
    (buffers sharing bytes, in place, counted once)."""
    most = 0
    for step, name in enumerate(arena.steps):
        if not start <= layer_of.get(name, -1) < end:
            continue
        covered, reach = 0, 0
        for low, high in sorted(
            (b.offset, b.offset + b.size) for b in arena.buffers if b.first <= step <= b.last
        ):
            covered += max(high - max(low, reach), 0)
            reach = max(reach, high)
        most = max(most, covered)
    return most


def search_points(
    graph: Graph,
    input_mode: InputMode = "streamed",
    *,
    patches: tuple[int, ...] = (2, 3, 4),
    rows: bool = True,
    rules: MemoryRules = PAPER_RULES,
    slack: float = DEFAULT_SLACK,
    arena: ArenaCosts | None = None,
    strips: tuple[int, ...] = (),
) -> tuple[tuple[SegmentPath, ...], list[tuple[str, str]]]:
    """The boundary graph's Pareto paths of ``graph`` (with ``slack``) and the segments refused."""
    options, rejected = segment_options(
        graph, input_mode, patches=patches, rows=rows, rules=rules, arena=arena, strips=strips
    )
    return pareto_paths(len(graph.layers), options, slack), rejected
