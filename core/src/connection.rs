//! The connection state machine.

use crate::close::{CloseCode, CloseStatus};
use crate::config::Config;
use crate::error::{Error, HandshakeError, ProtocolError};
use crate::event::{DataChunk, Event, MessageKind, ReadOutcome};
use crate::frame::{decode_header, encode_header, header_len, FrameHeader, OpCode};
use crate::handshake::client::{
    parse_response, validate_response, write_request, ClientRequest, ParsedResponse, Response,
};
use crate::handshake::server::{
    checked_key, parse_request, write_accept, write_error, write_reject, Accept, ParsedRequest,
};
use crate::handshake::{accept_key, encode_key, Header};
use crate::mask::{apply_mask, mask_copy};
use crate::rng::MaskRng;
use crate::utf8::Utf8Validator;

/// Which end of the connection this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Sends the upgrade request; masks every frame it sends.
    Client,
    /// Answers the upgrade request; never masks.
    Server,
}

/// The connection's state, numbered like the browser's `WebSocket.readyState`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ReadyState {
    /// The opening handshake has not completed.
    Connecting = 0,
    /// Data may be sent and received.
    Open = 1,
    /// A close frame was sent or received (or queued); the closing handshake is under way.
    Closing = 2,
    /// The connection is over (see [`Connection::close_status`]).
    Closed = 3,
}

/// Why a connection ended other than by a clean closing handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Failure {
    /// The peer violated the protocol or a limit (we sent the matching close code).
    Protocol(ProtocolError),
    /// The opening handshake failed.
    Handshake(HandshakeError),
    /// Keepalive: no input within `keepalive_timeout_ms` of our ping.
    DeadPeer,
    /// The peer did not answer our close frame within `close_timeout_ms`.
    CloseTimeout,
    /// The transport ended (`handle_eof`) before the closing handshake.
    TransportLost,
}

/// Longest input the caller may have to keep between `read` calls once the connection is
/// open: a complete control frame (14-byte header + 125 bytes). The caller's read buffer must be
/// at least this large (and at least `Config::max_handshake_size` during the handshake).
pub const MAX_PENDING_INPUT: usize = 14 + 125;

const NEVER: u64 = u64::MAX;

/// Block size of the fused unmask + UTF-8 validation of masked text (a quarter of a typical
/// 32 KiB L1 data cache).
const FUSED_BLOCK: usize = 8 << 10;

/// Handshake progress.
#[derive(Clone, Copy, Debug)]
enum Hs {
    /// Server: waiting for the request.
    AwaitRequest,
    /// Server: request validated; the application must accept or reject.
    AwaitDecision { accept: [u8; 28] },
    /// Client: the request has not been written yet.
    Unsent,
    /// Client: waiting for the response to a request with this key.
    AwaitResponse { key: [u8; 24] },
    /// Client: rejected; `remaining` body bytes follow (`None`: until the transport closes).
    RejectBody { remaining: Option<u64> },
    /// Handshake done (successfully or not).
    Done,
}

/// The data frame whose payload is being delivered.
#[derive(Clone, Copy, Debug)]
struct RxFrame {
    remaining: u64,
    mask: Option<[u8; 4]>,
    mask_off: u8,
    fin: bool,
    rsv: u8,
}

#[derive(Clone, Copy, Debug)]
struct Rx {
    frame: Option<RxFrame>,
    /// Kind of the message in progress.
    msg: Option<MessageKind>,
    msg_size: u64,
    fragments: u32,
    /// Whether the message in progress has produced a chunk yet.
    started: bool,
    utf8: Utf8Validator,
    /// Ignore all further input (close received, or connection failed).
    discard: bool,
}

#[derive(Clone, Copy, Debug)]
struct Tx {
    /// Kind of the (fragmented) message in progress.
    msg: Option<MessageKind>,
    /// A streamed frame has `frame_remaining` payload bytes still to come.
    in_frame: bool,
    frame_remaining: u64,
    frame_fin: bool,
    mask: Option<[u8; 4]>,
    mask_off: u8,
    utf8: Utf8Validator,
}

/// What kind of close frame is queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PendingClose {
    /// Reply to the peer's close: echo its code (`None`: it sent none).
    Echo(Option<CloseCode>),
    /// We fail the connection.
    Fail(ProtocolError),
}

/// The WebSocket protocol engine for one connection: sans-IO, no allocation, no clock.
///
/// # The I/O contract
///
/// The caller owns the socket, the buffers and the clock. The connection turns bytes in into
/// [`Event`]s and application requests into bytes out:
///
/// * **Input.** Read from the socket into a buffer and pass the filled part to
///   [`read`](Self::read) (or, during the handshake, [`read_request`](Self::read_request) /
///   [`read_response`](Self::read_response)). The connection unmasks payload in place and
///   returns at most one event, borrowing from that buffer, plus the number of bytes it
///   consumed. Handle the event, then call `read` again on the bytes after `consumed`, until it
///   returns no event; keep any unconsumed bytes (at most [`MAX_PENDING_INPUT`] once open) at
///   the front of the buffer for the next socket read.
/// * **Output.** Application sends (`send_text`, `send_binary`, fragments, streamed frames,
///   pings, `close`) write whole frames straight into a caller buffer and return the length.
///   Frames the connection generates itself — pongs, keepalive pings, close replies, failure
///   closes, HTTP error responses — are queued (one of each at most) and written by
///   [`poll_transmit`](Self::poll_transmit); data sends also write queued pongs and pings
///   first, so control frames go ahead of data. Too small a buffer gives
///   [`Error::BufferTooSmall`] with the size needed and changes nothing.
/// * **Time.** Pass a monotonic millisecond clock as `now`. [`poll_timeout`](Self::poll_timeout)
///   gives the next deadline; call [`handle_timeout`](Self::handle_timeout) when it passes.
/// * **Transport.** When [`should_close_transport`](Self::should_close_transport) becomes
///   true, flush what `poll_transmit` returns and close the socket. Tell the connection when
///   the peer closes the socket with [`handle_eof`](Self::handle_eof).
///
/// After every `read`, `handle_timeout` or `handle_eof`, in this order: call `poll_transmit`
/// until it returns 0 and write what it gives; check `should_close_transport`; re-arm your
/// timer from `poll_timeout`.
///
/// # Example
///
/// A server, with the I/O elided:
///
/// ```
/// use wsmachine::{Accept, Config, Connection, Event, EMPTY_HEADER};
///
/// let mut conn = Connection::server(Config::new(), 0);
/// let mut input = *b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
///     Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
///     Sec-WebSocket-Version: 13\r\n\r\n\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58";
/// let mut out = [0u8; 256];
///
/// let mut headers = [EMPTY_HEADER; 16];
/// let head_len = match conn.read_request(0, &input, &mut headers)? {
///     wsmachine::ParsedRequest::Complete { request, len } => {
///         assert_eq!(request.path(), "/chat");
///         len
///     }
///     wsmachine::ParsedRequest::Partial => unreachable!("read more and try again"),
/// };
/// let n = conn.accept(0, &Accept::default(), &mut out)?;
/// assert!(out[..n].starts_with(b"HTTP/1.1 101"));
///
/// // The bytes after the request head are frames: a masked "Hello".
/// let frames = &mut input[head_len..];
/// let read = conn.read(0, frames)?;
/// match read.event {
///     Some(Event::Data(chunk)) => {
///         assert_eq!(chunk.data, b"Hello");
///         let n = conn.send_binary(chunk.data, &mut out)?; // echo it
///         assert_eq!(&out[..n], b"\x82\x05Hello");
///     }
///     other => panic!("{other:?}"),
/// }
/// # Ok::<(), wsmachine::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Connection {
    config: Config,
    role: Role,
    hs: Hs,
    rx: Rx,
    tx: Tx,
    rng: MaskRng,
    /// Payload of the pong to send (the latest ping's), if any.
    pong: Option<(u8, [u8; 125])>,
    /// A keepalive ping is queued.
    ping_queued: bool,
    close_queued: Option<PendingClose>,
    http_error: Option<HandshakeError>,
    close_sent: bool,
    close_received: bool,
    closed: bool,
    transport_close: bool,
    authenticated: bool,
    /// Keepalive: waiting for any input after our ping (else: waiting for idleness).
    ping_outstanding: bool,
    status: Option<CloseStatus>,
    failure: Option<Failure>,
    /// Deadline of the current phase: handshake, authentication or close.
    phase_deadline: u64,
    /// Keepalive deadline: idle interval or pong wait.
    keepalive_deadline: u64,
}

fn deadline(now: u64, ms: u32) -> u64 {
    if ms == 0 {
        NEVER
    } else {
        now.saturating_add(u64::from(ms))
    }
}

impl Connection {
    fn new(config: Config, role: Role, hs: Hs, now: u64, mask_seed: [u8; 16]) -> Connection {
        Connection {
            config,
            role,
            hs,
            rx: Rx {
                frame: None,
                msg: None,
                msg_size: 0,
                fragments: 0,
                started: false,
                utf8: Utf8Validator::new(),
                discard: false,
            },
            tx: Tx {
                msg: None,
                in_frame: false,
                frame_remaining: 0,
                frame_fin: false,
                mask: None,
                mask_off: 0,
                utf8: Utf8Validator::new(),
            },
            rng: MaskRng::new(mask_seed),
            pong: None,
            ping_queued: false,
            close_queued: None,
            http_error: None,
            close_sent: false,
            close_received: false,
            closed: false,
            transport_close: false,
            authenticated: true,
            ping_outstanding: false,
            status: None,
            failure: None,
            phase_deadline: deadline(now, config.handshake_timeout_ms),
            keepalive_deadline: NEVER,
        }
    }

    /// A server connection waiting for the upgrade request. `now` starts the handshake timer.
    pub fn server(config: Config, now: u64) -> Connection {
        Connection::new(config, Role::Server, Hs::AwaitRequest, now, [0; 16])
    }

    /// A client connection. `mask_seed` must be 16 unpredictable bytes (see [`crate::rng`]);
    /// write the request with [`write_request`](Self::write_request).
    pub fn client(config: Config, now: u64, mask_seed: [u8; 16]) -> Connection {
        Connection::new(config, Role::Client, Hs::Unsent, now, mask_seed)
    }

    /// A connection that starts OPEN because the handshake happened elsewhere (inside an HTTP
    /// framework, or over HTTP/2 via RFC 8441 — see
    /// [`validate_extended_connect`](crate::validate_extended_connect)). `mask_seed` is used
    /// by clients only.
    pub fn new_open(role: Role, config: Config, now: u64, mask_seed: [u8; 16]) -> Connection {
        let mut c = Connection::new(config, role, Hs::Done, now, mask_seed);
        c.phase_deadline = NEVER;
        c.start_open(now);
        c
    }

    fn start_open(&mut self, now: u64) {
        self.hs = Hs::Done;
        self.phase_deadline = NEVER;
        if self.role == Role::Server && self.config.auth_timeout_ms != 0 {
            self.authenticated = false;
            self.phase_deadline = deadline(now, self.config.auth_timeout_ms);
        }
        self.keepalive_deadline = deadline(now, self.config.keepalive_interval_ms);
    }

    /// Replaces the masking-key seed (clients).
    pub fn reseed(&mut self, mask_seed: [u8; 16]) {
        self.rng = MaskRng::new(mask_seed);
    }

    /// This end's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The ready state.
    pub fn state(&self) -> ReadyState {
        if self.closed || matches!(self.hs, Hs::RejectBody { .. }) {
            ReadyState::Closed
        } else if !matches!(self.hs, Hs::Done) {
            if self.http_error.is_some() {
                ReadyState::Closed
            } else {
                ReadyState::Connecting
            }
        } else if self.close_sent || self.close_received || self.close_queued.is_some() {
            ReadyState::Closing
        } else {
            ReadyState::Open
        }
    }

    /// How the connection ended (or is ending): the peer's close code, ours when we failed it,
    /// or [`CloseStatus::Abnormal`] when it was lost. `None` while open.
    pub fn close_status(&self) -> Option<CloseStatus> {
        self.status
    }

    /// Why the connection failed, if it did.
    pub fn failure(&self) -> Option<Failure> {
        self.failure
    }

    /// Whether the caller should now close the transport (after writing what
    /// `poll_transmit` returns).
    pub fn should_close_transport(&self) -> bool {
        self.transport_close
    }

    /// Whether the application has authenticated the connection (always true unless
    /// `Config::auth_timeout_ms` is set on a server).
    pub fn is_authenticated(&self) -> bool {
        self.authenticated
    }

    /// Marks a server connection authenticated (first-message authentication succeeded),
    /// stopping the `auth_timeout_ms` timer.
    pub fn set_authenticated(&mut self) {
        if !self.authenticated {
            self.authenticated = true;
            if !self.closing() {
                self.phase_deadline = NEVER;
            }
        }
    }

    fn closing(&self) -> bool {
        self.close_sent || self.close_received || self.close_queued.is_some() || self.closed
    }

    fn finish(&mut self) {
        self.closed = true;
        self.transport_close = true;
        self.phase_deadline = NEVER;
        self.keepalive_deadline = NEVER;
        self.pong = None;
        self.ping_queued = false;
    }

    // ----------------------------------------------------------------------------------
    // Server handshake
    // ----------------------------------------------------------------------------------

    /// Server: parses and validates the upgrade request in `buf` (all bytes received so far)
    /// into `headers`.
    ///
    /// * `Ok(ParsedRequest::Partial)`: read more, append, call again with the whole buffer.
    /// * `Ok(ParsedRequest::Complete { request, len })`: the request is valid; inspect it
    ///   (path, query, Origin, Cookie, subprotocols…) and call [`accept`](Self::accept),
    ///   [`reject`](Self::reject) or [`fail_handshake`](Self::fail_handshake). Bytes after
    ///   `len` are already WebSocket frames.
    /// * `Err(Error::Handshake(e))`: an invalid request; the error response (400, 405, 426 with
    ///   `Sec-WebSocket-Version: 13`, 431) is queued: flush `poll_transmit` and close.
    pub fn read_request<'h, 'b: 'h>(
        &mut self,
        now: u64,
        buf: &'b [u8],
        headers: &'h mut [Header<'b>],
    ) -> Result<ParsedRequest<'h>, Error> {
        let _ = now;
        if self.role != Role::Server || !matches!(self.hs, Hs::AwaitRequest) || self.closed {
            return Err(Error::InvalidState);
        }
        if self.http_error.is_some() {
            return Err(Error::InvalidState);
        }
        let parsed = parse_request(buf, headers, self.config.max_handshake_size);
        let parsed = match parsed {
            Ok(p) => p,
            Err(e) => return Err(self.handshake_failed(e)),
        };
        if let ParsedRequest::Complete { request, .. } = &parsed {
            let key = match checked_key(request) {
                Ok(k) => k,
                Err(e) => return Err(self.handshake_failed(e)),
            };
            self.hs = Hs::AwaitDecision {
                accept: accept_key(key),
            };
        }
        Ok(parsed)
    }

    fn handshake_failed(&mut self, e: HandshakeError) -> Error {
        self.failure = Some(Failure::Handshake(e));
        if self.role == Role::Server {
            self.http_error = Some(e);
            self.phase_deadline = NEVER;
        } else {
            self.status = Some(CloseStatus::Abnormal);
            self.hs = Hs::Done;
            self.finish();
        }
        Error::Handshake(e)
    }

    /// Server: rejects the request with the standard response for `error` (e.g.
    /// [`HandshakeError::OriginNotAllowed`] → 403) after the application's own checks. The
    /// response is written by `poll_transmit`.
    pub fn fail_handshake(&mut self, error: HandshakeError) -> Result<(), Error> {
        if self.role != Role::Server
            || !matches!(self.hs, Hs::AwaitRequest | Hs::AwaitDecision { .. })
            || self.http_error.is_some()
            || self.closed
        {
            return Err(Error::InvalidState);
        }
        self.handshake_failed(error);
        Ok(())
    }

    /// Server: accepts the request; writes the 101 response into `out`. The connection is
    /// OPEN afterwards.
    pub fn accept(&mut self, now: u64, opts: &Accept<'_>, out: &mut [u8]) -> Result<usize, Error> {
        let Hs::AwaitDecision { accept } = self.hs else {
            return Err(Error::InvalidState);
        };
        if self.http_error.is_some() || self.closed {
            return Err(Error::InvalidState);
        }
        let n = write_accept(&accept, opts, out)?;
        self.start_open(now);
        Ok(n)
    }

    /// Server: refuses the request with a complete HTTP response (`status` 200–599, extra
    /// `headers`, `body`) written into `out`. Close the transport after writing it.
    pub fn reject(
        &mut self,
        status: u16,
        headers: &[Header<'_>],
        body: &[u8],
        out: &mut [u8],
    ) -> Result<usize, Error> {
        if self.role != Role::Server
            || !matches!(self.hs, Hs::AwaitRequest | Hs::AwaitDecision { .. })
            || self.http_error.is_some()
            || self.closed
        {
            return Err(Error::InvalidState);
        }
        let n = write_reject(status, headers, body, out)?;
        self.hs = Hs::Done;
        self.finish();
        Ok(n)
    }

    // ----------------------------------------------------------------------------------
    // Client handshake
    // ----------------------------------------------------------------------------------

    /// Client: writes the upgrade request. `key` must be 16 fresh random bytes; it becomes
    /// the Sec-WebSocket-Key.
    pub fn write_request(
        &mut self,
        req: &ClientRequest<'_>,
        key: [u8; 16],
        out: &mut [u8],
    ) -> Result<usize, Error> {
        if self.role != Role::Client || !matches!(self.hs, Hs::Unsent) || self.closed {
            return Err(Error::InvalidState);
        }
        let key = encode_key(&key);
        let n = write_request(req, &key, out)?;
        self.hs = Hs::AwaitResponse { key };
        Ok(n)
    }

    /// Client: parses and validates the response in `buf` (all bytes received so far)
    /// against the request `req` that was sent.
    ///
    /// * `Partial`: read more and call again with the whole buffer.
    /// * `Accepted`: the connection is OPEN; bytes after `len` are frames.
    /// * `Rejected`: a non-101 response; `body` holds the body bytes present (bounded by
    ///   Content-Length). If `body_complete` is false, further body bytes come from
    ///   [`read`](Self::read) as [`Event::RejectBody`]. `len` counts head and `body`.
    /// * `Err(Error::Handshake(e))`: an invalid 101 response; the connection is closed.
    pub fn read_response<'h, 'b: 'h>(
        &mut self,
        now: u64,
        req: &ClientRequest<'_>,
        buf: &'b [u8],
        headers: &'h mut [Header<'b>],
    ) -> Result<ResponseStatus<'h>, Error> {
        let Hs::AwaitResponse { key } = self.hs else {
            return Err(Error::InvalidState);
        };
        if self.closed {
            return Err(Error::InvalidState);
        }
        let parsed = match parse_response(buf, headers, self.config.max_handshake_size) {
            Ok(p) => p,
            Err(e) => return Err(self.handshake_failed(e)),
        };
        let (response, len) = match parsed {
            ParsedResponse::Partial => return Ok(ResponseStatus::Partial),
            ParsedResponse::Complete { response, len } => (response, len),
        };
        if response.status() == 101 {
            if let Err(e) = validate_response(&response, &key, req) {
                return Err(self.handshake_failed(e));
            }
            self.start_open(now);
            return Ok(ResponseStatus::Accepted { response, len });
        }
        let rest = buf.get(len..).unwrap_or_default();
        let (body, remaining) = match response.content_length() {
            Some(cl) => {
                let take = (rest.len() as u64).min(cl);
                (
                    rest.get(..take as usize).unwrap_or_default(),
                    Some(cl - take),
                )
            }
            None => (rest, None),
        };
        let body_complete = remaining == Some(0);
        self.failure = Some(Failure::Handshake(HandshakeError::Rejected));
        self.status = Some(CloseStatus::Abnormal);
        if body_complete {
            self.hs = Hs::Done;
            self.finish();
        } else {
            self.hs = Hs::RejectBody { remaining };
        }
        Ok(ResponseStatus::Rejected {
            response,
            body,
            body_complete,
            len: len.saturating_add(body.len()),
        })
    }

    // ----------------------------------------------------------------------------------
    // Input
    // ----------------------------------------------------------------------------------

    /// Feeds received bytes (after the handshake). See the [I/O contract](Self).
    ///
    /// Returns `Err(Error::InvalidState)` only during the handshake (use `read_request` /
    /// `read_response` then). Peer misbehaviour is reported as [`Event::Failed`].
    pub fn read<'b>(&mut self, now: u64, buf: &'b mut [u8]) -> Result<ReadOutcome<'b>, Error> {
        match self.hs {
            Hs::Done => {}
            Hs::RejectBody { remaining } => return Ok(self.read_reject_body(remaining, buf)),
            _ => return Err(Error::InvalidState),
        }
        let len = buf.len();
        if self.rx.discard || self.closed {
            return Ok(ReadOutcome {
                consumed: len,
                event: None,
            });
        }
        if len != 0 && self.config.keepalive_interval_ms != 0 && !self.closing() {
            self.ping_outstanding = false;
            self.keepalive_deadline = deadline(now, self.config.keepalive_interval_ms);
        }
        if let Some(frame) = self.rx.frame {
            return Ok(self.read_payload(now, frame, 0, buf));
        }
        // The whole-message fast path is for hosts; microcontroller builds keep only the
        // general path (about 0.5 KB less flash on thumbv6m).
        if cfg!(target_pointer_width = "64") && self.rx.msg.is_none() {
            if let Some((kind, key, start, end)) = self.whole_message(buf) {
                // The same outcome as the general path below, with less bookkeeping: the
                // message starts and ends here, so the message state stays idle.
                let buf: &'b mut [u8] = buf;
                let payload = buf.get_mut(start..end).unwrap_or_default();
                if let Some(k) = key {
                    apply_mask(payload, k, 0);
                }
                if kind == MessageKind::Text && simdutf8::basic::from_utf8(payload).is_err() {
                    return Ok(self.fail(now, ProtocolError::InvalidUtf8, len));
                }
                let data: &'b [u8] = payload;
                return Ok(ReadOutcome {
                    consumed: end,
                    event: Some(Event::Data(DataChunk {
                        kind,
                        data,
                        message_start: true,
                        frame_finished: true,
                        message_finished: true,
                        rsv: 0,
                    })),
                });
            }
        }
        let (h, hlen) = match decode_header(buf) {
            Ok(Some(x)) => x,
            Ok(None) => {
                return Ok(ReadOutcome {
                    consumed: 0,
                    event: None,
                })
            }
            Err(e) => return Ok(self.fail(now, e, len)),
        };
        if let Err(e) = self.check_header(&h) {
            return Ok(self.fail(now, e, len));
        }
        if h.opcode.is_control() {
            // `check_header` bounded the payload to 125 bytes.
            let end = hlen.saturating_add(h.payload_len as usize);
            if len < end {
                return Ok(ReadOutcome {
                    consumed: 0,
                    event: None,
                });
            }
            let buf: &'b mut [u8] = buf;
            let payload = buf.get_mut(hlen..end).unwrap_or_default();
            if let Some(m) = h.mask {
                apply_mask(payload, m, 0);
            }
            let payload: &'b [u8] = payload;
            return Ok(self.control(now, h.opcode, payload, end, len));
        }
        // A data frame: `check_header` verified continuation rules and limits.
        let kind = match h.opcode {
            OpCode::Text => MessageKind::Text,
            OpCode::Binary => MessageKind::Binary,
            _ => self.rx.msg.unwrap_or(MessageKind::Binary),
        };
        if self.rx.msg.is_none() {
            self.rx.msg = Some(kind);
            self.rx.msg_size = 0;
            self.rx.fragments = 0;
            self.rx.started = false;
            self.rx.utf8.reset();
        }
        self.rx.msg_size = self.rx.msg_size.saturating_add(h.payload_len);
        self.rx.fragments = self.rx.fragments.saturating_add(1);
        // Straight on to the payload: storing the frame in `self.rx.frame` and loading it back
        // (the old loop) cost a store-forwarding stall per message; `read_payload` stores it
        // only if the frame is not finished.
        let frame = RxFrame {
            remaining: h.payload_len,
            mask: h.mask,
            mask_off: 0,
            fin: h.fin,
            rsv: h.rsv,
        };
        Ok(self.read_payload(now, frame, hlen, buf))
    }

    /// The common case, with less bookkeeping: no message in progress and a whole unfragmented
    /// text or binary frame (FIN, no RSV bits, masked as the role requires, a 7- or 16-bit
    /// length within the limits; text at most [`FUSED_BLOCK`] bytes) complete in `buf`.
    /// Returns its kind, masking key and payload range, or `None` for anything else (the
    /// general path takes it).
    ///
    /// This repeats, for these frames only, what `decode_header` and `check_header` decide:
    /// going through them costs about 4 ns more per message (measured), half the fast path's
    /// gain. The proptest `whole_frame_fast_path_matches_the_general_path` holds the two
    /// paths to the same outcome at the limits' edges.
    #[inline]
    fn whole_message(&self, buf: &[u8]) -> Option<(MessageKind, Option<[u8; 4]>, usize, usize)> {
        let (kind, b1) = match buf {
            [0x81, b1, ..] => (MessageKind::Text, *b1),
            [0x82, b1, ..] => (MessageKind::Binary, *b1),
            _ => return None,
        };
        if (b1 & 0x80 != 0) != (self.role == Role::Server) {
            return None;
        }
        let (len, pos) = match b1 & 0x7F {
            126 => match buf.get(2..4) {
                Some(&[a, b]) => (usize::from(u16::from_be_bytes([a, b])), 4usize),
                _ => return None,
            },
            127 => return None,
            n => (usize::from(n), 2usize),
        };
        let limit = self
            .config
            .max_frame_payload
            .min(self.config.max_message_size);
        if len as u64 > limit
            || self.config.max_fragments == 0
            || (kind == MessageKind::Text && len > FUSED_BLOCK)
        {
            return None;
        }
        let (key, start) = if b1 & 0x80 != 0 {
            match buf.get(pos..pos + 4) {
                Some(&[a, b, c, d]) => (Some([a, b, c, d]), pos + 4),
                _ => return None,
            }
        } else {
            (None, pos)
        };
        let end = start + len;
        if end > buf.len() {
            return None;
        }
        Some((kind, key, start, end))
    }

    /// Checks a header against the connection's state and limits.
    fn check_header(&self, h: &FrameHeader) -> Result<(), ProtocolError> {
        match (self.role, h.mask.is_some()) {
            (Role::Server, false) => return Err(ProtocolError::UnmaskedFrame),
            (Role::Client, true) => return Err(ProtocolError::MaskedFrame),
            _ => {}
        }
        if h.opcode.is_control() {
            if h.rsv != 0 {
                return Err(ProtocolError::ReservedBits);
            }
            return Ok(());
        }
        if h.rsv & !self.config.allowed_rsv != 0 {
            return Err(ProtocolError::ReservedBits);
        }
        match (h.opcode, self.rx.msg) {
            (OpCode::Continuation, None) => return Err(ProtocolError::UnexpectedContinuation),
            (OpCode::Text | OpCode::Binary, Some(_)) => {
                return Err(ProtocolError::ExpectedContinuation)
            }
            _ => {}
        }
        if h.payload_len > self.config.max_frame_payload {
            return Err(ProtocolError::FrameTooLarge);
        }
        let (size, frags) = match self.rx.msg {
            Some(_) => (self.rx.msg_size, self.rx.fragments),
            None => (0, 0),
        };
        if size.saturating_add(h.payload_len) > self.config.max_message_size {
            return Err(ProtocolError::MessageTooLarge);
        }
        if frags >= self.config.max_fragments {
            return Err(ProtocolError::TooManyFragments);
        }
        Ok(())
    }

    /// Delivers the next chunk of the current data frame's payload from `buf[pos..]`.
    fn read_payload<'b>(
        &mut self,
        now: u64,
        mut frame: RxFrame,
        pos: usize,
        buf: &'b mut [u8],
    ) -> ReadOutcome<'b> {
        let len = buf.len();
        let avail = len.saturating_sub(pos);
        if avail == 0 && frame.remaining != 0 {
            self.rx.frame = Some(frame);
            return ReadOutcome {
                consumed: pos,
                event: None,
            };
        }
        let take = (frame.remaining.min(avail as u64)) as usize;
        let end = pos.saturating_add(take);
        let buf: &'b mut [u8] = buf;
        let chunk = buf.get_mut(pos..end).unwrap_or_default();
        let kind = self.rx.msg.unwrap_or(MessageKind::Binary);
        let valid = match (kind, frame.mask) {
            (MessageKind::Text, Some(m)) => {
                // Unmask and validate block by block, so that each block is validated while
                // it is still in L1 (one pass over memory instead of two).
                let mut off = usize::from(frame.mask_off);
                let mut ok = true;
                for block in chunk.chunks_mut(FUSED_BLOCK) {
                    off = apply_mask(block, m, off);
                    if self.rx.utf8.feed(block).is_err() {
                        ok = false;
                        break;
                    }
                }
                frame.mask_off = off as u8;
                ok
            }
            (MessageKind::Text, None) => self.rx.utf8.feed(chunk).is_ok(),
            (MessageKind::Binary, Some(m)) => {
                frame.mask_off = apply_mask(chunk, m, usize::from(frame.mask_off)) as u8;
                true
            }
            (MessageKind::Binary, None) => true,
        };
        frame.remaining -= take as u64;
        let frame_finished = frame.remaining == 0;
        let message_finished = frame_finished && frame.fin;
        if !valid || (kind == MessageKind::Text && message_finished && !self.rx.utf8.is_complete())
        {
            // The connection fails; `len` consumes everything (no event borrows from `buf`).
            return self.fail(now, ProtocolError::InvalidUtf8, len);
        }
        let message_start = !self.rx.started;
        self.rx.started = true;
        if frame_finished {
            self.rx.frame = None;
            if message_finished {
                self.rx.msg = None;
            }
        } else {
            self.rx.frame = Some(frame);
        }
        let chunk: &'b [u8] = chunk;
        ReadOutcome {
            consumed: end,
            event: Some(Event::Data(DataChunk {
                kind,
                data: chunk,
                message_start,
                frame_finished,
                message_finished,
                rsv: frame.rsv,
            })),
        }
    }

    /// Handles a complete control frame whose payload has been unmasked.
    fn control<'b>(
        &mut self,
        now: u64,
        opcode: OpCode,
        payload: &'b [u8],
        end: usize,
        len: usize,
    ) -> ReadOutcome<'b> {
        let event = match opcode {
            OpCode::Ping => {
                if self.config.auto_pong && !self.closing() {
                    let mut p = [0u8; 125];
                    for (d, s) in p.iter_mut().zip(payload) {
                        *d = *s;
                    }
                    self.pong = Some((payload.len() as u8, p));
                }
                Event::Ping(payload)
            }
            OpCode::Pong => Event::Pong(payload),
            _ => {
                let (status, reason) = match parse_close(payload) {
                    Ok(x) => x,
                    Err(e) => return self.fail(now, e, len),
                };
                self.close_received = true;
                self.rx.discard = true;
                self.rx.frame = None;
                self.status = Some(status);
                self.pong = None;
                self.ping_queued = false;
                self.keepalive_deadline = NEVER;
                if self.close_sent {
                    self.handshake_complete(now);
                } else {
                    let code = match status {
                        CloseStatus::Code(c) => Some(c),
                        _ => None,
                    };
                    self.close_queued = Some(PendingClose::Echo(code));
                    self.phase_deadline = deadline(now, self.config.close_timeout_ms);
                }
                return ReadOutcome {
                    consumed: len,
                    event: Some(Event::Close { status, reason }),
                };
            }
        };
        ReadOutcome {
            consumed: end,
            event: Some(event),
        }
    }

    /// Both close frames have been exchanged.
    fn handshake_complete(&mut self, now: u64) {
        match self.role {
            Role::Server => self.finish(),
            Role::Client => {
                // RFC 6455 §7.1.1: the server closes TCP first; wait for it, but not forever.
                self.closed = true;
                self.keepalive_deadline = NEVER;
                self.phase_deadline = deadline(now, self.config.close_timeout_ms);
                if self.phase_deadline == NEVER {
                    self.transport_close = true;
                }
            }
        }
    }

    /// Fails the connection because of `e`: queues the close frame (or, if ours is already
    /// out, ends the connection), ignores further input and arms the close timeout.
    fn fail(&mut self, now: u64, e: ProtocolError, len: usize) -> ReadOutcome<'static> {
        self.failure = Some(Failure::Protocol(e));
        self.rx.discard = true;
        self.rx.frame = None;
        self.pong = None;
        self.ping_queued = false;
        self.keepalive_deadline = NEVER;
        if self.close_sent {
            // Our close is already out; nothing more to say.
            if self.status.is_none() {
                self.status = Some(CloseStatus::Abnormal);
            }
            self.finish();
        } else {
            self.status = Some(CloseStatus::Code(e.close_code()));
            self.close_queued = Some(PendingClose::Fail(e));
            self.phase_deadline = deadline(now, self.config.close_timeout_ms);
        }
        ReadOutcome {
            consumed: len,
            event: Some(Event::Failed(e)),
        }
    }

    fn read_reject_body<'b>(
        &mut self,
        remaining: Option<u64>,
        buf: &'b mut [u8],
    ) -> ReadOutcome<'b> {
        let buf: &'b [u8] = buf;
        let (take, left) = match remaining {
            Some(r) => {
                let t = r.min(buf.len() as u64);
                (t as usize, Some(r - t))
            }
            None => (buf.len(), None),
        };
        let finished = left == Some(0);
        if take == 0 && !finished {
            // Nothing new: no event (else a caller that reads until `None` would spin).
            return ReadOutcome {
                consumed: 0,
                event: None,
            };
        }
        if finished {
            self.hs = Hs::Done;
            self.finish();
        } else {
            self.hs = Hs::RejectBody { remaining: left };
        }
        ReadOutcome {
            consumed: take,
            event: Some(Event::RejectBody {
                data: buf.get(..take).unwrap_or_default(),
                finished,
            }),
        }
    }

    /// The transport reached end-of-file or failed. Outside a completed closing handshake the
    /// connection ends as abnormal (1006).
    pub fn handle_eof(&mut self) {
        if let Hs::RejectBody { .. } = self.hs {
            self.hs = Hs::Done;
        }
        if !self.closed {
            if !(self.close_received && self.close_sent) {
                self.status = Some(CloseStatus::Abnormal);
                if self.failure.is_none() {
                    self.failure = Some(Failure::TransportLost);
                }
            }
            if !matches!(self.hs, Hs::Done) {
                self.hs = Hs::Done;
            }
            self.http_error = None;
            self.close_queued = None;
        }
        self.finish();
    }

    // ----------------------------------------------------------------------------------
    // Timers
    // ----------------------------------------------------------------------------------

    /// The next deadline (in the caller's millisecond clock), if any timer is armed.
    pub fn poll_timeout(&self) -> Option<u64> {
        if self.transport_close {
            return None;
        }
        let t = self.phase_deadline.min(self.keepalive_deadline);
        if t == NEVER {
            None
        } else {
            Some(t)
        }
    }

    /// Acts on expired deadlines: handshake and authentication deadlines, keepalive pings,
    /// dead-peer detection and the close timeout. Calling it early is harmless.
    pub fn handle_timeout(&mut self, now: u64) {
        if self.transport_close {
            return;
        }
        if self.phase_deadline <= now {
            self.phase_deadline = NEVER;
            self.phase_expired(now);
        }
        if self.closing() {
            self.keepalive_deadline = NEVER;
        }
        if self.keepalive_deadline <= now {
            if self.ping_outstanding {
                self.status = Some(CloseStatus::Abnormal);
                self.failure = Some(Failure::DeadPeer);
                self.finish();
            } else {
                self.ping_queued = true;
                self.ping_outstanding = true;
                self.keepalive_deadline = deadline(now, self.config.keepalive_timeout_ms);
            }
        }
    }

    fn phase_expired(&mut self, now: u64) {
        match self.hs {
            Hs::AwaitRequest | Hs::AwaitDecision { .. } => {
                if self.http_error.is_none() {
                    self.handshake_failed(HandshakeError::Timeout);
                }
            }
            Hs::Unsent | Hs::AwaitResponse { .. } | Hs::RejectBody { .. } => {
                self.handshake_failed(HandshakeError::Timeout);
            }
            Hs::Done => {
                if self.closed {
                    // Client waiting for the server to close TCP.
                    self.transport_close = true;
                } else if self.closing() {
                    if !self.close_received {
                        self.status = Some(CloseStatus::Abnormal);
                        if self.failure.is_none() {
                            self.failure = Some(Failure::CloseTimeout);
                        }
                    }
                    self.finish();
                } else if !self.authenticated {
                    let _ = self.fail(now, ProtocolError::AuthTimeout, 0);
                }
            }
        }
    }

    // ----------------------------------------------------------------------------------
    // Output
    // ----------------------------------------------------------------------------------

    fn masked(&self) -> bool {
        self.role == Role::Client
    }

    fn frame_len(&self, payload_len: usize) -> usize {
        header_len(payload_len as u64, self.masked()).saturating_add(payload_len)
    }

    /// Writes the header of a frame with `len` payload bytes into the start of `out`, which
    /// the caller checked is large enough, drawing a masking key for a client. Returns the
    /// header's length and the key.
    #[cfg_attr(target_pointer_width = "64", inline)]
    fn put_header(
        &mut self,
        opcode: OpCode,
        fin: bool,
        len: u64,
        out: &mut [u8],
    ) -> (usize, Option<[u8; 4]>) {
        let mask = if self.masked() {
            Some(self.rng.next_key())
        } else {
            None
        };
        let h = FrameHeader {
            fin,
            rsv: 0,
            opcode,
            mask,
            payload_len: len,
        };
        (encode_header(&h, out).unwrap_or(0), mask)
    }

    /// Writes one whole frame into the start of `out`, which the caller checked is large
    /// enough.
    #[cfg_attr(target_pointer_width = "64", inline)]
    fn put_frame(&mut self, opcode: OpCode, fin: bool, payload: &[u8], out: &mut [u8]) -> usize {
        let (hl, mask) = self.put_header(opcode, fin, payload.len() as u64, out);
        let end = hl.saturating_add(payload.len());
        let dst = out.get_mut(hl..end).unwrap_or_default();
        match mask {
            Some(m) => {
                mask_copy(payload, dst, m, 0);
            }
            None => {
                if dst.len() == payload.len() {
                    dst.copy_from_slice(payload);
                }
            }
        }
        end
    }

    /// Length of the queued pong and keepalive ping.
    fn queued_pings_len(&self) -> usize {
        let mut n = 0usize;
        if let Some((l, _)) = self.pong {
            n = n.saturating_add(self.frame_len(usize::from(l)));
        }
        if self.ping_queued {
            n = n.saturating_add(self.frame_len(0));
        }
        n
    }

    fn put_queued_pings(&mut self, out: &mut [u8]) -> usize {
        let mut n = 0usize;
        if let Some((l, p)) = self.pong.take() {
            let payload = p.get(..usize::from(l)).unwrap_or_default();
            n = n.saturating_add(self.put_frame(OpCode::Pong, true, payload, out));
        }
        if self.ping_queued {
            self.ping_queued = false;
            let rest = out.get_mut(n..).unwrap_or_default();
            n = n.saturating_add(self.put_frame(OpCode::Ping, true, &[], rest));
        }
        n
    }

    fn close_payload(pc: PendingClose, buf: &mut [u8; 125]) -> usize {
        let (code, reason) = match pc {
            PendingClose::Echo(None) => return 0,
            PendingClose::Echo(Some(c)) => (c, ""),
            PendingClose::Fail(e) => (e.close_code(), e.as_str()),
        };
        let [a, b] = code.get().to_be_bytes();
        buf[0] = a;
        buf[1] = b;
        let mut n = 2;
        for (d, s) in buf.iter_mut().skip(2).zip(reason.bytes().take(123)) {
            *d = s;
            n += 1;
        }
        n
    }

    /// Writes the frames the connection queued itself — a pong, a keepalive ping, a close
    /// (reply or failure) — or, on a server whose handshake failed, the HTTP error response.
    /// Returns 0 when nothing is queued, and also while a streamed frame is partly sent
    /// (control frames cannot interrupt a frame; a connection failing then ends without a
    /// close frame). Call it after every `read`, `handle_timeout` and `handle_eof`.
    pub fn poll_transmit(&mut self, out: &mut [u8]) -> Result<usize, Error> {
        if let Some(e) = self.http_error {
            let n = write_error(e, out)?;
            self.http_error = None;
            self.hs = Hs::Done;
            self.finish();
            return Ok(n);
        }
        if self.closed || !matches!(self.hs, Hs::Done) {
            return Ok(0);
        }
        if self.tx.in_frame {
            if let Some(PendingClose::Fail(_)) = self.close_queued {
                // A close frame cannot go inside the payload of the frame being streamed (the
                // peer would take it for payload): fail without one; the transport closes.
                self.close_queued = None;
                self.tx.in_frame = false;
                self.finish();
            }
            return Ok(0);
        }
        if let Some(pc) = self.close_queued {
            let mut payload = [0u8; 125];
            let pl = Connection::close_payload(pc, &mut payload);
            let payload = payload.get(..pl).unwrap_or_default();
            let needed = self.frame_len(pl);
            if out.len() < needed {
                return Err(Error::BufferTooSmall { needed });
            }
            let n = self.put_frame(OpCode::Close, true, payload, out);
            self.close_queued = None;
            self.on_close_sent(pc);
            return Ok(n);
        }
        let needed = self.queued_pings_len();
        if out.len() < needed {
            return Err(Error::BufferTooSmall { needed });
        }
        Ok(self.put_queued_pings(out))
    }

    fn on_close_sent(&mut self, pc: PendingClose) {
        self.close_sent = true;
        self.pong = None;
        self.ping_queued = false;
        self.tx.in_frame = false;
        self.tx.msg = None;
        match pc {
            PendingClose::Fail(_) => self.finish(),
            PendingClose::Echo(_) => {
                // The peer's close came first; `phase_deadline` (armed on receipt) keeps the
                // client from waiting forever for the server's TCP close.
                match self.role {
                    Role::Server => self.finish(),
                    Role::Client => {
                        self.closed = true;
                        if self.phase_deadline == NEVER {
                            self.transport_close = true;
                        }
                    }
                }
            }
        }
    }

    fn check_can_start_frame(&self) -> Result<(), Error> {
        if !matches!(self.hs, Hs::Done) || self.closing() {
            return Err(Error::InvalidState);
        }
        if self.tx.in_frame {
            return Err(Error::FrameInProgress);
        }
        Ok(())
    }

    /// Writes queued pings/pongs, then one frame, checking the total size first.
    fn send_frame(
        &mut self,
        opcode: OpCode,
        fin: bool,
        payload: &[u8],
        out: &mut [u8],
    ) -> Result<usize, Error> {
        let ctrl = self.queued_pings_len();
        let needed = ctrl.saturating_add(self.frame_len(payload.len()));
        if out.len() < needed {
            return Err(Error::BufferTooSmall { needed });
        }
        let n = self.put_queued_pings(out);
        let rest = out.get_mut(n..).unwrap_or_default();
        Ok(n.saturating_add(self.put_frame(opcode, fin, payload, rest)))
    }

    /// Sends a whole text message as one frame.
    pub fn send_text(&mut self, text: &str, out: &mut [u8]) -> Result<usize, Error> {
        self.send(MessageKind::Text, text.as_bytes(), out)
    }

    /// Sends a whole binary message as one frame.
    pub fn send_binary(&mut self, data: &[u8], out: &mut [u8]) -> Result<usize, Error> {
        self.send(MessageKind::Binary, data, out)
    }

    /// Sends a whole message as one frame. Text must be valid UTF-8.
    pub fn send(&mut self, kind: MessageKind, data: &[u8], out: &mut [u8]) -> Result<usize, Error> {
        let op = self.whole_message_opcode(kind, data)?;
        self.send_frame(op, true, data, out)
    }

    /// Checks that a whole message of `kind` can be sent now; its opcode.
    fn whole_message_opcode(&self, kind: MessageKind, data: &[u8]) -> Result<OpCode, Error> {
        self.check_can_start_frame()?;
        if self.tx.msg.is_some() {
            return Err(Error::MessageState);
        }
        if kind == MessageKind::Text && simdutf8::basic::from_utf8(data).is_err() {
            return Err(Error::InvalidUtf8);
        }
        Ok(match kind {
            MessageKind::Text => OpCode::Text,
            MessageKind::Binary => OpCode::Binary,
        })
    }

    /// Sends a whole message as one frame without copying its payload (a vectored write):
    /// writes any queued pongs/pings and the frame header into `out` and returns their
    /// length; a client masks `payload` in place, a server leaves it untouched. Write
    /// `out[..n]`, then `payload`, to the socket in that order (one `writev`). Text must be
    /// valid UTF-8. On any error nothing is written, `payload` is unchanged and the
    /// connection is as it was.
    ///
    /// ```
    /// use wsmachine::{Config, Connection, MessageKind, Role};
    ///
    /// let mut client = Connection::new_open(Role::Client, Config::new(), 0, [7; 16]);
    /// let mut payload = *b"hello";
    /// let mut head = [0u8; 14];
    /// let n = client.send_in_place(MessageKind::Text, &mut payload, &mut head)?;
    /// assert_eq!((n, &head[..2]), (6, &[0x81, 0x85][..])); // FIN text, masked, 5 bytes
    /// assert_ne!(&payload, b"hello"); // masked with the key in head[2..6]
    /// # Ok::<(), wsmachine::Error>(())
    /// ```
    pub fn send_in_place(
        &mut self,
        kind: MessageKind,
        payload: &mut [u8],
        out: &mut [u8],
    ) -> Result<usize, Error> {
        let opcode = self.whole_message_opcode(kind, payload)?;
        let ctrl = self.queued_pings_len();
        let needed = ctrl.saturating_add(header_len(payload.len() as u64, self.masked()));
        if out.len() < needed {
            return Err(Error::BufferTooSmall { needed });
        }
        let n = self.put_queued_pings(out);
        let rest = out.get_mut(n..).unwrap_or_default();
        let (hl, mask) = self.put_header(opcode, true, payload.len() as u64, rest);
        if let Some(m) = mask {
            apply_mask(payload, m, 0);
        }
        Ok(n.saturating_add(hl))
    }

    /// Works out the opcode for the next frame of a (possibly fragmented) message and checks
    /// the text so far; does not change state.
    fn fragment_opcode(&self, kind: MessageKind) -> Result<OpCode, Error> {
        match self.tx.msg {
            None => Ok(match kind {
                MessageKind::Text => OpCode::Text,
                MessageKind::Binary => OpCode::Binary,
            }),
            Some(k) if k == kind => Ok(OpCode::Continuation),
            Some(_) => Err(Error::MessageState),
        }
    }

    /// Sends one frame of a fragmented message: the first call starts a message of type
    /// `kind`, later calls (with the same `kind`) continue it, and `fin` ends it. Text is
    /// validated across fragments (a code point may be split between them).
    pub fn send_fragment(
        &mut self,
        kind: MessageKind,
        data: &[u8],
        fin: bool,
        out: &mut [u8],
    ) -> Result<usize, Error> {
        self.check_can_start_frame()?;
        let op = self.fragment_opcode(kind)?;
        let mut utf8 = if op == OpCode::Continuation {
            self.tx.utf8
        } else {
            Utf8Validator::new()
        };
        if kind == MessageKind::Text && (utf8.feed(data).is_err() || (fin && !utf8.is_complete())) {
            return Err(Error::InvalidUtf8);
        }
        let n = self.send_frame(op, fin, data, out)?;
        self.tx.utf8 = utf8;
        self.tx.msg = if fin { None } else { Some(kind) };
        Ok(n)
    }

    /// Starts a streamed frame of `len` payload bytes (first frame of a message of type `kind`,
    /// or its continuation if a fragmented message is in progress): writes queued
    /// pings/pongs and the frame header. Then pass the payload, in pieces of any size, to
    /// [`send_payload`](Self::send_payload). Memory use does not depend on `len`.
    pub fn begin_frame(
        &mut self,
        kind: MessageKind,
        fin: bool,
        len: u64,
        out: &mut [u8],
    ) -> Result<usize, Error> {
        self.check_can_start_frame()?;
        let op = self.fragment_opcode(kind)?;
        if kind == MessageKind::Text
            && fin
            && len == 0
            && op == OpCode::Continuation
            && !self.tx.utf8.is_complete()
        {
            // An empty final frame would end the text inside a code point.
            return Err(Error::InvalidUtf8);
        }
        let mask = self.masked();
        let ctrl = self.queued_pings_len();
        let needed = ctrl.saturating_add(header_len(len, mask));
        if out.len() < needed {
            return Err(Error::BufferTooSmall { needed });
        }
        let n = self.put_queued_pings(out);
        let (hl, key) = self.put_header(op, fin, len, out.get_mut(n..).unwrap_or_default());
        if op != OpCode::Continuation {
            self.tx.utf8.reset();
        }
        self.tx.msg = Some(kind);
        self.tx.mask = key;
        self.tx.mask_off = 0;
        self.tx.frame_remaining = len;
        self.tx.frame_fin = fin;
        self.tx.in_frame = true;
        self.end_streamed_frame_if_done();
        Ok(n.saturating_add(hl))
    }

    fn end_streamed_frame_if_done(&mut self) {
        if self.tx.in_frame && self.tx.frame_remaining == 0 {
            self.tx.in_frame = false;
            if self.tx.frame_fin {
                self.tx.msg = None;
            }
        }
    }

    /// Copies (masking, for clients) the next piece of a streamed frame's payload into `out`;
    /// returns `data.len()`. Text is validated incrementally; on invalid text nothing is
    /// written and the frame cannot be completed (close the transport).
    pub fn send_payload(&mut self, data: &[u8], out: &mut [u8]) -> Result<usize, Error> {
        if !self.tx.in_frame || self.closed {
            return Err(Error::NoFrameInProgress);
        }
        if data.len() as u64 > self.tx.frame_remaining {
            return Err(Error::PayloadOverrun);
        }
        let dst = out
            .get_mut(..data.len())
            .ok_or(Error::BufferTooSmall { needed: data.len() })?;
        if self.tx.msg == Some(MessageKind::Text) {
            let mut v = self.tx.utf8;
            let last = self.tx.frame_fin && data.len() as u64 == self.tx.frame_remaining;
            if v.feed(data).is_err() || (last && !v.is_complete()) {
                return Err(Error::InvalidUtf8);
            }
            self.tx.utf8 = v;
        }
        match self.tx.mask {
            Some(m) => {
                self.tx.mask_off = mask_copy(data, dst, m, usize::from(self.tx.mask_off)) as u8;
            }
            None => dst.copy_from_slice(data),
        }
        self.tx.frame_remaining -= data.len() as u64;
        self.end_streamed_frame_if_done();
        Ok(data.len())
    }

    /// Payload bytes the streamed frame still expects (0 when none is in progress).
    pub fn payload_remaining(&self) -> u64 {
        if self.tx.in_frame {
            self.tx.frame_remaining
        } else {
            0
        }
    }

    fn send_control(&mut self, op: OpCode, payload: &[u8], out: &mut [u8]) -> Result<usize, Error> {
        if payload.len() > 125 {
            return Err(Error::ControlPayloadTooLong);
        }
        self.check_can_start_frame()?;
        self.send_frame(op, true, payload, out)
    }

    /// Sends a ping (payload at most 125 bytes). Allowed between the fragments of a message.
    pub fn send_ping(&mut self, payload: &[u8], out: &mut [u8]) -> Result<usize, Error> {
        self.send_control(OpCode::Ping, payload, out)
    }

    /// Sends an unsolicited pong (payload at most 125 bytes), e.g. as a unidirectional
    /// heartbeat.
    pub fn send_pong(&mut self, payload: &[u8], out: &mut [u8]) -> Result<usize, Error> {
        self.send_control(OpCode::Pong, payload, out)
    }

    /// Starts (or, when the peer's close arrived first, completes) the closing handshake:
    /// writes a close frame with `code` and `reason` (at most 123 bytes) into `out`. Sending
    /// data afterwards is an error. A fragmented message in progress is abandoned.
    pub fn close(
        &mut self,
        now: u64,
        code: CloseCode,
        reason: &str,
        out: &mut [u8],
    ) -> Result<usize, Error> {
        if reason.len() > 123 {
            return Err(Error::ReasonTooLong);
        }
        if !CloseCode::is_sendable(code.get()) {
            return Err(Error::InvalidCloseCode);
        }
        if !matches!(self.hs, Hs::Done) || self.close_sent || self.closed {
            return Err(Error::InvalidState);
        }
        if matches!(self.close_queued, Some(PendingClose::Fail(_))) {
            return Err(Error::InvalidState);
        }
        if self.tx.in_frame {
            return Err(Error::FrameInProgress);
        }
        let mut payload = [0u8; 125];
        let [a, b] = code.get().to_be_bytes();
        payload[0] = a;
        payload[1] = b;
        for (d, s) in payload.iter_mut().skip(2).zip(reason.bytes()) {
            *d = s;
        }
        let pl = 2usize.saturating_add(reason.len());
        let needed = self.frame_len(pl);
        if out.len() < needed {
            return Err(Error::BufferTooSmall { needed });
        }
        let n = self.put_frame(
            OpCode::Close,
            true,
            payload.get(..pl).unwrap_or_default(),
            out,
        );
        let reply = self.close_queued.take();
        self.close_sent = true;
        self.pong = None;
        self.ping_queued = false;
        self.tx.msg = None;
        self.keepalive_deadline = NEVER;
        if self.close_received {
            let _ = reply;
            match self.role {
                Role::Server => self.finish(),
                Role::Client => {
                    self.closed = true;
                    if self.phase_deadline == NEVER {
                        self.transport_close = true;
                    }
                }
            }
        } else {
            self.status = Some(CloseStatus::Code(code));
            self.phase_deadline = deadline(now, self.config.close_timeout_ms);
        }
        Ok(n)
    }
}

/// The outcome of [`Connection::read_response`].
#[derive(Debug)]
pub enum ResponseStatus<'a> {
    /// More input is needed.
    Partial,
    /// The server accepted (101); the connection is open. Bytes after `len` are frames.
    Accepted {
        /// The response (chosen subprotocol, extensions, headers).
        response: Response<'a>,
        /// Length of the response head.
        len: usize,
    },
    /// The server refused (any status but 101).
    Rejected {
        /// The response (status, headers).
        response: Response<'a>,
        /// The body bytes received so far (up to Content-Length).
        body: &'a [u8],
        /// Whether `body` is the whole body (Content-Length reached).
        body_complete: bool,
        /// Head plus `body` length.
        len: usize,
    },
}

/// Validates a close frame's payload: `(status, reason)`.
fn parse_close(payload: &[u8]) -> Result<(CloseStatus, &str), ProtocolError> {
    match payload {
        [] => Ok((CloseStatus::NoStatus, "")),
        [_] => Err(ProtocolError::InvalidClosePayload),
        [a, b, reason @ ..] => {
            let code = CloseCode::new(u16::from_be_bytes([*a, *b]))
                .ok_or(ProtocolError::InvalidCloseCode)?;
            let reason = core::str::from_utf8(reason).map_err(|_| ProtocolError::InvalidUtf8)?;
            Ok((CloseStatus::Code(code), reason))
        }
    }
}
