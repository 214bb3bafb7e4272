//! Database and scheduled triggers (issue 16, reference §6): against the MongoDB-wire test
//! server (change streams, resume tokens, pre-images, leases, the `expanse triggers` process
//! killed and restarted) and on the embedded store (its change events, fixtures settling).

mod database;
mod embedded;
mod processes;
mod scheduled;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bson::{oid::ObjectId, Bson, Document};
use expanse::functions::{Context, Functions};
use expanse::store::MongoStore;
use expanse::triggers::TriggerOptions;
use expanse::App;

use crate::common;
use crate::common::apps::write_app;

/// A store with its own database prefix (the trigger state under it too).
pub async fn store(test: &str) -> Option<MongoStore> {
    let uri = common::mongodb_uri(test)?;
    let base = MongoStore::connect(&uri)
        .await
        .expect("the test server answers");
    Some(base.with_database_prefix(format!("trg_{}_", ObjectId::new().to_hex())))
}

/// Short leases and polls, so tests take seconds.
pub fn quick() -> TriggerOptions {
    TriggerOptions {
        lease_ttl: Duration::from_secs(2),
        poll_interval: Duration::from_millis(100),
        heartbeat: Duration::from_millis(500),
        ..TriggerOptions::default()
    }
}

/// An app with the given triggers (`name → JSON`) and functions (configured, no sources).
pub fn app(triggers: &[(String, String)], functions: &[&str]) -> (tempfile::TempDir, Arc<App>) {
    let config: Vec<String> = functions
        .iter()
        .map(|f| format!(r#"{{"name": "{f}", "private": true}}"#))
        .collect();
    let config = format!("[{}]", config.join(","));
    let mut files: Vec<(String, String)> = vec![
        (
            "root_config.json".into(),
            format!(r#"{{"name": "app_{}"}}"#, ObjectId::new().to_hex()),
        ),
        (
            "data_sources/mongodb-atlas/config.json".into(),
            r#"{"name": "mongodb-atlas", "type": "mongodb-atlas"}"#.into(),
        ),
        ("functions/config.json".into(), config),
    ];
    for (name, json) in triggers {
        files.push((format!("triggers/{name}.json"), json.clone()));
    }
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let dir = write_app(&refs);
    let app = App::load(dir.path()).unwrap_or_else(|e| panic!("{e}")).app;
    (dir, Arc::new(app))
}

/// What recording functions saw: (function name, first argument).
pub type Log = Arc<Mutex<Vec<(String, Option<Document>)>>>;

/// Functions that record their first argument into `log` (optionally sleeping first).
pub fn recorders<S: expanse::store::Store + Clone + 'static>(
    app: Arc<App>,
    store: S,
    names: &[&str],
    log: &Log,
    sleep: Duration,
) -> Functions<S> {
    let mut builder = Functions::builder(app, store);
    for name in names {
        let (log, name) = (log.clone(), name.to_string());
        builder = builder.register(name.clone(), move |_ctx: Context<S>, args: Vec<Bson>| {
            let (log, name) = (log.clone(), name.clone());
            async move {
                tokio::time::sleep(sleep).await;
                let event = match args.into_iter().next() {
                    Some(Bson::Document(d)) => Some(d),
                    _ => None,
                };
                log.lock().unwrap().push((name, event));
                Ok(Bson::Null)
            }
        });
    }
    builder.build().unwrap().0
}

/// Polls `check` until it is true or `within` passes; panics with `what` on timeout.
pub async fn wait_for<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    loop {
        if check().await {
            return;
        }
        if Instant::now() > deadline {
            panic!("timed out after {within:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until every listed trigger's runner has opened its stream (written its state).
pub async fn wait_started<S: expanse::store::Store>(app: &App, store: &S, names: &[&str]) {
    wait_for("the triggers to start", Duration::from_secs(20), || async {
        let status = expanse::triggers::status(app, store).await.unwrap();
        names.iter().all(|n| {
            status
                .iter()
                .any(|s| s.name == *n && s.state.as_ref().is_some_and(|st| st.heartbeat.is_some()))
        })
    })
    .await;
}
