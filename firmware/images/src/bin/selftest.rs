//! Harness self-test: without features it passes; each `selftest-*` feature makes it end the
//! way a broken library would, and `scripts/test/firmware.sh` checks that the run then fails
//! with the matching status: `selftest-check` 1, `selftest-panic` 101, `selftest-fault` 102
//! (an undefined instruction), `selftest-hang` 124 (the runner's timeout).
#![no_std]
#![no_main]

use fw::{black_box, check, entry, stack};

#[entry]
fn main() -> ! {
    stack::paint();
    check(black_box(2) + 2 == 4, "arithmetic");
    if cfg!(feature = "selftest-check") {
        check(black_box(2) + 2 == 5, "a deliberately failing check");
    }
    if cfg!(feature = "selftest-panic") {
        let v: &[u8] = black_box(&[1, 2, 3]);
        // An out-of-bounds index: the panic a library bug would raise.
        fw::kv("value", u32::from(v[black_box(7)]));
    }
    if cfg!(feature = "selftest-fault") {
        // SAFETY: deliberately executes an undefined instruction (the fault handler exits).
        #[cfg(target_arch = "arm")]
        unsafe {
            core::arch::asm!("udf #0")
        };
        // SAFETY: as above.
        #[cfg(target_arch = "riscv32")]
        unsafe {
            core::arch::asm!("unimp")
        };
    }
    if cfg!(feature = "selftest-hang") {
        loop {
            core::hint::spin_loop();
        }
    }
    fw::finish("selftest")
}
