//! Users, identity providers and durable sessions (issue 14): each provider's flows and
//! refusals, sessions shared by instances and surviving restarts, concurrency, timing
//! resistance, imports. Every scenario runs on the embedded store and, when `MONGODB_URI` is
//! set, on the MongoDB-wire test server.

mod anon;
mod api_keys;
mod config;
mod custom_function;
mod custom_jwt;
mod import;
mod jwks_url;
mod rotation;
mod sessions;
mod userpass;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use bson::{doc, oid::ObjectId, Document};
use expanse::auth::{Auth, BoxFuture, Email, EmailSender, SendError, TokenConfig, TokenIssuer};
use expanse::functions::Functions;
use expanse::store::{FindOptions, MemoryStore, MongoStore, Namespace, Store};
use expanse::App;

pub const JWT_KEY_1: &str = "jwt-signing-key-number-one-0123456789";
pub const JWT_KEY_2: &str = "jwt-signing-key-number-two-0123456789";
pub const APP_ID: &str = "users-test-abcde";

/// The functions of the test app: confirmation, reset, custom authentication, and
/// authentication triggers recording their events in `side.events`.
const FUNCTIONS: &[(&str, &str)] = &[
    (
        "confirm",
        r#"exports = async function({token, tokenId, username}) {
  await context.services.get("mongodb-atlas").db("side").collection("tokens").insertOne({username, token, tokenId, kind: "confirm"});
  if (username.startsWith("ok")) return {status: "success"};
  if (username.startsWith("pending")) return {status: "pending"};
  if (username.startsWith("throw")) throw new Error("confirmation service down");
  return {status: "fail"};
};"#,
    ),
    (
        "reset",
        r#"exports = async function({username, password, token, tokenId, currentPasswordValid}, answer, extra) {
  await context.services.get("mongodb-atlas").db("side").collection("tokens").insertOne({username, token, tokenId, kind: "reset", currentPasswordValid, answer, extra});
  if (answer === "yes") return {status: "success"};
  if (answer === "later") return {status: "pending"};
  return {status: "fail"};
};"#,
    ),
    (
        "authFunc",
        r#"exports = function(payload) {
  if (payload.secret !== "open sesame") throw new Error("wrong secret");
  if (payload.nothing) return null;
  if (payload.name) return {id: payload.user, name: payload.name};
  return payload.user;
};"#,
    ),
    (
        "onAuthEvent",
        r#"exports = async function(event) {
  await context.services.get("mongodb-atlas").db("side").collection("events").insertOne({op: event.operationType, user_id: event.user.id, providers: event.providers});
};"#,
    ),
];

/// The providers of the default test app: function confirmation and reset.
pub const PROVIDERS: &str = r#"{
  "anon-user": {"name": "anon-user", "type": "anon-user", "disabled": false},
  "local-userpass": {"name": "local-userpass", "type": "local-userpass", "disabled": false,
    "config": {"autoConfirm": false, "runConfirmationFunction": true, "confirmationFunctionName": "confirm",
               "runResetFunction": true, "resetFunctionName": "reset"}},
  "api-key": {"name": "api-key", "type": "api-key", "disabled": false},
  "custom-token": {"name": "custom-token", "type": "custom-token", "disabled": false,
    "config": {"audience": ["users-test-abcde"], "requireAnyAudience": false, "signingAlgorithm": "HS256", "useJWKURI": false},
    "secret_config": {"signingKeys": ["jwtKey1", "jwtKey2"]},
    "metadata_fields": [
      {"required": true, "name": "user_data.name", "field_name": "name"},
      {"required": false, "name": "email"},
      {"required": false, "name": "weird\\.key"}
    ]},
  "custom-function": {"name": "custom-function", "type": "custom-function", "disabled": false,
    "config": {"authFunctionName": "authFunc"}}
}"#;

/// Writes an app directory with `providers` as `auth/providers.json`.
pub fn write_app(dir: &Path, providers: &str) {
    let w = |path: &str, text: &str| {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    w("root_config.json", r#"{"name": "users-test"}"#);
    w(
        ".mdb/meta.json",
        &format!(r#"{{"client_app_id": "{APP_ID}"}}"#),
    );
    w(
        "data_sources/mongodb-atlas/config.json",
        r#"{"name": "mongodb-atlas", "type": "mongodb-atlas", "config": {}}"#,
    );
    let config: Vec<String> = FUNCTIONS
        .iter()
        .map(|(n, _)| format!(r#"{{"name": "{n}", "private": true, "run_as_system": true}}"#))
        .collect();
    w("functions/config.json", &format!("[{}]", config.join(",")));
    for (name, source) in FUNCTIONS {
        w(&format!("functions/{name}.js"), source);
    }
    for op in ["CREATE", "DELETE"] {
        w(
            &format!("triggers/on{op}.json"),
            &format!(
                r#"{{"name": "on{op}", "type": "AUTHENTICATION", "disabled": false,
  "config": {{"operation_type": "{op}", "providers": []}},
  "event_processors": {{"FUNCTION": {{"config": {{"function_name": "onAuthEvent"}}}}}}}}"#
            ),
        );
    }
    w("auth/providers.json", providers);
}

/// An app with `providers` (kept alive with its directory).
pub struct TestApp {
    pub app: Arc<App>,
    _dir: tempfile::TempDir,
}

pub fn app(providers: &str) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    write_app(dir.path(), providers);
    let app = Arc::new(App::load(dir.path()).unwrap().app);
    TestApp { app, _dir: dir }
}

pub fn issuer() -> TokenIssuer {
    TokenIssuer::new(TokenConfig::hs256(b"users-test-secret-users-test-secret!".to_vec()).unwrap())
        .unwrap()
}

/// Sent emails.
#[derive(Default)]
pub struct Outbox(pub Mutex<Vec<Email>>);

impl EmailSender for Outbox {
    fn send<'a>(&'a self, email: Email) -> BoxFuture<'a, Result<(), SendError>> {
        Box::pin(async move {
            self.0.lock().unwrap().push(email);
            Ok(())
        })
    }
}

impl Outbox {
    /// The token and token id of the last email.
    pub fn last_link(&self) -> (String, String) {
        let emails = self.0.lock().unwrap();
        let email = emails.last().expect("an email was sent");
        let query = email.url.split_once('?').unwrap().1;
        let param = |k: &str| {
            query
                .split('&')
                .find_map(|p| p.strip_prefix(&format!("{k}=")))
                .unwrap()
                .to_owned()
        };
        assert_eq!(param("token"), email.token);
        (param("token"), param("tokenId"))
    }
}

/// An `Auth` over `store` with the app's JS functions, the test secrets and an outbox.
pub fn auth<S: Store + Clone + 'static>(app: &TestApp, store: &S, outbox: Arc<Outbox>) -> Auth<S> {
    let (functions, _) = Functions::builder(app.app.clone(), store.clone())
        .build()
        .unwrap();
    let secrets: HashMap<String, String> = [
        ("jwtKey1".to_owned(), JWT_KEY_1.to_owned()),
        ("jwtKey2".to_owned(), JWT_KEY_2.to_owned()),
    ]
    .into_iter()
    .collect();
    Auth::new(app.app.clone(), store.clone(), issuer())
        .with_functions(Arc::new(functions))
        .with_secrets(secrets)
        .with_email_sender(outbox)
}

/// Documents of `db.coll` in the store.
pub async fn docs<S: Store>(store: &S, ns: &str) -> Vec<Document> {
    store
        .find(
            &Namespace::parse(ns).unwrap(),
            &doc! {},
            &FindOptions::default(),
        )
        .await
        .unwrap()
}

/// A MongoDB store isolated by a database prefix, when the test server is configured.
pub async fn mongo(test: &str) -> Option<MongoStore> {
    let uri = crate::common::mongodb_uri(test)?;
    let base = MongoStore::connect(&uri)
        .await
        .expect("the test server answers");
    Some(base.with_database_prefix(format!("users_{}_", ObjectId::new().to_hex())))
}

/// Runs a scenario on the embedded store, then on the test server when configured.
macro_rules! on_both_stores {
    ($name:ident, $scenario:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            $scenario(expanse::store::MemoryStore::new()).await;
            if let Some(store) = crate::users::mongo(stringify!($name)).await {
                $scenario(store.clone()).await;
                store.drop_prefixed_databases().await.unwrap();
            }
        }
    };
}
pub(crate) use on_both_stores;

#[allow(dead_code)]
fn _uses(_: MemoryStore) {}
