/* SPDX-License-Identifier: Apache-2.0 */
/* SPACE_TO_DEPTH on a tile (pb_kernels.h, "Tiles"). */
#include <string.h>

#include "pb_kernels.h"

/* SPACE_TO_DEPTH of block b: input [.., channels] pixel (y * b + dy, x * b + dx) goes to output pixel
 * (y, x), channels (dy * b + dx) * channels onwards. */
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
