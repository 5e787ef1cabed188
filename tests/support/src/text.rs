//! Generators of valid UTF-8 text of an exact length in bytes.

use crate::rng::SplitMix;

/// Text of exactly `n` bytes cycling through 1-, 2-, 3- and 4-byte code points (padded with
/// `x` where the next one would not fit): deterministic, and dense in multi-byte sequences,
/// so that any split of it is likely to cut a code point.
pub fn text_of_len(n: usize) -> String {
    let pieces = ["a", "é", "€", "😀", "z", "ж", "語"];
    let mut s = String::with_capacity(n);
    let mut i = 0;
    loop {
        let p = pieces[i % pieces.len()];
        if s.len() + p.len() > n {
            break;
        }
        s.push_str(p);
        i += 1;
    }
    while s.len() < n {
        s.push('x');
    }
    s
}

/// Words of realistic chat-like text: mostly English (ASCII), with accented Latin (2-byte),
/// Greek and Cyrillic (2-byte), CJK and typographic punctuation (3-byte) and emoji (4-byte).
/// About 80 % of the bytes of a generated text are ASCII.
pub const WORDS: &[&str] = &[
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "lazy",
    "dog",
    "message",
    "server",
    "client",
    "hello",
    "world",
    "websocket",
    "frame",
    "latency",
    "throughput",
    "connection",
    "price",
    "update",
    "order",
    "filled",
    "ticker",
    "BTC-USD",
    "12345.67",
    "{\"id\":42,",
    "\"ok\":true}",
    "and",
    "with",
    "from",
    "that",
    "this",
    "have",
    "will",
    "user",
    "room",
    "café",
    "naïve",
    "résumé",
    "Zürich",
    "São Paulo",
    "señor",
    "straße",
    "Ærø",
    "Kraków",
    "καλημέρα",
    "κόσμε",
    "привет",
    "мир",
    "日本語",
    "東京",
    "中文",
    "한국어",
    "“quoted”",
    "…",
    "€42",
    "😀",
    "🚀",
    "👍🏽",
    "ok",
];

/// Realistic chat-like text of exactly `len` bytes: random [`WORDS`] separated by spaces,
/// padded with random ASCII letters when the next word would not fit.
pub fn chat_text(rng: &mut SplitMix, len: usize) -> String {
    let mut out = String::with_capacity(len);
    while out.len() < len {
        let w = WORDS[rng.below(WORDS.len())];
        if out.len() + w.len() < len {
            out.push_str(w);
            out.push(' ');
        } else {
            while out.len() < len {
                out.push(char::from(b'a' + rng.below(26) as u8));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_lengths() {
        let mut rng = SplitMix(1);
        for n in [0, 1, 2, 3, 4, 5, 17, 125, 126, 1000, 8191] {
            assert_eq!(text_of_len(n).len(), n);
            assert_eq!(chat_text(&mut rng, n).len(), n);
        }
        let t = text_of_len(100);
        assert!(t.chars().any(|c| c.len_utf8() == 4));
    }
}
