# SPDX-License-Identifier: Apache-2.0
"""The importer follows the TFLite int8 quantization rules of an op's constants: it refuses what would
run as another function than the file declares, and accepts what TFLite Micro runs unambiguously.
One test per rule (harness/frontend/importer.py, QUANTIZED_CONSTANT_RULES and _tensor), each citing the
spec line or the TFLite Micro code that checks it; LiteRT and TFLite Micro are run on the same file to
show what each runtime does with it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from harness.frontend import graph_from_bytes, graph_to_bytes
from harness.frontend.schema import TFLiteImportError
from harness.reference.oracle import LITERT, TFLM, oracle_verdict
from harness.reference.outside import OutsideRuntimeError, run_litert, run_tflm
from models.synthetic import LayerSpec, build_stack


def _graph(kind="conv", channels=4):
    spec = LayerSpec(kind, 3, 1, channels=channels)
    return build_stack([spec], input_shape=(1, 8, 8, 3), blocks=False, name=f"rule_{kind}")


def _const(graph, dtype):
    return next(name for name, t in graph.tensors.items() if t.is_const and t.dtype == dtype)


def _with_quant(graph, name, **changes):
    tensors = dict(graph.tensors)
    tensors[name] = dataclasses.replace(graph.tensors[name], quant=dataclasses.replace(graph.tensors[name].quant,
                                                                                     **changes))  # fmt: skip
    return dataclasses.replace(graph, tensors=tensors)


def _input(graph):
    return [np.random.default_rng(3).integers(-128, 128, graph.tensor(graph.inputs[0]).shape).astype(np.int8)]


def test_rule_int8_conv_weights_have_zero_point_0():
    """Spec (quantization_spec, CONV_2D input 1 (Weight): "restriction: zero_point = 0"); TFLite Micro's
    ConvPerChannel ignores the filter's zero point (conv_common.cc ConvPrepare does not check it), so it
    would compute another function; LiteRT refuses the file."""
    graph = _graph()
    filt = _const(graph, "int8")
    zero_points = graph.tensor(filt).quant.zero_point
    bad = graph_to_bytes(_with_quant(graph, filt, zero_point=np.full_like(zero_points, 3)))
    with pytest.raises(TFLiteImportError, match=rf"op 0 \(CONV_2D\).*: filter \(tensor 1 '{filt}'\) has zero point "
                                                r"\[3, 3, 3, 3\]; TFLite's int8 CONV_2D weights are symmetric "
                                                r"\(quantization spec: zero_point = 0\)"):  # fmt: skip
        graph_from_bytes(bad, "bad")
    with pytest.raises(OutsideRuntimeError):
        run_litert(bad, [_input(graph)])
    assert run_tflm(bad, [_input(graph)], 1)  # TFLite Micro runs it (as if the zero point were 0)


def test_rule_int8_depthwise_and_fully_connected_weights_have_zero_point_0():
    """Spec: DEPTHWISE_CONV_2D and FULLY_CONNECTED weights "restriction: zero_point = 0";
    fully_connected_common.cc CalculateOpDataFullyConnected: TFLITE_DCHECK(filter->params.zero_point == 0)."""
    graph = _graph("depthwise")
    filt = _const(graph, "int8")
    bad = _with_quant(graph, filt, zero_point=np.full_like(graph.tensor(filt).quant.zero_point, -1))
    with pytest.raises(TFLiteImportError, match=r"DEPTHWISE_CONV_2D.*has zero point \[-1, -1, -1\]"):
        graph_from_bytes(graph_to_bytes(bad), "bad")
    from models import get_model

    kws = get_model("kws_ref_model")  # ends in a FULLY_CONNECTED
    fc = next(op for op in kws.ops if op.kind == "FULLY_CONNECTED")
    weights = kws.tensor(fc.inputs[1])
    bad = _with_quant(kws, weights.name, zero_point=np.full_like(weights.quant.zero_point, 5))
    with pytest.raises(TFLiteImportError, match=r"FULLY_CONNECTED.*weights \(tensor .*\) has zero point \[5"):
        graph_from_bytes(graph_to_bytes(bad), "bad")


def test_rule_the_int32_bias_has_zero_point_0():
    """Spec: every int32 bias "restriction: zero_point = 0"; TFLite Micro's kernels add the bias as it is."""
    graph = _graph()
    bias = _const(graph, "int32")
    bad = _with_quant(graph, bias, zero_point=np.full_like(graph.tensor(bias).quant.zero_point, 7))
    with pytest.raises(TFLiteImportError, match=rf"bias \(tensor 2 '{bias}'\) has zero point \[7, 7, 7, 7\]; "
                                                "TFLite's int32 bias is symmetric"):  # fmt: skip
        graph_from_bytes(graph_to_bytes(bad), "bad")


def test_rule_per_channel_filter_scales_run_along_the_output_channels():
    """conv_common.cc ConvPrepare: scale size 1 or filter dim 0 (kConvQuantizedDimension);
    depthwise_conv_common.cc DepthwiseConvPrepare: dim 3 (kDepthwiseConvQuantizedDimension)."""
    graph = _graph()  # filter [4, 3, 3, 3]: 4 output channels, 3 input channels
    filt = _const(graph, "int8")
    along_inputs = _with_quant(graph, filt, scale=np.full(3, 0.01, np.float32), zero_point=np.zeros(3, np.int64),
                               axis=3)  # fmt: skip
    with pytest.raises(TFLiteImportError, match=r"filter \(tensor 1 .*\) of shape \[4, 3, 3, 3\] has 3 per-channel "
                                                r"scales along dimension 3; CONV_2D takes one scale, or one per "
                                                r"output channel along dimension 0 \(4 here\)"):  # fmt: skip
        graph_from_bytes(graph_to_bytes(along_inputs), "bad")
    depthwise = _graph("depthwise")  # filter [1, 3, 3, 3]: channels on dimension 3
    filt = _const(depthwise, "int8")
    along_0 = _with_quant(
        depthwise, filt, scale=np.full(1, 0.01, np.float32), zero_point=np.zeros(1, np.int64)
    )
    assert graph_from_bytes(graph_to_bytes(along_0), "one scale")  # one scale for all: allowed


def test_rule_a_1d_bias_whose_quantized_dimension_is_the_filters_is_accepted_and_tflm_is_its_oracle(tmp_path):
    """Older converters wrote the filter's axis (3 for a depthwise conv) onto the 1-D bias. TFLite Micro
    runs such files (micro_allocator.cc InitializeTfLiteTensorFromFlatbuffer copies quantized_dimension
    unchecked); LiteRT's interpreter refuses them; the oracle is TFLite Micro, and says why."""
    graph = _graph("depthwise")
    bias = _const(graph, "int32")
    old_style = graph_to_bytes(_with_quant(graph, bias, axis=3))
    imported = graph_from_bytes(old_style, "old converter")
    assert imported.tensor(bias).quant.axis == 0
    assert np.array_equal(imported.tensor(bias).quant.scale, graph.tensor(bias).quant.scale)
    with pytest.raises(OutsideRuntimeError):
        run_litert(old_style, [_input(graph)])
    verdict = oracle_verdict(imported, old_style, _input(graph), cache_dir=tmp_path)
    assert verdict.runtime == TFLM and verdict.agrees is True
    assert f"used because {LITERT} cannot load the file" in verdict.text


def test_rule_one_zero_point_for_every_channel_is_accepted():
    """micro_allocator.cc InitializeTfLiteTensorFromFlatbuffer: "zero point arrays for weights can be
    reduced to a single value" (one zero point read for every channel)."""
    graph = _graph()
    filt = _const(graph, "int8")
    short = _with_quant(graph, filt, zero_point=np.zeros(1, np.int64))
    imported = graph_from_bytes(graph_to_bytes(short), "one zero point")
    quant = imported.tensor(filt).quant
    assert quant.zero_point.tolist() == [0, 0, 0, 0] and quant.scale.size == 4


def test_the_converter_corpus_and_mlperf_tiny_models_follow_every_rule():
    """No model that runs today is refused by the rules."""
    from harness.frontend import load_tflite
    from harness.paths import CONVERTER_MODELS, MLPERF_MODELS, converter_model, mlperf_model

    for path in [*(mlperf_model(m) for m in MLPERF_MODELS), *(converter_model(m) for m in CONVERTER_MODELS)]:
        assert load_tflite(path).ops, path
