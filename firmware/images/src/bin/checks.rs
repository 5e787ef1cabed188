//! The on-target test suite: browser handshakes (Chrome, Firefox) with exact 101 bytes, echo
//! of masked text and binary frames, a fragmented message with a ping between fragments, a
//! frame split across reads, streaming a 64 KiB frame through a small buffer, ping/pong,
//! protocol violations answered with the right close code, both closing handshakes, handshake
//! errors answered with the right HTTP status, timers, and a client handshake against a
//! recorded server response. Every check runs on the target; the first failure ends the run
//! with status 1 (panic 101, fault 102).
#![no_std]
#![no_main]

use core::ptr::addr_of_mut;

use fw::vectors::*;
use fw::{black_box, built, check, check_bytes, entry, kv, print, stack};
use wsmachine::{
    Accept, ClientRequest, CloseCode, CloseStatus, Config, Connection, Error, Event, Failure,
    HandshakeError, Header, MessageKind, ParsedRequest, ProtocolError, ReadyState, ResponseStatus,
    Role, EMPTY_HEADER,
};

static mut RX: [u8; 1024] = [0; 1024];
static mut TX: [u8; 512] = [0; 512];

fn buffers() -> (&'static mut [u8; 1024], &'static mut [u8; 512]) {
    // SAFETY: single-threaded; each scenario takes them once and drops them at its end.
    unsafe { (&mut *addr_of_mut!(RX), &mut *addr_of_mut!(TX)) }
}

/// Writes a frame as a peer would (independent of the library): first byte `b0`, payload
/// masked with `key` if given. Returns its length.
fn put_frame(out: &mut [u8], b0: u8, key: Option<[u8; 4]>, payload: &[u8]) -> usize {
    let len = payload.len();
    let m = if key.is_some() { 0x80 } else { 0 };
    out[0] = b0;
    let mut i = if len < 126 {
        out[1] = m | len as u8;
        2
    } else if len <= 0xffff {
        out[1] = m | 126;
        out[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        4
    } else {
        out[1] = m | 127;
        out[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        10
    };
    let k = key.unwrap_or([0; 4]);
    if key.is_some() {
        out[i..i + 4].copy_from_slice(&k);
        i += 4;
    }
    for (j, b) in payload.iter().enumerate() {
        out[i + j] = b ^ k[j % 4];
    }
    i + len
}

/// Unmasks a frame the library wrote as a client; returns (first byte, payload length,
/// offset of the payload) after checking the mask bit.
fn unmask_client_frame(frame: &mut [u8]) -> (u8, usize, usize) {
    check(frame[1] & 0x80 != 0, "client frames are masked");
    let len = usize::from(frame[1] & 0x7f);
    check(len < 126, "short test frame");
    let key = [frame[2], frame[3], frame[4], frame[5]];
    for (j, b) in frame[6..6 + len].iter_mut().enumerate() {
        *b ^= key[j % 4];
    }
    (frame[0], len, 6)
}

/// Collects message bytes.
struct Collected {
    buf: [u8; 64],
    len: usize,
}

impl Collected {
    fn new() -> Self {
        Collected {
            buf: [0; 64],
            len: 0,
        }
    }
    fn push(&mut self, data: &[u8]) {
        self.buf[self.len..self.len + data.len()].copy_from_slice(data);
        self.len += data.len();
    }
    fn get(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

fn begin(name: &str) {
    print("  ");
    print(name);
    print(" ... ");
}

fn ok() {
    print("ok\n");
}

/// Reads one event from `buf`, which must be consumed whole.
fn read_one<'b>(conn: &mut Connection, now: u64, buf: &'b mut [u8]) -> Event<'b> {
    let len = buf.len();
    let r = conn.read(now, buf).expect("read");
    check(r.consumed == len, "the whole input was consumed");
    r.event.expect("an event")
}

/// Flushes `poll_transmit` once and checks the bytes; a second call has nothing.
fn expect_transmit(conn: &mut Connection, tx: &mut [u8], want: &[u8], what: &str) {
    let n = conn.poll_transmit(tx).expect("poll_transmit");
    check_bytes(&tx[..n], want, what);
    check(conn.poll_transmit(tx) == Ok(0), "nothing more queued");
}

/// Server handshake with Chrome's request, checked field by field, then a whole session: text
/// and binary echo, a fragmented message with a ping between the fragments, a frame split
/// across reads, and a server-initiated closing handshake.
fn chrome_session() {
    let (rx, tx) = buffers();
    let mut conn = built(
        Connection::server(Config::new(), 0),
        "constructor accepts the config",
    );
    check(
        conn.state() == ReadyState::Connecting,
        "CONNECTING before the request",
    );
    check(conn.poll_timeout() == Some(10_000), "handshake timer armed");

    begin("chrome handshake");
    rx[..CHROME_REQUEST.len()].copy_from_slice(black_box(CHROME_REQUEST));
    let mut headers = [EMPTY_HEADER; 16];
    // The request arrives in two TCP segments.
    check(
        matches!(
            conn.read_request(0, &rx[..200], &mut headers),
            Ok(ParsedRequest::Partial)
        ),
        "partial request",
    );
    let mut headers = [EMPTY_HEADER; 16];
    let n = match conn.read_request(5, &rx[..CHROME_REQUEST.len()], &mut headers) {
        Ok(ParsedRequest::Complete { request, len }) => {
            check(len == CHROME_REQUEST.len(), "head length");
            check(request.method() == "GET", "method");
            check(request.path() == "/ws", "path");
            check(request.query() == Some("room=lobby"), "query");
            check(request.headers().len() == 14, "14 headers");
            check(request.host() == Some(&b"192.168.4.1"[..]), "host");
            check(
                request.origin() == Some(&b"http://192.168.4.1"[..]),
                "origin",
            );
            check(
                request.origin_allowed(&["http://192.168.4.1"]),
                "origin allowed",
            );
            check(
                !request.origin_allowed(&["https://evil.example"]),
                "origin refused",
            );
            let mut protos = request.subprotocols();
            check(protos.next() == Some(&b"chat.v2"[..]), "first subprotocol");
            check(protos.next() == Some(&b"chat.v1"[..]), "second subprotocol");
            check(protos.next().is_none(), "two subprotocols");
            check(
                request.extensions().next()
                    == Some(&b"permessage-deflate; client_max_window_bits"[..]),
                "extension offer",
            );
            check(
                request.header("cookie") == Some(&b"session=7d3f9a1c2b8e4f60; theme=dark"[..]),
                "cookie",
            );
            check(
                request
                    .header("User-Agent")
                    .is_some_and(|v| v.starts_with(b"Mozilla/5.0")),
                "user agent",
            );
            check(
                request.key() == Some(&b"Xk3+e7Q0mU9bqR1c2ZtJ8w=="[..]),
                "key",
            );
            let opts = Accept {
                subprotocol: Some("chat.v2"),
                ..Accept::default()
            };
            conn.accept(5, &opts, tx).expect("accept")
        }
        _ => panic!("request not complete"),
    };
    check_bytes(&tx[..n], CHROME_101, "exact 101 response");
    check(
        tx[..n]
            .windows(CHROME_ACCEPT.len())
            .any(|w| w == CHROME_ACCEPT),
        "accept key",
    );
    check(conn.state() == ReadyState::Open, "OPEN after accept");
    check(conn.poll_timeout().is_none(), "no timer while open");
    ok();

    begin("text echo");
    rx[..TEXT_IN.len()].copy_from_slice(black_box(&TEXT_IN));
    match read_one(&mut conn, 10, &mut rx[..TEXT_IN.len()]) {
        Event::Data(c) => {
            check(c.kind == MessageKind::Text, "text");
            check(
                c.message_start && c.frame_finished && c.message_finished,
                "whole",
            );
            check_bytes(c.data, TEXT, "unmasked text");
            let n = conn
                .send_text(core::str::from_utf8(c.data).unwrap(), tx)
                .unwrap();
            check_bytes(&tx[..n], &TEXT_ECHO, "exact text echo");
        }
        _ => panic!("expected text"),
    }
    ok();

    begin("binary echo (16-bit length)");
    rx[..BINARY_IN.len()].copy_from_slice(black_box(&BINARY_IN));
    match read_one(&mut conn, 20, &mut rx[..BINARY_IN.len()]) {
        Event::Data(c) => {
            check(c.kind == MessageKind::Binary, "binary");
            check(c.message_start && c.message_finished, "whole");
            check_bytes(c.data, &BINARY, "unmasked binary");
            let n = conn.send_binary(c.data, tx).unwrap();
            check_bytes(&tx[..n], &BINARY_ECHO, "exact binary echo");
        }
        _ => panic!("expected binary"),
    }
    ok();

    begin("fragmented message with a ping between fragments");
    // "Grüße, wörld" in three frames that split code points; a ping after the first.
    let text = "Grüße, wörld".as_bytes();
    let mut n = put_frame(rx, 0x01, Some([1, 2, 3, 4]), &text[..3]);
    n += put_frame(&mut rx[n..], 0x89, Some([9, 9, 9, 9]), b"hb");
    n += put_frame(&mut rx[n..], 0x00, Some([5, 6, 7, 8]), &text[3..9]);
    n += put_frame(&mut rx[n..], 0x80, Some([0xa, 0xb, 0xc, 0xd]), &text[9..]);
    let mut msg = Collected::new();
    let (mut pos, mut chunks, mut pings, mut finished) = (0, 0, 0, false);
    while pos < n {
        let r = conn.read(30, &mut rx[pos..n]).unwrap();
        pos += r.consumed;
        match r.event {
            Some(Event::Data(c)) => {
                check(c.kind == MessageKind::Text, "fragments are text");
                check(
                    c.message_start == (chunks == 0),
                    "message_start on the first only",
                );
                check(c.frame_finished, "each frame arrived whole");
                msg.push(c.data);
                chunks += 1;
                finished = c.message_finished;
            }
            Some(Event::Ping(p)) => {
                check_bytes(p, b"hb", "ping payload");
                check(chunks == 1, "ping between fragments");
                pings += 1;
            }
            _ => panic!("unexpected event"),
        }
    }
    check(
        chunks == 3 && pings == 1 && finished,
        "three fragments and a ping",
    );
    check_bytes(msg.get(), text, "reassembled text");
    expect_transmit(&mut conn, tx, b"\x8a\x02hb", "pong for the ping");
    let a = conn
        .send_fragment(MessageKind::Text, &text[..7], false, tx)
        .unwrap();
    check_bytes(
        &tx[..a],
        b"\x01\x07Gr\xc3\xbc\xc3\x9fe",
        "first fragment out",
    );
    let b = conn
        .send_fragment(MessageKind::Text, &text[7..], true, tx)
        .unwrap();
    check_bytes(&tx[..b], b"\x80\x08, w\xc3\xb6rld", "last fragment out");
    check(
        conn.send_fragment(MessageKind::Text, b"\xc3", true, tx) == Err(Error::InvalidUtf8),
        "outgoing text is validated",
    );
    ok();

    begin("frame split across reads");
    let payload: [u8; 300] = core::array::from_fn(|i| (i % 251) as u8);
    let total = put_frame(rx, 0x82, Some([0x11, 0x22, 0x33, 0x44]), &payload);
    // 1 byte: not even the header; nothing consumed, the caller keeps it.
    let r = conn.read(40, &mut rx[..1]).unwrap();
    check(
        r.consumed == 0 && r.event.is_none(),
        "incomplete header kept",
    );
    // Header and 100 payload bytes.
    let r = conn.read(41, &mut rx[..108]).unwrap();
    check(r.consumed == 108, "header and first chunk consumed");
    match r.event {
        Some(Event::Data(c)) => {
            check(c.message_start && !c.frame_finished, "first chunk");
            check_bytes(c.data, &payload[..100], "first chunk unmasked");
        }
        _ => panic!("expected a chunk"),
    }
    let r = conn.read(42, &mut rx[108..total]).unwrap();
    check(r.consumed == total - 108, "rest consumed");
    match r.event {
        Some(Event::Data(c)) => {
            check(!c.message_start && c.message_finished, "last chunk");
            check_bytes(c.data, &payload[100..], "mask offset carried across reads");
        }
        _ => panic!("expected a chunk"),
    }
    ok();

    begin("ping -> pong");
    let n = put_frame(rx, 0x89, Some([0xde, 0xad, 0xbe, 0xef]), b"ping-1");
    match read_one(&mut conn, 50, &mut rx[..n]) {
        Event::Ping(p) => check_bytes(p, b"ping-1", "ping payload"),
        _ => panic!("expected ping"),
    }
    expect_transmit(&mut conn, tx, b"\x8a\x06ping-1", "exact pong");
    // A pong queued before a data send goes out ahead of it.
    let n = put_frame(rx, 0x89, Some([1, 1, 1, 1]), b"p2");
    let _ = read_one(&mut conn, 51, &mut rx[..n]);
    let n = conn.send_text("x", tx).unwrap();
    check_bytes(&tx[..n], b"\x8a\x02p2\x81\x01x", "pong ahead of data");
    ok();

    begin("server-initiated close handshake");
    let n = conn.close(60, CloseCode::NORMAL, "bye", tx).unwrap();
    check_bytes(&tx[..n], b"\x88\x05\x03\xe8bye", "exact close frame");
    check(
        conn.state() == ReadyState::Closing,
        "CLOSING after our close",
    );
    check(conn.poll_timeout() == Some(5_060), "close timer armed");
    check(
        conn.send_text("late", tx) == Err(Error::InvalidState),
        "no data after close",
    );
    let n = put_frame(rx, 0x88, Some([7, 7, 7, 7]), &1000u16.to_be_bytes());
    match read_one(&mut conn, 70, &mut rx[..n]) {
        Event::Close { status, reason } => {
            check(
                status == CloseStatus::Code(CloseCode::NORMAL),
                "peer's code",
            );
            check(reason.is_empty(), "no reason");
        }
        _ => panic!("expected close"),
    }
    check(conn.state() == ReadyState::Closed, "CLOSED");
    check(conn.should_close_transport(), "server closes TCP");
    check(conn.poll_transmit(tx) == Ok(0), "nothing to send");
    check(
        conn.close_status() == Some(CloseStatus::Code(CloseCode::NORMAL)),
        "close status",
    );
    check(conn.failure().is_none(), "clean close");
    ok();
}

/// Firefox's request, then a client-initiated close: the server echoes the code.
fn firefox_client_close() {
    let (rx, tx) = buffers();
    let mut conn = built(
        Connection::server(Config::new(), 0),
        "constructor accepts the config",
    );
    begin("firefox handshake");
    rx[..FIREFOX_REQUEST.len()].copy_from_slice(black_box(FIREFOX_REQUEST));
    let mut headers = [EMPTY_HEADER; 24];
    let n = match conn.read_request(0, &rx[..FIREFOX_REQUEST.len()], &mut headers) {
        Ok(ParsedRequest::Complete { request, .. }) => {
            check(request.headers().len() == 17, "17 headers");
            check(request.subprotocols().next().is_none(), "no subprotocol");
            conn.accept(0, &Accept::default(), tx).unwrap()
        }
        _ => panic!("request not complete"),
    };
    check_bytes(&tx[..n], FIREFOX_101, "exact 101 response");
    ok();

    begin("client-initiated close handshake");
    let mut payload = [0u8; 12];
    payload[..2].copy_from_slice(&1001u16.to_be_bytes());
    payload[2..].copy_from_slice(b"going away");
    let n = put_frame(rx, 0x88, Some([3, 1, 4, 1]), &payload);
    match read_one(&mut conn, 10, &mut rx[..n]) {
        Event::Close { status, reason } => {
            check(
                status == CloseStatus::Code(CloseCode::GOING_AWAY),
                "code 1001",
            );
            check(reason == "going away", "reason");
        }
        _ => panic!("expected close"),
    }
    check(
        conn.state() == ReadyState::Closing,
        "CLOSING until the reply is sent",
    );
    expect_transmit(
        &mut conn,
        tx,
        b"\x88\x02\x03\xe9",
        "close reply echoes the code",
    );
    check(conn.state() == ReadyState::Closed, "CLOSED");
    check(conn.should_close_transport(), "server closes TCP");
    conn.handle_eof();
    check(
        conn.close_status() == Some(CloseStatus::Code(CloseCode::GOING_AWAY)),
        "status kept after EOF",
    );
    ok();
}

/// (name, first byte, masking key, payload, expected error, expected close code)
type Violation<'a> = (&'a str, u8, Option<[u8; 4]>, &'a [u8], ProtocolError, u16);

/// Each violation on a fresh open server connection: the event, the exact close frame, the
/// final state.
fn violations() {
    let (rx, tx) = buffers();
    let k = Some([0x12, 0x34, 0x56, 0x78]);
    let big = [b'a'; 65];
    let cases: [Violation; 10] = [
        (
            "reserved opcode 0x3",
            0x83,
            k,
            b"x",
            ProtocolError::ReservedOpcode,
            1002,
        ),
        (
            "invalid UTF-8 in text",
            0x81,
            k,
            b"ok\xff\xfe",
            ProtocolError::InvalidUtf8,
            1007,
        ),
        (
            "overlong UTF-8",
            0x81,
            k,
            b"\xc0\xaf",
            ProtocolError::InvalidUtf8,
            1007,
        ),
        (
            "unmasked client frame",
            0x81,
            None,
            b"hi",
            ProtocolError::UnmaskedFrame,
            1002,
        ),
        (
            "RSV1 without extension",
            0xc1,
            k,
            b"hi",
            ProtocolError::ReservedBits,
            1002,
        ),
        (
            "fragmented ping",
            0x09,
            k,
            b"",
            ProtocolError::FragmentedControl,
            1002,
        ),
        (
            "continuation first",
            0x80,
            k,
            b"x",
            ProtocolError::UnexpectedContinuation,
            1002,
        ),
        (
            "1-byte close payload",
            0x88,
            k,
            b"\x03",
            ProtocolError::InvalidClosePayload,
            1002,
        ),
        (
            "close code 1005",
            0x88,
            k,
            b"\x03\xed",
            ProtocolError::InvalidCloseCode,
            1002,
        ),
        (
            "message over the limit",
            0x82,
            k,
            &big,
            ProtocolError::MessageTooLarge,
            1009,
        ),
    ];
    for (name, b0, key, payload, err, code) in cases {
        begin(name);
        let mut cfg = Config::new();
        cfg.max_message_size = 64;
        let mut conn = built(
            Connection::new_open(Role::Server, cfg, 0, [0; 16]),
            "constructor accepts the config",
        );
        let n = put_frame(rx, b0, key, payload);
        match read_one(&mut conn, 100, &mut rx[..n]) {
            Event::Failed(e) => check(e == err, "the right protocol error"),
            _ => panic!("expected a failure"),
        }
        check(err.close_code().get() == code, "close code of the error");
        let reason = err.as_str().as_bytes();
        let mut want = [0u8; 64];
        want[0] = 0x88;
        want[1] = (2 + reason.len()) as u8;
        want[2..4].copy_from_slice(&code.to_be_bytes());
        want[4..4 + reason.len()].copy_from_slice(reason);
        expect_transmit(
            &mut conn,
            tx,
            &want[..4 + reason.len()],
            "exact failure close",
        );
        check(conn.state() == ReadyState::Closed, "CLOSED after failing");
        check(conn.should_close_transport(), "close TCP");
        check(
            conn.failure() == Some(Failure::Protocol(err)),
            "failure reported",
        );
        check(
            conn.close_status() == Some(CloseStatus::Code(CloseCode::new(code).unwrap())),
            "close status",
        );
        let r = conn.read(101, &mut rx[..n]).unwrap();
        check(r.consumed == n && r.event.is_none(), "later input ignored");
        ok();
    }
    begin("control frame over 125 bytes");
    let mut conn = built(
        Connection::new_open(Role::Server, Config::new(), 0, [0; 16]),
        "constructor accepts the config",
    );
    let n = put_frame(rx, 0x89, k, &[0u8; 126]);
    match read_one(&mut conn, 0, &mut rx[..n]) {
        Event::Failed(e) => check(e == ProtocolError::ControlTooLong, "control too long"),
        _ => panic!("expected a failure"),
    }
    ok();
}

/// Bad upgrade requests are answered with the right HTTP status.
fn handshake_errors() {
    let (_, tx) = buffers();
    let cases: [(&str, &[u8], HandshakeError, &[u8]); 4] = [
        (
            "request without key -> 400",
            b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n",
            HandshakeError::InvalidKey,
            b"HTTP/1.1 400 Bad Request\r\n",
        ),
        (
            "version 8 -> 426 with Sec-WebSocket-Version: 13",
            b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA==\r\nSec-WebSocket-Version: 8\r\n\r\n",
            HandshakeError::UnsupportedVersion,
            b"HTTP/1.1 426 Upgrade Required\r\n",
        ),
        (
            "POST -> 405",
            b"POST / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA==\r\nSec-WebSocket-Version: 13\r\n\r\n",
            HandshakeError::MethodNotAllowed,
            b"HTTP/1.1 405 Method Not Allowed\r\n",
        ),
        (
            "plain HTTP request -> 400",
            b"GET /index.html HTTP/1.1\r\nHost: a\r\nAccept: text/html\r\n\r\n",
            HandshakeError::MissingUpgrade,
            b"HTTP/1.1 400 Bad Request\r\n",
        ),
    ];
    for (name, req, err, status_line) in cases {
        begin(name);
        let mut conn = built(
            Connection::server(Config::new(), 0),
            "constructor accepts the config",
        );
        let mut headers = [EMPTY_HEADER; 16];
        let r = conn.read_request(0, black_box(req), &mut headers);
        check(
            matches!(r, Err(Error::Handshake(e)) if e == err),
            "the right error",
        );
        let n = conn.poll_transmit(tx).unwrap();
        check(tx[..n].starts_with(status_line), "status line");
        if err == HandshakeError::UnsupportedVersion {
            check(
                tx[..n]
                    .windows(25)
                    .any(|w| w == b"Sec-WebSocket-Version: 13"),
                "426 names the version",
            );
        }
        check(conn.state() == ReadyState::Closed, "CLOSED");
        check(conn.should_close_transport(), "close TCP");
        ok();
    }
    begin("handshake timeout -> 408");
    let mut conn = built(
        Connection::server(Config::new(), 0),
        "constructor accepts the config",
    );
    conn.handle_timeout(9_999);
    check(conn.state() == ReadyState::Connecting, "not yet");
    conn.handle_timeout(10_000);
    let n = conn.poll_transmit(tx).unwrap();
    check(
        tx[..n].starts_with(b"HTTP/1.1 408 Request Timeout\r\n"),
        "408",
    );
    check(conn.should_close_transport(), "close TCP");
    ok();
}

/// Keepalive: a ping when idle; a dead peer is detected.
fn keepalive() {
    let (rx, tx) = buffers();
    begin("keepalive ping and dead peer");
    let mut cfg = Config::new();
    cfg.keepalive_interval_ms = 1_000;
    cfg.keepalive_timeout_ms = 3_000;
    let mut conn = built(
        Connection::new_open(Role::Server, cfg, 0, [0; 16]),
        "constructor accepts the config",
    );
    check(conn.poll_timeout() == Some(1_000), "idle timer");
    conn.handle_timeout(1_000);
    expect_transmit(&mut conn, tx, b"\x89\x00", "keepalive ping");
    check(conn.poll_timeout() == Some(4_000), "pong wait");
    // Any input counts as life.
    let n = put_frame(rx, 0x8a, Some([1, 2, 3, 4]), b"");
    let _ = read_one(&mut conn, 1_500, &mut rx[..n]);
    check(
        conn.poll_timeout() == Some(2_500),
        "idle timer re-armed by input",
    );
    conn.handle_timeout(2_500);
    expect_transmit(&mut conn, tx, b"\x89\x00", "second ping");
    conn.handle_timeout(5_500);
    check(conn.state() == ReadyState::Closed, "dead peer: CLOSED");
    check(
        conn.failure() == Some(Failure::DeadPeer),
        "dead peer reported",
    );
    check(conn.close_status() == Some(CloseStatus::Abnormal), "1006");
    check(conn.should_close_transport(), "close TCP");
    ok();
}

/// Client: exact request, recorded 101 with a frame behind it, masked sends, the closing
/// handshake in which the client waits for the server to close TCP.
fn client_session() {
    let (rx, tx) = buffers();
    let ua = [Header {
        name: "User-Agent",
        value: b"wsmachine-fw/0.1",
    }];
    let req = ClientRequest {
        origin: Some("http://example.com"),
        subprotocols: &["chat.v2"],
        headers: &ua,
        ..ClientRequest::new("echo.example.com", "/chat")
    };
    let mut conn = built(
        Connection::client(Config::new(), 0, black_box([0x5a; 16])),
        "constructor accepts the config",
    );

    begin("client request bytes");
    check(
        conn.read(0, &mut rx[..0]) == Err(Error::InvalidState),
        "no frames before the handshake",
    );
    let n = conn.write_request(&req, black_box(CLIENT_KEY), tx).unwrap();
    check_bytes(&tx[..n], CLIENT_REQUEST, "exact request");
    check(
        conn.write_request(&req, CLIENT_KEY, tx) == Err(Error::InvalidState),
        "request written once",
    );
    ok();

    begin("recorded 101 accepted");
    let total = SERVER_RESPONSE.len();
    rx[..total].copy_from_slice(black_box(SERVER_RESPONSE));
    let mut headers = [EMPTY_HEADER; 16];
    check(
        matches!(
            conn.read_response(10, &req, &rx[..40], &mut headers),
            Ok(ResponseStatus::Partial)
        ),
        "partial response",
    );
    let mut headers = [EMPTY_HEADER; 16];
    let head = match conn.read_response(20, &req, &rx[..total], &mut headers) {
        Ok(ResponseStatus::Accepted { response, len }) => {
            check(response.status() == 101, "101");
            check(response.subprotocol() == Some("chat.v2"), "subprotocol");
            check(
                response.header("server") == Some(&b"Python/3.11 websockets/13.1"[..]),
                "other headers kept",
            );
            len
        }
        _ => panic!("not accepted"),
    };
    check(head == SERVER_RESPONSE_HEAD, "head length");
    check(conn.state() == ReadyState::Open, "OPEN");
    match read_one(&mut conn, 30, &mut rx[head..total]) {
        Event::Data(c) => check_bytes(c.data, b"Welcome", "frame behind the 101"),
        _ => panic!("expected data"),
    }
    ok();

    begin("client frames are masked");
    let n = conn.send_text(black_box("Hello, server!"), tx).unwrap();
    let (b0, len, off) = unmask_client_frame(&mut tx[..n]);
    check(b0 == 0x81 && n == off + len, "text frame");
    check_bytes(&tx[off..off + len], CLIENT_TEXT, "unmasked payload");
    let n2 = conn.send_text("Hello, server!", tx).unwrap();
    check(
        n2 == n && tx[2..6] != [0; 4],
        "a fresh masking key per frame",
    );
    rx[..CLIENT_ECHO.len()].copy_from_slice(&CLIENT_ECHO);
    match read_one(&mut conn, 40, &mut rx[..CLIENT_ECHO.len()]) {
        Event::Data(c) => check_bytes(c.data, CLIENT_TEXT, "echo"),
        _ => panic!("expected data"),
    }
    let masked = put_frame(rx, 0x81, Some([1, 2, 3, 4]), b"x");
    match read_one(&mut conn, 41, &mut rx[..masked]) {
        Event::Failed(e) => check(
            e == ProtocolError::MaskedFrame,
            "masked server frame refused",
        ),
        _ => panic!("expected failure"),
    }
    ok();

    begin("client close handshake");
    let mut conn = built(
        Connection::new_open(Role::Client, Config::new(), 0, [7; 16]),
        "constructor accepts the config",
    );
    let n = conn.close(100, CloseCode::NORMAL, "done", tx).unwrap();
    let (b0, len, off) = unmask_client_frame(&mut tx[..n]);
    check(b0 == 0x88 && len == 6, "close frame");
    check_bytes(&tx[off..off + len], b"\x03\xe8done", "close payload");
    rx[..4].copy_from_slice(b"\x88\x02\x03\xe8");
    match read_one(&mut conn, 200, &mut rx[..4]) {
        Event::Close { status, .. } => check(
            status == CloseStatus::Code(CloseCode::NORMAL),
            "server's reply",
        ),
        _ => panic!("expected close"),
    }
    check(conn.state() == ReadyState::Closed, "CLOSED");
    check(
        !conn.should_close_transport(),
        "the client waits for the server's TCP close",
    );
    check(conn.poll_timeout() == Some(5_200), "but not forever");
    conn.handle_eof();
    check(conn.should_close_transport(), "EOF: close TCP");
    check(conn.failure().is_none(), "clean close");
    ok();
}

/// Client handshake failures.
fn client_errors() {
    let (rx, tx) = buffers();
    let req = ClientRequest::new("echo.example.com", "/chat");
    begin("wrong Sec-WebSocket-Accept refused");
    let mut conn = built(
        Connection::client(Config::new(), 0, [1; 16]),
        "constructor accepts the config",
    );
    conn.write_request(&req, CLIENT_KEY, tx).unwrap();
    let resp = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
    let mut headers = [EMPTY_HEADER; 8];
    let r = conn.read_response(0, &req, black_box(&resp[..]), &mut headers);
    check(
        matches!(r, Err(Error::Handshake(HandshakeError::InvalidAccept))),
        "invalid accept",
    );
    check(conn.state() == ReadyState::Closed, "CLOSED");
    ok();

    begin("403 with a body");
    let mut conn = built(
        Connection::client(Config::new(), 0, [1; 16]),
        "constructor accepts the config",
    );
    conn.write_request(&req, CLIENT_KEY, tx).unwrap();
    let resp = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 9\r\n\r\nforbidden";
    rx[..resp.len()].copy_from_slice(resp);
    let mut headers = [EMPTY_HEADER; 8];
    match conn.read_response(0, &req, &rx[..resp.len()], &mut headers) {
        Ok(ResponseStatus::Rejected {
            response,
            body,
            body_complete,
            ..
        }) => {
            check(response.status() == 403, "status");
            check(body == b"forbidden" && body_complete, "body");
        }
        _ => panic!("expected a rejection"),
    }
    check(
        conn.failure() == Some(Failure::Handshake(HandshakeError::Rejected)),
        "rejected",
    );
    ok();
}

/// RFC 6455 §5.7 examples, read by a client, and a 64 KiB frame (64-bit length) streamed
/// through a 512-byte buffer.
fn rfc_examples() {
    let (rx, _) = buffers();
    begin("RFC 6455 section 5.7 examples");
    let mut conn = built(
        Connection::new_open(Role::Client, Config::new(), 0, [0; 16]),
        "constructor accepts the config",
    );
    rx[..7].copy_from_slice(b"\x81\x05Hello");
    match read_one(&mut conn, 0, &mut rx[..7]) {
        Event::Data(c) => check_bytes(c.data, b"Hello", "unmasked Hello"),
        _ => panic!("expected data"),
    }
    rx[..9].copy_from_slice(b"\x01\x03Hel\x80\x02lo");
    let r = conn.read(0, &mut rx[..9]).unwrap();
    check(r.consumed == 5, "first fragment");
    let r2 = conn.read(0, &mut rx[5..9]).unwrap();
    match r2.event {
        Some(Event::Data(c)) => check(c.message_finished && c.data == b"lo", "second fragment"),
        _ => panic!("expected data"),
    }
    let mut server = built(
        Connection::new_open(Role::Server, Config::new(), 0, [0; 16]),
        "constructor accepts the config",
    );
    rx[..11].copy_from_slice(b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58");
    match read_one(&mut server, 0, &mut rx[..11]) {
        Event::Data(c) => check_bytes(c.data, b"Hello", "masked Hello"),
        _ => panic!("expected data"),
    }
    ok();

    begin("64 KiB frame streamed through 512 bytes");
    let header = b"\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00";
    rx[..10].copy_from_slice(header);
    let r = conn.read(0, &mut rx[..10]).unwrap();
    check(r.consumed == 10, "64-bit length header");
    let (mut got, mut sum, mut last) = (0usize, 0u32, false);
    while got < 65_536 {
        for (i, b) in rx[..512].iter_mut().enumerate() {
            *b = ((got + i) % 253) as u8;
        }
        let r = conn.read(0, &mut rx[..512]).unwrap();
        check(r.consumed == 512, "chunk consumed");
        match r.event {
            Some(Event::Data(c)) => {
                for (i, b) in c.data.iter().enumerate() {
                    if *b != ((got + i) % 253) as u8 {
                        check(false, "streamed payload intact");
                    }
                    sum += u32::from(*b);
                }
                got += c.data.len();
                last = c.message_finished;
            }
            _ => panic!("expected data"),
        }
    }
    check(got == 65_536 && last && sum > 0, "whole frame");
    ok();
}

#[entry]
fn main() -> ! {
    stack::paint();
    print("wsmachine on-target checks\n");
    chrome_session();
    firefox_client_close();
    violations();
    handshake_errors();
    keepalive();
    client_session();
    client_errors();
    rfc_examples();
    kv("conn_size", core::mem::size_of::<Connection>() as u32);
    fw::finish("checks")
}
