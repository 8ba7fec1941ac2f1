/* SPDX-License-Identifier: Apache-2.0 */
/* Console on an STM32 serial peripheral: the one the target file's [console] table names (instance, TX pin,
 * alternate function), e.g. USART3 on PD8 (NUCLEO-144 F4/F7/H7 boards) or LPUART1 on PG7 (NUCLEO-L4R5ZI).
 * Every address comes from the build as a PB_CONSOLE_* define (harness/firmware/stm32.py: the family's
 * GPIO ports, the peripheral's RCC enable bit); the baud divisor from the peripheral's kernel clock as the
 * family's clock file left it (pb_clock_console_hz). Register layouts:
 *   PB_CONSOLE_USART_V1: F4 USART (SR/DR/BRR/CR1), BRR = f / baud (oversampling by 16)
 *   PB_CONSOLE_USART_V2: F7/H7/L4 USART (CR1/BRR/ISR/TDR), BRR = f / baud
 *   PB_CONSOLE_LPUART:   LPUART (the V2 layout), BRR = 256 f / baud (RM0432, LPUART baud rate generation) */
#include <stdint.h>

#include "pb_board.h"
#include "pb_stm32_clock.h"

#if !defined(PB_CONSOLE_BASE) || !defined(PB_CONSOLE_BAUD) || !defined(PB_CONSOLE_GPIO_BASE) || \
    !defined(PB_CONSOLE_PIN) || !defined(PB_CONSOLE_AF) || !defined(PB_CONSOLE_ENABLE_REG)
#error "PB_CONSOLE_* come from the target file's [console] table (harness/firmware/build.py, hardware builds)"
#endif

#define REG(address) (*(volatile uint32_t *)(address))

#define GPIO_MODER REG(PB_CONSOLE_GPIO_BASE + 0x00u)
#define GPIO_AFR REG(PB_CONSOLE_GPIO_BASE + (PB_CONSOLE_PIN < 8u ? 0x20u : 0x24u)) /* AFRL pins 0-7, AFRH 8-15 */
#define AF_SHIFT ((PB_CONSOLE_PIN % 8u) * 4u)

#if defined(PB_CONSOLE_USART_V1)
#define UART_TX_EMPTY() (REG(PB_CONSOLE_BASE + 0x00u) & (1u << 7)) /* SR.TXE */
#define UART_TDR REG(PB_CONSOLE_BASE + 0x04u)
#define UART_BRR REG(PB_CONSOLE_BASE + 0x08u)
#define UART_CR1 REG(PB_CONSOLE_BASE + 0x0Cu)
#define UART_CR1_ENABLE ((1u << 13) | (1u << 3)) /* UE, TE */
#elif defined(PB_CONSOLE_USART_V2) || defined(PB_CONSOLE_LPUART)
#define UART_CR1 REG(PB_CONSOLE_BASE + 0x00u)
#define UART_BRR REG(PB_CONSOLE_BASE + 0x0Cu)
#define UART_TX_EMPTY() (REG(PB_CONSOLE_BASE + 0x1Cu) & (1u << 7)) /* ISR.TXE */
#define UART_TDR REG(PB_CONSOLE_BASE + 0x28u)
#define UART_CR1_ENABLE ((1u << 0) | (1u << 3)) /* UE, TE */
#else
#error "console_stm32.c needs PB_CONSOLE_USART_V1, PB_CONSOLE_USART_V2 or PB_CONSOLE_LPUART"
#endif

static uint32_t baud_divisor(uint32_t kernel_hz) {
#if defined(PB_CONSOLE_LPUART)
    /* 256 f / baud: 266667 at 120 MHz, 8889 at the 4 MHz reset clock (>= 0x300, < 2**20 both). */
    return (uint32_t)(((uint64_t)kernel_hz * 256u + PB_CONSOLE_BAUD / 2u) / PB_CONSOLE_BAUD);
#else
    /* Oversampling by 16: f / baud on both layouts (V1: mantissa and 4-bit fraction of f / (16 baud)).
     * 115200 baud: 434 at 50 MHz, 469 at 54 MHz, 1042 at 120 MHz. */
    return (kernel_hz + PB_CONSOLE_BAUD / 2u) / PB_CONSOLE_BAUD;
#endif
}

void pb_console_init(void) {
    pb_stm32_console_power(); /* the family's I/O supply, where the pin needs one switched on */
    REG(PB_CONSOLE_GPIO_ENABLE_REG) |= 1u << PB_CONSOLE_GPIO_ENABLE_BIT;
    REG(PB_CONSOLE_ENABLE_REG) |= 1u << PB_CONSOLE_ENABLE_BIT;
    (void)REG(PB_CONSOLE_ENABLE_REG); /* read back: the clock must run before the registers are touched */
    GPIO_MODER = (GPIO_MODER & ~(3u << (PB_CONSOLE_PIN * 2u))) | (2u << (PB_CONSOLE_PIN * 2u)); /* alternate */
    GPIO_AFR = (GPIO_AFR & ~(0xFu << AF_SHIFT)) | ((uint32_t)PB_CONSOLE_AF << AF_SHIFT);
    UART_BRR = baud_divisor(pb_clock_console_hz);
    UART_CR1 = UART_CR1_ENABLE;
}

void pb_console_putc(char c) {
    while (!UART_TX_EMPTY()) {
    }
    UART_TDR = (uint8_t)c;
}

void pb_console_write(const char *text) {
    for (; *text; text++) {
        pb_console_putc(*text);
    }
}
