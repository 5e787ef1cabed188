//! Per-connection options and the message types.

use std::time::Duration;

use wsmachine::{Config, MessageKind};

/// The default high-water mark of the send queue: 128 KiB.
pub const DEFAULT_SEND_QUEUE_LIMIT: usize = 128 << 10;

/// The default size of the read buffer: 64 KiB (also the largest chunk the streaming API
/// hands out at once).
pub const DEFAULT_READ_BUFFER: usize = 64 << 10;

/// Options of one connection. `Options::default()` is what [`accept`](crate::accept) and
/// [`connect`](crate::connect) use.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Options {
    /// The core's limits and timers: `max_message_size` (1009 when crossed),
    /// `max_frame_payload`, `max_fragments`, `max_handshake_size`, `handshake_timeout_ms`,
    /// `auth_timeout_ms` (servers: 1008 unless
    /// [`set_authenticated`](crate::WebSocket::set_authenticated) is called in time),
    /// `keepalive_interval_ms` / `keepalive_timeout_ms` (pings and dead-peer detection,
    /// 1006), `close_timeout_ms`, `auto_pong`, and `deflate` (permessage-deflate: `Some` to
    /// offer or accept it; on by default with the `deflate` feature).
    pub config: Config,
    /// High-water mark of the per-connection send queue, in bytes (default 128 KiB). A message
    /// is queued only while the queue holds at most this many bytes: `send` waits for the
    /// stream to take bytes until it does, `try_send` fails with [`Error::Full`](crate::Error::Full).
    /// The queue therefore holds at most this plus one message (plus control frames).
    pub send_queue_limit: usize,
    /// How long one `send` (or `flush`, `close`) may wait for the peer to take bytes
    /// (default: no limit). When it passes, the send fails with
    /// [`Error::SendTimeout`](crate::Error::SendTimeout) and the connection is abandoned (a
    /// peer that does not read is treated as dead; close status 1006).
    pub send_timeout: Option<Duration>,
    /// Size of the read buffer in bytes (default 64 KiB, at least 256). Memory use does not
    /// depend on message size unless messages are assembled by `next()`.
    pub read_buffer_size: usize,
    /// zlib level (0..=9) of the permessage-deflate compressor (default 6; 2 is a good
    /// "fast").
    #[cfg(feature = "deflate")]
    pub compression_level: u32,
}

impl Default for Options {
    fn default() -> Options {
        #[allow(unused_mut)]
        let mut config = Config::new();
        #[cfg(feature = "deflate")]
        {
            config.deflate = Some(wsmachine::deflate::DeflateConfig::new());
        }
        Options {
            config,
            send_queue_limit: DEFAULT_SEND_QUEUE_LIMIT,
            send_timeout: None,
            read_buffer_size: DEFAULT_READ_BUFFER,
            #[cfg(feature = "deflate")]
            compression_level: 6,
        }
    }
}

impl Options {
    /// The defaults.
    pub fn new() -> Options {
        Options::default()
    }

    /// Replaces the core's limits and timers with `config`, including its `deflate` field
    /// (`Config::new()` has none: to keep permessage-deflate, change the fields of
    /// `options.config` instead).
    pub fn config(mut self, config: Config) -> Options {
        self.config = config;
        self
    }

    /// Turns permessage-deflate on (`Some`, with its parameters) or off (`None`).
    #[cfg(feature = "deflate")]
    pub fn deflate(mut self, deflate: Option<wsmachine::deflate::DeflateConfig>) -> Options {
        self.config.deflate = deflate;
        self
    }

    /// Sets [`send_queue_limit`](Self::send_queue_limit).
    pub fn send_queue_limit(mut self, bytes: usize) -> Options {
        self.send_queue_limit = bytes;
        self
    }

    /// Sets [`send_timeout`](Self::send_timeout).
    pub fn send_timeout(mut self, limit: Option<Duration>) -> Options {
        self.send_timeout = limit;
        self
    }

    /// Sets [`read_buffer_size`](Self::read_buffer_size).
    pub fn read_buffer_size(mut self, bytes: usize) -> Options {
        self.read_buffer_size = bytes;
        self
    }
}

/// A whole received message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// A text message (valid UTF-8).
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
}

impl Message {
    /// The payload bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Message::Text(s) => s.as_bytes(),
            Message::Binary(b) => b,
        }
    }

    /// The text, for a text message.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Message::Text(s) => Some(s),
            Message::Binary(_) => None,
        }
    }

    /// Text or binary.
    pub fn kind(&self) -> MessageKind {
        match self {
            Message::Text(_) => MessageKind::Text,
            Message::Binary(_) => MessageKind::Binary,
        }
    }

    /// The payload, taken out.
    pub fn into_bytes(self) -> Vec<u8> {
        match self {
            Message::Text(s) => s.into_bytes(),
            Message::Binary(b) => b,
        }
    }

    /// The payload length.
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.as_bytes().is_empty()
    }
}

/// A message to send, borrowed: `&str` and `&String` are text; byte slices, arrays and
/// `&Vec<u8>` are binary; `&Message` is what it is (so an echo is `ws.send(&msg)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Payload<'a> {
    /// Text.
    Text(&'a str),
    /// Binary.
    Binary(&'a [u8]),
}

impl<'a> Payload<'a> {
    pub(crate) fn parts(self) -> (MessageKind, &'a [u8]) {
        match self {
            Payload::Text(s) => (MessageKind::Text, s.as_bytes()),
            Payload::Binary(b) => (MessageKind::Binary, b),
        }
    }
}

impl<'a> From<&'a str> for Payload<'a> {
    fn from(s: &'a str) -> Self {
        Payload::Text(s)
    }
}

impl<'a> From<&'a String> for Payload<'a> {
    fn from(s: &'a String) -> Self {
        Payload::Text(s)
    }
}

impl<'a> From<&'a [u8]> for Payload<'a> {
    fn from(b: &'a [u8]) -> Self {
        Payload::Binary(b)
    }
}

impl<'a, const N: usize> From<&'a [u8; N]> for Payload<'a> {
    fn from(b: &'a [u8; N]) -> Self {
        Payload::Binary(b)
    }
}

impl<'a> From<&'a Vec<u8>> for Payload<'a> {
    fn from(b: &'a Vec<u8>) -> Self {
        Payload::Binary(b)
    }
}

impl<'a> From<&'a Message> for Payload<'a> {
    fn from(m: &'a Message) -> Self {
        match m {
            Message::Text(s) => Payload::Text(s),
            Message::Binary(b) => Payload::Binary(b),
        }
    }
}

/// A piece of a message from the streaming API ([`WsReader::next_chunk`](crate::WsReader::next_chunk)):
/// messages of any size arrive in pieces of at most the read buffer's size, never assembled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chunk<'a> {
    /// Text or binary (the message's type).
    pub kind: MessageKind,
    /// The bytes (inflated, for a compressed message). Text chunks may end inside a code
    /// point; the message as a whole is valid UTF-8 (checked before the last chunk is given).
    pub data: &'a [u8],
    /// The first chunk of its message.
    pub first: bool,
    /// The last chunk of its message.
    pub last: bool,
}
