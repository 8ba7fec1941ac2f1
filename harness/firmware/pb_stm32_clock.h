/* The STM32 clock setup (clock_stm32.c), shared with platform_stm32.c and console_stm32_usart.c. */
#ifndef PB_STM32_CLOCK_H
#define PB_STM32_CLOCK_H

#include <stdint.h>

/* Raise the clock to the target's rated SYSCLK. Returns 0, or the name of the step that did not become
 * ready (e.g. "clock_pll_lock"); the core then runs on the reset clock (HSI) again. */
const char *pb_clock_init(void);

/* What runs now: the reset clock until pb_clock_init() succeeds. */
extern uint32_t pb_clock_sysclk_hz;
extern uint32_t pb_clock_usart3_hz; /* USART3's kernel clock (the APB1 clock) */
extern const char *pb_clock_source; /* "hsi", "hse_bypass", "hse_crystal": the PLL's input */

#endif
