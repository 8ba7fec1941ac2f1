# SPDX-License-Identifier: Apache-2.0
"""Scheduling: patch plans (MCUNetV2), row-streamed segments, plans of several segments, the host
executors, the analytic profiler, the arena planner and the (p, n) search.

A schedule is a list of segments over ``Graph.layers`` (harness/ir/schedule_name.py: ``Schedule``,
``Segment``, ``parse_schedule``; labels ``per-layer``, ``p=4 n=5``, ``rows n=12``,
``p=2 n=3 + rows n=6``, ``rows n=3 + per-layer n=1 + rows n=2``). The API, for any schedule:

    plan = make_schedule_plan(graph, "rows n=3 + rows n=1")   # PatchPlan | StagedPlan (or a Schedule)
    plan.label, plan.macs, plan.mac_overhead                  # no recomputation in row segments
    profile(graph, plan).peak("streamed")                     # analytic bytes, input streamed / "counted"
    arena = plan_arena(graph, plan, "streamed", scratch)      # planned bytes (``rows`` ring buffers)
    run_schedule(graph, plan, x)                              # host run, bit-exact with the reference
    run_in_arena(graph, plan, arena, x)                       # the same inside the planned arena

- plan.py: ``make_plan(graph, p, n) -> PatchPlan`` (regions and border pads of every patch)
- rows.py: ``make_row_plan(graph, n, start) -> RowPlan``: layers start..start+n row-streamed (full-width
  rows, each conv / pool input and residual shortcut a ring of the rows its windows still need; the
  steps in demand order, ring capacities, the shifts that keep each ring's rows contiguous)
- segments.py: ``make_schedule_plan(graph, schedule) -> PatchPlan | StagedPlan`` (a patch stage first,
  row-streamed segments, per-layer layers between and after; one-stage schedules give today's PatchPlan)
- executor.py: ``run_patched`` (bit-exact with the reference), ``run_schedule`` (any plan; row segments
  with real rings that fail on a row read after it was dropped), ``run_in_arena`` (proves an arena plan)
- profile.py: ``profile``, ``profile_table``, ``table1`` (the paper's accounting, input counted/streamed;
  ``row_stage_bytes``: a row segment's rings, output, inputs and what is alive across it)
- arena.py: ``plan_arena(graph, plan, input_mode, scratch, inplace) -> ArenaPlan`` (in-place depthwise
  with its row schedule, ``depthwise_inplace_schedule``; ``rows`` buffers for row segments' rings)
- fusion.py: residual ADDs run as the epilogue of the 1x1 conv producing an operand (per layer, and in
  the patch stage unless ``InplacePolicy.residual_add_in_stage`` is off); ``fold_pads`` folds PAD / PADV2 into the conv or max pool reading it where exact
- search.py: ``search`` / ``auto`` over (p, n) for an SRAM (and flash) budget; ``smallest_within`` (a MAC
  cap) and ``pareto``
- segment_search.py: msf-CNN's formulation (segments as edges of the layer-boundary graph): ``pareto_paths``,
  ``least_memory``, ``fewest_macs``; ``search(..., method="segments")`` plans its Pareto paths
- synthetic.py: small random quantized conv stacks for tests
"""

from harness.schedule.arena import ArenaPlan, InplacePolicy, plan_arena
from harness.schedule.executor import run_in_arena, run_schedule
from harness.schedule.plan import PatchPlan, Region, ScheduleError, make_plan
from harness.schedule.profile import MemoryProfile, profile, profile_table
from harness.schedule.rows import RowPlan, make_row_plan
from harness.schedule.search import SearchResult, auto, search
from harness.schedule.segments import StagedPlan, make_schedule_plan

__all__ = [
    "ArenaPlan",
    "InplacePolicy",
    "MemoryProfile",
    "PatchPlan",
    "Region",
    "RowPlan",
    "ScheduleError",
    "SearchResult",
    "StagedPlan",
    "auto",
    "make_plan",
    "make_row_plan",
    "make_schedule_plan",
    "plan_arena",
    "profile",
    "profile_table",
    "run_in_arena",
    "run_schedule",
    "search",
]
