//! permessage-deflate ([RFC 7692]): negotiation, the codec interfaces, and codecs that run in
//! memory the caller provides.
//!
//! | file | owns |
//! |---|---|
//! | `mod.rs` | [`DeflateConfig`] (what to offer or accept), [`Params`] (what was agreed), the codec traits [`Compress`] and [`Decompress`] |
//! | `negotiate.rs` | parsing offers and responses, choosing an offer, writing the header values |
//! | `inflate.rs` | [`Inflater`]: a decompressor over a caller-provided window (miniz_oxide's allocation-free core) |
//! | `compress.rs` | [`Deflater`]: an LZ77 + Huffman compressor over caller-provided memory |
//! | `zlib.rs` | (feature `zlib`, std) [`ZlibInflater`] / [`ZlibDeflater`]: the std backend |
//!
//! The [`Connection`](crate::Connection) does the RFC's framing work once an extension is
//! agreed: RSV1 on the first frame of a compressed message only, no UTF-8 check on the
//! compressed bytes, and (through [`Connection::inflate`](crate::Connection::inflate) and
//! [`Connection::send_compressed`](crate::Connection::send_compressed)) the message-size limit
//! on inflated bytes as they are produced, UTF-8 validation of inflated text as it streams,
//! and the codec resets that `*_no_context_takeover` asks for. A codec is not tied to one
//! connection: with no context takeover, one codec can serve many connections in turn.
//!
//! [RFC 7692]: https://www.rfc-editor.org/rfc/rfc7692

mod compress;
mod inflate;
mod negotiate;
#[cfg(feature = "zlib")]
mod zlib;

pub use compress::{deflater_memory, Deflater, DeflaterError, DEFAULT_LEVEL, MAX_LEVEL};
pub use inflate::{inflater_memory, Inflater};
pub use negotiate::{
    negotiate, parse_response, write_offer, write_response, NegotiationError, OfferError,
    MAX_VALUE_LEN,
};
#[cfg(feature = "zlib")]
pub use zlib::{ZlibDeflater, ZlibInflater};

use crate::connection::Role;

/// The extension's token in `Sec-WebSocket-Extensions`.
pub const EXTENSION_NAME: &str = "permessage-deflate";

/// The 4 bytes a sender removes from the end of each compressed message and a receiver
/// appends before inflating (RFC 7692 §7.2.1–§7.2.2).
pub const TAIL: [u8; 4] = [0x00, 0x00, 0xFF, 0xFF];

/// Smallest LZ77 window the RFC allows (`*_max_window_bits=8`).
pub const MIN_WINDOW_BITS: u8 = 8;
/// Largest LZ77 window (32 KiB).
pub const MAX_WINDOW_BITS: u8 = 15;

/// What a connection offers (client) or accepts (server) of permessage-deflate.
///
/// The window sizes are the most memory this end is willing to spend: a server accepts any
/// offer whose demands fit and answers with the smallest windows the client allows; a client
/// offers its limits. `min_window_bits` is the smallest window this end's *compressor* can
/// use (zlib cannot make raw deflate with a 256-byte window, so the zlib backend says 9):
/// an offer that would force a smaller one is declined, never answered with a value the peer
/// would reject.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct DeflateConfig {
    /// Window bits (8..=15) of the messages this end sends: the size of its compressor's
    /// window. Smaller saves memory here, and in the peer's decompressor.
    pub compress_window_bits: u8,
    /// Window bits (8..=15) this end's decompressor has: the largest window the peer may use.
    pub decompress_window_bits: u8,
    /// Smallest window bits (8 or 9) this end's compressor can work with.
    pub min_window_bits: u8,
    /// This end resets its compressor after each message (and tells the peer, so that it need
    /// not keep a window for us). Required for a compressor shared by several connections.
    pub no_context_takeover: bool,
    /// Ask (client) or require (server, when the client allows it) that the peer resets its
    /// compressor after each message, so that this end's decompressor keeps no history
    /// between messages.
    pub peer_no_context_takeover: bool,
    /// Messages shorter than this go uncompressed (compression does not pay below a few dozen
    /// bytes).
    pub min_message_size: u32,
}

impl DeflateConfig {
    /// Full 32 KiB windows both ways, context takeover both ways, 9-bit minimum (works with
    /// every backend), messages from 32 bytes compressed.
    pub const fn new() -> DeflateConfig {
        DeflateConfig {
            compress_window_bits: MAX_WINDOW_BITS,
            decompress_window_bits: MAX_WINDOW_BITS,
            min_window_bits: 9,
            no_context_takeover: false,
            peer_no_context_takeover: false,
            min_message_size: 32,
        }
    }

    /// Sets both window sizes.
    pub const fn window_bits(mut self, bits: u8) -> DeflateConfig {
        self.compress_window_bits = bits;
        self.decompress_window_bits = bits;
        self
    }

    /// Whether the values are in range.
    pub const fn is_valid(&self) -> bool {
        const fn ok(b: u8) -> bool {
            b >= MIN_WINDOW_BITS && b <= MAX_WINDOW_BITS
        }
        ok(self.compress_window_bits)
            && ok(self.decompress_window_bits)
            && ok(self.min_window_bits)
            && self.min_window_bits <= self.compress_window_bits
    }
}

impl Default for DeflateConfig {
    fn default() -> DeflateConfig {
        DeflateConfig::new()
    }
}

/// The agreed parameters of a permessage-deflate extension, as the response states them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Params {
    /// The server resets its compressor after each message.
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after each message.
    pub client_no_context_takeover: bool,
    /// Window bits of the server's compressor (15 when the response leaves it out).
    pub server_max_window_bits: u8,
    /// Window bits of the client's compressor (15 when the response leaves it out).
    pub client_max_window_bits: u8,
}

impl Params {
    /// Window bits of the messages `role` sends.
    pub const fn compress_window_bits(&self, role: Role) -> u8 {
        match role {
            Role::Server => self.server_max_window_bits,
            Role::Client => self.client_max_window_bits,
        }
    }

    /// Window bits of the messages `role` receives (its decompressor needs `1 << bits` bytes
    /// of window).
    pub const fn decompress_window_bits(&self, role: Role) -> u8 {
        match role {
            Role::Server => self.client_max_window_bits,
            Role::Client => self.server_max_window_bits,
        }
    }

    /// Whether `role` resets its compressor after each message it sends.
    pub const fn compress_resets(&self, role: Role) -> bool {
        match role {
            Role::Server => self.server_no_context_takeover,
            Role::Client => self.client_no_context_takeover,
        }
    }

    /// Whether `role` may reset its decompressor after each message it receives.
    pub const fn decompress_resets(&self, role: Role) -> bool {
        match role {
            Role::Server => self.client_no_context_takeover,
            Role::Client => self.server_no_context_takeover,
        }
    }
}

/// What a codec call did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Progress {
    /// Input bytes used.
    pub consumed: usize,
    /// Output bytes written.
    pub produced: usize,
    /// Everything is out: all input is used, nothing is held back, and (when the call was
    /// the end of a message) the message is complete. When `false`, call again with the
    /// rest of the input and more output room.
    pub done: bool,
}

/// The deflate stream of the peer's messages is corrupt (close code 1007).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CorruptData;

/// A decompressor for the messages of one peer.
///
/// Between messages, the connection calls [`reset`](Self::reset) when the peer resets its
/// compressor (`*_no_context_takeover`), so that no history is needed.
pub trait Decompress {
    /// Inflates `input` (compressed message bytes, in order) into `out`. With `end`, `input`
    /// is the last of the message: the codec appends [`TAIL`] itself, and `done` means the
    /// message is fully inflated. It must make progress (consume input or produce output)
    /// whenever `out` is not empty and it is not done.
    fn decompress(
        &mut self,
        input: &[u8],
        out: &mut [u8],
        end: bool,
    ) -> Result<Progress, CorruptData>;

    /// Forgets all history and any partial message: the next call starts a new stream.
    fn reset(&mut self);

    /// The largest window (bits) this decompressor can handle.
    fn window_bits(&self) -> u8;
}

/// A compressor for the messages this end sends.
pub trait Compress {
    /// Compresses `input` into `out`. With `end`, `input` is the last of the message: the
    /// codec finishes it as RFC 7692 §7.2.1 says (a sync flush without its 4-byte tail), and
    /// `done` means all of it is in `out`. Without `end`, it may hold output back until later
    /// calls, and `done` means all of `input` was taken. It must make progress whenever `out`
    /// has at least [`MIN_OUTPUT`](Self::MIN_OUTPUT) bytes and it is not done.
    fn compress(&mut self, input: &[u8], out: &mut [u8], end: bool) -> Progress;

    /// Forgets all history: the next message uses no back-references into earlier ones.
    fn reset(&mut self);

    /// An upper bound on the output of the next call given `len` bytes of input and `end`,
    /// including what the codec holds back from earlier calls of the same message (for
    /// sizing output buffers).
    fn bound(&self, len: usize) -> usize;

    /// The window (bits) the compressor uses; it must not exceed what was negotiated.
    fn window_bits(&self) -> u8;

    /// Output room below which a call may make no progress.
    const MIN_OUTPUT: usize = 64;
}
