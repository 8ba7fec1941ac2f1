# SPDX-License-Identifier: Apache-2.0
"""Patch plans: regions, border pads, coverage, MACs, and every rejection with a clear reason.

Bit-exactness of the plans on real models is in test_schedule_exec.py; here the hypothesis property
test runs random small conv stacks (any kernel 1/3/5/7, stride 1/2, SAME/VALID, explicit PAD, residual
ADD, pools, concatenation, MUL) under random (p, n): bit-exact or a legitimate, clean ScheduleError.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from harness import reference
from harness.frontend import load_tflite
from harness.ir.graph import Op, Tensor, op_macs, validate
from harness.paths import mlperf_model
from harness.schedule.executor import run_patched
from harness.schedule.plan import Region, ScheduleError, make_plan, split_evenly, stage_ops_of
from models.synthetic import LayerSpec, StackError, build_stack


def random_input(graph, seed=0):
    shape = graph.tensor(graph.inputs[0]).shape
    return np.random.default_rng(seed).integers(-128, 128, shape).astype(np.int8)


@pytest.fixture(scope="module")
def stack():
    # 20x20 stage outputs (stride-1 SAME) so that p = 3 splits 20 into 7, 7, 6.
    specs = [
        LayerSpec("conv", 3, 1, "SAME", 6),
        LayerSpec("mbconv", 5),
        LayerSpec("pad", pads=(1, 2, 0, 3)),
        LayerSpec("depthwise", 7, 2, "VALID"),
        LayerSpec("residual", 3),
        LayerSpec("concat", 1, channels=3),
    ]
    return build_stack(specs, (1, 20, 20, 3), seed=3)


def test_split_evenly_covers_everything_larger_parts_first():
    assert split_evenly(20, 3) == (0, 7, 14, 20)
    assert split_evenly(28, 4) == (0, 7, 14, 21, 28)
    assert split_evenly(5, 5) == (0, 1, 2, 3, 4, 5)
    for size in range(1, 40):
        for parts in range(1, min(size, 8) + 1):
            bounds = split_evenly(size, parts)
            widths = np.diff(bounds)
            assert bounds[0] == 0 and bounds[-1] == size and widths.max() - widths.min() <= 1


def test_uneven_grid_20_wide_p3_is_7_7_6_and_bit_exact(stack):
    plan = make_plan(stack, 3, 2)
    assert stack.tensor(plan.stage_output).shape[1:3] == (20, 20)
    assert plan.col_bounds == (0, 7, 14, 20) and plan.row_bounds == (0, 7, 14, 20)
    x = random_input(stack)
    expected = reference.run_graph(stack, x)
    got = run_patched(stack, plan, x)
    for name in [plan.stage_output, *stack.outputs]:
        np.testing.assert_array_equal(got[name], expected[name])


def test_regions_are_consistent(stack):
    """Every read lies inside what the patch holds; window ops' pads are exactly the part off the map."""
    for p, n in [(2, 3), (3, 4), (4, 5)]:
        plan = make_plan(stack, p, n)
        for patch in plan.patches:
            for step in patch.steps:
                op = stack.op(step.op)
                assert patch.tensors[op.outputs[0]] == step.output
                for name, need in zip(op.inputs, step.inputs, strict=True):
                    if need is None or need.is_empty:
                        continue
                    assert patch.tensors[name].contains(need)
                    h, w = stack.tensor(name).shape[1:3]
                    assert Region(0, h, 0, w).contains(need)
                if op.kind in ("ADD", "MUL", "CONCATENATION"):
                    # residual alignment: every operand is read over exactly the output's region
                    assert all(need == step.output for need in step.inputs if need is not None)


def test_pads_only_at_the_image_border(stack):
    plan = make_plan(stack, 4, 2)
    conv = stack.ops[0]  # 3x3 SAME stride 1 on the image
    for patch in plan.patches:
        step = next(s for s in patch.steps if s.op == conv.name)
        top, bottom, left, right = step.pads
        assert top == (1 if step.inputs[0].y0 == 0 else 0)
        assert left == (1 if step.inputs[0].x0 == 0 else 0)
        assert bottom == (1 if step.inputs[0].y1 == 20 else 0)
        assert right == (1 if step.inputs[0].x1 == 20 else 0)
    corners = [patch for patch in plan.patches if (patch.row, patch.col) in ((0, 0), (3, 3))]
    assert {s.pads for patch in corners for s in patch.steps if s.op == conv.name} == {
        (1, 0, 1, 0),
        (0, 1, 0, 1),
    }


def test_explicit_pad_op_region_and_padding(stack):
    plan = make_plan(stack, 2, 3)  # ends after PAD (1, 2, 0, 3): output 23x23
    pad_op = next(op for op in stack.ops if op.kind == "PAD")
    assert plan.stage_output == pad_op.outputs[0]
    by_corner = {(p.row, p.col): next(s for s in p.steps if s.op == pad_op.name) for p in plan.patches}
    assert by_corner[(0, 0)].pads == (1, 0, 0, 0)
    assert by_corner[(1, 1)].pads == (0, 2, 0, 3)


def test_macs_per_layer_and_patched(stack):
    plan = make_plan(stack, 3, 4)
    stage = stage_ops_of(stack, 4)
    assert plan.stage_macs_per_layer == sum(op_macs(stack, op) for op in stage)
    assert plan.macs_per_layer == sum(op_macs(stack, op) for op in stack.ops)
    assert plan.stage_macs_patched > plan.stage_macs_per_layer  # overlaps are recomputed
    assert plan.stage_macs_uniform >= plan.stage_macs_patched
    assert plan.macs == plan.macs_per_layer + plan.stage_macs_patched - plan.stage_macs_per_layer
    assert plan.mac_overhead == pytest.approx(plan.macs / plan.macs_per_layer - 1)
    # Per patch: the sum of region MACs of its steps.
    for patch in plan.patches:
        assert patch.macs == sum(
            step.output.area * op_macs(stack, stack.op(step.op)) // int(np.prod(
                stack.tensor(stack.op(step.op).outputs[0]).shape[1:3])) for step in patch.steps
        )  # fmt: skip


def test_one_patch_per_side_is_per_layer(stack):
    plan = make_plan(stack, 1, 3)
    assert plan.is_per_layer and plan.n == 0 and plan.patches == () and plan.stage_output is None
    assert plan.macs == plan.macs_per_layer and plan.mac_overhead == 0.0
    x = random_input(stack)
    got = run_patched(stack, plan, x)
    expected = reference.run_graph(stack, x)
    assert all(np.array_equal(got[name], expected[name]) for name in expected)


@pytest.mark.parametrize(
    ("p", "n", "words"),
    [
        (0, 2, ["p=0", "1..8"]),
        (9, 2, ["p=9", "1..8"]),
        (2, 0, ["n=0", "1..6"]),
        (2, 7, ["n=7", "6 blocks"]),
        (2.5, 2, ["p=2.5"]),
    ],
)
def test_bad_p_or_n_is_rejected_with_the_reason(stack, p, n, words):
    with pytest.raises(ScheduleError) as error:
        make_plan(stack, p, n)
    for word in words:
        assert word in str(error.value)


def test_more_patches_than_stage_output_pixels_is_rejected():
    graph = build_stack(
        [LayerSpec("conv", 3, 2, "SAME", 4), LayerSpec("conv", 3, 1, "SAME", 4)], (1, 6, 7, 3)
    )
    with pytest.raises(ScheduleError, match=r"p=4 patches per side do not fit the 3x4 stage output.*p <= 3"):
        make_plan(graph, 4, 1)
    assert make_plan(graph, 3, 2).p == 3


@pytest.fixture(scope="module")
def mlperf():
    return {
        name: load_tflite(mlperf_model(name))
        for name in ("vww_96_int8", "pretrainedResnet_quant", "kws_ref_model")
    }


def _with_tail(kind: str):
    """A conv stack followed by one op of ``kind`` and a 1x1 conv (so that the op can sit inside a stage)."""
    graph = build_stack([LayerSpec("conv", 3, 1, "SAME", 4)], (1, 8, 8, 3))
    x = graph.outputs[0]
    t = graph.tensor(x)
    consts = {
        "MEAN": ([1, 2], (1, 1, 1, 4), {"keep_dims": True}),
        "RESHAPE": ([1, 4, 16, 4], (1, 4, 16, 4), {}),
        "TRANSPOSE": ([0, 2, 1, 3], (1, 8, 8, 4), {}),
        "SOFTMAX": (None, (1, 8, 8, 4), {"beta": 1.0}),
        "RESIZE_NEAREST_NEIGHBOR": ([16, 16], (1, 16, 16, 4), {}),
        "FULLY_CONNECTED": (np.ones((10, 256), np.int8), (1, 10), {"keep_dims": False}),
    }
    operand, shape, attrs = consts[kind]
    inputs = [x]
    if operand is not None:
        data = np.asarray(operand, np.int8 if kind == "FULLY_CONNECTED" else np.int32)
        graph.tensors["tail_const"] = Tensor("tail_const", data.shape, str(data.dtype), None, data)
        inputs.append("tail_const")
    graph.tensors["tail_out"] = Tensor("tail_out", shape, "int8", t.quant)
    graph.ops.append(Op(kind, "tail_op", inputs, ["tail_out"], attrs))
    graph.blocks = None
    graph.outputs = ["tail_out"]
    validate(graph)
    return graph


@pytest.mark.parametrize("kind", ["MEAN", "RESHAPE", "TRANSPOSE", "SOFTMAX", "FULLY_CONNECTED"])
def test_unpatchable_ops_are_rejected_naming_the_op(kind):
    graph = _with_tail(kind)
    with pytest.raises(ScheduleError, match=f"op 'tail_op' \\({kind}\\) cannot run patch by patch"):
        make_plan(graph, 2, 2)
    make_plan(graph, 2, 1)  # the stage before it is fine


def test_resize_runs_in_the_patch_stage_reading_its_source_rows():
    """RESIZE_NEAREST_NEIGHBOR 8x8 -> 16x16 in the stage: a patch of output rows [0, 8) reads input rows
    [0, 4) (geometry.tile_input_window); the executor's result is per-layer inference's."""
    graph = _with_tail("RESIZE_NEAREST_NEIGHBOR")
    plan = make_plan(graph, 2, 2)
    first = plan.patches[0]
    step = next(step for step in first.steps if step.op == "tail_op")
    assert step.output == Region(0, 8, 0, 8) and step.inputs[0] == Region(0, 4, 0, 4)


def test_global_pool_is_rejected(mlperf):
    kws = mlperf["kws_ref_model"]
    kinds = [op.kind for op in kws.ops]
    pool = kinds.index("AVERAGE_POOL_2D")
    with pytest.raises(
        ScheduleError, match=f"{kws.ops[pool].name}.*the 25x5 pooling window covers the whole"
    ):
        make_plan(kws, 2, len(kws.ops))
    make_plan(kws, 2, pool)


def test_tensor_crossing_the_stage_boundary_is_rejected(mlperf):
    resnet = mlperf["pretrainedResnet_quant"]
    add = next(i for i, op in enumerate(resnet.ops) if op.kind == "ADD")
    shortcut_end = add  # stop inside the residual block, before its ADD
    with pytest.raises(ScheduleError, match="used after the patch stage") as error:
        make_plan(resnet, 2, shortcut_end)
    assert "may cross the stage boundary" in str(error.value)
    make_plan(resnet, 2, add + 1)  # ending at the ADD closes every branch


def test_plan_input_patch_of_mobilenet_v2_is_75():
    import models

    graph = models.get_model("mbv2-w1.0-r224")
    plan = make_plan(graph, 4, 5)
    assert plan.input_patch_shape() == (75, 75)
    assert graph.tensor(plan.stage_output).shape[1:3] == (28, 28)


# --- property test: random conv stacks ----------------------------------------------------------------

KERNELS = st.sampled_from([1, 3, 5, 7])
STRIDES = st.sampled_from([1, 2])
PADDINGS = st.sampled_from(["SAME", "VALID"])
LAYERS = st.one_of(
    st.builds(LayerSpec, st.just("conv"), KERNELS, STRIDES, PADDINGS, st.integers(1, 6)),
    st.builds(LayerSpec, st.just("depthwise"), KERNELS, STRIDES, PADDINGS),
    st.builds(LayerSpec, st.just("pad"), pads=st.tuples(*[st.integers(0, 3)] * 4)),
    st.builds(LayerSpec, st.just("residual"), KERNELS),
    st.builds(LayerSpec, st.just("mbconv"), KERNELS, STRIDES, PADDINGS),
    st.builds(
        LayerSpec, st.sampled_from(["avg_pool", "max_pool"]), st.sampled_from([2, 3]), STRIDES, PADDINGS
    ),
    st.builds(LayerSpec, st.just("concat"), KERNELS, channels=st.integers(1, 3)),
    st.builds(LayerSpec, st.just("mul")),
)


def _legitimate_rejection(graph, p, n) -> bool:
    """Whether (p, n) breaks a rule independently of the planner: range, grid size, a global pool, a branch
    crossing."""
    if not 1 <= p <= 8 or not 1 <= n <= len(graph.layers):
        return True
    stage = stage_ops_of(graph, n)
    out = stage[-1].outputs[0]
    if p > min(graph.tensor(out).shape[1:3]):
        return True
    for op in stage:
        if op.kind in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
            _, in_h, in_w, _ = graph.tensor(op.inputs[0]).shape
            if op.attrs["filter"][0] >= in_h and op.attrs["filter"][1] >= in_w:
                return True  # a global pool: its outputs depend on the whole map
    names = {op.name for op in stage}
    inside = {t for op in stage for t in [*op.inputs, *op.outputs]} - {out}
    after = [t for op in graph.ops if op.name not in names for t in op.inputs]
    return bool(inside & (set(after) | set(graph.outputs)))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    specs=st.lists(LAYERS, min_size=1, max_size=5),
    size=st.integers(7, 20),
    channels=st.integers(1, 4),
    blocks=st.booleans(),
    seed=st.integers(0, 2**16),
    data=st.data(),
)
def test_random_stacks_are_bit_exact_or_cleanly_rejected(specs, size, channels, blocks, seed, data):
    try:
        graph = build_stack(specs, (1, size, size + 1, channels), seed=seed, blocks=blocks)
    except StackError:
        assume(False)
    p = data.draw(st.sampled_from([2, 3, 4, 2, 3, 5, 1, 9]), label="p")
    layers = len(graph.layers)
    out_of_range = {8: 0, 9: layers + 1}.get(data.draw(st.integers(0, 9), label="n out of range"))
    n = out_of_range if out_of_range is not None else data.draw(st.integers(1, layers), label="n")
    try:
        plan = make_plan(graph, p, n)
    except ScheduleError as error:
        assert str(error) and "internal error" not in str(error)
        assert _legitimate_rejection(graph, p, n), str(error)
        reasons = ("out of range", "do not fit", "used after", "not supported")
        event(f"rejected: {next((r for r in reasons if r in str(error)), 'other')}")
        return
    assert p == 1 or not _legitimate_rejection(graph, p, n)
    x = random_input(graph, seed)
    expected = reference.run_graph(graph, x)
    got = run_patched(graph, plan, x, keep_stage_tensors=True)
    for name in graph.outputs:
        np.testing.assert_array_equal(got[name], expected[name])
    if plan.is_per_layer:
        event("per-layer")
        return
    event(f"patched p={p}")
    np.testing.assert_array_equal(got[plan.stage_output], expected[plan.stage_output])
    # Every pixel any patch computed inside the stage equals the per-layer value.
    for name in {op.outputs[0] for op in graph.ops if op.name in plan.stage_ops} - {plan.stage_output}:
        mask = np.zeros(graph.tensor(name).shape[1:3], bool)
        for patch in plan.patches:
            region = patch.tensors.get(name)
            if region is not None:
                mask[region.y0 : region.y1, region.x0 : region.x1] = True
        np.testing.assert_array_equal(got[name][0][mask], expected[name][0][mask])
