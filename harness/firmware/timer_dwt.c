/* SPDX-License-Identifier: Apache-2.0 */
/* Timer for real boards: the DWT cycle counter (core cycles), extended to 64 bits in software.
 * The extension needs a reading at least every 2**32 cycles (43 s at 100 MHz, 8.9 s at 480 MHz): the
 * per-layer run reads it after every layer; a whole-run total longer than that would wrap, which the
 * host catches because the layer times then no longer add up to the total. QEMU does not model the DWT
 * (CYCCNT reads 0). Renode's DWT counts one per instruction: its builds set PB_TIMER_UNIT to say so. */
#include <stdint.h>

#include "pb_board.h"

#define DEMCR (*(volatile uint32_t *)0xE000EDFCu)
#define DEMCR_TRCENA (1u << 24)
#define DWT_CTRL (*(volatile uint32_t *)0xE0001000u)
#define DWT_CYCCNT (*(volatile uint32_t *)0xE0001004u)
#define DWT_LAR (*(volatile uint32_t *)0xE0001FB0u)

#ifndef PB_TIMER_UNIT
#define PB_TIMER_UNIT "cycles"
#endif

const char pb_timer_unit[] = PB_TIMER_UNIT;
const uint32_t pb_timer_resolution = 1;

static uint32_t high_word, last_low;

void pb_timer_init(void) {
    DEMCR |= DEMCR_TRCENA;
    DWT_LAR = 0xC5ACCE55u; /* Cortex-M7 locks the DWT until this key is written; harmless on M4 */
    DWT_CYCCNT = 0;
    DWT_CTRL |= 1u; /* CYCCNTENA */
}

void pb_timer_sync(void) {} /* one-cycle resolution: nothing to align */

void pb_timer_pause(void) { DWT_CTRL &= ~1u; }

void pb_timer_resume(void) { DWT_CTRL |= 1u; }

uint64_t pb_timer_now(void) {
    uint32_t low = DWT_CYCCNT;
    if (low < last_low) {
        high_word++;
    }
    last_low = low;
    return ((uint64_t)high_word << 32) | low;
}
