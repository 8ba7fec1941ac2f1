# SPDX-License-Identifier: Apache-2.0
"""End to end on the emulator: generated firmware for real models, built, run under QEMU (-icount), its
output checked bit for bit and its timings and memory figures checked — all through harness.pipeline.measure.measure(),
the path the benchmark tests and the CLI take.

vww_96_int8 (MLPerf Tiny, MobileNetV1 0.25, 96x96) has no blocks, so n counts ops. n = 8 ends the patch
stage with op07, the stride-2 depthwise conv whose 12x12x32 output is the network's first stride-8 map
(the split the paper uses for MobileNetV2): 12 rows split evenly into 2, 3 and 4 patches, and the
stage output (4.5 kB) is the smallest tensor around it, so little crosses the stage boundary.
"""

from __future__ import annotations

import numpy as np
import pytest
from codegen_graphs import STAGE_ENDS, every_op_graph, float_ends_graph
from machine import needs

from harness.paths import mlperf_model
from harness.pipeline.measure import PointResult, make_test_input, measure
from models import get_model

pytestmark = [
    pytest.mark.emulator,
    needs("arm-none-eabi-gcc", "qemu-system-arm"),
]

VWW = "vww_96_int8"
VWW_N = 8  # ops: the stage ends at the first stride-8 map (12x12x32), see the module doc
M7 = "stm32f746"
KB = 1024


def _sram_within_plan(result: PointResult) -> bool:
    """Measured (.data + .bss + stack high-water) within 10 % + 2 kB of planned (arena + reserved stack)."""
    return abs(result.sram_measured - result.sram_planned) <= 0.10 * result.sram_planned + 2 * KB


def _figures(result: PointResult) -> str:
    units = sum(value for _, value in result.layer_latency)
    return (
        f"{result.label} ({result.identity.kernels}): {result.latency:,.0f} "
        f"{result.latency_unit} (units sum {units:,.0f}), SRAM measured {result.sram_measured} B / planned "
        f"{result.sram_planned} B (arena {result.arena_bytes}, stack high-water {result.stack_bytes}), analytic "
        f"{result.sram_analytic_counted} counted / {result.sram_analytic_streamed} streamed, flash {result.flash_bytes} B"
    )


@pytest.fixture(scope="module")
def vww_results():
    """measure() of vww on the M7 per p, run once per module."""
    cache: dict[tuple, PointResult] = {}

    def get(p: int, kernels: str = "optimized", input_mode: str = "counted") -> PointResult:
        key = (p, kernels, input_mode)
        if key not in cache:
            cache[key] = measure(VWW, M7, p, 0 if p == 1 else VWW_N, kernels=kernels, input_mode=input_mode)
        return cache[key]

    return get


@pytest.fixture(scope="module")
def litert_output() -> bytes:
    """LiteRT's reference interpreter (BUILTIN_REF) on the generated test input."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(
        model_path=str(mlperf_model(VWW)), experimental_op_resolver_type=OpResolverType.BUILTIN_REF
    )
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], make_test_input(get_model(VWW)))
    interpreter.invoke()
    return np.ascontiguousarray(
        interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    ).tobytes()


@pytest.mark.parametrize("p", [1, 2, 3, 4])
def test_vww_on_the_m7_is_bit_exact_with_the_reference_and_litert(vww_results, litert_output, p):
    result = vww_results(p)
    print(_figures(result))
    assert result.status == "passed", result.summary()
    assert result.exact and result.output == result.expected == litert_output
    assert result.board_id == "qemu:mps2-an500" and result.latency_unit == "instructions"
    graph = get_model(VWW)
    per_layer_ops = [op.name for op in graph.ops[(0 if p == 1 else VWW_N) :]]
    patches = [f"patch_r{i}_c{j}" for i in range(p) for j in range(p)] if p > 1 else []
    assert [name for name, _ in result.layer_latency] == patches + per_layer_ops
    units = sum(value for _, value in result.layer_latency)
    assert abs(units - result.latency) <= 0.01 * result.latency
    assert all(value > 0 for name, value in result.layer_latency if not name.endswith("reshape"))
    assert _sram_within_plan(result), _figures(result)
    assert result.arena_bytes <= result.sram_measured <= result.sram_budget


def test_vww_patches_trade_sram_for_recomputation(vww_results):
    per_layer, patched = vww_results(1), vww_results(4)
    assert patched.sram_measured < per_layer.sram_measured
    assert patched.mac_overhead > 0 and per_layer.mac_overhead == 0
    stage_ops = {op.name for op in get_model(VWW).ops[:VWW_N]}
    stage_per_layer = sum(v for name, v in per_layer.layer_latency if name in stage_ops)
    stage_patched = sum(v for name, v in patched.layer_latency if name.startswith("patch_"))
    assert stage_patched > stage_per_layer  # the overlaps are recomputed


def test_portable_and_optimized_kernels_give_identical_outputs(vww_results):
    optimized, portable = vww_results(2, "optimized"), vww_results(2, "portable")
    print(_figures(optimized))
    print(_figures(portable))
    assert optimized.status == portable.status == "passed"
    assert optimized.output == portable.output
    assert "-DPB_KERNELS_OPTIMIZED=1" in optimized.flags and "-DPB_KERNELS_OPTIMIZED=0" in portable.flags
    assert optimized.latency < portable.latency


def test_streamed_input_keeps_the_image_out_of_sram(vww_results):
    counted, streamed = vww_results(4), vww_results(4, input_mode="streamed")
    print(_figures(streamed))
    assert streamed.status == "passed" and streamed.output == counted.output
    image = 96 * 96 * 3
    assert counted.sram_measured - streamed.sram_measured > image // 2
    assert _sram_within_plan(streamed)


def test_a_model_too_big_for_the_board_is_does_not_fit_with_the_numbers():
    result = measure("mbv2-w0.35-r144", "stm32f412", 1, 0, repeat=1, warmup=0)
    print(result.reason)
    assert result.status == "does_not_fit" and result.latency is None
    assert (
        "needs" in result.reason
        and "board has 1024.0 kB" in result.reason
        and "board has 256.0 kB" in result.reason
    )
    assert result.flash_needed > result.flash_budget == 1024 * KB
    assert result.sram_needed > result.sram_budget == 256 * KB
    assert result.sram_needed >= result.sram_planned  # the arena and the reserved stack, at least


@pytest.mark.parametrize(
    "target, p, kernels",
    [("stm32f412", 1, "optimized"), ("stm32f412", 3, "portable"), ("stm32f746", 3, "optimized")],
)
def test_every_op_kind_bit_exact_on_the_m4_and_m7(target, p, kernels):
    """Every op kind the kernels run, per layer and in a 3x3 patch stage (the host runs of the same C are
    in test_codegen.py; this catches what only the device shows: toolchain, libm, alignment)."""
    result = measure(every_op_graph(), target, p, 0 if p == 1 else STAGE_ENDS["constants"], kernels=kernels)
    assert result.status == "passed", result.summary()
    # A 7 kB arena: the 4 kB reserved stack dominates the plan, so only bound the measurement by it.
    assert result.arena_bytes < result.sram_measured <= result.sram_planned, _figures(result)


def test_float_model_ends_bit_exact_on_the_m4():
    result = measure(float_ends_graph(), "stm32f412", 2, 4, kernels="portable")
    assert result.status == "passed", result.summary()
    graph = float_ends_graph()
    assert len(result.output) == graph.tensor(graph.outputs[0]).nbytes  # float32 bytes


ZOO_POINTS = [  # (model, target, p, n): n = the first stride-8 map (harness.schedule.profile.paper_patch_depth)
    (model, target, p, 0 if p == 1 else 5)
    for model in ("mbv2-w0.35-r144", "mcunet-in1")
    for target in ("stm32f412", "stm32h743")
    for p in (1, 2, 4)
]


@pytest.mark.slow
@pytest.mark.parametrize("model, target, p, n", ZOO_POINTS)
def test_zoo_models_bit_exact_where_they_fit(model, target, p, n):
    result = measure(model, target, p, n, repeat=1, warmup=0)
    print(result.summary())
    if model == "mbv2-w0.35-r144" and target == "stm32f412":
        # 1.7 MB of weights (the 1280x1000 classifier alone is 1.28 MB) cannot fit 1 MB of flash.
        assert result.status == "does_not_fit" and result.flash_needed > result.flash_budget
        return
    assert result.status == "passed", result.summary()
    assert _sram_within_plan(result), result.summary()
