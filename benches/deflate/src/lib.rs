//! Nothing here: the benchmark is `benches/deflate.rs` (a package of its own so that the
//! core's `zlib` feature stays out of the other benchmarks' build).
