# SPDX-License-Identifier: Apache-2.0
"""Generated C for row-streamed segments (harness/schedule/rows.py): every op of a segment called one row
at a time from the segment's table of row steps, rings kept contiguous by memmove. Bit-exact with the
reference on the host under the sanitizers (a read past a ring trips them), and on the emulated boards."""

from __future__ import annotations

import numpy as np
import pytest
from machine import needs

import models
from harness.codegen import CodegenOptions, generate_model
from harness.codegen.hostrun import run_on_host
from harness.engines import get_engine
from harness.pipeline.measure import (
    build_point,
    expected_output,
    new_result,
    note_build,
    plan_point,
    run_point,
)
from harness.schedule.segments import make_schedule_plan
from models.synthetic import LayerSpec, build_stack

needs_gcc = needs("gcc")


def _mbconv_stack():
    specs = [LayerSpec("conv", 3, 2, channels=8), LayerSpec("mbconv", 3, 1), LayerSpec("mbconv", 5, 2),
             LayerSpec("mbconv", 3, 1), LayerSpec("max_pool", 3, 1), LayerSpec("conv", 3, 2, channels=12)]  # fmt: skip
    return build_stack(specs, input_shape=(1, 40, 36, 3), seed=11, name="mbconv_rows")


def _input(graph):
    shape = graph.tensor(graph.inputs[0]).shape
    return np.random.default_rng(0).integers(-128, 128, shape).astype(np.int8)


@needs_gcc
@pytest.mark.parametrize(
    "label, optimized, input_mode",
    [
        ("rows n=6", True, "streamed"),
        ("rows n=3", False, "counted"),
        ("rows n=2 + per-layer n=1 + rows n=2", True, "counted"),
        ("rows n=1 + rows n=1 + rows n=3", False, "streamed"),
        ("p=2 n=2 + rows n=2", True, "streamed"),  # a patch stage, then a row-streamed segment
        ("p=3 n=3 + per-layer n=1 + rows n=2", False, "counted"),
        ("rows n=2 g=2 + rows n=3 g=3", True, "streamed"),  # several rows per kernel call
        ("rows n=6 strips=2", True, "streamed"),  # two column strips, the halo columns recomputed
        ("p=2 n=2 + rows n=2 g=2 strips=3", False, "counted"),
    ],
)
def test_row_segments_bit_exact_on_the_host(label, optimized, input_mode):
    graph = _mbconv_stack()
    x = _input(graph)
    model = generate_model(
        graph, make_schedule_plan(graph, label), "stm32f746", x, CodegenOptions(optimized, input_mode)
    )
    assert run_on_host(model) == expected_output(graph, x)
    segments = label.count("rows")
    assert [name for name in model.layer_names if name.startswith("rows_s")] == [
        f"rows_s{k}" for k in range(segments)
    ]
    assert model.schedule == f"{label} input={input_mode}"
    assert model.input_in_sram == (input_mode == "counted")
    source = model.sources["model.c"]
    assert "static void run_rows(const row_step *steps, int count)" in source
    assert ("moved to the ring's start" in source) and ("memmove(arena + r->move_to" in source)
    assert ("input row 0" in source) == (input_mode == "streamed" and label.startswith("rows"))


@needs_gcc
def test_dilated_and_strided_windows_bit_exact_on_the_host():
    graph = build_stack(
        [LayerSpec("conv", 3, 1, channels=6), LayerSpec("depthwise", 3, 1), LayerSpec("conv", 3, 2, channels=5),
         LayerSpec("residual", 3, 1), LayerSpec("avg_pool", 3, 1)],
        input_shape=(1, 17, 13, 3), seed=5, name="dilated",
    )  # fmt: skip
    graph.ops[0].attrs["dilation"] = (2, 2)
    graph.ops[1].attrs["dilation"] = (3, 2)
    x = _input(graph)
    for optimized in (False, True):
        model = generate_model(graph, make_schedule_plan(graph, "rows n=5"), "stm32f746", x,
                               CodegenOptions(optimized, "streamed"))  # fmt: skip
        assert run_on_host(model) == expected_output(graph, x)


@needs_gcc
@pytest.mark.parametrize("optimized", [True, False])
def test_a_global_pool_row_by_row_bit_exact_on_the_host(optimized):
    """The classifier's global pool ends a segment: pb_avg_pool_rows_s8 adds each row into int32 sums kept
    in its scratch through the segment, the last row writes the averages; the flatten runs after."""
    graph = models.get_model("mbv2-w0.35-r48")
    x = _input(graph)
    label = "rows n=8 + per-layer n=10 + rows n=2"
    model = generate_model(graph, make_schedule_plan(graph, label), "stm32h743", x,
                           CodegenOptions(optimized, "streamed"))  # fmt: skip
    assert run_on_host(model) == expected_output(graph, x)
    source = model.sources["model.c"]
    assert source.count("pb_avg_pool_rows_s8(&s->region, (int32_t)(s - pool_steps) * 1, 2,") == 1
    assert ".origin" not in source  # the steps of every op keep their size
    sums = model.arena.buffer("scratch:pool")
    assert sums.size >= 4 * 1280 and sums.last > sums.first  # alive across the segment's steps


@pytest.mark.emulator
@needs("arm-none-eabi-gcc", "qemu-system-arm")
@pytest.mark.parametrize("target", ["stm32f746", "stm32h743"])
def test_row_segments_bit_exact_on_the_emulator(target):
    graph = _mbconv_stack()
    options = get_engine().options("optimized", input_mode="streamed")
    # the last two segments write their outputs over their inputs (a residual ADD over its shortcut, a
    # stride-2 conv over the rows its max pool has read): RowPlan.overwrites
    # (the first in three column strips: rings a strip wide, a strip's halo columns recomputed)
    label = "rows n=3 strips=3 + rows n=1 + rows n=2"
    result = new_result(graph, target, 0, 0, options=options, schedule=label)
    assert (result.identity.p, result.identity.n, result.identity.schedule) == (0, 0, label)
    planned = plan_point(result, graph, target, repeat=1, warmup=0, options=options)
    built = build_point(planned)
    assert note_build(result, built), result.summary()
    result = run_point(planned, built)
    assert result.status == "passed" and result.exact, result.summary()
    # the strips' halo columns, recomputed, are the only MACs beyond per-layer inference's
    overhead = make_schedule_plan(graph, label).mac_overhead
    assert overhead > 0 and result.mac_overhead == pytest.approx(overhead)
    assert result.sram_measured <= result.sram_planned <= 1.10 * result.sram_measured, result.summary()
    print(result.summary())


def _pooled_stack():
    return build_stack(
        [LayerSpec("conv", 3, 2, channels=8), LayerSpec("mbconv", 3, 1), LayerSpec("conv", 1, 1, channels=320),
         LayerSpec("avg_pool", 9, 1, padding="VALID")],
        input_shape=(1, 18, 18, 3), seed=4, name="pooled_rows",
    )  # fmt: skip


@needs_gcc
@pytest.mark.parametrize(
    "label", ["rows n=4 g=2", "rows n=4 g=4", "rows n=2 + rows n=2 g=3", "rows n=2 + rows n=2 g=3 ch=32"]
)
def test_a_global_pool_taking_several_rows_a_step_bit_exact_on_the_host(label):
    """g rows a step (the last step fewer: 9 rows): step k's first row is k x g."""
    graph = _pooled_stack()
    x = _input(graph)
    model = generate_model(
        graph, make_schedule_plan(graph, label), "stm32h743", x, CodegenOptions(True, "streamed")
    )
    assert run_on_host(model) == expected_output(graph, x)


@needs_gcc
@pytest.mark.parametrize("optimized", [True, False])
def test_the_conv_before_a_global_pool_on_slices_of_its_channels_bit_exact_on_the_host(optimized):
    """ch=32: the 1x1 conv before the pool runs 32 of its 320 output channels a call (its filter, bias and
    requantization sliced by pointers), the pool adding each slice into its sums; scratch a slice's."""
    graph = _pooled_stack()
    x = _input(graph)
    plan = make_schedule_plan(graph, "rows n=4 ch=32")
    model = generate_model(graph, plan, "stm32h743", x, CodegenOptions(optimized, "streamed"))
    assert run_on_host(model) == expected_output(graph, x)
    source = model.sources["model.c"]
    assert "% 10 * 32;" in source and source.count("k / 10 * 1") == 1
    whole = generate_model(graph, make_schedule_plan(graph, "rows n=4"), "stm32h743", x,
                           CodegenOptions(optimized, "streamed"))  # fmt: skip
    conv = plan.parts[0].chunked
    ring = graph.op(conv).outputs[0]
    assert model.arena.buffer(ring).size * 10 == whole.arena.buffer(ring).size
    if optimized:
        assert model.arena.buffer(f"scratch:{conv}").size < whole.arena.buffer(f"scratch:{conv}").size


@pytest.mark.emulator
@needs("arm-none-eabi-gcc", "qemu-system-arm")
def test_a_global_pool_row_by_row_bit_exact_on_the_emulator():
    """A segment ending in a global average pool (its int32 sums in the arena through the segment) on
    QEMU H743: bit-exact, measured <= planned <= 1.10 x measured."""
    graph = _pooled_stack()
    options = get_engine().options("optimized", input_mode="streamed")
    label = "rows n=4 ch=64"  # the conv before the pool 64 of its 320 channels a call
    result = new_result(graph, "stm32h743", 0, 0, options=options, schedule=label)
    planned = plan_point(result, graph, "stm32h743", repeat=1, warmup=0, options=options)
    assert "pb_avg_pool_rows_s8(&s->region" in planned.generated.sources["model.c"]
    built = build_point(planned)
    assert note_build(result, built), result.summary()
    result = run_point(planned, built)
    assert result.status == "passed" and result.exact, result.summary()
    assert result.sram_measured <= result.sram_planned <= 1.10 * result.sram_measured, result.summary()
    print(result.summary())
