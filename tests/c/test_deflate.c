/* permessage-deflate (RFC 7692) through the C interface: codec memory, configuration,
 * negotiation, compressed messages both ways between two C connections (tiny output
 * buffers, fragments, byte-at-a-time input), context takeover on and off, a shared
 * compressor, corrupt data (1007), a decompression bomb (1009), and NULL / invalid
 * arguments. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "support.h"

static const uint8_t MASK[4] = {0x11, 0x22, 0x33, 0x44};

/* Caller memory for codecs: a heap block, aligned for both kinds. */
static void *codec_mem(size_t n) {
    void *p = NULL;
    size_t align = wsm_inflater_align() > wsm_deflater_align() ? wsm_inflater_align()
                                                                 : wsm_deflater_align();
    if (align < sizeof(void *)) align = sizeof(void *);
    n = (n + align - 1) / align * align;
    p = aligned_alloc(align, n);
    if (!p) exit(2);
    return p;
}

/* One end's codecs, sized from what was agreed. */
typedef struct {
    void *imem, *dmem;
    wsm_inflater *inf;
    wsm_deflater *def;
    wsm_deflate_params params;
} codecs;

static bool codecs_init(codecs *c, endpoint *e) {
    int before = t_current_failures();
    memset(c, 0, sizeof *c);
    CHECK_OK(wsm_get_deflate(e->conn, &c->params));
    if (!c->params.agreed) return false;
    c->imem = codec_mem(wsm_inflater_size(c->params.inflate_window_bits));
    c->dmem = codec_mem(wsm_deflater_size(c->params.compress_window_bits, c->params.level));
    CHECK_OK(wsm_inflater_init(c->imem, wsm_inflater_size(c->params.inflate_window_bits),
                               c->params.inflate_window_bits, &c->inf));
    CHECK_OK(wsm_deflater_init(c->dmem,
                               wsm_deflater_size(c->params.compress_window_bits,
                                                 c->params.level),
                               c->params.compress_window_bits, c->params.level, false, &c->def));
    e->inflater = c->inf;
    return t_current_failures() == before;
}

static void codecs_free(codecs *c) {
    free(c->imem);
    free(c->dmem);
    memset(c, 0, sizeof *c);
}

static wsm_config deflate_config(void) {
    wsm_config c;
    wsm_config_default(&c);
    c.deflate.enabled = 1;
    return c;
}

/* Opens a pair with the given configurations and makes both ends' codecs. */
static bool open_deflate(pair *p, codecs *cc, codecs *sc, const wsm_config *ccfg,
                         const wsm_config *scfg) {
    memset(p, 0, sizeof *p);
    if (!pair_open(p, ccfg, scfg)) return false;
    if (!codecs_init(cc, &p->client) || !codecs_init(sc, &p->server)) return false;
    return true;
}

static void close_deflate(pair *p, codecs *cc, codecs *sc) {
    pair_free(p);
    codecs_free(cc);
    codecs_free(sc);
}

static void test_deflate_codec_memory(void) {
    static _Alignas(64) unsigned char mem[1 << 16];
    wsm_inflater *inf = NULL;
    wsm_deflater *def = NULL;
    uint8_t bits;
    size_t prev = 0;
    printf("     inflater bytes: 9 bits %zu, 12 bits %zu, 15 bits %zu (align %zu)\n",
           wsm_inflater_size(9), wsm_inflater_size(12), wsm_inflater_size(15),
           wsm_inflater_align());
    printf("     deflater bytes (level 6): 9 bits %zu, 12 bits %zu, 15 bits %zu (align %zu)\n",
           wsm_deflater_size(9, 6), wsm_deflater_size(12, 6), wsm_deflater_size(15, 6),
           wsm_deflater_align());
    for (bits = 8; bits <= 15; bits++) {
        size_t n = wsm_inflater_size(bits);
        CHECK(n > ((size_t)1 << bits));
        CHECK(n > prev);
        CHECK(wsm_deflater_size(bits, 0) < wsm_deflater_size(bits, 1));
        CHECK(wsm_deflater_size(bits, 1) < wsm_deflater_size(bits, 2));
        CHECK_EQ(wsm_deflater_size(bits, 2), wsm_deflater_size(bits, 9));
        prev = n;
    }
    CHECK_EQ(wsm_inflater_size(7), 0);
    CHECK_EQ(wsm_inflater_size(16), 0);
    CHECK_EQ(wsm_deflater_size(7, 6), 0);
    CHECK_EQ(wsm_deflater_size(16, 6), 0);
    CHECK_EQ(wsm_deflater_size(15, 10), 0);
    CHECK(wsm_deflater_size(15, 6) > 184u * 1024u);
    CHECK(wsm_inflater_align() >= 1 && wsm_deflater_align() >= 1);

    /* Too small by one byte, misaligned, NULL, bad window bits or level. */
    CHECK_RES(wsm_inflater_init(mem, wsm_inflater_size(12) - 1, 12, &inf), WSM_ERR_MEMORY);
    CHECK_RES(wsm_inflater_init(mem + 1, sizeof mem - 1, 12, &inf), WSM_ERR_MEMORY);
    CHECK_RES(wsm_inflater_init(NULL, sizeof mem, 12, &inf), WSM_ERR_NULL);
    CHECK_RES(wsm_inflater_init(mem, sizeof mem, 12, NULL), WSM_ERR_NULL);
    CHECK_RES(wsm_inflater_init(mem, sizeof mem, 7, &inf), WSM_ERR_INVALID_ARGUMENT);
    CHECK_RES(wsm_inflater_init(mem, sizeof mem, 16, &inf), WSM_ERR_INVALID_ARGUMENT);
    CHECK(inf == NULL);
    CHECK_RES(wsm_deflater_init(mem, wsm_deflater_size(10, 6) - 1, 10, 6, false, &def),
              WSM_ERR_MEMORY);
    CHECK_RES(wsm_deflater_init(mem + 1, sizeof mem - 1, 10, 6, false, &def), WSM_ERR_MEMORY);
    CHECK_RES(wsm_deflater_init(NULL, sizeof mem, 10, 6, false, &def), WSM_ERR_NULL);
    CHECK_RES(wsm_deflater_init(mem, sizeof mem, 10, 6, false, NULL), WSM_ERR_NULL);
    CHECK_RES(wsm_deflater_init(mem, sizeof mem, 10, 10, false, &def), WSM_ERR_INVALID_ARGUMENT);
    CHECK_RES(wsm_deflater_init(mem, sizeof mem, 16, 6, false, &def), WSM_ERR_INVALID_ARGUMENT);
    CHECK(def == NULL);
    /* 15-bit compressor memory does not fit 64 KiB; 12 bits does. */
    CHECK_RES(wsm_deflater_init(mem, sizeof mem, 15, 6, false, &def), WSM_ERR_MEMORY);
    CHECK_OK(wsm_deflater_init(mem, wsm_deflater_size(12, 6), 12, 6, false, &def));
    CHECK(def == (wsm_deflater *)(void *)mem);
    CHECK(wsm_deflater_bound(def, 1000) >= 1000 + 14);
    CHECK_EQ(wsm_deflater_bound(NULL, 1000), 0);
    CHECK_OK(wsm_deflater_reset(def));
    CHECK_OK(wsm_inflater_init(mem, wsm_inflater_size(12), 12, &inf));
    CHECK(inf == (wsm_inflater *)(void *)mem);
    CHECK_OK(wsm_inflater_reset(inf));
    /* The memory now holds an inflater: as a compressor handle it is invalid. */
    CHECK_RES(wsm_deflater_reset((wsm_deflater *)(void *)mem), WSM_ERR_INVALID_HANDLE);
    CHECK_RES(wsm_inflater_reset(NULL), WSM_ERR_NULL);
    CHECK_RES(wsm_deflater_reset(NULL), WSM_ERR_NULL);
}

static void test_deflate_bad_config_is_refused(void) {
    static _Alignas(16) unsigned char mem[1024];
    wsm_conn *c = NULL;
    uint8_t seed[16] = {1};
    wsm_config cfg;
    int i;
    REQUIRE(wsm_conn_size() <= sizeof mem);
    for (i = 0; i < 11; i++) {
        wsm_result want = WSM_ERR_INVALID_CONFIG;
        cfg = deflate_config();
        switch (i) {
        case 0: cfg.deflate.compress_window_bits = 7; break;
        case 1: cfg.deflate.compress_window_bits = 16; break;
        case 2: cfg.deflate.decompress_window_bits = 7; break;
        case 3: cfg.deflate.decompress_window_bits = 16; break;
        case 4: cfg.deflate.min_window_bits = 7; break;
        case 5: cfg.deflate.compress_window_bits = 9; cfg.deflate.min_window_bits = 10; break;
        case 6: cfg.deflate.level = 10; break;
        case 7: cfg.allowed_rsv = 4; break; /* RSV1 belongs to permessage-deflate */
        case 8: cfg.deflate.enabled = 2; want = WSM_ERR_INVALID_ARGUMENT; break;
        case 9: cfg.deflate.no_context_takeover = 2; want = WSM_ERR_INVALID_ARGUMENT; break;
        default: cfg.deflate.peer_no_context_takeover = 9; want = WSM_ERR_INVALID_ARGUMENT; break;
        }
        CHECK_RES(wsm_conn_init(mem, sizeof mem, WSM_ROLE_SERVER, &cfg, 0, NULL, false, &c), want);
        CHECK_RES(wsm_conn_init(mem, sizeof mem, WSM_ROLE_CLIENT, &cfg, 0, seed, false, &c), want);
        if (t_current_failures()) {
            t_fail(__FILE__, __LINE__, "... case %d", i);
            return;
        }
    }
    /* Off, the deflate fields are not looked at except the booleans. */
    cfg = deflate_config();
    cfg.deflate.enabled = 0;
    cfg.deflate.level = 200;
    CHECK_OK(wsm_conn_init(mem, sizeof mem, WSM_ROLE_SERVER, &cfg, 0, NULL, false, &c));
    /* RSV1 for the application is fine without deflate. */
    cfg.allowed_rsv = 4;
    CHECK_OK(wsm_conn_init(mem, sizeof mem, WSM_ROLE_SERVER, &cfg, 0, NULL, false, &c));
}

static void test_deflate_negotiation(void) {
    pair p;
    codecs cc, sc;
    wsm_config ccfg = deflate_config(), scfg = deflate_config(), off;
    wsm_deflate_params cp, sp;

    /* Defaults: full windows, context takeover. */
    REQUIRE(open_deflate(&p, &cc, &sc, &ccfg, &scfg));
    CHECK_CONTAINS(p.response, p.response_len, "Sec-WebSocket-Extensions: permessage-deflate\r\n");
    cp = cc.params;
    sp = sc.params;
    CHECK(cp.agreed && sp.agreed);
    CHECK_EQ(cp.server_max_window_bits, 15);
    CHECK_EQ(cp.client_max_window_bits, 15);
    CHECK(!cp.compress_resets && !cp.inflate_resets && !sp.compress_resets && !sp.inflate_resets);
    CHECK_EQ(cp.level, 6);
    close_deflate(&p, &cc, &sc);

    /* Smaller windows and no context takeover from the client; the server says so. */
    ccfg.deflate.compress_window_bits = 10;
    ccfg.deflate.decompress_window_bits = 11;
    ccfg.deflate.no_context_takeover = 1;
    ccfg.deflate.peer_no_context_takeover = 1;
    ccfg.deflate.level = 2;
    REQUIRE(open_deflate(&p, &cc, &sc, &ccfg, &scfg));
    CHECK_CONTAINS(p.response, p.response_len,
                   "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
                   "server_max_window_bits=11; client_max_window_bits=10");
    cp = cc.params;
    sp = sc.params;
    CHECK_EQ(cp.server_max_window_bits, 11);
    CHECK_EQ(cp.client_max_window_bits, 10);
    CHECK_EQ(sp.server_max_window_bits, 11);
    CHECK_EQ(sp.client_max_window_bits, 10);
    CHECK_EQ(cp.compress_window_bits, 10);
    CHECK_EQ(cp.inflate_window_bits, 11);
    CHECK_EQ(sp.compress_window_bits, 11);
    CHECK_EQ(sp.inflate_window_bits, 10);
    CHECK(cp.compress_resets && cp.inflate_resets && sp.compress_resets && sp.inflate_resets);
    CHECK_EQ(cp.level, 2);
    CHECK_EQ(sp.level, 6);
    close_deflate(&p, &cc, &sc);

    /* 8-bit windows need min_window_bits 8 on the compressing side. */
    ccfg = deflate_config();
    scfg = deflate_config();
    ccfg.deflate.compress_window_bits = 8;
    ccfg.deflate.decompress_window_bits = 8;
    ccfg.deflate.min_window_bits = 8;
    scfg.deflate.compress_window_bits = 8;
    scfg.deflate.min_window_bits = 8;
    REQUIRE(open_deflate(&p, &cc, &sc, &ccfg, &scfg));
    CHECK_EQ(cc.params.client_max_window_bits, 8);
    CHECK_EQ(cc.params.server_max_window_bits, 8);
    CHECK_EQ(wsm_inflater_size(cc.params.inflate_window_bits), wsm_inflater_size(8));
    close_deflate(&p, &cc, &sc);

    /* Either side off: nothing agreed, no extension header. */
    wsm_config_default(&off);
    ccfg = deflate_config();
    memset(&p, 0, sizeof p);
    REQUIRE(pair_open(&p, &ccfg, &off));
    CHECK(!t_contains(p.response, p.response_len, "Sec-WebSocket-Extensions"));
    memset(&cp, 0xFF, sizeof cp);
    CHECK_OK(wsm_get_deflate(p.client.conn, &cp));
    CHECK(!cp.agreed && cp.server_max_window_bits == 0 && cp.level == 0);
    CHECK_OK(wsm_get_deflate(p.server.conn, &sp));
    CHECK(!sp.agreed);
    pair_free(&p);
    memset(&p, 0, sizeof p);
    REQUIRE(pair_open(&p, &off, &scfg));
    CHECK(!t_contains(p.response, p.response_len, "Sec-WebSocket-Extensions"));
    CHECK_OK(wsm_get_deflate(p.server.conn, &sp));
    CHECK(!sp.agreed);
    pair_free(&p);
}

/* A server response whose permessage-deflate parameters the client cannot honour fails the
 * client's handshake (RFC 7692 §5). */
static void test_deflate_bad_response_fails_the_client(void) {
    static const char *const bad[] = {
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; bogus",
        "permessage-deflate, permessage-deflate",
        "permessage-deflate; client_max_window_bits=8", /* below min_window_bits 9 */
    };
    size_t i;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        endpoint c, s;
        wsm_config ccfg = deflate_config();
        wsm_client_request req;
        wsm_header headers[16];
        wsm_request r;
        wsm_response resp;
        wsm_accept_options opts;
        wsm_failure_info fi;
        uint8_t key[16], buf[2048];
        size_t n = 0, m = 0;
        bool complete = false;
        memset(&c, 0, sizeof c);
        memset(&s, 0, sizeof s);
        REQUIRE_OK(ep_init(&c, "client", WSM_ROLE_CLIENT, &ccfg));
        REQUIRE_OK(ep_init(&s, "server", WSM_ROLE_SERVER, NULL)); /* deflate off */
        memset(&req, 0, sizeof req);
        req.host = "example.com";
        req.target = "/";
        test_random16(key);
        CHECK_OK(wsm_write_request(c.conn, &req, key, buf, sizeof buf, &n));
        CHECK(t_contains(buf, n, "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"));
        CHECK_OK(wsm_read_request(s.conn, 0, buf, n, headers, 16, &r, &complete));
        memset(&opts, 0, sizeof opts);
        opts.extensions = bad[i];
        CHECK_OK(wsm_accept(s.conn, 0, &opts, buf, sizeof buf, &m));
        CHECK_RES(wsm_read_response(c.conn, 0, &req, buf, m, headers, 16, &resp, &complete),
                  WSM_ERR_HANDSHAKE);
        CHECK_OK(wsm_failure(c.conn, &fi));
        CHECK_EQ(fi.kind, WSM_FAILURE_HANDSHAKE);
        CHECK_EQ(fi.handshake_error, WSM_HE_INVALID_EXTENSION);
        CHECK(wsm_state(c.conn) != WSM_OPEN);
        ep_free(&c);
        ep_free(&s);
        if (t_current_failures()) {
            t_fail(__FILE__, __LINE__, "... response %s", bad[i]);
            return;
        }
    }
}

/* Sends `data` compressed from `a` to `b` and checks what `b` got. */
static void compressed_once(pair *p, endpoint *a, endpoint *b, wsm_deflater *d, uint32_t kind,
                            const uint8_t *data, size_t len, bool expect_compressed) {
    int mb = b->messages;
    CHECK_OK(ep_send_compressed(a, b, d, kind, data, len));
    pair_settle(p);
    CHECK_EQ(b->messages, mb + 1);
    CHECK_EQ(b->last.len, len);
    CHECK(b->last.len == len && (len == 0 || memcmp(b->last.p, data, len) == 0));
    CHECK_EQ(b->last_text, kind == WSM_TEXT);
    CHECK_EQ(b->last_compressed, expect_compressed);
    CHECK(!b->inflate_failed);
    CHECK_EQ(b->inflate_errors, 0);
}

static void round_trips(bool no_context_takeover) {
    static const size_t sizes[] = {0, 1, 31, 32, 33, 200, 1000, 4096, 70000, 300000};
    static const size_t outs[] = {1, 7, 64, 4096};
    pair p;
    codecs cc, sc;
    wsm_config ccfg = deflate_config(), scfg = deflate_config();
    uint8_t *data = malloc(300000);
    size_t i;
    int kind, dir;
    REQUIRE(data != NULL);
    ccfg.deflate.no_context_takeover = no_context_takeover;
    scfg.deflate.no_context_takeover = no_context_takeover;
    if (!open_deflate(&p, &cc, &sc, &ccfg, &scfg)) {
        close_deflate(&p, &cc, &sc);
        free(data);
        return;
    }
    CHECK_EQ(cc.params.compress_resets, no_context_takeover);
    CHECK_EQ(sc.params.compress_resets, no_context_takeover);
    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        int before = t_current_failures();
        /* Small messages arrive a byte at a time and inflate a byte at a time; larger ones
         * in bigger pieces. */
        p.client.read_chunk = p.server.read_chunk = n <= 1000 ? 1 : n < 100000 ? 777 : 0;
        p.client.inflate_out = p.server.inflate_out = outs[i % 4];
        if (n > 10000) p.client.inflate_out = p.server.inflate_out = 64 + i;
        for (kind = WSM_TEXT; kind <= WSM_BINARY; kind++) {
            if (kind == WSM_TEXT)
                fill_utf8(data, n);
            else
                fill_binary(data, n, (uint32_t)(n % 7)); /* short period: compressible */
            for (dir = 0; dir < 2; dir++) {
                if (dir == 0)
                    compressed_once(&p, &p.client, &p.server, cc.def, (uint32_t)kind, data, n,
                                    n >= 32);
                else
                    compressed_once(&p, &p.server, &p.client, sc.def, (uint32_t)kind, data, n,
                                    n >= 32);
            }
        }
        if (t_current_failures() != before) {
            t_fail(__FILE__, __LINE__, "... with %zu bytes", n);
            break;
        }
    }
    CHECK_EQ(p.client.anomalies + p.server.anomalies, 0);
    CHECK_EQ(p.client.read_errors + p.server.read_errors, 0);
    CHECK(p.server.compressed_messages > 10);
    CHECK_EQ(wsm_state(p.client.conn), WSM_OPEN);
    CHECK_EQ(wsm_state(p.server.conn), WSM_OPEN);

    /* The same message twice from the server (unmasked frames): with context takeover the
     * second refers back to the first and is much smaller; without, both are identical. */
    {
        uint8_t out1[4096], out2[4096];
        size_t n1 = 0, n2 = 0;
        fill_binary(data, 1000, 12345); /* incompressible on its own */
        CHECK_OK(wsm_send_compressed(p.server.conn, WSM_BINARY, data, 1000, sc.def, out1,
                                     sizeof out1, &n1));
        CHECK_OK(wsm_send_compressed(p.server.conn, WSM_BINARY, data, 1000, sc.def, out2,
                                     sizeof out2, &n2));
        CHECK(n1 > 1000);
        CHECK((out1[0] & 0x40) && (out2[0] & 0x40)); /* RSV1 */
        if (no_context_takeover) {
            CHECK_EQ(n1, n2);
            CHECK_MEM(out1, out2, n1);
        } else {
            CHECK(n2 < 100);
        }
        bq_append(&p.client.wire, out1, n1);
        bq_append(&p.client.wire, out2, n2);
        pair_settle(&p);
        CHECK_EQ(p.client.last.len, 1000);
        CHECK(p.client.last.len == 1000 && memcmp(p.client.last.p, data, 1000) == 0);
        CHECK(!p.client.inflate_failed);
    }
    free(data);
    close_deflate(&p, &cc, &sc);
}

static void test_deflate_round_trip_context_takeover(void) { round_trips(false); }
static void test_deflate_round_trip_no_context_takeover(void) { round_trips(true); }

/* A message sent in small compressed fragments with tight output buffers, received a byte
 * at a time and inflated a byte at a time. */
static void test_deflate_fragments_with_tiny_buffers(void) {
    pair p;
    codecs cc, sc;
    wsm_config ccfg = deflate_config(), scfg = deflate_config();
    static uint8_t data[20000];
    size_t off = 0, piece = 50;
    int frames = 0;
    if (!open_deflate(&p, &cc, &sc, &ccfg, &scfg)) {
        close_deflate(&p, &cc, &sc);
        return;
    }
    fill_utf8(data, sizeof data);
    p.server.read_chunk = 1;
    p.server.inflate_out = 1;
    while (off < sizeof data) {
        size_t len = sizeof data - off < piece ? sizeof data - off : piece;
        bool fin = off + len == sizeof data;
        size_t cap = wsm_deflater_bound(cc.def, len), n = 0, needed = 0;
        uint8_t *out = malloc(cap);
        REQUIRE(out != NULL);
        /* One byte too few is refused and says what is needed; nothing changes. */
        CHECK_RES(wsm_send_compressed_fragment(p.client.conn, WSM_TEXT, data + off, len, fin,
                                               cc.def, out, cap - 1, &needed),
                  WSM_ERR_BUFFER_TOO_SMALL);
        CHECK(needed == cap);
        n = 0;
        CHECK_OK(wsm_send_compressed_fragment(p.client.conn, WSM_TEXT, data + off, len, fin,
                                              cc.def, out, needed, &n));
        if (frames == 0) CHECK_EQ(out[0], 0x41); /* text, RSV1, not FIN */
        else if (!fin) CHECK_EQ(out[0], 0x00);   /* continuation, no RSV1 */
        else CHECK_EQ(out[0], 0x80);
        bq_append(&p.server.wire, out, n);
        free(out);
        frames++;
        off += len;
        pair_settle(&p);
    }
    CHECK_EQ(p.server.messages, 1);
    CHECK_EQ(p.server.last.len, sizeof data);
    CHECK(p.server.last.len == sizeof data && memcmp(p.server.last.p, data, sizeof data) == 0);
    CHECK(p.server.last_text && p.server.last_compressed);
    CHECK_EQ(p.server.anomalies, 0);
    CHECK(p.server.compressed_chunks > frames); /* frames split across 1-byte reads */
    /* Mixing kinds within a compressed message is refused. */
    {
        uint8_t out[512];
        size_t n = 0;
        CHECK_OK(wsm_send_compressed_fragment(p.client.conn, WSM_BINARY, data, 100, false, cc.def,
                                              out, sizeof out, &n));
        CHECK_RES(wsm_send_compressed_fragment(p.client.conn, WSM_TEXT, data, 100, true, cc.def,
                                               out, sizeof out, &n),
                  WSM_ERR_MESSAGE_STATE);
        CHECK_RES(wsm_send_compressed(p.client.conn, WSM_TEXT, data, 100, cc.def, out,
                                      sizeof out, &n),
                  WSM_ERR_MESSAGE_STATE);
    }
    close_deflate(&p, &cc, &sc);
}

/* One compressor shared by the server side of two connections on which the server keeps no
 * context; refused where it keeps context; busy while one connection is mid-message. */
static void test_deflate_shared_compressor(void) {
    pair a, b, k;
    codecs ac, as, bc, bs, kc, ks;
    wsm_config ccfg = deflate_config(), scfg = deflate_config(), keep = deflate_config();
    static _Alignas(64) unsigned char mem[300 * 1024];
    wsm_deflater *shared = NULL;
    static uint8_t data[5000];
    uint8_t out[8192];
    size_t n = 0;
    int i;
    scfg.deflate.no_context_takeover = 1;
    REQUIRE(open_deflate(&a, &ac, &as, &ccfg, &scfg));
    REQUIRE(open_deflate(&b, &bc, &bs, &ccfg, &scfg));
    REQUIRE(open_deflate(&k, &kc, &ks, &ccfg, &keep));
    CHECK(as.params.compress_resets && bs.params.compress_resets && !ks.params.compress_resets);
    REQUIRE(wsm_deflater_size(15, 6) <= sizeof mem);
    REQUIRE_OK(wsm_deflater_init(mem, sizeof mem, 15, 6, true, &shared));
    for (i = 0; i < 6; i++) {
        fill_binary(data, sizeof data, (uint32_t)(i % 3));
        compressed_once(&a, &a.server, &a.client, shared, WSM_BINARY, data, sizeof data, true);
        compressed_once(&b, &b.server, &b.client, shared, WSM_BINARY, data, sizeof data, true);
    }
    CHECK_RES(wsm_send_compressed(k.server.conn, WSM_BINARY, data, sizeof data, shared, out,
                                  sizeof out, &n),
              WSM_ERR_SHARED_CONTEXT);
    /* a is in the middle of a fragmented message: b must wait, a may go on. */
    CHECK_OK(wsm_send_compressed_fragment(a.server.conn, WSM_TEXT, (const uint8_t *)"hello ", 6,
                                          false, shared, out, sizeof out, &n));
    bq_append(&a.client.wire, out, n);
    CHECK_RES(wsm_send_compressed(b.server.conn, WSM_BINARY, data, sizeof data, shared, out,
                                  sizeof out, &n),
              WSM_ERR_CODEC_BUSY);
    CHECK_OK(wsm_send_compressed_fragment(a.server.conn, WSM_TEXT, (const uint8_t *)"world", 5,
                                          true, shared, out, sizeof out, &n));
    bq_append(&a.client.wire, out, n);
    pair_settle(&a);
    CHECK_BYTES_STR(a.client.last.p, a.client.last.len, "hello world");
    compressed_once(&b, &b.server, &b.client, shared, WSM_BINARY, data, sizeof data, true);
    /* wsm_deflater_reset frees a compressor left mid-message by a connection. */
    CHECK_OK(wsm_send_compressed_fragment(a.server.conn, WSM_TEXT, (const uint8_t *)"x", 1,
                                          false, shared, out, sizeof out, &n));
    CHECK_RES(wsm_send_compressed(b.server.conn, WSM_BINARY, data, sizeof data, shared, out,
                                  sizeof out, &n),
              WSM_ERR_CODEC_BUSY);
    CHECK_OK(wsm_deflater_reset(shared));
    compressed_once(&b, &b.server, &b.client, shared, WSM_BINARY, data, sizeof data, true);
    CHECK_EQ(a.client.anomalies + b.client.anomalies, 0);
    close_deflate(&a, &ac, &as);
    close_deflate(&b, &bc, &bs);
    close_deflate(&k, &kc, &ks);
}

/* The compressed payload of one frame written by `send` from a server (unmasked). */
static size_t server_payload(const uint8_t *frame, size_t n, const uint8_t **payload) {
    size_t len = frame[1] & 0x7F, h = 2;
    if (len == 126) {
        len = (size_t)frame[2] << 8 | frame[3];
        h = 4;
    } else if (len == 127) {
        return 0;
    }
    if (h + len != n) return 0;
    *payload = frame + h;
    return len;
}

static void test_deflate_corrupt_data_fails_with_1007(void) {
    pair p;
    codecs cc, sc;
    wsm_config ccfg = deflate_config(), scfg = deflate_config();
    uint8_t frame[600], out[600], bad[8] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
    uint16_t code = 0;
    size_t n = 0, reason_len = 0, len;
    const uint8_t *payload = NULL;
    int variant;
    for (variant = 0; variant < 2; variant++) {
        REQUIRE(open_deflate(&p, &cc, &sc, &ccfg, &scfg));
        if (variant == 0) {
            /* Not deflate data at all (0xFF: a block type 3). */
            n = make_frame(frame, 0xC2, MASK, bad, sizeof bad);
        } else {
            /* Well-formed deflate data of text that is not UTF-8: compressed by the client's
             * peer as binary, sent back as a text frame. */
            static uint8_t latin1[200];
            memset(latin1, 0xE9, sizeof latin1);
            CHECK_OK(wsm_send_compressed(p.server.conn, WSM_BINARY, latin1, sizeof latin1,
                                         sc.def, out, sizeof out, &n));
            len = server_payload(out, n, &payload);
            REQUIRE(len > 0 && len < 500);
            n = make_frame(frame, 0xC1, MASK, payload, len);
        }
        bq_append(&p.server.wire, frame, n);
        ep_pump(&p.server, &p.client);
        CHECK(p.server.inflate_failed);
        CHECK_EQ(p.server.inflate_error,
                 variant == 0 ? WSM_PE_INVALID_COMPRESSED_DATA : WSM_PE_INVALID_UTF8);
        CHECK_EQ(p.server.inflate_code, 1007);
        CHECK_EQ(p.server.messages, 0);
        /* The close frame went out with ep_pump's flush. */
        CHECK(parse_close_frame(p.client.wire.p, p.client.wire.len, &code, NULL, &reason_len));
        CHECK_EQ(code, 1007);
        CHECK_EQ(wsm_close_status(p.server.conn), 1007);
        /* The connection has failed: no more inflating. */
        {
            wsm_event ev;
            wsm_inflated r;
            memset(&ev, 0, sizeof ev);
            ev.kind = WSM_EVENT_DATA;
            ev.flags = WSM_FLAG_COMPRESSED | WSM_FLAG_MESSAGE_START | WSM_FLAG_MESSAGE_FIN |
                       WSM_FLAG_FRAME_FIN;
            CHECK_RES(wsm_inflate(p.server.conn, 0, sc.inf, &ev, bad, 1, out, sizeof out, &r),
                      WSM_ERR_INVALID_STATE);
        }
        close_deflate(&p, &cc, &sc);
    }
}

/* A small frame that inflates past max_message_size: 1009, after inflating no more than the
 * limit. */
static void test_deflate_bomb_fails_with_1009(void) {
    pair p;
    codecs cc, sc;
    wsm_config ccfg = deflate_config(), scfg = deflate_config();
    uint8_t *zeros = calloc(1, 4u << 20);
    uint16_t code = 0;
    size_t reason_len = 0, wire_len;
    REQUIRE(zeros != NULL);
    scfg.max_message_size = 100000;
    if (!open_deflate(&p, &cc, &sc, &ccfg, &scfg)) {
        free(zeros);
        close_deflate(&p, &cc, &sc);
        return;
    }
    CHECK_OK(ep_send_compressed(&p.client, &p.server, cc.def, WSM_BINARY, zeros, 4u << 20));
    wire_len = p.server.wire.len;
    CHECK(wire_len < 10000); /* 4 MiB of zeros compress to a few KiB */
    p.server.inflate_out = 1000;
    ep_pump(&p.server, &p.client);
    CHECK(p.server.inflate_failed);
    CHECK_EQ(p.server.inflate_error, WSM_PE_MESSAGE_TOO_LARGE);
    CHECK_EQ(p.server.inflate_code, 1009);
    CHECK(p.server.msg.len <= 100000);
    CHECK_EQ(p.server.messages, 0);
    CHECK(parse_close_frame(p.client.wire.p, p.client.wire.len, &code, NULL, &reason_len));
    CHECK_EQ(code, 1009);
    free(zeros);
    close_deflate(&p, &cc, &sc);
}

static void test_deflate_null_and_wrong_arguments(void) {
    pair p, plain;
    codecs cc, sc;
    wsm_config ccfg = deflate_config(), scfg = deflate_config();
    wsm_deflate_params dp;
    wsm_event ev;
    wsm_inflated r;
    uint8_t out[256], data[64] = {0};
    static _Alignas(64) unsigned char small[64 * 1024];
    wsm_inflater *small_inf = NULL;
    wsm_deflater *big_def = NULL;
    static _Alignas(64) unsigned char big[300 * 1024];
    size_t n = 0;
    ccfg.deflate.decompress_window_bits = 12;
    ccfg.deflate.compress_window_bits = 12;
    REQUIRE(open_deflate(&p, &cc, &sc, &ccfg, &scfg));
    memset(&ev, 0, sizeof ev);
    ev.kind = WSM_EVENT_DATA;
    ev.flags = WSM_FLAG_COMPRESSED | WSM_FLAG_MESSAGE_START | WSM_FLAG_FRAME_FIN |
               WSM_FLAG_MESSAGE_FIN;

    CHECK_RES(wsm_get_deflate(NULL, &dp), WSM_ERR_NULL);
    CHECK_RES(wsm_get_deflate(p.client.conn, NULL), WSM_ERR_NULL);
    CHECK_RES(wsm_inflate(NULL, 0, cc.inf, &ev, data, 1, out, sizeof out, &r), WSM_ERR_NULL);
    CHECK_RES(wsm_inflate(p.client.conn, 0, NULL, &ev, data, 1, out, sizeof out, &r),
              WSM_ERR_NULL);
    CHECK_RES(wsm_inflate(p.client.conn, 0, cc.inf, NULL, data, 1, out, sizeof out, &r),
              WSM_ERR_NULL);
    CHECK_RES(wsm_inflate(p.client.conn, 0, cc.inf, &ev, NULL, 1, out, sizeof out, &r),
              WSM_ERR_NULL);
    CHECK_RES(wsm_inflate(p.client.conn, 0, cc.inf, &ev, data, 1, NULL, sizeof out, &r),
              WSM_ERR_NULL);
    CHECK_RES(wsm_inflate(p.client.conn, 0, cc.inf, &ev, data, 1, out, sizeof out, NULL),
              WSM_ERR_NULL);
    CHECK_RES(wsm_inflate(p.client.conn, 0, (wsm_inflater *)(void *)cc.def, &ev, data, 1, out,
                          sizeof out, &r),
              WSM_ERR_INVALID_HANDLE);
    CHECK_RES(wsm_send_compressed(NULL, WSM_TEXT, data, 1, cc.def, out, sizeof out, &n),
              WSM_ERR_NULL);
    CHECK_RES(wsm_send_compressed(p.client.conn, WSM_TEXT, data, 1, NULL, out, sizeof out, &n),
              WSM_ERR_NULL);
    CHECK_RES(wsm_send_compressed(p.client.conn, WSM_TEXT, NULL, 1, cc.def, out, sizeof out, &n),
              WSM_ERR_NULL);
    CHECK_RES(wsm_send_compressed(p.client.conn, WSM_TEXT, data, 1, cc.def, NULL, sizeof out, &n),
              WSM_ERR_NULL);
    CHECK_RES(wsm_send_compressed(p.client.conn, WSM_TEXT, data, 1, cc.def, out, sizeof out,
                                  NULL),
              WSM_ERR_NULL);
    CHECK_RES(wsm_send_compressed(p.client.conn, 7, data, 1, cc.def, out, sizeof out, &n),
              WSM_ERR_INVALID_ARGUMENT);
    CHECK_RES(wsm_send_compressed(p.client.conn, WSM_BINARY, data, 1,
                                  (wsm_deflater *)(void *)cc.inf, out, sizeof out, &n),
              WSM_ERR_INVALID_HANDLE);
    CHECK_RES(wsm_send_compressed_fragment(p.client.conn, WSM_TEXT, data, 1, true, NULL, out,
                                           sizeof out, &n),
              WSM_ERR_NULL);
    CHECK_RES(wsm_set_deflate(NULL, NULL), WSM_ERR_NULL);
    /* Not compressed: another event kind, or a data event without the flag. */
    ev.kind = WSM_EVENT_PING;
    CHECK_RES(wsm_inflate(p.client.conn, 0, cc.inf, &ev, data, 1, out, sizeof out, &r),
              WSM_ERR_NOT_COMPRESSED);
    ev.kind = WSM_EVENT_DATA;
    ev.flags &= ~WSM_FLAG_COMPRESSED;
    CHECK_RES(wsm_inflate(p.client.conn, 0, cc.inf, &ev, data, 1, out, sizeof out, &r),
              WSM_ERR_NOT_COMPRESSED);
    ev.flags |= WSM_FLAG_COMPRESSED;
    /* The client asked for a 12-bit server window: an 11-bit inflater is too small. */
    REQUIRE_OK(wsm_inflater_init(small, sizeof small, 11, &small_inf));
    CHECK_EQ(cc.params.inflate_window_bits, 12);
    CHECK_OK(wsm_get_deflate(p.server.conn, &dp));
    CHECK_EQ(dp.compress_window_bits, 12);
    CHECK_RES(wsm_inflate(p.client.conn, 0, small_inf, &ev, data, 1, out, sizeof out, &r),
              WSM_ERR_NOT_COMPRESSED);
    /* A 15-bit compressor may not send where 12 bits were agreed. */
    REQUIRE_OK(wsm_deflater_init(big, sizeof big, 15, 6, false, &big_def));
    CHECK_RES(wsm_send_compressed(p.client.conn, WSM_BINARY, data, sizeof data, big_def, out,
                                  sizeof out, &n),
              WSM_ERR_NOT_COMPRESSED);
    /* Outgoing text must be UTF-8. */
    data[0] = 0xFF;
    CHECK_RES(wsm_send_compressed(p.client.conn, WSM_TEXT, data, sizeof data, cc.def, out,
                                  sizeof out, &n),
              WSM_ERR_INVALID_UTF8);
    close_deflate(&p, &cc, &sc);

    /* Without an agreed extension: sends are plain frames, inflating is refused. */
    memset(&plain, 0, sizeof plain);
    REQUIRE(pair_open(&plain, NULL, NULL));
    big_def = NULL;
    REQUIRE_OK(wsm_deflater_init(big, sizeof big, 15, 6, false, &big_def));
    CHECK_OK(wsm_send_compressed(plain.client.conn, WSM_BINARY, data, sizeof data, big_def, out,
                                 sizeof out, &n));
    CHECK_EQ(out[0], 0x82);
    CHECK_EQ(n, 2 + 4 + sizeof data);
    CHECK_RES(wsm_inflate(plain.server.conn, 0, small_inf, &ev, data, 1, out, sizeof out, &r),
              WSM_ERR_NOT_COMPRESSED);
    pair_free(&plain);
}

/* Connections opened elsewhere (wsm_conn_init with open) get their parameters with
 * wsm_set_deflate. */
static void test_deflate_set_params_on_open_connections(void) {
    endpoint c, s;
    pair p;
    codecs cc, sc;
    wsm_deflate_params dp, got;
    uint8_t seed[16];
    static uint8_t data[3000];
    memset(&c, 0, sizeof c);
    memset(&s, 0, sizeof s);
    memset(&dp, 0, sizeof dp);
    test_random16(seed);
    REQUIRE_OK(wsm_conn_init(c.mem, sizeof c.mem, WSM_ROLE_CLIENT, NULL, 0, seed, true, &c.conn));
    REQUIRE_OK(wsm_conn_init(s.mem, sizeof s.mem, WSM_ROLE_SERVER, NULL, 0, NULL, true, &s.conn));
    dp.agreed = true;
    dp.server_max_window_bits = 16;
    dp.client_max_window_bits = 10;
    CHECK_RES(wsm_set_deflate(c.conn, &dp), WSM_ERR_INVALID_ARGUMENT);
    dp.server_max_window_bits = 9;
    dp.client_no_context_takeover = true;
    CHECK_OK(wsm_set_deflate(c.conn, &dp));
    CHECK_OK(wsm_set_deflate(s.conn, &dp));
    CHECK_OK(wsm_get_deflate(c.conn, &got));
    CHECK(got.agreed && got.compress_window_bits == 10 && got.inflate_window_bits == 9);
    CHECK(got.compress_resets && !got.inflate_resets);
    CHECK_EQ(got.level, 6);
    p.client = c;
    p.server = s;
    p.client.conn = (wsm_conn *)(void *)p.client.mem; /* moved with the struct copy */
    p.server.conn = (wsm_conn *)(void *)p.server.mem;
    p.client.name = "client";
    p.server.name = "server";
    REQUIRE(codecs_init(&cc, &p.client) && codecs_init(&sc, &p.server));
    fill_utf8(data, sizeof data);
    compressed_once(&p, &p.client, &p.server, cc.def, WSM_TEXT, data, sizeof data, true);
    compressed_once(&p, &p.server, &p.client, sc.def, WSM_TEXT, data, sizeof data, true);
    /* NULL turns it off again (no message in progress). */
    CHECK_OK(wsm_set_deflate(p.client.conn, NULL));
    CHECK_OK(wsm_get_deflate(p.client.conn, &got));
    CHECK(!got.agreed);
    close_deflate(&p, &cc, &sc);
}

void run_deflate_tests(void) {
    RUN(test_deflate_codec_memory);
    RUN(test_deflate_bad_config_is_refused);
    RUN(test_deflate_negotiation);
    RUN(test_deflate_bad_response_fails_the_client);
    RUN(test_deflate_round_trip_context_takeover);
    RUN(test_deflate_round_trip_no_context_takeover);
    RUN(test_deflate_fragments_with_tiny_buffers);
    RUN(test_deflate_shared_compressor);
    RUN(test_deflate_corrupt_data_fails_with_1007);
    RUN(test_deflate_bomb_fails_with_1009);
    RUN(test_deflate_null_and_wrong_arguments);
    RUN(test_deflate_set_params_on_open_connections);
}
