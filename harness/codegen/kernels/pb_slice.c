/* SPDX-License-Identifier: Apache-2.0 */
/* SLICE and STRIDED_SLICE: a box of a rank-4 view, every step-th element. */
#include <string.h>

#include "pb_kernels.h"

/* SLICE / STRIDED_SLICE of a 4-D tensor in_dims[4]: output element (i0, i1, i2, i3) of out_dims[4] is input
 * element (begin[d] + i_d * step[d]) (harness.ir.slicing's box; shrunk axes are dims of 1). */
void pb_slice_s8(const int32_t in_dims[4], const int32_t begin[4], const int32_t step[4], const int32_t out_dims[4],
                 const int8_t *input, int8_t *output) {
    for (int32_t i0 = 0; i0 < out_dims[0]; ++i0) {
        for (int32_t i1 = 0; i1 < out_dims[1]; ++i1) {
            for (int32_t i2 = 0; i2 < out_dims[2]; ++i2) {
                const int32_t pixel =
                    ((begin[0] + i0 * step[0]) * in_dims[1] + begin[1] + i1 * step[1]) * in_dims[2] + begin[2] +
                    i2 * step[2];
                const int8_t *src = input + pixel * in_dims[3] + begin[3];
                if (step[3] == 1) {
                    memcpy(output, src, (size_t)out_dims[3]);
                } else {
                    for (int32_t i3 = 0; i3 < out_dims[3]; ++i3) {
                        output[i3] = src[i3 * step[3]];
                    }
                }
                output += out_dims[3];
            }
        }
    }
}
