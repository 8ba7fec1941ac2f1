/* SPDX-License-Identifier: Apache-2.0 */
/* SUB of two int8 operands, broadcast (pb_broadcast.h): TFLite's int8 reference arithmetic. */
#include "pb_broadcast.h"

static inline int8_t sub_element(const pb_add_params *p, int32_t x, int32_t y) {
    const int32_t difference = add_rescaled(p, x, p->input1_offset, p->input1_multiplier, p->input1_shift) -
                               add_rescaled(p, y, p->input2_offset, p->input2_multiplier, p->input2_shift);
    const int32_t scaled =
        pb_multiply_by_quantized_multiplier_smaller_than_one_exp(difference, p->output_multiplier, p->output_shift);
    return pb_clamp_offset_s8(scaled, p->output_offset, p->act_min, p->act_max);
}

/* SUB: ADD's parameters (reference.add_quant), the rescaled operands subtracted (BroadcastQuantSubSlow). */
void pb_sub_s8(const pb_add_params *p, const int32_t dims[4], const int32_t a_strides[4], const int32_t b_strides[4],
               const int8_t *a, const int8_t *b, int8_t *output) {
    PB_BROADCAST_WALK(sub_element(p, x, y))
}
