# SPDX-License-Identifier: Apache-2.0
"""The data ops of issue 10 in generated firmware: one graph built with the project's builders
(codegen_graphs.data_ops_graph: PRELU, SUB, MAXIMUM, MINIMUM with broadcast constants, PADV2, strided
slices of rows, columns and channels, ADD, a MUL by one column, then SPLIT, SPLIT_V, strided slices, a
row-broadcast ADD, a slice that drops the batch axis and two outputs), exported and imported (SPLIT / SPLIT_V become SLICEs), then run as
generated C: on the host (quick) and on the emulated board, per layer and with a p=2 patch stage over the
spatially local ops, with the portable and the DSP kernel sets (and CMSIS-NN's, which runs these ops with
patchbench's portable kernels), bit-exact with the reference.

The reference itself equals LiteRT on every tensor of this graph (the first test), so the firmware
follows LiteRT; PRELU is where TFLite Micro's multipliers differ (tests/reference/test_data_ops.py).
"""

from __future__ import annotations

import numpy as np
import pytest
from codegen_graphs import DATA_OPS_STAGE_END, data_ops_graph
from machine import needs

from harness.codegen import CodegenOptions, generate_model
from harness.codegen.hostrun import run_on_host
from harness.frontend import graph_from_bytes, graph_to_bytes
from harness.pipeline.measure import expected_output, measure
from harness.reference.outside import every_tensor_mismatches, run_litert, seeded_inputs
from harness.schedule.plan import ScheduleError, make_plan
from harness.schedule.search import valid_depths


@pytest.fixture(scope="module")
def imported():
    graph = data_ops_graph()
    data = graph_to_bytes(graph)
    return data, graph_from_bytes(data, graph.name)


def test_data_ops_graph_equals_litert_on_every_tensor(imported):
    data, graph = imported
    inputs = seeded_inputs(graph, 10, seed=8)
    compared, mismatches = every_tensor_mismatches(graph, inputs, run_litert(data, inputs))
    assert not mismatches, mismatches
    assert compared == 10 * len(graph.activations())
    assert len(graph.outputs) == 2


def test_a_slice_that_drops_an_axis_ends_the_patch_stage_and_is_named(imported):
    _, graph = imported
    stop = next(
        i
        for i, op in enumerate(graph.ops)
        if op.kind == "STRIDED_SLICE" and len(graph.tensor(op.outputs[0]).shape) == 3
    )
    with pytest.raises(ScheduleError, match=rf"{graph.ops[stop].name}' \(STRIDED_SLICE\).*needs 4-D NHWC"):
        make_plan(graph, 2, stop + 1)
    stage = {graph.op(name).kind for name in make_plan(graph, 2, DATA_OPS_STAGE_END).stage_ops}
    assert {"PRELU", "SUB", "MAXIMUM", "MINIMUM", "PADV2", "SLICE", "STRIDED_SLICE", "ADD", "MUL"} <= stage
    assert DATA_OPS_STAGE_END in valid_depths(graph, 2)


@needs("gcc")
@pytest.mark.parametrize("p, optimized", [(1, False), (2, True), (3, False)])
def test_data_ops_bit_exact_on_the_host(imported, p, optimized):
    _, graph = imported
    x = np.random.default_rng(p).integers(-128, 128, graph.tensor(graph.inputs[0]).shape).astype(np.int8)
    n = 0 if p == 1 else DATA_OPS_STAGE_END
    model = generate_model(
        graph, make_plan(graph, p, n), "stm32f746", x, CodegenOptions(optimized, "counted")
    )
    assert run_on_host(model) == expected_output(graph, x)


@pytest.mark.emulator
@needs("arm-none-eabi-gcc", "qemu-system-arm")
@pytest.mark.parametrize(
    "p, kernels", [(1, "portable"), (1, "optimized"), (2, "portable"), (2, "optimized"), (2, "cmsis-nn")]
)
def test_data_ops_bit_exact_on_the_emulator(imported, p, kernels):
    _, graph = imported
    n = 0 if p == 1 else DATA_OPS_STAGE_END
    result = measure(graph, "stm32f746", p, n, kernels=kernels, repeat=1, warmup=0)
    assert result.status == "passed", result.reason
    assert result.exact and result.output == result.expected
    assert len(result.output) == sum(graph.tensor(name).nbytes for name in graph.outputs)
