/* Semihosting (ARM "Semihosting for AArch32 and AArch64" v2, `bkpt 0xab` in Thumb state),
 * checks and stack painting for the C firmware image. */
#include "harness.h"

#define SYS_OPEN 0x01
#define SYS_WRITE 0x05
#define SYS_EXIT_EXTENDED 0x20
#define ADP_STOPPED_APPLICATION_EXIT 0x20026u

static int sh_call(uint32_t op, const void *arg)
{
    register uint32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt #0xab" : "+r"(r0) : "r"(r1) : "memory");
    return (int)r0;
}

static int stdout_handle = -1;

void sh_write(const void *data, size_t len)
{
    if (stdout_handle < 0) {
        /* ":tt" opened with mode 4 ("w") is the debugger's stdout. */
        const uint32_t open_block[3] = {(uint32_t)(uintptr_t)":tt", 4, 3};
        stdout_handle = sh_call(SYS_OPEN, open_block);
    }
    if (stdout_handle >= 0 && len > 0) {
        const uint32_t block[3] = {(uint32_t)stdout_handle, (uint32_t)(uintptr_t)data,
                                   (uint32_t)len};
        (void)sh_call(SYS_WRITE, block);
    }
}

void sh_puts(const char *s)
{
    size_t n = 0;
    while (s[n] != '\0') {
        n++;
    }
    sh_write(s, n);
}

void sh_put_u32(uint32_t n)
{
    char buf[10];
    size_t i = sizeof buf;
    do {
        buf[--i] = (char)('0' + n % 10);
        n /= 10;
    } while (n != 0);
    sh_write(buf + i, sizeof buf - i);
}

void sh_put_hex(const uint8_t *p, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        char two[2] = {hex[p[i] >> 4], hex[p[i] & 15]};
        sh_write(two, 2);
    }
}

void sh_exit(uint32_t code)
{
    const uint32_t block[2] = {ADP_STOPPED_APPLICATION_EXIT, code};
    (void)sh_call(SYS_EXIT_EXTENDED, block);
    for (;;) {
    }
}

static uint32_t passed;

void check(int cond, const char *what)
{
    if (!cond) {
        sh_puts("FAIL: ");
        sh_puts(what);
        sh_puts("\n");
        sh_exit(EXIT_CHECK);
    }
    passed++;
}

void check_bytes(const uint8_t *got, size_t got_len, const uint8_t *want, size_t want_len,
                 const char *what)
{
    int same = got_len == want_len;
    for (size_t i = 0; same && i < got_len; i++) {
        same = got[i] == want[i];
    }
    if (!same) {
        sh_puts("FAIL: ");
        sh_puts(what);
        sh_puts("\n  got  ");
        sh_put_hex(got, got_len);
        sh_puts("\n  want ");
        sh_put_hex(want, want_len);
        sh_puts("\n");
        sh_exit(EXIT_CHECK);
    }
    passed++;
}

uint32_t checks_passed(void)
{
    return passed;
}

#define PAINT 0xCCCCCCCCu
extern uint32_t _sstack, _estack;

void stack_paint(void)
{
    uint32_t here;
    /* Everything from the end of .bss to a little below this frame is unused. */
    volatile uint32_t *p = &_sstack;
    volatile uint32_t *limit = (volatile uint32_t *)((uintptr_t)&here - 64);
    while (p < limit) {
        *p++ = PAINT;
    }
}

uint32_t stack_used(void)
{
    volatile uint32_t *p = &_sstack;
    while (p < &_estack && *p == PAINT) {
        p++;
    }
    return (uint32_t)((uintptr_t)&_estack - (uintptr_t)p);
}
