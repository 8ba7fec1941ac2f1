/* Data movement: PAD, CONCATENATION, RESIZE_NEAREST_NEIGHBOR. */
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

/* TFLite's GetNearestNeighbor, in float as TFLite computes it. */
static int32_t nearest_index(int32_t out_index, int32_t in_size, int32_t out_size, int32_t align_corners,
                             int32_t half_pixel_centers) {
    const float scale = (align_corners && out_size > 1) ? (float)(in_size - 1) / (float)(out_size - 1)
                                                        : (float)in_size / (float)out_size;
    const float offset = half_pixel_centers ? 0.5f : 0.0f;
    const float position = ((float)out_index + offset) * scale;
    /* position >= 0, so truncation is floor, and rounding half away from zero (TfLiteRound) is
     * truncation plus one when the fraction (exact in float for these small values) is >= 1/2. Plain
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

void pb_resize_nearest_s8(int32_t in_h, int32_t in_w, int32_t channels, int32_t out_h, int32_t out_w,
                          int32_t align_corners, int32_t half_pixel_centers, const int8_t *input,
                          int8_t *output) {
    for (int32_t y = 0; y < out_h; ++y) {
        const int32_t iy = nearest_index(y, in_h, out_h, align_corners, half_pixel_centers);
        for (int32_t x = 0; x < out_w; ++x) {
            const int32_t ix = nearest_index(x, in_w, out_w, align_corners, half_pixel_centers);
            memcpy(output + (y * out_w + x) * channels, input + (iy * in_w + ix) * channels, (size_t)channels);
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
