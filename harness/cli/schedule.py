# SPDX-License-Identifier: Apache-2.0
"""The scheduling commands of ``patchbench`` (registered in harness/cli/registry.py): ``profile`` and ``table1``."""

from __future__ import annotations

import argparse
import sys

from harness.cli.registry import CommandError, arg, command
from harness.schedule.arena import INPLACE_POLICIES, InplacePolicy, plan_arena
from harness.schedule.fusion import FoldedSchedule, fold_pads
from harness.schedule.plan import PatchPlan, make_plan
from harness.schedule.profile import (
    INPUT_MODES,
    KB,
    RULES,
    format_table1,
    paper_patch_depth,
    profile,
    profile_table,
)
from harness.schedule.search import parse_size, search


@command(
    "profile",
    "analytic per-layer vs per-patch memory and MACs of a model, under a given or a searched schedule",
    arg("model", help="a zoo name, an MLPerf Tiny name or a .tflite path"),
    arg("--patches", type=int, default=None, help="patches per side p (1 = per-layer)"),
    arg("--depth", type=int, default=None, help="patch-stage depth n in layers (default: the paper's split)"),
    arg("--sram-budget", default=None, help="search every (p, n) for this SRAM budget, e.g. 256kB"),
    arg("--flash-budget", default=None, help="with --sram-budget: flash budget, e.g. 1MB"),
    arg("--input", choices=INPUT_MODES, default="counted", help="input image counted in SRAM or streamed"),
    arg(
        "--memory", choices=("arena", "analytic"), default="arena", help="what --sram-budget is compared with"
    ),
    arg("--rules", choices=sorted(RULES), default="paper", help="analytic accounting (default: paper)"),
    arg(
        "--inplace",
        choices=sorted(INPLACE_POLICIES),
        default="row_buffered",
        help="in-place kernels the arena may use (default: row_buffered, see harness/schedule/arena.py)",
    ),
    arg("--svg", default=None, help="also write the memory-profile chart to this .svg file"),
)
def profile_command(args: argparse.Namespace) -> int:
    import models

    graph = models.get_model(args.model)
    fits = True
    if args.sram_budget is not None:
        if args.patches is not None or args.depth is not None:
            raise CommandError("give either --patches/--depth or --sram-budget, not both")
        flash = parse_size(args.flash_budget) if args.flash_budget else None
        result = search(
            graph,
            parse_size(args.sram_budget),
            flash,
            input_mode=args.input,
            memory=args.memory,
            inplace=INPLACE_POLICIES[args.inplace],
        )
        print(result.summary())
        chosen = result.best or result.smallest
        fits = result.best is not None
        plan = chosen.plan
    elif args.patches is None:
        if args.depth is not None:
            raise CommandError("--depth needs --patches")
        plan = make_plan(graph, 1, 0)
    else:
        depth = (
            args.depth if args.depth is not None else (paper_patch_depth(graph) if args.patches > 1 else 0)
        )
        plan = make_plan(graph, args.patches, depth)
    _print_profile(graph, plan, args.input, RULES[args.rules], INPLACE_POLICIES[args.inplace])
    if args.svg:
        from harness.pipeline.analysis import point_analysis
        from harness.report.plots import memory_profile_svg

        budget = parse_size(args.sram_budget) if args.sram_budget else None
        with open(args.svg, "w") as handle:
            handle.write(
                memory_profile_svg(point_analysis(graph, plan, RULES[args.rules]), budget, args.input)
            )
        print(f"memory profile chart: {args.svg}")
    return 0 if fits else 1


def _print_profile(graph, plan: PatchPlan, input_mode: str, rules, inplace: InplacePolicy) -> None:
    table = profile_table(graph, plan, rules)
    shown = table.assign(
        macs_per_layer=(table["macs_per_layer"] / 1e6).round(2),
        macs_scheduled=(table["macs_scheduled"] / 1e6).round(2),
    ).rename(columns={"macs_per_layer": "MMACs_per_layer", "macs_scheduled": "MMACs_scheduled"})
    print(f"schedule: {plan.describe()}; input image {input_mode}; {rules.name} memory rules")
    print(shown.to_string(index=False, float_format=lambda v: f"{v:.1f}"))
    result = profile(graph, plan, rules)
    runs = fold_pads(graph, plan) if inplace.fold_pads else FoldedSchedule(graph, plan, ())
    arena = plan_arena(runs.graph, runs.plan, input_mode, inplace=inplace)
    for fold in runs.folds:
        print(f"fused: {fold.describe()}")
    print(
        f"peak: per-layer {result.peak_per_layer / KB:.1f} kB, scheduled {result.peak(input_mode) / KB:.1f} kB "
        f"(input {input_mode}; analytic), arena {arena.arena_bytes / KB:.1f} kB (planned, reference kernels, in-place {inplace.depthwise})"
    )
    if not plan.is_per_layer:
        h, w = plan.input_patch_shape()
        print(
            f"MACs: {plan.macs_per_layer / 1e6:.1f}M per-layer, {plan.macs / 1e6:.1f}M scheduled "
            f"(+{plan.mac_overhead:.1%}; patch stage +{plan.stage_mac_overhead:.1%}); input patch {h}x{w}"
        )
    else:
        print(f"MACs: {plan.macs_per_layer / 1e6:.1f}M")


@command("table1", "the paper's Table 1 (MbV2 and MbV2-RD at 224, 4x4 patches) beside ours")
def table1_command(args: argparse.Namespace) -> int:
    from harness.schedule.profile import TABLE1_TOLERANCE, table1, table1_comparison

    rows = table1()
    print(format_table1(rows))
    checked = table1_comparison(rows)
    checked = checked[checked["checked"]]
    outside = checked[checked["diff"].abs() > TABLE1_TOLERANCE]
    if len(outside):
        print(f"{len(outside)} figure(s) differ from the paper by more than 5%", file=sys.stderr)
        return 1
    print(f"all {len(checked)} figures within 5% of the paper")
    return 0
