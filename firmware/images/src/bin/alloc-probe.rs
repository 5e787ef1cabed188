//! Must NOT build: it uses `alloc`, and no firmware here has a `#[global_allocator]`, so the
//! link fails. `scripts/test/firmware.sh` checks that it fails, which shows that any use of
//! `alloc` anywhere in the dependency graph (the core included) would fail the build.
#![no_std]
#![no_main]

extern crate alloc;

use fw::{black_box, entry, stack};

#[entry]
fn main() -> ! {
    stack::paint();
    let v: alloc::vec::Vec<u8> = alloc::vec::Vec::with_capacity(black_box(16));
    fw::kv("capacity", v.capacity() as u32);
    fw::finish("alloc-probe")
}
