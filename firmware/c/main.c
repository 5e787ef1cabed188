/* The on-target checks through the C ABI (libwsmachine.a built for thumbv7em-none-eabihf
 * without the std feature, include/wsmachine.h with WSM_NO_HEAP): a browser's upgrade request
 * answered with the exact 101, masked text and binary frames echoed, a fragmented message
 * with a ping between fragments, ping -> pong, protocol violations answered with the right
 * close, the closing handshake, and a client handshake against a recorded server response.
 * The handles live in static memory (wsm_conn_init); nothing allocates.
 *
 * Build: firmware/c/Makefile (scripts/test/firmware.sh). SELFTEST_FAIL / SELFTEST_FAULT make
 * the run end with status 1 / 102, to show that failures reach the shell. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "harness.h"
#include "wsmachine.h"

#ifdef WSM_HEAP
#error "WSM_NO_HEAP must be defined for firmware"
#endif

#define LEN(a) (sizeof(a) / sizeof((a)[0]))
/* A string literal's bytes without the terminating NUL. */
#define LIT(s) (const uint8_t *)(s), (sizeof(s) - 1)

/* Handle storage in static memory, aligned for the handle. */
static uint64_t server_mem[64];
static uint64_t client_mem[64];
static uint8_t rx[1024];
static uint8_t tx[512];

static const char CHROME_REQUEST[] =
    "GET /ws?room=lobby HTTP/1.1\r\n"
    "Host: 192.168.4.1\r\n"
    "Connection: Upgrade\r\n"
    "Pragma: no-cache\r\n"
    "Cache-Control: no-cache\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36\r\n"
    "Upgrade: websocket\r\n"
    "Origin: http://192.168.4.1\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "Accept-Encoding: gzip, deflate, br, zstd\r\n"
    "Accept-Language: en-US,en;q=0.9,de;q=0.8\r\n"
    "Cookie: session=7d3f9a1c2b8e4f60; theme=dark\r\n"
    "Sec-WebSocket-Key: Xk3+e7Q0mU9bqR1c2ZtJ8w==\r\n"
    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
    "Sec-WebSocket-Protocol: chat.v2, chat.v1\r\n"
    "\r\n";

static const char CHROME_101[] = "HTTP/1.1 101 Switching Protocols\r\n"
                                 "Upgrade: websocket\r\n"
                                 "Connection: Upgrade\r\n"
                                 "Sec-WebSocket-Accept: Um2KU7pVeOZDgz1Npf0csjaenqw=\r\n"
                                 "Sec-WebSocket-Protocol: chat.v2\r\n"
                                 "\r\n";

static const char CLIENT_REQUEST[] = "GET /chat HTTP/1.1\r\n"
                                     "Host: echo.example.com\r\n"
                                     "Upgrade: websocket\r\n"
                                     "Connection: Upgrade\r\n"
                                     "Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA==\r\n"
                                     "Sec-WebSocket-Version: 13\r\n"
                                     "Origin: http://example.com\r\n"
                                     "Sec-WebSocket-Protocol: chat.v2\r\n"
                                     "User-Agent: wsmachine-fw/0.1\r\n"
                                     "\r\n";

/* Recorded from a Python websockets 13 server; its first frame follows the head. */
static const char SERVER_HEAD[] = "HTTP/1.1 101 Switching Protocols\r\n"
                                  "Date: Sat, 22 Nov 2025 04:00:00 GMT\r\n"
                                  "Upgrade: websocket\r\n"
                                  "Connection: Upgrade\r\n"
                                  "Sec-WebSocket-Accept: C/0nmHhBztSRGR1CwL6Tf4ZjwpY=\r\n"
                                  "Sec-WebSocket-Protocol: chat.v2\r\n"
                                  "Server: Python/3.11 websockets/13.1\r\n"
                                  "\r\n";
static const char SERVER_FRAME[] = "\x81\x07Welcome";

static size_t copy(uint8_t *dst, const uint8_t *src, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        dst[i] = src[i];
    }
    return n;
}

/* Writes a frame as a browser would (masked with `key` when non-NULL); returns its length. */
static size_t put_frame(uint8_t *out, uint8_t b0, const uint8_t *key, const uint8_t *payload,
                        size_t len)
{
    size_t i = 2;
    uint8_t m = key ? 0x80 : 0;
    out[0] = b0;
    if (len < 126) {
        out[1] = (uint8_t)(m | len);
    } else {
        out[1] = (uint8_t)(m | 126);
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        i = 4;
    }
    if (key) {
        copy(out + i, key, 4);
        i += 4;
    }
    for (size_t j = 0; j < len; j++) {
        out[i + j] = (uint8_t)(payload[j] ^ (key ? key[j % 4] : 0));
    }
    return i + len;
}

static const uint8_t KEY1[4] = {0x37, 0xfa, 0x21, 0x3d};
static const uint8_t KEY2[4] = {0xa5, 0x0f, 0x99, 0x42};

static void ok(const char *name)
{
    sh_puts("  ");
    sh_puts(name);
    sh_puts(" ... ok\n");
}

/* One wsm_read of `len` bytes that must be consumed whole and give an event. */
static wsm_event read_one(wsm_conn *c, uint64_t now, uint8_t *buf, size_t len)
{
    size_t consumed = 0;
    wsm_event ev;
    check(wsm_read(c, now, buf, len, &consumed, &ev) == WSM_OK, "wsm_read");
    check(consumed == len, "whole input consumed");
    check(ev.kind != WSM_EVENT_NONE, "an event");
    return ev;
}

static void expect_transmit(wsm_conn *c, const uint8_t *want, size_t want_len,
                            const char *what)
{
    size_t n = 0;
    check(wsm_poll_transmit(c, tx, sizeof tx, &n) == WSM_OK, "wsm_poll_transmit");
    check_bytes(tx, n, want, want_len, what);
    check(wsm_poll_transmit(c, tx, sizeof tx, &n) == WSM_OK && n == 0, "nothing more queued");
}

static wsm_conn *new_conn(uint64_t *mem, size_t mem_len, uint32_t role, bool open)
{
    static const uint8_t seed[16] = {0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a,
                                     0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a};
    wsm_conn *c = NULL;
    check(wsm_conn_size() <= mem_len, "static handle memory is large enough");
    check((uintptr_t)mem % wsm_conn_align() == 0, "and aligned");
    check(wsm_conn_init(mem, mem_len, role, NULL, 0, seed, open, &c) == WSM_OK,
          "wsm_conn_init");
    check(c == (wsm_conn *)(void *)mem, "handle in caller memory");
    return c;
}

static void server_session(void)
{
    wsm_conn *c = new_conn(server_mem, sizeof server_mem, WSM_ROLE_SERVER, false);
    wsm_header headers[16];
    wsm_request req;
    bool complete = true;
    size_t n = copy(rx, (const uint8_t *)CHROME_REQUEST, sizeof CHROME_REQUEST - 1);

    check(wsm_read_request(c, 0, rx, 200, headers, LEN(headers), &req, &complete) == WSM_OK &&
              !complete,
          "partial request");
    check(wsm_read_request(c, 0, rx, n, headers, LEN(headers), &req, &complete) == WSM_OK &&
              complete,
          "complete request");
    check(req.head_len == n, "head length");
    check_bytes((const uint8_t *)req.path.ptr, req.path.len, LIT("/ws"), "path");
    check_bytes((const uint8_t *)req.query.ptr, req.query.len, LIT("room=lobby"), "query");
    check(req.header_count == 14, "14 headers");
    const wsm_header *origin = wsm_header_find(headers, req.header_count, "origin");
    check(origin != NULL, "origin present");
    check_bytes(origin->value, origin->value_len, LIT("http://192.168.4.1"), "origin");
    const wsm_header *cookie = wsm_header_find(headers, req.header_count, "Cookie");
    check(cookie != NULL, "cookie present");
    check_bytes(cookie->value, cookie->value_len, LIT("session=7d3f9a1c2b8e4f60; theme=dark"),
                "cookie");
    check(wsm_header_has_token(headers, req.header_count, "sec-websocket-protocol", "chat.v2"),
          "subprotocol offered");
    check(wsm_header_has_token(headers, req.header_count, "sec-websocket-extensions",
                               "permessage-deflate; client_max_window_bits"),
          "extension offered");

    wsm_accept_options opts = {.subprotocol = "chat.v2"};
    check(wsm_accept(c, 0, &opts, tx, sizeof tx, &n) == WSM_OK, "wsm_accept");
    check_bytes(tx, n, LIT(CHROME_101), "exact 101 response");
    check(wsm_state(c) == WSM_OPEN, "OPEN");
    ok("chrome handshake");

    /* Text echo. */
    static const char text[] = "Hello, device! \xe2\x9c\x93";
    n = put_frame(rx, 0x81, KEY1, LIT(text));
    wsm_event ev = read_one(c, 1, rx, n);
    check(ev.kind == WSM_EVENT_DATA, "data event");
    check(ev.flags == (WSM_FLAG_TEXT | WSM_FLAG_MESSAGE_START | WSM_FLAG_FRAME_FIN |
                       WSM_FLAG_MESSAGE_FIN),
          "whole text message");
    check_bytes(ev.data, ev.len, LIT(text), "unmasked text");
    check(wsm_send(c, WSM_TEXT, ev.data, ev.len, tx, sizeof tx, &n) == WSM_OK, "wsm_send");
    uint8_t want[256];
    size_t wn = put_frame(want, 0x81, NULL, LIT(text));
    check_bytes(tx, n, want, wn, "exact text echo");
    ok("text echo");

    /* Binary echo, 200 bytes (16-bit extended length). */
    uint8_t bin[200];
    for (size_t i = 0; i < sizeof bin; i++) {
        bin[i] = (uint8_t)(i * 7 + 3);
    }
    n = put_frame(rx, 0x82, KEY2, bin, sizeof bin);
    ev = read_one(c, 2, rx, n);
    check(ev.kind == WSM_EVENT_DATA && !(ev.flags & WSM_FLAG_TEXT), "binary data");
    check_bytes(ev.data, ev.len, bin, sizeof bin, "unmasked binary");
    check(wsm_send(c, WSM_BINARY, ev.data, ev.len, tx, sizeof tx, &n) == WSM_OK, "wsm_send");
    wn = put_frame(want, 0x82, NULL, bin, sizeof bin);
    check_bytes(tx, n, want, wn, "exact binary echo");
    ok("binary echo");

    /* A fragmented text message, split inside a code point, with a ping in between. */
    static const char frag[] = "Gr\xc3\xbc\xc3\x9f" "e";
    n = put_frame(rx, 0x01, KEY1, (const uint8_t *)frag, 3);
    n += put_frame(rx + n, 0x89, KEY2, LIT("hb"));
    n += put_frame(rx + n, 0x80, KEY1, (const uint8_t *)frag + 3, sizeof frag - 1 - 3);
    uint8_t msg[16];
    size_t msg_len = 0, pos = 0;
    int chunks = 0, pings = 0;
    uint32_t last_flags = 0;
    while (pos < n) {
        size_t consumed = 0;
        check(wsm_read(c, 3, rx + pos, n - pos, &consumed, &ev) == WSM_OK, "wsm_read");
        pos += consumed;
        if (ev.kind == WSM_EVENT_DATA) {
            msg_len += copy(msg + msg_len, ev.data, ev.len);
            last_flags = ev.flags;
            chunks++;
        } else if (ev.kind == WSM_EVENT_PING) {
            check(chunks == 1, "ping between fragments");
            pings++;
        } else {
            check(0, "unexpected event");
        }
    }
    check(chunks == 2 && pings == 1, "two fragments and a ping");
    check(last_flags & WSM_FLAG_MESSAGE_FIN, "message finished");
    check_bytes(msg, msg_len, LIT(frag), "reassembled text");
    expect_transmit(c, LIT("\x8a\x02hb"), "pong for the ping between fragments");
    ok("fragmented message");

    /* Ping -> pong. */
    n = put_frame(rx, 0x89, KEY1, LIT("ping-1"));
    ev = read_one(c, 4, rx, n);
    check(ev.kind == WSM_EVENT_PING, "ping event");
    check_bytes(ev.data, ev.len, LIT("ping-1"), "ping payload");
    expect_transmit(c, LIT("\x8a\x06ping-1"), "exact pong");
    ok("ping -> pong");

    /* Closing handshake, server first. */
    check(wsm_close(c, 10, 1000, LIT("bye"), tx, sizeof tx, &n) == WSM_OK, "wsm_close");
    check_bytes(tx, n, LIT("\x88\x05\x03\xe8" "bye"), "exact close frame");
    check(wsm_state(c) == WSM_CLOSING, "CLOSING");
    check(wsm_poll_timeout(c) == 5010, "close timer");
    n = put_frame(rx, 0x88, KEY2, LIT("\x03\xe8"));
    ev = read_one(c, 20, rx, n);
    check(ev.kind == WSM_EVENT_CLOSE && ev.close_code == 1000, "peer's close");
    check(wsm_state(c) == WSM_CLOSED, "CLOSED");
    check(wsm_should_close_transport(c), "close TCP");
    check(wsm_close_status(c) == 1000, "close status");
    wsm_failure_info info;
    check(wsm_failure(c, &info) == WSM_OK && info.kind == WSM_FAILURE_NONE, "clean close");
    ok("close handshake");
}

static void violation(const char *name, uint8_t b0, const uint8_t *payload, size_t len,
                      uint32_t err, uint16_t code, const uint8_t *close, size_t close_len)
{
    wsm_conn *c = new_conn(server_mem, sizeof server_mem, WSM_ROLE_SERVER, true);
    size_t n = put_frame(rx, b0, KEY1, payload, len);
    wsm_event ev = read_one(c, 0, rx, n);
    check(ev.kind == WSM_EVENT_FAILED, "failed event");
    check(ev.error == err, "the right protocol error");
    check(ev.close_code == code, "the right close code");
    expect_transmit(c, close, close_len, "exact failure close");
    check(wsm_state(c) == WSM_CLOSED && wsm_should_close_transport(c), "closed");
    wsm_failure_info info;
    check(wsm_failure(c, &info) == WSM_OK && info.kind == WSM_FAILURE_PROTOCOL &&
              info.protocol_error == err,
          "failure info");
    ok(name);
}

static void client_session(void)
{
    wsm_conn *c = new_conn(client_mem, sizeof client_mem, WSM_ROLE_CLIENT, false);
    static const char *const protocols[] = {"chat.v2"};
    static const wsm_header ua[] = {
        {.name = {"User-Agent", 10}, .value = (const uint8_t *)"wsmachine-fw/0.1", .value_len = 16}};
    wsm_client_request req = {
        .host = "echo.example.com",
        .target = "/chat",
        .origin = "http://example.com",
        .subprotocols = protocols,
        .subprotocol_count = 1,
        .headers = ua,
        .header_count = 1,
    };
    static const uint8_t key[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    size_t n = 0;
    check(wsm_write_request(c, &req, key, tx, sizeof tx, &n) == WSM_OK, "wsm_write_request");
    check_bytes(tx, n, LIT(CLIENT_REQUEST), "exact request");
    ok("client request");

    size_t head = copy(rx, LIT(SERVER_HEAD));
    size_t total = head + copy(rx + head, LIT(SERVER_FRAME));
    wsm_header headers[16];
    wsm_response resp;
    bool complete = false;
    check(wsm_read_response(c, 0, &req, rx, total, headers, LEN(headers), &resp, &complete) ==
                  WSM_OK &&
              complete,
          "wsm_read_response");
    check(resp.accepted && resp.status == 101, "accepted");
    check_bytes((const uint8_t *)resp.subprotocol.ptr, resp.subprotocol.len, LIT("chat.v2"),
                "subprotocol");
    check(resp.consumed == head, "head length");
    check(wsm_state(c) == WSM_OPEN, "OPEN");
    wsm_event ev = read_one(c, 1, rx + head, total - head);
    check(ev.kind == WSM_EVENT_DATA, "frame behind the 101");
    check_bytes(ev.data, ev.len, LIT("Welcome"), "server's first message");
    ok("recorded 101 accepted");

    check(wsm_send(c, WSM_TEXT, LIT("Hello, server!"), tx, sizeof tx, &n) == WSM_OK,
          "wsm_send");
    check(n == 2 + 4 + 14 && tx[0] == 0x81 && tx[1] == (0x80 | 14), "masked frame header");
    for (size_t i = 0; i < 14; i++) {
        tx[6 + i] ^= tx[2 + i % 4];
    }
    check_bytes(tx + 6, 14, LIT("Hello, server!"), "payload unmasks to the text");
    ok("client frame masked");
}

int main(void)
{
    stack_paint();
    sh_puts("wsmachine C firmware checks (libwsmachine.a, no heap)\n");
    server_session();
    violation("reserved opcode -> 1002", 0x83, LIT("x"), WSM_PE_RESERVED_OPCODE, 1002,
              LIT("\x88\x11\x03\xea" "reserved opcode"));
    violation("invalid UTF-8 -> 1007", 0x81, LIT("ok\xff"), WSM_PE_INVALID_UTF8, 1007,
              LIT("\x88\x0f\x03\xef" "invalid UTF-8"));
    violation("fragmented ping -> 1002", 0x09, LIT(""), WSM_PE_FRAGMENTED_CONTROL, 1002,
              LIT("\x88\x1a\x03\xea" "fragmented control frame"));
    client_session();
#ifdef SELFTEST_FAIL
    check(0, "a deliberately failing check (SELFTEST_FAIL)");
#endif
#ifdef SELFTEST_FAULT
    __asm__ volatile("udf #0");
#endif
    sh_puts("conn_size=");
    sh_put_u32((uint32_t)wsm_conn_size());
    sh_puts("\nstack_used=");
    sh_put_u32(stack_used());
    sh_puts("\nchecks=");
    sh_put_u32(checks_passed());
    sh_puts("\nc-checks: ok\n");
    return 0;
}
