# SPDX-License-Identifier: Apache-2.0
"""An activation after a conv (the table ops: LOGISTIC, TANH, HARD_SWISH, LEAKY_RELU, the ReLUs) runs over
the conv's output in place (harness/schedule/arena.py, INPLACE_ELEMENTWISE_KINDS): memory-wise the conv's
epilogue, its output buffer becomes the activation's. Exact (element i of the table lookup reads only
element i); planned and measured peak SRAM go down where the conv output + activation output pair was
the peak, per layer and in the patch stage, bit-exact on the host and on QEMU with both kernel sets."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from codegen_graphs import Appender, _conv1x1
from device_point import run_on_f746
from machine import needs

from harness import reference
from harness.codegen import CodegenOptions, generate_model
from harness.codegen.hostrun import run_on_host
from harness.engines import get_engine
from harness.ir.graph import validate
from harness.pipeline.measure import (
    expected_output,
    make_test_input,
)
from harness.schedule.arena import DEFAULT_INPLACE, plan_arena
from harness.schedule.executor import run_in_arena
from harness.schedule.plan import make_plan
from models.synthetic import LayerSpec, build_stack

# the graph has no ADD, MUL or QUANTIZE: elementwise in-place off changes only the activations
ACTIVATION_OUT_OF_PLACE = replace(DEFAULT_INPLACE, elementwise=False)


def activation_peak_graph(kind: str = "HARD_SWISH"):
    """A 3x3 conv to 40x40x16, an activation of it, then a 1x1 conv to 8 channels: per layer the peak is
    the activation's step (its 40x40x16 input and output) unless it runs over its input."""
    graph = build_stack([LayerSpec("conv", 3, 1, channels=16)], input_shape=(1, 40, 40, 3), seed=8,
                        name=f"act_peak_{kind.lower()}", blocks=False)  # fmt: skip
    a = Appender(graph, seed=5)
    attrs = {"alpha": 0.2} if kind == "LEAKY_RELU" else {}
    scale, zero_point = (1 / 256, -128) if kind == "LOGISTIC" else (0.03, -20)
    x = a.op(kind, "activation", [a.x], attrs, scale, zero_point)
    _conv1x1(a, "project", x, 8, 0.05, 4)
    validate(graph)
    return graph


@pytest.mark.parametrize("kind", ["HARD_SWISH", "LOGISTIC", "TANH", "LEAKY_RELU", "RELU6"])
@pytest.mark.parametrize("p, n, input_mode", [(1, 0, "counted"), (2, 3, "streamed")])
def test_an_activation_runs_over_its_conv_output_exactly_and_the_arena_shrinks(kind, p, n, input_mode):
    graph = activation_peak_graph(kind)
    plan = make_plan(graph, p, n)
    before = plan_arena(graph, plan, input_mode, inplace=ACTIVATION_OUT_OF_PLACE)
    after = plan_arena(graph, plan, input_mode)
    assert after.buffer("activation_out").writes_over == "b0_conv_conv_out"
    assert after.arena_bytes < before.arena_bytes
    x = make_test_input(graph)
    want = reference.run_outputs(graph, x)[graph.outputs[0]]
    np.testing.assert_array_equal(run_in_arena(graph, plan, after, x)[graph.outputs[0]], want)


def test_the_per_layer_peak_was_the_conv_and_activation_pair():
    graph = activation_peak_graph()
    pair = 2 * graph.tensor("activation_out").nbytes
    before = plan_arena(graph, make_plan(graph, 1, 0), inplace=ACTIVATION_OUT_OF_PLACE).arena_bytes
    after = plan_arena(graph, make_plan(graph, 1, 0)).arena_bytes
    assert before >= pair > after


@needs("gcc")
@pytest.mark.parametrize("p, n, optimized", [(1, 0, False), (2, 3, True)])
def test_the_in_place_activation_c_is_bit_exact_on_the_host(p, n, optimized):
    graph = activation_peak_graph("LOGISTIC")
    x = make_test_input(graph)
    model = generate_model(graph, make_plan(graph, p, n), "stm32f746", x, CodegenOptions(optimized))
    assert model.arena.buffer("activation_out").writes_over == "b0_conv_conv_out"
    assert run_on_host(model) == expected_output(graph, x)


def _run(p: int, n: int, kernels: str, input_mode: str, inplace):
    options = replace(get_engine().options(kernels, input_mode=input_mode), inplace=inplace)
    return run_on_f746(activation_peak_graph(), p, n, options)[1]


@pytest.mark.emulator
@needs("arm-none-eabi-gcc", "qemu-system-arm")
@pytest.mark.parametrize(
    "p, n, input_mode, kernels", [(1, 0, "counted", "portable"), (1, 0, "counted", "optimized"), (2, 3, "streamed", "optimized")]
)  # fmt: skip
def test_an_in_place_activation_is_exact_on_the_device_and_lowers_the_measured_peak(
    p, n, input_mode, kernels
):
    before = _run(p, n, kernels, input_mode, ACTIVATION_OUT_OF_PLACE)
    after = _run(p, n, kernels, input_mode, DEFAULT_INPLACE)
    for result in (before, after):
        assert result.status == "passed" and result.exact, result.summary()
        assert result.sram_measured <= result.sram_planned, result.summary()
    assert after.sram_planned < before.sram_planned and after.sram_measured < before.sram_measured
    print(
        f"act_peak p={p} n={n} {input_mode} {kernels}: planned {before.sram_planned} -> {after.sram_planned}, "
        f"measured {before.sram_measured} -> {after.sram_measured} bytes; "
        f"instructions {before.latency} -> {after.latency}"
    )
