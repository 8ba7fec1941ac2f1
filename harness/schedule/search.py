# SPDX-License-Identifier: Apache-2.0
"""Schedule search: every (p, n), keep what fits the SRAM (and flash) budget, rank by MACs.

The paper's procedure (METHOD.md): enumerate p in {1, 2, 3, 4} and every valid patch-stage depth n,
keep the schedules that fit, take the one with the least computation. The SRAM a schedule needs is
the planned arena by default (``memory="arena"``: every buffer, scratch and alignment included, what
the firmware allocates) or the paper's analytic peak (``memory="analytic"``). A budget nothing fits
is a result, not an error: ``SearchResult.shortfall`` says what the smallest schedule needs and by how
much it misses.

``method``: ``"every"`` plans every (p, n) (MCUNetV2's enumeration); ``"segments"`` plans only the
schedules on the Pareto set of msf-CNN's boundary graph (schedule/segment_search.py: segments as edges,
analytic costs, near-ties kept), then ranks them by the same measure. Over today's one-stage (p, n)
schedules the two find the same optima; the boundary graph is what stays tractable when segments may
start anywhere and come in several kinds.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from harness.ir.graph import Graph, weight_bytes
from harness.ir.schedule_name import Schedule, ScheduleNameError, parse_schedule, schedule_label
from harness.schedule.arena import DEFAULT_INPLACE, InplacePolicy, ScratchFn, plan_arena, reference_scratch
from harness.schedule.fusion import FoldedSchedule, fold_pads
from harness.schedule.plan import PatchPlan, ScheduleError, make_plan
from harness.schedule.profile import KB, PAPER_RULES, InputMode, MemoryRules, _check_mode, profile
from harness.schedule.segment_search import ArenaCosts, search_points, widen_path_slices
from harness.schedule.segments import StagedPlan, make_schedule_plan, widen_slices

MemoryMeasure = Literal["arena", "analytic"]
SearchMethod = Literal["every", "segments"]
METHODS = ("every", "segments")
DEFAULT_PATCHES = (1, 2, 3, 4)


class NoScheduleFits(ScheduleError):
    """No (p, n) fits the budget; ``result`` holds every candidate and the shortfall."""

    def __init__(self, result: SearchResult):
        super().__init__(result.summary())
        self.result = result


@dataclass(frozen=True)
class Candidate:
    p: int  # a one-stage schedule's (p, n), (1, 0) per layer; (0, 0): a schedule of other segments
    n: int
    plan: PatchPlan | StagedPlan
    sram_bytes: int  # the need compared with the budget (arena or analytic, see SearchResult.memory)
    arena_bytes: int
    analytic_bytes: int
    macs: int
    fits: bool
    schedule: Schedule | None = None  # None: Schedule.from_pn(p, n)

    def label(self) -> str:
        return self.schedule.label if self.schedule is not None else schedule_label(self.p, self.n)

    @property
    def is_one_stage(self) -> bool:
        """Per layer or MCUNetV2's one patch stage: what ``measure(model, target, p, n)`` builds."""
        return self.p > 0


@dataclass(frozen=True)
class SearchResult:
    graph_name: str
    sram_budget: int
    flash_budget: int | None
    flash_bytes: int  # weights + biases (+ the given code size)
    input_mode: InputMode
    memory: MemoryMeasure
    candidates: tuple[Candidate, ...]  # fitting first, then by MACs, SRAM, p
    rejected: tuple[tuple[str, str], ...]  # (schedule or segment, why its plan was refused)

    @property
    def flash_fits(self) -> bool:
        return self.flash_budget is None or self.flash_bytes <= self.flash_budget

    @property
    def fitting(self) -> tuple[Candidate, ...]:
        return tuple(c for c in self.candidates if c.fits)

    @property
    def best(self) -> Candidate | None:
        fitting = self.fitting
        return fitting[0] if fitting else None

    @property
    def smallest(self) -> Candidate:
        """The schedule that needs the least SRAM (ties: fewer MACs)."""
        return min(self.candidates, key=lambda c: (c.sram_bytes, c.macs, c.p))

    def smallest_within(self, max_macs: int | None = None) -> Candidate | None:
        """The schedule needing the least SRAM among those with at most ``max_macs`` MACs (a MAC cap
        stands for a latency cap; None: no cap); None if no schedule is that cheap."""
        capped = [c for c in self.candidates if max_macs is None or c.macs <= max_macs]
        return min(capped, key=lambda c: (c.sram_bytes, c.macs, c.p)) if capped else None

    @property
    def pareto(self) -> tuple[Candidate, ...]:
        """The (SRAM, MACs) Pareto set, by SRAM: no other schedule needs less of one and no more of the
        other. MACs stand for latency here; measured points give the (SRAM, latency) set."""
        front: list[Candidate] = []
        for candidate in sorted(self.candidates, key=lambda c: (c.sram_bytes, c.macs, c.p, c.n)):
            if not front or candidate.macs < front[-1].macs:
                front.append(candidate)
        return tuple(front)

    @property
    def shortfall(self) -> int:
        """Bytes of SRAM the smallest schedule lacks (0 if something fits)."""
        return 0 if self.best is not None else max(self.smallest.sram_bytes - self.sram_budget, 0)

    def rebudget(self, sram_budget: int, flash_budget: int | None = None) -> SearchResult:
        """The same candidates ranked against another budget (no replanning)."""
        flash_ok = flash_budget is None or self.flash_bytes <= flash_budget
        candidates = [
            dataclasses.replace(c, fits=flash_ok and c.sram_bytes <= sram_budget) for c in self.candidates
        ]
        return dataclasses.replace(
            self, sram_budget=sram_budget, flash_budget=flash_budget, candidates=_ranked(candidates)
        )

    def summary(self) -> str:
        what = f"{self.memory} SRAM, input {self.input_mode}"
        if not self.flash_fits:
            return (
                f"{self.graph_name}: needs {self.flash_bytes / KB:.1f} kB flash, budget {self.flash_budget / KB:.1f} kB "
                f"(misses by {(self.flash_bytes - self.flash_budget) / KB:.1f} kB): no schedule fits"
            )
        best = self.best
        if best is not None:
            return (
                f"{self.graph_name}: {best.label()} fits ({best.sram_bytes / KB:.1f} kB {what}, budget "
                f"{self.sram_budget / KB:.1f} kB) with {best.macs / 1e6:.1f}M MACs "
                f"({len(self.fitting)} of {len(self.candidates)} schedules fit)"
            )
        small = self.smallest
        return (
            f"{self.graph_name}: no schedule fits {self.sram_budget / KB:.1f} kB; the smallest, {small.label()}, "
            f"needs {small.sram_bytes / KB:.1f} kB {what} and misses by {self.shortfall / KB:.1f} kB"
        )


def valid_depths(graph: Graph, p: int) -> list[int]:
    """Every n for which make_plan(graph, p, n) succeeds (for p = 1: [0])."""
    if p == 1:
        return [0]
    depths = []
    for n in range(1, len(graph.layers) + 1):
        try:
            make_plan(graph, p, n)
        except ScheduleError:
            continue
        depths.append(n)
    return depths


def search(
    graph: Graph,
    sram_budget: int,
    flash_budget: int | None = None,
    *,
    patches: tuple[int, ...] = DEFAULT_PATCHES,
    input_mode: InputMode = "counted",
    memory: MemoryMeasure = "arena",
    method: SearchMethod = "every",
    rows: bool = True,
    points: Iterable[tuple[int, int] | str | Schedule] | None = None,
    code_bytes: int = 0,
    scratch: ScratchFn = reference_scratch,
    inplace: InplacePolicy = DEFAULT_INPLACE,
    rules: MemoryRules = PAPER_RULES,
    strips: tuple[int, ...] = (),
) -> SearchResult:
    """Every schedule of ``graph`` with its SRAM need and MACs, ranked (see the module docstring);
    ``rows``: method "segments" also searches row-streamed segments (``strips``: also in that many column
    strips, segment_search.segment_options); ``points``: these schedules only
    ((p, n), labels or Schedules: another search's candidates, in another input mode, say)."""
    _check_mode(input_mode)
    if memory not in ("arena", "analytic"):
        raise ScheduleError(f"memory measure {memory!r} unknown; use 'arena' or 'analytic'")
    if sram_budget <= 0:
        raise ScheduleError(f"SRAM budget must be positive, got {sram_budget}")
    if method not in METHODS:
        raise ScheduleError(f"search method {method!r} unknown; use one of {', '.join(METHODS)}")
    flash_bytes = weight_bytes(graph) + code_bytes
    flash_ok = flash_budget is None or flash_bytes <= flash_budget
    candidates, rejected = [], []

    def arena_of(schedule: Schedule):
        plan = make_schedule_plan(graph, schedule)
        runs = fold_pads(graph, plan) if inplace.fold_pads else FoldedSchedule(graph, plan, ())
        return plan, plan_arena(runs.graph, runs.plan, input_mode, scratch=scratch, inplace=inplace)

    if points is not None:
        schedules = [_as_schedule(point) for point in points]
    elif method == "segments":
        costs = ArenaCosts(scratch, inplace) if memory == "arena" else None
        paths, rejected = search_points(
            graph,
            input_mode,
            patches=tuple(p for p in patches if p > 1),
            rows=rows,
            rules=rules,
            arena=costs,
            strips=strips,
        )
        # a global pool's conv on the fewest channels a call costs least; as many as the peak allows (that
        # segment planned alone under the path's memory; without the arena's costs, the whole arena)
        if costs is not None:
            cache: dict[tuple[int, int, int], int] = {}
            found = [widen_path_slices(graph, path, costs, input_mode, cache).schedule for path in paths]
        else:
            found = [
                widen_slices(graph, path.schedule, lambda s: arena_of(s)[1].arena_bytes) for path in paths
            ]
        schedules = list(dict.fromkeys(([Schedule()] if 1 in patches else []) + found))
    else:
        schedules = [
            Schedule.from_pn(p, n)
            for p in patches
            for n in ([0] if p == 1 else range(1, len(graph.layers) + 1))
        ]
    for schedule in schedules:
        try:
            plan, planned = arena_of(schedule)
        except ScheduleError as error:
            rejected.append((schedule.label, str(error)))
            continue
        analytic = profile(graph, plan, rules).peak(input_mode)
        arena = planned.arena_bytes
        need = arena if memory == "arena" else analytic
        p, n = schedule.pn if schedule.is_patch_stage else (0, 0)
        fits = flash_ok and need <= sram_budget
        candidates.append(Candidate(p, n, plan, need, arena, analytic, plan.macs, fits, schedule))
    if not candidates:
        raise ScheduleError(f"graph {graph.name!r}: no schedule at all for p in {patches}")
    return SearchResult(
        graph_name=graph.name,
        sram_budget=sram_budget,
        flash_budget=flash_budget,
        flash_bytes=flash_bytes,
        input_mode=input_mode,
        memory=memory,
        candidates=_ranked(candidates),
        rejected=tuple(rejected),
    )


def _as_schedule(point: tuple[int, int] | str | Schedule) -> Schedule:
    if isinstance(point, Schedule):
        return point
    if isinstance(point, str):
        try:
            return parse_schedule(point)
        except ScheduleNameError as error:
            raise ScheduleError(str(error)) from None
    return Schedule.from_pn(*point)


def _ranked(candidates: list[Candidate]) -> tuple[Candidate, ...]:
    """Fitting first; then fewest MACs, least SRAM, fewest patches."""
    return tuple(sorted(candidates, key=lambda c: (not c.fits, c.macs, c.sram_bytes, c.p, c.n)))


def auto(graph: Graph, sram_budget: int, flash_budget: int | None = None, **options) -> Candidate:
    """The schedule with the fewest MACs that fits; raises NoScheduleFits (with the shortfall) otherwise."""
    result = search(graph, sram_budget, flash_budget, **options)
    if result.best is None:
        raise NoScheduleFits(result)
    return result.best


_UNITS = {"": 1, "b": 1, "k": KB, "kb": KB, "kib": KB, "m": KB * KB, "mb": KB * KB, "mib": KB * KB}


def parse_size(text: str) -> int:
    """'256kB' / '256 KiB' / '1MB' / '262144' -> bytes (k = 1024, as the paper's kB)."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-z]*)\s*", text.lower())
    if match is None or match.group(2) not in _UNITS:
        raise ScheduleError(f"size {text!r} not understood; write e.g. 256kB, 1MB or 262144")
    value = float(match.group(1)) * _UNITS[match.group(2)]
    if value <= 0:
        raise ScheduleError(f"size {text!r} must be positive")
    return int(round(value))
