//! Decoding of a `Transfer-Encoding: chunked` refusal body (RFC 9112 section 7.1), which the
//! core delivers undecoded (it frames bodies by Content-Length or end-of-file). Only used for
//! the body of a non-101 response on the client side.

/// Where the decoder is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// In a chunk-size line: the size so far, whether a digit was seen, whether we are in a
    /// chunk extension (after `;`).
    Size { value: u64, digits: bool, ext: bool },
    /// `n` data bytes of the current chunk remain.
    Data(u64),
    /// After a chunk's data: expecting CRLF (`seen` bytes of it so far).
    DataEnd { seen: u8 },
    /// In the trailer section; `empty` when the current line has no characters yet.
    Trailer { empty: bool },
    /// The last chunk and the trailers have been read.
    Done,
    /// The encoding was invalid.
    Invalid,
}

/// An incremental chunked-body decoder.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Chunked {
    state: State,
}

impl Chunked {
    pub(crate) fn new() -> Chunked {
        Chunked {
            state: State::Size {
                value: 0,
                digits: false,
                ext: false,
            },
        }
    }

    /// Whether the body is complete (or invalid: nothing more will be decoded).
    pub(crate) fn finished(&self) -> bool {
        matches!(self.state, State::Done | State::Invalid)
    }

    /// Decodes `input`, appending chunk data to `out`.
    pub(crate) fn feed(&mut self, mut input: &[u8], out: &mut Vec<u8>) {
        while let Some((&b, rest)) = input.split_first() {
            match self.state {
                State::Data(n) => {
                    let take = usize::try_from(n).unwrap_or(usize::MAX).min(input.len());
                    out.extend_from_slice(&input[..take]);
                    input = &input[take..];
                    let left = n - take as u64;
                    self.state = if left == 0 {
                        State::DataEnd { seen: 0 }
                    } else {
                        State::Data(left)
                    };
                    continue;
                }
                State::Size { value, digits, ext } => {
                    self.state = match b {
                        b'\n' if digits => {
                            if value == 0 {
                                State::Trailer { empty: true }
                            } else {
                                State::Data(value)
                            }
                        }
                        b'\r' => State::Size { value, digits, ext },
                        _ if ext => State::Size { value, digits, ext },
                        b';' | b' ' | b'\t' if digits => State::Size {
                            value,
                            digits,
                            ext: true,
                        },
                        _ => match (b as char).to_digit(16) {
                            Some(d) if value >> 60 == 0 => State::Size {
                                value: value << 4 | u64::from(d),
                                digits: true,
                                ext,
                            },
                            _ => State::Invalid,
                        },
                    };
                }
                State::DataEnd { seen } => {
                    self.state = match (seen, b) {
                        (0, b'\r') => State::DataEnd { seen: 1 },
                        (_, b'\n') => State::Size {
                            value: 0,
                            digits: false,
                            ext: false,
                        },
                        _ => State::Invalid,
                    };
                }
                State::Trailer { empty } => {
                    self.state = match b {
                        b'\n' if empty => State::Done,
                        b'\n' => State::Trailer { empty: true },
                        b'\r' => State::Trailer { empty },
                        _ => State::Trailer { empty: false },
                    };
                }
                State::Done | State::Invalid => return,
            }
            input = rest;
        }
    }
}
