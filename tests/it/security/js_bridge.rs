//! Values crossing the JavaScript bridge convert exactly or are refused with an error naming
//! where they are (never a silent `{}`); update pipelines and unsupported options are refused on
//! every path; results too deep or too large are refused clearly.

use std::sync::Arc;

use bson::oid::ObjectId;
use bson::spec::BinarySubtype;
use bson::{bson, doc, Binary, Bson, Decimal128, Document, Regex, Timestamp};
use expanse::functions::Functions;
use expanse::store::{FindOptions, MemoryStore, MongoStore, Namespace, Store, Write};
use expanse::{App, User};
use proptest::prelude::*;

use crate::common;
use crate::common::apps::write_app;

const RULES: &str = r#"{"database": "db", "collection": "items", "roles": [
  {"name": "everyone", "apply_when": {}, "read": true, "write": true}
]}"#;

/// The collection every source below works on.
const ITEMS: &str =
    "const items = () => context.services.get('mongodb-atlas').db('db').collection('items');\n";

const SOURCES: &[(&str, &str)] = &[
    ("identity", "exports = (x) => x;"),
    (
        "purgeAllButKeep",
        "exports = async () => (await items().deleteMany({ title: { $nin: [/^keep/] } })).deletedCount;",
    ),
    ("insert", "exports = async (d) => (await items().insertOne(d)).insertedId;"),
    (
        "longMath",
        r#"exports = (n) => ({
            text: n.toString(),
            next: n.add ? n.add(BSON.Long.fromNumber(1)) : null,
            isLong: n instanceof BSON.Long,
            fromString: BSON.Long.fromString("1152921504606846977"),
            small: BSON.Long.fromNumber(5).toNumber(),
            equal: BSON.Long.fromString("9223372036854775807").equals(BSON.Long.MAX_VALUE),
        });"#,
    ),
    (
        "insertBuilt",
        r#"exports = async () => {
            const bytes = new Uint8Array([1, 2, 3]);
            const id = await items().insertOne({
                _id: "built",
                regex: new RegExp("a.c", "i"),
                literal: /^x\/y$/ms,
                unicode: /\u{1F600}/u,
                date: new Date(1700000000123),
                before1970: new Date(-1000000000000),
                oid: new BSON.ObjectId("64b7f0c2a1b2c3d4e5f60001"),
                long: BSON.Long.fromString("1152921504606846977"),
                min: BSON.Long.MIN_VALUE,
                int: new BSON.Int32(7),
                double: new BSON.Double(2),
                number: 2,
                fraction: 2.5,
                big: 4294967296,
                negZero: -0,
                nan: NaN,
                inf: -Infinity,
                decimal: BSON.Decimal128.fromString("1.10"),
                binary: new BSON.Binary(bytes, 4),
                bytes: bytes,
                timestamp: new BSON.Timestamp({ t: 1700000000, i: 3 }),
                minKey: new BSON.MinKey(),
                maxKey: new BSON.MaxKey(),
                bigint: 9007199254740993n,
                nested: { list: [1, "two", null, { three: true }] },
            });
            return id;
        };"#,
    ),
    (
        "returnBad",
        r#"exports = (which) => {
            const cyclic = { a: {} };
            cyclic.a.back = cyclic;
            const bad = {
                fn: () => ({ a: { b: () => 1 } }),
                symbol: () => ({ list: [1, Symbol("s")] }),
                cyclic: () => cyclic,
                map: () => ({ m: new Map([["k", 1]]) }),
                set: () => ({ s: new Set([1]) }),
                error: () => ({ e: new Error("boom") }),
                promise: () => ({ p: new Promise(() => {}) }),
                invalidDate: () => ({ d: new Date(NaN) }),
                globalRegex: () => ({ r: /x/g }),
                stickyRegex: () => ({ r: /x/y }),
                loneSurrogate: () => ({ s: "a\uD800b" }),
                hugeBigint: () => ({ n: 2n ** 64n }),
                weakMap: () => ({ w: new WeakMap() }),
                hugeDecimal: () => ({ x: BSON.Decimal128.fromString("1e99999") }),
                brokenTimestamp: () => { const t = new BSON.Timestamp({ t: 1, i: 2 }); t.i = 0.5; return { t }; },
            };
            return bad[which]();
        };"#,
    ),
    (
        "insertBad",
        r#"exports = async (which) => {
            const bad = { fn: () => 1, map: new Map(), cyclic: null, regex: /x/g };
            if (which === "cyclic") { bad.cyclic = { }; bad.cyclic.self = bad.cyclic; }
            return items().insertOne({ _id: "bad", nested: { value: bad[which] } });
        };"#,
    ),
    (
        "pipelineUpdate",
        r#"exports = async (method) => {
            const update = [{ $set: { title: "changed" } }];
            const c = items();
            if (method === "updateOne") return c.updateOne({ _id: 1 }, update);
            if (method === "updateMany") return c.updateMany({ _id: 1 }, update);
            if (method === "findOneAndUpdate") return c.findOneAndUpdate({ _id: 1 }, update);
            if (method === "replaceOne") return c.replaceOne({ _id: 1 }, update);
            if (method === "findOneAndReplace") return c.findOneAndReplace({ _id: 1 }, update);
            if (method === "stringUpdate") return c.updateOne({ _id: 1 }, "wipe");
            if (method === "stringFilter") return c.deleteMany("everything");
            if (method === "undefinedFilter") return c.deleteMany({ title: context.user.nothing });
            if (method === "noFilter") return c.deleteMany();
        };"#,
    ),
    (
        "withOption",
        r#"exports = async (method, options) => {
            const c = items();
            switch (method) {
                case "find": return c.find({ _id: 1 }, { title: 1 }, options).toArray();
                case "findOne": return c.findOne({ _id: 1 }, { title: 1 }, options);
                case "count": return c.count({}, options);
                case "aggregate": return c.aggregate([{ $match: {} }], options).toArray();
                case "insertOne": return c.insertOne({ _id: 9 }, options);
                case "insertMany": return c.insertMany([{ _id: 9 }], options);
                case "updateOne": return c.updateOne({ _id: 1 }, { $set: { title: "changed" } }, options);
                case "updateMany": return c.updateMany({ _id: 1 }, { $set: { title: "changed" } }, options);
                case "replaceOne": return c.replaceOne({ _id: 1 }, { title: "changed" }, options);
                case "deleteOne": return c.deleteOne({ _id: 1 }, options);
                case "deleteMany": return c.deleteMany({ _id: 1 }, options);
                case "findOneAndUpdate": return c.findOneAndUpdate({ _id: 1 }, { $set: { title: "changed" } }, options);
                case "findOneAndReplace": return c.findOneAndReplace({ _id: 1 }, { title: "changed" }, options);
                case "findOneAndDelete": return c.findOneAndDelete({ _id: 1 }, options);
            }
        };"#,
    ),
    (
        "findOneWith",
        r#"exports = async () => {
            const c = items();
            return {
                projected: await c.findOne({ _id: 1 }, { title: 1 }),
                sorted: await c.findOne({}, { title: 1 }, { sort: { n: -1 } }),
                optionProjection: await c.findOne({ _id: 2 }, undefined, { projection: { n: 1 } }),
                nullProjection: await c.findOne({ _id: 1 }, null),
                cursor: await c.find({}).sort({ n: -1 }).limit(1).toArray(),
                cursorWithOptions: await c.find({}, { n: 1 }, { skip: 1 }).sort({ n: 1 }).toArray(),
            };
        };"#,
    ),
    (
        "nest",
        "exports = (levels) => { let v = 1; for (let i = 0; i < levels; i++) v = { a: v }; return v; };",
    ),
    ("big", "exports = (bytes) => 'x'.repeat(bytes);"),
    (
        "manyStrings",
        "exports = (count) => Array.from({ length: count }, (_, i) => String(i).padEnd(65536, '.'));",
    ),
    (
        "insertNested",
        r#"exports = async (levels) => {
            let v = 1;
            for (let i = 0; i < levels; i++) v = { a: v };
            return items().insertOne({ _id: "deep", v });
        };"#,
    ),
];

fn app() -> (tempfile::TempDir, Arc<App>) {
    let config: Vec<String> = SOURCES
        .iter()
        .map(|(name, _)| format!(r#"{{"name": "{name}", "private": false}}"#))
        .collect();
    let config = format!("[{}]", config.join(",\n"));
    let mut files: Vec<(String, String)> = vec![
        ("root_config.json".into(), "{}".into()),
        ("functions/config.json".into(), config),
        (
            "data_sources/mongodb-atlas/config.json".into(),
            r#"{"name": "mongodb-atlas", "type": "mongodb-atlas"}"#.into(),
        ),
        (
            "data_sources/mongodb-atlas/db/items/rules.json".into(),
            RULES.into(),
        ),
    ];
    for (name, source) in SOURCES {
        files.push((format!("functions/{name}.js"), format!("{ITEMS}{source}")));
    }
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let dir = write_app(&refs);
    let app = Arc::new(App::load(dir.path()).unwrap().app);
    (dir, app)
}

fn functions<S: Store + Clone + 'static>(app: Arc<App>, store: S) -> Functions<S> {
    Functions::builder(app, store)
        .time_limit(std::time::Duration::from_secs(20))
        .build()
        .unwrap()
        .0
}

fn items() -> Namespace {
    Namespace::new("db", "items")
}

async fn seed<S: Store>(store: &S, docs: Vec<Document>) {
    store
        .apply(&items(), docs.into_iter().map(Write::Insert).collect())
        .await
        .unwrap();
}

async fn stored<S: Store>(store: &S) -> Vec<Document> {
    store
        .find(
            &items(),
            &doc! {},
            &FindOptions {
                sort: Some(doc! {"_id": 1}),
                ..FindOptions::default()
            },
        )
        .await
        .unwrap()
}

/// A MongoDB store on the test server under a fresh database prefix, if one is configured.
async fn mongo_store(test: &str) -> Option<MongoStore> {
    let uri = common::mongodb_uri(test)?;
    Some(
        MongoStore::connect(&uri)
            .await
            .unwrap()
            .with_database_prefix(format!("sec_js_{}_", ObjectId::new().to_hex())),
    )
}

/// Runs a scenario on the embedded store, then on the MongoDB test server.
macro_rules! on_both_stores {
    ($test:ident, $scenario:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $test() {
            $scenario(MemoryStore::new()).await;
            if let Some(store) = mongo_store(stringify!($test)).await {
                $scenario(store.clone()).await;
                store.drop_prefixed_databases().await.unwrap();
            }
        }
    };
}

// ---------------------------------------------------------------------------------------------
// Item 5: every value converts exactly or is refused.

async fn a_regex_filters_and_does_not_match_everything<S: Store + Clone + 'static>(store: S) {
    let (_dir, app) = app();
    seed(
        &store,
        vec![
            doc! {"_id": 1, "title": "keep me"},
            doc! {"_id": 2, "title": "drop me"},
            doc! {"_id": 3, "title": "keep this too"},
        ],
    )
    .await;
    let f = functions(app, store.clone());
    let deleted = f.call_as_system("purgeAllButKeep", vec![]).await.unwrap();
    assert_eq!(
        deleted.as_i64().or(deleted.as_i32().map(i64::from)),
        Some(1)
    );
    let left: Vec<Bson> = stored(&store)
        .await
        .iter()
        .map(|d| d.get("_id").cloned().unwrap())
        .collect();
    assert_eq!(left, vec![bson!(1), bson!(3)]);
}
on_both_stores!(
    a_javascript_regexp_reaches_the_database_as_a_regex,
    a_regex_filters_and_does_not_match_everything
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn int64_beyond_two_to_the_53_survives_as_bson_long() {
    let (_dir, app) = app();
    let f = functions(app, MemoryStore::new());
    for n in [1_152_921_504_606_846_977_i64, i64::MIN, i64::MAX, 5, -1] {
        let out = f
            .call_as_system("identity", vec![Bson::Int64(n)])
            .await
            .unwrap();
        assert_eq!(out, Bson::Int64(n), "{n}");
    }
    let out = f
        .call_as_system("longMath", vec![Bson::Int64(1_152_921_504_606_846_976)])
        .await
        .unwrap();
    assert_eq!(
        out,
        bson!({
            "text": "1152921504606846976",
            "next": Bson::Int64(1_152_921_504_606_846_977),
            "isLong": true,
            "fromString": Bson::Int64(1_152_921_504_606_846_977),
            "small": 5,
            "equal": true,
        })
    );
}

async fn values_built_in_javascript_are_stored_as_the_right_bson<S: Store + Clone + 'static>(
    store: S,
) {
    let (_dir, app) = app();
    let f = functions(app, store.clone());
    f.call_as_system("insertBuilt", vec![]).await.unwrap();
    let docs = stored(&store).await;
    let d = &docs[0];
    let regex = |pattern: &str, options: &str| {
        Bson::RegularExpression(Regex {
            pattern: pattern.to_owned().try_into().unwrap(),
            options: options.to_owned().try_into().unwrap(),
        })
    };
    let expected = doc! {
        "_id": "built",
        "regex": regex("a.c", "i"),
        "literal": regex("^x\\/y$", "ms"),
        "unicode": regex("\\u{1F600}", "u"),
        "date": bson::DateTime::from_millis(1_700_000_000_123),
        "before1970": bson::DateTime::from_millis(-1_000_000_000_000),
        "oid": ObjectId::parse_str("64b7f0c2a1b2c3d4e5f60001").unwrap(),
        "long": Bson::Int64(1_152_921_504_606_846_977),
        "min": Bson::Int64(i64::MIN),
        "int": 7,
        "double": 2.0,
        "number": 2,
        "fraction": 2.5,
        "big": 4_294_967_296.0,
        "negZero": -0.0,
        "nan": f64::NAN,
        "inf": f64::NEG_INFINITY,
        "decimal": "1.10".parse::<Decimal128>().unwrap(),
        "binary": Binary { subtype: BinarySubtype::Uuid, bytes: vec![1, 2, 3] },
        "bytes": Binary { subtype: BinarySubtype::Generic, bytes: vec![1, 2, 3] },
        "timestamp": Timestamp { time: 1_700_000_000, increment: 3 },
        "minKey": Bson::MinKey,
        "maxKey": Bson::MaxKey,
        "bigint": Bson::Int64(9_007_199_254_740_993),
        "nested": {"list": [1, "two", null, {"three": true}]},
    };
    assert!(
        same(
            &Bson::Document(d.clone()),
            &Bson::Document(expected.clone())
        ),
        "stored:   {d:?}\nexpected: {expected:?}"
    );
}
on_both_stores!(
    values_built_in_javascript_arrive_as_the_right_bson,
    values_built_in_javascript_are_stored_as_the_right_bson
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unconvertible_results_are_refused_naming_their_path() {
    let (_dir, app) = app();
    let f = functions(app, MemoryStore::new());
    for (which, path) in [
        ("fn", "a.b"),
        ("symbol", "list[1]"),
        ("cyclic", "a.back"),
        ("map", "m"),
        ("set", "s"),
        ("error", "e"),
        ("promise", "p"),
        ("invalidDate", "d"),
        ("globalRegex", "r"),
        ("stickyRegex", "r"),
        ("loneSurrogate", "s"),
        ("hugeBigint", "n"),
        ("weakMap", "w"),
        ("hugeDecimal", "x"),
        ("brokenTimestamp", "t"),
    ] {
        let err = f
            .call_as_system("returnBad", vec![bson!(which)])
            .await
            .expect_err(which)
            .to_string();
        assert!(err.contains(path), "{which}: {err}");
        assert!(!err.contains("never settled"), "{which}: {err}");
    }
}

async fn unconvertible_values_are_not_written<S: Store + Clone + 'static>(store: S) {
    let (_dir, app) = app();
    let f = functions(app, store.clone());
    for which in ["fn", "map", "cyclic", "regex"] {
        let err = f
            .call_as_system("insertBad", vec![bson!(which)])
            .await
            .expect_err(which)
            .to_string();
        assert!(err.contains("nested.value"), "{which}: {err}");
    }
    assert!(stored(&store).await.is_empty());
}
on_both_stores!(
    unconvertible_values_never_reach_the_database,
    unconvertible_values_are_not_written
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_javascript_cannot_hold_are_refused_on_the_way_in() {
    let (_dir, app) = app();
    let f = functions(app, MemoryStore::new());
    let far = bson::DateTime::from_millis(8_640_000_000_000_001);
    let err = f
        .call_as_system("identity", vec![bson!({"when": {"at": far}})])
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("when.at") && err.contains("date"), "{err}");
    let mut odd_key = Document::new();
    odd_key.insert("a\0b", 1);
    let err = f
        .call_as_system("identity", vec![Bson::Document(odd_key)])
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("NUL"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undefined_is_kept_inside_values_and_null_at_the_top() {
    let (_dir, app) = app();
    let f = functions(app, MemoryStore::new());
    let value = bson!({"a": Bson::Undefined, "list": [Bson::Undefined, 1]});
    assert_eq!(
        f.call_as_system("identity", vec![value.clone()])
            .await
            .unwrap(),
        value
    );
    assert_eq!(
        f.call_as_system("identity", vec![Bson::Undefined])
            .await
            .unwrap(),
        Bson::Null,
        "a function that returns undefined returns null"
    );
}

/// Exact equality: documents in order, doubles by bit pattern (any NaN equals any NaN).
fn same(a: &Bson, b: &Bson) -> bool {
    match (a, b) {
        (Bson::Double(x), Bson::Double(y)) => {
            (x.is_nan() && y.is_nan()) || x.to_bits() == y.to_bits()
        }
        (Bson::Document(x), Bson::Document(y)) => same_document(x, y),
        (Bson::Array(x), Bson::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Bson::JavaScriptCodeWithScope(x), Bson::JavaScriptCodeWithScope(y)) => {
            x.code == y.code && same_document(&x.scope, &y.scope)
        }
        _ => a == b,
    }
}

fn same_document(x: &Document, y: &Document) -> bool {
    x.len() == y.len()
        && x.iter()
            .zip(y)
            .all(|((kx, vx), (ky, vy))| kx == ky && same(vx, vy))
}

/// JavaScript's Date range: ±8.64e15 ms.
const JS_DATE_LIMIT: i64 = 8_640_000_000_000_000;

fn fits_javascript(value: &Bson) -> bool {
    match value {
        Bson::DateTime(d) => d.timestamp_millis().abs() <= JS_DATE_LIMIT,
        Bson::Document(d) => d.values().all(fits_javascript),
        Bson::Array(items) => items.iter().all(fits_javascript),
        Bson::JavaScriptCodeWithScope(c) => c.scope.values().all(fits_javascript),
        _ => true,
    }
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        // Keys that look like Extended JSON or that JavaScript treats specially.
        Just("$oid".to_owned()),
        Just("$date".to_owned()),
        Just("$numberLong".to_owned()),
        Just("$regex".to_owned()),
        Just("$binary".to_owned()),
        Just("__proto__".to_owned()),
        Just("constructor".to_owned()),
        Just(String::new()),
        // Integer-like keys are left out: JavaScript orders them first (see the README).
        "[a-zA-Z_$.][a-zA-Z0-9_$. ]{0,6}",
    ]
}

fn double() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(-0.0),
        Just(0.0),
        Just(2.0),
        Just(9_007_199_254_740_993.0),
        Just(1e300),
        Just(5e-324),
        (-1000_i32..1000).prop_map(f64::from),
    ]
}

fn date() -> impl Strategy<Value = bson::DateTime> {
    prop_oneof![
        any::<i64>(),
        -JS_DATE_LIMIT..=JS_DATE_LIMIT,
        Just(JS_DATE_LIMIT),
        Just(-JS_DATE_LIMIT),
        -100_000_000_000_000_i64..100_000_000_000_000,
    ]
    .prop_map(bson::DateTime::from_millis)
}

fn regex() -> impl Strategy<Value = Bson> {
    let options = proptest::sample::subsequence(vec!['i', 'l', 'm', 's', 'u', 'x'], 0..=6)
        .prop_map(|o| o.into_iter().collect::<String>());
    let pattern = prop_oneof![
        Just("^keep".to_owned()),
        Just("a/b".to_owned()),
        Just(String::new()),
        Just("(?i)abc".to_owned()),
        Just("\\d+\\.\\d*".to_owned()),
        Just("[".to_owned()),
        "[^\u{0}]{0,8}",
    ];
    (pattern, options).prop_map(|(pattern, options)| {
        Bson::RegularExpression(Regex {
            pattern: pattern.try_into().unwrap(),
            options: options.try_into().unwrap(),
        })
    })
}

fn binary() -> impl Strategy<Value = Bson> {
    let subtype = prop_oneof![0_u8..=9, 0x80_u8..=0xff].prop_map(BinarySubtype::from);
    (subtype, proptest::collection::vec(any::<u8>(), 0..24))
        .prop_map(|(subtype, bytes)| Bson::Binary(Binary { subtype, bytes }))
}

fn leaf() -> impl Strategy<Value = Bson> {
    prop_oneof![
        double().prop_map(Bson::Double),
        any::<String>().prop_map(Bson::String),
        binary(),
        Just(Bson::Undefined),
        any::<[u8; 12]>().prop_map(|b| Bson::ObjectId(ObjectId::from_bytes(b))),
        any::<bool>().prop_map(Bson::Boolean),
        date().prop_map(Bson::DateTime),
        Just(Bson::Null),
        regex(),
        any::<String>().prop_map(Bson::JavaScriptCode),
        (
            any::<String>(),
            proptest::collection::vec((key(), any::<i32>()), 0..3)
        )
            .prop_map(|(code, scope)| {
                Bson::JavaScriptCodeWithScope(bson::JavaScriptCodeWithScope {
                    code,
                    scope: scope
                        .into_iter()
                        .map(|(k, v)| (k, Bson::Int32(v)))
                        .collect(),
                })
            }),
        any::<i32>().prop_map(Bson::Int32),
        (any::<u32>(), any::<u32>())
            .prop_map(|(time, increment)| Bson::Timestamp(Timestamp { time, increment })),
        prop_oneof![
            any::<i64>(),
            Just(i64::MIN),
            Just(i64::MAX),
            Just(9_007_199_254_740_993)
        ]
        .prop_map(Bson::Int64),
        any::<[u8; 16]>().prop_map(|b| Bson::Decimal128(Decimal128::from_bytes(b))),
        Just(Bson::MinKey),
        Just(Bson::MaxKey),
        any::<String>().prop_map(Bson::Symbol),
        Just(db_pointer()),
    ]
}

fn db_pointer() -> Bson {
    let json = serde_json::json!({"$dbPointer": {"$ref": "db.items", "$id": {"$oid": "64b7f0c2a1b2c3d4e5f60001"}}});
    Bson::try_from(json).unwrap()
}

fn value() -> impl Strategy<Value = Bson> {
    leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Bson::Array),
            proptest::collection::vec((key(), inner), 0..6)
                .prop_map(|fields| Bson::Document(fields.into_iter().collect())),
        ]
    })
}

fn property_cases() -> u32 {
    std::env::var("EXPANSE_PROPERTY_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

#[test]
fn every_bson_value_round_trips_through_a_javascript_function() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (_dir, app) = app();
    let f = functions(app, MemoryStore::new());
    let config = ProptestConfig::with_cases(property_cases());
    let mut runner = proptest::test_runner::TestRunner::new(config);
    runner
        .run(&value(), |value| {
            // A top-level undefined comes back as null (a function returning nothing).
            prop_assume!(value != Bson::Undefined);
            let out = runtime.block_on(f.call_as_system("identity", vec![value.clone()]));
            if fits_javascript(&value) {
                let out = out.map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert!(same(&out, &value), "sent {value:?}\ngot  {out:?}");
            } else {
                let err = out
                    .expect_err("a date beyond JavaScript's range")
                    .to_string();
                prop_assert!(err.contains("date"), "{err}");
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn every_bson_value_passed_through_javascript_is_stored_unchanged() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (_dir, app) = app();
    let store = MemoryStore::new();
    let f = functions(app, store.clone());
    let config = ProptestConfig::with_cases(property_cases() / 2);
    let mut runner = proptest::test_runner::TestRunner::new(config);
    let next = std::sync::atomic::AtomicI32::new(0);
    runner
        .run(&value(), |value| {
            prop_assume!(fits_javascript(&value));
            let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let document = doc! {"_id": n, "value": value.clone()};
            runtime
                .block_on(f.call_as_system("insert", vec![Bson::Document(document.clone())]))
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let found = runtime
                .block_on(store.find(&items(), &doc! {"_id": n}, &FindOptions::default()))
                .unwrap();
            prop_assert_eq!(found.len(), 1);
            prop_assert!(
                same(
                    &Bson::Document(found[0].clone()),
                    &Bson::Document(document.clone())
                ),
                "sent {document:?}\ngot  {:?}",
                found[0]
            );
            Ok(())
        })
        .unwrap();
}

// ---------------------------------------------------------------------------------------------
// Item 6: update pipelines and unsupported options are refused, never dropped.

async fn pipelines_are_refused<S: Store + Clone + 'static>(store: S) {
    let (_dir, app) = app();
    seed(&store, vec![doc! {"_id": 1, "title": "kept"}]).await;
    let f = functions(app, store.clone());
    for (method, says) in [
        ("updateOne", "pipeline"),
        ("updateMany", "pipeline"),
        ("findOneAndUpdate", "pipeline"),
        ("replaceOne", "replacement"),
        ("findOneAndReplace", "replacement"),
        ("stringUpdate", "update"),
        ("stringFilter", "filter"),
        ("undefinedFilter", "undefined"),
        ("noFilter", "filter"),
    ] {
        let err = f
            .call_as_system("pipelineUpdate", vec![bson!(method)])
            .await
            .expect_err(method)
            .to_string();
        assert!(err.contains(says), "{method}: {err}");
        assert_eq!(
            stored(&store).await,
            vec![doc! {"_id": 1, "title": "kept"}],
            "{method}"
        );
    }
}
on_both_stores!(
    update_pipelines_from_javascript_are_refused,
    pipelines_are_refused
);

async fn options_are_refused_by_name<S: Store + Clone + 'static>(store: S) {
    let (_dir, app) = app();
    seed(&store, vec![doc! {"_id": 1, "title": "kept", "n": 1}]).await;
    let f = functions(app, store.clone());
    let cases: &[(&str, Document, &str)] = &[
        ("updateOne", doc! {"writeConcern": {"w": 1}}, "writeConcern"),
        (
            "updateOne",
            doc! {"arrayFilters": {"x.a": 1}},
            "arrayFilters",
        ),
        (
            "updateMany",
            doc! {"collation": {"locale": "fr"}},
            "collation",
        ),
        ("replaceOne", doc! {"hint": "_id_"}, "hint"),
        ("findOneAndUpdate", doc! {"let": {"x": 1}}, "let"),
        (
            "findOneAndReplace",
            doc! {"arrayFilters": []},
            "arrayFilters",
        ),
        ("findOneAndDelete", doc! {"upsert": true}, "upsert"),
        (
            "insertOne",
            doc! {"bypassDocumentValidation": true},
            "bypassDocumentValidation",
        ),
        ("insertMany", doc! {"ordered": false}, "ordered"),
        ("deleteOne", doc! {"hint": {"_id": 1}}, "hint"),
        (
            "deleteMany",
            doc! {"collation": {"locale": "en"}},
            "collation",
        ),
        ("updateOne", doc! {"upsertt": true}, "upsertt"),
        ("updateOne", doc! {"upsert": "yes"}, "upsert"),
        ("find", doc! {"comment": "x"}, "comment"),
        ("findOne", doc! {"collation": {"locale": "en"}}, "collation"),
        ("count", doc! {"limit": 1}, "limit"),
        ("aggregate", doc! {"allowDiskUse": true}, "allowDiskUse"),
    ];
    for (method, options, named) in cases {
        let err = f
            .call_as_system(
                "withOption",
                vec![bson!(method), Bson::Document(options.clone())],
            )
            .await
            .expect_err(method)
            .to_string();
        assert!(err.contains(named), "{method} {options}: {err}");
        assert_eq!(
            stored(&store).await,
            vec![doc! {"_id": 1, "title": "kept", "n": 1}],
            "{method} {options}"
        );
    }
    // Supported options still work.
    let out = f
        .call_as_system(
            "withOption",
            vec![bson!("updateOne"), bson!({"upsert": false})],
        )
        .await
        .unwrap();
    assert_eq!(out, bson!({"matchedCount": 1, "modifiedCount": 1}));
}
on_both_stores!(
    unsupported_options_are_refused_by_name_on_every_method,
    options_are_refused_by_name
);

async fn find_one_uses_projection_and_options<S: Store + Clone + 'static>(store: S) {
    let (_dir, app) = app();
    seed(
        &store,
        vec![
            doc! {"_id": 1, "title": "a", "n": 1, "secret": "s"},
            doc! {"_id": 2, "title": "b", "n": 2, "secret": "t"},
        ],
    )
    .await;
    let f = functions(app, store.clone());
    let out = f.call_as_system("findOneWith", vec![]).await.unwrap();
    assert_eq!(
        out,
        bson!({
            "projected": {"_id": 1, "title": "a"},
            "sorted": {"_id": 2, "title": "b"},
            "optionProjection": {"_id": 2, "n": 2},
            "nullProjection": {"_id": 1, "title": "a", "n": 1, "secret": "s"},
            "cursor": [{"_id": 2, "title": "b", "n": 2, "secret": "t"}],
            "cursorWithOptions": [{"_id": 2, "n": 2}],
        })
    );
}
on_both_stores!(
    find_one_passes_its_projection_and_options,
    find_one_uses_projection_and_options
);

#[test]
fn fixture_operations_refuse_pipelines_and_unknown_options() {
    let fixture = |op: &str, extra: &str| {
        format!(
            r#"{{"app": "app", "tests": [{{"name": "t", "as": "system", "op": "{op}", "ns": "db.items",
                "query": {{"_id": 1}}, {extra}, "expect": {{"result": null}}}}]}}"#
        )
    };
    let path = std::path::Path::new("fixtures/x.test.json");
    for (op, extra, says) in [
        ("updateOne", r#""update": [{"$set": {"a": 1}}]"#, "pipeline"),
        (
            "updateMany",
            r#""update": [{"$set": {"a": 1}}]"#,
            "pipeline",
        ),
        (
            "findOneAndUpdate",
            r#""update": [{"$set": {"a": 1}}]"#,
            "pipeline",
        ),
        ("replaceOne", r#""replacement": [{"a": 1}]"#, "replacement"),
        (
            "updateOne",
            r#""update": {"$set": {"a.$[x]": 1}}, "arrayFilters": {"x": 1}"#,
            "arrayFilters",
        ),
        (
            "deleteMany",
            r#""collation": {"locale": "fr"}"#,
            "collation",
        ),
        (
            "updateOne",
            r#""update": {"$set": {"a": 1}}, "upsert": 1"#,
            "upsert",
        ),
    ] {
        let err = expanse::fixture::parse_fixture(&fixture(op, extra), path)
            .expect_err(extra)
            .to_string();
        assert!(err.contains(says), "{op} {extra}: {err}");
    }
    // A plain update still parses.
    expanse::fixture::parse_fixture(
        &fixture(
            "updateOne",
            r#""update": {"$set": {"a": 1}}, "upsert": true"#,
        ),
        path,
    )
    .unwrap();
}

// ---------------------------------------------------------------------------------------------
// Item 9: results too deep or too large are refused clearly.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_too_deep_or_too_large_are_refused_clearly() {
    let (_dir, app) = app();
    let f = functions(app, MemoryStore::new());
    f.call_as_system("nest", vec![bson!(100)]).await.unwrap();
    for levels in [101, 150, 5000] {
        let err = f
            .call_as_system("nest", vec![bson!(levels)])
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("deeper than 100"), "{levels}: {err}");
    }
    let mib = 1024 * 1024;
    f.call_as_system("big", vec![bson!(mib)]).await.unwrap();
    let err = f
        .call_as_system("big", vec![bson!(17 * mib)])
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("16 MiB"), "{err}");
    let err = f
        .call_as_system("manyStrings", vec![bson!(300)])
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("16 MiB"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_function_results_too_deep_are_refused() {
    let (_dir, app) = app();
    let f = Functions::builder(app, MemoryStore::new())
        .register(
            "deepRust",
            |_: expanse::functions::Context<MemoryStore>, _| async move {
                let mut v = bson!(1);
                for _ in 0..150 {
                    v = bson!({ "a": v });
                }
                Ok(v)
            },
        )
        .build()
        .unwrap()
        .0;
    let err = f
        .call(&User::new("u"), "deepRust", vec![], None)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("deeper than 100"), "{err}");
}

async fn deep_values_are_not_written<S: Store + Clone + 'static>(store: S) {
    let (_dir, app) = app();
    let f = functions(app, store.clone());
    let err = f
        .call_as_system("insertNested", vec![bson!(150)])
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("deeper than 100"), "{err}");
    assert!(stored(&store).await.is_empty());
}
on_both_stores!(
    values_too_deep_never_reach_the_database,
    deep_values_are_not_written
);
