/* SPDX-License-Identifier: Apache-2.0 */
/* BATCH_MATMUL of int8 operands, TFLite's reference arithmetic. One kernel for every
 * patchbench build; the CMSIS-NN kernel set calls arm_batch_matmul_s8 where it applies. */
#include "pb_kernels.h"

/* BATCH_MATMUL: for each of dims[0] batches, the [M, N] = [dims[1], dims[3]] int8
 * product of lhs [M, K] and rhs [K, N] (K = dims[2]), output rows contiguous. Operands are read through
 * element strides: strides[0..2] lhs batch, row, depth; strides[3..5] rhs batch, depth, column. Each sum
 * of (lhs - lhs_zero_point) * (rhs - rhs_zero_point) is requantized with multiplier, shift (TFLite's
 * MultiplyByQuantizedMultiplier), plus output_zero_point, clamped to int8. */
void pb_batch_matmul_s8(const int32_t dims[4], const int32_t strides[6], int32_t lhs_zero_point,
                        int32_t rhs_zero_point, int32_t output_zero_point, int32_t multiplier, int32_t shift,
                        const int8_t *lhs, const int8_t *rhs, int8_t *output) {
    const int32_t batches = dims[0], rows = dims[1], depth = dims[2], cols = dims[3];
    for (int32_t b = 0; b < batches; b++) {
        const int8_t *lhs_b = lhs + b * strides[0];
        const int8_t *rhs_b = rhs + b * strides[3];
        for (int32_t i = 0; i < rows; i++) {
            for (int32_t j = 0; j < cols; j++) {
                int32_t acc = 0;
                for (int32_t k = 0; k < depth; k++) {
                    const int32_t a = lhs_b[i * strides[1] + k * strides[2]] - lhs_zero_point;
                    const int32_t w = rhs_b[k * strides[4] + j * strides[5]] - rhs_zero_point;
                    acc += a * w;
                }
                int64_t value = pb_multiply_by_quantized_multiplier(acc, multiplier, shift) + output_zero_point;
                value = value < -128 ? -128 : value > 127 ? 127 : value;
                *output++ = (int8_t)value;
            }
        }
    }
}
