//! A table of hostile inputs. Each row is (name, role, config, bytes, expected outcome); every
//! row is run twice, once delivered in as few reads as the caller's buffer allows and once a
//! byte per read, and both runs must give the expected outcome:
//!
//! * protocol violations: `Event::Failed` with the right `ProtocolError`, and the close frame
//!   `poll_transmit` writes carries the right code (and, where the row says so, the failure
//!   happens in the read that delivers a given byte: fail-fast);
//! * server handshakes: the `HandshakeError` and the HTTP response `poll_transmit` writes;
//! * client handshakes: the `HandshakeError` from `read_response`.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};

use common::*;
use wsmachine::{
    accept_key, ClientRequest, CloseCode, CloseStatus, Config, Connection, Error, Failure,
    HandshakeError, ParsedRequest, ProtocolError, ReadyState, ResponseStatus, Role, EMPTY_HEADER,
};

#[derive(Clone, Debug)]
enum Expect {
    /// `Event::Failed(err)` and a close frame with `code`; with `at`, the failure happens in
    /// the read that delivers byte `at` (and not before).
    Fail {
        err: ProtocolError,
        code: u16,
        at: Option<usize>,
    },
    /// The peer's close is accepted and answered (`echo`: the code echoed, `None` for an empty
    /// close frame); nothing after it is processed.
    Closed {
        status: CloseStatus,
        reason: &'static str,
        echo: Option<u16>,
    },
    /// Server handshake: `read_request` (or the handshake timer) fails with `err` and
    /// `poll_transmit` writes an HTTP response with `status`; with `at`, the error is reported
    /// when byte `at` arrives.
    Http {
        err: HandshakeError,
        status: u16,
        at: Option<usize>,
    },
    /// Client handshake: `read_response` fails with `err`.
    Client(HandshakeError),
    /// Client handshake control row: the response is accepted.
    ClientOk,
}

#[derive(Clone, Debug)]
struct Row {
    name: String,
    role: Role,
    cfg: Config,
    bytes: Vec<u8>,
    expect: Expect,
}

/// Builds a frame stream for a receiver of `role` (masked when the receiver is a server) and
/// remembers interesting byte positions.
struct B {
    role: Role,
    bytes: Vec<u8>,
    at: Option<usize>,
}

impl B {
    fn new(role: Role) -> B {
        B {
            role,
            bytes: Vec::new(),
            at: None,
        }
    }
    fn mask(&self) -> Option<[u8; 4]> {
        (self.role == Role::Server).then_some(KEY)
    }
    /// A whole frame.
    fn f(mut self, b0: u8, payload: &[u8]) -> B {
        let m = self.mask();
        self.bytes.extend(frame(b0, payload, m));
        self
    }
    /// A whole frame; `at` = its payload byte `k`.
    fn f_at(mut self, b0: u8, payload: &[u8], k: usize) -> B {
        let h = header(b0, payload.len() as u64, self.mask()).len();
        self.at = Some(self.bytes.len() + h + k);
        self.f(b0, payload)
    }
    /// A whole frame; `at` = the last byte of its header.
    fn f_hdr(mut self, b0: u8, payload: &[u8]) -> B {
        let h = header(b0, payload.len() as u64, self.mask()).len();
        self.at = Some(self.bytes.len() + h - 1);
        self.f(b0, payload)
    }
    /// Only a header declaring `len` bytes; `at` = its last byte.
    fn hdr(mut self, b0: u8, len: u64) -> B {
        let m = self.mask();
        self.bytes.extend(header(b0, len, m));
        self.at = Some(self.bytes.len() - 1);
        self
    }
    /// Raw bytes.
    fn raw(mut self, b: &[u8]) -> B {
        self.bytes.extend_from_slice(b);
        self
    }
}

const ROLES: [Role; 2] = [Role::Server, Role::Client];

fn rname(r: Role) -> &'static str {
    match r {
        Role::Server => "to server",
        Role::Client => "to client",
    }
}

fn fail(err: ProtocolError) -> Expect {
    Expect::Fail {
        err,
        code: err.close_code().get(),
        at: None,
    }
}

fn fail_at(err: ProtocolError, at: Option<usize>) -> Expect {
    assert!(at.is_some());
    Expect::Fail {
        err,
        code: err.close_code().get(),
        at,
    }
}

/// The valid opening request of RFC 6455 §1.3 with `edit` applied to its header lines.
fn request_with(
    request_line: &str,
    edit: impl FnOnce(&mut Vec<(String, String)>),
    tail: &str,
) -> Vec<u8> {
    let mut hs: Vec<(String, String)> = [
        ("Host", "server.example.com"),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("Sec-WebSocket-Version", "13"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    edit(&mut hs);
    let mut s = format!("{request_line}\r\n");
    for (n, v) in hs {
        s.push_str(&format!("{n}: {v}\r\n"));
    }
    s.push_str(tail);
    s.into_bytes()
}

fn req(edit: impl FnOnce(&mut Vec<(String, String)>)) -> Vec<u8> {
    request_with("GET /chat HTTP/1.1", edit, "\r\n")
}

fn remove(name: &'static str) -> impl FnOnce(&mut Vec<(String, String)>) {
    move |h| h.retain(|(n, _)| n != name)
}

fn set(name: &'static str, value: &'static str) -> impl FnOnce(&mut Vec<(String, String)>) {
    move |h| {
        for (n, v) in h.iter_mut() {
            if n == name {
                *v = value.to_string();
            }
        }
    }
}

const CLIENT_KEY: [u8; 16] = *b"0123456789abcdef";
const CLIENT_PROTOCOLS: &[&str] = &["chat"];
const CLIENT_EXTENSIONS: &[&str] = &["x-known"];

fn client_request() -> ClientRequest<'static> {
    ClientRequest {
        subprotocols: CLIENT_PROTOCOLS,
        extensions: CLIENT_EXTENSIONS,
        ..ClientRequest::new("server.example.com", "/chat")
    }
}

/// The Sec-WebSocket-Key a client sends for `CLIENT_KEY`, read back from its request.
fn client_key_b64() -> String {
    let mut c = Connection::client(Config::new(), 0, [1; 16]).unwrap();
    let mut out = [0u8; 1024];
    let n = c
        .write_request(&client_request(), CLIENT_KEY, &mut out)
        .unwrap();
    let text = std::str::from_utf8(&out[..n]).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("Sec-WebSocket-Key: "))
        .unwrap();
    line["Sec-WebSocket-Key: ".len()..].to_string()
}

fn response(lines: &[(String, String)], status_line: &str) -> Vec<u8> {
    let mut s = format!("{status_line}\r\n");
    for (n, v) in lines {
        s.push_str(&format!("{n}: {v}\r\n"));
    }
    s.push_str("\r\n");
    s.into_bytes()
}

fn rows() -> Vec<Row> {
    let mut rows = Vec::new();
    let d = Config::new();
    let mut add = |name: String, role: Role, cfg: Config, bytes: Vec<u8>, expect: Expect| {
        rows.push(Row {
            name,
            role,
            cfg,
            bytes,
            expect,
        })
    };

    for role in ROLES {
        let r = rname(role);
        // Every RSV bit, on data and on control frames.
        for (bit, rsv) in [("RSV1", 0x40u8), ("RSV2", 0x20), ("RSV3", 0x10)] {
            let b = B::new(role).f(FIN | rsv | OP_TEXT, b"hi");
            add(
                format!("{bit} on text {r}"),
                role,
                d,
                b.bytes,
                fail(ProtocolError::ReservedBits),
            );
            let b = B::new(role).f(FIN | rsv | OP_PING, b"");
            add(
                format!("{bit} on ping {r}"),
                role,
                d,
                b.bytes,
                fail(ProtocolError::ReservedBits),
            );
        }
        // An extension gives meaning to RSV1 only: RSV2 still fails.
        let mut rsv1 = d;
        rsv1.allowed_rsv = 0b100;
        let b = B::new(role)
            .f(FIN | 0x40 | OP_BINARY, b"ok")
            .f(FIN | 0x20 | OP_BINARY, b"x");
        add(
            format!("RSV2 with only RSV1 negotiated {r}"),
            role,
            rsv1,
            b.bytes,
            fail(ProtocolError::ReservedBits),
        );
        // Every reserved opcode.
        for op in [3u8, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] {
            let b = B::new(role).f(FIN | op, b"x");
            add(
                format!("reserved opcode {op:#x} {r}"),
                role,
                d,
                b.bytes,
                fail(ProtocolError::ReservedOpcode),
            );
        }
        // Fragmented control frames.
        for (n, op) in [("ping", OP_PING), ("pong", OP_PONG), ("close", OP_CLOSE)] {
            let b = B::new(role).f(op, b"");
            add(
                format!("fragmented {n} {r}"),
                role,
                d,
                b.bytes,
                fail(ProtocolError::FragmentedControl),
            );
            // Control frames of 126 bytes (16-bit length form).
            let b = B::new(role).f(FIN | op, &[b'a'; 126]);
            add(
                format!("{n} of 126 bytes {r}"),
                role,
                d,
                b.bytes,
                fail(ProtocolError::ControlTooLong),
            );
        }
        // 64-bit lengths with the top bit set.
        for (n, len) in [("2^63", 1u64 << 63), ("2^64-1", u64::MAX)] {
            let b = B::new(role).hdr(FIN | OP_BINARY, len);
            add(
                format!("length {n} {r}"),
                role,
                d,
                b.bytes,
                fail(ProtocolError::LengthOverflow),
            );
        }
        // 2^63-1 is a legal length but over any limit: 1009 as soon as the header is in.
        let b = B::new(role).hdr(FIN | OP_BINARY, (1u64 << 63) - 1);
        add(
            format!("length 2^63-1, header only {r}"),
            role,
            d,
            b.bytes,
            fail_at(ProtocolError::FrameTooLarge, b.at),
        );
        // Over max_frame_payload.
        let mut small = d;
        small.max_frame_payload = 1000;
        let b = B::new(role).hdr(FIN | OP_TEXT, 1001);
        add(
            format!("frame over max_frame_payload {r}"),
            role,
            small,
            b.bytes,
            fail_at(ProtocolError::FrameTooLarge, b.at),
        );
        // Over max_message_size across fragments.
        let mut small = d;
        small.max_message_size = 100;
        let b = B::new(role)
            .f(OP_BINARY, &[1; 60])
            .f_hdr(FIN | OP_CONT, &[2; 60]);
        add(
            format!("message over max_message_size across fragments {r}"),
            role,
            small,
            b.bytes,
            fail_at(ProtocolError::MessageTooLarge, b.at),
        );
        // Too many fragments.
        let mut small = d;
        small.max_fragments = 3;
        let b = B::new(role)
            .f(OP_TEXT, b"a")
            .f(OP_CONT, b"b")
            .f(OP_CONT, b"c")
            .f_hdr(FIN | OP_CONT, b"d");
        add(
            format!("too many fragments {r}"),
            role,
            small,
            b.bytes,
            fail_at(ProtocolError::TooManyFragments, b.at),
        );
        // Fragmentation rules.
        let b = B::new(role).f(FIN | OP_CONT, b"x");
        add(
            format!("continuation without start {r}"),
            role,
            d,
            b.bytes,
            fail(ProtocolError::UnexpectedContinuation),
        );
        let b = B::new(role).f(OP_TEXT, b"a").f(FIN | OP_TEXT, b"b");
        add(
            format!("new text while a message is open {r}"),
            role,
            d,
            b.bytes,
            fail(ProtocolError::ExpectedContinuation),
        );
        let b = B::new(role).f(OP_BINARY, b"a").f(FIN | OP_BINARY, b"b");
        add(
            format!("new binary while a message is open {r}"),
            role,
            d,
            b.bytes,
            fail(ProtocolError::ExpectedContinuation),
        );
        // Invalid UTF-8, fail-fast: the failure is in the read that delivers the first byte
        // that cannot be part of valid text.
        let b = B::new(role).f_at(FIN | OP_TEXT, b"ab\xffcd", 2);
        add(
            format!("invalid UTF-8 in a single frame {r}"),
            role,
            d,
            b.bytes,
            fail_at(ProtocolError::InvalidUtf8, b.at),
        );
        let b = B::new(role)
            .f(OP_TEXT, b"a\xe2\x82")
            .f_at(FIN | OP_CONT, b"(more", 0);
        add(
            format!("invalid UTF-8 across frames {r}"),
            role,
            d,
            b.bytes,
            fail_at(ProtocolError::InvalidUtf8, b.at),
        );
        let b = B::new(role).f_at(FIN | OP_TEXT, b"ab\xe2\x82", 3);
        add(
            format!("UTF-8 truncated at message end {r}"),
            role,
            d,
            b.bytes,
            fail_at(ProtocolError::InvalidUtf8, b.at),
        );
        let b = B::new(role)
            .f(OP_TEXT, b"ab\xf0\x9f")
            .f_hdr(FIN | OP_CONT, b"");
        add(
            format!("UTF-8 truncated by an empty final fragment {r}"),
            role,
            d,
            b.bytes,
            fail_at(ProtocolError::InvalidUtf8, b.at),
        );
        for (what, bad, k) in [
            ("lead byte C0", &b"\xc0\x80"[..], 0usize),
            ("overlong E0 80", b"\xe0\x80\x80", 1),
            ("surrogate ED A0", b"\xed\xa0\x80", 1),
            ("above U+10FFFF F4 90", b"\xf4\x90\x80\x80", 1),
            ("lead byte F5", b"\xf5\x80\x80\x80", 0),
            ("lone continuation", b"\x80", 0),
            ("ASCII inside a 3-byte sequence", b"\xe2\x82A", 2),
        ] {
            // A long frame; the bad byte early: failing at message end would be too late.
            let mut payload = b"fast".to_vec();
            payload.extend_from_slice(bad);
            payload.extend_from_slice(&[b'z'; 200]);
            let b = B::new(role).f_at(FIN | OP_TEXT, &payload, 4 + k);
            add(
                format!("fail-fast UTF-8 ({what}) {r}"),
                role,
                d,
                b.bytes,
                fail_at(ProtocolError::InvalidUtf8, b.at),
            );
        }
        // A code point left open by one fragment, broken by the first byte of the next.
        let b = B::new(role)
            .f(OP_TEXT, b"ok\xf0")
            .f_at(FIN | OP_CONT, &[b'A'; 300], 0);
        add(
            format!("fail-fast UTF-8 at a fragment boundary {r}"),
            role,
            d,
            b.bytes,
            fail_at(ProtocolError::InvalidUtf8, b.at),
        );
        // Close frames.
        let b = B::new(role).f(FIN | OP_CLOSE, &[0x03]);
        add(
            format!("close with a 1-byte payload {r}"),
            role,
            d,
            b.bytes,
            fail(ProtocolError::InvalidClosePayload),
        );
        for code in [
            0u16, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
        ] {
            let b = B::new(role).f(FIN | OP_CLOSE, &close_payload(code, b"x"));
            add(
                format!("close with code {code} {r}"),
                role,
                d,
                b.bytes,
                fail(ProtocolError::InvalidCloseCode),
            );
        }
        let b = B::new(role).f(FIN | OP_CLOSE, &close_payload(1000, b"bye \xc3\x28"));
        add(
            format!("close with invalid UTF-8 reason {r}"),
            role,
            d,
            b.bytes,
            fail(ProtocolError::InvalidUtf8),
        );
        // Data after close is ignored, even data that would be a violation.
        let b = B::new(role)
            .f(FIN | OP_CLOSE, &close_payload(1000, b"bye"))
            .f(FIN | OP_TEXT, b"late")
            .f(FIN | 0x3, b"reserved")
            .raw(&[0xff; 20]);
        add(
            format!("data after close is ignored {r}"),
            role,
            d,
            b.bytes,
            Expect::Closed {
                status: CloseStatus::Code(CloseCode::NORMAL),
                reason: "bye",
                echo: Some(1000),
            },
        );
        // Control rows: legal close frames are accepted (the table can tell the difference).
        for code in [1000u16, 1003, 1007, 1014, 3000, 4999] {
            let b = B::new(role).f(FIN | OP_CLOSE, &close_payload(code, "fin ✓".as_bytes()));
            add(
                format!("legal close code {code} {r}"),
                role,
                d,
                b.bytes,
                Expect::Closed {
                    status: CloseStatus::from_u16(code).unwrap(),
                    reason: "fin ✓",
                    echo: Some(code),
                },
            );
        }
        let b = B::new(role).f(FIN | OP_CLOSE, b"");
        add(
            format!("empty close {r}"),
            role,
            d,
            b.bytes,
            Expect::Closed {
                status: CloseStatus::NoStatus,
                reason: "",
                echo: None,
            },
        );
    }

    // Masking direction.
    add(
        "unmasked frame to server".into(),
        Role::Server,
        d,
        frame(FIN | OP_TEXT, b"Hello", None),
        fail(ProtocolError::UnmaskedFrame),
    );
    add(
        "masked frame to client".into(),
        Role::Client,
        d,
        frame(FIN | OP_TEXT, b"Hello", Some(KEY)),
        fail(ProtocolError::MaskedFrame),
    );
    add(
        "unmasked ping to server".into(),
        Role::Server,
        d,
        frame(FIN | OP_PING, b"", None),
        fail(ProtocolError::UnmaskedFrame),
    );

    // Server handshakes.
    let http = |err: HandshakeError| Expect::Http {
        err,
        status: err.status(),
        at: None,
    };
    let s = Role::Server;
    add(
        "not GET".into(),
        s,
        d,
        request_with("POST /chat HTTP/1.1", |_| {}, "\r\n"),
        http(HandshakeError::MethodNotAllowed),
    );
    add(
        "HTTP/1.0".into(),
        s,
        d,
        request_with("GET /chat HTTP/1.0", |_| {}, "\r\n"),
        http(HandshakeError::HttpVersion),
    );
    add(
        "missing Host".into(),
        s,
        d,
        req(remove("Host")),
        http(HandshakeError::MissingHost),
    );
    add(
        "missing Upgrade".into(),
        s,
        d,
        req(remove("Upgrade")),
        http(HandshakeError::MissingUpgrade),
    );
    add(
        "Upgrade: h2c".into(),
        s,
        d,
        req(set("Upgrade", "h2c")),
        http(HandshakeError::MissingUpgrade),
    );
    add(
        "missing Connection: upgrade".into(),
        s,
        d,
        req(set("Connection", "keep-alive")),
        http(HandshakeError::MissingConnectionUpgrade),
    );
    add(
        "version 8".into(),
        s,
        d,
        req(set("Sec-WebSocket-Version", "8")),
        http(HandshakeError::UnsupportedVersion),
    );
    add(
        "missing version".into(),
        s,
        d,
        req(remove("Sec-WebSocket-Version")),
        http(HandshakeError::MissingVersion),
    );
    add(
        "missing key".into(),
        s,
        d,
        req(remove("Sec-WebSocket-Key")),
        http(HandshakeError::InvalidKey),
    );
    add(
        "key of wrong length".into(),
        s,
        d,
        req(set("Sec-WebSocket-Key", "dGhlIHNhbXBsZQ==")),
        http(HandshakeError::InvalidKey),
    );
    add(
        "key not base64".into(),
        s,
        d,
        req(set("Sec-WebSocket-Key", "!!!!!!!!!!!!!!!!!!!!!!==")),
        http(HandshakeError::InvalidKey),
    );
    add(
        "duplicate key".into(),
        s,
        d,
        req(|h| {
            h.push((
                "Sec-WebSocket-Key".to_string(),
                "AQIDBAUGBwgJCgsMDQ4PEA==".to_string(),
            ))
        }),
        http(HandshakeError::InvalidKey),
    );
    add(
        "request over max_handshake_size".into(),
        s,
        d,
        req(|h| h.push(("X-Pad".to_string(), "p".repeat(9000)))),
        http(HandshakeError::TooLarge),
    );
    let mut small = d;
    small.max_handshake_size = 512;
    let mut endless = b"GET /chat HTTP/1.1\r\nHost: a\r\nX-Endless: ".to_vec();
    endless.resize(2000, b'e');
    add(
        "never-ending header".into(),
        s,
        small,
        endless,
        Expect::Http {
            err: HandshakeError::TooLarge,
            status: 431,
            // Reported as soon as a buffer of max_handshake_size bytes is full.
            at: Some(511),
        },
    );
    add(
        "too many headers".into(),
        s,
        d,
        req(|h| {
            for i in 0..40 {
                h.push((format!("X-H{i}"), "v".to_string()));
            }
        }),
        http(HandshakeError::TooManyHeaders),
    );
    add(
        "handshake never completes".into(),
        s,
        d,
        request_with("GET /chat HTTP/1.1", |_| {}, ""),
        http(HandshakeError::Timeout),
    );
    add(
        "TLS client hello".into(),
        s,
        d,
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03".to_vec(),
        http(HandshakeError::Malformed),
    );

    // Client handshakes.
    let key = client_key_b64();
    let accept = String::from_utf8(accept_key(key.as_bytes()).to_vec()).unwrap();
    let good = |extra: &[(&str, &str)]| -> Vec<(String, String)> {
        [
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Accept", accept.as_str()),
        ]
        .iter()
        .chain(extra)
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
    };
    let c = Role::Client;
    let sl = "HTTP/1.1 101 Switching Protocols";
    add(
        "accepted response (control)".into(),
        c,
        d,
        response(
            &good(&[
                ("Sec-WebSocket-Protocol", "chat"),
                ("Sec-WebSocket-Extensions", "x-known; p=1"),
            ]),
            sl,
        ),
        Expect::ClientOk,
    );
    let mut wrong = good(&[]);
    wrong[2].1 = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".to_string();
    add(
        "wrong accept".into(),
        c,
        d,
        response(&wrong, sl),
        Expect::Client(HandshakeError::InvalidAccept),
    );
    let mut missing = good(&[]);
    missing.remove(2);
    add(
        "missing accept".into(),
        c,
        d,
        response(&missing, sl),
        Expect::Client(HandshakeError::InvalidAccept),
    );
    add(
        "unoffered subprotocol".into(),
        c,
        d,
        response(&good(&[("Sec-WebSocket-Protocol", "superchat")]), sl),
        Expect::Client(HandshakeError::UnofferedSubprotocol),
    );
    add(
        "unoffered extension".into(),
        c,
        d,
        response(
            &good(&[("Sec-WebSocket-Extensions", "permessage-deflate")]),
            sl,
        ),
        Expect::Client(HandshakeError::UnofferedExtension),
    );
    let mut no_upgrade = good(&[]);
    no_upgrade.remove(0);
    add(
        "missing upgrade in response".into(),
        c,
        d,
        response(&no_upgrade, sl),
        Expect::Client(HandshakeError::MissingUpgrade),
    );
    add(
        "response over max_handshake_size".into(),
        c,
        d,
        response(&good(&[("X-Pad", &"p".repeat(9000))]), sl),
        Expect::Client(HandshakeError::TooLarge),
    );
    let mut no_conn = good(&[]);
    no_conn.remove(1);
    add(
        "missing connection in response".into(),
        c,
        d,
        response(&no_conn, sl),
        Expect::Client(HandshakeError::MissingConnectionUpgrade),
    );
    rows
}

/// Delivery of a row's bytes: in reads of at most `chunk` bytes.
#[derive(Clone, Copy, Debug)]
enum Mode {
    Whole,
    Drip,
}

fn run_frames(row: &Row, mode: Mode) {
    let chunk = match mode {
        Mode::Whole => usize::MAX,
        Mode::Drip => 1,
    };
    let mut f = Feeder::new(Connection::new_open(row.role, row.cfg, 0, [5; 16]).unwrap());
    let mut first_event_at: Option<(usize, Ev)> = None;
    let mut fail_at = None;
    let mut start = 0;
    for piece in row.bytes.chunks(chunk) {
        let evs = f.push(piece);
        let last = start + piece.len() - 1;
        if fail_at.is_none() && evs.iter().any(|e| matches!(e, Ev::Failed(_))) {
            fail_at = Some(last);
        }
        if first_event_at.is_none() {
            if let Some(e) = evs.first() {
                first_event_at = Some((last, e.clone()));
            }
        }
        start += piece.len();
    }
    let frames = f.take_frames();
    for fr in &frames {
        assert_eq!(
            fr.mask.is_some(),
            row.role == Role::Client,
            "masking of our frames"
        );
        assert!(fr.fin);
    }
    match &row.expect {
        Expect::Fail { err, code, at } => {
            let fails: Vec<&Ev> = f
                .events
                .iter()
                .filter(|e| matches!(e, Ev::Failed(_)))
                .collect();
            assert_eq!(fails, [&Ev::Failed(*err)], "events {:?}", f.events);
            assert_eq!(f.events.last(), Some(&Ev::Failed(*err)));
            assert_eq!(err.close_code().get(), *code);
            // The close frame actually written.
            assert_eq!(frames.len(), 1, "{frames:?}");
            assert_eq!(frames[0].opcode, OP_CLOSE);
            assert_eq!(frames[0].close_code(), Some(*code));
            assert_eq!(frames[0].close_reason(), err.as_str());
            if let (Mode::Drip, Some(at)) = (mode, at) {
                assert_eq!(fail_at, Some(*at), "failure not in the read of byte {at}");
            }
            assert_eq!(f.conn.state(), ReadyState::Closed);
            assert!(f.conn.should_close_transport());
            assert_eq!(
                f.conn.close_status(),
                Some(CloseStatus::Code(CloseCode::new(*code).unwrap()))
            );
            assert_eq!(f.conn.failure(), Some(Failure::Protocol(*err)));
            assert_eq!(f.conn.poll_timeout(), None);
        }
        Expect::Closed {
            status,
            reason,
            echo,
        } => {
            assert_eq!(
                f.events,
                [Ev::Close(*status, reason.to_string())],
                "{:?}",
                first_event_at
            );
            assert_eq!(frames.len(), 1, "{frames:?}");
            assert_eq!(frames[0].opcode, OP_CLOSE);
            assert_eq!(frames[0].close_code(), *echo);
            assert_eq!(f.conn.state(), ReadyState::Closed);
            assert_eq!(f.conn.close_status(), Some(*status));
            assert_eq!(f.conn.failure(), None);
            match row.role {
                // The server closes the TCP connection first.
                Role::Server => assert!(f.conn.should_close_transport()),
                // The client waits (a bounded time) for the server to close it.
                Role::Client => {
                    assert!(!f.conn.should_close_transport());
                    assert_eq!(f.conn.poll_timeout(), Some(5_000));
                }
            }
        }
        e => panic!("not a frame expectation: {e:?}"),
    }
    // Whatever comes next is ignored.
    let more = f.push(&frame(
        FIN | OP_TEXT,
        b"after",
        (row.role == Role::Server).then_some(KEY),
    ));
    assert!(more.is_empty(), "{more:?}");
    assert!(f.out.is_empty());
}

fn run_server_handshake(row: &Row, mode: Mode) {
    let Expect::Http { err, status, at } = row.expect else {
        panic!()
    };
    let cap = row.cfg.max_handshake_size;
    let chunk = match mode {
        Mode::Whole => cap,
        Mode::Drip => 1,
    };
    let mut conn = Connection::server(row.cfg, 0).unwrap();
    let mut buf: Vec<u8> = Vec::with_capacity(cap);
    let mut now = 0u64;
    let mut pos = 0;
    let mut outcome = None;
    while pos < row.bytes.len() && buf.len() < cap {
        let n = chunk.min(cap - buf.len()).min(row.bytes.len() - pos);
        buf.extend_from_slice(&row.bytes[pos..pos + n]);
        pos += n;
        let mut headers = [EMPTY_HEADER; 32];
        match conn.read_request(now, &buf, &mut headers) {
            Ok(ParsedRequest::Partial) => {}
            Ok(ParsedRequest::Complete { request, .. }) => {
                panic!("accepted: {request:?}")
            }
            Err(e) => {
                outcome = Some((e, pos - 1));
                break;
            }
        }
        assert_eq!(conn.state(), ReadyState::Connecting);
        if let Mode::Drip = mode {
            now += 1;
            conn.handle_timeout(now);
        }
    }
    if outcome.is_none() {
        // Stuck: only the handshake timer can end it.
        let deadline = conn.poll_timeout().expect("handshake timer armed");
        assert_eq!(deadline, u64::from(row.cfg.handshake_timeout_ms));
        conn.handle_timeout(deadline - 1);
        assert_eq!(conn.state(), ReadyState::Connecting);
        let mut out = [0u8; 512];
        assert_eq!(conn.poll_transmit(&mut out), Ok(0));
        conn.handle_timeout(deadline);
        assert_eq!(conn.state(), ReadyState::Closed);
        outcome = Some((Error::Handshake(HandshakeError::Timeout), usize::MAX));
    }
    let (e, idx) = outcome.unwrap();
    assert_eq!(e, Error::Handshake(err));
    if let (Mode::Drip, Some(at)) = (mode, at) {
        assert_eq!(idx, at, "error not reported at byte {at}");
    }
    assert_eq!(conn.failure(), Some(Failure::Handshake(err)));
    assert_eq!(conn.state(), ReadyState::Closed);
    // The response.
    let mut out = [0u8; 512];
    let n = conn.poll_transmit(&mut out).unwrap();
    let text = std::str::from_utf8(&out[..n]).unwrap();
    assert!(
        text.starts_with(&format!("HTTP/1.1 {status} ")),
        "response: {text}"
    );
    let (head, body) = text.split_once("\r\n\r\n").expect("complete head");
    let lines: Vec<&str> = head.split("\r\n").collect();
    let cl = lines
        .iter()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .expect("Content-Length");
    assert_eq!(cl.parse::<usize>().unwrap(), body.len());
    assert!(lines.contains(&"Connection: close"));
    assert_eq!(
        lines.contains(&"Sec-WebSocket-Version: 13"),
        status == 426,
        "{text}"
    );
    assert_eq!(lines.contains(&"Allow: GET"), status == 405, "{text}");
    assert!(conn.should_close_transport());
    assert_eq!(conn.poll_transmit(&mut out), Ok(0));
    assert_eq!(conn.poll_timeout(), None);
}

fn run_client_handshake(row: &Row, mode: Mode) {
    let req = client_request();
    let mut conn = Connection::client(row.cfg, 0, [1; 16]).unwrap();
    let mut out = [0u8; 1024];
    conn.write_request(&req, CLIENT_KEY, &mut out).unwrap();
    let chunk = match mode {
        Mode::Whole => usize::MAX,
        Mode::Drip => 1,
    };
    // The caller's buffer holds max_handshake_size bytes.
    let cap = row.cfg.max_handshake_size;
    let bytes = &row.bytes[..row.bytes.len().min(cap)];
    let mut buf = Vec::new();
    let mut outcome = None;
    for piece in bytes.chunks(chunk) {
        buf.extend_from_slice(piece);
        let mut headers = [EMPTY_HEADER; 32];
        match conn.read_response(0, &req, &buf, &mut headers) {
            Ok(ResponseStatus::Partial) => {}
            Ok(ResponseStatus::Accepted { len, .. }) => {
                outcome = Some(Ok(len));
                break;
            }
            Ok(r @ ResponseStatus::Rejected { .. }) => panic!("{r:?}"),
            Err(e) => {
                outcome = Some(Err(e));
                break;
            }
        }
    }
    match (&row.expect, outcome) {
        (Expect::ClientOk, Some(Ok(len))) => {
            assert_eq!(len, row.bytes.len());
            assert_eq!(conn.state(), ReadyState::Open);
            assert!(!conn.should_close_transport());
        }
        (Expect::Client(err), Some(Err(e))) => {
            assert_eq!(e, Error::Handshake(*err));
            assert_eq!(conn.state(), ReadyState::Closed);
            assert_eq!(conn.close_status(), Some(CloseStatus::Abnormal));
            assert_eq!(conn.failure(), Some(Failure::Handshake(*err)));
            assert!(conn.should_close_transport());
            assert_eq!(conn.poll_transmit(&mut out), Ok(0));
        }
        (e, o) => panic!("expected {e:?}, got {o:?}"),
    }
}

fn run_row(row: &Row, mode: Mode) {
    match row.expect {
        Expect::Fail { .. } | Expect::Closed { .. } => run_frames(row, mode),
        Expect::Http { .. } => run_server_handshake(row, mode),
        Expect::Client(_) | Expect::ClientOk => run_client_handshake(row, mode),
    }
}

#[test]
#[cfg_attr(miri, ignore)] // every row twice, one byte per read: too slow under Miri
fn hostile_table() {
    let rows = rows();
    // Rows that must be refused (the rest are controls showing legal input passes).
    let hostile = rows
        .iter()
        .filter(|r| match r.expect {
            Expect::Fail { .. } | Expect::Http { .. } | Expect::Client(_) => true,
            Expect::Closed { .. } => r.name.contains("data after close"),
            Expect::ClientOk => false,
        })
        .count();
    assert!(hostile >= 40, "only {hostile} hostile rows");
    let mut names = std::collections::HashSet::new();
    for r in &rows {
        assert!(
            names.insert(r.name.clone()),
            "duplicate row name {}",
            r.name
        );
    }
    let mut failed = Vec::new();
    for row in &rows {
        for mode in [Mode::Whole, Mode::Drip] {
            let r = catch_unwind(AssertUnwindSafe(|| run_row(row, mode)));
            if r.is_err() {
                failed.push(format!("{} ({mode:?})", row.name));
            }
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} rows failed:\n{}",
        failed.len(),
        rows.len(),
        failed.join("\n")
    );
}

#[test]
#[cfg_attr(miri, ignore)] // checks the table's contents only; building it is slow under Miri
fn table_covers_every_required_case() {
    let rows = rows();
    let has = |s: &str| rows.iter().any(|r| r.name.contains(s));
    for s in [
        "RSV1 on text",
        "RSV2 on text",
        "RSV3 on text",
        "reserved opcode 0x3",
        "reserved opcode 0x7",
        "reserved opcode 0xb",
        "reserved opcode 0xf",
        "fragmented ping",
        "ping of 126 bytes",
        "unmasked frame to server",
        "masked frame to client",
        "length 2^63 ",
        "length 2^64-1",
        "length 2^63-1",
        "frame over max_frame_payload",
        "message over max_message_size",
        "too many fragments",
        "continuation without start",
        "new text while",
        "invalid UTF-8 in a single frame",
        "invalid UTF-8 across frames",
        "UTF-8 truncated at message end",
        "fail-fast",
        "close with a 1-byte payload",
        "close with code 65535",
        "close with invalid UTF-8 reason",
        "data after close",
        "not GET",
        "HTTP/1.0",
        "missing Host",
        "missing Upgrade",
        "missing Connection",
        "version 8",
        "missing version",
        "key of wrong length",
        "key not base64",
        "duplicate key",
        "request over max_handshake_size",
        "never-ending header",
        "too many headers",
        "handshake never completes",
        "wrong accept",
        "unoffered subprotocol",
        "unoffered extension",
        "missing upgrade in response",
    ] {
        assert!(has(s), "no row for {s}");
    }
    // 12 invalid close codes per role.
    assert_eq!(
        rows.iter()
            .filter(|r| r.name.starts_with("close with code"))
            .count(),
        24
    );
}

/// Fail-fast, checked once more with reads of every size: the read that holds the bad byte
/// fails, and no earlier read does.
#[test]
fn utf8_failure_is_in_the_read_that_delivers_the_bad_byte() {
    for role in ROLES {
        let mut payload = "héllo wörld ".repeat(20).into_bytes();
        let bad = payload.len() / 2 + 1; // inside the text, on an ASCII byte
        payload[bad] = 0xC1; // never valid
        let b = B::new(role).f_at(FIN | OP_TEXT, &payload, bad);
        let at = b.at.unwrap();
        for chunk in 1..=40 {
            let mut f = Feeder::new(Connection::new_open(role, Config::new(), 0, [5; 16]).unwrap());
            let mut start = 0;
            let mut failed_in = None;
            for piece in b.bytes.chunks(chunk) {
                let evs = f.push(piece);
                if evs.contains(&Ev::Failed(ProtocolError::InvalidUtf8)) {
                    failed_in = Some(start..start + piece.len());
                    break;
                }
                start += piece.len();
            }
            let r = failed_in.unwrap_or_else(|| panic!("no failure, chunk {chunk}"));
            assert!(
                r.contains(&at),
                "chunk {chunk}: failed in {r:?}, bad byte {at}"
            );
            // Everything delivered before the bad byte's read is valid text.
            let delivered: Vec<u8> = f
                .events
                .iter()
                .filter_map(|e| match e {
                    Ev::Data { data, .. } => Some(data.clone()),
                    _ => None,
                })
                .flatten()
                .collect();
            assert!(delivered.len() <= bad);
            assert_eq!(delivered, &payload[..delivered.len()]);
        }
    }
}
