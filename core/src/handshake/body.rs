//! How the body of a refusal (a non-101 response) is framed, decided from its head (RFC 9112
//! §6.3), and the reading of it piece by piece, in place.

use super::chunked::Chunked;
use super::client::Response;
use super::ListIter;

/// How a refusal's body ends, and how far it has got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BodyFraming {
    /// `Content-Length`: this many bytes remain.
    Length(u64),
    /// `Transfer-Encoding: chunked`, decoded as it arrives.
    Chunked(Chunked),
    /// Neither (or a transfer coding other than chunked last): the body runs until the server
    /// closes the connection.
    UntilEof,
}

/// What one [`BodyFraming::next`] call found. `start..end` (within `..consumed`) is body data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Piece {
    /// Input bytes used (data, and for a chunked body its framing).
    pub(crate) consumed: usize,
    /// Start of the data in the input.
    pub(crate) start: usize,
    /// End of the data in the input.
    pub(crate) end: usize,
    /// The body has ended (for a chunked body: complete, or cut short by an invalid encoding).
    pub(crate) finished: bool,
}

impl BodyFraming {
    /// The framing of `response`'s body (RFC 9112 §6.3, for the response to a GET): none for
    /// 1xx, 204 and 304; chunked when `Transfer-Encoding` ends with `chunked` (it wins over
    /// `Content-Length`); until end of file for any other transfer coding; else
    /// `Content-Length` if valid; else until end of file.
    pub(crate) fn of(response: &Response<'_>) -> BodyFraming {
        let status = response.status();
        if status < 200 || status == 204 || status == 304 {
            return BodyFraming::Length(0);
        }
        if let Some(last) = ListIter::new(response.headers(), "transfer-encoding").last() {
            return if last.eq_ignore_ascii_case(b"chunked") {
                BodyFraming::Chunked(Chunked::new())
            } else {
                BodyFraming::UntilEof
            };
        }
        match response.content_length() {
            Some(n) => BodyFraming::Length(n),
            None => BodyFraming::UntilEof,
        }
    }

    /// Takes the next contiguous run of body data from the start of `input` (for a chunked
    /// body, see [`Chunked::decode`]: the framing around it is consumed too, and a following
    /// chunk's data is left for the next call).
    pub(crate) fn next(&mut self, input: &[u8]) -> Piece {
        match self {
            BodyFraming::Length(remaining) => {
                let take = (*remaining).min(input.len() as u64);
                *remaining -= take;
                // `take` <= `input.len()`: no truncation.
                let take = take as usize;
                Piece {
                    consumed: take,
                    start: 0,
                    end: take,
                    finished: *remaining == 0,
                }
            }
            BodyFraming::Chunked(dec) => {
                let s = dec.decode(input);
                Piece {
                    consumed: s.consumed,
                    start: s.start,
                    end: s.end,
                    finished: dec.is_over(),
                }
            }
            BodyFraming::UntilEof => Piece {
                consumed: input.len(),
                start: 0,
                end: input.len(),
                finished: false,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::client::{parse_response, ParsedResponse};
    use crate::handshake::EMPTY_HEADER;

    fn framing(head: &[u8]) -> BodyFraming {
        let mut headers = [EMPTY_HEADER; 8];
        match parse_response(head, &mut headers, 4096) {
            Ok(ParsedResponse::Complete { response, .. }) => BodyFraming::of(&response),
            r => panic!("{r:?}"),
        }
    }

    #[test]
    fn framing_from_the_head() {
        let chunked = BodyFraming::Chunked(Chunked::new());
        for (head, want) in [
            (
                &b"HTTP/1.1 403 Forbidden\r\nContent-Length: 12\r\n\r\n"[..],
                BodyFraming::Length(12),
            ),
            (b"HTTP/1.1 403 Forbidden\r\n\r\n", BodyFraming::UntilEof),
            (
                b"HTTP/1.1 403 Forbidden\r\nContent-Length: x\r\n\r\n",
                BodyFraming::UntilEof,
            ),
            (
                b"HTTP/1.1 503 No\r\nTransfer-Encoding: chunked\r\n\r\n",
                chunked,
            ),
            (
                b"HTTP/1.1 503 No\r\ntransfer-encoding:  CHUNKED \r\n\r\n",
                chunked,
            ),
            // Transfer-Encoding wins over Content-Length.
            (
                b"HTTP/1.1 503 No\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
                chunked,
            ),
            (
                b"HTTP/1.1 503 No\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
                chunked,
            ),
            (
                b"HTTP/1.1 503 No\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                chunked,
            ),
            // Chunked not last: the body runs until the connection closes.
            (
                b"HTTP/1.1 503 No\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
                BodyFraming::UntilEof,
            ),
            (
                b"HTTP/1.1 503 No\r\nTransfer-Encoding: gzip\r\nContent-Length: 5\r\n\r\n",
                BodyFraming::UntilEof,
            ),
            // No body, whatever the headers say.
            (
                b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
                BodyFraming::Length(0),
            ),
            (
                b"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n",
                BodyFraming::Length(0),
            ),
            (b"HTTP/1.1 100 Continue\r\n\r\n", BodyFraming::Length(0)),
        ] {
            assert_eq!(
                framing(head),
                want,
                "{}",
                std::string::String::from_utf8_lossy(head)
            );
        }
    }

    #[test]
    fn length_and_until_eof_take_the_input_as_it_is() {
        let mut f = BodyFraming::Length(5);
        assert_eq!(
            f.next(b"abc"),
            Piece {
                consumed: 3,
                start: 0,
                end: 3,
                finished: false
            }
        );
        assert_eq!(
            f.next(b"defgh"),
            Piece {
                consumed: 2,
                start: 0,
                end: 2,
                finished: true
            }
        );
        let mut f = BodyFraming::Length(0);
        assert_eq!(
            f.next(b"x"),
            Piece {
                consumed: 0,
                start: 0,
                end: 0,
                finished: true
            }
        );
        let mut f = BodyFraming::UntilEof;
        assert_eq!(
            f.next(b"xyz"),
            Piece {
                consumed: 3,
                start: 0,
                end: 3,
                finished: false
            }
        );
    }

    #[test]
    fn chunked_pieces() {
        let mut f = BodyFraming::Chunked(Chunked::new());
        let input = b"2\r\nab\r\n1\r\nc\r\n0\r\n\r\nafter";
        let p = f.next(input);
        assert_eq!((&input[p.start..p.end], p.finished), (&b"ab"[..], false));
        let input = &input[p.consumed..];
        let p = f.next(input);
        assert_eq!((&input[p.start..p.end], p.finished), (&b"c"[..], true));
        assert_eq!(&input[p.consumed..], b"after");
    }
}
