//! The user-context restrictions: what App Services reserves for system callers and refuses in
//! a user's request — query operators (`$where`, `$expr`, `$regex` unless the app allows it, …),
//! aggregation stages (`$lookup`, `$out`, …), expression operators (`$function`, …) and
//! variables (`$$USER_ROLES`). The system user's requests are not checked.

use bson::{Bson, Document};

use super::error::NotAllowed;

/// Query operators App Services reserves for system callers.
const SYSTEM_ONLY_QUERY_OPERATORS: &[&str] = &[
    "$where",
    "$expr",
    "$jsonSchema",
    "$regex",
    "$text",
    "$near",
    "$nearSphere",
    "$geoWithin",
    "$geoIntersects",
    "$bitsAllSet",
    "$bitsAllClear",
    "$bitsAnySet",
    "$bitsAnyClear",
];

/// Refuses query operators App Services reserves for system callers.
///
/// ```
/// use bson::doc;
/// use expanse::rules::check_user_query;
/// assert!(check_user_query(&doc! {"n": {"$gt": 1}}, false).is_ok());
/// assert!(check_user_query(&doc! {"$expr": {"$eq": ["$a", "$b"]}}, false).is_err());
/// assert!(check_user_query(&doc! {"name": {"$regex": "^a"}}, true).is_ok());
/// ```
/// A regular expression, as
/// `$regex` or as a value (`{name: /^a/}`, inside `$in`, `$nin`, `$all`, `$not`), is one of
/// them unless the app allows it (`allow_regex`, [`crate::app::QuerySettings`]).
pub fn check_user_query(query: &Document, allow_regex: bool) -> Result<(), NotAllowed> {
    fn walk(value: &Bson, allow_regex: bool) -> Result<(), NotAllowed> {
        match value {
            Bson::Document(d) => {
                for (k, v) in d {
                    let regex_operator = matches!(k.as_str(), "$regex" | "$options");
                    if SYSTEM_ONLY_QUERY_OPERATORS.contains(&k.as_str())
                        && !(regex_operator && allow_regex)
                    {
                        return Err(NotAllowed(format!(
                            "operator {k} is only allowed for the system user"
                        )));
                    }
                    walk(v, allow_regex)?;
                }
                Ok(())
            }
            Bson::Array(items) => items.iter().try_for_each(|i| walk(i, allow_regex)),
            Bson::RegularExpression(_) if !allow_regex => Err(NotAllowed(
                "regular expressions in queries are only allowed for the system user".into(),
            )),
            _ => Ok(()),
        }
    }
    walk(&Bson::Document(query.clone()), allow_regex)
}

/// Stages App Services reserves for system callers.
const SYSTEM_ONLY_STAGES: &[&str] = &[
    "$collStats",
    "$facet",
    "$geoNear",
    "$graphLookup",
    "$indexStats",
    "$lookup",
    "$merge",
    "$out",
    "$unionWith",
];

/// Stages a user's pipeline may hold: each works on the documents it is given and reads no
/// other collection, no server state, and writes nothing.
const USER_STAGES: &[&str] = &[
    "$addFields",
    "$bucket",
    "$bucketAuto",
    "$count",
    "$densify",
    "$fill",
    "$group",
    "$limit",
    "$match",
    "$project",
    "$redact",
    "$replaceRoot",
    "$replaceWith",
    "$sample",
    "$set",
    "$setWindowFields",
    "$skip",
    "$sort",
    "$sortByCount",
    "$unset",
    "$unwind",
];

/// Expression operators App Services refuses in user context (`$function` and `$accumulator`
/// run server-side JavaScript).
const SYSTEM_ONLY_EXPRESSION_OPERATORS: &[&str] = &["$function", "$accumulator", "$setIsSubset"];

/// Variables that describe the server rather than the documents.
const SYSTEM_ONLY_VARIABLES: &[&str] = &["$$USER_ROLES"];

/// Refuses what a user's pipeline may not hold: stages outside [`USER_STAGES`], the
/// operators of [`SYSTEM_ONLY_EXPRESSION_OPERATORS`], system-only query operators in `$match`.
///
/// ```
/// use bson::doc;
/// use expanse::rules::check_user_pipeline;
/// assert!(check_user_pipeline(&[doc! {"$group": {"_id": "$k"}}], false).is_ok());
/// let refused = check_user_pipeline(&[doc! {"$lookup": {"from": "users"}}], false).unwrap_err();
/// assert_eq!(refused.to_string(), "aggregation stage $lookup is only allowed for the system user");
/// ```
pub fn check_user_pipeline(pipeline: &[Document], allow_regex: bool) -> Result<(), NotAllowed> {
    for stage in pipeline {
        let mut entries = stage.iter();
        let (Some((name, spec)), None) = (entries.next(), entries.next()) else {
            return Err(NotAllowed(
                "a pipeline stage must be an object with exactly one field".into(),
            ));
        };
        if SYSTEM_ONLY_STAGES.contains(&name.as_str()) {
            return Err(NotAllowed(format!(
                "aggregation stage {name} is only allowed for the system user"
            )));
        }
        if !USER_STAGES.contains(&name.as_str()) {
            return Err(NotAllowed(format!(
                "aggregation stage {name} is not allowed in a user's pipeline (allowed: {})",
                USER_STAGES.join(" ")
            )));
        }
        if name == "$match" {
            if let Bson::Document(query) = spec {
                check_user_query(query, allow_regex)?;
            }
        }
        check_operators(spec)?;
    }
    Ok(())
}

fn check_operators(value: &Bson) -> Result<(), NotAllowed> {
    let mut pending = vec![value];
    while let Some(value) = pending.pop() {
        match value {
            Bson::Document(d) => {
                for (k, v) in d {
                    if SYSTEM_ONLY_EXPRESSION_OPERATORS.contains(&k.as_str()) {
                        return Err(NotAllowed(format!(
                            "aggregation operator {k} is only allowed for the system user"
                        )));
                    }
                    pending.push(v);
                }
            }
            Bson::Array(items) => pending.extend(items),
            Bson::String(s) => {
                if let Some(var) = SYSTEM_ONLY_VARIABLES
                    .iter()
                    .find(|v| s == *v || s.starts_with(&format!("{v}.")))
                {
                    return Err(NotAllowed(format!(
                        "the variable {var} is only allowed for the system user"
                    )));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    #[test]
    fn stages_and_operators_outside_user_context_are_refused() {
        for (pipeline, word) in [
            (vec![doc! {"$lookup": {"from": "x"}}], "$lookup"),
            (vec![doc! {"$facet": {}}], "$facet"),
            (vec![doc! {"$currentOp": {}}], "$currentOp"),
            (
                vec![doc! {"$set": {"x": {"$function": {"body": "", "args": [], "lang": "js"}}}}],
                "$function",
            ),
            (
                vec![doc! {"$project": {"x": {"$setIsSubset": [[1], [1, 2]]}}}],
                "$setIsSubset",
            ),
            (vec![doc! {"$match": {"$expr": {"$eq": [1, 1]}}}], "$expr"),
            (vec![doc! {"$set": {"r": "$$USER_ROLES"}}], "$$USER_ROLES"),
        ] {
            match check_user_pipeline(&pipeline, false) {
                Err(NotAllowed(m)) => assert!(m.contains(word), "{m}"),
                other => panic!("{pipeline:?}: {other:?}"),
            }
        }
        check_user_pipeline(
            &[
                doc! {"$match": {"n": {"$gt": 1}}},
                doc! {"$group": {"_id": "$k", "n": {"$sum": 1}}},
                doc! {"$sort": {"n": -1}},
            ],
            false,
        )
        .unwrap();
    }
}
