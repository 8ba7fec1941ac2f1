/* Elementwise ops: TFLite's int8 reference arithmetic. Portable only (memory-bound, small share). */
#include "pb_kernels.h"

void pb_add_s8(const pb_add_params *p, const int8_t *a, const int8_t *b, int32_t size, int32_t b_size,
               int8_t *output) {
    int32_t j = 0;
    for (int32_t i = 0; i < size; ++i) {
        const int32_t a_shifted = (a[i] + p->input1_offset) * (1 << p->left_shift);
        const int32_t b_shifted = (b[j] + p->input2_offset) * (1 << p->left_shift);
        const int32_t sum = pb_multiply_by_quantized_multiplier_smaller_than_one_exp(a_shifted, p->input1_multiplier,
                                                                                      p->input1_shift) +
                            pb_multiply_by_quantized_multiplier_smaller_than_one_exp(b_shifted, p->input2_multiplier,
                                                                                      p->input2_shift);
        const int32_t scaled =
            pb_multiply_by_quantized_multiplier_smaller_than_one_exp(sum, p->output_multiplier, p->output_shift);
        output[i] = pb_clamp_offset_s8(scaled, p->output_offset, p->act_min, p->act_max);
        j = j + 1 == b_size ? 0 : j + 1;
    }
}

void pb_mul_s8(const pb_mul_params *p, const int8_t *a, const int8_t *b, int32_t size, int32_t b_size,
               int8_t *output) {
    int32_t j = 0;
    for (int32_t i = 0; i < size; ++i) {
        const int32_t product = (a[i] + p->input1_offset) * (b[j] + p->input2_offset);
        const int64_t scaled = pb_multiply_by_quantized_multiplier(product, p->output_multiplier, p->output_shift);
        output[i] = pb_clamp_offset_s8(scaled, p->output_offset, p->act_min, p->act_max);
        j = j + 1 == b_size ? 0 : j + 1;
    }
}

void pb_requantize_tensor_s8(int32_t size, int32_t input_zero_point, int32_t output_zero_point,
                             int32_t multiplier, int32_t shift, const int8_t *input, int8_t *output) {
    for (int32_t i = 0; i < size; ++i) {
        const int64_t scaled = pb_multiply_by_quantized_multiplier(input[i] - input_zero_point, multiplier, shift);
        output[i] = pb_clamp_offset_s8(scaled, output_zero_point, PB_INT8_MIN, PB_INT8_MAX);
    }
}

void pb_quantize_f32_s8(int32_t size, float scale, int32_t zero_point, const float *input, int8_t *output) {
    for (int32_t i = 0; i < size; ++i) {
        const float scaled = input[i] / scale; /* float32, as TFLite divides */
        /* round half away from zero without libm: the fraction of a float is exact in float */
        const float magnitude = scaled < 0.0f ? -scaled : scaled;
        float rounded;
        if (magnitude >= 8388608.0f) { /* 2^23: already an integer (or far out of range) */
            rounded = magnitude;
        } else {
            const float whole = (float)(int32_t)magnitude;
            rounded = magnitude - whole >= 0.5f ? whole + 1.0f : whole;
        }
        const float value = (scaled < 0.0f ? -rounded : rounded) + (float)zero_point;
        output[i] = (int8_t)(value < (float)PB_INT8_MIN ? PB_INT8_MIN : value > (float)PB_INT8_MAX ? PB_INT8_MAX : value);
    }
}

void pb_dequantize_s8_f32(int32_t size, double scale, int32_t zero_point, const int8_t *input, float *output) {
    for (int32_t i = 0; i < size; ++i) {
        output[i] = (float)((double)(input[i] - zero_point) * scale);
    }
}
