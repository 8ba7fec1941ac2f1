/* SPDX-License-Identifier: Apache-2.0 */
/* What the two-operand kernels (pb_add.c, pb_sub.c, pb_mul.c, pb_maximum_minimum.c, pb_prelu.c) share:
 * the walk of a broadcast output, and ADD's and SUB's operand rescaling. */
#ifndef PB_BROADCAST_H
#define PB_BROADCAST_H

#include "pb_kernels.h"

/* Walks a broadcast output (pb_kernels.h, "Broadcasting"): x and y are the operands' values of the output
 * element written, ELEMENT its value. A contiguous innermost run (both strides 1, the elementwise case)
 * gets its own loop, which the compiler keeps free of stride multiplies. */
#define PB_BROADCAST_WALK(ELEMENT)                                                                          \
    for (int32_t i0 = 0; i0 < dims[0]; ++i0) {                                                               \
        for (int32_t i1 = 0; i1 < dims[1]; ++i1) {                                                           \
            for (int32_t i2 = 0; i2 < dims[2]; ++i2) {                                                       \
                const int8_t *ra = a + i0 * a_strides[0] + i1 * a_strides[1] + i2 * a_strides[2];            \
                const int8_t *rb = b + i0 * b_strides[0] + i1 * b_strides[1] + i2 * b_strides[2];            \
                const int32_t sa = a_strides[3], sb = b_strides[3];                                          \
                if (sa == 1 && sb == 1) {                                                                    \
                    for (int32_t i3 = 0; i3 < dims[3]; ++i3) {                                               \
                        const int32_t x = ra[i3], y = rb[i3];                                                \
                        *output++ = (ELEMENT);                                                               \
                    }                                                                                        \
                } else {                                                                                     \
                    for (int32_t i3 = 0; i3 < dims[3]; ++i3) {                                               \
                        const int32_t x = ra[i3 * sa], y = rb[i3 * sb];                                      \
                        *output++ = (ELEMENT);                                                               \
                    }                                                                                        \
                }                                                                                            \
            }                                                                                                \
        }                                                                                                    \
    }

/* ADD's and SUB's operand rescaling (TFLite's): (x + offset) << left_shift, times the operand's multiplier. */
static inline int32_t add_rescaled(const pb_add_params *p, int32_t x, int32_t offset, int32_t multiplier,
                                   int32_t shift) {
    return pb_multiply_by_quantized_multiplier_smaller_than_one_exp((x + offset) * (1 << p->left_shift), multiplier,
                                                                     shift);
}

#endif
