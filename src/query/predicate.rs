//! Single-value predicates: what one query operator says about one value reached by a path.
//!
//! These are MongoDB's `matchesSingleElement` rules. A path may reach several values (see
//! [`crate::query::path`]); a field condition holds when any of them satisfies its predicate.

use std::cmp::Ordering;

use bson::Bson;

use super::order::{canonical_rank, compare_same_rank, values_equal, Number};
use super::regex::MongoRegex;
use super::types::TypeSelector;
use super::{Filter, NullSemantics};

/// The comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Comparison {
    /// `$eq`
    Eq,
    /// `$gt`
    Gt,
    /// `$gte`
    Gte,
    /// `$lt`
    Lt,
    /// `$lte`
    Lte,
}

impl Comparison {
    /// The operator's name with a `$`.
    pub fn name(self) -> &'static str {
        match self {
            Comparison::Eq => "$eq",
            Comparison::Gt => "$gt",
            Comparison::Gte => "$gte",
            Comparison::Lt => "$lt",
            Comparison::Lte => "$lte",
        }
    }
}

/// MongoDB's comparison of one reached value (`None` = missing) with an operand.
///
/// Values of different canonical types never compare, except that `null` and missing are
/// equal (so `$eq`, `$lte` and `$gte` with `null` hold for a missing value, but not for a stored
/// `undefined`), and `MinKey` /
/// `MaxKey` operands bound everything. NaN equals only NaN.
///
/// ```
/// use bson::Bson;
/// use expanse::query::{compare_matches, Comparison};
/// assert!(compare_matches(Comparison::Lte, None, &Bson::Null));
/// assert!(!compare_matches(Comparison::Gt, Some(&Bson::String("9".into())), &Bson::Int32(1)));
/// assert!(compare_matches(Comparison::Eq, Some(&Bson::Int64(3)), &Bson::Double(3.0)));
/// ```
pub fn compare_matches(op: Comparison, value: Option<&Bson>, operand: &Bson) -> bool {
    // Fast paths for the commonest same-type comparisons.
    match (value, operand) {
        (Some(Bson::String(a)), Bson::String(b)) => {
            return ordering_holds(op, a.as_bytes().cmp(b.as_bytes()))
        }
        (Some(Bson::Int32(a)), Bson::Int32(b)) => return ordering_holds(op, a.cmp(b)),
        (Some(Bson::Boolean(a)), Bson::Boolean(b)) => return ordering_holds(op, a.cmp(b)),
        (Some(Bson::ObjectId(a)), Bson::ObjectId(b)) => {
            return ordering_holds(op, a.bytes().cmp(&b.bytes()))
        }
        _ => {}
    }

    let value_rank = canonical_rank(value);
    let operand_rank = canonical_rank(Some(operand));
    if value_rank != operand_rank {
        // null against missing (a stored undefined is not null, since MongoDB 8.0)
        if value.is_none() && matches!(operand, Bson::Null) {
            return matches!(op, Comparison::Eq | Comparison::Lte | Comparison::Gte);
        }
        return match operand {
            Bson::MaxKey => matches!(op, Comparison::Lt | Comparison::Lte),
            Bson::MinKey => matches!(op, Comparison::Gt | Comparison::Gte),
            _ => false,
        };
    }
    let Some(value) = value else {
        // Both missing/undefined: equal.
        return matches!(op, Comparison::Eq | Comparison::Lte | Comparison::Gte);
    };
    if let (Some(x), Some(y)) = (Number::of(value), Number::of(operand)) {
        if x.is_nan() || y.is_nan() {
            let both = x.is_nan() && y.is_nan();
            return both && matches!(op, Comparison::Eq | Comparison::Lte | Comparison::Gte);
        }
    }
    ordering_holds(op, compare_same_rank(value, operand))
}

fn ordering_holds(op: Comparison, order: Ordering) -> bool {
    match op {
        Comparison::Eq => order == Ordering::Equal,
        Comparison::Gt => order == Ordering::Greater,
        Comparison::Gte => order != Ordering::Less,
        Comparison::Lt => order == Ordering::Less,
        Comparison::Lte => order != Ordering::Greater,
    }
}

/// The operand list of `$in` / `$nin`: plain values and regular expressions.
#[derive(Debug, Clone, Default)]
pub struct InList {
    /// Values compared for equality.
    pub values: Vec<Bson>,
    /// Regular expressions matched against strings.
    pub regexes: Vec<MongoRegex>,
}

impl InList {
    /// Whether one reached value is in the list.
    pub fn matches(&self, value: Option<&Bson>) -> bool {
        in_values(value, &self.values)
            || value.is_some_and(|v| self.regexes.iter().any(|r| r.matches_value(v)))
    }
}

/// Whether one reached value equals an element of `values` (missing equals `null`). Regular
/// expression values are compared as values, never run as patterns.
///
/// ```
/// use bson::{bson, Bson};
/// use expanse::query::in_values;
/// assert!(in_values(Some(&bson!(2)), &[bson!(1), bson!(2.0)]));
/// assert!(in_values(None, &[Bson::Null]));
/// ```
pub fn in_values(value: Option<&Bson>, values: &[Bson]) -> bool {
    match value {
        None => values
            .iter()
            .any(|v| matches!(v, Bson::Null | Bson::Undefined)),
        Some(value) => values.iter().any(|v| values_equal(value, v)),
    }
}

/// One operator applied to one reached value.
#[derive(Debug, Clone)]
pub enum Predicate {
    /// `$eq` `$gt` `$gte` `$lt` `$lte` (and implicit equality).
    Compare(Comparison, Bson),
    /// A regular expression (`{f: /x/}`, `$regex`).
    Regex(MongoRegex),
    /// `$in`.
    In(InList),
    /// `$exists: true`.
    Exists,
    /// `$type`.
    Type(Vec<TypeSelector>),
    /// `$mod: [divisor, remainder]`, both already truncated.
    Mod {
        /// Divisor (never 0).
        divisor: i64,
        /// Expected remainder.
        remainder: i64,
    },
    /// `$size`.
    Size(u64),
    /// `$elemMatch` with a query on each element.
    ElemMatchObject(Box<Filter>),
    /// `$elemMatch` with operators on each element.
    ElemMatchValue(Vec<ValueTest>),
}

/// A predicate or a negation of predicates, evaluated on a single value (inside `$elemMatch`).
#[derive(Debug, Clone)]
pub enum ValueTest {
    /// The predicate holds for the value.
    Is(Predicate),
    /// None of the tests… i.e. not all of them hold (`$ne`, `$nin`, `$not` inside `$elemMatch`).
    Not(Vec<ValueTest>),
}

impl ValueTest {
    /// Evaluates on one value.
    pub fn matches(&self, value: Option<&Bson>) -> bool {
        self.matches_under(value, NullSemantics::V80)
    }

    /// Evaluates on one value under the given release's rules.
    pub fn matches_under(&self, value: Option<&Bson>, semantics: NullSemantics) -> bool {
        match self {
            ValueTest::Is(p) => p.matches_under(value, semantics),
            ValueTest::Not(tests) => !tests.iter().all(|t| t.matches_under(value, semantics)),
        }
    }
}

impl Predicate {
    /// Whether arrays at the end of the path are entered (most operators) or seen whole.
    pub fn leaf_arrays(&self) -> super::LeafArrays {
        match self {
            Predicate::Size(_) | Predicate::ElemMatchObject(_) | Predicate::ElemMatchValue(_) => {
                super::LeafArrays::Whole
            }
            _ => super::LeafArrays::Traverse,
        }
    }

    /// MongoDB's single-value test.
    pub fn matches(&self, value: Option<&Bson>) -> bool {
        self.matches_under(value, NullSemantics::V80)
    }

    /// [`Predicate::matches`] under the given release's rules (they differ inside
    /// `$elemMatch` sub-queries).
    pub fn matches_under(&self, value: Option<&Bson>, semantics: NullSemantics) -> bool {
        match self {
            Predicate::Compare(op, operand) => compare_matches(*op, value, operand),
            Predicate::Regex(regex) => value.is_some_and(|v| regex.matches_value(v)),
            Predicate::In(list) => list.matches(value),
            Predicate::Exists => value.is_some(),
            Predicate::Type(types) => value.is_some_and(|v| types.iter().any(|t| t.matches(v))),
            Predicate::Mod { divisor, remainder } => match value.and_then(Number::of) {
                Some(n) => n
                    .exact_truncation()
                    .is_some_and(|dividend| dividend.wrapping_rem(*divisor) == *remainder),
                None => false,
            },
            Predicate::Size(size) => {
                matches!(value, Some(Bson::Array(items)) if items.len() as u64 == *size)
            }
            Predicate::ElemMatchObject(filter) => match value {
                Some(Bson::Array(items)) => items.iter().any(|item| match item {
                    Bson::Document(doc) => filter.matches_under(doc, semantics),
                    Bson::Array(nested) => {
                        filter.matches_under(&array_as_document(nested), semantics)
                    }
                    _ => false,
                }),
                _ => false,
            },
            Predicate::ElemMatchValue(tests) => match value {
                Some(Bson::Array(items)) => items
                    .iter()
                    .any(|item| tests.iter().all(|t| t.matches_under(Some(item), semantics))),
                _ => false,
            },
        }
    }
}

/// An array seen as a document with keys "0", "1", … (how MongoDB matches a sub-query on it).
pub(crate) fn array_as_document(items: &[Bson]) -> bson::Document {
    items
        .iter()
        .enumerate()
        .map(|(i, v)| (i.to_string(), v.clone()))
        .collect()
}

/// A fixed set of values for `$in`, with strings sorted for binary search; same answers as
/// [`in_values`].
///
/// ```
/// use bson::{bson, Bson};
/// use expanse::query::ValueSet;
/// let set = ValueSet::new(&[bson!("b"), bson!("a"), bson!(1), Bson::Null]);
/// assert!(set.contains(Some(&bson!("a"))));
/// assert!(set.contains(Some(&bson!(1.0))));
/// assert!(set.contains(None));
/// assert!(!set.contains(Some(&bson!("c"))));
/// ```
#[derive(Debug, Clone, Default)]
pub struct ValueSet {
    strings: Vec<String>,
    others: Vec<Bson>,
}

impl ValueSet {
    /// Builds the set.
    pub fn new(values: &[Bson]) -> ValueSet {
        let mut set = ValueSet::default();
        for value in values {
            match value {
                Bson::String(s) | Bson::Symbol(s) => set.strings.push(s.clone()),
                other => set.others.push(other.clone()),
            }
        }
        set.strings.sort_unstable();
        set.strings.dedup();
        set
    }

    /// Whether one reached value (`None` = missing) is in the set.
    pub fn contains(&self, value: Option<&Bson>) -> bool {
        match value {
            Some(Bson::String(s) | Bson::Symbol(s)) => {
                self.strings.binary_search_by(|x| x.as_str().cmp(s)).is_ok()
            }
            other => in_values(other, &self.others),
        }
    }
}

impl ValueSet {
    /// The values of the set (strings first).
    pub fn values(&self) -> Vec<Bson> {
        self.strings
            .iter()
            .map(|s| Bson::String(s.clone()))
            .chain(self.others.iter().cloned())
            .collect()
    }
}
