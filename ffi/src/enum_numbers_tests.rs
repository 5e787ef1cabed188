//! Every place outside `types.rs` that states the numbers of an enum agrees with the Rust
//! definitions: `from_u32` and the message table (derived from them), the checked-in C header,
//! and the pure-Python enumerations of `python/wsmachine/_types.py` that restate the core's
//! numbers (ready states, opcodes, close codes).

extern crate std;

use std::format;
use std::string::{String, ToString};
use std::vec::Vec;

use wsmachine::frame::OpCode;
use wsmachine::{CloseCode, CloseStatus, Phase, ReadyState};

use crate::*;

/// `(enum name, [(variant, number)])` of every C enum, from the Rust definitions.
fn rust_enums() -> Vec<(&'static str, Vec<(String, u32)>)> {
    macro_rules! table {
        ($($ty:ident),+) => {
            std::vec![$((
                stringify!($ty),
                $ty::ALL.iter().map(|v| (format!("{v:?}"), *v as u32)).collect(),
            )),+]
        };
    }
    table!(
        wsm_result,
        wsm_role,
        wsm_message_kind,
        wsm_ready_state,
        wsm_conn_phase,
        wsm_event_type,
        wsm_protocol_error,
        wsm_handshake_error,
        wsm_failure_kind
    )
}

fn read(path_from_repo: &str) -> String {
    let path = format!("{}/../{path_from_repo}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `(enum name, [(variant, number)])` of every `enum` in the C header, in header order.
fn header_enums(header: &str) -> Vec<(String, Vec<(String, u32)>)> {
    let mut enums = Vec::new();
    let mut lines = header.lines();
    while let Some(line) = lines.next() {
        let Some(name) = line.strip_prefix("enum ") else {
            continue;
        };
        let mut variants = Vec::new();
        for line in lines.by_ref() {
            let line = line.trim();
            if line == "};" {
                break;
            }
            if let Some((variant, number)) = line.trim_end_matches(',').split_once(" = ") {
                if variant.starts_with("WSM_") {
                    let n = number.parse().unwrap_or_else(|_| panic!("{name}: {line}"));
                    variants.push((variant.to_string(), n));
                }
            }
        }
        enums.push((name.trim().to_string(), variants));
    }
    enums
}

/// The members `NAME = number` of `class <class>(...)` in a Python module.
fn python_enum(source: &str, class: &str) -> Vec<(String, u32)> {
    let head = format!("class {class}(");
    let mut members = Vec::new();
    let mut inside = false;
    for line in source.lines() {
        if line.starts_with(&head) {
            inside = true;
            continue;
        }
        if inside && !line.is_empty() && !line.starts_with(' ') {
            break;
        }
        let Some((name, value)) = line.strip_prefix("    ").and_then(|l| l.split_once(" = "))
        else {
            continue;
        };
        if !inside || !name.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') {
            continue;
        }
        let n = match value.strip_prefix("0x") {
            Some(hex) => u32::from_str_radix(hex, 16),
            None => value.parse(),
        };
        members.push((
            name.to_string(),
            n.unwrap_or_else(|_| panic!("{class}: {line}")),
        ));
    }
    assert!(!members.is_empty(), "class {class} not found or empty");
    members
}

#[test]
fn every_variant_round_trips_through_from_u32() {
    macro_rules! check {
        ($($ty:ident),+) => {$(
            for &v in $ty::ALL {
                assert_eq!($ty::from_u32(v as u32), Some(v));
            }
            for n in (0..=255).chain([u32::MAX]) {
                if let Some(v) = $ty::from_u32(n) {
                    assert_eq!(v as u32, n, stringify!($ty));
                }
            }
            assert_eq!(
                (0..=255).filter(|&n| $ty::from_u32(n).is_some()).count(),
                $ty::ALL.len(),
                stringify!($ty)
            );
        )+};
    }
    check!(
        wsm_result,
        wsm_role,
        wsm_message_kind,
        wsm_ready_state,
        wsm_conn_phase,
        wsm_event_type,
        wsm_protocol_error,
        wsm_handshake_error,
        wsm_failure_kind
    );
}

#[test]
fn every_result_has_its_own_message_and_other_numbers_are_unknown() {
    let text = |n: u32| {
        // SAFETY: wsm_result_str returns a static NUL-terminated string for every number.
        unsafe { core::ffi::CStr::from_ptr(wsm_result_str(n)) }
            .to_str()
            .unwrap()
    };
    let mut seen = Vec::new();
    for &r in wsm_result::ALL {
        let m = text(r as u32);
        assert_eq!(m, r.message().to_str().unwrap());
        assert!(!m.is_empty() && m != "unknown result", "{r:?}: {m:?}");
        assert!(!seen.contains(&m), "{r:?} repeats the message {m:?}");
        seen.push(m);
    }
    for n in (0..=255).chain([u32::MAX]) {
        if wsm_result::from_u32(n).is_none() {
            assert_eq!(text(n), "unknown result", "{n}");
        }
    }
}

/// The numbers are ABI: once published, a variant keeps its number. New ones are appended
/// after the highest (below the OTHER catch-all), never renumbered. This table is the record.
#[test]
fn published_numbers_never_change() {
    fn check<T: core::fmt::Debug + Copy>(all: &[T], num: impl Fn(T) -> u32, want: &[(&str, u32)]) {
        let got: Vec<(String, u32)> = all.iter().map(|&v| (format!("{v:?}"), num(v))).collect();
        let want: Vec<(String, u32)> = want.iter().map(|&(n, v)| (n.to_string(), v)).collect();
        assert_eq!(got, want);
    }
    check(
        wsm_result::ALL,
        |v| v as u32,
        &[
            ("WSM_OK", 0),
            ("WSM_ERR_NULL", 1),
            ("WSM_ERR_INVALID_HANDLE", 2),
            ("WSM_ERR_INVALID_ARGUMENT", 3),
            ("WSM_ERR_PANIC", 4),
            ("WSM_ERR_MEMORY", 5),
            ("WSM_ERR_BUFFER_TOO_SMALL", 10),
            ("WSM_ERR_INVALID_STATE", 11),
            ("WSM_ERR_INVALID_CLOSE_CODE", 12),
            ("WSM_ERR_REASON_TOO_LONG", 13),
            ("WSM_ERR_CONTROL_TOO_LONG", 14),
            ("WSM_ERR_INVALID_UTF8", 15),
            ("WSM_ERR_MESSAGE_STATE", 16),
            ("WSM_ERR_FRAME_IN_PROGRESS", 17),
            ("WSM_ERR_PAYLOAD_OVERRUN", 18),
            ("WSM_ERR_NO_FRAME_IN_PROGRESS", 19),
            ("WSM_ERR_INVALID_HEADER", 20),
            ("WSM_ERR_INVALID_STATUS", 21),
            ("WSM_ERR_HANDSHAKE", 22),
            ("WSM_ERR_INVALID_CONFIG", 23),
            // permessage-deflate (appended).
            ("WSM_ERR_NOT_COMPRESSED", 24),
            ("WSM_ERR_SHARED_CONTEXT", 25),
            ("WSM_ERR_CODEC_BUSY", 26),
            ("WSM_ERR_OTHER", 99),
        ],
    );
    check(
        wsm_protocol_error::ALL,
        |v| v as u32,
        &[
            ("WSM_PE_NONE", 0),
            ("WSM_PE_RESERVED_BITS", 1),
            ("WSM_PE_RESERVED_OPCODE", 2),
            ("WSM_PE_FRAGMENTED_CONTROL", 3),
            ("WSM_PE_CONTROL_TOO_LONG", 4),
            ("WSM_PE_UNMASKED_FRAME", 5),
            ("WSM_PE_MASKED_FRAME", 6),
            ("WSM_PE_LENGTH_OVERFLOW", 7),
            ("WSM_PE_UNEXPECTED_CONTINUATION", 8),
            ("WSM_PE_EXPECTED_CONTINUATION", 9),
            ("WSM_PE_INVALID_UTF8", 10),
            ("WSM_PE_INVALID_CLOSE_PAYLOAD", 11),
            ("WSM_PE_INVALID_CLOSE_CODE", 12),
            ("WSM_PE_FRAME_TOO_LARGE", 13),
            ("WSM_PE_MESSAGE_TOO_LARGE", 14),
            ("WSM_PE_TOO_MANY_FRAGMENTS", 15),
            ("WSM_PE_AUTH_TIMEOUT", 16),
            ("WSM_PE_INVALID_COMPRESSED_DATA", 17),
            ("WSM_PE_OTHER", 99),
        ],
    );
    let he = wsm_handshake_error::ALL;
    assert_eq!(he[18], wsm_handshake_error::WSM_HE_REJECTED);
    assert_eq!(he[18] as u32, 18);
    assert_eq!(
        he[19..],
        [
            wsm_handshake_error::WSM_HE_INVALID_EXTENSION,
            wsm_handshake_error::WSM_HE_OTHER
        ]
    );
    assert_eq!(wsm_handshake_error::WSM_HE_INVALID_EXTENSION as u32, 19);
    assert_eq!(WSM_FLAG_COMPRESSED, 32);
}

/// The core's permessage-deflate errors reach C as their own numbers, not as OTHER.
#[test]
fn deflate_errors_have_their_own_numbers() {
    assert_eq!(
        wsm_result::from(wsmachine::Error::NotCompressed),
        wsm_result::WSM_ERR_NOT_COMPRESSED
    );
    assert_eq!(
        wsm_protocol_error::from(wsmachine::ProtocolError::InvalidCompressedData),
        wsm_protocol_error::WSM_PE_INVALID_COMPRESSED_DATA
    );
    assert_eq!(
        wsm_handshake_error::from(wsmachine::HandshakeError::InvalidExtension),
        wsm_handshake_error::WSM_HE_INVALID_EXTENSION
    );
    assert_eq!(
        wsm_result::from(wsmachine::Error::InvalidConfig(
            wsmachine::ConfigError::InvalidDeflate
        )),
        wsm_result::WSM_ERR_INVALID_CONFIG
    );
}

#[test]
fn handshake_errors_a_server_can_send_map_back_to_themselves() {
    let mut sendable = 0;
    for &v in wsm_handshake_error::ALL {
        if let Some(e) = v.to_rust() {
            assert_eq!(wsm_handshake_error::from(e), v);
            sendable += 1;
        }
    }
    assert!(sendable > 0);
}

#[test]
fn header_enums_match_the_rust_enums() {
    let header = header_enums(&read("include/wsmachine.h"));
    let rust = rust_enums();
    for (name, variants) in &header {
        let Some((_, ours)) = rust.iter().find(|(n, _)| n == name) else {
            panic!("include/wsmachine.h has enum {name}, which this test does not know: add it to rust_enums()");
        };
        assert_eq!(
            variants, ours,
            "enum {name}: include/wsmachine.h differs from ffi/src/types.rs (run `make header`)"
        );
    }
    for (name, _) in &rust {
        assert!(
            header.iter().any(|(n, _)| n == name),
            "enum {name} is missing from include/wsmachine.h (run `make header`)"
        );
    }
}

/// `Connecting` -> `CONNECTING` (the core's variants here are single words).
fn upper<T: core::fmt::Debug>(v: T) -> String {
    format!("{v:?}").to_ascii_uppercase()
}

const READY_STATES: [ReadyState; 4] = [
    ReadyState::Connecting,
    ReadyState::Open,
    ReadyState::Closing,
    ReadyState::Closed,
];

#[test]
fn c_ready_states_are_the_cores() {
    for s in READY_STATES {
        let c = wsm_ready_state::from(s);
        assert_eq!(c as u32, s as u32, "{s:?}");
        assert_eq!(format!("{c:?}"), format!("WSM_{}", upper(s)));
    }
    assert_eq!(wsm_ready_state::ALL.len(), READY_STATES.len());
}

/// `LocalClosing` -> `LOCAL_CLOSING`.
fn upper_snake<T: core::fmt::Debug>(v: T) -> String {
    let mut s = String::new();
    for (i, c) in format!("{v:?}").chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            s.push('_');
        }
        s.push(c.to_ascii_uppercase());
    }
    s
}

/// The core's phases this version knows (`Phase` is non-exhaustive: a new one maps to
/// WSM_PHASE_OTHER until it gets its own number).
const PHASES: [Phase; 6] = [
    Phase::Handshake,
    Phase::Rejecting,
    Phase::Open,
    Phase::LocalClosing,
    Phase::RemoteClosing,
    Phase::Closed,
];

#[test]
fn c_phases_are_the_cores() {
    for p in PHASES {
        let c = wsm_conn_phase::from(p);
        assert_eq!(format!("{c:?}"), format!("WSM_PHASE_{}", upper_snake(p)));
    }
    // Every C phase but OTHER stands for exactly one core phase.
    assert_eq!(wsm_conn_phase::ALL.len(), PHASES.len() + 1);
    assert_eq!(
        wsm_conn_phase::ALL.last(),
        Some(&wsm_conn_phase::WSM_PHASE_OTHER)
    );
}

#[test]
fn python_enums_restate_the_cores_numbers() {
    let types = read("python/wsmachine/_types.py");

    let ready: Vec<_> = READY_STATES.iter().map(|&s| (upper(s), s as u32)).collect();
    assert_eq!(
        python_enum(&types, "ReadyState"),
        ready,
        "python/wsmachine/_types.py ReadyState differs from wsmachine::ReadyState"
    );

    let opcodes: Vec<_> = (0..16)
        .filter_map(OpCode::from_u8)
        .map(|op| (upper(op), op as u32))
        .collect();
    assert_eq!(
        python_enum(&types, "Opcode"),
        opcodes,
        "python/wsmachine/_types.py Opcode differs from wsmachine::frame::OpCode"
    );

    // CloseReason uses wsproto's names (NORMAL_CLOSURE, ...): its codes must be exactly the
    // codes the core names, and a name both use must mean the same code.
    let core_named: Vec<(u16, Option<&str>)> = (0..5000)
        .filter_map(|c| match CloseCode::new(c) {
            Some(code) => code.name().map(|n| (c, Some(n))),
            None => CloseStatus::from_u16(c).map(|_| (c, None)),
        })
        .collect();
    let python = python_enum(&types, "CloseReason");
    let python_codes: Vec<u16> = python.iter().map(|&(_, c)| c as u16).collect();
    let core_codes: Vec<u16> = core_named.iter().map(|&(c, _)| c).collect();
    assert_eq!(
        python_codes, core_codes,
        "python/wsmachine/_types.py CloseReason: codes differ from the core's named close codes"
    );
    for (name, code) in &python {
        if let Some(&(c, _)) = core_named.iter().find(|(_, n)| *n == Some(name.as_str())) {
            assert_eq!(u32::from(c), *code, "CloseReason.{name}");
        }
    }
}
