//! Client side of the opening handshake: writing the upgrade request and validating the
//! server's response.

use super::{
    accept_key, first, has_token, is_token, is_value, single, trim, write_all, Header, ListIter,
};
use crate::error::{Error, HandshakeError};

/// What a client asks for. Keep it (or an identical one) until the response has been read:
/// the response is validated against the offered subprotocols and extensions.
#[derive(Clone, Copy, Debug)]
pub struct ClientRequest<'a> {
    /// The Host header value (`example.com`, `example.com:8080`).
    pub host: &'a str,
    /// The request target: path and query (`/chat?room=1`).
    pub target: &'a str,
    /// The Origin header, if any (browsers always send one; other clients usually do not).
    pub origin: Option<&'a str>,
    /// Subprotocols offered, in order of preference.
    pub subprotocols: &'a [&'a str],
    /// Extension offers, each a Sec-WebSocket-Extensions element (`permessage-deflate`).
    pub extensions: &'a [&'a str],
    /// Extra headers (Cookie, Authorization, User-Agent, …).
    pub headers: &'a [Header<'a>],
}

impl<'a> ClientRequest<'a> {
    /// A request for `target` on `host` with no options.
    pub const fn new(host: &'a str, target: &'a str) -> ClientRequest<'a> {
        ClientRequest {
            host,
            target,
            origin: None,
            subprotocols: &[],
            extensions: &[],
            headers: &[],
        }
    }
}

fn no_space(s: &str) -> bool {
    !s.is_empty() && is_value(s.as_bytes()) && !s.bytes().any(|b| b == b' ' || b == b'\t')
}

/// Writes the upgrade request with the given (base64) `Sec-WebSocket-Key`.
pub fn write_request(
    req: &ClientRequest<'_>,
    key: &[u8; 24],
    out: &mut [u8],
) -> Result<usize, Error> {
    request::<false>(req, key, None, out)
}

/// [`write_request`] plus the connection's own permessage-deflate offer `deflate` (written
/// before `req.extensions`).
#[cfg(feature = "deflate")]
pub(crate) fn write_request_with(
    req: &ClientRequest<'_>,
    key: &[u8; 24],
    deflate: Option<&[u8]>,
    out: &mut [u8],
) -> Result<usize, Error> {
    request::<true>(req, key, deflate, out)
}

/// Without the `deflate` feature, the connection has no offer of its own: [`write_request`]
/// exactly, so that the image is as without the feature.
#[cfg(not(feature = "deflate"))]
#[inline(always)]
pub(crate) fn write_request_with(
    req: &ClientRequest<'_>,
    key: &[u8; 24],
    _deflate: Option<&[u8]>,
    out: &mut [u8],
) -> Result<usize, Error> {
    write_request(req, key, out)
}

/// The request; `DEFLATE` says whether `deflate` can be there (a constant, so that the plain
/// request compiles without the branch).
fn request<const DEFLATE: bool>(
    req: &ClientRequest<'_>,
    key: &[u8; 24],
    deflate: Option<&[u8]>,
    out: &mut [u8],
) -> Result<usize, Error> {
    if !no_space(req.host) || !no_space(req.target) || !req.target.starts_with('/') {
        return Err(Error::InvalidHeader);
    }
    if req.origin.is_some_and(|o| !is_value(o.as_bytes()))
        || req.subprotocols.iter().any(|p| !is_token(p.as_bytes()))
        || req
            .extensions
            .iter()
            .any(|e| !is_value(e.as_bytes()) || e.contains(','))
        || req
            .headers
            .iter()
            .any(|h| !is_token(h.name.as_bytes()) || !is_value(h.value))
    {
        return Err(Error::InvalidHeader);
    }
    write_all(out, |w| {
        w.put(b"GET ");
        w.put(req.target.as_bytes());
        w.put(b" HTTP/1.1\r\n");
        w.header("Host", req.host.as_bytes());
        w.put(b"Upgrade: websocket\r\nConnection: Upgrade\r\n");
        w.header("Sec-WebSocket-Key", key);
        w.put(b"Sec-WebSocket-Version: 13\r\n");
        if let Some(o) = req.origin {
            w.header("Origin", o.as_bytes());
        }
        if let (true, Some(d)) = (DEFLATE, deflate) {
            w.header("Sec-WebSocket-Extensions", d);
        }
        for (list, name) in [
            (req.subprotocols, "Sec-WebSocket-Protocol"),
            (req.extensions, "Sec-WebSocket-Extensions"),
        ] {
            if !list.is_empty() {
                w.put(name.as_bytes());
                w.put(b": ");
                for (i, p) in list.iter().enumerate() {
                    if i > 0 {
                        w.put(b", ");
                    }
                    w.put(p.as_bytes());
                }
                w.put(b"\r\n");
            }
        }
        for h in req.headers {
            w.header(h.name, h.value);
        }
        w.put(b"\r\n");
    })
}

/// A server's response head. Borrows the caller's input buffer and header storage.
#[derive(Clone, Copy, Debug)]
pub struct Response<'a> {
    status: u16,
    reason: &'a str,
    headers: &'a [Header<'a>],
}

impl<'a> Response<'a> {
    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The reason phrase.
    pub fn reason(&self) -> &'a str {
        self.reason
    }

    /// Every header, in order.
    pub fn headers(&self) -> &'a [Header<'a>] {
        self.headers
    }

    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        first(self.headers, name)
    }

    /// The subprotocol the server chose.
    pub fn subprotocol(&self) -> Option<&'a str> {
        self.header("sec-websocket-protocol")
            .and_then(|v| core::str::from_utf8(trim(v)).ok())
    }

    /// The extensions the server accepted, with their parameters.
    pub fn extensions(&self) -> ListIter<'a> {
        ListIter::new(self.headers, "sec-websocket-extensions")
    }

    /// The Content-Length header, if present and valid.
    pub fn content_length(&self) -> Option<u64> {
        let v = trim(self.header("content-length")?);
        if v.is_empty() || v.len() > 19 {
            return None;
        }
        v.iter().try_fold(0u64, |acc, &b| {
            if b.is_ascii_digit() {
                Some(acc * 10 + u64::from(b - b'0'))
            } else {
                None
            }
        })
    }
}

/// The result of parsing a response that may be incomplete.
#[derive(Debug)]
pub enum ParsedResponse<'a> {
    /// More input is needed.
    Partial,
    /// A whole response head of `len` bytes.
    Complete {
        /// The response.
        response: Response<'a>,
        /// Bytes of the head, including the blank line.
        len: usize,
    },
}

/// Parses (without validating) a response head.
pub fn parse_response<'h, 'b: 'h>(
    buf: &'b [u8],
    headers: &'h mut [Header<'b>],
    max_size: usize,
) -> Result<ParsedResponse<'h>, HandshakeError> {
    let mut resp = httparse::Response::new(headers);
    let status = match resp.parse(buf) {
        Ok(s) => s,
        Err(_) if buf.len() > max_size => return Err(HandshakeError::TooLarge),
        Err(httparse::Error::TooManyHeaders) => return Err(HandshakeError::TooManyHeaders),
        Err(_) => return Err(HandshakeError::Malformed),
    };
    match status {
        // An incomplete head that already fills `max_size` bytes can only be longer than the
        // limit; a caller whose buffer is exactly `max_size` bytes could never send more.
        httparse::Status::Partial if buf.len() >= max_size => Err(HandshakeError::TooLarge),
        httparse::Status::Partial => Ok(ParsedResponse::Partial),
        httparse::Status::Complete(len) if len > max_size => Err(HandshakeError::TooLarge),
        httparse::Status::Complete(len) => {
            let httparse::Response {
                version,
                code,
                reason,
                headers,
            } = resp;
            let (Some(version), Some(code)) = (version, code) else {
                return Err(HandshakeError::Malformed);
            };
            if version < 1 && code == 101 {
                return Err(HandshakeError::HttpVersion);
            }
            let headers: &'h [Header<'b>] = headers;
            Ok(ParsedResponse::Complete {
                response: Response {
                    status: code,
                    reason: reason.unwrap_or(""),
                    headers,
                },
                len,
            })
        }
    }
}

/// The name of an extension element (`permessage-deflate` in `permessage-deflate; x=1`).
fn extension_name(e: &[u8]) -> &[u8] {
    let name = match e.iter().position(|&b| b == b';') {
        Some(i) => e.get(..i).unwrap_or_default(),
        None => e,
    };
    trim(name)
}

/// Checks a 101 response against RFC 6455 §4.2.2 / §4.1 and the offer in `req`.
pub fn validate_response(
    resp: &Response<'_>,
    key: &[u8; 24],
    req: &ClientRequest<'_>,
) -> Result<(), HandshakeError> {
    validate::<false>(resp, key, req, false)
}

/// [`validate_response`]; with `deflate_offered`, permessage-deflate counts as offered (the
/// connection checks its parameters itself).
#[cfg(feature = "deflate")]
pub(crate) fn validate_response_with(
    resp: &Response<'_>,
    key: &[u8; 24],
    req: &ClientRequest<'_>,
    deflate_offered: bool,
) -> Result<(), HandshakeError> {
    validate::<true>(resp, key, req, deflate_offered)
}

/// Without the `deflate` feature: [`validate_response`] exactly.
#[cfg(not(feature = "deflate"))]
#[inline(always)]
pub(crate) fn validate_response_with(
    resp: &Response<'_>,
    key: &[u8; 24],
    req: &ClientRequest<'_>,
    _deflate_offered: bool,
) -> Result<(), HandshakeError> {
    validate_response(resp, key, req)
}

fn validate<const DEFLATE: bool>(
    resp: &Response<'_>,
    key: &[u8; 24],
    req: &ClientRequest<'_>,
    deflate_offered: bool,
) -> Result<(), HandshakeError> {
    if !has_token(resp.headers, "upgrade", "websocket") {
        return Err(HandshakeError::MissingUpgrade);
    }
    if !has_token(resp.headers, "connection", "upgrade") {
        return Err(HandshakeError::MissingConnectionUpgrade);
    }
    match single(resp.headers, "sec-websocket-accept") {
        Ok(Some(a)) if trim(a) == accept_key(key) => {}
        _ => return Err(HandshakeError::InvalidAccept),
    }
    match single(resp.headers, "sec-websocket-protocol") {
        Ok(None) => {}
        Ok(Some(p)) if req.subprotocols.iter().any(|o| o.as_bytes() == trim(p)) => {}
        _ => return Err(HandshakeError::UnofferedSubprotocol),
    }
    for e in resp.extensions() {
        let name = extension_name(e);
        if DEFLATE && deflate_offered && name.eq_ignore_ascii_case(b"permessage-deflate") {
            continue;
        }
        if !req
            .extensions
            .iter()
            .any(|o| extension_name(o.as_bytes()).eq_ignore_ascii_case(name))
        {
            return Err(HandshakeError::UnofferedExtension);
        }
    }
    Ok(())
}
