/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pb_kernels.h: patchbench's int8 kernels (TFLite int8 arithmetic, NHWC, batch 1).
 *
 * Every op has a portable reference kernel (plain C99, `*_portable`); the hot ones (1x1 conv, general
 * conv, depthwise conv, fully connected, transposed conv, ADD) also have a Cortex-M DSP kernel (`*_dsp`)
 * with identical results. The plain name (pb_conv2d_s8, ...) is the one generated code calls; it resolves at build
 * time to the DSP kernel when PB_KERNELS_OPTIMIZED is 1, which is the default where the compiler
 * defines __ARM_FEATURE_DSP (build with -DPB_KERNELS_OPTIMIZED=0 to force the portable kernels).
 *
 * Regions. Conv, depthwise and pool kernels work on a *region* so that one kernel serves per-layer
 * and per-patch execution: the caller passes the input rows/columns it actually holds, the padding
 * around them (padded positions read as the input zero point, so they add 0 to a conv; an average
 * pool leaves them out of its count; a max pool ignores them) and the output size to produce.
 * Output pixel (y, x) reads held input rows y*stride_h - pad_top + ky*dilation_h (same for columns);
 * rows or columns outside [0, in_h) x [0, in_w) are padding. Row strides let a patch read a window
 * of a bigger buffer (the full input image) and write into a bigger one (the stage output).
 *
 * Quantization parameters are those of harness/ir/quant.py: per output channel int32 multiplier and
 * shift (real = multiplier * 2^(shift - 31)), zero points, and the fused activation as the int8
 * clamp [act_min, act_max]. Weights keep TFLite's layouts (harness/ir/graph.py); the DSP kernels read
 * them as they are, no repacking.
 *
 * Parameter structs. pb_region, pb_window, pb_requant, pb_add_params, pb_mul_params, pb_prelu_params and
 * pb_concat_input are declared once in harness/codegen/cparams.py (field names, C types, order);
 * tests/codegen/test_kernels.py checks the typedefs below against it.
 *
 * Declarations. An op's kernel file is its only C place: the file's definition of each kernel is its
 * declaration, and pb_ops.h, which every firmware gets beside this header, holds those definitions'
 * prototypes (derived from the C files by harness.codegen.kernels.ops_header; generated code includes
 * it after this file). What is declared here is what several files share: the parameter structs, the
 * region helpers, and the kernels with a DSP variant (the op's file selects the variant in its _dsp file
 * with PB_VARIANT, so the prototypes of the three are shared), with ADD's and the pools'.
 *
 * Scratch. Kernels that take `void *scratch` need harness.codegen.kernels.scratch_bytes(...) bytes there
 * (0 for portable kernels, which then accept NULL); any alignment is fine. Input, output and
 * scratch must not overlap, except where a kernel says otherwise (the in-place depthwise kernel works
 * in one buffer).
 */
#ifndef PB_KERNELS_H
#define PB_KERNELS_H

#include <stdint.h>

#include "pb_fixedpoint.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifndef PB_KERNELS_OPTIMIZED
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#define PB_KERNELS_OPTIMIZED 1
#else
#define PB_KERNELS_OPTIMIZED 0
#endif
#endif

/* The one selection rule. Kernels are laid out one op per file as TensorFlow Lite Micro lays them out:
 * the op's file (pb_conv.c) holds its portable kernel (pb_conv2d_s8_portable) and the kernel the generated
 * code calls (pb_conv2d_s8); an op with a Cortex-M DSP kernel has it beside, in the file of the same name
 * ending in _dsp (pb_conv_dsp.c: pb_conv2d_s8_dsp), with identical results. pb_<op>_s8 runs
 * PB_VARIANT(pb_<op>_s8): the DSP kernel in an optimized build, else the portable one. */
#if PB_KERNELS_OPTIMIZED
#define PB_VARIANT(name) name##_dsp
#else
#define PB_VARIANT(name) name##_portable
#endif

/* Which part of a feature map one call reads and writes (see "Regions" above). */
typedef struct {
    int32_t in_h, in_w, in_c;  /* input rows, columns and channels held in the buffer */
    int32_t in_row_stride;     /* int8 elements from one input row to the next; 0 means in_w * in_c */
    int32_t pad_top, pad_bottom, pad_left, pad_right; /* padding around the held input */
    int32_t out_h, out_w, out_c;                      /* output rows, columns and channels produced */
    int32_t out_row_stride; /* int8 elements from one output row to the next; 0 means out_w * out_c */
} pb_region;

/* A region's row strides with the "0 means contiguous" rule applied. */
static inline int32_t pb_in_row_stride(const pb_region *r) {
    return r->in_row_stride ? r->in_row_stride : r->in_w * r->in_c;
}
static inline int32_t pb_out_row_stride(const pb_region *r) {
    return r->out_row_stride ? r->out_row_stride : r->out_w * r->out_c;
}

/* The sliding window of a conv or pool. */
typedef struct {
    int32_t kernel_h, kernel_w;
    int32_t stride_h, stride_w;
    int32_t dilation_h, dilation_w; /* 1 for no dilation (pools ignore it) */
} pb_window;

/* Requantization of a conv / depthwise / fully connected op. */
typedef struct {
    int32_t input_zero_point;
    int32_t output_zero_point;
    int32_t act_min, act_max;   /* fused activation as an int8 clamp (graph attrs act_min / act_max) */
    const int32_t *multiplier;  /* [out_c], quant.conv_multipliers() */
    const int32_t *shift;       /* [out_c] */
    /* NULL, or for an op called on every tile of a patch stage its DSP kernel's per-channel table made once at
     * code generation (harness.codegen.kernels: conv_channel_table for a conv, depthwise_plane3_table for a 3x3
     * depthwise conv whose tiles take the channel planes); the portable kernels ignore it */
    const int32_t *prepared;
} pb_requant;

/* ADD, TFLite's int8 arithmetic. Field for field harness.reference.AddQuant (reference.add_quant). */
typedef struct {
    int32_t input1_offset, input2_offset; /* minus the inputs' zero points */
    int32_t output_offset;                /* the output zero point */
    int32_t left_shift;                   /* 20 for int8 */
    int32_t input1_multiplier, input1_shift, input2_multiplier, input2_shift; /* shifts <= 0 */
    int32_t output_multiplier, output_shift;                                  /* output_shift <= 0 */
    int32_t act_min, act_max;
} pb_add_params;

/* MUL. Field for field harness.reference.MulQuant (reference.mul_quant). */
typedef struct {
    int32_t input1_offset, input2_offset, output_offset;
    int32_t output_multiplier, output_shift;
    int32_t act_min, act_max;
} pb_mul_params;

/* Returns 0 when the region's output size matches its input, padding and window (TFLite's
 * arithmetic: out = (pad_before + in + pad_after - effective_kernel) / stride + 1), else a nonzero
 * code naming the first problem: 1 rows, 2 columns, 3 non-positive size or stride. For checks in
 * generated code and tests; the kernels themselves trust their arguments. */
int32_t pb_region_check(const pb_region *region, const pb_window *window);

/* ---- convolutions ---------------------------------------------------------------------------- */

/* CONV_2D. filter [out_c, kernel_h, kernel_w, in_c], bias [out_c] or NULL. Any kernel size,
 * stride, dilation and padding; a 1x1 window without padding goes to pb_conv1x1_s8. */
void pb_conv2d_s8(const pb_region *region, const pb_window *window, const pb_requant *q, const int8_t *input,
                  const int8_t *filter, const int32_t *bias, int8_t *output, void *scratch);
void pb_conv2d_s8_portable(const pb_region *region, const pb_window *window, const pb_requant *q,
                           const int8_t *input, const int8_t *filter, const int32_t *bias, int8_t *output,
                           void *scratch);
void pb_conv2d_s8_dsp(const pb_region *region, const pb_window *window, const pb_requant *q,
                      const int8_t *input, const int8_t *filter, const int32_t *bias, int8_t *output,
                      void *scratch);

/* Pointwise CONV_2D: a 1x1 window (any stride, no padding: all region pads must be 0).
 * filter [out_c, in_c]. */
void pb_conv1x1_s8(const pb_region *region, const pb_window *window, const pb_requant *q, const int8_t *input,
                   const int8_t *filter, const int32_t *bias, int8_t *output, void *scratch);
void pb_conv1x1_s8_portable(const pb_region *region, const pb_window *window, const pb_requant *q,
                            const int8_t *input, const int8_t *filter, const int32_t *bias, int8_t *output,
                            void *scratch);
void pb_conv1x1_s8_dsp(const pb_region *region, const pb_window *window, const pb_requant *q,
                       const int8_t *input, const int8_t *filter, const int32_t *bias, int8_t *output,
                       void *scratch);

/* DEPTHWISE_CONV_2D. filter [kernel_h, kernel_w, out_c] (TFLite's [1, KH, KW, C * m]), bias [out_c] or
 * NULL. The depth multiplier m is out_c / in_c (out_c a multiple of in_c): output channel c reads input
 * channel c / m. Any kernel size (3x3, 5x5, 7x7, ...), stride, dilation and padding. */
void pb_depthwise_conv2d_s8(const pb_region *region, const pb_window *window, const pb_requant *q,
                            const int8_t *input, const int8_t *filter, const int32_t *bias, int8_t *output,
                            void *scratch);
void pb_depthwise_conv2d_s8_portable(const pb_region *region, const pb_window *window, const pb_requant *q,
                                     const int8_t *input, const int8_t *filter, const int32_t *bias,
                                     int8_t *output, void *scratch);
void pb_depthwise_conv2d_s8_dsp(const pb_region *region, const pb_window *window, const pb_requant *q,
                                const int8_t *input, const int8_t *filter, const int32_t *bias, int8_t *output,
                                void *scratch);

/* DEPTHWISE_CONV_2D in place: the output overwrites the input in `buffer` (in_c == out_c, dense rows:
 * in_row_stride 0 or in_w * c, out_row_stride 0 or out_w * c, out_h * out_w <= in_h * in_w). Output
 * pixel q (row-major) lands where input pixel q was. The kernel works on groups of up to four channels;
 * per group it computes output rows in order and writes row k straight to its place when every output
 * row that reads the input rows under it came before k, else into a ring of delayed rows in scratch,
 * copied to its place as soon as its last reader has run (stride 1: a 3x3 window delays each row by
 * one). Scratch: scratch_bytes(...) of the out-of-place kernel followed by
 * pb_depthwise_inplace_bytes(...) (the row schedule and the ring; see harness.schedule.arena). */
void pb_depthwise_conv2d_s8_inplace(const pb_region *region, const pb_window *window, const pb_requant *q,
                                    int8_t *buffer, const int8_t *filter, const int32_t *bias, void *scratch);
void pb_depthwise_conv2d_s8_inplace_portable(const pb_region *region, const pb_window *window, const pb_requant *q,
                                             int8_t *buffer, const int8_t *filter, const int32_t *bias,
                                             void *scratch);
void pb_depthwise_conv2d_s8_inplace_dsp(const pb_region *region, const pb_window *window, const pb_requant *q,
                                        int8_t *buffer, const int8_t *filter, const int32_t *bias, void *scratch);

/* The in-place row schedule: for each output row k, schedule[k] = PB_DW_DIRECT if row k goes straight to
 * its place, plus the number of delayed rows (oldest first) whose place is free once row k is computed.
 * Returns the ring's rows (the most delayed rows alive at once), or -1 if the region cannot run in place.
 * schedule may be NULL (only the ring size). */
#define PB_DW_DIRECT 0x80u
int32_t pb_depthwise_inplace_schedule(const pb_region *region, const pb_window *window, uint8_t *schedule);

/* Bytes of the in-place part of the scratch: out_h schedule bytes + ring rows * out_w * min(c, 4). */
int32_t pb_depthwise_inplace_bytes(const pb_region *region, const pb_window *window);

/* Copies one delayed row of a group of `group` channels (ring layout: out_w pixels x group) to its place
 * (pixels `channels` apart). */
void pb_depthwise_inplace_flush(const int8_t *ring_row, int8_t *out_row, int32_t out_w, int32_t group,
                                int32_t channels);

/* FULLY_CONNECTED: output[b, o] = requant(sum_i (input[b, i] - input_zp) * weights[o, i] + bias[o]).
 * weights [out_features, in_features], bias [out_features] or NULL; q->multiplier/shift have
 * out_features entries (repeat a per-tensor value). */
void pb_fully_connected_s8(int32_t batches, int32_t in_features, int32_t out_features, const pb_requant *q,
                           const int8_t *input, const int8_t *weights, const int32_t *bias, int8_t *output,
                           void *scratch);
void pb_fully_connected_s8_portable(int32_t batches, int32_t in_features, int32_t out_features,
                                    const pb_requant *q, const int8_t *input, const int8_t *weights,
                                    const int32_t *bias, int8_t *output, void *scratch);
void pb_fully_connected_s8_dsp(int32_t batches, int32_t in_features, int32_t out_features, const pb_requant *q,
                               const int8_t *input, const int8_t *weights, const int32_t *bias, int8_t *output,
                               void *scratch);

/* ---- pooling ----------------------------------------------------------------------------------- */

/* AVERAGE_POOL_2D: rounded mean over the window's held (non-padding) positions, clamped.
 * Input and output share scale and zero point (TFLite's rule). in_c == out_c. */
void pb_avg_pool_s8(const pb_region *region, const pb_window *window, int32_t act_min, int32_t act_max,
                    const int8_t *input, int8_t *output);

/* MAX_POOL_2D: max over the window's held positions, clamped. */
void pb_max_pool_s8(const pb_region *region, const pb_window *window, int32_t act_min, int32_t act_max,
                    const int8_t *input, int8_t *output);

/* ---- elementwise ------------------------------------------------------------------------------- */

/* Broadcasting. A two-operand op (ADD, SUB, MUL, MAXIMUM, MINIMUM, PRELU) walks its output as four
 * nested dims dims[0..3], row-major and contiguous, and reads each operand with its own element strides
 * per dim (a_strides, b_strides), 0 along a dim where the operand repeats: numpy's broadcasting of any
 * shapes, merged into at most four dims by harness.codegen.broadcast.broadcast_walk. Equal shapes are
 * one run {1, 1, 1, size} with strides {0, 0, 0, 1}; a per-channel operand is {1, 1, pixels, c} with
 * strides {0, 0, 0, 1}. output may alias an operand of the output's shape. */

/* ADD, TFLite's int8 arithmetic (reference_ops::AddElementwise / BroadcastAdd4DSlow). */
void pb_add_s8(const pb_add_params *p, const int32_t dims[4], const int32_t a_strides[4], const int32_t b_strides[4],
               const int8_t *a, const int8_t *b, int8_t *output);
void pb_add_s8_portable(const pb_add_params *p, const int32_t dims[4], const int32_t a_strides[4],
                        const int32_t b_strides[4], const int8_t *a, const int8_t *b, int8_t *output);
void pb_add_s8_dsp(const pb_add_params *p, const int32_t dims[4], const int32_t a_strides[4],
                   const int32_t b_strides[4], const int8_t *a, const int8_t *b, int8_t *output);
/* ADD of `rows` runs of row_len elements (a run at a + i * a_rs, b + i * b_rs into output + i * out_rs): the
 * residual ADD fused into a conv in the patch stage, a chunk's rows at a time. */
void pb_add_s8_rows(const pb_add_params *p, int32_t rows, int32_t row_len, const int8_t *a, int32_t a_rs,
                    const int8_t *b, int32_t b_rs, int8_t *output, int32_t out_rs);
void pb_add_s8_rows_portable(const pb_add_params *p, int32_t rows, int32_t row_len, const int8_t *a, int32_t a_rs,
                             const int8_t *b, int32_t b_rs, int8_t *output, int32_t out_rs);
void pb_add_s8_rows_dsp(const pb_add_params *p, int32_t rows, int32_t row_len, const int8_t *a, int32_t a_rs,
                        const int8_t *b, int32_t b_rs, int8_t *output, int32_t out_rs);

/* PRELU. Field for field harness.reference.PreluQuant (reference.prelu_quant, LiteRT's float32 scale
 * arithmetic). */
typedef struct {
    int32_t input_offset, alpha_offset, output_offset;
    int32_t output_multiplier_1, output_shift_1; /* input >= its zero point */
    int32_t output_multiplier_2, output_shift_2; /* below it: times (alpha - alpha zero point) */
} pb_prelu_params;

/* ---- data movement ----------------------------------------------------------------------------- */

/* One input of CONCATENATION. multiplier == 0: same scale and zero point as the output, copied.
 * Otherwise requantized as TFLite's int8 -> int8 QUANTIZE does: multiplier/shift =
 * quant.quantize_multiplier(input_scale / output_scale), zero_point = the input's. */
typedef struct {
    const int8_t *data;
    int32_t inner_size; /* product of this input's dims from the concat axis on */
    int32_t zero_point;
    int32_t multiplier, shift;
} pb_concat_input;

/* ---- tiles: ops whose output pixel reads input pixels that follow from its position ---------------
 * (pb_resize_bilinear.c, pb_resize_nearest_neighbor.c, pb_depth_to_space.c, pb_space_to_depth.c) */

/* Tiles. Some kernels compute a tile of the output, rows [out_y0, out_y0 + out_h) and columns
 * [out_x0, out_x0 + out_w) of the full output, from an input window held from row in_y0 and column
 * in_x0 of the full input (harness.ir.geometry.tile_input_window says which window a tile reads). Per
 * layer the tile is the whole map. Row strides count int8 elements and are never 0 here. */
typedef struct {
    int32_t out_y0, out_x0, out_h, out_w;
    int32_t in_y0, in_x0;
    int32_t in_row_stride, out_row_stride;
} pb_tile;

/* The full maps of a resize: [in_h, in_w, channels] -> [out_h, out_w, channels]. */
typedef struct {
    int32_t in_h, in_w, out_h, out_w, channels;
    int32_t align_corners, half_pixel_centers;
} pb_resize_shape;

/* ---- ops of converter-made models (pb_mean.c, pb_transpose_conv.c) -------------------------------- */

/* MEAN (pb_mean.c, pb_mean_axes_s8) with the input viewed as [outer, count, middle, count2, inner]: the reduced axes are the two runs
 * `count` and `count2` (count2 = 1 when they are one run of adjacent axes), the output is
 * [outer, middle, inner]. TFLite's QuantizedMeanOrSum: harness.codegen.kernels.mean_params(in_scale, out_scale,
 * count * count2). */
typedef struct {
    int32_t outer, count, middle, count2, inner;
} pb_mean_view;

/* The shapes of a TRANSPOSE_CONV: input [in_h, in_w, in_c] -> output [out_h, out_w, out_c], filter
 * [out_c, kernel_h, kernel_w, in_c]; pad_top / pad_left as TFLite computes them from the output size. */
typedef struct {
    int32_t in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;
    int32_t kernel_h, kernel_w;
    int32_t stride_h, stride_w;
    int32_t pad_top, pad_left;
} pb_transpose_conv_shape;

/* TRANSPOSE_CONV per-channel int8 (reference_integer_ops::TransposeConv) on a tile of the output (see
 * "Tiles" above: shape holds the full maps); bias may be NULL. */
void pb_transpose_conv_s8(const pb_transpose_conv_shape *shape, const pb_requant *q, const pb_tile *tile,
                          const int8_t *input, const int8_t *filter, const int32_t *bias, int8_t *output);
void pb_transpose_conv_s8_portable(const pb_transpose_conv_shape *shape, const pb_requant *q, const pb_tile *tile,
                                   const int8_t *input, const int8_t *filter, const int32_t *bias, int8_t *output);
void pb_transpose_conv_s8_dsp(const pb_transpose_conv_shape *shape, const pb_requant *q, const pb_tile *tile,
                              const int8_t *input, const int8_t *filter, const int32_t *bias, int8_t *output);

#ifdef __cplusplus
}
#endif

#endif /* PB_KERNELS_H */
