/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pb_fixedpoint.h: TFLite's int8 fixed-point arithmetic, the C twin of harness/ir/quant.py.
 *
 * Every kernel requantizes through these functions, so device output equals the numpy reference
 * bit for bit. They follow TFLite's reference kernels (the default, double-rounding build):
 * SaturatingRoundingDoublingHighMul, then RoundingDivideByPOT.
 *
 * One deliberate difference from TFLite's C++: a positive shift (a real multiplier >= 1) is applied
 * in 64 bits, as quant.py does, instead of overflowing int32 (undefined behaviour in C++).
 */
#ifndef PB_FIXEDPOINT_H
#define PB_FIXEDPOINT_H

#include <stdint.h>

#define PB_INT8_MIN (-128)
#define PB_INT8_MAX 127

/* gemmlowp's SaturatingRoundingDoublingHighMul: round(a * b / 2^31), with -1 * -1 saturating.
 * TFLite's nudge-then-truncate rounding equals (a * b + 2^30) >> 31 with a flooring shift: for a
 * negative product, truncating (ab + 1 - 2^30) / 2^31 toward zero is flooring (ab + 2^30) / 2^31. */
static inline int32_t pb_srdhm(int32_t a, int32_t b) {
    if (a == INT32_MIN && b == INT32_MIN) {
        return INT32_MAX;
    }
    return (int32_t)(((int64_t)a * b + ((int64_t)1 << 30)) >> 31);
}

/* gemmlowp's RoundingDivideByPOT: x / 2^exponent, halves rounded away from zero; 0 <= exponent <= 31. */
static inline int32_t pb_rounding_divide_by_pot(int32_t x, int32_t exponent) {
    const int32_t mask = (int32_t)((1LL << exponent) - 1);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* TFLite's MultiplyByQuantizedMultiplier: x * multiplier * 2^(shift - 31), rounded twice as TFLite
 * does. The result is kept in 64 bits: with a positive shift it can leave the int32 range (quant.py
 * keeps it too), and every caller clamps it to int8 next. */
static inline int64_t pb_multiply_by_quantized_multiplier(int32_t x, int32_t multiplier, int32_t shift) {
    if (shift > 0) {
        /* Exact in 64 bits for |x << shift| < 2^32, the range in which quant.py is exact too. */
        const int64_t shifted = (int64_t)x * ((int64_t)1 << shift);
        if (shifted >= INT32_MIN && shifted <= INT32_MAX) {
            return pb_srdhm((int32_t)shifted, multiplier);
        }
        return (shifted * multiplier + ((int64_t)1 << 30)) >> 31;
    }
    return pb_rounding_divide_by_pot(pb_srdhm(x, multiplier), -shift);
}

/* TFLite's MultiplyByQuantizedMultiplierSmallerThanOneExp (ADD's arithmetic): shift <= 0. */
static inline int32_t pb_multiply_by_quantized_multiplier_smaller_than_one_exp(int32_t x, int32_t multiplier,
                                                                                int32_t shift) {
    return pb_rounding_divide_by_pot(pb_srdhm(x, multiplier), -shift);
}

/* Clamp value + zero_point to [act_min, act_max] without forming the sum (it could overflow). */
static inline int8_t pb_clamp_offset_s8(int64_t value, int32_t zero_point, int32_t act_min, int32_t act_max) {
    if (value < (int64_t)act_min - zero_point) {
        return (int8_t)act_min;
    }
    if (value > (int64_t)act_max - zero_point) {
        return (int8_t)act_max;
    }
    return (int8_t)(value + zero_point);
}

/* int32 accumulator -> int8 output: scale, add the output zero point, clamp (quant.requantize). */
static inline int8_t pb_requantize_s8(int32_t acc, int32_t multiplier, int32_t shift, int32_t zero_point,
                                      int32_t act_min, int32_t act_max) {
    if (shift <= 0) {
        /* The common case (real multiplier < 1) stays in 32 bits, which is cheaper on Cortex-M. */
        const int32_t scaled = pb_rounding_divide_by_pot(pb_srdhm(acc, multiplier), -shift);
        int32_t low = act_min - zero_point, high = act_max - zero_point;
        return (int8_t)((scaled < low ? low : scaled > high ? high : scaled) + zero_point);
    }
    return pb_clamp_offset_s8(pb_multiply_by_quantized_multiplier(acc, multiplier, shift), zero_point, act_min,
                              act_max);
}

#if defined(__GNUC__)
#define PB_FORCE_INLINE inline __attribute__((always_inline))
#else
#define PB_FORCE_INLINE inline
#endif

/* pb_requantize_s8's result in fewer instructions, for the optimized kernels; needs multiplier >= 0
 * (quant.quantize_multiplier's are). For shift = -e < 0 the two roundings fold into one 64-bit
 * multiply-add: x = floor((acc*m + 2^30) / 2^31) and RoundingDivideByPOT(x, e) =
 * floor((x + 2^(e-1) - [x < 0]) / 2^e) give floor((acc*m + 2^30 + 2^(30+e) - [x < 0]*2^31) / 2^(31+e)).
 * [acc < 0] may stand for [x < 0]: they differ only where x = 0, and both then give 0. For e >= 2 the
 * 2^(30+e) term is 2^(e-2) added to the high word, so one SMLAL and two shifts do it. */
static PB_FORCE_INLINE int8_t pb_requantize_s8_fast(int32_t acc, int32_t multiplier, int32_t shift,
                                                    int32_t zero_point, int32_t act_min, int32_t act_max) {
    int32_t value;
    if (shift <= -2) {
        const int64_t rounding = acc < 0 ? -((int64_t)1 << 30) : ((int64_t)1 << 30);
        const int32_t high = (int32_t)(((int64_t)acc * multiplier + rounding) >> 32);
        value = (high + (1 << (-shift - 2))) >> (-shift - 1);
    } else if (shift == -1) {
        const int64_t rounding = ((int64_t)1 << 30) + (acc < 0 ? 0 : ((int64_t)1 << 31));
        value = (int32_t)(((int64_t)acc * multiplier + rounding) >> 32);
    } else {
        return pb_requantize_s8(acc, multiplier, shift, zero_point, act_min, act_max);
    }
    value += zero_point; /* |value| < 2^30: no overflow */
    value = value < act_min ? act_min : value;
    return (int8_t)(value > act_max ? act_max : value);
}

#endif /* PB_FIXEDPOINT_H */
