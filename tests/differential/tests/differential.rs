//! wsmachine against tungstenite 0.30.0: see the crate documentation (`src/lib.rs`) for what
//! is compared and for the known disagreements (and which side RFC 6455 supports).

use std::io::{self, Read, Write};

use proptest::prelude::*;
use tungstenite::protocol::{Role as TRole, WebSocket};
use tungstenite::Message;
use wsmachine::{CloseStatus, Config, Connection, Event, MessageKind, ProtocolError, Role};
// Frames are encoded by the tests' own codec, independent of both implementations.
use wsmachine_test_support::codec::{
    close_code_allowed, close_payload, frame, frame_with, LengthForm,
};
use wsmachine_test_support::rng::SplitMix;

/// A decoded message, the same for both implementations.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Msg {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    /// `None`: a close frame without a status code.
    Close(Option<(u16, String)>),
}

/// How a stream ended.
#[derive(Clone, Debug, PartialEq, Eq)]
enum End {
    /// All input consumed, no error.
    Ok,
    /// Rejected as a protocol violation (the implementation's own error description).
    Rejected(String),
}

// ------------------------------------------------------------------------------------------
// Decoding with wsmachine
// ------------------------------------------------------------------------------------------

/// Decodes `input` as a connection in `role` receiving it in reads of the given sizes (cycled),
/// following the I/O contract; stops at a close frame or a failure.
fn wsm_decode(role: Role, input: &[u8], reads: &[usize]) -> (Vec<Msg>, End, Option<ProtocolError>) {
    let mut conn = Connection::new_open(role, Config::new(), 0, [9; 16]).unwrap();
    let mut msgs = Vec::new();
    let mut cur: Option<(MessageKind, Vec<u8>)> = None;
    let mut pending: Vec<u8> = Vec::new();
    let mut fed = 0;
    let mut r = 0;
    let mut out = [0u8; 512];
    while fed < input.len() {
        let n = reads[r % reads.len()].max(1).min(input.len() - fed);
        r += 1;
        pending.extend_from_slice(&input[fed..fed + n]);
        fed += n;
        let mut pos = 0;
        loop {
            let read = conn.read(0, &mut pending[pos..]).expect("read");
            pos += read.consumed;
            let Some(ev) = read.event else { break };
            match ev {
                Event::Data(c) => {
                    if c.message_start {
                        cur = Some((c.kind, Vec::new()));
                    }
                    let (kind, buf) = cur.as_mut().expect("message in progress");
                    buf.extend_from_slice(c.data);
                    if c.message_finished {
                        let data = core::mem::take(buf);
                        msgs.push(match kind {
                            MessageKind::Text => {
                                Msg::Text(String::from_utf8(data).expect("valid text"))
                            }
                            MessageKind::Binary => Msg::Binary(data),
                        });
                        cur = None;
                    }
                }
                Event::Ping(p) => msgs.push(Msg::Ping(p.to_vec())),
                Event::Pong(p) => msgs.push(Msg::Pong(p.to_vec())),
                Event::Close { status, reason } => {
                    msgs.push(Msg::Close(match status {
                        CloseStatus::Code(c) => Some((c.get(), reason.to_owned())),
                        _ => None,
                    }));
                    return (msgs, End::Ok, None);
                }
                Event::Failed(e) => {
                    // The close frame it queues carries the error's code.
                    let n = conn.poll_transmit(&mut out).expect("poll_transmit");
                    assert!(n >= 4, "no close frame after {e:?}");
                    return (msgs, End::Rejected(e.to_string()), Some(e));
                }
                Event::RejectBody { .. } => unreachable!(),
            }
            // Flush like a caller would (pongs).
            while conn.poll_transmit(&mut out).expect("poll_transmit") != 0 {}
        }
        pending.drain(..pos);
    }
    (msgs, End::Ok, None)
}

// ------------------------------------------------------------------------------------------
// Decoding with tungstenite
// ------------------------------------------------------------------------------------------

/// An in-memory socket: yields the input in reads of the given sizes, then `WouldBlock`;
/// swallows writes.
struct Mock {
    input: Vec<u8>,
    pos: usize,
    reads: Vec<usize>,
    r: usize,
}

impl Read for Mock {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.input.len() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = self.reads[self.r % self.reads.len()]
            .max(1)
            .min(self.input.len() - self.pos)
            .min(buf.len());
        self.r += 1;
        buf[..n].copy_from_slice(&self.input[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl Write for Mock {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn tung_decode(role: Role, input: &[u8], reads: &[usize]) -> (Vec<Msg>, End) {
    let role = match role {
        Role::Server => TRole::Server,
        Role::Client => TRole::Client,
    };
    let mock = Mock {
        input: input.to_vec(),
        pos: 0,
        reads: reads.to_vec(),
        r: 0,
    };
    let mut ws = WebSocket::from_raw_socket(mock, role, None);
    let mut msgs = Vec::new();
    loop {
        match ws.read() {
            Ok(Message::Text(t)) => msgs.push(Msg::Text(t.as_str().to_owned())),
            Ok(Message::Binary(b)) => msgs.push(Msg::Binary(b.to_vec())),
            Ok(Message::Ping(p)) => msgs.push(Msg::Ping(p.to_vec())),
            Ok(Message::Pong(p)) => msgs.push(Msg::Pong(p.to_vec())),
            Ok(Message::Close(c)) => {
                msgs.push(Msg::Close(
                    c.map(|f| (u16::from(f.code), f.reason.as_str().to_owned())),
                ));
                return (msgs, End::Ok);
            }
            Ok(Message::Frame(_)) => unreachable!("raw frames are not reported when reading"),
            Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                return (msgs, End::Ok)
            }
            Err(e) => return (msgs, End::Rejected(e.to_string())),
        }
    }
}

// ------------------------------------------------------------------------------------------
// Stream generation
// ------------------------------------------------------------------------------------------

/// The RFC's codes that may be sent, excluding 1014 (a known disagreement, tested apart).
fn sendable_code() -> impl Strategy<Value = u16> {
    prop_oneof![
        prop::sample::select(vec![
            1000u16, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013
        ]),
        3000u16..=4999,
    ]
}

/// Codes that may not appear in a close frame, excluding 1014's neighbourhood subtleties:
/// 1014 itself is allowed (IANA) and tested apart.
fn unsendable_code() -> impl Strategy<Value = u16> {
    prop_oneof![
        0u16..=999,
        prop::sample::select(vec![1004u16, 1005, 1006, 1015, 1016, 2000, 2999]),
        5000u16..=u16::MAX,
    ]
}

/// One element of a valid stream.
#[derive(Clone, Debug)]
enum Item {
    /// A data message: text or binary payload, cut into fragments at the given fractions
    /// (per mille), with control frames (ping if true, else pong) after some fragments.
    Message {
        text: bool,
        payload: Vec<u8>,
        cuts: Vec<u16>,
        controls: Vec<(u8, bool, Vec<u8>)>,
    },
    Ping(Vec<u8>),
    Pong(Vec<u8>),
}

fn item() -> impl Strategy<Value = Item> {
    let control_payload = prop::collection::vec(any::<u8>(), 0..=125);
    prop_oneof![
        4 => (
            any::<bool>(),
            prop::collection::vec(any::<u8>(), 0..600),
            ".{0,200}",
            prop::collection::vec(0u16..=1000, 0..4),
            prop::collection::vec((0u8..4, any::<bool>(), prop::collection::vec(any::<u8>(), 0..=125)), 0..3),
        )
            .prop_map(|(text, bin, s, cuts, controls)| Item::Message {
                text,
                payload: if text { s.into_bytes() } else { bin },
                cuts,
                controls,
            }),
        1 => control_payload.clone().prop_map(Item::Ping),
        1 => control_payload.prop_map(Item::Pong),
    ]
}

#[derive(Clone, Debug)]
struct Stream {
    items: Vec<Item>,
    /// The final close frame: none, empty, or (code, reason).
    close: Option<Option<(u16, String)>>,
    /// Masking keys and length encodings are drawn from this seed.
    seed: u64,
}

fn stream() -> impl Strategy<Value = Stream> {
    (
        prop::collection::vec(item(), 0..8),
        prop_oneof![
            Just(None),
            Just(Some(None)),
            (sendable_code(), "[a-zA-Zé€😀 ]{0,30}").prop_map(|(c, r)| Some(Some((c, r)))),
        ],
        any::<u64>(),
    )
        .prop_map(|(items, close, seed)| Stream { items, close, seed })
}

/// Builds the frames of `s` (each encoded) for a receiver in `role`, and the messages it must
/// decode to.
fn build(s: &Stream, role: Role) -> (Vec<Vec<u8>>, Vec<Msg>) {
    let mut rng = SplitMix(s.seed);
    let mut frames = Vec::new();
    let mut expect = Vec::new();
    let mk = |b0: u8, payload: Vec<u8>, rng: &mut SplitMix| {
        let r = rng.next_u64();
        let mask = (role == Role::Server).then(|| (r as u32).to_le_bytes());
        // Non-minimal lengths on data frames only: see `disagreement_control_frame_long_length`.
        let form = if r >> 60 == 0 && b0 & 0x08 == 0 {
            LengthForm::Forced64
        } else {
            LengthForm::Minimal
        };
        frame_with(b0, &payload, mask, form)
    };
    for it in &s.items {
        match it {
            Item::Message {
                text,
                payload,
                cuts,
                controls,
            } => {
                let mut points: Vec<usize> = cuts
                    .iter()
                    .map(|c| payload.len() * usize::from(*c) / 1000)
                    .collect();
                points.sort_unstable();
                points.dedup();
                points.retain(|&p| p < payload.len());
                let mut bounds = vec![0];
                bounds.extend(points.into_iter().filter(|&p| p > 0));
                bounds.push(payload.len());
                let nfrag = bounds.len() - 1;
                for i in 0..nfrag {
                    let fin = i + 1 == nfrag;
                    let op = if i > 0 {
                        0
                    } else if *text {
                        1
                    } else {
                        2
                    };
                    let b0 = if fin { 0x80 | op } else { op };
                    frames.push(mk(b0, payload[bounds[i]..bounds[i + 1]].to_vec(), &mut rng));
                    if !fin {
                        for (after, ping, p) in controls {
                            if usize::from(*after) == i {
                                let op = if *ping { 0x89 } else { 0x8A };
                                frames.push(mk(op, p.clone(), &mut rng));
                                expect.push(if *ping {
                                    Msg::Ping(p.clone())
                                } else {
                                    Msg::Pong(p.clone())
                                });
                            }
                        }
                    }
                }
                expect.push(if *text {
                    Msg::Text(String::from_utf8(payload.clone()).expect("generated text"))
                } else {
                    Msg::Binary(payload.clone())
                });
            }
            Item::Ping(p) => {
                frames.push(mk(0x89, p.clone(), &mut rng));
                expect.push(Msg::Ping(p.clone()));
            }
            Item::Pong(p) => {
                frames.push(mk(0x8A, p.clone(), &mut rng));
                expect.push(Msg::Pong(p.clone()));
            }
        }
    }
    if let Some(c) = &s.close {
        let payload = match c {
            None => Vec::new(),
            Some((code, reason)) => close_payload(*code, reason.as_bytes()),
        };
        frames.push(mk(0x88, payload, &mut rng));
        expect.push(Msg::Close(c.clone()));
    }
    (frames, expect)
}

/// One violation of RFC 6455, appended to a valid stream.
#[derive(Clone, Debug)]
enum Violation {
    ReservedOpcode(u8),
    ReservedBits(u8, bool),
    FragmentedControl,
    ControlTooLong,
    WrongMasking,
    UnexpectedContinuation,
    ExpectedContinuation,
    InvalidUtf8 { bad: Vec<u8>, split: bool },
    CloseCode(u16),
    OneByteClose,
    CloseReasonUtf8(Vec<u8>),
}

fn invalid_utf8() -> impl Strategy<Value = Vec<u8>> {
    prop::sample::select(vec![
        b"\xff".to_vec(),
        b"\xc0\xaf".to_vec(),
        b"\xe0\x80\xaf".to_vec(),
        b"\xed\xa0\x80".to_vec(),
        b"\xf4\x90\x80\x80".to_vec(),
        b"\xf8\x88\x80\x80\x80".to_vec(),
        b"abc\x80def".to_vec(),
        b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited".to_vec(),
        b"\xe2\x82".to_vec(),
    ])
}

fn violation() -> impl Strategy<Value = Violation> {
    prop_oneof![
        prop::sample::select(vec![3u8, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF])
            .prop_map(Violation::ReservedOpcode),
        (1u8..=7, any::<bool>()).prop_map(|(r, c)| Violation::ReservedBits(r, c)),
        Just(Violation::FragmentedControl),
        Just(Violation::ControlTooLong),
        Just(Violation::WrongMasking),
        Just(Violation::UnexpectedContinuation),
        Just(Violation::ExpectedContinuation),
        (invalid_utf8(), any::<bool>())
            .prop_map(|(bad, split)| Violation::InvalidUtf8 { bad, split }),
        unsendable_code().prop_map(Violation::CloseCode),
        Just(Violation::OneByteClose),
        invalid_utf8().prop_map(Violation::CloseReasonUtf8),
    ]
}

/// The frames of a violation (each encoded), and the error wsmachine must report.
fn violation_frames(v: &Violation, role: Role) -> (Vec<Vec<u8>>, ProtocolError) {
    let mask = (role == Role::Server).then_some([1, 2, 3, 4]);
    let f = |b0: u8, payload: &[u8]| frame(b0, payload, mask);
    match v {
        Violation::ReservedOpcode(op) => (vec![f(0x80 | op, b"x")], ProtocolError::ReservedOpcode),
        Violation::ReservedBits(rsv, control) => {
            let op = if *control { 0x9 } else { 0x2 };
            (
                vec![f(0x80 | (rsv << 4) | op, b"x")],
                ProtocolError::ReservedBits,
            )
        }
        Violation::FragmentedControl => (vec![f(0x09, b"x")], ProtocolError::FragmentedControl),
        Violation::ControlTooLong => (vec![f(0x89, &[0u8; 126])], ProtocolError::ControlTooLong),
        Violation::WrongMasking => {
            let wrong = frame(
                0x82,
                b"x",
                if mask.is_some() {
                    None
                } else {
                    Some([5, 6, 7, 8])
                },
            );
            let e = match role {
                Role::Server => ProtocolError::UnmaskedFrame,
                Role::Client => ProtocolError::MaskedFrame,
            };
            (vec![wrong], e)
        }
        Violation::UnexpectedContinuation => {
            (vec![f(0x80, b"x")], ProtocolError::UnexpectedContinuation)
        }
        Violation::ExpectedContinuation => (
            vec![f(0x01, b"a"), f(0x82, b"b")],
            ProtocolError::ExpectedContinuation,
        ),
        Violation::InvalidUtf8 { bad, split } => {
            let mut text = b"ok ".to_vec();
            text.extend_from_slice(bad);
            if *split {
                let mid = 3 + bad.len() / 2;
                (
                    vec![f(0x01, &text[..mid]), f(0x80, &text[mid..])],
                    ProtocolError::InvalidUtf8,
                )
            } else {
                (vec![f(0x81, &text)], ProtocolError::InvalidUtf8)
            }
        }
        Violation::CloseCode(c) => (
            vec![f(0x88, &close_payload(*c, b""))],
            ProtocolError::InvalidCloseCode,
        ),
        Violation::OneByteClose => (vec![f(0x88, &[0x03])], ProtocolError::InvalidClosePayload),
        Violation::CloseReasonUtf8(bad) => (
            vec![f(0x88, &close_payload(1000, bad))],
            ProtocolError::InvalidUtf8,
        ),
    }
}

fn role_of(server: bool) -> Role {
    if server {
        Role::Server
    } else {
        Role::Client
    }
}

fn reads() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1usize..200, 1..8)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 1024,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Valid streams decode to the same messages in both, and to the messages they were built
    /// from.
    #[test]
    fn valid_streams_agree(s in stream(), server in any::<bool>(), r1 in reads(), r2 in reads()) {
        let role = role_of(server);
        let (frames, expect) = build(&s, role);
        let bytes = frames.concat();
        let (wm, wend, _) = wsm_decode(role, &bytes, &r1);
        let (tm, tend) = tung_decode(role, &bytes, &r2);
        prop_assert_eq!(&wend, &End::Ok);
        prop_assert_eq!(&tend, &End::Ok);
        prop_assert_eq!(&wm, &expect);
        prop_assert_eq!(&tm, &expect);
    }

    /// A valid prefix then one violation: both reject, after the same messages.
    #[test]
    fn invalid_streams_are_rejected_by_both(
        s in stream(),
        v in violation(),
        server in any::<bool>(),
        r1 in reads(),
        r2 in reads(),
    ) {
        let role = role_of(server);
        let s = Stream { close: None, ..s };
        let (mut frames, expect) = build(&s, role);
        let (bad, err) = violation_frames(&v, role);
        frames.extend(bad);
        let bytes = frames.concat();
        let (wm, wend, werr) = wsm_decode(role, &bytes, &r1);
        let (tm, tend) = tung_decode(role, &bytes, &r2);
        prop_assert!(matches!(wend, End::Rejected(_)), "wsmachine accepted {:?}", v);
        prop_assert_eq!(werr, Some(err));
        prop_assert_eq!(&wm, &expect);
        match &v {
            // tungstenite reports a close with a forbidden code as a close with code 1002
            // (and replies 1002); see the crate docs.
            Violation::CloseCode(_) => {
                let mut e = expect.clone();
                e.push(Msg::Close(Some((1002, "Protocol violation".to_owned()))));
                prop_assert_eq!(&tm, &e);
                prop_assert_eq!(&tend, &End::Ok);
            }
            _ => {
                prop_assert!(matches!(tend, End::Rejected(_)), "tungstenite accepted {:?}", v);
                prop_assert_eq!(&tm, &expect);
            }
        }
    }
}

/// Close code 1014 (Bad Gateway, IANA-registered): wsmachine accepts and echoes it, as RFC
/// 6455 §7.4.2 with the IANA registry requires; tungstenite 0.30.0 treats it as invalid.
#[test]
fn disagreement_close_code_1014() {
    for role in [Role::Server, Role::Client] {
        let mask = (role == Role::Server).then_some([1, 2, 3, 4]);
        let bytes = frame(0x88, &close_payload(1014, b"upstream"), mask);
        let (wm, wend, _) = wsm_decode(role, &bytes, &[1000]);
        assert_eq!(wend, End::Ok);
        assert_eq!(wm, vec![Msg::Close(Some((1014, "upstream".to_owned())))]);
        let (tm, _) = tung_decode(role, &bytes, &[1000]);
        assert_eq!(
            tm,
            vec![Msg::Close(Some((1002, "Protocol violation".to_owned())))]
        );
    }
}

/// Every close code: both refuse exactly the same codes, except 1014 (above).
#[test]
fn close_codes_agree_except_1014() {
    for code in 0..=u16::MAX {
        let bytes = frame(0x88, &close_payload(code, b""), None);
        let (_, _, werr) = wsm_decode(Role::Client, &bytes, &[64]);
        let (tm, _) = tung_decode(Role::Client, &bytes, &[64]);
        let wsm_ok = werr.is_none();
        let tung_ok = tm == vec![Msg::Close(Some((code, String::new())))];
        if code == 1014 {
            assert!(wsm_ok && !tung_ok);
        } else {
            assert_eq!(wsm_ok, tung_ok, "code {code}");
            assert_eq!(wsm_ok, close_code_allowed(code));
        }
    }
}

/// Non-minimal length encodings: the RFC obliges senders to use the minimal form but gives
/// receivers no rule; both implementations accept them.
#[test]
fn non_minimal_lengths_are_accepted_by_both() {
    let mut bytes = vec![0x82, 126, 0, 3, b'a', b'b', b'c'];
    bytes.extend_from_slice(&[0x82, 127, 0, 0, 0, 0, 0, 0, 0, 2, b'x', b'y']);
    let expect = vec![Msg::Binary(b"abc".to_vec()), Msg::Binary(b"xy".to_vec())];
    assert_eq!(wsm_decode(Role::Client, &bytes, &[1]).0, expect);
    assert_eq!(tung_decode(Role::Client, &bytes, &[1]).0, expect);
}

/// A 64-bit length with the top bit set: both reject (wsmachine: 1002 `LengthOverflow`).
#[test]
fn length_with_top_bit_is_rejected_by_both() {
    let bytes = vec![0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 1, b'x'];
    let (_, wend, werr) = wsm_decode(Role::Client, &bytes, &[64]);
    assert!(matches!(wend, End::Rejected(_)));
    assert_eq!(werr, Some(ProtocolError::LengthOverflow));
    assert!(matches!(
        tung_decode(Role::Client, &bytes, &[64]).1,
        End::Rejected(_)
    ));
}

/// A control frame whose (small) payload length is written in the 64-bit form (`127` in the
/// 7-bit field): wsmachine fails the connection (1002, `ControlTooLong`), tungstenite accepts
/// the ping. RFC 6455 §5.2 requires the minimal length encoding from every sender and §5.5
/// requires control frames to have a payload length of at most 125 — the 7-bit field is 127
/// here, so the frame is non-conforming either way: rejecting it is the RFC-correct reading;
/// tungstenite's leniency is harmless. wsmachine accepts non-minimal lengths on data frames
/// (as does tungstenite), where no such rule applies to the receiver.
#[test]
fn disagreement_control_frame_long_length() {
    let bytes = vec![0x89, 127, 0, 0, 0, 0, 0, 0, 0, 2, b'h', b'i'];
    let (_, wend, werr) = wsm_decode(Role::Client, &bytes, &[64]);
    assert!(matches!(wend, End::Rejected(_)));
    assert_eq!(werr, Some(ProtocolError::ControlTooLong));
    let (tm, tend) = tung_decode(Role::Client, &bytes, &[64]);
    assert_eq!((tm, tend), (vec![Msg::Ping(b"hi".to_vec())], End::Ok));
}
