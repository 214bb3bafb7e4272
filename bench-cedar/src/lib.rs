//! Benchmarks only: see `benches/decisions.rs`.
