//! Anchor image: wsm-fw's `server` work done with embedded-websocket.
#![no_std]
#![no_main]

use fw::{entry, kv, stack};

#[entry]
fn main() -> ! {
    stack::paint();
    fw_ews::server();
    kv("conn_size", fw_ews::conn_sizes().0);
    fw::finish("ews-server")
}
