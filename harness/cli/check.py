# SPDX-License-Identifier: Apache-2.0
"""``patchbench check MODEL.tflite``: will a user's own model run, and how, before anything else.

What it checks, in order, each result in the table it prints (``--json``: the same as one object):

1. Import: the file reads, every op is one patchbench runs, activations are int8. A file that fails
   here (truncated, float-only, an op patchbench has no kernel for) is one line naming the problem,
   the op and its index, and what to do; exit 1.
2. Per op: kind, shapes, the canonicalization rewrite that made it, whether the C kernels run it per
   layer and in the patch stage, and with a DSP kernel or the portable one. The patch stage ends at the
   first op that cannot run patch by patch (a global op: MEAN over H/W, squeeze-excite,
   FULLY_CONNECTED, ...), named.
3. Arithmetic: the reference against LiteRT's BUILTIN_REF interpreter on every tensor, and against
   TFLite Micro on the outputs, for N seeded inputs. A file LiteRT or TFLite Micro cannot load is
   checked as patchbench's canonicalized export (said so).
4. Memory per target: the arena of per-layer inference and of the smallest per-patch schedule with the
   input image streamed (read tile by tile, as the paper measures) and with it counted in SRAM, streamed
   first; then each firmware built for sizing (pipeline/sizing.py: linked, never run), and its flash
   (code and weights; the test input is generated on the device) and SRAM (.data + .bss with the arena, and the
   reserved stack) against the target's budgets: the fit verdict.
5. ``--run``: the per-layer point and the smallest streamed per-patch point on the emulator for the first
   target, bit-exact.

Exit status 0 only when every op runs, the arithmetic agrees, the model fits at least one target and
every ``--run`` point is bit-exact.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness.cli.registry import arg, command
from harness.results.table import format_table

DEFAULT_TARGETS = ("stm32f412", "stm32f746", "stm32h743")
# the smallest per-patch point is shown for both, streamed first: the paper's figure leaves the image out,
# and a counted float-input image can hide the whole gain of patches
PATCH_INPUT_MODES = ("streamed", "counted")
KB = 1024


@dataclass
class OpRow:
    index: int
    name: str
    kind: str
    shapes: str
    rewrite: str
    per_layer: str  # "yes" or why not
    patch_stage: str  # "yes", "no" (after the stage ends), or why not
    kernel: str  # the default engine's kernel for it (its op_kernel: "DSP", "portable"), or "-"


@dataclass
class PatchFit:
    """The smallest per-patch schedule for one input mode, and its sizing build's verdict."""

    input_mode: str  # "streamed" (the image read tile by tile: the paper's figure) or "counted" (in SRAM)
    schedule: str  # the schedule label, "p=4 n=6"
    point: tuple[int, int]  # its (p, n)
    arena: int
    fits: bool = False
    flash: int | None = None  # None: not built (a problem says why)
    sram: int | None = None  # .data + .bss (arena included) + reserved stack


@dataclass
class TargetFit:
    target: str
    sram_budget: int
    flash_budget: int
    weights_bytes: int
    per_layer_arena: int
    per_layer_fits: bool  # the built firmware's flash and SRAM within the budgets
    # the smallest per-patch schedule with the input streamed, then with it counted (none: no p > 1 point)
    smallest_patch: list[PatchFit] = field(default_factory=list)
    # The sizing builds (None: not built, a problem says why): flash = code + weights (the test input is
    # generated on the device: no image in flash).
    per_layer_flash: int | None = None
    per_layer_sram: int | None = None  # .data + .bss (arena included) + reserved stack
    code_bytes: int | None = None  # the per-layer firmware's flash beside the weights

    @property
    def fits(self) -> bool:
        return self.per_layer_fits or any(patch.fits for patch in self.smallest_patch)


@dataclass
class CheckReport:
    model: str
    path: str
    ok: bool = False
    error: str | None = None
    rewrites: list[str] = field(default_factory=list)
    fusions: list[str] = field(default_factory=list)  # per layer: PAD ops folded into their readers
    ops: list[OpRow] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)
    patch_stage: str = ""
    litert: dict = field(default_factory=dict)
    tflm: dict = field(default_factory=dict)
    targets: list[TargetFit] = field(default_factory=list)
    runs: list[dict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@command(
    "check",
    "will this .tflite run: ops, rewrites, kernels, patch stage, LiteRT/TFLite Micro agreement, memory per target",
    arg("model", help="a .tflite file (int8, as the TFLite converter writes it)"),
    arg(
        "--target",
        action="append",
        default=None,
        help=f"a target (repeatable; default {', '.join(DEFAULT_TARGETS)})",
    ),
    arg(
        "--inputs",
        type=int,
        default=20,
        help="seeded inputs for the LiteRT / TFLite Micro comparison (default 20)",
    ),
    arg("--run", action="store_true", help="also run one per-layer and one per-patch point on the emulator"),
    arg("--json", action="store_true", help="print the report as one JSON object"),
)
def check_command(args: argparse.Namespace) -> int:
    report = check(Path(args.model), args.target or list(DEFAULT_TARGETS), args.inputs, args.run)
    if args.json:
        print(json.dumps(asdict(report), indent=2))
    elif report.error:
        print(f"patchbench check: {report.error}", file=sys.stderr)
    else:
        print(format_report(report))
    return 0 if report.ok else 1


def check(path: Path, targets: list[str], inputs: int = 20, run: bool = False) -> CheckReport:
    from harness.frontend import TFLiteImportError
    from harness.frontend.importer import import_tflite

    report = CheckReport(model=path.stem, path=str(path))
    try:
        result = import_tflite(path)
    except TFLiteImportError as error:
        report.error = str(error)
        return report
    graph = result.graph
    report.rewrites = [str(rewrite) for rewrite in result.rewrites]
    _ops(report, graph, result.rewrites)
    if inputs > 0:
        _arithmetic(report, graph, path.read_bytes(), inputs)
    _targets(report, graph, targets)
    if run and not report.unsupported:
        _runs(report, graph, path, targets[0])
    if not any(t.fits for t in report.targets):
        report.problems.append(f"fits none of the targets {', '.join(targets)}")
    report.ok = not report.problems
    return report


# --- the steps ------------------------------------------------------------------------------------


def _ops(report: CheckReport, graph, rewrites) -> None:
    from harness.codegen import unsupported_reason
    from harness.engines import get_engine
    from harness.schedule.fusion import fold_pads
    from harness.schedule.plan import ScheduleError, make_plan
    from harness.schedule.search import valid_depths

    folds = fold_pads(graph, make_plan(graph, 1, 0)).folds
    report.fusions = [fold.describe() for fold in folds]
    folded_into = {fold.pad: fold.into for fold in folds}
    by_op = {}
    for rewrite in rewrites:
        for result in rewrite.result.split(", "):  # a SPLIT becomes several SLICEs
            by_op.setdefault(result, []).append(rewrite.rule)
    depths = valid_depths(graph, 2)
    stage_depth = max(depths, default=0)
    if stage_depth < len(graph.ops):
        stop = graph.ops[stage_depth]
        try:
            make_plan(graph, 2, stage_depth + 1)
            why = ""
        except ScheduleError as error:
            why = str(error)
        report.patch_stage = (
            f"ops 0..{stage_depth - 1} can run patch by patch; op {stage_depth} {stop.name} ({stop.kind}) ends the "
            f"stage: {why}"
            if stage_depth
            else f"no patch stage: op 0 {stop.name} ({stop.kind}) cannot run patch by patch: {why}"
        )
    else:
        report.patch_stage = "every op can run patch by patch"
    engine = get_engine()
    for index, op in enumerate(graph.ops):
        reason = unsupported_reason(graph, op, in_stage=False)
        if reason is not None:
            report.unsupported.append(
                f"op {index} {op.name} ({op.kind}): {reason}; patchbench cannot generate firmware for this "
                "model (file an issue naming the op, or change the model)"
            )
        if index < stage_depth:
            stage_reason = unsupported_reason(graph, op, in_stage=True)
            in_stage = "yes" if stage_reason is None else stage_reason
        else:
            in_stage = "no"
        shapes = " ".join(
            str(list(graph.tensor(n).shape)) for n in op.inputs if n and not graph.tensor(n).is_const
        )
        report.ops.append(
            OpRow(
                index=index,
                name=op.name,
                kind=op.kind,
                shapes=f"{shapes} -> {list(graph.tensor(op.outputs[0]).shape)}",
                rewrite=", ".join(by_op.get(op.name, [])),
                per_layer="yes" if reason is None else reason,
                patch_stage=in_stage,
                kernel="-"
                if reason is not None
                else f"folded into {folded_into[op.name]}"
                if op.name in folded_into
                else engine.op_kernel(graph, op, engine.default_kernels),
            )
        )
    report.problems.extend(report.unsupported)


def _arithmetic(report: CheckReport, graph, data: bytes, count: int) -> None:
    from harness.frontend import graph_from_bytes, graph_to_bytes
    from harness.reference import FC_DOUBLE, FC_FIXED
    from harness.reference.outside import (
        OutsideRuntimeError,
        every_tensor_mismatches,
        output_mismatches,
        run_litert,
        run_tflm,
        seeded_inputs,
    )

    inputs = seeded_inputs(graph, count, seed=1)
    exported_bytes = graph_to_bytes(graph)
    exported = graph_from_bytes(exported_bytes, graph.name)
    try:
        compared, mismatches = every_tensor_mismatches(graph, inputs, run_litert(data, inputs), FC_DOUBLE)
        report.litert = {"checked": "the file", "inputs": count, "tensors_compared": compared}
    except OutsideRuntimeError as error:
        try:
            theirs = run_litert(exported_bytes, inputs)
        except OutsideRuntimeError as export_error:  # LiteRT missing or broken: a finding, not a crash
            report.litert = {"checked": "nothing", "file_error": str(error), "inputs": count}
            report.litert.update(tensors_compared=0, mismatches=[])
            report.problems.append(
                f"LiteRT runs neither the file nor the canonicalized export: {export_error}"
            )
            mismatches = []  # TFLite Micro below may still be the oracle
        else:
            compared, mismatches = every_tensor_mismatches(exported, inputs, theirs, FC_DOUBLE)
            report.litert = {
                "checked": "patchbench's canonicalized export (LiteRT cannot load the file)",
                "file_error": str(error),
                "inputs": count,
                "tensors_compared": compared,
            }
    report.litert["mismatches"] = mismatches
    report.problems.extend(f"LiteRT BUILTIN_REF differs: {line}" for line in mismatches[:5])
    try:
        file_lines = output_mismatches(graph, inputs, run_tflm(data, inputs, len(graph.outputs)), FC_FIXED)
        report.tflm = {"file": "equal" if not file_lines else f"differs on {len(file_lines)} outputs"}
    except OutsideRuntimeError as error:
        file_lines = None
        report.tflm = {"file": f"does not load: {error}"}
    if file_lines is None or file_lines:
        # TFLite Micro on the graph patchbench runs (its rewrites undone by nothing: the same ops).
        try:
            lines = output_mismatches(
                exported, inputs, run_tflm(exported_bytes, inputs, len(graph.outputs)), FC_FIXED
            )
            report.tflm["canonicalized_export"] = "equal" if not lines else f"differs on {len(lines)} outputs"
            report.problems.extend(
                f"TFLite Micro differs on the canonicalized export: {line}" for line in lines[:5]
            )
        except OutsideRuntimeError as error:
            report.tflm["canonicalized_export"] = f"does not load: {error}"
    report.tflm["inputs"] = count


def _targets(report: CheckReport, graph, targets: list[str]) -> None:
    from harness.engines import get_engine
    from harness.firmware.targets import load_target
    from harness.schedule.search import search

    engine = get_engine()
    for name in targets:
        target = load_target(name)
        searched = {
            mode: search(
                graph,
                target.sram_budget_bytes,
                target.flash_budget_bytes,
                input_mode=mode,
                scratch=engine.scratch(engine.default_kernels),
            )
            for mode in PATCH_INPUT_MODES
        }
        per_layer = next(c for c in searched["counted"].candidates if c.p == 1)
        fit = TargetFit(
            target=name,
            sram_budget=target.sram_budget_bytes,
            flash_budget=target.flash_budget_bytes,
            weights_bytes=searched["counted"].flash_bytes,
            per_layer_arena=per_layer.arena_bytes,
            per_layer_fits=False,
        )
        for mode, result in searched.items():
            patched = [c for c in result.candidates if c.p > 1]
            if patched:
                smallest = min(patched, key=lambda c: (c.arena_bytes, c.macs, c.p))
                fit.smallest_patch.append(
                    PatchFit(mode, smallest.label(), (smallest.p, smallest.n), smallest.arena_bytes)
                )
        _size(report, fit, graph, target)
        report.targets.append(fit)


def _size(report: CheckReport, fit: TargetFit, graph, target) -> None:
    """The fit verdicts from the sizing builds of the per-layer and the smallest per-patch firmwares."""
    from harness.engines import get_engine
    from harness.pipeline.measure import POINT_ERRORS
    from harness.pipeline.sizing import firmware_size

    builds = [(None, "counted", 1, 0)] + [
        (patch, patch.input_mode, *patch.point) for patch in fit.smallest_patch
    ]
    for patch, mode, p, n in builds:
        try:
            size = firmware_size(graph, target, p, n, get_engine().options(input_mode=mode))
        except POINT_ERRORS as error:
            report.problems.append(
                f"{target.name} p={p} n={n} ({mode} input): the firmware could not be built to measure its "
                f"flash and SRAM, so the fit is not known: {type(error).__name__}: {str(error).splitlines()[0]}"
            )
            continue
        if patch is None:
            fit.per_layer_flash, fit.per_layer_sram = size.flash_bytes, size.sram_bytes
            fit.code_bytes = size.code_bytes
            fit.per_layer_fits = size.fits(target)
        else:
            patch.flash, patch.sram, patch.fits = size.flash_bytes, size.sram_bytes, size.fits(target)


def _runs(report: CheckReport, graph, path: Path, target: str) -> None:
    from harness.pipeline.measure import measure

    fit = next(t for t in report.targets if t.target == target)
    points = [("counted", 1, 0)] + [(patch.input_mode, *patch.point) for patch in fit.smallest_patch[:1]]
    for mode, p, n in points:
        result = measure(graph, target, p, n, repeat=1, warmup=0, input_mode=mode)
        report.runs.append(
            {
                "target": target,
                "p": p,
                "n": n,
                "input_mode": mode,
                "status": result.status,
                "bit_exact": bool(result.exact),
                "reason": result.reason,
                "latency": result.latency,
                "latency_unit": result.latency_unit,
                # the cycle model's estimate (harness.boards.timing_model), labelled so; None on a board
                "latency_estimated_ms": result.latency_estimated_ms,
                "timing_model": result.timing_model,
                "sram_measured": result.sram_measured,
                "flash_bytes": result.flash_bytes,
            }
        )
        if result.status != "passed":
            report.problems.append(f"{target} p={p} n={n}: {result.status}: {result.reason}")


# --- the printed report ---------------------------------------------------------------------------


def format_report(report: CheckReport) -> str:
    lines = [f"{report.model} ({report.path})", ""]
    lines.append("rewrites:" if report.rewrites else "rewrites: none")
    lines += [f"  {line}" for line in report.rewrites]
    lines.append("fused (per layer):" if report.fusions else "fused (per layer): none")
    lines += [f"  {line}" for line in report.fusions]
    lines.append("")
    columns = ("#", "op", "kind", "shapes", "rewrite", "per layer", "patch stage", "kernel")
    rows = [
        (
            str(r.index),
            r.name,
            r.kind,
            r.shapes,
            r.rewrite or "-",
            _short(r.per_layer),
            _short(r.patch_stage),
            r.kernel,
        )
        for r in report.ops
    ]
    lines += [format_table(columns, rows), "", f"patch stage: {report.patch_stage}", ""]
    if report.litert:
        lit = report.litert
        verdict = "equal" if not lit["mismatches"] else f"{len(lit['mismatches'])} tensors differ"
        lines.append(
            f"LiteRT BUILTIN_REF ({lit['checked']}): {lit['tensors_compared']} tensors over {lit['inputs']} inputs: {verdict}"
        )
        if "file_error" in lit:
            lines.append(f"  the file: {lit['file_error']}")
        tflm = report.tflm
        lines.append(f"TFLite Micro outputs ({tflm['inputs']} inputs): the file: {tflm['file']}")
        if "canonicalized_export" in tflm:
            lines.append(f"  patchbench's canonicalized export: {tflm['canonicalized_export']}")
        lines.append("")
    columns = (
        "target",
        "SRAM",
        "flash",
        "weights",
        "code",
        "per-layer",
        *(f"smallest per-patch, input {mode}" for mode in PATCH_INPUT_MODES),
    )
    rows = []
    for t in report.targets:
        by_mode = {patch.input_mode: patch for patch in t.smallest_patch}
        rows.append(
            (
                t.target,
                f"{t.sram_budget / KB:.0f} kB",
                f"{t.flash_budget / KB:.0f} kB",
                f"{t.weights_bytes / KB:.1f} kB",
                f"{t.code_bytes / KB:.1f} kB" if t.code_bytes is not None else "not built",
                _fit(t.per_layer_arena, t.per_layer_sram, t.per_layer_flash, t.per_layer_fits),
                *(
                    f"{patch.schedule}: {_fit(patch.arena, patch.sram, patch.flash, patch.fits)}"
                    if (patch := by_mode.get(mode))
                    else "-"
                    for mode in PATCH_INPUT_MODES
                ),
            )
        )
    lines += [
        format_table(columns, rows),
        "(per schedule: the arena; the built firmware's SRAM (.data + .bss with the arena, and the reserved "
        "stack) and flash (code and weights; the test input is generated on the device); fits: both within the budgets. "
        "code: the per-layer firmware's flash beside the weights)",
        "",
    ]
    for run in report.runs:
        lines.append(
            f"{run['target']} p={run['p']} n={run['n']} ({run['input_mode']} input): {run['status']}"
            + (
                f", bit-exact, {run['latency']:,.0f} {run['latency_unit']}"
                + (
                    f" ({run['latency_estimated_ms']:,.2f} ms estimated)"
                    if run.get("latency_estimated_ms")
                    else ""
                )
                + f", flash {run['flash_bytes']} B, SRAM measured {run['sram_measured']} B"
                if run["bit_exact"]
                else f": {run['reason']}"
            )
        )
    for problem in report.problems:
        lines.append(f"problem: {problem}")
    lines.append("OK: every check holds" if report.ok else "NOT OK")
    return "\n".join(lines)


def _fit(arena: int, sram: int | None, flash: int | None, fits: bool) -> str:
    if sram is None or flash is None:
        return f"arena {arena / KB:.1f} kB, not built"
    verdict = "fits" if fits else "does not fit"
    return f"arena {arena / KB:.1f} kB, SRAM {sram / KB:.1f} kB, flash {flash / KB:.1f} kB: {verdict}"


def _short(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."
