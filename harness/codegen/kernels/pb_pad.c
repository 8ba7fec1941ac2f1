/* SPDX-License-Identifier: Apache-2.0 */
/* PAD and PADV2 of a rank-4 view. */
#include <string.h>

#include "pb_kernels.h"

/* PAD of a 4-D tensor in_dims[4]; pads[2*d] before and pads[2*d + 1] after dimension d;
 * padded elements get pad_value (the output zero point for TFLite's PAD). */
void pb_pad_s8(const int32_t in_dims[4], const int32_t pads[8], int8_t pad_value, const int8_t *input,
               int8_t *output) {
    int32_t out_dims[4];
    for (int d = 0; d < 4; ++d) {
        out_dims[d] = pads[2 * d] + in_dims[d] + pads[2 * d + 1];
    }
    const int32_t inner = in_dims[3];
    for (int32_t n = 0; n < out_dims[0]; ++n) {
        for (int32_t h = 0; h < out_dims[1]; ++h) {
            for (int32_t w = 0; w < out_dims[2]; ++w) {
                int8_t *out = output + ((n * out_dims[1] + h) * out_dims[2] + w) * out_dims[3];
                const int32_t in_n = n - pads[0], in_h = h - pads[2], in_w = w - pads[4];
                if (in_n < 0 || in_n >= in_dims[0] || in_h < 0 || in_h >= in_dims[1] || in_w < 0 ||
                    in_w >= in_dims[2]) {
                    memset(out, pad_value, (size_t)out_dims[3]);
                    continue;
                }
                memset(out, pad_value, (size_t)pads[6]);
                memcpy(out + pads[6], input + ((in_n * in_dims[1] + in_h) * in_dims[2] + in_w) * inner, (size_t)inner);
                memset(out + pads[6] + inner, pad_value, (size_t)pads[7]);
            }
        }
    }
}
