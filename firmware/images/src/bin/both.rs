//! Footprint image: the server and the client paths.
//! Every step is checked on the target; see `fw::work`.
#![no_std]
#![no_main]

use fw::{entry, kv, stack};

#[entry]
fn main() -> ! {
    stack::paint();
    fw::work::server();
    fw::work::client();
    kv(
        "conn_size",
        core::mem::size_of::<wsmachine::Connection>() as u32,
    );
    fw::finish("both")
}
