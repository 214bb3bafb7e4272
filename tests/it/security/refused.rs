//! See `main.rs`. Attacks Expanse already refused, kept refused: injection through custom data,
//! function arguments and document values; token forgery; escalation through every update
//! operator against an owner rule; JavaScript sandbox escapes. Where a store is involved each
//! test runs on the embedded store and on the MongoDB-wire test server (push-down included).
//!
//! Restated here from the suites that first covered them, widened to both stores and to every
//! operator: `tests/it/rules.rs` (`operator_shaped_values_never_widen_access`, embedded store
//! only), `tests/it/tokens.rs` (the issuer alone; here through [`Auth`]), `tests/it/js_functions.rs`
//! (fresh runtime per call).

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use bson::{bson, doc, oid::ObjectId, Bson, Document};
use expanse::auth::{Auth, SigningKey, TokenConfig, TokenIssuer};
use expanse::functions::Functions;
use expanse::guard::{FindOneAndOptions, GuardError};
use expanse::store::{FindOptions, MemoryStore, MongoStore, Namespace, Store, Write};
use expanse::{App, User};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};

use crate::common;
use crate::common::apps::write_app;

// ---- shared ------------------------------------------------------------------------------

async fn mongo(test: &str) -> Option<MongoStore> {
    let uri = common::mongodb_uri(test)?;
    Some(
        MongoStore::connect(&uri)
            .await
            .unwrap()
            .with_database_prefix(format!("refused_{}_", ObjectId::new().to_hex())),
    )
}

fn coll() -> Namespace {
    Namespace::new("db", "coll")
}

/// An app with `rules` for `db.coll` and the JavaScript functions `functions` (name, source,
/// private).
fn app(rules: &str, functions: &[(&str, &str, bool)]) -> (tempfile::TempDir, Arc<App>) {
    let config: Vec<String> = functions
        .iter()
        .map(|(name, _, private)| format!(r#"{{"name": "{name}", "private": {private}}}"#))
        .collect();
    let mut files: Vec<(String, String)> = vec![
        ("root_config.json".into(), "{}".into()),
        (
            "functions/config.json".into(),
            format!("[{}]", config.join(",")),
        ),
        (
            "data_sources/mongodb-atlas/config.json".into(),
            r#"{"name": "mongodb-atlas", "type": "mongodb-atlas"}"#.into(),
        ),
        (
            "data_sources/mongodb-atlas/db/coll/rules.json".into(),
            rules.into(),
        ),
    ];
    for (name, source, _) in functions {
        files.push((format!("functions/{name}.js"), source.to_string()));
    }
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let dir = write_app(&refs);
    let app = Arc::new(App::load(dir.path()).unwrap().app);
    (dir, app)
}

async fn reset<S: Store>(store: &S, docs: &[Document]) {
    let existing = store
        .find(&coll(), &doc! {}, &FindOptions::default())
        .await
        .unwrap();
    let mut writes: Vec<Write> = existing
        .into_iter()
        .map(|pre| Write::Delete { pre })
        .collect();
    writes.extend(docs.iter().cloned().map(Write::Insert));
    store.apply(&coll(), writes).await.unwrap();
}

async fn stored<S: Store>(store: &S) -> Vec<Document> {
    let sort = FindOptions {
        sort: Some(doc! {"_id": 1}),
        ..FindOptions::default()
    };
    store.find(&coll(), &doc! {}, &sort).await.unwrap()
}

fn sorted(mut ids: Vec<Bson>) -> Vec<Bson> {
    ids.sort_by_key(|b| b.to_string());
    ids
}

async fn ids_seen<S: Store>(app: &App, store: &S, user: &User) -> Vec<Bson> {
    let c = app.collection(store, user, "db", "coll").unwrap();
    let found = c.find(&doc! {}, &FindOptions::default()).await.unwrap();
    sorted(
        found
            .into_iter()
            .filter_map(|d| d.get("_id").cloned())
            .collect(),
    )
}

fn denied<T: std::fmt::Debug>(result: Result<T, GuardError>, what: &str) {
    assert!(
        matches!(result, Err(GuardError::Denied(_))),
        "{what}: expected a denial, got {result:?}"
    );
}

/// A write on documents the caller cannot read: they are not there, so nothing matches (or,
/// where a readable document is among the targets, the write is denied).
fn unmatched(result: Result<expanse::guard::UpdateResult, GuardError>, what: &str) {
    assert!(
        matches!(&result, Err(GuardError::Denied(_)))
            || matches!(&result, Ok(r) if r.matched_count == 0 && r.upserted_id.is_none()),
        "{what}: expected nothing matched (or a denial), got {result:?}"
    );
}

// ---- injection: values that look like operators or expansions are data ---------------------

const INJECTION_RULES: &str = r#"{"database": "db", "collection": "coll", "roles": [
  {"name": "owner", "apply_when": {"owner": "%%user.id"}, "read": true, "write": true},
  {"name": "team", "apply_when": {"team": "%%user.custom_data.team"}, "read": true}
], "filters": [
  {"name": "narrowed", "apply_when": {"%%user.custom_data.narrow": true}, "query": {"owner": "%%user.custom_data.owner_filter"}}
]}"#;

fn injection_docs() -> Vec<Document> {
    vec![
        doc! {"_id": 1, "owner": "alice", "team": "red"},
        doc! {"_id": 2, "owner": "bob", "team": "blue"},
        doc! {"_id": 3, "owner": "%%user.id", "team": {"$ne": null}},
        doc! {"_id": 4, "owner": {"$ne": null}, "team": {"$gt": ""}},
    ]
}

/// Hostile values, with the documents whose `team` holds exactly that value.
fn hostile() -> Vec<(Bson, Vec<Bson>)> {
    vec![
        (bson!({"$ne": null}), vec![bson!(3)]),
        (bson!({"$gt": ""}), vec![bson!(4)]),
        (bson!({"$exists": true}), vec![]),
        (bson!({"$in": ["red", "blue"]}), vec![]),
        (bson!({"$regex": ".*"}), vec![]),
        (bson!("%%user.id"), vec![]),
        (bson!("%%root.team"), vec![]),
    ]
}

async fn injection_is_compared_literally<S: Store>(app: &App, store: &S) {
    reset(store, &injection_docs()).await;
    for (value, literally) in hostile() {
        // Custom data, in a role's apply_when (and its push-down).
        let mallory = User::new("mallory").with_custom_data(doc! {"team": value.clone()});
        assert_eq!(
            ids_seen(app, store, &mallory).await,
            literally,
            "custom data {value}"
        );
        // Custom data, in a filter's query: it narrows to what holds the value literally.
        let alice = User::new("alice")
            .with_custom_data(doc! {"narrow": true, "owner_filter": value.clone()});
        assert_eq!(
            ids_seen(app, store, &alice).await,
            Vec::<Bson>::new(),
            "filter {value}"
        );
        // And such a user changes nothing.
        let c = app.collection(store, &mallory, "db", "coll").unwrap();
        unmatched(
            c.update_many(&doc! {}, &doc! {"$set": {"owner": "mallory"}}, false)
                .await,
            &format!("update by custom data {value}"),
        );
        assert_eq!(stored(store).await, injection_docs());
    }
    // A user id that looks like an expansion is only that string.
    let odd = User::new("%%user.id");
    assert_eq!(ids_seen(app, store, &odd).await, vec![bson!(3)]);
    // Document values: only their literal owner reads them.
    let alice = User::new("alice");
    assert_eq!(ids_seen(app, store, &alice).await, vec![bson!(1)]);
}

#[tokio::test]
async fn operator_and_expansion_shaped_values_are_compared_literally_on_both_stores() {
    let (_dir, app) = app(INJECTION_RULES, &[]);
    injection_is_compared_literally(&app, &MemoryStore::new()).await;
    if let Some(store) = mongo("injection on mongodb").await {
        injection_is_compared_literally(&app, &store).await;
        store.drop_prefixed_databases().await.unwrap();
    }
}

const ARGUMENT_FUNCTIONS: &[(&str, &str, bool)] = &[
    (
        "insertOwned",
        r#"exports = async (owner) => {
            const coll = context.services.get("mongodb-atlas").db("db").collection("coll");
            try { await coll.insertOne({ _id: "new", owner }); return "inserted"; }
            catch (e) { return "refused"; }
        };"#,
        false,
    ),
    (
        "idsOwnedBy",
        r#"exports = async (owner) => {
            const coll = context.services.get("mongodb-atlas").db("db").collection("coll");
            try { return (await coll.find({ owner }).toArray()).map((d) => d._id).sort(); }
            catch (e) { return []; }
        };"#,
        false,
    ),
    ("sameUser", r#"exports = (a, b) => a === b;"#, true),
];

const FUNCTION_RULES: &str = r#"{"database": "db", "collection": "coll", "roles": [
  {"name": "owner", "apply_when": {"owner": "%%user.id"}, "read": true, "write": true, "insert": true},
  {"name": "by function", "apply_when": {"%%true": {"%function": {"name": "sameUser", "arguments": ["%%root.delegate", "%%user.id"]}}}, "read": true}
]}"#;

async fn function_arguments_are_data<S: Store + Clone + 'static>(app: Arc<App>, store: S) {
    let mut docs = injection_docs();
    docs.push(doc! {"_id": 5, "owner": "carol", "delegate": "%%user.id"});
    docs.push(doc! {"_id": 6, "owner": "carol", "delegate": "alice"});
    reset(&store, &docs).await;
    let functions = Functions::builder(app.clone(), store.clone())
        .time_limit(Duration::from_secs(5))
        .build()
        .unwrap()
        .0;
    let alice = User::new("alice");
    for (value, _) in hostile() {
        let out = functions
            .call(&alice, "insertOwned", vec![value.clone()], None)
            .await
            .unwrap();
        assert_eq!(out, bson!("refused"), "insert owned by {value}");
        let out = functions
            .call(&alice, "idsOwnedBy", vec![value.clone()], None)
            .await
            .unwrap();
        // The function's own query may use operators (or be refused: `$regex` is for the system
        // user); the rules still show alice only hers (and the one delegated to her).
        let Bson::Array(ids) = out else {
            panic!("{out}")
        };
        assert!(
            ids.iter().all(|id| [bson!(1), bson!(6)].contains(id)),
            "find owned by {value}: {ids:?}"
        );
    }
    assert_eq!(stored(&store).await, docs, "nothing was written");
    let out = functions
        .call(&alice, "insertOwned", vec![bson!("alice")], None)
        .await
        .unwrap();
    assert_eq!(out, bson!("inserted"), "the function itself works");
    // `%function` arguments from the document are values: a delegate written "%%user.id" is
    // not the caller.
    let rules = functions.for_rules(&alice);
    let c = app
        .collection(&store, &alice, "db", "coll")
        .unwrap()
        .with_functions(&rules);
    let ids: Vec<Bson> = c
        .find(&doc! {}, &FindOptions::default())
        .await
        .unwrap()
        .into_iter()
        .filter_map(|d| d.get("_id").cloned())
        .collect();
    assert_eq!(sorted(ids), sorted(vec![bson!(1), bson!(6), bson!("new")]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn function_arguments_shaped_like_operators_or_expansions_are_data_on_both_stores() {
    let (_dir, app) = app(FUNCTION_RULES, ARGUMENT_FUNCTIONS);
    function_arguments_are_data(app.clone(), MemoryStore::new()).await;
    if let Some(store) = mongo("function arguments on mongodb").await {
        function_arguments_are_data(app, store.clone()).await;
        store.drop_prefixed_databases().await.unwrap();
    }
}

// ---- token forgery ---------------------------------------------------------------------------

const SECRET: &[u8] = b"refused-secret-refused-secret-refused!";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Access-token claims as Expanse issues them.
fn claims(sub: &str, iat: i64, exp: i64) -> serde_json::Value {
    serde_json::json!({"sub": sub, "iat": iat, "nbf": iat, "exp": exp, "typ": "access", "iss": "s",
        "baas_device_id": "0", "expanse_user_type": "normal", "expanse_data": {},
        "expanse_identities": []})
}

fn rsa_key() -> SigningKey {
    SigningKey::Rs256 {
        private_pem: std::fs::read("tests/keys/rsa_private.pem").unwrap(),
        public_pem: std::fs::read("tests/keys/rsa_public.pem").unwrap(),
    }
}

fn auth(config: TokenConfig) -> Auth<MemoryStore> {
    let app = Arc::new(App::load("fixtures/app").unwrap().app);
    Auth::new(app, MemoryStore::new(), TokenIssuer::new(config).unwrap())
}

/// The token with its payload replaced and its signature kept.
fn with_payload(token: &str, edit: impl Fn(&mut serde_json::Value)) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(parts[1])
        .unwrap();
    let mut payload: serde_json::Value = serde_json::from_slice(&decoded).unwrap();
    edit(&mut payload);
    format!(
        "{}.{}.{}",
        parts[0],
        b64(&serde_json::to_vec(&payload).unwrap()),
        parts[2]
    )
}

#[tokio::test]
async fn forged_tokens_are_refused() {
    let hs = auth(TokenConfig::hs256(SECRET.to_vec()).unwrap());
    let rs = auth(TokenConfig {
        key: rsa_key(),
        access_lifetime: expanse::auth::ACCESS_TOKEN_LIFETIME,
        refresh_lifetime: expanse::auth::REFRESH_TOKEN_LIFETIME,
    });
    let session = hs.login(User::new("u1")).await.unwrap();
    let (access, refresh) = (
        session.tokens.access_token.clone(),
        session.tokens.refresh_token.clone(),
    );
    assert_eq!(
        hs.verify(&access).await.unwrap().id,
        "u1",
        "the real token works"
    );

    let fresh = claims("u1", now(), now() + 600);
    let header = |alg: &str| {
        b64(&serde_json::to_vec(&serde_json::json!({"alg": alg, "typ": "JWT"})).unwrap())
    };
    let body = b64(&serde_json::to_vec(&fresh).unwrap());
    let signature = access.rsplit('.').next().unwrap().to_owned();
    let hs_with = |secret: &[u8], claims: &serde_json::Value| {
        encode(
            &Header::new(Algorithm::HS256),
            claims,
            &EncodingKey::from_secret(secret),
        )
        .unwrap()
    };
    let rsa_private = std::fs::read("tests/keys/rsa_private.pem").unwrap();
    let rsa_public = std::fs::read("tests/keys/rsa_public.pem").unwrap();
    let rs_signed = encode(
        &Header::new(Algorithm::RS256),
        &fresh,
        &EncodingKey::from_rsa_pem(&rsa_private).unwrap(),
    )
    .unwrap();

    let forged: Vec<(&str, &Auth<MemoryStore>, String)> = vec![
        ("alg none", &hs, format!("{}.{body}.", header("none"))),
        ("alg None", &hs, format!("{}.{body}.", header("None"))),
        (
            "alg NONE with a signature",
            &hs,
            format!("{}.{body}.{signature}", header("NONE")),
        ),
        (
            "signature stripped",
            &hs,
            format!("{}.{body}.", header("HS256")),
        ),
        (
            "another key",
            &hs,
            hs_with(b"another-secret-another-secret-another!", &fresh),
        ),
        (
            "tampered subject",
            &hs,
            with_payload(&access, |p| p["sub"] = "admin".into()),
        ),
        (
            "tampered user type",
            &hs,
            with_payload(&access, |p| p["expanse_user_type"] = "server".into()),
        ),
        (
            "tampered custom data",
            &hs,
            with_payload(&access, |p| {
                p["user_data"] = serde_json::json!({"role": "admin"})
            }),
        ),
        (
            "tampered expiry",
            &hs,
            with_payload(&access, |p| p["exp"] = (now() + 10_000_000).into()),
        ),
        (
            "HS256 signed with the RSA public key",
            &rs,
            hs_with(&rsa_public, &fresh),
        ),
        ("RS256 sent to an HS256 verifier", &hs, rs_signed),
        (
            "expired",
            &hs,
            hs_with(SECRET, &claims("u1", now() - 4000, now() - 100)),
        ),
        ("a refresh token as an access token", &hs, refresh.clone()),
    ];
    for (what, verifier, token) in &forged {
        let result = verifier.verify(token).await;
        assert!(
            result.is_err(),
            "{what}: accepted as {:?}",
            result.map(|u| u.id)
        );
    }
    assert!(
        hs.refresh(&access).await.is_err(),
        "an access token as a refresh token"
    );
    assert!(
        hs.refresh(&with_payload(&refresh, |p| p["sub"] = "admin".into()))
            .await
            .is_err(),
        "a tampered refresh token"
    );
    assert!(
        hs.refresh(&refresh).await.is_ok(),
        "the real refresh token works"
    );
}

// ---- escalation through every update operator -------------------------------------------------

/// An owner rule: the owner (`owner_uid`, a number from custom data) may change anything but
/// who owns the document (`owner_uid`, `owners`), which is set on insert only.
const OWNER_RULES: &str = r#"{"database": "db", "collection": "coll", "roles": [
  {"name": "owner", "apply_when": {"owner_uid": "%%user.custom_data.uid"},
   "fields": {
     "owner_uid": {"read": true, "write": {"%%prevRoot": {"%exists": false}}},
     "owners": {"read": true, "write": {"%%prevRoot": {"%exists": false}}}
   },
   "additional_fields": {"read": true, "write": true},
   "insert": true, "delete": true}
]}"#;

fn owned() -> Vec<Document> {
    vec![
        doc! {"_id": "mine", "owner_uid": 7, "owners": [7], "title": "t", "claim": 8},
        doc! {"_id": "theirs", "owner_uid": 8, "owners": [8], "title": "u"},
    ]
}

fn escalations() -> Vec<(&'static str, Document)> {
    vec![
        ("$set", doc! {"$set": {"owner_uid": 8}}),
        ("$unset", doc! {"$unset": {"owner_uid": ""}}),
        ("$inc", doc! {"$inc": {"owner_uid": 1}}),
        ("$mul", doc! {"$mul": {"owner_uid": 2}}),
        ("$min", doc! {"$min": {"owner_uid": 1}}),
        ("$max", doc! {"$max": {"owner_uid": 100}}),
        (
            "$rename from the owner field",
            doc! {"$rename": {"owner_uid": "former_owner"}},
        ),
        (
            "$rename to the owner field",
            doc! {"$rename": {"claim": "owner_uid"}},
        ),
        ("$currentDate", doc! {"$currentDate": {"owner_uid": true}}),
        ("$push", doc! {"$push": {"owners": 8}}),
        (
            "$addToSet",
            doc! {"$addToSet": {"owners": {"$each": [8, 9]}}},
        ),
        ("$pull", doc! {"$pull": {"owners": 7}}),
        ("$pullAll", doc! {"$pullAll": {"owners": [7]}}),
        ("$pop", doc! {"$pop": {"owners": 1}}),
        ("$set of the owner array", doc! {"$set": {"owners.0": 8}}),
    ]
}

async fn owner_rule_holds<S: Store>(app: &App, store: &S) {
    reset(store, &owned()).await;
    let me = User::new("u7").with_custom_data(doc! {"uid": 7});
    let c = app.collection(store, &me, "db", "coll").unwrap();
    let mine = doc! {"_id": "mine"};
    let replace = FindOneAndOptions::default();
    for (what, update) in escalations() {
        denied(c.update_one(&mine, &update, false).await, what);
        denied(c.update_many(&doc! {}, &update, false).await, what);
        denied(c.find_one_and_update(&mine, &update, &replace).await, what);
        // Someone else's document: no role applies, so it is not there to write.
        unmatched(
            c.update_one(&doc! {"_id": "theirs"}, &update, false).await,
            what,
        );
        assert_eq!(stored(store).await, owned(), "{what} changed something");
    }
    let replacement = doc! {"owner_uid": 8, "owners": [7], "title": "t", "claim": 8};
    denied(
        c.replace_one(&mine, &replacement, false).await,
        "replaceOne",
    );
    denied(
        c.find_one_and_replace(&mine, &replacement, &replace).await,
        "findOneAndReplace",
    );
    // Upserts creating a document owned by someone else.
    for (what, query, update) in [
        (
            "owner in the query",
            doc! {"_id": "new", "owner_uid": 8},
            doc! {"$set": {"title": "x"}},
        ),
        (
            "owner set",
            doc! {"_id": "new"},
            doc! {"$set": {"owner_uid": 8}},
        ),
        (
            "owner set on insert",
            doc! {"_id": "new"},
            doc! {"$setOnInsert": {"owner_uid": 8, "owners": [8]}},
        ),
        ("owner replaced", doc! {"_id": "new"}, doc! {"owner_uid": 8}),
    ] {
        let result = if update.keys().any(|k| k.starts_with('$')) {
            c.update_one(&query, &update, true).await
        } else {
            c.replace_one(&query, &update, true).await
        };
        denied(result, &format!("upsert: {what}"));
    }
    assert_eq!(stored(store).await, owned(), "an upsert changed something");
    // What the rule allows still works, so the refusals above are the rule's.
    let r = c
        .update_one(
            &mine,
            &doc! {"$set": {"title": "new"}, "$inc": {"n": 1}},
            false,
        )
        .await
        .unwrap();
    assert_eq!(r.modified_count, 1);
    let r = c
        .update_one(
            &doc! {"_id": "mine2", "owner_uid": 7},
            &doc! {"$set": {"owners": [7]}},
            true,
        )
        .await
        .unwrap();
    assert!(r.upserted_id.is_some());
}

#[tokio::test]
async fn no_update_operator_changes_who_owns_a_document_on_both_stores() {
    let (_dir, app) = app(OWNER_RULES, &[]);
    owner_rule_holds(&app, &MemoryStore::new()).await;
    if let Some(store) = mongo("owner rule on mongodb").await {
        owner_rule_holds(&app, &store).await;
        store.drop_prefixed_databases().await.unwrap();
    }
}

// ---- the JavaScript sandbox ----------------------------------------------------------------

const SANDBOX_FUNCTIONS: &[(&str, &str, bool)] = &[
    (
        "probe",
        r#"exports = async () => {
            const global = Function("return this")();
            const out = {
                require: typeof require, process: typeof process, std: typeof std, os: typeof os,
                module: typeof module, Deno: typeof Deno, Bun: typeof Bun,
                evalRequire: eval("typeof require"), evalProcess: eval("typeof process"),
                functionProcess: Function("return typeof process")(),
                globalProcess: typeof global.process, globalRequire: typeof global.require,
                constructorProcess: (() => { try { return typeof ({}).constructor.constructor("return process")(); } catch (e) { return "threw"; } })(),
                scriptArgs: typeof scriptArgs, print: typeof print,
            };
            for (const name of ["std", "os", "fs", "child_process", "qjs:std", "qjs:os"]) {
                try { await import(name); out["import " + name] = "imported"; }
                catch (e) { out["import " + name] = "refused"; }
            }
            try { require("fs"); out.callRequire = "called"; } catch (e) { out.callRequire = "threw"; }
            return out;
        };"#,
        false,
    ),
    (
        "pollute",
        r#"exports = () => [
            () => { Object.prototype.isAdmin = true; },
            () => { Array.prototype.includes = () => true; },
            () => { JSON.parse = () => ({ forged: true }); },
            () => { globalThis.leftBehind = "yes"; },
        ].map((attempt) => {
            try { attempt(); return "took"; } catch (e) { return e instanceof TypeError ? "refused" : "failed"; }
        });"#,
        false,
    ),
    (
        "inspect",
        r#"exports = () => [({}).isAdmin === undefined, [].includes(1), typeof leftBehind, JSON.parse("{}").forged === undefined];"#,
        false,
    ),
    (
        "impersonate",
        r#"exports = async () => {
            context.user.id = "u8";
            context.user.custom_data = { uid: 8 };
            context.runningAsSystem = () => true;
            const coll = context.services.get("mongodb-atlas").db("db").collection("coll");
            const seen = (await coll.find({}).toArray()).map((d) => d._id);
            let wrote = "written";
            try {
                const r = await coll.updateOne({ _id: "theirs" }, { $set: { title: "mine now" } });
                // a document the caller cannot read is not there: nothing matches
                if (r.matchedCount === 0) wrote = "refused";
            }
            catch (e) { wrote = "refused"; }
            // A hand-made host request claiming another user, its answer caught by the next
            // request of the script's own: ids start at 1 each call, two were used above, so
            // the find below is request 3, and the host answers the hand-made one first.
            __enqueue(3, JSON.stringify({ kind: "collection", service: "mongodb-atlas", db: "db", coll: "coll",
                method: "find", args: [{}], user: { id: "u8" }, runningAsSystem: true }));
            const raw = await coll.find({ _id: "none" }).toArray();
            return { seen, wrote, raw: raw.map((d) => d._id) };
        };"#,
        false,
    ),
];

#[tokio::test]
async fn the_javascript_sandbox_has_no_host_access() {
    let (_dir, app) = app(OWNER_RULES, SANDBOX_FUNCTIONS);
    let functions = Functions::builder(app, MemoryStore::new())
        .time_limit(Duration::from_secs(5))
        .build()
        .unwrap()
        .0;
    let me = User::new("u7").with_custom_data(doc! {"uid": 7});
    let out = functions.call(&me, "probe", vec![], None).await.unwrap();
    let out = out.as_document().unwrap();
    for (key, value) in out {
        let expected = match key.as_str() {
            k if k.starts_with("import ") => "refused",
            "callRequire" | "constructorProcess" => "threw",
            _ => "undefined",
        };
        assert_eq!(value.as_str(), Some(expected), "{key}: {out}");
    }
}

#[tokio::test]
async fn prototype_pollution_does_not_survive_into_the_next_call() {
    let (_dir, app) = app(OWNER_RULES, SANDBOX_FUNCTIONS);
    let functions = Functions::builder(app, MemoryStore::new())
        .time_limit(Duration::from_secs(5))
        .build()
        .unwrap()
        .0;
    let me = User::new("u7").with_custom_data(doc! {"uid": 7});
    assert_eq!(
        functions.call(&me, "pollute", vec![], None).await.unwrap(),
        bson!(["refused", "refused", "refused", "took"]),
        "built-ins are frozen; a global of the call's own is allowed"
    );
    assert_eq!(
        functions.call(&me, "inspect", vec![], None).await.unwrap(),
        bson!([true, false, "undefined", true])
    );
}

async fn impersonation_fails<S: Store + Clone + 'static>(app: Arc<App>, store: S) {
    reset(&store, &owned()).await;
    let functions = Functions::builder(app, store.clone())
        .time_limit(Duration::from_secs(5))
        .build()
        .unwrap()
        .0;
    let me = User::new("u7").with_custom_data(doc! {"uid": 7});
    let out = functions
        .call(&me, "impersonate", vec![], None)
        .await
        .unwrap();
    assert_eq!(
        out,
        bson!({"seen": ["mine"], "wrote": "refused", "raw": ["mine"]}),
        "the script's context is its own; the host acts for the caller"
    );
    assert_eq!(stored(&store).await, owned());
}

#[tokio::test]
async fn a_script_rewriting_its_context_still_acts_as_its_caller_on_both_stores() {
    let (_dir, app) = app(OWNER_RULES, SANDBOX_FUNCTIONS);
    impersonation_fails(app.clone(), MemoryStore::new()).await;
    if let Some(store) = mongo("impersonation on mongodb").await {
        impersonation_fails(app, store.clone()).await;
        store.drop_prefixed_databases().await.unwrap();
    }
}
