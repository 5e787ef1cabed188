//! The work the footprint images measure, with wsmachine: a server answering a browser and
//! echoing a text and a binary message; a client connecting to a recorded server and
//! exchanging a message. Every step is checked. The connection and the I/O buffers live in
//! static memory (as they would in firmware); the caller-lent header array is on the stack.
//! `fw-ews` does the same with embedded-websocket.

use core::mem::MaybeUninit;
use core::ptr::addr_of_mut;

use wsmachine::{
    Accept, ClientRequest, Config, Connection, Event, Header, MessageKind, ParsedRequest,
    ResponseStatus, EMPTY_HEADER,
};

use crate::vectors::*;
use crate::{black_box, built_in, check, check_bytes, exit, print, EXIT_CHECK};

/// Receive buffer (the socket reads into it).
static mut RX: [u8; 1024] = [0; 1024];
/// Transmit buffer.
static mut TX: [u8; 512] = [0; 512];
static mut CONN: MaybeUninit<Connection> = MaybeUninit::uninit();

/// The static buffers and a place for the connection.
fn statics() -> (
    &'static mut [u8; 1024],
    &'static mut [u8; 512],
    &'static mut MaybeUninit<Connection>,
) {
    // SAFETY: called once per scenario, single-threaded; earlier borrows have ended.
    unsafe {
        (
            &mut *addr_of_mut!(RX),
            &mut *addr_of_mut!(TX),
            &mut *addr_of_mut!(CONN),
        )
    }
}

fn fail(what: &str) -> ! {
    print("FAIL: ");
    print(what);
    print("\n");
    exit(EXIT_CHECK)
}

/// "Receives" `bytes`: copies them into the receive buffer as a socket read would.
/// (This file is written without panicking paths, so that the images measure the library's
/// own; `fw-ews` is written the same way.)
fn receive<'a>(rx: &'a mut [u8], bytes: &[u8]) -> &'a mut [u8] {
    let Some(dst) = rx.get_mut(..bytes.len()) else {
        fail("receive buffer too small")
    };
    dst.copy_from_slice(black_box(bytes));
    dst
}

/// The first `n` bytes of `buf` (empty if out of range, which then fails the check).
fn first(buf: &[u8], n: usize) -> &[u8] {
    buf.get(..n).unwrap_or_default()
}

/// Reads one data message that arrives whole in `buf` and checks it.
fn read_message<'b>(conn: &mut Connection, buf: &'b mut [u8], kind: MessageKind) -> &'b [u8] {
    let len = buf.len();
    let r = match conn.read(0, buf) {
        Ok(r) => r,
        Err(_) => fail("read"),
    };
    check(r.consumed == len, "whole frame consumed");
    match r.event {
        Some(Event::Data(c)) => {
            check(c.kind == kind, "message kind");
            check(c.message_start && c.message_finished, "one whole message");
            c.data
        }
        _ => fail("expected a data message"),
    }
}

/// Checks a masked text frame of `payload` (under 126 bytes) written by a client.
pub fn check_masked(frame: &[u8], payload: &[u8]) {
    let [b0, b1, k0, k1, k2, k3, rest @ ..] = frame else {
        fail("masked frame header")
    };
    check(
        *b0 == 0x81 && usize::from(*b1) == 0x80 | payload.len(),
        "masked frame header",
    );
    let key = [*k0, *k1, *k2, *k3];
    let mut ok = rest.len() == payload.len();
    for ((b, p), k) in rest.iter().zip(payload).zip(key.iter().cycle()) {
        ok &= b ^ k == *p;
    }
    check(ok, "client payload unmasks to the text");
}

/// Server: handshake with a browser, then echo a text and a binary message.
#[inline(never)]
pub fn server() {
    let (rx, tx, slot) = statics();
    let conn = built_in(
        slot,
        Connection::server(Config::new(), 0),
        "constructor accepts the config",
    );

    let req = receive(rx, CHROME_REQUEST);
    let mut headers = [EMPTY_HEADER; 16];
    let n = match conn.read_request(0, req, &mut headers) {
        Ok(ParsedRequest::Complete { request, len }) => {
            check(len == CHROME_REQUEST.len(), "request head length");
            let proto = request
                .subprotocols()
                .next()
                .and_then(|p| core::str::from_utf8(p).ok());
            let opts = Accept {
                subprotocol: proto,
                ..Accept::default()
            };
            match conn.accept(0, &opts, tx) {
                Ok(n) => n,
                Err(_) => fail("accept"),
            }
        }
        _ => fail("read_request"),
    };
    check_bytes(first(tx, n), CHROME_101, "101 response");

    let data = read_message(conn, receive(rx, &TEXT_IN), MessageKind::Text);
    check_bytes(data, TEXT, "text payload unmasked");
    let n = conn.send(MessageKind::Text, data, tx).unwrap_or(0);
    check_bytes(first(tx, n), &TEXT_ECHO, "text echo");

    let data = read_message(conn, receive(rx, &BINARY_IN), MessageKind::Binary);
    check_bytes(data, &BINARY, "binary payload unmasked");
    let n = conn.send(MessageKind::Binary, data, tx).unwrap_or(0);
    check_bytes(first(tx, n), &BINARY_ECHO, "binary echo");
}

/// Client: handshake against a recorded server response, read the server's first message,
/// send one and read its echo.
#[inline(never)]
pub fn client() {
    let (rx, tx, slot) = statics();
    // The seed for masking keys: a real client takes 16 bytes from its RNG.
    let conn = built_in(
        slot,
        Connection::client(Config::new(), 0, black_box([0x5a; 16])),
        "constructor accepts the config",
    );
    let headers_out = [Header {
        name: "User-Agent",
        value: b"wsmachine-fw/0.1",
    }];
    let req = ClientRequest {
        origin: Some("http://example.com"),
        subprotocols: &["chat.v2"],
        headers: &headers_out,
        ..ClientRequest::new("echo.example.com", "/chat")
    };
    let n = conn
        .write_request(&req, black_box(CLIENT_KEY), tx)
        .unwrap_or(0);
    check_bytes(first(tx, n), CLIENT_REQUEST, "request bytes");

    let total = SERVER_RESPONSE.len();
    let mut headers = [EMPTY_HEADER; 16];
    let head = match conn.read_response(0, &req, receive(rx, SERVER_RESPONSE), &mut headers) {
        Ok(ResponseStatus::Accepted { response, len }) => {
            check(response.subprotocol() == Some("chat.v2"), "subprotocol");
            len
        }
        _ => fail("read_response"),
    };
    check(head == SERVER_RESPONSE_HEAD, "response head length");

    let Some(frames) = rx.get_mut(head..total) else {
        fail("response head length")
    };
    let data = read_message(conn, frames, MessageKind::Text);
    check_bytes(data, b"Welcome", "server's first message");

    let n = conn.send_text(black_box("Hello, server!"), tx).unwrap_or(0);
    check(
        n == frame_len(CLIENT_TEXT.len(), true),
        "masked frame length",
    );
    check_masked(first(tx, n), CLIENT_TEXT);

    let data = read_message(conn, receive(rx, &CLIENT_ECHO), MessageKind::Text);
    check_bytes(data, CLIENT_TEXT, "echo from the server");
}
