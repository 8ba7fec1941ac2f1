/* SPDX-License-Identifier: Apache-2.0 */
/* In-place depthwise convolution: the row schedule both variants follow, the delayed rows' copy, and the
 * portable kernel (the DSP one is in pb_depthwise_conv_dsp.c).
 *
 * Why a ring of delayed *output* rows: output pixel q overwrites input pixel q, and with stride 1 the
 * output row k lands on input row k, which output rows up to k + kh - 1 - pad_top still read. Holding
 * those few output rows back costs (delay + 1) * out_w * 4 bytes for a group of four channels, where a
 * ring of whole input rows (rows x W x C) or TinyEngine's one-channel temporary (H x W per channel, four
 * channels for the DSP kernel's groups) cost far more on the layers where the arena peaks; and the
 * kernels' inner loops stay as they are (only the output pointer and pixel step change per row).
 */
#include <string.h>

#include "pb_kernels.h"

/* The last output row whose window covers input row `row` (windows whole, dilation gaps included), or
 * -1 when no window reads it. harness.schedule.arena.depthwise_last_readers is the same rule. */
static int32_t last_reader_row(const pb_region *r, const pb_window *w, int32_t row) {
    const int32_t reach = (w->kernel_h - 1) * w->dilation_h;
    int32_t last = (row + r->pad_top) / w->stride_h;
    last = last < r->out_h - 1 ? last : r->out_h - 1;
    const int32_t from = row + r->pad_top - reach;
    const int32_t first = from <= 0 ? 0 : (from + w->stride_h - 1) / w->stride_h;
    return last >= first ? last : -1;
}

/* The last output row that reads any input pixel under output row k (-1: none). last_reader_row is
 * non-decreasing over the rows some window reads (its last and first windows both move down with the row), so
 * it is the lowest such row's: the rows from the bottom up until one is read (mostly the first). */
static int32_t free_after(const pb_region *r, const pb_window *w, int32_t k) {
    const int32_t row_lo = k * r->out_w / r->in_w;
    for (int32_t row = ((k + 1) * r->out_w - 1) / r->in_w; row >= row_lo; --row) {
        const int32_t reader = last_reader_row(r, w, row);
        if (reader >= 0) {
            return reader;
        }
    }
    return -1;
}

/* Each row's free_after once as row k and at most once more as the oldest delayed row (kept while it waits):
 * the schedule is made at every call, once per tile of a patch stage, where it evaluated the oldest row's
 * again at every row it waited. */
int32_t pb_depthwise_inplace_schedule(const pb_region *r, const pb_window *w, uint8_t *schedule) {
    if (r->in_c != r->out_c || r->out_h * r->out_w > r->in_h * r->in_w ||
        pb_in_row_stride(r) != r->in_w * r->in_c || pb_out_row_stride(r) != r->out_w * r->out_c) {
        return -1;
    }
    int32_t rows = 0, oldest = 0; /* delayed rows are always oldest..k: a direct row finds none pending */
    int32_t known = -1, known_free = 0; /* free_after(known) */
    for (int32_t k = 0; k < r->out_h; ++k) {
        const int32_t free_k = free_after(r, w, k);
        const int32_t direct = free_k < k;
        if (direct) {
            oldest = k + 1;
        } else if (k - oldest + 1 > rows) {
            rows = k - oldest + 1;
        }
        int32_t flushed = 0;
        while (oldest <= k) {
            if (known != oldest) {
                known = oldest;
                known_free = oldest == k ? free_k : free_after(r, w, oldest);
            }
            if (known_free > k) {
                break;
            }
            ++oldest;
            ++flushed;
        }
        if (rows > 0x7F) {
            return -1;
        }
        if (schedule) {
            schedule[k] = (uint8_t)((direct ? PB_DW_DIRECT : 0u) | (uint32_t)flushed);
        }
    }
    return rows;
}

int32_t pb_depthwise_inplace_bytes(const pb_region *r, const pb_window *w) {
    const int32_t rows = pb_depthwise_inplace_schedule(r, w, NULL);
    if (rows < 0) {
        return -1;
    }
    const int32_t group = r->out_c < 4 ? r->out_c : 4;
    return r->out_h + rows * r->out_w * group;
}

void pb_depthwise_inplace_flush(const int8_t *ring_row, int8_t *out_row, int32_t out_w, int32_t group,
                                int32_t channels) {
    if (group == 4) {
        /* the out_w % 4 first pixels one at a time, then four a pass to the row's end (a word load and store each:
         * the ring row may not be word aligned): the count and pointer steps once per four pixels, not per pixel */
        const int8_t *const end = ring_row + 4 * out_w;
        for (int32_t n = out_w & 3; n > 0; --n, ring_row += 4, out_row += channels) {
            memcpy(out_row, ring_row, 4);
        }
        const int32_t c2 = 2 * channels, c3 = 3 * channels;
        for (; ring_row != end; ring_row += 16, out_row += 4 * channels) {
            memcpy(out_row, ring_row, 4);
            memcpy(out_row + channels, ring_row + 4, 4);
            memcpy(out_row + c2, ring_row + 8, 4);
            memcpy(out_row + c3, ring_row + 12, 4);
        }
        return;
    }
    for (int32_t x = 0; x < out_w; ++x) {
        for (int32_t i = 0; i < group; ++i) {
            out_row[x * channels + i] = ring_row[x * group + i];
        }
    }
}

void pb_depthwise_conv2d_s8_inplace_portable(const pb_region *r, const pb_window *w, const pb_requant *q,
                                             int8_t *buffer, const int8_t *filter, const int32_t *bias,
                                             void *scratch) {
    uint8_t *schedule = (uint8_t *)scratch;
    const int32_t ring_rows = pb_depthwise_inplace_schedule(r, w, schedule);
    int8_t *ring = (int8_t *)scratch + r->out_h;
    const int32_t channels = r->out_c, in_rs = r->in_w * channels, out_rs = r->out_w * channels;
    const int32_t input_offset = -q->input_zero_point;
    for (int32_t c0 = 0; c0 < channels; c0 += 4) {
        const int32_t group = channels - c0 < 4 ? channels - c0 : 4;
        int32_t oldest = 0;
        for (int32_t oy = 0; oy < r->out_h; ++oy) {
            const int32_t direct = (schedule[oy] & PB_DW_DIRECT) != 0;
            int8_t *out = direct ? buffer + oy * out_rs + c0 : ring + (oy % ring_rows) * r->out_w * group;
            const int32_t step = direct ? channels : group;
            const int32_t iy0 = oy * w->stride_h - r->pad_top;
            for (int32_t ox = 0; ox < r->out_w; ++ox) {
                const int32_t ix0 = ox * w->stride_w - r->pad_left;
                for (int32_t i = 0; i < group; ++i) {
                    const int32_t c = c0 + i;
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
                            const int32_t x = buffer[iy * in_rs + ix * channels + c] + input_offset;
                            acc += x * filter[(ky * w->kernel_w + kx) * channels + c];
                        }
                    }
                    out[ox * step + i] = pb_requantize_s8(acc, q->multiplier[c], q->shift[c], q->output_zero_point,
                                                          q->act_min, q->act_max);
                }
            }
            if (direct) {
                oldest = oy + 1;
            }
            for (int32_t n = schedule[oy] & 0x7F; n > 0; --n, ++oldest) {
                pb_depthwise_inplace_flush(ring + (oldest % ring_rows) * r->out_w * group, buffer + oldest * out_rs + c0,
                                           r->out_w, group, channels);
            }
        }
    }
}

void pb_depthwise_conv2d_s8_inplace(const pb_region *r, const pb_window *w, const pb_requant *q, int8_t *buffer,
                                    const int8_t *filter, const int32_t *bias, void *scratch) {
    PB_VARIANT(pb_depthwise_conv2d_s8_inplace)(r, w, q, buffer, filter, bias, scratch);
}
