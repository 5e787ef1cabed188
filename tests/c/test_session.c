/* A client handle and a server handle wired together in memory: data in both directions,
 * fragmentation, streaming, ping/pong, closing handshakes, bad input and its close codes,
 * undersized output buffers, moved and heap handles. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "support.h"

static const uint8_t *u8(const char *s) { return (const uint8_t *)s; }
static const uint8_t MASK[4] = {0x37, 0xFA, 0x21, 0x3D};

/* Sends `len` bytes of `kind` from `a` to `b`, echoes them back with wsm_send, and checks
 * both copies. */
static void echo_once(pair *p, endpoint *a, endpoint *b, uint32_t kind, const uint8_t *data,
                      size_t len) {
    int ma = a->messages, mb = b->messages;
    CHECK_OK(ep_send(a, b, kind, data, len));
    pair_settle(p);
    CHECK_EQ(b->messages, mb + 1);
    CHECK_EQ(b->last.len, len);
    CHECK(b->last.len == len && (len == 0 || memcmp(b->last.p, data, len) == 0));
    CHECK_EQ(b->last_text, kind == WSM_TEXT);
    CHECK_OK(ep_send(b, a, kind, b->last.p, b->last.len));
    pair_settle(p);
    CHECK_EQ(a->messages, ma + 1);
    CHECK_EQ(a->last.len, len);
    CHECK(a->last.len == len && (len == 0 || memcmp(a->last.p, data, len) == 0));
    CHECK_EQ(a->last_text, kind == WSM_TEXT);
}

static void test_echo_text_and_binary_up_to_1mib(void) {
    static const size_t sizes[] = {0, 1, 2, 125, 126, 127, 1000, 4095, 4096, 65535, 65536,
                                   65537, 300000, 1u << 20};
    pair p;
    size_t i;
    int dir, kind;
    uint8_t *data = malloc(1u << 20);
    REQUIRE(data != NULL);
    if (!pair_open(&p, NULL, NULL)) {
        free(data);
        pair_free(&p);
        return;
    }
    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        int before = t_current_failures();
        /* Small messages arrive a byte at a time, large ones in 4 KiB reads. */
        size_t chunk = n <= 1000 ? 1 : n < 100000 ? 777 : 0;
        p.client.read_chunk = p.server.read_chunk = chunk;
        for (kind = WSM_TEXT; kind <= WSM_BINARY; kind++) {
            if (kind == WSM_TEXT)
                fill_utf8(data, n);
            else
                fill_binary(data, n, (uint32_t)n);
            for (dir = 0; dir < 2; dir++) {
                if (dir == 0)
                    echo_once(&p, &p.client, &p.server, (uint32_t)kind, data, n);
                else
                    echo_once(&p, &p.server, &p.client, (uint32_t)kind, data, n);
            }
        }
        if (t_current_failures() != before) {
            t_fail(__FILE__, __LINE__, "... with %zu bytes", n);
            break;
        }
    }
    CHECK_EQ(p.client.anomalies + p.server.anomalies, 0);
    CHECK_EQ(p.client.read_errors + p.server.read_errors, 0);
    CHECK_EQ(p.server.messages, 2 * 2 * (int)(sizeof sizes / sizeof sizes[0]));
    CHECK_EQ(wsm_state(p.client.conn), WSM_OPEN);
    CHECK_EQ(wsm_state(p.server.conn), WSM_OPEN);
    free(data);
    pair_free(&p);
}

/* wsm_send_in_place: header into a small buffer, payload sent as it is (server) or masked
 * in place (client), both written by the caller; errors leave the payload untouched. */
static void test_send_in_place(void) {
    static const size_t sizes[] = {0, 5, 125, 126, 65535, 65536, 70000};
    pair p;
    size_t i;
    int dir;
    uint8_t *data = malloc(70000), *copy = malloc(70000);
    REQUIRE(data != NULL && copy != NULL);
    if (!pair_open(&p, NULL, NULL)) {
        free(data);
        free(copy);
        pair_free(&p);
        return;
    }
    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        for (dir = 0; dir < 2; dir++) {
            endpoint *a = dir ? &p.server : &p.client, *b = dir ? &p.client : &p.server;
            size_t n = sizes[i], w = 0;
            uint8_t head[14];
            int before = b->messages;
            fill_utf8(data, n);
            memcpy(copy, data, n);
            /* One byte short of the header: an error, nothing changed. */
            size_t hl = (n < 126 ? 2 : n <= 0xFFFF ? 4 : 10) + (dir ? 0 : 4);
            CHECK_RES(wsm_send_in_place(a->conn, WSM_TEXT, data, n, head, hl - 1, &w),
                      WSM_ERR_BUFFER_TOO_SMALL);
            CHECK_EQ(w, hl);
            CHECK(n == 0 || memcmp(data, copy, n) == 0);
            CHECK_OK(wsm_send_in_place(a->conn, WSM_TEXT, data, n, head, sizeof head, &w));
            CHECK_EQ(w, hl);
            /* A server sends the payload as it is; a client's is masked in place. */
            if (dir)
                CHECK(n == 0 || memcmp(data, copy, n) == 0);
            else
                CHECK(n < 8 || memcmp(data, copy, n) != 0);
            bq_append(&b->wire, head, w);
            bq_append(&b->wire, data, n);
            pair_settle(&p);
            CHECK_EQ(b->messages, before + 1);
            CHECK_EQ(b->last.len, n);
            CHECK(b->last.len == n && (n == 0 || memcmp(b->last.p, copy, n) == 0));
            CHECK(b->last_text);
        }
    }
    /* Invalid text is refused and left as it was. */
    {
        uint8_t bad[3] = {'o', 'k', 0xFF}, head[14];
        size_t w = 0;
        CHECK_RES(wsm_send_in_place(p.client.conn, WSM_TEXT, bad, 3, head, sizeof head, &w),
                  WSM_ERR_INVALID_UTF8);
        CHECK(bad[0] == 'o' && bad[1] == 'k' && bad[2] == 0xFF);
    }
    free(data);
    free(copy);
    pair_free(&p);
}

static void test_send_fragment(void) {
    pair p;
    uint8_t out[256];
    size_t n = 0;
    if (!pair_open(&p, NULL, NULL)) goto done;
    /* "Hello, wörld": the ö (C3 B6) is split between two fragments. */
    CHECK_OK(wsm_send_fragment(p.client.conn, WSM_TEXT, u8("Hello, w\xC3"), 9, false, out,
                               sizeof out, &n));
    CHECK_EQ(out[0], 0x01); /* text, no FIN */
    bq_append(&p.server.wire, out, n);
    /* Another message cannot start, nor can the kind change. */
    CHECK_RES(wsm_send(p.client.conn, WSM_BINARY, u8("x"), 1, out, sizeof out, &n),
              WSM_ERR_MESSAGE_STATE);
    CHECK_RES(wsm_send_fragment(p.client.conn, WSM_BINARY, u8("x"), 1, true, out, sizeof out, &n),
              WSM_ERR_MESSAGE_STATE);
    /* A ping may go between fragments. */
    CHECK_OK(wsm_send_ping(p.client.conn, u8("mid"), 3, out, sizeof out, &n));
    bq_append(&p.server.wire, out, n);
    /* An invalid sequence, or ending the message inside a sequence, is refused. */
    CHECK_RES(wsm_send_fragment(p.client.conn, WSM_TEXT, u8("\xFF"), 1, false, out, sizeof out,
                                &n),
              WSM_ERR_INVALID_UTF8);
    CHECK_RES(wsm_send_fragment(p.client.conn, WSM_TEXT, u8("\xB6\xE2\x82"), 3, true, out,
                                sizeof out, &n),
              WSM_ERR_INVALID_UTF8);
    CHECK_OK(wsm_send_fragment(p.client.conn, WSM_TEXT, u8("\xB6rld"), 4, false, out, sizeof out,
                               &n));
    CHECK_EQ(out[0], 0x00); /* continuation, no FIN */
    bq_append(&p.server.wire, out, n);
    CHECK_OK(wsm_send_fragment(p.client.conn, WSM_TEXT, NULL, 0, true, out, sizeof out, &n));
    CHECK_EQ(out[0], 0x80); /* continuation, FIN */
    bq_append(&p.server.wire, out, n);
    p.server.read_chunk = 3;
    pair_settle(&p);
    CHECK_EQ(p.server.messages, 1);
    CHECK(p.server.last_text);
    CHECK_BYTES_STR(p.server.last.p, p.server.last.len, "Hello, w\xC3\xB6rld");
    CHECK_EQ(p.server.frames, 3);
    CHECK_EQ(p.server.pings, 1);
    CHECK_BYTES_STR(p.server.ping_data, p.server.ping_len, "mid");
    CHECK_EQ(p.client.pongs, 1); /* the automatic pong */
    CHECK_BYTES_STR(p.client.pong_data, p.client.pong_len, "mid");
    CHECK_EQ(p.server.anomalies, 0);
    /* A new message may start now. */
    CHECK_OK(ep_send(&p.client, &p.server, WSM_BINARY, "\x00\x01", 2));
    pair_settle(&p);
    CHECK_EQ(p.server.messages, 2);
    CHECK(!p.server.last_text);
    CHECK_EQ(p.server.last.len, 2);
done:
    pair_free(&p);
}

/* Streams `total` bytes as frames of `frame` bytes, each in wsm_send_payload pieces of
 * `piece` bytes, from `a` to `b`. */
static void stream(endpoint *a, endpoint *b, uint32_t kind, const uint8_t *data, size_t total,
                   size_t frame, size_t piece) {
    uint8_t hdr[64];
    uint8_t *buf = malloc(piece);
    size_t off = 0, n = 0;
    if (!buf) exit(2);
    while (off < total || total == 0) {
        size_t fl = total - off < frame ? total - off : frame, k = 0;
        bool fin = off + fl == total;
        CHECK_OK(wsm_begin_frame(a->conn, kind, fin, fl, hdr, sizeof hdr, &n));
        bq_append(&b->wire, hdr, n);
        while (k < fl) {
            size_t m = fl - k < piece ? fl - k : piece;
            CHECK_OK(wsm_send_payload(a->conn, data + off + k, m, buf, piece, &n));
            CHECK_EQ(n, m);
            bq_append(&b->wire, buf, n);
            k += m;
        }
        off += fl;
        if (fin) break;
    }
    free(buf);
}

static void test_streamed_frames(void) {
    pair p;
    size_t total = 100050, n = 0;
    uint8_t *data = malloc(total);
    uint8_t out[256];
    REQUIRE(data != NULL);
    if (!pair_open(&p, NULL, NULL)) goto done;
    /* Server to client: binary, frames of 100000 and 50 bytes, in 333-byte pieces. */
    fill_binary(data, total, 7);
    stream(&p.server, &p.client, WSM_BINARY, data, total, 100000, 333);
    pair_settle(&p);
    CHECK_EQ(p.client.messages, 1);
    CHECK_EQ(p.client.frames, 2);
    CHECK(p.client.last.len == total && memcmp(p.client.last.p, data, total) == 0);
    /* Client to server (masked): text, frames of 1000 bytes, in 7-byte pieces (splitting
     * multi-byte characters). */
    fill_utf8(data, 5000);
    stream(&p.client, &p.server, WSM_TEXT, data, 5000, 1000, 7);
    CHECK(p.server.wire.len > 2 && (p.server.wire.p[1] & 0x80)); /* masked */
    pair_settle(&p);
    CHECK_EQ(p.server.messages, 1);
    CHECK_EQ(p.server.frames, 5);
    CHECK(p.server.last_text);
    CHECK(p.server.last.len == 5000 && memcmp(p.server.last.p, data, 5000) == 0);
    /* An empty streamed message. */
    stream(&p.server, &p.client, WSM_TEXT, data, 0, 10, 10);
    pair_settle(&p);
    CHECK_EQ(p.client.messages, 2);
    CHECK_EQ(p.client.last.len, 0);
    CHECK(p.client.last_text);
    /* Misuse of streaming. */
    CHECK_RES(wsm_send_payload(p.server.conn, data, 1, out, sizeof out, &n),
              WSM_ERR_NO_FRAME_IN_PROGRESS);
    CHECK_OK(wsm_begin_frame(p.server.conn, WSM_BINARY, true, 10, out, sizeof out, &n));
    CHECK_EQ(n, 2);
    CHECK_EQ(out[0], 0x82);
    CHECK_EQ(out[1], 10);
    CHECK_RES(wsm_send(p.server.conn, WSM_BINARY, data, 1, out, sizeof out, &n),
              WSM_ERR_FRAME_IN_PROGRESS);
    CHECK_RES(wsm_begin_frame(p.server.conn, WSM_BINARY, true, 1, out, sizeof out, &n),
              WSM_ERR_FRAME_IN_PROGRESS);
    CHECK_RES(wsm_send_ping(p.server.conn, NULL, 0, out, sizeof out, &n),
              WSM_ERR_FRAME_IN_PROGRESS);
    CHECK_RES(wsm_close(p.server.conn, 0, 1000, NULL, 0, out, sizeof out, &n),
              WSM_ERR_FRAME_IN_PROGRESS);
    CHECK_RES(wsm_send_payload(p.server.conn, data, 11, out, sizeof out, &n),
              WSM_ERR_PAYLOAD_OVERRUN);
    n = 0;
    CHECK_RES(wsm_send_payload(p.server.conn, data, 6, out, 5, &n), WSM_ERR_BUFFER_TOO_SMALL);
    CHECK_EQ(n, 6);
    CHECK_OK(wsm_send_payload(p.server.conn, data, 6, out, 6, &n));
    CHECK_EQ(n, 6);
    CHECK_OK(wsm_send_payload(p.server.conn, data + 6, 4, out, 4, &n));
    CHECK_EQ(n, 4);
    CHECK_RES(wsm_send_payload(p.server.conn, data, 1, out, sizeof out, &n),
              WSM_ERR_NO_FRAME_IN_PROGRESS);
    CHECK_OK(wsm_send(p.server.conn, WSM_BINARY, data, 1, out, sizeof out, &n));
    /* Streamed text is validated. */
    CHECK_OK(wsm_begin_frame(p.server.conn, WSM_TEXT, true, 2, out, sizeof out, &n));
    CHECK_RES(wsm_send_payload(p.server.conn, u8("\xFF\xFF"), 2, out, sizeof out, &n),
              WSM_ERR_INVALID_UTF8);
    pair_free(&p);
    /* An empty final frame cannot end a text message inside a character. */
    if (!pair_open(&p, NULL, NULL)) goto done;
    CHECK_OK(wsm_send_fragment(p.client.conn, WSM_TEXT, u8("\xE2\x82"), 2, false, out,
                               sizeof out, &n));
    CHECK_RES(wsm_begin_frame(p.client.conn, WSM_TEXT, true, 0, out, sizeof out, &n),
              WSM_ERR_INVALID_UTF8);
    CHECK_OK(wsm_begin_frame(p.client.conn, WSM_TEXT, false, 0, out, sizeof out, &n));
    CHECK_OK(wsm_send_fragment(p.client.conn, WSM_TEXT, u8("\xAC"), 1, true, out, sizeof out,
                               &n));
    CHECK_EQ(p.client.anomalies + p.server.anomalies, 0);
done:
    free(data);
    pair_free(&p);
}

/* A failure while our streamed frame is half sent: no close frame can follow (it would land
 * inside the frame's payload), so the connection just ends. */
static void test_failure_during_streamed_frame(void) {
    pair p;
    uint8_t out[64], bad[16];
    size_t n = 0, consumed = 0, bl;
    wsm_event ev;
    if (!pair_open(&p, NULL, NULL)) goto done;
    CHECK_OK(wsm_begin_frame(p.server.conn, WSM_BINARY, true, 10, out, sizeof out, &n));
    CHECK_OK(wsm_send_payload(p.server.conn, u8("abcd"), 4, out, sizeof out, &n));
    bl = make_frame(bad, 0x82, NULL, "x", 1); /* unmasked: a protocol error */
    CHECK_OK(wsm_read(p.server.conn, 0, bad, bl, &consumed, &ev));
    CHECK_EQ(ev.kind, WSM_EVENT_FAILED);
    CHECK_EQ(ev.close_code, 1002);
    memset(out, '#', sizeof out);
    CHECK_OK(wsm_poll_transmit(p.server.conn, out, sizeof out, &n));
    CHECK_EQ(n, 0);
    CHECK_EQ(out[0], '#');
    CHECK(wsm_should_close_transport(p.server.conn));
    CHECK_EQ(wsm_state(p.server.conn), WSM_CLOSED);
done:
    pair_free(&p);
}

static void test_ping_pong(void) {
    pair p;
    wsm_config cfg;
    uint8_t out[256], big[126];
    size_t n = 0;
    wsm_config_default(&cfg);
    cfg.auto_pong = 0;
    if (!pair_open(&p, &cfg, NULL)) goto done;
    /* Client pings, the server answers by itself. */
    CHECK_OK(wsm_send_ping(p.client.conn, u8("abc"), 3, out, sizeof out, &n));
    CHECK_EQ(n, 2 + 4 + 3);
    CHECK_EQ(out[0], 0x89);
    bq_append(&p.server.wire, out, n);
    ep_pump(&p.server, &p.client);
    CHECK_EQ(p.server.pings, 1);
    CHECK_BYTES_STR(p.server.ping_data, p.server.ping_len, "abc");
    CHECK_EQ(p.client.wire.len, 5);
    CHECK(p.client.wire.len == 5 && memcmp(p.client.wire.p, "\x8A\x03" "abc", 5) == 0);
    ep_pump(&p.client, &p.server);
    CHECK_EQ(p.client.pongs, 1);
    CHECK_BYTES_STR(p.client.pong_data, p.client.pong_len, "abc");
    /* The client has auto_pong off: the server's ping is reported, not answered. */
    CHECK_OK(wsm_send_ping(p.server.conn, u8("xyz"), 3, out, sizeof out, &n));
    bq_append(&p.client.wire, out, n);
    ep_pump(&p.client, &p.server);
    CHECK_EQ(p.client.pings, 1);
    CHECK_EQ(p.server.wire.len, 0);
    /* ... but the application may answer. */
    CHECK_OK(wsm_send_pong(p.client.conn, p.client.ping_data, p.client.ping_len, out, sizeof out,
                           &n));
    bq_append(&p.server.wire, out, n);
    ep_pump(&p.server, &p.client);
    CHECK_EQ(p.server.pongs, 1);
    CHECK_BYTES_STR(p.server.pong_data, p.server.pong_len, "xyz");
    /* A queued pong goes out ahead of the next data frame. */
    CHECK_OK(wsm_send_ping(p.client.conn, u8("q"), 1, out, sizeof out, &n));
    {
        size_t consumed = 0;
        wsm_event ev;
        CHECK_OK(wsm_read(p.server.conn, 0, out, n, &consumed, &ev));
        CHECK_EQ(ev.kind, WSM_EVENT_PING);
        CHECK_EQ(consumed, n);
    }
    CHECK_RES(wsm_send(p.server.conn, WSM_TEXT, u8("data"), 4, out, 8, &n),
              WSM_ERR_BUFFER_TOO_SMALL);
    CHECK_EQ(n, 3 + 6);
    CHECK_OK(wsm_send(p.server.conn, WSM_TEXT, u8("data"), 4, out, 9, &n));
    CHECK_EQ(n, 9);
    CHECK_MEM(out, "\x8A\x01q\x81\x04" "data", 9);
    /* Control payloads are limited to 125 bytes. */
    memset(big, 'p', sizeof big);
    CHECK_RES(wsm_send_ping(p.client.conn, big, 126, out, sizeof out, &n),
              WSM_ERR_CONTROL_TOO_LONG);
    CHECK_RES(wsm_send_pong(p.client.conn, big, 126, out, sizeof out, &n),
              WSM_ERR_CONTROL_TOO_LONG);
    CHECK_OK(wsm_send_ping(p.client.conn, big, 125, out, sizeof out, &n));
    CHECK_EQ(n, 2 + 4 + 125);
done:
    pair_free(&p);
}

static void test_close_initiated_by_client(void) {
    pair p;
    uint8_t out[256];
    size_t n = 0;
    if (!pair_open(&p, NULL, NULL)) goto done;
    CHECK_OK(ep_close(&p.client, &p.server, 1000, "bye"));
    CHECK_EQ(wsm_state(p.client.conn), WSM_CLOSING);
    CHECK_EQ(wsm_close_status(p.client.conn), 1000);
    CHECK(!wsm_should_close_transport(p.client.conn));
    CHECK_RES(wsm_send(p.client.conn, WSM_TEXT, u8("late"), 4, out, sizeof out, &n),
              WSM_ERR_INVALID_STATE);
    CHECK_RES(ep_close(&p.client, &p.server, 1000, "again"), WSM_ERR_INVALID_STATE);
    /* The server receives the close and answers it (wsm_poll_transmit). */
    ep_pump(&p.server, NULL);
    CHECK(p.server.got_close);
    CHECK_EQ(p.server.close_code, 1000);
    CHECK_BYTES_STR(p.server.close_reason, p.server.close_reason_len, "bye");
    CHECK_EQ(wsm_close_status(p.server.conn), 1000);
    CHECK_EQ(wsm_state(p.server.conn), WSM_CLOSED);
    CHECK(wsm_should_close_transport(p.server.conn));
    /* ep_pump sent the reply to nobody; take it again from a fresh exchange instead. */
    pair_free(&p);
    if (!pair_open(&p, NULL, NULL)) goto done;
    CHECK_OK(ep_close(&p.client, &p.server, 4000, "app: done"));
    {
        size_t consumed = 0;
        wsm_event ev;
        REQUIRE_OK(wsm_read(p.server.conn, 0, p.server.wire.p, p.server.wire.len, &consumed, &ev));
        CHECK_EQ(ev.kind, WSM_EVENT_CLOSE);
        CHECK_EQ(ev.close_code, 4000);
        CHECK_BYTES_STR(ev.data, ev.len, "app: done");
        bq_clear(&p.server.wire);
        CHECK_EQ(wsm_state(p.server.conn), WSM_CLOSING);
        CHECK(!wsm_should_close_transport(p.server.conn));
        CHECK_RES(wsm_send(p.server.conn, WSM_TEXT, u8("x"), 1, out, sizeof out, &n),
                  WSM_ERR_INVALID_STATE);
        /* The reply echoes the code. */
        CHECK_RES(wsm_poll_transmit(p.server.conn, out, 3, &n), WSM_ERR_BUFFER_TOO_SMALL);
        CHECK_EQ(n, 4);
        REQUIRE_OK(wsm_poll_transmit(p.server.conn, out, 4, &n));
        CHECK_EQ(n, 4);
        CHECK_MEM(out, "\x88\x02\x0F\xA0", 4);
        CHECK_EQ(wsm_state(p.server.conn), WSM_CLOSED);
        CHECK(wsm_should_close_transport(p.server.conn));
        CHECK_EQ(wsm_close_status(p.server.conn), 4000);
        CHECK_OK(wsm_poll_transmit(p.server.conn, out, sizeof out, &n));
        CHECK_EQ(n, 0);
        bq_append(&p.client.wire, "\x88\x02\x0F\xA0", 4);
    }
    ep_pump(&p.client, &p.server);
    CHECK(p.client.got_close);
    CHECK_EQ(p.client.close_code, 4000);
    CHECK_EQ(p.client.close_reason_len, 0);
    CHECK_EQ(wsm_state(p.client.conn), WSM_CLOSED);
    /* RFC 6455: the server closes TCP first; the client waits for that. */
    CHECK(!wsm_should_close_transport(p.client.conn));
    CHECK_OK(wsm_handle_eof(p.client.conn));
    CHECK(wsm_should_close_transport(p.client.conn));
    CHECK_EQ(wsm_close_status(p.client.conn), 4000);
    {
        wsm_failure_info fi;
        CHECK_OK(wsm_failure(p.client.conn, &fi));
        CHECK_EQ(fi.kind, WSM_FAILURE_NONE);
        CHECK_EQ(fi.close_status, 4000);
    }
    CHECK_EQ(p.server.wire.len, 0);
done:
    pair_free(&p);
}

static void test_close_initiated_by_server(void) {
    pair p;
    uint8_t out[256];
    size_t n = 0;
    if (!pair_open(&p, NULL, NULL)) goto done;
    CHECK_OK(ep_close(&p.server, &p.client, 1001, "going away"));
    CHECK_EQ(wsm_state(p.server.conn), WSM_CLOSING);
    CHECK(!wsm_should_close_transport(p.server.conn));
    /* The client gets it and (on its own) echoes it. */
    ep_pump(&p.client, &p.server);
    CHECK(p.client.got_close);
    CHECK_EQ(p.client.close_code, 1001);
    CHECK_BYTES_STR(p.client.close_reason, p.client.close_reason_len, "going away");
    CHECK_EQ(wsm_state(p.client.conn), WSM_CLOSED);
    CHECK(!wsm_should_close_transport(p.client.conn));
    CHECK_EQ(wsm_close_status(p.client.conn), 1001);
    {
        uint16_t code = 0;
        size_t rl = 99;
        CHECK(parse_close_frame(p.server.wire.p, p.server.wire.len, &code, NULL, &rl));
        CHECK_EQ(code, 1001);
        CHECK_EQ(rl, 0);
        CHECK(p.server.wire.len > 1 && (p.server.wire.p[1] & 0x80)); /* masked */
    }
    ep_pump(&p.server, &p.client);
    CHECK(p.server.got_close);
    CHECK_EQ(p.server.close_code, 1001);
    CHECK_EQ(wsm_state(p.server.conn), WSM_CLOSED);
    CHECK(wsm_should_close_transport(p.server.conn));
    CHECK_EQ(wsm_close_status(p.server.conn), 1001);
    CHECK(wsm_should_reconnect(wsm_close_status(p.client.conn)));
    /* The server closes TCP. */
    CHECK_OK(wsm_handle_eof(p.client.conn));
    CHECK(wsm_should_close_transport(p.client.conn));
    CHECK_EQ(wsm_close_status(p.client.conn), 1001);
    CHECK_RES(wsm_close(p.client.conn, 0, 1000, NULL, 0, out, sizeof out, &n),
              WSM_ERR_INVALID_STATE);
    pair_free(&p);

    /* The application may answer the close itself, with its own code. */
    if (!pair_open(&p, NULL, NULL)) goto done;
    CHECK_OK(ep_close(&p.server, &p.client, 3001, ""));
    {
        size_t consumed = 0;
        wsm_event ev;
        REQUIRE_OK(wsm_read(p.client.conn, 0, p.client.wire.p, p.client.wire.len, &consumed, &ev));
        CHECK_EQ(ev.kind, WSM_EVENT_CLOSE);
        CHECK_EQ(ev.close_code, 3001);
        CHECK_EQ(ev.len, 0);
        bq_clear(&p.client.wire);
    }
    CHECK_EQ(wsm_state(p.client.conn), WSM_CLOSING);
    CHECK_OK(ep_close(&p.client, &p.server, 1000, "ok"));
    CHECK_EQ(wsm_state(p.client.conn), WSM_CLOSED);
    CHECK_OK(wsm_poll_transmit(p.client.conn, out, sizeof out, &n));
    CHECK_EQ(n, 0); /* the automatic reply was replaced */
    ep_pump(&p.server, NULL);
    CHECK_EQ(p.server.close_code, 1000);
    CHECK_BYTES_STR(p.server.close_reason, p.server.close_reason_len, "ok");
    CHECK(wsm_should_close_transport(p.server.conn));
done:
    pair_free(&p);
}

static void test_close_without_status(void) {
    pair p;
    uint8_t f[16];
    size_t n;
    if (!pair_open(&p, NULL, NULL)) goto done;
    n = make_frame(f, 0x88, MASK, NULL, 0);
    bq_append(&p.server.wire, f, n);
    ep_pump(&p.server, &p.client);
    CHECK(p.server.got_close);
    CHECK_EQ(p.server.close_code, 1005);
    CHECK_EQ(wsm_close_status(p.server.conn), 1005);
    /* The reply has no code either. */
    CHECK_EQ(p.client.wire.len, 2);
    CHECK(p.client.wire.len == 2 && memcmp(p.client.wire.p, "\x88\x00", 2) == 0);
    CHECK(wsm_should_close_transport(p.server.conn));
    CHECK(!wsm_should_reconnect(1005));
done:
    pair_free(&p);
}

/* The first bad-input case in detail: an unmasked frame to a server. */
static void test_unmasked_frame_fails_with_1002(void) {
    pair p;
    uint8_t in[16], out[256];
    size_t consumed = 0, n = 0, needed = 0;
    wsm_event ev;
    wsm_failure_info fi;
    uint16_t code = 0;
    char reason[124];
    size_t rl = 0;
    if (!pair_open(&p, NULL, NULL)) goto done;
    memcpy(in, "\x81\x05hello\x81\x05world", 14);
    REQUIRE_OK(wsm_read(p.server.conn, 0, in, 14, &consumed, &ev));
    CHECK_EQ(ev.kind, WSM_EVENT_FAILED);
    CHECK_EQ(ev.close_code, 1002);
    CHECK_EQ(ev.error, WSM_PE_UNMASKED_FRAME);
    CHECK_EQ(consumed, 14);
    CHECK_EQ(wsm_state(p.server.conn), WSM_CLOSING);
    CHECK(!wsm_should_close_transport(p.server.conn));
    CHECK_EQ(wsm_close_status(p.server.conn), 1002);
    /* Input after a failure is ignored. */
    CHECK_OK(wsm_read(p.server.conn, 0, in, 14, &consumed, &ev));
    CHECK_EQ(ev.kind, WSM_EVENT_NONE);
    CHECK_EQ(consumed, 14);
    CHECK_RES(wsm_send(p.server.conn, WSM_TEXT, u8("x"), 1, out, sizeof out, &n),
              WSM_ERR_INVALID_STATE);
    memset(out, 0xEE, sizeof out);
    CHECK_RES(wsm_poll_transmit(p.server.conn, out, 3, &needed), WSM_ERR_BUFFER_TOO_SMALL);
    CHECK(needed > 4);
    CHECK_EQ(out[0], 0xEE); /* nothing written */
    REQUIRE_OK(wsm_poll_transmit(p.server.conn, out, needed, &n));
    CHECK_EQ(n, needed);
    REQUIRE(parse_close_frame(out, n, &code, reason, &rl));
    CHECK_EQ(code, 1002);
    CHECK(rl > 0); /* a reason is given */
    CHECK_EQ(wsm_state(p.server.conn), WSM_CLOSED);
    CHECK(wsm_should_close_transport(p.server.conn));
    CHECK_OK(wsm_failure(p.server.conn, &fi));
    CHECK_EQ(fi.kind, WSM_FAILURE_PROTOCOL);
    CHECK_EQ(fi.protocol_error, WSM_PE_UNMASKED_FRAME);
    CHECK_EQ(fi.close_status, 1002);
    CHECK_OK(wsm_poll_transmit(p.server.conn, out, sizeof out, &n));
    CHECK_EQ(n, 0);
    /* The client sees the close with that code. */
    bq_append(&p.client.wire, out, needed);
    ep_pump(&p.client, NULL);
    CHECK(p.client.got_close);
    CHECK_EQ(p.client.close_code, 1002);
    CHECK(!wsm_should_reconnect(1002));
done:
    pair_free(&p);
}

struct bad_input {
    const char *name;
    bool to_client;            /* frames go to the client (unmasked) instead of the server */
    uint64_t max_frame, max_message;
    uint32_t max_fragments;
    int nframes;
    struct {
        uint8_t b0;
        bool wrong_mask;       /* masked to a client, unmasked to a server */
        const char *payload;
        size_t len;
    } frames[5];
    uint16_t code;
    wsm_protocol_error error;
};

static const char LONG200[] =
    "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890"
    "1234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901"
    "234567890123456789";

static const struct bad_input BAD_INPUT[] = {
    {"unmasked", false, 0, 0, 0, 1, {{0x81, true, "hello", 5}}, 1002, WSM_PE_UNMASKED_FRAME},
    {"masked to client", true, 0, 0, 0, 1, {{0x82, true, "hey", 3}}, 1002, WSM_PE_MASKED_FRAME},
    {"invalid UTF-8", false, 0, 0, 0, 1, {{0x81, false, "ok\xC0\xAF", 4}}, 1007,
     WSM_PE_INVALID_UTF8},
    {"truncated UTF-8 at the end", false, 0, 0, 0, 1, {{0x81, false, "\xE2\x82", 2}}, 1007,
     WSM_PE_INVALID_UTF8},
    {"invalid UTF-8 to client", true, 0, 0, 0, 2, {{0x01, false, "a", 1}, {0x80, false, "\xFF", 1}},
     1007, WSM_PE_INVALID_UTF8},
    {"RSV1", false, 0, 0, 0, 1, {{0xC1, false, "x", 1}}, 1002, WSM_PE_RESERVED_BITS},
    {"reserved opcode", false, 0, 0, 0, 1, {{0x83, false, "x", 1}}, 1002, WSM_PE_RESERVED_OPCODE},
    {"fragmented ping", false, 0, 0, 0, 1, {{0x09, false, "x", 1}}, 1002,
     WSM_PE_FRAGMENTED_CONTROL},
    {"long ping", false, 0, 0, 0, 1, {{0x89, false, LONG200, 126}}, 1002, WSM_PE_CONTROL_TOO_LONG},
    {"continuation first", false, 0, 0, 0, 1, {{0x80, false, "x", 1}}, 1002,
     WSM_PE_UNEXPECTED_CONTINUATION},
    {"new message inside a message", false, 0, 0, 0, 2, {{0x01, false, "a", 1}, {0x81, false, "b", 1}},
     1002, WSM_PE_EXPECTED_CONTINUATION},
    {"1-byte close", false, 0, 0, 0, 1, {{0x88, false, "\x03", 1}}, 1002,
     WSM_PE_INVALID_CLOSE_PAYLOAD},
    {"close code 1005", false, 0, 0, 0, 1, {{0x88, false, "\x03\xED", 2}}, 1002,
     WSM_PE_INVALID_CLOSE_CODE},
    {"close code 999", false, 0, 0, 0, 1, {{0x88, false, "\x03\xE7", 2}}, 1002,
     WSM_PE_INVALID_CLOSE_CODE},
    {"close reason not UTF-8", false, 0, 0, 0, 1, {{0x88, false, "\x03\xE8\xFF", 3}}, 1007,
     WSM_PE_INVALID_UTF8},
    {"frame too large", false, 100, 0, 0, 1, {{0x82, false, LONG200, 101}}, 1009,
     WSM_PE_FRAME_TOO_LARGE},
    {"message too large", false, 0, 150, 0, 2, {{0x02, false, LONG200, 100}, {0x80, false, LONG200, 51}},
     1009, WSM_PE_MESSAGE_TOO_LARGE},
    {"too many fragments", false, 0, 0, 3, 4,
     {{0x01, false, "a", 1}, {0x00, false, "b", 1}, {0x00, false, "c", 1}, {0x80, false, "d", 1}},
     1009, WSM_PE_TOO_MANY_FRAGMENTS},
};

static void test_bad_input_close_codes(void) {
    size_t i;
    for (i = 0; i < sizeof BAD_INPUT / sizeof BAD_INPUT[0]; i++) {
        const struct bad_input *b = &BAD_INPUT[i];
        pair p;
        wsm_config cfg;
        endpoint *rx, *tx;
        int k, before = t_current_failures();
        uint16_t code = 0;
        size_t rl = 0;
        wsm_failure_info fi;
        wsm_config_default(&cfg);
        if (b->max_frame) cfg.max_frame_payload = b->max_frame;
        if (b->max_message) cfg.max_message_size = b->max_message;
        if (b->max_fragments) cfg.max_fragments = b->max_fragments;
        if (!pair_open(&p, b->to_client ? &cfg : NULL, b->to_client ? NULL : &cfg)) {
            pair_free(&p);
            continue;
        }
        rx = b->to_client ? &p.client : &p.server;
        tx = b->to_client ? &p.server : &p.client;
        for (k = 0; k < b->nframes; k++) {
            uint8_t f[300];
            const uint8_t *m = (b->to_client != b->frames[k].wrong_mask) ? NULL : MASK;
            size_t n = make_frame(f, b->frames[k].b0, m, b->frames[k].payload, b->frames[k].len);
            bq_append(&rx->wire, f, n);
        }
        ep_pump(rx, tx);
        CHECK(rx->got_failed);
        CHECK_EQ(rx->failed_code, b->code);
        CHECK_EQ(rx->failed_error, b->error);
        CHECK_EQ(rx->read_errors, 0);
        /* Its close frame carries the code; a client's is masked. */
        CHECK(parse_close_frame(tx->wire.p, tx->wire.len, &code, NULL, &rl));
        CHECK_EQ(code, b->code);
        CHECK(tx->wire.len > 1 && (tx->wire.p[1] & 0x80) == (b->to_client ? 0x80 : 0));
        CHECK_EQ(wsm_close_status(rx->conn), b->code);
        CHECK_EQ(wsm_state(rx->conn), WSM_CLOSED);
        CHECK(wsm_should_close_transport(rx->conn));
        CHECK_OK(wsm_failure(rx->conn, &fi));
        CHECK_EQ(fi.kind, WSM_FAILURE_PROTOCOL);
        CHECK_EQ(fi.protocol_error, b->error);
        /* The other side reports the code as the peer's close. */
        ep_pump(tx, NULL);
        CHECK(tx->got_close);
        CHECK_EQ(tx->close_code, b->code);
        if (t_current_failures() != before)
            t_fail(__FILE__, __LINE__, "... in the case \"%s\"", b->name);
        pair_free(&p);
    }
}

static void test_undersized_buffers(void) {
    pair p;
    uint8_t out[256];
    size_t n = 0, needed = 0;
    if (!pair_open(&p, NULL, NULL)) goto done;
    /* Server frames: 2-byte header; client frames: 6 (masked). */
    memset(out, 0xEE, sizeof out);
    CHECK_RES(wsm_send(p.server.conn, WSM_TEXT, u8("hello"), 5, out, 6, &needed),
              WSM_ERR_BUFFER_TOO_SMALL);
    CHECK_EQ(needed, 7);
    CHECK_EQ(out[0], 0xEE);
    CHECK_OK(wsm_send(p.server.conn, WSM_TEXT, u8("hello"), 5, out, needed, &n));
    CHECK_EQ(n, 7);
    CHECK_MEM(out, "\x81\x05hello", 7);
    CHECK_RES(wsm_send(p.client.conn, WSM_BINARY, u8("hello"), 5, NULL, 0, &needed),
              WSM_ERR_BUFFER_TOO_SMALL);
    CHECK_EQ(needed, 11);
    CHECK_OK(wsm_send(p.client.conn, WSM_BINARY, u8("hello"), 5, out, needed, &n));
    CHECK_EQ(n, 11);
    CHECK_EQ(out[0], 0x82);
    CHECK_EQ(out[1], 0x85);
    /* 126..65535 bytes take a 4-byte header, more take 10. */
    {
        static uint8_t big[70000], frame[70100];
        CHECK_RES(wsm_send(p.server.conn, WSM_BINARY, big, 200, frame, 10, &needed),
                  WSM_ERR_BUFFER_TOO_SMALL);
        CHECK_EQ(needed, 204);
        CHECK_RES(wsm_send(p.server.conn, WSM_BINARY, big, 70000, frame, 10, &needed),
                  WSM_ERR_BUFFER_TOO_SMALL);
        CHECK_EQ(needed, 70010);
        CHECK_RES(wsm_send(p.client.conn, WSM_BINARY, big, 70000, frame, 70013, &needed),
                  WSM_ERR_BUFFER_TOO_SMALL);
        CHECK_EQ(needed, 70014);
        CHECK_OK(wsm_send(p.client.conn, WSM_BINARY, big, 70000, frame, 70014, &n));
        CHECK_EQ(n, 70014);
        CHECK_OK(wsm_send_fragment(p.server.conn, WSM_BINARY, big, 126, true, frame, 130, &n));
        CHECK_EQ(n, 130);
    }
    CHECK_RES(wsm_send_ping(p.client.conn, u8("p"), 1, out, 6, &needed),
              WSM_ERR_BUFFER_TOO_SMALL);
    CHECK_EQ(needed, 7);
    CHECK_OK(wsm_send_ping(p.client.conn, u8("p"), 1, out, 7, &n));
    CHECK_EQ(n, 7);
    CHECK_RES(wsm_begin_frame(p.server.conn, WSM_BINARY, true, 1000, out, 3, &needed),
              WSM_ERR_BUFFER_TOO_SMALL);
    CHECK_EQ(needed, 4);
    CHECK_RES(wsm_close(p.server.conn, 0, 1000, u8("done"), 4, out, 7, &needed),
              WSM_ERR_BUFFER_TOO_SMALL);
    CHECK_EQ(needed, 8);
    CHECK_EQ(wsm_state(p.server.conn), WSM_OPEN); /* nothing changed */
    CHECK_OK(wsm_close(p.server.conn, 0, 1000, u8("done"), 4, out, 8, &n));
    CHECK_EQ(n, 8);
    CHECK_MEM(out, "\x88\x06\x03\xE8" "done", 8);
    CHECK_EQ(wsm_state(p.server.conn), WSM_CLOSING);
done:
    pair_free(&p);
}

static void test_close_argument_checks(void) {
    pair p;
    uint8_t out[256], reason[124];
    size_t n = 0;
    static const uint16_t bad_codes[] = {0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000};
    size_t i;
    if (!pair_open(&p, NULL, NULL)) goto done;
    for (i = 0; i < sizeof bad_codes / sizeof bad_codes[0]; i++) {
        CHECK_RES(wsm_close(p.client.conn, 0, bad_codes[i], NULL, 0, out, sizeof out, &n),
                  WSM_ERR_INVALID_CLOSE_CODE);
    }
    memset(reason, 'r', sizeof reason);
    CHECK_RES(wsm_close(p.client.conn, 0, 1000, reason, 124, out, sizeof out, &n),
              WSM_ERR_REASON_TOO_LONG);
    CHECK_RES(wsm_close(p.client.conn, 0, 1000, u8("\xFF"), 1, out, sizeof out, &n),
              WSM_ERR_INVALID_UTF8);
    CHECK_EQ(wsm_state(p.client.conn), WSM_OPEN);
    CHECK_OK(wsm_close(p.client.conn, 0, 4999, reason, 123, out, sizeof out, &n));
    CHECK_EQ(n, 2 + 4 + 125);
    CHECK_RES(wsm_send(p.server.conn, WSM_TEXT, u8("\xC3\x28"), 2, out, sizeof out, &n),
              WSM_ERR_INVALID_UTF8);
done:
    pair_free(&p);
}

/* The handle holds no pointers: it may be moved with memcpy between calls. */
static void test_handle_moves_with_memcpy(void) {
    pair p;
    static _Alignas(16) unsigned char elsewhere[EP_MEM];
    wsm_conn *moved;
    if (!pair_open(&p, NULL, NULL)) goto done;
    CHECK_OK(ep_send(&p.client, &p.server, WSM_TEXT, "before", 6));
    pair_settle(&p);
    memcpy(elsewhere, p.client.mem, wsm_conn_size());
    memset(p.client.mem, 0, sizeof p.client.mem);
    CHECK_EQ(wsm_state(p.client.conn), WSM_CLOSED); /* the old place is no handle now */
    moved = (wsm_conn *)(void *)elsewhere;
    p.client.conn = moved;
    CHECK_EQ(wsm_state(moved), WSM_OPEN);
    CHECK_OK(ep_send(&p.client, &p.server, WSM_TEXT, "after", 5));
    CHECK_OK(ep_send(&p.server, &p.client, WSM_TEXT, "reply", 5));
    pair_settle(&p);
    CHECK_BYTES_STR(p.server.last.p, p.server.last.len, "after");
    CHECK_BYTES_STR(p.client.last.p, p.client.last.len, "reply");
    CHECK_EQ(p.server.messages, 2);
done:
    pair_free(&p);
}

/* wsm_conn_new / wsm_conn_free: a whole session with heap handles. */
static void test_heap_handles(void) {
    wsm_conn *c = NULL, *s = NULL;
    uint8_t seed[16], key[16], buf[1024], msg[64];
    size_t n = 0, m = 0, consumed = 0;
    wsm_client_request req;
    wsm_header h[16];
    wsm_request r;
    wsm_response resp;
    wsm_event ev;
    bool complete = false;
    test_random16(seed);
    test_random16(key);
    REQUIRE_OK(wsm_conn_new(WSM_ROLE_CLIENT, NULL, 0, seed, false, &c));
    REQUIRE(c != NULL);
    CHECK_OK(wsm_conn_new(WSM_ROLE_SERVER, NULL, 0, NULL, false, &s));
    if (!s) {
        wsm_conn_free(c);
        return;
    }
    memset(&req, 0, sizeof req);
    req.host = "h";
    req.target = "/";
    CHECK_OK(wsm_write_request(c, &req, key, buf, sizeof buf, &n));
    CHECK_OK(wsm_read_request(s, 0, buf, n, h, 16, &r, &complete));
    CHECK_OK(wsm_accept(s, 0, NULL, buf, sizeof buf, &n));
    CHECK_OK(wsm_read_response(c, 0, &req, buf, n, h, 16, &resp, &complete));
    CHECK(resp.accepted);
    CHECK_OK(wsm_send(c, WSM_TEXT, u8("heap"), 4, buf, sizeof buf, &n));
    CHECK_OK(wsm_read(s, 0, buf, n, &consumed, &ev));
    CHECK_EQ(ev.kind, WSM_EVENT_DATA);
    CHECK_BYTES_STR(ev.data, ev.len, "heap");
    CHECK_OK(wsm_close(s, 0, 1000, NULL, 0, msg, sizeof msg, &m));
    CHECK_OK(wsm_read(c, 0, msg, m, &consumed, &ev));
    CHECK_EQ(ev.kind, WSM_EVENT_CLOSE);
    CHECK_OK(wsm_poll_transmit(c, msg, sizeof msg, &m));
    CHECK_OK(wsm_read(s, 0, msg, m, &consumed, &ev));
    CHECK_EQ(ev.kind, WSM_EVENT_CLOSE);
    CHECK(wsm_should_close_transport(s));
    wsm_conn_free(c);
    wsm_conn_free(s);
    wsm_conn_free(NULL);
    /* An open heap handle can be freed too (no leak: valgrind checks). */
    c = NULL;
    REQUIRE_OK(wsm_conn_new(WSM_ROLE_SERVER, NULL, 0, NULL, true, &c));
    CHECK_EQ(wsm_state(c), WSM_OPEN);
    wsm_conn_free(c);
}

void run_session_tests(void) {
    RUN(test_echo_text_and_binary_up_to_1mib);
    RUN(test_send_in_place);
    RUN(test_send_fragment);
    RUN(test_streamed_frames);
    RUN(test_failure_during_streamed_frame);
    RUN(test_ping_pong);
    RUN(test_close_initiated_by_client);
    RUN(test_close_initiated_by_server);
    RUN(test_close_without_status);
    RUN(test_unmasked_frame_fails_with_1002);
    RUN(test_bad_input_close_codes);
    RUN(test_undersized_buffers);
    RUN(test_close_argument_checks);
    RUN(test_handle_moves_with_memcpy);
    RUN(test_heap_handles);
}
