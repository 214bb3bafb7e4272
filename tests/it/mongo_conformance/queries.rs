//! Find filters and projections from MongoDB's jstests, restated as data in `queries/*.json`
//! (see `main.rs`).
//!
//! Each data file holds groups: the jstest's source file, the documents it stores, and its
//! cases: a filter with the `_id`s MongoDB asserts (`ids`), or a filter MongoDB refuses
//! (`error`), or a filter and projection with the documents MongoDB returns (`expect`). Where
//! MongoDB 9.0 answers differently (SERVER-36681, null through arrays), `ids_90` / `expect_90`
//! hold its answer; Expanse follows 8.0 unless the app chooses 9.0 (`NullSemantics`).
//!
//! Every case runs (a) on the in-process matcher, (b) on the embedded store, (c) on the test
//! server through `MongoStore`, skipping exactly the cases in [`SERVER_DIVERGENCES`], and (d)
//! through a guarded collection whose rules let the user read everything.

use std::collections::BTreeMap;

use bson::{Bson, Document};
use expanse::query::{Filter, NullSemantics, Projection};
use expanse::store::{FindOptions, MemoryStore, MongoStore, Namespace, Store, Write};
use expanse::User;

use crate::common;

/// The data files, one per family of jstests.
const FILES: &[(&str, &str)] = &[
    ("all", include_str!("queries/all.json")),
    ("and", include_str!("queries/and.json")),
    ("decimal", include_str!("queries/decimal.json")),
    ("elemmatch", include_str!("queries/elemmatch.json")),
    ("exists", include_str!("queries/exists.json")),
    (
        "field_name_empty",
        include_str!("queries/field_name_empty.json"),
    ),
    ("in", include_str!("queries/in.json")),
    ("mod", include_str!("queries/mod.json")),
    ("not", include_str!("queries/not.json")),
    ("null", include_str!("queries/null.json")),
    ("projection", include_str!("queries/projection.json")),
    ("regex", include_str!("queries/regex.json")),
    ("type", include_str!("queries/type.json")),
];

/// Where the test server (SecantusDB 0.7.0b3) departs from the jstests, which win: the source
/// file with the group's ordinal in it (`all3.js#1`), the filter as relaxed Extended JSON (and
/// the projection, if any), and what the server does instead. The server run
/// skips exactly these cases; the matcher, the embedded store and the guarded collection still
/// run them.
const SERVER_DIVERGENCES: &[(&str, &str, &str)] = &[
    (
        "jstests/core/query/all/all2.js#1",
        r##"{"a.x":{"$all":[1,2]}}"##,
        "the server does not apply $all to the values a path reaches through an array of documents",
    ),
    (
        "jstests/core/query/all/all2.js#1",
        r##"{"a.x":{"$all":[2,3]}}"##,
        "the server does not apply $all to the values a path reaches through an array of documents",
    ),
    (
        "jstests/core/query/all/all3.js#1",
        r##"{"foo":{"$all":[null]}}"##,
        "the server's $all: [null] does not match a missing field (see query_differential, case 4)",
    ),
    (
        "jstests/core/query/all/all3.js#1",
        r##"{"foo":{"$not":{"$all":[null]}}}"##,
        "the server's $all: [null] does not match a missing field (see query_differential, case 4)",
    ),
    (
        "jstests/core/query/all/all3.js#3",
        r##"{"foo":{"$all":[[0,1]]}}"##,
        "the server's $all does not match an array element against the whole array",
    ),
    (
        "jstests/core/query/all/all3.js#4",
        r##"{"foo":{"$all":[[]]}}"##,
        "the server's $all does not match an array element against the whole array",
    ),
    (
        "jstests/decimal/decimal_find_mixed.js#2",
        r##"{"a":{"$lt":{"$numberDecimal":"0.3"}}}"##,
        "the server compares Decimal128 with double inexactly (0.3 equals Decimal128(\"0.3\") there)",
    ),
    (
        "jstests/decimal/decimal_find_mixed.js#2",
        r##"{"a":{"$gt":0.3}}"##,
        "the server compares Decimal128 with double inexactly (0.3 equals Decimal128(\"0.3\") there)",
    ),
    (
        "jstests/core/query/elemmatch/elemmatch_object.js#2",
        r##"{"a":{"$elemMatch":{"$or":[{},{}]}}}"##,
        "the server refuses $or inside $elemMatch",
    ),
    (
        "jstests/core/query/elemmatch/elemmatch_empty_path.js#1",
        r##"{"t":1,"":{"$elemMatch":{"$or":[{"a":1},{"b":1}]}}}"##,
        "the server refuses $or inside $elemMatch",
    ),
    (
        "jstests/core/query/field_name_empty.js#1",
        r##"{".":1}"##,
        "the server walks empty path components differently (a trailing empty component on an array, \"x..\")",
    ),
    (
        "jstests/core/query/field_name_empty.js#1",
        r##"{"x.":3}"##,
        "the server walks empty path components differently (a trailing empty component on an array, \"x..\")",
    ),
    (
        "jstests/core/query/field_name_empty.js#1",
        r##"{"x..":3}"##,
        "the server walks empty path components differently (a trailing empty component on an array, \"x..\")",
    ),
    (
        "jstests/core/query/field_name_empty.js#1",
        r##"{"$and":[{"x.":3},{"_id":{"$lt":8}}]}"##,
        "the server walks empty path components differently (a trailing empty component on an array, \"x..\")",
    ),
    (
        "jstests/core/query/field_name_empty.js#1",
        r##"{"x.":{"$exists":false}}"##,
        "the server walks empty path components differently (a trailing empty component on an array, \"x..\")",
    ),
    (
        "jstests/core/query/field_name_empty.js#1",
        r##"{"x.":{"$elemMatch":{"":3}}}"##,
        "the server walks empty path components differently (a trailing empty component on an array, \"x..\")",
    ),
    (
        "jstests/core/query/mod/mod.js#3",
        r##"{"a":{"$mod":[5,{"$numberDecimal":"2.1"}]}}"##,
        "the server does not truncate a Decimal128 $mod operand",
    ),
    (
        "jstests/core/query/mod/mod.js#3",
        r##"{"a":{"$mod":[{"$numberDecimal":"5.001"},{"$numberDecimal":"2.1"}]}}"##,
        "the server does not truncate a Decimal128 $mod operand",
    ),
    (
        "jstests/core/query/mod/mod.js#3",
        r##"{"a":{"$mod":[1,0,0]}}"##,
        "the server accepts $mod with more than two elements",
    ),
    (
        "jstests/core/query/mod/mod.js#3",
        r##"{"a":{"$mod":[10,1,1]}}"##,
        "the server accepts $mod with more than two elements",
    ),
    (
        "jstests/core/query/mod/mod_special_values.js#1",
        r##"{"attribute":{"$mod":[1,{"$numberDecimal":"NaN"}]}}"##,
        "the server accepts $mod operands MongoDB refuses (NaN, infinity, beyond 64 bits)",
    ),
    (
        "jstests/core/query/mod/mod_special_values.js#1",
        r##"{"attribute":{"$mod":[1,{"$numberDecimal":"Infinity"}]}}"##,
        "the server accepts $mod operands MongoDB refuses (NaN, infinity, beyond 64 bits)",
    ),
    (
        "jstests/core/query/mod/mod_special_values.js#1",
        r##"{"attribute":{"$mod":[{"$numberDecimal":"1E+19"},1]}}"##,
        "the server accepts $mod operands MongoDB refuses (NaN, infinity, beyond 64 bits)",
    ),
    (
        "jstests/core/query/mod/mod_special_values.js#1",
        r##"{"attribute":{"$mod":[1,{"$numberDecimal":"1E+19"}]}}"##,
        "the server accepts $mod operands MongoDB refuses (NaN, infinity, beyond 64 bits)",
    ),
    (
        "jstests/core/query/mod/mod_special_values.js#1",
        r##"{"attribute":{"$mod":[1,{"$numberDouble":"NaN"}]}}"##,
        "the server accepts $mod operands MongoDB refuses (NaN, infinity, beyond 64 bits)",
    ),
    (
        "jstests/core/query/mod/mod_special_values.js#1",
        r##"{"attribute":{"$mod":[1,{"$numberDouble":"Infinity"}]}}"##,
        "the server accepts $mod operands MongoDB refuses (NaN, infinity, beyond 64 bits)",
    ),
    (
        "jstests/core/query/mod/mod_special_values.js#1",
        r##"{"attribute":{"$mod":[1e+19,1]}}"##,
        "the server accepts $mod operands MongoDB refuses (NaN, infinity, beyond 64 bits)",
    ),
    (
        "jstests/core/query/mod/mod_special_values.js#1",
        r##"{"attribute":{"$mod":[1,1e+19]}}"##,
        "the server accepts $mod operands MongoDB refuses (NaN, infinity, beyond 64 bits)",
    ),
    (
        "jstests/core/query/mod/mod_special_values.js#2",
        r##"{"attribute":{"$mod":[1,0]}}"##,
        "the server matches a NaN, infinite or out-of-range dividend",
    ),
    (
        "jstests/core/query/mod/mod_special_values.js#3",
        r##"{"attribute":{"$mod":[1,0]}}"##,
        "the server matches a NaN, infinite or out-of-range dividend",
    ),
    (
        "jstests/core/query/null_query_semantics.js#1",
        r##"{"a":{"$eq":null}}"##,
        "the server stores undefined as null",
    ),
    (
        "jstests/core/query/null_query_semantics.js#1",
        r##"{"a":{"$ne":null}}"##,
        "the server stores undefined as null",
    ),
    (
        "jstests/core/query/null_query_semantics.js#1",
        r##"{"a":{"$in":[null,4]}}"##,
        "the server stores undefined as null",
    ),
    (
        "jstests/core/query/null_query_semantics.js#1",
        r##"{"$or":[{"a":null},{"a":4}]}"##,
        "the server stores undefined as null",
    ),
    (
        "jstests/core/query/null_query_semantics.js#1",
        r##"{"a":{"$nin":[null,4]}}"##,
        "the server stores undefined as null",
    ),
    (
        "jstests/core/query/null_query_semantics.js#1",
        r##"{"a":{"$nin":[null,{"$regularExpression":{"pattern":"^hi.*","options":""}}]}}"##,
        "the server stores undefined as null",
    ),
    (
        "jstests/core/query/null_query_semantics.js#1",
        r##"{"a.b":{"$eq":null}}"##,
        "the server stores undefined as null",
    ),
    (
        "jstests/core/query/null_query_semantics.js#1",
        r##"{"a.b":{"$ne":null}}"##,
        "the server stores undefined as null",
    ),
    (
        "jstests/core/query/null_query_semantics.js#1",
        r##"{"a":{"$eq":null}} projection {"_id":0,"a":1}"##,
        "the server stores undefined as null",
    ),
    (
        "jstests/core/query/null_query_semantics.js#1",
        r##"{"a":{"$ne":null}} projection {"_id":0,"a":1}"##,
        "the server stores undefined as null",
    ),
    (
        "jstests/core/query/null_query_semantics.js#1",
        r##"{"a.b":{"$eq":null}} projection {"_id":0,"a.b":1}"##,
        "the server stores undefined as null",
    ),
    (
        "jstests/core/query/null_query_semantics.js#1",
        r##"{"a.b":{"$ne":null}} projection {"_id":0,"a.b":1}"##,
        "the server stores undefined as null",
    ),
    (
        "jstests/core/query/null_query_semantics.js#2",
        r##"{"a":{"$eq":null}}"##,
        "the server stores undefined as null",
    ),
    (
        "jstests/core/query/null_query_semantics.js#2",
        r##"{"a":{"$ne":null}}"##,
        "the server stores undefined as null",
    ),
    (
        "jstests/core/query/null_query_semantics.js#2",
        r##"{"a":{"$not":{"$gte":null}}}"##,
        "the server stores undefined as null",
    ),
    (
        "jstests/core/query/null_query_semantics.js#2",
        r##"{"a":{"$in":[null,75]}}"##,
        "the server stores undefined as null",
    ),
    (
        "jstests/core/query/null_query_semantics.js#2",
        r##"{"$or":[{"a":null},{"a":75}]}"##,
        "the server stores undefined as null",
    ),
    (
        "jstests/core/query/null_query_semantics.js#2",
        r##"{"a":{"$nin":[null,75]}}"##,
        "the server stores undefined as null",
    ),
    (
        "jstests/core/query/null_query_semantics.js#2",
        r##"{"a":{"$nin":[null,[]]}}"##,
        "the server stores undefined as null",
    ),
    (
        "jstests/core/query/null_query_semantics.js#2",
        r##"{"a":{"$nin":[null,{"$regularExpression":{"pattern":"^str.*","options":""}}]}}"##,
        "the server stores undefined as null",
    ),
    (
        "jstests/core/query/null_query_semantics.js#2",
        r##"{"a":{"$elemMatch":{"$eq":null}}}"##,
        "the server stores undefined as null",
    ),
    (
        "jstests/core/query/null_query_semantics.js#2",
        r##"{"a.b":{"$eq":null}}"##,
        "the server stores undefined as null",
    ),
    (
        "jstests/core/query/null_query_semantics.js#2",
        r##"{"a.b":{"$ne":null}}"##,
        "the server stores undefined as null",
    ),
    (
        "jstests/core/query/null_query_semantics.js#2",
        r##"{"a.b":{"$in":[null,75]}}"##,
        "the server stores undefined as null",
    ),
    (
        "jstests/core/query/null_query_semantics.js#2",
        r##"{"$or":[{"a.b":null},{"a.b":75}]}"##,
        "the server stores undefined as null",
    ),
    (
        "jstests/core/query/null_query_semantics.js#2",
        r##"{"a.b":{"$nin":[null,75]}}"##,
        "the server stores undefined as null",
    ),
    (
        "jstests/core/query/null_query_semantics.js#2",
        r##"{"a.b":{"$nin":[null,{"$regularExpression":{"pattern":"^str.*","options":""}}]}}"##,
        "the server stores undefined as null",
    ),
    (
        "jstests/core/query/null_query_semantics.js#2",
        r##"{"a":{"$elemMatch":{"b":{"$eq":null}}}}"##,
        "the server stores undefined as null, and skips nested arrays in $elemMatch with a query (see query_differential, case 3)",
    ),
    (
        "jstests/core/query/null_query_semantics.js#2",
        r##"{"a":{"$elemMatch":{"b":{"$ne":null}}}}"##,
        "the server stores undefined as null",
    ),
    (
        "jstests/core/query/null_query_semantics.js#2",
        r##"{"a":{"$eq":null}} projection {"_id":0,"a":1}"##,
        "the server stores undefined as null",
    ),
    (
        "jstests/core/query/null_query_semantics.js#2",
        r##"{"a.b":{"$eq":null}} projection {"_id":0,"a.b":1}"##,
        "the server stores undefined as null",
    ),
    (
        "jstests/core/query/null_query_semantics.js#2",
        r##"{"a.b":{"$ne":null}} projection {"_id":0,"a.b":1}"##,
        "the server stores undefined as null",
    ),
    (
        "jstests/core/query/null_query_semantics.js#2",
        r##"{"a":{"$elemMatch":{"b":{"$eq":null}}}} projection {"_id":0,"a.b":1}"##,
        "the server stores undefined as null, and skips nested arrays in $elemMatch with a query (see query_differential, case 3)",
    ),
    (
        "jstests/core/query/project/id_partial_projection.js#1",
        r##"{} projection {"_id.a":1}"##,
        "the server keeps a whole scalar _id when the projection names a sub-path of it",
    ),
    (
        "jstests/core/query/project/id_partial_projection.js#1",
        r##"{} projection {"_id.b":1}"##,
        "the server keeps a whole scalar _id when the projection names a sub-path of it",
    ),
    (
        "jstests/core/query/regex/regex.js#6",
        r##"{"x":{"$regex":{"$regularExpression":{"pattern":"ab","options":"i"}},"$options":"s"}}"##,
        "the server accepts options both in the regex and in $options",
    ),
    (
        "jstests/core/query/regex/regex.js#6",
        r##"{"x":{"$options":"s","$regex":{"$regularExpression":{"pattern":"ab","options":"i"}}}}"##,
        "the server accepts options both in the regex and in $options",
    ),
    (
        "jstests/core/query/regex/regex.js#6",
        r##"{"a":{"$regex":"a\u0000b","$options":"i"}}"##,
        "the server accepts an embedded null byte in a pattern or its options",
    ),
    (
        "jstests/core/query/regex/regex6.js#1",
        r##"{"name":{"$regularExpression":{"pattern":"^\\Qblah\\E","options":""}}}"##,
        "the server's regex dialect (Python's) has no \\Q…\\E",
    ),
    (
        "jstests/core/query/regex/regex6.js#1",
        r##"{"name":{"$regularExpression":{"pattern":"^\\Q[\\Ewi\\Qth]some?s\\Eym","options":""}}}"##,
        "the server's regex dialect (Python's) has no \\Q…\\E",
    ),
    (
        "jstests/core/query/regex/regex_options.js#2",
        r##"{"txt":{"$regex":{"$regularExpression":{"pattern":"^hello.*","options":"g"}}}}"##,
        "the server accepts the invalid option g",
    ),
    (
        "jstests/core/query/regex/regex_unicode.js#1",
        r##"{"text":{"$regex":"(*UTF)e"}}"##,
        "the server's regex dialect (Python's) has no (*UTF) / (*UCP) settings nor backtracking verbs",
    ),
    (
        "jstests/core/query/regex/regex_unicode.js#1",
        r##"{"text":{"$regex":"(*UTF)á"}}"##,
        "the server's regex dialect (Python's) has no (*UTF) / (*UCP) settings nor backtracking verbs",
    ),
    (
        "jstests/core/query/regex/regex_unicode.js#1",
        r##"{"text":{"$regex":"(*UTF)정"}}"##,
        "the server's regex dialect (Python's) has no (*UTF) / (*UCP) settings nor backtracking verbs",
    ),
    (
        "jstests/core/query/regex/regex_unicode.js#1",
        r##"{"text":{"$regex":"(*UTF8)e"}}"##,
        "the server's regex dialect (Python's) has no (*UTF) / (*UCP) settings nor backtracking verbs",
    ),
    (
        "jstests/core/query/regex/regex_unicode.js#1",
        r##"{"text":{"$regex":"(*UTF8)á"}}"##,
        "the server's regex dialect (Python's) has no (*UTF) / (*UCP) settings nor backtracking verbs",
    ),
    (
        "jstests/core/query/regex/regex_unicode.js#1",
        r##"{"text":{"$regex":"(*UTF8)정"}}"##,
        "the server's regex dialect (Python's) has no (*UTF) / (*UCP) settings nor backtracking verbs",
    ),
    (
        "jstests/core/query/regex/regex_unicode.js#1",
        r##"{"text":{"$regex":"\\p{Latin}"}}"##,
        "the server's regex dialect (Python's) has no \\p{…} properties",
    ),
    (
        "jstests/core/query/regex/regex_unicode.js#1",
        r##"{"text":{"$regex":"^\\p{Latin}+$"}}"##,
        "the server's regex dialect (Python's) has no \\p{…} properties",
    ),
    (
        "jstests/core/query/regex/regex_unicode.js#1",
        r##"{"text":{"$regex":"\\p{Hangul}"}}"##,
        "the server's regex dialect (Python's) has no \\p{…} properties",
    ),
    (
        "jstests/core/query/regex/regex_unicode.js#1",
        r##"{"text":{"$regex":"^\\p{Hangul}+$"}}"##,
        "the server's regex dialect (Python's) has no \\p{…} properties",
    ),
    (
        "jstests/core/query/regex/regex_unicode.js#1",
        r##"{"text":{"$regex":"^\\p{L}+$"}}"##,
        "the server's regex dialect (Python's) has no \\p{…} properties",
    ),
    (
        "jstests/core/query/regex/regex_unicode.js#1",
        r##"{"text":{"$regex":"^\\p{Xan}+$"}}"##,
        "the server's regex dialect (Python's) has no \\p{…} properties",
    ),
    (
        "jstests/core/query/regex/regex_unicode.js#1",
        r##"{"text":{"$regex":"\\w"}}"##,
        "the server's \\w and \\d are Unicode; MongoDB's (PCRE without UCP) are ASCII",
    ),
    (
        "jstests/core/query/regex/regex_unicode.js#1",
        r##"{"text":{"$regex":"^\\w+$"}}"##,
        "the server's \\w and \\d are Unicode; MongoDB's (PCRE without UCP) are ASCII",
    ),
    (
        "jstests/core/query/regex/regex_unicode.js#1",
        r##"{"text":{"$regex":"(*UCP)\\w"}}"##,
        "the server's regex dialect (Python's) has no (*UTF) / (*UCP) settings nor backtracking verbs",
    ),
    (
        "jstests/core/query/regex/regex_unicode.js#1",
        r##"{"text":{"$regex":"(*UCP)^\\w+$"}}"##,
        "the server's regex dialect (Python's) has no (*UTF) / (*UCP) settings nor backtracking verbs",
    ),
    (
        "jstests/core/query/regex/regex_unicode.js#1",
        r##"{"text":{"$regex":"[[:alpha:]]"}}"##,
        "the server's regex dialect (Python's) has no POSIX classes",
    ),
    (
        "jstests/core/query/regex/regex_unicode.js#1",
        r##"{"text":{"$regex":"^[[:alpha:]]+$"}}"##,
        "the server's regex dialect (Python's) has no POSIX classes",
    ),
    (
        "jstests/core/query/regex/regex_unicode.js#1",
        r##"{"text":{"$regex":"(*UCP)[[:alpha:]]"}}"##,
        "the server's regex dialect (Python's) has no (*UTF) / (*UCP) settings nor backtracking verbs",
    ),
    (
        "jstests/core/query/regex/regex_unicode.js#1",
        r##"{"text":{"$regex":"(*UCP)^[[:alpha:]]+$"}}"##,
        "the server's regex dialect (Python's) has no (*UTF) / (*UCP) settings nor backtracking verbs",
    ),
    (
        "jstests/core/query/regex/regex_unicode.js#2",
        r##"{"text":{"$regex":"^\\p{N}+$"}}"##,
        "the server's regex dialect (Python's) has no \\p{…} properties",
    ),
    (
        "jstests/core/query/regex/regex_unicode.js#2",
        r##"{"text":{"$regex":"^\\p{Xan}+$"}}"##,
        "the server's regex dialect (Python's) has no \\p{…} properties",
    ),
    (
        "jstests/core/query/regex/regex_unicode.js#2",
        r##"{"text":{"$regex":"\\d"}}"##,
        "the server's \\w and \\d are Unicode; MongoDB's (PCRE without UCP) are ASCII",
    ),
    (
        "jstests/core/query/regex/regex_unicode.js#2",
        r##"{"text":{"$regex":"^\\d+$"}}"##,
        "the server's \\w and \\d are Unicode; MongoDB's (PCRE without UCP) are ASCII",
    ),
    (
        "jstests/core/query/regex/regex_unicode.js#2",
        r##"{"text":{"$regex":"(*UCP)\\d"}}"##,
        "the server's regex dialect (Python's) has no (*UTF) / (*UCP) settings nor backtracking verbs",
    ),
    (
        "jstests/core/query/regex/regex_unicode.js#2",
        r##"{"text":{"$regex":"(*UCP)^\\d+$"}}"##,
        "the server's regex dialect (Python's) has no (*UTF) / (*UCP) settings nor backtracking verbs",
    ),
    (
        "jstests/core/query/regex/regex_unicode.js#2",
        r##"{"text":{"$regex":"[[:digit:]]"}}"##,
        "the server's regex dialect (Python's) has no POSIX classes",
    ),
    (
        "jstests/core/query/regex/regex_unicode.js#2",
        r##"{"text":{"$regex":"^[[:digit:]]+$"}}"##,
        "the server's regex dialect (Python's) has no POSIX classes",
    ),
    (
        "jstests/core/query/regex/regex_unicode.js#2",
        r##"{"text":{"$regex":"(*UCP)[[:digit:]]"}}"##,
        "the server's regex dialect (Python's) has no (*UTF) / (*UCP) settings nor backtracking verbs",
    ),
    (
        "jstests/core/query/regex/regex_unicode.js#2",
        r##"{"text":{"$regex":"(*UCP)^[[:digit:]]+$"}}"##,
        "the server's regex dialect (Python's) has no (*UTF) / (*UCP) settings nor backtracking verbs",
    ),
    (
        "jstests/core/query/regex/regex_verbs.js#1",
        r##"{"text":{"$regex":"(*FAIL)"}}"##,
        "the server's regex dialect (Python's) has no (*UTF) / (*UCP) settings nor backtracking verbs",
    ),
    (
        "jstests/core/query/regex/regex_verbs.js#1",
        r##"{"text":{"$regex":"a(*FAIL)"}}"##,
        "the server's regex dialect (Python's) has no (*UTF) / (*UCP) settings nor backtracking verbs",
    ),
    (
        "jstests/core/query/regex/regex_verbs.js#1",
        r##"{"text":{"$regex":"(*FAIL)b"}}"##,
        "the server's regex dialect (Python's) has no (*UTF) / (*UCP) settings nor backtracking verbs",
    ),
    (
        "jstests/core/query/regex/regex_verbs.js#1",
        r##"{"text":{"$regex":"(*ACCEPT)"}}"##,
        "the server's regex dialect (Python's) has no (*UTF) / (*UCP) settings nor backtracking verbs",
    ),
    (
        "jstests/core/query/regex/regex_verbs.js#1",
        r##"{"text":{"$regex":"(*ACCEPT)a"}}"##,
        "the server's regex dialect (Python's) has no (*UTF) / (*UCP) settings nor backtracking verbs",
    ),
    (
        "jstests/core/query/regex/regex_verbs.js#1",
        r##"{"text":{"$regex":"(*ACCEPT)c"}}"##,
        "the server's regex dialect (Python's) has no (*UTF) / (*UCP) settings nor backtracking verbs",
    ),
    (
        "jstests/core/query/regex/regex_verbs.js#1",
        r##"{"text":{"$regex":"b(*ACCEPT)"}}"##,
        "the server's regex dialect (Python's) has no (*UTF) / (*UCP) settings nor backtracking verbs",
    ),
    (
        "jstests/core/query/regex/regex_verbs.js#1",
        r##"{"text":{"$regex":"(*COMMIT)"}}"##,
        "the server's regex dialect (Python's) has no (*UTF) / (*UCP) settings nor backtracking verbs",
    ),
    (
        "jstests/core/query/regex/regex_verbs.js#1",
        r##"{"text":{"$regex":"(*COMMIT)a"}}"##,
        "the server's regex dialect (Python's) has no (*UTF) / (*UCP) settings nor backtracking verbs",
    ),
    (
        "jstests/core/query/regex/regex_verbs.js#1",
        r##"{"text":{"$regex":"(*COMMIT)[Bb]"}}"##,
        "the server's regex dialect (Python's) has no (*UTF) / (*UCP) settings nor backtracking verbs",
    ),
    (
        "jstests/core/query/regex/regex_verbs.js#1",
        r##"{"text":{"$regex":"(*PRUNE)"}}"##,
        "the server's regex dialect (Python's) has no (*UTF) / (*UCP) settings nor backtracking verbs",
    ),
    (
        "jstests/core/query/regex/regex_verbs.js#1",
        r##"{"text":{"$regex":"(*PRUNE)a"}}"##,
        "the server's regex dialect (Python's) has no (*UTF) / (*UCP) settings nor backtracking verbs",
    ),
    (
        "jstests/core/query/regex/regex_verbs.js#1",
        r##"{"text":{"$regex":"(*PRUNE)[Bb]"}}"##,
        "the server's regex dialect (Python's) has no (*UTF) / (*UCP) settings nor backtracking verbs",
    ),
    (
        "jstests/core/query/regex/regex_verbs.js#1",
        r##"{"text":{"$regex":"(*PRUNE:FOO)"}}"##,
        "the server's regex dialect (Python's) has no (*UTF) / (*UCP) settings nor backtracking verbs",
    ),
    (
        "jstests/core/query/regex/regex_verbs.js#1",
        r##"{"text":{"$regex":"(*PRUNE:FOO)a"}}"##,
        "the server's regex dialect (Python's) has no (*UTF) / (*UCP) settings nor backtracking verbs",
    ),
    (
        "jstests/core/query/regex/regex_verbs.js#1",
        r##"{"text":{"$regex":"(*PRUNE:FOO)[Bb]"}}"##,
        "the server's regex dialect (Python's) has no (*UTF) / (*UCP) settings nor backtracking verbs",
    ),
    (
        "jstests/core/query/regex/regex_verbs.js#1",
        r##"{"text":{"$regex":"(*SKIP)"}}"##,
        "the server's regex dialect (Python's) has no (*UTF) / (*UCP) settings nor backtracking verbs",
    ),
    (
        "jstests/core/query/regex/regex_verbs.js#1",
        r##"{"text":{"$regex":"(*SKIP)a"}}"##,
        "the server's regex dialect (Python's) has no (*UTF) / (*UCP) settings nor backtracking verbs",
    ),
    (
        "jstests/core/query/regex/regex_verbs.js#1",
        r##"{"text":{"$regex":"(*SKIP)[Bb]"}}"##,
        "the server's regex dialect (Python's) has no (*UTF) / (*UCP) settings nor backtracking verbs",
    ),
    (
        "jstests/core/query/regex/regex_verbs.js#1",
        r##"{"text":{"$regex":"(*SKIP:BAR)"}}"##,
        "the server's regex dialect (Python's) has no (*UTF) / (*UCP) settings nor backtracking verbs",
    ),
    (
        "jstests/core/query/regex/regex_verbs.js#1",
        r##"{"text":{"$regex":"(*SKIP:BAR)a"}}"##,
        "the server's regex dialect (Python's) has no (*UTF) / (*UCP) settings nor backtracking verbs",
    ),
    (
        "jstests/core/query/regex/regex_verbs.js#1",
        r##"{"text":{"$regex":"(*SKIP:BAR)[Bb]"}}"##,
        "the server's regex dialect (Python's) has no (*UTF) / (*UCP) settings nor backtracking verbs",
    ),
    (
        "jstests/core/query/regex/regex_verbs.js#1",
        r##"{"text":{"$regex":"(*THEN)"}}"##,
        "the server's regex dialect (Python's) has no (*UTF) / (*UCP) settings nor backtracking verbs",
    ),
    (
        "jstests/core/query/regex/regex_verbs.js#1",
        r##"{"text":{"$regex":"(*THEN)a"}}"##,
        "the server's regex dialect (Python's) has no (*UTF) / (*UCP) settings nor backtracking verbs",
    ),
    (
        "jstests/core/query/regex/regex_verbs.js#1",
        r##"{"text":{"$regex":"(*THEN)[Bb]"}}"##,
        "the server's regex dialect (Python's) has no (*UTF) / (*UCP) settings nor backtracking verbs",
    ),
    (
        "jstests/core/query/regex/regex_verbs.js#1",
        r##"{"text":{"$regex":"(*THEN:BAZ)"}}"##,
        "the server's regex dialect (Python's) has no (*UTF) / (*UCP) settings nor backtracking verbs",
    ),
    (
        "jstests/core/query/regex/regex_verbs.js#1",
        r##"{"text":{"$regex":"(*THEN:BAZ)a"}}"##,
        "the server's regex dialect (Python's) has no (*UTF) / (*UCP) settings nor backtracking verbs",
    ),
    (
        "jstests/core/query/regex/regex_verbs.js#1",
        r##"{"text":{"$regex":"(*THEN:BAZ)[Bb]"}}"##,
        "the server's regex dialect (Python's) has no (*UTF) / (*UCP) settings nor backtracking verbs",
    ),
    (
        "jstests/core/query/regex/regex_error.js#1",
        r##"{"a":{"$regex":"ab\u0000c"}}"##,
        "the server accepts an embedded null byte in a pattern or its options",
    ),
    (
        "jstests/core/query/type/type3.js#5",
        r##"{"a":{"$type":6}}"##,
        "the server stores undefined as null",
    ),
    (
        "jstests/core/query/type/type3.js#8",
        r##"{"a":{"$type":6}}"##,
        "the server stores undefined as null",
    ),
    (
        "jstests/core/query/type/null_undefined.js#1",
        r##"{"a":{"$type":"undefined"}}"##,
        "the server stores undefined as null",
    ),
];

/// What MongoDB answers for one case.
#[derive(Debug, Clone)]
enum Expect {
    /// The `_id`s of the matching documents (8.0, then 9.0).
    Ids(Vec<Bson>, Vec<Bson>),
    /// The query is refused.
    Error,
    /// The documents returned through a projection (8.0, then 9.0).
    Projected(Document, Vec<Document>, Vec<Document>),
}

#[derive(Debug, Clone)]
struct Case {
    family: &'static str,
    source: String,
    /// Index of the group (the documents) within all groups.
    group: usize,
    /// The source file with the group's ordinal among that file's groups (`regex.js#2`): what
    /// a listed server divergence names.
    part: String,
    filter: Document,
    expect: Expect,
}

impl Case {
    fn label(&self) -> String {
        format!("[{}] {} {}", self.family, self.source, self.key())
    }

    /// The filter as relaxed Extended JSON, then the projection when there is one: what a
    /// listed server divergence names.
    fn key(&self) -> String {
        let filter = ext(&Bson::Document(self.filter.clone()));
        match &self.expect {
            Expect::Projected(p, ..) => {
                format!("{filter} projection {}", ext(&Bson::Document(p.clone())))
            }
            _ => filter,
        }
    }

    fn server_divergence(&self) -> Option<&'static str> {
        let key = self.key();
        SERVER_DIVERGENCES
            .iter()
            .find(|(part, k, _)| self.part == *part && *k == key)
            .map(|(_, _, why)| *why)
    }
}

struct Suite {
    groups: Vec<Vec<Document>>,
    cases: Vec<Case>,
}

fn ext(value: &Bson) -> String {
    value.clone().into_relaxed_extjson().to_string()
}

fn array<'a>(value: Option<&'a Bson>, what: &str) -> &'a Vec<Bson> {
    match value {
        Some(Bson::Array(items)) => items,
        other => panic!("{what}: expected an array, got {other:?}"),
    }
}

fn documents(items: &[Bson]) -> Vec<Document> {
    items
        .iter()
        .map(|d| match d {
            Bson::Document(d) => d.clone(),
            other => panic!("expected a document, got {other}"),
        })
        .collect()
}

fn load() -> Suite {
    let mut suite = Suite {
        groups: Vec::new(),
        cases: Vec::new(),
    };
    let mut parts: BTreeMap<String, usize> = BTreeMap::new();
    for (family, text) in FILES {
        let json = expanse::json::parse(text, family).unwrap_or_else(|e| panic!("{family}: {e}"));
        let Bson::Document(file) = expanse::json::to_bson(&json).expect("extended JSON") else {
            panic!("{family}: not an object");
        };
        for group in array(file.get("groups"), family) {
            let Bson::Document(group) = group else {
                panic!("{family}: a group is not an object")
            };
            let source = group.get_str("source").expect("source").to_owned();
            let index = suite.groups.len();
            let ordinal = parts.entry(source.clone()).or_insert(0usize);
            *ordinal += 1;
            let part = format!("{source}#{ordinal}");
            suite
                .groups
                .push(documents(array(group.get("docs"), &source)));
            for case in array(group.get("cases"), &source) {
                let Bson::Document(case) = case else {
                    panic!("{source}: a case is not an object")
                };
                let filter = case.get_document("filter").expect("filter").clone();
                let expect = if case.get_bool("error").unwrap_or(false) {
                    Expect::Error
                } else if let Ok(projection) = case.get_document("projection") {
                    let v80 = documents(array(case.get("expect"), &source));
                    let v90 = case
                        .get("expect_90")
                        .map(|e| documents(array(Some(e), &source)))
                        .unwrap_or_else(|| v80.clone());
                    Expect::Projected(projection.clone(), v80, v90)
                } else {
                    let v80 = array(case.get("ids"), &source).clone();
                    let v90 = case
                        .get("ids_90")
                        .map(|e| array(Some(e), &source).clone())
                        .unwrap_or_else(|| v80.clone());
                    Expect::Ids(v80, v90)
                };
                suite.cases.push(Case {
                    family,
                    source: source.clone(),
                    group: index,
                    part: part.clone(),
                    filter,
                    expect,
                });
            }
        }
    }
    suite
}

/// A set of values as sorted canonical text (order-free comparison).
fn set_of(values: impl IntoIterator<Item = Bson>) -> Vec<String> {
    let mut out: Vec<String> = values
        .into_iter()
        .map(|v| v.into_canonical_extjson().to_string())
        .collect();
    out.sort();
    out
}

/// What one engine answered for one case.
#[derive(Debug, PartialEq)]
enum Answer {
    Refused(String),
    Found(Vec<Document>),
}

/// Compares an answer with the jstest's; `None` when they agree.
fn judge(case: &Case, answer: &Answer, semantics: NullSemantics) -> Option<String> {
    let v90 = semantics == NullSemantics::V90;
    match (&case.expect, answer) {
        (Expect::Error, Answer::Refused(_)) => None,
        (Expect::Error, Answer::Found(docs)) => Some(format!(
            "MongoDB refuses the filter; found {}",
            ext(&Bson::Array(
                docs.iter().cloned().map(Bson::Document).collect()
            ))
        )),
        (_, Answer::Refused(e)) => Some(format!("refused: {e}")),
        (Expect::Ids(a, b), Answer::Found(docs)) => {
            let want = set_of(if v90 { b.clone() } else { a.clone() });
            let got = set_of(
                docs.iter()
                    .map(|d| d.get("_id").cloned().unwrap_or(Bson::Null)),
            );
            (want != got).then(|| format!("want _ids {want:?}, got {got:?}"))
        }
        (Expect::Projected(_, a, b), Answer::Found(docs)) => {
            let want = set_of(if v90 { b } else { a }.iter().cloned().map(Bson::Document));
            let got = set_of(docs.iter().cloned().map(Bson::Document));
            (want != got).then(|| format!("want documents {want:?}, got {got:?}"))
        }
    }
}

fn options(case: &Case) -> FindOptions {
    FindOptions {
        projection: match &case.expect {
            Expect::Projected(p, ..) => Some(p.clone()),
            _ => None,
        },
        ..Default::default()
    }
}

/// Prints per-family counts and fails on any mismatch.
fn report(engine: &str, suite: &Suite, mismatches: &[(String, String)], skipped: usize) {
    let mut per_family: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for case in &suite.cases {
        per_family.entry(case.family).or_default().0 += 1;
    }
    for (label, _) in mismatches {
        let family = label
            .trim_start_matches('[')
            .split(']')
            .next()
            .unwrap_or("");
        if let Some(entry) = per_family.get_mut(family) {
            entry.1 += 1;
        }
    }
    let counts: Vec<String> = per_family
        .iter()
        .map(|(f, (n, bad))| format!("{f} {n} ({bad} mismatched)"))
        .collect();
    eprintln!(
        "{engine}: {} cases, {} mismatched, {skipped} skipped (listed server divergences): {}",
        suite.cases.len(),
        mismatches.len(),
        counts.join(", ")
    );
    if !mismatches.is_empty() {
        let text: Vec<String> = mismatches
            .iter()
            .map(|(label, why)| format!("{label}\n    {why}"))
            .collect();
        panic!(
            "{engine}: {} case(s) disagree with MongoDB's jstests:\n{}",
            mismatches.len(),
            text.join("\n")
        );
    }
}

fn matcher_answer(case: &Case, docs: &[Document], semantics: NullSemantics) -> Answer {
    let filter = match Filter::parse(&case.filter) {
        Ok(f) => f,
        Err(e) => return Answer::Refused(e.to_string()),
    };
    let projection = match &case.expect {
        Expect::Projected(p, ..) => match Projection::parse(p) {
            Ok(p) => Some(p),
            Err(e) => return Answer::Refused(e.to_string()),
        },
        _ => None,
    };
    Answer::Found(
        docs.iter()
            .filter(|d| filter.matches_under(d, semantics))
            .map(|d| {
                projection
                    .as_ref()
                    .map_or_else(|| d.clone(), |p| p.apply(d))
            })
            .collect(),
    )
}

#[test]
fn matcher_agrees_with_the_jstests() {
    let suite = load();
    let mut mismatches = Vec::new();
    for semantics in [NullSemantics::V80, NullSemantics::V90] {
        for case in &suite.cases {
            let answer = matcher_answer(case, &suite.groups[case.group], semantics);
            if let Some(why) = judge(case, &answer, semantics) {
                mismatches.push((case.label(), format!("{semantics:?}: {why}")));
            }
        }
    }
    report("matcher", &suite, &mismatches, 0);
}

async fn seed<S: Store>(store: &S, ns: &Namespace, docs: &[Document]) {
    store
        .apply(ns, docs.iter().cloned().map(Write::Insert).collect())
        .await
        .unwrap_or_else(|e| panic!("{ns}: seeding failed: {e}"));
}

async fn store_answer<S: Store>(store: &S, ns: &Namespace, case: &Case) -> Answer {
    match store.find(ns, &case.filter, &options(case)).await {
        Ok(docs) => Answer::Found(docs),
        Err(e) => Answer::Refused(e.to_string()),
    }
}

#[tokio::test]
async fn embedded_store_agrees_with_the_jstests() {
    let suite = load();
    let mut mismatches = Vec::new();
    for semantics in [NullSemantics::V80, NullSemantics::V90] {
        let store = MemoryStore::new().with_null_semantics(semantics);
        for (i, docs) in suite.groups.iter().enumerate() {
            seed(
                &store,
                &Namespace::new("conformance", format!("g{i}")),
                docs,
            )
            .await;
        }
        for case in &suite.cases {
            let ns = Namespace::new("conformance", format!("g{}", case.group));
            let answer = store_answer(&store, &ns, case).await;
            if let Some(why) = judge(case, &answer, semantics) {
                mismatches.push((case.label(), format!("{semantics:?}: {why}")));
            }
        }
    }
    report("embedded store", &suite, &mismatches, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_server_agrees_with_the_jstests_but_for_listed_divergences() {
    let Some(uri) = common::mongodb_uri("mongo_conformance queries") else {
        return;
    };
    let suite = load();
    let prefix = format!("conf_q{}_", std::process::id());
    let store = MongoStore::connect(&uri)
        .await
        .expect("connect to the test server")
        .with_database_prefix(prefix.clone());
    for (i, docs) in suite.groups.iter().enumerate() {
        seed(&store, &Namespace::new("queries", format!("g{i}")), docs).await;
    }
    let mut mismatches = Vec::new();
    let mut skipped = 0;
    let mut unused: Vec<&(&str, &str, &str)> = SERVER_DIVERGENCES.iter().collect();
    for case in &suite.cases {
        if case.server_divergence().is_some() {
            skipped += 1;
            let key = case.key();
            unused.retain(|(p, k, _)| !(case.part == *p && *k == key));
            continue;
        }
        let ns = Namespace::new("queries", format!("g{}", case.group));
        let answer = store_answer(&store, &ns, case).await;
        if let Some(why) = judge(case, &answer, NullSemantics::V80) {
            eprintln!(
                "unlisted server divergence:\t{}\t{}\t{why}",
                case.part,
                case.key()
            );
            mismatches.push((case.label(), why));
        }
    }
    let guarded = guarded_mismatches(&suite, &store, "queries", |c| {
        c.server_divergence().is_some()
    })
    .await;
    let client = mongodb::Client::with_uri_str(&uri).await.expect("connect");
    client
        .database(&format!("{prefix}queries"))
        .drop()
        .await
        .ok();
    assert!(
        unused.is_empty(),
        "listed server divergences that name no case: {unused:?}"
    );
    report("test server", &suite, &mismatches, skipped);
    report(
        "guarded collection (test server)",
        &suite,
        &guarded,
        skipped,
    );
}

/// An app whose users may read and write everything in every collection (a default rule), and
/// may use regular expressions in their queries (the opt-in App Services does not have).
fn open_app() -> (tempfile::TempDir, expanse::App) {
    let dir = common::apps::write_app(&[
        (
            "root_config.json",
            r#"{"name": "conformance", "expanse": {"allow_user_regex": true}}"#,
        ),
        (
            "data_sources/mongodb-atlas/config.json",
            r#"{"name": "mongodb-atlas", "type": "mongodb-atlas"}"#,
        ),
        (
            "data_sources/mongodb-atlas/default_rule.json",
            r#"{"roles": [{"name": "everyone", "apply_when": {}, "read": true, "write": true}], "filters": []}"#,
        ),
    ]);
    let app = expanse::App::load(dir.path())
        .unwrap_or_else(|e| panic!("app should load:\n{e}"))
        .app;
    (dir, app)
}

/// Runs every case through a guarded collection of `store` (groups seeded as `database.g<i>`),
/// skipping the cases `skip` names.
async fn guarded_mismatches<S: Store>(
    suite: &Suite,
    store: &S,
    database: &str,
    skip: impl Fn(&Case) -> bool,
) -> Vec<(String, String)> {
    let (_dir, app) = open_app();
    let user = User::new("reader");
    let mut mismatches = Vec::new();
    for case in suite.cases.iter().filter(|c| !skip(c)) {
        let coll = app
            .collection(store, &user, database, &format!("g{}", case.group))
            .expect("the default rule applies");
        let answer = match coll.find(&case.filter, &options(case)).await {
            Ok(docs) => Answer::Found(docs),
            Err(e) => Answer::Refused(e.to_string()),
        };
        if let Some(why) = judge(case, &answer, NullSemantics::V80) {
            mismatches.push((case.label(), why));
        }
    }
    mismatches
}

#[tokio::test]
async fn guarded_collection_that_reads_everything_agrees_with_the_jstests() {
    let suite = load();
    let store = MemoryStore::new();
    for (i, docs) in suite.groups.iter().enumerate() {
        seed(
            &store,
            &Namespace::new("conformance", format!("g{i}")),
            docs,
        )
        .await;
    }
    let mismatches = guarded_mismatches(&suite, &store, "conformance", |_| false).await;
    report(
        "guarded collection (embedded store)",
        &suite,
        &mismatches,
        0,
    );
}

/// App Services lets only the system user query with regular expressions: `$regex`, and a
/// regular expression as a value (`{name: /^a/}`, inside `$in`, `$nin`, `$all`, `$not`). An app
/// may let its users do so (`"expanse": {"allow_user_regex": true}`).
#[tokio::test]
async fn regular_expressions_are_system_only_unless_the_app_opts_in() {
    let regex = Bson::RegularExpression(bson::Regex {
        pattern: "^a".to_owned().try_into().expect("no null byte"),
        options: String::new().try_into().expect("no null byte"),
    });
    let queries = [
        bson::doc! {"name": regex.clone()},
        bson::doc! {"name": {"$in": [regex.clone()]}},
        bson::doc! {"name": {"$nin": ["b", regex.clone()]}},
        bson::doc! {"name": {"$all": [regex.clone()]}},
        bson::doc! {"name": {"$not": regex.clone()}},
        bson::doc! {"name": {"$regex": "^a"}},
    ];
    let store = MemoryStore::new();
    let ns = Namespace::new("db", "coll");
    seed(
        &store,
        &ns,
        &[
            bson::doc! {"_id": 1, "name": "ann"},
            bson::doc! {"_id": 2, "name": "bob"},
        ],
    )
    .await;
    let rules = common::apps::rules(
        r#"[{"name": "everyone", "apply_when": {}, "read": true, "write": true}]"#,
        "[]",
    );
    let (_closed, closed) = common::apps::app_with_rules(&rules);
    let (_open, open) = open_app_with_rules(&rules);
    let user = User::new("u1");
    let system = User::system();
    for query in &queries {
        let refused = closed
            .collection(&store, &user, "db", "coll")
            .expect("rules")
            .find(query, &FindOptions::default())
            .await;
        assert!(
            matches!(&refused, Err(e) if e.to_string().contains("only allowed for the system user")),
            "{query}: {refused:?}"
        );
        for (app, caller) in [(&open, &user), (&closed, &system)] {
            let found = app
                .collection(&store, caller, "db", "coll")
                .expect("rules")
                .find(query, &FindOptions::default())
                .await
                .unwrap_or_else(|e| panic!("{query}: {e}"));
            assert_eq!(found.len(), 1, "{query}: {found:?}");
        }
    }
    assert!(!closed.query.allow_user_regex && open.query.allow_user_regex);
}

/// `"expanse": {"query_semantics": "9.0"}` chooses MongoDB 9.0's null-through-arrays rules;
/// anything but "8.0" or "9.0" is an error naming the setting.
#[test]
fn the_null_semantics_setting_is_read_from_the_root_config() {
    let load = |root: &str| {
        let dir = common::apps::write_app(&[
            ("root_config.json", root),
            (
                "data_sources/mongodb-atlas/config.json",
                r#"{"name": "mongodb-atlas", "type": "mongodb-atlas"}"#,
            ),
        ]);
        expanse::App::load(dir.path()).map(|l| l.app.query.null_semantics)
    };
    assert_eq!(load(r#"{"name": "a"}"#).ok(), Some(NullSemantics::V80));
    assert_eq!(
        load(r#"{"name": "a", "expanse": {"query_semantics": "9.0"}}"#).ok(),
        Some(NullSemantics::V90)
    );
    let err = load(r#"{"name": "a", "expanse": {"query_semantics": "7.0"}}"#)
        .expect_err("an unknown release is refused")
        .to_string();
    assert!(err.contains("query_semantics"), "{err}");
}

/// [`open_app`]'s root config with these rules for `db.coll`.
fn open_app_with_rules(rules: &str) -> (tempfile::TempDir, expanse::App) {
    let dir = common::apps::write_app(&[
        (
            "root_config.json",
            r#"{"name": "open", "expanse": {"allow_user_regex": true}}"#,
        ),
        (
            "data_sources/mongodb-atlas/config.json",
            r#"{"name": "mongodb-atlas", "type": "mongodb-atlas"}"#,
        ),
        ("data_sources/mongodb-atlas/db/coll/rules.json", rules),
    ]);
    let app = expanse::App::load(dir.path())
        .unwrap_or_else(|e| panic!("app should load:\n{e}"))
        .app;
    (dir, app)
}
