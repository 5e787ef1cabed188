/*
 * echo_server — a WebSocket echo server in C on libwsmachine.
 *
 *   echo_server [--host 127.0.0.1] [--port 9001] [--subprotocol NAME] [--max-seconds N]
 *               [--max-conns N] [--no-deflate] [--quiet]
 *
 * --port 0 picks a free port; the first line on standard output names the port bound:
 * "echo_server: listening on HOST:PORT ...". --max-seconds N stops the server after N
 * seconds (so a forgotten test server does not run forever); SIGINT/SIGTERM stop it too.
 *
 * One thread, POSIX sockets and poll(2), non-blocking, up to --max-conns connections at once
 * (default 1024). The slot table is sized once at start-up (one calloc of --max-conns slots);
 * each connection has fixed buffers and its wsm_conn handle in its own slot (wsm_conn_init;
 * the protocol state never touches the heap), so accepting a plain connection allocates
 * nothing. Pages of a slot the kernel has not been asked for are never touched: an idle
 * connection costs the few pages its handshake wrote, whatever --max-conns is. A free-slot
 * stack and a dense list of live slots keep accept O(1) and each loop O(live connections).
 *
 * Messages are echoed while they stream: each piece of payload that wsm_read reports is
 * sent straight back as one fragment (wsm_send_fragment, fin when the message is finished),
 * so memory use does not depend on message size. When the output buffer cannot take another
 * full input buffer, the server stops reading from that connection until it has drained
 * (back-pressure).
 *
 * permessage-deflate (RFC 7692) is accepted unless --no-deflate is given. When a client
 * negotiates it, the connection gets an inflater and a compressor on the heap, sized from
 * what was agreed (wsm_get_deflate, wsm_inflater_size, wsm_deflater_size); compressed
 * messages are inflated a piece at a time (wsm_inflate into a fixed buffer) and each piece
 * is sent back compressed (wsm_send_compressed_fragment), so they are echoed compressed;
 * uncompressed ones are echoed as they are. A compressed chunk waiting for output space is
 * kept in a per-connection buffer (on the heap with the codecs). The output buffer is in the
 * slot; it moves to the heap only when a compressed fragment's worst-case size
 * (wsm_deflater_bound, which counts input the compressor is still holding) exceeds it while
 * it is empty.
 *
 * When wsm_should_close_transport() says so, the server flushes what is left, shuts down
 * its sending side, reads and discards the peer's remaining input for a short, bounded time,
 * then closes the socket, so that the peer sees our close frame and a FIN, not a reset.
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
#include <stdarg.h>
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

/* Connections at once unless --max-conns says otherwise. */
#define DEFAULT_MAX_CONNS 1024
/* Input buffer: at least max_handshake_size (8 KiB by default) for the request. */
#define RX_CAP (16 * 1024)
/* Output buffer, and the free space needed before more input is processed: one input
 * buffer of payload plus frame headers and queued control frames. */
#define TX_CAP (4 * RX_CAP)
#define TX_RESERVE (RX_CAP + 512)
/* permessage-deflate: inflated bytes per wsm_inflate call, and room kept for queued control
 * frames beside a compressed fragment. */
#define PLAIN_CAP (16 * 1024)
#define CTRL_ROOM 512
/* Memory for a handle (checked against wsm_conn_size() at start-up). */
#define HANDLE_MEM 1024
/* Closing: how long to wait for our output to drain, and for the peer's EOF after our FIN. */
#define FLUSH_MS 5000
#define DRAIN_MS 1000
#define DRAIN_MAX_BYTES (1u << 20)

/* FREE is 0: a zeroed slot is free, so the table needs no initialisation pass. */
enum phase { FREE = 0, HANDSHAKE, OPEN, FLUSHING, DRAINING };

/* One slot. The small fields and the handle come first (the pages an idle connection
 * touches); the buffers follow. */
struct conn {
    _Alignas(16) unsigned char mem[HANDLE_MEM];
    wsm_conn *ws;
    enum phase phase;
    int fd;
    size_t live_idx;       /* index in `live` while not FREE */
    unsigned long id;
    size_t rx_len;
    uint8_t *tx;           /* tx_fixed, or heap when a compressed bound outgrew it */
    size_t tx_cap;
    size_t tx_off, tx_len; /* pending output: tx[tx_off .. tx_len) */
    /* permessage-deflate (NULL when not agreed): codecs and their buffers on the heap. */
    void *inflater_mem, *deflater_mem;
    wsm_inflater *inflater;
    wsm_deflater *deflater;
    /* A compressed chunk (copied from rx) still being inflated: zin[zin_off .. zin_len).
     * zin (RX_CAP bytes) and plain (PLAIN_CAP bytes) share one heap block. */
    bool zpending;
    wsm_event zev;
    uint8_t *zin;
    size_t zin_off, zin_len;
    uint8_t *plain;
    uint64_t deadline;     /* FLUSHING / DRAINING: give up at this time */
    size_t drained;
    unsigned long long messages, bytes;
    uint8_t rx[RX_CAP];
    uint8_t tx_fixed[TX_CAP];
};

/* The slot table (max_conns slots), the slots in use (dense, live[0 .. nlive)) and a stack
 * of free slots (free_slots[0 .. nfree)). */
static struct conn *slots;
static size_t max_conns = DEFAULT_MAX_CONNS;
static struct conn **live;
static size_t nlive;
static struct conn **free_slots;
static size_t nfree;
static wsm_config config;
static const char *subprotocol;
static bool quiet, no_deflate;
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

static void logf_(const struct conn *c, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static void logf_(const struct conn *c, const char *fmt, ...) {
    va_list ap;
    if (quiet) return;
    if (c)
        fprintf(stderr, "echo_server: [%lu] ", c->id);
    else
        fputs("echo_server: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static int set_nonblocking(int fd) {
    int fl = fcntl(fd, F_GETFL, 0);
    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Free output space, moving pending bytes to the front when that makes room. */
static size_t tx_space(struct conn *c) {
    if (c->tx_off > 0 && c->tx_off == c->tx_len) {
        c->tx_off = c->tx_len = 0;
    } else if (c->tx_off > 0 && c->tx_cap - c->tx_len < TX_RESERVE) {
        memmove(c->tx, c->tx + c->tx_off, c->tx_len - c->tx_off);
        c->tx_len -= c->tx_off;
        c->tx_off = 0;
    }
    return c->tx_cap - c->tx_len;
}


static size_t tx_pending(const struct conn *c) { return c->tx_len - c->tx_off; }

static bool active(const struct conn *c) { return c->phase == HANDSHAKE || c->phase == OPEN; }

/* Takes a free slot (NULL when all are in use) and lists it as live. */
static struct conn *take_slot(void) {
    struct conn *c;
    if (nfree == 0) return NULL;
    c = free_slots[--nfree];
    c->live_idx = nlive;
    live[nlive++] = c;
    return c;
}

static void release(struct conn *c) {
    struct conn *last;
    if (c->phase == FREE) return;
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    c->phase = FREE;
    c->ws = NULL; /* the handle needs no destruction: its memory is simply reused */
    /* Neither do the codecs: their memory is freed. */
    free(c->inflater_mem);
    free(c->deflater_mem);
    free(c->zin);
    c->inflater_mem = c->deflater_mem = NULL;
    c->zin = c->plain = NULL;
    c->inflater = NULL;
    c->deflater = NULL;
    c->zpending = false;
    if (c->tx != c->tx_fixed) free(c->tx);
    c->tx = NULL;
    c->tx_cap = 0;
    /* Off the live list (the last live slot takes its place), onto the free stack. */
    last = live[--nlive];
    live[c->live_idx] = last;
    last->live_idx = c->live_idx;
    free_slots[nfree++] = c;
}

/* Hard close (an I/O error): no more flushing or draining. */
static void abort_conn(struct conn *c, const char *why) {
    logf_(c, "dropped: %s", why);
    release(c);
}

/* Writes as much pending output as the socket takes; false on a fatal error. */
static bool flush_tx(struct conn *c) {
    while (tx_pending(c) > 0) {
        ssize_t n = send(c->fd, c->tx + c->tx_off, tx_pending(c), MSG_NOSIGNAL);
        if (n > 0) {
            c->tx_off += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return true;
        } else {
            return false;
        }
    }
    c->tx_off = c->tx_len = 0;
    return true;
}

/* Whether `need` bytes of output space are free. When the buffer is empty and still too
 * small, it grows (a compressed fragment's bound can exceed TX_CAP). */
static bool tx_room(struct conn *c, size_t need) {
    uint8_t *p;
    if (tx_space(c) >= need) return true;
    /* Send what the socket takes now; grow only an empty buffer (with headroom, as the
     * bound grows while a compressor holds input back). */
    if (!flush_tx(c) || c->tx_off < c->tx_len) return false;
    if (tx_space(c) >= need) return true;
    c->tx_off = c->tx_len = 0;
    p = realloc(c->tx == c->tx_fixed ? NULL : c->tx, need + need / 2);
    if (!p) return false;
    c->tx = p;
    c->tx_cap = need + need / 2;
    return true;
}

static void log_end(const struct conn *c) {
    wsm_failure_info fi;
    memset(&fi, 0, sizeof fi);
    wsm_failure(c->ws, &fi);
    logf_(c, "closed: status %u, failure kind %u (protocol %u, handshake %u), %llu messages, "
             "%llu bytes",
          (unsigned)wsm_close_status(c->ws), (unsigned)fi.kind, (unsigned)fi.protocol_error,
          (unsigned)fi.handshake_error, c->messages, c->bytes);
}

/* After wsm_should_close_transport(): flush, then shut down our side, then drain. */
static void step_closing(struct conn *c, uint64_t now);

static void start_closing(struct conn *c, uint64_t now) {
    log_end(c);
    c->phase = FLUSHING;
    c->deadline = now + FLUSH_MS;
    step_closing(c, now);
}

static void step_closing(struct conn *c, uint64_t now) {
    if (c->phase == FLUSHING) {
        if (!flush_tx(c)) {
            release(c);
            return;
        }
        if (tx_pending(c) > 0) {
            if (now >= c->deadline) release(c);
            return;
        }
        shutdown(c->fd, SHUT_WR);
        c->phase = DRAINING;
        c->deadline = now + DRAIN_MS;
        c->drained = 0;
    }
    if (c->phase == DRAINING) {
        uint8_t junk[4096];
        for (;;) {
            ssize_t n = recv(c->fd, junk, sizeof junk, 0);
            if (n > 0) {
                c->drained += (size_t)n;
                if (c->drained > DRAIN_MAX_BYTES) break;
                continue;
            }
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && now < c->deadline) return;
            break; /* EOF, error, limit or deadline */
        }
        release(c);
    }
}

/* Moves queued control frames (pongs, close replies, error responses) to the output, sends
 * what the socket takes, and starts closing when the library says so. */
/* Moves what wsm_poll_transmit has (pongs, close frames, an HTTP error response) to the
 * output buffer; false when the connection was dropped. */
static bool take_queued(struct conn *c) {
    for (;;) {
        size_t n = 0;
        wsm_result r = wsm_poll_transmit(c->ws, c->tx + c->tx_len, tx_space(c), &n);
        if (r == WSM_ERR_BUFFER_TOO_SMALL) return true; /* retried after the output drains */
        if (r != WSM_OK) {
            abort_conn(c, wsm_result_str(r));
            return false;
        }
        if (n == 0) return true;
        c->tx_len += n;
    }
}

static void service(struct conn *c, uint64_t now) {
    if (!take_queued(c)) return;
    if (!flush_tx(c)) {
        abort_conn(c, "send failed");
        return;
    }
    if (wsm_should_close_transport(c->ws)) start_closing(c, now);
}

/* Memory for a codec of `size` bytes aligned to `align`. */
static void *codec_alloc(size_t size, size_t align) {
    if (align < sizeof(void *)) align = sizeof(void *);
    return aligned_alloc(align, (size + align - 1) / align * align);
}

/* After the handshake: an inflater and a compressor sized from what was agreed (none when
 * permessage-deflate was not). False when out of memory. */
static bool make_codecs(struct conn *c) {
    wsm_deflate_params p;
    size_t isz, dsz;
    if (wsm_get_deflate(c->ws, &p) != WSM_OK || !p.agreed) return true;
    isz = wsm_inflater_size(p.inflate_window_bits);
    dsz = wsm_deflater_size(p.compress_window_bits, p.level);
    c->inflater_mem = codec_alloc(isz, wsm_inflater_align());
    c->deflater_mem = codec_alloc(dsz, wsm_deflater_align());
    c->zin = malloc(RX_CAP + PLAIN_CAP);
    if (!c->inflater_mem || !c->deflater_mem || !c->zin) return false;
    c->plain = c->zin + RX_CAP;
    return wsm_inflater_init(c->inflater_mem, isz, p.inflate_window_bits, &c->inflater) ==
               WSM_OK &&
           wsm_deflater_init(c->deflater_mem, dsz, p.compress_window_bits, p.level, false,
                             &c->deflater) == WSM_OK;
}

/* Inflates the pending compressed chunk while there is output space, sending each piece
 * back compressed. False when the connection was dropped. */
static bool pump_inflate(struct conn *c, uint64_t now) {
    uint32_t kind = (c->zev.flags & WSM_FLAG_TEXT) ? WSM_TEXT : WSM_BINARY;
    while (c->zpending) {
        wsm_inflated r;
        size_t n = 0;
        bool last;
        wsm_result res;
        if (!tx_room(c, wsm_deflater_bound(c->deflater, PLAIN_CAP) + CTRL_ROOM))
            return true; /* resumed when the output has drained */
        res = wsm_inflate(c->ws, now, c->inflater, &c->zev, c->zin + c->zin_off,
                          c->zin_len - c->zin_off, c->plain, PLAIN_CAP, &r);
        if (res != WSM_OK) {
            abort_conn(c, wsm_result_str(res));
            return false;
        }
        if (r.failed != WSM_PE_NONE) {
            /* Corrupt data, bad UTF-8 or over max_message_size: the close is queued. */
            logf_(c, "inflate failed (protocol error %u): closing with %u", (unsigned)r.failed,
                  (unsigned)r.close_code);
            c->zpending = false;
            return true;
        }
        c->zin_off += r.consumed;
        last = r.done && (c->zev.flags & WSM_FLAG_MESSAGE_FIN);
        if (r.produced > 0 || last) {
            res = wsm_send_compressed_fragment(c->ws, kind, c->plain, r.produced, last,
                                               c->deflater, c->tx + c->tx_len, tx_space(c), &n);
            if (res != WSM_OK) {
                abort_conn(c, wsm_result_str(res));
                return false;
            }
            c->tx_len += n;
            c->bytes += r.produced;
        }
        if (last) c->messages++;
        if (r.done) c->zpending = false;
    }
    return true;
}

static void accept_request(struct conn *c, uint64_t now, const wsm_header *h, size_t nh,
                           const wsm_request *req) {
    wsm_accept_options opts;
    size_t n = 0;
    wsm_result r;
    memset(&opts, 0, sizeof opts);
    if (subprotocol && wsm_header_has_token(h, nh, "sec-websocket-protocol", subprotocol))
        opts.subprotocol = subprotocol;
    r = wsm_accept(c->ws, now, &opts, c->tx + c->tx_len, tx_space(c), &n);
    if (r != WSM_OK) {
        abort_conn(c, wsm_result_str(r));
        return;
    }
    c->tx_len += n;
    if (!make_codecs(c)) {
        abort_conn(c, "out of memory for the permessage-deflate codecs");
        return;
    }
    logf_(c, "open: %.*s%s%s%s", (int)req->target.len, req->target.ptr,
          opts.subprotocol ? ", subprotocol " : "", opts.subprotocol ? opts.subprotocol : "",
          c->deflater ? ", permessage-deflate" : "");
    /* Bytes after the request head are already frames. */
    memmove(c->rx, c->rx + req->head_len, c->rx_len - req->head_len);
    c->rx_len -= req->head_len;
    c->phase = OPEN;
}

/* Feeds the input buffer to the library: the handshake, then frames. */
static void process(struct conn *c, uint64_t now) {
    size_t off = 0;
    if (c->phase == HANDSHAKE) {
        wsm_header h[WSM_MAX_HEADERS];
        wsm_request req;
        bool complete = false;
        wsm_result r = wsm_read_request(c->ws, now, c->rx, c->rx_len, h, WSM_MAX_HEADERS, &req,
                                        &complete);
        if (r == WSM_ERR_HANDSHAKE) {
            logf_(c, "bad request");
            service(c, now); /* sends the 400/405/426/431 response, then closes */
            return;
        }
        if (r != WSM_OK) {
            abort_conn(c, wsm_result_str(r));
            return;
        }
        if (!complete) return;
        accept_request(c, now, h, req.header_count, &req);
        if (c->phase != OPEN) return;
    }
    if (c->phase != OPEN) return;
    if (!pump_inflate(c, now)) return;
    while (!c->zpending && tx_space(c) >= TX_RESERVE) {
        size_t consumed = 0, n = 0;
        wsm_event ev;
        wsm_result r = wsm_read(c->ws, now, c->rx + off, c->rx_len - off, &consumed, &ev);
        if (r != WSM_OK) {
            abort_conn(c, wsm_result_str(r));
            return;
        }
        off += consumed;
        if (ev.kind == WSM_EVENT_NONE) break;
        if (ev.kind == WSM_EVENT_DATA && (ev.flags & WSM_FLAG_COMPRESSED) && c->inflater) {
            /* Inflated (and echoed) from a copy, so that rx can move on meanwhile. */
            memcpy(c->zin, ev.data, ev.len);
            c->zev = ev;
            c->zev.data = c->zin;
            c->zin_off = 0;
            c->zin_len = ev.len;
            c->zpending = true;
            if (!pump_inflate(c, now)) return;
        } else if (ev.kind == WSM_EVENT_DATA) {
            bool fin = (ev.flags & WSM_FLAG_MESSAGE_FIN) != 0;
            uint32_t kind = (ev.flags & WSM_FLAG_TEXT) ? WSM_TEXT : WSM_BINARY;
            r = wsm_send_fragment(c->ws, kind, ev.data, ev.len, fin, c->tx + c->tx_len,
                                  tx_space(c), &n);
            if (r != WSM_OK) {
                abort_conn(c, wsm_result_str(r));
                return;
            }
            c->tx_len += n;
            c->bytes += ev.len;
            if (fin) c->messages++;
        } else if (ev.kind == WSM_EVENT_CLOSE) {
            logf_(c, "peer closed: %u %.*s", (unsigned)ev.close_code, (int)ev.len,
                  (const char *)ev.data);
        } else if (ev.kind == WSM_EVENT_FAILED) {
            logf_(c, "protocol error %u: closing with %u", (unsigned)ev.error,
                  (unsigned)ev.close_code);
        }
        /* WSM_EVENT_PONG: ignored. WSM_EVENT_PING: the library queued the pong (auto_pong);
         * it keeps only the latest, so take it now, before the next ping can replace it. */
        if (!take_queued(c)) return;
    }
    memmove(c->rx, c->rx + off, c->rx_len - off);
    c->rx_len -= off;
}

/* Processes buffered input and flushes output until neither makes progress. */
static void pump(struct conn *c, uint64_t now) {
    while (active(c)) {
        size_t before = c->rx_len, zbefore = c->zin_off;
        bool zwas = c->zpending;
        process(c, now);
        if (!active(c)) return;
        service(c, now);
        if (!active(c) || tx_space(c) < TX_RESERVE) return;
        if (c->rx_len == before && c->zin_off == zbefore && c->zpending == zwas) return;
    }
}

static void on_readable(struct conn *c, uint64_t now) {
    while (active(c) && !c->zpending && tx_space(c) >= TX_RESERVE) {
        ssize_t n;
        if (c->rx_len == RX_CAP) { /* cannot happen: the library consumes complete frames */
            abort_conn(c, "input buffer full");
            return;
        }
        n = recv(c->fd, c->rx + c->rx_len, RX_CAP - c->rx_len, 0);
        if (n > 0) {
            c->rx_len += (size_t)n;
            pump(c, now);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        /* EOF or a reset. */
        wsm_handle_eof(c->ws);
        service(c, now);
        return;
    }
}

static void on_accept(int lfd, uint64_t now, unsigned long *next_id) {
    for (;;) {
        struct conn *c;
        int fd, one = 1;
        /* Full: the listener is not polled until a slot frees up. */
        if (nfree == 0) return;
        fd = accept(lfd, NULL, NULL);
        if (fd < 0) return;
        if (set_nonblocking(fd) < 0) {
            close(fd);
            continue;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c = take_slot();
        c->phase = HANDSHAKE; /* (release() needs a non-FREE phase) */
        c->fd = fd;
        c->id = (*next_id)++;
        c->rx_len = c->tx_off = c->tx_len = 0;
        c->messages = c->bytes = 0;
        c->tx = c->tx_fixed;
        c->tx_cap = TX_CAP;
        if (wsm_conn_init(c->mem, sizeof c->mem, WSM_ROLE_SERVER, &config, now, NULL, false,
                          &c->ws) != WSM_OK) {
            release(c);
            continue;
        }
        c->phase = HANDSHAKE;
    }
}

static int listen_on(const char *host, const char *port) {
    struct addrinfo hints, *res, *ai;
    int fd = -1, one = 1, rc;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "echo_server: %s:%s: %s\n", host, port, gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0) continue;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, SOMAXCONN) == 0 &&
            set_nonblocking(fd) == 0)
            break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) fprintf(stderr, "echo_server: cannot listen on %s:%s: %s\n", host, port,
                        strerror(errno));
    return fd;
}

static void usage(void) {
    fputs("usage: echo_server [--host 127.0.0.1] [--port 9001] [--subprotocol NAME]\n"
          "                   [--max-seconds N] [--max-conns N] [--no-deflate] [--quiet]\n",
          stderr);
    exit(2);
}

int main(int argc, char **argv) {
    const char *host = "127.0.0.1", *port = "9001";
    long max_seconds = 0;
    uint64_t start, end = UINT64_MAX;
    unsigned long next_id = 1;
    int lfd, i;
    size_t j;
    struct sigaction sa;
    struct pollfd *pfds;
    struct conn **pconn;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--quiet") == 0) {
            quiet = true;
            continue;
        }
        if (strcmp(a, "--no-deflate") == 0) {
            no_deflate = true;
            continue;
        }
        if (!v) usage();
        if (strcmp(a, "--host") == 0)
            host = v;
        else if (strcmp(a, "--port") == 0)
            port = v;
        else if (strcmp(a, "--subprotocol") == 0)
            subprotocol = v;
        else if (strcmp(a, "--max-seconds") == 0)
            max_seconds = strtol(v, NULL, 10);
        else if (strcmp(a, "--max-conns") == 0) {
            char *endp;
            long m = strtol(v, &endp, 10);
            if (*endp || m < 1 || m > 1000000) usage();
            max_conns = (size_t)m;
        }
        else
            usage();
        i++;
    }
    if (wsm_conn_size() > HANDLE_MEM) {
        fprintf(stderr, "echo_server: HANDLE_MEM %d < wsm_conn_size() %zu\n", HANDLE_MEM,
                wsm_conn_size());
        return 1;
    }
    /* Limits for Autobahn's 9.* cases (16 MiB messages, 65536 fragments). Memory use does
     * not depend on them: payload streams through the fixed buffers. */
    wsm_config_default(&config);
    config.max_frame_payload = 64u << 20;
    config.max_message_size = 64u << 20;
    config.max_fragments = 1u << 20;
    /* permessage-deflate: full windows and context takeover as the client asks; down to
     * 8-bit windows (the library's compressor can do them). */
    config.deflate.enabled = no_deflate ? 0 : 1;
    config.deflate.min_window_bits = 8;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* The slot table: zeroed (every slot FREE) and never touched until used, so the pages of
     * unused slots cost no memory. */
    slots = calloc(max_conns, sizeof *slots);
    live = calloc(max_conns, sizeof *live);
    free_slots = calloc(max_conns, sizeof *free_slots);
    pfds = calloc(max_conns + 1, sizeof *pfds);
    pconn = calloc(max_conns + 1, sizeof *pconn);
    if (!slots || !live || !free_slots || !pfds || !pconn) {
        fprintf(stderr, "echo_server: out of memory for %zu connection slots\n", max_conns);
        return 1;
    }
    if ((uintptr_t)slots % _Alignof(struct conn) != 0) {
        fprintf(stderr, "echo_server: calloc returned memory aligned below %zu\n",
                (size_t)_Alignof(struct conn));
        return 1;
    }
    for (j = max_conns; j-- > 0;) free_slots[nfree++] = &slots[j]; /* slot 0 on top */
    lfd = listen_on(host, port);
    if (lfd < 0) return 1;
    {
        /* The port actually bound (--port 0 picks a free one). */
        struct sockaddr_storage sa_bound;
        socklen_t sl = sizeof sa_bound;
        static char hbuf[1025], pbuf[32]; /* NI_MAXHOST, NI_MAXSERV are not POSIX */
        if (getsockname(lfd, (struct sockaddr *)&sa_bound, &sl) == 0 &&
            getnameinfo((struct sockaddr *)&sa_bound, sl, hbuf, sizeof hbuf, pbuf, sizeof pbuf,
                        NI_NUMERICHOST | NI_NUMERICSERV) == 0)
            port = pbuf;
        printf("echo_server: listening on %s:%s (wsmachine %s, handle %zu bytes, %zu connections "
               "of %zu bytes, permessage-deflate %s)\n",
               host, port, wsm_version(), wsm_conn_size(), max_conns, sizeof(struct conn),
               no_deflate ? "off" : "on");
    }
    fflush(stdout);
    start = now_ms();
    if (max_seconds > 0) end = start + (uint64_t)max_seconds * 1000u;

    while (!stop_requested) {
        uint64_t now = now_ms(), next = end;
        int n = 0, timeout, k;
        if (now >= end) break;
        for (j = 0; j < nlive; j++) {
            struct conn *c = live[j];
            short ev = 0;
            if (active(c)) {
                uint64_t t = wsm_poll_timeout(c->ws);
                if (t < next) next = t;
                if (tx_space(c) >= TX_RESERVE && !c->zpending) ev |= POLLIN;
                if (tx_pending(c) > 0) ev |= POLLOUT;
            } else {
                if (c->deadline < next) next = c->deadline;
                ev = c->phase == FLUSHING ? POLLOUT : POLLIN;
            }
            pfds[n].fd = c->fd;
            pfds[n].events = ev;
            pfds[n].revents = 0;
            pconn[n++] = c;
        }
        if (nfree > 0) { /* the listener last: accepting may reuse a slot released above */
            pfds[n].fd = lfd;
            pfds[n].events = POLLIN;
            pfds[n].revents = 0;
            pconn[n++] = NULL;
        }
        if (next == UINT64_MAX)
            timeout = -1;
        else if (next <= now)
            timeout = 0;
        else
            timeout = next - now > INT_MAX ? INT_MAX : (int)(next - now);
        if (poll(pfds, (nfds_t)n, timeout) < 0) {
            if (errno == EINTR) continue;
            perror("echo_server: poll");
            break;
        }
        now = now_ms();
        for (k = 0; k < n; k++) {
            struct conn *c = pconn[k];
            short re = pfds[k].revents;
            if (!c) {
                if (re & POLLIN) on_accept(lfd, now, &next_id);
                continue;
            }
            if (c->phase == FLUSHING || c->phase == DRAINING) {
                step_closing(c, now);
                continue;
            }
            if (re & POLLOUT) {
                if (!flush_tx(c)) {
                    abort_conn(c, "send failed");
                    continue;
                }
                /* Input left waiting for output space. */
                if (c->rx_len > 0 || c->zpending) pump(c, now);
            }
            if (!active(c)) continue;
            if (re & (POLLIN | POLLHUP | POLLERR)) on_readable(c, now);
        }
        /* Timers: handshake deadline, close timeout, keepalive. Backwards, since release()
         * moves the last live slot (already seen) into the released one's place. */
        for (j = nlive; j-- > 0;) {
            struct conn *c = live[j];
            if (active(c) && wsm_poll_timeout(c->ws) <= now) {
                wsm_handle_timeout(c->ws, now);
                service(c, now);
            } else if ((c->phase == FLUSHING || c->phase == DRAINING) && c->deadline <= now) {
                step_closing(c, now);
            }
        }
    }
    while (nlive > 0) release(live[nlive - 1]);
    close(lfd);
    free(pconn);
    free(pfds);
    free(free_slots);
    free(live);
    free(slots);
    printf("echo_server: stopped after %llu s\n",
           (unsigned long long)((now_ms() - start) / 1000u));
    return 0;
}
