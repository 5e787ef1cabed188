//! Our `Deflater` (caller memory) on arbitrary data: window bits 8..=15, every level, messages
//! with and without context takeover, the input cut into arbitrary pieces and the output room
//! tiny. For every message:
//! * flate2 (zlib-rs) inflates the payload (with the 4-byte tail appended) back to the
//!   message, over the same stream as the messages before it (one output byte per call for
//!   short messages, which makes zlib's window check exact);
//! * our `Inflater` with the same window does too (for 8 bits, the window flate2 cannot have);
//! * the bytes equal those of a second `Deflater` given the whole message at once into ample
//!   room (the output does not depend on how input and output are split);
//! * the output of each piece stays within `Compress::bound`, and every call with at least
//!   `MIN_OUTPUT` bytes of room makes progress.
//!
//! Input: window bits, level, flags, output room (u8), then messages: flags, input pieces
//! (u8), repetitions (u8), a u16 length and the bytes.
#![no_main]

use arbitrary::{Result, Unstructured};
use flate2::{Decompress, FlushDecompress, Status};
use libfuzzer_sys::fuzz_target;
use wsmachine::deflate::{
    deflater_memory, Compress, Decompress as _, Deflater, Inflater, MAX_LEVEL, TAIL,
};

const MAX_PLAIN: usize = 1 << 16;

fn min_output() -> usize {
    <Deflater<Vec<u8>> as Compress>::MIN_OUTPUT
}

/// Compresses one message in `pieces` input pieces with `room` bytes of output per call.
fn compress_split(c: &mut Deflater<Vec<u8>>, msg: &[u8], cuts: &[usize], room: usize) -> Vec<u8> {
    let mut z = Vec::new();
    let mut tmp = vec![0u8; room.max(min_output())];
    let mut start = 0usize;
    for (i, &end) in cuts.iter().enumerate() {
        let last = i + 1 == cuts.len();
        let piece = &msg[start..end];
        let bound = c.bound(piece.len());
        let mut made = 0usize;
        let mut taken = 0usize;
        loop {
            let r = room;
            let p = c.compress(&piece[taken..], &mut tmp[..r], last);
            assert!(p.consumed <= piece.len() - taken && p.produced <= r);
            taken += p.consumed;
            made += p.produced;
            z.extend_from_slice(&tmp[..p.produced]);
            if p.done {
                assert_eq!(taken, piece.len(), "done with input left");
                break;
            }
            if p.consumed == 0 && p.produced == 0 {
                assert!(
                    r < min_output(),
                    "no progress with {r} bytes of room (MIN_OUTPUT {})",
                    min_output()
                );
                // Give it the room it asks for, once.
                let p = c.compress(&piece[taken..], &mut tmp, last);
                assert!(p.consumed != 0 || p.produced != 0 || p.done, "no progress");
                taken += p.consumed;
                made += p.produced;
                z.extend_from_slice(&tmp[..p.produced]);
                if p.done {
                    assert_eq!(taken, piece.len(), "done with input left");
                    break;
                }
            }
        }
        assert!(made <= bound, "{made} bytes out, bound {bound}");
        start = end;
    }
    z
}

fn compress_whole(c: &mut Deflater<Vec<u8>>, msg: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; c.bound(msg.len()).max(min_output())];
    let p = c.compress(msg, &mut out, true);
    assert!(p.done && p.consumed == msg.len(), "{p:?} within the bound");
    out.truncate(p.produced);
    out
}

/// flate2 inflates `payload` + tail into `step`-byte slices; returns the bytes.
fn flate2_inflate(z: &mut Decompress, payload: &[u8], step: usize, want: usize) -> Vec<u8> {
    let mut input = payload.to_vec();
    input.extend_from_slice(&TAIL);
    let mut out = Vec::with_capacity(want);
    let mut buf = vec![0u8; step];
    let mut pos = 0;
    loop {
        let (i0, o0) = (z.total_in(), z.total_out());
        let st = z
            .decompress(&input[pos..], &mut buf, FlushDecompress::Sync)
            .unwrap_or_else(|e| panic!("flate2 says corrupt: {e} after {} bytes", out.len()));
        let used = (z.total_in() - i0) as usize;
        let made = (z.total_out() - o0) as usize;
        pos += used;
        out.extend_from_slice(&buf[..made]);
        assert!(st != Status::StreamEnd, "a final block in a message");
        assert!(out.len() <= want, "inflates to more than the message");
        if pos == input.len() && made < step || used == 0 && made == 0 {
            break;
        }
    }
    assert_eq!(pos, input.len(), "flate2 left input");
    out
}

fn our_inflate(d: &mut Inflater<Vec<u8>>, payload: &[u8], want: usize) -> Vec<u8> {
    let mut out = vec![0u8; 4096];
    let mut got = Vec::with_capacity(want);
    let mut input = payload;
    loop {
        let p = d
            .decompress(input, &mut out, true)
            .expect("our inflater says corrupt");
        got.extend_from_slice(&out[..p.produced]);
        input = &input[p.consumed..];
        assert!(got.len() <= want, "inflates to more than the message");
        if p.done {
            break;
        }
    }
    got
}

fn run(data: &[u8]) -> Result<()> {
    let mut u = Unstructured::new(data);
    let bits = 8 + u.arbitrary::<u8>()? % 8;
    let level = u.arbitrary::<u8>()? % (MAX_LEVEL + 1);
    let flags: u8 = u.arbitrary()?;
    let takeover = flags & 1 == 0;
    let room = 1 + usize::from(u.arbitrary::<u8>()?) * if flags & 2 != 0 { 64 } else { 1 };

    let mut c = Deflater::new(vec![0u8; deflater_memory(bits, level)], bits, level).expect("new");
    let mut whole =
        Deflater::new(vec![0u8; deflater_memory(bits, level)], bits, level).expect("new");
    let mut z = Decompress::new_with_window_bits(false, bits.max(9));
    let mut d = Inflater::new(vec![0u8; 1 << bits], bits).expect("inflater");

    let mut n = 0;
    while !u.is_empty() && n < 6 {
        n += 1;
        let mflags: u8 = u.arbitrary()?;
        let npieces = 1 + usize::from(u.arbitrary::<u8>()? % 8);
        let reps = 1 + usize::from(u.arbitrary::<u8>()? % 64);
        let len = usize::from(u.arbitrary::<u16>()? % 4096);
        let one = u.bytes(len.min(u.len()))?;
        let mut msg = one.to_vec();
        for _ in 1..reps {
            if msg.len() + one.len() > MAX_PLAIN {
                break;
            }
            msg.extend_from_slice(one);
        }
        let mut cuts = Vec::with_capacity(npieces);
        for _ in 1..npieces {
            cuts.push(usize::from(u.arbitrary::<u16>()?) % (msg.len() + 1));
        }
        cuts.sort_unstable();
        cuts.push(msg.len());
        if mflags & 1 != 0 {
            // A reset between messages (what a shared compressor sees).
            c.reset();
            whole.reset();
            z.reset(false);
            d.reset();
        }

        let split = compress_split(&mut c, &msg, &cuts, room);
        let once = compress_whole(&mut whole, &msg);
        assert_eq!(split, once, "output depends on the split");

        let step = if msg.len() <= 4096 { 1 } else { 4096 };
        let back = flate2_inflate(&mut z, &split, step, msg.len());
        assert!(back == msg, "flate2 inflates to something else");
        let ours = our_inflate(&mut d, &split, msg.len());
        assert!(ours == msg, "our inflater inflates to something else");

        if !takeover {
            c.reset();
            whole.reset();
            z.reset(false);
            d.reset();
        }
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(data);
});
