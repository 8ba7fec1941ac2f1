# SPDX-License-Identifier: Apache-2.0
"""``patchbench figure6``: the paper's Figure 6 on the emulator, measured and printed.

It runs ``sweeps/figure6.toml`` through the benchmark tests (``bench``: the rows land in the results
database and the run gets its report, whose Figure 6 section draws the same table), then prints the
table from the database rows of that run (harness/report/figure6.py), and, for each row, where the
per-layer and the patch point's planned arenas reach their top and which buffers are alive there (today's
planner, not a stored figure): what keeps the reduction where it is. ``--run ID`` prints a stored run's table without measuring.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.cli.registry import CommandError, arg, command
from harness.ir.schedule_name import point_schedule

KB = 1024


def figure6_sweep() -> Path:
    from harness.paths import SWEEPS_DIR

    return SWEEPS_DIR / "figure6.toml"


@command(
    "figure6",
    "the paper's Figure 6 (sweeps/figure6.toml): per-layer vs the best 2x2 / 3x3 point, input streamed",
    arg("--sweep", default=None, help="the sweep to run (default: sweeps/figure6.toml)"),
    arg("--models", default=None, help="comma-separated models, overriding the sweep's"),
    arg("--results", default=None, help="the results database (default: build/results.sqlite)"),
    arg("--report", default=None, help="the report folder (default: build/report)"),
    arg("--jobs", "-j", default="auto", help="parallel emulators (pytest-xdist -n); 0 runs in-process"),
    arg("--run", default=None, help="print the table of this stored run instead of measuring"),
    arg("--no-why", action="store_true", help="leave out where each patch point's arena peaks"),
)
def figure6(args: argparse.Namespace) -> int:
    from harness.cli.commands import bench
    from harness.report.figure6 import COLUMNS, stored_rows, summary_line
    from harness.results.db import ResultsDB
    from harness.results.table import format_table

    results = _results_path(args)
    run_id = args.run
    if run_id is None:
        before = _run_ids(results)
        code = bench(_bench_args(args))
        if code not in (0, 1):
            return code  # a usage error, or the session itself failed: bench said why
        new = [run for run in _run_ids(results) if run not in before]
        if len(new) != 1:
            raise CommandError(f"expected the sweep to store one new run in {results}, found {new or 'none'}")
        run_id = new[0]
    if not results.is_file():
        raise CommandError(f"results database {results} not found; run `patchbench figure6` first")
    with ResultsDB(results) as db:
        if run_id not in db.run_ids():
            raise CommandError(f"no run {run_id!r} in {results}; latest: {', '.join(db.run_ids()[-5:])}")
        rows = stored_rows(db, run_id)
    if not rows:
        raise CommandError(
            f"run {run_id} has no per-layer point beside a 2x2 / 3x3 point with the input streamed"
        )
    print(f"Figure 6, run {run_id} ({results}): measured peak SRAM, per-layer (input in SRAM) vs the best")
    print("2x2 / 3x3 patch point or schedule of segments (input streamed); emulator latency is instructions")
    print(format_table(COLUMNS[:-1], [row.cells()[:-1] for row in rows]))
    print(summary_line(rows))
    for row in rows:
        print(f"{row.model}: per-patch peak at {row.peak_at or '—'}")
    if not args.no_why:
        print(
            "where each arena reaches its top and what is alive there (the planner as it is now, kernel scratch included):"
        )
        for row in rows:
            print(_why(row.model, "per-layer"))
            if row.per_patch is not None:
                patch = row.per_patch
                print(_why(row.model, point_schedule(patch["p"], patch["n"], patch.get("segments") or "")))
    return 0 if all(row.exact for row in rows) else 1


def _bench_args(args: argparse.Namespace) -> argparse.Namespace:
    return argparse.Namespace(
        sweep=args.sweep or str(figure6_sweep()),
        target=[],
        models=args.models,
        patches=None,
        depths=None,
        schedules=None,
        engines=None,
        kernels=None,
        input_modes=None,
        backend="qemu",
        farm=None,
        results=args.results,
        report=args.report,
        baseline=None,
        jobs=args.jobs,
    )


def _results_path(args: argparse.Namespace) -> Path:
    from harness.paths import BUILD_DIR

    return Path(args.results) if args.results else BUILD_DIR / "results.sqlite"  # bench's default


def _run_ids(results: Path) -> list[str]:
    from harness.results.db import ResultsDB

    if not results.is_file():
        return []
    with ResultsDB(results) as db:
        return db.run_ids()


def _why(model: str, schedule: str) -> str:
    """Where the firmware's arena of ``model`` under ``schedule`` (a label) reaches its top, and what is
    alive there (the plan the code generator gives the firmware, with its kernels' scratch; input streamed
    but per layer)."""
    import models
    from harness.codegen import CodegenOptions
    from harness.codegen.layout import plan_model_arena
    from harness.schedule.segments import make_schedule_plan

    graph = models.get_model(model)
    plan = make_schedule_plan(graph, schedule)
    input_mode = "counted" if plan.is_per_layer else "streamed"
    arena = plan_model_arena(graph, plan, CodegenOptions(input_mode=input_mode))
    step, alive = arena.high_water()
    op = arena.steps[step]
    stage = "the patch stage" if plan.p > 0 else "its segments"  # StagedPlan.p is 0
    where = "" if plan.is_per_layer else f" in {stage}" if op in plan.stage_ops else f" after {stage}"
    buffers = ", ".join(f"{b.name} ({b.kind}, {b.size / KB:.1f} kB)" for b in alive)
    return f"  {model} {plan.label}: arena {arena.arena_bytes / KB:.1f} kB, top at {op}{where}: {buffers}"
