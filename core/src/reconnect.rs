//! Client reconnect policy: which closes warrant a new connection, and how long to wait.
//!
//! Pure computation with caller-supplied randomness, usable on firmware.

use crate::close::CloseStatus;

/// Whether a connection that ended with `status` should be retried.
///
/// Retry: 1001 (going away: server restart, deploy), 1006 (abnormal: network loss, dead
/// peer), 1011 (server internal error), 1012 (service restart), 1013 (try again later),
/// 1014 (bad gateway). Do not retry: 1000 (normal), 1002/1003/1007/1009/1010 (a retry would
/// fail the same way), 1008 (policy: e.g. rejected credentials), 1005 (peer closed on purpose
/// without a code), 1015 (TLS failure: configuration, not transient), and application codes
/// 3000–4999 (the application decides).
pub const fn should_reconnect(status: CloseStatus) -> bool {
    match status {
        CloseStatus::Abnormal => true,
        CloseStatus::Code(c) => matches!(c.get(), 1001 | 1011 | 1012 | 1013 | 1014),
        CloseStatus::NoStatus | CloseStatus::TlsHandshake => false,
    }
}

/// Exponential backoff with jitter.
///
/// Attempt `n` (0-based) waits `min(initial * 2^n, max)` milliseconds, then ± `jitter_percent`
/// of that, chosen by caller randomness. Defaults: 1 s first, doubling, capped at 30 s, ±25 %.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// Delay before the first retry, in ms.
    pub initial_ms: u32,
    /// Cap on the delay before jitter, in ms.
    pub max_ms: u32,
    /// Jitter, as a percentage of the delay (0–100).
    pub jitter_percent: u8,
    attempt: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new()
    }
}

impl Backoff {
    /// 1 s, doubling, capped at 30 s, ±25 %.
    pub const fn new() -> Backoff {
        Backoff {
            initial_ms: 1_000,
            max_ms: 30_000,
            jitter_percent: 25,
            attempt: 0,
        }
    }

    /// How many delays have been handed out since the last reset.
    pub const fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Forget past failures (call once a connection has been open for a while).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// The delay for attempt `attempt` given 32 random bits, without changing state.
    pub fn delay_for(&self, attempt: u32, random: u32) -> u64 {
        let shift = attempt.min(32);
        let base = (u64::from(self.initial_ms) << shift).min(u64::from(self.max_ms));
        let pct = u64::from(self.jitter_percent.min(100));
        let span = base * pct / 100; // jitter amplitude
        if span == 0 {
            return base;
        }
        // Map the random bits uniformly onto [-span, +span].
        let offset = u64::from(random)
            .checked_rem(span.saturating_mul(2).saturating_add(1))
            .unwrap_or(0);
        (base + offset).saturating_sub(span)
    }

    /// The next delay in ms, given 32 random bits; advances the attempt counter.
    pub fn next_delay(&mut self, random: u32) -> u64 {
        let d = self.delay_for(self.attempt, random);
        self.attempt = self.attempt.saturating_add(1);
        d
    }
}

/// A convenience: should this close be retried, and after how long?
pub fn plan(status: CloseStatus, backoff: &mut Backoff, random: u32) -> Option<u64> {
    if should_reconnect(status) {
        Some(backoff.next_delay(random))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::close::CloseCode;

    #[test]
    fn codes() {
        for (code, retry) in [
            (1000, false),
            (1001, true),
            (1002, false),
            (1003, false),
            (1007, false),
            (1008, false),
            (1009, false),
            (1010, false),
            (1011, true),
            (1012, true),
            (1013, true),
            (1014, true),
            (3000, false),
            (4999, false),
        ] {
            let s = CloseStatus::Code(CloseCode::new(code).unwrap());
            assert_eq!(should_reconnect(s), retry, "{code}");
        }
        assert!(should_reconnect(CloseStatus::Abnormal));
        assert!(!should_reconnect(CloseStatus::NoStatus));
        assert!(!should_reconnect(CloseStatus::TlsHandshake));
    }

    #[test]
    fn backoff_doubles_caps_and_jitters_within_bounds() {
        let b = Backoff::new();
        let expect = [1000u64, 2000, 4000, 8000, 16000, 30000, 30000];
        for (n, base) in expect.iter().enumerate() {
            for r in [0u32, 1, 12345, u32::MAX / 2, u32::MAX] {
                let d = b.delay_for(n as u32, r);
                assert!(d >= base * 3 / 4 && d <= base * 5 / 4, "attempt {n}: {d}");
            }
        }
        assert_eq!(b.delay_for(1000, 0), 30000 - 7500);
        let mut b = Backoff::new();
        b.jitter_percent = 0;
        assert_eq!(b.next_delay(7), 1000);
        assert_eq!(b.next_delay(7), 2000);
        assert_eq!(b.attempt(), 2);
        b.reset();
        assert_eq!(b.next_delay(7), 1000);
        assert_eq!(plan(CloseStatus::Abnormal, &mut b, 0), Some(2000));
        assert_eq!(plan(CloseStatus::Code(CloseCode::NORMAL), &mut b, 0), None);
    }
}
