//! Incremental UTF-8 validation that fails fast.
//!
//! Text arrives in chunks that may split a code point anywhere. [`Utf8Validator`] carries the
//! state of an unfinished sequence (at most three bytes' worth) from one chunk to the next and
//! reports an error in the chunk holding the first byte that cannot continue a valid sequence,
//! not at the end of the message. Bulk validation is delegated to `simdutf8` (which falls back
//! to `core::str::from_utf8` where it has no SIMD path).

/// Streaming UTF-8 validator. One byte of state; `Copy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Utf8Validator {
    /// Bits 0–1: continuation bytes still needed by the sequence in progress (0 = between
    /// code points). Bits 2–4: which range ([`RANGES`]) the next continuation byte must be in.
    state: u8,
}

/// Inclusive ranges allowed for the byte after a lead byte (RFC 3629 §4): the general one,
/// then the four lead bytes whose second byte is narrower (E0, ED, F0, F4).
const RANGES: [(u8, u8); 5] = [
    (0x80, 0xBF),
    (0xA0, 0xBF),
    (0x80, 0x9F),
    (0x90, 0xBF),
    (0x80, 0x8F),
];

impl Default for Utf8Validator {
    fn default() -> Self {
        Utf8Validator::new()
    }
}

/// Where validation failed: the index (within the chunk just fed) of the first byte of the
/// sequence that cannot be completed. The offending byte is at or after this index, in the
/// same chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Utf8Error {
    /// Bytes of the chunk before the invalid sequence.
    pub valid_up_to: usize,
}

impl Utf8Validator {
    /// A validator at the start of a text.
    pub const fn new() -> Utf8Validator {
        Utf8Validator { state: 0 }
    }

    /// Continuation bytes still needed.
    const fn need(&self) -> u8 {
        self.state & 0b11
    }

    /// Whether the bytes fed so far end on a code-point boundary (a message may end here).
    pub const fn is_complete(&self) -> bool {
        self.need() == 0
    }

    /// Forgets any sequence in progress.
    pub fn reset(&mut self) {
        *self = Utf8Validator::new();
    }

    /// Starts a sequence at lead byte `b`; `false` if `b` cannot start one.
    fn lead(&mut self, b: u8) -> bool {
        let (need, range) = match b {
            0x00..=0x7F => (0, 0),
            0xC2..=0xDF => (1, 0),
            0xE0 => (2, 1),
            0xE1..=0xEC | 0xEE..=0xEF => (2, 0),
            0xED => (2, 2),
            0xF0 => (3, 3),
            0xF1..=0xF3 => (3, 0),
            0xF4 => (3, 4),
            _ => return false,
        };
        self.state = need | range << 2;
        true
    }

    /// Feeds one byte; `false` if it cannot continue the text.
    fn step(&mut self, b: u8) -> bool {
        let need = self.need();
        if need == 0 {
            return self.lead(b);
        }
        let (lo, hi) = RANGES
            .get(usize::from(self.state >> 2))
            .copied()
            .unwrap_or((0x80, 0xBF));
        if b < lo || b > hi {
            return false;
        }
        self.state = need - 1;
        true
    }

    /// Validates the next chunk of text.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<(), Utf8Error> {
        let mut i = 0usize;
        while self.need() > 0 {
            let Some(&b) = bytes.get(i) else {
                return Ok(());
            };
            if !self.step(b) {
                return Err(Utf8Error { valid_up_to: 0 });
            }
            i += 1;
        }
        let rest = bytes.get(i..).unwrap_or_default();
        // Fast path: validate up to the last code-point boundary with `simdutf8::basic` (its
        // fastest entry point) and carry the incomplete code point at the end (at most three
        // bytes) in the state machine. Equivalent to the slow path below for valid text; any
        // failure reruns the slow path, which locates the error.
        let cut = complete_prefix(rest);
        if simdutf8::basic::from_utf8(rest.get(..cut).unwrap_or_default()).is_ok() {
            let mut v = *self;
            if rest
                .get(cut..)
                .unwrap_or_default()
                .iter()
                .all(|&b| v.step(b))
            {
                *self = v;
                return Ok(());
            }
        }
        match simdutf8::compat::from_utf8(rest) {
            Ok(_) => Ok(()),
            Err(e) => {
                let at = e.valid_up_to();
                if e.error_len().is_some() {
                    return Err(Utf8Error {
                        valid_up_to: i.saturating_add(at),
                    });
                }
                // The chunk ends inside a sequence that is valid so far: remember it.
                for &b in rest.get(at..).unwrap_or_default() {
                    if !self.step(b) {
                        return Err(Utf8Error {
                            valid_up_to: i.saturating_add(at),
                        });
                    }
                }
                Ok(())
            }
        }
    }
}

/// The length of the longest prefix of `bytes` that does not end inside a code point whose
/// lead byte is among the last three bytes: `bytes.len()` when the text ends on a boundary.
///
/// For a chunk of a text message (valid UTF-8 so far, as the connection guarantees), this is
/// where to cut it to decode the chunk as a string now, carrying the rest (at most three bytes)
/// over to the next chunk.
///
/// ```
/// use wsmachine::utf8::complete_prefix;
///
/// let euro = "a€".as_bytes(); // 61 e2 82 ac
/// assert_eq!(complete_prefix(&euro[..3]), 1); // "a" + two bytes of "€"
/// assert_eq!(complete_prefix(euro), 4);
/// ```
pub fn complete_prefix(bytes: &[u8]) -> usize {
    let n = bytes.len();
    for back in 1..=3usize {
        let Some(&b) = n.checked_sub(back).and_then(|i| bytes.get(i)) else {
            break;
        };
        if b & 0xC0 != 0x80 {
            // ASCII or a lead byte: the sequence it starts has `need` bytes.
            let need = match b {
                0xF0..=0xFF => 4,
                0xE0..=0xEF => 3,
                0xC0..=0xDF => 2,
                _ => 1,
            };
            return if need > back { n - back } else { n };
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::format;

    fn whole(bytes: &[u8]) -> bool {
        let mut v = Utf8Validator::new();
        v.feed(bytes).is_ok() && v.is_complete()
    }

    #[test]
    fn agrees_with_core_on_samples() {
        let samples: &[&[u8]] = &[
            b"",
            b"hello",
            "κόσμε".as_bytes(),
            b"\xed\xa0\x80",
            b"\xf4\x90\x80\x80",
            b"\xf0\x90\x80\x80",
            b"\xc0\xaf",
            b"\xe0\x80\xaf",
            b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited",
            b"\xff",
            b"\xe2\x82",
        ];
        for s in samples {
            assert_eq!(whole(s), core::str::from_utf8(s).is_ok(), "{s:?}");
        }
    }

    /// The reference: the byte-at-a-time state machine alone. Per chunk: `Ok`, or the error
    /// with `valid_up_to` at the start of the failing sequence (0 if it began in an earlier
    /// chunk).
    fn reference(chunks: &[&[u8]]) -> std::vec::Vec<Result<(), Utf8Error>> {
        let mut v = Utf8Validator::new();
        let mut out = std::vec::Vec::new();
        for chunk in chunks {
            let mut res = Ok(());
            let mut seq_start = 0usize;
            for (i, &b) in chunk.iter().enumerate() {
                if v.need() == 0 {
                    seq_start = i;
                }
                if !v.step(b) {
                    res = Err(Utf8Error {
                        valid_up_to: seq_start,
                    });
                    break;
                }
            }
            out.push(res);
            if res.is_err() {
                break;
            }
        }
        out
    }

    proptest::proptest! {
        /// The fast path (simdutf8 up to the last boundary + carry) reports exactly what the
        /// state machine alone reports, for every chunking of valid and invalid text.
        #[test]
        #[cfg_attr(miri, ignore)] // regex strategies are built slowly under Miri
        fn feed_matches_reference(
            parts in proptest::collection::vec(
                proptest::prop_oneof!["[a-z ]{0,80}", "[a-zé€😀κ日 ]{0,40}"],
                0..12,
            ),
            raw in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..6),
            cuts in proptest::collection::vec(0usize..400, 0..8),
        ) {
            let mut bytes: std::vec::Vec<u8> = parts.concat().into_bytes();
            let at = cuts.first().copied().unwrap_or(0) % (bytes.len() + 1);
            for (k, b) in raw.iter().enumerate() {
                bytes.insert((at + k).min(bytes.len()), *b);
            }
            let mut points: std::vec::Vec<usize> =
                cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
            points.sort_unstable();
            let mut chunks = std::vec::Vec::new();
            let mut prev = 0;
            for p in points.into_iter().chain([bytes.len()]) {
                chunks.push(&bytes[prev..p]);
                prev = p;
            }
            let want = reference(&chunks);
            let mut v = Utf8Validator::new();
            let mut got = std::vec::Vec::new();
            for c in &chunks {
                let r = v.feed(c);
                got.push(r);
                if r.is_err() {
                    break;
                }
            }
            proptest::prop_assert_eq!(got, want);
            if core::str::from_utf8(&bytes).is_ok() {
                proptest::prop_assert!(v.is_complete());
            }
        }
    }

    #[test]
    fn fails_fast_across_chunks() {
        // F4 at the end of one chunk, then 0x90 (too large for F4) starts the next.
        let mut v = Utf8Validator::new();
        assert!(v.feed(b"ab\xf4").is_ok());
        assert!(!v.is_complete());
        assert_eq!(v.feed(b"\x90\x80\x80"), Err(Utf8Error { valid_up_to: 0 }));
        // A surrogate lead is rejected at its second byte, split or not.
        let mut v = Utf8Validator::new();
        assert!(v.feed(b"\xed").is_ok());
        assert!(v.feed(b"\xa0").is_err());
    }
}
