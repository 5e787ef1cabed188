//! [`Inflater`]: a permessage-deflate decompressor whose window is caller memory, on
//! miniz_oxide's allocation-free core.

use miniz_oxide::inflate::core::inflate_flags::{
    TINFL_FLAG_HAS_MORE_INPUT, TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF,
};
use miniz_oxide::inflate::core::{decompress, DecompressorOxide};
use miniz_oxide::inflate::TINFLStatus;

use super::{CorruptData, Decompress, Progress, MAX_WINDOW_BITS, MIN_WINDOW_BITS, TAIL};

/// Bytes of memory an [`Inflater`] needs for `window_bits`: the window (`1 << window_bits`)
/// plus the decoder's state (about 10.3 KiB of Huffman tables), wherever the caller puts it.
pub const fn inflater_memory(window_bits: u8) -> usize {
    core::mem::size_of::<Inflater<[u8; 0]>>() + (1usize << window_bits)
}

/// A decompressor for one peer's messages. The window `W` is caller memory of at least
/// `1 << window_bits` bytes (`[u8; 32768]` in a static on firmware, a `Box<[u8]>` on a host);
/// the decoder state lives in the struct (see [`inflater_memory`]).
///
/// Output goes into the window first and is copied to the caller's buffer from there, so a
/// message of any size inflates in this fixed memory, and a back-reference before the start
/// of the stream, or beyond the window, is reported as corrupt data.
#[derive(Clone)]
pub struct Inflater<W> {
    state: DecompressorOxide,
    window: W,
    /// `1 << window_bits`.
    size: usize,
    bits: u8,
    /// Where the decoder writes next (modulo `size`).
    pos: usize,
    /// Bytes since the last reset (saturating): until it reaches `size`, the window has not
    /// wrapped and back-references are checked against the output so far.
    total: u64,
    /// Inflated bytes at `pending_at` not yet copied out.
    pending_at: usize,
    pending_len: usize,
    /// How much of [`TAIL`] the current message's end has fed.
    tail_fed: u8,
    /// The stream had a final block: the next message starts a new stream.
    ended: bool,
}

impl<W> core::fmt::Debug for Inflater<W> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Inflater")
            .field("window_bits", &self.bits)
            .field("total", &self.total)
            .finish_non_exhaustive()
    }
}

impl<W: AsMut<[u8]>> Inflater<W> {
    /// An inflater for windows of up to `window_bits` (8..=15); `None` if `window` is shorter
    /// than `1 << window_bits` or the bits are out of range.
    pub fn new(mut window: W, window_bits: u8) -> Option<Inflater<W>> {
        if !(MIN_WINDOW_BITS..=MAX_WINDOW_BITS).contains(&window_bits) {
            return None;
        }
        let size = 1usize << window_bits;
        if window.as_mut().len() < size {
            return None;
        }
        Some(Inflater {
            state: DecompressorOxide::new(),
            window,
            size,
            bits: window_bits,
            pos: 0,
            total: 0,
            pending_at: 0,
            pending_len: 0,
            tail_fed: 0,
            ended: false,
        })
    }

    /// Gives the window memory back.
    pub fn into_inner(self) -> W {
        self.window
    }

    /// Copies pending output into `out`; returns how much.
    fn drain(&mut self, out: &mut [u8]) -> usize {
        let n = self.pending_len.min(out.len());
        if n != 0 {
            let window = self.window.as_mut();
            let src = window
                .get(self.pending_at..self.pending_at.saturating_add(n))
                .unwrap_or_default();
            if let Some(dst) = out.get_mut(..src.len()) {
                dst.copy_from_slice(src);
            }
            self.pending_at = self.pending_at.saturating_add(n);
            self.pending_len -= n;
        }
        n
    }

    /// Runs the decoder once on `input` into the window; returns (status, consumed).
    fn step(&mut self, input: &[u8]) -> (TINFLStatus, usize) {
        let size = self.size;
        let window = self.window.as_mut().get_mut(..size).unwrap_or_default();
        // Until the window has wrapped, decode as into a flat buffer, so that the decoder
        // rejects distances reaching before the start of the stream.
        let mut flags = TINFL_FLAG_HAS_MORE_INPUT;
        if self.total < size as u64 {
            flags |= TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF;
        }
        let (status, used, written) = decompress(&mut self.state, input, window, self.pos, flags);
        self.pending_at = self.pos;
        self.pending_len = written;
        self.pos = (self.pos + written) & (size - 1);
        self.total = self.total.saturating_add(written as u64);
        (status, used)
    }
}

impl<W: AsMut<[u8]>> Decompress for Inflater<W> {
    fn decompress(
        &mut self,
        input: &[u8],
        out: &mut [u8],
        end: bool,
    ) -> Result<Progress, CorruptData> {
        let mut p = Progress::default();
        loop {
            p.produced += self.drain(out.get_mut(p.produced..).unwrap_or_default());
            if self.pending_len != 0 {
                return Ok(p);
            }
            let rest = input.get(p.consumed..).unwrap_or_default();
            let feeding_tail = rest.is_empty();
            if feeding_tail && (!end || usize::from(self.tail_fed) == TAIL.len()) {
                if end {
                    self.tail_fed = 0;
                    if self.ended {
                        self.reset();
                    }
                }
                p.done = true;
                return Ok(p);
            }
            if self.ended {
                // Data after the final block: only the tail may follow it.
                if feeding_tail {
                    self.tail_fed = TAIL.len() as u8;
                    continue;
                }
                return Err(CorruptData);
            }
            let chunk = if feeding_tail {
                TAIL.get(usize::from(self.tail_fed)..).unwrap_or_default()
            } else {
                rest
            };
            let (status, used) = self.step(chunk);
            if feeding_tail {
                self.tail_fed = self.tail_fed.saturating_add(used as u8);
            } else {
                p.consumed += used;
            }
            match status {
                TINFLStatus::Done => self.ended = true,
                TINFLStatus::NeedsMoreInput | TINFLStatus::HasMoreOutput => {}
                _ => return Err(CorruptData),
            }
            if used == 0 && self.pending_len == 0 && status != TINFLStatus::Done {
                // No progress possible (should not happen with input left): avoid spinning.
                return Err(CorruptData);
            }
        }
    }

    fn reset(&mut self) {
        self.state.init();
        self.pos = 0;
        self.total = 0;
        self.pending_at = 0;
        self.pending_len = 0;
        self.tail_fed = 0;
        self.ended = false;
    }

    fn window_bits(&self) -> u8 {
        self.bits
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec;

    #[test]
    fn empty_message_then_reset() {
        let mut d = Inflater::new(vec![0u8; 1 << 15], 15).unwrap();
        let mut out = [0u8; 64];
        for _ in 0..3 {
            let p = d.decompress(&[0x00], &mut out, true).unwrap();
            assert_eq!((p.consumed, p.produced, p.done), (1, 0, true));
            d.reset();
        }
    }
}
