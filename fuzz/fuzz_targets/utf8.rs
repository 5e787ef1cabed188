//! `Utf8Validator` against `core::str::from_utf8`, with the input split at arbitrary points:
//! the verdict must match, and the error must be reported in the chunk that holds the first
//! byte that cannot continue a valid sequence (fail-fast), with the right `valid_up_to`.
//!
//! Input: `n: u8` cut points (`u16` each), then the text bytes.
#![no_main]

use arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use wsmachine::utf8::Utf8Validator;

fn run(data: &[u8]) -> Result<()> {
    let mut u = Unstructured::new(data);
    let n = usize::from(u.arbitrary::<u8>()? % 16);
    let mut cuts = Vec::with_capacity(n);
    for _ in 0..n {
        cuts.push(usize::from(u.arbitrary::<u16>()?));
    }
    let bytes = u.take_rest();
    for c in &mut cuts {
        *c %= bytes.len() + 1;
    }
    cuts.sort_unstable();
    cuts.push(bytes.len());

    // The reference: where the text becomes invalid, and which byte makes it so.
    let (valid, offending) = match core::str::from_utf8(bytes) {
        Ok(_) => (true, None),
        Err(e) => match e.error_len() {
            // A byte that cannot start a sequence is itself the offender; otherwise the
            // offender is the byte after the longest valid prefix of a sequence.
            Some(l) => {
                let lead = bytes[e.valid_up_to()];
                let at = if (0xC2..=0xF4).contains(&lead) {
                    e.valid_up_to() + l
                } else {
                    e.valid_up_to()
                };
                (false, Some((e.valid_up_to(), at)))
            }
            // Truncated at the end: every chunk is fine, the text is not complete.
            None => (false, None),
        },
    };

    let mut v = Utf8Validator::new();
    let mut start = 0;
    let mut failed = false;
    for &c in &cuts {
        let chunk = &bytes[start..c];
        match v.feed(chunk) {
            Ok(()) => {
                if let Some((_, at)) = offending {
                    assert!(
                        at >= c,
                        "offending byte {at} accepted in chunk {start}..{c}"
                    );
                }
            }
            Err(e) => {
                let (seq, at) = offending.expect("validator failed on text std accepts");
                assert!(
                    at >= start && at < c,
                    "failed in chunk {start}..{c}, offender at {at}"
                );
                let expect = seq.saturating_sub(start);
                assert_eq!(e.valid_up_to, expect, "valid_up_to in chunk {start}..{c}");
                failed = true;
                break;
            }
        }
        start = c;
    }
    if !failed {
        assert!(offending.is_none());
        assert_eq!(
            v.is_complete(),
            valid,
            "verdict differs from core::str::from_utf8"
        );
    }
    // Whole-buffer and byte-at-a-time feeding agree too.
    let mut w = Utf8Validator::new();
    let whole = w.feed(bytes).is_ok() && w.is_complete();
    assert_eq!(whole, valid);
    let mut b = Utf8Validator::new();
    let bytewise = bytes
        .iter()
        .all(|x| b.feed(core::slice::from_ref(x)).is_ok())
        && b.is_complete();
    assert_eq!(bytewise, valid);
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(data);
});
