# SPDX-License-Identifier: Apache-2.0
"""MEAN over any set of axes: reduced axes that are not adjacent (e.g. H and C of NHWC, keeping W) run as
one pass over the input viewed as [outer, count, middle, count2, inner] (harness/codegen/ops.mean_view).

Checked: the view for each kind of axis set, the reference against LiteRT BUILTIN_REF on every tensor,
the generated C on the host (DSP and portable builds), and one point on the emulator.
"""

from __future__ import annotations

import numpy as np
import pytest
from codegen_graphs import Appender
from machine import needs
from op_checks import assert_host_c_matches_the_reference, assert_litert_every_tensor_and_tflm_output

from harness.codegen.ops import mean_view
from harness.frontend import graph_from_bytes, graph_to_bytes
from harness.ir.graph import validate
from harness.pipeline.measure import measure
from models.synthetic import LayerSpec, build_stack

CASES = {  # name: (axes, keep_dims)
    "h_and_c_kept": ([1, 3], True),
    "h_and_c": ([1, 3], False),
    "c_and_h_negative": ([-1, 1], True),
    "n_w_unsorted": ([2, 0], False),
}


def mean_graph(axes: list[int], keep_dims: bool):
    graph = build_stack([LayerSpec("conv", 3, 1, channels=6)], input_shape=(1, 7, 5, 3), seed=4, blocks=False)
    a = Appender(graph, seed=2)
    a.op("MEAN", "mean", [a.x, a.const("axes", np.array(axes, np.int32))], {"keep_dims": keep_dims},
         scale=0.017, zero_point=-7)  # fmt: skip
    validate(graph)
    return graph


def test_the_view_of_each_axis_set():
    graph = mean_graph([1, 3], True)
    assert mean_view(graph, graph.ops[-1]) == (1, 7, 5, 6, 1)  # H, then W kept, then C
    assert mean_view(*_last(mean_graph([1, 2], True))) == (1, 35, 1, 1, 6)  # adjacent: one run
    assert mean_view(*_last(mean_graph([3], False))) == (35, 6, 1, 1, 1)
    assert mean_view(*_last(mean_graph([0, 2], False))) == (7, 5, 1, 1, 6)  # the batch of 1 is no run


def _last(graph):
    return graph, graph.ops[-1]


@pytest.fixture(scope="module", params=list(CASES))
def exported(request):
    graph = mean_graph(*CASES[request.param])
    data = graph_to_bytes(graph)
    return data, graph_from_bytes(data, f"mean_{request.param}")


def test_every_tensor_matches_litert_and_the_output_tflite_micro(exported):
    assert_litert_every_tensor_and_tflm_output(*exported)


@needs("gcc")
@pytest.mark.parametrize("optimized", [True, False])
def test_generated_c_matches_the_reference_on_the_host(exported, optimized):
    assert_host_c_matches_the_reference(exported[1], optimized)


@pytest.mark.emulator
@needs("arm-none-eabi-gcc", "qemu-system-arm")
def test_non_adjacent_mean_bit_exact_on_the_emulator():
    graph = mean_graph([1, 3], False)
    result = measure(graph, "stm32f746", 1, 0, repeat=1, warmup=0)
    assert result.status == "passed", result.reason
    assert result.exact and result.output == result.expected
