/* SPDX-License-Identifier: Apache-2.0 */
/* ADD on the Cortex-M DSP extension: TFLite's int8 arithmetic (pb_add.c) in a handful of instructions per
 * element, bit for bit the same.
 *
 * Each operand's rescaling, RoundingDivideByPOT(SaturatingRoundingDoublingHighMul((x + offset) << 20, m), e),
 * is one SMMLAR and a shift. With v = x + offset (|v| <= 255, so v << 21 fits an int32 and no saturation
 * can happen) the high multiply is floor((v * m * 2^20 + 2^30) / 2^31) = floor(((v << 21) * m + 2^31) / 2^32),
 * SMMLAR's rounding; the divide by 2^e, floor((y + 2^(e-1) - [y < 0]) / 2^e), folds into its accumulator:
 * floor(((2^(e-1) - [v < 0]) * 2^32 + (v << 21) * m + 2^31) / 2^32) >> e ([v < 0] may stand for [y < 0]:
 * they differ only where y = 0, and both then give 0). e = 0 (the operand of the larger scale) takes no
 * accumulator. The sum of the two (|sum| < 2^29) is requantized as the conv kernels do (pb_requant_x2).
 * Parameters outside these bounds (another left shift, a shift outside the prepared range) run the
 * portable kernel. */
#include "pb_broadcast.h"
#include "pb_dsp.h"

/* One operand's rescaling prepared: (x + offset) << 21 is x << 21 + offset21. */
typedef struct {
    int32_t offset21, multiplier, round, sign_mask, shift;
} rescale;

static inline int32_t rescale_prepare(int32_t offset, int32_t multiplier, int32_t shift, rescale *r) {
    if (multiplier < 0 || shift > 0 || shift < -31) {
        return 0;
    }
    r->offset21 = (int32_t)((uint32_t)offset << 21);
    r->multiplier = multiplier;
    r->round = shift < 0 ? (int32_t)(1u << (-shift - 1)) : 0;
    r->sign_mask = shift < 0 ? -1 : 0;
    r->shift = -shift;
    return 1;
}

static inline int32_t rescaled(int32_t x, const rescale *r) {
    const int32_t v21 = (int32_t)((uint32_t)x << 21) + r->offset21;
    return pb_smmlar(v21, r->multiplier, r->round + ((v21 >> 31) & r->sign_mask)) >> r->shift;
}

static inline int8_t add_fast(int32_t x, int32_t y, const rescale *r1, const rescale *r2,
                              const pb_channel_requant_x2 *out, int32_t act_min, int32_t act_max) {
    int32_t value = pb_requant_x2(rescaled(x, r1) + rescaled(y, r2), out);
    value = value < act_min ? act_min : value;
    return (int8_t)(value > act_max ? act_max : value);
}

void pb_add_s8_dsp(const pb_add_params *p, const int32_t dims[4], const int32_t a_strides[4],
                   const int32_t b_strides[4], const int8_t *a, const int8_t *b, int8_t *output) {
    rescale r1, r2;
    pb_channel_requant_x2 out;
    /* |sum| <= 2 * 255 * 2^20 * m / 2^31 < 2^29 */
    if (p->left_shift != 20 || !rescale_prepare(p->input1_offset, p->input1_multiplier, p->input1_shift, &r1) ||
        !rescale_prepare(p->input2_offset, p->input2_multiplier, p->input2_shift, &r2) ||
        !pb_channel_requant_x2_prepare(p->output_multiplier, p->output_shift, p->output_offset, (int64_t)1 << 29,
                                       &out)) {
        pb_add_s8_portable(p, dims, a_strides, b_strides, a, b, output);
        return;
    }
    const int32_t act_min = p->act_min, act_max = p->act_max;
    PB_BROADCAST_WALK(add_fast(x, y, &r1, &r2, &out, act_min, act_max))
}
