# SPDX-License-Identifier: Apache-2.0
"""The kernels on the emulated Cortex-M4 and M7, with the real DSP instructions.

One firmware per core runs random conv, 1x1, depthwise (3x3, 5x5, 7x7; out of place and in place) and
fully connected calls (one of 24 features: the two-channel path, k % 16 = 8), each in the portable variant,
the DSP variant and the build's default (DSP on these cores), on regions with explicit pads and row strides. Every output must equal harness.reference bit for bit
(so the DSP kernels equal the portable ones too). A second, small firmware per core does the same for ADD
(pb_add_s8 and its portable and DSP variants).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from machine import needs

from harness import reference
from harness.bench_kernels import TARGETS, AddCall, KernelCall, run_suite, takes_plane3_table
from harness.codegen.broadcast import BroadcastWalk
from harness.codegen.host_kernels import Requant
from harness.codegen.kernels import Region, Window, depthwise_group_table
from harness.ir import quant
from harness.ir.graph import Graph, Op, QParams, Tensor

pytestmark = [
    pytest.mark.emulator,
    needs("arm-none-eabi-gcc", "qemu-system-arm"),
]

VARIANTS = ("portable", "dsp", "default")


def _requant(rng, channels: int, depth: int, large: bool) -> Requant:
    input_scale = float(rng.uniform(0.01, 0.1))
    filter_scales = rng.uniform(0.002, 0.02, channels).astype(np.float32)
    output_scale = input_scale * float(filter_scales.mean()) * np.sqrt(depth) * float(rng.uniform(20, 80))
    if large:  # multipliers > 1: the positive-shift path
        output_scale = input_scale * float(filter_scales.min()) / 2.5
    multipliers, shifts = quant.conv_multipliers(input_scale, filter_scales, output_scale)
    act_min, act_max = (
        (-128, 127) if rng.random() < 0.5 else (int(rng.integers(-128, -20)), int(rng.integers(20, 128)))
    )
    return Requant(
        int(rng.integers(-128, 128)), int(rng.integers(-128, 128)), multipliers, shifts, act_min, act_max
    )


def _conv_call(rng, index: int, kind: str, kernel: int, stride: int) -> tuple[KernelCall, np.ndarray]:
    """A random call and the held input as NHWC for the reference."""
    cin = int(rng.choice([3, 4, 5, 8, 13])) if kind != "depthwise" else int(rng.choice([4, 7, 8, 12]))
    cout = cin if kind == "depthwise" else int(rng.choice([3, 4, 7, 8]))
    pads = [int(rng.integers(0, kernel)) for _ in range(4)] if kind != "conv1x1" else [0, 0, 0, 0]
    in_h = max(int(rng.integers(2, 8)), kernel - pads[0] - pads[1])
    in_w = max(int(rng.integers(2, 8)), kernel - pads[2] - pads[3])
    out_h = (in_h + pads[0] + pads[1] - kernel) // stride + 1
    out_w = (in_w + pads[2] + pads[3] - kernel) // stride + 1
    full_w = in_w + 2  # the held input is the left part of wider rows
    full = rng.integers(-128, 128, (1, in_h, full_w, cin), dtype=np.int8)
    shape = (1, kernel, kernel, cin) if kind == "depthwise" else (cout, kernel, kernel, cin)
    depth = kernel * kernel * (1 if kind == "depthwise" else cin)
    call = KernelCall(
        f"c{index}_{kind}{kernel}s{stride}",
        kind,
        _requant(rng, cout, depth, large=index % 7 == 6),
        full.reshape(-1),
        rng.integers(-127, 128, shape, dtype=np.int8),
        rng.integers(-3000, 3000, cout).astype(np.int32) if index % 5 else None,
        Region(in_h, in_w, cin, out_h, out_w, cout, *pads, in_row_stride=full_w * cin),
        Window(kernel, kernel, stride, stride),
    )
    return call, full[:, :, :in_w, :]


def _expected(call: KernelCall, x: np.ndarray | None) -> np.ndarray:
    q = call.q
    cq = reference.ConvQuant(
        q.input_zero_point, q.output_zero_point, q.multipliers, q.shifts, q.act_min, q.act_max
    )
    if call.kind == "fc":
        return reference.fully_connected(call.input.reshape(call.fc_shape[:2]), call.filter, call.bias, cq)
    w = call.window
    run = reference.depthwise_conv2d if call.kind == "depthwise" else reference.conv2d
    return run(x, call.filter, call.bias, cq, (w.stride_h, w.stride_w), (1, 1), call.region.pads)


def _block_cases(rng):
    """Shapes that exercise the DSP kernels' blocks: 6-pixel blocks that break across rows, 2- and 1-pixel
    remainders, 4- and 3-pixel ones in the assembly channel loop with a k % 4 tail (a 3x3 window over 3
    channels, 1x1 over 18 and 13; 7 pixels as 4 + 3), odd and even counts of 4-value groups, a k % 4 tail,
    both activation clamps, 3x3 windows
    wholly inside the input a block or a pixel at a time (window_columns, over 3 and 8 channels); channel shifts
    of every form of the conv kernels' table (``special``: -1, zero multipliers, with -24..-31 or, on doubled
    sums (more output channels than half of k), without; with -24..-31 also on 1x1 blocks of four and three
    (b14: 6 + 4 pixels, b15: 6 + 4 + 3))."""
    calls, inputs = [], {}
    for index, (kind, kernel, hw, cin, cout, full_range, special) in enumerate(
        [("conv1x1", 1, (5, 7), 20, 9, True, False), ("conv1x1", 1, (4, 4), 34, 6, False, False),
         ("conv2d", 3, (4, 5), 16, 5, True, False), ("depthwise", 3, (6, 9), 20, 20, True, False),
         ("depthwise", 3, (5, 6), 12, 12, False, False), ("depthwise", 5, (7, 8), 8, 8, True, False),
         ("conv1x1", 1, (6, 6), 16, 10, True, "x2"), ("conv2d", 3, (6, 8), 3, 8, True, "big"),
         ("conv2d", 3, (9, 14), 3, 6, True, False), ("conv2d", 3, (8, 13), 8, 5, False, False),
         ("conv2d", 3, (5, 8), 3, 6, True, False), ("conv2d", 3, (3, 9), 3, 7, True, False),
         ("conv1x1", 1, (3, 5), 18, 5, True, False), ("conv1x1", 1, (1, 7), 13, 3, True, False),
         ("conv1x1", 1, (2, 5), 16, 7, True, "big"), ("conv1x1", 1, (1, 13), 12, 9, True, "big")]
    ):  # fmt: skip
        pad = kernel // 2
        in_h, in_w = hw
        full = rng.integers(-128, 128, (1, in_h, in_w, cin), dtype=np.int8)
        shape = (1, kernel, kernel, cin) if kind == "depthwise" else (cout, kernel, kernel, cin)
        q = _requant(rng, cout, kernel * kernel * cin, large=False)
        if full_range:
            q = Requant(q.input_zero_point, q.output_zero_point, q.multipliers, q.shifts, -128, 127)
        bias = rng.integers(-3000, 3000, cout).astype(np.int32)
        if special:
            big_shifts = [-1, -24, -27, -31, -6] if special == "big" else [-1, -13, -2, -6]
            shifts = np.resize(np.array(big_shifts, np.int64), cout)
            multipliers = rng.integers(2**30, 2**31 - 1, cout).astype(np.int64)
            multipliers[::4] = 0
            bias = (rng.choice([-1, 1], cout) * rng.integers(2**27, 2**28, cout)).astype(np.int32)
            q = Requant(q.input_zero_point, q.output_zero_point, multipliers, shifts, q.act_min, q.act_max)
        call = KernelCall(
            f"b{index}_{kind}{kernel}_{in_h}x{in_w}x{cin}",
            kind,
            q,
            full.reshape(-1),
            rng.integers(-127, 128, shape, dtype=np.int8),
            bias,
            Region(in_h, in_w, cin, in_h, in_w, cout, pad, pad, pad, pad),
            Window(kernel, kernel, 1, 1),
        )
        calls.append(call)
        inputs[call.name] = full
    return calls, inputs


def _tile_block_cases(rng):
    """3x3 convs on patch-like tiles (no left pad; right and bottom pads of 0 or 1, strides 1 and 2, rows not a
    multiple of six wide): 6-pixel blocks that run over a row's end with every window inside (pb_conv2d_s8_dsp
    takes both rows' pixels by one call, PB_WINDOW_WRAP: on the core window_3x9_asm over 3 channels, window_columns
    over 8 and 4, the last with doubled columns: 19 output channels, k = 36), and into the right pad (a pixel at a
    time). (Maps narrower than a block, whose blocks run over three rows, are test_kernels.py's random regions.)"""
    calls, inputs = [], {}
    for index, (stride, pads, hw, cin, full_range, cout) in enumerate(
        [(1, (0, 0, 0, 0), (6, 9), 3, True, 5), (2, (0, 1, 0, 1), (9, 16), 3, True, 6),
         (2, (0, 0, 0, 0), (9, 17), 3, True, 7), (1, (0, 1, 0, 1), (6, 10), 8, False, 8),
         (1, (1, 0, 0, 1), (5, 13), 3, True, 9), (1, (0, 0, 0, 0), (6, 9), 8, True, 10),
         (1, (0, 0, 0, 0), (5, 11), 4, True, 19)]
    ):  # fmt: skip
        in_h, in_w = hw
        full = rng.integers(-128, 128, (1, in_h, in_w, cin), dtype=np.int8)
        q = _requant(rng, cout, 9 * cin, large=False)
        if full_range:
            q = Requant(q.input_zero_point, q.output_zero_point, q.multipliers, q.shifts, -128, 127)
        out_h = (in_h + pads[0] + pads[1] - 3) // stride + 1
        out_w = (in_w + pads[2] + pads[3] - 3) // stride + 1
        call = KernelCall(
            f"t{index}_conv2d3s{stride}_{in_h}x{in_w}x{cin}",
            "conv2d",
            q,
            full.reshape(-1),
            rng.integers(-127, 128, (cout, 3, 3, cin), dtype=np.int8),
            rng.integers(-3000, 3000, cout).astype(np.int32),
            Region(in_h, in_w, cin, out_h, out_w, cout, *pads),
            Window(3, 3, stride, stride),
        )
        calls.append(call)
        inputs[call.name] = full
    return calls, inputs


def _depthwise_run_cases(rng):
    """Depthwise calls wide enough for the DSP kernel's interior runs (pb_depthwise_conv_dsp.c): kernels 3/5/7,
    strides 1/2, uneven pads, an input row stride, channel counts not a multiple of 4 (the 4-channel groups
    plus single channels), both activation clamps."""
    calls, inputs = [], {}
    for index, (kernel, stride, pads, cin, full_range, (in_h, in_w)) in enumerate(
        [(3, 1, (1, 0, 1, 2), 6, False, (9, 13)), (3, 2, (0, 1, 1, 0), 9, True, (9, 13)),
         (5, 1, (2, 2, 0, 1), 10, False, (9, 13)), (5, 2, (1, 2, 2, 1), 4, True, (9, 13)),
         (7, 1, (3, 3, 3, 3), 5, True, (9, 13)), (7, 2, (0, 2, 3, 1), 8, False, (9, 13)),
         (7, 1, (3, 2, 3, 3), 7, False, (17, 19)), (5, 1, (2, 1, 2, 2), 6, True, (17, 18))]
        # the last two: channel planes (maps of at least 16 x 16 outputs)
    ):  # fmt: skip
        full_w = in_w + 3  # the held input is the left part of wider rows
        full = rng.integers(-128, 128, (1, in_h, full_w, cin), dtype=np.int8)
        out_h = (in_h + pads[0] + pads[1] - kernel) // stride + 1
        out_w = (in_w + pads[2] + pads[3] - kernel) // stride + 1
        q = _requant(rng, cin, kernel * kernel, large=False)
        if full_range:
            q = Requant(q.input_zero_point, q.output_zero_point, q.multipliers, q.shifts, -128, 127)
        call = KernelCall(
            f"r{index}_dw{kernel}s{stride}_c{cin}",
            "depthwise",
            q,
            full.reshape(-1),
            rng.integers(-127, 128, (1, kernel, kernel, cin), dtype=np.int8),
            rng.integers(-3000, 3000, cin).astype(np.int32),
            Region(in_h, in_w, cin, out_h, out_w, cin, *pads, in_row_stride=full_w * cin),
            Window(kernel, kernel, stride, stride),
        )
        calls.append(call)
        inputs[call.name] = full[:, :, :in_w, :]
    return calls, inputs


def _plane3_cases(rng):
    """The 3x3 channel planes (pb_depthwise_conv_dsp.c dw_planes3: stride 1, maps of at least 6 x 6 outputs):
    its assembly blocks with the full int8 range, act_max alone and both bounds, out_w % 4 = 0..3 (the last
    outputs as one more block, stored by each of the three), pads of 0..2 (the planes' odd and even first
    columns; padding rows at the top and bottom), channels that do not take the SMMLAR form (shift -1: the C
    blocks), out of place on strided rows and in place, a 6 x 7 map (as small as they take); rows of 7 to 27 input
    values whose copies leave 0 to 7 values after the loop of eight (its four, two and one), as a patch stage's
    tiles (26 x 8 with the image's top and left edges), rows under eight values that start on a word boundary and
    that do not (no pass of the loop), a row of eight after the first value, two padding rows at the bottom; rows of
    out_w % 4 = 1 (the last full block takes the fifth output: 9, 13, and a p=2 tile's 29 and 17 with no padding at
    the top, one at the bottom, out of place and in place); even channel counts, which take two channels a pass (one
    copy fills both channels' plane rows; their rings in scratch): every out_w % 4, pad_top and pad_left, rows with
    and without a pass of eight values and each count of values after it, in and out of place, all three clamps,
    the channel in the C blocks as the first and as the second of its pair (the pair in C)."""
    calls, inputs = [], {}
    for index, (pads, (in_h, in_w), cin, act, in_place) in enumerate(
        [((1, 1, 1, 1), (12, 13), 5, "both", False), ((2, 0, 0, 2), (12, 15), 3, "max", False),
         ((1, 1, 1, 1), (12, 14), 6, "max", True), ((1, 1, 2, 0), (13, 14), 4, "full", True),
         ((2, 0, 1, 1), (6, 7), 4, "full", False), ((0, 1, 0, 1), (13, 14), 3, "full", False),
         ((1, 1, 1, 1), (12, 16), 3, "both", True), ((1, 0, 1, 1), (13, 15), 5, "both", False),
         ((1, 0, 1, 0), (9, 27), 3, "full", False), ((0, 1, 0, 1), (8, 17), 4, "max", False),
         ((0, 1, 0, 1), (8, 16), 3, "both", True), ((1, 0, 0, 1), (8, 11), 5, "full", True),
         ((0, 2, 2, 0), (8, 7), 4, "full", False), ((1, 1, 1, 1), (7, 9), 3, "max", True),
         ((0, 1, 1, 0), (10, 30), 3, "full", False), ((1, 1, 0, 1), (9, 18), 4, "both", True),
         # two channels a pass (even channel counts): out_w % 4 = 3, 1, 2, 0 over the clamps, pad_top 0 to 2,
         # pad_left 0 to 2 with and without a pass of eight, each count of last values (0 to 7), in place and out,
         # the channel in the C blocks first or second of its pair, two padding rows at the bottom
         ((0, 1, 0, 1), (9, 12), 4, "full", False), ((1, 1, 1, 1), (10, 13), 6, "max", False),
         ((2, 0, 2, 0), (9, 10), 8, "both", False), ((1, 0, 0, 1), (13, 19), 2, "full", True),
         ((0, 0, 0, 0), (10, 15), 4, "both", True), ((2, 1, 1, 0), (8, 9), 4, "max", True),
         ((1, 1, 2, 0), (7, 6), 6, "full", False), ((0, 1, 1, 1), (9, 7), 4, "both", False),
         ((1, 1, 0, 1), (8, 7), 2, "max", True), ((1, 1, 1, 1), (11, 16), 8, "full", False),
         ((0, 0, 0, 0), (12, 21), 4, "both", False), ((0, 2, 0, 2), (9, 13), 6, "max", False),
         ((1, 1, 1, 1), (9, 10), 4, "full", True)]
    ):  # fmt: skip
        full_w = in_w + (0 if in_place else 3)
        full = rng.integers(-128, 128, (1, in_h, full_w, cin), dtype=np.int8)
        q = _requant(rng, cin, 9, large=False)
        shifts = np.array(q.shifts)
        shifts[index % cin] = -1  # one channel in the C blocks
        act_min, act_max = {"full": (-128, 127), "max": (-128, int(rng.integers(0, 100))),
                            "both": (int(rng.integers(-100, -20)), int(rng.integers(0, 100)))}[act]  # fmt: skip
        q = Requant(q.input_zero_point, q.output_zero_point, q.multipliers, shifts, act_min, act_max)
        out_h, out_w = in_h + pads[0] + pads[1] - 2, in_w + pads[2] + pads[3] - 2
        call = KernelCall(
            f"d{index}_dw3s1_{in_h}x{in_w}x{cin}" + ("_inplace" if in_place else ""),
            "depthwise",
            q,
            full.reshape(-1),
            rng.integers(-127, 128, (1, 3, 3, cin), dtype=np.int8),
            rng.integers(-3000, 3000, cin).astype(np.int32),
            Region(in_h, in_w, cin, out_h, out_w, cin, *pads, in_row_stride=0 if in_place else full_w * cin),
            Window(3, 3, 1, 1),
            in_place=in_place,
        )
        calls.append(call)
        inputs[call.name] = full[:, :, :in_w, :]
    return calls, inputs


def _group3_cases(rng):
    """3x3 depthwise calls on the group kernel (pb_depthwise_conv_dsp.c dw_dsp: stride 2, and stride 1 under the
    planes' 6 x 6 outputs) shaped as a patch stage's tiles: no padding (an inner tile), padding on one or two sides
    (top, bottom, left, right), odd and even sizes down to one output, a row of two valid window rows at the top and
    at the bottom, channel counts with single channels after the groups of four, both clamps and the full range,
    a group that does not take the doubled form (multipliers > 1), out of place on strided rows and in place (the
    rows after the first at stride 2 go to their place: without edge pixels, dw_dsp takes them in one call a run),
    a right edge pixel in place and where it is the map's only column; with the group table, the calls without
    padding whose channels are groups of four take all their groups in one run (dw_groups3): strides 1 and 2,
    both clamps, and in place at stride 2 (every row straight to its place); so do those whose only padding is one
    column at the right or one row at the bottom that a window uses (dw_groups3's edge runs: the edge column, the
    last row of two window rows, their corner), out of place at strides 1 and 2 and in place at stride 2 (an edge
    column row by row), with one output row or one output column; the last row of two window rows without an edge
    column, which dw_groups_k3_sat takes after each group's rows and the clamping calls group by group, in and out of
    place; with an edge column too (its windows inside dw_groups_k3_sat's, the corner the edge loop's) at strides 1
    and 2."""
    calls, inputs = [], {}
    for index, (stride, pads, (in_h, in_w), cin, act, in_place) in enumerate(
        [(2, (0, 0, 0, 0), (13, 13), 8, "full", False), (2, (1, 0, 1, 0), (12, 12), 12, "both", False),
         (2, (0, 1, 0, 1), (12, 14), 4, "full", True), (2, (1, 1, 1, 1), (7, 9), 10, "max", False),
         (1, (0, 1, 1, 0), (5, 6), 8, "full", False), (1, (1, 0, 0, 0), (6, 5), 12, "both", True),
         (1, (0, 0, 1, 1), (4, 4), 16, "full", True), (2, (0, 1, 1, 0), (2, 3), 4, "full", False),
         (1, (1, 1, 1, 1), (2, 2), 8, "full", False), (1, (0, 0, 0, 0), (3, 9), 6, "max", False),
         (2, (1, 0, 0, 1), (6, 11), 8, "full", True), (2, (0, 1, 0, 0), (9, 13), 8, "full", True),
         (2, (1, 0, 0, 0), (8, 9), 12, "both", True), (1, (1, 1, 0, 1), (5, 4), 8, "full", False),
         (2, (0, 1, 0, 1), (11, 12), 8, "both", True), (2, (0, 1, 0, 1), (10, 10), 12, "max", False),
         (2, (0, 1, 0, 1), (13, 2), 4, "full", True), (1, (0, 0, 0, 0), (5, 7), 12, "both", False),
         (2, (0, 0, 0, 0), (7, 8), 16, "max", False), (2, (0, 0, 0, 0), (9, 11), 8, "both", True),
         (2, (0, 0, 0, 0), (7, 7), 4, "full", True), (1, (0, 1, 0, 1), (5, 6), 8, "full", False),
         (2, (0, 1, 0, 1), (2, 10), 8, "both", False), (2, (0, 1, 0, 1), (2, 10), 8, "max", True),
         (2, (0, 1, 0, 0), (10, 9), 12, "full", True), (2, (0, 0, 0, 1), (9, 10), 8, "both", True),
         (1, (0, 0, 0, 1), (4, 5), 12, "max", False), (1, (0, 1, 0, 0), (5, 4), 4, "full", False),
         (2, (0, 1, 0, 0), (10, 9), 8, "both", False), (2, (0, 1, 0, 0), (8, 11), 12, "max", True),
         (2, (0, 1, 0, 1), (10, 12), 8, "full", False)]
    ):  # fmt: skip
        full_w = in_w + (0 if in_place else 2)
        full = rng.integers(-128, 128, (1, in_h, full_w, cin), dtype=np.int8)
        q = _requant(rng, cin, 9, large=index in (13, 24))
        act_min, act_max = {"full": (-128, 127), "max": (-128, int(rng.integers(0, 100))),
                            "both": (int(rng.integers(-100, -20)), int(rng.integers(0, 100)))}[act]  # fmt: skip
        q = Requant(q.input_zero_point, q.output_zero_point, q.multipliers, q.shifts, act_min, act_max)
        out_h = (in_h + pads[0] + pads[1] - 3) // stride + 1
        out_w = (in_w + pads[2] + pads[3] - 3) // stride + 1
        call = KernelCall(
            f"g{index}_dw3s{stride}_{in_h}x{in_w}x{cin}" + ("_inplace" if in_place else ""),
            "depthwise",
            q,
            full.reshape(-1),
            rng.integers(-127, 128, (1, 3, 3, cin), dtype=np.int8),
            rng.integers(-3000, 3000, cin).astype(np.int32) if index % 5 else None,
            Region(in_h, in_w, cin, out_h, out_w, cin, *pads, in_row_stride=0 if in_place else full_w * cin),
            Window(3, 3, stride, stride),
            in_place=in_place,
        )
        calls.append(call)
        inputs[call.name] = full[:, :, :in_w, :]
    return calls, inputs


def _pointwise_block_cases(rng):
    """The 1x1 kernel's assembly loop enters its 4-group body at each of the four offsets (in_c / 4 groups
    mod 4 = 0, 1, 2, 3, and a single group), with k % 4 tails, odd out_c, pixel counts that leave 4-, 3-, 2- and
    1-pixel remainders, and per-channel shifts on both sides of the folded requantization's range
    (-1 / -2 and -23 / -24 fall back to the exact slow path at -1 and -24)."""
    calls, inputs = [], {}
    edge_shifts = [-1, -2, -23, -24, -7, -12, -2, -23, -1]
    for index, (hw, cin, cout) in enumerate(
        [((3, 5), 16, 9), ((2, 7), 20, 7), ((5, 3), 24, 5), ((4, 4), 28, 3), ((3, 3), 4, 9), ((2, 5), 31, 9),
         ((1, 8), 6, 4), ((3, 3), 7, 5), ((2, 2), 38, 6)]
    ):  # fmt: skip
        in_h, in_w = hw
        full = rng.integers(-128, 128, (1, in_h, in_w, cin), dtype=np.int8)
        q = _requant(rng, cout, cin, large=False)
        if index % 2 == 0:  # shifts at the fallback edges, multipliers that keep the outputs varied
            shifts = np.array([edge_shifts[(index + c) % len(edge_shifts)] for c in range(cout)], np.int32)
            multipliers = rng.integers(2**30, 2**31, cout).astype(np.int32)
            q = Requant(q.input_zero_point, q.output_zero_point, multipliers, shifts, q.act_min, q.act_max)
        call = KernelCall(
            f"p{index}_conv1x1_{in_h}x{in_w}x{cin}_to_{cout}",
            "conv1x1",
            q,
            full.reshape(-1),
            rng.integers(-127, 128, (cout, 1, 1, cin), dtype=np.int8),
            rng.integers(-3000, 3000, cout).astype(np.int32) if index != 3 else None,
            Region(in_h, in_w, cin, in_h, in_w, cout, 0, 0, 0, 0),
            Window(1, 1, 1, 1),
        )
        calls.append(call)
        inputs[call.name] = full
    return calls, inputs


def _channel_loop_cases(rng):
    """The DSP convs' assembly channel loop (pb_conv_dsp.c matmul_6cols_asm: full-range activation, every
    channel in the SMMLAR form): one peeled group, then the 8-group body entered at each of its eight
    offsets (1..10 groups), out_c from 1, no bias, blocks that break across rows, a 3x3 conv, and k % 4
    tails of 1, 2 and 3 (the tail as one more group, the last channel in C; a 3x3 conv over 3 channels); more
    output channels than half of k (doubled columns: l1, l2, l3, l5, l10, l15, l16); 14 and 13 pixels (blocks of
    6 + 4 + 4, 6 + 4 + 3); 11, 17 and 23 pixels (4 + 4 + 3 after the blocks of six: l15, l16, l17); 5 and 2 pixels
    (a 1x1 call's last pixels after its dense blocks, with its channel table marked dense too: l18, l19)."""
    calls, inputs = [], {}
    for index, (kind, kernel, hw, cin, cout) in enumerate(
        [("conv1x1", 1, (2, 6), 4, 1), ("conv1x1", 1, (3, 5), 8, 5), ("conv1x1", 1, (2, 7), 12, 7),
         ("conv1x1", 1, (4, 3), 16, 9), ("conv1x1", 1, (2, 6), 20, 4), ("conv1x1", 1, (3, 4), 24, 13),
         ("conv1x1", 1, (1, 13), 28, 2), ("conv1x1", 1, (2, 6), 32, 6), ("conv1x1", 1, (3, 4), 36, 3),
         ("conv1x1", 1, (2, 6), 40, 2), ("conv2d", 3, (4, 4), 4, 19), ("conv1x1", 1, (2, 6), 5, 3),
         ("conv1x1", 1, (3, 4), 14, 4), ("conv1x1", 1, (2, 6), 39, 1), ("conv2d", 3, (5, 6), 3, 7),
         ("conv1x1", 1, (1, 11), 8, 9), ("conv1x1", 1, (1, 17), 16, 12), ("conv1x1", 1, (1, 23), 12, 4),
         ("conv1x1", 1, (1, 5), 8, 6), ("conv1x1", 1, (1, 2), 16, 3)]
    ):  # fmt: skip
        in_h, in_w = hw
        pad = kernel // 2
        full = rng.integers(-128, 128, (1, in_h, in_w, cin), dtype=np.int8)
        q = _requant(rng, cout, kernel * kernel * cin, large=False)
        q = Requant(q.input_zero_point, q.output_zero_point, q.multipliers, q.shifts, -128, 127)
        assert np.all((q.shifts <= -2) & (q.shifts >= -23)), "every channel must take the SMMLAR form"
        call = KernelCall(
            f"l{index}_{kind}{kernel}_{in_h}x{in_w}x{cin}_to_{cout}",
            kind,
            q,
            full.reshape(-1),
            rng.integers(-127, 128, (cout, kernel, kernel, cin), dtype=np.int8),
            rng.integers(-3000, 3000, cout).astype(np.int32) if index != 4 else None,
            Region(in_h, in_w, cin, in_h, in_w, cout, pad, pad, pad, pad),
            Window(kernel, kernel, 1, 1),
        )
        calls.append(call)
        inputs[call.name] = full
    return calls, inputs


def _inplace_cases(rng):
    """In-place depthwise calls (pb_depthwise_conv2d_s8_inplace): kernels 3/5/7, strides 1/2, uneven pads
    as on patch tiles, VALID windows, channel counts with and without a remainder of the 4-channel groups,
    both clamps; the input buffer is dense, as in the arena."""
    calls, inputs = [], {}
    for index, (kernel, stride, pads, hw, cin, full_range) in enumerate(
        [(3, 1, (1, 1, 1, 1), (9, 13), 8, True), (3, 1, (1, 0, 0, 1), (7, 11), 6, False),
         (3, 2, (0, 1, 0, 1), (10, 14), 12, True), (3, 2, (1, 1, 1, 1), (9, 13), 5, False),
         (5, 1, (2, 2, 2, 2), (8, 12), 9, True), (5, 2, (1, 2, 2, 1), (9, 13), 4, False),
         (7, 1, (3, 3, 3, 3), (8, 10), 8, False), (7, 1, (0, 0, 0, 0), (10, 12), 4, True),
         (3, 1, (1, 1, 1, 0), (1, 13), 16, True), (7, 1, (3, 3, 3, 3), (16, 18), 6, True),
         (5, 1, (2, 2, 2, 2), (17, 16), 7, False)]
    ):  # fmt: skip
        in_h, in_w = hw
        x = rng.integers(-128, 128, (1, in_h, in_w, cin), dtype=np.int8)
        out_h = (in_h + pads[0] + pads[1] - kernel) // stride + 1
        out_w = (in_w + pads[2] + pads[3] - kernel) // stride + 1
        q = _requant(rng, cin, kernel * kernel, large=index == 3)
        if full_range:
            q = Requant(q.input_zero_point, q.output_zero_point, q.multipliers, q.shifts, -128, 127)
        call = KernelCall(
            f"i{index}_dw{kernel}s{stride}_{in_h}x{in_w}x{cin}_inplace",
            "depthwise",
            q,
            x.reshape(-1),
            rng.integers(-127, 128, (1, kernel, kernel, cin), dtype=np.int8),
            rng.integers(-3000, 3000, cin).astype(np.int32) if index % 4 else None,
            Region(in_h, in_w, cin, out_h, out_w, cin, *pads),
            Window(kernel, kernel, stride, stride),
            in_place=True,
        )
        calls.append(call)
        inputs[call.name] = x
    return calls, inputs


def _cases():
    rng = np.random.default_rng(2024)
    calls, inputs = [], {}
    shapes = [("conv1x1", 1, 1), ("conv1x1", 1, 2), ("conv2d", 3, 1), ("conv2d", 3, 2), ("conv2d", 5, 1),
              ("depthwise", 3, 1), ("depthwise", 3, 2), ("depthwise", 5, 1), ("depthwise", 5, 2),
              ("depthwise", 7, 1), ("depthwise", 7, 2)]  # fmt: skip
    for index, (kind, kernel, stride) in enumerate(shapes * 2):
        call, x = _conv_call(rng, index, kind, kernel, stride)
        calls.append(call)
        inputs[call.name] = x
    for more_calls, more_inputs in (_block_cases(rng), _tile_block_cases(rng), _pointwise_block_cases(rng),
                                    _channel_loop_cases(rng)):  # fmt: skip
        calls += more_calls
        inputs.update(more_inputs)
        for call in more_calls:  # the convs again with their channel table made once, as a patch-stage conv's
            if call.kind != "depthwise":
                calls.append(dataclasses.replace(call, name=call.name + "_prepared", prepared=True))
                inputs[calls[-1].name] = more_inputs[call.name]
    calls_inplace, inputs_inplace = _inplace_cases(rng)
    calls += calls_inplace
    inputs.update(inputs_inplace)
    calls_runs, inputs_runs = _depthwise_run_cases(rng)
    calls += calls_runs
    inputs.update(inputs_runs)
    calls_planes, inputs_planes = _plane3_cases(rng)
    calls += calls_planes
    inputs.update(inputs_planes)
    for call in calls_planes:  # again with the 3x3 plane table made once, as a patch-stage depthwise conv's
        calls.append(dataclasses.replace(call, name=call.name + "_prepared", prepared=True))
        inputs[calls[-1].name] = inputs_planes[call.name]
    calls_group3, inputs_group3 = _group3_cases(rng)
    calls += calls_group3
    inputs.update(inputs_group3)
    for call in [*calls_group3, *calls_runs]:  # again with the group table made once, as a patch-stage op's
        q = call.q
        if not takes_plane3_table(call) and depthwise_group_table(q.multipliers, q.shifts, call.bias, call.filter,
                                                                  q.output_zero_point) is not None:  # fmt: skip
            calls.append(dataclasses.replace(call, name=call.name + "_prepared", prepared=True))
            inputs[calls[-1].name] = inputs[call.name]
    for index, (batches, in_features, out_features) in enumerate([(1, 37, 5), (2, 64, 10), (3, 24, 5)]):
        q = _requant(rng, out_features, in_features, large=index == 2)
        calls.append(
            KernelCall(
                f"fc{index}",
                "fc",
                q,
                rng.integers(-128, 128, (batches, in_features), dtype=np.int8),
                rng.integers(-127, 128, (out_features, in_features), dtype=np.int8),
                rng.integers(-3000, 3000, out_features).astype(np.int32),
                fc_shape=(batches, in_features, out_features),
            )
        )
    return calls, inputs


@pytest.mark.slow
@pytest.mark.parametrize("core", ["M4", "M7"])
def test_portable_and_dsp_kernels_equal_the_reference_on_the_emulator(core):
    calls, inputs = _cases()
    result = run_suite(calls, TARGETS[core], VARIANTS)
    assert result.unit == "instructions"
    for call in calls:
        want = _expected(call, inputs.get(call.name)).reshape(-1)
        for variant in VARIANTS:
            got = np.frombuffer(result.outputs[(call.name, variant)], np.int8)
            np.testing.assert_array_equal(got, want, err_msg=f"{core} {call.name} {variant}")
        # the DSP kernels do the work in fewer instructions (a call this small still shows it)
        if call.macs >= 2000:
            assert result.instructions[(call.name, "dsp")] < result.instructions[(call.name, "portable")], (
                call.name
            )
            # on a core with the DSP extension the plain name is the DSP kernel (the dispatch costs a few
            # instructions; one timer count is 40)
            default, dsp = (
                result.instructions[(call.name, "default")],
                result.instructions[(call.name, "dsp")],
            )
            assert abs(default - dsp) <= 80, call.name


def _add_quant(rng, scales: tuple[float, float], clamped: bool) -> reference.AddQuant:
    """ADD's parameters as TFLite prepares them (reference.add_quant on a one-op graph): these input scales,
    an output scale near their sum and an output zero point near the sum's (so few sums saturate), random
    input zero points, the full int8 range or a random clamp as activation."""
    output_scale = sum(scales) * float(rng.uniform(0.5, 1.2))
    zero_points = [int(z) for z in rng.integers(-128, 128, 2)]
    centre = (scales[0] * zero_points[0] + scales[1] * zero_points[1]) / output_scale
    zero_points.append(int(np.clip(round(centre) + int(rng.integers(-20, 21)), -128, 127)))
    tensors = {
        name: Tensor(name, (1,), "int8", QParams.per_tensor(scale, zero_point))
        for name, scale, zero_point in zip("aby", (*scales, output_scale), zero_points, strict=True)
    }
    attrs = (
        {"act_min": int(rng.integers(-128, -20)), "act_max": int(rng.integers(20, 128))} if clamped else {}
    )
    op = Op("ADD", "add", ["a", "b"], ["y"], attrs)
    return reference.add_quant(Graph("add", tensors, [op], ["a", "b"], ["y"]), op)


def _e0_order(q: reference.AddQuant) -> str:
    """Which operand's rescaling has e = 0 (shift 0) while the other's has e > 0 (pb_add_dsp.c's e0 run)."""
    if q.input1_shift == 0 and q.input2_shift < 0:
        return "e0 first"
    if q.input2_shift == 0 and q.input1_shift < 0:
        return "e0 second"  # the kernel swaps the operands
    return "neither"


def _add_cases(rng) -> list[AddCall]:
    """pb_add_s8_dsp's paths: the e0 run (add_run_e0_asm) with the e = 0 operand first and second (the swap),
    the general run (add_run_asm) with both e = 0 (equal scales) and both e > 0, counts of 1, 2, 3 and 17
    (the e0 run's two elements a pass and its odd entry; one element as a run of one), a per-channel operand (a run per pixel, either order)
    and a scalar one (the C walk), clamped activations (the C walk) and the full range. Both e > 0 never comes
    out of TFLite's preparation (the larger scale's multiplier is 1/2, e = 0): that case has the e = 0
    operand's multiplier replaced by one of 0.4 (e = 1); the kernels must still agree. Then pb_add_s8_rows' runs
    (add_half_rows: one run, and add_rows_half_asm's two or three a call)."""
    calls = []

    def add(name, big_first, a_shape, b_shape, clamped=False, equal=False, both_e=False, want=None):
        # one element: a contiguous run of one (broadcast_walk gives it stride 0, which the C walk takes)
        walk = (
            BroadcastWalk((1, 1, 1, 1), (0, 0, 0, 1), (0, 0, 0, 1)) if a_shape == b_shape == (1, 1) else None
        )
        small, big = sorted(float(v) for v in rng.uniform(0.01, 0.2, 2))
        scales = (big, big) if equal else (big, small) if big_first else (small, big)
        q = _add_quant(rng, scales, clamped)
        if both_e:
            multiplier, shift = reference.quantize_multiplier_smaller_than_one_exp(0.4)
            which = "input1" if q.input1_shift == 0 else "input2"  # the e = 0 operand's
            q = dataclasses.replace(q, **{f"{which}_multiplier": multiplier, f"{which}_shift": shift})
        assert _e0_order(q) == want, (name, q)
        a = rng.integers(-128, 128, a_shape, dtype=np.int8)
        b = rng.integers(-128, 128, b_shape, dtype=np.int8)
        if a.size >= 2 and b.size >= 2:  # the extremes, against each other
            a.reshape(-1)[:2], b.reshape(-1)[:2] = (-128, 127), (127, -128)
        calls.append(AddCall(f"add_{name}", q, a, b, walk))

    for n in (1, 2, 3, 17):
        add(f"e0first_n{n}", True, (1, n), (1, n), want="e0 first")
        add(f"e0second_n{n}", False, (1, n), (1, n), want="e0 second")
        add(f"both_e_n{n}", n % 2 == 0, (1, n), (1, n), both_e=True, want="neither")
    add("equal_scales_n17", True, (1, 17), (1, 17), equal=True, want="neither")
    add("e0second_4x4x9", False, (1, 4, 4, 9), (1, 4, 4, 9), want="e0 second")  # one run of 144
    add("e0first_channel_3x4x5", True, (1, 3, 4, 5), (5,), want="e0 first")
    add("e0second_channel_3x4x5", False, (1, 3, 4, 5), (5,), want="e0 second")
    add("e0second_scalar_3x5", False, (1, 3, 5), (1,), want="e0 second")
    add("e0first_clamped_n17", True, (1, 17), (1, 17), clamped=True, want="e0 first")
    add("e0second_clamped_channel_2x3x7", False, (1, 2, 3, 7), (1, 1, 3, 7), clamped=True, want="e0 second")
    # pb_add_s8_rows (a patch stage's fused ADD): one run, and two or three runs by one call of add_rows_half_asm
    # (the steps from run to run; odd and even counts), the e = 0 operand first and second, rows of a wider map
    # into rows of a wider output
    for name, big_first, rows, row_len, (a_rs, b_rs, out_rs) in [
        ("one", True, 1, 9, (11, 9, 13)), ("two_odd", True, 2, 9, (11, 9, 13)),
        ("three_even", False, 3, 8, (8, 10, 12)), ("two_e0second", False, 2, 17, (20, 17, 17)),
    ]:  # fmt: skip
        small, big = sorted(float(v) for v in rng.uniform(0.01, 0.2, 2))
        q = _add_quant(rng, (big, small) if big_first else (small, big), False)
        assert _e0_order(q) == ("e0 first" if big_first else "e0 second"), (name, q)
        a = rng.integers(-128, 128, (rows, a_rs), dtype=np.int8)
        b = rng.integers(-128, 128, (rows, b_rs), dtype=np.int8)
        calls.append(AddCall(f"add_rows_{name}", q, a, b, rows=(row_len, out_rs)))
    return calls


def _add_expected(call: AddCall) -> np.ndarray:
    """harness.reference.add of the call's operands; of each run's, where the call is pb_add_s8_rows' (the bytes
    between its output rows stay 0, the buffer's start)."""
    if call.rows is None:
        return reference.add(call.a, call.b, call.q).reshape(-1)
    row_len, out_rs = call.rows
    want = np.zeros(call.output_bytes, np.int8)
    for i in range(call.a.shape[0]):
        want[i * out_rs : i * out_rs + row_len] = reference.add(
            call.a[i, :row_len], call.b[i, :row_len], call.q
        )
    return want


@pytest.mark.parametrize("core", ["M4", "M7"])
def test_add_dsp_kernel_equals_the_portable_one_and_the_reference_on_the_emulator(core):
    """pb_add_s8_dsp's assembly runs called directly on the core (one firmware, every case): each output
    equal to the portable kernel's, the build's default and harness.reference.add, byte for byte."""
    calls = _add_cases(np.random.default_rng(25))
    result = run_suite(calls, TARGETS[core], VARIANTS)
    for call in calls:
        want = _add_expected(call)
        for variant in VARIANTS:
            got = np.frombuffer(result.outputs[(call.name, variant)], np.int8)
            np.testing.assert_array_equal(got, want, err_msg=f"{core} {call.name} {variant}")
        if call.output_bytes >= 17:  # the DSP kernel ran, not its portable fallback
            dsp, portable = (
                result.instructions[(call.name, "dsp")],
                result.instructions[(call.name, "portable")],
            )
            assert dsp < portable, (call.name, dsp, portable)


def test_a_suite_of_hundreds_of_calls_plans_its_stack_around_its_timing_array():
    """main keeps one 8-byte count per timed unit on the stack: 200 calls in three variants are 600 units, 4.8
    kB, more than the fixed 4 kB reserve the suite had (it overflowed at 422 units); planned, they run."""
    rng = np.random.default_rng(26)
    q = _add_quant(rng, (0.1, 0.05), clamped=False)
    calls = [AddCall(f"add_{i}", q, rng.integers(-128, 128, (1, 3), dtype=np.int8),
                     rng.integers(-128, 128, (1, 3), dtype=np.int8)) for i in range(200)]  # fmt: skip
    result = run_suite(calls, TARGETS["M7"], VARIANTS)
    assert len(result.instructions) == 600
    for call in calls[::50]:
        want = reference.add(call.a, call.b, call.q).reshape(-1)
        np.testing.assert_array_equal(np.frombuffer(result.outputs[(call.name, "dsp")], np.int8), want)
