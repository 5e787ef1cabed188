/*
 * Test runner: `wsm_tests [FILTER]` runs every test whose name contains FILTER (all when
 * absent), prints each failure, and ends with the line "N passed, M failed".
 * Exit status: 0 when every test passed, 1 otherwise.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "suites.h"

static const char *filter;
static const char *current;
static int current_failures;
static int passed, failed;

void t_fail(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    current_failures++;
    fprintf(stderr, "  FAIL %s (%s:%d): ", current ? current : "?", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int t_current_failures(void) { return current_failures; }

int t_contains(const void *hay, size_t n, const char *needle) {
    size_t m = strlen(needle);
    const unsigned char *h = hay;
    size_t i;
    if (m == 0) return 1;
    if (hay == NULL || n < m) return 0;
    for (i = 0; i + m <= n; i++)
        if (memcmp(h + i, needle, m) == 0) return 1;
    return 0;
}

void t_run(const char *name, test_fn fn) {
    if (filter && !strstr(name, filter)) return;
    current = name;
    current_failures = 0;
    fn();
    if (current_failures == 0) {
        passed++;
        printf("ok   %s\n", name);
    } else {
        failed++;
        printf("FAIL %s (%d failed check%s)\n", name, current_failures,
               current_failures == 1 ? "" : "s");
    }
    fflush(stdout);
    current = NULL;
}

int main(int argc, char **argv) {
    if (argc > 1) filter = argv[1];
    printf("wsmachine %s, handle %zu bytes aligned to %zu\n", wsm_version(), wsm_conn_size(),
           wsm_conn_align());
    run_api_tests();
    run_handshake_tests();
    run_session_tests();
    run_timer_tests();
    run_deflate_tests();
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 && passed > 0 ? 0 : 1;
}
