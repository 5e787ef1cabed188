//! Error types: API misuse ([`Error`]), peer misbehaviour ([`ProtocolError`]) and handshake
//! failures ([`HandshakeError`]). All are small `Copy` enums.

use core::fmt;

use crate::close::CloseCode;
use crate::config::ConfigError;
use crate::handshake::Header;

/// Misuse of the API by the caller. Peer misbehaviour is never reported through this type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    /// The output buffer is too small; `needed` bytes are required. Nothing was written and no
    /// state changed: retry with a larger buffer.
    BufferTooSmall {
        /// The number of bytes the operation needs.
        needed: usize,
    },
    /// The call is not allowed in the connection's current state (for example sending data
    /// before the handshake completed, or after a close frame was sent).
    InvalidState,
    /// The close code may not be sent on the wire (see [`CloseCode::new`]).
    InvalidCloseCode,
    /// A close reason longer than 123 bytes.
    ReasonTooLong,
    /// A ping or pong payload longer than 125 bytes.
    ControlPayloadTooLong,
    /// Outgoing text is not valid UTF-8 (possibly only at the end of the message).
    InvalidUtf8,
    /// A fragment or frame was started while another message is in progress, or a continuation
    /// was sent with no message in progress.
    MessageState,
    /// A streamed frame is partly written: finish its payload with `send_payload` first.
    FrameInProgress,
    /// `send_payload` was given more bytes than the frame declared.
    PayloadOverrun,
    /// No streamed frame is in progress.
    NoFrameInProgress,
    /// A header name or value, host, path, subprotocol or status given for the handshake is not
    /// legal HTTP (for example it contains CR or LF).
    InvalidHeader,
    /// An HTTP status code outside 200..=599 given to `reject`.
    InvalidStatus,
    /// The peer's opening handshake was invalid (server: the error response is queued for
    /// `poll_transmit`; client: the connection is closed).
    Handshake(HandshakeError),
    /// The [`Config`](crate::Config) given to a constructor cannot work.
    InvalidConfig(ConfigError),
    /// A permessage-deflate call on a connection or message that is not compressed, or a
    /// codec whose window is smaller than the one negotiated.
    NotCompressed,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::BufferTooSmall { needed } => {
                write!(f, "output buffer too small: {needed} bytes needed")
            }
            Error::InvalidState => f.write_str("operation not allowed in the current state"),
            Error::InvalidCloseCode => f.write_str("close code may not be sent"),
            Error::ReasonTooLong => f.write_str("close reason longer than 123 bytes"),
            Error::ControlPayloadTooLong => f.write_str("control payload longer than 125 bytes"),
            Error::InvalidUtf8 => f.write_str("outgoing text is not valid UTF-8"),
            Error::MessageState => f.write_str("fragment does not fit the message in progress"),
            Error::FrameInProgress => f.write_str("a streamed frame is still in progress"),
            Error::PayloadOverrun => f.write_str("more payload than the frame declared"),
            Error::NoFrameInProgress => f.write_str("no streamed frame in progress"),
            Error::InvalidHeader => f.write_str("invalid HTTP header, host, path or token"),
            Error::InvalidStatus => f.write_str("invalid HTTP status code"),
            Error::Handshake(e) => write!(f, "handshake failed: {e}"),
            Error::InvalidConfig(e) => write!(f, "invalid configuration: {e}"),
            Error::NotCompressed => {
                f.write_str("no permessage-deflate for this message, or a codec window too small")
            }
        }
    }
}

impl core::error::Error for Error {}

/// A violation of RFC 6455 (or of a configured limit) by the peer. The connection answers each
/// with a close frame carrying [`ProtocolError::close_code`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProtocolError {
    /// RSV1-3 set without a negotiated extension that defines them.
    ReservedBits,
    /// Opcode 3-7 or 0xB-0xF.
    ReservedOpcode,
    /// A control frame without FIN.
    FragmentedControl,
    /// A control frame with more than 125 bytes of payload.
    ControlTooLong,
    /// A server received an unmasked frame.
    UnmaskedFrame,
    /// A client received a masked frame.
    MaskedFrame,
    /// A 64-bit payload length with the most significant bit set.
    LengthOverflow,
    /// A continuation frame with no message in progress.
    UnexpectedContinuation,
    /// A new text or binary frame while a fragmented message is in progress.
    ExpectedContinuation,
    /// Text payload (or a close reason) that is not valid UTF-8.
    InvalidUtf8,
    /// A close frame whose payload is one byte long.
    InvalidClosePayload,
    /// A close frame with a code that may not appear on the wire.
    InvalidCloseCode,
    /// A frame payload over `Config::max_frame_payload`.
    FrameTooLarge,
    /// A message over `Config::max_message_size`.
    MessageTooLarge,
    /// A message in more frames than `Config::max_fragments`.
    TooManyFragments,
    /// The application did not mark the connection authenticated before
    /// `Config::auth_timeout_ms` ran out.
    AuthTimeout,
    /// A compressed message whose deflate data is corrupt (permessage-deflate).
    InvalidCompressedData,
}

impl ProtocolError {
    /// The close code sent to the peer for this violation.
    pub const fn close_code(self) -> CloseCode {
        match self {
            ProtocolError::InvalidUtf8 | ProtocolError::InvalidCompressedData => {
                CloseCode::INVALID_PAYLOAD
            }
            ProtocolError::FrameTooLarge
            | ProtocolError::MessageTooLarge
            | ProtocolError::TooManyFragments => CloseCode::MESSAGE_TOO_BIG,
            ProtocolError::AuthTimeout => CloseCode::POLICY_VIOLATION,
            _ => CloseCode::PROTOCOL_ERROR,
        }
    }

    /// A short description, also used as the reason of the close frame we send.
    pub const fn as_str(self) -> &'static str {
        match self {
            ProtocolError::ReservedBits => "reserved bits set",
            ProtocolError::ReservedOpcode => "reserved opcode",
            ProtocolError::FragmentedControl => "fragmented control frame",
            ProtocolError::ControlTooLong => "control frame too long",
            ProtocolError::UnmaskedFrame => "unmasked frame from client",
            ProtocolError::MaskedFrame => "masked frame from server",
            ProtocolError::LengthOverflow => "payload length overflow",
            ProtocolError::UnexpectedContinuation => "unexpected continuation frame",
            ProtocolError::ExpectedContinuation => "expected continuation frame",
            ProtocolError::InvalidUtf8 => "invalid UTF-8",
            ProtocolError::InvalidClosePayload => "invalid close payload",
            ProtocolError::InvalidCloseCode => "invalid close code",
            ProtocolError::FrameTooLarge => "frame too large",
            ProtocolError::MessageTooLarge => "message too large",
            ProtocolError::TooManyFragments => "too many fragments",
            ProtocolError::AuthTimeout => "authentication timeout",
            ProtocolError::InvalidCompressedData => "invalid compressed data",
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl core::error::Error for ProtocolError {}

/// Why an opening handshake failed.
///
/// On the server, each has an HTTP status ([`HandshakeError::status`]); the connection queues
/// that response, so the caller only flushes `poll_transmit` and closes the transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The HTTP message could not be parsed.
    Malformed,
    /// The request head is larger than `Config::max_handshake_size`.
    TooLarge,
    /// More header lines than the caller's header storage holds.
    TooManyHeaders,
    /// The request method is not GET.
    MethodNotAllowed,
    /// The HTTP version is older than 1.1.
    HttpVersion,
    /// The request has no Host header.
    MissingHost,
    /// No `Upgrade: websocket` header.
    MissingUpgrade,
    /// No `Connection: upgrade` header.
    MissingConnectionUpgrade,
    /// No Sec-WebSocket-Version header, or more than one.
    MissingVersion,
    /// Sec-WebSocket-Version is not 13.
    UnsupportedVersion,
    /// Sec-WebSocket-Key is missing, repeated, or does not decode to 16 bytes.
    InvalidKey,
    /// The Origin is not in the allow-list given to the server.
    OriginNotAllowed,
    /// The handshake deadline (`Config::handshake_timeout_ms`) passed.
    Timeout,
    /// Client: Sec-WebSocket-Accept is missing or does not match the key.
    InvalidAccept,
    /// Client: the server chose a subprotocol that was not offered (or several).
    UnofferedSubprotocol,
    /// Client: the server accepted an extension that was not offered.
    UnofferedExtension,
    /// RFC 8441: the request is not `CONNECT` with `:protocol websocket`.
    NotExtendedConnect,
    /// Client: the server answered with a status other than 101.
    Rejected,
    /// Client: the server's permessage-deflate response is malformed or asks for what this
    /// end cannot do (RFC 7692 §5: the client fails the connection).
    InvalidExtension,
}

impl HandshakeError {
    /// The HTTP status a server answers with.
    pub const fn status(self) -> u16 {
        match self {
            HandshakeError::TooLarge | HandshakeError::TooManyHeaders => 431,
            HandshakeError::MethodNotAllowed => 405,
            HandshakeError::UnsupportedVersion => 426,
            HandshakeError::OriginNotAllowed => 403,
            HandshakeError::Timeout => 408,
            _ => 400,
        }
    }

    /// Headers the server's error response carries besides the body's: `Sec-WebSocket-Version:
    /// 13` with 426 (RFC 6455 §4.4) and `Allow: GET` with 405 (RFC 9110 §15.5.6).
    pub const fn response_headers(self) -> &'static [Header<'static>] {
        match self.status() {
            426 => &[Header {
                name: "Sec-WebSocket-Version",
                value: b"13",
            }],
            405 => &[Header {
                name: "Allow",
                value: b"GET",
            }],
            _ => &[],
        }
    }

    /// A short description.
    pub const fn as_str(self) -> &'static str {
        match self {
            HandshakeError::Malformed => "malformed HTTP message",
            HandshakeError::TooLarge => "handshake too large",
            HandshakeError::TooManyHeaders => "too many headers",
            HandshakeError::MethodNotAllowed => "method is not GET",
            HandshakeError::HttpVersion => "HTTP version older than 1.1",
            HandshakeError::MissingHost => "missing Host header",
            HandshakeError::MissingUpgrade => "missing Upgrade: websocket",
            HandshakeError::MissingConnectionUpgrade => "missing Connection: upgrade",
            HandshakeError::MissingVersion => "missing or repeated Sec-WebSocket-Version",
            HandshakeError::UnsupportedVersion => "Sec-WebSocket-Version is not 13",
            HandshakeError::InvalidKey => "invalid Sec-WebSocket-Key",
            HandshakeError::OriginNotAllowed => "origin not allowed",
            HandshakeError::Timeout => "handshake timed out",
            HandshakeError::InvalidAccept => "invalid Sec-WebSocket-Accept",
            HandshakeError::UnofferedSubprotocol => "server chose a subprotocol not offered",
            HandshakeError::UnofferedExtension => "server accepted an extension not offered",
            HandshakeError::NotExtendedConnect => "not an extended CONNECT for websocket",
            HandshakeError::Rejected => "server rejected the upgrade",
            HandshakeError::InvalidExtension => "invalid permessage-deflate response",
        }
    }
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl core::error::Error for HandshakeError {}
