//! Shared machinery of the fuzz targets: an incremental decoder of what the connection writes
//! ([`OutStream`], built on the independent codec of `wsmachine-test-support`, so that the
//! checks do not trust the core's own framing code), and a [`Harness`] that drives a
//! `Connection` exactly as its I/O contract prescribes while asserting invariants after every
//! call.
//!
//! Every `assert!` here is a property of the I/O contract or of RFC 6455, not an expectation
//! about one input: a failing assertion is a bug in the core (or in this harness).

use arbitrary::{Result, Unstructured};
use wsmachine::{
    ClientRequest, CloseStatus, Config, Connection, Error, Event, MessageKind, ProtocolError,
    ReadyState, Role, MAX_PENDING_INPUT,
};
use wsmachine_test_support::codec::{
    mask_in_place, parse_header, put_frame, put_header, LengthForm, KEY,
};

/// RFC 6455 §7.4 plus the IANA registry: the codes that may appear in a close frame, written
/// out independently of `CloseCode::is_sendable` (in the tests' codec).
pub use wsmachine_test_support::codec::close_code_allowed as code_allowed_on_wire;

fn state_rank(s: ReadyState) -> u8 {
    match s {
        ReadyState::Connecting => 0,
        ReadyState::Open => 1,
        ReadyState::Closing => 2,
        ReadyState::Closed => 3,
    }
}

/// One frame the connection wrote, as decoded by [`OutStream`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutFrame {
    /// FIN.
    pub fin: bool,
    /// Opcode (4 bits).
    pub opcode: u8,
    /// Payload length.
    pub len: u64,
    /// Unmasked payload (kept for control frames only).
    pub payload: Vec<u8>,
}

/// An incremental decoder of the connection's output: checks that every byte written belongs
/// to a well-formed frame (masked iff the sender is a client, minimal length encoding, no RSV
/// bits, control frames ≤ 125 bytes and unfragmented, valid fragmentation sequence, valid
/// UTF-8 text, valid close payloads) and that nothing at all follows a close frame.
pub struct OutStream {
    sender: Role,
    head: Vec<u8>,
    cur: Option<(OutFrame, Option<[u8; 4]>, u64)>,
    /// Kind of the data message in progress (opcode 1 or 2).
    msg: Option<u8>,
    /// Text of the message in progress (bounded by what the fuzz input can send).
    text: Vec<u8>,
    /// A close frame has been written (completely or partly).
    pub close_written: bool,
    /// The close code we wrote (None for an empty close payload).
    pub close_code: Option<Option<u16>>,
    /// Completed frames not yet taken.
    pub frames: Vec<OutFrame>,
    /// Total bytes written.
    pub total: u64,
}

impl OutStream {
    /// A decoder for frames written by a `sender`.
    pub fn new(sender: Role) -> OutStream {
        OutStream {
            sender,
            head: Vec::new(),
            cur: None,
            msg: None,
            text: Vec::new(),
            close_written: false,
            close_code: None,
            frames: Vec::new(),
            total: 0,
        }
    }

    /// Whether the stream ends between frames.
    pub fn at_boundary(&self) -> bool {
        self.cur.is_none() && self.head.is_empty()
    }

    fn header(&self) -> Option<(OutFrame, Option<[u8; 4]>, usize)> {
        let h = parse_header(&self.head)?;
        let f = OutFrame {
            fin: h.fin,
            opcode: h.opcode,
            len: h.len,
            payload: Vec::new(),
        };
        assert_eq!(h.rsv, 0, "output frame with RSV bits: {:#x}", self.head[0]);
        assert!(
            h.minimal,
            "output frame length not minimally encoded: {}",
            h.len
        );
        assert_eq!(
            h.mask.is_some(),
            self.sender == Role::Client,
            "output masking must match the role ({:?})",
            self.sender
        );
        Some((f, h.mask, h.size))
    }

    fn begin(&mut self, f: &OutFrame) {
        match f.opcode {
            0x8..=0xA => {
                assert!(f.fin, "fragmented control frame written");
                assert!(f.len <= 125, "control frame of {} bytes written", f.len);
            }
            0x0 => assert!(
                self.msg.is_some(),
                "continuation written with no message open"
            ),
            0x1 | 0x2 => {
                assert!(
                    self.msg.is_none(),
                    "new message written inside a fragmented one"
                );
                self.msg = Some(f.opcode);
                self.text.clear();
            }
            op => panic!("reserved opcode {op:#x} written"),
        }
    }

    fn end(&mut self, f: OutFrame) {
        match f.opcode {
            0x8 => match f.payload.len() {
                0 => self.close_code = Some(None),
                1 => panic!("one-byte close payload written"),
                _ => {
                    let code = u16::from_be_bytes([f.payload[0], f.payload[1]]);
                    assert!(code_allowed_on_wire(code), "close code {code} written");
                    assert!(
                        core::str::from_utf8(&f.payload[2..]).is_ok(),
                        "close reason is not UTF-8"
                    );
                    self.close_code = Some(Some(code));
                }
            },
            0x0..=0x2 if f.fin => {
                if self.msg == Some(0x1) {
                    assert!(
                        core::str::from_utf8(&self.text).is_ok(),
                        "invalid UTF-8 text message written"
                    );
                }
                self.msg = None;
                self.text.clear();
            }
            _ => {}
        }
        self.frames.push(f);
    }

    /// Decodes the next bytes written by the connection.
    pub fn feed(&mut self, mut bytes: &[u8]) {
        self.total += bytes.len() as u64;
        while !bytes.is_empty() {
            assert!(
                !(self.close_written && self.at_boundary()),
                "{} bytes written after a close frame",
                bytes.len()
            );
            if let Some((f, mask, remaining)) = &mut self.cur {
                let take = (*remaining).min(bytes.len() as u64) as usize;
                let off = (f.len - *remaining) as usize;
                // Control payloads and text are kept (unmasked); other data is skipped.
                let keep = if f.opcode & 0x8 != 0 {
                    Some(&mut f.payload)
                } else if self.msg == Some(0x1) {
                    Some(&mut self.text)
                } else {
                    None
                };
                if let Some(dst) = keep {
                    let start = dst.len();
                    dst.extend_from_slice(&bytes[..take]);
                    if let Some(m) = mask {
                        mask_in_place(&mut dst[start..], *m, off);
                    }
                }
                *remaining -= take as u64;
                bytes = &bytes[take..];
                if *remaining == 0 {
                    let (f, _, _) = self.cur.take().unwrap();
                    self.end(f);
                }
                continue;
            }
            self.head.push(bytes[0]);
            bytes = &bytes[1..];
            if let Some((f, mask, _)) = self.header() {
                self.head.clear();
                self.begin(&f);
                if f.opcode == 0x8 {
                    self.close_written = true;
                }
                if f.len == 0 {
                    self.end(f);
                } else {
                    let len = f.len;
                    self.cur = Some((f, mask, len));
                }
            }
        }
    }
}

/// What a close frame we expect the connection to write must carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ExpectClose {
    /// Failure: this code.
    Code(u16),
    /// Echo of the peer's close (None: empty payload).
    Echo(Option<u16>),
}

/// Limits small enough for a fuzzer to reach, chosen by the input.
pub fn config_from(u: &mut Unstructured<'_>) -> Result<Config> {
    let mut c = Config::new();
    let flags: u16 = u.arbitrary()?;
    if flags & 1 != 0 {
        c.max_frame_payload = u64::from(u.int_in_range(0u16..=300)?);
    }
    if flags & 2 != 0 {
        c.max_message_size = u64::from(u.int_in_range(0u16..=600)?);
    }
    if flags & 4 != 0 {
        c.max_fragments = u32::from(u.int_in_range(0u8..=8)?);
    }
    c.auto_pong = flags & 8 == 0;
    if flags & 16 != 0 {
        c.handshake_timeout_ms = u32::from(u.int_in_range(0u16..=1000)?);
    }
    if flags & 32 != 0 {
        c.auth_timeout_ms = u32::from(u.int_in_range(0u16..=1000)?);
    }
    if flags & 64 != 0 {
        c.keepalive_interval_ms = u32::from(u.int_in_range(0u16..=1000)?);
        c.keepalive_timeout_ms = u32::from(u.int_in_range(0u16..=1000)?);
    }
    if flags & 128 != 0 {
        c.close_timeout_ms = u32::from(u.int_in_range(0u16..=1000)?);
    }
    if flags & 256 != 0 {
        c.allowed_rsv = u.int_in_range(0u8..=7)?;
    }
    if flags & 512 != 0 {
        c.max_handshake_size = usize::from(u.int_in_range(0u16..=2048)?);
    }
    Ok(c)
}

/// The client request used by the harness.
pub const REQUEST: ClientRequest<'static> = ClientRequest {
    host: "example.com",
    target: "/chat",
    origin: None,
    subprotocols: &["chat", "superchat"],
    extensions: &["x-ext"],
    headers: &[],
};

/// Drives one connection through the I/O contract, checking invariants.
pub struct Harness {
    /// The connection under test.
    pub conn: Connection,
    /// The configuration it was built with.
    pub config: Config,
    /// Its role.
    pub role: Role,
    /// The clock.
    pub now: u64,
    /// Received bytes not consumed yet.
    pub pending: Vec<u8>,
    /// Decoder of everything the connection wrote (after the handshake).
    pub out: OutStream,
    last_state: ReadyState,
    /// A Close or Failed event was reported.
    pub terminal: bool,
    expect_close: Option<ExpectClose>,
    /// A data message is being received: its kind and (for text) its bytes.
    rx_msg: Option<MessageKind>,
    rx_text: Vec<u8>,
    /// Payload the next automatic pong must carry.
    expected_pong: Option<Vec<u8>>,
    transport_closed: bool,
    /// Events seen, by kind (for the caller's own checks).
    pub events: usize,
    /// The last Failed event.
    pub failed: Option<ProtocolError>,
    /// The last Close event's status.
    pub closed_with: Option<(CloseStatus, String)>,
    /// The opening handshake is over: output is frames (before: HTTP).
    pub upgraded: bool,
    /// HTTP bytes written before the upgrade (server error responses).
    pub http_out: Vec<u8>,
}

impl Harness {
    /// Wraps a connection (already open or about to be) built with `config`.
    pub fn new(conn: Connection, config: Config) -> Harness {
        let role = conn.role();
        let last_state = conn.state();
        Harness {
            conn,
            config,
            role,
            now: 0,
            pending: Vec::new(),
            out: OutStream::new(role),
            last_state,
            terminal: false,
            expect_close: None,
            rx_msg: None,
            rx_text: Vec::new(),
            expected_pong: None,
            transport_closed: false,
            events: 0,
            failed: None,
            closed_with: None,
            upgraded: last_state != ReadyState::Connecting,
            http_out: Vec::new(),
        }
    }

    /// Checks what must hold after every call.
    pub fn check(&mut self) {
        let s = self.conn.state();
        assert!(
            state_rank(s) >= state_rank(self.last_state),
            "state went back from {:?} to {s:?}",
            self.last_state
        );
        self.last_state = s;
        let tc = self.conn.should_close_transport();
        assert!(
            tc || !self.transport_closed,
            "should_close_transport went back to false"
        );
        self.transport_closed = tc;
        if tc {
            assert_eq!(
                self.conn.poll_timeout(),
                None,
                "a timer is armed after transport close"
            );
        }
        if self.upgraded && s == ReadyState::Closed {
            assert!(
                self.conn.close_status().is_some(),
                "Closed without a close status"
            );
        }
        if self.conn.close_status().is_some() {
            assert_ne!(s, ReadyState::Open, "Open with a close status");
        }
    }

    /// The "after every read/timer/eof" routine: flush `poll_transmit` with a buffer of
    /// `cap` bytes (smaller buffers exercise `BufferTooSmall`, then a large one is used).
    pub fn flush(&mut self, cap: usize) {
        let mut big = vec![0u8; 1024];
        for _ in 0..8 {
            let small = cap.min(1024);
            let before = format!("{:?}", self.conn);
            let mut sbuf = vec![0xA5u8; small];
            match self.conn.poll_transmit(&mut sbuf) {
                Ok(0) => {
                    self.check_nothing_queued_for_close();
                    return;
                }
                Ok(n) => {
                    assert!(n <= small);
                    let bytes = sbuf[..n].to_vec();
                    self.transmitted(&bytes);
                    continue;
                }
                Err(Error::BufferTooSmall { needed }) => {
                    assert!(
                        needed > small,
                        "BufferTooSmall {{ needed: {needed} }} for {small}"
                    );
                    assert_eq!(
                        before,
                        format!("{:?}", self.conn),
                        "state changed on BufferTooSmall"
                    );
                    assert!(
                        sbuf.iter().all(|&b| b == 0xA5),
                        "bytes written on BufferTooSmall"
                    );
                }
                Err(e) => panic!("poll_transmit failed: {e:?}"),
            }
            let n = self
                .conn
                .poll_transmit(&mut big)
                .expect("poll_transmit with 1 KiB");
            if n == 0 {
                self.check_nothing_queued_for_close();
                return;
            }
            let bytes = big[..n].to_vec();
            self.transmitted(&bytes);
        }
        panic!("poll_transmit kept producing output");
    }

    /// Output of `poll_transmit`: an HTTP error response before the upgrade, else whole
    /// frames starting at a frame boundary (a control frame never interrupts a data frame).
    fn transmitted(&mut self, bytes: &[u8]) {
        if !self.upgraded {
            assert_eq!(
                self.role,
                Role::Server,
                "a client wrote {} bytes before the upgrade",
                bytes.len()
            );
            assert!(
                bytes.starts_with(b"HTTP/1.1 4"),
                "HTTP error response expected"
            );
            assert!(self.http_out.is_empty(), "two HTTP error responses");
            self.http_out.extend_from_slice(bytes);
            assert!(
                self.conn.should_close_transport(),
                "no transport close after an HTTP error"
            );
            return;
        }
        assert!(
            self.out.at_boundary(),
            "poll_transmit wrote inside a partly sent frame"
        );
        self.emitted(bytes, false);
        assert!(
            self.out.at_boundary(),
            "poll_transmit wrote a partial frame"
        );
    }

    fn check_nothing_queued_for_close(&mut self) {
        if let Some(e) = self.expect_close {
            // The close may wait for a streamed frame to be finished; otherwise it must be out.
            let streaming = self.conn.payload_remaining() != 0;
            assert!(
                streaming || self.out.close_written || self.conn.should_close_transport(),
                "expected close {e:?} was not written"
            );
        }
    }

    /// Records bytes the connection wrote. `explicit_pong`: the last frame is an
    /// application pong.
    pub fn emitted(&mut self, bytes: &[u8], explicit_pong: bool) {
        let was_closed = self.out.close_written;
        self.out.feed(bytes);
        let frames = core::mem::take(&mut self.out.frames);
        let last = frames.len().saturating_sub(1);
        let mut auto_pongs = 0;
        for (i, f) in frames.iter().enumerate() {
            if f.opcode == 0xA && !(explicit_pong && i == last) {
                auto_pongs += 1;
                let want = self.expected_pong.take();
                assert_eq!(
                    want.as_deref(),
                    Some(&f.payload[..]),
                    "automatic pong does not carry the latest ping's payload"
                );
            }
        }
        assert!(auto_pongs <= 1, "{auto_pongs} automatic pongs in one write");
        if !was_closed && self.out.close_written {
            if let Some(e) = self.expect_close.take() {
                let got = self.out.close_code.expect("close frame complete");
                match e {
                    ExpectClose::Code(c) => assert_eq!(got, Some(c), "failure close code"),
                    ExpectClose::Echo(c) => assert_eq!(got, c, "echoed close code"),
                }
            }
            self.expected_pong = None;
        }
    }

    /// Appends one socket read and processes it as the I/O contract says.
    pub fn feed(&mut self, bytes: &[u8], cap: usize) {
        self.pending.extend_from_slice(bytes);
        let mut pos = 0usize;
        let mut rounds = 0usize;
        loop {
            rounds += 1;
            assert!(
                rounds <= self.pending.len() + 4,
                "read keeps reporting events"
            );
            let state_before = self.conn.state();
            let avail = self.pending.len() - pos;
            let r = match self.conn.read(self.now, &mut self.pending[pos..]) {
                Ok(r) => r,
                Err(Error::InvalidState) => {
                    assert!(
                        !self.upgraded,
                        "read refused after the upgrade ({state_before:?})"
                    );
                    return;
                }
                Err(e) => panic!("read: {e:?}"),
            };
            assert!(r.consumed <= avail, "consumed {} of {avail}", r.consumed);
            pos += r.consumed;
            let Some(ev) = r.event else {
                break;
            };
            assert!(r.consumed > 0, "an event consumed no input: {ev:?}");
            assert!(!self.terminal, "event after Close/Failed: {ev:?}");
            self.events += 1;
            match ev {
                Event::Data(c) => {
                    assert!(
                        matches!(state_before, ReadyState::Open | ReadyState::Closing),
                        "data in state {state_before:?}"
                    );
                    if c.message_start {
                        assert!(self.rx_msg.is_none(), "message started inside another");
                        self.rx_msg = Some(c.kind);
                        self.rx_text.clear();
                    } else {
                        assert_eq!(self.rx_msg, Some(c.kind), "chunk of no/another message");
                    }
                    assert!(!c.message_finished || c.frame_finished);
                    assert_eq!(
                        c.rsv & !self.config.allowed_rsv,
                        0,
                        "unallowed RSV reported"
                    );
                    let cfg = self.config;
                    if c.kind == MessageKind::Text {
                        self.rx_text.extend_from_slice(c.data);
                        assert!(self.rx_text.len() as u64 <= cfg.max_message_size);
                    }
                    if c.message_finished {
                        if c.kind == MessageKind::Text {
                            assert!(
                                core::str::from_utf8(&self.rx_text).is_ok(),
                                "invalid UTF-8 text delivered"
                            );
                        }
                        self.rx_msg = None;
                    }
                }
                Event::Ping(p) => {
                    assert!(p.len() <= 125);
                    let cfg = self.config;
                    if cfg.auto_pong && state_before == ReadyState::Open {
                        self.expected_pong = Some(p.to_vec());
                    }
                }
                Event::Pong(p) => assert!(p.len() <= 125),
                Event::Close { status, reason } => {
                    assert!(reason.len() <= 123);
                    match status {
                        CloseStatus::Code(c) => {
                            assert!(
                                code_allowed_on_wire(c.get()),
                                "close code {} accepted",
                                c.get()
                            )
                        }
                        CloseStatus::NoStatus => assert!(reason.is_empty()),
                        s => panic!("close frame reported as {s:?}"),
                    }
                    assert_eq!(self.conn.close_status(), Some(status));
                    self.terminal = true;
                    self.rx_msg = None;
                    self.expected_pong = None;
                    self.closed_with = Some((status, reason.to_string()));
                    if !self.out.close_written {
                        let code = match status {
                            CloseStatus::Code(c) => Some(c.get()),
                            _ => None,
                        };
                        self.expect_close = Some(ExpectClose::Echo(code));
                    }
                    assert_eq!(
                        pos,
                        self.pending.len(),
                        "input after a close frame was kept"
                    );
                }
                Event::Failed(e) => {
                    self.terminal = true;
                    self.rx_msg = None;
                    self.expected_pong = None;
                    self.failed = Some(e);
                    assert_eq!(
                        self.conn.failure(),
                        Some(wsmachine::Failure::Protocol(e)),
                        "failure() disagrees with the event"
                    );
                    if !self.out.close_written {
                        self.expect_close = Some(ExpectClose::Code(e.close_code().get()));
                        assert_eq!(
                            self.conn.close_status(),
                            Some(CloseStatus::Code(e.close_code()))
                        );
                    }
                    assert_eq!(pos, self.pending.len(), "input after a failure was kept");
                }
                Event::RejectBody { .. } => panic!("RejectBody on an upgraded connection"),
            }
            self.check();
            self.flush(cap);
            self.check();
        }
        self.pending.drain(..pos);
        if self.conn.state() != ReadyState::Connecting {
            assert!(
                self.pending.len() <= MAX_PENDING_INPUT,
                "{} bytes kept pending",
                self.pending.len()
            );
        }
        self.check();
        self.flush(cap);
        self.check();
    }

    /// Runs one application send and checks its contract: on success the bytes fit in the
    /// buffer and decode as frames; on `BufferTooSmall` nothing was written, nothing changed and
    /// `needed` exceeds the buffer; any success requires an open connection.
    pub fn send(
        &mut self,
        cap: usize,
        explicit_pong: bool,
        f: impl FnOnce(&mut Connection, &mut [u8]) -> core::result::Result<usize, Error>,
    ) -> core::result::Result<usize, Error> {
        let state = self.conn.state();
        let before = format!("{:?}", self.conn);
        let mut buf = vec![0x5Au8; cap];
        let r = f(&mut self.conn, &mut buf);
        match r {
            Ok(n) => {
                assert!(n <= cap, "wrote {n} into {cap}");
                assert!(
                    matches!(state, ReadyState::Open | ReadyState::Closing),
                    "a send succeeded in state {state:?}"
                );
                let bytes = buf[..n].to_vec();
                self.emitted(&bytes, explicit_pong);
            }
            Err(Error::BufferTooSmall { needed }) => {
                assert!(
                    needed > cap,
                    "BufferTooSmall {{ needed: {needed} }} for {cap}"
                );
                assert_eq!(
                    before,
                    format!("{:?}", self.conn),
                    "state changed on BufferTooSmall"
                );
                assert!(
                    buf.iter().all(|&b| b == 0x5A),
                    "bytes written on BufferTooSmall"
                );
            }
            Err(_) => {
                assert_eq!(
                    before,
                    format!("{:?}", self.conn),
                    "state changed on a refused send"
                );
            }
        }
        self.check();
        r
    }

    /// `send_in_place` with a header buffer of `cap` bytes: on success the header and the
    /// (masked, for a client) payload go out together; on any error neither the connection
    /// nor the payload changed and nothing was written.
    pub fn send_in_place(&mut self, cap: usize, kind: MessageKind, payload: &[u8]) {
        let state = self.conn.state();
        let before = format!("{:?}", self.conn);
        let mut body = payload.to_vec();
        let mut buf = vec![0x5Au8; cap];
        match self.conn.send_in_place(kind, &mut body, &mut buf) {
            Ok(n) => {
                assert!(n <= cap, "wrote {n} into {cap}");
                assert!(
                    matches!(state, ReadyState::Open | ReadyState::Closing),
                    "a send succeeded in state {state:?}"
                );
                if self.conn.role() == Role::Server {
                    assert_eq!(body, payload, "a server changed the payload");
                }
                let mut bytes = buf[..n].to_vec();
                bytes.extend_from_slice(&body);
                self.emitted(&bytes, false);
            }
            Err(e) => {
                if let Error::BufferTooSmall { needed } = e {
                    assert!(
                        needed > cap,
                        "BufferTooSmall {{ needed: {needed} }} for {cap}"
                    );
                }
                assert_eq!(before, format!("{:?}", self.conn), "state changed on {e:?}");
                assert!(buf.iter().all(|&b| b == 0x5A), "bytes written on {e:?}");
                assert_eq!(body, payload, "payload changed on {e:?}");
            }
        }
        self.check();
    }

    /// Advances the clock by `dt` and, per the contract, fires expired timers (when `fire`)
    /// then flushes.
    pub fn tick(&mut self, dt: u64, fire: bool, cap: usize) {
        self.now = self.now.saturating_add(dt);
        if let Some(t) = self.conn.poll_timeout() {
            if self.now < t {
                // Calling early is harmless: nothing observable changes.
                let before = format!("{:?}", self.conn);
                self.conn.handle_timeout(self.now);
                assert_eq!(
                    before,
                    format!("{:?}", self.conn),
                    "early handle_timeout changed state"
                );
            }
        }
        if fire {
            self.conn.handle_timeout(self.now);
        }
        self.check();
        self.flush(cap);
        self.check();
    }

    /// Jumps to the next deadline and fires it.
    pub fn jump(&mut self, cap: usize) {
        if let Some(t) = self.conn.poll_timeout() {
            self.now = self.now.max(t);
            self.conn.handle_timeout(self.now);
            self.check();
            self.flush(cap);
            self.check();
        }
    }
}

/// A valid upgrade request (RFC 6455 §1.3's key).
pub const VALID_REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\n\
Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Version: 13\r\n\r\n";

/// The client's handshake key in the synthesized handshakes.
pub const CLIENT_KEY: [u8; 16] = *b"the sample nonce";

/// A valid 101 response to a request made with [`CLIENT_KEY`].
pub fn valid_response() -> Vec<u8> {
    let key = wsmachine::handshake::encode_key(&CLIENT_KEY);
    let accept = wsmachine::accept_key(&key);
    let mut r =
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Accept: "
            .to_vec();
    r.extend_from_slice(&accept);
    r.extend_from_slice(b"\r\n\r\n");
    r
}

/// Completes a synthesized valid handshake on a fresh connection.
pub fn handshake(h: &mut Harness) {
    let mut out = vec![0u8; 1024];
    match h.role {
        Role::Server => {
            let mut headers = [wsmachine::EMPTY_HEADER; 16];
            match h.conn.read_request(h.now, VALID_REQUEST, &mut headers) {
                Ok(wsmachine::ParsedRequest::Complete { len, .. }) => {
                    assert_eq!(len, VALID_REQUEST.len())
                }
                // The handshake deadline may have passed already.
                _ => {
                    assert_ne!(h.conn.state(), ReadyState::Connecting);
                    return;
                }
            }
            let n = h
                .conn
                .accept(h.now, &wsmachine::Accept::default(), &mut out)
                .expect("accept");
            assert!(out[..n].starts_with(b"HTTP/1.1 101 "));
        }
        Role::Client => {
            if h.conn
                .write_request(&REQUEST, CLIENT_KEY, &mut out)
                .is_err()
            {
                assert_ne!(h.conn.state(), ReadyState::Connecting);
                return;
            }
            let resp = valid_response();
            let mut headers = [wsmachine::EMPTY_HEADER; 16];
            match h.conn.read_response(h.now, &REQUEST, &resp, &mut headers) {
                Ok(wsmachine::ResponseStatus::Accepted { len, .. }) => assert_eq!(len, resp.len()),
                Err(Error::Handshake(wsmachine::HandshakeError::TooLarge))
                    if resp.len() > h.config.max_handshake_size =>
                {
                    assert_eq!(h.conn.state(), ReadyState::Closed);
                    return;
                }
                r => panic!("valid response not accepted: {r:?}"),
            }
        }
    }
    assert_eq!(h.conn.state(), ReadyState::Open);
    h.upgraded = true;
    h.check();
}

/// Encodes a frame for the harness's connection to receive (masked when it is a server,
/// unless `wrong_mask`), with minimal length encoding unless `long_len`.
pub fn frame_for(
    role: Role,
    b0: u8,
    payload: &[u8],
    key: [u8; 4],
    wrong_mask: bool,
    long_len: bool,
) -> Vec<u8> {
    let masked = (role == Role::Server) != wrong_mask;
    let form = if long_len {
        LengthForm::Forced64
    } else {
        LengthForm::Minimal
    };
    let mut v = Vec::with_capacity(14 + payload.len());
    put_frame(&mut v, b0, payload, masked.then_some(key), form);
    v
}

fn kind_of(b: u8) -> MessageKind {
    if b & 1 == 0 {
        MessageKind::Text
    } else {
        MessageKind::Binary
    }
}

/// One whole-connection fuzz run: a connection in `role` (open from the start, after a
/// synthesized handshake, or with the handshake deferred so that timers run first), then
/// operations chosen by the input: reads with arbitrary split points, timer calls and every
/// kind of send. Input layout (so that seed files are easy to write): `flags: u16` (+ the
/// limits it selects, see [`config_from`]), `mode: u8`, then operations, each a tag byte
/// (`tag % 17`) and its arguments; tag 0 followed by `len: u16` (little endian) and `len`
/// bytes feeds raw bytes.
pub fn run_conn(role: Role, data: &[u8]) -> Result<()> {
    let mut u = Unstructured::new(data);
    let cfg = config_from(&mut u)?;
    let mode: u8 = u.arbitrary()?;
    let seed = [mode; 16];
    let built = match mode % 3 {
        0 => Connection::new_open(role, cfg, 0, seed),
        _ => match role {
            Role::Server => Connection::server(cfg, 0),
            Role::Client => Connection::client(cfg, 0, seed),
        },
    };
    // Every constructor refuses exactly the configurations the validator refuses.
    let conn = match (built, cfg.validate()) {
        (Ok(conn), Ok(())) => conn,
        (Err(wsmachine::Error::InvalidConfig(e)), Err(v)) if e == v => return Ok(()),
        (other, v) => panic!("constructor {:?} but validate {v:?}", other.map(|_| ())),
    };
    let mut h = Harness::new(conn, cfg);
    h.check();
    if mode % 3 == 1 {
        handshake(&mut h);
    }
    let mut cap = 4096usize;
    let mut key = KEY;
    while !u.is_empty() {
        let tag: u8 = u.arbitrary()?;
        match tag % 18 {
            0 => {
                let n: u16 = u.arbitrary()?;
                let b = u.bytes(usize::from(n).min(u.len()))?;
                h.feed(b, cap);
            }
            1 => {
                let chunk = usize::from(u.arbitrary::<u8>()?) + 1;
                let n: u16 = u.arbitrary()?;
                let b = u.bytes(usize::from(n).min(u.len()))?;
                for c in b.chunks(chunk) {
                    h.feed(c, cap);
                }
            }
            2 => {
                let b0: u8 = u.arbitrary()?;
                let flags: u8 = u.arbitrary()?;
                let len = usize::from(u.arbitrary::<u8>()?);
                let payload = u.bytes(len.min(u.len()))?;
                let f = frame_for(role, b0, payload, key, flags & 1 != 0, flags & 2 != 0);
                if flags & 4 != 0 {
                    for b in f.chunks(1) {
                        h.feed(b, cap);
                    }
                } else {
                    h.feed(&f, cap);
                }
                key = [key[1], key[2], key[3], key[0] ^ flags];
            }
            3 => {
                // A header declaring a large payload, with none of it.
                let b0: u8 = u.arbitrary()?;
                let len: u64 = u.arbitrary()?;
                let mut f = Vec::with_capacity(14);
                let mask = (role == Role::Server).then_some(key);
                put_header(&mut f, b0, len, mask, LengthForm::Forced64);
                h.feed(&f, cap);
            }
            4 => {
                let dt: u16 = u.arbitrary()?;
                let fire: bool = u.arbitrary()?;
                h.tick(u64::from(dt), fire, cap);
            }
            5 => h.jump(cap),
            6 => {
                let s: &str = u.arbitrary()?;
                let _ = h.send(cap, false, |c, o| c.send_text(s, o));
            }
            7 => {
                let b: &[u8] = u.arbitrary()?;
                let _ = h.send(cap, false, |c, o| c.send_binary(b, o));
            }
            8 => {
                let k: u8 = u.arbitrary()?;
                let b: &[u8] = u.arbitrary()?;
                let _ = h.send(cap, false, |c, o| {
                    c.send_fragment(kind_of(k), b, k & 2 != 0, o)
                });
            }
            9 => {
                let k: u8 = u.arbitrary()?;
                let len = u64::from(u.int_in_range(0u16..=2048)?);
                let _ = h.send(cap, false, |c, o| {
                    c.begin_frame(kind_of(k), k & 2 != 0, len, o)
                });
            }
            10 => {
                let b: &[u8] = u.arbitrary()?;
                let r = h.send(cap, false, |c, o| c.send_payload(b, o));
                if let Ok(n) = r {
                    assert_eq!(n, b.len());
                }
            }
            11 => {
                let b: &[u8] = u.arbitrary()?;
                let r = h.send(cap, false, |c, o| c.send_ping(b, o));
                assert!(b.len() <= 125 || r == Err(Error::ControlPayloadTooLong));
            }
            12 => {
                let b: &[u8] = u.arbitrary()?;
                let r = h.send(cap, true, |c, o| c.send_pong(b, o));
                assert!(b.len() <= 125 || r == Err(Error::ControlPayloadTooLong));
            }
            13 => {
                let code: u16 = u.arbitrary()?;
                let reason: &str = u.arbitrary()?;
                let now = h.now;
                let r = h.send(cap, false, |c, o| match wsmachine::CloseCode::new(code) {
                    Some(cc) => c.close(now, cc, reason, o),
                    None => Err(Error::InvalidCloseCode),
                });
                assert_eq!(
                    code_allowed_on_wire(code),
                    wsmachine::CloseCode::new(code).is_some()
                );
                if r.is_ok() {
                    assert!(h.out.close_written);
                    assert_eq!(h.out.close_code, Some(Some(code)));
                    assert!(reason.len() <= 123);
                }
            }
            14 => {
                h.conn.handle_eof();
                h.check();
                assert!(h.conn.should_close_transport());
                assert_eq!(h.conn.state(), ReadyState::Closed);
                h.flush(cap);
                h.feed(&[0x81, 0x00], cap);
            }
            15 => {
                let c: u16 = u.arbitrary()?;
                cap = usize::from(c % 4097);
                if c & 0x8000 != 0 {
                    h.conn.set_authenticated();
                    h.check();
                }
            }
            16 => {
                let k: u8 = u.arbitrary()?;
                let b: &[u8] = u.arbitrary()?;
                h.send_in_place(cap.min(usize::from(k >> 2)), kind_of(k), b);
            }
            _ => {
                if h.conn.state() == ReadyState::Connecting && !h.upgraded {
                    handshake(&mut h);
                }
            }
        }
    }
    // Whatever happened, the connection can always be wound down within bounded time.
    for _ in 0..4 {
        h.jump(4096);
    }
    Ok(())
}

/// `v` without leading and trailing SP and HTAB (RFC 9110 OWS).
fn trim_ows(v: &[u8]) -> &[u8] {
    let ows = |b: &u8| *b != b' ' && *b != b'\t';
    match (v.iter().position(ows), v.iter().rposition(ows)) {
        (Some(s), Some(e)) => &v[s..=e],
        _ => &[],
    }
}

/// How a refusal's body is framed (RFC 9112 §6.3, for the response to a GET), written out
/// independently of the core's `BodyFraming`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefFraming {
    /// 1xx (and below), 204, 304: no body.
    NoBody,
    /// A valid `Content-Length` (and no `Transfer-Encoding`).
    Length(u64),
    /// `Transfer-Encoding` whose last coding is `chunked`.
    Chunked,
    /// Anything else: until the end of file.
    UntilEof,
}

/// The framing of a response with this `status` and these headers.
pub fn ref_framing(status: u16, headers: &[wsmachine::Header<'_>]) -> RefFraming {
    if status < 200 || status == 204 || status == 304 {
        return RefFraming::NoBody;
    }
    let mut codings: Vec<Vec<u8>> = Vec::new();
    for h in headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("transfer-encoding"))
    {
        for c in h.value.split(|&b| b == b',') {
            let c = trim_ows(c);
            if !c.is_empty() {
                codings.push(c.to_vec());
            }
        }
    }
    if let Some(last) = codings.last() {
        return if last.eq_ignore_ascii_case(b"chunked") {
            RefFraming::Chunked
        } else {
            RefFraming::UntilEof
        };
    }
    let cl = headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .map(|h| h.value);
    match cl.map(trim_ows).and_then(|v| {
        if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(v).ok()?.parse::<u64>().ok()
    }) {
        Some(n) => RefFraming::Length(n),
        None => RefFraming::UntilEof,
    }
}

/// Reference decoding of a whole chunked body (RFC 9112 §7.1, with the core's documented
/// leniency: bare LF ends a line; extensions and trailer lines are skipped; a CR must be
/// followed by LF): the data, and how the body ended (`Some(false)` complete, `Some(true)`
/// invalid, `None` the input ran out first). Not incremental: it re-reads the whole input,
/// so it checks the core's decoder across every split of its input.
pub fn ref_dechunk(input: &[u8]) -> (Vec<u8>, Option<bool>) {
    /// Past the end of the current line from `i` (skipping its content when `skip`, else
    /// requiring it to be empty). `Err(None)`: input ran out; `Err(Some(()))`: invalid.
    fn line_end(input: &[u8], mut i: usize, skip: bool) -> core::result::Result<usize, Option<()>> {
        loop {
            match input.get(i) {
                None => return Err(None),
                Some(b'\n') => return Ok(i + 1),
                Some(b'\r') => {
                    return match input.get(i + 1) {
                        None => Err(None),
                        Some(b'\n') => Ok(i + 2),
                        Some(_) => Err(Some(())),
                    }
                }
                Some(_) if skip => i += 1,
                Some(_) => return Err(Some(())),
            }
        }
    }
    let mut out = Vec::new();
    let mut i = 0;
    macro_rules! line {
        ($e:expr) => {
            match $e {
                Ok(j) => j,
                Err(None) => return (out, None),
                Err(Some(())) => return (out, Some(true)),
            }
        };
    }
    loop {
        // chunk-size
        let mut size: u64 = 0;
        let mut digits = 0usize;
        loop {
            let Some(&b) = input.get(i) else {
                return (out, None);
            };
            let Some(d) = (b as char).to_digit(16) else {
                break;
            };
            if size >= 1 << 60 {
                return (out, Some(true));
            }
            size = size * 16 + u64::from(d);
            digits += 1;
            i += 1;
        }
        if digits == 0 {
            return (out, Some(true));
        }
        // [ chunk-ext ] line end
        i = match input[i] {
            b';' | b' ' | b'\t' => line!(line_end(input, i, true)),
            _ => line!(line_end(input, i, false)),
        };
        if size == 0 {
            // trailer-section CRLF
            loop {
                let empty = matches!(input.get(i), Some(b'\r' | b'\n'));
                i = line!(line_end(input, i, true));
                if empty {
                    return (out, Some(false));
                }
            }
        }
        let avail = (input.len() - i) as u64;
        if avail < size {
            out.extend_from_slice(&input[i..]);
            return (out, None);
        }
        out.extend_from_slice(&input[i..i + size as usize]);
        i += size as usize;
        i = line!(line_end(input, i, false));
    }
}
