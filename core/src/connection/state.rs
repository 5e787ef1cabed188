//! The lifecycle: one enum for where a connection is, and the transitions between its states.
//!
//! ```text
//!  server: AwaitRequest ──► AwaitDecision ──accept──┐        ┌──► Closing(Received) ─┐
//!            │  └──────────────┴─reject────► Closed  │        │                        │
//!            │                 └─reject_head► Rejecting ─► Closed                      ├─► AwaitTcpClose ─► Closed
//!            └─bad request / timeout ► HttpError ─poll_transmit─► Closed   (client only) │
//!  client: RequestUnsent ─► AwaitResponse ─101─┴► Open ─┼──► Closing(Sent) ───────────┘
//!                                  └─non-101─► RejectBody ─► Closed      └──► Closing(Failing) ─► Closed
//! ```
//!
//! Every state may also end in `Closed` through `handle_eof`, a timer or a failure.

use crate::close::CloseCode;
use crate::error::{HandshakeError, ProtocolError};
use crate::handshake::body::BodyFraming;
use crate::ReadyState;

/// Where a connection is. Exactly one at a time; the data each state needs lives in it.
#[derive(Clone, Copy, Debug)]
pub(super) enum Lifecycle {
    /// Server: waiting for the upgrade request.
    AwaitRequest {
        /// `Config::max_handshake_size`.
        max_head: u32,
        /// `Config::auth_timeout_ms`, for when the connection opens.
        auth_ms: u32,
    },
    /// Server: the request is valid; the application must accept or reject it.
    AwaitDecision {
        /// The Sec-WebSocket-Accept value for the 101 response.
        accept: [u8; 28],
        /// `Config::auth_timeout_ms`, for when the connection opens.
        auth_ms: u32,
    },
    /// Server: the handshake failed; the standard error response is queued for
    /// `poll_transmit` (the application may send its own with `reject` instead).
    HttpError(HandshakeError),
    /// Server: a refusal head was written with a chunked body; `reject_body` sends the rest.
    Rejecting,
    /// Client: the upgrade request has not been written yet.
    RequestUnsent {
        /// `Config::max_handshake_size`.
        max_head: u32,
    },
    /// Client: waiting for the response to the request with this Sec-WebSocket-Key.
    AwaitResponse {
        /// The key sent.
        key: [u8; 24],
        /// `Config::max_handshake_size`.
        max_head: u32,
    },
    /// Client: the server refused; the rest of its body follows.
    RejectBody {
        /// How the body ends (`Content-Length`, chunked, end of file) and how far it has got.
        body: BodyFraming,
    },
    /// Data flows both ways.
    Open {
        /// The pong answering the latest ping, if one is waiting to be sent.
        pong: PendingPong,
    },
    /// The closing handshake is under way.
    Closing(Closing),
    /// Client: both close frames have been exchanged; the server closes TCP first (RFC 6455
    /// §7.1.1), and the close timer bounds the wait.
    AwaitTcpClose,
    /// Over: the caller should close the transport after flushing `poll_transmit`.
    Closed,
}

/// How far the closing handshake has got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Closing {
    /// The peer's close arrived; our reply, echoing its code (`None`: it sent none), is queued.
    Received {
        /// The code to echo.
        echo: Option<CloseCode>,
    },
    /// We fail the connection: our close with this error's code is queued.
    Failing(ProtocolError),
    /// Our close is out; waiting for the peer's.
    Sent,
}

/// The payload of a pong waiting to be sent, in 126 bytes.
#[derive(Clone, Copy, Debug)]
pub(super) struct PendingPong {
    /// Payload length, or [`PendingPong::NONE`].
    len: u8,
    payload: [u8; 125],
}

impl PendingPong {
    const NONE: u8 = u8::MAX;

    /// No pong waiting.
    pub(super) const fn none() -> PendingPong {
        PendingPong {
            len: PendingPong::NONE,
            payload: [0; 125],
        }
    }

    /// Keeps `payload` (at most 125 bytes: the caller checked) as the pong to send, replacing
    /// any earlier one.
    pub(super) fn set(&mut self, payload: &[u8]) {
        let n = payload.len().min(125);
        for (d, s) in self.payload.iter_mut().zip(payload) {
            *d = *s;
        }
        self.len = n as u8;
    }

    /// The payload, if a pong is waiting.
    pub(super) fn get(&self) -> Option<&[u8]> {
        if self.len == PendingPong::NONE {
            None
        } else {
            self.payload.get(..usize::from(self.len))
        }
    }

    /// Forgets the pong (it was sent).
    pub(super) fn clear(&mut self) {
        self.len = PendingPong::NONE;
    }
}

impl Lifecycle {
    /// The public view of the state, numbered like the browser's `readyState`.
    pub(super) const fn ready_state(&self) -> ReadyState {
        match self {
            Lifecycle::AwaitRequest { .. }
            | Lifecycle::AwaitDecision { .. }
            | Lifecycle::RequestUnsent { .. }
            | Lifecycle::AwaitResponse { .. } => ReadyState::Connecting,
            Lifecycle::Open { .. } => ReadyState::Open,
            Lifecycle::Closing(_) => ReadyState::Closing,
            Lifecycle::HttpError(_)
            | Lifecycle::Rejecting
            | Lifecycle::RejectBody { .. }
            | Lifecycle::AwaitTcpClose
            | Lifecycle::Closed => ReadyState::Closed,
        }
    }

    /// The opening handshake has not completed (and has not failed).
    pub(super) const fn in_handshake(&self) -> bool {
        matches!(
            self,
            Lifecycle::AwaitRequest { .. }
                | Lifecycle::AwaitDecision { .. }
                | Lifecycle::RequestUnsent { .. }
                | Lifecycle::AwaitResponse { .. }
        )
    }

    /// Frames from the peer are processed (else input is consumed and ignored).
    pub(super) const fn receives_frames(&self) -> bool {
        matches!(
            self,
            Lifecycle::Open { .. } | Lifecycle::Closing(Closing::Sent)
        )
    }

    /// Our close frame has been sent (or the connection is over).
    pub(super) const fn close_sent(&self) -> bool {
        matches!(
            self,
            Lifecycle::Closing(Closing::Sent) | Lifecycle::AwaitTcpClose | Lifecycle::Closed
        )
    }

    /// No more frames of any kind may be written (the close handshake is complete or the
    /// connection is over).
    pub(super) const fn is_over(&self) -> bool {
        matches!(self, Lifecycle::AwaitTcpClose | Lifecycle::Closed)
    }
}
