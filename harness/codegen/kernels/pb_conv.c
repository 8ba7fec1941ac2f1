/* SPDX-License-Identifier: Apache-2.0 */
/* CONV_2D: TFLite's reference loops, written for regions (pb_kernels.h), and pb_conv2d_s8 / pb_conv1x1_s8
 * picking the variant by the one rule (PB_VARIANT); the DSP kernels are in pb_conv_dsp.c. */
#include "pb_kernels.h"

int32_t pb_region_check(const pb_region *r, const pb_window *w) {
    if (r->in_h <= 0 || r->in_w <= 0 || r->in_c <= 0 || r->out_h <= 0 || r->out_w <= 0 || r->out_c <= 0 ||
        w->kernel_h <= 0 || w->kernel_w <= 0 || w->stride_h <= 0 || w->stride_w <= 0 || w->dilation_h <= 0 ||
        w->dilation_w <= 0 || r->pad_top < 0 || r->pad_bottom < 0 || r->pad_left < 0 || r->pad_right < 0) {
        return 3;
    }
    const int32_t eff_h = (w->kernel_h - 1) * w->dilation_h + 1;
    const int32_t eff_w = (w->kernel_w - 1) * w->dilation_w + 1;
    const int32_t span_h = r->pad_top + r->in_h + r->pad_bottom - eff_h;
    const int32_t span_w = r->pad_left + r->in_w + r->pad_right - eff_w;
    if (span_h < 0 || span_h / w->stride_h + 1 != r->out_h) {
        return 1;
    }
    if (span_w < 0 || span_w / w->stride_w + 1 != r->out_w) {
        return 2;
    }
    return 0;
}

void pb_conv2d_s8_portable(const pb_region *r, const pb_window *w, const pb_requant *q, const int8_t *input,
                           const int8_t *filter, const int32_t *bias, int8_t *output, void *scratch) {
    (void)scratch;
    const int32_t in_rs = pb_in_row_stride(r), out_rs = pb_out_row_stride(r);
    const int32_t in_c = r->in_c, out_c = r->out_c;
    const int32_t input_offset = -q->input_zero_point;
    for (int32_t oy = 0; oy < r->out_h; ++oy) {
        const int32_t iy0 = oy * w->stride_h - r->pad_top;
        for (int32_t ox = 0; ox < r->out_w; ++ox) {
            const int32_t ix0 = ox * w->stride_w - r->pad_left;
            int8_t *out = output + oy * out_rs + ox * out_c;
            for (int32_t oc = 0; oc < out_c; ++oc) {
                int32_t acc = bias ? bias[oc] : 0;
                for (int32_t ky = 0; ky < w->kernel_h; ++ky) {
                    const int32_t iy = iy0 + ky * w->dilation_h;
                    if (iy < 0 || iy >= r->in_h) {
                        continue; /* padding: (zero point + input_offset) * weight = 0 */
                    }
                    for (int32_t kx = 0; kx < w->kernel_w; ++kx) {
                        const int32_t ix = ix0 + kx * w->dilation_w;
                        if (ix < 0 || ix >= r->in_w) {
                            continue;
                        }
                        const int8_t *px = input + iy * in_rs + ix * in_c;
                        const int8_t *wt = filter + ((oc * w->kernel_h + ky) * w->kernel_w + kx) * in_c;
                        for (int32_t ic = 0; ic < in_c; ++ic) {
                            acc += (px[ic] + input_offset) * wt[ic];
                        }
                    }
                }
                out[oc] = pb_requantize_s8(acc, q->multiplier[oc], q->shift[oc], q->output_zero_point, q->act_min,
                                           q->act_max);
            }
        }
    }
}

void pb_conv1x1_s8_portable(const pb_region *r, const pb_window *w, const pb_requant *q, const int8_t *input,
                            const int8_t *filter, const int32_t *bias, int8_t *output, void *scratch) {
    (void)scratch;
    const int32_t in_rs = pb_in_row_stride(r), out_rs = pb_out_row_stride(r);
    const int32_t in_c = r->in_c, out_c = r->out_c;
    const int32_t input_offset = -q->input_zero_point;
    for (int32_t oy = 0; oy < r->out_h; ++oy) {
        for (int32_t ox = 0; ox < r->out_w; ++ox) {
            const int8_t *px = input + oy * w->stride_h * in_rs + ox * w->stride_w * in_c;
            int8_t *out = output + oy * out_rs + ox * out_c;
            for (int32_t oc = 0; oc < out_c; ++oc) {
                const int8_t *wt = filter + oc * in_c;
                int32_t acc = bias ? bias[oc] : 0;
                for (int32_t ic = 0; ic < in_c; ++ic) {
                    acc += (px[ic] + input_offset) * wt[ic];
                }
                out[oc] = pb_requantize_s8(acc, q->multiplier[oc], q->shift[oc], q->output_zero_point, q->act_min,
                                           q->act_max);
            }
        }
    }
}

void pb_conv2d_s8(const pb_region *r, const pb_window *w, const pb_requant *q, const int8_t *input,
                  const int8_t *filter, const int32_t *bias, int8_t *output, void *scratch) {
    if (w->kernel_h == 1 && w->kernel_w == 1 && r->pad_top == 0 && r->pad_bottom == 0 && r->pad_left == 0 &&
        r->pad_right == 0) {
        PB_VARIANT(pb_conv1x1_s8)(r, w, q, input, filter, bias, output, scratch);
    } else {
        PB_VARIANT(pb_conv2d_s8)(r, w, q, input, filter, bias, output, scratch);
    }
}

void pb_conv1x1_s8(const pb_region *r, const pb_window *w, const pb_requant *q, const int8_t *input,
                   const int8_t *filter, const int32_t *bias, int8_t *output, void *scratch) {
    PB_VARIANT(pb_conv1x1_s8)(r, w, q, input, filter, bias, output, scratch);
}
