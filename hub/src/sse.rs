//! The fallback for networks that block the WebSocket upgrade: Server-Sent Events for
//! receiving (`GET /sse?channel=C`) and `POST /publish` for sending (docs/hub.md, "SSE
//! fallback"). Same channels, seq numbers, history and replay as the WebSocket protocol:
//! each event's id is `<epoch>:<seq>`, so the browser's automatic `Last-Event-ID` on
//! reconnect resumes where it stopped.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::auth::{self, Action};
use crate::http::{Head, Response};
use crate::outbox::{Limits, Outbox};
use crate::protocol::{self, ErrorCode};
use crate::{unix_ms, BackendError, Bucket, Hub};

/// The user of an SSE or publish request: a `token` query parameter (single use), the
/// session cookie, or an API key.
fn user(hub: &Hub, head: &Head) -> Option<String> {
    if let Some(token) = head.query_param("token") {
        return match hub.authority.redeem_token(token, unix_ms()) {
            Ok(u) => Some(u),
            Err(why) => {
                hub.metrics.auth_failures.fetch_add(1, Ordering::Relaxed);
                hub.log(
                    "auth_failed",
                    serde_json::json!({ "via": "sse-token", "why": why.as_str() }),
                );
                None
            }
        };
    }
    crate::http_user(hub, head)
}

fn error(status: u16, code: ErrorCode, message: &str) -> Response {
    Response::new(
        status,
        "application/json",
        protocol::error(None, code, message),
    )
}

#[derive(Deserialize)]
struct PublishBody<'a> {
    #[serde(borrow)]
    channel: &'a str,
    #[serde(borrow)]
    payload: &'a serde_json::value::RawValue,
}

/// `POST /publish` `{"channel":…,"payload":…}` → `{"type":"ack","channel","seq","epoch"}`
/// once stored, or an error (401, 403, 400, 429, 503 with the protocol's error codes).
pub(crate) async fn publish(hub: &Hub, head: &Head, body: &[u8]) -> Response {
    if !crate::same_origin_post(hub, head) {
        return error(403, ErrorCode::Forbidden, "cross-origin request");
    }
    let Some(user) = user(hub, head) else {
        return error(
            401,
            ErrorCode::Unauthorized,
            "no valid session, token or key",
        );
    };
    let Ok(req) = serde_json::from_slice::<PublishBody<'_>>(body) else {
        return error(
            400,
            ErrorCode::BadRequest,
            "expected {\"channel\":…,\"payload\":…}",
        );
    };
    if !protocol::valid_channel(req.channel) {
        return error(400, ErrorCode::BadRequest, "invalid channel name");
    }
    if !auth::permitted(
        &hub.config.acl,
        &user,
        hub.is_admin(&user),
        req.channel,
        Action::Publish,
    ) {
        return error(403, ErrorCode::Forbidden, "may not publish here");
    }
    {
        let mut buckets = hub.http_buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() > 100_000 {
            buckets.clear();
        }
        let rate = hub.config.publish_rate;
        if !buckets
            .entry(user.clone())
            .or_insert_with(|| Bucket::new(rate))
            .take()
        {
            hub.metrics.rate_limited.fetch_add(1, Ordering::Relaxed);
            return error(429, ErrorCode::RateLimited, "publish rate exceeded");
        }
    }
    match hub.broker.publish(req.channel, &user, req.payload).await {
        Ok(p) => Response::new(
            200,
            "application/json",
            protocol::ack(None, Some((req.channel, p.seq, &p.epoch))),
        ),
        Err(BackendError::TooManyChannels) => {
            error(503, ErrorCode::LimitExceeded, "too many channels")
        }
        Err(BackendError::Unavailable(_)) => error(
            503,
            ErrorCode::Unavailable,
            "the hub's broker is unavailable; not stored, retry",
        ),
    }
}

/// The resume position of an SSE request: `Last-Event-ID: <epoch>:<seq>` (set by the browser
/// on reconnect), else the `last_seq` and `epoch` query parameters.
fn resume(head: &Head) -> (Option<u64>, Option<String>) {
    if let Some((epoch, seq)) = head
        .header("last-event-id")
        .and_then(|v| v.trim().split_once(':'))
    {
        if let Ok(seq) = seq.parse() {
            if !epoch.is_empty() && epoch.len() <= protocol::MAX_ID_LEN {
                return (Some(seq), Some(epoch.to_string()));
            }
        }
    }
    let seq = head.query_param("last_seq").and_then(|s| s.parse().ok());
    let epoch = head
        .query_param("epoch")
        .filter(|e| !e.is_empty() && e.len() <= protocol::MAX_ID_LEN)
        .map(str::to_string);
    (seq, epoch)
}

#[derive(Deserialize)]
struct FrameHead<'a> {
    #[serde(rename = "type", borrow)]
    kind: &'a str,
    #[serde(default)]
    seq: u64,
    #[serde(borrow, default)]
    epoch: &'a str,
}

/// One frame as an SSE event: `message` frames carry `id: <epoch>:<seq>`.
fn event(frame: &str) -> String {
    match serde_json::from_str::<FrameHead<'_>>(frame) {
        Ok(h) if h.kind == "message" => {
            format!(
                "id: {}:{}\nevent: message\ndata: {frame}\n\n",
                h.epoch, h.seq
            )
        }
        Ok(h) => format!("event: {}\ndata: {frame}\n\n", h.kind),
        Err(_) => format!("data: {frame}\n\n"),
    }
}

/// `GET /sse?channel=C`: subscribes and streams events until the client goes away, the
/// outbox closes (slow consumer, drain) or a write takes longer than the send time limit.
pub(crate) async fn stream<S>(hub: Arc<Hub>, mut tcp: S, head: Head)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    if hub.draining.load(Ordering::SeqCst) {
        let _ = Response::text(503, "draining").write(&mut tcp).await;
        return;
    }
    let Some(user) = user(&hub, &head) else {
        let _ = error(401, ErrorCode::Unauthorized, "no valid session or token")
            .write(&mut tcp)
            .await;
        return;
    };
    let Some(channel) = head
        .query_param("channel")
        .filter(|c| protocol::valid_channel(c))
        .map(str::to_string)
    else {
        let _ = error(400, ErrorCode::BadRequest, "channel: missing or invalid")
            .write(&mut tcp)
            .await;
        return;
    };
    if !auth::permitted(
        &hub.config.acl,
        &user,
        hub.is_admin(&user),
        &channel,
        Action::Subscribe,
    ) {
        let _ = error(403, ErrorCode::Forbidden, "may not subscribe here")
            .write(&mut tcp)
            .await;
        return;
    }
    let id = hub.next_id.fetch_add(1, Ordering::Relaxed);
    let outbox = Arc::new(Outbox::new(
        Limits {
            max_messages: hub.config.queue_messages,
            max_bytes: hub.config.queue_bytes,
        },
        hub.metrics.clone(),
    ));
    let (last_seq, epoch) = resume(&head);
    let subscribed = hub
        .broker
        .subscribe(&channel, id, &outbox, last_seq, epoch.as_deref(), |sub| {
            protocol::Subscribed::encode(
                None,
                &channel,
                &sub.epoch,
                sub.seq,
                sub.recovered,
                sub.replayed,
                sub.policy.as_str(),
            )
        })
        .await;
    if let Err(e) = subscribed {
        let (status, code) = match e {
            BackendError::TooManyChannels => (503, ErrorCode::LimitExceeded),
            BackendError::Unavailable(_) => (503, ErrorCode::Unavailable),
        };
        let _ = error(status, code, "cannot subscribe now; retry")
            .write(&mut tcp)
            .await;
        return;
    }
    hub.connections
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(id, outbox.clone());
    hub.metrics.sse_streams.fetch_add(1, Ordering::Relaxed);
    hub.log(
        "sse_open",
        serde_json::json!({ "conn": id, "user": user, "channel": channel }),
    );
    let ended = pump(&hub, &mut tcp, &outbox).await;
    hub.broker.unsubscribe(&channel, id);
    outbox.close(1000, "");
    hub.connections
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&id);
    hub.metrics.sse_streams.fetch_sub(1, Ordering::Relaxed);
    hub.log(
        "sse_closed",
        serde_json::json!({ "conn": id, "user": user, "why": ended }),
    );
}

/// Writes `data` within `limit`.
async fn write_timed<W: AsyncWrite + Unpin>(
    w: &mut W,
    data: &[u8],
    limit: Duration,
) -> Result<(), &'static str> {
    let fut = async {
        w.write_all(data).await?;
        w.flush().await
    };
    match tokio::time::timeout(limit, fut).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err("write failed"),
        Err(_) => Err("send timeout"),
    }
}

/// Writes the response head and then the outbox's frames as events, with a comment line as
/// heartbeat; returns why it ended.
async fn pump<S>(hub: &Hub, tcp: &mut S, outbox: &Outbox) -> &'static str
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let limit = hub.config.send_timeout;
    let (mut rd, mut wr) = tokio::io::split(tcp);
    let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\n\
                X-Accel-Buffering: no\r\nConnection: close\r\n\r\nretry: 1000\n\n";
    if let Err(why) = write_timed(&mut wr, head.as_bytes(), limit).await {
        return why;
    }
    let mut heartbeat = tokio::time::interval(hub.config.heartbeat);
    heartbeat.tick().await;
    let mut batch = Vec::with_capacity(64);
    let mut probe = [0u8; 64];
    loop {
        batch.clear();
        tokio::select! {
            closed = outbox.next_batch(&mut batch, 64) => {
                if let Some((code, reason)) = closed {
                    if code == 1000 && reason.is_empty() {
                        return "closed";
                    }
                    // Slow consumer (1013) or drain (1001): say so, then end the stream.
                    let ev = format!(
                        "event: close\ndata: {}\n\n",
                        serde_json::json!({ "code": code, "reason": reason })
                    );
                    let _ = write_timed(&mut wr, ev.as_bytes(), limit).await;
                    if code == crate::outbox::SLOW_CONSUMER {
                        return "slow consumer";
                    }
                    return "going away";
                }
                let mut out = Vec::new();
                for f in &batch {
                    out.extend_from_slice(event(f).as_bytes());
                }
                let n = batch.len() as u64;
                match write_timed(&mut wr, &out, limit).await {
                    Ok(()) => {
                        hub.metrics.messages_out.fetch_add(n, Ordering::Relaxed);
                    }
                    Err(why) => {
                        if why == "send timeout" {
                            hub.metrics.send_timeouts.fetch_add(1, Ordering::Relaxed);
                        }
                        return why;
                    }
                }
            }
            _ = heartbeat.tick() => {
                if let Err(why) = write_timed(&mut wr, b": ping\n\n", limit).await {
                    return why;
                }
            }
            // The client sends nothing after its request: a read that ends means it left.
            r = rd.read(&mut probe) => {
                if matches!(r, Ok(0) | Err(_)) {
                    return "client left";
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_carry_epoch_and_seq() {
        let f = r#"{"type":"message","channel":"c","seq":7,"epoch":"ab","from":"x","time":1,"payload":1}"#;
        assert!(event(f).starts_with("id: ab:7\nevent: message\ndata: {"));
        assert!(event(r#"{"type":"subscribed","seq":3}"#).starts_with("event: subscribed\n"));
    }
}
