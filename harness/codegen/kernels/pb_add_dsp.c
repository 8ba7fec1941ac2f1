/* SPDX-License-Identifier: Apache-2.0 */
/* ADD on the Cortex-M DSP extension: TFLite's int8 arithmetic (pb_add.c) in a handful of instructions per
 * element, bit for bit the same.
 *
 * Each operand's rescaling, RoundingDivideByPOT(SaturatingRoundingDoublingHighMul((x + offset) << 20, m), e),
 * is one SMMLAR and a shift. With v = x + offset (|v| <= 255, so v << 21 fits an int32 and no saturation
 * can happen) the high multiply is floor((v * m * 2^20 + 2^30) / 2^31) = floor(((v << 21) * m + 2^31) / 2^32),
 * SMMLAR's rounding; the divide by 2^e, floor((y + 2^(e-1) - [y < 0]) / 2^e), folds into its accumulator:
 * floor(((2^(e-1) - [v < 0]) * 2^32 + (v << 21) * m + 2^31) / 2^32) >> e ([v < 0] may stand for [y < 0]:
 * they differ only where y = 0, and both then give 0). e = 0 (the operand of the larger scale) takes no
 * accumulator. The sum of the two (|sum| < 2^29) is requantized as the conv kernels do (pb_requant_x2).
 * Parameters outside these bounds (another left shift, a shift outside the prepared range) run the
 * portable kernel. On the core, runs of elements contiguous in both operands with the full int8 range as
 * activation take add_run_asm: the same instructions per element, every constant reloaded by LDM (GCC's
 * version of the loop keeps 15 constants and 4 pointers live and spills them). */
#include <stddef.h>

#include "pb_broadcast.h"
#include "pb_dsp.h"

/* One operand's rescaling prepared: (x + offset) << 21 is x << 21 + offset21. */
typedef struct {
    int32_t offset21, multiplier, round, sign_mask, shift;
} rescale;

static inline int32_t rescale_prepare(int32_t offset, int32_t multiplier, int32_t shift, rescale *r) {
    if (multiplier < 0 || shift > 0 || shift < -31) {
        return 0;
    }
    r->offset21 = (int32_t)((uint32_t)offset << 21);
    r->multiplier = multiplier;
    r->round = shift < 0 ? (int32_t)(1u << (-shift - 1)) : 0;
    r->sign_mask = shift < 0 ? -1 : 0;
    r->shift = -shift;
    return 1;
}

static inline int32_t rescaled(int32_t x, const rescale *r) {
    const int32_t v21 = (int32_t)((uint32_t)x << 21) + r->offset21;
    return pb_smmlar(v21, r->multiplier, r->round + ((v21 >> 31) & r->sign_mask)) >> r->shift;
}

static inline int8_t add_fast(int32_t x, int32_t y, const rescale *r1, const rescale *r2,
                              const pb_channel_requant_x2 *out, int32_t act_min, int32_t act_max) {
    int32_t value = pb_requant_x2(rescaled(x, r1) + rescaled(y, r2), out);
    value = value < act_min ? act_min : value;
    return (int8_t)(value > act_max ? act_max : value);
}

#if PB_DSP_NATIVE
/* add_run_asm's constants: the output's requantization right before operand 1's rescaling (LDMDB and LDMIA
 * from one base register), then operand 2's; n the run's length (>= 1). */
typedef struct {
    int32_t out_multiplier, out_add2, out_shift;
    int32_t offset1, multiplier1, round1, sign_mask1, shift1;
    int32_t offset2, multiplier2, round2, sign_mask2, shift2;
    int32_t n;
} add_run_job;

/* out[i] = add_fast(a[i], b[i]) for i < job->n, full-range activation: 24 instructions an element. */
__attribute__((naked, noinline)) static void add_run_asm(const int8_t *a __attribute__((unused)),
                                                        const int8_t *b __attribute__((unused)),
                                                        int8_t *out __attribute__((unused)),
                                                        const void *job __attribute__((unused))) {
    __asm__ volatile(
        "push    {r4-r11, lr}\n"
        "ldr     r4, [r3, #52]\n"
        "add     r12, r3, #12\n" /* operand 1's constants; the output's below them */
        "add     lr, r3, #32\n"  /* operand 2's */
        "add     r3, r0, r4\n"   /* the end of a */
        "1:\n"
        "ldrsb   r4, [r0], #1\n"
        "ldrsb   r5, [r1], #1\n"
        "ldmia   r12, {r6-r10}\n"
        "add     r4, r6, r4, lsl #21\n"
        "and     r11, r9, r4, asr #31\n"
        "add     r11, r11, r8\n"
        "smmlar  r4, r4, r7, r11\n"
        "asr     r4, r4, r10\n"
        "ldmia   lr, {r6-r10}\n"
        "add     r5, r6, r5, lsl #21\n"
        "and     r11, r9, r5, asr #31\n"
        "add     r11, r11, r8\n"
        "smmlar  r5, r5, r7, r11\n"
        "asr     r5, r5, r10\n"
        "add     r4, r4, r5\n"
        "ldmdb   r12, {r6-r8}\n"
        "add     r9, r7, r4, asr #31\n" /* pb_requant_x2 */
        "lsl     r4, r4, #1\n"
        "smmlar  r4, r4, r6, r9\n"
        "asr     r4, r4, r8\n"
        "ssat    r4, #8, r4\n"
        "strb    r4, [r2], #1\n"
        "cmp     r0, r3\n"
        "bne     1b\n"
        "pop     {r4-r11, pc}\n");
}

/* add_run_asm where operand 1 (the larger scale's) has e = 0 and operand 2 e > 0: operand 1's rescaling is
 * one SMMULR (no accumulator, no shift), operand 2's rounding one ADD (2^(e-1) - [v < 0] is round2 + the
 * sign of v << 21). Operand 1's two constants stay in registers; operand 2's come by LDMIA and the output's
 * by LDMDB from one base; two elements a pass: 18 instructions an element. */
typedef struct {
    int32_t offset1, multiplier1;
    int32_t out_multiplier, out_add2, out_shift;
    int32_t offset2, multiplier2, round2, shift2;
    int32_t n;
} add_run_e0_job;

/* One element of add_run_e0_asm (its registers: r6, r7 operand 1's constants, lr operand 2's). */
#define PB_ADD_E0_ELEMENT                                                                                    \
    "ldrsb   r4, [r0], #1\n"                                                                                 \
    "ldrsb   r5, [r1], #1\n"                                                                                 \
    "add     r4, r6, r4, lsl #21\n"                                                                          \
    "smmulr  r4, r4, r7\n"                                                                                   \
    "ldmia   lr, {r8-r11}\n"                                                                                 \
    "add     r5, r8, r5, lsl #21\n"                                                                          \
    "add     r12, r10, r5, asr #31\n"                                                                        \
    "smmlar  r5, r5, r9, r12\n"                                                                              \
    "asr     r5, r5, r11\n"                                                                                  \
    "add     r4, r4, r5\n"                                                                                   \
    "ldmdb   lr, {r8-r10}\n"                                                                                 \
    "add     r12, r9, r4, asr #31\n" /* pb_requant_x2 */                                                     \
    "lsl     r4, r4, #1\n"                                                                                   \
    "smmlar  r4, r4, r8, r12\n"                                                                              \
    "asr     r4, r4, r10\n"                                                                                  \
    "ssat    r4, #8, r4\n"                                                                                   \
    "strb    r4, [r2], #1\n"

__attribute__((naked, noinline)) static void add_run_e0_asm(const int8_t *a __attribute__((unused)),
                                                           const int8_t *b __attribute__((unused)),
                                                           int8_t *out __attribute__((unused)),
                                                           const void *job __attribute__((unused))) {
    __asm__ volatile(
        "push    {r4-r11, lr}\n"
        "ldr     r4, [r3, #36]\n"
        "ldrd    r6, r7, [r3]\n" /* operand 1's offset and multiplier */
        "add     lr, r3, #20\n"  /* operand 2's constants; the output's below them */
        "add     r3, r0, r4\n"   /* the end of a */
        "tst     r4, #1\n"
        "bne     2f\n" /* an odd count enters at the second element */
        "1:\n" PB_ADD_E0_ELEMENT "2:\n" PB_ADD_E0_ELEMENT
        "cmp     r0, r3\n"
        "bne     1b\n"
        "pop     {r4-r11, pc}\n");
}

/* add_run_e0_asm where the e = 0 operand's multiplier is 2^30 (TFLite's 1/2 for the larger scale: always so):
 * its rescaling is ((x + offset1) << 21) * 2^30 / 2^32 = (x + offset1) << 19, exactly (no rounding), and
 * offset1 << 19 folds into operand 2's: (Z >> e) + c = (Z + (c << e)) >> e, and Z + c' is SMMLAR's with
 * c' more in its accumulator (round2 + (offset1 << (19 + e)), bounded by the caller so that no sum leaves
 * int32). The sum is then one ADD of x << 19 to operand 2's rescaling: 13 instructions an element, two
 * elements a pass; the constants all in registers. */
typedef struct {
    int32_t offset2, multiplier2, round2, shift2; /* round2 with offset1 << (19 + shift2) */
    int32_t out_multiplier, out_add2, out_shift;
    int32_t n;
} add_run_half_job;

#define PB_ADD_HALF_ELEMENT                                                                                  \
    "ldrsb   r4, [r0], #1\n"                                                                                  \
    "ldrsb   r5, [r1], #1\n"                                                                                  \
    "add     r5, r8, r5, lsl #21\n"                                                                           \
    "add     r12, r10, r5, asr #31\n"                                                                         \
    "smmlar  r5, r5, r9, r12\n"                                                                               \
    "asr     r5, r5, r11\n"                                                                                   \
    "add     r4, r5, r4, lsl #19\n"                                                                           \
    "add     r12, r7, r4, asr #31\n" /* pb_requant_x2 */                                                      \
    "lsl     r4, r4, #1\n"                                                                                    \
    "smmlar  r4, r4, r6, r12\n"                                                                               \
    "asr     r4, r4, lr\n"                                                                                    \
    "ssat    r4, #8, r4\n"                                                                                    \
    "strb    r4, [r2], #1\n"

/* The job's constants in registers (r3 the job): the run's count in r4, the output's in r6, r7, lr, operand 2's in
 * r8-r11 (add_run_half_asm and add_rows_half_asm) */
#define PB_ADD_HALF_CONSTANTS                                                                                \
    "ldr     r4, [r3, #28]\n"                                                                                 \
    "add     r12, r3, #16\n"                                                                                  \
    "ldmia   r12, {r6, r7, lr}\n" /* the output's constants */                                                \
    "ldmia   r3, {r8-r11}\n"      /* operand 2's */
/* One run of r4 elements from r0 / r1 to r2, the pointers stepped past it */
#define PB_ADD_HALF_RUN                                                                                      \
    "add     r3, r0, r4\n" /* the end of a */                                                                 \
    "tst     r4, #1\n"                                                                                        \
    "bne     2f\n" /* an odd count enters at the second element */                                            \
    "1:\n" PB_ADD_HALF_ELEMENT "2:\n" PB_ADD_HALF_ELEMENT                                                      \
    "cmp     r0, r3\n"                                                                                        \
    "bne     1b\n"

__attribute__((naked, noinline)) static void add_run_half_asm(const int8_t *a __attribute__((unused)),
                                                             const int8_t *b __attribute__((unused)),
                                                             int8_t *out __attribute__((unused)),
                                                             const void *job __attribute__((unused))) {
    __asm__ volatile(
        "push    {r4-r11, lr}\n"
        PB_ADD_HALF_CONSTANTS
        PB_ADD_HALF_RUN
        "pop     {r4-r11, pc}\n");
}

/* add_run_half_asm over two or more runs (pb_add_s8_rows_dsp: a patch stage's fused ADD takes the rows of a tile,
 * which are not contiguous in the map), the steps from one run's end to the next run's start after the job's
 * constants: the next run set up by 15 instructions, where a call of add_run_half_asm a run took about 30
 * (add_half_rows' loop, the call, the constants loaded again). [sp] the job, whose `rows` counts down. */
typedef struct {
    add_run_half_job run;
    int32_t rows;                      /* the runs (>= 2), then the runs left */
    int32_t a_step, b_step, out_step;  /* from the end of a run to the start of the next one */
} add_rows_half_job;

__attribute__((naked, noinline)) static void add_rows_half_asm(const int8_t *a __attribute__((unused)),
                                                              const int8_t *b __attribute__((unused)),
                                                              int8_t *out __attribute__((unused)),
                                                              void *job __attribute__((unused))) {
    __asm__ volatile(
        "push    {r3-r11, lr}\n"
        PB_ADD_HALF_CONSTANTS
        "0:\n" /* a run */
        PB_ADD_HALF_RUN
        "ldr     r12, [sp]\n" /* the job */
        "ldr     r4, [r12, #32]\n"
        "subs    r4, r4, #1\n"
        "beq     9f\n"
        "str     r4, [r12, #32]\n"
        "ldrd    r4, r5, [r12, #36]\n"
        "add     r0, r0, r4\n"
        "add     r1, r1, r5\n"
        "ldr     r4, [r12, #44]\n"
        "add     r2, r2, r4\n"
        "ldr     r4, [r12, #28]\n"
        "b       0b\n"
        "9:\n"
        "pop     {r3-r11, pc}\n");
}
_Static_assert(offsetof(add_rows_half_job, rows) == 32 && offsetof(add_rows_half_job, a_step) == 36 &&
                   offsetof(add_rows_half_job, out_step) == 44 && offsetof(add_run_half_job, n) == 28,
               "add_rows_half_asm reads the job at these offsets");
#undef PB_ADD_HALF_RUN
#undef PB_ADD_HALF_CONSTANTS
#undef PB_ADD_HALF_ELEMENT

/* pb_add_s8_dsp's usual case, tested and prepared first with the few instructions it needs (a residual ADD
 * fused into its conv runs once per chunk of output rows, per layer and in a patch stage, there a window's
 * rows): full-range activation, `rows` runs of row_len elements (a run at a + i * a_rs, b + i * b_rs into
 * output + i * out_rs), one operand with multiplier 2^30 and shift 0 (TFLite's larger scale) and the other
 * with shift -1..-10, the output's requantization in pb_requant_x2's range: add_run_half_asm, the conditions
 * and job of the general code below (rescale_prepare, pb_channel_requant_x2_prepare, `half`), which then never
 * takes that case (with the other jobs in one function GCC set up a 240-byte frame: 203 instructions a call,
 * then 156, now 136 with pb_add_s8_dsp's). The tests and the job once for all the rows (pb_add_s8_rows_dsp:
 * a patch stage's fused ADD, 3 rows of a 9-wide tile), where a call per row made them a row; two or more rows by
 * one call of add_rows_half_asm. Returns 0 (nothing done) where the case does not hold. */
__attribute__((noinline)) static int32_t add_half_rows(const pb_add_params *p, int32_t rows, int32_t row_len,
                                                       const int8_t *a, int32_t a_rs, const int8_t *b, int32_t b_rs,
                                                       int8_t *output, int32_t out_rs) {
    const int32_t e0_first = p->input1_shift == 0;
    const int32_t e0_multiplier = e0_first ? p->input1_multiplier : p->input2_multiplier;
    const int32_t e0_offset = e0_first ? p->input1_offset : p->input2_offset;
    const int32_t shift2 = e0_first ? -p->input2_shift : -p->input1_shift;
    const int32_t multiplier2 = e0_first ? p->input2_multiplier : p->input1_multiplier;
    const int32_t e = -p->output_shift;
    if ((!e0_first && p->input2_shift != 0) || p->left_shift != 20 || e0_multiplier != (1 << 30) ||
        (uint32_t)(shift2 - 1) > 9u || multiplier2 < 0 || (uint32_t)(e - 2) > (uint32_t)(PB_FOLDED_MAX_EXPONENT - 2) ||
        p->output_multiplier < 0 || p->act_min != PB_INT8_MIN || p->act_max != PB_INT8_MAX || row_len <= 0) {
        return 0;
    }
    /* the e = 0 operand's offset (its offset21 >> 21, as below) << (19 + shift2), below 2^30 in magnitude */
    const int32_t offset1 = (int32_t)((uint32_t)e0_offset << 21) >> 21, limit = 1 << (11 - shift2);
    if (offset1 >= limit || offset1 <= -limit) {
        return 0;
    }
    const int32_t folded = offset1 * (1 << (19 + shift2));
    const int32_t offset2 = e0_first ? p->input2_offset : p->input1_offset;
    add_rows_half_job job;
    const add_run_half_job run = {(int32_t)((uint32_t)offset2 << 21),
                                  multiplier2,
                                  (int32_t)(1u << (shift2 - 1)) + folded,
                                  shift2,
                                  p->output_multiplier,
                                  (int32_t)((1u << (e - 1)) + (uint32_t)p->output_offset * (1u << e)),
                                  e,
                                  row_len};
    job.run = run;
    if (rows == 1) { /* (per layer: a chunk's rows are one run) */
        add_run_half_asm(e0_first ? a : b, e0_first ? b : a, output, &job.run);
    } else if (rows > 1) {
        job.rows = rows;
        job.a_step = (e0_first ? a_rs : b_rs) - row_len;
        job.b_step = (e0_first ? b_rs : a_rs) - row_len;
        job.out_step = out_rs - row_len;
        add_rows_half_asm(e0_first ? a : b, e0_first ? b : a, output, &job);
    }
    return 1;
}
#endif

/* pb_add_s8_dsp's cases other than add_half_rows' (and that case where the runs span more than one dim of
 * dims): apart from it, so that the usual case does not set up this frame. */
__attribute__((noinline)) static void add_other(const pb_add_params *p, const int32_t dims[4],
                                                const int32_t a_strides[4], const int32_t b_strides[4],
                                                const int8_t *a, const int8_t *b, int8_t *output) {
    rescale r1, r2;
    pb_channel_requant_x2 out;
    /* |sum| <= 2 * 255 * 2^20 * m / 2^31 < 2^29 */
    if (p->left_shift != 20 || !rescale_prepare(p->input1_offset, p->input1_multiplier, p->input1_shift, &r1) ||
        !rescale_prepare(p->input2_offset, p->input2_multiplier, p->input2_shift, &r2) ||
        !pb_channel_requant_x2_prepare(p->output_multiplier, p->output_shift, p->output_offset, (int64_t)1 << 29,
                                       &out)) {
        pb_add_s8_portable(p, dims, a_strides, b_strides, a, b, output);
        return;
    }
    const int32_t act_min = p->act_min, act_max = p->act_max;
#if PB_DSP_NATIVE
    if (act_min == PB_INT8_MIN && act_max == PB_INT8_MAX && a_strides[3] == 1 && b_strides[3] == 1 && dims[3] > 0) {
        /* one run function and its constants for every run: add_run_e0_asm when one operand has e = 0 and the
         * other not (the usual case, where the larger scale's multiplier is 1/2, took add_half_rows), that
         * operand first (addition commutes), else add_run_asm */
        const int32_t e0_first = r1.shift == 0 && r2.shift > 0, e0_second = r2.shift == 0 && r1.shift > 0;
        const rescale *e0 = e0_first ? &r1 : &r2, *other = e0_first ? &r2 : &r1;
        union {
            add_run_job general;
            add_run_e0_job e0;
        } job;
        if (e0_first || e0_second) {
            const add_run_e0_job j = {e0->offset21,      e0->multiplier, out.multiplier, out.add2,     out.shift,
                                      other->offset21, other->multiplier, other->round, other->shift, dims[3]};
            job.e0 = j;
        } else {
            const add_run_job j = {out.multiplier, out.add2,     out.shift, r1.offset21, r1.multiplier,
                                   r1.round,       r1.sign_mask, r1.shift,  r2.offset21, r2.multiplier,
                                   r2.round,       r2.sign_mask, r2.shift,  dims[3]};
            job.general = j;
        }
        for (int32_t i0 = 0; i0 < dims[0]; ++i0) {
            for (int32_t i1 = 0; i1 < dims[1]; ++i1) {
                for (int32_t i2 = 0; i2 < dims[2]; ++i2) {
                    const int8_t *a_run = a + i0 * a_strides[0] + i1 * a_strides[1] + i2 * a_strides[2];
                    const int8_t *b_run = b + i0 * b_strides[0] + i1 * b_strides[1] + i2 * b_strides[2];
                    const int8_t *first = e0_second ? b_run : a_run, *second = e0_second ? a_run : b_run;
                    if (e0_first || e0_second) {
                        add_run_e0_asm(first, second, output, &job);
                    } else {
                        add_run_asm(first, second, output, &job);
                    }
                    output += dims[3];
                }
            }
        }
        return;
    }
#endif
    PB_BROADCAST_WALK(add_fast(x, y, &r1, &r2, &out, act_min, act_max))
}

void pb_add_s8_dsp(const pb_add_params *p, const int32_t dims[4], const int32_t a_strides[4],
                   const int32_t b_strides[4], const int8_t *a, const int8_t *b, int8_t *output) {
#if PB_DSP_NATIVE
    if (dims[0] == 1 && dims[1] == 1 && a_strides[3] == 1 && b_strides[3] == 1 &&
        add_half_rows(p, dims[2], dims[3], a, a_strides[2], b, b_strides[2], output, dims[3])) {
        return;
    }
#endif
    add_other(p, dims, a_strides, b_strides, a, b, output);
}


void pb_add_s8_rows_dsp(const pb_add_params *p, int32_t rows, int32_t row_len, const int8_t *a, int32_t a_rs,
                        const int8_t *b, int32_t b_rs, int8_t *output, int32_t out_rs) {
#if PB_DSP_NATIVE
    if (add_half_rows(p, rows, row_len, a, a_rs, b, b_rs, output, out_rs)) {
        return;
    }
#endif
    static const int32_t unit_strides[4] = {0, 0, 0, 1};
    const int32_t run[4] = {1, 1, 1, row_len};
    for (int32_t i = 0; i < rows; ++i, a += a_rs, b += b_rs, output += out_rs) {
        add_other(p, run, unit_strides, unit_strides, a, b, output);
    }
}
