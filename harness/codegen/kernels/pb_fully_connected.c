/* SPDX-License-Identifier: Apache-2.0 */
/* FULLY_CONNECTED: TFLite's reference loop; the DSP kernel shares the convolutions' matrix core in
 * pb_conv_dsp.c. */
#include "pb_kernels.h"

void pb_fully_connected_s8_portable(int32_t batches, int32_t in_features, int32_t out_features,
                                    const pb_requant *q, const int8_t *input, const int8_t *weights,
                                    const int32_t *bias, int8_t *output, void *scratch) {
    (void)scratch;
    const int32_t input_offset = -q->input_zero_point;
    for (int32_t b = 0; b < batches; ++b) {
        const int8_t *in = input + b * in_features;
        for (int32_t o = 0; o < out_features; ++o) {
            const int8_t *wt = weights + o * in_features;
            int32_t acc = bias ? bias[o] : 0;
            for (int32_t i = 0; i < in_features; ++i) {
                acc += (in[i] + input_offset) * wt[i];
            }
            output[b * out_features + o] = pb_requantize_s8(acc, q->multiplier[o], q->shift[o],
                                                            q->output_zero_point, q->act_min, q->act_max);
        }
    }
}

void pb_fully_connected_s8(int32_t batches, int32_t in_features, int32_t out_features, const pb_requant *q,
                           const int8_t *input, const int8_t *weights, const int32_t *bias, int8_t *output,
                           void *scratch) {
    PB_VARIANT(pb_fully_connected_s8)(batches, in_features, out_features, q, input, weights, bias, output, scratch);
}
