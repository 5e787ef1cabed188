//! Helpers shared by the integration tests: an independent frame encoder/decoder (so the
//! tests do not trust the core's own framing code), owned copies of events, and a driver
//! that feeds bytes to a `Connection` the way the I/O contract prescribes.
#![allow(dead_code)]

use wsmachine::{
    CloseStatus, Connection, Event, MessageKind, ProtocolError, ReadyState, MAX_PENDING_INPUT,
};

pub const OP_CONT: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xA;
pub const FIN: u8 = 0x80;

/// A fixed masking key used by tests that need masked input.
pub const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// Encodes a frame header with minimal length encoding. `b0` is the first byte (FIN, RSV,
/// opcode).
pub fn header(b0: u8, len: u64, mask: Option<[u8; 4]>) -> Vec<u8> {
    let mbit = if mask.is_some() { 0x80 } else { 0 };
    let mut v = vec![b0];
    if len < 126 {
        v.push(mbit | len as u8);
    } else if len <= 0xFFFF {
        v.push(mbit | 126);
        v.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        v.push(mbit | 127);
        v.extend_from_slice(&len.to_be_bytes());
    }
    if let Some(m) = mask {
        v.extend_from_slice(&m);
    }
    v
}

/// XORs `data` with `key` (offset 0).
pub fn xor(data: &[u8], key: [u8; 4]) -> Vec<u8> {
    data.iter()
        .enumerate()
        .map(|(i, b)| b ^ key[i % 4])
        .collect()
}

/// A whole frame: header plus (masked, if `mask`) payload.
pub fn frame(b0: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut v = header(b0, payload.len() as u64, mask);
    match mask {
        Some(m) => v.extend_from_slice(&xor(payload, m)),
        None => v.extend_from_slice(payload),
    }
    v
}

/// A close frame payload: code + reason.
pub fn close_payload(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut v = code.to_be_bytes().to_vec();
    v.extend_from_slice(reason);
    v
}

/// A frame as decoded by the test decoder (payload unmasked).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawFrame {
    pub fin: bool,
    pub rsv: u8,
    pub opcode: u8,
    pub mask: Option<[u8; 4]>,
    pub payload: Vec<u8>,
    /// Whether the length used the minimal encoding.
    pub minimal: bool,
}

impl RawFrame {
    /// The close code of a close frame (None for an empty payload).
    pub fn close_code(&self) -> Option<u16> {
        assert_eq!(self.opcode, OP_CLOSE, "not a close frame: {self:?}");
        match self.payload.as_slice() {
            [] => None,
            [a, b, ..] => Some(u16::from_be_bytes([*a, *b])),
            [_] => panic!("1-byte close payload"),
        }
    }

    pub fn close_reason(&self) -> &str {
        std::str::from_utf8(self.payload.get(2..).unwrap_or_default()).expect("utf-8 reason")
    }
}

/// Decodes one frame from the front of `b`; `None` if incomplete.
pub fn parse_frame(b: &[u8]) -> Option<(RawFrame, usize)> {
    if b.len() < 2 {
        return None;
    }
    let fin = b[0] & 0x80 != 0;
    let rsv = (b[0] >> 4) & 7;
    let opcode = b[0] & 0x0F;
    let masked = b[1] & 0x80 != 0;
    let (len, mut pos, minimal) = match b[1] & 0x7F {
        126 => {
            let l = u64::from(u16::from_be_bytes(b.get(2..4)?.try_into().ok()?));
            (l, 4, l >= 126)
        }
        127 => {
            let l = u64::from_be_bytes(b.get(2..10)?.try_into().ok()?);
            (l, 10, l > 0xFFFF)
        }
        n => (u64::from(n), 2, true),
    };
    let mask = if masked {
        let m: [u8; 4] = b.get(pos..pos + 4)?.try_into().ok()?;
        pos += 4;
        Some(m)
    } else {
        None
    };
    let end = pos + usize::try_from(len).ok()?;
    let raw = b.get(pos..end)?;
    let payload = match mask {
        Some(m) => xor(raw, m),
        None => raw.to_vec(),
    };
    Some((
        RawFrame {
            fin,
            rsv,
            opcode,
            mask,
            payload,
            minimal,
        },
        end,
    ))
}

/// Decodes a byte stream that must consist of whole frames.
pub fn parse_frames(mut b: &[u8]) -> Vec<RawFrame> {
    let mut v = Vec::new();
    while !b.is_empty() {
        let (f, n) = parse_frame(b).unwrap_or_else(|| panic!("incomplete frame in {b:02x?}"));
        v.push(f);
        b = &b[n..];
    }
    v
}

/// An owned copy of an [`Event`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ev {
    Data {
        kind: MessageKind,
        data: Vec<u8>,
        start: bool,
        frame_fin: bool,
        msg_fin: bool,
        rsv: u8,
    },
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(CloseStatus, String),
    Failed(ProtocolError),
    RejectBody(Vec<u8>, bool),
}

impl Ev {
    pub fn of(e: &Event<'_>) -> Ev {
        match *e {
            Event::Data(c) => Ev::Data {
                kind: c.kind,
                data: c.data.to_vec(),
                start: c.message_start,
                frame_fin: c.frame_finished,
                msg_fin: c.message_finished,
                rsv: c.rsv,
            },
            Event::Ping(p) => Ev::Ping(p.to_vec()),
            Event::Pong(p) => Ev::Pong(p.to_vec()),
            Event::Close { status, reason } => Ev::Close(status, reason.to_string()),
            Event::Failed(e) => Ev::Failed(e),
            Event::RejectBody { data, finished } => Ev::RejectBody(data.to_vec(), finished),
        }
    }
}

/// Events with data chunks merged into whole messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Norm {
    /// A complete message: kind, payload, number of frames.
    Msg(MessageKind, Vec<u8>, usize),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(CloseStatus, String),
    Failed(ProtocolError),
}

/// Merges data chunks into messages, checking the chunk flags on the way (exactly one
/// `message_start` per message, on its first chunk; `message_finished` only on the last,
/// which also finishes its frame; one kind per message). A message still open at the end is
/// reported as `Msg` with frame count `usize::MAX` so comparisons notice it.
pub fn normalize(evs: &[Ev]) -> Vec<Norm> {
    let mut out = Vec::new();
    let mut cur: Option<(MessageKind, Vec<u8>, usize)> = None;
    for e in evs {
        match e {
            Ev::Data {
                kind,
                data,
                start,
                frame_fin,
                msg_fin,
                ..
            } => {
                assert_eq!(*start, cur.is_none(), "message_start flag wrong in {evs:?}");
                let m = cur.get_or_insert_with(|| (*kind, Vec::new(), 0));
                assert_eq!(m.0, *kind, "kind changed within a message");
                m.1.extend_from_slice(data);
                if *frame_fin {
                    m.2 += 1;
                }
                if *msg_fin {
                    assert!(*frame_fin, "message finished but frame not");
                    let (k, d, f) = cur.take().unwrap();
                    if k == MessageKind::Text {
                        assert!(std::str::from_utf8(&d).is_ok(), "text message not UTF-8");
                    }
                    out.push(Norm::Msg(k, d, f));
                }
            }
            Ev::Ping(p) => out.push(Norm::Ping(p.clone())),
            Ev::Pong(p) => out.push(Norm::Pong(p.clone())),
            Ev::Close(s, r) => out.push(Norm::Close(*s, r.clone())),
            Ev::Failed(e) => out.push(Norm::Failed(*e)),
            Ev::RejectBody(..) => panic!("unexpected RejectBody"),
        }
    }
    if let Some((k, d, _)) = cur {
        out.push(Norm::Msg(k, d, usize::MAX));
    }
    out
}

/// Feeds bytes to an open connection exactly as the I/O contract says: keeps unconsumed
/// bytes, calls `read` until it reports no event, flushes `poll_transmit` after every event.
pub struct Feeder {
    pub conn: Connection,
    pub pending: Vec<u8>,
    pub events: Vec<Ev>,
    /// Everything `poll_transmit` produced.
    pub out: Vec<u8>,
    pub now: u64,
}

impl Feeder {
    pub fn new(conn: Connection) -> Feeder {
        Feeder {
            conn,
            pending: Vec::new(),
            events: Vec::new(),
            out: Vec::new(),
            now: 0,
        }
    }

    /// Appends `bytes` (one socket read) and processes them; returns the events this read
    /// produced.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Ev> {
        self.pending.extend_from_slice(bytes);
        let mut pos = 0;
        let mut got = Vec::new();
        loop {
            let avail = self.pending.len() - pos;
            let r = self
                .conn
                .read(self.now, &mut self.pending[pos..])
                .expect("read");
            assert!(r.consumed <= avail);
            match r.event {
                None => {
                    pos += r.consumed;
                    break;
                }
                Some(e) => {
                    assert!(r.consumed > 0, "an event must consume input: {e:?}");
                    got.push(Ev::of(&e));
                    pos += r.consumed;
                    self.flush();
                }
            }
        }
        self.pending.drain(..pos);
        if self.conn.state() != ReadyState::Connecting {
            assert!(
                self.pending.len() <= MAX_PENDING_INPUT,
                "{} bytes left unconsumed",
                self.pending.len()
            );
        }
        self.flush();
        self.events.extend(got.iter().cloned());
        got
    }

    /// Pushes `bytes` split into reads of at most `chunk` bytes.
    pub fn push_chunked(&mut self, bytes: &[u8], chunk: usize) {
        for c in bytes.chunks(chunk.max(1)) {
            self.push(c);
        }
    }

    /// Pushes `bytes` split at the given (sorted, in-range) cut points.
    pub fn push_split(&mut self, bytes: &[u8], cuts: &[usize]) {
        let mut start = 0;
        for &c in cuts {
            let c = c.clamp(start, bytes.len());
            self.push(&bytes[start..c]);
            start = c;
        }
        self.push(&bytes[start..]);
    }

    /// Writes whatever `poll_transmit` has into `out`.
    pub fn flush(&mut self) {
        let mut buf = [0u8; 1024];
        loop {
            let n = self.conn.poll_transmit(&mut buf).expect("poll_transmit");
            if n == 0 {
                break;
            }
            self.out.extend_from_slice(&buf[..n]);
        }
    }

    /// Decodes (and removes) the frames written so far.
    pub fn take_frames(&mut self) -> Vec<RawFrame> {
        let v = parse_frames(&self.out);
        self.out.clear();
        v
    }
}

/// Deterministic pseudo-random bytes (xorshift64*).
pub struct Gen(pub u64);

impl Gen {
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        for c in buf.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            c.copy_from_slice(&v[..c.len()]);
        }
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = vec![0; n];
        self.fill(&mut v);
        v
    }
}

/// Text of exactly `n` bytes mixing 1-, 2-, 3- and 4-byte code points.
pub fn text_of_len(n: usize) -> String {
    let pieces = ["a", "é", "€", "😀", "z", "ж", "語"];
    let mut s = String::with_capacity(n);
    let mut i = 0;
    loop {
        let p = pieces[i % pieces.len()];
        if s.len() + p.len() > n {
            break;
        }
        s.push_str(p);
        i += 1;
    }
    while s.len() < n {
        s.push('x');
    }
    s
}

/// 64-bit FNV-1a.
pub fn fnv(mut h: u64, data: &[u8]) -> u64 {
    for &b in data {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    h
}

pub const FNV_INIT: u64 = 0xcbf2_9ce4_8422_2325;
