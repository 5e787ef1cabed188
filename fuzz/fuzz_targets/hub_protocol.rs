//! wsmachine-hub's parsers of untrusted input: the JSON request parser, session cookies and
//! connection tokens (HMAC), the HTTP request head, RESP replies (from Redis), permission
//! rules and Redis URLs (from the command line). None may panic or accept a forgery.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use wsmachine_hub::auth::{self, Authority};

fn authority() -> &'static Authority {
    static A: OnceLock<Authority> = OnceLock::new();
    A.get_or_init(|| Authority::new(b"fuzz-key-0123456789abcdef-fuzz-key"))
}

fuzz_target!(|data: &[u8]| {
    let mut budget = 1 << 20;
    let _ = wsmachine_hub::resp::parse(data, &mut budget);
    let _ = wsmachine_hub::http::parse_head(data);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(req) = wsmachine_hub::protocol::parse(text) {
        // What the hub echoes back must serialise.
        let _ = format!("{req:?}");
    }
    let a = authority();
    // Without the key, nothing parses as a valid credential (the MAC would have to be forged).
    assert!(a.check_session(text, 0).is_err(), "forged session accepted: {text:?}");
    assert!(a.redeem_token(text, 0).is_err(), "forged token accepted: {text:?}");
    // A real credential still round-trips after the fuzz input touched the used-token set.
    if data.len() == 1 {
        let t = a.token("fuzz", u64::MAX);
        assert_eq!(a.redeem_token(&t, 1).as_deref(), Ok("fuzz"));
        assert!(a.redeem_token(&t, 1).is_err());
    }
    let _ = auth::Rule::parse(text);
    let _ = wsmachine_hub::resp::parse_url(text);
    let _ = auth::valid_user(text);
    let _ = wsmachine_hub::protocol::valid_channel(text);
});
