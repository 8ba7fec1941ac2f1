/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pb_dsp.h: the few Cortex-M DSP-extension (SIMD32) operations the optimized kernels use.
 *
 * On a core with the DSP extension (Cortex-M4, M7, M33 with DSP: __ARM_FEATURE_DSP) they are the
 * ACLE intrinsics of <arm_acle.h>, plus inline assembly for the rotated forms that GCC's
 * arm_acle.h lacks (SXTB16/SXTAB16 with ROR #8 are single instructions). Elsewhere they are plain C
 * with the same results, so the host tests run the optimized kernels' logic too.
 *
 * Packed values are uint32_t: two int16 halves (bottom = bits 0..15) or four int8 bytes.
 */
#ifndef PB_DSP_H
#define PB_DSP_H

#include <stdint.h>
#include <string.h>

/* Word loads from int8 data of any alignment: Cortex-M4/M7 LDR accepts unaligned addresses, and
 * memcpy of 4 bytes compiles to one LDR there. */
static inline uint32_t pb_read_u32(const void *p) {
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void pb_write_u32(void *p, uint32_t v) { memcpy(p, &v, sizeof v); }

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP

#include <arm_acle.h>

#define PB_DSP_NATIVE 1

/* bytes 0 and 2, sign-extended to two int16 */
static inline uint32_t pb_sxtb16(uint32_t x) { return (uint32_t)__sxtb16((int8x4_t)x); }

/* bytes 1 and 3, sign-extended to two int16 */
static inline uint32_t pb_sxtb16_ror8(uint32_t x) {
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}

/* a + bytes 0 and 2 (two int16 lanes) */
static inline uint32_t pb_sxtab16(uint32_t a, uint32_t x) {
    return (uint32_t)__sxtab16((int16x2_t)a, (int8x4_t)x);
}

/* a + bytes 1 and 3 (two int16 lanes) */
static inline uint32_t pb_sxtab16_ror8(uint32_t a, uint32_t x) {
    uint32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(x));
    return r;
}

/* a + b in each int16 lane (SADD16, wrapping) */
static inline uint32_t pb_sadd16(uint32_t a, uint32_t b) { return (uint32_t)__sadd16((int16x2_t)a, (int16x2_t)b); }

/* acc + a.lo * b.lo + a.hi * b.hi */
static inline int32_t pb_smlad(uint32_t a, uint32_t b, int32_t acc) {
    return __smlad((int16x2_t)a, (int16x2_t)b, acc);
}

static inline int32_t pb_smlabb(uint32_t a, uint32_t b, int32_t acc) {
    return __smlabb((int32_t)a, (int32_t)b, acc);
}

static inline int32_t pb_smlatt(uint32_t a, uint32_t b, int32_t acc) {
    return __smlatt((int32_t)a, (int32_t)b, acc);
}

static inline int32_t pb_smlabt(uint32_t a, uint32_t b, int32_t acc) {
    return __smlabt((int32_t)a, (int32_t)b, acc);
}

static inline int32_t pb_smlatb(uint32_t a, uint32_t b, int32_t acc) {
    return __smlatb((int32_t)a, (int32_t)b, acc);
}

/* bottom half of a, top half of b<<16: PKHBT */
static inline uint32_t pb_pkhbt(uint32_t a, uint32_t b) {
    uint32_t r;
    __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(a), "r"(b));
    return r;
}

/* top half of a, bottom half of b>>16 (arithmetic): PKHTB */
static inline uint32_t pb_pkhtb(uint32_t a, uint32_t b) {
    uint32_t r;
    __asm__("pkhtb %0, %1, %2, asr #16" : "=r"(r) : "r"(a), "r"(b));
    return r;
}

/* x saturated to int8 */
static inline int32_t pb_ssat8(int32_t x) { return __ssat(x, 8); }

/* floor((acc * 2^32 + a * b + 2^31) / 2^32): SMMLAR, the rounded high word of a * b plus acc */
static inline int32_t pb_smmlar(int32_t a, int32_t b, int32_t acc) {
    int32_t r;
    __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}

/* The high word of acc * m + (acc < 0 ? -2^30 : 2^30): one SMLAL on a 64-bit addend made of acc's sign. */
static inline int32_t pb_mul_high_rounded(int32_t acc, int32_t m) {
    int32_t hi = acc >> 31;
    uint32_t lo = 0x40000000u + ((uint32_t)hi << 31);
    __asm__("smlal %0, %1, %2, %3" : "+r"(lo), "+r"(hi) : "r"(acc), "r"(m));
    return hi;
}

#else /* portable emulation */

#define PB_DSP_NATIVE 0

static inline int32_t pb_lo16(uint32_t x) { return (int16_t)(x & 0xFFFFu); }
static inline int32_t pb_hi16(uint32_t x) { return (int16_t)(x >> 16); }
static inline uint32_t pb_pack16(int32_t lo, int32_t hi) {
    return ((uint32_t)lo & 0xFFFFu) | ((uint32_t)hi << 16);
}

static inline uint32_t pb_sxtb16(uint32_t x) { return pb_pack16((int8_t)x, (int8_t)(x >> 16)); }
static inline uint32_t pb_sxtb16_ror8(uint32_t x) { return pb_pack16((int8_t)(x >> 8), (int8_t)(x >> 24)); }
static inline uint32_t pb_sxtab16(uint32_t a, uint32_t x) {
    return pb_pack16(pb_lo16(a) + (int8_t)x, pb_hi16(a) + (int8_t)(x >> 16));
}
static inline uint32_t pb_sxtab16_ror8(uint32_t a, uint32_t x) {
    return pb_pack16(pb_lo16(a) + (int8_t)(x >> 8), pb_hi16(a) + (int8_t)(x >> 24));
}
static inline uint32_t pb_sadd16(uint32_t a, uint32_t b) { return pb_pack16(pb_lo16(a) + pb_lo16(b), pb_hi16(a) + pb_hi16(b)); }
static inline int32_t pb_smlad(uint32_t a, uint32_t b, int32_t acc) {
    return (int32_t)((uint32_t)acc + (uint32_t)(pb_lo16(a) * pb_lo16(b)) + (uint32_t)(pb_hi16(a) * pb_hi16(b)));
}
static inline int32_t pb_smlabb(uint32_t a, uint32_t b, int32_t acc) {
    return (int32_t)((uint32_t)acc + (uint32_t)(pb_lo16(a) * pb_lo16(b)));
}
static inline int32_t pb_smlatt(uint32_t a, uint32_t b, int32_t acc) {
    return (int32_t)((uint32_t)acc + (uint32_t)(pb_hi16(a) * pb_hi16(b)));
}
static inline int32_t pb_smlabt(uint32_t a, uint32_t b, int32_t acc) {
    return (int32_t)((uint32_t)acc + (uint32_t)(pb_lo16(a) * pb_hi16(b)));
}
static inline int32_t pb_smlatb(uint32_t a, uint32_t b, int32_t acc) {
    return (int32_t)((uint32_t)acc + (uint32_t)(pb_hi16(a) * pb_lo16(b)));
}
static inline uint32_t pb_pkhbt(uint32_t a, uint32_t b) { return (a & 0xFFFFu) | (b << 16); }
static inline uint32_t pb_pkhtb(uint32_t a, uint32_t b) { return (a & 0xFFFF0000u) | ((b >> 16) & 0xFFFFu); }
static inline int32_t pb_ssat8(int32_t x) { return x < -128 ? -128 : x > 127 ? 127 : x; }
static inline int32_t pb_smmlar(int32_t a, int32_t b, int32_t acc) {
    return (int32_t)(((int64_t)acc * ((int64_t)1 << 32) + (int64_t)a * b + ((int64_t)1 << 31)) >> 32);
}
static inline int32_t pb_mul_high_rounded(int32_t acc, int32_t m) {
    return (int32_t)(((int64_t)acc * m + (acc < 0 ? -((int64_t)1 << 30) : ((int64_t)1 << 30))) >> 32);
}

#endif

/* ---- requantization prepared per output channel ------------------------------------------------ */

/* pb_requantize_s8_fast's shift <= -2 case with the output zero point folded into the rounding term,
 * prepared once per channel and reused for every output of that channel: with e = -shift,
 * ((high + 2^(e-2)) >> (e-1)) + zp == (high + 2^(e-2) + zp * 2^(e-1)) >> (e-1) (adding a multiple of
 * 2^(e-1) commutes with the flooring shift). |high| <= 2^30, so for e <= 23 (|zp * 2^(e-1)| <= 2^29)
 * the sum stays in int32. Outside 2 <= e <= 23 a channel takes pb_requantize_s8_fast. */
typedef struct {
    int32_t multiplier;
    int32_t add;    /* 2^(e-2) + zero_point * 2^(e-1) */
    int32_t rshift; /* e - 1 */
} pb_channel_requant;

#define PB_FOLDED_MAX_EXPONENT 23

/* Fills *cr and returns 1 when the channel can take pb_requant_folded, else 0 (cr untouched). */
static inline int32_t pb_channel_requant_prepare(int32_t multiplier, int32_t shift, int32_t zero_point,
                                                 pb_channel_requant *cr) {
    if (shift > -2 || shift < -PB_FOLDED_MAX_EXPONENT || multiplier < 0) {
        return 0;
    }
    cr->multiplier = multiplier;
    cr->add = (int32_t)((1u << (-shift - 2)) + (uint32_t)zero_point * (1u << (-shift - 1)));
    cr->rshift = -shift - 1;
    return 1;
}

/* The requantized value plus the zero point, before the activation clamp. */
static inline int32_t pb_requant_folded(int32_t acc, const pb_channel_requant *cr) {
    return (pb_mul_high_rounded(acc, cr->multiplier) + cr->add) >> cr->rshift;
}

/* The same value from one SMMLAR on a doubled sum (the 1x1 / general conv kernels' prepared form):
 * with A = 2 * acc, SMMLAR gives floor((A * m + 2^31 + ra * 2^32) / 2^32), which for
 * ra = 2 * add + (acc < 0 ? -1 : 0) is floor((acc * m + sign * 2^30 + add * 2^32) / 2^31), and the
 * flooring shift by e (one more than rshift) makes it pb_requant_folded's value. Exact while A and the
 * SMMLAR result stay in int32, that is |acc| < 2^30: prepare with a bound on the channel's |acc|. */
typedef struct {
    int32_t multiplier;
    int32_t add2;   /* 2^(e-1) + zero_point * 2^e */
    int32_t shift;  /* e; 0 marks a channel that takes pb_requantize_s8_fast */
} pb_channel_requant_x2;

#define PB_X2_ACC_LIMIT (1 << 30)

/* Fills *cr and returns 1 when the channel can take pb_requant_x2 for every |acc| <= acc_bound, else 0
 * (cr->shift = 0). */
static inline int32_t pb_channel_requant_x2_prepare(int32_t multiplier, int32_t shift, int32_t zero_point,
                                                    int64_t acc_bound, pb_channel_requant_x2 *cr) {
    cr->shift = 0;
    if (shift > -2 || shift < -PB_FOLDED_MAX_EXPONENT || multiplier < 0 || acc_bound >= PB_X2_ACC_LIMIT) {
        return 0;
    }
    cr->multiplier = multiplier;
    cr->add2 = (int32_t)((1u << (-shift - 1)) + (uint32_t)zero_point * (1u << -shift));
    cr->shift = -shift;
    return 1;
}

#if PB_DSP_NATIVE
static inline int32_t pb_requant_x2(int32_t acc, const pb_channel_requant_x2 *cr) {
    const int32_t doubled = (int32_t)((uint32_t)acc << 1);
    int32_t r;
    __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(doubled), "r"(cr->multiplier), "r"(cr->add2 + (acc >> 31)));
    return r >> cr->shift;
}
#else
static inline int32_t pb_requant_x2(int32_t acc, const pb_channel_requant_x2 *cr) {
    const int64_t ra = (int64_t)cr->add2 + (acc < 0 ? -1 : 0);
    const int64_t sum = ra * ((int64_t)1 << 32) + (int64_t)(2 * (int64_t)acc) * cr->multiplier + ((int64_t)1 << 31);
    return (int32_t)(sum >> 32) >> cr->shift;
}
#endif

#endif /* PB_DSP_H */
