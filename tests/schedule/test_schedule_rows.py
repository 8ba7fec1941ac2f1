# SPDX-License-Identifier: Apache-2.0
"""Row-streamed segments and plans of several segments (harness/schedule/rows.py, segments.py): bit-exact
with per-layer inference on the host (the executor's rings fail on any row read after it was dropped),
inside the planned arena (random bytes, scratch poisoned), ring sizes as the windows say, the analytic
profile equal to the arena, and the schedule labels."""

from __future__ import annotations

import dataclasses
from types import MappingProxyType

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import models
from harness import reference
from harness.ir.schedule_name import (
    Schedule,
    ScheduleNameError,
    Segment,
    parse_schedule,
    schedule_label,
)
from harness.schedule.arena import cmsis_nn_scratch, plan_arena, reference_scratch
from harness.schedule.executor import run_in_arena, run_schedule
from harness.schedule.plan import PatchPlan, ScheduleError
from harness.schedule.profile import profile, row_stage_bytes
from harness.schedule.rows import make_row_plan
from harness.schedule.segments import StagedPlan, make_schedule_plan
from models.synthetic import LayerSpec, StackError, build_stack


def _input(graph, seed=1):
    shape = graph.tensor(graph.inputs[0]).shape
    return np.random.default_rng(seed).integers(-128, 128, shape).astype(np.int8)


def _assert_exact(graph, plan, x, expected=None):
    expected = reference.run_graph(graph, x) if expected is None else expected
    got = run_schedule(graph, plan, x)
    for name in [*graph.outputs, *([plan.stage_output] if not plan.is_per_layer else [])]:
        assert np.array_equal(got[name], expected[name]), f"{plan.label}: {name!r} differs"
    for mode in ("streamed", "counted"):
        arena = plan_arena(graph, plan, mode, scratch=cmsis_nn_scratch)
        got = run_in_arena(graph, plan, arena, x)
        for name in graph.outputs:
            assert np.array_equal(got[name], expected[name]), (
                f"{plan.label} in the {mode} arena: {name!r} differs"
            )


# --- bit-exact ----------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    specs=st.lists(
        st.builds(
            LayerSpec,
            st.sampled_from(
                ["conv", "depthwise", "residual", "mbconv", "pad", "concat", "max_pool", "avg_pool", "mul"]
            ),
            st.sampled_from([1, 3, 5]),
            st.sampled_from([1, 2]),
            st.sampled_from(["SAME", "VALID"]),
            st.integers(1, 5),
        ),
        min_size=1,
        max_size=5,
    ),
    size=st.integers(6, 16),
    seed=st.integers(0, 2**16),
    data=st.data(),
)
def test_random_row_schedules_are_bit_exact(specs, size, seed, data):
    try:
        graph = build_stack(specs, (1, size, size + 3, 2), seed=seed)
    except StackError:
        assume(False)
    layers = len(graph.layers)
    cuts = sorted(data.draw(st.sets(st.integers(1, layers), min_size=1, max_size=3)))
    segments, start = [], 0
    for cut in cuts:
        kind = data.draw(st.sampled_from(["rows", "rows", "per-layer"]))
        segments.append(Segment(kind, cut - start))
        start = cut
    try:
        plan = make_schedule_plan(graph, Schedule(tuple(segments)))
    except ScheduleError:
        assume(False)
    _assert_exact(graph, plan, _input(graph, seed))


def _dilated_stack():
    """3x3 convs with dilation 2 and 3 (SAME keeps the size), a stride-2 conv and a residual block."""
    graph = build_stack(
        [LayerSpec("conv", 3, 1, channels=6), LayerSpec("depthwise", 3, 1), LayerSpec("conv", 3, 2, channels=5),
         LayerSpec("residual", 3, 1), LayerSpec("max_pool", 3, 1)],
        input_shape=(1, 17, 13, 3), seed=5, name="dilated",
    )  # fmt: skip
    graph.ops[0].attrs["dilation"] = (2, 2)
    graph.ops[1].attrs["dilation"] = (3, 2)
    return graph


def test_dilation_stride_residual_and_pools_are_bit_exact_with_their_rings():
    graph = _dilated_stack()
    x = _input(graph)
    expected = reference.run_graph(graph, x)
    for label in ("rows n=5", "rows n=2 + rows n=3", "rows n=1 + per-layer n=2 + rows n=2", "rows n=3"):
        _assert_exact(graph, make_schedule_plan(graph, label), x, expected)
    plan = make_row_plan(graph, 5)
    conv, depthwise, strided, residual_conv = (graph.ops[i] for i in range(4))
    # a window holds (kernel - 1) * dilation + 1 rows, and what one step of a stride-2 reader consumes
    assert plan.capacity[conv.inputs[0]] == 5  # 3x3, dilation 2
    assert plan.capacity[depthwise.inputs[0]] == 7  # 3x3, dilation 3
    assert plan.capacity[strided.inputs[0]] == 3  # 3x3, stride 2: rows 2y-1 .. 2y+1
    # the residual block's input is its conv's window (3 rows) and the ADD's row at once: a ring, not whole
    assert plan.capacity[residual_conv.inputs[0]] == 3


@pytest.mark.parametrize("name", ["mbv2-w0.35-r48", "mcunet-in0", "resnet8-r32"])
def test_every_first_segment_of_zoo_models_is_bit_exact(name):
    graph = models.get_model(name)
    x = _input(graph)
    expected = reference.run_graph(graph, x)
    checked = 0
    for n in range(1, len(graph.layers) + 1):
        try:
            plan = make_row_plan(graph, n)
        except ScheduleError:
            continue
        got = run_schedule(graph, plan, x)
        assert all(np.array_equal(got[o], expected[o]) for o in [*graph.outputs, plan.stage_output]), n
        checked += 1
    assert checked >= 4


@pytest.mark.parametrize(
    "label", ["rows n=8 g=2", "rows n=3 g=3 + rows n=1 g=2 + per-layer n=2 + rows n=2 g=4"]
)
def test_several_rows_per_step_are_bit_exact_with_larger_rings(label):
    graph = models.get_model("mbv2-w0.35-r48")
    plan = make_schedule_plan(graph, label)
    assert plan.label == label
    _assert_exact(graph, plan, _input(graph))
    one = make_schedule_plan(graph, label.replace(" g=2", "").replace(" g=3", "").replace(" g=4", ""))
    steps = lambda p: sum(len(part.steps) for part in p.parts)  # noqa: E731
    assert steps(plan) < steps(one)  # fewer kernel calls ...
    assert profile(graph, plan).peak() > profile(graph, one).peak()  # ... for larger rings
    assert plan.parts[0].group in {step.rows for step in plan.parts[0].steps if step.op}


@pytest.mark.parametrize(
    "label", ["rows n=8 + per-layer n=10 + rows n=2", "rows n=8 + per-layer n=10 + rows n=2 g=2"]
)
def test_a_global_pool_ends_a_segment_row_by_row(label):
    """The classifier's global average pool takes its input row by row into int32 sums: the map it pools
    is a ring of the rows one step reads, never whole; the flatten after it runs per layer."""
    graph = models.get_model("mbv2-w0.35-r48")
    plan = make_schedule_plan(graph, label)
    _assert_exact(graph, plan, _input(graph))
    last = plan.parts[-1]
    pool = graph.op("pool")
    height = graph.tensor(pool.inputs[0]).shape[1]
    assert last.accumulates == "pool" and last.stage_output == pool.outputs[0]
    assert "flatten" not in last.stage_ops and last.stage_layers[-1] == "pool"
    assert last.capacity[pool.inputs[0]] == min(last.group, height)
    steps = last.op_steps("pool")
    assert [(s.inputs[0].y0, s.inputs[0].y1) for s in steps] == [
        (y, min(y + last.group, height)) for y in range(0, height, last.group)
    ]
    channels = graph.tensor(pool.outputs[0]).shape[-1]
    assert last.accumulator_bytes(graph) == 4 * channels
    # the segment holds the classifier conv's map (2 x 2 x 1280 here) as the rows of one step, the int32
    # sums, the pool's output and the conv's input (whole: the segment before is per layer)
    mapped = graph.tensor(pool.inputs[0])
    ring = last.capacity[pool.inputs[0]] * mapped.nbytes // mapped.shape[1]
    held = ring + 4 * channels + graph.tensor(pool.outputs[0]).nbytes + graph.tensor("b16_project_out").nbytes
    assert profile(graph, plan).layers[graph.layer_names.index("pool")].per_patch_bytes == held


@pytest.mark.parametrize(
    "label",
    ["rows n=8 + per-layer n=10 + rows n=2 ch=320", "rows n=8 + per-layer n=10 + rows n=2 g=2 ch=640"],
)
def test_the_conv_before_a_global_pool_runs_a_slice_of_its_channels_per_call(label):
    """ch=: the classifier conv computes a slice of its output channels per call, each slice's rows added
    into the slice's sums at once: its ring and its kernel's scratch are a slice's, bit-exact."""
    graph = models.get_model("mbv2-w0.35-r48")
    plan = make_schedule_plan(graph, label)
    _assert_exact(graph, plan, _input(graph))
    last, whole = plan.parts[-1], make_schedule_plan(graph, label.rsplit(" ch=", 1)[0]).parts[-1]
    conv, pool = graph.op("feature_mix"), graph.op("pool")
    chunk, channels = last.chunk, graph.tensor(conv.outputs[0]).shape[-1]
    assert last.chunked == conv.name and plan.label == label
    assert (
        last.ring_bytes(graph, conv.outputs[0]) * channels == whole.ring_bytes(graph, conv.outputs[0]) * chunk
    )
    steps = [(step.op, step.channels) for step in last.steps if step.op in (conv.name, pool.name)]
    slices = [(c0, c0 + chunk) for c0 in range(0, channels, chunk)]
    rows = -(-graph.tensor(conv.outputs[0]).shape[1] // last.group)
    assert steps == [(op, s) for _ in range(rows) for s in slices for op in (conv.name, pool.name)]
    layer = graph.layer_names.index("feature_mix")
    assert profile(graph, plan).layers[layer].per_patch_bytes < profile(graph, make_schedule_plan(
        graph, label.rsplit(" ch=", 1)[0])).layers[layer].per_patch_bytes  # fmt: skip


@pytest.mark.parametrize(
    ("label", "message"),
    [
        ("rows n=8 + per-layer n=10 + rows n=2 ch=300", "divide them into two or more"),
        ("rows n=8 + per-layer n=10 + rows n=2 ch=1280", "divide them into two or more"),
        ("rows n=8 ch=16", "needs a segment ending in a global average pool"),
    ],
)
def test_channel_slices_only_where_a_conv_feeds_the_global_pool(label, message):
    graph = models.get_model("mbv2-w0.35-r48")
    with pytest.raises(ScheduleError, match=message):
        make_schedule_plan(graph, label)
    pooled = build_stack(
        [LayerSpec("depthwise", 3, 1), LayerSpec("avg_pool", 7, 1, padding="VALID")],
        input_shape=(1, 7, 7, 4), seed=3, name="pooled",
    )  # fmt: skip
    with pytest.raises(ScheduleError, match="not a CONV_2D of the segment"):
        make_schedule_plan(pooled, "rows n=2 ch=2")


@pytest.mark.parametrize(
    "label", ["rows n=5 strips=3 + rows n=2", "rows n=3 g=2 strips=2 + rows n=2 strips=2"]
)
def test_column_strips_are_bit_exact_with_rings_a_strip_wide(label):
    """strips=: the segment's output in column strips run one after the other, each row by row over the
    columns it needs: rings a strip wide (the widest strip's), the halo columns recomputed and counted."""
    graph = models.get_model("mbv2-w0.35-r48")
    plan = make_schedule_plan(graph, label)
    _assert_exact(graph, plan, _input(graph))
    full = make_schedule_plan(graph, label.replace(" strips=3", "").replace(" strips=2", ""))
    striped = [(part, whole) for part, whole in zip(plan.parts, full.parts, strict=True) if part.strips > 1]
    assert striped
    for part, whole in striped:
        assert part.capacity.keys() == whole.capacity.keys()
        image = graph.inputs[0]
        for name in part.capacity:  # the image's rows are loaded whole
            assert (part.widths[name] < whole.widths[name]) == (name != image), name
        assert {step.strip for step in part.steps} == set(range(part.strips))
        strips = [part.columns(part.stage_output, k) for k in range(part.strips)]
        assert [a for a, _ in strips[1:]] == [b for _, b in strips[:-1]]  # they tile the output's columns
    assert plan.macs > full.macs == full.macs_per_layer
    assert sum(layer.macs_scheduled for layer in profile(graph, plan).layers) == plan.macs
    assert profile(graph, plan).peak() < profile(graph, full).peak()


def test_column_strips_refused_where_they_cannot_run():
    graph = models.get_model("mbv2-w0.35-r48")
    with pytest.raises(ScheduleError, match="global average pool runs full-width rows only"):
        make_schedule_plan(graph, "rows n=8 + per-layer n=10 + rows n=2 strips=2")
    with pytest.raises(ScheduleError, match="leave a strip empty"):
        make_schedule_plan(graph, "rows n=1 + per-layer n=16 + rows n=1 strips=4")  # a 2-column map
    assert parse_schedule("rows n=3 g=2 strips=2").segments[0].strips == 2
    with pytest.raises(ScheduleNameError, match="strips=0"):
        parse_schedule("rows n=3 strips=0")


def test_a_global_pool_runs_row_by_row_only_at_the_end_of_its_segment():
    graph = build_stack(
        [LayerSpec("conv", 3, 1, channels=6), LayerSpec("avg_pool", 7, 1, padding="VALID"), LayerSpec("conv", 1, 1)],
        input_shape=(1, 7, 7, 3), seed=3, name="pooled",
    )  # fmt: skip
    x = _input(graph)
    _assert_exact(graph, make_schedule_plan(graph, "rows n=2 + per-layer n=1"), x)
    with pytest.raises(ScheduleError, match="global average pool runs row by row only as the last op"):
        make_row_plan(graph, 3)


def test_one_row_segment_per_block_of_mcunet_in0_is_bit_exact_in_its_arena():
    """Each block's output written over its input (RowPlan.overwrites): a residual block's ADD row over
    its shortcut's row, a stride-2 block's rows over input rows read long before; bit-exact in the arena,
    where the two share their bytes."""
    graph = models.get_model("mcunet-in0")
    label = " + ".join(["rows n=3"] + ["rows n=1"] * 10)
    plan = make_schedule_plan(graph, label)
    assert [part.overwrites for part in plan.parts[1:]] == [part.stage_inputs[0] for part in plan.parts[1:]]
    arena = plan_arena(graph, plan, "streamed", scratch=cmsis_nn_scratch)
    over = [b for b in arena.buffers if b.overwrites_rows]
    assert len(over) == 10 and all(arena.offset(b.writes_over) == b.offset for b in over)
    _assert_exact(graph, plan, _input(graph))


def test_an_output_is_written_over_an_input_only_behind_its_last_read():
    graph = _dilated_stack()
    plan = make_schedule_plan(graph, " + ".join(["rows n=1"] * 5))
    # a stride-2 3x3 conv's first output row lands on input rows its own window reads: not over it
    assert [part.overwrites for part in plan.parts] == [None] * 5
    x = _input(graph)
    expected = reference.run_graph(graph, x)
    # forced over its input, a depthwise segment clobbers rows its next windows read: the arena run differs
    parts = list(plan.parts)
    parts[1] = dataclasses.replace(parts[1], overwrites=parts[1].stage_inputs[0])
    forced = dataclasses.replace(plan, parts=tuple(parts))
    arena = plan_arena(graph, forced, "streamed", scratch=cmsis_nn_scratch)
    assert arena.buffer(parts[1].stage_output).overwrites_rows
    got = run_in_arena(graph, forced, arena, x)
    assert not np.array_equal(got[graph.outputs[0]], expected[graph.outputs[0]])


def test_an_inverted_bottleneck_never_holds_its_expanded_tensor_whole():
    graph = models.get_model("mbv2-w0.35-r48")
    plan = make_row_plan(graph, 8)
    expanded = [op.outputs[0] for op in graph.ops if op.name in plan.stage_ops and op.name.endswith("expand")]
    assert expanded
    for name in expanded:  # MobileNetV2's depthwise windows are 3x3: three rows of the expanded map
        assert plan.capacity[name] == 3 < graph.tensor(name).shape[1], name
    assert plan.macs == plan.macs_per_layer and plan.mac_overhead == 0.0


def test_a_ring_one_row_too_small_is_caught():
    graph = _dilated_stack()
    plan = make_row_plan(graph, 5)
    name = graph.ops[1].inputs[0]
    small = dataclasses.replace(
        plan, capacity=MappingProxyType({**plan.capacity, name: plan.capacity[name] - 1})
    )
    with pytest.raises(ScheduleError, match=name):
        run_schedule(graph, small, _input(graph))


# --- memory -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "label",
    [
        "rows n=8",
        "rows n=3 + rows n=1 + per-layer n=2 + rows n=2",
        "p=2 n=3 + rows n=2 + rows n=3",
        "rows n=8 + per-layer n=10 + rows n=2",  # a global pool's int32 sums: in both
        "rows n=3 + rows n=1 + rows n=1 + rows n=2",  # outputs over the inputs they consume
    ],
)
def test_profile_equals_the_arena_without_scratch(label):
    graph = models.get_model("mbv2-w0.35-r48")
    plan = make_schedule_plan(graph, label)
    memory = profile(graph, plan)
    for mode in ("streamed", "counted"):
        arena = plan_arena(graph, plan, mode, scratch=reference_scratch, alignment=1)
        assert arena.arena_bytes == memory.peak(mode), mode
    assert arena.schedule == label


def test_row_segment_bytes_are_its_rings_its_output_and_its_input():
    graph = models.get_model("mcunet-in0")
    plan = make_row_plan(graph, 2)
    tensor = lambda name: graph.tensor(name)  # noqa: E731
    rings = sum(rows * tensor(name).nbytes // tensor(name).shape[1] for name, rows in plan.capacity.items())
    image = tensor(graph.inputs[0])
    ring_of_image = plan.capacity[graph.inputs[0]] * image.nbytes // image.shape[1]
    assert row_stage_bytes(graph, plan, "streamed") == rings + tensor(plan.stage_output).nbytes
    assert (
        row_stage_bytes(graph, plan, "counted")
        == rings - ring_of_image + image.nbytes + tensor(plan.stage_output).nbytes
    )


def test_row_segments_beat_the_patch_stage_on_mcunet_in3_without_recomputation():
    """Below the issue's analytic figure (about 91 kB, input streamed) from one row segment per block, each
    block's output over its input: one whole 44x44x16 map with block b3's rings (msf-CNN: 63.5 kB at
    +102% MACs)."""
    graph = models.get_model("mcunet-in3")
    label = " + ".join(["rows n=3"] + ["rows n=1"] * 9 + ["per-layer n=2"] + ["rows n=1"] * 3)
    plan = make_schedule_plan(graph, label)
    assert profile(graph, plan).peak("streamed") <= 60 * 1024
    assert plan.mac_overhead == 0.0


# --- labels ------------------------------------------------------------------------------------------


def test_labels_of_one_stage_schedules_are_unchanged():
    assert parse_schedule("per-layer") == Schedule() and Schedule().label == "per-layer"
    assert parse_schedule("p=4 n=5").label == "p=4 n=5" == schedule_label(4, 5)
    assert parse_schedule("p=4 n=5").pn == (4, 5) and Schedule.from_pn(1, 0).label == "per-layer"
    graph = models.get_model("mbv2-w0.35-r48")
    assert isinstance(make_schedule_plan(graph, "p=2 n=3"), PatchPlan)
    assert make_schedule_plan(graph, "per-layer").label == "per-layer"


def test_labels_name_every_segment():
    assert (
        parse_schedule("rows n=4 g=1").label == "rows n=4"
        and parse_schedule("rows n=4 g=2").segments[0].g == 2
    )
    label = "p=2 n=3 + rows n=6 + per-layer n=1 + rows n=2"
    schedule = parse_schedule(label)
    assert schedule.label == label and schedule.layers == 12
    assert [s.kind for s in schedule.segments] == ["patches", "rows", "per-layer", "rows"]
    assert parse_schedule("rows n=4 + per-layer n=3").label == "rows n=4"  # the rest runs per layer anyway
    graph = models.get_model("mbv2-w0.35-r48")
    plan = make_schedule_plan(graph, label)
    assert isinstance(plan, StagedPlan) and plan.label == label and plan.mac_overhead > 0
    _assert_exact(graph, make_schedule_plan(graph, "rows n=6"), _input(graph))
    # a patch stage, then row segments: on the host and in its planned arena (patches in their buffers)
    _assert_exact(graph, plan, _input(graph))
    _assert_exact(graph, make_schedule_plan(graph, "p=2 n=3 + rows n=2 strips=2 + rows n=3"), _input(graph))


@pytest.mark.parametrize(
    "label, message",
    [
        ("rows n=0", "covers no layer"),
        ("rows n=3 + p=2 n=2", "only be the first segment"),
        ("p=1 n=3", "p=1"),
        ("rows=3", "cannot read 'rows=3'"),
        ("rows n=3 g=0", "g=0"),
    ],
)
def test_bad_labels_say_what_is_allowed(label, message):
    with pytest.raises(ScheduleNameError, match=message):
        parse_schedule(label)


def test_impossible_segments_name_the_segment():
    graph = models.get_model("mbv2-w0.35-r48")
    with pytest.raises(ScheduleError, match="covers 40 layers"):
        make_schedule_plan(graph, "rows n=40")
    with pytest.raises(ScheduleError, match=r"segment 'rows n=3' \(layers 18..20\)"):
        make_schedule_plan(graph, "per-layer n=18 + rows n=3")  # the global pool


def test_widen_rows_takes_more_rows_a_step_only_where_the_arena_does_not_grow():
    """segments.widen_rows: each row segment at the most rows per step that keep the planned arena."""
    from harness.schedule.segments import widen_rows

    graph = models.get_model("mbv2-w0.35-r48")
    label = "rows n=3 + rows n=2 + rows n=3 + rows n=3 + rows n=3 + rows n=2 + rows n=2 + rows n=2"

    def cost(schedule):
        return plan_arena(
            graph, make_schedule_plan(graph, schedule), "streamed", scratch=cmsis_nn_scratch
        ).arena_bytes

    wide = widen_rows(graph, label, cost)
    assert [s.n for s in wide.segments] == [s.n for s in make_schedule_plan(graph, label).schedule.segments]
    assert any(s.g > 1 for s in wide.segments) and cost(wide) <= cost(
        make_schedule_plan(graph, label).schedule
    )
    steps = lambda schedule: sum(len(p.steps) for p in make_schedule_plan(graph, schedule).parts)  # noqa: E731
    assert steps(wide) < steps(label)
    _assert_exact(graph, make_schedule_plan(graph, wide), _input(graph))

    # a cost that any larger ring raises keeps one row a step
    def rings(schedule):
        plan = make_schedule_plan(graph, schedule)
        return profile(graph, plan).peak() + sum(sum(p.capacity.values()) for p in plan.parts)

    assert widen_rows(graph, label, rings).label == label
    assert widen_rows(graph, "p=2 n=3", cost).label == "p=2 n=3"
