//! The Redis broker: history and sequence numbers in Redis, fan-out between hub instances
//! over Redis pub/sub (docs/hub.md, "Scale-out on Redis").
//!
//! Per channel `C` Redis holds `hub:{C}:epoch` (random, set when the channel's history
//! starts), `hub:{C}:seq` (INCR per message) and the stream `hub:{C}:hist` (one entry per
//! message, field `s` = seq, `f` = the message frame; capped by count with `MAXLEN` and by age
//! with `XTRIM MINID`). A publish is one Lua script: assign the seq, store the frame, refresh
//! the keys' lifetime, and `PUBLISH` it on `hub:messages`, which every instance subscribes
//! to. The hub acknowledges a publish once the script has returned, that is once Redis holds
//! the message (how durable that is depends on Redis's persistence: the tests run it with
//! `appendfsync always`).
//!
//! Local delivery always comes from the pub/sub stream (also for this instance's own
//! publishes), in seq order per channel. A subscription reads the channel's state and the
//! missed entries with one script while it holds the local channel's lock, then registers:
//! messages up to the seq it read are skipped for it, later ones delivered, so replay and
//! live messages join without gap or duplicate. A gap in the pub/sub stream (after Redis or
//! the connection restarts) is filled from the stream before the next message is delivered.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::value::RawValue;

use crate::broker::{HistoryLimits, Published, Subscription};
use crate::metrics::Metrics;
use crate::outbox::{Outbox, Policy, Pushed};
use crate::resp::{Conn, Value};

/// The pub/sub channel every instance listens on.
pub const PUBSUB: &str = "hub:messages";

const PUBLISH_LUA: &str = r#"
local e = redis.call('GET', KEYS[1])
if not e then
  e = ARGV[1]
  redis.call('SET', KEYS[1], e)
  redis.call('DEL', KEYS[2], KEYS[3])
end
local seq = redis.call('INCR', KEYS[2])
local frame = ARGV[2] .. seq .. ',"epoch":"' .. e .. '"' .. ARGV[3]
redis.call('XADD', KEYS[3], 'MAXLEN', ARGV[4], '*', 's', seq, 'f', frame)
local t = redis.call('TIME')
local minid = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - tonumber(ARGV[5])
if minid > 0 then redis.call('XTRIM', KEYS[3], 'MINID', minid) end
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ARGV[6]) end
redis.call('PUBLISH', ARGV[7], ARGV[8] .. '\n' .. seq .. '\n' .. e .. '\n' .. frame)
return {seq, e}
"#;

// Returns {epoch, seq, first seq kept or 0, entries after ARGV[2] (newest first)}; creates
// the epoch when the channel has none.
const READ_LUA: &str = r#"
local e = redis.call('GET', KEYS[1])
if not e then
  e = ARGV[1]
  redis.call('SET', KEYS[1], e, 'PX', ARGV[4])
  redis.call('DEL', KEYS[2], KEYS[3])
end
local seq = tonumber(redis.call('GET', KEYS[2]) or '0')
local t = redis.call('TIME')
local minid = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - tonumber(ARGV[3])
if minid > 0 then redis.call('XTRIM', KEYS[3], 'MINID', minid) end
local len = redis.call('XLEN', KEYS[3])
local first = seq - len + 1
local want = 0
if ARGV[2] ~= '' then
  want = seq - tonumber(ARGV[2])
  if want > len then want = len end
  if want < 0 then want = 0 end
end
local entries = {}
if want > 0 then entries = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', want) end
return {e, seq, first, entries}
"#;

struct Sub {
    outbox: Arc<Outbox>,
    /// Messages up to this seq (of `epoch`) were in the replay: skip them.
    skip: u64,
    epoch: String,
}

#[derive(Default)]
struct LocalState {
    epoch: String,
    last_seen: u64,
    subs: HashMap<u64, Sub>,
}

struct LocalChannel {
    /// Held while a subscription reads Redis and while a message is delivered.
    order: tokio::sync::Mutex<()>,
    state: Mutex<LocalState>,
    policy: Policy,
}

/// What the read script returned.
struct Snapshot {
    epoch: String,
    seq: u64,
    first: u64,
    /// (seq, frame), oldest first.
    entries: Vec<(u64, Arc<str>)>,
}

/// Why the Redis broker refused.
#[derive(Debug)]
pub enum RedisError {
    /// Redis is unreachable or failed: nothing was stored.
    Unavailable(String),
}

/// The Redis broker of one hub instance.
pub struct RedisBroker {
    addr: String,
    db: u32,
    cmd: tokio::sync::Mutex<Option<Conn>>,
    last_attempt: Mutex<Option<Instant>>,
    /// Set when a command failed, cleared when one succeeds.
    commands_down: AtomicBool,
    pubsub_up: AtomicBool,
    local: Mutex<HashMap<String, Arc<LocalChannel>>>,
    limits: HistoryLimits,
    drop_oldest_prefixes: Vec<String>,
    metrics: Arc<Metrics>,
}

fn key(channel: &str, what: &str) -> String {
    format!("hub:{{{channel}}}:{what}")
}

fn new_epoch() -> String {
    let mut b = [0u8; 8];
    crate::auth::fill_random(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unavailable(e: impl std::fmt::Display) -> RedisError {
    RedisError::Unavailable(e.to_string())
}

impl RedisBroker {
    /// A broker on the Redis at `addr` (`host:port`), database `db`. Call [`Self::start`].
    pub fn new(
        addr: String,
        db: u32,
        limits: HistoryLimits,
        drop_oldest_prefixes: Vec<String>,
        metrics: Arc<Metrics>,
    ) -> Arc<Self> {
        Arc::new(RedisBroker {
            addr,
            db,
            cmd: tokio::sync::Mutex::new(None),
            last_attempt: Mutex::new(None),
            commands_down: AtomicBool::new(false),
            pubsub_up: AtomicBool::new(false),
            local: Mutex::new(HashMap::new()),
            limits,
            drop_oldest_prefixes,
            metrics,
        })
    }

    /// Starts the subscriber task (it reconnects by itself, forever).
    pub fn start(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move { me.subscriber().await })
    }

    /// Whether both connections to Redis are up.
    pub fn healthy(&self) -> bool {
        !self.commands_down.load(Ordering::Relaxed) && self.pubsub_up.load(Ordering::Relaxed)
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

    /// Channels with local subscribers.
    pub fn channel_count(&self) -> usize {
        self.local.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Runs one command on the command connection, connecting first if needed (at most one
    /// connection attempt per 200 ms while Redis is down).
    async fn command(&self, args: &[&[u8]]) -> Result<Value, RedisError> {
        let mut guard = self.cmd.lock().await;
        if guard.is_none() {
            {
                let mut last = self.last_attempt.lock().unwrap_or_else(|p| p.into_inner());
                if last.is_some_and(|t| t.elapsed() < Duration::from_millis(200)) {
                    return Err(unavailable("redis is down"));
                }
                *last = Some(Instant::now());
            }
            let conn =
                tokio::time::timeout(Duration::from_secs(1), Conn::connect(&self.addr, self.db))
                    .await
                    .map_err(|_| unavailable("redis connect timeout"))
                    .and_then(|r| r.map_err(unavailable));
            match conn {
                Ok(c) => *guard = Some(c),
                Err(e) => {
                    self.commands_down.store(true, Ordering::Relaxed);
                    return Err(e);
                }
            }
        }
        let Some(conn) = guard.as_mut() else {
            return Err(unavailable("redis is down"));
        };
        match tokio::time::timeout(Duration::from_secs(5), conn.command(args)).await {
            Ok(Ok(Value::Error(e))) => {
                // A script error: the connection itself is fine.
                Err(unavailable(format!("redis: {e}")))
            }
            Ok(Ok(v)) => {
                self.commands_down.store(false, Ordering::Relaxed);
                Ok(v)
            }
            Ok(Err(e)) => {
                *guard = None;
                self.commands_down.store(true, Ordering::Relaxed);
                Err(unavailable(e))
            }
            Err(_) => {
                *guard = None;
                self.commands_down.store(true, Ordering::Relaxed);
                Err(unavailable("redis command timeout"))
            }
        }
    }

    /// Stores a message in Redis and publishes it to every instance. Ok once Redis holds it.
    pub async fn publish(
        &self,
        channel: &str,
        from: &str,
        payload: &RawValue,
    ) -> Result<Published, RedisError> {
        let json = |s: &str| serde_json::to_string(s).unwrap_or_default();
        let time = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        // The frame is built around the seq and epoch Redis assigns, in the same field
        // order as the in-process broker's frames.
        let prefix = format!(r#"{{"type":"message","channel":{},"seq":"#, json(channel));
        let suffix = format!(
            r#","from":{},"time":{time},"payload":{}}}"#,
            json(from),
            payload.get()
        );
        let (ke, ks, kh) = (
            key(channel, "epoch"),
            key(channel, "seq"),
            key(channel, "hist"),
        );
        let age = self.limits.max_age.as_millis().to_string();
        let reply = self
            .command(&[
                b"EVAL",
                PUBLISH_LUA.as_bytes(),
                b"3",
                ke.as_bytes(),
                ks.as_bytes(),
                kh.as_bytes(),
                new_epoch().as_bytes(),
                prefix.as_bytes(),
                suffix.as_bytes(),
                self.limits.max_count.to_string().as_bytes(),
                age.as_bytes(),
                age.as_bytes(),
                PUBSUB.as_bytes(),
                channel.as_bytes(),
            ])
            .await?;
        let parts = reply.array().ok_or_else(|| unavailable("bad reply"))?;
        match parts {
            [seq, epoch] => {
                self.metrics.publishes.fetch_add(1, Ordering::Relaxed);
                Ok(Published {
                    seq: seq.int().ok_or_else(|| unavailable("bad seq"))? as u64,
                    epoch: epoch.str().unwrap_or_default().to_string(),
                })
            }
            _ => Err(unavailable("bad reply")),
        }
    }

    /// The channel's state and the entries after `after` (oldest first).
    async fn read(&self, channel: &str, after: Option<u64>) -> Result<Snapshot, RedisError> {
        let (ke, ks, kh) = (
            key(channel, "epoch"),
            key(channel, "seq"),
            key(channel, "hist"),
        );
        let after = after.map(|a| a.to_string()).unwrap_or_default();
        let age = self.limits.max_age.as_millis().to_string();
        let reply = self
            .command(&[
                b"EVAL",
                READ_LUA.as_bytes(),
                b"3",
                ke.as_bytes(),
                ks.as_bytes(),
                kh.as_bytes(),
                new_epoch().as_bytes(),
                after.as_bytes(),
                age.as_bytes(),
                age.as_bytes(),
            ])
            .await?;
        let bad = || unavailable("bad reply to the read script");
        let [epoch, seq, first, entries] = reply.array().ok_or_else(bad)? else {
            return Err(bad());
        };
        let mut list = Vec::new();
        for e in entries.array().unwrap_or(&[]) {
            // [id, [field, value, field, value]]
            let Some([_, fields]) = e.array().and_then(|a| <&[Value; 2]>::try_from(a).ok()) else {
                return Err(bad());
            };
            let f = fields.array().ok_or_else(bad)?;
            let mut s = None;
            let mut frame = None;
            for kv in f.chunks(2) {
                if let [k, v] = kv {
                    match k.str() {
                        Some("s") => s = v.int(),
                        Some("f") => frame = v.str().map(Arc::<str>::from),
                        _ => {}
                    }
                }
            }
            list.push((s.ok_or_else(bad)? as u64, frame.ok_or_else(bad)?));
        }
        list.reverse();
        Ok(Snapshot {
            epoch: epoch.str().ok_or_else(bad)?.to_string(),
            seq: seq.int().ok_or_else(bad)?.max(0) as u64,
            first: first.int().ok_or_else(bad)?.max(0) as u64,
            entries: list,
        })
    }

    fn local_channel(&self, name: &str) -> Arc<LocalChannel> {
        let mut map = self.local.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(name.to_string())
            .or_insert_with(|| {
                Arc::new(LocalChannel {
                    order: tokio::sync::Mutex::new(()),
                    state: Mutex::new(LocalState::default()),
                    policy: self.policy(name),
                })
            })
            .clone()
    }

    /// Subscribes like [`crate::broker::Broker::subscribe`], with history from Redis.
    pub async fn subscribe(
        &self,
        channel: &str,
        conn: u64,
        outbox: &Arc<Outbox>,
        last_seq: Option<u64>,
        epoch: Option<&str>,
        reply: impl FnOnce(&Subscription) -> String,
    ) -> Result<Subscription, RedisError> {
        loop {
            let ch = self.local_channel(channel);
            let _order = ch.order.lock().await;
            // The channel may have been dropped (no subscribers) while we waited.
            let current = self
                .local
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(channel)
                .cloned();
            if !current.is_some_and(|c| Arc::ptr_eq(&c, &ch)) {
                continue;
            }
            let same_epoch = |snap_epoch: &str| epoch == Some(snap_epoch);
            // Read everything after last_seq; whether it may be used is decided below.
            let snap = self.read(channel, last_seq).await?;
            let oldest = if snap.first > snap.seq {
                snap.seq + 1
            } else {
                snap.first.max(1)
            };
            let (recovered, replay) = match last_seq {
                None => (true, Vec::new()),
                Some(0) => (oldest <= 1, snap.entries),
                Some(last) if same_epoch(&snap.epoch) => {
                    if last >= snap.seq {
                        (true, Vec::new())
                    } else if last + 1 >= oldest {
                        (true, snap.entries)
                    } else {
                        (false, Vec::new())
                    }
                }
                Some(_) => (false, Vec::new()),
            };
            let sub = Subscription {
                epoch: snap.epoch.clone(),
                seq: snap.seq,
                recovered,
                replayed: replay.len(),
                policy: ch.policy,
            };
            outbox.push_reply(reply(&sub));
            for (_, f) in &replay {
                outbox.push_reply(f.clone());
            }
            let mut st = ch.state.lock().unwrap_or_else(|p| p.into_inner());
            if st.subs.is_empty() || st.epoch != snap.epoch {
                st.epoch = snap.epoch.clone();
                st.last_seen = snap.seq;
            }
            st.subs.insert(
                conn,
                Sub {
                    outbox: outbox.clone(),
                    skip: snap.seq,
                    epoch: snap.epoch,
                },
            );
            drop(st);
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
            return Ok(sub);
        }
    }

    /// Removes connection `conn` from `channel`; drops the local channel when it has no
    /// subscriber left.
    pub fn unsubscribe(&self, channel: &str, conn: u64) -> bool {
        let mut map = self.local.lock().unwrap_or_else(|p| p.into_inner());
        let Some(ch) = map.get(channel).cloned() else {
            return false;
        };
        let removed;
        let empty;
        {
            let mut st = ch.state.lock().unwrap_or_else(|p| p.into_inner());
            removed = st.subs.remove(&conn).is_some();
            empty = st.subs.is_empty();
        }
        // Drop it only if nobody is subscribing or delivering right now.
        if empty {
            if let Ok(_g) = ch.order.try_lock() {
                map.remove(channel);
            }
        }
        removed
    }

    /// Delivers one message to the local subscribers of `channel` (called in seq order).
    fn deliver(&self, ch: &LocalChannel, channel: &str, seq: u64, epoch: &str, frame: &Arc<str>) {
        let mut st = ch.state.lock().unwrap_or_else(|p| p.into_inner());
        if st.epoch == epoch && seq <= st.last_seen {
            return; // already delivered (a gap fill raced the stream)
        }
        if st.epoch != epoch {
            st.epoch = epoch.to_string();
        }
        st.last_seen = seq;
        for sub in st.subs.values() {
            if sub.epoch == epoch && seq <= sub.skip {
                continue;
            }
            if sub.outbox.push_message(frame.clone(), ch.policy) == Pushed::Closing {
                eprintln!(
                    "wsmachine-hub: slow consumer on {channel} closed with 1013 (policy close)"
                );
            }
        }
    }

    /// One message from the pub/sub stream: fills a gap first, then delivers it.
    async fn on_message(&self, payload: &str) {
        let mut parts = payload.splitn(4, '\n');
        let (Some(channel), Some(seq), Some(epoch), Some(frame)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return;
        };
        let Ok(seq) = seq.parse::<u64>() else { return };
        let Some(ch) = self
            .local
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(channel)
            .cloned()
        else {
            return; // no local subscriber
        };
        let _order = ch.order.lock().await;
        let gap_from = {
            let st = ch.state.lock().unwrap_or_else(|p| p.into_inner());
            (st.epoch == epoch && seq > st.last_seen + 1).then_some(st.last_seen)
        };
        if let Some(after) = gap_from {
            self.fill(&ch, channel, after).await;
        }
        self.deliver(&ch, channel, seq, epoch, &Arc::from(frame));
    }

    /// Delivers what Redis has after `after` for a local channel (gap fill).
    async fn fill(&self, ch: &LocalChannel, channel: &str, after: u64) {
        match self.read(channel, Some(after)).await {
            Ok(snap) => {
                let oldest = if snap.first > snap.seq {
                    snap.seq + 1
                } else {
                    snap.first.max(1)
                };
                if after + 1 < oldest {
                    eprintln!(
                        "wsmachine-hub: {channel}: messages {}..{} are gone from history; \
                         subscribers will see the gap",
                        after + 1,
                        oldest - 1
                    );
                }
                for (s, f) in &snap.entries {
                    self.deliver(ch, channel, *s, &snap.epoch, f);
                }
            }
            Err(RedisError::Unavailable(e)) => {
                eprintln!("wsmachine-hub: {channel}: gap fill failed: {e}");
            }
        }
    }

    /// The subscriber task: SUBSCRIBE, deliver, and on any failure reconnect with backoff,
    /// then fill every local channel's gap.
    async fn subscriber(self: Arc<Self>) {
        let mut delay = Duration::from_millis(100);
        loop {
            match self.subscribe_once().await {
                Ok(()) => {}
                Err(e) => {
                    if self.pubsub_up.swap(false, Ordering::Relaxed) {
                        crate::log("redis_down", serde_json::json!({ "error": e.to_string() }));
                    }
                }
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(2));
            if self.pubsub_up.load(Ordering::Relaxed) {
                delay = Duration::from_millis(100);
            }
        }
    }

    async fn subscribe_once(&self) -> io::Result<()> {
        let mut conn =
            tokio::time::timeout(Duration::from_secs(1), Conn::connect(&self.addr, self.db))
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timeout"))??;
        conn.send(&[b"SUBSCRIBE", PUBSUB.as_bytes()]).await?;
        let ok = conn.read().await?;
        if ok.array().and_then(|a| a.first()).and_then(Value::str) != Some("subscribe") {
            return Err(io::Error::other("SUBSCRIBE refused"));
        }
        self.pubsub_up.store(true, Ordering::Relaxed);
        // The command connection too (it reconnects lazily; this clears a failure).
        let _ = self.command(&[b"PING"]).await;
        crate::log("redis_up", serde_json::json!({ "addr": self.addr }));
        // Catch up on what was published while we were not subscribed.
        let channels: Vec<(String, Arc<LocalChannel>)> = self
            .local
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (name, ch) in channels {
            let _order = ch.order.lock().await;
            let after = ch.state.lock().unwrap_or_else(|p| p.into_inner()).last_seen;
            self.fill(&ch, &name, after).await;
        }
        loop {
            let msg = conn.read().await?;
            let Some(parts) = msg.array() else { continue };
            if let [kind, _, payload] = parts {
                if kind.str() == Some("message") {
                    if let Some(p) = payload.str() {
                        self.on_message(p).await;
                    }
                }
            }
        }
    }
}
