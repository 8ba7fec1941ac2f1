/* SPDX-License-Identifier: Apache-2.0 */
/* DEPTHWISE_CONV_2D: TFLite's reference loop for regions; the DSP kernel is in pb_depthwise_conv_dsp.c,
 * the in-place kernels in pb_depthwise_conv_inplace.c. */
#include "pb_kernels.h"

void pb_depthwise_conv2d_s8_portable(const pb_region *r, const pb_window *w, const pb_requant *q,
                                     const int8_t *input, const int8_t *filter, const int32_t *bias,
                                     int8_t *output, void *scratch) {
    (void)scratch;
    const int32_t in_rs = pb_in_row_stride(r), out_rs = pb_out_row_stride(r);
    const int32_t channels = r->out_c;
    const int32_t multiplier = r->out_c / r->in_c; /* output channel c reads input channel c / multiplier */
    const int32_t input_offset = -q->input_zero_point;
    for (int32_t oy = 0; oy < r->out_h; ++oy) {
        const int32_t iy0 = oy * w->stride_h - r->pad_top;
        for (int32_t ox = 0; ox < r->out_w; ++ox) {
            const int32_t ix0 = ox * w->stride_w - r->pad_left;
            int8_t *out = output + oy * out_rs + ox * channels;
            for (int32_t c = 0; c < channels; ++c) {
                const int32_t ic = c / multiplier;
                int32_t acc = bias ? bias[c] : 0;
                for (int32_t ky = 0; ky < w->kernel_h; ++ky) {
                    const int32_t iy = iy0 + ky * w->dilation_h;
                    if (iy < 0 || iy >= r->in_h) {
                        continue;
                    }
                    for (int32_t kx = 0; kx < w->kernel_w; ++kx) {
                        const int32_t ix = ix0 + kx * w->dilation_w;
                        if (ix < 0 || ix >= r->in_w) {
                            continue;
                        }
                        const int32_t x = input[iy * in_rs + ix * r->in_c + ic] + input_offset;
                        acc += x * filter[(ky * w->kernel_w + kx) * channels + c];
                    }
                }
                out[c] = pb_requantize_s8(acc, q->multiplier[c], q->shift[c], q->output_zero_point, q->act_min,
                                          q->act_max);
            }
        }
    }
}

void pb_depthwise_conv2d_s8(const pb_region *r, const pb_window *w, const pb_requant *q, const int8_t *input,
                            const int8_t *filter, const int32_t *bias, int8_t *output, void *scratch) {
    PB_VARIANT(pb_depthwise_conv2d_s8)(r, w, q, input, filter, bias, output, scratch);
}
