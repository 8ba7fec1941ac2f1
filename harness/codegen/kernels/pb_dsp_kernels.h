/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers shared by the Cortex-M DSP kernel files (pb_conv_dsp.c, pb_depthwise_conv_dsp.c): static, so
 * each file gets its own inlined copy. */
#ifndef PB_DSP_KERNELS_H
#define PB_DSP_KERNELS_H

#include <stdint.h>

#include "pb_dsp.h"
#include "pb_kernels.h"

#if defined(__GNUC__)
#define PB_ALWAYS_INLINE inline __attribute__((always_inline))
#define PB_NOINLINE __attribute__((noinline))
/* A dispatcher's: every call in it inlined but those of PB_NOINLINE functions (its tests), so that it keeps no
 * values across a call and jumps to its kernel (a tail call) where their parameters are its own. */
#define PB_FLATTEN __attribute__((flatten))
#else
#define PB_ALWAYS_INLINE inline
#define PB_NOINLINE
#define PB_FLATTEN
#endif
/* A kernel a dispatcher jumps to with its own parameters (PB_FLATTEN): GCC keeps them as declared (without it,
 * IPA-SRA made a clone that takes fewer, which the dispatcher then calls with a frame of its own). */
#if defined(__GNUC__) && !defined(__clang__)
#define PB_SAME_PARAMETERS __attribute__((noipa))
#else
#define PB_SAME_PARAMETERS
#endif

static inline uint32_t *align4(void *p) { return (uint32_t *)(((uintptr_t)p + 3u) & ~(uintptr_t)3u); }

/* An int16 offset in both halves of a word, for SXTAB16. */
static inline uint32_t pack_offset(int32_t offset) { return ((uint32_t)offset & 0xFFFFu) * 0x10001u; }

/* A pb_requant's values in locals: the kernels' int8 stores could alias the struct, so reading its
 * fields inside the loops would reload them after every store. */
typedef struct {
    const int32_t *multiplier, *shift;
    int32_t zero_point, act_min, act_max;
} requant_values;

static inline requant_values requant_of(const pb_requant *q) {
    const requant_values values = {q->multiplier, q->shift, q->output_zero_point, q->act_min, q->act_max};
    return values;
}

static PB_ALWAYS_INLINE int8_t requant(int32_t acc, const requant_values *q, int32_t channel) {
    return pb_requantize_s8_fast(acc, q->multiplier[channel], q->shift[channel], q->zero_point, q->act_min,
                                 q->act_max);
}

static PB_ALWAYS_INLINE int32_t clamp_act(int32_t value, int32_t act_min, int32_t act_max) {
    value = value < act_min ? act_min : value;
    return value > act_max ? act_max : value;
}

#endif
