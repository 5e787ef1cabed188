//! Property tests: split invariance of the decoder, encode → decode round trips, the UTF-8
//! validator against `core::str::from_utf8`, and the exactness of `Error::BufferTooSmall`.
//! Seeds are fixed (deterministic runs) and case counts keep the file at a few seconds in
//! debug builds.

mod common;

use common::*;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config as PtConfig, RngSeed};
use wsmachine::utf8::Utf8Validator;
use wsmachine::{
    Accept, ClientRequest, CloseCode, CloseStatus, Config, Connection, Error, Header, MessageKind,
    ParsedRequest, Role, EMPTY_HEADER,
};

fn cfg(cases: u32) -> PtConfig {
    PtConfig {
        // A few cases under Miri (about a thousand times slower).
        cases: if cfg!(miri) { 1 } else { cases },
        rng_seed: RngSeed::Fixed(0x0006_4550_5EED),
        failure_persistence: None,
        ..PtConfig::default()
    }
}

fn other_role(r: Role) -> Role {
    match r {
        Role::Client => Role::Server,
        Role::Server => Role::Client,
    }
}

fn role() -> impl Strategy<Value = Role> {
    prop_oneof![Just(Role::Client), Just(Role::Server)]
}

// ---------------------------------------------------------------------------------------
// Random valid frame streams
// ---------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum Ctl {
    Ping(Vec<u8>),
    Pong(Vec<u8>),
}

#[derive(Clone, Debug)]
struct MsgSpec {
    kind: MessageKind,
    payload: Vec<u8>,
    /// Fragment boundaries (sorted byte offsets into `payload`).
    cuts: Vec<usize>,
    /// Control frames inserted after fragment `i` (between fragments).
    ctls: Vec<(usize, Ctl)>,
}

impl MsgSpec {
    fn fragments(&self) -> Vec<&[u8]> {
        let mut v = Vec::new();
        let mut start = 0;
        for &c in &self.cuts {
            v.push(&self.payload[start..c]);
            start = c;
        }
        v.push(&self.payload[start..]);
        v
    }
}

#[derive(Clone, Debug)]
enum Item {
    Msg(MsgSpec),
    Ctl(Ctl),
}

#[derive(Clone, Debug)]
struct Stream {
    items: Vec<Item>,
    close: Option<(u16, String)>,
    trailing: Vec<u8>,
}

fn ctl() -> impl Strategy<Value = Ctl> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..=125).prop_map(Ctl::Ping),
        prop::collection::vec(any::<u8>(), 0..=125).prop_map(Ctl::Pong),
    ]
}

fn text_payload() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<char>(), 0..60)
        .prop_map(|v| v.into_iter().collect::<String>().into_bytes())
}

fn binary_payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => prop::collection::vec(any::<u8>(), 0..200),
        // Occasionally large enough for the 16- and 64-bit length forms.
        1 => (100usize..70_000, any::<u64>()).prop_map(|(n, seed)| SplitMix(seed).bytes(n)),
    ]
}

fn message() -> impl Strategy<Value = MsgSpec> {
    let payload = prop_oneof![
        text_payload().prop_map(|p| (MessageKind::Text, p)),
        binary_payload().prop_map(|p| (MessageKind::Binary, p)),
    ];
    (
        payload,
        prop::collection::vec(any::<Index>(), 0..4),
        prop::collection::vec((any::<Index>(), ctl()), 0..3),
    )
        .prop_map(|((kind, payload), cuts, ctls)| {
            let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(payload.len() + 1)).collect();
            cuts.sort_unstable();
            let nfrag = cuts.len() + 1;
            let mut ctls: Vec<(usize, Ctl)> =
                ctls.into_iter().map(|(i, c)| (i.index(nfrag), c)).collect();
            ctls.sort_by_key(|(i, _)| *i);
            MsgSpec {
                kind,
                payload,
                cuts,
                ctls,
            }
        })
}

fn close_spec() -> impl Strategy<Value = (u16, String)> {
    (
        prop_oneof![
            prop::sample::select(vec![
                1000u16, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1014
            ]),
            3000u16..5000,
        ],
        prop::collection::vec(any::<char>(), 0..30),
    )
        .prop_map(|(code, reason)| {
            let mut r: String = reason.into_iter().collect();
            while r.len() > 123 {
                r.pop();
            }
            (code, r)
        })
}

fn stream() -> impl Strategy<Value = Stream> {
    (
        prop::collection::vec(
            prop_oneof![3 => message().prop_map(Item::Msg), 1 => ctl().prop_map(Item::Ctl)],
            0..6,
        ),
        prop::option::of(close_spec()),
        prop::collection::vec(any::<u8>(), 0..20),
    )
        .prop_map(|(items, close, trailing)| Stream {
            items,
            close,
            trailing,
        })
}

fn ctl_frame(c: &Ctl, mask: Option<[u8; 4]>) -> Vec<u8> {
    match c {
        Ctl::Ping(p) => frame(FIN | OP_PING, p, mask),
        Ctl::Pong(p) => frame(FIN | OP_PONG, p, mask),
    }
}

fn ctl_norm(c: &Ctl) -> Norm {
    match c {
        Ctl::Ping(p) => Norm::Ping(p.clone()),
        Ctl::Pong(p) => Norm::Pong(p.clone()),
    }
}

/// Encodes `s` for a receiver of `role` with the test's own encoder; returns the bytes, the
/// events the receiver must report, and the frames it must answer with.
fn encode_stream(s: &Stream, receiver: Role, seed: u64) -> (Vec<u8>, Vec<Norm>, Vec<RawFrame>) {
    let mut keys = SplitMix(seed);
    let mut mask = || (receiver == Role::Server).then(|| keys.key());
    let mut bytes = Vec::new();
    let mut want = Vec::new();
    let mut replies = Vec::new();
    let reply_mask = (receiver == Role::Client).then_some([0; 4]);
    let mut ctl = |c: &Ctl, bytes: &mut Vec<u8>, want: &mut Vec<Norm>, m: Option<[u8; 4]>| {
        bytes.extend(ctl_frame(c, m));
        want.push(ctl_norm(c));
        if let Ctl::Ping(p) = c {
            replies.push(RawFrame {
                fin: true,
                rsv: 0,
                opcode: OP_PONG,
                mask: reply_mask,
                payload: p.clone(),
                minimal: true,
            });
        }
    };
    for item in &s.items {
        match item {
            Item::Ctl(c) => ctl(c, &mut bytes, &mut want, mask()),
            Item::Msg(m) => {
                let frags = m.fragments();
                let first = match m.kind {
                    MessageKind::Text => OP_TEXT,
                    MessageKind::Binary => OP_BINARY,
                };
                for (i, f) in frags.iter().enumerate() {
                    let op = if i == 0 { first } else { OP_CONT };
                    let fin = if i == frags.len() - 1 { FIN } else { 0 };
                    bytes.extend(frame(fin | op, f, mask()));
                    for (_, c) in m.ctls.iter().filter(|(j, _)| *j == i) {
                        if i + 1 < frags.len() {
                            ctl(c, &mut bytes, &mut want, mask());
                        }
                    }
                }
                // Control frames after the last fragment follow the message.
                want.push(Norm::Msg(m.kind, m.payload.clone(), frags.len()));
                for (_, c) in m.ctls.iter().filter(|(j, _)| *j == frags.len() - 1) {
                    ctl(c, &mut bytes, &mut want, mask());
                }
            }
        }
    }
    if let Some((code, reason)) = &s.close {
        bytes.extend(frame(
            FIN | OP_CLOSE,
            &close_payload(*code, reason.as_bytes()),
            mask(),
        ));
        want.push(Norm::Close(
            CloseStatus::Code(CloseCode::new(*code).unwrap()),
            reason.clone(),
        ));
        replies.push(RawFrame {
            fin: true,
            rsv: 0,
            opcode: OP_CLOSE,
            mask: reply_mask,
            payload: code.to_be_bytes().to_vec(),
            minimal: true,
        });
        // Anything after the close is ignored.
        bytes.extend_from_slice(&s.trailing);
    }
    (bytes, want, replies)
}

/// Compares reply frames ignoring the (random) masking keys of a client.
fn same_frames(got: &[RawFrame], want: &[RawFrame]) -> bool {
    got.len() == want.len()
        && got.iter().zip(want).all(|(g, w)| {
            g.fin == w.fin
                && g.rsv == w.rsv
                && g.opcode == w.opcode
                && g.mask.is_some() == w.mask.is_some()
                && g.payload == w.payload
        })
}

fn cuts_for(len: usize, idx: &[Index]) -> Vec<usize> {
    let mut c: Vec<usize> = idx.iter().map(|i| i.index(len + 1)).collect();
    c.sort_unstable();
    c
}

proptest! {
    #![proptest_config(cfg(256))]

    /// Splitting the input at arbitrary points yields the same messages, pings, pongs and
    /// close, and the same replies, as feeding it at once — and both match what was encoded.
    #[test]
    fn split_invariance(
        s in stream(),
        receiver in role(),
        seed in any::<u64>(),
        splits in prop::collection::vec(any::<Index>(), 0..40),
    ) {
        let (bytes, want, replies) = encode_stream(&s, receiver, seed);
        let mk = || Connection::new_open(receiver, Config::new(), 0, [4; 16]).unwrap();

        let mut whole = Feeder::new(mk());
        whole.push(&bytes);
        let got_whole = normalize(&whole.events);
        prop_assert_eq!(&got_whole, &want);
        prop_assert!(same_frames(&whole.take_frames(), &replies));

        let mut split = Feeder::new(mk());
        split.push_split(&bytes, &cuts_for(bytes.len(), &splits));
        prop_assert_eq!(normalize(&split.events), want.clone());
        prop_assert!(same_frames(&split.take_frames(), &replies));

        let mut drip = Feeder::new(mk());
        if bytes.len() < 5_000 {
            drip.push_chunked(&bytes, 1);
            prop_assert_eq!(normalize(&drip.events), want);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Encode → decode round trips
// ---------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum How {
    /// `send`
    Whole,
    /// `send_in_place`: header into `out`, payload masked in place (clients).
    InPlace,
    /// `send_fragment` at these cuts, with pings after the given fragments.
    Fragments(Vec<Index>, Vec<(Index, Vec<u8>)>),
    /// `begin_frame` + `send_payload` in pieces of this size, at these frame cuts.
    Streamed(Vec<Index>, usize),
}

fn how() -> impl Strategy<Value = How> {
    prop_oneof![
        Just(How::Whole),
        Just(How::InPlace),
        (
            prop::collection::vec(any::<Index>(), 0..4),
            prop::collection::vec(
                (any::<Index>(), prop::collection::vec(any::<u8>(), 0..=125)),
                0..3
            )
        )
            .prop_map(|(c, p)| How::Fragments(c, p)),
        (prop::collection::vec(any::<Index>(), 0..4), 1usize..500)
            .prop_map(|(c, n)| How::Streamed(c, n)),
    ]
}

proptest! {
    #![proptest_config(cfg(256))]

    #[test]
    fn encode_decode_round_trip(
        msgs in prop::collection::vec(
            (prop_oneof![
                text_payload().prop_map(|p| (MessageKind::Text, p)),
                binary_payload().prop_map(|p| (MessageKind::Binary, p)),
            ], how()),
            0..5,
        ),
        close in prop::option::of(close_spec()),
        sender in role(),
        seed in any::<[u8; 16]>(),
        splits in prop::collection::vec(any::<Index>(), 0..30),
    ) {
        let mut tx = Connection::new_open(sender, Config::new(), 0, seed).unwrap();
        let mut wire = Vec::new();
        let mut want = Vec::new();
        let mut out = vec![0u8; 80_000];
        for ((kind, payload), how) in &msgs {
            match how {
                How::Whole => {
                    let n = tx.send(*kind, payload, &mut out).unwrap();
                    wire.extend_from_slice(&out[..n]);
                    want.push(Norm::Msg(*kind, payload.clone(), 1));
                }
                How::InPlace => {
                    // The same frame as `send` would write, in two pieces.
                    let mut twin = tx.clone();
                    let mut header_twin = tx.clone();
                    let n_whole = twin.send(*kind, payload, &mut out).unwrap();
                    let whole = out[..n_whole].to_vec();
                    let mut body = payload.clone();
                    let n = tx.send_in_place(*kind, &mut body, &mut out).unwrap();
                    // `send_header` (shared payload): the same header on a server, refused on
                    // a client.
                    let mut head = [0u8; 300];
                    match header_twin.send_header(*kind, payload, &mut head) {
                        Ok(h) => {
                            prop_assert_eq!(sender, Role::Server);
                            prop_assert_eq!(&head[..h], &out[..n]);
                        }
                        Err(e) => {
                            prop_assert_eq!(sender, Role::Client);
                            prop_assert_eq!(e, Error::InvalidState);
                        }
                    }
                    wire.extend_from_slice(&out[..n]);
                    wire.extend_from_slice(&body);
                    prop_assert_eq!(&wire[wire.len() - whole.len()..], &whole[..]);
                    if sender == Role::Server {
                        prop_assert_eq!(&body, payload);
                    }
                    want.push(Norm::Msg(*kind, payload.clone(), 1));
                }
                How::Fragments(cuts, pings) => {
                    let cuts = cuts_for(payload.len(), cuts);
                    let mut bounds = cuts.clone();
                    bounds.push(payload.len());
                    let mut start = 0;
                    for (i, &end) in bounds.iter().enumerate() {
                        let fin = i == bounds.len() - 1;
                        let n = tx.send_fragment(*kind, &payload[start..end], fin, &mut out).unwrap();
                        wire.extend_from_slice(&out[..n]);
                        start = end;
                        if !fin {
                            for (_, p) in pings.iter().filter(|(j, _)| j.index(bounds.len()) == i) {
                                let n = tx.send_ping(p, &mut out).unwrap();
                                wire.extend_from_slice(&out[..n]);
                                want.push(Norm::Ping(p.clone()));
                            }
                        }
                    }
                    want.push(Norm::Msg(*kind, payload.clone(), bounds.len()));
                }
                How::Streamed(cuts, piece) => {
                    let cuts = cuts_for(payload.len(), cuts);
                    let mut bounds = cuts.clone();
                    bounds.push(payload.len());
                    let mut start = 0;
                    for (i, &end) in bounds.iter().enumerate() {
                        let fin = i == bounds.len() - 1;
                        let n = tx.begin_frame(*kind, fin, (end - start) as u64, &mut out).unwrap();
                        wire.extend_from_slice(&out[..n]);
                        for p in payload[start..end].chunks(*piece) {
                            let n = tx.send_payload(p, &mut out).unwrap();
                            prop_assert_eq!(n, p.len());
                            wire.extend_from_slice(&out[..n]);
                        }
                        prop_assert_eq!(tx.payload_remaining(), 0);
                        start = end;
                    }
                    want.push(Norm::Msg(*kind, payload.clone(), bounds.len()));
                }
            }
        }
        if let Some((code, reason)) = &close {
            let n = tx.close(0, CloseCode::new(*code).unwrap(), reason, &mut out).unwrap();
            wire.extend_from_slice(&out[..n]);
            want.push(Norm::Close(CloseStatus::Code(CloseCode::new(*code).unwrap()), reason.clone()));
        }
        // Well-formed on the wire: masked exactly by clients, minimal lengths, no RSV.
        for f in parse_frames(&wire) {
            prop_assert_eq!(f.mask.is_some(), sender == Role::Client);
            prop_assert!(f.minimal);
            prop_assert_eq!(f.rsv, 0);
        }
        let receiver = other_role(sender);
        let mut rx = Feeder::new(Connection::new_open(receiver, Config::new(), 0, [8; 16]).unwrap());
        rx.push_split(&wire, &cuts_for(wire.len(), &splits));
        prop_assert_eq!(normalize(&rx.events), want);
    }
}

// ---------------------------------------------------------------------------------------
// UTF-8 validator
// ---------------------------------------------------------------------------------------

/// Index of the first byte of `b` that no valid UTF-8 text can have there, if any.
fn first_impossible(b: &[u8]) -> Option<usize> {
    let e = std::str::from_utf8(b).err()?;
    e.error_len()?;
    // The first prefix that is not a prefix of valid text ends at the offending byte.
    (e.valid_up_to()..b.len()).find(|&i| {
        std::str::from_utf8(&b[..=i])
            .err()
            .is_some_and(|e| e.error_len().is_some())
    })
}

fn check_validator(bytes: &[u8], cuts: &[usize]) -> Result<(), TestCaseError> {
    let reference = std::str::from_utf8(bytes);
    let bad = first_impossible(bytes);
    let mut v = Utf8Validator::new();
    let mut start = 0;
    let mut bounds = cuts.to_vec();
    bounds.push(bytes.len());
    for &end in &bounds {
        let chunk = &bytes[start..end];
        let r = v.feed(chunk);
        match bad {
            Some(b) if b < end => {
                // Fails in the chunk holding the first impossible byte, never earlier.
                prop_assert!(
                    b >= start,
                    "failed late: bad byte {} before chunk {}..{}",
                    b,
                    start,
                    end
                );
                let e = r.expect_err("must fail in this chunk");
                let global = reference.as_ref().unwrap_err().valid_up_to();
                prop_assert_eq!(e.valid_up_to, global.saturating_sub(start));
                return Ok(());
            }
            _ => prop_assert!(r.is_ok(), "failed early in {}..{}: {:?}", start, end, r),
        }
        start = end;
    }
    prop_assert!(bad.is_none());
    prop_assert_eq!(v.is_complete(), reference.is_ok());
    Ok(())
}

fn corrupted_text() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec(any::<char>(), 0..40),
        prop::collection::vec((any::<Index>(), any::<u8>()), 0..3),
        any::<Option<Index>>(),
    )
        .prop_map(|(chars, edits, truncate)| {
            let mut b = chars.into_iter().collect::<String>().into_bytes();
            for (i, x) in edits {
                if !b.is_empty() {
                    let at = i.index(b.len());
                    b[at] = x;
                }
            }
            if let Some(t) = truncate {
                let n = t.index(b.len() + 1);
                b.truncate(n);
            }
            b
        })
}

proptest! {
    #![proptest_config(cfg(2048))]

    #[test]
    fn utf8_arbitrary_bytes(
        bytes in prop::collection::vec(any::<u8>(), 0..48),
        cuts in prop::collection::vec(any::<Index>(), 0..6),
    ) {
        check_validator(&bytes, &cuts_for(bytes.len(), &cuts))?;
    }

    #[test]
    fn utf8_mostly_valid_text(
        bytes in corrupted_text(),
        cuts in prop::collection::vec(any::<Index>(), 0..8),
    ) {
        check_validator(&bytes, &cuts_for(bytes.len(), &cuts))?;
    }

    #[test]
    fn utf8_every_split_of_short_input(bytes in prop_oneof![
        prop::collection::vec(any::<u8>(), 0..8),
        corrupted_text().prop_map(|mut b| { b.truncate(10); b }),
    ]) {
        for a in 0..=bytes.len() {
            for b in a..=bytes.len() {
                check_validator(&bytes, &[a, b])?;
            }
        }
    }
}

/// The decoder uses the validator: a text message's validity through a connection equals
/// `from_utf8` on the whole payload, however it is split.
#[test]
fn utf8_through_a_connection_matches_from_utf8() {
    let samples: &[&[u8]] = &[
        b"plain",
        "κόσμε".as_bytes(),
        b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited",
        b"\xf0\x9f\x98\x80\xf0\x9f\x98",
        b"\xf4\x8f\xbf\xbf",
        b"\xf4\x90\x80\x80",
        b"\xc2\x80\xdf\xbf\xe0\xa0\x80",
        b"\xe0\x9f\xbf",
        b"\xef\xbf\xbe",
    ];
    for s in samples {
        for chunk in 1..=s.len().max(1) {
            let mut f =
                Feeder::new(Connection::new_open(Role::Client, Config::new(), 0, [1; 16]).unwrap());
            f.push_chunked(&frame(FIN | OP_TEXT, s, None), chunk);
            let failed = f
                .events
                .contains(&Ev::Failed(wsmachine::ProtocolError::InvalidUtf8));
            assert_eq!(
                failed,
                std::str::from_utf8(s).is_err(),
                "{s:02x?} chunk {chunk}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// BufferTooSmall is exact
// ---------------------------------------------------------------------------------------

/// Runs `op` on clones of `conn`: with a large buffer (giving `n`), with `n - 1` bytes (must
/// fail with `BufferTooSmall { needed: n }`, write nothing and change nothing) and with
/// exactly `n` bytes (must succeed with the same bytes and the same resulting state).
fn check_exact(
    conn: &Connection,
    op: impl Fn(&mut Connection, &mut [u8]) -> Result<usize, Error>,
) -> Result<usize, TestCaseError> {
    let mut big_conn = conn.clone();
    let mut big = vec![0xEEu8; 200_000];
    let n = op(&mut big_conn, &mut big).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
    prop_assert!(n > 0);
    let before = format!("{conn:?}");

    let mut small_conn = conn.clone();
    let mut small = vec![0xEEu8; n - 1];
    prop_assert_eq!(
        op(&mut small_conn, &mut small),
        Err(Error::BufferTooSmall { needed: n })
    );
    prop_assert_eq!(format!("{small_conn:?}"), before.clone(), "state changed");
    prop_assert!(small.iter().all(|&b| b == 0xEE), "bytes written on failure");

    let mut exact_conn = conn.clone();
    let mut exact = vec![0xEEu8; n];
    prop_assert_eq!(op(&mut exact_conn, &mut exact), Ok(n));
    prop_assert_eq!(&exact[..], &big[..n]);
    prop_assert_eq!(format!("{exact_conn:?}"), format!("{big_conn:?}"));
    Ok(n)
}

/// An open connection with, optionally, a pong queued (a ping of `ping` bytes arrived).
fn open_conn(role: Role, ping: Option<usize>, keepalive_ping: bool) -> Connection {
    let mut c = Config::new();
    if keepalive_ping {
        c.keepalive_interval_ms = 10;
    }
    let mut conn = Connection::new_open(role, c, 0, [6; 16]).unwrap();
    if let Some(n) = ping {
        let mask = (role == Role::Server).then_some(KEY);
        let mut f = frame(FIN | OP_PING, &vec![b'p'; n], mask);
        let r = conn.read(0, &mut f).unwrap();
        assert!(matches!(r.event, Some(wsmachine::Event::Ping(_))));
    }
    if keepalive_ping {
        conn.handle_timeout(10);
    }
    conn
}

fn length() -> impl Strategy<Value = usize> {
    prop_oneof![0usize..140, 65_530usize..65_540, Just(125), Just(126)]
}

proptest! {
    #![proptest_config(cfg(256))]

    #[test]
    fn buffer_too_small_is_exact_for_sends(
        r in role(),
        ping in prop::option::of(0usize..=125),
        keepalive in any::<bool>(),
        len in length(),
        which in 0u8..8,
        reason_len in 0usize..=123,
        ctl_len in 0usize..=125,
    ) {
        let conn = open_conn(r, ping, keepalive);
        let data = vec![b'd'; len];
        let needed_ctrl = ping.map_or(0, |n| n + 2 + if r == Role::Client { 4 } else { 0 })
            + if keepalive { 2 + if r == Role::Client { 4 } else { 0 } } else { 0 };
        let hdr = |l: usize| (if l < 126 { 2 } else if l <= 0xFFFF { 4 } else { 10 })
            + if r == Role::Client { 4 } else { 0 };
        let (n, expect) = match which {
            0 => (check_exact(&conn, |c, o| c.send_binary(&data, o))?, needed_ctrl + hdr(len) + len),
            1 => (check_exact(&conn, |c, o| c.send_fragment(MessageKind::Text, &data, false, o))?, needed_ctrl + hdr(len) + len),
            2 => (check_exact(&conn, |c, o| c.send_ping(&data[..ctl_len.min(len)], o))?, needed_ctrl + hdr(ctl_len.min(len)) + ctl_len.min(len)),
            3 => {
                let reason = "r".repeat(reason_len);
                // A close replaces queued pings and pongs.
                (check_exact(&conn, |c, o| c.close(0, CloseCode::NORMAL, &reason, o))?, hdr(2 + reason_len) + 2 + reason_len)
            }
            4 => (check_exact(&conn, |c, o| c.begin_frame(MessageKind::Binary, true, len as u64, o))?, needed_ctrl + hdr(len)),
            5 => {
                // Too small a header buffer leaves the payload as it was, too.
                let mut body = data.clone();
                let mut c = conn.clone();
                let mut small = vec![0u8; needed_ctrl + hdr(len) - 1];
                prop_assert!(c.send_in_place(MessageKind::Binary, &mut body, &mut small).is_err());
                prop_assert_eq!(&body, &data);
                (check_exact(&conn, |c, o| c.send_in_place(MessageKind::Binary, &mut data.clone(), o))?, needed_ctrl + hdr(len))
            }
            6 if r == Role::Server => {
                (check_exact(&conn, |c, o| c.send_header(MessageKind::Binary, &data, o))?, needed_ctrl + hdr(len))
            }
            _ => {
                if ping.is_none() && !keepalive {
                    return Ok(());
                }
                (check_exact(&conn, |c, o| c.poll_transmit(o))?, needed_ctrl)
            }
        };
        prop_assert_eq!(n, expect);
    }

    #[test]
    fn buffer_too_small_is_exact_for_streamed_payload_and_queued_closes(
        r in role(),
        len in 1usize..300,
        piece in 1usize..300,
        code in prop::sample::select(vec![0u16, 999, 1000, 1005, 4000]),
    ) {
        // send_payload needs exactly the piece's length.
        let mut conn = open_conn(r, None, false);
        let mut out = [0u8; 16];
        conn.begin_frame(MessageKind::Binary, true, len as u64, &mut out).unwrap();
        let piece = piece.min(len);
        let data = vec![b'x'; piece];
        prop_assert_eq!(check_exact(&conn, |c, o| c.send_payload(&data, o))?, piece);

        // The close queued in reply to the peer's close, or after a violation.
        let mut conn = open_conn(r, Some(3), false);
        let mask = (r == Role::Server).then_some(KEY);
        let mut f = frame(FIN | OP_CLOSE, &close_payload(code, b"why"), mask);
        let _ = conn.read(0, &mut f).unwrap();
        let n = check_exact(&conn, |c, o| c.poll_transmit(o))?;
        let payload = match code {
            // An echo carries the code only.
            1000 | 4000 => 2,
            // A failure carries 1002 and the error's description.
            _ => 2 + "invalid close code".len(),
        };
        prop_assert_eq!(n, 2 + if r == Role::Client { 4 } else { 0 } + payload);
    }

    #[test]
    fn buffer_too_small_is_exact_for_handshakes(
        proto in prop::option::of("[a-z]{1,12}"),
        hdrs in prop::collection::vec(("[A-Za-z][A-Za-z0-9-]{0,15}", "[ -~]{0,40}"), 0..4),
        status in 200u16..600,
        body in prop::collection::vec(any::<u8>(), 0..200),
        bad_version in any::<bool>(),
    ) {
        let headers: Vec<Header<'_>> = hdrs
            .iter()
            .map(|(n, v)| Header { name: n, value: v.trim().as_bytes() })
            .collect();
        let protos: Vec<&str> = proto.iter().map(|s| s.as_str()).collect();
        // Client request.
        let req = ClientRequest {
            subprotocols: &protos,
            headers: &headers,
            ..ClientRequest::new("example.com", "/x?y=z")
        };
        let client = Connection::client(Config::new(), 0, [2; 16]).unwrap();
        let mut request = vec![0u8; 4096];
        let n = check_exact(&client, |c, o| c.write_request(&req, [5; 16], o))?;
        let mut cc = client.clone();
        cc.write_request(&req, [5; 16], &mut request).unwrap();
        request.truncate(n);
        if bad_version {
            let text = String::from_utf8(request.clone()).unwrap();
            request = text.replace("Version: 13", "Version: 12").into_bytes();
        }
        // Server: accept, reject, or the error response.
        let mut server = Connection::server(Config::new(), 0).unwrap();
        let mut hbuf = [EMPTY_HEADER; 16];
        match server.read_request(0, &request, &mut hbuf) {
            Ok(ParsedRequest::Complete { .. }) => {
                prop_assert!(!bad_version);
                let acc = Accept { subprotocol: proto.as_deref(), extensions: None, headers: &headers };
                check_exact(&server, |c, o| c.accept(0, &acc, o))?;
                check_exact(&server, |c, o| c.reject(status, &headers, &body, o))?;
            }
            Err(Error::Handshake(e)) => {
                prop_assert!(bad_version);
                prop_assert_eq!(e.status(), 426);
                check_exact(&server, |c, o| c.poll_transmit(o))?;
            }
            other => return Err(TestCaseError::fail(format!("{other:?}"))),
        }
    }
}

// ---------------------------------------------------------------------------------------
// The whole-message fast path of `read` against the general path
// ---------------------------------------------------------------------------------------

/// Frames near the fast path's edges: any first byte (FIN/RSV/opcode), masked or not, 7- and
/// 16-bit lengths (text around 8 KiB), valid, invalid and truncated UTF-8.
fn edge_frame() -> impl Strategy<Value = (u8, bool, Vec<u8>)> {
    let b0 = prop_oneof![
        4 => prop::sample::select(vec![0x81u8, 0x82]),
        1 => any::<u8>(),
    ];
    let payload = prop_oneof![
        binary_payload(),
        text_payload(),
        corrupted_text(),
        (8_190usize..8_196).prop_map(|n| text_of_len(n).into_bytes()),
        (0usize..300).prop_map(|n| vec![0xE2; n]),
    ];
    (b0, any::<bool>(), payload)
}

proptest! {
    #![proptest_config(cfg(512))]

    /// A frame that arrives whole in one read (the fast path when it qualifies) gives the
    /// same events, replies and state as the same bytes dripped one at a time (always the
    /// general path), under tight and default limits, with a message in progress or not.
    #[test]
    fn whole_frame_fast_path_matches_the_general_path(
        (b0, masked, payload) in edge_frame(),
        receiver in role(),
        frame_slack in prop::option::of(-2i64..=2),
        message_slack in prop::option::of(-4i64..=2),
        max_fragments in 1u32..3, // 0 is refused by Config::validate
        open_fragment in any::<bool>(),
    ) {
        // Limits unset, or within a few bytes of this frame's payload length.
        let limit = |slack: Option<i64>| match slack {
            None => u64::MAX,
            Some(d) => (payload.len() as i64 + d).max(0) as u64,
        };
        let mut config = Config::new();
        config.max_frame_payload = limit(frame_slack);
        config.max_message_size = limit(message_slack);
        config.max_fragments = max_fragments;
        let key = if masked { Some([0x12, 0x34, 0x56, 0x78]) } else { None };
        let mut bytes = Vec::new();
        if open_fragment {
            // An unfinished message first: the next data frame must be a continuation.
            bytes.extend(frame(0x01, b"ab", if receiver == Role::Server { key } else { None }));
        }
        bytes.extend(frame(b0, &payload, key));
        let mk = || Connection::new_open(receiver, config, 0, [9; 16]).unwrap();

        let mut whole = Feeder::new(mk());
        whole.push(&bytes);
        let mut drip = Feeder::new(mk());
        drip.push_chunked(&bytes, 1);
        // Dripped invalid text may deliver its valid prefix before failing (fail-fast, chunk
        // by chunk); a message left unfinished by a failure is compared by its absence.
        let finished = |f: &Feeder| -> Vec<Norm> {
            normalize(&f.events)
                .into_iter()
                .filter(|n| !matches!(n, Norm::Msg(_, _, usize::MAX)))
                .collect()
        };
        prop_assert_eq!(finished(&whole), finished(&drip));
        prop_assert_eq!(whole.take_frames(), drip.take_frames());
        prop_assert_eq!(whole.conn.state(), drip.conn.state());
        prop_assert_eq!(whole.conn.failure(), drip.conn.failure());
        prop_assert_eq!(whole.conn.close_status(), drip.conn.close_status());
    }
}
