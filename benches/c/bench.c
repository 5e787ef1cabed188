/*
 * C benchmarks: libwsmachine.a (the C ABI) against wslay 1.1.1 (Debian's libwslay-dev), and
 * the FFI layer's overhead against the Rust core.
 *
 *   bench [--json OUT] [--ms N]
 *
 * Workloads (binary messages, one FIN frame each, pools of distinct frames as in the Rust
 * benchmarks, sizes 16 B .. 1 MiB):
 *   server_decode_binary  masked frames in     client_decode_binary  unmasked frames in
 *   server_encode         unmasked frames out  client_encode         masked frames out
 *
 * Subjects:
 *   wsmachine     wsm_read on the frames already in the caller's buffer (restored from a
 *                 pristine copy between passes, outside the timed region) / wsm_send into a
 *                 buffer: the same work as the Rust `wsmachine` variant, through the C ABI.
 *                 Compared with the Rust figure of the same run, this is the FFI overhead.
 *   wsmachine_io  as the Rust `wsmachine_io`: frames copied from an in-memory socket into a
 *                 64 KiB buffer, then wsm_read until WSM_EVENT_NONE / wsm_send_in_place (the
 *                 header into a small buffer, the payload masked in place by a client), then
 *                 header and payload copied to an in-memory sink (a vectored write).
 *   wslay         wslay's frame API (the lowest layer; no UTF-8 or protocol-state checks):
 *                 wslay_frame_recv with a recv callback copying from the same in-memory
 *                 socket (wslay unmasks into its own buffer) / wslay_frame_send with a send
 *                 callback copying into the sink (and a genmask callback for clients).
 *
 * Timing: CLOCK_MONOTONIC; each figure is the fastest of 41 batches of about --ms/41 ms (on a
 * shared machine preemption only adds time), as the Rust report takes the fastest sample.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <wslay/wslay.h>

#include "wsmachine.h"

#define NSIZES 6
static const size_t SIZES[NSIZES] = {16, 125, 1024, 16 << 10, 64 << 10, 1 << 20};
#define POOL_BYTES (2u << 20)
#define READ_BUF (64u << 10)
#define BATCHES 41

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) {
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void die(const char *what) {
    fprintf(stderr, "bench: %s\n", what);
    exit(1);
}

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) die("out of memory");
    return p;
}

/* ---- pools ------------------------------------------------------------------------------ */

typedef struct {
    uint8_t *bytes;   /* frames back to back */
    uint8_t *work;    /* working copy (decoded in place) */
    size_t len;
    size_t count;
    uint8_t **payloads; /* plain payloads (for encoding) */
} pool;

static size_t pool_len(size_t size) {
    size_t n = POOL_BYTES / size;
    if (n < 4) n = 4;
    if (n > 1024) n = 1024;
    return n;
}

static void pool_init(pool *p, size_t size, int masked) {
    p->count = pool_len(size);
    p->bytes = xmalloc(p->count * (size + 14));
    p->payloads = xmalloc(p->count * sizeof(uint8_t *));
    size_t pos = 0;
    for (size_t i = 0; i < p->count; i++) {
        uint8_t *pl = xmalloc(size);
        for (size_t j = 0; j < size; j++) pl[j] = (uint8_t)rnd();
        p->payloads[i] = pl;
        uint8_t *h = p->bytes + pos;
        size_t hl;
        h[0] = 0x82;
        uint8_t m = masked ? 0x80 : 0;
        if (size < 126) {
            h[1] = m | (uint8_t)size;
            hl = 2;
        } else if (size <= 0xFFFF) {
            h[1] = m | 126;
            h[2] = (uint8_t)(size >> 8);
            h[3] = (uint8_t)size;
            hl = 4;
        } else {
            h[1] = m | 127;
            for (int k = 0; k < 8; k++) h[2 + k] = (uint8_t)((uint64_t)size >> (56 - 8 * k));
            hl = 10;
        }
        uint8_t key[4] = {0, 0, 0, 0};
        if (masked) {
            uint64_t r = rnd();
            memcpy(key, &r, 4);
            memcpy(h + hl, key, 4);
            hl += 4;
        }
        for (size_t j = 0; j < size; j++) h[hl + j] = pl[j] ^ key[j & 3];
        pos += hl + size;
    }
    p->len = pos;
    p->work = xmalloc(pos);
}

static void pool_free(pool *p) {
    for (size_t i = 0; i < p->count; i++) free(p->payloads[i]);
    free(p->payloads);
    free(p->bytes);
    free(p->work);
}

/* ---- the in-memory socket ----------------------------------------------------------------- */

typedef struct {
    const uint8_t *in;
    size_t in_len, in_pos;
    uint8_t *sink;
    size_t sink_cap, sink_len;
} memsock;

static size_t sock_read(memsock *s, uint8_t *buf, size_t len) {
    if (s->in_pos == s->in_len) s->in_pos = 0;
    size_t n = s->in_len - s->in_pos;
    if (n > len) n = len;
    memcpy(buf, s->in + s->in_pos, n);
    s->in_pos += n;
    return n;
}

static void sock_write(memsock *s, const uint8_t *data, size_t len) {
    if (s->sink_len + len > s->sink_cap) s->sink_len = 0;
    memcpy(s->sink + s->sink_len, data, len);
    s->sink_len += len;
}

/* ---- runners: each runs `n` messages and returns the timed nanoseconds -------------------- */

typedef struct {
    pool *p;
    size_t size;
    int client; /* the engine's role: 1 client, 0 server */
    wsm_conn *conn;
    memsock sock;
    uint8_t *buf; /* read buffer or output buffer */
    size_t start, filled;
    size_t next; /* next payload (encode) */
    wslay_frame_context_ptr wslay;
} ctx;

static volatile size_t sink_total;

static double run_wsm_inplace(ctx *c, uint64_t n) {
    double t = 0;
    uint64_t done = 0;
    while (done < n) {
        memcpy(c->p->work, c->p->bytes, c->p->len);
        uint64_t k = n - done < c->p->count ? n - done : c->p->count;
        double t0 = now_ns();
        size_t pos = 0;
        for (uint64_t i = 0; i < k; i++) {
            size_t used;
            wsm_event ev;
            if (wsm_read(c->conn, 0, c->p->work + pos, c->p->len - pos, &used, &ev) != WSM_OK ||
                ev.kind != WSM_EVENT_DATA || !(ev.flags & WSM_FLAG_MESSAGE_FIN))
                die("wsm_read in place");
            sink_total += ev.len;
            pos += used;
        }
        t += now_ns() - t0;
        done += k;
    }
    return t;
}

static double run_wsm_io(ctx *c, uint64_t n) {
    double t0 = now_ns();
    uint64_t msgs = 0;
    while (msgs < n) {
        size_t used;
        wsm_event ev;
        if (wsm_read(c->conn, 0, c->buf + c->start, c->filled - c->start, &used, &ev) != WSM_OK)
            die("wsm_read io");
        c->start += used;
        if (ev.kind == WSM_EVENT_DATA) {
            sink_total += ev.len;
            msgs += (ev.flags & WSM_FLAG_MESSAGE_FIN) != 0;
        } else if (ev.kind == WSM_EVENT_NONE) {
            memmove(c->buf, c->buf + c->start, c->filled - c->start);
            c->filled -= c->start;
            c->start = 0;
            c->filled += sock_read(&c->sock, c->buf + c->filled, READ_BUF - c->filled);
        } else {
            die("unexpected event");
        }
    }
    return now_ns() - t0;
}

static double run_wsm_send(ctx *c, uint64_t n, int io) {
    double t0 = now_ns();
    for (uint64_t i = 0; i < n; i++) {
        size_t w;
        if (io) {
            /* wsm_send_in_place: the header into buf, the payload masked in place by a client;
             * then a vectored write of both (each copied once into the sink), as wslay's send
             * callback gets the header and the payload it masked. */
            uint8_t *pl = c->p->payloads[c->next];
            if (wsm_send_in_place(c->conn, WSM_BINARY, pl, c->size, c->buf, 14, &w) != WSM_OK)
                die("wsm_send_in_place");
            sock_write(&c->sock, c->buf, w);
            sock_write(&c->sock, pl, c->size);
        } else {
            if (wsm_send(c->conn, WSM_BINARY, c->p->payloads[c->next], c->size, c->buf, c->size + 14,
                         &w) != WSM_OK)
                die("wsm_send");
            sink_total += w;
        }
        c->next = (c->next + 1) % c->p->count;
    }
    return now_ns() - t0;
}

static ssize_t wslay_recv_cb(uint8_t *buf, size_t len, int flags, void *user) {
    (void)flags;
    return (ssize_t)sock_read(&((ctx *)user)->sock, buf, len);
}

static ssize_t wslay_send_cb(const uint8_t *data, size_t len, int flags, void *user) {
    (void)flags;
    sock_write(&((ctx *)user)->sock, data, len);
    return (ssize_t)len;
}

static int wslay_mask_cb(uint8_t *buf, size_t len, void *user) {
    (void)user;
    uint64_t r = rnd();
    memcpy(buf, &r, len < 8 ? len : 8);
    return 0;
}

static double run_wslay_recv(ctx *c, uint64_t n) {
    double t0 = now_ns();
    uint64_t msgs = 0;
    uint64_t got = 0;
    while (msgs < n) {
        struct wslay_frame_iocb iocb;
        memset(&iocb, 0, sizeof iocb);
        ssize_t r = wslay_frame_recv(c->wslay, &iocb);
        if (r < 0) die("wslay_frame_recv");
        sink_total += iocb.data_length;
        got += iocb.data_length;
        if (got == iocb.payload_length) {
            got = 0;
            msgs++;
        }
    }
    return now_ns() - t0;
}

static double run_wslay_send(ctx *c, uint64_t n) {
    double t0 = now_ns();
    for (uint64_t i = 0; i < n; i++) {
        struct wslay_frame_iocb iocb;
        memset(&iocb, 0, sizeof iocb);
        iocb.fin = 1;
        iocb.opcode = WSLAY_BINARY_FRAME;
        iocb.mask = (uint8_t)c->client;
        iocb.payload_length = c->size;
        iocb.data = c->p->payloads[c->next];
        iocb.data_length = c->size;
        while (iocb.data_length > 0 || c->size == 0) {
            ssize_t r = wslay_frame_send(c->wslay, &iocb);
            if (r < 0) die("wslay_frame_send");
            iocb.data += r;
            iocb.data_length -= (size_t)r;
            if (c->size == 0) break;
        }
        c->next = (c->next + 1) % c->p->count;
    }
    return now_ns() - t0;
}

/* ---- measurement ---------------------------------------------------------------------------- */

typedef double (*runner)(ctx *, uint64_t);
static int mode_io;
static double enc_core(ctx *c, uint64_t n) { return run_wsm_send(c, n, 0); }
static double enc_io(ctx *c, uint64_t n) { return run_wsm_send(c, n, 1); }
static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Fastest nanoseconds per message over BATCHES batches of about `batch_ms` each. */
static double measure(runner f, ctx *c, double batch_ms) {
    uint64_t n = 1;
    for (;;) {
        double t = f(c, n);
        if (t > batch_ms * 1e6 / 4 || n > (1ull << 32)) break;
        n *= 2;
    }
    n = (uint64_t)((double)n * 4.0) + 1;
    double per[BATCHES];
    for (int b = 0; b < BATCHES; b++) per[b] = f(c, n) / (double)n;
    qsort(per, BATCHES, sizeof per[0], cmp_double);
    return per[0];
}

static void setup(ctx *c, pool *p, size_t size, int client) {
    memset(c, 0, sizeof *c);
    c->p = p;
    c->size = size;
    c->client = client;
    wsm_config cfg;
    wsm_config_default(&cfg);
    cfg.max_frame_payload = UINT64_MAX;
    cfg.max_message_size = UINT64_MAX;
    uint8_t seed[16] = {7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7};
    if (wsm_conn_new(client ? WSM_ROLE_CLIENT : WSM_ROLE_SERVER, &cfg, 0, seed, true, &c->conn) != WSM_OK)
        die("wsm_conn_new");
    c->sock.in = p->bytes;
    c->sock.in_len = p->len;
    c->sock.sink_cap = (size + 14 > (256u << 10)) ? size + 14 : (256u << 10);
    c->sock.sink = xmalloc(c->sock.sink_cap);
    c->buf = xmalloc(READ_BUF > size + 14 ? READ_BUF : size + 14);
    struct wslay_frame_callbacks cb = {wslay_send_cb, wslay_recv_cb, wslay_mask_cb};
    if (wslay_frame_context_init(&c->wslay, &cb, c) != 0) die("wslay init");
}

static void teardown(ctx *c) {
    wsm_conn_free(c->conn);
    wslay_frame_context_free(c->wslay);
    free(c->sock.sink);
    free(c->buf);
}

int main(int argc, char **argv) {
    const char *json = NULL;
    double ms = 400;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json") && i + 1 < argc) json = argv[++i];
        else if (!strcmp(argv[i], "--ms") && i + 1 < argc) ms = atof(argv[++i]);
        else die("usage: bench [--json OUT] [--ms N]");
    }
    (void)mode_io;
    double batch = ms / BATCHES;
    FILE *out = json ? fopen(json, "w") : NULL;
    if (json && !out) die("cannot write the JSON file");
    if (out) fprintf(out, "{\n");
    int first = 1;
    struct {
        const char *group;
        int client; /* engine role */
        int decode;
    } groups[] = {
        {"server_decode_binary", 0, 1},
        {"client_decode_binary", 1, 1},
        {"server_encode", 0, 0},
        {"client_encode", 1, 0},
    };
    for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++) {
        for (int s = 0; s < NSIZES; s++) {
            size_t size = SIZES[s];
            pool p;
            /* Decoding: frames from the peer (masked when the engine is the server). */
            pool_init(&p, size, groups[g].decode ? !groups[g].client : groups[g].client);
            const char *names[3] = {"wsmachine", "wsmachine_io", "wslay"};
            runner fs[3];
            if (groups[g].decode) {
                fs[0] = run_wsm_inplace;
                fs[1] = run_wsm_io;
                fs[2] = run_wslay_recv;
            } else {
                fs[0] = enc_core;
                fs[1] = enc_io;
                fs[2] = run_wslay_send;
            }
            for (int k = 0; k < 3; k++) {
                ctx c;
                setup(&c, &p, size, groups[g].client);
                double ns = measure(fs[k], &c, batch);
                teardown(&c);
                fprintf(stderr, "  %-22s %-13s %8zu  %10.1f ns  %9.0f MB/s\n", groups[g].group, names[k], size, ns,
                        (double)size / ns * 1e3);
                if (out) {
                    fprintf(out, "%s \"%s/%s/%zu\": %.3f", first ? "" : ",\n", groups[g].group, names[k], size, ns);
                    first = 0;
                }
            }
            pool_free(&p);
        }
    }
    if (out) {
        fprintf(out, "\n}\n");
        fclose(out);
    }
    return sink_total == 0xFFFFFFFFFFFFFFFFull;
}
