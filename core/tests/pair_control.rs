//! Pair tests of control frames: pings answered by pongs, unsolicited pongs, pings between the
//! fragments of a message, a queued pong going ahead of data, and a pong waiting for the end of
//! a streamed frame. Every scenario runs in both directions.
//!
//! A client and a server `Connection` are wired together through simulated sockets, on a
//! simulated clock, driven exactly as the I/O contract says (`common/pair.rs`).

mod common;

use common::pair::*;
use common::*;
use wsmachine::{Error, MessageKind, MAX_PENDING_INPUT};

both_directions!(ping_pong, |s: usize, r: usize| {
    let mut p = Pair::with_bufsize(MAX_PENDING_INPUT);
    let payloads: [&[u8]; 4] = [b"", b"x", b"hello ping", &[0xA5; 125]];
    for pl in payloads {
        p.send(s, |c, o| c.send_ping(pl, o)).unwrap();
        p.run();
    }
    let want: Vec<Vec<u8>> = payloads.iter().map(|x| x.to_vec()).collect();
    assert_eq!(p.ep[r].pings(), want);
    assert_eq!(p.ep[s].pongs(), want);
    assert!(p.ep[r].pongs().is_empty());
    assert_eq!(
        p.send(s, |c, o| c.send_ping(&[0; 126], o)),
        Err(Error::ControlPayloadTooLong)
    );
    assert_eq!(
        p.send(s, |c, o| c.send_pong(&[0; 126], o)),
        Err(Error::ControlPayloadTooLong)
    );
    // An unsolicited pong is delivered and not answered.
    p.send(s, |c, o| c.send_pong(b"heartbeat", o)).unwrap();
    p.run();
    assert_eq!(p.ep[r].pongs(), [b"heartbeat".to_vec()]);
    assert_eq!(p.ep[s].pings(), Vec::<Vec<u8>>::new());
});

both_directions!(pings_between_fragments, |s: usize, r: usize| {
    for bufsize in [4096, MAX_PENDING_INPUT] {
        let mut p = Pair::with_bufsize(bufsize);
        let big = SplitMix(5).bytes(1000);
        p.send(s, |c, o| {
            c.send_fragment(MessageKind::Binary, &big, false, o)
        })
        .unwrap();
        p.send(s, |c, o| c.send_ping(b"p1", o)).unwrap();
        p.send(s, |c, o| {
            c.send_fragment(MessageKind::Binary, b"mid", false, o)
        })
        .unwrap();
        p.send(s, |c, o| c.send_ping(b"p2", o)).unwrap();
        p.send(s, |c, o| c.send_pong(b"u", o)).unwrap();
        p.send(s, |c, o| {
            c.send_fragment(MessageKind::Binary, b"end", true, o)
        })
        .unwrap();
        // All of it is on the wire before the receiver reads anything.
        p.run();
        let mut want = big.clone();
        want.extend_from_slice(b"midend");
        assert_eq!(p.ep[r].msgs.len(), 1);
        assert_eq!(p.ep[r].msgs[0].data, want);
        assert_eq!(p.ep[r].msgs[0].frames, 3);
        assert_eq!(
            p.ep[r].log,
            [
                Seen::FrameEnd(0),
                Seen::Ping(b"p1".to_vec()),
                Seen::FrameEnd(0),
                Seen::Ping(b"p2".to_vec()),
                Seen::Pong(b"u".to_vec()),
                Seen::FrameEnd(0),
                Seen::MsgEnd(0)
            ]
        );
        // Each ping was answered (the harness flushes after every read call).
        assert_eq!(p.ep[s].pongs(), [b"p1".to_vec(), b"p2".to_vec()]);
    }
});

both_directions!(pong_goes_ahead_of_data, |s: usize, r: usize| {
    // The receiver has a pong queued when its application sends data: the pong goes first.
    let mut p = Pair::open_default();
    p.send(s, |c, o| c.send_ping(b"now", o)).unwrap();
    // Let the receiver read the ping but not flush: read directly.
    let mut bytes: Vec<u8> = p.wire[r].bytes.drain(..).collect();
    let ev = p.ep[r].conn.read(0, &mut bytes).unwrap();
    assert_eq!(ev.event, Some(wsmachine::Event::Ping(b"now")));
    p.send_msg(r, MessageKind::Text, b"data");
    let wire: Vec<u8> = p.wire[s].bytes.iter().copied().collect();
    let frames = parse_frames(&wire);
    assert_eq!(frames.len(), 2);
    assert_eq!(
        (frames[0].opcode, frames[0].payload.as_slice()),
        (OP_PONG, &b"now"[..])
    );
    assert_eq!(
        (frames[1].opcode, frames[1].payload.as_slice()),
        (OP_TEXT, &b"data"[..])
    );
    assert_eq!(p.ep[r].conn.poll_transmit(&mut [0; 64]), Ok(0));
});

both_directions!(pong_waits_for_a_streamed_frame, |a: usize, b: usize| {
    // a is in the middle of a streamed frame when b's ping arrives: the pong must not cut
    // into the frame's payload; it follows the frame.
    let mut p = Pair::with_bufsize(MAX_PENDING_INPUT);
    let data = SplitMix(77).bytes(1000);
    p.send(a, |c, o| c.begin_frame(MessageKind::Binary, true, 1000, o))
        .unwrap();
    p.send(a, |c, o| c.send_payload(&data[..10], o)).unwrap();
    p.send(b, |c, o| c.send_ping(b"are you there", o)).unwrap();
    p.run();
    assert_eq!(p.ep[a].pings(), [b"are you there".to_vec()]);
    assert!(p.ep[b].pongs().is_empty());
    for piece in data[10..].chunks(100) {
        p.send(a, |c, o| c.send_payload(piece, o)).unwrap();
        p.run();
    }
    assert_eq!(p.ep[b].msgs.len(), 1);
    assert_eq!(p.ep[b].msgs[0].data, data);
    assert_eq!(p.ep[b].pongs(), [b"are you there".to_vec()]);
    assert_eq!(
        p.ep[b].log.last(),
        Some(&Seen::Pong(b"are you there".to_vec()))
    );
    assert!(p.ep[b].failures().is_empty());
});
