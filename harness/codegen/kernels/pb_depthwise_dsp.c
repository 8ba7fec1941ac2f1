/* Cortex-M DSP kernel of the depthwise convolution. Same results as the portable kernel bit for bit:
 * the same int32 sums in another order (integer addition is associative, and TFLite's int32
 * accumulators do not overflow for int8 data), then the same requantization.
 *
 * The kernel works on four channels at a time: one word of input, one word of weights,
 * SMLABB/SMLATT per channel; the channel group's weights are widened to int16 once, in scratch.
 * (Its own file, apart from pb_conv_dsp.c, so the two can be tuned independently.)
 */
#include <stdint.h>
#include <string.h>

#include "pb_dsp.h"
#include "pb_kernels.h"

#if defined(__GNUC__)
#define PB_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define PB_ALWAYS_INLINE inline
#endif

static uint32_t *align4(void *p) { return (uint32_t *)(((uintptr_t)p + 3u) & ~(uintptr_t)3u); }

static uint32_t pack_offset(int32_t offset) { return ((uint32_t)offset & 0xFFFFu) * 0x10001u; }

/* A pb_requant's values in locals: the kernel's int8 stores could alias the struct, so reading its
 * fields inside the loops would reload them after every store. */
typedef struct {
    const int32_t *multiplier, *shift;
    int32_t zero_point, act_min, act_max;
} requant_values;

static requant_values requant_of(const pb_requant *q) {
    const requant_values values = {q->multiplier, q->shift, q->output_zero_point, q->act_min, q->act_max};
    return values;
}

static PB_ALWAYS_INLINE int8_t requant(int32_t acc, const requant_values *q, int32_t channel) {
    return pb_requantize_s8_fast(acc, q->multiplier[channel], q->shift[channel], q->zero_point, q->act_min,
                                 q->act_max);
}

static PB_ALWAYS_INLINE int32_t clamp_act(int32_t value, int32_t act_min, int32_t act_max) {
    value = value < act_min ? act_min : value;
    return value > act_max ? act_max : value;
}

/* ---- depthwise convolution ------------------------------------------------------------------------ */

/* First and one-past-last kernel index whose input position start + i * dilation is in [0, size). */
static void valid_taps(int32_t start, int32_t dilation, int32_t kernel, int32_t size, int32_t *first, int32_t *end) {
    int32_t lo = start < 0 ? (-start + dilation - 1) / dilation : 0;
    int32_t hi = size - start <= 0 ? 0 : (size - start + dilation - 1) / dilation;
    *first = lo;
    *end = hi < kernel ? hi : kernel;
}

/* One tap of four channels: one word of input widened to [x0 x2] [x1 x3], one SMLAxy per channel. */
#define PB_DW_TAP(px, wt)                                                                                    \
    do {                                                                                                     \
        const uint32_t x_ = pb_read_u32(px);                                                                 \
        const uint32_t x02_ = pb_sxtab16(offset2, x_), x13_ = pb_sxtab16_ror8(offset2, x_);                  \
        const uint32_t w02_ = (wt)[0], w13_ = (wt)[1];                                                       \
        acc0 = pb_smlabb(x02_, w02_, acc0);                                                                  \
        acc2 = pb_smlatt(x02_, w02_, acc2);                                                                  \
        acc1 = pb_smlabb(x13_, w13_, acc1);                                                                  \
        acc3 = pb_smlatt(x13_, w13_, acc3);                                                                  \
    } while (0)

void pb_depthwise_conv2d_s8_dsp(const pb_region *r, const pb_window *w, const pb_requant *requant_params,
                                const int8_t *input, const int8_t *filter, const int32_t *bias, int8_t *output,
                                void *scratch) {
    const requant_values values = requant_of(requant_params);
    const requant_values *q = &values;
    const int32_t in_rs = r->in_row_stride ? r->in_row_stride : r->in_w * r->in_c;
    const int32_t out_rs = r->out_row_stride ? r->out_row_stride : r->out_w * r->out_c;
    const int32_t channels = r->out_c, in_c = r->in_c;
    const int32_t kh = w->kernel_h, kw = w->kernel_w, dh = w->dilation_h, dw = w->dilation_w;
    const int32_t input_offset = -requant_params->input_zero_point;
    const uint32_t offset2 = pack_offset(input_offset);
    const int32_t full_range = q->act_min == PB_INT8_MIN && q->act_max == PB_INT8_MAX;
    const int32_t tap_step = dw * in_c, row_step = dh * in_rs;
    /* output columns whose window lies inside the held columns: no valid-tap ranges there */
    int32_t ox_first = 0, ox_end = 0;
    {
        const int32_t sw = w->stride_w, span = (kw - 1) * dw;
        ox_first = r->pad_left > 0 ? (r->pad_left + sw - 1) / sw : 0;
        const int32_t last_ix = r->in_w - 1 - span + r->pad_left; /* ox * sw <= last_ix */
        ox_end = last_ix < 0 ? 0 : last_ix / sw + 1;
        ox_end = ox_end > r->out_w ? r->out_w : ox_end;
        ox_first = ox_first > ox_end ? ox_end : ox_first;
    }
    uint32_t *wbuf = align4(scratch);
    int32_t c = 0;
    for (; c + 4 <= channels; c += 4) {
        /* This channel group's weights as int16: tap t at words 2t ([w0 w2]) and 2t + 1 ([w1 w3]). */
        for (int32_t t = 0; t < kh * kw; ++t) {
            const uint32_t wt = pb_read_u32(filter + t * channels + c);
            wbuf[2 * t] = pb_sxtb16(wt);
            wbuf[2 * t + 1] = pb_sxtb16_ror8(wt);
        }
        const int32_t bias0 = bias ? bias[c] : 0, bias1 = bias ? bias[c + 1] : 0;
        const int32_t bias2 = bias ? bias[c + 2] : 0, bias3 = bias ? bias[c + 3] : 0;
        pb_channel_requant cr[4];
        int32_t folded = 1;
        for (int32_t i = 0; i < 4; ++i) {
            folded &= pb_channel_requant_prepare(q->multiplier[c + i], q->shift[c + i], q->zero_point, &cr[i]);
        }
        for (int32_t oy = 0; oy < r->out_h; ++oy) {
            const int32_t iy0 = oy * w->stride_h - r->pad_top;
            int32_t ky0, ky1;
            valid_taps(iy0, dh, kh, r->in_h, &ky0, &ky1);
            const int32_t rows_inside = ky0 == 0 && ky1 == kh;
            for (int32_t ox = 0; ox < r->out_w; ++ox) {
                const int32_t ix0 = ox * w->stride_w - r->pad_left;
                int32_t acc0 = bias0, acc1 = bias1, acc2 = bias2, acc3 = bias3;
                if (rows_inside && ox >= ox_first && ox < ox_end) {
                    const int8_t *row = input + iy0 * in_rs + ix0 * in_c + c;
                    const uint32_t *wt = wbuf;
                    if (kw == 3) {
                        for (int32_t ky = 0; ky < kh; ++ky) {
                            PB_DW_TAP(row, wt);
                            PB_DW_TAP(row + tap_step, wt + 2);
                            PB_DW_TAP(row + 2 * tap_step, wt + 4);
                            row += row_step;
                            wt += 6;
                        }
                    } else {
                        for (int32_t ky = 0; ky < kh; ++ky) {
                            const int8_t *px = row;
                            for (int32_t kx = 0; kx < kw; ++kx) {
                                PB_DW_TAP(px, wt);
                                px += tap_step;
                                wt += 2;
                            }
                            row += row_step;
                        }
                    }
                } else {
                    int32_t kx0, kx1;
                    valid_taps(ix0, dw, kw, r->in_w, &kx0, &kx1);
                    for (int32_t ky = ky0; ky < ky1; ++ky) {
                        const int8_t *px = input + (iy0 + ky * dh) * in_rs + (ix0 + kx0 * dw) * in_c + c;
                        const uint32_t *wt = wbuf + 2 * (ky * kw + kx0);
                        for (int32_t kx = kx0; kx < kx1; ++kx) {
                            PB_DW_TAP(px, wt);
                            px += tap_step;
                            wt += 2;
                        }
                    }
                }
                int8_t *out = output + oy * out_rs + ox * channels + c;
                if (folded && full_range) {
                    out[0] = (int8_t)pb_ssat8(pb_requant_folded(acc0, &cr[0]));
                    out[1] = (int8_t)pb_ssat8(pb_requant_folded(acc1, &cr[1]));
                    out[2] = (int8_t)pb_ssat8(pb_requant_folded(acc2, &cr[2]));
                    out[3] = (int8_t)pb_ssat8(pb_requant_folded(acc3, &cr[3]));
                } else if (folded) {
                    out[0] = (int8_t)clamp_act(pb_requant_folded(acc0, &cr[0]), q->act_min, q->act_max);
                    out[1] = (int8_t)clamp_act(pb_requant_folded(acc1, &cr[1]), q->act_min, q->act_max);
                    out[2] = (int8_t)clamp_act(pb_requant_folded(acc2, &cr[2]), q->act_min, q->act_max);
                    out[3] = (int8_t)clamp_act(pb_requant_folded(acc3, &cr[3]), q->act_min, q->act_max);
                } else {
                    out[0] = requant(acc0, q, c);
                    out[1] = requant(acc1, q, c + 1);
                    out[2] = requant(acc2, q, c + 2);
                    out[3] = requant(acc3, q, c + 3);
                }
            }
        }
    }
    for (; c < channels; ++c) { /* the last channels % 4, one at a time */
        for (int32_t oy = 0; oy < r->out_h; ++oy) {
            const int32_t iy0 = oy * w->stride_h - r->pad_top;
            int32_t ky0, ky1;
            valid_taps(iy0, dh, kh, r->in_h, &ky0, &ky1);
            for (int32_t ox = 0; ox < r->out_w; ++ox) {
                const int32_t ix0 = ox * w->stride_w - r->pad_left;
                int32_t kx0, kx1;
                valid_taps(ix0, dw, kw, r->in_w, &kx0, &kx1);
                int32_t acc = bias ? bias[c] : 0;
                for (int32_t ky = ky0; ky < ky1; ++ky) {
                    for (int32_t kx = kx0; kx < kx1; ++kx) {
                        const int32_t x = input[(iy0 + ky * dh) * in_rs + (ix0 + kx * dw) * in_c + c] + input_offset;
                        acc += x * filter[(ky * kw + kx) * channels + c];
                    }
                }
                output[oy * out_rs + ox * channels + c] = requant(acc, q, c);
            }
        }
    }
}
