/* Elementwise and broadcasting two-operand ops: TFLite's int8 reference arithmetic. Portable only
 * (memory-bound, a small share of the time). */
#include "pb_kernels.h"

/* Walks a broadcast output (pb_kernels.h, "Broadcasting"): x and y are the operands' values of the output
 * element written, ELEMENT its value. A contiguous innermost run (both strides 1, the elementwise case)
 * gets its own loop, which the compiler keeps free of stride multiplies. */
#define PB_BROADCAST_WALK(ELEMENT)                                                                          \
    for (int32_t i0 = 0; i0 < dims[0]; ++i0) {                                                               \
        for (int32_t i1 = 0; i1 < dims[1]; ++i1) {                                                           \
            for (int32_t i2 = 0; i2 < dims[2]; ++i2) {                                                       \
                const int8_t *ra = a + i0 * a_strides[0] + i1 * a_strides[1] + i2 * a_strides[2];            \
                const int8_t *rb = b + i0 * b_strides[0] + i1 * b_strides[1] + i2 * b_strides[2];            \
                const int32_t sa = a_strides[3], sb = b_strides[3];                                          \
                if (sa == 1 && sb == 1) {                                                                    \
                    for (int32_t i3 = 0; i3 < dims[3]; ++i3) {                                               \
                        const int32_t x = ra[i3], y = rb[i3];                                                \
                        *output++ = (ELEMENT);                                                               \
                    }                                                                                        \
                } else {                                                                                     \
                    for (int32_t i3 = 0; i3 < dims[3]; ++i3) {                                               \
                        const int32_t x = ra[i3 * sa], y = rb[i3 * sb];                                      \
                        *output++ = (ELEMENT);                                                               \
                    }                                                                                        \
                }                                                                                            \
            }                                                                                                \
        }                                                                                                    \
    }

static inline int32_t add_rescaled(const pb_add_params *p, int32_t x, int32_t offset, int32_t multiplier,
                                   int32_t shift) {
    return pb_multiply_by_quantized_multiplier_smaller_than_one_exp((x + offset) * (1 << p->left_shift), multiplier,
                                                                     shift);
}

static inline int8_t add_element(const pb_add_params *p, int32_t x, int32_t y) {
    const int32_t sum = add_rescaled(p, x, p->input1_offset, p->input1_multiplier, p->input1_shift) +
                        add_rescaled(p, y, p->input2_offset, p->input2_multiplier, p->input2_shift);
    const int32_t scaled =
        pb_multiply_by_quantized_multiplier_smaller_than_one_exp(sum, p->output_multiplier, p->output_shift);
    return pb_clamp_offset_s8(scaled, p->output_offset, p->act_min, p->act_max);
}

static inline int8_t sub_element(const pb_add_params *p, int32_t x, int32_t y) {
    const int32_t difference = add_rescaled(p, x, p->input1_offset, p->input1_multiplier, p->input1_shift) -
                               add_rescaled(p, y, p->input2_offset, p->input2_multiplier, p->input2_shift);
    const int32_t scaled =
        pb_multiply_by_quantized_multiplier_smaller_than_one_exp(difference, p->output_multiplier, p->output_shift);
    return pb_clamp_offset_s8(scaled, p->output_offset, p->act_min, p->act_max);
}

static inline int8_t mul_element(const pb_mul_params *p, int32_t x, int32_t y) {
    const int32_t product = (x + p->input1_offset) * (y + p->input2_offset);
    const int64_t scaled = pb_multiply_by_quantized_multiplier(product, p->output_multiplier, p->output_shift);
    return pb_clamp_offset_s8(scaled, p->output_offset, p->act_min, p->act_max);
}

static inline int8_t prelu_element(const pb_prelu_params *p, int32_t x, int32_t alpha) {
    const int32_t value = x + p->input_offset;
    const int64_t scaled =
        value >= 0 ? pb_multiply_by_quantized_multiplier(value, p->output_multiplier_1, p->output_shift_1)
                   : pb_multiply_by_quantized_multiplier(value * (alpha + p->alpha_offset), p->output_multiplier_2,
                                                         p->output_shift_2);
    return pb_clamp_offset_s8(scaled, p->output_offset, PB_INT8_MIN, PB_INT8_MAX);
}

void pb_add_s8(const pb_add_params *p, const int32_t dims[4], const int32_t a_strides[4], const int32_t b_strides[4],
               const int8_t *a, const int8_t *b, int8_t *output) {
    PB_BROADCAST_WALK(add_element(p, x, y))
}

void pb_sub_s8(const pb_add_params *p, const int32_t dims[4], const int32_t a_strides[4], const int32_t b_strides[4],
               const int8_t *a, const int8_t *b, int8_t *output) {
    PB_BROADCAST_WALK(sub_element(p, x, y))
}

void pb_mul_s8(const pb_mul_params *p, const int32_t dims[4], const int32_t a_strides[4], const int32_t b_strides[4],
               const int8_t *a, const int8_t *b, int8_t *output) {
    PB_BROADCAST_WALK(mul_element(p, x, y))
}

void pb_maximum_s8(const int32_t dims[4], const int32_t a_strides[4], const int32_t b_strides[4], const int8_t *a,
                   const int8_t *b, int8_t *output) {
    PB_BROADCAST_WALK((int8_t)(x > y ? x : y))
}

void pb_minimum_s8(const int32_t dims[4], const int32_t a_strides[4], const int32_t b_strides[4], const int8_t *a,
                   const int8_t *b, int8_t *output) {
    PB_BROADCAST_WALK((int8_t)(x < y ? x : y))
}

void pb_prelu_s8(const pb_prelu_params *p, const int32_t dims[4], const int32_t a_strides[4],
                 const int32_t b_strides[4], const int8_t *a, const int8_t *b, int8_t *output) {
    PB_BROADCAST_WALK(prelu_element(p, x, y))
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
