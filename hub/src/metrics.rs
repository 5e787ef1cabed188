//! Counters for `GET /metrics` (Prometheus text format).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// The hub's counters and gauges.
#[derive(Default)]
pub struct Metrics {
    /// Open WebSocket connections (gauge).
    pub connections: AtomicU64,
    /// Connections accepted since start.
    pub connections_total: AtomicU64,
    /// Frames received from clients.
    pub messages_in: AtomicU64,
    /// Frames sent to clients.
    pub messages_out: AtomicU64,
    /// Publishes stored and acknowledged.
    pub publishes: AtomicU64,
    /// Channel messages dropped by the drop-oldest policy.
    pub backpressure_drops: AtomicU64,
    /// Slow consumers closed by the close policy.
    pub backpressure_closes: AtomicU64,
    /// Connections closed because a send did not finish within the send time limit.
    pub send_timeouts: AtomicU64,
    /// Refused credentials (cookie, token, first message) and rejected upgrades.
    pub auth_failures: AtomicU64,
    /// Upgrades refused for their Origin.
    pub origin_rejections: AtomicU64,
    /// Subscriptions that resumed from history with nothing missed.
    pub replays_recovered: AtomicU64,
    /// Subscriptions whose history no longer reached back.
    pub replays_lost: AtomicU64,
    /// Messages replayed from history.
    pub replayed_messages: AtomicU64,
    /// Requests refused with an error frame.
    pub request_errors: AtomicU64,
    /// Publishes refused by the rate limit.
    pub rate_limited: AtomicU64,
    /// HTTP requests served (not upgrades).
    pub http_requests: AtomicU64,
}

impl Metrics {
    /// The Prometheus text exposition of every counter, plus `draining` (0/1).
    ///
    /// `redis_up`: for the Redis broker, whether Redis is reachable.
    pub fn render(&self, draining: bool, channels: usize, redis_up: Option<bool>) -> String {
        let mut out = String::new();
        let mut put = |name: &str, kind: &str, help: &str, value: u64| {
            let _ = writeln!(out, "# HELP wsmachine_hub_{name} {help}");
            let _ = writeln!(out, "# TYPE wsmachine_hub_{name} {kind}");
            let _ = writeln!(out, "wsmachine_hub_{name} {value}");
        };
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        put(
            "connections",
            "gauge",
            "Open WebSocket connections.",
            g(&self.connections),
        );
        put(
            "connections_total",
            "counter",
            "WebSocket connections accepted.",
            g(&self.connections_total),
        );
        put(
            "messages_in_total",
            "counter",
            "Frames received from clients.",
            g(&self.messages_in),
        );
        put(
            "messages_out_total",
            "counter",
            "Frames sent to clients.",
            g(&self.messages_out),
        );
        put(
            "publishes_total",
            "counter",
            "Publishes stored and acknowledged.",
            g(&self.publishes),
        );
        put(
            "backpressure_drops_total",
            "counter",
            "Channel messages dropped by the drop-oldest policy.",
            g(&self.backpressure_drops),
        );
        put(
            "backpressure_closes_total",
            "counter",
            "Slow consumers closed (1013) by the close policy.",
            g(&self.backpressure_closes),
        );
        put(
            "send_timeouts_total",
            "counter",
            "Connections dropped for a send over the time limit.",
            g(&self.send_timeouts),
        );
        put(
            "auth_failures_total",
            "counter",
            "Refused credentials.",
            g(&self.auth_failures),
        );
        put(
            "origin_rejections_total",
            "counter",
            "Upgrades refused for their Origin.",
            g(&self.origin_rejections),
        );
        put(
            "replays_recovered_total",
            "counter",
            "Resumed subscriptions that missed nothing.",
            g(&self.replays_recovered),
        );
        put(
            "replays_lost_total",
            "counter",
            "Resumed subscriptions whose history was gone.",
            g(&self.replays_lost),
        );
        put(
            "replayed_messages_total",
            "counter",
            "Messages replayed from history.",
            g(&self.replayed_messages),
        );
        put(
            "request_errors_total",
            "counter",
            "Requests answered with an error frame.",
            g(&self.request_errors),
        );
        put(
            "rate_limited_total",
            "counter",
            "Publishes refused by the rate limit.",
            g(&self.rate_limited),
        );
        put(
            "http_requests_total",
            "counter",
            "Plain HTTP requests served.",
            g(&self.http_requests),
        );
        put(
            "channels",
            "gauge",
            "Channels with subscribers or history.",
            channels as u64,
        );
        put(
            "draining",
            "gauge",
            "1 while draining after SIGTERM.",
            u64::from(draining),
        );
        if let Some(up) = redis_up {
            put(
                "redis_up",
                "gauge",
                "1 while Redis is reachable (Redis broker only).",
                u64::from(up),
            );
        }
        out
    }
}
