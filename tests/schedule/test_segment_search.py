# SPDX-License-Identifier: Apache-2.0
"""msf-CNN's boundary-graph search (schedule/segment_search.py): its Pareto paths are exactly those of
every path enumerated, near-ties survive the slack, and over today's (p, n) schedules it finds what the
enumeration finds."""

from __future__ import annotations

import itertools
import random
import re

import pytest

import models
from harness.engines import get_engine
from harness.schedule.plan import ScheduleError
from harness.schedule.search import search
from harness.schedule.segment_search import (
    PATCH,
    PER_LAYER,
    ROWS,
    ArenaCosts,
    SegmentOption,
    fewest_macs,
    least_memory,
    pareto_paths,
    search_points,
    segment_options,
)


def every_path(layers: int, options: list[SegmentOption]):
    """Every path from 0 to ``layers`` as (memory, MACs, segments), by brute force."""

    def walk(node: int):
        if node == layers:
            yield ()
            return
        for option in options:
            if option.start == node:
                for rest in walk(option.end):
                    yield (option, *rest)

    for segments in walk(0):
        yield max(s.memory for s in segments), sum(s.macs for s in segments), segments


def exact_front(paths) -> set[tuple[int, int]]:
    return {
        (m, c)
        for m, c, _ in paths
        if not any((m2 <= m and c2 <= c) and (m2, c2) != (m, c) for m2, c2, _ in paths)
    }


def random_options(rng: random.Random, layers: int) -> list[SegmentOption]:
    options = [
        SegmentOption(i, i + 1, PER_LAYER, 1, rng.randint(50, 400), rng.randint(10, 100))
        for i in range(layers)
    ]
    for start, end in itertools.combinations(range(layers + 1), 2):
        for p in (2, 3, 4):
            if end - start > 1 and rng.random() < 0.4:
                options.append(
                    SegmentOption(
                        start, end, PATCH, p, rng.randint(20, 300), rng.randint(30, 90) * (end - start)
                    )
                )
    return options


@pytest.mark.parametrize("seed", range(8))
def test_the_pareto_paths_are_those_of_every_path_enumerated(seed):
    rng = random.Random(seed)
    layers = rng.randint(3, 7)
    options = random_options(rng, layers)
    paths = list(every_path(layers, options))
    found = pareto_paths(layers, options)
    assert {(p.memory, p.macs) for p in found} == exact_front(paths)
    for path in found:  # each path's figures are its segments' (max, sum), and it runs 0 -> L contiguously
        assert path.memory == max(s.memory for s in path.segments) and path.macs == sum(
            s.macs for s in path.segments
        )
        assert [s.start for s in path.segments] == [0, *(s.end for s in path.segments[:-1])]
        assert path.segments[-1].end == layers
    assert [p.memory for p in found] == sorted(p.memory for p in found)
    # the objectives, read off the front, are the brute force's
    for cap in (min(c for _, c, _ in paths), sorted(c for _, c, _ in paths)[len(paths) // 2], None):
        best = least_memory(found, cap)
        assert (best.memory, best.macs) == min((m, c) for m, c, _ in paths if cap is None or c <= cap)
    for cap in (sorted(m for m, _, _ in paths)[len(paths) // 3], None):
        best = fewest_macs(found, cap)
        assert (best.macs, best.memory) == min((c, m) for m, c, _ in paths if cap is None or m <= cap)
    assert fewest_macs(found, min(m for m, _, _ in paths) - 1) is None


def test_slack_keeps_a_path_beaten_on_memory_by_less_than_it():
    options = [
        SegmentOption(0, 1, PER_LAYER, 1, 100, 10),
        SegmentOption(1, 2, PER_LAYER, 1, 100, 10),  # per layer: (100, 20)
        SegmentOption(0, 2, PATCH, 2, 99, 20),  # beats per layer by 1 % of memory, same MACs
        SegmentOption(0, 2, PATCH, 3, 98, 25),
        SegmentOption(0, 2, PATCH, 4, 99, 30),  # beaten by p=3 on both, by 1 % of memory
    ]
    exact = {(p.memory, p.macs) for p in pareto_paths(2, options)}
    assert exact == {(99, 20), (98, 25)}
    loose = {(p.memory, p.macs) for p in pareto_paths(2, options, slack=0.05)}
    assert loose == exact | {(100, 20), (99, 30)}  # near-ties left for the arena planner to rank
    strict = {(p.memory, p.macs) for p in pareto_paths(2, options, slack=0.005)}
    assert strict == exact  # 1 % is more than half a percent: beaten


def test_a_gap_or_a_stray_segment_is_an_error():
    with pytest.raises(ScheduleError, match="no path of segments covers layers 0..2"):
        pareto_paths(3, [SegmentOption(0, 1, PER_LAYER, 1, 1, 1), SegmentOption(2, 3, PER_LAYER, 1, 1, 1)])
    with pytest.raises(ScheduleError, match="outside layers 0..1"):
        pareto_paths(2, [SegmentOption(0, 3, PATCH, 2, 1, 1)])


@pytest.mark.parametrize("input_mode", ["streamed", "counted"])
def test_over_today_schedules_it_finds_what_the_enumeration_finds(input_mode):
    graph = models.get_model("mcunet-in1")
    every = search(graph, 1 << 40, input_mode=input_mode)
    segments = search(graph, 1 << 40, input_mode=input_mode, method="segments", rows=False)
    assert len(segments.candidates) < len(every.candidates)  # it plans only the front's schedules
    assert [c.label() for c in segments.pareto] == [c.label() for c in every.pareto]
    per_layer = next(c for c in every.candidates if c.p == 1).macs
    for overhead in (0.0, 0.02, 0.1, 0.25, 1.0):
        cap = int(per_layer * (1 + overhead))
        assert segments.smallest_within(cap).label() == every.smallest_within(cap).label()
    for budget in {c.sram_bytes for c in every.pareto}:
        assert segments.rebudget(budget).best.label() == every.rebudget(budget).best.label()
    # without rows: one patch segment from layer 0, per-layer segments after it
    paths, _ = search_points(graph, input_mode, rows=False)
    for path in paths:
        assert path.schedule.is_patch_stage
    options, _ = segment_options(graph, input_mode, rows=False)
    assert {(o.kind, o.start) for o in options if o.kind != PER_LAYER} == {(PATCH, 0)}


@pytest.fixture(scope="module")
def in1_rows():
    graph = models.get_model("mcunet-in1")
    return (
        graph,
        search_points(graph, "streamed"),
        search(graph, 1 << 40, input_mode="streamed", method="segments"),
    )


def _unsliced(label: str) -> str:
    return re.sub(r" ch=\d+", "", label)


def test_row_streamed_segments_anywhere_recompute_nothing_and_need_less(in1_rows):
    graph, (paths, rejected), result = in1_rows
    options, _ = segment_options(graph, "streamed")
    rows = [o for o in options if o.kind == ROWS]
    assert {o.start for o in rows} > {0}  # they start anywhere, not only at the input
    per_layer = {o.start: o for o in options if o.kind == PER_LAYER}
    for option in rows:  # nothing recomputed: a row segment's MACs are its layers' per-layer MACs
        assert option.macs == sum(per_layer[i].macs for i in range(option.start, option.end))
    assert any(what.startswith("rows n=") for what, _ in rejected)  # spans over the global pool, say
    # the front holds a row-streamed schedule at per-layer MACs needing less than per-layer and than any
    # patch schedule with as few MACs
    cheapest = least_memory(paths, min(p.macs for p in paths))
    assert {s.kind for s in cheapest.schedule.segments} <= {ROWS, PER_LAYER} and cheapest.schedule.segments
    assert cheapest.macs == sum(o.macs for o in per_layer.values())
    assert cheapest.memory < max(o.memory for o in per_layer.values())
    # planned (arena) and labelled as a schedule of segments; MCUNetV2's (p, n) stays (p, n)
    # (a global pool's conv on channel slices planned as wide as the arena allows: segments.widen_slices)
    planned = next(c for c in result.candidates if _unsliced(c.label()) == _unsliced(cheapest.label()))
    assert not planned.is_one_stage and (planned.p, planned.n) == (0, 0)
    assert planned.plan.label == planned.label() and planned.macs == cheapest.macs
    assert all(c.is_one_stage == c.schedule.is_patch_stage for c in result.candidates)
    assert planned.arena_bytes < next(c for c in result.candidates if c.p == 1).arena_bytes


def test_arena_costs_are_what_the_planned_arena_occupies(in1_rows):
    """With the arena planner's costs the front's schedule needs, planned whole, about what its largest
    segment occupied planned alone (the same buffers; placement may differ by alignment and order)."""
    graph, _, _ = in1_rows
    engine = get_engine()
    costs = ArenaCosts(engine.scratch(engine.default_kernels))
    paths, _ = search_points(graph, "streamed", arena=costs)
    best = least_memory(paths)
    planned = costs.plan(graph, best.schedule, "streamed")
    assert best.memory <= planned.arena_bytes <= best.memory * 1.10
    analytic, _ = search_points(graph, "streamed")
    assert best.memory >= least_memory(analytic).memory  # kernel scratch is in it, not in the analytic figure
