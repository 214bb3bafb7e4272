//! Conformance with MongoDB's own jstests (`jstests/core/**` of the `mongodb/mongo`
//! repository): their assertions restated as data — documents, a filter or an update, and
//! the result MongoDB asserts — each case naming its source file. Run on the matcher and update
//! engine in process, on the embedded store, and on the MongoDB-wire test server (where the test
//! server departs from a jstest, the case is listed as a known server divergence and skipped
//! there only).
//!
//! - `queries`: find filters and projections.
//! - `updates`: update operators, positional updates, upserts.

mod queries;
mod updates;
