/* SPDX-License-Identifier: Apache-2.0 */
/* Platform glue for real STM32 boards, run by startup.c before main: the clock (pb_clock_init below, over
 * the family's clock file: clock_stm32.c, clock_stm32l4.c), then the I- and D-caches on Cortex-M7. At the end the core parks (no semihosting without a debugger: a BKPT
 * would fault).
 *
 * The D-cache is safe here: the firmware uses only SRAM and nothing else (no DMA) writes it, and the
 * peripherals (0x40000000-0x5FFFFFFF) are Device memory in the default memory map, never cached. */
#include <stdint.h>

#include "pb_board.h"
#include "pb_protocol.h"
#include "pb_stm32_clock.h"

#define REG(address) (*(volatile uint32_t *)(address))
#define PB_CLOCK_WAIT_POLLS 2000000u
#define SCB_CCR REG(0xE000ED14u)
#define SCB_CCSIDR REG(0xE000ED80u)
#define SCB_CSSELR REG(0xE000ED84u)
#define SCB_ICIALLU REG(0xE000EF50u)
#define SCB_DCISW REG(0xE000EF60u)
#define CCR_DC (1u << 16)
#define CCR_IC (1u << 17)

#if defined(PB_FAMILY_STM32F7) || defined(PB_FAMILY_STM32H7)
static void enable_caches(void) {
    __asm volatile("dsb\n isb" ::: "memory");
    SCB_ICIALLU = 0;
    __asm volatile("dsb\n isb" ::: "memory");
    SCB_CCR |= CCR_IC;
    __asm volatile("dsb\n isb" ::: "memory");

    SCB_CSSELR = 0; /* level 1 data cache */
    __asm volatile("dsb" ::: "memory");
    uint32_t ccsidr = SCB_CCSIDR;
    uint32_t sets = ((ccsidr >> 13) & 0x7FFFu) + 1u;
    uint32_t ways = ((ccsidr >> 3) & 0x3FFu) + 1u;
    /* Cortex-M7: 32-byte lines (set index from bit 5), 4 ways (way index in bits 31:30). */
    for (uint32_t set = 0; set < sets; set++) {
        for (uint32_t way = 0; way < ways; way++) {
            SCB_DCISW = (set << 5) | (way << 30);
        }
    }
    __asm volatile("dsb" ::: "memory");
    SCB_CCR |= CCR_DC;
    __asm volatile("dsb\n isb" ::: "memory");
}
#endif

#if !defined(PB_CLOCK_RESET_HZ) || !defined(PB_CLOCK_RESET_SOURCE) || !defined(PB_CLOCK_SYSCLK_HZ)
#error "PB_CLOCK_* come from the target's family and [clock] table (harness/firmware/build.py, hardware builds)"
#endif

uint32_t pb_clock_sysclk_hz = PB_CLOCK_RESET_HZ;
uint32_t pb_clock_console_hz = PB_CLOCK_RESET_HZ;
const char *pb_clock_source = PB_CLOCK_RESET_SOURCE;

bool pb_stm32_wait_for(volatile uint32_t *reg, uint32_t mask, uint32_t value) {
    for (uint32_t poll = 0; poll < PB_CLOCK_WAIT_POLLS; poll++) {
        if ((*reg & mask) == value) {
            return true;
        }
    }
    return false;
}

#if defined(PB_CLOCK_HSE_HZ)
/* HSEON, HSERDY and HSEBYP are bits 16-18 of RCC_CR in every family here (RM0402, RM0385, RM0433, RM0432). */
bool pb_stm32_start_hse(volatile uint32_t *rcc_cr) {
    *rcc_cr |= PB_CLOCK_HSE_BYPASS ? (1u << 18) : 0u; /* HSEBYP may only change while HSE is off */
    *rcc_cr |= 1u << 16;
    if (pb_stm32_wait_for(rcc_cr, 1u << 17, 1u << 17)) {
        pb_clock_source = PB_CLOCK_HSE_BYPASS ? "hse_bypass" : "hse_crystal";
        return true;
    }
    *rcc_cr &= ~(1u << 16);
    return false;
}
#endif

const char *pb_clock_init(void) {
#ifdef PB_CLOCK_KEEP_RESET
    /* Emulators (Renode) count instructions whatever the clock, and their RCC models may never set
     * the ready flags the family's sequence waits for: stay on the reset clock. */
    return 0;
#endif
    const char *failed_step = pb_stm32_raise_clock();
    if (failed_step) {
        pb_stm32_back_to_reset_clock();
        pb_clock_source = PB_CLOCK_RESET_SOURCE;
        return failed_step;
    }
    pb_clock_sysclk_hz = PB_CLOCK_SYSCLK_HZ;
    pb_clock_console_hz = PB_CLOCK_CONSOLE_HZ;
    return 0;
}

void pb_platform_init(void) {
    const char *clock_failed = pb_clock_init();
#if defined(PB_FAMILY_STM32F7) || defined(PB_FAMILY_STM32H7)
    enable_caches();
#endif
    if (clock_failed) {
        /* Counts at the reset clock would be mislabelled as the rated clock's: say why and stop. The
         * console runs from the reset clock that pb_clock_init() went back to. */
        pb_console_init();
        pb_line_begin("FAULT");
        pb_line_kv_text("cause", clock_failed);
        pb_line_end();
        pb_exit(3);
    }
}

void pb_exit(int code) {
    (void)code;
    for (;;) {
        __asm volatile("wfi");
    }
}
