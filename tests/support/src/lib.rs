//! Test support for wsmachine, shared by the core's integration tests (`core/tests/`), the
//! differential tests (`tests/differential/`), the benchmarks (`benches/`) and the fuzz targets
//! (`fuzz/`).
//!
//! * [`codec`]: an independent WebSocket frame encoder and decoder, written from RFC 6455 alone
//!   (this crate does not depend on `wsmachine`), so that a test never checks the core's framing
//!   with the core's own framing code.
//! * [`rng`]: [`SplitMix`](rng::SplitMix), the one deterministic pseudo-random generator of the
//!   tests and benchmarks.
//! * [`text`]: generators of valid UTF-8 text of an exact byte length.
//!
//! Everything here is plain `std`, deterministic, and meant for tests: functions panic on
//! misuse instead of returning errors.

pub mod codec;
pub mod rng;
pub mod text;
