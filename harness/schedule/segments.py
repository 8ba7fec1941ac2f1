# SPDX-License-Identifier: Apache-2.0
"""Plans made of several segments: a patch stage (first only), row-streamed segments, per-layer layers.

``make_schedule_plan(graph, schedule)`` turns a ``Schedule`` (or its label, harness/ir/schedule_name.py)
into a plan. Today's one-stage schedules (``per-layer``, ``p=4 n=5``) give the ``PatchPlan`` they always
gave; anything else gives a ``StagedPlan``: its ``parts`` are the segments that are not per layer, in
layer order (a ``PatchPlan`` over the first layers, ``RowPlan`` s anywhere), and every op outside them runs
per layer. A segment's output is a whole tensor that the next one reads; what a segment reads from
outside stays whole while it runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from harness.ir.graph import Graph, op_macs
from harness.ir.schedule_name import Schedule, ScheduleNameError, Segment, parse_schedule
from harness.schedule.plan import PatchPlan, ScheduleError, make_plan, restage
from harness.schedule.rows import RowPlan, make_row_plan, restage_rows

Part = PatchPlan | RowPlan


@dataclass(frozen=True)
class StagedPlan:
    """A schedule of several segments (module docstring)."""

    graph_name: str
    schedule: Schedule
    parts: tuple[Part, ...]  # the segments that are not per layer, in layer order
    macs_per_layer: int
    graph_inputs: tuple[str, ...]
    op_layer: Mapping[str, str] = field(repr=False)

    is_per_layer = False
    p = 0  # not one (p, n) patch stage: its label names it

    @property
    def label(self) -> str:
        return self.schedule.label

    @property
    def n(self) -> int:
        """Layers its segments cover (from the first)."""
        return self.schedule.layers

    @property
    def stage_layers(self) -> tuple[str, ...]:
        return tuple(name for part in self.parts for name in part.stage_layers)

    @property
    def stage_macs_per_layer(self) -> int:
        return sum(part.stage_macs_per_layer for part in self.parts)

    @property
    def stage_macs_patched(self) -> int:
        """The segments' MACs as they run (a patch stage's recomputation included)."""
        return sum(part.stage_macs_patched for part in self.parts)

    @property
    def stage_ops(self) -> tuple[str, ...]:
        """Every op that runs inside a segment (not per layer)."""
        return tuple(name for part in self.parts for name in part.stage_ops)

    @property
    def stage_output(self) -> str:
        """The last segment's output."""
        return self.parts[-1].stage_output

    @property
    def stage_inputs(self) -> tuple[str, ...]:
        """The graph inputs a segment reads (streamed row by row, or by patch, when the input is streamed)."""
        return tuple(
            dict.fromkeys(n for part in self.parts for n in part.stage_inputs if n in self.graph_inputs)
        )

    @property
    def macs(self) -> int:
        """Whole-graph MACs: per layer plus what a patch stage recomputes."""
        return self.macs_per_layer + sum(
            part.stage_macs_patched - part.stage_macs_per_layer for part in self.parts
        )

    @property
    def mac_overhead(self) -> float:
        return self.macs / self.macs_per_layer - 1.0 if self.macs_per_layer else 0.0

    def part_of(self, op: str) -> Part | None:
        for part in self.parts:
            if op in part.stage_ops:
                return part
        return None

    def describe(self) -> str:
        return f"{self.graph_name}: {self.label}"


def make_schedule_plan(graph: Graph, schedule: Schedule | str) -> PatchPlan | StagedPlan:
    """The plan of ``schedule`` for ``graph``: a ``PatchPlan`` for per-layer and one patch stage (as
    ``make_plan``), else a ``StagedPlan``. Raises ScheduleError naming the segment that cannot run."""
    if isinstance(schedule, str):
        try:
            schedule = parse_schedule(schedule)
        except ScheduleNameError as err:
            raise ScheduleError(str(err)) from None
    if schedule.is_patch_stage:
        return make_plan(graph, *schedule.pn)
    layers = len(graph.layers)
    if schedule.layers > layers:
        raise ScheduleError(
            f"graph {graph.name!r}: schedule {schedule.label!r} covers {schedule.layers} layers, the graph has "
            f"{layers}; shorten its segments"
        )
    parts: list[Part] = []
    start = 0
    for segment in schedule.segments:
        where = f"graph {graph.name!r}, schedule {schedule.label!r}, segment {segment.label!r}"
        try:
            if segment.kind == "patches":
                parts.append(make_plan(graph, segment.p, segment.n))
            elif segment.kind == "rows":
                parts.append(make_row_plan(graph, segment.n, start, segment.g, segment.ch, segment.strips))
        except ScheduleError as err:
            raise ScheduleError(f"{where} (layers {start}..{start + segment.n - 1}): {err}") from None
        start += segment.n
    op_layer = {
        op.name: name for name, layer in zip(graph.layer_names, graph.layers, strict=True) for op in layer
    }
    return StagedPlan(
        graph_name=graph.name,
        schedule=schedule,
        parts=tuple(parts),
        macs_per_layer=sum(op_macs(graph, op) for op in graph.ops),
        graph_inputs=tuple(graph.inputs),
        op_layer=MappingProxyType(op_layer),
    )


def restage_plan(graph: Graph, plan: StagedPlan) -> StagedPlan:
    """``plan`` made again for a rewrite of its graph (fusion.fold_pads)."""
    parts = tuple(
        restage(graph, part) if isinstance(part, PatchPlan) else restage_rows(graph, part)
        for part in plan.parts
    )
    macs = sum(op_macs(graph, op) for op in graph.ops)
    return StagedPlan(plan.graph_name, plan.schedule, parts, macs, tuple(graph.inputs), plan.op_layer)


GROUPS_TRIED = (16, 8, 6, 5, 4, 3, 2)  # rows per step widen_rows tries for a segment, most first


def widen_rows(graph: Graph, schedule: Schedule | str, cost: Callable[[Schedule], int]) -> Schedule:
    """``schedule`` with each row-streamed segment taking as many rows per step (g) as it can without
    raising ``cost`` (the planned arena, say: ``cost(schedule)`` in bytes): fewer kernel calls and ring
    shifts where a segment's larger rings fit below the peak another segment sets. Segments in order,
    each at the largest g of GROUPS_TRIED whose schedule costs no more than the original (g kept where
    none does; a g its segment cannot take is skipped)."""

    def wider(segment: Segment, part: RowPlan) -> list[Segment]:
        tallest = max(graph.tensor(graph.op(name).outputs[0]).shape[1] for name in part.stage_ops)
        return [replace(segment, g=group) for group in GROUPS_TRIED if segment.g < group <= tallest]

    return _widen(graph, _as_schedule(schedule), cost, wider)


def widen_slices(graph: Graph, schedule: Schedule | str, cost: Callable[[Schedule], int]) -> Schedule:
    """``schedule`` with each row-streamed segment's channel slices (``ch``, rows.py) as wide as they can
    be without raising ``cost`` (the planned arena): all the channels in one call where that costs no
    more, else the largest divisor of the conv's output channels (a multiple of four) that does; fewer
    kernel calls, each reading the conv's input once more. A segment without ch is left as it is."""

    def wider(segment: Segment, part: RowPlan) -> list[Segment]:
        if not segment.ch or part.chunked is None:
            return []
        channels = graph.tensor(graph.op(part.chunked).outputs[0]).shape[-1]
        sizes = [c for c in range(channels // 2, segment.ch, -1) if channels % c == 0 and c % 4 == 0]
        return [replace(segment, ch=ch) for ch in [0, *sizes]]

    schedule = _as_schedule(schedule)
    if not any(segment.ch for segment in schedule.segments):
        return schedule
    return _widen(graph, schedule, cost, wider)


def _widen(
    graph: Graph,
    schedule: Schedule,
    cost: Callable[[Schedule], int],
    wider: Callable[[Segment, RowPlan], list[Segment]],
) -> Schedule:
    """``schedule`` with each row-streamed segment in turn replaced by the first of ``wider(segment, its
    plan)`` that plans and costs no more than ``schedule`` (kept where none does)."""
    if schedule.is_patch_stage:
        return schedule
    limit = cost(schedule)
    plan = make_schedule_plan(graph, schedule)
    rows_parts = iter(part for part in plan.parts if isinstance(part, RowPlan))
    segments = list(schedule.segments)
    for index, segment in enumerate(segments):
        if segment.kind != "rows":
            continue
        for candidate in wider(segment, next(rows_parts)):
            trial = replace(schedule, segments=(*segments[:index], candidate, *segments[index + 1 :]))
            try:
                make_schedule_plan(graph, trial)
            except ScheduleError:
                continue
            if cost(trial) <= limit:
                segments[index] = candidate
                break
    return replace(schedule, segments=tuple(segments))


def _as_schedule(schedule: Schedule | str) -> Schedule:
    if isinstance(schedule, str):
        try:
            return parse_schedule(schedule)
        except ScheduleNameError as err:
            raise ScheduleError(str(err)) from None
    return schedule
