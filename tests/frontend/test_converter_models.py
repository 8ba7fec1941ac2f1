# SPDX-License-Identifier: Apache-2.0
"""The converter corpus (../shared/models/converter): what the current TFLite converter writes for
ordinary Keras models imports, canonicalizes, and computes exactly what LiteRT computes.

- Every tensor of every model equals LiteRT's BUILTIN_REF interpreter on 20 seeded inputs (the
  reference with FC_DOUBLE, BUILTIN_REF's FULLY_CONNECTED rounding).
- The detector, which BUILTIN_REF cannot load (TILE version 3), is checked as patchbench's
  canonicalized export against BUILTIN_REF, and its upsampling rewrite against the original file in
  LiteRT's optimized resolver (an oracle for data movement).
- TFLite Micro equals the reference (FC_FIXED) on the outputs of each canonicalized export.

The outside runtimes run in a child process (harness.reference.outside): a crash is a failure here.
"""

from __future__ import annotations

import numpy as np
import pytest

from harness import reference
from harness.frontend import graph_from_bytes, graph_to_bytes
from harness.frontend.importer import import_tflite
from harness.paths import CONVERTER_MODELS, converter_model
from harness.reference import FC_FIXED
from harness.reference.outside import every_tensor_mismatches, run_litert, run_tflm, seeded_inputs

INPUTS_PER_MODEL = 20
DETECTOR = "keras_tiny_detector_r128x160"


@pytest.fixture(scope="module", params=[m for m in CONVERTER_MODELS if m != DETECTOR])
def converter(request):
    path = converter_model(request.param)
    result = import_tflite(path)
    inputs = seeded_inputs(result.graph, INPUTS_PER_MODEL, seed=sum(map(ord, request.param)))
    return request.param, path.read_bytes(), result, inputs


def test_every_tensor_matches_litert_reference(converter):
    name, data, result, inputs = converter
    graph = result.graph
    compared, mismatches = every_tensor_mismatches(graph, inputs, run_litert(data, inputs))
    assert not mismatches, f"{name}: {mismatches[:5]}"
    assert compared == INPUTS_PER_MODEL * len(graph.activations())


def test_canonicalized_export_matches_tflite_micro(converter):
    name, _, result, inputs = converter
    graph = result.graph
    theirs = run_tflm(graph_to_bytes(graph), inputs[:5], len(graph.outputs))
    for i, (arrays, their) in enumerate(zip(inputs[:5], theirs, strict=True)):
        ours = reference.run_outputs(graph, dict(zip(graph.inputs, arrays, strict=True)), fc_requant=FC_FIXED)
        for k, output in enumerate(graph.outputs):
            np.testing.assert_array_equal(ours[output], their[k], err_msg=f"{name}, input {i}, output {k}")


# --- what canonicalization did ------------------------------------------------------------------


def _rules(name: str) -> list[str]:
    return [rewrite.rule for rewrite in import_tflite(converter_model(name)).rewrites]


def test_flatten_plumbing_folds_to_a_constant_shape():
    for name in ("keras_resnet_like_r64", "keras_dscnn_kws"):
        graph = import_tflite(converter_model(name)).graph
        assert _rules(name) == ["fold constant"] * 3
        assert {op.kind for op in graph.ops}.isdisjoint({"SHAPE", "STRIDED_SLICE", "PACK"})
        reshape = next(op for op in graph.ops if op.kind == "RESHAPE")
        assert graph.tensor(reshape.inputs[1]).is_const


def test_dilated_block_becomes_one_dilated_conv():
    result = import_tflite(converter_model("keras_dilated_transposed_r32"))
    kinds = [op.kind for op in result.graph.ops]
    assert "SPACE_TO_BATCH_ND" not in kinds and "BATCH_TO_SPACE_ND" not in kinds
    conv = result.graph.ops[0]
    assert conv.kind == "CONV_2D" and conv.attrs["dilation"] == (2, 2) and conv.attrs["padding"] == "SAME"
    assert "dilated convolution" in [r.rule for r in result.rewrites]
    # The RELU after it has its own output scale: not a clamp, so it stays an op (exactness first).
    assert "RELU" in kinds


def test_detector_upsampling_becomes_one_resize():
    result = import_tflite(converter_model(DETECTOR))
    resizes = [op for op in result.graph.ops if op.kind == "RESIZE_NEAREST_NEIGHBOR"]
    assert len(resizes) == 1
    graph = result.graph
    assert graph.tensor(resizes[0].inputs[0]).shape == (1, 8, 10, 16)
    assert graph.tensor(resizes[0].outputs[0]).shape == (1, 16, 20, 16)
    assert {op.kind for op in graph.ops}.isdisjoint({"EXPAND_DIMS", "TILE", "SHAPE", "STRIDED_SLICE"})
    assert len(graph.outputs) == 2


def test_detector_export_matches_litert_reference_on_every_tensor():
    graph = import_tflite(converter_model(DETECTOR)).graph
    exported = graph_from_bytes(graph_to_bytes(graph), graph.name)  # indices of the exported file
    inputs = seeded_inputs(exported, INPUTS_PER_MODEL, seed=7)
    compared, mismatches = every_tensor_mismatches(
        exported, inputs, run_litert(graph_to_bytes(graph), inputs)
    )
    assert not mismatches, mismatches[:5]
    assert compared == INPUTS_PER_MODEL * len(exported.activations())
    theirs = run_tflm(graph_to_bytes(graph), inputs[:3], 2)
    for arrays, their in zip(inputs[:3], theirs, strict=True):
        ours = reference.run_outputs(exported, arrays[0])
        for k, output in enumerate(exported.outputs):
            np.testing.assert_array_equal(ours[output], their[k])


def test_detector_upsampling_rewrite_matches_litert_optimized_data_movement():
    """The original file in LiteRT's optimized resolver: its EXPAND_DIMS + TILE + RESHAPE chain moves
    the bytes exactly as the RESIZE_NEAREST_NEIGHBOR that replaced it (same run, same input tensor)."""
    path = converter_model(DETECTOR)
    graph = import_tflite(path).graph
    resize = next(op for op in graph.ops if op.kind == "RESIZE_NEAREST_NEIGHBOR")
    source, upsampled = (graph.source_tensor_index[n] for n in (resize.inputs[0], resize.outputs[0]))
    inputs = seeded_inputs(graph, 5, seed=11)
    for their in run_litert(path.read_bytes(), inputs, resolver="BUILTIN"):
        ours = reference.run_op(graph, resize, [their[source]])
        np.testing.assert_array_equal(ours, their[upsampled])
        assert len(np.unique(their[source])) > 1
