//! The connection's timers: one deadline table behind `poll_timeout` / `handle_timeout`.
//!
//! Deadlines are kept as 32-bit millisecond offsets from a base instant (timeouts are at most
//! [`MAX_TIMEOUT_MS`](crate::config::MAX_TIMEOUT_MS), so an offset from "now" always fits); the
//! base moves forward when an offset would not fit, so a connection may live for any time.

/// A timer of the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Timer {
    /// The opening handshake must finish (`handshake_timeout_ms` from creation).
    Handshake,
    /// A server's application must authenticate the connection (`auth_timeout_ms` after
    /// `accept`).
    Auth,
    /// The peer must answer our close, or (client) the server must close TCP
    /// (`close_timeout_ms`).
    Close,
    /// Keepalive: send a ping after `keepalive_interval_ms` without input, then declare the
    /// peer dead after `keepalive_timeout_ms` more.
    Keepalive,
}

impl Timer {
    /// The table slot. Handshake, Auth and Close are never armed together — each belongs to
    /// one phase of the lifecycle (handshake, open, closing) — so they share one.
    const fn slot(self) -> usize {
        match self {
            Timer::Handshake | Timer::Auth | Timer::Close => 0,
            Timer::Keepalive => 1,
        }
    }
}

const UNARMED: u32 = u32::MAX;

/// Deadlines, in milliseconds of the caller's clock.
#[derive(Clone, Copy, Debug)]
pub(super) struct TimerTable {
    /// What the offsets count from.
    base: u64,
    /// Offset of each slot's deadline from `base`, or [`UNARMED`].
    at: [u32; 2],
}

impl TimerTable {
    /// No timer armed.
    pub(super) const fn new(now: u64) -> TimerTable {
        TimerTable {
            base: now,
            at: [UNARMED; 2],
        }
    }

    /// Arms `timer` to expire `ms` after `now`; `ms == 0` disarms it (0 means "off" in
    /// [`Config`](crate::Config)).
    pub(super) fn set(&mut self, timer: Timer, now: u64, ms: u32) {
        if ms == 0 {
            self.stop(timer);
            return;
        }
        let deadline = now.saturating_add(u64::from(ms));
        let offset = match deadline.checked_sub(self.base) {
            Some(o) if now >= self.base && o < u64::from(UNARMED) => o as u32,
            _ => {
                self.rebase(now);
                deadline.saturating_sub(now).min(u64::from(UNARMED - 1)) as u32
            }
        };
        if let Some(slot) = self.at.get_mut(timer.slot()) {
            *slot = offset;
        }
    }

    /// Moves the base to `now`, keeping the armed deadlines (one already past stays past).
    fn rebase(&mut self, now: u64) {
        let base = self.base;
        for slot in self.at.iter_mut().filter(|s| **s != UNARMED) {
            let deadline = base.saturating_add(u64::from(*slot));
            *slot = deadline.saturating_sub(now).min(u64::from(UNARMED - 1)) as u32;
        }
        self.base = now;
    }

    /// Disarms `timer`.
    pub(super) fn stop(&mut self, timer: Timer) {
        if let Some(slot) = self.at.get_mut(timer.slot()) {
            *slot = UNARMED;
        }
    }

    /// Disarms every timer.
    pub(super) fn stop_all(&mut self) {
        self.at = [UNARMED; 2];
    }

    /// The deadline of `timer`'s slot, if armed.
    pub(super) fn deadline(&self, timer: Timer) -> Option<u64> {
        match self.at.get(timer.slot()) {
            Some(&o) if o != UNARMED => Some(self.base.saturating_add(u64::from(o))),
            _ => None,
        }
    }

    /// Whether `timer`'s slot is armed.
    pub(super) fn is_armed(&self, timer: Timer) -> bool {
        self.deadline(timer).is_some()
    }

    /// The earliest deadline, if any timer is armed.
    pub(super) fn next(&self) -> Option<u64> {
        let min = self.at.iter().copied().min().unwrap_or(UNARMED);
        (min != UNARMED).then(|| self.base.saturating_add(u64::from(min)))
    }

    /// If `timer`'s slot has expired at `now`, disarms it and returns true.
    pub(super) fn take_expired(&mut self, timer: Timer, now: u64) -> bool {
        match self.deadline(timer) {
            Some(d) if d <= now => {
                self.stop(timer);
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_survive_rebasing() {
        let mut t = TimerTable::new(0);
        t.set(Timer::Keepalive, 0, 1_000);
        // Far in the future: the offset from 0 would not fit in 32 bits.
        let later = 10_000_000_000u64;
        t.set(Timer::Close, later, 5_000);
        assert_eq!(t.deadline(Timer::Close), Some(later + 5_000));
        // The keepalive deadline (long past) stays past.
        assert_eq!(t.deadline(Timer::Keepalive), Some(later));
        assert!(t.take_expired(Timer::Keepalive, later));
        assert!(!t.is_armed(Timer::Keepalive));
        assert_eq!(t.next(), Some(later + 5_000));
        assert!(!t.take_expired(Timer::Close, later + 4_999));
        assert!(t.take_expired(Timer::Close, later + 5_000));
        assert_eq!(t.next(), None);
    }

    #[test]
    fn clock_going_backwards_does_not_lose_timers() {
        let mut t = TimerTable::new(1_000_000);
        t.set(Timer::Keepalive, 1_000_000, 100);
        t.set(Timer::Handshake, 10, 50);
        assert_eq!(t.deadline(Timer::Handshake), Some(60));
        assert_eq!(t.deadline(Timer::Keepalive), Some(1_000_100));
        assert_eq!(t.next(), Some(60));
    }

    #[test]
    fn zero_disarms_and_phase_timers_share_a_slot() {
        let mut t = TimerTable::new(0);
        t.set(Timer::Auth, 0, 10);
        t.set(Timer::Close, 5, 10);
        assert_eq!(t.deadline(Timer::Auth), Some(15));
        t.set(Timer::Close, 5, 0);
        assert_eq!(t.next(), None);
        t.set(Timer::Keepalive, u64::MAX - 1, 10);
        assert_eq!(t.deadline(Timer::Keepalive), Some(u64::MAX));
    }
}
