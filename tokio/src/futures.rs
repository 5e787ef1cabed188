//! `futures` integration (feature `futures`): [`Stream`] of received messages for
//! [`WebSocket`] and [`WsReader`], [`Sink`] of messages to send for [`WebSocket`] and
//! [`WsWriter`], so that `StreamExt`/`SinkExt` (`forward`, `send_all`, `split`…) work as with
//! other WebSocket crates.
//!
//! The sink queues (`start_send`) and writes when flushed: `poll_ready` is the backpressure
//! (ready while the send queue holds at most its high-water mark), `poll_flush` waits until the
//! stream has taken everything queued, both under
//! [`Options::send_timeout`](crate::Options::send_timeout). `poll_close` sends a close frame
//! with 1000 (once) and flushes it; on a [`WebSocket`] it also reads (dropping what still
//! arrives) until the closing handshake is over, like [`WebSocket::close`].

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::{FusedStream, Stream};
use futures_sink::Sink;
use tokio::io::{AsyncRead, AsyncWrite};
use wsmachine::{CloseCode, ReadyState};

use crate::shared::State;
use crate::{Error, Message, WebSocket, WsReader, WsWriter};

impl<S: AsyncRead + AsyncWrite> Stream for WsReader<S> {
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_next_message(cx)
    }
}

impl<S: AsyncRead + AsyncWrite> FusedStream for WsReader<S> {
    fn is_terminated(&self) -> bool {
        self.is_ended()
    }
}

impl<S: AsyncRead + AsyncWrite> Stream for WebSocket<S> {
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().reader().poll_next_message(cx)
    }
}

impl<S: AsyncRead + AsyncWrite> FusedStream for WebSocket<S> {
    fn is_terminated(&self) -> bool {
        self.reader_ref().is_ended()
    }
}

impl<S: AsyncWrite> Sink<Message> for WsWriter<S> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        let r = this.poll_room(&mut this.shared.lock(), cx);
        this.timer.watch(&this.shared, cx, r)
    }

    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), Error> {
        let this = self.get_mut();
        let mut st = this.shared.lock();
        this.encode_fed(&mut st, item.kind(), item.as_bytes())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        let r = this.shared.poll_flush(&mut this.shared.lock(), Some(cx));
        this.timer.watch(&this.shared, cx, r)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        let r = {
            let mut st = this.shared.lock();
            if st.conn.state() == ReadyState::Open && !st.aborted {
                // (After our close or the peer's, the frame is queued already.)
                let now = this.shared.now();
                let State { conn, out, .. } = &mut *st;
                out.push(256, |b| conn.close(now, CloseCode::NORMAL, "", b))
                    .map_err(crate::error::from_core)?;
            }
            this.shared.poll_flush(&mut st, Some(cx))
        };
        this.timer.watch(&this.shared, cx, r)
    }
}

impl<S: AsyncRead + AsyncWrite> Sink<Message> for WebSocket<S> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Pin::new(self.get_mut().writer_mut()).poll_ready(cx)
    }

    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), Error> {
        Pin::new(self.get_mut().writer_mut()).start_send(item)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Pin::new(self.get_mut().writer_mut()).poll_flush(cx)
    }

    /// Sends the close frame (1000), then reads until the closing handshake is over (data
    /// that still arrives is dropped) or `close_timeout_ms` passes.
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        match Pin::new(this.writer_mut()).poll_close(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Ok(()) | Err(Error::Closed)) => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
        }
        this.reader().poll_drain(cx)
    }
}
