//! The server's opening handshake: `accept`, `accept_with`.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use wsmachine::{Connection, HandshakeError, ParsedRequest, EMPTY_HEADER};

use crate::shared::{Clock, OutQueue};
use crate::{Error, Options, WebSocket};

/// Most request headers read.
const MAX_HEADERS: usize = 64;

/// The upgrade request, as the [`accept_with`] callback sees it.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    inner: &'a wsmachine::Request<'a>,
}

impl<'a> Request<'a> {
    /// The path of the request target (`/chat`).
    pub fn path(&self) -> &'a str {
        self.inner.path()
    }

    /// The query (`room=1`), without the `?`.
    pub fn query(&self) -> Option<&'a str> {
        self.inner.query()
    }

    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        self.inner.header(name)
    }

    /// Every header, as received.
    pub fn headers(&self) -> impl Iterator<Item = (&'a str, &'a [u8])> + 'a {
        self.inner.headers().iter().map(|h| (h.name, h.value))
    }

    /// The Host header.
    pub fn host(&self) -> Option<&'a str> {
        self.inner.host().and_then(|h| std::str::from_utf8(h).ok())
    }

    /// The Origin header (browsers always send it: check it against the origins you serve).
    pub fn origin(&self) -> Option<&'a str> {
        self.inner
            .origin()
            .and_then(|h| std::str::from_utf8(h).ok())
    }

    /// Whether the Origin is one of `allowed` (exact, case-insensitive); `false` without one.
    pub fn origin_allowed(&self, allowed: &[&str]) -> bool {
        self.inner.origin_allowed(allowed)
    }

    /// The subprotocols the client offers, in its order of preference.
    pub fn subprotocols(&self) -> impl Iterator<Item = &'a str> + 'a {
        self.inner
            .subprotocols()
            .filter_map(|p| std::str::from_utf8(p).ok())
    }

    /// Every cookie of the Cookie headers, as `(name, value)`.
    pub fn cookies(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.inner
            .headers()
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case("cookie"))
            .filter_map(|h| std::str::from_utf8(h.value).ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| {
                let (name, value) = pair.split_once('=')?;
                let value = value.trim();
                let value = value
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(value);
                Some((name.trim(), value))
            })
    }

    /// The value of the cookie `name`.
    pub fn cookie(&self, name: &str) -> Option<&'a str> {
        self.cookies().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// The core's view of the request (method, target, HTTP version, extensions offered…).
    pub fn inner(&self) -> &'a wsmachine::Request<'a> {
        self.inner
    }
}

/// How to accept: the subprotocol chosen and extra response headers.
#[derive(Clone, Debug, Default)]
pub struct Accept {
    pub(crate) subprotocol: Option<String>,
    pub(crate) headers: Vec<(String, String)>,
}

impl Accept {
    /// Accept with nothing more.
    pub fn new() -> Accept {
        Accept::default()
    }

    /// Chooses `name` (one of the subprotocols the client offered).
    pub fn subprotocol(mut self, name: impl Into<String>) -> Accept {
        self.subprotocol = Some(name.into());
        self
    }

    /// Adds a response header (Set-Cookie, …).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Accept {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// How to refuse: an HTTP status (200..=599), headers and a body. The connection is closed
/// after the response.
#[derive(Clone, Debug)]
pub struct Reject {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Reject {
    /// Refuse with `status` (401, 403, 404…) and no body.
    pub fn new(status: u16) -> Reject {
        Reject {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Reject {
        self.body = body.into();
        self
    }

    /// Adds a header (not Content-Length, Connection or Transfer-Encoding: those are
    /// written by the connection).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Reject {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// Runs the server's opening handshake on `stream` with the default [`Options`] and accepts
/// every valid request.
pub async fn accept<S>(stream: S) -> Result<WebSocket<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    accept_with(stream, Options::default(), |_| Ok(Accept::new())).await
}

/// Runs the server's opening handshake on `stream`: reads the upgrade request (within
/// `handshake_timeout_ms`: else 408), answers an invalid one with the matching HTTP error
/// (400, 405, 426, 431…) and [`Error::Handshake`], and otherwise lets `callback` decide from
/// the [`Request`] (path, query, cookies, Origin, subprotocols): `Ok(Accept)` opens the
/// connection, `Err(Reject)` answers with that response and returns
/// `Err(Error::Handshake(HandshakeError::Rejected))`.
pub async fn accept_with<S, F>(
    mut stream: S,
    options: Options,
    callback: F,
) -> Result<WebSocket<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce(&Request<'_>) -> Result<Accept, Reject>,
{
    let clock = Clock::start();
    let mut conn = Connection::server(options.config, 0).map_err(crate::error::from_core)?;
    let limit = options.config.max_handshake_size;
    let mut buf = vec![0u8; limit.clamp(1024, 16 << 10)];
    let mut filled = 0;
    let mut out = OutQueue::default();
    let mut callback = Some(callback);
    let outcome = loop {
        let mut headers = [EMPTY_HEADER; MAX_HEADERS];
        match conn.read_request(clock.now(), &buf[..filled], &mut headers) {
            Ok(ParsedRequest::Complete { request, len }) => {
                let Some(cb) = callback.take() else {
                    break Err(Error::Closed);
                };
                let answer = cb(&Request { inner: &request });
                break answer_request(&mut conn, clock.now(), answer, &mut out, len);
            }
            Ok(ParsedRequest::Partial) => {}
            // An invalid request: the error response is queued.
            Err(wsmachine::Error::Handshake(e)) => break Err(Error::Handshake(e)),
            Err(e) => return Err(crate::error::from_core(e)),
        }
        if filled == buf.len() {
            let grown = (buf.len() * 2)
                .min(limit.saturating_add(1))
                .max(buf.len() + 1);
            buf.resize(grown, 0);
        }
        let deadline = conn.poll_timeout().map(|ms| clock.instant(ms));
        let read = stream.read(&mut buf[filled..]);
        let n = match deadline {
            Some(at) => match tokio::time::timeout_at(at, read).await {
                Ok(r) => r?,
                Err(_) => {
                    conn.handle_timeout(clock.now());
                    break Err(Error::Handshake(HandshakeError::Timeout));
                }
            },
            None => read.await?,
        };
        if n == 0 {
            return Err(Error::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
        filled += n;
    };
    match outcome {
        Ok((protocol, len)) => {
            write_out(&mut stream, &mut out).await?;
            Ok(WebSocket::open(
                stream,
                conn,
                clock,
                options,
                protocol,
                &buf[len..filled],
            ))
        }
        Err(e) => {
            // A refusal or a queued error response (400, 408…): write it, then close.
            while let Ok(n) = out.push(512, |b| conn.poll_transmit(b)) {
                if n == 0 {
                    break;
                }
            }
            let _ = write_out(&mut stream, &mut out).await;
            let _ = stream.shutdown().await;
            Err(e)
        }
    }
}

/// Writes the callback's answer into `out`: the 101 (with the subprotocol chosen) and the
/// length of the request head, or the refusal.
fn answer_request(
    conn: &mut Connection,
    now: u64,
    answer: Result<Accept, Reject>,
    out: &mut OutQueue,
    len: usize,
) -> Result<(Option<String>, usize), Error> {
    match answer {
        Ok(a) => {
            let headers: Vec<_> = a
                .headers
                .iter()
                .map(|(n, v)| wsmachine::Header {
                    name: n,
                    value: v.as_bytes(),
                })
                .collect();
            let opts = wsmachine::Accept {
                subprotocol: a.subprotocol.as_deref(),
                extensions: None,
                headers: &headers,
            };
            out.push(1024, |b| conn.accept(now, &opts, b))
                .map_err(crate::error::from_core)?;
            Ok((a.subprotocol, len))
        }
        Err(r) => {
            let headers: Vec<_> = r
                .headers
                .iter()
                .map(|(n, v)| wsmachine::Header {
                    name: n,
                    value: v.as_bytes(),
                })
                .collect();
            out.push(r.body.len() + 1024, |b| {
                conn.reject(r.status, &headers, &r.body, b)
            })
            .map_err(crate::error::from_core)?;
            Err(Error::Handshake(HandshakeError::Rejected))
        }
    }
}

/// Writes everything in `out` to `stream`.
pub(crate) async fn write_out<S: AsyncWrite + Unpin>(
    stream: &mut S,
    out: &mut OutQueue,
) -> std::io::Result<()> {
    let n = out.len();
    stream.write_all(out.take_bytes(n)).await?;
    stream.flush().await
}
