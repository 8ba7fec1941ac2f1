# SPDX-License-Identifier: Apache-2.0
"""ARG_MAX (a classification head's last op), added through its definition (harness/ir/opdefs.py) with
its reference, emitter and C kernel (pb_arg_max.c): int32 indices of the first largest value along one
axis, as TFLite's ArgMinMax.

Checked: the reference against LiteRT BUILTIN_REF on every tensor and TFLite Micro on the output (ties
included: int8 values repeat), the generated C on the host with both patchbench kernel sets, and one
point on the emulator per kernel set (tests/ir/test_batch_matmul.py: a graph ending in BATCH_MATMUL and ARG_MAX;
with CMSIS-NN, ARG_MAX runs the portable kernel, as TFLite Micro runs its reference kernel).
"""

from __future__ import annotations

import numpy as np
import pytest
from codegen_graphs import Appender
from machine import needs
from op_checks import (
    assert_host_c_matches_the_reference,
    assert_litert_every_tensor_and_tflm_output,
)

from harness import reference
from harness.frontend import TFLiteImportError, graph_from_bytes, graph_to_bytes
from harness.ir.graph import GraphError, Op, QParams, Tensor, validate
from harness.ir.shapes import infer_op_shape
from harness.reference.outside import seeded_inputs
from models.synthetic import LayerSpec, build_stack

CASES = {"channels": -1, "rows": 1, "head": 1}  # name: axis ("head": FULLY_CONNECTED [1, 10] first)


def arg_max_graph(case: str):
    graph = build_stack([LayerSpec("conv", 3, 1, channels=6)], input_shape=(1, 5, 4, 3), seed=4, blocks=False)
    a = Appender(graph, seed=2)
    if case == "head":
        flat = a.op("RESHAPE", "flat", [a.x, a.const("shape", np.array([1, 120], np.int32))])
        data = a.rng.integers(-127, 128, (10, 120)).astype(np.int8)
        weights = a.const("fc_w", data, QParams.per_tensor(0.02, 0))  # symmetric, as TFLite's int8 weights
        a.op("FULLY_CONNECTED", "fc", [flat, weights, ""], {"activation": "NONE", "act_min": -128, "act_max": 127},
             scale=0.09, zero_point=3)  # fmt: skip
    return append_arg_max(graph, CASES[case])


def append_arg_max(graph, axis: int):
    """ARG_MAX of the graph's output along ``axis``, as the graph's new output (int32 indices)."""
    axis_name = Appender(graph).const("axis", np.array([axis], np.int32))
    out = "arg_max_out"
    graph.tensors[out] = Tensor(out, (), "int32", None)
    op = Op("ARG_MAX", "arg_max", [graph.outputs[0], axis_name], [out], {})
    graph.ops.append(op)
    graph.tensors[out].shape = tuple(infer_op_shape(graph, op))
    graph.outputs = [out]
    validate(graph)
    return graph


def test_the_shape_drops_the_axis_and_a_bad_axis_is_named():
    assert arg_max_graph("channels").tensor("arg_max_out").shape == (1, 5, 4)
    assert arg_max_graph("rows").tensor("arg_max_out").shape == (1, 4, 6)
    graph = arg_max_graph("channels")
    graph.tensor("axis").data = np.array([4], np.int32)
    with pytest.raises(GraphError, match=r"axis \[4\] must be one axis of the rank-4 input"):
        infer_op_shape(graph, graph.ops[-1])


@pytest.fixture(scope="module", params=list(CASES))
def exported(request):
    data = graph_to_bytes(arg_max_graph(request.param))
    return data, graph_from_bytes(data, f"arg_max_{request.param}")


def test_every_tensor_matches_litert_and_the_output_tflite_micro(exported):
    data, graph = exported
    assert graph.ops[-1].kind == "ARG_MAX" and graph.tensor(graph.outputs[0]).dtype == "int32"
    assert_litert_every_tensor_and_tflm_output(data, graph)


def test_the_first_of_equal_values_wins():
    graph = arg_max_graph("channels")
    conv_out = graph.ops[0].outputs[0]
    values = reference.run_graph(graph, seeded_inputs(graph, 1, seed=1)[0][0])
    ties = values[conv_out].max(axis=-1, keepdims=True) == values[conv_out]
    assert ties.sum() > ties[..., 0].size  # some pixels have a tie for the largest
    np.testing.assert_array_equal(values["arg_max_out"], np.argmax(ties, axis=-1))


def test_indices_of_another_type_are_refused_on_import():
    graph = arg_max_graph("channels")
    graph.tensors["arg_max_out"].dtype = "int16"  # a type TFLite Micro's kernel does not write
    with pytest.raises(TFLiteImportError, match="is int16; ARG_MAX writes int32 here"):
        graph_from_bytes(graph_to_bytes(graph), "int16_indices")


@needs("gcc")
@pytest.mark.parametrize("optimized", [True, False])
def test_generated_c_matches_the_reference_on_the_host(exported, optimized):
    assert_host_c_matches_the_reference(exported[1], optimized)


# On the emulator with each kernel set: tests/ir/test_batch_matmul.py runs a graph ending in BATCH_MATMUL and
# ARG_MAX (one point per kernel set serves both ops).
