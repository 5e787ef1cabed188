//! Close payload parsing, through a close frame fed to an open connection (either role,
//! split at an arbitrary point, possibly after other frames): the outcome must follow
//! RFC 6455 §5.5.1 and §7.4 — an empty payload is a close without status; a one-byte payload,
//! a code outside 1000–1003, 1007–1014, 3000–4999, or a reason that is not UTF-8 fails the
//! connection (1002, or 1007 for bad UTF-8); anything else is accepted and echoed.
//!
//! Input: `flags: u8` (bit 0: client role; bit 1: we closed first; bit 2: payload of one
//! byte; bit 3: a data frame first), `code: u16` (big endian), `cut: u8`, then the reason.
#![no_main]

use arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use wsmachine::{CloseCode, CloseStatus, Config, Connection, ProtocolError, ReadyState, Role};
use wsmachine_fuzz::{code_allowed_on_wire, frame_for, Harness};
use wsmachine_test_support::codec::close_payload;

fn run(data: &[u8]) -> Result<()> {
    let mut u = Unstructured::new(data);
    let flags: u8 = u.arbitrary()?;
    let code = u16::from_be_bytes([u.arbitrary()?, u.arbitrary()?]);
    let cut: u8 = u.arbitrary()?;
    let reason = u.take_rest();
    let role = if flags & 1 != 0 {
        Role::Client
    } else {
        Role::Server
    };
    let conn = Connection::new_open(role, Config::new(), 0, [3; 16]).expect("defaults are valid");
    let mut h = Harness::new(conn, Config::new());
    let we_closed = flags & 2 != 0;
    if we_closed {
        let r = h.send(256, false, |c, o| {
            c.close(0, CloseCode::GOING_AWAY, "bye", o)
        });
        assert!(r.is_ok());
        assert_eq!(h.conn.state(), ReadyState::Closing);
    }
    if flags & 8 != 0 {
        let f = frame_for(role, 0x82, b"data", [1, 2, 3, 4], false, false);
        h.feed(&f, 256);
    }
    let payload: Vec<u8> = if flags & 4 != 0 {
        vec![(code >> 8) as u8]
    } else if reason.is_empty() && code == 0 {
        Vec::new()
    } else {
        close_payload(code, reason)
    };
    let frame = frame_for(role, 0x88, &payload, [0xde, 0xad, 0xbe, 0xef], false, false);
    let cut = usize::from(cut) % (frame.len() + 1);
    if payload.len() > 125 {
        // The header alone must fail the connection.
        let head = &frame[..2];
        h.feed(head, 256);
        assert_eq!(h.failed, Some(ProtocolError::ControlTooLong));
        return Ok(());
    }
    h.feed(&frame[..cut], 256);
    if cut < frame.len() {
        assert!(
            h.failed.is_none() && h.closed_with.is_none(),
            "verdict before the whole frame"
        );
    }
    h.feed(&frame[cut..], 256);

    let expect: core::result::Result<(CloseStatus, &[u8]), ProtocolError> = match payload.len() {
        0 => Ok((CloseStatus::NoStatus, &[])),
        1 => Err(ProtocolError::InvalidClosePayload),
        _ if !code_allowed_on_wire(code) => Err(ProtocolError::InvalidCloseCode),
        _ => match core::str::from_utf8(reason) {
            Ok(_) => Ok((
                CloseStatus::Code(CloseCode::new(code).expect("allowed")),
                reason,
            )),
            Err(_) => Err(ProtocolError::InvalidUtf8),
        },
    };
    match expect {
        Ok((status, r)) => {
            let (got, got_reason) = h.closed_with.clone().expect("close accepted");
            assert_eq!(got, status);
            assert_eq!(got_reason.as_bytes(), r);
            assert!(h.failed.is_none());
            if we_closed {
                // Our close came first: it is the only close we write.
                assert_eq!(h.out.close_code, Some(Some(1001)));
            } else {
                let echo = match status {
                    CloseStatus::Code(c) => Some(c.get()),
                    _ => None,
                };
                assert_eq!(h.out.close_code, Some(echo), "reply does not echo the code");
            }
        }
        Err(e) => {
            assert_eq!(h.failed, Some(e));
            assert!(h.closed_with.is_none());
            if we_closed {
                assert_eq!(h.out.close_code, Some(Some(1001)));
            } else {
                let want = if e == ProtocolError::InvalidUtf8 {
                    1007
                } else {
                    1002
                };
                assert_eq!(e.close_code().get(), want);
                assert_eq!(h.out.close_code, Some(Some(want)));
            }
        }
    }
    // Nothing further is processed.
    let more = frame_for(role, 0x81, b"late", [9, 9, 9, 9], false, false);
    let before = h.events;
    h.feed(&more, 256);
    assert_eq!(h.events, before, "input processed after the close frame");
    h.jump(256);
    h.jump(256);
    assert_ne!(h.conn.state(), ReadyState::Open);
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(data);
});
