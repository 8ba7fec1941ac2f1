/* SPDX-License-Identifier: Apache-2.0 */
/* MUL of two int8 operands, broadcast (pb_broadcast.h): TFLite's int8 reference arithmetic. */
#include "pb_broadcast.h"

static inline int8_t mul_element(const pb_mul_params *p, int32_t x, int32_t y) {
    const int32_t product = (x + p->input1_offset) * (y + p->input2_offset);
    const int64_t scaled = pb_multiply_by_quantized_multiplier(product, p->output_multiplier, p->output_shift);
    return pb_clamp_offset_s8(scaled, p->output_offset, p->act_min, p->act_max);
}

/* MUL (reference_ops::MulElementwise / BroadcastMul4DSlow). */
void pb_mul_s8(const pb_mul_params *p, const int32_t dims[4], const int32_t a_strides[4], const int32_t b_strides[4],
               const int8_t *a, const int8_t *b, int8_t *output) {
    PB_BROADCAST_WALK(mul_element(p, x, y))
}
