/* Timers: wsm_poll_timeout / wsm_handle_timeout for the handshake, authentication,
 * keepalive and close deadlines. Time is whatever the caller says it is. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "support.h"

static const uint8_t *u8(const char *s) { return (const uint8_t *)s; }

static void test_server_handshake_timeout_sends_408(void) {
    _Alignas(16) unsigned char mem[1024];
    wsm_conn *c = NULL;
    wsm_config cfg;
    wsm_failure_info fi;
    uint8_t out[512];
    size_t n = 0;
    wsm_config_default(&cfg);
    cfg.handshake_timeout_ms = 500;
    REQUIRE_OK(wsm_conn_init(mem, sizeof mem, WSM_ROLE_SERVER, &cfg, 1000, NULL, false, &c));
    CHECK_EQ(wsm_poll_timeout(c), 1500);
    /* Early: nothing happens. */
    CHECK_OK(wsm_handle_timeout(c, 1499));
    CHECK_OK(wsm_poll_transmit(c, out, sizeof out, &n));
    CHECK_EQ(n, 0);
    CHECK_EQ(wsm_state(c), WSM_CONNECTING);
    CHECK_OK(wsm_handle_timeout(c, 1500));
    REQUIRE_OK(wsm_poll_transmit(c, out, sizeof out, &n));
    CHECK(n > 13 && memcmp(out, "HTTP/1.1 408 ", 13) == 0);
    CHECK(wsm_should_close_transport(c));
    CHECK_EQ(wsm_state(c), WSM_CLOSED);
    CHECK_EQ(wsm_poll_timeout(c), WSM_NO_TIMEOUT);
    CHECK_OK(wsm_failure(c, &fi));
    CHECK_EQ(fi.kind, WSM_FAILURE_HANDSHAKE);
    CHECK_EQ(fi.handshake_error, WSM_HE_TIMEOUT);
    CHECK_EQ(fi.http_status, 408);
}

static void test_client_handshake_timeout(void) {
    _Alignas(16) unsigned char mem[1024];
    wsm_conn *c = NULL;
    wsm_config cfg;
    wsm_failure_info fi;
    uint8_t seed[16], out[512];
    size_t n = 0;
    wsm_client_request req;
    wsm_config_default(&cfg);
    cfg.handshake_timeout_ms = 2000;
    test_random16(seed);
    REQUIRE_OK(wsm_conn_init(mem, sizeof mem, WSM_ROLE_CLIENT, &cfg, 0, seed, false, &c));
    memset(&req, 0, sizeof req);
    req.host = "h";
    req.target = "/";
    CHECK_OK(wsm_write_request(c, &req, seed, out, sizeof out, &n));
    CHECK_EQ(wsm_poll_timeout(c), 2000);
    CHECK_OK(wsm_handle_timeout(c, 5000));
    CHECK_EQ(wsm_state(c), WSM_CLOSED);
    CHECK(wsm_should_close_transport(c));
    CHECK_EQ(wsm_close_status(c), 1006);
    CHECK(wsm_should_reconnect(wsm_close_status(c)));
    CHECK_OK(wsm_failure(c, &fi));
    CHECK_EQ(fi.kind, WSM_FAILURE_HANDSHAKE);
    CHECK_EQ(fi.handshake_error, WSM_HE_TIMEOUT);
}

static void test_no_timers_when_disabled(void) {
    pair p;
    wsm_config cfg;
    wsm_config_default(&cfg);
    cfg.handshake_timeout_ms = 0;
    cfg.close_timeout_ms = 0;
    CHECK_OK(ep_init(&p.server, "server", WSM_ROLE_SERVER, &cfg));
    CHECK_EQ(wsm_poll_timeout(p.server.conn), WSM_NO_TIMEOUT);
    ep_free(&p.server);
    /* Open, no keepalive: no timer. */
    if (pair_open(&p, NULL, NULL)) {
        CHECK_EQ(wsm_poll_timeout(p.server.conn), WSM_NO_TIMEOUT);
        CHECK_EQ(wsm_poll_timeout(p.client.conn), WSM_NO_TIMEOUT);
    }
    pair_free(&p);
}

static void test_keepalive_ping_and_dead_peer(void) {
    pair p;
    wsm_config cfg;
    wsm_failure_info fi;
    uint8_t out[64];
    size_t n = 0;
    wsm_config_default(&cfg);
    cfg.keepalive_interval_ms = 1000;
    cfg.keepalive_timeout_ms = 300;
    if (!pair_open(&p, NULL, &cfg)) goto done;
    /* Opened at 0: first ping due at 1000. */
    CHECK_EQ(wsm_poll_timeout(p.server.conn), 1000);
    CHECK_OK(wsm_handle_timeout(p.server.conn, 999));
    CHECK_OK(wsm_poll_transmit(p.server.conn, out, sizeof out, &n));
    CHECK_EQ(n, 0);
    CHECK_OK(wsm_handle_timeout(p.server.conn, 1000));
    REQUIRE_OK(wsm_poll_transmit(p.server.conn, out, sizeof out, &n));
    CHECK_EQ(n, 2);
    CHECK_MEM(out, "\x89\x00", 2);
    CHECK_EQ(wsm_poll_timeout(p.server.conn), 1300);
    /* The client answers (auto pong) at 1100: any input re-arms the idle timer. */
    bq_append(&p.client.wire, out, n);
    ep_pump(&p.client, &p.server);
    CHECK_EQ(p.client.pings, 1);
    p.server.now = 1100;
    ep_pump(&p.server, &p.client);
    CHECK_EQ(p.server.pongs, 1);
    CHECK_EQ(wsm_poll_timeout(p.server.conn), 2100);
    /* Silence: a ping at 2100, then the peer is declared dead at 2400. */
    CHECK_OK(wsm_handle_timeout(p.server.conn, 2100));
    CHECK_OK(wsm_poll_transmit(p.server.conn, out, sizeof out, &n));
    CHECK_EQ(n, 2);
    CHECK_EQ(wsm_poll_timeout(p.server.conn), 2400);
    CHECK_OK(wsm_handle_timeout(p.server.conn, 2399));
    CHECK_EQ(wsm_state(p.server.conn), WSM_OPEN);
    CHECK_OK(wsm_handle_timeout(p.server.conn, 2400));
    CHECK_EQ(wsm_state(p.server.conn), WSM_CLOSED);
    CHECK(wsm_should_close_transport(p.server.conn));
    CHECK_EQ(wsm_close_status(p.server.conn), 1006);
    CHECK_OK(wsm_failure(p.server.conn, &fi));
    CHECK_EQ(fi.kind, WSM_FAILURE_DEAD_PEER);
    CHECK_EQ(wsm_poll_timeout(p.server.conn), WSM_NO_TIMEOUT);
done:
    pair_free(&p);
}

static void test_close_timeout(void) {
    pair p;
    wsm_config cfg;
    wsm_failure_info fi;
    wsm_config_default(&cfg);
    cfg.close_timeout_ms = 2000;
    if (!pair_open(&p, NULL, &cfg)) goto done;
    p.server.now = 100;
    CHECK_OK(ep_close(&p.server, &p.client, 1000, "bye"));
    CHECK_EQ(wsm_poll_timeout(p.server.conn), 2100);
    CHECK_OK(wsm_handle_timeout(p.server.conn, 2099));
    CHECK_EQ(wsm_state(p.server.conn), WSM_CLOSING);
    CHECK(!wsm_should_close_transport(p.server.conn));
    /* The client never answers. */
    CHECK_OK(wsm_handle_timeout(p.server.conn, 2100));
    CHECK_EQ(wsm_state(p.server.conn), WSM_CLOSED);
    CHECK(wsm_should_close_transport(p.server.conn));
    CHECK_EQ(wsm_close_status(p.server.conn), 1006);
    CHECK_OK(wsm_failure(p.server.conn, &fi));
    CHECK_EQ(fi.kind, WSM_FAILURE_CLOSE_TIMEOUT);
done:
    pair_free(&p);
}

/* After the closing handshake a client waits (close_timeout_ms) for the server's TCP close. */
static void test_client_waits_for_server_tcp_close(void) {
    pair p;
    wsm_config cfg;
    wsm_failure_info fi;
    wsm_config_default(&cfg);
    cfg.close_timeout_ms = 1000;
    if (!pair_open(&p, &cfg, NULL)) goto done;
    CHECK_OK(ep_close(&p.client, &p.server, 1000, NULL));
    ep_pump(&p.server, &p.client);
    ep_pump(&p.client, &p.server);
    CHECK(p.client.got_close);
    CHECK_EQ(wsm_state(p.client.conn), WSM_CLOSED);
    CHECK(!wsm_should_close_transport(p.client.conn));
    CHECK_EQ(wsm_poll_timeout(p.client.conn), 1000);
    CHECK_OK(wsm_handle_timeout(p.client.conn, 1000));
    CHECK(wsm_should_close_transport(p.client.conn));
    /* A clean close all the same. */
    CHECK_EQ(wsm_close_status(p.client.conn), 1000);
    CHECK_OK(wsm_failure(p.client.conn, &fi));
    CHECK_EQ(fi.kind, WSM_FAILURE_NONE);
done:
    pair_free(&p);
}

static void test_auth_timeout(void) {
    pair p;
    wsm_config cfg;
    wsm_failure_info fi;
    wsm_config_default(&cfg);
    cfg.auth_timeout_ms = 300;
    if (!pair_open(&p, NULL, &cfg)) goto done;
    CHECK_EQ(wsm_poll_timeout(p.server.conn), 300);
    CHECK_OK(wsm_handle_timeout(p.server.conn, 300));
    ep_flush(&p.server, &p.client);
    {
        uint16_t code = 0;
        size_t rl = 0;
        CHECK(parse_close_frame(p.client.wire.p, p.client.wire.len, &code, NULL, &rl));
        CHECK_EQ(code, 1008);
    }
    CHECK(wsm_should_close_transport(p.server.conn));
    CHECK_OK(wsm_failure(p.server.conn, &fi));
    CHECK_EQ(fi.kind, WSM_FAILURE_PROTOCOL);
    CHECK_EQ(fi.protocol_error, WSM_PE_AUTH_TIMEOUT);
    pair_free(&p);
    /* Authenticated in time: the timer stops. */
    if (!pair_open(&p, NULL, &cfg)) goto done;
    CHECK_OK(ep_send(&p.client, &p.server, WSM_TEXT, "token", 5));
    pair_settle(&p);
    CHECK_OK(wsm_set_authenticated(p.server.conn));
    CHECK_EQ(wsm_poll_timeout(p.server.conn), WSM_NO_TIMEOUT);
    CHECK_OK(wsm_handle_timeout(p.server.conn, 100000));
    CHECK_EQ(wsm_state(p.server.conn), WSM_OPEN);
    CHECK_EQ(ep_flush(&p.server, &p.client), 0);
    (void)u8;
done:
    pair_free(&p);
}

static void test_eof_while_open_is_abnormal(void) {
    pair p;
    wsm_failure_info fi;
    if (!pair_open(&p, NULL, NULL)) goto done;
    CHECK_OK(wsm_handle_eof(p.server.conn));
    CHECK_EQ(wsm_state(p.server.conn), WSM_CLOSED);
    CHECK(wsm_should_close_transport(p.server.conn));
    CHECK_EQ(wsm_close_status(p.server.conn), 1006);
    CHECK_OK(wsm_failure(p.server.conn, &fi));
    CHECK_EQ(fi.kind, WSM_FAILURE_TRANSPORT_LOST);
    CHECK_EQ(ep_flush(&p.server, &p.client), 0);
done:
    pair_free(&p);
}

void run_timer_tests(void) {
    RUN(test_server_handshake_timeout_sends_408);
    RUN(test_client_handshake_timeout);
    RUN(test_no_timers_when_disabled);
    RUN(test_keepalive_ping_and_dead_peer);
    RUN(test_close_timeout);
    RUN(test_client_waits_for_server_tcp_close);
    RUN(test_auth_timeout);
    RUN(test_eof_while_open_is_abnormal);
}
