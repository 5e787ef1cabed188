//! Output: data frames, control frames, the closing handshake and `poll_transmit`.

use crate::close::{write_close_payload, CloseCode, MAX_REASON_LEN};
use crate::error::Error;
use crate::event::MessageKind;
use crate::frame::{encode_header, header_len, FrameHeader, OpCode};
use crate::handshake::server::write_error;
use crate::mask::{apply_mask, mask_copy};
use crate::utf8::Utf8Validator;

use super::state::{Closing, Lifecycle};
use super::{Connection, Flags, Role};

/// Writes the header of an unmasked FIN frame (`opcode`, a 7- or 16-bit length) into `out`
/// when `room` more bytes also fit after it: the header's length, or `None` for a longer
/// payload or too small a buffer (the general path then decides, with the exact size needed).
#[inline]
fn put_unmasked_header_with_room(
    opcode: OpCode,
    len: usize,
    room: usize,
    out: &mut [u8],
) -> Option<usize> {
    let b0 = 0x80 | opcode as u8;
    if len < 126 {
        let dst = out.get_mut(..2usize.checked_add(room)?)?;
        if let Some([h0, h1]) = dst.first_chunk_mut() {
            (*h0, *h1) = (b0, len as u8);
            return Some(2);
        }
    } else if len <= 0xFFFF {
        let dst = out.get_mut(..4usize.checked_add(room)?)?;
        if let Some([h0, h1, h2, h3]) = dst.first_chunk_mut() {
            let [a, b] = (len as u16).to_be_bytes();
            (*h0, *h1, *h2, *h3) = (b0, 126, a, b);
            return Some(4);
        }
    }
    None
}

/// The header of an unmasked FIN frame of `len` payload bytes (see
/// [`put_unmasked_header_with_room`]).
#[inline]
fn put_unmasked_header(opcode: OpCode, len: usize, out: &mut [u8]) -> Option<usize> {
    put_unmasked_header_with_room(opcode, len, 0, out)
}

/// A whole unmasked FIN frame: the header, then `payload` (see
/// [`put_unmasked_header_with_room`]). Its length, or `None`.
#[inline]
fn put_unmasked_frame(opcode: OpCode, payload: &[u8], out: &mut [u8]) -> Option<usize> {
    let len = payload.len();
    let hl = put_unmasked_header_with_room(opcode, len, len, out)?;
    out.get_mut(hl..hl + len)?.copy_from_slice(payload);
    Some(hl + len)
}

impl Connection {
    pub(super) fn masked(&self) -> bool {
        self.role == Role::Client
    }

    fn frame_len(&self, payload_len: usize) -> usize {
        header_len(payload_len as u64, self.masked()).saturating_add(payload_len)
    }

    /// Writes the header of a frame with `len` payload bytes into the start of `out`, which
    /// the caller checked is large enough, drawing a masking key for a client. Returns the
    /// header's length and the key.
    #[cfg_attr(target_pointer_width = "64", inline)]
    fn put_header(
        &mut self,
        opcode: OpCode,
        fin: bool,
        len: u64,
        out: &mut [u8],
    ) -> (usize, Option<[u8; 4]>) {
        self.put_header_rsv(opcode, fin, 0, len, out)
    }

    /// [`put_header`](Self::put_header) with RSV bits (RSV1 for a compressed message).
    #[cfg_attr(target_pointer_width = "64", inline)]
    pub(super) fn put_header_rsv(
        &mut self,
        opcode: OpCode,
        fin: bool,
        rsv: u8,
        len: u64,
        out: &mut [u8],
    ) -> (usize, Option<[u8; 4]>) {
        let mask = if self.masked() {
            Some(self.rng.next_key())
        } else {
            None
        };
        let h = FrameHeader {
            fin,
            rsv,
            opcode,
            mask,
            payload_len: len,
        };
        (encode_header(&h, out).unwrap_or(0), mask)
    }

    /// Writes one whole frame into the start of `out`, which the caller checked is large
    /// enough.
    #[cfg_attr(target_pointer_width = "64", inline)]
    fn put_frame(&mut self, opcode: OpCode, fin: bool, payload: &[u8], out: &mut [u8]) -> usize {
        let (hl, mask) = self.put_header(opcode, fin, payload.len() as u64, out);
        let end = hl.saturating_add(payload.len());
        let dst = out.get_mut(hl..end).unwrap_or_default();
        match mask {
            Some(m) => {
                mask_copy(payload, dst, m, 0);
            }
            None => {
                if dst.len() == payload.len() {
                    dst.copy_from_slice(payload);
                }
            }
        }
        end
    }

    /// Length of the queued pong and keepalive ping (both exist only while open).
    #[inline]
    pub(super) fn queued_pings_len(&self) -> usize {
        let Lifecycle::Open { pong } = &self.lifecycle else {
            return 0;
        };
        let mut n = 0usize;
        if let Some(p) = pong.get() {
            n = self.frame_len(p.len());
        }
        if self.flags.has(Flags::PING_QUEUED) {
            n = n.saturating_add(self.frame_len(0));
        }
        n
    }

    /// Writes the queued pong and keepalive ping into `out`, whose room for their `ctrl`
    /// bytes (from [`queued_pings_len`](Self::queued_pings_len)) the caller checked.
    #[inline]
    pub(super) fn put_queued_pings(&mut self, ctrl: usize, out: &mut [u8]) -> usize {
        if ctrl == 0 {
            0
        } else {
            self.put_queued_pings_now(out)
        }
    }

    #[cold]
    #[inline(never)]
    fn put_queued_pings_now(&mut self, out: &mut [u8]) -> usize {
        let mut n = 0usize;
        let mut payload = [0u8; 125];
        let mut pong_len = None;
        if let Lifecycle::Open { pong } = &mut self.lifecycle {
            if let Some(p) = pong.get() {
                let len = p.len();
                for (d, s) in payload.iter_mut().zip(p) {
                    *d = *s;
                }
                pong_len = Some(len);
                pong.clear();
            }
        }
        if let Some(len) = pong_len {
            let p = payload.get(..len).unwrap_or_default();
            n = self.put_frame(OpCode::Pong, true, p, out);
        }
        if matches!(self.lifecycle, Lifecycle::Open { .. }) && self.flags.has(Flags::PING_QUEUED) {
            self.flags.set(Flags::PING_QUEUED, false);
            let rest = out.get_mut(n..).unwrap_or_default();
            n = n.saturating_add(self.put_frame(OpCode::Ping, true, &[], rest));
        }
        n
    }

    /// Writes the frames the connection queued itself — a pong, a keepalive ping, a close
    /// (reply or failure) — or, on a server whose handshake failed, the HTTP error response.
    /// Returns 0 when nothing is queued, and also while a streamed frame is partly sent
    /// (control frames cannot interrupt a frame; a connection failing then ends without a
    /// close frame). Call it after every `read`, `handle_timeout` and `handle_eof`.
    pub fn poll_transmit(&mut self, out: &mut [u8]) -> Result<usize, Error> {
        let queued_close = match self.lifecycle {
            Lifecycle::HttpError(e) => {
                let n = write_error(e, out)?;
                self.move_to_closed();
                return Ok(n);
            }
            Lifecycle::Open { .. } => None,
            Lifecycle::Closing(Closing::Received { echo }) => Some((echo, "")),
            Lifecycle::Closing(Closing::Failing(e)) => Some((Some(e.close_code()), e.as_str())),
            _ => return Ok(0),
        };
        if self.tx.in_frame() {
            if let Lifecycle::Closing(Closing::Failing(_)) = self.lifecycle {
                // A close frame cannot go inside the payload of the frame being streamed (the
                // peer would take it for payload): fail without one; the transport closes.
                self.tx.abandon();
                self.move_to_closed();
            }
            return Ok(0);
        }
        if let Some((code, reason)) = queued_close {
            return self.put_close(0, code, reason, out);
        }
        let needed = self.queued_pings_len();
        if out.len() < needed {
            return Err(Error::BufferTooSmall { needed });
        }
        Ok(self.put_queued_pings(needed, out))
    }

    /// Writes a close frame (`code`, `reason`) and moves the lifecycle on.
    fn put_close(
        &mut self,
        now: u64,
        code: Option<CloseCode>,
        reason: &str,
        out: &mut [u8],
    ) -> Result<usize, Error> {
        let mut payload = [0u8; 125];
        let pl = write_close_payload(code, reason, &mut payload);
        let needed = self.frame_len(pl);
        if out.len() < needed {
            return Err(Error::BufferTooSmall { needed });
        }
        let n = self.put_frame(
            OpCode::Close,
            true,
            payload.get(..pl).unwrap_or_default(),
            out,
        );
        self.move_to_close_sent(now, code);
        Ok(n)
    }

    pub(super) fn check_can_start_frame(&self) -> Result<(), Error> {
        if !matches!(self.lifecycle, Lifecycle::Open { .. }) {
            return Err(Error::InvalidState);
        }
        if self.tx.in_frame() {
            return Err(Error::FrameInProgress);
        }
        Ok(())
    }

    /// Writes queued pings/pongs, then one frame, checking the total size first.
    fn send_frame(
        &mut self,
        opcode: OpCode,
        fin: bool,
        payload: &[u8],
        out: &mut [u8],
    ) -> Result<usize, Error> {
        let ctrl = self.queued_pings_len();
        let needed = ctrl.saturating_add(self.frame_len(payload.len()));
        if out.len() < needed {
            return Err(Error::BufferTooSmall { needed });
        }
        let n = self.put_queued_pings(ctrl, out);
        let rest = out.get_mut(n..).unwrap_or_default();
        Ok(n.saturating_add(self.put_frame(opcode, fin, payload, rest)))
    }

    /// Sends a whole text message as one frame.
    #[cfg_attr(target_pointer_width = "64", inline)]
    pub fn send_text(&mut self, text: &str, out: &mut [u8]) -> Result<usize, Error> {
        self.send(MessageKind::Text, text.as_bytes(), out)
    }

    /// Sends a whole binary message as one frame.
    #[cfg_attr(target_pointer_width = "64", inline)]
    pub fn send_binary(&mut self, data: &[u8], out: &mut [u8]) -> Result<usize, Error> {
        self.send(MessageKind::Binary, data, out)
    }

    /// Sends a whole message as one frame. Text must be valid UTF-8.
    #[cfg_attr(target_pointer_width = "64", inline)]
    pub fn send(&mut self, kind: MessageKind, data: &[u8], out: &mut [u8]) -> Result<usize, Error> {
        // The common case on hosts, small enough to inline into the caller: a server (no
        // mask) with nothing else to write. Same bytes and state as the general path.
        if cfg!(target_pointer_width = "64") && self.unmasked_and_idle() {
            let valid = kind == MessageKind::Binary || simdutf8::basic::from_utf8(data).is_ok();
            if valid {
                if let Some(n) = put_unmasked_frame(OpCode::starting(kind), data, out) {
                    return Ok(n);
                }
            }
        }
        self.send_general(kind, data, out)
    }

    /// A server, open, with no control frame queued and no message or streamed frame in
    /// progress: a whole message is a header and the payload.
    #[inline]
    fn unmasked_and_idle(&self) -> bool {
        let Lifecycle::Open { pong } = &self.lifecycle else {
            return false;
        };
        self.role == Role::Server
            && pong.get().is_none()
            && !self.flags.has(Flags::PING_QUEUED)
            && self.tx.msg.is_none()
            && !self.tx.in_frame()
    }

    #[inline(never)]
    fn send_general(
        &mut self,
        kind: MessageKind,
        data: &[u8],
        out: &mut [u8],
    ) -> Result<usize, Error> {
        let op = self.whole_message_opcode(kind, data)?;
        self.send_frame(op, true, data, out)
    }

    /// Checks that a whole message of `kind` can be sent now; its opcode.
    pub(super) fn whole_message_opcode(
        &self,
        kind: MessageKind,
        data: &[u8],
    ) -> Result<OpCode, Error> {
        self.check_can_start_frame()?;
        if self.tx.msg.is_some() {
            return Err(Error::MessageState);
        }
        if kind == MessageKind::Text && simdutf8::basic::from_utf8(data).is_err() {
            return Err(Error::InvalidUtf8);
        }
        Ok(OpCode::starting(kind))
    }

    /// Sends a whole message as one frame without copying its payload (a vectored write):
    /// writes any queued pongs/pings and the frame header into `out` and returns their
    /// length; a client masks `payload` in place, a server leaves it untouched. Write
    /// `out[..n]`, then `payload`, to the socket in that order (one `writev`). Text must be
    /// valid UTF-8. On any error nothing is written, `payload` is unchanged and the
    /// connection is as it was.
    ///
    /// ```
    /// use wsmachine::{Config, Connection, MessageKind, Role};
    ///
    /// let mut client = Connection::new_open(Role::Client, Config::new(), 0, [7; 16])?;
    /// let mut payload = *b"hello";
    /// let mut head = [0u8; 14];
    /// let n = client.send_in_place(MessageKind::Text, &mut payload, &mut head)?;
    /// assert_eq!((n, &head[..2]), (6, &[0x81, 0x85][..])); // FIN text, masked, 5 bytes
    /// assert_ne!(&payload, b"hello"); // masked with the key in head[2..6]
    /// # Ok::<(), wsmachine::Error>(())
    /// ```
    #[cfg_attr(target_pointer_width = "64", inline)]
    pub fn send_in_place(
        &mut self,
        kind: MessageKind,
        payload: &mut [u8],
        out: &mut [u8],
    ) -> Result<usize, Error> {
        // As in `send`: a server with nothing else to write only needs the header.
        if cfg!(target_pointer_width = "64") && self.unmasked_and_idle() {
            let valid = kind == MessageKind::Binary || simdutf8::basic::from_utf8(payload).is_ok();
            if valid {
                if let Some(n) = put_unmasked_header(OpCode::starting(kind), payload.len(), out) {
                    return Ok(n);
                }
            }
        }
        self.send_in_place_general(kind, payload, out)
    }

    #[inline(never)]
    fn send_in_place_general(
        &mut self,
        kind: MessageKind,
        payload: &mut [u8],
        out: &mut [u8],
    ) -> Result<usize, Error> {
        let (n, mask) = self.put_whole_header(kind, payload, out)?;
        if let Some(m) = mask {
            apply_mask(payload, m, 0);
        }
        Ok(n)
    }

    /// Queued pings/pongs and the header of a whole message of `payload`'s length (checked
    /// first: on error nothing is written); their length and the masking key.
    fn put_whole_header(
        &mut self,
        kind: MessageKind,
        payload: &[u8],
        out: &mut [u8],
    ) -> Result<(usize, Option<[u8; 4]>), Error> {
        let opcode = self.whole_message_opcode(kind, payload)?;
        let ctrl = self.queued_pings_len();
        let needed = ctrl.saturating_add(header_len(payload.len() as u64, self.masked()));
        if out.len() < needed {
            return Err(Error::BufferTooSmall { needed });
        }
        let n = self.put_queued_pings(ctrl, out);
        let rest = out.get_mut(n..).unwrap_or_default();
        let (hl, mask) = self.put_header(opcode, true, payload.len() as u64, rest);
        Ok((n.saturating_add(hl), mask))
    }

    /// [`send_in_place`](Self::send_in_place) for a connection that does not mask (a server),
    /// with a shared payload that is only read: writes any queued pongs/pings and the frame
    /// header into `out` and returns their length. Write `out[..n]`, then `payload`, to the
    /// socket in that order. A client must mask its frames: it gets
    /// [`Error::InvalidState`] (use `send_in_place` or `send`). On any error nothing is
    /// written and the connection is as it was.
    ///
    /// ```
    /// use wsmachine::{Config, Connection, MessageKind, Role};
    ///
    /// let mut server = Connection::new_open(Role::Server, Config::new(), 0, [7; 16])?;
    /// let mut head = [0u8; 14];
    /// let n = server.send_header(MessageKind::Text, b"hello", &mut head)?;
    /// assert_eq!(&head[..n], &[0x81, 0x05][..]); // FIN text, unmasked, 5 bytes
    /// # Ok::<(), wsmachine::Error>(())
    /// ```
    #[cfg_attr(target_pointer_width = "64", inline)]
    pub fn send_header(
        &mut self,
        kind: MessageKind,
        payload: &[u8],
        out: &mut [u8],
    ) -> Result<usize, Error> {
        if self.masked() {
            return Err(Error::InvalidState);
        }
        // As in `send`: a server with nothing else to write only needs the header.
        if cfg!(target_pointer_width = "64") && self.unmasked_and_idle() {
            let valid = kind == MessageKind::Binary || simdutf8::basic::from_utf8(payload).is_ok();
            if valid {
                if let Some(n) = put_unmasked_header(OpCode::starting(kind), payload.len(), out) {
                    return Ok(n);
                }
            }
        }
        self.send_header_general(kind, payload, out)
    }

    #[inline(never)]
    fn send_header_general(
        &mut self,
        kind: MessageKind,
        payload: &[u8],
        out: &mut [u8],
    ) -> Result<usize, Error> {
        self.put_whole_header(kind, payload, out).map(|(n, _)| n)
    }

    /// Works out the opcode for the next frame of a (possibly fragmented) message and checks
    /// the text so far; does not change state.
    pub(super) fn fragment_opcode(&self, kind: MessageKind) -> Result<OpCode, Error> {
        match self.tx.msg {
            None => Ok(OpCode::starting(kind)),
            // A compressed message continues only with `send_compressed_fragment`.
            Some(k) if k == kind && !self.tx_compressed() => Ok(OpCode::Continuation),
            Some(_) => Err(Error::MessageState),
        }
    }

    /// Sends one frame of a fragmented message: the first call starts a message of type
    /// `kind`, later calls (with the same `kind`) continue it, and `fin` ends it. Text is
    /// validated across fragments (a code point may be split between them).
    pub fn send_fragment(
        &mut self,
        kind: MessageKind,
        data: &[u8],
        fin: bool,
        out: &mut [u8],
    ) -> Result<usize, Error> {
        self.check_can_start_frame()?;
        let op = self.fragment_opcode(kind)?;
        let mut utf8 = if op == OpCode::Continuation {
            self.tx.utf8
        } else {
            Utf8Validator::new()
        };
        if kind == MessageKind::Text && (utf8.feed(data).is_err() || (fin && !utf8.is_complete())) {
            return Err(Error::InvalidUtf8);
        }
        let n = self.send_frame(op, fin, data, out)?;
        self.tx.utf8 = utf8;
        self.tx.msg = if fin { None } else { Some(kind) };
        self.clear_tx_compressed();
        Ok(n)
    }

    /// Starts a streamed frame of `len` payload bytes (first frame of a message of type `kind`,
    /// or its continuation if a fragmented message is in progress): writes queued
    /// pings/pongs and the frame header. Then pass the payload, in pieces of any size, to
    /// [`send_payload`](Self::send_payload). Memory use does not depend on `len`.
    pub fn begin_frame(
        &mut self,
        kind: MessageKind,
        fin: bool,
        len: u64,
        out: &mut [u8],
    ) -> Result<usize, Error> {
        self.check_can_start_frame()?;
        let op = self.fragment_opcode(kind)?;
        if kind == MessageKind::Text
            && fin
            && len == 0
            && op == OpCode::Continuation
            && !self.tx.utf8.is_complete()
        {
            // An empty final frame would end the text inside a code point.
            return Err(Error::InvalidUtf8);
        }
        let ctrl = self.queued_pings_len();
        let needed = ctrl.saturating_add(header_len(len, self.masked()));
        if out.len() < needed {
            return Err(Error::BufferTooSmall { needed });
        }
        let n = self.put_queued_pings(ctrl, out);
        let (hl, key) = self.put_header(op, fin, len, out.get_mut(n..).unwrap_or_default());
        if op != OpCode::Continuation {
            self.tx.utf8.reset();
        }
        self.tx.msg = Some(kind);
        self.clear_tx_compressed();
        self.tx.mask = key.unwrap_or_default();
        self.tx.mask_off = 0;
        self.tx.frame_remaining = len;
        self.tx.streaming = Some(fin);
        self.end_streamed_frame_if_done();
        Ok(n.saturating_add(hl))
    }

    fn end_streamed_frame_if_done(&mut self) {
        if let Some(fin) = self.tx.streaming {
            if self.tx.frame_remaining == 0 {
                self.tx.streaming = None;
                if fin {
                    self.tx.msg = None;
                }
            }
        }
    }

    /// Copies (masking, for clients) the next piece of a streamed frame's payload into `out`;
    /// returns `data.len()`. Text is validated incrementally; on invalid text nothing is
    /// written and the frame cannot be completed (close the transport).
    pub fn send_payload(&mut self, data: &[u8], out: &mut [u8]) -> Result<usize, Error> {
        if !self.tx.in_frame() || self.lifecycle.is_over() {
            return Err(Error::NoFrameInProgress);
        }
        if data.len() as u64 > self.tx.frame_remaining {
            return Err(Error::PayloadOverrun);
        }
        let dst = out
            .get_mut(..data.len())
            .ok_or(Error::BufferTooSmall { needed: data.len() })?;
        if self.tx.msg == Some(MessageKind::Text) {
            let mut v = self.tx.utf8;
            let last =
                self.tx.streaming == Some(true) && data.len() as u64 == self.tx.frame_remaining;
            if v.feed(data).is_err() || (last && !v.is_complete()) {
                return Err(Error::InvalidUtf8);
            }
            self.tx.utf8 = v;
        }
        if self.masked() {
            let off = usize::from(self.tx.mask_off);
            self.tx.mask_off = mask_copy(data, dst, self.tx.mask, off) as u8;
        } else {
            dst.copy_from_slice(data);
        }
        self.tx.frame_remaining -= data.len() as u64;
        self.end_streamed_frame_if_done();
        Ok(data.len())
    }

    /// Payload bytes the streamed frame still expects (0 when none is in progress).
    pub fn payload_remaining(&self) -> u64 {
        if self.tx.in_frame() {
            self.tx.frame_remaining
        } else {
            0
        }
    }

    fn send_control(&mut self, op: OpCode, payload: &[u8], out: &mut [u8]) -> Result<usize, Error> {
        if payload.len() > 125 {
            return Err(Error::ControlPayloadTooLong);
        }
        self.check_can_start_frame()?;
        self.send_frame(op, true, payload, out)
    }

    /// Sends a ping (payload at most 125 bytes). Allowed between the fragments of a message.
    pub fn send_ping(&mut self, payload: &[u8], out: &mut [u8]) -> Result<usize, Error> {
        self.send_control(OpCode::Ping, payload, out)
    }

    /// Sends an unsolicited pong (payload at most 125 bytes), e.g. as a unidirectional
    /// heartbeat.
    pub fn send_pong(&mut self, payload: &[u8], out: &mut [u8]) -> Result<usize, Error> {
        self.send_control(OpCode::Pong, payload, out)
    }

    /// Starts (or, when the peer's close arrived first, completes) the closing handshake:
    /// writes a close frame with `code` and `reason` (at most 123 bytes) into `out`. Sending
    /// data afterwards is an error. A fragmented message in progress is abandoned.
    pub fn close(
        &mut self,
        now: u64,
        code: CloseCode,
        reason: &str,
        out: &mut [u8],
    ) -> Result<usize, Error> {
        if reason.len() > MAX_REASON_LEN {
            return Err(Error::ReasonTooLong);
        }
        if !CloseCode::is_sendable(code.get()) {
            return Err(Error::InvalidCloseCode);
        }
        if !matches!(
            self.lifecycle,
            Lifecycle::Open { .. } | Lifecycle::Closing(Closing::Received { .. })
        ) {
            return Err(Error::InvalidState);
        }
        if self.tx.in_frame() {
            return Err(Error::FrameInProgress);
        }
        self.put_close(now, Some(code), reason, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use std::vec;

    /// The inlined server path and the general path write the same bytes and report the same
    /// errors, at every header form's edges and every buffer size around the frame's.
    #[test]
    fn server_fast_path_matches_the_general_path() {
        let open = || Connection::new_open(Role::Server, Config::new(), 0, [0; 16]).unwrap();
        for len in [0usize, 1, 124, 125, 126, 127, 65_535, 65_536, 70_000] {
            for kind in [MessageKind::Binary, MessageKind::Text] {
                let payload = vec![b'a'; len];
                let frame = header_len(len as u64, false) + len;
                for room in [frame - 1, frame, frame + 3] {
                    let (mut fast, mut general) = (open(), open());
                    let (mut a, mut b) = (vec![0u8; room], vec![0u8; room]);
                    let ra = fast.send(kind, &payload, &mut a);
                    let rb = general.send_general(kind, &payload, &mut b);
                    assert_eq!(ra, rb, "send, len {len}, room {room}");
                    assert_eq!(a, b, "send bytes, len {len}, room {room}");
                    let (mut fast, mut general) = (open(), open());
                    let (mut pa, mut pb) = (payload.clone(), payload.clone());
                    let room = room.saturating_sub(len);
                    let (mut a, mut b) = (vec![0u8; room], vec![0u8; room]);
                    let ra = fast.send_in_place(kind, &mut pa, &mut a);
                    let rb = general.send_in_place_general(kind, &mut pb, &mut b);
                    assert_eq!(ra, rb, "send_in_place, len {len}, room {room}");
                    assert_eq!((a, pa), (b, pb), "send_in_place bytes, len {len}");
                }
            }
        }
        // Invalid text and a queued pong take the general path's answers.
        let mut c = open();
        assert_eq!(
            c.send(MessageKind::Text, b"\xff", &mut [0; 16]),
            Err(Error::InvalidUtf8)
        );
        let Lifecycle::Open { pong } = &mut c.lifecycle else {
            panic!("open");
        };
        pong.set(b"p");
        let mut out = [0u8; 16];
        let n = c.send(MessageKind::Binary, b"x", &mut out).unwrap();
        assert_eq!(&out[..n], b"\x8a\x01p\x82\x01x");
    }
}
