/* Opening handshakes: the server side (wsm_read_request, wsm_accept, wsm_reject, streamed
 * refusals with wsm_reject_head / wsm_reject_body, wsm_fail_handshake, error responses), the
 * client side (wsm_write_request, wsm_read_response), and wsm_phase through a session. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "support.h"

#define HDRS 16

static size_t slen(const char *s) { return strlen(s); }
static const uint8_t *u8(const char *s) { return (const uint8_t *)s; }

/* The RFC 6455 example: key "the sample nonce" → accept s3pPLMBiTxaQ9kYGzzhZRbK+xOo=. */
static const uint8_t SAMPLE_NONCE[16] = {'t', 'h', 'e', ' ', 's', 'a', 'm', 'p',
                                         'l', 'e', ' ', 'n', 'o', 'n', 'c', 'e'};

static void test_server_reads_request(void) {
    endpoint s;
    wsm_header h[HDRS];
    wsm_request r;
    bool complete = false;
    const wsm_header *f;
    REQUIRE_OK(ep_init(&s, "server", WSM_ROLE_SERVER, NULL));
    CHECK_EQ(wsm_state(s.conn), WSM_CONNECTING);
    REQUIRE_OK(wsm_read_request(s.conn, 0, u8(VALID_REQUEST), slen(VALID_REQUEST), h, HDRS, &r,
                                &complete));
    REQUIRE(complete);
    CHECK_WSTR(r.method, "GET");
    CHECK_WSTR(r.target, "/chat?room=1&x=y");
    CHECK_WSTR(r.path, "/chat");
    CHECK_WSTR(r.query, "room=1&x=y");
    CHECK_EQ(r.header_count, 8);
    CHECK_EQ(r.head_len, slen(VALID_REQUEST));
    /* Borrowed: the strings point into the input. */
    CHECK(r.path.ptr == (const char *)VALID_REQUEST + 4);
    CHECK_WSTR(h[0].name, "Host");
    CHECK_BYTES_STR(h[0].value, h[0].value_len, "example.com:8080");
    f = wsm_header_find(h, r.header_count, "COOKIE");
    REQUIRE(f != NULL);
    CHECK(f == &h[7]);
    CHECK_BYTES_STR(f->value, f->value_len, "session=abc123");
    CHECK(wsm_header_find(h, r.header_count, "x-absent") == NULL);
    CHECK(wsm_header_find(h, 0, "host") == NULL);
    CHECK(wsm_header_has_token(h, r.header_count, "sec-websocket-protocol", "superchat"));
    CHECK(wsm_header_has_token(h, r.header_count, "Sec-WebSocket-Protocol", "CHAT"));
    CHECK(!wsm_header_has_token(h, r.header_count, "sec-websocket-protocol", "chat2"));
    CHECK(!wsm_header_has_token(h, r.header_count, "sec-websocket-protocol", "super"));
    CHECK(wsm_header_has_token(h, r.header_count, "connection", "upgrade"));
    CHECK(wsm_header_has_token(h, r.header_count, "connection", "keep-alive"));
    CHECK(!wsm_header_has_token(h, r.header_count, "upgrade", "h2c"));
    CHECK_EQ(wsm_state(s.conn), WSM_CONNECTING);
    CHECK(!wsm_should_close_transport(s.conn));
    ep_free(&s);
}

static void test_server_request_in_pieces(void) {
    endpoint s;
    wsm_header h[HDRS];
    wsm_request r;
    bool complete = true;
    size_t n = slen(VALID_REQUEST), k;
    uint8_t buf[1024];
    uint8_t frame[32];
    size_t flen;
    static const uint8_t mask[4] = {1, 2, 3, 4};
    REQUIRE_OK(ep_init(&s, "server", WSM_ROLE_SERVER, NULL));
    /* All bytes received so far, one more each time. */
    for (k = 0; k < n; k++) {
        complete = true;
        CHECK_OK(wsm_read_request(s.conn, 0, u8(VALID_REQUEST), k, h, HDRS, &r, &complete));
        if (complete) {
            t_fail(__FILE__, __LINE__, "complete after %zu of %zu bytes", k, n);
            break;
        }
    }
    /* The last piece arrives together with the first frame. */
    memcpy(buf, VALID_REQUEST, n);
    flen = make_frame(frame, 0x81, mask, "hi", 2);
    memcpy(buf + n, frame, flen);
    complete = false;
    REQUIRE_OK(wsm_read_request(s.conn, 0, buf, n + flen, h, HDRS, &r, &complete));
    REQUIRE(complete);
    CHECK_EQ(r.head_len, n);
    CHECK_WSTR(r.path, "/chat");
    ep_free(&s);
}

static void test_server_request_without_query(void) {
    static const char req[] = "GET /plain HTTP/1.1\r\nHost: h\r\nUpgrade: WebSocket\r\n"
                              "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                              "Sec-WebSocket-Key: AAECAwQFBgcICQoLDA0ODw==\r\n\r\n";
    endpoint s;
    wsm_header h[HDRS];
    wsm_request r;
    bool complete = false;
    REQUIRE_OK(ep_init(&s, "server", WSM_ROLE_SERVER, NULL));
    REQUIRE_OK(wsm_read_request(s.conn, 0, u8(req), slen(req), h, HDRS, &r, &complete));
    REQUIRE(complete);
    CHECK_WSTR(r.path, "/plain");
    CHECK_WSTR(r.target, "/plain");
    CHECK(r.query.ptr == NULL);
    CHECK_EQ(r.query.len, 0);
    CHECK_EQ(r.header_count, 5);
    ep_free(&s);
}

static void read_valid(endpoint *s) {
    wsm_header h[HDRS];
    wsm_request r;
    bool complete = false;
    CHECK_OK(ep_init(s, "server", WSM_ROLE_SERVER, NULL));
    CHECK_OK(wsm_read_request(s->conn, 0, u8(VALID_REQUEST), slen(VALID_REQUEST), h, HDRS, &r,
                              &complete));
    CHECK(complete);
}

static void test_server_accept_with_subprotocol_and_headers(void) {
    endpoint s;
    uint8_t out[1024];
    size_t n = 0;
    wsm_accept_options o;
    wsm_header extra[2];
    static const char expect[] = "HTTP/1.1 101 Switching Protocols\r\n"
                                 "Upgrade: websocket\r\n"
                                 "Connection: Upgrade\r\n"
                                 "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                                 "Sec-WebSocket-Protocol: chat\r\n"
                                 "Set-Cookie: id=42; HttpOnly\r\n"
                                 "X-Server: wsmachine-test\r\n"
                                 "\r\n";
    read_valid(&s);
    memset(&o, 0, sizeof o);
    memset(extra, 0, sizeof extra);
    extra[0].name.ptr = "Set-Cookie";
    extra[0].name.len = 10;
    extra[0].value = u8("id=42; HttpOnly");
    extra[0].value_len = 15;
    extra[1].name.ptr = "X-Server";
    extra[1].name.len = 8;
    extra[1].value = u8("wsmachine-test");
    extra[1].value_len = 14;
    o.subprotocol = "chat";
    o.headers = extra;
    o.header_count = 2;
    REQUIRE_OK(wsm_accept(s.conn, 0, &o, out, sizeof out, &n));
    CHECK_BYTES_STR(out, n, expect);
    CHECK_EQ(wsm_state(s.conn), WSM_OPEN);
    CHECK(!wsm_should_close_transport(s.conn));
    CHECK_EQ(wsm_close_status(s.conn), 0);
    /* Only once. */
    CHECK_RES(wsm_accept(s.conn, 0, &o, out, sizeof out, &n), WSM_ERR_INVALID_STATE);
    ep_free(&s);
}

static void test_server_accept_rejects_bad_options(void) {
    endpoint s;
    uint8_t out[1024];
    size_t n = 0;
    wsm_accept_options o;
    wsm_header bad;
    read_valid(&s);
    memset(&o, 0, sizeof o);
    o.subprotocol = "two words";
    CHECK_RES(wsm_accept(s.conn, 0, &o, out, sizeof out, &n), WSM_ERR_INVALID_HEADER);
    o.subprotocol = NULL;
    memset(&bad, 0, sizeof bad);
    bad.name.ptr = "X-Evil";
    bad.name.len = 6;
    bad.value = u8("a\r\nInjected: 1");
    bad.value_len = 14;
    o.headers = &bad;
    o.header_count = 1;
    CHECK_RES(wsm_accept(s.conn, 0, &o, out, sizeof out, &n), WSM_ERR_INVALID_HEADER);
    bad.value = u8("fine");
    bad.value_len = 4;
    bad.name.ptr = "Bad Name";
    bad.name.len = 8;
    CHECK_RES(wsm_accept(s.conn, 0, &o, out, sizeof out, &n), WSM_ERR_INVALID_HEADER);
    o.header_count = WSM_MAX_HEADERS + 1;
    CHECK_RES(wsm_accept(s.conn, 0, &o, out, sizeof out, &n), WSM_ERR_INVALID_ARGUMENT);
    /* Nothing changed: a plain accept still works (NULL options). */
    CHECK_EQ(wsm_state(s.conn), WSM_CONNECTING);
    CHECK_OK(wsm_accept(s.conn, 0, NULL, out, sizeof out, &n));
    CHECK(!t_contains(out, n, "Sec-WebSocket-Protocol"));
    CHECK_EQ(wsm_state(s.conn), WSM_OPEN);
    ep_free(&s);
}

static void test_server_accept_buffer_too_small(void) {
    endpoint s;
    uint8_t out[512];
    size_t n = 0, needed = 0;
    wsm_accept_options o;
    read_valid(&s);
    memset(&o, 0, sizeof o);
    o.subprotocol = "superchat";
    memset(out, '#', sizeof out);
    CHECK_RES(wsm_accept(s.conn, 0, &o, out, 40, &needed), WSM_ERR_BUFFER_TOO_SMALL);
    CHECK(needed > 40);
    CHECK_EQ(out[0], '#'); /* nothing written */
    CHECK_EQ(out[39], '#');
    CHECK_EQ(needed, slen("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                          "Connection: Upgrade\r\nSec-WebSocket-Accept: "
                          "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: "
                          "superchat\r\n\r\n"));
    CHECK_EQ(wsm_state(s.conn), WSM_CONNECTING);
    /* NULL with length 0 asks for the size. */
    n = 0;
    CHECK_RES(wsm_accept(s.conn, 0, &o, NULL, 0, &n), WSM_ERR_BUFFER_TOO_SMALL);
    CHECK_EQ(n, needed);
    CHECK_RES(wsm_accept(s.conn, 0, &o, out, needed - 1, &n), WSM_ERR_BUFFER_TOO_SMALL);
    CHECK_EQ(n, needed);
    n = 0;
    CHECK_OK(wsm_accept(s.conn, 0, &o, out, needed, &n));
    CHECK_EQ(n, needed);
    CHECK_EQ(wsm_state(s.conn), WSM_OPEN);
    ep_free(&s);
}

static void test_server_reject_with_status_headers_body(void) {
    endpoint s;
    uint8_t out[512];
    size_t n = 0, needed = 0;
    wsm_header hd;
    static const char expect[] = "HTTP/1.1 401 Unauthorized\r\n"
                                 "WWW-Authenticate: Bearer realm=\"ws\"\r\n"
                                 "Content-Length: 8\r\n"
                                 "Connection: close\r\n"
                                 "\r\n"
                                 "no entry";
    read_valid(&s);
    memset(&hd, 0, sizeof hd);
    hd.name.ptr = "WWW-Authenticate";
    hd.name.len = 16;
    hd.value = u8("Bearer realm=\"ws\"");
    hd.value_len = 17;
    CHECK_RES(wsm_reject(s.conn, 100, &hd, 1, u8("no entry"), 8, out, sizeof out, &n),
              WSM_ERR_INVALID_STATUS);
    CHECK_RES(wsm_reject(s.conn, 600, &hd, 1, u8("no entry"), 8, out, sizeof out, &n),
              WSM_ERR_INVALID_STATUS);
    memset(out, '#', sizeof out);
    CHECK_RES(wsm_reject(s.conn, 401, &hd, 1, u8("no entry"), 8, out, 10, &needed),
              WSM_ERR_BUFFER_TOO_SMALL);
    CHECK(out[0] == '#' && out[9] == '#'); /* nothing written */
    CHECK_EQ(needed, slen(expect));
    CHECK_EQ(wsm_state(s.conn), WSM_CONNECTING);
    CHECK(!wsm_should_close_transport(s.conn));
    REQUIRE_OK(wsm_reject(s.conn, 401, &hd, 1, u8("no entry"), 8, out, needed, &n));
    CHECK_EQ(n, needed);
    CHECK_BYTES_STR(out, n, expect);
    CHECK_EQ(wsm_state(s.conn), WSM_CLOSED);
    CHECK(wsm_should_close_transport(s.conn));
    CHECK_RES(wsm_accept(s.conn, 0, NULL, out, sizeof out, &n), WSM_ERR_INVALID_STATE);
    ep_free(&s);
}

static void test_server_fail_handshake_403(void) {
    endpoint s;
    uint8_t out[512];
    size_t n = 0;
    wsm_failure_info fi;
    read_valid(&s);
    CHECK_RES(wsm_fail_handshake(s.conn, 0), WSM_ERR_INVALID_ARGUMENT);
    CHECK_RES(wsm_fail_handshake(s.conn, WSM_HE_INVALID_ACCEPT), WSM_ERR_INVALID_ARGUMENT);
    CHECK_RES(wsm_fail_handshake(s.conn, WSM_HE_OTHER), WSM_ERR_INVALID_ARGUMENT);
    CHECK_RES(wsm_fail_handshake(s.conn, 12345), WSM_ERR_INVALID_ARGUMENT);
    CHECK_EQ(wsm_state(s.conn), WSM_CONNECTING);
    REQUIRE_OK(wsm_fail_handshake(s.conn, WSM_HE_ORIGIN_NOT_ALLOWED));
    CHECK_RES(wsm_fail_handshake(s.conn, WSM_HE_ORIGIN_NOT_ALLOWED), WSM_ERR_INVALID_STATE);
    CHECK_RES(wsm_accept(s.conn, 0, NULL, out, sizeof out, &n), WSM_ERR_INVALID_STATE);
    CHECK(!wsm_should_close_transport(s.conn)); /* the response is not out yet */
    memset(out, '#', sizeof out);
    CHECK_RES(wsm_poll_transmit(s.conn, out, 8, &n), WSM_ERR_BUFFER_TOO_SMALL);
    CHECK(n > 8);
    CHECK(out[0] == '#' && out[7] == '#'); /* nothing written */
    REQUIRE_OK(wsm_poll_transmit(s.conn, out, sizeof out, &n));
    CHECK(n > 0 && n < sizeof out);
    CHECK(n >= 24 && memcmp(out, "HTTP/1.1 403 Forbidden\r\n", 24) == 0);
    CHECK_CONTAINS(out, n, "\r\nContent-Length: ");
    CHECK_CONTAINS(out, n, "\r\n\r\n");
    CHECK(wsm_should_close_transport(s.conn));
    CHECK_EQ(wsm_state(s.conn), WSM_CLOSED);
    CHECK_OK(wsm_poll_transmit(s.conn, out, sizeof out, &n));
    CHECK_EQ(n, 0);
    REQUIRE_OK(wsm_failure(s.conn, &fi));
    CHECK_EQ(fi.kind, WSM_FAILURE_HANDSHAKE);
    CHECK_EQ(fi.handshake_error, WSM_HE_ORIGIN_NOT_ALLOWED);
    CHECK_EQ(fi.http_status, 403);
    CHECK_EQ(fi.protocol_error, WSM_PE_NONE);
    ep_free(&s);
}

struct bad_request {
    const char *name;
    const char *text;
    uint32_t max_head;   /* 0: default */
    size_t header_cap;   /* 0: HDRS */
    wsm_handshake_error error;
    unsigned status;
    const char *must_contain; /* in the response, or NULL */
};

#define UPG "Upgrade: websocket\r\nConnection: Upgrade\r\n"
#define KEY "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
#define VER "Sec-WebSocket-Version: 13\r\n"

static const struct bad_request BAD_REQUESTS[] = {
    {"POST", "POST / HTTP/1.1\r\nHost: h\r\n" UPG KEY VER "\r\n", 0, 0,
     WSM_HE_METHOD_NOT_ALLOWED, 405, "Allow: GET\r\n"},
    {"version 8", "GET / HTTP/1.1\r\nHost: h\r\n" UPG KEY "Sec-WebSocket-Version: 8\r\n\r\n", 0, 0,
     WSM_HE_UNSUPPORTED_VERSION, 426, "Sec-WebSocket-Version: 13\r\n"},
    {"no upgrade", "GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\n" KEY VER "\r\n", 0, 0,
     WSM_HE_MISSING_UPGRADE, 400, NULL},
    {"no connection", "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n" KEY VER "\r\n", 0, 0,
     WSM_HE_MISSING_CONNECTION_UPGRADE, 400, NULL},
    {"no host", "GET / HTTP/1.1\r\n" UPG KEY VER "\r\n", 0, 0, WSM_HE_MISSING_HOST, 400, NULL},
    {"no version", "GET / HTTP/1.1\r\nHost: h\r\n" UPG KEY "\r\n", 0, 0, WSM_HE_MISSING_VERSION,
     400, NULL},
    {"bad key", "GET / HTTP/1.1\r\nHost: h\r\n" UPG "Sec-WebSocket-Key: short\r\n" VER "\r\n", 0, 0,
     WSM_HE_INVALID_KEY, 400, NULL},
    {"HTTP/1.0", "GET / HTTP/1.0\r\nHost: h\r\n" UPG KEY VER "\r\n", 0, 0, WSM_HE_HTTP_VERSION, 400,
     NULL},
    {"garbage", "\x01\x02\x03 nonsense\r\n\r\n", 0, 0, WSM_HE_MALFORMED, 400, NULL},
    {"head too large",
     "GET / HTTP/1.1\r\nHost: h\r\n" UPG KEY VER
     "X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n"
     "\r\n",
     200, 0, WSM_HE_TOO_LARGE, 431, NULL},
    {"too many headers", "GET / HTTP/1.1\r\nHost: h\r\n" UPG KEY VER "X-A: 1\r\nX-B: 2\r\n\r\n", 0, 4,
     WSM_HE_TOO_MANY_HEADERS, 431, NULL},
};

static void test_server_bad_requests_get_error_responses(void) {
    size_t i;
    for (i = 0; i < sizeof BAD_REQUESTS / sizeof BAD_REQUESTS[0]; i++) {
        const struct bad_request *b = &BAD_REQUESTS[i];
        endpoint s;
        wsm_config cfg;
        wsm_header h[HDRS];
        wsm_request r;
        wsm_failure_info fi;
        bool complete = false;
        uint8_t out[1024];
        size_t n = 0;
        char status_line[32];
        int before = t_current_failures();
        wsm_config_default(&cfg);
        if (b->max_head) cfg.max_handshake_size = b->max_head;
        CHECK_OK(ep_init(&s, "server", WSM_ROLE_SERVER, &cfg));
        CHECK_RES(wsm_read_request(s.conn, 0, u8(b->text), slen(b->text), h,
                                   b->header_cap ? b->header_cap : HDRS, &r, &complete),
                  WSM_ERR_HANDSHAKE);
        CHECK_OK(wsm_failure(s.conn, &fi));
        CHECK_EQ(fi.kind, WSM_FAILURE_HANDSHAKE);
        CHECK_EQ(fi.handshake_error, b->error);
        CHECK_EQ(fi.http_status, b->status);
        CHECK_OK(wsm_poll_transmit(s.conn, out, sizeof out, &n));
        snprintf(status_line, sizeof status_line, "HTTP/1.1 %u ", b->status);
        CHECK(n > strlen(status_line) && memcmp(out, status_line, strlen(status_line)) == 0);
        if (b->must_contain) CHECK_CONTAINS(out, n, b->must_contain);
        CHECK(wsm_should_close_transport(s.conn));
        CHECK_EQ(wsm_state(s.conn), WSM_CLOSED);
        if (t_current_failures() != before)
            t_fail(__FILE__, __LINE__, "... in the case \"%s\"", b->name);
        ep_free(&s);
    }
}

/* An incomplete head that already fills max_handshake_size bytes can never complete: 431. */
static void test_server_incomplete_head_at_limit(void) {
    endpoint s;
    wsm_config cfg;
    wsm_header h[HDRS];
    wsm_request r;
    wsm_failure_info fi;
    bool complete = true;
    uint8_t head[256];
    size_t n = 0;
    wsm_config_default(&cfg);
    cfg.max_handshake_size = sizeof head;
    REQUIRE_OK(ep_init(&s, "server", WSM_ROLE_SERVER, &cfg));
    memset(head, 'a', sizeof head);
    memcpy(head, "GET / HTTP/1.1\r\nX-Long: ", 24);
    CHECK_OK(wsm_read_request(s.conn, 0, head, sizeof head - 1, h, HDRS, &r, &complete));
    CHECK(!complete);
    CHECK_RES(wsm_read_request(s.conn, 0, head, sizeof head, h, HDRS, &r, &complete),
              WSM_ERR_HANDSHAKE);
    CHECK_OK(wsm_failure(s.conn, &fi));
    CHECK_EQ(fi.handshake_error, WSM_HE_TOO_LARGE);
    CHECK_EQ(fi.http_status, 431);
    CHECK_OK(wsm_poll_transmit(s.conn, head, sizeof head, &n));
    CHECK(n > 13 && memcmp(head, "HTTP/1.1 431 ", 13) == 0);
    ep_free(&s);
}

static wsm_header hdr(const char *name, const char *value) {
    wsm_header h;
    h.name.ptr = name;
    h.name.len = slen(name);
    h.value = u8(value);
    h.value_len = slen(value);
    return h;
}

/* A refusal whose body is streamed: the head, two chunks, the end; every byte checked. */
static void test_server_streamed_refusal(void) {
    endpoint s;
    uint8_t out[256];
    size_t n = 0;
    wsm_header hs[2];
    static const char head[] = "HTTP/1.1 429 Too Many Requests\r\n"
                               "Retry-After: 30\r\n"
                               "Content-Type: text/plain\r\n"
                               "Transfer-Encoding: chunked\r\n"
                               "Connection: close\r\n"
                               "\r\n";
    static const char second[] = "come back in half a minute"; /* 26 bytes: chunk size 1a */
    read_valid(&s);
    hs[0] = hdr("Retry-After", "30");
    hs[1] = hdr("Content-Type", "text/plain");
    REQUIRE_OK(wsm_reject_head(s.conn, 429, hs, 2, out, sizeof out, &n));
    CHECK_BYTES_STR(out, n, head);
    CHECK_EQ(wsm_phase(s.conn), WSM_PHASE_REJECTING);
    CHECK_EQ(wsm_state(s.conn), WSM_CLOSED);
    CHECK(!wsm_should_close_transport(s.conn)); /* the body is still to come */
    /* The answer is decided: nothing else may start, and nothing is queued. */
    CHECK_RES(wsm_accept(s.conn, 0, NULL, out, sizeof out, &n), WSM_ERR_INVALID_STATE);
    CHECK_RES(wsm_reject(s.conn, 429, NULL, 0, NULL, 0, out, sizeof out, &n),
              WSM_ERR_INVALID_STATE);
    CHECK_RES(wsm_reject_head(s.conn, 429, NULL, 0, out, sizeof out, &n), WSM_ERR_INVALID_STATE);
    CHECK_RES(wsm_fail_handshake(s.conn, WSM_HE_ORIGIN_NOT_ALLOWED), WSM_ERR_INVALID_STATE);
    CHECK_OK(wsm_poll_transmit(s.conn, out, sizeof out, &n));
    CHECK_EQ(n, 0);
    REQUIRE_OK(wsm_reject_body(s.conn, u8("slow down"), 9, false, out, sizeof out, &n));
    CHECK_BYTES_STR(out, n, "9\r\nslow down\r\n");
    /* Empty data without `finished` writes nothing. */
    n = 99;
    CHECK_OK(wsm_reject_body(s.conn, NULL, 0, false, out, sizeof out, &n));
    CHECK_EQ(n, 0);
    REQUIRE_OK(wsm_reject_body(s.conn, u8(second), slen(second), false, out, sizeof out, &n));
    CHECK_BYTES_STR(out, n, "1a\r\ncome back in half a minute\r\n");
    CHECK_EQ(wsm_phase(s.conn), WSM_PHASE_REJECTING);
    CHECK(!wsm_should_close_transport(s.conn));
    REQUIRE_OK(wsm_reject_body(s.conn, NULL, 0, true, out, sizeof out, &n));
    CHECK_BYTES_STR(out, n, "0\r\n\r\n");
    CHECK_EQ(wsm_phase(s.conn), WSM_PHASE_CLOSED);
    CHECK(wsm_should_close_transport(s.conn));
    CHECK_RES(wsm_reject_body(s.conn, u8("x"), 1, true, out, sizeof out, &n),
              WSM_ERR_INVALID_STATE);
    CHECK_OK(wsm_poll_transmit(s.conn, out, sizeof out, &n));
    CHECK_EQ(n, 0);
    ep_free(&s);
}

static void test_server_reject_body_needs_a_head(void) {
    endpoint s, c;
    uint8_t out[256];
    size_t n = 0;
    REQUIRE_OK(ep_init(&s, "server", WSM_ROLE_SERVER, NULL));
    /* Before the request... */
    CHECK_RES(wsm_reject_body(s.conn, u8("x"), 1, false, out, sizeof out, &n),
              WSM_ERR_INVALID_STATE);
    ep_free(&s);
    /* ...after it, undecided... */
    read_valid(&s);
    CHECK_RES(wsm_reject_body(s.conn, u8("x"), 1, false, out, sizeof out, &n),
              WSM_ERR_INVALID_STATE);
    CHECK_RES(wsm_reject_body(s.conn, NULL, 0, true, out, sizeof out, &n),
              WSM_ERR_INVALID_STATE);
    CHECK_EQ(wsm_phase(s.conn), WSM_PHASE_HANDSHAKE);
    /* (argument checks come first) */
    CHECK_RES(wsm_reject_body(NULL, u8("x"), 1, false, out, sizeof out, &n), WSM_ERR_NULL);
    CHECK_RES(wsm_reject_body(s.conn, u8("x"), 1, false, out, sizeof out, NULL), WSM_ERR_NULL);
    CHECK_RES(wsm_reject_head(s.conn, 403, NULL, 0, out, sizeof out, NULL), WSM_ERR_NULL);
    CHECK_RES(wsm_reject_head(NULL, 403, NULL, 0, out, sizeof out, &n), WSM_ERR_NULL);
    /* ...and after a complete refusal. */
    REQUIRE_OK(wsm_reject(s.conn, 403, NULL, 0, NULL, 0, out, sizeof out, &n));
    CHECK_RES(wsm_reject_body(s.conn, u8("x"), 1, true, out, sizeof out, &n),
              WSM_ERR_INVALID_STATE);
    ep_free(&s);
    /* A client has no refusal to stream. */
    REQUIRE_OK(ep_init(&c, "client", WSM_ROLE_CLIENT, NULL));
    CHECK_RES(wsm_reject_head(c.conn, 403, NULL, 0, out, sizeof out, &n), WSM_ERR_INVALID_STATE);
    CHECK_RES(wsm_reject_body(c.conn, u8("x"), 1, true, out, sizeof out, &n),
              WSM_ERR_INVALID_STATE);
    ep_free(&c);
}

/* After a bad request the application may answer with its own response instead of the
 * standard one, which is then never sent. */
static void test_server_refusal_replaces_the_standard_response(void) {
    static const char bad[] = "GET / HTTP/1.1\r\nHost: h\r\n" UPG KEY
                              "Sec-WebSocket-Version: 8\r\n\r\n";
    static const char expect[] = "HTTP/1.1 426 Upgrade Required\r\n"
                                 "Sec-WebSocket-Version: 13\r\n"
                                 "Content-Type: text/plain\r\n"
                                 "Content-Length: 14\r\n"
                                 "Connection: close\r\n"
                                 "\r\n"
                                 "use version 13";
    endpoint s;
    wsm_header h[HDRS], hs[2];
    wsm_request r;
    wsm_failure_info fi;
    bool complete = false;
    uint8_t out[512];
    size_t n = 0;

    REQUIRE_OK(ep_init(&s, "server", WSM_ROLE_SERVER, NULL));
    CHECK_RES(wsm_read_request(s.conn, 0, u8(bad), slen(bad), h, HDRS, &r, &complete),
              WSM_ERR_HANDSHAKE);
    hs[0] = hdr("Sec-WebSocket-Version", "13");
    hs[1] = hdr("Content-Type", "text/plain");
    REQUIRE_OK(wsm_reject(s.conn, 426, hs, 2, u8("use version 13"), 14, out, sizeof out, &n));
    CHECK_BYTES_STR(out, n, expect);
    CHECK(wsm_should_close_transport(s.conn));
    CHECK_OK(wsm_poll_transmit(s.conn, out, sizeof out, &n));
    CHECK_EQ(n, 0); /* the standard 426 is gone */
    CHECK_OK(wsm_failure(s.conn, &fi));
    CHECK_EQ(fi.kind, WSM_FAILURE_HANDSHAKE);
    CHECK_EQ(fi.handshake_error, WSM_HE_UNSUPPORTED_VERSION);
    ep_free(&s);

    /* The streamed form, after wsm_fail_handshake. */
    read_valid(&s);
    REQUIRE_OK(wsm_fail_handshake(s.conn, WSM_HE_ORIGIN_NOT_ALLOWED));
    REQUIRE_OK(wsm_reject_head(s.conn, 403, NULL, 0, out, sizeof out, &n));
    CHECK_BYTES_STR(out, n, "HTTP/1.1 403 Forbidden\r\nTransfer-Encoding: chunked\r\n"
                            "Connection: close\r\n\r\n");
    CHECK_EQ(wsm_phase(s.conn), WSM_PHASE_REJECTING);
    CHECK_OK(wsm_poll_transmit(s.conn, out, sizeof out, &n));
    CHECK_EQ(n, 0); /* the standard 403 is gone */
    REQUIRE_OK(wsm_reject_body(s.conn, u8("not from there"), 14, true, out, sizeof out, &n));
    CHECK_BYTES_STR(out, n, "e\r\nnot from there\r\n0\r\n\r\n");
    CHECK(wsm_should_close_transport(s.conn));
    CHECK_OK(wsm_poll_transmit(s.conn, out, sizeof out, &n));
    CHECK_EQ(n, 0);
    ep_free(&s);

    /* Once the standard response is out, it is too late. */
    REQUIRE_OK(ep_init(&s, "server", WSM_ROLE_SERVER, NULL));
    CHECK_RES(wsm_read_request(s.conn, 0, u8(bad), slen(bad), h, HDRS, &r, &complete),
              WSM_ERR_HANDSHAKE);
    CHECK_OK(wsm_poll_transmit(s.conn, out, sizeof out, &n));
    CHECK(n > 13 && memcmp(out, "HTTP/1.1 426 ", 13) == 0);
    CHECK_RES(wsm_reject(s.conn, 426, NULL, 0, NULL, 0, out, sizeof out, &n),
              WSM_ERR_INVALID_STATE);
    CHECK_RES(wsm_reject_head(s.conn, 426, NULL, 0, out, sizeof out, &n), WSM_ERR_INVALID_STATE);
    ep_free(&s);
}

/* The library frames the body itself: headers that would contradict it are refused. */
static void test_server_refusal_refuses_framing_headers(void) {
    static const char *const framing[] = {"Content-Length", "transfer-encoding", "CONNECTION"};
    endpoint s;
    wsm_header hs[2];
    uint8_t out[512];
    size_t i, n = 0;
    read_valid(&s);
    hs[0] = hdr("X-Fine", "1");
    for (i = 0; i < sizeof framing / sizeof framing[0]; i++) {
        hs[1] = hdr(framing[i], "4");
        CHECK_RES(wsm_reject(s.conn, 400, hs, 2, u8("body"), 4, out, sizeof out, &n),
                  WSM_ERR_INVALID_HEADER);
        CHECK_RES(wsm_reject_head(s.conn, 400, hs, 2, out, sizeof out, &n),
                  WSM_ERR_INVALID_HEADER);
    }
    /* The other checks of a refusal head. */
    CHECK_RES(wsm_reject_head(s.conn, 101, NULL, 0, out, sizeof out, &n), WSM_ERR_INVALID_STATUS);
    CHECK_RES(wsm_reject_head(s.conn, 600, NULL, 0, out, sizeof out, &n), WSM_ERR_INVALID_STATUS);
    hs[1] = hdr("X-Evil", "a\r\nInjected: 1");
    CHECK_RES(wsm_reject_head(s.conn, 400, hs, 2, out, sizeof out, &n), WSM_ERR_INVALID_HEADER);
    CHECK_RES(wsm_reject_head(s.conn, 400, NULL, 1, out, sizeof out, &n), WSM_ERR_NULL);
    CHECK_RES(wsm_reject_head(s.conn, 400, hs, WSM_MAX_HEADERS + 1, out, sizeof out, &n),
              WSM_ERR_INVALID_ARGUMENT);
    /* Nothing changed: still undecided, and a clean head goes out. */
    CHECK_EQ(wsm_phase(s.conn), WSM_PHASE_HANDSHAKE);
    CHECK(!wsm_should_close_transport(s.conn));
    REQUIRE_OK(wsm_reject_head(s.conn, 400, hs, 1, out, sizeof out, &n));
    CHECK_BYTES_STR(out, n, "HTTP/1.1 400 Bad Request\r\nX-Fine: 1\r\n"
                            "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
    CHECK_EQ(wsm_phase(s.conn), WSM_PHASE_REJECTING);
    ep_free(&s);
}

static void test_server_streamed_refusal_buffer_too_small(void) {
    static const char head[] = "HTTP/1.1 503 Service Unavailable\r\n"
                               "Transfer-Encoding: chunked\r\n"
                               "Connection: close\r\n"
                               "\r\n";
    endpoint s;
    uint8_t out[256];
    size_t n = 0, needed = 0;
    read_valid(&s);
    memset(out, '#', sizeof out);
    CHECK_RES(wsm_reject_head(s.conn, 503, NULL, 0, out, 20, &needed), WSM_ERR_BUFFER_TOO_SMALL);
    CHECK_EQ(needed, slen(head));
    CHECK(out[0] == '#' && out[19] == '#'); /* nothing written */
    CHECK_EQ(wsm_phase(s.conn), WSM_PHASE_HANDSHAKE);
    CHECK(!wsm_should_close_transport(s.conn));
    /* NULL with length 0 asks for the size. */
    CHECK_RES(wsm_reject_head(s.conn, 503, NULL, 0, NULL, 0, &n), WSM_ERR_BUFFER_TOO_SMALL);
    CHECK_EQ(n, needed);
    REQUIRE_OK(wsm_reject_head(s.conn, 503, NULL, 0, out, needed, &n));
    CHECK_BYTES_STR(out, n, head);
    /* The last piece together with the end: one chunk and the terminator (14 bytes). */
    memset(out, '#', sizeof out);
    CHECK_RES(wsm_reject_body(s.conn, u8("busy"), 4, true, out, 13, &needed),
              WSM_ERR_BUFFER_TOO_SMALL);
    CHECK_EQ(needed, 14);
    CHECK(out[0] == '#' && out[12] == '#'); /* nothing written */
    CHECK_EQ(wsm_phase(s.conn), WSM_PHASE_REJECTING); /* not finished */
    CHECK(!wsm_should_close_transport(s.conn));
    CHECK_RES(wsm_reject_body(s.conn, u8("busy"), 4, true, NULL, 0, &n), WSM_ERR_BUFFER_TOO_SMALL);
    CHECK_EQ(n, 14);
    REQUIRE_OK(wsm_reject_body(s.conn, u8("busy"), 4, true, out, needed, &n));
    CHECK_BYTES_STR(out, n, "4\r\nbusy\r\n0\r\n\r\n");
    CHECK_EQ(wsm_phase(s.conn), WSM_PHASE_CLOSED);
    CHECK(wsm_should_close_transport(s.conn));
    ep_free(&s);
}

static void test_client_writes_request(void) {
    endpoint c, s;
    static const char *const protos[] = {"chat", "superchat"};
    static const char *const exts[] = {"permessage-foo; x=1"};
    wsm_header extra;
    wsm_client_request req;
    uint8_t out[1024];
    size_t n = 0, needed = 0;
    static const char expect[] = "GET /chat?room=1 HTTP/1.1\r\n"
                                 "Host: example.com:8080\r\n"
                                 "Upgrade: websocket\r\n"
                                 "Connection: Upgrade\r\n"
                                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                 "Sec-WebSocket-Version: 13\r\n"
                                 "Origin: https://example.com\r\n"
                                 "Sec-WebSocket-Protocol: chat, superchat\r\n"
                                 "Sec-WebSocket-Extensions: permessage-foo; x=1\r\n"
                                 "Cookie: session=abc123\r\n"
                                 "\r\n";
    REQUIRE_OK(ep_init(&c, "client", WSM_ROLE_CLIENT, NULL));
    memset(&req, 0, sizeof req);
    memset(&extra, 0, sizeof extra);
    extra.name.ptr = "Cookie";
    extra.name.len = 6;
    extra.value = u8("session=abc123");
    extra.value_len = 14;
    req.host = "example.com:8080";
    req.target = "/chat?room=1";
    req.origin = "https://example.com";
    req.subprotocols = protos;
    req.subprotocol_count = 2;
    req.extensions = exts;
    req.extension_count = 1;
    req.headers = &extra;
    req.header_count = 1;
    memset(out, '#', sizeof out);
    CHECK_RES(wsm_write_request(c.conn, &req, SAMPLE_NONCE, out, 16, &needed),
              WSM_ERR_BUFFER_TOO_SMALL);
    CHECK(out[0] == '#' && out[15] == '#'); /* nothing written */
    CHECK_EQ(needed, slen(expect));
    REQUIRE_OK(wsm_write_request(c.conn, &req, SAMPLE_NONCE, out, needed, &n));
    CHECK_EQ(n, needed);
    CHECK_BYTES_STR(out, n, expect);
    CHECK_EQ(wsm_state(c.conn), WSM_CONNECTING);
    CHECK_RES(wsm_write_request(c.conn, &req, SAMPLE_NONCE, out, sizeof out, &n),
              WSM_ERR_INVALID_STATE);
    /* A server handle cannot write requests. */
    REQUIRE_OK(ep_init(&s, "server", WSM_ROLE_SERVER, NULL));
    CHECK_RES(wsm_write_request(s.conn, &req, SAMPLE_NONCE, out, sizeof out, &n),
              WSM_ERR_INVALID_STATE);
    ep_free(&c);
    ep_free(&s);
}

static void test_client_request_validation(void) {
    endpoint c;
    wsm_client_request req;
    uint8_t out[1024];
    size_t n = 0;
    static const char *const bad_proto[] = {"has space"};
    REQUIRE_OK(ep_init(&c, "client", WSM_ROLE_CLIENT, NULL));
    memset(&req, 0, sizeof req);
    req.host = "bad host";
    req.target = "/";
    CHECK_RES(wsm_write_request(c.conn, &req, SAMPLE_NONCE, out, sizeof out, &n),
              WSM_ERR_INVALID_HEADER);
    req.host = "h";
    req.target = "no-slash";
    CHECK_RES(wsm_write_request(c.conn, &req, SAMPLE_NONCE, out, sizeof out, &n),
              WSM_ERR_INVALID_HEADER);
    req.target = "/";
    req.subprotocols = bad_proto;
    req.subprotocol_count = 1;
    CHECK_RES(wsm_write_request(c.conn, &req, SAMPLE_NONCE, out, sizeof out, &n),
              WSM_ERR_INVALID_HEADER);
    req.subprotocol_count = WSM_MAX_HEADERS + 1;
    CHECK_RES(wsm_write_request(c.conn, &req, SAMPLE_NONCE, out, sizeof out, &n),
              WSM_ERR_INVALID_ARGUMENT);
    req.subprotocols = NULL;
    req.subprotocol_count = 1;
    CHECK_RES(wsm_write_request(c.conn, &req, SAMPLE_NONCE, out, sizeof out, &n), WSM_ERR_NULL);
    req.subprotocol_count = 0;
    req.host = "\xff\xfe";
    CHECK_RES(wsm_write_request(c.conn, &req, SAMPLE_NONCE, out, sizeof out, &n),
              WSM_ERR_INVALID_ARGUMENT);
    req.host = NULL;
    CHECK_RES(wsm_write_request(c.conn, &req, SAMPLE_NONCE, out, sizeof out, &n), WSM_ERR_NULL);
    /* Still unsent: a valid request works. */
    req.host = "h";
    CHECK_OK(wsm_write_request(c.conn, &req, SAMPLE_NONCE, out, sizeof out, &n));
    ep_free(&c);
}

/* Client writes the request (offering chat, superchat), server reads it. */
static void start_handshake(endpoint *c, endpoint *s, wsm_client_request *req) {
    static const char *const protos[] = {"chat", "superchat"};
    uint8_t buf[1024];
    size_t n = 0;
    wsm_header h[HDRS];
    wsm_request r;
    bool complete = false;
    CHECK_OK(ep_init(c, "client", WSM_ROLE_CLIENT, NULL));
    CHECK_OK(ep_init(s, "server", WSM_ROLE_SERVER, NULL));
    memset(req, 0, sizeof *req);
    req->host = "example.com";
    req->target = "/ws";
    req->subprotocols = protos;
    req->subprotocol_count = 2;
    CHECK_OK(wsm_write_request(c->conn, req, SAMPLE_NONCE, buf, sizeof buf, &n));
    CHECK_OK(wsm_read_request(s->conn, 0, buf, n, h, HDRS, &r, &complete));
    CHECK(complete);
}

static void test_client_reads_accepted_response(void) {
    endpoint c, s;
    wsm_client_request req;
    wsm_accept_options o;
    wsm_response resp;
    wsm_header h[HDRS];
    uint8_t buf[1024];
    size_t n = 0, m = 0, k, consumed = 0;
    bool complete;
    const wsm_header *f;
    wsm_event ev;
    start_handshake(&c, &s, &req);
    memset(&o, 0, sizeof o);
    o.subprotocol = "superchat";
    REQUIRE_OK(wsm_accept(s.conn, 0, &o, buf, sizeof buf, &n));
    /* The server's first frame follows the response in the same read. */
    REQUIRE_OK(wsm_send(s.conn, WSM_TEXT, u8("hello"), 5, buf + n, sizeof buf - n, &m));
    for (k = 0; k < n; k++) {
        complete = true;
        CHECK_OK(wsm_read_response(c.conn, 0, &req, buf, k, h, HDRS, &resp, &complete));
        if (complete) {
            t_fail(__FILE__, __LINE__, "complete after %zu of %zu bytes", k, n);
            break;
        }
    }
    CHECK_EQ(wsm_state(c.conn), WSM_CONNECTING);
    complete = false;
    REQUIRE_OK(wsm_read_response(c.conn, 0, &req, buf, n + m, h, HDRS, &resp, &complete));
    REQUIRE(complete);
    CHECK(resp.accepted);
    CHECK_EQ(resp.status, 101);
    CHECK_WSTR(resp.reason, "Switching Protocols");
    CHECK_WSTR(resp.subprotocol, "superchat");
    CHECK_EQ(resp.consumed, n);
    CHECK_EQ(resp.body_len, 0);
    CHECK_EQ(resp.header_count, 4);
    f = wsm_header_find(h, resp.header_count, "sec-websocket-accept");
    REQUIRE(f != NULL);
    CHECK_BYTES_STR(f->value, f->value_len, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    CHECK_EQ(wsm_state(c.conn), WSM_OPEN);
    REQUIRE_OK(wsm_read(c.conn, 0, buf + n, m, &consumed, &ev));
    CHECK_EQ(consumed, m);
    CHECK_EQ(ev.kind, WSM_EVENT_DATA);
    CHECK_EQ(ev.flags, WSM_FLAG_TEXT | WSM_FLAG_MESSAGE_START | WSM_FLAG_FRAME_FIN |
                           WSM_FLAG_MESSAGE_FIN);
    CHECK_BYTES_STR(ev.data, ev.len, "hello");
    ep_free(&c);
    ep_free(&s);
}

static void test_client_rejected_with_body(void) {
    endpoint c, s;
    wsm_client_request req;
    wsm_response resp;
    wsm_header h[HDRS];
    wsm_failure_info fi;
    uint8_t buf[1024];
    size_t n = 0;
    bool complete = false;
    start_handshake(&c, &s, &req);
    REQUIRE_OK(wsm_reject(s.conn, 403, NULL, 0, u8("forbidden!"), 10, buf, sizeof buf, &n));
    REQUIRE_OK(wsm_read_response(c.conn, 0, &req, buf, n, h, HDRS, &resp, &complete));
    REQUIRE(complete);
    CHECK(!resp.accepted);
    CHECK_EQ(resp.status, 403);
    CHECK_WSTR(resp.reason, "Forbidden");
    CHECK(resp.subprotocol.ptr == NULL);
    CHECK_BYTES_STR(resp.body, resp.body_len, "forbidden!");
    CHECK(resp.body_complete);
    CHECK_EQ(resp.consumed, n);
    CHECK_EQ(wsm_state(c.conn), WSM_CLOSED);
    CHECK(wsm_should_close_transport(c.conn));
    CHECK_EQ(wsm_close_status(c.conn), 1006);
    REQUIRE_OK(wsm_failure(c.conn, &fi));
    CHECK_EQ(fi.kind, WSM_FAILURE_HANDSHAKE);
    CHECK_EQ(fi.handshake_error, WSM_HE_REJECTED);
    ep_free(&c);
    ep_free(&s);
}

static void test_client_reject_body_arrives_later(void) {
    endpoint c, s;
    wsm_client_request req;
    wsm_response resp;
    wsm_header h[HDRS];
    uint8_t buf[1024];
    size_t n = 0, head, consumed = 0;
    bool complete = false;
    wsm_event ev;
    start_handshake(&c, &s, &req);
    REQUIRE_OK(wsm_reject(s.conn, 503, NULL, 0, u8("try later!"), 10, buf, sizeof buf, &n));
    head = n - 10;
    /* The head and 3 body bytes arrive first. */
    REQUIRE_OK(wsm_read_response(c.conn, 0, &req, buf, head + 3, h, HDRS, &resp, &complete));
    REQUIRE(complete);
    CHECK(!resp.accepted);
    CHECK_EQ(resp.status, 503);
    CHECK_BYTES_STR(resp.body, resp.body_len, "try");
    CHECK(!resp.body_complete);
    CHECK_EQ(resp.consumed, head + 3);
    CHECK_EQ(wsm_state(c.conn), WSM_CLOSED);
    CHECK(!wsm_should_close_transport(c.conn));
    /* Then 5 more... */
    REQUIRE_OK(wsm_read(c.conn, 0, buf + head + 3, 5, &consumed, &ev));
    CHECK_EQ(ev.kind, WSM_EVENT_REJECT_BODY);
    CHECK_EQ(consumed, 5);
    CHECK_BYTES_STR(ev.data, ev.len, " late");
    CHECK_EQ(ev.flags & WSM_FLAG_BODY_FIN, 0);
    CHECK(!wsm_should_close_transport(c.conn));
    /* ...and the last 2, followed by bytes that are not part of the body. */
    memcpy(buf + n, "JUNK", 4);
    REQUIRE_OK(wsm_read(c.conn, 0, buf + head + 8, 6, &consumed, &ev));
    CHECK_EQ(ev.kind, WSM_EVENT_REJECT_BODY);
    CHECK_EQ(consumed, 2);
    CHECK_BYTES_STR(ev.data, ev.len, "r!");
    CHECK_EQ(ev.flags & WSM_FLAG_BODY_FIN, WSM_FLAG_BODY_FIN);
    CHECK(wsm_should_close_transport(c.conn));
    CHECK_EQ(wsm_state(c.conn), WSM_CLOSED);
    ep_free(&c);
    ep_free(&s);
}

/* A refusal without Content-Length: the body runs until the server closes the connection. */
static void test_client_reject_body_until_eof(void) {
    static const char resp_text[] = "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n\r\nbad";
    endpoint c, s;
    wsm_client_request req;
    wsm_response resp;
    wsm_header h[HDRS];
    uint8_t more[8];
    size_t consumed = 99;
    bool complete = false;
    wsm_event ev;
    start_handshake(&c, &s, &req);
    REQUIRE_OK(wsm_read_response(c.conn, 0, &req, u8(resp_text), slen(resp_text), h, HDRS, &resp,
                                 &complete));
    REQUIRE(complete);
    CHECK(!resp.accepted);
    CHECK_EQ(resp.status, 400);
    CHECK_BYTES_STR(resp.body, resp.body_len, "bad");
    CHECK(!resp.body_complete);
    CHECK_EQ(resp.consumed, slen(resp_text));
    /* Nothing new: no event (a read loop that stops at WSM_EVENT_NONE must not spin). */
    REQUIRE_OK(wsm_read(c.conn, 0, more, 0, &consumed, &ev));
    CHECK_EQ(ev.kind, WSM_EVENT_NONE);
    CHECK_EQ(consumed, 0);
    memcpy(more, " input", 6);
    REQUIRE_OK(wsm_read(c.conn, 0, more, 6, &consumed, &ev));
    CHECK_EQ(ev.kind, WSM_EVENT_REJECT_BODY);
    CHECK_EQ(consumed, 6);
    CHECK_BYTES_STR(ev.data, ev.len, " input");
    CHECK_EQ(ev.flags & WSM_FLAG_BODY_FIN, 0);
    CHECK(!wsm_should_close_transport(c.conn));
    CHECK_OK(wsm_handle_eof(c.conn));
    CHECK(wsm_should_close_transport(c.conn));
    CHECK_EQ(wsm_state(c.conn), WSM_CLOSED);
    ep_free(&c);
    ep_free(&s);
}

static void test_client_rejects_bad_accept_and_unoffered_subprotocol(void) {
    static const char bad_accept[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                     "Connection: Upgrade\r\n"
                                     "Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n";
    static const char unoffered[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                    "Connection: Upgrade\r\n"
                                    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                                    "Sec-WebSocket-Protocol: mqtt\r\n\r\n";
    const char *responses[2];
    wsm_handshake_error errors[2];
    int i;
    responses[0] = bad_accept;
    errors[0] = WSM_HE_INVALID_ACCEPT;
    responses[1] = unoffered;
    errors[1] = WSM_HE_UNOFFERED_SUBPROTOCOL;
    for (i = 0; i < 2; i++) {
        endpoint c, s;
        wsm_client_request req;
        wsm_response resp;
        wsm_header h[HDRS];
        wsm_failure_info fi;
        bool complete = false;
        start_handshake(&c, &s, &req);
        CHECK_RES(wsm_read_response(c.conn, 0, &req, u8(responses[i]), slen(responses[i]), h,
                                    HDRS, &resp, &complete),
                  WSM_ERR_HANDSHAKE);
        CHECK_OK(wsm_failure(c.conn, &fi));
        CHECK_EQ(fi.kind, WSM_FAILURE_HANDSHAKE);
        CHECK_EQ(fi.handshake_error, errors[i]);
        CHECK_EQ(wsm_state(c.conn), WSM_CLOSED);
        CHECK(wsm_should_close_transport(c.conn));
        CHECK_EQ(wsm_close_status(c.conn), 1006);
        ep_free(&c);
        ep_free(&s);
    }
}

/* wsm_phase from the handshake to the end: the client closes (LOCAL_CLOSING on its side,
 * REMOTE_CLOSING on the server's), then a server closes, then a server fails a connection. */
static void test_phase_through_a_session(void) {
    endpoint c, s;
    wsm_client_request req;
    wsm_response resp;
    wsm_header h[HDRS];
    uint8_t buf[1024], frame[64];
    size_t n = 0, m = 0, consumed = 0;
    bool complete = false;
    wsm_event ev;
    int round;
    start_handshake(&c, &s, &req);
    CHECK_EQ(wsm_phase(c.conn), WSM_PHASE_HANDSHAKE);
    CHECK_EQ(wsm_phase(s.conn), WSM_PHASE_HANDSHAKE);
    REQUIRE_OK(wsm_accept(s.conn, 0, NULL, buf, sizeof buf, &n));
    CHECK_EQ(wsm_phase(s.conn), WSM_PHASE_OPEN);
    CHECK_EQ(wsm_phase(c.conn), WSM_PHASE_HANDSHAKE);
    REQUIRE_OK(wsm_read_response(c.conn, 0, &req, buf, n, h, HDRS, &resp, &complete));
    REQUIRE(complete && resp.accepted);
    CHECK_EQ(wsm_phase(c.conn), WSM_PHASE_OPEN);
    /* The client closes. */
    REQUIRE_OK(wsm_close(c.conn, 0, 1000, u8("done"), 4, frame, sizeof frame, &m));
    CHECK_EQ(wsm_phase(c.conn), WSM_PHASE_LOCAL_CLOSING);
    CHECK_EQ(wsm_state(c.conn), WSM_CLOSING);
    /* The server reads it: remote closing until its reply is out. */
    REQUIRE_OK(wsm_read(s.conn, 0, frame, m, &consumed, &ev));
    CHECK_EQ(ev.kind, WSM_EVENT_CLOSE);
    CHECK_EQ(wsm_phase(s.conn), WSM_PHASE_REMOTE_CLOSING);
    CHECK_EQ(wsm_state(s.conn), WSM_CLOSING);
    REQUIRE_OK(wsm_poll_transmit(s.conn, buf, sizeof buf, &n));
    CHECK(n > 0);
    CHECK_EQ(wsm_phase(s.conn), WSM_PHASE_CLOSED);
    /* The client reads the reply: closed (waiting for the server to end TCP, then EOF). */
    REQUIRE_OK(wsm_read(c.conn, 0, buf, n, &consumed, &ev));
    CHECK_EQ(ev.kind, WSM_EVENT_CLOSE);
    CHECK_EQ(wsm_phase(c.conn), WSM_PHASE_CLOSED);
    CHECK_OK(wsm_handle_eof(c.conn));
    CHECK_EQ(wsm_phase(c.conn), WSM_PHASE_CLOSED);
    ep_free(&c);
    ep_free(&s);

    for (round = 0; round < 2; round++) {
        start_handshake(&c, &s, &req);
        REQUIRE_OK(wsm_accept(s.conn, 0, NULL, buf, sizeof buf, &n));
        REQUIRE_OK(wsm_read_response(c.conn, 0, &req, buf, n, h, HDRS, &resp, &complete));
        if (round == 0) {
            /* The server closes: LOCAL_CLOSING there, REMOTE_CLOSING at the client. */
            REQUIRE_OK(wsm_close(s.conn, 0, 1001, NULL, 0, frame, sizeof frame, &m));
            CHECK_EQ(wsm_phase(s.conn), WSM_PHASE_LOCAL_CLOSING);
            REQUIRE_OK(wsm_read(c.conn, 0, frame, m, &consumed, &ev));
            CHECK_EQ(ev.kind, WSM_EVENT_CLOSE);
            CHECK_EQ(wsm_phase(c.conn), WSM_PHASE_REMOTE_CLOSING);
            REQUIRE_OK(wsm_poll_transmit(c.conn, buf, sizeof buf, &n));
            CHECK_EQ(wsm_phase(c.conn), WSM_PHASE_CLOSED);
            REQUIRE_OK(wsm_read(s.conn, 0, buf, n, &consumed, &ev));
            CHECK_EQ(ev.kind, WSM_EVENT_CLOSE);
            CHECK_EQ(wsm_phase(s.conn), WSM_PHASE_CLOSED);
        } else {
            /* An unmasked frame from the client: the server fails the connection, its close
             * (1002) queued: REMOTE_CLOSING until that is out. */
            m = make_frame(frame, 0x81, NULL, "hi", 2);
            REQUIRE_OK(wsm_read(s.conn, 0, frame, m, &consumed, &ev));
            CHECK_EQ(ev.kind, WSM_EVENT_FAILED);
            CHECK_EQ(wsm_phase(s.conn), WSM_PHASE_REMOTE_CLOSING);
            REQUIRE_OK(wsm_poll_transmit(s.conn, buf, sizeof buf, &n));
            CHECK(n > 0);
            CHECK_EQ(wsm_phase(s.conn), WSM_PHASE_CLOSED);
        }
        ep_free(&c);
        ep_free(&s);
    }
    /* A NULL handle reads as closed. */
    CHECK_EQ(wsm_phase(NULL), WSM_PHASE_CLOSED);
}

/* A client reading a streamed refusal is REJECTING until the body ends: the chunked body is
 * decoded, so the client sees exactly the data, and the last chunk ends it (no need to wait for
 * the end of file). */
static void test_phase_while_a_refusal_streams(void) {
    endpoint c, s;
    wsm_client_request req;
    wsm_response resp;
    wsm_header h[HDRS];
    uint8_t buf[1024];
    size_t n = 0, m = 0, consumed = 0;
    bool complete = false;
    wsm_event ev;
    start_handshake(&c, &s, &req);
    REQUIRE_OK(wsm_reject_head(s.conn, 503, NULL, 0, buf, sizeof buf, &n));
    CHECK_EQ(wsm_phase(s.conn), WSM_PHASE_REJECTING);
    /* The head and a first chunk arrive together. */
    REQUIRE_OK(wsm_reject_body(s.conn, u8("try "), 4, false, buf + n, sizeof buf - n, &m));
    CHECK_EQ(m, slen("4\r\ntry \r\n"));
    REQUIRE_OK(wsm_read_response(c.conn, 0, &req, buf, n + m, h, HDRS, &resp, &complete));
    REQUIRE(complete);
    CHECK(!resp.accepted);
    CHECK_EQ(resp.status, 503);
    CHECK_BYTES_STR(resp.body, resp.body_len, "try ");
    CHECK(!resp.body_complete);
    CHECK_EQ(resp.consumed, n + m);
    CHECK_EQ(wsm_phase(c.conn), WSM_PHASE_REJECTING);
    CHECK(!wsm_should_close_transport(c.conn));
    /* The last piece: its data exactly, and the end of the body with it. */
    REQUIRE_OK(wsm_reject_body(s.conn, u8("later"), 5, true, buf, sizeof buf, &n));
    CHECK_EQ(wsm_phase(s.conn), WSM_PHASE_CLOSED);
    REQUIRE_OK(wsm_read(c.conn, 0, buf, n, &consumed, &ev));
    CHECK_EQ(ev.kind, WSM_EVENT_REJECT_BODY);
    CHECK_BYTES_STR(ev.data, ev.len, "later");
    CHECK_EQ(ev.flags & WSM_FLAG_BODY_FIN, WSM_FLAG_BODY_FIN);
    CHECK_EQ(consumed, n);
    CHECK_EQ(wsm_phase(c.conn), WSM_PHASE_CLOSED);
    CHECK(wsm_should_close_transport(c.conn));
    ep_free(&c);
    ep_free(&s);
}

/* A chunked refusal written by hand: several chunks in one input come one event each (framing
 * only: consumed, no event), extensions and trailers are skipped, Content-Length is ignored,
 * and bytes after the body are not consumed. */
static void test_client_reads_a_chunked_refusal(void) {
    static const char text[] = "HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n"
                               "Transfer-Encoding: chunked\r\n\r\n"
                               "3;x=y\r\nno \r\n7\r\nthanks!\r\n0\r\nX-T: 1\r\n\r\nJUNK";
    endpoint c, s;
    wsm_client_request req;
    wsm_response resp;
    wsm_header h[HDRS];
    uint8_t buf[256];
    size_t len = slen(text), pos, consumed = 0;
    bool complete = false;
    wsm_event ev;
    memcpy(buf, text, len);
    start_handshake(&c, &s, &req);
    REQUIRE_OK(wsm_read_response(c.conn, 0, &req, buf, len, h, HDRS, &resp, &complete));
    REQUIRE(complete);
    CHECK_EQ(resp.status, 403);
    CHECK_BYTES_STR(resp.body, resp.body_len, "no ");
    CHECK(!resp.body_complete);
    pos = resp.consumed;
    CHECK_BYTES_STR(buf + pos, 7, "thanks!");
    REQUIRE_OK(wsm_read(c.conn, 0, buf + pos, len - pos, &consumed, &ev));
    CHECK_EQ(ev.kind, WSM_EVENT_REJECT_BODY);
    CHECK_BYTES_STR(ev.data, ev.len, "thanks!");
    CHECK_EQ(ev.flags & WSM_FLAG_BODY_FIN, WSM_FLAG_BODY_FIN);
    CHECK_EQ(len - pos - consumed, 4); /* "JUNK" */
    CHECK(wsm_should_close_transport(c.conn));
    ep_free(&c);
    ep_free(&s);
}

void run_handshake_tests(void) {
    RUN(test_server_reads_request);
    RUN(test_server_request_in_pieces);
    RUN(test_server_request_without_query);
    RUN(test_server_accept_with_subprotocol_and_headers);
    RUN(test_server_accept_rejects_bad_options);
    RUN(test_server_accept_buffer_too_small);
    RUN(test_server_reject_with_status_headers_body);
    RUN(test_server_fail_handshake_403);
    RUN(test_server_bad_requests_get_error_responses);
    RUN(test_server_incomplete_head_at_limit);
    RUN(test_server_streamed_refusal);
    RUN(test_server_reject_body_needs_a_head);
    RUN(test_server_refusal_replaces_the_standard_response);
    RUN(test_server_refusal_refuses_framing_headers);
    RUN(test_server_streamed_refusal_buffer_too_small);
    RUN(test_client_writes_request);
    RUN(test_client_request_validation);
    RUN(test_client_reads_accepted_response);
    RUN(test_client_rejected_with_body);
    RUN(test_client_reject_body_arrives_later);
    RUN(test_client_reject_body_until_eof);
    RUN(test_client_rejects_bad_accept_and_unoffered_subprotocol);
    RUN(test_phase_through_a_session);
    RUN(test_phase_while_a_refusal_streams);
    RUN(test_client_reads_a_chunked_refusal);
}
