# SPDX-License-Identifier: Apache-2.0
"""The C kernels on the host, against harness.reference, bit for bit.

Every conv-like kernel runs in both variants: the portable C and the DSP kernels' C (their DSP
instructions emulated in C on the host). The device tests (test_kernels_device.py) run the same
kernels under QEMU with the real instructions.
"""

from __future__ import annotations

import ctypes
import dataclasses
import re

import numpy as np
import pytest

from harness import reference
from harness.codegen import cparams, kernels
from harness.codegen.host_kernels import Requant, host_kernels
from harness.codegen.kernels import KernelError, Region, Window, scratch_bytes
from harness.ir import quant

VARIANTS = ("portable", "dsp")
GUARD = 16  # sentinel bytes around outputs and scratch
SENTINEL = 0x5A


@pytest.fixture(scope="module")
def lib():
    return host_kernels()


def random_requant(rng, channels: int, depth: int, large_multiplier: bool = False) -> Requant:
    """Scales that keep outputs mostly in range; large_multiplier forces multipliers > 1 (shift > 0)."""
    input_scale = float(rng.uniform(0.01, 0.1))
    filter_scales = rng.uniform(0.002, 0.02, channels).astype(np.float32)
    output_scale = input_scale * float(filter_scales.mean()) * np.sqrt(depth) * float(rng.uniform(20, 80))
    if large_multiplier:
        output_scale = input_scale * float(filter_scales.min()) / float(rng.uniform(1.5, 4.0))
    multipliers, shifts = quant.conv_multipliers(input_scale, filter_scales, output_scale)
    act_min, act_max = (-128, 127) if rng.random() < 0.5 else sorted(rng.integers(-128, 128, 2).tolist())
    return Requant(int(rng.integers(-128, 128)), int(rng.integers(-128, 128)), multipliers, shifts,
                   int(act_min), int(act_max))  # fmt: skip


def conv_quant(q: Requant) -> reference.ConvQuant:
    return reference.ConvQuant(q.input_zero_point, q.output_zero_point, q.multipliers, q.shifts, q.act_min,
                               q.act_max)  # fmt: skip


def run_region(
    lib, kind, region: Region, window: Window, q, x_full, filters, bias, variant, scratch_offset=0
):
    """Run a kernel reading a window of a bigger input and writing into a bigger output; check that
    nothing outside the output region and the scratch is touched. Returns the output region."""
    out_rows, out_row_stride = region.out_h + 1, region.out_row_stride
    out_buffer = np.full(GUARD + out_rows * out_row_stride + GUARD, SENTINEL, np.int8)
    filter_shape = filters.shape if kind != "depthwise" else filters.shape
    op_kind = "DEPTHWISE_CONV_2D" if kind == "depthwise" else "CONV_2D"
    need = scratch_bytes(
        op_kind, (1, region.in_h, region.in_w, region.in_c), filter_shape, optimized=variant == "dsp"
    )
    scratch = np.full(scratch_offset + need + GUARD, SENTINEL, np.int8)
    view = out_buffer[GUARD:]
    lib.conv(kind, region, window, q, x_full, filters, bias, view, variant, scratch[scratch_offset:])
    assert np.all(out_buffer[:GUARD] == SENTINEL), "wrote before the output"
    assert np.all(scratch[scratch_offset + need :] == SENTINEL), "wrote past the declared scratch"
    body = view[: out_rows * out_row_stride].reshape(out_rows, out_row_stride)
    written = body[: region.out_h, : region.out_w * region.out_c]
    assert np.all(body[: region.out_h, region.out_w * region.out_c :] == SENTINEL), "wrote past a row"
    assert np.all(body[region.out_h :] == SENTINEL) and np.all(view[out_rows * out_row_stride :] == SENTINEL)
    return written.reshape(1, region.out_h, region.out_w, region.out_c)


def conv_case(
    rng,
    kind: str,
    kernel: int,
    stride: int,
    dilation: int = 1,
    large_multiplier: bool = False,
    depth_multiplier: int = 1,
    sizes: tuple[int, int] = (1, 9),
):
    """A random conv on a random region (sizes: the least and most rows and columns before it grows to
    hold a window): a window of a bigger input buffer, explicit uneven pads."""
    cin = (
        int(rng.choice([1, 3, 4, 5, 8, 12, 17]))
        if kind != "depthwise"
        else int(rng.choice([1, 3, 4, 7, 8, 16, 21]))
    )
    cout = cin * depth_multiplier if kind == "depthwise" else int(rng.choice([1, 2, 3, 8, 13, 16]))
    effective = (kernel - 1) * dilation + 1
    in_h, in_w = int(rng.integers(sizes[0], sizes[1] + 1)), int(rng.integers(sizes[0], sizes[1] + 1))
    pads = [int(rng.integers(0, effective)) for _ in range(4)] if kind != "conv1x1" else [0, 0, 0, 0]
    # grow the input until the padded input holds at least one window
    in_h = max(in_h, effective - pads[0] - pads[1])
    in_w = max(in_w, effective - pads[2] - pads[3])
    out_h = (in_h + pads[0] + pads[1] - effective) // stride + 1
    out_w = (in_w + pads[2] + pads[3] - effective) // stride + 1
    q = random_requant(rng, cout, kernel * kernel * (1 if kind == "depthwise" else cin), large_multiplier)
    # the held input is a window (row 1.., column 2..) of a wider buffer: in_row_stride > in_w * cin
    full_w = in_w + 3
    full = rng.integers(-128, 128, (1, in_h + 2, full_w, cin), dtype=np.int8)
    x = full[:, 1 : 1 + in_h, 2 : 2 + in_w, :]
    if kind == "depthwise":
        filters = rng.integers(-127, 128, (1, kernel, kernel, cout), dtype=np.int8)
    else:
        filters = rng.integers(-127, 128, (cout, kernel, kernel, cin), dtype=np.int8)
    bias = rng.integers(-3000, 3000, cout).astype(np.int32) if rng.random() < 0.8 else None
    region = Region(in_h, in_w, cin, out_h, out_w, cout, *pads, in_row_stride=full_w * cin,
                    out_row_stride=out_w * cout + int(rng.integers(0, 5)))  # fmt: skip
    window = Window(kernel, kernel, stride, stride, dilation, dilation)
    held = np.ascontiguousarray(full.reshape(-1)[(1 * full_w + 2) * cin :])
    return region, window, q, x, held, filters, bias


def expected_conv(kind, region, window, q, x, filters, bias):
    stride, dilation = (window.stride_h, window.stride_w), (window.dilation_h, window.dilation_w)
    if kind == "depthwise":
        multiplier = region.out_c // region.in_c
        return reference.depthwise_conv2d(x, filters, bias, conv_quant(q), stride, dilation, region.pads,
                                          multiplier)  # fmt: skip
    return reference.conv2d(x, filters, bias, conv_quant(q), stride, dilation, region.pads)


CONV_CASES = (
    [("conv1x1", 1, s, 1) for s in (1, 2)]
    + [("conv2d", k, s, 1) for k in (1, 2, 3, 5, 7) for s in (1, 2)]
    + [("conv2d", 3, 1, 2)]
    + [("depthwise", k, s, 1) for k in (1, 3, 5, 7) for s in (1, 2)]
    + [("depthwise", 3, 1, 2), ("depthwise", 5, 2, 2)]
)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize(("kind", "kernel", "stride", "dilation"), CONV_CASES)
def test_conv_kernels_match_reference_on_random_regions(lib, kind, kernel, stride, dilation, variant):
    rng = np.random.default_rng([kernel, stride, dilation, len(kind), len(variant)])
    for trial in range(12):
        region, window, q, x, held, filters, bias = conv_case(rng, kind, kernel, stride, dilation,
                                                              large_multiplier=trial == 11)  # fmt: skip
        assert lib.region_check(region, window) == 0
        got = run_region(lib, kind, region, window, q, held, filters, bias, variant, scratch_offset=trial % 4)
        want = expected_conv(kind, region, window, q, x, filters, bias)
        np.testing.assert_array_equal(got, want, err_msg=f"{kind} {region} {window} trial {trial}")


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize(("kernel", "stride"), [(k, s) for k in (3, 5, 7) for s in (1, 2)])
def test_depthwise_kernels_match_reference_on_wide_regions(lib, kernel, stride, variant):
    """Maps 16 to 30 wide: the DSP kernel's interior runs and channel planes (odd and even output rows,
    windows reaching past the held columns) over many output pairs."""
    rng = np.random.default_rng(kernel * 10 + stride)
    for trial in range(6):
        region, window, q, x, held, filters, bias = conv_case(
            rng, "depthwise", kernel, stride, sizes=(16, 30)
        )
        got = run_region(lib, "depthwise", region, window, q, held, filters, bias, variant, trial % 4)
        want = expected_conv("depthwise", region, window, q, x, filters, bias)
        np.testing.assert_array_equal(got, want, err_msg=f"{region} {window}")


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize(("multiplier", "kernel", "stride", "dilation"),
                         [(2, 3, 1, 1), (3, 3, 2, 1), (4, 5, 1, 1), (8, 3, 2, 2), (5, 1, 1, 1)])  # fmt: skip
def test_depthwise_multiplier_kernels_match_reference(lib, multiplier, kernel, stride, dilation, variant):
    """Depth multiplier m > 1: output channel c reads input channel c / m (the DSP kernel gathers a group's
    input bytes), on random regions with pads and strided rows, bit-exact with the reference."""
    rng = np.random.default_rng([multiplier, kernel, stride, dilation, len(variant)])
    for trial in range(8):
        region, window, q, x, held, filters, bias = conv_case(
            rng,
            "depthwise",
            kernel,
            stride,
            dilation,
            large_multiplier=trial == 7,
            depth_multiplier=multiplier,
        )
        got = run_region(lib, "depthwise", region, window, q, held, filters, bias, variant, trial % 4)
        want = expected_conv("depthwise", region, window, q, x, filters, bias)
        np.testing.assert_array_equal(got, want, err_msg=f"m={multiplier} {region} {window} trial {trial}")


def inplace_case(
    rng, kernel: int, stride: int, dilation: int, channels: int, sizes: tuple[int, int] = (1, 11)
):
    """A dense depthwise region that fits in place (no more output than input pixels)."""
    effective = (kernel - 1) * dilation + 1
    while True:
        in_h, in_w = int(rng.integers(sizes[0], sizes[1] + 1)), int(rng.integers(sizes[0], sizes[1] + 1))
        pads = [int(rng.integers(0, effective)) for _ in range(4)]
        span_h, span_w = in_h + pads[0] + pads[1] - effective, in_w + pads[2] + pads[3] - effective
        if span_h < 0 or span_w < 0:
            continue
        out_h, out_w = span_h // stride + 1, span_w // stride + 1
        if out_h * out_w <= in_h * in_w:
            return Region(in_h, in_w, channels, out_h, out_w, channels, *pads), Window(
                kernel, kernel, stride, stride, dilation, dilation
            )


INPLACE_CASES = [(k, s, 1) for k in (1, 3, 5, 7) for s in (1, 2)] + [(3, 1, 2), (5, 2, 2), (3, 3, 1)]


@pytest.mark.parametrize(("kernel", "stride", "dilation"), INPLACE_CASES)
def test_inplace_depthwise_schedule_is_the_planners(lib, kernel, stride, dilation):
    """The C row schedule (pb_depthwise_inplace_schedule) is harness.schedule.arena's, row for row."""
    from harness.schedule.arena import depthwise_inplace_schedule

    rng = np.random.default_rng([kernel, stride, dilation, 7])
    for _ in range(40):
        region, window = inplace_case(rng, kernel, stride, dilation, 4)
        rows, c_schedule = lib.depthwise_inplace_schedule(region, window)
        mine = depthwise_inplace_schedule((region.in_h, region.in_w), (region.out_h, region.out_w),
                                          (kernel, kernel), (stride, stride), (dilation, dilation), region.pads)  # fmt: skip
        assert rows == mine.ring_rows, region
        assert c_schedule == [(0x80 if d else 0) | f for d, f in zip(mine.direct, mine.flushes, strict=True)]


def test_depthwise_group_table_holds_each_group_as_the_kernel_prepares_it():
    """kernels.depthwise_group_table (dw_dsp's groups made at generation): the tag of the op's channels and taps,
    then per whole group of four each channel's SMMLAR values, the doubled biases and the doubled weights as
    [w0 w2] [w1 w3] per tap; the last channels % 4 are left to the kernel; no table where a whole group's channel
    does not take the doubled form (a shift of -1), one where only a last channel does not."""
    rng = np.random.default_rng(24)
    filters = rng.integers(-128, 128, (1, 3, 3, 10), dtype=np.int8)
    multipliers = rng.integers(2**30, 2**31 - 1, 10)
    shifts, bias = np.full(10, -7), rng.integers(-3000, 3000, 10)
    table = kernels.depthwise_group_table(multipliers, shifts, bias, filters, 5)
    assert len(table) == 1 + 2 * (16 + 18) and table[0] == -(10 * 64 + 9)
    group = table[1 + 34 : 1 + 68]  # channels 4..7
    assert list(group[:3]) == [multipliers[4], (1 << 6) + 5 * (1 << 7), 7]
    assert list(group[12:16]) == [2 * b for b in bias[4:8]]
    words = group[16:].astype(np.uint32).view(np.int16).reshape(9, 4)  # per tap: w4 w6 w5 w7
    np.testing.assert_array_equal(words, 2 * filters.reshape(9, 10).astype(np.int16)[:, [4, 6, 5, 7]])
    shifts[9] = -1
    assert kernels.depthwise_group_table(multipliers, shifts, bias, filters, 5) is not None
    shifts[6] = -1
    assert kernels.depthwise_group_table(multipliers, shifts, bias, filters, 5) is None


def test_inplace_depthwise_ring_is_small():
    """Stride 1 delays each row by the window's reach below it (3x3: a ring of 2 rows, 5x5: 3, 7x7: 4);
    stride 2 delays only the first row; the ring holds one group of 4 channels."""
    from harness.schedule.arena import depthwise_inplace_schedule

    for kernel, rows in ((3, 2), (5, 3), (7, 4)):
        pad = kernel // 2
        schedule = depthwise_inplace_schedule(
            (40, 40), (40, 40), (kernel, kernel), (1, 1), (1, 1), (pad,) * 4
        )
        assert schedule.ring_rows == rows
        assert schedule.scratch_bytes(40, 96) == 40 + rows * 40 * 4
    schedule = depthwise_inplace_schedule((40, 40), (20, 20), (3, 3), (2, 2), (1, 1), (0, 1, 0, 1))
    assert schedule.ring_rows == 1 and schedule.direct == (False,) + (True,) * 19


@pytest.mark.parametrize("variant", (*VARIANTS, "default"))
@pytest.mark.parametrize(("kernel", "stride", "dilation"), INPLACE_CASES)
def test_inplace_depthwise_matches_reference(lib, kernel, stride, dilation, variant):
    """In place, both variants equal the reference bit for bit; they touch nothing past the output and the
    declared scratch (out-of-place kernel's scratch + schedule + ring)."""
    rng = np.random.default_rng([kernel, stride, dilation, len(variant)])
    for trial in range(16):
        channels = int(rng.choice([1, 2, 3, 4, 5, 8, 9, 16, 21]))
        # every fourth trial on a wider map (the DSP kernel's channel planes over many rows and pairs)
        region, window = inplace_case(
            rng, kernel, stride, dilation, channels, (1, 11) if trial % 4 else (16, 28)
        )
        q = random_requant(rng, channels, kernel * kernel, large_multiplier=trial == 15)
        x = rng.integers(-128, 128, (1, region.in_h, region.in_w, channels), dtype=np.int8)
        filters = rng.integers(-127, 128, (1, kernel, kernel, channels), dtype=np.int8)
        bias = rng.integers(-3000, 3000, channels).astype(np.int32) if trial % 5 else None
        need = kernels.depthwise_inplace_scratch_bytes(
            region, window, filters.shape, optimized=variant == "dsp"
        )
        scratch = np.full(need + GUARD, SENTINEL, np.int8)
        buffer = np.concatenate([x.reshape(-1), np.full(GUARD, SENTINEL, np.int8)])
        lib.depthwise_inplace(region, window, q, buffer, filters, bias, scratch[trial % 4 :], variant)
        assert np.all(scratch[need + trial % 4 :] == SENTINEL), "wrote past the declared scratch"
        assert np.all(buffer[x.size :] == SENTINEL), "wrote past the buffer"
        want = expected_conv("depthwise", region, window, q, x, filters, bias)
        got = buffer[: want.size].reshape(want.shape)
        np.testing.assert_array_equal(got, want, err_msg=f"{region} {window} trial {trial}")


@pytest.mark.parametrize("variant", (*VARIANTS, "default"))
def test_conv2d_dispatches_1x1_windows_to_the_pointwise_kernel(lib, variant):
    rng = np.random.default_rng(7)
    region, window, q, x, held, filters, bias = conv_case(rng, "conv1x1", 1, 1)
    got = run_region(lib, "conv2d", region, window, q, held, filters, bias, variant)
    np.testing.assert_array_equal(got, expected_conv("conv2d", region, window, q, x, filters, bias))


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize(("kind", "kernel", "stride"), [("conv2d", 3, 2), ("depthwise", 3, 1), ("depthwise", 5, 2),
                                                        ("depthwise", 7, 1)])  # fmt: skip
def test_patches_with_explicit_pads_reassemble_the_layer(lib, kind, kernel, stride, variant):
    """Per-patch execution: each of 3x3 output patches reads its input window straight from the full
    input (in_row_stride), pads only the image-border sides, writes into the full output
    (out_row_stride); together they equal the whole layer."""
    rng = np.random.default_rng([kernel, stride])
    height, width, channels = 13, 11, 8
    cout = channels if kind == "depthwise" else 6
    q = random_requant(rng, cout, kernel * kernel * channels)
    x = rng.integers(-128, 128, (1, height, width, channels), dtype=np.int8)
    shape = (1, kernel, kernel, channels) if kind == "depthwise" else (cout, kernel, kernel, channels)
    filters = rng.integers(-127, 128, shape, dtype=np.int8)
    bias = rng.integers(-3000, 3000, cout).astype(np.int32)
    out_h, out_w = -(-height // stride), -(-width // stride)  # SAME
    total_h = max((out_h - 1) * stride + kernel - height, 0)
    total_w = max((out_w - 1) * stride + kernel - width, 0)
    same = (total_h // 2, total_h - total_h // 2, total_w // 2, total_w - total_w // 2)
    window = Window(kernel, kernel, stride, stride)
    whole = expected_conv(kind, Region(height, width, channels, out_h, out_w, cout, *same), window, q, x, filters,
                          bias)  # fmt: skip
    output = np.full(out_h * out_w * cout, SENTINEL, np.int8)
    flat = x.reshape(-1)
    for rows in np.array_split(np.arange(out_h), 3):
        for cols in np.array_split(np.arange(out_w), 3):
            # input rows the patch needs, clipped to the image; the clipped part becomes padding
            first_y, last_y = rows[0] * stride - same[0], rows[-1] * stride - same[0] + kernel - 1
            first_x, last_x = cols[0] * stride - same[2], cols[-1] * stride - same[2] + kernel - 1
            y0, y1, x0, x1 = max(first_y, 0), min(last_y, height - 1), max(first_x, 0), min(last_x, width - 1)
            region = Region(y1 - y0 + 1, x1 - x0 + 1, channels, len(rows), len(cols), cout, y0 - first_y,
                            last_y - y1, x0 - first_x, last_x - x1, in_row_stride=width * channels,
                            out_row_stride=out_w * cout)  # fmt: skip
            kernels.check_region(region, window)
            offset = (rows[0] * out_w + cols[0]) * cout
            lib.conv(kind, region, window, q, flat[(y0 * width + x0) * channels :], filters, bias,
                     output[offset:], variant, np.zeros(1024, np.int8))  # fmt: skip
    np.testing.assert_array_equal(output.reshape(whole.shape), whole)


@pytest.mark.parametrize("variant", VARIANTS)
def test_fully_connected_matches_reference(lib, variant):
    rng = np.random.default_rng(3)
    for batches in (1, 2, 3, 4):
        for in_features in (1, 4, 7, 33, 64):
            out_features = int(rng.choice([1, 2, 5, 10]))
            q = random_requant(rng, out_features, in_features, large_multiplier=in_features == 7)
            x = rng.integers(-128, 128, (batches, in_features), dtype=np.int8)
            weights = rng.integers(-127, 128, (out_features, in_features), dtype=np.int8)
            bias = rng.integers(-5000, 5000, out_features).astype(np.int32) if batches != 3 else None
            need = scratch_bytes("FULLY_CONNECTED", x.shape, weights.shape, optimized=variant == "dsp")
            scratch = np.full(need + GUARD, SENTINEL, np.int8)
            got = lib.fully_connected(q, x, weights, bias, variant, scratch)
            assert np.all(scratch[need:] == SENTINEL)
            np.testing.assert_array_equal(got, reference.fully_connected(x, weights, bias, conv_quant(q)))


def test_fixed_point_helpers_match_quant(lib):
    rng = np.random.default_rng(11)
    edges = [0, 1, -1, 2**31 - 1, -(2**31), 2**30, -(2**30), 12345, -12345]
    values = edges + rng.integers(-(2**31), 2**31, 300).tolist()
    multipliers = [0, 1, 2**30, 2**31 - 1, -(2**31)] + rng.integers(2**30, 2**31, 20).tolist()
    for a in values:
        for b in multipliers[:8]:
            assert lib.srdhm(a, b) == int(quant.saturating_rounding_doubling_high_mul(a, b)), (a, b)
        for exponent in (0, 1, 2, 7, 20, 31):
            assert lib.rounding_divide_by_pot(a, exponent) == int(quant.rounding_divide_by_pot(a, exponent))
    for acc in values[:120]:
        for multiplier in multipliers[1:4] + multipliers[5:8]:
            for shift in (-31, -12, -1, 0, 1, 3):
                want = int(quant.multiply_by_quantized_multiplier(acc, multiplier, shift))
                if abs(acc << max(shift, 0)) < 2**32:  # quant.py's int64 arithmetic is exact there
                    assert lib.multiply_by_quantized_multiplier(acc, multiplier, shift) == want, (acc, shift)
                    got = lib.requantize(acc, multiplier, shift, 5, -100, 90)
                    assert got == int(quant.requantize(np.array([acc]), multiplier, shift, 5, -100, 90)[0])


def test_fast_requantization_equals_the_two_step_one(lib):
    """The optimized kernels' folded rounding (pb_requantize_s8_fast) against TFLite's two steps."""
    rng = np.random.default_rng(13)
    accs = [0, 1, -1, 2, -2, 2**31 - 1, -(2**31), 2**30, -(2**30) - 1] + rng.integers(
        -(2**31), 2**31, 60
    ).tolist()
    accs += rng.integers(-5000, 5000, 60).tolist()
    multipliers = [0, 1, 2**30, 2**30 + 1, 2**31 - 1] + rng.integers(2**30, 2**31, 6).tolist()
    for acc in accs:
        for multiplier in multipliers:
            for shift in range(-31, 3):
                zero_point = int(rng.integers(-128, 128))
                args = (acc, multiplier, shift, zero_point, -128, 127)
                assert lib.requantize_fast(*args) == lib.requantize(*args), args
                assert lib.requantize_fast(acc, multiplier, shift, 3, -20, 40) == lib.requantize(
                    acc, multiplier, shift, 3, -20, 40
                )


def test_folded_channel_requantization_equals_the_two_step_one(lib):
    """The DSP conv kernels' per-channel requantization (zero point folded into the rounding term, SSAT or
    the activation clamp) against TFLite's two steps, over every shift it takes and the ones it refuses."""
    rng = np.random.default_rng(17)
    accs = [0, 1, -1, 2, -2, 2**31 - 1, -(2**31), 2**30, -(2**30) - 1, 2**29, -(2**29)]
    accs += rng.integers(-(2**31), 2**31, 40).tolist() + rng.integers(-20000, 20000, 60).tolist()
    multipliers = [0, 1, 2**30, 2**30 + 1, 2**31 - 1] + rng.integers(2**30, 2**31, 5).tolist()
    taken = set()
    for acc in accs:
        for multiplier in multipliers:
            for shift in range(-31, 3):
                for zero_point, act_min, act_max in ((int(rng.integers(-128, 128)), -128, 127), (-128, -128, 127),
                                                     (127, -128, 127), (3, -20, 40)):  # fmt: skip
                    args = (acc, multiplier, shift, zero_point, act_min, act_max)
                    got = lib.requantize_folded(*args)
                    if got is None:
                        assert not -23 <= shift <= -2, args
                        continue
                    taken.add(shift)
                    assert got == lib.requantize(*args), args
    assert taken == set(range(-23, -1))


def test_smmlar_requantization_of_the_doubled_sum_equals_the_two_step_one(lib):
    """pb_requant_x2 (SMMLAR on 2 * acc, the 1x1 / general conv kernels' form) against TFLite's two steps, at
    the ends of its acc range and of its shift range; it refuses |acc| >= 2^30 and shifts outside -23..-2."""
    rng = np.random.default_rng(19)
    accs = [0, 1, -1, 2, -2, 2**30 - 1, -(2**30) + 1, 2**30, -(2**30), 2**31 - 1, -(2**31), 2**29, -(2**29)]
    accs += rng.integers(-(2**30), 2**30, 40).tolist() + rng.integers(-20000, 20000, 60).tolist()
    multipliers = [0, 1, 2**30, 2**30 + 1, 2**31 - 1] + rng.integers(2**30, 2**31, 5).tolist()
    taken = set()
    for acc in accs:
        for multiplier in multipliers:
            for shift in range(-31, 3):
                for zero_point, act_min, act_max in ((int(rng.integers(-128, 128)), -128, 127), (-128, -128, 127),
                                                     (127, -128, 127), (3, -20, 40)):  # fmt: skip
                    args = (acc, multiplier, shift, zero_point, act_min, act_max)
                    got = lib.requantize_x2(*args)
                    if got is None:
                        assert not (-23 <= shift <= -2 and abs(acc) < 2**30), args
                        continue
                    taken.add(shift)
                    assert got == lib.requantize(*args), args
    assert taken == set(range(-23, -1))


@pytest.mark.parametrize("kind", ["avg", "max"])
def test_pools_match_reference_on_regions(lib, kind):
    rng = np.random.default_rng(5 if kind == "avg" else 6)
    for _ in range(40):
        fh, fw = int(rng.integers(1, 6)), int(rng.integers(1, 6))
        sh, sw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        channels = int(rng.integers(1, 12))
        pads = [
            int(rng.integers(0, fh)),
            int(rng.integers(0, fh)),
            int(rng.integers(0, fw)),
            int(rng.integers(0, fw)),
        ]
        in_h, in_w = (
            int(rng.integers(max(1, fh - pads[0] - pads[1]), 10)),
            int(rng.integers(max(1, fw - pads[2] - pads[3]), 10)),
        )
        # TFLite's pad never exceeds kernel - 1, so every window holds a real pixel
        out_h, out_w = (in_h + pads[0] + pads[1] - fh) // sh + 1, (in_w + pads[2] + pads[3] - fw) // sw + 1
        x = rng.integers(-128, 128, (1, in_h, in_w, channels), dtype=np.int8)
        act_min, act_max = (-128, 127) if rng.random() < 0.5 else sorted(rng.integers(-128, 128, 2).tolist())
        region = Region(in_h, in_w, channels, out_h, out_w, channels, *pads)
        output = np.zeros((1, out_h, out_w, channels), np.int8)
        try:
            pool = reference.average_pool2d if kind == "avg" else reference.max_pool2d
            want = pool(x, (fh, fw), (sh, sw), tuple(pads), int(act_min), int(act_max))
        except reference.ReferenceError:
            continue  # a window wholly in padding: TFLite rejects it too
        lib.pool(kind, region, Window(fh, fw, sh, sw), int(act_min), int(act_max), x, output)
        np.testing.assert_array_equal(output, want, err_msg=f"{region} {(fh, fw, sh, sw)}")


def test_mean_matches_reference(lib):
    rng = np.random.default_rng(8)
    for h, w in [(1, 1), (2, 3), (7, 7), (5, 13), (16, 16), (3, 1)]:
        channels = int(rng.integers(1, 20))
        x = rng.integers(-128, 128, (1, h, w, channels), dtype=np.int8)
        in_scale, out_scale = float(rng.uniform(0.01, 0.1)), float(rng.uniform(0.005, 0.1))
        in_zp, out_zp = int(rng.integers(-128, 128)), int(rng.integers(-128, 128))
        multiplier, shift = kernels.mean_params(in_scale, out_scale, h * w)
        got = lib.mean(x, in_zp, out_zp, multiplier, shift)
        want = reference.mean(x, [1, 2], True, in_scale, in_zp, out_scale, out_zp)
        np.testing.assert_array_equal(got, want.reshape(-1))


def _add_quant(rng) -> reference.AddQuant:
    s1, s2, so = (float(v) for v in rng.uniform(0.01, 0.2, 3))
    twice = 2 * max(s1, s2)
    m1, sh1 = quant.quantize_multiplier(s1 / twice)
    m2, sh2 = quant.quantize_multiplier(s2 / twice)
    mo, sho = quant.quantize_multiplier(twice / ((1 << 20) * so))
    act_min, act_max = (
        (-128, 127) if rng.random() < 0.5 else (int(rng.integers(-128, 0)), int(rng.integers(0, 128)))
    )
    zps = rng.integers(-128, 128, 3).tolist()
    return reference.AddQuant(-zps[0], -zps[1], zps[2], 20, m1, sh1, m2, sh2, mo, sho, act_min, act_max)


def test_add_and_mul_match_reference_with_broadcasting(lib):
    rng = np.random.default_rng(9)
    for _ in range(20):
        a = rng.integers(-128, 128, (1, 5, 4, 6), dtype=np.int8)
        for b_shape in [(1, 5, 4, 6), (1, 1, 1, 6), (1, 1, 1, 1)]:
            b = rng.integers(-128, 128, b_shape, dtype=np.int8)
            q = _add_quant(rng)
            np.testing.assert_array_equal(lib.add(q, a, b), reference.add(a, b, q))
            multiplier, shift = quant.quantize_multiplier(float(rng.uniform(0.0005, 0.05)))
            zps = rng.integers(-128, 128, 3).tolist()
            mq = reference.MulQuant(
                -zps[0], -zps[1], zps[2], multiplier, shift, -128, int(rng.integers(0, 128))
            )
            np.testing.assert_array_equal(lib.mul(mq, a, b), reference.mul(a, b, mq))


def test_add_dsp_kernel_equals_the_portable_one(lib):
    """pb_add_s8_dsp (one SMMLAR per operand, the conv epilogue's requantization) against the portable
    kernel and the reference: random scales (equal ones too: both operands then have shift 0), zero points,
    activations and broadcasts; and output scales outside the prepared range (the portable fallback)."""
    rng = np.random.default_rng(24)
    a = rng.integers(-128, 128, (1, 7, 5, 9), dtype=np.int8)
    extremes = np.array([-128, 127, 0, -1, 1], np.int8)
    a.reshape(-1)[: extremes.size] = extremes
    for trial in range(60):
        q = _add_quant(rng)
        if trial % 5 == 0:  # equal input scales: both multipliers 2^30 with shift 0
            q = dataclasses.replace(q, input2_multiplier=q.input1_multiplier, input2_shift=q.input1_shift)
        if trial % 7 == 0:  # an output multiplier whose shift the prepared form does not take
            q = dataclasses.replace(q, output_shift=int(rng.choice([0, -1, -25])))
        for b_shape in [(1, 7, 5, 9), (1, 1, 1, 9), (1, 7, 1, 1)]:
            b = rng.integers(-128, 128, b_shape, dtype=np.int8)
            expected = lib.add(q, a, b, variant="portable")
            np.testing.assert_array_equal(lib.add(q, a, b, variant="dsp"), expected)
            np.testing.assert_array_equal(expected, reference.add(a, b, q))


def test_softmax_matches_reference(lib):
    rng = np.random.default_rng(10)
    for depth in (1, 2, 10, 37, 100):
        for input_scale, beta in [(0.1, 1.0), (0.05, 1.0), (0.5, 1.0), (0.02, 2.0), (1 / 16, 1.0)]:
            x = rng.integers(-128, 128, (3, depth), dtype=np.int8)
            x[0, :] = x[0, 0]  # a row of equal values
            sq = reference.softmax_quant(input_scale, beta)
            got = lib.softmax(x, sq.input_multiplier, sq.input_left_shift, sq.diff_min)
            np.testing.assert_array_equal(
                got, reference.softmax(x, sq), err_msg=f"{depth} {input_scale} {beta}"
            )


def test_requantize_pad_concat_resize_match_reference(lib):
    rng = np.random.default_rng(12)
    x = rng.integers(-128, 128, (1, 4, 5, 3), dtype=np.int8)
    for in_scale, out_scale in [(0.1, 0.05), (0.02, 0.1), (0.05, 0.05)]:
        multiplier, shift = quant.quantize_multiplier(in_scale / out_scale)
        np.testing.assert_array_equal(lib.requantize_tensor(x, 3, -7, multiplier, shift),
                                      reference.requantize_int8(x, in_scale, 3, out_scale, -7))  # fmt: skip
    paddings = np.array([[0, 0], [1, 2], [0, 3], [2, 1]])
    np.testing.assert_array_equal(lib.pad(x, paddings, -9), reference.pad(x, paddings, -9))
    y = rng.integers(-128, 128, (1, 4, 5, 2), dtype=np.int8)
    for axis in (3, 2, 1):
        y_axis = np.moveaxis(np.moveaxis(y, 3, axis)[..., :3], axis, axis) if axis != 3 else y
        y_axis = y if axis == 3 else rng.integers(-128, 128, tuple(2 if d == axis else s for d, s in enumerate(x.shape)),
                                                  dtype=np.int8)  # fmt: skip
        multiplier, shift = quant.quantize_multiplier(0.05 / 0.08)
        got = lib.concat([x, y_axis], axis, [(0, 0, 0), (4, multiplier, shift)], -2)
        want = reference.concatenation([x, y_axis], axis, [(0.08, -2), (0.05, 4)], (0.08, -2))
        np.testing.assert_array_equal(got, want)
    for out_h, out_w in [(8, 10), (3, 7), (1, 1), (9, 4)]:
        for align_corners, half_pixel in [(False, False), (True, False), (False, True)]:
            np.testing.assert_array_equal(
                lib.resize("nearest", x, x.shape[1:3], (out_h, out_w), align_corners, half_pixel),
                reference.resize_nearest_neighbor(x, (out_h, out_w), align_corners, half_pixel),
            )


def test_region_check_names_the_bad_axis(lib):
    window = Window(3, 3, 2, 2)
    good = Region(9, 9, 4, 5, 5, 4, 1, 1, 1, 1)
    assert lib.region_check(good, window) == 0
    kernels.check_region(good, window)
    bad_rows = Region(9, 9, 4, 4, 5, 4, 1, 1, 1, 1)
    assert lib.region_check(bad_rows, window) == 1
    with pytest.raises(KernelError, match="4 output rows do not follow from 9 input rows"):
        kernels.check_region(bad_rows, window)
    assert lib.region_check(Region(9, 9, 4, 5, 6, 4, 1, 1, 1, 1), window) == 2
    assert lib.region_check(Region(9, 9, 4, 5, 5, 4, -1, 1, 1, 1), window) == 3


def _scratch_touched(lib, call, need: int) -> int:
    """How far into its scratch a kernel writes: run it twice over different fillers, take the last byte
    either run changed (the kernel's real use, measured, not the rule restated)."""
    touched = np.zeros(need + GUARD, bool)
    for filler in (SENTINEL, -0x3C):
        scratch = np.full(need + GUARD, filler, np.int8)
        call(scratch)
        touched |= scratch != filler
    return int(np.flatnonzero(touched)[-1]) + 1 if touched.any() else 0


@pytest.mark.parametrize(
    "kind, kernel, cin, cout", [("conv2d", 3, 16, 32), ("conv2d", 3, 3, 8), ("conv2d", 5, 4, 8),
                                ("conv1x1", 1, 16, 32), ("depthwise", 3, 16, 16), ("depthwise", 7, 8, 8)]
)  # fmt: skip
def test_scratch_bytes_is_what_the_dsp_kernels_touch(lib, kind, kernel, cin, cout):
    """scratch_bytes() against the C: never less than the kernel writes (else it would overflow into a
    neighbouring buffer), and no more than that plus the alignment slack (1x1: the patch it skips)."""
    rng = np.random.default_rng(kernel * 100 + cin)
    cout = cin if kind == "depthwise" else cout
    pad, size = kernel // 2, 16 if (kind, kernel) == ("depthwise", 7) else 8  # 7x7 at 16: the plane path
    x = rng.integers(-128, 128, (1, size, size, cin), dtype=np.int8)
    filters = rng.integers(
        -127, 128, (1 if kind == "depthwise" else cout, kernel, kernel, cin), dtype=np.int8
    )
    region = Region(size, size, cin, size, size, cout, pad, pad, pad, pad, in_row_stride=size * cin,
                    out_row_stride=size * cout)  # fmt: skip
    window, q = Window(kernel, kernel, 1, 1, 1, 1), random_requant(rng, cout, kernel * kernel * cin)
    op_kind = "DEPTHWISE_CONV_2D" if kind == "depthwise" else "CONV_2D"
    need = scratch_bytes(op_kind, x.shape, filters.shape, optimized=True)
    output = np.zeros(size * size * cout, np.int8)
    used = _scratch_touched(
        lib,
        lambda scratch: lib.conv(
            kind, region, window, q, x.reshape(-1), filters, None, output, "dsp", scratch
        ),
        need,
    )
    skipped_patch = kernel * kernel * cin if kind == "conv1x1" else 0
    if kind == "depthwise" and kernel == 7:  # the plane path uses its part of the larger rule
        assert used == kernels.depthwise_plane_bytes(size, kernel, kernel) <= need - kernels.ALIGNMENT_SLACK
    elif kind == "depthwise":  # 3x3 on 8 x 8: the plane rings and the second channel's values
        # the host's kernel takes one channel a pass (one ring), the device's two (both rings and those values: the
        # device suite, tests/codegen/test_kernels_device.py, runs that path)
        rings = kernels.depthwise_plane3_bytes(size) - kernels.DEPTHWISE_PLANE3_SECOND_BYTES
        assert 2 * used == rings < kernels.depthwise_plane3_bytes(size) <= need - kernels.ALIGNMENT_SLACK
    else:
        assert used == need - kernels.ALIGNMENT_SLACK - skipped_patch
    assert scratch_bytes(op_kind, x.shape, filters.shape, optimized=False) == 0
    with pytest.raises(KernelError, match="filter shape"):
        scratch_bytes(op_kind, x.shape, optimized=True)


@pytest.mark.parametrize("batches", [1, 4])
def test_fully_connected_scratch_bytes_is_what_the_dsp_kernel_touches(lib, batches):
    rng = np.random.default_rng(batches)
    q = random_requant(rng, 10, 64)
    x = rng.integers(-128, 128, (batches, 64), dtype=np.int8)
    weights = rng.integers(-127, 128, (10, 64), dtype=np.int8)
    need = scratch_bytes("FULLY_CONNECTED", x.shape, weights.shape, optimized=True)
    used = _scratch_touched(
        lib, lambda scratch: lib.fully_connected(q, x, weights, None, "dsp", scratch), need
    )
    assert used == need - kernels.ALIGNMENT_SLACK


def test_region_c_initializer_names_every_field():
    text = Region(4, 5, 3, 2, 2, 8, 1, 0, 1, 0, in_row_stride=30).c_initializer()
    assert text == ("{.in_h = 4, .in_w = 5, .in_c = 3, .in_row_stride = 30, .pad_top = 1, .pad_bottom = 0, "
                    ".pad_left = 1, .pad_right = 0, .out_h = 2, .out_w = 2, .out_c = 8, .out_row_stride = 0}")  # fmt: skip
    assert Window(3, 3, 2, 2).c_initializer() == (
        "{.kernel_h = 3, .kernel_w = 3, .stride_h = 2, .stride_w = 2, .dilation_h = 1, .dilation_w = 1}"
    )


def _header_structs(text: str) -> dict[str, list[tuple[str, str]]]:
    """Every ``typedef struct { ... } name;`` of a C header as its (field, C type) list, in order."""
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    structs = {}
    for body, name in re.findall(r"typedef struct\s*\{(.*?)\}\s*(\w+)\s*;", text, flags=re.S):
        fields = []
        for declaration in filter(None, (" ".join(d.split()) for d in body.split(";"))):
            base, declarators = re.fullmatch(r"((?:const )?\w+) (.*)", declaration).groups()
            for declarator in declarators.split(","):
                stars = declarator.count("*")
                fields.append(
                    (declarator.replace("*", "").strip(), base + (" " + "*" * stars if stars else ""))
                )
        structs[name] = fields
    return structs


def _struct_mismatches(header_text: str) -> list[str]:
    """Where the header's parameter structs differ from cparams.STRUCTS (name, C type, order)."""
    header = _header_structs(header_text)
    problems = []
    for struct in cparams.STRUCTS:
        declared = [(f.name, f.ctype) for f in struct.fields]
        if header.get(struct.typedef) != declared:
            problems.append(f"{struct.typedef}: header {header.get(struct.typedef)} != cparams {declared}")
    return problems


def test_pb_kernels_h_declares_the_parameter_structs_of_cparams_field_for_field():
    header = (kernels.KERNELS_DIR / kernels.PUBLIC_HEADER).read_text()
    assert _struct_mismatches(header) == []
    # The check sees a reordered field, a changed type and a missing struct.
    swapped = header.replace("int32_t input1_offset, input2_offset;", "int32_t input2_offset, input1_offset;")
    assert _struct_mismatches(swapped) == [_struct_mismatches(swapped)[0]]
    assert _struct_mismatches(swapped)[0].startswith("pb_add_params:")
    retyped = header.replace("const int32_t *shift;", "const int8_t *shift;")
    assert [p.split(":")[0] for p in _struct_mismatches(retyped)] == ["pb_requant"]
    assert [p.split(":")[0] for p in _struct_mismatches(header.replace("} pb_window;", "} pb_windows;"))] == [
        "pb_window"
    ]


def test_ctypes_structs_and_c_initializers_come_from_the_one_declaration():
    assert [name for name, _ in cparams.PB_REGION.ctypes_type._fields_] == list(cparams.PB_REGION.names)
    assert ctypes.sizeof(cparams.PB_ADD_PARAMS.ctypes_type) == 4 * len(dataclasses.fields(reference.AddQuant))
    assert cparams.PB_MUL_PARAMS.names == tuple(f.name for f in dataclasses.fields(reference.MulQuant))
    with pytest.raises(ValueError, match=r"pb_mul_params: values for \['act_max'\] missing"):
        cparams.PB_MUL_PARAMS.initializer({n: 0 for n in cparams.PB_MUL_PARAMS.names if n != "act_max"})


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize(
    ("kind", "kernel"), [("conv1x1", 1), ("conv2d", 3), ("depthwise", 3), ("depthwise", 5)]
)
def test_large_biases_take_the_exact_path_bit_exactly(lib, kind, kernel, variant):
    """Biases near 2**30 push sums past the optimized kernels' fast requantization bound (|acc| < 2**30),
    so those channels must take the slow exact path; outputs stay bit-exact with the reference."""
    rng = np.random.default_rng([kernel, len(kind), len(variant), 30])
    for trial in range(6):
        region, window, q, x, held, filters, _ = conv_case(rng, kind, kernel, 1)
        cout = region.out_c
        sign = rng.choice([-1, 1], cout)
        bias = (sign * rng.integers(2**29, 2**30 + 2**22, cout)).astype(np.int32)
        # multipliers ~2**-23 map such sums into the int8 range (some saturate, most do not)
        multipliers = rng.integers(2**30, 2**31 - 1, cout).astype(np.int64)
        shifts = rng.integers(-24, -20, cout).astype(np.int64)
        q = Requant(q.input_zero_point, q.output_zero_point, multipliers, shifts, -128, 127)
        got = run_region(lib, kind, region, window, q, held, filters, bias, variant)
        want = expected_conv(kind, region, window, q, x, filters, bias)
        np.testing.assert_array_equal(got, want, err_msg=f"{kind} {region} trial {trial}")


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize(("kind", "kernel"), [("conv1x1", 1), ("conv2d", 3)])
def test_every_channel_shift_requantizes_bit_exactly(lib, kind, kernel, variant):
    """The conv kernels' channel table on shifts of every form: -1 and zero multipliers (the SMMLAR form's
    edge), -24..-31 (its two-shift form, requant_x2_big: a dead channel's tiny multiplier), 0 with a
    nonzero multiplier (the exact path), next to ordinary ones, with small biases (sums far from 2**30);
    per-tensor full-range activation and a clamped one."""
    rng = np.random.default_rng([kernel, len(kind), len(variant), 31])
    for trial in range(8):
        region, window, q, x, held, filters, bias = conv_case(rng, kind, kernel, 1)
        cout = region.out_c
        shifts = rng.choice([-1, -5, -8, -24, -27, -31, 0], cout).astype(np.int64)
        if trial % 2 == 0:
            shifts[shifts == 0] = -7  # no exact-path channel: the whole call takes the table's forms
        multipliers = rng.integers(2**30, 2**31 - 1, cout).astype(np.int64)
        multipliers[rng.random(cout) < 0.2] = 0
        # the big shifts with multipliers that reach past zero: |acc * m| about 2^(30 + e)
        big = shifts <= -24
        multipliers[big] = rng.integers(2**30, 2**31 - 1, int(big.sum()))
        act = (-128, 127) if trial % 4 < 2 else (-100, 90)
        q = Requant(q.input_zero_point, int(rng.integers(-128, 128)), multipliers, shifts, *act)
        if kind == "conv2d" and trial % 3 == 0:
            bias = (rng.choice([-1, 1], cout) * rng.integers(2**28, 2**29, cout)).astype(np.int32)
        got = run_region(lib, kind, region, window, q, held, filters, bias, variant)
        want = expected_conv(kind, region, window, q, x, filters, bias)
        np.testing.assert_array_equal(got, want, err_msg=f"{kind} {region} trial {trial}")


@pytest.mark.parametrize("kind", ["bilinear", "nearest", "depth_to_space", "space_to_depth"])
def test_tile_kernels_match_reference_on_every_tile(lib, kind):
    """The tile kernels (resizes, depth/space) on random tiles of random maps, each fed only the input window that
    geometry.tile_input_window names: equal to the whole-map reference cut to the tile (and the whole map
    is one tile)."""
    from harness.ir.geometry import TileOrigin, resize_bilinear_taps, resize_nearest_source

    rng = np.random.default_rng(len(kind))
    for trial in range(30):
        in_h, in_w, c = (int(v) for v in rng.integers(1, 9, 3))
        align, half = [(False, False), (True, False), (False, True)][trial % 3]
        if kind in ("bilinear", "nearest"):
            out_h, out_w = (int(v) for v in rng.integers(1, 19, 2))
            taps = resize_bilinear_taps if kind == "bilinear" else resize_nearest_source
            axes = []
            for in_size, out_size in ((in_h, out_h), (in_w, out_w)):
                found = taps(in_size, out_size, align, half)
                lower, upper = (found[0], found[1]) if kind == "bilinear" else (found, found)
                axes.append((lower, upper))
        else:
            block = int(rng.integers(2, 4))
            if kind == "space_to_depth":
                in_h, in_w = in_h * block, in_w * block
            else:
                c *= block * block
        x = rng.integers(-128, 128, (1, in_h, in_w, c), dtype=np.int8)
        if kind == "bilinear":
            whole = reference.resize_bilinear(x, (in_h, in_w), (out_h, out_w), align, half)
        elif kind == "nearest":
            whole = reference.resize_nearest_neighbor(x, (out_h, out_w), align, half)
        elif kind == "depth_to_space":
            whole = reference.depth_to_space(x, block)
        else:
            whole = reference.space_to_depth(x, block)
        out_h, out_w = whole.shape[1:3]
        r0, c0 = int(rng.integers(0, out_h)), int(rng.integers(0, out_w))
        r1, c1 = int(rng.integers(r0 + 1, out_h + 1)), int(rng.integers(c0 + 1, out_w + 1))
        if kind in ("bilinear", "nearest"):
            (y_lo, y_hi), (x_lo, x_hi) = axes
            y0, y1 = int(y_lo[r0:r1].min()), int(y_hi[r0:r1].max()) + 1
            x0, x1 = int(x_lo[c0:c1].min()), int(x_hi[c0:c1].max()) + 1
        elif kind == "depth_to_space":
            y0, y1, x0, x1 = r0 // block, (r1 - 1) // block + 1, c0 // block, (c1 - 1) // block + 1
        else:
            y0, y1, x0, x1 = r0 * block, r1 * block, c0 * block, c1 * block
        window = np.ascontiguousarray(x[:, y0:y1, x0:x1])
        tile = TileOrigin((r0, r1), (c0, c1), y0, x0)
        if kind in ("bilinear", "nearest"):
            got = lib.resize(kind, window, (in_h, in_w), (out_h, out_w), align, half, tile)
        elif kind == "depth_to_space":
            got = lib.depth_to_space(window, block, tile)
        else:
            got = lib.space_to_depth(window, block, tile)
        np.testing.assert_array_equal(got, whole[:, r0:r1, c0:c1], err_msg=f"{kind} trial {trial}")


@pytest.mark.parametrize("variant", VARIANTS)
def test_transpose_conv_kernels_match_reference(lib, variant):
    """pb_transpose_conv_s8 (portable; DSP: SMLAD over the input channels) on random shapes, strides and
    paddings equals reference.transpose_conv2d, on the whole map and on a random tile of it."""
    from harness.ir.geometry import TileOrigin, same_pads
    from harness.reference.ops import transpose_conv2d

    rng = np.random.default_rng(len(variant))
    for trial in range(12):
        in_h, in_w = (int(v) for v in rng.integers(1, 6, 2))
        cin, cout = int(rng.choice([1, 3, 4, 8, 13])), int(rng.integers(1, 6))
        kh, kw, sh, sw = (int(v) for v in rng.integers(1, 5, 4))
        padding = "SAME" if trial % 2 else "VALID"
        out_h = in_h * sh if padding == "SAME" else (in_h - 1) * sh + kh
        out_w = in_w * sw if padding == "SAME" else (in_w - 1) * sw + kw
        top = same_pads(out_h, kh, sh, 1)[0] if padding == "SAME" else 0
        left = same_pads(out_w, kw, sw, 1)[0] if padding == "SAME" else 0
        q = random_requant(rng, cout, kh * kw * cin, large_multiplier=trial == 11)
        x = rng.integers(-128, 128, (1, in_h, in_w, cin), dtype=np.int8)
        filters = rng.integers(-127, 128, (cout, kh, kw, cin), dtype=np.int8)
        bias = rng.integers(-3000, 3000, cout).astype(np.int32) if trial % 3 else None
        want = transpose_conv2d(x, filters, bias, conv_quant(q), (out_h, out_w), (sh, sw), (top, left))
        shape = dict(in_h=in_h, in_w=in_w, in_c=cin, out_h=out_h, out_w=out_w, out_c=cout, kernel_h=kh,
                     kernel_w=kw, stride_h=sh, stride_w=sw, pad_top=top, pad_left=left)  # fmt: skip
        whole = TileOrigin((0, out_h), (0, out_w), 0, 0)
        np.testing.assert_array_equal(lib.transpose_conv(shape, q, x, filters, bias, whole, variant), want)
        r0, c0 = int(rng.integers(0, out_h)), int(rng.integers(0, out_w))
        r1, c1 = int(rng.integers(r0 + 1, out_h + 1)), int(rng.integers(c0 + 1, out_w + 1))
        tile = TileOrigin((r0, r1), (c0, c1), 0, 0)
        got = lib.transpose_conv(shape, q, x, filters, bias, tile, variant)
        np.testing.assert_array_equal(got, want[:, r0:r1, c0:c1], err_msg=f"trial {trial}")


def test_zoo_depthwise_shapes_name_every_layer_once():
    """bench_kernels --depthwise: one call per distinct shape, every depthwise layer of the model under exactly
    one of them, each call's region consistent with its window."""
    from harness.bench_kernels import DEPTHWISE_CHANNELS, zoo_depthwise_calls
    from models import get_model

    assert len({call.name for call, _ in zoo_depthwise_calls()}) == len(zoo_depthwise_calls())  # timed apart
    shapes = zoo_depthwise_calls(("mcunet-in0",))
    layers = sorted(layer for _, names in shapes for layer in names)
    graph = get_model("mcunet-in0")
    assert layers == sorted(f"mcunet-in0:{op.name}" for op in graph.ops if op.kind == "DEPTHWISE_CONV_2D")
    for call, _ in shapes:
        r, w = call.region, call.window
        assert r.in_c == r.out_c <= DEPTHWISE_CHANNELS and call.input.shape == (1, r.in_h, r.in_w, r.in_c)
        assert (r.in_h + r.pad_top + r.pad_bottom - w.kernel_h) // w.stride_h + 1 == r.out_h


def test_conv_channel_table_flags_what_every_call_of_the_op_takes():
    """The channel table's first word (pb_conv_dsp.c PB_PREPARED_*): the doubling it was made for, whether every
    call takes it (the kernel on the core then takes the table untested), only with that and a form the
    assembly takes, whether every call is a dense 1x1 call (conv_dense_call), and whether the filter is padded."""
    m, s = np.array([1 << 30, 1 << 30], np.int32), np.array([-7, -8], np.int32)
    table = kernels.conv_channel_table(m, s, None, 0, 16, True, every_call=True, dense=True)
    assert table[0] == 1 | 2 | 4 and table[1] == 2  # PB_REQ_DOUBLED
    # not every call's: no mark
    assert kernels.conv_channel_table(m, s, None, 0, 16, False, dense=True)[0] == 0
    assert kernels.conv_channel_table(m, s, None, 0, 16, False, every_call=True)[0] == 2
    c_form = kernels.conv_channel_table(m, np.array([0, -8], np.int32), None, 0, 16, False, every_call=True,
                                        dense=True)  # fmt: skip
    assert c_form[1] == 0 and c_form[0] == 2  # a channel in the C loop: not dense_call's
    # padded (bit 3) only with a k % 4 tail: the last mark (PB_LAST_SHIFT in the shift, entry word 2) then on the
    # last channel, not the one before, and the filter array conv_filter_padding bytes longer
    tail = kernels.conv_channel_table(m, s, None, 0, 27, False, every_call=True)
    padded = kernels.conv_channel_table(m, s, None, 0, 27, False, every_call=True, padded=True)
    assert padded[0] == 2 | 8 and kernels.conv_channel_table(m, s, None, 0, 16, False, padded=True)[0] == 0
    assert tail[2 + 2] & 0x200 and not tail[2 + 4 + 2] & 0x200
    assert padded[2 + 4 + 2] & 0x200 and not padded[2 + 2] & 0x200
    assert [kernels.conv_filter_padding(k) for k in (27, 28, 29, 30)] == [1, 0, 3, 2]
    dense = Region(3, 5, 16, 3, 5, 8)
    assert kernels.conv_dense_call(dense, Window(1, 1), -128, 127, 16)
    assert not kernels.conv_dense_call(dense, Window(1, 1), -128, 100, 16)  # a clamp
    assert not kernels.conv_dense_call(dense, Window(1, 1, 2, 2), -128, 127, 16)  # a stride
    rows_apart = dataclasses.replace(dense, out_row_stride=160)  # rows of a bigger output
    assert not kernels.conv_dense_call(rows_apart, Window(1, 1), -128, 127, 16)
    assert not kernels.conv_dense_call(dataclasses.replace(dense, in_c=18), Window(1, 1), -128, 127, 18)
