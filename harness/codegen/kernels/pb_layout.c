/* Data movement: PAD, SLICE, CONCATENATION, TRANSPOSE (the resizes are in pb_tiles.c). */
#include <string.h>

#include "pb_kernels.h"

void pb_pad_s8(const int32_t in_dims[4], const int32_t pads[8], int8_t pad_value, const int8_t *input,
               int8_t *output) {
    int32_t out_dims[4];
    for (int d = 0; d < 4; ++d) {
        out_dims[d] = pads[2 * d] + in_dims[d] + pads[2 * d + 1];
    }
    const int32_t inner = in_dims[3];
    for (int32_t n = 0; n < out_dims[0]; ++n) {
        for (int32_t h = 0; h < out_dims[1]; ++h) {
            for (int32_t w = 0; w < out_dims[2]; ++w) {
                int8_t *out = output + ((n * out_dims[1] + h) * out_dims[2] + w) * out_dims[3];
                const int32_t in_n = n - pads[0], in_h = h - pads[2], in_w = w - pads[4];
                if (in_n < 0 || in_n >= in_dims[0] || in_h < 0 || in_h >= in_dims[1] || in_w < 0 ||
                    in_w >= in_dims[2]) {
                    memset(out, pad_value, (size_t)out_dims[3]);
                    continue;
                }
                memset(out, pad_value, (size_t)pads[6]);
                memcpy(out + pads[6], input + ((in_n * in_dims[1] + in_h) * in_dims[2] + in_w) * inner, (size_t)inner);
                memset(out + pads[6] + inner, pad_value, (size_t)pads[7]);
            }
        }
    }
}

void pb_slice_s8(const int32_t in_dims[4], const int32_t begin[4], const int32_t step[4], const int32_t out_dims[4],
                 const int8_t *input, int8_t *output) {
    for (int32_t i0 = 0; i0 < out_dims[0]; ++i0) {
        for (int32_t i1 = 0; i1 < out_dims[1]; ++i1) {
            for (int32_t i2 = 0; i2 < out_dims[2]; ++i2) {
                const int32_t pixel =
                    ((begin[0] + i0 * step[0]) * in_dims[1] + begin[1] + i1 * step[1]) * in_dims[2] + begin[2] +
                    i2 * step[2];
                const int8_t *src = input + pixel * in_dims[3] + begin[3];
                if (step[3] == 1) {
                    memcpy(output, src, (size_t)out_dims[3]);
                } else {
                    for (int32_t i3 = 0; i3 < out_dims[3]; ++i3) {
                        output[i3] = src[i3 * step[3]];
                    }
                }
                output += out_dims[3];
            }
        }
    }
}

void pb_concat_s8(int32_t n_inputs, const pb_concat_input inputs[], int32_t outer_size, int32_t output_zero_point,
                  int8_t *output) {
    for (int32_t o = 0; o < outer_size; ++o) {
        for (int32_t k = 0; k < n_inputs; ++k) {
            const pb_concat_input *in = &inputs[k];
            const int8_t *src = in->data + o * in->inner_size;
            if (in->multiplier == 0) {
                memcpy(output, src, (size_t)in->inner_size);
            } else {
                for (int32_t i = 0; i < in->inner_size; ++i) {
                    const int64_t scaled =
                        pb_multiply_by_quantized_multiplier(src[i] - in->zero_point, in->multiplier, in->shift);
                    output[i] = pb_clamp_offset_s8(scaled, output_zero_point, PB_INT8_MIN, PB_INT8_MAX);
                }
            }
            output += in->inner_size;
        }
    }
}

void pb_transpose_s8(const int32_t in_dims[4], const int32_t perm[4], const int8_t *input, int8_t *output) {
    int32_t in_strides[4];
    in_strides[3] = 1;
    for (int d = 2; d >= 0; --d) {
        in_strides[d] = in_strides[d + 1] * in_dims[d + 1];
    }
    const int32_t d0 = in_dims[perm[0]], d1 = in_dims[perm[1]], d2 = in_dims[perm[2]], d3 = in_dims[perm[3]];
    const int32_t s0 = in_strides[perm[0]], s1 = in_strides[perm[1]], s2 = in_strides[perm[2]], s3 = in_strides[perm[3]];
    for (int32_t a = 0; a < d0; ++a) {
        for (int32_t b = 0; b < d1; ++b) {
            for (int32_t c = 0; c < d2; ++c) {
                const int8_t *in = input + a * s0 + b * s1 + c * s2;
                for (int32_t d = 0; d < d3; ++d) {
                    *output++ = in[d * s3];
                }
            }
        }
    }
}
