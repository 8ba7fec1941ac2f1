# SPDX-License-Identifier: Apache-2.0
"""The op patterns of converter-made models (PyTorch via ONNX, Keras), built with the project's graph
builders (tests/codegen_graphs.converter_patterns_graph): float32 image in, PAD before a stride-2 VALID
conv, swish, squeeze-excite (MEAN + 1x1 convs + HARD_SWISH + LOGISTIC + per-channel MUL), TRANSPOSE to
NCHW with one MEAN per axis, a float32 output and a second int8 output.

Checked: every tensor against LiteRT BUILTIN_REF over 20 seeded inputs, the outputs against TFLite
Micro, and the firmware on the emulator per layer and with a patch stage, bit-exact with both outputs.
"""

from __future__ import annotations

import numpy as np
import pytest
from codegen_graphs import converter_patterns_graph
from machine import needs

from harness import reference
from harness.frontend import graph_from_bytes, graph_to_bytes
from harness.pipeline.measure import measure
from harness.reference import FC_FIXED
from harness.reference.outside import every_tensor_mismatches, run_litert, run_tflm, seeded_inputs
from harness.schedule.plan import ScheduleError, make_plan


@pytest.fixture(scope="module")
def patterns():
    graph = converter_patterns_graph()
    data = graph_to_bytes(graph)
    return graph, data, graph_from_bytes(data, graph.name)


def test_patterns_every_tensor_matches_litert_reference(patterns):
    _, data, exported = patterns
    inputs = seeded_inputs(exported, 20, seed=3)
    compared, mismatches = every_tensor_mismatches(exported, inputs, run_litert(data, inputs))
    assert not mismatches, mismatches[:5]
    assert compared == 20 * len(exported.activations())
    kinds = {op.kind for op in exported.ops}
    assert {"PAD", "LOGISTIC", "HARD_SWISH", "MEAN", "TRANSPOSE", "DEQUANTIZE", "QUANTIZE"} <= kinds
    assert len(exported.outputs) == 2


def test_patterns_outputs_match_tflite_micro(patterns):
    _, data, exported = patterns
    inputs = seeded_inputs(exported, 5, seed=4)
    for arrays, their in zip(inputs, run_tflm(data, inputs, 2), strict=True):
        ours = reference.run_outputs(exported, arrays[0], fc_requant=FC_FIXED)
        for k, name in enumerate(exported.outputs):
            np.testing.assert_array_equal(ours[name], their[k])


def test_squeeze_excite_mean_ends_the_patch_stage_and_is_named(patterns):
    graph, _, _ = patterns
    first_global = next(i for i, op in enumerate(graph.ops) if op.kind == "MEAN")
    make_plan(graph, 2, first_global)  # every op before the SE's MEAN runs patch by patch
    with pytest.raises(ScheduleError, match=r"se_mean.*MEAN"):
        make_plan(graph, 2, first_global + 1)


@pytest.mark.emulator
@needs("arm-none-eabi-gcc", "qemu-system-arm")
@pytest.mark.parametrize("p, kernels", [(1, "optimized"), (1, "portable"), (2, "optimized")])
def test_patterns_run_bit_exact_on_the_emulator(patterns, p, kernels):
    graph, _, _ = patterns
    n = 0 if p == 1 else next(i for i, op in enumerate(graph.ops) if op.kind == "MEAN")
    result = measure(graph, "stm32f746", p, n, kernels=kernels, repeat=1, warmup=0)
    assert result.status == "passed", result.reason
    assert result.exact and result.output == result.expected
    float_out, int8_out = (graph.tensor(name) for name in graph.outputs)
    assert len(result.output) == float_out.nbytes + int8_out.nbytes  # both outputs, float32 and int8
