//! The integration tests, in one binary (as ripgrep keeps its `tests/tests.rs`): the suite links
//! the MongoDB driver and QuickJS once instead of once per file. Run one area with a name filter,
//! e.g. `cargo test --test it security::` or `scripts/test --test it query_differential`.
//!
//! Tests that concern MongoDB run against the MongoDB-wire test server when `MONGODB_URI` is set
//! (`scripts/test` starts one) and on the embedded store otherwise; `EXPANSE_REQUIRE_MONGODB=1`
//! makes a missing server an error instead of a skip.

// Test helpers unwrap and panic: a failing set-up is a failing test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

mod aggregation_property;
mod app_load;
mod cli_eval;
mod cli_run;
mod cli_test;
mod concurrency;
mod custom_user_data;
mod example_backend;
mod expressions;
mod faults;
mod functions;
mod fuzz;
mod js_functions;
mod js_http;
mod js_isolation;
mod js_utils;
mod mongo_conformance;
mod operations;
mod pushdown_property;
mod query_differential;
mod query_semantics;
mod request_rules;
mod rules;
mod security;
mod server;
mod store_parity;
mod tokens;
mod triggers;
mod update_differential;
mod update_semantics;
mod users;
