//! The handshake's SHA-1 and base64, written for size: the opening handshake hashes 60 bytes
//! once per connection, so these favour small code (a few hundred bytes on a Cortex-M0) over
//! throughput, and have no panicking paths. Checked against the FIPS 180 / RFC 3174 vectors
//! and, in the tests, against `sha1_smol` and `base64ct` on random inputs.

/// The standard base64 alphabet (RFC 4648 §4).
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// SHA-1 (FIPS 180-4) of the concatenation of `parts`.
pub(crate) fn sha1(parts: &[&[u8]]) -> [u8; 20] {
    let mut s = Sha1 {
        h: [
            0x6745_2301,
            0xEFCD_AB89,
            0x98BA_DCFE,
            0x1032_5476,
            0xC3D2_E1F0,
        ],
        block: [0; 64],
        used: 0,
    };
    let mut bits = 0u64;
    for part in parts {
        for &b in *part {
            s.push(b);
        }
        bits = bits.wrapping_add((part.len() as u64).wrapping_mul(8));
    }
    s.push(0x80);
    while s.used != 56 {
        s.push(0);
    }
    for b in bits.to_be_bytes() {
        s.push(b);
    }
    let mut out = [0u8; 20];
    for (o, h) in out.chunks_exact_mut(4).zip(s.h) {
        for (d, b) in o.iter_mut().zip(h.to_be_bytes()) {
            *d = b;
        }
    }
    out
}

struct Sha1 {
    h: [u32; 5],
    block: [u8; 64],
    used: usize,
}

impl Sha1 {
    fn push(&mut self, b: u8) {
        if let Some(slot) = self.block.get_mut(self.used) {
            *slot = b;
        }
        self.used += 1;
        if self.used == 64 {
            self.used = 0;
            self.compress();
        }
    }

    fn compress(&mut self) {
        let mut w = [0u32; 16];
        for (w, c) in w.iter_mut().zip(self.block.chunks_exact(4)) {
            *w = u32::from_be_bytes(c.try_into().unwrap_or_default());
        }
        let [mut a, mut b, mut c, mut d, mut e] = self.h;
        for t in 0..80usize {
            // The message schedule, kept as a ring of 16 words.
            let word = |w: &[u32; 16], i: usize| w.get(i & 15).copied().unwrap_or(0);
            if t >= 16 {
                let x = word(&w, t + 13) ^ word(&w, t + 8) ^ word(&w, t + 2) ^ word(&w, t);
                if let Some(slot) = w.get_mut(t & 15) {
                    *slot = x.rotate_left(1);
                }
            }
            let (f, k) = match t / 20 {
                0 => ((b & c) | (!b & d), 0x5A82_7999),
                1 => (b ^ c ^ d, 0x6ED9_EBA1),
                2 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let temp = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(word(&w, t));
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = temp;
        }
        for (h, v) in self.h.iter_mut().zip([a, b, c, d, e]) {
            *h = h.wrapping_add(v);
        }
    }
}

/// Standard base64 with padding of `input` into `out`, which must be exactly
/// `4 * ceil(input.len() / 3)` bytes (the handshake's 16 → 24 and 20 → 28).
pub(crate) fn base64_encode(input: &[u8], out: &mut [u8]) {
    // `v & 63` indexes a 64-entry table: no bounds check, no fallback taken.
    let sym = |v: u32| ALPHABET.get((v & 63) as usize).copied().unwrap_or(b'=');
    let mut whole = input.chunks_exact(3);
    let mut quads = out.chunks_exact_mut(4);
    for (i, o) in (&mut whole).zip(&mut quads) {
        if let (Ok(&[a, b, c]), Ok(o)) = (<&[u8; 3]>::try_from(i), <&mut [u8; 4]>::try_from(o)) {
            let v = (u32::from(a) << 16) | (u32::from(b) << 8) | u32::from(c);
            *o = [sym(v >> 18), sym(v >> 12), sym(v >> 6), sym(v)];
        }
    }
    // The last 1 or 2 bytes: 2 or 3 symbols, then padding.
    let rest = whole.remainder();
    if let (Some(&a), Some(o)) = (rest.first(), quads.next()) {
        let b = rest.get(1).copied();
        let v = (u32::from(a) << 16) | (u32::from(b.unwrap_or(0)) << 8);
        let third = if b.is_some() { sym(v >> 6) } else { b'=' };
        for (d, s) in o.iter_mut().zip([sym(v >> 18), sym(v >> 12), third, b'=']) {
            *d = s;
        }
    }
}

/// Whether `c` is in the base64 alphabet (branch-free, so that checking a key vectorizes).
fn is_base64(c: u8) -> bool {
    let lower = c | 0x20; // folds A-Z onto a-z; no other byte lands in a-z
    lower.wrapping_sub(b'a') < 26 || c.wrapping_sub(b'0') < 10 || c == b'+' || c == b'/'
}

/// Whether `key` is the canonical padded base64 of exactly 16 bytes: 21 symbols, a 22nd
/// whose low four bits are zero (`A`, `Q`, `g` or `w`), then `==`. (The same strings a strict
/// decoder accepts as 16 bytes.)
pub(crate) fn is_base64_of_16_bytes(key: &[u8]) -> bool {
    match key {
        [body @ .., last, b'=', b'='] if body.len() == 21 => {
            // Every symbol is checked (no early exit): 21 bytes, and the loop vectorizes.
            body.iter().fold(true, |ok, &c| ok & is_base64(c))
                && matches!(last, b'A' | b'Q' | b'g' | b'w')
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64ct::{Base64, Encoding};
    use proptest::prelude::*;
    use std::format;

    fn hex(d: &[u8]) -> std::string::String {
        d.iter().map(|b| std::format!("{b:02x}")).collect()
    }

    #[test]
    #[cfg_attr(miri, ignore)] // a million bytes of SHA-1: minutes under Miri
    fn fips_180_vectors() {
        assert_eq!(
            hex(&sha1(&[b"abc"])),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            hex(&sha1(&[b""])),
            "da39a3ee5e6b4b0d3255bfef95601890afd80709"
        );
        assert_eq!(
            hex(&sha1(&[
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
            ])),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1"
        );
        let a = [b'a'; 1000];
        let parts: std::vec::Vec<&[u8]> = (0..1000).map(|_| &a[..]).collect();
        assert_eq!(
            hex(&sha1(&parts)),
            "34aa973cd4c4daa4f61eeb2bdbad27316534016f"
        );
    }

    #[test]
    fn base64_alphabet_check_is_exact() {
        for c in 0..=255u8 {
            let want = c.is_ascii_alphanumeric() || c == b'+' || c == b'/';
            assert_eq!(is_base64(c), want, "byte {c:#04x}");
            assert_eq!(is_base64(c), ALPHABET.contains(&c), "byte {c:#04x}");
        }
    }

    #[test]
    fn base64_vectors() {
        // RFC 4648 §10.
        for (i, o) in [
            (&b""[..], &b""[..]),
            (b"f", b"Zg=="),
            (b"fo", b"Zm8="),
            (b"foo", b"Zm9v"),
            (b"foob", b"Zm9vYg=="),
            (b"fooba", b"Zm9vYmE="),
            (b"foobar", b"Zm9vYmFy"),
        ] {
            let mut out = [0u8; 8];
            base64_encode(i, &mut out[..o.len()]);
            assert_eq!(&out[..o.len()], o);
        }
    }

    proptest! {
        #[test]
        fn sha1_matches_sha1_smol(data in proptest::collection::vec(any::<u8>(), 0..300),
                                  split in any::<usize>()) {
            let at = split % (data.len() + 1);
            let want = sha1_smol::Sha1::from(&data[..]).digest().bytes();
            prop_assert_eq!(sha1(&[&data[..at], &data[at..]]), want);
        }

        #[test]
        fn base64_matches_base64ct(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut want = [0u8; 88];
            let want = Base64::encode(&data, &mut want).unwrap();
            let mut out = [0u8; 88];
            let n = data.len().div_ceil(3) * 4;
            base64_encode(&data, &mut out[..n]);
            prop_assert_eq!(&out[..n], want.as_bytes());
        }

        #[test]
        fn key_check_matches_a_strict_decoder(
            key in proptest::collection::vec(
                prop_oneof![
                    8 => proptest::sample::select(ALPHABET.to_vec()),
                    1 => Just(b'='),
                    1 => any::<u8>(),
                ],
                20..28,
            ),
            tail in 0usize..3,
        ) {
            let mut key = key;
            // Make canonical-looking endings likely.
            if key.len() == 24 && tail > 0 {
                key[22] = b'=';
                key[23] = b'=';
            }
            let mut buf = [0u8; 32];
            let strict = matches!(Base64::decode(&key, &mut buf), Ok(d) if d.len() == 16);
            prop_assert_eq!(is_base64_of_16_bytes(&key), strict);
        }

        #[test]
        fn every_encoded_key_is_valid(key in any::<[u8; 16]>()) {
            let mut out = [0u8; 24];
            base64_encode(&key, &mut out);
            prop_assert!(is_base64_of_16_bytes(&out));
        }
    }
}
