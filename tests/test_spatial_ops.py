"""Spatially local ops of converter-made models, built with the project's graph builders
(models.synthetic.build_stack, tests/codegen_graphs.Appender): depthwise convolutions with a depth
multiplier > 1.

Each graph is checked on every tensor against LiteRT BUILTIN_REF over seeded inputs, then on the
emulator per layer and with a patch stage (p = 2), with the portable and the optimized (DSP) kernels,
bit-exact through measure().
"""

from __future__ import annotations

import pytest
from machine import needs

from harness.codegen.layout import plan_model_arena
from harness.codegen.options import CodegenOptions
from harness.frontend import graph_from_bytes, graph_to_bytes
from harness.pipeline.measure import measure
from harness.reference.outside import every_tensor_mismatches, run_litert, seeded_inputs
from harness.schedule.plan import make_plan
from harness.schedule.profile import PAPER_RULES, alias_groups
from models.synthetic import LayerSpec, build_stack

M7 = "stm32f746"  # Cortex-M7: the optimized set runs the DSP kernels
KERNEL_SETS = ("portable", "optimized")


def _litert_every_tensor(graph, count: int = 6, seed: int = 11) -> None:
    data = graph_to_bytes(graph)
    exported = graph_from_bytes(data, graph.name)
    inputs = seeded_inputs(exported, count, seed=seed)
    compared, mismatches = every_tensor_mismatches(exported, inputs, run_litert(data, inputs))
    assert not mismatches, mismatches[:5]
    assert compared == count * len(exported.activations())


def _bit_exact_on_the_emulator(graph, p: int, n: int, kernels: str) -> None:
    result = measure(graph, M7, p, n, kernels=kernels, repeat=1, warmup=0)
    assert result.status == "passed", result.reason
    assert result.exact and result.output == result.expected


# --- depthwise with a depth multiplier > 1 -------------------------------------------------------------


def depth_multiplier_graph():
    """A conv, a 3x3 depthwise with multiplier 2 (SAME), a 3x3 stride-2 VALID depthwise with multiplier 3
    (fewer output bytes than input bytes: the in-place kernel would otherwise qualify), a 1x1 conv."""
    specs = [
        LayerSpec("conv", 3, 1, channels=3),
        LayerSpec("depthwise", 3, 1, multiplier=2),
        LayerSpec("depthwise", 3, 2, "VALID", multiplier=3),
        LayerSpec("conv", 1, 1, channels=4),
    ]
    return build_stack(specs, input_shape=(1, 13, 12, 2), seed=21, name="depth_multiplier", blocks=False)


def test_depth_multiplier_every_tensor_matches_litert():
    graph = depth_multiplier_graph()
    assert [op.attrs.get("depth_multiplier") for op in graph.ops[1:3]] == [2, 3]
    _litert_every_tensor(graph)


def test_depth_multiplier_is_never_planned_in_place():
    """The output has other channels than the input: no in-place depthwise, per layer or in a patch stage,
    in the arena (which the simulator proves) or in the analytic count."""
    graph = depth_multiplier_graph()
    for p, n in ((1, 0), (2, 4)):
        plan = make_plan(graph, p, n)
        arena = plan_model_arena(graph, plan, CodegenOptions())
        for op in graph.ops[1:3]:
            assert arena.buffer(op.outputs[0]).writes_over is None, (p, op.name)
    in_bytes = graph.tensor(graph.ops[2].inputs[0]).nbytes
    assert graph.tensor(graph.ops[2].outputs[0]).nbytes < in_bytes  # only the channels forbid it
    groups = alias_groups(graph, PAPER_RULES)
    assert all(groups[op.outputs[0]] == op.outputs[0] for op in graph.ops[1:3])  # each its own buffer


@pytest.mark.hil
@needs("arm-none-eabi-gcc", "qemu-system-arm")
@pytest.mark.parametrize("kernels", KERNEL_SETS)
@pytest.mark.parametrize("p, n", [(1, 0), (2, 4)])
def test_depth_multiplier_bit_exact_on_the_emulator(p, n, kernels):
    _bit_exact_on_the_emulator(depth_multiplier_graph(), p, n, kernels)
