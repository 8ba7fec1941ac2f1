/* SPDX-License-Identifier: Apache-2.0 */
/* Cortex-M DSP kernels of the convolutions and the fully connected op. Same results as the portable
 * kernels bit for bit: the same int32 sums in another order (integer addition is associative, and
 * TFLite's int32 accumulators do not overflow for int8 data), then the same requantization.
 *
 * The matrix kernels (1x1 conv, general conv, fully connected) turn input pixels into int16
 * *columns* in scratch (input offset added, padding as 0) and multiply them with the int8 weights
 * with SMLAD (two 16-bit MACs per instruction): the convs one output channel by six columns at a
 * time (matmul_cols; on the core four or three at the end of a map), remainders and the fully connected op
 * two channels by two or one column.
 * Weights stay int8 as TFLite lays them out: SXTB16 splits a word of four weights into bytes 0,2
 * and bytes 1,3, so a column stores each group of four values in the same order,
 * [x0 x2][x1 x3], and no repacking is needed.
 *
 * The depthwise DSP kernel is in pb_depthwise_conv_dsp.c.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "pb_dsp_kernels.h"

/* ---- columns ------------------------------------------------------------------------------------ */

/* The 1x1 and general conv kernels multiply PB_BLOCK_COLS pixels' columns at a time (below). */
#define PB_BLOCK_COLS 6

/* Column `col` of `ncols` interleaved columns of k values: group g (values 4g..4g+3) of column c at
 * words (g * ncols + c) * 2 and +1 as [x0 x2] [x1 x3]; then the k % 4 tail values: in three or more
 * columns (PB_BLOCK_COLS, and on the core 4 and 3) as one more group with zeros in the missing lanes
 * ([t0 t2] [t1 0], so that the assembly loop multiplies whole groups: the weight bytes under the zeros add
 * nothing), in fewer columns as plain int16, column after column. `doubled` (a constant where it is
 * inlined; three or more columns only):
 * every value times 2 (|2 (x + offset)| <= 510), so that the sums come out doubled, as the assembly
 * channel loop's requantization takes them (one SADD16 a word here instead of a shift per output). */
static PB_ALWAYS_INLINE void expand_column(const int8_t *src, int32_t k, int32_t input_offset, uint32_t *cols,
                                           int32_t col, int32_t ncols, int32_t doubled) {
    const uint32_t offset2 = pack_offset(input_offset);
    const int32_t groups = k >> 2, tail = k & 3;
    uint32_t *dst = cols + 2 * col;
#define PB_TWICE(v) (doubled ? pb_sadd16((v), (v)) : (v))
    int32_t g = 0;
    for (; g + 2 <= groups; g += 2) { /* two groups a pass: half the loop overhead */
        const uint32_t x = pb_read_u32(src), y = pb_read_u32(src + 4);
        src += 8;
        const uint32_t x02 = pb_sxtab16(offset2, x), x13 = pb_sxtab16_ror8(offset2, x);
        const uint32_t y02 = pb_sxtab16(offset2, y), y13 = pb_sxtab16_ror8(offset2, y);
        dst[0] = PB_TWICE(x02);
        dst[1] = PB_TWICE(x13);
        dst[2 * ncols] = PB_TWICE(y02);
        dst[2 * ncols + 1] = PB_TWICE(y13);
        dst += 4 * ncols;
    }
    for (; g < groups; ++g) {
        const uint32_t x = pb_read_u32(src);
        src += 4;
        const uint32_t x02 = pb_sxtab16(offset2, x), x13 = pb_sxtab16_ror8(offset2, x);
        dst[0] = PB_TWICE(x02);
        dst[1] = PB_TWICE(x13);
        dst += 2 * ncols;
    }
#undef PB_TWICE
    if (ncols >= 3) {
        if (tail > 0) {
            const int32_t times = doubled ? 2 : 1;
            const uint32_t t0 = (uint32_t)((src[0] + input_offset) * times) & 0xFFFFu;
            const uint32_t t1 = tail > 1 ? (uint32_t)((src[1] + input_offset) * times) & 0xFFFFu : 0;
            const uint32_t t2 = tail > 2 ? (uint32_t)((src[2] + input_offset) * times) & 0xFFFFu : 0;
            dst[0] = t0 | t2 << 16;
            dst[1] = t1;
        }
        return;
    }
    int16_t *tail_dst = (int16_t *)(cols + 2 * ncols * groups) + col * tail;
    for (int32_t t = 0; t < tail; ++t) {
        tail_dst[t] = (int16_t)(src[t] + input_offset);
    }
}

/* How many of the `left` pixels the 1x1 and general conv kernels multiply next: PB_BLOCK_COLS at a time, then
 * on the core four or three (matmul_cols), else a pair, then one; on the core 7 and 8 as 4 + 3 and 4 + 4, not
 * 6 + 1 and 6 + 2. */
static PB_ALWAYS_INLINE int32_t block_ncols(int32_t left) {
    return PB_DSP_NATIVE && (left == 7 || left == 8) ? 4
           : left >= PB_BLOCK_COLS                   ? PB_BLOCK_COLS
           : PB_DSP_NATIVE && left >= 4              ? 4
           : PB_DSP_NATIVE && left == 3  ? 3
           : left >= 2                   ? 2
                                         : 1;
}


/* Words of PB_BLOCK_COLS columns of k values: whole groups, the tail padded to one. */
static inline int32_t block_cols_words(int32_t k) { return (PB_BLOCK_COLS / 2) * ((k + 3) & ~3); }

/* Two output channels (weights wa, wb) by two interleaved columns over one group of four values. */
#define PB_MAC_2X2_GROUP()                                                                                   \
    do {                                                                                                     \
        const uint32_t wa_raw = pb_read_u32(wa), wb_raw = pb_read_u32(wb);                                   \
        wa += 4;                                                                                             \
        wb += 4;                                                                                             \
        const uint32_t wa02 = pb_sxtb16(wa_raw), wa13 = pb_sxtb16_ror8(wa_raw);                              \
        const uint32_t wb02 = pb_sxtb16(wb_raw), wb13 = pb_sxtb16_ror8(wb_raw);                              \
        const uint32_t x0_02 = c[0], x0_13 = c[1];                                                           \
        a0 = pb_smlad(wa02, x0_02, a0);                                                                      \
        a0 = pb_smlad(wa13, x0_13, a0);                                                                      \
        b0 = pb_smlad(wb02, x0_02, b0);                                                                      \
        b0 = pb_smlad(wb13, x0_13, b0);                                                                      \
        const uint32_t x1_02 = c[2], x1_13 = c[3];                                                           \
        a1 = pb_smlad(wa02, x1_02, a1);                                                                      \
        a1 = pb_smlad(wa13, x1_13, a1);                                                                      \
        b1 = pb_smlad(wb02, x1_02, b1);                                                                      \
        b1 = pb_smlad(wb13, x1_13, b1);                                                                      \
        c += 4;                                                                                              \
    } while (0)

#if PB_DSP_NATIVE
/* PB_MAC_2X2_GROUP over `groups` groups in assembly: 18 instructions per 16 MACs. GCC's register
 * allocation of the C version spills inside the loop (14 values are live: 4 sums, 3 pointers, a
 * count, 4 widened weights and 2 column words), which costs a third more instructions. */
static PB_ALWAYS_INLINE void mac_2x2_asm(const int8_t **wa, const int8_t **wb, const uint32_t **c, int32_t groups,
                                         int32_t *a0, int32_t *b0, int32_t *a1, int32_t *b1) {
    const int8_t *pa = *wa, *pb = *wb;
    const uint32_t *pc = *c;
    int32_t sa0 = *a0, sb0 = *b0, sa1 = *a1, sb1 = *b1;
    uint32_t w0, w1, w2, w3, x0, x1;
    __asm__ volatile(
        "1:\n"
        "ldr    %[w0], [%[pa]], #4\n"
        "ldr    %[w2], [%[pb]], #4\n"
        "sxtb16 %[w1], %[w0], ror #8\n"
        "sxtb16 %[w0], %[w0]\n"
        "sxtb16 %[w3], %[w2], ror #8\n"
        "sxtb16 %[w2], %[w2]\n"
        "ldrd   %[x0], %[x1], [%[pc]], #8\n"
        "smlad  %[sa0], %[w0], %[x0], %[sa0]\n"
        "smlad  %[sa0], %[w1], %[x1], %[sa0]\n"
        "smlad  %[sb0], %[w2], %[x0], %[sb0]\n"
        "smlad  %[sb0], %[w3], %[x1], %[sb0]\n"
        "ldrd   %[x0], %[x1], [%[pc]], #8\n"
        "smlad  %[sa1], %[w0], %[x0], %[sa1]\n"
        "smlad  %[sa1], %[w1], %[x1], %[sa1]\n"
        "smlad  %[sb1], %[w2], %[x0], %[sb1]\n"
        "smlad  %[sb1], %[w3], %[x1], %[sb1]\n"
        "subs   %[n], %[n], #1\n"
        "bne    1b\n"
        : [pa] "+r"(pa), [pb] "+r"(pb), [pc] "+r"(pc), [n] "+r"(groups), [sa0] "+r"(sa0), [sb0] "+r"(sb0),
          [sa1] "+r"(sa1), [sb1] "+r"(sb1), [w0] "=&r"(w0), [w1] "=&r"(w1), [w2] "=&r"(w2), [w3] "=&r"(w3),
          [x0] "=&r"(x0), [x1] "=&r"(x1)
        :
        : "cc", "memory");
    *wa = pa;
    *wb = pb;
    *c = pc;
    *a0 = sa0;
    *b0 = sb0;
    *a1 = sa1;
    *b1 = sb1;
}
#endif

/* ---- six columns at a time ------------------------------------------------------------------------ */

/* The 1x1 and general conv kernels multiply PB_BLOCK_COLS pixels' columns at a time with one output
 * channel: one weight word, widened by two SXTB16, feeds 12 SMLADs. Channels follow each other in the
 * weights, so the weight pointer just runs on from one channel to the next; the per-channel cost (bias,
 * six requants) is spread over six outputs. On the core the loop is mac_1x6_asm (18 instructions per 24
 * MACs: the column words come four at a time by LDM), which needs every register: 6 sums, 2 weights,
 * 4 column words, the weight and column pointers. */

#if PB_DSP_NATIVE
/* One group of four values of one channel by six columns: r0 weights, r1 columns, r4-r9 the sums,
 * r12/lr the widened weights [w0 w2]/[w1 w3], r2 r3 r10 r11 two columns' words (LDM fills them in
 * register order, which is the columns' word order). All 32-bit encodings: the TBB offsets count on it. */
#define PB_MAC_1X6_GROUP                                                                                     \
    "ldr.w   r12, [r0], #4\n"                                                                                \
    "ldmia.w r1!, {r2, r3, r10, r11}\n"                                                                      \
    "sxtb16  lr, r12, ror #8\n"                                                                              \
    "sxtb16  r12, r12\n"                                                                                     \
    "smlad   r4, r12, r2, r4\n"                                                                              \
    "smlad   r4, lr, r3, r4\n"                                                                               \
    "smlad   r5, r12, r10, r5\n"                                                                             \
    "smlad   r5, lr, r11, r5\n"                                                                              \
    "ldmia.w r1!, {r2, r3, r10, r11}\n"                                                                      \
    "smlad   r6, r12, r2, r6\n"                                                                              \
    "smlad   r6, lr, r3, r6\n"                                                                               \
    "smlad   r7, r12, r10, r7\n"                                                                             \
    "smlad   r7, lr, r11, r7\n"                                                                              \
    "ldmia.w r1!, {r2, r3, r10, r11}\n"                                                                      \
    "smlad   r8, r12, r2, r8\n"                                                                              \
    "smlad   r8, lr, r3, r8\n"                                                                               \
    "smlad   r9, r12, r10, r9\n"                                                                             \
    "smlad   r9, lr, r11, r9\n"

/* The whole body of mac_1x6_asm, mac_1x4_asm and mac_1x3_asm: `columns_end` sets r12 = r1 + r2 groups of
 * columns, `sums` the sum registers, `cols` 1X6, 1X4 or 1X3 (its group, all 32-bit encodings: the TBB
 * offsets count on it). */
#define PB_MAC_COLS_ASM(columns_end, sums, cols)                                                             \
    "push    {r4-r11, lr}\n" columns_end "push    {r3, r12}\n" /* [sp] acc, [sp + 4] columns end */           \
    "ldmia   r3, {" sums "}\n"                                                                               \
    "and     r2, r2, #3\n"                                                                                    \
    "tbb     [pc, r2]\n"                                                                                      \
    "0:\n"                                                                                                    \
    ".byte   (1f - 0b) / 2, (4f - 0b) / 2, (3f - 0b) / 2, (2f - 0b) / 2\n"                                    \
    "1:\n" PB_MAC_##cols##_GROUP "2:\n" PB_MAC_##cols##_GROUP "3:\n" PB_MAC_##cols##_GROUP                   \
    "4:\n" PB_MAC_##cols##_GROUP                                                                              \
    "ldr     r2, [sp, #4]\n"                                                                                  \
    "cmp     r1, r2\n"                                                                                        \
    "bne.w   1b\n"                                                                                            \
    "pop     {r3, r12}\n"                                                                                     \
    "stmia   r3, {" sums "}\n"                                                                               \
    "pop     {r4-r11, pc}\n"

/* acc[0..5] += `groups` (>= 1) groups of weights from w times the six interleaved columns; returns w
 * past them. A standalone function so that the loop has r0-r12 and lr to itself. It keeps no counter:
 * it stops when the column pointer reaches the end saved on the stack, checked once per four groups
 * (the body holds four); a count that is not a multiple of four enters the body through a TBB table. */
__attribute__((naked, noinline)) static const int8_t *mac_1x6_asm(const int8_t *w __attribute__((unused)),
                                                                 const uint32_t *cols __attribute__((unused)),
                                                                 int32_t groups __attribute__((unused)),
                                                                 int32_t *acc __attribute__((unused))) {
    __asm__ volatile(PB_MAC_COLS_ASM("add     r12, r2, r2, lsl #1\n"
                                     "add     r12, r1, r12, lsl #4\n", /* columns end: 48 bytes a group */
                                     "r4-r9", 1X6));
}

#define PB_MAC_1X6(w, c, groups, a0, a1, a2, a3, a4, a5)                                                     \
    do {                                                                                                     \
        int32_t acc_[PB_BLOCK_COLS] = {a0, a1, a2, a3, a4, a5};                                              \
        w = mac_1x6_asm(w, c, groups, acc_);                                                                 \
        a0 = acc_[0];                                                                                        \
        a1 = acc_[1];                                                                                        \
        a2 = acc_[2];                                                                                        \
        a3 = acc_[3];                                                                                        \
        a4 = acc_[4];                                                                                        \
        a5 = acc_[5];                                                                                        \
    } while (0)

/* One group of four values of one channel by four columns: mac_1x4_asm's registers as PB_MAC_1X6_GROUP's
 * (r4-r7 the sums). All 32-bit encodings: the TBB offsets count on it. */
#define PB_MAC_1X4_GROUP                                                                                     \
    "ldr.w   r12, [r0], #4\n"                                                                                \
    "ldmia.w r1!, {r2, r3, r10, r11}\n"                                                                      \
    "sxtb16  lr, r12, ror #8\n"                                                                              \
    "sxtb16  r12, r12\n"                                                                                     \
    "smlad   r4, r12, r2, r4\n"                                                                              \
    "smlad   r4, lr, r3, r4\n"                                                                               \
    "smlad   r5, r12, r10, r5\n"                                                                             \
    "smlad   r5, lr, r11, r5\n"                                                                              \
    "ldmia.w r1!, {r2, r3, r10, r11}\n"                                                                      \
    "smlad   r6, r12, r2, r6\n"                                                                              \
    "smlad   r6, lr, r3, r6\n"                                                                               \
    "smlad   r7, r12, r10, r7\n"                                                                             \
    "smlad   r7, lr, r11, r7\n"

/* mac_1x6_asm for four interleaved columns (acc[0..3]; 13 instructions per 16 MACs, against the pair
 * path's 18): the four pixels a 2 x 2 map has, and four or five left after the blocks of six. */
__attribute__((naked, noinline)) static const int8_t *mac_1x4_asm(const int8_t *w __attribute__((unused)),
                                                                 const uint32_t *cols __attribute__((unused)),
                                                                 int32_t groups __attribute__((unused)),
                                                                 int32_t *acc __attribute__((unused))) {
    __asm__ volatile(PB_MAC_COLS_ASM("add     r12, r1, r2, lsl #5\n", /* columns end: 32 bytes a group */
                                     "r4-r7", 1X4));
}

/* One group of four values of one channel by three columns: r4-r6 the sums, the columns' six words by one
 * LDM. All 32-bit encodings: the TBB offsets count on it. */
#define PB_MAC_1X3_GROUP                                                                                     \
    "ldr.w   r12, [r0], #4\n"                                                                                \
    "ldmia.w r1!, {r2, r3, r7, r8, r9, r10}\n"                                                               \
    "sxtb16  lr, r12, ror #8\n"                                                                              \
    "sxtb16  r12, r12\n"                                                                                     \
    "smlad   r4, r12, r2, r4\n"                                                                              \
    "smlad   r4, lr, r3, r4\n"                                                                               \
    "smlad   r5, r12, r7, r5\n"                                                                              \
    "smlad   r5, lr, r8, r5\n"                                                                               \
    "smlad   r6, r12, r9, r6\n"                                                                              \
    "smlad   r6, lr, r10, r6\n"

/* mac_1x4_asm for three interleaved columns (acc[0..2]; 10 instructions per 12 MACs): the three pixels
 * left of a 3 x 3 map after its block of six. */
__attribute__((naked, noinline)) static const int8_t *mac_1x3_asm(const int8_t *w __attribute__((unused)),
                                                                 const uint32_t *cols __attribute__((unused)),
                                                                 int32_t groups __attribute__((unused)),
                                                                 int32_t *acc __attribute__((unused))) {
    __asm__ volatile(PB_MAC_COLS_ASM("add     r12, r2, r2, lsl #1\n"
                                     "add     r12, r1, r12, lsl #3\n", /* columns end: 24 bytes a group */
                                     "r4-r6", 1X3));
}
#else
#define PB_MAC_1X6(w, c, groups, a0, a1, a2, a3, a4, a5)                                                     \
    do {                                                                                                     \
        for (int32_t g_ = 0; g_ < (groups); ++g_) {                                                          \
            const uint32_t raw_ = pb_read_u32(w);                                                            \
            const uint32_t w02_ = pb_sxtb16(raw_), w13_ = pb_sxtb16_ror8(raw_);                              \
            w += 4;                                                                                          \
            a0 = pb_smlad(w13_, c[1], pb_smlad(w02_, c[0], a0));                                             \
            a1 = pb_smlad(w13_, c[3], pb_smlad(w02_, c[2], a1));                                             \
            a2 = pb_smlad(w13_, c[5], pb_smlad(w02_, c[4], a2));                                             \
            a3 = pb_smlad(w13_, c[7], pb_smlad(w02_, c[6], a3));                                             \
            a4 = pb_smlad(w13_, c[9], pb_smlad(w02_, c[8], a4));                                             \
            a5 = pb_smlad(w13_, c[11], pb_smlad(w02_, c[10], a5));                                           \
            c += 12;                                                                                         \
        }                                                                                                    \
    } while (0)
#endif

/* Six outputs of channel oc: the prepared requantization when the channel allows it (clamped by SSAT alone
 * when the activation is the full int8 range), else pb_requantize_s8_fast. */
#define PB_STORE_6(expr)                                                                                     \
    do {                                                                                                     \
        out[0][oc] = (int8_t)(expr(a0));                                                                     \
        out[1][oc] = (int8_t)(expr(a1));                                                                     \
        out[2][oc] = (int8_t)(expr(a2));                                                                     \
        out[3][oc] = (int8_t)(expr(a3));                                                                     \
        out[4][oc] = (int8_t)(expr(a4));                                                                     \
        out[5][oc] = (int8_t)(expr(a5));                                                                     \
    } while (0)

/* One output channel's entry of the table prepared once per conv call (16 * out_c bytes of scratch at its
 * start): its requantization, and the next channel's bias (0 after the last), which the assembly channel
 * loop loads right after this channel's stores, ready for the next channel's first group. */
typedef struct {
    pb_channel_requant_x2 requant;
    int32_t next_bias;
} channel_entry;

/* A channel entry's shift with this bit set takes requant_big (below). */
#define PB_BIG_SHIFT 0x100

/* Bits 16.. of a channel entry's nonzero shift: the weight bytes the assembly channel loop steps back after
 * the channel, 4 - k % 4 when k % 4 != 0 (it read the tail as a whole group); PB_LAST_SHIFT marks the last
 * channel the assembly channel loop takes (its loop end). The C code masks both off. */
#define PB_BACK_STEP_BIT 16
#define PB_LAST_SHIFT 0x200
#define PB_SHIFT_MASK 0x1FF

/* How the assembly channel loop requantizes a conv call's channels (prepare_requants): none (a channel
 * takes pb_requantize_s8_fast: the C loop), every channel by pb_requant_x2 on sums it doubles, on sums that
 * come doubled (the columns doubled: PB_REQ_DOUBLED), or either form by the channel's PB_BIG_SHIFT. */
enum { PB_REQ_C = 0, PB_REQ_X2 = 1, PB_REQ_DOUBLED = 2, PB_REQ_BIG = 3 };

/* Channels the doubled-sum SMMLAR cannot take because their shift is too big (e = -shift in 24..31:
 * zero_point * 2^e does not fit its addend) or their sums can reach 2^30 (a bias near 2^30: a channel the
 * converter saturated), for e in 9..31: pb_requantize_s8_fast's 64-bit form, high = the high word of
 * acc * m + (acc < 0 ? -2^30 : 2^30) (one SMLAL, any int32 acc), value = (high + 2^(e-2)) >> (e-1), with the
 * zero point added between two flooring shifts: ((high + 2^(e-2)) >> (e-9) + zp * 2^8) >> 8 is
 * floor((high + 2^(e-2) + zp * 2^(e-1)) / 2^(e-1)). The entry: multiplier m, add2 = 2^(e-2),
 * shift = (e - 9) | PB_BIG_SHIFT (ASR by a register reads its low byte). */
static PB_ALWAYS_INLINE int32_t requant_big(int32_t acc, const pb_channel_requant_x2 *cr, int32_t zp256) {
    return (((pb_mul_high_rounded(acc, cr->multiplier) + cr->add2) >> (cr->shift & 0xFF)) + zp256) >> 8;
}

/* The table of the conv call: every channel's pb_channel_requant_x2 (one SMMLAR), with shift -1 and a zero
 * multiplier (always the zero point) in that form too, and requant_big's where that form cannot go
 * (shifts -24..-31, or sums that can reach 2^30, |x - zp| <= 255 and |w| <= 128, with a shift -9..-31);
 * shift 0 where the channel takes pb_requantize_s8_fast (a shift 0 with a nonzero multiplier, a negative
 * multiplier, a big sum with a shift -2..-8), in `table` (the conv's scratch, aligned). Returns PB_REQ_C when
 * some channel has shift 0, else how the assembly loop requantizes: PB_REQ_DOUBLED when `doubling` (the
 * caller's blocks of six can take doubled columns) and no channel takes requant_big (the next biases doubled
 * too: |2 acc| < 2^31 in the x2 form), PB_REQ_BIG when some channel does, else PB_REQ_X2. */
/* One channel's entry in the forms above (prepare_requants' cases other than its common one). */
static PB_NOINLINE void prepare_channel(pb_channel_requant_x2 *cr, int32_t m, int32_t e, int32_t zp, int32_t b,
                                        int32_t k) {
    const int64_t acc_bound = (b < 0 ? -(int64_t)b : b) + (int64_t)255 * 128 * k;
    cr->shift = 0;
    if (m == 0) { /* SMMLAR(2 acc, 0, 1 + 2 zp - [acc < 0]) >> 1 = zp, whatever 2 acc wraps to */
        cr->multiplier = 0;
        cr->add2 = (int32_t)(1u + 2u * (uint32_t)zp);
        cr->shift = 1;
    } else if (m > 0 && e >= 9 && e <= 31 && (e >= 24 || acc_bound >= PB_X2_ACC_LIMIT)) {
        cr->multiplier = m;
        cr->add2 = (int32_t)(1u << (e - 2));
        cr->shift = (e - 9) | PB_BIG_SHIFT;
    } else if (m > 0 && e == 1 && acc_bound < PB_X2_ACC_LIMIT) {
        cr->multiplier = m;
        cr->add2 = (int32_t)(1u + 2u * (uint32_t)zp);
        cr->shift = 1;
    } else {
        pb_channel_requant_x2_prepare(m, -e, zp, acc_bound, cr);
    }
}

/* prepare_requants' common case, pb_channel_requant_x2_prepare's (m > 0, e in 2..23 and |b| + 255 * 128 * k
 * < 2^30, below bias_limit), for channels 0, 1, ... while it holds; returns the first channel it leaves. Each
 * channel's bias goes into the entry before as its next_bias. A loop of its own (bias_shift a constant where it
 * is inlined), since it runs at every call of a conv (every tile of a patch, every row of a row-streamed
 * segment): with the other forms' cases in the loop GCC kept its values on the stack, 46 instructions a
 * channel. */
static PB_ALWAYS_INLINE int32_t common_channels_of(channel_entry *table, int32_t out_c, const int32_t *multiplier,
                                                   const int32_t *shift, const int32_t *bias, uint32_t odd_zp,
                                                   uint32_t back, uint32_t bias_limit, int32_t bias_shift) {
    int32_t first_bias;
    int32_t *next_bias = &first_bias; /* where the channel's bias goes: the previous entry's next_bias */
    channel_entry *entry = table;
    const channel_entry *const end = table + out_c;
    for (; entry != end; ++entry) {
        const int32_t b = *bias++, m = *multiplier++, s = *shift++;
        *next_bias = (int32_t)((uint32_t)b << bias_shift);
        const uint32_t magnitude = b < 0 ? 0u - (uint32_t)b : (uint32_t)b;
        if (m <= 0 || (uint32_t)(s + 23) > 21u || magnitude >= bias_limit) { /* e = -s in 2..23 */
            break;
        }
        entry->requant.multiplier = m;
        entry->requant.add2 = (int32_t)(odd_zp << (-s - 1));
        entry->requant.shift = (int32_t)((uint32_t)-s | back);
        next_bias = &entry->next_bias;
    }
    return (int32_t)(entry - table);
}

static PB_NOINLINE int32_t common_channels(channel_entry *table, int32_t out_c, const int32_t *multiplier,
                                           const int32_t *shift, const int32_t *bias, uint32_t odd_zp, uint32_t back,
                                           uint32_t bias_limit, int32_t bias_shift) {
    return bias_shift ? common_channels_of(table, out_c, multiplier, shift, bias, odd_zp, back, bias_limit, 1)
                      : common_channels_of(table, out_c, multiplier, shift, bias, odd_zp, back, bias_limit, 0);
}

static PB_NOINLINE int32_t prepare_requants(const pb_requant *q, int32_t k, int32_t out_c, const int32_t *bias,
                                            channel_entry *table, int32_t doubling) {
    const int32_t zp = q->output_zero_point;
    const int32_t *multiplier = q->multiplier, *shift = q->shift;
    const uint32_t back = (uint32_t)((4 - (k & 3)) & 3) << PB_BACK_STEP_BIT;
    /* the common case, pb_channel_requant_x2_prepare's: m > 0, e in 2..23 and |b| + 255 * 128 * k < 2^30 */
    const int64_t room = PB_X2_ACC_LIMIT - (int64_t)255 * 128 * k;
    const uint32_t bias_limit = room > 0 ? (uint32_t)room : 0;
    const int32_t bias_shift = doubling ? 1 : 0; /* undone below if the form is not PB_REQ_DOUBLED */
    const uint32_t odd_zp = 2u * (uint32_t)zp + 1u; /* add2 = 2^(e-1) + zp * 2^e = (2 zp + 1) << (e - 1) */
    /* the common channels, then the others (if any) from the first that is not */
    int32_t oc = bias ? common_channels(table, out_c, multiplier, shift, bias, odd_zp, back, bias_limit, bias_shift)
                      : 0;
    int32_t all = 1, big = 0;
    for (; oc < out_c; ++oc) {
        const int32_t b = bias ? bias[oc] : 0;
        const int32_t m = multiplier[oc], e = -shift[oc];
        pb_channel_requant_x2 *cr = &table[oc].requant;
        const uint32_t magnitude = b < 0 ? 0u - (uint32_t)b : (uint32_t)b;
        if (m > 0 && (uint32_t)(e - 2) <= 21u && magnitude < bias_limit) {
            cr->multiplier = m;
            cr->add2 = (int32_t)(odd_zp << (e - 1));
            cr->shift = (int32_t)((uint32_t)e | back);
        } else {
            prepare_channel(cr, m, e, zp, b, k);
            all &= cr->shift != 0;
            big |= cr->shift & PB_BIG_SHIFT;
            if (cr->shift != 0) {
                cr->shift |= (int32_t)back;
            }
        }
        if (oc > 0) {
            table[oc - 1].next_bias = (int32_t)((uint32_t)b << bias_shift); /* wraps where m = 0 */
        }
    }
    if (out_c > 0) {
        table[out_c - 1].next_bias = 0;
    }
    /* the assembly loop's last channel: a k % 4 tail leaves the last channel to the C loop (matmul_cols) */
    const int32_t last = (k & 3) ? out_c - 2 : out_c - 1;
    if (all && last >= 0) {
        table[last].requant.shift |= PB_LAST_SHIFT;
    }
    const int32_t form = !all ? PB_REQ_C : big ? PB_REQ_BIG : doubling ? PB_REQ_DOUBLED : PB_REQ_X2;
    if (bias_shift && form != PB_REQ_DOUBLED) {
        for (int32_t c = 0; c + 1 < out_c; ++c) {
            table[c].next_bias = bias ? bias[c + 1] : 0;
        }
    }
    return form;
}

/* Whether every block of three or more output pixels of a conv call is equally spaced (one output row, a dense
 * output, or rows of whole blocks of six and no others) and its sums can come doubled (PB_REQ_DOUBLED): on the core, for the full int8
 * range, no k % 4 tail (every channel in the assembly loop), and more output channels than words of a
 * column (a SADD16 a column word costs less than the shift per output it saves). */
static PB_ALWAYS_INLINE int32_t doubling_pays_of(const pb_region *r, const pb_requant *q, int32_t k,
                                                 int32_t out_rs) {
    const int32_t spaced = out_rs == r->out_w * r->out_c || r->out_w % PB_BLOCK_COLS == 0 || r->out_h == 1;
    return PB_DSP_NATIVE && spaced && q->act_min == PB_INT8_MIN && q->act_max == PB_INT8_MAX && (k & 3) == 0 &&
           k >= 4 && 2 * r->out_c > k;
}

/* doubling_pays_of apart from pb_conv2d_s8_dsp (its frame); pb_conv1x1_s8_dsp takes it inline. */
static PB_NOINLINE int32_t doubling_pays(const pb_region *r, const pb_requant *q, int32_t k, int32_t out_rs) {
    return doubling_pays_of(r, q, k, out_rs);
}

/* The flags of a channel table made at code generation (its first word): the doubling it was made for, whether
 * every call of the op takes that doubling, and whether every call is a dense 1x1 call that dense_call takes
 * (harness.codegen.kernels.conv_channel_table, conv_dense_call). */
#define PB_PREPARED_DOUBLING 1
#define PB_PREPARED_EVERY_CALL 2
#define PB_PREPARED_DENSE 4
#define PB_PREPARED_PADDED 8 /* the filter array holds the last channel's tail group whole: the assembly takes it */

/* The conv call's channel table and its form: the table made at code generation for a conv that runs on every
 * tile of a patch stage (`prepared`, q->prepared read once by the caller: its flags, its form, then out_c entries; from
 * harness.codegen.kernels.conv_channel_table, prepare_requants' twin) when it was made for this call's doubling
 * (doubling_pays, inline where `pointwise`; on the core not tested where every call of the op takes it), else
 * prepare_requants' in the scratch (`table`). */
static PB_ALWAYS_INLINE const channel_entry *call_requants(const pb_region *r, const pb_requant *q, int32_t k,
                                                           int32_t out_rs, const int32_t *bias, channel_entry *table,
                                                           const int32_t *prepared, int32_t pointwise,
                                                           int32_t *form) {
    if (PB_DSP_NATIVE && prepared != NULL && (prepared[0] & PB_PREPARED_EVERY_CALL)) {
        *form = prepared[1];
        return (const channel_entry *)(prepared + 2);
    }
    const int32_t doubling = pointwise ? doubling_pays_of(r, q, k, out_rs) : doubling_pays(r, q, k, out_rs);
    if (prepared != NULL && (prepared[0] & PB_PREPARED_DOUBLING) == doubling) {
        *form = prepared[1];
        return (const channel_entry *)(prepared + 2);
    }
    *form = prepare_requants(q, k, r->out_c, bias, table, doubling);
    return table;
}

#if PB_DSP_NATIVE
/* What matmul_6cols_asm, matmul_4cols_asm and matmul_3cols_asm need, in one struct so that the naked
 * functions take one argument. */
typedef struct {
    /* the channel loop's frame, as it is laid out on the stack */
    const channel_entry *table;
    int8_t *out;              /* channel 0 of the block's first pixel */
    int32_t out_step;         /* bytes from one pixel's outputs to the next pixel's (all equally spaced) */
    const uint32_t *cols;
    uint32_t requant_entry;   /* set by the first call, which finds loop_entry 0 (with loop_entry, cols_end) */
    uint32_t loop_entry;
    const uint32_t *cols_end;
    int32_t zp256;            /* the output zero point * 2^8 (requant_big) */
    const int8_t *weights;
    int32_t first_bias;       /* channel 0's bias (doubled with PB_REQ_DOUBLED) */
    int32_t form;             /* PB_REQ_X2, PB_REQ_DOUBLED or PB_REQ_BIG (the channels end at PB_LAST_SHIFT) */
    int32_t groups;           /* >= 1: k / 4 rounded up (the tail as one more group) */
} matmul_cols_job;

/* The channel loops in assembly (matmul_cols_asm), for full-range activations, every channel in the SMMLAR
 * form and equally spaced output pixels (a k % 4 tail is one more group, the weight pointer stepped back by
 * the table's PB_BACK_STEP_BIT after each channel): the sums never leave registers, the requantization
 * (pb_requant_x2 + SSAT, the same instructions) follows each channel's MACs, and the output pointer just
 * steps one byte per channel. One body for six, four and three columns (PB_MAC_1X6/1X4/1X3_GROUP, their
 * sums r4-r9, r4-r7, r4-r6). Only r0 (weights) lives across channels; the rest (table, output pointer,
 * step, columns, ends, loop entries) is reloaded from a 32-byte frame: [sp] table, [sp+4] out, [sp+8] step,
 * [sp+12] columns, [sp+16] the requantization of the job's form, [sp+20] loop entry, [sp+24] columns end,
 * [sp+28] zp * 2^8 (addresses with the Thumb bit set): the job's first eight words, the entries and the
 * columns end filled in by the first call of a job (a job called block after block sets its frame up by
 * one LDM and one PUSH). A channel's first group is peeled: its SMLADs start
 * from the bias in the last sum register (the last one it writes), so the sums need no separate
 * initialisation; the remaining groups - 1 run through a body of eight groups, entered part-way so that the
 * end check (once per eight groups) comes when the columns are used up; up to eight of them (k <= 36, the
 * narrow inputs) run through a copy of the body without the check, entered so that it ends at the
 * requantization. The requantization of the job's form (PB_REQ_DOUBLED: the sums are doubled already, no
 * shift per output; PB_REQ_BIG: a test of the channel's PB_BIG_SHIFT first) ends in its own copy of the
 * stores and the channel step; the loop ends after the channel whose shift has PB_LAST_SHIFT. */

/* The peeled first groups: PB_MAC_1X6/1X4/1X3_GROUP with the sums started from the bias register. */
#define PB_PEELED_1X6                                                                                        \
    "ldr.w   r12, [r0], #4\n"                                                                                \
    "ldmia.w r1!, {r2, r3, r10, r11}\n"                                                                      \
    "sxtb16  lr, r12, ror #8\n"                                                                              \
    "sxtb16  r12, r12\n"                                                                                     \
    "smlad   r4, r12, r2, r9\n"                                                                              \
    "smlad   r4, lr, r3, r4\n"                                                                               \
    "smlad   r5, r12, r10, r9\n"                                                                             \
    "smlad   r5, lr, r11, r5\n"                                                                              \
    "ldmia.w r1!, {r2, r3, r10, r11}\n"                                                                      \
    "smlad   r6, r12, r2, r9\n"                                                                              \
    "smlad   r6, lr, r3, r6\n"                                                                               \
    "smlad   r7, r12, r10, r9\n"                                                                             \
    "smlad   r7, lr, r11, r7\n"                                                                              \
    "ldmia.w r1!, {r2, r3, r10, r11}\n"                                                                      \
    "smlad   r8, r12, r2, r9\n"                                                                              \
    "smlad   r8, lr, r3, r8\n"                                                                               \
    "smlad   r9, r12, r10, r9\n"                                                                             \
    "smlad   r9, lr, r11, r9\n"
#define PB_PEELED_1X4                                                                                        \
    "ldr.w   r12, [r0], #4\n"                                                                                \
    "ldmia.w r1!, {r2, r3, r10, r11}\n"                                                                      \
    "sxtb16  lr, r12, ror #8\n"                                                                              \
    "sxtb16  r12, r12\n"                                                                                     \
    "smlad   r4, r12, r2, r7\n"                                                                              \
    "smlad   r4, lr, r3, r4\n"                                                                               \
    "smlad   r5, r12, r10, r7\n"                                                                             \
    "smlad   r5, lr, r11, r5\n"                                                                              \
    "ldmia.w r1!, {r2, r3, r10, r11}\n"                                                                      \
    "smlad   r6, r12, r2, r7\n"                                                                              \
    "smlad   r6, lr, r3, r6\n"                                                                               \
    "smlad   r7, r12, r10, r7\n"                                                                             \
    "smlad   r7, lr, r11, r7\n"
#define PB_PEELED_1X3                                                                                        \
    "ldr.w   r12, [r0], #4\n"                                                                                \
    "ldmia.w r1!, {r2, r3, r7, r8, r9, r10}\n"                                                               \
    "sxtb16  lr, r12, ror #8\n"                                                                              \
    "sxtb16  r12, r12\n"                                                                                     \
    "smlad   r4, r12, r2, r6\n"                                                                              \
    "smlad   r4, lr, r3, r4\n"                                                                               \
    "smlad   r5, r12, r7, r6\n"                                                                              \
    "smlad   r5, lr, r8, r5\n"                                                                               \
    "smlad   r6, r12, r9, r6\n"                                                                              \
    "smlad   r6, lr, r10, r6\n"

/* The requantization: r2 table entry, r3 output of pixel 0, r10 step, r11 multiplier, r12 add2, lr shift,
 * r1 the SMMLAR addend; pixel j's output at r3 + j * step. */
#define PB_REQUANT_LOAD                                                                                      \
    "ldmia   sp, {r2, r3, r10}\n"                                                                            \
    "ldmia   r2!, {r11, r12, lr}\n"
#define PB_REQUANT_X2_SSAT(acc)                                                                              \
    "add     r1, r12, " acc ", asr #31\n"                                                                    \
    "lsl     " acc ", " acc ", #1\n"                                                                         \
    "smmlar  " acc ", " acc ", r11, r1\n"                                                                    \
    "asr     " acc ", " acc ", lr\n"                                                                         \
    "ssat    " acc ", #8, " acc "\n"
#define PB_REQUANT_DOUBLED_SSAT(acc)                                                                         \
    "add     r1, r12, " acc ", asr #31\n"                                                                    \
    "smmlar  " acc ", " acc ", r11, r1\n"                                                                    \
    "asr     " acc ", " acc ", lr\n"                                                                         \
    "ssat    " acc ", #8, " acc "\n"
/* requant_big's instructions (r10 holds zp * 2^8 from [sp, #28], r2 is free meanwhile) */
#define PB_REQUANT_BIG_SSAT(acc)                                                                             \
    "asr     r2, " acc ", #31\n"                                                                             \
    "mov     r1, #0x40000000\n"                                                                              \
    "add     r1, r1, r2, lsl #31\n"                                                                          \
    "smlal   r1, r2, " acc ", r11\n"                                                                         \
    "add     " acc ", r2, r12\n"                                                                             \
    "asr     " acc ", " acc ", lr\n"                                                                         \
    "add     " acc ", " acc ", r10\n"                                                                        \
    "asr     " acc ", " acc ", #8\n"                                                                         \
    "ssat    " acc ", #8, " acc "\n"
#define PB_SUMS_1X6(form) form("r4") form("r5") form("r6") form("r7") form("r8") form("r9")
#define PB_SUMS_1X4(form) form("r4") form("r5") form("r6") form("r7")
#define PB_SUMS_1X3(form) form("r4") form("r5") form("r6")
/* the stores of the sums at r3 + j * r10 (r1 free) */
#define PB_STORES_1X6                                                                                        \
    "add     r1, r3, r10\n"                                                                                  \
    "strb    r4, [r3]\n"                                                                                     \
    "strb    r5, [r1]\n"                                                                                     \
    "strb    r6, [r1, r10]\n"                                                                                \
    "strb    r7, [r1, r10, lsl #1]\n"                                                                        \
    "strb    r8, [r3, r10, lsl #2]\n"                                                                        \
    "strb    r9, [r1, r10, lsl #2]\n"
#define PB_STORES_1X4 /* matmul_4cols_asm's: the output of pixel 0 in r9 (PB_POINTERS_REGS) */               \
    "add     r1, r9, r10\n"                                                                                  \
    "strb    r4, [r9]\n"                                                                                     \
    "strb    r5, [r1]\n"                                                                                     \
    "strb    r6, [r9, r10, lsl #1]\n"                                                                        \
    "strb    r7, [r1, r10, lsl #1]\n"
#define PB_STORES_1X3                                                                                        \
    "strb    r4, [r3]\n"                                                                                     \
    "strb    r5, [r3, r10]\n"                                                                                \
    "strb    r6, [r3, r10, lsl #1]\n"
/* the stores, the weights stepped back (`back`: PB_BACK_STEP, or nothing where k % 4 = 0: PB_REQ_DOUBLED), the
 * next channel's bias into the bias register, the step to the next channel, the loop's end */
#define PB_BACK_STEP "sub     r0, r0, lr, lsr #16\n" /* PB_BACK_STEP_BIT */
#define PB_CHANNEL_END(stores, back, bias)                                                                   \
    stores back "ldr     " bias ", [r2], #4\n"                                                               \
    "add     r3, r3, #1\n"                                                                                   \
    "stmia   sp, {r2, r3}\n"                                                                                 \
    "ldr     r1, [sp, #12]\n"                                                                                \
    "tst     lr, #0x200\n" /* PB_LAST_SHIFT */                                                               \
    "beq.w   0b\n"                                                                                           \
    "add     sp, sp, #32\n"                                                                                  \
    "pop     {r4-r11, pc}\n"

/* Where the channel loop keeps the table entry's and the output's pointers: in the frame ([sp], [sp + 4]:
 * PB_POINTERS_FRAME, six and three columns, whose groups take every other register) or in r8 and r9
 * (PB_POINTERS_REGS, four columns, whose sums leave them free: one STM a channel fewer). Each: what the job's
 * entry adds (ENTER), the requantization's loads (LOAD), the channel's end (END) and the table pointer after
 * requant_big, which takes r2 (BIG). */
#define PB_ENTER_FRAME ""
#define PB_LOAD_FRAME PB_REQUANT_LOAD
#define PB_END_FRAME PB_CHANNEL_END
#define PB_BIG_FRAME                                                                                         \
    "ldr     r2, [sp]\n"                                                                                     \
    "add     r2, r2, #12\n" /* the table entry's next_bias, as after the ldmia above */                      \
    "ldr     r10, [sp, #8]\n"
#define PB_ENTER_REGS                                                                                        \
    "mov     r8, r1\n"                                                                                       \
    "mov     r9, r2\n"
#define PB_LOAD_REGS                                                                                         \
    "ldr     r10, [sp, #8]\n"                                                                                \
    "ldmia   r8!, {r11, r12, lr}\n"
#define PB_END_REGS(stores, back, bias)                                                                      \
    stores back "ldr     " bias ", [r8], #4\n"                                                               \
    "add     r9, r9, #1\n"                                                                                   \
    "ldr     r1, [sp, #12]\n"                                                                                \
    "tst     lr, #0x200\n" /* PB_LAST_SHIFT */                                                               \
    "beq.w   0b\n"                                                                                           \
    "add     sp, sp, #32\n"                                                                                  \
    "pop     {r4-r11, pc}\n"
#define PB_BIG_REGS "ldr     r10, [sp, #8]\n"

/* The whole function body: `columns_end` sets r7 = r1 + r6 groups of columns, `group_bytes` the bytes of one
 * group (all 32-bit encodings), `cols` 1X6, 1X4 or 1X3, `bias` its last sum register, `pointers` FRAME or REGS
 * (above). */
#define PB_MATMUL_COLS_ASM(columns_end, group_bytes, cols, bias, pointers)                                   \
    "push    {r4-r11, lr}\n"                                                                                 \
    "ldr     r1, [r0, #20]\n"                                                                                \
    "cmp     r1, #0\n"                                                                                       \
    "bne.w   8f\n" /* prepared by an earlier call */                                                         \
    "ldr     r5, [r0, #40]\n"                                                                                \
    "ldr     r6, [r0, #44]\n"                                                                                \
    "ldr     r1, [r0, #12]\n"                                                                                \
    "adr.w   r4, 10f\n" /* PB_REQ_X2 */                                                                      \
    "cmp     r5, #2\n"                                                                                       \
    "bne     6f\n"                                                                                           \
    "adr.w   r4, 11f\n" /* PB_REQ_DOUBLED */                                                                 \
    "6:\n"                                                                                                   \
    "cmp     r5, #3\n"                                                                                       \
    "bne     6f\n"                                                                                           \
    "adr.w   r4, 12f\n" /* PB_REQ_BIG */                                                                     \
    "6:\n"                                                                                                   \
    "orr     r4, r4, #1\n"                                                                                   \
    "str     r4, [r0, #16]\n" columns_end "str     r7, [r0, #24]\n"                                          \
    "subs    r6, r6, #1\n" /* groups after the peeled one */                                                 \
    "movs    r5, #" group_bytes "\n"                                                                         \
    "cmp     r6, #8\n"                                                                                       \
    "bgt     1f\n"                                                                                           \
    "rsb     r6, r6, #8\n" /* at most 8: one pass of the copy without the end check */                       \
    "adr.w   r7, 4f\n"                                                                                       \
    "mla     r7, r6, r5, r7\n"                                                                               \
    "b       5f\n"                                                                                           \
    "1:\n"                                                                                                   \
    "rsb     r6, r6, #0\n"                                                                                   \
    "and     r6, r6, #7\n" /* groups of the body skipped on entry: (8 - rest % 8) % 8 */                     \
    "adr.w   r7, 2f\n"                                                                                       \
    "mla     r7, r6, r5, r7\n"                                                                               \
    "5:\n"                                                                                                   \
    "orr     r7, r7, #1\n"                                                                                   \
    "str     r7, [r0, #20]\n"                                                                                \
    "8:\n"                                                                                                   \
    "ldmia   r0, {r1-r8}\n" /* the frame */                                                                  \
    "push    {r1-r8}\n" PB_ENTER_##pointers                                                                  \
    "mov     r1, r4\n"                                                                                       \
    "ldr     " bias ", [r0, #36]\n"                                                                          \
    "ldr     r0, [r0, #32]\n"                                                                                \
    "0:\n" PB_PEELED_##cols "ldr     pc, [sp, #20]\n"                                                        \
    "2:\n" PB_MAC_##cols##_GROUP PB_MAC_##cols##_GROUP PB_MAC_##cols##_GROUP PB_MAC_##cols##_GROUP           \
        PB_MAC_##cols##_GROUP PB_MAC_##cols##_GROUP PB_MAC_##cols##_GROUP PB_MAC_##cols##_GROUP              \
    "ldr     r2, [sp, #24]\n"                                                                                \
    "cmp     r1, r2\n"                                                                                       \
    "bne.w   2b\n"                                                                                           \
    "ldr     pc, [sp, #16]\n"                                                                                \
    "4:\n" PB_MAC_##cols##_GROUP PB_MAC_##cols##_GROUP PB_MAC_##cols##_GROUP PB_MAC_##cols##_GROUP           \
        PB_MAC_##cols##_GROUP PB_MAC_##cols##_GROUP PB_MAC_##cols##_GROUP PB_MAC_##cols##_GROUP              \
    "ldr     pc, [sp, #16]\n"                                                                                \
    "11:\n" PB_LOAD_##pointers PB_SUMS_##cols(PB_REQUANT_DOUBLED_SSAT)                                        \
        PB_END_##pointers(PB_STORES_##cols, "", bias)                                                        \
    "12:\n" PB_LOAD_##pointers                                                                               \
    "tst     lr, #256\n" /* PB_BIG_SHIFT */                                                                  \
    "bne.w   7f\n"                                                                                           \
    "b.w     13f\n"                                                                                          \
    "10:\n" PB_LOAD_##pointers "13:\n" PB_SUMS_##cols(PB_REQUANT_X2_SSAT)                                    \
    "9:\n" PB_END_##pointers(PB_STORES_##cols, PB_BACK_STEP, bias)                                           \
    "7:\n"                                                                                                   \
    "ldr     r10, [sp, #28]\n" PB_SUMS_##cols(PB_REQUANT_BIG_SSAT) PB_BIG_##pointers                          \
    "b.w     9b\n"

__attribute__((naked, noinline)) static void matmul_6cols_asm(matmul_cols_job *job __attribute__((unused))) {
    __asm__ volatile(PB_MATMUL_COLS_ASM("add r7, r6, r6, lsl #1\n"
                                        "add r7, r1, r7, lsl #4\n", /* 48 bytes a group */
                                        "72", 1X6, "r9", FRAME));
}

__attribute__((naked, noinline)) static void matmul_4cols_asm(matmul_cols_job *job __attribute__((unused))) {
    __asm__ volatile(PB_MATMUL_COLS_ASM("add r7, r1, r6, lsl #5\n", /* 32 bytes a group */
                                        "52", 1X4, "r7", REGS));
}

__attribute__((naked, noinline)) static void matmul_3cols_asm(matmul_cols_job *job __attribute__((unused))) {
    __asm__ volatile(PB_MATMUL_COLS_ASM("add r7, r6, r6, lsl #1\n"
                                        "add r7, r1, r7, lsl #3\n", /* 24 bytes a group */
                                        "40", 1X3, "r6", FRAME));
}
#endif

/* The k % 4 tail's weight bytes of a channel (no more: the last channel's end is the weights') as a group, for
 * the columns' padded tail group (expand_column). */
static PB_ALWAYS_INLINE uint32_t tail_weights(const int8_t *w, int32_t tail) {
    return (uint32_t)(uint8_t)w[0] | (tail > 1 ? (uint32_t)(uint8_t)w[1] << 8 : 0) |
           (tail > 2 ? (uint32_t)(uint8_t)w[2] << 16 : 0);
}

/* matmul_cols's channels oc..out_c - 1 of six columns in C. */
static PB_NOINLINE void matmul_6cols_c(const int8_t *weights, int32_t k, int32_t oc, int32_t out_c,
                                       const uint32_t *cols, const int32_t *bias, const pb_requant *requant_params,
                                       const channel_entry *requants, int8_t *const out[PB_BLOCK_COLS]) {
    const requant_values values = requant_of(requant_params);
    const requant_values *q = &values;
    const int32_t groups = k >> 2, tail = k & 3;
    /* the padded tail group (expand_column): column j's words [t0 t2] [t1 0] at tails[2 * j], tails[2 * j + 1] */
    const uint32_t *tails = cols + 2 * PB_BLOCK_COLS * groups;
    const int32_t full_range = q->act_min == PB_INT8_MIN && q->act_max == PB_INT8_MAX;
    const int32_t act_min = q->act_min, act_max = q->act_max, zp256 = q->zero_point * 256;
    const int8_t *w = weights + oc * k;
    for (; oc < out_c; ++oc) {
        const int32_t b = bias ? bias[oc] : 0;
        int32_t a0 = b, a1 = b, a2 = b, a3 = b, a4 = b, a5 = b;
        const uint32_t *c = cols;
        if (groups > 0) {
            PB_MAC_1X6(w, c, groups, a0, a1, a2, a3, a4, a5);
        }
        if (tail > 0) {
            const uint32_t raw = tail_weights(w, tail);
            const uint32_t w02 = pb_sxtb16(raw), w13 = pb_sxtb16_ror8(raw);
            a0 = pb_smlad(w13, tails[1], pb_smlad(w02, tails[0], a0));
            a1 = pb_smlad(w13, tails[3], pb_smlad(w02, tails[2], a1));
            a2 = pb_smlad(w13, tails[5], pb_smlad(w02, tails[4], a2));
            a3 = pb_smlad(w13, tails[7], pb_smlad(w02, tails[6], a3));
            a4 = pb_smlad(w13, tails[9], pb_smlad(w02, tails[8], a4));
            a5 = pb_smlad(w13, tails[11], pb_smlad(w02, tails[10], a5));
        }
        w += tail;
        pb_channel_requant_x2 cr = requants[oc].requant;
        cr.shift &= PB_SHIFT_MASK;
        if (cr.shift & PB_BIG_SHIFT) {
            if (full_range) {
#define PB_BIG_SAT(acc) pb_ssat8(requant_big((acc), &cr, zp256))
                PB_STORE_6(PB_BIG_SAT);
#undef PB_BIG_SAT
            } else {
#define PB_BIG_CLAMP(acc) clamp_act(requant_big((acc), &cr, zp256), act_min, act_max)
                PB_STORE_6(PB_BIG_CLAMP);
#undef PB_BIG_CLAMP
            }
        } else if (cr.shift != 0) {
            if (full_range) {
#define PB_FOLDED_SAT(acc) pb_ssat8(pb_requant_x2((acc), &cr))
                PB_STORE_6(PB_FOLDED_SAT);
#undef PB_FOLDED_SAT
            } else {
#define PB_FOLDED_CLAMP(acc) clamp_act(pb_requant_x2((acc), &cr), act_min, act_max)
                PB_STORE_6(PB_FOLDED_CLAMP);
#undef PB_FOLDED_CLAMP
            }
        } else {
#define PB_GENERIC(acc) requant((acc), q, oc)
            PB_STORE_6(PB_GENERIC);
#undef PB_GENERIC
        }
    }
}

/* out[j][oc] for the out_c channels from ncols (6, or on the core 4 or 3) interleaved columns (expand_column)
 * in assembly where it can (requants from prepare_requants, form: its requantization form; with
 * PB_REQ_DOUBLED the columns of three or more pixels are doubled and every block equally spaced, so the
 * assembly takes every channel); returns the first channel it leaves to matmul_6cols_c / matmul_34cols (0 or
 * all of them, or with a k % 4 tail the last). The caller calls those, not this function, so that the deepest
 * stack is one of the frames, not both. */
static int32_t matmul_cols(const int8_t *weights, int32_t k, int32_t out_c, const uint32_t *cols, const int32_t *bias,
                           const pb_requant *q, const channel_entry *requants, int32_t form, int32_t ncols,
                           int8_t *const out[PB_BLOCK_COLS]) {
    int32_t oc = 0;
#if PB_DSP_NATIVE
    const int32_t groups = k >> 2, tail = k & 3;
    const int32_t step = (int32_t)(out[1] - out[0]);
    /* the callers' pixels are in raster order: each step between them is out_c, or a row's step (the next row's
     * first output less the row's last, at least out_c), so the block is equally spaced where its span is
     * ncols - 1 steps (one test where a loop over the steps took about 30 instructions a block) */
    const int32_t equally_spaced = out[ncols - 1] - out[0] == (ncols - 1) * step;
    if (form != PB_REQ_C && q->act_min == PB_INT8_MIN && q->act_max == PB_INT8_MAX && groups > 0 && equally_spaced) {
        /* with a tail, the last channel's tail word would read past the weights: it takes the C loop, but where the
         * call takes its table made at generation marked padded (the filter array holds that word; the table's
         * last mark is on the last channel then) */
        oc = out_c;
        if (tail) {
            const int32_t *prepared = q->prepared;
            const int32_t padded = prepared != NULL && (prepared[0] & PB_PREPARED_PADDED) &&
                                   requants == (const channel_entry *)(prepared + 2);
            oc -= !padded;
        }
        if (oc > 0) {
            const int32_t b0 = bias ? bias[0] : 0;
            matmul_cols_job job = {requants,
                                   out[0],
                                   step,
                                   cols,
                                   0,
                                   0,
                                   0,
                                   q->output_zero_point * 256,
                                   weights,
                                   form == PB_REQ_DOUBLED ? (int32_t)((uint32_t)b0 << 1) : b0,
                                   form,
                                   groups + (tail != 0)};
            if (ncols == PB_BLOCK_COLS) {
                matmul_6cols_asm(&job);
            } else if (ncols == 4) {
                matmul_4cols_asm(&job);
            } else {
                matmul_3cols_asm(&job);
            }
        }
    }
#else
    (void)weights, (void)k, (void)out_c, (void)cols, (void)bias, (void)q, (void)requants, (void)form, (void)ncols,
        (void)out;
#endif
    return oc;
}

/* One output from a conv call's channel table (prepare_requants): its SMMLAR or 64-bit form, else
 * pb_requantize_s8_fast; requants NULL (the fully connected op has no table): pb_requantize_s8_fast. */
static PB_ALWAYS_INLINE int8_t requant_entry(int32_t acc, const channel_entry *requants, const requant_values *q,
                                            int32_t oc) {
    if (requants == NULL || requants[oc].requant.shift == 0) {
        return requant(acc, q, oc);
    }
    pb_channel_requant_x2 cr = requants[oc].requant;
    cr.shift &= PB_SHIFT_MASK;
    const int32_t value =
        cr.shift & PB_BIG_SHIFT ? requant_big(acc, &cr, q->zero_point * 256) : pb_requant_x2(acc, &cr);
    return (int8_t)clamp_act(value, q->act_min, q->act_max);
}

/* out0[oc], out1[oc] for all out_c channels from two interleaved columns (requants: requant_entry's). */
static void matmul_2cols(const int8_t *weights, int32_t k, int32_t out_c, const uint32_t *cols, const int32_t *bias,
                         const pb_requant *requant_params, const channel_entry *requants, int8_t *out0,
                         int8_t *out1) {
    const requant_values values = requant_of(requant_params);
    const requant_values *q = &values;
    const int32_t groups = k >> 2, tail = k & 3;
    const int16_t *tail0 = (const int16_t *)(cols + 4 * groups);
    const int16_t *tail1 = tail0 + tail;
    int32_t oc = 0;
    for (; oc + 2 <= out_c; oc += 2) {
        const int8_t *wa = weights + oc * k;
        const int8_t *wb = wa + k;
        int32_t a0 = bias ? bias[oc] : 0, b0 = bias ? bias[oc + 1] : 0;
        int32_t a1 = a0, b1 = b0;
        const uint32_t *c = cols;
#if PB_DSP_NATIVE
        if (groups > 0) {
            mac_2x2_asm(&wa, &wb, &c, groups, &a0, &b0, &a1, &b1);
        }
#else
        for (int32_t g = 0; g < groups; ++g) {
            PB_MAC_2X2_GROUP();
        }
#endif
        for (int32_t t = 0; t < tail; ++t) {
            a0 += wa[t] * tail0[t];
            b0 += wb[t] * tail0[t];
            a1 += wa[t] * tail1[t];
            b1 += wb[t] * tail1[t];
        }
        out0[oc] = requant_entry(a0, requants, q, oc);
        out0[oc + 1] = requant_entry(b0, requants, q, oc + 1);
        out1[oc] = requant_entry(a1, requants, q, oc);
        out1[oc + 1] = requant_entry(b1, requants, q, oc + 1);
    }
    if (oc < out_c) {
        const int8_t *wa = weights + oc * k;
        int32_t a0 = bias ? bias[oc] : 0, a1 = a0;
        const uint32_t *c = cols;
        for (int32_t g = 0; g < groups; ++g) {
            const uint32_t wa_raw = pb_read_u32(wa);
            wa += 4;
            const uint32_t wa02 = pb_sxtb16(wa_raw), wa13 = pb_sxtb16_ror8(wa_raw);
            a0 = pb_smlad(wa02, c[0], a0);
            a0 = pb_smlad(wa13, c[1], a0);
            a1 = pb_smlad(wa02, c[2], a1);
            a1 = pb_smlad(wa13, c[3], a1);
            c += 4;
        }
        for (int32_t t = 0; t < tail; ++t) {
            a0 += wa[t] * tail0[t];
            a1 += wa[t] * tail1[t];
        }
        out0[oc] = requant_entry(a0, requants, q, oc);
        out1[oc] = requant_entry(a1, requants, q, oc);
    }
}

#if PB_DSP_NATIVE
/* out[j][oc] for the channels first..out_c - 1 from ncols (3 or 4) interleaved columns (expand_column), one
 * channel at a time by mac_1x3_asm or mac_1x4_asm (requants: requant_entry's). */
static PB_NOINLINE void matmul_34cols(const int8_t *weights, int32_t k, int32_t first, int32_t out_c,
                                      const uint32_t *cols, const int32_t *bias, const pb_requant *requant_params,
                                      const channel_entry *requants, int32_t ncols, int8_t *const out[4]) {
    const requant_values values = requant_of(requant_params);
    const requant_values *q = &values;
    const int32_t groups = k >> 2, tail = k & 3;
    const uint32_t *tails = cols + 2 * ncols * groups; /* the padded tail group: column j's at tails[2 * j] */
    const int32_t full_range = q->act_min == PB_INT8_MIN && q->act_max == PB_INT8_MAX;
    const int32_t zp256 = q->zero_point * 256;
    const int8_t *w = weights + first * k;
    for (int32_t oc = first; oc < out_c; ++oc) {
        const int32_t b = bias ? bias[oc] : 0;
        int32_t acc[4] = {b, b, b, b};
        if (groups > 0) {
            w = ncols == 4 ? mac_1x4_asm(w, cols, groups, acc) : mac_1x3_asm(w, cols, groups, acc);
        }
        if (tail > 0) {
            const uint32_t raw = tail_weights(w, tail);
            const uint32_t w02 = pb_sxtb16(raw), w13 = pb_sxtb16_ror8(raw);
            for (int32_t j = 0; j < ncols; ++j) {
                acc[j] = pb_smlad(w13, tails[2 * j + 1], pb_smlad(w02, tails[2 * j], acc[j]));
            }
        }
        w += tail;
        pb_channel_requant_x2 cr = requants[oc].requant;
        cr.shift &= PB_SHIFT_MASK;
        if (cr.shift != 0 && full_range) { /* the prepared form read once for the four, clamped by SSAT */
            for (int32_t j = 0; j < ncols; ++j) {
                out[j][oc] = (int8_t)pb_ssat8(cr.shift & PB_BIG_SHIFT ? requant_big(acc[j], &cr, zp256)
                                                                      : pb_requant_x2(acc[j], &cr));
            }
        } else {
            for (int32_t j = 0; j < ncols; ++j) {
                out[j][oc] = requant_entry(acc[j], requants, q, oc);
            }
        }
    }
}
#endif

#if PB_DSP_NATIVE
/* acc[0..3] += k / 4 (>= 1) groups of four channels' weights (channel c at w + c * k) times one interleaved
 * column: 23 instructions per 16 MACs, the column's two words loaded once for the four channels (the fully
 * connected op, and a conv's last pixel). */
__attribute__((naked, noinline)) static void mac_4x1_asm(const int8_t *w __attribute__((unused)),
                                                        int32_t k __attribute__((unused)),
                                                        const uint32_t *cols __attribute__((unused)),
                                                        int32_t *acc __attribute__((unused))) {
    __asm__ volatile(
        "push    {r4-r11, lr}\n"
        "push    {r3}\n"
        "ldmia   r3, {r4-r7}\n"
        "lsr     r8, r1, #2\n"
        "mov     r3, r2\n"
        "mov     r2, r1\n"               /* channels 1 and 3 at [r0, r2] and [r1, r2] */
        "add     r1, r0, r1, lsl #1\n"   /* channel 2 */
        "1:\n"
        "ldrd    r9, r10, [r3], #8\n"
        "ldr     r11, [r0, r2]\n"
        "ldr     r12, [r0], #4\n"
        "sxtb16  lr, r12\n"
        "sxtb16  r12, r12, ror #8\n"
        "smlad   r4, lr, r9, r4\n"
        "smlad   r4, r12, r10, r4\n"
        "sxtb16  lr, r11\n"
        "sxtb16  r11, r11, ror #8\n"
        "smlad   r5, lr, r9, r5\n"
        "smlad   r5, r11, r10, r5\n"
        "ldr     r11, [r1, r2]\n"
        "ldr     r12, [r1], #4\n"
        "sxtb16  lr, r12\n"
        "sxtb16  r12, r12, ror #8\n"
        "smlad   r6, lr, r9, r6\n"
        "smlad   r6, r12, r10, r6\n"
        "sxtb16  lr, r11\n"
        "sxtb16  r11, r11, ror #8\n"
        "smlad   r7, lr, r9, r7\n"
        "smlad   r7, r11, r10, r7\n"
        "subs    r8, r8, #1\n"
        "bne     1b\n"
        "pop     {r3}\n"
        "stmia   r3, {r4-r7}\n"
        "pop     {r4-r11, pc}\n");
}
#endif

#if PB_DSP_NATIVE
/* acc[0..1] += k (a multiple of 8) values of two channels' weights (channel 1 at w + k; both rows 4-byte
 * aligned, for LDRD) times one interleaved column: eight values of both channels by one LDM of the column's
 * four words and an LDRD of each channel's eight weights, 19 instructions per 16 MACs (20 per 16 with the
 * loop's end check once per 16 values; k % 16 = 8 enters the body at its second half). */
__attribute__((naked, noinline)) static void mac_2x1_asm(const int8_t *w __attribute__((unused)),
                                                        int32_t k __attribute__((unused)),
                                                        const uint32_t *cols __attribute__((unused)),
                                                        int32_t *acc __attribute__((unused))) {
#define PB_MAC_2X1_EIGHT                                                                                     \
    "ldmia   r3!, {r6-r9}\n"                                                                                  \
    "ldrd    r10, r11, [r0], #8\n"                                                                            \
    "sxtb16  r12, r10, ror #8\n"                                                                              \
    "sxtb16  r10, r10\n"                                                                                      \
    "smlad   r4, r10, r6, r4\n"                                                                               \
    "smlad   r4, r12, r7, r4\n"                                                                               \
    "sxtb16  r12, r11, ror #8\n"                                                                              \
    "sxtb16  r11, r11\n"                                                                                      \
    "smlad   r4, r11, r8, r4\n"                                                                               \
    "smlad   r4, r12, r9, r4\n"                                                                               \
    "ldrd    r10, r11, [r1], #8\n"                                                                            \
    "sxtb16  r12, r10, ror #8\n"                                                                              \
    "sxtb16  r10, r10\n"                                                                                      \
    "smlad   r5, r10, r6, r5\n"                                                                               \
    "smlad   r5, r12, r7, r5\n"                                                                               \
    "sxtb16  r12, r11, ror #8\n"                                                                              \
    "sxtb16  r11, r11\n"                                                                                      \
    "smlad   r5, r11, r8, r5\n"                                                                               \
    "smlad   r5, r12, r9, r5\n"
    __asm__ volatile(
        "push    {r4-r11, lr}\n"
        "push    {r3}\n"
        "ldmia   r3, {r4, r5}\n"
        "mov     r3, r2\n"
        "add     lr, r2, r1, lsl #1\n" /* columns end: 2 bytes a value */
        "tst     r1, #8\n"
        "add.w   r1, r0, r1\n" /* channel 1's row */
        "bne     2f\n"
        "1:\n" PB_MAC_2X1_EIGHT "2:\n" PB_MAC_2X1_EIGHT
        "cmp     r3, lr\n"
        "bne     1b\n"
        "pop     {r3}\n"
        "stmia   r3, {r4, r5}\n"
        "pop     {r4-r11, pc}\n");
#undef PB_MAC_2X1_EIGHT
}
#endif

/* out[oc] from one column for the channels two at a time by mac_2x1_asm where k is a multiple of 8 and the
 * weights' rows are 4-byte aligned, else four at a time (mac_4x1_asm); returns the first channel it leaves
 * to matmul_1col. The caller calls that, so that the deepest stack is one of the two frames. */
static int32_t matmul_1col_quads(const int8_t *weights, int32_t k, int32_t out_c, const uint32_t *cols,
                                 const int32_t *bias, const pb_requant *requant_params, int8_t *out) {
    int32_t oc = 0;
#if PB_DSP_NATIVE
    const requant_values values = requant_of(requant_params);
    const requant_values *q = &values;
    if (k > 0 && (k & 7) == 0 && ((uintptr_t)weights & 3) == 0) {
        for (; oc + 2 <= out_c; oc += 2) {
            int32_t acc[2] = {bias ? bias[oc] : 0, bias ? bias[oc + 1] : 0};
            mac_2x1_asm(weights + oc * k, k, cols, acc);
            out[oc] = requant(acc[0], q, oc);
            out[oc + 1] = requant(acc[1], q, oc + 1);
        }
        return oc;
    }
    const int32_t groups = k >> 2, tail = k & 3;
    const int16_t *tail0 = (const int16_t *)(cols + 2 * groups);
    for (; groups > 0 && oc + 4 <= out_c; oc += 4) {
        const int8_t *w = weights + oc * k;
        int32_t acc[4];
        for (int32_t i = 0; i < 4; ++i) {
            acc[i] = bias ? bias[oc + i] : 0;
        }
        mac_4x1_asm(w, k, cols, acc);
        for (int32_t i = 0; i < 4; ++i, w += k) {
            for (int32_t t = 0; t < tail; ++t) {
                acc[i] += w[4 * groups + t] * tail0[t];
            }
            out[oc + i] = requant(acc[i], q, oc + i);
        }
    }
#else
    (void)weights, (void)k, (void)out_c, (void)cols, (void)bias, (void)requant_params, (void)out;
#endif
    return oc;
}

/* out[oc] for the channels first..out_c - 1 from one column. */
static void matmul_1col(const int8_t *weights, int32_t k, int32_t first, int32_t out_c, const uint32_t *cols,
                        const int32_t *bias, const pb_requant *requant_params, int8_t *out) {
    const requant_values values = requant_of(requant_params);
    const requant_values *q = &values;
    const int32_t groups = k >> 2, tail = k & 3;
    const int16_t *tail0 = (const int16_t *)(cols + 2 * groups);
    int32_t oc = first;
    for (; oc + 2 <= out_c; oc += 2) {
        const int8_t *wa = weights + oc * k;
        const int8_t *wb = wa + k;
        int32_t a = bias ? bias[oc] : 0, b = bias ? bias[oc + 1] : 0;
        const uint32_t *c = cols;
        for (int32_t g = 0; g < groups; ++g) {
            const uint32_t wa_raw = pb_read_u32(wa), wb_raw = pb_read_u32(wb);
            wa += 4;
            wb += 4;
            a = pb_smlad(pb_sxtb16(wa_raw), c[0], a);
            a = pb_smlad(pb_sxtb16_ror8(wa_raw), c[1], a);
            b = pb_smlad(pb_sxtb16(wb_raw), c[0], b);
            b = pb_smlad(pb_sxtb16_ror8(wb_raw), c[1], b);
            c += 2;
        }
        for (int32_t t = 0; t < tail; ++t) {
            a += wa[t] * tail0[t];
            b += wb[t] * tail0[t];
        }
        out[oc] = requant(a, q, oc);
        out[oc + 1] = requant(b, q, oc + 1);
    }
    if (oc < out_c) {
        const int8_t *wa = weights + oc * k;
        int32_t a = bias ? bias[oc] : 0;
        const uint32_t *c = cols;
        for (int32_t g = 0; g < groups; ++g) {
            const uint32_t wa_raw = pb_read_u32(wa);
            wa += 4;
            a = pb_smlad(pb_sxtb16(wa_raw), c[0], a);
            a = pb_smlad(pb_sxtb16_ror8(wa_raw), c[1], a);
            c += 2;
        }
        for (int32_t t = 0; t < tail; ++t) {
            a += wa[t] * tail0[t];
        }
        out[oc] = requant(a, q, oc);
    }
}

/* ---- 1x1 convolution and fully connected --------------------------------------------------------- */

/* The ncols columns of the pixels px_step bytes apart from src on (one output row, or a dense map), doubled or
 * not: expand_column apart from the pixel loop, so that it gets the registers; the narrow inputs (8 and 16
 * channels) with k as a constant, unrolled; ncols and doubled constants where it is inlined. */
static PB_ALWAYS_INLINE void columns_of(const int8_t *src, int32_t px_step, int32_t k, int32_t input_offset,
                                        uint32_t *cols, int32_t ncols, int32_t doubled) {
    if (k == 8 || k == 16) {
        for (int32_t j = 0; j < ncols; ++j, src += px_step) {
            if (k == 8) {
                expand_column(src, 8, input_offset, cols, j, ncols, doubled);
            } else {
                expand_column(src, 16, input_offset, cols, j, ncols, doubled);
            }
        }
        return;
    }
    for (int32_t j = 0; j < ncols; ++j, src += px_step) {
        expand_column(src, k, input_offset, cols, j, ncols, doubled);
    }
}

/* The six columns of a block (PB_BLOCK_COLS). */
static PB_NOINLINE void strided_columns(const int8_t *src, int32_t px_step, int32_t k, int32_t input_offset,
                                        uint32_t *cols, int32_t doubled) {
    if (doubled) {
        columns_of(src, px_step, k, input_offset, cols, PB_BLOCK_COLS, 1);
    } else {
        columns_of(src, px_step, k, input_offset, cols, PB_BLOCK_COLS, 0);
    }
}

/* The 4 or 3 (ncols) columns that end a dense 1x1 conv call (a patch's tile: 13 x 13 = 27 blocks of six + 4 + 3),
 * by one call instead of a column at a time in the caller's pixel loop. */
static PB_NOINLINE void tail_columns(const int8_t *src, int32_t px_step, int32_t k, int32_t input_offset,
                                     uint32_t *cols, int32_t ncols, int32_t doubled) {
    if (ncols == 4) {
        if (doubled) {
            columns_of(src, px_step, k, input_offset, cols, 4, 1);
        } else {
            columns_of(src, px_step, k, input_offset, cols, 4, 0);
        }
    } else if (doubled) {
        columns_of(src, px_step, k, input_offset, cols, 3, 1);
    } else {
        columns_of(src, px_step, k, input_offset, cols, 3, 0);
    }
}

/* Column `col` of ncols doubled columns, apart from the callers' pixel loops (their frames do not grow by a
 * second copy of expand_column). */
static PB_NOINLINE void doubled_column(const int8_t *src, int32_t k, int32_t input_offset, uint32_t *cols,
                                       int32_t col, int32_t ncols) {
    expand_column(src, k, input_offset, cols, col, ncols, 1);
}

#if PB_DSP_NATIVE
/* Where the blocks of six of a dense 1x1 conv call of `pixels` pixels end (dense_blocks): before its last 7, 8 or
 * 11 pixels where pixels % 6 is 1, 2 or 5, which dense_tail_blocks takes as 4 + 3, 4 + 4 and 4 + 4 + 3 (not 6 + 1,
 * 6 + 2 and 6 + 4 + 1: a last pixel alone costs about two blocks of four, in the general loop), else before the
 * last pixels % 6. Computed once, not tested per block. */
static PB_ALWAYS_INLINE int32_t six_blocks_end(int32_t pixels) {
    const int32_t rest = pixels % PB_BLOCK_COLS;
    const int32_t split = (rest == 1 || rest == 2 || rest == 5) && pixels > PB_BLOCK_COLS;
    return pixels - (split ? rest + PB_BLOCK_COLS : rest);
}

/* The job of matmul_6cols_asm, matmul_4cols_asm and matmul_3cols_asm for the blocks of a dense 1x1 conv call
 * (dense_blocks, dense_tail_blocks): outputs out_c apart, every channel in the assembly (no k % 4 tail). */
static PB_ALWAYS_INLINE matmul_cols_job dense_job(const int8_t *filter, const int32_t *bias, const pb_requant *q,
                                                  const channel_entry *requants, int32_t form, int32_t k,
                                                  int32_t out_c, uint32_t *cols) {
    const int32_t b0 = bias ? bias[0] : 0;
    const matmul_cols_job job = {requants,
                                 NULL,
                                 out_c,
                                 cols,
                                 0,
                                 0,
                                 0,
                                 q->output_zero_point * 256,
                                 filter,
                                 form == PB_REQ_DOUBLED ? (int32_t)((uint32_t)b0 << 1) : b0,
                                 form,
                                 k >> 2};
    return job;
}

/* `blocks` blocks of six pixels of a dense 1x1 conv call from input on, each its columns and one call of
 * matmul_6cols_asm on the call's job (dense_call's, columns at `cols`; job->out steps six pixels a block). A loop
 * of its own, apart
 * from the blocks of four and three: with their values in the loop GCC made it slower, per layer too. */
static PB_NOINLINE void dense_blocks(matmul_cols_job *job, const int8_t *input, uint32_t *cols, int32_t k,
                                     int32_t input_offset, int32_t blocks) {
    const int32_t doubled = job->form == PB_REQ_DOUBLED, out_step = PB_BLOCK_COLS * job->out_step;
    for (; blocks > 0; --blocks, input += PB_BLOCK_COLS * k) {
        strided_columns(input, k, k, input_offset, cols, doubled);
        matmul_6cols_asm(job);
        job->out += out_step;
    }
}

/* A dense 1x1 conv call under the conditions of matmul_cols (every channel in the assembly, no k % 4 tail) by
 * one job: its blocks of six (dense_blocks, to six_blocks_end), then the blocks of four or three that end it (3,
 * 4, 7 = 4 + 3, 8 = 4 + 4 or 11 = 4 + 4 + 3 pixels; a patch's tiles, 49, 56, 81 pixels, rarely are whole blocks
 * of six), the job's prepared part cleared where the kernel changes, instead of pb_conv1x1_s8_dsp's general
 * loop (the pixel's row and column by a division, the output pointers, matmul_cols' tests and job a block, paid
 * once more per tile). Apart from pb_conv1x1_s8_dsp, whose general loop's values took its frame and registers
 * at every call; returns the pixels done (all but the last one or two of maps under six pixels). */
static PB_NOINLINE int32_t dense_call(const pb_region *r, const pb_requant *q, const int8_t *input,
                                      const int8_t *filter, const int32_t *bias, int8_t *output,
                                      const channel_entry *requants, int32_t form, uint32_t *cols) {
    const int32_t k = r->in_c, out_c = r->out_c, pixels = r->out_h * r->out_w;
    const int32_t input_offset = -q->input_zero_point;
    matmul_cols_job job = dense_job(filter, bias, q, requants, form, k, out_c, cols);
    job.out = output;
    int32_t p = six_blocks_end(pixels);
    if (p > 0) {
        dense_blocks(&job, input, cols, k, input_offset, p / PB_BLOCK_COLS);
    }
    int32_t kernel = PB_BLOCK_COLS; /* the kernel whose entries the job holds (its first call sets them) */
    while (pixels - p >= 3) {
        const int32_t ncols = pixels - p >= 4 ? 4 : 3;
        tail_columns(input + p * k, k, k, input_offset, cols, ncols, form == PB_REQ_DOUBLED);
        job.out = output + p * out_c;
        if (ncols != kernel) { /* cleared for the other kernel; a second block of four keeps the first's */
            job.loop_entry = 0;
            kernel = ncols;
        }
        if (ncols == 4) {
            matmul_4cols_asm(&job);
        } else {
            matmul_3cols_asm(&job);
        }
        p += ncols;
    }
    return p;
}
#endif

/* pb_conv1x1_s8_dsp's pixels from p on, block_ncols at a time: calls that are not dense (a stride, rows of a bigger
 * buffer) or not in the assembly's conditions, and the last pixels dense_call leaves. */
static PB_NOINLINE void pointwise_blocks(const pb_region *r, const pb_window *w, const pb_requant *q,
                                         const int8_t *input, const int8_t *filter, const int32_t *bias,
                                         int8_t *output, const channel_entry *requants, int32_t form, uint32_t *cols,
                                         int32_t p) {
    const int32_t in_rs = pb_in_row_stride(r);
    const int32_t out_rs = pb_out_row_stride(r);
    const int32_t k = r->in_c, out_c = r->out_c, input_offset = -q->input_zero_point;
    const int32_t pixels = r->out_h * r->out_w;
    /* input and output pixels evenly spaced across rows too: a block may break across rows */
    const int32_t dense = w->stride_h == 1 && w->stride_w == 1 && r->in_w == r->out_w && in_rs == r->in_w * k &&
                          out_rs == r->out_w * out_c;
    int8_t *out_px[PB_BLOCK_COLS];
    while (p < pixels) {
        /* block_ncols pixels at a time (rows may break inside a block of six) */
        const int32_t left = pixels - p;
        const int32_t ncols = block_ncols(left);
        const int32_t oy = p / r->out_w, ox = p - oy * r->out_w;
        if (ncols == PB_BLOCK_COLS && (dense || ox + PB_BLOCK_COLS <= r->out_w)) {
            for (int32_t j = 0; j < PB_BLOCK_COLS; ++j) {
                out_px[j] = output + oy * out_rs + (ox + j) * out_c;
            }
            strided_columns(input + oy * w->stride_h * in_rs + ox * w->stride_w * k, w->stride_w * k, k,
                            input_offset, cols, form == PB_REQ_DOUBLED);
            p += PB_BLOCK_COLS;
        } else if (ncols >= 3 && dense) {
            for (int32_t j = 0; j < ncols; ++j) {
                out_px[j] = output + (p + j) * out_c;
            }
            tail_columns(input + p * k, k, k, input_offset, cols, ncols, form == PB_REQ_DOUBLED);
            p += ncols;
        } else {
            for (int32_t j = 0; j < ncols; ++j, ++p) {
                const int32_t y = p / r->out_w, x = p - y * r->out_w;
                const int8_t *in_px = input + y * w->stride_h * in_rs + x * w->stride_w * k;
                out_px[j] = output + y * out_rs + x * out_c;
                if (form == PB_REQ_DOUBLED && ncols >= 3) {
                    doubled_column(in_px, k, input_offset, cols, j, ncols);
                } else {
                    expand_column(in_px, k, input_offset, cols, j, ncols, 0);
                }
            }
        }
        if (ncols == PB_BLOCK_COLS) {
            const int32_t done = matmul_cols(filter, k, out_c, cols, bias, q, requants, form, ncols, out_px);
            if (done < out_c) {
                matmul_6cols_c(filter, k, done, out_c, cols, bias, q, requants, out_px);
            }
#if PB_DSP_NATIVE
        } else if (ncols >= 3) {
            const int32_t done = matmul_cols(filter, k, out_c, cols, bias, q, requants, form, ncols, out_px);
            if (done < out_c) {
                matmul_34cols(filter, k, done, out_c, cols, bias, q, requants, ncols, out_px);
            }
#endif
        } else if (ncols == 2) {
            matmul_2cols(filter, k, out_c, cols, bias, q, requants, out_px[0], out_px[1]);
        } else {
            matmul_1col(filter, k, matmul_1col_quads(filter, k, out_c, cols, bias, q, out_px[0]), out_c, cols, bias, q,
                        out_px[0]);
        }
    }
}

void pb_conv1x1_s8_dsp(const pb_region *r, const pb_window *w, const pb_requant *q, const int8_t *input,
                       const int8_t *filter, const int32_t *bias, int8_t *output, void *scratch) {
    const int32_t k = r->in_c, out_c = r->out_c;
    channel_entry *table = (channel_entry *)align4(scratch);
    uint32_t *cols = (uint32_t *)(table + out_c);
    int32_t p = 0;
    const int32_t *prepared = q->prepared; /* read once: its tests below are one where it is NULL (per layer) */
#if PB_DSP_NATIVE
    if (prepared != NULL && (prepared[0] & PB_PREPARED_DENSE)) { /* every call of the op: dense_call's */
        const channel_entry *requants = (const channel_entry *)(prepared + 2);
        p = dense_call(r, q, input, filter, bias, output, requants, prepared[1], cols);
        if (p != r->out_h * r->out_w) {
            pointwise_blocks(r, w, q, input, filter, bias, output, requants, prepared[1], cols, p);
        }
        return;
    }
#endif
    const int32_t out_rs = pb_out_row_stride(r);
    int32_t form;
    const channel_entry *requants = call_requants(r, q, k, out_rs, bias, table, prepared, 1, &form);
#if PB_DSP_NATIVE
    if (w->stride_h == 1 && w->stride_w == 1 && r->in_w == r->out_w && pb_in_row_stride(r) == r->in_w * k &&
        out_rs == r->out_w * out_c && form != PB_REQ_C && q->act_min == PB_INT8_MIN && q->act_max == PB_INT8_MAX &&
        k >= 4 && (k & 3) == 0 && out_c > 0) {
        p = dense_call(r, q, input, filter, bias, output, requants, form, cols);
        if (p == r->out_h * r->out_w) {
            return;
        }
    }
#endif
    pointwise_blocks(r, w, q, input, filter, bias, output, requants, form, cols, p);
}

void pb_fully_connected_s8_dsp(int32_t batches, int32_t in_features, int32_t out_features, const pb_requant *q,
                               const int8_t *input, const int8_t *weights, const int32_t *bias, int8_t *output,
                               void *scratch) {
    uint32_t *cols = align4(scratch);
    const int32_t input_offset = -q->input_zero_point;
    int32_t b = 0;
    for (; b + 2 <= batches; b += 2) {
        expand_column(input + b * in_features, in_features, input_offset, cols, 0, 2, 0);
        expand_column(input + (b + 1) * in_features, in_features, input_offset, cols, 1, 2, 0);
        matmul_2cols(weights, in_features, out_features, cols, bias, q, NULL, output + b * out_features,
                     output + (b + 1) * out_features);
    }
    if (b < batches) {
        expand_column(input + b * in_features, in_features, input_offset, cols, 0, 1, 0);
        int8_t *out = output + b * out_features;
        matmul_1col(weights, in_features,
                    matmul_1col_quads(weights, in_features, out_features, cols, bias, q, out), out_features, cols,
                    bias, q, out);
    }
}

/* ---- general convolution: im2col ---------------------------------------------------------------- */

/* Small copies inline: a window row is a few bytes (9 for a 3x3 window over RGB), and newlib-nano's
 * memcpy/memset are byte loops behind a call, which cost more than the MACs of such a conv. Word loads
 * and stores of any alignment are fine on Cortex-M4/M7 (pb_read_u32). */
static PB_ALWAYS_INLINE void copy_bytes(int8_t *dst, const int8_t *src, int32_t n) {
    for (; n >= 4; n -= 4, src += 4, dst += 4) {
        pb_write_u32(dst, pb_read_u32(src));
    }
    for (; n > 0; --n) {
        *dst++ = *src++;
    }
}

static PB_ALWAYS_INLINE void fill_bytes(int8_t *dst, int8_t value, int32_t n) {
    const uint32_t word = (uint8_t)value * 0x01010101u;
    for (; n >= 4; n -= 4, dst += 4) {
        pb_write_u32(dst, word);
    }
    for (; n > 0; --n) {
        *dst++ = value;
    }
}

/* The kernel_h * kernel_w * in_c input values under output pixel (oy, ox), padding as the zero point.
 * Without dilation a window row is one run of kernel_w * in_c bytes: one copy when it is all held. */
static void gather_patch(const pb_region *r, const pb_window *w, const int8_t *input, int32_t in_rs, int32_t oy,
                         int32_t ox, int8_t zero_point, int8_t *dst) {
    const int32_t in_c = r->in_c, kw = w->kernel_w, row_bytes = kw * in_c;
    const int32_t iy0 = oy * w->stride_h - r->pad_top, ix0 = ox * w->stride_w - r->pad_left;
    const int32_t row_inside = w->dilation_w == 1 && ix0 >= 0 && ix0 + kw <= r->in_w;
    for (int32_t ky = 0; ky < w->kernel_h; ++ky) {
        const int32_t iy = iy0 + ky * w->dilation_h;
        if (iy < 0 || iy >= r->in_h) {
            fill_bytes(dst, zero_point, row_bytes);
            dst += row_bytes;
            continue;
        }
        const int8_t *row = input + iy * in_rs;
        if (row_inside) {
            copy_bytes(dst, row + ix0 * in_c, row_bytes);
            dst += row_bytes;
            continue;
        }
        for (int32_t kx = 0; kx < kw; ++kx) {
            const int32_t ix = ix0 + kx * w->dilation_w;
            if (ix < 0 || ix >= r->in_w) {
                fill_bytes(dst, zero_point, in_c);
            } else {
                copy_bytes(dst, row + ix * in_c, in_c);
            }
            dst += in_c;
        }
    }
}

/* gather_patch for a window wholly inside the input without dilation: kernel_h runs of row_bytes bytes,
 * word by word. */
static PB_ALWAYS_INLINE void copy_window(int8_t *dst, const int8_t *src, int32_t in_rs, int32_t kernel_h,
                                         int32_t row_bytes) {
    const int32_t words = row_bytes >> 2, rest = row_bytes & 3;
    for (int32_t ky = 0; ky < kernel_h; ++ky, src += in_rs) {
        const int8_t *s = src;
        for (int32_t i = 0; i < words; ++i, s += 4, dst += 4) {
            pb_write_u32(dst, pb_read_u32(s));
        }
        for (int32_t i = 0; i < rest; ++i) {
            *dst++ = s[i];
        }
    }
}

/* expand_column of a window of three rows of 9 bytes (a 3x3 window over 3 channels) straight from the input,
 * without the patch: its 27 values as six groups of four, two of which straddle rows (r0[8] r1[0..2] and
 * r1[7..8] r2[0..1], one OR each), then the 3-value tail; no byte outside the window is read. */
static PB_ALWAYS_INLINE void window_column_3x9(const int8_t *src, int32_t in_rs, int32_t input_offset, uint32_t *cols,
                                               int32_t col, int32_t doubled) {
    const uint32_t offset2 = pack_offset(input_offset);
    const int8_t *r0 = src, *r1 = src + in_rs, *r2 = src + 2 * in_rs;
    uint16_t h1, h2;
    memcpy(&h1, r1 + 7, 2);
    memcpy(&h2, r2, 2);
    const uint32_t groups[6] = {pb_read_u32(r0), pb_read_u32(r0 + 4), (uint8_t)r0[8] | pb_read_u32(r1) << 8,
                                pb_read_u32(r1 + 3), h1 | (uint32_t)h2 << 16, pb_read_u32(r2 + 2)};
    uint32_t *dst = cols + 2 * col;
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC unroll 6 /* the groups stay in registers */
#endif
    for (int32_t g = 0; g < 6; ++g, dst += 2 * PB_BLOCK_COLS) {
        const uint32_t x02 = pb_sxtab16(offset2, groups[g]), x13 = pb_sxtab16_ror8(offset2, groups[g]);
        dst[0] = doubled ? pb_sadd16(x02, x02) : x02;
        dst[1] = doubled ? pb_sadd16(x13, x13) : x13;
    }
    const int32_t times = doubled ? 2 : 1;
    const uint32_t t0 = (uint32_t)((r2[6] + input_offset) * times) & 0xFFFFu;
    const uint32_t t1 = (uint32_t)((r2[7] + input_offset) * times) & 0xFFFFu;
    const uint32_t t2 = (uint32_t)((r2[8] + input_offset) * times) & 0xFFFFu;
    dst[0] = t0 | t2 << 16;
    dst[1] = t1;
}

/* What window_columns' calls of one conv call share, set once per call (a call's arguments past the fourth go
 * through the stack: eleven of them took about 25 instructions a call); `next` for a call whose run goes on into
 * the next row (PB_WINDOW_WRAP). window_3x9_asm reads it at these offsets. */
typedef struct {
    int32_t px_step; /* input bytes from one pixel's window to the next one's on a row */
    int32_t in_rs;
    int32_t kernel_h;
    int32_t row_bytes; /* a window row's bytes: kernel_w * in_c */
    int32_t input_offset;
    int32_t doubled;
    int8_t *patch;
    uint32_t *cols;
    const int8_t *next; /* the window of the block's column `end & 7` (PB_WINDOW_WRAP) */
} window_args;
#if PB_DSP_NATIVE
_Static_assert(offsetof(window_args, input_offset) == 16 && offsetof(window_args, cols) == 28 &&
                   offsetof(window_args, next) == 32,
               "window_3x9_asm reads window_args at these offsets");
#endif

/* window_columns' `end` with this bit: the run ends at column end & 7 of the block, and the block's columns from
 * there to its end are the windows from a->next on (a block that runs over a row's end: one call, not two). */
#define PB_WINDOW_WRAP 8

#if PB_DSP_NATIVE
/* window_columns for windows of 3 rows of 9 bytes (a 3x3 window over 3 channels, the zoo's first convs) on the
 * core, not doubled (k = 27 has a tail: its sums are never doubled): window_column_3x9 column after column, r0 the
 * window, r1 the column's words, r2 px_step, r6 in_rs, r3 the packed input offset, lr the offset, r7 the run's
 * end; [sp] the block's end (PB_WINDOW_WRAP: the loop goes on from [sp + 4] = a->next) or the run's. The input's
 * words by LDR / LDRH / LDRB (any alignment: LDRD and LDM would fault), loaded ahead of their SXTAB16s. 42
 * instructions a column (about 34 cycles in llvm-mca's Cortex-M7 model), where GCC's C took 49 (as many cycles). */
__attribute__((naked, noinline)) static void window_3x9_asm(const window_args *a __attribute__((unused)),
                                                           const int8_t *src __attribute__((unused)),
                                                           int32_t first __attribute__((unused)),
                                                           int32_t end __attribute__((unused))) {
    __asm__ volatile(
        "push    {r4-r11, lr}\n"
        "sub     sp, sp, #8\n"
        "mov     r12, r0\n"
        "mov     r0, r1\n"
        "ldr     r4, [r12, #28]\n" /* cols */
        "add     r1, r4, r2, lsl #3\n"
        "and     r5, r3, #7\n"
        "add     r7, r4, r5, lsl #3\n"
        "mov     r8, r7\n"
        "tst     r3, #8\n" /* PB_WINDOW_WRAP */
        "it      ne\n"
        "addne   r8, r4, #48\n" /* PB_BLOCK_COLS columns */
        "ldr     r9, [r12, #32]\n"
        "stmia   sp, {r8, r9}\n"
        "ldmia   r12, {r2, r6}\n" /* px_step, in_rs */
        "ldr     lr, [r12, #16]\n"
        "pkhbt   r3, lr, lr, lsl #16\n"
        "b       2f\n"
        "1:\n"
        "ldr     r4, [r0]\n"
        "ldr     r5, [r0, #4]\n"
        "ldrb    r8, [r0, #8]\n"
        "ldr     r9, [r0, r6]\n"
        "sxtab16 r10, r3, r4\n"
        "sxtab16 r11, r3, r4, ror #8\n"
        "add     r12, r0, r6\n"
        "orr     r8, r8, r9, lsl #8\n" /* r0[8] r1[0..2] */
        "strd    r10, r11, [r1]\n"
        "sxtab16 r10, r3, r5\n"
        "sxtab16 r11, r3, r5, ror #8\n"
        "ldr     r4, [r12, #3]\n"
        "ldrh    r5, [r12, #7]\n"
        "strd    r10, r11, [r1, #48]\n"
        "sxtab16 r10, r3, r8\n"
        "sxtab16 r11, r3, r8, ror #8\n"
        "ldrh    r9, [r12, r6]\n"
        "add     r12, r12, r6\n"
        "strd    r10, r11, [r1, #96]\n"
        "sxtab16 r10, r3, r4\n"
        "sxtab16 r11, r3, r4, ror #8\n"
        "orr     r5, r5, r9, lsl #16\n" /* r1[7..8] r2[0..1] */
        "ldr     r8, [r12, #2]\n"
        "strd    r10, r11, [r1, #144]\n"
        "sxtab16 r10, r3, r5\n"
        "sxtab16 r11, r3, r5, ror #8\n"
        "ldrsb   r4, [r12, #6]\n" /* the tail: [t0 t2] [t1 0] */
        "ldrsb   r5, [r12, #7]\n"
        "strd    r10, r11, [r1, #192]\n"
        "sxtab16 r10, r3, r8\n"
        "sxtab16 r11, r3, r8, ror #8\n"
        "ldrsb   r9, [r12, #8]\n"
        "add     r4, r4, lr\n"
        "strd    r10, r11, [r1, #240]\n"
        "add     r5, r5, lr\n"
        "add     r9, r9, lr\n"
        "pkhbt   r4, r4, r9, lsl #16\n"
        "uxth    r5, r5\n"
        "strd    r4, r5, [r1, #288]\n"
        "add     r0, r0, r2\n"
        "add     r1, r1, #8\n"
        "2:\n"
        "cmp     r1, r7\n"
        "bne     1b\n"
        "ldmia   sp, {r8, r9}\n"
        "cmp     r7, r8\n"
        "beq     3f\n"
        "mov     r0, r9\n" /* the next row's windows to the block's end */
        "mov     r7, r8\n"
        "b       1b\n"
        "3:\n"
        "add     sp, sp, #8\n"
        "pop     {r4-r11, pc}\n");
}
#endif

/* Columns first..end - 1 of a 6-pixel block from windows wholly inside the input, the first at src, the next
 * px_step bytes on (copy_window into the patch, then expand_column; a 3x3 window over 3 channels, the zoo's first
 * convs, by window_column_3x9, on the core window_3x9_asm). Apart from the pixel loop, so that its loops get the
 * registers. */
static PB_ALWAYS_INLINE void window_columns_of(const window_args *a, const int8_t *src, int32_t first, int32_t end,
                                               int32_t doubled) {
    const int32_t px_step = a->px_step, in_rs = a->in_rs, input_offset = a->input_offset;
    uint32_t *const cols = a->cols;
    if (!PB_DSP_NATIVE && a->kernel_h == 3 && a->row_bytes == 9) {
        const uint32_t *const last = cols + 2 * end;
        for (uint32_t *col = cols + 2 * first; col != last; col += 2, src += px_step) {
            window_column_3x9(src, in_rs, input_offset, col, 0, doubled);
        }
        return;
    }
    const int32_t kernel_h = a->kernel_h, row_bytes = a->row_bytes;
    int8_t *const patch = a->patch;
    for (int32_t j = first; j < end; ++j, src += px_step) {
        copy_window(patch, src, in_rs, kernel_h, row_bytes);
        expand_column(patch, kernel_h * row_bytes, input_offset, cols, j, PB_BLOCK_COLS, doubled);
    }
}

/* window_columns_of for one call: columns first..end - 1, or with PB_WINDOW_WRAP in end first..(end & 7) - 1 from
 * src and the rest of the block from a->next. */
static PB_NOINLINE void window_columns(const window_args *a, const int8_t *src, int32_t first, int32_t end) {
    for (;;) {
        if (a->doubled) {
            window_columns_of(a, src, first, end & 7, 1);
        } else {
            window_columns_of(a, src, first, end & 7, 0);
        }
        if (!(end & PB_WINDOW_WRAP)) {
            return;
        }
        src = a->next;
        first = end & 7;
        end = PB_BLOCK_COLS;
    }
}

/* window_columns, or on the core window_3x9_asm where the call's windows are 3x3 over 3 channels, not doubled
 * (`by_asm`). */
static PB_ALWAYS_INLINE void block_windows(const window_args *a, int32_t by_asm, const int8_t *src, int32_t first,
                                           int32_t end) {
#if PB_DSP_NATIVE
    if (by_asm) {
        window_3x9_asm(a, src, first, end);
        return;
    }
#else
    (void)by_asm;
#endif
    window_columns(a, src, first, end);
}

void pb_conv2d_s8_dsp(const pb_region *r, const pb_window *w, const pb_requant *q, const int8_t *input,
                      const int8_t *filter, const int32_t *bias, int8_t *output, void *scratch) {
    const int32_t in_rs = pb_in_row_stride(r);
    const int32_t out_rs = pb_out_row_stride(r);
    const int32_t k = w->kernel_h * w->kernel_w * r->in_c, out_c = r->out_c;
    const int32_t input_offset = -q->input_zero_point;
    const int8_t zero_point = (int8_t)q->input_zero_point;
    channel_entry *table = (channel_entry *)align4(scratch);
    int32_t form;
    const channel_entry *requants = call_requants(r, q, k, out_rs, bias, table, q->prepared, 0, &form);
    const int32_t doubled = form == PB_REQ_DOUBLED;
    uint32_t *cols = (uint32_t *)(table + out_c);
    int8_t *patch = (int8_t *)(cols + block_cols_words(k)); /* after 6 int16 columns */
    const int32_t pixels = r->out_h * r->out_w;
    /* the output pixels whose windows are wholly inside the input (no dilation): copy_window */
    const int32_t row_bytes = w->kernel_w * r->in_c, undilated = w->dilation_h == 1 && w->dilation_w == 1;
    const int32_t y_last = r->in_h - w->kernel_h + r->pad_top, x_last = r->in_w - w->kernel_w + r->pad_left;
    window_args args = {w->stride_w * r->in_c, in_rs, w->kernel_h, row_bytes, input_offset, doubled, patch, cols, NULL};
    const int32_t by_asm = w->kernel_h == 3 && row_bytes == 9 && !doubled;
    int8_t *out_px[PB_BLOCK_COLS];
    int32_t p = 0, oy = 0, ox = 0;
    while (p < pixels) {
        const int32_t left = pixels - p;
        const int32_t ncols = block_ncols(left);
        const int32_t sy = oy * w->stride_h, sx = ox * w->stride_w;
        if (ncols == PB_BLOCK_COLS && undilated && ox + PB_BLOCK_COLS <= r->out_w && sy >= r->pad_top &&
            sy <= y_last && sx >= r->pad_left && sx + (PB_BLOCK_COLS - 1) * w->stride_w <= x_last) {
            for (int32_t j = 0; j < PB_BLOCK_COLS; ++j) {
                out_px[j] = output + oy * out_rs + (ox + j) * out_c;
            }
            block_windows(&args, by_asm, input + (sy - r->pad_top) * in_rs + (sx - r->pad_left) * r->in_c, 0,
                          PB_BLOCK_COLS);
            p += PB_BLOCK_COLS;
            ox += PB_BLOCK_COLS;
            if (ox == r->out_w) {
                ox = 0;
                ++oy;
            }
        } else if (ncols == PB_BLOCK_COLS && undilated && r->pad_left == 0 && r->out_w >= PB_BLOCK_COLS &&
                   (r->out_w - 1) * w->stride_w <= x_last && sy >= r->pad_top && sy + w->stride_h <= y_last) {
            /* the block runs over the row's end (a patch's tiles are rarely a multiple of six wide: most of their
             * rows end so; not inside the row, else the test above held) and every window is inside: both rows
             * are, the row's last window is, and the next row's first (no left pad; its pixels are fewer than
             * the row's). The row's last `first` pixels and the next row's first ones by one call (PB_WINDOW_WRAP:
             * a tile's row ends cost no call of their own), without the general loop's tests and division per run
             * below. Tested here, not once before the loop: a value kept across the loop made per layer slower
             * (mbv2-w0.35-r144 +1,160 instructions). */
            const int32_t first = r->out_w - ox;
            int8_t *const row = output + oy * out_rs + ox * out_c;
            for (int32_t j = 0; j < first; ++j) {
                out_px[j] = row + j * out_c;
            }
            int8_t *const next = output + (oy + 1) * out_rs - first * out_c;
            for (int32_t j = first; j < PB_BLOCK_COLS; ++j) {
                out_px[j] = next + j * out_c;
            }
            args.next = input + (sy + w->stride_h - r->pad_top) * in_rs;
            block_windows(&args, by_asm, input + (sy - r->pad_top) * in_rs + sx * r->in_c, 0, first | PB_WINDOW_WRAP);
            p += PB_BLOCK_COLS;
            ox = PB_BLOCK_COLS - first;
            ++oy;
        } else {
            for (int32_t j = 0; j < ncols;) {
                const int32_t py = oy * w->stride_h, px = ox * w->stride_w;
                int32_t run = 1;
                if (ncols == PB_BLOCK_COLS && undilated && py >= r->pad_top && py <= y_last && px >= r->pad_left &&
                    px <= x_last) {
                    /* the block's pixels on this row whose windows are inside, by one call: a block that runs
                     * over a row's end (a tile's rows are rarely a multiple of six wide) or into its padding; the
                     * run ends at the block's, the row's or the last inside window's pixel */
                    const int32_t inside = (x_last - px) / w->stride_w + 1, row = r->out_w - ox;
                    run = ncols - j;
                    run = run < row ? run : row;
                    run = run < inside ? run : inside;
                    block_windows(&args, by_asm, input + (py - r->pad_top) * in_rs + (px - r->pad_left) * r->in_c, j,
                                   j + run);
                } else if (doubled && ncols >= 3) {
                    gather_patch(r, w, input, in_rs, oy, ox, zero_point, patch);
                    doubled_column(patch, k, input_offset, cols, j, ncols);
                } else {
                    gather_patch(r, w, input, in_rs, oy, ox, zero_point, patch);
                    expand_column(patch, k, input_offset, cols, j, ncols, 0);
                }
                /* the run is on one row */
                int8_t *const first = output + oy * out_rs + ox * out_c;
                for (int32_t i = 0; i < run; ++i) {
                    out_px[j + i] = first + i * out_c;
                }
                j += run;
                p += run;
                ox += run;
                if (ox == r->out_w) {
                    ox = 0;
                    ++oy;
                }
            }
        }
        if (ncols == PB_BLOCK_COLS) {
            const int32_t done = matmul_cols(filter, k, out_c, cols, bias, q, requants, form, ncols, out_px);
            if (done < out_c) {
                matmul_6cols_c(filter, k, done, out_c, cols, bias, q, requants, out_px);
            }
#if PB_DSP_NATIVE
        } else if (ncols >= 3) {
            const int32_t done = matmul_cols(filter, k, out_c, cols, bias, q, requants, form, ncols, out_px);
            if (done < out_c) {
                matmul_34cols(filter, k, done, out_c, cols, bias, q, requants, ncols, out_px);
            }
#endif
        } else if (ncols == 2) {
            matmul_2cols(filter, k, out_c, cols, bias, q, requants, out_px[0], out_px[1]);
        } else {
            matmul_1col(filter, k, matmul_1col_quads(filter, k, out_c, cols, bias, q, out_px[0]), out_c, cols, bias, q,
                        out_px[0]);
        }
    }
}
