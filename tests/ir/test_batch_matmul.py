# SPDX-License-Identifier: Apache-2.0
"""BATCH_MATMUL (attention scores, a matrix of constant weights), added through its definition
(harness/ir/opdefs.py) with its reference, emitter and C kernel (pb_batch_matmul.c): TFLite's int8
arithmetic, sum of (lhs - zero point) * (rhs - zero point) requantized like a convolution's.

Checked: the reference against LiteRT BUILTIN_REF on every tensor and TFLite Micro on the output, the
generated C on the host with both patchbench kernel sets, and one point on the emulator per kernel set (the
scores followed by ARG_MAX, so that the point serves both new ops; CMSIS-NN calls arm_batch_matmul_s8).
"""

from __future__ import annotations

import numpy as np
import pytest
from codegen_graphs import Appender
from machine import needs
from op_checks import (
    assert_exact_on_the_emulator,
    assert_host_c_matches_the_reference,
    assert_litert_every_tensor_and_tflm_output,
)
from test_arg_max import append_arg_max

from harness.codegen import CodegenError, CodegenOptions, cmsis_nn, generate_model
from harness.engines import get_engine
from harness.frontend import graph_from_bytes, graph_to_bytes
from harness.ir.graph import GraphError, QParams, validate
from harness.ir.shapes import infer_op_shape
from harness.reference.outside import seeded_inputs
from harness.schedule.plan import make_plan
from models.synthetic import LayerSpec, build_stack

CASES = ("scores", "weights", "adjoint_batches")


def batch_matmul_graph(case: str):
    """A conv's output (1x5x4x6) reshaped, times itself (attention-like scores, adj_y), a constant
    matrix (rank 2: broadcast over the batch), or per-batch constants with the lhs stored transposed."""
    graph = build_stack([LayerSpec("conv", 3, 1, channels=6)], input_shape=(1, 5, 4, 3), seed=4, blocks=False)
    a = Appender(graph, seed=2)
    shape = {"scores": [1, 20, 6], "weights": [20, 6], "adjoint_batches": [2, 10, 6]}[case]
    x = a.op("RESHAPE", "rows", [a.x, a.const("shape", np.array(shape, np.int32))])
    if case == "scores":
        a.op("BATCH_MATMUL", "scores", [x, x], {"adj_y": True}, scale=0.6, zero_point=-5)
    elif case == "weights":
        w = a.const("w", a.rng.integers(-128, 128, (6, 5)).astype(np.int8), QParams.per_tensor(0.03, 7))
        a.op("BATCH_MATMUL", "project", [x, w], {}, scale=0.2, zero_point=4)
    else:
        w = a.const("w", a.rng.integers(-128, 128, (2, 10, 3)).astype(np.int8), QParams.per_tensor(0.02, -3))
        a.op("BATCH_MATMUL", "project", [x, w], {"adj_x": True}, scale=0.3, zero_point=1)
    validate(graph)
    return graph


def test_shapes_broadcast_the_batch_and_a_mismatch_is_named():
    assert batch_matmul_graph("scores").tensor(batch_matmul_graph("scores").outputs[0]).shape == (1, 20, 20)
    graph = batch_matmul_graph("weights")
    assert graph.tensor(graph.outputs[0]).shape == (20, 5)
    graph = batch_matmul_graph("adjoint_batches")
    assert graph.tensor(graph.outputs[0]).shape == (2, 6, 3)
    graph.ops[-1].attrs["adj_x"] = False
    with pytest.raises(
        GraphError, match=r"do not share the summed axis \(6 != 10; adj_x False, adj_y False\)"
    ):
        infer_op_shape(graph, graph.ops[-1])


@pytest.fixture(scope="module", params=CASES)
def exported(request):
    data = graph_to_bytes(batch_matmul_graph(request.param))
    return data, graph_from_bytes(data, f"batch_matmul_{request.param}")


def test_every_tensor_matches_litert_and_the_output_tflite_micro(exported):
    data, graph = exported
    assert graph.ops[-1].kind == "BATCH_MATMUL"
    assert_litert_every_tensor_and_tflm_output(data, graph)


@needs("gcc")
@pytest.mark.parametrize("optimized", [True, False])
def test_generated_c_matches_the_reference_on_the_host(exported, optimized):
    assert_host_c_matches_the_reference(exported[1], optimized)


def test_an_operand_broadcast_along_some_batch_axes_only_is_refused_by_name():
    graph = build_stack([LayerSpec("conv", 3, 1, channels=6)], input_shape=(1, 5, 4, 3), seed=4, blocks=False)
    a = Appender(graph, seed=2)
    x = a.op("RESHAPE", "rows", [a.x, a.const("shape", np.array([2, 1, 10, 6], np.int32))])
    w = a.const("w", np.zeros((1, 3, 6, 5), np.int8), QParams.per_tensor(0.03, 0))
    a.op("BATCH_MATMUL", "project", [x, w], {}, scale=0.2, zero_point=4)  # batches [2, 1] x [1, 3] -> [2, 3]
    assert graph.tensor(graph.outputs[0]).shape == (2, 3, 10, 5)
    x = seeded_inputs(graph, 1, seed=1)[0][0]
    with pytest.raises(
        CodegenError, match=r"operand 'rows_out' \[2, 1, 10, 6\] broadcasts along some batch axes"
    ):
        generate_model(graph, make_plan(graph, 1, 0), "stm32f746", x, CodegenOptions())


@pytest.mark.emulator
@needs("arm-none-eabi-gcc", "qemu-system-arm")
@pytest.mark.parametrize("kernels", get_engine().kernel_set_names)
def test_batch_matmul_and_arg_max_bit_exact_on_the_emulator(kernels):
    """Attention-like scores, then the index of each row's largest: both new ops in one point per kernel set."""
    result = assert_exact_on_the_emulator(append_arg_max(batch_matmul_graph("scores"), -1), kernels)
    assert "scores" not in (result.portable_ops or "")  # CMSIS-NN's arm_batch_matmul_s8 ran it


@pytest.mark.emulator
@needs("arm-none-eabi-gcc", "qemu-system-arm")
def test_cmsis_nn_batch_matmul_of_a_constant_matrix_on_the_emulator():
    """The constant rhs goes to arm_batch_matmul_s8 transposed (rows of K) at generation time."""
    result = assert_exact_on_the_emulator(batch_matmul_graph("weights"), "cmsis-nn")
    assert "project" not in (result.portable_ops or "")


def test_cmsis_nn_says_why_it_leaves_a_batch_matmul_to_the_portable_kernel():
    assert cmsis_nn.fallbacks(batch_matmul_graph("adjoint_batches")) == {
        "project": "adj_x (TFLite Micro transposes the lhs into a scratch tensor at run time)"
    }
    assert cmsis_nn.fallbacks(batch_matmul_graph("scores")) == {}
