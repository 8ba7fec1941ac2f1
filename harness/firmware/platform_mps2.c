/* SPDX-License-Identifier: Apache-2.0 */
/* Platform glue for the QEMU MPS2 machines: nothing to bring up; exit through semihosting. */
#include <stdint.h>

#include "pb_board.h"

#define SYS_EXIT 0x18u
#define SYS_EXIT_EXTENDED 0x20u
#define ADP_STOPPED_APPLICATION_EXIT 0x20026u

static uint32_t semihost(uint32_t operation, const void *argument) {
    register uint32_t r0 __asm("r0") = operation;
    register const void *r1 __asm("r1") = argument;
    __asm volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void pb_platform_init(void) {}

/* QEMU exits with status 0 for SYS_EXIT(ApplicationExit) and with the subcode for SYS_EXIT_EXTENDED. */
void pb_exit(int code) {
    if (code == 0) {
        semihost(SYS_EXIT, (const void *)ADP_STOPPED_APPLICATION_EXIT);
    } else {
        const uint32_t block[2] = {ADP_STOPPED_APPLICATION_EXIT, (uint32_t)code};
        semihost(SYS_EXIT_EXTENDED, block);
    }
    for (;;) {
    }
}
