/* Host-only exports of pb_fixedpoint.h's inline functions, so the tests can call them through ctypes.
 * Not part of any firmware. */
#include "pb_fixedpoint.h"

int32_t pb_export_srdhm(int32_t a, int32_t b) { return pb_srdhm(a, b); }
int32_t pb_export_rounding_divide_by_pot(int32_t x, int32_t exponent) { return pb_rounding_divide_by_pot(x, exponent); }
int64_t pb_export_multiply_by_quantized_multiplier(int32_t x, int32_t m, int32_t s) {
    return pb_multiply_by_quantized_multiplier(x, m, s);
}
int8_t pb_export_requantize_s8(int32_t acc, int32_t m, int32_t s, int32_t zp, int32_t lo, int32_t hi) {
    return pb_requantize_s8(acc, m, s, zp, lo, hi);
}
int8_t pb_export_requantize_s8_fast(int32_t acc, int32_t m, int32_t s, int32_t zp, int32_t lo, int32_t hi) {
    return pb_requantize_s8_fast(acc, m, s, zp, lo, hi);
}
