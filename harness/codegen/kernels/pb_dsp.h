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
static inline int32_t pb_smlad(uint32_t a, uint32_t b, int32_t acc) {
    return (int32_t)((uint32_t)acc + (uint32_t)(pb_lo16(a) * pb_lo16(b)) + (uint32_t)(pb_hi16(a) * pb_hi16(b)));
}
static inline int32_t pb_smlabb(uint32_t a, uint32_t b, int32_t acc) {
    return (int32_t)((uint32_t)acc + (uint32_t)(pb_lo16(a) * pb_lo16(b)));
}
static inline int32_t pb_smlatt(uint32_t a, uint32_t b, int32_t acc) {
    return (int32_t)((uint32_t)acc + (uint32_t)(pb_hi16(a) * pb_hi16(b)));
}
static inline uint32_t pb_pkhbt(uint32_t a, uint32_t b) { return (a & 0xFFFFu) | (b << 16); }
static inline uint32_t pb_pkhtb(uint32_t a, uint32_t b) { return (a & 0xFFFF0000u) | ((b >> 16) & 0xFFFFu); }

#endif

#endif /* PB_DSP_H */
