//! The floor: the least work any engine must do for each workload, done as fast as we can.
//!
//! * masking: XOR with the 4-byte key, 128 bytes per iteration with AVX2 (`std::arch`, chosen
//!   at run time), else a u64 loop;
//! * text: unmask + `simdutf8` validation fused per [`BLOCK`]-byte block, so each block is
//!   validated while it is still in L1;
//! * encode: `memcpy` (server) or mask-while-copying (client) of the payload, plus the header;
//! * handshake: `httparse` + SHA-1 + base64 + copying out a fixed 101 response, no checks.
//!
//! `unsafe` lives only here, in the benchmark crate, never in the core.

use std::sync::OnceLock;

/// Block size of the fused unmask + validate loop (fits L1 twice over).
pub const BLOCK: usize = 8 << 10;

type MaskFn = unsafe fn(&mut [u8], [u8; 4]);
type MaskCopyFn = unsafe fn(&[u8], &mut [u8], [u8; 4]);

fn mask_fn() -> MaskFn {
    static F: OnceLock<MaskFn> = OnceLock::new();
    *F.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") {
            return x86::mask_avx2;
        }
        mask_u64
    })
}

fn mask_copy_fn() -> MaskCopyFn {
    static F: OnceLock<MaskCopyFn> = OnceLock::new();
    *F.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") {
            return x86::mask_copy_avx2;
        }
        mask_copy_u64
    })
}

/// Which masking kernel the floor uses on this CPU.
pub fn mask_kernel_name() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        return "AVX2";
    }
    "u64"
}

/// XORs `buf` with `key` (offset 0) using the fastest kernel.
#[inline]
pub fn mask(buf: &mut [u8], key: [u8; 4]) {
    // SAFETY: the chosen kernel's CPU features were detected at run time.
    unsafe { mask_fn()(buf, key) }
}

/// Copies `src` into `dst[..src.len()]` while masking (offset 0).
#[inline]
pub fn mask_copy(src: &[u8], dst: &mut [u8], key: [u8; 4]) {
    assert!(dst.len() >= src.len());
    // SAFETY: as in `mask`; the kernel touches only `dst[..src.len()]`.
    unsafe { mask_copy_fn()(src, dst, key) }
}

/// Unmasks `buf` and validates it as UTF-8, block by block.
#[inline]
pub fn unmask_validate(buf: &mut [u8], key: [u8; 4]) -> bool {
    // BLOCK is a multiple of 4: each block starts at key offset 0. Each validation runs up to
    // the last code-point boundary of the unmasked bytes (at most 3 bytes back), so no code
    // point straddles two validations.
    let len = buf.len();
    let mut start = 0usize; // first byte not yet validated
    let mut end = 0usize; // first byte not yet unmasked
    while end < len {
        let next = (end + BLOCK).min(len);
        mask(&mut buf[end..next], key);
        end = next;
        let cut = if end == len { len } else { boundary(buf, end) };
        if simdutf8::basic::from_utf8(&buf[start..cut]).is_err() {
            return false;
        }
        start = cut;
    }
    true
}

/// Where to stop validating when the unmasked bytes end at `end`: before a code point that
/// `buf[..end]` holds only the start of (its lead byte is at most 3 bytes back), else `end`.
#[inline]
pub fn boundary(buf: &[u8], end: usize) -> usize {
    for back in 1..=end.min(3) {
        let b = buf[end - back];
        if b & 0xC0 != 0x80 {
            let need = if b < 0x80 {
                1
            } else if b >= 0xF0 {
                4
            } else if b >= 0xE0 {
                3
            } else {
                2
            };
            return if need > back { end - back } else { end };
        }
    }
    end
}

fn mask_u64(buf: &mut [u8], key: [u8; 4]) {
    let k = u32::from_ne_bytes(key) as u64;
    let w = k | (k << 32);
    let mut chunks = buf.chunks_exact_mut(8);
    for c in &mut chunks {
        let v = u64::from_ne_bytes(c.try_into().unwrap()) ^ w;
        c.copy_from_slice(&v.to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= key[i & 3];
    }
}

fn mask_copy_u64(src: &[u8], dst: &mut [u8], key: [u8; 4]) {
    let k = u32::from_ne_bytes(key) as u64;
    let w = k | (k << 32);
    let dst = &mut dst[..src.len()];
    let mut s = src.chunks_exact(8);
    let mut d = dst.chunks_exact_mut(8);
    for (sc, dc) in (&mut s).zip(&mut d) {
        let v = u64::from_ne_bytes(sc.try_into().unwrap()) ^ w;
        dc.copy_from_slice(&v.to_ne_bytes());
    }
    for (i, (o, x)) in d.into_remainder().iter_mut().zip(s.remainder()).enumerate() {
        *o = *x ^ key[i & 3];
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub unsafe fn mask_avx2(buf: &mut [u8], key: [u8; 4]) {
        let kv = _mm256_set1_epi32(i32::from_ne_bytes(key));
        let len = buf.len();
        let p = buf.as_mut_ptr();
        let mut i = 0usize;
        // SAFETY (whole function): every access is within `buf[..len]` (i + 128 <= len, i + 32
        // <= len, i < len); unaligned loads and stores are used throughout.
        unsafe {
            while i + 128 <= len {
                let a = _mm256_loadu_si256(p.add(i) as *const __m256i);
                let b = _mm256_loadu_si256(p.add(i + 32) as *const __m256i);
                let c = _mm256_loadu_si256(p.add(i + 64) as *const __m256i);
                let d = _mm256_loadu_si256(p.add(i + 96) as *const __m256i);
                _mm256_storeu_si256(p.add(i) as *mut __m256i, _mm256_xor_si256(a, kv));
                _mm256_storeu_si256(p.add(i + 32) as *mut __m256i, _mm256_xor_si256(b, kv));
                _mm256_storeu_si256(p.add(i + 64) as *mut __m256i, _mm256_xor_si256(c, kv));
                _mm256_storeu_si256(p.add(i + 96) as *mut __m256i, _mm256_xor_si256(d, kv));
                i += 128;
            }
            while i + 32 <= len {
                let a = _mm256_loadu_si256(p.add(i) as *const __m256i);
                _mm256_storeu_si256(p.add(i) as *mut __m256i, _mm256_xor_si256(a, kv));
                i += 32;
            }
            let k = u32::from_ne_bytes(key) as u64;
            let w = k | (k << 32);
            while i + 8 <= len {
                let v = (p.add(i) as *const u64).read_unaligned() ^ w;
                (p.add(i) as *mut u64).write_unaligned(v);
                i += 8;
            }
            while i < len {
                *p.add(i) ^= key[i & 3];
                i += 1;
            }
        }
    }

    /// # Safety
    /// The CPU must support AVX2 and `dst.len() >= src.len()`.
    #[target_feature(enable = "avx2")]
    pub unsafe fn mask_copy_avx2(src: &[u8], dst: &mut [u8], key: [u8; 4]) {
        let kv = _mm256_set1_epi32(i32::from_ne_bytes(key));
        let len = src.len();
        let s = src.as_ptr();
        let d = dst.as_mut_ptr();
        let mut i = 0usize;
        // SAFETY: reads within `src[..len]`, writes within `dst[..len]` (caller guarantees
        // `dst.len() >= len`).
        unsafe {
            while i + 128 <= len {
                let a = _mm256_loadu_si256(s.add(i) as *const __m256i);
                let b = _mm256_loadu_si256(s.add(i + 32) as *const __m256i);
                let c = _mm256_loadu_si256(s.add(i + 64) as *const __m256i);
                let e = _mm256_loadu_si256(s.add(i + 96) as *const __m256i);
                _mm256_storeu_si256(d.add(i) as *mut __m256i, _mm256_xor_si256(a, kv));
                _mm256_storeu_si256(d.add(i + 32) as *mut __m256i, _mm256_xor_si256(b, kv));
                _mm256_storeu_si256(d.add(i + 64) as *mut __m256i, _mm256_xor_si256(c, kv));
                _mm256_storeu_si256(d.add(i + 96) as *mut __m256i, _mm256_xor_si256(e, kv));
                i += 128;
            }
            while i + 32 <= len {
                let a = _mm256_loadu_si256(s.add(i) as *const __m256i);
                _mm256_storeu_si256(d.add(i) as *mut __m256i, _mm256_xor_si256(a, kv));
                i += 32;
            }
            while i < len {
                *d.add(i) = *s.add(i) ^ key[i & 3];
                i += 1;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Handshake floor
// ---------------------------------------------------------------------------------------------

const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// `Sec-WebSocket-Accept` for `key` with the fastest SHA-1 at hand.
#[inline]
pub fn accept_key(key: &[u8]) -> [u8; 28] {
    use sha1::Digest;
    let mut h = sha1::Sha1::new();
    h.update(key);
    h.update(GUID);
    let digest = h.finalize();
    let mut out = [0u8; 28];
    <base64ct::Base64 as base64ct::Encoding>::encode(&digest[..], &mut out).unwrap();
    out
}

/// The least a server handshake must do: parse the head, find the key, hash it, write the
/// 101. No validation at all.
#[inline]
pub fn handshake(req: &[u8], out: &mut [u8]) -> usize {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut r = httparse::Request::new(&mut headers);
    let httparse::Status::Complete(_) = r.parse(req).unwrap() else {
        panic!("partial request")
    };
    let key = r
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("sec-websocket-key"))
        .unwrap()
        .value;
    let accept = accept_key(key);
    const HEAD: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
        Connection: Upgrade\r\nSec-WebSocket-Accept: ";
    let mut n = 0;
    for part in [HEAD, &accept[..], b"\r\n\r\n"] {
        out[n..n + part.len()].copy_from_slice(part);
        n += part.len();
    }
    n
}
