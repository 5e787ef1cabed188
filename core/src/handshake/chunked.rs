//! An incremental, in-place decoder of `Transfer-Encoding: chunked` bodies (RFC 9112 §7.1),
//! for the body of a refusal (a non-101 response) on the client side.
//!
//! ```text
//! chunked-body = *chunk last-chunk trailer-section CRLF
//! chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
//! last-chunk   = 1*("0") [ chunk-ext ] CRLF
//! ```
//!
//! Nothing is copied or stored: [`Chunked::decode`] says how many input bytes it used and
//! which range of the input is body data, so the caller hands out a borrow of its own buffer.
//! The state is a few bytes whatever the body (chunk sizes are `u64`; a larger one is invalid).
//!
//! Leniency, as in common HTTP clients: a bare LF ends a line as CRLF does (RFC 9112 §2.2);
//! chunk extensions (anything after the size that starts with `;`, SP or HTAB) and trailer
//! fields are skipped unread. A CR must be followed by LF.

/// Where the decoder is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// In a chunk-size line: the size so far; `digits`: a hex digit was seen; `ext`: in the
    /// chunk extensions; `cr`: a CR was seen (LF must follow).
    Size {
        size: u64,
        digits: bool,
        ext: bool,
        cr: bool,
    },
    /// This many data bytes of the current chunk remain (never 0).
    Data(u64),
    /// After a chunk's data: its CRLF (`cr`: the CR was seen).
    DataEnd { cr: bool },
    /// In the trailer section, after the last chunk; `empty`: the current line has nothing
    /// yet (an empty line ends the body); `cr`: a CR was seen.
    Trailer { empty: bool, cr: bool },
    /// The body is complete (last chunk, trailers and the final CRLF read).
    Done,
    /// The encoding was invalid; the body ends there.
    Invalid,
}

/// What one [`Chunked::decode`] call did. `start..end` (within `..consumed`) is body data;
/// empty when the input held only framing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Step {
    /// Input bytes used (framing and data); the caller drops them.
    pub(crate) consumed: usize,
    /// Start of the data in the input.
    pub(crate) start: usize,
    /// End of the data in the input.
    pub(crate) end: usize,
}

/// An incremental chunked-body decoder (16 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Chunked {
    state: State,
}

/// The start of a chunk-size line.
const SIZE_LINE: State = State::Size {
    size: 0,
    digits: false,
    ext: false,
    cr: false,
};

impl Chunked {
    /// A decoder at the start of a body.
    pub(crate) const fn new() -> Chunked {
        Chunked { state: SIZE_LINE }
    }

    /// The body has ended: complete, or cut short by an invalid encoding. Nothing more is
    /// decoded.
    pub(crate) const fn is_over(&self) -> bool {
        matches!(self.state, State::Done | State::Invalid)
    }

    /// The body ended on an invalid encoding.
    #[cfg(test)]
    pub(crate) const fn is_invalid(&self) -> bool {
        matches!(self.state, State::Invalid)
    }

    /// Decodes from the start of `input` up to one contiguous run of body data, and on past
    /// the framing that follows it until the next chunk's data (which another call returns),
    /// the end of the body or the end of the input.
    ///
    /// * The data is `input[step.start..step.end]`; when empty, every byte of `input` was
    ///   framing and is consumed (unless the body ended).
    /// * Once the body is complete ([`is_over`](Self::is_over)), `consumed` stops right after
    ///   its final line: later bytes are not part of it.
    /// * On an invalid byte the body ends ([`is_invalid`](Self::is_invalid)): the data before
    ///   that byte in this call is still returned, and the whole input is consumed.
    pub(crate) fn decode(&mut self, input: &[u8]) -> Step {
        let mut pos = 0usize;
        let mut data: Option<(usize, usize)> = None;
        while let Some(rest) = input.get(pos..) {
            let Some(&b) = rest.first() else { break };
            match self.state {
                State::Done => break,
                State::Invalid => {
                    pos = input.len();
                    break;
                }
                State::Data(n) => {
                    if data.is_some() {
                        // The next chunk's data: not contiguous with this call's.
                        break;
                    }
                    let take = n.min(rest.len() as u64);
                    // `take` <= `rest.len()`: no truncation, no overflow.
                    let end = pos + take as usize;
                    data = Some((pos, end));
                    pos = end;
                    self.state = match n - take {
                        0 => State::DataEnd { cr: false },
                        left => State::Data(left),
                    };
                }
                state => {
                    self.state = Chunked::framing(state, b);
                    pos += 1;
                }
            }
        }
        let (start, end) = data.unwrap_or((pos, pos));
        Step {
            consumed: pos,
            start,
            end,
        }
    }

    /// The state after framing byte `b` in `state` (not `Data`, `Done` or `Invalid`).
    fn framing(state: State, b: u8) -> State {
        match state {
            State::Size { cr: true, size, .. } => match b {
                b'\n' => Chunked::size_line_end(size),
                _ => State::Invalid,
            },
            State::Size {
                size,
                digits,
                ext,
                cr: false,
            } => match b {
                b'\r' if digits => State::Size {
                    size,
                    digits,
                    ext,
                    cr: true,
                },
                b'\n' if digits => Chunked::size_line_end(size),
                // Extensions are skipped up to the end of the line (a CR or LF).
                _ if ext => state,
                b';' | b' ' | b'\t' if digits => State::Size {
                    size,
                    digits,
                    ext: true,
                    cr: false,
                },
                _ => match hex_value(b) {
                    // One more digit must not shift bits out of the `u64`.
                    Some(d) if size >> 60 == 0 => State::Size {
                        size: size << 4 | u64::from(d),
                        digits: true,
                        ext,
                        cr: false,
                    },
                    _ => State::Invalid,
                },
            },
            State::DataEnd { cr } => match (cr, b) {
                (false, b'\r') => State::DataEnd { cr: true },
                (_, b'\n') => SIZE_LINE,
                _ => State::Invalid,
            },
            State::Trailer { empty, cr } => match (cr, b) {
                (_, b'\n') if empty => State::Done,
                (_, b'\n') => State::Trailer {
                    empty: true,
                    cr: false,
                },
                (false, b'\r') => State::Trailer { empty, cr: true },
                (true, _) => State::Invalid,
                (false, _) => State::Trailer {
                    empty: false,
                    cr: false,
                },
            },
            State::Data(_) | State::Done | State::Invalid => state,
        }
    }

    /// The state after a chunk-size line announcing `size` bytes.
    const fn size_line_end(size: u64) -> State {
        if size == 0 {
            State::Trailer {
                empty: true,
                cr: false,
            }
        } else {
            State::Data(size)
        }
    }
}

/// The value of a hexadecimal digit.
const fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    /// Feeds `input` in the pieces `cuts` splits it into, as a caller does: unconsumed bytes
    /// are kept and fed again with the next piece. Returns the data, the data pieces, whether
    /// the body ended (and was invalid), and the bytes left unconsumed after the body.
    fn feed(input: &[u8], cuts: &[usize]) -> (Vec<u8>, usize, Option<bool>, usize) {
        let mut dec = Chunked::new();
        let mut out = Vec::new();
        let mut pieces = 0;
        let mut pending: Vec<u8> = Vec::new();
        let mut bounds: Vec<usize> = cuts.to_vec();
        bounds.push(input.len());
        let mut prev = 0;
        for &cut in &bounds {
            pending.extend_from_slice(&input[prev..cut]);
            prev = cut;
            loop {
                if dec.is_over() {
                    return (out, pieces, Some(dec.is_invalid()), pending.len());
                }
                let s = dec.decode(&pending);
                assert!(s.start <= s.end && s.end <= s.consumed && s.consumed <= pending.len());
                out.extend_from_slice(&pending[s.start..s.end]);
                if s.end > s.start {
                    pieces += 1;
                }
                pending.drain(..s.consumed);
                if s.start == s.end && !dec.is_over() {
                    // Only framing: all of it was consumed.
                    assert!(pending.is_empty());
                    break;
                }
            }
        }
        let over = dec.is_over().then(|| dec.is_invalid());
        (out, pieces, over, pending.len())
    }

    const BODY: &[u8] =
        b"4\r\nWiki\r\n5;name=value;x=\"q;\"\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n\
0\r\nExpires: never\r\nX-A: b\r\n\r\n";
    const DECODED: &[u8] = b"Wikipedia in\r\n\r\nchunks.";

    #[test]
    fn whole_body_in_one_buffer() {
        let (out, pieces, over, left) = feed(BODY, &[]);
        assert_eq!(out, DECODED);
        assert_eq!(pieces, 3);
        assert_eq!(over, Some(false));
        assert_eq!(left, 0);
    }

    #[test]
    fn every_split_point_and_byte_by_byte() {
        for a in 0..=BODY.len() {
            assert_eq!(feed(BODY, &[a]).0, DECODED, "split at {a}");
            if cfg!(miri) {
                // Every pair of split points: minutes under Miri (the single splits above and
                // the byte-by-byte feed below cover the same code).
                continue;
            }
            for b in a..=BODY.len() {
                let (out, _, over, left) = feed(BODY, &[a, b]);
                assert_eq!((out.as_slice(), over, left), (DECODED, Some(false), 0));
            }
        }
        let cuts: Vec<usize> = (1..BODY.len()).collect();
        let (out, pieces, over, _) = feed(BODY, &cuts);
        assert_eq!(out, DECODED);
        assert_eq!(pieces, DECODED.len());
        assert_eq!(over, Some(false));
    }

    #[test]
    fn one_call_returns_one_contiguous_piece() {
        let mut dec = Chunked::new();
        let s = dec.decode(BODY);
        assert_eq!(&BODY[s.start..s.end], b"Wiki");
        // The framing after the data, up to the next chunk's data, is consumed too.
        assert_eq!(&BODY[s.consumed..s.consumed + 5], b"pedia");
        let rest = &BODY[s.consumed..];
        let s = dec.decode(rest);
        assert_eq!(&rest[s.start..s.end], b"pedia");
        let rest = &rest[s.consumed..];
        let s = dec.decode(rest);
        assert_eq!(&rest[s.start..s.end], b" in\r\n\r\nchunks.");
        // The last chunk and the trailers came with it: the body is over.
        assert!(dec.is_over() && !dec.is_invalid());
        assert_eq!(s.consumed, rest.len());
    }

    #[test]
    fn bytes_after_the_body_are_not_consumed() {
        let mut dec = Chunked::new();
        let s = dec.decode(b"3\r\nabc\r\n0\r\n\r\nHTTP/1.1 200 OK");
        assert_eq!((s.start, s.end, s.consumed), (3, 6, 13));
        assert!(dec.is_over());
        assert_eq!(
            dec.decode(b"more"),
            Step {
                consumed: 0,
                start: 0,
                end: 0
            }
        );
    }

    #[test]
    fn zero_chunk_ends_the_body() {
        for body in [
            &b"0\r\n\r\n"[..],
            b"000\n\n",
            b"0;ext=1\r\n\r\n",
            b"0 ; x\r\nA: b\r\n\r\n",
        ] {
            let (out, _, over, left) = feed(body, &[]);
            assert_eq!((out.len(), over, left), (0, Some(false), 0), "{body:?}");
        }
        // Without the final empty line the body is not over yet.
        let (_, _, over, _) = feed(b"0\r\nTrailer: x\r\n", &[]);
        assert_eq!(over, None);
        let (_, _, over, _) = feed(b"0\r\n", &[]);
        assert_eq!(over, None);
    }

    #[test]
    fn extensions_are_skipped() {
        let (out, _, over, _) = feed(b"3;a=b;c\r\nabc\r\n2 \t; q=\"x y\"\r\nde\r\n0\r\n\r\n", &[]);
        assert_eq!(out, b"abcde");
        assert_eq!(over, Some(false));
    }

    #[test]
    fn trailers_are_skipped() {
        let body = b"2\r\nhi\r\n0\r\nExpires: never\r\nX-Check: 1\r\n\r\n";
        for a in 0..=body.len() {
            let (out, _, over, left) = feed(body, &[a]);
            assert_eq!((out.as_slice(), over, left), (&b"hi"[..], Some(false), 0));
        }
    }

    #[test]
    fn bare_lf_ends_lines() {
        let (out, _, over, _) = feed(b"3\nabc\n1;x\nd\n0\nT: v\n\n", &[]);
        assert_eq!(out, b"abcd");
        assert_eq!(over, Some(false));
    }

    #[test]
    fn upper_and_lower_case_hex_and_leading_zeros() {
        let data = [b'x'; 0x1af];
        let mut body = b"001Af\r\n".to_vec();
        body.extend_from_slice(&data);
        body.extend_from_slice(b"\r\n0\r\n\r\n");
        let (out, pieces, over, _) = feed(&body, &[]);
        assert_eq!((out.len(), pieces, over), (0x1af, 1, Some(false)));
    }

    #[test]
    fn invalid_encodings_end_the_body() {
        for body in [
            &b"g\r\n"[..],     // not hex
            b"\r\n",           // no size
            b";x\r\n",         // extension without size
            b"-1\r\n",         // sign
            b"0x10\r\n",       // prefix
            b"3\r\nabcX\r\n",  // data longer than the size
            b"3\r\nabc\rX",    // CR without LF after data
            b"3\rX",           // CR without LF after the size
            b"0\r\nA: b\rX",   // CR without LF in a trailer
            b"1\r\na\r\n\r\n", // empty size line
        ] {
            let mut dec = Chunked::new();
            let s = dec.decode(body);
            assert!(dec.is_invalid(), "{body:?}");
            assert_eq!(
                s.consumed,
                body.len(),
                "{body:?}: an invalid body consumes its input"
            );
        }
        // The data before the invalid byte is still delivered.
        let mut dec = Chunked::new();
        let input = b"5\r\nhello\r\nzz\r\n";
        let s = dec.decode(input);
        assert_eq!(&input[s.start..s.end], b"hello");
        assert!(dec.is_invalid());
        assert_eq!(s.consumed, input.len());
    }

    #[test]
    fn sizes_up_to_u64_max_and_overflow() {
        let mut dec = Chunked::new();
        let s = dec.decode(b"ffffffffffffffff\r\nabc");
        assert_eq!((s.start, s.end), (18, 21));
        assert_eq!(dec.state, State::Data(u64::MAX - 3));
        let mut dec = Chunked::new();
        let s = dec.decode(b"0000000000000000000000001\r\n");
        assert_eq!(dec.state, State::Data(1));
        assert_eq!(s.consumed, 27);
        for body in [&b"10000000000000000\r\n"[..], b"fffffffffffffffff"] {
            let mut dec = Chunked::new();
            let _ = dec.decode(body);
            assert!(dec.is_invalid(), "{body:?}");
        }
    }

    #[test]
    fn empty_input_does_nothing() {
        let mut dec = Chunked::new();
        assert_eq!(
            dec.decode(b""),
            Step {
                consumed: 0,
                start: 0,
                end: 0
            }
        );
        assert!(!dec.is_over());
        assert_eq!(core::mem::size_of::<Chunked>(), 16);
    }
}
