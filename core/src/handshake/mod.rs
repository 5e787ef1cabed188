//! The opening handshake (RFC 6455 §4): accept-key computation, header helpers, and the
//! request/response types of the [`client`] and [`server`] sides.

pub(crate) mod body;
mod chunked;
pub mod client;
mod digest;
pub mod server;

use crate::error::Error;

pub use httparse::{Header, EMPTY_HEADER};

/// The GUID RFC 6455 appends to the key before hashing.
pub const WEBSOCKET_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Computes `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key` value (RFC 6455 §4.2.2).
// Out of line on 32-bit targets: inlined (through `read_request` / `read_response`) into the
// application's function, its SHA-1 state and digest enlarge that function's stack frame, and
// so every later call it makes (thumbv6m server image: 80 B more peak stack).
#[cfg_attr(target_pointer_width = "32", inline(never))]
pub fn accept_key(key: &[u8]) -> [u8; 28] {
    // With `std` on x86_64, the SHA extensions when the CPU has them (crate::simd).
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    let digest = crate::simd::sha1_short(&[key, WEBSOCKET_GUID])
        .unwrap_or_else(|| digest::sha1(&[key, WEBSOCKET_GUID]));
    #[cfg(not(all(feature = "std", target_arch = "x86_64")))]
    let digest = digest::sha1(&[key, WEBSOCKET_GUID]);
    let mut out = [0u8; 28];
    digest::base64_encode(&digest, &mut out);
    out
}

/// Encodes 16 random bytes as a `Sec-WebSocket-Key` (24 characters).
pub fn encode_key(random: &[u8; 16]) -> [u8; 24] {
    let mut out = [0u8; 24];
    digest::base64_encode(random, &mut out);
    out
}

/// Whether `key` is base64 that decodes to exactly 16 bytes.
pub(crate) fn key_is_valid(key: &[u8]) -> bool {
    digest::is_base64_of_16_bytes(trim(key))
}

/// Trims optional whitespace (SP, HTAB) from both ends.
pub(crate) fn trim(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

/// Iterates over the comma-separated elements of every header named `name`, trimmed, skipping
/// empty elements (RFC 9110 §5.6.1).
#[derive(Clone, Debug)]
pub struct ListIter<'a> {
    headers: core::slice::Iter<'a, Header<'a>>,
    name: &'a str,
    rest: &'a [u8],
}

impl<'a> ListIter<'a> {
    pub(crate) fn new(headers: &'a [Header<'a>], name: &'a str) -> ListIter<'a> {
        ListIter {
            headers: headers.iter(),
            name,
            rest: &[],
        }
    }
}

impl<'a> Iterator for ListIter<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        loop {
            if self.rest.is_empty() {
                let h = self
                    .headers
                    .find(|h| h.name.eq_ignore_ascii_case(self.name))?;
                self.rest = h.value;
                continue;
            }
            let (item, rest) = match self.rest.iter().position(|&b| b == b',') {
                Some(i) => (
                    self.rest.get(..i).unwrap_or_default(),
                    self.rest.get(i + 1..).unwrap_or_default(),
                ),
                None => (self.rest, &[][..]),
            };
            self.rest = rest;
            let item = trim(item);
            if !item.is_empty() {
                return Some(item);
            }
        }
    }
}

/// Whether any `name` header lists `token` (case-insensitive).
pub(crate) fn has_token(headers: &[Header<'_>], name: &str, token: &str) -> bool {
    ListIter::new(headers, name).any(|t| t.eq_ignore_ascii_case(token.as_bytes()))
}

/// The value of the only header named `name`; `Err(())` if it appears more than once.
pub(crate) fn single<'a>(headers: &'a [Header<'a>], name: &str) -> Result<Option<&'a [u8]>, ()> {
    let mut it = headers.iter().filter(|h| h.name.eq_ignore_ascii_case(name));
    let first = it.next();
    if it.next().is_some() {
        return Err(());
    }
    Ok(first.map(|h| h.value))
}

/// The first header named `name`.
pub(crate) fn first<'a>(headers: &'a [Header<'a>], name: &str) -> Option<&'a [u8]> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value)
}

/// An RFC 9110 token character.
const fn is_tchar(b: u8) -> bool {
    matches!(b, b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_'
        | b'`' | b'|' | b'~' | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z')
}

/// A non-empty RFC 9110 token (header names, subprotocol names).
pub(crate) fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// A header value we are willing to write: no CR, LF or NUL.
pub(crate) fn is_value(s: &[u8]) -> bool {
    s.iter().all(|&b| b != b'\r' && b != b'\n' && b != 0)
}

/// Writes into a caller buffer, counting how much it would need when the buffer is too small.
pub(crate) struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl<'a> Writer<'a> {
    pub(crate) fn new(buf: &'a mut [u8]) -> Writer<'a> {
        Writer { buf, pos: 0 }
    }

    pub(crate) fn put(&mut self, bytes: &[u8]) {
        let Some(end) = self.pos.checked_add(bytes.len()) else {
            self.pos = usize::MAX;
            return;
        };
        if let Some(dst) = self.buf.get_mut(self.pos..end) {
            for (d, s) in dst.iter_mut().zip(bytes) {
                *d = *s;
            }
        }
        self.pos = end;
    }

    pub(crate) fn put_dec(&mut self, mut n: u64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            if let Some(d) = digits.get_mut(i) {
                *d = b'0' + (n % 10) as u8;
            }
            n /= 10;
            if n == 0 || i == 0 {
                break;
            }
        }
        self.put(digits.get(i..).unwrap_or_default());
    }

    /// Writes `n` in lowercase hexadecimal (chunk sizes).
    pub(crate) fn put_hex(&mut self, n: u64) {
        let mut digits = [0u8; 16];
        let mut i = digits.len();
        let mut v = n;
        loop {
            i -= 1;
            let nibble = (v & 0xF) as u8;
            if let Some(d) = digits.get_mut(i) {
                *d = if nibble < 10 {
                    b'0' + nibble
                } else {
                    b'a' + nibble - 10
                };
            }
            v >>= 4;
            if v == 0 || i == 0 {
                break;
            }
        }
        self.put(digits.get(i..).unwrap_or_default());
    }

    pub(crate) fn header(&mut self, name: &str, value: &[u8]) {
        self.put(name.as_bytes());
        self.put(b": ");
        self.put(value);
        self.put(b"\r\n");
    }

    pub(crate) fn finish(self) -> Result<usize, Error> {
        if self.pos <= self.buf.len() {
            Ok(self.pos)
        } else {
            Err(Error::BufferTooSmall { needed: self.pos })
        }
    }
}

/// Writes with `f` only if everything fits: a first pass counts, so a buffer that is too small
/// is left untouched (as [`Error::BufferTooSmall`] promises).
pub(crate) fn write_all(out: &mut [u8], f: impl Fn(&mut Writer<'_>)) -> Result<usize, Error> {
    let mut count = Writer::new(&mut []);
    f(&mut count);
    if count.pos > out.len() {
        return Err(Error::BufferTooSmall { needed: count.pos });
    }
    let mut w = Writer::new(out);
    f(&mut w);
    w.finish()
}

/// The reason phrase for common statuses (any phrase is legal; these are the usual ones).
pub(crate) fn reason_phrase(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        301 => "Moved Permanently",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6455_section_1_3_accept_vector() {
        assert_eq!(
            &accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn key_validation() {
        assert!(key_is_valid(b"dGhlIHNhbXBsZSBub25jZQ=="));
        assert!(!key_is_valid(b"dGhlIHNhbXBsZSBub25jZQ")); // unpadded
        assert!(!key_is_valid(b"AAAAAAAAAAAAAAAAAAAAAAAAAAAA")); // 21 bytes
        assert!(!key_is_valid(b""));
        let k = encode_key(&[7; 16]);
        assert!(key_is_valid(&k));
    }

    #[test]
    fn list_iteration_across_headers() {
        let hs = [
            Header {
                name: "Connection",
                value: b"keep-alive, Upgrade",
            },
            Header {
                name: "X",
                value: b"y",
            },
            Header {
                name: "connection",
                value: b" ,foo ,",
            },
        ];
        let items: std::vec::Vec<&[u8]> = ListIter::new(&hs, "Connection").collect();
        assert_eq!(items, [&b"keep-alive"[..], b"Upgrade", b"foo"]);
        assert!(has_token(&hs, "connection", "upgrade"));
        assert!(!has_token(&hs, "connection", "close"));
    }

    #[test]
    fn writer_counts_needed() {
        let mut small = [0u8; 4];
        let mut w = Writer::new(&mut small);
        w.put(b"hello");
        w.put_dec(1234567);
        assert_eq!(w.finish(), Err(Error::BufferTooSmall { needed: 12 }));
        let mut big = [0u8; 32];
        let mut w = Writer::new(&mut big);
        w.put_dec(0);
        w.put_dec(u64::MAX);
        let n = w.finish().unwrap();
        assert_eq!(&big[..n], b"018446744073709551615");
    }
}
