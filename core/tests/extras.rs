//! Handshake paths not covered by the pair and hostile tests: RFC 8441 validation, the
//! application's origin check answered with 403, and RSV bits allowed for an extension.

use wsmachine::{
    validate_extended_connect, Accept, Config, Connection, Event, HandshakeError, ParsedRequest,
    Role, EMPTY_HEADER,
};

const REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Version: 13\r\nOrigin: https://evil.example\r\n\r\n";

#[test]
fn rfc8441_extended_connect() {
    assert_eq!(
        validate_extended_connect("CONNECT", Some("websocket"), Some(b"13")),
        Ok(())
    );
    assert_eq!(
        validate_extended_connect("CONNECT", Some("WebSocket"), Some(b" 13 ")),
        Ok(())
    );
    assert_eq!(
        validate_extended_connect("GET", Some("websocket"), Some(b"13")),
        Err(HandshakeError::NotExtendedConnect)
    );
    assert_eq!(
        validate_extended_connect("CONNECT", None, Some(b"13")),
        Err(HandshakeError::NotExtendedConnect)
    );
    assert_eq!(
        validate_extended_connect("CONNECT", Some("h2c"), Some(b"13")),
        Err(HandshakeError::NotExtendedConnect)
    );
    assert_eq!(
        validate_extended_connect("CONNECT", Some("websocket"), Some(b"8")),
        Err(HandshakeError::UnsupportedVersion)
    );
    assert_eq!(
        validate_extended_connect("CONNECT", Some("websocket"), None),
        Err(HandshakeError::MissingVersion)
    );
}

#[test]
fn origin_not_allowed_answers_403_and_closes() {
    let mut conn = Connection::server(Config::new(), 0).unwrap();
    let mut headers = [EMPTY_HEADER; 16];
    let allowed = match conn.read_request(0, REQUEST, &mut headers) {
        Ok(ParsedRequest::Complete { request, .. }) => {
            assert_eq!(request.origin(), Some(&b"https://evil.example"[..]));
            assert!(request.origin_allowed(&["https://evil.example"]));
            request.origin_allowed(&["https://app.example", "https://www.example"])
        }
        other => panic!("{other:?}"),
    };
    assert!(!allowed);
    conn.fail_handshake(HandshakeError::OriginNotAllowed)
        .unwrap();
    // Accepting after failing the handshake is refused.
    let mut out = [0u8; 512];
    assert!(conn.accept(0, &Accept::default(), &mut out).is_err());
    let n = conn.poll_transmit(&mut out).unwrap();
    assert!(
        out[..n].starts_with(b"HTTP/1.1 403 Forbidden\r\n"),
        "{:?}",
        &out[..n]
    );
    assert!(conn.should_close_transport());
    assert_eq!(conn.poll_transmit(&mut out).unwrap(), 0);
}

#[test]
fn allowed_rsv_bits_reach_the_application() {
    let mut config = Config::new();
    config.allowed_rsv = 0b100; // RSV1, as permessage-deflate would use
    let mut conn = Connection::new_open(Role::Client, config, 0, [0; 16]).unwrap();
    let mut frame = *b"\xc2\x03abc"; // FIN + RSV1, binary, unmasked (server to client)
    let read = conn.read(0, &mut frame).unwrap();
    match read.event {
        Some(Event::Data(chunk)) => {
            assert_eq!(chunk.rsv, 0b100);
            assert_eq!(chunk.data, b"abc");
        }
        other => panic!("{other:?}"),
    }
    // RSV2 is still a protocol error.
    let mut frame = *b"\xa2\x00";
    let read = conn.read(0, &mut frame).unwrap();
    assert!(matches!(read.event, Some(Event::Failed(_))), "{read:?}");
}
