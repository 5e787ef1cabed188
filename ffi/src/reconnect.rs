//! Reconnect policy: the backoff delays (wsm_backoff) and which close statuses to retry.

use wsmachine::reconnect::{should_reconnect, Backoff};
use wsmachine::CloseStatus;

use crate::types::*;
use crate::{put, tri};

/// Fills `backoff` with the default policy: 1 s, doubling, capped at 30 s, +-25 % jitter.
///
/// # Safety
/// `backoff` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn wsm_backoff_default(backoff: *mut wsm_backoff) -> wsm_result {
    let b = Backoff::new();
    // SAFETY: forwarded contract.
    tri!(unsafe {
        put(
            backoff,
            wsm_backoff {
                initial_ms: b.initial_ms,
                max_ms: b.max_ms,
                jitter_percent: b.jitter_percent,
                attempt: 0,
            },
        )
    });
    wsm_result::WSM_OK
}

/// The next reconnect delay in ms given 32 random bits; advances `backoff->attempt`.
/// Returns 0 for a NULL `backoff`.
///
/// # Safety
/// `backoff` NULL or readable and writable.
#[no_mangle]
pub unsafe extern "C" fn wsm_backoff_next(backoff: *mut wsm_backoff, random: u32) -> u64 {
    if backoff.is_null() {
        return 0;
    }
    // SAFETY: non-NULL, readable and writable by contract.
    let b = unsafe { &mut *backoff };
    let mut p = Backoff::new();
    p.initial_ms = b.initial_ms;
    p.max_ms = b.max_ms;
    p.jitter_percent = b.jitter_percent;
    let d = p.delay_for(b.attempt, random);
    b.attempt = b.attempt.saturating_add(1);
    d
}

/// Whether a connection that ended with close status `status` (as from wsm_close_status)
/// should be retried: 1001, 1006, 1011-1014 yes; everything else no.
#[no_mangle]
pub extern "C" fn wsm_should_reconnect(status: u16) -> bool {
    CloseStatus::from_u16(status).is_some_and(should_reconnect)
}
