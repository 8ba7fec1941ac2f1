# SPDX-License-Identifier: Apache-2.0
"""harness.reference against the real runtimes, bit for bit.

- Every tensor of the four MLPerf Tiny models equals LiteRT's BUILTIN_REF interpreter, and the outputs
  equal the TFLite Micro interpreter, on 20 seeded random int8 inputs each.
- Every op kind, as a one-op model exported with harness.frontend, equals both runtimes.
- Explicit padding: cutting a conv's or pool's output into tiles, and running each tile on its
  cropped input with explicit pads, gives the full-image result (what the patch executor relies on).
- The fixed-point helpers give the values TFLite's definitions give on their edge cases.
"""

from __future__ import annotations

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter, OpResolverType
from hypothesis import given, settings
from hypothesis import strategies as st
from tflite_micro.python.tflite_micro import runtime

from harness import reference
from harness.frontend import graph_to_bytes, load_tflite
from harness.ir import quant
from harness.ir.geometry import input_window
from harness.ir.graph import Graph, GraphError, Op, QParams, Tensor
from harness.ir.shapes import infer_op_shape
from harness.paths import MLPERF_MODELS, mlperf_model
from harness.reference import FC_DOUBLE, FC_FIXED, ReferenceError

INPUTS_PER_MODEL = 20


def _litert(model: str | bytes) -> Interpreter:
    source = {"model_content": model} if isinstance(model, bytes) else {"model_path": model}
    interpreter = Interpreter(
        **source,
        experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
        experimental_preserve_all_tensors=True,
    )
    interpreter.allocate_tensors()
    return interpreter


def _random_input(rng: np.random.Generator, tensor: Tensor) -> np.ndarray:
    if tensor.dtype == "float32":
        return rng.normal(0.0, 2.0, size=tensor.shape).astype(np.float32)
    return rng.integers(-128, 128, size=tensor.shape, dtype=np.int64).astype(tensor.dtype)


def _mismatches(graph: Graph, ours: dict[str, np.ndarray], interpreter: Interpreter) -> list[str]:
    index_of = graph.source_tensor_index or {t["name"]: t["index"] for t in interpreter.get_tensor_details()}
    found = []
    for name, value in ours.items():
        theirs = interpreter.get_tensor(index_of[name])
        if theirs.shape != value.shape or theirs.dtype != value.dtype or not np.array_equal(theirs, value):
            diff = (
                np.abs(theirs.astype(np.float64) - value.astype(np.float64))
                if theirs.shape == value.shape
                else 0
            )
            found.append(f"{name}: {np.count_nonzero(diff)} elements differ, max {np.max(diff)}")
    return found


# --- the MLPerf Tiny models ---------------------------------------------------------------------


@pytest.fixture(scope="module", params=MLPERF_MODELS)
def model(request):
    path = str(mlperf_model(request.param))
    graph = load_tflite(path)
    rng = np.random.default_rng(sum(map(ord, request.param)))
    inputs = [_random_input(rng, graph.tensor(graph.inputs[0])) for _ in range(INPUTS_PER_MODEL)]
    return request.param, path, graph, inputs


def test_model_every_tensor_matches_litert_reference(model):
    name, path, graph, inputs = model
    interpreter = _litert(path)
    index = interpreter.get_input_details()[0]["index"]
    compared = 0
    for i, x in enumerate(inputs):
        interpreter.set_tensor(index, x)
        interpreter.invoke()
        ours = reference.run_graph(graph, x, fc_requant=FC_DOUBLE)
        assert not _mismatches(graph, ours, interpreter), (
            f"{name}, input {i}: {_mismatches(graph, ours, interpreter)}"
        )
        compared += len(ours)
    # Every activation of the graph was compared, for every input.
    assert compared == INPUTS_PER_MODEL * len(graph.activations())


def test_model_outputs_match_tflite_micro(model):
    name, path, graph, inputs = model
    micro = runtime.Interpreter.from_file(path)
    for i, x in enumerate(inputs):
        micro.set_input(x, 0)
        micro.invoke()
        ours = reference.run_outputs(graph, x)[graph.outputs[0]]
        np.testing.assert_array_equal(ours, micro.get_output(0), err_msg=f"{name}, input {i}")


def test_fc_requant_modes_differ_on_the_autoencoder():
    """ad01 is ten FULLY_CONNECTED layers: the two TFLite requantizations must really differ there."""
    graph = load_tflite(mlperf_model("ad01_int8"))
    rng = np.random.default_rng(7)
    differ = 0
    for _ in range(5):
        x = _random_input(rng, graph.tensor(graph.inputs[0]))
        fixed = reference.run_outputs(graph, x, FC_FIXED)[graph.outputs[0]]
        double = reference.run_outputs(graph, x, FC_DOUBLE)[graph.outputs[0]]
        assert np.max(np.abs(fixed.astype(int) - double.astype(int))) <= 8
        differ += not np.array_equal(fixed, double)
    assert differ > 0


# --- one-op models ------------------------------------------------------------------------------


class _OneOp:
    """Builds a small graph tensor by tensor; output shapes come from harness.ir.shapes."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.tensors: dict[str, Tensor] = {}
        self.ops: list[Op] = []
        self.inputs: list[str] = []

    def input(self, shape, scale=None, zero_point=None, dtype="int8") -> str:
        name = f"in{len(self.inputs)}"
        qparams = None
        if dtype == "int8":
            scale = float(self.rng.uniform(0.01, 0.1)) if scale is None else scale
            zero_point = int(self.rng.integers(-100, 100)) if zero_point is None else zero_point
            qparams = QParams.per_tensor(scale, zero_point)
        self.tensors[name] = Tensor(name, tuple(shape), dtype, qparams)
        self.inputs.append(name)
        return name

    def const(self, data: np.ndarray, qparams: QParams | None = None) -> str:
        name = f"const{len(self.tensors)}"
        self.tensors[name] = Tensor(name, tuple(data.shape), str(data.dtype), qparams, data)
        return name

    def weights(self, shape, axis: int, per_channel: bool = True) -> tuple[str, np.ndarray]:
        channels = shape[axis] if per_channel else 1
        scales = self.rng.uniform(0.002, 0.02, size=channels).astype(np.float32)
        data = self.rng.integers(-127, 128, size=shape, dtype=np.int64).astype(np.int8)
        qparams = QParams(scales, np.zeros(channels, np.int64), axis if per_channel else 0)
        return self.const(data, qparams), scales

    def bias(self, input_name: str, weight_scales: np.ndarray, channels: int) -> str:
        scales = (np.float64(self.tensors[input_name].scale) * weight_scales).astype(np.float32)
        scales = np.broadcast_to(scales, (channels,)).copy()
        data = self.rng.integers(-5000, 5000, size=channels, dtype=np.int64).astype(np.int32)
        return self.const(data, QParams(scales, np.zeros(channels, np.int64), 0))

    def op(self, kind, inputs, attrs=None, scale=None, zero_point=None, dtype="int8", activation=None) -> str:
        attrs = dict(attrs or {})
        name = f"out{len(self.ops)}"
        qparams = None
        if dtype == "int8":
            scale = float(self.rng.uniform(0.02, 0.2)) if scale is None else scale
            zero_point = int(self.rng.integers(-60, 60)) if zero_point is None else zero_point
            qparams = QParams.per_tensor(scale, zero_point)
        if activation is not None:
            attrs["activation"] = activation
            attrs["act_min"], attrs["act_max"] = quant.activation_range(activation, scale, zero_point)
        op = Op(kind, f"op{len(self.ops)}_{kind.lower()}", list(inputs), [name], attrs)
        self.tensors[name] = Tensor(name, (), dtype, qparams)
        self.ops.append(op)
        graph = self.graph()
        self.tensors[name].shape = tuple(infer_op_shape(graph, op))
        return name

    def graph(self) -> Graph:
        return Graph("one_op", self.tensors, self.ops, list(self.inputs), [self.ops[-1].outputs[0]])


def _conv(b: _OneOp, shape, cout, k, stride=(1, 1), dilation=(1, 1), padding="SAME", activation="NONE"):
    x = b.input(shape)
    w, scales = b.weights((cout, k[0], k[1], shape[3]), axis=0)
    bias = b.bias(x, scales, cout)
    attrs = {"stride": stride, "dilation": dilation, "padding": padding}
    b.op("CONV_2D", [x, w, bias], attrs, activation=activation, scale=float(b.rng.uniform(0.05, 0.3)))


def _depthwise(b: _OneOp, shape, k, dm=1, stride=(1, 1), dilation=(1, 1), padding="SAME", activation="NONE"):
    x = b.input(shape)
    w, scales = b.weights((1, k[0], k[1], shape[3] * dm), axis=3)
    bias = b.bias(x, scales, shape[3] * dm)
    attrs = {"stride": stride, "dilation": dilation, "padding": padding, "depth_multiplier": dm}
    b.op("DEPTHWISE_CONV_2D", [x, w, bias], attrs, activation=activation)


def _fully_connected(b: _OneOp, shape, cout, per_channel, with_bias=True, keep_dims=False, activation="NONE"):
    x = b.input(shape)
    w, scales = b.weights((cout, shape[-1]), axis=0, per_channel=per_channel)
    bias = b.bias(x, scales, cout) if with_bias else ""
    b.op("FULLY_CONNECTED", [x, w, bias], {"keep_dims": keep_dims}, activation=activation)


def _binary(b: _OneOp, kind, shape_a, shape_b, activation="NONE"):
    b.op(kind, [b.input(shape_a), b.input(shape_b)], activation=activation)


def _pool(b: _OneOp, kind, shape, k, stride, padding, activation="NONE", same_qparams=True):
    x = b.input(shape)
    attrs = {"filter": k, "stride": stride, "padding": padding}
    scale, zp = b.tensors[x].scale, b.tensors[x].zero_point
    b.op(kind, [x], attrs, scale=scale, zero_point=zp, activation=activation)


def _mean(b: _OneOp, shape, axes, keep_dims, same_qparams):
    x = b.input(shape)
    axes_name = b.const(np.array(axes, np.int32))
    scale, zp = (b.tensors[x].scale, b.tensors[x].zero_point) if same_qparams else (None, None)
    b.op("MEAN", [x, axes_name], {"keep_dims": keep_dims}, scale=scale, zero_point=zp)


def _same_qparams_op(b: _OneOp, kind, shape, const, attrs=None):
    x = b.input(shape)
    b.op(kind, [x, b.const(const)], attrs, scale=b.tensors[x].scale, zero_point=b.tensors[x].zero_point)


def _concatenation(b: _OneOp, shapes, axis):
    first = b.input(shapes[0])
    scale, zp = b.tensors[first].scale, b.tensors[first].zero_point
    names = [first] + [b.input(shape, scale, zp) for shape in shapes[1:]]
    b.op("CONCATENATION", names, {"axis": axis, "activation": "NONE"}, scale=scale, zero_point=zp)


def _resize(b: _OneOp, shape, size, align_corners, half_pixel_centers):
    attrs = {"align_corners": align_corners, "half_pixel_centers": half_pixel_centers}
    _same_qparams_op(b, "RESIZE_NEAREST_NEIGHBOR", shape, np.array(size, np.int32), attrs)


def _softmax(b: _OneOp, shape, input_scale, beta=1.0):
    b.op("SOFTMAX", [b.input(shape, scale=input_scale)], {"beta": beta}, scale=1.0 / 256, zero_point=-128)


def _reshape(b: _OneOp, shape, new_shape):
    _same_qparams_op(b, "RESHAPE", shape, np.array(new_shape, np.int32))


ONE_OP_CASES = {
    "conv_same_stride2_relu6": lambda b: _conv(b, (1, 9, 11, 5), 6, (3, 3), (2, 2), activation="RELU6"),
    "conv_valid_dilated": lambda b: _conv(b, (1, 10, 10, 4), 3, (3, 3), dilation=(2, 2), padding="VALID"),
    "conv_5x5_stride_2x1_relu": lambda b: _conv(b, (1, 7, 8, 3), 4, (5, 5), (2, 1), activation="RELU"),
    "conv_1x1": lambda b: _conv(b, (1, 6, 6, 16), 8, (1, 1)),
    "conv_3x1_valid_stride3": lambda b: _conv(b, (1, 11, 7, 2), 5, (3, 1), (3, 3), padding="VALID"),
    "depthwise_same_stride2_relu": lambda b: _depthwise(
        b, (1, 9, 9, 6), (3, 3), stride=(2, 2), activation="RELU"
    ),
    "depthwise_valid": lambda b: _depthwise(b, (1, 8, 7, 3), (3, 3), padding="VALID"),
    "depthwise_5x5_dilated": lambda b: _depthwise(b, (1, 12, 12, 4), (5, 5), dilation=(2, 2)),
    "fc_per_tensor_relu": lambda b: _fully_connected(b, (1, 40), 7, False, activation="RELU"),
    "fc_per_channel": lambda b: _fully_connected(b, (2, 16), 5, True),
    "fc_no_bias": lambda b: _fully_connected(b, (1, 24), 6, False, with_bias=False),
    "fc_keep_dims": lambda b: _fully_connected(b, (1, 3, 8), 4, False, keep_dims=True),
    "add_relu": lambda b: _binary(b, "ADD", (1, 4, 5, 3), (1, 4, 5, 3), "RELU"),
    "add_broadcast": lambda b: _binary(b, "ADD", (1, 4, 4, 3), (1, 1, 1, 3)),
    "mul": lambda b: _binary(b, "MUL", (1, 4, 5, 3), (1, 4, 5, 3)),
    "mul_broadcast_relu6": lambda b: _binary(b, "MUL", (1, 3, 3, 8), (1, 1, 1, 8), "RELU6"),
    "avgpool_same_3x3_stride2": lambda b: _pool(b, "AVERAGE_POOL_2D", (1, 7, 9, 4), (3, 3), (2, 2), "SAME"),
    "avgpool_valid_2x2": lambda b: _pool(b, "AVERAGE_POOL_2D", (1, 6, 6, 5), (2, 2), (2, 2), "VALID"),
    "avgpool_global_relu": lambda b: _pool(
        b, "AVERAGE_POOL_2D", (1, 5, 5, 8), (5, 5), (1, 1), "VALID", "RELU"
    ),
    "avgpool_same_4x4_stride1": lambda b: _pool(b, "AVERAGE_POOL_2D", (1, 6, 5, 3), (4, 4), (1, 1), "SAME"),
    "maxpool_same_3x3_stride2": lambda b: _pool(b, "MAX_POOL_2D", (1, 7, 9, 4), (3, 3), (2, 2), "SAME"),
    "maxpool_valid_2x2_relu": lambda b: _pool(
        b, "MAX_POOL_2D", (1, 6, 6, 5), (2, 2), (2, 2), "VALID", "RELU"
    ),
    "mean_hw_keep_dims_requant": lambda b: _mean(b, (1, 5, 7, 6), [1, 2], True, False),
    "mean_hw_same_qparams": lambda b: _mean(b, (1, 4, 4, 6), [1, 2], True, True),
    "mean_h_drop_dims": lambda b: _mean(b, (1, 5, 3, 4), [1], False, False),
    "mean_negative_axis": lambda b: _mean(b, (1, 6, 3, 4), [-3, 2], False, False),
    "pad": lambda b: _same_qparams_op(
        b, "PAD", (1, 3, 4, 2), np.array([[0, 0], [1, 2], [2, 0], [0, 0]], np.int32)
    ),
    "transpose": lambda b: _same_qparams_op(b, "TRANSPOSE", (1, 3, 4, 2), np.array([0, 2, 1, 3], np.int32)),
    "reshape": lambda b: _reshape(b, (1, 2, 3, 4), (1, 24)),
    "concatenation_channels": lambda b: _concatenation(b, [(1, 3, 3, 2), (1, 3, 3, 5)], 3),
    "concatenation_rows": lambda b: _concatenation(b, [(1, 2, 3, 2), (1, 4, 3, 2), (1, 1, 3, 2)], 1),
    "resize_nearest_2x": lambda b: _resize(b, (1, 3, 4, 2), (6, 8), False, False),
    "resize_nearest_5_to_7": lambda b: _resize(b, (1, 5, 5, 2), (7, 3), False, False),
    "resize_nearest_align_corners": lambda b: _resize(b, (1, 5, 4, 2), (7, 9), True, False),
    "resize_nearest_half_pixel": lambda b: _resize(b, (1, 5, 4, 2), (7, 9), False, True),
    "softmax_small_scale": lambda b: _softmax(b, (8, 10), 0.02),
    "softmax_large_scale": lambda b: _softmax(b, (8, 12), 0.5),
    "softmax_rank3": lambda b: _softmax(b, (2, 5, 7), 1.0 / 16),
    "softmax_beta": lambda b: _softmax(b, (8, 9), 0.1, beta=0.7),
    "quantize_float": lambda b: b.op(
        "QUANTIZE", [b.input((1, 4, 5, 3), dtype="float32")], scale=0.03, zero_point=5
    ),
    "quantize_requantize": lambda b: b.op("QUANTIZE", [b.input((1, 4, 5, 3))]),
    "dequantize": lambda b: b.op("DEQUANTIZE", [b.input((1, 4, 5, 3))], dtype="float32"),
}


@pytest.mark.parametrize("case", sorted(ONE_OP_CASES))
def test_one_op_matches_litert_and_tflite_micro(case):
    rng = np.random.default_rng(sum(map(ord, case)))
    builder = _OneOp(rng)
    ONE_OP_CASES[case](builder)
    graph = builder.graph()
    data = graph_to_bytes(graph)
    interpreter = _litert(data)
    micro = runtime.Interpreter.from_bytes(data)
    for i in range(5):
        xs = [_random_input(rng, graph.tensor(name)) for name in graph.inputs]
        for index, x in enumerate(xs):
            interpreter.set_tensor(interpreter.get_input_details()[index]["index"], x)
            micro.set_input(x, index)
        interpreter.invoke()
        micro.invoke()
        feed = dict(zip(graph.inputs, xs, strict=True))
        ours = reference.run_graph(graph, feed, fc_requant=FC_DOUBLE)
        assert not _mismatches(graph, ours, interpreter), (
            f"{case}, input {i}: {_mismatches(graph, ours, interpreter)}"
        )
        ours_fixed = reference.run_outputs(graph, feed)[graph.outputs[0]]
        np.testing.assert_array_equal(
            ours_fixed, micro.get_output(0), err_msg=f"{case}, input {i} (TFLite Micro)"
        )


def test_concatenation_requantizes_like_quantize_op():
    """TFLite's int8 CONCATENATION rejects mixed qparams; patchbench requantizes like a QUANTIZE op."""
    rng = np.random.default_rng(3)
    mixed = _OneOp(rng)
    a, b = mixed.input((1, 2, 2, 3), 0.05, 10), mixed.input((1, 2, 2, 4), 0.02, -7)
    mixed.op("CONCATENATION", [a, b], {"axis": 3}, scale=0.04, zero_point=3)
    requantized = _OneOp(rng)
    a2, b2 = requantized.input((1, 2, 2, 3), 0.05, 10), requantized.input((1, 2, 2, 4), 0.02, -7)
    qa = requantized.op("QUANTIZE", [a2], scale=0.04, zero_point=3)
    qb = requantized.op("QUANTIZE", [b2], scale=0.04, zero_point=3)
    requantized.op("CONCATENATION", [qa, qb], {"axis": 3}, scale=0.04, zero_point=3)
    interpreter = _litert(graph_to_bytes(requantized.graph()))
    for _ in range(3):
        xa = rng.integers(-128, 128, size=(1, 2, 2, 3)).astype(np.int8)
        xb = rng.integers(-128, 128, size=(1, 2, 2, 4)).astype(np.int8)
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], xa)
        interpreter.set_tensor(interpreter.get_input_details()[1]["index"], xb)
        interpreter.invoke()
        theirs = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
        ours = reference.run_outputs(mixed.graph(), {a: xa, b: xb})[mixed.graph().outputs[0]]
        np.testing.assert_array_equal(ours, theirs)


# --- explicit padding: tiles of the output from cropped inputs ----------------------------------


def _tiles(size: int, cuts: list[int]) -> list[tuple[int, int]]:
    """[start, stop) tiles of range(size), cut at the given points (taken modulo the size)."""
    edges = sorted({0, size, *(1 + c % (size - 1) for c in cuts if size > 1)})
    return list(zip(edges[:-1], edges[1:], strict=False))


@settings(max_examples=100, deadline=None)
@given(
    kind=st.sampled_from(["CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "MAX_POOL_2D"]),
    size=st.tuples(st.integers(1, 12), st.integers(1, 12)),
    kernel=st.tuples(st.integers(1, 5), st.integers(1, 5)),
    stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    dilation=st.sampled_from([(1, 1), (2, 2), (1, 2)]),
    padding=st.sampled_from(["SAME", "VALID"]),
    cuts=st.tuples(
        st.lists(st.integers(0, 99), min_size=1, max_size=3), st.lists(st.integers(0, 99), max_size=3)
    ),
    seed=st.integers(0, 2**32 - 1),
)
def test_tiles_with_explicit_pads_equal_the_full_run(
    kind, size, kernel, stride, dilation, padding, cuts, seed
):
    rng = np.random.default_rng(seed)
    if kind not in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        dilation = (1, 1)
    reach = [(k - 1) * d + 1 for k, d in zip(kernel, dilation, strict=True)]
    if padding == "VALID" and (size[0] < reach[0] or size[1] < reach[1]):
        return  # no output at all
    builder = _OneOp(rng)
    shape = (1, size[0], size[1], 3)
    if kind == "CONV_2D":
        _conv(builder, shape, 2, kernel, stride, dilation, padding, "RELU")
    elif kind == "DEPTHWISE_CONV_2D":
        _depthwise(builder, shape, kernel, 1, stride, dilation, padding)
    else:
        _pool(builder, kind, shape, kernel, stride, padding)
    graph = builder.graph()
    op = graph.ops[0]
    x = _random_input(rng, graph.tensor(graph.inputs[0]))
    full = reference.run_op(graph, op, [x])
    for rows in _tiles(full.shape[1], cuts[0]):
        for cols in _tiles(full.shape[2], cuts[1]):
            (y0, y1), (x0, x1), pads = reference.input_window(graph, op, rows, cols)
            tile = reference.run_op(graph, op, [x[:, y0:y1, x0:x1, :]], pads=pads)
            np.testing.assert_array_equal(tile, full[:, rows[0] : rows[1], cols[0] : cols[1], :])


def test_input_window_of_a_border_tile():
    builder = _OneOp(np.random.default_rng(0))
    _conv(builder, (1, 10, 10, 2), 2, (3, 3), (2, 2), padding="SAME")  # out 5x5, pads (0, 1, 0, 1)
    graph = builder.graph()
    # Output rows 3..4 read input rows 6..10 (10 is padding), columns 0..1 read 0..4.
    assert input_window(graph, graph.ops[0], (3, 5), (0, 2)) == ((6, 10), (0, 5), (0, 1, 0, 0))
    with pytest.raises(GraphError, match="empty"):
        input_window(graph, graph.ops[0], (2, 2), (0, 1))


def test_op_pads_is_tflite_same_padding():
    builder = _OneOp(np.random.default_rng(0))
    _pool(builder, "AVERAGE_POOL_2D", (1, 7, 8, 1), (3, 4), (2, 3), "SAME")
    graph = builder.graph()
    # rows: out 4, total (4-1)*2 + 3 - 7 = 2 -> 1 before, 1 after; cols: out 3, total 2*3 + 4 - 8 = 2
    assert reference.op_pads(graph, graph.ops[0]) == (1, 1, 1, 1)
    # rows: out 3, total 2*2 + 3 - 6 = 1 -> the odd pixel goes after; cols: out 3, total 2*3 + 4 - 9 = 1
    assert reference.op_pads(graph, graph.ops[0], 6, 9) == (0, 1, 0, 1)


def test_average_pool_divides_by_real_pixels_only():
    x = np.full((1, 2, 2, 1), 10, np.int8)
    x[0, 1, 1, 0] = 13
    # 3x3 windows over the 2x2 image padded by 1: every window sees the 4 real pixels, sum 43.
    out = reference.average_pool2d(x, (3, 3), (1, 1), pads=(1, 1, 1, 1))
    assert out[0, ..., 0].tolist() == [[11, 11], [11, 11]]  # 43 / 4 = 10.75 -> 11, not 43 / 9
    # A 2x2 window at the top-left corner sees one real pixel: 10 / 1.
    assert reference.average_pool2d(x, (2, 2), (1, 1), pads=(1, 0, 1, 0))[0, 0, 0, 0] == 10
    assert reference.average_pool2d(-x, (2, 2), (1, 1)).tolist() == [[[[-11]]]]  # -10.75 -> -11
    pair = np.array([[[[1], [2]]]], np.int8)
    assert reference.average_pool2d(pair, (1, 2), (1, 1)).tolist() == [[[[2]]]]  # 1.5 -> 2
    assert reference.average_pool2d(-pair, (1, 2), (1, 1)).tolist() == [[[[-2]]]]  # -1.5 -> -2


# --- fixed-point helpers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("real", "expected"),
    [
        (0.5, (1 << 30, 0)),
        (1.0, (1 << 30, 1)),
        (0.75, (3 << 29, 0)),
        (1.0 - 2.0**-31, ((1 << 31) - 1, 0)),  # the largest Q31 mantissa, no carry
        (1.0 - 2.0**-32, (1 << 30, 1)),  # mantissa * 2**31 = 2**31 - 0.5 rounds up: carry into the shift
        (1.0 - 2.0**-53, (1 << 30, 1)),
        (2.0**-32, (1 << 30, -31)),  # the smallest shift TFLite keeps
        (2.0**-33, (0, 0)),  # shift < -31: flushed to zero
        (0.0, (0, 0)),
        (3.0, (3 << 29, 2)),
    ],
)
def test_quantize_multiplier(real, expected):
    assert quant.quantize_multiplier(real) == expected


def test_quantize_multiplier_rejects_negative():
    with pytest.raises(ValueError, match="positive"):
        quant.quantize_multiplier(-0.5)


@pytest.mark.parametrize(
    ("x", "exponent", "expected"),
    [
        (5, 1, 3),  # 2.5 -> 3
        (-5, 1, -3),  # -2.5 -> -3: ties away from zero
        (6, 2, 2),  # 1.5 -> 2
        (-6, 2, -2),  # -1.5 -> -2
        (-7, 2, -2),  # -1.75
        (-5, 2, -1),  # -1.25
        (-4, 1, -2),
        (-9, 0, -9),
        (1 << 30, 31, 1),  # 0.5 -> 1
        (-(1 << 30), 31, -1),  # -0.5 -> -1
        (-1, 31, 0),
    ],
)
def test_rounding_divide_by_pot(x, exponent, expected):
    assert int(quant.rounding_divide_by_pot(x, exponent)) == expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (quant.INT32_MIN, quant.INT32_MIN, quant.INT32_MAX),  # the one saturating case
        (quant.INT32_MIN, quant.INT32_MAX, -quant.INT32_MAX),
        (3, 1 << 30, 2),  # 1.5 -> 2
        (-3, 1 << 30, -1),  # -1.5 -> -1: gemmlowp's nudge rounds negative ties up
        (-1, 1 << 30, 0),
        (1 << 30, 1 << 30, 1 << 29),
        (100, 1 << 30, 50),
    ],
)
def test_saturating_rounding_doubling_high_mul(a, b, expected):
    assert int(quant.saturating_rounding_doubling_high_mul(a, b)) == expected


@pytest.mark.parametrize(
    ("x", "multiplier", "shift", "expected"),
    [
        (5, 1 << 30, -1, 2),  # 1.25, but TFLite rounds twice: 2.5 -> 3, then 1.5 -> 2
        (-5, 1 << 30, -1, -1),  # -1.25: -2.5 -> -2 (nudge), then -1.0
        (3, 1 << 30, 2, 6),  # left shift before the multiply
        (1000, 0, 0, 0),
        (-(1 << 20), 1 << 30, -20, -1),  # -0.5 -> -1
    ],
)
def test_multiply_by_quantized_multiplier(x, multiplier, shift, expected):
    assert int(quant.multiply_by_quantized_multiplier(x, multiplier, shift)) == expected


def test_std_round_is_c_round():
    values = np.array([0.49999999999999994, 0.5, -0.5, 1.5, -2.5, 2.0**52 + 1, -(2.0**52) - 1, -0.2])
    assert quant.std_round(values).tolist() == [0.0, 1.0, -1.0, 2.0, -3.0, 2.0**52 + 1, -(2.0**52) - 1, -0.0]


def test_wrap_int32():
    assert reference.wrap_int32(np.array([1 << 31, -(1 << 31) - 1, 5, -5])).tolist() == [
        -(1 << 31),
        (1 << 31) - 1,
        5,
        -5,
    ]


def test_exp_on_negative_values_edges():
    assert int(reference.exp_on_negative_values(0)) == quant.INT32_MAX  # exp(0) = 1 saturates Q0.31
    # Below -32 in Q5.26 there is nothing left to represent: the smallest inputs give 0.
    assert int(reference.exp_on_negative_values(quant.INT32_MIN)) == 0


# --- errors -------------------------------------------------------------------------------------


def test_bad_inputs_raise_clear_errors():
    graph = load_tflite(mlperf_model("kws_ref_model"))
    good = np.zeros(graph.tensor(graph.inputs[0]).shape, np.int8)
    with pytest.raises(ReferenceError, match="must have shape"):
        reference.run_graph(graph, good[0])
    with pytest.raises(ReferenceError, match="must be int8"):
        reference.run_graph(graph, good.astype(np.float32))
    with pytest.raises(ReferenceError, match="no array given"):
        reference.run_graph(graph, {"nope": good})
    with pytest.raises(ReferenceError, match="fc_requant"):
        reference.run_graph(graph, good, fc_requant="float")
    add_free = next(op for op in graph.ops if op.kind == "RESHAPE")
    with pytest.raises(ReferenceError, match="explicit pads apply only"):
        reference.run_op(
            graph, add_free, [np.zeros(graph.tensor(add_free.inputs[0]).shape, np.int8)], pads=(1, 1, 1, 1)
        )
    conv = graph.ops[0]
    with pytest.raises(ReferenceError, match="pads must be four"):
        reference.run_op(graph, conv, [good], pads=(1, 1))
    with pytest.raises(ReferenceError, match="activation input"):
        reference.run_op(graph, conv, [good, good])
