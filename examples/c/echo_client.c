/*
 * echo_client — a WebSocket client in C on libwsmachine.
 *
 *   echo_client autobahn [--url ws://127.0.0.1:9002] [--agent NAME] [--no-deflate]
 *       Drives the Autobahn|Testsuite fuzzingserver: GET /getCaseCount (one text message,
 *       N), then /runCase?case=n&agent=NAME for n = 1..N, echoing every message until the
 *       server closes, then /updateReports?agent=NAME. Without the flags, the environment
 *       variables AUTOBAHN_URL and AUTOBAHN_AGENT are used (defaults: ws://127.0.0.1:9002,
 *       wsmachine-c).
 *
 *   echo_client send --url ws://127.0.0.1:9001/ [--count N] [--size BYTES]
 *                    [--subprotocol NAME] [--no-deflate]
 *       Sends N messages (alternately text and binary, BYTES long, streamed with
 *       wsm_begin_frame / wsm_send_payload, or in compressed fragments with
 *       wsm_send_compressed_fragment when permessage-deflate was agreed), checks each echo as
 *       it streams in, then closes with 1000. Exit status 0 when every echo matched and the
 *       close was clean.
 *
 * permessage-deflate (RFC 7692) is offered unless --no-deflate is given. When the server
 * agrees, an inflater and a compressor are made on the heap, sized from what was agreed
 * (wsm_get_deflate); compressed messages are inflated a piece at a time (wsm_inflate into a
 * fixed buffer), and in autobahn mode each piece is echoed compressed
 * (wsm_send_compressed_fragment). The output buffer is on the heap: it grows only when a
 * compressed fragment's worst-case size (wsm_deflater_bound) exceeds it while it is empty.
 *
 * One connection at a time, non-blocking socket and poll(2). The handle lives in a static
 * buffer (wsm_conn_init) and payload streams through fixed buffers: memory use does not
 * depend on message size. Randomness (the masking seed, the Sec-WebSocket-Key) comes from
 * /dev/urandom.
 *
 * Build: see scripts/tools/build-c-examples.sh (links libwsmachine.a, -lpthread -ldl -lm).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "wsmachine.h"

#define RX_CAP (16 * 1024)
#define TX_CAP (4 * RX_CAP)
#define TX_RESERVE (RX_CAP + 512)
#define HANDLE_MEM 1024
/* permessage-deflate: inflated bytes per wsm_inflate call, room kept for control frames. */
#define PLAIN_CAP (16 * 1024)
#define CTRL_ROOM 512
#define FLUSH_MS 5000
#define DRAIN_MS 1000

enum mode {
    MODE_ECHO,  /* echo every message (Autobahn cases) */
    MODE_COUNT, /* keep the first text message (getCaseCount) */
    MODE_QUIET, /* just follow the server to its close (updateReports) */
    MODE_SEND,  /* send messages and check their echoes */
};

struct session {
    _Alignas(16) unsigned char mem[HANDLE_MEM];
    wsm_conn *ws;
    int fd;
    enum mode mode;
    bool open;     /* the opening handshake is over (accepted or rejected) */
    bool accepted; /* ... and it was accepted */
    wsm_client_request req;
    uint8_t rx[RX_CAP];
    size_t rx_len;
    uint8_t *tx; /* heap, tx_cap bytes */
    size_t tx_cap;
    size_t tx_off, tx_len;
    /* permessage-deflate (NULL when not agreed) */
    void *inflater_mem, *deflater_mem;
    wsm_inflater *inflater;
    wsm_deflater *deflater;
    /* A compressed chunk (copied from rx) still being inflated: zin[zin_off .. zin_len). */
    bool zpending;
    wsm_event zev;
    uint8_t zin[RX_CAP];
    size_t zin_off, zin_len;
    uint8_t plain[PLAIN_CAP];
    unsigned long long compressed_messages;
    /* MODE_COUNT */
    char text[32];
    size_t text_len;
    bool got_text;
    /* MODE_SEND */
    unsigned long count, size; /* messages to send, bytes each */
    unsigned long sent;        /* messages whose frame has been started */
    uint64_t send_left;        /* payload bytes of the current outgoing message still to go */
    unsigned long echoed;      /* echoes received completely */
    uint64_t echo_pos;         /* bytes of the current echo checked */
    bool mismatch, closing;
    /* Stats */
    unsigned long long messages;
};

static struct session S; /* one connection at a time, in static memory */
static wsm_config config;
static bool no_deflate;
static volatile sig_atomic_t stop_requested;

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void on_signal(int sig) {
    (void)sig;
    stop_requested = 1;
}

static int random_bytes(uint8_t *p, size_t n) {
    int fd = open("/dev/urandom", O_RDONLY);
    size_t got = 0;
    if (fd < 0) return -1;
    while (got < n) {
        ssize_t r = read(fd, p + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            close(fd);
            return -1;
        }
        got += (size_t)r;
    }
    close(fd);
    return 0;
}

/* ws://host[:port][/path] → host, port, path. */
static int parse_url(const char *url, char *host, size_t hcap, char *port, size_t pcap,
                     char *path, size_t pathcap) {
    const char *p, *end, *colon;
    size_t hl;
    if (strncmp(url, "ws://", 5) != 0) return -1;
    p = url + 5;
    end = strchr(p, '/');
    if (!end) end = p + strlen(p);
    colon = memchr(p, ':', (size_t)(end - p));
    hl = (size_t)((colon ? colon : end) - p);
    if (hl == 0 || hl >= hcap) return -1;
    memcpy(host, p, hl);
    host[hl] = 0;
    if (colon) {
        size_t pl = (size_t)(end - colon - 1);
        if (pl == 0 || pl >= pcap) return -1;
        memcpy(port, colon + 1, pl);
        port[pl] = 0;
    } else {
        snprintf(port, pcap, "80");
    }
    snprintf(path, pathcap, "%s", *end ? end : "/");
    return 0;
}

static int connect_tcp(const char *host, const char *port) {
    struct addrinfo hints, *res, *ai;
    int fd = -1, one = 1, rc, fl;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "echo_client: %s:%s: %s\n", host, port, gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0) continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        fprintf(stderr, "echo_client: cannot connect to %s:%s: %s\n", host, port,
                strerror(errno));
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fl = fcntl(fd, F_GETFL, 0);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    return fd;
}

static size_t tx_pending(const struct session *s) { return s->tx_len - s->tx_off; }

static size_t tx_space(struct session *s) {
    if (s->tx_off > 0 && s->tx_off == s->tx_len) {
        s->tx_off = s->tx_len = 0;
    } else if (s->tx_off > 0 && s->tx_cap - s->tx_len < TX_RESERVE) {
        memmove(s->tx, s->tx + s->tx_off, s->tx_len - s->tx_off);
        s->tx_len -= s->tx_off;
        s->tx_off = 0;
    }
    return s->tx_cap - s->tx_len;
}


static void *codec_alloc(size_t size, size_t align) {
    if (align < sizeof(void *)) align = sizeof(void *);
    return aligned_alloc(align, (size + align - 1) / align * align);
}

/* After the handshake: codecs sized from what was agreed (none if nothing was). */
static bool make_codecs(struct session *s) {
    wsm_deflate_params p;
    size_t isz, dsz;
    if (wsm_get_deflate(s->ws, &p) != WSM_OK || !p.agreed) return true;
    isz = wsm_inflater_size(p.inflate_window_bits);
    dsz = wsm_deflater_size(p.compress_window_bits, p.level);
    s->inflater_mem = codec_alloc(isz, wsm_inflater_align());
    s->deflater_mem = codec_alloc(dsz, wsm_deflater_align());
    if (!s->inflater_mem || !s->deflater_mem) return false;
    return wsm_inflater_init(s->inflater_mem, isz, p.inflate_window_bits, &s->inflater) ==
               WSM_OK &&
           wsm_deflater_init(s->deflater_mem, dsz, p.compress_window_bits, p.level, false,
                             &s->deflater) == WSM_OK;
}

static void free_session(struct session *s) {
    free(s->inflater_mem);
    free(s->deflater_mem);
    free(s->tx);
    s->inflater_mem = s->deflater_mem = NULL;
    s->inflater = NULL;
    s->deflater = NULL;
    s->tx = NULL;
    s->tx_cap = 0;
}

/* Sends what the socket takes; false on an error. */
static bool flush_tx(struct session *s) {
    while (tx_pending(s) > 0) {
        ssize_t n = send(s->fd, s->tx + s->tx_off, tx_pending(s), MSG_NOSIGNAL);
        if (n > 0)
            s->tx_off += (size_t)n;
        else if (n < 0 && errno == EINTR)
            continue;
        else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return true;
        else
            return false;
    }
    s->tx_off = s->tx_len = 0;
    return true;
}

/* Whether `need` bytes of output space are free; an empty buffer that is still too small
 * grows (a compressed fragment's bound can exceed TX_CAP). */
static bool tx_room(struct session *s, size_t need) {
    uint8_t *p;
    if (tx_space(s) >= need) return true;
    /* Send what the socket takes now; grow only an empty buffer (with headroom, as the
     * bound grows while a compressor holds input back). */
    if (!flush_tx(s) || s->tx_off < s->tx_len) return false;
    if (tx_space(s) >= need) return true;
    s->tx_off = s->tx_len = 0;
    p = realloc(s->tx, need + need / 2);
    if (!p) return false;
    s->tx = p;
    s->tx_cap = need + need / 2;
    return true;
}

/* Moves queued control frames to the output buffer. */
static bool take_queued(struct session *s) {
    for (;;) {
        size_t n = 0;
        wsm_result r = wsm_poll_transmit(s->ws, s->tx + s->tx_len, tx_space(s), &n);
        if (r == WSM_ERR_BUFFER_TOO_SMALL) return true;
        if (r != WSM_OK) {
            fprintf(stderr, "echo_client: wsm_poll_transmit: %s\n", wsm_result_str(r));
            return false;
        }
        if (n == 0) return true;
        s->tx_len += n;
    }
}

/* MODE_SEND: byte `i` of message `m` (text: printable ASCII). */
static uint8_t pattern(unsigned long m, uint64_t i) {
    return (uint8_t)('!' + (m * 7u + i * 13u + (i >> 8)) % 94u);
}

/* MODE_SEND: streams the next part of the outgoing messages. */
static bool send_more(struct session *s) {
    while (s->sent <= s->count && tx_space(s) >= TX_RESERVE && !s->closing) {
        size_t n = 0;
        wsm_result r;
        if (s->deflater) {
            /* Compressed: the message goes out in fragments of up to 4 KiB of input. */
            uint8_t chunk[4096];
            uint64_t off;
            size_t k, len;
            bool fin;
            if (s->send_left == 0) {
                if (s->sent == s->count || s->echoed < s->sent) return true;
                s->sent++;
                s->send_left = s->size;
                s->echo_pos = 0;
            }
            off = s->size - s->send_left;
            len = s->send_left < sizeof chunk ? (size_t)s->send_left : sizeof chunk;
            fin = len == s->send_left;
            if (!tx_room(s, wsm_deflater_bound(s->deflater, len) + CTRL_ROOM)) return true;
            for (k = 0; k < len; k++) chunk[k] = pattern(s->sent - 1, off + k);
            r = wsm_send_compressed_fragment(s->ws, ((s->sent - 1) % 2) ? WSM_BINARY : WSM_TEXT,
                                             chunk, len, fin, s->deflater, s->tx + s->tx_len,
                                             tx_space(s), &n);
            if (r != WSM_OK) {
                fprintf(stderr, "echo_client: wsm_send_compressed_fragment: %s\n",
                        wsm_result_str(r));
                return false;
            }
            s->tx_len += n;
            s->send_left -= len;
            continue;
        }
        if (s->send_left == 0) {
            if (s->sent == s->count || s->echoed < s->sent) return true; /* one at a time */
            r = wsm_begin_frame(s->ws, (s->sent % 2) ? WSM_BINARY : WSM_TEXT, true, s->size,
                                s->tx + s->tx_len, tx_space(s), &n);
            if (r != WSM_OK) {
                fprintf(stderr, "echo_client: wsm_begin_frame: %s\n", wsm_result_str(r));
                return false;
            }
            s->tx_len += n;
            s->sent++;
            s->send_left = s->size;
            s->echo_pos = 0;
            if (s->size == 0) continue;
        }
        {
            uint8_t chunk[4096];
            uint64_t off = s->size - s->send_left;
            size_t k, len = s->send_left < sizeof chunk ? (size_t)s->send_left : sizeof chunk;
            for (k = 0; k < len; k++) chunk[k] = pattern(s->sent - 1, off + k);
            r = wsm_send_payload(s->ws, chunk, len, s->tx + s->tx_len, tx_space(s), &n);
            if (r != WSM_OK) {
                fprintf(stderr, "echo_client: wsm_send_payload: %s\n", wsm_result_str(r));
                return false;
            }
            s->tx_len += n;
            s->send_left -= len;
        }
    }
    return true;
}

/* A piece of a message: `flags` of its event, `fin` on the last piece; `compressed`: it was
 * inflated from a compressed message. */
static void on_data(struct session *s, uint32_t flags, const uint8_t *data, size_t len,
                    bool fin, bool compressed) {
    size_t n = 0, k;
    uint32_t kind = (flags & WSM_FLAG_TEXT) ? WSM_TEXT : WSM_BINARY;
    wsm_result r;
    const wsm_event tmp = {WSM_EVENT_DATA, flags, data, len, 0, 0, WSM_PE_NONE};
    const wsm_event *ev = &tmp;
    switch (s->mode) {
    case MODE_ECHO:
        if (compressed) /* echoed compressed */
            r = wsm_send_compressed_fragment(s->ws, kind, data, len, fin, s->deflater,
                                             s->tx + s->tx_len, tx_space(s), &n);
        else
            r = wsm_send_fragment(s->ws, kind, data, len, fin, s->tx + s->tx_len, tx_space(s),
                                  &n);
        if (r == WSM_OK)
            s->tx_len += n;
        else
            fprintf(stderr, "echo_client: echo: %s\n", wsm_result_str(r));
        break;
    case MODE_COUNT:
        if (!s->got_text && (ev->flags & WSM_FLAG_TEXT)) {
            for (k = 0; k < ev->len && s->text_len + 1 < sizeof s->text; k++)
                s->text[s->text_len++] = (char)ev->data[k];
            s->text[s->text_len] = 0;
            if (fin) s->got_text = true;
        }
        break;
    case MODE_SEND: {
        unsigned long m = s->echoed;
        bool want_text = (m % 2) == 0;
        if (((ev->flags & WSM_FLAG_TEXT) != 0) != want_text) s->mismatch = true;
        for (k = 0; k < ev->len; k++)
            if (ev->data[k] != pattern(m, s->echo_pos + k)) s->mismatch = true;
        s->echo_pos += ev->len;
        if (fin) {
            if (s->echo_pos != s->size) s->mismatch = true;
            s->echoed++;
            s->echo_pos = 0;
        }
        break;
    }
    case MODE_QUIET:
        break;
    }
    if (fin) s->messages++;
    if (fin && compressed) s->compressed_messages++;
}

/* Inflates the pending compressed chunk while there is output space. False on an error. */
static bool pump_inflate(struct session *s, uint64_t now) {
    while (s->zpending) {
        wsm_inflated r;
        bool last;
        wsm_result res;
        if (!tx_room(s, wsm_deflater_bound(s->deflater, PLAIN_CAP) + CTRL_ROOM))
            return true; /* resumed when the output has drained */
        res = wsm_inflate(s->ws, now, s->inflater, &s->zev, s->zin + s->zin_off,
                          s->zin_len - s->zin_off, s->plain, PLAIN_CAP, &r);
        if (res != WSM_OK) {
            fprintf(stderr, "echo_client: wsm_inflate: %s\n", wsm_result_str(res));
            return false;
        }
        if (r.failed != WSM_PE_NONE) {
            fprintf(stderr, "echo_client: inflate failed (protocol error %u), closing with %u\n",
                    (unsigned)r.failed, (unsigned)r.close_code);
            s->zpending = false;
            return true;
        }
        s->zin_off += r.consumed;
        last = r.done && (s->zev.flags & WSM_FLAG_MESSAGE_FIN);
        if (r.produced > 0 || last) on_data(s, s->zev.flags, s->plain, r.produced, last, true);
        if (r.done) s->zpending = false;
    }
    return true;
}

/* Feeds the input buffer to the library. */
static bool process(struct session *s, uint64_t now) {
    size_t off = 0;
    if (!s->open) {
        wsm_header h[WSM_MAX_HEADERS];
        wsm_response resp;
        bool complete = false;
        wsm_result r = wsm_read_response(s->ws, now, &s->req, s->rx, s->rx_len, h,
                                         WSM_MAX_HEADERS, &resp, &complete);
        if (r == WSM_ERR_HANDSHAKE) {
            wsm_failure_info fi;
            wsm_failure(s->ws, &fi);
            fprintf(stderr, "echo_client: invalid handshake response (error %u)\n",
                    (unsigned)fi.handshake_error);
            return true; /* wsm_should_close_transport() is now true */
        }
        if (r != WSM_OK) {
            fprintf(stderr, "echo_client: wsm_read_response: %s\n", wsm_result_str(r));
            return false;
        }
        if (!complete) return true;
        s->open = true;
        s->accepted = resp.accepted;
        if (resp.accepted && !make_codecs(s)) {
            fprintf(stderr, "echo_client: out of memory for the permessage-deflate codecs\n");
            return false;
        }
        if (!resp.accepted)
            fprintf(stderr, "echo_client: rejected: %u %.*s: %.*s\n", (unsigned)resp.status,
                    (int)resp.reason.len, resp.reason.ptr, (int)resp.body_len,
                    (const char *)resp.body);
        off = resp.consumed;
    }
    if (!pump_inflate(s, now)) return false;
    while (!s->zpending && tx_space(s) >= TX_RESERVE) {
        size_t consumed = 0;
        wsm_event ev;
        wsm_result r = wsm_read(s->ws, now, s->rx + off, s->rx_len - off, &consumed, &ev);
        if (r != WSM_OK) {
            fprintf(stderr, "echo_client: wsm_read: %s\n", wsm_result_str(r));
            return false;
        }
        off += consumed;
        if (ev.kind == WSM_EVENT_NONE) break;
        if (ev.kind == WSM_EVENT_DATA && (ev.flags & WSM_FLAG_COMPRESSED) && s->inflater) {
            /* Inflated from a copy, so that rx can move on meanwhile. */
            memcpy(s->zin, ev.data, ev.len);
            s->zev = ev;
            s->zev.data = s->zin;
            s->zin_off = 0;
            s->zin_len = ev.len;
            s->zpending = true;
            if (!pump_inflate(s, now)) return false;
        } else if (ev.kind == WSM_EVENT_DATA) {
            on_data(s, ev.flags, ev.data, ev.len, (ev.flags & WSM_FLAG_MESSAGE_FIN) != 0, false);
        } else if (ev.kind == WSM_EVENT_REJECT_BODY) {
            fprintf(stderr, "echo_client: %.*s", (int)ev.len, (const char *)ev.data);
        } else if (ev.kind == WSM_EVENT_FAILED) {
            fprintf(stderr, "echo_client: protocol error %u, closing with %u\n",
                    (unsigned)ev.error, (unsigned)ev.close_code);
        }
        /* The library answers pings itself but keeps only the latest pong: take each one
         * before the next ping arrives. Close replies are taken the same way. */
        if (!take_queued(s)) return false;
    }
    memmove(s->rx, s->rx + off, s->rx_len - off);
    s->rx_len -= off;
    return true;
}

/* After wsm_should_close_transport(): flush, shut down our side, drain, close. */
static void finish_transport(struct session *s) {
    uint64_t deadline = now_ms() + FLUSH_MS;
    struct pollfd pfd;
    pfd.fd = s->fd;
    while (tx_pending(s) > 0 && now_ms() < deadline && flush_tx(s)) {
        pfd.events = POLLOUT;
        if (tx_pending(s) > 0) poll(&pfd, 1, 100);
    }
    shutdown(s->fd, SHUT_WR);
    deadline = now_ms() + DRAIN_MS;
    while (now_ms() < deadline) {
        uint8_t junk[4096];
        ssize_t n = recv(s->fd, junk, sizeof junk, 0);
        if (n > 0 || (n < 0 && errno == EINTR)) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            pfd.events = POLLIN;
            poll(&pfd, 1, 100);
            continue;
        }
        break;
    }
    close(s->fd);
    s->fd = -1;
}

/* Runs one connection to `target` until the transport closes (MODE_SEND: sends `count`
 * messages of `size` bytes). Returns the close status (wsm_close_status), or -1 when it
 * could not connect or broke down. */
static int run_session(const char *host, const char *port, const char *target, enum mode mode,
                       const char *subprotocol, unsigned long count, unsigned long size) {
    struct session *s = &S;
    uint8_t rnd[32];
    size_t n = 0;
    wsm_result r;
    int status;
    bool ok = true;
    static const char *protos[1];
    static char host_header[300];

    free_session(s);
    memset(s, 0, sizeof *s);
    s->tx = malloc(TX_CAP);
    if (!s->tx) return -1;
    s->tx_cap = TX_CAP;
    s->mode = mode;
    s->fd = -1;
    s->count = count;
    s->size = size;
    if (random_bytes(rnd, sizeof rnd) < 0) {
        fprintf(stderr, "echo_client: cannot read /dev/urandom\n");
        return -1;
    }
    if (wsm_conn_init(s->mem, sizeof s->mem, WSM_ROLE_CLIENT, &config, now_ms(), rnd, false,
                      &s->ws) != WSM_OK)
        return -1;
    /* The Host header carries the port unless it is the default. */
    if (strcmp(port, "80") == 0)
        snprintf(host_header, sizeof host_header, "%s", host);
    else
        snprintf(host_header, sizeof host_header, "%s:%s", host, port);
    s->req.host = host_header;
    s->req.target = target;
    if (subprotocol) {
        protos[0] = subprotocol;
        s->req.subprotocols = protos;
        s->req.subprotocol_count = 1;
    }
    r = wsm_write_request(s->ws, &s->req, rnd + 16, s->tx, s->tx_cap, &n);
    if (r != WSM_OK) {
        fprintf(stderr, "echo_client: wsm_write_request: %s\n", wsm_result_str(r));
        return -1;
    }
    s->tx_len = n;
    s->fd = connect_tcp(host, port);
    if (s->fd < 0) return -1;

    while (ok && !stop_requested && !wsm_should_close_transport(s->ws)) {
        struct pollfd pfd;
        uint64_t now = now_ms(), t = wsm_poll_timeout(s->ws);
        int timeout;
        if (mode == MODE_SEND && s->accepted) {
            ok = send_more(s);
            if (ok && !s->closing && s->echoed == s->count) {
                /* Everything came back: close. */
                r = wsm_close(s->ws, now, 1000, (const uint8_t *)"done", 4, s->tx + s->tx_len,
                              tx_space(s), &n);
                if (r == WSM_OK) s->tx_len += n;
                s->closing = true;
            }
        }
        if (!flush_tx(s)) break;
        pfd.fd = s->fd;
        pfd.events = 0;
        pfd.revents = 0;
        if (tx_space(s) >= TX_RESERVE && !s->zpending) pfd.events |= POLLIN;
        if (tx_pending(s) > 0) pfd.events |= POLLOUT;
        if (t == WSM_NO_TIMEOUT)
            timeout = 1000;
        else
            timeout = t <= now ? 0 : (t - now > 1000 ? 1000 : (int)(t - now));
        if (poll(&pfd, 1, timeout) < 0 && errno != EINTR) break;
        now = now_ms();
        if (pfd.revents & POLLOUT && !flush_tx(s)) break;
        if (pfd.revents & (POLLIN | POLLHUP | POLLERR) && !s->zpending) {
            ssize_t got = recv(s->fd, s->rx + s->rx_len, RX_CAP - s->rx_len, 0);
            if (got > 0) {
                s->rx_len += (size_t)got;
            } else if (got == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
                wsm_handle_eof(s->ws);
            }
        }
        if (wsm_poll_timeout(s->ws) <= now) wsm_handle_timeout(s->ws, now);
        ok = process(s, now) && take_queued(s);
        if (s->rx_len == RX_CAP) ok = false; /* cannot happen: the library consumes input */
    }
    status = wsm_close_status(s->ws);
    if (s->fd >= 0) {
        if (ok && !stop_requested) finish_transport(s);
        else close(s->fd);
    }
    s->fd = -1;
    free_session(s);
    if (!ok) return -1;
    return status;
}

/* Percent-encodes `in` for a query value. */
static void url_encode(const char *in, char *out, size_t cap) {
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (; *in && o + 4 < cap; in++) {
        unsigned char ch = (unsigned char)*in;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '_' || ch == '.' || ch == '~') {
            out[o++] = (char)ch;
        } else {
            out[o++] = '%';
            out[o++] = hex[ch >> 4];
            out[o++] = hex[ch & 15];
        }
    }
    out[o] = 0;
}

static int run_autobahn(const char *url, const char *agent) {
    char host[256], port[16], path[512], target[1024], enc[256];
    long count, i;
    int st;
    if (parse_url(url, host, sizeof host, port, sizeof port, path, sizeof path) < 0) {
        fprintf(stderr, "echo_client: bad URL %s (ws://host:port expected)\n", url);
        return 2;
    }
    url_encode(agent, enc, sizeof enc);
    st = run_session(host, port, "/getCaseCount", MODE_COUNT, NULL, 0, 0);
    if (st < 0 || !S.got_text) {
        fprintf(stderr, "echo_client: could not read the case count from %s\n", url);
        return 1;
    }
    count = strtol(S.text, NULL, 10);
    printf("echo_client: %ld cases, agent %s\n", count, agent);
    fflush(stdout);
    for (i = 1; i <= count && !stop_requested; i++) {
        snprintf(target, sizeof target, "/runCase?case=%ld&agent=%s", i, enc);
        st = run_session(host, port, target, MODE_ECHO, NULL, 0, 0);
        printf("echo_client: case %ld/%ld: close status %d, %llu messages\n", i, count, st,
               S.messages);
        fflush(stdout);
    }
    if (stop_requested) return 130;
    snprintf(target, sizeof target, "/updateReports?agent=%s", enc);
    st = run_session(host, port, target, MODE_QUIET, NULL, 0, 0);
    if (st < 0) {
        fprintf(stderr, "echo_client: updateReports failed\n");
        return 1;
    }
    printf("echo_client: reports updated\n");
    return 0;
}

static int run_send(const char *url, unsigned long count, unsigned long size,
                    const char *subprotocol) {
    char host[256], port[16], path[512];
    int st;
    if (parse_url(url, host, sizeof host, port, sizeof port, path, sizeof path) < 0) {
        fprintf(stderr, "echo_client: bad URL %s\n", url);
        return 2;
    }
    st = run_session(host, port, path, MODE_SEND, subprotocol, count, size);
    if (st != 1000 || S.mismatch || S.echoed != count) {
        fprintf(stderr, "echo_client: FAILED: close status %d, %lu/%lu echoes%s\n", st, S.echoed,
                count, S.mismatch ? ", mismatch" : "");
        return 1;
    }
    printf("echo_client: %lu echoes of %lu bytes matched (%llu compressed), closed with %d\n",
           S.echoed, size, S.compressed_messages, st);
    return 0;
}

static void usage(void) {
    fputs("usage: echo_client autobahn [--url ws://127.0.0.1:9002] [--agent NAME] [--no-deflate]\n"
          "       echo_client send --url ws://HOST:PORT/PATH [--count N] [--size BYTES]\n"
          "                        [--subprotocol NAME] [--no-deflate]\n",
          stderr);
    exit(2);
}

int main(int argc, char **argv) {
    const char *url = NULL, *agent = NULL, *subprotocol = NULL;
    unsigned long count = 10, size = 1000;
    struct sigaction sa;
    int i;
    if (argc < 2) usage();
    for (i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--no-deflate") == 0) {
            no_deflate = true;
            continue;
        }
        if (!v) usage();
        if (strcmp(a, "--url") == 0)
            url = v;
        else if (strcmp(a, "--agent") == 0)
            agent = v;
        else if (strcmp(a, "--subprotocol") == 0)
            subprotocol = v;
        else if (strcmp(a, "--count") == 0)
            count = strtoul(v, NULL, 10);
        else if (strcmp(a, "--size") == 0)
            size = strtoul(v, NULL, 10);
        else
            usage();
        i++;
    }
    if (wsm_conn_size() > HANDLE_MEM) {
        fprintf(stderr, "echo_client: HANDLE_MEM %d < wsm_conn_size() %zu\n", HANDLE_MEM,
                wsm_conn_size());
        return 1;
    }
    wsm_config_default(&config);
    config.max_frame_payload = 64u << 20;
    config.max_message_size = 64u << 20;
    config.max_fragments = 1u << 20;
    /* permessage-deflate: offer full windows with context takeover; accept a server's
     * choice down to 8-bit windows (the library's compressor can do them). */
    config.deflate.enabled = no_deflate ? 0 : 1;
    config.deflate.min_window_bits = 8;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (strcmp(argv[1], "autobahn") == 0) {
        if (!url) url = getenv("AUTOBAHN_URL");
        if (!agent) agent = getenv("AUTOBAHN_AGENT");
        return run_autobahn(url && *url ? url : "ws://127.0.0.1:9002",
                            agent && *agent ? agent : "wsmachine-c");
    }
    if (strcmp(argv[1], "send") == 0) {
        if (!url) usage();
        return run_send(url, count, size, subprotocol);
    }
    usage();
    return 2;
}
