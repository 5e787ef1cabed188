//! The connection state machine.
//!
//! | file | owns |
//! |---|---|
//! | `mod.rs` | [`Connection`], the I/O contract, constructors, accessors, the transitions between lifecycle states |
//! | `state.rs` | the lifecycle enum (handshake phases → open → closing → closed) |
//! | `timer.rs` | the timer table behind `poll_timeout` / `handle_timeout` |
//! | `handshake.rs` | the opening handshake, server and client side |
//! | `recv.rs` | `read`: frames in, events out |
//! | `send.rs` | frames out: data, control, close, and `poll_transmit` |

#[cfg(feature = "deflate")]
mod deflate;
mod handshake;

#[cfg(feature = "deflate")]
pub use deflate::Inflated;
mod recv;
mod send;
mod state;
mod timer;

use crate::close::{CloseCode, CloseStatus};
use crate::config::Config;
#[cfg(feature = "deflate")]
use crate::deflate::{DeflateConfig, Params};
use crate::error::{Error, HandshakeError, ProtocolError};
use crate::event::MessageKind;
use crate::handshake::client::Response;
use crate::rng::MaskRng;
use crate::utf8::Utf8Validator;

use state::{Closing, Lifecycle, PendingPong};
use timer::{Timer, TimerTable};

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

/// A finer view of the state than [`ReadyState`], for layers that report which side started
/// the closing handshake (wsproto's `ConnectionState`, for example).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Phase {
    /// The opening handshake has not completed.
    Handshake,
    /// Server: a refusal with a streamed body is being sent ([`Connection::reject_body`]).
    /// Client: the body of a refusal is arriving.
    Rejecting,
    /// Data may be sent and received.
    Open,
    /// We sent a close frame and wait for the peer's.
    LocalClosing,
    /// The peer's close arrived (or the connection is failing): our close is queued for
    /// `poll_transmit` (or may be sent with `close`).
    RemoteClosing,
    /// The connection is over.
    Closed,
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
        /// The first contiguous run of body data present after the head, decoded: bounded by
        /// `Content-Length`; for a chunked body, the data of the first chunk present, without
        /// the chunk framing (later chunks already in the buffer come from `read`).
        body: &'a [u8],
        /// Whether the body ended within the buffer (`Content-Length` reached; a chunked
        /// body's last chunk and trailers read, or its encoding found invalid, which ends it
        /// there; a 1xx, 204 or 304 status, which has no body). The connection is then closed.
        body_complete: bool,
        /// Bytes of the buffer used: the head and the body bytes read so far (chunk framing
        /// included), so at least head plus `body` length. Unless `body_complete`, the bytes
        /// after it go to [`Connection::read`], which delivers the rest of the body.
        len: usize,
    },
}

/// What the connection keeps of its [`Config`] once it is built: the limits and timeouts it
/// consults while running (the handshake's own values are used up front).
#[derive(Clone, Copy, Debug)]
struct Limits {
    max_frame_payload: u64,
    max_message_size: u64,
    max_fragments: u32,
    keepalive_interval_ms: u32,
    keepalive_timeout_ms: u32,
    close_timeout_ms: u32,
}

/// Small per-connection switches, one bit each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Flags(u8);

impl Flags {
    /// `Config::auto_pong`.
    const AUTO_PONG: u8 = 1 << 0;
    /// The application has authenticated the connection (or no authentication is required).
    const AUTHENTICATED: u8 = 1 << 1;
    /// A keepalive ping is queued.
    const PING_QUEUED: u8 = 1 << 2;
    /// Keepalive: our ping is out and no input has arrived since.
    const AWAITING_INPUT: u8 = 1 << 3;
    /// `Config::allowed_rsv`, in bits 4..=6.
    const RSV_SHIFT: u32 = 4;
    /// The fragmented message being sent (`Tx::msg`) is compressed (permessage-deflate).
    #[cfg(feature = "deflate")]
    const TX_COMPRESSED: u8 = 1 << 7;

    fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }

    fn set(&mut self, bit: u8, on: bool) {
        if on {
            self.0 |= bit;
        } else {
            self.0 &= !bit;
        }
    }

    fn allowed_rsv(self) -> u8 {
        (self.0 >> Flags::RSV_SHIFT) & 0b111
    }
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

/// Receive-side message state.
#[derive(Clone, Copy, Debug)]
struct Rx {
    frame: Option<RxFrame>,
    /// Kind of the message in progress.
    msg: Option<MessageKind>,
    /// Whether the message in progress has produced a chunk yet.
    started: bool,
    msg_size: u64,
    fragments: u32,
    utf8: Utf8Validator,
    /// The message in progress is compressed (RSV1 on its first frame).
    #[cfg(feature = "deflate")]
    compressed: bool,
}

/// permessage-deflate: what this end offers or accepts, what was agreed, and the message
/// being inflated (whose text `Rx::utf8` validates: compressed text is not checked on the
/// wire).
#[cfg(feature = "deflate")]
#[derive(Clone, Copy, Debug)]
struct DeflateState {
    config: Option<DeflateConfig>,
    agreed: Option<Params>,
    /// A compressed message is being inflated ([`Connection::inflate`]).
    inflating: bool,
    /// Inflated bytes of that message.
    inflated: u64,
}

/// Send-side message state.
#[derive(Clone, Copy, Debug)]
struct Tx {
    /// Payload bytes the streamed frame still expects.
    frame_remaining: u64,
    /// A client's masking key for the streamed frame.
    mask: [u8; 4],
    /// Kind of the (fragmented) message in progress.
    msg: Option<MessageKind>,
    /// A streamed frame is in progress (`begin_frame`); whether it ends its message.
    streaming: Option<bool>,
    /// Position in the masking key.
    mask_off: u8,
    utf8: Utf8Validator,
}

impl Tx {
    /// A streamed frame is partly written.
    fn in_frame(&self) -> bool {
        self.streaming.is_some()
    }

    /// Forgets any message or streamed frame in progress.
    fn abandon(&mut self) {
        self.streaming = None;
        self.msg = None;
    }
}

/// The WebSocket protocol engine for one connection: sans-IO, no allocation, no clock.
///
/// # The I/O contract
///
/// The caller owns the socket, the buffers and the clock. The connection turns bytes in into
/// [`Event`](crate::Event)s and application requests into bytes out:
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
/// let mut conn = Connection::server(Config::new(), 0)?;
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
    lifecycle: Lifecycle,
    #[cfg(feature = "deflate")]
    deflate: DeflateState,
    limits: Limits,
    timers: TimerTable,
    rx: Rx,
    tx: Tx,
    rng: MaskRng,
    /// How the connection ended or is ending.
    status: Option<CloseStatus>,
    failure: Option<Failure>,
    role: Role,
    flags: Flags,
}

/// `Config::max_handshake_size`, saturated to 32 bits (a larger head is not a real case).
fn max_head(c: &Config) -> u32 {
    u32::try_from(c.max_handshake_size).unwrap_or(u32::MAX)
}

/// Room for the Sec-WebSocket-Extensions value the connection writes itself.
#[cfg(feature = "deflate")]
const EXTENSION_VALUE_LEN: usize = crate::deflate::MAX_VALUE_LEN;
#[cfg(not(feature = "deflate"))]
const EXTENSION_VALUE_LEN: usize = 0;

/// Without the `deflate` feature: no extension of the core's own.
#[cfg(not(feature = "deflate"))]
impl Connection {
    #[inline(always)]
    fn deflate_agreed(&self) -> bool {
        false
    }

    #[inline(always)]
    fn deflate_offered(&self) -> bool {
        false
    }

    #[inline(always)]
    fn rx_compressed(&self) -> bool {
        false
    }

    #[inline(always)]
    fn set_rx_compressed(&mut self, _rsv: u8) {}

    #[inline(always)]
    fn tx_compressed(&self) -> bool {
        false
    }

    #[inline(always)]
    fn clear_tx_compressed(&mut self) {}

    #[inline(always)]
    fn negotiate_deflate(&mut self, _headers: &[crate::handshake::Header<'_>]) {}

    #[inline(always)]
    fn deflate_header<'v>(&self, _value: &'v mut [u8]) -> Option<&'v [u8]> {
        None
    }

    #[inline(always)]
    fn accept_deflate_response(
        &mut self,
        _headers: &[crate::handshake::Header<'_>],
    ) -> Result<(), HandshakeError> {
        Ok(())
    }
}

impl Connection {
    fn new(
        config: Config,
        role: Role,
        lifecycle: fn(&Config) -> Lifecycle,
        now: u64,
        mask_seed: [u8; 16],
    ) -> Result<Connection, Error> {
        config.validate().map_err(Error::InvalidConfig)?;
        let lifecycle = lifecycle(&config);
        let mut flags = Flags(config.allowed_rsv << Flags::RSV_SHIFT);
        flags.set(Flags::AUTO_PONG, config.auto_pong);
        flags.set(Flags::AUTHENTICATED, true);
        let mut timers = TimerTable::new(now);
        timers.set(Timer::Handshake, now, config.handshake_timeout_ms);
        Ok(Connection {
            lifecycle,
            #[cfg(feature = "deflate")]
            deflate: DeflateState {
                config: config.deflate,
                agreed: None,
                inflating: false,
                inflated: 0,
            },
            limits: Limits {
                max_frame_payload: config.max_frame_payload,
                max_message_size: config.max_message_size,
                max_fragments: config.max_fragments,
                keepalive_interval_ms: config.keepalive_interval_ms,
                keepalive_timeout_ms: config.keepalive_timeout_ms,
                close_timeout_ms: config.close_timeout_ms,
            },
            timers,
            rx: Rx {
                frame: None,
                msg: None,
                started: false,
                msg_size: 0,
                fragments: 0,
                utf8: Utf8Validator::new(),
                #[cfg(feature = "deflate")]
                compressed: false,
            },
            tx: Tx {
                frame_remaining: 0,
                mask: [0; 4],
                msg: None,
                streaming: None,
                mask_off: 0,
                utf8: Utf8Validator::new(),
            },
            rng: MaskRng::new(mask_seed),
            status: None,
            failure: None,
            role,
            flags,
        })
    }

    /// A server connection waiting for the upgrade request. `now` starts the handshake timer.
    /// Fails only with [`Error::InvalidConfig`].
    pub fn server(config: Config, now: u64) -> Result<Connection, Error> {
        let first = |c: &Config| Lifecycle::AwaitRequest {
            max_head: max_head(c),
            auth_ms: c.auth_timeout_ms,
        };
        Connection::new(config, Role::Server, first, now, [0; 16])
    }

    /// A client connection. `mask_seed` must be 16 unpredictable bytes (see [`crate::rng`]);
    /// write the request with [`write_request`](Self::write_request). Fails only with
    /// [`Error::InvalidConfig`].
    pub fn client(config: Config, now: u64, mask_seed: [u8; 16]) -> Result<Connection, Error> {
        let first = |c: &Config| Lifecycle::RequestUnsent {
            max_head: max_head(c),
        };
        Connection::new(config, Role::Client, first, now, mask_seed)
    }

    /// A connection that starts OPEN because the handshake happened elsewhere (inside an HTTP
    /// framework, or over HTTP/2 via RFC 8441 — see
    /// [`validate_extended_connect`](crate::validate_extended_connect)). `mask_seed` is used
    /// by clients only. Fails only with [`Error::InvalidConfig`].
    pub fn new_open(
        role: Role,
        config: Config,
        now: u64,
        mask_seed: [u8; 16],
    ) -> Result<Connection, Error> {
        let mut c = Connection::new(config, role, |_| Lifecycle::Closed, now, mask_seed)?;
        c.move_to_open(now, config.auth_timeout_ms);
        Ok(c)
    }

    /// Replaces the masking-key seed (clients).
    pub fn reseed(&mut self, mask_seed: [u8; 16]) {
        self.rng = MaskRng::new(mask_seed);
    }

    /// This end's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The ready state.
    pub fn state(&self) -> ReadyState {
        self.lifecycle.ready_state()
    }

    /// A finer view of the state (which side started the closing handshake).
    pub fn phase(&self) -> Phase {
        match self.lifecycle {
            Lifecycle::AwaitRequest { .. }
            | Lifecycle::AwaitDecision { .. }
            | Lifecycle::RequestUnsent { .. }
            | Lifecycle::AwaitResponse { .. } => Phase::Handshake,
            Lifecycle::Rejecting | Lifecycle::RejectBody { .. } => Phase::Rejecting,
            Lifecycle::Open { .. } => Phase::Open,
            Lifecycle::Closing(Closing::Sent) => Phase::LocalClosing,
            Lifecycle::Closing(_) => Phase::RemoteClosing,
            Lifecycle::HttpError(_) | Lifecycle::AwaitTcpClose | Lifecycle::Closed => Phase::Closed,
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
        matches!(self.lifecycle, Lifecycle::Closed)
    }

    /// Whether the application has authenticated the connection (always true unless
    /// `Config::auth_timeout_ms` is set on a server).
    pub fn is_authenticated(&self) -> bool {
        self.flags.has(Flags::AUTHENTICATED)
    }

    /// Marks a server connection authenticated (first-message authentication succeeded),
    /// stopping the `auth_timeout_ms` timer.
    pub fn set_authenticated(&mut self) {
        if !self.is_authenticated() {
            self.flags.set(Flags::AUTHENTICATED, true);
            if let Lifecycle::Open { .. } = self.lifecycle {
                self.timers.stop(Timer::Auth);
            }
        }
    }

    // ----------------------------------------------------------------------------------
    // Transitions of the lifecycle (each written once)
    // ----------------------------------------------------------------------------------

    /// The opening handshake succeeded (or happened elsewhere): data may flow. A server
    /// with `auth_ms` (`Config::auth_timeout_ms`) waits that long for `set_authenticated`.
    fn move_to_open(&mut self, now: u64, auth_ms: u32) {
        self.lifecycle = Lifecycle::Open {
            pong: PendingPong::none(),
        };
        self.timers.stop(Timer::Handshake);
        if self.role == Role::Server && auth_ms != 0 {
            self.flags.set(Flags::AUTHENTICATED, false);
            self.timers.set(Timer::Auth, now, auth_ms);
        }
        self.timers
            .set(Timer::Keepalive, now, self.limits.keepalive_interval_ms);
    }

    /// The closing handshake starts (`how`): no more keepalive, pings or pongs; the close
    /// timer runs from `now`.
    fn move_to_closing(&mut self, now: u64, how: Closing) {
        self.lifecycle = Lifecycle::Closing(how);
        self.flags.set(Flags::PING_QUEUED, false);
        self.timers.stop(Timer::Keepalive);
        self.timers
            .set(Timer::Close, now, self.limits.close_timeout_ms);
    }

    /// Both close frames have been exchanged. A server is done; a client waits for the server
    /// to close TCP (RFC 6455 §7.1.1), for as long as the close timer already armed allows.
    fn move_to_closes_exchanged(&mut self) {
        self.tx.abandon();
        if self.role == Role::Client && self.timers.is_armed(Timer::Close) {
            self.lifecycle = Lifecycle::AwaitTcpClose;
            self.timers.stop(Timer::Keepalive);
        } else {
            self.move_to_closed();
        }
    }

    /// Over: the transport should close. Nothing is queued any more.
    fn move_to_closed(&mut self) {
        self.lifecycle = Lifecycle::Closed;
        self.timers.stop_all();
        self.flags.set(Flags::PING_QUEUED, false);
    }

    /// The opening handshake failed with `e`. A server queues the error response; a client
    /// is closed.
    fn move_to_handshake_failed(&mut self, e: HandshakeError) -> Error {
        self.failure = Some(Failure::Handshake(e));
        match self.role {
            Role::Server => {
                self.lifecycle = Lifecycle::HttpError(e);
                self.timers.stop_all();
            }
            Role::Client => {
                self.status = Some(CloseStatus::Abnormal);
                self.move_to_closed();
            }
        }
        Error::Handshake(e)
    }

    /// Fails the connection because of `e`: queues the close frame (or, if ours is already
    /// out, ends the connection), ignores further input and arms the close timer.
    fn move_to_failed(&mut self, now: u64, e: ProtocolError) {
        self.failure = Some(Failure::Protocol(e));
        self.rx.frame = None;
        if self.lifecycle.close_sent() {
            // Our close is already out; nothing more to say.
            if self.status.is_none() {
                self.status = Some(CloseStatus::Abnormal);
            }
            self.move_to_closed();
        } else {
            self.status = Some(CloseStatus::Code(e.close_code()));
            self.move_to_closing(now, Closing::Failing(e));
        }
    }

    /// The peer's close frame (`status`) arrived.
    fn move_to_close_received(&mut self, now: u64, status: CloseStatus) {
        self.rx.frame = None;
        self.status = Some(status);
        if self.lifecycle.close_sent() {
            // Ours went first: the client now waits (at most the close timeout) for TCP.
            self.timers
                .set(Timer::Close, now, self.limits.close_timeout_ms);
            self.move_to_closes_exchanged();
        } else {
            let echo = match status {
                CloseStatus::Code(c) => Some(c),
                _ => None,
            };
            self.move_to_closing(now, Closing::Received { echo });
        }
    }

    /// Our close frame (carrying `code`) went out.
    fn move_to_close_sent(&mut self, now: u64, code: Option<CloseCode>) {
        match self.lifecycle {
            Lifecycle::Closing(Closing::Failing(_)) => {
                self.tx.abandon();
                self.move_to_closed();
            }
            Lifecycle::Closing(Closing::Received { .. }) => self.move_to_closes_exchanged(),
            _ => {
                if let Some(c) = code {
                    self.status = Some(CloseStatus::Code(c));
                }
                self.tx.msg = None;
                self.move_to_closing(now, Closing::Sent);
            }
        }
    }

    /// The transport ended. Outside a completed closing handshake the connection ends as
    /// abnormal (1006).
    fn move_to_transport_lost(&mut self) {
        if !self.lifecycle.is_over() {
            self.status = Some(CloseStatus::Abnormal);
            if self.failure.is_none() {
                self.failure = Some(Failure::TransportLost);
            }
        }
        self.move_to_closed();
    }

    // ----------------------------------------------------------------------------------
    // Timers
    // ----------------------------------------------------------------------------------

    /// The next deadline (in the caller's millisecond clock), if any timer is armed.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.timers.next()
    }

    /// Acts on expired deadlines: handshake and authentication deadlines, keepalive pings,
    /// dead-peer detection and the close timeout. Calling it early is harmless.
    pub fn handle_timeout(&mut self, now: u64) {
        match self.lifecycle {
            Lifecycle::AwaitRequest { .. }
            | Lifecycle::AwaitDecision { .. }
            | Lifecycle::RequestUnsent { .. }
            | Lifecycle::AwaitResponse { .. }
            | Lifecycle::RejectBody { .. } => {
                if self.timers.take_expired(Timer::Handshake, now) {
                    let _ = self.move_to_handshake_failed(HandshakeError::Timeout);
                }
            }
            Lifecycle::Open { .. } => {
                if self.timers.take_expired(Timer::Auth, now) {
                    self.move_to_failed(now, ProtocolError::AuthTimeout);
                } else if self.timers.take_expired(Timer::Keepalive, now) {
                    if self.flags.has(Flags::AWAITING_INPUT) {
                        self.status = Some(CloseStatus::Abnormal);
                        self.failure = Some(Failure::DeadPeer);
                        self.move_to_closed();
                    } else {
                        self.flags.set(Flags::PING_QUEUED, true);
                        self.flags.set(Flags::AWAITING_INPUT, true);
                        self.timers
                            .set(Timer::Keepalive, now, self.limits.keepalive_timeout_ms);
                    }
                }
            }
            Lifecycle::Closing(how) => {
                if self.timers.take_expired(Timer::Close, now) {
                    if !matches!(how, Closing::Received { .. }) {
                        self.status = Some(CloseStatus::Abnormal);
                        if self.failure.is_none() {
                            self.failure = Some(Failure::CloseTimeout);
                        }
                    }
                    self.move_to_closed();
                }
            }
            Lifecycle::AwaitTcpClose => {
                if self.timers.take_expired(Timer::Close, now) {
                    self.move_to_closed();
                }
            }
            Lifecycle::HttpError(_) | Lifecycle::Rejecting | Lifecycle::Closed => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfigError;

    #[test]
    fn invalid_config_is_refused_by_every_constructor() {
        let mut c = Config::new();
        c.max_fragments = 0;
        let want = Err(Error::InvalidConfig(ConfigError::NoFragments));
        assert_eq!(Connection::server(c, 0).map(|_| ()), want);
        assert_eq!(Connection::client(c, 0, [0; 16]).map(|_| ()), want);
        assert_eq!(
            Connection::new_open(Role::Server, c, 0, [0; 16]).map(|_| ()),
            want
        );
    }
}
