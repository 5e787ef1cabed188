//! Link-time proof that the core has no reachable panic.
//!
//! This image calls every public entry point of the core on inputs the optimizer cannot
//! see through (`black_box`). Its panic handler calls a function that does not exist, so if
//! any panicking path (a failed bounds check, an overflow check, an `unwrap`) survives
//! optimization, the final link fails with an undefined symbol. Built for
//! `thumbv6m-none-eabi` by `scripts/test/nopanic.sh`; it is never run.
#![no_std]
#![no_main]

use core::hint::black_box;

#[cfg(not(feature = "frames-only"))]
use wsmachine::{Accept, ClientRequest, ParsedRequest, ResponseStatus, EMPTY_HEADER};
use wsmachine::{CloseCode, Config, Connection, MessageKind, Role};

/// The configuration of every connection (permessage-deflate offered/accepted with the
/// `deflate` feature).
fn config() -> Config {
    #[allow(unused_mut)]
    let mut c = black_box(Config::new());
    #[cfg(feature = "deflate")]
    {
        c.deflate = Some(black_box(wsmachine::deflate::DeflateConfig::new()));
    }
    c
}

/// Exercises the server side on arbitrary input.
#[cfg(not(feature = "frames-only"))]
#[inline(never)]
fn server(input: &mut [u8], out: &mut [u8], now: u64) {
    let Ok(mut c) = Connection::server(config(), now) else {
        return;
    };
    let mut headers = [EMPTY_HEADER; 16];
    let split = black_box(input.len() / 2).min(input.len());
    let (head, frames) = input.split_at_mut(split);
    let accepted = match c.read_request(now, head, &mut headers) {
        Ok(ParsedRequest::Complete { request, .. }) => {
            let _ = black_box(request.path());
            let _ = black_box(request.query());
            let _ = black_box(request.subprotocols().count());
            let _ = black_box(request.origin_allowed(&["https://a.example"]));
            let proto = request
                .subprotocols()
                .next()
                .and_then(|p| core::str::from_utf8(p).ok());
            let opts = Accept {
                subprotocol: proto,
                ..Accept::default()
            };
            c.accept(now, &opts, out).is_ok()
        }
        _ => false,
    };
    if !accepted {
        let _ = c.reject(black_box(403), &[], b"no", out);
    }
    drive(&mut c, frames, out, now);
}

/// Exercises the client side on arbitrary input.
#[cfg(not(feature = "frames-only"))]
#[inline(never)]
fn client(input: &mut [u8], out: &mut [u8], now: u64) {
    let Ok(mut c) = Connection::client(config(), now, black_box([1; 16])) else {
        return;
    };
    let req = ClientRequest {
        subprotocols: &["chat", "superchat"],
        extensions: &["x-test"],
        ..ClientRequest::new("example.com", "/chat")
    };
    let _ = c.write_request(&req, black_box([2; 16]), out);
    let mut headers = [EMPTY_HEADER; 16];
    let split = black_box(input.len() / 3).min(input.len());
    let (head, frames) = input.split_at_mut(split);
    let _ = black_box(matches!(
        c.read_response(now, &req, head, &mut headers),
        Ok(ResponseStatus::Accepted { .. })
    ));
    drive(&mut c, frames, out, now);
}

/// Reads frames, answers, sends every kind of frame, runs timers.
#[inline(never)]
fn drive(c: &mut Connection, buf: &mut [u8], out: &mut [u8], now: u64) {
    let mut pos = 0;
    while pos < buf.len() {
        let Some(rest) = buf.get_mut(pos..) else {
            break;
        };
        match c.read(now, rest) {
            Ok(r) => {
                if let Some(ev) = r.event {
                    let _ = black_box(&ev);
                    #[cfg(feature = "deflate")]
                    if let wsmachine::Event::Data(chunk) = ev {
                        z::inflate(c, &chunk, out, now);
                    }
                }
                if r.consumed == 0 {
                    break;
                }
                pos += r.consumed;
            }
            Err(_) => break,
        }
        let _ = c.poll_transmit(out);
    }
    let data = black_box(&b"payload"[..]);
    let _ = c.send_text(black_box("text"), out);
    let _ = c.send_binary(data, out);
    let _ = c.send_fragment(MessageKind::Text, data, false, out);
    let _ = c.send_fragment(MessageKind::Text, data, true, out);
    let _ = c.begin_frame(MessageKind::Binary, true, black_box(7), out);
    let _ = c.send_payload(data, out);
    let _ = c.send_ping(data, out);
    let _ = c.send_pong(data, out);
    #[cfg(feature = "deflate")]
    z::send(c, data, out);
    if let Some(code) = CloseCode::new(black_box(1000)) {
        let _ = c.close(now, code, black_box("bye"), out);
    }
    c.handle_timeout(black_box(now + 60_000));
    let _ = c.poll_timeout();
    let _ = c.poll_transmit(out);
    c.handle_eof();
    let _ = black_box((
        c.state(),
        c.close_status(),
        c.failure(),
        c.should_close_transport(),
    ));
}

#[no_mangle]
pub extern "C" fn _start() -> ! {
    let mut input = [0u8; 512];
    let mut out = [0u8; 256];
    let input = black_box(&mut input[..]);
    let out = black_box(&mut out[..]);
    let now = black_box(0u64);
    #[cfg(not(feature = "frames-only"))]
    {
        server(input, out, now);
        client(input, out, now);
    }
    if let Ok(mut open) = Connection::new_open(Role::Client, config(), now, [3; 16]) {
        #[cfg(feature = "deflate")]
        z::negotiate(&mut open, input, out);
        drive(&mut open, input, out, now);
    }
    let _ =
        wsmachine::validate_extended_connect(black_box("CONNECT"), Some("websocket"), Some(b"13"));
    let mut b = wsmachine::reconnect::Backoff::new();
    let _ = black_box(b.next_delay(black_box(12345)));
    loop {}
}

/// permessage-deflate: the caller-memory codecs (largest window, every level) on the
/// connection's compressed chunks and sends, and the negotiation helpers.
#[cfg(feature = "deflate")]
mod z {
    use core::hint::black_box;
    use core::ptr::addr_of_mut;
    use wsmachine::deflate::{
        self, deflater_memory, parse_response, write_offer, write_response, DeflateConfig,
        Deflater, Inflater, Params,
    };
    use wsmachine::{Connection, DataChunk, Header, MessageKind};

    static mut WINDOW: [u8; 1 << 15] = [0; 1 << 15];
    static mut MEMORY: [u8; deflater_memory(15, 9)] = [0; deflater_memory(15, 9)];

    fn memory() -> (&'static mut [u8], &'static mut [u8]) {
        // SAFETY: the image is single-threaded and each caller drops both before the next call.
        unsafe { (&mut *addr_of_mut!(WINDOW), &mut *addr_of_mut!(MEMORY)) }
    }

    /// Inflates a chunk to its end, as an application does.
    #[inline(never)]
    pub fn inflate(c: &mut Connection, chunk: &DataChunk<'_>, out: &mut [u8], now: u64) {
        if !chunk.compressed {
            return;
        }
        let (window, _) = memory();
        let Some(mut d) = Inflater::new(window, black_box(15)) else {
            return;
        };
        let mut input = chunk.data;
        while let Ok(i) = c.inflate(now, &mut d, chunk, input, out) {
            let _ = black_box(out.get(..i.produced));
            if i.done || i.failed.is_some() {
                break;
            }
            input = input.get(i.consumed..).unwrap_or_default();
        }
    }

    /// Compressed sends, whole and fragmented.
    #[inline(never)]
    pub fn send(c: &mut Connection, data: &[u8], out: &mut [u8]) {
        let (_, mem) = memory();
        let Ok(mut d) = Deflater::new(mem, black_box(15), black_box(6)) else {
            return;
        };
        let _ = c.send_compressed(MessageKind::Text, data, &mut d, out);
        let _ = c.send_compressed_fragment(MessageKind::Binary, data, false, &mut d, out);
        let _ = c.send_compressed_fragment(MessageKind::Binary, data, true, &mut d, out);
    }

    /// The negotiation helpers on arbitrary header values, and `set_deflate`.
    #[inline(never)]
    pub fn negotiate(c: &mut Connection, input: &[u8], out: &mut [u8]) {
        let cfg = black_box(DeflateConfig::new());
        let h = [Header {
            name: "Sec-WebSocket-Extensions",
            value: input,
        }];
        let offer = deflate::negotiate(&h, &cfg);
        let answer = parse_response(&h, &cfg);
        let _ = black_box(write_offer(&cfg, out));
        if let Some(p) = offer.or(answer.ok().flatten()) {
            let _ = black_box(write_response(&p, out));
        }
        let p = black_box(Params {
            server_no_context_takeover: false,
            client_no_context_takeover: true,
            server_max_window_bits: 15,
            client_max_window_bits: 9,
        });
        let _ = c.set_deflate(Some(p));
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    extern "C" {
        /// Deliberately undefined: referencing it makes any reachable panic a link error.
        #[allow(dead_code)]
        fn wsmachine_core_has_a_reachable_panic() -> !;
    }
    // SAFETY: never actually called; the symbol does not exist, so an image in which this
    // handler is reachable does not link.
    #[cfg(not(nopanic_debug))]
    unsafe {
        wsmachine_core_has_a_reachable_panic()
    }
    #[cfg(nopanic_debug)]
    loop {}
}
