# SPDX-License-Identifier: Apache-2.0
"""Patch-based scheduling (MCUNetV2): patch plans, the host patch executor, the analytic profiler, the
arena planner and the (p, n) search.

- plan.py: ``make_plan(graph, p, n) -> PatchPlan`` (regions and border pads of every patch)
- executor.py: ``run_patched`` (bit-exact with the reference), ``run_in_arena`` (proves an arena plan)
- profile.py: ``profile``, ``profile_table``, ``table1`` (the paper's accounting, input counted/streamed)
- arena.py: ``plan_arena(graph, plan, input_mode, scratch, inplace) -> ArenaPlan`` (in-place depthwise
  with its row schedule, ``depthwise_inplace_schedule``)
- fusion.py: residual ADDs run as the epilogue of the 1x1 conv producing an operand (per layer, and in
  the patch stage unless ``InplacePolicy.residual_add_in_stage`` is off); ``fold_pads`` folds PAD / PADV2 into the conv or max pool reading it where exact
- search.py: ``search`` / ``auto`` over (p, n) for an SRAM (and flash) budget; ``smallest_within`` (a MAC
  cap) and ``pareto``
- segment_search.py: msf-CNN's formulation (segments as edges of the layer-boundary graph): ``pareto_paths``,
  ``least_memory``, ``fewest_macs``; ``search(..., method="segments")`` plans its Pareto paths
- synthetic.py: small random quantized conv stacks for tests
"""

from harness.schedule.arena import ArenaPlan, InplacePolicy, plan_arena
from harness.schedule.plan import PatchPlan, Region, ScheduleError, make_plan
from harness.schedule.profile import MemoryProfile, profile, profile_table
from harness.schedule.search import SearchResult, auto, search

__all__ = [
    "ArenaPlan",
    "InplacePolicy",
    "MemoryProfile",
    "PatchPlan",
    "Region",
    "ScheduleError",
    "SearchResult",
    "auto",
    "make_plan",
    "plan_arena",
    "profile",
    "profile_table",
    "search",
]
