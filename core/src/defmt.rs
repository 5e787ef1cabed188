//! [`defmt::Format`] for the error, event and state types (feature `defmt`), so that firmware
//! can log them with `defmt::info!("{}", event)` without `core::fmt`.
//!
//! Errors print their short description and the wire code that goes with it (close code or
//! HTTP status); payload prints as bytes, close reasons as text.

use ::defmt::{write, Format, Formatter};

use crate::close::{CloseCode, CloseStatus};
use crate::config::ConfigError;
use crate::connection::{Failure, Phase, ReadyState, Role};
use crate::error::{Error, HandshakeError, ProtocolError};
use crate::event::{DataChunk, Event, MessageKind, ReadOutcome};

impl Format for Error {
    fn format(&self, f: Formatter<'_>) {
        match *self {
            Error::BufferTooSmall { needed } => {
                write!(f, "BufferTooSmall {{ needed: {=usize} }}", needed)
            }
            Error::InvalidState => write!(f, "InvalidState"),
            Error::InvalidCloseCode => write!(f, "InvalidCloseCode"),
            Error::ReasonTooLong => write!(f, "ReasonTooLong"),
            Error::ControlPayloadTooLong => write!(f, "ControlPayloadTooLong"),
            Error::InvalidUtf8 => write!(f, "InvalidUtf8"),
            Error::MessageState => write!(f, "MessageState"),
            Error::FrameInProgress => write!(f, "FrameInProgress"),
            Error::PayloadOverrun => write!(f, "PayloadOverrun"),
            Error::NoFrameInProgress => write!(f, "NoFrameInProgress"),
            Error::InvalidHeader => write!(f, "InvalidHeader"),
            Error::InvalidStatus => write!(f, "InvalidStatus"),
            Error::Handshake(e) => write!(f, "Handshake({})", e),
            Error::InvalidConfig(e) => write!(f, "InvalidConfig({})", e),
            Error::NotCompressed => write!(f, "NotCompressed"),
        }
    }
}

impl Format for ConfigError {
    fn format(&self, f: Formatter<'_>) {
        write!(f, "{=str}", self.as_str())
    }
}

impl Format for Phase {
    fn format(&self, f: Formatter<'_>) {
        let name = match self {
            Phase::Handshake => "Handshake",
            Phase::Rejecting => "Rejecting",
            Phase::Open => "Open",
            Phase::LocalClosing => "LocalClosing",
            Phase::RemoteClosing => "RemoteClosing",
            Phase::Closed => "Closed",
        };
        write!(f, "{=str}", name)
    }
}

impl Format for ProtocolError {
    fn format(&self, f: Formatter<'_>) {
        write!(
            f,
            "{=str} (close {=u16})",
            self.as_str(),
            self.close_code().get()
        )
    }
}

impl Format for HandshakeError {
    fn format(&self, f: Formatter<'_>) {
        write!(f, "{=str} (HTTP {=u16})", self.as_str(), self.status())
    }
}

impl Format for CloseCode {
    fn format(&self, f: Formatter<'_>) {
        write!(f, "{=u16}", self.get())
    }
}

impl Format for CloseStatus {
    fn format(&self, f: Formatter<'_>) {
        match *self {
            CloseStatus::Code(c) => write!(f, "{=u16}", c.get()),
            CloseStatus::NoStatus => write!(f, "1005 (no status)"),
            CloseStatus::Abnormal => write!(f, "1006 (abnormal)"),
            CloseStatus::TlsHandshake => write!(f, "1015 (TLS handshake)"),
        }
    }
}

impl Format for MessageKind {
    fn format(&self, f: Formatter<'_>) {
        match self {
            MessageKind::Text => write!(f, "Text"),
            MessageKind::Binary => write!(f, "Binary"),
        }
    }
}

impl Format for DataChunk<'_> {
    fn format(&self, f: Formatter<'_>) {
        write!(
            f,
            "DataChunk {{ kind: {}, data: {=[u8]}, message_start: {=bool}, frame_finished: {=bool}, message_finished: {=bool}, rsv: {=u8}, compressed: {=bool} }}",
            self.kind,
            self.data,
            self.message_start,
            self.frame_finished,
            self.message_finished,
            self.rsv,
            self.compressed
        )
    }
}

impl Format for Event<'_> {
    fn format(&self, f: Formatter<'_>) {
        match self {
            Event::Data(c) => write!(f, "Data({})", c),
            Event::Ping(p) => write!(f, "Ping({=[u8]})", p),
            Event::Pong(p) => write!(f, "Pong({=[u8]})", p),
            Event::Close { status, reason } => {
                write!(f, "Close {{ status: {}, reason: {=str} }}", status, reason)
            }
            Event::Failed(e) => write!(f, "Failed({})", e),
            Event::RejectBody { data, finished } => write!(
                f,
                "RejectBody {{ data: {=[u8]}, finished: {=bool} }}",
                data, finished
            ),
        }
    }
}

impl Format for ReadOutcome<'_> {
    fn format(&self, f: Formatter<'_>) {
        write!(
            f,
            "ReadOutcome {{ consumed: {=usize}, event: {} }}",
            self.consumed, self.event
        )
    }
}

impl Format for Role {
    fn format(&self, f: Formatter<'_>) {
        match self {
            Role::Client => write!(f, "Client"),
            Role::Server => write!(f, "Server"),
        }
    }
}

impl Format for ReadyState {
    fn format(&self, f: Formatter<'_>) {
        match self {
            ReadyState::Connecting => write!(f, "Connecting"),
            ReadyState::Open => write!(f, "Open"),
            ReadyState::Closing => write!(f, "Closing"),
            ReadyState::Closed => write!(f, "Closed"),
        }
    }
}

impl Format for Failure {
    fn format(&self, f: Formatter<'_>) {
        match self {
            Failure::Protocol(e) => write!(f, "Protocol({})", e),
            Failure::Handshake(e) => write!(f, "Handshake({})", e),
            Failure::DeadPeer => write!(f, "DeadPeer"),
            Failure::CloseTimeout => write!(f, "CloseTimeout"),
            Failure::TransportLost => write!(f, "TransportLost"),
        }
    }
}
