//! Footprint image: the server path only (browser handshake, text and binary echo).
//! Every step is checked on the target; see `fw::work`.
#![no_std]
#![no_main]

use fw::{entry, kv, stack};

#[entry]
fn main() -> ! {
    stack::paint();
    fw::work::server();
    kv(
        "conn_size",
        core::mem::size_of::<wsmachine::Connection>() as u32,
    );
    fw::finish("server")
}
