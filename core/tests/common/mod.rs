//! Helpers shared by the core's integration tests: the independent frame codec, PRNG and text
//! generators of `wsmachine-test-support` (re-exported here, so that a test does not trust the
//! core's own framing code), owned copies of events, a [`Feeder`] that feeds bytes to one
//! `Connection` the way the I/O contract prescribes, and the client–server [`pair`] driver of
//! the `pair_*` tests.
#![allow(dead_code)]

pub mod pair;

// Each test binary uses a different part.
#[allow(unused_imports)]
pub use wsmachine_test_support::{codec::*, rng::SplitMix, text::text_of_len};

use wsmachine::{
    CloseStatus, Connection, Event, MessageKind, ProtocolError, ReadyState, MAX_PENDING_INPUT,
};

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
