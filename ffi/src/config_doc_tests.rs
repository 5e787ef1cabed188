//! The C docs state the configuration defaults (`wsm_config`'s field comments in the checked-in
//! header); they must be the core's (`wsmachine::config::defaults`), and `wsm_config_default`
//! must fill in exactly `Config::new()`.

extern crate std;

use std::string::String;
use std::vec::Vec;

use wsmachine::config::defaults as d;

use crate::types::wsm_config;
use crate::*;

/// `(field, documented default)` for every `wsm_config` field whose comment says
/// "(default N …", reading "16 MiB" / "8 KiB" as numbers.
fn documented_defaults(header: &str) -> Vec<(String, u64)> {
    let body = header
        .split("} wsm_config;")
        .next()
        .and_then(|s| s.rsplit("typedef struct {").next())
        .expect("wsm_config in the header");
    let mut out = Vec::new();
    let mut comment = String::new();
    for line in body.lines().map(str::trim) {
        if let Some(c) = line.strip_prefix("//") {
            comment.push_str(c);
            comment.push(' ');
            continue;
        }
        let Some(field) = line
            .strip_suffix(';')
            .and_then(|l| l.split_whitespace().last())
        else {
            continue;
        };
        if let Some(rest) = comment.split("(default ").nth(1) {
            let mut words = rest.split([' ', ';', ')']);
            let n: u64 = words.next().and_then(|w| w.parse().ok()).expect("a number");
            let scale = match words.next() {
                Some("KiB") => 1 << 10,
                Some("MiB") => 1 << 20,
                _ => 1,
            };
            out.push((String::from(field), n * scale));
        }
        comment.clear();
    }
    out
}

#[test]
fn header_states_the_cores_defaults() {
    let header = include_str!("../../include/wsmachine.h");
    let want: [(&str, u64); 10] = [
        ("max_frame_payload", d::MAX_FRAME_PAYLOAD),
        ("max_message_size", d::MAX_MESSAGE_SIZE),
        ("max_fragments", u64::from(d::MAX_FRAGMENTS)),
        ("max_handshake_size", d::MAX_HANDSHAKE_SIZE as u64),
        ("handshake_timeout_ms", u64::from(d::HANDSHAKE_TIMEOUT_MS)),
        ("auth_timeout_ms", u64::from(d::AUTH_TIMEOUT_MS)),
        ("keepalive_interval_ms", u64::from(d::KEEPALIVE_INTERVAL_MS)),
        ("keepalive_timeout_ms", u64::from(d::KEEPALIVE_TIMEOUT_MS)),
        ("close_timeout_ms", u64::from(d::CLOSE_TIMEOUT_MS)),
        ("allowed_rsv", u64::from(d::ALLOWED_RSV)),
    ];
    let got = documented_defaults(header);
    for (field, value) in want {
        let doc = got.iter().find(|(f, _)| f == field).map(|(_, v)| *v);
        assert_eq!(
            doc,
            Some(value),
            "wsm_config.{field}: the header's documented default"
        );
    }
    assert_eq!(
        got.len(),
        want.len(),
        "a documented default this test does not know"
    );
}

#[test]
fn config_default_is_the_cores() {
    let mut c = core::mem::MaybeUninit::<wsm_config>::uninit();
    // SAFETY: a valid pointer to writable memory for one wsm_config.
    let r = unsafe { wsm_config_default(c.as_mut_ptr()) };
    assert_eq!(r, wsm_result::WSM_OK);
    // SAFETY: initialised by the call above.
    let c = unsafe { c.assume_init() };
    let core = wsmachine::Config::new();
    assert_eq!(c.max_frame_payload, core.max_frame_payload);
    assert_eq!(c.max_message_size, core.max_message_size);
    assert_eq!(c.max_fragments, core.max_fragments);
    assert_eq!(c.max_handshake_size as usize, core.max_handshake_size);
    assert_eq!(c.handshake_timeout_ms, core.handshake_timeout_ms);
    assert_eq!(c.auth_timeout_ms, core.auth_timeout_ms);
    assert_eq!(c.keepalive_interval_ms, core.keepalive_interval_ms);
    assert_eq!(c.keepalive_timeout_ms, core.keepalive_timeout_ms);
    assert_eq!(c.close_timeout_ms, core.close_timeout_ms);
    assert_eq!(c.auto_pong == 1, core.auto_pong);
    assert_eq!(c.allowed_rsv, core.allowed_rsv);
}
