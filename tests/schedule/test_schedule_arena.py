# SPDX-License-Identifier: Apache-2.0
"""The arena planner: offsets, lifetimes, in-place proofs, scratch, and TFLite Micro's arena sizes.

``run_in_arena`` is the proof of a plan: the model runs with every tensor at its planned offset in
one random-filled byte array, scratch poisoned before each kernel, in-place depthwise convs executed
row by row over the shared bytes as the C kernels do; the outputs must equal the reference bit for bit.
"""

from __future__ import annotations

import dataclasses
import importlib

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import models
from harness import reference
from harness.schedule import arena as arena_module
from harness.schedule import executor as executor_module
from harness.schedule.arena import (
    DEFAULT_INPLACE,
    NO_INPLACE,
    PLANNERS,
    ROWMAJOR_INPLACE,
    InplacePolicy,
    KernelShapes,
    cmsis_nn_scratch,
    depthwise_rows_to_buffer,
    plan_arena,
    stage_layout_source,
)
from harness.schedule.executor import run_in_arena
from harness.schedule.fusion import epilogue_chunk_shape
from harness.schedule.plan import ScheduleError, make_plan
from harness.schedule.profile import PLAIN_RULES, paper_patch_depth, profile
from harness.schedule.search import valid_depths
from models.synthetic import LayerSpec, StackError, build_stack

# models/README.md: TFLite Micro's arena (reference kernels) and the activations part of it.
TFLM_ARENA = {"vww_96_int8": 103_680, "pretrainedResnet_quant": 55_984, "kws_ref_model": 24_272}
TFLM_ACTIVATIONS = {"vww_96_int8": 73_728, "pretrainedResnet_quant": 49_152, "kws_ref_model": 16_000}
ROW_BUFFERED = InplacePolicy(elementwise=True, depthwise="row_buffered")


def random_input(graph, seed=0):
    shape = graph.tensor(graph.inputs[0]).shape
    return np.random.default_rng(seed).integers(-128, 128, shape).astype(np.int8)


def assert_runs_exactly(graph, plan, arena, x, expected):
    got = run_in_arena(graph, plan, arena, x)
    for name, value in got.items():
        np.testing.assert_array_equal(value, expected[name], err_msg=f"{graph.name} {plan.describe()} {name}")


@pytest.mark.parametrize("name", sorted(TFLM_ACTIVATIONS))
def test_activation_arena_not_larger_than_tflite_micros(name):
    graph = models.get_model(name)
    plan = make_plan(graph, 1, 0)
    sizes = {planner: plan_arena(graph, plan, planner=planner).arena_bytes for planner in PLANNERS}
    analytic = profile(graph, plan, PLAIN_RULES).peak_per_layer
    print(
        f"\n{name}: ours {sizes} analytic {analytic}, TFLM activations {TFLM_ACTIVATIONS[name]} of {TFLM_ARENA[name]}"
    )
    assert analytic <= sizes["best"] <= TFLM_ACTIVATIONS[name]
    assert sizes["best"] <= min(sizes["greedy"], sizes["linear"]) <= sizes["no_reuse"]


@pytest.mark.parametrize(
    ("in_hw", "out_hw", "kernel", "stride", "pads", "rows"),
    [
        ((48, 48), (24, 24), (3, 3), (2, 2), (0, 1, 0, 1), 0),  # stride 2, TFLite's SAME: in place, free
        ((49, 49), (25, 25), (3, 3), (2, 2), (1, 1, 1, 1), 0),
        ((24, 24), (24, 24), (3, 3), (1, 1), (1, 1, 1, 1), 2),  # stride 1 SAME: a 2-row ring
        ((24, 24), (24, 24), (5, 5), (1, 1), (2, 2, 2, 2), 3),
        ((16, 16), (10, 10), (7, 7), (1, 1), (0, 0, 0, 0), 0),  # VALID: the output lags the input
        ((8, 8), (10, 10), (3, 3), (1, 1), (2, 2, 2, 2), None),  # output larger than the input
    ],
)
def test_depthwise_rows_to_buffer(in_hw, out_hw, kernel, stride, pads, rows):
    assert depthwise_rows_to_buffer(in_hw, out_hw, kernel, stride, (1, 1), pads) == rows


@pytest.fixture(scope="module")
def mlperf_reference():
    result = {}
    for name in sorted(TFLM_ACTIVATIONS):
        graph = models.get_model(name)
        x = random_input(graph)
        result[name] = (graph, x, reference.run_graph(graph, x))
    return result


@pytest.mark.parametrize("name", sorted(TFLM_ACTIVATIONS))
def test_mlperf_arenas_run_bit_exact(name, mlperf_reference):
    graph, x, expected = mlperf_reference[name]
    points = [(1, 0), (2, max(valid_depths(graph, 2))), (3, min(valid_depths(graph, 3)))]
    in_place = 0
    for p, n in points:
        plan = make_plan(graph, p, n)
        for mode in ("counted", "streamed"):
            for policy in (DEFAULT_INPLACE, ROW_BUFFERED):
                arena = plan_arena(
                    graph, plan, mode, scratch=cmsis_nn_scratch, inplace=policy, planner="greedy"
                )
                in_place += sum(1 for b in arena.buffers if b.writes_over)
                assert_runs_exactly(graph, plan, arena, x, expected)
    assert in_place > 0  # the depthwise convs (and ADDs) really ran in place


def test_default_policy_runs_every_depthwise_in_place_with_a_small_ring():
    graph = models.get_model("vww_96_int8")
    strides = {op.name: tuple(op.attrs["stride"]) for op in graph.ops if op.kind == "DEPTHWISE_CONV_2D"}
    rowmajor = plan_arena(graph, make_plan(graph, 1, 0), inplace=ROWMAJOR_INPLACE, planner="greedy")
    in_place = {graph.producer(b.name).name for b in rowmajor.buffers if b.writes_over}
    assert in_place == {name for name, stride in strides.items() if stride == (2, 2)}
    arena = plan_arena(graph, make_plan(graph, 1, 0), inplace=DEFAULT_INPLACE, planner="greedy")
    assert DEFAULT_INPLACE == ROW_BUFFERED
    assert {graph.producer(b.name).name for b in arena.buffers if b.writes_over} == set(strides)
    first = next(n for n, s in strides.items() if s == (1, 1))  # the first 48x48x8 depthwise, 3x3 SAME
    # the row schedule (48 bytes) and two delayed rows of one 4-channel group
    assert arena.buffer("scratch:" + first).size == 48 + 2 * 48 * 4
    stride2 = next(n for n, s in strides.items() if s == (2, 2))
    _, out_h, out_w, _ = graph.tensor(graph.op(stride2).outputs[0]).shape
    assert arena.buffer("scratch:" + stride2).size == out_h + out_w * 4  # only the first row waits


def test_simulation_catches_an_unsafe_in_place_claim(monkeypatch):
    graph = build_stack(
        [LayerSpec("conv", 3, 1, "SAME", 4), LayerSpec("depthwise", 3, 1, "SAME")], (1, 8, 8, 3)
    )
    x = random_input(graph)
    expected = reference.run_graph(graph, x)
    plan = make_plan(graph, 1, 0)
    arena = plan_arena(graph, plan, inplace=DEFAULT_INPLACE, planner="greedy")
    assert any(b.writes_over for b in arena.buffers)
    assert_runs_exactly(graph, plan, arena, x, expected)
    # A plan that reserved less than the ring needs is caught.
    small = dataclasses.replace(
        arena,
        buffers=tuple(
            dataclasses.replace(b, size=b.size - 1) if b.kind == "scratch" else b for b in arena.buffers
        ),
    )
    with pytest.raises(ScheduleError, match="the plan reserved"):
        run_in_arena(graph, plan, small, x)
    # A kernel whose schedule writes every row straight to its place reads rows it already overwrote.
    schedule = arena_module.depthwise_inplace_schedule((8, 8), (8, 8), (3, 3), (1, 1), (1, 1), (1, 1, 1, 1))
    wrong = arena_module.InplaceSchedule((True,) * 8, (0,) * 8, schedule.ring_rows)
    monkeypatch.setattr(executor_module, "depthwise_inplace_schedule", lambda *args: wrong)
    with pytest.raises(ScheduleError, match="after it was overwritten"):
        run_in_arena(graph, plan, arena, x)


def test_check_and_simulation_catch_overlapping_buffers():
    graph = build_stack(
        [LayerSpec("conv", 3, 1, "SAME", 4), LayerSpec("residual", 3)], (1, 8, 8, 3), blocks=False
    )
    x = random_input(graph)
    expected = reference.run_graph(graph, x)
    plan = make_plan(graph, 1, 0)
    arena = plan_arena(graph, plan, inplace=NO_INPLACE)
    shortcut, branch = graph.ops[0].outputs[0], graph.ops[1].outputs[0]
    broken = dataclasses.replace(
        arena,
        buffers=tuple(
            dataclasses.replace(b, offset=arena.offset(shortcut)) if b.name == branch else b
            for b in arena.buffers
        ),
    )
    with pytest.raises(ScheduleError, match="overlaps"):
        broken.check()
    got = run_in_arena(graph, plan, broken, x)
    assert not np.array_equal(got[graph.outputs[0]], expected[graph.outputs[0]])


def test_patch_buffers_hold_the_largest_region_and_the_stage_output_whole():
    graph = models.get_model("mbv2-w0.35-r96")
    plan = make_plan(graph, 3, paper_patch_depth(graph))
    in_stage = dataclasses.replace(DEFAULT_INPLACE, residual_add_in_stage=True)
    counted = plan_arena(graph, plan, "counted", inplace=in_stage)
    streamed = plan_arena(graph, plan, "streamed", inplace=in_stage)
    # a projection conv with a fused residual ADD holds a chunk of rows, not its region (fusion.py)
    chunks = {graph.op(conv).outputs[0]: conv for conv, _ in counted.epilogues}
    assert set(chunks.values()) & set(plan.stage_ops)
    for buffer in counted.buffers:
        tensor = graph.tensor(buffer.name) if buffer.kind != "scratch" else None
        if buffer.name in chunks:
            rows, width, channels = epilogue_chunk_shape(graph, plan, chunks[buffer.name])
            assert buffer.size == rows * width * channels <= tensor.nbytes
        elif buffer.kind == "patch":
            # stored in its own region, or (a fused ADD's output) in its shortcut's larger one
            layout = stage_layout_source(counted, graph, buffer.name)
            assert buffer.size == plan.max_region_area(layout) * tensor.shape[3]
            assert buffer.last < len(plan.stage_ops)
        elif buffer.kind in ("stage_output", "input"):
            assert buffer.size == tensor.nbytes
            assert buffer.first == 0 and buffer.last >= len(plan.stage_ops) - 1
    assert counted.buffer(graph.inputs[0]).kind == "input"
    image_region = streamed.buffer(graph.inputs[0])
    assert image_region.kind == "patch" and image_region.size == plan.max_region_area(graph.inputs[0]) * 3
    assert streamed.arena_bytes < counted.arena_bytes
    assert plan_arena(graph, make_plan(graph, 1, 0), "streamed").buffer(graph.inputs[0]).kind == "input"


def test_scratch_is_a_parameter_and_alignment_is_exact():
    graph = models.get_model("mcunet-in0")
    plan = make_plan(graph, 2, paper_patch_depth(graph))
    calls = []

    def scratch(graph, op, shapes: KernelShapes) -> int:
        calls.append(shapes)
        return 1000 if op.kind == "CONV_2D" else 0

    plain = plan_arena(graph, plan, alignment=4, inplace=NO_INPLACE)
    with_scratch = plan_arena(graph, plan, scratch=scratch, alignment=16, inplace=NO_INPLACE)
    conv_steps = [op for op in graph.ops if op.kind == "CONV_2D"]
    assert len([b for b in with_scratch.buffers if b.kind == "scratch"]) == len(conv_steps)
    assert with_scratch.scratch_bytes == 1000 and with_scratch.arena_bytes >= plain.arena_bytes
    assert any(
        shape.input_shape[0] < graph.tensor(graph.inputs[0]).shape[1] for shape in calls
    )  # patch shapes
    for arena, alignment in ((plain, 4), (with_scratch, 16)):
        assert arena.arena_bytes % alignment == 0
        assert all(b.offset % alignment == 0 for b in arena.buffers)
        assert arena.arena_bytes >= max(b.offset + b.size for b in arena.buffers)
    with pytest.raises(ScheduleError, match="alignment"):
        plan_arena(graph, plan, alignment=3)
    with pytest.raises(ScheduleError, match="planner"):
        plan_arena(graph, plan, planner="magic")


def test_cmsis_nn_scratch_figures():
    graph = build_stack(
        [LayerSpec("conv", 3, 2, "SAME", 8), LayerSpec("conv", 1, 1, "SAME", 16), LayerSpec("depthwise", 3, 1, "SAME"),
         LayerSpec("depthwise", 5, 1, "SAME"), LayerSpec("avg_pool", 2, 2, "VALID")],
        (1, 16, 16, 3),
    )  # fmt: skip
    arena = plan_arena(graph, make_plan(graph, 1, 0), scratch=cmsis_nn_scratch, inplace=NO_INPLACE)
    scratch = {b.name.removeprefix("scratch:"): b.size for b in arena.buffers if b.kind == "scratch"}
    conv3, conv1, dw3, dw5, pool = (op.name for op in graph.ops)
    assert scratch == {conv3: 2 * 3 * 9 * 2, dw5: 16 * 25 * 2, pool: 16 * 4}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    specs=st.lists(
        st.builds(
            LayerSpec,
            st.sampled_from(["conv", "depthwise", "residual", "mbconv", "pad", "concat", "max_pool"]),
            st.sampled_from([1, 3, 5]),
            st.sampled_from([1, 2]),
            st.sampled_from(["SAME", "VALID"]),
            st.integers(1, 5),
        ),
        min_size=1,
        max_size=4,
    ),
    size=st.integers(6, 14),
    seed=st.integers(0, 2**16),
    data=st.data(),
)
def test_random_arenas_run_bit_exact(specs, size, seed, data):
    try:
        graph = build_stack(specs, (1, size, size, 2), seed=seed)
    except StackError:
        assume(False)
    p = data.draw(st.sampled_from([1, 2, 3]))
    n = data.draw(st.integers(1, len(graph.layers)))
    try:
        plan = make_plan(graph, p, n)
    except ScheduleError:
        assume(False)
    arena = plan_arena(
        graph,
        plan,
        data.draw(st.sampled_from(["counted", "streamed"])),
        scratch=data.draw(st.sampled_from([arena_module.reference_scratch, cmsis_nn_scratch])),
        inplace=data.draw(st.sampled_from([DEFAULT_INPLACE, ROW_BUFFERED, NO_INPLACE])),
        planner=data.draw(st.sampled_from(PLANNERS)),
        alignment=data.draw(st.sampled_from([4, 16])),
    )
    x = random_input(graph, seed)
    assert_runs_exactly(graph, plan, arena, x, reference.run_graph(graph, x))


# --- hwc: the planners' numbers do not depend on how a flat tensor is split ---------------------------


def _flat_hwc(shape):
    """hwc as graph.py had it before harness/ir/geometry.py: a flat tensor is 1 x 1 x size."""
    if len(shape) == 4:
        return int(shape[1]), int(shape[2]), int(shape[3])
    return 1, 1, int(np.prod(shape[1:], dtype=np.int64)) if len(shape) > 1 else int(shape[0])


def _batched_classifier():
    """A conv stack ending in a FULLY_CONNECTED over a 2-D [2, features] tensor (batch 2)."""
    from codegen_graphs import Appender

    from harness.ir.graph import QParams, validate

    graph = build_stack([LayerSpec("conv", 3, 2, channels=8), LayerSpec("depthwise", 3, 1)],
                        input_shape=(1, 12, 12, 3), seed=6, name="batched_fc", blocks=False)  # fmt: skip
    a = Appender(graph, seed=6)
    x = a.op("MEAN", "pool", [a.x, a.const("axes", np.array([1, 2], np.int32))], {"keep_dims": True})
    x = a.op("RESHAPE", "split", [x, a.const("shape", np.array([2, 4], np.int32))])
    weights = a.const("w", a.rng.integers(-127, 128, (5, 4)).astype(np.int8), QParams.per_tensor(0.01, 0))
    a.op("FULLY_CONNECTED", "fc", [x, weights], {"keep_dims": False}, scale=0.1, zero_point=2)
    validate(graph)
    return graph


@pytest.mark.parametrize("model", ["batched_fc", "kws_ref_model", "mcunet-in0"])
def test_arena_and_profile_numbers_do_not_depend_on_how_hwc_splits_a_flat_tensor(monkeypatch, model):
    """geometry.hwc makes a 2-D [b, f] tensor 1 x b x f; the old graph.hwc said 1 x 1 x f and so lost the
    batch. Every byte count the arena planner and the analytic profile compute stays the same; the
    profile's shapes now hold every element of the tensor."""
    from harness.codegen.layout import kernel_scratch

    profile_module = importlib.import_module("harness.schedule.profile")  # the package exports profile()
    graph = _batched_classifier() if model == "batched_fc" else models.get_model(model)
    assert model != "batched_fc" or graph.tensor(graph.ops[-1].inputs[0]).shape == (2, 4)
    plans = [make_plan(graph, 1, 1)] + [make_plan(graph, 2, n) for n in (1, 2)]
    scratch_rules = (cmsis_nn_scratch, kernel_scratch(True), kernel_scratch(False))

    def byte_counts():
        arenas = [
            (a.arena_bytes, a.buffers)
            for plan in plans
            for rule in scratch_rules
            for a in [plan_arena(graph, plan, "counted", rule)]
        ]
        layers = [
            (layer.name, layer.per_layer_bytes, layer.per_patch_bytes, layer.per_patch_counted_bytes)
            for plan in plans
            for layer in profile(graph, plan).layers
        ]
        return arenas, layers

    for layer, ops in zip(profile(graph, plans[0]).layers, graph.layers, strict=True):
        assert np.prod(layer.input_shape) == graph.tensor(ops[0].inputs[0]).size
        assert np.prod(layer.output_shape) == graph.tensor(ops[-1].outputs[0]).size
    now = byte_counts()
    monkeypatch.setattr(arena_module, "hwc", _flat_hwc)
    monkeypatch.setattr(profile_module, "hwc", _flat_hwc)
    assert byte_counts() == now


def test_residual_add_runs_as_the_projection_convs_epilogue():
    """MbV2 at 224 with 4x4 patches: after the stage, each projection conv's output is only a chunk of
    rows and its ADD writes over the residual operand; the plan is the paper's accounting plus scratch,
    and it runs bit-exactly in the arena simulation."""
    graph = models.get_model("mbv2-w0.35-r144")
    plan = make_plan(graph, 2, 5)
    arena = plan_arena(graph, plan, "streamed", planner="greedy")
    fused = dict(arena.epilogues)
    assert fused and all(graph.op(add).kind == "ADD" for add in fused.values())
    for conv, add in fused.items():
        chunk = arena.buffer(graph.op(conv).outputs[0])
        _, height, width, channels = graph.tensor(chunk.name).shape
        assert chunk.size <= height * width * channels and chunk.first == chunk.last
        assert arena.buffer(graph.op(add).outputs[0]).first == chunk.first
    unfused = plan_arena(graph, plan, "streamed", planner="greedy", inplace=dataclasses.replace(
        DEFAULT_INPLACE, residual_add=False))  # fmt: skip
    assert not unfused.epilogues and arena.arena_bytes <= unfused.arena_bytes
    x = random_input(graph)
    assert_runs_exactly(graph, plan, arena, x, reference.run_graph(graph, x))
