/* SPDX-License-Identifier: Apache-2.0 */
/* TRANSPOSE of a rank-4 view. */
#include "pb_kernels.h"

/* TRANSPOSE of a 4-D tensor in_dims[4]: output dimension d is input dimension perm[d]. */
void pb_transpose_s8(const int32_t in_dims[4], const int32_t perm[4], const int8_t *input, int8_t *output) {
    int32_t in_strides[4];
    in_strides[3] = 1;
    for (int d = 2; d >= 0; --d) {
        in_strides[d] = in_strides[d + 1] * in_dims[d + 1];
    }
    const int32_t d0 = in_dims[perm[0]], d1 = in_dims[perm[1]], d2 = in_dims[perm[2]], d3 = in_dims[perm[3]];
    const int32_t s0 = in_strides[perm[0]], s1 = in_strides[perm[1]], s2 = in_strides[perm[2]], s3 = in_strides[perm[3]];
    for (int32_t a = 0; a < d0; ++a) {
        for (int32_t b = 0; b < d1; ++b) {
            for (int32_t c = 0; c < d2; ++c) {
                const int8_t *in = input + a * s0 + b * s1 + c * s2;
                for (int32_t d = 0; d < d3; ++d) {
                    *output++ = in[d * s3];
                }
            }
        }
    }
}
