# SPDX-License-Identifier: Apache-2.0
"""The ``search`` command: the schedule search's objectives over every (p, n) of a model.

- ``fewest-macs``: the schedule with the fewest MACs that fits the SRAM (and flash) budget (the paper's
  choice; ``SearchResult.best``);
- ``smallest-sram``: the schedule that needs the least SRAM, under an optional MAC cap
  (``SearchResult.smallest_within``);
- ``pareto``: the (SRAM, MACs) Pareto set (``SearchResult.pareto``).

The search is analytic: it plans every schedule, it runs none, so MACs stand for latency (a MAC cap is
the latency cap it can apply). Measured latency's Pareto set is the HTML report's (per model and board).
"""

from __future__ import annotations

import argparse
import re

from harness.cli.registry import CommandError, arg, command
from harness.schedule.arena import INPLACE_POLICIES
from harness.schedule.profile import INPUT_MODES, KB
from harness.schedule.search import Candidate, SearchResult, parse_size, search

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
    "the (SRAM, MACs) Pareto set",
    arg("model", help="a zoo name, an MLPerf Tiny name or a .tflite path"),
    arg("--objective", choices=OBJECTIVES, default="all", help="what to print (default: all three)"),
    arg(
        "--target", default=None, help="take the SRAM and flash budgets from this board (targets/<name>.toml)"
    ),
    arg("--sram-budget", default=None, help="SRAM budget, e.g. 256kB (overrides --target's)"),
    arg("--flash-budget", default=None, help="flash budget, e.g. 1MB (overrides --target's)"),
    arg("--max-macs", default=None, help="smallest-sram: MAC cap, e.g. 30M (stands for a latency cap)"),
    arg(
        "--max-overhead",
        default=None,
        help="smallest-sram: MAC cap as MACs above per-layer inference's, e.g. 20%%",
    ),
    arg("--input", choices=INPUT_MODES, default="streamed", help="input image counted in SRAM or streamed"),
    arg("--memory", choices=("arena", "analytic"), default="arena", help="the SRAM need compared"),
    arg("--inplace", choices=sorted(INPLACE_POLICIES), default="row_buffered", help="in-place kernels"),
)
def search_command(args: argparse.Namespace) -> int:
    import models

    if args.max_macs is not None and args.max_overhead is not None:
        raise CommandError("give --max-macs or --max-overhead, not both")
    sram_budget, flash_budget = _budgets(args)
    if args.objective == "fewest-macs" and sram_budget is None:
        raise CommandError("fewest-macs needs a budget: give --sram-budget or --target")
    graph = models.get_model(args.model)
    result = search(
        graph,
        sram_budget or _NO_BUDGET,
        flash_budget,
        input_mode=args.input,
        memory=args.memory,
        inplace=INPLACE_POLICIES[args.inplace],
    )
    per_layer = next(c for c in result.candidates if c.p == 1)
    cap = parse_count(args.max_macs) if args.max_macs is not None else None
    if args.max_overhead is not None:
        cap = int(per_layer.macs * (1 + parse_percent(args.max_overhead)))
    budgeted = sram_budget is not None
    what = f"{result.memory} SRAM, input {result.input_mode}"
    print(
        f"{graph.name}: {len(result.candidates)} schedules searched ({what}; "
        + (f"budget {sram_budget / KB:,.1f} kB SRAM" if budgeted else "no SRAM budget")
        + (f", {flash_budget / KB:,.1f} kB flash" if flash_budget is not None else "")
        + f"); per-layer {per_layer.macs / 1e6:,.2f}M MACs"
    )
    code = 0
    if args.objective in ("all", "fewest-macs") and budgeted:
        print(f"\nfewest MACs within the budget: {result.summary()}")
        if result.best is not None:
            _print_table(result, [result.best], per_layer, budgeted)
        else:
            code = 1
    if args.objective in ("all", "smallest-sram"):
        chosen = result.smallest_within(cap)
        limit = "no MAC cap" if cap is None else f"at most {_macs(cap)} MACs"
        if chosen is None:
            cheapest = min(c.macs for c in result.candidates)
            print(
                f"\nsmallest SRAM ({limit}): no schedule is that cheap; the cheapest needs {_macs(cheapest)} MACs"
            )
            code = 1
        else:
            print(
                f"\nsmallest SRAM ({limit}): {chosen.label()} needs {chosen.sram_bytes / KB:,.1f} kB ({what})"
            )
            _print_table(result, [chosen], per_layer, budgeted)
            if budgeted and not chosen.fits:
                code = 1
    if args.objective in ("all", "pareto"):
        front = result.pareto
        print(
            f"\nPareto set of (SRAM, MACs): {len(front)} of {len(result.candidates)} schedules "
            "(no other needs less SRAM without more MACs; by SRAM)"
        )
        _print_table(result, front, per_layer, budgeted)
    return code


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


def _print_table(result: SearchResult, rows: list[Candidate] | tuple[Candidate, ...], per_layer: Candidate,
                 budgeted: bool) -> None:  # fmt: skip
    header = f"  {'schedule':<10} {'SRAM kB':>9} {'arena kB':>9} {'analytic kB':>11} {'MACs M':>9} {'vs per-layer':>12}"
    print(header + ("  fits" if budgeted else ""))
    for c in rows:
        overhead = c.macs / per_layer.macs - 1
        line = (
            f"  {c.label():<10} {c.sram_bytes / KB:>9.1f} {c.arena_bytes / KB:>9.1f} {c.analytic_bytes / KB:>11.1f}"
            f" {c.macs / 1e6:>9.2f} {overhead:>+12.1%}"
        )
        print(line + (f"  {'yes' if c.fits else 'no'}" if budgeted else ""))
