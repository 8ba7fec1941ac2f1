/* SPDX-License-Identifier: Apache-2.0 */
/* CONCATENATION: inputs side by side along one axis, each requantized to the output's scale when it differs. */
#include <string.h>

#include "pb_kernels.h"

/* CONCATENATION: the tensors viewed as [outer_size, inner_size] and joined along the inner axis. */
void pb_concat_s8(int32_t n_inputs, const pb_concat_input inputs[], int32_t outer_size, int32_t output_zero_point,
                  int8_t *output) {
    for (int32_t o = 0; o < outer_size; ++o) {
        for (int32_t k = 0; k < n_inputs; ++k) {
            const pb_concat_input *in = &inputs[k];
            const int8_t *src = in->data + o * in->inner_size;
            if (in->multiplier == 0) {
                memcpy(output, src, (size_t)in->inner_size);
            } else {
                for (int32_t i = 0; i < in->inner_size; ++i) {
                    const int64_t scaled =
                        pb_multiply_by_quantized_multiplier(src[i] - in->zero_point, in->multiplier, in->shift);
                    output[i] = pb_clamp_offset_s8(scaled, output_zero_point, PB_INT8_MIN, PB_INT8_MAX);
                }
            }
            output += in->inner_size;
        }
    }
}
