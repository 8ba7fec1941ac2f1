/* SPDX-License-Identifier: Apache-2.0 */
/* MAXIMUM and MINIMUM of two int8 operands, broadcast (pb_broadcast.h); one scale, so no arithmetic. */
#include "pb_broadcast.h"

/* MAXIMUM / MINIMUM: the raw int8 values compared (both operands and the output share a quantization). */
void pb_maximum_s8(const int32_t dims[4], const int32_t a_strides[4], const int32_t b_strides[4], const int8_t *a,
                   const int8_t *b, int8_t *output) {
    PB_BROADCAST_WALK((int8_t)(x > y ? x : y))
}

void pb_minimum_s8(const int32_t dims[4], const int32_t a_strides[4], const int32_t b_strides[4], const int8_t *a,
                   const int8_t *b, int8_t *output) {
    PB_BROADCAST_WALK((int8_t)(x < y ? x : y))
}
