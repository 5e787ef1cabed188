//! # wsmachine
//!
//! A WebSocket ([RFC 6455]) protocol engine: `no_std`, no allocation, no I/O, no clock, no
//! `unsafe`, and no panics on any input.
//!
//! The caller owns every byte and every tick. Bytes read from the transport go in
//! ([`Connection::read`], after [`Connection::read_request`] or
//! [`Connection::read_response`] for the opening handshake); the connection unmasks payload
//! in place and reports [`Event`]s that borrow the caller's buffer. Messages to send are
//! written as frames into caller buffers. Time comes in as milliseconds
//! ([`Connection::handle_timeout`], [`Connection::poll_timeout`]); randomness for masking
//! keys and handshake keys comes from the caller.
//!
//! See [`Connection`] for the I/O contract and an example.
//!
//! What is covered: the client and server opening handshakes (with subprotocols, extension
//! negotiation pass-through, rejections with bodies, origin checks, RFC 8441 validation),
//! framing with every opcode, masking, fragmentation, streaming sends and receives whose memory
//! use does not depend on message size, fail-fast UTF-8 validation, ping/pong, limits
//! ([`Config`]), keepalive and dead-peer detection, handshake/authentication/close timeouts,
//! the closing handshake with the RFC's close codes ([`CloseCode`], [`CloseStatus`]), a
//! client reconnect policy ([`reconnect`]), and (feature `deflate`) permessage-deflate
//! ([RFC 7692]) with codecs in caller memory: the `deflate` module and docs/deflate.md.
//!
//! [RFC 7692]: https://www.rfc-editor.org/rfc/rfc7692
//!
//! [RFC 6455]: https://www.rfc-editor.org/rfc/rfc6455
#![no_std]
// No `unsafe` anywhere, except (with `std`, on x86_64) the one fenced module `simd`: AVX2
// masking and SHA-NI SHA-1, each called after a run-time CPU check.
#![cfg_attr(not(all(feature = "std", target_arch = "x86_64")), forbid(unsafe_code))]
#![cfg_attr(all(feature = "std", target_arch = "x86_64"), deny(unsafe_code))]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::unreachable,
        clippy::todo,
        clippy::unimplemented,
        clippy::indexing_slicing
    )
)]
#![warn(missing_docs)]

#[cfg(any(feature = "std", test))]
extern crate std;

pub mod close;
pub mod config;
mod connection;
#[cfg(feature = "deflate")]
pub mod deflate;
#[cfg(feature = "defmt")]
mod defmt;
pub mod error;
pub mod event;
pub mod frame;
pub mod handshake;
pub mod mask;
pub mod reconnect;
pub mod rng;
#[cfg(all(feature = "std", target_arch = "x86_64"))]
#[allow(unsafe_code)]
mod simd;
pub mod utf8;

pub use close::{CloseCode, CloseStatus};
pub use config::{Config, ConfigError};
#[cfg(feature = "deflate")]
pub use connection::Inflated;
pub use connection::{
    Connection, Failure, Phase, ReadyState, ResponseStatus, Role, MAX_PENDING_INPUT,
};
pub use error::{Error, HandshakeError, ProtocolError};
pub use event::{DataChunk, Event, MessageKind, ReadOutcome};
pub use handshake::client::{ClientRequest, Response};
pub use handshake::server::{validate_extended_connect, Accept, ParsedRequest, Request};
pub use handshake::{accept_key, Header, EMPTY_HEADER};

/// The README's Rust example, compiled and run as a doctest so that it stays true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
