/* SPDX-License-Identifier: Apache-2.0 */
/* The elementwise ops of one int8 input (LOGISTIC, TANH, HARD_SWISH, LEAKY_RELU, the ReLUs) as a 256-entry
 * table the code generator computes (harness.reference.unary_table). */
#include "pb_kernels.h"

/* An elementwise int8 activation (LOGISTIC, TANH, HARD_SWISH, LEAKY_RELU, RELU, RELU6, RELU_N1_TO_1):
 * output[i] = table[input[i] + 128], the table harness.reference.unary_table computes. output may
 * alias input. */
void pb_lut_s8(int32_t size, const int8_t table[256], const int8_t *input, int8_t *output) {
    for (int32_t i = 0; i < size; ++i) {
        output[i] = table[(int32_t)input[i] + 128];
    }
}
