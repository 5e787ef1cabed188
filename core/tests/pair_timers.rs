//! Pair tests of the connection's deadlines, on the simulated clock: the handshake timeout
//! (a silent peer; a request dribbled past the server's deadline, answered 408), keepalive
//! pings and dead-peer detection, the close timeout (a peer that never answers or never closes
//! TCP), and the server's authentication timeout.
//!
//! A client and a server `Connection` are wired together through simulated sockets, on a
//! simulated clock, driven exactly as the I/O contract says (`common/pair.rs`).

mod common;

use common::pair::*;
use common::*;
use wsmachine::{
    CloseCode, CloseStatus, Failure, HandshakeError, MessageKind, ProtocolError, ReadyState,
};

// ---------------------------------------------------------------------------------------
// Handshake timeout
// ---------------------------------------------------------------------------------------

both_directions!(handshake_timeout, |waiting: usize, silent: usize| {
    // The silent side never sends its handshake message (hung); the waiting side gives up.
    let mut o = Opts::default();
    o.client_cfg.handshake_timeout_ms = 3_000;
    o.server_cfg.handshake_timeout_ms = 3_000;
    let mut p = Pair::new(o);
    if waiting == C {
        p.write_request();
    }
    p.ep[silent].frozen = true;
    p.run_until(2_999);
    assert_eq!(p.state(waiting), ReadyState::Connecting);
    p.run_until(10_000);
    assert_eq!(p.state(waiting), ReadyState::Closed);
    assert_eq!(
        p.ep[waiting].conn.failure(),
        Some(Failure::Handshake(HandshakeError::Timeout))
    );
    assert_eq!(p.ep[waiting].closed_at, Some(1));
    if waiting == S {
        // The server answered 408 before closing.
        let sent: Vec<u8> = p.wire[C].bytes.iter().copied().collect();
        let text = String::from_utf8(sent).unwrap();
        assert!(text.starts_with("HTTP/1.1 408 "), "{text}");
    } else {
        assert_eq!(p.ep[C].conn.close_status(), Some(CloseStatus::Abnormal));
        // The request is all the client sent before closing.
        let sent: Vec<u8> = p.wire[S].bytes.iter().copied().collect();
        assert!(sent.starts_with(b"GET /chat HTTP/1.1\r\n"));
        assert!(sent.ends_with(b"\r\n\r\n"));
        assert!(p.wire[S].fin);
    }
});

#[test]
fn handshake_timeout_server_408_read_by_client() {
    // The client dribbles its request a byte every 100 ms; the server's 5 s run out first.
    let mut o = Opts::default();
    o.server_cfg.handshake_timeout_ms = 5_000;
    o.client_cfg.handshake_timeout_ms = 60_000;
    let mut p = Pair::new(o);
    p.write_request();
    let request: Vec<u8> = p.wire[S].bytes.drain(..).collect();
    let mut sent = 0;
    while p.ep[S].closed_at.is_none() {
        p.wire[S].push(&request[sent..sent + 1]);
        sent += 1;
        p.run_until(p.now + 100);
    }
    assert!(sent < request.len());
    assert_eq!(p.now, 5_000);
    p.run();
    assert_eq!(
        p.ep[S].conn.failure(),
        Some(Failure::Handshake(HandshakeError::Timeout))
    );
    match p.ep[C].response.clone().unwrap() {
        SeenResponse::Rejected {
            status, complete, ..
        } => {
            assert_eq!(status, 408);
            assert!(complete);
        }
        r => panic!("{r:?}"),
    }
    assert_eq!(p.state(C), ReadyState::Closed);
    assert!(p.ep[C].closed_at.is_some());
}

// ---------------------------------------------------------------------------------------
// Keepalive and dead peers
// ---------------------------------------------------------------------------------------

fn keepalive_cfg(o: &mut Opts, i: usize) {
    let cfg = if i == C {
        &mut o.client_cfg
    } else {
        &mut o.server_cfg
    };
    cfg.keepalive_interval_ms = 1_000;
    cfg.keepalive_timeout_ms = 500;
}

both_directions!(keepalive_ping_after_idle, |pinger: usize, peer: usize| {
    let mut o = Opts::default();
    keepalive_cfg(&mut o, pinger);
    let mut p = Pair::open(o);
    assert_eq!(p.ep[pinger].conn.poll_timeout(), Some(1_000));
    assert_eq!(p.ep[peer].conn.poll_timeout(), None);
    p.run_until(999);
    assert!(p.ep[peer].pings().is_empty());
    p.run_until(5_000);
    // A ping at 1 s, 2 s, ... 5 s, each answered at once.
    assert_eq!(p.ep[peer].pings().len(), 5);
    assert!(p.ep[peer].pings().iter().all(|x| x.is_empty()));
    assert_eq!(p.ep[pinger].pongs().len(), 5);
    assert_eq!(p.ep[pinger].conn.poll_timeout(), Some(6_000));
    // Traffic from the peer postpones the next ping.
    p.run_until(5_800);
    p.send_msg(peer, MessageKind::Text, b"busy");
    p.run();
    assert_eq!(p.ep[pinger].conn.poll_timeout(), Some(6_800));
    p.run_until(6_799);
    assert_eq!(p.ep[peer].pings().len(), 5);
    p.run_until(6_800);
    assert_eq!(p.ep[peer].pings().len(), 6);
    for i in [C, S] {
        assert_eq!(p.state(i), ReadyState::Open);
    }
});

both_directions!(dead_peer_detection, |pinger: usize, peer: usize| {
    let mut o = Opts::default();
    keepalive_cfg(&mut o, pinger);
    let mut p = Pair::open(o);
    p.run_until(2_500);
    assert_eq!(p.ep[pinger].pongs().len(), 2);
    // The peer stops reading (hung process).
    p.ep[peer].frozen = true;
    p.run_until(3_499);
    assert_eq!(p.state(pinger), ReadyState::Open);
    // Ping at 3000 unanswered; dead at 3500.
    p.run_until(3_500);
    assert_eq!(p.state(pinger), ReadyState::Closed);
    assert_eq!(p.now, 3_500);
    let c = &p.ep[pinger].conn;
    assert_eq!(c.close_status(), Some(CloseStatus::Abnormal));
    assert_eq!(c.failure(), Some(Failure::DeadPeer));
    assert!(c.should_close_transport());
    assert!(p.ep[pinger].closed_at.is_some());
    assert_eq!(c.poll_timeout(), None);
    // The last thing it sent was the ping, no close frame.
    let wire: Vec<u8> = p.wire[peer].bytes.iter().copied().collect();
    let frames = parse_frames(&wire);
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].opcode, OP_PING);
});

// ---------------------------------------------------------------------------------------
// Close timeout
// ---------------------------------------------------------------------------------------

both_directions!(
    client_close_timeout_when_server_keeps_tcp_open,
    |a: usize, _b: usize| {
        // Whoever starts the close, a server that never closes TCP leaves the client waiting
        // close_timeout_ms after the closing handshake, then the client closes.
        let mut o = Opts::default();
        o.client_cfg.close_timeout_ms = 2_000;
        let mut p = Pair::open(o);
        p.ep[S].never_close = true;
        p.run_until(1_000);
        p.send(a, |c, o| c.close(1_000, CloseCode::NORMAL, "", o))
            .unwrap();
        p.run();
        assert_eq!(p.state(C), ReadyState::Closed);
        assert_eq!(p.state(S), ReadyState::Closed);
        assert!(p.ep[S].conn.should_close_transport());
        assert!(p.ep[C].closed_at.is_none());
        assert!(!p.ep[C].conn.should_close_transport());
        assert_eq!(p.ep[C].conn.poll_timeout(), Some(3_000));
        p.run_until(2_999);
        assert!(p.ep[C].closed_at.is_none());
        p.run_until(3_000);
        assert!(p.ep[C].closed_at.is_some());
        assert_eq!(
            p.ep[C].conn.close_status(),
            Some(CloseStatus::Code(CloseCode::NORMAL))
        );
        assert_eq!(p.ep[C].conn.failure(), None);
    }
);

both_directions!(close_handshake_timeout, |a: usize, b: usize| {
    let mut o = Opts::default();
    o.client_cfg.close_timeout_ms = 1_500;
    o.server_cfg.close_timeout_ms = 1_500;
    let mut p = Pair::open(o);
    p.run_until(100);
    p.ep[b].frozen = true;
    p.send(a, |c, o| c.close(100, CloseCode::NORMAL, "bye", o))
        .unwrap();
    p.run_until(1_599);
    assert_eq!(p.state(a), ReadyState::Closing);
    p.run_until(10_000);
    assert_eq!(p.state(a), ReadyState::Closed);
    let c = &p.ep[a].conn;
    assert_eq!(c.close_status(), Some(CloseStatus::Abnormal));
    assert_eq!(c.failure(), Some(Failure::CloseTimeout));
    assert_eq!(p.ep[a].closed_at, Some(1));
    assert!(p.ep[a].closes().is_empty());
});

// ---------------------------------------------------------------------------------------
// Authentication timeout (server only)
// ---------------------------------------------------------------------------------------

#[test]
fn auth_timeout_closes_1008() {
    let mut o = Opts::default();
    o.server_cfg.auth_timeout_ms = 3_000;
    let mut p = Pair::open(o);
    assert!(!p.ep[S].conn.is_authenticated());
    assert!(p.ep[C].conn.is_authenticated());
    assert_eq!(p.ep[S].conn.poll_timeout(), Some(3_000));
    // Messages flow meanwhile.
    p.send_msg(C, MessageKind::Text, b"hello?");
    p.run_until(2_999);
    assert_eq!(p.ep[S].msgs.len(), 1);
    assert_eq!(p.state(S), ReadyState::Open);
    p.run_until(3_000);
    assert_eq!(
        p.ep[S].conn.failure(),
        Some(Failure::Protocol(ProtocolError::AuthTimeout))
    );
    assert_eq!(
        p.ep[S].conn.close_status(),
        Some(CloseStatus::Code(CloseCode::POLICY_VIOLATION))
    );
    assert_eq!(
        p.ep[C].closes(),
        [(
            CloseStatus::Code(CloseCode::POLICY_VIOLATION),
            "authentication timeout".to_string()
        )]
    );
    assert_eq!(p.state(S), ReadyState::Closed);
    assert_eq!(p.state(C), ReadyState::Closed);
    assert!(p.ep[S].closed_at < p.ep[C].closed_at);
}

#[test]
fn auth_in_time_keeps_the_connection() {
    let mut o = Opts::default();
    o.server_cfg.auth_timeout_ms = 3_000;
    o.client_cfg.auth_timeout_ms = 3_000; // ignored by clients
    let mut p = Pair::open(o);
    assert_eq!(p.ep[C].conn.poll_timeout(), None);
    p.send_msg(C, MessageKind::Text, b"token=secret");
    p.run_until(1_000);
    assert_eq!(p.ep[S].msgs[0].data, b"token=secret");
    p.ep[S].conn.set_authenticated();
    assert!(p.ep[S].conn.is_authenticated());
    assert_eq!(p.ep[S].conn.poll_timeout(), None);
    p.settle();
    assert!(p.now > 1_000_000);
    assert_eq!(p.state(S), ReadyState::Open);
    assert_eq!(p.state(C), ReadyState::Open);
}
