/* SPDX-License-Identifier: Apache-2.0 */
/* The benchmark's test input, generated on the device from a seed: element i of an input is a function
 * of (seed, i) alone (a counter-based generator), so any engine's firmware fills a whole input or any tile
 * of it without an image in flash, and the host reproduces it for the reference
 * (harness/firmware/test_input.py, the Python twin; tests/firmware/test_test_input.py checks that they agree).
 *
 * bits(seed, i) = lowbias32(i + seed * 0x9E3779B9) (a 32-bit integer hash: xorshift-multiply rounds with
 * the constants C. Wellons published for "lowbias32"). An int8 element is its top byte; a float32
 * element of an input read by QUANTIZE(scale, zero_point) is ((top byte as int8) - zero_point + (next
 * byte) / 256) * scale, in float32: the int8 range and a fraction of a step, exact up to that product. */
#ifndef PB_TEST_INPUT_H
#define PB_TEST_INPUT_H

#include <stdint.h>

uint32_t pb_test_input_bits(uint32_t seed, uint32_t index);

/* count int8 elements, the first with index first */
void pb_test_input_s8(int8_t *dst, uint32_t seed, uint32_t first, uint32_t count);

/* count float32 elements, the first with index first, for an input quantized with (scale, zero_point) */
void pb_test_input_f32(float *dst, uint32_t seed, uint32_t first, uint32_t count, float scale, int32_t zero_point);

#endif
