/* SPDX-License-Identifier: Apache-2.0 */
/* QUANTIZE: float32 -> int8 (a float model's input), and int8 -> int8 with another scale or zero point. */
#include "pb_kernels.h"

/* QUANTIZE int8 -> int8 (a change of scale / zero point). */
void pb_requantize_tensor_s8(int32_t size, int32_t input_zero_point, int32_t output_zero_point,
                             int32_t multiplier, int32_t shift, const int8_t *input, int8_t *output) {
    for (int32_t i = 0; i < size; ++i) {
        const int64_t scaled = pb_multiply_by_quantized_multiplier(input[i] - input_zero_point, multiplier, shift);
        output[i] = pb_clamp_offset_s8(scaled, output_zero_point, PB_INT8_MIN, PB_INT8_MAX);
    }
}

/* QUANTIZE float32 -> int8, TFLite's AffineQuantize: the division in float32, rounded half away from
 * zero, plus the zero point, clamped. At a float model's input. */
void pb_quantize_f32_s8(int32_t size, float scale, int32_t zero_point, const float *input, int8_t *output) {
    for (int32_t i = 0; i < size; ++i) {
        const float scaled = input[i] / scale; /* float32, as TFLite divides */
        /* round half away from zero without libm: the fraction of a float is exact in float */
        const float magnitude = scaled < 0.0f ? -scaled : scaled;
        float rounded;
        if (magnitude >= 8388608.0f) { /* 2^23: already an integer (or far out of range) */
            rounded = magnitude;
        } else {
            const float whole = (float)(int32_t)magnitude;
            rounded = magnitude - whole >= 0.5f ? whole + 1.0f : whole;
        }
        const float value = (scaled < 0.0f ? -rounded : rounded) + (float)zero_point;
        output[i] = (int8_t)(value < (float)PB_INT8_MIN ? PB_INT8_MIN : value > (float)PB_INT8_MAX ? PB_INT8_MAX : value);
    }
}
