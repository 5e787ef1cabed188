//! Masking keys from caller-supplied entropy.
//!
//! RFC 6455 §5.3 requires each client frame's masking key to be unpredictable to the
//! application that supplies the data: if script code could predict the key, it could choose
//! payload that appears on the wire as any bytes it likes (an HTTP request, say) and poison
//! the caches of intermediaries that do not understand WebSocket. The core has no entropy of
//! its own, so the caller seeds [`MaskRng`] with 16 random bytes (from the OS, a hardware
//! RNG, …) and the generator derives each key as SipHash-2-4 of a counter under that seed —
//! a pseudorandom function, so keys cannot be predicted without the seed. Reseed with
//! [`Connection::reseed`](crate::Connection::reseed) if the seed may have leaked.

/// Counter-mode SipHash-2-4 keyed with 16 caller bytes; each 64-bit output gives two keys
/// (half the hashing per frame). 24 bytes of state.
///
/// The counter is 32 bits. When it wraps (after 2^32 keys) the generator rekeys itself with
/// two outputs of SipHash under the current key at message words no counter value uses, so keys
/// never repeat and stay unpredictable without the seed.
#[derive(Clone, Debug)]
pub struct MaskRng {
    k0: u64,
    k1: u64,
    /// Keys handed out under the current key; each SipHash output makes two.
    counter: u32,
    /// The second key of the last output, valid while `counter` is odd.
    spare: [u8; 4],
}

// On 32-bit targets each round's 64-bit arithmetic is long: keep one copy there.
#[cfg_attr(target_pointer_width = "32", inline(never))]
#[cfg_attr(not(target_pointer_width = "32"), inline)]
fn sipround(v: &mut [u64; 4]) {
    v[0] = v[0].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(13);
    v[1] ^= v[0];
    v[0] = v[0].rotate_left(32);
    v[2] = v[2].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(16);
    v[3] ^= v[2];
    v[0] = v[0].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(21);
    v[3] ^= v[0];
    v[2] = v[2].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(17);
    v[1] ^= v[2];
    v[2] = v[2].rotate_left(32);
}

/// SipHash-2-4 of one 8-byte little-endian message word.
///
/// Not inlined: its 64-bit arithmetic is large on 32-bit microcontrollers, and every frame
/// writer would otherwise carry a copy (one key per frame, so the call costs nothing).
#[inline(never)]
fn siphash_u64(k0: u64, k1: u64, m: u64) -> u64 {
    let mut v = [
        k0 ^ 0x736f_6d65_7073_6575,
        k1 ^ 0x646f_7261_6e64_6f6d,
        k0 ^ 0x6c79_6765_6e65_7261,
        k1 ^ 0x7465_6462_7974_6573,
    ];
    v[3] ^= m;
    sipround(&mut v);
    sipround(&mut v);
    v[0] ^= m;
    // Final block: message length 8 in the top byte, no remaining bytes.
    let b: u64 = 8u64 << 56;
    v[3] ^= b;
    sipround(&mut v);
    sipround(&mut v);
    v[0] ^= b;
    v[2] ^= 0xff;
    for _ in 0..4 {
        sipround(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

impl MaskRng {
    /// A generator keyed with 16 bytes of caller entropy.
    pub const fn new(seed: [u8; 16]) -> MaskRng {
        let [a0, a1, a2, a3, a4, a5, a6, a7, b0, b1, b2, b3, b4, b5, b6, b7] = seed;
        MaskRng {
            k0: u64::from_le_bytes([a0, a1, a2, a3, a4, a5, a6, a7]),
            k1: u64::from_le_bytes([b0, b1, b2, b3, b4, b5, b6, b7]),
            counter: 0,
            spare: [0; 4],
        }
    }

    /// The next masking key.
    pub fn next_key(&mut self) -> [u8; 4] {
        let n = self.counter;
        self.counter = n.wrapping_add(1);
        if n & 1 == 1 {
            if self.counter == 0 {
                self.rekey();
            }
            return self.spare;
        }
        let [a, b, c, d, e, f, g, h] =
            siphash_u64(self.k0, self.k1, u64::from(n >> 1)).to_le_bytes();
        self.spare = [e, f, g, h];
        [a, b, c, d]
    }
}

impl MaskRng {
    /// Derives the next key from the current one (the counter wrapped). Counter values are
    /// below 2^31 as message words, so these two words are never hashed for a mask.
    #[cold]
    fn rekey(&mut self) {
        let (k0, k1) = (self.k0, self.k1);
        self.k0 = siphash_u64(k0, k1, REKEY_WORD);
        self.k1 = siphash_u64(k0, k1, REKEY_WORD | 1);
    }
}

/// Message words for rekeying: the top bit set, outside the counter's range.
const REKEY_WORD: u64 = 1 << 63;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn siphash_reference_vector() {
        // SipHash-2-4 reference (Aumasson & Bernstein, appendix A): key 00..0f, message
        // 00..07 (8 bytes) gives 0x93f5f5799a932462.
        let k0 = u64::from_le_bytes([0, 1, 2, 3, 4, 5, 6, 7]);
        let k1 = u64::from_le_bytes([8, 9, 10, 11, 12, 13, 14, 15]);
        let m = u64::from_le_bytes([0, 1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(siphash_u64(k0, k1, m), 0x93f5_f579_9a93_2462);
    }

    #[test]
    fn each_output_gives_two_keys_in_order() {
        let seed = [0x5a; 16];
        let k = u64::from_le_bytes([0x5a; 8]);
        let mut r = MaskRng::new(seed);
        for block in 0..4u64 {
            let x = siphash_u64(k, k, block).to_le_bytes();
            assert_eq!(
                r.next_key(),
                [x[0], x[1], x[2], x[3]],
                "block {block}, low half"
            );
            assert_eq!(
                r.next_key(),
                [x[4], x[5], x[6], x[7]],
                "block {block}, high half"
            );
        }
    }

    #[test]
    fn wrapping_counter_rekeys_instead_of_repeating() {
        let mut r = MaskRng::new([9; 16]);
        let first = (r.next_key(), r.next_key());
        r.counter = u32::MAX - 1;
        let _ = (r.next_key(), r.next_key()); // the last pair under the seed's key
        assert_eq!(r.counter, 0);
        let k = u64::from_le_bytes([9; 8]);
        assert_eq!(r.k0, siphash_u64(k, k, REKEY_WORD));
        assert_eq!(r.k1, siphash_u64(k, k, REKEY_WORD | 1));
        assert_ne!((r.next_key(), r.next_key()), first);
    }

    #[test]
    fn keys_differ_by_seed_and_counter() {
        let mut a = MaskRng::new([1; 16]);
        let mut b = MaskRng::new([2; 16]);
        let (a1, a2, b1) = (a.next_key(), a.next_key(), b.next_key());
        assert_ne!(a1, a2);
        assert_ne!(a1, b1);
    }
}
