/* SPDX-License-Identifier: Apache-2.0 */
/* pb_cmsis_pool.c: CMSIS-NN's pools on pb_regions (see pb_cmsis.h); compiled when a pool runs on CMSIS-NN. */
#include "pb_cmsis.h"

int pb_cmsis_pool_s8(const char *op, int average, const pb_region *r, const pb_window *w, int32_t act_min,
                     int32_t act_max, const int8_t *input, int8_t *output, void *scratch, int32_t scratch_bytes) {
    const int32_t rows = pb_cmsis_rows_per_call(r, w);
    if (rows == 0) {
        return 0;
    }
    const cmsis_nn_context ctx = {scratch, scratch_bytes};
    const cmsis_nn_dims filter_dims = {1, w->kernel_h, w->kernel_w, 1};
    for (int32_t y0 = 0; y0 < r->out_h; y0 += rows) {
        const pb_cmsis_band b = pb_cmsis_band_at(r, w, y0, rows, input, output);
        const cmsis_nn_dims input_dims = {1, b.in_h, b.in_w, r->in_c};
        const cmsis_nn_dims output_dims = {1, b.out_h, r->out_w, r->out_c};
        const cmsis_nn_pool_params params = {{w->stride_w, w->stride_h}, {r->pad_left, b.pad_top},
                                             {act_min, act_max}};
        pb_cmsis_check(op, average ? arm_avgpool_s8(&ctx, &params, &input_dims, b.input, &filter_dims, &output_dims,
                                                    b.output)
                                   : arm_max_pool_s8(&ctx, &params, &input_dims, b.input, &filter_dims,
                                                     &output_dims, b.output));
    }
    return 1;
}
