# SPDX-License-Identifier: Apache-2.0
"""PAD ops folded into the conv / depthwise / max pool that reads them (harness/schedule/fusion.py).

The fold is exact only where the reader's implicit padding stands for the PAD's constant: here each
case that folds is checked against the reference of the unfolded graph (every tensor), the host C of
the folded schedule against the reference, and the arena shrinks where the padded copy was the peak.
The device runs (QEMU, portable and optimized kernels) are in test_fusion_pad_e2e.py.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from machine import needs

from harness import reference
from harness.codegen import CodegenOptions, generate_model
from harness.codegen.hostrun import run_on_host
from harness.frontend import graph_to_bytes
from harness.ir.graph import GraphError, Tensor, validate
from harness.pipeline.measure import expected_output, make_test_input
from harness.schedule.arena import plan_arena
from harness.schedule.executor import run_in_arena
from harness.schedule.fusion import fold_pads
from harness.schedule.plan import make_plan
from models.synthetic import LayerSpec, build_stack

needs_gcc = needs("gcc")


def pad_peak_graph():
    """A converted model's pattern at the size where its padded copy is the per-layer peak: a 3x3 conv
    to 40x40x16, an explicit PAD to 42x42x16, a 3x3 stride-2 VALID depthwise conv, a 1x1 conv."""
    specs = [LayerSpec("conv", 3, 1, channels=16), LayerSpec("pad", pads=(1, 1, 1, 1)),
             LayerSpec("depthwise", 3, 2, "VALID"), LayerSpec("conv", 1, 1, channels=16)]  # fmt: skip
    return build_stack(specs, input_shape=(1, 40, 40, 3), seed=7, name="pad_peak", blocks=False)


def _with_zero_point(graph, tensor: str, zero_point: int):
    """The PAD keeps its input's quantization (the builder shares the QParams): both move together."""
    graph.tensor(tensor).quant.zero_point[...] = zero_point
    return graph


def _stack(reader: LayerSpec, pads=(1, 0, 0, 2), zero_point: int | None = None):
    specs = [
        LayerSpec("conv", 3, 1, channels=6),
        LayerSpec("pad", pads=pads),
        reader,
        LayerSpec("conv", 1, 1),
    ]
    graph = build_stack(specs, input_shape=(1, 13, 11, 3), seed=4, name="pad_reader", blocks=False)
    if zero_point is not None:
        _with_zero_point(graph, "b0_conv_conv_out", zero_point)
    return graph


FOLDS = {  # reader -> (PAD amounts, zero point, the folded reader's pads: its own padding plus the PAD's)
    "conv VALID s2": (LayerSpec("conv", 3, 2, "VALID", channels=5), (1, 0, 0, 2), None, (1, 0, 0, 2)),
    "conv SAME s1": (LayerSpec("conv", 3, 1, "SAME", channels=5), (1, 1, 1, 1), None, (2, 2, 2, 2)),
    "depthwise VALID s2": (LayerSpec("depthwise", 3, 2, "VALID"), (1, 0, 0, 2), None, (1, 0, 0, 2)),
    "depthwise 5x5 SAME s1": (LayerSpec("depthwise", 5, 1, "SAME"), (1, 0, 0, 2), None, (3, 2, 2, 4)),
    "max pool at zero point -128": (LayerSpec("max_pool", 3, 2, "VALID"), (1, 0, 0, 2), -128, (1, 0, 0, 2)),
}


@pytest.mark.parametrize("case", list(FOLDS))
def test_a_pad_folds_into_its_reader_and_every_tensor_stays_exact(case):
    reader, amounts, zero_point, pads = FOLDS[case]
    graph = _stack(reader, amounts, zero_point)
    folded = fold_pads(graph, make_plan(graph, 1, 0))
    assert [(f.pad, f.into, f.pads) for f in folded.folds] == [("b1_pad_pad", graph.ops[2].name, pads)]
    assert "b1_pad_pad" not in [op.name for op in folded.graph.ops]
    assert "b1_pad_pad_out" not in folded.graph.tensors  # the padded copy is gone
    assert folded.graph.ops[1].inputs[0] == "b0_conv_conv_out"
    x = make_test_input(graph)
    want, got = reference.run_graph(graph, x), reference.run_graph(folded.graph, x)
    for name in got:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)
    with pytest.raises(GraphError, match="EXPLICIT padding .* has no .tflite form"):
        graph_to_bytes(folded.graph)


def _as_padv2(graph, value: int):
    """The stack's PAD as a PADV2 writing ``value``."""
    pad = graph.op("b1_pad_pad")
    source = graph.tensor(pad.inputs[0])
    graph.tensors["pad_value"] = Tensor("pad_value", (1,), "int8", source.quant, np.array([value], np.int8))
    pad.kind, pad.inputs = "PADV2", [*pad.inputs, "pad_value"]
    validate(graph)
    return graph


def test_a_padv2_folds_where_its_constant_is_the_readers_implicit_padding():
    max_pool = LayerSpec("max_pool", 3, 2, "VALID")
    graph = _as_padv2(_stack(max_pool), -128)  # zero point not -128: a PADV2 of -128 still never wins a max
    folded = fold_pads(graph, make_plan(graph, 1, 0))
    assert [f.into for f in folded.folds] == ["b2_max_pool_pool"] and "pad_value" not in folded.graph.tensors
    x = make_test_input(graph)
    want, got = reference.run_graph(graph, x), reference.run_graph(folded.graph, x)
    for name in got:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)
    conv = LayerSpec("conv", 3, 2, "VALID", channels=5)
    zero_point = _stack(conv).tensor("b0_conv_conv_out").zero_point
    for value, folds in ((zero_point, 1), (zero_point + 1, 0)):  # another constant would add to the sum
        graph = _as_padv2(_stack(conv), value)
        assert len(fold_pads(graph, make_plan(graph, 1, 0)).folds) == folds, value


@pytest.mark.parametrize(
    "why, reader, pads, zero_point",
    [
        ("max pool: the PAD writes its zero point, which can win a max", LayerSpec("max_pool", 3, 2, "VALID"),
         (1, 0, 0, 2), None),
        ("average pool: divides by the real pixels only", LayerSpec("avg_pool", 3, 2, "VALID"), (1, 0, 0, 2), None),
        ("a window made only of padding", LayerSpec("conv", 3, 1, "VALID", channels=5), (3, 0, 0, 0), None),
    ],
)  # fmt: skip
def test_a_pad_that_would_not_be_exact_is_kept(why, reader, pads, zero_point):
    graph = _stack(reader, pads, zero_point)
    assert graph.tensor("b0_conv_conv_out").zero_point != -128 or zero_point == -128
    assert fold_pads(graph, make_plan(graph, 1, 0)).folds == (), why


def test_a_pad_that_ends_the_patch_stage_is_kept_and_one_inside_it_folds():
    graph = _stack(LayerSpec("depthwise", 3, 2, "VALID"))
    assert fold_pads(graph, make_plan(graph, 2, 2)).folds == ()  # the padded map is the stage output
    folded = fold_pads(graph, make_plan(graph, 2, 3))
    assert [f.pad for f in folded.folds] == ["b1_pad_pad"]
    assert folded.plan.stage_ops == ("b0_conv_conv", "b2_depthwise_dw") and folded.plan.n == 3


@pytest.mark.parametrize("p, n, input_mode", [(1, 0, "counted"), (2, 3, "counted"), (3, 4, "streamed")])
def test_the_folded_schedule_runs_exactly_in_its_arena_on_the_host(p, n, input_mode):
    """The arena simulator (harness/schedule/executor.py) runs the folded ops at their planned offsets."""
    for zero_point, reader in ((None, LayerSpec("depthwise", 3, 2, "VALID")),
                               (-128, LayerSpec("max_pool", 3, 2, "VALID"))):  # fmt: skip
        graph = _stack(reader, zero_point=zero_point)
        folded = fold_pads(graph, make_plan(graph, p, n))
        assert len(folded.folds) == 1
        arena = plan_arena(folded.graph, folded.plan, input_mode)
        x = make_test_input(graph)
        out = run_in_arena(folded.graph, folded.plan, arena, x)
        np.testing.assert_array_equal(
            out[graph.outputs[0]], reference.run_outputs(graph, x)[graph.outputs[0]]
        )


def test_folding_the_pad_that_was_the_peak_shrinks_the_arena():
    """Per layer the PAD's step (40x40x16 in, 42x42x16 out) is the peak; folded, it is gone; in the patch
    stage the padded patch buffer goes."""
    graph = pad_peak_graph()
    padded_pair = graph.tensor("b0_conv_conv_out").nbytes + graph.tensor("b1_pad_pad_out").nbytes
    unfolded_options = CodegenOptions(inplace=replace(CodegenOptions().inplace, fold_pads=False))
    arenas = {}
    for p, n, mode in ((1, 0, "counted"), (2, 4, "counted"), (2, 4, "streamed")):
        plan = make_plan(graph, p, n)
        before = generate_model(
            graph, plan, "stm32f746", make_test_input(graph), replace(unfolded_options, input_mode=mode)
        )
        after = generate_model(
            graph, plan, "stm32f746", make_test_input(graph), CodegenOptions(input_mode=mode)
        )
        assert after.folds == ("b1_pad_pad folded into b2_depthwise_dw (pads t1 b1 l1 r1)",)
        assert before.folds == ()
        arenas[(p, mode)] = (before.arena_bytes, after.arena_bytes)
        assert after.arena_bytes < before.arena_bytes, (p, mode, arenas)
    assert arenas[(1, "counted")][0] >= padded_pair > arenas[(1, "counted")][1]
    print(f"pad_peak planned arena (bytes, unfolded -> folded): {arenas}")


@needs_gcc
@pytest.mark.parametrize("p, n, optimized", [(1, 0, False), (1, 0, True), (2, 4, True), (3, 3, False)])
def test_the_folded_c_is_bit_exact_on_the_host(p, n, optimized):
    graph = pad_peak_graph()
    x = make_test_input(graph)
    model = generate_model(graph, make_plan(graph, p, n), "stm32f746", x, CodegenOptions(optimized))
    assert model.folds
    assert run_on_host(model) == expected_output(graph, x)


@needs_gcc
def test_a_max_pool_with_a_folded_pad_is_bit_exact_on_the_host():
    graph = _stack(LayerSpec("max_pool", 3, 2, "VALID"), zero_point=-128)
    x = make_test_input(graph)
    for p, n in ((1, 0), (2, 4)):
        model = generate_model(graph, make_plan(graph, p, n), "stm32f746", x, CodegenOptions(optimized=False))
        assert model.folds
        assert run_on_host(model) == expected_output(graph, x)


@needs_gcc
def test_with_folding_off_the_pad_kernel_still_runs_in_the_patch_stage():
    """The every-op graph's PAD folds by default; with folding off its patch-stage PAD kernel is kept covered."""
    from codegen_graphs import STAGE_ENDS, every_op_graph

    graph = every_op_graph()
    x = make_test_input(graph)
    options = CodegenOptions(optimized=False, inplace=replace(CodegenOptions().inplace, fold_pads=False))
    model = generate_model(graph, make_plan(graph, 3, STAGE_ENDS["constants"]), "stm32f746", x, options)
    assert model.folds == () and "static void b1_pad_pad(const stage_step *s)" in model.sources["model.c"]
    assert run_on_host(model) == expected_output(graph, x)
