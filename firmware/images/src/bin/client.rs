//! Footprint image: the client path only (handshake against a recorded server, one message each way).
//! Every step is checked on the target; see `fw::work`.
#![no_std]
#![no_main]

use fw::{entry, kv, stack};

#[entry]
fn main() -> ! {
    stack::paint();
    fw::work::client();
    kv(
        "conn_size",
        core::mem::size_of::<wsmachine::Connection>() as u32,
    );
    fw::finish("client")
}
