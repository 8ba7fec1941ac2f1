"""Patch-based scheduling: patch plans, the host patch executor, the analytic profiler, the arena
planner and the (p, n) search. See plan.py for what a plan holds and profile.py for the accounting."""

from harness.schedule.plan import PatchPlan, Region, ScheduleError, make_plan

__all__ = ["PatchPlan", "Region", "ScheduleError", "make_plan"]
