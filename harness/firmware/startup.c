/* SPDX-License-Identifier: Apache-2.0 */
/* Startup: vector table, reset handler (FPU on, .data/.bss, stack painting), fault reporting.
 *
 * The linker script (linker.ld.j2) puts the stack at the bottom of RAM, below .data and .bss, so a
 * stack overflow runs off the start of RAM and faults instead of silently corrupting the arena. */
#include <stdint.h>
#include <string.h>

#include "pb_board.h"
#include "pb_protocol.h"

#define PB_STACK_PAINT 0x5AFEC0DEu

extern uint32_t __pb_stack_bottom, __pb_stack_top;
extern uint32_t __pb_data_start, __pb_data_end, __pb_data_load;
extern uint32_t __pb_bss_start, __pb_bss_end;

int main(void);
void pb_reset_handler(void);
void pb_fault_handler(void);
void pb_systick_handler(void) __attribute__((weak, alias("pb_unused_handler")));

void pb_unused_handler(void) { pb_fault_handler(); }

/* The 16 Cortex-M system exceptions; no device interrupts are used. */
__attribute__((section(".isr_vector"), used)) static void (*const pb_vector_table[16])(void) = {
    (void (*)(void))(&__pb_stack_top), /* initial MSP */
    pb_reset_handler,
    pb_fault_handler, /* NMI */
    pb_fault_handler, /* HardFault */
    pb_fault_handler, /* MemManage */
    pb_fault_handler, /* BusFault */
    pb_fault_handler, /* UsageFault */
    0, 0, 0, 0,
    pb_fault_handler, /* SVCall */
    pb_fault_handler, /* DebugMonitor */
    0,
    pb_fault_handler, /* PendSV */
    pb_systick_handler,
};

/* Before any C runs: grant FPU access (with -mfloat-abi=hard the compiler may use FP registers
 * anywhere) and set SP (a debugger load may enter here without the vector table's MSP). */
__attribute__((naked, noreturn)) void pb_reset_handler(void) {
    __asm volatile(
#if defined(__ARM_FP)
        "ldr r0, =0xE000ED88\n" /* CPACR: CP10, CP11 full access */
        "ldr r1, [r0]\n"
        "orr r1, r1, #(0xF << 20)\n"
        "str r1, [r0]\n"
        "dsb\n"
        "isb\n"
#endif
        "ldr r0, =__pb_stack_top\n"
        "mov sp, r0\n"
        "b pb_reset_c\n");
}

static void pb_paint_stack(void) {
    uint32_t *sp;
    __asm volatile("mov %0, sp" : "=r"(sp));
    /* Leave the words just below SP alone: this function's callees may still use them. */
    for (volatile uint32_t *word = &__pb_stack_bottom; word < sp - 16; word++) {
        *word = PB_STACK_PAINT;
    }
}

/* A 64 kB no-access MPU region just below RAM, where an overflowing stack goes next: without it the
 * MPS2 machines quietly accept the writes (there is no fault and the high-water mark just saturates). */
#define PB_GUARD_BYTES 0x10000u
#define MPU_CTRL (*(volatile uint32_t *)0xE000ED94u)
#define MPU_RNR (*(volatile uint32_t *)0xE000ED98u)
#define MPU_RBAR (*(volatile uint32_t *)0xE000ED9Cu)
#define MPU_RASR (*(volatile uint32_t *)0xE000EDA0u)
#define SCB_SHCSR (*(volatile uint32_t *)0xE000ED24u)

static void pb_guard_stack(void) {
    uint32_t ram_origin = (uint32_t)&__pb_stack_bottom;
    if (ram_origin % PB_GUARD_BYTES != 0) {
        return; /* the region base must be aligned to its size; the targets' RAM origins all are */
    }
    MPU_RNR = 0;
    MPU_RBAR = ram_origin - PB_GUARD_BYTES;
    /* XN, AP = no access, SIZE = log2(64 kB) - 1 = 15, enable */
    MPU_RASR = (1u << 28) | (0u << 24) | (15u << 1) | 1u;
    MPU_CTRL = (1u << 2) | 1u; /* PRIVDEFENA (default map elsewhere), ENABLE */
    SCB_SHCSR |= 1u << 16;     /* MemManage faults are reported as such */
    __asm volatile("dsb\n isb" ::: "memory");
}

__attribute__((noreturn, used)) void pb_reset_c(void) {
    memcpy(&__pb_data_start, &__pb_data_load,
           (uint32_t)((uint8_t *)&__pb_data_end - (uint8_t *)&__pb_data_start));
    memset(&__pb_bss_start, 0, (uint32_t)((uint8_t *)&__pb_bss_end - (uint8_t *)&__pb_bss_start));
    pb_paint_stack();
    pb_guard_stack();
    pb_platform_init();
    pb_exit(main());
}

uint32_t pb_stack_high_water_bytes(void) {
    const uint32_t *word = &__pb_stack_bottom;
    while (word < &__pb_stack_top && *word == PB_STACK_PAINT) {
        word++;
    }
    return (uint32_t)((const uint8_t *)&__pb_stack_top - (const uint8_t *)word);
}

uint32_t pb_stack_reserved_bytes(void) {
    return (uint32_t)((uint8_t *)&__pb_stack_top - (uint8_t *)&__pb_stack_bottom);
}

uint32_t pb_data_bytes(void) {
    return (uint32_t)((uint8_t *)&__pb_data_end - (uint8_t *)&__pb_data_start);
}

uint32_t pb_bss_bytes(void) {
    return (uint32_t)((uint8_t *)&__pb_bss_end - (uint8_t *)&__pb_bss_start);
}

/* Faults: restart on a fresh stack (the old one may be what overflowed), print one PB1 FAULT line
 * and exit with code 3, so the host sees a reason instead of a hang. */
__attribute__((naked, noreturn)) void pb_fault_handler(void) {
    __asm volatile(
        "mrs r0, msp\n"
        "ldr r1, =__pb_stack_top\n"
        "mov sp, r1\n"
        "mrs r1, ipsr\n"
        "b pb_fault_report\n");
}

__attribute__((noreturn, used)) void pb_fault_report(const uint32_t *frame, uint32_t ipsr) {
    uint32_t cfsr = *(const volatile uint32_t *)0xE000ED28u;
    uint32_t hfsr = *(const volatile uint32_t *)0xE000ED2Cu;
    uint32_t mmfar = *(const volatile uint32_t *)0xE000ED34u;
    uint32_t ram_origin = (uint32_t)&__pb_stack_bottom;
    int frame_ok = frame >= &__pb_stack_bottom && frame + 8 <= &__pb_stack_top;
    /* MSTKERR (exception entry could not push), or a data access that hit the guard below RAM. */
    int stack_overflow = (cfsr & (1u << 4)) ||
                         ((cfsr & 0x82u) == 0x82u && mmfar < ram_origin && mmfar >= ram_origin - PB_GUARD_BYTES);
    pb_line_begin("FAULT");
    pb_line_kv_u64("exception", ipsr & 0x1FF);
    pb_line_kv_hex32("pc", frame_ok ? frame[6] : 0);
    pb_line_kv_hex32("cfsr", cfsr);
    pb_line_kv_hex32("hfsr", hfsr);
    pb_line_kv_hex32("mmfar", mmfar);
    if (stack_overflow) {
        pb_line_kv_text("cause", "stack_overflow");
    }
    pb_line_end();
    pb_exit(3);
}
