//! permessage-deflate on the receiving side: a server connection with an agreed extension
//! receives compressed messages (RSV1 frames whose payload is arbitrary bytes, or what flate2
//! made of arbitrary data, possibly damaged), fragmented, with pings between fragments, fed in
//! arbitrary read sizes, and inflates them through `Connection::inflate` with the
//! caller-memory `Inflater` into a small output buffer.
//!
//! flate2 (zlib-rs) is the oracle, message by message over the same stream state: when it
//! inflates the data within `max_message_size`, we must deliver the same bytes; when the
//! message breaks a rule (corrupt deflate data: 1007, more than the limit: 1009, text that is
//! not UTF-8: 1007), the connection must fail with that rule's code (with several broken,
//! any of theirs), after delivering only a prefix of what flate2 inflated, and queue a close
//! frame with the code. Never a panic.
//!
//! Where the two may part: we may call data corrupt that zlib has not rejected yet, when a
//! message ends inside a block (RFC 7692 wants a block boundary), and when a back-reference
//! reaches beyond a window smaller than 32 KiB (zlib-rs keeps 32 KiB of history whatever the
//! window bits; our window is exact). Either way we must have delivered a prefix of zlib's
//! bytes, and the run ends there. In a clean stream (only the peer's undamaged messages, made
//! with a window that fits ours) there is no such excuse.
//!
//! Input: window bits, flags, limit (u16), output size (u16), read size (u16), then messages:
//! flags, fragments, level, repetitions, then the data (a u16 length and bytes).
#![no_main]

use arbitrary::{Result, Unstructured};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use libfuzzer_sys::fuzz_target;
use wsmachine::deflate::{DeflateConfig, Inflater, Params, TAIL};
use wsmachine::{Config, Connection, Event, MessageKind, ProtocolError, Role};
use wsmachine_test_support::codec::{parse_frames, put_frame, LengthForm, OP_CLOSE};

/// Most plain bytes one message may have (before compression).
const MAX_PLAIN: usize = 1 << 16;
/// Output slice of the lenient oracle.
const ORACLE_STEP: usize = 4096;

/// One message as it goes on the wire, and what flate2 says of it.
struct Msg {
    kind: MessageKind,
    compressed: bool,
    /// The frames' payloads (one per fragment).
    frags: Vec<Vec<u8>>,
    /// A ping goes before the last fragment.
    ping: bool,
    /// Compressed by the peer (flate2, the negotiated window) and not damaged.
    peer_clean: bool,
    /// The peer ended its stream with it (a final block).
    finish: bool,
}

/// flate2's verdict on one message.
#[derive(Default)]
struct Verdict {
    /// Inflated bytes (up to the limit + 1).
    data: Vec<u8>,
    corrupt: bool,
    too_large: bool,
    bad_utf8: bool,
}

impl std::fmt::Debug for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} bytes (corrupt {}, too large {}, bad UTF-8 {})",
            self.data.len(),
            self.corrupt,
            self.too_large,
            self.bad_utf8
        )
    }
}

impl Verdict {
    fn allows(&self, e: ProtocolError) -> bool {
        match e {
            ProtocolError::InvalidCompressedData => self.corrupt,
            ProtocolError::MessageTooLarge => self.too_large,
            ProtocolError::InvalidUtf8 => self.bad_utf8,
            _ => false,
        }
    }

    fn broken(&self) -> bool {
        self.corrupt || self.too_large || self.bad_utf8
    }
}

/// Inflates one message (`payload` + the tail) with `z`, `step` output bytes per call, up to
/// `cap` bytes, and judges the first `limit + 1` of them. (Past the limit, the connection
/// may still see corrupt data first: the inflater decodes up to a window ahead of the output
/// buffer it fills, so `cap` is the limit plus both.) Returns the verdict and whether the stream ended (a final block: the
/// next message starts a new stream).
fn inflate_with(
    z: &mut Decompress,
    payload: &[u8],
    limit: usize,
    cap: usize,
    step: usize,
    kind: MessageKind,
) -> (Verdict, bool) {
    let mut input = payload.to_vec();
    input.extend_from_slice(&TAIL);
    let mut v = Verdict::default();
    let mut buf = vec![0u8; step];
    let mut pos = 0usize;
    let mut ended = false;
    loop {
        let (in0, out0) = (z.total_in(), z.total_out());
        let r = z.decompress(&input[pos..], &mut buf, FlushDecompress::Sync);
        let used = (z.total_in() - in0) as usize;
        let made = (z.total_out() - out0) as usize;
        pos += used;
        v.data.extend_from_slice(&buf[..made]);
        if v.data.len() > cap {
            break;
        }
        match r {
            Err(_) => {
                v.corrupt = true;
                break;
            }
            Ok(Status::StreamEnd) => {
                ended = true;
                // Only (part of) the appended tail may follow the final block.
                if pos < payload.len() {
                    v.corrupt = true;
                }
                break;
            }
            Ok(_) => {
                if pos == input.len() && made < buf.len() {
                    break;
                }
                if used == 0 && made == 0 {
                    break;
                }
            }
        }
    }
    if v.data.len() > limit {
        v.data.truncate(limit + 1);
        v.too_large = true;
    }
    if kind == MessageKind::Text {
        match std::str::from_utf8(&v.data) {
            Ok(_) => {}
            // Cut inside a code point: wrong only at the end of a complete message.
            Err(e) if e.error_len().is_none() => v.bad_utf8 = !v.corrupt && !v.too_large,
            Err(_) => v.bad_utf8 = true,
        }
    }
    (v, ended)
}

/// The peer's side: flate2's compressor, with the negotiated window.
struct Peer {
    z: Compress,
    takeover: bool,
}

impl Peer {
    fn compress(&mut self, data: &[u8], finish: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(data.len() + 128);
        let flush = if finish {
            FlushCompress::Finish
        } else {
            FlushCompress::Sync
        };
        let in0 = self.z.total_in();
        loop {
            let taken = (self.z.total_in() - in0) as usize;
            let st = self
                .z
                .compress_vec(&data[taken..], &mut out, flush)
                .expect("flate2 compress");
            let taken = (self.z.total_in() - in0) as usize;
            let done = if finish {
                st == Status::StreamEnd
            } else {
                out.len() < out.capacity() && taken == data.len()
            };
            if done {
                break;
            }
            out.reserve(4096);
        }
        if finish {
            self.z.reset();
        } else if out.is_empty() {
            // zlib writes nothing for a flush with nothing new since the last one: the empty
            // message of RFC 7692 §7.2.3.6.
            out.push(0x00);
        } else {
            assert!(out.ends_with(&TAIL), "a sync flush ends with the tail");
            out.truncate(out.len() - TAIL.len());
            if !self.takeover {
                self.z.reset();
            }
        }
        out
    }
}

fn client_frame(wire: &mut Vec<u8>, b0: u8, payload: &[u8], key: [u8; 4]) {
    put_frame(wire, b0, payload, Some(key), LengthForm::Minimal);
}

struct Setup {
    /// The inflater's window bits.
    ib: u8,
    /// The negotiated client_max_window_bits (≤ ib).
    nb: u8,
    no_takeover: bool,
    limit: usize,
    out_size: usize,
    read_size: usize,
    key: [u8; 4],
}

fn setup(u: &mut Unstructured<'_>) -> Result<Setup> {
    let b: u8 = u.arbitrary()?;
    let ib = 8 + (b & 7);
    let nb = (8 + ((b >> 3) & 7)).min(ib);
    let flags: u8 = u.arbitrary()?;
    let limit = usize::from(u.arbitrary::<u16>()?) * if flags & 2 != 0 { 4 } else { 1 };
    let out_size = 1 + usize::from(u.arbitrary::<u16>()? % 4096);
    let read_size = 1 + usize::from(u.arbitrary::<u16>()?);
    Ok(Setup {
        ib,
        nb,
        no_takeover: flags & 1 != 0,
        limit,
        out_size,
        read_size,
        key: u.arbitrary()?,
    })
}

/// Builds the messages from the rest of the input.
fn messages(u: &mut Unstructured<'_>, s: &Setup) -> Result<Vec<Msg>> {
    // flate2 makes no 8-bit raw streams; with 8 negotiated, its messages use 9 bits (they
    // break the window, which the oracle's one-byte re-check covers).
    let pb = s.nb.max(9);
    let mut peer: Option<Peer> = None;
    let mut msgs = Vec::new();
    while !u.is_empty() && msgs.len() < 8 {
        let flags: u8 = u.arbitrary()?;
        let nfrags = 1 + usize::from(u.arbitrary::<u8>()? % 4);
        let level = u32::from(u.arbitrary::<u8>()? % 10);
        let reps = 1 + usize::from(u.arbitrary::<u8>()? % 64);
        let len = usize::from(u.arbitrary::<u16>()? % 2048);
        let data = u.bytes(len.min(u.len()))?;
        let kind = if flags & 4 != 0 {
            MessageKind::Text
        } else {
            MessageKind::Binary
        };
        let mut plain: Vec<u8> = if kind == MessageKind::Text && flags & 0x40 != 0 {
            String::from_utf8_lossy(data).into_owned().into_bytes()
        } else {
            data.to_vec()
        };
        let one = plain.clone();
        for _ in 1..reps {
            if plain.len() + one.len() > MAX_PLAIN {
                break;
            }
            plain.extend_from_slice(&one);
        }
        let compressed = flags & 0x10 == 0;
        let payload = if !compressed || flags & 3 == 0 {
            // Sent as is: plain data, or arbitrary bytes as "compressed" data.
            plain
        } else {
            let p = peer.get_or_insert_with(|| Peer {
                z: Compress::new_with_window_bits(Compression::new(level), false, pb),
                takeover: !s.no_takeover,
            });
            let mut z = p.compress(&plain, flags & 8 != 0);
            if flags & 3 == 3 && !z.is_empty() {
                // Damage one byte.
                let at = usize::from(u.arbitrary::<u16>()?) % z.len();
                z[at] ^= 1 | u.arbitrary::<u8>()?;
            }
            z
        };
        let mut frags = Vec::new();
        let mut rest = &payload[..];
        for i in 0..nfrags {
            let n = if i + 1 == nfrags {
                rest.len()
            } else {
                usize::from(u.arbitrary::<u16>()?) % (rest.len() + 1)
            };
            frags.push(rest[..n].to_vec());
            rest = &rest[n..];
        }
        msgs.push(Msg {
            kind,
            compressed,
            frags,
            ping: flags & 0x20 != 0,
            peer_clean: compressed && flags & 3 != 0 && flags & 3 != 3,
            finish: compressed && flags & 3 != 0 && flags & 8 != 0,
        });
    }
    Ok(msgs)
}

/// What the connection made of one message.
enum Got {
    Msg(MessageKind, Vec<u8>, bool),
    /// The failure and the bytes delivered before it.
    Failed(ProtocolError, Vec<u8>),
}

/// Feeds `wire` to `conn` in `read_size` pieces, inflating compressed chunks with `d` into
/// an `out_size` buffer. Stops at the first failure.
fn receive(
    conn: &mut Connection,
    d: &mut Inflater<Vec<u8>>,
    wire: &[u8],
    read_size: usize,
    out_size: usize,
) -> Vec<Got> {
    let mut got = Vec::new();
    let mut cur: Option<(MessageKind, Vec<u8>, bool)> = None;
    let mut out = vec![0u8; out_size];
    let mut buf: Vec<u8> = Vec::new();
    let mut fed = 0usize;
    while fed < wire.len() {
        let n = read_size.min(wire.len() - fed);
        buf.extend_from_slice(&wire[fed..fed + n]);
        fed += n;
        loop {
            let r = conn.read(0, &mut buf).expect("read on an open connection");
            let consumed = r.consumed;
            let Some(ev) = r.event else {
                buf.drain(..consumed);
                break;
            };
            match ev {
                Event::Data(chunk) => {
                    let m = cur.get_or_insert((chunk.kind, Vec::new(), chunk.compressed));
                    assert_eq!(m.0, chunk.kind);
                    if chunk.compressed {
                        let mut input = chunk.data;
                        loop {
                            let i = conn
                                .inflate(0, d, &chunk, input, &mut out)
                                .expect("inflate of a compressed chunk");
                            if let Some(e) = i.failed {
                                assert_eq!(i.produced, 0);
                                got.push(Got::Failed(e, std::mem::take(&mut m.1)));
                                return got;
                            }
                            assert!(i.consumed <= input.len() && i.produced <= out.len());
                            m.1.extend_from_slice(&out[..i.produced]);
                            input = &input[i.consumed..];
                            if i.done {
                                assert!(input.is_empty(), "done with input left");
                                break;
                            }
                            assert!(
                                i.consumed != 0 || i.produced != 0,
                                "inflate made no progress"
                            );
                        }
                    } else {
                        m.1.extend_from_slice(chunk.data);
                    }
                    if chunk.message_finished {
                        let m = cur.take().expect("a message");
                        got.push(Got::Msg(m.0, m.1, m.2));
                    }
                }
                Event::Failed(e) => {
                    let m = cur.take().map(|m| m.1).unwrap_or_default();
                    got.push(Got::Failed(e, m));
                    return got;
                }
                Event::Ping(_) | Event::Pong(_) => {}
                other => panic!("unexpected event {other:?}"),
            }
            buf.drain(..consumed);
        }
    }
    got
}

impl std::fmt::Debug for Got {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Got::Msg(k, d, c) => write!(f, "{k:?} message of {} bytes (compressed {c})", d.len()),
            Got::Failed(e, d) => write!(f, "{e:?} after {} bytes", d.len()),
        }
    }
}

fn run(data: &[u8]) -> Result<()> {
    let mut u = Unstructured::new(data);
    let s = setup(&mut u)?;
    let msgs = messages(&mut u, &s)?;

    let mut cfg = Config::new();
    cfg.deflate = Some(DeflateConfig::new());
    cfg.max_message_size = s.limit as u64;
    let mut conn = Connection::new_open(Role::Server, cfg, 0, [7; 16]).expect("config");
    let params = Params {
        server_no_context_takeover: false,
        client_no_context_takeover: s.no_takeover,
        server_max_window_bits: 15,
        client_max_window_bits: s.nb,
    };
    conn.set_deflate(Some(params)).expect("set_deflate");
    let mut d = Inflater::new(vec![0u8; 1 << s.ib], s.ib).expect("inflater");

    let mut wire = Vec::new();
    for m in &msgs {
        let op = if m.kind == MessageKind::Text { 1 } else { 2 };
        let last = m.frags.len() - 1;
        for (i, f) in m.frags.iter().enumerate() {
            if m.ping && i == last {
                client_frame(&mut wire, 0x89, b"ping", s.key);
            }
            let fin = if i == last { 0x80 } else { 0 };
            let b0 = if i == 0 {
                fin | op | if m.compressed { 0x40 } else { 0 }
            } else {
                fin
            };
            client_frame(&mut wire, b0, f, s.key);
        }
    }
    let got = receive(&mut conn, &mut d, &wire, s.read_size, s.out_size);

    // The oracle, message by message, over the same stream.
    let ob = s.ib.max(9);
    let cap = s.limit + s.out_size + (1 << s.ib);
    let mut z = Decompress::new_with_window_bits(false, ob);
    // Since the last reset of both, our stream holds only the peer's undamaged messages.
    let mut clean = true;
    let pb = s.nb.max(9);
    for (i, m) in msgs.iter().enumerate() {
        let payload: Vec<u8> = m.frags.concat();
        let Some(g) = got.get(i) else {
            panic!("message {i} of {} not delivered: {got:?}", msgs.len());
        };
        if !m.compressed {
            let too_large = payload.len() > s.limit;
            let bad_utf8 = m.kind == MessageKind::Text && std::str::from_utf8(&payload).is_err();
            match g {
                Got::Msg(k, data, compressed) => {
                    assert!(!too_large && !bad_utf8, "message {i} accepted");
                    assert_eq!((*k, data, *compressed), (m.kind, &payload, false));
                    continue;
                }
                Got::Failed(e, _) => {
                    let ok = (too_large && *e == ProtocolError::MessageTooLarge)
                        || (bad_utf8 && *e == ProtocolError::InvalidUtf8);
                    assert!(ok, "message {i}: {e:?}");
                    check_close(&mut conn, *e);
                    return Ok(());
                }
            }
        }
        // The compressed payload itself counts against the limit, as a frame's length does.
        let (mut v, ended) = inflate_with(&mut z, &payload, s.limit, cap, ORACLE_STEP, m.kind);
        v.too_large |= payload.len() > s.limit;
        let agrees = match g {
            Got::Msg(k, data, compressed) => {
                assert_eq!((*k, *compressed), (m.kind, true));
                !v.broken() && *data == v.data
            }
            Got::Failed(e, before) => v.allows(*e) && v.data.starts_with(before),
        };
        if !agrees {
            // Only one disagreement is allowed: we fail with 1007 where flate2 does not,
            // having delivered a prefix of what it inflated, for one of two reasons.
            // (1) The message ends inside a block (the stream is not at a block boundary after
            // the tail), which breaks RFC 7692 §7.2.1; miniz_oxide may call such data corrupt
            // as soon as no continuation could make it valid (an empty code-length code, say),
            // before zlib does.
            let unfinished = !v.corrupt && !v.too_large && !ended && !at_block_boundary(&mut z);
            // (2) A back-reference beyond our window. The Inflater's window is exactly
            // `1 << bits`, but zlib-rs keeps 32 KiB of history whatever its window bits, so it
            // does not see a reference farther than a smaller window. Excused only where the
            // data may hold one: not in a clean stream of the peer's undamaged messages made
            // with a window that fits ours.
            let window_excuse = s.ib < 15 && !(clean && m.peer_clean && pb <= s.ib);
            let ok = match g {
                Got::Failed(ProtocolError::InvalidCompressedData, before) => {
                    v.data.starts_with(before) && (unfinished || window_excuse)
                }
                _ => false,
            };
            assert!(
                ok,
                "message {i} (inflater {} bits, negotiated {}, limit {}, out {}, clean stream {}): \
                 we got {g:?}; flate2: {v:?}",
                s.ib,
                s.nb,
                s.limit,
                s.out_size,
                clean && m.peer_clean
            );
            // The streams part ways here: nothing more to compare.
            return Ok(());
        }
        if let Got::Failed(e, _) = g {
            check_close(&mut conn, *e);
            return Ok(());
        }
        if ended || s.no_takeover {
            z.reset(false);
        }
        // Our stream and the peer's compressor start afresh together after every message
        // without context takeover, and after the peer's final block; any other message
        // leaves them apart.
        if s.no_takeover || (m.peer_clean && m.finish) {
            clean = true;
        } else if !m.peer_clean {
            clean = false;
        }
    }
    assert_eq!(got.len(), msgs.len(), "more messages than sent: {got:?}");
    Ok(())
}

/// Whether `z` stands at a block boundary: an empty final stored block ends its stream.
fn at_block_boundary(z: &mut Decompress) -> bool {
    let mut buf = [0u8; 64];
    matches!(
        z.decompress(
            &[0x01, 0x00, 0x00, 0xFF, 0xFF],
            &mut buf,
            FlushDecompress::Sync
        ),
        Ok(Status::StreamEnd)
    )
}

/// After a failure, the connection's output ends with a close frame carrying the code.
fn check_close(conn: &mut Connection, e: ProtocolError) {
    let mut out = vec![0u8; 4096];
    let mut written = Vec::new();
    loop {
        let n = conn.poll_transmit(&mut out).expect("poll_transmit");
        if n == 0 {
            break;
        }
        written.extend_from_slice(&out[..n]);
    }
    let frames = parse_frames(&written);
    let close = frames.last().expect("a close frame");
    assert_eq!(close.opcode, OP_CLOSE);
    assert_eq!(close.close_code(), Some(e.close_code().get()));
}

fuzz_target!(|data: &[u8]| {
    let _ = run(data);
});
