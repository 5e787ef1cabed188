//! Input: frames in, events out (`read`, `handle_eof`).

use crate::close::parse_close_payload;
use crate::error::{Error, ProtocolError};
use crate::event::{DataChunk, Event, MessageKind, ReadOutcome};
use crate::frame::{decode_header, FrameHeader, OpCode};
use crate::mask::apply_mask;

use super::state::Lifecycle;
use super::timer::Timer;
use super::{Connection, Flags, Role, RxFrame};

/// Block size of the fused unmask + UTF-8 validation of masked text (a quarter of a typical
/// 32 KiB L1 data cache).
const FUSED_BLOCK: usize = 8 << 10;

/// The RSV1 bit in `FrameHeader::rsv`.
pub(super) const RSV1: u8 = 0b100;

/// "Need more input": nothing consumed, no event.
const NEED_MORE: ReadOutcome<'static> = ReadOutcome {
    consumed: 0,
    event: None,
};

impl Connection {
    /// Feeds received bytes (after the handshake). See the [I/O contract](Self).
    ///
    /// Returns `Err(Error::InvalidState)` only during the handshake (use `read_request` /
    /// `read_response` then). Peer misbehaviour is reported as [`Event::Failed`].
    pub fn read<'b>(&mut self, now: u64, buf: &'b mut [u8]) -> Result<ReadOutcome<'b>, Error> {
        let len = buf.len();
        if let Lifecycle::Open { .. } = self.lifecycle {
            // Any input proves the peer alive: the keepalive interval starts again.
            if len != 0 && self.limits.keepalive_interval_ms != 0 {
                self.flags.set(Flags::AWAITING_INPUT, false);
                self.timers
                    .set(Timer::Keepalive, now, self.limits.keepalive_interval_ms);
            }
        } else {
            match self.lifecycle {
                Lifecycle::RejectBody { body } => {
                    return Ok(self.read_reject_body(body, buf));
                }
                _ if self.lifecycle.in_handshake() => return Err(Error::InvalidState),
                Lifecycle::HttpError(_) | Lifecycle::Rejecting => return Err(Error::InvalidState),
                _ if !self.lifecycle.receives_frames() => {
                    // Close received, failing, or over: input is ignored.
                    return Ok(ReadOutcome {
                        consumed: len,
                        event: None,
                    });
                }
                _ => {}
            }
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
                        compressed: false,
                    })),
                });
            }
        }
        let (h, hlen) = match decode_header(buf) {
            Ok(Some(x)) => x,
            Ok(None) => return Ok(NEED_MORE),
            Err(e) => return Ok(self.fail(now, e, len)),
        };
        if let Err(e) = self.check_header(&h) {
            return Ok(self.fail(now, e, len));
        }
        if h.opcode.is_control() {
            // `check_header` bounded the payload to 125 bytes.
            let end = hlen.saturating_add(h.payload_len as usize);
            if len < end {
                return Ok(NEED_MORE);
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
        let kind = match h.opcode.message_kind() {
            Some(k) => k,
            None => self.rx.msg.unwrap_or(MessageKind::Binary),
        };
        if self.rx.msg.is_none() {
            self.rx.msg = Some(kind);
            self.rx.msg_size = 0;
            self.rx.fragments = 0;
            self.rx.started = false;
            self.rx.utf8.reset();
            self.set_rx_compressed(h.rsv);
        }
        self.rx.msg_size = self.rx.msg_size.saturating_add(h.payload_len);
        self.rx.fragments = self.rx.fragments.saturating_add(1);
        // Straight on to the payload: storing the frame in `self.rx.frame` and loading it back
        // costs a store-forwarding stall per message; `read_payload` stores it only if the
        // frame is not finished.
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
            .limits
            .max_frame_payload
            .min(self.limits.max_message_size);
        if len as u64 > limit || (kind == MessageKind::Text && len > FUSED_BLOCK) {
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
        // permessage-deflate owns RSV1 on the first frame of a message (RFC 7692 §6.1).
        let deflate_rsv = if self.deflate_agreed() && h.opcode != OpCode::Continuation {
            RSV1
        } else {
            0
        };
        if h.rsv & !(self.flags.allowed_rsv() | deflate_rsv) != 0 {
            return Err(ProtocolError::ReservedBits);
        }
        match (h.opcode, self.rx.msg) {
            (OpCode::Continuation, None) => return Err(ProtocolError::UnexpectedContinuation),
            (OpCode::Text | OpCode::Binary, Some(_)) => {
                return Err(ProtocolError::ExpectedContinuation)
            }
            _ => {}
        }
        if h.payload_len > self.limits.max_frame_payload {
            return Err(ProtocolError::FrameTooLarge);
        }
        let (size, frags) = match self.rx.msg {
            Some(_) => (self.rx.msg_size, self.rx.fragments),
            None => (0, 0),
        };
        if size.saturating_add(h.payload_len) > self.limits.max_message_size {
            return Err(ProtocolError::MessageTooLarge);
        }
        if frags >= self.limits.max_fragments {
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
        let compressed = self.rx_compressed();
        // Compressed text is validated after inflation (`inflate`), not on the wire.
        let checked = if compressed {
            MessageKind::Binary
        } else {
            kind
        };
        let valid = match (checked, frame.mask) {
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
        if !valid
            || (checked == MessageKind::Text && message_finished && !self.rx.utf8.is_complete())
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
                compressed,
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
                if self.flags.has(Flags::AUTO_PONG) {
                    if let Lifecycle::Open { pong } = &mut self.lifecycle {
                        pong.set(payload);
                    }
                }
                Event::Ping(payload)
            }
            OpCode::Pong => Event::Pong(payload),
            _ => {
                let (status, reason) = match parse_close_payload(payload) {
                    Ok(x) => x,
                    Err(e) => return self.fail(now, e, len),
                };
                self.move_to_close_received(now, status);
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

    /// Fails the connection because of `e` and reports it, consuming `len` bytes. Out of
    /// line: it keeps the receive paths small.
    #[cold]
    #[inline(never)]
    fn fail(&mut self, now: u64, e: ProtocolError, len: usize) -> ReadOutcome<'static> {
        self.move_to_failed(now, e);
        ReadOutcome {
            consumed: len,
            event: Some(Event::Failed(e)),
        }
    }

    /// Client: more of a refusal's body: the next contiguous run of data (framed as
    /// `read_response` decided), in place.
    fn read_reject_body<'b>(
        &mut self,
        mut body: crate::handshake::body::BodyFraming,
        buf: &'b mut [u8],
    ) -> ReadOutcome<'b> {
        let buf: &'b [u8] = buf;
        let piece = body.next(buf);
        let data = buf.get(piece.start..piece.end).unwrap_or_default();
        if data.is_empty() && !piece.finished {
            // No input, or only chunk framing (all consumed): no event (else a caller that
            // reads until `None` would spin).
            self.lifecycle = Lifecycle::RejectBody { body };
            return ReadOutcome {
                consumed: piece.consumed,
                event: None,
            };
        }
        if piece.finished {
            self.move_to_closed();
        } else {
            self.lifecycle = Lifecycle::RejectBody { body };
        }
        ReadOutcome {
            consumed: piece.consumed,
            event: Some(Event::RejectBody {
                data,
                finished: piece.finished,
            }),
        }
    }

    /// The transport reached end-of-file or failed. Outside a completed closing handshake the
    /// connection ends as abnormal (1006).
    pub fn handle_eof(&mut self) {
        self.move_to_transport_lost();
    }
}
