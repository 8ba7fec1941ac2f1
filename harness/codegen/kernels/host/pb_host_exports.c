/* SPDX-License-Identifier: Apache-2.0 */
/* Host-only exports of pb_fixedpoint.h's inline functions, so the tests can call them through ctypes.
 * Not part of any firmware. */
#include "pb_dsp.h"
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

/* The DSP kernels' per-channel folded requantization (pb_dsp.h), clamped as the kernels clamp it;
 * -1000 when the channel does not qualify (the kernels then call pb_requantize_s8_fast). */
int32_t pb_export_requantize_folded(int32_t acc, int32_t m, int32_t s, int32_t zp, int32_t lo, int32_t hi) {
    pb_channel_requant cr;
    if (!pb_channel_requant_prepare(m, s, zp, &cr)) {
        return -1000;
    }
    const int32_t value = pb_requant_folded(acc, &cr);
    if (lo == PB_INT8_MIN && hi == PB_INT8_MAX) {
        return pb_ssat8(value);
    }
    return value < lo ? lo : value > hi ? hi : value;
}

/* pb_requant_x2 (pb_dsp.h) with acc's own magnitude as the bound, clamped like the folded export; -1000 when
 * the channel (or this acc) does not qualify. */
int32_t pb_export_requantize_x2(int32_t acc, int32_t m, int32_t s, int32_t zp, int32_t lo, int32_t hi) {
    pb_channel_requant_x2 cr;
    if (!pb_channel_requant_x2_prepare(m, s, zp, acc < 0 ? -(int64_t)acc : acc, &cr)) {
        return -1000;
    }
    const int32_t value = pb_requant_x2(acc, &cr);
    if (lo == PB_INT8_MIN && hi == PB_INT8_MAX) {
        return pb_ssat8(value);
    }
    return value < lo ? lo : value > hi ? hi : value;
}
