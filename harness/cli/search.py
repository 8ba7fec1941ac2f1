# SPDX-License-Identifier: Apache-2.0
"""The ``search`` command: the schedule search's objectives over the schedules of a model.

By default the schedules are those on the Pareto set of msf-CNN's boundary graph (``--method segments``,
harness/schedule/segment_search.py: layers' boundaries as nodes, segments as edges with a memory cost (what
the arena planner's buffers cover at the segment's steps, the segment planned alone; ``--memory analytic``:
the paper's figure) and a MAC cost: per layer, a patch stage over the first layers (``--patches``), row-
streamed spans anywhere (``--no-rows`` leaves them out)), each then planned whole and ranked by its arena;
``--method every`` plans every (p, n). A chosen schedule beyond one patch stage is set beside MCUNetV2's
(p, n) point needing the least SRAM of those needing as much or more.

- ``fewest-macs``: the schedule with the fewest MACs that fits the SRAM (and flash) budget (the paper's
  choice; ``SearchResult.best``);
- ``smallest-sram``: the schedule that needs the least SRAM, under an optional MAC cap
  (``SearchResult.smallest_within``);
- ``pareto``: the (SRAM, MACs) Pareto set (``SearchResult.pareto``).

The search is analytic: it plans every schedule, it runs none, so MACs stand for latency (a MAC cap is
the latency cap it can apply). Measured latency's Pareto set is the HTML report's (per model and board).

Input mode: the search ranks schedules with the input image as ``--input`` says (streamed by default: read
tile by tile, as the paper measures; per-layer inference reads it whole, so a per-layer point counts it
either way) and prints the other mode's need beside, streamed first, as ``check`` does: a counted image can
hide the whole gain of patches on a float-input model.

``--run`` measures the chosen point on the board's emulator (the least SRAM under the MAC cap when one is
given, else the fewest MACs within the SRAM budget) through ``harness.pipeline.measure`` and prints its
line as ``python -m harness.pipeline.measure`` does (SRAM measured, instructions, the bit-exact verdict),
storing it as a run of its own in the results database (``--results``; default build/results.sqlite);
``--beside`` measures MCUNetV2's point beside it in the same run and prints both instruction counts.
"""

from __future__ import annotations

import argparse
import re

from harness.boards.registry import BACKEND_NAMES
from harness.cli.registry import CommandError, arg, command
from harness.schedule.arena import INPLACE_POLICIES
from harness.schedule.profile import INPUT_MODES, KB
from harness.schedule.search import DEFAULT_PATCHES, METHODS, Candidate, SearchResult, parse_size, search

OBJECTIVES = ("all", "fewest-macs", "smallest-sram", "pareto")
_COUNT_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9}
# No budget given: every schedule "fits" (the smallest-SRAM and Pareto objectives need none).
_NO_BUDGET = 1 << 62


def parse_count(text: str) -> int:
    """'30M' / '1.5G' / '250k' / '30000000' -> a MAC count (decimal units: M = 10^6, as MACs are quoted)."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kmg]?)\s*(macs?)?\s*", text.lower())
    if match is None:
        raise CommandError(f"MAC count {text!r} not understood; write e.g. 30M, 1.5G or 30000000")
    value = int(round(float(match.group(1)) * _COUNT_UNITS[match.group(2)]))
    if value <= 0:
        raise CommandError(f"MAC count {text!r} must be positive")
    return value


def parse_percent(text: str) -> float:
    """'20%' / '20' -> 0.20 (MACs above per-layer inference's)."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*%?\s*", text)
    if match is None:
        raise CommandError(f"MAC overhead {text!r} not understood; write e.g. 20% (above per-layer's MACs)")
    return float(match.group(1)) / 100


@command(
    "search",
    "search every (p, n) of a model: fewest MACs within an SRAM budget, smallest SRAM under a MAC cap, "
    "the (SRAM, MACs) Pareto set; --run measures the chosen point on the emulator",
    arg("model", help="a zoo name, an MLPerf Tiny name or a .tflite path"),
    arg("--objective", choices=OBJECTIVES, default="all", help="what to print (default: all three)"),
    arg(
        "--target", default=None, help="take the SRAM and flash budgets from this board (targets/<name>.toml)"
    ),
    arg(
        "--sram-budget",
        "--max-sram",
        dest="sram_budget",
        default=None,
        help="SRAM cap, e.g. 256kB (overrides --target's budget): fewest MACs within it",
    ),
    arg("--flash-budget", default=None, help="flash budget, e.g. 1MB (overrides --target's)"),
    arg("--max-macs", default=None, help="smallest-sram: MAC cap, e.g. 30M (stands for a latency cap)"),
    arg(
        "--max-overhead",
        default=None,
        help="smallest-sram: MAC cap as MACs above per-layer inference's, e.g. 20%%",
    ),
    arg(
        "--input",
        choices=INPUT_MODES,
        default="streamed",
        help="the input mode schedules are ranked by (default streamed; the other is printed beside)",
    ),
    arg("--memory", choices=("arena", "analytic"), default="arena", help="the SRAM need compared"),
    arg(
        "--method",
        choices=METHODS,
        default="segments",
        help="segments: msf-CNN's boundary graph, the schedules on its Pareto set (default); every: each (p, n)",
    ),
    arg("--inplace", choices=sorted(INPLACE_POLICIES), default="row_buffered", help="in-place kernels"),
    arg(
        "--rows",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="segments: search row-streamed segments too (default; --no-rows: per layer and one patch stage)",
    ),
    arg(
        "--strips",
        default="2,3,4",
        help="segments: also row-streamed segments in this many column strips, e.g. 2,3,4 (default; the halo "
        "columns recomputed); 'none': full-width rows only",
    ),
    arg(
        "--patches",
        default="2,3,4",
        help="patch grids p of a patch stage, e.g. 2,3,4 (default); 'none': no patch stage (per layer and rows)",
    ),
    arg(
        "--run", action="store_true", help="measure the chosen point on --target's emulator (bit-exact check)"
    ),
    arg(
        "--beside",
        action="store_true",
        help="--run: also measure MCUNetV2's (p, n) point of equal or larger SRAM beside the chosen schedule",
    ),
    arg("--backend", choices=BACKEND_NAMES, default="qemu", help="where --run measures (default qemu)"),
    arg("--repeat", type=int, default=1, help="--run: timed runs (default 1)"),
    arg("--results", default=None, help="--run: the results database (default: build/results.sqlite)"),
)
def search_command(args: argparse.Namespace) -> int:
    import models

    if args.max_macs is not None and args.max_overhead is not None:
        raise CommandError("give --max-macs or --max-overhead, not both")
    if args.run and args.target is None:
        raise CommandError("--run measures on a board: give --target (e.g. --target stm32h743)")
    sram_budget, flash_budget = _budgets(args)
    if args.objective == "fewest-macs" and sram_budget is None:
        raise CommandError("fewest-macs needs a budget: give --sram-budget or --target")
    patches = _patches(args.patches)
    strips = _strips(args.strips)
    # the options read before the search runs: a mistake is one line, at once
    cap = parse_count(args.max_macs) if args.max_macs is not None else None
    overhead = parse_percent(args.max_overhead) if args.max_overhead is not None else None
    if args.run and args.objective == "pareto":
        raise CommandError(_NO_CHOICE)
    graph = models.get_model(args.model)
    options = {"patches": patches, "flash_budget": flash_budget, "memory": args.memory, "rows": args.rows,
               "inplace": INPLACE_POLICIES[args.inplace], "scratch": _scratch(), "method": args.method,
               "strips": strips}  # fmt: skip
    result = search(graph, sram_budget or _NO_BUDGET, input_mode=args.input, **options)
    other_mode = next(mode for mode in INPUT_MODES if mode != args.input)
    points = [c.schedule for c in result.candidates]
    other = search(graph, sram_budget or _NO_BUDGET, input_mode=other_mode, points=points, **options)
    beside = {c.label(): c for c in other.candidates}
    per_layer = next(c for c in result.candidates if c.p == 1)
    if overhead is not None:
        cap = int(per_layer.macs * (1 + overhead))
    budgeted = sram_budget is not None
    print(
        f"{graph.name}: {len(result.candidates)} schedules {_METHOD_WORDS[args.method]} ({result.memory} SRAM; "
        f"{_mode_words(result.input_mode)}, {other_mode} beside; "
        + (f"budget {sram_budget / KB:,.1f} kB SRAM" if budgeted else "no SRAM budget")
        + (f", {flash_budget / KB:,.1f} kB flash" if flash_budget is not None else "")
        + f"); per-layer {per_layer.macs / 1e6:,.2f}M MACs"
    )
    table = _Table(result, beside, other_mode, per_layer, budgeted)
    what = f"{result.memory} SRAM, input {result.input_mode}"
    code = 0
    chosen = beside_point = None
    if args.objective in ("all", "fewest-macs") and budgeted:
        print(f"\nfewest MACs within the budget: {result.summary()}")
        if result.best is not None:
            table.print([result.best])
            chosen = result.best
        else:
            code = 1
    if args.objective in ("all", "smallest-sram"):
        smallest = result.smallest_within(cap)
        limit = "no MAC cap" if cap is None else f"at most {_macs(cap)} MACs"
        if smallest is None:
            cheapest = min(c.macs for c in result.candidates)
            print(
                f"\nsmallest SRAM ({limit}): no schedule is that cheap; the cheapest needs {_macs(cheapest)} MACs"
            )
            code = 1
        else:
            print(
                f"\nsmallest SRAM ({limit}): {smallest.label()} needs {smallest.sram_bytes / KB:,.1f} kB ({what}; "
                f"{beside[smallest.label()].sram_bytes / KB:,.1f} kB input {other_mode})"
            )
            table.print([smallest])
            if budgeted and not smallest.fits:
                code = 1
            if cap is not None or chosen is None:
                chosen = smallest
    if args.objective in ("all", "pareto"):
        front = result.pareto
        print(
            f"\nPareto set of (SRAM, MACs): {len(front)} of {len(result.candidates)} schedules "
            "(no other needs less SRAM without more MACs; by SRAM)"
        )
        table.print(front)
    if chosen is not None and not chosen.is_one_stage:
        beside_point = _print_mcunetv2_beside(
            graph, chosen, result, sram_budget or _NO_BUDGET, options, per_layer
        )
    if args.run:
        if chosen is None:
            raise CommandError(_NO_CHOICE)
        return max(code, _run(args, chosen, beside_point))
    return code


def _print_mcunetv2_beside(graph, chosen: Candidate, result: SearchResult, budget: int, options: dict,
                           per_layer: Candidate) -> Candidate | None:  # fmt: skip
    """MCUNetV2's (p, n) point that needs the least SRAM of those needing at least the chosen schedule's:
    what one patch stage pays (recomputation) to come as close to it."""
    every = search(
        graph,
        budget,
        input_mode=result.input_mode,
        **{**options, "method": "every", "patches": DEFAULT_PATCHES},
    )
    larger = [c for c in every.candidates if c.p > 1 and c.sram_bytes >= chosen.sram_bytes]
    print(
        f"\nbeside {chosen.label()} ({chosen.sram_bytes / KB:,.1f} kB, {chosen.macs / per_layer.macs - 1:+.1%} MACs):"
    )
    if not larger:
        print("  no MCUNetV2 (p, n) point needs as much SRAM or more")
        return None
    best = min(larger, key=lambda c: (c.sram_bytes, c.macs))
    print(
        f"  MCUNetV2's (p, n) point of equal or larger SRAM: {best.label()}, {best.sram_bytes / KB:,.1f} kB, "
        f"{best.macs / per_layer.macs - 1:+.1%} MACs ({best.macs / chosen.macs:.2f}x the chosen schedule's MACs)"
    )
    return best


_NO_CHOICE = (
    "--run measures the chosen point: give a MAC cap (--max-overhead / --max-macs) or an SRAM budget "
    "(--target / --max-sram) with an objective that chooses one (all, fewest-macs, smallest-sram)"
)
_METHOD_WORDS = {
    "segments": "on the Pareto set of msf-CNN's boundary graph (segments as edges, analytic costs) planned",
    "every": "planned (every (p, n))",
}


def _patches(text: str) -> tuple[int, ...]:
    """'2,3,4' -> (1, 2, 3, 4) (per layer always searched); 'none' -> (1,)."""
    from harness.schedule.plan import MAX_PATCHES_PER_SIDE

    if text.strip().lower() == "none":
        return (1,)
    try:
        grids = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        grids = []
    if not grids or not all(2 <= p <= MAX_PATCHES_PER_SIDE for p in grids):
        raise CommandError(
            f"--patches {text!r} not understood; give patch grids in 2..{MAX_PATCHES_PER_SIDE}, e.g. 2,3,4, or 'none'"
        )
    return (1, *grids)


def _strips(text: str) -> tuple[int, ...]:
    """--strips: 'none' or a list of column-strip counts in 2..MAX_STRIPS."""
    from harness.schedule.rows import MAX_STRIPS

    if text.strip().lower() == "none":
        return ()
    try:
        counts = tuple(int(part) for part in text.split(","))
    except ValueError:
        counts = ()
    if not counts or not all(2 <= q <= MAX_STRIPS for q in counts):
        raise CommandError(
            f"--strips {text!r} not understood; give column-strip counts in 2..{MAX_STRIPS}, e.g. 2,3,4, or 'none'"
        )
    return counts


def _mode_words(mode: str) -> str:
    if mode == "streamed":
        return "input streamed (read tile by tile, as the paper measures; per-layer reads the image whole)"
    return "input counted (the whole image in SRAM)"


def _scratch():
    """The default engine's kernel scratch: the arena its firmware would get (what --run measures)."""
    from harness.engines import get_engine

    engine = get_engine()
    return engine.scratch(engine.default_kernels)


def _run(args: argparse.Namespace, chosen: Candidate, beside: Candidate | None) -> int:
    """Measure ``chosen`` (and, with --beside, MCUNetV2's point beside it) on the emulator, print each line
    as harness.pipeline does, store them as one run."""
    import platform
    import time
    import uuid

    from harness.paths import BUILD_DIR
    from harness.results.db import ResultsDB, ResultsError
    from harness.results.environment import describe_environment

    if not 1 <= args.repeat <= 1000:
        raise CommandError(f"--repeat is {args.repeat}; use 1..1000 timed runs")
    results = [_measure(args, chosen)]
    if args.beside and beside is not None:
        results.append(_measure(args, beside))
        mine, theirs = results
        if mine.latency and theirs.latency and mine.latency_unit == theirs.latency_unit:
            print(
                f"\n{chosen.label()}: {mine.latency:,.0f} {mine.latency_unit}, {mine.sram_measured / KB:,.1f} kB "
                f"SRAM measured; MCUNetV2's {beside.label()}: {theirs.latency:,.0f} ({theirs.latency / mine.latency:.2f}x "
                f"the chosen's), {theirs.sram_measured / KB:,.1f} kB"
            )
    path = args.results or str(BUILD_DIR / "results.sqlite")
    run_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
    env = describe_environment()
    try:
        with ResultsDB(path) as db:
            db.start_run(run_id, env.get("git_commit"), platform.node(), env)
            db.add_many(result.as_record(run_id) for result in results)
            db.finish_run(run_id)
    except ResultsError as err:
        print(f"patchbench search: the points were measured but not stored: {err}")
        return 1
    print(f"stored as run {run_id} in {path}")
    return 0 if all(result.status == "passed" for result in results) else 1


def _measure(args: argparse.Namespace, chosen: Candidate):
    from harness.pipeline.measure import measure

    # A per-layer point reads the whole image: its input is counted whatever the search's mode.
    input_mode = "counted" if chosen.p == 1 else args.input
    print(
        f"\nmeasuring {chosen.label()} on {args.target}/{args.backend} (input {input_mode}) ...", flush=True
    )
    result = measure(args.model, args.target, chosen.p, chosen.n, args.backend, args.repeat, warmup=0,
                     input_mode=input_mode, schedule=None if chosen.is_one_stage else chosen.label())  # fmt: skip
    print(result.summary())
    if result.exact is not None:
        verdict = "yes" if result.exact else "NO"
        print(
            f"  bit-exact with the host reference: {verdict}"
            + (f"; oracle: {result.oracle}" if result.oracle else "")
        )
    return result


def _macs(count: int) -> str:
    return f"{count / 1e6:,.2f}M" if count >= 100_000 else f"{count:,}"


def _budgets(args: argparse.Namespace) -> tuple[int | None, int | None]:
    sram = flash = None
    if args.target is not None:
        from harness.firmware.targets import load_target

        target = load_target(args.target)
        sram, flash = target.sram_budget_bytes, target.flash_budget_bytes
    if args.sram_budget is not None:
        sram = parse_size(args.sram_budget)
    if args.flash_budget is not None:
        flash = parse_size(args.flash_budget)
    return sram, flash


class _Table:
    """The rows the command prints: the ranked input mode's need first, the other mode's beside."""

    def __init__(self, result: SearchResult, beside: dict[str, Candidate], other_mode: str, per_layer: Candidate,
                 budgeted: bool):  # fmt: skip
        self.result, self.beside, self.other_mode = result, beside, other_mode
        self.per_layer, self.budgeted = per_layer, budgeted

    def print(self, rows: list[Candidate] | tuple[Candidate, ...]) -> None:
        mode, other = self.result.input_mode, self.other_mode
        width = max([10, *(len(c.label()) for c in rows)])
        header = (
            f"  {'schedule':<{width}} {mode + ' kB':>12} {other + ' kB':>12} {'analytic kB':>11} {'MACs M':>9} "
            f"{'vs per-layer':>12}"
        )
        print(header + ("  fits" if self.budgeted else ""))
        for c in rows:
            overhead = c.macs / self.per_layer.macs - 1
            line = (
                f"  {c.label():<{width}} {c.sram_bytes / KB:>12.1f} {self.beside[c.label()].sram_bytes / KB:>12.1f} "
                f"{c.analytic_bytes / KB:>11.1f} {c.macs / 1e6:>9.2f} {overhead:>+12.1%}"
            )
            print(line + (f"  {'yes' if c.fits else 'no'}" if self.budgeted else ""))
