//! The receiving half: drives the core's read loop, its timers and the flushing of the frames
//! the core answers with (pongs, close replies).

use std::future::{poll_fn, Future};
use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf, ReadHalf};
use tokio::time::Sleep;
use wsmachine::{CloseStatus, Event, Failure, MessageKind, Phase, ProtocolError, ReadyState};

use crate::shared::Shared;
use crate::{Chunk, Error, Message};

/// Where the bytes of a chunk are.
#[derive(Clone, Copy, Debug)]
enum Source {
    /// `buf[range]`.
    Input,
    /// `inflated[range]`.
    #[cfg(feature = "deflate")]
    Inflated,
}

/// A chunk, by position (so that the core's borrow of the buffer ends before it is handed
/// out).
#[derive(Clone, Debug)]
struct Piece {
    kind: MessageKind,
    source: Source,
    range: Range<usize>,
    first: bool,
    last: bool,
}

/// A data chunk of the core, by position.
#[derive(Clone, Debug)]
struct Info {
    kind: MessageKind,
    range: Range<usize>,
    message_start: bool,
    frame_finished: bool,
    message_finished: bool,
    rsv: u8,
    compressed: bool,
}

/// A compressed chunk being inflated: `buf[start + done..end]` is still to go in.
#[cfg(feature = "deflate")]
#[derive(Clone, Copy, Debug)]
struct Compressed {
    kind: MessageKind,
    start: usize,
    end: usize,
    done: usize,
    message_start: bool,
    frame_finished: bool,
    message_finished: bool,
    rsv: u8,
}

/// The receiving half of a connection (from [`WebSocket::split`](crate::WebSocket::split)).
///
/// Polling it (`next`, `next_chunk`) also runs the connection's timers (keepalive pings,
/// dead-peer detection, the close and authentication deadlines) and flushes the frames the
/// connection answers with itself (pongs, the close reply): keep a task reading for as long
/// as the connection lives.
pub struct WsReader<S> {
    shared: Arc<Shared<S>>,
    io: ReadHalf<S>,
    buf: Box<[u8]>,
    /// `buf[pos..filled]` is received and not yet consumed by the core.
    pos: usize,
    filled: usize,
    eof: bool,
    /// The end was reported (`None` given once).
    ended: bool,
    /// A failure to report once, before the end.
    error: Option<Error>,
    /// The core's protocol failure (ours or the peer's) was reported.
    failure_reported: bool,
    sleep: Pin<Box<Sleep>>,
    /// The core deadline `sleep` is set for.
    sleep_for: Option<u64>,
    /// Inside a message: the next chunk is not its first.
    in_message: bool,
    /// The message being assembled by `next`.
    message: Vec<u8>,
    #[cfg(feature = "deflate")]
    inflater: Option<wsmachine::deflate::ZlibInflater>,
    #[cfg(feature = "deflate")]
    inflated: Box<[u8]>,
    #[cfg(feature = "deflate")]
    compressed: Option<Compressed>,
}

impl<S> std::fmt::Debug for WsReader<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsReader").finish_non_exhaustive()
    }
}

impl<S: AsyncRead + AsyncWrite> WsReader<S> {
    /// A reader over `io` whose first bytes (`initial`, already read past the handshake) are
    /// frames.
    pub(crate) fn new(shared: Arc<Shared<S>>, io: ReadHalf<S>, initial: &[u8]) -> WsReader<S> {
        let size = shared
            .opts
            .read_buffer_size
            .max(256)
            .max(initial.len() + wsmachine::MAX_PENDING_INPUT);
        let mut buf = vec![0u8; size].into_boxed_slice();
        buf[..initial.len()].copy_from_slice(initial);
        #[cfg(feature = "deflate")]
        let (inflater, inflated) = {
            let st = shared.lock();
            match st.conn.deflate() {
                Some(p) => {
                    let bits = p.decompress_window_bits(st.conn.role());
                    (
                        Some(wsmachine::deflate::ZlibInflater::new(bits)),
                        vec![0u8; shared.opts.read_buffer_size.max(256)].into_boxed_slice(),
                    )
                }
                None => (None, Box::default()),
            }
        };
        WsReader {
            shared,
            io,
            buf,
            pos: 0,
            filled: initial.len(),
            eof: false,
            ended: false,
            error: None,
            failure_reported: false,
            sleep: Box::pin(tokio::time::sleep(std::time::Duration::ZERO)),
            sleep_for: None,
            in_message: false,
            message: Vec::new(),
            #[cfg(feature = "deflate")]
            inflater,
            #[cfg(feature = "deflate")]
            inflated,
            #[cfg(feature = "deflate")]
            compressed: None,
        }
    }

    /// The next whole message, or `None` once the connection is over (then see
    /// [`close_status`](Self::close_status)). Messages are assembled in memory, up to the
    /// core's `max_message_size` (a larger one fails the connection with 1009). An error is
    /// reported once, then `None`.
    pub async fn next(&mut self) -> Option<Result<Message, Error>> {
        poll_fn(|cx| self.poll_next_message(cx)).await
    }

    /// The next piece of a message, for messages of any size: nothing is assembled, each
    /// chunk borrows the reader's buffer until the next call. `None` once the connection is
    /// over.
    pub async fn next_chunk(&mut self) -> Option<Result<Chunk<'_>, Error>> {
        let piece = match poll_fn(|cx| self.poll_piece(cx)).await? {
            Ok(p) => p,
            Err(e) => return Some(Err(e)),
        };
        Some(Ok(Chunk {
            kind: piece.kind,
            data: self.bytes(&piece),
            first: piece.first,
            last: piece.last,
        }))
    }

    /// `next` as a poll function (for a `Stream` adapter).
    pub fn poll_next_message(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Message, Error>>> {
        loop {
            let piece = match self.poll_piece(cx) {
                Poll::Ready(Some(Ok(p))) => p,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            };
            let whole = if piece.first && piece.last {
                self.bytes(&piece).to_vec()
            } else {
                if piece.first {
                    self.message.clear();
                }
                let data = match piece.source {
                    Source::Input => &self.buf[piece.range.clone()],
                    #[cfg(feature = "deflate")]
                    Source::Inflated => &self.inflated[piece.range.clone()],
                };
                self.message.extend_from_slice(data);
                if !piece.last {
                    continue;
                }
                std::mem::take(&mut self.message)
            };
            let msg = match piece.kind {
                MessageKind::Binary => Message::Binary(whole),
                // The core validated the text; this check cannot fail.
                MessageKind::Text => match String::from_utf8(whole) {
                    Ok(s) => Message::Text(s),
                    Err(_) => {
                        return Poll::Ready(Some(Err(Error::Protocol(ProtocolError::InvalidUtf8))))
                    }
                },
            };
            return Poll::Ready(Some(Ok(msg)));
        }
    }

    fn bytes(&self, p: &Piece) -> &[u8] {
        match p.source {
            Source::Input => &self.buf[p.range.clone()],
            #[cfg(feature = "deflate")]
            Source::Inflated => &self.inflated[p.range.clone()],
        }
    }

    /// A piece out of the core's chunk: `first` from our own message tracking.
    fn piece(
        &mut self,
        kind: MessageKind,
        source: Source,
        range: Range<usize>,
        last: bool,
    ) -> Piece {
        let first = !self.in_message;
        self.in_message = !last;
        Piece {
            kind,
            source,
            range,
            first,
            last,
        }
    }

    /// The read loop: events from the bytes held, then timers, then the stream.
    fn poll_piece(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Piece, Error>>> {
        let shared = self.shared.clone();
        loop {
            if self.ended {
                return Poll::Ready(None);
            }
            #[cfg(feature = "deflate")]
            if let Some(c) = self.compressed {
                match self.inflate_step(c) {
                    Ok(Some(p)) => return Poll::Ready(Some(Ok(p))),
                    Ok(None) => continue,
                    Err(e) => {
                        self.compressed = None;
                        self.error.get_or_insert(e);
                        continue;
                    }
                }
            }
            let mut st = shared.lock();
            if st.aborted {
                drop(st);
                return self.end();
            }
            // Events from the bytes held (they arrived at the latest reading of the clock,
            // taken when they were read: one clock read per read from the stream).
            let now = shared.recent();
            let mut event = None;
            let mut consumed = 0;
            if self.pos < self.filled {
                let base = self.buf.as_ptr() as usize;
                let outcome = match st.conn.read(now, &mut self.buf[self.pos..self.filled]) {
                    Ok(o) => o,
                    Err(e) => {
                        drop(st);
                        self.error.get_or_insert(crate::error::from_core(e));
                        self.eof = true;
                        return self.end();
                    }
                };
                consumed = outcome.consumed;
                event = match outcome.event {
                    None => None,
                    Some(Event::Data(c)) => {
                        let at = c.data.as_ptr() as usize - base;
                        Some(Info {
                            kind: c.kind,
                            range: at..at + c.data.len(),
                            message_start: c.message_start,
                            frame_finished: c.frame_finished,
                            message_finished: c.message_finished,
                            rsv: c.rsv,
                            compressed: c.compressed,
                        })
                    }
                    // Reported at the end, from `failure()`, like the failures of timers.
                    Some(Event::Failed(_)) => None,
                    // The peer's close is answered (queued below) and ends the connection.
                    Some(Event::Close { reason, .. }) => {
                        st.close_reason = Some(reason.to_owned());
                        None
                    }
                    // Pings are answered by the core, pongs prove the peer alive.
                    Some(Event::Ping(_) | Event::Pong(_)) => None,
                    Some(Event::RejectBody { .. }) => None,
                };
                self.pos += consumed;
                st.input_pending = self.pos < self.filled;
            }
            let answered = shared.transmit(&mut st);
            match event {
                Some(chunk) => {
                    // Opportunistic: pongs go out without waiting for a writer. (Messages a
                    // writer only queued, `feed`, wait until there is no more input to read:
                    // replies to a burst of messages leave in one write.)
                    if answered {
                        let _ = shared.poll_flush(&mut st, Some(cx));
                    }
                    drop(st);
                    #[cfg(feature = "deflate")]
                    if chunk.compressed {
                        // The bytes stay in place until inflated (before the next read).
                        self.compressed = Some(Compressed {
                            kind: chunk.kind,
                            start: chunk.range.start,
                            end: chunk.range.end,
                            done: 0,
                            message_start: chunk.message_start,
                            frame_finished: chunk.frame_finished,
                            message_finished: chunk.message_finished,
                            rsv: chunk.rsv,
                        });
                        continue;
                    }
                    // (Used by the inflater only.)
                    let _ = (
                        chunk.frame_finished,
                        chunk.rsv,
                        chunk.message_start,
                        chunk.compressed,
                    );
                    if chunk.range.is_empty() && !chunk.message_finished {
                        continue;
                    }
                    let last = chunk.message_finished;
                    let p = self.piece(chunk.kind, Source::Input, chunk.range, last);
                    return Poll::Ready(Some(Ok(p)));
                }
                None if consumed > 0 => continue,
                None => {}
            }
            // Nothing more in the bytes held: the transport's end, timers, the stream.
            if st.conn.should_close_transport() || self.eof {
                return match shared.poll_shutdown(&mut st, cx) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(_) => {
                        drop(st);
                        self.end()
                    }
                };
            }
            if !st.out.is_empty() {
                if let Poll::Ready(Err(e)) = shared.poll_flush(&mut st, Some(cx)) {
                    // After the closing handshake (a client waiting for the server to close
                    // TCP), a peer that is gone already is the expected end, not an error.
                    if st.conn.phase() != Phase::Closed {
                        self.error.get_or_insert(e);
                    }
                    drop(st);
                    self.eof = true;
                    continue;
                }
            }
            if let Some(deadline) = st.conn.poll_timeout() {
                if deadline <= now {
                    st.conn.handle_timeout(now);
                    continue;
                }
                if self.sleep_for != Some(deadline) {
                    self.sleep.as_mut().reset(shared.instant(deadline));
                    self.sleep_for = Some(deadline);
                }
                if self.sleep.as_mut().poll(cx).is_ready() {
                    self.sleep_for = None;
                    st.conn.handle_timeout(shared.now().max(deadline));
                    continue;
                }
            }
            drop(st);
            // Room: unconsumed bytes (at most a control frame) move to the front.
            if self.pos == self.filled {
                self.pos = 0;
                self.filled = 0;
            } else if self.pos > 0 {
                self.buf.copy_within(self.pos..self.filled, 0);
                self.filled -= self.pos;
                self.pos = 0;
            }
            let mut rb = ReadBuf::new(&mut self.buf[self.filled..]);
            match Pin::new(&mut self.io).poll_read(cx, &mut rb) {
                Poll::Ready(Ok(())) => {
                    let n = rb.filled().len();
                    if n == 0 {
                        self.eof = true;
                        shared.lock().conn.handle_eof();
                    } else {
                        self.filled += n;
                        shared.now();
                    }
                }
                Poll::Ready(Err(e)) => {
                    self.eof = true;
                    shared.lock().conn.handle_eof();
                    self.error.get_or_insert(Error::Io(e));
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// Inflates more of the compressed chunk `c`: a piece when bytes came out (or the message
    /// ended), `None` to go on.
    #[cfg(feature = "deflate")]
    fn inflate_step(&mut self, mut c: Compressed) -> Result<Option<Piece>, Error> {
        let shared = self.shared.clone();
        let Some(inflater) = self.inflater.as_mut() else {
            return Err(Error::Usage(wsmachine::Error::NotCompressed));
        };
        let chunk = wsmachine::DataChunk {
            kind: c.kind,
            data: &self.buf[c.start..c.end],
            message_start: c.message_start,
            frame_finished: c.frame_finished,
            message_finished: c.message_finished,
            rsv: c.rsv,
            compressed: true,
        };
        let input = &self.buf[c.start + c.done..c.end];
        let mut st = shared.lock();
        let now = shared.recent();
        let r = st
            .conn
            .inflate(now, inflater, &chunk, input, &mut self.inflated)
            .map_err(crate::error::from_core)?;
        if r.failed.is_some() {
            // The connection failed (reported at the end, from `failure()`).
            let _ = shared.transmit(&mut st);
            self.compressed = None;
            return Ok(None);
        }
        drop(st);
        c.done += r.consumed;
        self.compressed = if r.done { None } else { Some(c) };
        let last = r.done && c.message_finished;
        if r.produced == 0 && !last {
            return Ok(None);
        }
        Ok(Some(self.piece(
            c.kind,
            Source::Inflated,
            0..r.produced,
            last,
        )))
    }

    /// The end: the failure first (once), then `None`.
    fn end(&mut self) -> Poll<Option<Result<Piece, Error>>> {
        if let Some(e) = self.error.take() {
            return Poll::Ready(Some(Err(e)));
        }
        if !self.failure_reported {
            self.failure_reported = true;
            if let Some(Failure::Protocol(e)) = self.shared.lock().conn.failure() {
                return Poll::Ready(Some(Err(Error::Protocol(e))));
            }
        }
        self.ended = true;
        Poll::Ready(None)
    }

    /// How the connection ended (or is ending); `None` while open. 1006
    /// ([`CloseStatus::Abnormal`]) when it ended without a closing handshake.
    pub fn close_status(&self) -> Option<CloseStatus> {
        self.shared.lock().conn.close_status()
    }

    /// Why the connection failed, if it did.
    pub fn failure(&self) -> Option<Failure> {
        self.shared.lock().conn.failure()
    }

    /// The reason the peer gave in its close frame, once it arrived.
    pub fn close_reason(&self) -> Option<String> {
        self.shared.lock().close_reason.clone()
    }

    /// The connection's ready state.
    pub fn state(&self) -> ReadyState {
        self.shared.lock().conn.state()
    }

    /// Whether the end was reported (`None` given).
    #[cfg(feature = "futures")]
    pub(crate) fn is_ended(&self) -> bool {
        self.ended
    }

    /// Reads until the end, dropping data (what `close` does after sending its frame).
    #[cfg(feature = "futures")]
    pub(crate) fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        loop {
            match self.poll_piece(cx) {
                Poll::Ready(None) => return Poll::Ready(Ok(())),
                Poll::Ready(Some(Ok(_))) => {}
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    pub(crate) fn shared(&self) -> &Arc<Shared<S>> {
        &self.shared
    }
}
