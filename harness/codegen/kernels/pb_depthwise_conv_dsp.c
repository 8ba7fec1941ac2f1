/* SPDX-License-Identifier: Apache-2.0 */
/* Cortex-M DSP kernel of the depthwise convolution. Same results as the portable kernel bit for bit:
 * the same int32 sums in another order (integer addition is associative, and TFLite's int32
 * accumulators do not overflow for int8 data), then the same requantization.
 *
 * Two paths. The group kernel (dw_dsp) works on four channels at a time: one word of input, one word of
 * weights, SMLABB/SMLATT per channel; the channel group's weights are widened to int16 once, in scratch;
 * it takes every shape. The channel planes (dw_planes, dw_planes3, below) take one channel at a time from
 * int16 copies of its input rows, two taps per SMLAD: 3x3, 5x5 and 7x7 windows at stride 1 on maps of at
 * least 6 x 6 (3x3) or 16 x 16 outputs, where they take fewer instructions (bench_kernels --depthwise sets
 * the two side by side).
 * (Its own file, apart from pb_conv_dsp.c, so the two can be tuned independently.)
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "pb_dsp_kernels.h"

/* ---- depthwise convolution ------------------------------------------------------------------------ */

/* First and one-past-last kernel index whose input position start + i * dilation is in [0, size). */
static void valid_taps(int32_t start, int32_t dilation, int32_t kernel, int32_t size, int32_t *first, int32_t *end) {
    int32_t lo = start < 0 ? (-start + dilation - 1) / dilation : 0;
    int32_t hi = size - start <= 0 ? 0 : (size - start + dilation - 1) / dilation;
    *first = lo;
    *end = hi < kernel ? hi : kernel;
}

/* One tap of four channels: one word of input widened to [x0 x2] [x1 x3], one SMLAxy per channel. */
#define PB_DW_TAP(px, wt)                                                                                    \
    do {                                                                                                     \
        const uint32_t x_ = pb_read_u32(px);                                                                 \
        const uint32_t x02_ = pb_sxtab16(offset2, x_), x13_ = pb_sxtab16_ror8(offset2, x_);                  \
        const uint32_t w02_ = (wt)[0], w13_ = (wt)[1];                                                       \
        acc0 = pb_smlabb(x02_, w02_, acc0);                                                                  \
        acc2 = pb_smlatt(x02_, w02_, acc2);                                                                  \
        acc1 = pb_smlabb(x13_, w13_, acc1);                                                                  \
        acc3 = pb_smlatt(x13_, w13_, acc3);                                                                  \
    } while (0)

/* The taps of one interior output pixel (window inside the held input, no padding) for four channels.
 * px: the window's top-left input word; wt: the group's widened weights (2 words per tap); tap_step /
 * row_step: bytes between window columns / rows. On the DSP cores each window row is one assembly block
 * with kw = 3, 5 or 7 taps unrolled: accumulators, offset and pointers stay in registers (GCC's
 * allocation of the C version spilled ~40 instructions per window row), 8 instructions per tap of 4
 * MACs. Other widths take the C loop. */
#if PB_DSP_NATIVE
#define PB_DW_TAP_ASM(address)                                                                               \
    "ldr     %[x], " address "\n"                                                                            \
    "ldrd    %[w02], %[w13], [%[pw]], #8\n"                                                                  \
    "sxtab16 %[x13], %[off], %[x], ror #8\n"                                                                 \
    "sxtab16 %[x], %[off], %[x]\n"                                                                           \
    "smlabb  %[a0], %[x], %[w02], %[a0]\n"                                                                   \
    "smlatt  %[a2], %[x], %[w02], %[a2]\n"                                                                   \
    "smlabb  %[a1], %[x13], %[w13], %[a1]\n"                                                                 \
    "smlatt  %[a3], %[x13], %[w13], %[a3]\n"

#define PB_DW_TAPS_0_1_2                                                                                     \
    PB_DW_TAP_ASM("[%[px]]") PB_DW_TAP_ASM("[%[px], %[ts]]") PB_DW_TAP_ASM("[%[px], %[ts], lsl #1]")
/* px moves on two taps, then the next two taps are again at +ts and +2ts */
#define PB_DW_TAPS_NEXT_2                                                                                    \
    "add     %[px], %[px], %[ts], lsl #1\n" PB_DW_TAP_ASM("[%[px], %[ts]]") PB_DW_TAP_ASM("[%[px], %[ts], lsl #1]")

/* One window row; the row loop stays in C: with it in the assembly (14 operands) GCC found no registers
 * when compiling for the M7 with -g. */
#define PB_DW_ROW_ASM(row_taps)                                                                              \
    __asm__ volatile(row_taps                                                                                \
                     : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [px] "+r"(px), [pw] "+r"(pw), \
                       [x] "=&r"(x), [x13] "=&r"(x13), [w02] "=&r"(w02), [w13] "=&r"(w13)                    \
                     : [off] "r"(offset2), [ts] "r"(tap_step)                                                \
                     : "memory")
#endif

static PB_ALWAYS_INLINE void dw_interior_taps(const int8_t *px, const uint32_t *wt, int32_t kh, int32_t kw,
                                              int32_t tap_step, int32_t row_step, uint32_t offset2, int32_t *acc) {
    int32_t acc0 = acc[0], acc1 = acc[1], acc2 = acc[2], acc3 = acc[3];
#if PB_DSP_NATIVE
    if (kw == 3 || kw == 5 || kw == 7) {
        int32_t a0 = acc0, a1 = acc1, a2 = acc2, a3 = acc3;
        const uint32_t *pw = wt;
        uint32_t x, x13, w02, w13;
        /* px has moved (kw - 3) taps along the row when the row's last tap is read */
        const int32_t row_advance = row_step - (kw - 3) * tap_step;
#define PB_DW_WINDOW_ROW                                                                                     \
    do {                                                                                                     \
        if (kw == 3) {                                                                                       \
            PB_DW_ROW_ASM(PB_DW_TAPS_0_1_2);                                                                 \
        } else if (kw == 5) {                                                                                \
            PB_DW_ROW_ASM(PB_DW_TAPS_0_1_2 PB_DW_TAPS_NEXT_2);                                               \
        } else {                                                                                             \
            PB_DW_ROW_ASM(PB_DW_TAPS_0_1_2 PB_DW_TAPS_NEXT_2 PB_DW_TAPS_NEXT_2);                             \
        }                                                                                                    \
        px += row_advance;                                                                                   \
    } while (0)
        /* the window-row loop unrolled where kh is a constant 3 or 5 (the square run instances): 2-3% fewer
         * instructions; 7 rows unrolled would cost 3.5 kB of flash for 1% */
        if (__builtin_constant_p(kh) && kh <= 5) {
#pragma GCC unroll 5
            for (int32_t ky = 0; ky < kh; ++ky) {
                PB_DW_WINDOW_ROW;
            }
        } else {
            for (int32_t ky = 0; ky < kh; ++ky) {
                PB_DW_WINDOW_ROW;
            }
        }
#undef PB_DW_WINDOW_ROW
        acc[0] = a0;
        acc[1] = a1;
        acc[2] = a2;
        acc[3] = a3;
        return;
    }
#endif
    const int8_t *row = px;
    for (int32_t ky = 0; ky < kh; ++ky) {
        const int8_t *p = row;
        for (int32_t kx = 0; kx < kw; ++kx) {
            PB_DW_TAP(p, wt);
            p += tap_step;
            wt += 2;
        }
        row += row_step;
    }
    acc[0] = acc0;
    acc[1] = acc1;
    acc[2] = acc2;
    acc[3] = acc3;
}

/* Each signed byte of v clamped to [the byte of lo, the byte of hi]: SSUB8 sets a GE flag per byte,
 * SEL picks per byte. */
static PB_ALWAYS_INLINE uint32_t clamp_bytes(uint32_t v, uint32_t lo, uint32_t hi) {
#if PB_DSP_NATIVE
    uint32_t t;
    __asm__("ssub8   %[t], %[v], %[lo]\n"
            "sel     %[v], %[v], %[lo]\n"
            "ssub8   %[t], %[v], %[hi]\n"
            "sel     %[v], %[hi], %[v]\n"
            : [v] "+r"(v), [t] "=&r"(t)
            : [lo] "r"(lo), [hi] "r"(hi));
    return v;
#else
    uint32_t r = 0;
    for (int32_t i = 0; i < 32; i += 8) {
        int32_t b = (int8_t)(v >> i);
        const int32_t b_lo = (int8_t)(lo >> i), b_hi = (int8_t)(hi >> i);
        b = b < b_lo ? b_lo : b > b_hi ? b_hi : b;
        r |= (uint32_t)(uint8_t)b << i;
    }
    return r;
#endif
}

/* The requantization of a channel group's four doubled sums (2 * acc: the group's weights and bias are
 * doubled when it takes this form, see pb_depthwise_conv2d_s8_dsp), one int8 per byte before the activation
 * clamp: pb_requant_x2 without its doubling, then SSAT. On the DSP cores one assembly block of 6
 * instructions per channel (LDRD + LDR of the prepared values from the group, sign, SMMLAR, ASR, SSAT) and
 * 4 to pack; GCC's version reloaded and re-extended the values around each channel. */
static PB_ALWAYS_INLINE uint32_t requant4_doubled(int32_t a0, int32_t a1, int32_t a2, int32_t a3,
                                                  const pb_channel_requant_x2 *cr) {
#if PB_DSP_NATIVE
    uint32_t m, ad, sh;
#define PB_DW_REQUANT_ASM(a, offset, offset_shift)                                                          \
    "ldrd    %[m], %[ad], [%[cr], #" offset "]\n"                                                            \
    "ldr     %[sh], [%[cr], #" offset_shift "]\n"                                                            \
    "add     %[ad], %[ad], %[" a "], asr #31\n"                                                              \
    "smmlar  %[" a "], %[" a "], %[m], %[ad]\n"                                                              \
    "asr     %[" a "], %[" a "], %[sh]\n"                                                                    \
    "ssat    %[" a "], #8, %[" a "]\n"
    __asm__(PB_DW_REQUANT_ASM("a0", "0", "8") PB_DW_REQUANT_ASM("a1", "12", "20")
                PB_DW_REQUANT_ASM("a2", "24", "32") PB_DW_REQUANT_ASM("a3", "36", "44")
            "uxtb    %[a0], %[a0]\n"
            "bfi     %[a0], %[a1], #8, #8\n"
            "bfi     %[a0], %[a2], #16, #8\n"
            "bfi     %[a0], %[a3], #24, #8\n"
            : [a0] "+&r"(a0), [a1] "+&r"(a1), [a2] "+&r"(a2), [a3] "+&r"(a3), [m] "=&r"(m), [ad] "=&r"(ad),
              [sh] "=&r"(sh)
            : [cr] "r"(cr), "m"(*(const pb_channel_requant_x2(*)[4])cr));
#undef PB_DW_REQUANT_ASM
    return (uint32_t)a0;
#else
    /* the doubled sums are even: halving is exact */
    uint32_t packed = (uint8_t)pb_ssat8(pb_requant_x2(a0 >> 1, &cr[0]));
    packed |= (uint32_t)(uint8_t)pb_ssat8(pb_requant_x2(a1 >> 1, &cr[1])) << 8;
    packed |= (uint32_t)(uint8_t)pb_ssat8(pb_requant_x2(a2 >> 1, &cr[2])) << 16;
    packed |= (uint32_t)(uint8_t)pb_ssat8(pb_requant_x2(a3 >> 1, &cr[3])) << 24;
    return packed;
#endif
}

#if PB_DSP_NATIVE
/* requant4_doubled with each channel's three values loaded by one LDM (whose registers must ascend in the
 * values' order, so they are named): 3 instructions fewer per output; for the window runs, whose frames
 * have room for the named registers' spills (in dw_dsp the same took 8 more bytes of stack). */
static PB_ALWAYS_INLINE uint32_t requant4_doubled_ldm(int32_t a0, int32_t a1, int32_t a2, int32_t a3,
                                                      const pb_channel_requant_x2 *cr) {
    register uint32_t m __asm__("r10"), ad __asm__("r11"), sh __asm__("r12");
    const pb_channel_requant_x2 *p = cr;
#define PB_DW_REQUANT_LDM_ASM(a)                                                                             \
    "ldm     %[p]!, {%[m], %[ad], %[sh]}\n"                                                                  \
    "add     %[ad], %[ad], %[" a "], asr #31\n"                                                              \
    "smmlar  %[" a "], %[" a "], %[m], %[ad]\n"                                                              \
    "asr     %[" a "], %[" a "], %[sh]\n"                                                                    \
    "ssat    %[" a "], #8, %[" a "]\n"
    __asm__(PB_DW_REQUANT_LDM_ASM("a0") PB_DW_REQUANT_LDM_ASM("a1") PB_DW_REQUANT_LDM_ASM("a2")
                PB_DW_REQUANT_LDM_ASM("a3")
            "uxtb    %[a0], %[a0]\n"
            "bfi     %[a0], %[a1], #8, #8\n"
            "bfi     %[a0], %[a2], #16, #8\n"
            "bfi     %[a0], %[a3], #24, #8\n"
            : [a0] "+&r"(a0), [a1] "+&r"(a1), [a2] "+&r"(a2), [a3] "+&r"(a3), [m] "=&r"(m), [ad] "=&r"(ad),
              [sh] "=&r"(sh), [p] "+&r"(p)
            : "m"(*(const pb_channel_requant_x2(*)[4])cr));
#undef PB_DW_REQUANT_LDM_ASM
    return (uint32_t)a0;
}
#endif

/* A channel group's values for a run of interior output pixels, gathered in one struct so that the run's
 * loop holds only pointers and a count in registers and reloads the rest from here. */
typedef struct {
    union { /* first: requant4_doubled reads cr at fixed offsets from the struct */
        pb_channel_requant_x2 cr[4];
        pb_channel_requant folded[4]; /* a group that is not doubled: pb_requant_folded's (dw_dsp's C pixels) */
    };
    int32_t bias[4];             /* doubled when doubled is set */
    const uint32_t *weights;     /* the group's widened weights (2 words per tap), doubled when doubled is set */
    int32_t kh, tap_step, row_step;
    uint32_t offset2;          /* the input offset in both int16 lanes */
    int32_t in_step, out_step; /* bytes from one output pixel's window / output to the next */
    uint32_t act_min4, act_max4; /* act_min / act_max in each byte */
    /* dw_window_run's rows: a run of `count` pixels in each of `rows` output rows (1 but for dw_dsp's 3x3 rows out
     * of place), in_rows / out_rows bytes apart */
    int32_t rows, in_rows, out_rows;
} dw_group;

/* dw_groups3's call: all its groups of four channels in one run (dw_groups_k3), each from the op's group table. */
typedef struct {
    dw_group g;              /* the call's values (first: dw_groups_k3 takes &g); its cr, bias and weights unused */
    const int32_t *values;   /* the first group's table entry: cr and bias (dw_group's first fields), the weights */
    int32_t groups, stride;  /* the groups, and the words from one group's entry to the next */
    int32_t below;           /* dw_groups_k3_sat: 1 to take each group's last row of two window rows after its rows */
} dw_groups;

/* A run of output pixels of one row whose windows the map's left or right edge may clip (dw_edge_pixels). */
typedef struct {
    int32_t ox_from, ox_to, stride, pad_left, in_w;
} dw_edge_span;

#if PB_DSP_NATIVE
/* dw_interior_run for square 3x3 and 5x5 windows: the whole window in one assembly block, whose input and
 * weight pointers come back as the next output's (the row step and the step to the next window read from
 * memory operands, the weights stepped back by an immediate), so that they, the offset and the tap step
 * stay in registers from output to output, where GCC rebuilt and spilled them around each output's
 * window-row blocks: the same taps and sums, 3x3 about 7 fewer instructions per output. */
#define PB_DW_NEXT_ROW_ASM                                                                                   \
    "ldr     %[x], %[radv]\n"                                                                                \
    "add     %[px], %[px], %[x]\n"
#define PB_DW_WINDOW3_ASM                                                                                    \
    PB_DW_TAPS_0_1_2 PB_DW_NEXT_ROW_ASM PB_DW_TAPS_0_1_2 PB_DW_NEXT_ROW_ASM PB_DW_TAPS_0_1_2                   \
    "sub     %[pw], %[pw], #72\n"
#define PB_DW_WINDOW2X3_ASM /* the top or bottom border rows of a 3x3 window with one row of padding */       \
    PB_DW_TAPS_0_1_2 PB_DW_NEXT_ROW_ASM PB_DW_TAPS_0_1_2 "sub     %[pw], %[pw], #48\n"
/* two of a 3x3 window's three columns (the map's left or right edge), two or three rows: the weights step
 * over the third column's tap after each row */
#define PB_DW_TAPS_0_1_SKIP PB_DW_TAP_ASM("[%[px]]") PB_DW_TAP_ASM("[%[px], %[ts]]") "add     %[pw], %[pw], #8\n"
#define PB_DW_WINDOW3C2_ASM                                                                                  \
    PB_DW_TAPS_0_1_SKIP PB_DW_NEXT_ROW_ASM PB_DW_TAPS_0_1_SKIP PB_DW_NEXT_ROW_ASM PB_DW_TAPS_0_1_SKIP          \
    "sub     %[pw], %[pw], #72\n"
#define PB_DW_WINDOW2C2_ASM                                                                                  \
    PB_DW_TAPS_0_1_SKIP PB_DW_NEXT_ROW_ASM PB_DW_TAPS_0_1_SKIP "sub     %[pw], %[pw], #48\n"
#define PB_DW_ROW5_ASM PB_DW_TAPS_0_1_2 PB_DW_TAPS_NEXT_2
#define PB_DW_WINDOW5_ASM                                                                                    \
    PB_DW_ROW5_ASM PB_DW_NEXT_ROW_ASM PB_DW_ROW5_ASM PB_DW_NEXT_ROW_ASM PB_DW_ROW5_ASM PB_DW_NEXT_ROW_ASM       \
    PB_DW_ROW5_ASM PB_DW_NEXT_ROW_ASM PB_DW_ROW5_ASM "sub     %[pw], %[pw], #200\n"
#define PB_DW_WINDOW_RUN_ASM(window)                                                                         \
    __asm__ volatile(window "ldr     %[x], %[next]\n"                                                        \
                            "add     %[px], %[px], %[x]\n"                                                   \
                     : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [px] "+r"(px), [pw] "+r"(pw), \
                       [x] "=&r"(x), [x13] "=&r"(x13), [w02] "=&r"(w02), [w13] "=&r"(w13)                    \
                     : [off] "r"(offset2), [ts] "r"(tap_step), [radv] "m"(row_advance), [next] "m"(next)     \
                     : "memory")

static PB_ALWAYS_INLINE void dw_window_run(const dw_group *g, const int8_t *in, int8_t *out, int32_t count,
                                           int32_t kh, int32_t k, int32_t clamp, int32_t block) {
    const dw_group *v = g;
    const uint32_t *pw = g->weights;
    const uint32_t offset2 = g->offset2;
    const int32_t tap_step = g->tap_step, out_step = g->out_step;
    /* px has moved (k - 3) taps along a row when the row's last tap is read (k = 2: none) */
    const int32_t moved = k > 3 ? k - 3 : 0;
    const int32_t row_advance = g->row_step - moved * tap_step;
    const int32_t next = g->in_step - (kh - 1) * g->row_step - moved * tap_step; /* to the next window */
    const int8_t *px = in;
    int8_t *o = out;
    /* (the block instances compute a row's advances at each row: held, they took 8 more bytes of their frames, on
     * the deepest stack path) */
    for (int32_t rows = block ? g->rows : 1;;) {
        for (int32_t n = count; n > 0; --n) {
            int32_t a0, a1, a2, a3;
            if (block ? k == 3 : k == 2) {
                /* the biases by two LDRD (volatile: at each output, not held across the loop): from C, GCC took
                 * LDR, MOV, LDR, LDRD in dw_rows_k3's loop (2 instructions an output more than dw_run_k3's) and one
                 * more in the edge columns of one row; the other instances keep C's loads (there the asm costs 0 to
                 * 2) */
                __asm__ volatile("ldrd    %[a0], %[a1], [%[g], #%c[at]]\n"
                                 "ldrd    %[a2], %[a3], [%[g], #%c[at] + 8]\n"
                                 : [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3)
                                 : [g] "r"(v), [at] "i"(offsetof(dw_group, bias)), "m"(v->bias));
            } else {
                a0 = v->bias[0], a1 = v->bias[1], a2 = v->bias[2], a3 = v->bias[3];
            }
            uint32_t x, x13, w02, w13;
            if (k == 2) {
                if (kh == 3) {
                    PB_DW_WINDOW_RUN_ASM(PB_DW_WINDOW3C2_ASM);
                } else {
                    PB_DW_WINDOW_RUN_ASM(PB_DW_WINDOW2C2_ASM);
                }
            } else if (kh == 2) {
                PB_DW_WINDOW_RUN_ASM(PB_DW_WINDOW2X3_ASM);
            } else if (k == 3) {
                PB_DW_WINDOW_RUN_ASM(PB_DW_WINDOW3_ASM);
            } else {
                PB_DW_WINDOW_RUN_ASM(PB_DW_WINDOW5_ASM);
            }
            uint32_t packed = requant4_doubled_ldm(a0, a1, a2, a3, v->cr);
            if (clamp) {
                packed = clamp_bytes(packed, g->act_min4, g->act_max4);
            }
            pb_write_u32(o, packed);
            o += out_step;
        }
        if (!block || --rows == 0) { /* (block: g->rows >= 1) */
            break;
        }
        px += g->in_rows - count * g->in_step;
        o += g->out_rows - count * out_step;
    }
}
#endif

/* `count` interior output pixels from `in` (the first window's top-left) to `out`; the group is doubled
 * (every channel takes pb_requant_x2). kh, kw and clamp are constants in each instance below (kh 0: the
 * group's), so the run's loop carries no per-pixel tests: SSAT alone when the activation is the full
 * int8 range. */
static PB_ALWAYS_INLINE void dw_interior_run(const dw_group *g, const int8_t *in, int8_t *out, int32_t count,
                                             int32_t kh, int32_t kw, int32_t clamp) {
    if (kh == 0) {
        kh = g->kh;
    }
#if PB_DSP_NATIVE
    if (__builtin_constant_p(kh) && __builtin_constant_p(kw) &&
        ((kh == kw && (kw == 3 || kw == 5)) || (kh == 2 && kw == 3))) {
        dw_window_run(g, in, out, count, kh, kw, clamp, 0); /* the 3x3, 5x5 and 2x3 instances */
        return;
    }
#endif
    for (; count > 0; --count) {
        int32_t acc[4] = {g->bias[0], g->bias[1], g->bias[2], g->bias[3]};
        dw_interior_taps(in, g->weights, kh, kw, g->tap_step, g->row_step, g->offset2, acc);
        /* four int8 in one word, one store; the activation clamps all four bytes at once */
        uint32_t packed = requant4_doubled(acc[0], acc[1], acc[2], acc[3], g->cr);
        if (clamp) {
            packed = clamp_bytes(packed, g->act_min4, g->act_max4);
        }
        pb_write_u32(out, packed);
        in += g->in_step;
        out += g->out_step;
    }
}

/* square windows of 3, 5, 7: the window row loop unrolled too */
#define PB_DW_RUN_INSTANCES(kw)                                                                              \
    static PB_NOINLINE void dw_run_k##kw##_sat(const dw_group *g, const int8_t *in, int8_t *out, int32_t count) { \
        dw_interior_run(g, in, out, count, kw, kw, 0);                                                       \
    }                                                                                                        \
    static PB_NOINLINE void dw_run_k##kw##_clamp(const dw_group *g, const int8_t *in, int8_t *out, int32_t count) { \
        dw_interior_run(g, in, out, count, kw, kw, 1);                                                       \
    }
PB_DW_RUN_INSTANCES(3)
PB_DW_RUN_INSTANCES(5)
PB_DW_RUN_INSTANCES(7)

/* the two window rows of a 3x3 window in the top and bottom output rows (one row of padding) */
static PB_NOINLINE void dw_run_k2x3_sat(const dw_group *g, const int8_t *in, int8_t *out, int32_t count) {
    dw_interior_run(g, in, out, count, 2, 3, 0);
}

static PB_NOINLINE void dw_run_k2x3_clamp(const dw_group *g, const int8_t *in, int8_t *out, int32_t count) {
    dw_interior_run(g, in, out, count, 2, 3, 1);
}

#if PB_DSP_NATIVE
/* dw_window_run's instances `name`_sat and `name`_clamp: windows of kh rows and k columns; block: over g->rows rows */
#define PB_DW_WINDOW_INSTANCES(name, kh, k, block)                                                           \
    static PB_NOINLINE void name##_sat(const dw_group *g, const int8_t *in, int8_t *out, int32_t count) {   \
        dw_window_run(g, in, out, count, kh, k, 0, block);                                                   \
    }                                                                                                        \
    static PB_NOINLINE void name##_clamp(const dw_group *g, const int8_t *in, int8_t *out, int32_t count) { \
        dw_window_run(g, in, out, count, kh, k, 1, block);                                                   \
    }
/* two of a 3x3 window's columns (weights from the group's, three taps a row), three or two rows */
PB_DW_WINDOW_INSTANCES(dw_run_k3c2, 3, 2, 0)
PB_DW_WINDOW_INSTANCES(dw_run_k2c2, 2, 2, 0)
/* dw_dsp's 3x3 runs of g->rows output rows (rows of three valid window rows): the interior run and an edge column
 * (two window columns) of each row; instances of their own, so that the runs of one row keep their loop */
PB_DW_WINDOW_INSTANCES(dw_rows_k3, 3, 3, 1)
PB_DW_WINDOW_INSTANCES(dw_rows_k3c2, 3, 2, 1)
/* dw_groups3's run (a patch stage's tiles only: it reads the op's group table): all the rows of all the groups, each
 * group's values from its table entry, in assembly so that the steps from row to row and group to group keep their
 * state where GCC's loop did not (its rows and output pointer in its frame, the output stored twice): a row takes
 * 6 instructions (the rows left held in r7, the count and the input's advance by one LDRD, the output's advance only
 * where it is not 0: but where an edge column is left out), where GCC's took 11. The instance with the last row
 * (below: the call's last output row, its windows clipped to two rows by the bottom edge) takes each group's after
 * its other rows, where dw_groups3 took per group its values from the table and a call of dw_run_k2x3 (some 60
 * instructions a group, which a patch stage's tiles pay once per tile that meets the bottom edge). An output is the
 * instructions of GCC's dw_run_k3 (114) or dw_run_k2x3 (88), per layer's runs of the same windows: the same taps
 * (PB_DW_WINDOW3_ASM's, PB_DW_WINDOW2X3_ASM's), requantization (requant4_doubled_ldm's), clamp (clamp_bytes') and
 * store, the tap step reloaded at each output as there, so that tiles gain nothing an output that per layer does not
 * (the honesty rule of the patch points' measure). Registers: r0 the weights (an entry's, its values 64 bytes before
 * them), r1 the window, r2-r5 the sums a0-a3, r6 the tap step, r7 the rows left, r8 the outputs left in the row,
 * r9-r12 the taps' and requantization's temporaries, lr the input offset. The frame (sp +): 0 the output, 4 out_step,
 * 8 row_step, 12 / 64 the step to the next window of three / two rows, 16 count, 20 / 24 the input's / output's
 * advance from a row's end to the next row's start, 28 rows, 32 the groups left, 36 / 40 the group's first input /
 * output, 44 the entries' stride (bytes), 48 act_min4, 52 act_max4, 56 tap_step, 60 below; with the 9 registers
 * pushed 104 bytes, a leaf (the stack plan counts it among its invisible leaves, at most INVISIBLE_LEAF_BYTES). */
#define PB_DW_GROUPS3_TAP(address)                                                                           \
    "ldr     r12, " address "\n"                                                                             \
    "ldrd    r10, r11, [r0], #8\n"                                                                           \
    "sxtab16 r9, lr, r12, ror #8\n"                                                                          \
    "sxtab16 r12, lr, r12\n"                                                                                 \
    "smlabb  r2, r12, r10, r2\n"                                                                             \
    "smlatt  r4, r12, r10, r4\n"                                                                             \
    "smlabb  r3, r9, r11, r3\n"                                                                              \
    "smlatt  r5, r9, r11, r5\n"
#define PB_DW_GROUPS3_ROW                                                                                    \
    PB_DW_GROUPS3_TAP("[r1]") PB_DW_GROUPS3_TAP("[r1, r6]") PB_DW_GROUPS3_TAP("[r1, r6, lsl #1]")
#define PB_DW_GROUPS3_NEXT_ROW                                                                               \
    "ldr     r12, [sp, #8]\n"                                                                                \
    "add     r1, r1, r12\n"
#define PB_DW_GROUPS3_REQUANT(a)                                                                             \
    "ldm     r9!, {r10, r11, r12}\n"                                                                         \
    "add     r11, r11, " a ", asr #31\n"                                                                     \
    "smmlar  " a ", " a ", r10, r11\n"                                                                       \
    "asr     " a ", " a ", r12\n"                                                                            \
    "ssat    " a ", #8, " a "\n"
#define PB_DW_GROUPS3_CLAMP                                                                                  \
    "ldrd    r10, r11, [sp, #48]\n"                                                                          \
    "ssub8   r12, r2, r10\n"                                                                                 \
    "sel     r2, r2, r10\n"                                                                                  \
    "ssub8   r12, r2, r11\n"                                                                                 \
    "sel     r2, r11, r2\n"
/* a row's start: the count, the input's advance, the output's where it is not 0 */
#define PB_DW_GROUPS3_ROW_START(output)                                                                      \
    "ldrd    r8, r12, [sp, #16]\n"                                                                           \
    "add     r1, r1, r12\n"                                                                                  \
    "ldr     r2, [sp, #24]\n"                                                                                \
    "cbz     r2, " output "\n"                                                                               \
    "ldr     r12, [sp, #0]\n"                                                                                \
    "add     r12, r12, r2\n"                                                                                 \
    "str     r12, [sp, #0]\n"
/* an output's end: the window's step to the next, the sums requantized (their values 64 bytes before the weights),
 * packed, clamped, stored */
#define PB_DW_GROUPS3_OUTPUT(next, clamp)                                                                    \
    "ldr     r12, [sp, #" next "]\n"                                                                         \
    "add     r1, r1, r12\n"                                                                                  \
    "sub     r9, r0, #64\n"                                                                                  \
    PB_DW_GROUPS3_REQUANT("r2") PB_DW_GROUPS3_REQUANT("r3") PB_DW_GROUPS3_REQUANT("r4")                      \
    PB_DW_GROUPS3_REQUANT("r5")                                                                              \
    "uxtb    r2, r2\n"                                                                                       \
    "bfi     r2, r3, #8, #8\n"                                                                               \
    "bfi     r2, r4, #16, #8\n"                                                                              \
    "bfi     r2, r5, #24, #8\n"                                                                              \
    clamp                                                                                                    \
    "ldr     r12, [sp, #0]\n"                                                                                \
    "str     r2, [r12]\n"                                                                                    \
    "ldr     r3, [sp, #4]\n"                                                                                 \
    "add     r12, r12, r3\n"                                                                                 \
    "str     r12, [sp, #0]\n"                                                                                \
    "subs    r8, r8, #1\n"
#define PB_DW_GROUPS3_BIASES                                                                                 \
    "ldrd    r2, r3, [r0, #-16]\n"                                                                           \
    "ldrd    r4, r5, [r0, #-8]\n"                                                                            \
    "ldr     r6, [sp, #56]\n"
#define PB_DW_GROUPS3_BELOW_TEST                                                                             \
    "ldr     r2, [sp, #60]\n"                                                                                \
    "cbnz    r2, 3f\n"
/* the group's last row of two window rows (below), after the next group's step (a CBNZ reaches only that far), to
 * which it returns */
#define PB_DW_GROUPS3_BELOW(clamp)                                                                           \
    "3:\n"                                                                                                   \
    PB_DW_GROUPS3_ROW_START("4f")                                                                            \
    "4:\n"                                                                                                   \
    PB_DW_GROUPS3_BIASES PB_DW_GROUPS3_ROW PB_DW_GROUPS3_NEXT_ROW PB_DW_GROUPS3_ROW                          \
    "sub     r0, r0, #48\n"                                                                                  \
    PB_DW_GROUPS3_OUTPUT("64", clamp)                                                                        \
    "bne     4b\n"                                                                                           \
    "b       7b\n"
#define PB_DW_GROUPS3_ASM(name, clamp, below_test, below)                                                \
    __attribute__((naked, noinline)) static void name(const dw_group *g __attribute__((unused)),            \
                                                      const int8_t *in __attribute__((unused)),               \
                                                      int8_t *out __attribute__((unused)),                    \
                                                      int32_t count __attribute__((unused))) {                \
        __asm__ volatile("push    {r4-r11, lr}\n"                                                            \
                         "sub     sp, sp, #68\n"                                                             \
                         "str     r2, [sp, #0]\n"                                                            \
                         "strd    r1, r2, [sp, #36]\n"                                                       \
                         "ldrd    r4, r5, [r0, #84]\n" /* in_step, out_step */                              \
                         "ldr     r6, [r0, #76]\n"     /* row_step */                                       \
                         "str     r5, [sp, #4]\n"                                                            \
                         "str     r6, [sp, #8]\n"                                                            \
                         "sub     r7, r4, r6, lsl #1\n"                                                      \
                         "str     r7, [sp, #12]\n"                                                           \
                         "sub     r7, r4, r6\n"                                                              \
                         "str     r7, [sp, #64]\n"                                                           \
                         "ldr     r7, [r0, #104]\n" /* in_rows */                                           \
                         "mls     r7, r3, r4, r7\n"                                                          \
                         "strd    r3, r7, [sp, #16]\n"                                                       \
                         "ldr     r7, [r0, #108]\n" /* out_rows */                                          \
                         "mls     r7, r3, r5, r7\n"                                                          \
                         "str     r7, [sp, #24]\n"                                                           \
                         "ldrd    r4, r5, [r0, #92]\n" /* act_min4, act_max4 */                             \
                         "strd    r4, r5, [sp, #48]\n"                                                       \
                         "ldr     r6, [r0, #72]\n" /* tap_step */                                           \
                         "ldr     r7, [r0, #124]\n" /* below */                                             \
                         "strd    r6, r7, [sp, #56]\n"                                                       \
                         "ldrd    r4, r5, [r0, #116]\n" /* groups, stride (words) */                        \
                         "str     r4, [sp, #32]\n"                                                           \
                         "lsls    r5, r5, #2\n"                                                              \
                         "str     r5, [sp, #44]\n"                                                           \
                         "ldr     r7, [r0, #100]\n" /* rows */                                              \
                         "str     r7, [sp, #28]\n"                                                           \
                         "ldr     lr, [r0, #80]\n"  /* offset2 */                                           \
                         "ldr     r0, [r0, #112]\n" /* the first entry */                                   \
                         "adds    r0, r0, #64\n"                                                             \
                         "mov     r8, r3\n"                                                                  \
                         "b       1f\n"                                                                      \
                         "0:\n" /* the next row */                                                           \
                         PB_DW_GROUPS3_ROW_START("1f")                                                       \
                         "1:\n" /* an output */                                                              \
                         PB_DW_GROUPS3_BIASES PB_DW_GROUPS3_ROW PB_DW_GROUPS3_NEXT_ROW PB_DW_GROUPS3_ROW       \
                         PB_DW_GROUPS3_NEXT_ROW PB_DW_GROUPS3_ROW                                            \
                         "sub     r0, r0, #72\n"                                                             \
                         PB_DW_GROUPS3_OUTPUT("12", clamp)                                                   \
                         "bne     1b\n"                                                                      \
                         "subs    r7, r7, #1\n"                                                              \
                         "bne     0b\n"                                                                      \
                         below_test                                                                          \
                         "7:\n" /* the next group: its entry, its four channels */                          \
                         "ldr     r2, [sp, #32]\n"                                                           \
                         "subs    r2, r2, #1\n"                                                              \
                         "beq     9f\n"                                                                      \
                         "ldrd    r3, r4, [sp, #40]\n" /* out, stride */                                    \
                         "add     r0, r0, r4\n"                                                              \
                         "ldr     r1, [sp, #36]\n"                                                           \
                         "adds    r1, r1, #4\n"                                                              \
                         "adds    r3, r3, #4\n"                                                              \
                         "strd    r2, r1, [sp, #32]\n"                                                       \
                         "str     r3, [sp, #40]\n"                                                           \
                         "str     r3, [sp, #0]\n"                                                            \
                         "ldr     r7, [sp, #28]\n"                                                           \
                         "ldr     r8, [sp, #16]\n"                                                           \
                         "b       1b\n"                                                                      \
                         "9:\n"                                                                              \
                         "add     sp, sp, #68\n"                                                             \
                         "pop     {r4-r11, pc}\n"                                                            \
                         below);                                                                             \
    }
/* the clamping instance without the last row (flash: dw_groups3 takes it per group; the zoo's patch-stage ops with a
 * group table take the full int8 range) */
PB_DW_GROUPS3_ASM(dw_groups_k3_sat, "", PB_DW_GROUPS3_BELOW_TEST, PB_DW_GROUPS3_BELOW(""))
PB_DW_GROUPS3_ASM(dw_groups_k3_clamp, PB_DW_GROUPS3_CLAMP, "", "")
_Static_assert(offsetof(dw_group, bias) == 48 && offsetof(dw_group, tap_step) == 72 &&
                   offsetof(dw_group, row_step) == 76 && offsetof(dw_group, offset2) == 80 &&
                   offsetof(dw_group, in_step) == 84 && offsetof(dw_group, out_step) == 88 &&
                   offsetof(dw_group, act_min4) == 92 && offsetof(dw_group, act_max4) == 96 &&
                   offsetof(dw_group, rows) == 100 && offsetof(dw_group, in_rows) == 104 &&
                   offsetof(dw_group, out_rows) == 108 && offsetof(dw_groups, values) == 112 &&
                   offsetof(dw_groups, groups) == 116 && offsetof(dw_groups, stride) == 120 &&
                   offsetof(dw_groups, below) == 124,
               "dw_groups_k3 reads the group and the groups at these offsets");

/* A doubled 3x3 group's interior run (edge 0) or one output pixel whose window the map's left or right edge clips to
 * two columns (edge 1; the group's weights from the first valid tap's), over two or three valid window rows (two:
 * the top or bottom row with one row of padding). Direct calls (the stack plan follows them; through a table of
 * pointers it could not), chosen where dw_interior's switch tested the group's rows again. */
static PB_ALWAYS_INLINE void dw_run3(const dw_group *g, const int8_t *in, int8_t *out, int32_t count, int32_t two,
                                     int32_t edge, int32_t clamp) {
    if (g->rows > 1) { /* (three valid window rows) */
        if (edge) {
            clamp ? dw_rows_k3c2_clamp(g, in, out, count) : dw_rows_k3c2_sat(g, in, out, count);
        } else {
            clamp ? dw_rows_k3_clamp(g, in, out, count) : dw_rows_k3_sat(g, in, out, count);
        }
    } else if (edge) {
        if (two) {
            clamp ? dw_run_k2c2_clamp(g, in, out, count) : dw_run_k2c2_sat(g, in, out, count);
        } else {
            clamp ? dw_run_k3c2_clamp(g, in, out, count) : dw_run_k3c2_sat(g, in, out, count);
        }
    } else if (two) {
        clamp ? dw_run_k2x3_clamp(g, in, out, count) : dw_run_k2x3_sat(g, in, out, count);
    } else {
        clamp ? dw_run_k3_clamp(g, in, out, count) : dw_run_k3_sat(g, in, out, count);
    }
}

#endif

static PB_NOINLINE void dw_run_any_sat(const dw_group *g, const int8_t *in, int8_t *out, int32_t count, int32_t kw) {
    dw_interior_run(g, in, out, count, 0, kw, 0);
}

static PB_NOINLINE void dw_run_any_clamp(const dw_group *g, const int8_t *in, int8_t *out, int32_t count, int32_t kw) {
    dw_interior_run(g, in, out, count, 0, kw, 1);
}

static PB_ALWAYS_INLINE void dw_interior(const dw_group *g, const int8_t *in, int8_t *out, int32_t count, int32_t kw,
                        int32_t clamp) {
    const int32_t key = g->kh == kw ? kw * 2 : g->kh == 2 && kw == 3 ? 4 : 0;
    switch (key == 0 ? 0 : key + (clamp != 0)) {
    case 4: dw_run_k2x3_sat(g, in, out, count); break;
    case 5: dw_run_k2x3_clamp(g, in, out, count); break;
    case 6: dw_run_k3_sat(g, in, out, count); break;
    case 7: dw_run_k3_clamp(g, in, out, count); break;
    case 10: dw_run_k5_sat(g, in, out, count); break;
    case 11: dw_run_k5_clamp(g, in, out, count); break;
    case 14: dw_run_k7_sat(g, in, out, count); break;
    case 15: dw_run_k7_clamp(g, in, out, count); break;
    default:
        if (clamp) {
            dw_run_any_clamp(g, in, out, count, kw);
        } else {
            dw_run_any_sat(g, in, out, count, kw);
        }
    }
}

/* Output pixels ox_from .. ox_to - 1 of one output row of a doubled group, at dilation 1, whose windows the
 * map's left or right edge may clip (all of a row on maps narrower than a window): in_row is the group's
 * first valid window row at input column 0, w_row that row's widened weights, `rows` the valid window rows.
 * Each pixel's valid columns, then per window row one assembly block of that many taps as the interior
 * runs', the requantization of requant4_doubled_ldm. The edge pixels took the C tap loop in dw_dsp, whose
 * per-pixel bookkeeping spilled (5x5 on 6 x 6 maps: 3.91 -> 3.33 instructions per MAC on M7). */
static PB_NOINLINE void dw_edge_pixels(const dw_group *g, const int8_t *in_row, const uint32_t *w_row, int32_t rows,
                                       int32_t kw, const dw_edge_span *span, int8_t *out, int32_t clamp) {
    const uint32_t offset2 = g->offset2;
    const int32_t tap_step = g->tap_step;
    for (int32_t ox = span->ox_from; ox < span->ox_to; ++ox) {
        const int32_t ix0 = ox * span->stride - span->pad_left;
        const int32_t kx0 = ix0 < 0 ? -ix0 : 0;
        const int32_t kx1 = span->in_w - ix0 < kw ? span->in_w - ix0 : kw;
        const int32_t cols = kx1 - kx0, skip = 2 * (kw - cols);
        const int32_t live_rows = cols > 0 ? rows : 0; /* (a window wholly in the padding: the bias) */
        const int8_t *px = in_row + (ix0 + kx0) * tap_step;
        const uint32_t *pw = w_row + 2 * kx0;
        int32_t a0 = g->bias[0], a1 = g->bias[1], a2 = g->bias[2], a3 = g->bias[3];
#if PB_DSP_NATIVE
        /* px has moved 2 taps along the row after 4 or 5 taps, 4 after 6 or 7 */
        const int32_t row_advance = g->row_step - (cols <= 3 ? 0 : cols <= 5 ? 2 : 4) * tap_step;
        uint32_t x, x13, w02, w13;
#define PB_DW_TAP_NEXT_1 "add     %[px], %[px], %[ts], lsl #1\n" PB_DW_TAP_ASM("[%[px], %[ts]]")
        for (int32_t ky = 0; ky < live_rows; ++ky) {
            switch (cols) {
            case 1: PB_DW_ROW_ASM(PB_DW_TAP_ASM("[%[px]]")); break;
            case 2: PB_DW_ROW_ASM(PB_DW_TAP_ASM("[%[px]]") PB_DW_TAP_ASM("[%[px], %[ts]]")); break;
            case 3: PB_DW_ROW_ASM(PB_DW_TAPS_0_1_2); break;
            case 4: PB_DW_ROW_ASM(PB_DW_TAPS_0_1_2 PB_DW_TAP_NEXT_1); break;
            case 5: PB_DW_ROW_ASM(PB_DW_TAPS_0_1_2 PB_DW_TAPS_NEXT_2); break;
            case 6: PB_DW_ROW_ASM(PB_DW_TAPS_0_1_2 PB_DW_TAPS_NEXT_2 PB_DW_TAP_NEXT_1); break;
            default: PB_DW_ROW_ASM(PB_DW_TAPS_0_1_2 PB_DW_TAPS_NEXT_2 PB_DW_TAPS_NEXT_2); break;
            }
            px += row_advance;
            pw += skip;
        }
#undef PB_DW_TAP_NEXT_1
        uint32_t packed = requant4_doubled_ldm(a0, a1, a2, a3, g->cr);
#else
        int32_t acc0 = a0, acc1 = a1, acc2 = a2, acc3 = a3;
        for (int32_t ky = 0; ky < live_rows; ++ky, px += g->row_step, pw += skip) {
            const int8_t *p = px;
            for (int32_t kx = 0; kx < cols; ++kx, p += tap_step, pw += 2) {
                PB_DW_TAP(p, pw);
            }
        }
        uint32_t packed = requant4_doubled(acc0, acc1, acc2, acc3, g->cr);
#endif
        if (clamp) {
            packed = clamp_bytes(packed, g->act_min4, g->act_max4);
        }
        pb_write_u32(out + ox * g->out_step, packed);
    }
}

#if PB_DSP_NATIVE
/* Valid rows of a 3x3 window whose top is input row iy0 (dilation 1). */
static inline int32_t dw_rows3_valid(int32_t iy0, int32_t in_h) {
    const int32_t below = in_h - iy0;
    return (below < 3 ? below : 3) - (iy0 < 0 ? -iy0 : 0);
}

/* Whether each output row of a 3x3 call at dilation 1 is its interior run ox_first .. ox_end - 1 and at most two
 * edge pixels of two window columns, over two or three valid window rows (dw_dsp's rows of a doubled group): on
 * the left none, or output column 0 with one column of padding (and two input columns), whose window's last two
 * columns are the input's first two; on the right none, or column ox_end = out_w - 1, whose window's first two are
 * the input's last two; the first and the last output row's windows (the fewest valid rows: the count is concave
 * in the row) with two rows or more. (Pads of 2 and maps of one column or row leave windows of one column or row,
 * which the C taps take.) */
static int32_t dw_edges3_apply(const pb_region *r, const pb_window *w, int32_t ox_first, int32_t ox_end) {
    const int32_t right_ix0 = ox_end * w->stride_w - r->pad_left;
    return (ox_first == 0 || (ox_first == 1 && r->pad_left == 1 && r->in_w >= 2)) &&
           (ox_end == r->out_w || (ox_end == r->out_w - 1 && right_ix0 >= 0 && r->in_w - right_ix0 == 2)) &&
           dw_rows3_valid(-r->pad_top, r->in_h) >= 2 &&
           dw_rows3_valid((r->out_h - 1) * w->stride_h - r->pad_top, r->in_h) >= 2;
}
#endif


/* The first word of a group table made for an op of `channels` channels and `taps` taps a window
 * (harness.codegen.kernels.depthwise_group_table): negative. */
static inline int32_t dw_group_tag(int32_t channels, int32_t taps) {
    return -(channels * 64 + taps);
}

/* Where output row oy of a group goes: its place (in_place 0, or a direct row of the in-place schedule) or
 * its slot in the ring of delayed rows (see pb_depthwise_conv_inplace.c); *step: bytes from pixel to pixel. */
typedef struct {
    const uint8_t *schedule; /* NULL: out of place */
    int8_t *ring;
    int32_t ring_rows;
    /* the rows from here on go to their place with nothing delayed (direct, none pending): dw_dsp's 3x3 rows of three
     * valid window rows take them at once */
    int32_t direct_from;
} dw_inplace;

static inline int8_t *dw_row_target(const dw_inplace *ip, int8_t *output, int32_t oy, int32_t out_rs, int32_t c,
                                    int32_t channels, int32_t group, int32_t out_w, int32_t *step) {
    if (ip->schedule != NULL && !(ip->schedule[oy] & PB_DW_DIRECT)) {
        *step = group;
        return ip->ring + (oy % ip->ring_rows) * out_w * group;
    }
    *step = channels;
    return output + oy * out_rs + c;
}

/* After output row oy: copy the delayed rows whose place is now free; returns the new oldest delayed row. */
static inline int32_t dw_row_done(const dw_inplace *ip, int8_t *output, int32_t oy, int32_t oldest, int32_t out_rs,
                                  int32_t c, int32_t channels, int32_t group, int32_t out_w) {
    if (ip->schedule == NULL) {
        return oldest;
    }
    if (ip->schedule[oy] & PB_DW_DIRECT) {
        oldest = oy + 1;
    }
    for (int32_t n = ip->schedule[oy] & 0x7F; n > 0; --n, ++oldest) {
        pb_depthwise_inplace_flush(ip->ring + (oldest % ip->ring_rows) * out_w * group, output + oldest * out_rs + c,
                                   out_w, group, channels);
    }
    return oldest;
}

/* requant (pb_dsp_kernels.h) on the call's pb_requant itself */
static PB_ALWAYS_INLINE int8_t dw_requant(int32_t acc, const pb_requant *q, int32_t channel) {
    return pb_requantize_s8_fast(acc, q->multiplier[channel], q->shift[channel], q->output_zero_point, q->act_min,
                                 q->act_max);
}

/* A group's requantization values and biases (16 words, cr then bias: see dw_group) copied from its entry in the op's
 * group table, two words a load (LDRD, STRD; they take any two registers, so GCC keeps its own), where GCC's copy took
 * a loop of four and 55 instructions; its weights are the entry's. */
static PB_ALWAYS_INLINE void dw_group_values(dw_group *g, const int32_t *entry) {
#if PB_DSP_NATIVE
    uint32_t t0, t1;
#define PB_DW_COPY2(at) "ldrd    %[t0], %[t1], [%[s], #" at "]\n" "strd    %[t0], %[t1], [%[d], #" at "]\n"
    __asm__ volatile(PB_DW_COPY2("0") PB_DW_COPY2("8") PB_DW_COPY2("16") PB_DW_COPY2("24") PB_DW_COPY2("32")
                         PB_DW_COPY2("40") PB_DW_COPY2("48") PB_DW_COPY2("56")
                     : [t0] "=&r"(t0), [t1] "=&r"(t1)
                     : [s] "r"(entry), [d] "r"(g)
                     : "memory");
#undef PB_DW_COPY2
#else
    memcpy(g->cr, entry, sizeof g->cr);
    memcpy(g->bias, entry + 12, sizeof g->bias);
#endif
    g->weights = (const uint32_t *)(entry + 16);
}

/* A group of dw_dsp: its requantization values and biases into g, its weights widened to int16 into wbuf, or all of
 * them from the op's table made at code generation (made: its first group, or NULL); g->weights the group's weights.
 * Returns 1 where the group is doubled, 2 where it takes pb_requant_folded. Its own function: inlined, its values
 * took registers from dw_dsp's row loops (per layer about 0.05 % more instructions). */
static PB_NOINLINE int32_t dw_group_prepare(dw_group *g, uint32_t *wbuf, const int32_t *made, const pb_requant *q,
                                            const int32_t *bias, const int8_t *filter, int32_t c, int32_t channels,
                                            int32_t taps) {
    if (made != NULL) {
        /* a patch-stage op's group prepared once at code generation (harness.codegen.kernels.depthwise_group_table,
         * in flash: the four channels' SMMLAR values, their doubled biases, the doubled widened weights), where each
         * call of each tile made them: about 200 instructions a 3x3 group */
        dw_group_values(g, made + (c / 4) * (16 + 2 * taps));
        return 1;
    }
    /* The group is doubled when all four channels take pb_requant_x2 (|acc| < 2^30 with |x - zp| <= 255,
     * |w| <= 128): its weights and bias are then doubled so that the taps sum 2 * acc, the SMMLAR's
     * operand, directly. Otherwise folded tells whether they take pb_requant_folded. */
    int32_t doubled = 1, folded = 1;
    const uint32_t span = 255u * 128u * (uint32_t)taps; /* |sum of products| at most; + |bias| <= 2^31 fits */
    for (int32_t i = 0; i < 4; ++i) {
        const int32_t b = bias ? bias[c + i] : 0;
        const uint32_t acc_bound = (b < 0 ? 0u - (uint32_t)b : (uint32_t)b) + span;
        doubled &= pb_channel_requant_x2_prepare(q->multiplier[c + i], q->shift[c + i], q->output_zero_point, acc_bound,
                                                 &g->cr[i]);
    }
    for (int32_t i = 0; i < 4 && !doubled; ++i) { /* only a group that is not doubled reads these */
        folded &= pb_channel_requant_prepare(q->multiplier[c + i], q->shift[c + i], q->output_zero_point,
                                             &g->folded[i]);
    }
    for (int32_t i = 0; i < 4; ++i) {
        const int32_t b = bias ? bias[c + i] : 0;
        g->bias[i] = doubled ? 2 * b : b;
    }
    /* This channel group's weights as int16: tap t at words 2t ([w0 w2]) and 2t + 1 ([w1 w3]); doubled
     * by adding the bytes once more (SXTAB16: each lane's double fits int16). Two loops, so that the
     * test is not in each tap's (on 2 x 2 maps the widening is a tenth of the call); the doubled one two taps a
     * pass after an odd tap (its loop's counting took a third of it: 7x7 groups per layer). */
    const int8_t *f = filter + c;
    if (doubled && taps == 9) { /* 3x3 unrolled */
#pragma GCC unroll 9
        for (int32_t t = 0; t < 9; ++t, f += channels) {
            const uint32_t wt = pb_read_u32(f);
            wbuf[2 * t] = pb_sxtab16(pb_sxtb16(wt), wt);
            wbuf[2 * t + 1] = pb_sxtab16_ror8(pb_sxtb16_ror8(wt), wt);
        }
    } else if (doubled) {
        uint32_t *wb = wbuf;
        if (taps & 1) {
            const uint32_t wt = pb_read_u32(f);
            wb[0] = pb_sxtab16(pb_sxtb16(wt), wt);
            wb[1] = pb_sxtab16_ror8(pb_sxtb16_ror8(wt), wt);
            wb += 2;
            f += channels;
        }
        for (int32_t n = taps >> 1; n > 0; --n, wb += 4, f += 2 * channels) {
            const uint32_t wt = pb_read_u32(f), wu = pb_read_u32(f + channels);
            wb[0] = pb_sxtab16(pb_sxtb16(wt), wt);
            wb[1] = pb_sxtab16_ror8(pb_sxtb16_ror8(wt), wt);
            wb[2] = pb_sxtab16(pb_sxtb16(wu), wu);
            wb[3] = pb_sxtab16_ror8(pb_sxtb16_ror8(wu), wu);
        }
    } else {
        for (uint32_t *wb = wbuf, *end = wbuf + 2 * taps; wb != end; wb += 2, f += channels) {
            const uint32_t wt = pb_read_u32(f);
            wb[0] = pb_sxtb16(wt);
            wb[1] = pb_sxtb16_ror8(wt);
        }
    }
    g->weights = wbuf;
    return doubled | folded << 1;
}

static PB_NOINLINE void dw_dsp(const pb_region *r, const pb_window *w, const pb_requant *requant_params,
                               const int8_t *input, const int8_t *filter, const int32_t *bias, int8_t *output,
                               void *scratch, int32_t in_place) {
    const pb_requant *q = requant_params; /* (not requant_of's copy: 20 bytes of this frame) */
    const int32_t in_rs = pb_in_row_stride(r);
    const int32_t out_rs = pb_out_row_stride(r);
    const int32_t channels = r->out_c, in_c = r->in_c;
    const int32_t kh = w->kernel_h, kw = w->kernel_w, dh = w->dilation_h, dw = w->dilation_w;
    const int32_t input_offset = -requant_params->input_zero_point;
    const uint32_t offset2 = pack_offset(input_offset);
    const int32_t full_range = q->act_min == PB_INT8_MIN && q->act_max == PB_INT8_MAX;
    const int32_t tap_step = dw * in_c, row_step = dh * in_rs;
    /* output columns whose window lies inside the held columns: no valid-tap ranges there */
    int32_t ox_first = 0, ox_end = 0;
    {
        const int32_t sw = w->stride_w, span = (kw - 1) * dw;
        ox_first = r->pad_left > 0 ? (r->pad_left + sw - 1) / sw : 0;
        const int32_t last_ix = r->in_w - 1 - span + r->pad_left; /* ox * sw <= last_ix */
        ox_end = last_ix < 0 ? 0 : last_ix / sw + 1;
        ox_end = ox_end > r->out_w ? r->out_w : ox_end;
        ox_first = ox_first > ox_end ? ox_end : ox_first;
    }
    uint32_t *wbuf = align4(scratch);
    dw_inplace ip = {NULL, NULL, 0, 0};
    if (in_place) { /* the schedule and the ring follow the group's widened weights */
        uint8_t *schedule = (uint8_t *)(wbuf + 2 * kh * kw);
        ip.ring_rows = pb_depthwise_inplace_schedule(r, w, schedule);
        ip.schedule = schedule;
        ip.ring = (int8_t *)schedule + r->out_h;
        /* the last rows that are direct (a direct row finds no delayed row pending, and flushes none), where the rows
         * have no edge pixels: a call's rows each overwrite input a later row may read, so the rows must be done in
         * order, not an edge column of all the rows first */
        for (ip.direct_from = r->out_h; ip.direct_from > 0 && (schedule[ip.direct_from - 1] & PB_DW_DIRECT);) {
            --ip.direct_from;
        }
        ip.direct_from = ox_first == 0 && ox_end == r->out_w ? ip.direct_from : r->out_h;
    }
    /* the doubled 3x3 rows as their interior run and edge pixels where dw_edges3_apply holds; else (pads of 2, maps
     * of one column or row) the loop over pixels below */
#if PB_DSP_NATIVE
    const int32_t rows3 = kw == 3 && kh == 3 && dh == 1 && dw == 1 && dw_edges3_apply(r, w, ox_first, ox_end);
#endif
    /* the op's groups as made at code generation, where the table is this op's (its tag: a plane table's first word is
     * a multiplier, >= 0) */
    const int32_t *made = requant_params->prepared;
    made = made != NULL && made[0] == dw_group_tag(channels, kh * kw) ? made + 1 : NULL;
    dw_group group = {.weights = wbuf, .kh = kh, .tap_step = tap_step, .row_step = row_step, .offset2 = offset2,
                      .in_step = w->stride_w * in_c, .out_step = channels,
                      .act_min4 = (uint8_t)q->act_min * 0x01010101u, .act_max4 = (uint8_t)q->act_max * 0x01010101u,
                      .rows = 1, .in_rows = w->stride_h * in_rs, .out_rows = out_rs};
    int32_t c = 0;
    for (; c + 4 <= channels; c += 4) {
        const int32_t flags = dw_group_prepare(&group, wbuf, made, q, bias, filter, c, channels, kh * kw);
        const int32_t doubled = flags & 1, folded = flags >> 1;
        const uint32_t *const weights = group.weights;
#if PB_DSP_NATIVE
        if (doubled && rows3) {
            /* 3x3 (dw_edges3_apply): a row's edge pixels and its interior run, each one direct call of the run of its
             * valid window rows, the group as those rows' (restored after, as below), in a loop of its own: inside the
             * loop over pixels below, each row's tests and values took about 120 instructions around the calls, which
             * a patch stage's tiles, with more and shorter rows, pay once more per tile. The rows of three valid window
             * rows that go to their place (all out of place) as one call of each run for all of them (group.rows: the
             * runs step to the next row themselves), where a call per row took about 80 instructions a row here and
             * 20 in each run's entry */
            int32_t oldest = 0;
            for (int32_t oy = 0; oy < r->out_h; oy += group.rows) {
                const int32_t iy0 = oy * w->stride_h - r->pad_top;
                const int32_t ky0 = iy0 < 0 ? -iy0 : 0, two = dw_rows3_valid(iy0, r->in_h) == 2;
                /* the rows of three valid window rows (all but a first or last row of two) that go to their place:
                 * each run's call takes them at once */
                group.rows = 1;
                if (!two && oy >= ip.direct_from) {
                    const int32_t last_two = dw_rows3_valid((r->out_h - 1) * w->stride_h - r->pad_top, r->in_h) == 2;
                    group.rows = r->out_h - last_two - oy > 1 ? r->out_h - last_two - oy : 1;
                }
                group.kh = 3 - two;
                group.weights = weights + 6 * ky0;
                const int8_t *in_row = input + (iy0 + ky0) * in_rs + c;
                int32_t out_step;
                int8_t *out_row = dw_row_target(&ip, output, oy, out_rs, c, channels, 4, r->out_w, &out_step);
                group.out_step = out_step;
                if (ox_end < r->out_w) {
                    dw_run3(&group, in_row + (ox_end * w->stride_w - r->pad_left) * in_c,
                            out_row + ox_end * out_step, 1, two, 1, !full_range);
                }
                if (ox_first > 0) {
                    group.weights += 2; /* from the window's second column */
                    dw_run3(&group, in_row, out_row, 1, two, 1, !full_range);
                    group.weights -= 2;
                }
                if (ox_first < ox_end) {
                    dw_run3(&group, in_row + (ox_first * w->stride_w - r->pad_left) * in_c,
                            out_row + ox_first * out_step, ox_end - ox_first, two, 0, !full_range);
                }
                oldest = dw_row_done(&ip, output, oy, oldest, out_rs, c, channels, 4, r->out_w);
            }
            group.rows = 1;
            group.kh = kh;
            group.weights = weights;
            continue;
        }
#endif
        int32_t oldest = 0;
        for (int32_t oy = 0; oy < r->out_h; ++oy) {
            const int32_t iy0 = oy * w->stride_h - r->pad_top;
            int32_t ky0, ky1;
            valid_taps(iy0, dh, kh, r->in_h, &ky0, &ky1);
            int32_t out_step;
            int8_t *out_row = dw_row_target(&ip, output, oy, out_rs, c, channels, 4, r->out_w, &out_step);
            group.out_step = out_step;
            if (doubled && kw >= 5 && dh == 1 && dw == 1 && ky1 > ky0) {
                /* the left edge pixels, the interior run, the right edge pixels (5x5 and 7x7 windows: on 3x3
                 * windows the calls cost what the C tap loop below takes for their two or three columns) */
                const int8_t *in_row = input + (iy0 + ky0) * in_rs + c;
                /* the group as the run of the valid window rows, restored after (as below) */
                group.kh = ky1 - ky0;
                group.weights = weights + 2 * ky0 * kw;
                dw_edge_span span = {0, ox_first, w->stride_w, r->pad_left, r->in_w};
                if (ox_first > 0) {
                    dw_edge_pixels(&group, in_row, group.weights, group.kh, kw, &span, out_row, !full_range);
                }
                if (ox_first < ox_end) {
                    dw_interior(&group, in_row + (ox_first * w->stride_w - r->pad_left) * in_c,
                                out_row + ox_first * out_step, ox_end - ox_first, kw, !full_range);
                }
                if (ox_end < r->out_w) {
                    span.ox_from = ox_end;
                    span.ox_to = r->out_w;
                    dw_edge_pixels(&group, in_row, group.weights, group.kh, kw, &span, out_row, !full_range);
                }
                group.kh = kh;
                group.weights = weights;
                oldest = dw_row_done(&ip, output, oy, oldest, out_rs, c, channels, 4, r->out_w);
                continue;
            }
            for (int32_t ox = 0; ox < r->out_w; ++ox) {
                const int32_t ix0 = ox * w->stride_w - r->pad_left;
                if (doubled && ky1 > ky0 && ox == ox_first && ox_first < ox_end) {
                    /* the columns whose window is inside, as one run; in the top and bottom border rows a
                     * run of the window rows ky0..ky1 - 1 (the group with fewer rows, the weights from row ky0,
                     * restored after: a copy of the group would take a hundred bytes of dw_dsp's frame, on
                     * the deepest stack path) */
                    const int8_t *in = input + (iy0 + ky0 * dh) * in_rs + ix0 * in_c + c;
                    group.kh = ky1 - ky0;
                    group.weights = weights + 2 * ky0 * kw;
                    dw_interior(&group, in, out_row + ox * out_step, ox_end - ox_first, kw, !full_range);
                    group.kh = kh;
                    group.weights = weights;
                    ox = ox_end - 1;
                    continue;
                }
                int32_t acc0 = group.bias[0], acc1 = group.bias[1], acc2 = group.bias[2], acc3 = group.bias[3];
                {
                    int32_t kx0, kx1;
                    valid_taps(ix0, dw, kw, r->in_w, &kx0, &kx1);
                    for (int32_t ky = ky0; ky < ky1; ++ky) {
                        const int8_t *px = input + (iy0 + ky * dh) * in_rs + (ix0 + kx0 * dw) * in_c + c;
                        const uint32_t *wt = weights + 2 * (ky * kw + kx0);
                        for (int32_t kx = kx0; kx < kx1; ++kx) {
                            PB_DW_TAP(px, wt);
                            px += tap_step;
                            wt += 2;
                        }
                    }
                }
                int8_t *out = out_row + ox * out_step;
                if (doubled) {
                    uint32_t packed = requant4_doubled(acc0, acc1, acc2, acc3, group.cr);
                    if (!full_range) {
                        packed = clamp_bytes(packed, group.act_min4, group.act_max4);
                    }
                    pb_write_u32(out, packed);
                } else if (folded) {
                    const pb_channel_requant *cr = group.folded;
                    out[0] = (int8_t)clamp_act(pb_requant_folded(acc0, &cr[0]), q->act_min, q->act_max);
                    out[1] = (int8_t)clamp_act(pb_requant_folded(acc1, &cr[1]), q->act_min, q->act_max);
                    out[2] = (int8_t)clamp_act(pb_requant_folded(acc2, &cr[2]), q->act_min, q->act_max);
                    out[3] = (int8_t)clamp_act(pb_requant_folded(acc3, &cr[3]), q->act_min, q->act_max);
                } else {
                    out[0] = dw_requant(acc0, q, c);
                    out[1] = dw_requant(acc1, q, c + 1);
                    out[2] = dw_requant(acc2, q, c + 2);
                    out[3] = dw_requant(acc3, q, c + 3);
                }
            }
            oldest = dw_row_done(&ip, output, oy, oldest, out_rs, c, channels, 4, r->out_w);
        }
    }
    for (; c < channels; ++c) { /* the last channels % 4, one at a time */
        int32_t oldest = 0;
        for (int32_t oy = 0; oy < r->out_h; ++oy) {
            const int32_t iy0 = oy * w->stride_h - r->pad_top;
            int32_t ky0, ky1;
            valid_taps(iy0, dh, kh, r->in_h, &ky0, &ky1);
            int32_t out_step;
            int8_t *out_row = dw_row_target(&ip, output, oy, out_rs, c, channels, 1, r->out_w, &out_step);
            for (int32_t ox = 0; ox < r->out_w; ++ox) {
                const int32_t ix0 = ox * w->stride_w - r->pad_left;
                int32_t kx0, kx1;
                valid_taps(ix0, dw, kw, r->in_w, &kx0, &kx1);
                int32_t acc = bias ? bias[c] : 0;
                for (int32_t ky = ky0; ky < ky1; ++ky) {
                    for (int32_t kx = kx0; kx < kx1; ++kx) {
                        const int32_t x = input[(iy0 + ky * dh) * in_rs + (ix0 + kx * dw) * in_c + c] + input_offset;
                        acc += x * filter[(ky * kw + kx) * channels + c];
                    }
                }
                out_row[ox * out_step] = dw_requant(acc, q, c);
            }
            oldest = dw_row_done(&ip, output, oy, oldest, out_rs, c, channels, 1, r->out_w);
        }
    }
}

/* Depth multiplier m > 1 (out_c = m * in_c): output channel c reads input channel c / m, so a group of four
 * output channels reads one to four input channels. The group's input word is gathered byte by byte
 * (one byte repeated when m is a multiple of 4), then the same SMLABB/SMLATT taps as above on the group's
 * widened weights; each channel requantized alone. */
static PB_NOINLINE void dw_dsp_multiplier(const pb_region *r, const pb_window *w, const pb_requant *requant_params,
                                          const int8_t *input, const int8_t *filter, const int32_t *bias,
                                          int8_t *output, void *scratch) {
    const requant_values values = requant_of(requant_params);
    const requant_values *q = &values;
    const int32_t in_rs = pb_in_row_stride(r), out_rs = pb_out_row_stride(r);
    const int32_t channels = r->out_c, in_c = r->in_c, m = r->out_c / r->in_c;
    const int32_t kh = w->kernel_h, kw = w->kernel_w, dh = w->dilation_h, dw = w->dilation_w;
    const int32_t input_offset = -requant_params->input_zero_point;
    const uint32_t offset2 = pack_offset(input_offset);
    uint32_t *wbuf = align4(scratch);
    int32_t c = 0;
    for (; c + 4 <= channels; c += 4) {
        for (int32_t t = 0; t < kh * kw; ++t) {
            const uint32_t wt = pb_read_u32(filter + t * channels + c);
            wbuf[2 * t] = pb_sxtb16(wt);
            wbuf[2 * t + 1] = pb_sxtb16_ror8(wt);
        }
        const int32_t ic0 = c / m, ic1 = (c + 1) / m, ic2 = (c + 2) / m, ic3 = (c + 3) / m;
        const int32_t one_input = ic0 == ic3;
        for (int32_t oy = 0; oy < r->out_h; ++oy) {
            const int32_t iy0 = oy * w->stride_h - r->pad_top;
            int32_t ky0, ky1;
            valid_taps(iy0, dh, kh, r->in_h, &ky0, &ky1);
            for (int32_t ox = 0; ox < r->out_w; ++ox) {
                const int32_t ix0 = ox * w->stride_w - r->pad_left;
                int32_t kx0, kx1;
                valid_taps(ix0, dw, kw, r->in_w, &kx0, &kx1);
                int32_t acc0 = bias ? bias[c] : 0, acc1 = bias ? bias[c + 1] : 0;
                int32_t acc2 = bias ? bias[c + 2] : 0, acc3 = bias ? bias[c + 3] : 0;
                for (int32_t ky = ky0; ky < ky1; ++ky) {
                    const int8_t *px = input + (iy0 + ky * dh) * in_rs + (ix0 + kx0 * dw) * in_c;
                    const uint32_t *wt = wbuf + 2 * (ky * kw + kx0);
                    for (int32_t kx = kx0; kx < kx1; ++kx) {
                        const uint32_t x = one_input ? (uint8_t)px[ic0] * 0x01010101u
                                                     : (uint32_t)(uint8_t)px[ic0] | (uint32_t)(uint8_t)px[ic1] << 8 |
                                                           (uint32_t)(uint8_t)px[ic2] << 16 |
                                                           (uint32_t)(uint8_t)px[ic3] << 24;
                        const uint32_t x02 = pb_sxtab16(offset2, x), x13 = pb_sxtab16_ror8(offset2, x);
                        acc0 = pb_smlabb(x02, wt[0], acc0);
                        acc2 = pb_smlatt(x02, wt[0], acc2);
                        acc1 = pb_smlabb(x13, wt[1], acc1);
                        acc3 = pb_smlatt(x13, wt[1], acc3);
                        px += dw * in_c;
                        wt += 2;
                    }
                }
                int8_t *out = output + oy * out_rs + ox * channels + c;
                out[0] = requant(acc0, q, c);
                out[1] = requant(acc1, q, c + 1);
                out[2] = requant(acc2, q, c + 2);
                out[3] = requant(acc3, q, c + 3);
            }
        }
    }
    for (; c < channels; ++c) { /* the last channels % 4, one at a time */
        const int32_t ic = c / m;
        for (int32_t oy = 0; oy < r->out_h; ++oy) {
            const int32_t iy0 = oy * w->stride_h - r->pad_top;
            int32_t ky0, ky1;
            valid_taps(iy0, dh, kh, r->in_h, &ky0, &ky1);
            for (int32_t ox = 0; ox < r->out_w; ++ox) {
                const int32_t ix0 = ox * w->stride_w - r->pad_left;
                int32_t kx0, kx1;
                valid_taps(ix0, dw, kw, r->in_w, &kx0, &kx1);
                int32_t acc = bias ? bias[c] : 0;
                for (int32_t ky = ky0; ky < ky1; ++ky) {
                    for (int32_t kx = kx0; kx < kx1; ++kx) {
                        const int32_t x = input[(iy0 + ky * dh) * in_rs + (ix0 + kx * dw) * in_c + ic] + input_offset;
                        acc += x * filter[(ky * kw + kx) * channels + c];
                    }
                }
                output[oy * out_rs + ox * channels + c] = requant(acc, q, c);
            }
        }
    }
}

/* ---- channel planes: two taps of one channel per SMLAD ----------------------------------------------
 *
 * SMLAD adds two products into one accumulator, so both must belong to one channel: two taps of a window
 * row. In NHWC the taps of a channel lie `channels` bytes apart; so for 5x5 and 7x7 windows (dilation 1;
 * see dw_planes_apply for where) the kernel takes one channel at a time and copies the input rows its
 * windows read into a ring of kh *plane rows* in scratch: the channel's values as int16, one per column
 * (padding columns and rows hold the input zero point), each input row once per channel. Any two
 * neighbouring columns are then one word, [x(m) x(m+1)], which meets the row's weights packed in pairs
 * [w0 w1] [w2 w3] [w4 w5] [w6 0] ((kw + 1) / 2 words, prepared per channel) in one SMLAD. Four neighbouring
 * outputs are computed together and share the words they read (7 taps: 10 loads and 16 SMLADs for 28
 * MACs per window row; the block routine also takes stride 2, not used: see dw_planes_apply).
 *
 * The plane holds raw input values (padding = the zero point) and the input offset is folded into the
 * bias: sum((x + offset) * w) = sum(x * w) + offset * sum(w), exact in int32; a padded tap adds
 * (zp + offset) * w = 0 as TFLite's. The channel's requantization values stay in registers for its whole
 * map; the weights and bias are doubled when the channel takes the SMMLAR form (pb_requant_x2).
 *
 * In place (pb_kernels.h's contract) the same loop works: output row oy of channel c overwrites only
 * channel c of input rows up to ((oy + 1) * out_w - 1) / in_w, which the ring already holds once the
 * row's windows are loaded (dw_planes_fit_in_place checks it row by row). */

/* Columns of one plane row: at least the last block of four outputs' reads, ((out_w - 1) & ~3) * stride +
 * 3 * stride + 2 * ((kw + 1) / 2) (the block's missing outputs computed and dropped), which the padded
 * input's width bounds ((out_w - 1) * stride + kw <= pad_left + in_w + pad_right with pads < kw, stride
 * <= 2): in_w + 2 * kw + 6, even. From in_w alone, as the planner's rule
 * (harness.codegen.kernels.depthwise_plane_bytes) knows it. */
static inline int32_t dw_plane_columns(const pb_region *r, const pb_window *w) {
    return (r->in_w + 2 * w->kernel_w + 6 + 1) & ~1;
}

/* Columns of one 3x3 plane row (dw_planes3): its blocks' reads, six columns from 4b for ceil(out_w / 4)
 * blocks, which hold the padded input's out_w + 2 columns (stride 1). Fewer than dw_plane_columns: that
 * many fit in place on a 12 x 12 tile, whose scratch (the group's weights and the ring of delayed rows,
 * pb_depthwise_conv2d_s8_inplace_dsp) holds 132 bytes, not dw_plane_columns' 180. */
static inline int32_t dw_plane3_columns(const pb_region *r) {
    return 4 * ((r->out_w + 3) / 4) + 2;
}

/* Scratch of the plane kernel: the weights (kh rows of (kw + 1) / 2 words) and the ring of kh plane rows; the
 * 3x3 kernel's ring alone (its weights are in its job; a pass of two channels takes two, dw_planes3). */
static inline int32_t dw_plane_bytes(const pb_region *r, const pb_window *w) {
    if (w->kernel_w == 3) {
        return 3 * 2 * dw_plane3_columns(r);
    }
    return 4 * w->kernel_h * ((w->kernel_w + 1) / 2) + w->kernel_h * 2 * dw_plane_columns(r, w);
}

static int32_t dw_planes_apply(const pb_region *r, const pb_window *w) {
    const int32_t k = w->kernel_w;
    /* Where the planes take fewer instructions than the group kernel (bench_kernels): 5x5 and 7x7 windows
     * on maps of at least 16 x 16 outputs (5x5 on 10 x 10 took more), 3x3 windows on 6 x 6 and more (since a
     * channel's rows run in one assembly routine: on H743, vww_96_int8's 6 x 6 x 128 layers 165,648 -> 149,408
     * instructions each, mbv2-w0.35-r144's 9 x 9 x 144 382,646 -> 316,662; with 12 x 12 the least, the 9 x 9
     * tiles of a patch stage took the group kernel where their layer took the planes): on small maps most taps
     * are padding, which the group kernel skips and a plane computes; at stride 2 (5x5 on 80 x 80: 3.29 against
     * 2.76 instructions per MAC) each output costs two plane columns to fill. PB_DEPTHWISE_PLANES=0 turns the path off (bench_kernels' "before"). */
#if defined(PB_DEPTHWISE_PLANES) && !PB_DEPTHWISE_PLANES
    return 0;
#endif
    /* A generated model compiles in only the plane kernels some call of it may take (harness.codegen.kernels.
     * kernel_path_defines: PB_DEPTHWISE_PLANES3=0 where no 3x3 call has 6 x 6 outputs, PB_DEPTHWISE_PLANES57=0
     * where no 5x5 or 7x7 call has 16 x 16); a call that would take one still runs, on the group kernel. */
#if defined(PB_DEPTHWISE_PLANES3) && !PB_DEPTHWISE_PLANES3
    if (k == 3) {
        return 0;
    }
#endif
#if defined(PB_DEPTHWISE_PLANES57) && !PB_DEPTHWISE_PLANES57
    if (k != 3) {
        return 0;
    }
#endif
    /* (harness.codegen.kernels.scratch_bytes reserves the plane rows: from 10 x 10 inputs by their width, under
     * that the 3x3 ring of in_w + 2 outputs, kernels.depthwise_plane3_bytes) */
    /* At every call of every tile, so few tests: strides and dilations are >= 1 (pb_region_check, at code
     * generation), so both strides are 1 where their sum is 2, and both dilations where theirs is. */
    const int32_t least = k == 3 ? 6 : 16;
    return r->in_c == r->out_c && w->kernel_h == k && (k == 3 || k == 5 || k == 7) && w->stride_h + w->stride_w == 2 &&
           w->dilation_h + w->dilation_w == 2 && r->pad_left < k && r->pad_right < k && r->pad_top < k &&
           r->out_w >= least && r->out_h >= least;
}

/* In place: every output row writes only input rows the ring holds by then (see above). */
static int32_t dw_planes_fit_in_place(const pb_region *r, const pb_window *w) {
    /* Under dw_planes_apply (stride 1, pad_top < kernel_h) a row no wider than the input writes input rows up to
     * ((oy + 1) * out_w - 1) / in_w <= oy, which its windows have loaded: such a call (a layer's with SAME padding,
     * most of a patch stage's tiles) fits without the loop below, a division a row (about 270 instructions a call of
     * a 27-row tile, which every tile of an in-place op pays). */
    if (r->out_w <= r->in_w) {
        return 1;
    }
    for (int32_t oy = 0; oy < r->out_h; ++oy) {
        const int32_t written = ((oy + 1) * r->out_w - 1) / r->in_w;
        const int32_t loaded = oy * w->stride_h - r->pad_top + w->kernel_h - 1;
        if (written > loaded && written < r->in_h) {
            return 0;
        }
    }
    return 1;
}

/* One window row of four neighbouring outputs (windows at columns 0, stride, 2 * stride, 3 * stride of the
 * int16 plane row p): the word at column m feeds output n with weight pair j where n * stride + 2 * j = m,
 * loaded once for all of them. With k and stride constants every test folds away. */
static PB_ALWAYS_INLINE void dw_plane_block_row(const int16_t *p, const uint32_t *wt, int32_t k, int32_t stride,
                                                int32_t acc[4]) {
    const int32_t pairs = (k + 1) / 2;
    const int32_t columns = 3 * stride + 2 * (pairs - 1) + 1;
#pragma GCC unroll 16
    for (int32_t m = 0; m < columns; ++m) {
        if (stride == 2 && (m & 1)) {
            continue;
        }
        const uint32_t x = pb_read_u32(p + m);
#pragma GCC unroll 4
        for (int32_t n = 0; n < 4; ++n) {
            const int32_t j2 = m - n * stride;
            if (j2 >= 0 && !(j2 & 1) && j2 / 2 < pairs) {
                acc[n] = pb_smlad(x, wt[j2 / 2], acc[n]);
            }
        }
    }
}

/* One channel's requantization, its values read once per channel. */
typedef struct {
    int32_t doubled;                 /* the sums are doubled: pb_requant_x2's SMMLAR form */
    int32_t multiplier, add2, shift; /* doubled: pb_channel_requant_x2's; else the channel's own */
    int32_t zero_point, act_min, act_max;
} dw_plane_requant;

/* doubled: 0 the channel's own requantization (pb_requantize_s8_fast), 1 the SMMLAR form with the
 * activation's both bounds, 2 the SMMLAR form with act_min = -128 (only the upper bound to apply). */
static PB_ALWAYS_INLINE int8_t dw_plane_out(int32_t acc, const dw_plane_requant *cq, int32_t doubled) {
    int32_t v;
    if (doubled) {
#if PB_DSP_NATIVE
        __asm__("smmlar %0, %1, %2, %3" : "=r"(v) : "r"(acc), "r"(cq->multiplier), "r"(cq->add2 + (acc >> 31)));
        v = pb_ssat8(v >> cq->shift);
#else
        const pb_channel_requant_x2 cr = {cq->multiplier, cq->add2, cq->shift};
        v = pb_ssat8(pb_requant_x2(acc >> 1, &cr)); /* the doubled sum is even: halving is exact */
#endif
        if (doubled == 2) {
            return (int8_t)(v > cq->act_max ? cq->act_max : v);
        }
        return (int8_t)clamp_act(v, cq->act_min, cq->act_max);
    }
    return pb_requantize_s8_fast(acc, cq->multiplier, cq->shift, cq->zero_point, cq->act_min, cq->act_max);
}

/* One output row of one channel in blocks of four outputs (the last block's missing ones dropped); out:
 * the row's first output of the channel, `channels` bytes between outputs. cq is a copy: the int8 stores
 * cannot change it, so its values stay in registers. */
static PB_ALWAYS_INLINE void dw_plane_row(const int16_t *const *rows, const uint32_t *weights, int32_t k,
                                          int32_t stride, int32_t out_w, int32_t bias, dw_plane_requant cq,
                                          int32_t doubled, int8_t *out, int32_t channels) {
    const int32_t words = (k + 1) / 2;
    for (int32_t ox = 0; ox < out_w; ox += 4) {
        int32_t acc[4] = {bias, bias, bias, bias};
        const int32_t at = ox * stride;
        const uint32_t *wt = weights;
        /* a loop, not unrolled: unrolled, GCC interleaves the rows and spills the accumulators */
#pragma GCC unroll 1
        for (int32_t ky = 0; ky < k; ++ky, wt += words) {
            const int16_t *p = rows[ky] + at;
            /* opaque to GCC: else it hoists the column offsets at + m out of the loop into spilled registers
             * instead of addressing [p, #2m] */
            __asm__("" : "+r"(p));
            dw_plane_block_row(p, wt, k, stride, acc);
        }
        const int32_t left = out_w - ox;
        out[0] = dw_plane_out(acc[0], &cq, doubled);
        if (left > 3) {
            out[channels] = dw_plane_out(acc[1], &cq, doubled);
            out[2 * channels] = dw_plane_out(acc[2], &cq, doubled);
            out[3 * channels] = dw_plane_out(acc[3], &cq, doubled);
        } else {
            if (left > 1) {
                out[channels] = dw_plane_out(acc[1], &cq, doubled);
            }
            if (left > 2) {
                out[2 * channels] = dw_plane_out(acc[2], &cq, doubled);
            }
        }
        out += 4 * channels;
    }
}

#define PB_DW_PLANE_ROW_INSTANCE(k, s)                                                                      \
    static PB_NOINLINE void dw_plane_row_k##k##_s##s(const int16_t *const *rows, const uint32_t *weights,    \
                                                     int32_t out_w, int32_t bias, const dw_plane_requant *cq, \
                                                     int8_t *out, int32_t channels) {                        \
        const dw_plane_requant values = *cq;                                                                 \
        if (values.doubled && values.act_min == PB_INT8_MIN) {                                               \
            dw_plane_row(rows, weights, k, s, out_w, bias, values, 2, out, channels);                        \
        } else if (values.doubled) {                                                                         \
            dw_plane_row(rows, weights, k, s, out_w, bias, values, 1, out, channels);                        \
        } else {                                                                                             \
            dw_plane_row(rows, weights, k, s, out_w, bias, values, 0, out, channels);                        \
        }                                                                                                    \
    }
PB_DW_PLANE_ROW_INSTANCE(5, 1)
PB_DW_PLANE_ROW_INSTANCE(7, 1)

/* ---- 3x3 channel planes ------------------------------------------------------------------------------
 *
 * 3x3 windows at stride 1 on the same planes: four outputs of a block (plane columns 4b .. 4b + 5) from
 * three aligned words per window row, [x0 x1] [x2 x3] [x4 x5], and two weight words, [w0 w1] and [w1 w2]:
 *   out0 = SMLAD([x0 x1], [w0 w1]) + x2 * w2 (SMLABT with [w1 w2])
 *   out1 = x1 * w0 (SMLATB)        + SMLAD([x2 x3], [w1 w2])
 *   out2 = SMLAD([x2 x3], [w0 w1]) + x4 * w2
 *   out3 = x3 * w0                 + SMLAD([x4 x5], [w1 w2])
 * 8 multiply-accumulates and 2 loads for 12 MACs a window row, where the group kernel takes 24
 * instructions (the pairing of the 5x5 / 7x7 blocks would take 6 unaligned loads and 8 SMLADs). */
typedef struct {
    /* before the routines' base (lr = &multiplier): a row's, read by one LDMDB (the rotation, PB_DW_PLANE3_NEXT, reads
     * the two before them with them) */
    int8_t *limit;          /* out from which the next output row's last window row is a padding row (or out's end) */
    int32_t out_rs;         /* bytes from one output row to the next */
    int32_t blocks;         /* the row's whole blocks of four outputs, >= 1 */
    const int16_t *rows[3]; /* the window rows' planes at the first block's column */
    int8_t *out;
    uintptr_t ret;          /* where a copy or padding row goes on (the row's blocks, or the channel start's next row) */
    int32_t multiplier, add2, shift; /* the channel's pb_channel_requant_x2 (one LDM at the base) */
    /* a row's copy, read with the three above by one LDM (dw_plane3_asm): */
    const int8_t *src;    /* the input row that goes into rows[2] before the next output row */
    int32_t in_rs;        /* bytes from one input row to the next */
    int32_t span;         /* 0, or where two channels take a pass: bytes from the first's plane row to the second's */
    int32_t passes, step; /* an input row's passes of eight values (after one to a word boundary), in_c bytes apart */
    int32_t step2, step3; /* 2 * step, 3 * step */
    uintptr_t entry;      /* where a row's copy starts (PB_DW_PLANE3_CHOOSE, at the routine's first call; 0 before):
                             last, the LDM's PC */
    int32_t bias;         /* doubled, the input offset folded in */
    uint32_t weights[6];  /* window row r: [w0 w1] at 2r, [w1 w2] at 2r + 1; doubled when the channel is */
    uint32_t act_min4, act_max4; /* act_min / act_max in each byte */
    int32_t channels;            /* bytes from one output to the next */
    uintptr_t after;      /* where a row goes after its blocks (dw_plane3_asm sets it by out_w % 4) */
    uintptr_t then;       /* where a row goes after its last out_w % 4 outputs (dw_plane3_asm sets it) */
    uint32_t zero_points; /* the input zero point in both int16 lanes */
    int32_t zero_words;   /* the words a padding row writes (a plane row's, both channels' where a pass takes two) */
    /* the call's channels (PB_DW_PLANE3_START): */
    const int32_t *table;    /* the next channel's in depthwise_plane3_table's, or NULL: the job holds the channel */
    const int32_t *table_end; /* the table's end (the call's channels run while table differs from it), or NULL */
    const int8_t *chan_in;   /* the next channel's input (its first row, padding rows not counted) */
    int8_t *chan_out;        /* its output */
    int32_t real_span;       /* out_rs times the output rows whose window rows are the input's or at the top */
    int32_t bottom_span;     /* out_rs times the other output rows (their last window rows padding, < 3) */
    int32_t pad_top;         /* the padding rows above the input (< 3) */
    int32_t chan_step;       /* the channels a pass takes: 1, or 2 where span is set */
    uintptr_t tail;          /* where a row's copy goes after its passes: its last values' count (< 8) from C,
                                their path's address from dw_plane3_asm's first call */
    int32_t pad_bytes;       /* 2 * pad_left: where the input's first column goes in a plane row */
    int32_t left;            /* the row's last out_w % 4 outputs (a block of which the rest is dropped) */
    uintptr_t second;        /* where a pass takes two channels: the second's base (its dw_plane3_second's multiplier) */
} dw_plane3_job;

/* Two channels a pass (dw_planes3 where the call's channels are even; its scratch holds two rings and this): the
 * second channel's values at the same offsets from its base (the routines' lr while its rows' blocks run) as
 * the first's in dw_plane3_job. Its plane rows are the first's plus span (one copy fills both), its output the
 * first's plus one byte. In scratch after the rings, not in dw_planes3's frame: that frame with both channels' values
 * and dw_plane3_row's under it was deeper than the deepest stack path (dw_dsp's). */
typedef struct {
    /* before the base, read by one LDMDB: with out_rs where the first's job has blocks, so that the row's values
     * (blocks, rows, out: PB_DW_PLANE3_SECOND, falling into the blocks' loop) end at the base and the rotation
     * (PB_DW_PLANE3_PAIR_NEXT) reads out_rs with the rows, where a field of its own took one LDR a row */
    int32_t out_rs;                  /* the first's */
    int32_t blocks;
    const int16_t *rows[3];
    int8_t *out;
    int32_t multiplier, add2, shift;
    uintptr_t first;                 /* the first channel's base (its job's multiplier) */
    uint32_t unused[7];              /* the first channel's copy values (in_rs .. entry) */
    int32_t bias;
    uint32_t weights[6];
    uint32_t act_min4, act_max4;
    int32_t channels;
    uintptr_t after, then;
} dw_plane3_second;

/* The four sums of the block at rows[r] + 4b (the C twin of the assembly below, and the host's). */
static PB_ALWAYS_INLINE void dw_plane3_sums(const dw_plane3_job *job, int32_t b, int32_t bias, int32_t acc[4]) {
    int32_t a0 = bias, a1 = bias, a2 = bias, a3 = bias;
    for (int32_t r = 0; r < 3; ++r) {
        const int16_t *p = job->rows[r] + 4 * b;
        const uint32_t x01 = pb_read_u32(p), x23 = pb_read_u32(p + 2), x45 = pb_read_u32(p + 4);
        const uint32_t w01 = job->weights[2 * r], w12 = job->weights[2 * r + 1];
        a0 = pb_smlabt(x23, w12, pb_smlad(x01, w01, a0));
        a1 = pb_smlad(x23, w12, pb_smlatb(x01, w01, a1));
        a2 = pb_smlabt(x45, w12, pb_smlad(x23, w01, a2));
        a3 = pb_smlad(x45, w12, pb_smlatb(x23, w01, a3));
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* Four values of one channel (src, s1 bytes apart; s2 = 2 * s1, s3 = 3 * s1) as two words of int16 pairs in a and b,
 * src stepped past them (dw_plane3_asm's loop of eight stores two such by one STM); PB_PLANE_COPY_FOUR_OF stores them
 * at dst, stepped past them (dw_plane_copy and dw_plane3_asm's last values). */
#define PB_PLANE_WIDEN_FOUR_OF(a, b, t, src, s1, s2, s3)                                                     \
    "ldrsb   " a ", [" src "]\n"                                                                              \
    "ldrsb   " t ", [" src ", " s1 "]\n"                                                                      \
    "pkhbt   " a ", " a ", " t ", lsl #16\n"                                                                  \
    "ldrsb   " b ", [" src ", " s2 "]\n"                                                                      \
    "ldrsb   " t ", [" src ", " s3 "]\n"                                                                      \
    "pkhbt   " b ", " b ", " t ", lsl #16\n"                                                                  \
    "add     " src ", " src ", " s2 ", lsl #1\n"
#define PB_PLANE_COPY_FOUR_OF(a, b, t, src, dst, s1, s2, s3)                                                  \
    PB_PLANE_WIDEN_FOUR_OF(a, b, t, src, s1, s2, s3)                                                          \
    "strd    " a ", " b ", [" dst "], #8\n"

#if PB_DSP_NATIVE
/* A channel's output rows in one assembly routine, each row's blocks in one loop: r1-r3 the window rows, r12 the
 * output, r0 the blocks left, lr the job's base (at its multiplier: the row's values before it, read by LDMDB, the
 * requantization values and a row's copy from it by LDM; offsets from it in the assembly), r4-r7 the sums (the first window row's multiply-accumulates start
 * from the bias in r7, the last sum that row writes), r8-r11 the input and weight words and then the
 * requantization values (pb_requant_x2 + SSAT, requant4_doubled's instructions). 60 instructions a block of 36
 * MACs with the full int8 range; the clamping instances pack the four outputs and clamp them by SSUB8/SEL as
 * clamp_bytes (act_max alone 9 more, both bounds 11). A row's last out_w % 4 outputs are the first three, two or
 * one outputs of one more block after the loop: their reads past out_w + 2 columns read the plane row's spare
 * columns (dw_plane3_columns), and a tile's row (out_w 13, 26, 39: rarely a multiple of four) costs no second
 * call and no copy out of a word (where the row of a whole layer, a multiple of four, pays the LDR and CBNZ). */
#define PB_DW_PLANE3_ROW(row, offset, s0, s1, s2, s3)                                                        \
    "ldrd    r10, r11, [lr, #" offset "]\n"                                                                  \
    "ldrd    r8, r9, [" row "], #8\n"                                                                        \
    "smlad   r4, r8, r10, " s0 "\n"                                                                          \
    "smlatb  r5, r8, r10, " s1 "\n"                                                                          \
    "ldr     r8, [" row "]\n"                                                                                \
    "smlabt  r4, r9, r11, r4\n"                                                                              \
    "smlad   r5, r9, r11, r5\n"                                                                              \
    "smlad   r6, r9, r10, " s2 "\n"                                                                          \
    "smlatb  r7, r9, r10, " s3 "\n"                                                                          \
    "smlabt  r6, r8, r11, r6\n"                                                                              \
    "smlad   r7, r8, r11, r7\n"
#define PB_DW_PLANE3_REQUANT(a)                                                                              \
    "add     r11, r9, " a ", asr #31\n"                                                                      \
    "smmlar  " a ", " a ", r8, r11\n"                                                                        \
    "asr     " a ", " a ", r10\n"                                                                            \
    "ssat    " a ", #8, " a "\n"
/* one block's four requantized outputs in r4-r7 */
#define PB_DW_PLANE3_BLOCK                                                                                   \
    "ldr     r7, [lr, #44]\n"                                                                                \
    PB_DW_PLANE3_ROW("r1", "48", "r7", "r7", "r7", "r7")                                                     \
    PB_DW_PLANE3_ROW("r2", "56", "r4", "r5", "r6", "r7")                                                     \
    PB_DW_PLANE3_ROW("r3", "64", "r4", "r5", "r6", "r7")                                                     \
    "ldm     lr, {r8, r9, r10}\n"                                                                            \
    PB_DW_PLANE3_REQUANT("r4") PB_DW_PLANE3_REQUANT("r5") PB_DW_PLANE3_REQUANT("r6") PB_DW_PLANE3_REQUANT("r7")
/* A row's last out_w % 4 outputs, three or two: the first of a block (outputs 3 and 2's multiply-accumulates and
 * requantization left out; x45 is only read by outputs 2 and 3), 10 and 23 instructions fewer than the whole block:
 * a tile's rows (out_w 13, 26, 29, 39: rarely a multiple of four) pay little more for their last outputs than
 * proportionally (one last output: PB_DW_PLANE3_BLOCK5). */
#define PB_DW_PLANE3_ROW3(row, offset, s0, s1, s2)                                                           \
    "ldrd    r10, r11, [lr, #" offset "]\n"                                                                  \
    "ldrd    r8, r9, [" row "]\n"                                                                            \
    "smlad   r4, r8, r10, " s0 "\n"                                                                          \
    "smlatb  r5, r8, r10, " s1 "\n"                                                                          \
    "ldr     r8, [" row ", #8]\n"                                                                            \
    "smlabt  r4, r9, r11, r4\n"                                                                              \
    "smlad   r5, r9, r11, r5\n"                                                                              \
    "smlad   r6, r9, r10, " s2 "\n"                                                                          \
    "smlabt  r6, r8, r11, r6\n"
#define PB_DW_PLANE3_BLOCK3                                                                                  \
    "ldr     r6, [lr, #44]\n"                                                                                \
    PB_DW_PLANE3_ROW3("r1", "48", "r6", "r6", "r6")                                                          \
    PB_DW_PLANE3_ROW3("r2", "56", "r4", "r5", "r6")                                                          \
    PB_DW_PLANE3_ROW3("r3", "64", "r4", "r5", "r6")                                                          \
    "ldm     lr, {r8, r9, r10}\n"                                                                            \
    PB_DW_PLANE3_REQUANT("r4") PB_DW_PLANE3_REQUANT("r5") PB_DW_PLANE3_REQUANT("r6")
#define PB_DW_PLANE3_HALF_ROW(row, offset, s0, s1)                                                           \
    "ldrd    r10, r11, [lr, #" offset "]\n"                                                                  \
    "ldrd    r8, r9, [" row "]\n"                                                                            \
    "smlad   r4, r8, r10, " s0 "\n"                                                                          \
    "smlatb  r5, r8, r10, " s1 "\n"                                                                          \
    "smlabt  r4, r9, r11, r4\n"                                                                              \
    "smlad   r5, r9, r11, r5\n"
#define PB_DW_PLANE3_HALF_BLOCK                                                                              \
    "ldr     r5, [lr, #44]\n"                                                                                \
    PB_DW_PLANE3_HALF_ROW("r1", "48", "r5", "r5")                                                            \
    PB_DW_PLANE3_HALF_ROW("r2", "56", "r4", "r5")                                                            \
    PB_DW_PLANE3_HALF_ROW("r3", "64", "r4", "r5")                                                            \
    "ldm     lr, {r8, r9, r10}\n"                                                                            \
    PB_DW_PLANE3_REQUANT("r4") PB_DW_PLANE3_REQUANT("r5")
/* A row of out_w % 4 = 1 (a tile's 13, 17, 29: its last output alone took 19 instructions, four more than a block's
 * output, for its block's bias, weights and requantization values): its last full block takes that output too, as
 * a fifth sum in r0 (free after the loop) from the words the block reads, x45 and one more, x67 (x6 is column
 * out_w + 1, the padded input's last), 13 instructions more than the block; the loop runs the row's other blocks
 * (blocks one fewer, from dw_plane3_asm's first call: at least one, such rows are 9 outputs and more). */
#define PB_DW_PLANE3_ROW5(row, offset, s0, s1, s2, s3, s4)                                                   \
    "ldrd    r10, r11, [lr, #" offset "]\n"                                                                  \
    "ldrd    r8, r9, [" row "], #8\n"                                                                        \
    "smlad   r4, r8, r10, " s0 "\n"                                                                          \
    "smlatb  r5, r8, r10, " s1 "\n"                                                                          \
    "ldr     r8, [" row "]\n"                                                                                \
    "smlad   r0, r8, r10, " s4 "\n"                                                                          \
    "smlabt  r4, r9, r11, r4\n"                                                                              \
    "smlad   r5, r9, r11, r5\n"                                                                              \
    "smlad   r6, r9, r10, " s2 "\n"                                                                          \
    "smlatb  r7, r9, r10, " s3 "\n"                                                                          \
    "ldr     r9, [" row ", #4]\n"                                                                            \
    "smlabt  r6, r8, r11, r6\n"                                                                              \
    "smlad   r7, r8, r11, r7\n"                                                                              \
    "smlabt  r0, r9, r11, r0\n"
#define PB_DW_PLANE3_BLOCK5                                                                                  \
    "ldr     r7, [lr, #44]\n"                                                                                \
    PB_DW_PLANE3_ROW5("r1", "48", "r7", "r7", "r7", "r7", "r7")                                              \
    PB_DW_PLANE3_ROW5("r2", "56", "r4", "r5", "r6", "r7", "r0")                                              \
    PB_DW_PLANE3_ROW5("r3", "64", "r4", "r5", "r6", "r7", "r0")                                              \
    "ldm     lr, {r8, r9, r10}\n"                                                                            \
    PB_DW_PLANE3_REQUANT("r4") PB_DW_PLANE3_REQUANT("r5") PB_DW_PLANE3_REQUANT("r6") PB_DW_PLANE3_REQUANT("r7")  \
        PB_DW_PLANE3_REQUANT("r0")
#define PB_DW_PLANE3_STORE_EACH                                                                              \
    "ldr     r10, [lr, #80]\n"                                                                               \
    "strb    r4, [r12]\n"                                                                                    \
    "strb    r5, [r12, r10]\n"                                                                               \
    "strb    r6, [r12, r10, lsl #1]\n"                                                                       \
    "add     r12, r12, r10, lsl #1\n"                                                                        \
    "strb    r7, [r12, r10]\n"                                                                               \
    "add     r12, r12, r10, lsl #1\n"
/* the first three, two or one of r4-r6 */
#define PB_DW_PLANE3_STORE_EACH3                                                                             \
    "ldr     r10, [lr, #80]\n"                                                                               \
    "strb    r4, [r12]\n"                                                                                    \
    "strb    r5, [r12, r10]\n"                                                                               \
    "strb    r6, [r12, r10, lsl #1]\n"
#define PB_DW_PLANE3_STORE_EACH2                                                                             \
    "ldr     r10, [lr, #80]\n"                                                                               \
    "strb    r4, [r12]\n"                                                                                    \
    "strb    r5, [r12, r10]\n"
#define PB_DW_PLANE3_STORE_EACH1 "strb    r4, [r12]\n"
#define PB_DW_PLANE3_PACK                                                                                    \
    "bfi     r4, r5, #8, #8\n"                                                                               \
    "bfi     r4, r6, #16, #8\n"                                                                              \
    "bfi     r4, r7, #24, #8\n"                                                                              \
    "ldrd    r8, r9, [lr, #72]\n"
#define PB_DW_PLANE3_MIN "ssub8   r10, r4, r8\n" "sel     r4, r4, r8\n"
#define PB_DW_PLANE3_MAX "ssub8   r10, r4, r9\n" "sel     r4, r9, r4\n"
#define PB_DW_PLANE3_STORE_PACKED                                                                            \
    "ldr     r10, [lr, #80]\n"                                                                               \
    "strb    r4, [r12]\n"                                                                                    \
    "lsr     r11, r4, #8\n"                                                                                  \
    "strb    r11, [r12, r10]\n"                                                                              \
    "lsr     r11, r4, #16\n"                                                                                 \
    "strb    r11, [r12, r10, lsl #1]\n"                                                                      \
    "add     r12, r12, r10, lsl #1\n"                                                                        \
    "lsr     r11, r4, #24\n"                                                                                 \
    "strb    r11, [r12, r10]\n"                                                                              \
    "add     r12, r12, r10, lsl #1\n"
/* the first three, two or one bytes of r4 (PACK3 and PACK2 put the outputs computed into r4; its other bytes are
 * clamped and not stored) */
#define PB_DW_PLANE3_PACK3                                                                                   \
    "bfi     r4, r5, #8, #8\n"                                                                               \
    "bfi     r4, r6, #16, #8\n"                                                                              \
    "ldrd    r8, r9, [lr, #72]\n"
#define PB_DW_PLANE3_PACK2                                                                                   \
    "bfi     r4, r5, #8, #8\n"                                                                               \
    "ldrd    r8, r9, [lr, #72]\n"
#define PB_DW_PLANE3_PACK1 "ldrd    r8, r9, [lr, #72]\n"
#define PB_DW_PLANE3_STORE_PACKED3                                                                           \
    "ldr     r10, [lr, #80]\n"                                                                               \
    "strb    r4, [r12]\n"                                                                                    \
    "lsr     r11, r4, #8\n"                                                                                  \
    "strb    r11, [r12, r10]\n"                                                                              \
    "lsr     r11, r4, #16\n"                                                                                 \
    "strb    r11, [r12, r10, lsl #1]\n"
#define PB_DW_PLANE3_STORE_PACKED2                                                                           \
    "ldr     r10, [lr, #80]\n"                                                                               \
    "strb    r4, [r12]\n"                                                                                    \
    "lsr     r11, r4, #8\n"                                                                                  \
    "strb    r11, [r12, r10]\n"
#define PB_DW_PLANE3_STORE_PACKED1 "strb    r4, [r12]\n"
/* Before each output row, the next input row into rows[2] from column pad_left, as int16 (dw_plane_copy's loops:
 * eight values a pass, then four, two and one, after one to a word boundary where pad_left is odd), or the zero point
 * throughout (a padding row, PB_DW_PLANE3_ZERO_ROW). The row's values are read by one LDM from the base (the three
 * requantization values into r0-r2, unused, then src, in_rs, span, passes and one, two, three steps, and last the
 * copy's entry into PC: the LDM is the jump, and each entry steps src on, PB_DW_PLANE3_COPY_NEXT_SRC, where a BX
 * after the LDM took one instruction a row more); r8 the plane row (from the rotation), stepped by the stores; r3 the
 * input, r7 the passes left, r9 / r10 / r11 one, two, three steps. Where a row's values start (at pad_left 0 the loop
 * of eight or, under eight, the last values; at 1 one value to the next word first; at 2 a word on) and which of the
 * last values' paths follows the loop are the same for every row and channel of a call: the routine chooses them at
 * its first call (entry, and tail from the count C leaves in it), so a row's copy branches to them (LDM, LDR PC)
 * where a test of the plane column's alignment, the loop's count and a TBB on the values left took six instructions a
 * row, the test of the input rows left two more (the rows at the bottom that are padding start at the output
 * `limit`, tested by PB_DW_PLANE3_NEXT), and the plane row's first column one (an ADD of pad_bytes: a tile's rows
 * without padding on the left, which a layer's rows with SAME padding never are, start at the plane row). A copy ends
 * by LDR PC from ret: the row's blocks, or the channel start's next row. */
#define PB_DW_PLANE3_COPY_FOUR PB_PLANE_COPY_FOUR_OF("r4", "r5", "r6", "r3", "r8", "r9", "r10", "r11")
/* A row's last four or two values: the input pointer is not stepped past them (dead after the copy: its end reloads
 * r3), a value after them read at its offset, two or four steps on (one instruction a row fewer, on every row with
 * two or more values after its passes). */
#define PB_DW_PLANE3_COPY_FOUR_LAST                                                                          \
    "ldrsb   r4, [r3]\n"                                                                                     \
    "ldrsb   r6, [r3, r9]\n"                                                                                 \
    "pkhbt   r4, r4, r6, lsl #16\n"                                                                          \
    "ldrsb   r5, [r3, r10]\n"                                                                                \
    "ldrsb   r6, [r3, r11]\n"                                                                                \
    "pkhbt   r5, r5, r6, lsl #16\n"                                                                          \
    "strd    r4, r5, [r8], #8\n"
#define PB_DW_PLANE3_COPY_TWO_LAST                                                                           \
    "ldrsb   r4, [r3]\n"                                                                                     \
    "ldrsb   r6, [r3, r9]\n"                                                                                 \
    "pkhbt   r4, r4, r6, lsl #16\n"                                                                          \
    "str     r4, [r8], #4\n"
/* pad_left 1: the input's first value into the plane's column 1, then on from column 2 (a word boundary) */
#define PB_DW_PLANE3_COPY_ONE_FIRST                                                                          \
    "ldrsb   r4, [r3]\n"                                                                                     \
    "add     r3, r3, r9\n"                                                                                   \
    "strh    r4, [r8, #2]\n"                                                                                 \
    "add     r8, r8, #4\n"
#define PB_DW_PLANE3_COPY                                                                                    \
    "0:\n"                                                                                                   \
    "ldm     lr, {r0, r1, r2, r3, r5, r6, r7, r9, r10, r11, pc}\n"
/* each entry's first: the next row's input (src + in_rs) into the job, r3 the row's */
#define PB_DW_PLANE3_COPY_NEXT_SRC                                                                           \
    "add     r5, r3, r5\n"                                                                                   \
    "str     r5, [lr, #12]\n"
/* The copy's entries and last values (one channel a pass; a pair's: PB_DW_PLANE3_PAIR_COPY) and their addresses
 * (PB_DW_PLANE3_PATHS) are in dw_plane3_asm_sat alone: the three instances reach them by address (a row's entry by
 * the copy's LDM into PC, its last values' path by LDR PC, from the job) and leave them by LDMDB from the job (ret),
 * so one copy serves the three (about 1 kB of flash less). */
#define PB_DW_PLANE3_COPIES                                                                                  \
    "75:\n"                                                                                                  \
    PB_DW_PLANE3_COPY_NEXT_SRC                                                                               \
    "ldr     pc, [lr, #132]\n"                                                                               \
    "73:\n"                                                                                                  \
    PB_DW_PLANE3_COPY_NEXT_SRC                                                                               \
    "add     r8, r8, #4\n"                                                                                   \
    "b       5f\n"                                                                                           \
    "70:\n"                                                                                                  \
    PB_DW_PLANE3_COPY_NEXT_SRC                                                                               \
    "b       5f\n"                                                                                           \
    "71:\n"                                                                                                  \
    PB_DW_PLANE3_COPY_NEXT_SRC                                                                               \
    PB_DW_PLANE3_COPY_ONE_FIRST                                                                              \
    "5:\n"                                                                                                   \
    PB_PLANE_WIDEN_FOUR_OF("r0", "r2", "r6", "r3", "r9", "r10", "r11")                                       \
    PB_PLANE_WIDEN_FOUR_OF("r4", "r5", "r6", "r3", "r9", "r10", "r11")                                       \
    "stm     r8!, {r0, r2, r4, r5}\n"                                                                        \
    "subs    r7, r7, #1\n"                                                                                   \
    "bne     5b\n"                                                                                           \
    "ldr     pc, [lr, #132]\n"                                                                               \
    "74:\n"                                                                                                  \
    PB_DW_PLANE3_COPY_NEXT_SRC                                                                               \
    "add     r8, r8, #4\n"                                                                                   \
    "ldr     pc, [lr, #132]\n"                                                                               \
    "72:\n"                                                                                                  \
    PB_DW_PLANE3_COPY_NEXT_SRC                                                                               \
    PB_DW_PLANE3_COPY_ONE_FIRST                                                                              \
    "ldr     pc, [lr, #132]\n"                                                                               \
    "67:\n"                                                                                                  \
    PB_DW_PLANE3_COPY_FOUR                                                                                   \
    PB_DW_PLANE3_COPY_TWO_LAST                                                                               \
    "ldrsb   r4, [r3, r10]\n"                                                                                \
    "strh    r4, [r8]\n"                                                                                     \
    "ldmdb   lr, {r0, r1, r2, r3, r12, pc}\n"                                                                \
    "66:\n"                                                                                                  \
    PB_DW_PLANE3_COPY_FOUR                                                                                   \
    PB_DW_PLANE3_COPY_TWO_LAST                                                                               \
    "ldmdb   lr, {r0, r1, r2, r3, r12, pc}\n"                                                                \
    "65:\n"                                                                                                  \
    PB_DW_PLANE3_COPY_FOUR_LAST                                                                              \
    "ldrsb   r4, [r3, r9, lsl #2]\n"                                                                         \
    "strh    r4, [r8]\n"                                                                                     \
    "ldmdb   lr, {r0, r1, r2, r3, r12, pc}\n"                                                                \
    "64:\n"                                                                                                  \
    PB_DW_PLANE3_COPY_FOUR_LAST                                                                              \
    "ldmdb   lr, {r0, r1, r2, r3, r12, pc}\n"                                                                \
    "63:\n"                                                                                                  \
    PB_DW_PLANE3_COPY_TWO_LAST                                                                               \
    "ldrsb   r4, [r3, r10]\n"                                                                                \
    "strh    r4, [r8]\n"                                                                                     \
    "ldmdb   lr, {r0, r1, r2, r3, r12, pc}\n"                                                                \
    "62:\n"                                                                                                  \
    PB_DW_PLANE3_COPY_TWO_LAST                                                                               \
    "ldmdb   lr, {r0, r1, r2, r3, r12, pc}\n"                                                                \
    "61:\n"                                                                                                  \
    "ldrsb   r4, [r3]\n"                                                                                     \
    "strh    r4, [r8]\n"                                                                                     \
    "ldmdb   lr, {r0, r1, r2, r3, r12, pc}\n"                                                                \
    "60:\n"                                                                                                  \
    "ldmdb   lr, {r0, r1, r2, r3, r12, pc}\n"
/* four pixels of both channels: [a0 a1] [a2 a3] at r8, [b0 b1] [b2 b3] at r12, the input stepped past them */
#define PB_DW_PLANE3_PAIR_FOUR                                                                               \
    "ldrh    r0, [r3]\n"                                                                                     \
    "ldrh    r1, [r3, r9]\n"                                                                                 \
    "ldrh    r2, [r3, r10]\n"                                                                                \
    "ldrh    r4, [r3, r11]\n"                                                                                \
    "add     r3, r3, r10, lsl #1\n"                                                                          \
    "pkhbt   r0, r0, r1, lsl #16\n"                                                                          \
    "pkhbt   r2, r2, r4, lsl #16\n"                                                                          \
    "sxtb16  r1, r0\n"                                                                                       \
    "sxtb16  r4, r2\n"                                                                                       \
    "sxtb16  r0, r0, ror #8\n"                                                                               \
    "sxtb16  r2, r2, ror #8\n"                                                                               \
    "strd    r1, r4, [r8], #8\n"                                                                             \
    "strd    r0, r2, [r12], #8\n"
/* two pixels of both channels: [a0 a1] at r8, [b0 b1] at r12 */
#define PB_DW_PLANE3_PAIR_TWO                                                                                \
    "ldrh    r0, [r3]\n"                                                                                     \
    "ldrh    r1, [r3, r9]\n"                                                                                 \
    "add     r3, r3, r10\n"                                                                                  \
    "pkhbt   r0, r0, r1, lsl #16\n"                                                                          \
    "sxtb16  r1, r0\n"                                                                                       \
    "sxtb16  r0, r0, ror #8\n"                                                                               \
    "str     r1, [r8], #4\n"                                                                                 \
    "str     r0, [r12], #4\n"
/* pad_left 1: a pixel's two values into their plane rows' column 1, then on from column 2 (a word boundary) */
#define PB_DW_PLANE3_PAIR_ONE_FIRST                                                                          \
    "ldrh    r0, [r3]\n"                                                                                     \
    "add     r3, r3, r9\n"                                                                                   \
    "sxtb    r1, r0\n"                                                                                       \
    "sxtb    r0, r0, ror #8\n"                                                                               \
    "strh    r1, [r8, #2]\n"                                                                                 \
    "strh    r0, [r12, #2]\n"                                                                                \
    "add     r8, r8, #4\n"                                                                                   \
    "add     r12, r12, #4\n"
/* Two channels' copy (span set: the call's channels are even and a pass takes two): one LDRH reads both channels'
 * values of a pixel, two pixels' halfwords packed (PKHBT) hold [a0 b0 a1 b1], and SXTB16 makes [a0 a1] and, rotated
 * by a byte, [b0 b1]: four pixels in 13 instructions (LDRH, PKHBT, SXTB16, STRD) where the copy of one channel takes
 * 7 for four values (LDRSB, PKHBT, STRD). The first channel's plane row at r8, the second's at r12 = r8 + span (its
 * ring's rows follow the first's: a padding row writes both, PB_DW_PLANE3_ZERO_ROW); the same entries (by pad_left,
 * and the rows under a pass of eight) and the last values' paths by their count (0 to 7, 79), each stepping the
 * input past its values. */
#define PB_DW_PLANE3_PAIR_COPY                                                                           \
    "84:\n"                                                                                                  \
    PB_DW_PLANE3_COPY_NEXT_SRC                                                                               \
    "add     r8, r8, #4\n"                                                                                   \
    "add     r12, r8, r6\n"                                                                                  \
    "ldr     pc, [lr, #132]\n"                                                                               \
    "83:\n"                                                                                                  \
    PB_DW_PLANE3_COPY_NEXT_SRC                                                                               \
    "add     r12, r8, r6\n"                                                                                  \
    "ldr     pc, [lr, #132]\n"                                                                               \
    "85:\n"                                                                                                  \
    PB_DW_PLANE3_COPY_NEXT_SRC                                                                               \
    "add     r12, r8, r6\n"                                                                                  \
    PB_DW_PLANE3_PAIR_ONE_FIRST                                                                              \
    "ldr     pc, [lr, #132]\n"                                                                               \
    "86:\n"                                                                                                  \
    PB_DW_PLANE3_COPY_NEXT_SRC                                                                               \
    "add     r12, r8, r6\n"                                                                                  \
    PB_DW_PLANE3_PAIR_ONE_FIRST                                                                              \
    "b       82f\n"                                                                                          \
    "87:\n"                                                                                                  \
    PB_DW_PLANE3_COPY_NEXT_SRC                                                                               \
    "add     r8, r8, #4\n"                                                                                   \
    "add     r12, r8, r6\n"                                                                                  \
    "b       82f\n"                                                                                          \
    "88:\n"                                                                                                  \
    PB_DW_PLANE3_COPY_NEXT_SRC                                                                               \
    "add     r12, r8, r6\n"                                                                                  \
    "82:\n"                                                                                                  \
    PB_DW_PLANE3_PAIR_FOUR                                                                                   \
    PB_DW_PLANE3_PAIR_FOUR                                                                                   \
    "subs    r7, r7, #1\n"                                                                                   \
    "bne     82b\n"                                                                                          \
    "ldr     pc, [lr, #132]\n"                                                                               \
    "97:\n"                                                                                                  \
    PB_DW_PLANE3_PAIR_FOUR                                                                                   \
    "93:\n"                                                                                                  \
    PB_DW_PLANE3_PAIR_TWO                                                                                    \
    "91:\n"                                                                                                  \
    "ldrh    r0, [r3]\n"                                                                                     \
    "sxtb    r1, r0\n"                                                                                       \
    "sxtb    r0, r0, ror #8\n"                                                                               \
    "strh    r1, [r8]\n"                                                                                     \
    "strh    r0, [r12]\n"                                                                                    \
    "90:\n"                                                                                                  \
    "ldmdb   lr, {r0, r1, r2, r3, r12, pc}\n"                                                                \
    "96:\n"                                                                                                  \
    PB_DW_PLANE3_PAIR_FOUR                                                                                   \
    "92:\n"                                                                                                  \
    PB_DW_PLANE3_PAIR_TWO                                                                                    \
    "ldmdb   lr, {r0, r1, r2, r3, r12, pc}\n"                                                                \
    "95:\n"                                                                                                  \
    PB_DW_PLANE3_PAIR_FOUR                                                                                   \
    "b       91b\n"                                                                                          \
    "94:\n"                                                                                                  \
    PB_DW_PLANE3_PAIR_FOUR                                                                                   \
    "ldmdb   lr, {r0, r1, r2, r3, r12, pc}\n"
/* A pair's first channel's row done: the second's blocks (its values at its base, dw_plane3_second; its row's
 * values end at the base, so the code falls into the blocks' loop) */
#define PB_DW_PLANE3_SECOND                                                                              \
    "81:\n"                                                                                                  \
    "ldr     lr, [lr, #144]\n"                                                                               \
    "ldmdb   lr, {r0, r1, r2, r3, r12}\n"
/* A pair's second channel's row done: its rows rotate and its output moves a row (out_rs read with them, first in
 * its row values), then the first's (PB_DW_PLANE3_NEXT, which the code falls into) */
#define PB_DW_PLANE3_PAIR_ROTATE                                                                             \
    "ldmdb   lr, {r7, r8, r9, r10, r11, r12}\n"                                                              \
    "add     r12, r12, r7\n"                                                                                 \
    "strd    r10, r11, [lr, #-16]\n"                                                                         \
    "strd    r9, r12, [lr, #-8]\n"                                                                           \
    "ldr     lr, [lr, #12]\n"
#define PB_DW_PLANE3_PAIR_NEXT                                                                               \
    "80:\n"                                                                                                  \
    PB_DW_PLANE3_PAIR_ROTATE
/* A pair's second channel's last out_w % 4 outputs where they are three (53's code, falling into 80) or two (54's,
 * followed by 80 and 20's code: the pair's rotation and the next row, on by the copy's BLO or to 24), in
 * dw_plane3_asm_sat, where its row went on by the last outputs' LDR PC (then): one instruction less on each pair's row
 * whose out_w % 4 is 3 or 2 (nearly every row of a patch stage's tiles; a layer's rows only in its few narrow maps
 * that are not multiples of 4). 0.4 kB, in the instance the default models use alone; one output (55's code, the
 * largest: 0.3 kB more) and the clamping instances' second channel keep 53 / 54 / 55 and then (80). */
#define PB_DW_PLANE3_PAIR_LAST3                                                                              \
    "50:\n"                                                                                                  \
    PB_DW_PLANE3_BLOCK3                                                                                      \
    PB_DW_PLANE3_STORE_EACH3
#define PB_DW_PLANE3_PAIR_LAST2                                                                              \
    "51:\n"                                                                                                  \
    PB_DW_PLANE3_HALF_BLOCK                                                                                  \
    PB_DW_PLANE3_STORE_EACH2                                                                                 \
    PB_DW_PLANE3_PAIR_ROTATE                                                                                 \
    PB_DW_PLANE3_NEXT                                                                                        \
    "b       24b\n"
/* The copy's choices, made at the routine's first call of a job (entry 0; the C code's count of the last values in
 * tail becomes their path's address), and where a row goes after its blocks (after, by left; at 1 the last full
 * block is PB_DW_PLANE3_BLOCK5's, one fewer in the loop) and after its last outputs (then): the next row (20). Where
 * two channels take a pass (span set), the first channel's row goes on to the second's (81) and the second's to the
 * next row (80), and the copy's paths are the pair's; the second's after is last3 / last2 / last1 by left (the
 * instance's paths of its last outputs: PB_DW_PLANE3_PAIR_LAST3 / _LAST2 in dw_plane3_asm_sat, 53 / 54 / 55 else).
 * The entry from PB_DW_PLANE3_PATHS by pad_left (pad_bytes / 2) and whether the row has a pass of eight (3 more). */
#define PB_DW_PLANE3_CHOOSE(last3, last2, last1)                                                             \
    "ldr     r4, [lr, #140]\n"                                                                               \
    "adr.w   r0, 20b\n"                                                                                      \
    "cbz     r4, 41f\n"                                                                                      \
    "cmp     r4, #2\n"                                                                                       \
    "adr.w   r0, 53b\n"                                                                                      \
    "bgt     41f\n"                                                                                          \
    "adr.w   r0, 54b\n"                                                                                      \
    "beq     41f\n"                                                                                          \
    "adr.w   r0, 55b\n"                                                                                      \
    "ldr     r1, [lr, #-24]\n"                                                                               \
    "sub     r1, r1, #1\n"                                                                                   \
    "str     r1, [lr, #-24]\n"                                                                               \
    "41:\n"                                                                                                  \
    "orr     r0, r0, #1\n"                                                                                   \
    "str     r0, [lr, #84]\n"                                                                                \
    "adr.w   r1, 20b + 1\n"                                                                                  \
    "str     r1, [lr, #88]\n"                                                                                \
    "ldr     r2, [lr, #136]\n"                                                                               \
    "ldr     r3, [lr, #24]\n"                                                                                \
    "cmp     r3, #0\n"                                                                                       \
    "it      ne\n"                                                                                           \
    "addne   r2, r2, #6\n"                                                                                   \
    "ldr     r5, [lr, #132]\n"                                                                               \
    "movw    r1, #:lower16:.Lpb_dw_plane3_paths\n"                                                           \
    "movt    r1, #:upper16:.Lpb_dw_plane3_paths\n"                                                           \
    "ldr     r3, [lr, #20]\n"                                                                                \
    "cbz     r3, 45f\n"                                                                                      \
    "add     r1, r1, #56\n"                                                                                  \
    "adr.w   r6, 81b + 1\n"                                                                                  \
    "adr.w   r7, 80b + 1\n"                                                                                  \
    "str     r6, [lr, #88]\n"                                                                                \
    "ldr     r3, [lr, #144]\n"                                                                               \
    "str     r7, [r3, #88]\n"                                                                                \
    "adr.w   r8, " last3 "\n"                                                                                \
    "cmp     r4, #2\n"                                                                                       \
    "bgt     42f\n"                                                                                          \
    "adr.w   r8, " last2 "\n"                                                                                \
    "beq     42f\n"                                                                                          \
    "adr.w   r8, " last1 "\n"                                                                                \
    "42:\n"                                                                                                  \
    "orr     r8, r8, #1\n"                                                                                   \
    "str     r8, [r3, #84]\n"                                                                                \
    "cbnz    r4, 45f\n"                                                                                      \
    "str     r6, [lr, #84]\n"                                                                                \
    "str     r7, [r3, #84]\n"                                                                                \
    "45:\n"                                                                                                  \
    "ldr     r4, [r1, r5, lsl #2]\n"                                                                         \
    "str     r4, [lr, #132]\n"                                                                               \
    "add     r1, r1, #32\n"                                                                                  \
    "ldr     r0, [r1, r2, lsl #1]\n"                                                                         \
    "str     r0, [lr, #40]\n"
/* The copy's paths as LDR PC and the copy's LDM take them (Thumb): one channel's last values by their count (0 to 7), its
 * entries by pad_left 0, 1, 2 without a pass of eight and then with one; then the pair's, the same way. */
#define PB_DW_PLANE3_PATHS                                                                                   \
    ".p2align 2\n"                                                                                           \
    ".Lpb_dw_plane3_paths:\n"                                                                                \
    ".word   60b + 1, 61b + 1, 62b + 1, 63b + 1, 64b + 1, 65b + 1, 66b + 1, 67b + 1\n"                       \
    ".word   75b + 1, 72b + 1, 74b + 1, 70b + 1, 71b + 1, 73b + 1\n"                                         \
    ".word   90b + 1, 91b + 1, 92b + 1, 93b + 1, 94b + 1, 95b + 1, 96b + 1, 97b + 1\n"                       \
    ".word   83b + 1, 85b + 1, 84b + 1, 88b + 1, 86b + 1, 87b + 1\n"
/* a padding row, into the plane row at r8: zero_words words (a plane row's, 2 * ceil(out_w / 4) + 1: odd; a pair's
 * two rows, which follow each other: even), a word first where odd, then two a pass; then on as a copy */
#define PB_DW_PLANE3_ZERO_ROW                                                                                \
    "21:\n"                                                                                                  \
    "ldrd    r4, r2, [lr, #92]\n"                                                                            \
    "lsrs    r2, r2, #1\n"                                                                                   \
    "it      cs\n"                                                                                           \
    "strcs   r4, [r8], #4\n"                                                                                 \
    "22:\n"                                                                                                  \
    "strd    r4, r4, [r8], #8\n"                                                                             \
    "subs    r2, r2, #1\n"                                                                                   \
    "bne     22b\n"                                                                                          \
    "ldmdb   lr, {r0, r1, r2, r3, r12, pc}\n"
/* After each output row: the ring's rows rotate (the oldest takes the next input row, left in r8 for the copy),
 * the output moves a row; the next row's copy while the output is under `limit` (the next input row is the input's),
 * else the channel's bottom (24: a padding row, or the channel's end; r5 the limit). The row's values are before the
 * base, limit and out_rs first: one LDMDB reads them all without an ADD (the row's blocks read them with the blocks'
 * count by another), where the two read by an LDRD of their own took one instruction a row more. */
#define PB_DW_PLANE3_NEXT                                                                                    \
    "ldmdb   lr, {r5, r6, r7, r8, r9, r10, r11, r12}\n"                                                      \
    "add     r11, r11, r6\n"                                                                                 \
    "strd    r9, r10, [lr, #-20]\n"                                                                          \
    "strd    r8, r11, [lr, #-12]\n"                                                                          \
    "cmp     r11, r5\n"                                                                                      \
    "blo     0b\n"
/* A channel's start (the job in lr): its requantization and weights from the table (where the job has one: ten words
 * a channel, depthwise_plane3_table, read by one LDM; a channel not prepared, shift 0, returns), its input, output and
 * limit, and its first two window rows into rows[0] and rows[1] as they are (no rotation), each the zero point (the
 * pad_top padding rows) or a copy, returning to the next (its address in ret); then rows[2]'s copy (r8) before the
 * first output row, returning to the row's blocks. Which of the two rows are padding is the same for every channel of
 * a call: its path (35: both, 37: the first, 39: neither; then 36 or 38, then 34) is reached by one TBB on pad_top,
 * where tests of it took five instructions a channel start (three where pad_top is 2). In C (dw_planes3's channel loop, two calls of dw_plane3_fill and one of the routine) it took about 240
 * instructions a channel, which a patch stage's tiles pay once per tile. A pair's start (span set) reads both
 * channels' ten words (the second's into its values at its base, r11; either not prepared returns, table at the
 * first), sets the second's row values (its blocks, the first's rows plus span, its output one byte on: one STMDB
 * from its base), and
 * goes on as a channel's start with chan_step 2: the first two rows' copies and padding rows fill both channels'. */
#define PB_DW_PLANE3_START                                                                                   \
    "ldr     r0, [lr, #20]\n"                                                                                \
    "cbz     r0, 32f\n"                                                                                      \
    "ldr     r11, [lr, #144]\n"                                                                              \
    "ldr     r0, [lr, #100]\n"                                                                               \
    "cbz     r0, 47f\n"                                                                                      \
    "ldm     r0!, {r1, r2, r3, r4, r5, r6, r7, r8, r9, r10}\n"                                               \
    "cbz     r3, 46f\n"                                                                                      \
    "stm     lr, {r1, r2, r3}\n"                                                                             \
    "add     r3, lr, #44\n"                                                                                  \
    "stm     r3, {r4, r5, r6, r7, r8, r9, r10}\n"                                                            \
    "ldm     r0!, {r1, r2, r3, r4, r5, r6, r7, r8, r9, r10}\n"                                               \
    "cbz     r3, 46f\n"                                                                                      \
    "stm     r11, {r1, r2, r3}\n"                                                                            \
    "add     r3, r11, #44\n"                                                                                 \
    "stm     r3, {r4, r5, r6, r7, r8, r9, r10}\n"                                                            \
    "str     r0, [lr, #100]\n"                                                                               \
    "47:\n"                                                                                                  \
    "ldmdb   lr, {r0, r1, r2, r3, r4, r5}\n"                                                                 \
    "ldr     r4, [lr, #20]\n"                                                                                \
    "add     r1, r1, r4\n"                                                                                   \
    "add     r2, r2, r4\n"                                                                                   \
    "add     r3, r3, r4\n"                                                                                   \
    "ldr     r4, [lr, #112]\n"                                                                               \
    "add     r4, r4, #1\n"                                                                                   \
    "stmdb   r11, {r0, r1, r2, r3, r4}\n"                                                                    \
    "b       31f\n"                                                                                          \
    "46:\n"                                                                                                  \
    "pop     {r4-r11, pc}\n"                                                                                 \
    "58:\n"                                                                                                  \
    "b.w     59f\n"                                                                                          \
    "32:\n"                                                                                                  \
    "ldr     r0, [lr, #100]\n"                                                                               \
    "cbz     r0, 31f\n"                                                                                      \
    "ldm     r0!, {r1, r2, r3, r4, r5, r6, r7, r8, r9, r10}\n"                                               \
    "cbnz    r3, 30f\n"                                                                                      \
    "pop     {r4-r11, pc}\n"                                                                                 \
    "30:\n"                                                                                                  \
    "stm     lr, {r1, r2, r3}\n"                                                                             \
    "add     r11, lr, #44\n"                                                                                 \
    "stm     r11, {r4, r5, r6, r7, r8, r9, r10}\n"                                                           \
    "str     r0, [lr, #100]\n"                                                                               \
    "31:\n"                                                                                                  \
    "add     r0, lr, #108\n"                                                                                 \
    "ldm     r0, {r0, r1, r2, r3, r4, r5}\n"                                                                 \
    "str     r1, [lr, #-8]\n"                                                                                \
    "add     r2, r1, r2\n"                                                                                   \
    "str     r2, [lr, #-32]\n"                                                                               \
    "str     r0, [lr, #12]\n"                                                                                \
    "add     r0, r0, r5\n"                                                                                   \
    "add     r1, r1, r5\n"                                                                                   \
    "strd    r0, r1, [lr, #108]\n"                                                                           \
    "tbb     [pc, r4]\n"                                                                                    \
    "76:\n"                                                                                                  \
    ".byte   (39f - 76b) / 2, (37f - 76b) / 2, (35f - 76b) / 2\n"                                            \
    ".p2align 1\n"                                                                                           \
    "35:\n"                                                                                                  \
    "adr.w   r0, 36f + 1\n"                                                                                  \
    "str     r0, [lr, #-4]\n"                                                                                \
    "ldr     r8, [lr, #-20]\n"                                                                               \
    "b       21f\n"                                                                                          \
    "37:\n"                                                                                                  \
    "adr.w   r0, 38f + 1\n"                                                                                  \
    "str     r0, [lr, #-4]\n"                                                                                \
    "ldr     r8, [lr, #-20]\n"                                                                               \
    "b       21f\n"                                                                                          \
    "39:\n"                                                                                                  \
    "adr.w   r0, 38f + 1\n"                                                                                  \
    "str     r0, [lr, #-4]\n"                                                                                \
    "ldr     r8, [lr, #-20]\n"                                                                               \
    "b       0f\n"                                                                                           \
    "36:\n"                                                                                                  \
    "adr.w   r0, 34f + 1\n"                                                                                  \
    "str     r0, [lr, #-4]\n"                                                                                \
    "ldr     r8, [lr, #-16]\n"                                                                               \
    "b       21f\n"                                                                                          \
    "38:\n"                                                                                                  \
    "adr.w   r0, 34f + 1\n"                                                                                  \
    "str     r0, [lr, #-4]\n"                                                                                \
    "ldr     r8, [lr, #-16]\n"                                                                               \
    "b       0f\n"                                                                                           \
    "34:\n"                                                                                                  \
    "adr.w   r0, 1f + 1\n"                                                                                   \
    "str     r0, [lr, #-4]\n"                                                                                \
    "ldr     r8, [lr, #-12]\n"
/* The job's channels from chan_in / chan_out on, up to the table's end (one where the job has no table) or to the
 * first channel that is not prepared (table then points at it): the channel's end compares the table with its end,
 * where a count of the channels left took one instruction more a channel. After a row's blocks one LDR PC goes to its last out_w % 4 outputs or to the next row (the
 * address chosen by out_w % 4 at the first call), where a test and up to three branches took four or five
 * instructions a row; the last outputs' three paths end in one LDR PC too (then: the next row, or a pair's second
 * channel's row or the pair's next, PB_DW_PLANE3_SECOND / _PAIR_NEXT), except where a pair's second channel's last
 * outputs have their own path (last3, last2, last1: their addresses; before80: the path that falls into the pair's
 * rotation, PB_DW_PLANE3_PAIR_LAST3). copies: the copy's paths, in the first instance alone (PB_DW_PLANE3_COPIES),
 * and the paths of the second's last outputs that end in the rotation's code (PB_DW_PLANE3_PAIR_LAST2). */
#define PB_DW_PLANE3_ASM(name, outputs, outputs3, outputs2, outputs1, last3, last2, last1, before80, copies) \
    __attribute__((naked, noinline)) static void name(dw_plane3_job *job __attribute__((unused))) {         \
        __asm__ volatile("push    {r4-r11, lr}\n"                                                            \
                         "add     lr, r0, #32\n"                                                             \
                         "ldr     r0, [lr, #40]\n"                                                           \
                         "cbz     r0, 58f\n"                                                                 \
                         "40:\n"                                                                             \
                         PB_DW_PLANE3_START                                                                  \
                         PB_DW_PLANE3_COPY                                                                   \
                         PB_DW_PLANE3_SECOND                                                                 \
                         "1:\n"                                                                              \
                         PB_DW_PLANE3_BLOCK                                                                  \
                         outputs                                                                             \
                         "subs    r0, r0, #1\n"                                                              \
                         "bne     1b\n"                                                                      \
                         "ldr     pc, [lr, #84]\n"                                                          \
                         before80                                                                            \
                         PB_DW_PLANE3_PAIR_NEXT                                                              \
                         "20:\n"                                                                             \
                         PB_DW_PLANE3_NEXT                                                                   \
                         "24:\n"                                                                             \
                         "ldr     r4, [lr, #120]\n"                                                          \
                         "add     r4, r4, r5\n"                                                              \
                         "cmp     r11, r4\n"                                                                 \
                         "bne     21f\n"                                                                     \
                         "ldrd    r0, r1, [lr, #100]\n"                                                      \
                         "cmp     r0, r1\n"                                                                  \
                         "bne     40b\n"                                                                     \
                         "pop     {r4-r11, pc}\n"                                                            \
                         "55:\n"                                                                             \
                         PB_DW_PLANE3_BLOCK5                                                                 \
                         outputs                                                                             \
                         "mov     r4, r0\n"                                                                  \
                         outputs1                                                                            \
                         "ldr     pc, [lr, #88]\n"                                                          \
                         "54:\n"                                                                             \
                         PB_DW_PLANE3_HALF_BLOCK                                                             \
                         outputs2                                                                            \
                         "ldr     pc, [lr, #88]\n"                                                          \
                         "53:\n"                                                                             \
                         PB_DW_PLANE3_BLOCK3                                                                 \
                         outputs3                                                                            \
                         "ldr     pc, [lr, #88]\n"                                                          \
                         PB_DW_PLANE3_ZERO_ROW                                                               \
                         "59:\n"                                                                             \
                         PB_DW_PLANE3_CHOOSE(last3, last2, last1)                                            \
                         "b       40b\n"                                                                     \
                         copies);                                                                \
    }
/* the last outputs of the clamping instances: the computed ones packed, clamped as the block's, stored */
#define PB_DW_PLANE3_CLAMPED(n, clamp) PB_DW_PLANE3_PACK##n clamp PB_DW_PLANE3_STORE_PACKED##n
PB_DW_PLANE3_ASM(dw_plane3_asm_sat, PB_DW_PLANE3_STORE_EACH, PB_DW_PLANE3_STORE_EACH3, PB_DW_PLANE3_STORE_EACH2,
                 PB_DW_PLANE3_STORE_EACH1, "50b", "51f", "55b", PB_DW_PLANE3_PAIR_LAST3,
                 PB_DW_PLANE3_PAIR_LAST2 PB_DW_PLANE3_COPIES PB_DW_PLANE3_PAIR_COPY PB_DW_PLANE3_PATHS)
PB_DW_PLANE3_ASM(dw_plane3_asm_max, PB_DW_PLANE3_PACK PB_DW_PLANE3_MAX PB_DW_PLANE3_STORE_PACKED,
                 PB_DW_PLANE3_CLAMPED(3, PB_DW_PLANE3_MAX), PB_DW_PLANE3_CLAMPED(2, PB_DW_PLANE3_MAX),
                 PB_DW_PLANE3_CLAMPED(1, PB_DW_PLANE3_MAX), "53b", "54b", "55b", "", "")
PB_DW_PLANE3_ASM(dw_plane3_asm_clamp, PB_DW_PLANE3_PACK PB_DW_PLANE3_MIN PB_DW_PLANE3_MAX PB_DW_PLANE3_STORE_PACKED,
                 PB_DW_PLANE3_CLAMPED(3, PB_DW_PLANE3_MIN PB_DW_PLANE3_MAX),
                 PB_DW_PLANE3_CLAMPED(2, PB_DW_PLANE3_MIN PB_DW_PLANE3_MAX),
                 PB_DW_PLANE3_CLAMPED(1, PB_DW_PLANE3_MIN PB_DW_PLANE3_MAX), "53b", "54b", "55b", "", "")
#undef PB_DW_PLANE3_ASM
#undef PB_DW_PLANE3_CLAMPED
#undef PB_DW_PLANE3_COPY
#undef PB_DW_PLANE3_COPY_NEXT_SRC
#undef PB_DW_PLANE3_COPIES
#undef PB_DW_PLANE3_PATHS
#undef PB_DW_PLANE3_PAIR_COPY
#undef PB_DW_PLANE3_PAIR_FOUR
#undef PB_DW_PLANE3_PAIR_TWO
#undef PB_DW_PLANE3_PAIR_ONE_FIRST
#undef PB_DW_PLANE3_SECOND
#undef PB_DW_PLANE3_PAIR_NEXT
#undef PB_DW_PLANE3_PAIR_LAST3
#undef PB_DW_PLANE3_PAIR_LAST2
#undef PB_DW_PLANE3_PAIR_ROTATE
#undef PB_DW_PLANE3_COPY_ONE_FIRST
#undef PB_DW_PLANE3_CHOOSE
#undef PB_DW_PLANE3_START
#undef PB_DW_PLANE3_NEXT
#undef PB_DW_PLANE3_ZERO_ROW
#undef PB_DW_PLANE3_COPY_FOUR
#undef PB_DW_PLANE3_COPY_TWO_LAST
#undef PB_DW_PLANE3_COPY_FOUR_LAST
#undef PB_DW_PLANE3_STORE_PACKED1
#undef PB_DW_PLANE3_STORE_PACKED2
#undef PB_DW_PLANE3_STORE_PACKED3
#undef PB_DW_PLANE3_STORE_PACKED
#undef PB_DW_PLANE3_PACK1
#undef PB_DW_PLANE3_PACK2
#undef PB_DW_PLANE3_PACK3
#undef PB_DW_PLANE3_MAX
#undef PB_DW_PLANE3_MIN
#undef PB_DW_PLANE3_PACK
#undef PB_DW_PLANE3_STORE_EACH1
#undef PB_DW_PLANE3_STORE_EACH2
#undef PB_DW_PLANE3_STORE_EACH3
#undef PB_DW_PLANE3_STORE_EACH
#undef PB_DW_PLANE3_BLOCK5
#undef PB_DW_PLANE3_ROW5
#undef PB_DW_PLANE3_HALF_BLOCK
#undef PB_DW_PLANE3_HALF_ROW
#undef PB_DW_PLANE3_BLOCK3
#undef PB_DW_PLANE3_ROW3
#undef PB_DW_PLANE3_BLOCK
#undef PB_DW_PLANE3_REQUANT
#undef PB_DW_PLANE3_ROW
_Static_assert(offsetof(dw_plane3_job, limit) == 0 && offsetof(dw_plane3_job, out_rs) == 4 &&
                   offsetof(dw_plane3_job, blocks) == 8 && offsetof(dw_plane3_job, rows) == 12 &&
                   offsetof(dw_plane3_job, out) == 24 && offsetof(dw_plane3_job, ret) == 28 &&
                   offsetof(dw_plane3_job, multiplier) == 32 &&
                   offsetof(dw_plane3_job, src) == 44 && offsetof(dw_plane3_job, in_rs) == 48 &&
                   offsetof(dw_plane3_job, span) == 52 && offsetof(dw_plane3_job, passes) == 56 &&
                   offsetof(dw_plane3_job, step) == 60 && offsetof(dw_plane3_job, step2) == 64 &&
                   offsetof(dw_plane3_job, step3) == 68 && offsetof(dw_plane3_job, entry) == 72 &&
                   offsetof(dw_plane3_job, bias) == 76 && offsetof(dw_plane3_job, weights) == 80 &&
                   offsetof(dw_plane3_job, act_min4) == 104 && offsetof(dw_plane3_job, channels) == 112 &&
                   offsetof(dw_plane3_job, after) == 116 && offsetof(dw_plane3_job, then) == 120 &&
                   offsetof(dw_plane3_job, zero_points) == 124 && offsetof(dw_plane3_job, zero_words) == 128 &&
                   offsetof(dw_plane3_job, table) == 132 && offsetof(dw_plane3_job, table_end) == 136 &&
                   offsetof(dw_plane3_job, chan_in) == 140 && offsetof(dw_plane3_job, chan_out) == 144 &&
                   offsetof(dw_plane3_job, real_span) == 148 && offsetof(dw_plane3_job, bottom_span) == 152 &&
                   offsetof(dw_plane3_job, pad_top) == 156 && offsetof(dw_plane3_job, chan_step) == 160 &&
                   offsetof(dw_plane3_job, tail) == 164 && offsetof(dw_plane3_job, pad_bytes) == 168 &&
                   offsetof(dw_plane3_job, left) == 172,
               "dw_plane3_asm reads the job at these offsets");
/* a field's offset from the base (multiplier), which dw_plane3_asm reads either channel's values by */
#define PB_DW_PLANE3_AT(type, field) (offsetof(type, field) - offsetof(type, multiplier))
_Static_assert(offsetof(dw_plane3_job, second) == 176 && offsetof(dw_plane3_second, first) == 36 &&
                   offsetof(dw_plane3_second, out_rs) == 0 && offsetof(dw_plane3_second, blocks) == 4 &&
                   offsetof(dw_plane3_second, out) == 20 && offsetof(dw_plane3_second, multiplier) == 24 &&
                   PB_DW_PLANE3_AT(dw_plane3_second, bias) == PB_DW_PLANE3_AT(dw_plane3_job, bias) &&
                   PB_DW_PLANE3_AT(dw_plane3_second, weights) == PB_DW_PLANE3_AT(dw_plane3_job, weights) &&
                   PB_DW_PLANE3_AT(dw_plane3_second, act_min4) == PB_DW_PLANE3_AT(dw_plane3_job, act_min4) &&
                   PB_DW_PLANE3_AT(dw_plane3_second, channels) == PB_DW_PLANE3_AT(dw_plane3_job, channels) &&
                   PB_DW_PLANE3_AT(dw_plane3_second, after) == PB_DW_PLANE3_AT(dw_plane3_job, after) &&
                   PB_DW_PLANE3_AT(dw_plane3_second, then) == PB_DW_PLANE3_AT(dw_plane3_job, then),
               "dw_plane3_asm reads a pair's second channel at the first's offsets from its base");
_Static_assert(sizeof(dw_plane3_second) == 116, "harness.codegen.kernels.DEPTHWISE_PLANE3_SECOND_BYTES");
#undef PB_DW_PLANE3_AT

/* clamp: 0 the full int8 range, 1 act_max alone, 2 both bounds (direct calls: the stack planner follows no
 * function pointers) */
static PB_ALWAYS_INLINE void dw_plane3_asm(dw_plane3_job *job, int32_t clamp) {
    if (clamp == 0) {
        dw_plane3_asm_sat(job);
    } else if (clamp == 1) {
        dw_plane3_asm_max(job);
    } else {
        dw_plane3_asm_clamp(job);
    }
}
#endif

/* One channel's output row of 3x3 windows in C (job: its rows and output set): the channels that do not
 * take the SMMLAR form, and every channel on the host. */
static PB_NOINLINE void dw_plane3_row(const dw_plane3_job *job, int32_t out_w, const dw_plane_requant *cq) {
    for (int32_t b = 0; 4 * b < out_w; ++b) {
        int32_t acc[4];
        dw_plane3_sums(job, b, job->bias, acc);
        const int32_t n = out_w - 4 * b < 4 ? out_w - 4 * b : 4;
        int8_t *out = job->out + 4 * b * job->channels;
        for (int32_t i = 0; i < n; ++i) {
            out[i * job->channels] = cq->doubled ? dw_plane_out(acc[i], cq, 1) : dw_plane_out(acc[i], cq, 0);
        }
    }
}

/* Channel c's requantization for the plane kernels: the SMMLAR form (doubled) where it can take it. */
static dw_plane_requant dw_plane_channel_requant(const pb_requant *rq, int32_t c, int32_t b, int32_t taps) {
    dw_plane_requant cq = {0, rq->multiplier[c], 0, rq->shift[c], rq->output_zero_point, rq->act_min, rq->act_max};
    const int64_t acc_bound = (b < 0 ? -(int64_t)b : b) + (int64_t)255 * 128 * taps;
    pb_channel_requant_x2 cr;
    cq.doubled = pb_channel_requant_x2_prepare(rq->multiplier[c], rq->shift[c], rq->output_zero_point, acc_bound, &cr);
    if (cq.doubled) {
        cq.multiplier = cr.multiplier;
        cq.add2 = cr.add2;
        cq.shift = cr.shift;
    }
    return cq;
}

/* dw_plane_copy's four values (its assembly's operands) */
#define PB_PLANE_COPY_FOUR                                                                                   \
    PB_PLANE_COPY_FOUR_OF("%[a]", "%[b]", "%[t]", "%[src]", "%[dst]", "%[s1]", "%[s2]", "%[s3]")

/* n values of one channel (src, `step` bytes apart) as int16 to dst (2-byte aligned). */
static PB_ALWAYS_INLINE void dw_plane_copy(int16_t *dst, const int8_t *src, int32_t n, int32_t step) {
    const int32_t step2 = 2 * step, step3 = 3 * step, step4 = 4 * step;
    if (((uintptr_t)dst & 2) && n > 0) { /* to a word boundary */
        *dst++ = *src;
        src += step;
        --n;
    }
    uint32_t *pairs = (uint32_t *)(void *)dst;
#if PB_DSP_NATIVE
    if (n >= 8) { /* eight values a pass: 18 instructions (GCC's loop below took 12 per four) */
        uint32_t *const end = pairs + 4 * (n / 8);
        uint32_t a, b, t;
        __asm__ volatile("1:\n"
                         PB_PLANE_COPY_FOUR PB_PLANE_COPY_FOUR
                         "cmp     %[dst], %[end]\n"
                         "bne     1b\n"
                         : [src] "+r"(src), [dst] "+r"(pairs), [a] "=&r"(a), [b] "=&r"(b), [t] "=&r"(t)
                         : [s1] "r"(step), [s2] "r"(step2), [s3] "r"(step3), [end] "r"(end)
                         : "memory", "cc");
        n &= 7;
    }
#endif
    for (; n >= 4; n -= 4, src += step4, pairs += 2) { /* four loads, two PKHBT, one STRD */
        const int32_t x0 = src[0], x1 = src[step], x2 = src[step2], x3 = src[step3];
        pairs[0] = pb_pkhbt((uint32_t)x0, (uint32_t)x1);
        pairs[1] = pb_pkhbt((uint32_t)x2, (uint32_t)x3);
    }
    dst = (int16_t *)(void *)pairs;
    for (; n > 0; --n, src += step) {
        *dst++ = *src;
    }
}

/* Plane row `row` of the ring: input row iy of channel c (its columns from -pad_left on), or the zero point
 * where the row or column is padding. */
static void dw_plane_fill(int16_t *row, int32_t columns, const pb_region *r, const int8_t *input, int32_t in_rs,
                          int32_t iy, int32_t c, int8_t zero_point) {
    uint32_t *words = (uint32_t *)(void *)row; /* the ring and its rows are word aligned */
    const uint32_t zero_points = (uint16_t)zero_point * 0x10001u;
    const int32_t inside = iy >= 0 && iy < r->in_h;
    const int32_t count = r->pad_left + r->in_w < columns ? r->in_w : columns - r->pad_left;
    /* the zero point in the padding columns only (all of a padding row), the words the values below
     * share with them included */
    const int32_t left_words = inside ? (r->pad_left + 1) / 2 : columns / 2;
    int32_t j = 0;
    for (; j + 2 <= left_words; j += 2) { /* one STRD per two words */
        words[j] = zero_points;
        words[j + 1] = zero_points;
    }
    if (j < left_words) {
        words[j] = zero_points;
    }
    if (!inside) {
        return;
    }
    for (j = (r->pad_left + count) / 2; j + 2 <= columns / 2; j += 2) {
        words[j] = zero_points;
        words[j + 1] = zero_points;
    }
    if (j < columns / 2) {
        words[j] = zero_points;
    }
    dw_plane_copy(row + r->pad_left, input + iy * in_rs + c, count, r->in_c);
}

static PB_NOINLINE void dw_planes(const pb_region *r, const pb_window *w, const pb_requant *rq, const int8_t *input,
                                  const int8_t *filter, const int32_t *bias, int8_t *output, void *scratch) {
    const int32_t channels = r->in_c, in_rs = pb_in_row_stride(r), out_rs = pb_out_row_stride(r);
    const int32_t k = w->kernel_w, sh = w->stride_h, words = (k + 1) / 2;
    const int32_t columns = dw_plane_columns(r, w);
    const int32_t input_offset = -rq->input_zero_point;
    uint32_t *weights = align4(scratch);
    int16_t *ring = (int16_t *)(void *)(weights + k * words);
    for (int32_t c = 0; c < channels; ++c) {
        const int32_t b = bias ? bias[c] : 0;
        const dw_plane_requant cq = dw_plane_channel_requant(rq, c, b, k * k);
        const int32_t scale = cq.doubled ? 2 : 1;
        int32_t weight_sum = 0;
        for (int32_t ky = 0; ky < k; ++ky) {
            const int8_t *f = filter + ky * k * channels + c;
            for (int32_t i = 0; i < words; ++i) {
                const int32_t tap = 2 * i; /* the pair [w(tap) w(tap + 1)], 0 past the row */
                const int32_t lo = f[tap * channels], hi = tap + 1 < k ? f[(tap + 1) * channels] : 0;
                weight_sum += lo + hi;
                weights[ky * words + i] = ((uint32_t)(scale * lo) & 0xFFFFu) | (uint32_t)(scale * hi) << 16;
            }
        }
        const int32_t channel_bias = scale * (b + input_offset * weight_sum);
        int32_t loaded = 0; /* padded rows 0 .. loaded - 1 are in the ring (row n in slot n % k) */
        for (int32_t oy = 0; oy < r->out_h; ++oy) {
            const int32_t first = oy * sh; /* the window's first padded row */
            for (; loaded < first + k; ++loaded) {
                dw_plane_fill(ring + (loaded % k) * columns, columns, r, input, in_rs, loaded - r->pad_top, c,
                              (int8_t)rq->input_zero_point);
            }
            const int16_t *rows[7];
            for (int32_t ky = 0, slot = first % k; ky < k; ++ky, slot = slot + 1 == k ? 0 : slot + 1) {
                rows[ky] = ring + slot * columns;
            }
            int8_t *out = output + oy * out_rs + c;
            /* direct calls (the stack planner follows no function pointers) */
            if (k == 5) {
                dw_plane_row_k5_s1(rows, weights, r->out_w, channel_bias, &cq, out, channels);
            } else {
                dw_plane_row_k7_s1(rows, weights, r->out_w, channel_bias, &cq, out, channels);
            }
        }
    }
}

/* 3x3 windows at stride 1 (dw_plane3_asm, dw_plane3_row): the ring's three rows rotate (the oldest slot takes the next
 * row), and their padding columns hold the zero point from the start for every channel (the zero point is
 * the call's), so a channel's input row is only copied into its columns; a padding row is the zero point
 * throughout. */
/* What dw_plane3_fill needs of the call, gathered so that its calls (one per output row and channel) pass four
 * arguments in registers: with the call's values as nine arguments, five on the stack, GCC spent 10
 * instructions setting them up per row. */
typedef struct {
    int32_t in_h, in_w, in_rs, channels, pad_left, columns;
    uint32_t zero_points; /* the input zero point in both int16 lanes */
} dw_plane3_input;

static PB_NOINLINE void dw_plane3_fill(int16_t *row, const int8_t *in, int32_t iy, const dw_plane3_input *g) {
    if (iy < 0 || iy >= g->in_h) {
        uint32_t *words = (uint32_t *)(void *)row;
        for (int32_t j = 0; j < g->columns / 2; ++j) {
            words[j] = g->zero_points;
        }
        return;
    }
    dw_plane_copy(row + g->pad_left, in + iy * g->in_rs, g->in_w, g->channels);
}

/* Channel c's values into a job at its base (its first channel's multiplier, or a pair's second's: the same
 * offsets from it, as depthwise_plane3_table holds them in ten words): the requantization (the SMMLAR form where it
 * takes it, dw_plane_channel_requant, returned), the bias with the input offset folded in and the weight pairs,
 * doubled with the SMMLAR form. */
static PB_ALWAYS_INLINE dw_plane_requant dw_plane3_channel(const pb_requant *rq, const int8_t *filter,
                                                           const int32_t *bias, int32_t c, int32_t channels,
                                                           int32_t *base) {
    const int32_t b = bias ? bias[c] : 0;
    const dw_plane_requant cq = dw_plane_channel_requant(rq, c, b, 9);
    const int32_t scale = cq.doubled ? 2 : 1;
    uint32_t *weights = (uint32_t *)base + (offsetof(dw_plane3_job, weights) - offsetof(dw_plane3_job, multiplier)) / 4;
    int32_t weight_sum = 0;
    for (int32_t ky = 0; ky < 3; ++ky) {
        const int8_t *f = filter + 3 * ky * channels + c;
        const int32_t w0 = scale * f[0], w1 = scale * f[channels], w2 = scale * f[2 * channels];
        weight_sum += w0 + w1 + w2;
        weights[2 * ky] = pb_pkhbt((uint32_t)w0, (uint32_t)w1);
        weights[2 * ky + 1] = pb_pkhbt((uint32_t)w1, (uint32_t)w2);
    }
    base[0] = cq.multiplier;
    base[1] = cq.add2;
    base[2] = cq.shift;
    base[(offsetof(dw_plane3_job, bias) - offsetof(dw_plane3_job, multiplier)) / 4] =
        scale * b - rq->input_zero_point * weight_sum; /* weight_sum is scaled already */
    return cq;
}

/* Scratch: two rings of plane rows and the second channel's values (kernels.depthwise_plane3_bytes, in and out of
 * place). With an even channel count a pass takes two neighbouring channels (dw_plane3_second): one copy fills both
 * channels' plane rows (one LDRH a pixel: 1.75 instructions a value where one channel's copy takes 2.1), and a row's
 * fixed costs (the copy's set-up, the rotation, the ends of the blocks) and a channel's start are paid once for two
 * channels, which a patch stage's tiles (narrower rows, about twice the channel rows of their share of the layer)
 * pay more often than the layer; the layer's rows take the same path. The rings are interleaved by slot: the first
 * channel's plane row s at 2s rows, the second's right after it (span bytes on), so a padding row writes both in one
 * run. In place, output row oy of the two channels overwrites only those channels of input rows the ring holds by
 * then (both channels' rows are copied before the row's blocks), as one channel's does. */
static PB_NOINLINE void dw_planes3(const pb_region *r, const pb_requant *rq, const int8_t *input, const int8_t *filter,
                                   const int32_t *bias, int8_t *output, void *scratch) {
    const int32_t channels = r->in_c, out_rs = pb_out_row_stride(r), out_h = r->out_h, pad_top = r->pad_top;
    /* pad_left + in_w <= out_w + 2 <= columns: each input row's values fit their plane row */
    const dw_plane3_input g = {r->in_h, r->in_w, pb_in_row_stride(r), channels, r->pad_left, dw_plane3_columns(r),
                               (uint16_t)(int8_t)rq->input_zero_point * 0x10001u};
    /* the output rows whose last window row, input row oy + 2 - pad_top, is the input's (at least the first) */
    const int32_t real_rows = out_h < g.in_h + pad_top - 2 ? out_h : g.in_h + pad_top - 2;
    int16_t *ring = (int16_t *)(void *)align4(scratch);
#if PB_DSP_NATIVE
    const int32_t paired = channels % 2 == 0;
#else
    const int32_t paired = 0; /* the pair's copy is the routine's alone */
#endif
    const int32_t slot = paired ? 2 * g.columns : g.columns; /* from one of the first channel's plane rows to the next */
    /* The ring's padding columns the zero point, once a call: word 0 (the columns left of the input's first,
     * pad_left <= 2) and the words from the input's last column to the padded input's out_w + 2 (pad_right <= 2),
     * in each row. A copy writes only the input's columns and a padding row all of them; the columns after
     * out_w + 2 are read by no output kept (the last block's dropped ones), so they stay as they are, where
     * filling the whole ring took about four instructions a word (a 29-wide tile's: 51 words) at every call. */
    const int32_t padded_words = (r->out_w + 3) / 2; /* held here: the ring's stores may alias r for GCC */
    for (int32_t s = 0; s < (paired ? 6 : 3); ++s) {
        uint32_t *words = (uint32_t *)(void *)(ring + s * g.columns);
        words[0] = g.zero_points;
        for (int32_t j = (g.pad_left + g.in_w) / 2; j < padded_words; ++j) {
            words[j] = g.zero_points;
        }
    }
    /* The job's fields one by one, where an initializer's zeroing of the rest took a memset of 144 of its 164 bytes
     * at every call (which every tile of a patch stage pays): the fields not set here are set before they are read
     * (out, ret, src, limit, after and then by dw_plane3_asm; the channel's values, table, table_end, chan_in and
     * chan_out by the loop below; the second channel's row values by dw_plane3_asm); entry must be 0 before the
     * routine's first call. */
    dw_plane3_job pass;
    dw_plane3_job *const job = &pass;
    job->entry = 0;
    job->act_min4 = (uint8_t)rq->act_min * 0x01010101u;
    job->act_max4 = (uint8_t)rq->act_max * 0x01010101u;
    job->channels = channels;
    job->rows[0] = ring;
    job->rows[1] = ring + slot;
    job->rows[2] = ring + 2 * slot;
    job->blocks = r->out_w / 4;
    job->left = r->out_w % 4;
    job->in_rs = g.in_rs;
    job->pad_bytes = 2 * g.pad_left;
    job->span = paired ? 2 * g.columns : 0;
    job->passes = (g.in_w - g.pad_left % 2) / 8;
    job->step = channels;
    job->step2 = 2 * channels;
    job->step3 = 3 * channels;
    job->out_rs = out_rs;
    job->zero_points = g.zero_points;
    job->zero_words = (paired ? 2 : 1) * (g.columns / 2);
    job->real_span = real_rows * out_rs;
    job->bottom_span = (out_h - real_rows) * out_rs;
    job->pad_top = pad_top;
    job->chan_step = paired ? 2 : 1;
    job->tail = (uint32_t)(g.in_w - g.pad_left % 2) % 8;
    const int32_t step = paired ? 2 : 1;
#if PB_DSP_NATIVE
    dw_plane3_second *const second = (dw_plane3_second *)(void *)(ring + 6 * g.columns); /* after the rings */
    if (paired) {
        job->second = (uintptr_t)&second->multiplier;
        second->first = (uintptr_t)&job->multiplier;
        second->out_rs = out_rs;
        second->act_min4 = job->act_min4;
        second->act_max4 = job->act_max4;
        second->channels = channels;
    }
    int32_t *const bases[2] = {&job->multiplier, &second->multiplier};
    const int32_t clamp = rq->act_min != PB_INT8_MIN ? 2 : rq->act_max != PB_INT8_MAX;
    /* a patch-stage op's channels prepared once, at code generation (harness.codegen.kernels.
     * depthwise_plane3_table: these four fields and the weights, ten words a channel; shift 0, a channel
     * prepared here): about 100 instructions a channel at every call of every tile otherwise. dw_plane3_asm runs
     * them from the table up to one that is not (a pair: up to one of two that is not), which the loop below
     * prepares and runs. */
    const int32_t *made = rq->prepared;
#endif
    for (int32_t c = 0; c < channels; c += step) {
#if PB_DSP_NATIVE
        if (made != NULL) {
            job->table = made + 10 * c;
            job->table_end = made + 10 * channels;
            job->chan_in = input + c;
            job->chan_out = output + c;
            dw_plane3_asm(job, clamp);
            c = (int32_t)(job->table - made) / 10;
            if (c == channels) {
                break;
            }
        }
#endif
#if PB_DSP_NATIVE
        /* every row in dw_plane3_asm, its first two window rows too, where the channel (and a pair's second) takes
         * the SMMLAR form */
        int32_t k = 0;
        while (k < step && dw_plane3_channel(rq, filter, bias, c + k, channels, bases[k]).doubled) {
            ++k;
        }
        if (k == step) {
            job->table = NULL;
            job->table_end = NULL;
            job->chan_in = input + c;
            job->chan_out = output + c;
            dw_plane3_asm(job, clamp);
            continue;
        }
#endif
        /* the channel (a pair's two, one after the other) in C, on the first channel's plane rows */
        for (int32_t k = c; k < c + step; ++k) {
            const dw_plane_requant cq = dw_plane3_channel(rq, filter, bias, k, channels, &job->multiplier);
            const int8_t *in = input + k;
            int8_t *out = output + k;
            int16_t *top = ring, *middle = ring + slot, *bottom = ring + 2 * slot;
            dw_plane3_fill(top, in, -pad_top, &g);
            dw_plane3_fill(middle, in, 1 - pad_top, &g);
            /* the bottom row first: in place, output row oy overwrites input rows the ring holds by then */
            for (int32_t iy = 2 - pad_top; iy < out_h + 2 - pad_top; ++iy, out += out_rs) {
                dw_plane3_fill(bottom, in, iy, &g);
                job->rows[0] = top;
                job->rows[1] = middle;
                job->rows[2] = bottom;
                job->out = out;
                dw_plane3_row(job, r->out_w, &cq);
                int16_t *oldest = top;
                top = middle;
                middle = bottom;
                bottom = oldest;
            }
        }
    }
}

/* A dispatcher only (its three paths not inlined): the deepest call chain through it is its small frame plus
 * the group kernel's, for the stack plan. */
#if PB_DSP_NATIVE
/* Whether a call takes dw_groups3: a 3x3 window at dilation 1 with no padding at the top or the left whose windows all
 * lie inside the held input but for the last output column's and the last output row's, which the right or bottom
 * edge may clip to two columns or two rows (one column or row of padding: a patch stage's tiles, whose borders are
 * halo but where a tile meets the map's right or bottom edge), channels in groups of four, and the op's group table
 * (q->prepared, its tag: made only where every group takes the doubled form). */
static inline int32_t dw_groups3_fits(const pb_region *r, const pb_window *w) {
    return w->kernel_h == 3 && w->kernel_w == 3 && w->dilation_h == 1 && w->dilation_w == 1 && r->out_c % 4 == 0 &&
           r->pad_top == 0 && r->pad_left == 0 && (r->out_h - 1) * w->stride_h + 2 <= r->in_h &&
           (r->out_w - 1) * w->stride_w + 2 <= r->in_w;
}

static inline int32_t dw_groups3_apply(const pb_region *r, const pb_window *w, const pb_requant *q) {
    return q->prepared[0] == dw_group_tag(r->out_c, 9) && dw_groups3_fits(r, w);
}

/* Whether every group of four of a 3x3 call takes the doubled form (dw_group_prepare's test, channel by channel). */
static PB_NOINLINE int32_t dw_groups3_doubled(const pb_requant *q, const int32_t *bias, int32_t channels) {
    const uint32_t span = 255u * 128u * 9u;
    for (int32_t c = 0; c < channels; ++c) {
        const int32_t b = bias ? bias[c] : 0;
        pb_channel_requant_x2 cr;
        if (!pb_channel_requant_x2_prepare(q->multiplier[c], q->shift[c], q->output_zero_point,
                                           (b < 0 ? 0u - (uint32_t)b : (uint32_t)b) + span, &cr)) {
            return 0;
        }
    }
    return 1;
}

/* A group's last row of dw_groups3 where the bottom edge clips its windows to their first two rows: the windows
 * inside (cols of them, run outputs), then the corner one where the right edge clips it too (in_edge / out_edge on). */
static PB_ALWAYS_INLINE void dw_groups3_below(const dw_group *g, const int8_t *in, int8_t *out, int32_t in_edge,
                                              int32_t out_edge, int32_t run, int32_t cols, int32_t right,
                                              int32_t clamp) {
    if (cols > 0) {
        clamp ? dw_run_k2x3_clamp(g, in, out, run) : dw_run_k2x3_sat(g, in, out, run);
    }
    if (right) {
        clamp ? dw_run_k2c2_clamp(g, in + in_edge, out + out_edge, 1)
              : dw_run_k2c2_sat(g, in + in_edge, out + out_edge, 1);
    }
}

/* All of such a call's groups: the windows inside (all rows of all groups) in one call of one run (dw_groups_k3, each
 * group's values from the op's group table), where dw_dsp took for each group its preparation (dw_group_prepare), its
 * row loop and the run's call: some 240 instructions a group, which a patch stage's tiles pay once more per tile (a
 * 3 x 3 tile of eight groups: 9 outputs a group, about 1,030 instructions). Then, where the right or bottom edge clips
 * the last column's or row's windows, per group its values copied from the table and one call of each edge run: the
 * column of two window columns (all its rows at once), the row of two window rows (without an edge column
 * dw_groups_k3_sat takes it after each group's rows), their corner; where dw_dsp took
 * besides the group's preparation its row loop's bookkeeping (about 130 instructions a pass: the rows' targets, valid
 * rows and edge tests). In place (dw_groups3_in_place) with an edge column, a group's rows one at a time, each row's
 * edge pixel after its interior run. Its own function, called by the dispatcher: its frame and the runs' stay under
 * dw_dsp's on the deepest stack path. The dispatcher's parameters, which it jumps to with them (with a tenth for in
 * place, its call took a frame and some 25 instructions at every call of every tile): in place where the input is
 * the output (pb_kernels.h: out of place the two never overlap). */
static PB_NOINLINE PB_SAME_PARAMETERS void dw_groups3(const pb_region *r, const pb_window *w, const pb_requant *q,
                                                      const int8_t *input, const int8_t *filter, const int32_t *bias,
                                                      int8_t *output, void *scratch) {
    const int32_t in_place = input == output;
    const int32_t in_rs = pb_in_row_stride(r);
    dw_groups gs;
    gs.g.kh = 3;
    gs.g.tap_step = r->in_c;
    gs.g.row_step = in_rs;
    gs.g.offset2 = pack_offset(-q->input_zero_point);
    gs.g.in_step = w->stride_w * r->in_c;
    gs.g.out_step = r->out_c;
    gs.g.act_min4 = (uint8_t)q->act_min * 0x01010101u;
    gs.g.act_max4 = (uint8_t)q->act_max * 0x01010101u;
    gs.g.in_rows = w->stride_h * in_rs;
    gs.g.out_rows = pb_out_row_stride(r);
    /* the op's group table, or (in place, dw_groups3_in_place: every group doubled) none: each group made here */
    gs.values = q->prepared != NULL && q->prepared[0] == dw_group_tag(r->out_c, 9) ? q->prepared + 1 : NULL;
    gs.groups = r->out_c / 4;
    gs.stride = 16 + 2 * 9;
    const int32_t clamp = q->act_min != PB_INT8_MIN || q->act_max != PB_INT8_MAX;
    /* the last column's and row's windows clipped to two columns or rows (dw_groups3_apply: at most one) */
    const int32_t right = (r->out_w - 1) * w->stride_w + 3 > r->in_w, below = (r->out_h - 1) * w->stride_h + 3 > r->in_h;
    const int32_t cols = r->out_w - right, rows = r->out_h - below;
    /* the inside's outputs a row where it has any (the runs' instances were compiled for counts of 1 and more: a count
     * the compiler cannot tell from 0 here cost their loops a test) */
    const int32_t run = cols > 0 ? cols : 1;
    /* in place with an edge column or without the table: each group's rows one at a time (the runs' instances of one
     * row; a call of dw_rows_k3 here made GCC compile that instance two instructions an output slower) */
    const int32_t each_row = in_place && (right || gs.values == NULL);
    gs.g.rows = rows;
    const int32_t all = gs.values != NULL && !each_row && rows > 0 && cols > 0; /* the inside at once */
    /* dw_groups_k3_sat takes the last row's windows inside too, after each group's rows (the clamping instance does
     * not: flash), an edge column or not: where the edge loop below took them with a call of dw_run_k2x3 per group
     * (some 25 instructions a group more, at a tile at the map's bottom right corner) */
    const int32_t below_run = all && below && !clamp;
    if (all) {
        gs.below = below_run;
        clamp ? dw_groups_k3_clamp(&gs.g, input, output, run) : dw_groups_k3_sat(&gs.g, input, output, run);
        if (!right && (!below || below_run)) {
            return;
        }
    }
    dw_group *const g = &gs.g;
    const int32_t in_edge = cols * g->in_step, out_edge = cols * g->out_step; /* to the last column's window, output */
    const int8_t *const in_below = input + rows * g->in_rows;
    int8_t *const out_below = output + rows * g->out_rows;
    if (!each_row) {
        /* (the table's groups: each_row where there is none) the edges, group by group, in a loop of their own: in
         * the loop below, with its tests of each_row and the table at each group, a patch stage's tiles at the right
         * or bottom edge took more a group (vww_96_int8 at p=2: dw_groups3 2,816 -> 2,328 instructions), and the
         * per-layer rows (mbv2-w0.35-r144's b1_dw) 1,000 more */
        const int32_t *entry = gs.values;
        for (int32_t c = 0; c < r->out_c; c += 4, entry += gs.stride) {
            dw_group_values(g, entry); /* the group's cr, bias and weights: its table entry's */
            if (right && rows > 0) { /* the edge column, all its rows in one call (g->rows) */
                clamp ? dw_rows_k3c2_clamp(g, input + in_edge + c, output + out_edge + c, 1)
                      : dw_rows_k3c2_sat(g, input + in_edge + c, output + out_edge + c, 1);
            }
            if (below) { /* (its windows inside taken already where below_run: the corner alone) */
                dw_groups3_below(g, in_below + c, out_below + c, in_edge, out_edge, run, below_run ? 0 : cols, right,
                                 clamp);
            }
        }
        return;
    }
    for (int32_t c = 0; c < r->out_c; c += 4) {
        if (gs.values != NULL) { /* the group's cr, bias and weights: its table entry's */
            dw_group_values(g, gs.values + (c / 4) * gs.stride);
        } else {
            dw_group_prepare(g, align4(scratch), NULL, q, bias, filter, c, r->out_c, 9);
        }
        for (int32_t oy = 0; oy < rows; ++oy) {
            const int8_t *in = input + oy * g->in_rows + c;
            int8_t *out = output + oy * g->out_rows + c;
            if (cols > 0) {
                clamp ? dw_run_k3_clamp(g, in, out, run) : dw_run_k3_sat(g, in, out, run);
            }
            if (right) {
                clamp ? dw_run_k3c2_clamp(g, in + in_edge, out + out_edge, 1)
                      : dw_run_k3c2_sat(g, in + in_edge, out + out_edge, 1);
            }
        }
        if (below) {
            dw_groups3_below(g, in_below + c, out_below + c, in_edge, out_edge, run, cols, right, clamp);
        }
    }
}
#endif

/* Flattened (dw_planes_apply and dw_groups3_apply inlined): with dw_planes_apply called, its values held across the
 * call took a frame of nine registers and the arguments' copies: a call that takes dw_groups3 (every call of every
 * tile of a stride-2 op) 30 instructions more, one that takes dw_planes3 5; now it jumps to them without a frame. (Where no call can take the 5x5 / 7x7 planes,
 * PB_DEPTHWISE_PLANES57=0, GCC then sees that dw_planes is never called: 8 kB less flash.) */
PB_FLATTEN void pb_depthwise_conv2d_s8_dsp(const pb_region *r, const pb_window *w, const pb_requant *q,
                                           const int8_t *input, const int8_t *filter, const int32_t *bias,
                                           int8_t *output, void *scratch) {
    if (r->out_c != r->in_c) {
        /* PB_DEPTHWISE_MULTIPLIER=0: the generated model has no depthwise op with a depth multiplier > 1
         * (harness.codegen.kernels.kernel_path_defines), so its kernel is left out; the portable kernel
         * (the same arithmetic, bit-exact) would still serve such a call */
#if defined(PB_DEPTHWISE_MULTIPLIER) && !PB_DEPTHWISE_MULTIPLIER
        if (1) {
            pb_depthwise_conv2d_s8_portable(r, w, q, input, filter, bias, output, scratch);
            return;
        }
#endif
        dw_dsp_multiplier(r, w, q, input, filter, bias, output, scratch);
        return;
    }
    if (dw_planes_apply(r, w)) {
        if (w->kernel_w == 3) {
            dw_planes3(r, q, input, filter, bias, output, scratch);
        } else {
            dw_planes(r, w, q, input, filter, bias, output, scratch);
        }
        return;
    }
#if PB_DSP_NATIVE
    if (q->prepared != NULL && dw_groups3_apply(r, w, q)) {
        dw_groups3(r, w, q, input, filter, bias, output, scratch);
        return;
    }
#endif
    dw_dsp(r, w, q, input, filter, bias, output, scratch, 0);
}

/* In place (pb_kernels.h): the same kernel with the input and output in one buffer; the in-place row
 * schedule decides per group and row whether the row goes to its place or to the ring. */
/* In place, the plane path where its rows fit the scratch the in-place kernel has: for 3x3 windows the rings
 * scratch_bytes reserves before the ring of delayed rows (kernels.depthwise_plane3_bytes, in place too); for 5x5 and
 * 7x7 the group's weights, the row schedule and the ring of delayed rows. A function of its own: inlined, its values
 * took 16 more bytes of the dispatcher's frame, which is on the deepest stack path (dispatcher, dw_dsp, a window
 * run). */
static PB_NOINLINE int32_t dw_planes_in_place(const pb_region *r, const pb_window *w) {
    if (!dw_planes_apply(r, w) || !dw_planes_fit_in_place(r, w)) {
        return 0;
    }
    const int32_t dense = pb_in_row_stride(r) == r->in_w * r->in_c && pb_out_row_stride(r) == r->out_w * r->out_c &&
                          r->out_h * r->out_w <= r->in_h * r->in_w;
    if (w->kernel_w == 3) {
        return dense;
    }
    /* The ring of delayed rows holds at least one row wherever the schedule can be made: output row 0 always waits
     * (input row 0 is read by the first window: pad_top < kernel_h). Where the plane rows fit with that one row,
     * the schedule (pb_depthwise_inplace_bytes: some 2,000 instructions on a 27-row tile, at every call of every
     * tile) is not made; only its own tests for a region it takes (dense rows, no more output than input). */
    const int32_t group = r->out_c < 4 ? r->out_c : 4, weights = 8 * w->kernel_h * w->kernel_w;
    if (dw_plane_bytes(r, w) <= weights + r->out_h + r->out_w * group) {
        return dense;
    }
    return dw_plane_bytes(r, w) <= weights + pb_depthwise_inplace_bytes(r, w);
}

#if PB_DSP_NATIVE
/* In place, dw_groups3_apply's calls whose rows can all go to their place as made, with no row delayed (so a group's
 * rows in one run, and the groups one after the other: their channels are apart): rows at least two input rows apart
 * (stride_h >= 2; no padding at the top), dense, no more outputs a row than inputs. Output row k >= 1 then overwrites
 * input rows up to ((k + 1) * out_w - 1) / in_w < 2k (as (k + 1) * out_w <= 2k * in_w), which the windows of rows
 * before k read last (row r by row r / stride_h); row 0 overwrites the first out_w pixels of input row 0, pixel x read
 * only by row 0's outputs x' <= x (their windows start at x' * stride_w: no padding at the left), made by then. An edge
 * column (the right edge clips the last column's windows) is taken row by row, each row's edge pixel after its
 * interior run: the edge pixel of row k >= 1 writes what row k's interior writes, input rows < 2k; row 0's writes
 * pixel out_w - 1 of input row 0, read only by row 0's outputs (made by then). The last row of two window rows comes
 * after all the others: they wrote input rows < 2 (out_h - 1), the first it reads. (The row schedule,
 * pb_depthwise_inplace_schedule, made at every call, delays row 0: its input is read by row 0.) */
static PB_NOINLINE int32_t dw_groups3_in_place(const pb_region *r, const pb_window *w, const pb_requant *q,
                                               const int32_t *bias) {
    return w->stride_h >= 2 && r->in_c == r->out_c && r->out_w <= r->in_w && r->out_h * r->out_w <= r->in_h * r->in_w &&
           pb_in_row_stride(r) == r->in_w * r->in_c && pb_out_row_stride(r) == r->out_w * r->out_c &&
           dw_groups3_fits(r, w) &&
           ((q->prepared != NULL && q->prepared[0] == dw_group_tag(r->out_c, 9)) ||
            dw_groups3_doubled(q, bias, r->out_c));
}
#endif

void pb_depthwise_conv2d_s8_inplace_dsp(const pb_region *r, const pb_window *w, const pb_requant *q, int8_t *buffer,
                                        const int8_t *filter, const int32_t *bias, void *scratch) {
    if (dw_planes_in_place(r, w)) {
        if (w->kernel_w == 3) {
            dw_planes3(r, q, buffer, filter, bias, buffer, scratch);
        } else {
            dw_planes(r, w, q, buffer, filter, bias, buffer, scratch);
        }
        return;
    }
#if PB_DSP_NATIVE
    if (dw_groups3_in_place(r, w, q, bias)) {
        dw_groups3(r, w, q, buffer, filter, bias, buffer, scratch);
        return;
    }
#endif
    dw_dsp(r, w, q, buffer, filter, bias, buffer, scratch, 1);
}
