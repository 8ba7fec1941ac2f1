"""One benchmark point, end to end: model -> schedule -> C -> firmware -> board -> checked metrics.

``measure(model, target, p, n)`` is the single path that the pytest benchmark tests, the end-to-end tests
and the command line all take. It returns a ``PointResult`` whatever happens: ``passed`` (the device's
output equals the host reference bit for bit), ``failed`` (it ran, the output differs), ``does_not_fit``
(the firmware exceeds the board's SRAM or flash: the reason carries the numbers) or ``error`` (the
schedule, code generation, build or board failed; the reason says how). Programming errors still raise.

The test input is deterministic and compiled into the firmware: ``make_test_input(graph)`` is uniform int8
noise over the full range from a fixed seed, the same bytes the host reference (``reference_output``)
and LiteRT are fed.

    python -m harness.pipeline.measure vww_96_int8 stm32f746 4 8 [--portable] [--streamed] [--repeat 3]
"""

from __future__ import annotations

import argparse
import functools
import time
import zlib
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from harness import reference
from harness.boards import Resource, firmware_platform, open_board, run_firmware
from harness.boards.base import Board, BoardError
from harness.boards.protocol import ProtocolError, Record
from harness.codegen import (
    KERNEL_SETS,
    CodegenError,
    CodegenOptions,
    GeneratedModel,
    build_model,
    generate_model,
)
from harness.firmware.build import BuildError, BuildOptions, DoesNotFit, Firmware
from harness.firmware.targets import Target, TargetError, load_target
from harness.ir.graph import Graph, GraphError
from harness.paths import BUILD_DIR
from harness.schedule.plan import PatchPlan, ScheduleError, make_plan
from harness.schedule.profile import profile

TEST_INPUT_SEED = 0
RUN_TIMEOUT_S = 300.0
LOG_DIR = BUILD_DIR / "logs"
# What a point's failure can be, short of a bug: these become status "error" with the message.
POINT_ERRORS = (ScheduleError, CodegenError, BuildError, BoardError, ProtocolError, GraphError, TargetError)


@dataclass
class PointResult:
    """Every metric of one (model, target, p, n) point. Sizes in bytes; latency in ``latency_unit``."""

    model: str
    target: str
    backend: str
    p: int
    n: int
    status: str  # "passed" | "failed" | "does_not_fit" | "error"
    reason: str | None = None
    kernels: str = "optimized"  # "optimized" (DSP) | "portable"
    input_mode: str = "counted"  # "counted": the whole image in SRAM; "streamed": tiles from flash
    latency: float | None = None  # median over the timed runs
    latency_unit: str | None = None  # "instructions" (QEMU icount) or "cycles" (DWT on a board)
    layer_latency: list[tuple[str, float]] = field(default_factory=list)  # timed units, medians
    runs: int = 0
    macs: int | None = None  # the whole graph under this schedule (recomputation included)
    macs_patch_stage: int | None = None
    mac_overhead: float | None = None  # macs / per-layer macs - 1
    sram_measured: int | None = None  # .data + .bss + stack high-water (the device's MEM line)
    sram_planned: int | None = None  # arena (kernel scratch included) + reserved stack
    sram_analytic_counted: int | None = None  # the paper's accounting, input image in SRAM
    sram_analytic_streamed: int | None = None  # the paper's accounting, input image streamed
    arena_bytes: int | None = None
    scratch_bytes: int | None = None  # the largest kernel scratch buffer (inside the arena)
    stack_bytes: int | None = None  # measured stack high-water mark
    stack_reserved: int | None = None
    data_bytes: int | None = None
    bss_bytes: int | None = None
    flash_bytes: int | None = None  # .text + .rodata + .data
    sram_budget: int | None = None
    flash_budget: int | None = None
    sram_needed: int | None = None  # does_not_fit: what the linker needed (reserved stack included)
    flash_needed: int | None = None
    exact: bool | None = None  # device output == harness.reference, bit for bit
    output_crc: str | None = None
    firmware_hash: str | None = None
    flags: str | None = None  # compiler flags (kernel selection included)
    board_id: str | None = None
    log_path: str | None = None
    output: bytes | None = field(default=None, repr=False)  # the device's output
    expected: bytes | None = field(default=None, repr=False)  # the reference's output

    @property
    def fits(self) -> bool:
        return self.status != "does_not_fit"

    def summary(self) -> str:
        head = f"{self.model} on {self.target} ({self.backend}) p={self.p} n={self.n} {self.kernels}: {self.status}"
        if self.reason:
            head += f" ({self.reason})"
        if self.latency is None:
            return head
        kb = 1024
        return (
            f"{head}\n  latency {self.latency:,.0f} {self.latency_unit} (sum of units "
            f"{sum(v for _, v in self.layer_latency):,.0f}); MACs {self.macs:,} (+{self.mac_overhead:.1%})\n"
            f"  SRAM measured {self.sram_measured / kb:.1f} kB, planned {self.sram_planned / kb:.1f} kB "
            f"(arena {self.arena_bytes / kb:.1f} + stack {self.stack_reserved / kb:.1f}), analytic "
            f"{self.sram_analytic_counted / kb:.1f} kB counted / {self.sram_analytic_streamed / kb:.1f} kB streamed; "
            f"stack high-water {self.stack_bytes} B; flash {self.flash_bytes / kb:.1f} kB"
        )

    def to_row(self, run_id: str):
        """The results database row of this point (harness.results.db.ResultRow)."""
        from harness.results.db import ResultRow

        names = {f.name for f in fields(ResultRow)} - {"run_id", "created_at"}
        values = {name: getattr(self, name) for name in names if hasattr(self, name)}
        return ResultRow(run_id=run_id, **values)


# The per-unit times (one instrumented run) must add up to the total (an uninstrumented run) within this.
TIMING_TOLERANCE = 0.01


def make_test_input(graph: Graph) -> np.ndarray:
    """The compiled-in test input of a single-input graph: seeded uniform noise over the int8 range (for a
    float32 input, over the real range of the QUANTIZE op that reads it)."""
    if len(graph.inputs) != 1:
        raise CodegenError(f"graph {graph.name!r} has {len(graph.inputs)} inputs; measure() supports one")
    tensor = graph.tensor(graph.inputs[0])
    rng = np.random.default_rng(TEST_INPUT_SEED)
    if tensor.dtype == "int8":
        return rng.integers(-128, 128, tensor.shape).astype(np.int8)
    quantize = next((op for op in graph.consumers(tensor.name) if op.kind == "QUANTIZE"), None)
    if tensor.dtype != "float32" or quantize is None:
        raise CodegenError(
            f"graph {graph.name!r}: input {tensor.name!r} is {tensor.dtype}; measure() feeds int8 inputs, or "
            "float32 inputs that a QUANTIZE op reads"
        )
    q = graph.tensor(quantize.outputs[0])
    return (q.scale * (rng.uniform(-128.0, 127.0, tensor.shape) - q.zero_point)).astype(np.float32)


def expected_output(graph: Graph, x: np.ndarray) -> bytes:
    """The host reference's output bytes (TFLite Micro's fixed-point FC requantization, as the firmware)."""
    outputs = reference.run_outputs(graph, x)
    return b"".join(np.ascontiguousarray(outputs[name]).tobytes() for name in graph.outputs)


@functools.cache
def reference_output(model: str) -> bytes:
    """The host reference's output for a model name on its compiled-in test input."""
    graph = _graph(model)
    return expected_output(graph, make_test_input(graph))


def measure(
    model: str | Graph,
    target: str | Target,
    p: int,
    n: int,
    backend: str = "qemu",
    optimized: bool = True,
    repeat: int = 3,
    *,
    warmup: int = 1,
    input_mode: str = "counted",
    board: Board | None = None,
    build_root: Path | None = None,
    timeout: float = RUN_TIMEOUT_S,
    kernels: str | None = None,
) -> PointResult:
    """Generate, build, run and check one point; every outcome is a PointResult (see the module doc).

    ``board``: an open board to run on (a fixture's, kept across points); else one is opened for
    ``backend`` and closed again. ``repeat`` timed runs after ``warmup`` untimed ones. ``kernels``: one
    of KERNEL_SETS ("optimized", "portable", "cmsis-nn"); None: ``optimized`` says which of the first two.
    """
    kernels = kernels or ("optimized" if optimized else "portable")
    graph = _graph(model) if isinstance(model, str) else model
    target = load_target(target) if isinstance(target, str) else target
    result = PointResult(
        model=graph.name, target=target.name, backend=board.backend if board else backend, p=p, n=n,
        status="error", kernels=kernels, input_mode=input_mode,
        sram_budget=target.sram_budget_bytes, flash_budget=target.flash_budget_bytes,
    )  # fmt: skip
    try:
        plan = make_plan(graph, p, n)
        _add_schedule_metrics(result, graph, plan)
        x = make_test_input(graph)
        options = CodegenOptions.for_kernel_set(kernels, input_mode=input_mode)
        generated = generate_model(graph, plan, target, x, options)
        _add_plan_metrics(result, generated, BuildOptions().stack_bytes)
        result.expected = expected_output(graph, x)
        backend_name = board.backend if board is not None else backend
        build_options = BuildOptions(
            platform=_platform(backend, board),
            runs=repeat,
            warmup=warmup,
            defines=_timer_defines(backend_name),
        )
        firmware = build_model(generated, target, build_options, build_root=build_root)
        result.firmware_hash = firmware.build_id
        result.flags = " ".join(firmware.cflags)
        if isinstance(firmware, DoesNotFit):
            result.status, result.reason = "does_not_fit", firmware.reason
            ram, flash = firmware.overflow("RAM"), firmware.overflow("FLASH")
            result.sram_needed = ram.needed_bytes if ram else None
            result.flash_needed = flash.needed_bytes if flash else None
            return result
        result.flash_bytes = firmware.sizes.flash_bytes
        record = _run(firmware, target, backend, board, timeout, result)
        _add_record_metrics(result, record, generated)
    except POINT_ERRORS as err:
        result.status, result.reason = "error", f"{type(err).__name__}: {err}"
    return result


def _graph(model: str) -> Graph:
    from models import get_model

    return get_model(model)


def _platform(backend: str, board: Board | None) -> str:
    return board.firmware_platform if board is not None else firmware_platform(backend)


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


def _add_plan_metrics(result: PointResult, generated: GeneratedModel, stack_reserved: int) -> None:
    result.arena_bytes = generated.arena_bytes
    result.scratch_bytes = generated.scratch_bytes
    result.stack_reserved = stack_reserved
    result.sram_planned = generated.arena_bytes + stack_reserved


def _run(firmware: Firmware, target: Target, backend: str, board: Board | None, timeout: float,
         result: PointResult) -> Record:  # fmt: skip
    if board is not None:
        result.board_id = board.board_id
        return run_firmware(board, firmware, timeout=timeout)
    with open_board(Resource(target.name, backend)) as opened:
        result.board_id = opened.board_id
        return run_firmware(opened, firmware, timeout=timeout)


def _add_record_metrics(result: PointResult, record: Record, generated: GeneratedModel) -> None:
    result.latency = float(record.total_median)
    result.latency_unit = record.unit
    result.layer_latency = [(name, float(value)) for name, value in record.layer_medians]
    result.runs = record.runs
    result.sram_measured = record.measured_sram_bytes
    result.stack_bytes = record.stack_high_water_bytes
    result.stack_reserved = record.stack_reserved_bytes
    result.sram_planned = generated.arena_bytes + record.stack_reserved_bytes
    result.data_bytes = record.data_bytes
    result.bss_bytes = record.bss_bytes
    result.output = record.output
    result.output_crc = f"{record.output_crc32:08x}"
    result.log_path = str(_write_log(result, record))
    names = [layer.name for layer in record.layers]
    if record.arena_bytes != generated.arena_bytes or tuple(names) != generated.layer_names:
        result.status = "error"
        result.reason = (
            f"the record does not match the generated model (arena {record.arena_bytes} vs "
            f"{generated.arena_bytes} bytes, {len(names)} vs {len(generated.layer_names)} timed units)"
        )
        return
    result.exact = record.output == result.expected
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
        result.reason = _mismatch(record.output, result.expected)


def _mismatch(output: bytes, expected: bytes) -> str:
    if len(output) != len(expected):
        return f"the device output has {len(output)} bytes, the reference {len(expected)}"
    device, host = np.frombuffer(output, np.int8), np.frombuffer(expected, np.int8)
    wrong = np.flatnonzero(device != host)
    first = int(wrong[0])
    return (
        f"the device output differs from the host reference at {wrong.size} of {host.size} bytes "
        f"(first at {first}: device {device[first]}, reference {host[first]}; crc32 "
        f"{zlib.crc32(output):08x} vs {zlib.crc32(expected):08x})"
    )


def _write_log(result: PointResult, record: Record) -> Path:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = LOG_DIR / (
        f"{result.model}-{result.target}-p{result.p}-n{result.n}-{result.kernels}-{record.build_id}-{stamp}.log"
    )
    path.write_text("\n".join(record.lines) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.pipeline.measure", description=measure.__doc__)
    parser.add_argument("model")
    parser.add_argument("target")
    parser.add_argument("p", type=int)
    parser.add_argument("n", type=int)
    parser.add_argument("--backend", default="qemu")
    parser.add_argument("--portable", action="store_true", help="the portable C kernels (default: DSP)")
    parser.add_argument("--kernels", choices=KERNEL_SETS, help="the kernel set (overrides --portable)")
    parser.add_argument("--streamed", action="store_true", help="stream the input tile by tile from flash")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--layers", action="store_true", help="print every timed unit")
    args = parser.parse_args(argv)
    result = measure(args.model, args.target, args.p, args.n, args.backend, not args.portable, args.repeat,
                     input_mode="streamed" if args.streamed else "counted", kernels=args.kernels)  # fmt: skip
    print(result.summary())
    if args.layers:
        for name, value in result.layer_latency:
            print(f"  {name:32s} {value:14,.0f}")
    return 0 if result.status in ("passed", "does_not_fit") else 1


if __name__ == "__main__":
    raise SystemExit(main())
