/* SPDX-License-Identifier: Apache-2.0 */
/* ARG_MAX of int8 values. One kernel for every build: a compare per value leaves nothing
 * for the DSP instructions to gain. */
#include "pb_kernels.h"

/* ARG_MAX: the input viewed as [outer, count, inner]; output[o * inner + i] is the index
 * k < count of the first largest input[(o * count + k) * inner + i] (TFLite's ArgMinMax). */
void pb_arg_max_s8(int32_t outer, int32_t count, int32_t inner, const int8_t *input, int32_t *output) {
    for (int32_t o = 0; o < outer; o++) {
        const int8_t *block = input + o * count * inner;
        for (int32_t i = 0; i < inner; i++) {
            int8_t best = block[i];
            int32_t index = 0;
            for (int32_t k = 1; k < count; k++) {
                const int8_t value = block[k * inner + i];
                if (value > best) { /* strictly greater: the first of equal values wins, as in TFLite */
                    best = value;
                    index = k;
                }
            }
            output[o * inner + i] = index;
        }
    }
}
