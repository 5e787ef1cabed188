//! The wire protocol: one JSON object per text frame (docs/hub.md).
//!
//! Client to hub: `auth`, `subscribe`, `unsubscribe`, `publish`, `ping`. Hub to client:
//! `welcome`, `subscribed`, `ack`, `message`, `error`, `pong`. Every request may carry an
//! `id` (a number or a short string) that the answer repeats.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// Longest accepted channel name.
pub const MAX_CHANNEL_LEN: usize = 100;
/// Longest accepted string `id`.
pub const MAX_ID_LEN: usize = 64;

/// A request id: echoed in the answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Id {
    /// A number.
    Num(u64),
    /// A short string.
    Str(String),
}

/// Error codes sent in `error` frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// Not authenticated yet (first-message auth pending) or the credentials were refused.
    Unauthorized,
    /// Authenticated, but this user may not do this on this channel.
    Forbidden,
    /// Malformed JSON, unknown type, missing or invalid field.
    BadRequest,
    /// Over the per-connection publish rate.
    RateLimited,
    /// Over a server limit (channels per connection, channels in the hub).
    LimitExceeded,
    /// The hub cannot take the publish now (e.g. its broker is unreachable); nothing was stored.
    Unavailable,
}

/// A parsed client frame.
#[derive(Debug)]
pub enum Request<'a> {
    /// First-message authentication with a token from `POST /token`.
    Auth {
        /// Request id.
        id: Option<Id>,
        /// The token.
        token: &'a str,
    },
    /// Subscribe, optionally resuming after `last_seq` of `epoch`.
    Subscribe {
        /// Request id.
        id: Option<Id>,
        /// Channel name.
        channel: &'a str,
        /// The last sequence number the client has seen on this channel.
        last_seq: Option<u64>,
        /// The epoch `last_seq` belongs to.
        epoch: Option<&'a str>,
    },
    /// Unsubscribe.
    Unsubscribe {
        /// Request id.
        id: Option<Id>,
        /// Channel name.
        channel: &'a str,
    },
    /// Publish a JSON payload on a channel.
    Publish {
        /// Request id.
        id: Option<Id>,
        /// Channel name.
        channel: &'a str,
        /// The payload, any JSON value, kept as its text.
        payload: &'a RawValue,
    },
    /// Application-level ping (answered with `pong`).
    Ping {
        /// Request id.
        id: Option<Id>,
    },
}

/// A request that could not be parsed: the id if one was readable, and why.
#[derive(Debug)]
pub struct BadRequest {
    /// The request's id, when it could be read.
    pub id: Option<Id>,
    /// What was wrong.
    pub why: String,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<&'a str>,
    #[serde(default)]
    id: Option<Id>,
    #[serde(borrow, default)]
    channel: Option<&'a str>,
    #[serde(borrow, default)]
    token: Option<&'a str>,
    #[serde(default)]
    last_seq: Option<u64>,
    #[serde(borrow, default)]
    epoch: Option<&'a str>,
    #[serde(borrow, default)]
    payload: Option<&'a RawValue>,
}

/// Whether `name` is a valid channel name: 1 to [`MAX_CHANNEL_LEN`] characters from
/// `A-Z a-z 0-9 _ - . :`.
pub fn valid_channel(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_CHANNEL_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
}

/// Parses one client frame.
pub fn parse(text: &str) -> Result<Request<'_>, BadRequest> {
    let env: Envelope<'_> = serde_json::from_str(text).map_err(|e| BadRequest {
        id: None,
        why: format!("not a JSON request object: {e}"),
    })?;
    let id = env.id;
    if let Some(Id::Str(s)) = &id {
        if s.len() > MAX_ID_LEN {
            return Err(BadRequest {
                id: None,
                why: format!("id longer than {MAX_ID_LEN} bytes"),
            });
        }
    }
    let bad = |id: Option<Id>, why: &str| BadRequest {
        id,
        why: why.to_string(),
    };
    let channel = |id: &Option<Id>| match env.channel {
        Some(c) if valid_channel(c) => Ok(c),
        Some(_) => Err(bad(
            id.clone(),
            "invalid channel name (1-100 of A-Z a-z 0-9 _ - . :)",
        )),
        None => Err(bad(id.clone(), "missing \"channel\"")),
    };
    match env.kind {
        Some("auth") => match env.token {
            Some(token) => Ok(Request::Auth { id, token }),
            None => Err(bad(id, "missing \"token\"")),
        },
        Some("subscribe") => {
            let channel = channel(&id)?;
            if env.epoch.is_some_and(|e| e.len() > MAX_ID_LEN) {
                return Err(bad(id, "epoch too long"));
            }
            Ok(Request::Subscribe {
                channel,
                last_seq: env.last_seq,
                epoch: env.epoch,
                id,
            })
        }
        Some("unsubscribe") => Ok(Request::Unsubscribe {
            channel: channel(&id)?,
            id,
        }),
        Some("publish") => {
            let channel = channel(&id)?;
            match env.payload {
                Some(payload) => Ok(Request::Publish {
                    id,
                    channel,
                    payload,
                }),
                None => Err(bad(id, "missing \"payload\"")),
            }
        }
        Some("ping") => Ok(Request::Ping { id }),
        Some(_) => Err(bad(id, "unknown \"type\"")),
        None => Err(bad(id, "missing \"type\"")),
    }
}

/// `{"type":"message",...}`: what subscribers receive. Serialised once per publish and
/// shared by every subscriber.
#[derive(Serialize)]
pub struct MessageFrame<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    channel: &'a str,
    seq: u64,
    epoch: &'a str,
    from: &'a str,
    time: u64,
    payload: &'a RawValue,
}

impl<'a> MessageFrame<'a> {
    /// A message frame.
    pub fn new(
        channel: &'a str,
        seq: u64,
        epoch: &'a str,
        from: &'a str,
        time: u64,
        payload: &'a RawValue,
    ) -> Self {
        MessageFrame {
            kind: "message",
            channel,
            seq,
            epoch,
            from,
            time,
            payload,
        }
    }

    /// The frame's JSON text.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// `{"type":"error","id":…,"code":…,"message":…}`.
pub fn error(id: Option<&Id>, code: ErrorCode, message: &str) -> String {
    #[derive(Serialize)]
    struct E<'a> {
        #[serde(rename = "type")]
        kind: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<&'a Id>,
        code: ErrorCode,
        message: &'a str,
    }
    serde_json::to_string(&E {
        kind: "error",
        id,
        code,
        message,
    })
    .unwrap_or_default()
}

/// `{"type":"ack","id":…}` plus, for a publish, `"channel"`, `"seq"` and `"epoch"`.
pub fn ack(id: Option<&Id>, published: Option<(&str, u64, &str)>) -> String {
    #[derive(Serialize)]
    struct A<'a> {
        #[serde(rename = "type")]
        kind: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<&'a Id>,
        #[serde(skip_serializing_if = "Option::is_none")]
        channel: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        seq: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        epoch: Option<&'a str>,
    }
    serde_json::to_string(&A {
        kind: "ack",
        id,
        channel: published.map(|p| p.0),
        seq: published.map(|p| p.1),
        epoch: published.map(|p| p.2),
    })
    .unwrap_or_default()
}

/// The answer to `subscribe`.
#[derive(Serialize)]
pub struct Subscribed<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a Id>,
    channel: &'a str,
    epoch: &'a str,
    /// The channel's latest sequence number when the subscription started (after the
    /// replayed messages).
    seq: u64,
    /// Whether the client missed nothing: every message after its `last_seq` is replayed
    /// (or there was none). False when the history no longer reaches back, or the epoch
    /// changed (history lost); the client should then reload its state.
    recovered: bool,
    /// How many messages are replayed after this frame.
    replayed: usize,
    /// The channel's backpressure policy: `"drop-oldest"` or `"close"`.
    policy: &'a str,
}

impl<'a> Subscribed<'a> {
    /// A `subscribed` frame.
    pub fn encode(
        id: Option<&'a Id>,
        channel: &'a str,
        epoch: &'a str,
        seq: u64,
        recovered: bool,
        replayed: usize,
        policy: &'a str,
    ) -> String {
        serde_json::to_string(&Subscribed {
            kind: "subscribed",
            id,
            channel,
            epoch,
            seq,
            recovered,
            replayed,
            policy,
        })
        .unwrap_or_default()
    }
}

/// `{"type":"welcome","user":…,"auth":…,"heartbeat_ms":…,"instance":…}`: sent once the
/// connection is authenticated.
pub fn welcome(user: &str, heartbeat_ms: u32, auth: &str, instance: &str) -> String {
    serde_json::json!({
        "type": "welcome",
        "user": user,
        "auth": auth,
        "heartbeat_ms": heartbeat_ms,
        "instance": instance,
    })
    .to_string()
}

/// `{"type":"pong","id":…}`.
pub fn pong(id: Option<&Id>) -> String {
    match id {
        Some(id) => serde_json::json!({"type": "pong", "id": id}).to_string(),
        None => r#"{"type":"pong"}"#.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_request() {
        assert!(matches!(
            parse(r#"{"type":"auth","token":"t","id":1}"#),
            Ok(Request::Auth {
                token: "t",
                id: Some(Id::Num(1))
            })
        ));
        match parse(r#"{"type":"subscribe","channel":"chat","last_seq":4,"epoch":"e1","id":"a"}"#) {
            Ok(Request::Subscribe {
                channel,
                last_seq,
                epoch,
                id,
            }) => {
                assert_eq!(channel, "chat");
                assert_eq!(last_seq, Some(4));
                assert_eq!(epoch, Some("e1"));
                assert_eq!(id, Some(Id::Str("a".into())));
            }
            other => panic!("{other:?}"),
        }
        match parse(r#"{"type":"publish","channel":"chat","payload":{"text":"hi"}}"#) {
            Ok(Request::Publish { payload, .. }) => assert_eq!(payload.get(), r#"{"text":"hi"}"#),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse(r#"{"type":"unsubscribe","channel":"x"}"#),
            Ok(Request::Unsubscribe { channel: "x", .. })
        ));
        assert!(matches!(
            parse(r#"{"type":"ping"}"#),
            Ok(Request::Ping { id: None })
        ));
    }

    #[test]
    fn rejects_bad_requests_with_the_id_when_readable() {
        for bad in [
            "",
            "nope",
            "[]",
            "{}",
            r#"{"type":"fly","id":3}"#,
            r#"{"type":"subscribe","id":3}"#,
            r#"{"type":"subscribe","channel":"","id":3}"#,
            r#"{"type":"subscribe","channel":"a b","id":3}"#,
            r#"{"type":"publish","channel":"a","id":3}"#,
            r#"{"type":"auth","id":3}"#,
            r#"{"type":"subscribe","channel":"a","last_seq":-1}"#,
            r#"{"type":"ping","id":{"x":1}}"#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let e = parse(r#"{"type":"fly","id":3}"#).unwrap_err();
        assert_eq!(e.id, Some(Id::Num(3)));
        let long = format!(r#"{{"type":"ping","id":"{}"}}"#, "x".repeat(65));
        assert!(parse(&long).is_err());
        let long = format!(r#"{{"type":"subscribe","channel":"{}"}}"#, "x".repeat(101));
        assert!(parse(&long).is_err());
    }

    #[test]
    fn frames_are_json() {
        let payload = RawValue::from_string(r#"{"t":"é\"x"}"#.into()).unwrap();
        let m = MessageFrame::new("c", 7, "e", "bob", 1, &payload).encode();
        let v: serde_json::Value = serde_json::from_str(&m).unwrap();
        assert_eq!(v["seq"], 7);
        assert_eq!(v["payload"]["t"], "é\"x");
        let e = error(Some(&Id::Num(2)), ErrorCode::RateLimited, "slow down");
        let v: serde_json::Value = serde_json::from_str(&e).unwrap();
        assert_eq!(v["code"], "RATE_LIMITED");
        assert_eq!(v["id"], 2);
        let a = ack(None, Some(("c", 9, "e")));
        assert_eq!(a, r#"{"type":"ack","channel":"c","seq":9,"epoch":"e"}"#);
    }
}
