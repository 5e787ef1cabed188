/* The API surface: caller memory for handles, NULL and invalid arguments, invalid handles,
 * result messages, defaults, and the reconnect policy. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "support.h"

static const uint8_t *u8(const char *s) { return (const uint8_t *)s; }

#define MEM_BYTES 1024
static _Alignas(16) unsigned char static_mem[MEM_BYTES];

static void test_handle_size_and_alignment(void) {
    size_t a = wsm_conn_align();
    CHECK(wsm_conn_size() > 0);
    CHECK(wsm_conn_size() <= MEM_BYTES);
    CHECK(a > 0 && (a & (a - 1)) == 0);
    CHECK(a <= 16);
    CHECK_EQ(wsm_conn_size() % a, 0);
}

static void test_handle_in_static_memory(void) {
    wsm_conn *c = NULL;
    REQUIRE_OK(wsm_conn_init(static_mem, sizeof static_mem, WSM_ROLE_SERVER, NULL, 0, NULL, false,
                             &c));
    CHECK((void *)c == (void *)static_mem);
    CHECK_EQ(wsm_state(c), WSM_CONNECTING);
    CHECK(!wsm_should_close_transport(c));
    /* Exactly wsm_conn_size() bytes are enough. */
    c = NULL;
    CHECK_OK(wsm_conn_init(static_mem, wsm_conn_size(), WSM_ROLE_SERVER, NULL, 0, NULL, true, &c));
    CHECK_EQ(wsm_state(c), WSM_OPEN);
    /* wsm_conn_free on caller memory only invalidates the handle. */
    wsm_conn_free(c);
    CHECK_EQ(wsm_state(c), WSM_CLOSED);
    CHECK(wsm_should_close_transport(c));
    {
        uint8_t out[16];
        size_t n = 0;
        CHECK_RES(wsm_send(c, WSM_TEXT, u8("x"), 1, out, sizeof out, &n),
                  WSM_ERR_INVALID_HANDLE);
    }
}

static void test_handle_on_the_stack(void) {
    _Alignas(16) unsigned char mem[MEM_BYTES];
    wsm_conn *c = NULL;
    uint8_t seed[16], out[64];
    size_t n = 0;
    test_random16(seed);
    REQUIRE_OK(wsm_conn_init(mem, sizeof mem, WSM_ROLE_CLIENT, NULL, 0, seed, true, &c));
    CHECK((void *)c == (void *)mem);
    CHECK_EQ(wsm_state(c), WSM_OPEN);
    CHECK_OK(wsm_send(c, WSM_TEXT, u8("abc"), 3, out, sizeof out, &n));
    CHECK_EQ(n, 2 + 4 + 3);
    CHECK_EQ(out[0], 0x81);
    CHECK_EQ(out[1], 0x83);
}

static void test_conn_init_bad_memory(void) {
    wsm_conn *c = (wsm_conn *)(void *)&c; /* a sentinel that must stay unchanged */
    wsm_conn *const sentinel = c;
    size_t a = wsm_conn_align();
    CHECK_RES(wsm_conn_init(static_mem, wsm_conn_size() - 1, WSM_ROLE_SERVER, NULL, 0, NULL, false,
                            &c),
              WSM_ERR_MEMORY);
    CHECK_RES(wsm_conn_init(static_mem, 0, WSM_ROLE_SERVER, NULL, 0, NULL, false, &c),
              WSM_ERR_MEMORY);
    if (a > 1) {
        CHECK_RES(wsm_conn_init(static_mem + 1, sizeof static_mem - 1, WSM_ROLE_SERVER, NULL, 0,
                                NULL, false, &c),
                  WSM_ERR_MEMORY);
        CHECK_RES(wsm_conn_init(static_mem + a / 2, sizeof static_mem - a, WSM_ROLE_SERVER, NULL, 0,
                                NULL, false, &c),
                  WSM_ERR_MEMORY);
    }
    /* Aligned at the next boundary works. */
    CHECK(c == sentinel);
    CHECK_OK(wsm_conn_init(static_mem + a, sizeof static_mem - a, WSM_ROLE_SERVER, NULL, 0, NULL,
                           false, &c));
    CHECK((void *)c == (void *)(static_mem + a));
}

static void test_null_arguments(void) {
    _Alignas(16) unsigned char mem[MEM_BYTES];
    wsm_conn *c = NULL, *cl = NULL;
    uint8_t out[256], seed[16];
    size_t n = 0, consumed = 0;
    wsm_event ev;
    wsm_header h[4];
    wsm_request r;
    wsm_response resp;
    wsm_client_request req;
    wsm_failure_info fi;
    bool complete;
    test_random16(seed);
    memset(&req, 0, sizeof req);
    req.host = "h";
    req.target = "/";

    CHECK_RES(wsm_config_default(NULL), WSM_ERR_NULL);
    CHECK_RES(wsm_conn_init(NULL, 1024, WSM_ROLE_SERVER, NULL, 0, NULL, false, &c), WSM_ERR_NULL);
    CHECK_RES(wsm_conn_init(mem, sizeof mem, WSM_ROLE_SERVER, NULL, 0, NULL, false, NULL),
              WSM_ERR_NULL);
    /* A client needs a seed. */
    CHECK_RES(wsm_conn_init(mem, sizeof mem, WSM_ROLE_CLIENT, NULL, 0, NULL, false, &c),
              WSM_ERR_NULL);
    CHECK_RES(wsm_conn_new(WSM_ROLE_SERVER, NULL, 0, NULL, false, NULL), WSM_ERR_NULL);
    CHECK_RES(wsm_conn_new(WSM_ROLE_CLIENT, NULL, 0, NULL, false, &c), WSM_ERR_NULL);
    REQUIRE_OK(wsm_conn_init(mem, sizeof mem, WSM_ROLE_SERVER, NULL, 0, NULL, true, &c));

    /* NULL handle. */
    CHECK_RES(wsm_send(NULL, WSM_TEXT, u8("x"), 1, out, sizeof out, &n), WSM_ERR_NULL);
    CHECK_RES(wsm_read(NULL, 0, out, 1, &consumed, &ev), WSM_ERR_NULL);
    CHECK_RES(wsm_poll_transmit(NULL, out, sizeof out, &n), WSM_ERR_NULL);
    CHECK_RES(wsm_handle_timeout(NULL, 0), WSM_ERR_NULL);
    CHECK_RES(wsm_handle_eof(NULL), WSM_ERR_NULL);
    CHECK_RES(wsm_set_authenticated(NULL), WSM_ERR_NULL);
    CHECK_RES(wsm_failure(NULL, &fi), WSM_ERR_NULL);
    CHECK_RES(wsm_close(NULL, 0, 1000, NULL, 0, out, sizeof out, &n), WSM_ERR_NULL);
    CHECK_RES(wsm_fail_handshake(NULL, WSM_HE_ORIGIN_NOT_ALLOWED), WSM_ERR_NULL);
    CHECK_RES(wsm_accept(NULL, 0, NULL, out, sizeof out, &n), WSM_ERR_NULL);
    CHECK_RES(wsm_reject(NULL, 400, NULL, 0, NULL, 0, out, sizeof out, &n), WSM_ERR_NULL);
    CHECK_RES(wsm_read_request(NULL, 0, out, 1, h, 4, &r, &complete), WSM_ERR_NULL);
    CHECK_RES(wsm_write_request(NULL, &req, seed, out, sizeof out, &n), WSM_ERR_NULL);
    CHECK_RES(wsm_read_response(NULL, 0, &req, out, 1, h, 4, &resp, &complete), WSM_ERR_NULL);
    CHECK_RES(wsm_begin_frame(NULL, WSM_TEXT, true, 1, out, sizeof out, &n), WSM_ERR_NULL);
    CHECK_RES(wsm_send_payload(NULL, u8("x"), 1, out, sizeof out, &n), WSM_ERR_NULL);
    CHECK_RES(wsm_send_fragment(NULL, WSM_TEXT, u8("x"), 1, true, out, sizeof out, &n),
              WSM_ERR_NULL);
    CHECK_RES(wsm_send_ping(NULL, NULL, 0, out, sizeof out, &n), WSM_ERR_NULL);
    CHECK_RES(wsm_send_pong(NULL, NULL, 0, out, sizeof out, &n), WSM_ERR_NULL);
    CHECK_RES(wsm_reseed(NULL, seed), WSM_ERR_NULL);
    CHECK_EQ(wsm_state(NULL), WSM_CLOSED);
    CHECK(wsm_should_close_transport(NULL));
    CHECK_EQ(wsm_close_status(NULL), 0);
    CHECK_EQ(wsm_poll_timeout(NULL), WSM_NO_TIMEOUT);

    /* NULL out-pointers and data pointers with a length. */
    CHECK_RES(wsm_send(c, WSM_TEXT, u8("x"), 1, out, sizeof out, NULL), WSM_ERR_NULL);
    CHECK_RES(wsm_send(c, WSM_TEXT, NULL, 1, out, sizeof out, &n), WSM_ERR_NULL);
    CHECK_RES(wsm_send(c, WSM_TEXT, u8("x"), 1, NULL, 16, &n), WSM_ERR_NULL);
    CHECK_RES(wsm_send_in_place(NULL, WSM_TEXT, out, 1, out + 8, 16, &n), WSM_ERR_NULL);
    CHECK_RES(wsm_send_in_place(c, WSM_TEXT, NULL, 1, out, sizeof out, &n), WSM_ERR_NULL);
    CHECK_RES(wsm_send_in_place(c, WSM_TEXT, out, 1, NULL, 16, &n), WSM_ERR_NULL);
    CHECK_RES(wsm_send_in_place(c, WSM_TEXT, out, 1, out + 8, 16, NULL), WSM_ERR_NULL);
    CHECK_RES(wsm_send_fragment(c, WSM_TEXT, NULL, 3, false, out, sizeof out, &n), WSM_ERR_NULL);
    CHECK_RES(wsm_send_ping(c, NULL, 2, out, sizeof out, &n), WSM_ERR_NULL);
    CHECK_RES(wsm_send_ping(c, NULL, 0, out, sizeof out, NULL), WSM_ERR_NULL);
    CHECK_RES(wsm_send_pong(c, NULL, 2, out, sizeof out, &n), WSM_ERR_NULL);
    CHECK_RES(wsm_begin_frame(c, WSM_TEXT, true, 1, out, sizeof out, NULL), WSM_ERR_NULL);
    CHECK_RES(wsm_read(c, 0, NULL, 5, &consumed, &ev), WSM_ERR_NULL);
    CHECK_RES(wsm_read(c, 0, out, 1, NULL, &ev), WSM_ERR_NULL);
    CHECK_RES(wsm_read(c, 0, out, 1, &consumed, NULL), WSM_ERR_NULL);
    CHECK_RES(wsm_poll_transmit(c, out, sizeof out, NULL), WSM_ERR_NULL);
    CHECK_RES(wsm_close(c, 0, 1000, NULL, 3, out, sizeof out, &n), WSM_ERR_NULL);
    CHECK_RES(wsm_close(c, 0, 1000, NULL, 0, out, sizeof out, NULL), WSM_ERR_NULL);
    CHECK_RES(wsm_reseed(c, NULL), WSM_ERR_NULL);
    CHECK_RES(wsm_failure(c, NULL), WSM_ERR_NULL);
    CHECK_RES(wsm_backoff_default(NULL), WSM_ERR_NULL);
    CHECK_EQ(wsm_backoff_next(NULL, 0), 0);
    CHECK(wsm_header_find(NULL, 3, "host") == NULL);
    CHECK(wsm_header_find(h, 0, NULL) == NULL);
    CHECK(!wsm_header_has_token(NULL, 3, "a", "b"));
    CHECK(!wsm_header_has_token(h, 0, "a", NULL));
    /* NULL data with length 0 is fine; nothing went wrong above. */
    CHECK_OK(wsm_send(c, WSM_BINARY, NULL, 0, out, sizeof out, &n));
    CHECK_EQ(n, 2);
    CHECK_EQ(wsm_state(c), WSM_OPEN);

    /* Handshake calls. */
    {
        _Alignas(16) unsigned char smem[MEM_BYTES];
        wsm_conn *s = NULL;
        REQUIRE_OK(wsm_conn_init(smem, sizeof smem, WSM_ROLE_SERVER, NULL, 0, NULL, false, &s));
        CHECK_RES(wsm_read_request(s, 0, NULL, 10, h, 4, &r, &complete), WSM_ERR_NULL);
        CHECK_RES(wsm_read_request(s, 0, out, 1, NULL, 4, &r, &complete), WSM_ERR_NULL);
        CHECK_RES(wsm_read_request(s, 0, out, 1, h, 4, NULL, &complete), WSM_ERR_NULL);
        CHECK_RES(wsm_read_request(s, 0, out, 1, h, 4, &r, NULL), WSM_ERR_NULL);
        CHECK_RES(wsm_accept(s, 0, NULL, out, sizeof out, NULL), WSM_ERR_NULL);
        CHECK_RES(wsm_reject(s, 400, NULL, 2, NULL, 0, out, sizeof out, &n), WSM_ERR_NULL);
        CHECK_RES(wsm_reject(s, 400, NULL, 0, NULL, 5, out, sizeof out, &n), WSM_ERR_NULL);
        CHECK_RES(wsm_reject(s, 400, NULL, 0, NULL, 0, out, sizeof out, NULL), WSM_ERR_NULL);
        CHECK_EQ(wsm_state(s), WSM_CONNECTING);
    }
    REQUIRE_OK(wsm_conn_init(mem, sizeof mem, WSM_ROLE_CLIENT, NULL, 0, seed, false, &cl));
    CHECK_RES(wsm_write_request(cl, NULL, seed, out, sizeof out, &n), WSM_ERR_NULL);
    CHECK_RES(wsm_write_request(cl, &req, NULL, out, sizeof out, &n), WSM_ERR_NULL);
    CHECK_RES(wsm_write_request(cl, &req, seed, out, sizeof out, NULL), WSM_ERR_NULL);
    CHECK_RES(wsm_write_request(cl, &req, seed, NULL, 10, &n), WSM_ERR_NULL);
    CHECK_OK(wsm_write_request(cl, &req, seed, out, sizeof out, &n));
    CHECK_RES(wsm_read_response(cl, 0, NULL, out, 1, h, 4, &resp, &complete), WSM_ERR_NULL);
    CHECK_RES(wsm_read_response(cl, 0, &req, NULL, 1, h, 4, &resp, &complete), WSM_ERR_NULL);
    CHECK_RES(wsm_read_response(cl, 0, &req, out, 1, NULL, 4, &resp, &complete), WSM_ERR_NULL);
    CHECK_RES(wsm_read_response(cl, 0, &req, out, 1, h, 4, NULL, &complete), WSM_ERR_NULL);
    CHECK_RES(wsm_read_response(cl, 0, &req, out, 1, h, 4, &resp, NULL), WSM_ERR_NULL);
    CHECK_EQ(wsm_state(cl), WSM_CONNECTING);
}

static void test_invalid_enum_values(void) {
    _Alignas(16) unsigned char mem[MEM_BYTES];
    wsm_conn *c = NULL;
    wsm_config cfg;
    uint8_t out[64];
    size_t n = 0;
    CHECK_RES(wsm_conn_init(mem, sizeof mem, 2, NULL, 0, NULL, false, &c),
              WSM_ERR_INVALID_ARGUMENT);
    CHECK_RES(wsm_conn_init(mem, sizeof mem, 0xFFFFFFFFu, NULL, 0, NULL, false, &c),
              WSM_ERR_INVALID_ARGUMENT);
    CHECK_RES(wsm_conn_new(7, NULL, 0, NULL, false, &c), WSM_ERR_INVALID_ARGUMENT);
    wsm_config_default(&cfg);
    cfg.auto_pong = 2;
    CHECK_RES(wsm_conn_init(mem, sizeof mem, WSM_ROLE_SERVER, &cfg, 0, NULL, false, &c),
              WSM_ERR_INVALID_ARGUMENT);
    /* The core's Config::validate decides what configurations work. */
    wsm_config_default(&cfg);
    cfg.allowed_rsv = 8;
    CHECK_RES(wsm_conn_init(mem, sizeof mem, WSM_ROLE_SERVER, &cfg, 0, NULL, false, &c),
              WSM_ERR_INVALID_CONFIG);
    wsm_config_default(&cfg);
    cfg.max_fragments = 0;
    CHECK_RES(wsm_conn_init(mem, sizeof mem, WSM_ROLE_SERVER, &cfg, 0, NULL, true, &c),
              WSM_ERR_INVALID_CONFIG);
    wsm_config_default(&cfg);
    cfg.keepalive_interval_ms = 1000;
    cfg.keepalive_timeout_ms = 0;
    CHECK_RES(wsm_conn_new(WSM_ROLE_SERVER, &cfg, 0, NULL, false, &c), WSM_ERR_INVALID_CONFIG);
    REQUIRE_OK(wsm_conn_init(mem, sizeof mem, WSM_ROLE_SERVER, NULL, 0, NULL, true, &c));
    CHECK_RES(wsm_send(c, 0, u8("x"), 1, out, sizeof out, &n), WSM_ERR_INVALID_ARGUMENT);
    CHECK_RES(wsm_send(c, 3, u8("x"), 1, out, sizeof out, &n), WSM_ERR_INVALID_ARGUMENT);
    CHECK_RES(wsm_send_fragment(c, 9, u8("x"), 1, true, out, sizeof out, &n),
              WSM_ERR_INVALID_ARGUMENT);
    CHECK_RES(wsm_begin_frame(c, 100, true, 1, out, sizeof out, &n), WSM_ERR_INVALID_ARGUMENT);
    CHECK_RES(wsm_fail_handshake(c, 77), WSM_ERR_INVALID_ARGUMENT);
    /* Nothing was sent. */
    CHECK_OK(wsm_send(c, WSM_TEXT, u8("x"), 1, out, sizeof out, &n));
    CHECK_EQ(n, 3);
}

static void test_invalid_handle(void) {
    _Alignas(16) unsigned char junk[MEM_BYTES];
    wsm_conn *c = (wsm_conn *)(void *)junk;
    uint8_t out[16];
    size_t n = 0, consumed = 0;
    wsm_event ev;
    wsm_failure_info fi;
    memset(junk, 0, sizeof junk);
    CHECK_RES(wsm_send(c, WSM_TEXT, u8("x"), 1, out, sizeof out, &n), WSM_ERR_INVALID_HANDLE);
    CHECK_RES(wsm_read(c, 0, out, 1, &consumed, &ev), WSM_ERR_INVALID_HANDLE);
    CHECK_RES(wsm_handle_timeout(c, 0), WSM_ERR_INVALID_HANDLE);
    CHECK_RES(wsm_failure(c, &fi), WSM_ERR_INVALID_HANDLE);
    CHECK_EQ(wsm_state(c), WSM_CLOSED);
    CHECK(wsm_should_close_transport(c));
    CHECK_EQ(wsm_poll_timeout(c), WSM_NO_TIMEOUT);
    wsm_conn_free(c); /* ignored */
}

static void test_invalid_state(void) {
    _Alignas(16) unsigned char mem[MEM_BYTES];
    wsm_conn *c = NULL;
    uint8_t out[64], in[8] = {0x81, 0x80, 0, 0, 0, 0};
    size_t n = 0, consumed = 0;
    wsm_event ev;
    wsm_header h[4];
    wsm_request r;
    bool complete;
    REQUIRE_OK(wsm_conn_init(mem, sizeof mem, WSM_ROLE_SERVER, NULL, 0, NULL, false, &c));
    CHECK_RES(wsm_send(c, WSM_TEXT, u8("x"), 1, out, sizeof out, &n), WSM_ERR_INVALID_STATE);
    CHECK_RES(wsm_read(c, 0, in, 6, &consumed, &ev), WSM_ERR_INVALID_STATE);
    CHECK_RES(wsm_close(c, 0, 1000, NULL, 0, out, sizeof out, &n), WSM_ERR_INVALID_STATE);
    CHECK_RES(wsm_send_ping(c, NULL, 0, out, sizeof out, &n), WSM_ERR_INVALID_STATE);
    CHECK_RES(wsm_accept(c, 0, NULL, out, sizeof out, &n), WSM_ERR_INVALID_STATE);
    CHECK_EQ(wsm_state(c), WSM_CONNECTING);
    /* An open connection cannot read a request. */
    REQUIRE_OK(wsm_conn_init(mem, sizeof mem, WSM_ROLE_SERVER, NULL, 0, NULL, true, &c));
    CHECK_RES(wsm_read_request(c, 0, u8(VALID_REQUEST), strlen(VALID_REQUEST), h, 4, &r,
                               &complete),
              WSM_ERR_INVALID_STATE);
}

static void test_result_strings(void) {
    /* Every wsm_result, by name: the numbers are written only in ffi/src/types.rs (the header
     * is generated from it, and the ffi crate's tests check each number's message). */
    static const wsm_result known[] = {
        WSM_OK, WSM_ERR_NULL, WSM_ERR_INVALID_HANDLE, WSM_ERR_INVALID_ARGUMENT, WSM_ERR_PANIC,
        WSM_ERR_MEMORY, WSM_ERR_BUFFER_TOO_SMALL, WSM_ERR_INVALID_STATE,
        WSM_ERR_INVALID_CLOSE_CODE, WSM_ERR_REASON_TOO_LONG, WSM_ERR_CONTROL_TOO_LONG,
        WSM_ERR_INVALID_UTF8, WSM_ERR_MESSAGE_STATE, WSM_ERR_FRAME_IN_PROGRESS,
        WSM_ERR_PAYLOAD_OVERRUN, WSM_ERR_NO_FRAME_IN_PROGRESS, WSM_ERR_INVALID_HEADER,
        WSM_ERR_INVALID_STATUS, WSM_ERR_HANDSHAKE, WSM_ERR_INVALID_CONFIG, WSM_ERR_OTHER};
    const char *unknown = wsm_result_str(12345);
    size_t i, j;
    REQUIRE(unknown != NULL);
    CHECK(strcmp(unknown, "unknown result") == 0);
    CHECK(strcmp(wsm_result_str(6), unknown) == 0);
    for (i = 0; i < sizeof known / sizeof known[0]; i++) {
        const char *s = wsm_result_str(known[i]);
        CHECK(s != NULL && *s != 0);
        CHECK(s != NULL && strcmp(s, unknown) != 0);
        for (j = 0; j < i; j++) CHECK(strcmp(s, wsm_result_str(known[j])) != 0);
    }
}

static void test_result_message_truncation(void) {
    const char *full = wsm_result_str(WSM_ERR_BUFFER_TOO_SMALL);
    size_t len = strlen(full);
    char buf[256];
    REQUIRE(len > 8);
    /* Enough room. */
    memset(buf, 'X', sizeof buf);
    CHECK_EQ(wsm_result_message(WSM_ERR_BUFFER_TOO_SMALL, buf, sizeof buf), len);
    CHECK(strcmp(buf, full) == 0);
    /* Exactly enough (len + NUL). */
    memset(buf, 'X', sizeof buf);
    CHECK_EQ(wsm_result_message(WSM_ERR_BUFFER_TOO_SMALL, buf, len + 1), len);
    CHECK(strcmp(buf, full) == 0);
    /* One short: truncated by one, still terminated. */
    memset(buf, 'X', sizeof buf);
    CHECK_EQ(wsm_result_message(WSM_ERR_BUFFER_TOO_SMALL, buf, len), len);
    CHECK_EQ(strlen(buf), len - 1);
    CHECK(strncmp(buf, full, len - 1) == 0);
    CHECK_EQ(buf[len], 'X');
    /* 5 bytes: 4 characters and the NUL; nothing past. */
    memset(buf, 'X', sizeof buf);
    CHECK_EQ(wsm_result_message(WSM_ERR_BUFFER_TOO_SMALL, buf, 5), len);
    CHECK(memcmp(buf, full, 4) == 0);
    CHECK_EQ(buf[4], 0);
    CHECK_EQ(buf[5], 'X');
    /* 1 byte: only the NUL. */
    memset(buf, 'X', sizeof buf);
    CHECK_EQ(wsm_result_message(WSM_OK, buf, 1), strlen(wsm_result_str(WSM_OK)));
    CHECK_EQ(buf[0], 0);
    CHECK_EQ(buf[1], 'X');
    /* Size query. */
    CHECK_EQ(wsm_result_message(WSM_ERR_BUFFER_TOO_SMALL, NULL, 0), len);
    memset(buf, 'X', sizeof buf);
    CHECK_EQ(wsm_result_message(WSM_ERR_BUFFER_TOO_SMALL, buf, 0), len);
    CHECK_EQ(buf[0], 'X');
    CHECK_EQ(wsm_result_message(424242, buf, sizeof buf), strlen("unknown result"));
    CHECK(strcmp(buf, "unknown result") == 0);
}

static void test_config_defaults(void) {
    wsm_config cfg;
    memset(&cfg, 0xFF, sizeof cfg);
    REQUIRE_OK(wsm_config_default(&cfg));
    CHECK_EQ(cfg.max_frame_payload, 16u << 20);
    CHECK_EQ(cfg.max_message_size, 16u << 20);
    CHECK_EQ(cfg.max_fragments, 65536);
    CHECK_EQ(cfg.max_handshake_size, 8192);
    CHECK_EQ(cfg.handshake_timeout_ms, 10000);
    CHECK_EQ(cfg.auth_timeout_ms, 0);
    CHECK_EQ(cfg.keepalive_interval_ms, 0);
    CHECK_EQ(cfg.keepalive_timeout_ms, 10000);
    CHECK_EQ(cfg.close_timeout_ms, 5000);
    CHECK_EQ(cfg.auto_pong, 1);
    CHECK_EQ(cfg.allowed_rsv, 0);
}

static void test_version(void) {
    const char *v = wsm_version();
    REQUIRE(v != NULL);
    CHECK(v[0] >= '0' && v[0] <= '9');
    CHECK(strchr(v, '.') != NULL);
}

static void test_backoff(void) {
    wsm_backoff b;
    uint64_t d;
    int i;
    memset(&b, 0xFF, sizeof b);
    REQUIRE_OK(wsm_backoff_default(&b));
    CHECK_EQ(b.initial_ms, 1000);
    CHECK_EQ(b.max_ms, 30000);
    CHECK_EQ(b.jitter_percent, 25);
    CHECK_EQ(b.attempt, 0);
    /* Attempt 0: 1000 ms +-25 %: random maps onto [750, 1250]. */
    CHECK_EQ(wsm_backoff_next(&b, 0), 750);
    CHECK_EQ(b.attempt, 1);
    /* Attempt 1: 2000 +-500: 1001 values, 500 is the middle. */
    b.attempt = 1;
    CHECK_EQ(wsm_backoff_next(&b, 500), 2000);
    b.attempt = 1;
    CHECK_EQ(wsm_backoff_next(&b, 1000), 2500);
    b.attempt = 1;
    CHECK_EQ(wsm_backoff_next(&b, 1001), 1500);
    /* Doubling without jitter, capped. */
    b.jitter_percent = 0;
    b.attempt = 0;
    CHECK_EQ(wsm_backoff_next(&b, 12345), 1000);
    CHECK_EQ(wsm_backoff_next(&b, 12345), 2000);
    CHECK_EQ(wsm_backoff_next(&b, 12345), 4000);
    CHECK_EQ(wsm_backoff_next(&b, 12345), 8000);
    CHECK_EQ(wsm_backoff_next(&b, 12345), 16000);
    CHECK_EQ(wsm_backoff_next(&b, 12345), 30000);
    CHECK_EQ(b.attempt, 6);
    for (i = 0; i < 100; i++) d = wsm_backoff_next(&b, (uint32_t)i * 2654435761u);
    CHECK_EQ(d, 30000);
    /* Jitter stays within bounds for any random value. */
    b.jitter_percent = 25;
    for (i = 0; i < 1000; i++) {
        b.attempt = 10;
        d = wsm_backoff_next(&b, (uint32_t)i * 2654435761u);
        if (d < 22500 || d > 37500) {
            t_fail(__FILE__, __LINE__, "delay %llu out of [22500, 37500]", (unsigned long long)d);
            break;
        }
    }
}

static void test_should_reconnect(void) {
    static const uint16_t yes[] = {1001, 1006, 1011, 1012, 1013, 1014};
    static const uint16_t no[] = {0, 1000, 1002, 1003, 1005, 1007, 1008, 1009, 1010, 1015, 3000,
                                  4999};
    size_t i;
    for (i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (!wsm_should_reconnect(yes[i])) t_fail(__FILE__, __LINE__, "%u: expected yes", yes[i]);
    }
    for (i = 0; i < sizeof no / sizeof no[0]; i++) {
        if (wsm_should_reconnect(no[i])) t_fail(__FILE__, __LINE__, "%u: expected no", no[i]);
    }
}

void run_api_tests(void) {
    RUN(test_handle_size_and_alignment);
    RUN(test_handle_in_static_memory);
    RUN(test_handle_on_the_stack);
    RUN(test_conn_init_bad_memory);
    RUN(test_null_arguments);
    RUN(test_invalid_enum_values);
    RUN(test_invalid_handle);
    RUN(test_invalid_state);
    RUN(test_result_strings);
    RUN(test_result_message_truncation);
    RUN(test_config_defaults);
    RUN(test_version);
    RUN(test_backoff);
    RUN(test_should_reconnect);
}
