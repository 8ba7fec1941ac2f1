/* SPDX-License-Identifier: Apache-2.0 */
/* Cortex-M DSP kernel of TRANSPOSE_CONV: the portable kernel's gather (pb_transpose_conv.c), each tap's
 * dot product over the input channels as SMLAD, two MACs an instruction (four channels a word: the input
 * widened with its offset by SXTAB16, the weights by SXTB16, both in the order [c0 c2] [c1 c3]; no
 * scratch). The same int32 sums modulo 2^32, then the same requantization: bit-exact with the portable
 * kernel. */
#include <stdint.h>

#include "pb_dsp_kernels.h"

/* acc + sum over n channels of (in[i] + input_offset) * w[i] (|in + offset| <= 255 fits an int16 lane). */
static PB_ALWAYS_INLINE uint32_t dot_with_offset(const int8_t *in, const int8_t *w, int32_t n, uint32_t offset2,
                                                 int32_t input_offset, uint32_t acc) {
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const uint32_t x = pb_read_u32(in + i), wt = pb_read_u32(w + i);
        acc = (uint32_t)pb_smlad(pb_sxtab16(offset2, x), pb_sxtb16(wt), (int32_t)acc);
        acc = (uint32_t)pb_smlad(pb_sxtab16_ror8(offset2, x), pb_sxtb16_ror8(wt), (int32_t)acc);
    }
    for (; i < n; ++i) {
        acc += (uint32_t)((in[i] + input_offset) * w[i]);
    }
    return acc;
}

#define PB_TCONV_MAX_TAPS 64 /* taps listed per output pixel; larger kernels take the portable kernel */

void pb_transpose_conv_s8_dsp(const pb_transpose_conv_shape *g, const pb_requant *q, const pb_tile *tile,
                              const int8_t *input, const int8_t *filter, const int32_t *bias, int8_t *output) {
    if (g->kernel_h * g->kernel_w > PB_TCONV_MAX_TAPS) {
        pb_transpose_conv_s8_portable(g, q, tile, input, filter, bias, output);
        return;
    }
    const int32_t input_offset = -q->input_zero_point;
    const uint32_t offset2 = pack_offset(input_offset);
    const int32_t in_c = g->in_c, filter_bytes = g->kernel_h * g->kernel_w * in_c;
    /* the output pixel's taps, found once for all its output channels: input pixel and filter offset */
    const int8_t *tap_input[PB_TCONV_MAX_TAPS];
    int32_t tap_filter[PB_TCONV_MAX_TAPS];
    for (int32_t y = 0; y < tile->out_h; ++y) {
        const int32_t oy = tile->out_y0 + y;
        for (int32_t x = 0; x < tile->out_w; ++x) {
            const int32_t ox = tile->out_x0 + x;
            int32_t taps = 0;
            for (int32_t ky = 0; ky < g->kernel_h; ++ky) {
                const int32_t ty = oy + g->pad_top - ky;
                if (ty < 0 || ty % g->stride_h || ty / g->stride_h >= g->in_h) continue;
                const int8_t *in_row = input + (ty / g->stride_h - tile->in_y0) * tile->in_row_stride;
                for (int32_t kx = 0; kx < g->kernel_w; ++kx) {
                    const int32_t tx = ox + g->pad_left - kx;
                    if (tx < 0 || tx % g->stride_w || tx / g->stride_w >= g->in_w) continue;
                    tap_input[taps] = in_row + (tx / g->stride_w - tile->in_x0) * in_c;
                    tap_filter[taps] = (ky * g->kernel_w + kx) * in_c;
                    ++taps;
                }
            }
            int8_t *out = output + y * tile->out_row_stride + x * g->out_c;
            const int8_t *w_oc = filter;
            for (int32_t oc = 0; oc < g->out_c; ++oc, w_oc += filter_bytes) {
                uint32_t acc = bias ? (uint32_t)bias[oc] : 0u;
                for (int32_t t = 0; t < taps; ++t) {
                    acc = dot_with_offset(tap_input[t], w_oc + tap_filter[t], in_c, offset2, input_offset, acc);
                }
                const int64_t scaled = pb_multiply_by_quantized_multiplier((int32_t)acc, q->multiplier[oc], q->shift[oc]);
                out[oc] = pb_clamp_offset_s8(scaled, q->output_zero_point, q->act_min, q->act_max);
            }
        }
    }
}
