//! `WebSocket`: both halves together.

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use wsmachine::{CloseCode, CloseStatus, Connection, Failure, ReadyState};

use crate::shared::{Clock, OutQueue, Shared};
use crate::{Chunk, Error, Message, Options, Payload, WsReader, WsWriter};

/// The permessage-deflate parameters agreed (nothing without the feature).
#[cfg(feature = "deflate")]
pub(crate) type Deflate = wsmachine::deflate::Params;
#[cfg(not(feature = "deflate"))]
pub(crate) type Deflate = std::convert::Infallible;

/// Halves of different connections, given back by [`WebSocket::reunite`].
pub type Halves<S> = Box<(WsReader<S>, WsWriter<S>)>;

/// An open WebSocket connection over `S`.
///
/// Receive with [`next`](Self::next) (whole messages) or [`next_chunk`](Self::next_chunk)
/// (pieces of messages of any size); send with [`send`](Self::send) (waits for
/// backpressure), [`try_send`](Self::try_send) (never waits) or [`feed`](Self::feed) +
/// [`flush`](Self::flush); [`split`](Self::split) into a reader and a writer for two tasks.
/// The connection's timers run while it is being read: see [`WsReader`].
#[derive(Debug)]
pub struct WebSocket<S> {
    reader: WsReader<S>,
    writer: WsWriter<S>,
}

impl<S: AsyncRead + AsyncWrite> WebSocket<S> {
    /// Wraps an open core connection (after the opening handshake) over `stream`; `initial`
    /// are bytes already read after the handshake.
    pub(crate) fn open(
        stream: S,
        conn: Connection,
        clock: Clock,
        options: Options,
        protocol: Option<String>,
        initial: &[u8],
    ) -> WebSocket<S> {
        let (r, w) = tokio::io::split(stream);
        let shared = Arc::new(Shared::new(
            conn,
            w,
            OutQueue::default(),
            clock,
            options,
            protocol,
        ));
        WebSocket {
            reader: WsReader::new(shared.clone(), r, initial),
            writer: WsWriter::new(shared),
        }
    }

    /// A connection whose handshake happened elsewhere (inside an HTTP framework, or an
    /// RFC 8441 stream over HTTP/2): `stream` carries frames from the start. With the
    /// `deflate` feature, `deflate` gives the permessage-deflate parameters agreed there.
    pub fn from_open_stream(
        stream: S,
        role: wsmachine::Role,
        options: Options,
        #[cfg(feature = "deflate")] deflate: Option<wsmachine::deflate::Params>,
    ) -> Result<WebSocket<S>, Error> {
        #[cfg(not(feature = "deflate"))]
        let deflate = None;
        WebSocket::open_elsewhere(stream, role, options, deflate, None)
    }

    /// [`from_open_stream`](Self::from_open_stream) with the subprotocol agreed.
    pub(crate) fn open_elsewhere(
        stream: S,
        role: wsmachine::Role,
        options: Options,
        deflate: Option<Deflate>,
        protocol: Option<String>,
    ) -> Result<WebSocket<S>, Error> {
        let clock = Clock::start();
        let seed = crate::client::random16()?;
        let mut conn =
            Connection::new_open(role, options.config, 0, seed).map_err(crate::error::from_core)?;
        #[cfg(feature = "deflate")]
        conn.set_deflate(deflate).map_err(crate::error::from_core)?;
        #[cfg(not(feature = "deflate"))]
        let _ = (&mut conn, deflate);
        Ok(WebSocket::open(stream, conn, clock, options, protocol, &[]))
    }

    /// Splits into a reader and a writer, for two tasks (no task hop: both work on the
    /// connection under a short-held lock). Keep the reader polled: it runs the timers and
    /// completes the closing handshake.
    pub fn split(self) -> (WsReader<S>, WsWriter<S>) {
        (self.reader, self.writer)
    }

    /// Puts halves from [`split`](Self::split) back together; gives them back (boxed) if they
    /// belong to different connections.
    pub fn reunite(reader: WsReader<S>, writer: WsWriter<S>) -> Result<WebSocket<S>, Halves<S>> {
        if Arc::ptr_eq(reader.shared(), &writer.shared) {
            Ok(WebSocket { reader, writer })
        } else {
            Err(Box::new((reader, writer)))
        }
    }

    /// The next whole message; `None` once the connection is over (see
    /// [`WsReader::next`]).
    pub async fn next(&mut self) -> Option<Result<Message, Error>> {
        self.reader.next().await
    }

    /// The next piece of a message of any size (see [`WsReader::next_chunk`]).
    pub async fn next_chunk(&mut self) -> Option<Result<Chunk<'_>, Error>> {
        self.reader.next_chunk().await
    }

    /// Sends a message, waiting for backpressure (see [`WsWriter::send`]).
    pub async fn send<'a>(&self, msg: impl Into<Payload<'a>>) -> Result<(), Error> {
        self.writer.send(msg).await
    }

    /// Queues a message without waiting, or fails with [`Error::Full`] (see
    /// [`WsWriter::try_send`]).
    pub fn try_send<'a>(&self, msg: impl Into<Payload<'a>>) -> Result<(), Error> {
        self.writer.try_send(msg)
    }

    /// Queues a message, waiting only for queue room (see [`WsWriter::feed`]).
    pub async fn feed<'a>(&self, msg: impl Into<Payload<'a>>) -> Result<(), Error> {
        self.writer.feed(msg).await
    }

    /// Writes everything queued.
    pub async fn flush(&self) -> Result<(), Error> {
        self.writer.flush().await
    }

    /// Sends a ping.
    pub async fn ping(&self, payload: &[u8]) -> Result<(), Error> {
        self.writer.ping(payload).await
    }

    /// Closes: sends a close frame with `code` and `reason`, then reads (dropping any data
    /// that still arrives) until the peer's close and the end of the transport, or the
    /// `close_timeout_ms`. Returns the close status.
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<CloseStatus, Error> {
        match self.writer.close(code, reason).await {
            Ok(()) | Err(Error::Closed) => {}
            Err(e) => return Err(e),
        }
        while let Some(r) = self.reader.next_chunk().await {
            r?;
        }
        Ok(self.close_status().unwrap_or(CloseStatus::Abnormal))
    }

    /// How the connection ended; `None` while open (see [`WsWriter::close_status`]).
    pub fn close_status(&self) -> Option<CloseStatus> {
        self.writer.close_status()
    }

    /// Why the connection failed, if it did.
    pub fn failure(&self) -> Option<Failure> {
        self.writer.failure()
    }

    /// The reason the peer gave in its close frame, once it arrived.
    pub fn close_reason(&self) -> Option<String> {
        self.writer.close_reason()
    }

    /// The ready state.
    pub fn state(&self) -> ReadyState {
        self.writer.state()
    }

    /// The subprotocol agreed in the handshake.
    pub fn protocol(&self) -> Option<&str> {
        self.writer.protocol()
    }

    /// The permessage-deflate parameters agreed, if any.
    #[cfg(feature = "deflate")]
    pub fn deflate(&self) -> Option<wsmachine::deflate::Params> {
        self.writer.deflate()
    }

    /// Server: the connection is authenticated (stops the `auth_timeout_ms` deadline).
    pub fn set_authenticated(&self) {
        self.writer.set_authenticated()
    }

    /// Bytes waiting in the send queue.
    pub fn queued(&self) -> usize {
        self.writer.queued()
    }

    /// The reader, borrowed.
    pub fn reader(&mut self) -> &mut WsReader<S> {
        &mut self.reader
    }

    /// The writer, borrowed (clone it to send from another task while this one reads).
    pub fn writer(&self) -> &WsWriter<S> {
        &self.writer
    }

    #[cfg(feature = "futures")]
    pub(crate) fn writer_mut(&mut self) -> &mut WsWriter<S> {
        &mut self.writer
    }

    #[cfg(feature = "futures")]
    pub(crate) fn reader_ref(&self) -> &WsReader<S> {
        &self.reader
    }
}
