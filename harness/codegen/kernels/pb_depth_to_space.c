/* SPDX-License-Identifier: Apache-2.0 */
/* DEPTH_TO_SPACE on a tile (pb_kernels.h, "Tiles"). */
#include <string.h>

#include "pb_kernels.h"

/* DEPTH_TO_SPACE of block b: output [.., channels] pixel (y, x) is input pixel (y / b, x / b), channels
 * ((y % b) * b + x % b) * channels onwards (the input has channels * b * b). */
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
