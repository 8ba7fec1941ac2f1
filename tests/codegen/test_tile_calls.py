# SPDX-License-Identifier: Apache-2.0
"""``bench_kernels --tiles``' kernel calls (harness.bench_kernels.tile_calls): each conv of a patch stage per
layer and on each tile of the plan, as the table times them. The calls must be the plan's (its MACs, each tile's
window and padding), and each tile's output on the device must be the layer's at the tile's place."""

from __future__ import annotations

import numpy as np
import pytest
from machine import needs

from harness import reference
from harness.bench_kernels import TARGETS, main, run_suite, tile_calls
from harness.schedule.plan import make_plan
from models import get_model


@pytest.mark.parametrize(("model", "p", "n"), [("vww_96_int8", 2, 8), ("mbv2-w0.35-r144", 3, 4)])
def test_the_calls_are_the_plans_convs_with_their_macs_windows_and_pads(model, p, n):
    plan = make_plan(get_model(model), p, n)
    ops = tile_calls(model, p, n)
    assert [op.op for op in ops] == [
        name for name in plan.stage_ops if get_model(model).op(name).kind in ("CONV_2D", "DEPTHWISE_CONV_2D")
    ]
    # the stage's other ops (an ADD) have no MACs: the convs' sum to the plan's, per layer and over the tiles
    assert sum(op.per_layer.macs for op in ops) == plan.stage_macs_per_layer
    assert sum(call.macs for op in ops for call in op.tiles) == plan.stage_macs_patched
    for op in ops:
        assert len(op.tiles) == len(op.places) == p * p, op.op
        for call in (op.per_layer, *op.tiles):
            r, w = call.region, call.window
            assert (r.in_h + r.pad_top + r.pad_bottom - w.kernel_h) // w.stride_h + 1 == r.out_h, call.name
            assert (r.in_w + r.pad_left + r.pad_right - w.kernel_w) // w.stride_w + 1 == r.out_w, call.name
    # the last ops of a stage whose later ops are pointwise compute no output twice: their tiles cover the map once
    last = ops[-1]
    assert last.mac_ratio == 1.0
    covered = np.zeros((last.per_layer.region.out_h, last.per_layer.region.out_w), int)
    for y0, y1, x0, x1 in last.places:
        covered[y0:y1, x0:x1] += 1
    assert (covered == 1).all()


def _output(data: bytes, call) -> np.ndarray:
    """A call's output as [out_h, out_w, out_c] (rows out_row_stride apart where set)."""
    r = call.region
    row = r.out_row_stride or r.out_w * r.out_c
    flat = np.frombuffer(data, np.int8)
    return np.stack([flat[y * row : y * row + r.out_w * r.out_c] for y in range(r.out_h)]).reshape(
        r.out_h, r.out_w, r.out_c
    )


@pytest.mark.emulator
@needs("arm-none-eabi-gcc", "qemu-system-arm")
def test_each_tiles_output_on_the_device_is_the_layers_at_its_place():
    """vww_96_int8's p=2 stage, first 8 channels of each op: the per-layer call equals harness.reference on the
    op's input map, and every tile (its window of that map, its pads, the image's and the stage output's whole
    rows where it reads or writes them) equals the per-layer output where the plan puts it."""
    ops = tile_calls("vww_96_int8", 2, 8, channels=8)
    calls = [call for op in ops for call in (op.per_layer, *op.tiles)]
    result = run_suite(calls, TARGETS["M7"], ("dsp",))
    for op in ops:
        layer = op.per_layer
        q = layer.q
        quant = reference.ConvQuant(
            q.input_zero_point, q.output_zero_point, q.multipliers, q.shifts, q.act_min, q.act_max
        )
        run = reference.depthwise_conv2d if layer.kind == "depthwise" else reference.conv2d
        stride = (layer.window.stride_h, layer.window.stride_w)
        want = run(layer.input, layer.filter, layer.bias, quant, stride, (1, 1), layer.region.pads)[0]
        got = _output(result.outputs[(layer.name, "dsp")], layer)
        np.testing.assert_array_equal(got, want, err_msg=layer.name)
        for call, (y0, y1, x0, x1) in zip(op.tiles, op.places, strict=True):
            tile = _output(result.outputs[(call.name, "dsp")], call)
            np.testing.assert_array_equal(tile, want[y0:y1, x0:x1], err_msg=call.name)


@pytest.mark.emulator
@needs("arm-none-eabi-gcc", "qemu-system-arm")
def test_the_table_prints_each_conv_and_its_beyond_as_tiles_less_share(capsys):
    assert main(["--tiles", "vww_96_int8", "--patches", "2", "--cores", "M7"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("op "))
    end = next(i for i, line in enumerate(lines) if line.startswith("all "))
    rows = [line.split() for line in lines[header + 1 : end]]
    assert [row[0] for row in rows] == [op.op for op in tile_calls("vww_96_int8", 2, 8)]

    def number(text: str) -> float:
        return float(text.replace(",", "").rstrip("%"))

    beyonds = []
    for row in rows:  # op, kernel (two words), per layer, rows, tiles, rows, +MACs, share, beyond
        layer, tiles, macs, share, beyond = (number(row[i]) for i in (3, 5, 7, 8, 9))
        assert abs(layer * (1 + macs / 100) - share) <= layer * 0.0006, row  # +MACs printed to 0.1 %
        assert abs(tiles - share - beyond) <= 1, row  # both rounded to the instruction
        beyonds.append(beyond)
    assert abs(number(lines[end].split()[-1]) - sum(beyonds)) <= len(beyonds)


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--tiles", "no-such-model"], "unknown model 'no-such-model'"),
        (["--tiles", "vww_96_int8", "--depth", "99"], "n must be in 1..31"),
    ],
)
def test_the_table_names_a_model_or_a_depth_it_cannot_plan(argv, says, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--cores", "M7"])
    assert exit_.value.code == 2
    assert says in capsys.readouterr().err
