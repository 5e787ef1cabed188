//! [`Deflater`]: a raw-DEFLATE ([RFC 1951]) compressor that runs entirely in memory the caller
//! provides, for permessage-deflate ([RFC 7692]).
//!
//! LZ77 over a window of `1 << window_bits` bytes of history (every back-reference distance is
//! below `1 << window_bits`, so the RFC 7692 window of 8 bits works too), with a hash table of
//! recent positions (and, from level 2, hash chains), greedy parsing at levels 1–3 and lazy
//! matching from level 4 (zlib's parameters per level). Each block is written in whichever of
//! dynamic Huffman (codes length-limited to 15 bits, 7 for the code-length code), fixed Huffman
//! or stored is smallest, computed exactly. A block lets the window slide past its first bytes
//! only once its fixed-Huffman coding has saved enough that it can no longer end up larger
//! than storing it (else it is written first), so no block costs more than storing it and
//! [`Compress::bound`] is a true bound.
//!
//! A message ends the RFC 7692 way: all blocks non-final, then the 3 header bits of an empty
//! stored block and zero bits up to the byte boundary, without its `LEN`/`NLEN` (the receiver's
//! appended `00 00 FF FF`). An empty message is the single byte `0x00`.
//!
//! Output is the same however the input and the output room are split across calls.
//!
//! [RFC 1951]: https://www.rfc-editor.org/rfc/rfc1951
//! [RFC 7692]: https://www.rfc-editor.org/rfc/rfc7692

use super::{Compress, Progress, MAX_WINDOW_BITS, MIN_WINDOW_BITS};

/// The highest level (zlib's level 9 parameters: lazy matching, chains of up to 4096).
pub const MAX_LEVEL: u8 = 9;
/// The default level (zlib's level 6 parameters: lazy matching, chains of up to 128).
pub const DEFAULT_LEVEL: u8 = 6;

const MIN_MATCH: usize = 3;
const MAX_MATCH: usize = 258;
/// Bytes of lookahead the match finder wants before it looks at a position: a whole match plus
/// the 4 bytes that hashing its last position reads.
const MIN_LOOKAHEAD: usize = MAX_MATCH + 4;
/// Matches of 3 bytes further back than this are not worth their distance code.
const TOO_FAR: usize = 4096;
/// The largest stored block.
const MAX_STORED: usize = 65_535;
const LIT_CODES: usize = 286;
const DIST_CODES: usize = 30;
const CL_CODES: usize = 19;
/// The order of the code-length code's lengths in a dynamic block header.
const CL_ORDER: [u8; CL_CODES] = [
    16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
];
/// Bytes per buffered LZ77 symbol: a literal byte or length − 3, then the distance (0 for a
/// literal) little endian.
const TOKEN_BYTES: usize = 3;

/// Bytes of window: `1 << window_bits` of history plus room for new data (at least 1 KiB: it
/// must exceed [`MIN_LOOKAHEAD`] for sliding to make room, and each slide may end a block).
const fn window_size(window_bits: u8) -> usize {
    let w = 1usize << window_bits;
    if w >= 1024 {
        2 * w
    } else {
        w + 1024
    }
}

const fn hash_bits(window_bits: u8) -> u32 {
    if window_bits > 14 {
        14
    } else {
        window_bits as u32
    }
}

/// Symbols buffered per block: 1 Ki for windows up to 4 KiB, then 2, 4 and 8 Ki.
const fn token_capacity(window_bits: u8) -> usize {
    let b = if window_bits < 12 {
        10
    } else {
        window_bits - 2
    };
    1usize << b
}

/// Caller memory (bytes) a [`Deflater`] needs for `window_bits` (8..=15, clamped) and `level`
/// (0..=9, clamped):
///
/// - the window: `2 << window_bits` bytes (`(1 << window_bits) + 1024` for 8 and 9 bits);
/// - from level 1, a hash table of `2 << min(window_bits, 14)` bytes and a buffer of
///   `3 × 2^max(10, window_bits − 2)` bytes for the symbols of one block;
/// - from level 2, hash chains of `2 << window_bits` bytes.
///
/// | window_bits | level 0 | level 1 | levels 2–9 |
/// |---|---|---|---|
/// | 15 | 64 KiB | 120 KiB | 184 KiB |
/// | 12 | 8 KiB | 19 KiB | 27 KiB |
/// | 10 | 2 KiB | 7 KiB | 9 KiB |
/// | 9 | 1.5 KiB | 5.5 KiB | 6.5 KiB |
/// | 8 | 1.25 KiB | 4.75 KiB | 5.25 KiB |
///
/// The [`Deflater`] value itself (Huffman tables, symbol counts and state) takes about
/// 4.2 KiB more: `core::mem::size_of::<Deflater<M>>()`, which includes `M` (a reference or a
/// `Box` adds 16 bytes; an array adds itself).
pub const fn deflater_memory(window_bits: u8, level: u8) -> usize {
    let wb = if window_bits < MIN_WINDOW_BITS {
        MIN_WINDOW_BITS
    } else if window_bits > MAX_WINDOW_BITS {
        MAX_WINDOW_BITS
    } else {
        window_bits
    };
    let mut n = window_size(wb);
    if level >= 1 {
        n += (2usize << hash_bits(wb)) + TOKEN_BYTES * token_capacity(wb);
    }
    if level >= 2 {
        n += 2usize << wb;
    }
    n
}

/// Why [`Deflater::new`] refused a setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DeflaterError {
    /// `window_bits` is not in 8..=15.
    WindowBits(u8),
    /// `level` is above [`MAX_LEVEL`].
    Level(u8),
    /// The memory is smaller than [`deflater_memory`] says.
    Memory {
        /// Bytes the setting needs.
        needed: usize,
        /// Bytes given.
        given: usize,
    },
}

impl core::fmt::Display for DeflaterError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DeflaterError::WindowBits(b) => write!(f, "window bits {b} not in 8..=15"),
            DeflaterError::Level(l) => write!(f, "compression level {l} above {MAX_LEVEL}"),
            DeflaterError::Memory { needed, given } => {
                write!(f, "deflater needs {needed} bytes of memory, got {given}")
            }
        }
    }
}

impl core::error::Error for DeflaterError {}

/// Match-finder parameters of one level (zlib's `configuration_table`).
#[derive(Clone, Copy, Debug)]
struct Params {
    /// Lazy levels: halve-twice the chain when the previous match is at least this long.
    good: usize,
    /// Greedy levels: insert the positions inside matches up to this long. Lazy levels: do
    /// not look for a better match when the previous one is at least this long.
    lazy: usize,
    /// Stop searching at a match this long.
    nice: usize,
    /// Candidates examined per position.
    chain: usize,
    lazy_mode: bool,
}

const fn params(level: u8) -> Params {
    let (good, lazy, nice, chain, lazy_mode) = match level {
        0 => (0, 0, 0, 0, false),
        1 => (4, 4, 258, 1, false),
        2 => (4, 5, 16, 8, false),
        3 => (4, 6, 32, 32, false),
        4 => (4, 4, 16, 16, true),
        5 => (8, 16, 32, 32, true),
        6 => (8, 16, 128, 128, true),
        7 => (8, 32, 128, 256, true),
        8 => (32, 128, 258, 1024, true),
        _ => (32, 258, 258, 4096, true),
    };
    Params {
        good,
        lazy,
        nice,
        chain,
        lazy_mode,
    }
}

/// A raw-DEFLATE compressor over caller memory `M` (a `[u8; N]`, `&mut [u8]`, `Box<[u8]>`,
/// `Vec<u8>`… of at least [`deflater_memory`] bytes).
///
/// Levels: 0 stores only; 1 is greedy with one candidate per position (fastest); 2–3 greedy
/// with hash chains; 4–9 lazy matching with longer chains ([`DEFAULT_LEVEL`] is 6). The value
/// itself, besides `M`, is about 4.2 KiB (Huffman tables, symbol counts, state): keep it in a
/// `static` or a `Box` rather than on a small stack.
///
/// ```
/// use wsmachine::deflate::{deflater_memory, Compress, Deflater};
/// let mut d = Deflater::new([0u8; deflater_memory(9, 6)], 9, 6).unwrap();
/// let mut out = [0u8; 128];
/// let p = d.compress(b"hello hello hello hello", &mut out, true);
/// assert!(p.done && p.consumed == 23);
/// // Send out[..p.produced]; the receiver appends 00 00 FF FF and inflates.
/// ```
pub struct Deflater<M> {
    memory: M,
    state: State,
}

impl<M> core::fmt::Debug for Deflater<M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Deflater")
            .field("window_bits", &self.state.window_bits)
            .field("level", &self.state.level)
            .finish_non_exhaustive()
    }
}

impl<M: AsMut<[u8]>> Deflater<M> {
    /// A compressor with a window of `window_bits` (8..=15) and `level` (0..=[`MAX_LEVEL`]) over
    /// `memory` (at least [`deflater_memory`]`(window_bits, level)` bytes; any more is unused).
    pub fn new(mut memory: M, window_bits: u8, level: u8) -> Result<Self, DeflaterError> {
        if !(MIN_WINDOW_BITS..=MAX_WINDOW_BITS).contains(&window_bits) {
            return Err(DeflaterError::WindowBits(window_bits));
        }
        if level > MAX_LEVEL {
            return Err(DeflaterError::Level(level));
        }
        let needed = deflater_memory(window_bits, level);
        let mem = memory.as_mut();
        if mem.len() < needed {
            return Err(DeflaterError::Memory {
                needed,
                given: mem.len(),
            });
        }
        // Only for output that does not depend on the memory's old contents: any candidate
        // position is checked against the history bounds and its bytes compared anyway.
        mem.iter_mut().take(needed).for_each(|b| *b = 0);
        Ok(Deflater {
            memory,
            state: State::new(window_bits, level),
        })
    }

    /// The level given to [`new`](Self::new).
    pub fn level(&self) -> u8 {
        self.state.level
    }

    /// Gives the memory back.
    pub fn into_memory(self) -> M {
        self.memory
    }
}

impl<M: AsMut<[u8]>> Compress for Deflater<M> {
    fn compress(&mut self, input: &[u8], out: &mut [u8], end: bool) -> Progress {
        self.state.run(self.memory.as_mut(), input, out, end)
    }

    fn reset(&mut self) {
        self.state.reset();
    }

    fn bound(&self, len: usize) -> usize {
        // Each block costs at most what storing it would: 42 bits of header, padding and
        // LEN/NLEN per stored chunk of up to 65535 bytes. Every block but the last holds at
        // least `min(symbol capacity, window − 1)` bytes. Plus the closing empty-block header.
        // Input taken by earlier calls but not yet written (the open block and the
        // lookahead) comes out of this call too.
        let held = self.state.block_len + self.state.end.saturating_sub(self.state.pos);
        let len = len.saturating_add(held);
        let min_block = self.state.tcap.min(self.state.wsize - 1).max(1);
        let chunks = len / min_block + len / MAX_STORED + 2;
        len.saturating_add(chunks.saturating_mul(6))
            .saturating_add(2)
    }

    fn window_bits(&self) -> u8 {
        self.state.window_bits
    }
}

/// What is being written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Emit {
    Idle,
    /// Dynamic header item: 0 the block header and counts, then the code-length code's
    /// lengths, then the run-length coded lengths.
    DynHeader(usize),
    FixedHeader,
    Tokens(usize),
    Eob,
    /// Stored chunk header; the block has this many bytes left.
    StoredHead(usize),
    /// Stored chunk bytes: bytes left in the block, bytes left in this chunk.
    StoredCopy(usize, usize),
    /// The closing empty stored block's header bits.
    Marker,
    /// Writing out the last bits of the message.
    Flush,
}

enum Lz {
    NeedInput,
    BlockFull,
    Drained,
}

/// The caller's memory, split.
struct Parts<'a> {
    win: &'a mut [u8],
    head: &'a mut [u8],
    prev: &'a mut [u8],
    toks: &'a mut [u8],
}

/// The output buffer and a 64-bit accumulator of bits not yet written.
struct Out<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

struct State {
    window_bits: u8,
    level: u8,
    p: Params,
    wsize: usize,
    wmask: usize,
    max_dist: usize,
    size: usize,
    hash_shift: u32,
    tcap: usize,
    head_len: usize,
    prev_len: usize,

    /// Next position to parse.
    pos: usize,
    /// End of the data in the window.
    end: usize,
    /// Positions below this are not history (set by `reset`).
    floor: usize,
    /// Start in the window of the current block's bytes, and their count.
    block_start: usize,
    block_len: usize,
    /// The block's bytes are all still in the window.
    stored_ok: bool,
    ntok: usize,
    /// Lazy matching: the position before `pos` is not yet coded.
    match_available: bool,
    /// Lazy matching: the match found at `pos - 1` (length < 3 for none).
    prev_length: usize,
    prev_match: usize,

    acc: u64,
    nbits: u32,
    emit: Emit,
    /// The message's closing bits are being written.
    finishing: bool,

    lit_freq: [u16; LIT_CODES],
    dist_freq: [u16; DIST_CODES],
    lit_len: [u8; 288],
    lit_code: [u16; 288],
    dist_len: [u8; DIST_CODES],
    dist_code: [u16; DIST_CODES],
    cl_len: [u8; CL_CODES],
    cl_code: [u16; CL_CODES],
    rle: [u8; LIT_CODES + DIST_CODES],
    rle_extra: [u8; LIT_CODES + DIST_CODES],
    nrle: usize,
    hlit: usize,
    hdist: usize,
    hclen: usize,
    scratch: [u32; 288],
    keys: [u16; 288],

    #[cfg(test)]
    max_distance_seen: usize,
}

fn get16(a: &[u8], i: usize) -> usize {
    match a.get(2 * i..).and_then(|s| s.first_chunk::<2>()) {
        Some(b) => usize::from(u16::from_le_bytes(*b)),
        None => 0,
    }
}

fn set16(a: &mut [u8], i: usize, v: usize) {
    if let Some(b) = a.get_mut(2 * i..).and_then(|s| s.first_chunk_mut::<2>()) {
        *b = (v as u16).to_le_bytes();
    }
}

fn byte(a: &[u8], i: usize) -> u8 {
    a.get(i).copied().unwrap_or(0)
}

/// Length code index (0..=28) and its extra bits (count, value) for a match length.
fn length_code(len: usize) -> (usize, u32, u32) {
    let l = len.saturating_sub(MIN_MATCH) as u32;
    if l < 8 {
        (l as usize, 0, 0)
    } else if l >= 255 {
        (28, 0, 0)
    } else {
        let eb = 31 - l.leading_zeros() - 2;
        let idx = 4 * eb + 4 + ((l >> eb) - 4);
        (idx as usize, eb, l & ((1 << eb) - 1))
    }
}

/// Distance code (0..=29) and its extra bits (count, value).
fn dist_code(dist: usize) -> (usize, u32, u32) {
    let x = dist.saturating_sub(1) as u32;
    if x < 4 {
        (x as usize, 0, 0)
    } else {
        let eb = 31 - x.leading_zeros() - 1;
        let idx = 2 * eb + 2 + ((x >> eb) - 2);
        (idx as usize, eb, x & ((1 << eb) - 1))
    }
}

const fn length_extra(idx: usize) -> u32 {
    if idx < 8 || idx >= 28 {
        0
    } else {
        (idx as u32 - 4) / 4
    }
}

const fn dist_extra(idx: usize) -> u32 {
    if idx < 4 {
        0
    } else {
        idx as u32 / 2 - 1
    }
}

const fn fixed_lit_len(sym: usize) -> u8 {
    match sym {
        0..=143 => 8,
        144..=255 => 9,
        256..=279 => 7,
        _ => 8,
    }
}

/// Code lengths (at most `max_bits`) of a Huffman code for `freq` into `lens`: the
/// Moffat–Katajainen in-place algorithm on the symbols sorted by frequency, then lengths over
/// the limit folded back as miniz does. Symbols of zero frequency get no code, but there are
/// always at least two codes (inflaters want a complete code).
fn build_lengths(
    freq: &[u16],
    lens: &mut [u8],
    max_bits: u32,
    scratch: &mut [u32; 288],
    keys: &mut [u16; 288],
) {
    lens.iter_mut().for_each(|l| *l = 0);
    let mut n = 0usize;
    for (i, &f) in freq.iter().enumerate() {
        if f > 0 {
            if let Some(s) = scratch.get_mut(n) {
                *s = (u32::from(f) << 16) | i as u32;
                n += 1;
            }
        }
    }
    // At least two symbols: take the first unused ones, with frequency 1.
    let mut i = 0usize;
    while n < 2 && i < freq.len() {
        if freq.get(i).copied().unwrap_or(0) == 0 {
            if let Some(s) = scratch.get_mut(n) {
                *s = (1 << 16) | i as u32;
                n += 1;
            }
        }
        i += 1;
    }
    let Some(sorted) = scratch.get_mut(..n) else {
        return;
    };
    sorted.sort_unstable();
    if n == 1 {
        if let Some(l) = lens.get_mut((sorted.first().copied().unwrap_or(0) & 0xFFFF) as usize) {
            *l = 1;
        }
        return;
    }
    let Some(a) = keys.get_mut(..n) else {
        return;
    };
    for (k, s) in a.iter_mut().zip(sorted.iter()) {
        *k = (s >> 16) as u16;
    }
    minimum_redundancy(a);

    // Count the lengths (the depth of each leaf is now in `a`, most frequent last).
    let mut counts = [0u32; 33];
    for &d in a.iter() {
        if let Some(c) = counts.get_mut(usize::from(d).min(32)) {
            *c += 1;
        }
    }
    let max = max_bits as usize;
    let over: u32 = counts.iter().skip(max + 1).sum();
    counts.iter_mut().skip(max + 1).for_each(|c| *c = 0);
    if let Some(c) = counts.get_mut(max) {
        *c += over;
    }
    let mut total: u64 = 0;
    for (i, &c) in counts.iter().enumerate().take(max + 1).skip(1) {
        total += u64::from(c) << (max - i);
    }
    let full = 1u64 << max;
    let mut guard = 0;
    while total > full && guard < 100_000 {
        guard += 1;
        if let Some(c) = counts.get_mut(max) {
            *c = c.saturating_sub(1);
        }
        for i in (1..max).rev() {
            if counts.get(i).copied().unwrap_or(0) != 0 {
                if let Some(c) = counts.get_mut(i) {
                    *c -= 1;
                }
                if let Some(c) = counts.get_mut(i + 1) {
                    *c += 2;
                }
                break;
            }
        }
        total -= 1;
    }
    // Shortest codes to the most frequent symbols (the end of `sorted`).
    let mut syms = sorted.iter().rev();
    for (bits, &c) in counts.iter().enumerate().take(max + 1).skip(1) {
        for _ in 0..c {
            if let Some(s) = syms.next() {
                if let Some(l) = lens.get_mut((s & 0xFFFF) as usize) {
                    *l = bits as u8;
                }
            }
        }
    }
}

/// Moffat and Katajainen's in-place computation of minimum-redundancy code lengths: `a` holds
/// the frequencies in ascending order (at least two) and receives the code lengths (longest
/// first). Sums fit: frequencies here add up to at most a block's symbols plus 3.
fn minimum_redundancy(a: &mut [u16]) {
    let n = a.len();
    let g = |a: &[u16], i: usize| a.get(i).copied().unwrap_or(0);
    let s = |a: &mut [u16], i: usize, v: u16| {
        if let Some(x) = a.get_mut(i) {
            *x = v;
        }
    };
    if n < 2 {
        return;
    }
    s(a, 0, g(a, 0).saturating_add(g(a, 1)));
    let (mut root, mut leaf) = (0usize, 2usize);
    for next in 1..n - 1 {
        if leaf >= n || g(a, root) < g(a, leaf) {
            s(a, next, g(a, root));
            s(a, root, next as u16);
            root += 1;
        } else {
            s(a, next, g(a, leaf));
            leaf += 1;
        }
        if leaf >= n || (root < next && g(a, root) < g(a, leaf)) {
            s(a, next, g(a, next).saturating_add(g(a, root)));
            s(a, root, next as u16);
            root += 1;
        } else {
            s(a, next, g(a, next).saturating_add(g(a, leaf)));
            leaf += 1;
        }
    }
    s(a, n - 2, 0);
    for next in (0..n.saturating_sub(2)).rev() {
        let parent = usize::from(g(a, next));
        s(a, next, g(a, parent).saturating_add(1));
    }
    let (mut avbl, mut used, mut dpth) = (1usize, 0usize, 0u16);
    let mut root = n as isize - 2;
    let mut next = n as isize - 1;
    while avbl > 0 {
        while root >= 0 && g(a, root as usize) == dpth {
            used += 1;
            root -= 1;
        }
        while avbl > used {
            if next < 0 {
                return;
            }
            s(a, next as usize, dpth);
            next -= 1;
            avbl -= 1;
        }
        avbl = 2 * used;
        dpth = dpth.saturating_add(1);
        used = 0;
    }
}

/// Canonical codes for `lens`, bit-reversed for LSB-first output.
fn make_codes(lens: &[u8], codes: &mut [u16]) {
    let mut count = [0u16; 16];
    for &l in lens {
        if let Some(c) = count.get_mut(usize::from(l)) {
            *c += 1;
        }
    }
    if let Some(c) = count.first_mut() {
        *c = 0;
    }
    let mut next = [0u16; 16];
    let mut code = 0u16;
    for bits in 1..16 {
        code = (code.wrapping_add(count.get(bits - 1).copied().unwrap_or(0))) << 1;
        if let Some(n) = next.get_mut(bits) {
            *n = code;
        }
    }
    for (&l, c) in lens.iter().zip(codes.iter_mut()) {
        if l == 0 || l > 15 {
            *c = 0;
            continue;
        }
        if let Some(n) = next.get_mut(usize::from(l)) {
            *c = n.reverse_bits() >> (16 - u32::from(l));
            *n = n.wrapping_add(1);
        }
    }
}

impl Out<'_> {
    /// Moves whole bytes of the accumulator out while there is room.
    #[inline]
    fn drain(&mut self, acc: &mut u64, nbits: &mut u32) {
        if let Some(dst) = self
            .buf
            .get_mut(self.pos..)
            .and_then(|s| s.first_chunk_mut::<8>())
        {
            *dst = acc.to_le_bytes();
            let bytes = *nbits / 8;
            self.pos += bytes as usize;
            *acc = acc.checked_shr(bytes * 8).unwrap_or(0);
            *nbits -= bytes * 8;
        } else {
            while *nbits >= 8 {
                let Some(b) = self.buf.get_mut(self.pos) else {
                    return;
                };
                *b = *acc as u8;
                self.pos += 1;
                *acc >>= 8;
                *nbits -= 8;
            }
        }
    }
}

impl State {
    fn new(window_bits: u8, level: u8) -> State {
        let wsize = 1usize << window_bits;
        let hb = hash_bits(window_bits);
        State {
            window_bits,
            level,
            p: params(level),
            wsize,
            wmask: wsize - 1,
            max_dist: wsize - 1,
            size: window_size(window_bits),
            hash_shift: 32 - hb,
            tcap: token_capacity(window_bits),
            head_len: if level >= 1 { 2 << hb } else { 0 },
            prev_len: if level >= 2 { 2 * wsize } else { 0 },
            pos: 0,
            end: 0,
            floor: 0,
            block_start: 0,
            block_len: 0,
            stored_ok: true,
            ntok: 0,
            match_available: false,
            prev_length: MIN_MATCH - 1,
            prev_match: 0,
            acc: 0,
            nbits: 0,
            emit: Emit::Idle,
            finishing: false,
            lit_freq: [0; LIT_CODES],
            dist_freq: [0; DIST_CODES],
            lit_len: [0; 288],
            lit_code: [0; 288],
            dist_len: [0; DIST_CODES],
            dist_code: [0; DIST_CODES],
            cl_len: [0; CL_CODES],
            cl_code: [0; CL_CODES],
            rle: [0; LIT_CODES + DIST_CODES],
            rle_extra: [0; LIT_CODES + DIST_CODES],
            nrle: 0,
            hlit: 257,
            hdist: 1,
            hclen: 4,
            scratch: [0; 288],
            keys: [0; 288],
            #[cfg(test)]
            max_distance_seen: 0,
        }
    }

    fn reset(&mut self) {
        self.pos = self.end;
        self.floor = self.end;
        self.block_start = self.end;
        self.block_len = 0;
        self.stored_ok = true;
        self.ntok = 0;
        self.lit_freq = [0; LIT_CODES];
        self.dist_freq = [0; DIST_CODES];
        self.match_available = false;
        self.prev_length = MIN_MATCH - 1;
        self.prev_match = 0;
        self.acc = 0;
        self.nbits = 0;
        self.emit = Emit::Idle;
        self.finishing = false;
    }

    fn split<'a>(&self, mem: &'a mut [u8]) -> Option<Parts<'a>> {
        let (win, rest) = mem.split_at_mut_checked(self.size)?;
        let (head, rest) = rest.split_at_mut_checked(self.head_len)?;
        let (prev, rest) = rest.split_at_mut_checked(self.prev_len)?;
        let toks = if self.level >= 1 {
            rest.get_mut(..self.tcap * TOKEN_BYTES)?
        } else {
            &mut []
        };
        Some(Parts {
            win,
            head,
            prev,
            toks,
        })
    }

    fn run(&mut self, mem: &mut [u8], input: &[u8], out: &mut [u8], end: bool) -> Progress {
        let mut out = Out { buf: out, pos: 0 };
        let mut consumed = 0usize;
        let Some(mut parts) = self.split(mem) else {
            return Progress::default();
        };
        loop {
            if self.emit != Emit::Idle {
                if !self.emit_some(parts.win, parts.toks, &mut out) {
                    return Progress {
                        consumed,
                        produced: out.pos,
                        done: false,
                    };
                }
                if self.finishing {
                    self.finishing = false;
                    return Progress {
                        consumed,
                        produced: out.pos,
                        done: true,
                    };
                }
                continue;
            }
            let rest = input.get(consumed..).unwrap_or(&[]);
            let mut filled = 0;
            if !rest.is_empty() {
                match self.fill(&mut parts, rest) {
                    Some(n) => filled = n,
                    None => {
                        // Sliding would drop bytes of the current block: write it first.
                        self.start_block();
                        continue;
                    }
                }
                consumed += filled;
            }
            let flush = end && consumed >= input.len();
            let before = self.pos;
            match self.lz(&mut parts, flush) {
                Lz::BlockFull => self.start_block(),
                Lz::NeedInput => {
                    if consumed >= input.len() || (filled == 0 && self.pos == before) {
                        // (No progress with input left cannot happen: sliding makes room.)
                        return Progress {
                            consumed,
                            produced: out.pos,
                            done: consumed >= input.len(),
                        };
                    }
                }
                Lz::Drained => {
                    if self.block_len > 0 {
                        self.start_block();
                    } else {
                        self.emit = Emit::Marker;
                        self.finishing = true;
                    }
                }
            }
        }
    }

    /// Copies input into the window, sliding it first when full. `None`: the slide would
    /// drop bytes of the current block, which must be written first.
    fn fill(&mut self, parts: &mut Parts<'_>, input: &[u8]) -> Option<usize> {
        if self.end >= self.size {
            if self.end - self.pos >= MIN_LOOKAHEAD {
                return Some(0);
            }
            let d = self.pos.saturating_sub(self.wsize);
            if self.stored_ok && self.block_start < d && self.block_len > 0 {
                if !self.may_drop_block_bytes() {
                    return None;
                }
                self.stored_ok = false;
            }
            self.slide(parts, d);
        }
        let room = self.size.saturating_sub(self.end);
        let n = room.min(input.len());
        match (parts.win.get_mut(self.end..self.end + n), input.get(..n)) {
            (Some(dst), Some(src)) => {
                dst.copy_from_slice(src);
                self.end += n;
                Some(n)
            }
            _ => Some(0),
        }
    }

    fn slide(&mut self, parts: &mut Parts<'_>, d: usize) {
        if d == 0 || d > self.end {
            return;
        }
        parts.win.copy_within(d..self.end, 0);
        self.pos = self.pos.saturating_sub(d);
        self.end -= d;
        self.block_start = self.block_start.saturating_sub(d);
        self.floor = self.floor.saturating_sub(d);
        self.prev_match = self.prev_match.saturating_sub(d);
        for t in [&mut *parts.head, &mut *parts.prev] {
            for c in t.chunks_exact_mut(2) {
                if let Some(c) = c.first_chunk_mut::<2>() {
                    let v = usize::from(u16::from_le_bytes(*c)).saturating_sub(d);
                    *c = (v as u16).to_le_bytes();
                }
            }
        }
    }

    /// Inserts position `p` into the hash table (when 4 bytes of it are in); returns the
    /// previous head of its chain (0: none).
    #[inline]
    fn insert(&self, parts: &mut Parts<'_>, p: usize) -> usize {
        let Some(b) = parts
            .win
            .get(p..self.end)
            .and_then(|s| s.first_chunk::<4>())
        else {
            return 0;
        };
        let h = (u32::from_le_bytes(*b).wrapping_mul(0x9E37_79B1) >> self.hash_shift) as usize;
        let old = get16(parts.head, h);
        set16(parts.head, h, p);
        if self.prev_len > 0 {
            set16(parts.prev, p & self.wmask, old);
        }
        old
    }

    /// The longest match at `pos` longer than `best` among the chain from `cand`:
    /// `(length, position)`.
    #[inline]
    fn longest_match(
        &self,
        parts: &Parts<'_>,
        pos: usize,
        mut cand: usize,
        mut best: usize,
        mut chain: usize,
    ) -> Option<(usize, usize)> {
        let win = &*parts.win;
        let max_len = MAX_MATCH.min(self.end - pos);
        if max_len < MIN_MATCH {
            return None;
        }
        let nice = self.p.nice.min(max_len);
        let lim = pos.saturating_sub(self.max_dist).max(self.floor).max(1);
        let here = win.get(pos..pos + max_len)?;
        let mut found = None;
        while cand >= lim && cand < pos {
            if best < max_len && win.get(cand + best) == here.get(best) {
                let len = common_prefix(win.get(cand..cand + max_len)?, here);
                if len > best {
                    best = len;
                    found = Some((len, cand));
                    if len >= nice {
                        break;
                    }
                }
            }
            chain = chain.saturating_sub(1);
            if chain == 0 || self.prev_len == 0 {
                break;
            }
            let next = get16(parts.prev, cand & self.wmask);
            if next >= cand {
                break;
            }
            cand = next;
        }
        found
    }

    #[inline]
    fn tally_lit(&mut self, toks: &mut [u8], c: u8) {
        if let Some(t) = toks
            .get_mut(self.ntok * TOKEN_BYTES..)
            .and_then(|s| s.first_chunk_mut::<3>())
        {
            *t = [c, 0, 0];
        }
        if let Some(f) = self.lit_freq.get_mut(usize::from(c)) {
            *f += 1;
        }
        self.ntok += 1;
        self.block_len += 1;
    }

    #[inline]
    fn tally_match(&mut self, toks: &mut [u8], len: usize, dist: usize) {
        #[cfg(test)]
        {
            self.max_distance_seen = self.max_distance_seen.max(dist);
        }
        let d = (dist as u16).to_le_bytes();
        if let Some(t) = toks
            .get_mut(self.ntok * TOKEN_BYTES..)
            .and_then(|s| s.first_chunk_mut::<3>())
        {
            *t = [(len - MIN_MATCH) as u8, d[0], d[1]];
        }
        if let Some(f) = self.lit_freq.get_mut(257 + length_code(len).0) {
            *f += 1;
        }
        if let Some(f) = self.dist_freq.get_mut(dist_code(dist).0) {
            *f += 1;
        }
        self.ntok += 1;
        self.block_len += len;
    }

    /// Parses the window from `pos`: while there is a whole match of lookahead (or, with
    /// `flush`, to the end of the data) and room for symbols.
    fn lz(&mut self, parts: &mut Parts<'_>, flush: bool) -> Lz {
        if self.level == 0 {
            let n = self.end - self.pos;
            self.pos = self.end;
            self.block_len += n;
            return if flush { Lz::Drained } else { Lz::NeedInput };
        }
        if self.p.lazy_mode {
            self.lz_lazy(parts, flush)
        } else {
            self.lz_greedy(parts, flush)
        }
    }

    fn lz_greedy(&mut self, parts: &mut Parts<'_>, flush: bool) -> Lz {
        loop {
            let pos = self.pos;
            let look = self.end - pos;
            if look < MIN_LOOKAHEAD && (!flush || look == 0) {
                return if flush { Lz::Drained } else { Lz::NeedInput };
            }
            if self.ntok >= self.tcap {
                return Lz::BlockFull;
            }
            let cand = self.insert(parts, pos);
            let mut found = None;
            if cand != 0 {
                found = self.longest_match(parts, pos, cand, MIN_MATCH - 1, self.p.chain);
            }
            match found {
                Some((len, at)) if !(len == MIN_MATCH && pos - at > TOO_FAR) => {
                    self.tally_match(parts.toks, len, pos - at);
                    if len <= self.p.lazy {
                        for q in pos + 1..pos + len {
                            self.insert(parts, q);
                        }
                    }
                    self.pos = pos + len;
                }
                _ => {
                    self.tally_lit(parts.toks, byte(parts.win, pos));
                    self.pos = pos + 1;
                }
            }
        }
    }

    fn lz_lazy(&mut self, parts: &mut Parts<'_>, flush: bool) -> Lz {
        loop {
            let pos = self.pos;
            let look = self.end - pos;
            if look < MIN_LOOKAHEAD && !flush {
                return Lz::NeedInput;
            }
            if look == 0 {
                break;
            }
            if self.ntok >= self.tcap {
                return Lz::BlockFull;
            }
            let cand = self.insert(parts, pos);
            let prev_len = self.prev_length;
            let mut len = MIN_MATCH - 1;
            let mut at = 0;
            if cand != 0 && prev_len < self.p.lazy {
                let chain = if prev_len >= self.p.good {
                    self.p.chain >> 2
                } else {
                    self.p.chain
                };
                if let Some((l, a)) =
                    self.longest_match(parts, pos, cand, prev_len.max(MIN_MATCH - 1), chain.max(1))
                {
                    if !(l == MIN_MATCH && pos - a > TOO_FAR) {
                        len = l;
                        at = a;
                    }
                }
            }
            if prev_len >= MIN_MATCH && len <= prev_len {
                // The match at pos - 1 is at least as good: code it.
                let start = pos - 1;
                self.tally_match(parts.toks, prev_len, start - self.prev_match);
                for q in pos + 1..start + prev_len {
                    self.insert(parts, q);
                }
                self.pos = start + prev_len;
                self.match_available = false;
                self.prev_length = MIN_MATCH - 1;
            } else {
                if self.match_available {
                    self.tally_lit(parts.toks, byte(parts.win, pos - 1));
                }
                self.match_available = true;
                self.prev_length = len;
                self.prev_match = at;
                self.pos = pos + 1;
            }
        }
        if self.match_available {
            if self.ntok >= self.tcap {
                return Lz::BlockFull;
            }
            self.tally_lit(parts.toks, byte(parts.win, self.pos - 1));
            self.match_available = false;
        }
        self.prev_length = MIN_MATCH - 1;
        Lz::Drained
    }

    /// Chooses the cheapest block type for the buffered symbols and starts writing it.
    fn start_block(&mut self) {
        if self.block_len == 0 {
            return;
        }
        let stored = self.stored_bits();
        if self.level == 0 {
            self.emit = Emit::StoredHead(self.block_len);
            return;
        }
        if let Some(f) = self.lit_freq.get_mut(256) {
            *f = 1;
        }
        // Bits the extra bits of lengths and distances take (the same in both Huffman kinds).
        let mut extra = 0u64;
        let mut fixed = 3u64;
        for (i, &f) in self.lit_freq.iter().enumerate() {
            fixed += u64::from(f) * u64::from(fixed_lit_len(i));
            if i >= 257 {
                extra += u64::from(f) * u64::from(length_extra(i - 257));
            }
        }
        for (i, &f) in self.dist_freq.iter().enumerate() {
            fixed += u64::from(f) * 5;
            extra += u64::from(f) * u64::from(dist_extra(i));
        }
        fixed += extra;

        build_lengths(
            &self.lit_freq,
            &mut self.lit_len,
            15,
            &mut self.scratch,
            &mut self.keys,
        );
        build_lengths(
            &self.dist_freq,
            &mut self.dist_len,
            15,
            &mut self.scratch,
            &mut self.keys,
        );
        self.hlit = 257
            + self
                .lit_len
                .iter()
                .take(LIT_CODES)
                .skip(257)
                .rposition(|&l| l != 0)
                .map_or(0, |i| i + 1);
        self.hdist = self
            .dist_len
            .iter()
            .rposition(|&l| l != 0)
            .map_or(1, |i| i + 1);
        self.run_lengths();
        let mut cl_freq = [0u16; CL_CODES];
        for &s in self.rle.iter().take(self.nrle) {
            if let Some(f) = cl_freq.get_mut(usize::from(s)) {
                *f += 1;
            }
        }
        build_lengths(
            &cl_freq,
            &mut self.cl_len,
            7,
            &mut self.scratch,
            &mut self.keys,
        );
        self.hclen = CL_ORDER
            .iter()
            .rposition(|&s| self.cl_len.get(usize::from(s)).copied().unwrap_or(0) != 0)
            .map_or(4, |i| (i + 1).max(4));
        let mut dynamic = 3 + 14 + 3 * self.hclen as u64 + extra;
        for (s, &f) in cl_freq.iter().enumerate() {
            let x = match s {
                16 => 2,
                17 => 3,
                18 => 7,
                _ => 0,
            };
            dynamic += u64::from(f) * (u64::from(self.cl_len.get(s).copied().unwrap_or(0)) + x);
        }
        for (&f, &l) in self.lit_freq.iter().zip(self.lit_len.iter()) {
            dynamic += u64::from(f) * u64::from(l);
        }
        for (&f, &l) in self.dist_freq.iter().zip(self.dist_len.iter()) {
            dynamic += u64::from(f) * u64::from(l);
        }

        if self.stored_ok && stored <= fixed.min(dynamic) {
            self.emit = Emit::StoredHead(self.block_len);
        } else if fixed <= dynamic {
            for (i, l) in self.lit_len.iter_mut().enumerate() {
                *l = fixed_lit_len(i);
            }
            self.dist_len = [5; DIST_CODES];
            make_codes(&self.lit_len, &mut self.lit_code);
            make_codes(&self.dist_len, &mut self.dist_code);
            self.emit = Emit::FixedHeader;
        } else {
            make_codes(&self.lit_len, &mut self.lit_code);
            make_codes(&self.dist_len, &mut self.dist_code);
            make_codes(&self.cl_len, &mut self.cl_code);
            self.emit = Emit::DynHeader(0);
        }
    }

    /// Whether the current block may go on without the option of being stored: its fixed
    /// Huffman coding so far saves enough bits that no symbols added up to a full block can
    /// make it cost more than storing it would. (Under fixed codes, a match costs at most 8
    /// bits per byte and a literal at most 9, so each further symbol adds at most one bit
    /// above its bytes.)
    fn may_drop_block_bytes(&self) -> bool {
        if self.level == 0 {
            return false;
        }
        let mut fixed = 3 + 7u64;
        for (i, &f) in self.lit_freq.iter().enumerate() {
            let x = if i >= 257 { length_extra(i - 257) } else { 0 };
            fixed += u64::from(f) * u64::from(u32::from(fixed_lit_len(i)) + x);
        }
        for (i, &f) in self.dist_freq.iter().enumerate() {
            fixed += u64::from(f) * u64::from(5 + dist_extra(i));
        }
        let more = self.tcap.saturating_sub(self.ntok) as u64;
        fixed + more <= 8 * self.block_len as u64
    }

    /// Bits of the block written as stored chunks, from the current bit position.
    fn stored_bits(&self) -> u64 {
        let len = self.block_len as u64;
        let chunks = len.div_ceil(MAX_STORED as u64).max(1);
        let first_pad = u64::from((8 - (self.nbits + 3) % 8) % 8);
        3 + first_pad + 32 + (chunks - 1) * 40 + 8 * len
    }

    /// The run-length coding of the literal/length and distance code lengths.
    fn run_lengths(&mut self) {
        let total = self.hlit + self.hdist;
        let len_at = |s: &State, i: usize| -> u8 {
            if i < s.hlit {
                s.lit_len.get(i).copied().unwrap_or(0)
            } else {
                s.dist_len.get(i - s.hlit).copied().unwrap_or(0)
            }
        };
        self.nrle = 0;
        let push = |s: &mut State, sym: u8, x: usize| {
            if let (Some(r), Some(e)) = (s.rle.get_mut(s.nrle), s.rle_extra.get_mut(s.nrle)) {
                *r = sym;
                *e = x as u8;
                s.nrle += 1;
            }
        };
        let mut i = 0;
        while i < total {
            let cur = len_at(self, i);
            let mut run = 1;
            while i + run < total && len_at(self, i + run) == cur {
                run += 1;
            }
            i += run;
            if cur == 0 {
                while run >= 11 {
                    let k = run.min(138);
                    push(self, 18, k - 11);
                    run -= k;
                }
                if run >= 3 {
                    push(self, 17, run - 3);
                    run = 0;
                }
            } else {
                push(self, cur, 0);
                run -= 1;
                while run >= 3 {
                    let k = run.min(6);
                    push(self, 16, k - 3);
                    run -= k;
                }
            }
            for _ in 0..run {
                push(self, cur, 0);
            }
        }
    }

    #[inline]
    fn put(&mut self, bits: u64, n: u32) {
        self.acc |= bits << self.nbits;
        self.nbits += n;
    }

    /// Writes what is pending until done (`true`, now `Idle`) or `out` is full (`false`).
    fn emit_some(&mut self, win: &[u8], toks: &[u8], out: &mut Out<'_>) -> bool {
        loop {
            out.drain(&mut self.acc, &mut self.nbits);
            if self.nbits > 16 {
                return false;
            }
            match self.emit {
                Emit::Idle => return true,
                Emit::FixedHeader => {
                    self.put(0b010, 3);
                    self.emit = Emit::Tokens(0);
                }
                Emit::DynHeader(0) => {
                    self.put(0b100, 3);
                    self.put((self.hlit - 257) as u64, 5);
                    self.put((self.hdist - 1) as u64, 5);
                    self.put((self.hclen - 4) as u64, 4);
                    self.emit = Emit::DynHeader(1);
                }
                Emit::DynHeader(i) if i <= self.hclen => {
                    let s = CL_ORDER.get(i - 1).copied().unwrap_or(0);
                    let l = self.cl_len.get(usize::from(s)).copied().unwrap_or(0);
                    self.put(u64::from(l), 3);
                    self.emit = Emit::DynHeader(i + 1);
                }
                Emit::DynHeader(i) => {
                    let k = i - 1 - self.hclen;
                    if k >= self.nrle {
                        self.emit = Emit::Tokens(0);
                        continue;
                    }
                    let s = usize::from(self.rle.get(k).copied().unwrap_or(0));
                    let x = u64::from(self.rle_extra.get(k).copied().unwrap_or(0));
                    let code = u64::from(self.cl_code.get(s).copied().unwrap_or(0));
                    let len = u32::from(self.cl_len.get(s).copied().unwrap_or(0));
                    self.put(code, len);
                    match s {
                        16 => self.put(x, 2),
                        17 => self.put(x, 3),
                        18 => self.put(x, 7),
                        _ => {}
                    }
                    self.emit = Emit::DynHeader(i + 1);
                }
                Emit::Tokens(i) => {
                    if !self.emit_tokens(toks, i, out) {
                        return false;
                    }
                    self.emit = Emit::Eob;
                }
                Emit::Eob => {
                    let code = u64::from(self.lit_code.get(256).copied().unwrap_or(0));
                    let len = u32::from(self.lit_len.get(256).copied().unwrap_or(0));
                    self.put(code, len);
                    self.end_block();
                }
                Emit::StoredHead(left) => {
                    let chunk = left.min(MAX_STORED);
                    self.put(0, 3);
                    self.nbits += (8 - self.nbits % 8) % 8;
                    let c = chunk as u64;
                    self.put(c | ((!c & 0xFFFF) << 16), 32);
                    self.emit = Emit::StoredCopy(left, chunk);
                }
                Emit::StoredCopy(left, chunk) => {
                    if self.nbits > 0 {
                        return false;
                    }
                    let from = self.block_start + self.block_len - left;
                    let room = out.buf.len().saturating_sub(out.pos);
                    let n = room.min(chunk);
                    if let (Some(dst), Some(src)) = (
                        out.buf.get_mut(out.pos..out.pos + n),
                        win.get(from..from + n),
                    ) {
                        dst.copy_from_slice(src);
                    }
                    out.pos += n;
                    if n < chunk {
                        self.emit = Emit::StoredCopy(left - n, chunk - n);
                        return false;
                    }
                    if left - n > 0 {
                        self.emit = Emit::StoredHead(left - n);
                    } else {
                        self.end_block();
                    }
                }
                Emit::Marker => {
                    self.put(0, 3);
                    self.nbits += (8 - self.nbits % 8) % 8;
                    self.emit = Emit::Flush;
                }
                Emit::Flush => {
                    if self.nbits > 0 {
                        return false;
                    }
                    self.emit = Emit::Idle;
                }
            }
        }
    }

    /// Writes symbols from `i`; `false` (with the place saved) when `out` fills up.
    fn emit_tokens(&mut self, toks: &[u8], i: usize, out: &mut Out<'_>) -> bool {
        let mut acc = self.acc;
        let mut nbits = self.nbits;
        let all = toks.get(..self.ntok * TOKEN_BYTES).unwrap_or(&[]);
        let rest = all.get(i * TOKEN_BYTES..).unwrap_or(&[]);
        for (k, t) in (i..).zip(rest.chunks_exact(TOKEN_BYTES)) {
            out.drain(&mut acc, &mut nbits);
            if nbits > 16 {
                self.acc = acc;
                self.nbits = nbits;
                self.emit = Emit::Tokens(k);
                return false;
            }
            let (a, dist) = match t.first_chunk::<3>() {
                Some(&[a, d0, d1]) => (a, usize::from(u16::from_le_bytes([d0, d1]))),
                None => (0, 0),
            };
            if dist == 0 {
                let c = usize::from(a);
                let code = u64::from(self.lit_code.get(c).copied().unwrap_or(0));
                let len = u32::from(self.lit_len.get(c).copied().unwrap_or(0));
                acc |= code << nbits;
                nbits += len;
            } else {
                let (lc, leb, lx) = length_code(usize::from(a) + MIN_MATCH);
                let code = u64::from(self.lit_code.get(257 + lc).copied().unwrap_or(0));
                let len = u32::from(self.lit_len.get(257 + lc).copied().unwrap_or(0));
                let mut bits = code | (u64::from(lx) << len);
                let mut n = len + leb;
                let (dc, deb, dx) = dist_code(dist);
                let code = u64::from(self.dist_code.get(dc).copied().unwrap_or(0));
                let len = u32::from(self.dist_len.get(dc).copied().unwrap_or(0));
                bits |= (code | (u64::from(dx) << len)) << n;
                n += len + deb;
                acc |= bits << nbits;
                nbits += n;
            }
        }
        self.acc = acc;
        self.nbits = nbits;
        true
    }

    fn end_block(&mut self) {
        // The next block starts at the first byte not yet coded (lazy matching may hold one).
        self.block_start = self.pos.saturating_sub(usize::from(self.match_available));
        self.stored_ok = true;
        self.block_len = 0;
        self.ntok = 0;
        self.lit_freq = [0; LIT_CODES];
        self.dist_freq = [0; DIST_CODES];
        self.emit = Emit::Idle;
    }
}

/// Length of the common prefix of `a` and `b`.
#[inline]
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let mut n = 0;
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        let (Some(x), Some(y)) = (x.first_chunk::<8>(), y.first_chunk::<8>()) else {
            break;
        };
        let d = u64::from_le_bytes(*x) ^ u64::from_le_bytes(*y);
        if d != 0 {
            return n + (d.trailing_zeros() / 8) as usize;
        }
        n += 8;
    }
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        if x != y {
            break;
        }
        n += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deflate::TAIL;
    use flate2::{Decompress, FlushDecompress, Status};
    use miniz_oxide::inflate::core::inflate_flags::{
        TINFL_FLAG_HAS_MORE_INPUT, TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF,
    };
    use miniz_oxide::inflate::core::{decompress, DecompressorOxide};
    use proptest::prelude::*;
    use std::format;
    use std::vec;
    use std::vec::Vec;
    use wsmachine_test_support::rng::SplitMix;

    fn deflater(bits: u8, level: u8) -> Deflater<Vec<u8>> {
        Deflater::new(vec![0u8; deflater_memory(bits, level)], bits, level).unwrap()
    }

    /// One message in one call with a `bound`-sized buffer.
    fn one_shot<C: Compress>(c: &mut C, data: &[u8]) -> Vec<u8> {
        let mut out = vec![0u8; c.bound(data.len())];
        let p = c.compress(data, &mut out, true);
        assert!(p.done, "one call with bound() room must finish");
        assert_eq!(p.consumed, data.len());
        out.truncate(p.produced);
        out
    }

    /// One message fed `in_piece` bytes at a time into `out_piece`-byte output buffers.
    fn pieces<C: Compress>(c: &mut C, data: &[u8], in_piece: usize, out_piece: usize) -> Vec<u8> {
        let mut res = Vec::new();
        let mut buf = vec![0u8; out_piece];
        let mut at = 0;
        let mut calls = 0usize;
        loop {
            let take = in_piece.min(data.len() - at);
            let last = at + take == data.len();
            let p = c.compress(&data[at..at + take], &mut buf, last);
            assert!(p.produced <= out_piece);
            assert!(p.consumed <= take);
            res.extend_from_slice(&buf[..p.produced]);
            at += p.consumed;
            if last && p.done && at == data.len() {
                return res;
            }
            if !last && p.done {
                assert_eq!(p.consumed, take, "done means all input used");
            }
            calls += 1;
            assert!(calls < 10_000_000, "no progress");
        }
    }

    /// Inflates one message (with the tail appended) on a persistent zlib-rs inflater.
    fn inflate_zlib(d: &mut Decompress, msg: &[u8]) -> Vec<u8> {
        let mut input = msg.to_vec();
        input.extend_from_slice(&TAIL);
        let mut out = Vec::with_capacity(4 * msg.len() + 64);
        let mut ip = 0;
        loop {
            if out.len() == out.capacity() {
                out.reserve(out.capacity() + 1024);
            }
            let (i0, o0) = (d.total_in(), d.total_out());
            let st = d.decompress_vec(&input[ip..], &mut out, FlushDecompress::Sync);
            let st = st.expect("zlib-rs rejects the stream");
            assert_ne!(st, Status::StreamEnd, "no block may be final");
            ip += (d.total_in() - i0) as usize;
            let progressed = d.total_in() != i0 || d.total_out() != o0;
            if ip == input.len() && out.len() < out.capacity() {
                return out;
            }
            assert!(progressed || out.len() == out.capacity(), "inflater stuck");
        }
    }

    /// Inflates a whole stream of messages with miniz_oxide in one linear buffer.
    fn inflate_miniz(msgs: &[Vec<u8>], total: usize) -> Vec<u8> {
        let mut input = Vec::new();
        for m in msgs {
            input.extend_from_slice(m);
            input.extend_from_slice(&TAIL);
        }
        let mut out = vec![0u8; total + 64];
        let mut r = DecompressorOxide::new();
        let (st, used, made) = decompress(
            &mut r,
            &input,
            &mut out,
            0,
            TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF | TINFL_FLAG_HAS_MORE_INPUT,
        );
        assert!((st as i32) >= 0 || st as i32 == 1, "miniz status {st:?}");
        assert_eq!(used, input.len(), "miniz stopped early ({st:?})");
        out.truncate(made);
        out
    }

    /// Compresses `msgs` as one stream (context takeover) and checks both inflaters.
    fn round_trip_stream(bits: u8, level: u8, msgs: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut d = deflater(bits, level);
        let compressed: Vec<Vec<u8>> = msgs.iter().map(|m| one_shot(&mut d, m)).collect();
        assert!(
            d.state.max_distance_seen < 1 << bits,
            "distance beyond the window"
        );
        let mut z = if bits >= 9 {
            Decompress::new_with_window_bits(false, bits)
        } else {
            Decompress::new(false)
        };
        for (m, c) in msgs.iter().zip(&compressed) {
            assert!(
                &inflate_zlib(&mut z, c)[..] == *m,
                "bits {bits} level {level}"
            );
        }
        let all: Vec<u8> = msgs.concat();
        assert!(
            inflate_miniz(&compressed, all.len()) == all,
            "bits {bits} level {level}"
        );
        compressed
    }

    fn english(rng: &mut SplitMix, len: usize) -> Vec<u8> {
        const W: &[&str] = &[
            "the",
            "of",
            "and",
            "to",
            "a",
            "in",
            "is",
            "that",
            "it",
            "was",
            "for",
            "on",
            "are",
            "with",
            "as",
            "his",
            "they",
            "be",
            "at",
            "one",
            "have",
            "this",
            "from",
            "or",
            "had",
            "by",
            "word",
            "but",
            "what",
            "some",
            "we",
            "can",
            "out",
            "other",
            "were",
            "all",
            "there",
            "when",
            "up",
            "use",
            "your",
            "how",
            "said",
            "an",
            "each",
            "she",
            "which",
            "do",
            "their",
            "time",
            "if",
            "will",
            "way",
            "about",
            "many",
            "then",
            "them",
            "write",
            "would",
            "like",
            "so",
            "these",
            "her",
            "long",
            "make",
            "thing",
            "see",
            "him",
            "two",
            "has",
            "look",
            "more",
            "day",
            "could",
            "go",
            "come",
            "did",
            "number",
            "sound",
            "no",
            "most",
            "people",
            "my",
            "over",
            "know",
            "water",
            "than",
            "call",
            "first",
            "who",
            "may",
            "down",
            "side",
            "been",
            "now",
            "find",
            "connection",
            "message",
            "server",
            "protocol",
            "compression",
            "window",
            "history",
            "frame",
        ];
        let mut s = Vec::with_capacity(len + 16);
        let mut first = true;
        while s.len() < len {
            // Zipf-like: small indices far more often.
            let r = rng.below(W.len() * W.len());
            let i = (r as f64).sqrt() as usize;
            let w = W[W.len() - 1 - i.min(W.len() - 1)];
            if first {
                let mut c = w.as_bytes().to_vec();
                c[0] = c[0].to_ascii_uppercase();
                s.extend_from_slice(&c);
                first = false;
            } else {
                s.push(b' ');
                s.extend_from_slice(w.as_bytes());
            }
            match rng.below(16) {
                0 => {
                    s.extend_from_slice(b".");
                    first = true;
                    s.push(b' ');
                }
                1 => s.push(b','),
                _ => {}
            }
        }
        s.truncate(len);
        s
    }

    fn json(rng: &mut SplitMix, len: usize) -> Vec<u8> {
        const NAMES: &[&str] = &["alice", "bob", "carol", "dave", "erin", "frank", "grace"];
        const SYMS: &[&str] = &["BTC-USD", "ETH-USD", "SOL-USD", "DOGE-USD", "ADA-USD"];
        let mut s = std::string::String::from("[");
        let mut id = 1_000_000u64 + rng.below(1000) as u64;
        let mut ts = 1_700_000_000_000u64;
        while s.len() < len {
            id += 1 + rng.below(3) as u64;
            ts += rng.below(5000) as u64;
            let price = 10_000.0 + rng.below(5_000_000) as f64 / 100.0;
            s.push_str(&std::format!(
                "{{\"id\":{id},\"ts\":{ts},\"user\":\"{}\",\"symbol\":\"{}\",\"side\":\"{}\",\
                 \"price\":{price:.2},\"qty\":{},\"filled\":{},\"tags\":[\"{}\"]}},",
                NAMES[rng.below(NAMES.len())],
                SYMS[rng.below(SYMS.len())],
                if rng.below(2) == 0 { "buy" } else { "sell" },
                rng.below(1000),
                rng.below(2) == 0,
                NAMES[rng.below(NAMES.len())],
            ));
        }
        let mut b = s.into_bytes();
        b.truncate(len);
        b
    }

    fn random(rng: &mut SplitMix, len: usize) -> Vec<u8> {
        rng.bytes(len)
    }

    #[test]
    fn empty_message_is_one_zero_byte() {
        for level in 0..=MAX_LEVEL {
            for bits in [8, 9, 15] {
                let mut d = deflater(bits, level);
                assert_eq!(one_shot(&mut d, b""), [0x00]);
                assert_eq!(one_shot(&mut d, b""), [0x00]);
                let c = one_shot(&mut d, b"abc");
                assert_eq!(one_shot(&mut d, b""), [0x00]);
                let mut z = Decompress::new(false);
                assert_eq!(inflate_zlib(&mut z, &c), b"abc");
                assert_eq!(inflate_zlib(&mut z, &[0]), b"");
            }
        }
    }

    #[test]
    fn ends_with_empty_stored_header_and_no_tail() {
        let mut rng = SplitMix(3);
        for level in 0..=MAX_LEVEL {
            let data = english(&mut rng, 5000);
            let mut d = deflater(15, level);
            let c = one_shot(&mut d, &data);
            assert!(!c.ends_with(&TAIL));
            // Appending the tail completes the stored block: inflating with an extra empty
            // stored block after it must still work (the stream is byte-aligned there).
            let mut z = Decompress::new(false);
            assert_eq!(inflate_zlib(&mut z, &c), data);
        }
    }

    #[test]
    fn round_trips_every_window_and_level() {
        let mut rng = SplitMix(7);
        for bits in MIN_WINDOW_BITS..=MAX_WINDOW_BITS {
            for level in 0..=MAX_LEVEL {
                let a = english(&mut rng, 3000);
                let b = json(&mut rng, 70_000);
                let c = random(&mut rng, 1500);
                let mut rep = a.repeat(5);
                rep.extend_from_slice(&c);
                rep.extend_from_slice(&c);
                let msgs: [&[u8]; 6] = [&a, &b, b"", &c, &rep, &a];
                round_trip_stream(bits, level, &msgs);
            }
        }
    }

    #[test]
    fn context_takeover_reaches_into_earlier_messages_and_reset_forgets() {
        let mut rng = SplitMix(11);
        let a = english(&mut rng, 2000);
        let mut d = deflater(15, DEFAULT_LEVEL);
        let first = one_shot(&mut d, &a);
        let second = one_shot(&mut d, &a);
        assert!(
            second.len() < first.len() / 10,
            "{} vs {}",
            second.len(),
            first.len()
        );
        let mut z = Decompress::new(false);
        assert_eq!(inflate_zlib(&mut z, &first), a);
        assert_eq!(inflate_zlib(&mut z, &second), a);

        d.reset();
        let third = one_shot(&mut d, &a);
        assert!(
            third.len() > first.len() * 9 / 10,
            "{} vs {}",
            third.len(),
            first.len()
        );
        // A fresh inflater decodes it: no reference into the earlier messages.
        let mut fresh = Decompress::new(false);
        assert_eq!(inflate_zlib(&mut fresh, &third), a);
        let mut fresh = Decompress::new(false);
        assert!(inflate_zlib_result(&mut fresh, &second).is_err_or_differs(&a));
    }

    trait ErrOrDiffers {
        fn is_err_or_differs(&self, want: &[u8]) -> bool;
    }

    impl ErrOrDiffers for Result<Vec<u8>, ()> {
        fn is_err_or_differs(&self, want: &[u8]) -> bool {
            match self {
                Err(()) => true,
                Ok(v) => v != want,
            }
        }
    }

    fn inflate_zlib_result(d: &mut Decompress, msg: &[u8]) -> Result<Vec<u8>, ()> {
        let mut input = msg.to_vec();
        input.extend_from_slice(&TAIL);
        let mut out = Vec::with_capacity(1 << 20);
        d.decompress_vec(&input, &mut out, FlushDecompress::Sync)
            .map_err(|_| ())?;
        Ok(out)
    }

    #[test]
    fn reset_mid_message_forgets_the_partial_message() {
        let mut rng = SplitMix(12);
        let a = english(&mut rng, 10_000);
        for bits in [8, 12, 15] {
            let mut d = deflater(bits, 6);
            let mut out = vec![0u8; 100];
            let _ = d.compress(&a[..5000], &mut out, false);
            d.reset();
            let c = one_shot(&mut d, &a);
            let c2 = one_shot(&mut d, &a);
            // A fresh inflater decodes it: nothing of the abandoned message is referenced.
            let mut z = Decompress::new(false);
            assert!(inflate_zlib(&mut z, &c) == a);
            assert!(inflate_zlib(&mut z, &c2) == a);
            let mut fresh = deflater(bits, 6);
            let f = one_shot(&mut fresh, &a);
            assert!(
                c.len().abs_diff(f.len()) <= f.len() / 50,
                "{} vs {}",
                c.len(),
                f.len()
            );
        }
    }

    #[test]
    fn tiny_output_buffers_and_one_byte_pieces_match_one_call() {
        let mut rng = SplitMix(5);
        let mut data = english(&mut rng, 1200);
        data.extend(random(&mut rng, 300));
        data.extend(json(&mut rng, 1200));
        for level in [0, 1, 3, 6, 9] {
            for bits in [8, 9, 15] {
                let want = {
                    let mut d = deflater(bits, level);
                    let mut v = one_shot(&mut d, &data);
                    v.extend(one_shot(&mut d, &data[..700]));
                    v
                };
                let sizes = [1usize, 2, 3, 5, 7, 8, 9, 13, 64];
                for (k, &out_piece) in sizes.iter().enumerate() {
                    let in_piece = [1usize, 1, 2, 3, 1000, 1, 7, 64, 100_000][k];
                    let mut d = deflater(bits, level);
                    let mut got = pieces(&mut d, &data, in_piece, out_piece);
                    got.extend(pieces(&mut d, &data[..700], in_piece, out_piece));
                    assert!(
                        got == want,
                        "level {level} bits {bits} out {out_piece} in {in_piece}"
                    );
                }
            }
        }
    }

    #[test]
    fn every_output_size_up_to_min_output() {
        let mut rng = SplitMix(6);
        let data = english(&mut rng, 3000);
        let mut d = deflater(10, 6);
        let want = one_shot(&mut d, &data);
        for out_piece in 1..=<Deflater<Vec<u8>> as Compress>::MIN_OUTPUT {
            let mut d = deflater(10, 6);
            assert!(
                pieces(&mut d, &data, 1, out_piece) == want,
                "out {out_piece}"
            );
        }
    }

    #[test]
    fn highly_repetitive_data() {
        let zeros = vec![0u8; 1 << 20];
        let abab: Vec<u8> = b"ab".iter().copied().cycle().take(300_000).collect();
        for level in [1, 2, 4, 6, 9] {
            for bits in [8, 15] {
                let c = round_trip_stream(bits, level, &[&zeros, &abab, b"a", &zeros[..259]]);
                assert!(
                    c[0].len() < (1 << 20) / 100,
                    "bits {bits} level {level}: {}",
                    c[0].len()
                );
            }
        }
    }

    #[test]
    fn incompressible_data_stays_within_bound() {
        let mut rng = SplitMix(9);
        for bits in MIN_WINDOW_BITS..=MAX_WINDOW_BITS {
            for level in [0, 1, 6, 9] {
                for len in [0usize, 1, 100, 255, 256, 1000, 40_000, 70_000, 200_000] {
                    let data = random(&mut rng, len);
                    let mut d = deflater(bits, level);
                    let b = d.bound(len);
                    // A buffer of exactly `bound` suffices (one_shot asserts done).
                    let c = one_shot(&mut d, &data);
                    assert!(c.len() <= b);
                    assert!(
                        c.len() <= len + len / 100 + 8,
                        "bits {bits} level {level} len {len}: {}",
                        c.len()
                    );
                    let mut z = Decompress::new(false);
                    assert_eq!(inflate_zlib(&mut z, &c), data);
                }
            }
        }
    }

    #[test]
    fn rejects_bad_settings() {
        assert_eq!(
            Deflater::new([0u8; 16], 7, 1).unwrap_err(),
            DeflaterError::WindowBits(7)
        );
        assert_eq!(
            Deflater::new([0u8; 16], 16, 1).unwrap_err(),
            DeflaterError::WindowBits(16)
        );
        assert_eq!(
            Deflater::new([0u8; 16], 9, 10).unwrap_err(),
            DeflaterError::Level(10)
        );
        let need = deflater_memory(9, 6);
        assert_eq!(
            Deflater::new(vec![0u8; need - 1], 9, 6).unwrap_err(),
            DeflaterError::Memory {
                needed: need,
                given: need - 1
            }
        );
        assert!(Deflater::new(vec![0u8; need], 9, 6).is_ok());
        assert_eq!(deflater(13, 2).window_bits(), 13);
    }

    #[test]
    fn memory_figures() {
        assert_eq!(deflater_memory(15, 0), 64 << 10);
        assert_eq!(deflater_memory(15, 1), 120 << 10);
        assert_eq!(deflater_memory(15, 6), 184 << 10);
        assert_eq!(deflater_memory(12, 6), 27 << 10);
        assert_eq!(deflater_memory(10, 9), 9 << 10);
        assert_eq!(deflater_memory(9, 0), 1536);
        assert_eq!(deflater_memory(9, 1), 5632);
        assert_eq!(deflater_memory(9, 6), 6656);
        assert_eq!(deflater_memory(8, 1), 4864);
        assert_eq!(deflater_memory(8, 6), 5376);
        let size = core::mem::size_of::<Deflater<&mut [u8]>>();
        std::println!("size_of::<Deflater<&mut [u8]>>() = {size}");
        assert!(size <= 4400, "{size}");
    }

    #[test]
    fn huffman_lengths_are_limited_and_complete() {
        let mut scratch = [0u32; 288];
        let mut keys = [0u16; 288];
        // Fibonacci frequencies make the deepest unlimited trees.
        let mut freq = [0u16; 286];
        let (mut a, mut b) = (1u16, 1u16);
        for f in freq.iter_mut().take(24) {
            *f = a;
            let c = a.saturating_add(b);
            a = b;
            b = c;
        }
        for max in [7u32, 9, 15] {
            let mut lens = [0u8; 288];
            build_lengths(&freq, &mut lens, max, &mut scratch, &mut keys);
            let kraft: f64 = lens
                .iter()
                .filter(|&&l| l > 0)
                .map(|&l| 0.5f64.powi(l as i32))
                .sum();
            assert!((kraft - 1.0).abs() < 1e-12, "kraft {kraft}");
            assert!(lens.iter().all(|&l| u32::from(l) <= max));
            assert_eq!(lens.iter().filter(|&&l| l > 0).count(), 24);
        }
        // One symbol or none: two codes of length 1.
        let mut lens = [0u8; 30];
        build_lengths(&[0u16; 30], &mut lens, 15, &mut scratch, &mut keys);
        assert_eq!(&lens[..3], &[1, 1, 0]);
        let mut f = [0u16; 30];
        f[7] = 5;
        build_lengths(&f, &mut lens, 15, &mut scratch, &mut keys);
        assert_eq!((lens[0], lens[7], lens[1]), (1, 1, 0));
    }

    #[test]
    fn length_and_distance_codes() {
        // RFC 1951 §3.2.5 base values.
        let lbase = [
            3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99,
            115, 131, 163, 195, 227, 258,
        ];
        for len in 3..=258 {
            let (c, eb, x) = length_code(len);
            assert_eq!(lbase[c] + x as usize, len);
            assert_eq!(eb, length_extra(c));
            assert!(x < 1 << eb || eb == 0 && x == 0);
        }
        let dbase = [
            1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025,
            1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
        ];
        for dist in 1..=32768 {
            let (c, eb, x) = dist_code(dist);
            assert_eq!(dbase[c] + x as usize, dist);
            assert_eq!(eb, dist_extra(c));
        }
    }

    /// Sizes and speed against zlib (zlib-rs) levels 1 and 6. Run in release:
    /// `cargo test --release -p wsmachine --lib deflate::compress::tests::compare_with_zlib
    /// -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn compare_with_zlib() {
        use flate2::{Compress as ZCompress, Compression, FlushCompress};
        use std::time::Instant;
        let mut rng = SplitMix(42);
        let corpora: [(&str, Vec<u8>); 2] = [
            ("english", english(&mut rng, 1 << 20)),
            ("json", json(&mut rng, 1 << 20)),
        ];
        std::println!(
            "{:8} {:>8} | {:>22} {:>22} {:>22} {:>22} {:>22}",
            "data",
            "size",
            "zlib-1 bytes MB/s",
            "zlib-6 bytes MB/s",
            "ours-1 bytes MB/s",
            "ours-4 bytes MB/s",
            "ours-6 bytes MB/s"
        );
        for (name, data) in &corpora {
            for size in [1usize << 10, 16 << 10, 1 << 20] {
                let reps = ((8 << 20) / size).max(3);
                // Messages: consecutive slices of the corpus (size 1 MiB: the whole corpus).
                let msgs: Vec<&[u8]> = (0..reps)
                    .map(|i| {
                        let at = (i * size) % (data.len() - size + 1);
                        &data[at..at + size]
                    })
                    .collect();
                let mut line = std::format!("{name:8} {size:>8} |");
                for level in [1u32, 6] {
                    let mut z = ZCompress::new_with_window_bits(Compression::new(level), false, 15);
                    let mut out = vec![0u8; size * 2 + 1024];
                    let mut total = 0usize;
                    let t = Instant::now();
                    for m in &msgs {
                        z.reset();
                        let (i0, o0) = (z.total_in(), z.total_out());
                        z.compress(m, &mut out, FlushCompress::Sync).unwrap();
                        assert_eq!((z.total_in() - i0) as usize, m.len());
                        total += (z.total_out() - o0) as usize - 4;
                    }
                    let secs = t.elapsed().as_secs_f64();
                    let mbs = (reps * size) as f64 / secs / 1e6;
                    line += &std::format!(" {:>12} {:>9.1}", total / reps, mbs);
                }
                for level in [1u8, 4, 6] {
                    let mut d = deflater(15, level);
                    let mut out = vec![0u8; d.bound(size)];
                    let mut total = 0usize;
                    let t = Instant::now();
                    for m in &msgs {
                        d.reset();
                        let p = d.compress(m, &mut out, true);
                        assert!(p.done);
                        total += p.produced;
                    }
                    let secs = t.elapsed().as_secs_f64();
                    let mbs = (reps * size) as f64 / secs / 1e6;
                    line += &std::format!(" {:>12} {:>9.1}", total / reps, mbs);
                    // Check one.
                    d.reset();
                    let c = one_shot(&mut d, msgs[0]);
                    let mut z = Decompress::new(false);
                    assert!(inflate_zlib(&mut z, &c) == msgs[0]);
                }
                std::println!("{line}");
            }
        }
        // Small windows (RFC 7692 window bits 9 and 8), 16 KiB English messages, level 6.
        for bits in [8u8, 9, 10, 12] {
            let m = &corpora[0].1[..16 << 10];
            let mut d = deflater(bits, 6);
            let c = one_shot(&mut d, m);
            let zl = if bits >= 9 {
                let mut z = ZCompress::new_with_window_bits(Compression::new(6), false, bits);
                let mut out = vec![0u8; 40 << 10];
                z.compress(m, &mut out, FlushCompress::Sync).unwrap();
                z.total_out() as usize - 4
            } else {
                0
            };
            std::println!(
                "window bits {bits}: 16 KiB english level 6: ours {} zlib {zl}",
                c.len()
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn split_anywhere_same_output_and_round_trips(
            seed in any::<u64>(),
            len in 0usize..20_000,
            kind in 0u8..4,
            bits in 8u8..=15,
            level in 0u8..=9,
            cuts in proptest::collection::vec(0usize..20_000, 0..8),
            out_piece in 1usize..200,
        ) {
            let mut rng = SplitMix(seed);
            let data = match kind {
                0 => english(&mut rng, len),
                1 => json(&mut rng, len),
                2 => random(&mut rng, len),
                _ => {
                    let mut v = Vec::new();
                    while v.len() < len {
                        let n = 1 + rng.below(40);
                        if rng.below(3) == 0 || v.len() < 10 {
                            v.extend(rng.bytes(n));
                        } else {
                            let back = 1 + rng.below(v.len().min(300));
                            for _ in 0..n {
                                v.push(v[v.len() - back]);
                            }
                        }
                    }
                    v.truncate(len);
                    v
                }
            };
            let mut d = deflater(bits, level);
            let want = one_shot(&mut d, &data);
            let want2 = one_shot(&mut d, &data[..data.len() / 2]);

            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(data.len())).collect();
            cuts.push(data.len());
            cuts.sort_unstable();
            let mut d = deflater(bits, level);
            let mut got = Vec::new();
            let mut buf = vec![0u8; out_piece];
            let mut at = 0;
            for (i, &cut) in cuts.iter().enumerate() {
                let last = i + 1 == cuts.len();
                let mut piece = &data[at..cut];
                loop {
                    let p = d.compress(piece, &mut buf, last);
                    got.extend_from_slice(&buf[..p.produced]);
                    piece = &piece[p.consumed..];
                    if p.done {
                        prop_assert!(piece.is_empty());
                        break;
                    }
                }
                at = cut;
            }
            prop_assert_eq!(&got, &want);
            let got2 = pieces(&mut d, &data[..data.len() / 2], 777, out_piece);
            prop_assert_eq!(&got2, &want2);
            let all = [data.clone(), data[..data.len() / 2].to_vec()].concat();
            prop_assert_eq!(inflate_miniz(&[want.clone(), want2.clone()], all.len()), all);
            prop_assert!(want.len() <= d.bound(data.len()));
        }
    }
}
