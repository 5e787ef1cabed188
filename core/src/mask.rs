//! Masking (RFC 6455 §5.3): XOR with a 4-byte key, a vector at a time.

/// Rotates `key` so that its first byte is the one that applies at `offset`.
#[inline]
fn rotated(key: [u8; 4], offset: usize) -> [u8; 4] {
    let k = u32::from_le_bytes(key);
    // Rotating a little-endian word right by 8 bits per position moves byte `offset` first.
    let shift = ((offset & 3) as u32) * 8;
    k.rotate_right(shift).to_le_bytes()
}

/// XORs `buf` with the key bytes `k` (already rotated to `buf`'s offset) in blocks of `W`
/// 32-bit words, then 8-byte words, then bytes. The blocks are plain array code that the
/// compiler turns into vector instructions (SSE2 on x86_64; AVX2 when compiled inside
/// `crate::simd`).
///
/// The key vector is a splat of one `u32`, never an array filled byte by byte: loading a
/// vector from bytes just stored one at a time defeats store forwarding, which cost about
/// 40 ns per call on a Zen CPU, more than masking 1 KiB.
#[cfg(target_pointer_width = "64")]
#[inline(always)]
pub(crate) fn xor_words<const W: usize>(buf: &mut [u8], k: [u8; 4]) {
    let k32 = u32::from_ne_bytes(k);
    let kb = [k32; W];
    let mut blocks = buf.chunks_exact_mut(4 * W);
    for block in &mut blocks {
        for (b, m) in block.chunks_exact_mut(4).zip(kb.iter()) {
            if let Ok(b) = <&mut [u8; 4]>::try_from(b) {
                *b = (u32::from_ne_bytes(*b) ^ *m).to_ne_bytes();
            }
        }
    }
    // A block is a multiple of 4 bytes: the key phase is unchanged for the rest.
    let k64 = (u64::from(k32) << 32) | u64::from(k32);
    let mut words = blocks.into_remainder().chunks_exact_mut(8);
    for c in &mut words {
        if let Ok(c) = <&mut [u8; 8]>::try_from(c) {
            *c = (u64::from_ne_bytes(*c) ^ k64).to_ne_bytes();
        }
    }
    for (b, m) in words.into_remainder().iter_mut().zip(k.iter().cycle()) {
        *b ^= *m;
    }
}

/// As [`xor_words`], copying from `src` into `dst` (same length).
#[cfg(target_pointer_width = "64")]
#[inline(always)]
pub(crate) fn xor_copy_words<const W: usize>(src: &[u8], dst: &mut [u8], k: [u8; 4]) {
    let k32 = u32::from_ne_bytes(k);
    let kb = [k32; W];
    let mut s = src.chunks_exact(4 * W);
    let mut d = dst.chunks_exact_mut(4 * W);
    for (sb, db) in (&mut s).zip(&mut d) {
        for ((o, i), m) in db
            .chunks_exact_mut(4)
            .zip(sb.chunks_exact(4))
            .zip(kb.iter())
        {
            if let (Ok(o), Ok(i)) = (<&mut [u8; 4]>::try_from(o), <&[u8; 4]>::try_from(i)) {
                *o = (u32::from_ne_bytes(*i) ^ *m).to_ne_bytes();
            }
        }
    }
    let k64 = (u64::from(k32) << 32) | u64::from(k32);
    let mut s8 = s.remainder().chunks_exact(8);
    let mut d8 = d.into_remainder().chunks_exact_mut(8);
    for (i, o) in (&mut s8).zip(&mut d8) {
        if let (Ok(o), Ok(i)) = (<&mut [u8; 8]>::try_from(o), <&[u8; 8]>::try_from(i)) {
            *o = (u64::from_ne_bytes(*i) ^ k64).to_ne_bytes();
        }
    }
    for ((o, i), m) in d8
        .into_remainder()
        .iter_mut()
        .zip(s8.remainder().iter())
        .zip(k.iter().cycle())
    {
        *o = *i ^ *m;
    }
}

/// Below this length the inline word loop is as fast as the block loop (which, with AVX2, is
/// a call).
#[cfg(target_pointer_width = "64")]
const MIN_BLOCK_LEN: usize = 64;

/// XORs `buf` in place with `key`, as if `buf` started `offset` bytes into the masked payload.
/// Returns the offset after `buf`.
#[inline]
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) -> usize {
    let k = rotated(key, offset);
    #[cfg(target_pointer_width = "64")]
    if buf.len() >= MIN_BLOCK_LEN {
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        if crate::simd::has_avx2() {
            crate::simd::xor(buf, k);
            return offset.wrapping_add(buf.len()) & 3;
        }
        xor_words::<16>(buf, k);
        return offset.wrapping_add(buf.len()) & 3;
    }
    let k8 = [k[0], k[1], k[2], k[3], k[0], k[1], k[2], k[3]];
    let w = u64::from_ne_bytes(k8);
    let mut chunks = buf.chunks_exact_mut(8);
    for c in &mut chunks {
        let mut b = [0u8; 8];
        b.copy_from_slice(c);
        c.copy_from_slice(&(u64::from_ne_bytes(b) ^ w).to_ne_bytes());
    }
    let rest = chunks.into_remainder();
    for (b, m) in rest.iter_mut().zip(k8.iter()) {
        *b ^= *m;
    }
    offset.wrapping_add(buf.len()) & 3
}

/// Copies `src` into `dst` (which must have the same length; extra bytes of either are
/// ignored) while masking, as if `src` started `offset` bytes into the payload. Returns the
/// offset after the copied bytes.
#[inline]
pub fn mask_copy(src: &[u8], dst: &mut [u8], key: [u8; 4], offset: usize) -> usize {
    let n = src.len().min(dst.len());
    let (src, dst) = (
        src.get(..n).unwrap_or_default(),
        dst.get_mut(..n).unwrap_or_default(),
    );
    let k = rotated(key, offset);
    #[cfg(target_pointer_width = "64")]
    if n >= MIN_BLOCK_LEN {
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        if crate::simd::has_avx2() {
            crate::simd::xor_copy(src, dst, k);
            return offset.wrapping_add(n) & 3;
        }
        xor_copy_words::<16>(src, dst, k);
        return offset.wrapping_add(n) & 3;
    }
    let k8 = [k[0], k[1], k[2], k[3], k[0], k[1], k[2], k[3]];
    let w = u64::from_ne_bytes(k8);
    let mut s = src.chunks_exact(8);
    let mut d = dst.chunks_exact_mut(8);
    for (sc, dc) in (&mut s).zip(&mut d) {
        let mut b = [0u8; 8];
        b.copy_from_slice(sc);
        dc.copy_from_slice(&(u64::from_ne_bytes(b) ^ w).to_ne_bytes());
    }
    for ((o, i), m) in d
        .into_remainder()
        .iter_mut()
        .zip(s.remainder().iter())
        .zip(k8.iter())
    {
        *o = *i ^ *m;
    }
    offset.wrapping_add(n) & 3
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(buf: &mut [u8], key: [u8; 4], offset: usize) {
        for (i, b) in buf.iter_mut().enumerate() {
            *b ^= key[(offset + i) % 4];
        }
    }

    #[test]
    fn matches_bytewise_at_every_offset_and_length() {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        for len in 0..40usize {
            for off in 0..4usize {
                let src: std::vec::Vec<u8> = (0..len as u8).map(|x| x.wrapping_mul(31)).collect();
                let mut a = src.clone();
                let mut b = src.clone();
                let next = apply_mask(&mut a, key, off);
                naive(&mut b, key, off);
                assert_eq!(a, b, "len {len} off {off}");
                assert_eq!(next, (off + len) % 4);
                let mut c = std::vec![0u8; len];
                mask_copy(&src, &mut c, key, off);
                assert_eq!(c, b);
            }
        }
    }

    #[test]
    #[cfg_attr(miri, ignore)] // ~600 KiB masked byte by byte: minutes under Miri
    fn long_buffers_match_bytewise() {
        // Lengths around every path's thresholds (the inline word loop below 64 bytes, 64-byte
        // blocks, then 8-byte words and single bytes), at every offset.
        let key = [0xA1, 0x02, 0xF3, 0x44];
        for len in [
            63usize, 64, 65, 71, 72, 73, 127, 128, 129, 200, 2049, 2055, 4133, 70_000,
        ] {
            for off in 0..4usize {
                let src: std::vec::Vec<u8> = (0..len).map(|x| (x * 7 + 3) as u8).collect();
                let mut want = src.clone();
                naive(&mut want, key, off);
                let mut a = src.clone();
                assert_eq!(apply_mask(&mut a, key, off), (off + len) % 4);
                assert_eq!(a, want, "apply_mask len {len} off {off}");
                let mut c = std::vec![0u8; len];
                assert_eq!(mask_copy(&src, &mut c, key, off), (off + len) % 4);
                assert_eq!(c, want, "mask_copy len {len} off {off}");
            }
        }
    }

    #[test]
    fn split_masking_equals_whole() {
        let key = [1, 2, 3, 4];
        let data: std::vec::Vec<u8> = (0..100u8).collect();
        let mut whole = data.clone();
        apply_mask(&mut whole, key, 0);
        for cut in 0..100 {
            let mut parts = data.clone();
            let (a, b) = parts.split_at_mut(cut);
            let off = apply_mask(a, key, 0);
            apply_mask(b, key, off);
            assert_eq!(parts, whole);
        }
    }
}
