//! Credentials: signed session cookies, single-use connection tokens, channel permissions.
//!
//! Both credentials are `base64url(body) "." base64url(HMAC-SHA256(key, purpose || body))`,
//! with the purpose (`"session"` or `"token"`) in the MAC so one can never stand in for the
//! other. A session body is `user "\n" expiry_ms`; a token body is
//! `user "\n" expiry_ms "\n" nonce`. A token is accepted once: its nonce is remembered until
//! it expires, so a replayed token is refused; expired nonces are forgotten, which bounds the
//! memory to the tokens minted within one TTL.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::Mutex;

type HmacSha256 = Hmac<Sha256>;

/// Longest user name.
pub const MAX_USER_LEN: usize = 32;

/// Whether `name` is an acceptable user name: 1 to [`MAX_USER_LEN`] of `A-Z a-z 0-9 _ -`.
pub fn valid_user(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_USER_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Why a credential was refused (for the logs and metrics; the client only learns 401/1008).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Not in the expected shape.
    Malformed,
    /// The MAC does not match.
    BadSignature,
    /// Past its expiry.
    Expired,
    /// A token that was already used.
    Replayed,
}

impl Refused {
    /// A short name for logs and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Refused::Malformed => "malformed",
            Refused::BadSignature => "bad_signature",
            Refused::Expired => "expired",
            Refused::Replayed => "replayed",
        }
    }
}

/// Mints and checks session cookies and connection tokens with one secret key.
pub struct Authority {
    key: Vec<u8>,
    used: Mutex<HashMap<[u8; 16], u64>>,
}

impl Authority {
    /// An authority with `key` (at least 32 bytes recommended).
    pub fn new(key: &[u8]) -> Self {
        Authority {
            key: key.to_vec(),
            used: Mutex::new(HashMap::new()),
        }
    }

    fn mac(&self, purpose: &str, body: &[u8]) -> HmacSha256 {
        // HMAC takes keys of any length.
        let mut mac = match HmacSha256::new_from_slice(&self.key) {
            Ok(m) => m,
            Err(_) => unreachable_key(),
        };
        mac.update(purpose.as_bytes());
        mac.update(b"\0");
        mac.update(body);
        mac
    }

    fn sign(&self, purpose: &str, body: &str) -> String {
        let tag = self.mac(purpose, body.as_bytes()).finalize().into_bytes();
        format!("{}.{}", B64.encode(body), B64.encode(tag))
    }

    /// Checks the signature and returns the body's fields.
    fn open(&self, purpose: &str, credential: &str) -> Result<Vec<String>, Refused> {
        if credential.len() > 512 {
            return Err(Refused::Malformed);
        }
        let (body, tag) = credential.split_once('.').ok_or(Refused::Malformed)?;
        let body = B64.decode(body).map_err(|_| Refused::Malformed)?;
        let tag = B64.decode(tag).map_err(|_| Refused::Malformed)?;
        self.mac(purpose, &body)
            .verify_slice(&tag)
            .map_err(|_| Refused::BadSignature)?;
        let body = String::from_utf8(body).map_err(|_| Refused::Malformed)?;
        Ok(body.split('\n').map(str::to_string).collect())
    }

    /// A session cookie value for `user`, valid until `expires_ms` (Unix milliseconds).
    pub fn session(&self, user: &str, expires_ms: u64) -> String {
        self.sign("session", &format!("{user}\n{expires_ms}"))
    }

    /// The user of a valid session cookie value.
    pub fn check_session(&self, value: &str, now_ms: u64) -> Result<String, Refused> {
        let f = self.open("session", value)?;
        match f.as_slice() {
            [user, exp] if valid_user(user) => {
                let exp: u64 = exp.parse().map_err(|_| Refused::Malformed)?;
                if now_ms >= exp {
                    return Err(Refused::Expired);
                }
                Ok(user.clone())
            }
            _ => Err(Refused::Malformed),
        }
    }

    /// A single-use connection token for `user`, valid until `expires_ms`.
    pub fn token(&self, user: &str, expires_ms: u64) -> String {
        let mut nonce = [0u8; 16];
        fill_random(&mut nonce);
        let nonce: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
        self.sign("token", &format!("{user}\n{expires_ms}\n{nonce}"))
    }

    /// The user of a valid, unused token; marks it used.
    pub fn redeem_token(&self, token: &str, now_ms: u64) -> Result<String, Refused> {
        let f = self.open("token", token)?;
        let [user, exp, nonce] = f.as_slice() else {
            return Err(Refused::Malformed);
        };
        if !valid_user(user) || nonce.len() != 32 {
            return Err(Refused::Malformed);
        }
        let exp: u64 = exp.parse().map_err(|_| Refused::Malformed)?;
        if now_ms >= exp {
            return Err(Refused::Expired);
        }
        let mut key = [0u8; 16];
        for (i, k) in key.iter_mut().enumerate() {
            *k = u8::from_str_radix(nonce.get(2 * i..2 * i + 2).unwrap_or("zz"), 16)
                .map_err(|_| Refused::Malformed)?;
        }
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        if used.len() >= 4096 {
            used.retain(|_, e| *e > now_ms);
        }
        if used.contains_key(&key) {
            return Err(Refused::Replayed);
        }
        used.insert(key, exp);
        Ok(user.clone())
    }
}

#[cold]
fn unreachable_key() -> ! {
    // `Hmac::new_from_slice` accepts every key length; this cannot be reached.
    std::process::abort()
}

/// Fills `buf` from the operating system's generator (aborts if it is unavailable: the hub
/// cannot mint secrets without it).
pub fn fill_random(buf: &mut [u8]) {
    if getrandom::fill(buf).is_err() {
        eprintln!("wsmachine-hub: the operating system's random generator failed");
        std::process::abort();
    }
}

/// What a user may do on a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Receive the channel's messages.
    Subscribe,
    /// Publish on the channel.
    Publish,
}

/// Channel permissions (docs/hub.md, "Permissions"):
/// * `user.<name>` and `user.<name>.*`: only `<name>` may subscribe and publish;
/// * `announce.*`: everybody may subscribe, only admins publish;
/// * every other channel: every authenticated user.
pub fn permitted(user: &str, admin: bool, channel: &str, action: Action) -> bool {
    if let Some(rest) = channel.strip_prefix("user.") {
        let owner = rest.split('.').next().unwrap_or("");
        return owner == user;
    }
    if channel == "announce" || channel.starts_with("announce.") {
        return action == Action::Subscribe || admin;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_round_trip_and_refuse_tampering() {
        let a = Authority::new(b"0123456789abcdef0123456789abcdef");
        let s = a.session("alice", 1000);
        assert_eq!(a.check_session(&s, 999).as_deref(), Ok("alice"));
        assert_eq!(a.check_session(&s, 1000), Err(Refused::Expired));
        let other = Authority::new(b"another key, another key, another");
        assert_eq!(other.check_session(&s, 1), Err(Refused::BadSignature));
        let (body, tag) = s.split_once('.').unwrap();
        let forged = format!("{}.{tag}", B64.encode("admin\n1000"));
        assert_eq!(a.check_session(&forged, 1), Err(Refused::BadSignature));
        assert_eq!(a.check_session(body, 1), Err(Refused::Malformed));
        assert_eq!(a.check_session("", 1), Err(Refused::Malformed));
        assert_eq!(a.check_session("!.!", 1), Err(Refused::Malformed));
    }

    #[test]
    fn tokens_are_single_use_and_not_sessions() {
        let a = Authority::new(b"k");
        let t = a.token("bob", 5000);
        assert_eq!(a.check_session(&t, 1), Err(Refused::BadSignature));
        assert_eq!(a.redeem_token(&t, 4000).as_deref(), Ok("bob"));
        assert_eq!(a.redeem_token(&t, 4001), Err(Refused::Replayed));
        let t2 = a.token("bob", 5000);
        assert_ne!(t, t2);
        assert_eq!(a.redeem_token(&t2, 5000), Err(Refused::Expired));
        let s = a.session("bob", 5000);
        assert_eq!(a.redeem_token(&s, 1), Err(Refused::BadSignature));
    }

    #[test]
    fn used_nonces_are_forgotten_after_expiry() {
        let a = Authority::new(b"k");
        for i in 0..5000u64 {
            let t = a.token("u", 10 + i);
            assert!(a.redeem_token(&t, 1 + i).is_ok());
        }
        assert!(a.used.lock().unwrap().len() < 5000);
    }

    #[test]
    fn permissions() {
        assert!(permitted("al", false, "chat", Action::Publish));
        assert!(permitted("al", false, "user.al", Action::Subscribe));
        assert!(permitted("al", false, "user.al.inbox", Action::Publish));
        assert!(!permitted("bo", false, "user.al", Action::Subscribe));
        assert!(!permitted("bo", false, "user.al.inbox", Action::Publish));
        assert!(permitted("bo", false, "announce.news", Action::Subscribe));
        assert!(!permitted("bo", false, "announce.news", Action::Publish));
        assert!(permitted("bo", true, "announce", Action::Publish));
        assert!(valid_user("a-b_9"));
        assert!(!valid_user("a b"));
        assert!(!valid_user(""));
    }
}
