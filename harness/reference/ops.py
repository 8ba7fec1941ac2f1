# SPDX-License-Identifier: Apache-2.0
"""The reference's op kernels on numpy arrays: TFLite's integer arithmetic, one function per op."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from harness.ir import quant
from harness.ir.geometry import (
    RESIZE_FRACTION_BITS,
    Pads,
    TileOrigin,
    reach,
    resize_bilinear_taps,
    resize_nearest_source,
    window_count,
)
from harness.reference.quantparams import (
    FC_DOUBLE,
    FC_FIXED,
    FC_REQUANT_MODES,
    AddQuant,
    ConvQuant,
    MulQuant,
    ReferenceError,
)

# --- helpers ------------------------------------------------------------------------------------


def wrap_int32(x: np.ndarray) -> np.ndarray:
    """Two's-complement wrap of int64 values to int32 range (what TFLite's int32 accumulator does)."""
    x = np.asarray(x, np.int64)
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def _to_int8(values: np.ndarray, lo: int, hi: int) -> np.ndarray:
    return np.clip(values, lo, hi).astype(np.int8)


def _check_fc_requant(requant: str) -> None:
    if requant not in FC_REQUANT_MODES:
        raise ReferenceError(f"fc_requant must be one of {FC_REQUANT_MODES}, got {requant!r}")


def _check_4d(x: np.ndarray, what: str) -> None:
    if x.ndim != 4:
        raise ReferenceError(f"{what}: expected an NHWC activation of rank 4, got shape {x.shape}")


def _check_pads(pads: Sequence[int], what: str) -> Pads:
    if len(pads) != 4 or any(int(p) < 0 for p in pads):
        raise ReferenceError(
            f"{what}: pads must be four non-negative ints (top, bottom, left, right), got {pads}"
        )
    top, bottom, left, right = (int(p) for p in pads)
    return top, bottom, left, right


def _out_size(size: int, pad_sum: int, kernel: int, stride: int, dilation: int, what: str) -> int:
    """geometry.window_count, with an error where the padded input is smaller than one window."""
    if size + pad_sum < reach(kernel, dilation):
        raise ReferenceError(
            f"{what}: the padded input ({size} + {pad_sum}) is smaller than the kernel's reach "
            f"({reach(kernel, dilation)})"
        )
    return window_count(size + pad_sum, kernel, stride, dilation)


def _windows(xp: np.ndarray, kh: int, kw: int, stride, dilation, out_h: int, out_w: int):
    """Yield (i, j, view) with view[n, oh, ow, c] = xp[n, oh*sh + i*dh, ow*sw + j*dw, c]."""
    sh, sw = stride
    dh, dw = dilation
    for i in range(kh):
        for j in range(kw):
            y0, x0 = i * dh, j * dw
            yield i, j, xp[:, y0 : y0 + (out_h - 1) * sh + 1 : sh, x0 : x0 + (out_w - 1) * sw + 1 : sw, :]


def requantize_acc(acc: np.ndarray, q: ConvQuant, requant: str = FC_FIXED) -> np.ndarray:
    """int32 accumulator (already holding the bias) -> int8, per output channel on the last axis."""
    acc = wrap_int32(acc)
    if requant == FC_DOUBLE:
        scaled = quant.std_round(acc.astype(np.float64) * q.effective_scales)
        scaled = np.clip(scaled, quant.INT32_MIN, quant.INT32_MAX).astype(np.int64)
    else:
        scaled = quant.multiply_by_quantized_multiplier(acc, q.multipliers, q.shifts)
    return _to_int8(scaled + q.output_zero_point, q.act_min, q.act_max)


# --- convolutions -------------------------------------------------------------------------------


def conv2d(
    x: np.ndarray,
    filters: np.ndarray,
    bias: np.ndarray | None,
    q: ConvQuant,
    stride: tuple[int, int] = (1, 1),
    dilation: tuple[int, int] = (1, 1),
    pads: Pads = (0, 0, 0, 0),
) -> np.ndarray:
    """CONV_2D per-channel int8 (TFLite ConvPerChannel). filters [Cout, KH, KW, Cin/groups]."""
    _check_4d(x, "CONV_2D")
    top, bottom, left, right = _check_pads(pads, "CONV_2D")
    cout, kh, kw, cin_group = filters.shape
    n, h, w, cin = x.shape
    groups = cin // cin_group if cin_group > 0 else 0
    if groups == 0 or cin % cin_group or cout % groups:
        raise ReferenceError(
            f"CONV_2D: input depth {cin} is not a whole number of groups of the filter depth {cin_group} "
            f"that also divides the {cout} output channels"
        )
    out_h = _out_size(h, top + bottom, kh, stride[0], dilation[0], "CONV_2D")
    out_w = _out_size(w, left + right, kw, stride[1], dilation[1], "CONV_2D")
    # Padding the offset input with 0 is padding the raw input with its zero point.
    xo = x.astype(np.int32) - np.int32(q.input_zero_point)
    xp = np.pad(xo, ((0, 0), (top, bottom), (left, right), (0, 0)))
    # im2col with column order (kh, kw, cin) to match the filter layout.
    cols = np.empty((n, out_h, out_w, kh, kw, cin), np.int32)
    for i, j, view in _windows(xp, kh, kw, stride, dilation, out_h, out_w):
        cols[:, :, :, i, j, :] = view
    rows = n * out_h * out_w
    per_group = cout // groups
    acc = np.empty((rows, cout), np.int32)
    for g in range(groups):
        c0 = g * cin_group
        lhs = cols[..., c0 : c0 + cin_group].reshape(rows, kh * kw * cin_group)
        rhs = filters[g * per_group : (g + 1) * per_group].reshape(per_group, -1).astype(np.int32)
        acc[:, g * per_group : (g + 1) * per_group] = lhs @ rhs.T
    acc = acc.astype(np.int64)
    if bias is not None:
        acc += np.asarray(bias, np.int64)
    return requantize_acc(acc, q).reshape(n, out_h, out_w, cout)


def depthwise_conv2d(
    x: np.ndarray,
    filters: np.ndarray,
    bias: np.ndarray | None,
    q: ConvQuant,
    stride: tuple[int, int] = (1, 1),
    dilation: tuple[int, int] = (1, 1),
    pads: Pads = (0, 0, 0, 0),
    depth_multiplier: int = 1,
) -> np.ndarray:
    """DEPTHWISE_CONV_2D per-channel int8 (TFLite DepthwiseConvPerChannel). filters [1, KH, KW, C*dm]."""
    _check_4d(x, "DEPTHWISE_CONV_2D")
    top, bottom, left, right = _check_pads(pads, "DEPTHWISE_CONV_2D")
    _, kh, kw, cout = filters.shape
    n, h, w, cin = x.shape
    if cin * depth_multiplier != cout:
        raise ReferenceError(
            f"DEPTHWISE_CONV_2D: input depth {cin} x depth multiplier {depth_multiplier} != filter depth {cout}"
        )
    out_h = _out_size(h, top + bottom, kh, stride[0], dilation[0], "DEPTHWISE_CONV_2D")
    out_w = _out_size(w, left + right, kw, stride[1], dilation[1], "DEPTHWISE_CONV_2D")
    xo = x.astype(np.int32) - np.int32(q.input_zero_point)
    if depth_multiplier > 1:
        xo = np.repeat(xo, depth_multiplier, axis=3)  # output channel c*dm + m reads input channel c
    xp = np.pad(xo, ((0, 0), (top, bottom), (left, right), (0, 0)))
    w32 = filters[0].astype(np.int32)
    # |product| <= 255 * 128, so int32 holds any realistic kernel's sum exactly.
    acc = np.zeros((n, out_h, out_w, cout), np.int32)
    for i, j, view in _windows(xp, kh, kw, stride, dilation, out_h, out_w):
        acc += view * w32[i, j]
    acc = acc.astype(np.int64)
    if bias is not None:
        acc += np.asarray(bias, np.int64)
    return requantize_acc(acc, q)


def transpose_conv2d(
    x: np.ndarray,
    filters: np.ndarray,
    bias: np.ndarray | None,
    q: ConvQuant,
    out_hw: tuple[int, int],
    stride: tuple[int, int],
    pad_before: tuple[int, int],
) -> np.ndarray:
    """TRANSPOSE_CONV per-channel int8 (reference_integer_ops::TransposeConv): each input pixel's
    products scatter into an int32 output accumulator at (in * stride - pad_before + tap); filters
    [Cout, KH, KW, Cin]; then bias, requantization and the activation clamp per output channel."""
    _check_4d(x, "TRANSPOSE_CONV")
    n, h, w, cin = x.shape
    cout, kh, kw, filter_cin = filters.shape
    if filter_cin != cin:
        raise ReferenceError(f"TRANSPOSE_CONV: filter depth {filter_cin} != input depth {cin}")
    out_h, out_w = out_hw
    sh, sw = stride
    top, left = pad_before
    xo = x.astype(np.int64) - q.input_zero_point
    # [n, h, w, cin] x [cout, kh, kw, cin] -> the contribution of every input pixel to every tap.
    products = np.einsum("nhwc,okjc->nhwkjo", xo, filters.astype(np.int64))
    full_h, full_w = (h - 1) * sh + kh, (w - 1) * sw + kw
    acc = np.zeros((n, max(full_h, top + out_h), max(full_w, left + out_w), cout), np.int64)
    for i in range(kh):
        for j in range(kw):
            acc[:, i : i + (h - 1) * sh + 1 : sh, j : j + (w - 1) * sw + 1 : sw, :] += products[
                :, :, :, i, j, :
            ]
    acc = wrap_int32(acc[:, top : top + out_h, left : left + out_w, :])
    if bias is not None:
        acc = acc + np.asarray(bias, np.int64)
    return requantize_acc(acc, q)


def fully_connected(
    x: np.ndarray,
    weights: np.ndarray,
    bias: np.ndarray | None,
    q: ConvQuant,
    keep_dims: bool = False,
    requant: str = FC_FIXED,
) -> np.ndarray:
    """FULLY_CONNECTED int8: x flattened to [batches, Cin], weights [Cout, Cin]; requant: FC_FIXED/FC_DOUBLE."""
    _check_fc_requant(requant)
    cout, cin = weights.shape
    if x.size % cin:
        raise ReferenceError(f"FULLY_CONNECTED: input of {x.size} elements is not a multiple of depth {cin}")
    lhs = x.reshape(-1, cin).astype(np.int32) - np.int32(q.input_zero_point)
    rhs = weights.astype(np.int32) - np.int32(q.filter_zero_point)
    acc = (lhs @ rhs.T).astype(np.int64)
    if bias is not None:
        acc += np.asarray(bias, np.int64)
    out = requantize_acc(acc, q, requant)
    if keep_dims:
        return out.reshape(*x.shape[:-1], cout)
    return out


# --- pooling ------------------------------------------------------------------------------------


def _pool_geometry(x: np.ndarray, filter_hw, stride, pads: Pads, kind: str) -> tuple[Pads, int, int]:
    """Checked pads and the output size of a pooling window over x."""
    _check_4d(x, kind)
    top, bottom, left, right = _check_pads(pads, kind)
    fh, fw = filter_hw
    out_h = _out_size(x.shape[1], top + bottom, fh, stride[0], 1, kind)
    out_w = _out_size(x.shape[2], left + right, fw, stride[1], 1, kind)
    return (top, bottom, left, right), out_h, out_w


def average_pool2d(
    x: np.ndarray,
    filter_hw: tuple[int, int],
    stride: tuple[int, int],
    pads: Pads = (0, 0, 0, 0),
    act_min: int = quant.INT8_MIN,
    act_max: int = quant.INT8_MAX,
) -> np.ndarray:
    """AVERAGE_POOL_2D int8: raw sum over real pixels, divided by their count, rounded half away."""
    (top, bottom, left, right), out_h, out_w = _pool_geometry(x, filter_hw, stride, pads, "AVERAGE_POOL_2D")
    fh, fw = filter_hw
    n, h, w, c = x.shape
    padding = ((0, 0), (top, bottom), (left, right), (0, 0))
    xp = np.pad(x.astype(np.int32), padding)
    real = np.pad(np.ones((1, h, w, 1), np.int32), padding)
    total = np.zeros((n, out_h, out_w, c), np.int32)
    count = np.zeros((1, out_h, out_w, 1), np.int32)
    for (_, _, view), (_, _, mask) in zip(
        _windows(xp, fh, fw, stride, (1, 1), out_h, out_w),
        _windows(real, fh, fw, stride, (1, 1), out_h, out_w),
        strict=True,
    ):
        total += view
        count += mask
    if np.any(count == 0):
        raise ReferenceError("AVERAGE_POOL_2D: a window covers only padding (TFLite fails on this too)")
    return average_of_sums(total, count, act_min, act_max)


def average_of_sums(
    total: np.ndarray, count, act_min: int = quant.INT8_MIN, act_max: int = quant.INT8_MAX
) -> np.ndarray:
    """AVERAGE_POOL_2D's last step: int8 averages of the window sums ``total`` over ``count`` real pixels
    (a number or an array broadcasting to ``total``), rounded half away from zero, clamped. A global pool
    run row by row (harness/schedule/rows.py) sums its rows first, then calls this."""
    total = np.asarray(total).astype(np.int64)
    count = np.broadcast_to(np.asarray(count), total.shape).astype(np.int64)
    half = count // 2
    # C division truncates toward zero: positive sums round up at .5, others round down at -.5.
    rounded = np.where(total > 0, (total + half) // count, -((half - total) // count))
    return _to_int8(rounded, act_min, act_max)


def max_pool2d(
    x: np.ndarray,
    filter_hw: tuple[int, int],
    stride: tuple[int, int],
    pads: Pads = (0, 0, 0, 0),
    act_min: int = quant.INT8_MIN,
    act_max: int = quant.INT8_MAX,
) -> np.ndarray:
    """MAX_POOL_2D int8: padding never wins (it is the int8 minimum, TFLite's starting value)."""
    (top, bottom, left, right), out_h, out_w = _pool_geometry(x, filter_hw, stride, pads, "MAX_POOL_2D")
    fh, fw = filter_hw
    n, _, _, c = x.shape
    xp = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=quant.INT8_MIN)
    best = np.full((n, out_h, out_w, c), quant.INT8_MIN, np.int8)
    for _, _, view in _windows(xp, fh, fw, stride, (1, 1), out_h, out_w):
        np.maximum(best, view, out=best)
    return _to_int8(best, act_min, act_max)


# --- elementwise --------------------------------------------------------------------------------


def add(a: np.ndarray, b: np.ndarray, q: AddQuant) -> np.ndarray:
    """ADD int8 (TFLite AddFunc), numpy broadcasting for broadcast shapes."""
    scaled1, scaled2 = rescaled_operands(a, b, q)
    return requantize_sum(scaled1 + scaled2, q)


def rescaled_operands(a: np.ndarray, b: np.ndarray, q: AddQuant) -> tuple[np.ndarray, np.ndarray]:
    """ADD's (and SUB's) operands offset, shifted left and rescaled to the common scale."""
    shifted1 = (a.astype(np.int64) + q.input1_offset) * (1 << q.left_shift)
    shifted2 = (b.astype(np.int64) + q.input2_offset) * (1 << q.left_shift)
    scaled1 = quant.multiply_by_quantized_multiplier_smaller_than_one_exp(
        shifted1, q.input1_multiplier, q.input1_shift
    )
    scaled2 = quant.multiply_by_quantized_multiplier_smaller_than_one_exp(
        shifted2, q.input2_multiplier, q.input2_shift
    )
    return scaled1, scaled2


def requantize_sum(total: np.ndarray, q: AddQuant) -> np.ndarray:
    """The combined rescaled operands to the output's int8, clamped by the fused activation."""
    raw = quant.multiply_by_quantized_multiplier_smaller_than_one_exp(
        total, q.output_multiplier, q.output_shift
    )
    return _to_int8(raw + q.output_offset, q.act_min, q.act_max)


def mul(a: np.ndarray, b: np.ndarray, q: MulQuant) -> np.ndarray:
    """MUL int8 (TFLite MulElementwise)."""
    product = (a.astype(np.int64) + q.input1_offset) * (b.astype(np.int64) + q.input2_offset)
    raw = quant.multiply_by_quantized_multiplier(product, q.output_multiplier, q.output_shift)
    return _to_int8(raw + q.output_offset, q.act_min, q.act_max)


# --- reductions and shape ops -------------------------------------------------------------------


def mean(
    x: np.ndarray,
    axes: Sequence[int],
    keep_dims: bool,
    input_scale: float,
    input_zero_point: int,
    output_scale: float,
    output_zero_point: int,
) -> np.ndarray:
    """MEAN int8 (TFLite's QuantizedMeanOrSum: 1/count folded into the fixed-point multiplier)."""
    resolved = sorted({int(a) + x.ndim if int(a) < 0 else int(a) for a in axes})
    if any(not 0 <= a < x.ndim for a in resolved):
        raise ReferenceError(f"MEAN: axes {list(axes)} out of range for rank {x.ndim}")
    count = int(np.prod([x.shape[a] for a in resolved], dtype=np.int64))
    total = x.astype(np.int64).sum(axis=tuple(resolved), keepdims=keep_dims)
    multiplier, shift = quant.quantize_multiplier(float(input_scale) / float(output_scale))
    if count == 0:
        return np.zeros(total.shape, np.int8)
    shift_count = min(count.bit_length() - 1, 32, 31 + shift)
    multiplier = (multiplier << shift_count) // count
    shift -= shift_count
    shifted = wrap_int32(total - input_zero_point * count)
    out = quant.multiply_by_quantized_multiplier(shifted, multiplier, shift) + output_zero_point
    return _to_int8(out, quant.INT8_MIN, quant.INT8_MAX)


def pad(x: np.ndarray, paddings: np.ndarray, pad_value: int) -> np.ndarray:
    """PAD: paddings [rank, 2] (before, after); int8 pads with the output zero point."""
    paddings = np.asarray(paddings, np.int64).reshape(-1, 2)
    if paddings.shape[0] != x.ndim or np.any(paddings < 0):
        raise ReferenceError(f"PAD: paddings {paddings.tolist()} do not fit an input of rank {x.ndim}")
    return np.pad(x, [tuple(int(v) for v in row) for row in paddings], constant_values=pad_value)


def concatenation(
    arrays: Sequence[np.ndarray],
    axis: int,
    input_qparams: Sequence[tuple[float, int]],
    output_qparams: tuple[float, int],
) -> np.ndarray:
    """CONCATENATION int8; an input with other qparams than the output is requantized (module doc)."""
    out_scale, out_zp = output_qparams
    parts = []
    for array, (scale, zp) in zip(arrays, input_qparams, strict=True):
        if float(scale) == float(out_scale) and int(zp) == int(out_zp):
            parts.append(array)
        else:
            parts.append(requantize_int8(array, scale, zp, out_scale, out_zp))
    return np.concatenate(parts, axis=axis)


def requantize_int8(x: np.ndarray, in_scale: float, in_zp: int, out_scale: float, out_zp: int) -> np.ndarray:
    """QUANTIZE int8 -> int8 (TFLite Requantize)."""
    multiplier, shift = quant.quantize_multiplier(float(in_scale) / float(out_scale))
    out = quant.multiply_by_quantized_multiplier(x.astype(np.int64) - in_zp, multiplier, shift) + out_zp
    return _to_int8(out, quant.INT8_MIN, quant.INT8_MAX)


def quantize_float(x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """QUANTIZE float32 -> int8 (TFLite AffineQuantize: float32 division, round half away)."""
    scaled = np.asarray(x, np.float32) / np.float32(scale)
    out = quant.round_half_away(scaled.astype(np.float64)) + zero_point
    return _to_int8(out, quant.INT8_MIN, quant.INT8_MAX)


def dequantize(x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """DEQUANTIZE int8 -> float32: double scale times (q - zp), then narrowed to float32."""
    return quant.dequantize(x, scale, zero_point)


def resize_nearest_neighbor(
    x: np.ndarray, size: tuple[int, int], align_corners: bool, half_pixel_centers: bool
) -> np.ndarray:
    """RESIZE_NEAREST_NEIGHBOR (TFLite reference: float32 source-index arithmetic)."""
    _check_4d(x, "RESIZE_NEAREST_NEIGHBOR")
    _, h, w, _ = x.shape
    rows = resize_nearest_source(h, int(size[0]), align_corners, half_pixel_centers)
    cols = resize_nearest_source(w, int(size[1]), align_corners, half_pixel_centers)
    return x[:, rows][:, :, cols]


def resize_bilinear(
    window: np.ndarray,
    in_hw: tuple[int, int],
    out_hw: tuple[int, int],
    align_corners: bool,
    half_pixel_centers: bool,
    tile: TileOrigin | None = None,
) -> np.ndarray:
    """RESIZE_BILINEAR int8 (TFLite's integer kernel: positions in 1/1024 pixel, the four products summed
    in 1/2^20 and rounded half away from zero; the output keeps the input's quantization).

    ``window`` holds input rows/columns from ``tile.in_y0``/``tile.in_x0`` of an ``in_hw`` map; the result
    is output rows ``tile.out_rows`` and columns ``tile.out_cols`` of the ``out_hw`` output (the whole
    output when ``tile`` is None)."""
    _check_4d(window, "RESIZE_BILINEAR")
    tile = tile or TileOrigin((0, out_hw[0]), (0, out_hw[1]), 0, 0)
    rows = resize_bilinear_taps(in_hw[0], out_hw[0], align_corners, half_pixel_centers)
    cols = resize_bilinear_taps(in_hw[1], out_hw[1], align_corners, half_pixel_centers)
    one = 1 << RESIZE_FRACTION_BITS
    (y_lo, y_hi, y_pos), (x_lo, x_hi, x_pos) = (
        [a[slice(*span)] for a in taps] for taps, span in ((rows, tile.out_rows), (cols, tile.out_cols))
    )
    dy, dx = y_pos - one * y_lo, x_pos - one * x_lo
    y_lo, y_hi, x_lo, x_hi = y_lo - tile.in_y0, y_hi - tile.in_y0, x_lo - tile.in_x0, x_hi - tile.in_x0
    v = window.astype(np.int64)
    top, bottom = v[:, y_lo], v[:, y_hi]
    wy_top, wy_bottom = (one - dy)[None, :, None, None], dy[None, :, None, None]
    wx_left, wx_right = (one - dx)[None, None, :, None], dx[None, None, :, None]
    total = (
        top[:, :, x_lo] * wy_top * wx_left
        + bottom[:, :, x_lo] * wy_bottom * wx_left
        + top[:, :, x_hi] * wy_top * wx_right
        + bottom[:, :, x_hi] * wy_bottom * wx_right
    )
    half = 1 << (2 * RESIZE_FRACTION_BITS - 1)
    rounded = np.where(total > 0, total + half, total - half)
    return _c_div_pow2(rounded, 2 * RESIZE_FRACTION_BITS).astype(np.int8)


def _c_div_pow2(a: np.ndarray, bits: int) -> np.ndarray:
    """C's ``a / 2^bits`` on int64 (truncating toward zero)."""
    return np.where(a >= 0, a >> bits, -((-a) >> bits))


def depth_to_space(window: np.ndarray, block: int, tile: TileOrigin | None = None) -> np.ndarray:
    """DEPTH_TO_SPACE: output pixel (y, x) channel c is input pixel (y // b, x // b) channel
    ((y % b) * b + x % b) * C + c. ``window``/``tile`` as for resize_bilinear."""
    _check_4d(window, "DEPTH_TO_SPACE")
    n, h, w, depth = window.shape
    channels = depth // (block * block)
    full = window.reshape(n, h, w, block, block, channels).transpose(0, 1, 3, 2, 4, 5)
    full = full.reshape(n, h * block, w * block, channels)
    if tile is None:
        return full
    (r0, r1), (c0, c1) = tile.out_rows, tile.out_cols
    y0, x0 = tile.in_y0 * block, tile.in_x0 * block
    return full[:, r0 - y0 : r1 - y0, c0 - x0 : c1 - x0]


def space_to_depth(window: np.ndarray, block: int) -> np.ndarray:
    """SPACE_TO_DEPTH: output pixel (y, x) channel ((dy * b) + dx) * C + c is input pixel
    (y * b + dy, x * b + dx) channel c. A tile's window starts at a block boundary, so it needs no origin."""
    _check_4d(window, "SPACE_TO_DEPTH")
    n, h, w, channels = window.shape
    blocks = window.reshape(n, h // block, block, w // block, block, channels).transpose(0, 1, 3, 2, 4, 5)
    return blocks.reshape(n, h // block, w // block, block * block * channels)
