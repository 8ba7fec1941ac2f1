/* SPDX-License-Identifier: Apache-2.0 */
/* The test input generator: see pb_test_input.h. */
#include "pb_test_input.h"

uint32_t pb_test_input_bits(uint32_t seed, uint32_t index) {
    uint32_t x = index + seed * 0x9E3779B9u;
    x ^= x >> 16;
    x *= 0x7FEB352Du;
    x ^= x >> 15;
    x *= 0x846CA68Bu;
    x ^= x >> 16;
    return x;
}

void pb_test_input_s8(int8_t *dst, uint32_t seed, uint32_t first, uint32_t count) {
    for (uint32_t i = 0; i < count; i++) {
        dst[i] = (int8_t)(pb_test_input_bits(seed, first + i) >> 24);
    }
}

void pb_test_input_f32(float *dst, uint32_t seed, uint32_t first, uint32_t count, float scale, int32_t zero_point) {
    for (uint32_t i = 0; i < count; i++) {
        uint32_t bits = pb_test_input_bits(seed, first + i);
        int32_t step = (int32_t)(int8_t)(bits >> 24) - zero_point;
        float fraction = (float)((bits >> 16) & 0xFFu) * 0.00390625f; /* / 256, exact */
        dst[i] = ((float)step + fraction) * scale;
    }
}
