//! The in-process broker: channels, sequence numbers, bounded history, fan-out.
//!
//! Each channel has an epoch (random, chosen when the channel's history starts) and a
//! sequence number that grows by one per message. History keeps the last `max_count`
//! messages no older than `max_age`. Subscribing with `last_seq` (and the epoch it belongs
//! to) replays the newer messages from history into the subscriber's outbox *under the
//! channel's lock*, then registers the subscriber, so the replay and the live messages come
//! in order, without gap or duplicate.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::value::RawValue;

use crate::metrics::Metrics;
use crate::outbox::{Outbox, Policy, Pushed};
use crate::protocol::MessageFrame;

/// History bounds per channel.
#[derive(Debug, Clone, Copy)]
pub struct HistoryLimits {
    /// Most messages kept.
    pub max_count: usize,
    /// Oldest message kept.
    pub max_age: Duration,
    /// Most bytes of message frames kept (in-process broker; Redis bounds its streams by
    /// count and age).
    pub max_bytes: usize,
}

struct Entry {
    seq: u64,
    at: Instant,
    frame: Arc<str>,
}

struct Channel {
    epoch: String,
    last_seq: u64,
    history: VecDeque<Entry>,
    history_bytes: usize,
    subscribers: HashMap<u64, Arc<Outbox>>,
    policy: Policy,
}

impl Channel {
    fn trim(&mut self, limits: &HistoryLimits, now: Instant) {
        while self.history.len() > limits.max_count
            || self.history_bytes > limits.max_bytes
            || self
                .history
                .front()
                .is_some_and(|e| now.duration_since(e.at) > limits.max_age)
        {
            match self.history.pop_front() {
                Some(e) => self.history_bytes -= e.frame.len(),
                None => break,
            }
        }
    }
}

/// What a subscription found.
#[derive(Debug, PartialEq, Eq)]
pub struct Subscription {
    /// The channel's epoch.
    pub epoch: String,
    /// The channel's last sequence number (after the replayed messages).
    pub seq: u64,
    /// Nothing was missed (see [`crate::protocol::Subscribed`]).
    pub recovered: bool,
    /// Messages queued from history.
    pub replayed: usize,
    /// The channel's backpressure policy.
    pub policy: Policy,
}

/// A stored publish.
#[derive(Debug, PartialEq, Eq)]
pub struct Published {
    /// Its sequence number.
    pub seq: u64,
    /// The channel's epoch.
    pub epoch: String,
}

/// Why a broker operation was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum BrokerError {
    /// The hub holds `max_channels` channels already.
    TooManyChannels,
}

/// The in-process broker.
pub struct Broker {
    channels: Mutex<HashMap<String, Arc<Mutex<Channel>>>>,
    limits: HistoryLimits,
    max_channels: usize,
    drop_oldest_prefixes: Vec<String>,
    metrics: Arc<Metrics>,
}

fn new_epoch() -> String {
    let mut b = [0u8; 8];
    crate::auth::fill_random(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Broker {
    /// A broker. Channels whose name starts with one of `drop_oldest_prefixes` use the
    /// drop-oldest policy; every other channel the close policy.
    pub fn new(
        limits: HistoryLimits,
        max_channels: usize,
        drop_oldest_prefixes: Vec<String>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Broker {
            channels: Mutex::new(HashMap::new()),
            limits,
            max_channels,
            drop_oldest_prefixes,
            metrics,
        }
    }

    /// The policy of a channel.
    pub fn policy(&self, channel: &str) -> Policy {
        if self
            .drop_oldest_prefixes
            .iter()
            .any(|p| channel.starts_with(p.as_str()))
        {
            Policy::DropOldest
        } else {
            Policy::Close
        }
    }

    /// Number of channels held.
    pub fn channel_count(&self) -> usize {
        self.channels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    fn channel(
        &self,
        name: &str,
        create: bool,
    ) -> Result<Option<Arc<Mutex<Channel>>>, BrokerError> {
        let mut map = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = map.get(name) {
            return Ok(Some(c.clone()));
        }
        if !create {
            return Ok(None);
        }
        if map.len() >= self.max_channels {
            // Make room from channels with neither subscribers nor history left.
            let now = Instant::now();
            map.retain(|_, c| {
                let mut c = c.lock().unwrap_or_else(|p| p.into_inner());
                c.trim(&self.limits, now);
                !c.subscribers.is_empty() || !c.history.is_empty()
            });
            if map.len() >= self.max_channels {
                return Err(BrokerError::TooManyChannels);
            }
        }
        let c = Arc::new(Mutex::new(Channel {
            epoch: new_epoch(),
            last_seq: 0,
            history: VecDeque::new(),
            history_bytes: 0,
            subscribers: HashMap::new(),
            policy: self.policy(name),
        }));
        map.insert(name.to_string(), c.clone());
        Ok(Some(c))
    }

    /// Stores a message and delivers it to every subscriber. Returns its seq and epoch once
    /// stored (which is when the publisher's ack may be sent).
    pub fn publish(
        &self,
        channel: &str,
        from: &str,
        payload: &RawValue,
    ) -> Result<Published, BrokerError> {
        let Some(ch) = self.channel(channel, true)? else {
            return Err(BrokerError::TooManyChannels);
        };
        let mut c = ch.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        c.last_seq += 1;
        let seq = c.last_seq;
        let frame: Arc<str> = MessageFrame::new(channel, seq, &c.epoch, from, unix_ms(), payload)
            .encode()
            .into();
        c.history_bytes += frame.len();
        c.history.push_back(Entry {
            seq,
            at: now,
            frame: frame.clone(),
        });
        c.trim(&self.limits, now);
        let policy = c.policy;
        for out in c.subscribers.values() {
            if out.push_message(frame.clone(), policy) == Pushed::Closing {
                eprintln!(
                    "wsmachine-hub: slow consumer on {channel} closed with 1013 (policy close)"
                );
            }
        }
        self.metrics.publishes.fetch_add(1, Ordering::Relaxed);
        Ok(Published {
            seq,
            epoch: c.epoch.clone(),
        })
    }

    /// Registers `outbox` (connection `conn`) on `channel`; with `last_seq` (of `epoch`),
    /// first queues the messages it missed. `reply` is queued before the replay (the
    /// `subscribed` frame, built from the result).
    pub fn subscribe(
        &self,
        channel: &str,
        conn: u64,
        outbox: &Arc<Outbox>,
        last_seq: Option<u64>,
        epoch: Option<&str>,
        reply: impl FnOnce(&Subscription) -> String,
    ) -> Result<Subscription, BrokerError> {
        let Some(ch) = self.channel(channel, true)? else {
            return Err(BrokerError::TooManyChannels);
        };
        let mut c = ch.lock().unwrap_or_else(|p| p.into_inner());
        c.trim(&self.limits, Instant::now());
        let mut from = None; // replay entries with seq > from
        let recovered = match (last_seq, epoch) {
            (None, _) => true,
            // Same epoch: recoverable if nothing was missed or history reaches back.
            (Some(last), Some(e)) if e == c.epoch => {
                if last >= c.last_seq {
                    true
                } else {
                    let oldest = c.history.front().map_or(c.last_seq + 1, |e| e.seq);
                    if last + 1 >= oldest {
                        from = Some(last);
                        true
                    } else {
                        false
                    }
                }
            }
            // A client that has seen nothing yet (seq 0, any epoch): everything in history
            // is replayed; recovered when that is the whole channel.
            (Some(0), _) => {
                from = Some(0);
                c.history.front().map_or(c.last_seq == 0, |e| e.seq == 1)
            }
            _ => false,
        };
        let replay: Vec<Arc<str>> = match from {
            Some(last) => c
                .history
                .iter()
                .filter(|e| e.seq > last)
                .map(|e| e.frame.clone())
                .collect(),
            None => Vec::new(),
        };
        let sub = Subscription {
            epoch: c.epoch.clone(),
            seq: c.last_seq,
            recovered,
            replayed: replay.len(),
            policy: c.policy,
        };
        outbox.push_reply(reply(&sub));
        for f in replay {
            outbox.push_reply(f);
        }
        c.subscribers.insert(conn, outbox.clone());
        if last_seq.is_some() {
            let m = &self.metrics;
            if recovered {
                m.replays_recovered.fetch_add(1, Ordering::Relaxed);
            } else {
                m.replays_lost.fetch_add(1, Ordering::Relaxed);
            }
            m.replayed_messages
                .fetch_add(sub.replayed as u64, Ordering::Relaxed);
        }
        Ok(sub)
    }

    /// Removes connection `conn` from `channel`. Returns whether it was subscribed.
    pub fn unsubscribe(&self, channel: &str, conn: u64) -> bool {
        let Ok(Some(ch)) = self.channel(channel, false) else {
            return false;
        };
        let mut c = ch.lock().unwrap_or_else(|p| p.into_inner());
        c.subscribers.remove(&conn).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::Limits;

    fn setup(max_count: usize) -> (Broker, Arc<Metrics>) {
        let m = Arc::new(Metrics::default());
        let b = Broker::new(
            HistoryLimits {
                max_count,
                max_age: Duration::from_secs(60),
                max_bytes: 1 << 20,
            },
            100,
            vec!["ticker.".into()],
            m.clone(),
        );
        (b, m)
    }

    fn outbox(m: &Arc<Metrics>) -> Arc<Outbox> {
        Arc::new(Outbox::new(
            Limits {
                max_messages: 1000,
                max_bytes: 1 << 20,
            },
            m.clone(),
        ))
    }

    fn drain(o: &Outbox) -> Vec<serde_json::Value> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let mut b = Vec::new();
        if o.len().0 > 0 {
            rt.block_on(o.next_batch(&mut b, usize::MAX));
        }
        b.iter().map(|f| serde_json::from_str(f).unwrap()).collect()
    }

    fn p(n: u32) -> Box<RawValue> {
        RawValue::from_string(n.to_string()).unwrap()
    }

    #[test]
    fn replays_what_was_missed_in_order() {
        let (b, m) = setup(100);
        for i in 1..=5 {
            assert_eq!(b.publish("chat", "a", &p(i)).unwrap().seq, i as u64);
        }
        let epoch = b.publish("chat", "a", &p(6)).unwrap().epoch;
        let o = outbox(&m);
        let s = b
            .subscribe("chat", 1, &o, Some(3), Some(&epoch), |_| "{}".into())
            .unwrap();
        assert!(s.recovered);
        assert_eq!((s.seq, s.replayed), (6, 3));
        b.publish("chat", "a", &p(7)).unwrap();
        let got: Vec<u64> = drain(&o)[1..]
            .iter()
            .map(|v| v["seq"].as_u64().unwrap())
            .collect();
        assert_eq!(got, [4, 5, 6, 7]);
    }

    #[test]
    fn history_loss_and_epoch_change_are_reported() {
        let (b, m) = setup(3);
        let mut epoch = String::new();
        for i in 1..=10 {
            epoch = b.publish("chat", "a", &p(i)).unwrap().epoch;
        }
        let o = outbox(&m);
        // Seq 8, 9, 10 are kept: last_seq 7 is recoverable, 6 is not.
        let s = b
            .subscribe("chat", 1, &o, Some(7), Some(&epoch), |_| "{}".into())
            .unwrap();
        assert!(s.recovered && s.replayed == 3);
        let s = b
            .subscribe("chat", 2, &o, Some(6), Some(&epoch), |_| "{}".into())
            .unwrap();
        assert!(!s.recovered && s.replayed == 0);
        let s = b
            .subscribe("chat", 3, &o, Some(10), Some("other"), |_| "{}".into())
            .unwrap();
        assert!(!s.recovered);
        // Up to date: nothing to replay, recovered.
        let s = b
            .subscribe("chat", 4, &o, Some(10), Some(&epoch), |_| "{}".into())
            .unwrap();
        assert!(s.recovered && s.replayed == 0);
        assert_eq!(m.replays_lost.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn fans_out_and_unsubscribes() {
        let (b, m) = setup(10);
        let (o1, o2) = (outbox(&m), outbox(&m));
        b.subscribe("c", 1, &o1, None, None, |_| "{}".into())
            .unwrap();
        b.subscribe("c", 2, &o2, None, None, |_| "{}".into())
            .unwrap();
        b.publish("c", "x", &p(1)).unwrap();
        assert!(b.unsubscribe("c", 1));
        assert!(!b.unsubscribe("c", 1));
        b.publish("c", "x", &p(2)).unwrap();
        assert_eq!(drain(&o1).len(), 2);
        assert_eq!(drain(&o2).len(), 3);
        assert_eq!(b.policy("ticker.btc"), Policy::DropOldest);
        assert_eq!(b.policy("chat"), Policy::Close);
    }

    #[test]
    fn history_is_bounded_in_bytes() {
        let m = Arc::new(Metrics::default());
        let b = Broker::new(
            HistoryLimits {
                max_count: 1000,
                max_age: Duration::from_secs(60),
                max_bytes: 1000,
            },
            10,
            vec![],
            m.clone(),
        );
        let big = RawValue::from_string(format!("\"{}\"", "x".repeat(300))).unwrap();
        for _ in 0..10 {
            b.publish("c", "x", &big).unwrap();
        }
        let o = outbox(&m);
        let s = b
            .subscribe("c", 1, &o, Some(0), None, |_| "{}".into())
            .unwrap();
        // ~390-byte frames, 1000 bytes: two are kept.
        assert_eq!((s.replayed, s.recovered), (2, false));
    }

    #[test]
    fn channel_count_is_bounded() {
        let m = Arc::new(Metrics::default());
        let b = Broker::new(
            HistoryLimits {
                max_count: 10,
                max_age: Duration::from_secs(60),
                max_bytes: 1 << 20,
            },
            3,
            vec![],
            m.clone(),
        );
        for c in ["a", "b", "c"] {
            b.publish(c, "x", &p(1)).unwrap();
        }
        assert_eq!(
            b.publish("d", "x", &p(1)),
            Err(BrokerError::TooManyChannels)
        );
        assert_eq!(b.channel_count(), 3);
    }
}
