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
//! * permessage-deflate (RFC 7692, [`Compression`]): offered (client) or accepted (server) by
//!   default. Once agreed, [`Session`] holds a decompressor and a compressor ([`Codecs`]) sized
//!   from the agreed windows; `run` inflates compressed chunks with [`Connection::inflate`]
//!   into a 16 KiB buffer before the handler sees them, and [`Outbox::send_fragment`] /
//!   [`Outbox::send_message`] compress with [`Connection::send_compressed_fragment`] /
//!   [`Connection::send_compressed`]. Two backends: the core's caller-memory
//!   [`Inflater`] / [`Deflater`] (the default; windows of 8..=15 bits) and zlib-rs
//!   ([`ZlibInflater`] / [`ZlibDeflater`], `--zlib`; 9..=15 bits).

use std::fs::File;
use std::io::{self, Read as _, Write as _};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use wsmachine::deflate::{
    deflater_memory, write_response, Compress, CorruptData, Decompress, DeflateConfig, Deflater,
    Inflater, Params, Progress, ZlibDeflater, ZlibInflater, DEFAULT_LEVEL, MAX_VALUE_LEN,
};
use wsmachine::{
    Accept, ClientRequest, Config, Connection, DataChunk, Event, MessageKind, ParsedRequest,
    ReadyState, Request, ResponseStatus, Role, EMPTY_HEADER,
};

/// Size of the input buffer: the most payload one [`wsmachine::DataChunk`] can carry.
pub const READ_BUF: usize = 64 * 1024;
/// Size of the output buffer: one chunk echoed as a frame (≤ 14-byte header) plus a queued pong
/// and ping, with room to spare.
pub const WRITE_BUF: usize = READ_BUF + 1024;
/// How long to wait for the peer to close its side after we shut down ours.
const LINGER: Duration = Duration::from_secs(1);
/// Size of the buffer compressed chunks are inflated into: the handler sees inflated data in
/// pieces of at most this size (and an echo compresses them again in pieces of this size,
/// whose compressed bound fits the output buffer).
pub const INFLATE_BUF: usize = 16 * 1024;

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

/// A buffered writer over the socket, and the compressor of the messages we send.
///
/// Frames are written into its free space by the connection's `send_*` methods; when one does
/// not fit ([`wsmachine::Error::BufferTooSmall`]), the buffer is flushed and the call retried.
/// The capacity is fixed ([`WRITE_BUF`]) except for whole messages sent in one call
/// ([`send_message`](Self::send_message)) and compressed sends: the connection asks for room
/// for the whole frame, or for the compressor's worst case ([`Compress::bound`], which counts
/// input the compressor still holds from earlier fragments), and a buffer smaller than that
/// grows to it.
pub struct Outbox {
    stream: TcpStream,
    buf: Box<[u8]>,
    len: usize,
    /// The compressor, once permessage-deflate is agreed.
    compressor: Option<Compressor>,
    /// `DeflateConfig::min_message_size` of this end.
    compress_min: u32,
    /// Compressed messages sent (counted when their last frame is written).
    pub compressed_sent: u64,
}

impl Outbox {
    fn new(stream: TcpStream) -> Outbox {
        Outbox {
            stream,
            buf: vec![0; WRITE_BUF].into_boxed_slice(),
            len: 0,
            compressor: None,
            compress_min: 0,
            compressed_sent: 0,
        }
    }

    /// Lets `write` put bytes into the free space; flushes and retries if it needs more
    /// (growing the buffer if even an empty one is too small).
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
                Err(wsmachine::Error::BufferTooSmall { needed }) if needed > self.buf.len() => {
                    self.flush()?;
                    self.buf = vec![0; needed].into_boxed_slice();
                }
                Err(e) => return Err(api_error(e)),
            }
        }
    }

    /// Whether messages can be sent compressed (permessage-deflate was agreed).
    pub fn can_compress(&self) -> bool {
        self.compressor.is_some()
    }

    /// Sends one fragment of a message (`fin` ends it); `compress` sends it compressed when
    /// permessage-deflate was agreed. All fragments of a message must agree on `compress`.
    pub fn send_fragment(
        &mut self,
        conn: &mut Connection,
        kind: MessageKind,
        data: &[u8],
        fin: bool,
        compress: bool,
    ) -> io::Result<()> {
        match self.compressor.take() {
            Some(mut c) if compress => {
                let r =
                    self.push(|buf| conn.send_compressed_fragment(kind, data, fin, &mut c, buf));
                self.compressor = Some(c);
                r?;
                self.compressed_sent += u64::from(fin);
            }
            c => {
                self.compressor = c;
                self.push(|buf| conn.send_fragment(kind, data, fin, buf))?;
            }
        }
        Ok(())
    }

    /// Sends a whole message as one frame; `compress` compresses it when permessage-deflate
    /// was agreed and it is not shorter than the agreed `min_message_size` (else it goes as
    /// it is). Returns whether it went compressed.
    pub fn send_message(
        &mut self,
        conn: &mut Connection,
        kind: MessageKind,
        data: &[u8],
        compress: bool,
    ) -> io::Result<bool> {
        let Some(mut c) = self.compressor.take().filter(|_| compress) else {
            self.push(|buf| conn.send(kind, data, buf))?;
            return Ok(false);
        };
        let r = self.push(|buf| conn.send_compressed(kind, data, &mut c, buf));
        self.compressor = Some(c);
        r?;
        // `send_compressed` sends messages below `min_message_size` uncompressed.
        let compressed = data.len() as u64 >= u64::from(self.compress_min);
        self.compressed_sent += u64::from(compressed);
        Ok(compressed)
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

/// Which permessage-deflate codecs a session uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The core's [`Inflater`] and [`Deflater`] in memory allocated here (the same code that
    /// runs on a microcontroller): windows of 8..=15 bits.
    Core,
    /// zlib-rs through flate2 ([`ZlibInflater`], [`ZlibDeflater`]): windows of 9..=15 bits.
    Zlib,
}

/// The permessage-deflate settings of the examples' command lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Compression {
    /// Offer (client) or accept (server) permessage-deflate.
    pub enabled: bool,
    /// The codecs.
    pub backend: Backend,
    /// Compression level (0..=9).
    pub level: u8,
    /// The largest window (bits) of either direction.
    pub window_bits: u8,
    /// Reset our compressor after each message (`*_no_context_takeover` for our side).
    pub no_context_takeover: bool,
    /// Ask the peer to reset its compressor after each message.
    pub peer_no_context_takeover: bool,
    /// Messages shorter than this are sent uncompressed.
    pub min_message_size: u32,
}

impl Default for Compression {
    fn default() -> Compression {
        Compression {
            enabled: true,
            backend: Backend::Core,
            level: DEFAULT_LEVEL,
            window_bits: 15,
            no_context_takeover: false,
            peer_no_context_takeover: false,
            min_message_size: 32,
        }
    }
}

impl Compression {
    /// The command-line options [`parse_option`](Self::parse_option) knows.
    pub const USAGE: &'static str = "[--no-deflate] [--zlib] [--deflate-level 0-9] \
         [--window-bits 8-15] [--no-context-takeover] [--peer-no-context-takeover] \
         [--deflate-min-size N]";

    /// No permessage-deflate.
    pub fn off() -> Compression {
        Compression {
            enabled: false,
            ..Compression::default()
        }
    }

    /// Applies one command-line option if it is one of [`USAGE`](Self::USAGE): `Ok(true)`
    /// when it was (taking its value from `value`), `Ok(false)` when it is not ours.
    pub fn parse_option(
        &mut self,
        arg: &str,
        value: impl FnOnce() -> Result<String, String>,
    ) -> Result<bool, String> {
        let number = |v: Result<String, String>, range: std::ops::RangeInclusive<u32>| {
            let n: u32 = v?.parse().map_err(|e| format!("{arg}: {e}"))?;
            if range.contains(&n) {
                Ok(n)
            } else {
                Err(format!("{arg}: {n} not in {range:?}"))
            }
        };
        match arg {
            "--no-deflate" => self.enabled = false,
            "--zlib" => self.backend = Backend::Zlib,
            "--deflate-level" => self.level = number(value(), 0..=9)? as u8,
            "--window-bits" => self.window_bits = number(value(), 8..=15)? as u8,
            "--no-context-takeover" => self.no_context_takeover = true,
            "--peer-no-context-takeover" => self.peer_no_context_takeover = true,
            "--deflate-min-size" => self.min_message_size = number(value(), 0..=u32::MAX)?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The core's configuration for these settings (`None` when disabled).
    pub fn config(&self) -> Option<DeflateConfig> {
        if !self.enabled {
            return None;
        }
        let mut c = DeflateConfig::new().window_bits(self.window_bits);
        // The core's compressor works with 8-bit windows. zlib cannot make raw deflate
        // streams with them, so with zlib an offer (or a response) that demands 8 bits for
        // our side is declined (or refused).
        match self.backend {
            Backend::Core => c.min_window_bits = 8,
            Backend::Zlib => {
                c.min_window_bits = 9;
                c.compress_window_bits = c.compress_window_bits.max(9);
            }
        }
        c.no_context_takeover = self.no_context_takeover;
        c.peer_no_context_takeover = self.peer_no_context_takeover;
        c.min_message_size = self.min_message_size;
        Some(c)
    }
}

/// A decompressor of either backend.
pub enum Decompressor {
    /// The core's inflater (boxed: its decoder state is about 10.5 KB).
    Core(Box<Inflater<Box<[u8]>>>),
    /// zlib-rs.
    Zlib(ZlibInflater),
}

impl Decompress for Decompressor {
    fn decompress(
        &mut self,
        input: &[u8],
        out: &mut [u8],
        end: bool,
    ) -> Result<Progress, CorruptData> {
        match self {
            Decompressor::Core(d) => d.decompress(input, out, end),
            Decompressor::Zlib(d) => d.decompress(input, out, end),
        }
    }

    fn reset(&mut self) {
        match self {
            Decompressor::Core(d) => d.reset(),
            Decompressor::Zlib(d) => d.reset(),
        }
    }

    fn window_bits(&self) -> u8 {
        match self {
            Decompressor::Core(d) => d.window_bits(),
            Decompressor::Zlib(d) => d.window_bits(),
        }
    }
}

/// A compressor of either backend.
pub enum Compressor {
    /// The core's compressor (boxed: about 4.2 KB besides its memory).
    Core(Box<Deflater<Box<[u8]>>>),
    /// zlib-rs.
    Zlib(ZlibDeflater),
}

impl Compress for Compressor {
    fn compress(&mut self, input: &[u8], out: &mut [u8], end: bool) -> Progress {
        match self {
            Compressor::Core(c) => c.compress(input, out, end),
            Compressor::Zlib(c) => c.compress(input, out, end),
        }
    }

    fn reset(&mut self) {
        match self {
            Compressor::Core(c) => c.reset(),
            Compressor::Zlib(c) => c.reset(),
        }
    }

    fn bound(&self, len: usize) -> usize {
        match self {
            Compressor::Core(c) => c.bound(len),
            Compressor::Zlib(c) => c.bound(len),
        }
    }

    fn window_bits(&self) -> u8 {
        match self {
            Compressor::Core(c) => c.window_bits(),
            Compressor::Zlib(c) => c.window_bits(),
        }
    }

    const MIN_OUTPUT: usize = {
        let a = <Deflater<Box<[u8]>> as Compress>::MIN_OUTPUT;
        let b = <ZlibDeflater as Compress>::MIN_OUTPUT;
        if a > b {
            a
        } else {
            b
        }
    };
}

/// The codecs of one connection with permessage-deflate, sized from the agreed windows.
struct Codecs {
    decompressor: Decompressor,
    /// Where compressed chunks are inflated to before the handler sees them.
    buf: Box<[u8]>,
}

/// Creates the codecs for what was agreed: the decompressor in the session, the compressor
/// in its outbox.
fn make_codecs(params: &Params, role: Role, c: &Compression) -> io::Result<(Codecs, Compressor)> {
    let (dbits, cbits) = (
        params.decompress_window_bits(role),
        params.compress_window_bits(role),
    );
    let (decompressor, compressor) = match c.backend {
        Backend::Core => {
            let window = vec![0u8; 1 << dbits].into_boxed_slice();
            let inflater = Inflater::new(window, dbits)
                .ok_or_else(|| io::Error::other(format!("no inflater for {dbits} bits")))?;
            let memory = vec![0u8; deflater_memory(cbits, c.level)].into_boxed_slice();
            let deflater = Deflater::new(memory, cbits, c.level).map_err(io::Error::other)?;
            (
                Decompressor::Core(Box::new(inflater)),
                Compressor::Core(Box::new(deflater)),
            )
        }
        Backend::Zlib => {
            let deflater = ZlibDeflater::new(cbits, u32::from(c.level)).ok_or_else(|| {
                io::Error::other(format!("zlib cannot compress with {cbits} bits"))
            })?;
            (
                Decompressor::Zlib(ZlibInflater::new(dbits)),
                Compressor::Zlib(deflater),
            )
        }
    };
    let codecs = Codecs {
        decompressor,
        buf: vec![0u8; INFLATE_BUF].into_boxed_slice(),
    };
    Ok((codecs, compressor))
}

/// The agreed parameters as the server's Sec-WebSocket-Extensions value, without spaces
/// (`permessage-deflate;client_max_window_bits=9`), or `-`.
pub fn describe_deflate(params: Option<Params>) -> String {
    let Some(p) = params else {
        return "-".to_owned();
    };
    let mut buf = [0u8; MAX_VALUE_LEN];
    let n = write_response(&p, &mut buf).unwrap_or(0);
    String::from_utf8_lossy(&buf[..n]).replace("; ", ";")
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
    /// The decompressor, once permessage-deflate is agreed.
    codecs: Option<Codecs>,
    /// Compressed messages received (counted when fully inflated).
    pub compressed_received: u64,
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
            codecs: None,
            compressed_received: 0,
        })
    }

    /// After the handshake: creates the codecs if permessage-deflate was agreed.
    fn start_deflate(&mut self, c: &Compression) -> io::Result<()> {
        if let Some(params) = self.conn.deflate() {
            let (codecs, compressor) = make_codecs(&params, self.conn.role(), c)?;
            self.codecs = Some(codecs);
            self.out.compressor = Some(compressor);
            self.out.compress_min = c.min_message_size;
        }
        Ok(())
    }

    /// The permessage-deflate parameters agreed in the handshake, if any.
    pub fn deflate(&self) -> Option<Params> {
        self.conn.deflate()
    }

    /// The connection's clock: milliseconds since the session started.
    pub fn now(&self) -> u64 {
        self.clock.now()
    }

    /// Server side of the opening handshake on an accepted socket. `choose` picks the
    /// subprotocol from the request; `compression` says whether (and how) to accept
    /// permessage-deflate. `Ok(None)`: the request was invalid or timed out; the HTTP error
    /// response has been sent and the socket closed.
    pub fn accept(
        stream: TcpStream,
        mut config: Config,
        compression: &Compression,
        mut choose: impl FnMut(&Request<'_>) -> Option<String>,
    ) -> io::Result<Option<(Session, Option<String>)>> {
        config.deflate = compression.config();
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
                s.start_deflate(compression)?;
                return Ok(Some((s, subprotocol)));
            }
            if !s.fill(None)? {
                // EOF, or the handshake deadline passed (a 408 may be queued).
                s.finish()?;
                return Ok(None);
            }
        }
    }

    /// Client: connects to `url` and runs the opening handshake, offering `subprotocols` and
    /// (per `compression`) permessage-deflate. Returns the session and the subprotocol the
    /// server chose.
    pub fn connect(
        url: &Url,
        subprotocols: &[&str],
        mut config: Config,
        compression: &Compression,
    ) -> io::Result<(Session, Option<String>)> {
        config.deflate = compression.config();
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
                s.start_deflate(compression)?;
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
                flow = match (event, self.codecs.as_mut()) {
                    // A compressed chunk: the handler sees it inflated, in pieces.
                    (Event::Data(chunk), Some(codecs)) if chunk.compressed => {
                        let (conn, out) = (&mut self.conn, &mut self.out);
                        let (flow, finished) =
                            inflate_chunk(conn, out, codecs, now, &chunk, &mut handler)?;
                        self.compressed_received += u64::from(finished);
                        flow
                    }
                    _ => handler(&mut self.conn, &mut self.out, event)?,
                };
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

/// Inflates one compressed chunk completely (the core wants that before the next `read`) and
/// hands the inflated bytes to `handler` as chunks of at most [`INFLATE_BUF`] bytes, with
/// `compressed` still set (the message arrived compressed; `data` is inflated). A failure
/// (1009 over the size limit, 1007 corrupt data or bad UTF-8) is handed over as
/// [`Event::Failed`]. Returns the handler's last flow (a pause takes effect after the chunk)
/// and whether a whole compressed message was received.
fn inflate_chunk(
    conn: &mut Connection,
    out: &mut Outbox,
    codecs: &mut Codecs,
    now: u64,
    chunk: &DataChunk<'_>,
    handler: &mut impl FnMut(&mut Connection, &mut Outbox, Event<'_>) -> io::Result<Flow>,
) -> io::Result<(Flow, bool)> {
    let mut input = chunk.data;
    let mut start = chunk.message_start;
    let mut flow = Flow::Continue;
    loop {
        let r = conn
            .inflate(now, &mut codecs.decompressor, chunk, input, &mut codecs.buf)
            .map_err(api_error)?;
        if let Some(e) = r.failed {
            return Ok((handler(conn, out, Event::Failed(e))?, false));
        }
        input = input.get(r.consumed..).unwrap_or_default();
        let frame_end = r.done && chunk.frame_finished;
        if r.produced > 0 || frame_end || (start && r.done) {
            let piece = DataChunk {
                data: &codecs.buf[..r.produced],
                message_start: start,
                frame_finished: frame_end,
                message_finished: r.done && chunk.message_finished,
                ..*chunk
            };
            start = false;
            if handler(conn, out, Event::Data(piece))? == Flow::Pause {
                flow = Flow::Pause;
            }
        }
        if r.done {
            return Ok((flow, chunk.message_finished));
        }
        if r.produced == 0 && r.consumed == 0 {
            return Err(io::Error::other("the decompressor made no progress"));
        }
    }
}

/// The echo used by both examples: each data chunk goes straight back out as one fragment of
/// the same message (the chunk that ends the received message ends the echoed one), so no
/// message is ever held in memory. A message that arrived compressed (its chunks come
/// inflated, see [`Session::run`]) is echoed compressed. Pings, pongs and the closing
/// handshake need nothing here: the core queues pongs and close replies, and
/// [`Session::run`] transmits them.
///
/// Data still arrives after *we* sent a close (the peer sent it before it saw ours); it must
/// not be answered, so only an open connection echoes.
pub fn echo(conn: &mut Connection, out: &mut Outbox, event: Event<'_>) -> io::Result<Flow> {
    if let Event::Data(chunk) = event {
        if conn.state() == ReadyState::Open {
            out.send_fragment(
                conn,
                chunk.kind,
                chunk.data,
                chunk.message_finished,
                chunk.compressed,
            )?;
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
