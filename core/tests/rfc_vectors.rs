//! The examples of RFC 6455: the §1.3 accept key and the §5.7 frames, decoded through a
//! `Connection` in the right role and encoded by one.

mod common;

use common::*;
use wsmachine::{
    accept_key, Accept, Config, Connection, MessageKind, ParsedRequest, ReadyState, Role,
    EMPTY_HEADER,
};

fn client() -> Connection {
    Connection::new_open(Role::Client, Config::new(), 0, [9; 16]).unwrap()
}

fn server() -> Connection {
    Connection::new_open(Role::Server, Config::new(), 0, [0; 16]).unwrap()
}

const HELLO_UNMASKED: &[u8] = &[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
const HELLO_MASKED: &[u8] = &[
    0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
];
const HEL: &[u8] = &[0x01, 0x03, 0x48, 0x65, 0x6c];
const LO: &[u8] = &[0x80, 0x02, 0x6c, 0x6f];
const PING_HELLO: &[u8] = &[0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
const PONG_HELLO_MASKED: &[u8] = &[
    0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
];

fn binary_256() -> (Vec<u8>, Vec<u8>) {
    let data: Vec<u8> = (0..256u32).map(|i| (i * 7 + 3) as u8).collect();
    let mut wire = vec![0x82, 0x7E, 0x01, 0x00];
    wire.extend_from_slice(&data);
    (wire, data)
}

fn binary_64k() -> (Vec<u8>, Vec<u8>) {
    let data = SplitMix(42).bytes(65536);
    let mut wire = vec![0x82, 0x7F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00];
    wire.extend_from_slice(&data);
    (wire, data)
}

fn data(kind: MessageKind, d: &[u8], start: bool, frame_fin: bool, msg_fin: bool) -> Ev {
    Ev::Data {
        kind,
        data: d.to_vec(),
        start,
        frame_fin,
        msg_fin,
        rsv: 0,
    }
}

#[test]
fn section_1_3_accept_key() {
    assert_eq!(
        &accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
        b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
    // A different key gives a different answer (the function is not a constant).
    assert_ne!(
        &accept_key(b"AQIDBAUGBwgJCgsMDQ4PEA=="),
        b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
}

#[test]
fn section_1_3_handshake_through_a_server() {
    // The request of RFC 6455 §1.3, answered by a server connection.
    let req = b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
        Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Origin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\n\
        Sec-WebSocket-Version: 13\r\n\r\n";
    let mut conn = Connection::server(Config::new(), 0).unwrap();
    let mut headers = [EMPTY_HEADER; 16];
    let (proto, len) = match conn.read_request(0, req, &mut headers).unwrap() {
        ParsedRequest::Complete { request, len } => {
            assert_eq!(request.path(), "/chat");
            assert_eq!(request.origin(), Some(&b"http://example.com"[..]));
            let offered: Vec<&[u8]> = request.subprotocols().collect();
            assert_eq!(offered, [&b"chat"[..], b"superchat"]);
            (request.offers_subprotocol("chat"), len)
        }
        ParsedRequest::Partial => panic!("partial"),
    };
    assert!(proto);
    assert_eq!(len, req.len());
    let mut out = [0u8; 512];
    let n = conn
        .accept(
            0,
            &Accept {
                subprotocol: Some("chat"),
                ..Accept::default()
            },
            &mut out,
        )
        .unwrap();
    let resp = std::str::from_utf8(&out[..n]).unwrap();
    assert!(resp.starts_with("HTTP/1.1 101 "), "{resp}");
    assert!(
        resp.contains("\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
        "{resp}"
    );
    assert!(
        resp.contains("\r\nSec-WebSocket-Protocol: chat\r\n"),
        "{resp}"
    );
    assert!(resp.ends_with("\r\n\r\n"));
    assert_eq!(conn.state(), ReadyState::Open);
}

/// Feeds `wire` once whole and once a byte per read; both must give `expected` (after
/// merging, for the byte-wise run) and the whole run exactly `expected`.
fn decode_both_ways(make: fn() -> Connection, wire: &[u8], expected: &[Ev]) {
    let mut f = Feeder::new(make());
    f.push(wire);
    assert_eq!(f.events, expected);
    assert!(f.pending.is_empty());
    let mut g = Feeder::new(make());
    g.push_chunked(wire, 1);
    assert_eq!(normalize(&g.events), normalize(expected));
}

#[test]
fn section_5_7_single_frame_unmasked_text() {
    decode_both_ways(
        client,
        HELLO_UNMASKED,
        &[data(MessageKind::Text, b"Hello", true, true, true)],
    );
}

#[test]
fn section_5_7_single_frame_masked_text() {
    decode_both_ways(
        server,
        HELLO_MASKED,
        &[data(MessageKind::Text, b"Hello", true, true, true)],
    );
}

#[test]
fn section_5_7_fragmented_unmasked_text() {
    let wire = [HEL, LO].concat();
    decode_both_ways(
        client,
        &wire,
        &[
            data(MessageKind::Text, b"Hel", true, true, false),
            data(MessageKind::Text, b"lo", false, true, true),
        ],
    );
}

#[test]
fn section_5_7_ping_and_masked_pong() {
    // A client receives the unmasked ping and answers with a masked pong carrying "Hello".
    let mut f = Feeder::new(client());
    f.push(PING_HELLO);
    assert_eq!(f.events, [Ev::Ping(b"Hello".to_vec())]);
    let out = f.out.clone();
    assert_eq!(out.len(), PONG_HELLO_MASKED.len());
    assert_eq!(out[0], 0x8a);
    assert_eq!(out[1], 0x85);
    let key: [u8; 4] = out[2..6].try_into().unwrap();
    // Same plaintext as the RFC's pong, whatever the key.
    assert_eq!(xor(&out[6..], key), xor(&PONG_HELLO_MASKED[6..], KEY));
    assert_eq!(xor(&out[6..], key), b"Hello");

    // A server receives the RFC's masked pong.
    decode_both_ways(server, PONG_HELLO_MASKED, &[Ev::Pong(b"Hello".to_vec())]);
    // And the server answers the (masked) ping with the unmasked pong of §5.7.
    let mut s = Feeder::new(server());
    s.push(&frame(FIN | OP_PING, b"Hello", Some(KEY)));
    assert_eq!(s.events, [Ev::Ping(b"Hello".to_vec())]);
    assert_eq!(s.out, [0x8a, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
}

#[test]
fn section_5_7_binary_256_bytes_16_bit_length() {
    let (wire, payload) = binary_256();
    decode_both_ways(
        client,
        &wire,
        &[data(MessageKind::Binary, &payload, true, true, true)],
    );
    // The same message masked, to a server.
    let masked = frame(FIN | OP_BINARY, &payload, Some(KEY));
    assert_eq!(&masked[..4], &[0x82, 0xFE, 0x01, 0x00]);
    decode_both_ways(
        server,
        &masked,
        &[data(MessageKind::Binary, &payload, true, true, true)],
    );
}

#[test]
#[cfg_attr(miri, ignore)] // 64 KiB three times in small reads: too slow under Miri
fn section_5_7_binary_64k_64_bit_length() {
    let (wire, payload) = binary_64k();
    let mut f = Feeder::new(client());
    f.push(&wire);
    assert_eq!(
        f.events,
        [data(MessageKind::Binary, &payload, true, true, true)]
    );
    // Through 139-byte reads: same message, many chunks, flags on the right ones.
    let mut g = Feeder::new(client());
    g.push_chunked(&wire, 139);
    assert_eq!(
        normalize(&g.events),
        [Norm::Msg(MessageKind::Binary, payload.clone(), 1)]
    );
    assert!(g.events.len() > 400);
    let masked = frame(FIN | OP_BINARY, &payload, Some(KEY));
    assert_eq!(&masked[..10], &[0x82, 0xFF, 0, 0, 0, 0, 0, 1, 0, 0]);
    let mut s = Feeder::new(server());
    s.push_chunked(&masked, 4096);
    assert_eq!(
        normalize(&s.events),
        [Norm::Msg(MessageKind::Binary, payload, 1)]
    );
}

#[test]
fn server_encoding_is_byte_identical_to_rfc() {
    let mut s = server();
    let mut out = vec![0u8; 70_000];

    let n = s.send_text("Hello", &mut out).unwrap();
    assert_eq!(&out[..n], HELLO_UNMASKED);

    let n = s
        .send_fragment(MessageKind::Text, b"Hel", false, &mut out)
        .unwrap();
    assert_eq!(&out[..n], HEL);
    let n = s
        .send_fragment(MessageKind::Text, b"lo", true, &mut out)
        .unwrap();
    assert_eq!(&out[..n], LO);

    let n = s.send_ping(b"Hello", &mut out).unwrap();
    assert_eq!(&out[..n], PING_HELLO);
    let n = s.send_pong(b"Hello", &mut out).unwrap();
    assert_eq!(&out[..n], &[0x8a, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);

    let (wire, payload) = binary_256();
    let n = s.send_binary(&payload, &mut out).unwrap();
    assert_eq!(&out[..n], &wire[..]);

    let (wire, payload) = binary_64k();
    let n = s.send_binary(&payload, &mut out).unwrap();
    assert_eq!(n, wire.len());
    assert_eq!(&out[..n], &wire[..]);
}

#[test]
fn server_streamed_encoding_is_byte_identical_to_rfc() {
    let mut s = server();
    let (wire, payload) = binary_64k();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let n = s
        .begin_frame(MessageKind::Binary, true, payload.len() as u64, &mut buf)
        .unwrap();
    assert_eq!(n, 10);
    out.extend_from_slice(&buf[..n]);
    for piece in payload.chunks(1000) {
        let n = s.send_payload(piece, &mut buf).unwrap();
        assert_eq!(n, piece.len());
        out.extend_from_slice(&buf[..n]);
    }
    assert_eq!(s.payload_remaining(), 0);
    assert_eq!(out, wire);

    // "Hel" + "lo" as two streamed frames.
    let mut out = Vec::new();
    let n = s
        .begin_frame(MessageKind::Text, false, 3, &mut buf)
        .unwrap();
    out.extend_from_slice(&buf[..n]);
    let n = s.send_payload(b"Hel", &mut buf).unwrap();
    out.extend_from_slice(&buf[..n]);
    let n = s.begin_frame(MessageKind::Text, true, 2, &mut buf).unwrap();
    out.extend_from_slice(&buf[..n]);
    let n = s.send_payload(b"lo", &mut buf).unwrap();
    out.extend_from_slice(&buf[..n]);
    assert_eq!(out, [HEL, LO].concat());
}

#[test]
fn client_encoding_is_the_rfc_frame_under_a_fresh_mask() {
    let mut c = client();
    let mut out = [0u8; 64];
    let n = c.send_text("Hello", &mut out).unwrap();
    assert_eq!(n, HELLO_MASKED.len());
    let (f, used) = parse_frame(&out[..n]).unwrap();
    assert_eq!(used, n);
    assert_eq!((out[0], out[1]), (0x81, 0x85));
    assert_eq!(f.payload, b"Hello");
    let k1 = f.mask.unwrap();
    // Unmasked under its own key, it is the RFC's masked frame unmasked under the RFC's key.
    assert_eq!(
        xor(&out[6..n], k1),
        xor(&HELLO_MASKED[6..], [0x37, 0xfa, 0x21, 0x3d])
    );
    // Each frame gets its own key.
    let n2 = c.send_text("Hello", &mut out).unwrap();
    let (f2, _) = parse_frame(&out[..n2]).unwrap();
    assert_ne!(f2.mask.unwrap(), k1);
    // A server decodes it.
    let mut s = Feeder::new(server());
    s.push(&out[..n2]);
    assert_eq!(
        s.events,
        [data(MessageKind::Text, b"Hello", true, true, true)]
    );

    // 256-byte and 64 KiB binary messages from a client use the 16- and 64-bit forms.
    let mut big = vec![0u8; 70_000];
    let (_, payload) = binary_256();
    let n = c.send_binary(&payload, &mut big).unwrap();
    assert_eq!(&big[..4], &[0x82, 0xFE, 0x01, 0x00]);
    assert_eq!(n, 4 + 4 + 256);
    assert_eq!(parse_frame(&big[..n]).unwrap().0.payload, payload);
    let (_, payload) = binary_64k();
    let n = c.send_binary(&payload, &mut big).unwrap();
    assert_eq!(&big[..10], &[0x82, 0xFF, 0, 0, 0, 0, 0, 1, 0, 0]);
    assert_eq!(n, 10 + 4 + 65536);
    assert_eq!(parse_frame(&big[..n]).unwrap().0.payload, payload);
}
