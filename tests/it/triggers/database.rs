//! Database triggers on the test server's change streams.

use std::time::Duration;

use bson::{doc, Bson, Document};
use expanse::store::{FindOptions, MongoStore, Namespace, Store, Write};
use expanse::triggers::{self, Triggers};

use super::{app, quick, recorders, store, wait_for, wait_started, Log};

/// (function, document key, start, end) of each run.
type Spans =
    std::sync::Arc<std::sync::Mutex<Vec<(String, i32, std::time::Instant, std::time::Instant)>>>;

fn trigger(name: &str, function: &str, config: &str) -> (String, String) {
    (
        name.to_owned(),
        format!(
            r#"{{"name": "{name}", "type": "DATABASE", "config": {config}, "event_processors": {{"FUNCTION": {{"config": {{"function_name": "{function}"}}}}}}}}"#
        ),
    )
}

/// Turns on pre-images for a collection (MongoDB needs them for `fullDocumentBeforeChange`).
async fn enable_pre_images(store: &MongoStore, ns: &Namespace) {
    let db = store.client().database(&store.database_name(ns));
    db.create_collection(&ns.collection).await.unwrap();
    db.run_command(
        doc! {"collMod": &ns.collection, "changeStreamPreAndPostImages": {"enabled": true}},
    )
    .await
    .unwrap();
}

fn events(log: &Log, function: &str) -> Vec<Document> {
    log.lock()
        .unwrap()
        .iter()
        .filter(|(f, _)| f == function)
        .filter_map(|(_, e)| e.clone())
        .collect()
}

async fn count(log: &Log, function: &str, n: usize) -> bool {
    events(log, function).len() >= n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_operation_type_with_documents_before_and_after() {
    let Some(store) = store("each_operation_type").await else {
        return;
    };
    let ns = Namespace::new("shop", "items");
    enable_pre_images(&store, &ns).await;
    let (_dir, app) = app(
        &[
            // The current spelling: event_processors, service_name.
            trigger(
                "all",
                "onAll",
                r#"{"service_name": "mongodb-atlas", "database": "shop", "collection": "items", "operation_types": ["INSERT", "UPDATE", "REPLACE", "DELETE"], "full_document": true, "full_document_before_change": true}"#,
            ),
            // The older spelling: top-level function_name, service_id; no documents asked for.
            (
                "bare".into(),
                r#"{"name": "bare", "type": "DATABASE", "function_name": "onBare", "config": {"service_id": "mongodb-atlas", "database": "shop", "collection": "items", "operation_types": ["UPDATE", "DELETE"]}}"#.into(),
            ),
        ],
        &["onAll", "onBare"],
    );
    let log = Log::default();
    let functions = recorders(
        app.clone(),
        store.clone(),
        &["onAll", "onBare"],
        &log,
        Duration::ZERO,
    );
    let running = Triggers::start(app.clone(), store.clone(), functions, quick());
    wait_started(&app, &store, &["all", "bare"]).await;

    let items = store
        .client()
        .database(&store.database_name(&ns))
        .collection::<Document>("items");
    // An update's fullDocument is looked up when the event is read (MongoDB's updateLookup): a
    // later write would show through, so each write waits for its event.
    items.insert_one(doc! {"_id": 1, "n": 1}).await.unwrap();
    wait_for("the insert", Duration::from_secs(20), || {
        count(&log, "onAll", 1)
    })
    .await;
    items
        .update_one(doc! {"_id": 1}, doc! {"$set": {"n": 2}})
        .await
        .unwrap();
    wait_for("the update", Duration::from_secs(20), || {
        count(&log, "onAll", 2)
    })
    .await;
    items
        .replace_one(doc! {"_id": 1}, doc! {"n": 3})
        .await
        .unwrap();
    wait_for("the replace", Duration::from_secs(20), || {
        count(&log, "onAll", 3)
    })
    .await;
    items.delete_one(doc! {"_id": 1}).await.unwrap();
    wait_for("4 + 2 events", Duration::from_secs(20), || async {
        count(&log, "onAll", 4).await && count(&log, "onBare", 2).await
    })
    .await;
    running.stop().await;

    let all = events(&log, "onAll");
    let ops: Vec<&str> = all
        .iter()
        .map(|e| e.get_str("operationType").unwrap())
        .collect();
    assert_eq!(ops, ["insert", "update", "replace", "delete"]);
    for e in &all {
        // The reference's event: resume token, namespace (the app's database name), key, time.
        assert!(e.get_document("_id").is_ok(), "{e}");
        assert_eq!(
            e.get_document("ns").unwrap(),
            &doc! {"db": "shop", "coll": "items"}
        );
        assert_eq!(e.get_document("documentKey").unwrap(), &doc! {"_id": 1});
        assert!(
            matches!(e.get("clusterTime"), Some(Bson::Timestamp(_))),
            "{e}"
        );
    }
    assert_eq!(
        all[0].get_document("fullDocument").unwrap(),
        &doc! {"_id": 1, "n": 1}
    );
    // full_document: the update's post-image.
    assert_eq!(
        all[1].get_document("fullDocument").unwrap(),
        &doc! {"_id": 1, "n": 2}
    );
    assert_eq!(
        all[1]
            .get_document("updateDescription")
            .unwrap()
            .get_document("updatedFields")
            .unwrap(),
        &doc! {"n": 2}
    );
    assert_eq!(
        all[2].get_document("fullDocument").unwrap(),
        &doc! {"_id": 1, "n": 3}
    );
    // full_document_before_change: the pre-images.
    assert_eq!(
        all[1].get_document("fullDocumentBeforeChange").unwrap(),
        &doc! {"_id": 1, "n": 1}
    );
    assert_eq!(
        all[2].get_document("fullDocumentBeforeChange").unwrap(),
        &doc! {"_id": 1, "n": 2}
    );
    assert_eq!(
        all[3].get_document("fullDocumentBeforeChange").unwrap(),
        &doc! {"_id": 1, "n": 3}
    );
    assert!(!all[3].contains_key("fullDocument"));
    // Cluster-time order.
    let times: Vec<bson::Timestamp> = all
        .iter()
        .map(|e| e.get_timestamp("clusterTime").unwrap())
        .collect();
    assert!(
        times
            .windows(2)
            .all(|w| (w[0].time, w[0].increment) < (w[1].time, w[1].increment)),
        "{times:?}"
    );

    let bare = events(&log, "onBare");
    let ops: Vec<&str> = bare
        .iter()
        .map(|e| e.get_str("operationType").unwrap())
        .collect();
    assert_eq!(ops, ["update", "delete"]);
    // Without full_document an update carries no document (MongoDB may send a null).
    assert!(
        matches!(bare[0].get("fullDocument"), None | Some(Bson::Null)),
        "{}",
        bare[0]
    );
    assert!(
        !bare[0].contains_key("fullDocumentBeforeChange"),
        "{}",
        bare[0]
    );
    store.drop_prefixed_databases().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn match_and_project_over_the_change_event() {
    let Some(store) = store("match_and_project").await else {
        return;
    };
    let (_dir, app) = app(
        &[trigger(
            "big",
            "onBig",
            r#"{"service_name": "mongodb-atlas", "database": "shop", "collection": "orders", "operation_types": ["INSERT", "UPDATE"], "match": {"fullDocument.total": {"$gt": 100}}, "project": {"fullDocument.total": 1, "documentKey": 1}, "full_document": true}"#,
        )],
        &["onBig"],
    );
    let log = Log::default();
    let functions = recorders(app.clone(), store.clone(), &["onBig"], &log, Duration::ZERO);
    let running = Triggers::start(app.clone(), store.clone(), functions, quick());
    wait_started(&app, &store, &["big"]).await;
    let ns = Namespace::new("shop", "orders");
    for (id, total) in [(1, 50), (2, 150), (3, 99), (4, 500)] {
        store
            .apply(
                &ns,
                vec![Write::Insert(
                    doc! {"_id": id, "total": total, "secret": "x"},
                )],
            )
            .await
            .unwrap();
    }
    let orders = store
        .client()
        .database(&store.database_name(&ns))
        .collection::<Document>("orders");
    orders
        .update_one(doc! {"_id": 1}, doc! {"$set": {"total": 101}})
        .await
        .unwrap();
    orders.delete_one(doc! {"_id": 4}).await.unwrap();
    wait_for("3 matching events", Duration::from_secs(20), || {
        count(&log, "onBig", 3)
    })
    .await;
    // Nothing else arrives: a last matching insert comes right after the three.
    store
        .apply(&ns, vec![Write::Insert(doc! {"_id": 9, "total": 900})])
        .await
        .unwrap();
    wait_for("the sentinel", Duration::from_secs(20), || {
        count(&log, "onBig", 4)
    })
    .await;
    running.stop().await;
    let got = events(&log, "onBig");
    let keys: Vec<i32> = got
        .iter()
        .map(|e| {
            e.get_document("documentKey")
                .unwrap()
                .get_i32("_id")
                .unwrap()
        })
        .collect();
    assert_eq!(keys, [2, 4, 1, 9]);
    for e in &got {
        // project: only the projected fields (operationType always kept, the token as _id).
        let mut fields: Vec<&str> = e.keys().map(String::as_str).collect();
        fields.sort();
        assert_eq!(
            fields,
            ["_id", "documentKey", "fullDocument", "operationType"],
            "{e}"
        );
        assert_eq!(
            e.get_document("fullDocument")
                .unwrap()
                .keys()
                .collect::<Vec<_>>(),
            ["total"]
        );
    }
    store.drop_prefixed_databases().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordered_runs_one_at_a_time_unordered_runs_concurrently() {
    let Some(store) = store("ordered_unordered").await else {
        return;
    };
    let config = |unordered: bool| {
        format!(
            r#"{{"service_name": "mongodb-atlas", "database": "shop", "collection": "jobs", "operation_types": ["INSERT"], "unordered": {unordered}}}"#
        )
    };
    let (_dir, app) = app(
        &[
            trigger("inOrder", "slowOrdered", &config(false)),
            trigger("anyOrder", "slowUnordered", &config(true)),
        ],
        &["slowOrdered", "slowUnordered"],
    );
    // Each function records when it starts and ends.
    let spans: Spans = Default::default();
    let mut builder = expanse::functions::Functions::builder(app.clone(), store.clone());
    for name in ["slowOrdered", "slowUnordered"] {
        let spans = spans.clone();
        builder = builder.register(
            name,
            move |_ctx: expanse::functions::Context<MongoStore>, args: Vec<Bson>| {
                let spans = spans.clone();
                async move {
                    let n = match args.first() {
                        Some(Bson::Document(e)) => e
                            .get_document("documentKey")
                            .and_then(|k| k.get_i32("_id"))
                            .unwrap_or(-1),
                        _ => -1,
                    };
                    let start = std::time::Instant::now();
                    // Later documents finish sooner, so an unordered trigger finishes out of order.
                    tokio::time::sleep(Duration::from_millis(300 - 25 * n as u64)).await;
                    spans.lock().unwrap().push((
                        name.to_owned(),
                        n,
                        start,
                        std::time::Instant::now(),
                    ));
                    Ok(Bson::Null)
                }
            },
        );
    }
    let functions = builder.build().unwrap().0;
    let running = Triggers::start(app.clone(), store.clone(), functions, quick());
    wait_started(&app, &store, &["inOrder", "anyOrder"]).await;
    let ns = Namespace::new("shop", "jobs");
    let docs: Vec<Document> = (0..8).map(|i| doc! {"_id": i}).collect();
    let jobs = store
        .client()
        .database(&store.database_name(&ns))
        .collection::<Document>("jobs");
    jobs.insert_many(docs).await.unwrap();
    wait_for("16 runs", Duration::from_secs(30), || async {
        spans.lock().unwrap().len() >= 16
    })
    .await;
    running.stop().await;
    let spans = spans.lock().unwrap().clone();
    let of = |name: &str| -> Vec<(i32, std::time::Instant, std::time::Instant)> {
        spans
            .iter()
            .filter(|s| s.0 == name)
            .map(|s| (s.1, s.2, s.3))
            .collect()
    };
    let ordered = of("slowOrdered");
    assert_eq!(
        ordered.iter().map(|s| s.0).collect::<Vec<_>>(),
        (0..8).collect::<Vec<_>>()
    );
    assert!(
        ordered.windows(2).all(|w| w[1].1 >= w[0].2),
        "an ordered run started before the previous one ended"
    );
    let unordered = of("slowUnordered");
    let mut ids: Vec<i32> = unordered.iter().map(|s| s.0).collect();
    assert_ne!(
        ids,
        (0..8).collect::<Vec<_>>(),
        "unordered runs all finished in order"
    );
    ids.sort();
    assert_eq!(ids, (0..8).collect::<Vec<_>>());
    let overlapping = unordered.iter().any(|a| {
        unordered
            .iter()
            .any(|b| a.0 != b.0 && b.1 < a.2 && a.1 < b.2)
    });
    assert!(overlapping, "unordered runs never overlapped");
    // The unordered trigger's token ends after the last event once all finished.
    let status = triggers::status(&app, &store).await.unwrap();
    for s in status {
        assert_eq!(s.state.as_ref().unwrap().events_processed, 8, "{}", s.name);
    }
    store.drop_prefixed_databases().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_resumes_after_the_last_finished_event() {
    let Some(store) = store("restart_resumes").await else {
        return;
    };
    let (_dir, app) = app(
        &[trigger(
            "t",
            "rec",
            r#"{"service_name": "mongodb-atlas", "database": "shop", "collection": "log", "operation_types": ["INSERT"]}"#,
        )],
        &["rec"],
    );
    let ns = Namespace::new("shop", "log");
    let log = Log::default();
    let start = || {
        let functions = recorders(app.clone(), store.clone(), &["rec"], &log, Duration::ZERO);
        Triggers::start(app.clone(), store.clone(), functions, quick())
    };
    let running = start();
    wait_started(&app, &store, &["t"]).await;
    for i in 0..5 {
        store
            .apply(&ns, vec![Write::Insert(doc! {"_id": i})])
            .await
            .unwrap();
    }
    wait_for("5 events", Duration::from_secs(20), || {
        count(&log, "rec", 5)
    })
    .await;
    running.stop().await;
    // Written while nothing runs.
    for i in 5..10 {
        store
            .apply(&ns, vec![Write::Insert(doc! {"_id": i})])
            .await
            .unwrap();
    }
    let running = start();
    wait_for("10 events", Duration::from_secs(20), || {
        count(&log, "rec", 10)
    })
    .await;
    running.stop().await;
    let keys: Vec<i32> = events(&log, "rec")
        .iter()
        .map(|e| {
            e.get_document("documentKey")
                .unwrap()
                .get_i32("_id")
                .unwrap()
        })
        .collect();
    assert_eq!(
        keys,
        (0..10).collect::<Vec<_>>(),
        "each event once, in order, across a stop"
    );
    let status = triggers::status(&app, &store).await.unwrap();
    let state = status[0].state.clone().unwrap();
    assert_eq!(state.events_processed, 10);
    assert_eq!(
        status[0].condition(),
        "stopped",
        "a stopped runner gives its lease back"
    );
    store.drop_prefixed_databases().await.unwrap();
}

/// The test server keeps its whole history, so lost history is simulated with a resume token
/// it refuses (as MongoDB refuses one older than its oplog: ChangeStreamHistoryLost).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_history_suspends_until_resumed_and_tolerate_resume_errors_goes_on() {
    let Some(store) = store("lost_history").await else {
        return;
    };
    let config = |tolerate: bool| {
        format!(
            r#"{{"service_name": "mongodb-atlas", "database": "shop", "collection": "c", "operation_types": ["INSERT"], "tolerate_resume_errors": {tolerate}}}"#
        )
    };
    let (_dir, app) = app(
        &[
            trigger("strict", "rec", &config(false)),
            trigger("lenient", "rec2", &config(true)),
        ],
        &["rec", "rec2"],
    );
    let key = expanse::triggers::app_key(&app);
    let state_ns = expanse::triggers::state_namespace();
    for name in ["strict", "lenient"] {
        store
            .apply(&state_ns, vec![Write::Insert(doc! {"_id": format!("{key}/{name}"), "app": &key, "trigger": name, "type": "DATABASE", "resume_token": {"_data": "826000000000000000"}})])
            .await
            .unwrap();
    }
    let log = Log::default();
    let functions = recorders(
        app.clone(),
        store.clone(),
        &["rec", "rec2"],
        &log,
        Duration::ZERO,
    );
    let running = Triggers::start(app.clone(), store.clone(), functions, quick());
    let status_of = |name: &'static str| {
        let (app, store) = (app.clone(), store.clone());
        async move {
            triggers::status(&app, &store)
                .await
                .unwrap()
                .into_iter()
                .find(|s| s.name == name)
                .unwrap()
        }
    };
    wait_for(
        "the strict trigger to be suspended",
        Duration::from_secs(20),
        || async { status_of("strict").await.condition() == "suspended" },
    )
    .await;
    let reason = status_of("strict").await.state.unwrap().suspended.unwrap();
    assert!(
        reason.contains("cannot resume from the stored token"),
        "{reason}"
    );
    assert!(reason.contains("expanse triggers resume"), "{reason}");
    wait_for(
        "the lenient trigger to go on",
        Duration::from_secs(20),
        || async {
            status_of("lenient")
                .await
                .state
                .is_some_and(|s| s.last_error.is_some() && s.suspended.is_none())
        },
    )
    .await;
    let ns = Namespace::new("shop", "c");
    store
        .apply(&ns, vec![Write::Insert(doc! {"_id": 1})])
        .await
        .unwrap();
    wait_for(
        "the lenient trigger's event",
        Duration::from_secs(20),
        || count(&log, "rec2", 1),
    )
    .await;
    assert!(events(&log, "rec").is_empty(), "a suspended trigger fired");
    // Resumed without its token (the CLI's `resume --without-token`): it starts at the present.
    triggers::resume(&app, &store, "strict", false)
        .await
        .unwrap();
    wait_for(
        "the strict trigger to run again",
        Duration::from_secs(20),
        || async {
            let s = status_of("strict").await;
            s.condition() == "running"
                && s.state
                    .is_some_and(|st| !st.skip_to_now && st.suspended.is_none())
        },
    )
    .await;
    store
        .apply(&ns, vec![Write::Insert(doc! {"_id": 2})])
        .await
        .unwrap();
    wait_for(
        "the strict trigger's event",
        Duration::from_secs(20),
        || count(&log, "rec", 1),
    )
    .await;
    let keys: Vec<i32> = events(&log, "rec")
        .iter()
        .map(|e| {
            e.get_document("documentKey")
                .unwrap()
                .get_i32("_id")
                .unwrap()
        })
        .collect();
    assert_eq!(keys, [2]);
    running.stop().await;
    store.drop_prefixed_databases().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_collection_suspends_with_the_reason() {
    let Some(store) = store("dropped_collection").await else {
        return;
    };
    let (_dir, app) = app(
        &[trigger(
            "t",
            "rec",
            r#"{"service_name": "mongodb-atlas", "database": "shop", "collection": "gone", "operation_types": ["INSERT"]}"#,
        )],
        &["rec"],
    );
    let log = Log::default();
    let functions = recorders(app.clone(), store.clone(), &["rec"], &log, Duration::ZERO);
    let running = Triggers::start(app.clone(), store.clone(), functions, quick());
    wait_started(&app, &store, &["t"]).await;
    let ns = Namespace::new("shop", "gone");
    store
        .apply(&ns, vec![Write::Insert(doc! {"_id": 1})])
        .await
        .unwrap();
    wait_for("the event", Duration::from_secs(20), || {
        count(&log, "rec", 1)
    })
    .await;
    store
        .client()
        .database(&store.database_name(&ns))
        .collection::<Document>("gone")
        .drop()
        .await
        .unwrap();
    wait_for("suspension", Duration::from_secs(20), || async {
        triggers::status(&app, &store).await.unwrap()[0].condition() == "suspended"
    })
    .await;
    let reason = triggers::status(&app, &store).await.unwrap()[0]
        .state
        .clone()
        .unwrap()
        .suspended
        .unwrap();
    assert!(reason.contains("\"drop\" event"), "{reason}");
    running.stop().await;
    store.drop_prefixed_databases().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_function_calls_the_error_handler_and_shows_in_the_status() {
    let Some(store) = store("error_handler").await else {
        return;
    };
    let (_dir, app) = app(
        &[(
            "t".into(),
            r#"{"name": "t", "type": "DATABASE", "config": {"service_name": "mongodb-atlas", "database": "shop", "collection": "c", "operation_types": ["INSERT"]}, "event_processors": {"FUNCTION": {"config": {"function_name": "fails"}}}, "error_handler": {"config": {"enabled": true, "function_name": "handler"}}}"#.into(),
        )],
        &["fails", "handler"],
    );
    let handled: std::sync::Arc<std::sync::Mutex<Vec<Vec<Bson>>>> = Default::default();
    let seen = handled.clone();
    let functions = expanse::functions::Functions::builder(app.clone(), store.clone())
        .register(
            "fails",
            |_ctx: expanse::functions::Context<MongoStore>, _args: Vec<Bson>| async move {
                Err::<Bson, expanse::functions::Thrown>("kaput".into())
            },
        )
        .register(
            "handler",
            move |_ctx: expanse::functions::Context<MongoStore>, args: Vec<Bson>| {
                let seen = seen.clone();
                async move {
                    seen.lock().unwrap().push(args);
                    Ok(Bson::Null)
                }
            },
        )
        .build()
        .unwrap()
        .0;
    let running = Triggers::start(app.clone(), store.clone(), functions, quick());
    wait_started(&app, &store, &["t"]).await;
    store
        .apply(
            &Namespace::new("shop", "c"),
            vec![Write::Insert(doc! {"_id": 7})],
        )
        .await
        .unwrap();
    wait_for("the error handler", Duration::from_secs(20), || async {
        !handled.lock().unwrap().is_empty()
    })
    .await;
    wait_for("the status", Duration::from_secs(20), || async {
        triggers::status(&app, &store).await.unwrap()[0]
            .state
            .as_ref()
            .is_some_and(|s| s.errors == 1)
    })
    .await;
    running.stop().await;
    let args = handled.lock().unwrap()[0].clone();
    let error = args[0].as_document().unwrap();
    assert_eq!(
        error.get_str("message").unwrap(),
        "function 'fails' failed: kaput"
    );
    assert_eq!(error.get_str("code").unwrap(), "FunctionExecutionError");
    assert_eq!(
        args[1]
            .as_document()
            .unwrap()
            .get_document("documentKey")
            .unwrap(),
        &doc! {"_id": 7}
    );
    let state = triggers::status(&app, &store).await.unwrap()[0]
        .state
        .clone()
        .unwrap();
    assert_eq!((state.events_processed, state.errors), (1, 1));
    assert!(state
        .last_error
        .unwrap()
        .get_str("message")
        .unwrap()
        .contains("kaput"));
    assert_eq!(
        state
            .last_event
            .unwrap()
            .get_document("documentKey")
            .unwrap(),
        &doc! {"_id": 7}
    );
    let _ = store
        .find(
            &Namespace::new("shop", "c"),
            &doc! {},
            &FindOptions::default(),
        )
        .await
        .unwrap();
    store.drop_prefixed_databases().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skip_catchup_events_skips_what_happened_while_disabled() {
    let Some(store) = store("skip_catchup").await else {
        return;
    };
    let config = |skip: bool| {
        format!(
            r#"{{"service_name": "mongodb-atlas", "database": "shop", "collection": "c", "operation_types": ["INSERT"], "skip_catchup_events": {skip}}}"#
        )
    };
    let (dir, app) = app(
        &[
            trigger("skip", "onSkip", &config(true)),
            trigger("keep", "onKeep", &config(false)),
        ],
        &["onSkip", "onKeep"],
    );
    let ns = Namespace::new("shop", "c");
    let log = Log::default();
    let run = |app: std::sync::Arc<expanse::App>| {
        let functions = recorders(
            app.clone(),
            store.clone(),
            &["onSkip", "onKeep"],
            &log,
            Duration::ZERO,
        );
        Triggers::start(app, store.clone(), functions, quick())
    };
    // Enabled: one event each.
    let running = run(app.clone());
    wait_started(&app, &store, &["skip", "keep"]).await;
    store
        .apply(&ns, vec![Write::Insert(doc! {"_id": 0})])
        .await
        .unwrap();
    wait_for("event 0", Duration::from_secs(20), || async {
        count(&log, "onSkip", 1).await && count(&log, "onKeep", 1).await
    })
    .await;
    running.stop().await;
    // Disabled (the same app with both triggers disabled): events 1 and 2 happen meanwhile.
    let reload = |disabled: bool| {
        for name in ["skip", "keep"] {
            let path = dir.path().join(format!("triggers/{name}.json"));
            let text = std::fs::read_to_string(&path).unwrap();
            let text = text.replace(
                r#""type": "DATABASE""#,
                &format!(r#""type": "DATABASE", "disabled": {disabled}"#),
            );
            let text = text.replace(&format!(r#""disabled": {}, "#, !disabled), "");
            std::fs::write(&path, text).unwrap();
        }
        std::sync::Arc::new(expanse::App::load(dir.path()).unwrap().app)
    };
    let disabled = reload(true);
    assert!(disabled.triggers.values().all(|t| t.disabled));
    let running = run(disabled.clone());
    wait_for(
        "the triggers to be recorded as disabled",
        Duration::from_secs(20),
        || async {
            triggers::status(&app, &store)
                .await
                .unwrap()
                .iter()
                .all(|s| s.state.as_ref().is_some_and(|st| st.disabled))
        },
    )
    .await;
    for i in 1..3 {
        store
            .apply(&ns, vec![Write::Insert(doc! {"_id": i})])
            .await
            .unwrap();
    }
    running.stop().await;
    // Enabled again.
    let enabled = reload(false);
    assert!(enabled.triggers.values().all(|t| !t.disabled));
    let running = run(enabled.clone());
    wait_for(
        "both triggers running again",
        Duration::from_secs(20),
        || async {
            triggers::status(&enabled, &store)
                .await
                .unwrap()
                .iter()
                .all(|s| s.state.as_ref().is_some_and(|st| !st.disabled))
        },
    )
    .await;
    store
        .apply(&ns, vec![Write::Insert(doc! {"_id": 3})])
        .await
        .unwrap();
    wait_for("event 3", Duration::from_secs(20), || async {
        count(&log, "onSkip", 2).await && count(&log, "onKeep", 4).await
    })
    .await;
    running.stop().await;
    let keys = |f: &str| -> Vec<i32> {
        events(&log, f)
            .iter()
            .map(|e| {
                e.get_document("documentKey")
                    .unwrap()
                    .get_i32("_id")
                    .unwrap()
            })
            .collect()
    };
    assert_eq!(
        keys("onSkip"),
        [0, 3],
        "skip_catchup_events fired what happened while disabled"
    );
    assert_eq!(
        keys("onKeep"),
        [0, 1, 2, 3],
        "a trigger without skip_catchup_events skipped events"
    );
    store.drop_prefixed_databases().await.unwrap();
}
