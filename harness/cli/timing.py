# SPDX-License-Identifier: Apache-2.0
"""``patchbench timing``: the cycle model's estimate beside every published board figure it can reproduce.

Each published latency is measured here on the emulator (the same model, kernel library and board), the
timing plugin's counts turned into estimated milliseconds by ``harness.boards.timing_model``, and the
error printed. ``--fit`` recomputes the model's one free constant (``M7_ISSUE_FACTOR``) on the figures
marked ``fit`` (mcunet-in1 and mcunet-in2) and prints it; every other figure is only ever checked.
``--layers MODEL`` prints a model's estimated ms per layer on every board with a memory system
(STM32F412, F746, H743), with the instruction mix and where the cycles go.

Emulator runs are slow for the large models (mcunet-in2: about 1 B instructions a point), so each
point's counts are cached in build/timing/ by firmware build id: a rerun only estimates.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from dataclasses import asdict, dataclass, field

from harness.cli.registry import CommandError, arg, command


# TinyEngine's table (harness.results.published), CMSIS-NN column: TensorFlow Lite Micro with CMSIS-NN kernels,
# per-layer inference on an STM32H743. Reproduced here: the models of the zoo with a figure in that column.
def reproducible() -> dict[str, float]:
    from harness.results.published import TINYENGINE_TABLE
    from models import list_models

    zoo = set(list_models())
    return {
        f.model: f.latency_ms
        for f in TINYENGINE_TABLE
        if f.engine == "cmsis-nn" and f.latency_ms is not None and f.model in zoo
    }


FIT_ON = ("mcunet-in1", "mcunet-in2")  # the only figures the free constant may be fitted on (issue 21)


def not_reproduced(shown: set[str]) -> list[str]:
    """The published latencies not compared here, each with why (printed, so nobody wonders)."""
    from harness.results.published import MLPERF_TINY_VWW, TINYENGINE_TABLE

    lines = [
        f"{f.model} on {f.board} ({f.core}), {f.latency_ms} ms, {f.source}: another engine (X-CUBE-AI) on a "
        "board with no target file here, clock not stated"
        for f in MLPERF_TINY_VWW
    ]
    missing = sorted({f.model for f in TINYENGINE_TABLE if f.engine == "cmsis-nn" and f.model not in shown})
    if missing:
        lines.append(f"TinyEngine table, CMSIS-NN column: {', '.join(missing)}: no zoo model, out of memory "
                     "there, or not asked for")  # fmt: skip
    lines.append(
        "TinyEngine table, TFLM / X-CUBE-AI / TinyEngine columns: those engines do not run here (issue 18)"
    )
    return lines


PUBLISHED_TARGET = "stm32h743"
PUBLISHED_KERNELS = "cmsis-nn"
LAYER_TARGETS = ("stm32f412", "stm32f746", "stm32h743")
GOAL = 0.20


@dataclass
class PointCounts:
    """One measured point, what the estimate needs: the fit's parts and the per-unit estimates."""

    model: str
    target: str
    kernels: str
    firmware: str
    instructions: float  # measured (QEMU -icount), the whole run
    issue_raw: float  # issue cycles with issue_factor 1
    other: float  # branch + memory cycles
    clock_hz: int
    units: list[dict]  # name, instructions (measured), issue_raw, branches, memory, mix
    # the whole run: instruction class -> executed instructions, and its issue cycles (issue_factor 1)
    mix: dict = field(default_factory=dict)
    class_issue_raw: dict = field(default_factory=dict)

    def cycles(self, issue_factor: float) -> float:
        return issue_factor * self.issue_raw + self.other

    def ms(self, issue_factor: float) -> float:
        return self.cycles(issue_factor) / self.clock_hz * 1000.0


def _factor(target_core: str, issue_factor: float) -> float:
    return issue_factor if target_core == "cortex-m7" else 1.0


def measure_counts(model: str, target_name: str, kernels: str, use_cache: bool = True) -> PointCounts:
    """Run (or take from the cache) the per-layer point of ``model`` on ``target_name``."""
    from harness.boards import QemuBoard, Resource
    from harness.boards.timing_model import estimate
    from harness.firmware.targets import load_target
    from harness.paths import BUILD_DIR
    from harness.pipeline.measure import measure

    cache = BUILD_DIR / "timing" / "points.json"
    try:
        stored = json.loads(cache.read_text())
    except (OSError, ValueError):
        stored = {}
    key = f"{model}|{target_name}|{kernels}"
    target = load_target(target_name)
    board = QemuBoard(Resource(target_name, "qemu"), target)
    try:
        # The firmware's build id decides whether the cached counts still hold: the build is cached too.
        from harness.engines import get_engine
        from harness.pipeline.measure import build_point, new_result, plan_point

        options = get_engine().options(kernels)
        result = new_result(model, target, 1, 0, options=options)
        built = build_point(plan_point(result, model, target, repeat=1, warmup=1, options=options))
        firmware = built.build_id
        if use_cache and key in stored and stored[key]["firmware"] == firmware:
            return PointCounts(**stored[key])
        point = measure(model, target_name, 1, 0, "qemu", repeat=1, warmup=1, kernels=kernels, board=board)
    finally:
        board.close()
    if point.status != "passed" or board.execution_profile is None:
        raise CommandError(f"{model} on {target_name} ({kernels}): {point.status}: {point.reason}")
    names = [name for name, _ in point.layer_latency]
    found = estimate(board.execution_profile, target, 1, 1, names, issue_factor=1.0)
    units = [
        {"name": name, "instructions": u.instructions, "issue_raw": u.issue, "branches": u.branches,
         "memory": u.memory, "mix": dict(u.mix)}
        for name, u in found.units
    ]  # fmt: skip
    counts = PointCounts(model, target_name, kernels, point.firmware_hash or firmware, point.latency,
                         found.total.issue, found.total.branches + found.total.memory, target.clock_hz, units,
                         dict(found.total.mix), dict(found.total.class_issue))  # fmt: skip
    stored[key] = asdict(counts)
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(stored, indent=1))
    return counts


def fit_issue_factor(points: list[tuple[PointCounts, float]]) -> float:
    """The issue factor minimising the squared relative error over (point, published ms) pairs: the
    estimate is linear in it, so least squares has a closed form."""
    a = [p.issue_raw / (ms / 1000.0 * p.clock_hz) for p, ms in points]
    b = [p.other / (ms / 1000.0 * p.clock_hz) for p, ms in points]
    return sum(x * (1 - y) for x, y in zip(a, b, strict=True)) / sum(x * x for x in a)


@command(
    "timing",
    "the cycle model's estimated ms beside every published board latency it reproduces, with the error",
    arg("--fit", action="store_true", help="refit the free constant on mcunet-in1 and mcunet-in2 and show it"),
    arg("--models", default=None, help="comma-separated models of the published table (default: all)"),
    arg("--layers", default=None, metavar="MODEL",
        help="instead: MODEL's estimated ms per layer on the F412, F746 and H743, with the instruction mix"),
    arg("--kernels", default=None, help="kernel set for --layers (default: the default engine's first)"),
    arg("--no-cache", action="store_true", help="measure again even when build/timing/ has the counts"),
    arg("--boards", action="store_true",
        help="instead: every board run (DWT cycles) in the results database beside the emulator run of the "
             "same point, with the model's error"),
    arg("--results", default=None, help="the results database for --boards (default: build/results.sqlite)"),
)  # fmt: skip
def timing(args: argparse.Namespace) -> int:
    from harness.boards.timing_model import M7_ISSUE_FACTOR, MODEL_VERSION

    if args.boards:
        return _boards(args.results)
    if args.layers:
        from harness.engines import get_engine

        return _layers(args.layers, args.kernels or get_engine().default_kernels, not args.no_cache)
    figures = reproducible()
    models = args.models.split(",") if args.models else list(figures)
    unknown = [m for m in models if m not in figures]
    if unknown:
        raise CommandError(
            f"no reproducible published figure for {', '.join(unknown)}; known: {', '.join(figures)}"
        )
    points = {m: measure_counts(m, PUBLISHED_TARGET, PUBLISHED_KERNELS, not args.no_cache) for m in models}
    factor = M7_ISSUE_FACTOR
    if args.fit:
        missing = [m for m in FIT_ON if m not in points]
        if missing:
            raise CommandError(f"--fit needs {', '.join(missing)} among --models")
        factor = fit_issue_factor([(points[m], figures[m]) for m in FIT_ON])
        print(
            f"fitted on {', '.join(FIT_ON)}: M7_ISSUE_FACTOR = {factor:.4f} (in the model: {M7_ISSUE_FACTOR:.4f})"
        )
    print(f"{MODEL_VERSION}, Cortex-M7 issue factor {factor:.4f}; published: TinyEngine's table, CMSIS-NN column "
          f"(TFLite Micro + CMSIS-NN on an STM32H743); here: CMSIS-NN kernels, per layer, emulated {PUBLISHED_TARGET}")  # fmt: skip
    # "1 cycle per instruction": the naive reading of the emulator's count, printed so that what the model
    # adds over it is plain to see.
    print(f"{'model':22s} {'role':5s} {'instructions':>14s} {'published ms':>12s} {'estimated ms':>13s} {'error':>8s}"
          f"  {'1 cycle/instr. ms':>17s} {'error':>8s}")  # fmt: skip
    worst = 0.0
    for model, point in points.items():
        published = figures[model]
        ms = point.ms(factor)
        error = ms / published - 1
        role = "fit" if model in FIT_ON else "check"
        if role == "check":
            worst = max(worst, abs(error))
        naive = point.instructions / point.clock_hz * 1000
        print(f"{model:22s} {role:5s} {point.instructions:14,.0f} {published:12,.1f} {ms:13,.1f} {error:+8.1%}"
              f"  {naive:17,.1f} {naive / published - 1:+8.1%}")  # fmt: skip
    for line in not_reproduced(set(points)):
        print(f"not compared: {line}")
    checked = [m for m in points if m not in FIT_ON]
    if checked:
        verdict = "within" if worst <= GOAL else "outside"
        print(f"largest error on the figures not fitted: {worst:.1%} ({verdict} the {GOAL:.0%} goal)")
    return 0


CLASS_GROUPS = {
    "MAC/multiply": ("mac", "mul", "mla"),
    "SIMD/extend": ("simd",),
    "load": ("load", "load_double", "load_multiple"),
    "store": ("store", "store_double", "store_multiple"),
    "branch/IT": ("branch", "call", "indirect", "it"),
    "ALU": ("alu", "nop", "other", "div", "fp", "fp_div"),
}


def _layers(model: str, kernels: str, use_cache: bool) -> int:
    points = {t: measure_counts(model, t, kernels, use_cache) for t in LAYER_TARGETS}
    from harness.boards.timing_model import M7_ISSUE_FACTOR
    from harness.firmware.targets import load_target

    cores = {t: load_target(t).core for t in LAYER_TARGETS}
    head = "".join(f" {t + ' ms':>15s} {'c/i':>5s}" for t in LAYER_TARGETS)
    print(f"{model}, kernels {kernels}, per layer: estimated ms (timing model) and cycles per instruction")
    print(f"{'layer':28s} {'instructions':>12s}{head}  mix (of instructions)")
    totals = Counter()
    for i, unit in enumerate(points[LAYER_TARGETS[0]].units):
        cells = ""
        for t in LAYER_TARGETS:
            u = points[t].units[i]
            cycles = _factor(cores[t], M7_ISSUE_FACTOR) * u["issue_raw"] + u["branches"] + u["memory"]
            totals[t] += cycles
            cells += f" {cycles / points[t].clock_hz * 1000:15.3f} {cycles / max(u['instructions'], 1):5.2f}"
        print(f"{unit['name']:28s} {unit['instructions']:12,d}{cells}  {_mix_text(unit['mix'])}")
    cells = "".join(f" {totals[t] / points[t].clock_hz * 1000:15.3f} {totals[t] / points[t].instructions:5.2f}"
                    for t in LAYER_TARGETS)  # fmt: skip
    print(f"{'whole run':28s} {points[LAYER_TARGETS[0]].instructions:12,.0f}{cells}")
    print(
        "where the cycles go (whole run): "
        + "; ".join(_breakdown(points[t], cores[t]) for t in LAYER_TARGETS)
    )
    _class_table(points, cores)
    return 0


def _class_table(points: dict[str, PointCounts], cores: dict[str, str]) -> None:
    """The whole run's mix: each class's share of the instructions and its issue cycles per instruction on
    each board (Cortex-M7: llvm-mca's block cycles spread evenly over the block: an explanation, not a
    figure of the model)."""
    from harness.boards.timing_model import M7_ISSUE_FACTOR

    if any(not p.class_issue_raw for p in points.values()):
        print("(the per-class table needs counts measured by this version: rerun with --no-cache)")
        return
    first = points[LAYER_TARGETS[0]]
    total = sum(first.mix.values()) or 1
    print(
        f"{'class':16s} {'of instructions':>15s}" + "".join(f" {t + ' c/instr':>18s}" for t in LAYER_TARGETS)
    )
    for kind, count in sorted(first.mix.items(), key=lambda kv: -kv[1]):
        if count / total < 0.005:
            continue
        cells = ""
        for t in LAYER_TARGETS:
            n = points[t].mix.get(kind, 0)
            cycles = _factor(cores[t], M7_ISSUE_FACTOR) * points[t].class_issue_raw.get(kind, 0.0)
            cells += f" {cycles / n if n else 0.0:18.2f}"
        print(f"{kind:16s} {count / total:15.1%}{cells}")


def _mix_text(mix: dict) -> str:
    total = sum(mix.values()) or 1
    shares = {g: sum(mix.get(k, 0) for k in kinds) / total for g, kinds in CLASS_GROUPS.items()}
    return ", ".join(f"{g} {v:.0%}" for g, v in shares.items() if v >= 0.01)


def _breakdown(point: PointCounts, core: str) -> str:
    from harness.boards.timing_model import M7_ISSUE_FACTOR

    issue = _factor(core, M7_ISSUE_FACTOR) * sum(u["issue_raw"] for u in point.units)
    branches = sum(u["branches"] for u in point.units)
    memory = sum(u["memory"] for u in point.units)
    total = issue + branches + memory
    return (f"{point.target}: issue {issue / total:.0%}, branches {branches / total:.0%}, "
            f"memory {memory / total:.0%}")  # fmt: skip


def _same_point(record) -> tuple:
    """What makes a board run and an emulator run the same point: the identity without where it ran (backend,
    place) and the compiler (the two platforms' builds differ in their board-support defines)."""
    i = record.identity
    return (
        i.target,
        i.model,
        i.p,
        i.n,
        i.kernels,
        i.engine,
        i.input_mode,
        i.planner,
        i.inplace,
        i.model_hash,
    )


def boards_beside_emulator(records) -> list[tuple]:
    """(board record, emulator record, model error) for each board run (latency in DWT cycles) whose point
    also ran on the emulator with an estimate; the latest emulator run of each point."""
    emulated = {
        _same_point(r): r for r in records if r.latency_unit == "instructions" and r.latency_estimated_cycles
    }
    pairs = []
    for record in records:
        if record.latency_unit != "cycles" or not record.latency:
            continue
        twin = emulated.get(_same_point(record))
        if twin is not None:
            pairs.append((record, twin, twin.latency_estimated_cycles / record.latency - 1))
    return pairs


def _boards(results: str | None) -> int:
    from pathlib import Path

    from harness.paths import BUILD_DIR
    from harness.results.db import ResultsDB
    from harness.results.record import point_label

    path = Path(results) if results else BUILD_DIR / "results.sqlite"
    if not path.is_file():
        raise CommandError(f"results database {path} not found")
    with ResultsDB(path) as db:
        pairs = boards_beside_emulator(db.records())
    if not pairs:
        print(f"no board run in {path} has an emulator run of the same point with an estimate")
        return 0
    print(f"{'board run':58s} {'DWT cycles':>14s} {'estimated cycles':>17s} {'error':>8s}")
    for board, emulator, error in pairs:
        print(f"{point_label(board.identity):58s} {board.latency:14,.0f} {emulator.latency_estimated_cycles:17,.0f} "
              f"{error:+8.1%}")  # fmt: skip
    return 0
