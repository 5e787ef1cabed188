/*
 * Test support: a byte queue, endpoints (a handle in caller memory plus a fixed receive
 * buffer, fed from an in-memory "wire"), a client/server pair wired together, and a raw
 * frame builder for malformed input.
 */
#ifndef WSM_TEST_SUPPORT_H
#define WSM_TEST_SUPPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wsmachine.h"

/* A growable byte buffer (heap; freed with bq_free). */
typedef struct {
    uint8_t *p;
    size_t len, cap;
} bq;

void bq_append(bq *q, const void *data, size_t n);
void bq_drop_front(bq *q, size_t n);
void bq_clear(bq *q);
void bq_free(bq *q);

/* Receive buffer size of an endpoint: frames arrive in pieces of at most this much. */
#define EP_RXCAP 4096
/* Memory reserved for a handle (checked against wsm_conn_size()). */
#define EP_MEM 1024

typedef struct {
    _Alignas(16) unsigned char mem[EP_MEM];
    wsm_conn *conn;
    const char *name;
    uint64_t now;
    /* Bytes sent to this endpoint and not yet "received". */
    bq wire;
    /* At most this many bytes move from the wire to rx per socket read (0: as many as fit). */
    size_t read_chunk;
    uint8_t rx[EP_RXCAP];
    size_t rx_len;

    /* What wsm_read reported. */
    bq msg;               /* the message being assembled */
    bool in_msg;          /* a message is in progress */
    uint32_t msg_flags;   /* flags of the first chunk of the message in progress */
    bq last;              /* the last complete message */
    bool last_text;       /* whether it was text */
    int messages;         /* complete messages */
    int chunks;           /* data events */
    int frames;           /* data events with WSM_FLAG_FRAME_FIN */
    int anomalies;        /* inconsistent flags (should stay 0) */
    int pings, pongs;
    uint8_t ping_data[125], pong_data[125];
    size_t ping_len, pong_len;
    bool got_close;
    uint16_t close_code;
    char close_reason[124];
    size_t close_reason_len;
    bool got_failed;
    uint16_t failed_code;
    wsm_protocol_error failed_error;
    bq reject_body;        /* WSM_EVENT_REJECT_BODY data */
    bool reject_body_fin;
    int read_errors;       /* wsm_read returning non-OK */
    /* permessage-deflate: with an inflater, compressed chunks are inflated as they arrive
     * (wsm_inflate into an output buffer of inflate_out bytes, 0: 4096) and the message
     * bytes recorded; without one, the compressed bytes are recorded as they are. */
    wsm_inflater *inflater;
    size_t inflate_out;
    int compressed_chunks; /* data events with WSM_FLAG_COMPRESSED */
    int compressed_messages; /* complete messages whose first chunk was compressed */
    bool last_compressed;  /* the last complete message was compressed */
    bool inflate_failed;   /* wsm_inflate reported a failure */
    wsm_protocol_error inflate_error;
    uint16_t inflate_code;
    int inflate_errors;    /* wsm_inflate returning non-OK */
    int transmit_errors;   /* wsm_poll_transmit returning non-OK */
} endpoint;

/* Initialises `e` (not yet handshaken). `cfg` may be NULL. Returns the wsm_conn_init result. */
wsm_result ep_init(endpoint *e, const char *name, uint32_t role, const wsm_config *cfg);
void ep_free(endpoint *e);

/* A client and a server wired together. */
typedef struct {
    endpoint client, server;
    /* The server's handshake response. */
    char response[2048];
    size_t response_len;
} pair;

/* Initialises both ends and runs the opening handshake; false (with failed checks) if it
 * did not open. */
bool pair_open(pair *p, const wsm_config *client_cfg, const wsm_config *server_cfg);
void pair_free(pair *p);

/* Feeds what is on `e`'s wire through wsm_read (in pieces of e->read_chunk), recording
 * events, and sends what wsm_poll_transmit produces to `peer` (may be NULL: dropped).
 * Returns the number of events. */
int ep_pump(endpoint *e, endpoint *peer);
/* Pumps both ends until both wires are empty. */
void pair_settle(pair *p);

/* Sends with wsm_send_compressed (compressor `d`) from `from` to `to`'s wire, with an output
 * buffer of exactly the size needed (asked for with a first, too small, call). */
wsm_result ep_send_compressed(endpoint *from, endpoint *to, wsm_deflater *d, uint32_t kind,
                              const void *data, size_t len);
/* Sends with wsm_send from `from` to `to`'s wire. */
wsm_result ep_send(endpoint *from, endpoint *to, uint32_t kind, const void *data, size_t len);
/* Sends a close frame (wsm_close) from `from` to `to`'s wire. */
wsm_result ep_close(endpoint *from, endpoint *to, uint16_t code, const char *reason);
/* Moves everything wsm_poll_transmit gives from `from` to `to`'s wire (to may be NULL);
 * returns the number of bytes. */
size_t ep_flush(endpoint *from, endpoint *to);

/* Builds a raw frame: first byte `b0` (FIN/RSV/opcode), payload masked with `mask` when
 * `mask` is non-NULL. Returns its length (out needs len + 14). */
size_t make_frame(uint8_t *out, uint8_t b0, const uint8_t *mask, const void *payload,
                  size_t len);

/* Parses a close frame at `f` (n bytes, masked or not) into code and reason; returns false
 * when it is not a single complete close frame. */
bool parse_close_frame(const uint8_t *f, size_t n, uint16_t *code, char *reason,
                       size_t *reason_len);

/* A fresh, deterministic "random" 16-byte seed/key (different on each call). */
void test_random16(uint8_t out[16]);

/* Fills `p` with `n` bytes of valid UTF-8 text including 2-, 3- and 4-byte sequences. */
void fill_utf8(uint8_t *p, size_t n);
/* Fills `p` with `n` bytes of a deterministic binary pattern. */
void fill_binary(uint8_t *p, size_t n, uint32_t seed);

/* A request that a server accepts: target /chat, offering subprotocols chat, superchat. */
extern const char VALID_REQUEST[];

#endif
