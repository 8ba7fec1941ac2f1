/* SPDX-License-Identifier: Apache-2.0 */
/* Console on the MPS2's CMSDK APB UART (QEMU). PB_CONSOLE_BASE is UART0 at 0x40004000. */
#include <stdint.h>

#include "pb_board.h"

#ifndef PB_CONSOLE_BASE
#error "PB_CONSOLE_BASE (the UART's base address) comes from the target file"
#endif

#define UART_REG(offset) (*(volatile uint32_t *)(PB_CONSOLE_BASE + (offset)))
#define UART_DATA UART_REG(0x00)
#define UART_STATE UART_REG(0x04) /* bit 0: TX buffer full */
#define UART_CTRL UART_REG(0x08)  /* bit 0: TX enable */
#define UART_BAUDDIV UART_REG(0x10)

void pb_console_init(void) {
    UART_BAUDDIV = 217; /* 25 MHz / 115200; QEMU ignores the rate but rejects a divider below 16 */
    UART_CTRL = 1u;
}

void pb_console_putc(char c) {
    while (UART_STATE & 1u) {
    }
    UART_DATA = (uint8_t)c;
}

void pb_console_write(const char *text) {
    for (; *text; text++) {
        pb_console_putc(*text);
    }
}
