//! The scaffolding alone (startup, semihosting, panic and fault handlers, stack painting):
//! the baseline the footprint report subtracts.
#![no_std]
#![no_main]

use fw::{entry, stack};

#[entry]
fn main() -> ! {
    stack::paint();
    fw::finish("empty")
}
