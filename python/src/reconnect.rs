//! The core's client reconnect policy.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use wsmachine::reconnect;
use wsmachine::CloseStatus;

/// Whether a connection that ended with close code ``code`` should be retried: 1001, 1006,
/// 1011, 1012, 1013 and 1014 are; normal closes, protocol and policy errors, 1005, 1015 and
/// application codes (3000-4999) are not.
#[pyfunction]
pub fn should_reconnect(code: i64) -> bool {
    u16::try_from(code)
        .ok()
        .and_then(CloseStatus::from_u16)
        .is_some_and(reconnect::should_reconnect)
}

fn random_u32(py: Python<'_>) -> PyResult<u32> {
    let b = py.import("os")?.getattr("urandom")?.call1((4,))?;
    let b = b.cast::<PyBytes>()?;
    let mut a = [0u8; 4];
    a.copy_from_slice(b.as_bytes());
    Ok(u32::from_le_bytes(a))
}

fn ms(seconds: f64, name: &str) -> PyResult<u32> {
    if !(0.0..=4_294_967.0).contains(&seconds) {
        return Err(PyValueError::new_err(format!(
            "{name} must be between 0 and 4294967 seconds"
        )));
    }
    Ok((seconds * 1000.0).round() as u32)
}

/// Exponential backoff with jitter: attempt ``n`` waits ``min(initial * 2**n, maximum)``
/// seconds, give or take ``jitter`` (a fraction, 0-1) of that.
#[pyclass(module = "wsmachine._wsmachine")]
pub struct Backoff {
    inner: reconnect::Backoff,
}

#[pymethods]
impl Backoff {
    #[new]
    #[pyo3(signature = (initial=1.0, maximum=30.0, jitter=0.25))]
    fn new(initial: f64, maximum: f64, jitter: f64) -> PyResult<Self> {
        if !(0.0..=1.0).contains(&jitter) {
            return Err(PyValueError::new_err("jitter must be between 0 and 1"));
        }
        let mut inner = reconnect::Backoff::new();
        inner.initial_ms = ms(initial, "initial")?;
        inner.max_ms = ms(maximum, "maximum")?;
        inner.jitter_percent = (jitter * 100.0).round() as u8;
        Ok(Backoff { inner })
    }

    /// Delay before the first retry, in seconds.
    #[getter]
    fn initial(&self) -> f64 {
        f64::from(self.inner.initial_ms) / 1000.0
    }

    /// Cap on the delay (before jitter), in seconds.
    #[getter]
    fn maximum(&self) -> f64 {
        f64::from(self.inner.max_ms) / 1000.0
    }

    /// Jitter as a fraction of the delay.
    #[getter]
    fn jitter(&self) -> f64 {
        f64::from(self.inner.jitter_percent) / 100.0
    }

    /// How many delays were handed out since the last reset.
    #[getter]
    fn attempt(&self) -> u32 {
        self.inner.attempt()
    }

    /// Forget past failures (call once a connection has stayed up for a while).
    fn reset(&mut self) {
        self.inner.reset();
    }

    /// The next delay in seconds; advances the attempt counter. ``random`` (32 bits) defaults
    /// to ``os.urandom``.
    #[pyo3(signature = (random=None))]
    fn next_delay(&mut self, py: Python<'_>, random: Option<u32>) -> PyResult<f64> {
        let r = match random {
            Some(r) => r,
            None => random_u32(py)?,
        };
        Ok(self.inner.next_delay(r) as f64 / 1000.0)
    }

    /// The delay in seconds for attempt ``attempt`` given 32 random bits, without changing
    /// state.
    fn delay_for(&self, attempt: u32, random: u32) -> f64 {
        self.inner.delay_for(attempt, random) as f64 / 1000.0
    }

    fn __repr__(&self) -> String {
        format!(
            "Backoff(initial={}, maximum={}, jitter={}, attempt={})",
            self.initial(),
            self.maximum(),
            self.jitter(),
            self.attempt()
        )
    }
}

/// Whether to retry after a close with ``code``, and after how many seconds: ``None`` when
/// not to retry, else the backoff's next delay.
#[pyfunction]
#[pyo3(signature = (code, backoff, random=None))]
pub fn plan(
    py: Python<'_>,
    code: i64,
    backoff: &mut Backoff,
    random: Option<u32>,
) -> PyResult<Option<f64>> {
    if should_reconnect(code) {
        Ok(Some(backoff.next_delay(py, random)?))
    } else {
        Ok(None)
    }
}
