/* SPDX-License-Identifier: Apache-2.0 */
/* Timer for QEMU: SysTick, extended to 64 bits by counting wraps in its interrupt.
 *
 * Under `-icount shift=N` QEMU advances virtual time by 2**N ns per instruction, and the MPS2 SysTick
 * counts the 25 MHz processor clock, so one count is 40 instructions (PB_TICK_SCALE, computed from the
 * target file). pb_timer_now() returns instructions: a deterministic QEMU icount figure, not cycles. */
#include <stdint.h>

#include "pb_board.h"

#ifndef PB_TICK_SCALE
#error "PB_TICK_SCALE (instructions per SysTick count) comes from the target file"
#endif

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define SCB_ICSR (*(volatile uint32_t *)0xE000ED04u)
#define ICSR_PENDSTSET (1u << 26)
#define SYST_PERIOD_MASK 0xFFFFFFu

const char pb_timer_unit[] = "instructions";
const uint32_t pb_timer_resolution = PB_TICK_SCALE;

static volatile uint32_t wraps;

void pb_systick_handler(void) { wraps++; }

void pb_timer_init(void) {
    SYST_RVR = SYST_PERIOD_MASK;
    SYST_CVR = 0;
    SYST_CSR = 7u; /* enable, interrupt on wrap, processor clock */
}

/* Timed runs start right after a tick edge: with 40 instructions a tick, where a run starts inside a
 * tick would otherwise shift every layer's count by up to one tick from run to run. */
void pb_timer_sync(void) {
    uint32_t value = SYST_CVR;
    while (SYST_CVR == value) {
    }
}

/* SysTick stops counting while disabled and goes on from its value when enabled again. */
void pb_timer_pause(void) { SYST_CSR = 6u; }

void pb_timer_resume(void) { SYST_CSR = 7u; }

uint64_t pb_timer_now(void) {
    uint32_t wraps_before, value, pending, wraps_after;
    do {
        wraps_before = wraps;
        value = SYST_CVR;
        pending = SCB_ICSR & ICSR_PENDSTSET;
        wraps_after = wraps;
    } while (wraps_before != wraps_after);
    /* A wrap whose interrupt has not run yet: VAL has reloaded (near the top), the count has not. */
    if (pending && value > SYST_PERIOD_MASK / 2) {
        wraps_before++;
    }
    uint64_t ticks = ((uint64_t)wraps_before << 24) | (SYST_PERIOD_MASK - value);
    return ticks * PB_TICK_SCALE;
}
