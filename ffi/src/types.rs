//! C-visible types: results, enums, plain structs. The enums' discriminants are the only
//! place their numbers are written (see `c_enum.rs`).

use core::ffi::c_char;

use wsmachine::{Error, HandshakeError, Phase, ProtocolError, ReadyState};

use crate::c_enum::c_enum;

/// The result of every fallible call. The numbers are ABI: never renumbered.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum wsm_result {
    /// Success.
    WSM_OK = 0,
    /// A required pointer argument was NULL.
    WSM_ERR_NULL = 1,
    /// The handle was not initialised by wsm_conn_init / wsm_conn_new (or was freed).
    WSM_ERR_INVALID_HANDLE = 2,
    /// An argument is out of range (an unknown enum value, a string that is not UTF-8,
    /// too many headers or subprotocols).
    WSM_ERR_INVALID_ARGUMENT = 3,
    /// A Rust panic was caught at the boundary (a library bug); the handle is unusable.
    WSM_ERR_PANIC = 4,
    /// The memory given to wsm_conn_init, wsm_inflater_init or wsm_deflater_init is too small
    /// or misaligned.
    WSM_ERR_MEMORY = 5,
    /// The output buffer is too small; *written holds the size needed. Nothing changed.
    WSM_ERR_BUFFER_TOO_SMALL = 10,
    /// The call is not allowed in the connection's current state.
    WSM_ERR_INVALID_STATE = 11,
    /// The close code may not be sent (allowed: 1000-1003, 1007-1014, 3000-4999).
    WSM_ERR_INVALID_CLOSE_CODE = 12,
    /// A close reason longer than 123 bytes.
    WSM_ERR_REASON_TOO_LONG = 13,
    /// A ping or pong payload longer than 125 bytes.
    WSM_ERR_CONTROL_TOO_LONG = 14,
    /// Outgoing text is not valid UTF-8.
    WSM_ERR_INVALID_UTF8 = 15,
    /// A fragment does not fit the message in progress.
    WSM_ERR_MESSAGE_STATE = 16,
    /// A streamed frame is still in progress (finish it with wsm_send_payload).
    WSM_ERR_FRAME_IN_PROGRESS = 17,
    /// wsm_send_payload was given more bytes than the frame declared.
    WSM_ERR_PAYLOAD_OVERRUN = 18,
    /// wsm_send_payload without wsm_begin_frame.
    WSM_ERR_NO_FRAME_IN_PROGRESS = 19,
    /// A header, host, target or subprotocol is not legal HTTP (e.g. contains CR/LF), or a
    /// header wsm_reject / wsm_reject_head write themselves (Content-Length,
    /// Transfer-Encoding, Connection).
    WSM_ERR_INVALID_HEADER = 20,
    /// An HTTP status outside 200-599 given to wsm_reject or wsm_reject_head.
    WSM_ERR_INVALID_STATUS = 21,
    /// The peer's opening handshake was invalid; see wsm_failure(). A server has queued the
    /// HTTP error response: flush wsm_poll_transmit and close.
    WSM_ERR_HANDSHAKE = 22,
    /// The wsm_config cannot work (e.g. max_fragments 0, allowed_rsv above 7, keepalive on
    /// with keepalive_timeout_ms 0, a timeout over 2147483647 ms, deflate window bits outside
    /// 8-15 or a level above 9, deflate with RSV1 in allowed_rsv, deflate enabled in a library
    /// built without it): the core's `Config::validate` or the C layer refused it.
    WSM_ERR_INVALID_CONFIG = 23,
    /// permessage-deflate: the event is not a compressed data chunk (WSM_FLAG_COMPRESSED), no
    /// extension was agreed, or the codec's window does not fit what was agreed (an inflater
    /// smaller than the peer's window, a compressor larger than this end may use).
    WSM_ERR_NOT_COMPRESSED = 24,
    /// permessage-deflate: a shared compressor (wsm_deflater_init with shared) was used on a
    /// connection where this end keeps context between messages (no no_context_takeover).
    WSM_ERR_SHARED_CONTEXT = 25,
    /// permessage-deflate: the shared compressor is in the middle of another connection's
    /// fragmented message (finish that message, or wsm_deflater_reset).
    WSM_ERR_CODEC_BUSY = 26,
    /// An error this version of the header does not know.
    WSM_ERR_OTHER = 99,
}
c_enum!(wsm_result {
    WSM_OK,
    WSM_ERR_NULL,
    WSM_ERR_INVALID_HANDLE,
    WSM_ERR_INVALID_ARGUMENT,
    WSM_ERR_PANIC,
    WSM_ERR_MEMORY,
    WSM_ERR_BUFFER_TOO_SMALL,
    WSM_ERR_INVALID_STATE,
    WSM_ERR_INVALID_CLOSE_CODE,
    WSM_ERR_REASON_TOO_LONG,
    WSM_ERR_CONTROL_TOO_LONG,
    WSM_ERR_INVALID_UTF8,
    WSM_ERR_MESSAGE_STATE,
    WSM_ERR_FRAME_IN_PROGRESS,
    WSM_ERR_PAYLOAD_OVERRUN,
    WSM_ERR_NO_FRAME_IN_PROGRESS,
    WSM_ERR_INVALID_HEADER,
    WSM_ERR_INVALID_STATUS,
    WSM_ERR_HANDSHAKE,
    WSM_ERR_INVALID_CONFIG,
    WSM_ERR_NOT_COMPRESSED,
    WSM_ERR_SHARED_CONTEXT,
    WSM_ERR_CODEC_BUSY,
    WSM_ERR_OTHER
});

impl From<Error> for wsm_result {
    fn from(e: Error) -> wsm_result {
        use wsm_result::*;
        match e {
            Error::BufferTooSmall { .. } => WSM_ERR_BUFFER_TOO_SMALL,
            Error::InvalidState => WSM_ERR_INVALID_STATE,
            Error::InvalidCloseCode => WSM_ERR_INVALID_CLOSE_CODE,
            Error::ReasonTooLong => WSM_ERR_REASON_TOO_LONG,
            Error::ControlPayloadTooLong => WSM_ERR_CONTROL_TOO_LONG,
            Error::InvalidUtf8 => WSM_ERR_INVALID_UTF8,
            Error::MessageState => WSM_ERR_MESSAGE_STATE,
            Error::FrameInProgress => WSM_ERR_FRAME_IN_PROGRESS,
            Error::PayloadOverrun => WSM_ERR_PAYLOAD_OVERRUN,
            Error::NoFrameInProgress => WSM_ERR_NO_FRAME_IN_PROGRESS,
            Error::InvalidHeader => WSM_ERR_INVALID_HEADER,
            Error::InvalidStatus => WSM_ERR_INVALID_STATUS,
            Error::Handshake(_) => WSM_ERR_HANDSHAKE,
            Error::InvalidConfig(_) => WSM_ERR_INVALID_CONFIG,
            Error::NotCompressed => WSM_ERR_NOT_COMPRESSED,
            _ => WSM_ERR_OTHER,
        }
    }
}

/// Which end of the connection (pass as uint32_t).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum wsm_role {
    /// Sends the upgrade request; masks its frames.
    WSM_ROLE_CLIENT = 0,
    /// Answers the upgrade request.
    WSM_ROLE_SERVER = 1,
}
c_enum!(wsm_role {
    WSM_ROLE_CLIENT,
    WSM_ROLE_SERVER
});

/// The type of a data message (pass as uint32_t).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum wsm_message_kind {
    /// UTF-8 text.
    WSM_TEXT = 1,
    /// Binary.
    WSM_BINARY = 2,
}
c_enum!(wsm_message_kind {
    WSM_TEXT,
    WSM_BINARY
});

/// The connection state, numbered like the browser's WebSocket.readyState.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum wsm_ready_state {
    /// Opening handshake in progress.
    WSM_CONNECTING = 0,
    /// Open.
    WSM_OPEN = 1,
    /// Closing handshake in progress.
    WSM_CLOSING = 2,
    /// Closed.
    WSM_CLOSED = 3,
}
c_enum!(wsm_ready_state {
    WSM_CONNECTING,
    WSM_OPEN,
    WSM_CLOSING,
    WSM_CLOSED
});

impl From<ReadyState> for wsm_ready_state {
    fn from(s: ReadyState) -> Self {
        match s {
            ReadyState::Connecting => wsm_ready_state::WSM_CONNECTING,
            ReadyState::Open => wsm_ready_state::WSM_OPEN,
            ReadyState::Closing => wsm_ready_state::WSM_CLOSING,
            ReadyState::Closed => wsm_ready_state::WSM_CLOSED,
        }
    }
}

/// A finer view of the state than wsm_ready_state (mirrors the Rust Phase): which side
/// started the closing handshake, and whether a refusal is being streamed.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum wsm_conn_phase {
    /// The opening handshake has not completed.
    WSM_PHASE_HANDSHAKE = 0,
    /// Server: a refusal with a streamed body is being sent (wsm_reject_head, then
    /// wsm_reject_body). Client: the body of a refusal is arriving (WSM_EVENT_REJECT_BODY).
    WSM_PHASE_REJECTING = 1,
    /// Data may be sent and received.
    WSM_PHASE_OPEN = 2,
    /// We sent a close frame and wait for the peer's.
    WSM_PHASE_LOCAL_CLOSING = 3,
    /// The peer's close arrived (or the connection is failing): our close is queued for
    /// wsm_poll_transmit.
    WSM_PHASE_REMOTE_CLOSING = 4,
    /// The connection is over.
    WSM_PHASE_CLOSED = 5,
    /// A phase this version of the header does not know.
    WSM_PHASE_OTHER = 99,
}
c_enum!(wsm_conn_phase {
    WSM_PHASE_HANDSHAKE,
    WSM_PHASE_REJECTING,
    WSM_PHASE_OPEN,
    WSM_PHASE_LOCAL_CLOSING,
    WSM_PHASE_REMOTE_CLOSING,
    WSM_PHASE_CLOSED,
    WSM_PHASE_OTHER
});

impl From<Phase> for wsm_conn_phase {
    fn from(p: Phase) -> Self {
        use wsm_conn_phase::*;
        match p {
            Phase::Handshake => WSM_PHASE_HANDSHAKE,
            Phase::Rejecting => WSM_PHASE_REJECTING,
            Phase::Open => WSM_PHASE_OPEN,
            Phase::LocalClosing => WSM_PHASE_LOCAL_CLOSING,
            Phase::RemoteClosing => WSM_PHASE_REMOTE_CLOSING,
            Phase::Closed => WSM_PHASE_CLOSED,
            _ => WSM_PHASE_OTHER,
        }
    }
}

/// What wsm_read reported.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum wsm_event_type {
    /// No event: more input is needed.
    WSM_EVENT_NONE = 0,
    /// Message payload (data/len; flags say text, message start, frame end, message end).
    WSM_EVENT_DATA = 1,
    /// A ping (payload in data/len); with auto_pong the pong is queued.
    WSM_EVENT_PING = 2,
    /// A pong (payload in data/len).
    WSM_EVENT_PONG = 3,
    /// The peer's close frame: close_code (1005 when it had none), reason in data/len.
    WSM_EVENT_CLOSE = 4,
    /// The peer violated the protocol: error, and close_code we are sending.
    WSM_EVENT_FAILED = 5,
    /// Client: more of a rejection body, decoded (a chunked body without its chunk framing;
    /// data/len point at the data bytes in the input). Flag WSM_FLAG_BODY_FIN on the last
    /// piece (which may be empty); the connection is then closed.
    WSM_EVENT_REJECT_BODY = 6,
}
c_enum!(wsm_event_type {
    WSM_EVENT_NONE,
    WSM_EVENT_DATA,
    WSM_EVENT_PING,
    WSM_EVENT_PONG,
    WSM_EVENT_CLOSE,
    WSM_EVENT_FAILED,
    WSM_EVENT_REJECT_BODY
});

/// wsm_event.flags: the message is text.
pub const WSM_FLAG_TEXT: u32 = 1;
/// wsm_event.flags: first chunk of a message.
pub const WSM_FLAG_MESSAGE_START: u32 = 2;
/// wsm_event.flags: last chunk of a frame.
pub const WSM_FLAG_FRAME_FIN: u32 = 4;
/// wsm_event.flags: last chunk of a message.
pub const WSM_FLAG_MESSAGE_FIN: u32 = 8;
/// wsm_event.flags: last piece of a rejection body: Content-Length reached, or a chunked body's
/// last chunk and trailers read. An invalid chunked encoding also ends the body (the data
/// before the bad byte is delivered, the rest of the input consumed).
pub const WSM_FLAG_BODY_FIN: u32 = 16;
/// wsm_event.flags: the message is compressed (permessage-deflate): data/len are deflate
/// data; pass the event to wsm_inflate for the message bytes.
pub const WSM_FLAG_COMPRESSED: u32 = 32;
/// wsm_poll_timeout: no timer armed.
pub const WSM_NO_TIMEOUT: u64 = u64::MAX;
/// Most headers wsm_read_request / wsm_read_response parse, and most extra headers,
/// subprotocols or extensions accepted in one call.
pub const WSM_MAX_HEADERS: usize = 64;

/// A peer's protocol violation (mirrors the Rust ProtocolError).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum wsm_protocol_error {
    /// None.
    WSM_PE_NONE = 0,
    /// RSV bits set without an extension.
    WSM_PE_RESERVED_BITS = 1,
    /// Reserved opcode.
    WSM_PE_RESERVED_OPCODE = 2,
    /// Control frame without FIN.
    WSM_PE_FRAGMENTED_CONTROL = 3,
    /// Control frame over 125 bytes.
    WSM_PE_CONTROL_TOO_LONG = 4,
    /// Server received an unmasked frame.
    WSM_PE_UNMASKED_FRAME = 5,
    /// Client received a masked frame.
    WSM_PE_MASKED_FRAME = 6,
    /// 64-bit length with the top bit set.
    WSM_PE_LENGTH_OVERFLOW = 7,
    /// Continuation without a message in progress.
    WSM_PE_UNEXPECTED_CONTINUATION = 8,
    /// New data frame while a message is in progress.
    WSM_PE_EXPECTED_CONTINUATION = 9,
    /// Invalid UTF-8 in text or a close reason.
    WSM_PE_INVALID_UTF8 = 10,
    /// Close frame with a 1-byte payload.
    WSM_PE_INVALID_CLOSE_PAYLOAD = 11,
    /// Close frame with a code that may not be sent.
    WSM_PE_INVALID_CLOSE_CODE = 12,
    /// Frame over max_frame_payload.
    WSM_PE_FRAME_TOO_LARGE = 13,
    /// Message over max_message_size.
    WSM_PE_MESSAGE_TOO_LARGE = 14,
    /// Message in more than max_fragments frames.
    WSM_PE_TOO_MANY_FRAGMENTS = 15,
    /// The application did not authenticate in time.
    WSM_PE_AUTH_TIMEOUT = 16,
    /// permessage-deflate: a compressed message whose deflate data is corrupt (1007).
    WSM_PE_INVALID_COMPRESSED_DATA = 17,
    /// A violation this header does not know.
    WSM_PE_OTHER = 99,
}
c_enum!(wsm_protocol_error {
    WSM_PE_NONE,
    WSM_PE_RESERVED_BITS,
    WSM_PE_RESERVED_OPCODE,
    WSM_PE_FRAGMENTED_CONTROL,
    WSM_PE_CONTROL_TOO_LONG,
    WSM_PE_UNMASKED_FRAME,
    WSM_PE_MASKED_FRAME,
    WSM_PE_LENGTH_OVERFLOW,
    WSM_PE_UNEXPECTED_CONTINUATION,
    WSM_PE_EXPECTED_CONTINUATION,
    WSM_PE_INVALID_UTF8,
    WSM_PE_INVALID_CLOSE_PAYLOAD,
    WSM_PE_INVALID_CLOSE_CODE,
    WSM_PE_FRAME_TOO_LARGE,
    WSM_PE_MESSAGE_TOO_LARGE,
    WSM_PE_TOO_MANY_FRAGMENTS,
    WSM_PE_AUTH_TIMEOUT,
    WSM_PE_INVALID_COMPRESSED_DATA,
    WSM_PE_OTHER
});

impl From<ProtocolError> for wsm_protocol_error {
    fn from(e: ProtocolError) -> Self {
        use wsm_protocol_error::*;
        match e {
            ProtocolError::ReservedBits => WSM_PE_RESERVED_BITS,
            ProtocolError::ReservedOpcode => WSM_PE_RESERVED_OPCODE,
            ProtocolError::FragmentedControl => WSM_PE_FRAGMENTED_CONTROL,
            ProtocolError::ControlTooLong => WSM_PE_CONTROL_TOO_LONG,
            ProtocolError::UnmaskedFrame => WSM_PE_UNMASKED_FRAME,
            ProtocolError::MaskedFrame => WSM_PE_MASKED_FRAME,
            ProtocolError::LengthOverflow => WSM_PE_LENGTH_OVERFLOW,
            ProtocolError::UnexpectedContinuation => WSM_PE_UNEXPECTED_CONTINUATION,
            ProtocolError::ExpectedContinuation => WSM_PE_EXPECTED_CONTINUATION,
            ProtocolError::InvalidUtf8 => WSM_PE_INVALID_UTF8,
            ProtocolError::InvalidClosePayload => WSM_PE_INVALID_CLOSE_PAYLOAD,
            ProtocolError::InvalidCloseCode => WSM_PE_INVALID_CLOSE_CODE,
            ProtocolError::FrameTooLarge => WSM_PE_FRAME_TOO_LARGE,
            ProtocolError::MessageTooLarge => WSM_PE_MESSAGE_TOO_LARGE,
            ProtocolError::TooManyFragments => WSM_PE_TOO_MANY_FRAGMENTS,
            ProtocolError::AuthTimeout => WSM_PE_AUTH_TIMEOUT,
            ProtocolError::InvalidCompressedData => WSM_PE_INVALID_COMPRESSED_DATA,
            _ => WSM_PE_OTHER,
        }
    }
}

/// Why an opening handshake failed (mirrors the Rust HandshakeError).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum wsm_handshake_error {
    /// None.
    WSM_HE_NONE = 0,
    /// Unparseable HTTP (400).
    WSM_HE_MALFORMED = 1,
    /// Head over max_handshake_size (431).
    WSM_HE_TOO_LARGE = 2,
    /// More headers than the storage holds (431).
    WSM_HE_TOO_MANY_HEADERS = 3,
    /// Not GET (405).
    WSM_HE_METHOD_NOT_ALLOWED = 4,
    /// HTTP/1.0 (400).
    WSM_HE_HTTP_VERSION = 5,
    /// No Host (400).
    WSM_HE_MISSING_HOST = 6,
    /// No Upgrade: websocket (400).
    WSM_HE_MISSING_UPGRADE = 7,
    /// No Connection: upgrade (400).
    WSM_HE_MISSING_CONNECTION_UPGRADE = 8,
    /// No (or repeated) Sec-WebSocket-Version (400).
    WSM_HE_MISSING_VERSION = 9,
    /// Version not 13 (426).
    WSM_HE_UNSUPPORTED_VERSION = 10,
    /// Bad Sec-WebSocket-Key (400).
    WSM_HE_INVALID_KEY = 11,
    /// Origin not allowed (403).
    WSM_HE_ORIGIN_NOT_ALLOWED = 12,
    /// Handshake deadline passed (408).
    WSM_HE_TIMEOUT = 13,
    /// Client: bad Sec-WebSocket-Accept.
    WSM_HE_INVALID_ACCEPT = 14,
    /// Client: subprotocol not offered.
    WSM_HE_UNOFFERED_SUBPROTOCOL = 15,
    /// Client: extension not offered.
    WSM_HE_UNOFFERED_EXTENSION = 16,
    /// RFC 8441: not an extended CONNECT.
    WSM_HE_NOT_EXTENDED_CONNECT = 17,
    /// Client: the server answered with a status other than 101.
    WSM_HE_REJECTED = 18,
    /// Client: the server's permessage-deflate response is malformed or asks for what this
    /// end cannot do (RFC 7692 §5: the client fails the connection).
    WSM_HE_INVALID_EXTENSION = 19,
    /// A failure this header does not know.
    WSM_HE_OTHER = 99,
}
c_enum!(wsm_handshake_error {
    WSM_HE_NONE,
    WSM_HE_MALFORMED,
    WSM_HE_TOO_LARGE,
    WSM_HE_TOO_MANY_HEADERS,
    WSM_HE_METHOD_NOT_ALLOWED,
    WSM_HE_HTTP_VERSION,
    WSM_HE_MISSING_HOST,
    WSM_HE_MISSING_UPGRADE,
    WSM_HE_MISSING_CONNECTION_UPGRADE,
    WSM_HE_MISSING_VERSION,
    WSM_HE_UNSUPPORTED_VERSION,
    WSM_HE_INVALID_KEY,
    WSM_HE_ORIGIN_NOT_ALLOWED,
    WSM_HE_TIMEOUT,
    WSM_HE_INVALID_ACCEPT,
    WSM_HE_UNOFFERED_SUBPROTOCOL,
    WSM_HE_UNOFFERED_EXTENSION,
    WSM_HE_NOT_EXTENDED_CONNECT,
    WSM_HE_REJECTED,
    WSM_HE_INVALID_EXTENSION,
    WSM_HE_OTHER
});

impl From<HandshakeError> for wsm_handshake_error {
    fn from(e: HandshakeError) -> Self {
        use wsm_handshake_error::*;
        match e {
            HandshakeError::Malformed => WSM_HE_MALFORMED,
            HandshakeError::TooLarge => WSM_HE_TOO_LARGE,
            HandshakeError::TooManyHeaders => WSM_HE_TOO_MANY_HEADERS,
            HandshakeError::MethodNotAllowed => WSM_HE_METHOD_NOT_ALLOWED,
            HandshakeError::HttpVersion => WSM_HE_HTTP_VERSION,
            HandshakeError::MissingHost => WSM_HE_MISSING_HOST,
            HandshakeError::MissingUpgrade => WSM_HE_MISSING_UPGRADE,
            HandshakeError::MissingConnectionUpgrade => WSM_HE_MISSING_CONNECTION_UPGRADE,
            HandshakeError::MissingVersion => WSM_HE_MISSING_VERSION,
            HandshakeError::UnsupportedVersion => WSM_HE_UNSUPPORTED_VERSION,
            HandshakeError::InvalidKey => WSM_HE_INVALID_KEY,
            HandshakeError::OriginNotAllowed => WSM_HE_ORIGIN_NOT_ALLOWED,
            HandshakeError::Timeout => WSM_HE_TIMEOUT,
            HandshakeError::InvalidAccept => WSM_HE_INVALID_ACCEPT,
            HandshakeError::UnofferedSubprotocol => WSM_HE_UNOFFERED_SUBPROTOCOL,
            HandshakeError::UnofferedExtension => WSM_HE_UNOFFERED_EXTENSION,
            HandshakeError::NotExtendedConnect => WSM_HE_NOT_EXTENDED_CONNECT,
            HandshakeError::Rejected => WSM_HE_REJECTED,
            HandshakeError::InvalidExtension => WSM_HE_INVALID_EXTENSION,
            _ => WSM_HE_OTHER,
        }
    }
}

impl wsm_handshake_error {
    /// The Rust error a server may fail the handshake with (wsm_fail_handshake): the problems
    /// of a request. `None` for NONE, OTHER and the client-side failures.
    pub fn to_rust(self) -> Option<HandshakeError> {
        use wsm_handshake_error::*;
        Some(match self {
            WSM_HE_MALFORMED => HandshakeError::Malformed,
            WSM_HE_TOO_LARGE => HandshakeError::TooLarge,
            WSM_HE_TOO_MANY_HEADERS => HandshakeError::TooManyHeaders,
            WSM_HE_METHOD_NOT_ALLOWED => HandshakeError::MethodNotAllowed,
            WSM_HE_HTTP_VERSION => HandshakeError::HttpVersion,
            WSM_HE_MISSING_HOST => HandshakeError::MissingHost,
            WSM_HE_MISSING_UPGRADE => HandshakeError::MissingUpgrade,
            WSM_HE_MISSING_CONNECTION_UPGRADE => HandshakeError::MissingConnectionUpgrade,
            WSM_HE_MISSING_VERSION => HandshakeError::MissingVersion,
            WSM_HE_UNSUPPORTED_VERSION => HandshakeError::UnsupportedVersion,
            WSM_HE_INVALID_KEY => HandshakeError::InvalidKey,
            WSM_HE_ORIGIN_NOT_ALLOWED => HandshakeError::OriginNotAllowed,
            WSM_HE_TIMEOUT => HandshakeError::Timeout,
            WSM_HE_NONE
            | WSM_HE_INVALID_ACCEPT
            | WSM_HE_UNOFFERED_SUBPROTOCOL
            | WSM_HE_UNOFFERED_EXTENSION
            | WSM_HE_NOT_EXTENDED_CONNECT
            | WSM_HE_REJECTED
            | WSM_HE_INVALID_EXTENSION
            | WSM_HE_OTHER => return None,
        })
    }
}

/// Why a connection failed (wsm_failure_info.kind).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum wsm_failure_kind {
    /// It did not fail (yet).
    WSM_FAILURE_NONE = 0,
    /// A protocol violation by the peer (see protocol_error).
    WSM_FAILURE_PROTOCOL = 1,
    /// The opening handshake failed (see handshake_error).
    WSM_FAILURE_HANDSHAKE = 2,
    /// Keepalive: the peer stopped answering.
    WSM_FAILURE_DEAD_PEER = 3,
    /// The peer did not answer our close in time.
    WSM_FAILURE_CLOSE_TIMEOUT = 4,
    /// The transport ended before the closing handshake (wsm_handle_eof).
    WSM_FAILURE_TRANSPORT_LOST = 5,
}
c_enum!(wsm_failure_kind {
    WSM_FAILURE_NONE,
    WSM_FAILURE_PROTOCOL,
    WSM_FAILURE_HANDSHAKE,
    WSM_FAILURE_DEAD_PEER,
    WSM_FAILURE_CLOSE_TIMEOUT,
    WSM_FAILURE_TRANSPORT_LOST
});

/// Details of a failure, from wsm_failure().
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct wsm_failure_info {
    /// What kind of failure.
    pub kind: wsm_failure_kind,
    /// With WSM_FAILURE_PROTOCOL: which violation.
    pub protocol_error: wsm_protocol_error,
    /// With WSM_FAILURE_HANDSHAKE: which problem.
    pub handshake_error: wsm_handshake_error,
    /// With WSM_FAILURE_HANDSHAKE on a server: the HTTP status of the queued response.
    pub http_status: u16,
    /// The close status the connection reports (1005/1006 included), 0 if none yet.
    pub close_status: u16,
}

/// Limits and options; fill with wsm_config_default() first. See the Rust `Config` docs for
/// the defaults and the close code each limit produces.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct wsm_config {
    /// Largest frame payload accepted (default 16 MiB; over it: close 1009).
    pub max_frame_payload: u64,
    /// Largest message accepted (default 16 MiB; over it: close 1009).
    pub max_message_size: u64,
    /// Most frames per message (default 65536; over it: close 1009).
    pub max_fragments: u32,
    /// Largest handshake head (default 8192; over it: 431).
    pub max_handshake_size: u32,
    /// Handshake deadline in ms (default 10000; 0 = off).
    pub handshake_timeout_ms: u32,
    /// Server: authentication deadline after accept in ms (default 0 = off; else close 1008).
    pub auth_timeout_ms: u32,
    /// Ping after this many ms without input (default 0 = off).
    pub keepalive_interval_ms: u32,
    /// With keepalive: ms to wait for input after our ping (default 10000).
    pub keepalive_timeout_ms: u32,
    /// Close-handshake timeout in ms (default 5000; 0 = wait forever).
    pub close_timeout_ms: u32,
    /// 1 = answer pings automatically (default), 0 = don't. Only the latest unsent pong is
    /// kept: to answer every ping, call wsm_poll_transmit after each wsm_read event.
    pub auto_pong: u8,
    /// RSV bits an application-level extension uses (default 0).
    pub allowed_rsv: u8,
    /// permessage-deflate (RFC 7692): off by default.
    pub deflate: wsm_deflate_config,
}

/// permessage-deflate settings (wsm_config.deflate). The window bits and context-takeover
/// settings are what this end offers (client) or accepts (server); what was agreed is read
/// after the handshake with wsm_get_deflate.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct wsm_deflate_config {
    /// 1 = a client offers / a server accepts permessage-deflate (the connection writes the
    /// Sec-WebSocket-Extensions header itself), 0 = not (default 0).
    pub enabled: u8,
    /// Window bits (8-15) of the messages this end sends: the most its compressor may use
    /// (default 15).
    pub compress_window_bits: u8,
    /// Window bits (8-15) of this end's inflater: the largest window the peer may use
    /// (default 15).
    pub decompress_window_bits: u8,
    /// Smallest window bits (8 or 9) this end's compressor can use; an offer or a response
    /// that would force a smaller one is declined. wsm_deflater works with 8 (default 9).
    pub min_window_bits: u8,
    /// Compression level 0-9 for wsm_deflater_size / wsm_deflater_init (0 stores, 1 fastest,
    /// 9 smallest), reported back by wsm_get_deflate (default 6).
    pub level: u8,
    /// 1 = this end resets its compressor after each message and says so in the handshake
    /// (needed for a shared compressor), 0 = it keeps context (default 0).
    pub no_context_takeover: u8,
    /// 1 = ask (client) or require (server, when the client allows it) that the peer resets
    /// its compressor after each message, 0 = no (default 0).
    pub peer_no_context_takeover: u8,
    /// Messages shorter than this many bytes are sent uncompressed by wsm_send_compressed
    /// (default 32).
    pub min_message_size: u32,
}

/// What permessage-deflate parameters were agreed (wsm_get_deflate, wsm_set_deflate).
/// The first five fields are the RFC 7692 parameters; the rest say what they mean for this
/// end (filled in by wsm_get_deflate, ignored by wsm_set_deflate).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct wsm_deflate_params {
    /// permessage-deflate is in use (every other field is 0 when it is not).
    pub agreed: bool,
    /// The server resets its compressor after each message.
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after each message.
    pub client_no_context_takeover: bool,
    /// Window bits of the server's compressor (8-15).
    pub server_max_window_bits: u8,
    /// Window bits of the client's compressor (8-15).
    pub client_max_window_bits: u8,
    /// This end: the window bits its wsm_inflater needs (wsm_inflater_size).
    pub inflate_window_bits: u8,
    /// This end: the window bits its wsm_deflater must use (wsm_deflater_size); a smaller
    /// window also works.
    pub compress_window_bits: u8,
    /// This end resets its compressor after each message: a shared compressor may be used.
    pub compress_resets: bool,
    /// The peer resets its compressor after each message: the inflater keeps no history.
    pub inflate_resets: bool,
    /// The level of wsm_config.deflate.level (for wsm_deflater_size / wsm_deflater_init).
    pub level: u8,
}

/// What one wsm_inflate call did.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct wsm_inflated {
    /// Bytes of the input used: pass the rest in the next call.
    pub consumed: usize,
    /// Bytes of message data written to the start of `out`.
    pub produced: usize,
    /// The chunk is fully inflated (all input used, nothing held back; for the last chunk of
    /// a message, the message is complete). If false, call again with the rest of the input
    /// and output room.
    pub done: bool,
    /// WSM_PE_NONE, or why the connection failed: WSM_PE_MESSAGE_TOO_LARGE (the message
    /// inflates past max_message_size, close 1009), WSM_PE_INVALID_COMPRESSED_DATA or
    /// WSM_PE_INVALID_UTF8 (1007). Then flush wsm_poll_transmit and drop the message.
    pub failed: wsm_protocol_error,
    /// With a failure: the close code being sent (1007 or 1009), else 0.
    pub close_code: u16,
}

/// A string borrowed from an input buffer: not NUL-terminated. `ptr` is NULL when absent.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct wsm_str {
    /// The bytes (UTF-8), or NULL.
    pub ptr: *const c_char,
    /// Their length.
    pub len: usize,
}

impl wsm_str {
    pub(crate) const NONE: wsm_str = wsm_str {
        ptr: core::ptr::null(),
        len: 0,
    };

    pub(crate) fn from(s: &str) -> wsm_str {
        wsm_str {
            ptr: s.as_ptr().cast(),
            len: s.len(),
        }
    }
}

/// An HTTP header: name and value, each pointer + length (not NUL-terminated).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct wsm_header {
    /// The name (ASCII).
    pub name: wsm_str,
    /// The value bytes.
    pub value: *const u8,
    /// The value length.
    pub value_len: usize,
}

/// A parsed upgrade request, filled in by wsm_read_request. Strings point into the input.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct wsm_request {
    /// The method (GET).
    pub method: wsm_str,
    /// Path and query as sent.
    pub target: wsm_str,
    /// The path (target up to '?').
    pub path: wsm_str,
    /// The query after '?' (ptr NULL when there is no '?').
    pub query: wsm_str,
    /// How many entries of the caller's header array were filled.
    pub header_count: usize,
    /// Length of the request head; bytes after it are frames.
    pub head_len: usize,
}

/// The options of wsm_accept. All pointers may be NULL.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct wsm_accept_options {
    /// The chosen subprotocol (NUL-terminated), or NULL.
    pub subprotocol: *const c_char,
    /// A Sec-WebSocket-Extensions value (NUL-terminated), or NULL.
    pub extensions: *const c_char,
    /// Extra response headers.
    pub headers: *const wsm_header,
    /// How many.
    pub header_count: usize,
}

/// What a client asks for. Pass the same one to wsm_write_request and wsm_read_response.
/// Strings are NUL-terminated; optional ones may be NULL.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct wsm_client_request {
    /// Host header value, e.g. "example.com:8080".
    pub host: *const c_char,
    /// Path and query, e.g. "/chat?room=1".
    pub target: *const c_char,
    /// Origin header, or NULL.
    pub origin: *const c_char,
    /// Subprotocols offered, in order of preference.
    pub subprotocols: *const *const c_char,
    /// How many.
    pub subprotocol_count: usize,
    /// Extension offers.
    pub extensions: *const *const c_char,
    /// How many.
    pub extension_count: usize,
    /// Extra headers (Cookie, Authorization...).
    pub headers: *const wsm_header,
    /// How many.
    pub header_count: usize,
}

/// A server's response, filled in by wsm_read_response. Strings point into the input.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct wsm_response {
    /// The HTTP status.
    pub status: u16,
    /// True for an accepted (101, validated) response: the connection is open.
    pub accepted: bool,
    /// The reason phrase.
    pub reason: wsm_str,
    /// The chosen subprotocol (ptr NULL if none).
    pub subprotocol: wsm_str,
    /// How many entries of the caller's header array were filled.
    pub header_count: usize,
    /// Rejections: the first contiguous run of body data present after the head, decoded
    /// (up to Content-Length; for a chunked body, the data of the first chunk present,
    /// without its framing). No body for 1xx, 204 and 304.
    pub body: *const u8,
    /// Its length.
    pub body_len: usize,
    /// Rejections: whether the body ended within this input (the connection is then closed);
    /// if not, wsm_read yields the rest as WSM_EVENT_REJECT_BODY, starting with the input
    /// after `consumed` (a chunked body's next chunks may already be there).
    pub body_complete: bool,
    /// Bytes of the input used: the head, plus for rejections the body bytes read so far
    /// (chunk framing included). Accepted: bytes after are frames.
    pub consumed: usize,
}

/// An event from wsm_read. `data`/`len` point into the caller's buffer.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct wsm_event {
    /// What happened.
    pub kind: wsm_event_type,
    /// WSM_FLAG_* bits.
    pub flags: u32,
    /// Payload, ping/pong data, close reason or rejection body.
    pub data: *const u8,
    /// Its length.
    pub len: usize,
    /// WSM_EVENT_CLOSE: the peer's code (1005 if none); WSM_EVENT_FAILED: the code we send.
    pub close_code: u16,
    /// WSM_EVENT_DATA: the frame's RSV bits.
    pub rsv: u8,
    /// WSM_EVENT_FAILED: the violation.
    pub error: wsm_protocol_error,
}

impl wsm_event {
    pub(crate) const NONE: wsm_event = wsm_event {
        kind: wsm_event_type::WSM_EVENT_NONE,
        flags: 0,
        data: core::ptr::null(),
        len: 0,
        close_code: 0,
        rsv: 0,
        error: wsm_protocol_error::WSM_PE_NONE,
    };
}

/// Reconnect backoff state: fill with wsm_backoff_default(), then adjust.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct wsm_backoff {
    /// First delay in ms (default 1000).
    pub initial_ms: u32,
    /// Cap before jitter in ms (default 30000).
    pub max_ms: u32,
    /// Jitter as a percentage (default 25).
    pub jitter_percent: u8,
    /// Delays handed out since the last reset.
    pub attempt: u32,
}
