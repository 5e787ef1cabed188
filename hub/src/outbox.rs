//! The bounded outbound queue of one connection.
//!
//! Every frame for a connection (answers and channel messages) goes through its outbox; one
//! writer task per connection drains it into the WebSocket. The outbox holds at most
//! `max_messages` frames and `max_bytes` bytes of channel messages. When a channel message
//! does not fit, the channel's [`Policy`] decides: `DropOldest` drops queued messages of
//! drop-oldest channels, oldest first, until it fits (latest-value channels); `Close` marks
//! the connection a slow consumer, to be closed with [`SLOW_CONSUMER`] (ordered channels:
//! the client reconnects and resumes from history). Answers to the client's own requests
//! (acks, errors, replays) are never dropped: they are bounded by the request rate and the
//! history size instead.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

use crate::metrics::Metrics;

/// Close code for a slow consumer on a `close` channel: 1013 (Try Again Later), which a
/// client answers by reconnecting with backoff and resuming from its last seq.
pub const SLOW_CONSUMER: u16 = 1013;

/// What to do with a channel message that does not fit a subscriber's outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Drop the oldest queued messages of drop-oldest channels (latest-value channels).
    DropOldest,
    /// Close the slow consumer with 1013 (ordered channels).
    Close,
}

impl Policy {
    /// The policy's name in the protocol and the metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::DropOldest => "drop-oldest",
            Policy::Close => "close",
        }
    }
}

/// Outbox limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most queued frames.
    pub max_messages: usize,
    /// Most queued bytes.
    pub max_bytes: usize,
}

struct Item {
    frame: Arc<str>,
    /// A channel message that a drop-oldest policy may drop.
    droppable: bool,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Item>,
    bytes: usize,
    closed: Option<(u16, &'static str)>,
}

/// Result of [`Outbox::push_message`].
#[derive(Debug, PartialEq, Eq)]
pub enum Pushed {
    /// Queued.
    Queued,
    /// Queued after dropping this many older messages.
    DroppedOldest(usize),
    /// Did not fit: nothing dropped to make room (drop-oldest with nothing droppable, the
    /// new message itself is dropped).
    Dropped,
    /// The connection is now closing as a slow consumer.
    Closing,
    /// The connection was already closing; the frame was discarded.
    Closed,
}

/// A connection's outbound queue.
pub struct Outbox {
    state: Mutex<State>,
    notify: Notify,
    limits: Limits,
    metrics: Arc<Metrics>,
}

impl Outbox {
    /// An empty outbox.
    pub fn new(limits: Limits, metrics: Arc<Metrics>) -> Self {
        Outbox {
            state: Mutex::new(State::default()),
            notify: Notify::new(),
            limits,
            metrics,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues an answer to the client's own request; never dropped.
    pub fn push_reply(&self, frame: impl Into<Arc<str>>) {
        let frame = frame.into();
        let mut s = self.lock();
        if s.closed.is_some() {
            return;
        }
        s.bytes += frame.len();
        s.queue.push_back(Item {
            frame,
            droppable: false,
        });
        drop(s);
        self.notify.notify_one();
    }

    /// Queues a channel message under `policy`.
    pub fn push_message(&self, frame: Arc<str>, policy: Policy) -> Pushed {
        let mut s = self.lock();
        if s.closed.is_some() {
            return Pushed::Closed;
        }
        let fits = |s: &State| {
            s.queue.len() < self.limits.max_messages
                && s.bytes + frame.len() <= self.limits.max_bytes
        };
        let mut dropped: usize = 0;
        if !fits(&s) {
            match policy {
                Policy::Close => {
                    s.closed = Some((SLOW_CONSUMER, "slow consumer"));
                    s.queue.clear();
                    s.bytes = 0;
                    drop(s);
                    self.metrics
                        .backpressure_closes
                        .fetch_add(1, Ordering::Relaxed);
                    self.notify.notify_one();
                    return Pushed::Closing;
                }
                Policy::DropOldest => {
                    while !fits(&s) {
                        let Some(i) = s.queue.iter().position(|it| it.droppable) else {
                            break;
                        };
                        if let Some(it) = s.queue.remove(i) {
                            s.bytes -= it.frame.len();
                            dropped += 1;
                        }
                    }
                    if !fits(&s) {
                        drop(s);
                        self.metrics
                            .backpressure_drops
                            .fetch_add(dropped as u64 + 1, Ordering::Relaxed);
                        return Pushed::Dropped;
                    }
                }
            }
        }
        s.bytes += frame.len();
        s.queue.push_back(Item {
            frame,
            droppable: policy == Policy::DropOldest,
        });
        drop(s);
        if dropped > 0 {
            self.metrics
                .backpressure_drops
                .fetch_add(dropped as u64, Ordering::Relaxed);
        }
        self.notify.notify_one();
        if dropped > 0 {
            Pushed::DroppedOldest(dropped)
        } else {
            Pushed::Queued
        }
    }

    /// Closes the outbox with `code` and `reason`: queued frames are discarded and the
    /// writer closes the connection. The first close wins.
    pub fn close(&self, code: u16, reason: &'static str) {
        let mut s = self.lock();
        if s.closed.is_none() {
            s.closed = Some((code, reason));
            s.queue.clear();
            s.bytes = 0;
        }
        drop(s);
        self.notify.notify_one();
    }

    /// Whether the outbox was closed.
    pub fn is_closed(&self) -> bool {
        self.lock().closed.is_some()
    }

    /// Queued frames and bytes.
    pub fn len(&self) -> (usize, usize) {
        let s = self.lock();
        (s.queue.len(), s.bytes)
    }

    /// Waits for frames (moved into `batch`, at most `max` of them) or the close.
    pub async fn next_batch(
        &self,
        batch: &mut Vec<Arc<str>>,
        max: usize,
    ) -> Option<(u16, &'static str)> {
        loop {
            {
                let mut s = self.lock();
                if let Some(c) = s.closed {
                    return Some(c);
                }
                if !s.queue.is_empty() {
                    let n = s.queue.len().min(max);
                    for it in s.queue.drain(..n) {
                        batch.push(it.frame);
                    }
                    let taken: usize = batch.iter().map(|f| f.len()).sum();
                    s.bytes = s.bytes.saturating_sub(taken);
                    return None;
                }
            }
            self.notify.notified().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outbox(max_messages: usize, max_bytes: usize) -> Outbox {
        Outbox::new(
            Limits {
                max_messages,
                max_bytes,
            },
            Arc::new(Metrics::default()),
        )
    }

    #[test]
    fn drop_oldest_keeps_the_latest_and_counts() {
        let o = outbox(3, 1000);
        o.push_reply("r");
        for i in 0..5 {
            let p = o.push_message(format!("m{i}").into(), Policy::DropOldest);
            assert_eq!(
                p,
                if i < 2 {
                    Pushed::Queued
                } else {
                    Pushed::DroppedOldest(1)
                }
            );
        }
        let mut b = Vec::new();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        assert!(rt.block_on(o.next_batch(&mut b, 10)).is_none());
        let got: Vec<&str> = b.iter().map(|f| &**f).collect();
        assert_eq!(got, ["r", "m3", "m4"]);
        assert_eq!(o.metrics.backpressure_drops.load(Ordering::Relaxed), 3);
        assert_eq!(o.len(), (0, 0));
    }

    #[test]
    fn close_policy_closes_with_1013() {
        let o = outbox(100, 10);
        assert_eq!(
            o.push_message("12345".into(), Policy::Close),
            Pushed::Queued
        );
        assert_eq!(
            o.push_message("123456".into(), Policy::Close),
            Pushed::Closing
        );
        assert_eq!(o.push_message("1".into(), Policy::Close), Pushed::Closed);
        assert!(o.is_closed());
        let mut b = Vec::new();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        assert_eq!(
            rt.block_on(o.next_batch(&mut b, 10)),
            Some((1013, "slow consumer"))
        );
        assert_eq!(o.metrics.backpressure_closes.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn bytes_bound_applies_to_drop_oldest() {
        let o = outbox(100, 10);
        assert_eq!(
            o.push_message("aaaaaa".into(), Policy::DropOldest),
            Pushed::Queued
        );
        assert_eq!(
            o.push_message("bbbbbb".into(), Policy::DropOldest),
            Pushed::DroppedOldest(1)
        );
        // Larger than the whole bound: dropped itself.
        assert_eq!(
            o.push_message("c".repeat(11).into(), Policy::DropOldest),
            Pushed::Dropped
        );
        assert_eq!(o.len(), (0, 0));
        assert_eq!(o.metrics.backpressure_drops.load(Ordering::Relaxed), 3);
    }
}
