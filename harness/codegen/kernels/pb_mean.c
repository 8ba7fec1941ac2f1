/* SPDX-License-Identifier: Apache-2.0 */
/* MEAN: over the input viewed as [outer, count, middle, count2, inner] (pb_mean_axes_s8), and over H and W
 * of an HWC map (pb_mean_s8); one sum per output, as TFLite's QuantizedMeanOrSum. */
#include "pb_kernels.h"

/* MEAN over the reduced runs of the view (pb_kernels.h, pb_mean_view): one sum per output. */
void pb_mean_axes_s8(const pb_mean_view *v, int32_t input_zero_point, int32_t output_zero_point, int32_t multiplier,
                     int32_t shift, const int8_t *input, int8_t *output) {
    const int32_t count = v->count * v->count2;
    for (int32_t o = 0; o < v->outer; ++o) {
        for (int32_t m = 0; m < v->middle; ++m) {
            const int8_t *base = input + (o * v->count * v->middle + m) * v->count2 * v->inner;
            for (int32_t k = 0; k < v->inner; ++k) {
                int32_t sum = 0;
                for (int32_t i = 0; i < v->count; ++i) {
                    const int8_t *run = base + i * v->middle * v->count2 * v->inner + k;
                    for (int32_t j = 0; j < v->count2; ++j) {
                        sum += run[j * v->inner];
                    }
                }
                /* 1 / count is folded into multiplier and shift (TFLite's QuantizedMeanOrSum). */
                const int32_t centered = (int32_t)((uint32_t)sum - (uint32_t)input_zero_point * (uint32_t)count);
                const int64_t scaled = pb_multiply_by_quantized_multiplier(centered, multiplier, shift);
                output[(o * v->middle + m) * v->inner + k] =
                    pb_clamp_offset_s8(scaled, output_zero_point, PB_INT8_MIN, PB_INT8_MAX);
            }
        }
    }
}

/* MEAN over height and width (axes 1, 2: global average pooling) of an [h, w, c] tensor -> [c],
 * TFLite's QuantizedMeanOrSum: multiplier and shift have 1 / (h * w) folded in; get them from
 * harness.codegen.kernels.mean_params(input_scale, output_scale, h * w). */
void pb_mean_s8(int32_t in_h, int32_t in_w, int32_t channels, int32_t input_zero_point, int32_t output_zero_point,
                int32_t multiplier, int32_t shift, const int8_t *input, int8_t *output) {
    const int32_t count = in_h * in_w;
    for (int32_t c = 0; c < channels; ++c) {
        int32_t sum = 0;
        for (int32_t i = 0; i < count; ++i) {
            sum += input[i * channels + c];
        }
        /* 1 / count is folded into multiplier and shift (TFLite's QuantizedMeanOrSum). */
        const int32_t centered = (int32_t)((uint32_t)sum - (uint32_t)input_zero_point * (uint32_t)count);
        const int64_t scaled = pb_multiply_by_quantized_multiplier(centered, multiplier, shift);
        output[c] = pb_clamp_offset_s8(scaled, output_zero_point, PB_INT8_MIN, PB_INT8_MAX);
    }
}
