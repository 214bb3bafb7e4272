//! MongoDB query documents compiled into a [`Filter`] and matched against documents.

use std::ops::ControlFlow;

use bson::{Bson, Document};

use super::path::{walk_document_under, FieldPath};
use super::predicate::{Comparison, InList, Predicate, ValueTest};
use super::regex::MongoRegex;
use super::types::TypeSelector;
use super::NullSemantics;
use crate::limits::{self, LimitError};

/// A query that could not be compiled, with the path of the offending part.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct QueryError {
    /// Where in the query document (`a.$in`, `$or.1.b`).
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl From<LimitError> for QueryError {
    fn from(e: LimitError) -> QueryError {
        QueryError::new(e.at(), e.reason())
    }
}

impl QueryError {
    fn new(path: impl Into<String>, message: impl Into<String>) -> QueryError {
        QueryError {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// A compiled MongoDB query.
///
/// ```
/// use bson::doc;
/// use expanse::query::Filter;
/// let filter = Filter::parse(&doc! {"tags": "red", "n": {"$gte": 2}}).unwrap();
/// assert!(filter.matches(&doc! {"tags": ["blue", "red"], "n": 2.5}));
/// assert!(!filter.matches(&doc! {"tags": "red"}));
/// ```
#[derive(Debug, Clone)]
pub enum Filter {
    /// Every part holds (an empty `And` always holds).
    And(Vec<Filter>),
    /// At least one part holds.
    Or(Vec<Filter>),
    /// No part holds.
    Nor(Vec<Filter>),
    /// The inner filter does not hold.
    Not(Box<Filter>),
    /// Some value reached by the path satisfies the predicate.
    Field(FieldPath, Predicate),
    /// Never holds (`$in: []`, `$all: []`).
    Nothing,
}

impl Filter {
    /// Compiles a query document. A query nested deeper than [`limits::MAX_DEPTH`] levels, or
    /// naming a path of more components, is refused ([`check_limits`]).
    ///
    /// ```
    /// use bson::doc;
    /// use expanse::query::Filter;
    /// let long = vec!["a"; 101].join(".");
    /// let err = Filter::parse(&doc! {long: 1}).unwrap_err();
    /// assert!(err.to_string().contains("more than 100 components"), "{err}");
    /// ```
    pub fn parse(query: &Document) -> Result<Filter, QueryError> {
        check_limits(query)?;
        parse_query(query, "")
    }

    /// Whether a document matches (MongoDB 8.0 rules).
    pub fn matches(&self, doc: &Document) -> bool {
        self.matches_under(doc, NullSemantics::V80)
    }

    /// Whether a document matches under the given release's rules ([`NullSemantics`]).
    pub fn matches_under(&self, doc: &Document, semantics: NullSemantics) -> bool {
        match self {
            Filter::And(parts) => parts.iter().all(|p| p.matches_under(doc, semantics)),
            Filter::Or(parts) => parts.iter().any(|p| p.matches_under(doc, semantics)),
            Filter::Nor(parts) => !parts.iter().any(|p| p.matches_under(doc, semantics)),
            Filter::Not(inner) => !inner.matches_under(doc, semantics),
            Filter::Field(path, predicate) => field_matches_under(doc, path, predicate, semantics),
            Filter::Nothing => false,
        }
    }
}

/// Whether any value `path` reaches in `doc` satisfies `predicate` (MongoDB 8.0 rules).
pub fn field_matches(doc: &Document, path: &FieldPath, predicate: &Predicate) -> bool {
    field_matches_under(doc, path, predicate, NullSemantics::V80)
}

/// [`field_matches`] under the given release's rules.
pub fn field_matches_under(
    doc: &Document,
    path: &FieldPath,
    predicate: &Predicate,
    semantics: NullSemantics,
) -> bool {
    let mut found = false;
    let leaf = predicate.leaf_arrays();
    let _ = walk_document_under(doc, path.parts(), leaf, semantics, &mut |value| {
        if predicate.matches_under(value, semantics) {
            found = true;
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    found
}

/// Refuses a query document nested deeper than [`limits::MAX_DEPTH`] levels or naming a field
/// path of more components: at the top level, inside `$and`/`$or`/`$nor`, and inside
/// `$elemMatch`, `$not` and `$all`. Keys inside compared values are data, not paths. Checks
/// without compiling, so it applies to queries sent to a server as they are.
///
/// ```
/// use bson::doc;
/// use expanse::query::check_limits;
/// let long = vec!["a"; 101].join(".");
/// assert!(check_limits(&doc! {"$or": [{"a": {"$elemMatch": {long.clone(): 1}}}]}).is_err());
/// assert!(check_limits(&doc! {"a": {long: 1}}).is_ok());
/// ```
pub fn check_limits(query: &Document) -> Result<(), LimitError> {
    limits::check_document_depth(query)?;
    check_query_paths(query)
}

/// The path checks of [`check_limits`] (recursion bounded by the depth checked first).
fn check_query_paths(query: &Document) -> Result<(), LimitError> {
    for (key, value) in query {
        match key.as_str() {
            "$and" | "$or" | "$nor" => check_each_query(value)?,
            operator if operator.starts_with('$') => check_operand_paths(operator, value)?,
            path => {
                limits::check_path(path)?;
                if let Some(operators) = is_operator_object(value) {
                    for (operator, operand) in operators {
                        check_operand_paths(operator, operand)?;
                    }
                }
            }
        }
    }
    Ok(())
}

/// The paths inside an operator's operand: `$elemMatch` and `$not` hold (sub)queries, `$all`
/// may hold `$elemMatch` documents.
fn check_operand_paths(operator: &str, operand: &Bson) -> Result<(), LimitError> {
    match (operator, operand) {
        ("$elemMatch" | "$not", Bson::Document(sub)) => check_query_paths(sub),
        ("$all", items @ Bson::Array(_)) => check_each_query(items),
        _ => Ok(()),
    }
}

fn check_each_query(items: &Bson) -> Result<(), LimitError> {
    if let Bson::Array(items) = items {
        for item in items {
            if let Bson::Document(sub) = item {
                check_query_paths(sub)?;
            }
        }
    }
    Ok(())
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

fn parse_query(query: &Document, at: &str) -> Result<Filter, QueryError> {
    let mut parts = Vec::with_capacity(query.len());
    for (key, value) in query {
        let here = join(at, key);
        if let Some(operator) = key.strip_prefix('$') {
            parts.push(parse_top_level(operator, value, &here)?);
        } else {
            parts.extend(parse_field(FieldPath::parse(key), value, &here)?);
        }
    }
    Ok(if parts.len() == 1 {
        parts.remove(0)
    } else {
        Filter::And(parts)
    })
}

fn parse_top_level(operator: &str, value: &Bson, at: &str) -> Result<Filter, QueryError> {
    match operator {
        "and" | "or" | "nor" => {
            let Bson::Array(items) = value else {
                return Err(QueryError::new(at, format!("${operator} must be an array")));
            };
            if items.is_empty() {
                return Err(QueryError::new(
                    at,
                    format!("${operator} must be a nonempty array"),
                ));
            }
            let mut parts = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let Bson::Document(sub) = item else {
                    return Err(QueryError::new(
                        join(at, &i.to_string()),
                        format!("${operator} argument's entries must be objects"),
                    ));
                };
                parts.push(parse_query(sub, &join(at, &i.to_string()))?);
            }
            Ok(match operator {
                "and" => Filter::And(parts),
                "or" => Filter::Or(parts),
                _ => Filter::Nor(parts),
            })
        }
        "comment" => Ok(Filter::And(Vec::new())),
        "where" | "expr" | "text" | "jsonSchema" => Err(QueryError::new(
            at,
            format!("${operator} is not supported by Expanse's query engine"),
        )),
        other => Err(QueryError::new(
            at,
            format!("unknown top level operator: ${other}"),
        )),
    }
}

/// Whether an object is a set of operators (its first key starts with `$`).
fn is_operator_object(value: &Bson) -> Option<&Document> {
    match value {
        Bson::Document(doc) if doc.keys().next().is_some_and(|k| k.starts_with('$')) => Some(doc),
        _ => None,
    }
}

fn parse_field(path: FieldPath, value: &Bson, at: &str) -> Result<Vec<Filter>, QueryError> {
    if let Some(operators) = is_operator_object(value) {
        return parse_operators(&path, operators, at);
    }
    let predicate = match value {
        Bson::RegularExpression(regex) => {
            Predicate::Regex(MongoRegex::from_bson(regex).map_err(|m| QueryError::new(at, m))?)
        }
        other => Predicate::Compare(Comparison::Eq, other.clone()),
    };
    Ok(vec![Filter::Field(path, predicate)])
}

/// Parses the operators of one field into filters that are AND-ed.
fn parse_operators(
    path: &FieldPath,
    operators: &Document,
    at: &str,
) -> Result<Vec<Filter>, QueryError> {
    let mut filters = Vec::with_capacity(operators.len());
    for test in parse_value_tests(operators, at)? {
        filters.push(match test {
            ValueTest::Is(predicate) => match predicate {
                Predicate::In(ref list) if list.values.is_empty() && list.regexes.is_empty() => {
                    Filter::Nothing
                }
                p => Filter::Field(path.clone(), p),
            },
            ValueTest::Not(tests) => Filter::Not(Box::new(and_of(tests_to_filters(path, tests)))),
        });
    }
    Ok(filters)
}

fn tests_to_filters(path: &FieldPath, tests: Vec<ValueTest>) -> Vec<Filter> {
    tests
        .into_iter()
        .map(|t| match t {
            ValueTest::Is(p) => Filter::Field(path.clone(), p),
            ValueTest::Not(inner) => Filter::Not(Box::new(and_of(tests_to_filters(path, inner)))),
        })
        .collect()
}

fn and_of(mut parts: Vec<Filter>) -> Filter {
    if parts.len() == 1 {
        parts.remove(0)
    } else {
        Filter::And(parts)
    }
}

/// Parses an operator object (`{"$gt": 1, "$lt": 5}`) into single-value tests; `at` prefixes
/// error paths.
pub fn parse_value_tests(operators: &Document, at: &str) -> Result<Vec<ValueTest>, QueryError> {
    let mut tests = Vec::with_capacity(operators.len());
    let regex_options = operators.get("$options");
    if regex_options.is_some() && !operators.contains_key("$regex") {
        return Err(QueryError::new(at, "$options needs a $regex"));
    }
    for (key, operand) in operators {
        let here = join(at, key);
        let test = match key.as_str() {
            "$eq" => ValueTest::Is(Predicate::Compare(Comparison::Eq, operand.clone())),
            "$ne" => ValueTest::Not(vec![ValueTest::Is(Predicate::Compare(
                Comparison::Eq,
                operand.clone(),
            ))]),
            "$gt" => ValueTest::Is(Predicate::Compare(Comparison::Gt, operand.clone())),
            "$gte" => ValueTest::Is(Predicate::Compare(Comparison::Gte, operand.clone())),
            "$lt" => ValueTest::Is(Predicate::Compare(Comparison::Lt, operand.clone())),
            "$lte" => ValueTest::Is(Predicate::Compare(Comparison::Lte, operand.clone())),
            "$in" => ValueTest::Is(Predicate::In(parse_in_list(operand, &here)?)),
            "$nin" => ValueTest::Not(vec![ValueTest::Is(Predicate::In(parse_in_list(
                operand, &here,
            )?))]),
            "$exists" => {
                if truthy(operand) {
                    ValueTest::Is(Predicate::Exists)
                } else {
                    ValueTest::Not(vec![ValueTest::Is(Predicate::Exists)])
                }
            }
            "$type" => ValueTest::Is(Predicate::Type(parse_types(operand, &here)?)),
            "$mod" => parse_mod(operand, &here)?,
            "$size" => ValueTest::Is(Predicate::Size(parse_size(operand, &here)?)),
            "$regex" => ValueTest::Is(Predicate::Regex(parse_regex(
                operand,
                regex_options,
                &here,
            )?)),
            "$options" => continue,
            "$all" => parse_all(operand, &here)?,
            "$elemMatch" => ValueTest::Is(parse_elem_match(operand, &here)?),
            "$not" => parse_not(operand, &here)?,
            other => return Err(QueryError::new(here, format!("unknown operator: {other}"))),
        };
        tests.push(test);
    }
    Ok(tests)
}

/// MongoDB's `trueValue`: false, 0, null and undefined are false; everything else is true.
///
/// ```
/// use bson::Bson;
/// assert!(!expanse::query::truthy(&Bson::Int32(0)));
/// assert!(expanse::query::truthy(&Bson::String(String::new())));
/// ```
pub fn truthy(value: &Bson) -> bool {
    match value {
        Bson::Boolean(b) => *b,
        Bson::Int32(i) => *i != 0,
        Bson::Int64(i) => *i != 0,
        Bson::Double(d) => *d != 0.0,
        Bson::Null | Bson::Undefined => false,
        _ => true,
    }
}

pub(crate) fn parse_in_list(operand: &Bson, at: &str) -> Result<InList, QueryError> {
    let Bson::Array(items) = operand else {
        return Err(QueryError::new(at, "$in/$nin needs an array"));
    };
    let mut list = InList::default();
    for item in items {
        match item {
            Bson::RegularExpression(r) => list
                .regexes
                .push(MongoRegex::from_bson(r).map_err(|m| QueryError::new(at, m))?),
            other if is_operator_object(other).is_some() => {
                return Err(QueryError::new(at, "cannot nest $ under $in"));
            }
            other => list.values.push(other.clone()),
        }
    }
    Ok(list)
}

fn parse_types(operand: &Bson, at: &str) -> Result<Vec<TypeSelector>, QueryError> {
    let items: Vec<&Bson> = match operand {
        Bson::Array(items) => items.iter().collect(),
        single => vec![single],
    };
    items
        .into_iter()
        .map(|item| TypeSelector::parse(item).map_err(|m| QueryError::new(at, m)))
        .collect()
}

fn parse_mod(operand: &Bson, at: &str) -> Result<ValueTest, QueryError> {
    let Bson::Array(items) = operand else {
        return Err(QueryError::new(at, "malformed mod, needs to be an array"));
    };
    if items.len() < 2 {
        return Err(QueryError::new(at, "malformed mod, not enough elements"));
    }
    if items.len() > 2 {
        return Err(QueryError::new(at, "malformed mod, too many elements"));
    }
    let number = |value: &Bson, what: &str| -> Result<i64, QueryError> {
        match super::order::Number::of(value) {
            // NaN, infinities and values a 64-bit integer cannot hold are refused.
            Some(n) if n.exact_truncation().is_none() => Err(QueryError::new(
                at,
                format!("malformed mod, {what} value is invalid"),
            )),
            Some(n) => Ok(n.truncate_to_i64()),
            None => Err(QueryError::new(
                at,
                format!("malformed mod, {what} not a number"),
            )),
        }
    };
    let divisor = number(&items[0], "divisor")?;
    let remainder = number(&items[1], "remainder")?;
    if divisor == 0 {
        return Err(QueryError::new(at, "divisor cannot be 0"));
    }
    Ok(ValueTest::Is(Predicate::Mod { divisor, remainder }))
}

fn parse_size(operand: &Bson, at: &str) -> Result<u64, QueryError> {
    let size = match operand {
        Bson::Int32(i) => i64::from(*i),
        Bson::Int64(i) => *i,
        Bson::Double(d) if d.fract() == 0.0 && d.is_finite() => *d as i64,
        Bson::Double(_) | Bson::Decimal128(_) => {
            return Err(QueryError::new(at, "$size must be a whole number"));
        }
        _ => return Err(QueryError::new(at, "$size needs a number")),
    };
    u64::try_from(size).map_err(|_| QueryError::new(at, "$size may not be negative"))
}

fn parse_regex(operand: &Bson, options: Option<&Bson>, at: &str) -> Result<MongoRegex, QueryError> {
    let extra = match options {
        None => "",
        Some(Bson::String(s)) => s.as_str(),
        Some(_) => return Err(QueryError::new(at, "$options has to be a string")),
    };
    match operand {
        Bson::String(pattern) => MongoRegex::new(pattern, extra),
        Bson::RegularExpression(r) => {
            if !extra.is_empty() && !r.options.as_str().is_empty() {
                return Err(QueryError::new(
                    at,
                    "options set in both $regex and $options",
                ));
            }
            let flags = format!("{}{}", r.options.as_str(), extra);
            MongoRegex::new(r.pattern.as_str(), &flags)
        }
        _ => return Err(QueryError::new(at, "$regex has to be a string")),
    }
    .map_err(|m| QueryError::new(at, m))
}

fn parse_all(operand: &Bson, at: &str) -> Result<ValueTest, QueryError> {
    let Bson::Array(items) = operand else {
        return Err(QueryError::new(at, "$all needs an array"));
    };
    if items.is_empty() {
        // Matches nothing: an empty $in.
        return Ok(ValueTest::Is(Predicate::In(InList::default())));
    }
    let mut tests = Vec::with_capacity(items.len());
    for item in items {
        let test = match item {
            Bson::RegularExpression(r) => {
                Predicate::Regex(MongoRegex::from_bson(r).map_err(|m| QueryError::new(at, m))?)
            }
            Bson::Document(d) if d.keys().next().map(String::as_str) == Some("$elemMatch") => {
                parse_elem_match(&d["$elemMatch"], at)?
            }
            other if is_operator_object(other).is_some() => {
                return Err(QueryError::new(at, "no $ expressions in $all"));
            }
            other => Predicate::Compare(Comparison::Eq, other.clone()),
        };
        tests.push(ValueTest::Is(test));
    }
    // AND of the parts is "not (not all)".
    Ok(ValueTest::Not(vec![ValueTest::Not(tests)]))
}

fn parse_elem_match(operand: &Bson, at: &str) -> Result<Predicate, QueryError> {
    let Bson::Document(sub) = operand else {
        return Err(QueryError::new(at, "$elemMatch needs an Object"));
    };
    let value_form = sub.keys().next().is_some_and(|k| {
        k.starts_with('$')
            && !matches!(
                k.as_str(),
                "$and" | "$or" | "$nor" | "$where" | "$expr" | "$text" | "$comment" | "$jsonSchema"
            )
    });
    if value_form {
        Ok(Predicate::ElemMatchValue(parse_value_tests(sub, at)?))
    } else {
        Ok(Predicate::ElemMatchObject(Box::new(parse_query(sub, at)?)))
    }
}

fn parse_not(operand: &Bson, at: &str) -> Result<ValueTest, QueryError> {
    match operand {
        Bson::RegularExpression(r) => Ok(ValueTest::Not(vec![ValueTest::Is(Predicate::Regex(
            MongoRegex::from_bson(r).map_err(|m| QueryError::new(at, m))?,
        ))])),
        Bson::Document(sub) => {
            if sub.is_empty() {
                return Err(QueryError::new(at, "$not cannot be empty"));
            }
            if is_operator_object(operand).is_none() {
                return Err(QueryError::new(
                    at,
                    "$not needs a regex or a document of operators",
                ));
            }
            Ok(ValueTest::Not(parse_value_tests(sub, at)?))
        }
        _ => Err(QueryError::new(at, "$not needs a regex or a document")),
    }
}
