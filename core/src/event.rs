//! Events reported by [`Connection::read`](crate::Connection::read).

use crate::close::CloseStatus;
use crate::error::ProtocolError;

/// The type of a data message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// UTF-8 text (validated by the core).
    Text,
    /// Binary data.
    Binary,
}

/// A piece of a data message's payload, unmasked in place in the caller's buffer.
///
/// One message arrives as one or more chunks: `message_start` is set on the first chunk of a
/// message and `message_finished` on the last. A frame may span several chunks (when it
/// arrives across several reads) and a message several frames (`frame_finished` marks the end
/// of each frame). Empty frames produce one empty chunk, so an empty message is reported too.
///
/// For text, the bytes of all chunks of a message together are valid UTF-8; a single chunk may
/// end inside a code point, so use an incremental decoder or collect the whole message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataChunk<'a> {
    /// Text or binary (the type of the message, also on continuation frames).
    pub kind: MessageKind,
    /// The payload bytes.
    pub data: &'a [u8],
    /// First chunk of a message.
    pub message_start: bool,
    /// Last chunk of its frame.
    pub frame_finished: bool,
    /// Last chunk of the message.
    pub message_finished: bool,
    /// RSV bits of the frame (non-zero only for bits allowed by `Config::allowed_rsv`, and
    /// RSV1 on the first frame of a compressed message).
    pub rsv: u8,
    /// The message is compressed (permessage-deflate): `data` is deflate data, to be passed
    /// to [`Connection::inflate`](crate::Connection::inflate); a text message's UTF-8 is
    /// checked there, on the inflated bytes.
    pub compressed: bool,
}

/// Something that happened on the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// Message payload.
    Data(DataChunk<'a>),
    /// A ping arrived (with `Config::auto_pong`, a pong is already queued: flush
    /// [`poll_transmit`](crate::Connection::poll_transmit)).
    Ping(&'a [u8]),
    /// A pong arrived.
    Pong(&'a [u8]),
    /// The peer sent a close frame. Unless we had already sent one, our reply (echoing the
    /// code) is queued. The connection ignores any input after this.
    Close {
        /// The code (or [`CloseStatus::NoStatus`] for an empty close frame).
        status: CloseStatus,
        /// The reason (validated UTF-8, at most 123 bytes).
        reason: &'a str,
    },
    /// The peer violated the protocol; a close frame with
    /// [`ProtocolError::close_code`] is queued and the connection ignores further input.
    Failed(ProtocolError),
    /// Client only: more of the body of a rejection (non-101) response, decoded (a chunked
    /// body arrives without its chunk framing; `data` borrows the data bytes of the input).
    RejectBody {
        /// The body data (may be empty when `finished`).
        data: &'a [u8],
        /// The body has ended and the connection is closed: its `Content-Length` was reached,
        /// or a chunked body's last chunk and trailers were read. An invalid chunked encoding
        /// also ends the body, at the bad byte (the data before it is delivered; the rest of
        /// the input is consumed). Input after the body's end is not consumed.
        finished: bool,
    },
}

/// The outcome of one [`Connection::read`](crate::Connection::read) call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "the consumed count says which input bytes must not be fed again"]
pub struct ReadOutcome<'a> {
    /// How many bytes at the start of the buffer were used. The caller drops them; bytes after
    /// them (when `event` is `None`: an incomplete frame header or control frame, at most
    /// [`MAX_PENDING_INPUT`](crate::MAX_PENDING_INPUT) bytes) are kept and fed again with more
    /// input appended.
    pub consumed: usize,
    /// The event, if one completed. `None` means "need more input".
    pub event: Option<Event<'a>>,
}
