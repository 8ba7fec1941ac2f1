# SPDX-License-Identifier: Apache-2.0
"""Shape inference: TFLite's output-shape rules per op kind, and clear errors on inputs that do not fit."""

from __future__ import annotations

import numpy as np
import pytest

from harness import paths
from harness.frontend import load_tflite
from harness.ir.graph import Graph, GraphError, Op, Tensor
from harness.ir.shapes import check_shapes, infer_op_shape, infer_shapes


def _one_op(kind: str, inputs: list, attrs: dict | None = None) -> tuple[Graph, Op]:
    """A graph of one op; each input is a shape (an activation) or a numpy array (a constant)."""
    tensors, names = {}, []
    for i, value in enumerate(inputs):
        name = f"in{i}"
        if isinstance(value, np.ndarray):
            tensors[name] = Tensor(name, value.shape, str(value.dtype), None, value)
        else:
            tensors[name] = Tensor(name, tuple(value), "int8")
        names.append(name)
    tensors["out"] = Tensor("out", (), "int8")
    op = Op(kind, "the_op", names, ["out"], attrs or {})
    activations = [n for n in names if not tensors[n].is_const]
    return Graph("g", tensors, [op], activations, ["out"]), op


def _infer(kind: str, inputs: list, attrs: dict | None = None) -> tuple[int, ...]:
    graph, op = _one_op(kind, inputs, attrs)
    return infer_op_shape(graph, op)


def _weights(*shape: int) -> np.ndarray:
    return np.zeros(shape, np.int8)


def _bias(n: int) -> np.ndarray:
    return np.zeros(n, np.int32)


def _i32(values) -> np.ndarray:
    return np.array(values, np.int32)


@pytest.mark.parametrize(
    ("attrs", "expected"),
    [
        ({"stride": (2, 2), "padding": "SAME"}, (1, 4, 4, 8)),
        ({"stride": (2, 2), "padding": "VALID"}, (1, 3, 3, 8)),
        ({"stride": (1, 1), "dilation": (2, 2), "padding": "VALID"}, (1, 3, 3, 8)),
        ({"stride": (1, 2), "padding": "SAME"}, (1, 7, 4, 8)),
    ],
)
def test_conv_2d(attrs, expected):
    assert _infer("CONV_2D", [(1, 7, 7, 3), _weights(8, 3, 3, 3), _bias(8)], attrs) == expected


def test_conv_2d_channel_mismatch_names_the_op():
    with pytest.raises(
        GraphError, match=r"op 0 \(CONV_2D 'the_op'\): filter 'in1' has 3 input channels .* has 4"
    ):
        _infer("CONV_2D", [(1, 7, 7, 4), _weights(8, 3, 3, 3), _bias(8)], {"padding": "SAME"})


def test_conv_window_larger_than_valid_input():
    with pytest.raises(GraphError, match="does not fit a 2x2 input with VALID padding"):
        _infer("CONV_2D", [(1, 2, 2, 3), _weights(8, 3, 3, 3), _bias(8)], {"padding": "VALID"})


def test_depthwise_conv_2d():
    attrs = {"stride": (2, 2), "padding": "SAME", "depth_multiplier": 1}
    assert _infer("DEPTHWISE_CONV_2D", [(1, 9, 9, 16), _weights(1, 5, 5, 16), _bias(16)], attrs) == (
        1,
        5,
        5,
        16,
    )
    with pytest.raises(GraphError, match="depth_multiplier 1 disagrees with the filter's 16 channels"):
        _infer("DEPTHWISE_CONV_2D", [(1, 9, 9, 8), _weights(1, 3, 3, 16), _bias(16)], attrs)
    multiplied = {**attrs, "depth_multiplier": 2}
    assert _infer("DEPTHWISE_CONV_2D", [(1, 9, 9, 8), _weights(1, 3, 3, 16), _bias(16)], multiplied) == (
        1,
        5,
        5,
        16,
    )
    with pytest.raises(GraphError, match="12 channels, not a multiple of the input's 8"):
        _infer("DEPTHWISE_CONV_2D", [(1, 9, 9, 8), _weights(1, 3, 3, 12), _bias(12)], attrs)
    with pytest.raises(GraphError, match=r"bias 'in2' has shape \(8,\); it must be \(16,\)"):
        _infer("DEPTHWISE_CONV_2D", [(1, 9, 9, 16), _weights(1, 3, 3, 16), _bias(8)], attrs)


def test_fully_connected():
    assert _infer("FULLY_CONNECTED", [(1, 1, 1, 64), _weights(10, 64), _bias(10)]) == (1, 10)
    assert _infer("FULLY_CONNECTED", [(1, 5, 64), _weights(10, 64)], {"keep_dims": True}) == (1, 5, 10)
    with pytest.raises(GraphError, match=r"input shape \(1, 65\) \(65 values\) is not a whole number of 64"):
        _infer("FULLY_CONNECTED", [(1, 65), _weights(10, 64), _bias(10)])


def test_elementwise_broadcast():
    assert _infer("ADD", [(1, 4, 4, 8), (1, 1, 1, 8)]) == (1, 4, 4, 8)
    assert _infer("MUL", [(1, 4, 4, 8), (1, 4, 4, 8)]) == (1, 4, 4, 8)
    with pytest.raises(GraphError, match=r"input shapes \(1, 4, 4, 8\) and \(1, 4, 4, 7\) do not broadcast"):
        _infer("ADD", [(1, 4, 4, 8), (1, 4, 4, 7)])


def test_pools():
    attrs = {"stride": (2, 2), "padding": "VALID", "filter": (3, 3)}
    assert _infer("MAX_POOL_2D", [(1, 9, 9, 4)], attrs) == (1, 4, 4, 4)
    assert _infer("AVERAGE_POOL_2D", [(1, 3, 3, 256)], {**attrs, "filter": (3, 3)}) == (1, 1, 1, 256)


def test_mean():
    assert _infer("MEAN", [(1, 7, 7, 32), _i32([1, 2])], {"keep_dims": False}) == (1, 32)
    assert _infer("MEAN", [(1, 7, 7, 32), _i32([-3, -2])], {"keep_dims": True}) == (1, 1, 1, 32)
    with pytest.raises(GraphError, match="axis 4 is out of range for rank 4"):
        _infer("MEAN", [(1, 7, 7, 32), _i32([4])])


def test_pad():
    assert _infer("PAD", [(1, 5, 5, 3), _i32([[0, 0], [1, 2], [3, 0], [0, 0]])]) == (1, 8, 8, 3)
    with pytest.raises(GraphError, match=r"paddings have shape \(3, 2\); a rank-4 input needs \(4, 2\)"):
        _infer("PAD", [(1, 5, 5, 3), _i32([[0, 0], [1, 1], [1, 1]])])


def test_reshape():
    assert _infer("RESHAPE", [(1, 1, 1, 64), _i32([-1, 64])]) == (1, 64)
    assert _infer("RESHAPE", [(1, 4, 4, 2), _i32([1, 32])]) == (1, 32)
    with pytest.raises(GraphError, match=r"cannot reshape \(1, 4, 4, 2\) \(32 values\) to \(1, 30\)"):
        _infer("RESHAPE", [(1, 4, 4, 2), _i32([1, 30])])
    with pytest.raises(GraphError, match="at most one -1"):
        _infer("RESHAPE", [(1, 4, 4, 2), _i32([-1, -1])])


def test_transpose_concatenation_resize():
    assert _infer("TRANSPOSE", [(1, 2, 3, 4), _i32([0, 3, 1, 2])]) == (1, 4, 2, 3)
    with pytest.raises(GraphError, match=r"perm \[0, 1, 1, 2\] is not a permutation"):
        _infer("TRANSPOSE", [(1, 2, 3, 4), _i32([0, 1, 1, 2])])
    assert _infer("CONCATENATION", [(1, 4, 4, 8), (1, 4, 4, 3)], {"axis": -1}) == (1, 4, 4, 11)
    with pytest.raises(GraphError, match=r"input 1 has shape \(1, 5, 4, 3\), input 0 has \(1, 4, 4, 8\)"):
        _infer("CONCATENATION", [(1, 4, 4, 8), (1, 5, 4, 3)], {"axis": 3})
    assert _infer("RESIZE_NEAREST_NEIGHBOR", [(1, 4, 4, 8), _i32([8, 6])]) == (1, 8, 6, 8)
    assert _infer("SOFTMAX", [(1, 10)]) == (1, 10)


def test_check_shapes_catches_a_wrong_stored_shape():
    graph, _ = _one_op("ADD", [(1, 4, 4, 8), (1, 4, 4, 8)])
    graph.tensors["out"].shape = (1, 4, 4, 9)
    with pytest.raises(
        GraphError, match=r"output tensor 'out' has shape \(1, 4, 4, 9\), .* give \(1, 4, 4, 8\)"
    ):
        check_shapes(graph)
    graph.tensors["out"].shape = (1, 4, 4, 8)
    check_shapes(graph)


def test_infer_shapes_reproduces_every_vww_shape():
    graph = load_tflite(paths.mlperf_model("vww_96_int8"))
    inferred = infer_shapes(graph)
    assert len(inferred) == len(graph.ops) + 1
    assert inferred == {name: graph.tensor(name).shape for name in inferred}
    assert inferred[graph.outputs[0]] == (1, 2)
