//! Differential tests of the `wsmachine` frame decoder against an independent implementation,
//! [tungstenite](https://docs.rs/tungstenite/0.30.0) 0.30.0, in `tests/differential.rs`. The
//! streams are encoded by the tests' own codec (`wsmachine-test-support`), independent of both.
//!
//! Random **valid** frame streams (text and binary messages, fragmented at arbitrary byte
//! positions — also inside UTF-8 code points — with pings and pongs between the fragments, an
//! optional close frame at the end; masked towards a server, unmasked towards a client;
//! delivered in reads of arbitrary sizes) must decode to the same sequence of messages in both
//! implementations, and to the messages the stream was built from. Random **invalid**
//! streams (a valid prefix followed by one violation of RFC 6455) must be rejected by both,
//! after the same messages.
//!
//! # Known disagreements, and who is right
//!
//! | input | wsmachine | tungstenite 0.30.0 | RFC 6455 |
//! |---|---|---|---|
//! | close code 1014 (Bad Gateway) | accepted, echoed | replaced by 1002 "Protocol violation" (its `CloseCode::from` maps 1014 to `Bad`) | 1014 is assigned in the IANA *WebSocket Close Code Number Registry* that §11.7 creates, so it may be sent and received: **wsmachine is right** |
//! | close frame with a code that may not be sent (0–999, 1004–1006, 1015–2999, ≥ 5000) | fails the connection, close 1002 (`InvalidCloseCode`) | reports a `Close` message whose code it replaced by 1002 and replies 1002 | §7.4.1 forbids these codes on the wire; §7.1.7 says to fail the connection on invalid data. Both answer 1002 on the wire; wsmachine reports it as a failure (more precise; the application never sees an invalid code as if the peer had sent 1002). **Both acceptable**; the tests accept either form |
//! | ping/pong/close whose length ≤ 125 is written in the 16- or 64-bit form (non-minimal) | fails the connection, 1002 (`ControlTooLong`) | accepts | §5.2: "the minimal number of bytes MUST be used to encode the length"; §5.5: control frames "MUST have a payload length of 125 bytes or less" — the 7-bit length field is 126/127 here, so the frame is non-conforming: **wsmachine's rejection is the stricter, RFC-correct reading**; tungstenite's leniency is harmless |
//!
//! Everything else generated here agrees, including: non-minimal length encodings (both
//! accept them; §5.2 obliges only the sender to use the minimal form), reserved opcodes and
//! RSV bits, fragmented or over-long control frames, masking in the wrong direction,
//! continuation errors, invalid UTF-8 in text (also split across fragments) and in close
//! reasons, one-byte close payloads, and 64-bit lengths with the top bit set (wsmachine: 1002
//! `LengthOverflow`; tungstenite: its frame size limit).
