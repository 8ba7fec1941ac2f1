# SPDX-License-Identifier: Apache-2.0
"""Residual ADDs fused into the 1x1 projection conv inside the patch stage (harness/schedule/fusion.py,
``InplacePolicy.residual_add_in_stage``): per patch the conv's rows go through a chunk buffer and the ADD
writes into the shortcut's window of its (larger) patch buffer (arena.stage_layout_source). Exact on
the arena simulator, the host C and QEMU (portable and optimized); the arena and the measured peak go
down on a stack whose patch-stage peak was a projection's output."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from device_point import run_on_f746
from machine import needs

from harness import reference
from harness.codegen import CodegenOptions, generate_model
from harness.codegen.hostrun import run_on_host
from harness.codegen.layout import plan_model_arena
from harness.engines import get_engine
from harness.pipeline.measure import (
    expected_output,
    make_test_input,
)
from harness.schedule.arena import DEFAULT_INPLACE, plan_arena
from harness.schedule.executor import run_in_arena
from harness.schedule.plan import ScheduleError, make_plan
from models.synthetic import LayerSpec, build_stack


def mbconv_stack():
    """MobileNetV2-like blocks with residuals inside the first five blocks (test_codegen's stack)."""
    specs = [LayerSpec("conv", 3, 2, channels=8), LayerSpec("mbconv", 3, 1), LayerSpec("mbconv", 5, 2),
             LayerSpec("mbconv", 3, 1), LayerSpec("mbconv", 7, 1), LayerSpec("conv", 3, 2, channels=12)]  # fmt: skip
    return build_stack(specs, input_shape=(1, 40, 36, 3), seed=11, name="mbconv_stack")


STAGE_PAIRS = {"b1_mbconv_project", "b3_mbconv_project", "b4_mbconv_project"}


def _options(in_stage: bool, **options) -> CodegenOptions:
    base = CodegenOptions(**options)
    return replace(base, inplace=replace(base.inplace, residual_add_in_stage=in_stage))


@pytest.mark.parametrize(
    "p, n, input_mode", [(2, 5, "counted"), (2, 5, "streamed"), (3, 4, "streamed"), (2, 2, "counted")]
)
def test_stage_epilogues_run_exactly_in_their_arena_and_never_grow_it(p, n, input_mode):
    graph = mbconv_stack()
    plan = make_plan(graph, p, n)
    before = plan_model_arena(graph, plan, _options(False, input_mode=input_mode))
    after = plan_model_arena(graph, plan, _options(True, input_mode=input_mode))
    fused = {conv for conv, _ in after.epilogues if conv in plan.stage_ops}
    assert fused == STAGE_PAIRS & set(plan.stage_ops)
    assert not {conv for conv, _ in before.epilogues if conv in plan.stage_ops}
    assert after.arena_bytes <= before.arena_bytes
    if n == 5:  # the projections' outputs were the stage's peak
        assert after.arena_bytes < before.arena_bytes
    x = make_test_input(graph)
    out = run_in_arena(graph, plan, after, x)  # random arena bytes, poisoned scratch: overlaps would show
    np.testing.assert_array_equal(out[graph.outputs[0]], reference.run_outputs(graph, x)[graph.outputs[0]])


def test_the_fused_add_writes_into_the_shortcuts_window():
    graph = mbconv_stack()
    plan = make_plan(graph, 2, 5)
    arena = plan_model_arena(graph, plan, _options(True))
    add_out = graph.op("b3_mbconv_add").outputs[0]
    shortcut = arena.buffer(add_out).writes_over
    assert shortcut == graph.op("b3_mbconv_add").inputs[0]
    assert any(patch.tensors[shortcut] != patch.tensors[add_out] for patch in plan.patches)  # held larger


@needs("gcc")
@pytest.mark.parametrize("p, n, input_mode, optimized", [(2, 5, "streamed", True), (3, 5, "counted", False)])
def test_the_stage_epilogue_c_is_bit_exact_on_the_host(p, n, input_mode, optimized):
    graph = mbconv_stack()
    x = make_test_input(graph)
    model = generate_model(
        graph,
        make_plan(graph, p, n),
        "stm32f746",
        x,
        _options(True, optimized=optimized, input_mode=input_mode),
    )
    assert "static void b3_mbconv_project(const stage_step *s)" in model.sources["model.c"]
    assert (
        "no function: b3_mbconv_add runs inside its producer's patch-stage function"
        in model.sources["model.c"]
    )
    assert run_on_host(model) == expected_output(graph, x)


def _run(p: int, n: int, kernels: str, input_mode: str, in_stage: bool):
    options = get_engine().options(kernels, input_mode=input_mode)
    options = replace(options, inplace=replace(options.inplace, residual_add_in_stage=in_stage))
    return run_on_f746(mbconv_stack(), p, n, options)[1]


@pytest.mark.emulator
@needs("arm-none-eabi-gcc", "qemu-system-arm")
@pytest.mark.parametrize(
    "p, n, input_mode, kernels",
    [(2, 5, "streamed", "portable"), (2, 5, "streamed", "optimized"), (3, 5, "counted", "optimized")],
)
def test_stage_epilogues_are_exact_on_the_device_and_lower_the_measured_peak(p, n, input_mode, kernels):
    before = _run(p, n, kernels, input_mode, in_stage=False)
    after = _run(p, n, kernels, input_mode, in_stage=True)
    for result in (before, after):
        assert result.status == "passed" and result.exact, result.summary()
        assert result.sram_measured <= result.sram_planned, result.summary()
    assert after.sram_planned < before.sram_planned and after.sram_measured < before.sram_measured
    print(
        f"mbconv_stack p={p} n={n} {input_mode} {kernels}: planned {before.sram_planned} -> {after.sram_planned}, "
        f"measured {before.sram_measured} -> {after.sram_measured} bytes; "
        f"instructions {before.latency} -> {after.latency}"
    )


def test_two_fused_residual_blocks_ending_the_stage_are_exact():
    """Two residual blocks in a row, the stage ending at the second's ADD (the pattern of mcunet-in2 and
    in3 at p=4 n=7). The first fused ADD's output is stored in its shortcut's larger patch buffer
    (stage_layout_source) and lives until the second ADD: the planner must reserve that whole buffer for
    it, not just its own region's bytes, or the next block's expand output lands over its last rows (the
    bug that kept this fusion off by default). On by default now."""
    specs = [LayerSpec("conv", 3, 2, channels=8), LayerSpec("mbconv", 3, 1), LayerSpec("mbconv", 3, 1),
             LayerSpec("mbconv", 5, 2), LayerSpec("mbconv", 3, 1), LayerSpec("mbconv", 3, 1),
             LayerSpec("conv", 3, 2, channels=12)]  # fmt: skip
    graph = build_stack(specs, input_shape=(1, 48, 48, 3), seed=11, name="two_residuals")
    assert DEFAULT_INPLACE.residual_add_in_stage
    x = make_test_input(graph)
    expected = reference.run_graph(graph, x)
    plan = make_plan(graph, 2, 3)
    assert plan.stage_output == "b2_mbconv_add_out"
    arena = plan_arena(graph, plan, inplace=replace(DEFAULT_INPLACE, residual_add_in_stage=True))
    windowed = next(b for b in arena.buffers if b.name == "b1_mbconv_add_out")
    shortcut = next(b for b in arena.buffers if b.name == windowed.writes_over)
    assert shortcut.name == "b0_conv_conv_out" and windowed.size == shortcut.size
    for p in (2, 3, 4):
        for n in range(2, len(graph.blocks)):  # n counts blocks; the stage ends inside the network
            try:
                plan = make_plan(graph, p, n)
            except ScheduleError:
                continue
            arena = plan_arena(graph, plan, inplace=replace(DEFAULT_INPLACE, residual_add_in_stage=True))
            fused = run_in_arena(graph, plan, arena, x)
            for name in fused:
                np.testing.assert_array_equal(fused[name], expected[name], err_msg=f"p={p} n={n} {name}")
