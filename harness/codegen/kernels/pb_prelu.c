/* SPDX-License-Identifier: Apache-2.0 */
/* PRELU: the input times alpha (broadcast, pb_broadcast.h) where it is negative, TFLite's int8 arithmetic. */
#include "pb_broadcast.h"

static inline int8_t prelu_element(const pb_prelu_params *p, int32_t x, int32_t alpha) {
    const int32_t value = x + p->input_offset;
    const int64_t scaled =
        value >= 0 ? pb_multiply_by_quantized_multiplier(value, p->output_multiplier_1, p->output_shift_1)
                   : pb_multiply_by_quantized_multiplier(value * (alpha + p->alpha_offset), p->output_multiplier_2,
                                                         p->output_shift_2);
    return pb_clamp_offset_s8(scaled, p->output_offset, PB_INT8_MIN, PB_INT8_MAX);
}

/* PRELU (reference_ops::BroadcastPrelu4DSlow): a is the input, b the alpha. */
void pb_prelu_s8(const pb_prelu_params *p, const int32_t dims[4], const int32_t a_strides[4],
                 const int32_t b_strides[4], const int8_t *a, const int8_t *b, int8_t *output) {
    PB_BROADCAST_WALK(prelu_element(p, x, y))
}
