//! The sending half.

use std::future::poll_fn;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use tokio::time::Sleep;
use wsmachine::{CloseCode, CloseStatus, Failure, MessageKind, ReadyState, Role};

use crate::error::from_core;
use crate::shared::{Shared, State};
use crate::{Error, Payload};

/// The sending half of a connection (from [`WebSocket::split`](crate::WebSocket::split)).
///
/// Cheap to clone: every clone sends on the same connection, and each message is queued
/// whole under the connection's lock, so messages from several tasks never interleave.
pub struct WsWriter<S> {
    pub(crate) shared: Arc<Shared<S>>,
    /// The send timeout of the `Sink` methods (the async methods use `tokio::time::timeout`).
    #[cfg_attr(not(feature = "futures"), allow(dead_code))]
    pub(crate) timer: SendTimer,
}

impl<S> WsWriter<S> {
    pub(crate) fn new(shared: Arc<Shared<S>>) -> WsWriter<S> {
        WsWriter {
            shared,
            timer: SendTimer::default(),
        }
    }
}

impl<S> Clone for WsWriter<S> {
    fn clone(&self) -> Self {
        WsWriter::new(self.shared.clone())
    }
}

/// [`Options::send_timeout`](crate::Options::send_timeout) for poll-based sends: armed when
/// a wait starts (the first `Pending`), disarmed when it ends.
#[derive(Default)]
pub(crate) struct SendTimer {
    sleep: Option<Pin<Box<Sleep>>>,
}

impl SendTimer {
    /// Passes `r` through; while it is `Pending` for longer than the send timeout, abandons
    /// the connection and fails with [`Error::SendTimeout`].
    #[cfg_attr(not(feature = "futures"), allow(dead_code))]
    pub(crate) fn watch<S: AsyncWrite, T>(
        &mut self,
        shared: &Shared<S>,
        cx: &mut Context<'_>,
        r: Poll<Result<T, Error>>,
    ) -> Poll<Result<T, Error>> {
        let Some(limit) = shared.opts.send_timeout else {
            return r;
        };
        if r.is_ready() {
            self.sleep = None;
            return r;
        }
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        if sleep.as_mut().poll(cx).is_ready() {
            self.sleep = None;
            let mut st = shared.lock();
            shared.abort(&mut st);
            return Poll::Ready(Err(Error::SendTimeout));
        }
        Poll::Pending
    }
}

impl<S> std::fmt::Debug for WsWriter<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsWriter").finish_non_exhaustive()
    }
}

/// Room for a frame header after the control frames the core may hold (a pong and a ping).
const HEAD_ROOM: usize = 2 * (14 + 125) + 14;

/// Payloads up to this size written directly are copied after the header on the stack and
/// go out in one plain write; larger ones are written from the caller's buffer (a vectored
/// write).
const SMALL: usize = 1024;

/// Room asked for a frame of `len` payload bytes: the header, a queued pong and ping, slack.
fn frame_room(len: usize) -> usize {
    len.saturating_add(14 + 2 * (14 + 125) + 64)
}

impl<S: AsyncWrite> WsWriter<S> {
    /// Encodes one message into the queue (compressed when permessage-deflate was agreed).
    pub(crate) fn encode(
        &self,
        st: &mut State<S>,
        kind: MessageKind,
        data: &[u8],
    ) -> Result<(), Error> {
        if st.aborted {
            return Err(Error::Closed);
        }
        #[cfg(feature = "deflate")]
        {
            let State {
                conn,
                out,
                deflater,
                ..
            } = st;
            if let Some(c) = deflater.as_mut() {
                use wsmachine::deflate::Compress as _;
                let room = frame_room(c.bound(data.len()));
                return out
                    .push(room, |b| conn.send_compressed(kind, data, c, b))
                    .map(drop)
                    .map_err(from_core);
            }
        }
        let State { conn, out, .. } = st;
        out.push(frame_room(data.len()), |b| conn.send(kind, data, b))
            .map(drop)
            .map_err(from_core)
    }

    /// [`encode`](Self::encode), writing at once without the queue when it can: with the
    /// queue empty and an uncompressed message on a server (unmasked frames), the header
    /// (from the core's `send_header`) and `data` go to the stream in one write (vectored,
    /// straight from `data`, above [`SMALL`]; else from a copy on the stack), and only what
    /// the stream did not take is copied into the queue. Either way the whole frame is
    /// written or queued, in order, under the lock.
    fn encode_direct(
        &self,
        st: &mut State<S>,
        kind: MessageKind,
        data: &[u8],
    ) -> Result<(), Error> {
        #[cfg(feature = "deflate")]
        let compressing = st.deflater.is_some();
        #[cfg(not(feature = "deflate"))]
        let compressing = false;
        let direct = !st.aborted
            && !st.shut
            && !compressing
            && st.out.is_empty()
            && st.conn.role() == Role::Server
            && (data.len() <= SMALL || st.io.is_write_vectored());
        if !direct {
            return self.encode(st, kind, data);
        }
        // The header (after any control frames the core holds) on the stack, and a small
        // payload after it (one plain write): the queue's memory, cold on a server with many
        // connections, is touched only for what the stream does not take.
        let mut frame = [0u8; HEAD_ROOM + SMALL];
        let h = st
            .conn
            .send_header(kind, data, &mut frame[..HEAD_ROOM])
            .map_err(from_core)?;
        let (first, second) = if data.len() <= SMALL {
            frame[h..h + data.len()].copy_from_slice(data);
            (&frame[..h + data.len()], &[][..])
        } else {
            (&frame[..h], data)
        };
        let taken = self.shared.write_direct(st, first, second)?;
        let (first_rest, second_rest) = if taken < first.len() {
            (&first[taken..], second)
        } else {
            (&[][..], &second[(taken - first.len()).min(second.len())..])
        };
        let rest = first_rest.len() + second_rest.len();
        if rest > 0 {
            st.out
                .push(rest, |b| {
                    b[..first_rest.len()].copy_from_slice(first_rest);
                    b[first_rest.len()..rest].copy_from_slice(second_rest);
                    Ok(rest)
                })
                .map_err(from_core)?;
        }
        Ok(())
    }

    /// Runs `fut` under [`Options::send_timeout`](crate::Options::send_timeout); when it
    /// passes, abandons the connection.
    async fn timed<T>(&self, fut: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
        match self.shared.opts.send_timeout {
            None => fut.await,
            Some(limit) => match tokio::time::timeout(limit, fut).await {
                Ok(r) => r,
                Err(_) => {
                    let mut st = self.shared.lock();
                    self.shared.abort(&mut st);
                    Err(Error::SendTimeout)
                }
            },
        }
    }

    /// Ready once the queue holds at most the high-water mark (writing queued bytes to the
    /// stream meanwhile): the backpressure of every send.
    pub(crate) fn poll_room(&self, st: &mut State<S>, cx: &Context<'_>) -> Poll<Result<(), Error>> {
        if st.aborted {
            return Poll::Ready(Err(Error::Closed));
        }
        let limit = self.shared.opts.send_queue_limit;
        if st.out.len() > limit {
            if let Poll::Ready(Err(e)) = self.shared.poll_flush(st, Some(cx)) {
                return Poll::Ready(Err(e));
            }
            if st.out.len() > limit {
                return Poll::Pending;
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Queues `write`'s frame once the queue is at most the high-water mark, then writes the
    /// queue to the stream until it is empty.
    async fn queue_and_flush(
        &self,
        mut write: impl FnMut(&Self, &mut State<S>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let mut queued = false;
        self.timed(poll_fn(|cx| {
            let mut st = self.shared.lock();
            if !queued {
                if self.poll_room(&mut st, cx)?.is_pending() {
                    return Poll::Pending;
                }
                write(self, &mut st)?;
                queued = true;
            }
            self.shared.poll_flush(&mut st, Some(cx))
        }))
        .await
    }

    /// Sends a whole message and waits until the stream has taken it (and everything queued
    /// before it). When the queue is over its high-water mark (a peer that reads slowly),
    /// waits first for it to drain below: this is the backpressure. Text is `&str`, binary
    /// is bytes; `&Message` is either. On a server, a large uncompressed message is written
    /// from `msg` itself when nothing else is queued (a vectored write; only what the stream
    /// does not take at once is copied).
    pub async fn send<'a>(&self, msg: impl Into<Payload<'a>>) -> Result<(), Error> {
        let (kind, data) = msg.into().parts();
        self.queue_and_flush(|w, st| w.encode_direct(st, kind, data))
            .await
    }

    /// Queues a whole message without waiting: fails with [`Error::Full`] (queuing nothing)
    /// while the queue holds more than the high-water mark. The bytes leave with this call's
    /// own write attempt when the stream can take them, else with the next `send`, `flush`
    /// or `close`, or while the reading half is polled.
    pub fn try_send<'a>(&self, msg: impl Into<Payload<'a>>) -> Result<(), Error> {
        let (kind, data) = msg.into().parts();
        let mut st = self.shared.lock();
        if st.out.len() > self.shared.opts.send_queue_limit {
            let _ = self.shared.poll_flush(&mut st, None);
            if st.out.len() > self.shared.opts.send_queue_limit {
                return Err(Error::Full);
            }
        }
        self.encode(&mut st, kind, data)?;
        match self.shared.poll_flush(&mut st, None) {
            Poll::Ready(Err(e)) => Err(e),
            _ => Ok(()),
        }
    }

    /// Queues a whole message, waiting only for the queue to be at most the high-water mark
    /// (not for the stream to take the message): a burst of `feed`s followed by one
    /// [`flush`](Self::flush) makes fewer system calls than `send`s. Without a `flush`, the
    /// bytes leave with the next `send` or `close`, or when the reading half has no complete
    /// message left and waits for the stream (an echo with `next` + `feed` writes once per
    /// burst of requests). When nothing is queued and the reading half holds no more input
    /// (nothing to batch with), a server writes a large uncompressed message at once, straight
    /// from `msg`, as [`send`](Self::send) does.
    pub async fn feed<'a>(&self, msg: impl Into<Payload<'a>>) -> Result<(), Error> {
        let (kind, data) = msg.into().parts();
        self.timed(poll_fn(|cx| {
            let mut st = self.shared.lock();
            if self.poll_room(&mut st, cx)?.is_pending() {
                return Poll::Pending;
            }
            Poll::Ready(self.encode_fed(&mut st, kind, data))
        }))
        .await
    }

    /// Queues a fed message, or, when nothing would be written along with it (the queue is
    /// empty and the reader holds no more input, so no more replies are coming before the
    /// reader would flush), writes it straight away: [`encode_direct`](Self::encode_direct).
    pub(crate) fn encode_fed(
        &self,
        st: &mut State<S>,
        kind: MessageKind,
        data: &[u8],
    ) -> Result<(), Error> {
        if st.input_pending {
            self.encode(st, kind, data)
        } else {
            self.encode_direct(st, kind, data)
        }
    }

    /// Waits until everything queued has been written to the stream.
    pub async fn flush(&self) -> Result<(), Error> {
        self.timed(poll_fn(|cx| {
            let mut st = self.shared.lock();
            self.shared.poll_flush(&mut st, Some(cx))
        }))
        .await
    }

    /// Sends a ping (payload at most 125 bytes). The peer's pong arrives through the reading
    /// half (which must be polled).
    pub async fn ping(&self, payload: &[u8]) -> Result<(), Error> {
        self.queue_and_flush(|_, st| {
            let State { conn, out, .. } = st;
            out.push(256, |b| conn.send_ping(payload, b))
                .map(drop)
                .map_err(from_core)
        })
        .await
    }

    /// Starts the closing handshake: sends a close frame with `code` and `reason` (at most 123
    /// bytes) and waits until the stream has taken it. The handshake completes when the
    /// peer's close arrives through the reading half, which must be polled until it ends
    /// (or [`close_timeout_ms`](wsmachine::Config::close_timeout_ms) passes; 1006 then).
    pub async fn close(&self, code: CloseCode, reason: &str) -> Result<(), Error> {
        let now = self.shared.now();
        self.queue_and_flush(|_, st| {
            let State { conn, out, .. } = st;
            out.push(256, |b| conn.close(now, code, reason, b))
                .map(drop)
                .map_err(from_core)
        })
        .await
    }

    /// How the connection ended (or is ending): the peer's close code, ours when we failed
    /// it, 1006 ([`CloseStatus::Abnormal`]) when it ended without a closing handshake.
    /// `None` while open.
    pub fn close_status(&self) -> Option<CloseStatus> {
        self.shared.lock().conn.close_status()
    }

    /// Why the connection failed, if it did (protocol error, dead peer, close timeout,
    /// transport lost…).
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

    /// Bytes waiting in the send queue.
    pub fn queued(&self) -> usize {
        self.shared.lock().out.len()
    }

    /// The subprotocol agreed in the handshake.
    pub fn protocol(&self) -> Option<&str> {
        self.shared.protocol.as_deref()
    }

    /// The permessage-deflate parameters agreed in the handshake, if any.
    #[cfg(feature = "deflate")]
    pub fn deflate(&self) -> Option<wsmachine::deflate::Params> {
        self.shared.lock().conn.deflate()
    }

    /// Server: marks the connection authenticated, stopping the
    /// [`auth_timeout_ms`](wsmachine::Config::auth_timeout_ms) deadline (first-message
    /// authentication).
    pub fn set_authenticated(&self) {
        self.shared.lock().conn.set_authenticated();
    }
}
