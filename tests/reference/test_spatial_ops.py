# SPDX-License-Identifier: Apache-2.0
"""Spatially local ops of converter-made models, built with the project's graph builders
(models.synthetic.build_stack, tests/codegen_graphs.Appender): depthwise convolutions with a depth
multiplier > 1; RESIZE_BILINEAR with each align_corners / half_pixel_centers setting; DEPTH_TO_SPACE and
SPACE_TO_DEPTH.

Each graph is checked on every tensor against LiteRT BUILTIN_REF over seeded inputs, then on the
emulator per layer and with a patch stage (p = 2), with the portable and the optimized (DSP) kernels,
bit-exact through measure().
"""

from __future__ import annotations

import numpy as np
import pytest
from codegen_graphs import Appender
from machine import needs

from harness import reference
from harness.codegen.layout import plan_model_arena
from harness.codegen.options import CodegenOptions
from harness.frontend import graph_from_bytes, graph_to_bytes
from harness.ir.graph import QParams, validate
from harness.pipeline.measure import measure
from harness.reference.outside import every_tensor_mismatches, run_litert, seeded_inputs
from harness.schedule.executor import run_patched
from harness.schedule.plan import make_plan
from harness.schedule.profile import PAPER_RULES, alias_groups
from models.synthetic import LayerSpec, build_stack

M7 = "stm32f746"  # Cortex-M7: the optimized set runs the DSP kernels


def SLOW(*values):  # noqa: N802 (reads as a marker in the parameter lists)
    return pytest.param(*values, marks=pytest.mark.slow)


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


@pytest.mark.emulator
@needs("arm-none-eabi-gcc", "qemu-system-arm")
@pytest.mark.parametrize(
    "p, n, kernels",
    [(1, 0, "portable"), (2, 4, "optimized"), SLOW(1, 0, "optimized"), SLOW(2, 4, "portable")],
)
def test_depth_multiplier_bit_exact_on_the_emulator(p, n, kernels):
    _bit_exact_on_the_emulator(depth_multiplier_graph(), p, n, kernels)


# --- RESIZE_BILINEAR ------------------------------------------------------------------------------------

RESIZE_SETTINGS = [(False, False), (True, False), (False, True)]  # (align_corners, half_pixel_centers)


def _conv(a: Appender, name: str, x: str, kernel: int, cout: int = 4) -> str:
    """A SAME kxk conv appended with the project's Appender (per-channel weights, int32 bias)."""
    cin = a.graph.tensor(x).shape[-1]
    w_scales = a.rng.uniform(0.005, 0.02, cout).astype(np.float32)
    weights = a.const(f"{name}_w", a.rng.integers(-127, 128, (cout, kernel, kernel, cin)).astype(np.int8),
                      QParams(w_scales, np.zeros(cout, np.int64), 0))  # fmt: skip
    bias_scales = (np.float64(a.graph.tensor(x).scale) * w_scales).astype(np.float32)
    bias = a.const(f"{name}_b", a.rng.integers(-2000, 2000, cout).astype(np.int32),
                   QParams(bias_scales, np.zeros(cout, np.int64), 0))  # fmt: skip
    attrs = {"stride": (1, 1), "dilation": (1, 1), "padding": "SAME", "activation": "NONE",
             "act_min": -128, "act_max": 127}  # fmt: skip
    scale = float(a.graph.tensor(x).scale) * 0.02 * kernel * np.sqrt(cin) * 3
    return a.op("CONV_2D", name, [x, weights, bias], attrs, scale, int(a.rng.integers(-20, 20)))


def resize_bilinear_graph(align_corners: bool, half_pixel_centers: bool):
    """conv 3x3 -> RESIZE_BILINEAR up (11x10 -> 17x23) -> conv 3x3 -> RESIZE_BILINEAR down (-> 9x7) ->
    conv 1x1; every op spatially local, so all five can form a patch stage."""
    specs = [LayerSpec("conv", 3, 1, channels=5)]
    graph = build_stack(specs, input_shape=(1, 11, 10, 3), seed=31, name="resize_bilinear", blocks=False)
    a = Appender(graph, seed=32)
    attrs = {"align_corners": align_corners, "half_pixel_centers": half_pixel_centers}
    x = a.op("RESIZE_BILINEAR", "resize_up", [a.x, a.const("size_up", np.array([17, 23], np.int32))], attrs)
    x = _conv(a, "after_up", x, 3)
    x = a.op("RESIZE_BILINEAR", "resize_down", [x, a.const("size_down", np.array([9, 7], np.int32))], attrs)
    _conv(a, "head", x, 1)
    validate(graph)
    return graph


@pytest.mark.parametrize("align_corners, half_pixel_centers", RESIZE_SETTINGS)
def test_resize_bilinear_every_tensor_matches_litert(align_corners, half_pixel_centers):
    _litert_every_tensor(resize_bilinear_graph(align_corners, half_pixel_centers))


# --- DEPTH_TO_SPACE and SPACE_TO_DEPTH -------------------------------------------------------------------


def depth_space_graph(block: int = 2):
    """conv 3x3 (12 channels) -> DEPTH_TO_SPACE b -> conv 3x3 -> SPACE_TO_DEPTH b -> conv 1x1: the
    rearrangements between convs whose windows overlap tile borders, all in one patch stage."""
    specs = [LayerSpec("conv", 3, 1, channels=3 * block * block)]
    graph = build_stack(specs, input_shape=(1, 7, 9, 3), seed=41, name=f"depth_space_b{block}", blocks=False)
    a = Appender(graph, seed=42)
    x = a.op("DEPTH_TO_SPACE", "to_space", [a.x], {"block_size": block})
    x = _conv(a, "between", x, 3)
    x = a.op("SPACE_TO_DEPTH", "to_depth", [x], {"block_size": block})
    _conv(a, "head", x, 1)
    validate(graph)
    return graph


@pytest.mark.parametrize("block", [2, 3])
def test_depth_space_every_tensor_matches_litert(block):
    graph = depth_space_graph(block)
    assert graph.tensor(graph.ops[1].outputs[0]).shape == (1, 7 * block, 9 * block, 3)
    _litert_every_tensor(graph)


# --- on the emulator: resizes and depth/space rearrangements in the patch stage -------------------------

# (graph, its two parameters, p, kernels): p = 2 runs every op of the graph in the patch stage. The tile
# kernels are the same C in both kernel sets (the convs around them differ); the pairs under -m slow.
STAGE_POINTS = [
    ("bilinear", False, False, 1, "optimized"),
    ("bilinear", False, False, 2, "portable"),
    ("bilinear", True, False, 2, "optimized"),
    ("bilinear", False, True, 2, "optimized"),
    SLOW("bilinear", False, False, 1, "portable"),
    SLOW("bilinear", False, False, 2, "optimized"),
    ("depth_space", 2, None, 1, "portable"),
    ("depth_space", 2, None, 2, "optimized"),
    ("depth_space", 3, None, 2, "portable"),
    SLOW("depth_space", 2, None, 1, "optimized"),
    SLOW("depth_space", 2, None, 2, "portable"),
]


@pytest.mark.emulator
@needs("arm-none-eabi-gcc", "qemu-system-arm")
@pytest.mark.parametrize("kind, first, second, p, kernels", STAGE_POINTS)
def test_tile_ops_bit_exact_on_the_emulator(kind, first, second, p, kernels):
    graph = resize_bilinear_graph(first, second) if kind == "bilinear" else depth_space_graph(first)
    n = 0 if p == 1 else len(graph.ops)
    if p == 2:
        plan = make_plan(graph, p, n)
        tile_ops = [
            op.name for op in graph.ops if op.kind in ("RESIZE_BILINEAR", "DEPTH_TO_SPACE", "SPACE_TO_DEPTH")
        ]
        assert set(tile_ops) <= set(plan.stage_ops) and len(tile_ops) == 2
    _bit_exact_on_the_emulator(graph, p, n, kernels)


# --- TRANSPOSE_CONV in the patch stage -------------------------------------------------------------------


def _transpose_conv(
    a: Appender, name: str, x: str, kernel: int, stride: int, padding: str, cout: int = 4
) -> str:
    n, h, w, cin = a.graph.tensor(x).shape
    if padding == "SAME":
        out_h, out_w = h * stride, w * stride
    else:
        out_h, out_w = (h - 1) * stride + kernel, (w - 1) * stride + kernel
    w_scales = a.rng.uniform(0.005, 0.02, cout).astype(np.float32)
    weights = a.const(f"{name}_w", a.rng.integers(-127, 128, (cout, kernel, kernel, cin)).astype(np.int8),
                      QParams(w_scales, np.zeros(cout, np.int64), 0))  # fmt: skip
    bias = a.const(f"{name}_b", a.rng.integers(-2000, 2000, cout).astype(np.int32),
                   QParams((np.float64(a.graph.tensor(x).scale) * w_scales).astype(np.float32),
                           np.zeros(cout, np.int64), 0))  # fmt: skip
    shape = a.const(f"{name}_shape", np.array([n, out_h, out_w, cout], np.int32))
    attrs = {
        "stride": (stride, stride),
        "padding": padding,
        "activation": "NONE",
        "act_min": -128,
        "act_max": 127,
    }
    scale = float(a.graph.tensor(x).scale) * 0.02 * kernel * np.sqrt(cin)
    return a.op("TRANSPOSE_CONV", name, [shape, weights, x, bias], attrs, scale, int(a.rng.integers(-20, 20)))


def transpose_conv_graph():
    """conv 3x3 -> TRANSPOSE_CONV 3x3 stride 2 SAME -> conv 3x3 -> TRANSPOSE_CONV 2x2 stride 3 VALID (the
    kernel shorter than the stride: some output rows take no input row, so some tiles read nothing) ->
    conv 1x1."""
    specs = [LayerSpec("conv", 3, 1, channels=5)]
    graph = build_stack(specs, input_shape=(1, 5, 6, 3), seed=51, name="transpose_conv_stage", blocks=False)
    a = Appender(graph, seed=52)
    x = _transpose_conv(a, "up2", a.x, 3, 2, "SAME")
    x = _conv(a, "between", x, 3)
    x = _transpose_conv(a, "up3", x, 2, 3, "VALID")
    _conv(a, "head", x, 1)
    validate(graph)
    return graph


def test_transpose_conv_every_tensor_matches_litert():
    _litert_every_tensor(transpose_conv_graph())


def test_transpose_conv_tiles_of_every_plan_equal_per_layer():
    """The host patch executor (each tile of each TRANSPOSE_CONV from the input window the plan names) equals
    per-layer inference at every depth for p = 2, 3, 4."""
    graph = transpose_conv_graph()
    x = np.random.default_rng(3).integers(-128, 128, graph.tensor(graph.inputs[0]).shape).astype(np.int8)
    want = reference.run_graph(graph, x)[graph.outputs[0]]
    for p in (2, 3, 4):
        for n in range(1, len(graph.ops) + 1):
            got = run_patched(graph, make_plan(graph, p, n), x)[graph.outputs[0]]
            np.testing.assert_array_equal(got, want, err_msg=f"p={p} n={n}")


@pytest.mark.emulator
@needs("arm-none-eabi-gcc", "qemu-system-arm")
@pytest.mark.parametrize(
    "p, kernels", [(1, "portable"), (2, "optimized"), SLOW(1, "optimized"), SLOW(2, "portable")]
)
def test_transpose_conv_bit_exact_on_the_emulator(p, kernels):
    graph = transpose_conv_graph()
    _bit_exact_on_the_emulator(graph, p, 0 if p == 1 else len(graph.ops), kernels)
