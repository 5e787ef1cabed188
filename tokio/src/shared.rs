//! What the two halves of a connection share: the core [`Connection`], the outgoing byte
//! queue and the stream's write half, behind one short-held `std::sync::Mutex` (never held
//! across an `.await`; every critical section is a few `poll_*` calls and a frame encode).

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use tokio::io::{AsyncWrite, WriteHalf};
use tokio::time::Instant;
use wsmachine::Connection;

use crate::Error;

/// The millisecond clock the core runs on: `tokio::time` (so a paused test clock drives the
/// connection's timers), counted from the connection's creation.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clock(Instant);

impl Clock {
    pub(crate) fn start() -> Clock {
        Clock(Instant::now())
    }

    /// Milliseconds since the start: the core's `now`.
    pub(crate) fn now(&self) -> u64 {
        u64::try_from(self.0.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The instant of the core's deadline `ms`.
    pub(crate) fn instant(&self, ms: u64) -> Instant {
        self.0 + Duration::from_millis(ms)
    }
}

/// Wakes every task that waits for the stream to become writable. Each direction of a tokio
/// I/O resource keeps one waker; both halves (and clones of the writer) may flush, so the
/// stream is always polled with this waker and the tasks register here.
#[derive(Default)]
pub(crate) struct WakeAll {
    waiters: Mutex<Vec<Waker>>,
}

impl WakeAll {
    fn register(&self, w: &Waker) {
        let mut list = lock(&self.waiters);
        if !list.iter().any(|x| x.will_wake(w)) {
            list.push(w.clone());
        }
    }
}

impl Wake for WakeAll {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let list = std::mem::take(&mut *lock(&self.waiters));
        for w in list {
            w.wake();
        }
    }
}

/// Locks `m`, ignoring poisoning: the state behind our locks stays consistent at every
/// point where a panic could unwind (none is expected).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// An empty send queue keeps at most this much memory.
const SHRINK_ABOVE: usize = 1 << 20;

/// Outgoing bytes: `buf[start..end]` is queued. The buffer stays initialised (the core writes
/// frames into `&mut [u8]`), so it only grows, zero-filled, when a frame needs more room.
#[derive(Debug, Default)]
pub(crate) struct OutQueue {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl OutQueue {
    pub(crate) fn len(&self) -> usize {
        self.end - self.start
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.start == self.end
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    fn consume(&mut self, n: usize) {
        self.start += n.min(self.len());
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            // A huge message grew the buffer: give the memory back once it is sent.
            if self.buf.len() > SHRINK_ABOVE {
                self.buf = Vec::new();
            }
        }
    }

    /// At least `room` bytes of writable space after the queued bytes.
    fn spare(&mut self, room: usize) -> &mut [u8] {
        if self.buf.len() - self.end < room {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            let want = self.end + room;
            if self.buf.len() < want {
                self.buf.resize(want.max(self.buf.len() * 2).max(4096), 0);
            }
        }
        &mut self.buf[self.end..]
    }

    fn commit(&mut self, n: usize) {
        self.end += n;
    }

    /// Lets `write` put bytes into spare room, growing the buffer to what the core says it
    /// needs (`BufferTooSmall`). `hint` is a first guess of the room needed.
    pub(crate) fn push(
        &mut self,
        hint: usize,
        mut write: impl FnMut(&mut [u8]) -> Result<usize, wsmachine::Error>,
    ) -> Result<usize, wsmachine::Error> {
        let mut room = hint.max(256);
        loop {
            let spare = self.spare(room);
            let have = spare.len();
            match write(spare) {
                Ok(n) => {
                    self.commit(n);
                    return Ok(n);
                }
                Err(wsmachine::Error::BufferTooSmall { needed }) if needed > have => room = needed,
                Err(e) => return Err(e),
            }
        }
    }

    /// The first `n` queued bytes, removed from the queue (valid until the next change).
    pub(crate) fn take_bytes(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.len());
        let range = self.start..self.start + n;
        // (Not `consume`: the bytes stay where they are until the next change.)
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        &self.buf[range]
    }

    /// Drops everything queued (the transport is abandoned).
    fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
    }
}

/// The state behind the lock.
pub(crate) struct State<S> {
    pub(crate) conn: Connection,
    pub(crate) out: OutQueue,
    pub(crate) io: WriteHalf<S>,
    /// The write half is shut down (or abandoned): nothing more can be written.
    pub(crate) shut: bool,
    /// The transport was abandoned (send timeout, write error): the reader stops too.
    pub(crate) aborted: bool,
    /// The reader holds received bytes it has not handed out yet (perhaps more messages): a
    /// fed message waits in the queue for their replies instead of being written at once.
    pub(crate) input_pending: bool,
    /// The reason in the peer's close frame.
    pub(crate) close_reason: Option<String>,
    /// The connection's compressor, once permessage-deflate is agreed.
    #[cfg(feature = "deflate")]
    pub(crate) deflater: Option<wsmachine::deflate::ZlibDeflater>,
}

/// One connection's shared part.
pub(crate) struct Shared<S> {
    state: Mutex<State<S>>,
    wake_all: Arc<WakeAll>,
    waker: Waker,
    clock: Clock,
    /// The latest reading of `clock` (milliseconds): what the core last saw, never less.
    latest: AtomicU64,
    pub(crate) opts: crate::Options,
    pub(crate) protocol: Option<String>,
}

impl<S> Shared<S> {
    pub(crate) fn new(
        conn: Connection,
        io: WriteHalf<S>,
        out: OutQueue,
        clock: Clock,
        opts: crate::Options,
        protocol: Option<String>,
    ) -> Shared<S> {
        #[cfg(feature = "deflate")]
        let deflater = conn.deflate().and_then(|p| {
            let bits = p.compress_window_bits(conn.role());
            wsmachine::deflate::ZlibDeflater::new(bits, opts.compression_level)
        });
        let wake_all = Arc::new(WakeAll::default());
        Shared {
            state: Mutex::new(State {
                conn,
                out,
                io,
                shut: false,
                aborted: false,
                input_pending: false,
                close_reason: None,
                #[cfg(feature = "deflate")]
                deflater,
            }),
            waker: Waker::from(wake_all.clone()),
            wake_all,
            latest: AtomicU64::new(clock.now()),
            clock,
            opts,
            protocol,
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State<S>> {
        lock(&self.state)
    }

    /// The core's `now`, read from the clock (and remembered for [`recent`](Self::recent)).
    pub(crate) fn now(&self) -> u64 {
        let t = self.clock.now();
        self.latest.fetch_max(t, Ordering::Relaxed).max(t)
    }

    /// The latest [`now`](Self::now), without reading the clock: what the reader passes with
    /// bytes it already holds (they arrived then). Never less than a `now` the core saw.
    pub(crate) fn recent(&self) -> u64 {
        self.latest.load(Ordering::Relaxed)
    }

    /// The instant of the core's deadline `ms`.
    pub(crate) fn instant(&self, ms: u64) -> Instant {
        self.clock.instant(ms)
    }

    /// Wakes every task waiting on the stream (after an abort, so that they see it).
    pub(crate) fn wake_all(&self) {
        self.waker.wake_by_ref();
    }
}

impl<S: AsyncWrite> Shared<S> {
    /// Writes queued bytes (and flushes the stream) until the queue is empty or the stream
    /// would block. `cx`, when given, is woken once more can be written. Holds no lock across
    /// anything but non-blocking `poll_*` calls.
    pub(crate) fn poll_flush(
        &self,
        st: &mut State<S>,
        cx: Option<&Context<'_>>,
    ) -> Poll<Result<(), Error>> {
        if st.aborted {
            return Poll::Ready(Err(Error::Closed));
        }
        let mut wcx = Context::from_waker(&self.waker);
        let mut registered = false;
        loop {
            let step = if st.out.is_empty() {
                if st.shut {
                    return Poll::Ready(Ok(()));
                }
                match Pin::new(&mut st.io).poll_flush(&mut wcx) {
                    Poll::Ready(Ok(())) => return Poll::Ready(Ok(())),
                    Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                    Poll::Pending => Poll::Pending,
                }
            } else if st.shut {
                return Poll::Ready(Err(Error::Closed));
            } else {
                match Pin::new(&mut st.io).poll_write(&mut wcx, st.out.bytes()) {
                    Poll::Ready(Ok(0)) => Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                    Poll::Ready(Ok(n)) => {
                        st.out.consume(n);
                        continue;
                    }
                    Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                    Poll::Pending => Poll::Pending,
                }
            };
            match step {
                Poll::Ready(Err(e)) => {
                    self.abort(st);
                    return Poll::Ready(Err(Error::Io(e)));
                }
                Poll::Ready(Ok(())) => {}
                Poll::Pending => {
                    let Some(cx) = cx else { return Poll::Pending };
                    if registered {
                        return Poll::Pending;
                    }
                    // Register, then poll once more: a wake-up between the first `Pending`
                    // and the registration is not lost.
                    self.wake_all.register(cx.waker());
                    registered = true;
                }
            }
        }
    }

    /// One write of `head` and `payload` (a frame's header, perhaps after control frames, and
    /// its payload; vectored unless `payload` is empty) while the queue is empty; returns how
    /// many bytes the stream took (0 when it would block). The caller queues the rest.
    pub(crate) fn write_direct(
        &self,
        st: &mut State<S>,
        head: &[u8],
        payload: &[u8],
    ) -> Result<usize, Error> {
        let mut wcx = Context::from_waker(&self.waker);
        let bufs = [io::IoSlice::new(head), io::IoSlice::new(payload)];
        let io = Pin::new(&mut st.io);
        let r = if payload.is_empty() {
            io.poll_write(&mut wcx, head)
        } else {
            io.poll_write_vectored(&mut wcx, &bufs)
        };
        match r {
            Poll::Ready(Ok(0)) => {
                self.abort(st);
                Err(Error::Io(io::ErrorKind::WriteZero.into()))
            }
            Poll::Ready(Ok(n)) => Ok(n),
            Poll::Ready(Err(e)) => {
                self.abort(st);
                Err(Error::Io(e))
            }
            Poll::Pending => Ok(0),
        }
    }

    /// Flushes, then shuts the write half down (the transport should close).
    pub(crate) fn poll_shutdown(
        &self,
        st: &mut State<S>,
        cx: &Context<'_>,
    ) -> Poll<Result<(), Error>> {
        if st.shut {
            return Poll::Ready(Ok(()));
        }
        match self.poll_flush(st, Some(cx)) {
            Poll::Ready(Ok(())) => {}
            other => return other,
        }
        let mut wcx = Context::from_waker(&self.waker);
        match Pin::new(&mut st.io).poll_shutdown(&mut wcx) {
            Poll::Ready(_) => {
                // An error here means the peer is gone already: the end is the same.
                st.shut = true;
                Poll::Ready(Ok(()))
            }
            Poll::Pending => {
                self.wake_all.register(cx.waker());
                match Pin::new(&mut st.io).poll_shutdown(&mut wcx) {
                    Poll::Ready(_) => {
                        st.shut = true;
                        Poll::Ready(Ok(()))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    /// Queues the frames the core queued itself (pongs, keepalive pings, close replies);
    /// whether there were any.
    pub(crate) fn transmit(&self, st: &mut State<S>) -> bool {
        // Nothing queued (the common case) needs no room: any frame needs at least one byte,
        // and too small a buffer changes nothing.
        if let Ok(0) = st.conn.poll_transmit(&mut []) {
            return false;
        }
        let mut any = false;
        loop {
            let State { conn, out, .. } = &mut *st;
            match out.push(256, |b| conn.poll_transmit(b)) {
                Ok(0) | Err(_) => return any,
                Ok(_) => any = true,
            }
        }
    }

    /// Abandons the transport: the connection ends as lost (1006), nothing more is written.
    pub(crate) fn abort(&self, st: &mut State<S>) {
        st.aborted = true;
        st.shut = true;
        st.out.clear();
        st.conn.handle_eof();
        // One attempt to tell the peer (a TCP shutdown completes at once); the stream closes
        // for good when both halves are dropped.
        let mut wcx = Context::from_waker(&self.waker);
        let _ = Pin::new(&mut st.io).poll_shutdown(&mut wcx);
        self.wake_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_grows_to_what_the_core_needs_and_keeps_order() {
        let mut q = OutQueue::default();
        // A writer that needs 10 000 bytes: the first offer (hint) is too small.
        let n = q
            .push(16, |b| {
                if b.len() < 10_000 {
                    return Err(wsmachine::Error::BufferTooSmall { needed: 10_000 });
                }
                b[..10_000].fill(1);
                Ok(10_000)
            })
            .unwrap();
        assert_eq!((n, q.len()), (10_000, 10_000));
        q.push(4, |b| {
            b[..4].copy_from_slice(b"tail");
            Ok(4)
        })
        .unwrap();
        q.consume(9_998);
        assert_eq!(q.bytes(), b"\x01\x01tail");
        assert_eq!(q.take_bytes(3), b"\x01\x01t");
        assert_eq!(q.bytes(), b"ail");
    }

    #[test]
    fn other_errors_pass_through_and_queue_nothing() {
        let mut q = OutQueue::default();
        let r = q.push(8, |_| Err(wsmachine::Error::InvalidState));
        assert_eq!(r, Err(wsmachine::Error::InvalidState));
        assert!(q.is_empty());
    }

    #[test]
    fn a_drained_queue_gives_back_a_large_buffer() {
        let mut q = OutQueue::default();
        q.push(2 << 20, |b| Ok(b.len().min(2 << 20))).unwrap();
        assert!(q.buf.len() >= 2 << 20);
        q.consume(1 << 20);
        assert!(q.buf.len() >= 2 << 20, "still holds bytes");
        q.consume(usize::MAX);
        assert!(q.is_empty() && q.buf.is_empty());
    }
}
