//! The std backend (feature `zlib`): zlib-rs, through flate2. See docs/deflate.md for why
//! this backend, with the measurements.

use std::boxed::Box;

use flate2::{Compress as ZCompress, Compression, Decompress as ZDecompress};
use flate2::{FlushCompress, FlushDecompress, Status};

use super::{Compress, CorruptData, Decompress, Progress, MAX_WINDOW_BITS, TAIL};

/// A decompressor on zlib-rs. Its memory (about 7 KiB of state plus the window, allocated
/// by zlib-rs as the stream needs it) comes from the heap.
pub struct ZlibInflater {
    z: Box<ZDecompress>,
    bits: u8,
    tail_fed: u8,
}

impl core::fmt::Debug for ZlibInflater {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ZlibInflater")
            .field("window_bits", &self.bits)
            .finish_non_exhaustive()
    }
}

impl ZlibInflater {
    /// A decompressor for windows of up to `window_bits` (9..=15; 8 is served by 9).
    pub fn new(window_bits: u8) -> ZlibInflater {
        let bits = window_bits.clamp(9, MAX_WINDOW_BITS);
        ZlibInflater {
            z: Box::new(ZDecompress::new_with_window_bits(false, bits)),
            bits,
            tail_fed: 0,
        }
    }
}

impl Decompress for ZlibInflater {
    fn decompress(
        &mut self,
        input: &[u8],
        out: &mut [u8],
        end: bool,
    ) -> Result<Progress, CorruptData> {
        let mut p = Progress::default();
        loop {
            let rest = input.get(p.consumed..).unwrap_or_default();
            let room = out.get_mut(p.produced..).unwrap_or_default();
            let tail = rest.is_empty() && end;
            let chunk = if tail {
                TAIL.get(usize::from(self.tail_fed)..).unwrap_or_default()
            } else {
                rest
            };
            let (before_in, before_out) = (self.z.total_in(), self.z.total_out());
            let status = self
                .z
                .decompress(chunk, room, FlushDecompress::Sync)
                .map_err(|_| CorruptData)?;
            let used = (self.z.total_in() - before_in) as usize;
            let made = (self.z.total_out() - before_out) as usize;
            p.produced += made;
            if tail {
                self.tail_fed = self.tail_fed.saturating_add(used as u8);
            } else {
                p.consumed += used;
            }
            if status == Status::StreamEnd {
                // A final block ended the stream: only the tail may follow it, and the next
                // message starts a new stream.
                if p.consumed < input.len() {
                    return Err(CorruptData);
                }
                self.reset();
                p.done = true;
                return Ok(p);
            }
            let input_done = p.consumed == input.len() && (!end || self.tail_fed == 4);
            let out_full = p.produced == out.len();
            if input_done && !out_full {
                // All input is in and zlib stopped short of filling `out`: nothing is held.
                if end {
                    self.tail_fed = 0;
                }
                p.done = true;
                return Ok(p);
            }
            if out_full || (used == 0 && made == 0) {
                return Ok(p);
            }
        }
    }

    fn reset(&mut self) {
        self.z.reset(false);
        self.tail_fed = 0;
    }

    fn window_bits(&self) -> u8 {
        self.bits
    }
}

/// A compressor on zlib-rs. `level` 0..=9 as zlib's; `mem_level` 1..=9 is fixed by flate2 at
/// 8 (its memory: about 2 × 2^window_bits + 2^(mem_level + 9) bytes, 256 KiB at 15/8).
pub struct ZlibDeflater {
    z: Box<ZCompress>,
    bits: u8,
    /// Output held back: the last bytes written might be the sync flush's 4-byte tail,
    /// which is not sent.
    held: [u8; 4],
    held_len: u8,
    /// Input taken since the message began (zlib may still hold it).
    pending_in: usize,
}

impl core::fmt::Debug for ZlibDeflater {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ZlibDeflater")
            .field("window_bits", &self.bits)
            .finish_non_exhaustive()
    }
}

impl ZlibDeflater {
    /// A compressor with `window_bits` (9..=15; zlib cannot make 8-bit raw streams, so 8 is
    /// refused with `None`) at `level` (0..=9).
    pub fn new(window_bits: u8, level: u32) -> Option<ZlibDeflater> {
        if !(9..=MAX_WINDOW_BITS).contains(&window_bits) || level > 9 {
            return None;
        }
        Some(ZlibDeflater {
            z: Box::new(ZCompress::new_with_window_bits(
                Compression::new(level),
                false,
                window_bits,
            )),
            bits: window_bits,
            held: [0; 4],
            held_len: 0,
            pending_in: 0,
        })
    }
}

impl Compress for ZlibDeflater {
    fn compress(&mut self, input: &[u8], out: &mut [u8], end: bool) -> Progress {
        // zlib writes into `out` directly; the last 4 bytes of each call's output stay in
        // `held` until more output follows (then they are real data) or the message ends
        // (then they are the tail and are dropped).
        let mut p = Progress::default();
        loop {
            // Release held bytes while more output is coming or they are not the tail.
            let rest = input.get(p.consumed..).unwrap_or_default();
            let mut buf = [0u8; 512];
            let room = out.len().saturating_sub(p.produced);
            if room == 0 {
                return p;
            }
            let want = room.min(buf.len());
            let flush = if end {
                FlushCompress::Sync
            } else {
                FlushCompress::None
            };
            let (bi, bo) = (self.z.total_in(), self.z.total_out());
            let dst = buf.get_mut(..want).unwrap_or_default();
            if self.z.compress(rest, dst, flush).is_err() {
                return p;
            }
            let used = (self.z.total_in() - bi) as usize;
            let made = (self.z.total_out() - bo) as usize;
            p.consumed += used;
            self.pending_in = self.pending_in.saturating_add(used);
            // Stream: held ++ new; keep the last 4 back.
            let mut stream = [0u8; 516];
            let h = usize::from(self.held_len);
            let total = h + made;
            if let Some(d) = stream.get_mut(..h) {
                d.copy_from_slice(self.held.get(..h).unwrap_or_default());
            }
            if let Some(d) = stream.get_mut(h..total) {
                d.copy_from_slice(buf.get(..made).unwrap_or_default());
            }
            let keep = total.min(4);
            let emit = total - keep;
            let emit = emit.min(out.len() - p.produced);
            if let Some(d) = out.get_mut(p.produced..p.produced + emit) {
                d.copy_from_slice(stream.get(..emit).unwrap_or_default());
            }
            p.produced += emit;
            let left = stream.get(emit..total).unwrap_or_default();
            // What could not be emitted stays held (at most 4 + what did not fit).
            if left.len() > 4 {
                // `out` is full: keep what fits in `held` by not having taken it; this
                // cannot happen because `want` <= room and emit covers all but 4.
                return p;
            }
            self.held = [0; 4];
            if let Some(d) = self.held.get_mut(..left.len()) {
                d.copy_from_slice(left);
            }
            self.held_len = left.len() as u8;
            let input_done = p.consumed == input.len();
            if end && input_done && made < want {
                // The flush is complete: the held bytes are the tail 00 00 FF FF.
                if self.held == TAIL && self.held_len == 4 {
                    self.held_len = 0;
                    self.pending_in = 0;
                    p.done = true;
                    return p;
                }
            } else if !end && input_done && made < want {
                p.done = true;
                return p;
            }
            if used == 0 && made == 0 {
                return p;
            }
        }
    }

    fn reset(&mut self) {
        self.z.reset();
        self.held_len = 0;
        self.pending_in = 0;
    }

    fn bound(&self, len: usize) -> usize {
        // zlib's deflateBound for raw streams, plus the sync flush's block, over this call's
        // input and what zlib may hold from earlier calls of the message. The tight bound
        // holds only for 15-bit windows (with flate2's memLevel 8): with a smaller window a
        // block's input may have left the window before the block is written, so zlib cannot
        // fall back to a stored block and its output can exceed the input by up to ~1/6;
        // zlib's deflateBound then gives its conservative bound, used here too.
        let len = len.saturating_add(self.pending_in);
        let zlib_bound = if self.bits == MAX_WINDOW_BITS {
            len + (len >> 12) + (len >> 14) + (len >> 25) + 13
        } else {
            len.saturating_add((len + 7) >> 3)
                .saturating_add((len + 63) >> 6)
                .saturating_add(5 + 13)
        };
        zlib_bound.saturating_add(5 + 6)
    }

    fn window_bits(&self) -> u8 {
        self.bits
    }
}
