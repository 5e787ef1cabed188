//! permessage-deflate on the connection: the agreed parameters, inflating received messages
//! under the connection's limits, and sending compressed messages.

use crate::deflate::{
    negotiate, parse_response, write_offer, write_response, Compress, Decompress, Params,
};
use crate::error::{Error, HandshakeError, ProtocolError};
use crate::event::{DataChunk, MessageKind};
use crate::frame::{header_len, OpCode};
use crate::handshake::Header;
use crate::mask::apply_mask;
use crate::utf8::Utf8Validator;

use super::recv::RSV1;
use super::{Connection, Flags, Role};

/// What one [`Connection::inflate`] call did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "`consumed` input bytes were used and `produced` output bytes are the message's"]
pub struct Inflated {
    /// Bytes of `input` used: pass the rest in the next call.
    pub consumed: usize,
    /// Bytes of message data written to the start of `out`.
    pub produced: usize,
    /// The chunk is fully inflated (all of `input` used, nothing held back; for the last
    /// chunk of a message, the message is complete). Otherwise call again with the rest of
    /// the input and output room.
    pub done: bool,
    /// The peer's data broke a rule: the message inflates past `Config::max_message_size`
    /// (1009), its deflate data is corrupt (1007) or its text is not UTF-8 (1007). The
    /// connection has failed, as after [`Event::Failed`](crate::Event::Failed): flush
    /// `poll_transmit` and drop the message (`produced` bytes are not valid message data).
    pub failed: Option<ProtocolError>,
}

/// Largest frame header (64-bit length and a masking key).
const MAX_HEADER: usize = 14;

impl Connection {
    /// Whether permessage-deflate was agreed (it owns RSV1).
    #[inline]
    pub(super) fn deflate_agreed(&self) -> bool {
        self.deflate.agreed.is_some()
    }

    /// Whether the message being received is compressed.
    #[inline(always)]
    pub(super) fn rx_compressed(&self) -> bool {
        self.rx.compressed
    }

    /// A new message starts with the frame's `rsv` bits: compressed if RSV1 is set and the
    /// extension was agreed.
    #[inline(always)]
    pub(super) fn set_rx_compressed(&mut self, rsv: u8) {
        self.rx.compressed = rsv & RSV1 != 0 && self.deflate_agreed();
    }

    /// Whether the fragmented message being sent is compressed.
    #[inline(always)]
    pub(super) fn tx_compressed(&self) -> bool {
        self.flags.has(Flags::TX_COMPRESSED)
    }

    /// The message being sent is not compressed.
    #[inline(always)]
    pub(super) fn clear_tx_compressed(&mut self) {
        self.flags.set(Flags::TX_COMPRESSED, false);
    }

    /// Client: whether the request offers permessage-deflate.
    pub(super) fn deflate_offered(&self) -> bool {
        self.deflate.config.is_some()
    }

    /// Server: picks the offer to accept from the request's headers, if configured.
    pub(super) fn negotiate_deflate(&mut self, headers: &[Header<'_>]) {
        if let Some(cfg) = &self.deflate.config {
            self.deflate.agreed = negotiate(headers, cfg);
        }
    }

    /// The Sec-WebSocket-Extensions value this end writes: the server's response to the
    /// accepted offer, or the client's offer.
    pub(super) fn deflate_header<'v>(&self, value: &'v mut [u8]) -> Option<&'v [u8]> {
        let n = match (self.role, &self.deflate.agreed, &self.deflate.config) {
            (Role::Server, Some(p), _) => write_response(p, value)?,
            (Role::Client, _, Some(c)) => write_offer(c, value)?,
            _ => return None,
        };
        value.get(..n)
    }

    /// Client: checks the server's permessage-deflate response (RFC 7692 §5: a bad one fails
    /// the connection) and keeps what was agreed.
    pub(super) fn accept_deflate_response(
        &mut self,
        headers: &[Header<'_>],
    ) -> Result<(), HandshakeError> {
        if let Some(cfg) = &self.deflate.config {
            self.deflate.agreed =
                parse_response(headers, cfg).map_err(|_| HandshakeError::InvalidExtension)?;
        }
        Ok(())
    }

    /// The permessage-deflate parameters agreed in the handshake, if any.
    pub fn deflate(&self) -> Option<Params> {
        self.deflate.agreed
    }

    /// Sets the agreed permessage-deflate parameters of a connection whose handshake took
    /// place elsewhere (one made with [`new_open`](Self::new_open), or over HTTP/2, RFC 8441).
    /// RSV1 is then taken by the extension (refused with `Error::InvalidState` if
    /// `Config::allowed_rsv` gives it to the application, or once data has moved).
    pub fn set_deflate(&mut self, params: Option<Params>) -> Result<(), Error> {
        if self.flags.allowed_rsv() & RSV1 != 0
            || self.rx.msg.is_some()
            || self.deflate.inflating
            || self.tx.msg.is_some()
            || self.tx.in_frame()
        {
            return Err(Error::InvalidState);
        }
        self.deflate.agreed = params;
        Ok(())
    }

    /// Inflates (the rest of) a compressed chunk: `chunk` is a [`DataChunk`] with `compressed`
    /// set, `input` the part of `chunk.data` not yet consumed (all of it on the first call).
    /// Writes message bytes to the start of `out` and checks them as they come: the size of
    /// the inflated message against `Config::max_message_size`, and text against UTF-8. A
    /// message of any size inflates in the fixed memory of `d` and `out`; a small frame that
    /// would inflate to gigabytes costs at most the limit in work.
    ///
    /// Inflate each chunk completely (until `done`) before the next `read`. `d` is the
    /// connection's decompressor (its window at least
    /// [`Params::decompress_window_bits`]); when the peer does not keep context, it is reset
    /// after each message, so one decompressor may serve several such connections in turn.
    ///
    /// Errors: `Error::NotCompressed` for a chunk that is not compressed or a decompressor
    /// window smaller than negotiated; `Error::InvalidState` once the connection has failed.
    pub fn inflate<D: Decompress + ?Sized>(
        &mut self,
        now: u64,
        d: &mut D,
        chunk: &DataChunk<'_>,
        input: &[u8],
        out: &mut [u8],
    ) -> Result<Inflated, Error> {
        let Some(params) = self.deflate.agreed else {
            return Err(Error::NotCompressed);
        };
        if !chunk.compressed || d.window_bits() < params.decompress_window_bits(self.role) {
            return Err(Error::NotCompressed);
        }
        if self.failure.is_some() || self.lifecycle.in_handshake() {
            return Err(Error::InvalidState);
        }
        if !self.deflate.inflating {
            self.deflate.inflating = true;
            self.deflate.inflated = 0;
            self.rx.utf8.reset();
        }
        let end = chunk.message_finished;
        let p = match d.decompress(input, out, end) {
            Ok(p) => p,
            Err(_) => return Ok(self.inflate_failed(now, d, ProtocolError::InvalidCompressedData)),
        };
        self.deflate.inflated = self.deflate.inflated.saturating_add(p.produced as u64);
        if self.deflate.inflated > self.limits.max_message_size {
            return Ok(self.inflate_failed(now, d, ProtocolError::MessageTooLarge));
        }
        if chunk.kind == MessageKind::Text {
            let data = out.get(..p.produced).unwrap_or_default();
            let v = &mut self.rx.utf8;
            if v.feed(data).is_err() || (p.done && end && !v.is_complete()) {
                return Ok(self.inflate_failed(now, d, ProtocolError::InvalidUtf8));
            }
        }
        if p.done && end {
            self.deflate.inflating = false;
            if params.decompress_resets(self.role) {
                d.reset();
            }
        }
        Ok(Inflated {
            consumed: p.consumed,
            produced: p.produced,
            done: p.done,
            failed: None,
        })
    }

    #[cold]
    fn inflate_failed<D: Decompress + ?Sized>(
        &mut self,
        now: u64,
        d: &mut D,
        e: ProtocolError,
    ) -> Inflated {
        self.deflate.inflating = false;
        d.reset();
        self.move_to_failed(now, e);
        Inflated {
            consumed: 0,
            produced: 0,
            done: true,
            failed: Some(e),
        }
    }

    /// Sends a whole message as one compressed frame (RSV1 set), compressed with `c` (the
    /// connection's compressor; reset after the message when this end keeps no context, so
    /// one compressor may serve several such connections in turn). Without an agreed
    /// extension, or for a message shorter than `DeflateConfig::min_message_size`, it is sent
    /// uncompressed, as [`send`](Self::send) does. Text must be valid UTF-8.
    ///
    /// `out` needs room for queued control frames, a frame header and
    /// [`Compress::bound`] of the message, or the call fails with `Error::BufferTooSmall`
    /// (saying how much) before `c` or the connection change.
    pub fn send_compressed<C: Compress + ?Sized>(
        &mut self,
        kind: MessageKind,
        data: &[u8],
        c: &mut C,
        out: &mut [u8],
    ) -> Result<usize, Error> {
        let Some(params) = self.deflate.agreed else {
            return self.send(kind, data, out);
        };
        let min = self.deflate.config.map_or(0, |c| c.min_message_size);
        if (data.len() as u64) < u64::from(min) {
            return self.send(kind, data, out);
        }
        let op = self.whole_message_opcode(kind, data)?;
        self.compressed_frame(params, op, true, data, c, out)
    }

    /// Sends one frame of a compressed message: the first call starts a message of type
    /// `kind` (RSV1 on its frame), later calls (same `kind`) continue it, and `fin` ends it.
    /// For messages too large to compress in one buffer: memory does not depend on the
    /// message size. A frame may be empty when the compressor holds its output back. Without
    /// an agreed extension this is [`send_fragment`](Self::send_fragment).
    pub fn send_compressed_fragment<C: Compress + ?Sized>(
        &mut self,
        kind: MessageKind,
        data: &[u8],
        fin: bool,
        c: &mut C,
        out: &mut [u8],
    ) -> Result<usize, Error> {
        let Some(params) = self.deflate.agreed else {
            return self.send_fragment(kind, data, fin, out);
        };
        self.check_can_start_frame()?;
        let op = match self.tx.msg {
            None => OpCode::starting(kind),
            Some(k) if k == kind && self.flags.has(Flags::TX_COMPRESSED) => OpCode::Continuation,
            Some(_) => return Err(Error::MessageState),
        };
        let mut utf8 = if op == OpCode::Continuation {
            self.tx.utf8
        } else {
            Utf8Validator::new()
        };
        if kind == MessageKind::Text && (utf8.feed(data).is_err() || (fin && !utf8.is_complete())) {
            return Err(Error::InvalidUtf8);
        }
        let n = self.compressed_frame(params, op, fin, data, c, out)?;
        self.tx.utf8 = utf8;
        self.tx.msg = if fin { None } else { Some(kind) };
        self.flags.set(Flags::TX_COMPRESSED, !fin);
        Ok(n)
    }

    /// Writes queued control frames and one frame of `data` compressed with `c` (`end` of the
    /// message with `fin`) into `out`.
    fn compressed_frame<C: Compress + ?Sized>(
        &mut self,
        params: Params,
        op: OpCode,
        fin: bool,
        data: &[u8],
        c: &mut C,
        out: &mut [u8],
    ) -> Result<usize, Error> {
        if c.window_bits() > params.compress_window_bits(self.role) {
            return Err(Error::NotCompressed);
        }
        let ctrl = self.queued_pings_len();
        let bound = c.bound(data.len()).max(C::MIN_OUTPUT);
        let body_at = ctrl.saturating_add(MAX_HEADER);
        let needed = body_at.saturating_add(bound);
        if out.len() < needed {
            return Err(Error::BufferTooSmall { needed });
        }
        // Compress into the room after the largest header, then move it behind the real one.
        let region = out.get_mut(body_at..needed).unwrap_or_default();
        let mut taken = 0usize;
        let mut len = 0usize;
        loop {
            let p = c.compress(
                data.get(taken..).unwrap_or_default(),
                region.get_mut(len..).unwrap_or_default(),
                fin,
            );
            taken = taken.saturating_add(p.consumed);
            len = len.saturating_add(p.produced);
            if p.done && (fin || taken == data.len()) {
                break;
            }
            if p.consumed == 0 && p.produced == 0 {
                // The codec broke its `bound`: nothing sensible can be sent.
                return Err(Error::NotCompressed);
            }
        }
        if fin && params.compress_resets(self.role) {
            c.reset();
        }
        let n = self.put_queued_pings(ctrl, out);
        let hl = header_len(len as u64, self.masked());
        let start = n.saturating_add(hl);
        out.copy_within(body_at..body_at.saturating_add(len), start);
        let rsv = if op == OpCode::Continuation { 0 } else { RSV1 };
        let rest = out.get_mut(n..).unwrap_or_default();
        let (_, mask) = self.put_header_rsv(op, fin, rsv, len as u64, rest);
        let end = start.saturating_add(len);
        if let Some(k) = mask {
            apply_mask(out.get_mut(start..end).unwrap_or_default(), k, 0);
        }
        Ok(end)
    }
}
