/* SPDX-License-Identifier: Apache-2.0 */
/* SOFTMAX int8 -> int8: TFLite's reference kernel (reference_ops::Softmax), which computes exp() with
 * gemmlowp's fixed-point arithmetic. A raw int32 below is a gemmlowp FixedPoint<int32_t, I>: the
 * value raw / 2^(31 - I); the comments name I. */
#include "pb_kernels.h"

/* Rescale a value from I_src to I_dst integer bits: exponent = I_src - I_dst; a left shift
 * saturates, a right shift rounds (gemmlowp's SaturatingRoundingMultiplyByPOT). */
static int32_t rescale(int32_t x, int32_t exponent) {
    if (exponent > 0) {
        const int32_t threshold = (int32_t)((1u << (31 - exponent)) - 1u);
        if (x > threshold) {
            return INT32_MAX;
        }
        if (x < -threshold) {
            return INT32_MIN;
        }
        return (int32_t)((uint32_t)x << exponent);
    }
    return exponent < 0 ? pb_rounding_divide_by_pot(x, -exponent) : x;
}

/* exp(a) for a in [-1/4, 0): a Taylor series around -1/8. I = 0 in and out. */
static int32_t exp_on_interval_between_negative_one_quarter_and_0_excl(int32_t a) {
    const int32_t constant_term = 1895147668; /* exp(-1/8) */
    const int32_t constant_1_over_3 = 715827883;
    const int32_t x = a + (1 << 28); /* a + 1/8 */
    const int32_t x2 = pb_srdhm(x, x);
    const int32_t x3 = pb_srdhm(x2, x);
    const int32_t x4 = pb_srdhm(x2, x2);
    const int32_t x4_over_4 = pb_rounding_divide_by_pot(x4, 2);
    const int32_t polynomial =
        pb_rounding_divide_by_pot(pb_srdhm(x4_over_4 + x3, constant_1_over_3) + x2, 1); /* x4/24 + x3/6 + x2/2 */
    return constant_term + pb_srdhm(constant_term, x + polynomial);
}

/* exp(a) for a <= 0; a has I = 5 (TFLite's kScaledDiffIntegerBits), the result I = 0. */
static int32_t exp_on_negative_values_5(int32_t a) {
    const int32_t fractional_bits = 26;
    const int32_t one_quarter = 1 << (fractional_bits - 2);
    const int32_t a_mod_quarter_minus_one_quarter = (a & (one_quarter - 1)) - one_quarter;
    int32_t result = exp_on_interval_between_negative_one_quarter_and_0_excl(rescale(a_mod_quarter_minus_one_quarter, 5));
    const int32_t remainder = a_mod_quarter_minus_one_quarter - a;
    /* exp(-2^k) for k = -2 .. 4, applied for each set bit of the whole quarters in -a. */
    static const int32_t exp_minus_pow2[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
    for (int32_t k = -2; k <= 4; ++k) {
        if (remainder & (1 << (fractional_bits + k))) {
            result = pb_srdhm(result, exp_minus_pow2[k + 2]);
        }
    }
    return a == 0 ? INT32_MAX : result;
}

/* 1 / (1 + a) for a in [0, 1): Newton-Raphson division. I = 0 in and out. */
static int32_t one_over_one_plus_x_for_x_in_0_1(int32_t a) {
    const int64_t sum = (int64_t)a + INT32_MAX;
    const int32_t half_denominator = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2); /* RoundingHalfSum(a, 1) */
    const int32_t constant_48_over_17 = 1515870810;      /* I = 2 */
    const int32_t constant_neg_32_over_17 = -1010580540; /* I = 2 */
    int32_t x = constant_48_over_17 + pb_srdhm(half_denominator, constant_neg_32_over_17); /* I = 2 */
    for (int i = 0; i < 3; ++i) {
        const int32_t half_denominator_times_x = pb_srdhm(half_denominator, x);
        const int32_t one_minus_half_denominator_times_x = (1 << 29) - half_denominator_times_x;
        x = x + rescale(pb_srdhm(x, one_minus_half_denominator_times_x), 2);
    }
    return rescale(x, 1); /* x / 2, from I = 1 to I = 0 */
}

static int32_t count_leading_zeros(uint32_t x) {
    int32_t n = 0;
    while (n < 32 && !(x & 0x80000000u)) {
        x <<= 1;
        ++n;
    }
    return n;
}

/* SOFTMAX over the last axis of [rows, depth], TFLite's int8 fixed-point (gemmlowp exp) kernel.
 * The output is TFLite's int8 softmax output: scale 1/256, zero point -128.
 * input_multiplier, input_left_shift, diff_min: harness.reference.softmax_quant(input_scale, beta). */
void pb_softmax_s8(int32_t rows, int32_t depth, int32_t input_multiplier, int32_t input_left_shift,
                   int32_t diff_min, const int8_t *input, int8_t *output) {
    for (int32_t row = 0; row < rows; ++row) {
        const int8_t *in = input + row * depth;
        int8_t *out = output + row * depth;
        int32_t max_in_row = PB_INT8_MIN;
        for (int32_t c = 0; c < depth; ++c) {
            max_in_row = in[c] > max_in_row ? in[c] : max_in_row;
        }
        int32_t sum_of_exps = 0; /* I = 12 (kAccumulationIntegerBits) */
        for (int32_t c = 0; c < depth; ++c) {
            const int32_t diff = in[c] - max_in_row;
            if (diff >= diff_min) {
                const int32_t scaled_diff = pb_srdhm(diff * (1 << input_left_shift), input_multiplier); /* I = 5 */
                sum_of_exps += rescale(exp_on_negative_values_5(scaled_diff), -12);
            }
        }
        /* GetReciprocal: 1 / sum as a scale in [0.5, 1] and a power of two. */
        const int32_t headroom_plus_one = count_leading_zeros((uint32_t)sum_of_exps);
        const int32_t num_bits_over_unit = 12 - headroom_plus_one;
        const int32_t shifted_sum_minus_one = (int32_t)(((uint32_t)sum_of_exps << headroom_plus_one) - (1u << 31));
        const int32_t shifted_scale = one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one);
        const int32_t exponent = num_bits_over_unit + 31 - 8;
        for (int32_t c = 0; c < depth; ++c) {
            const int32_t diff = in[c] - max_in_row;
            if (diff >= diff_min) {
                const int32_t scaled_diff = pb_srdhm(diff * (1 << input_left_shift), input_multiplier);
                const int32_t exp_value = exp_on_negative_values_5(scaled_diff);
                const int32_t unsaturated = pb_rounding_divide_by_pot(pb_srdhm(shifted_scale, exp_value), exponent);
                const int32_t shifted = unsaturated + PB_INT8_MIN;
                out[c] = (int8_t)(shifted > PB_INT8_MAX ? PB_INT8_MAX : shifted < PB_INT8_MIN ? PB_INT8_MIN : shifted);
            } else {
                out[c] = PB_INT8_MIN;
            }
        }
    }
}
