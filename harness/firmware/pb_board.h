/* SPDX-License-Identifier: Apache-2.0 */
/* Board support that main.c (and test fixtures) use: console, timer, stack measurement, exit.
 * One implementation per platform is linked in (see harness/firmware/build.py: console_*.c, timer_*.c, exit_*.c). */
#ifndef PB_BOARD_H
#define PB_BOARD_H

#include <stdint.h>

/* Console (UART). pb_console_init is called by main before anything is printed. */
void pb_console_init(void);
void pb_console_putc(char c);
void pb_console_write(const char *text); /* NUL-terminated */

/* Timer: a free-running 64-bit count in the platform's latency unit. */
void pb_timer_init(void);
uint64_t pb_timer_now(void);
/* Wait for the timer's next tick, so every run starts at the same phase of a coarse tick (QEMU). */
void pb_timer_sync(void);
/* Stop and restart the count (no read: the units' boundaries stay where main.c reads the timer). What
 * runs in between is not the model's work: the generated test input of a streamed tile, which a camera
 * would have delivered into the buffer (pb_test_input.h). */
void pb_timer_pause(void);
void pb_timer_resume(void);
extern const char pb_timer_unit[];        /* "instructions" (QEMU icount) or "cycles" (DWT) */
extern const uint32_t pb_timer_resolution; /* units per timer tick: 40 on QEMU MPS2, 1 with DWT */

/* Stack: startup.c paints the reserved stack before main; this scans for the deepest overwritten word. */
uint32_t pb_stack_high_water_bytes(void);
uint32_t pb_stack_reserved_bytes(void);

/* Static memory from the linker script's symbols. */
uint32_t pb_data_bytes(void);
uint32_t pb_bss_bytes(void);

/* End the program: QEMU exits with `code` through semihosting; a real board parks the core. */
void pb_exit(int code) __attribute__((noreturn));

/* Board bring-up that must precede main (FPU access, caches on real Cortex-M7). */
void pb_platform_init(void);

#endif
