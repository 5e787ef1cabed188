//! Server side of the opening handshake: parsing and validating the upgrade request, and
//! writing the 101, rejection and error responses.

use super::{
    first, is_token, is_value, key_is_valid, reason_phrase, trim, write_all, Header, ListIter,
    Writer,
};
use crate::error::{Error, HandshakeError};

/// A parsed upgrade request. Borrows the caller's input buffer and header storage.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    method: &'a str,
    target: &'a str,
    version: u8,
    headers: &'a [Header<'a>],
}

impl<'a> Request<'a> {
    /// The method (validated to be `GET` by the time a connection reports a request).
    pub fn method(&self) -> &'a str {
        self.method
    }

    /// The request target as sent: path and query, e.g. `/chat?token=abc`.
    pub fn target(&self) -> &'a str {
        self.target
    }

    /// The path: the target up to `?`.
    pub fn path(&self) -> &'a str {
        match self.target.split_once('?') {
            Some((p, _)) => p,
            None => self.target,
        }
    }

    /// The query string after `?`, without it; `None` when the target has no `?`.
    pub fn query(&self) -> Option<&'a str> {
        self.target.split_once('?').map(|(_, q)| q)
    }

    /// The minor HTTP version (1 for HTTP/1.1).
    pub fn http_minor_version(&self) -> u8 {
        self.version
    }

    /// Every header, in order, as sent.
    pub fn headers(&self) -> &'a [Header<'a>] {
        self.headers
    }

    /// The value of the first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        first(self.headers, name)
    }

    /// The Host header.
    pub fn host(&self) -> Option<&'a [u8]> {
        self.header("host")
    }

    /// The Origin header (sent by browsers; check it against an allow-list).
    pub fn origin(&self) -> Option<&'a [u8]> {
        self.header("origin")
    }

    /// The Sec-WebSocket-Key header.
    pub fn key(&self) -> Option<&'a [u8]> {
        self.header("sec-websocket-key").map(trim)
    }

    /// The subprotocols offered, in order of preference, across all Sec-WebSocket-Protocol
    /// headers.
    pub fn subprotocols(&self) -> ListIter<'a> {
        ListIter::new(self.headers, "sec-websocket-protocol")
    }

    /// Whether the client offered subprotocol `name` (exact match, as RFC 6455 requires).
    pub fn offers_subprotocol(&self, name: &str) -> bool {
        self.subprotocols().any(|p| p == name.as_bytes())
    }

    /// The extension offers across all Sec-WebSocket-Extensions headers, each with its
    /// parameters (e.g. `permessage-deflate; client_max_window_bits`).
    pub fn extensions(&self) -> ListIter<'a> {
        ListIter::new(self.headers, "sec-websocket-extensions")
    }

    /// Whether the Origin header is one of `allowed` (ASCII case-insensitive). A request
    /// without Origin (a non-browser client) is allowed.
    pub fn origin_allowed(&self, allowed: &[&str]) -> bool {
        match self.origin() {
            None => true,
            Some(o) => allowed
                .iter()
                .any(|a| a.as_bytes().eq_ignore_ascii_case(trim(o))),
        }
    }
}

/// The result of parsing a request that may be incomplete.
#[derive(Debug)]
pub enum ParsedRequest<'a> {
    /// More input is needed; keep the bytes and append to them.
    Partial,
    /// A whole request head of `len` bytes (bytes after it are not part of the handshake).
    Complete {
        /// The request.
        request: Request<'a>,
        /// Bytes of the head, including the blank line.
        len: usize,
    },
}

/// Parses (without validating) a request head from `buf` into `headers`.
pub fn parse_request<'h, 'b: 'h>(
    buf: &'b [u8],
    headers: &'h mut [Header<'b>],
    max_size: usize,
) -> Result<ParsedRequest<'h>, HandshakeError> {
    let mut req = httparse::Request::new(headers);
    let status = req.parse(buf).map_err(|e| match e {
        httparse::Error::TooManyHeaders => HandshakeError::TooManyHeaders,
        _ => HandshakeError::Malformed,
    });
    let status = match status {
        Ok(s) => s,
        Err(e) if buf.len() > max_size => {
            // A head larger than the limit is reported as such even when it is also malformed
            // further on; what matters to the client is the size.
            let _ = e;
            return Err(HandshakeError::TooLarge);
        }
        Err(e) => return Err(e),
    };
    match status {
        // An incomplete head that already fills `max_size` bytes can only be longer than the
        // limit; a caller whose buffer is exactly `max_size` bytes could never send more.
        httparse::Status::Partial if buf.len() >= max_size => Err(HandshakeError::TooLarge),
        httparse::Status::Partial => Ok(ParsedRequest::Partial),
        httparse::Status::Complete(len) if len > max_size => Err(HandshakeError::TooLarge),
        httparse::Status::Complete(len) => {
            let httparse::Request {
                method,
                path,
                version,
                headers,
            } = req;
            let (Some(method), Some(target), Some(version)) = (method, path, version) else {
                return Err(HandshakeError::Malformed);
            };
            let headers: &'h [Header<'b>] = headers;
            Ok(ParsedRequest::Complete {
                request: Request {
                    method,
                    target,
                    version,
                    headers,
                },
                len,
            })
        }
    }
}

/// Checks a parsed request against RFC 6455 §4.2.1.
///
/// One pass over the headers (matching names by length first) collects what the checks need;
/// the checks then run in a fixed order, so the error reported for a request with several
/// problems is always the same.
pub fn validate_request<'a>(req: &Request<'a>) -> Result<(), HandshakeError> {
    checked_key(req).map(|_| ())
}

/// [`validate_request`], returning the (trimmed) `Sec-WebSocket-Key` it checked, so that the
/// connection does not look for it a second time.
pub(crate) fn checked_key<'a>(req: &Request<'a>) -> Result<&'a [u8], HandshakeError> {
    if req.method != "GET" {
        return Err(HandshakeError::MethodNotAllowed);
    }
    if req.version < 1 {
        return Err(HandshakeError::HttpVersion);
    }
    // (count, first value) of the headers that must appear once; token presence for the
    // list-valued ones (any header of that name may carry the token).
    fn once<'v>(slot: &mut (u8, &'v [u8]), v: &'v [u8]) {
        if slot.0 == 0 {
            slot.1 = v;
        }
        slot.0 = slot.0.saturating_add(1);
    }
    let mut host: (u8, &'a [u8]) = (0, &[]);
    let mut version: (u8, &'a [u8]) = (0, &[]);
    let mut key: (u8, &'a [u8]) = (0, &[]);
    let mut upgrade = false;
    let mut connection = false;
    for h in req.headers {
        let name = h.name.as_bytes();
        match name.len() {
            4 if eq_lower(name, b"host") => once(&mut host, h.value),
            7 if !upgrade && eq_lower(name, b"upgrade") => {
                upgrade = value_has_token(h.value, b"websocket");
            }
            10 if !connection && eq_lower(name, b"connection") => {
                connection = value_has_token(h.value, b"upgrade");
            }
            17 if eq_lower(name, b"sec-websocket-key") => once(&mut key, h.value),
            21 if eq_lower(name, b"sec-websocket-version") => once(&mut version, h.value),
            _ => {}
        }
    }
    match host {
        (1, h) if !trim(h).is_empty() => {}
        (0 | 1, _) => return Err(HandshakeError::MissingHost),
        _ => return Err(HandshakeError::Malformed),
    }
    if !upgrade {
        return Err(HandshakeError::MissingUpgrade);
    }
    if !connection {
        return Err(HandshakeError::MissingConnectionUpgrade);
    }
    match version {
        (1, v) if trim(v) == b"13" => {}
        (1, _) => return Err(HandshakeError::UnsupportedVersion),
        _ => return Err(HandshakeError::MissingVersion),
    }
    match key {
        (1, k) if key_is_valid(k) => Ok(trim(k)),
        _ => Err(HandshakeError::InvalidKey),
    }
}

/// Whether the comma-separated list `value` has `token` (ASCII case-insensitive, elements
/// trimmed), as [`ListIter`] sees one header.
fn value_has_token<const N: usize>(value: &[u8], token: &[u8; N]) -> bool {
    // Usually the value is just the token.
    eq_lower(trim(value), token)
        || value
            .split(|&b| b == b',')
            .any(|item| eq_lower(trim(item), token))
}

/// Whether `name` equals `lit` (lowercase letters, digits and `-`) ignoring ASCII case: exact,
/// like `eq_ignore_ascii_case`, but branch-free over a fixed length, so that the compiler
/// turns it into a few word compares. Letters compare with bit 5 forced (which folds A–Z onto
/// a–z and nothing else onto them); every other byte compares as it is.
#[inline(always)]
fn eq_lower<const N: usize>(name: &[u8], lit: &[u8; N]) -> bool {
    let Ok(name) = <&[u8; N]>::try_from(name) else {
        return false;
    };
    let mut diff = 0u8;
    for (&c, &l) in name.iter().zip(lit) {
        let fold = if l.is_ascii_lowercase() { 0x20 } else { 0 };
        diff |= (c | fold) ^ l;
    }
    diff == 0
}

/// What the server answers when it accepts a connection.
#[derive(Clone, Copy, Debug, Default)]
pub struct Accept<'a> {
    /// The chosen subprotocol; it should be one the client offered.
    pub subprotocol: Option<&'a str>,
    /// The accepted extensions, as a Sec-WebSocket-Extensions value. Only set this when the
    /// application implements the extension on top of the core (see `Config::allowed_rsv`).
    pub extensions: Option<&'a str>,
    /// Extra response headers (Set-Cookie, …).
    pub headers: &'a [Header<'a>],
}

fn check_headers(headers: &[Header<'_>]) -> Result<(), Error> {
    for h in headers {
        if !is_token(h.name.as_bytes()) || !is_value(h.value) {
            return Err(Error::InvalidHeader);
        }
    }
    Ok(())
}

/// Writes the `101 Switching Protocols` response.
pub fn write_accept(
    accept_key: &[u8; 28],
    opts: &Accept<'_>,
    out: &mut [u8],
) -> Result<usize, Error> {
    accept::<false>(accept_key, opts, None, out)
}

/// [`write_accept`] plus the Sec-WebSocket-Extensions value `deflate` the connection adds for
/// permessage-deflate (written before `opts.extensions`).
#[cfg(feature = "deflate")]
pub(crate) fn write_accept_with(
    accept_key: &[u8; 28],
    opts: &Accept<'_>,
    deflate: Option<&[u8]>,
    out: &mut [u8],
) -> Result<usize, Error> {
    accept::<true>(accept_key, opts, deflate, out)
}

/// Without the `deflate` feature: [`write_accept`] exactly, so that the image is as without
/// the feature.
#[cfg(not(feature = "deflate"))]
#[inline(always)]
pub(crate) fn write_accept_with(
    accept_key: &[u8; 28],
    opts: &Accept<'_>,
    _deflate: Option<&[u8]>,
    out: &mut [u8],
) -> Result<usize, Error> {
    write_accept(accept_key, opts, out)
}

/// The response; `DEFLATE` says whether `deflate` can be there (a constant, so that the plain
/// response compiles without the branch).
fn accept<const DEFLATE: bool>(
    accept_key: &[u8; 28],
    opts: &Accept<'_>,
    deflate: Option<&[u8]>,
    out: &mut [u8],
) -> Result<usize, Error> {
    if let Some(p) = opts.subprotocol {
        if !is_token(p.as_bytes()) {
            return Err(Error::InvalidHeader);
        }
    }
    if let Some(e) = opts.extensions {
        if !is_value(e.as_bytes()) {
            return Err(Error::InvalidHeader);
        }
    }
    check_headers(opts.headers)?;
    write_all(out, |w| {
        w.put(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n");
        w.header("Sec-WebSocket-Accept", accept_key);
        if let Some(p) = opts.subprotocol {
            w.header("Sec-WebSocket-Protocol", p.as_bytes());
        }
        if let (true, Some(d)) = (DEFLATE, deflate) {
            w.header("Sec-WebSocket-Extensions", d);
        }
        if let Some(e) = opts.extensions {
            w.header("Sec-WebSocket-Extensions", e.as_bytes());
        }
        for h in opts.headers {
            w.header(h.name, h.value);
        }
        w.put(b"\r\n");
    })
}

/// Headers a refusal may not carry: the connection writes the message framing itself.
const FRAMING_HEADERS: [&str; 3] = ["content-length", "transfer-encoding", "connection"];

/// How a refusal's body is framed.
#[derive(Clone, Copy)]
enum BodyFraming {
    Length(u64),
    Chunked,
}

/// Writes the head of a non-101 response: status line, the application's `headers`, the
/// body framing and `Connection: close`.
fn put_reject_head(w: &mut Writer<'_>, status: u16, headers: &[Header<'_>], framing: BodyFraming) {
    w.put(b"HTTP/1.1 ");
    w.put_dec(u64::from(status));
    w.put(b" ");
    w.put(reason_phrase(status).as_bytes());
    w.put(b"\r\n");
    for h in headers {
        w.header(h.name, h.value);
    }
    match framing {
        BodyFraming::Length(n) => {
            w.put(b"Content-Length: ");
            w.put_dec(n);
            w.put(b"\r\n");
        }
        BodyFraming::Chunked => w.put(b"Transfer-Encoding: chunked\r\n"),
    }
    w.put(b"Connection: close\r\n\r\n");
}

/// Checks a refusal's status and headers.
fn check_reject(status: u16, headers: &[Header<'_>]) -> Result<(), Error> {
    if !(200..=599).contains(&status) {
        return Err(Error::InvalidStatus);
    }
    check_headers(headers)?;
    if headers.iter().any(|h| {
        FRAMING_HEADERS
            .iter()
            .any(|f| h.name.eq_ignore_ascii_case(f))
    }) {
        return Err(Error::InvalidHeader);
    }
    Ok(())
}

/// Writes a complete non-101 HTTP response with `Content-Length` and `Connection: close`.
/// `headers` may not name `Content-Length`, `Transfer-Encoding` or `Connection`
/// ([`Error::InvalidHeader`]).
pub fn write_reject(
    status: u16,
    headers: &[Header<'_>],
    body: &[u8],
    out: &mut [u8],
) -> Result<usize, Error> {
    check_reject(status, headers)?;
    write_all(out, |w| {
        put_reject_head(w, status, headers, BodyFraming::Length(body.len() as u64));
        w.put(body);
    })
}

/// Writes the head of a non-101 HTTP response whose body follows in chunks
/// ([`write_reject_chunk`]): `Transfer-Encoding: chunked` and `Connection: close`. The same
/// header rules as [`write_reject`] apply.
pub fn write_reject_head(
    status: u16,
    headers: &[Header<'_>],
    out: &mut [u8],
) -> Result<usize, Error> {
    check_reject(status, headers)?;
    write_all(out, |w| {
        put_reject_head(w, status, headers, BodyFraming::Chunked);
    })
}

/// Writes `data` as one chunk of a chunked body (nothing when it is empty), and with
/// `last` the terminating empty chunk as well.
pub fn write_reject_chunk(data: &[u8], last: bool, out: &mut [u8]) -> Result<usize, Error> {
    write_all(out, |w| {
        if !data.is_empty() {
            w.put_hex(data.len() as u64);
            w.put(b"\r\n");
            w.put(data);
            w.put(b"\r\n");
        }
        if last {
            w.put(b"0\r\n\r\n");
        }
    })
}

/// Writes the response for a handshake error (status from [`HandshakeError::status`], a
/// one-line text body, and the headers of [`HandshakeError::response_headers`]).
pub fn write_error(err: HandshakeError, out: &mut [u8]) -> Result<usize, Error> {
    let mut body = [0u8; 64];
    let msg = err.as_str().as_bytes();
    let n = msg.len().min(body.len() - 1);
    for (d, s) in body.iter_mut().zip(msg.iter().take(n)) {
        *d = *s;
    }
    if let Some(b) = body.get_mut(n) {
        *b = b'\n';
    }
    let mut hs = [Header {
        name: "Content-Type",
        value: b"text/plain",
    }; 2];
    let used = match err.response_headers().first() {
        Some(h) => {
            hs[1] = *h;
            2
        }
        None => 1,
    };
    write_reject(
        err.status(),
        hs.get(..used).unwrap_or_default(),
        body.get(..n + 1).unwrap_or_default(),
        out,
    )
}

/// Validates an RFC 8441 extended CONNECT request (WebSocket over an HTTP/2 stream): the
/// pseudo-headers `:method` and `:protocol` and the `sec-websocket-version` header. After
/// answering `200`, the application starts the connection with
/// [`Connection::new_open`](crate::Connection::new_open).
pub fn validate_extended_connect(
    method: &str,
    protocol: Option<&str>,
    version: Option<&[u8]>,
) -> Result<(), HandshakeError> {
    if method != "CONNECT" || !protocol.is_some_and(|p| p.eq_ignore_ascii_case("websocket")) {
        return Err(HandshakeError::NotExtendedConnect);
    }
    match version.map(trim) {
        Some(b"13") => Ok(()),
        Some(_) => Err(HandshakeError::UnsupportedVersion),
        None => Err(HandshakeError::MissingVersion),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check<const N: usize>(lit: &[u8; N]) {
        let upper: std::vec::Vec<u8> = lit.iter().map(u8::to_ascii_uppercase).collect();
        assert!(eq_lower(lit, lit) && eq_lower(&upper, lit));
        assert!(!eq_lower(&lit[..N - 1], lit));
        // Every byte value at every position agrees with `eq_ignore_ascii_case`.
        for i in 0..N {
            for b in 0..=255u8 {
                let mut name = *lit;
                name[i] = b;
                assert_eq!(
                    eq_lower(&name, lit),
                    name.eq_ignore_ascii_case(lit),
                    "{:?} at {i} = {b:#04x}",
                    core::str::from_utf8(lit)
                );
            }
        }
    }

    #[test]
    fn eq_lower_is_eq_ignore_ascii_case() {
        check(b"host");
        check(b"upgrade");
        check(b"connection");
        check(b"websocket");
        check(b"sec-websocket-key");
        check(b"sec-websocket-version");
        check(b"13");
    }

    #[test]
    fn tokens_in_lists() {
        assert!(value_has_token(b" WebSocket ", b"websocket"));
        assert!(value_has_token(b"keep-alive, Upgrade", b"upgrade"));
        assert!(!value_has_token(b"keep-alive, Upgrade2", b"upgrade"));
        assert!(!value_has_token(b"", b"upgrade"));
    }
}
