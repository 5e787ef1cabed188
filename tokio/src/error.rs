//! The crate's error type.

use std::fmt;
use std::io;

use wsmachine::{HandshakeError, ProtocolError};

/// What can go wrong on a WebSocket connection.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The transport failed (or, for a client, could not be reached; TLS errors arrive here
    /// too). The connection is over; its close status is 1006.
    Io(io::Error),
    /// The peer broke the protocol or a limit of [`Config`](crate::Config): a close frame
    /// with [`ProtocolError::close_code`] was sent (1002, 1007, 1008, 1009…) and the
    /// connection ended.
    Protocol(ProtocolError),
    /// The opening handshake failed: an invalid request (server; the matching HTTP error
    /// response was sent), an invalid response (client), or its deadline passed.
    Handshake(HandshakeError),
    /// Client: the server refused the upgrade with this HTTP status and body (the body is
    /// cut at [`MAX_REJECT_BODY`](crate::MAX_REJECT_BODY) bytes).
    Rejected {
        /// The HTTP status.
        status: u16,
        /// The response body.
        body: Vec<u8>,
    },
    /// The connection is closing or closed: nothing more can be sent.
    Closed,
    /// [`try_send`](crate::WsWriter::try_send): the send queue is above its high-water mark
    /// ([`Options::send_queue_limit`](crate::Options::send_queue_limit)). Nothing was queued.
    Full,
    /// A send did not complete within
    /// [`Options::send_timeout`](crate::Options::send_timeout): the peer is not reading. The
    /// connection was abandoned (close status 1006).
    SendTimeout,
    /// `connect`: the URL is not a usable `ws://` or `wss://` URL.
    Url(&'static str),
    /// A call the connection refused (a close code that may not be sent, a reason over 123
    /// bytes, a ping payload over 125 bytes…): nothing was sent.
    Usage(wsmachine::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::Protocol(e) => write!(f, "protocol error: {e}"),
            Error::Handshake(e) => write!(f, "handshake failed: {e}"),
            Error::Rejected { status, .. } => write!(f, "the server refused with HTTP {status}"),
            Error::Closed => f.write_str("the connection is closed"),
            Error::Full => f.write_str("the send queue is full"),
            Error::SendTimeout => f.write_str("send timed out (the peer is not reading)"),
            Error::Url(why) => write!(f, "invalid URL: {why}"),
            Error::Usage(e) => write!(f, "refused: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Error {
        Error::Io(e)
    }
}

/// Maps an error of a send or close call of the core.
pub(crate) fn from_core(e: wsmachine::Error) -> Error {
    match e {
        wsmachine::Error::InvalidState => Error::Closed,
        wsmachine::Error::Handshake(h) => Error::Handshake(h),
        other => Error::Usage(other),
    }
}
