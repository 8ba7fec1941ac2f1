# SPDX-License-Identifier: Apache-2.0
"""TFLite int8 quantization arithmetic, written once and used by every op.

The fixed-point requantization follows TFLite's reference kernels (the default, double-rounding
build of ``MultiplyByQuantizedMultiplier``): the numpy reference calls these functions, and the C
kernels implement the same three steps in ``harness/codegen`` so that device output equals the host
reference bit for bit. All integer functions are vectorized over numpy int64 arrays.
"""

from __future__ import annotations

import math

import numpy as np

INT8_MIN, INT8_MAX = -128, 127
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def quantize_multiplier(real_multiplier: float) -> tuple[int, int]:
    """A positive real multiplier as (int32 multiplier in Q31, power-of-two shift), like TFLite.

    real ~= multiplier * 2**(shift - 31). A positive shift is a left shift.
    """
    if real_multiplier == 0.0:
        return 0, 0
    if real_multiplier < 0.0:
        raise ValueError(f"requantization multiplier must be positive, got {real_multiplier}")
    mantissa, shift = math.frexp(real_multiplier)
    q_fixed = _round_half_away(mantissa * (1 << 31))
    if q_fixed == 1 << 31:
        q_fixed //= 2
        shift += 1
    if shift < -31:
        shift, q_fixed = 0, 0
    return int(q_fixed), int(shift)


def _round_half_away(x: float) -> int:
    """std::round: halves go away from zero (Python's round() goes to even)."""
    return int(math.floor(abs(x) + 0.5)) * (1 if x >= 0 else -1)


def round_half_away(x: np.ndarray) -> np.ndarray:
    """Vectorized std::round."""
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def std_round(x: np.ndarray) -> np.ndarray:
    """C's round() on float64, exactly: halves away from zero, no double rounding.

    ``floor(|x| + 0.5)`` (``round_half_away``) is off for 0.49999999999999994 and for odd integers
    above 2**52, where adding 0.5 rounds; here the fraction ``x - trunc(x)`` is exact in binary64.
    """
    x = np.asarray(x, np.float64)
    whole = np.trunc(x)
    return whole + np.where(np.abs(x - whole) >= 0.5, np.sign(x), 0.0)


def saturating_rounding_doubling_high_mul(a: np.ndarray, b: np.ndarray | int) -> np.ndarray:
    """gemmlowp's SaturatingRoundingDoublingHighMul on int32 values held in int64."""
    a = np.asarray(a, np.int64)
    b = np.asarray(b, np.int64)
    overflow = (a == INT32_MIN) & (b == INT32_MIN)
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    # C integer division truncates toward zero.
    total = ab + nudge
    high = np.where(total >= 0, total >> 31, -((-total) >> 31))
    return np.where(overflow, INT32_MAX, high)


def rounding_divide_by_pot(x: np.ndarray, exponent: np.ndarray | int) -> np.ndarray:
    """gemmlowp's RoundingDivideByPOT: divide by 2**exponent, rounding half away from zero."""
    x = np.asarray(x, np.int64)
    exponent = np.asarray(exponent, np.int64)
    mask = (np.int64(1) << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + (remainder > threshold)


def multiply_by_quantized_multiplier(x: np.ndarray, multiplier, shift) -> np.ndarray:
    """TFLite's MultiplyByQuantizedMultiplier: x * multiplier * 2**(shift - 31), rounded.

    ``multiplier`` and ``shift`` may be scalars or arrays broadcast against x (per channel).
    """
    shift = np.asarray(shift, np.int64)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    x = np.asarray(x, np.int64) * (np.int64(1) << left)
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(x, multiplier), right)


def multiply_by_quantized_multiplier_smaller_than_one_exp(x: np.ndarray, multiplier, shift) -> np.ndarray:
    """TFLite's MultiplyByQuantizedMultiplierSmallerThanOneExp (used by ADD): shift <= 0."""
    shift = np.asarray(shift, np.int64)
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(x, multiplier), -shift)


def requantize(acc: np.ndarray, multiplier, shift, zero_point: int, act_min: int, act_max: int) -> np.ndarray:
    """int32 accumulator -> int8 output: scale, add the output zero point, clamp (fused activation)."""
    out = multiply_by_quantized_multiplier(acc, multiplier, shift) + zero_point
    return np.clip(out, act_min, act_max).astype(np.int8)


def conv_multipliers(input_scale: float, filter_scales: np.ndarray, output_scale: float):
    """Per-channel (multipliers, shifts) of a conv, effective scale computed in double as TFLite does."""
    pairs = [
        quantize_multiplier(float(input_scale) * float(s) / float(output_scale))
        for s in np.asarray(filter_scales, np.float32)
    ]
    multipliers = np.array([m for m, _ in pairs], np.int64)
    shifts = np.array([s for _, s in pairs], np.int64)
    return multipliers, shifts


def activation_range(activation: str, scale: float, zero_point: int) -> tuple[int, int]:
    """A fused activation as an int8 clamp, TFLite's CalculateActivationRangeQuantized."""

    def quantize(value: float) -> int:
        return zero_point + _round_half_away(value / scale)

    if activation == "NONE":
        return INT8_MIN, INT8_MAX
    if activation == "RELU":
        return max(INT8_MIN, quantize(0.0)), INT8_MAX
    if activation == "RELU6":
        return max(INT8_MIN, quantize(0.0)), min(INT8_MAX, quantize(6.0))
    if activation == "RELU_N1_TO_1":
        return max(INT8_MIN, quantize(-1.0)), min(INT8_MAX, quantize(1.0))
    raise ValueError(
        f"fused activation {activation!r} is not supported; use NONE, RELU, RELU6 or RELU_N1_TO_1"
    )


# --- float -> int8, for the zoo's synthetic models -------------------------------------------


def choose_activation_qparams(rmin: float, rmax: float) -> tuple[float, int]:
    """Asymmetric int8 (scale, zero point) covering [rmin, rmax], with 0.0 exactly representable."""
    rmin, rmax = min(rmin, 0.0), max(rmax, 0.0)
    if rmax - rmin < 1e-8:
        rmax = rmin + 1e-8
    scale = (rmax - rmin) / (INT8_MAX - INT8_MIN)
    zero_point = int(np.clip(_round_half_away(INT8_MIN - rmin / scale), INT8_MIN, INT8_MAX))
    return float(np.float32(scale)), zero_point


def quantize_weights_per_channel(weights: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric per-channel int8 weights in [-127, 127] and their float32 scales."""
    moved = np.moveaxis(weights, axis, 0)
    max_abs = np.abs(moved.reshape(moved.shape[0], -1)).max(axis=1)
    scales = np.where(max_abs > 0, max_abs / 127.0, 1.0).astype(np.float32)
    shape = [1] * weights.ndim
    shape[axis] = -1
    q = np.clip(round_half_away(weights / scales.reshape(shape)), -127, 127).astype(np.int8)
    return q, scales


def quantize_bias(bias: np.ndarray, input_scale: float, weight_scales: np.ndarray) -> np.ndarray:
    """int32 bias with scale input_scale * weight_scale, zero point 0."""
    scale = np.float64(input_scale) * weight_scales.astype(np.float64)
    return np.clip(round_half_away(bias / scale), INT32_MIN, INT32_MAX).astype(np.int32)


def quantize(values: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """float -> int8 with one scale and zero point (QUANTIZE op, input images)."""
    q = round_half_away(np.asarray(values, np.float64) / scale) + zero_point
    return np.clip(q, INT8_MIN, INT8_MAX).astype(np.int8)


def dequantize(values: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return ((np.asarray(values, np.int64) - zero_point) * np.float64(scale)).astype(np.float32)
