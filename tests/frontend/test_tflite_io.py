# SPDX-License-Identifier: Apache-2.0
"""TFLite import/export: the MLPerf Tiny models import with the right ops, round-trip bit-exactly
through LiteRT and TFLite Micro, and bad files fail with a TFLiteImportError that names the problem."""

from __future__ import annotations

from collections import Counter

import flatbuffers
import numpy as np
import pytest
import tflite
from machine import import_or_skip

from harness import paths
from harness.frontend import TFLiteImportError, graph_from_bytes, graph_to_bytes, load_tflite, save_tflite
from harness.frontend import schema as tflite_schema
from harness.ir import graph as g
from harness.ir import quant, shapes
from harness.ir.graph import Graph, GraphError, Op, QParams, Tensor

EXPECTED_OP_COUNTS = {
    "vww_96_int8": {
        "CONV_2D": 14,
        "DEPTHWISE_CONV_2D": 13,
        "AVERAGE_POOL_2D": 1,
        "RESHAPE": 1,
        "FULLY_CONNECTED": 1,
        "SOFTMAX": 1,
    },
    "pretrainedResnet_quant": {
        "CONV_2D": 9,
        "ADD": 3,
        "AVERAGE_POOL_2D": 1,
        "RESHAPE": 1,
        "FULLY_CONNECTED": 1,
        "SOFTMAX": 1,
    },
    "kws_ref_model": {
        "CONV_2D": 5,
        "DEPTHWISE_CONV_2D": 4,
        "AVERAGE_POOL_2D": 1,
        "RESHAPE": 1,
        "FULLY_CONNECTED": 1,
        "SOFTMAX": 1,
    },
    "ad01_int8": {"FULLY_CONNECTED": 10},
}


@pytest.fixture(scope="module")
def mlperf_graphs() -> dict[str, g.Graph]:
    return {name: load_tflite(paths.mlperf_model(name)) for name in paths.MLPERF_MODELS}


def _litert(model_content: bytes):
    litert = import_or_skip("ai_edge_litert.interpreter", "ai-edge-litert")
    interpreter = litert.Interpreter(
        model_content=model_content,
        experimental_op_resolver_type=litert.OpResolverType.BUILTIN_REF,
        experimental_preserve_all_tensors=True,
    )
    interpreter.allocate_tensors()
    return interpreter


def _run_litert(model_content: bytes, x: np.ndarray) -> np.ndarray:
    interpreter = _litert(model_content)
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


def _run_tflm(model_content: bytes, x: np.ndarray) -> np.ndarray:
    tflm = import_or_skip("tflite_micro.python.tflite_micro.runtime", "tflite-micro")
    interpreter = tflm.Interpreter.from_bytes(model_content)
    interpreter.set_input(x, 0)
    interpreter.invoke()
    return interpreter.get_output(0)


def _assert_same_graph(a: Graph, b: Graph, *, op_names: bool = True) -> None:
    """Equal tensors (name, shape, dtype, quantization, data), ops, inputs and outputs."""
    assert a.inputs == b.inputs and a.outputs == b.outputs
    assert list(a.tensors) == list(b.tensors)
    for name, ta in a.tensors.items():
        tb = b.tensors[name]
        assert (ta.shape, ta.dtype) == (tb.shape, tb.dtype), name
        assert (ta.quant is None) == (tb.quant is None), name
        if ta.quant is not None:
            np.testing.assert_array_equal(ta.quant.scale, tb.quant.scale)
            np.testing.assert_array_equal(ta.quant.zero_point, tb.quant.zero_point)
            assert ta.quant.per_channel == tb.quant.per_channel
            assert not ta.quant.per_channel or ta.quant.axis == tb.quant.axis, name
        assert ta.is_const == tb.is_const, name
        if ta.is_const:
            assert ta.data.dtype == tb.data.dtype and ta.data.shape == tb.data.shape, name
            np.testing.assert_array_equal(ta.data, tb.data)
    assert len(a.ops) == len(b.ops)
    for oa, ob in zip(a.ops, b.ops, strict=True):
        assert (oa.kind, oa.inputs, oa.outputs, oa.attrs) == (ob.kind, ob.inputs, ob.outputs, ob.attrs), (
            oa.name
        )
        assert not op_names or oa.name == ob.name


def all_ops_graph() -> Graph:
    """A small int8 graph with every op kind of graph.OP_KINDS that TFLite Micro runs, float in and out."""
    rng = np.random.default_rng(7)
    tensors: dict[str, Tensor] = {}

    def act(name, shape, scale=0.04, zero_point=-10):
        tensors[name] = Tensor(name, shape, "int8", QParams.per_tensor(scale, zero_point))
        return name

    def const(name, values, dtype, qparams=None):
        values = np.asarray(values, dtype)
        tensors[name] = Tensor(name, values.shape, dtype, qparams, values)
        return name

    def q(scale, zero_point):
        return QParams.per_tensor(scale, zero_point)

    def weights(name, shape, axis, in_scale):
        q, scales = quant.quantize_weights_per_channel(rng.normal(0, 0.5, shape), axis)
        const(name, q, "int8", QParams(scales, np.zeros(scales.size, np.int64), axis))
        bias = quant.quantize_bias(rng.normal(0, 0.2, shape[axis]), in_scale, scales)
        bias_scales = (np.float64(in_scale) * scales).astype(np.float32)
        const(f"{name}_bias", bias, "int32", QParams(bias_scales, np.zeros(scales.size, np.int64)))
        return name, f"{name}_bias"

    conv = {"stride": (1, 1), "dilation": (1, 1), "padding": "SAME"}
    tensors["x_float"] = Tensor("x_float", (1, 8, 8, 3), "float32")
    tensors["y_float"] = Tensor("y_float", (1, 5), "float32")
    # Pools, PAD, CONCATENATION, RESIZE and TRANSPOSE keep their input's quantization (TFLite Micro's rule).
    ops = [
        Op("QUANTIZE", "quant_in", ["x_float"], [act("x", (1, 8, 8, 3), 1 / 64, 0)]),
        Op(
            "CONV_2D",
            "b0_conv",
            ["x", *weights("conv_w", (4, 3, 3, 3), 0, 1 / 64)],
            [act("c1", (1, 8, 8, 4), 0.03, -128)],
            {**conv, "activation": "RELU6"},
        ),
        Op(
            "DEPTHWISE_CONV_2D",
            "b1_dw",
            ["c1", *weights("dw_w", (1, 3, 3, 4), 3, 0.03)],
            [act("d1", (1, 4, 4, 4))],
            {**conv, "stride": (2, 2), "activation": "RELU", "depth_multiplier": 1},
        ),
        Op(
            "PAD",
            "pad",
            ["d1", const("paddings", [[0, 0], [1, 1], [1, 1], [0, 0]], "int32")],
            [act("p1", (1, 6, 6, 4))],
        ),
        Op(
            "MAX_POOL_2D",
            "maxpool",
            ["p1"],
            [act("m1", (1, 3, 3, 4))],
            {"stride": (2, 2), "padding": "VALID", "filter": (2, 2), "activation": "NONE"},
        ),
        Op(
            "AVERAGE_POOL_2D",
            "avgpool",
            ["m1"],
            [act("a1", (1, 3, 3, 4))],
            {"stride": (1, 1), "padding": "SAME", "filter": (3, 3), "activation": "NONE"},
        ),
        Op("MUL", "mul", ["m1", "a1"], [act("mu", (1, 3, 3, 4), 0.02, 5)], {"activation": "NONE"}),
        Op("ADD", "add", ["mu", "a1"], [act("ad", (1, 3, 3, 4))], {"activation": "RELU"}),
        # The elementwise activations in a row, each with its own output quantization (none folds).
        Op("SUB", "sub", ["ad", "a1"], [act("su", (1, 3, 3, 4), 0.05, 3)], {"activation": "NONE"}),
        # MAXIMUM / MINIMUM compare raw values: their operands share one quantization.
        Op(
            "MAXIMUM",
            "maximum",
            ["su", const("floor", [[[-10, 0, 20, -100]]], "int8", q(0.05, 3))],
            [act("mx", (1, 3, 3, 4), 0.05, 3)],
        ),  # fmt: skip
        Op("MINIMUM", "minimum", ["mx", "mx"], [act("mn", (1, 3, 3, 4), 0.05, 3)]),
        Op(
            "PRELU",
            "prelu",
            ["mn", const("alpha", [[[40, -30, 90, 10]]], "int8", q(0.01, 0))],
            [act("pr", (1, 3, 3, 4), 0.03, -5)],
        ),  # fmt: skip
        Op("LOGISTIC", "logistic", ["pr"], [act("lg", (1, 3, 3, 4), 1 / 256, -128)]),
        Op("TANH", "tanh", ["lg"], [act("th", (1, 3, 3, 4), 1 / 128, 0)]),
        Op("HARD_SWISH", "hard_swish", ["th"], [act("hs", (1, 3, 3, 4), 0.01, -20)]),
        Op("LEAKY_RELU", "leaky_relu", ["hs"], [act("lr", (1, 3, 3, 4), 0.008, 0)], {"alpha": 0.25}),
        Op("RELU", "relu", ["lr"], [act("rl", (1, 3, 3, 4), 0.006, -128)]),
        # TFLite Micro's RELU6 clamps in its input's quantization (no rescale): keep it the same here.
        Op("RELU6", "relu6", ["rl"], [act("r6", (1, 3, 3, 4), 0.006, -128)]),
        Op(
            "TRANSPOSE_CONV",
            "transpose_conv",
            [
                const("tc_shape", [1, 3, 3, 4], "int32"),
                weights("tc_w", (4, 3, 3, 4), 0, 0.005)[0],
                "r6",
                "tc_w_bias",
            ],
            [act("tc", (1, 3, 3, 4))],
            {"stride": (1, 1), "padding": "SAME", "activation": "NONE"},
        ),
        Op("CONCATENATION", "concat", ["tc", "a1"], [act("cc", (1, 3, 3, 8))], {"axis": 3}),
        Op(
            "PADV2",
            "pad_v2",
            [
                "cc",
                const("pads_v2", [[0, 0], [1, 0], [0, 1], [0, 0]], "int32"),
                const("pad_v2_value", 25, "int8", q(0.04, -10)),
            ],
            [act("pv", (1, 4, 4, 8))],
        ),
        Op(
            "SLICE",
            "slice",
            ["pv", const("slice_begin", [0, 1, 0, 0], "int32"), const("slice_size", [1, 3, 3, -1], "int32")],
            [act("sl", (1, 3, 3, 8))],
        ),  # fmt: skip
        Op(
            "STRIDED_SLICE",
            "strided_slice",
            [
                "sl",
                const("ss_begin", [0, 0, 0, 0], "int32"),
                const("ss_end", [1, 3, 3, 8], "int32"),
                const("ss_strides", [1, 2, 1, 1], "int32"),
            ],
            [act("ss", (1, 2, 3, 8))],
            {
                "begin_mask": 0,
                "end_mask": 0,
                "shrink_axis_mask": 0,
                "ellipsis_mask": 0,
                "new_axis_mask": 0,
                "offset": False,
            },
        ),  # fmt: skip
        Op(
            "RESIZE_NEAREST_NEIGHBOR",
            "resize",
            ["ss", const("size", [6, 5], "int32")],
            [act("r1", (1, 6, 5, 8))],
            {"align_corners": False, "half_pixel_centers": False},
        ),
        Op(
            "RESIZE_BILINEAR",
            "resize_bilinear",
            ["r1", const("size_bilinear", [6, 4], "int32")],
            [act("rb", (1, 6, 4, 8))],
            {"align_corners": False, "half_pixel_centers": True},
        ),
        Op("SPACE_TO_DEPTH", "space_to_depth", ["rb"], [act("sd", (1, 3, 2, 32))], {"block_size": 2}),
        Op("DEPTH_TO_SPACE", "depth_to_space", ["sd"], [act("ds", (1, 6, 4, 8))], {"block_size": 2}),
        Op("TRANSPOSE", "transpose", ["ds", const("perm", [0, 2, 1, 3], "int32")], [act("t1", (1, 4, 6, 8))]),
        Op(
            "MEAN",
            "mean",
            ["t1", const("axes", [1, 2], "int32")],
            [act("me", (1, 1, 1, 8), 0.03, -20)],
            {"keep_dims": True},
        ),
        Op("RESHAPE", "reshape", ["me", const("new_shape", [1, 8], "int32")], [act("rs", (1, 8), 0.03, -20)]),
        Op(
            "FULLY_CONNECTED",
            "fc",
            ["rs", *weights("fc_w", (5, 8), 0, 0.03)],
            [act("fc", (1, 5), 0.1, 3)],
            {"activation": "NONE", "keep_dims": False},
        ),
        Op("SOFTMAX", "softmax", ["fc"], [act("sm", (1, 5), 1 / 256, -128)], {"beta": 1.0}),
        Op("DEQUANTIZE", "dequant_out", ["sm"], ["y_float"]),
    ]
    for op in ops:
        if "activation" in op.attrs:
            out = tensors[op.outputs[0]]
            op.attrs["act_min"], op.attrs["act_max"] = quant.activation_range(
                op.attrs["activation"], out.scale, out.zero_point
            )
    graph = Graph("all_ops", tensors, ops, ["x_float"], ["y_float"])
    # TFLite Micro has no RELU_N1_TO_1; tests/reference/test_unary_ops.py checks it against LiteRT alone. SPLIT and
    # SPLIT_V import as SLICEs, so they cannot round-trip op for op: tests/reference/test_data_ops.py checks them.
    # ARG_MAX ends a graph with int32 indices (no float end), BATCH_MATMUL takes rank-3 operands: their
    # own tests (tests/ir/test_arg_max.py, test_batch_matmul.py) round-trip them through both runtimes.
    own_tests = {"RELU_N1_TO_1", "ARG_MAX", "BATCH_MATMUL", *g.MULTI_OUTPUT_KINDS}
    assert {op.kind for op in graph.ops} == set(g.OP_KINDS) - own_tests
    return graph


def _export_unchecked(graph: Graph, monkeypatch) -> bytes:
    """Export without the exporter's shape check, to make files with wrong shapes."""
    with monkeypatch.context() as patch:
        patch.setattr(shapes, "check_shapes", lambda graph: None)
        return graph_to_bytes(graph)


def _tiny_conv_graph(
    dtype: str = "int8", in_channels: int = 3, bias_length: int = 4, out_hw: int = 4
) -> Graph:
    """input [1,4,4,C] -> CONV_2D 3x3 SAME (4 filters over 3 channels) -> SOFTMAX."""
    int8 = dtype == "int8"

    def qp(scale):
        return QParams.per_tensor(scale, 0) if int8 else None

    weight_dtype, bias_dtype = ("int8", "int32") if int8 else ("float32", "float32")
    tensors = {
        "x": Tensor("x", (1, 4, 4, in_channels), dtype, qp(0.1)),
        "w": Tensor("w", (4, 3, 3, 3), weight_dtype, qp(0.01), np.ones((4, 3, 3, 3), weight_dtype)),
        "b": Tensor("b", (bias_length,), bias_dtype, qp(0.001), np.zeros(bias_length, bias_dtype)),
        "c": Tensor("c", (1, out_hw, 4, 4), dtype, qp(0.2)),
        "y": Tensor("y", (1, out_hw, 4, 4), dtype, qp(1 / 256)),
    }
    attrs = {"stride": (1, 1), "dilation": (1, 1), "padding": "SAME", "activation": "NONE"}
    attrs["act_min"], attrs["act_max"] = -128, 127
    ops = [
        Op("CONV_2D", "conv", ["x", "w", "b"], ["c"], attrs),
        Op("SOFTMAX", "softmax", ["c"], ["y"], {"beta": 1.0}),
    ]
    return Graph("tiny", tensors, ops, ["x"], ["y"])


# --- import -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", paths.MLPERF_MODELS)
def test_mlperf_op_kinds_and_counts(mlperf_graphs, name):
    graph = mlperf_graphs[name]
    assert dict(Counter(op.kind for op in graph.ops)) == EXPECTED_OP_COUNTS[name]
    assert graph.name == name
    assert [op.name for op in graph.ops][:2] == [
        f"op00_{graph.ops[0].kind.lower()}",
        f"op01_{graph.ops[1].kind.lower()}",
    ]
    assert all(op.name.isidentifier() for op in graph.ops)
    g.validate(graph)


def test_vww_first_layers_attrs_and_weights(mlperf_graphs):
    graph = mlperf_graphs["vww_96_int8"]
    conv, depthwise = graph.ops[0], graph.ops[1]
    assert graph.tensor(graph.inputs[0]).shape == (1, 96, 96, 3)
    assert conv.attrs["stride"] == (2, 2) and conv.attrs["padding"] == "SAME"
    assert conv.attrs["dilation"] == (1, 1) and conv.attrs["activation"] == "RELU"
    out = graph.tensor(conv.outputs[0])
    # RELU clamps at the output's zero point (or -128 if that is lower).
    assert conv.attrs["act_min"] == max(-128, out.zero_point) and conv.attrs["act_max"] == 127
    filt, bias = graph.tensor(conv.inputs[1]), graph.tensor(conv.inputs[2])
    assert filt.shape == (8, 3, 3, 3) and filt.data.dtype == np.int8 and filt.data.shape == (8, 3, 3, 3)
    assert filt.quant.per_channel and filt.quant.scale.size == 8 and filt.quant.axis == 0
    assert bias.data.dtype == np.int32 and bias.shape == (8,)
    assert depthwise.attrs["depth_multiplier"] == 1
    assert graph.tensor(depthwise.inputs[1]).quant.axis == 3
    assert graph.tensor(graph.outputs[0]).shape == (1, 2)
    assert g.total_macs(graph) == 7_489_664


def test_source_tensor_index_matches_litert(mlperf_graphs):
    graph = mlperf_graphs["pretrainedResnet_quant"]
    interpreter = _litert(paths.mlperf_model("pretrainedResnet_quant").read_bytes())
    details = {d["index"]: d for d in interpreter.get_tensor_details()}
    assert len(set(graph.source_tensor_index.values())) == len(graph.tensors)
    for name, index in graph.source_tensor_index.items():
        assert tuple(details[index]["shape"]) == graph.tensor(name).shape
        if graph.tensor(name).is_const:
            np.testing.assert_array_equal(interpreter.get_tensor(index), graph.tensor(name).data)


# --- bad input --------------------------------------------------------------------------------------


def test_missing_file(tmp_path):
    with pytest.raises(TFLiteImportError, match="no such .tflite file"):
        load_tflite(tmp_path / "nope.tflite")


def test_random_bytes():
    data = np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    with pytest.raises(TFLiteImportError, match="not a TFLite flatbuffer.*TFL3"):
        graph_from_bytes(data, "random")


def test_random_bytes_with_identifier():
    data = b"\x10\x00\x00\x00TFL3" + np.random.default_rng(2).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    with pytest.raises(TFLiteImportError, match="malformed"):
        graph_from_bytes(data, "random")


@pytest.mark.parametrize("keep", [0.01, 0.5, 0.999])
def test_truncated_file(keep):
    data = paths.mlperf_model("kws_ref_model").read_bytes()
    with pytest.raises(TFLiteImportError, match="model 'kws': malformed or truncated"):
        graph_from_bytes(data[: int(len(data) * keep)], "kws")


def test_two_subgraphs_are_refused():
    builder = flatbuffers.Builder(256)
    subgraphs = []
    for _ in range(2):
        tflite.SubGraphStart(builder)
        subgraphs.append(tflite.SubGraphEnd(builder))
    builder.StartVector(4, len(subgraphs), 4)
    for offset in reversed(subgraphs):
        builder.PrependUOffsetTRelative(offset)
    vector = builder.EndVector()
    tflite.ModelStart(builder)
    tflite.ModelAddVersion(builder, 3)
    tflite.ModelAddSubgraphs(builder, vector)
    builder.Finish(tflite.ModelEnd(builder), file_identifier=b"TFL3")
    with pytest.raises(
        TFLiteImportError, match="model 'two': has 2 subgraphs; patchbench supports exactly one"
    ):
        graph_from_bytes(bytes(builder.Output()), "two")


def test_unsupported_op_is_named_with_its_index(monkeypatch):
    sin = 66
    with monkeypatch.context() as patch:
        patch.setitem(tflite_schema._CODE_OF_KIND, "SOFTMAX", sin)
        data = graph_to_bytes(_tiny_conv_graph())
    with pytest.raises(
        TFLiteImportError,
        match=r"model 'tiny': op 1 is SIN; patchbench has no kernel for it\. Replace it .*CONV_2D, DEPTHWISE",
    ):
        graph_from_bytes(data, "tiny")


def test_op_code_above_127_uses_the_placeholder_and_is_named(monkeypatch):
    gelu = 150
    with monkeypatch.context() as patch:
        patch.setitem(tflite_schema._CODE_OF_KIND, "SOFTMAX", gelu)
        data = graph_to_bytes(_tiny_conv_graph())
    model = tflite.Model.GetRootAs(data, 0)
    codes = [model.OperatorCodes(i) for i in range(model.OperatorCodesLength())]
    assert [(c.DeprecatedBuiltinCode(), c.BuiltinCode()) for c in codes] == [(3, 3), (127, gelu)]
    with pytest.raises(TFLiteImportError, match=r"op 1 is GELU; patchbench has no kernel for it"):
        graph_from_bytes(data, "tiny")


def test_float_model_is_refused():
    data = graph_to_bytes(_tiny_conv_graph(dtype="float32"))
    with pytest.raises(
        TFLiteImportError, match=r"op 0 \(CONV_2D\): filter \(tensor 1 'w'\) is float32.*int8"
    ):
        graph_from_bytes(data, "float")


def test_float_activations_with_int8_weights_are_refused(monkeypatch):
    graph = _tiny_conv_graph()
    graph.tensors["c"] = Tensor("c", (1, 4, 4, 4), "float32")
    with pytest.raises(TFLiteImportError, match=r"op 0 \(CONV_2D\): computes in float32 \(tensor 3 'c'\)"):
        graph_from_bytes(graph_to_bytes(graph), "float")


def test_requantizing_quantize_is_refused():
    tensors = {
        "x": Tensor("x", (1, 4), "int8", QParams.per_tensor(0.1, 0)),
        "y": Tensor("y", (1, 4), "int8", QParams.per_tensor(0.2, 3)),
    }
    graph = Graph("requant", tensors, [Op("QUANTIZE", "q", ["x"], ["y"])], ["x"], ["y"])
    with pytest.raises(
        TFLiteImportError, match=r"op 0 \(QUANTIZE\): QUANTIZE is supported only from a float32"
    ):
        graph_from_bytes(graph_to_bytes(graph), "requant")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"in_channels": 5},
            r"op 0 \(CONV_2D 'op00_conv_2d'\): filter 'w' has 3 input channels but the input has 5",
        ),
        (
            {"bias_length": 7},
            r"op 0 \(CONV_2D 'op00_conv_2d'\): bias 'b' has shape \(7,\); it must be \(4,\)",
        ),
        (
            {"out_hw": 3},
            r"op 0 \(CONV_2D 'op00_conv_2d'\): output tensor 'c' has shape \(1, 3, 4, 4\), but .* give",
        ),
    ],
)
def test_wrong_shapes_are_refused(monkeypatch, change, message):
    data = _export_unchecked(_tiny_conv_graph(**change), monkeypatch)
    with pytest.raises(TFLiteImportError, match=message):
        graph_from_bytes(data, "tiny")


# --- export -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", paths.MLPERF_MODELS)
def test_mlperf_round_trip_is_bit_exact_in_litert_and_tflm(mlperf_graphs, name, tmp_path):
    original = paths.mlperf_model(name).read_bytes()
    path = tmp_path / f"{name}.tflite"
    save_tflite(mlperf_graphs[name], path)
    exported = path.read_bytes()
    assert exported[4:8] == b"TFL3" and exported != original
    _assert_same_graph(load_tflite(path, name), mlperf_graphs[name])

    shape = mlperf_graphs[name].tensor(mlperf_graphs[name].inputs[0]).shape
    rng = np.random.default_rng(2024)
    for _ in range(3):
        x = rng.integers(-128, 128, shape, dtype=np.int8)
        reference = _run_litert(original, x)
        np.testing.assert_array_equal(_run_litert(exported, x), reference)
        micro = _run_tflm(exported, x)
        np.testing.assert_array_equal(micro, _run_tflm(original, x))
        if name != "ad01_int8":
            # On ad01's FULLY_CONNECTED layers LiteRT's reference kernel rounds differently from
            # TFLite Micro (+-1 on some outputs), for the original file as much as for the export.
            np.testing.assert_array_equal(micro, reference)


def test_export_writes_schema_3_opcodes_and_per_channel_quantization(mlperf_graphs):
    data = graph_to_bytes(mlperf_graphs["vww_96_int8"])
    model = tflite.Model.GetRootAs(data, 0)
    assert model.Version() == 3 and model.SubgraphsLength() == 1
    codes = [model.OperatorCodes(i) for i in range(model.OperatorCodesLength())]
    assert [(c.DeprecatedBuiltinCode(), c.BuiltinCode(), c.Version()) for c in codes] == [
        (3, 3, 3),  # CONV_2D
        (4, 4, 3),  # DEPTHWISE_CONV_2D
        (1, 1, 2),  # AVERAGE_POOL_2D
        (22, 22, 1),  # RESHAPE
        (9, 9, 4),  # FULLY_CONNECTED
        (25, 25, 2),  # SOFTMAX
    ]
    subgraph = model.Subgraphs(0)
    depthwise = subgraph.Operators(1)
    weights = subgraph.Tensors(int(depthwise.InputsAsNumpy()[1]))
    assert weights.Quantization().QuantizedDimension() == 3 and weights.Quantization().ScaleLength() == 8
    assert model.Buffers(0).DataLength() == 0
    for i in range(model.BuffersLength()):
        if model.Buffers(i).DataLength():
            # Constant data starts 16-byte aligned in the file, as the TFLite converter writes it.
            assert model.Buffers(i)._tab.Vector(4) % 16 == 0


def test_all_op_kinds_round_trip_and_run_in_litert_and_tflm():
    graph = all_ops_graph()
    data = graph_to_bytes(graph)
    back = graph_from_bytes(data, "all_ops")
    assert [op.name for op in back.ops] == [f"op{i:02d}_{op.kind.lower()}" for i, op in enumerate(graph.ops)]
    _assert_same_graph(back, graph, op_names=False)
    rng = np.random.default_rng(3)
    for _ in range(3):
        x = rng.uniform(-2.0, 2.0, (1, 8, 8, 3)).astype(np.float32)
        litert_out, micro_out = _run_litert(data, x), _run_tflm(data, x)
        assert litert_out.dtype == np.float32 and litert_out.shape == (1, 5)
        np.testing.assert_array_equal(litert_out, micro_out)
    # The graph is not trivial: softmax probabilities that differ between classes.
    assert len(set(litert_out.ravel().tolist())) > 1


def test_export_refuses_a_bad_graph():
    graph = _tiny_conv_graph()
    graph.ops[0].attrs["padding"] = "FULL"
    with pytest.raises(GraphError, match="padding 'FULL' is not supported"):
        graph_to_bytes(graph)
    graph = _tiny_conv_graph(bias_length=5)
    with pytest.raises(GraphError, match="bias 'b' has shape"):
        graph_to_bytes(graph)
    graph = _tiny_conv_graph()
    graph.tensors["w"].data = np.full((4, 3, 3, 3), 300, np.int64)
    with pytest.raises(GraphError, match="constant tensor 'w' holds int64 values that int8 cannot represent"):
        graph_to_bytes(graph)


def test_corrupted_files_fail_only_with_tflite_import_error():
    """Seeded byte flips and truncations of a real model: either it imports or the error is ours."""
    data = paths.mlperf_model("kws_ref_model").read_bytes()
    rng = np.random.default_rng(11)
    refused = 0
    for trial in range(300):
        corrupt = bytearray(data)
        if trial % 2:
            corrupt = corrupt[: int(rng.integers(8, len(data)))]
        else:
            for _ in range(4):
                # The tables (shapes, offsets, quantization) sit at the start and the end of the file.
                position = (
                    int(rng.integers(0, 3000))
                    if rng.random() < 0.5
                    else len(data) - int(rng.integers(1, 3000))
                )
                corrupt[position] = int(rng.integers(0, 256))
        try:
            graph_from_bytes(bytes(corrupt), "kws")
        except TFLiteImportError:
            refused += 1
    assert refused >= 150  # every truncation at least
