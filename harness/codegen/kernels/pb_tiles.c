/* Ops whose output pixel reads input pixels that follow from its position in the full maps (resizes,
 * DEPTH_TO_SPACE, SPACE_TO_DEPTH), computed on a tile (pb_kernels.h, "Tiles"): one kernel serves the whole
 * map per layer and a patch's tile in the patch stage. */
#include <string.h>

#include "pb_kernels.h"

/* ---- RESIZE_BILINEAR, TFLite's int8 arithmetic (reference_ops::ResizeBilinear for int8) -------------- */

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

/* ---- RESIZE_NEAREST_NEIGHBOR ---------------------------------------------------------------------- */

/* TFLite's reference index rule in float32. */
static int32_t nearest_index(int32_t out_index, int32_t in_size, int32_t out_size, int32_t align_corners,
                             int32_t half_pixel_centers) {
    const float scale = align_corners && out_size > 1 ? (float)(in_size - 1) / (float)(out_size - 1)
                                                      : (float)in_size / (float)out_size;
    const float position = ((float)out_index + (half_pixel_centers ? 0.5f : 0.0f)) * scale;
    /* position >= 0: the int conversion is floor, and rounding half away adds one at .5 and above; plain
     * casts rather than roundf/floorf: cores without VRINT (Cortex-M4) would need libm for those. */
    int32_t index = (int32_t)position;
    if (align_corners && position - (float)index >= 0.5f) {
        index += 1;
    }
    if (index > in_size - 1) {
        index = in_size - 1;
    }
    if (half_pixel_centers && index < 0) {
        index = 0;
    }
    return index;
}

void pb_resize_nearest_s8(const pb_resize_shape *shape, const pb_tile *tile, const int8_t *input, int8_t *output) {
    const int32_t channels = shape->channels;
    for (int32_t y = 0; y < tile->out_h; ++y) {
        const int32_t iy = nearest_index(tile->out_y0 + y, shape->in_h, shape->out_h, shape->align_corners,
                                         shape->half_pixel_centers);
        const int8_t *row = input + (iy - tile->in_y0) * tile->in_row_stride;
        for (int32_t x = 0; x < tile->out_w; ++x) {
            const int32_t ix = nearest_index(tile->out_x0 + x, shape->in_w, shape->out_w, shape->align_corners,
                                             shape->half_pixel_centers);
            memcpy(output + y * tile->out_row_stride + x * channels, row + (ix - tile->in_x0) * channels,
                   (size_t)channels);
        }
    }
}

/* ---- DEPTH_TO_SPACE and SPACE_TO_DEPTH ---------------------------------------------------------------- */

void pb_depth_to_space_s8(int32_t block, int32_t channels, const pb_tile *tile, const int8_t *input,
                          int8_t *output) {
    const int32_t in_c = channels * block * block;
    for (int32_t y = 0; y < tile->out_h; ++y) {
        const int32_t gy = tile->out_y0 + y;
        const int8_t *row = input + (gy / block - tile->in_y0) * tile->in_row_stride + (gy % block) * block * channels;
        for (int32_t x = 0; x < tile->out_w; ++x) {
            const int32_t gx = tile->out_x0 + x;
            memcpy(output + y * tile->out_row_stride + x * channels,
                   row + (gx / block - tile->in_x0) * in_c + (gx % block) * channels, (size_t)channels);
        }
    }
}

void pb_space_to_depth_s8(int32_t block, int32_t channels, const pb_tile *tile, const int8_t *input,
                          int8_t *output) {
    const int32_t out_c = channels * block * block;
    for (int32_t y = 0; y < tile->out_h; ++y) {
        for (int32_t dy = 0; dy < block; ++dy) {
            const int8_t *row = input + ((tile->out_y0 + y) * block + dy - tile->in_y0) * tile->in_row_stride;
            for (int32_t x = 0; x < tile->out_w; ++x) {
                int8_t *out = output + y * tile->out_row_stride + x * out_c + dy * block * channels;
                const int8_t *in = row + ((tile->out_x0 + x) * block - tile->in_x0) * channels;
                memcpy(out, in, (size_t)(block * channels)); /* the block's dx run is contiguous in both */
            }
        }
    }
}
