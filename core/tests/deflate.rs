//! permessage-deflate end to end: negotiation through the real handshake, compressed
//! messages both ways (our codecs against flate2's zlib-rs as the independent peer), the
//! RSV1 rules, and the limits on inflated data (1009, 1007).
#![cfg(feature = "deflate")]

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use wsmachine::deflate::{self, deflater_memory, DeflateConfig, Deflater, Inflater, Params};
use wsmachine::{
    Accept, ClientRequest, CloseCode, Config, Connection, Event, Header, MessageKind,
    ParsedRequest, ProtocolError, ResponseStatus, EMPTY_HEADER,
};

const REQ: ClientRequest<'static> = ClientRequest::new("example.com", "/chat");

fn config(d: Option<DeflateConfig>) -> Config {
    let mut c = Config::new();
    c.deflate = d;
    c
}

/// Runs the handshake; returns (client, server, the server's response head).
fn open(client: Config, server: Config) -> (Connection, Connection, String) {
    let mut c = Connection::client(client, 0, [1; 16]).unwrap();
    let mut s = Connection::server(server, 0).unwrap();
    let mut req = [0u8; 1024];
    let n = c.write_request(&REQ, [2; 16], &mut req).unwrap();
    let mut hs = [EMPTY_HEADER; 16];
    match s.read_request(0, &req[..n], &mut hs).unwrap() {
        ParsedRequest::Complete { .. } => {}
        ParsedRequest::Partial => panic!("partial"),
    }
    let mut resp = [0u8; 1024];
    let m = s.accept(0, &Accept::default(), &mut resp).unwrap();
    let mut hc = [EMPTY_HEADER; 16];
    match c.read_response(0, &REQ, &resp[..m], &mut hc).unwrap() {
        ResponseStatus::Accepted { .. } => {}
        other => panic!("{other:?}"),
    }
    (c, s, String::from_utf8(resp[..m].to_vec()).unwrap())
}

/// A message or a failure as `to` sees the bytes `wire`, inflating with `d` into an output
/// buffer of `out_size` bytes.
#[derive(Debug, PartialEq)]
enum Got {
    Msg(MessageKind, Vec<u8>, bool),
    Failed(ProtocolError),
    Other(String),
}

fn receive<D: deflate::Decompress>(
    to: &mut Connection,
    wire: &mut Vec<u8>,
    d: &mut D,
    out_size: usize,
) -> Vec<Got> {
    let mut got = Vec::new();
    let mut cur: Option<(MessageKind, Vec<u8>, bool)> = None;
    let mut out = vec![0u8; out_size];
    loop {
        let r = to.read(0, wire).unwrap();
        let consumed = r.consumed;
        let Some(ev) = r.event else {
            wire.drain(..consumed);
            break;
        };
        match ev {
            Event::Data(chunk) => {
                let m = cur.get_or_insert((chunk.kind, Vec::new(), chunk.compressed));
                if chunk.compressed {
                    let mut input = chunk.data;
                    loop {
                        let i = to.inflate(0, d, &chunk, input, &mut out).unwrap();
                        if let Some(e) = i.failed {
                            got.push(Got::Failed(e));
                            return got;
                        }
                        m.1.extend_from_slice(&out[..i.produced]);
                        input = &input[i.consumed..];
                        if i.done {
                            break;
                        }
                    }
                } else {
                    m.1.extend_from_slice(chunk.data);
                }
                if chunk.message_finished {
                    got.push(Got::Msg(m.0, std::mem::take(&mut m.1), m.2));
                    cur = None;
                }
            }
            Event::Failed(e) => {
                got.push(Got::Failed(e));
                return got;
            }
            other => got.push(Got::Other(format!("{other:?}"))),
        }
        wire.drain(..consumed);
    }
    got
}

fn inflater(bits: u8) -> Inflater<Vec<u8>> {
    Inflater::new(vec![0u8; 1 << bits], bits).unwrap()
}

fn text(n: usize, seed: u64) -> Vec<u8> {
    let words = [
        "alpha ",
        "beta ",
        "gamma ",
        "delta ",
        "omega ",
        "€uro ",
        "κόσμε ",
    ];
    let mut x = seed | 1;
    let mut v = Vec::new();
    while v.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(words[(x % words.len() as u64) as usize].as_bytes());
    }
    // Cut at a character boundary, then pad with spaces to exactly `n` bytes.
    let mut cut = n;
    while std::str::from_utf8(&v[..cut]).is_err() {
        cut -= 1;
    }
    v.truncate(cut);
    v.resize(n, b' ');
    v
}

/// A peer's compressor (flate2), as a browser's: raw deflate, sync flush, tail removed.
struct Peer {
    z: Compress,
    takeover: bool,
}

impl Peer {
    fn new(bits: u8, takeover: bool) -> Peer {
        Peer {
            z: Compress::new_with_window_bits(Compression::new(6), false, bits),
            takeover,
        }
    }

    fn deflate(&mut self, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(data.len() + 64);
        self.z
            .compress_vec(data, &mut out, FlushCompress::Sync)
            .unwrap();
        while out.capacity() == out.len() {
            out.reserve(1024);
            self.z
                .compress_vec(&[], &mut out, FlushCompress::Sync)
                .unwrap();
        }
        assert!(out.ends_with(&deflate::TAIL));
        out.truncate(out.len() - 4);
        if !self.takeover {
            self.z.reset();
        }
        out
    }
}

/// A frame as a client sends it (masked); `first` sets RSV1 on a data opcode.
fn client_frame(opcode: u8, fin: bool, rsv1: bool, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![(u8::from(fin) << 7) | (u8::from(rsv1) << 6) | opcode];
    let key = [0x11, 0x22, 0x33, 0x44];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n if n <= 0xFFFF => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(&key);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    f
}

fn deflate_on() -> Config {
    config(Some(DeflateConfig::new()))
}

#[test]
fn negotiated_only_when_both_want_it() {
    let (c, s, head) = open(deflate_on(), deflate_on());
    let want = Params {
        server_no_context_takeover: false,
        client_no_context_takeover: false,
        server_max_window_bits: 15,
        client_max_window_bits: 15,
    };
    assert_eq!((c.deflate(), s.deflate()), (Some(want), Some(want)));
    assert!(
        head.contains("\r\nSec-WebSocket-Extensions: permessage-deflate\r\n"),
        "{head}"
    );
    let (c, s, head) = open(Config::new(), deflate_on());
    assert_eq!((c.deflate(), s.deflate()), (None, None));
    assert!(!head.contains("Extensions"));
    let (c, s, _) = open(deflate_on(), Config::new());
    assert_eq!((c.deflate(), s.deflate()), (None, None));
}

#[test]
fn a_bad_deflate_response_fails_the_client() {
    let mut c = Connection::client(deflate_on(), 0, [1; 16]).unwrap();
    let mut req = [0u8; 1024];
    let _ = c.write_request(&REQ, [2; 16], &mut req).unwrap();
    let key = wsmachine::handshake::encode_key(&[2; 16]);
    let accept = core::str::from_utf8(&wsmachine::accept_key(&key))
        .unwrap()
        .to_string();
    let resp = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n\
         Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=99\r\n\r\n"
    );
    let mut hc = [EMPTY_HEADER; 16];
    let e = c
        .read_response(0, &REQ, resp.as_bytes(), &mut hc)
        .unwrap_err();
    assert_eq!(
        e,
        wsmachine::Error::Handshake(wsmachine::HandshakeError::InvalidExtension)
    );
}

#[test]
fn peer_compressed_messages_inflate_with_context_takeover() {
    for takeover in [true, false] {
        let (_, mut s, _) = open(deflate_on(), deflate_on());
        let mut peer = Peer::new(15, takeover);
        let mut d = inflater(15);
        for (i, size) in [0usize, 1, 100, 5000, 70_000, 300_000, 100]
            .iter()
            .enumerate()
        {
            let msg = text(*size, i as u64 + 1);
            let mut wire = client_frame(1, true, true, &peer.deflate(&msg));
            for out_size in [1usize, 7, 4096] {
                if out_size < 4096 && *size > 5000 {
                    continue;
                }
                let got = receive(&mut s, &mut wire.clone(), &mut d, out_size);
                assert_eq!(got, vec![Got::Msg(MessageKind::Text, msg.clone(), true)]);
                // Replaying needs the decompressor's state from before: only the first.
                break;
            }
            wire.clear();
        }
    }
}

#[test]
fn tiny_output_buffers_give_the_same_message() {
    let (_, mut s, _) = open(deflate_on(), deflate_on());
    let mut peer = Peer::new(15, false);
    let msg = text(20_000, 9);
    let frame = client_frame(1, true, true, &peer.deflate(&msg));
    for out_size in [1usize, 2, 3, 64, 1000] {
        let (_, mut s2, _) = open(deflate_on(), deflate_on());
        let mut d = inflater(15);
        let got = receive(&mut s2, &mut frame.clone(), &mut d, out_size);
        assert_eq!(
            got,
            vec![Got::Msg(MessageKind::Text, msg.clone(), true)],
            "{out_size}"
        );
    }
    let mut d = inflater(15);
    let got = receive(&mut s, &mut frame.clone(), &mut d, 16);
    assert_eq!(got.len(), 1);
}

#[test]
fn fragmented_compressed_message_and_interleaved_ping() {
    let (_, mut s, _) = open(deflate_on(), deflate_on());
    let mut peer = Peer::new(15, true);
    let msg = text(9000, 3);
    let z = peer.deflate(&msg);
    let (a, b) = z.split_at(z.len() / 3);
    let (b, c) = b.split_at(b.len() / 2);
    let mut wire = client_frame(1, false, true, a);
    wire.extend(client_frame(0x9, true, false, b"hi"));
    wire.extend(client_frame(0, false, false, b));
    wire.extend(client_frame(0, true, false, c));
    let mut d = inflater(15);
    let got = receive(&mut s, &mut wire, &mut d, 500);
    assert_eq!(got[0], Got::Other("Ping([104, 105])".into()));
    assert_eq!(got[1], Got::Msg(MessageKind::Text, msg, true));
}

fn fails_with(wire: Vec<u8>, cfg: Config, want: ProtocolError) {
    let (_, mut s, _) = open(deflate_on(), cfg);
    let mut d = inflater(15);
    let got = receive(&mut s, &mut wire.clone(), &mut d, 1024);
    assert_eq!(got.last(), Some(&Got::Failed(want)), "{got:?}");
    let mut out = [0u8; 256];
    let n = s.poll_transmit(&mut out).unwrap();
    assert!(n >= 4 && out[0] == 0x88, "a close frame: {:?}", &out[..n]);
    let code = u16::from_be_bytes([out[2], out[3]]);
    assert_eq!(CloseCode::new(code), Some(want.close_code()));
}

#[test]
fn rsv1_rules() {
    let mut peer = Peer::new(15, true);
    let z = peer.deflate(b"hello hello hello");
    // RSV1 on a continuation frame: 1002.
    let mut w = client_frame(1, false, true, &z);
    w.extend(client_frame(0, true, true, b""));
    fails_with(w, deflate_on(), ProtocolError::ReservedBits);
    // RSV1 on a control frame: 1002.
    fails_with(
        client_frame(0x9, true, true, b""),
        deflate_on(),
        ProtocolError::ReservedBits,
    );
    // RSV1 without the extension: 1002.
    fails_with(
        client_frame(1, true, true, &z),
        Config::new(),
        ProtocolError::ReservedBits,
    );
}

#[test]
fn a_bomb_costs_at_most_the_limit() {
    // 10 MB of zeros compresses to about 10 KB; the limit is 1 MiB of inflated data.
    let mut peer = Peer::new(15, true);
    let z = peer.deflate(&vec![0u8; 10_000_000]);
    assert!(z.len() < 20_000);
    let mut cfg = deflate_on();
    cfg.max_message_size = 1 << 20;
    let (_, mut s, _) = open(deflate_on(), cfg);
    let mut d = inflater(15);
    let mut wire = client_frame(2, true, true, &z);
    let mut produced = 0usize;
    let mut out = vec![0u8; 4096];
    let r = s.read(0, &mut wire).unwrap();
    let Some(Event::Data(chunk)) = r.event else {
        panic!()
    };
    let mut input = chunk.data;
    let failed = loop {
        let i = s.inflate(0, &mut d, &chunk, input, &mut out).unwrap();
        produced += i.produced;
        if let Some(e) = i.failed {
            break e;
        }
        input = &input[i.consumed..];
        assert!(!i.done);
    };
    assert_eq!(failed, ProtocolError::MessageTooLarge);
    assert_eq!(failed.close_code(), CloseCode::MESSAGE_TOO_BIG);
    assert!(produced <= (1 << 20) + 4096, "{produced}");
}

#[test]
fn corrupt_data_and_bad_utf8_are_1007() {
    fails_with(
        client_frame(2, true, true, &[0xFF, 0xFF, 0xFF, 0xFF]),
        deflate_on(),
        ProtocolError::InvalidCompressedData,
    );
    // A back-reference before the start of the stream (distance 1 with nothing output):
    // fixed block, match length 3, distance 1.
    let mut w = vec![0u8; 0];
    // BFINAL=0 BTYPE=01, then length code 257 (0000001, 7 bits), dist code 0 (00000).
    // Bits LSB first: 0,10 -> 0b010 then 0000001 then 00000.
    let bits: [u8; 15] = [0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0];
    let mut byte = 0u8;
    for (i, b) in bits.iter().enumerate() {
        byte |= b << (i % 8);
        if i % 8 == 7 {
            w.push(byte);
            byte = 0;
        }
    }
    w.push(byte);
    fails_with(
        client_frame(2, true, true, &w),
        deflate_on(),
        ProtocolError::InvalidCompressedData,
    );
    let mut peer = Peer::new(15, true);
    let z = peer.deflate(&[b'a', 0xC3, 0x28, b'b']);
    fails_with(
        client_frame(1, true, true, &z),
        deflate_on(),
        ProtocolError::InvalidUtf8,
    );
    // Text cut inside a code point at the message's end.
    let mut peer = Peer::new(15, true);
    let z = peer.deflate(&[b'a', 0xE2, 0x82]);
    fails_with(
        client_frame(1, true, true, &z),
        deflate_on(),
        ProtocolError::InvalidUtf8,
    );
}

/// Inflates what our server sent with an independent decompressor.
fn peer_inflate(z: &mut Decompress, payload: &[u8]) -> Vec<u8> {
    let mut input = payload.to_vec();
    input.extend_from_slice(&deflate::TAIL);
    let mut out = Vec::with_capacity(payload.len() * 20 + 1024);
    z.decompress_vec(&input, &mut out, FlushDecompress::Sync)
        .unwrap();
    while out.len() == out.capacity() {
        out.reserve(out.len());
        let used = z.total_in() as usize;
        let _ = used;
        z.decompress_vec(&[], &mut out, FlushDecompress::Sync)
            .unwrap();
    }
    out
}

/// Parses one unmasked server frame: (first byte, payload).
fn server_frame(b: &[u8]) -> (u8, Vec<u8>, usize) {
    let (len, at) = match b[1] & 0x7F {
        126 => (u16::from_be_bytes([b[2], b[3]]) as usize, 4),
        127 => (
            u64::from_be_bytes(b[2..10].try_into().unwrap()) as usize,
            10,
        ),
        n => (n as usize, 2),
    };
    (b[0], b[at..at + len].to_vec(), at + len)
}

#[test]
fn our_compressed_frames_inflate_with_an_independent_decompressor() {
    let (_, mut s, _) = open(deflate_on(), deflate_on());
    let mut mem = vec![0u8; deflater_memory(15, 6)];
    let mut c = Deflater::new(&mut mem[..], 15, 6).unwrap();
    let mut z = Decompress::new_with_window_bits(false, 15);
    for (i, size) in [0usize, 40, 1000, 70_000].iter().enumerate() {
        let msg = text(*size, 10 + i as u64);
        let mut out = vec![0u8; size * 2 + 200];
        let n = s
            .send_compressed(MessageKind::Text, &msg, &mut c, &mut out)
            .unwrap();
        let (b0, payload, len) = server_frame(&out[..n]);
        assert_eq!(len, n);
        if *size < 32 {
            assert_eq!(b0, 0x81, "short messages go uncompressed");
            assert_eq!(payload, msg);
        } else {
            assert_eq!(b0, 0xC1, "FIN + RSV1 + text");
            assert_eq!(peer_inflate(&mut z, &payload), msg);
        }
    }
    // Too small a buffer: an error that says how much, and nothing changed.
    let msg = text(1000, 1);
    let mut small = [0u8; 100];
    let e = s
        .send_compressed(MessageKind::Text, &msg, &mut c, &mut small)
        .unwrap_err();
    assert!(matches!(e, wsmachine::Error::BufferTooSmall { needed } if needed > 1000));
}

#[test]
fn compressed_fragments_form_one_message() {
    let (mut cl, mut s, _) = open(deflate_on(), deflate_on());
    let mut mem = vec![0u8; deflater_memory(15, 6)];
    let mut c = Deflater::new(&mut mem[..], 15, 6).unwrap();
    let msg = text(50_000, 77);
    let mut wire = Vec::new();
    // Room for a fragment plus the window's worth of input the compressor may hold back.
    let mut out = vec![0u8; 16_384 + 32_768 + 1000];
    for (i, part) in msg.chunks(16_384).enumerate() {
        let fin = (i + 1) * 16_384 >= msg.len();
        let n = s
            .send_compressed_fragment(MessageKind::Binary, part, fin, &mut c, &mut out)
            .unwrap();
        wire.extend_from_slice(&out[..n]);
        if i == 0 {
            // A plain fragment cannot continue a compressed message.
            assert_eq!(
                s.send_fragment(MessageKind::Binary, b"x", false, &mut out),
                Err(wsmachine::Error::MessageState)
            );
        }
    }
    let mut d = inflater(15);
    let got = receive(&mut cl, &mut wire, &mut d, 3000);
    assert_eq!(got, vec![Got::Msg(MessageKind::Binary, msg, true)]);
}

#[test]
fn no_context_takeover_resets_and_one_codec_serves_many_connections() {
    let mut cfg = DeflateConfig::new();
    cfg.no_context_takeover = true;
    cfg.peer_no_context_takeover = true;
    let mut conns: Vec<(Connection, Connection)> = (0..3)
        .map(|_| {
            let (c, s, head) = open(config(Some(cfg)), config(Some(cfg)));
            assert!(head.contains("server_no_context_takeover; client_no_context_takeover"));
            (c, s)
        })
        .collect();
    // One shared compressor and one shared decompressor for all three servers→clients.
    let mut mem = vec![0u8; deflater_memory(15, 6)];
    let mut shared_c = Deflater::new(&mut mem[..], 15, 6).unwrap();
    let mut shared_d = inflater(15);
    for round in 0..3 {
        for (k, (cl, s)) in conns.iter_mut().enumerate() {
            let msg = text(3000, (round * 10 + k) as u64);
            let mut out = vec![0u8; 8000];
            let n = s
                .send_compressed(MessageKind::Text, &msg, &mut shared_c, &mut out)
                .unwrap();
            let mut wire = out[..n].to_vec();
            let got = receive(cl, &mut wire, &mut shared_d, 1000);
            assert_eq!(got, vec![Got::Msg(MessageKind::Text, msg, true)]);
        }
    }
}

#[test]
fn headers_for_offer_and_response_are_visible() {
    let mut c = Connection::client(deflate_on(), 0, [1; 16]).unwrap();
    let mut req = [0u8; 1024];
    let n = c.write_request(&REQ, [2; 16], &mut req).unwrap();
    let text = std::str::from_utf8(&req[..n]).unwrap();
    assert!(
        text.contains("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"),
        "{text}"
    );
    let h = [Header {
        name: "Sec-WebSocket-Extensions",
        value: b"permessage-deflate; client_max_window_bits",
    }];
    assert!(deflate::negotiate(&h, &DeflateConfig::new()).is_some());
}

/// Sends `msgs` from the client to the server through `c` and receives them with `d`, in an
/// output buffer of `out_size` bytes; checks each arrives whole and compressed.
fn round_trip<C: deflate::Compress, D: deflate::Decompress>(
    client: &mut Connection,
    server: &mut Connection,
    c: &mut C,
    d: &mut D,
    msgs: &[Vec<u8>],
    out_size: usize,
) {
    for m in msgs {
        let mut frame = vec![0u8; c.bound(m.len()) + 64];
        let n = client
            .send_compressed(MessageKind::Text, m, c, &mut frame)
            .unwrap();
        let mut wire = frame[..n].to_vec();
        let got = receive(server, &mut wire, d, out_size);
        assert_eq!(got, vec![Got::Msg(MessageKind::Text, m.clone(), true)]);
    }
}

#[cfg(feature = "zlib")]
#[test]
fn the_zlib_backend_interoperates_with_the_caller_memory_codecs() {
    use wsmachine::deflate::{ZlibDeflater, ZlibInflater};
    assert!(
        ZlibDeflater::new(8, 6).is_none(),
        "zlib cannot make 8-bit raw streams"
    );
    assert!(ZlibDeflater::new(15, 10).is_none());
    for bits in [9u8, 12, 15] {
        for takeover in [true, false] {
            let mut cfg = DeflateConfig::new().window_bits(bits);
            cfg.no_context_takeover = !takeover;
            cfg.peer_no_context_takeover = !takeover;
            let msgs: Vec<Vec<u8>> = (0..4).map(|i| text(100 + i * 9000, i as u64)).collect();
            // zlib-rs compresses, our inflater receives.
            let (mut cl, mut s, _) = open(config(Some(cfg)), config(Some(cfg)));
            let mut zc = ZlibDeflater::new(bits, 6).unwrap();
            round_trip(&mut cl, &mut s, &mut zc, &mut inflater(bits), &msgs, 777);
            // Our compressor, zlib-rs inflates.
            let (mut cl, mut s, _) = open(config(Some(cfg)), config(Some(cfg)));
            let mut mem = vec![0u8; deflater_memory(bits, 6)];
            let mut ours = Deflater::new(&mut mem[..], bits, 6).unwrap();
            let mut zd = ZlibInflater::new(bits);
            round_trip(&mut cl, &mut s, &mut ours, &mut zd, &msgs, 777);
            // zlib-rs on both ends, output one byte at a time.
            let (mut cl, mut s, _) = open(config(Some(cfg)), config(Some(cfg)));
            let mut zc = ZlibDeflater::new(bits, 1).unwrap();
            let mut zd = ZlibInflater::new(bits);
            round_trip(&mut cl, &mut s, &mut zc, &mut zd, &msgs[..2], 1);
        }
    }
}

#[cfg(feature = "zlib")]
#[test]
fn the_zlib_backend_rejects_corrupt_data_and_bombs() {
    use wsmachine::deflate::ZlibInflater;
    // Corrupt: 1007.
    let mut cfg = Config::new();
    cfg.deflate = Some(DeflateConfig::new());
    let (_, mut s, _) = open(deflate_on(), cfg);
    let mut wire = client_frame(1, true, true, &[0xff, 0xff, 0xff, 0xff]);
    let got = receive(&mut s, &mut wire, &mut ZlibInflater::new(15), 1024);
    assert_eq!(got, vec![Got::Failed(ProtocolError::InvalidCompressedData)]);
    // A bomb: stops at the limit.
    let mut small = Config::new();
    small.deflate = Some(DeflateConfig::new());
    small.max_message_size = 100_000;
    let (_, mut s, _) = open(deflate_on(), small);
    let mut peer = Peer::new(15, true);
    let z = peer.deflate(&vec![0u8; 10_000_000]);
    let mut wire = client_frame(2, true, true, &z);
    let got = receive(&mut s, &mut wire, &mut ZlibInflater::new(15), 4096);
    assert_eq!(got, vec![Got::Failed(ProtocolError::MessageTooLarge)]);
}

/// docs/deflate.md's memory table, kept true: bytes for one connection's codecs per window
/// size (the inflater with its window as an array, the compressor's value plus its memory).
#[cfg(target_pointer_width = "64")]
#[test]
fn documented_memory_figures() {
    use wsmachine::deflate::inflater_memory;
    let compressor =
        |bits, level| std::mem::size_of::<Deflater<&mut [u8]>>() + deflater_memory(bits, level);
    let table: [(u8, usize, usize, usize); 5] = [
        (15, 43_320, 127_136, 192_672),
        (12, 14_648, 23_712, 31_904),
        (10, 11_576, 11_424, 13_472),
        (9, 11_064, 9_888, 10_912),
        (8, 10_808, 9_120, 9_632),
    ];
    for (bits, inflate, level1, level6) in table {
        assert_eq!(inflater_memory(bits), inflate, "inflater, {bits} bits");
        assert_eq!(
            std::mem::size_of::<Inflater<[u8; 1 << 9]>>(),
            inflater_memory(9),
            "inflater_memory counts the value itself"
        );
        assert_eq!(
            compressor(bits, 1),
            level1,
            "compressor level 1, {bits} bits"
        );
        assert_eq!(
            compressor(bits, 6),
            level6,
            "compressor level 6, {bits} bits"
        );
    }
    assert_eq!(std::mem::size_of::<wsmachine::Connection>(), 288);
}

#[cfg(feature = "zlib")]
#[test]
fn the_zlib_backend_bound_holds_for_incompressible_data_with_small_windows() {
    use wsmachine::deflate::{Compress, ZlibDeflater, ZlibInflater};
    // With a window below 15 bits zlib cannot always fall back to stored blocks (the block's
    // input may have left the window), so its output can exceed the tight deflateBound.
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let data: Vec<u8> = (0..70_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    for bits in [9u8, 10, 12, 15] {
        let cfg = DeflateConfig::new().window_bits(bits);
        let (mut cl, mut s, _) = open(config(Some(cfg)), config(Some(cfg)));
        let mut zc = ZlibDeflater::new(bits, 6).unwrap();
        let mut frame = vec![0u8; zc.bound(data.len()) + 14];
        let n = cl
            .send_compressed(MessageKind::Binary, &data, &mut zc, &mut frame)
            .unwrap_or_else(|e| panic!("{bits} bits: {e:?}"));
        let mut wire = frame[..n].to_vec();
        let got = receive(&mut s, &mut wire, &mut ZlibInflater::new(bits), 4096);
        assert_eq!(got, vec![Got::Msg(MessageKind::Binary, data.clone(), true)]);
    }
}
