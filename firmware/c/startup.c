/* Minimal Cortex-M4F startup for QEMU mps2-an386: vector table, reset handler (FPU on,
 * .data copied, .bss zeroed, main called, its return value becomes the exit status), and
 * fault handlers that end the run with status 102. No C library. */
#include <stdint.h>

#include "harness.h"

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;
int main(void);

__attribute__((noreturn)) void Reset_Handler(void)
{
    /* CPACR: full access to CP10/CP11 (the FPU). The library is built for the hard-float
     * ABI and may use FPU registers. */
    volatile uint32_t *cpacr = (volatile uint32_t *)0xE000ED88u;
    *cpacr |= 0xFu << 20;
    __asm__ volatile("dsb\n\tisb" ::: "memory");

    volatile uint32_t *src = &_sidata;
    volatile uint32_t *dst = &_sdata;
    while (dst < &_edata) {
        *dst++ = *src++;
    }
    for (dst = &_sbss; dst < &_ebss;) {
        *dst++ = 0;
    }
    sh_exit((uint32_t)main());
}

__attribute__((noreturn)) static void HardFault_Handler(void)
{
    sh_puts("FAULT: HardFault\n");
    sh_exit(EXIT_FAULT);
}

__attribute__((noreturn)) static void Default_Handler(void)
{
    sh_puts("FAULT: unexpected exception or interrupt\n");
    sh_exit(EXIT_FAULT);
}

typedef void (*vector_t)(void);

/* Initial stack pointer, then the 15 system exceptions (no device interrupts are enabled). */
__attribute__((section(".vectors"), used)) static const vector_t vectors[16] = {
    (vector_t)(uintptr_t)&_estack,
    Reset_Handler,
    Default_Handler,   /* NMI */
    HardFault_Handler, /* HardFault */
    HardFault_Handler, /* MemManage */
    HardFault_Handler, /* BusFault */
    HardFault_Handler, /* UsageFault */
    0,
    0,
    0,
    0,
    Default_Handler, /* SVCall */
    Default_Handler, /* DebugMonitor */
    0,
    Default_Handler, /* PendSV */
    Default_Handler, /* SysTick */
};
