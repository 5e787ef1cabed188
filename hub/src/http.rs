//! Just enough HTTP/1.1 for the hub: read one request head (and a small body), answer it,
//! or hand the connection to the WebSocket handshake with the bytes already read.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

/// Largest request head.
pub const MAX_HEAD: usize = 8 * 1024;
/// Largest request body the hub reads (`POST /login`, `POST /token`, `POST /publish`).
pub const MAX_BODY: usize = 64 * 1024;

/// A parsed request head.
#[derive(Debug)]
pub struct Head {
    /// Method.
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// The query string (after `?`), if any.
    pub query: Option<String>,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// Bytes of the head.
    pub len: usize,
}

impl Head {
    /// The first header called `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether this asks for a WebSocket upgrade.
    pub fn is_upgrade(&self) -> bool {
        self.header("upgrade")
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
    }

    /// The cookie called `name`.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == "cookie")
            .flat_map(|(_, v)| v.split(';'))
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }

    /// The query parameter `name` (no percent-decoding: the hub's values are URL-safe).
    pub fn query_param(&self, name: &str) -> Option<&str> {
        query_param(self.query.as_deref()?, name)
    }
}

/// The parameter `name` of a query string.
pub fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Reads a request head into `buf` (which keeps every byte read). `Ok(None)` when the peer
/// closed before sending anything.
pub async fn read_head<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
) -> io::Result<Option<Head>> {
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(buf) {
            Ok(httparse::Status::Complete(len)) => {
                let target = req.path.unwrap_or("/");
                let (path, query) = match target.split_once('?') {
                    Some((p, q)) => (p.to_string(), Some(q.to_string())),
                    None => (target.to_string(), None),
                };
                let headers = req
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_ascii_lowercase(),
                            String::from_utf8_lossy(h.value).into_owned(),
                        )
                    })
                    .collect();
                return Ok(Some(Head {
                    method: req.method.unwrap_or("").to_string(),
                    path,
                    query,
                    headers,
                    len,
                }));
            }
            Ok(httparse::Status::Partial) => {}
            Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
        }
        if buf.len() >= MAX_HEAD {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "request head too large",
            ));
        }
        let mut chunk = [0u8; 2048];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            if buf.is_empty() {
                return Ok(None);
            }
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Reads the body announced by `Content-Length` (at most [`MAX_BODY`]); `buf` holds the
/// bytes read after the head.
pub async fn read_body<S: AsyncRead + Unpin>(
    stream: &mut S,
    head: &Head,
    mut buf: Vec<u8>,
) -> io::Result<Vec<u8>> {
    let len: usize = match head.header("content-length") {
        Some(v) => v
            .trim()
            .parse()
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad Content-Length"))?,
        None => 0,
    };
    if len > MAX_BODY {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "body too large"));
    }
    while buf.len() < len {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    buf.truncate(len);
    Ok(buf)
}

/// A response.
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

impl Response {
    /// A response with a body of `content_type`.
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Response {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.into(),
        }
    }

    /// A `text/plain` response.
    pub fn text(status: u16, body: &str) -> Self {
        Response::new(status, "text/plain; charset=utf-8", format!("{body}\n"))
    }

    /// An `application/json` response.
    pub fn json(status: u16, body: &serde_json::Value) -> Self {
        Response::new(status, "application/json", body.to_string())
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Writes the response and closes the write side (one request per connection).
    pub async fn write<S: AsyncWrite + Unpin>(self, stream: &mut S) -> io::Result<()> {
        let mut out = format!("HTTP/1.1 {} {}\r\n", self.status, reason(self.status));
        for (n, v) in &self.headers {
            out.push_str(n);
            out.push_str(": ");
            out.push_str(v);
            out.push_str("\r\n");
        }
        out.push_str(&format!(
            "Content-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
            self.body.len()
        ));
        stream.write_all(out.as_bytes()).await?;
        stream.write_all(&self.body).await?;
        stream.flush().await?;
        stream.shutdown().await
    }
}

/// The reason phrase of the status codes the hub sends.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "",
    }
}

/// A stream that first yields bytes already read from `inner` (the request head), so the
/// WebSocket handshake can parse them again.
pub struct Prefixed<S> {
    prefix: Vec<u8>,
    pos: usize,
    inner: S,
}

impl<S> Prefixed<S> {
    /// `inner`, with `prefix` read first.
    pub fn new(prefix: Vec<u8>, inner: S) -> Self {
        Prefixed {
            prefix,
            pos: 0,
            inner,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.pos < this.prefix.len() {
            let n = (this.prefix.len() - this.pos).min(buf.remaining());
            buf.put_slice(&this.prefix[this.pos..this.pos + n]);
            this.pos += n;
            if this.pos == this.prefix.len() {
                this.prefix = Vec::new();
                this.pos = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_a_head_then_replays_it() {
        let raw = b"GET /ws?token=abc&x HTTP/1.1\r\nHost: h\r\nCookie: a=1; hub_session=s.t\r\nUpgrade: WebSocket\r\n\r\nrest";
        let (mut client, mut server) = tokio::io::duplex(64);
        tokio::spawn(async move {
            client.write_all(raw).await.unwrap();
        });
        let mut buf = Vec::new();
        let head = read_head(&mut server, &mut buf).await.unwrap().unwrap();
        assert_eq!(head.path, "/ws");
        assert_eq!(head.query_param("token"), Some("abc"));
        assert_eq!(head.query_param("x"), Some(""));
        assert_eq!(head.query_param("y"), None);
        assert_eq!(head.cookie("hub_session"), Some("s.t"));
        assert!(head.is_upgrade());
        let mut p = Prefixed::new(buf, server);
        let mut all = vec![0u8; raw.len()];
        p.read_exact(&mut all).await.unwrap();
        assert_eq!(&all[..], &raw[..]);
    }

    #[tokio::test]
    async fn refuses_oversized_and_garbage_heads() {
        let (mut client, mut server) = tokio::io::duplex(1 << 16);
        client
            .write_all(format!("GET / HTTP/1.1\r\nX: {}\r\n", "a".repeat(MAX_HEAD)).as_bytes())
            .await
            .unwrap();
        let mut buf = Vec::new();
        assert!(read_head(&mut server, &mut buf).await.is_err());
        let (mut client, mut server) = tokio::io::duplex(1 << 16);
        client.write_all(b"\x00\x01garbage\r\n\r\n").await.unwrap();
        assert!(read_head(&mut server, &mut Vec::new()).await.is_err());
        drop(client);
        let (client, mut server) = tokio::io::duplex(16);
        drop(client);
        assert!(read_head(&mut server, &mut Vec::new())
            .await
            .unwrap()
            .is_none());
    }
}
