//! The caller's view: which documents a caller's query, sort, skip and limit select, judged
//! on each document as the caller may read it. A field the caller cannot read behaves as
//! missing, and a document the caller cannot read as absent, in reads, counts and the choice
//! of a write's targets alike.
//!
//! Where every path the query and sort read is shown whole by every role (and by the filters'
//! projections), judging the stored document gives the same answer, and the query, sort,
//! skip and limit go to the store as they are. Otherwise the store is asked only for what
//! can be judged there (the rules' push-down, the filters, and the query's conjuncts on such
//! paths) and the rest is judged in process, on the caller's view.

use bson::{Bson, Document};

use crate::query::Projection;
use crate::rules::CollectionRules;

/// One selected document: as the caller may read it, and (for writes) as stored.
pub(crate) struct Seen {
    /// The document as the caller may read it.
    pub visible: Document,
    /// The stored document, when it differs from the view and a write needs it.
    pub stored: Option<Document>,
}

impl Seen {
    /// The stored document (the view itself when nothing was hidden or none was kept).
    pub fn stored(&self) -> &Document {
        self.stored.as_ref().unwrap_or(&self.visible)
    }
}

/// Which paths the caller sees whole: the rules' roles and the filters' projection.
pub(crate) struct Sight<'r> {
    pub rules: &'r CollectionRules,
    pub projection: Option<&'r Projection>,
}

impl Sight<'_> {
    /// Whether `path` reads the same on the stored document and on the caller's view.
    pub fn whole(&self, path: &[String]) -> bool {
        self.rules.roles.iter().all(|role| role.shows_whole(path))
            && self.projection.is_none_or(|p| p.keeps_intact(path))
    }

    /// Whether every path `query` reads is seen whole.
    pub fn whole_query(&self, query: &Document) -> bool {
        query_paths(query).is_some_and(|paths| paths.iter().all(|p| self.whole(p)))
    }

    /// Whether every key of `sort` is seen whole.
    pub fn whole_sort(&self, sort: Option<&Document>) -> bool {
        sort.is_none_or(|s| s.keys().all(|k| self.whole(&split(k))))
    }

    /// The part of `query` the store can judge on stored documents: its conjuncts on paths
    /// seen whole (the rest is judged in process).
    pub fn judged_by_store(&self, query: &Document) -> Document {
        let mut kept = Document::new();
        for (key, value) in query {
            let whole = match key.as_str() {
                "$and" => self.whole_query(&bson::doc! {key: value.clone()}),
                k if k.starts_with('$') => false,
                k => self.whole(&split(k)),
            };
            if whole {
                kept.insert(key.clone(), value.clone());
            }
        }
        kept
    }
}

fn split(dotted: &str) -> Vec<String> {
    dotted.split('.').map(str::to_owned).collect()
}

/// The paths a query reads: its field keys, through `$and`, `$or` and `$nor`; `None` when it
/// holds another top-level operator, which may read anything.
pub(crate) fn query_paths(query: &Document) -> Option<Vec<Vec<String>>> {
    let mut paths = Vec::new();
    let mut pending: Vec<&Document> = vec![query];
    while let Some(q) = pending.pop() {
        for (key, value) in q {
            match (key.as_str(), value) {
                ("$and" | "$or" | "$nor", Bson::Array(items)) => {
                    for item in items {
                        match item {
                            Bson::Document(d) => pending.push(d),
                            _ => return None,
                        }
                    }
                }
                (k, _) if k.starts_with('$') => return None,
                (k, _) => paths.push(split(k)),
            }
        }
    }
    Some(paths)
}
