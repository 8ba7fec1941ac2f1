/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pb_cmsis.h: CMSIS-NN's s8 window kernels (arm_convolve_wrapper_s8, arm_depthwise_conv_wrapper_s8,
 * arm_avgpool_s8, arm_max_pool_s8) on a pb_region, so that one call serves a whole layer and a patch tile.
 *
 * CMSIS-NN takes a dense input and output and one padding per axis (top, left): it pads the bottom and
 * right by reading outside the input it is given. A region's pads are its own (a tile has its own top,
 * bottom, left, right), so:
 *  - dense input and output: one call with the region's sizes and its top/left pads;
 *  - an output written into a wider buffer (the patch stage's full-size output): one call per output
 *    row, each given exactly the input rows its window reads (bottom padding = rows not given);
 *  - an input read out of a wider buffer (a window of the whole input image): one call per output row
 *    band with the buffer's row as the input width, which is exact when no column right of the window
 *    is padding (pad_right == 0); with right padding there is no CMSIS-NN call that reads it, and the
 *    functions return 0 so that the caller runs the portable kernel on that tile instead.
 * A CMSIS-NN status other than success ends the run with "PB1 FAULT cause=cmsis-nn op=<name>".
 */
#ifndef PB_CMSIS_H
#define PB_CMSIS_H

#include <stdint.h>

#include "arm_nnfunctions.h"
#include "pb_kernels.h"

/* The requantization CMSIS-NN's conv and depthwise wrappers take: offsets as TFLite Micro passes them
 * (input: minus the input zero point; output: plus the output zero point), per-channel multipliers and
 * shifts in TFLite's convention (shift > 0: left), the fused activation as a clamp. */
typedef struct {
    int32_t input_offset;
    int32_t output_offset;
    int32_t act_min, act_max;
    cmsis_nn_per_channel_quant_params quant;
} pb_cmsis_conv_quant;

/* 1: done; 0: a tile CMSIS-NN cannot read (see above), nothing written. */
int pb_cmsis_conv_s8(const char *op, int depthwise, const pb_region *r, const pb_window *w,
                     const pb_cmsis_conv_quant *q, const int8_t *input, const int8_t *filter,
                     const int32_t *bias, int8_t *output, void *scratch, int32_t scratch_bytes);

int pb_cmsis_pool_s8(const char *op, int average, const pb_region *r, const pb_window *w, int32_t act_min,
                     int32_t act_max, const int8_t *input, int8_t *output, void *scratch, int32_t scratch_bytes);

/* One call's share of a region: output rows [y0, y1) and the input rows their windows read. */
typedef struct {
    const int8_t *input;
    int8_t *output;
    int32_t in_h, in_w, pad_top;
    int32_t out_h;
} pb_cmsis_band;

static inline int pb_cmsis_is_1x1(const pb_window *w) { return w->kernel_h == 1 && w->kernel_w == 1; }

/* How to cut the region into calls: 0 (none possible), else the output rows per call. A 1x1 window
 * reads one input row per output row, dense within the row: strided input goes row by row (CMSIS-NN's
 * 1x1 kernels take the input as one run of pixels). */
static inline int32_t pb_cmsis_rows_per_call(const pb_region *r, const pb_window *w) {
    const int dense_in = pb_in_row_stride(r) == r->in_w * r->in_c;
    const int dense_out = pb_out_row_stride(r) == r->out_w * r->out_c;
    if (!dense_in && !pb_cmsis_is_1x1(w) && r->pad_right > 0) {
        return 0;
    }
    return dense_out && (dense_in || !pb_cmsis_is_1x1(w)) ? r->out_h : 1;
}

static inline pb_cmsis_band pb_cmsis_band_at(const pb_region *r, const pb_window *w, int32_t y0, int32_t rows, const int8_t *input,
                    int8_t *output) {
    const int32_t stride = pb_in_row_stride(r);
    const int32_t first = y0 * w->stride_h - r->pad_top; /* first input row the band's windows read */
    const int32_t last = (y0 + rows - 1) * w->stride_h - r->pad_top + (w->kernel_h - 1) * w->dilation_h;
    const int32_t start = first > 0 ? first : 0;
    const int32_t end = last + 1 < r->in_h ? last + 1 : r->in_h;
    pb_cmsis_band b;
    b.input = input + start * stride;
    b.output = output + y0 * pb_out_row_stride(r);
    b.in_h = end > start ? end - start : 0;
    /* a window of a wider buffer: its row is the width CMSIS-NN steps by (exact without right padding) */
    b.in_w = pb_cmsis_is_1x1(w) ? r->in_w : stride / r->in_c;
    b.pad_top = start - first;
    b.out_h = rows;
    return b;
}

/* Ends the run with a FAULT line naming the op when a CMSIS-NN call did not succeed. */
void pb_cmsis_check(const char *op, arm_cmsis_nn_status status);

#endif
