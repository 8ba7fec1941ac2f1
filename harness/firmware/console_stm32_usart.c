/* Console on an STM32 USART3, TX on PD8 (the ST-LINK virtual COM port of NUCLEO-144 boards).
 * The baud divisor comes from USART3's kernel clock as clock_stm32.c left it (the APB1 clock; the reset
 * kernel-clock selection is kept); PB_CONSOLE_BASE, PB_CONSOLE_BAUD and the family come from the target.
 * PB_USART_V1: F4 register layout (SR/DR/BRR/CR1); PB_USART_V2: F7/H7 layout (CR1/BRR/ISR/TDR). */
#include <stdint.h>

#include "pb_board.h"
#include "pb_stm32_clock.h"

#if !defined(PB_CONSOLE_BASE) || !defined(PB_CONSOLE_BAUD)
#error "PB_CONSOLE_BASE and PB_CONSOLE_BAUD come from the target file"
#endif

#define REG(address) (*(volatile uint32_t *)(address))

#if defined(PB_FAMILY_STM32F4) || defined(PB_FAMILY_STM32F7)
#define RCC_GPIO_ENABLE REG(0x40023800u + 0x30u) /* RCC_AHB1ENR */
#define RCC_USART_ENABLE REG(0x40023800u + 0x40u) /* RCC_APB1ENR */
#define GPIOD_BASE 0x40020C00u
#elif defined(PB_FAMILY_STM32H7)
#define RCC_GPIO_ENABLE REG(0x58024400u + 0xE0u) /* RCC_AHB4ENR */
#define RCC_USART_ENABLE REG(0x58024400u + 0xE8u) /* RCC_APB1LENR */
#define GPIOD_BASE 0x58020C00u
#else
#error "console_stm32_usart.c needs PB_FAMILY_STM32F4, PB_FAMILY_STM32F7 or PB_FAMILY_STM32H7"
#endif

#define GPIOD_MODER REG(GPIOD_BASE + 0x00u)
#define GPIOD_AFRH REG(GPIOD_BASE + 0x24u)

#if defined(PB_USART_V1)
#define USART_TX_EMPTY() (REG(PB_CONSOLE_BASE + 0x00u) & (1u << 7)) /* SR.TXE */
#define USART_TDR REG(PB_CONSOLE_BASE + 0x04u)
#define USART_BRR REG(PB_CONSOLE_BASE + 0x08u)
#define USART_CR1 REG(PB_CONSOLE_BASE + 0x0Cu)
#define USART_CR1_ENABLE ((1u << 13) | (1u << 3)) /* UE, TE */
#elif defined(PB_USART_V2)
#define USART_CR1 REG(PB_CONSOLE_BASE + 0x00u)
#define USART_BRR REG(PB_CONSOLE_BASE + 0x0Cu)
#define USART_TX_EMPTY() (REG(PB_CONSOLE_BASE + 0x1Cu) & (1u << 7)) /* ISR.TXE */
#define USART_TDR REG(PB_CONSOLE_BASE + 0x28u)
#define USART_CR1_ENABLE ((1u << 0) | (1u << 3)) /* UE, TE */
#else
#error "console_stm32_usart.c needs PB_USART_V1 or PB_USART_V2"
#endif

void pb_console_init(void) {
    RCC_GPIO_ENABLE |= 1u << 3;   /* GPIODEN */
    RCC_USART_ENABLE |= 1u << 18; /* USART3EN */
    (void)RCC_USART_ENABLE;       /* read back: the clock must be running before the registers are touched */
    GPIOD_MODER = (GPIOD_MODER & ~(3u << 16)) | (2u << 16); /* PD8 alternate function */
    GPIOD_AFRH = (GPIOD_AFRH & ~0xFu) | 7u;                /* AF7 = USART3_TX */
    /* Oversampling by 16: BRR = f_ck / baud on both layouts (V1: mantissa and 4-bit fraction of
     * f_ck / (16 baud)). 115200 baud: 434 at 50 MHz, 469 at 54 MHz, 1042 at 120 MHz. */
    USART_BRR = (pb_clock_usart3_hz + PB_CONSOLE_BAUD / 2u) / PB_CONSOLE_BAUD;
    USART_CR1 = USART_CR1_ENABLE;
}

void pb_console_putc(char c) {
    while (!USART_TX_EMPTY()) {
    }
    USART_TDR = (uint8_t)c;
}

void pb_console_write(const char *text) {
    for (; *text; text++) {
        pb_console_putc(*text);
    }
}
