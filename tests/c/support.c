/* Test support; see support.h. */
#include "support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

const char VALID_REQUEST[] = "GET /chat?room=1&x=y HTTP/1.1\r\n"
                             "Host: example.com:8080\r\n"
                             "Upgrade: websocket\r\n"
                             "Connection: keep-alive, Upgrade\r\n"
                             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                             "Sec-WebSocket-Version: 13\r\n"
                             "Origin: https://example.com\r\n"
                             "Sec-WebSocket-Protocol: chat, superchat\r\n"
                             "Cookie: session=abc123\r\n"
                             "\r\n";

void bq_append(bq *q, const void *data, size_t n) {
    if (n == 0) return;
    if (q->len + n > q->cap) {
        size_t cap = q->cap ? q->cap : 256;
        uint8_t *p;
        while (cap < q->len + n) cap *= 2;
        p = realloc(q->p, cap);
        if (!p) {
            fprintf(stderr, "out of memory\n");
            exit(2);
        }
        q->p = p;
        q->cap = cap;
    }
    memcpy(q->p + q->len, data, n);
    q->len += n;
}

void bq_drop_front(bq *q, size_t n) {
    if (n >= q->len) {
        q->len = 0;
        return;
    }
    memmove(q->p, q->p + n, q->len - n);
    q->len -= n;
}

void bq_clear(bq *q) { q->len = 0; }

void bq_free(bq *q) {
    free(q->p);
    q->p = NULL;
    q->len = q->cap = 0;
}

wsm_result ep_init(endpoint *e, const char *name, uint32_t role, const wsm_config *cfg) {
    uint8_t seed[16];
    memset(e, 0, sizeof *e);
    e->name = name;
    if (wsm_conn_size() > EP_MEM) {
        fprintf(stderr, "EP_MEM (%d) < wsm_conn_size() (%zu)\n", EP_MEM, wsm_conn_size());
        exit(2);
    }
    test_random16(seed);
    return wsm_conn_init(e->mem, sizeof e->mem, role, cfg, 0, seed, false, &e->conn);
}

void ep_free(endpoint *e) {
    bq_free(&e->wire);
    bq_free(&e->msg);
    bq_free(&e->last);
    bq_free(&e->reject_body);
}

bool pair_open(pair *p, const wsm_config *client_cfg, const wsm_config *server_cfg) {
    static const char *const protos[] = {"chat", "superchat"};
    wsm_client_request req;
    wsm_header headers[16];
    wsm_request r;
    wsm_response resp;
    wsm_accept_options opts;
    uint8_t key[16], buf[2048];
    size_t n = 0, m = 0;
    bool complete = false;
    int before = t_current_failures();

    CHECK_OK(ep_init(&p->client, "client", WSM_ROLE_CLIENT, client_cfg));
    CHECK_OK(ep_init(&p->server, "server", WSM_ROLE_SERVER, server_cfg));
    memset(&req, 0, sizeof req);
    req.host = "example.com";
    req.target = "/chat";
    req.subprotocols = protos;
    req.subprotocol_count = 2;
    test_random16(key);
    CHECK_OK(wsm_write_request(p->client.conn, &req, key, buf, sizeof buf, &n));
    CHECK_OK(wsm_read_request(p->server.conn, 0, buf, n, headers, 16, &r, &complete));
    CHECK(complete);
    memset(&opts, 0, sizeof opts);
    opts.subprotocol = "chat";
    CHECK_OK(wsm_accept(p->server.conn, 0, &opts, buf, sizeof buf, &m));
    p->response_len = m < sizeof p->response ? m : 0;
    memcpy(p->response, buf, p->response_len);
    complete = false;
    CHECK_OK(wsm_read_response(p->client.conn, 0, &req, buf, m, headers, 16, &resp, &complete));
    CHECK(complete);
    CHECK(resp.accepted);
    CHECK_EQ(resp.consumed, m);
    CHECK_EQ(wsm_state(p->client.conn), WSM_OPEN);
    CHECK_EQ(wsm_state(p->server.conn), WSM_OPEN);
    return t_current_failures() == before;
}

void pair_free(pair *p) {
    ep_free(&p->client);
    ep_free(&p->server);
}

/* Inflates one compressed chunk completely, in pieces of e->inflate_out bytes. */
static void inflate_chunk(endpoint *e, const wsm_event *ev) {
    size_t cap = e->inflate_out ? e->inflate_out : 4096, off = 0;
    uint8_t *out = malloc(cap);
    int calls = 0;
    if (!out) exit(2);
    for (;;) {
        wsm_inflated r;
        wsm_result res;
        memset(&r, 0xA5, sizeof r);
        res = wsm_inflate(e->conn, e->now, e->inflater, ev, ev->data + off, ev->len - off, out,
                          cap, &r);
        if (res != WSM_OK) {
            e->inflate_errors++;
            break;
        }
        if (r.consumed > ev->len - off || r.produced > cap) {
            e->anomalies++;
            break;
        }
        if (r.failed != WSM_PE_NONE) {
            e->inflate_failed = true;
            e->inflate_error = r.failed;
            e->inflate_code = r.close_code;
            break;
        }
        bq_append(&e->msg, out, r.produced);
        off += r.consumed;
        if (r.done) break;
        if (++calls > 100000000) { /* no progress: a bug */
            e->anomalies++;
            break;
        }
    }
    free(out);
}

static void record(endpoint *e, const wsm_event *ev) {
    switch (ev->kind) {
    case WSM_EVENT_DATA: {
        uint32_t f = ev->flags;
        if (!e->in_msg) {
            if (!(f & WSM_FLAG_MESSAGE_START)) e->anomalies++;
            e->in_msg = true;
            e->msg_flags = f;
            bq_clear(&e->msg);
        } else if (f & WSM_FLAG_MESSAGE_START) {
            e->anomalies++;
        }
        if ((f & WSM_FLAG_TEXT) != (e->msg_flags & WSM_FLAG_TEXT)) e->anomalies++;
        if (ev->len && !ev->data) e->anomalies++;
        if (f & WSM_FLAG_COMPRESSED) e->compressed_chunks++;
        if ((f & WSM_FLAG_COMPRESSED) && e->inflater) {
            inflate_chunk(e, ev);
            if (e->inflate_failed) return;
        } else {
            bq_append(&e->msg, ev->data, ev->len);
        }
        e->chunks++;
        if (f & WSM_FLAG_FRAME_FIN) e->frames++;
        if (f & WSM_FLAG_MESSAGE_FIN) {
            bq tmp = e->last;
            if (!(f & WSM_FLAG_FRAME_FIN)) e->anomalies++;
            e->last = e->msg;
            e->msg = tmp;
            bq_clear(&e->msg);
            e->last_text = (e->msg_flags & WSM_FLAG_TEXT) != 0;
            e->last_compressed = (e->msg_flags & WSM_FLAG_COMPRESSED) != 0;
            if (e->last_compressed) e->compressed_messages++;
            e->messages++;
            e->in_msg = false;
        }
        break;
    }
    case WSM_EVENT_PING:
        e->pings++;
        e->ping_len = ev->len;
        if (ev->len <= sizeof e->ping_data && ev->len) memcpy(e->ping_data, ev->data, ev->len);
        break;
    case WSM_EVENT_PONG:
        e->pongs++;
        e->pong_len = ev->len;
        if (ev->len <= sizeof e->pong_data && ev->len) memcpy(e->pong_data, ev->data, ev->len);
        break;
    case WSM_EVENT_CLOSE:
        e->got_close = true;
        e->close_code = ev->close_code;
        e->close_reason_len = ev->len < sizeof e->close_reason ? ev->len : 0;
        if (e->close_reason_len) memcpy(e->close_reason, ev->data, e->close_reason_len);
        e->close_reason[e->close_reason_len] = 0;
        break;
    case WSM_EVENT_FAILED:
        e->got_failed = true;
        e->failed_code = ev->close_code;
        e->failed_error = ev->error;
        break;
    case WSM_EVENT_REJECT_BODY:
        bq_append(&e->reject_body, ev->data, ev->len);
        if (ev->flags & WSM_FLAG_BODY_FIN) e->reject_body_fin = true;
        break;
    default:
        e->anomalies++;
        break;
    }
}

size_t ep_flush(endpoint *from, endpoint *to) {
    uint8_t out[1024];
    size_t total = 0;
    for (;;) {
        size_t n = 0;
        wsm_result r = wsm_poll_transmit(from->conn, out, sizeof out, &n);
        if (r != WSM_OK) {
            from->transmit_errors++;
            break;
        }
        if (n == 0) break;
        if (to) bq_append(&to->wire, out, n);
        total += n;
    }
    return total;
}

int ep_pump(endpoint *e, endpoint *peer) {
    int events = 0;
    for (;;) {
        size_t room = EP_RXCAP - e->rx_len;
        size_t n = e->wire.len < room ? e->wire.len : room;
        size_t off = 0;
        if (e->read_chunk && n > e->read_chunk) n = e->read_chunk;
        if (n) memcpy(e->rx + e->rx_len, e->wire.p, n);
        bq_drop_front(&e->wire, n);
        e->rx_len += n;
        for (;;) {
            size_t consumed = 0;
            wsm_event ev;
            wsm_result r;
            memset(&ev, 0xA5, sizeof ev);
            r = wsm_read(e->conn, e->now, e->rx + off, e->rx_len - off, &consumed, &ev);
            if (r != WSM_OK) {
                e->read_errors++;
                off = e->rx_len;
                break;
            }
            if (consumed > e->rx_len - off) {
                e->anomalies++;
                consumed = e->rx_len - off;
            }
            off += consumed;
            if (ev.kind == WSM_EVENT_NONE) break;
            events++;
            record(e, &ev);
        }
        memmove(e->rx, e->rx + off, e->rx_len - off);
        e->rx_len -= off;
        ep_flush(e, peer);
        if (n == 0) break;
    }
    return events;
}

void pair_settle(pair *p) {
    int guard = 0;
    while ((p->client.wire.len || p->server.wire.len) && guard++ < 1000) {
        ep_pump(&p->server, &p->client);
        ep_pump(&p->client, &p->server);
    }
}

wsm_result ep_send_compressed(endpoint *from, endpoint *to, wsm_deflater *d, uint32_t kind,
                              const void *data, size_t len) {
    uint8_t small[8];
    size_t needed = 0, n = 0;
    uint8_t *out;
    wsm_result r = wsm_send_compressed(from->conn, kind, data, len, d, small, sizeof small,
                                       &needed);
    if (r == WSM_OK) { /* fits in 8 bytes: only an empty uncompressed message does */
        bq_append(&to->wire, small, needed);
        return r;
    }
    if (r != WSM_ERR_BUFFER_TOO_SMALL) return r;
    out = malloc(needed);
    if (!out) exit(2);
    r = wsm_send_compressed(from->conn, kind, data, len, d, out, needed, &n);
    if (r == WSM_OK) bq_append(&to->wire, out, n);
    free(out);
    return r;
}

wsm_result ep_send(endpoint *from, endpoint *to, uint32_t kind, const void *data, size_t len) {
    size_t cap = len + 512, n = 0;
    uint8_t *out = malloc(cap);
    wsm_result r;
    if (!out) exit(2);
    r = wsm_send(from->conn, kind, data, len, out, cap, &n);
    if (r == WSM_OK) bq_append(&to->wire, out, n);
    free(out);
    return r;
}

wsm_result ep_close(endpoint *from, endpoint *to, uint16_t code, const char *reason) {
    uint8_t out[256];
    size_t n = 0;
    wsm_result r = wsm_close(from->conn, from->now, code, (const uint8_t *)reason,
                             reason ? strlen(reason) : 0, out, sizeof out, &n);
    if (r == WSM_OK && to) bq_append(&to->wire, out, n);
    return r;
}

size_t make_frame(uint8_t *out, uint8_t b0, const uint8_t *mask, const void *payload,
                  size_t len) {
    const uint8_t *src = payload;
    size_t i = 0, k;
    uint8_t mbit = mask ? 0x80 : 0;
    out[i++] = b0;
    if (len < 126) {
        out[i++] = (uint8_t)(mbit | len);
    } else if (len <= 0xFFFF) {
        out[i++] = (uint8_t)(mbit | 126);
        out[i++] = (uint8_t)(len >> 8);
        out[i++] = (uint8_t)len;
    } else {
        int s;
        out[i++] = (uint8_t)(mbit | 127);
        for (s = 56; s >= 0; s -= 8) out[i++] = (uint8_t)((uint64_t)len >> s);
    }
    if (mask) {
        memcpy(out + i, mask, 4);
        i += 4;
    }
    for (k = 0; k < len; k++) out[i + k] = (uint8_t)(src[k] ^ (mask ? mask[k & 3] : 0));
    return i + len;
}

bool parse_close_frame(const uint8_t *f, size_t n, uint16_t *code, char *reason,
                       size_t *reason_len) {
    size_t len, i = 2, k;
    const uint8_t *mask = NULL;
    uint8_t p[125];
    if (n < 2 || f[0] != 0x88) return false;
    len = f[1] & 0x7F;
    if (len > 125) return false;
    if (f[1] & 0x80) {
        mask = f + 2;
        i += 4;
    }
    if (n != i + len) return false;
    for (k = 0; k < len; k++) p[k] = (uint8_t)(f[i + k] ^ (mask ? mask[k & 3] : 0));
    if (len == 0) {
        *code = 1005;
        *reason_len = 0;
        if (reason) reason[0] = 0;
        return true;
    }
    if (len < 2) return false;
    *code = (uint16_t)(p[0] << 8 | p[1]);
    *reason_len = len - 2;
    if (reason) {
        memcpy(reason, p + 2, len - 2);
        reason[len - 2] = 0;
    }
    return true;
}

void test_random16(uint8_t out[16]) {
    static uint64_t s = 0x9E3779B97F4A7C15u;
    int i;
    for (i = 0; i < 16; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        out[i] = (uint8_t)(s >> 24);
    }
}

void fill_utf8(uint8_t *p, size_t n) {
    /* "a", "é" (2), "€" (3), "😀" (4), "z" */
    static const uint8_t seq[] = {'a', 0xC3, 0xA9, 0xE2, 0x82, 0xAC, 0xF0, 0x9F, 0x98, 0x80, 'z'};
    static const size_t starts[] = {0, 1, 3, 6, 10, 11};
    size_t i = 0, s = 0;
    while (i < n) {
        size_t a = starts[s], b = starts[s + 1], l = b - a;
        if (i + l > n) {
            p[i++] = ' ';
            continue;
        }
        memcpy(p + i, seq + a, l);
        i += l;
        s = (s + 1) % 5;
    }
}

void fill_binary(uint8_t *p, size_t n, uint32_t seed) {
    uint32_t x = seed * 2654435761u + 1;
    size_t i;
    for (i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        p[i] = (uint8_t)(x >> 16);
    }
}
