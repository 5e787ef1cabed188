//! How to drive the sans-IO [`wsmachine::Connection`] with blocking `std::net` sockets.
//!
//! This is the glue the two example programs (`echo-server`, `echo-client`) share. It is
//! written to be read: every step of the connection's I/O contract appears once, here.
//!
//! * [`Session`] owns one TCP stream, one [`Connection`], a fixed **input buffer** and a fixed
//!   **output buffer** ([`Outbox`]). Memory use per connection is those two buffers, whatever
//!   the size of the messages.
//! * [`Session::accept`] / [`Session::connect`] run the opening handshake.
//! * [`Session::run`] is the event loop: feed input to [`Connection::read`] one event at a
//!   time, keep unconsumed bytes, flush [`Connection::poll_transmit`] after every event, close
//!   the socket when [`Connection::should_close_transport`] says so, and use
//!   [`Connection::poll_timeout`] as the socket's read timeout.

use std::fs::File;
use std::io::{self, Read as _, Write as _};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use wsmachine::{
    Accept, ClientRequest, Config, Connection, Event, MessageKind, ParsedRequest, ReadyState,
    Request, ResponseStatus, EMPTY_HEADER,
};

/// Size of the input buffer: the most payload one [`wsmachine::DataChunk`] can carry.
pub const READ_BUF: usize = 64 * 1024;
/// Size of the output buffer: one chunk echoed as a frame (≤ 14-byte header) plus a queued pong
/// and ping, with room to spare.
pub const WRITE_BUF: usize = READ_BUF + 1024;
/// How long to wait for the peer to close its side after we shut down ours.
const LINGER: Duration = Duration::from_secs(1);

/// `n` bytes from the operating system's random source (masking seed, handshake key).
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .expect("read /dev/urandom");
    b
}

/// Turns an API-misuse error of the core into an `io::Error` (a bug in the caller).
pub fn api_error(e: wsmachine::Error) -> io::Error {
    io::Error::other(e)
}

/// A buffered writer over the socket with a fixed capacity.
///
/// Frames are written into its free space by the connection's `send_*` methods; when one does
/// not fit ([`wsmachine::Error::BufferTooSmall`]), the buffer is flushed and the call retried.
pub struct Outbox {
    stream: TcpStream,
    buf: Box<[u8]>,
    len: usize,
}

impl Outbox {
    fn new(stream: TcpStream) -> Outbox {
        Outbox {
            stream,
            buf: vec![0; WRITE_BUF].into_boxed_slice(),
            len: 0,
        }
    }

    /// Lets `write` put bytes into the free space; flushes and retries once if it needs more.
    pub fn push(
        &mut self,
        mut write: impl FnMut(&mut [u8]) -> Result<usize, wsmachine::Error>,
    ) -> io::Result<usize> {
        loop {
            match write(&mut self.buf[self.len..]) {
                Ok(n) => {
                    self.len += n;
                    return Ok(n);
                }
                Err(wsmachine::Error::BufferTooSmall { needed })
                    if self.len > 0 && needed <= self.buf.len() =>
                {
                    self.flush()?
                }
                Err(e) => return Err(api_error(e)),
            }
        }
    }

    /// Free space right now (without flushing).
    pub fn space(&self) -> usize {
        self.buf.len() - self.len
    }

    /// Writes everything buffered to the socket.
    pub fn flush(&mut self) -> io::Result<()> {
        self.stream.write_all(&self.buf[..self.len])?;
        self.len = 0;
        Ok(())
    }

    /// Writes all frames the connection queued itself (pongs, close replies, HTTP errors):
    /// `poll_transmit` until it returns 0.
    pub fn transmit(&mut self, conn: &mut Connection) -> io::Result<()> {
        while self.push(|buf| conn.poll_transmit(buf))? > 0 {}
        Ok(())
    }
}

/// What the event handler tells [`Session::run`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Keep going.
    Continue,
    /// Return from `run` (the connection stays usable).
    Pause,
}

/// Why [`Session::run`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// The handler returned [`Flow::Pause`].
    Paused,
    /// The connection is over and the socket closed; see [`Connection::close_status`].
    Closed,
    /// The `max_wait` given to `run` passed with nothing for the handler to stop on.
    Waited,
}

/// The millisecond clock a connection runs on (monotonic, from the session's start).
#[derive(Clone, Copy, Debug)]
pub struct Clock(Instant);

impl Clock {
    /// Milliseconds since the session started: the `now` passed to the connection.
    pub fn now(&self) -> u64 {
        self.0.elapsed().as_millis() as u64
    }
}

/// One WebSocket connection over a blocking TCP stream.
pub struct Session {
    /// The protocol engine.
    pub conn: Connection,
    /// Buffered output.
    pub out: Outbox,
    /// The connection's clock (copy it into a handler that needs `now`).
    pub clock: Clock,
    stream: TcpStream,
    input: Box<[u8]>,
    /// Bytes of `input` received but not consumed yet.
    filled: usize,
    closed: bool,
}

impl Session {
    fn new(stream: TcpStream, conn: Connection, clock: Clock) -> io::Result<Session> {
        stream.set_nodelay(true)?;
        Ok(Session {
            conn,
            out: Outbox::new(stream.try_clone()?),
            stream,
            input: vec![0; READ_BUF].into_boxed_slice(),
            filled: 0,
            clock,
            closed: false,
        })
    }

    /// The connection's clock: milliseconds since the session started.
    pub fn now(&self) -> u64 {
        self.clock.now()
    }

    /// Server side of the opening handshake on an accepted socket. `choose` picks the
    /// subprotocol from the request. `Ok(None)`: the request was invalid or timed out; the HTTP
    /// error response has been sent and the socket closed.
    pub fn accept(
        stream: TcpStream,
        config: Config,
        mut choose: impl FnMut(&Request<'_>) -> Option<String>,
    ) -> io::Result<Option<(Session, Option<String>)>> {
        let clock = Clock(Instant::now());
        let conn = Connection::server(config, clock.now()).map_err(api_error)?;
        let mut s = Session::new(stream, conn, clock)?;
        loop {
            // Everything received so far is parsed again until the head is complete.
            let mut headers = [EMPTY_HEADER; 64];
            let now = s.now();
            let head = match s.conn.read_request(now, &s.input[..s.filled], &mut headers) {
                Ok(ParsedRequest::Complete { request, len }) => {
                    let subprotocol = choose(&request);
                    let accept = Accept {
                        subprotocol: subprotocol.as_deref(),
                        ..Accept::default()
                    };
                    let conn = &mut s.conn;
                    s.out.push(|buf| conn.accept(now, &accept, buf))?;
                    Some((len, subprotocol))
                }
                Ok(ParsedRequest::Partial) => None,
                Err(wsmachine::Error::Handshake(_)) => {
                    // The 400/405/426/431 response is queued: send it and hang up.
                    s.finish()?;
                    return Ok(None);
                }
                Err(e) => return Err(api_error(e)),
            };
            if let Some((len, subprotocol)) = head {
                // Bytes after the head are already WebSocket frames: keep them.
                s.consume(len);
                s.out.flush()?;
                return Ok(Some((s, subprotocol)));
            }
            if !s.fill(None)? {
                // EOF, or the handshake deadline passed (a 408 may be queued).
                s.finish()?;
                return Ok(None);
            }
        }
    }

    /// Client: connects to `url` and runs the opening handshake, offering `subprotocols`.
    /// Returns the session and the subprotocol the server chose.
    pub fn connect(
        url: &Url,
        subprotocols: &[&str],
        config: Config,
    ) -> io::Result<(Session, Option<String>)> {
        let stream = TcpStream::connect((url.host.as_str(), url.port))?;
        let clock = Clock(Instant::now());
        let conn = Connection::client(config, clock.now(), random_bytes()).map_err(api_error)?;
        let mut s = Session::new(stream, conn, clock)?;
        let mut req = ClientRequest::new(&url.authority, &url.target);
        req.subprotocols = subprotocols;
        let conn = &mut s.conn;
        s.out
            .push(|buf| conn.write_request(&req, random_bytes(), buf))?;
        s.out.flush()?;
        loop {
            let mut headers = [EMPTY_HEADER; 64];
            let now = s.now();
            let done = match s
                .conn
                .read_response(now, &req, &s.input[..s.filled], &mut headers)
            {
                Ok(ResponseStatus::Partial) => None,
                Ok(ResponseStatus::Accepted { response, len }) => {
                    Some((len, response.subprotocol().map(str::to_owned)))
                }
                Ok(ResponseStatus::Rejected { response, .. }) => {
                    return Err(io::Error::other(format!(
                        "server refused the upgrade: {} {}",
                        response.status(),
                        response.reason()
                    )))
                }
                Err(e) => return Err(api_error(e)),
            };
            if let Some((len, subprotocol)) = done {
                s.consume(len);
                return Ok((s, subprotocol));
            }
            if !s.fill(None)? {
                let why = match s.conn.failure() {
                    Some(f) => format!("handshake failed: {f:?}"),
                    None => "connection closed during the handshake".to_owned(),
                };
                return Err(io::Error::other(why));
            }
        }
    }

    /// Drops the first `n` input bytes, keeping the rest at the front of the buffer.
    fn consume(&mut self, n: usize) {
        self.input.copy_within(n..self.filled, 0);
        self.filled -= n;
    }

    /// One socket read into the free part of the input buffer, with the connection's next
    /// deadline (or `max_wait`, if sooner) as timeout. A timeout is passed to
    /// `handle_timeout`, EOF or a socket error to `handle_eof`; queued frames are then
    /// transmitted. Returns false when the connection can make no more progress from input
    /// (EOF, or it wants the transport closed).
    fn fill(&mut self, max_wait: Option<Instant>) -> io::Result<bool> {
        let now = self.now();
        let conn_wait = self
            .conn
            .poll_timeout()
            .map(|t| Duration::from_millis(t.saturating_sub(now).max(1)));
        let app_wait = max_wait.map(|t| t.saturating_duration_since(Instant::now()));
        let wait = match (conn_wait, app_wait) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        // A zero read timeout means "block forever" to std, so never pass one.
        self.stream
            .set_read_timeout(wait.map(|w| w.max(Duration::from_millis(1))))?;
        if self.filled == self.input.len() {
            return Err(io::Error::other("input buffer full"));
        }
        let result = self.stream.read(&mut self.input[self.filled..]);
        let more = match result {
            Ok(0) => {
                self.conn.handle_eof();
                false
            }
            Ok(n) => {
                self.filled += n;
                true
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                self.conn.handle_timeout(self.now());
                true
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => true,
            Err(_) => {
                self.conn.handle_eof();
                false
            }
        };
        self.out.transmit(&mut self.conn)?;
        Ok(more && !self.conn.should_close_transport())
    }

    /// Flushes what is queued, then closes the socket: our side first (so the peer reads our
    /// last frame and an orderly FIN, not a reset), then waits up to a second for the peer to
    /// close its side, discarding what it still sends.
    fn finish(&mut self) -> io::Result<()> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        let _ = self.out.transmit(&mut self.conn);
        let _ = self.out.flush();
        let _ = self.stream.shutdown(Shutdown::Write);
        let deadline = Instant::now() + LINGER;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || self.stream.set_read_timeout(Some(left)).is_err() {
                break;
            }
            match self.stream.read(&mut self.input) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        self.filled = 0;
        Ok(())
    }

    /// Whether the socket has been closed.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// The event loop. Feeds input to the connection and hands each event to `handler`, which
    /// may send (through the [`Outbox`]) and decides whether to go on. Returns when the handler
    /// pauses, when the connection is over (the socket is then closed), or at `max_wait`.
    pub fn run(
        &mut self,
        max_wait: Option<Instant>,
        mut handler: impl FnMut(&mut Connection, &mut Outbox, Event<'_>) -> io::Result<Flow>,
    ) -> io::Result<Stop> {
        if self.closed {
            return Ok(Stop::Closed);
        }
        loop {
            // 1. Take events out of the buffered input, one at a time.
            let mut pos = 0;
            let mut flow = Flow::Continue;
            while !self.conn.should_close_transport() {
                let now = self.now();
                let read = self
                    .conn
                    .read(now, &mut self.input[pos..self.filled])
                    .map_err(api_error)?;
                pos += read.consumed;
                let Some(event) = read.event else { break };
                // The event borrows the input buffer; the handler may send meanwhile.
                flow = handler(&mut self.conn, &mut self.out, event)?;
                // 2. Frames the connection queued in response (pong, close reply, failure
                //    close) go out right after the event that caused them.
                self.out.transmit(&mut self.conn)?;
                if flow == Flow::Pause {
                    break;
                }
            }
            // 3. Keep the unconsumed tail (a partial header or control frame).
            self.consume(pos);
            if self.conn.should_close_transport() {
                self.finish()?;
                return Ok(Stop::Closed);
            }
            // Everything queued must be on the wire before we block on the socket.
            self.out.flush()?;
            if flow == Flow::Pause {
                return Ok(Stop::Paused);
            }
            if max_wait.is_some_and(|t| Instant::now() >= t) {
                return Ok(Stop::Waited);
            }
            // 4. Read more (or act on a deadline).
            if !self.fill(max_wait)? {
                self.finish()?;
                return Ok(Stop::Closed);
            }
        }
    }

    /// Sends a whole message as one frame, streamed through the output buffer in pieces, so
    /// that a message of any size needs no buffer of its size (`begin_frame` + `send_payload`).
    pub fn send_frame(&mut self, kind: MessageKind, fin: bool, payload: &[u8]) -> io::Result<()> {
        let conn = &mut self.conn;
        self.out
            .push(|buf| conn.begin_frame(kind, fin, payload.len() as u64, buf))?;
        let mut rest = payload;
        while !rest.is_empty() {
            if self.out.space() == 0 {
                self.out.flush()?;
            }
            let take = rest.len().min(self.out.space());
            let (piece, tail) = rest.split_at(take);
            let conn = &mut self.conn;
            self.out.push(|buf| conn.send_payload(piece, buf))?;
            rest = tail;
        }
        Ok(())
    }

    /// Sends a control frame or a close via `write` and flushes it.
    pub fn send_now(
        &mut self,
        mut write: impl FnMut(&mut Connection, &mut [u8]) -> Result<usize, wsmachine::Error>,
    ) -> io::Result<()> {
        let conn = &mut self.conn;
        self.out.push(|buf| write(conn, buf))?;
        self.out.flush()
    }
}

/// The echo used by both examples: each data chunk goes straight back out as one fragment of
/// the same message (the chunk that ends the received message ends the echoed one), so no
/// message is ever held in memory. Pings, pongs and the closing handshake need nothing here:
/// the core queues pongs and close replies, and [`Session::run`] transmits them.
///
/// Data still arrives after *we* sent a close (the peer sent it before it saw ours); it must
/// not be answered, so only an open connection echoes.
pub fn echo(conn: &mut Connection, out: &mut Outbox, event: Event<'_>) -> io::Result<Flow> {
    if let Event::Data(chunk) = event {
        if conn.state() == ReadyState::Open {
            out.push(|buf| {
                conn.send_fragment(chunk.kind, chunk.data, chunk.message_finished, buf)
            })?;
        }
    }
    Ok(Flow::Continue)
}

/// A parsed `ws://host[:port]/path?query` URL (no TLS in these examples).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    /// Host name or address to connect to.
    pub host: String,
    /// TCP port (default 80).
    pub port: u16,
    /// The Host header value: `host` or `host:port`.
    pub authority: String,
    /// Path and query, starting with `/`.
    pub target: String,
}

impl Url {
    /// Parses a `ws://` URL.
    pub fn parse(s: &str) -> Result<Url, String> {
        let rest = s
            .strip_prefix("ws://")
            .ok_or_else(|| format!("{s}: only ws:// URLs are supported"))?;
        let (authority, target) = match rest.find(['/', '?']) {
            Some(i) if rest[i..].starts_with('/') => (&rest[..i], rest[i..].to_owned()),
            Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
            None => (rest, "/".to_owned()),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (
                h,
                p.parse::<u16>()
                    .map_err(|_| format!("{s}: bad port {p:?}"))?,
            ),
            _ => (authority, 80),
        };
        if host.is_empty() {
            return Err(format!("{s}: no host"));
        }
        Ok(Url {
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port,
            authority: authority.to_owned(),
            target,
        })
    }

    /// The same server with another target (path and query).
    pub fn with_target(&self, target: &str) -> Url {
        Url {
            target: target.to_owned(),
            ..self.clone()
        }
    }
}

/// Lowercase hex.
pub fn to_hex(bytes: &[u8], out: &mut String) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.reserve(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
}

/// Decodes hex (either case).
pub fn from_hex(s: &str) -> Result<Vec<u8>, String> {
    let s = s.trim();
    if !s.len().is_multiple_of(2) {
        return Err(format!("odd-length hex ({} digits)", s.len()));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(|e| format!("bad hex: {e}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = Url::parse("ws://127.0.0.1:9001/a/b?c=d").unwrap();
        assert_eq!(
            (
                u.host.as_str(),
                u.port,
                u.authority.as_str(),
                u.target.as_str()
            ),
            ("127.0.0.1", 9001, "127.0.0.1:9001", "/a/b?c=d")
        );
        let u = Url::parse("ws://example.com").unwrap();
        assert_eq!((u.port, u.target.as_str()), (80, "/"));
        let u = Url::parse("ws://[::1]:8080?x").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.target.as_str()),
            ("::1", 8080, "/?x")
        );
        assert!(Url::parse("wss://x/").is_err());
        assert!(Url::parse("ws://:80/").is_err());
    }

    #[test]
    fn hex_round_trip() {
        let mut s = String::new();
        to_hex(&[0, 0xab, 0x10], &mut s);
        assert_eq!(s, "00ab10");
        assert_eq!(from_hex("00AB10").unwrap(), vec![0, 0xab, 0x10]);
        assert!(from_hex("abc").is_err());
    }
}
