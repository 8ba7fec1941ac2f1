# SPDX-License-Identifier: Apache-2.0
"""The elementwise activations (graph.UNARY_KINDS) and TRANSPOSE_CONV against the outside runtimes.

A unary op's output depends on one int8 value, so one input holding all 256 values checks the whole
function: the reference's table equals LiteRT BUILTIN_REF for each op over several quantizations.
TFLite Micro's RELU6 ignores a change of quantization; the test records that (patchbench and its
firmware follow LiteRT, see reference/unary.py).
"""

from __future__ import annotations

import numpy as np
import pytest

from harness import reference
from harness.frontend import graph_to_bytes
from harness.ir.graph import Graph, Op, QParams, Tensor
from harness.reference.outside import run_litert, run_tflm

ALL_INT8 = np.arange(-128, 128, dtype=np.int64).astype(np.int8).reshape(1, 16, 16, 1)

# (kind, input (scale, zp), output (scale, zp), attrs): the output quantizations the converter picks
# (LOGISTIC 1/256, -128; TANH 1/128, 0) and others, input ranges narrow and wide.
CASES = [
    ("LOGISTIC", (0.05, -3), (1 / 256, -128), {}),
    ("LOGISTIC", (0.12, 40), (1 / 256, -128), {}),
    ("TANH", (0.03, 5), (1 / 128, 0), {}),
    ("TANH", (0.1, -60), (1 / 128, 0), {}),
    ("HARD_SWISH", (0.05, -10), (0.04, -90), {}),
    ("HARD_SWISH", (0.2, 30), (0.15, -100), {}),
    ("HARD_SWISH", (0.01, 0), (0.008, -60), {}),
    ("LEAKY_RELU", (0.05, 7), (0.03, -20), {"alpha": 0.2}),
    ("LEAKY_RELU", (0.02, -100), (0.05, 0), {"alpha": 0.01}),
    ("RELU", (0.05, 7), (0.03, -128), {}),
    ("RELU", (0.05, 7), (0.05, 7), {}),
    ("RELU6", (0.06, -3), (0.03, -128), {}),
    ("RELU_N1_TO_1", (0.02, 10), (1 / 127, 0), {}),
]


def unary_graph(kind, in_q, out_q, attrs) -> Graph:
    tensors = {
        "x": Tensor("x", (1, 16, 16, 1), "int8", QParams.per_tensor(*in_q)),
        "y": Tensor("y", (1, 16, 16, 1), "int8", QParams.per_tensor(*out_q)),
    }
    return Graph(kind.lower(), tensors, [Op(kind, kind.lower(), ["x"], ["y"], dict(attrs))], ["x"], ["y"])


@pytest.mark.parametrize(
    "case", CASES, ids=lambda c: f"{c[0]}-{c[1][0]}-{c[1][1]}" if isinstance(c, tuple) else ""
)
def test_unary_table_equals_litert_on_all_256_inputs(case):
    graph = unary_graph(*case)
    ours = reference.run_outputs(graph, ALL_INT8)["y"]
    theirs = run_litert(graph_to_bytes(graph), [[ALL_INT8]])[0][1]
    np.testing.assert_array_equal(ours, theirs)
    assert len(np.unique(ours)) > 8  # the quantization leaves the function visible


def test_tflite_micro_unary_semantics():
    """TFLite Micro agrees everywhere but on RELU6 with a change of quantization: its RELU6 clamps in
    the input's quantization and does not rescale to the output's, where LiteRT (and patchbench) do."""
    differs = {}
    for case in CASES:
        kind = case[0]
        if kind == "RELU_N1_TO_1":
            continue  # TFLite Micro has no kernel for it
        graph = unary_graph(*case)
        ours = reference.run_outputs(graph, ALL_INT8)["y"]
        theirs = run_tflm(graph_to_bytes(graph), [[ALL_INT8]], 1)[0][0]
        differs.setdefault(kind, []).append(int(np.count_nonzero(ours != theirs)))
    for kind in ("LOGISTIC", "TANH", "HARD_SWISH", "LEAKY_RELU", "RELU"):
        assert differs[kind] == [0] * len(differs[kind]), (kind, differs[kind])
    assert differs["RELU6"] == [256]  # (0.06, -3) -> (0.03, -128): every value rescaled by LiteRT only


@pytest.mark.parametrize(
    "stride, padding, in_hw, out_hw, k, bias",
    [
        ((2, 2), "SAME", (5, 6), (10, 12), 3, True),
        ((2, 1), "VALID", (4, 4), (9, 6), 3, False),
        ((3, 3), "SAME", (3, 3), (9, 9), 5, True),
    ],
)
def test_transpose_conv_equals_litert_and_tflm(stride, padding, in_hw, out_hw, k, bias):
    rng = np.random.default_rng(5)
    cin, cout = 3, 4
    in_scale = 0.05
    w_scales = rng.uniform(0.002, 0.02, cout).astype(np.float32)
    tensors = {
        "shape": Tensor("shape", (4,), "int32", None, np.array([1, *out_hw, cout], np.int32)),
        "w": Tensor(
            "w",
            (cout, k, k, cin),
            "int8",
            QParams(w_scales, np.zeros(cout, np.int64), 0),
            rng.integers(-127, 128, (cout, k, k, cin)).astype(np.int8),
        ),
        "x": Tensor("x", (1, *in_hw, cin), "int8", QParams.per_tensor(in_scale, 9)),
        "y": Tensor("y", (1, *out_hw, cout), "int8", QParams.per_tensor(0.04, -7)),
    }
    inputs = ["shape", "w", "x"]
    if bias:
        bias_q = QParams((np.float64(in_scale) * w_scales).astype(np.float32), np.zeros(cout, np.int64), 0)
        tensors["b"] = Tensor("b", (cout,), "int32", bias_q, rng.integers(-3000, 3000, cout).astype(np.int32))
        inputs.append("b")
    attrs = {"stride": stride, "padding": padding, "activation": "NONE", "act_min": -128, "act_max": 127}
    graph = Graph("tconv", tensors, [Op("TRANSPOSE_CONV", "tconv", inputs, ["y"], attrs)], ["x"], ["y"])
    xs = [[rng.integers(-128, 128, (1, *in_hw, cin)).astype(np.int8)] for _ in range(3)]
    data = graph_to_bytes(graph)
    lite = run_litert(data, xs)
    micro = run_tflm(data, xs, 1)
    for x, their, micro_out in zip(xs, lite, micro, strict=True):
        ours = reference.run_outputs(graph, x[0])["y"]
        index = {t: i for i, t in enumerate(n for n in tensors)}  # writer keeps graph.tensors order
        np.testing.assert_array_equal(ours, their[index["y"]])
        np.testing.assert_array_equal(ours, micro_out[0])
