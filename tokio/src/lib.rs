//! # wsmachine-tokio
//!
//! Async WebSockets ([RFC 6455]) for [tokio] on the sans-IO [`wsmachine`] engine: servers
//! ([`accept`], [`accept_with`]) and clients ([`connect`], [`connect_with`], [`client`]) over
//! any `AsyncRead + AsyncWrite` stream, `wss://` with rustls, permessage-deflate
//! ([RFC 7692]), a bounded send queue with backpressure, reader/writer halves for two tasks,
//! `futures` `Stream`/`Sink` implementations, and the core's timers (keepalive, dead peer, handshake, authentication and close
//! deadlines) on `tokio::time`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), wsmachine_tokio::Error> {
//! // Server: echo every message.
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9001").await?;
//! let (tcp, _) = listener.accept().await?;
//! let mut ws = wsmachine_tokio::accept(tcp).await?;
//! while let Some(msg) = ws.next().await {
//!     ws.send(&msg?).await?;
//! }
//!
//! // Client.
//! let (mut ws, _response) = wsmachine_tokio::connect("ws://127.0.0.1:9001/chat").await?;
//! ws.send("hello").await?;
//! let reply = ws.next().await.transpose()?;
//! ws.close(wsmachine_tokio::CloseCode::NORMAL, "bye").await?;
//! # let _ = reply; Ok(()) }
//! ```
//!
//! ## Design
//!
//! There is no background task and no channel between the application and the socket:
//! the task that calls `send` writes to the socket, the task that calls `next` reads from it.
//! The stream is split (`tokio::io::split`) into a read half, owned by the [`WsReader`], and a
//! write half that sits with the core [`Connection`](wsmachine::Connection) and the outgoing
//! byte queue behind one `std::sync::Mutex`. The lock is held for a frame encode and a few
//! non-blocking `poll_*` calls, never across an `.await`.
//!
//! * **Receiving.** The reader feeds its buffer to the core, which unmasks in place and
//!   validates UTF-8; [`WsReader::next_chunk`] hands out borrowed pieces of that buffer
//!   (zero-copy; inflated pieces for compressed messages), [`WsReader::next`] assembles whole
//!   messages (bounded by `Config::max_message_size`: 1009 when crossed).
//! * **Sending and backpressure.** A send encodes its frame into the per-connection queue and
//!   writes the queue to the stream. A server's [`WsWriter::send`] of an uncompressed
//!   message with the queue empty (and [`WsWriter::feed`]'s, when the reader holds no more
//!   input: no burst to batch the message with) skips the queue: the header (the core's
//!   `send_header`) and the payload go out in one write, vectored straight from the caller's
//!   bytes above 1 KiB when the stream takes vectored writes (TCP, rustls), from a copy on the
//!   stack below, and only what the stream did not take is queued. The
//!   queue has a high-water mark,
//!   [`Options::send_queue_limit`] (default [`DEFAULT_SEND_QUEUE_LIMIT`], 128 KiB): a message
//!   is queued only while the queue holds at most that many bytes. [`WsWriter::send`] waits
//!   until it may queue, then until the stream has taken everything; [`WsWriter::feed`] waits
//!   only for room; [`WsWriter::try_send`] never waits and fails with [`Error::Full`] above
//!   the mark. [`Options::send_timeout`] bounds the wait; when it passes the peer is treated as
//!   dead (the connection is abandoned, 1006).
//! * **Batching.** Fed messages leave when a `send`/`flush` writes the queue or when the
//!   reader, having no complete message left in its buffer, is about to wait for the stream:
//!   a server that answers with `next()` + `feed()` (or `reader.forward(writer)`) writes the
//!   replies to a burst of requests in one system call, and a lone request's reply without
//!   delay.
//! * **Timers.** The core's deadlines (keepalive pings, dead-peer detection, the
//!   authentication and close timeouts) are served by the reader while it waits for input,
//!   with `tokio::time` (so tests can pause the clock). Pongs and the close reply are also
//!   flushed by the reader. **Someone must poll `next()`/`next_chunk()`** for as long as the
//!   connection lives; a send-only application keeps a task that reads and drops messages.
//! * **Wake-ups.** Both halves may write (the reader writes pongs and close replies), and a
//!   tokio resource keeps one waker per direction, so the write half is always polled with a
//!   waker that wakes every task waiting to write.
//! * **Closing.** [`WsWriter::close`] sends the close frame; the reader completes the handshake
//!   and ends (`None`). [`WebSocket::close`] does both. [`WebSocket::close_status`] then says
//!   how it ended: the code of the close frames, or 1006 ([`CloseStatus::Abnormal`]) for an
//!   end without a closing handshake (transport lost, dead peer, close timeout).
//!
//! ## futures
//!
//! With the `futures` feature (on by default) [`WebSocket`] and [`WsReader`] are
//! `futures_core::Stream<Item = Result<Message, Error>>` (and `FusedStream`), and [`WebSocket`]
//! and [`WsWriter`] are `futures_sink::Sink<Message, Error = Error>`, for `StreamExt` and
//! `SinkExt` (`forward`, `send_all`, `split`…). `poll_ready` is the backpressure (ready while
//! the queue is at most the high-water mark), `start_send` queues, `poll_flush` writes the
//! queue, all three under [`Options::send_timeout`]. `poll_close` sends a close frame with
//! 1000 (unless one was sent or received) and flushes it; on a [`WebSocket`] it then reads
//! until the closing handshake is over, dropping data, like [`WebSocket::close`]. The inherent
//! `send`, `feed`, `flush` and `close` take precedence over `SinkExt`'s: call those as
//! `SinkExt::send(&mut ws, msg)`.
//!
//! ```no_run
//! # #[cfg(feature = "futures")]
//! # async fn demo(ws: wsmachine_tokio::WebSocket<tokio::net::TcpStream>) -> Result<(), wsmachine_tokio::Error> {
//! use futures_util::StreamExt;
//!
//! // An echo: replies are queued and written once per burst of requests.
//! let (reader, writer) = ws.split();
//! reader.forward(writer).await?;
//! # Ok(()) }
//! ```
//!
//! ## permessage-deflate
//!
//! With the `deflate` feature (on by default) [`Options::default`] offers (client) and accepts
//! (server) permessage-deflate with `DeflateConfig::new()` (32 KiB windows, context
//! takeover); compression uses the core's zlib-rs backend at
//! [`Options::compression_level`] (default 6). `Options::new().deflate(None)` turns it off;
//! [`WebSocket::deflate`] says what was agreed. Inflated messages are held to
//! `max_message_size` as they inflate (a small frame cannot expand past the limit).
//!
//! Memory per connection: the read buffer ([`Options::read_buffer_size`], 64 KiB), the send
//! queue (up to the high-water mark plus one message; given back above 1 MiB once drained),
//! and with permessage-deflate an inflate buffer of the read buffer's size plus zlib's states
//! (about 256 KiB for the compressor and 40 KiB for the decompressor with 15-bit windows;
//! smaller windows, `DeflateConfig::window_bits`, cost less).
//!
//! ## TLS
//!
//! With the `rustls` feature (on by default) `connect("wss://…")` uses rustls (ring) with the
//! webpki-roots certificates, or [`ClientOptions::tls`]. A server wraps its TCP stream with a
//! `tokio_rustls::TlsAcceptor` (re-exported as [`tokio_rustls`]) and passes the TLS stream to
//! [`accept`]: every function takes any stream.
//!
//! ## HTTP/2
//!
//! With the `http2` feature, the module `http2` opens WebSockets on HTTP/2 streams
//! ([RFC 8441] extended CONNECT) with the `h2` crate: `http2::accept_h2` on a server built
//! with `enable_connect_protocol`, `http2::connect_h2` on a client connection. The request is
//! validated by the core (`validate_extended_connect`), permessage-deflate is negotiated by the
//! core's `negotiate`, and the connection starts open (`Connection::new_open`).
//!
//! ## Features
//!
//! | feature | default | what |
//! |---|---|---|
//! | `deflate` | on | permessage-deflate with zlib-rs (`wsmachine/zlib`) |
//! | `rustls` | on | `wss://` in `connect`, re-exports `tokio_rustls` |
//! | `futures` | on | `Stream` and `Sink<Message>` (`futures-core`, `futures-sink`) |
//! | `http2` | off | RFC 8441 over HTTP/2 with `h2` (module `http2`) |
//!
//! [RFC 6455]: https://www.rfc-editor.org/rfc/rfc6455
//! [RFC 8441]: https://www.rfc-editor.org/rfc/rfc8441
//! [RFC 7692]: https://www.rfc-editor.org/rfc/rfc7692
//! [tokio]: https://tokio.rs

mod client;
mod error;
#[cfg(feature = "futures")]
mod futures;
#[cfg(feature = "http2")]
pub mod http2;
mod options;
mod reader;
mod server;
mod shared;
mod stream;
mod websocket;
mod writer;

pub use client::{client, connect, connect_with, ClientOptions, Response, Url, MAX_REJECT_BODY};
pub use error::Error;
pub use options::{
    Chunk, Message, Options, Payload, DEFAULT_READ_BUFFER, DEFAULT_SEND_QUEUE_LIMIT,
};
pub use reader::WsReader;
pub use server::{accept, accept_with, Accept, Reject, Request};
pub use stream::MaybeTlsStream;
pub use websocket::{Halves, WebSocket};
pub use writer::WsWriter;

#[cfg(feature = "rustls")]
pub use tokio_rustls;
pub use wsmachine;
pub use wsmachine::{CloseCode, CloseStatus, Config, Failure, MessageKind, ReadyState, Role};
