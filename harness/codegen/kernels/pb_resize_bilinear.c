/* SPDX-License-Identifier: Apache-2.0 */
/* RESIZE_BILINEAR on a tile (pb_kernels.h, "Tiles"): TFLite's int8 arithmetic (reference_ops::ResizeBilinear
 * for int8); one kernel serves the whole map per layer and a patch's tile in the patch stage. */
#include "pb_kernels.h"

#define PB_RESIZE_ONE 1024 /* positions in 1/1024 of an input pixel */

static int32_t bilinear_scale(int32_t in_size, int32_t out_size, int32_t align_corners) {
    if (align_corners && out_size > 1) {
        return (PB_RESIZE_ONE * (in_size - 1) + (out_size - 1) / 2) / (out_size - 1);
    }
    return (PB_RESIZE_ONE * in_size + out_size / 2) / out_size;
}

/* The two source indices of output index `index` and its position (C division truncates toward zero, as
 * TFLite's does: a position in (-1024, 0) gives lower 0). */
static void bilinear_taps(int32_t index, int32_t scale, int32_t half_pixel_centers, int32_t in_size,
                          int32_t *lower, int32_t *upper, int32_t *position) {
    const int32_t p = index * scale + (half_pixel_centers ? scale / 2 - PB_RESIZE_ONE / 2 : 0);
    const int32_t lo = p / PB_RESIZE_ONE, hi = (p + PB_RESIZE_ONE - 1) / PB_RESIZE_ONE;
    *lower = lo > 0 ? lo : 0;
    *upper = hi < in_size - 1 ? hi : in_size - 1;
    *position = p;
}

/* RESIZE_BILINEAR int8, TFLite's integer kernel: source positions in 1/1024 pixel, the four weighted
 * neighbours summed in 1/2^20 and rounded half away from zero; the output keeps the input's quantization. */
void pb_resize_bilinear_s8(const pb_resize_shape *shape, const pb_tile *tile, const int8_t *input, int8_t *output) {
    const int32_t channels = shape->channels;
    const int32_t scale_y = bilinear_scale(shape->in_h, shape->out_h, shape->align_corners);
    const int32_t scale_x = bilinear_scale(shape->in_w, shape->out_w, shape->align_corners);
    for (int32_t y = 0; y < tile->out_h; ++y) {
        int32_t y0, y1, py;
        bilinear_taps(tile->out_y0 + y, scale_y, shape->half_pixel_centers, shape->in_h, &y0, &y1, &py);
        /* |weights| <= 1536 (a position is >= -512): each product of an int8 and two weights, and the sum
         * of four, stay below 2^31 */
        const int32_t wy1 = py - PB_RESIZE_ONE * y0, wy0 = PB_RESIZE_ONE - wy1;
        const int8_t *top = input + (y0 - tile->in_y0) * tile->in_row_stride;
        const int8_t *bottom = input + (y1 - tile->in_y0) * tile->in_row_stride;
        int8_t *out = output + y * tile->out_row_stride;
        for (int32_t x = 0; x < tile->out_w; ++x) {
            int32_t x0, x1, px;
            bilinear_taps(tile->out_x0 + x, scale_x, shape->half_pixel_centers, shape->in_w, &x0, &x1, &px);
            const int32_t wx1 = px - PB_RESIZE_ONE * x0, wx0 = PB_RESIZE_ONE - wx1;
            const int8_t *tl = top + (x0 - tile->in_x0) * channels, *tr = top + (x1 - tile->in_x0) * channels;
            const int8_t *bl = bottom + (x0 - tile->in_x0) * channels;
            const int8_t *br = bottom + (x1 - tile->in_x0) * channels;
            for (int32_t c = 0; c < channels; ++c) {
                const int32_t sum = tl[c] * wy0 * wx0 + bl[c] * wy1 * wx0 + tr[c] * wy0 * wx1 + br[c] * wy1 * wx1;
                const int32_t rounded = sum + (sum > 0 ? (1 << 19) : -(1 << 19));
                out[x * channels + c] = (int8_t)(rounded / (1 << 20));
            }
        }
    }
}
