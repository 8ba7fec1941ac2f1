/* SPDX-License-Identifier: Apache-2.0 */
/* ADD of two int8 operands, broadcast (pb_broadcast.h): TFLite's int8 reference arithmetic. The DSP kernel,
 * with the same results, is in pb_add_dsp.c. */
#include "pb_broadcast.h"

static inline int8_t add_element(const pb_add_params *p, int32_t x, int32_t y) {
    const int32_t sum = add_rescaled(p, x, p->input1_offset, p->input1_multiplier, p->input1_shift) +
                        add_rescaled(p, y, p->input2_offset, p->input2_multiplier, p->input2_shift);
    const int32_t scaled =
        pb_multiply_by_quantized_multiplier_smaller_than_one_exp(sum, p->output_multiplier, p->output_shift);
    return pb_clamp_offset_s8(scaled, p->output_offset, p->act_min, p->act_max);
}

void pb_add_s8_portable(const pb_add_params *p, const int32_t dims[4], const int32_t a_strides[4],
                        const int32_t b_strides[4], const int8_t *a, const int8_t *b, int8_t *output) {
    PB_BROADCAST_WALK(add_element(p, x, y))
}

void pb_add_s8(const pb_add_params *p, const int32_t dims[4], const int32_t a_strides[4], const int32_t b_strides[4],
               const int8_t *a, const int8_t *b, int8_t *output) {
    PB_VARIANT(pb_add_s8)(p, dims, a_strides, b_strides, a, b, output);
}

/* ADD of `rows` runs of row_len elements, run i at a + i * a_rs and b + i * b_rs into output + i * out_rs: the
 * residual ADD fused into a conv in the patch stage (a chunk's rows, the other operand's and the output's
 * rows a window's); the DSP variant tests and prepares once for all the rows. */
void pb_add_s8_rows_portable(const pb_add_params *p, int32_t rows, int32_t row_len, const int8_t *a, int32_t a_rs,
                             const int8_t *b, int32_t b_rs, int8_t *output, int32_t out_rs) {
    static const int32_t unit_strides[4] = {0, 0, 0, 1};
    const int32_t run[4] = {1, 1, 1, row_len};
    for (int32_t i = 0; i < rows; ++i, a += a_rs, b += b_rs, output += out_rs) {
        pb_add_s8_portable(p, run, unit_strides, unit_strides, a, b, output);
    }
}

void pb_add_s8_rows(const pb_add_params *p, int32_t rows, int32_t row_len, const int8_t *a, int32_t a_rs,
                    const int8_t *b, int32_t b_rs, int8_t *output, int32_t out_rs) {
    PB_VARIANT(pb_add_s8_rows)(p, rows, row_len, a, a_rs, b, b_rs, output, out_rs);
}
