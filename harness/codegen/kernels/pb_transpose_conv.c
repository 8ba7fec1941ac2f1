/* SPDX-License-Identifier: Apache-2.0 */
/* TRANSPOSE_CONV: the portable kernel (a gather per output pixel) and pb_transpose_conv_s8 picking the
 * variant (PB_VARIANT); the DSP kernel is in pb_transpose_conv_dsp.c. */
#include "pb_kernels.h"

void pb_transpose_conv_s8_portable(const pb_transpose_conv_shape *g, const pb_requant *q, const pb_tile *tile,
                                   const int8_t *input, const int8_t *filter, const int32_t *bias, int8_t *output) {
    /* Gathered per output pixel instead of TFLite's scatter into an int32 buffer: the same sum of
     * products (modulo 2^32), so no scratch, and any tile of the output can be computed alone. Output
     * (oy, ox) takes tap (ky, kx) of input pixel (iy, ix) where iy * stride_h - pad_top + ky == oy (same
     * for columns); every such input pixel lies in the tile's window (geometry.tile_input_window). */
    for (int32_t y = 0; y < tile->out_h; ++y) {
        const int32_t oy = tile->out_y0 + y;
        for (int32_t x = 0; x < tile->out_w; ++x) {
            const int32_t ox = tile->out_x0 + x;
            int8_t *out = output + y * tile->out_row_stride + x * g->out_c;
            for (int32_t oc = 0; oc < g->out_c; ++oc) {
                uint32_t acc = bias ? (uint32_t)bias[oc] : 0u;
                for (int32_t ky = 0; ky < g->kernel_h; ++ky) {
                    const int32_t ty = oy + g->pad_top - ky;
                    if (ty < 0 || ty % g->stride_h) continue;
                    const int32_t iy = ty / g->stride_h;
                    if (iy >= g->in_h) continue;
                    for (int32_t kx = 0; kx < g->kernel_w; ++kx) {
                        const int32_t tx = ox + g->pad_left - kx;
                        if (tx < 0 || tx % g->stride_w) continue;
                        const int32_t ix = tx / g->stride_w;
                        if (ix >= g->in_w) continue;
                        const int8_t *in = input + (iy - tile->in_y0) * tile->in_row_stride + (ix - tile->in_x0) * g->in_c;
                        const int8_t *w = filter + ((oc * g->kernel_h + ky) * g->kernel_w + kx) * g->in_c;
                        for (int32_t ic = 0; ic < g->in_c; ++ic) {
                            acc += (uint32_t)(((int32_t)in[ic] - q->input_zero_point) * (int32_t)w[ic]);
                        }
                    }
                }
                const int64_t scaled = pb_multiply_by_quantized_multiplier((int32_t)acc, q->multiplier[oc], q->shift[oc]);
                out[oc] = pb_clamp_offset_s8(scaled, q->output_zero_point, q->act_min, q->act_max);
            }
        }
    }
}

void pb_transpose_conv_s8(const pb_transpose_conv_shape *g, const pb_requant *q, const pb_tile *tile,
                          const int8_t *input, const int8_t *filter, const int32_t *bias, int8_t *output) {
    PB_VARIANT(pb_transpose_conv_s8)(g, q, tile, input, filter, bias, output);
}
