//! The security suite: every attack found by the red-team pass, reproduced as a test, and the
//! attacks that were already refused, so that they stay refused. Where a store is involved, each
//! test runs on the embedded store and on the MongoDB-wire test server (`scripts/test`).
//!
//! - `leaks`: hidden values never reach a caller through errors, write outcomes, queries, counts
//!   or sorts (what a caller cannot read behaves as absent).
//! - `depth`: paths and documents deeper than MongoDB's 100 levels are refused where they enter.
//! - `js_bridge`: every value crossing the JavaScript bridge converts exactly or is refused.
//! - `function_limits`: time and memory limits bound the whole call tree.
//! - `check_escalation`: `expanse check` warns about escalation across roles.
//! - `refused`: injection, token forgery, escalation by update operators, sandbox escapes.

mod check_escalation;
mod depth;
mod function_limits;
mod js_bridge;
mod leaks;
mod refused;
