/* SPDX-License-Identifier: Apache-2.0 */
/* The STM32 clock: pb_clock_init() and what it runs on (platform_stm32.c), and what each family's clock file
 * (clock_stm32.c: F4, F7, H7; clock_stm32l4.c: L4+) provides. Shared with console_stm32.c. */
#ifndef PB_STM32_CLOCK_H
#define PB_STM32_CLOCK_H

#include <stdbool.h>
#include <stdint.h>

/* Raise the clock to the target's rated SYSCLK. Returns 0, or the name of the step that did not become
 * ready (e.g. "clock_pll_lock"); the core then runs on the reset clock again. */
const char *pb_clock_init(void);

/* What runs now: the reset clock (PB_CLOCK_RESET_HZ, PB_CLOCK_RESET_SOURCE) until pb_clock_init() succeeds. */
extern uint32_t pb_clock_sysclk_hz;
extern uint32_t pb_clock_console_hz; /* the console peripheral's kernel clock (its APB bus clock) */
extern const char *pb_clock_source;  /* "hsi", "msi", "hse_bypass", "hse_crystal": the PLL's input */

/* True once (*reg & mask) == value; false after a bounded number of reads (>= 0.1 s at a reset clock). */
bool pb_stm32_wait_for(volatile uint32_t *reg, uint32_t mask, uint32_t value);

/* HSE on, bypassed or as a crystal as the target says (PB_CLOCK_HSE_*): true once it runs (pb_clock_source
 * says which); false when it does not start, with HSE off again. */
bool pb_stm32_start_hse(volatile uint32_t *rcc_cr);

/* The family's clock file: the sequence to the rated clock (0, or the name of the step that failed; it may
 * set pb_clock_source), the way back to the reset clock, and whatever the console's pins need powered
 * before use (the L4+'s VDDIO2 for port G; nothing elsewhere). */
const char *pb_stm32_raise_clock(void);
void pb_stm32_back_to_reset_clock(void);
void pb_stm32_console_power(void);

#endif
