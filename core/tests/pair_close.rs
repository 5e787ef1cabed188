//! Pair tests of closing: the closing handshake (started by either side, simultaneous, answered
//! by the application, during a peer's message), who closes the TCP connection first,
//! end-of-stream without a close frame, and protocol failures (also in the middle of a
//! streamed frame). Every scenario runs in both directions.
//!
//! A client and a server `Connection` are wired together through simulated sockets, on a
//! simulated clock, driven exactly as the I/O contract says (`common/pair.rs`).

mod common;

use common::pair::*;
use common::*;
use wsmachine::{
    CloseCode, CloseStatus, Error, Failure, MessageKind, ProtocolError, ReadyState, Role,
    MAX_PENDING_INPUT,
};

both_directions!(close_handshake, |a: usize, b: usize| {
    let mut p = Pair::with_bufsize(MAX_PENDING_INPUT);
    p.send_msg(a, MessageKind::Text, b"last words");
    p.send(a, |c, o| {
        c.close(0, CloseCode::new(4001).unwrap(), "bye ✓", o)
    })
    .unwrap();
    assert_eq!(p.state(a), ReadyState::Closing);
    assert_eq!(
        p.ep[a].conn.close_status(),
        Some(CloseStatus::Code(CloseCode::new(4001).unwrap()))
    );
    assert_eq!(p.ep[a].conn.poll_timeout(), Some(5_000));
    // After close, sending is refused.
    assert_eq!(
        p.send(a, |c, o| c.send_text("x", o)),
        Err(Error::InvalidState)
    );
    assert_eq!(
        p.send(a, |c, o| c.close(0, CloseCode::NORMAL, "", o)),
        Err(Error::InvalidState)
    );
    // b reads the message and the close, but does not flush yet: Closing. (Probed on a
    // clone; the real endpoint reads below.)
    assert_eq!(p.state(b), ReadyState::Open);
    let mut buf: Vec<u8> = p.wire[b].bytes.iter().copied().collect();
    let mut probe = p.ep[b].conn.clone();
    let r1 = probe.read(0, &mut buf).unwrap();
    let used = r1.consumed;
    assert!(matches!(r1.event, Some(wsmachine::Event::Data(_))));
    let r2 = probe.read(0, &mut buf[used..]).unwrap();
    assert_eq!(
        r2.event,
        Some(wsmachine::Event::Close {
            status: CloseStatus::Code(CloseCode::new(4001).unwrap()),
            reason: "bye ✓"
        })
    );
    assert_eq!(probe.state(), ReadyState::Closing);
    assert!(!probe.should_close_transport());
    p.run();
    let expect_close = (
        CloseStatus::Code(CloseCode::new(4001).unwrap()),
        "bye ✓".to_string(),
    );
    assert_eq!(p.ep[b].closes(), [expect_close]);
    assert_eq!(p.ep[b].msgs[0].data, b"last words");
    // The echo carries the code; a receives it.
    assert_eq!(
        p.ep[a].closes(),
        [(
            CloseStatus::Code(CloseCode::new(4001).unwrap()),
            String::new()
        )]
    );
    for i in [a, b] {
        assert_eq!(p.state(i), ReadyState::Closed);
        assert_eq!(
            p.ep[i].conn.close_status(),
            Some(CloseStatus::Code(CloseCode::new(4001).unwrap()))
        );
        assert_eq!(p.ep[i].conn.failure(), None);
        assert!(p.ep[i].closed_at.is_some());
    }
    // The server closed the TCP connection first; the client followed on EOF.
    assert!(p.ep[S].closed_at < p.ep[C].closed_at);
    assert!(p.ep[C].eof);
    assert!(!p.ep[S].eof);
    assert_eq!(p.now, 0);
});

both_directions!(close_while_peer_mid_message, |a: usize, b: usize| {
    let mut p = Pair::open_default();
    p.send(b, |c, o| {
        c.send_fragment(MessageKind::Text, b"half", false, o)
    })
    .unwrap();
    p.send(a, |c, o| c.close(0, CloseCode::GOING_AWAY, "", o))
        .unwrap();
    p.run();
    // b's message is abandoned; both closed with 1001.
    for i in [a, b] {
        assert_eq!(p.state(i), ReadyState::Closed);
        assert_eq!(
            p.ep[i].conn.close_status(),
            Some(CloseStatus::Code(CloseCode::GOING_AWAY))
        );
    }
    assert!(p.ep[a].msgs.is_empty());
    assert!(p.ep[a].failures().is_empty());
});

both_directions!(close_reply_by_application, |a: usize, b: usize| {
    // b answers a's close itself (with its own code) instead of flushing the queued echo.
    let mut p = Pair::open_default();
    p.send(a, |c, o| c.close(0, CloseCode::NORMAL, "done", o))
        .unwrap();
    let mut bytes: Vec<u8> = p.wire[b].bytes.drain(..).collect();
    let r = p.ep[b].conn.read(0, &mut bytes).unwrap();
    assert!(matches!(r.event, Some(wsmachine::Event::Close { .. })));
    p.send(b, |c, o| {
        c.close(0, CloseCode::new(4999).unwrap(), "me too", o)
    })
    .unwrap();
    // Only one close frame from b.
    let wire: Vec<u8> = p.wire[a].bytes.iter().copied().collect();
    let frames = parse_frames(&wire);
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].close_code(), Some(4999));
    assert_eq!(frames[0].close_reason(), "me too");
    p.run();
    assert_eq!(
        p.ep[a].closes(),
        [(
            CloseStatus::Code(CloseCode::new(4999).unwrap()),
            "me too".to_string()
        )]
    );
    assert_eq!(p.state(a), ReadyState::Closed);
    assert_eq!(p.state(b), ReadyState::Closed);
    assert!(p.ep[S].closed_at < p.ep[C].closed_at);
});

both_directions!(simultaneous_close, |a: usize, b: usize| {
    let mut p = Pair::open_default();
    p.send(a, |c, o| c.close(0, CloseCode::NORMAL, "a", o))
        .unwrap();
    p.send(b, |c, o| c.close(0, CloseCode::GOING_AWAY, "b", o))
        .unwrap();
    p.run();
    // Each got the other's close; nobody sent a second close frame.
    assert_eq!(
        p.ep[a].closes(),
        [(CloseStatus::Code(CloseCode::GOING_AWAY), "b".to_string())]
    );
    assert_eq!(
        p.ep[b].closes(),
        [(CloseStatus::Code(CloseCode::NORMAL), "a".to_string())]
    );
    for i in [a, b] {
        assert_eq!(p.state(i), ReadyState::Closed);
        assert!(p.ep[i].closed_at.is_some());
        assert!(p.ep[i].failures().is_empty());
    }
    assert!(p.ep[S].closed_at < p.ep[C].closed_at);
});

both_directions!(eof_is_abnormal, |lost: usize, crasher: usize| {
    let mut p = Pair::open_default();
    p.send(lost, |c, o| {
        c.send_fragment(MessageKind::Binary, b"part", false, o)
    })
    .unwrap();
    p.run();
    // The peer's socket goes away without a close frame.
    p.close_socket(crasher);
    p.run();
    assert!(p.ep[lost].eof);
    let c = &p.ep[lost].conn;
    assert_eq!(c.state(), ReadyState::Closed);
    assert_eq!(c.close_status(), Some(CloseStatus::Abnormal));
    assert_eq!(c.failure(), Some(Failure::TransportLost));
    assert!(p.ep[lost].closed_at.is_some());
    assert_eq!(c.poll_timeout(), None);
    // Nothing can be sent any more.
    let mut out = [0u8; 64];
    let mut c = c.clone();
    assert_eq!(c.send_text("x", &mut out), Err(Error::InvalidState));
});

both_directions!(eof_during_closing_is_abnormal, |a: usize, b: usize| {
    let mut p = Pair::open_default();
    p.ep[b].frozen = true;
    p.send(a, |c, o| c.close(0, CloseCode::NORMAL, "", o))
        .unwrap();
    p.close_socket(b);
    p.run();
    assert_eq!(p.state(a), ReadyState::Closed);
    assert_eq!(
        p.ep[a].conn.close_status(),
        Some(CloseStatus::Abnormal),
        "EOF before the close reply"
    );
    assert_eq!(p.ep[a].conn.failure(), Some(Failure::TransportLost));
});

both_directions!(
    protocol_violation_through_the_pair,
    |bad: usize, victim: usize| {
        // A peer that sends a reserved opcode gets 1002 and both sides end.
        let mut p = Pair::open_default();
        let mask = (role_of(victim) == Role::Server).then_some(KEY);
        p.wire[victim].push(&frame(FIN | 0x3, b"??", mask));
        p.run();
        assert_eq!(p.ep[victim].failures(), [ProtocolError::ReservedOpcode]);
        assert_eq!(
            p.ep[bad].closes(),
            [(
                CloseStatus::Code(CloseCode::PROTOCOL_ERROR),
                "reserved opcode".to_string()
            )]
        );
        assert_eq!(p.state(victim), ReadyState::Closed);
        assert_eq!(p.state(bad), ReadyState::Closed);
        assert!(p.ep[victim].closed_at.is_some());
        assert!(p.ep[bad].closed_at.is_some());
    }
);

both_directions!(
    failure_while_streaming_does_not_corrupt_the_frame,
    |a: usize, b: usize| {
        // a is in the middle of a streamed frame when it receives garbage and fails. A close
        // frame cannot be put inside the frame's payload: b must never receive bytes as payload
        // that a's application did not send.
        let mut p = Pair::open_default();
        let data = SplitMix(78).bytes(1000);
        p.send(a, |c, o| c.begin_frame(MessageKind::Binary, true, 1000, o))
            .unwrap();
        p.send(a, |c, o| c.send_payload(&data[..10], o)).unwrap();
        p.run();
        let mask = (role_of(a) == Role::Server).then_some(KEY);
        p.wire[a].push(&frame(FIN | 0x3, b"bad", mask));
        p.run();
        assert_eq!(p.ep[a].failures(), [ProtocolError::ReservedOpcode]);
        assert_eq!(p.state(a), ReadyState::Closed);
        assert!(p.ep[a].closed_at.is_some());
        // b saw the 10 real bytes of an unfinished frame, then the connection was lost.
        let cur = p.ep[b].cur.clone().expect("message in progress");
        assert_eq!(cur.data, &data[..10]);
        assert!(p.ep[b].failures().is_empty(), "{:?}", p.ep[b].log);
        assert_eq!(p.ep[b].conn.close_status(), Some(CloseStatus::Abnormal));
        assert_eq!(p.ep[b].conn.failure(), Some(Failure::TransportLost));
    }
);
