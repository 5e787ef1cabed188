//! The crate's only `unsafe`, fenced here: with the `std` feature on x86_64 (servers), code
//! specialised for CPU extensions that the baseline x86_64 target does not allow, called only
//! after a run-time check (std's CPUID detection, which caches its answer) that the CPU has
//! them.
//!
//! * **AVX2 masking.** Safe array code ([`crate::mask`]'s `xor_words` / `xor_copy_words`)
//!   compiled with AVX2 enabled; about twice as fast as the SSE2 word loop on in-cache
//!   payloads of 16–64 KiB.
//! * **SHA-NI SHA-1** for the opening handshake's accept key (60 bytes: two blocks), with the
//!   SHA extensions' intrinsics; several times faster than the portable SHA-1 in
//!   `handshake::digest`, which stays the fallback and the reference in the tests.
//!
//! Builds without `std` (firmware) do not contain this module: there the crate is
//! `forbid(unsafe_code)`.

// std's detection runs CPUID once and caches the answers itself, so the core keeps no state
// of its own for this.

/// Whether the CPU has AVX2.
#[inline]
pub(crate) fn has_avx2() -> bool {
    std::is_x86_feature_detected!("avx2")
}

/// Whether the CPU has the SHA extensions (and SSSE3/SSE4.1, which the code also uses).
#[inline]
pub(crate) fn has_sha() -> bool {
    std::is_x86_feature_detected!("sha")
        && std::is_x86_feature_detected!("sse4.1")
        && std::is_x86_feature_detected!("ssse3")
}

#[target_feature(enable = "avx2")]
fn xor_avx2(buf: &mut [u8], k: [u8; 4]) {
    crate::mask::xor_words::<16>(buf, k);
}

#[target_feature(enable = "avx2")]
fn xor_copy_avx2(src: &[u8], dst: &mut [u8], k: [u8; 4]) {
    crate::mask::xor_copy_words::<16>(src, dst, k);
}

/// `xor_words` with AVX2. Callers checked [`has_avx2`].
#[inline]
pub(crate) fn xor(buf: &mut [u8], k: [u8; 4]) {
    debug_assert!(has_avx2());
    // SAFETY: `xor_avx2` is safe code whose only requirement is that the CPU supports AVX2,
    // which the caller checked with `has_avx2` (run-time CPUID detection).
    unsafe { xor_avx2(buf, k) }
}

/// `xor_copy_words` with AVX2. Callers checked [`has_avx2`].
#[inline]
pub(crate) fn xor_copy(src: &[u8], dst: &mut [u8], k: [u8; 4]) {
    debug_assert!(has_avx2());
    // SAFETY: as in `xor`.
    unsafe { xor_copy_avx2(src, dst, k) }
}

/// SHA-1 of the concatenation of `parts` with the SHA extensions, if the CPU has them and the
/// message fits two blocks (at most 119 bytes; the accept key hashes 60). `None` otherwise:
/// the caller uses the portable SHA-1.
pub(crate) fn sha1_short(parts: &[&[u8]]) -> Option<[u8; 20]> {
    if !has_sha() {
        return None;
    }
    let mut msg = [0u8; 128];
    let mut n = 0usize;
    for p in parts {
        let end = n.checked_add(p.len()).filter(|&e| e <= 119)?;
        msg.get_mut(n..end)?.copy_from_slice(p);
        n = end;
    }
    // Padding: 0x80, zeros, the length in bits (big-endian) at the end of the last block.
    *msg.get_mut(n)? = 0x80;
    let blocks = if n < 56 { 1 } else { 2 };
    let bits = (n as u64) * 8;
    msg.get_mut(blocks * 64 - 8..blocks * 64)?
        .copy_from_slice(&bits.to_be_bytes());
    let mut h: [u32; 5] = [
        0x6745_2301,
        0xEFCD_AB89,
        0x98BA_DCFE,
        0x1032_5476,
        0xC3D2_E1F0,
    ];
    for block in msg.chunks_exact(64).take(blocks) {
        let block: &[u8; 64] = block.try_into().ok()?;
        // SAFETY: `compress_sha_ni` uses SHA, SSSE3 and SSE4.1 instructions, which `has_sha`
        // confirmed at run time; it reads exactly the 64 bytes of `block` (unaligned loads)
        // and writes only `h`.
        unsafe { compress_sha_ni(&mut h, block) };
    }
    let mut out = [0u8; 20];
    for (o, w) in out.chunks_exact_mut(4).zip(h) {
        o.copy_from_slice(&w.to_be_bytes());
    }
    Some(out)
}

/// One SHA-1 compression (FIPS 180-4 §6.1.2) of `block` into `h` with `sha1rnds4`,
/// `sha1nexte`, `sha1msg1` and `sha1msg2`.
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
fn compress_sha_ni(h: &mut [u32; 5], block: &[u8; 64]) {
    use core::arch::x86_64::*;

    // Lane 3 holds A (resp. E): the instructions' layout.
    let abcd0 = _mm_set_epi32(h[0] as i32, h[1] as i32, h[2] as i32, h[3] as i32);
    let e0 = _mm_set_epi32(h[4] as i32, 0, 0, 0);
    // Byte order: big-endian words, word 0 in lane 3.
    let flip = _mm_set_epi64x(0x0001_0203_0405_0607, 0x0809_0a0b_0c0d_0e0f);
    let load = |i: usize| {
        let chunk = block.get(16 * i..16 * i + 16).unwrap_or(&[0; 16]);
        // SAFETY: `chunk` is 16 readable bytes; the load is unaligned.
        _mm_shuffle_epi8(unsafe { _mm_loadu_si128(chunk.as_ptr().cast()) }, flip)
    };
    // The message schedule four words at a time in a sliding window (w0 = W[i]), extended by
    // W[i+4] = sha1msg2(sha1msg1(W[i], W[i+1]) ^ W[i+2], W[i+3]); 80 rounds, four per step,
    // step i with f_(i/5) and E from the ABCD of step i-1; written out (no loop, no branch).
    let (mut w0, mut w1, mut w2, mut w3) = (load(0), load(1), load(2), load(3));
    let mut abcd = abcd0;
    let mut prev;
    macro_rules! step {
        ($f:literal, $e:expr) => {{
            let e = $e;
            prev = abcd;
            abcd = _mm_sha1rnds4_epu32::<$f>(abcd, e);
            let next = _mm_sha1msg2_epu32(_mm_xor_si128(_mm_sha1msg1_epu32(w0, w1), w2), w3);
            (w0, w1, w2, w3) = (w1, w2, w3, next);
        }};
        ($f:literal) => {
            step!($f, _mm_sha1nexte_epu32(prev, w0))
        };
    }
    step!(0, _mm_add_epi32(e0, w0));
    step!(0);
    step!(0);
    step!(0);
    step!(0);
    step!(1);
    step!(1);
    step!(1);
    step!(1);
    step!(1);
    step!(2);
    step!(2);
    step!(2);
    step!(2);
    step!(2);
    step!(3);
    step!(3);
    step!(3);
    step!(3);
    step!(3);
    let _ = (w0, w1, w2, w3);
    let e_out = _mm_sha1nexte_epu32(prev, e0);
    let abcd_out = _mm_add_epi32(abcd, abcd0);
    let mut lanes = [0u32; 4];
    // SAFETY: `lanes` is 16 writable bytes; the store is unaligned.
    unsafe { _mm_storeu_si128(lanes.as_mut_ptr().cast(), abcd_out) };
    let [d, c, b, a] = lanes;
    let e = _mm_extract_epi32::<3>(e_out) as u32;
    *h = [a, b, c, d, e];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha_ni_matches_the_portable_sha1() {
        if !has_sha() {
            return; // nothing to compare on this CPU
        }
        let mut data = [0u8; 119];
        for (i, b) in data.iter_mut().enumerate() {
            *b = (i * 37 + 11) as u8;
        }
        for len in 0..=119usize {
            for cut in [0, len / 3, len] {
                let (a, b) = data[..len].split_at(cut);
                let want = sha1_smol::Sha1::from(&data[..len]).digest().bytes();
                assert_eq!(sha1_short(&[a, b]), Some(want), "len {len} cut {cut}");
            }
        }
        assert_eq!(sha1_short(&[&[0u8; 120][..]]), None);
        assert_eq!(sha1_short(&[&[0u8; 100][..], &[0u8; 20][..]]), None);
    }

    #[test]
    fn avx2_masking_matches_the_word_loop() {
        if !has_avx2() {
            return;
        }
        let src: std::vec::Vec<u8> = (0..5000u32).map(|x| (x * 13) as u8).collect();
        for len in [0usize, 1, 63, 64, 65, 2048, 4999] {
            let mut a = src[..len].to_vec();
            let mut b = src[..len].to_vec();
            xor(&mut a, [9, 8, 7, 6]);
            for (i, x) in b.iter_mut().enumerate() {
                *x ^= [9, 8, 7, 6][i % 4];
            }
            assert_eq!(a, b);
            let mut c = std::vec![0u8; len];
            xor_copy(&src[..len], &mut c, [9, 8, 7, 6]);
            assert_eq!(c, b);
        }
    }
}
