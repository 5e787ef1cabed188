//! Resource exhaustion: a hostile peer that tries to make the connection wait, buffer or answer
//! without bound. Each test drives the public API deterministically (simulated clock) and
//! checks both the outcome (status code, close code, timer) and that what the caller must hold
//! stays bounded: the connection never allocates, its size is fixed, the input it leaves
//! unconsumed is at most `MAX_PENDING_INPUT`, and what `poll_transmit` produces after a flood is
//! at most one control frame of each kind.
//!
//! Frames are built and decoded with the independent codec of `wsmachine-test-support`, so
//! that the checks do not rely on the core's own framing code.

use core::mem::size_of;

use wsmachine::{
    CloseCode, CloseStatus, Config, Connection, Error, Event, Failure, HandshakeError,
    ParsedRequest, ProtocolError, ReadyState, Role, EMPTY_HEADER, MAX_PENDING_INPUT,
};
use wsmachine_test_support::codec::{
    close_code_allowed, close_payload, frame, parse_frames, put_header, LengthForm, RawFrame, KEY,
    OP_BINARY, OP_PONG,
};

/// The largest output a connection may queue by itself once open: a pong and a close, each a
/// control frame of at most 14 + 125 bytes.
const MAX_QUEUED_OUTPUT: usize = 2 * (14 + 125);

/// `Connection` is a fixed-size value: all per-connection state lives in it (no heap). This
/// bound (the firmware goal, met on thumbv6m and x86_64 alike) guards against growth. With
/// the `deflate` feature the connection also holds the offer and the agreed parameters and
/// counts inflated bytes (32 bytes more on x86_64); without it, it is exactly as before.
const MAX_CONNECTION_SIZE: usize = if cfg!(feature = "deflate") { 288 } else { 256 };

/// Under Miri (about a thousand times slower) the floods are shorter and the limits they run
/// into smaller; the logic checked is the same.
const MIRI: bool = cfg!(miri);

/// A frame as a client sends it (masked with `KEY`).
fn client_frame(b0: u8, payload: &[u8]) -> Vec<u8> {
    frame(b0, payload, Some(KEY))
}

/// A frame header with a 64-bit length, masked when `masked`, and no payload.
fn header_64(b0: u8, len: u64, masked: bool) -> Vec<u8> {
    let mut v = Vec::new();
    put_header(&mut v, b0, len, masked.then_some(KEY), LengthForm::Forced64);
    v
}

/// Decodes what a server writes: whole frames, none of them masked.
fn server_frames(b: &[u8]) -> Vec<RawFrame> {
    let frames = parse_frames(b);
    for f in &frames {
        assert_eq!(f.mask, None, "a server frame is masked");
    }
    frames
}

/// (opcode, payload) of each frame.
fn ops(frames: &[RawFrame]) -> Vec<(u8, &[u8])> {
    frames.iter().map(|f| (f.opcode, &f.payload[..])).collect()
}

/// Everything `poll_transmit` has, through a buffer of `MAX_QUEUED_OUTPUT` bytes.
fn drain(conn: &mut Connection) -> Vec<u8> {
    let mut all = Vec::new();
    let mut buf = [0u8; MAX_QUEUED_OUTPUT];
    for _ in 0..4 {
        let n = conn.poll_transmit(&mut buf).expect("poll_transmit");
        if n == 0 {
            return all;
        }
        all.extend_from_slice(&buf[..n]);
    }
    panic!("poll_transmit keeps producing output");
}

/// Feeds `input` to `conn` as the I/O contract says (keeping unconsumed bytes, reading until no
/// event) WITHOUT flushing `poll_transmit`; calls `on_event` for every event. Returns the
/// number of bytes left unconsumed.
fn feed(
    conn: &mut Connection,
    now: u64,
    input: &mut [u8],
    mut on_event: impl FnMut(&Event<'_>),
) -> usize {
    let mut pos = 0;
    let total = input.len();
    loop {
        let r = conn.read(now, &mut input[pos..]).expect("read");
        assert!(r.consumed <= total - pos);
        pos += r.consumed;
        match r.event {
            Some(e) => on_event(&e),
            None => break,
        }
    }
    let left = input.len() - pos;
    assert!(left <= MAX_PENDING_INPUT, "{left} bytes left pending");
    left
}

#[test]
fn connection_size_is_fixed_and_small() {
    // The whole per-connection state, whatever the limits say: no allocation anywhere.
    assert!(
        size_of::<Connection>() <= MAX_CONNECTION_SIZE,
        "Connection grew to {} bytes",
        size_of::<Connection>()
    );
    let mut huge = Config::new();
    huge.max_frame_payload = u64::MAX;
    huge.max_message_size = u64::MAX;
    huge.max_fragments = u32::MAX;
    huge.max_handshake_size = usize::MAX;
    // Same type, same size: limits change decisions, never storage.
    let a = Connection::new_open(Role::Server, huge, 0, [0; 16]).unwrap();
    let b = Connection::new_open(Role::Server, Config::new(), 0, [0; 16]).unwrap();
    assert_eq!(size_of_val(&a), size_of_val(&b));
}

#[test]
fn handshake_dribbled_a_byte_at_a_time_times_out_with_408() {
    // A slowloris: one byte every 100 ms (1 s under Miri) of a request that never ends.
    let mut conn = Connection::server(Config::new(), 0).unwrap();
    let deadline = conn.poll_timeout().expect("handshake deadline");
    assert_eq!(deadline, 10_000);
    let source = b"GET /chat HTTP/1.1\r\nHost: example.com\r\nX-Slow: "
        .iter()
        .copied();
    let mut received = Vec::new();
    let mut now = 0u64;
    let step = if MIRI { 1_000 } else { 100 };
    for b in source.chain(core::iter::repeat(b'z')) {
        now += step;
        if now >= deadline {
            break;
        }
        received.push(b);
        let mut headers = [EMPTY_HEADER; 16];
        match conn.read_request(now, &received, &mut headers) {
            Ok(ParsedRequest::Partial) => {}
            other => panic!("at {now} ms: {other:?}"),
        }
        conn.handle_timeout(now);
        // Progress does not move the deadline.
        assert_eq!(conn.poll_timeout(), Some(deadline));
        assert_eq!(conn.state(), ReadyState::Connecting);
        assert_eq!(drain(&mut conn), b"");
    }
    assert!(received.len() < Config::new().max_handshake_size);
    conn.handle_timeout(deadline);
    let resp = drain(&mut conn);
    assert!(
        resp.starts_with(b"HTTP/1.1 408 "),
        "{}",
        String::from_utf8_lossy(&resp)
    );
    assert!(conn.should_close_transport());
    assert_eq!(conn.state(), ReadyState::Closed);
    assert_eq!(
        conn.failure(),
        Some(Failure::Handshake(HandshakeError::Timeout))
    );
    assert_eq!(conn.poll_timeout(), None);
}

/// Feeds `request` in reads of `chunk` bytes into a buffer that grows like a real server's,
/// and returns the error and how many bytes had arrived when it was reported.
fn flood(request: &[u8], chunk: usize, header_slots: usize) -> (HandshakeError, usize, Vec<u8>) {
    let mut conn = Connection::server(Config::new(), 0).unwrap();
    let mut headers = vec![EMPTY_HEADER; header_slots];
    let mut len = 0;
    while len < request.len() {
        len = (len + chunk).min(request.len());
        match conn.read_request(0, &request[..len], &mut headers) {
            Ok(ParsedRequest::Partial) => continue,
            Err(Error::Handshake(e)) => {
                let resp = drain(&mut conn);
                assert!(conn.should_close_transport());
                assert_eq!(conn.state(), ReadyState::Closed);
                return (e, len, resp);
            }
            other => panic!("{other:?}"),
        }
    }
    panic!("the flood was accepted");
}

// httparse under Miri is too slow for kilobytes of headers; the handshake parsers run under
// Miri in the other test files on smaller inputs.
#[test]
#[cfg_attr(miri, ignore)]
fn header_flood_many_small_headers_gives_431() {
    let mut req = b"GET /chat HTTP/1.1\r\nHost: example.com\r\n".to_vec();
    for i in 0..5000 {
        req.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    req.extend_from_slice(b"\r\n");
    // More header lines than the caller's storage: 431 (TooManyHeaders).
    let (e, at, resp) = flood(&req, 512, 32);
    assert_eq!(e, HandshakeError::TooManyHeaders);
    assert!(at <= Config::new().max_handshake_size + 512);
    assert!(resp.starts_with(b"HTTP/1.1 431 "));
    // With storage for all of them, the size limit stops it: 431 (TooLarge), at the latest
    // in the read that crosses max_handshake_size.
    let (e, at, resp) = flood(&req, 512, 6000);
    assert_eq!(e, HandshakeError::TooLarge);
    assert!(
        at <= Config::new().max_handshake_size + 512,
        "reported after {at} bytes"
    );
    assert!(resp.starts_with(b"HTTP/1.1 431 "));
}

#[test]
#[cfg_attr(miri, ignore)]
fn header_flood_one_huge_header_gives_431() {
    let mut req = b"GET /chat HTTP/1.1\r\nHost: example.com\r\nCookie: ".to_vec();
    req.extend(core::iter::repeat_n(b'a', 1 << 20));
    req.extend_from_slice(b"\r\n\r\n");
    let (e, at, resp) = flood(&req, 1024, 16);
    assert_eq!(e, HandshakeError::TooLarge);
    assert!(
        at <= Config::new().max_handshake_size + 1024,
        "reported after {at} bytes"
    );
    assert!(resp.starts_with(b"HTTP/1.1 431 "));
}

#[test]
fn frame_declaring_2_pow_63_minus_1_bytes_fails_at_once_with_1009() {
    for role in [Role::Server, Role::Client] {
        let mut conn = Connection::new_open(role, Config::new(), 0, [1; 16]).unwrap();
        let mut head = header_64(0x82, (1 << 63) - 1, role == Role::Server);
        let hl = head.len();
        let r = conn.read(0, &mut head).expect("read");
        // Only the header was given; the failure comes at once, consuming exactly it.
        assert_eq!(r.consumed, hl);
        assert_eq!(r.event, Some(Event::Failed(ProtocolError::FrameTooLarge)));
        let out = drain(&mut conn);
        assert!(out.len() <= MAX_QUEUED_OUTPUT);
        let frames = if role == Role::Server {
            server_frames(&out)
        } else {
            // Masked by a client.
            let frames = parse_frames(&out);
            assert!(frames.iter().all(|f| f.mask.is_some()));
            frames
        };
        assert_eq!(frames.len(), 1);
        assert!(frames[0].fin && frames[0].rsv == 0);
        assert_eq!(frames[0].close_code(), Some(1009));
        assert_eq!(
            conn.close_status(),
            Some(CloseStatus::Code(CloseCode::MESSAGE_TOO_BIG))
        );
        assert!(conn.should_close_transport());
    }
    // The top bit set is not a length at all: 1002.
    let mut conn = Connection::new_open(Role::Server, Config::new(), 0, [1; 16]).unwrap();
    let mut head = header_64(0x82, 1 << 63, true);
    let r = conn.read(0, &mut head).expect("read");
    assert_eq!(r.event, Some(Event::Failed(ProtocolError::LengthOverflow)));
    assert_eq!(server_frames(&drain(&mut conn))[0].close_code(), Some(1002));
}

#[test]
fn one_byte_fragments_forever_hit_the_fragment_limit() {
    let mut cfg = Config::new();
    if MIRI {
        cfg.max_fragments = 64;
    }
    let batch_frames = if MIRI { 50 } else { 1000 };
    let limit = cfg.max_fragments as usize;
    let mut conn = Connection::new_open(Role::Server, cfg, 0, [0; 16]).unwrap();
    let first = client_frame(0x02, b"x");
    let cont = client_frame(0x00, b"x");
    let mut frames = 0usize;
    let mut chunks = 0usize;
    let mut failed = None;
    // Feed in batches of 1000 frames, the way a fast peer fills a socket buffer.
    let mut sent = 0usize;
    while failed.is_none() {
        let mut batch = Vec::new();
        for _ in 0..batch_frames {
            batch.extend_from_slice(if sent == 0 { &first } else { &cont });
            sent += 1;
        }
        let mut left = feed(&mut conn, 0, &mut batch, |e| match e {
            Event::Data(c) => {
                chunks += 1;
                assert_eq!(c.data, b"x");
                assert!(!c.message_finished);
                if c.frame_finished {
                    frames += 1;
                }
            }
            Event::Failed(e) => failed = Some(*e),
            other => panic!("{other:?}"),
        });
        assert!(sent <= limit + batch_frames, "no limit after {sent} frames");
        let out = drain(&mut conn);
        assert!(out.len() <= MAX_QUEUED_OUTPUT);
        if let Some(e) = failed {
            assert_eq!(e, ProtocolError::TooManyFragments);
            assert_eq!(server_frames(&out)[0].close_code(), Some(1009));
            left = 0;
        } else {
            assert!(out.is_empty());
        }
        assert_eq!(left, 0);
    }
    // Exactly `max_fragments` frames were delivered, and the next one failed the connection.
    assert_eq!(frames, limit);
    assert_eq!(chunks, limit);
    assert!(conn.should_close_transport());
}

#[test]
fn ping_flood_leaves_one_pong_with_the_latest_payload() {
    let mut conn = Connection::new_open(Role::Server, Config::new(), 0, [0; 16]).unwrap();
    let n = if MIRI { 40 } else { 1000 };
    let mut flood = Vec::new();
    for i in 0..n {
        // Payloads up to the 125-byte maximum, each distinct.
        let mut p = format!("ping {i:04} ").into_bytes();
        p.resize(10 + i % 116, b'.');
        flood.extend_from_slice(&client_frame(0x89, &p));
    }
    let mut pings = 0;
    let mut last = Vec::new();
    let left = feed(&mut conn, 0, &mut flood, |e| match e {
        Event::Ping(p) => {
            pings += 1;
            last = p.to_vec();
        }
        other => panic!("{other:?}"),
    });
    assert_eq!((pings, left), (n, 0));
    // Not one pong per ping: one pending pong, the latest payload.
    let out = drain(&mut conn);
    assert!(out.len() <= 2 + 125);
    let frames = server_frames(&out);
    assert_eq!(ops(&frames), [(OP_PONG, &last[..])]);
    assert_eq!(drain(&mut conn), b"");
    // The same for a flood of maximum-size pings, fed a frame at a time.
    for i in 0..n as u32 {
        let mut p = [0u8; 125];
        p[..4].copy_from_slice(&i.to_be_bytes());
        let mut f = client_frame(0x89, &p);
        feed(&mut conn, 0, &mut f, |_| {});
    }
    let frames = server_frames(&drain(&mut conn));
    assert_eq!(frames.len(), 1);
    assert_eq!(&frames[0].payload[..4], &(n as u32 - 1).to_be_bytes());
    // A data send writes the pending pong first; it too is bounded.
    let mut f = client_frame(0x89, b"one more");
    feed(&mut conn, 0, &mut f, |_| {});
    let mut out = [0u8; 64];
    let n = conn.send_binary(b"data", &mut out).expect("send");
    assert_eq!(
        ops(&server_frames(&out[..n])),
        [(OP_PONG, &b"one more"[..]), (OP_BINARY, &b"data"[..])]
    );
}

#[test]
fn close_frames_with_every_code() {
    let codes: Vec<u16> = if MIRI {
        // Every boundary of the rule.
        vec![
            0,
            999,
            1000,
            1003,
            1004,
            1005,
            1006,
            1007,
            1014,
            1015,
            1016,
            2999,
            3000,
            4999,
            5000,
            u16::MAX,
        ]
    } else {
        (0..=u16::MAX).collect()
    };
    let mut accepted = 0usize;
    for &code in &codes {
        let mut conn = Connection::new_open(Role::Server, Config::new(), 0, [0; 16]).unwrap();
        let mut f = client_frame(0x88, &close_payload(code, b"why"));
        let r = conn.read(0, &mut f).expect("read");
        let reply = server_frames(&drain(&mut conn));
        assert_eq!(reply.len(), 1, "code {code}");
        if close_code_allowed(code) {
            accepted += 1;
            let status = CloseStatus::Code(CloseCode::new(code).expect("sendable"));
            assert_eq!(
                r.event,
                Some(Event::Close {
                    status,
                    reason: "why"
                }),
                "code {code}"
            );
            // The reply echoes the code.
            assert_eq!(reply[0].close_code(), Some(code));
            assert_eq!(conn.close_status(), Some(status));
        } else {
            assert_eq!(
                r.event,
                Some(Event::Failed(ProtocolError::InvalidCloseCode)),
                "code {code}"
            );
            assert_eq!(reply[0].close_code(), Some(1002), "code {code}");
        }
        assert!(conn.should_close_transport());
    }
    if !MIRI {
        assert_eq!(accepted, 4 + 8 + 2000);
    }
}

#[test]
fn peer_that_never_answers_our_close_times_out_as_1006() {
    for role in [Role::Server, Role::Client] {
        let cfg = Config::new();
        let mut conn = Connection::new_open(role, cfg, 1_000, [2; 16]).unwrap();
        let mut out = [0u8; 64];
        conn.close(1_000, CloseCode::NORMAL, "bye", &mut out)
            .expect("close");
        assert_eq!(conn.state(), ReadyState::Closing);
        let deadline = conn.poll_timeout().expect("close timer");
        assert_eq!(deadline, 1_000 + u64::from(cfg.close_timeout_ms));
        // The peer keeps sending data, never a close: the deadline does not move.
        let mut f = if role == Role::Server {
            client_frame(0x82, b"still talking")
        } else {
            vec![0x82, 0x02, b'h', b'i']
        };
        let r = conn.read(2_000, &mut f).expect("read");
        assert!(matches!(r.event, Some(Event::Data(_))));
        conn.handle_timeout(deadline - 1);
        assert_eq!(conn.state(), ReadyState::Closing);
        assert!(!conn.should_close_transport());
        assert_eq!(conn.poll_timeout(), Some(deadline));
        conn.handle_timeout(deadline);
        assert_eq!(conn.state(), ReadyState::Closed);
        assert_eq!(conn.close_status(), Some(CloseStatus::Abnormal));
        assert_eq!(CloseStatus::Abnormal.as_u16(), 1006);
        assert_eq!(conn.failure(), Some(Failure::CloseTimeout));
        assert!(conn.should_close_transport());
        assert_eq!(conn.poll_timeout(), None);
        assert_eq!(conn.poll_transmit(&mut out), Ok(0));
    }
}

#[test]
fn data_flood_after_close_is_discarded_without_buffering() {
    // After the peer's close, any amount of input is consumed and ignored: nothing to hold.
    let mut conn = Connection::new_open(Role::Server, Config::new(), 0, [0; 16]).unwrap();
    let mut f = client_frame(0x88, &close_payload(1000, b""));
    let r = conn.read(0, &mut f).expect("read");
    assert!(matches!(r.event, Some(Event::Close { .. })));
    let out = drain(&mut conn);
    assert!(out.len() <= MAX_QUEUED_OUTPUT);
    let mut junk = vec![0x89u8; if MIRI { 4 << 10 } else { 1 << 20 }];
    let n = junk.len();
    let r = conn.read(0, &mut junk).expect("read");
    assert_eq!((r.consumed, r.event), (n, None));
    assert_eq!(drain(&mut conn), b"");
}
