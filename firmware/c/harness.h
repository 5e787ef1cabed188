/* Test harness for the C firmware image: semihosting output and exit, checks, stack
 * painting. Exit statuses: 0 pass, 1 failed check, 102 HardFault or unexpected exception. */
#ifndef FW_HARNESS_H
#define FW_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#define EXIT_CHECK 1
#define EXIT_FAULT 102

void sh_write(const void *data, size_t len);
void sh_puts(const char *s);
void sh_put_u32(uint32_t n);
void sh_put_hex(const uint8_t *p, size_t len);
__attribute__((noreturn)) void sh_exit(uint32_t code);

/* Counts a passed check; on failure prints FAIL: what and exits 1. */
void check(int cond, const char *what);
/* check() for byte strings; prints both in hex on a mismatch. */
void check_bytes(const uint8_t *got, size_t got_len, const uint8_t *want, size_t want_len,
                 const char *what);
uint32_t checks_passed(void);

void stack_paint(void);
uint32_t stack_used(void);

#endif
