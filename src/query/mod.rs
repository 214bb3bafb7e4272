//! MongoDB query semantics on BSON values.
//!
//! Everything in Expanse that decides whether a value "matches" goes through this module: rule
//! expressions, the embedded store's `find`, and the push-down of rules into MongoDB queries. It
//! follows the server's own rules: dotted paths through arrays ([`path`]), the cross-type
//! comparison order ([`order`]), `null` versus missing, and each operator's single-value test
//! ([`predicate`]).

pub(crate) mod conjunction;
mod decimal;
mod filter;
pub mod order;
pub mod path;
mod pcre;
mod predicate;
mod regex;
mod semantics;
mod sort;
mod types;

pub use conjunction::conjoin;
pub use filter::{
    check_limits, field_matches, field_matches_under, parse_value_tests, truthy, Filter, QueryError,
};
pub use order::{compare_values, values_equal};
pub use path::{
    resolve_borrowed, resolve_value, walk_document, walk_document_under, walk_value, FieldPath,
    LeafArrays,
};
pub use predicate::{
    compare_matches, in_values, Comparison, InList, Predicate, ValueSet, ValueTest,
};
pub use regex::MongoRegex;
pub use semantics::NullSemantics;
pub use sort::{Projection, SortSpec};
pub use types::{type_alias, type_code, TypeSelector};
