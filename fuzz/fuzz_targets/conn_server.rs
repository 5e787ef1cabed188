//! A whole Server connection fed arbitrary input with arbitrary split points, interleaved with
//! timer calls and every kind of send; see `wsmachine_fuzz::run_conn`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsmachine::Role;

fuzz_target!(|data: &[u8]| {
    let _ = wsmachine_fuzz::run_conn(Role::Server, data);
});
