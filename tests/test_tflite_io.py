"""TFLite import/export: the MLPerf Tiny models import with the right ops, round-trip bit-exactly
through LiteRT and TFLite Micro, and bad files fail with a TFLiteImportError that names the problem."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from harness import graph as g
from harness import paths
from harness.tflite_io import TFLiteImportError, graph_from_bytes, load_tflite

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
    litert = pytest.importorskip("ai_edge_litert.interpreter")
    interpreter = litert.Interpreter(
        model_content=model_content,
        experimental_op_resolver_type=litert.OpResolverType.BUILTIN_REF,
        experimental_preserve_all_tensors=True,
    )
    interpreter.allocate_tensors()
    return interpreter


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
