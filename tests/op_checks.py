# SPDX-License-Identifier: Apache-2.0
"""The checks every new op kind's test makes (tests/ir/test_arg_max.py, test_batch_matmul.py,
test_mean_axes.py): the reference against LiteRT on every tensor and TFLite Micro on the output, and the
generated C on the host against the reference, one point on the emulator."""

from __future__ import annotations

import numpy as np

from harness import reference
from harness.codegen import CodegenOptions, generate_model
from harness.codegen.hostrun import run_on_host
from harness.pipeline.measure import expected_output, measure
from harness.reference.outside import every_tensor_mismatches, run_litert, run_tflm, seeded_inputs
from harness.schedule.plan import make_plan


def assert_litert_every_tensor_and_tflm_output(data: bytes, graph, count: int = 6) -> None:
    inputs = seeded_inputs(graph, count, seed=5)
    compared, mismatches = every_tensor_mismatches(graph, inputs, run_litert(data, inputs))
    assert not mismatches, mismatches[:5]
    assert compared == count * len(graph.activations())
    micro = run_tflm(data, inputs, 1)
    for x, theirs in zip(inputs, micro, strict=True):
        ours = reference.run_outputs(graph, dict(zip(graph.inputs, x, strict=True)))[graph.outputs[0]]
        np.testing.assert_array_equal(ours, theirs[0].reshape(ours.shape))


def assert_host_c_matches_the_reference(graph, optimized: bool) -> None:
    x = seeded_inputs(graph, 1, seed=8)[0][0]
    model = generate_model(graph, make_plan(graph, 1, 0), "stm32f746", x, CodegenOptions(optimized))
    assert run_on_host(model) == expected_output(graph, x)


def assert_exact_on_the_emulator(graph, kernels: str):
    """Per layer on the F746's emulator with one kernel set: the device's output equals the reference's.
    Returns the point's result (``portable_ops``: what the CMSIS-NN kernel set ran on portable kernels)."""
    result = measure(graph, "stm32f746", 1, 0, repeat=1, warmup=0, kernels=kernels)
    assert result.status == "passed", result.reason
    assert result.exact and result.output == result.expected
    return result
