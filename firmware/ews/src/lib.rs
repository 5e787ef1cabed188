//! The work of `wsm-fw`'s footprint images (see `images/src/work.rs`) done with
//! embedded-websocket 0.9.5 (+ httparse for the server's request), checked the same way.
//! embedded-websocket validates less than wsmachine (it does not check Connection, Host or
//! Sec-WebSocket-Version, nor UTF-8), so this is a lower bound for equal validation.
#![no_std]

use core::mem::MaybeUninit;
use core::ptr::addr_of_mut;

use embedded_websocket as ws;
use fw::vectors::*;
use fw::{black_box, check, check_bytes, exit, print, EXIT_CHECK};

static mut RX: [u8; 1024] = [0; 1024];
static mut TX: [u8; 512] = [0; 512];
/// embedded-websocket copies payload out of the input: a second buffer.
static mut PAYLOAD: [u8; 256] = [0; 256];
static mut SERVER: MaybeUninit<ws::WebSocketServer> = MaybeUninit::uninit();
static mut CLIENT: MaybeUninit<ws::WebSocketClient<FixedRng>> = MaybeUninit::uninit();

#[allow(clippy::type_complexity)]
fn statics() -> (
    &'static mut [u8; 1024],
    &'static mut [u8; 512],
    &'static mut [u8; 256],
) {
    // SAFETY: called once per scenario, single-threaded; earlier borrows have ended.
    unsafe {
        (
            &mut *addr_of_mut!(RX),
            &mut *addr_of_mut!(TX),
            &mut *addr_of_mut!(PAYLOAD),
        )
    }
}

fn fail(what: &str) -> ! {
    print("FAIL: ");
    print(what);
    print("\n");
    exit(EXIT_CHECK)
}

/// Written without panicking paths, like `fw::work`.
fn receive<'a>(rx: &'a mut [u8], bytes: &[u8]) -> &'a mut [u8] {
    let Some(dst) = rx.get_mut(..bytes.len()) else {
        fail("receive buffer too small")
    };
    dst.copy_from_slice(black_box(bytes));
    dst
}

fn first(buf: &[u8], n: usize) -> &[u8] {
    buf.get(..n).unwrap_or_default()
}

/// The same bytes as wsmachine's answer, in embedded-websocket's header order.
const EWS_CHROME_101: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\n\
Connection: Upgrade\r\n\
Upgrade: websocket\r\n\
Sec-WebSocket-Protocol: chat.v2\r\n\
Sec-WebSocket-Accept: Um2KU7pVeOZDgz1Npf0csjaenqw=\r\n\
\r\n";

/// embedded-websocket's request for the same connection as `CLIENT_REQUEST`.
const EWS_CLIENT_REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\n\
Host: echo.example.com\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA==\r\n\
Origin: http://example.com\r\n\
Sec-WebSocket-Protocol: chat.v2\r\n\
User-Agent: wsmachine-fw/0.1\r\n\
Sec-WebSocket-Version: 13\r\n\
\r\n";

fn read_message<T: rand_core::RngCore, S: ws::WebSocketType>(
    conn: &mut ws::WebSocket<T, S>,
    input: &[u8],
    out: &mut [u8],
    kind: ws::WebSocketReceiveMessageType,
) -> usize {
    match conn.read(input, out) {
        Ok(r) => {
            check(r.message_type == kind, "message kind");
            check(r.end_of_message, "one whole message");
            check(r.len_from == input.len(), "whole frame consumed");
            r.len_to
        }
        Err(_) => fail("read"),
    }
}

/// Server: handshake with a browser, then echo a text and a binary message.
#[inline(never)]
pub fn server() {
    let (rx, tx, payload) = statics();
    // SAFETY: single-threaded; the only borrow of SERVER.
    let conn = unsafe { &mut *addr_of_mut!(SERVER) }.write(ws::WebSocketServer::new_server());

    let req = receive(rx, CHROME_REQUEST);
    let mut headers = [httparse::EMPTY_HEADER; 16];
    let mut request = httparse::Request::new(&mut headers);
    check(
        matches!(request.parse(req), Ok(httparse::Status::Complete(n)) if n == CHROME_REQUEST.len()),
        "request head length",
    );
    let ctx = match ws::read_http_header(request.headers.iter().map(|h| (h.name, h.value))) {
        Ok(Some(ctx)) => ctx,
        _ => fail("read_http_header"),
    };
    let proto = ctx.sec_websocket_protocol_list.first();
    let n = match conn.server_accept(&ctx.sec_websocket_key, proto, tx) {
        Ok(n) => n,
        Err(_) => fail("server_accept"),
    };
    check_bytes(first(tx, n), EWS_CHROME_101, "101 response");

    let n = read_message(
        conn,
        receive(rx, &TEXT_IN),
        payload,
        ws::WebSocketReceiveMessageType::Text,
    );
    check_bytes(first(payload, n), TEXT, "text payload unmasked");
    let m = conn
        .write(
            ws::WebSocketSendMessageType::Text,
            true,
            first(payload, n),
            tx,
        )
        .unwrap_or(0);
    check_bytes(first(tx, m), &TEXT_ECHO, "text echo");

    let n = read_message(
        conn,
        receive(rx, &BINARY_IN),
        payload,
        ws::WebSocketReceiveMessageType::Binary,
    );
    check_bytes(first(payload, n), &BINARY, "binary payload unmasked");
    let m = conn
        .write(
            ws::WebSocketSendMessageType::Binary,
            true,
            first(payload, n),
            tx,
        )
        .unwrap_or(0);
    check_bytes(first(tx, m), &BINARY_ECHO, "binary echo");
}

/// A deterministic "RNG": the key bytes 1..=16 first (as `CLIENT_KEY`), then a counter for
/// masking keys. A real client uses its hardware RNG.
pub struct FixedRng(u8);

impl rand_core::RngCore for FixedRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for d in dest {
            self.0 = self.0.wrapping_add(1);
            *d = black_box(self.0);
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

/// Client: handshake against a recorded server response, read the server's first message,
/// send one and read its echo.
#[inline(never)]
pub fn client() {
    let (rx, tx, payload) = statics();
    // SAFETY: single-threaded; the only borrow of CLIENT.
    let conn =
        unsafe { &mut *addr_of_mut!(CLIENT) }.write(ws::WebSocketClient::new_client(FixedRng(0)));
    let opts = ws::WebSocketOptions {
        path: "/chat",
        host: "echo.example.com",
        origin: "http://example.com",
        sub_protocols: Some(&["chat.v2"]),
        additional_headers: Some(&["User-Agent: wsmachine-fw/0.1"]),
    };
    let (n, key) = match conn.client_connect(&opts, tx) {
        Ok(x) => x,
        Err(_) => fail("client_connect"),
    };
    check_bytes(first(tx, n), EWS_CLIENT_REQUEST, "request bytes");

    let total = SERVER_RESPONSE.len();
    let head = match conn.client_accept(&key, receive(rx, SERVER_RESPONSE)) {
        Ok((len, proto)) => {
            check(proto.as_deref() == Some("chat.v2"), "subprotocol");
            len
        }
        Err(_) => fail("client_accept"),
    };
    check(head == SERVER_RESPONSE_HEAD, "response head length");

    let n = read_message(
        conn,
        rx.get(head..total).unwrap_or_default(),
        payload,
        ws::WebSocketReceiveMessageType::Text,
    );
    check_bytes(first(payload, n), b"Welcome", "server's first message");

    let n = conn
        .write(
            ws::WebSocketSendMessageType::Text,
            true,
            black_box(CLIENT_TEXT),
            tx,
        )
        .unwrap_or(0);
    check(
        n == frame_len(CLIENT_TEXT.len(), true),
        "masked frame length",
    );
    fw::work::check_masked(first(tx, n), CLIENT_TEXT);

    let n = read_message(
        conn,
        receive(rx, &CLIENT_ECHO),
        payload,
        ws::WebSocketReceiveMessageType::Text,
    );
    check_bytes(first(payload, n), CLIENT_TEXT, "echo from the server");
}

/// Bytes of embedded-websocket's connection state (server, client).
pub fn conn_sizes() -> (u32, u32) {
    (
        core::mem::size_of::<ws::WebSocketServer>() as u32,
        core::mem::size_of::<ws::WebSocketClient<FixedRng>>() as u32,
    )
}
