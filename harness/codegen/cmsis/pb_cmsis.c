/* SPDX-License-Identifier: Apache-2.0 */
/* pb_cmsis.c: CMSIS-NN's window kernels on pb_regions (see pb_cmsis.h). */
#include "pb_cmsis.h"

#include "pb_board.h"
#include "pb_protocol.h"

void pb_cmsis_check(const char *op, arm_cmsis_nn_status status) {
    if (status == ARM_CMSIS_NN_SUCCESS) {
        return;
    }
    pb_line_begin("FAULT");
    pb_line_kv_text("cause", status == ARM_CMSIS_NN_ARG_ERROR ? "cmsis-nn-arg-error" : "cmsis-nn-failure");
    pb_line_kv_text("op", op);
    pb_line_end();
    pb_exit(4);
}

int pb_cmsis_conv_s8(const char *op, int depthwise, const pb_region *r, const pb_window *w,
                     const pb_cmsis_conv_quant *q, const int8_t *input, const int8_t *filter,
                     const int32_t *bias, int8_t *output, void *scratch, int32_t scratch_bytes) {
    const int32_t rows = pb_cmsis_rows_per_call(r, w);
    if (rows == 0) {
        return 0;
    }
    const cmsis_nn_context ctx = {scratch, scratch_bytes};
    const cmsis_nn_dims filter_dims = depthwise ? (cmsis_nn_dims){1, w->kernel_h, w->kernel_w, r->out_c}
                                                : (cmsis_nn_dims){r->out_c, w->kernel_h, w->kernel_w, r->in_c};
    const cmsis_nn_dims bias_dims = {1, 1, 1, r->out_c};
    for (int32_t y0 = 0; y0 < r->out_h; y0 += rows) {
        const pb_cmsis_band b = pb_cmsis_band_at(r, w, y0, rows, input, output);
        const cmsis_nn_dims input_dims = {1, b.in_h, b.in_w, r->in_c};
        const cmsis_nn_dims output_dims = {1, b.out_h, r->out_w, r->out_c};
        const cmsis_nn_tile stride = {w->stride_w, w->stride_h};
        const cmsis_nn_tile padding = {r->pad_left, b.pad_top};
        const cmsis_nn_tile dilation = {w->dilation_w, w->dilation_h};
        const cmsis_nn_activation activation = {q->act_min, q->act_max};
        arm_cmsis_nn_status status;
        if (depthwise) {
            const cmsis_nn_dw_conv_params params = {q->input_offset, q->output_offset, 1, stride, padding,
                                                    dilation, activation};
            status = arm_depthwise_conv_wrapper_s8(&ctx, &params, &q->quant, &input_dims, b.input, &filter_dims,
                                                   filter, &bias_dims, bias, &output_dims, b.output);
        } else {
            const cmsis_nn_conv_params params = {q->input_offset, q->output_offset, stride, padding, dilation,
                                                 activation};
            status = arm_convolve_wrapper_s8(&ctx, &params, &q->quant, &input_dims, b.input, &filter_dims, filter,
                                             &bias_dims, bias, &output_dims, b.output);
        }
        pb_cmsis_check(op, status);
    }
    return 1;
}
