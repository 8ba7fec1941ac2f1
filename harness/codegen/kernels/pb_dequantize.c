/* SPDX-License-Identifier: Apache-2.0 */
/* DEQUANTIZE: int8 -> float32 (a float model's output). */
#include "pb_kernels.h"

/* DEQUANTIZE int8 -> float32: (float)((q - zero_point) * scale), the product in double
 * (harness.ir.quant.dequantize). */
void pb_dequantize_s8_f32(int32_t size, double scale, int32_t zero_point, const int8_t *input, float *output) {
    for (int32_t i = 0; i < size; ++i) {
        output[i] = (float)((double)(input[i] - zero_point) * scale);
    }
}
