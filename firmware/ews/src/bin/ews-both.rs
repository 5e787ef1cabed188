//! Anchor image: wsm-fw's `both` work done with embedded-websocket.
#![no_std]
#![no_main]

use fw::{entry, kv, stack};

#[entry]
fn main() -> ! {
    stack::paint();
    fw_ews::server();
    fw_ews::client();
    kv(
        "conn_size",
        fw_ews::conn_sizes().0.max(fw_ews::conn_sizes().1),
    );
    fw::finish("ews-both")
}
