# SPDX-License-Identifier: Apache-2.0
"""One benchmark point, end to end: model -> schedule -> C -> firmware -> board -> checked metrics.

``measure(model, target, p, n)`` is the single path that the pytest benchmark tests, the end-to-end tests
and the command line all take. It returns a ``PointResult`` whatever happens: ``passed`` (each of the
device's outputs, sent with its own CRC, equals the host reference's bit for bit, and the reference
equals TFLite's own interpreter on the model, or no TFLite interpreter can load the file: the stored
``oracle`` line says which), ``failed`` (it ran, an output differs from the reference, or the reference
from TFLite: the reason names which), ``does_not_fit``
(the firmware exceeds the board's SRAM or flash: the reason carries the numbers; a point that clearly
cannot fit is decided from the graph before any C is generated, see pipeline/fit.py) or ``error`` (the
schedule, code generation, build or board failed, or anything else went wrong: the reason carries the
exception and the console's last lines). Every exception of a point becomes its error row, so a sweep
never loses a point; only KeyboardInterrupt and SystemExit (Ctrl-C, SIGTERM) pass through.

The test input is generated on the device from a seed (harness/firmware/test_input.py, the C in
pb_test_input.c: any element from its index, so no image is compiled into flash and a streamed input
needs none either); ``make_test_input(graph)`` is its host twin, the values the host reference
(``reference_output``) and the TFLite oracle are fed.

    python -m harness.pipeline.measure vww_96_int8 stm32f746 4 8 [--kernels portable] [--streamed] [--repeat 3]
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
import zlib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import numpy as np

from harness import reference
from harness.boards import Resource, firmware_platform, open_board, run_firmware
from harness.boards.base import Board, BoardError
from harness.boards.execution_profile import PluginError
from harness.boards.protocol import ProtocolError, Record, format_log_tail
from harness.boards.timing_model import TimingModelError
from harness.boards.timing_model import estimate as estimate_timing
from harness.codegen import CodegenError
from harness.engines import (
    Engine,
    EngineError,
    EngineUnsupported,
    FirmwareSources,
    get_engine,
    kernel_set_names,
)
from harness.firmware.build import (
    MAX_RUNS,
    BuildError,
    BuildOptions,
    BuildResult,
    DoesNotFit,
    Firmware,
    compiler_flags,
    toolchain_version,
)
from harness.firmware.targets import Target, TargetError, load_target
from harness.firmware.test_input import SeededInput, TestInputError
from harness.frontend import graph_to_bytes
from harness.ir.graph import Graph, GraphError, content_digest
from harness.ir.schedule_name import ScheduleNameError, parse_schedule, point_fields
from harness.paths import BUILD_DIR, MLPERF_MODELS, mlperf_model
from harness.pipeline.analysis import point_analysis
from harness.pipeline.diagnose import diagnose
from harness.pipeline.fit import ClearlyTooBig, clearly_too_big
from harness.reference.oracle import OracleVerdict, oracle_verdict
from harness.results.record import PointIdentity, PointRecord, compiler_id
from harness.schedule.plan import PatchPlan, ScheduleError
from harness.schedule.profile import profile
from harness.schedule.segments import make_schedule_plan

MODEL_HASH_DIGITS = 16  # of the graph's content digest, in a point's identity
RUN_TIMEOUT_S = 300.0
LOG_DIR = BUILD_DIR / "logs"
# What a point's failure can be, short of a bug: these become status "error" with the message.
POINT_ERRORS = (
    ScheduleError,
    CodegenError,
    EngineError,
    BuildError,
    BoardError,
    ProtocolError,
    GraphError,
    TargetError,
)


@dataclass(kw_only=True)
class PointResult(PointRecord):
    """A measured point: its stored record (PointRecord), plus the device's and the reference's output
    bytes, kept in memory for the caller's checks (the record stores their CRCs and the verdict)."""

    outputs: tuple[bytes, ...] | None = field(default=None, repr=False)  # the device's, one per graph output
    expected_outputs: tuple[bytes, ...] | None = field(default=None, repr=False)  # the reference's

    @property
    def output(self) -> bytes | None:
        """The device's outputs end to end."""
        return None if self.outputs is None else b"".join(self.outputs)

    @property
    def expected(self) -> bytes | None:
        """The reference's outputs end to end."""
        return None if self.expected_outputs is None else b"".join(self.expected_outputs)

    @property
    def fits(self) -> bool:
        return self.status != "does_not_fit"

    def as_record(self, run_id: str) -> PointRecord:
        """The stored record of this point in run ``run_id``."""
        values = {f.name: getattr(self, f.name) for f in fields(PointRecord)}
        return PointRecord(**{**values, "run_id": run_id})

    def summary(self) -> str:
        head = f"{self.label}: {self.status}"
        if self.reason:
            head += f" ({self.reason})"
        if self.latency is None:
            return head
        kb = 1024
        estimated = (
            f"; {self.latency_estimated_ms:,.2f} ms estimated ({self.timing_model})"
            if self.latency_estimated_ms is not None
            else ""
        )
        streamed = (
            f" ({self.sram_measured_streamed / kb:.1f} kB without the input image)"
            if self.sram_measured_streamed is not None
            else ""
        )
        return (
            f"{head}\n  latency {self.latency:,.0f} {self.latency_unit} (sum of units "
            f"{sum(v for _, v in self.layer_latency):,.0f}){estimated}; MACs {self.macs:,} "
            f"(+{self.mac_overhead:.1%})\n"
            f"  SRAM measured {self.sram_measured / kb:.1f} kB{streamed}, planned {self.sram_planned / kb:.1f} kB "
            f"(arena {self.arena_bytes / kb:.1f} + stack {self.stack_reserved / kb:.1f}), analytic "
            f"{self.sram_analytic_counted / kb:.1f} kB counted / {self.sram_analytic_streamed / kb:.1f} kB streamed; "
            f"stack high-water {self.stack_bytes} B; flash {self.flash_bytes / kb:.1f} kB"
        )


@dataclass
class PlannedPoint:
    """A point after its first stage: schedule, memory plan and C generated, the build not yet run."""

    result: PointResult
    graph: Graph
    plan: PatchPlan
    target: Target
    generated: FirmwareSources  # what the point's engine generated
    build_options: BuildOptions
    engine: Engine


TEST_INPUT = SeededInput()  # every point's test input: generated on the device from its seed
# The per-unit times (one instrumented run) must add up to the total (an uninstrumented run) within this.
TIMING_TOLERANCE = 0.01


def make_test_input(graph: Graph) -> np.ndarray:
    """The test input of a single-input graph as the device generates it from TEST_INPUT's seed: int8
    over the full range (a float32 input: over the real range of the QUANTIZE op that reads it, with a
    fraction of a step)."""
    if len(graph.inputs) != 1:
        raise CodegenError(f"graph {graph.name!r} has {len(graph.inputs)} inputs; measure() supports one")
    try:
        return TEST_INPUT.arrays(graph)[graph.inputs[0]]
    except TestInputError as err:
        raise CodegenError(f"measure(): {err}") from None


def expected_outputs(graph: Graph, x: np.ndarray) -> tuple[bytes, ...]:
    """The host reference's output bytes, one per graph output in order (TFLite Micro's fixed-point FC
    requantization, as the firmware)."""
    outputs = reference.run_outputs(graph, x)
    return tuple(np.ascontiguousarray(outputs[name]).tobytes() for name in graph.outputs)


def expected_output(graph: Graph, x: np.ndarray) -> bytes:
    """The host reference's outputs end to end (what a host run of the generated C prints)."""
    return b"".join(expected_outputs(graph, x))


@functools.cache
def reference_output(model: str) -> bytes:
    """The host reference's output for a model name on its generated test input."""
    graph = _graph(model)
    return expected_output(graph, make_test_input(graph))


def measure(
    model: str | Graph,
    target: str | Target,
    p: int,
    n: int,
    backend: str = "qemu",
    repeat: int = 3,
    *,
    warmup: int = 1,
    input_mode: str = "counted",
    board: Board | None = None,
    build_root: Path | None = None,
    timeout: float = RUN_TIMEOUT_S,
    kernels: str | None = None,
    engine: str | None = None,
    schedule: str | None = None,
) -> PointResult:
    """Generate, build, run and check one point; every outcome is a PointResult (see the module doc).

    ``schedule``: a schedule label (harness/ir/schedule_name.py: ``rows n=3 + rows n=1``, ...) instead
    of (p, n), which are then ignored.

    ``board``: an open board to run on (a fixture's, kept across points); else one is opened for
    ``backend`` and closed again. ``repeat`` timed runs after ``warmup`` untimed ones. ``engine``: one of
    harness.engines.ENGINES (None: the default); ``kernels``: one of its kernel sets (None: its default).
    The stages
    (``new_result``, ``plan_point``, ``build_point`` + ``note_build``, ``run_point``) are what the pytest
    plugin's fixtures call one by one.
    """
    try:
        options = get_engine(engine).options(kernels, input_mode=input_mode)
    except Exception as err:  # an unknown engine or kernel set: still this point's row
        return note_error(new_result(model, target, p, n, backend, engine=engine, board=board,
                                     schedule=schedule), err)  # fmt: skip
    result = new_result(model, target, p, n, backend, options=options, engine=engine, board=board,
                        schedule=schedule)  # fmt: skip
    try:
        platform = board.firmware_platform if board is not None else None
        planned = plan_point(
            result, model, target, repeat=repeat, warmup=warmup, options=options, platform=platform
        )
        built = build_point(planned, build_root=build_root)
    except PointDoesNotFit as too_big:
        return note_too_big(result, too_big.what)
    except EngineUnsupported as err:
        return note_unsupported(result, err)
    except Exception as err:  # every outcome of a point is a row: see the module doc
        return note_error(result, err)
    if not note_build(result, built):
        return result
    return run_point(planned, built, board=board, backend=backend, timeout=timeout)


class PointDoesNotFit(Exception):
    """plan_point found the point clearly too big for the board before generating its C."""

    def __init__(self, what: ClearlyTooBig):
        super().__init__(what.reason)
        self.what = what


def note_too_big(result: PointResult, what: ClearlyTooBig) -> PointResult:
    result.status, result.reason = "does_not_fit", what.reason
    if what.region == "RAM":
        result.sram_needed = what.needed_bytes
    else:
        result.flash_needed = what.needed_bytes
    return result


def note_unsupported(result: PointResult, err: EngineUnsupported) -> PointResult:
    """``result`` as a point its engine does not run (a finding about the engine, with its reason)."""
    result.status, result.reason = "unsupported", str(err)
    return result


def note_error(result: PointResult, err: Exception) -> PointResult:
    """``result`` as an error row carrying ``err`` (and the console's last lines when it has them)."""
    text = f"{type(err).__name__}: {err}"
    if not isinstance(err, POINT_ERRORS):
        text = f"unexpected {text} (please report it with this row's log)"
    lines = getattr(err, "lines", None)
    if lines and "lines of the log" not in text:
        text += "\n" + format_log_tail(lines)
    result.status, result.reason = "error", text
    return result


def new_result(
    model: str | Graph,
    target: str | Target,
    p: int,
    n: int,
    backend: str = "qemu",
    *,
    options=None,
    engine: str | None = None,
    board: Board | None = None,
    schedule: str | None = None,
) -> PointResult:
    """A point's result before anything ran: its identity (the compiler's is added by ``plan_point``),
    budgets, status "error" until a stage says otherwise. ``engine``: its name (None: the default);
    ``options``: that engine's options for the point (its ``options()``: kernel set, input mode, ...;
    None: the engine's defaults). ``schedule``: a schedule label instead of (p, n) (``point_fields``)."""
    segments = ""
    if schedule is not None:
        p, n, segments = point_fields(schedule)
    chosen = get_engine(engine)
    options = options if options is not None else chosen.options()
    graph = _graph(model) if isinstance(model, str) else model
    target = load_target(target) if isinstance(target, str) else target
    identity = PointIdentity(
        target=target.name,
        backend=board.backend if board is not None else backend,
        place=board.resource.name if board is not None else "",
        model=graph.name,
        model_hash=content_digest(graph)[:MODEL_HASH_DIGITS],
        p=p,
        n=n,
        segments=segments,
        engine=chosen.name,
        **chosen.identity(options),
    )
    return PointResult(
        identity=identity,
        published_as=chosen.published_as.get(identity.kernels),
        status="error",
        sram_budget=target.sram_budget_bytes,
        flash_budget=target.flash_budget_bytes,
    )


def plan_point(
    result: PointResult,
    model: str | Graph,
    target: str | Target,
    *,
    repeat: int = 3,
    warmup: int = 1,
    options=None,
    platform: str | None = None,
) -> PlannedPoint:
    """Schedule, memory plan, analytic figures and firmware sources of the point of ``result`` (filled in
    as it goes), generated by the point's engine with ``options`` (those ``new_result`` was given). ``platform``: the firmware platform of
    the board it will run on (a labgrid place's driver says which); None: that of the point's backend.
    Raises one of POINT_ERRORS when the point cannot be planned."""
    identity = result.identity
    graph = _graph(model) if isinstance(model, str) else model
    target = load_target(target) if isinstance(target, str) else target
    engine = get_engine(identity.engine)
    options = options if options is not None else engine.options()
    given = engine.identity(options)
    if any(getattr(identity, name) != value for name, value in given.items()):
        raise EngineError(f"options {options} are not those of the point {result.label}")
    build_options = BuildOptions(
        platform=platform or firmware_platform(identity.backend),
        runs=repeat,
        warmup=warmup,
        defines=_timer_defines(identity.backend),
        stack_bytes=None,  # planned from the call graph, like the arena (harness/firmware/stack.py)
    )
    result.runs = repeat
    compiler = compiler_id(toolchain_version(), compiler_flags(target, build_options))
    result.identity = identity = replace(identity, compiler=compiler)
    plan = make_schedule_plan(graph, identity.schedule)
    _add_schedule_metrics(result, graph, plan)
    too_big = clearly_too_big(graph, plan, target, options.input_mode)
    if too_big is not None:
        raise PointDoesNotFit(too_big)
    if not isinstance(plan, PatchPlan) and not engine.staged_schedules:
        why_not = f"it runs per-layer and one-patch-stage (p, n) schedules only, not {plan.label!r}"
    else:
        why_not = engine.unsupported(graph, plan, options)
    if why_not is not None:
        raise EngineUnsupported(f"not supported by engine {engine.name}: {why_not}")
    x = make_test_input(graph)
    generated = engine.generate(graph, plan, target, TEST_INPUT, options)
    _add_plan_metrics(result, generated)
    if generated.fallbacks:
        result.portable_ops = "; ".join(f"{op}: {why}" for op, why in generated.fallbacks.items())
    result.expected_outputs = expected_outputs(graph, x)
    verdict = point_oracle(model, graph)
    result.oracle_exact, result.oracle = verdict.agrees, verdict.text
    return PlannedPoint(result, graph, plan, target, generated, build_options, engine)


def point_oracle(model: str | Graph, graph: Graph | None = None) -> OracleVerdict:
    """The TFLite oracle's verdict on a point's model (harness.reference.oracle): its host reference
    against LiteRT BUILTIN_REF (else TFLite Micro) on the generated test input; checked once per
    model content. Every engine's points of the model share it."""
    graph = graph if graph is not None else _graph(model)
    return oracle_verdict(graph, model_bytes(model, graph), [make_test_input(graph)])


def model_bytes(model: str | Graph, graph: Graph) -> bytes:
    """The .tflite file of a model: the file a path or an MLPerf Tiny name names, else the graph written
    as one (a zoo build, a Graph given directly)."""
    if isinstance(model, str) and model.endswith(".tflite"):
        return Path(model).expanduser().read_bytes()
    if isinstance(model, str) and model in MLPERF_MODELS:
        return mlperf_model(model).read_bytes()
    return graph_to_bytes(graph)


def build_point(planned: PlannedPoint, *, build_root: Path | None = None) -> BuildResult:
    """The firmware of a planned point (Firmware, or DoesNotFit with the linker's numbers); BuildError
    when it does not compile."""
    return planned.engine.build(
        planned.generated, planned.target, planned.build_options, build_root=build_root
    )


def note_build(result: PointResult, built: BuildResult) -> bool:
    """Record the build in ``result``; False when the firmware does not fit (status does_not_fit)."""
    result.firmware_hash = built.build_id
    result.flags = " ".join(built.cflags)
    result.stack_reserved = (
        built.stack_reserved if isinstance(built, DoesNotFit) else built.sizes.stack_reserved
    )
    if result.arena_bytes is not None:
        result.sram_planned = result.arena_bytes + result.stack_reserved
    if isinstance(built, DoesNotFit):
        result.status, result.reason = "does_not_fit", built.reason
        ram, flash = built.overflow("RAM"), built.overflow("FLASH")
        result.sram_needed = ram.needed_bytes if ram else None
        result.flash_needed = flash.needed_bytes if flash else None
        return False
    result.flash_bytes = built.sizes.flash_bytes
    return True


def run_point(
    planned: PlannedPoint,
    firmware: Firmware,
    *,
    board: Board | None = None,
    backend: str = "qemu",
    timeout: float = RUN_TIMEOUT_S,
) -> PointResult:
    """Run the firmware of a planned point and check its record: the point's result, whatever happens."""
    result = planned.result
    try:
        record, profiled = _run(firmware, planned.target, backend, board, timeout, result)
        _add_record_metrics(result, record, planned.generated, planned.graph)
        _add_estimate(result, record, planned.target, profiled)
    except Exception as err:  # a ConnectionError, an OSError, MemoryError...: still this point's row
        return note_error(result, err)
    _keep_log(result, record)
    if result.status == "failed" and not result.exact:
        if planned.engine.peer:  # a finding about that engine, reported; only patchbench's own fails
            result.status = "inexact"
        result.reason += "; " + _first_differing_op(planned, board, backend)
    return result


def _first_differing_op(planned: PlannedPoint, board: Board | None, backend: str) -> str:
    """The per-op CRC diagnosis of a point that is not bit-exact (harness.pipeline.diagnose): which op's
    output differs first. A finding about the kernels, reported, not hidden."""
    if not planned.engine.per_op_outputs:
        return f"engine {planned.engine.name} exposes no per-op outputs (no first differing op)"
    try:
        found = diagnose(planned.graph, planned.target, planned.result.identity.kernels,
                         TEST_INPUT, engine=planned.engine, board=board,
                         backend=backend)  # fmt: skip
    except Exception as err:  # a failed diagnosis must not cost the measured point (see the module doc)
        return f"the per-op CRC diagnosis did not run: {type(err).__name__}: {err}"
    text = found.describe()
    crcs = (planned.result.output_crc or "").split()
    if not planned.plan.is_per_layer and found.per_layer_output_crc is not None and crcs:
        same = int(crcs[0], 16) == found.per_layer_output_crc
        text += (
            f"; this patch schedule's output {'equals' if same else 'differs from'} the same engine's "
            f"per-layer output (CRC32 {crcs[0]} vs {found.per_layer_output_crc:08x})"
            + ("" if same else ": its patch stage computes something else too")
        )
    return text


def _graph(model: str) -> Graph:
    from models import get_model

    return get_model(model)


def _timer_defines(backend: str) -> tuple[str, ...]:
    # Renode runs the hardware firmware, but its DWT counts executed instructions, not core cycles, and
    # the clock tree set-up is of no use there (see clock_stm32.c).
    return ('PB_TIMER_UNIT="instructions"', "PB_CLOCK_KEEP_RESET=1") if backend == "renode" else ()


def _add_schedule_metrics(result: PointResult, graph: Graph, plan: PatchPlan) -> None:
    result.macs = plan.macs
    result.macs_patch_stage = plan.stage_macs_patched
    result.mac_overhead = plan.mac_overhead
    memory = profile(graph, plan)
    result.sram_analytic_counted = memory.peak("counted")
    result.sram_analytic_streamed = memory.peak("streamed")
    result.analysis = point_analysis(graph, plan, memory=memory)


def _add_plan_metrics(result: PointResult, generated: FirmwareSources) -> None:
    """The arena's figures; the planned SRAM follows once the build has planned the stack (note_build).
    The analysis' ops learn which of them run inside another op's timed unit (the engine's runs_in)."""
    result.arena_bytes = generated.arena_bytes
    result.scratch_bytes = generated.scratch_bytes
    if result.analysis is not None and generated.runs_in:
        ops = tuple(replace(op, runs_in=generated.runs_in.get(op.name)) for op in result.analysis.ops)
        result.analysis = replace(result.analysis, ops=ops)


def _run(firmware: Firmware, target: Target, backend: str, board: Board | None, timeout: float,
         result: PointResult) -> tuple[Record, Board]:  # fmt: skip
    """The record, and the board it ran on (an emulator's holds the timing plugin's counts)."""
    if board is not None:
        result.board_id = board.board_id
        return run_firmware(board, firmware, timeout=timeout), board
    with open_board(Resource(target.name, backend)) as opened:
        result.board_id = opened.board_id
        return run_firmware(opened, firmware, timeout=timeout), opened


def _add_estimate(result: PointResult, record: Record, target: Target, board: Board) -> None:
    """The cycle model's estimate of an emulator run (estimated cycles and ms, per unit); a board's DWT
    cycles need none. An estimate that cannot be made says why in ``timing_model`` and costs nothing else."""
    profile = getattr(board, "execution_profile", None)
    if record.unit != "instructions":
        return
    if profile is None:
        error = getattr(board, "profile_error", None)
        result.timing_model = f"no estimate: {error}" if error else None
        return
    try:
        found = estimate_timing(profile, target, record.warmup, record.runs, [u.name for u in record.layers])
    except (TimingModelError, PluginError) as err:
        result.timing_model = f"no estimate: {err}"
        return
    result.latency_estimated_cycles = round(found.total.cycles)
    result.latency_estimated_ms = found.total_ms
    result.layer_latency_estimated_ms = [(name, found.ms(unit)) for name, unit in found.units]
    result.timing_model = found.model


def _add_record_metrics(
    result: PointResult, record: Record, generated: FirmwareSources, graph: Graph
) -> None:
    result.latency = float(record.total_median)
    result.latency_unit = record.unit
    result.layer_latency = [(name, float(value)) for name, value in record.layer_medians]
    result.runs = record.runs
    result.sram_measured = record.measured_sram_bytes
    if generated.counted_input_bytes:
        result.sram_measured_streamed = record.measured_sram_bytes - generated.counted_input_bytes
    result.stack_bytes = record.stack_high_water_bytes
    result.stack_reserved = record.stack_reserved_bytes
    result.sram_planned = generated.arena_bytes + generated.runtime_bytes + record.stack_reserved_bytes
    result.data_bytes = record.data_bytes
    result.bss_bytes = record.bss_bytes
    result.outputs = record.outputs
    result.output_crc = " ".join(f"{crc:08x}" for crc in record.output_crc32s)
    names = [layer.name for layer in record.layers]
    if record.arena_bytes != generated.arena_bytes or tuple(names) != generated.layer_names:
        result.status = "error"
        result.reason = (
            f"the record does not match the generated model (arena {record.arena_bytes} vs "
            f"{generated.arena_bytes} bytes, {len(names)} vs {len(generated.layer_names)} timed units)"
        )
        return
    result.exact = record.outputs == result.expected_outputs
    if result.exact and result.oracle_exact is False:
        result.status = "failed"
        result.reason = (
            f"the device equals the host reference, but the reference is not TFLite's: {result.oracle}"
        )
        return
    unit_sum = sum(value for _, value in result.layer_latency)
    if abs(unit_sum - result.latency) > TIMING_TOLERANCE * result.latency:
        result.status = "error"
        result.reason = (
            f"the timed units add up to {unit_sum:,.0f} {record.unit} but the whole run took "
            f"{result.latency:,.0f} (more than {TIMING_TOLERANCE:.0%} apart: a timer wrap, or a unit not timed)"
        )
        return
    if result.exact:
        result.status, result.reason = "passed", None
    else:
        result.status = "failed"
        result.reason = mismatch(graph, record.outputs, result.expected_outputs)


def mismatch(graph: Graph, device: tuple[bytes, ...], expected: tuple[bytes, ...]) -> str:
    """Which of ``graph``'s outputs differ from the reference, each named, with its first differing
    element (read as the output's type: int8, or float32 for a dequantized end)."""
    if len(device) != len(expected):
        return f"the device sent {len(device)} output(s), the graph has {len(expected)}"
    problems = []
    for index, (name, got, want) in enumerate(zip(graph.outputs, device, expected, strict=True)):
        if got == want:
            continue
        tensor = graph.tensor(name)
        what = f"output {index} of {len(graph.outputs)} {name!r} ({tensor.dtype}{list(tensor.shape)})"
        if len(got) != len(want):
            problems.append(f"{what} has {len(got)} bytes on the device, {len(want)} in the reference")
            continue
        ours, host = np.frombuffer(got, tensor.dtype), np.frombuffer(want, tensor.dtype)
        bits = np.dtype(f"u{ours.itemsize}")  # compared bit for bit (a float NaN equals itself here)
        wrong = np.flatnonzero(ours.view(bits) != host.view(bits))
        first = int(wrong[0])
        problems.append(
            f"{what} differs from the host reference at {wrong.size} of {host.size} elements (first at "
            f"{first}: device {ours[first]}, reference {host[first]}; crc32 {zlib.crc32(got):08x} vs "
            f"{zlib.crc32(want):08x})"
        )
    if len(graph.outputs) > 1:
        problems.append(
            f"{len(graph.outputs) - len(problems)} of {len(graph.outputs)} outputs equal the reference"
        )
    return "; ".join(problems)


def _keep_log(result: PointResult, record: Record) -> None:
    """The console log of a measured point, written last: a disk that is full or read-only costs the log
    (said in the reason), never the measurement."""
    try:
        result.log_path = str(_write_log(result, record))
    except OSError as err:
        note = f"the console log was not written ({type(err).__name__}: {err})"
        result.reason = f"{result.reason}; {note}" if result.reason else note


def _write_log(result: PointResult, record: Record) -> Path:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = LOG_DIR / (
        f"{result.identity.model}-{result.identity.target}-{_file_words(result.identity)}-"
        f"{result.identity.kernels}-{record.build_id}-{stamp}.log"
    )
    path.write_text("\n".join(record.lines) + "\n")
    return path


def _file_words(identity: PointIdentity) -> str:
    """A point's schedule as a file name part: ``p4-n5``, ``rows-n3+rows-n1``."""
    if not identity.segments:
        return f"p{identity.p}-n{identity.n}"
    return identity.segments.replace("=", "").replace(" + ", "+").replace(" ", "-")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.pipeline.measure", description=measure.__doc__)
    parser.add_argument("model")
    parser.add_argument("target")
    parser.add_argument("p", type=int, nargs="?", help="patches per side (1: per layer)")
    parser.add_argument("n", type=int, nargs="?", help="patch-stage depth in layers (0 per layer)")
    parser.add_argument("--schedule", metavar="LABEL",
                        help="any schedule by its label instead of p n: 'rows n=3 + rows n=1', 'p=2 n=3 + rows n=6'")  # fmt: skip
    parser.add_argument("--backend", default="qemu")
    parser.add_argument(
        "--engine", default=None, help="the engine, one of harness.engines.ENGINES (default: the first)"
    )
    parser.add_argument(
        "--kernels", choices=kernel_set_names(), help="the engine's kernel set (default: its first)"
    )
    parser.add_argument("--streamed", action="store_true", help="stream the input tile by tile from flash")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--layers", action="store_true", help="print every timed unit")
    args = parser.parse_args(argv)
    mistake = _usage_mistake(args)
    if mistake:
        print(f"{parser.prog}: error: {mistake}", file=sys.stderr)
        return 2
    result = measure(args.model, args.target, args.p, args.n, args.backend, args.repeat, engine=args.engine,
                     input_mode="streamed" if args.streamed else "counted", kernels=args.kernels,
                     schedule=args.schedule)  # fmt: skip
    print(result.summary())
    if args.layers:
        estimated = dict(result.layer_latency_estimated_ms)
        for name, value in result.layer_latency:
            ms = f"  {estimated[name]:10,.3f} ms (estimated)" if name in estimated else ""
            print(f"  {name:32s} {value:14,.0f}{ms}")
    return 0 if result.status in ("passed", "does_not_fit") else 1


def _usage_mistake(args: argparse.Namespace) -> str | None:
    """What is wrong with the command line, in one line (None: nothing), before any work starts."""
    from harness.pipeline.sweep import SweepError, check_names

    if args.schedule is not None:
        if args.p is not None:
            return "give either p n or --schedule, not both"
        try:
            parse_schedule(args.schedule)
        except ScheduleNameError as err:
            return str(err)
    elif args.p is None or args.n is None:
        return "give p and n (per layer: 1 0), or --schedule LABEL"
    elif args.p < 1:
        return f"p (patches per side) is {args.p}; use 1 (per-layer) or more"
    elif args.n < 0 or (args.p > 1 and args.n < 1):
        return f"n (patch-stage depth) is {args.n}; use 0 with p = 1, else 1 or more"
    if not 1 <= args.repeat <= MAX_RUNS:
        return f"--repeat is {args.repeat}; use 1..{MAX_RUNS} timed runs"
    try:
        check_names([args.target], [args.model], "arguments")
    except SweepError as err:
        return str(err)
    return None


if __name__ == "__main__":
    raise SystemExit(main())
