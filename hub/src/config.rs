//! The hub's settings, from flags and environment variables (flags win).

use std::time::Duration;

/// Every setting, with the defaults of docs/hub.md.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listen address (`--host`, `HUB_HOST`; default 127.0.0.1).
    pub host: String,
    /// Listen port (`--port`, `PORT`; default 8080; 0 picks a free one).
    pub port: u16,
    /// Key for session cookies and tokens (`--secret`, `HUB_SECRET`); random per process
    /// when unset (then cookies and tokens do not survive a restart or work across
    /// instances: give every instance the same secret).
    pub secret: Vec<u8>,
    /// Origins allowed on the upgrade besides the hub's own (`--allow-origin`, repeatable,
    /// `HUB_ALLOW_ORIGINS` comma-separated). A request without `Origin` (not a browser) is
    /// allowed.
    pub allowed_origins: Vec<String>,
    /// First-message authentication deadline (`--auth-timeout-ms`; default 5000).
    pub auth_timeout: Duration,
    /// Server ping interval (`--heartbeat-ms`; default 25000, below the usual 30-60 s load
    /// balancer idle timeouts).
    pub heartbeat: Duration,
    /// How long a pong may take before the peer is declared dead (`--heartbeat-timeout-ms`;
    /// default 10000).
    pub heartbeat_timeout: Duration,
    /// Outbox bound in frames (`--queue-messages`; default 1000).
    pub queue_messages: usize,
    /// Outbox bound in bytes (`--queue-bytes`; default 1 MiB).
    pub queue_bytes: usize,
    /// Send time limit (`--send-timeout-ms`; default 10000): a connection whose socket takes
    /// nothing for this long is dropped.
    pub send_timeout: Duration,
    /// History per channel, messages (`--history`; default 1000).
    pub history_count: usize,
    /// History per channel, age (`--history-age-s`; default 600).
    pub history_age: Duration,
    /// History per channel, bytes (`--history-bytes`; default 1 MiB; in-process broker). With
    /// `--max-channels` it bounds the broker's memory: at most their product.
    pub history_bytes: usize,
    /// Channels the hub holds at most (`--max-channels`; default 10000).
    pub max_channels: usize,
    /// Subscriptions per connection (`--max-subscriptions`; default 100).
    pub max_subscriptions: usize,
    /// Largest client frame (`--max-message`; default 65536): 1009 above.
    pub max_message: usize,
    /// Publishes per second per connection (`--rate`; default 20), with bursts of
    /// `2 * rate`.
    pub publish_rate: u32,
    /// Channel name prefixes with the drop-oldest policy (`--drop-oldest`, repeatable;
    /// default `ticker.` and `presence.`); every other channel uses the close policy.
    pub drop_oldest: Vec<String>,
    /// Connection token lifetime (`--token-ttl-s`; default 30).
    pub token_ttl: Duration,
    /// Session cookie lifetime (`--session-ttl-s`; default 86400).
    pub session_ttl: Duration,
    /// `POST /login` takes any user name (`--demo-login`; off by default: for the demo).
    pub demo_login: bool,
    /// API keys for `POST /token` with `Authorization: Bearer KEY` (`--api-key USER=KEY`,
    /// repeatable).
    pub api_keys: Vec<(String, String)>,
    /// Users who may publish on `announce.*` (`--admin NAME`, repeatable).
    pub admins: Vec<String>,
    /// Drain deadline after SIGTERM (`--drain-s`; default 30).
    pub drain: Duration,
    /// Connections closed per drain batch (`--drain-batch`; default 500), one batch every
    /// 100 ms.
    pub drain_batch: usize,
    /// No per-connection log lines (`--quiet`).
    pub quiet: bool,
    /// Redis (`--redis redis://host:port[/db]`, `HUB_REDIS`): history, sequence numbers and
    /// fan-out between instances live there. None: the in-process broker.
    pub redis: Option<(String, u32)>,
    /// This instance's name in `welcome`, `/healthz` and the logs (`--instance-id`,
    /// `HUB_INSTANCE_ID`; default: random).
    pub instance_id: String,
    /// PEM certificate chain (`--tls-cert`): with `--tls-key`, the hub serves https:// and
    /// wss:// only.
    pub tls_cert: Option<std::path::PathBuf>,
    /// PEM private key (`--tls-key`).
    pub tls_key: Option<std::path::PathBuf>,
    /// Accept permessage-deflate (`--deflate`; off by default): 12-bit windows, zlib level 6.
    /// Every connection that negotiates it (every browser does) costs zlib's state, about
    /// 230 KiB, on top of the ~12 KiB of an uncompressed one (docs/hub.md, "Figures"); the
    /// hub's JSON messages are small, so it is off unless asked for.
    pub deflate: bool,
    /// Channel permission rules: the built-in ones, then `--acl PREFIX:SUBSCRIBE:PUBLISH`
    /// (repeatable; the longest matching prefix decides, the later rule on a tie).
    pub acl: Vec<crate::auth::Rule>,
}

impl Default for Config {
    fn default() -> Self {
        let mut secret = vec![0u8; 32];
        crate::auth::fill_random(&mut secret);
        Config {
            host: "127.0.0.1".into(),
            port: 8080,
            secret,
            allowed_origins: Vec::new(),
            auth_timeout: Duration::from_secs(5),
            heartbeat: Duration::from_secs(25),
            heartbeat_timeout: Duration::from_secs(10),
            queue_messages: 1000,
            queue_bytes: 1 << 20,
            send_timeout: Duration::from_secs(10),
            history_count: 1000,
            history_age: Duration::from_secs(600),
            history_bytes: 1 << 20,
            max_channels: 10_000,
            max_subscriptions: 100,
            max_message: 64 << 10,
            publish_rate: 20,
            drop_oldest: vec!["ticker.".into(), "presence.".into()],
            token_ttl: Duration::from_secs(30),
            session_ttl: Duration::from_secs(86_400),
            demo_login: false,
            api_keys: Vec::new(),
            admins: Vec::new(),
            drain: Duration::from_secs(30),
            drain_batch: 500,
            quiet: false,
            redis: None,
            acl: crate::auth::default_rules(),
            deflate: false,
            tls_cert: None,
            tls_key: None,
            instance_id: {
                let mut b = [0u8; 3];
                crate::auth::fill_random(&mut b);
                b.iter().map(|x| format!("{x:02x}")).collect()
            },
        }
    }
}

/// The usage text.
pub const USAGE: &str = "\
usage: wsmachine-hub [--host H] [--port P] [--secret S] [--allow-origin URL]...
                     [--demo-login] [--api-key USER=KEY]... [--admin USER]...
                     [--auth-timeout-ms N] [--heartbeat-ms N] [--heartbeat-timeout-ms N]
                     [--queue-messages N] [--queue-bytes N] [--send-timeout-ms N]
                     [--history N] [--history-age-s N] [--history-bytes N]
                     [--max-channels N]
                     [--max-subscriptions N] [--max-message N] [--rate N]
                     [--drop-oldest PREFIX]... [--token-ttl-s N] [--session-ttl-s N]
                     [--drain-s N] [--drain-batch N] [--redis redis://HOST:PORT[/DB]]
                     [--instance-id NAME] [--tls-cert PEM --tls-key PEM]
                     [--acl PREFIX:SUBSCRIBE:PUBLISH]... [--deflate] [--quiet]
environment: PORT, HUB_HOST, HUB_SECRET, HUB_ALLOW_ORIGINS (comma-separated), HUB_DEMO_LOGIN=1,
             HUB_REDIS
See docs/hub.md.";

impl Config {
    /// Settings from the environment, then `args` (without the program name).
    pub fn from_args<I: IntoIterator<Item = String>>(args: I) -> Result<Config, String> {
        let mut c = Config::default();
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        if let Some(p) = env("PORT") {
            c.port = p.parse().map_err(|_| format!("PORT: not a port: {p}"))?;
        }
        if let Some(h) = env("HUB_HOST") {
            c.host = h;
        }
        if let Some(s) = env("HUB_SECRET") {
            c.secret = s.into_bytes();
        }
        if let Some(o) = env("HUB_ALLOW_ORIGINS") {
            c.allowed_origins = o.split(',').map(|s| s.trim().to_string()).collect();
        }
        if let Some(i) = env("HUB_INSTANCE_ID") {
            c.instance_id = i;
        }
        if let Some(r) = env("HUB_REDIS") {
            c.redis = Some(crate::resp::parse_url(&r)?);
        }
        if env("HUB_DEMO_LOGIN").as_deref() == Some("1") {
            c.demo_login = true;
        }
        let mut it = args.into_iter();
        let mut drop_oldest_set = false;
        while let Some(flag) = it.next() {
            match flag.as_str() {
                "--demo-login" => {
                    c.demo_login = true;
                    continue;
                }
                "--quiet" => {
                    c.quiet = true;
                    continue;
                }
                "--deflate" => {
                    c.deflate = true;
                    continue;
                }
                "-h" | "--help" => return Err(USAGE.to_string()),
                _ => {}
            }
            let value = it
                .next()
                .ok_or_else(|| format!("{flag}: missing value\n{USAGE}"))?;
            let num = |v: &str| -> Result<u64, String> {
                v.parse::<u64>()
                    .map_err(|_| format!("{flag}: not a number: {v}"))
            };
            let ms = |v: &str| num(v).map(Duration::from_millis);
            let secs = |v: &str| num(v).map(Duration::from_secs);
            match flag.as_str() {
                "--host" => c.host = value,
                "--port" => c.port = num(&value)?.try_into().map_err(|_| "--port: too large")?,
                "--secret" => c.secret = value.into_bytes(),
                "--allow-origin" => c.allowed_origins.push(value),
                "--api-key" => {
                    let (u, k) = value
                        .split_once('=')
                        .ok_or("--api-key: expected USER=KEY")?;
                    if !crate::auth::valid_user(u) || k.len() < 16 {
                        return Err("--api-key: USER must be a valid user name and KEY at least 16 characters".into());
                    }
                    c.api_keys.push((u.into(), k.into()));
                }
                "--admin" => c.admins.push(value),
                "--auth-timeout-ms" => c.auth_timeout = ms(&value)?,
                "--heartbeat-ms" => c.heartbeat = ms(&value)?,
                "--heartbeat-timeout-ms" => c.heartbeat_timeout = ms(&value)?,
                "--queue-messages" => c.queue_messages = num(&value)? as usize,
                "--queue-bytes" => c.queue_bytes = num(&value)? as usize,
                "--send-timeout-ms" => c.send_timeout = ms(&value)?,
                "--history" => c.history_count = num(&value)? as usize,
                "--history-age-s" => c.history_age = secs(&value)?,
                "--history-bytes" => c.history_bytes = num(&value)? as usize,
                "--max-channels" => c.max_channels = num(&value)? as usize,
                "--max-subscriptions" => c.max_subscriptions = num(&value)? as usize,
                "--max-message" => c.max_message = num(&value)? as usize,
                "--rate" => c.publish_rate = num(&value)?.min(1_000_000) as u32,
                "--drop-oldest" => {
                    if !drop_oldest_set {
                        c.drop_oldest.clear();
                        drop_oldest_set = true;
                    }
                    c.drop_oldest.push(value)
                }
                "--token-ttl-s" => c.token_ttl = secs(&value)?,
                "--session-ttl-s" => c.session_ttl = secs(&value)?,
                "--drain-s" => c.drain = secs(&value)?,
                "--drain-batch" => c.drain_batch = num(&value)?.max(1) as usize,
                "--redis" => c.redis = Some(crate::resp::parse_url(&value)?),
                "--instance-id" => c.instance_id = value,
                "--acl" => c.acl.push(crate::auth::Rule::parse(&value)?),
                "--tls-cert" => c.tls_cert = Some(value.into()),
                "--tls-key" => c.tls_key = Some(value.into()),
                _ => return Err(format!("unknown flag {flag}\n{USAGE}")),
            }
        }
        c.validate()?;
        Ok(c)
    }

    /// Refuses settings that cannot work.
    pub fn validate(&self) -> Result<(), String> {
        if self.secret.len() < 16 {
            return Err("the secret must be at least 16 bytes".into());
        }
        if self.queue_messages == 0 || self.queue_bytes < 1024 {
            return Err("--queue-messages must be > 0 and --queue-bytes >= 1024".into());
        }
        if self.max_message < 256 || self.max_message > 16 << 20 {
            return Err("--max-message must be 256 B to 16 MiB".into());
        }
        if self.heartbeat.is_zero() || self.heartbeat_timeout.is_zero() {
            return Err("--heartbeat-ms and --heartbeat-timeout-ms must be > 0".into());
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err("--tls-cert and --tls-key go together".into());
        }
        if self.auth_timeout.is_zero() {
            return Err("--auth-timeout-ms must be > 0".into());
        }
        if self.publish_rate == 0 || self.history_count == 0 || self.max_channels == 0 {
            return Err("--rate, --history and --max-channels must be > 0".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn flags() {
        let c = Config::from_args(args(
            "--port 0 --demo-login --drop-oldest live. --heartbeat-ms 500 --api-key svc=0123456789abcdef0",
        ))
        .unwrap();
        assert_eq!(c.port, 0);
        assert!(c.demo_login);
        assert_eq!(c.drop_oldest, ["live."]);
        assert_eq!(c.heartbeat, Duration::from_millis(500));
        assert_eq!(c.api_keys[0].0, "svc");
        for bad in [
            "--port",
            "--port x",
            "--port 70000",
            "--nope 1",
            "--secret short",
            "--api-key svc=short",
            "--queue-messages 0",
            "--max-message 1",
        ] {
            assert!(Config::from_args(args(bad)).is_err(), "{bad}");
        }
    }
}
