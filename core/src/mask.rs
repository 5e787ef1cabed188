//! Masking (RFC 6455 §5.3): XOR with a 4-byte key, a word at a time.

/// Rotates `key` so that its first byte is the one that applies at `offset`.
#[inline]
fn rotated(key: [u8; 4], offset: usize) -> [u8; 4] {
    let k = u32::from_le_bytes(key);
    // Rotating a little-endian word right by 8 bits per position moves byte `offset` first.
    let shift = ((offset & 3) as u32) * 8;
    k.rotate_right(shift).to_le_bytes()
}

/// XORs `buf` in place with `key`, as if `buf` started `offset` bytes into the masked payload.
/// Returns the offset after `buf`.
#[inline]
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) -> usize {
    let k = rotated(key, offset);
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
