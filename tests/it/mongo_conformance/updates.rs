//! Update semantics restated from MongoDB's update jstests (`jstests/core/query/{update,set,inc,
//! rename,unset,push,pull,find_and_modify}` and `jstests/decimal/decimal_update.js`): each case,
//! in `updates/*.json`, gives the documents a collection starts with, one update (its query,
//! options and kind), and what MongoDB asserts — the collection afterwards, the returned
//! document, the counts, or a refusal — naming the jstest it comes from.
//!
//! Every case runs on:
//! - `engine`: the update engine in process (`expanse::update::Update` with the query matcher);
//! - `memory/system` and `memory/user`: the embedded store through a guarded collection, as the
//!   system user and as a user whose rules allow everything;
//! - `mongo/system` and `mongo/user`: the same over the MongoDB store on the test server;
//! - `server`: the test server's own update engine, through the driver.
//!
//! The first three must agree with every case. On the test server, the cases listed in
//! [`SERVER_DIVERGENCES`] are skipped, and each must still diverge (the list stays exact).
//! Where Expanse departs from MongoDB on purpose, a case's `expanse` block gives Expanse's
//! answer and says why; the server is held to MongoDB's.
//!
//! The case format (JSON, Extended JSON values):
//! `{"source", "name", "docs", "op"?, "query"?, "update", "upsert"?, "arrayFilters"?, "sort"?,
//! "projection"?, "new"?, "result"?, "error"?, "matched"?, "modified"?, "returned"?,
//! "unordered"?, "expanse"?}`. `op` is `updateOne` (the default), `updateMany`, `replaceOne`,
//! `findOneAndUpdate` or `findOneAndReplace`. `result` is the whole collection afterwards (a
//! document without `_id` stands for one whose `_id` was generated; `{"$$type": "date"}` for
//! any value of that type); with `error`, the collection is unchanged unless `result` says
//! otherwise. `unordered` compares documents regardless of field order, where the jstest does
//! and MongoDB leaves the order unspecified.

use std::collections::BTreeMap;
use std::path::Path;

use bson::{doc, Bson, Document};
use expanse::guard::{FindOneAndOptions, GuardError, GuardedCollection, UpdateOptions};
use expanse::query::{Filter, Projection, SortSpec};
use expanse::store::{ensure_id, MemoryStore, MongoStore, Namespace, Store, Write};
use expanse::update::Update;
use expanse::{App, User};

use crate::common;

/// Known departures of the test server from MongoDB: why, on which targets, and which cases.
struct Divergence {
    why: &'static str,
    targets: &'static [Target],
    cases: &'static [&'static str],
}

/// The test server's own update engine.
const SERVER: &[Target] = &[Target::Server];
/// The guarded collections over the MongoDB store on the test server.
const GUARDED_MONGO: &[Target] = &[Target::MongoSystem, Target::MongoUser];
/// The server, and a user's update by `_id` that rides to it as it is (one round trip, the
/// rules in its filter).
const SERVER_AND_ONE_ROUND_TRIP: &[Target] = &[Target::Server, Target::MongoUser];

/// Where the test server departs from MongoDB, case by case: each group says why and on which
/// targets. Skipped there only; each listed case must still diverge there (the list stays exact).
const SERVER_DIVERGENCES: &[Divergence] = &[
    Divergence {
        why: "the test server (written in Python) finds no document equal to one holding NaN, so the MongoDB store's guarded write of such a pre-image never matches and the write reports contention; MongoDB compares NaN equal to itself",
        targets: GUARDED_MONGO,
        cases: &[
            "update_inc_special_values: $inc NaN by Infinity",
            "update_inc_special_values: $inc NaN by NaN",
            "update_inc_special_values: $inc NaN by a number",
        ],
    },
    Divergence {
        why: "the test server finds no array position for `$` where the query matched an element through a path that continues below the array, in findAndModify, or after an array reached by position",
        targets: SERVER,
        cases: &[
            "find_and_modify_positional2: findAndModify with $",
            "find_and_modify_positional2: findAndModify with $ and another condition",
            "find_and_modify_positional3: $ of a matched value",
            "find_and_modify_positional: positional $set of the second element",
            "find_and_modify_positional: positional $set, returning the new document",
            "find_and_modify_positional_new_remove: positional $set under a query on _id and an element",
            "update_array_offset_positional: the match in the array after a named position",
            "update_arraymatch2: $inc the matched value of an embedded array",
            "update_arraymatch2: the position matched in one array sets another",
        ],
    },
    Divergence {
        why: "the test server applies an update with `$` whose query matched no array position (or with two `$`) instead of refusing it",
        targets: SERVER,
        cases: &[
            "update_positional_no_array_elem: a query by _id has no position for $",
            "update_positional_no_array_elem: an empty query has no position for $",
            "update_positional_no_array_elem: an upsert has no position for $",
            "update_positional_no_array_elem: two positional operators are refused",
        ],
    },
    Divergence {
        why: "the test server cannot `$set` the `$id` or `$ref` of a DBRef",
        targets: SERVER,
        cases: &[
            "set6: $set the $id inside a DBRef",
            "update_arraymatch8: the $ref of a DBRef in an array element",
            "update_dbref: $set the $id of a DBRef",
            "update_dbref: $set the $ref of a DBRef",
        ],
    },
    Divergence {
        why: "the test server stores a top-level field whose name starts with `$` through an update of an existing document",
        targets: SERVER,
        cases: &[
            "update_dbref: a top-level $db is refused",
            "update_dbref: a top-level $id is refused",
            "update_dbref: a top-level $ref is refused",
            "update_dollar_fields: $inc of a top-level $z is refused",
            "update_dollar_fields: $set below a top-level $secret is refused",
            "update_dollar_fields: $set of a top-level $$$ is refused",
            "update_dollar_fields: $set of a top-level $z is refused",
            "update_dollar_fields: a top-level $dbbaz is refused",
            "update_dollar_fields: a top-level $idbar is refused",
            "update_dollar_fields: a top-level $reffoo is refused",
        ],
    },
    Divergence {
        why: "the test server does not refuse an invalid `$rename` or an unused array filter when no document matches",
        targets: SERVER,
        cases: &[
            "rename_operator: a positional source is refused",
            "rename_operator: a positional target is refused",
            "rename_operator: a source below its target is refused",
            "rename_operator: the same source and target is refused",
            "update_arrayFilters: an array filter a $rename does not use is refused",
            "update_arrayFilters: findOneAndUpdate with an unused filter is refused",
        ],
    },
    Divergence {
        why: "the test server does not refuse two array-filtered paths, or `$[i]` and a position, that reach one element",
        targets: SERVER,
        cases: &[
            "update_arrayFilters: $[i] and a position on one array conflict",
            "update_arrayFilters: nested filters selecting one element conflict",
            "update_arrayFilters: two nested paths reaching one field conflict",
        ],
    },
    Divergence {
        why: "the test server accepts an empty `$sort` pattern or an empty `$sort` field",
        targets: SERVER,
        cases: &[
            "push_sort: a $sort key ending with a dot is refused",
            "push_sort: an empty $sort key is refused",
            "push_sort: an empty $sort pattern is refused",
        ],
    },
    Divergence {
        why: "the test server's `$push` `$sort` on a field puts documents before scalars (MongoDB reads a scalar's missing field as null, which sorts first); the user's update by `_id` rides to the server in one round trip",
        targets: SERVER_AND_ONE_ROUND_TRIP,
        cases: &[
            "push_sort: a scalar in $each sorts before documents",
            "push_sort: documents and a scalar in $each",
            "push_sort: existing elements need not be documents",
        ],
    },
    Divergence {
        why: "the test server's `$pop` through a scalar or an array does nothing where MongoDB refuses it; the user's update by `_id` rides to the server in one round trip",
        targets: SERVER_AND_ONE_ROUND_TRIP,
        cases: &[
            "update_modifier_pop: a path blocked by a scalar is refused",
            "update_modifier_pop: a path blocked by an array is refused",
        ],
    },
    Divergence {
        why: "the test server refuses `$pull` with an `$or` condition",
        targets: SERVER,
        cases: &[
            "pull_or: documents matching an $or",
        ],
    },
    Divergence {
        why: "the test server's `$bit` on 64-bit integers stores a 32-bit integer",
        targets: SERVER,
        cases: &[
            "verify_update_mods: $bit and in an upsert (findOneAndUpdate)",
            "verify_update_mods: $bit and in an upsert (updateOne)",
            "verify_update_mods: $bit and of longs (findOneAndUpdate)",
            "verify_update_mods: $bit and of longs (updateOne)",
            "verify_update_mods: $bit or in an upsert (findOneAndUpdate)",
            "verify_update_mods: $bit or in an upsert (updateOne)",
        ],
    },
    Divergence {
        why: "the test server stores an upsert's `_id` that is an array or a regular expression, and does not refuse `_id` and `_id.x` both matched",
        targets: SERVER,
        cases: &[
            "upsert_fields: $set of a regular expression _id is refused",
            "upsert_fields: $set of an array _id is refused",
            "upsert_fields: _id $eq an array is refused ($set)",
            "upsert_fields: _id $eq an array is refused ($setOnInsert)",
            "upsert_fields: _id $eq an array is refused (replacement)",
            "upsert_fields: _id and _id.x is refused ($set)",
            "upsert_fields: _id and _id.x is refused ($setOnInsert)",
            "upsert_fields: _id and _id.x is refused (replacement)",
            "upsert_fields: _id document and _id.x is refused ($set)",
            "upsert_fields: _id document and _id.x is refused ($setOnInsert)",
            "upsert_fields: _id document and _id.x is refused (replacement)",
            "upsert_fields: _id.x and _id.y are refused (replacement)",
            "upsert_fields: a replacement with an array _id is refused",
            "upsert_fields: a replacement's regular expression _id is refused",
            "upsert_fields: an array _id is refused ($set)",
            "upsert_fields: an array _id is refused ($setOnInsert)",
            "upsert_fields: an array _id is refused (replacement)",
        ],
    },
    Divergence {
        why: "the test server reads `undefined` in a query or an `_id` as null instead of refusing it",
        targets: SERVER,
        cases: &[
            "upsert_fields: $setOnInsert of an undefined _id is refused",
            "upsert_fields: _id $eq undefined is refused ($set)",
            "upsert_fields: _id $eq undefined is refused ($setOnInsert)",
            "upsert_fields: _id $eq undefined is refused (replacement)",
            "upsert_fields: a replacement with an undefined _id is refused",
            "upsert_fields: an undefined _id is refused ($set)",
            "upsert_fields: an undefined _id is refused ($setOnInsert)",
            "upsert_fields: an undefined _id is refused (replacement)",
            "upsert_fields: an undefined x is refused ($set)",
            "upsert_fields: an undefined x is refused ($setOnInsert)",
            "upsert_fields: an undefined x is refused (replacement)",
        ],
    },
    Divergence {
        why: "the test server does not refuse an upsert whose query matches a field and a field below it",
        targets: SERVER,
        cases: &[
            "upsert_fields: an empty x and x.x are refused ($set)",
            "upsert_fields: an empty x and x.x are refused ($setOnInsert)",
            "upsert_fields: x and x.x are refused ($set)",
            "upsert_fields: x and x.x are refused ($setOnInsert)",
            "upsert_fields: x array and x.x are refused ($set)",
            "upsert_fields: x array and x.x are refused ($setOnInsert)",
            "upsert_fields: x document and x.x are refused ($set)",
            "upsert_fields: x document and x.x are refused ($setOnInsert)",
            "upsert_fields: x document and x.y are refused ($set)",
            "upsert_fields: x document and x.y are refused ($setOnInsert)",
        ],
    },
    Divergence {
        why: "the test server refuses conflicting equalities on a field other than `_id` in a replacement's upsert, which MongoDB ignores",
        targets: SERVER,
        cases: &[
            "upsert_fields: two different x in $and are ignored (replacement)",
            "upsert_fields: two equal x in $and are ignored (replacement)",
            "upsert_fields: x $all of two values is ignored (replacement)",
        ],
    },
    Divergence {
        why: "the test server seeds an upsert with a field the query matches with a regular expression",
        targets: SERVER,
        cases: &[
            "upsert_and: a regular expression, $and and $or",
            "upsert_fields: a regular expression _id in the query is not extracted",
            "upsert_fields: a regular expression field is not extracted",
        ],
    },
    Divergence {
        why: "the test server does not read an `$or` whose clauses are all the same as that clause when it seeds an upsert",
        targets: SERVER,
        cases: &[
            "upsert_fields_duplicate_or: a repeated _id $or clause is extracted ($set)",
            "upsert_fields_duplicate_or: a repeated _id $or clause is extracted ($setOnInsert)",
            "upsert_fields_duplicate_or: a repeated _id $or clause is extracted (a replacement)",
            "upsert_fields_duplicate_or: a repeated x $or clause ($set)",
            "upsert_fields_duplicate_or: a repeated x $or clause ($setOnInsert)",
        ],
    },
];

/// Why a case is a known divergence on a target, if it is one.
fn divergence(case: &str, target: Target) -> Option<&'static str> {
    SERVER_DIVERGENCES
        .iter()
        .find(|d| d.targets.contains(&target) && d.cases.contains(&case))
        .map(|d| d.why)
}

/// What an operation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    UpdateOne,
    UpdateMany,
    ReplaceOne,
    FindOneAndUpdate,
    FindOneAndReplace,
}

/// What a case expects.
#[derive(Debug, Clone, Default)]
struct Expect {
    result: Option<Vec<Document>>,
    error: bool,
    matched: Option<u64>,
    modified: Option<u64>,
    returned: Option<Option<Document>>,
}

#[derive(Debug, Clone)]
struct Case {
    family: String,
    source: String,
    name: String,
    docs: Vec<Document>,
    op: Op,
    query: Document,
    update: Document,
    upsert: bool,
    array_filters: Vec<Document>,
    sort: Option<Document>,
    projection: Option<Document>,
    return_new: bool,
    unordered: bool,
    mongodb: Expect,
    /// Expanse's answer where it departs from MongoDB on purpose, and why.
    expanse: Option<(Expect, String)>,
}

impl Case {
    fn expected(&self, target: Target) -> &Expect {
        match (&self.expanse, target) {
            (Some((e, _)), t) if t != Target::Server => e,
            _ => &self.mongodb,
        }
    }

    fn label(&self) -> String {
        format!("{} ({})", self.name, self.source)
    }
}

/// What running a case gave.
#[derive(Debug, Clone, Default)]
struct Outcome {
    docs: Vec<Document>,
    error: Option<String>,
    matched: Option<u64>,
    modified: Option<u64>,
    returned: Option<Option<Document>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Target {
    Engine,
    MemorySystem,
    MemoryUser,
    MongoSystem,
    MongoUser,
    Server,
}

impl Target {
    fn name(self) -> &'static str {
        match self {
            Target::Engine => "engine",
            Target::MemorySystem => "memory/system",
            Target::MemoryUser => "memory/user",
            Target::MongoSystem => "mongo/system",
            Target::MongoUser => "mongo/user",
            Target::Server => "server",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Loading

fn load_cases() -> Vec<Case> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/mongo_conformance/updates");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut cases = Vec::new();
    for file in files {
        let family = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let text = std::fs::read_to_string(&file).unwrap();
        let json: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let Some(items) = json.get("cases").and_then(|c| c.as_array()) else {
            panic!("{}: expected {{\"cases\": [...]}}", file.display());
        };
        for (i, item) in items.iter().enumerate() {
            let at = format!("{} case {i}", file.display());
            let bson = Bson::try_from(item.clone()).unwrap_or_else(|e| panic!("{at}: {e}"));
            let Bson::Document(d) = bson else {
                panic!("{at}: a case is an object")
            };
            cases.push(parse_case(&family, &d, &at));
        }
    }
    let mut names = std::collections::HashSet::new();
    for case in &cases {
        assert!(
            names.insert(case.name.clone()),
            "duplicate case name {:?}",
            case.name
        );
    }
    cases
}

fn docs_of(v: Option<&Bson>, at: &str) -> Option<Vec<Document>> {
    match v? {
        Bson::Array(items) => Some(
            items
                .iter()
                .map(|i| match i {
                    Bson::Document(d) => d.clone(),
                    other => panic!("{at}: expected a document, found {other}"),
                })
                .collect(),
        ),
        other => panic!("{at}: expected an array of documents, found {other}"),
    }
}

fn expect_of(d: &Document, at: &str) -> Expect {
    let count = |k: &str| match d.get(k) {
        Some(Bson::Int32(i)) => Some(*i as u64),
        Some(Bson::Int64(i)) => Some(*i as u64),
        None => None,
        Some(other) => panic!("{at}: {k} must be a number, found {other}"),
    };
    Expect {
        result: docs_of(d.get("result"), at),
        error: d.get_bool("error").unwrap_or(false),
        matched: count("matched"),
        modified: count("modified"),
        returned: match d.get("returned") {
            None => None,
            Some(Bson::Null) => Some(None),
            Some(Bson::Document(r)) => Some(Some(r.clone())),
            Some(other) => panic!("{at}: returned must be a document or null, found {other}"),
        },
    }
}

fn parse_case(family: &str, d: &Document, at: &str) -> Case {
    let text = |k: &str| {
        d.get_str(k)
            .unwrap_or_else(|_| panic!("{at}: {k} is required"))
    };
    let op = match d.get_str("op").unwrap_or("updateOne") {
        "updateOne" => Op::UpdateOne,
        "updateMany" => Op::UpdateMany,
        "replaceOne" => Op::ReplaceOne,
        "findOneAndUpdate" => Op::FindOneAndUpdate,
        "findOneAndReplace" => Op::FindOneAndReplace,
        other => panic!("{at}: unknown op {other}"),
    };
    let mongodb = expect_of(d, at);
    assert!(
        mongodb.error || mongodb.result.is_some(),
        "{at}: a case expects a result or an error"
    );
    let expanse = d.get_document("expanse").ok().map(|e| {
        let why = e
            .get_str("why")
            .unwrap_or_else(|_| panic!("{at}: expanse.why is required"));
        (expect_of(e, at), why.to_owned())
    });
    Case {
        family: family.to_owned(),
        source: text("source").to_owned(),
        name: text("name").to_owned(),
        docs: docs_of(d.get("docs"), at).unwrap_or_default(),
        op,
        query: d.get_document("query").cloned().unwrap_or_default(),
        update: d
            .get_document("update")
            .cloned()
            .unwrap_or_else(|_| panic!("{at}: update is required")),
        upsert: d.get_bool("upsert").unwrap_or(false),
        array_filters: docs_of(d.get("arrayFilters"), at).unwrap_or_default(),
        sort: d.get_document("sort").ok().cloned(),
        projection: d.get_document("projection").ok().cloned(),
        return_new: d.get_bool("new").unwrap_or(false),
        unordered: d.get_bool("unordered").unwrap_or(false),
        mongodb,
        expanse,
    }
}

// ---------------------------------------------------------------------------------------------
// Comparing

/// Whether `actual` is what `expected` states: the same BSON types and values (NaN equal to
/// itself), fields in the same order unless `unordered`, `{"$$type": t}` matching any value of
/// type `t`.
fn same(expected: &Bson, actual: &Bson, unordered: bool) -> bool {
    match (expected, actual) {
        (Bson::Document(e), a) if e.len() == 1 && e.contains_key("$$type") => {
            let wanted = e.get_str("$$type").unwrap_or("");
            type_name(a) == wanted
        }
        (Bson::Document(e), Bson::Document(a)) => same_doc(e, a, unordered),
        (Bson::Array(e), Bson::Array(a)) => {
            e.len() == a.len() && e.iter().zip(a).all(|(x, y)| same(x, y, unordered))
        }
        (Bson::Double(e), Bson::Double(a)) => {
            (e.is_nan() && a.is_nan()) || e.to_bits() == a.to_bits()
        }
        (e, a) => e == a,
    }
}

fn same_doc(e: &Document, a: &Document, unordered: bool) -> bool {
    if e.len() != a.len() {
        return false;
    }
    if unordered {
        e.iter()
            .all(|(k, v)| a.get(k).is_some_and(|w| same(v, w, unordered)))
    } else {
        e.iter()
            .zip(a.iter())
            .all(|((ka, va), (kb, vb))| ka == kb && same(va, vb, unordered))
    }
}

fn type_name(v: &Bson) -> &'static str {
    match v {
        Bson::DateTime(_) => "date",
        Bson::Timestamp(_) => "timestamp",
        Bson::ObjectId(_) => "objectId",
        Bson::Double(_) => "double",
        Bson::Int32(_) => "int",
        Bson::Int64(_) => "long",
        Bson::Decimal128(_) => "decimal",
        _ => "other",
    }
}

fn show(docs: &[Document]) -> String {
    Bson::Array(docs.iter().cloned().map(Bson::Document).collect())
        .into_canonical_extjson()
        .to_string()
}

/// The collection after a case, matched against the expected documents: those with an `_id`
/// by `_id`, those without against the documents left (whose `_id` was generated). Every stored
/// document must have `_id` first.
fn check_collection(expected: &[Document], actual: &[Document], unordered: bool) -> Option<String> {
    if let Some(d) = actual
        .iter()
        .find(|d| d.keys().next().map(String::as_str) != Some("_id"))
    {
        return Some(format!("a stored document does not start with _id: {d}"));
    }
    if expected.len() != actual.len() {
        return Some(format!(
            "expected {} documents, found {}: {}",
            expected.len(),
            actual.len(),
            show(actual)
        ));
    }
    let mut left: Vec<&Document> = actual.iter().collect();
    let (with_id, without_id): (Vec<&Document>, Vec<&Document>) =
        expected.iter().partition(|d| d.contains_key("_id"));
    for e in with_id.into_iter().chain(without_id) {
        let found = left.iter().position(|a| match e.get("_id") {
            Some(id) => {
                a.get("_id").is_some_and(|i| same(id, i, false)) && same_doc(e, a, unordered)
            }
            None => {
                let mut rest = (*a).clone();
                rest.remove("_id");
                same_doc(e, &rest, unordered)
            }
        });
        match found {
            Some(i) => {
                left.remove(i);
            }
            None => {
                return Some(format!(
                    "expected {}\n      found {}",
                    show(expected),
                    show(actual)
                ))
            }
        }
    }
    None
}

fn check(case: &Case, target: Target, outcome: &Outcome) -> Option<String> {
    let want = case.expected(target);
    match (&outcome.error, want.error) {
        (Some(e), false) => return Some(format!("refused: {e}")),
        (None, true) => {
            return Some(format!(
                "expected a refusal, but it succeeded; collection {}",
                show(&outcome.docs)
            ))
        }
        _ => {}
    }
    let result = want.result.as_ref().unwrap_or(&case.docs);
    if let Some(problem) = check_collection(result, &outcome.docs, case.unordered) {
        return Some(problem);
    }
    if want.error {
        return None;
    }
    for (what, wanted, got) in [
        ("matched", want.matched, outcome.matched),
        ("modified", want.modified, outcome.modified),
    ] {
        if let (Some(w), Some(g)) = (wanted, got) {
            if w != g {
                return Some(format!("{what}: expected {w}, found {g}"));
            }
        }
    }
    if let Some(wanted) = &want.returned {
        let got = outcome.returned.clone().flatten();
        let ok = match (wanted, &got) {
            (None, None) => true,
            (Some(w), Some(g)) => {
                if w.contains_key("_id") || !g.contains_key("_id") {
                    same_doc(w, g, case.unordered)
                } else {
                    let mut rest = g.clone();
                    rest.remove("_id");
                    same_doc(w, &rest, case.unordered)
                }
            }
            _ => false,
        };
        if !ok {
            return Some(format!(
                "returned: expected {}, found {}",
                wanted.as_ref().map_or("null".to_owned(), |d| d.to_string()),
                got.map_or("null".to_owned(), |d| d.to_string())
            ));
        }
    }
    None
}

// ---------------------------------------------------------------------------------------------
// The update engine in process

fn run_engine(case: &Case) -> Outcome {
    let mut docs = case.docs.clone();
    let mut out = Outcome::default();
    let result = (|| -> Result<(), String> {
        let update = match case.op {
            Op::ReplaceOne | Op::FindOneAndReplace => Update::replacement(&case.update),
            _ => Update::parse_with(&case.update, &case.array_filters),
        }
        .map_err(|e| e.to_string())?;
        if case.op == Op::UpdateMany {
            if let Update::Replacement(_) = update {
                return Err("multi update is not supported for replacement-style update".into());
            }
        }
        let filter = Filter::parse(&case.query).map_err(|e| e.to_string())?;
        let projection = case
            .projection
            .as_ref()
            .map(Projection::parse)
            .transpose()
            .map_err(|e| e.to_string())?;
        let mut targets: Vec<usize> = (0..docs.len())
            .filter(|i| filter.matches(&docs[*i]))
            .collect();
        if let Some(sort) = &case.sort {
            let spec = SortSpec::parse(sort).map_err(|e| e.to_string())?;
            targets.sort_by(|a, b| spec.compare(&docs[*a], &docs[*b]));
        }
        if case.op != Op::UpdateMany {
            targets.truncate(1);
        }
        let find_and_modify = matches!(case.op, Op::FindOneAndUpdate | Op::FindOneAndReplace);
        if targets.is_empty() {
            out.matched = Some(0);
            out.modified = Some(0);
            if case.upsert {
                let new = ensure_id(
                    update
                        .upsert_document(&case.query)
                        .map_err(|e| e.to_string())?,
                );
                if find_and_modify {
                    out.returned =
                        Some(case.return_new.then(|| project(&new, projection.as_ref())));
                }
                docs.push(new);
            } else if find_and_modify {
                out.returned = Some(None);
            }
            return Ok(());
        }
        let mut posts = Vec::with_capacity(targets.len());
        for &i in &targets {
            posts.push(
                update
                    .apply_matched(&docs[i], &filter)
                    .map_err(|e| e.to_string())?,
            );
        }
        let mut modified = 0;
        for (&i, post) in targets.iter().zip(posts) {
            if find_and_modify {
                let chosen = if case.return_new { &post } else { &docs[i] };
                out.returned = Some(Some(project(chosen, projection.as_ref())));
            }
            if post != docs[i] {
                modified += 1;
            }
            docs[i] = post;
        }
        out.matched = Some(targets.len() as u64);
        out.modified = Some(modified);
        Ok(())
    })();
    match result {
        Ok(()) => out.docs = docs,
        Err(e) => {
            out.error = Some(e);
            out.docs = case.docs.clone();
        }
    }
    out
}

fn project(doc: &Document, projection: Option<&Projection>) -> Document {
    projection.map_or_else(|| doc.clone(), |p| p.apply(doc))
}

// ---------------------------------------------------------------------------------------------
// Guarded collections

const ALLOW_ALL: &str = r#"[{"name": "all", "apply_when": {}, "insert": true, "delete": true, "read": true, "write": true, "search": true}]"#;

fn namespace() -> Namespace {
    Namespace::new("db", "coll")
}

async fn run_guarded<S: Store>(
    case: &Case,
    coll: &GuardedCollection<'_, S>,
) -> (
    Option<String>,
    Option<u64>,
    Option<u64>,
    Option<Option<Document>>,
) {
    let upsert_options = UpdateOptions {
        upsert: case.upsert,
        array_filters: case.array_filters.clone(),
    };
    let and_options = FindOneAndOptions {
        sort: case.sort.clone(),
        projection: case.projection.clone(),
        upsert: case.upsert,
        return_new_document: case.return_new,
    };
    let show = |e: GuardError| Some(e.to_string());
    match case.op {
        Op::UpdateOne | Op::UpdateMany | Op::ReplaceOne => {
            let r = match case.op {
                Op::UpdateOne => {
                    coll.update_one_with(&case.query, &case.update, &upsert_options)
                        .await
                }
                Op::UpdateMany => {
                    coll.update_many_with(&case.query, &case.update, &upsert_options)
                        .await
                }
                _ => {
                    coll.replace_one(&case.query, &case.update, case.upsert)
                        .await
                }
            };
            match r {
                Ok(r) => (None, Some(r.matched_count), Some(r.modified_count), None),
                Err(e) => (show(e), None, None, None),
            }
        }
        Op::FindOneAndUpdate | Op::FindOneAndReplace => {
            let r = if case.op == Op::FindOneAndUpdate {
                coll.find_one_and_update_with(
                    &case.query,
                    &case.update,
                    &and_options,
                    &case.array_filters,
                )
                .await
            } else {
                coll.find_one_and_replace(&case.query, &case.update, &and_options)
                    .await
            };
            match r {
                Ok(d) => (None, None, None, Some(d)),
                Err(e) => (show(e), None, None, None),
            }
        }
    }
}

async fn run_memory(case: &Case, app: &App, user: &User) -> Outcome {
    let store = MemoryStore::new();
    let ns = namespace();
    if !case.docs.is_empty() {
        store
            .apply(&ns, case.docs.iter().cloned().map(Write::Insert).collect())
            .await
            .unwrap();
    }
    let coll = app
        .collection(&store, user, &ns.database, &ns.collection)
        .unwrap();
    let (error, matched, modified, returned) = run_guarded(case, &coll).await;
    Outcome {
        docs: store.documents(&ns),
        error,
        matched,
        modified,
        returned,
    }
}

async fn run_mongo(case: &Case, app: &App, user: &User, store: &MongoStore) -> Outcome {
    let ns = namespace();
    let raw = store
        .client()
        .database(&store.database_name(&ns))
        .collection::<Document>(&ns.collection);
    raw.drop().await.ok();
    if !case.docs.is_empty() {
        raw.insert_many(case.docs.clone()).await.unwrap();
    }
    let coll = app
        .collection(store, user, &ns.database, &ns.collection)
        .unwrap();
    let (error, matched, modified, returned) = run_guarded(case, &coll).await;
    Outcome {
        docs: all_documents(&raw).await,
        error,
        matched,
        modified,
        returned,
    }
}

async fn all_documents(coll: &mongodb::Collection<Document>) -> Vec<Document> {
    use futures_util::TryStreamExt;
    coll.find(doc! {})
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// The test server's own update engine

async fn run_server(case: &Case, db: &mongodb::Database, index: usize) -> Outcome {
    use mongodb::options::ReturnDocument;
    let coll = db.collection::<Document>(&format!("c{index}"));
    coll.drop().await.ok();
    if !case.docs.is_empty() {
        coll.insert_many(case.docs.clone()).await.unwrap();
    }
    let mut out = Outcome::default();
    let filters = (!case.array_filters.is_empty()).then(|| case.array_filters.clone());
    let returned = |d: Option<Document>| Some(d);
    let result: Result<(), String> = match case.op {
        Op::UpdateOne | Op::UpdateMany => {
            let action = if case.op == Op::UpdateOne {
                coll.update_one(case.query.clone(), case.update.clone())
            } else {
                coll.update_many(case.query.clone(), case.update.clone())
            };
            let action = action.upsert(case.upsert);
            let action = match &filters {
                Some(f) => action.array_filters(f.clone()),
                None => action,
            };
            action
                .await
                .map(|r| {
                    out.matched = Some(r.matched_count);
                    out.modified = Some(r.modified_count);
                })
                .map_err(|e| e.to_string())
        }
        Op::ReplaceOne => coll
            .replace_one(case.query.clone(), case.update.clone())
            .upsert(case.upsert)
            .await
            .map(|r| {
                out.matched = Some(r.matched_count);
                out.modified = Some(r.modified_count);
            })
            .map_err(|e| e.to_string()),
        Op::FindOneAndUpdate => {
            let mut action = coll
                .find_one_and_update(case.query.clone(), case.update.clone())
                .upsert(case.upsert)
                .return_document(if case.return_new {
                    ReturnDocument::After
                } else {
                    ReturnDocument::Before
                });
            if let Some(s) = &case.sort {
                action = action.sort(s.clone());
            }
            if let Some(p) = &case.projection {
                action = action.projection(p.clone());
            }
            if let Some(f) = &filters {
                action = action.array_filters(f.clone());
            }
            action
                .await
                .map(|d| out.returned = returned(d))
                .map_err(|e| e.to_string())
        }
        Op::FindOneAndReplace => {
            let mut action = coll
                .find_one_and_replace(case.query.clone(), case.update.clone())
                .upsert(case.upsert)
                .return_document(if case.return_new {
                    ReturnDocument::After
                } else {
                    ReturnDocument::Before
                });
            if let Some(s) = &case.sort {
                action = action.sort(s.clone());
            }
            if let Some(p) = &case.projection {
                action = action.projection(p.clone());
            }
            action
                .await
                .map(|d| out.returned = returned(d))
                .map_err(|e| e.to_string())
        }
    };
    out.error = result.err().map(|e| e.chars().take(300).collect());
    out.docs = all_documents(&coll).await;
    out
}

// ---------------------------------------------------------------------------------------------
// The test

fn user_app() -> (tempfile::TempDir, App) {
    common::apps::app_with_rules(&common::apps::rules(ALLOW_ALL, "[]"))
}

const SYSTEM_ONLY: &str = "query operators reserved for the system user";

/// Queries App Services reserves for the system user (regular expressions, `$where`, …): such
/// cases are not run as a user, whose query is refused before any update semantics.
fn system_only(query: &Document) -> bool {
    fn walk(v: &Bson) -> bool {
        match v {
            Bson::RegularExpression(_) => true,
            Bson::Document(d) => d
                .iter()
                .any(|(k, v)| matches!(k.as_str(), "$regex" | "$where" | "$expr") || walk(v)),
            Bson::Array(items) => items.iter().any(walk),
            _ => false,
        }
    }
    walk(&Bson::Document(query.clone()))
}

#[derive(Default)]
struct Tally {
    /// family → (cases, run, mismatches) per target
    counts: BTreeMap<(String, Target), (usize, usize)>,
    failures: Vec<String>,
    skipped: BTreeMap<(Target, &'static str), usize>,
}

impl Tally {
    fn record(&mut self, case: &Case, target: Target, problem: Option<String>) {
        let entry = self
            .counts
            .entry((case.family.clone(), target))
            .or_default();
        entry.0 += 1;
        if let Some(p) = problem {
            entry.1 += 1;
            self.failures
                .push(format!("[{}] {}\n    {p}", target.name(), case.label()));
        }
    }

    fn skip(&mut self, target: Target, why: &'static str) {
        *self.skipped.entry((target, why)).or_default() += 1;
    }

    fn report(&self) -> String {
        let mut families: BTreeMap<&str, Vec<(Target, usize, usize)>> = BTreeMap::new();
        for ((family, target), (run, bad)) in &self.counts {
            families
                .entry(family.as_str())
                .or_default()
                .push((*target, *run, *bad));
        }
        let mut out = String::from("update conformance (cases run / mismatches):\n");
        for (family, rows) in families {
            let cells: Vec<String> = rows
                .iter()
                .map(|(t, run, bad)| format!("{} {run}/{bad}", t.name()))
                .collect();
            out.push_str(&format!("  {family:<18} {}\n", cells.join(", ")));
        }
        for ((target, why), n) in &self.skipped {
            out.push_str(&format!("  skipped on {}: {n} ({why})\n", target.name()));
        }
        out
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_cases_agree_with_mongodb() {
    let cases = load_cases();
    let (_dir, app) = user_app();
    let system = User::system();
    let user = User::new("u1");
    let mut tally = Tally::default();

    for case in &cases {
        tally.record(
            case,
            Target::Engine,
            check(case, Target::Engine, &run_engine(case)),
        );
        let outcome = run_memory(case, &app, &system).await;
        tally.record(
            case,
            Target::MemorySystem,
            check(case, Target::MemorySystem, &outcome),
        );
        if system_only(&case.query) {
            tally.skip(Target::MemoryUser, SYSTEM_ONLY);
        } else {
            let outcome = run_memory(case, &app, &user).await;
            tally.record(
                case,
                Target::MemoryUser,
                check(case, Target::MemoryUser, &outcome),
            );
        }
    }

    for d in SERVER_DIVERGENCES {
        for name in d.cases {
            assert!(
                cases.iter().any(|c| c.name == *name),
                "SERVER_DIVERGENCES names no case {name:?}"
            );
        }
    }
    if let Some(uri) = common::mongodb_uri("update_cases_agree_with_mongodb") {
        let base = MongoStore::connect(&uri).await.unwrap();
        let store =
            base.with_database_prefix(format!("confu_{}_", bson::oid::ObjectId::new().to_hex()));
        let server_db = store
            .client()
            .database(&store.database_name(&Namespace::new("server", "x")));
        let mut still_agree = Vec::new();
        for (index, case) in cases.iter().enumerate() {
            let mut outcomes = vec![(Target::Server, run_server(case, &server_db, index).await)];
            outcomes.push((
                Target::MongoSystem,
                run_mongo(case, &app, &system, &store).await,
            ));
            if system_only(&case.query) {
                tally.skip(Target::MongoUser, SYSTEM_ONLY);
            } else {
                outcomes.push((
                    Target::MongoUser,
                    run_mongo(case, &app, &user, &store).await,
                ));
            }
            for (target, outcome) in outcomes {
                let problem = check(case, target, &outcome);
                if divergence(&case.name, target).is_some() {
                    tally.skip(target, "known server divergences");
                    if problem.is_none() {
                        still_agree.push(format!("[{}] {}", target.name(), case.name));
                    }
                } else {
                    tally.record(case, target, problem);
                }
            }
        }
        store.drop_prefixed_databases().await.unwrap();
        assert!(
            still_agree.is_empty(),
            "listed as server divergences, but these now agree with MongoDB: {still_agree:#?}"
        );
    }

    eprintln!("{}", tally.report());
    assert!(
        tally.failures.is_empty(),
        "{} mismatches:\n{}\n{}",
        tally.failures.len(),
        tally.failures.join("\n"),
        tally.report()
    );
}
