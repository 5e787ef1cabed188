//! # wsmachine-hub
//!
//! A pub/sub WebSocket server on [`wsmachine_tokio`]: JSON requests over text frames, the
//! three browser authentication patterns, heartbeats from the core's keepalive timer,
//! bounded per-connection outboxes with per-channel backpressure policies, history with
//! replay after reconnect, and a graceful drain. The protocol, the settings and the close
//! codes are described in `docs/hub.md`.
//!
//! [`serve`] runs a hub on a bound listener until a shutdown signal, then drains.

pub mod auth;
pub mod broker;
pub mod config;
pub mod http;
pub mod metrics;
pub mod outbox;
pub mod protocol;
pub mod redis_broker;
pub mod resp;
mod sse;
mod tls;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use wsmachine_tokio::tokio_rustls;
use wsmachine_tokio::{accept_with, Accept, CloseCode, Error as WsError, Message, Options, Reject};

use auth::{Action, Authority};
use broker::{Broker, BrokerError, HistoryLimits, Published, Subscription};
pub use config::Config;
use http::{Head, Response};
use metrics::Metrics;
use outbox::{Limits, Outbox};
use protocol::{ErrorCode, Request};
use redis_broker::{RedisBroker, RedisError};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "hub_session";
/// The WebSocket endpoint.
pub const WS_PATH: &str = "/ws";
/// Close code and reason for the drain: 1001 (going away) with a reconnect hint.
pub const DRAIN_REASON: &str = "server draining; reconnect";

const INDEX_HTML: &str = include_str!("../web/index.html");
const CLIENT_JS: &str = include_str!("../js/wsmachine-client.js");

/// Shared state of one hub.
pub struct Hub {
    config: Config,
    tls: Option<tokio_rustls::TlsAcceptor>,
    authority: Authority,
    broker: Backend,
    metrics: Arc<Metrics>,
    draining: AtomicBool,
    next_id: AtomicU64,
    connections: Mutex<HashMap<u64, Arc<Outbox>>>,
    /// Publish rate limits of `POST /publish`, per user.
    http_buckets: Mutex<HashMap<String, Bucket>>,
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// One structured log line (JSON) on standard error.
pub fn log(event: &str, fields: serde_json::Value) {
    let mut line = serde_json::json!({ "ts_ms": unix_ms(), "event": event });
    if let (Some(obj), serde_json::Value::Object(extra)) = (line.as_object_mut(), fields) {
        obj.extend(extra);
    }
    eprintln!("{line}");
}

/// Where channels, history and fan-out live: this process, or Redis (scale-out).
enum Backend {
    Memory(Broker),
    Redis(Arc<RedisBroker>),
}

enum BackendError {
    TooManyChannels,
    Unavailable(String),
}

impl From<BrokerError> for BackendError {
    fn from(e: BrokerError) -> Self {
        match e {
            BrokerError::TooManyChannels => BackendError::TooManyChannels,
        }
    }
}

impl From<RedisError> for BackendError {
    fn from(e: RedisError) -> Self {
        match e {
            RedisError::Unavailable(why) => BackendError::Unavailable(why),
        }
    }
}

impl Backend {
    fn new(config: &Config, metrics: &Arc<Metrics>) -> Backend {
        let limits = HistoryLimits {
            max_count: config.history_count,
            max_age: config.history_age,
            max_bytes: config.history_bytes,
        };
        match &config.redis {
            Some((addr, db)) => {
                let b = RedisBroker::new(
                    addr.clone(),
                    *db,
                    limits,
                    config.drop_oldest.clone(),
                    metrics.clone(),
                );
                b.start();
                Backend::Redis(b)
            }
            None => Backend::Memory(Broker::new(
                limits,
                config.max_channels,
                config.drop_oldest.clone(),
                metrics.clone(),
            )),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Backend::Memory(_) => "memory",
            Backend::Redis(_) => "redis",
        }
    }

    /// Whether the backend works (Redis reachable).
    fn healthy(&self) -> bool {
        match self {
            Backend::Memory(_) => true,
            Backend::Redis(r) => r.healthy(),
        }
    }

    fn channel_count(&self) -> usize {
        match self {
            Backend::Memory(b) => b.channel_count(),
            Backend::Redis(r) => r.channel_count(),
        }
    }

    fn unsubscribe(&self, channel: &str, conn: u64) -> bool {
        match self {
            Backend::Memory(b) => b.unsubscribe(channel, conn),
            Backend::Redis(r) => r.unsubscribe(channel, conn),
        }
    }

    async fn publish(
        &self,
        channel: &str,
        from: &str,
        payload: &serde_json::value::RawValue,
    ) -> Result<Published, BackendError> {
        match self {
            Backend::Memory(b) => Ok(b.publish(channel, from, payload)?),
            // Boxed: the Redis call's state would otherwise sit in every connection's future.
            Backend::Redis(r) => Ok(Box::pin(r.publish(channel, from, payload)).await?),
        }
    }

    async fn subscribe(
        &self,
        channel: &str,
        conn: u64,
        outbox: &Arc<Outbox>,
        last_seq: Option<u64>,
        epoch: Option<&str>,
        reply: impl FnOnce(&Subscription) -> String,
    ) -> Result<Subscription, BackendError> {
        match self {
            Backend::Memory(b) => Ok(b.subscribe(channel, conn, outbox, last_seq, epoch, reply)?),
            Backend::Redis(r) => {
                Ok(Box::pin(r.subscribe(channel, conn, outbox, last_seq, epoch, reply)).await?)
            }
        }
    }
}

impl Hub {
    /// A hub with `config` (with `config.redis`, it connects to Redis in the background:
    /// call it inside a tokio runtime). Fails when the TLS certificate or key cannot be used.
    pub fn new(config: Config) -> Result<Arc<Hub>, String> {
        let metrics = Arc::new(Metrics::default());
        let tls = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => Some(tls::acceptor(cert, key)?),
            (None, None) => None,
            _ => return Err("--tls-cert and --tls-key go together".into()),
        };
        Ok(Arc::new(Hub {
            tls,
            authority: Authority::new(&config.secret),
            broker: Backend::new(&config, &metrics),
            metrics,
            draining: AtomicBool::new(false),
            next_id: AtomicU64::new(1),
            connections: Mutex::new(HashMap::new()),
            http_buckets: Mutex::new(HashMap::new()),
            config,
        }))
    }

    /// The cookie attributes: `Secure` when the hub serves TLS.
    fn cookie_attrs(&self) -> &'static str {
        if self.tls.is_some() {
            "Path=/; HttpOnly; SameSite=Strict; Secure"
        } else {
            "Path=/; HttpOnly; SameSite=Strict"
        }
    }

    /// The hub's counters.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The credentials authority (tests mint tokens with it).
    pub fn authority(&self) -> &Authority {
        &self.authority
    }

    fn log(&self, event: &str, fields: serde_json::Value) {
        if !self.config.quiet {
            log(event, fields);
        }
    }

    fn ws_options(&self) -> Options {
        let mut o = Options::new();
        o.config.max_message_size = self.config.max_message as u64;
        o.config.max_frame_payload = self.config.max_message as u64;
        o.config.auth_timeout_ms = ms32(self.config.auth_timeout);
        o.config.keepalive_interval_ms = ms32(self.config.heartbeat);
        o.config.keepalive_timeout_ms = ms32(self.config.heartbeat_timeout);
        o.send_timeout = Some(self.config.send_timeout);
        // Requests are small JSON frames: a small read buffer keeps idle connections cheap
        // (messages up to --max-message are still assembled whole).
        o.read_buffer_size = 4096;
        // permessage-deflate (--deflate) with 12-bit windows; zlib's state is allocated per
        // connection that negotiates it.
        o.config.deflate = self
            .config
            .deflate
            .then(|| wsmachine_tokio::wsmachine::deflate::DeflateConfig::new().window_bits(12));
        o
    }

    /// Whether a browser `origin` may open a WebSocket on `host`: its own origin
    /// (`http(s)://host`) or one of `allowed_origins`.
    fn origin_allowed(&self, origin: &str, host: Option<&str>) -> bool {
        if self.config.allowed_origins.iter().any(|o| o == origin) {
            return true;
        }
        let Some(host) = host else { return false };
        origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
            .is_some_and(|h| h.eq_ignore_ascii_case(host))
    }

    fn is_admin(&self, user: &str) -> bool {
        self.config.admins.iter().any(|a| a == user)
    }
}

fn ms32(d: Duration) -> u32 {
    d.as_millis().min(u32::MAX as u128) as u32
}

/// The soft open-file limit (Linux, from `/proc/self/limits`), reported at start: each
/// connection takes one descriptor. The hub's scripts raise it with `ulimit -n`.
pub fn nofile_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Runs `hub` on `listener` until `shutdown` completes, then drains: upgrades are refused
/// (503) and `/healthz` answers 503 while every connection is closed with 1001 in batches;
/// what remains after the drain deadline is force-closed, then `serve` returns.
pub async fn serve(
    hub: Arc<Hub>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => on_accept(&hub, &mut tasks, accepted).await,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    drain(&hub, &listener, &mut tasks).await;
    Ok(())
}

async fn on_accept(
    hub: &Arc<Hub>,
    tasks: &mut JoinSet<()>,
    accepted: io::Result<(TcpStream, std::net::SocketAddr)>,
) {
    match accepted {
        Ok((tcp, _)) => {
            let _ = tcp.set_nodelay(true);
            let hub = hub.clone();
            tasks.spawn(async move { connection(hub, tcp).await });
        }
        Err(e) => {
            // Out of descriptors (EMFILE) and the like: back off instead of spinning.
            hub.log(
                "accept_error",
                serde_json::json!({ "error": e.to_string() }),
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn drain(hub: &Arc<Hub>, listener: &TcpListener, tasks: &mut JoinSet<()>) {
    hub.draining.store(true, Ordering::SeqCst);
    let open: Vec<Arc<Outbox>> = hub
        .connections
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .values()
        .cloned()
        .collect();
    hub.log(
        "drain_start",
        serde_json::json!({ "connections": open.len(), "deadline_s": hub.config.drain.as_secs() }),
    );
    let deadline = tokio::time::Instant::now() + hub.config.drain;
    let batch = hub.config.drain_batch.max(1);
    let closer = async {
        for (i, chunk) in open.chunks(batch).enumerate() {
            if i > 0 {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            for out in chunk {
                out.close(CloseCode::GOING_AWAY.get(), DRAIN_REASON);
            }
        }
    };
    tokio::pin!(closer);
    let mut closed_all = false;
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    // Keep answering HTTP (healthz: 503; upgrades: 503) until every WebSocket is gone or
    // the deadline passes.
    let forced = loop {
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => break true,
            _ = &mut closer, if !closed_all => closed_all = true,
            accepted = listener.accept() => on_accept(hub, tasks, accepted).await,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            _ = tick.tick() => {
                if closed_all && hub.metrics.connections.load(Ordering::Relaxed) == 0 {
                    break false;
                }
            }
        }
    };
    let left = hub.metrics.connections.load(Ordering::Relaxed);
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    hub.log(
        "drain_end",
        serde_json::json!({ "forced": forced, "force_closed": left }),
    );
}

async fn connection(hub: Arc<Hub>, tcp: TcpStream) {
    match &hub.tls {
        None => serve_stream(hub, tcp).await,
        Some(acceptor) => {
            let acceptor = acceptor.clone();
            // Boxed: the TLS states would otherwise enlarge every plain connection's future.
            let accept = Box::pin(acceptor.accept(tcp));
            match tokio::time::timeout(Duration::from_secs(10), accept).await {
                Ok(Ok(tls)) => Box::pin(serve_stream(hub, tls)).await,
                // A failed or slow TLS handshake: nothing to answer.
                _ => {
                    hub.metrics.tls_failures.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}

/// One connection after TLS (if any): an HTTP request or a WebSocket.
async fn serve_stream<S>(hub: Arc<Hub>, mut tcp: S)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let mut buf = Vec::new();
    let head =
        match tokio::time::timeout(Duration::from_secs(10), http::read_head(&mut tcp, &mut buf))
            .await
        {
            Ok(Ok(Some(head))) => head,
            Ok(Ok(None)) => return,
            Ok(Err(_)) => {
                let _ = Response::text(400, "bad request").write(&mut tcp).await;
                return;
            }
            Err(_) => {
                let _ = Response::text(408, "request timeout").write(&mut tcp).await;
                return;
            }
        };
    if head.is_upgrade() {
        websocket(hub, tcp, buf, head).await;
    } else {
        // Boxed: a WebSocket connection's future stays small.
        Box::pin(http_request(hub, tcp, buf, head)).await;
    }
}

async fn http_request<S>(hub: Arc<Hub>, mut tcp: S, mut buf: Vec<u8>, head: Head)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    hub.metrics.http_requests.fetch_add(1, Ordering::Relaxed);
    if head.method == "GET" && head.path == "/sse" {
        return sse::stream(hub, tcp, head).await;
    }
    {
        let rest = buf.split_off(head.len);
        let response = match tokio::time::timeout(
            Duration::from_secs(10),
            http::read_body(&mut tcp, &head, rest),
        )
        .await
        {
            Ok(Ok(body)) if head.method == "POST" && head.path == "/publish" => {
                sse::publish(&hub, &head, &body).await
            }
            Ok(Ok(body)) => route(&hub, &head, &body),
            Ok(Err(e)) => Response::text(400, &e.to_string()),
            Err(_) => Response::text(408, "request timeout"),
        };
        let _ = response.write(&mut tcp).await;
    }
}

/// The user of a request's session cookie or `Authorization: Bearer` API key.
fn http_user(hub: &Hub, head: &Head) -> Option<String> {
    if let Some(key) = head
        .header("authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        return hub
            .config
            .api_keys
            .iter()
            .find(|(_, k)| constant_time_eq(k.as_bytes(), key.trim().as_bytes()))
            .map(|(u, _)| u.clone());
    }
    let cookie = head.cookie(SESSION_COOKIE)?;
    hub.authority.check_session(cookie, unix_ms()).ok()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn route(hub: &Hub, head: &Head, body: &[u8]) -> Response {
    let draining = hub.draining.load(Ordering::SeqCst);
    match (head.method.as_str(), head.path.as_str()) {
        ("GET", "/") | ("GET", "/index.html") => {
            Response::new(200, "text/html; charset=utf-8", INDEX_HTML)
        }
        ("GET", "/wsmachine-client.js") => {
            Response::new(200, "text/javascript; charset=utf-8", CLIENT_JS)
        }
        ("GET", "/healthz") => {
            let connections = hub.metrics.connections.load(Ordering::Relaxed);
            let broker = hub.broker.name();
            if draining {
                Response::json(
                    503,
                    &serde_json::json!({"status": "draining", "instance": hub.config.instance_id, "broker": broker, "connections": connections}),
                )
            } else if !hub.broker.healthy() {
                // Still serving (connections, subscriptions to live traffic fail until Redis
                // is back): degraded, not down.
                Response::json(
                    200,
                    &serde_json::json!({"status": "degraded", "instance": hub.config.instance_id, "broker": broker, "redis": "down", "connections": connections}),
                )
            } else {
                Response::json(
                    200,
                    &serde_json::json!({"status": "ok", "instance": hub.config.instance_id, "broker": broker, "connections": connections}),
                )
            }
        }
        ("GET", "/metrics") => Response::new(
            200,
            "text/plain; version=0.0.4",
            hub.metrics.render(
                draining,
                hub.broker.channel_count(),
                matches!(hub.broker, Backend::Redis(_)).then(|| hub.broker.healthy()),
            ),
        ),
        ("GET", "/me") => match http_user(hub, head) {
            Some(user) => Response::json(200, &serde_json::json!({ "user": user })),
            None => Response::json(401, &serde_json::json!({ "error": "UNAUTHORIZED" })),
        },
        ("POST", "/login") => login(hub, head, body),
        ("POST", "/logout") => Response::json(200, &serde_json::json!({})).header(
            "Set-Cookie",
            format!("{SESSION_COOKIE}=; Max-Age=0; {}", hub.cookie_attrs()),
        ),
        ("POST", "/token") => {
            if !same_origin_post(hub, head) {
                return Response::json(403, &serde_json::json!({"error": "FORBIDDEN"}));
            }
            match http_user(hub, head) {
                Some(user) => {
                    let ttl = hub.config.token_ttl;
                    let token = hub
                        .authority
                        .token(&user, unix_ms() + ttl.as_millis() as u64);
                    Response::json(
                        200,
                        &serde_json::json!({ "token": token, "user": user, "expires_in_s": ttl.as_secs() }),
                    )
                }
                None => {
                    hub.metrics.auth_failures.fetch_add(1, Ordering::Relaxed);
                    Response::json(401, &serde_json::json!({"error": "UNAUTHORIZED"}))
                }
            }
        }
        (_, "/" | "/index.html" | "/wsmachine-client.js" | "/healthz" | "/metrics" | "/me")
        | (_, "/login" | "/logout" | "/token" | "/publish" | "/sse") => {
            Response::text(405, "method not allowed")
        }
        _ => Response::text(404, "not found"),
    }
}

/// A cookie-authenticated POST must come from an allowed origin (CSRF); requests without
/// `Origin` (not from a browser) pass.
fn same_origin_post(hub: &Hub, head: &Head) -> bool {
    match head.header("origin") {
        Some(origin) => hub.origin_allowed(origin, head.header("host")),
        None => true,
    }
}

fn login(hub: &Hub, head: &Head, body: &[u8]) -> Response {
    if !hub.config.demo_login {
        return Response::json(
            404,
            &serde_json::json!({"error": "login is disabled (start the hub with --demo-login)"}),
        );
    }
    if !same_origin_post(hub, head) {
        return Response::json(403, &serde_json::json!({"error": "FORBIDDEN"}));
    }
    let name = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("name").and_then(|n| n.as_str()).map(str::to_string));
    let Some(name) = name.filter(|n| auth::valid_user(n)) else {
        return Response::json(
            400,
            &serde_json::json!({"error": "BAD_REQUEST", "message": "name: 1-32 of A-Z a-z 0-9 _ -"}),
        );
    };
    let ttl = hub.config.session_ttl;
    let cookie = hub
        .authority
        .session(&name, unix_ms() + ttl.as_millis() as u64);
    Response::json(200, &serde_json::json!({ "user": name })).header(
        "Set-Cookie",
        format!(
            "{SESSION_COOKIE}={cookie}; Max-Age={}; {}",
            ttl.as_secs(),
            hub.cookie_attrs()
        ),
    )
}

/// How a connection was authenticated.
#[derive(Debug, Clone, Copy)]
enum AuthKind {
    Cookie,
    Token,
    Message,
}

impl AuthKind {
    fn as_str(self) -> &'static str {
        match self {
            AuthKind::Cookie => "cookie",
            AuthKind::Token => "token",
            AuthKind::Message => "message",
        }
    }
}

/// Decides an upgrade before the handshake: `Ok(Some(user))` authenticated by cookie or
/// token, `Ok(None)` to authenticate by first message, `Err` to refuse.
fn upgrade_auth(hub: &Hub, head: &Head) -> Result<Option<(String, AuthKind)>, Reject> {
    if hub.draining.load(Ordering::SeqCst) {
        return Err(Reject::new(503).body("draining"));
    }
    if head.path != WS_PATH {
        return Err(Reject::new(404).body("not found"));
    }
    if let Some(origin) = head.header("origin") {
        if !hub.origin_allowed(origin, head.header("host")) {
            hub.metrics
                .origin_rejections
                .fetch_add(1, Ordering::Relaxed);
            hub.log("origin_rejected", serde_json::json!({ "origin": origin }));
            return Err(Reject::new(403).body("origin not allowed"));
        }
    }
    if let Some(token) = head.query_param("token") {
        // A token that fails is refused outright (never logged).
        return match hub.authority.redeem_token(token, unix_ms()) {
            Ok(user) => Ok(Some((user, AuthKind::Token))),
            Err(why) => {
                hub.metrics.auth_failures.fetch_add(1, Ordering::Relaxed);
                hub.log(
                    "auth_failed",
                    serde_json::json!({ "via": "token", "why": why.as_str() }),
                );
                Err(Reject::new(401).body("invalid token"))
            }
        };
    }
    if let Some(cookie) = head.cookie(SESSION_COOKIE) {
        match hub.authority.check_session(cookie, unix_ms()) {
            Ok(user) => return Ok(Some((user, AuthKind::Cookie))),
            Err(why) => {
                hub.metrics.auth_failures.fetch_add(1, Ordering::Relaxed);
                hub.log(
                    "auth_failed",
                    serde_json::json!({ "via": "cookie", "why": why.as_str() }),
                );
            }
        }
    }
    Ok(None)
}

/// Per-connection publish rate limit: a token bucket of `2 * rate` publishes refilled at
/// `rate` per second.
struct Bucket {
    tokens: f64,
    rate: f64,
    at: Instant,
}

impl Bucket {
    fn new(rate: u32) -> Self {
        Bucket {
            tokens: 2.0 * f64::from(rate),
            rate: f64::from(rate),
            at: Instant::now(),
        }
    }

    fn take(&mut self) -> bool {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.at).as_secs_f64() * self.rate)
            .min(2.0 * self.rate);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

struct Session {
    id: u64,
    user: Option<String>,
    admin: bool,
    outbox: Arc<Outbox>,
    subscriptions: HashSet<String>,
    bucket: Bucket,
}

async fn websocket<S>(hub: Arc<Hub>, tcp: S, buf: Vec<u8>, head: Head)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (decided, reject) = match upgrade_auth(&hub, &head) {
        Ok(d) => (d, None),
        Err(r) => (None, Some(r)),
    };
    let stream = http::Prefixed::new(buf, tcp);
    // Boxed: the handshake's state is needed only until the connection is open.
    let accepted = Box::pin(accept_with(
        stream,
        hub.ws_options(),
        move |_req| match reject {
            None => Ok(Accept::new()),
            Some(r) => Err(r),
        },
    ))
    .await;
    let Ok(ws) = accepted else {
        return;
    };
    let (mut reader, writer) = ws.split();
    let id = hub.next_id.fetch_add(1, Ordering::Relaxed);
    let outbox = Arc::new(Outbox::new(
        Limits {
            max_messages: hub.config.queue_messages,
            max_bytes: hub.config.queue_bytes,
        },
        hub.metrics.clone(),
    ));
    hub.connections
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(id, outbox.clone());
    hub.metrics.connections.fetch_add(1, Ordering::Relaxed);
    hub.metrics
        .connections_total
        .fetch_add(1, Ordering::Relaxed);

    let mut session = Session {
        id,
        user: None,
        admin: false,
        outbox: outbox.clone(),
        subscriptions: HashSet::new(),
        bucket: Bucket::new(hub.config.publish_rate),
    };
    if let Some((user, how)) = decided {
        writer.set_authenticated();
        authenticated(&hub, &mut session, user, how);
    }
    let writer_task = tokio::spawn(write_loop(hub.clone(), writer.clone(), outbox.clone()));

    while let Some(msg) = reader.next().await {
        hub.metrics.messages_in.fetch_add(1, Ordering::Relaxed);
        match msg {
            Ok(Message::Text(text)) => request(&hub, &mut session, &writer, &text).await,
            Ok(Message::Binary(_)) => {
                hub.metrics.request_errors.fetch_add(1, Ordering::Relaxed);
                outbox.push_reply(protocol::error(
                    None,
                    ErrorCode::BadRequest,
                    "binary frames are not part of the protocol; send JSON text",
                ));
            }
            Err(_) => break,
        }
    }
    // The connection has ended (closing handshake done, or failed: 1002/1007/1008/1009 were
    // sent by the core, 1006 for a transport loss or a dead peer).
    let status = reader.close_status();
    for ch in &session.subscriptions {
        hub.broker.unsubscribe(ch, id);
    }
    outbox.close(CloseCode::NORMAL.get(), "");
    let _ = writer_task.await;
    hub.connections
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&id);
    hub.metrics.connections.fetch_sub(1, Ordering::Relaxed);
    hub.log(
        "closed",
        serde_json::json!({ "conn": id, "user": session.user, "status": format!("{status:?}") }),
    );
}

fn authenticated(hub: &Hub, s: &mut Session, user: String, how: AuthKind) {
    s.admin = hub.is_admin(&user);
    s.outbox.push_reply(protocol::welcome(
        &user,
        ms32(hub.config.heartbeat),
        how.as_str(),
        &hub.config.instance_id,
    ));
    hub.log(
        "open",
        serde_json::json!({ "conn": s.id, "user": user, "auth": how.as_str() }),
    );
    s.user = Some(user);
}

async fn write_loop<S>(hub: Arc<Hub>, writer: wsmachine_tokio::WsWriter<S>, outbox: Arc<Outbox>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let mut batch = Vec::with_capacity(64);
    loop {
        batch.clear();
        if let Some((code, reason)) = outbox.next_batch(&mut batch, 64).await {
            if code != CloseCode::NORMAL.get() || !reason.is_empty() {
                let code = CloseCode::new(code).unwrap_or(CloseCode::GOING_AWAY);
                let _ = writer.close(code, reason).await;
            }
            return;
        }
        for frame in &batch {
            match writer.feed(&**frame).await {
                Ok(()) => {
                    hub.metrics.messages_out.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => return send_failed(&hub, &outbox, e),
            }
        }
        if let Err(e) = writer.flush().await {
            return send_failed(&hub, &outbox, e);
        }
    }
}

fn send_failed(hub: &Hub, outbox: &Outbox, e: WsError) {
    if matches!(e, WsError::SendTimeout) {
        hub.metrics.send_timeouts.fetch_add(1, Ordering::Relaxed);
        hub.log("send_timeout", serde_json::json!({}));
    }
    outbox.close(CloseCode::NORMAL.get(), "");
}

async fn request<S>(hub: &Hub, s: &mut Session, writer: &wsmachine_tokio::WsWriter<S>, text: &str)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let err = |s: &Session, id: Option<&protocol::Id>, code: ErrorCode, msg: &str| {
        hub.metrics.request_errors.fetch_add(1, Ordering::Relaxed);
        s.outbox.push_reply(protocol::error(id, code, msg));
    };
    let req = match protocol::parse(text) {
        Ok(r) => r,
        Err(bad) => return err(s, bad.id.as_ref(), ErrorCode::BadRequest, &bad.why),
    };
    if let Request::Auth { id, token } = &req {
        if s.user.is_some() {
            return err(
                s,
                id.as_ref(),
                ErrorCode::BadRequest,
                "already authenticated",
            );
        }
        return match hub.authority.redeem_token(token, unix_ms()) {
            Ok(user) => {
                writer.set_authenticated();
                authenticated(hub, s, user, AuthKind::Message);
                s.outbox.push_reply(protocol::ack(id.as_ref(), None));
            }
            Err(why) => {
                hub.metrics.auth_failures.fetch_add(1, Ordering::Relaxed);
                hub.log(
                    "auth_failed",
                    serde_json::json!({ "via": "message", "conn": s.id, "why": why.as_str() }),
                );
                err(s, id.as_ref(), ErrorCode::Unauthorized, "invalid token");
            }
        };
    }
    let Some(user) = s.user.clone() else {
        let id = match &req {
            Request::Subscribe { id, .. }
            | Request::Unsubscribe { id, .. }
            | Request::Publish { id, .. }
            | Request::Ping { id }
            | Request::Auth { id, .. } => id.clone(),
        };
        return err(
            s,
            id.as_ref(),
            ErrorCode::Unauthorized,
            "authenticate first: {\"type\":\"auth\",\"token\":…}",
        );
    };
    match req {
        Request::Auth { .. } => {}
        Request::Ping { id } => s.outbox.push_reply(protocol::pong(id.as_ref())),
        Request::Subscribe {
            id,
            channel,
            last_seq,
            epoch,
        } => {
            if !auth::permitted(&hub.config.acl, &user, s.admin, channel, Action::Subscribe) {
                return err(
                    s,
                    id.as_ref(),
                    ErrorCode::Forbidden,
                    "may not subscribe here",
                );
            }
            if s.subscriptions.contains(channel) {
                // Re-subscribing (e.g. to resume): drop the old registration first.
                hub.broker.unsubscribe(channel, s.id);
            } else if s.subscriptions.len() >= hub.config.max_subscriptions {
                return err(
                    s,
                    id.as_ref(),
                    ErrorCode::LimitExceeded,
                    "too many subscriptions",
                );
            }
            let result = hub
                .broker
                .subscribe(channel, s.id, &s.outbox, last_seq, epoch, |sub| {
                    protocol::Subscribed::encode(
                        id.as_ref(),
                        channel,
                        &sub.epoch,
                        sub.seq,
                        sub.recovered,
                        sub.replayed,
                        sub.policy.as_str(),
                    )
                })
                .await;
            match result {
                Ok(_) => {
                    s.subscriptions.insert(channel.to_string());
                }
                Err(BackendError::TooManyChannels) => {
                    s.subscriptions.remove(channel);
                    err(
                        s,
                        id.as_ref(),
                        ErrorCode::LimitExceeded,
                        "too many channels",
                    );
                }
                Err(BackendError::Unavailable(why)) => {
                    s.subscriptions.remove(channel);
                    hub.log(
                        "broker_unavailable",
                        serde_json::json!({ "op": "subscribe", "error": why }),
                    );
                    err(
                        s,
                        id.as_ref(),
                        ErrorCode::Unavailable,
                        "the hub's broker is unavailable; retry",
                    );
                }
            }
        }
        Request::Unsubscribe { id, channel } => {
            s.subscriptions.remove(channel);
            hub.broker.unsubscribe(channel, s.id);
            s.outbox.push_reply(protocol::ack(id.as_ref(), None));
        }
        Request::Publish {
            id,
            channel,
            payload,
        } => {
            if !auth::permitted(&hub.config.acl, &user, s.admin, channel, Action::Publish) {
                return err(s, id.as_ref(), ErrorCode::Forbidden, "may not publish here");
            }
            if !s.bucket.take() {
                hub.metrics.rate_limited.fetch_add(1, Ordering::Relaxed);
                return err(
                    s,
                    id.as_ref(),
                    ErrorCode::RateLimited,
                    "publish rate exceeded",
                );
            }
            match hub.broker.publish(channel, &user, payload).await {
                Ok(p) => s
                    .outbox
                    .push_reply(protocol::ack(id.as_ref(), Some((channel, p.seq, &p.epoch)))),
                Err(BackendError::TooManyChannels) => err(
                    s,
                    id.as_ref(),
                    ErrorCode::LimitExceeded,
                    "too many channels",
                ),
                Err(BackendError::Unavailable(why)) => {
                    // Nothing was stored: the publisher gets an error, never an ack.
                    hub.log(
                        "broker_unavailable",
                        serde_json::json!({ "op": "publish", "error": why }),
                    );
                    err(
                        s,
                        id.as_ref(),
                        ErrorCode::Unavailable,
                        "the hub's broker is unavailable; not stored, retry",
                    )
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    /// Every connection's task holds this future: its size is memory per idle connection.
    /// (Large states — TLS, the handshake, HTTP, Redis calls — are boxed for that reason.)
    #[tokio::test]
    async fn a_connection_future_stays_small() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let c = tokio::net::TcpStream::connect(l.local_addr().unwrap())
            .await
            .unwrap();
        let hub = super::Hub::new(super::Config::default()).unwrap();
        let f = super::connection(hub, c);
        let size = std::mem::size_of_val(&f);
        assert!(size <= 4096, "connection future: {size} bytes");
    }
}
