/* SPDX-License-Identifier: Apache-2.0 */
/* AVERAGE_POOL_2D and MAX_POOL_2D over regions (pb_kernels.h): TFLite's reference loops (TFLite Micro keeps
 * both in pooling.cc too: they share the window's clipping). */
#include "pb_kernels.h"

/* The window rows [*start, *end) of output position `out` that fall on held input. */
static void window_span(int32_t out, int32_t stride, int32_t pad, int32_t kernel, int32_t in_size, int32_t *start,
                        int32_t *end) {
    const int32_t origin = out * stride - pad;
    *start = origin < 0 ? -origin : 0;
    *end = in_size - origin < kernel ? in_size - origin : kernel;
}

void pb_avg_pool_s8(const pb_region *r, const pb_window *w, int32_t act_min, int32_t act_max, const int8_t *input,
                    int8_t *output) {
    const int32_t in_rs = pb_in_row_stride(r);
    const int32_t out_rs = pb_out_row_stride(r);
    const int32_t channels = r->out_c;
    for (int32_t oy = 0; oy < r->out_h; ++oy) {
        int32_t fy0, fy1;
        window_span(oy, w->stride_h, r->pad_top, w->kernel_h, r->in_h, &fy0, &fy1);
        const int32_t iy0 = oy * w->stride_h - r->pad_top;
        for (int32_t ox = 0; ox < r->out_w; ++ox) {
            int32_t fx0, fx1;
            window_span(ox, w->stride_w, r->pad_left, w->kernel_w, r->in_w, &fx0, &fx1);
            const int32_t ix0 = ox * w->stride_w - r->pad_left;
            const int32_t count = (fy1 - fy0) * (fx1 - fx0);
            for (int32_t c = 0; c < channels; ++c) {
                int32_t sum = 0;
                for (int32_t fy = fy0; fy < fy1; ++fy) {
                    for (int32_t fx = fx0; fx < fx1; ++fx) {
                        sum += input[(iy0 + fy) * in_rs + (ix0 + fx) * r->in_c + c];
                    }
                }
                /* A window wholly in padding has no average; TFLite rejects it, we write 0. */
                int32_t average = 0;
                if (count > 0) {
                    average = sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
                }
                average = average < act_min ? act_min : average > act_max ? act_max : average;
                output[oy * out_rs + ox * channels + c] = (int8_t)average;
            }
        }
    }
}

void pb_max_pool_s8(const pb_region *r, const pb_window *w, int32_t act_min, int32_t act_max, const int8_t *input,
                    int8_t *output) {
    const int32_t in_rs = pb_in_row_stride(r);
    const int32_t out_rs = pb_out_row_stride(r);
    const int32_t channels = r->out_c;
    for (int32_t oy = 0; oy < r->out_h; ++oy) {
        int32_t fy0, fy1;
        window_span(oy, w->stride_h, r->pad_top, w->kernel_h, r->in_h, &fy0, &fy1);
        const int32_t iy0 = oy * w->stride_h - r->pad_top;
        for (int32_t ox = 0; ox < r->out_w; ++ox) {
            int32_t fx0, fx1;
            window_span(ox, w->stride_w, r->pad_left, w->kernel_w, r->in_w, &fx0, &fx1);
            const int32_t ix0 = ox * w->stride_w - r->pad_left;
            for (int32_t c = 0; c < channels; ++c) {
                int32_t max = PB_INT8_MIN;
                for (int32_t fy = fy0; fy < fy1; ++fy) {
                    for (int32_t fx = fx0; fx < fx1; ++fx) {
                        const int32_t v = input[(iy0 + fy) * in_rs + (ix0 + fx) * r->in_c + c];
                        max = v > max ? v : max;
                    }
                }
                max = max < act_min ? act_min : max > act_max ? act_max : max;
                output[oy * out_rs + ox * channels + c] = (int8_t)max;
            }
        }
    }
}

/* A global AVERAGE_POOL_2D (its window the whole map, one output pixel) run row by row inside a
 * row-streamed segment (harness/schedule/rows.py): each call adds the region's in_h rows, starting at map
 * row `first_row`, into `sums` (one int32 per channel, zeroed by the call at row 0); the call that takes
 * the map's last row (`height` rows in all) writes the averages of the height x in_w pixels, rounded half
 * away from zero and clamped as pb_avg_pool_s8 does, so the result is the whole-map pool's bit for bit. */
void pb_avg_pool_rows_s8(const pb_region *r, int32_t first_row, int32_t height, int32_t act_min, int32_t act_max,
                         const int8_t *input, int32_t *sums, int8_t *output) {
    const int32_t in_rs = pb_in_row_stride(r);
    const int32_t channels = r->in_c;
    if (first_row == 0) {
        for (int32_t c = 0; c < channels; ++c) {
            sums[c] = 0;
        }
    }
    for (int32_t y = 0; y < r->in_h; ++y) {
        const int8_t *row = input + y * in_rs;
        for (int32_t x = 0; x < r->in_w; ++x) {
            for (int32_t c = 0; c < channels; ++c) {
                sums[c] += row[x * channels + c];
            }
        }
    }
    if (first_row + r->in_h < height) {
        return;
    }
    const int32_t count = height * r->in_w;
    for (int32_t c = 0; c < channels; ++c) {
        const int32_t sum = sums[c];
        int32_t average = sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
        average = average < act_min ? act_min : average > act_max ? act_max : average;
        output[c] = (int8_t)average;
    }
}
