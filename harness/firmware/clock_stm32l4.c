/* SPDX-License-Identifier: Apache-2.0 */
/* Clock setup for the STM32L4+ family (STM32L4R5 on a NUCLEO-L4R5ZI; reference manual RM0432): the main
 * PLL's R output to the rated SYSCLK, Range 1 boost mode above 80 MHz, flash wait states, ART (prefetch,
 * instruction and data caches), bus prescalers. And the console's I/O supply: port G (PG7, LPUART1 TX on
 * the Nucleo) is powered from VDDIO2, which the firmware must declare valid (PWR_CR2.IOSV) first.
 *
 * Every value comes from the target file's [clock] table, checked by harness/firmware/clocks.py and passed
 * as PB_CLOCK_* defines (hardware builds only). Not run on a board here. pb_clock_init() (platform_stm32.c)
 * runs pb_stm32_raise_clock() below; every wait on a ready flag is bounded (pb_stm32_wait_for); a step
 * that does not become ready -> pb_stm32_back_to_reset_clock() (MSI 4 MHz) and the step's name, which
 * pb_platform_init() reports as "PB1 FAULT cause=<step>". HSE that does not start -> the same PLL from
 * HSI16. */
#include <stdint.h>

#include "pb_stm32_clock.h"

#if !defined(PB_CLOCK_SYSCLK_HZ) || !defined(PB_CLOCK_CONSOLE_HZ) || !defined(PB_CLOCK_PLL_R)
#error "PB_CLOCK_* come from the target file's [clock] table (harness/firmware/build.py, hardware builds)"
#endif

#define REG(address) (*(volatile uint32_t *)(address))

/* RM0432 memory map: RCC 0x40021000, PWR 0x40007000, FLASH registers 0x40022000. */
#define RCC_CR REG(0x40021000u + 0x00u)
#define RCC_CFGR REG(0x40021000u + 0x08u)
#define RCC_PLLCFGR REG(0x40021000u + 0x0Cu)
#define RCC_APB1ENR1 REG(0x40021000u + 0x58u)
#define PWR_CR1 REG(0x40007000u + 0x00u)
#define PWR_CR2 REG(0x40007000u + 0x04u)
#define PWR_SR2 REG(0x40007000u + 0x14u)
#define PWR_CR5 REG(0x40007000u + 0x80u)
#define FLASH_ACR REG(0x40022000u + 0x00u)

#define RCC_CR_HSION (1u << 8)
#define RCC_CR_HSIRDY (1u << 10)
#define RCC_CR_PLLON (1u << 24)
#define RCC_CR_PLLRDY (1u << 25)
/* CFGR: SW[1:0], SWS[3:2] (3 = PLL), HPRE[7:4], PPRE1[10:8], PPRE2[13:11]. */
#define RCC_CFGR_SW_PLL 3u
#define RCC_CFGR_SWS_MASK (3u << 2)
#define RCC_CFGR_SWS_PLL (3u << 2)
#define RCC_CFGR_HPRE_DIV2 (8u << 4)
/* PLLCFGR: PLLSRC[1:0] (2 = HSI16, 3 = HSE), PLLM[7:4] (M - 1), PLLN[14:8], PLLQ[22:21] (Q / 2 - 1),
 * PLLREN[24], PLLR[26:25] (R / 2 - 1), PLLPDIV[31:27] (P). PLLPEN and PLLQEN stay 0: only R is used. */
#define RCC_PLLCFGR_SRC_HSI 2u
#define RCC_PLLCFGR_SRC_HSE 3u
#define RCC_PLLCFGR_REN (1u << 24)
#define RCC_APB1ENR1_PWREN (1u << 28)
#define PWR_CR1_VOS_MASK (3u << 9)
#define PWR_CR1_VOS_RANGE1 (1u << 9)
#define PWR_CR2_IOSV (1u << 9)
#define PWR_SR2_VOSF (1u << 10)
#define PWR_CR5_R1MODE (1u << 8) /* 0: Range 1 boost mode, needed above 80 MHz */
#define FLASH_ACR_LATENCY_MASK 0xFu
#define FLASH_ACR_ART ((1u << 8) | (1u << 9) | (1u << 10)) /* PRFTEN, ICEN, DCEN */
#define GPIOG_BASE 0x48001800u

static void power_on(void) {
    RCC_APB1ENR1 |= RCC_APB1ENR1_PWREN;
    (void)RCC_APB1ENR1; /* the PWR clock must run before PWR is written */
}

void pb_stm32_console_power(void) {
#if PB_CONSOLE_GPIO_BASE == GPIOG_BASE
    power_on();
    PWR_CR2 |= PWR_CR2_IOSV; /* PG2-PG15 are supplied by VDDIO2 (tied to VDD on the Nucleo) */
#endif
}

void pb_stm32_back_to_reset_clock(void) {
    RCC_CFGR = 0; /* SYSCLK = MSI (on since reset), all prescalers /1 */
    pb_stm32_wait_for(&RCC_CFGR, RCC_CFGR_SWS_MASK, 0);
}

const char *pb_stm32_raise_clock(void) {
    power_on();
#if defined(PB_CLOCK_BOOST)
    PWR_CR5 &= ~PWR_CR5_R1MODE;
#endif
    PWR_CR1 = (PWR_CR1 & ~PWR_CR1_VOS_MASK) | PWR_CR1_VOS_RANGE1;
    if (!pb_stm32_wait_for(&PWR_SR2, PWR_SR2_VOSF, 0)) {
        return "clock_voltage_scale";
    }

    uint32_t pll_source = RCC_PLLCFGR_SRC_HSI, pll_m = PB_CLOCK_PLL_M_HSI;
#if defined(PB_CLOCK_HSE_HZ)
    if (pb_stm32_start_hse(&RCC_CR)) { /* else the same PLL output from HSI */
        pll_source = RCC_PLLCFGR_SRC_HSE;
        pll_m = PB_CLOCK_PLL_M;
    }
#endif
    if (pll_source == RCC_PLLCFGR_SRC_HSI) {
        RCC_CR |= RCC_CR_HSION; /* HSI16 is off after reset (MSI runs) */
        if (!pb_stm32_wait_for(&RCC_CR, RCC_CR_HSIRDY, RCC_CR_HSIRDY)) {
            return "clock_hsi";
        }
        pb_clock_source = "hsi";
    }
    RCC_PLLCFGR = pll_source | ((pll_m - 1u) << 4) | (PB_CLOCK_PLL_N << 8) | ((PB_CLOCK_PLL_Q / 2u - 1u) << 21) |
                  RCC_PLLCFGR_REN | ((PB_CLOCK_PLL_R / 2u - 1u) << 25) | (PB_CLOCK_PLL_P << 27);
    RCC_CR |= RCC_CR_PLLON;
    if (!pb_stm32_wait_for(&RCC_CR, RCC_CR_PLLRDY, RCC_CR_PLLRDY)) {
        return "clock_pll_lock";
    }

    /* Wait states before the clock rises; the ART (prefetch, I- and D-cache) hides them on hits. */
    FLASH_ACR = (FLASH_ACR & ~FLASH_ACR_LATENCY_MASK) | PB_CLOCK_FLASH_LATENCY;
    if ((FLASH_ACR & FLASH_ACR_LATENCY_MASK) != PB_CLOCK_FLASH_LATENCY) {
        return "clock_flash_latency";
    }
    FLASH_ACR |= FLASH_ACR_ART;

    uint32_t buses = (PB_CLOCK_PPRE_APB1 << 8) | (PB_CLOCK_PPRE_APB2 << 11);
#if defined(PB_CLOCK_BOOST) && PB_CLOCK_HPRE == 0
    /* RM0432: switching to a SYSCLK above 80 MHz goes through HCLK = SYSCLK / 2 for at least 1 us. */
    RCC_CFGR = buses | RCC_CFGR_HPRE_DIV2 | RCC_CFGR_SW_PLL;
#else
    RCC_CFGR = buses | (PB_CLOCK_HPRE << 4) | RCC_CFGR_SW_PLL;
#endif
    if (!pb_stm32_wait_for(&RCC_CFGR, RCC_CFGR_SWS_MASK, RCC_CFGR_SWS_PLL)) {
        return "clock_switch";
    }
#if defined(PB_CLOCK_BOOST) && PB_CLOCK_HPRE == 0
    for (volatile uint32_t spin = 0; spin < 128u; spin++) { /* >= 1 us at HCLK 60 MHz */
    }
    RCC_CFGR = buses | (PB_CLOCK_HPRE << 4) | RCC_CFGR_SW_PLL;
#endif
    return 0;
}
