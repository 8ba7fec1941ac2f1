# SPDX-License-Identifier: Apache-2.0
"""TFLite's int8 softmax in gemmlowp fixed point (exp on negative values, 1 / (1 + x))."""

from __future__ import annotations

import numpy as np

from harness.ir import quant
from harness.reference.ops import wrap_int32
from harness.reference.quantparams import SoftmaxQuant


def _srdhm(a, b) -> np.ndarray:
    return quant.saturating_rounding_doubling_high_mul(a, b)


def _rdbpot(x, exponent: int) -> np.ndarray:
    return quant.rounding_divide_by_pot(x, exponent)


def _saturating_shift_left(x: np.ndarray, exponent: int) -> np.ndarray:
    """gemmlowp SaturatingRoundingMultiplyByPOT with a positive exponent on int32."""
    threshold = (1 << (31 - exponent)) - 1
    shifted = np.asarray(x, np.int64) << exponent
    return np.where(x > threshold, quant.INT32_MAX, np.where(x < -threshold, quant.INT32_MIN, shifted))


def _exp_on_interval_between_negative_one_quarter_and_0_excl(a: np.ndarray) -> np.ndarray:
    """gemmlowp: exp(a) for Q0.31 a in [-1/4, 0), Taylor series around -1/8."""
    constant_term = 1895147668  # exp(-1/8) in Q0.31
    one_third = 715827883
    x = a + (1 << 28)  # a + 1/8
    x2 = _srdhm(x, x)
    x3 = _srdhm(x2, x)
    x4 = _srdhm(x2, x2)
    x4_over_4 = _rdbpot(x4, 2)
    poly = _rdbpot(_srdhm(x4_over_4 + x3, one_third) + x2, 1)
    return constant_term + _srdhm(constant_term, x + poly)


# (k, exp(-2**k) in Q0.31), gemmlowp's constants.
_EXP_BARREL = (
    (-2, 1672461947),
    (-1, 1302514674),
    (0, 790015084),
    (1, 290630308),
    (2, 39332535),
    (3, 720401),
    (4, 242),
)


def exp_on_negative_values(a: np.ndarray, integer_bits: int = 5) -> np.ndarray:
    """gemmlowp exp_on_negative_values: Q(integer_bits) input <= 0 -> Q0.31 result."""
    fractional_bits = 31 - integer_bits
    one_quarter = 1 << (fractional_bits - 2)
    a = np.asarray(a, np.int64)
    a_mod_quarter_minus_one_quarter = (a & (one_quarter - 1)) - one_quarter
    result = _exp_on_interval_between_negative_one_quarter_and_0_excl(
        _saturating_shift_left(a_mod_quarter_minus_one_quarter, integer_bits)
    )
    remainder = a_mod_quarter_minus_one_quarter - a
    # One multiplication by exp(-2**k) for every bit k of the whole quarters in -a (a barrel shifter).
    for exponent, multiplier in _EXP_BARREL:
        if integer_bits > exponent:
            bit = 1 << (fractional_bits + exponent)
            result = np.where(remainder & bit, _srdhm(result, multiplier), result)
    if integer_bits > 5:
        clamp = -(1 << (36 - integer_bits))
        result = np.where(a < clamp, 0, result)
    return np.where(a == 0, quant.INT32_MAX, result)


def _one_over_one_plus_x_for_x_in_0_1(a: np.ndarray) -> np.ndarray:
    """gemmlowp: 1 / (1 + a) for Q0.31 a in [0, 1), Newton-Raphson; result Q0.31."""
    total = np.asarray(a, np.int64) + quant.INT32_MAX
    half_denominator = np.where(total >= 0, (total + 1) // 2, -((-total + 1) // 2))
    constant_48_over_17 = 1515870810  # Q2.29
    constant_neg_32_over_17 = -1010580540
    one_q2 = 1 << 29
    x = constant_48_over_17 + _srdhm(half_denominator, constant_neg_32_over_17)
    for _ in range(3):
        half_denominator_times_x = _srdhm(half_denominator, x)
        one_minus = one_q2 - half_denominator_times_x
        x = x + _saturating_shift_left(_srdhm(x, one_minus), 2)
    return _saturating_shift_left(x, 1)


def _count_leading_zeros_32(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.int64) & 0xFFFFFFFF
    bits = np.zeros(x.shape, np.int64)
    nonzero = x > 0
    bits[nonzero] = np.floor(np.log2(x[nonzero].astype(np.float64))).astype(np.int64) + 1
    # log2 of values just below a power of two can round up in float64; fix by checking.
    too_big = nonzero & ((np.int64(1) << np.maximum(bits - 1, 0)) > x)
    bits[too_big] -= 1
    return 32 - bits


def softmax(x: np.ndarray, q: SoftmaxQuant) -> np.ndarray:
    """SOFTMAX int8 -> int8 over the last axis (TFLite reference_ops::Softmax, gemmlowp fixed point)."""
    scaled_diff_integer_bits = 5
    accumulation_integer_bits = 12
    depth = x.shape[-1]
    rows = x.reshape(-1, depth).astype(np.int64)
    diff = rows - rows.max(axis=1, keepdims=True)
    in_range = diff >= q.diff_min
    rescaled = _srdhm(wrap_int32(np.where(in_range, diff, 0) * (1 << q.input_left_shift)), q.input_multiplier)
    exps = exp_on_negative_values(rescaled, scaled_diff_integer_bits)
    # Rescale<12> of a Q0.31 value: a rounding right shift by 12.
    sum_of_exps = np.where(in_range, _rdbpot(exps, accumulation_integer_bits), 0).sum(axis=1, keepdims=True)
    sum_of_exps = wrap_int32(sum_of_exps)
    headroom_plus_one = _count_leading_zeros_32(sum_of_exps)
    num_bits_over_unit = accumulation_integer_bits - headroom_plus_one
    shifted_sum_minus_one = wrap_int32(((sum_of_exps & 0xFFFFFFFF) << headroom_plus_one) - (1 << 31))
    shifted_scale = _one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one)
    exponent = num_bits_over_unit + 31 - 8
    unsat = quant.rounding_divide_by_pot(_srdhm(shifted_scale, exps), exponent)
    out = np.where(in_range, np.clip(unsat + quant.INT8_MIN, quant.INT8_MIN, quant.INT8_MAX), quant.INT8_MIN)
    return out.astype(np.int8).reshape(x.shape)
