//! Which MongoDB release's matching rules to follow where releases differ.

/// How a dotted path through an array reaches `null`: MongoDB 8.0 and 9.0 differ
/// (SERVER-36681).
///
/// With [`NullSemantics::V80`] (the default), an array met in the middle of a path yields the
/// values its documents hold at the rest of the path, and nothing for its other elements: so
/// `{"a.b": null}` does not match `{a: [1, 2]}` or `{a: []}`. With [`NullSemantics::V90`], an
/// empty array and every element that is not a document yield *missing*, so both match. An app
/// chooses with `"expanse": {"query_semantics": "9.0"}` in its root config.
///
/// ```
/// use bson::doc;
/// use expanse::query::{Filter, NullSemantics};
/// let filter = Filter::parse(&doc! {"a.b": null}).unwrap();
/// assert!(!filter.matches_under(&doc! {"a": [1, 2]}, NullSemantics::V80));
/// assert!(filter.matches_under(&doc! {"a": [1, 2]}, NullSemantics::V90));
/// assert_eq!(NullSemantics::parse("9.0"), Some(NullSemantics::V90));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum NullSemantics {
    /// MongoDB 8.0 and earlier.
    #[default]
    V80,
    /// MongoDB 9.0.
    V90,
}

impl NullSemantics {
    /// Reads a release name: `"8.0"` or `"9.0"`.
    pub fn parse(release: &str) -> Option<NullSemantics> {
        match release {
            "8.0" => Some(NullSemantics::V80),
            "9.0" => Some(NullSemantics::V90),
            _ => None,
        }
    }

    /// The release name.
    pub fn release(self) -> &'static str {
        match self {
            NullSemantics::V80 => "8.0",
            NullSemantics::V90 => "9.0",
        }
    }
}
