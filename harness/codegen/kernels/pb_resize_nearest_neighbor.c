/* SPDX-License-Identifier: Apache-2.0 */
/* RESIZE_NEAREST_NEIGHBOR on a tile (pb_kernels.h, "Tiles"), TFLite's index rule. */
#include <string.h>

#include "pb_kernels.h"

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

/* RESIZE_NEAREST_NEIGHBOR, TFLite's index rule (float32). */
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
