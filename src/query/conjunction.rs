//! Joining query documents with AND, as a server plans best.
//!
//! A guarded find sends the caller's query AND the applicable filters AND the pushed-down rules.
//! Written naively that is `{"$and": [query, filters, rules]}`; a server plans a flat document
//! of field conditions better, and a rule clause the query already implies (the caller asks for
//! `{"owner_id": "u7"}` and the rules allow `{"owner_id": {"$eq": "u7"}}` OR something else) only
//! costs it an `$or` it may not index. [`conjoin`] rewrites the conjunction to an equivalent
//! document that avoids both:
//!
//! - nested `$and` parts are flattened;
//! - a part implied by another part is dropped: a field equality the other part states with an
//!   identical value, or an `$or` one of whose branches is so implied;
//! - parts whose top-level keys do not collide are merged into one document (top-level keys are
//!   already ANDed by MongoDB).
//!
//! Only identical equalities count as implication (same type, same value, same field order),
//! so the rewrite never changes which documents match.

use bson::{Bson, Document};

use crate::limits::MAX_DEPTH;

/// The conjunction of `parts`, simplified. Empty parts are dropped; no parts give `{}`.
///
/// ```
/// use bson::doc;
/// use expanse::query::conjoin;
///
/// let query = doc! {"owner_id": "u7"};
/// let rules = doc! {"$or": [{"owner_id": {"$eq": "u7"}}, {"shared_with": {"$eq": "u7"}}]};
/// assert_eq!(conjoin(vec![query, rules]), doc! {"owner_id": "u7"});
///
/// let query = doc! {"done": false};
/// let rules = doc! {"owner_id": {"$eq": "u7"}};
/// assert_eq!(conjoin(vec![query, rules]), doc! {"done": false, "owner_id": {"$eq": "u7"}});
/// ```
pub fn conjoin(parts: Vec<Document>) -> Document {
    let mut flat = Vec::with_capacity(parts.len());
    for part in parts {
        flatten_into(part, &mut flat);
    }
    // Every dropped part is implied by a part kept at the time it was dropped; implication is
    // transitive, so what stays implies everything dropped.
    let mut kept: Vec<Document> = Vec::with_capacity(flat.len());
    for part in flat {
        if kept.iter().any(|k| implies(k, &part)) {
            continue;
        }
        kept.retain(|k| !implies(&part, k));
        kept.push(part);
    }
    let mut merged: Vec<Document> = Vec::with_capacity(kept.len());
    for part in kept {
        match merged
            .iter_mut()
            .find(|m| part.keys().all(|k| !m.contains_key(k)))
        {
            Some(target) => target.extend(part),
            None => merged.push(part),
        }
    }
    match merged.len() {
        0 => Document::new(),
        1 => merged.remove(0),
        _ => bson::doc! {"$and": merged.into_iter().map(Bson::Document).collect::<Vec<_>>()},
    }
}

/// Pushes the non-empty conjuncts of `part` onto `out`: a lone `$and` is opened up.
fn flatten_into(part: Document, out: &mut Vec<Document>) {
    if part.is_empty() {
        return;
    }
    if part.len() == 1 {
        if let Some(Bson::Array(items)) = part.get("$and") {
            // `{$and: []}` is an error MongoDB reports: it stays, for the server to refuse.
            if !items.is_empty() && items.iter().all(|i| matches!(i, Bson::Document(_))) {
                for item in items {
                    if let Bson::Document(d) = item {
                        flatten_into(d.clone(), out);
                    }
                }
                return;
            }
        }
    }
    out.push(part);
}

/// Whether every document matching `premise` also matches `conclusion`, judged only from
/// identical field equalities (sound, far from complete).
fn implies(premise: &Document, conclusion: &Document) -> bool {
    if conclusion.len() != 1 {
        return conclusion.iter().all(|(k, v)| {
            let mut single = Document::new();
            single.insert(k.clone(), v.clone());
            implies(premise, &single)
        });
    }
    let Some((key, value)) = conclusion.iter().next() else {
        return true;
    };
    if key == "$or" {
        return match value {
            Bson::Array(branches) => branches.iter().any(|b| match b {
                Bson::Document(branch) => !branch.is_empty() && implies(premise, branch),
                _ => false,
            }),
            _ => false,
        };
    }
    if key.starts_with('$') {
        return false;
    }
    let (Some(wanted), Some(stated)) = (equality_operand(value), premise.get(key)) else {
        return false;
    };
    equality_operand(stated).is_some_and(|s| identical(s, wanted))
}

/// The value a field condition tests equality with: `v` for a plain value (not a regular
/// expression, which means a pattern match) or a document without operators, and the operand
/// of `{"$eq": v}`.
fn equality_operand(condition: &Bson) -> Option<&Bson> {
    match condition {
        Bson::RegularExpression(_) => None,
        Bson::Document(d) => match d.iter().next() {
            Some((k, operand)) if d.len() == 1 && k == "$eq" => Some(operand),
            Some((k, _)) if k.starts_with('$') => None,
            _ => Some(condition),
        },
        other => Some(other),
    }
}

/// Equal as BSON with the same type at every level and documents' fields in the same order.
/// Documents and arrays more than [`MAX_DEPTH`] levels down are never identical (the answer
/// errs towards "changed"), which keeps the recursion bounded whatever the values.
pub(crate) fn identical(a: &Bson, b: &Bson) -> bool {
    identical_below(a, b, 1)
}

/// [`identical`] for two documents (each level 1).
///
/// Unlike `==` (which sees a NaN as different from itself and ignores field order), this is
/// whether the two would be stored as the same bytes.
pub(crate) fn identical_documents(a: &Document, b: &Document) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b.iter())
            .all(|((ka, va), (kb, vb))| ka == kb && identical_below(va, vb, 2))
}

/// [`identical`] for values `depth` levels down (the values first compared are level 1).
fn identical_below(a: &Bson, b: &Bson, depth: usize) -> bool {
    let container = matches!(a, Bson::Document(_) | Bson::Array(_));
    if container && depth > MAX_DEPTH {
        return false;
    }
    match (a, b) {
        (Bson::Document(x), Bson::Document(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y.iter())
                    .all(|((kx, vx), (ky, vy))| kx == ky && identical_below(vx, vy, depth + 1))
        }
        (Bson::Array(x), Bson::Array(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|(vx, vy)| identical_below(vx, vy, depth + 1))
        }
        (Bson::Double(x), Bson::Double(y)) => x.to_bits() == y.to_bits(),
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    #[test]
    fn an_implied_rule_clause_disappears() {
        let got = conjoin(vec![
            doc! {"owner_id": {"$eq": "u7"}},
            doc! {"$or": [{"owner_id": {"$eq": "u7"}}, {"shared_with": {"$eq": "u7"}}]},
        ]);
        assert_eq!(got, doc! {"owner_id": {"$eq": "u7"}});
    }

    #[test]
    fn different_types_or_field_orders_are_not_implication() {
        let rules = doc! {"$or": [{"n": {"$eq": 1_i64}}, {"m": 2}]};
        assert_eq!(
            conjoin(vec![doc! {"n": 1}, rules.clone()]),
            doc! {"n": 1, "$or": [{"n": {"$eq": 1_i64}}, {"m": 2}]}
        );
        let rules = doc! {"d": {"$eq": {"a": 1, "b": 2}}};
        let query = doc! {"d": {"b": 2, "a": 1}};
        assert_eq!(
            conjoin(vec![query.clone(), rules.clone()]),
            doc! {"$and": [query, rules]}
        );
    }

    #[test]
    fn a_regular_expression_is_a_pattern_not_an_equality() {
        let re = Bson::RegularExpression(bson::Regex {
            pattern: "^u".to_string().try_into().unwrap(),
            options: String::new().try_into().unwrap(),
        });
        let query = doc! {"owner_id": re.clone()};
        let rules = doc! {"owner_id": {"$eq": re}};
        assert_eq!(
            conjoin(vec![query.clone(), rules.clone()]),
            doc! {"$and": [query, rules]}
        );
    }

    #[test]
    fn nested_ands_flatten_and_disjoint_parts_merge() {
        let got = conjoin(vec![
            doc! {"$and": [{"a": 1}, {"b": {"$gt": 2}}]},
            doc! {},
            doc! {"a": {"$lt": 5}},
        ]);
        assert_eq!(
            got,
            doc! {"$and": [{"a": 1, "b": {"$gt": 2}}, {"a": {"$lt": 5}}]}
        );
        assert_eq!(conjoin(vec![]), doc! {});
        assert_eq!(conjoin(vec![doc! {}, doc! {}]), doc! {});
    }

    #[test]
    fn of_two_equal_parts_one_stays() {
        assert_eq!(conjoin(vec![doc! {"a": 1}, doc! {"a": 1}]), doc! {"a": 1});
    }
}
