//! The C docs state the configuration defaults (the field comments of `wsm_config` and
//! `wsm_deflate_config` in the checked-in header); they must be the core's
//! (`wsmachine::config::defaults`, `DeflateConfig::new()`), and `wsm_config_default` must
//! fill in exactly `Config::new()` (and the core's permessage-deflate defaults, off).

extern crate std;

use std::format;
use std::string::String;
use std::vec::Vec;

use wsmachine::config::defaults as d;

use crate::types::wsm_config;
use crate::*;

/// `(field, documented default)` for every field of the C struct `name` whose comment says
/// "(default N …", reading "16 MiB" / "8 KiB" as numbers.
fn documented_defaults(header: &str, name: &str) -> Vec<(String, u64)> {
    let end = format!("}} {name};");
    let body = header
        .split(end.as_str())
        .next()
        .and_then(|s| s.rsplit("typedef struct {").next())
        .expect("the struct in the header");
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
    let got = documented_defaults(header, "wsm_config");
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
    // permessage-deflate: off, as the core's `Config::deflate` (None); the values are the
    // core's `DeflateConfig::new()` and `DEFAULT_LEVEL`.
    assert_eq!(c.deflate.enabled, 0);
    #[cfg(feature = "deflate")]
    {
        assert!(core.deflate.is_none());
        let d = wsmachine::deflate::DeflateConfig::new();
        assert_eq!(c.deflate.compress_window_bits, d.compress_window_bits);
        assert_eq!(c.deflate.decompress_window_bits, d.decompress_window_bits);
        assert_eq!(c.deflate.min_window_bits, d.min_window_bits);
        assert_eq!(c.deflate.level, wsmachine::deflate::DEFAULT_LEVEL);
        assert_eq!(c.deflate.no_context_takeover == 1, d.no_context_takeover);
        assert_eq!(
            c.deflate.peer_no_context_takeover == 1,
            d.peer_no_context_takeover
        );
        assert_eq!(c.deflate.min_message_size, d.min_message_size);
    }
}

#[cfg(feature = "deflate")]
#[test]
fn header_states_the_cores_deflate_defaults() {
    let header = include_str!("../../include/wsmachine.h");
    let d = wsmachine::deflate::DeflateConfig::new();
    let want: [(&str, u64); 8] = [
        ("enabled", 0),
        ("compress_window_bits", u64::from(d.compress_window_bits)),
        (
            "decompress_window_bits",
            u64::from(d.decompress_window_bits),
        ),
        ("min_window_bits", u64::from(d.min_window_bits)),
        ("level", u64::from(wsmachine::deflate::DEFAULT_LEVEL)),
        ("no_context_takeover", u64::from(d.no_context_takeover)),
        (
            "peer_no_context_takeover",
            u64::from(d.peer_no_context_takeover),
        ),
        ("min_message_size", u64::from(d.min_message_size)),
    ];
    let got = documented_defaults(header, "wsm_deflate_config");
    for (field, value) in want {
        let doc = got.iter().find(|(f, _)| f == field).map(|(_, v)| *v);
        assert_eq!(
            doc,
            Some(value),
            "wsm_deflate_config.{field}: the header's documented default"
        );
    }
    assert_eq!(
        got.len(),
        want.len(),
        "a documented default this test does not know"
    );
}

/// The defaults a build without the `deflate` feature writes are the same numbers.
#[cfg(feature = "deflate")]
#[test]
fn deflate_defaults_without_the_feature_are_the_same_numbers() {
    let src = include_str!("deflate.rs");
    let fallback = src
        .split("#[cfg(not(feature = \"deflate\"))]\n    wsm_deflate_config {")
        .nth(1)
        .and_then(|s| s.split('}').next())
        .expect("the fallback defaults in deflate.rs");
    let c = crate::deflate::default_config();
    for (field, value) in [
        ("enabled", u32::from(c.enabled)),
        ("compress_window_bits", u32::from(c.compress_window_bits)),
        (
            "decompress_window_bits",
            u32::from(c.decompress_window_bits),
        ),
        ("min_window_bits", u32::from(c.min_window_bits)),
        ("level", u32::from(c.level)),
        ("no_context_takeover", u32::from(c.no_context_takeover)),
        (
            "peer_no_context_takeover",
            u32::from(c.peer_no_context_takeover),
        ),
        ("min_message_size", c.min_message_size),
    ] {
        let line = format!("{field}: {value},");
        assert!(
            fallback.lines().any(|l| l.trim() == line),
            "deflate.rs without the feature: {line} expected"
        );
    }
}
