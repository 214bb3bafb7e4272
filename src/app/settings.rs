//! Expanse's own app settings (`"expanse": {…}` in the root config), for choices App Services
//! does not offer.

use crate::query::NullSemantics;

/// How queries behave where Expanse lets the app choose.
///
/// Read from the root config (`root_config.json`):
///
/// ```json
/// {"name": "my-app", "expanse": {"query_semantics": "8.0", "allow_user_regex": false}}
/// ```
///
/// - `query_semantics`: `"8.0"` (the default) or `"9.0"`, the MongoDB release whose rules for
///   `null` through arrays the in-process matcher follows ([`NullSemantics`]).
/// - `allow_user_regex`: App Services lets only the system user query with regular
///   expressions (`$regex`, and a regular expression as a value: `{name: /^a/}`, inside `$in`,
///   `$nin`, `$all` or `$not`); `true` lets users do so too. Defaults to `false`.
///
/// ```
/// use expanse::app::QuerySettings;
/// let settings = QuerySettings::default();
/// assert!(!settings.allow_user_regex);
/// assert_eq!(settings.null_semantics.release(), "8.0");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QuerySettings {
    /// The release whose null-through-arrays rules the matcher follows.
    pub null_semantics: NullSemantics,
    /// Whether users (not only the system user) may query with regular expressions.
    pub allow_user_regex: bool,
}
