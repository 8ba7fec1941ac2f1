/* SPDX-License-Identifier: Apache-2.0 */
/* Clock setup for the STM32F4, F7 and H7 families (real boards): PLL to the target's rated SYSCLK, flash
 * wait states, ART/prefetch (F4/F7), regulator voltage scaling (F7 over-drive, H7 VOS0), bus prescalers.
 *
 * Every value comes from the target file's [clock] table, checked by harness/firmware/clocks.py and passed as
 * PB_CLOCK_* defines (hardware builds only). Register addresses and bits: RM0402 (F412), RM0385 (F746),
 * RM0433 (H743). Not run on a board here.
 *
 * pb_clock_init() (platform_stm32.c) runs pb_stm32_raise_clock() below; every wait on a ready flag is
 * bounded (pb_stm32_wait_for). HSE that does not start -> the same PLL from HSI (same SYSCLK, same cycle
 * counts). Anything else that does not become ready -> pb_stm32_back_to_reset_clock() and the step's
 * name, which pb_platform_init() reports as "PB1 FAULT cause=<step>". */
#include <stdint.h>

#include "pb_stm32_clock.h"

#if !defined(PB_CLOCK_SYSCLK_HZ) || !defined(PB_CLOCK_CONSOLE_HZ) || !defined(PB_CLOCK_PLL_M)
#error "PB_CLOCK_* come from the target file's [clock] table (harness/firmware/build.py, hardware builds)"
#endif

#define REG(address) (*(volatile uint32_t *)(address))

#if defined(PB_FAMILY_STM32F4) || defined(PB_FAMILY_STM32F7)
/* ---- STM32F412 / STM32F746: RCC at 0x40023800, PWR at 0x40007000, FLASH at 0x40023C00 ---- */
#define RCC_CR REG(0x40023800u + 0x00u)
#define RCC_PLLCFGR REG(0x40023800u + 0x04u)
#define RCC_CFGR REG(0x40023800u + 0x08u)
#define RCC_APB1ENR REG(0x40023800u + 0x40u)
#define PWR_CR REG(0x40007000u + 0x00u)  /* PWR_CR1 on F7 */
#define PWR_CSR REG(0x40007000u + 0x04u) /* PWR_CSR1 on F7 */
#define FLASH_ACR REG(0x40023C00u + 0x00u)

#define RCC_CR_PLLON (1u << 24)
#define RCC_CR_PLLRDY (1u << 25)
#define RCC_PLLCFGR_SRC_HSE (1u << 22)
/* PLLM[5:0], PLLN[14:6], PLLP[17:16] (P/2 - 1), PLLSRC[22], PLLQ[27:24]; F412's PLLR[30:28] is kept. */
#define RCC_PLLCFGR_FIELDS (0x3Fu | (0x1FFu << 6) | (3u << 16) | (1u << 22) | (0xFu << 24))
#define RCC_CFGR_SW_PLL 2u
#define RCC_CFGR_SWS_MASK (3u << 2)
#define RCC_CFGR_SWS_PLL (2u << 2)
#define RCC_APB1ENR_PWREN (1u << 28)
#define PWR_CR_VOS_SCALE1 (3u << 14)
#define PWR_CSR_VOSRDY (1u << 14)
#define FLASH_ACR_LATENCY_MASK 0xFu
#define FLASH_ACR_PRFTEN (1u << 8)
#if defined(PB_FAMILY_STM32F4)
#define FLASH_ACR_ACCELERATOR ((1u << 9) | (1u << 10)) /* ICEN, DCEN: the ART's instruction/data caches */
#else
#define FLASH_ACR_ACCELERATOR (1u << 9) /* ARTEN */
#define PWR_CR1_ODEN (1u << 16)
#define PWR_CR1_ODSWEN (1u << 17)
#define PWR_CSR1_ODRDY (1u << 16)
#define PWR_CSR1_ODSWRDY (1u << 17)
#endif

void pb_stm32_back_to_reset_clock(void) {
    RCC_CFGR = 0; /* SYSCLK = HSI (on since reset), all prescalers /1 */
    pb_stm32_wait_for(&RCC_CFGR, RCC_CFGR_SWS_MASK, 0);
}

const char *pb_stm32_raise_clock(void) {
    RCC_APB1ENR |= RCC_APB1ENR_PWREN;
    (void)RCC_APB1ENR; /* the PWR clock must run before PWR is written */
    PWR_CR = (PWR_CR & ~(3u << 14)) | PWR_CR_VOS_SCALE1;

    uint32_t pll_source = 0, pll_m = PB_CLOCK_PLL_M_HSI;
#if defined(PB_CLOCK_HSE_HZ)
    if (pb_stm32_start_hse(&RCC_CR)) { /* else the same PLL output from HSI */
        pll_source = RCC_PLLCFGR_SRC_HSE;
        pll_m = PB_CLOCK_PLL_M;
    }
#endif
    RCC_PLLCFGR = (RCC_PLLCFGR & ~RCC_PLLCFGR_FIELDS) | pll_m | (PB_CLOCK_PLL_N << 6) |
                  ((PB_CLOCK_PLL_P / 2u - 1u) << 16) | pll_source | (PB_CLOCK_PLL_Q << 24);
    RCC_CR |= RCC_CR_PLLON;

#if defined(PB_CLOCK_OVERDRIVE)
    /* RM0385 over-drive entry: with the PLL on and SYSCLK still on HSI/HSE, ODEN then ODSWEN. */
    PWR_CR |= PWR_CR1_ODEN;
    if (!pb_stm32_wait_for(&PWR_CSR, PWR_CSR1_ODRDY, PWR_CSR1_ODRDY)) {
        return "clock_overdrive";
    }
    PWR_CR |= PWR_CR1_ODSWEN;
    if (!pb_stm32_wait_for(&PWR_CSR, PWR_CSR1_ODSWRDY, PWR_CSR1_ODSWRDY)) {
        return "clock_overdrive_switch";
    }
#endif
    if (!pb_stm32_wait_for(&RCC_CR, RCC_CR_PLLRDY, RCC_CR_PLLRDY)) {
        return "clock_pll_lock";
    }
    if (!pb_stm32_wait_for(&PWR_CSR, PWR_CSR_VOSRDY, PWR_CSR_VOSRDY)) { /* valid once the PLL is on */
        return "clock_voltage_scale";
    }

    /* Wait states before the clock rises; the ART and prefetch hide them on sequential fetches. */
    FLASH_ACR = (FLASH_ACR & ~FLASH_ACR_LATENCY_MASK) | PB_CLOCK_FLASH_LATENCY;
    if ((FLASH_ACR & FLASH_ACR_LATENCY_MASK) != PB_CLOCK_FLASH_LATENCY) {
        return "clock_flash_latency";
    }
    FLASH_ACR |= FLASH_ACR_PRFTEN | FLASH_ACR_ACCELERATOR;

    /* HPRE[7:4], PPRE1[12:10], PPRE2[15:13] first, then SW = PLL. */
    RCC_CFGR = (PB_CLOCK_HPRE << 4) | (PB_CLOCK_PPRE_APB1 << 10) | (PB_CLOCK_PPRE_APB2 << 13);
    RCC_CFGR |= RCC_CFGR_SW_PLL;
    if (!pb_stm32_wait_for(&RCC_CFGR, RCC_CFGR_SWS_MASK, RCC_CFGR_SWS_PLL)) {
        return "clock_switch";
    }
    return 0;
}

#elif defined(PB_FAMILY_STM32H7)
/* ---- STM32H743: RCC at 0x58024400, PWR at 0x58024800, SYSCFG at 0x58000400, FLASH at 0x52002000 ---- */
#define RCC_CR REG(0x58024400u + 0x00u)
#define RCC_CFGR REG(0x58024400u + 0x10u)
#define RCC_D1CFGR REG(0x58024400u + 0x18u)
#define RCC_D2CFGR REG(0x58024400u + 0x1Cu)
#define RCC_D3CFGR REG(0x58024400u + 0x20u)
#define RCC_PLLCKSELR REG(0x58024400u + 0x28u)
#define RCC_PLLCFGR REG(0x58024400u + 0x2Cu)
#define RCC_PLL1DIVR REG(0x58024400u + 0x30u)
#define RCC_APB4ENR REG(0x58024400u + 0xF4u)
#define PWR_CSR1 REG(0x58024800u + 0x04u)
#define PWR_CR3 REG(0x58024800u + 0x0Cu)
#define PWR_D3CR REG(0x58024800u + 0x18u)
#define SYSCFG_PWRCR REG(0x58000400u + 0x2Cu)
#define FLASH_ACR REG(0x52002000u + 0x00u)

#define RCC_CR_PLL1ON (1u << 24)
#define RCC_CR_PLL1RDY (1u << 25)
#define RCC_CFGR_SW_MASK 7u
#define RCC_CFGR_SW_PLL1 3u
#define RCC_CFGR_SWS_MASK (7u << 3)
#define RCC_CFGR_SWS_PLL1 (3u << 3)
#define RCC_PLLCKSELR_SRC_HSE 2u /* PLLSRC[1:0]: 0 = HSI, 2 = HSE */
#define RCC_PLLCKSELR_PLL1_FIELDS (3u | (0x3Fu << 4)) /* PLLSRC, DIVM1[9:4] */
/* PLL1FRACEN[0], PLL1VCOSEL[1] (0 = wide VCO), PLL1RGE[3:2], DIVP1EN[16], DIVQ1EN[17], DIVR1EN[18]. */
#define RCC_PLLCFGR_PLL1_FIELDS (0xFu | (7u << 16))
#define RCC_PLLCFGR_DIVP1EN (1u << 16)
#define RCC_APB4ENR_SYSCFGEN (1u << 1)
#define PWR_CSR1_ACTVOSRDY (1u << 13)
#define PWR_CR3_SUPPLY_FIELDS 7u /* BYPASS[0], LDOEN[1], SCUEN[2] */
#define PWR_CR3_LDOEN (1u << 1)
#define PWR_D3CR_VOS_MASK (3u << 14)
#define PWR_D3CR_VOS_SCALE1 (3u << 14)
#define PWR_D3CR_VOSRDY (1u << 13)
#define SYSCFG_PWRCR_ODEN 1u
#define FLASH_ACR_FIELDS 0x3Fu /* LATENCY[3:0], WRHIGHFREQ[5:4] */

void pb_stm32_back_to_reset_clock(void) {
    RCC_CFGR &= ~RCC_CFGR_SW_MASK; /* SYSCLK = HSI (on since reset) */
    pb_stm32_wait_for(&RCC_CFGR, RCC_CFGR_SWS_MASK, 0);
    RCC_D1CFGR = 0; /* all prescalers /1 */
    RCC_D2CFGR = 0;
    RCC_D3CFGR = 0;
}

const char *pb_stm32_raise_clock(void) {
    /* Supply: the LDO (the Nucleo's configuration). PWR_CR3 takes one write per power-on; after it the
     * regulator must report the active VOS ready before VOS may change. */
    PWR_CR3 = (PWR_CR3 & ~PWR_CR3_SUPPLY_FIELDS) | PWR_CR3_LDOEN;
    if (!pb_stm32_wait_for(&PWR_CSR1, PWR_CSR1_ACTVOSRDY, PWR_CSR1_ACTVOSRDY)) {
        return "clock_supply";
    }
    PWR_D3CR = (PWR_D3CR & ~PWR_D3CR_VOS_MASK) | PWR_D3CR_VOS_SCALE1;
    if (!pb_stm32_wait_for(&PWR_D3CR, PWR_D3CR_VOSRDY, PWR_D3CR_VOSRDY)) {
        return "clock_voltage_scale";
    }
#if defined(PB_CLOCK_VOS0)
    /* VOS0 = VOS1 + the LDO's over-drive (SYSCFG_PWRCR.ODEN), revision V only. */
    RCC_APB4ENR |= RCC_APB4ENR_SYSCFGEN;
    (void)RCC_APB4ENR;
    SYSCFG_PWRCR |= SYSCFG_PWRCR_ODEN;
    if (!pb_stm32_wait_for(&PWR_D3CR, PWR_D3CR_VOSRDY, PWR_D3CR_VOSRDY)) {
        return "clock_voltage_scale_vos0";
    }
#endif

    uint32_t pll_source = 0, pll_m = PB_CLOCK_PLL_M_HSI;
#if defined(PB_CLOCK_HSE_HZ)
    if (pb_stm32_start_hse(&RCC_CR)) { /* else the same PLL output from HSI */
        pll_source = RCC_PLLCKSELR_SRC_HSE;
        pll_m = PB_CLOCK_PLL_M;
    }
#endif
    RCC_PLLCKSELR = (RCC_PLLCKSELR & ~RCC_PLLCKSELR_PLL1_FIELDS) | (pll_m << 4) | pll_source;
    RCC_PLLCFGR = (RCC_PLLCFGR & ~RCC_PLLCFGR_PLL1_FIELDS) | (PB_CLOCK_PLL_RGE << 2) | RCC_PLLCFGR_DIVP1EN;
    /* DIVN1[8:0], DIVP1[15:9], DIVQ1[22:16], DIVR1[30:24], each the divider minus one. */
    RCC_PLL1DIVR = (PB_CLOCK_PLL_N - 1u) | ((PB_CLOCK_PLL_P - 1u) << 9) | ((PB_CLOCK_PLL_Q - 1u) << 16) |
                   ((PB_CLOCK_PLL_R - 1u) << 24);
    RCC_CR |= RCC_CR_PLL1ON;
    if (!pb_stm32_wait_for(&RCC_CR, RCC_CR_PLL1RDY, RCC_CR_PLL1RDY)) {
        return "clock_pll_lock";
    }

    /* Wait states for the AXI clock before it rises (reset: 7, the safe maximum). No ART on H7: the
     * Cortex-M7 caches (platform_stm32.c) do that job. */
    uint32_t acr = PB_CLOCK_FLASH_LATENCY | (PB_CLOCK_FLASH_WRHIGHFREQ << 4);
    FLASH_ACR = (FLASH_ACR & ~FLASH_ACR_FIELDS) | acr;
    if ((FLASH_ACR & FLASH_ACR_FIELDS) != acr) {
        return "clock_flash_latency";
    }

    /* D1CPRE /1 (CPU = SYSCLK), HPRE[3:0] (AXI/AHB), D1PPRE[6:4] (APB3); D2PPRE1[6:4] (APB1),
     * D2PPRE2[10:8] (APB2); D3PPRE[6:4] (APB4). Then SW = PLL1. */
    RCC_D1CFGR = PB_CLOCK_HPRE | (PB_CLOCK_PPRE_APB3 << 4);
    RCC_D2CFGR = (PB_CLOCK_PPRE_APB1 << 4) | (PB_CLOCK_PPRE_APB2 << 8);
    RCC_D3CFGR = PB_CLOCK_PPRE_APB4 << 4;
    RCC_CFGR = (RCC_CFGR & ~RCC_CFGR_SW_MASK) | RCC_CFGR_SW_PLL1;
    if (!pb_stm32_wait_for(&RCC_CFGR, RCC_CFGR_SWS_MASK, RCC_CFGR_SWS_PLL1)) {
        return "clock_switch";
    }
    return 0;
}

#else
#error "clock_stm32.c needs PB_FAMILY_STM32F4, PB_FAMILY_STM32F7 or PB_FAMILY_STM32H7"
#endif

/* USART3 on PD8 needs no supply switched on in these families. */
void pb_stm32_console_power(void) {}
